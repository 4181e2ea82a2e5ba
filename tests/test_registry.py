"""modules/registry.py: one ECR repository per built image (scan, IMMUTABLE, lifecycle, encryption) and
pull-through cache rules for the public images; `image()` gives each build's tag or the cached path.
Which tag each build gets is the synth command's: tests/commands/test_synth.py."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, TEST_IMAGE_TAG, variant
from modules.config.defaults import APP_IMAGE_UNRELEASED_TAG
from test_secrets import data_variant


@pytest.fixture(scope="session")
def data_stack(synths):
    return synths.of_data(variant(data_variant))


def _repos(stack):
    return {r["name"]: (key, r) for key, r in stack.resources("aws_ecr_repository").items()}


def test_one_repository_per_built_image(stage, stage_cfg):
    builds = {s.image.build for s in stage_cfg.services.values() if s.image.build}
    assert {f"araquem-stage/{b}" for b in builds} == set(_repos(stage))
    assert set(stage.json["output"]["ecr_repository_urls"]["value"]) == builds


def test_repositories_are_scanned_immutable_and_encrypted(stage, data_stack):
    for _, repo in _repos(stage).values():
        assert repo["image_tag_mutability"] == "IMMUTABLE"
        assert repo["image_scanning_configuration"] == {"scan_on_push": True}
        assert repo["encryption_configuration"] == [{"encryption_type": "AES256"}]
        assert repo["force_delete"] is False
    assert {r["encryption_configuration"][0]["encryption_type"] for _, r in _repos(data_stack).values()} == {"KMS"}


def test_lifecycle_keeps_the_deployed_tag_last_n_tagged_and_expires_untagged(stage, stage_cfg):
    policies = stage.resources("aws_ecr_lifecycle_policy")
    repos = _repos(stage)
    repo_names = {f"${{aws_ecr_repository.{key}.name}}" for key, _ in repos.values()}
    assert {p["repository"] for p in policies.values()} == repo_names
    task_images = {c["image"] for td in stage.resources("aws_ecs_task_definition").values()
                   for c in json.loads(td["container_definitions"])}
    documents = stage.data("aws_ecr_lifecycle_policy_document")
    for policy in policies.values():
        doc = re.fullmatch(r"\$\{data\.aws_ecr_lifecycle_policy_document\.([\w-]+)\.json\}", policy["policy"]).group(1)
        repo_key = re.fullmatch(r"\$\{aws_ecr_repository\.([\w-]+)\.name\}", policy["repository"]).group(1)
        repo_name = next(r["name"] for key, r in repos.values() if key == repo_key)
        assert documents[doc]["rule"][0]["description"].endswith("the tag this configuration deploys"), repo_name
        protect, untagged, tagged = sorted(documents[doc]["rule"], key=lambda r: r["priority"])
        # 1: the tag the task definitions of this synth run (ECR: an image matched by a higher-priority rule's
        # tags is never expired by a lower one), exact, so it selects one image and never more than 1
        (tag,) = protect["selection"][0]["tag_pattern_list"]
        assert "*" not in tag and protect["selection"][0]["count_number"] == 1
        assert f"${{aws_ecr_repository.{repo_key}.repository_url}}:{tag}" in task_images, (repo_name, tag)
        u, t = untagged["selection"][0], tagged["selection"][0]
        assert (u["tag_status"], u["count_type"], u["count_unit"], u["count_number"]) == (
            "untagged", "sinceImagePushed", "days", stage_cfg.registry.untagged_expire_days)
        assert (t["tag_status"], t["count_type"], t["count_number"], t["tag_pattern_list"]) == (
            "tagged", "imageCountMoreThan", stage_cfg.registry.keep_last, ["*"])
        assert all(r["action"] == [{"type": "expire"}] for r in (protect, untagged, tagged))


def test_docker_hub_is_cached_with_credentials_from_an_existing_secret(stage):
    """The rule needs the login when it is created: it reads a secret created with its value before the
    deploy (docs/runbook.md step 0), never one this apply has just created empty."""
    # (stage may pull from other registries too: one rule per upstream its images use)
    (rule,) = [r for r in stage.resources("aws_ecr_pull_through_cache_rule").values()
               if r["upstream_registry_url"] == "registry-1.docker.io"]
    assert rule["ecr_repository_prefix"] == "araquem-stage/docker-hub"
    secret_key = re.fullmatch(r"\$\{data\.aws_secretsmanager_secret\.([\w-]+)\.arn\}", rule["credential_arn"]).group(1)
    assert stage.data("aws_secretsmanager_secret")[secret_key]["name"] == "ecr-pullthroughcache/araquem-stage/docker-hub"
    assert not [s for s in stage.resources("aws_secretsmanager_secret").values() if "docker-hub" in s["name"]]


def test_anonymous_upstreams_need_no_credentials(data_stack):
    rules = {r["upstream_registry_url"]: r for r in data_stack.resources("aws_ecr_pull_through_cache_rule").values()}
    assert set(rules) == {"registry-1.docker.io", "public.ecr.aws", "quay.io"}  # ollama, grafana, cache_upstreams
    assert "credential_arn" not in rules["public.ecr.aws"] and "credential_arn" not in rules["quay.io"]


def test_cache_repositories_get_a_creation_template_per_rule(stage, stage_cfg, data_stack):
    for stack, encryption in ((stage, "AES256"), (data_stack, "KMS")):
        rules = stack.resources("aws_ecr_pull_through_cache_rule").values()
        templates = {t["prefix"]: t for t in stack.resources("aws_ecr_repository_creation_template").values()}
        # ECR applies a template to the repositories a cache rule creates when the prefixes are equal
        assert set(templates) == {r["ecr_repository_prefix"] for r in rules}
        for template in templates.values():
            assert template["applied_for"] == ["PULL_THROUGH_CACHE"]
            assert template["encryption_configuration"] == [{"encryption_type": encryption}]
            assert template["image_tag_mutability"] == "IMMUTABLE"  # a cached tag is pinned once pulled
    for template in stage.resources("aws_ecr_repository_creation_template").values():
        doc_key = re.fullmatch(r"\$\{data\.aws_ecr_lifecycle_policy_document\.([\w-]+)\.json\}",
                               template["lifecycle_policy"]).group(1)
        (rule,) = stage.data("aws_ecr_lifecycle_policy_document")[doc_key]["rule"]
        assert rule["selection"][0] == {"tag_status": "any", "count_type": "imageCountMoreThan",
                                        "count_number": stage_cfg.registry.keep_last}
        assert rule["action"] == [{"type": "expire"}]


def test_no_cache_rules_when_switched_off(synths):
    def mutate(data):
        data["registry"] = {"pull_through_cache": False}
        data["secrets"].pop("docker-hub")

    off = synths.of_data(variant(mutate))
    assert off.resources("aws_ecr_pull_through_cache_rule") == {}
    assert off.resources("aws_ecr_repository_creation_template") == {}


APP_TAG = "app-2.4.1"  # a tag the application repository pushed


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """registry.image() of every stage service, from an in-process Registry (one jsii start)."""
    from modules.bindings.node import use_supported_node  # noqa: PLC0415

    use_supported_node()
    import modules  # noqa: F401,PLC0415
    from cdktf import App, TerraformOutput, TerraformStack  # noqa: PLC0415
    from cdktf_cdktf_provider_aws.provider import AwsProvider  # noqa: PLC0415

    from modules.config import load  # noqa: PLC0415
    from modules.registry import Registry  # noqa: PLC0415
    from modules.secrets import Secrets  # noqa: PLC0415

    cfg = load(ROOT / "envs" / "stage.yaml")
    outdir = tmp_path_factory.mktemp("registry")
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "registry-test")
    AwsProvider(stack, "aws", region=cfg.region)
    tags = {s.image.build: APP_TAG if s.image.tag_env_var else TEST_IMAGE_TAG
            for s in cfg.services.values() if s.image.build}
    registry = Registry(stack, "registry", cfg, tags, Secrets(stack, "secrets", cfg))
    for name in cfg.services:
        TerraformOutput(stack, f"image_{name}", value=registry.image(name))
        TerraformOutput(stack, f"repo_{name}", value=registry.repository_arn(name) or "none")
    app.synth()
    synthesized = json.loads((outdir / "stacks/registry-test/cdk.tf.json").read_text())
    return {k: v["value"] for k, v in synthesized["output"].items()}


def test_built_images_use_their_builds_tag(images):
    assert re.fullmatch(r"\$\{aws_ecr_repository\.registry_repo_api_\w+\.repository_url\}:" + APP_TAG,
                        images["image_api"])
    assert re.fullmatch(r"\$\{aws_ecr_repository\.registry_repo_prometheus_\w+\.repository_url\}:" + TEST_IMAGE_TAG,
                        images["image_prometheus"])
    assert re.fullmatch(r"\$\{aws_ecr_repository\.registry_repo_api_\w+\.arn\}", images["repo_api"])
    assert not [v for k, v in images.items() if k.startswith("image_") and v.endswith(":latest")]


def test_public_images_come_through_the_cache(images):
    rule = r"\$\{aws_ecr_pull_through_cache_rule\.registry_pull_through_docker_hub_\w+"
    assert re.fullmatch(rf"{rule}\.registry_id\}}\.dkr\.ecr\.us-east-1\.amazonaws\.com/{rule}\.ecr_repository_prefix\}}"
                        r"/ollama/ollama:0\.3\.14", images["image_ollama"])
    assert images["repo_ollama"] == "none"


def test_image_reference_parsing():
    from modules.config.registry import pull_through_source

    assert pull_through_source("ollama/ollama:0.3.14") == ("docker-hub", "ollama/ollama", ":0.3.14")
    digest = "sha256:" + "0" * 64  # tag and digest: the tag stays readable, the digest decides
    assert pull_through_source(f"ollama/ollama:0.3.14@{digest}") == ("docker-hub", "ollama/ollama", f":0.3.14@{digest}")
    assert pull_through_source("redis:7") == ("docker-hub", "library/redis", ":7")  # official images
    assert pull_through_source("public.ecr.aws/a/b@sha256:00") == ("ecr-public", "a/b", "@sha256:00")
    assert pull_through_source("quay.io/prometheus/prometheus:v2.54.1")[0] == "quay"
    assert pull_through_source("gcr.io/x/y:1")[0] is None
    assert pull_through_source("localhost:5000/x:1")[0] is None


def _container(stack, name):
    for task in stack.resources("aws_ecs_task_definition").values():
        for container in json.loads(task["container_definitions"]):
            if container["name"] == name:
                return container
    raise AssertionError(f"no container {name}")


def test_task_definitions_run_the_registry_images(stage, synths, stage_cfg):
    # run_main unsets the app tag variable and stage records no release: the app-built api runs the fixed
    # tag of no release (not the docker/ override's, not a commit), which the deploy refuses
    assert _container(stage, "api")["image"].endswith(f".repository_url}}:{APP_IMAGE_UNRELEASED_TAG}")
    assert _container(stage, "ollama")["image"].endswith(".ecr_repository_prefix}/ollama/ollama:0.3.14")

    def mutate(data):
        data["registry"] = {"pull_through_cache": False}
        data["secrets"].pop("docker-hub")

    off = synths.of_data(variant(mutate))  # the same variant as test_no_cache_rules_when_switched_off
    assert _container(off, "ollama")["image"] == "ollama/ollama:0.3.14"


# ---------------------------------------------------------------- which images another repository builds
APP_VAR = "ARAQUEM_APP_IMAGE_TAG"  # their tag's variable (modules/image_tags.py resolves the tags)


def test_stage_marks_the_app_built_images(stage_cfg):
    cfg = stage_cfg
    assert {n: s.image.tag_env_var for n, s in cfg.services.items() if s.image.build and not s.image.dockerfile} \
        == {"api": APP_VAR, "rag-indexer": APP_VAR}
    assert not [n for n, s in cfg.services.items() if s.image.dockerfile and s.image.tag_env_var]


def test_every_repository_of_the_environment_is_scanned_on_push_cached_ones_included(stage, synths):
    """The registry rule's filter covers the built repositories and the pull-through cache's prefixes; an
    env file whose Region's scanning belongs to another stack turns it off."""
    scanning = stage.one("aws_ecr_registry_scanning_configuration")
    assert scanning["scan_type"] == "BASIC"
    [rule] = scanning["rule"]
    assert rule["scan_frequency"] == "SCAN_ON_PUSH"
    assert rule["repository_filter"] == [{"filter": "araquem-stage/*", "filter_type": "WILDCARD"}]
    pattern = rule["repository_filter"][0]["filter"].removesuffix("*")
    prefixes = [r["ecr_repository_prefix"] for r in stage.resources("aws_ecr_pull_through_cache_rule").values()]
    names = [r["name"] for r in stage.resources("aws_ecr_repository").values()]
    assert prefixes and names and all(n.startswith(pattern) for n in prefixes + names)
    off = synths.of_data(variant(lambda d: d["registry"].update(registry_scanning=False)))
    assert not off.resources("aws_ecr_registry_scanning_configuration")
