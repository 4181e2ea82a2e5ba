"""docs/add-a-service.md's checklist works: followed on a copy of the repository with a service the page does
not name (a public image with a port that the api may call), `make regen`'s script then the suite's
invariants and golden tests there are green. What the copy gets comes from the page itself (its contract
example), so a page that stops working fails here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import MAIN_ENV, PYTHON, ROOT

DOC = ROOT / "docs" / "add-a-service.md"
NEW_SERVICE = """
  status-page:
    description: a static status page the api links to (tests/test_add_a_service.py)
    image: public.ecr.aws/nginx/nginx:1.27.3
    cpu: 0.25
    memory: 256
    ports: [8080]
    allow_from: [api]
"""
# The suite's tests that a service added to stage must keep green once regenerated: the invariants of every
# env file, the contracts, and every golden file `make regen` rewrites.
CHECKS = ["tests/test_env_invariants.py", "tests/test_output_digest.py", "tests/commands/test_reference.py",
          "tests/commands/test_schema.py", "tests/test_image_contracts.py::test_every_image_an_env_file_runs_has_a_contract",
          "tests/commands/test_describe.py::test_stage_table_matches_the_reviewed_golden_file",
          "tests/commands/test_cost.py::test_docs_show_the_commands_current_estimate_of_stage",
          "tests/commands/test_diagram.py::test_readme_picture_shows_every_stage_service"]


def repository_copy(target):
    """The files git tracks (and untracked ones it does not ignore), as a fresh clone has them; the tools of
    this checkout shared through a link (jsii's unpacked packages, the provider mirror config)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file() and not source.is_symlink():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    for shared in (".tools", ".venv"):
        if (ROOT / shared).exists():
            os.symlink(ROOT / shared, target / shared)


def contract_example() -> tuple[str, str]:
    """(path, text) of the contract the checklist shows, from its yaml block (first line: `# <path>`)."""
    block = re.search(r"```yaml\n(\s*# (docker/contracts/[\w.-]+\.yaml)\n.*?)```", DOC.read_text(), re.S)
    assert block, "docs/add-a-service.md shows no contract example (```yaml block starting `# docker/contracts/...`)"
    text = "\n".join(line[3:] if line.startswith("   ") else line for line in block[1].splitlines()) + "\n"
    return block[2], text


@pytest.mark.skipif(shutil.which("dot") is None, reason="make regen draws the picture with Graphviz (make test installs it)")
def test_the_checklist_adds_a_service_and_the_suite_stays_green(tmp_path):
    copy = tmp_path / "repo"
    repository_copy(copy)
    # step 1: the env-file entry; steps 2-3: a public image, and its contract as the page shows it
    stage = copy / "envs" / "stage.yaml"
    stage.write_text(stage.read_text().rstrip("\n") + "\n" + NEW_SERVICE)
    path, text = contract_example()
    (copy / path).write_text(text)
    env = {**os.environ, **{k: v for k, v in MAIN_ENV.items() if v is not None}}
    for name in [k for k, v in MAIN_ENV.items() if v is None]:
        env.pop(name, None)
    # step 4: make regen (its script: the bootstrap already ran for this suite)
    regen = subprocess.run([PYTHON, "scripts/regen.py"], cwd=copy, env=env, capture_output=True, text=True,
                           timeout=900)
    assert regen.returncode == 0, regen.stdout + regen.stderr
    assert "status-page" in (copy / "tests/golden/describe-stage.txt").read_text()
    # step 5: the tests that pin what a service changes
    suite = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CHECKS], cwd=copy, env=env,
                           capture_output=True, text=True, timeout=1800)
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
