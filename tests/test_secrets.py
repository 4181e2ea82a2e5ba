"""modules/secrets.py: generated values never in cdk.tf.json (nor state), JSON key secrets, KMS, recovery windows."""

from __future__ import annotations

import re

import pytest

from conftest import variant

# 20+ characters mixing lower case, upper case and digits: what a generated token looks like.
TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])(?=[A-Za-z0-9]*[0-9])[A-Za-z0-9]{20,}")
# Attributes that legitimately carry encoded blobs (base64 cloud-init) rather than names and references.
ENCODED_ATTRIBUTES = {"user_data"}
RANDOM_RUN_LENGTH = 3.0  # mean characters per word/number run below which a literal looks generated


def data_variant(data):
    """One variant shared by the data tests (one synth): CMK, looked-up RDS instance, more upstreams."""
    data["secrets_kms"] = True
    data["secrets"]["api-env"]["recovery_window_days"] = 0
    data["secrets"]["QUALITY_OPS_TOKEN"]["generation"] = 3
    data["secrets"]["QUALITY_OPS_TOKEN"]["length"] = 64
    data["database"] = {
        "mode": "instance",
        "identifier": "araquem-shared-pg",
        "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:rds!db-1234-AbCdEf",
        "name": "araquem",
        "allow_from": ["api", "quality-cron", "rag-indexer"],
    }
    data["registry"]["encryption"] = "KMS"
    data["registry"]["cache_upstreams"] = ["quay"]
    data["services"]["grafana"]["image"] = "public.ecr.aws/grafana/grafana:11.2.0"
    data["cache"]["num_cache_clusters"] = 2


@pytest.fixture(scope="session")
def data_stack(synths):
    return synths.of_data(variant(data_variant))


def _by_name(stack, rtype):
    return {r["name"]: r for r in stack.resources(rtype).values()}


def _strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "//" and key not in ENCODED_ATTRIBUTES:  # "//": cdktf metadata (construct paths)
                yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _random_looking(candidate: str) -> bool:
    """Names are a few CamelCase words (AmazonEC2ContainerServiceforEC2Role: 8 runs in 35 characters);
    a random token switches case/digit class every 1-2 characters."""
    runs = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+", candidate)
    return len(candidate) / len(runs) < RANDOM_RUN_LENGTH


def _token_like_literals(stack) -> list[str]:
    """Random-looking literals outside ${...} references."""
    return [m for text in _strings(stack.json) for m in TOKEN_RE.findall(re.sub(r"\$\{[^}]*\}", "", text))
            if _random_looking(m)]


def test_generated_secret_is_written_only_from_an_ephemeral_password(stage, stage_cfg):
    secret = _by_name(stage, "aws_secretsmanager_secret")["araquem-stage/QUALITY_OPS_TOKEN"]
    assert "kms_key_id" not in secret and secret["recovery_window_in_days"] == stage_cfg.secrets_recovery_window_days
    versions = [v for v in stage.resources("aws_secretsmanager_secret_version").values()
                if "QUALITY_OPS_TOKEN" in v["secret_id"]]
    assert len(versions) == 1
    version = versions[0]
    assert "secret_string" not in version  # a plain secret_string would be stored in state
    ref = re.fullmatch(r"\$\{ephemeral\.aws_secretsmanager_random_password\.(\w+)\.random_password\}",
                       version["secret_string_wo"])
    assert ref, version["secret_string_wo"]
    assert version["secret_string_wo_version"] == stage_cfg.secrets["QUALITY_OPS_TOKEN"].generation
    password = stage.json["ephemeral"]["aws_secretsmanager_random_password"][ref.group(1)]
    assert password["password_length"] == stage_cfg.secrets["QUALITY_OPS_TOKEN"].length
    assert password["exclude_punctuation"] is True
    # ephemeral blocks and write-only attributes need Terraform 1.11
    assert stage.json["terraform"]["required_version"] == ">= 1.11.0"


def test_no_secret_value_or_token_literal_in_the_json(stage, data_stack):
    for stack in (stage, data_stack):
        for version in stack.resources("aws_secretsmanager_secret_version").values():
            for attr in ("secret_string", "secret_string_wo", "secret_binary"):
                if attr in version:  # every value is computed at apply time, never a literal
                    assert re.fullmatch(r"[^$]*(\$\{[^}]+\}[^$]*)+", version[attr]), (attr, version[attr])
        assert _token_like_literals(stack) == []


def test_token_scan_would_catch_a_pasted_token():
    class Fake:
        json = {"resource": {"x": {"y": {"secret_string": "Zq8vT3kLm9Xw2PaR7sNd4GhJ6bYc1EfU"}}}}

    assert _token_like_literals(Fake) == ["Zq8vT3kLm9Xw2PaR7sNd4GhJ6bYc1EfU"]
    assert not _random_looking("AmazonEC2ContainerServiceforEC2Role")


def test_json_key_secrets_get_no_value_from_terraform(stage, stage_cfg):
    secrets = _by_name(stage, "aws_secretsmanager_secret")
    ids = {f"${{aws_secretsmanager_secret.{k}.id}}" for k, v in stage.resources("aws_secretsmanager_secret").items()
           if v["name"] == "araquem-stage/api-env"}
    assert len(ids) == 1
    assert not [v for v in stage.resources("aws_secretsmanager_secret_version").values() if v["secret_id"] in ids]
    for key in stage_cfg.secrets["api-env"].keys:  # the description tells operators which keys to set
        assert key in secrets["araquem-stage/api-env"]["description"]


def test_secret_arns_are_output_never_values(stage, stage_cfg):
    output = stage.json["output"]["secret_arns"]["value"]
    # the env file's secrets and the generated Grafana admin password (modules/config/grafana.py)
    assert sorted(output) == sorted([*stage_cfg.secrets, "grafana-admin-password"])
    assert all(re.fullmatch(r"\$\{(data\.)?aws_secretsmanager_secret\.[\w-]+\.arn\}", v) for v in output.values())


def test_customer_managed_key_encrypts_secrets_when_asked(data_stack):
    key_id, key = next((k, v) for k, v in data_stack.resources("aws_kms_key").items()
                       if k.startswith("secrets_kms_key"))  # not the alarm topic's key (test_notifications.py)
    assert key["enable_key_rotation"] is True and key["deletion_window_in_days"] >= 7
    policy_ref = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([\w-]+)\.json\}", key["policy"])
    assert policy_ref, "the key policy must come from the provider's policy-document data source"
    statement = data_stack.data("aws_iam_policy_document")[policy_ref.group(1)]["statement"][0]
    # the account's default key policy: the account administers the key, IAM policies grant its use
    assert statement["actions"] == ["kms:*"] and statement["principals"][0]["identifiers"][0].endswith(":root")
    secrets = _by_name(data_stack, "aws_secretsmanager_secret")
    key_arn = f"${{aws_kms_key.{key_id}.arn}}"
    assert secrets["araquem-stage/QUALITY_OPS_TOKEN"]["kms_key_id"] == key_arn
    assert secrets["araquem-stage/redis-auth-token"]["kms_key_id"] == key_arn
    # the Docker Hub login is `existing`: created out of band with the AWS-managed key (ECR's service-linked
    # role decrypts with that one only; docs/runbook.md step 0), so the stack gives it no key
    assert "ecr-pullthroughcache/araquem-stage/docker-hub" not in secrets


def test_recovery_window_and_generation_per_secret(data_stack):
    secrets = _by_name(data_stack, "aws_secretsmanager_secret")
    assert secrets["araquem-stage/api-env"]["recovery_window_in_days"] == 0
    assert secrets["araquem-stage/QUALITY_OPS_TOKEN"]["recovery_window_in_days"] == 7
    version = next(v for v in data_stack.resources("aws_secretsmanager_secret_version").values()
                   if "QUALITY_OPS_TOKEN" in v["secret_id"])
    assert version["secret_string_wo_version"] == 3  # bumping `generation` writes a new random value
    lengths = {p["password_length"] for p in data_stack.json["ephemeral"]["aws_secretsmanager_random_password"].values()}
    assert 64 in lengths


def test_existing_secrets_are_looked_up_by_their_name_never_created(stage, stage_cfg):
    """`existing: true`: created with its value before the first deploy; the stack reads it (a missing one
    stops the plan before anything is created) and never creates, writes or deletes it."""
    existing = sorted(n for n, spec in stage_cfg.secrets.items() if spec.existing)
    assert existing == ["docker-hub"]
    lookups = {v["name"]: k for k, v in stage.data("aws_secretsmanager_secret").items()}
    assert stage_cfg.secret_name("docker-hub") == "ecr-pullthroughcache/araquem-stage/docker-hub"
    assert stage_cfg.secret_name("docker-hub") in lookups
    created = {v["name"] for v in stage.resources("aws_secretsmanager_secret").values()}
    assert not {stage_cfg.secret_name(n) for n in existing} & created
    output = stage.json["output"]["secret_arns"]["value"]
    assert output["docker-hub"] == f"${{data.aws_secretsmanager_secret.{lookups[stage_cfg.secret_name('docker-hub')]}.arn}}"
