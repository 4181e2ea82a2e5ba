"""modules/schedule.py: a scheduled job runs on its time zone's schedule with a role that may run only its task."""

from __future__ import annotations

import json

from conftest import terraform_validate, variant
from test_workload import bad_input_line, policy_statements, scheduled_without_volumes, task_definitions


def test_scheduled_job_and_an_env_without_volumes(synths, terraform_env, tmp_path):
    other = synths.of_data(variant(scheduled_without_volumes))
    schedule = other.one("aws_scheduler_schedule")
    assert schedule["schedule_expression"] == "cron(0 3 * * ? *)"
    assert schedule["schedule_expression_timezone"] == "America/Sao_Paulo"  # the seed's TZ, not UTC
    ecs = schedule["target"]["ecs_parameters"]
    assert "rag-indexer" in ecs["task_definition_arn"] and ecs["network_configuration"]["assign_public_ip"] is False
    run = policy_statements(other, "rag-indexer", "scheduler_policy_document")
    assert {s["sid"]: s["actions"] for s in run} == {
        "RunOwnTask": ["ecs:RunTask"], "PassOwnRoles": ["iam:PassRole"], "TagOwnTasks": ["ecs:TagResource"]}
    assert not other.resources("aws_efs_file_system")
    assert not [v for td in task_definitions(other).values() for v in td.get("volume", [])
                if "efs_volume_configuration" in v]
    result = json.loads(terraform_validate(other, terraform_env, tmp_path / "validate").stdout)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)


def test_schedule_time_zone_must_exist(tmp_path):
    def mutate(data):
        data["services"]["rag-indexer"].update(kind="scheduled", schedule="rate(1 day)",
                                               schedule_timezone="America/Sao_Pualo")

    assert "'America/Sao_Pualo' is not an IANA time zone" in bad_input_line(tmp_path, mutate, "services.rag-indexer")
