"""modules/commands/reference.py: docs/env-reference.md is generated from the schema and kept up to date."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from conftest import ROOT, run_main
from modules import config
from modules.config import base, defaults
from modules.commands import reference

REFERENCE = ROOT / "docs" / "env-reference.md"


def test_checked_in_reference_is_up_to_date():
    assert REFERENCE.read_text() == reference.render(), (
        f"docs/env-reference.md is out of date with modules/config/; regenerate it: "
        f"{reference.REGENERATE_COMMAND} (all generated files: make regen)")


def test_every_schema_field_has_a_description():
    missing = reference.undocumented_fields()
    assert not missing, f"add description= to these fields in modules/config/: {missing}"


def test_command_prints_the_reference():
    proc = run_main("reference")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == reference.render()


def test_every_field_of_every_reachable_model_is_listed():
    """Walk the schema independently of the generator and find each field path in the output."""
    text = reference.render()

    def walk(model, path):
        for name, field in model.model_fields.items():
            here = f"{path}.{name}" if path else name
            assert f"| `{here}` |" in text, here
            for child in reference._models_in(field.annotation):
                walk(child, reference._child_path(here, field.annotation))

    walk(config.EnvConfig, "")


def test_defaults_come_from_the_schema_constants():
    rows = {row.path: row for section in reference.sections() for row in section.rows}
    assert rows["cluster.capacity_providers.<name>.instance_type"].default == \
        f"`{defaults.DEFAULT_GENERAL_INSTANCE_TYPE}`"
    assert rows["network.az_count"].default == f"`{defaults.DEFAULT_AZ_COUNT}`"
    assert rows["services"].default == "**required**"
    assert rows["alb.allowed_cidrs"].default == "`[0.0.0.0/0]`"


class _Inner(base.Strict):
    """An inner section."""

    port: base.Port = Field(description="a port")


class _Sample(base.Strict):
    mode: Literal["a", "b"] = Field("a", description="one of two")
    size: int = Field(3, ge=1, le=9, description="bounded")
    items: dict[base.Name, _Inner] = Field(default_factory=dict, description="map of sections")
    listed: list[_Inner] = Field(default_factory=list, description="list of sections")
    maybe: base.Cidr | None = Field(None, description="an optional CIDR")
    bare: str = ""


def test_walker_renders_types_paths_and_defaults():
    sections = reference.sections(_Sample)
    assert [s.path for s in sections] == ["", "items.<name>"]  # _Inner appears once, at its first path
    rows = {row.path: row for section in sections for row in section.rows}
    assert rows["mode"].type == '`"a"` \\| `"b"`' and rows["mode"].default == "`a`"
    assert rows["size"].type == "int (≥ 1, ≤ 9)" and rows["size"].default == "`3`"
    assert rows["items"].type == "map of name → [_Inner](#_inner)"
    assert rows["listed"].type == "list of [_Inner](#_inner)"
    assert rows["maybe"].type == "CIDR, optional" and rows["maybe"].default == "unset"
    assert rows["items.<name>.port"].type == "port"
    assert reference.undocumented_fields(_Sample) == ["bare"]


def test_runbook_names_only_outputs_the_stage_stack_has(stage):
    """docs/runbook.md tells operators to read these Terraform outputs: they must exist."""
    text = (ROOT / "docs" / "runbook.md").read_text()
    line = next(line for line in text.replace("\n", " ").split(". ") if "Terraform outputs used here:" in line)
    named = re.findall(r"`([a-z0-9_]+)`", line)
    assert named, line
    missing = sorted(set(named) - set(stage.json.get("output", {})))
    assert not missing, f"docs/runbook.md names outputs the stage stack lacks: {missing}"
    for output in re.findall(r"terraform output -raw ([a-z0-9_]+)", text):
        assert output in named, f"{output} is used in the runbook but not listed under 'Terraform outputs used here'"
