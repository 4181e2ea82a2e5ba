"""Two independent scanners over the synthesized stacks (stage and dev-eu): zero unjustified findings.

checkov over the synthesized cdk.tf.json: zero failed checks, every skip justified in .checkov.yaml.
trivy (tests/trivy_scan.py) over the same stacks rewritten in native syntax (tests/tf_json_to_hcl.py:
trivy does not read nested blocks of .tf.json), and over a plan JSON in tests/test_emulator.py:
zero findings beyond .trivyignore.yaml, every ignore with its reason.

checkov's terraform_json runner ignores in-file skip comments, so every skip lives in the one config
file at the repo root, each with a `# why` comment. checkov runs from its own venv (.tools/checkov-venv,
installed by scripts/bootstrap.sh): its pins conflict with the project's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import tf_json_to_hcl
import trivy_scan
from conftest import PROVIDER_ADDR, ROOT, STAGE_FILE, run

CHECKOV = ROOT / ".tools" / "checkov-venv" / "bin" / "checkov"
CONFIG = ROOT / ".checkov.yaml"
DEV_EU = ROOT / "envs" / "dev-eu.yaml"
# Keep checkov offline: no guideline download (BC_SKIP_MAPPING), no policy download (skip-download in CONFIG).
CHECKOV_ENV = {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
SCAN_TIMEOUT = 300
CHECK_ID = re.compile(r"^CKV2?_AWS_\d+$")


def scannable_copy(stack_json: dict, workdir: Path) -> Path:
    """cdk.tf.json as checkov 3.3.30 can parse it.

    Its terraform_json parser raises on any non-object entry of the `terraform` block
    (`required_version = ">= 1.11.0"`) and then scans nothing; those entries carry no resource
    configuration, so dropping them changes no check's input.
    """
    doc = dict(stack_json)
    doc["terraform"] = {k: v for k, v in stack_json.get("terraform", {}).items() if isinstance(v, dict)}
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "cdk.tf.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
    return path


def checkov(paths: list[Path], workdir: Path) -> dict[Path, dict]:
    """One checkov run over several files (its start costs seconds), its report split per file.

    Each file's report has the shape of a one-file run: its passed, failed and skipped checks, its parsing
    errors, and a summary counted from those. Files in their own directories are scanned as separate modules:
    the per-file records equal those of one run per file (compared for stage and dev-eu). The run uses
    CONFIG without `quiet` (quiet reports no passed checks, so a file's count of them is unknown), from a
    directory of its own: checkov also reads a .checkov.yaml in its working directory."""
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV} missing: `bash scripts/bootstrap.sh test` installs checkov")
    config = {k: v for k, v in yaml.safe_load(CONFIG.read_text()).items() if k != "quiet"}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "checkov.yaml").write_text(yaml.safe_dump(config))
    proc = run([str(CHECKOV), "--config-file", "checkov.yaml", *[a for p in paths for a in ("-f", str(p))],
                "-o", "json"], cwd=workdir, env=CHECKOV_ENV, timeout=SCAN_TIMEOUT, check=False)
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    assert len(reports) == 1 and reports[0]["check_type"] == "terraform_json", proc.stdout[:2000]
    results = reports[0]["results"]
    per_file = {}
    for path in paths:
        mine = {kind: [r for r in results[kind] if (workdir / r["file_abs_path"]).resolve() == path.resolve()]
                for kind in ("passed_checks", "failed_checks", "skipped_checks")}
        mine["parsing_errors"] = [e for e in results["parsing_errors"] if (workdir / e).resolve() == path.resolve()]
        summary = {"passed": len(mine["passed_checks"]), "failed": len(mine["failed_checks"]),
                   "skipped": len(mine["skipped_checks"]), "parsing_errors": len(mine["parsing_errors"])}
        per_file[path] = {"check_type": "terraform_json", "results": mine, "summary": summary}
    attributed = sum(len(r["results"][kind]) for r in per_file.values() for kind in results)
    assert attributed == sum(map(len, results.values())), "a checkov record names none of the scanned files"
    return per_file


def describe_failures(report: dict) -> str:
    return "\n".join(
        f"{f['check_id']} {f['resource']}: {f['check_name']}"
        for f in sorted(report["results"]["failed_checks"], key=lambda f: (f["check_id"], f["resource"]))
    )


def assert_clean(report: dict) -> None:
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, "checkov could not parse the stack (it then scans nothing)"
    assert summary["passed"] > 0, "checkov ran no check at all"
    assert summary["failed"] == 0, (
        f"{summary['failed']} failed checkov check(s); fix the module, or skip in .checkov.yaml with a reason:\n"
        + describe_failures(report)
    )


# An SSH port open to the internet: a finding the config does not skip.
OPEN_SSH = {
    "terraform": {"required_version": ">= 1.11.0"},
    "resource": {"aws_security_group": {"open": {
        "name": "open", "vpc_id": "vpc-1",
        "ingress": [{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"],
                     "description": "ssh", "ipv6_cidr_blocks": [], "prefix_list_ids": [],
                     "security_groups": [], "self": False}],
    }}},
}
CHECKOV_SCANS = {  # test -> the document it scans; every selected one is scanned in one checkov run
    "test_stage_has_no_failed_checks": lambda synths: synths.of_file(STAGE_FILE).json,
    "test_dev_eu_has_no_failed_checks": lambda synths: synths.of_file(DEV_EU).json,
    "test_scan_catches_a_real_finding": lambda synths: OPEN_SSH,
}


@pytest.fixture(scope="module")
def checkov_reports(request, synths, tmp_path_factory) -> dict[str, dict]:
    """test name -> checkov's report on its document, from one checkov run for the module's selected tests."""
    selected = {getattr(item, "originalname", item.name) for item in request.session.items
                if getattr(item, "module", None) is request.module}
    workdir = tmp_path_factory.mktemp("checkov")
    paths = {name: scannable_copy(make(synths), workdir / name)
             for name, make in CHECKOV_SCANS.items() if name in selected}
    reports = checkov(list(paths.values()), workdir)
    return {name: reports[path] for name, path in paths.items()}


def test_stage_has_no_failed_checks(checkov_reports):
    assert_clean(checkov_reports["test_stage_has_no_failed_checks"])


def test_dev_eu_has_no_failed_checks(checkov_reports):
    assert_clean(checkov_reports["test_dev_eu_has_no_failed_checks"])


def test_every_skip_is_justified():
    config = yaml.safe_load(CONFIG.read_text())
    skips = config.get("skip-check", [])
    assert config.get("framework") == ["terraform_json"]
    lines = {m.group(1): m.group(2) for m in re.finditer(r"^\s*-\s*(\S+)\s*(?:#\s*(.*))?$", CONFIG.read_text(), re.M)
             if m.group(1) in skips}
    for check in skips:
        assert CHECK_ID.match(check), f"{check}: skip a single check id, not a pattern or a framework"
        reason = (lines.get(check) or "").strip()
        assert len(reason.split()) >= 4, f".checkov.yaml: skip {check} needs a '# why' comment on its line"
    assert len(set(skips)) == len(skips), "a check is skipped twice"


def test_scan_catches_a_real_finding(checkov_reports):
    """The config skips only what it lists: an SSH port open to the internet still fails."""
    report = checkov_reports["test_scan_catches_a_real_finding"]
    assert "CKV_AWS_24" in {f["check_id"] for f in report["results"]["failed_checks"]}, describe_failures(report)


# --- trivy ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def provider_schema(stage, terraform_env, tmp_path_factory) -> dict:
    """The real provider's schema (`terraform providers schema -json`): which JSON keys are blocks."""
    workdir = tmp_path_factory.mktemp("schema")
    required = {"terraform": {"required_providers": stage.json["terraform"]["required_providers"]}}
    (workdir / "main.tf.json").write_text(json.dumps(required))
    run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], cwd=workdir, env=terraform_env)
    proc = run(["terraform", "providers", "schema", "-json"], cwd=workdir, env=terraform_env)
    return json.loads(proc.stdout)["provider_schemas"][PROVIDER_ADDR]


def trivy_on_stack(stack_json: dict, provider_schema: dict, workdir: Path) -> list[dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "main.tf").write_text(tf_json_to_hcl.convert(stack_json, provider_schema))
    return trivy_scan.trivy(workdir, workdir.parent / "trivy-cache")


def test_trivy_stage_has_no_unjustified_findings(stage, provider_schema, tmp_path):
    findings = trivy_on_stack(stage.json, provider_schema, tmp_path / "stage")
    assert findings == [], f"{len(findings)} trivy finding(s); fix the module, or ignore in .trivyignore.yaml " \
                           f"with a statement:\n{trivy_scan.describe(findings)}"


def test_trivy_dev_eu_has_no_unjustified_findings(synths, provider_schema, tmp_path):
    findings = trivy_on_stack(synths.of_file(DEV_EU).json, provider_schema, tmp_path / "dev-eu")
    assert findings == [], trivy_scan.describe(findings)


def test_trivy_reads_nested_blocks_and_catches_a_real_finding(provider_schema, tmp_path):
    """The conversion keeps blocks (trivy sees scan_on_push, so no AWS-0030) and the ignores hide only what
    they list: a repository with mutable tags still fails AWS-0031."""
    bad = {"resource": {"aws_ecr_repository": {"repo": {
        "//": {"metadata": {"path": "x"}}, "name": "repo", "image_tag_mutability": "MUTABLE",
        "image_scanning_configuration": {"scan_on_push": True},
        "encryption_configuration": [{"encryption_type": "AES256"}]}}}}
    found = {f["ID"] for f in trivy_on_stack(bad, provider_schema, tmp_path / "bad")}
    assert "AWS-0031" in found and "AWS-0030" not in found, found


def test_every_trivy_ignore_is_justified():
    entries = yaml.safe_load(trivy_scan.IGNORE_FILE.read_text())
    assert set(entries) == {"misconfigurations"}, "only misconfiguration ignores belong here"
    ids = [e["id"] for e in entries["misconfigurations"]]
    assert len(set(ids)) == len(ids), "a check is ignored twice"
    for entry in entries["misconfigurations"]:
        assert re.fullmatch(r"AWS-\d{4}", entry["id"]), f"{entry['id']}: ignore a single check id"
        assert set(entry) == {"id", "statement"}, f"{entry['id']}: no paths or expiry: an ignore is a decision"
        assert len(entry["statement"].split()) >= 8, f"{entry['id']}: the statement must say why"
