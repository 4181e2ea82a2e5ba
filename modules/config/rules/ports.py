"""Ports and the Service Connect mesh: unique ports per task, names, narrowing allow_from, jobs' DNS names,
and every address a service is given being one it may reach."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.services import Kind
from modules.config.wiring import dns_discovered
from modules.config.wiring import derived_environment

if TYPE_CHECKING:  # annotations only
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
    `<service>.<dns_namespace>` (not a compose short name), which only services with a DNS record have (those
    a job depends on, or that a derived address reaches: EnvConfig.dns_discovered)."""
    problems = []
    served = sorted(n for n, s in cfg.services.items() if s.ports)
    for owner, owner_svc in cfg.task_owners().items():
        if owner_svc.kind not in (Kind.job, Kind.scheduled):
            continue
        reachable = {cfg.task_owner(d) for c in cfg.containers_of(owner).values() for d in c.depends_on
                     if d in cfg.services}
        for cname, svc in cfg.containers_of(owner).items():
            for loc, value in _reaching_values(cfg, cname):
                for target in served:
                    if re.search(rf"(^|//){re.escape(target)}:\d", value):
                        problems.append((("services", cname) + loc,
                                         f"'{value}': a {owner_svc.kind.value} is not in the Service Connect "
                                         f"mesh, so '{target}' does not resolve; use "
                                         f"{target}.{cfg.dns_namespace} (and depends_on: [{target}])"))
                    elif (f"{target}.{cfg.dns_namespace}" in value and cfg.task_owner(target) not in reachable
                          and cfg.task_owner(target) not in dns_discovered(cfg)):
                        problems.append((("services", cname) + loc,
                                         f"'{value}' uses the DNS name of '{target}', which is registered only "
                                         f"for services a job depends on; add '{target}' to depends_on"))
    return problems


# host:port in a URL or on its own: `http://prometheus:9090/x`, `tempo:4317`, `user@host:5432`.
_HOST_PORT = re.compile(r"(?:^|(?<=[/@\s,;=]))(?P<host>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?):(?P<port>\d{1,5})(?!\d)")


def _service_hosts(cfg: EnvConfig) -> dict[str, str]:
    """{host name a task can dial: the container it reaches}: every container with ports answers to its
    Service Connect client alias (the container name) and, if it owns a task, `<name>.<dns_namespace>`."""
    hosts = {}
    for cname, svc in cfg.services.items():
        if svc.ports:
            hosts[cname] = cname
            hosts[f"{cname}.{cfg.dns_namespace}"] = cname
    return hosts


def _reaching_values(cfg: EnvConfig, cname: str) -> list[tuple[tuple, str]]:
    """(location, value) of each environment value and each parameter the container reads (resolved), and of
    each value the generator derives for it from its image's contract (modules/config/wiring.py)."""
    svc = cfg.services[cname]
    values = [(("environment", k), v) for k, v in svc.environment.items()]
    values += [(("parameters", k), cfg.parameters[key]) for k, key in svc.parameters.items() if key in cfg.parameters]
    values += [(("environment", k), d.value) for k, d in derived_environment(cfg, cname).items()]
    return values


def services_may_reach_what_they_are_given(cfg: EnvConfig) -> list[Problem]:
    """Every host:port in a container's environment or parameters that names another service (its Service
    Connect name or Cloud Map DNS name) is a port of that service whose allow_from (the port's, else the
    task's) lets the container's task in: otherwise the name resolves and the connection times out."""
    problems = []
    hosts = _service_hosts(cfg)
    for sname, svc in cfg.services.items():
        if cfg.task_owner(sname) not in cfg.services:
            continue  # a dangling init_of/sidecar_of: hosts_own_a_task reports it
        source = cfg.task_owner(sname)
        for loc, value in _reaching_values(cfg, sname):
            for match in _HOST_PORT.finditer(value):
                target = hosts.get(match["host"])
                if target is None or cfg.task_owner(target) not in cfg.services:
                    continue  # not a service name (or a dangling host, reported by hosts_own_a_task)
                owner, port = cfg.task_owner(target), int(match["port"])
                if owner == source:
                    continue  # same task: localhost, no security group in between
                where = ("services", sname) + loc
                ports = cfg.port_sources(owner)
                if port not in ports:
                    problems.append((where, f"'{value}' names {target} port {port}, which is not a port of "
                                            f"task '{owner}' ({sorted(ports)})"))
                    continue
                if any(cfg.task_owner(s) == source for s in ports[port] if s in cfg.services):
                    continue
                derived = derived_environment(cfg, sname).get(loc[1]) if loc[0] == "environment" else None
                otherwise = (f"derived from {derived.reason.split(':')[0]}; or set {loc[1]} yourself" if derived
                             and loc[1] not in svc.environment else f"or stop giving {sname} this address")
                problems.append((where, f"'{value}': {source} reaches {target} on port {port}, but "
                                        f"{_allow_from_field(cfg, owner, port)} does not list '{source}'; "
                                        f"add '{source}' there ({otherwise})"))
    return problems


def _allow_from_field(cfg: EnvConfig, owner: str, port: int) -> str:
    """The env-file field deciding who reaches `port` of `owner`'s task."""
    for cname, svc in cfg.containers_of(owner).items():
        for i, pm in enumerate(svc.ports):
            if pm.port == port and pm.allow_from is not None:
                return f"services.{cname}.ports[{i}].allow_from {pm.allow_from} (and services.{owner}.allow_from)"
    return f"services.{owner}.allow_from {cfg.services[owner].allow_from}"
