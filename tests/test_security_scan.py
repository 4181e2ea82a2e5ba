"""Two independent scanners over every stack the session synthesized: nothing unexplained, and never blind.

checkov (over cdk.tf.json) and trivy (tests/trivy_scan.py, over the same stacks rewritten in native syntax by
tests/tf_json_to_hcl.py: trivy does not read nested blocks of .tf.json) run with NO project configuration: no
skipped check, no ignore file. Each finding is fixed in the generator or explained, for the resources it
concerns, by scan-exceptions.yaml (tests/scan_exceptions.py; the table in docs/proof.md).

Every env file the suite synthesizes is scanned (stage, dev-eu, and each test's own env files: conftest runs
these tests after the others, SCANS_SESSION_SYNTHS), in ONE checkov run and ONE trivy run (each start costs
seconds). A scanner that goes blind fails: a parse error, fewer checks than measured on stage, or a planted
finding it does not report.

checkov runs from its own venv (.tools/checkov-venv, installed by scripts/bootstrap.sh): its pins conflict
with the project's.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

import scan_exceptions
import tf_json_to_hcl
import trivy_scan
from conftest import PROVIDER_ADDR, ROOT, STAGE_FILE, Synth, run
from scan_exceptions import Finding

SCANS_SESSION_SYNTHS = True  # conftest: after every other test (they synthesize), before the background waits

CHECKOV = ROOT / ".tools" / "checkov-venv" / "bin" / "checkov"
DEV_EU = ROOT / "envs" / "dev-eu.yaml"
PROOF = ROOT / "docs" / "proof.md"
# Keep checkov offline: no guideline download (BC_SKIP_MAPPING), no policy download (--skip-download).
CHECKOV_ENV = {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
SCAN_TIMEOUT = 600
# Checks that ran on stage (passed or failed), measured with checkov 3.3.30 and trivy 0.76 (2026-12-04):
# checkov 112 distinct checks; trivy 98 passed checks plus those with findings. The floors sit a little below,
# so a scanner upgrade that drops a check or two does not fail, and a blind run does: trivy reading the stack
# with a parse error passed 51 checks and found nothing; checkov stopped by the `terraform` block's
# required_version scans nothing.
MIN_CHECKOV_CHECKS_ON_STAGE = 100
MIN_TRIVY_CHECKS_ON_STAGE = 95

# Planted: findings the scanners must report and no exception may explain. SSH open to the internet on the
# rule type the stack uses (checkov CKV_AWS_24; trivy 0.76 checks public ingress only on aws_security_group
# and aws_security_group_rule, AWS-0107, so tests/test_security_groups.py asserts the stack's ingress itself);
# a repository with mutable tags whose scan-on-push is a nested block (trivy AWS-0031 but not AWS-0030: the
# conversion kept the block), named with quotes inside an interpolation (invalid HCL if escaped: the parse
# must stay clean).
PLANTED = {
    "terraform": {"required_version": ">= 1.11.0"},
    "resource": {
        "aws_vpc_security_group_ingress_rule": {"planted_open_ssh": {
            "security_group_id": "sg-1", "ip_protocol": "tcp", "from_port": 22, "to_port": 22,
            "cidr_ipv4": "0.0.0.0/0", "description": "planted"}},
        "aws_security_group_rule": {"planted_open_ssh_rule": {
            "type": "ingress", "security_group_id": "sg-1", "protocol": "tcp", "from_port": 22, "to_port": 22,
            "cidr_blocks": ["0.0.0.0/0"], "description": "planted"}},
        "aws_ecr_repository": {"planted_mutable": {
            "name": "planted-${lower(\"REPO\")}", "image_tag_mutability": "MUTABLE",
            "image_scanning_configuration": {"scan_on_push": True},
            "encryption_configuration": [{"encryption_type": "AES256"}]}},
    },
}
PLANTED_CHECKOV = {("CKV_AWS_24", "aws_vpc_security_group_ingress_rule.planted_open_ssh")}
PLANTED_TRIVY = {("AWS-0107", "aws_security_group_rule.planted_open_ssh_rule"),
                 ("AWS-0031", "aws_ecr_repository.planted_mutable")}


class StackScan(NamedTuple):
    checks_run: int
    findings: list[Finding]
    parsing_errors: int = 0


class Scans(NamedTuple):
    checkov: dict[str, StackScan]  # label -> scan
    trivy: dict[str, StackScan]
    labels: dict[str, Path]  # label -> the stack's cdk.tf.json (or "planted")


def scannable(stack_json: dict) -> dict:
    """cdk.tf.json as checkov 3.3.30 can parse it.

    Its terraform_json parser raises on any non-object entry of the `terraform` block
    (`required_version = ">= 1.11.0"`) and then scans nothing; those entries carry no resource
    configuration, so dropping them changes no check's input."""
    doc = dict(stack_json)
    doc["terraform"] = {k: v for k, v in stack_json.get("terraform", {}).items() if isinstance(v, dict)}
    return doc


def resource_types(stack_json: dict) -> dict[str, str]:
    """logical id -> resource type (checkov names some resources `resource.<id>`, without their type; cdktf's
    logical ids are unique in a stack, across types)."""
    return {name: rtype for rtype, instances in stack_json.get("resource", {}).items() for name in instances}


def checkov(docs: dict[str, dict], workdir: Path) -> dict[str, StackScan]:
    """One checkov run, no project config, over every document (each in a directory of its own: scanned as a
    separate module, the records equal those of one run per file), its report split per document."""
    if not CHECKOV.is_file():
        pytest.fail(f"{CHECKOV} missing: `bash scripts/bootstrap.sh test` installs checkov")
    paths = {}
    for label, doc in docs.items():
        (workdir / label).mkdir(parents=True)
        paths[label] = workdir / label / "cdk.tf.json"
        paths[label].write_text(json.dumps(scannable(doc), indent=2, sort_keys=True))
    # from a directory of its own: checkov reads a .checkov.yaml in its working directory
    proc = run([str(CHECKOV), "--framework", "terraform_json", "--skip-download", "-o", "json",
                *[a for p in paths.values() for a in ("-f", str(p))]],
               cwd=workdir, env=CHECKOV_ENV, timeout=SCAN_TIMEOUT, check=False)
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    assert len(reports) == 1 and reports[0]["check_type"] == "terraform_json", proc.stdout[:2000]
    results = reports[0]["results"]
    by_path = {p.resolve(): label for label, p in paths.items()}
    checks: dict[str, set] = {label: set() for label in docs}
    findings: dict[str, list[Finding]] = {label: [] for label in docs}
    errors = {label: 0 for label in docs}
    for kind in ("passed_checks", "failed_checks"):
        for record in results[kind]:
            label = by_path[(workdir / record["file_abs_path"]).resolve()]
            checks[label].add(record["check_id"])
            if kind == "failed_checks":
                resource = record["resource"]
                if resource.startswith("resource."):
                    name = resource.removeprefix("resource.")
                    resource = f"{resource_types(docs[label]).get(name, 'resource')}.{name}"
                findings[label].append(Finding("checkov", record["check_id"], resource, record["check_name"]))
    assert not results["skipped_checks"], "checkov skipped checks though no config asks it to"
    for error in results["parsing_errors"]:
        errors[by_path[(workdir / error).resolve()]] += 1
    return {label: StackScan(len(checks[label]), findings[label], errors[label]) for label in docs}


def trivy(docs: dict[str, dict], provider_schema: dict, workdir: Path) -> dict[str, StackScan]:
    """One trivy run over every document, each converted to native syntax in a module directory of its own."""
    modules = workdir / "modules"
    for label, doc in docs.items():
        (modules / label).mkdir(parents=True)
        (modules / label / "main.tf").write_text(tf_json_to_hcl.convert(doc, provider_schema))
    reports = trivy_scan.scan(modules, workdir / "cache")
    missing = set(docs) - set(reports)
    assert not missing, f"trivy reported nothing on {sorted(missing)}"
    return {label: StackScan(reports[label].checks_run, reports[label].findings) for label in docs}


@pytest.fixture(scope="module")
def provider_schema(stage, terraform_env, tmp_path_factory) -> dict:
    """The real provider's schema (`terraform providers schema -json`): which JSON keys are blocks."""
    workdir = tmp_path_factory.mktemp("schema")
    required = {"terraform": {"required_providers": stage.json["terraform"]["required_providers"]}}
    (workdir / "main.tf.json").write_text(json.dumps(required))
    run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], cwd=workdir, env=terraform_env)
    proc = run(["terraform", "providers", "schema", "-json"], cwd=workdir, env=terraform_env)
    return json.loads(proc.stdout)["provider_schemas"][PROVIDER_ADDR]


def label_of(stack: Synth, index: int) -> str:
    return f"{index:02d}-{stack.dir.name}"


@pytest.fixture(scope="module")
def scans(synths, provider_schema, tmp_path_factory) -> Scans:
    """checkov and trivy over every stack synthesized this session (stage and dev-eu at least) and the planted
    document: one run of each scanner."""
    stage, dev_eu = synths.of_file(STAGE_FILE), synths.of_file(DEV_EU)
    stacks = [stage, dev_eu] + [s for s in synths.all() if s.dir not in (stage.dir, dev_eu.dir)]
    labels = {label_of(s, i): s.path for i, s in enumerate(stacks)}
    docs = {label_of(s, i): s.json for i, s in enumerate(stacks)} | {"planted": PLANTED}
    labels["planted"] = Path("planted")
    workdir = tmp_path_factory.mktemp("scans")
    return Scans(checkov(docs, workdir / "checkov"), trivy(docs, provider_schema, workdir / "trivy"), labels)


def stage_label(scans: Scans) -> str:
    return next(label for label in scans.labels if label.startswith("00-"))


def unexplained_report(scanner: dict[str, StackScan], scans: Scans) -> str:
    lines = []
    for label, scan in scanner.items():
        if label == "planted":
            continue
        left = scan_exceptions.unexplained(scan.findings)
        if left:
            lines.append(f"{scans.labels[label]}:\n{scan_exceptions.describe(left)}")
    return "\n".join(lines)


def test_checkov_finds_nothing_unexplained_in_any_synthesized_stack(scans):
    for label, scan in scans.checkov.items():
        assert scan.parsing_errors == 0, f"checkov could not parse {scans.labels[label]} (it then scans nothing)"
        assert scan.checks_run > 0, f"checkov ran no check on {scans.labels[label]}"
    problems = unexplained_report(scans.checkov, scans)
    assert not problems, ("checkov findings neither fixed nor explained in scan-exceptions.yaml (for the resources "
                          f"they concern):\n{problems}")


def test_trivy_finds_nothing_unexplained_in_any_synthesized_stack(scans):
    for label, scan in scans.trivy.items():
        assert scan.checks_run > 0, f"trivy ran no check on {scans.labels[label]}"
    problems = unexplained_report(scans.trivy, scans)
    assert not problems, ("trivy findings neither fixed nor explained in scan-exceptions.yaml (for the resources "
                          f"they concern):\n{problems}")


def test_scans_cover_more_than_stage(scans):
    """dev-eu (another region, 3 AZs, no GPU) is always among them; a full run adds every test's env files."""
    assert len(scans.labels) >= 3 and all(label in scans.checkov and label in scans.trivy for label in scans.labels)


def test_scanners_run_every_check_they_have_on_stage(scans):
    label = stage_label(scans)
    assert scans.checkov[label].checks_run >= MIN_CHECKOV_CHECKS_ON_STAGE, scans.checkov[label].checks_run
    assert scans.trivy[label].checks_run >= MIN_TRIVY_CHECKS_ON_STAGE, (
        f"trivy ran {scans.trivy[label].checks_run} checks on stage: it read the stack only in part")


def test_checkov_reports_the_planted_finding(scans):
    found = {(f.check_id, f.resource) for f in scans.checkov["planted"].findings}
    assert PLANTED_CHECKOV <= found, found
    assert PLANTED_CHECKOV <= {(f.check_id, f.resource) for f in scan_exceptions.unexplained(
        scans.checkov["planted"].findings)}, "an exception explains the planted finding: it is not scoped"


def test_trivy_reads_nested_blocks_and_reports_the_planted_findings(scans):
    found = {(f.check_id, f.resource) for f in scans.trivy["planted"].findings}
    assert PLANTED_TRIVY <= found, found
    assert ("AWS-0030", "aws_ecr_repository.planted_mutable") not in found, "scan_on_push (a block) was dropped"
    assert PLANTED_TRIVY <= {(f.check_id, f.resource) for f in scan_exceptions.unexplained(
        scans.trivy["planted"].findings)}, "an exception explains a planted finding: it is not scoped"


def test_every_exception_is_scoped_justified_and_used(scans):
    entries = scan_exceptions.load()
    seen = set()
    for entry in entries:
        assert set(entry) - {"plan_json_only", "only_when"} == {"checks", "resources", "why"}, entry
        for check in entry["checks"]:
            assert scan_exceptions.CHECK_ID.match(check), f"{check}: one check id, not a pattern"
            for pattern in entry["resources"]:
                assert (check, pattern) not in seen, f"{check} on {pattern} has two entries: one decision each"
                seen.add((check, pattern))
        for pattern in entry["resources"]:
            assert scan_exceptions.RESOURCE_PATTERN.match(pattern), (
                f"{entry['checks']}: {pattern!r} must name one resource type and a logical id (a `*` for its hash)")
        assert len(entry["why"].split()) >= 12, f"{entry['checks']}: say why it stays"
    # An exception no scanned stack needs is stale: it would silently hide the next real finding it matches.
    # (Entries for trivy on the emulator's plan JSON only are used by tests/test_emulator.py; `only_when` ones by
    # the env files of other tests, not always in the session.)
    findings = [f for scanner in (scans.checkov, scans.trivy) for scan in scanner.values() for f in scan.findings]
    stale = []
    for entry in (e for e in entries if not e.get("plan_json_only") and not e.get("only_when")):
        mine = [f for f in findings if scan_exceptions.explaining(f, [entry])]
        stale += [f"{entry['checks']}: check {c}" for c in entry["checks"] if not any(f.check_id == c for f in mine)]
        stale += [f"{entry['checks']}: resources {p}" for p in entry["resources"]
                  if not any(fnmatch.fnmatchcase(f.resource, p) for f in mine)]
    assert not stale, "exceptions that match no finding of the scanned stacks (remove them):\n" + "\n".join(stale)


def test_proof_md_lists_every_exception():
    text = PROOF.read_text()
    begin, end = "<!-- scan-exceptions:begin -->", "<!-- scan-exceptions:end -->"
    assert begin in text and end in text, f"docs/proof.md needs the table between {begin} and {end}"
    table = text.split(begin, 1)[1].split(end, 1)[0].strip()
    assert table == scan_exceptions.markdown_table(), (
        "docs/proof.md's exception table differs from scan-exceptions.yaml; paste:\n" + scan_exceptions.markdown_table())


# Strings as cdktf writes them in JSON syntax: quotes inside an interpolation (the certificate validation
# records' `o.domain_name == "api..."`), a nested template in a for expression, the literal escapes `$${` and
# `%%{`, a directive, control characters and backslashes.
TEMPLATES = [
    'a "q" ${upper("x\\"y")} $${lit} %%{lit}\n\t\\ end',
    '${one([for o in ["a.example", "b.example"] : o if o == "b.example"])}',
    '${join(",", [for k in ["a", "b"] : "${k}-${upper(k)}"])}',
    "%{ if true }yes%{ endif }",
    '{"json": "${jsonencode({"k" = "v}"})}"}',
]


def test_conversion_keeps_every_string_as_terraform_reads_it(terraform_env, tmp_path):
    """The same locals in JSON syntax and converted to native syntax evaluate equal (`terraform console`)."""
    values = {}
    for syntax, name, text in (("json", "main.tf.json", json.dumps({"locals": {"s": TEMPLATES}})),
                               ("hcl", "main.tf", f"locals {{\n  s = {tf_json_to_hcl.expression(TEMPLATES)}\n}}\n")):
        (tmp_path / syntax).mkdir()
        (tmp_path / syntax / name).write_text(text)
        proc = subprocess.run(["terraform", "console"], cwd=tmp_path / syntax, env={**os.environ, **terraform_env},
                              input="jsonencode(local.s)\n", capture_output=True, text=True, timeout=120, check=True)
        values[syntax] = json.loads(json.loads(proc.stdout))
    assert values["hcl"] == values["json"]
    assert values["json"][1] == "b.example" and values["json"][2] == "a-A,b-B"


def test_the_secrets_in_state_have_no_write_only_path_in_the_pinned_provider(provider_schema):
    """docs/data-and-secrets.md: the Redis AUTH token and the OIDC client secret are in state because hashicorp/aws
    5.100.0 has no write-only argument for them. When a provider bump adds one, this fails: move them to it."""
    resources = provider_schema["resource_schemas"]

    def write_only(rtype: str, block_path: tuple[str, ...] = ()) -> list[str]:
        block = resources[rtype]["block"]
        for name in block_path:
            block = block["block_types"][name]["block"]
        return [n for n, a in block.get("attributes", {}).items() if a.get("write_only") or n.endswith("_wo")]

    assert "secret_string_wo" in write_only("aws_secretsmanager_secret_version")  # the check can see one
    assert write_only("aws_elasticache_replication_group") == []
    assert write_only("aws_lb_listener_rule", ("action", "authenticate_oidc")) == []
    assert "authentication_mode" in resources["aws_elasticache_user"]["block"]["block_types"]  # the IAM path
    assert "Custom**: *Runs: Plan*" in (ROOT / "docs" / "terraform-cloud.md").read_text()
