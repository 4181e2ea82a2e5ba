"""Every command reads the files it is given as synth does (modules/input_files.py): regular files only,
within a size cap, never a hang on a FIFO or a device; a bad file is exit 2 with one line naming it and what
is wrong, no traceback, and the files around it left as they were."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import ROOT, run_main, run_main_in_process
from modules.cost import prices as price_table
from modules.input_files import PLAN_JSON_MAX_BYTES, SMALL_JSON_MAX_BYTES

PLAN = ROOT / "tests/fixtures/plans/plan-changes.json"
PRICES = price_table.PRICES_FILE
MANIFEST_STACK = {"workingDirectory": "stacks/s", "synthesizedStackPath": "stacks/s/cdk.tf.json"}


def _write(name: str, content: str | bytes):
    def make(tmp: Path) -> str:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)
    return make


def _fifo(name: str):
    def make(tmp: Path) -> str:
        os.mkfifo(tmp / name)
        return str(tmp / name)
    return make


def _sparse(name: str, size: int):
    """A file over a cap that costs no disk: a hole of `size` bytes."""
    def make(tmp: Path) -> str:
        with open(tmp / name, "wb") as file:
            file.truncate(size)
        return str(tmp / name)
    return make


def _directory(name: str):
    def make(tmp: Path) -> str:
        (tmp / name).mkdir()
        return str(tmp / name)
    return make


def _prices_without(region_key: str):
    data = json.loads(PRICES.read_text())
    for region in data["regions"].values():
        region.pop(region_key)
    return _write("prices.json", json.dumps(data))


def _prices_with(path: list, value):
    data = json.loads(PRICES.read_text())
    node = data
    for key in path[:-1]:
        node = node[key] if key != "*" else next(iter(node.values()))
    node[path[-1]] = value
    return _write("prices.json", json.dumps(data))


def _synth_dir(manifest, stack_json: str | None = "{}"):
    def make(tmp: Path) -> str:
        out = tmp / "out"
        (out / "stacks/s").mkdir(parents=True)
        (out / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
        if stack_json is not None:
            (out / "stacks/s/cdk.tf.json").write_text(stack_json)
        return str(out)
    return make


def _a_manifest(**stack):
    return {"version": "0.21.0", "stacks": {"s": {**MANIFEST_STACK, **stack}}}


# (id, command line builder -> argv, words the one error line must hold)
CASES = [
    # plan-summary: the plan and the run.json
    ("plan-missing", lambda t: ["plan-summary", "--stack", "s", str(t / "nope.json")], ["nope.json: no such file"]),
    ("plan-directory", lambda t: ["plan-summary", "--stack", "s", _directory("plans")(t)], ["plans: is a directory"]),
    ("plan-not-json", lambda t: ["plan-summary", "--stack", "s", _write("p.json", "plan: yes")(t)], ["p.json: not JSON (line 1"]),
    ("plan-not-utf8", lambda t: ["plan-summary", "--stack", "s", _write("p.json", b'{"a": "\xff"}')(t)],
     ["p.json: not UTF-8 text: byte 0xff"]),
    ("plan-over-the-cap", lambda t: ["plan-summary", "--stack", "s", _sparse("p.json", PLAN_JSON_MAX_BYTES + 1)(t)],
     ["p.json: is larger than 256 MiB"]),
    ("plan-a-state", lambda t: ["plan-summary", "--stack", "s", _write("p.json", '{"format_version": "1.0", "values": {}}')(t)],
     ["a state, not a plan"]),
    ("plan-entry-not-an-object",
     lambda t: ["plan-summary", "--stack", "s", _write("p.json", '{"format_version": "1.2", "resource_changes": [1]}')(t)],
     ["resource_changes[0]: an object with an 'address' expected"]),
    ("plan-actions-not-a-list", lambda t: ["plan-summary", "--stack", "s", _write("p.json", json.dumps(
        {"format_version": "1.2", "resource_changes": [{"address": "a", "change": {"actions": "create"}}]}))(t)],
     ["resource_changes[0].change.actions: a list of action names expected"]),
    ("redacted-plan-outputs-a-list", lambda t: ["plan-summary", "--stack", "s", _write("p.json", json.dumps(
        {"plan_format_version": "1.2", "output_changes": [1]}))(t)],
     ["output_changes: an object of name -> change expected"]),
    ("run-json-directory", lambda t: ["plan-summary", "--stack", "s", "--run-json", _directory("run")(t)],
     ["run: is a directory", "run.json"]),
    ("run-json-over-the-cap",
     lambda t: ["plan-summary", "--stack", "s", "--run-json", _sparse("run.json", SMALL_JSON_MAX_BYTES + 1)(t)],
     ["run.json: is larger than 4 MiB"]),
    # cost --prices
    ("prices-not-json", lambda t: ["cost", "--prices", _write("prices.json", "{")(t)],
     ["--prices ", "prices.json: not JSON (line 1, column 2"]),
    ("prices-a-list", lambda t: ["cost", "--prices", _write("prices.json", "[]")(t)],
     ["--prices ", "prices.json: a JSON object with currency, retrieved, source and regions expected, not list"]),
    ("prices-region-missing-a-key", lambda t: ["cost", "--prices", _prices_without("alb_hour")(t)],
     ["--prices ", "prices.json: regions.", "missing 'alb_hour'"]),
    ("prices-regions-a-list", lambda t: ["cost", "--prices", _prices_with(["regions"], [1, 2])(t)],
     ["regions: an object of Region -> prices expected"]),
    ("prices-table-not-an-object",
     lambda t: ["cost", "--prices", _prices_with(["regions", "*", "ec2_instance_hour"], 3)(t)],
     ["ec2_instance_hour: an object of type -> USD per hour expected"]),
    ("prices-a-price-is-text", lambda t: ["cost", "--prices", _prices_with(["regions", "*", "alb_hour"], "0.02")(t)],
     ["alb_hour: '0.02' is not a price"]),
    ("prices-a-directory", lambda t: ["cost", "--prices", _directory("prices")(t)], ["prices: is a directory"]),
    # cost --synth: the manifest and the stack
    ("synth-manifest-not-json", lambda t: ["cost", "--synth", _synth_dir("{oops")(t)],
     ["manifest.json: not the manifest.json cdktf writes (not JSON: line 1"]),
    ("synth-manifest-a-list", lambda t: ["cost", "--synth", _synth_dir([1])(t)], ["(no 'stacks' object)"]),
    ("synth-manifest-stack-not-an-object", lambda t: ["cost", "--synth", _synth_dir({"stacks": {"s": 1}})(t)],
     ["stacks.s.synthesizedStackPath: a path inside the directory expected"]),
    ("synth-manifest-path-escapes",
     lambda t: ["cost", "--synth", _synth_dir(_a_manifest(synthesizedStackPath="../../etc/passwd"))(t)],
     ["stacks.s.synthesizedStackPath: a path inside the directory expected"]),
    ("synth-stack-not-json", lambda t: ["cost", "--synth", _synth_dir(_a_manifest(), "{")(t)],
     ["cdk.tf.json: not Terraform JSON (line 1"]),
    ("synth-stack-resource-a-list", lambda t: ["cost", "--synth", _synth_dir(_a_manifest(), '{"resource": []}')(t)],
     ["cdk.tf.json: not Terraform JSON (`resource`: type -> name -> arguments objects expected)"]),
    ("synth-stack-missing", lambda t: ["cost", "--synth", _synth_dir(_a_manifest(), None)(t)],
     ["manifest.json names stacks/s/cdk.tf.json, which is not there"]),
    # an env file name that is no name
    ("describe-env-empty", lambda t: ["describe", "--env", ""], ["--env is empty"]),
    ("diagram-env-blank", lambda t: ["diagram", "--env", " "], ["--env is empty"]),
    ("preflight-env-empty", lambda t: ["preflight", "--env", ""], ["--env is empty"]),
    ("env-file-over-the-cap", lambda t: ["describe", "--env-file", _sparse("big.yaml", 2 * 1024 * 1024)(t)],
     ["big.yaml: is 2 MiB, larger than an env file can be (1 MiB at most)"]),
]


def _tree(base: Path) -> dict:
    return {str(p.relative_to(base)): (p.read_bytes() if p.is_file() else p.is_dir())
            for p in sorted(base.rglob("*")) if not p.is_fifo() and p.stat().st_size < 1024 * 1024}


@pytest.mark.parametrize("case,argv,fragments", CASES, ids=[c[0] for c in CASES])
def test_a_bad_input_file_is_one_line_and_exit_2(case, argv, fragments, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # run_main_in_process works from ROOT; paths are absolute
    args = argv(tmp_path)
    before = _tree(tmp_path)
    proc = run_main_in_process(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, f"{fragment!r} missing from {proc.stderr!r}"
    assert _tree(tmp_path) == before


# Inputs that used to hang (a FIFO nobody writes to) or eat memory (/dev/zero): a real process with a timeout,
# so a regression fails the test instead of stopping the suite.
HANGS = [
    ("plan-a-fifo", lambda t: ["plan-summary", "--stack", "s", _fifo("plan.json")(t)], "plan.json: is a FIFO, not a regular file"),
    ("plan-dev-zero", lambda t: ["plan-summary", "--stack", "s", "/dev/zero"], "/dev/zero: is a device, not a regular file"),
    ("run-json-a-fifo", lambda t: ["plan-summary", "--stack", "s", "--run-json", _fifo("run.json")(t)],
     "run.json: is a FIFO"),
    ("prices-a-fifo", lambda t: ["cost", "--prices", _fifo("prices.json")(t)], "prices.json: is a FIFO"),
    ("synth-manifest-a-fifo", lambda t: ["cost", "--synth", str(t / "out")], "manifest.json: is a FIFO"),
    ("preflight-env-file-a-fifo", lambda t: ["preflight", "--env-file", _fifo("env.yaml")(t)],
     "env.yaml: is not a regular file"),
]


@pytest.mark.parametrize("case,argv,fragment", HANGS, ids=[c[0] for c in HANGS])
def test_a_fifo_or_device_never_hangs(case, argv, fragment, tmp_path):
    if case == "synth-manifest-a-fifo":
        (tmp_path / "out").mkdir()
        os.mkfifo(tmp_path / "out/manifest.json")
    proc = run_main(*argv(tmp_path), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_merge_keys_load_as_the_safe_loader_merges_them(tmp_path):
    """`<<: *anchor` is plain YAML 1.1 that PyYAML's safe loader merges: it loads like the expanded file."""
    from modules.config import load  # noqa: PLC0415

    text = (ROOT / "envs/stage.yaml").read_text()
    anchored = text.replace("    environment:\n      QUALITY_SAMPLES_GLOB", "    environment: &cron-env\n      QUALITY_SAMPLES_GLOB")
    merged = anchored.replace('    environment:\n      CRON_CYCLES: "1"', '    environment:\n      <<: *cron-env\n      CRON_CYCLES: "1"')
    assert text != anchored != merged
    (tmp_path / "merged.yaml").write_text(merged)
    cfg = load(tmp_path / "merged.yaml")
    environment = cfg.services["rag-refresh-cron"].environment
    assert environment["QUALITY_SAMPLES_GLOB"] == "/opt/quality/samples/*.json"  # merged from the anchor
    assert environment["CRON_CYCLES"] == "1" and environment["TZ"] == "America/Sao_Paulo"  # its own keys stay


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, prefix + (index,))


@pytest.mark.parametrize("fixture", [PLAN, ROOT / "tests/fixtures/tfc/plans-redacted/plan-json-basic.json"],
                         ids=["show-json", "tfc-redacted"])
def test_a_mangled_plan_is_rendered_or_refused_never_a_crash(fixture, tmp_path):
    """Every node of a real plan (both shapes) replaced in turn by a value of another type: plan-summary
    renders it (exit 0) or names what is wrong (exit 2), never an internal error (exit 1)."""
    import copy  # noqa: PLC0415
    import random  # noqa: PLC0415

    plan = json.loads(fixture.read_text())
    paths = [p for p in _paths(plan) if p]
    rng = random.Random(4)  # fixed: the same 120 mutations every run
    crashes = []
    for path in rng.sample(paths, min(120, len(paths))):
        mangled = copy.deepcopy(plan)
        node = mangled
        for key in path[:-1]:
            node = node[key]
        replacement = rng.choice([None, 7, "text", [], {}, [1], {"k": 1}])
        node[path[-1]] = replacement
        (tmp_path / "p.json").write_text(json.dumps(mangled))
        proc = run_main_in_process("plan-summary", "--stack", "s", str(tmp_path / "p.json"), env={"ARAQUEM_DEBUG": "1"})
        if proc.returncode not in (0, 2) or "Traceback" in proc.stderr:
            crashes.append(f"{'.'.join(map(str, path))} = {replacement!r}: {proc.stderr.strip()[-700:]}")
    assert not crashes, "\n".join(crashes)
