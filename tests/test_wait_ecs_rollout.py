"""scripts/wait_ecs_rollout.py on recorded-shape ECS responses (botocore's Stubber checks every response
against the ECS API model): steady services pass, a circuit-breaker rollback fails with the events."""

from __future__ import annotations

import importlib.util
import io
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber

from conftest import ROOT

spec = importlib.util.spec_from_file_location("wait_ecs_rollout", ROOT / "scripts" / "wait_ecs_rollout.py")
rollout = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rollout)

CLUSTER = "araquem-stage"
SINCE = datetime(2026, 11, 29, 10, 0, tzinfo=timezone.utc)
ARN = "arn:aws:ecs:us-east-1:123456789012:service/araquem-stage/{}"


def at(minutes: int) -> datetime:
    return SINCE + timedelta(minutes=minutes)


def deployment(dep_id: str, status: str, rollout_state: str, reason: str = "", running=1, desired=1, td="api:7"):
    return {"id": f"ecs-svc/{dep_id}", "status": status, "taskDefinition": f"arn:aws:ecs:us-east-1:123456789012:"
            f"task-definition/araquem-stage-{td}", "desiredCount": desired, "pendingCount": 0,
            "runningCount": running, "failedTasks": 0, "createdAt": at(1), "updatedAt": at(2),
            "rolloutState": rollout_state, "rolloutStateReason": reason}


def service(name: str, deployments: list, running=1, desired=1, events=()):
    return {"serviceArn": ARN.format(name), "serviceName": name, "clusterArn": f"arn:aws:ecs:us-east-1:123456789012:"
            f"cluster/{CLUSTER}", "status": "ACTIVE", "desiredCount": desired, "runningCount": running,
            "pendingCount": 0, "deployments": deployments,
            "events": [{"id": f"e{i}", "createdAt": t, "message": m} for i, (t, m) in enumerate(events)]}


STEADY = deployment("new", "PRIMARY", "COMPLETED", "ECS deployment ecs-svc/new completed.")


def run_wait(polls: list[list[dict]], timeout=600.0):
    """polls: the services DescribeServices returns on each check."""
    ecs = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    names = [s["serviceName"] for s in polls[0]]
    with Stubber(ecs) as stub:
        stub.add_response("list_services", {"serviceArns": [ARN.format(n) for n in names]},
                          {"cluster": CLUSTER, "maxResults": 100})
        for services in polls:
            for i in range(0, len(services), 10):
                batch = services[i:i + 10]
                stub.add_response("describe_services", {"services": batch, "failures": []},
                                  {"cluster": CLUSTER, "services": sorted(ARN.format(n) for n in names)[i:i + 10]})
        out, slept, now = io.StringIO(), [], [0.0]

        def sleep(seconds):
            slept.append(seconds)
            now[0] += seconds

        code = rollout.wait(ecs, CLUSTER, SINCE, timeout=timeout, interval=15, sleep=sleep, clock=lambda: now[0],
                            out=out)
        stub.assert_no_pending_responses()
    return code, out.getvalue(), slept


def test_waits_until_every_service_is_steady():
    in_progress = [deployment("new", "PRIMARY", "IN_PROGRESS", running=0),
                   deployment("old", "ACTIVE", "COMPLETED", td="api:6")]
    code, out, slept = run_wait([
        [service("api", in_progress, running=1), service("grafana", [STEADY])],
        [service("api", [STEADY]), service("grafana", [STEADY])],
    ])
    assert code == 0 and slept == [15]
    assert "waiting for 1 service(s): api: 2 deployments" in out and "all 2 services steady" in out


def test_a_circuit_breaker_rollback_fails_with_the_service_events():
    failed = deployment("new", "ACTIVE", "FAILED", "ECS deployment circuit breaker: tasks failed to start.",
                        running=0)
    rollback = deployment("back", "PRIMARY", "IN_PROGRESS",
                          "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/old.", td="api:6")
    events = [(at(5), "(service araquem-stage-api) rolling back to deployment ecs-svc/old."),
              (at(4), "(service araquem-stage-api) deployment ecs-svc/new deployment failed: tasks failed to start."),
              (at(-60), "(service araquem-stage-api) has reached a steady state.")]
    code, out, _ = run_wait([[service("api", [rollback, failed], events=events), service("grafana", [STEADY])]])
    assert code == 1
    assert "::error title=rollout failed: api::" in out and "grafana" not in out
    assert "deployment failed: tasks failed to start." in out and "rolling back to deployment ecs-svc/old" in out
    assert "has reached a steady state" not in out  # events before --since are not this deploy's
    # oldest first, as a log reads
    assert out.index("api) deployment ecs-svc/new deployment failed") < out.index("api) rolling back to")


def test_a_finished_rollback_still_fails():
    # The rollback completed before the check ran: one PRIMARY, COMPLETED, all running — but on the old
    # task definition, and the events since the apply say so.
    done = deployment("back", "PRIMARY", "COMPLETED", "ECS deployment ecs-svc/back completed.", td="api:6")
    events = [(at(9), "(service araquem-stage-api) has reached a steady state."),
              (at(5), "(service araquem-stage-api) rolling back to deployment ecs-svc/old.")]
    code, out, _ = run_wait([[service("api", [done], events=events)]])
    assert code == 1 and "rolling back to deployment ecs-svc/old" in out


def test_a_rollback_before_this_deploy_does_not_fail_it():
    events = [(at(-30), "(service araquem-stage-api) rolling back to deployment ecs-svc/older.")]
    code, _, _ = run_wait([[service("api", [STEADY], events=events)]])
    assert code == 0


def test_times_out_with_the_events():
    stuck = [service("ollama", [deployment("new", "PRIMARY", "IN_PROGRESS", running=0)], running=0,
                     events=[(at(3), "(service araquem-stage-ollama) was unable to place a task because no "
                                     "container instance met all of its requirements.")])]
    code, out, slept = run_wait([stuck] * 3, timeout=30)
    assert code == 1 and slept == [15, 15]
    assert "::error title=rollout timed out: ollama::rollout IN_PROGRESS" in out
    assert "unable to place a task" in out


def test_describes_at_most_10_services_per_call():
    names = [f"svc{i:02d}" for i in range(12)]
    code, out, _ = run_wait([[service(n, [STEADY]) for n in names]])
    assert code == 0 and "all 12 services steady" in out  # the Stubber enforced batches of 10 and 2


@pytest.mark.parametrize("text,ok", [("2026-11-29T10:00:00Z", True), ("yesterday", False)])
def test_since_must_be_a_time(text, ok):
    if ok:
        assert rollout.parse_since(text) == SINCE
    else:
        with pytest.raises(Exception, match="not an ISO 8601 time"):
            rollout.parse_since(text)
