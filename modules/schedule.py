"""How a job or scheduled task owner runs: the `<name>_run_task_command` output (both kinds) and, for
`kind: scheduled`, an EventBridge Scheduler schedule with a role that may run only this task.

The resources are created in the Workload's scope (ids as before: run_task_command, scheduler_*, schedule).
"""

from __future__ import annotations

from cdktf import Fn, TerraformOutput
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.scheduler_schedule import (
    SchedulerSchedule,
    SchedulerScheduleFlexibleTimeWindow,
    SchedulerScheduleTarget,
    SchedulerScheduleTargetDeadLetterConfig,
    SchedulerScheduleTargetEcsParameters,
    SchedulerScheduleTargetEcsParametersCapacityProviderStrategy,
    SchedulerScheduleTargetEcsParametersNetworkConfiguration,
    SchedulerScheduleTargetRetryPolicy,
)
from constructs import Construct

from modules.schedule_failures import task_group
from modules.task_owner import TaskOwner
from modules.task_roles import ECS_TASKS_PRINCIPAL, assume_role_policy, condition, statement

SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"
SCHEDULE_RETRY_ATTEMPTS = 2


def run_task_command(scope: Construct, task: TaskOwner) -> str:
    """`aws ecs run-task` for the latest revision, placed like a service; also a flat stack output."""
    subnets = Fn.join(",", task.subnets())
    groups = Fn.join(",", task.security_groups())
    command = (
        f"aws ecs run-task --region {task.cfg.region} --cluster {task.deps.cluster.cluster_name} "
        f"--task-definition {task.prefix} "
        f"--capacity-provider-strategy capacityProvider={task.capacity_provider()},weight=1 "
        f"--network-configuration 'awsvpcConfiguration={{subnets=[{subnets}],securityGroups=[{groups}],"
        f"assignPublicIp=DISABLED}}'"
    )
    output = TerraformOutput(
        scope, "run_task_command", value=command,
        description=f"Runs the {task.name} {task.owner.kind.value} once (latest task definition revision)",
    )
    output.override_logical_id(f"{task.name.replace('-', '_')}_run_task_command")
    return command


def schedule(scope: Construct, task: TaskOwner, *, task_definition_arn: str, execution_role_arn: str,
             task_role_arn: str) -> SchedulerSchedule:
    """Runs one copy of the task on `schedule` in `schedule_timezone`, retried SCHEDULE_RETRY_ATTEMPTS times."""
    failures = task.deps.schedule_failures
    role = _scheduler_role(scope, task, task_definition_arn=task_definition_arn,
                           passed_roles=[execution_role_arn, task_role_arn],
                           dead_letter_arn=failures.dead_letter_arn if failures else None)
    return SchedulerSchedule(
        scope,
        "schedule",
        name=task.prefix,
        # the stack's group (its Scheduler metrics alarm) and dead-letter queue: modules/schedule_failures.py
        group_name=failures.group_name if failures else None,
        description=task.owner.description or f"runs {task.name}",
        schedule_expression=task.owner.schedule,
        schedule_expression_timezone=task.owner.schedule_timezone,
        flexible_time_window=SchedulerScheduleFlexibleTimeWindow(mode="OFF"),
        target=SchedulerScheduleTarget(
            arn=task.deps.cluster.cluster_arn,
            role_arn=role.arn,
            retry_policy=SchedulerScheduleTargetRetryPolicy(maximum_retry_attempts=SCHEDULE_RETRY_ATTEMPTS),
            dead_letter_config=(SchedulerScheduleTargetDeadLetterConfig(arn=failures.dead_letter_arn)
                                if failures else None),
            ecs_parameters=SchedulerScheduleTargetEcsParameters(
                task_definition_arn=task_definition_arn,
                task_count=1,
                group=task_group(task.cfg, task.name),  # what the failed-run event rule matches
                capacity_provider_strategy=[SchedulerScheduleTargetEcsParametersCapacityProviderStrategy(
                    capacity_provider=task.capacity_provider(), weight=1, base=0)],
                network_configuration=SchedulerScheduleTargetEcsParametersNetworkConfiguration(
                    subnets=task.subnets(), security_groups=task.security_groups(), assign_public_ip=False
                ),
                enable_ecs_managed_tags=True,
                propagate_tags="TASK_DEFINITION",
            ),
        ),
    )


def _schedule_group_arn(task: TaskOwner) -> tuple[str, str]:
    """The group the schedule is in (the stack's, else Scheduler's `default`)."""
    failures = task.deps.schedule_failures
    group = failures.group_name if failures else "default"
    return ("ArnEquals", f"arn:{task.deps.partition}:scheduler:{task.cfg.region}:{task.deps.account_id}:"
                         f"schedule-group/{group}")


def _scheduler_role(scope: Construct, task: TaskOwner, *, task_definition_arn: str,
                    passed_roles: list[str], dead_letter_arn: str | None) -> IamRole:
    """The role the scheduler assumes: run this task definition in this cluster, pass its two roles to ECS,
    send a run it gave up on to the dead-letter queue (EventBridge Scheduler user guide, "Configuring a
    dead-letter queue": the execution role needs sqs:SendMessage on the queue)."""
    role = IamRole(
        scope,
        "scheduler_role",
        name=f"{task.prefix}-scheduler",
        description=f"EventBridge Scheduler: run {task.name}'s task on its schedule",
        # EventBridge Scheduler user guide, "Confused deputy prevention": aws:SourceArn is the schedule GROUP's ARN
        assume_role_policy=assume_role_policy(scope, task.deps, SCHEDULER_PRINCIPAL, "scheduler_trust",
                                              source_arn=_schedule_group_arn(task)),
    )
    doc = DataAwsIamPolicyDocument(
        scope,
        "scheduler_policy_document",
        statement=[
            statement("RunOwnTask", ["ecs:RunTask"], [task_definition_arn],
                      [condition("ArnEquals", "ecs:cluster", [task.deps.cluster.cluster_arn])]),
            statement("PassOwnRoles", ["iam:PassRole"], passed_roles,
                      [condition("StringEquals", "iam:PassedToService", [ECS_TASKS_PRINCIPAL])]),
            statement("TagOwnTasks", ["ecs:TagResource"], ["*"],
                      [condition("StringEquals", "ecs:CreateAction", ["RunTask"])]),
            *([statement("SendFailedRunsToDeadLetterQueue", ["sqs:SendMessage"], [dead_letter_arn])]
              if dead_letter_arn else []),
        ],
    )
    IamRolePolicy(scope, "scheduler_policy", name="run-task", role=role.id, policy=doc.json)
    return role
