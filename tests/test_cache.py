"""modules/cache.py: ElastiCache Redis with TLS, encryption at rest and an AUTH token from Secrets Manager."""

from __future__ import annotations

import json
import re

import pytest

from conftest import variant
from test_secrets import data_variant


@pytest.fixture(scope="session")
def data_stack(synths):
    return synths.of_data(variant(data_variant))


def _ref(expr: str, rtype: str) -> str:
    match = re.fullmatch(rf"\$\{{{rtype}\.([\w-]+)\.\w+\}}", expr)
    assert match, f"{expr!r} is not a reference to a {rtype}"
    return match.group(1)


def test_redis_is_encrypted_in_transit_and_at_rest(stage, stage_cfg):
    redis = stage.one("aws_elasticache_replication_group")
    assert redis["engine"] == "redis" and redis["engine_version"] == stage_cfg.cache.engine_version
    assert redis["node_type"] == "cache.t4g.micro" and redis["port"] == 6379
    assert redis["transit_encryption_enabled"] is True and redis["transit_encryption_mode"] == "required"
    assert redis["at_rest_encryption_enabled"] == "true"
    assert "kms_key_id" not in redis  # no CMK asked for: the AWS-managed key


def test_redis_auth_token_comes_from_a_generated_secret(stage):
    redis = stage.one("aws_elasticache_replication_group")
    lookup = stage.data("aws_secretsmanager_secret_version")[_ref(redis["auth_token"], "data.aws_secretsmanager_secret_version")]
    secret = stage.resources("aws_secretsmanager_secret")[_ref(lookup["secret_id"], "aws_secretsmanager_secret")]
    assert secret["name"] == "araquem-stage/redis-auth-token"
    version = stage.resources("aws_secretsmanager_secret_version")[
        _ref(lookup["version_id"], "aws_secretsmanager_secret_version")]
    assert version["secret_string_wo"].startswith("${ephemeral.aws_secretsmanager_random_password.")
    assert redis["auth_token_update_strategy"] == "ROTATE"


def test_redis_sits_in_private_subnets_behind_its_group(stage):
    redis = stage.one("aws_elasticache_replication_group")
    subnets = stage.resources("aws_elasticache_subnet_group")[_ref(redis["subnet_group_name"], "aws_elasticache_subnet_group")]
    private = stage.json["output"]["private_subnet_ids"]["value"]  # the network's flat output
    assert subnets["subnet_ids"] and subnets["subnet_ids"] == private
    (group,) = redis["security_group_ids"]
    group_key = _ref(group, "aws_security_group")
    sources = [r for r in stage.resources("aws_vpc_security_group_ingress_rule").values()
               if r["security_group_id"] == group]
    assert sources and all(r["from_port"] == 6379 and "referenced_security_group_id" in r for r in sources)
    assert "cidr_ipv4" not in str(sources) and group_key in stage.resources("aws_security_group")


def test_clients_get_a_tls_url_secret(stage, stage_cfg):
    url_secret = [k for k, s in stage.resources("aws_secretsmanager_secret").items() if s["name"] == "araquem-stage/redis-url"]
    assert len(url_secret) == 1
    (version,) = [v for v in stage.resources("aws_secretsmanager_secret_version").values()
                  if v["secret_id"] == f"${{aws_secretsmanager_secret.{url_secret[0]}.id}}"]
    assert re.fullmatch(r"rediss://:\$\{data\.aws_secretsmanager_secret_version\.[\w-]+\.secret_string\}"
                        r"@\$\{aws_elasticache_replication_group\.[\w-]+\.primary_endpoint_address\}:6379",
                        version["secret_string"])
    assert stage_cfg.cache.url_variable == "REDIS_URL"


def test_outputs_endpoint_and_secret_arns(stage):
    outputs = stage.json["output"]
    assert outputs["redis_endpoint"]["value"].endswith(".primary_endpoint_address}")
    assert all(v.endswith(".arn}") for v in outputs["redis_secret_arns"]["value"].values())


def test_replicas_fail_over_across_azs_and_use_the_cmk(data_stack):
    redis = data_stack.one("aws_elasticache_replication_group")
    assert redis["num_cache_clusters"] == 2
    assert redis["automatic_failover_enabled"] is True and redis["multi_az_enabled"] is True
    assert redis["kms_key_id"] == "${aws_kms_key.%s.arn}" % next(
        k for k in data_stack.resources("aws_kms_key") if k.startswith("secrets_kms_key"))  # not the alarm topic's


def test_no_cache_section_no_redis(synths):
    def mutate(data):
        data.pop("cache")

    without = synths.of_data(variant(mutate))
    assert without.resources("aws_elasticache_replication_group") == {}
    assert "redis_endpoint" not in without.json.get("output", {})


def test_allowed_clients_receive_redis_url_as_a_secret(stage, stage_cfg):
    (url_key,) = [k for k, s in stage.resources("aws_secretsmanager_secret").items() if s["name"] == "araquem-stage/redis-url"]
    containers = {c["name"]: c for t in stage.resources("aws_ecs_task_definition").values()
                  for c in json.loads(t["container_definitions"])}
    for name, container in containers.items():
        injected = {s["name"]: s["valueFrom"] for s in container.get("secrets", [])}
        if name in stage_cfg.cache.allow_from:
            assert injected["REDIS_URL"] == f"${{aws_secretsmanager_secret.{url_key}.arn}}", name
        else:
            assert "REDIS_URL" not in injected, name
