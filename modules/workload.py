"""Workload: one task owner of the env file (service, job or scheduled) and every container in its task.

Per task owner, composed from one module per concern (all created in this construct's scope, so the
logical ids are `workload_<name>_<id>`):
  task_definition.py  one log group per container; the task definition (awsvpc, EC2) whose containers
                      are the owner plus its init/sidecar containers
  task_secrets.py     the secrets and parameters each container reads
  task_roles.py       an execution role that reads exactly those, a task role with only its EFS access points
  alarms.py           a metric filter + alarm per container with `failure_alarm`
and then by kind
  kind service   -> ecs_service.py: ECS service (Service Connect server/client, circuit breaker with
                    rollback, ALB target when it is alb.target, CPU target-tracking autoscaling from `scaling`)
  kind job       -> schedule.py: task definition only, plus a `<name>_run_task_command` output
  kind scheduled -> schedule.py: the same, plus an EventBridge Scheduler schedule and its role
"""

from __future__ import annotations

from constructs import Construct

from modules.failure_alarms import failure_alarms
from modules.config import EnvConfig, Kind, Service
from modules.ecs_service import ecs_service
from modules.schedule import run_task_command, schedule
from modules.task_definition import log_groups, task_definition
from modules.task_owner import TaskOwner, WorkloadDeps
from modules.task_roles import execution_role, task_role
from modules.task_secrets import secret_refs

__all__ = ["Workload", "WorkloadDeps"]


class Workload(Construct):
    """Exposes task_definition (its .arn), task_role, execution_role, log_group_names (container -> name),
    service_name (kind service) and run_task_command (job/scheduled)."""

    def __init__(self, scope: Construct, id_: str, *, cfg: EnvConfig, name: str, deps: WorkloadDeps):
        super().__init__(scope, id_)
        task = TaskOwner(cfg=cfg, name=name, deps=deps)
        self.cfg, self.name, self.deps = cfg, name, deps
        self.owner: Service = task.owner
        self.containers: dict[str, Service] = task.containers
        self.prefix = task.prefix
        self.service_name: str | None = None
        self.service = None  # the EcsService (kind service)
        self.run_task_command: str | None = None

        # creation order is part of the output (resources of a type are listed in it): keep it
        self.log_groups = log_groups(self, task)
        self.log_group_names = {cname: lg.name for cname, lg in self.log_groups.items()}
        self.secret_refs = {cname: secret_refs(task, cname) for cname in self.containers}
        self.execution_role = execution_role(self, task, self.log_groups, self.secret_refs)
        self.task_role = task_role(self, task)
        self.task_definition = task_definition(
            self, task, log_group_names=self.log_group_names, secret_refs=self.secret_refs,
            execution_role_arn=self.execution_role.arn, task_role_arn=self.task_role.arn,
        )

        failure_alarms(self, task, self.log_groups)

        if self.owner.kind == Kind.service:
            service = ecs_service(self, task, task_definition_arn=self.task_definition.arn,
                                  log_group_name=self.log_group_names[name])
            self.service, self.service_name = service, service.name
        else:
            self.run_task_command = run_task_command(self, task)
            if self.owner.kind == Kind.scheduled:
                schedule(self, task, task_definition_arn=self.task_definition.arn,
                         execution_role_arn=self.execution_role.arn, task_role_arn=self.task_role.arn)
