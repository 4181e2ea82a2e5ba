"""Instance specs of the supported EC2 types, and the synth-time check that the tasks fit them.

ECS on EC2 places a task only on ONE container instance with enough free CPU units, memory, GPUs and
network interfaces; a task that fits no instance stays PENDING forever, and a provider whose max_size is
too small silently caps the services. Both are caught here, before anything is synthesized.

Every task uses awsvpc networking: each one gets its own ENI, and without ENI trunking an instance holds
(its maximum ENIs - 1) tasks, the primary ENI being the instance's own (ECS developer guide, "Amazon ECS
task networking options for EC2": "each task ... requires an ENI"; m6i.xlarge: 4 ENIs -> 3 tasks, however
much CPU and memory is left). ENI trunking (the account setting awsvpcTrunking, ECS developer guide
"Increasing Linux container instance network interfaces") raises that limit; it is account-wide and
this stack never turns it on, so the fit counts the plain limit (docs/compute.md).

To support another instance type, add a row to INSTANCE_SPECS and to MAX_NETWORK_INTERFACES (values from
`aws ec2 describe-instance-types --instance-types TYPE`: VCpuInfo, MemoryInfo, GpuInfo,
NetworkInfo.MaximumNetworkInterfaces). Pure Python: no jsii; the fit check is
the rule `tasks_fit_capacity` of modules/config/rules/capacity.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modules.config.services import Kind

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig

CPU_UNITS_PER_VCPU = 1024  # ECS registers every vCPU as 1024 units; the agent reserves no CPU of its own
# Written into /etc/ecs/ecs.config (ECS_RESERVED_MEMORY) by modules/cluster.py: memory kept back from tasks
# for the ECS agent, Docker and the OS, so a full instance does not starve them.
ECS_RESERVED_MEMORY_MIB = 256
# The agent registers the memory the kernel reports, which is below the advertised size (kernel and
# firmware reservations; AWS's m4.large example: 8192 MiB advertised, 7985 MiB registered = 2.5% less).
# Rounded up so that a task passing this check also registers on a real instance.
PLATFORM_MEMORY_OVERHEAD_PERCENT = 4


@dataclass(frozen=True)
class InstanceSpec:
    vcpus: int
    memory_mib: int  # as advertised by EC2
    gpus: int = 0
    gpu_model: str | None = None

    @property
    def task_cpu_units(self) -> int:
        """CPU units the ECS agent registers for tasks."""
        return self.vcpus * CPU_UNITS_PER_VCPU

    @property
    def task_memory_mib(self) -> int:
        """Memory (MiB) left for tasks after the platform overhead and the agent reserve."""
        visible = self.memory_mib * (100 - PLATFORM_MEMORY_OVERHEAD_PERCENT) // 100
        return visible - ECS_RESERVED_MEMORY_MIB


# x86_64 only: the images are built for linux/amd64, and the GPU AMI is x86_64.
INSTANCE_SPECS: dict[str, InstanceSpec] = {
    # burstable general purpose
    "t3.medium": InstanceSpec(2, 4096),
    "t3.large": InstanceSpec(2, 8192),
    "t3.xlarge": InstanceSpec(4, 16384),
    "t3.2xlarge": InstanceSpec(8, 32768),
    # general purpose
    "m5.large": InstanceSpec(2, 8192),
    "m5.xlarge": InstanceSpec(4, 16384),
    "m5.2xlarge": InstanceSpec(8, 32768),
    "m5.4xlarge": InstanceSpec(16, 65536),
    "m6i.large": InstanceSpec(2, 8192),
    "m6i.xlarge": InstanceSpec(4, 16384),
    "m6i.2xlarge": InstanceSpec(8, 32768),
    "m6i.4xlarge": InstanceSpec(16, 65536),
    "m7i.large": InstanceSpec(2, 8192),
    "m7i.xlarge": InstanceSpec(4, 16384),
    "m7i.2xlarge": InstanceSpec(8, 32768),
    "m7i.4xlarge": InstanceSpec(16, 65536),
    # compute optimized
    "c6i.large": InstanceSpec(2, 4096),
    "c6i.xlarge": InstanceSpec(4, 8192),
    "c6i.2xlarge": InstanceSpec(8, 16384),
    "c6i.4xlarge": InstanceSpec(16, 32768),
    # memory optimized
    "r6i.large": InstanceSpec(2, 16384),
    "r6i.xlarge": InstanceSpec(4, 32768),
    "r6i.2xlarge": InstanceSpec(8, 65536),
    # GPU: g4dn (NVIDIA T4, the cheaper option), g5 (A10G, the default), g6 (L4), p3 (V100)
    "g4dn.xlarge": InstanceSpec(4, 16384, 1, "NVIDIA T4"),
    "g4dn.2xlarge": InstanceSpec(8, 32768, 1, "NVIDIA T4"),
    "g4dn.4xlarge": InstanceSpec(16, 65536, 1, "NVIDIA T4"),
    "g4dn.8xlarge": InstanceSpec(32, 131072, 1, "NVIDIA T4"),
    "g4dn.12xlarge": InstanceSpec(48, 196608, 4, "NVIDIA T4"),
    "g5.xlarge": InstanceSpec(4, 16384, 1, "NVIDIA A10G"),
    "g5.2xlarge": InstanceSpec(8, 32768, 1, "NVIDIA A10G"),
    "g5.4xlarge": InstanceSpec(16, 65536, 1, "NVIDIA A10G"),
    "g5.8xlarge": InstanceSpec(32, 131072, 1, "NVIDIA A10G"),
    "g5.12xlarge": InstanceSpec(48, 196608, 4, "NVIDIA A10G"),
    "g6.xlarge": InstanceSpec(4, 16384, 1, "NVIDIA L4"),
    "g6.2xlarge": InstanceSpec(8, 32768, 1, "NVIDIA L4"),
    "g6.4xlarge": InstanceSpec(16, 65536, 1, "NVIDIA L4"),
    "g6.8xlarge": InstanceSpec(32, 131072, 1, "NVIDIA L4"),
    "g6.12xlarge": InstanceSpec(48, 196608, 4, "NVIDIA L4"),
    "p3.2xlarge": InstanceSpec(8, 62464, 1, "NVIDIA V100"),
}

# Network interfaces an instance of each type can attach (EC2 user guide, "Maximum IP addresses per network
# interface", column "Maximum network interfaces"; DescribeInstanceTypes NetworkInfo.MaximumNetworkInterfaces;
# checked against aws/amazon-vpc-cni-k8s pkg/vpc/vpc_ip_resource_limit.go, 2026-08). One row per INSTANCE_SPECS row.
MAX_NETWORK_INTERFACES: dict[str, int] = {
    "t3.medium": 3, "t3.large": 3, "t3.xlarge": 4, "t3.2xlarge": 4,
    "m5.large": 3, "m5.xlarge": 4, "m5.2xlarge": 4, "m5.4xlarge": 8,
    "m6i.large": 3, "m6i.xlarge": 4, "m6i.2xlarge": 4, "m6i.4xlarge": 8,
    "m7i.large": 3, "m7i.xlarge": 4, "m7i.2xlarge": 4, "m7i.4xlarge": 8,
    "c6i.large": 3, "c6i.xlarge": 4, "c6i.2xlarge": 4, "c6i.4xlarge": 8,
    "r6i.large": 3, "r6i.xlarge": 4, "r6i.2xlarge": 4,
    "g4dn.xlarge": 3, "g4dn.2xlarge": 3, "g4dn.4xlarge": 3, "g4dn.8xlarge": 4, "g4dn.12xlarge": 8,
    "g5.xlarge": 4, "g5.2xlarge": 4, "g5.4xlarge": 8, "g5.8xlarge": 8, "g5.12xlarge": 15,
    "g6.xlarge": 4, "g6.2xlarge": 4, "g6.4xlarge": 8, "g6.8xlarge": 8, "g6.12xlarge": 8,
    "p3.2xlarge": 4,
}
INSTANCE_OWN_INTERFACES = 1  # the primary ENI belongs to the instance (and the ECS agent), not to a task


def awsvpc_tasks_per_instance(instance_type: str) -> int:
    """awsvpc tasks one instance of the type holds without ENI trunking: its ENIs less the primary one."""
    return MAX_NETWORK_INTERFACES[instance_type] - INSTANCE_OWN_INTERFACES


@dataclass(frozen=True)
class TaskSize:
    cpu_units: int
    memory_mib: int
    gpus: int
    containers: tuple[tuple[str, int], ...]  # (container, memory MiB), for messages


@dataclass(frozen=True)
class ProviderUsage:
    """What one capacity provider must hold at the services' maximum counts, and what it can hold."""

    instance_type: str
    max_size: int
    cpu_units_needed: int
    memory_mib_needed: int
    gpus_needed: int
    cpu_units_available: int  # instance x max_size, after the agent reserve
    memory_mib_available: int
    gpus_available: int
    tasks: list[tuple[str, int]]  # (task owner, task count), in env file order
    tasks_per_instance: int  # awsvpc: one ENI per task, instance ENIs - 1 (MAX_NETWORK_INTERFACES)

    @property
    def task_count(self) -> int:
        """Tasks at the services' maximum counts: each takes one network interface (awsvpc)."""
        return sum(n for _, n in self.tasks)

    @property
    def task_slots(self) -> int:
        """awsvpc tasks instance x max_size can hold (ENIs, without trunking)."""
        return self.tasks_per_instance * self.max_size


def task_size(cfg: EnvConfig, owner: str) -> TaskSize:
    """A task's reservation: the sum of its containers (the task definition's cpu/memory/GPUs)."""
    containers = cfg.containers_of(owner)
    return TaskSize(
        cpu_units=sum(c.cpu_units for c in containers.values()),
        memory_mib=sum(c.memory for c in containers.values()),
        gpus=sum(c.gpu for c in containers.values()),
        containers=tuple((name, c.memory) for name, c in containers.items()),
    )


def task_count(cfg: EnvConfig, owner: str) -> int:
    """Tasks that may run at once: a service at its scaling maximum; a job or schedule runs one."""
    svc = cfg.services[owner]
    if svc.kind != Kind.service:
        return 1
    return max(svc.desired_count, svc.scaling.max if svc.scaling else 0)


def provider_usage(cfg: EnvConfig, key: str) -> ProviderUsage:
    """The demand of the tasks placed on one capacity provider, and its capacity at max_size."""
    cp = cfg.cluster.capacity_providers[key]
    spec = INSTANCE_SPECS.get(cp.instance_type)
    if spec is None:
        raise ValueError(f"instance type '{cp.instance_type}' is not in modules/config/capacity.py INSTANCE_SPECS")
    owners = [o for o in cfg.task_owners() if cfg.capacity_provider_of(o) == key]
    tasks = [(o, task_count(cfg, o)) for o in owners]
    sizes = {o: task_size(cfg, o) for o in owners}
    return ProviderUsage(
        instance_type=cp.instance_type,
        max_size=cp.max_size,
        cpu_units_needed=sum(sizes[o].cpu_units * n for o, n in tasks),
        memory_mib_needed=sum(sizes[o].memory_mib * n for o, n in tasks),
        gpus_needed=sum(sizes[o].gpus * n for o, n in tasks),
        cpu_units_available=spec.task_cpu_units * cp.max_size,
        memory_mib_available=spec.task_memory_mib * cp.max_size,
        gpus_available=spec.gpus * cp.max_size,
        tasks=tasks,
        tasks_per_instance=awsvpc_tasks_per_instance(cp.instance_type),
    )


def usage(cfg: EnvConfig) -> dict[str, ProviderUsage]:
    """Per capacity provider key: the demand of the tasks placed on it and its capacity at max_size."""
    return {key: provider_usage(cfg, key) for key in cfg.cluster.capacity_providers}


def _vcpu(units: int) -> str:
    return f"{units / CPU_UNITS_PER_VCPU:g} vCPU ({units} units)"


def _instance_problems(cfg: EnvConfig) -> list[tuple[str, str]]:
    problems = []
    for key, cp in cfg.cluster.capacity_providers.items():
        path = f"cluster.capacity_providers.{key}.instance_type"
        spec = INSTANCE_SPECS.get(cp.instance_type)
        if spec is None:
            problems.append((path, f"instance type '{cp.instance_type}' is not supported (its size is unknown to "
                                   f"the capacity check); supported: {', '.join(sorted(INSTANCE_SPECS))} "
                                   f"(add a row to INSTANCE_SPECS in modules/config/capacity.py for another type)"))
        elif cp.gpu and not spec.gpus:
            gpu_types = sorted(t for t, s in INSTANCE_SPECS.items() if s.gpus)
            problems.append((path, f"capacity provider '{key}' has gpu: true but {cp.instance_type} has no GPU; "
                                   f"use a GPU type: {', '.join(gpu_types)}"))
        elif spec.gpus and not cp.gpu:
            problems.append((path, f"{cp.instance_type} has {spec.gpus} GPU(s) but capacity provider '{key}' has "
                                   f"gpu: false (no GPU driver AMI: the GPUs would be paid for and unusable); "
                                   f"set gpu: true or use a type without GPU"))
    return problems


def _task_problems(cfg: EnvConfig, owner: str, key: str, spec: InstanceSpec) -> list[tuple[str, str]]:
    """One task must fit on one instance of its provider."""
    size = task_size(cfg, owner)
    itype = cfg.cluster.capacity_providers[key].instance_type
    where = f"on capacity provider '{key}'"
    fix = f"lower it or choose a larger cluster.capacity_providers.{key}.instance_type"
    problems = []
    if size.cpu_units > spec.task_cpu_units:
        parts = " + ".join(f"{n} {c.cpu_units}" for n, c in cfg.containers_of(owner).items())
        problems.append((f"services.{owner}.cpu",
                         f"task '{owner}' needs {_vcpu(size.cpu_units)} [{parts}] but {itype} offers "
                         f"{_vcpu(spec.task_cpu_units)} {where} (short by {size.cpu_units - spec.task_cpu_units} "
                         f"units); {fix}"))
    if size.memory_mib > spec.task_memory_mib:
        parts = " + ".join(f"{n} {m}" for n, m in size.containers)
        problems.append((f"services.{owner}.memory",
                         f"task '{owner}' needs {size.memory_mib} MiB [{parts}] but {itype} offers "
                         f"{spec.task_memory_mib} MiB to tasks ({spec.memory_mib} MiB less "
                         f"{PLATFORM_MEMORY_OVERHEAD_PERCENT}% platform overhead and {ECS_RESERVED_MEMORY_MIB} MiB "
                         f"ECS reserve) {where} (short by {size.memory_mib - spec.task_memory_mib} MiB); {fix}"))
    if size.gpus > spec.gpus:
        problems.append((f"services.{owner}.gpu",
                         f"task '{owner}' needs {size.gpus} GPU(s) but {itype} has {spec.gpus} {where} "
                         f"(short by {size.gpus - spec.gpus}); {fix}"))
    return problems


def _total_problems(key: str, use: ProviderUsage, spec: InstanceSpec) -> list[tuple[str, str]]:
    """All tasks at their maximum counts must fit instance x max_size."""
    short = []
    if use.cpu_units_needed > use.cpu_units_available:
        short.append(f"{_vcpu(use.cpu_units_needed)} > {_vcpu(use.cpu_units_available)} "
                     f"(short by {use.cpu_units_needed - use.cpu_units_available} units)")
    if use.memory_mib_needed > use.memory_mib_available:
        short.append(f"{use.memory_mib_needed} MiB > {use.memory_mib_available} MiB "
                     f"(short by {use.memory_mib_needed - use.memory_mib_available} MiB)")
    if use.gpus_needed > use.gpus_available:
        short.append(f"{use.gpus_needed} GPU(s) > {use.gpus_available} "
                     f"(short by {use.gpus_needed - use.gpus_available})")
    if use.task_count > use.task_slots:
        short.append(f"{use.task_count} network interfaces (one per awsvpc task) > {use.task_slots} "
                     f"({use.instance_type} attaches {MAX_NETWORK_INTERFACES[use.instance_type]}, one is the "
                     f"instance's own: {use.tasks_per_instance} tasks per instance)")
    if not short:
        return []
    instances = instances_needed(use, spec)
    tasks = ", ".join(f"{o} x{n}" for o, n in use.tasks)
    return [(f"cluster.capacity_providers.{key}.max_size",
             f"the tasks on capacity provider '{key}' at their maximum counts ({tasks}) need "
             f"{'; '.join(short)} of {use.max_size} x {use.instance_type}; raise max_size to at least "
             f"{instances}, choose a larger instance_type, or lower the services' scaling.max "
             f"(ENI trunking, the account setting awsvpcTrunking, raises the tasks per instance: docs/compute.md)")]


def instances_needed(use: ProviderUsage, spec: InstanceSpec) -> int:
    """Fewest instances whose CPU, memory, GPUs and network interfaces (one per task) hold the tasks."""
    return max(
        math.ceil(use.cpu_units_needed / spec.task_cpu_units),
        math.ceil(use.memory_mib_needed / spec.task_memory_mib),
        math.ceil(use.gpus_needed / spec.gpus) if spec.gpus else 0,
        math.ceil(use.task_count / use.tasks_per_instance),
    )


def fit_problems(cfg: EnvConfig) -> list[tuple[str, str]]:
    """(field path, message) for every task or provider that does not fit; empty when all fit."""
    problems = _instance_problems(cfg)
    # Providers whose instance type is itself wrong get that one message, not follow-on ones.
    wrong = {path.split(".")[2] for path, _ in problems}
    known = {k: cp for k, cp in cfg.cluster.capacity_providers.items() if k not in wrong}
    misfit: set[str] = set()  # providers with a task too big for one instance: their total is moot
    for owner in cfg.task_owners():
        key = cfg.capacity_provider_of(owner)
        if key in known:
            found = _task_problems(cfg, owner, key, INSTANCE_SPECS[known[key].instance_type])
            problems += found
            misfit |= {key} if found else set()
    for key in known:
        if key not in misfit:
            use = provider_usage(cfg, key)
            problems += _total_problems(key, use, INSTANCE_SPECS[use.instance_type])
    return problems
