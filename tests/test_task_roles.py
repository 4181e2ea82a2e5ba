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


def test_task_and_execution_roles_are_assumed_by_this_account_only(stage):
    for owner in task_definitions(stage):
        for trust_id in ("task_trust", "execution_trust"):
            trust = policy_statements(stage, owner, trust_id)
            assert trust[0]["principals"] == [{"identifiers": ["ecs-tasks.amazonaws.com"], "type": "Service"}]
            assert trust[0]["condition"][0]["variable"] == "aws:SourceAccount", (owner, trust_id)


# Service principals that do not set aws:SourceAccount when they assume a role: EC2 hands the instance
# profile's credentials to the instance itself (no calling resource; IAM user guide, aws:SourceAccount).
NO_SOURCE_ACCOUNT_PRINCIPALS = ("ec2.",)  # ec2.amazonaws.com, written with the partition's DNS suffix


def test_every_service_trust_policy_carries_aws_source_account(stage):
    """Over every trust policy of the stack, not only the workload's: each aws_iam_role's assume-role
    document, if its service principal sets aws:SourceAccount, is conditioned on this account."""
    documents = stage.data("aws_iam_policy_document")
    checked = 0
    for lid, role in stage.resources("aws_iam_role").items():
        doc_id = role["assume_role_policy"].split(".")[2]
        for stmt in documents[doc_id]["statement"]:
            principals = {i for p in stmt.get("principals", []) if p["type"] == "Service" for i in p["identifiers"]}
            if principals and not all(p.startswith(NO_SOURCE_ACCOUNT_PRINCIPALS) for p in principals):
                variables = {c["variable"] for c in stmt.get("condition", [])}
                assert "aws:SourceAccount" in variables, (lid, principals)
                checked += 1
    assert checked >= 2 * len(task_definitions(stage)), "task and execution roles were not all checked"


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
