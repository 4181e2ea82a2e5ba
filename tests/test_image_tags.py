"""modules/image_tags.py: which tag each built image gets (docker/ builds: the hash of their build context, or the
override variable; images another repository builds: the variable in their `image.tag_env_var`, else the release
recorded in the env file, else the placeholder no deploy accepts, with a notice)."""

from __future__ import annotations

import pytest
import yaml

from conftest import ROOT, TEST_IMAGE_TAG, variant
from modules.build_context import context_tag
from modules.config.defaults import APP_IMAGE_UNRELEASED_TAG
from modules import image_tags

APP_TAG = "app-2.4.1"  # a tag the application repository pushed
APP_VAR = "ARAQUEM_APP_IMAGE_TAG"


def test_app_built_images_take_the_variables_tag(monkeypatch, capsys, stage_cfg):
    cfg = stage_cfg
    monkeypatch.setenv(cfg.registry.image_tag_env_var, TEST_IMAGE_TAG)
    monkeypatch.setenv(APP_VAR, APP_TAG)
    tags = image_tags.image_tags(cfg)
    assert list(tags) == sorted(tags)  # deterministic order
    assert tags == {s.image.build: APP_TAG if s.image.tag_env_var else TEST_IMAGE_TAG
                    for s in cfg.services.values() if s.image.build}
    assert tags["api"] == tags["rag-indexer"] == APP_TAG and tags["prometheus"] == TEST_IMAGE_TAG
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("unset", ["absent", "empty"])
def test_no_release_recorded_gives_the_unreleased_tag_with_a_notice(monkeypatch, capsys, stage_cfg, unset):
    """Neither the variable nor registry.app_image_tag: a fixed tag (no commit in it, so nothing restarts on a
    commit of this repository) that the deploy and preflight refuse; never the docker/ override's tag."""
    cfg = stage_cfg
    assert cfg.registry.app_image_tag is None
    monkeypatch.setenv(cfg.registry.image_tag_env_var, TEST_IMAGE_TAG)
    if unset == "absent":
        monkeypatch.delenv(APP_VAR, raising=False)
    else:
        monkeypatch.setenv(APP_VAR, "")
    tags = image_tags.image_tags(cfg)
    assert tags["api"] == tags["rag-indexer"] == APP_IMAGE_UNRELEASED_TAG == "unreleased"
    assert {t for b, t in tags.items() if b not in ("api", "rag-indexer")} == {TEST_IMAGE_TAG}
    notice = capsys.readouterr().err.splitlines()
    assert len(notice) == 1 and notice[0].startswith(f"notice: {APP_VAR} is not set and no release is recorded: "
                                                     "api, rag-indexer ")
    assert "'unreleased', which no deploy accepts" in notice[0]


def test_the_unreleased_tag_cannot_be_recorded_as_a_release(tmp_path):
    from modules.config import load  # noqa: PLC0415

    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(variant(lambda d: d["registry"].update(app_image_tag="unreleased")),
                                   sort_keys=False))
    with pytest.raises(Exception, match="'unreleased' stands for 'no release recorded yet'"):
        load(path)


def test_docker_images_are_tagged_with_their_build_context(monkeypatch, capsys, stage_cfg):
    monkeypatch.delenv(stage_cfg.registry.image_tag_env_var, raising=False)
    monkeypatch.setenv(APP_VAR, APP_TAG)
    tags = image_tags.image_tags(stage_cfg)
    docker_built = {s.image.build: s.image.dockerfile for s in stage_cfg.services.values() if s.image.dockerfile}
    assert docker_built and {b: tags[b] for b in docker_built} == {
        b: context_tag(ROOT / "docker", ROOT / df) for b, df in docker_built.items()}
    assert all(tags[b].startswith("ctx-") for b in docker_built)
    assert tags["api"] == APP_TAG and capsys.readouterr().err == ""


def test_a_dockerfile_outside_docker_is_a_usage_error(monkeypatch, stage_cfg):
    monkeypatch.delenv(stage_cfg.registry.image_tag_env_var, raising=False)
    with pytest.raises(image_tags.UsageError, match="image.dockerfile README.md: .*not inside the build context"):
        image_tags.docker_tag("README.md")




def test_app_built_images_run_the_recorded_release(monkeypatch, capsys, stage_cfg):
    cfg = stage_cfg.model_copy(update={"registry": stage_cfg.registry.model_copy(update={"app_image_tag": "app-3.0.0"})})
    monkeypatch.setenv(cfg.registry.image_tag_env_var, TEST_IMAGE_TAG)
    monkeypatch.delenv(APP_VAR, raising=False)
    tags = image_tags.image_tags(cfg)
    assert tags["api"] == tags["rag-indexer"] == "app-3.0.0" and capsys.readouterr().err == ""
    monkeypatch.setenv(APP_VAR, APP_TAG)  # the variable still overrides it (a local synth)
    assert image_tags.image_tags(cfg)["api"] == APP_TAG


