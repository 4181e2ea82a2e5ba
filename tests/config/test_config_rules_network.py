"""modules/config/rules/network.py: subnets hold the endpoints, mount targets, nodes, instances and tasks."""

from __future__ import annotations

import pytest

from config_mutations import all_of, case_id, check_rule_case, schema_only, set_path, unchanged
from conftest import seed_services_only
from modules.config.rules import network as R

CASES = [
    (R.subnets_hold_what_they_must, all_of(seed_services_only, set_path("network.subnet_prefix", 28)), "network.subnet_prefix",
     ["a /28 private subnet has 11 usable addresses (16 minus 5 AWS reserves) but may have to hold 27",
      "5 interface endpoints", "1 EFS mount target", "allowed: subnet_prefix /27 or larger"]),
    (R.subnets_hold_what_they_must, set_path("network.subnet_prefix", 28), "network.subnet_prefix",
     ["ELB needs subnets of at least /27", "8 free addresses"]),
    (R.subnets_hold_what_they_must, all_of(seed_services_only, set_path("network.subnet_prefix", 27),
                                           set_path("services.api.scaling.max", 20)), "network.subnet_prefix",
     ["but may have to hold 61", "allowed: subnet_prefix /25"]),
    (R.subnets_hold_what_they_must, all_of(seed_services_only, set_path("network.subnet_prefix", 27)), None, []),
    (R.subnets_hold_what_they_must, unchanged, None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)


def test_the_need_counts_each_thing_the_stack_puts_in_a_private_subnet():
    """stage: ecr(2) + logs + secretsmanager + ssm endpoints, one EFS mount target, one cache node, 4 + 1
    instances; tasks: api at scaling max 3 doubled by its rolling deployment, 5 other services (replace or
    rolling at 1 x 200%), one job, two scheduled tasks."""
    needs = R.private_subnet_needs(schema_only(seed_services_only))  # the counts below are the seed's
    assert needs["interface endpoints"] == 5 and needs["EFS mount target"] == 1 and needs["cache nodes"] == 1
    assert needs["ECS instances"] == 5
    # api 3x200% = 6, otel-collector 1x200% = 2 (rolling); ollama, prometheus, grafana, tempo write
    # volumes or hold the GPU: 1 each (replace); the rag-indexer job and the two scheduled crons: 1 each
    assert needs["awsvpc tasks (at scaling max, during deployments)"] == 6 + 2 + 4 + 1 + 2
