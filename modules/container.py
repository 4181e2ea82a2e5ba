"""ECS container definitions from the env file, as plain Python (no cdktf): typed in, JSON string out.

The Workload construct hands in the values only Terraform knows (image URI, ARNs, log group name) as
cdktf token strings; everything that comes from the env file is a *literal* and is escaped here, because
Terraform reads `${...}` and `%{...}` inside a JSON string as interpolation (a health check such as
`test -n "${HOME}"` would otherwise break `terraform validate`). Output is sorted, so two synths are
byte-identical.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from modules.config import EnvConfig, Kind, Service

LOG_DRIVER = "awslogs"
TMP_PATH = "/tmp"  # writable scratch space for containers with a read-only root filesystem
# ECS container restart policy: a sidecar loop that crashes is restarted in place instead of
# running degraded; the period is the ECS minimum that still lets a crash loop be noticed.
SIDECAR_RESTART_ATTEMPT_PERIOD = 60
APP_PROTOCOLS = {"http": "http", "http2": "http2", "grpc": "grpc"}  # "tcp": no L7 protocol

# dependsOn conditions (ECS): an init container must finish, a container with a health check must be
# healthy, anything else only started.
CONDITION_SUCCESS, CONDITION_HEALTHY, CONDITION_START = "SUCCESS", "HEALTHY", "START"


def literal(value: str) -> str:
    """An env-file string made safe inside a Terraform string (no accidental interpolation)."""
    return value.replace("${", "$${").replace("%{", "%%{")


def port_name(service_name: str, port: int, explicit: str | None) -> str:
    """The Service Connect port name: the env file's, or `<service>-<port>`."""
    return explicit or f"{service_name}-{port}"


def dependency_condition(target: Service) -> str:
    if target.kind == Kind.init:
        return CONDITION_SUCCESS
    return CONDITION_HEALTHY if target.health_check else CONDITION_START


def in_task_dependencies(cfg: EnvConfig, container: str) -> dict[str, str]:
    """`depends_on` targets inside the same task, with their ECS condition.

    Targets in other tasks are left out on purpose: ECS cannot order the start of separate services
    (docs/workloads.md: the deploy order and the health-gated containers cover it).
    """
    owner = cfg.task_owner(container)
    siblings = cfg.containers_of(owner)
    return {
        dep: dependency_condition(siblings[dep])
        for dep in sorted(cfg.services[container].depends_on)
        if dep in siblings
    }


@dataclass(frozen=True)
class ContainerInputs:
    """Values resolved by the Workload construct (tokens allowed) for one container."""

    image: str
    log_group: str
    region: str
    secrets: Mapping[str, str] = field(default_factory=dict)  # env var -> valueFrom ARN (SSM or Secrets Manager)
    depends_on: Mapping[str, str] = field(default_factory=dict)  # container -> condition
    volume_names: Mapping[str, str] = field(default_factory=dict)  # env-file volume -> task volume name
    tmp_volume: str | None = None  # task-scoped volume mounted at /tmp (read-only root filesystem)
    environment: Mapping[str, str] = field(default_factory=dict)  # derived by the generator (Grafana's login)


def container_definition(name: str, svc: Service, inputs: ContainerInputs) -> dict:
    """One container definition in ECS API shape (camelCase keys)."""
    definition: dict = {
        "name": name,
        "image": inputs.image,
        "essential": svc.is_essential,
        "cpu": svc.cpu_units,
        "memory": svc.memory,
        "privileged": False,
        "readonlyRootFilesystem": svc.read_only_root,
        # tini as PID 1: signals reach the process and zombies are reaped (ECS Exec needs it too).
        "linuxParameters": {"initProcessEnabled": True},
        "environment": [{"name": k, "value": literal(v)}
                        for k, v in sorted({**inputs.environment, **svc.environment}.items())],
        "secrets": [{"name": k, "valueFrom": v} for k, v in sorted(inputs.secrets.items())],
        "portMappings": [_port_mapping(name, pm) for pm in svc.ports],
        "mountPoints": _mount_points(name, svc, inputs),
        "logConfiguration": {
            "logDriver": LOG_DRIVER,
            "options": {
                "awslogs-group": inputs.log_group,
                "awslogs-region": inputs.region,
                "awslogs-stream-prefix": "ecs",
            },
        },
    }
    for key in ("environment", "secrets", "portMappings", "mountPoints"):
        if not definition[key]:
            del definition[key]  # ECS omits empty lists; keeping them out avoids plan noise
    definition.update(_optional_settings(svc, inputs))
    return definition


def _mount_points(name: str, svc: Service, inputs: ContainerInputs) -> list[dict]:
    """The service's named volumes, plus the writable tmp volume a read-only root filesystem needs."""
    points = [
        {"sourceVolume": inputs.volume_names[m.volume], "containerPath": literal(m.path), "readOnly": m.read_only}
        for m in svc.volumes
    ]
    if svc.read_only_root:
        if inputs.tmp_volume is None:
            raise ValueError(f"container '{name}' has a read-only root filesystem but no tmp volume")
        points.append({"sourceVolume": inputs.tmp_volume, "containerPath": TMP_PATH, "readOnly": False})
    return points


def _optional_settings(svc: Service, inputs: ContainerInputs) -> dict:
    """Keys ECS takes only when set (absent rather than empty: no plan noise)."""
    settings: dict = {}
    if svc.gpu:
        settings["resourceRequirements"] = [{"type": "GPU", "value": str(svc.gpu)}]
    if svc.user:
        settings["user"] = literal(svc.user)
    if svc.command:
        settings["command"] = [literal(part) for part in svc.command]
    if svc.stop_timeout:
        settings["stopTimeout"] = svc.stop_timeout
    if svc.health_check:
        hc = svc.health_check
        settings["healthCheck"] = {
            "command": [literal(part) for part in hc.command],
            "interval": hc.interval,
            "timeout": hc.timeout,
            "retries": hc.retries,
            "startPeriod": hc.start_period,
        }
    if inputs.depends_on:
        settings["dependsOn"] = [
            {"containerName": dep, "condition": cond} for dep, cond in sorted(inputs.depends_on.items())
        ]
    if svc.kind == Kind.sidecar:
        settings["restartPolicy"] = {
            "enabled": True,
            "ignoredExitCodes": [],
            "restartAttemptPeriod": SIDECAR_RESTART_ATTEMPT_PERIOD,
        }
    return settings


def _port_mapping(service_name: str, pm) -> dict:
    mapping = {
        "name": port_name(service_name, pm.port, pm.name),
        "containerPort": pm.port,
        "hostPort": pm.port,  # awsvpc: host port equals container port
        "protocol": "tcp",
    }
    if pm.protocol in APP_PROTOCOLS:
        mapping["appProtocol"] = APP_PROTOCOLS[pm.protocol]
    return mapping


def render(definitions: list[dict]) -> str:
    """The `container_definitions` string: sorted keys, compact, stable."""
    return json.dumps(definitions, sort_keys=True, separators=(",", ":"))


def task_size(services: Mapping[str, Service]) -> tuple[int, int]:
    """Task-level (cpu units, memory MiB): the sum of its containers (EC2 launch type)."""
    return sum(s.cpu_units for s in services.values()), sum(s.memory for s in services.values())
