"""What every piece of a Workload reads: the constructs it builds on (WorkloadDeps) and one task owner
of the env file with its containers, volumes and placement (TaskOwner).

The pieces (task_roles, task_definition, ecs_service, schedule) are plain functions that create their
resources in the Workload's scope, so the construct paths, and with them the logical ids in the
synthesized JSON, are those of the Workload (modules/workload.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from modules.config import EnvConfig, Service

if TYPE_CHECKING:  # the constructs a Workload builds on (imported for annotations only)
    from modules.alb import Alb
    from modules.cache import Cache
    from modules.cluster import Cluster
    from modules.database import Database
    from modules.network import Network
    from modules.notifications import Notifications
    from modules.parameters import Parameters
    from modules.registry import Registry
    from modules.schedule_failures import ScheduleFailures
    from modules.secrets import Secrets
    from modules.security_groups import SecurityGroups
    from modules.volumes import Volumes


@dataclass(frozen=True)
class WorkloadDeps:
    """The constructs a Workload builds on (docs/architecture.md) plus the workload-wide pieces."""

    network: Network
    security: SecurityGroups
    secrets: Secrets
    parameters: Parameters
    registry: Registry
    cluster: Cluster
    volumes: Volumes
    alb: Alb | None = None
    cache: Cache | None = None
    database: Database | None = None
    namespace_arn: str | None = None  # Service Connect (Cloud Map HTTP) namespace
    dns_namespace_id: str | None = None  # Cloud Map private DNS namespace for jobs (dns_discovered(cfg))
    account_id: str | None = None  # confused-deputy conditions in trust policies
    partition: str = "aws"
    notifications: Notifications | None = None  # where every alarm notifies (env file `alarms`)
    schedule_failures: ScheduleFailures | None = None  # schedule group + dead-letter queue (scheduled tasks)


@dataclass(frozen=True)
class TaskOwner:
    """One task owner (service, job or scheduled): its task's containers, volumes and placement."""

    cfg: EnvConfig
    name: str
    deps: WorkloadDeps

    @property
    def owner(self) -> Service:
        return self.cfg.services[self.name]

    @cached_property
    def containers(self) -> dict[str, Service]:
        """The owner plus its init/sidecar containers, in env-file order."""
        return self.cfg.containers_of(self.name)

    @property
    def prefix(self) -> str:
        """Name prefix of the owner's AWS resources (task family, roles, service, schedule)."""
        return f"{self.cfg.name}-{self.name}"

    def mounted_volumes(self) -> dict[str, bool]:
        """volume -> read-only (true only when every mount of it in the task is read-only)."""
        mounted: dict[str, bool] = {}
        for svc in self.containers.values():
            for m in svc.volumes:
                mounted[m.volume] = mounted.get(m.volume, True) and m.read_only
        return mounted

    def capacity_provider(self) -> str:
        return self.deps.cluster.capacity_provider_name(self.cfg.capacity_provider_of(self.name))

    def subnets(self) -> list[str]:
        return list(self.deps.network.private_subnet_ids)

    def security_groups(self) -> list[str]:
        return [self.deps.security.for_service(self.name)]
