"""The project's decisions on scanner findings (scan-exceptions.yaml), each scoped to the resources it concerns.

checkov and trivy run with no project configuration: no skipped check, no ignore file, every check on every
resource. A finding is then fixed in the generator, or explained by one entry of scan-exceptions.yaml: the check
ids of both scanners for the same decision, the resources it concerns as patterns on `type.name` (the address
both scanners report; cdktf logical ids end in a hash of the construct path, hence a `*` suffix), and why.
The scanners' own files cannot scope: checkov's terraform_json runner ignores in-file skip comments and its
config's skip-check skips a check for every resource; trivy's ignore file scopes by file path only.
docs/proof.md carries the same list as a table (`markdown_table`, tested equal).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import NamedTuple

import yaml

EXCEPTIONS_FILE = Path(__file__).resolve().parents[1] / "scan-exceptions.yaml"
CHECK_ID = re.compile(r"^(CKV2?_AWS_\d+|AWS-\d{4})$")
# A pattern names one resource type and a logical id, a trailing `*` standing for the construct-path hash
# (or an index/name part before it): never a whole type or every resource.
RESOURCE_PATTERN = re.compile(r"^aws_[a-z0-9_]+\.[A-Za-z0-9_-]+[A-Za-z0-9_*-]*$")


class Finding(NamedTuple):
    scanner: str  # "checkov" | "trivy"
    check_id: str
    resource: str  # type.name
    title: str

    def __str__(self) -> str:
        return f"{self.scanner} {self.check_id} {self.resource}: {self.title}"


def load() -> list[dict]:
    return yaml.safe_load(EXCEPTIONS_FILE.read_text())["exceptions"]


def explaining(finding: Finding, entries: list[dict] | None = None) -> dict | None:
    """The entry that explains `finding`, or None."""
    for entry in entries if entries is not None else load():
        if finding.check_id in entry["checks"] and any(fnmatch.fnmatchcase(finding.resource, pattern)
                                                       for pattern in entry["resources"]):
            return entry
    return None


def unexplained(findings: list[Finding]) -> list[Finding]:
    entries = load()
    return [f for f in findings if explaining(f, entries) is None]


def describe(findings: list[Finding]) -> str:
    return "\n".join(sorted(map(str, findings)))


def markdown_table(entries: list[dict] | None = None) -> str:
    """The list as docs/proof.md shows it."""
    rows = ["| checkov / trivy | resources | why it stays |", "| --- | --- | --- |"]
    for entry in entries if entries is not None else load():
        checks = ", ".join(f"`{c}`" for c in entry["checks"])
        resources = ", ".join(f"`{r}`" for r in entry["resources"])
        why = " ".join(entry["why"].split()).replace("|", "\\|")
        if entry.get("only_when"):
            why = f"(only with `{entry['only_when']}`) {why}"
        rows.append(f"| {checks} | {resources} | {why} |")
    return "\n".join(rows)
