"""modules/commands/preflight/images.py against moto in-process: the app images in ECR under synth's tag; and
per_item (findings.py): a call the caller may not make is that item's finding."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from modules.commands import preflight
from preflight_support import REGION, aws, env_cfg, levels, no_tag_overrides, push  # noqa: F401  (fixtures)


# ------------------------------------------------------------------ images
def test_app_images_pushed_under_the_given_tag_pass(aws, tmp_path, monkeypatch):
    cfg = env_cfg(tmp_path)
    monkeypatch.setenv("ARAQUEM_APP_IMAGE_TAG", "v1.2.3")
    ecr = boto3.client("ecr", region_name=REGION)
    app_builds = sorted(s.image.build for s in cfg.services.values() if s.image.tag_env_var)
    assert app_builds == ["api", "rag-indexer"]
    for build in app_builds:
        ecr.create_repository(repositoryName=cfg.repository_name(build))
        push(ecr, cfg.repository_name(build), "v1.2.3")
    findings = preflight.check_images(cfg, aws)
    assert levels(findings) == ["ok", "ok"] and "araquem-stage/api:v1.2.3 is in ECR" in findings[0].text

    monkeypatch.delenv("ARAQUEM_APP_IMAGE_TAG")  # the release the env file records (app-release workflow)
    released = env_cfg(tmp_path, lambda data: data["registry"].update(app_image_tag="v1.2.3"))
    assert levels(preflight.check_images(released, aws)) == ["ok", "ok"]


def test_app_image_missing_repository_tag_or_variable_fails(aws, tmp_path, monkeypatch):
    cfg = env_cfg(tmp_path)
    monkeypatch.delenv("ARAQUEM_APP_IMAGE_TAG", raising=False)
    assert cfg.registry.app_image_tag is None  # stage records no release yet
    assert {f.level for f in preflight.check_images(cfg, aws)} == {"FAIL"}
    assert "no release recorded: registry.app_image_tag is unset" in preflight.check_images(cfg, aws)[0].text

    monkeypatch.setenv("ARAQUEM_APP_IMAGE_TAG", "v1.2.3")
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName=cfg.repository_name("api"))
    push(ecr, cfg.repository_name("api"), "v1.2.2")
    findings = {f.check: f for f in preflight.check_images(cfg, aws)}
    api = findings["image api"]
    assert api.level == "FAIL" and "araquem-stage/api:v1.2.3 is not in ECR (tag from ARAQUEM_APP_IMAGE_TAG)" in api.text
    assert findings["image rag-indexer"].level == "FAIL"
    assert "no ECR repository araquem-stage/rag-indexer" in findings["image rag-indexer"].text


def test_a_check_the_caller_may_not_call_is_a_finding_for_that_item_the_others_still_checked(aws, tmp_path, monkeypatch):
    """per_item: AccessDenied on one item's first call is that item's FAIL line (what to call, with what role),
    not a traceback; the next item is still checked."""
    cfg = env_cfg(tmp_path)
    monkeypatch.setenv("ARAQUEM_APP_IMAGE_TAG", "v1.2.3")
    ecr = boto3.client("ecr", region_name=REGION)
    stub = Stubber(ecr)
    stub.add_client_error("describe_images", "AccessDeniedException", http_status_code=400)
    stub.add_client_error("describe_images", "RepositoryNotFoundException", http_status_code=400)
    aws.clients["ecr"] = ecr
    with stub:
        api, rag = preflight.check_images(cfg, aws)
    assert api.level == "FAIL" and api.text.startswith("cannot check: AccessDeniedException on ecr:DescribeImages")
    assert rag.level == "FAIL" and "no ECR repository araquem-stage/rag-indexer" in rag.text


def ollama_pins(findings):
    """The findings about ollama's image (one per public image: stage may pull others too)."""
    return [f for f in findings if "ollama/ollama" in f.check]


def test_a_public_image_pulled_by_tag_gets_the_cached_digest_to_pin(aws, tmp_path):
    """stage's ollama/ollama:0.3.14: not cached yet (a warning with the way to look it up), then cached by the
    first pull (the digest ECR holds, printed as the pin); pinned in the env file: OK."""
    cfg = env_cfg(tmp_path)
    [before] = ollama_pins(preflight.check_public_image_pins(cfg, aws))
    assert before.level == "warn" and "araquem-stage/docker-hub/ollama/ollama:0.3.14 is not cached yet" in before.text
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName="araquem-stage/docker-hub/ollama/ollama")  # what the cache rule creates
    push(ecr, "araquem-stage/docker-hub/ollama/ollama", "0.3.14")
    digest = ecr.describe_images(repositoryName="araquem-stage/docker-hub/ollama/ollama")["imageDetails"][0][
        "imageDigest"]
    [cached] = ollama_pins(preflight.check_public_image_pins(cfg, aws))
    assert cached.level == "warn" and f"image: ollama/ollama:0.3.14@{digest}" in cached.text
    pinned = env_cfg(tmp_path, lambda d: d["services"]["ollama"].update(image=f"ollama/ollama:0.3.14@{digest}"))
    assert levels(ollama_pins(preflight.check_public_image_pins(pinned, aws))) == ["ok"]
