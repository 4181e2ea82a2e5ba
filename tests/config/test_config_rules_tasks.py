"""modules/config/rules/tasks.py: an essential container per task, a CPU reservation, at most 64 KiB."""

from __future__ import annotations

import json

import pytest

from config_mutations import all_of, case_id, check_rule_case, set_path, unchanged
from modules.config.defaults import TASK_DEFINITION_MAX_BYTES
from modules.config.rules import tasks as R

BIG_VALUE = "x" * 4000  # an SSM Standard parameter could hold it; an environment value makes the task grow


def _many_environment_values(count: int):
    def mutate(data):
        data["services"]["api"]["environment"] = {f"SETTING_{i}": BIG_VALUE for i in range(count)}
    return mutate


def _essential_sidecar_of_api(data):
    """quality-cron as an essential sidecar in the api's task (compose's shape before it was scheduled)."""
    cron = data["services"]["quality-cron"]
    for key in ("kind", "schedule", "schedule_timezone", "failure_alarm"):
        cron.pop(key, None)
    cron.update(kind="sidecar", sidecar_of="api", essential=True)


CASES = [
    (R.task_has_an_essential_container, set_path("services.api.essential", False), "services.api.essential",
     ["no container of task 'api'", "allowed: essential true"]),
    (R.task_has_an_essential_container, all_of(set_path("services.api.essential", False),
                                               _essential_sidecar_of_api), None, []),
    (R.task_cpu_is_reserved, set_path("services.api.cpu", 0), "services.api.cpu",
     ["cpu 0 on the container that owns task 'api'", "2 CPU shares", "allowed: cpu >= 0.125"]),
    (R.task_cpu_is_reserved, set_path("services.rag-indexer.cpu", 0.0625), "services.rag-indexer.cpu",
     ["reserves 64 CPU units", "at least 128 units"]),
    (R.task_cpu_is_reserved, set_path("services.rag-indexer.cpu", 0.125), None, []),
    (R.task_definition_fits_64kib, _many_environment_values(17), "services.api",
     ["task 'api' would be about", "at most 65536 bytes (64 KiB)", "parameters or secrets"]),
    (R.task_definition_fits_64kib, _many_environment_values(12), None, []),
    (R.task_definition_fits_64kib, unchanged, None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)


def test_the_size_estimate_bounds_the_synthesized_task_definitions(stage, stage_cfg):
    """The estimate is an upper bound of what synth writes: container_definitions of every stage task
    (with the placeholders `${...}` the ARNs and image URIs become at apply) is smaller than the estimate
    of its containers, and the estimate is not wildly loose (within 4x)."""
    tasks = stage.resources("aws_ecs_task_definition")
    assert len(tasks) == len(stage_cfg.task_owners())
    for task in tasks.values():
        containers = json.loads(task["container_definitions"])
        estimate = sum(R.container_definition_bytes(stage_cfg, c["name"]) for c in containers)
        actual = len(task["container_definitions"])
        assert actual < estimate < 4 * actual + 2048, (task["family"], actual, estimate)
    assert max(R.task_definition_bytes(stage_cfg, o) for o in stage_cfg.task_owners()) < TASK_DEFINITION_MAX_BYTES
