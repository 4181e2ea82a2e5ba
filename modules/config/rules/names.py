"""Generated AWS resource names: each fits the limit AWS documents for that resource."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.defaults import (
    CACHE_ID_MAX,
    CACHE_ID_SUFFIX,
    DNS_LABEL_MAX,
    DNS_NAME_MAX,
    ECS_NAME_MAX,
    EFS_CREATION_TOKEN_MAX,
    EVENT_RULE_NAME_MAX,
    IAM_ROLE_NAME_MAX,
    LOG_GROUP_NAME_MAX,
    RESERVED_CAPACITY_PROVIDER_PREFIXES,
    SCHEDULE_GROUP_NAME_MAX,
    SCHEDULE_NAME_MAX,
    SQS_QUEUE_NAME_MAX,
)
from modules.config.services import Kind
from modules.config.wiring import dns_discovered

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig


def cache_id_fits(cfg: EnvConfig) -> list[Problem]:
    """The ElastiCache replication group id `<name>-redis` is at most 40 characters without '--'."""
    cache_id = cfg.name + CACHE_ID_SUFFIX
    if cfg.cache and (len(cache_id) > CACHE_ID_MAX or "--" in cache_id):
        return [(("cache",), f"ElastiCache id '{cache_id}' must be at most {CACHE_ID_MAX} "
                 "characters without '--'; shorten project/environment names")]
    return []


def capacity_provider_names_are_not_reserved(cfg: EnvConfig) -> list[Problem]:
    """Capacity provider names `<project>-<environment>-<key>` do not start with aws, ecs or fargate
    (ECS CreateCapacityProvider reserves those prefixes)."""
    name = f"{cfg.name}-"
    reserved = [p for p in RESERVED_CAPACITY_PROVIDER_PREFIXES if name.lower().startswith(p)]
    if not reserved:
        return []
    return [(("project",), f"capacity provider names start with '{cfg.name}-', and ECS reserves names starting "
             f"with {', '.join(repr(p) for p in RESERVED_CAPACITY_PROVIDER_PREFIXES)}; allowed: a project name "
             "that does not start with one of them")]


def generated_names(cfg: EnvConfig) -> list[tuple[tuple, str, str, int]]:
    """(field path to shorten, resource, generated name, AWS length limit) of every generated name whose
    limit project/environment/service names can overflow. ALB and target group names (32) and the flow-log
    role are shortened with a hash instead (modules/network.py fit_name), so they never overflow."""
    found = [
        (("project",), "IAM role (ECS container instances)", f"{cfg.name}-ecs-instance", IAM_ROLE_NAME_MAX),
        (("project",), "ECS cluster", cfg.name, ECS_NAME_MAX),
    ]
    if cfg.volumes:
        found.append((("volumes",), "EFS creation token", f"{cfg.name}-volumes", EFS_CREATION_TOKEN_MAX))
    for key in cfg.cluster.capacity_providers:
        found.append((("cluster", "capacity_providers", key), "ECS capacity provider", f"{cfg.name}-{key}",
                      ECS_NAME_MAX))
    if any(svc.kind == Kind.scheduled for svc in cfg.task_owners().values()):  # modules/schedule_failures.py
        found += [(("project",), "EventBridge Scheduler schedule group", cfg.name, SCHEDULE_GROUP_NAME_MAX),
                  (("project",), "SQS queue (scheduler dead letters)", f"{cfg.name}-scheduler-dlq",
                   SQS_QUEUE_NAME_MAX),
                  (("project",), "EventBridge rule (failed scheduled runs)", f"{cfg.name}-scheduled-failures",
                   EVENT_RULE_NAME_MAX)]
    for owner, svc in cfg.task_owners().items():
        prefix, where = f"{cfg.name}-{owner}", ("services", owner)
        found += [
            (where, "ECS task definition family", prefix, ECS_NAME_MAX),
            (where, "IAM role (task execution)", f"{prefix}-execution", IAM_ROLE_NAME_MAX),
            (where, "IAM role (task)", f"{prefix}-task", IAM_ROLE_NAME_MAX),
        ]
        if svc.kind == Kind.service:
            found.append((where, "ECS service", prefix, ECS_NAME_MAX))
        if svc.kind == Kind.scheduled:
            found += [(where, "EventBridge Scheduler schedule", prefix, SCHEDULE_NAME_MAX),
                      (where, "IAM role (scheduler)", f"{prefix}-scheduler", IAM_ROLE_NAME_MAX)]
        for cname in cfg.containers_of(owner):
            found.append((("services", cname), "CloudWatch log group", f"/ecs/{cfg.name}/{cname}",
                          LOG_GROUP_NAME_MAX))
    return found


def generated_names_fit(cfg: EnvConfig) -> list[Problem]:
    """Every generated name fits its resource's AWS length limit (IAM role 64, EventBridge Scheduler
    schedule and schedule group 64, EventBridge rule 64, SQS queue 80, EFS creation token 64, ECS names 255,
    log group 512)."""
    return [(path, f"{resource} name '{name}' is {len(name)} characters; AWS allows at most {limit}: shorten "
             f"project/environment{' or the service name' if path[0] == 'services' else ''} "
             f"(by {len(name) - limit})")
            for path, resource, name, limit in generated_names(cfg) if len(name) > limit]


def dns_namespace_fits(cfg: EnvConfig) -> list[Problem]:
    """The private DNS namespace (discovery_dns_namespace, default `<project>-<environment>.internal`) is a
    DNS name: labels of at most 63 characters, 253 in all (Cloud Map CreatePrivateDnsNamespace, RFC 1035)."""
    if not dns_discovered(cfg):  # created only when a job reaches a service by DNS
        return []
    name = cfg.dns_namespace
    long_labels = [label for label in name.split(".") if not 1 <= len(label) <= DNS_LABEL_MAX]
    if not long_labels and len(name) <= DNS_NAME_MAX:
        return []
    field = "discovery_dns_namespace" if cfg.discovery_dns_namespace else "project"
    return [((field,), f"DNS namespace '{name}' needs labels of 1-{DNS_LABEL_MAX} characters and at most "
             f"{DNS_NAME_MAX} in all (Cloud Map private DNS); too long: {long_labels or [name]}; shorten "
             "project/environment or set discovery_dns_namespace")]
