"""Task definitions as ECS registers them: an essential container, a CPU reservation, at most 64 KiB."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.defaults import ECS_TASK_CPU_MIN_UNITS, TASK_DEFINITION_MAX_BYTES
from modules.config.environment import environment_of

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig

# Upper bounds of what the synth fills in and the env file does not show (bytes of JSON): an ARN prefix
# (`arn:aws-us-gov:secretsmanager:<region>:<account>:secret:` and the 7-character suffix ECR/Secrets
# Manager add), an image URI (`<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`, tag <= 128),
# and a container definition's fixed keys (cpu, memory, logConfiguration, linuxParameters, ...).
ARN_OVERHEAD_BYTES = 100
IMAGE_URI_BYTES = 320
CONTAINER_FIXED_BYTES = 700
PORT_MAPPING_BYTES = 160
MOUNT_POINT_BYTES = 80
DEPENDS_ON_BYTES = 60
HEALTH_CHECK_FIXED_BYTES = 100
# The task definition around the container definitions: family, role ARNs, cpu/memory, placement,
# and each EFS volume with its access point.
TASK_FIXED_BYTES = 2048
EFS_VOLUME_BYTES = 400


def task_has_an_essential_container(cfg: EnvConfig) -> list[Problem]:
    """Every task has at least one essential container (ECS RegisterTaskDefinition requires one)."""
    problems = []
    for owner in cfg.task_owners():
        containers = cfg.containers_of(owner)
        if not any(svc.is_essential for svc in containers.values()):
            problems.append((("services", owner, "essential"),
                             f"no container of task '{owner}' ({', '.join(containers)}) is essential; ECS needs "
                             "at least one: allowed: essential true (or omit it) on the task's own container"))
    return problems


def task_cpu_is_reserved(cfg: EnvConfig) -> list[Problem]:
    """A task owner reserves CPU: its `cpu` is above 0 (ECS gives a container with cpu 0 only the minimum 2 CPU
    shares, so the task's main process starves on a busy instance) and the task's sum is at least 128 units
    (0.125 vCPU), the smallest task-level CPU ECS accepts on EC2 (RegisterTaskDefinition `cpu`). 0 stays
    allowed on init/sidecar containers, which share the task's CPU."""
    problems = []
    for owner, svc in cfg.task_owners().items():
        total = sum(c.cpu_units for c in cfg.containers_of(owner).values())
        allowed = (f"allowed: cpu >= {ECS_TASK_CPU_MIN_UNITS / 1024} on the task's own container "
                   "(0 only on init/sidecar containers)")
        if svc.cpu_units == 0:
            problems.append((("services", owner, "cpu"),
                             f"cpu 0 on the container that owns task '{owner}': ECS gives it only 2 CPU shares, "
                             f"so it starves whenever the instance is busy; {allowed}"))
        elif total < ECS_TASK_CPU_MIN_UNITS:
            problems.append((("services", owner, "cpu"),
                             f"task '{owner}' reserves {total} CPU units; ECS on EC2 needs a task CPU of at least "
                             f"{ECS_TASK_CPU_MIN_UNITS} units; {allowed}"))
    return problems


def _json_len(value: str) -> int:
    return len(json.dumps(value))


def _injected(cfg: EnvConfig, cname: str) -> list[tuple[str, int]]:
    """(variable, length of its valueFrom) of every secret/parameter injected into one container."""
    svc, arn = cfg.services[cname], ARN_OVERHEAD_BYTES + len(cfg.name)
    found = [(env, arn + len(key)) for env, key in svc.parameters.items()]
    found += [(env, arn + len(ref) + 3) for env, ref in svc.secrets.items()]
    found += [(key, arn + len(secret) + len(key) + 3) for secret in svc.secrets_from
              for key in (cfg.secrets[secret].keys if secret in cfg.secrets else [])]
    if cfg.cache and cname in cfg.cache.allow_from:
        found.append((cfg.cache.url_variable, arn + 16))
    if cname in cfg.database.allow_from:
        db = cfg.database
        credentials = len(db.credentials_secret_arn or "") + ARN_OVERHEAD_BYTES
        found += [(db.env.host, arn + 16), (db.env.port, arn + 16), (db.env.database, arn + 16),
                  (db.env.username, credentials + len(db.username_key)),
                  (db.env.password, credentials + len(db.password_key))]
    return found


def container_definition_bytes(cfg: EnvConfig, cname: str) -> int:
    """An upper bound of one container definition's JSON size: every value from the env file at its real
    length, every value the synth fills in (image URI, ARNs) at its longest."""
    svc = cfg.services[cname]
    size = CONTAINER_FIXED_BYTES + IMAGE_URI_BYTES + 2 * _json_len(cname) + _json_len(f"/ecs/{cfg.name}/{cname}")
    size += sum(24 + _json_len(k) + _json_len(v) for k, v in environment_of(cfg, cname).items())
    size += sum(28 + _json_len(env) + value_from for env, value_from in _injected(cfg, cname))
    size += sum(PORT_MAPPING_BYTES + len(pm.name or "") for pm in svc.ports)
    size += sum(MOUNT_POINT_BYTES + _json_len(m.volume) + _json_len(m.path) for m in svc.volumes)
    size += sum(1 + _json_len(part) for part in svc.command or [])
    size += DEPENDS_ON_BYTES * len(svc.depends_on) + MOUNT_POINT_BYTES * svc.read_only_root
    if svc.health_check:
        size += HEALTH_CHECK_FIXED_BYTES + sum(1 + _json_len(p) for p in svc.health_check.command)
    return size


def task_definition_bytes(cfg: EnvConfig, owner: str) -> int:
    """An upper bound of the task definition's size as ECS measures it (the RegisterTaskDefinition request)."""
    containers = cfg.containers_of(owner)
    volumes = {m.volume for svc in containers.values() for m in svc.volumes}
    return (TASK_FIXED_BYTES + EFS_VOLUME_BYTES * len(volumes)
            + sum(container_definition_bytes(cfg, cname) for cname in containers))


def task_definition_fits_64kib(cfg: EnvConfig) -> list[Problem]:
    """Each task definition stays under ECS's 64 KiB task definition size limit, estimated from above
    (task_definition_bytes: env-file values at their length, synth-filled ARNs and image URIs at their
    longest), so a task the estimate passes is never rejected for its size."""
    problems = []
    for owner in cfg.task_owners():
        size = task_definition_bytes(cfg, owner)
        if size > TASK_DEFINITION_MAX_BYTES:
            biggest = max(cfg.containers_of(owner), key=lambda c: container_definition_bytes(cfg, c))
            problems.append((("services", owner),
                             f"task '{owner}' would be about {size} bytes (estimated from above); ECS allows a "
                             f"task definition of at most {TASK_DEFINITION_MAX_BYTES} bytes (64 KiB): move long "
                             f"values (largest container: '{biggest}', its environment) into parameters or "
                             "secrets, or split the task"))
    return problems
