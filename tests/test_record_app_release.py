"""scripts/record_app_release.py: an application release becomes one changed line of an env file."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from conftest import PYTHON, ROOT, run
from modules.config import load

SCRIPT = ROOT / "scripts" / "record_app_release.py"
spec = importlib.util.spec_from_file_location("record_app_release", SCRIPT)
release = importlib.util.module_from_spec(spec)
spec.loader.exec_module(release)


def record(env_file, tag):
    return run([PYTHON, str(SCRIPT), "--env-file", str(env_file), f"--tag={tag}"], check=False, timeout=120)


@pytest.fixture
def stage_copy(tmp_path):
    target = tmp_path / "stage.yaml"
    shutil.copy(ROOT / "envs" / "stage.yaml", target)
    return target


def test_records_the_tag_and_changes_nothing_else(stage_copy):
    before = stage_copy.read_text()
    proc = record(stage_copy, "app-2.4.1")
    assert proc.returncode == 0 and proc.stdout == "changed\n", proc.stderr
    after = stage_copy.read_text()
    assert load(stage_copy).registry.app_image_tag == "app-2.4.1"
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == ["  app_image_tag: app-2.4.1  # recorded by the app-release workflow"]
    assert [line for line in before.splitlines() if line not in after.splitlines()] == []
    # the next release replaces that line; the same tag again changes nothing
    assert record(stage_copy, "app-2.5.0").stdout == "changed\n"
    assert load(stage_copy).registry.app_image_tag == "app-2.5.0"
    assert stage_copy.read_text().count("app_image_tag:") == 1
    assert record(stage_copy, "app-2.5.0").stdout == "unchanged\n"


@pytest.mark.parametrize("text,expected", [
    ("project: p\nregistry:\n  keep_last: 5\n\nlogs:\n  retention_days: 3\n",
     "project: p\nregistry:\n  keep_last: 5\n  app_image_tag: v1  # recorded by the app-release workflow\n\nlogs:\n"
     "  retention_days: 3\n"),
    ("project: p\n", "project: p\n\nregistry:\n  app_image_tag: v1\n"),
    ("registry:    # ECR\n    app_image_tag: v0   # old\n    keep_last: 5\n",
     "registry:    # ECR\n    app_image_tag: v1  # recorded by the app-release workflow\n    keep_last: 5\n"),
], ids=["insert", "no-section", "replace"])
def test_edit_keeps_the_file_layout(text, expected):
    assert release.with_tag(text, "v1") == expected


@pytest.mark.parametrize("tag,message", [("latest", "not 'latest'"), ("v1\nproject: x", "is not an image tag"),
                                         ("-rc", "is not an image tag")])
def test_bad_tags_exit_2_and_leave_the_file(stage_copy, tag, message):
    before = stage_copy.read_text()
    proc = record(stage_copy, tag)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert stage_copy.read_text() == before


def test_an_env_file_that_no_longer_validates_is_restored(tmp_path):
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "envs" / "stage.yaml").read_text().replace("region: us-east-1", "region: mars-1")
    broken.write_text(text)
    proc = record(broken, "app-2.4.1")
    assert proc.returncode == 2 and "region" in proc.stderr
    assert broken.read_text() == text
