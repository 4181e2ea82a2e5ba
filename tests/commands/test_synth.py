"""modules/commands/synth.py: `python main.py [synth]` picks the env file, resolves each built image's tag
(docker/ builds: the hash of their build context, or the override variable; images another repository
builds: the tag in their `image.tag_env_var`, else the recorded release, else the fixed `unreleased` tag and a
notice), and swaps the output in
without losing earlier output or local state."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

import yaml

from conftest import PYTHON, ROOT, TEST_IMAGE_TAG, run, run_main, variant
from modules.build_context import context_tag
from modules.commands import synth
from modules.config.defaults import APP_IMAGE_UNRELEASED_TAG

APP_TAG = "app-2.4.1"  # a tag the application repository pushed


def test_env_selection_by_name_and_variable(tmp_path):
    by_flag = run_main("--env", "stage", "synth", "--outdir", str(tmp_path / "a"))
    by_var = run_main("synth", "--outdir", str(tmp_path / "b"), env={"ARAQUEM_ENV": "stage"})
    assert by_flag.returncode == 0 and by_var.returncode == 0, by_flag.stderr + by_var.stderr
    a = (tmp_path / "a/stacks/araquem-stage/cdk.tf.json").read_bytes()
    b = (tmp_path / "b/stacks/araquem-stage/cdk.tf.json").read_bytes()
    assert a == b  # also: two synths of the same input are byte-identical


def test_synth_replaces_earlier_output_and_keeps_what_it_did_not_write(tmp_path):
    out = tmp_path / "cdktf.out"
    stack = out / "stacks/araquem-stage"
    stack.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps(EARLIER_MANIFEST))
    (stack / "cdk.tf.json").write_text('{"earlier": true}')
    (out / "NOTES.md").write_text("a user's notes")
    proc = run_main("synth", "--outdir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((stack / "cdk.tf.json").read_text()) != {"earlier": True}
    assert (out / "NOTES.md").read_text() == "a user's notes"
    assert not list(tmp_path.glob(".cdktf.out.*-*"))
    umask = os.umask(0)
    os.umask(umask)
    for directory in (out, out / "stacks", stack):  # not mkdtemp's 0700
        assert directory.stat().st_mode & 0o777 == 0o777 & ~umask, directory


EARLIER_MANIFEST = {"version": "0.21.0", "stacks": {"araquem-stage": {
    "name": "araquem-stage", "constructPath": "araquem-stage", "workingDirectory": "stacks/araquem-stage",
    "synthesizedStackPath": "stacks/araquem-stage/cdk.tf.json", "annotations": [], "dependencies": []}}}


def test_resynth_keeps_local_state_of_every_stack(synths, tmp_path):
    """Local state lives in cdktf.out/stacks/<stack>/; neither a re-synth nor another --env may lose it."""
    out = tmp_path / "cdktf.out"
    session_dev_eu = synths.of_file(ROOT / "envs" / "dev-eu.yaml")  # earlier output: the session's dev-eu synth
    shutil.copytree(session_dev_eu.dir.parent.parent, out)
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
    tags = synth.image_tags(cfg)
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


# ------------------------------------------------- content-addressed docker/ tags
def test_docker_images_are_tagged_with_their_build_context(monkeypatch, capsys, stage_cfg):
    monkeypatch.delenv(stage_cfg.registry.image_tag_env_var, raising=False)
    monkeypatch.setenv(APP_VAR, APP_TAG)
    tags = synth.image_tags(stage_cfg)
    docker_built = {s.image.build: s.image.dockerfile for s in stage_cfg.services.values() if s.image.dockerfile}
    assert docker_built and {b: tags[b] for b in docker_built} == {
        b: context_tag(ROOT / "docker", ROOT / df) for b, df in docker_built.items()}
    assert all(tags[b].startswith("ctx-") for b in docker_built)
    assert tags["api"] == APP_TAG and capsys.readouterr().err == ""


def test_a_dockerfile_outside_docker_is_a_usage_error(monkeypatch, stage_cfg):
    monkeypatch.delenv(stage_cfg.registry.image_tag_env_var, raising=False)
    with pytest.raises(synth.UsageError, match="image.dockerfile README.md: .*not inside the build context"):
        synth.docker_tag("README.md")


def _task_definitions(out) -> dict[str, str]:
    stack = json.loads((out / "stacks" / "araquem-stage" / "cdk.tf.json").read_text())
    return {name: td["container_definitions"] for name, td in stack["resource"]["aws_ecs_task_definition"].items()}


def test_commits_that_change_no_image_change_no_task_definition(tmp_path):
    """Synth at three commits of a copy of this checkout, without any tag variable and with no application
    release recorded (stage as shipped, before its first release): a README-only commit leaves every task
    definition byte-identical, the application's (api, rag-indexer) too; a change to a shared docker/lib file
    changes exactly the task definitions running an image that copies it."""
    repo = tmp_path / "repo"
    files = run(["git", "ls-files", "-z"], cwd=ROOT).stdout.split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, repo / rel)
    (repo / ".tools").symlink_to(ROOT / ".tools")  # jsii's unpacked packages
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    run(["git", "init", "-q"], cwd=repo)
    run([*git, "add", "-A"], cwd=repo)
    run([*git, "commit", "-qm", "one"], cwd=repo)
    env = {k: None for k in ("ARAQUEM_IMAGE_TAG", "ARAQUEM_ENV", "ARAQUEM_EAGER_PROVIDER_IMPORT", APP_VAR)}

    def synth_at(name: str):
        proc = run([PYTHON, str(repo / "main.py"), "--env", "stage", "synth", "--outdir", str(tmp_path / name)],
                   cwd=repo, env=env, check=False, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return _task_definitions(tmp_path / name)

    first = synth_at("one")
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA docs-only change.\n")
    run([*git, "commit", "-qam", "two: README only"], cwd=repo)
    second = synth_at("two")
    assert run(["git", "rev-parse", "HEAD~1"], cwd=repo).stdout != run(["git", "rev-parse", "HEAD"], cwd=repo).stdout
    assert second == first  # no image changed: no task definition changed, nothing restarts
    app_images = [c["image"] for defs in first.values() for c in json.loads(defs) if c["name"] in ("api", "rag-indexer")]
    assert len(app_images) == 2 and all(i.endswith(f":{APP_IMAGE_UNRELEASED_TAG}") for i in app_images)

    shared = repo / "docker" / "lib" / "ops-http.sh"
    shared.write_text(shared.read_text() + "\n# a shared helper changed\n")
    run([*git, "commit", "-qam", "three: docker/lib"], cwd=repo)
    third = synth_at("three")
    changed = {name for name in first if third[name] != first[name]}
    users = {name for name, defs in first.items()
             if any(c["name"] in ("quality-cron", "rag-refresh-cron") for c in json.loads(defs))}
    assert users and changed == users


# ------------------------------------------------- the application's release recorded in the env file
def test_app_built_images_run_the_recorded_release(monkeypatch, capsys, stage_cfg):
    cfg = stage_cfg.model_copy(update={"registry": stage_cfg.registry.model_copy(update={"app_image_tag": "app-3.0.0"})})
    monkeypatch.setenv(cfg.registry.image_tag_env_var, TEST_IMAGE_TAG)
    monkeypatch.delenv(APP_VAR, raising=False)
    tags = synth.image_tags(cfg)
    assert tags["api"] == tags["rag-indexer"] == "app-3.0.0" and capsys.readouterr().err == ""
    monkeypatch.setenv(APP_VAR, APP_TAG)  # the variable still overrides it (a local synth)
    assert synth.image_tags(cfg)["api"] == APP_TAG


# ------------------------------------------------- the swap: local state survives a failure at every step
STATE_FILES = {  # what `cdktf deploy` / terraform leave in a stack directory, and a user's own file
    "stacks/araquem-stage/terraform.araquem-stage.tfstate": b'{"serial": 41, "lineage": "only-copy"}',
    "stacks/araquem-stage/terraform.araquem-stage.tfstate.backup": b'{"serial": 40}',
    "stacks/araquem-stage/.terraform.lock.hcl": b'provider "registry.terraform.io/hashicorp/aws" {}',
    "stacks/araquem-stage/.terraform/providers/aws/terraform-provider-aws": b"\x7fELF provider",
    "stacks/araquem-stage/.terraform/terraform.tfstate": b'{"backend": "local"}',
    "stacks/araquem-dev-eu/terraform.araquem-dev-eu.tfstate": b'{"serial": 7}',
    "stacks/araquem-dev-eu/cdk.tf.json": b'{"dev": true}',
    "NOTES.md": b"kept by synth",
}
OLD_STACK, NEW_STACK = b'{"old": true}', b'{"new": true}'
# Every file-system call the lock, the cleanup and the swap make; each is made to fail in turn.
FAULTABLE = [(os, "rename"), (os, "link"), (os, "mkdir"), (os, "symlink"), (os, "rmdir"), (os, "unlink"),
             (shutil, "copy2"), (shutil, "copymode"), (shutil, "rmtree"), (tempfile, "mkdtemp"),
             (Path, "write_text"), (Path, "write_bytes")]


def _earlier_output(out: Path) -> None:
    (out / "stacks/araquem-stage").mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps(EARLIER_MANIFEST))
    (out / "stacks/araquem-stage/cdk.tf.json").write_bytes(OLD_STACK)
    for rel, data in STATE_FILES.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    os.symlink("aws/terraform-provider-aws", out / "stacks/araquem-stage/.terraform/providers/current")


def _fake_cdktf(target: Path) -> None:
    """What cdktf writes: the manifest and one stack (through the same os calls, so they can fail too)."""
    (target / "stacks/araquem-stage").mkdir(parents=True)
    (target / "manifest.json").write_text(json.dumps(EARLIER_MANIFEST))
    (target / "stacks/araquem-stage/cdk.tf.json").write_bytes(NEW_STACK)


class Fault:
    """Makes the n-th call (counted over every FAULTABLE function) raise `error`."""

    def __init__(self, monkeypatch, n: int, error: BaseException):
        self.calls, self.n, self.error, self.fired = 0, n, error, None
        for owner, name in FAULTABLE:
            monkeypatch.setattr(owner, name, self._wrap(getattr(owner, name), f"{owner.__name__}.{name}"))

    def _wrap(self, real, label):
        def faulty(*args, **kwargs):
            self.calls += 1
            if self.calls == self.n:
                self.fired = label
                raise self.error
            return real(*args, **kwargs)
        return faulty


def _assert_state_kept(out: Path) -> None:
    for rel, data in STATE_FILES.items():
        assert (out / rel).read_bytes() == data, rel
    assert os.readlink(out / "stacks/araquem-stage/.terraform/providers/current") == "aws/terraform-provider-aws"
    assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() in (OLD_STACK, NEW_STACK)


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
                         ids=["no-space", "ctrl-c"])
def test_local_state_survives_a_failure_at_every_step_of_the_swap(tmp_path, monkeypatch, error):
    steps = 0
    for n in range(1, 200):
        base = tmp_path / str(n)
        base.mkdir()
        out = base / "cdktf.out"
        _earlier_output(out)
        with monkeypatch.context() as patch:
            fault = Fault(patch, n, error)
            try:
                synth.write_output(out, _fake_cdktf)
            except type(error):
                assert fault.fired, "an error nobody injected"
        _assert_state_kept(out)  # the earlier output (or the new one) with every state file, byte for byte
        if not fault.fired:
            assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() == NEW_STACK
            break
        steps += 1
        synth.write_output(out, _fake_cdktf)  # the next synth cleans up and succeeds
        _assert_state_kept(out)
        assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() == NEW_STACK
        assert sorted(p.name for p in base.iterdir()) == [".cdktf.out.lock", "cdktf.out"], f"fault at {fault.fired}"
    assert steps >= 20, f"only {steps} file-system steps were interrupted"


def test_an_interrupted_swap_is_put_back_by_the_next_synth(tmp_path):
    """Killed between its two renames: no outdir, the earlier output in .old-*/out. The next synth restores
    it (never deletes it), removes only staging directories that carry its marker, then swaps."""
    out = tmp_path / "cdktf.out"
    retired = tmp_path / ".cdktf.out.old-k1ll3d"
    _earlier_output(retired / "out")
    (retired / synth.MARKER).write_text("old")
    half_written = tmp_path / ".cdktf.out.new-k1ll3d"
    (half_written / "out").mkdir(parents=True)
    (half_written / synth.MARKER).write_text("new")
    not_ours = tmp_path / ".cdktf.out.new-mine"  # the name pattern but no marker: a user's
    not_ours.mkdir()
    (not_ours / "keep.txt").write_text("mine")
    synth.write_output(out, _fake_cdktf)
    _assert_state_kept(out)
    assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() == NEW_STACK
    assert not retired.exists() and not half_written.exists()
    assert (not_ours / "keep.txt").read_text() == "mine"


def test_state_is_linked_or_copied_never_moved(tmp_path, monkeypatch):
    """Until the swap the earlier output stays complete: a failure just before the swap loses nothing."""
    out = tmp_path / "cdktf.out"
    _earlier_output(out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real_rename = os.rename

    def fail_the_swap(src, dst):
        if Path(src) == out:
            assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
            raise OSError(errno.EIO, "Input/output error", str(src))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", fail_the_swap)
    with pytest.raises(OSError):
        synth.write_output(out, _fake_cdktf)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".cdktf.out.*-*"))


@pytest.mark.parametrize("content", [None, "{}", '{"version": "0.21.0", "stacks": {"x": {"name": "x"}}}', "not json"],
                         ids=["no-manifest", "empty-object", "stack-without-paths", "not-json"])
def test_only_cdktf_output_is_recognised(tmp_path, content):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/thesis.odt").write_text("only copy")
    if content is not None:
        (tmp_path / "out/manifest.json").write_text(content)
    with pytest.raises(synth.UsageError, match="is not earlier synth output"):
        synth.checked_outdir(tmp_path / "out")
    (tmp_path / "out/manifest.json").write_text(json.dumps(EARLIER_MANIFEST))
    assert synth.checked_outdir(tmp_path / "out") == (tmp_path / "out").resolve()
    (tmp_path / "empty").mkdir()
    assert synth.checked_outdir(tmp_path / "empty") == (tmp_path / "empty").resolve()  # nothing to lose
