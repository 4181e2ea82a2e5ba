"""modules/schedule_failures.py: every way a scheduled run can fail raises an alarm (issue 16: a RunTask
refusal, an image pull or secret fetch failure, an OOM kill, a non-zero exit or Scheduler giving up raised
nothing; only the crons' own ERROR: lines did)."""

from __future__ import annotations

import json
import re

import pytest

from test_workload import policy_statements, referenced

CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/araquem-stage"
CRONS = ["quality-cron", "rag-refresh-cron"]


def by_name(stack, rtype: str, key: str = "name") -> dict[str, dict]:
    return {r[key]: r for r in stack.resources(rtype).values()}


# ---------------------------------------------------------------- EventBridge pattern matching, as documented
# EventBridge user guide, "Event patterns" / "Comparison operators": every field of the pattern must match;
# a pattern list matches when any of its values does; a field under an array of objects matches when any
# element's field does; `$or` holds when one of its patterns does; `anything-but` matches a present value
# other than the one given (a missing field matches nothing).
def _values(node, path: tuple) -> list:
    if isinstance(node, list):
        return [v for item in node for v in _values(item, path)]
    if not path:
        return [node]
    if not isinstance(node, dict) or path[0] not in node:
        return []
    return _values(node[path[0]], path[1:])


def _value_matches(value, rule) -> bool:
    if isinstance(rule, dict):
        (op, arg), = rule.items()
        assert op == "anything-but", f"operator {op} not modelled by this test"
        return value != arg
    return value == rule


def matches(pattern: dict, event: dict, path: tuple = ()) -> bool:
    for key, rule in pattern.items():
        if key == "$or":
            ok = any(matches(p, event, path) for p in rule)
        elif isinstance(rule, dict):
            ok = matches(rule, event, (*path, key))
        else:
            ok = any(_value_matches(v, r) for v in _values(event, (*path, key)) for r in rule)
        if not ok:
            return False
    return True


def task_event(*, group="family:araquem-stage-quality-cron", last="STOPPED", stop_code="EssentialContainerExited",
               exit_codes=(0,), cluster=CLUSTER, reason="Essential container in task exited") -> dict:
    """An "ECS Task State Change" event in the documented shape (ECS developer guide, task state change events)."""
    containers = [{"name": f"c{i}", "lastStatus": "STOPPED", **({} if code is None else {"exitCode": code})}
                  for i, code in enumerate(exit_codes)]
    return {"source": "aws.ecs", "detail-type": "ECS Task State Change",
            "detail": {"clusterArn": cluster, "group": group, "lastStatus": last, "desiredStatus": "STOPPED",
                       "stopCode": stop_code, "stoppedReason": reason, "containers": containers}}


@pytest.fixture(scope="module")
def pattern(stage) -> dict:
    [rule] = stage.resources("aws_cloudwatch_event_rule").values()
    found = json.loads(rule["event_pattern"])
    [cluster_ref] = found["detail"]["clusterArn"]
    assert cluster_ref == next(iter(stage.resources("aws_scheduler_schedule").values()))["target"]["arn"]
    found["detail"]["clusterArn"] = [CLUSTER]  # this stack's cluster, as a real ARN
    return found


FAILED_RUNS = [
    ("non-zero-exit", task_event(exit_codes=(1,))),
    ("oom-kill", task_event(exit_codes=(137,), reason="OutOfMemoryError: Container killed due to memory usage")),
    ("image-pull", task_event(stop_code="TaskFailedToStart", exit_codes=(None,),
                              reason="CannotPullContainerError: pull image manifest has been retried")),
    ("secret-fetch", task_event(stop_code="TaskFailedToStart", exit_codes=(None,),
                                reason="ResourceInitializationError: unable to pull secrets or registry auth")),
    ("no-capacity", task_event(group="family:araquem-stage-rag-refresh-cron", stop_code="TaskFailedToStart",
                               exit_codes=(None,), reason="Capacity is unavailable at this time")),
    ("one-of-two-containers", task_event(exit_codes=(0, 2))),
]
NOT_FAILURES = [
    ("clean-exit", task_event(exit_codes=(0,))),
    ("still-running", task_event(last="RUNNING", exit_codes=(None,))),
    ("a-service-task", task_event(group="service:araquem-stage-api", exit_codes=(1,))),
    ("another-job", task_event(group="family:araquem-stage-rag-indexer", exit_codes=(1,))),
    ("another-cluster", task_event(cluster=CLUSTER.replace("araquem-stage", "other"), exit_codes=(1,))),
]


@pytest.mark.parametrize("case,event", FAILED_RUNS, ids=[c[0] for c in FAILED_RUNS])
def test_the_rule_catches_a_failed_scheduled_run(pattern, case, event):
    assert matches(pattern, event)


@pytest.mark.parametrize("case,event", NOT_FAILURES, ids=[c[0] for c in NOT_FAILURES])
def test_the_rule_ignores_what_is_not_a_failed_scheduled_run(pattern, case, event):
    assert not matches(pattern, event)


def test_each_cron_counts_its_own_failed_runs_and_alarms(stage, stage_cfg, pattern):
    """schedule sets the task group -> the event carries it -> the cron's metric filter counts it -> alarm."""
    [rule] = stage.resources("aws_cloudwatch_event_rule").values()
    [target] = stage.resources("aws_cloudwatch_event_target").values()
    log_group = referenced(stage, target["arn"].replace(".arn}", ".name}"))
    assert target["rule"].endswith(".name}") and "stopped_task_rule" in target["rule"]
    assert log_group["retention_in_days"] == stage_cfg.logs.retention_days
    filters = by_name(stage, "aws_cloudwatch_log_metric_filter")
    alarms = by_name(stage, "aws_cloudwatch_metric_alarm", "alarm_name")
    schedules = by_name(stage, "aws_scheduler_schedule")
    for cron in CRONS:
        group = schedules[f"araquem-stage-{cron}"]["target"]["ecs_parameters"]["group"]
        assert group == f"family:araquem-stage-{cron}" and group in pattern["detail"]["group"]
        metric = filters[f"araquem-stage-{cron}-task-failures"]
        assert "stopped_task_events" in metric["log_group_name"]
        term = re.fullmatch(r'\{ \$\.detail\.group = "([^"]+)" \}', metric["pattern"])
        assert term and term[1] == group  # the JSON filter on the event EventBridge logged
        transform = metric["metric_transformation"]
        alarm = alarms[f"araquem-stage-{cron}-task-failures"]
        assert (alarm["namespace"], alarm["metric_name"]) == (transform["namespace"], transform["name"])
        assert alarm["threshold"] == 1 and alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["period"] == stage_cfg.services[cron].failure_alarm.period


def test_eventbridge_may_write_to_the_failure_log_group_and_nothing_else(stage):
    [policy] = stage.resources("aws_cloudwatch_log_resource_policy").values()
    [target] = stage.resources("aws_cloudwatch_event_target").values()
    key = policy["policy_document"].removeprefix("${data.aws_iam_policy_document.").removesuffix(".json}")
    doc = stage.data("aws_iam_policy_document")[key]
    [statement] = doc["statement"]
    assert statement["actions"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["resources"] == [target["arn"].removesuffix("}") + "}:*"]
    assert statement["principals"][0]["identifiers"] == ["delivery.logs.amazonaws.com", "events.amazonaws.com"]
    assert any("stopped_task_events_access" in d for d in target["depends_on"])  # no event before the policy


def test_scheduler_gives_up_into_an_encrypted_dead_letter_queue_that_alarms(stage):
    [queue] = stage.resources("aws_sqs_queue").values()
    assert queue["sqs_managed_sse_enabled"] is True
    assert queue["message_retention_seconds"] == 14 * 24 * 3600  # SQS's maximum
    [group] = stage.resources("aws_scheduler_schedule_group").values()
    for cron in CRONS:
        schedule = by_name(stage, "aws_scheduler_schedule")[f"araquem-stage-{cron}"]
        assert referenced(stage, schedule["group_name"]) is group
        assert referenced(stage, schedule["target"]["dead_letter_config"]["arn"]) is queue
        sends = {s["sid"]: s for s in policy_statements(stage, cron, "scheduler_policy_document")}
        dlq = sends["SendFailedRunsToDeadLetterQueue"]
        assert dlq["actions"] == ["sqs:SendMessage"] and len(dlq["resources"]) == 1
        assert referenced(stage, dlq["resources"][0]) is queue  # this queue only
    alarm = by_name(stage, "aws_cloudwatch_metric_alarm", "alarm_name")["araquem-stage-scheduler-dead-letters"]
    assert (alarm["namespace"], alarm["metric_name"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["dimensions"] == {"QueueName": queue["name"]} and alarm["statistic"] == "Maximum"
    assert alarm["threshold"] == 1  # one waiting message: ALARM until someone reads it


def test_scheduler_metrics_of_the_stacks_own_group_alarm(stage):
    """AWS/Scheduler publishes per schedule group: the stack's own group makes them this stack's."""
    [group] = stage.resources("aws_scheduler_schedule_group").values()
    assert group["name"] == "araquem-stage"
    alarms = {a["metric_name"]: a for a in stage.resources("aws_cloudwatch_metric_alarm").values()
              if a.get("namespace") == "AWS/Scheduler"}
    assert sorted(alarms) == ["InvocationDroppedCount", "InvocationsFailedToBeSentToDeadLetterCount",
                              "TargetErrorCount"]
    for alarm in alarms.values():
        assert referenced(stage, alarm["dimensions"]["ScheduleGroup"].replace(".name}", ".x}")) is group
        assert alarm["statistic"] == "Sum" and alarm["threshold"] == 1
        assert alarm["treat_missing_data"] == "notBreaching"  # published only when something failed
