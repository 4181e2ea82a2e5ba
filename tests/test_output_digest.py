"""The synthesized JSON only changes on purpose, and a change names the resources it touched.

tests/golden/synth-digests.json holds, for stage and dev-eu (synthesized with the fixed test image tag), a
digest of every resource, data source, output and provider block (scripts/regen.py block_digests). A refactor
leaves them unchanged; a change meant to alter the output is regenerated with `make regen` and committed
with its reason. A failure lists what was added, removed or changed, address by address.
"""

from __future__ import annotations

import json

from conftest import ROOT, STAGE_FILE, regen

ENV_FILES = {"stage": STAGE_FILE, "dev-eu": ROOT / "envs" / "dev-eu.yaml"}
SHOWN = 25  # changed addresses listed in a failure; the count says how many more


def test_digests_cover_the_envs_regen_writes():
    assert tuple(sorted(ENV_FILES)) == tuple(sorted(regen.DIGEST_ENVS))


def test_synthesized_json_matches_the_committed_digests(synths):
    expected = json.loads(regen.DIGESTS_FILE.read_text())
    report = []
    for name, path in sorted(ENV_FILES.items()):
        actual = regen.block_digests(json.loads(synths.of_file(path).path.read_text()))
        changes = regen.digest_changes(expected.get(name, {}), actual)
        if changes:
            more = f" (+{len(changes) - SHOWN} more)" if len(changes) > SHOWN else ""
            report.append(f"{name}: " + "; ".join(changes[:SHOWN]) + more)
    assert not report, ("synthesized JSON changed:\n" + "\n".join(report) + f"\nif on purpose, run "
                        f"`{regen.REGEN_COMMAND}`, review the diff of {regen.DIGESTS_FILE.relative_to(ROOT)} and say "
                        "why in the commit")


def test_a_changed_resource_is_named():
    doc = {"resource": {"aws_vpc": {"main": {"cidr_block": "10.0.0.0/16"}}, "aws_subnet": {"a": {"x": 1}}},
           "output": {"vpc_id": {"value": "x"}}, "terraform": {"backend": {}}}
    before = regen.block_digests(doc)
    doc["resource"]["aws_vpc"]["main"]["cidr_block"] = "10.1.0.0/16"
    del doc["resource"]["aws_subnet"]["a"]
    doc["output"]["subnet_id"] = {"value": "y"}
    assert regen.digest_changes(before, regen.block_digests(doc)) == [
        "added output.subnet_id", "removed resource.aws_subnet.a", "changed resource.aws_vpc.main"]
