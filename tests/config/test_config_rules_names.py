"""modules/config/rules/names.py: generated AWS names fit their limits and avoid reserved prefixes."""

from __future__ import annotations

import pytest

from config_mutations import all_of, case_id, check_rule_case, set_path, unchanged
from modules.config.rules import names as R

LONG_PROJECT = "a" * 32  # the longest project name the schema allows
LONG_NAME = all_of(set_path("project", LONG_PROJECT), set_path("environment", "e" * 20))
SCHEDULED = {"kind": "scheduled", "schedule": "cron(0 3 * * ? *)"}


def _scheduled_rag_indexer(data):
    data["services"]["rag-indexer"].update(SCHEDULED)


CASES = [
    (R.capacity_provider_names_are_not_reserved, set_path("project", "ecs-araquem"), "project",
     ["'ecs-araquem-stage-'", "'aws', 'ecs', 'fargate'"]),
    (R.capacity_provider_names_are_not_reserved, set_path("project", "fargatex"), "project", ["'fargate'"]),
    (R.capacity_provider_names_are_not_reserved, set_path("project", "myecs"), None, []),
    (R.generated_names_fit, unchanged, None, []),
    (R.generated_names_fit, LONG_NAME, "services.api",
     ["IAM role (task execution) name", "at most 64", "shorten project/environment or the service name"]),
    (R.generated_names_fit, LONG_NAME, "project",
     ["IAM role (ECS container instances) name", "at most 64"]),
    (R.generated_names_fit, all_of(LONG_NAME, _scheduled_rag_indexer), "services.rag-indexer",
     ["EventBridge Scheduler schedule name", "at most 64"]),
    (R.generated_names_fit, all_of(set_path("project", "p" * 12), _scheduled_rag_indexer), None, []),
    # the stack-level pieces that catch failed scheduled runs (modules/schedule_failures.py)
    (R.generated_names_fit, LONG_NAME, "project",
     ["EventBridge rule (failed scheduled runs) name 'aaaa", "-scheduled-failures' is 72 characters", "at most 64"]),
    (R.dns_namespace_fits, all_of(set_path("project", LONG_PROJECT), set_path("environment", "e" * 32)), "project",
     ["labels of 1-63 characters", "set discovery_dns_namespace"]),
    (R.dns_namespace_fits, all_of(set_path("project", LONG_PROJECT), set_path("environment", "e" * 32),
                                  set_path("discovery_dns_namespace", "jobs.internal")), None, []),
    (R.dns_namespace_fits, unchanged, None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)


def test_names_checked_are_the_names_synth_generates(stage, stage_cfg):
    """Every name the rule checks for stage appears in stage's synthesized JSON: the rule checks the real
    names, not invented ones."""
    names = {(resource, name) for _, resource, name, _ in R.generated_names(stage_cfg)}
    assert ("IAM role (task execution)", "araquem-stage-api-execution") in names
    assert ("EFS creation token", "araquem-stage-volumes") in names
    text = stage.text
    for resource, name in sorted(names):
        assert f'"{name}"' in text, f"{resource} name {name!r} is not in the synthesized stack"
