"""modules/commands/synth.py: `python main.py [synth]` picks the env file, resolves each built image's tag
(docker/ builds get the synth-time tag, images another repository builds the tag in their
`image.tag_env_var`; unset: the synth-time tag and a notice), and swaps the output in without losing
earlier output or local state."""

from __future__ import annotations

import json
import re

import pytest

from conftest import TEST_IMAGE_TAG, run_main
from modules.commands import synth

APP_TAG = "app-2.4.1"  # a tag the application repository pushed


def test_env_selection_by_name_and_variable(tmp_path):
    by_flag = run_main("--env", "stage", "synth", "--outdir", str(tmp_path / "a"))
    by_var = run_main("synth", "--outdir", str(tmp_path / "b"), env={"ARAQUEM_ENV": "stage"})
    assert by_flag.returncode == 0 and by_var.returncode == 0, by_flag.stderr + by_var.stderr
    a = (tmp_path / "a/stacks/araquem-stage/cdk.tf.json").read_bytes()
    b = (tmp_path / "b/stacks/araquem-stage/cdk.tf.json").read_bytes()
    assert a == b  # also: two synths of the same input are byte-identical


def test_synth_replaces_earlier_output(tmp_path):
    out = tmp_path / "cdktf.out"
    (out / "stale").mkdir(parents=True)
    proc = run_main("synth", "--outdir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert not (out / "stale").exists() and (out / "stacks/araquem-stage/cdk.tf.json").is_file()
    assert not list(tmp_path.glob(".cdktf.out.*"))


def test_resynth_keeps_local_state_of_every_stack(tmp_path):
    """Local state lives in cdktf.out/stacks/<stack>/; neither a re-synth nor another --env may lose it."""
    out = tmp_path / "cdktf.out"
    assert run_main("--env", "dev-eu", "synth", "--outdir", str(out)).returncode == 0
    dev_state = out / "stacks/araquem-dev-eu/terraform.araquem-dev-eu.tfstate"
    dev_state.write_text('{"serial": 7}')
    assert run_main("--env", "stage", "synth", "--outdir", str(out)).returncode == 0
    stage_state = out / "stacks/araquem-stage/terraform.araquem-stage.tfstate"
    stage_state.write_text('{"serial": 3}')
    assert run_main("--env", "stage", "synth", "--outdir", str(out)).returncode == 0
    assert dev_state.read_text() == '{"serial": 7}' and stage_state.read_text() == '{"serial": 3}'
    assert (out / "stacks/araquem-stage/cdk.tf.json").is_file()


# ------------------------------------------------- image_tags: which tag each build gets
APP_VAR = "ARAQUEM_APP_IMAGE_TAG"


def test_app_built_images_take_the_variables_tag(monkeypatch, capsys, stage_cfg):
    cfg = stage_cfg
    monkeypatch.setenv(cfg.registry.image_tag_env_var, TEST_IMAGE_TAG)
    monkeypatch.setenv(APP_VAR, APP_TAG)
    tags = synth.image_tags(cfg)
    assert list(tags) == sorted(tags)  # deterministic order
    assert tags == {s.image.build: APP_TAG if s.image.tag_env_var else TEST_IMAGE_TAG
                    for s in cfg.services.values() if s.image.build}
    assert tags["api"] == tags["rag-indexer"] == APP_TAG and tags["prometheus"] == TEST_IMAGE_TAG
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("unset", ["absent", "empty"])
def test_unset_variable_falls_back_to_the_synth_tag_with_a_notice(monkeypatch, capsys, stage_cfg, unset):
    cfg = stage_cfg
    monkeypatch.setenv(cfg.registry.image_tag_env_var, TEST_IMAGE_TAG)
    if unset == "absent":
        monkeypatch.delenv(APP_VAR, raising=False)
    else:
        monkeypatch.setenv(APP_VAR, "")
    tags = synth.image_tags(cfg)
    assert set(tags.values()) == {TEST_IMAGE_TAG}
    notice = capsys.readouterr().err.splitlines()
    assert len(notice) == 1 and notice[0].startswith(f"notice: {APP_VAR} is not set: api, rag-indexer ")
    assert TEST_IMAGE_TAG in notice[0]


def test_synth_runs_the_app_tag_and_the_synth_tag_side_by_side(tmp_path, stage_cfg):
    proc = run_main("synth", "--outdir", str(tmp_path / "out"), env={APP_VAR: APP_TAG})
    assert proc.returncode == 0, proc.stderr
    assert "notice:" not in proc.stderr
    synthesized = json.loads((tmp_path / "out" / "stacks" / stage_cfg.name / "cdk.tf.json").read_text())
    images = {c["name"]: c["image"] for task in synthesized["resource"]["aws_ecs_task_definition"].values()
              for c in json.loads(task["container_definitions"])}
    for name, svc in stage_cfg.services.items():
        if svc.image.build:
            tag = APP_TAG if svc.image.tag_env_var else TEST_IMAGE_TAG
            assert re.fullmatch(r"\$\{aws_ecr_repository\.[\w-]+\.repository_url\}:" + re.escape(tag), images[name]), name
