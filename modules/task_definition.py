"""The ECS task definition of one task owner: its containers (modules/container.py), their log
groups and volumes, placed as awsvpc on EC2.

Volumes: each mounted EFS volume through its own access point with TLS and IAM authorization, and a
task-scoped scratch volume for every container with a read-only root filesystem.
The resources are created in the Workload's scope (ids as before: log_group_<container>, task_definition).
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.ecs_task_definition import (
    EcsTaskDefinition,
    EcsTaskDefinitionVolume,
    EcsTaskDefinitionVolumeDockerVolumeConfiguration,
    EcsTaskDefinitionVolumeEfsVolumeConfiguration,
    EcsTaskDefinitionVolumeEfsVolumeConfigurationAuthorizationConfig,
)
from constructs import Construct

from modules import container as containers
from modules.config.grafana import grafana_environment
from modules.task_owner import TaskOwner
from modules.task_secrets import SecretRef


def log_groups(scope: Construct, task: TaskOwner) -> dict[str, CloudwatchLogGroup]:
    """One log group per container (container -> log group), kept `logs.retention_days`."""
    cfg = task.cfg
    return {
        cname: CloudwatchLogGroup(
            scope, f"log_group_{cname}", name=f"/ecs/{cfg.name}/{cname}", retention_in_days=cfg.logs.retention_days
        )
        for cname in task.containers
    }


def task_definition(scope: Construct, task: TaskOwner, *, log_group_names: Mapping[str, str],
                    secret_refs: Mapping[str, list[SecretRef]], execution_role_arn: str,
                    task_role_arn: str) -> EcsTaskDefinition:
    """The task: every container of the owner, sized by their sum (modules/container.py task_size)."""
    cfg, deps = task.cfg, task.deps
    volumes = _efs_volumes(task)
    definitions = []
    for cname, svc in task.containers.items():
        tmp_volume = f"{cname}-tmp" if svc.read_only_root else None
        if tmp_volume:
            volumes.append(_scratch_volume(tmp_volume))
        inputs = containers.ContainerInputs(
            image=deps.registry.image(cname),
            log_group=log_group_names[cname],
            region=cfg.region,
            secrets={r.env: r.value_from for r in secret_refs[cname]},
            depends_on=containers.in_task_dependencies(cfg, cname),
            volume_names={v: v for v in task.mounted_volumes()},
            tmp_volume=tmp_volume,
            environment=grafana_environment(cfg, cname),
        )
        definitions.append(containers.container_definition(cname, svc, inputs))
    cpu, memory = containers.task_size(task.containers)
    return EcsTaskDefinition(
        scope,
        "task_definition",
        family=task.prefix,
        network_mode="awsvpc",
        requires_compatibilities=["EC2"],
        cpu=str(cpu),
        memory=str(memory),
        execution_role_arn=execution_role_arn,
        task_role_arn=task_role_arn,
        container_definitions=containers.render(definitions),
        volume=volumes or None,
    )


def _efs_volumes(task: TaskOwner) -> list[EcsTaskDefinitionVolume]:
    """The task's EFS volumes: TLS in transit, mounted through the volume's access point with IAM."""
    volumes = task.deps.volumes
    return [
        EcsTaskDefinitionVolume(
            name=volume,
            efs_volume_configuration=EcsTaskDefinitionVolumeEfsVolumeConfiguration(
                file_system_id=volumes.file_system_id,
                transit_encryption="ENABLED",
                authorization_config=EcsTaskDefinitionVolumeEfsVolumeConfigurationAuthorizationConfig(
                    access_point_id=volumes.access_point_id(volume), iam="ENABLED"
                ),
            ),
        )
        for volume in sorted(task.mounted_volumes())
    ]


def _scratch_volume(name: str) -> EcsTaskDefinitionVolume:
    # Task-scoped Docker volume for a read-only root filesystem: removed with the task, and
    # Docker copies the image's /tmp (mode 1777) into it, so a non-root user can write there.
    return EcsTaskDefinitionVolume(
        name=name,
        docker_volume_configuration=EcsTaskDefinitionVolumeDockerVolumeConfiguration(scope="task", driver="local"),
    )
