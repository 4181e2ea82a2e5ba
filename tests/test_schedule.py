"""modules/schedule.py: a scheduled job runs on its time zone's schedule with a role that may run only its task."""

from __future__ import annotations

import json

from conftest import variant
from test_workload import bad_input_line, policy_statements, scheduled_without_volumes, task_definitions

TERRAFORM_VALIDATE = {"test_scheduled_job_and_an_env_without_volumes": [
    lambda synths: synths.of_data(variant(scheduled_without_volumes))]}


def test_scheduled_job_and_an_env_without_volumes(synths, terraform_validation):
    other = synths.of_data(variant(scheduled_without_volumes))
    schedule = next(s for s in other.resources("aws_scheduler_schedule").values()
                    if s["name"].endswith("-rag-indexer"))
    assert schedule["schedule_expression"] == "cron(0 3 * * ? *)"
    assert schedule["schedule_expression_timezone"] == "America/Sao_Paulo"  # the seed's TZ, not UTC
    ecs = schedule["target"]["ecs_parameters"]
    assert "rag-indexer" in ecs["task_definition_arn"] and ecs["network_configuration"]["assign_public_ip"] is False
    run = policy_statements(other, "rag-indexer", "scheduler_policy_document")
    assert {s["sid"]: s["actions"] for s in run} == {
        "RunOwnTask": ["ecs:RunTask"], "PassOwnRoles": ["iam:PassRole"], "TagOwnTasks": ["ecs:TagResource"],
        "SendFailedRunsToDeadLetterQueue": ["sqs:SendMessage"]}  # modules/schedule_failures.py
    assert not other.resources("aws_efs_file_system")
    assert not [v for td in task_definitions(other).values() for v in td.get("volume", [])
                if "efs_volume_configuration" in v]
    result = terraform_validation.of(other)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)


def test_schedule_time_zone_must_exist(tmp_path):
    def mutate(data):
        data["services"]["rag-indexer"].update(kind="scheduled", schedule="rate(1 day)",
                                               schedule_timezone="America/Sao_Pualo")

    assert "'America/Sao_Pualo' is not an IANA time zone" in bad_input_line(tmp_path, mutate, "services.rag-indexer")


def test_the_crons_run_once_per_interval_however_many_api_tasks_run(stage, stage_cfg):
    """issue 16: as api sidecars there was one cron per api task (scaling.max 3) and a loop that died in
    its first 60 s (restartAttemptPeriod) was never restarted. Scheduled, each interval starts one task."""
    schedules = {s["name"].removeprefix("araquem-stage-"): s for s in stage.resources("aws_scheduler_schedule").values()}
    assert sorted(schedules) == ["quality-cron", "rag-refresh-cron"]
    for name, schedule in schedules.items():
        # hourly, while the GPU capacity provider is up (off_hours): the runs need ollama
        assert schedule["schedule_expression"] == stage_cfg.services[name].schedule == "cron(30 8-19 ? * MON-FRI *)"
        window = stage_cfg.cluster.capacity_providers["gpu"].off_hours
        assert schedule["schedule_expression_timezone"] == window.timezone
        assert (window.start, window.stop) == ("08:00", "20:00")
        assert schedule["flexible_time_window"] == {"mode": "OFF"}
        ecs = schedule["target"]["ecs_parameters"]
        assert ecs["task_count"] == 1 and f"workload_{name}_task_definition" in ecs["task_definition_arn"]
        [container] = json.loads(task_definitions(stage)[name]["container_definitions"])
        assert container["essential"] is True and "restartPolicy" not in container  # a run, not a loop
        assert {e["name"]: e["value"] for e in container["environment"]}["CRON_CYCLES"] == "1"
    api = json.loads(task_definitions(stage)["api"]["container_definitions"])
    assert [c["name"] for c in api] == ["api"]  # no cron rides along with each api task
