"""Network rules: availability zones of the region; subnets hold what the stack puts in them, counted
from the config (worst case: all in one AZ)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.defaults import (
    ALB_MIN_FREE_ADDRESSES,
    ALB_MIN_SUBNET_PREFIX,
    INTERFACE_ENDPOINT_SERVICES,
    SUBNET_RESERVED_ADDRESSES,
)
from modules.config.services import Kind

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig


def availability_zones_are_in_the_region(cfg: EnvConfig) -> list[Problem]:
    """Zone names in network.availability_zones belong to the env file's region (zone ids are checked at plan)."""
    if cfg.network.zones_by_id:
        return []
    return [(("network", "availability_zones", i), f"'{zone}' is not a zone of region {cfg.region} "
             f"(expected {cfg.region}a, {cfg.region}b, ...)")
            for i, zone in enumerate(cfg.network.availability_zones) if zone[:-1] != cfg.region]


def private_subnet_needs(cfg: EnvConfig) -> dict[str, int]:
    """Addresses one private subnet may have to hold, by what holds them. Worst case: every instance and
    task lands in one AZ (an AZ outage, or placement packing them). Each interface endpoint has one ENI
    per subnet; EFS one mount target per AZ; every ElastiCache node, ECS instance (its primary ENI) and
    awsvpc task (its own ENI) one address; a rolling deployment runs up to maximumPercent of the tasks."""
    endpoints = cfg.network.endpoints
    needs = {
        "interface endpoints": sum(len(services) for switch, services in INTERFACE_ENDPOINT_SERVICES.items()
                                   if getattr(endpoints, switch)),
        "EFS mount target": 1 if cfg.volumes else 0,
        "cache nodes": cfg.cache.num_cache_clusters if cfg.cache else 0,
        "ECS instances": sum(cp.max_size for cp in cfg.cluster.capacity_providers.values()),
    }
    tasks = 0
    for owner, svc in cfg.task_owners().items():
        if svc.kind == Kind.service:
            most = svc.scaling.max if svc.scaling else svc.desired_count
            tasks += -(-most * cfg.deployment_of(owner)[1] // 100)
        else:
            tasks += 1  # a job or scheduled run: one task at a time
    needs["awsvpc tasks (at scaling max, during deployments)"] = tasks
    return needs


def subnets_hold_what_they_must(cfg: EnvConfig) -> list[Problem]:
    """Private subnets have room (after the 5 addresses AWS reserves) for the interface endpoints, the EFS
    mount target, cache nodes, instances and every awsvpc task in one AZ; public subnets are at least /27
    with 8 free addresses for the ALB (ELB user guide) besides the NAT gateway."""
    prefix, problems = cfg.network.subnet_prefix, []
    usable = 2 ** (32 - prefix) - SUBNET_RESERVED_ADDRESSES
    needs = private_subnet_needs(cfg)
    total = sum(needs.values())
    if total > usable:
        fitting = next(p for p in range(prefix, 0, -1) if 2 ** (32 - p) - SUBNET_RESERVED_ADDRESSES >= total)
        detail = ", ".join(f"{n} {what}" for what, n in needs.items() if n)
        problems.append((("network", "subnet_prefix"),
                         f"a /{prefix} private subnet has {usable} usable addresses ({2 ** (32 - prefix)} minus "
                         f"{SUBNET_RESERVED_ADDRESSES} AWS reserves) but may have to hold {total} ({detail}); "
                         f"allowed: subnet_prefix /{fitting} or larger (a smaller number)"))
    nat = 1
    if prefix > ALB_MIN_SUBNET_PREFIX or usable - nat < ALB_MIN_FREE_ADDRESSES:
        problems.append((("network", "subnet_prefix"),
                         f"the ALB's public subnets are /{prefix}; ELB needs subnets of at least "
                         f"/{ALB_MIN_SUBNET_PREFIX} with {ALB_MIN_FREE_ADDRESSES} free addresses: allowed: "
                         f"subnet_prefix /{ALB_MIN_SUBNET_PREFIX} or larger (a smaller number)"))
    return problems
