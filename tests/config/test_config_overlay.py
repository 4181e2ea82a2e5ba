"""modules/config/loading.py `extends:`: an env file overlays a base file (Copilot's per-environment pattern):
mappings merge key by key, lists and scalars replace, null removes; problems name the file that wrote the
value; chains end, and `describe --resolved` prints the merged file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_main_in_process
from modules.config import ConfigError, load
from modules.config.loading import MAX_EXTENDS_DEPTH, resolve

FIXTURES = ROOT / "tests/fixtures/envs/overlay"
BASE, PROD = FIXTURES / "base.yaml", FIXTURES / "prod.yaml"


def test_overlay_merges_maps_replaces_lists_and_removes_null_keys():
    base, prod = load(BASE), load(PROD)
    assert (prod.environment, prod.tags) == ("prod", {"Environment": "prod"})
    general, base_general = prod.cluster.capacity_providers["general"], base.cluster.capacity_providers["general"]
    assert general.max_size == 4 and general.instance_type == base_general.instance_type == "t3.large"
    assert general.min_size == base_general.min_size
    assert [p.port for p in prod.services["web"].ports] == [8080, 9090]  # replaced, not appended
    assert prod.services["web"].image == base.services["web"].image  # merged: the rest of web stays
    assert "worker" in base.services and "worker" not in prod.services
    assert prod.network == base.network and prod.region == "eu-central-1"
    assert prod.extends == "base.yaml" and base.extends is None


def test_an_overlay_equals_the_file_written_out(tmp_path):
    """The merged document, written as a plain env file, loads to the same configuration."""
    merged = resolve(PROD).raw
    merged.pop("extends")
    (tmp_path / "flat.yaml").write_text(yaml.safe_dump(merged))
    assert load(tmp_path / "flat.yaml").model_dump(exclude={"extends"}) == load(PROD).model_dump(exclude={"extends"})


def _overlay(tmp_path: Path, text: str, name: str = "overlay.yaml") -> Path:
    (tmp_path / "base.yaml").write_text(BASE.read_text())
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_problem_names_the_file_that_wrote_the_value(tmp_path):
    overlay = _overlay(tmp_path, "extends: base.yaml\nservices:\n  web: {cpu: -1}\n")
    with pytest.raises(ConfigError) as raised:
        load(overlay)
    assert raised.value.render().startswith(f"{overlay}: services.web.cpu: ")


def test_a_problem_in_what_the_base_wrote_names_the_base(tmp_path):
    """The overlay removes the ALB's target service: the reference left in the base is where the problem is."""
    overlay = _overlay(tmp_path, "extends: base.yaml\nservices:\n  web: null\n")
    with pytest.raises(ConfigError) as raised:
        load(overlay)
    text = raised.value.render()
    assert f"{tmp_path / 'base.yaml'}: alb.target" in text and f"(merged into {overlay})" in text


@pytest.mark.parametrize("text,words", [
    ("extends: nope.yaml\n", "extends: nope.yaml: no such file"),
    ("extends: overlay.yaml\n", "extends back to a file of the chain (overlay.yaml -> overlay.yaml)"),
    ("extends: [base.yaml]\n", "extends: ['base.yaml'] is not a path"),
    ("extends: ''\n", "extends: '' is not a path"),
], ids=["missing", "itself", "a-list", "empty"])
def test_a_bad_extends_is_refused_by_name(tmp_path, text, words):
    overlay = _overlay(tmp_path, text)
    proc = run_main_in_process("describe", "--env-file", str(overlay))
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_cycle_through_two_files_is_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match=r"a\.yaml -> b\.yaml -> a\.yaml"):
        load(tmp_path / "a.yaml")


def test_a_chain_longer_than_the_limit_is_refused(tmp_path):
    (tmp_path / "f0.yaml").write_text(BASE.read_text())
    for n in range(1, MAX_EXTENDS_DEPTH + 2):
        (tmp_path / f"f{n}.yaml").write_text(f"extends: f{n - 1}.yaml\nenvironment: e{n}\n")
    assert load(tmp_path / f"f{MAX_EXTENDS_DEPTH}.yaml").environment == f"e{MAX_EXTENDS_DEPTH}"
    with pytest.raises(ConfigError, match=f"more than {MAX_EXTENDS_DEPTH} files in the extends chain"):
        load(tmp_path / f"f{MAX_EXTENDS_DEPTH + 1}.yaml")


def test_bad_yaml_in_the_base_names_the_base(tmp_path):
    (tmp_path / "base.yaml").write_text("project: [unclosed\n")
    (tmp_path / "overlay.yaml").write_text("extends: base.yaml\n")
    with pytest.raises(ConfigError) as raised:
        load(tmp_path / "overlay.yaml")
    assert raised.value.render().startswith(f"{tmp_path / 'base.yaml'}: malformed YAML")


def test_describe_resolved_prints_the_merged_file(tmp_path, monkeypatch):
    proc = run_main_in_process("describe", "--env-file", str(PROD), "--resolved")
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    assert "extends" not in printed and printed["environment"] == "prod" and "worker" not in printed["services"]
    (tmp_path / "flat.yaml").write_text(proc.stdout)
    assert load(tmp_path / "flat.yaml").model_dump(exclude={"extends"}) == load(PROD).model_dump(exclude={"extends"})
