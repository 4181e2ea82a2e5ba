"""modules/commands/synth.py: `python main.py [synth]` picks the env file, resolves each built image's tag
(docker/ builds: the hash of their build context, or the override variable; images another repository
builds: the tag in their `image.tag_env_var`, else the recorded release, else the fixed `unreleased` tag and a
notice), and swaps the output in
without losing earlier output or local state."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import MAIN_ENV, PYTHON, ROOT, TEST_IMAGE_TAG, run, run_main
from modules.config.defaults import APP_IMAGE_UNRELEASED_TAG

APP_TAG = "app-2.4.1"  # a tag the application repository pushed


def test_env_selection_by_name_and_variable(tmp_path):
    by_flag = run_main("--env", "stage", "synth", "--outdir", str(tmp_path / "a"))
    by_var = run_main("synth", "--outdir", str(tmp_path / "b"), env={"ARAQUEM_ENV": "stage"})
    assert by_flag.returncode == 0 and by_var.returncode == 0, by_flag.stderr + by_var.stderr
    a = (tmp_path / "a/stacks/araquem-stage/cdk.tf.json").read_bytes()
    b = (tmp_path / "b/stacks/araquem-stage/cdk.tf.json").read_bytes()
    assert a == b  # also: two synths of the same input are byte-identical


# ------------------------------------------------- image_tags: which tag each build gets
APP_VAR = "ARAQUEM_APP_IMAGE_TAG"


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

# ------------------------------------------------- jsii's Node process dying mid-synth
def _child_running(parent: int, needle: str) -> int | None:
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("PPid:"))
            cmdline = (status.parent / "cmdline").read_bytes()
        except (OSError, StopIteration, ValueError):
            continue
        if ppid == parent and needle.encode() in cmdline:
            return int(status.parent.name)
    return None


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_node_process_is_one_line_and_the_earlier_output_stays(tmp_path, synths, sig):
    """The OOM killer (SIGKILL) or a SIGTERM ends Node while the stack is being built: one line naming the
    signal, nothing after it (no JSONDecodeError, no BrokenPipe traceback from jsii's exit hook)."""
    out = tmp_path / "cdktf.out"
    shutil.copytree(synths.of_file(ROOT / "envs" / "stage.yaml").dir.parent.parent, out)
    before = (out / "stacks/araquem-stage/cdk.tf.json").read_bytes()
    proc = subprocess.Popen([PYTHON, str(ROOT / "main.py"), "synth", "--outdir", str(out)], cwd=ROOT,
                            env={**os.environ, **{k: v for k, v in MAIN_ENV.items() if v is not None}},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    node = None
    while node is None and proc.poll() is None and time.monotonic() < deadline:
        node = _child_running(proc.pid, "jsii-runtime")
        time.sleep(0.05)
    assert node, "no jsii Node process seen"
    time.sleep(0.5)  # inside the synth, past jsii's handshake
    os.kill(node, sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    lines = [line for line in err.splitlines() if not line.startswith("notice:")]
    assert lines == [f"error: the synth's Node process (jsii) was killed (signal {int(sig)}, {sig.name}"
                     + (": out of memory?" if sig == signal.SIGKILL else "")
                     + "); the earlier output is left as it was"], err
    assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() == before
