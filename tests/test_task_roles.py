"""modules/task_roles.py: execution and task roles grant only what the task uses, to this account only."""

from __future__ import annotations

import json

from conftest import variant
from test_workload import policy_statements, scheduled_without_volumes, task_definitions


def test_execution_roles_read_exactly_the_referenced_secrets(stage):
    for owner, td in task_definitions(stage).items():
        referenced = set()
        for d in json.loads(td["container_definitions"]):
            for s in d.get("secrets", []):
                referenced.add(s["valueFrom"].split("}")[0] + "}")  # the resource, without a :KEY:: suffix
        statements = {s["sid"]: s for s in policy_statements(stage, owner, "execution_policy_document")}
        granted = set()
        for sid in ("ReadOwnSecrets", "ReadOwnParameters"):
            if sid in statements:
                resources = statements[sid]["resources"]
                assert not any("*" in r for r in resources), f"{owner}: wildcard in {sid}"
                granted.update(resources)
        assert granted == referenced, owner
        for s in statements.values():
            if s["resources"] == ["*"]:
                assert s["actions"] == ["ecr:GetAuthorizationToken"]  # the one action without resource ARNs
        logs = statements["WriteOwnLogGroups"]["resources"]
        assert len(logs) == len(json.loads(td["container_definitions"]))
        assert all(f"workload_{owner}_log_group_" in r and r.endswith(":*") for r in logs)


def test_task_roles_are_assumed_by_this_account_only(stage):
    for owner in task_definitions(stage):
        trust = policy_statements(stage, owner, "task_trust")
        assert trust[0]["principals"] == [{"identifiers": ["ecs-tasks.amazonaws.com"], "type": "Service"}]
        assert trust[0]["condition"][0]["variable"] == "aws:SourceAccount"


def test_kms_decrypt_only_with_a_customer_managed_key(stage, synths):
    for owner in task_definitions(stage):  # stage: AWS-managed keys, nothing to grant
        assert "DecryptViaSecretStores" not in {s["sid"] for s in policy_statements(
            stage, owner, "execution_policy_document")}
    other = synths.of_data(variant(scheduled_without_volumes))
    statements = {s["sid"]: s for s in policy_statements(other, "api", "execution_policy_document")}
    decrypt = statements["DecryptViaSecretStores"]
    assert decrypt["actions"] == ["kms:Decrypt"] and all("aws_kms_key." in r for r in decrypt["resources"])
    assert decrypt["condition"][0]["variable"] == "kms:ViaService"
    assert sorted(decrypt["condition"][0]["values"]) == ["secretsmanager.us-east-1.amazonaws.com",
                                                         "ssm.us-east-1.amazonaws.com"]
