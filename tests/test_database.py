"""modules/database.py: an existing Postgres is referenced (looked up or by endpoint), opened to
database.allow_from on 5432 and handed to those services as parameters + secret keys; nothing is created."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT, variant
from modules.config import load
from test_secrets import data_variant


TERRAFORM_VALIDATE = {"test_lookup_variant_passes_terraform_validate": [
    lambda synths: synths.of_data(variant(data_variant))]}


@pytest.fixture(scope="session")
def data_stack(synths):
    return synths.of_data(variant(data_variant))


@pytest.fixture(scope="session")
def dev_eu(synths):
    return synths.of_file(ROOT / "envs" / "dev-eu.yaml")


def _db_rules(stack):
    return [r for r in stack.resources("aws_vpc_security_group_ingress_rule").values()
            if "(database.allow_from)" in r.get("description", "")]


def _task_group(stack, owner):
    keys = [k for k in stack.resources("aws_security_group") if f"task-{owner}_" in k]
    assert len(keys) == 1, keys
    return f"${{aws_security_group.{keys[0]}.id}}"


def _params(stack):
    return {p["name"]: p for p in stack.resources("aws_ssm_parameter").values()}


def test_instance_mode_looks_the_database_up(data_stack):
    (lookup_key, lookup), = data_stack.data("aws_db_instance").items()
    assert lookup["db_instance_identifier"] == "araquem-shared-pg"
    assert data_stack.resources("aws_db_instance") == {} and data_stack.resources("aws_rds_cluster") == {}
    ref = f"data.aws_db_instance.{lookup_key}"
    rules = _db_rules(data_stack)
    # one rule per task group: api, the scheduled quality-cron and the rag-indexer job
    assert sorted(r["referenced_security_group_id"] for r in rules) == sorted(
        [_task_group(data_stack, "api"), _task_group(data_stack, "quality-cron"), _task_group(data_stack, "rag-indexer")])
    for rule in rules:
        assert rule["security_group_id"] == f"${{element(sort({ref}.vpc_security_groups), 0)}}"
        assert rule["from_port"] == rule["to_port"] == f"${{{ref}.port}}" and rule["ip_protocol"] == "tcp"
    params = _params(data_stack)
    assert params["/araquem/stage/database/host"]["value"] == f"${{{ref}.address}}"
    assert params["/araquem/stage/database/port"]["value"] == f"${{{ref}.port}}"
    assert params["/araquem/stage/database/name"]["value"] == "araquem"


def test_cluster_mode_looks_the_cluster_up(synths):
    def mutate(data):
        data_variant(data)
        data["database"]["mode"] = "cluster"

    stack = synths.of_data(variant(mutate))
    (key, lookup), = stack.data("aws_rds_cluster").items()
    assert lookup["cluster_identifier"] == "araquem-shared-pg"
    ref = f"data.aws_rds_cluster.{key}"
    assert {r["security_group_id"] for r in _db_rules(stack)} == {
        f"${{element(sort(tolist({ref}.vpc_security_group_ids)), 0)}}"}  # a set: made a list to index it


def test_endpoint_mode_uses_the_given_group_and_port(dev_eu):
    cfg = load(ROOT / "envs" / "dev-eu.yaml")
    assert dev_eu.data("aws_db_instance") == {} and dev_eu.data("aws_rds_cluster") == {}
    (rule,) = _db_rules(dev_eu)
    assert rule["security_group_id"] == cfg.database.security_group_id
    assert rule["referenced_security_group_id"] == _task_group(dev_eu, "api")
    assert rule["from_port"] == rule["to_port"] == cfg.database.port == 5432
    params = _params(dev_eu)
    assert params["/araquem/dev-eu/database/host"]["insecure_value"] == cfg.database.endpoint
    assert params["/araquem/dev-eu/database/port"]["insecure_value"] == "5432"
    assert "/araquem/dev-eu/database/name" not in params  # no `name` in the env file: not invented


def test_mode_none_creates_nothing(stage):
    assert _db_rules(stage) == []
    assert stage.data("aws_db_instance") == {} and stage.data("aws_rds_cluster") == {}
    assert not [n for n in _params(stage) if "/database/" in n]


def test_credentials_stay_in_the_existing_secret(data_stack, dev_eu):
    for stack, arn in ((data_stack, "rds!db-1234"), (dev_eu, "araquem/dev-eu/postgres")):
        # only the ARN may appear (injected by reference); no secret is created or versioned for it
        assert not [s for s in stack.resources("aws_secretsmanager_secret").values() if arn in s["name"]]
        assert "password" not in json.dumps(stack.resources("aws_ssm_parameter")).lower()


def test_lookup_variant_passes_terraform_validate(data_stack, terraform_validation):
    result = terraform_validation.of(data_stack)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)


def test_allowed_clients_receive_connection_values(dev_eu):
    cfg = load(ROOT / "envs" / "dev-eu.yaml")
    (api,) = [c for t in dev_eu.resources("aws_ecs_task_definition").values()
              for c in json.loads(t["container_definitions"]) if c["name"] == "api"]
    injected = {s["name"]: s["valueFrom"] for s in api["secrets"]}
    arn = cfg.database.credentials_secret_arn
    assert injected["PGUSER"] == f"{arn}:username::" and injected["PGPASSWORD"] == f"{arn}:password::"
    host_key = next(k for k, p in dev_eu.resources("aws_ssm_parameter").items() if p["name"].endswith("/database/host"))
    assert injected["PGHOST"] == f"${{aws_ssm_parameter.{host_key}.arn}}"
    assert "PGPORT" in injected and "PGDATABASE" not in injected
