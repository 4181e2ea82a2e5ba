"""Ports and the Service Connect mesh: unique ports per task, names, narrowing allow_from, jobs' DNS names."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.services import Kind

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig


def ports_are_unique_per_task(cfg: EnvConfig) -> list[Problem]:
    """The containers of one task share its network namespace: a port appears once per task."""
    problems = []
    for owner in cfg.task_owners():
        seen: dict[int, str] = {}
        for cname, svc in cfg.containers_of(owner).items():
            for i, pm in enumerate(svc.ports):
                if pm.port in seen:
                    problems.append((("services", cname, "ports", i),
                                     f"port {pm.port} is already used by '{seen[pm.port]}' in task '{owner}'"))
                seen[pm.port] = cname
    return problems

def port_allow_from_narrows(cfg: EnvConfig) -> list[Problem]:
    """A port's allow_from lists only services in its task's allow_from: it narrows, never widens."""
    problems = []
    for owner in cfg.task_owners():
        allowed = cfg.services[owner].allow_from
        for cname, svc in cfg.containers_of(owner).items():
            for i, pm in enumerate(svc.ports):
                for j, src in enumerate(pm.allow_from or []):
                    if src not in allowed:
                        problems.append((("services", cname, "ports", i, "allow_from", j),
                                         f"'{src}' is not in services.{owner}.allow_from {allowed}; a port's "
                                         "allow_from only narrows the task's"))
    return problems

def port_names_are_unique(cfg: EnvConfig) -> list[Problem]:
    """Port names (default `<service>-<port>`) are Service Connect discovery names: unique in the namespace."""
    problems, port_names = [], {}
    for sname, svc in cfg.services.items():
        for i, pm in enumerate(svc.ports):
            port_name = pm.name or f"{sname}-{pm.port}"
            if port_name in port_names:
                problems.append((("services", sname, "ports", i, "name"),
                                 f"port name '{port_name}' is already used by '{port_names[port_name]}'; "
                                 "port names must be unique (Service Connect discovery names)"))
            port_names.setdefault(port_name, sname)
    return problems

def jobs_use_dns_names(cfg: EnvConfig) -> list[Problem]:
    """Jobs and scheduled tasks run outside Service Connect: they reach a service by its DNS name
    `<service>.<dns_namespace>` (not a compose short name), and only services they depend on have one."""
    problems = []
    served = sorted(n for n, s in cfg.services.items() if s.ports)
    for owner, owner_svc in cfg.task_owners().items():
        if owner_svc.kind not in (Kind.job, Kind.scheduled):
            continue
        reachable = {cfg.task_owner(d) for c in cfg.containers_of(owner).values() for d in c.depends_on
                     if d in cfg.services}
        for cname, svc in cfg.containers_of(owner).items():
            values = [(("environment", k), v) for k, v in svc.environment.items()]
            values += [(("parameters", k), cfg.parameters[key]) for k, key in svc.parameters.items()
                       if key in cfg.parameters]
            for loc, value in values:
                for target in served:
                    if re.search(rf"(^|//){re.escape(target)}:\d", value):
                        problems.append((("services", cname) + loc,
                                         f"'{value}': a {owner_svc.kind.value} is not in the Service Connect "
                                         f"mesh, so '{target}' does not resolve; use "
                                         f"{target}.{cfg.dns_namespace} (and depends_on: [{target}])"))
                    elif f"{target}.{cfg.dns_namespace}" in value and cfg.task_owner(target) not in reachable:
                        problems.append((("services", cname) + loc,
                                         f"'{value}' uses the DNS name of '{target}', which is registered only "
                                         f"for services a job depends on; add '{target}' to depends_on"))
    return problems
