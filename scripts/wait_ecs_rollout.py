#!/usr/bin/env python3
"""After an apply: wait until every ECS service of the cluster has finished its rollout; fail on a rollback.

    python scripts/wait_ecs_rollout.py --cluster araquem-stage --region us-east-1 --since 2026-11-29T10:00:00Z

Terraform does not wait (the services set wait_for_steady_state = false, so one slow service cannot hold
the whole apply), and the deployment circuit breaker (enabled with rollback on every service) rolls a
crash-looping release back on its own: without this check the deploy job would be green while the old
version keeps running. A service is done when it has one deployment, PRIMARY, rolloutState COMPLETED, and
runningCount == desiredCount with nothing pending. It has FAILED when a deployment's rolloutState is FAILED,
or when a deployment or an event since --since (taken before the apply) says the circuit breaker rolled it
back. On failure or timeout the service's events since --since are printed, and the exit code is 1.

ECS API limits relied on: DescribeServices takes at most 10 services per call; ListServices pages of 100.
Exit codes: 0 all steady, 1 a rollout failed or timed out, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone

DESCRIBE_BATCH = 10  # DescribeServices: "You may specify up to 10 services to describe"
EVENTS_SHOWN = 20
ROLLBACK_MARKERS = ("rolling back", "circuit breaker")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def list_services(ecs, cluster: str) -> list[str]:
    arns: list[str] = []
    for page in ecs.get_paginator("list_services").paginate(cluster=cluster, PaginationConfig={"PageSize": 100}):
        arns += page["serviceArns"]
    return sorted(arns)


def describe(ecs, cluster: str, arns: list[str]) -> list[dict]:
    services: list[dict] = []
    for i in range(0, len(arns), DESCRIBE_BATCH):
        resp = ecs.describe_services(cluster=cluster, services=arns[i:i + DESCRIBE_BATCH])
        if resp.get("failures"):
            raise RuntimeError(f"describe_services failures: {resp['failures']}")
        services += resp["services"]
    return services


def rollback_reason(service: dict, since: datetime) -> str | None:
    """Why this service's rollout failed, or None."""
    for dep in service.get("deployments", []):
        reason = dep.get("rolloutStateReason", "")
        if dep.get("rolloutState") == "FAILED":
            return f"deployment {dep.get('id')} FAILED: {reason}"
        if any(m in reason.lower() for m in ROLLBACK_MARKERS):
            return f"deployment {dep.get('id')}: {reason}"
    for event in service.get("events", []):
        if event["createdAt"] >= since and any(m in event["message"].lower() for m in ROLLBACK_MARKERS):
            return event["message"]
    return None


def pending_reason(service: dict) -> str | None:
    """Why this service is not steady yet, or None when it is."""
    deps = service.get("deployments", [])
    if len(deps) != 1:
        return f"{len(deps)} deployments (old tasks still draining or a new one starting)"
    dep = deps[0]
    if dep.get("rolloutState") not in (None, "COMPLETED"):  # absent: no ECS deployment controller info
        return f"rollout {dep.get('rolloutState')}"
    if service["runningCount"] != service["desiredCount"] or service.get("pendingCount", 0):
        return f"running {service['runningCount']}/{service['desiredCount']}, pending {service.get('pendingCount', 0)}"
    return None


def events_since(service: dict, since: datetime) -> list[str]:
    recent = [e for e in service.get("events", []) if e["createdAt"] >= since][:EVENTS_SHOWN]
    return [f"    {e['createdAt'].isoformat()} {e['message']}" for e in reversed(recent)]  # oldest first


def wait(ecs, cluster: str, since: datetime, timeout: float, interval: float, sleep=time.sleep,
         clock=time.monotonic, out=sys.stdout) -> int:
    deadline = clock() + timeout
    arns = list_services(ecs, cluster)
    if not arns:
        print(f"cluster {cluster}: no services", file=out)
        return EXIT_OK
    while True:
        services = [s for s in describe(ecs, cluster, arns) if s.get("status") == "ACTIVE"]
        failed = {s["serviceName"]: r for s in services if (r := rollback_reason(s, since))}
        if failed:
            for s in services:
                if s["serviceName"] in failed:
                    print(f"::error title=rollout failed: {s['serviceName']}::{failed[s['serviceName']]}", file=out)
                    print(f"  events of {s['serviceName']} since {since.isoformat()}:", file=out)
                    print("\n".join(events_since(s, since)) or "    (none)", file=out)
            return EXIT_FAILED
        waiting = {s["serviceName"]: r for s in services if (r := pending_reason(s))}
        if not waiting:
            print(f"cluster {cluster}: all {len(services)} services steady", file=out)
            return EXIT_OK
        if clock() >= deadline:
            for s in services:
                if s["serviceName"] in waiting:
                    print(f"::error title=rollout timed out: {s['serviceName']}::{waiting[s['serviceName']]}",
                          file=out)
                    print("\n".join(events_since(s, since)) or "    (no events)", file=out)
            return EXIT_FAILED
        print(f"waiting for {len(waiting)} service(s): " + "; ".join(f"{n}: {r}" for n, r in sorted(waiting.items())),
              file=out, flush=True)
        sleep(interval)


def parse_since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since {text!r}: not an ISO 8601 time (e.g. 2026-11-29T10:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--since", type=parse_since, required=True, help="UTC time taken before the apply")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds (default 1800)")
    parser.add_argument("--interval", type=float, default=15, help="seconds between checks (default 15)")
    args = parser.parse_args(argv)
    import boto3  # noqa: PLC0415  (dev dependency; the deploy job installs it)

    return wait(boto3.client("ecs", region_name=args.region), args.cluster, args.since, args.timeout, args.interval)


if __name__ == "__main__":
    sys.exit(main())
