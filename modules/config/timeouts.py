"""Timeouts derived from who calls whom, when the env file sets none (defaults.py says why each value).

The call graph: a task calls the long-running services its containers `depends_on` or whose Service Connect /
DNS name:port one of its variables holds. Through Service Connect the *called* port's TimeoutConfiguration
decides how long a caller waits (AWS: 15 s per request unless set). So:

  - a port of an inference server (a container with a GPU, or a known LLM server image) waits
    INFERENCE_REQUEST_TIMEOUT;
  - a port whose task calls a slower port waits at least as long (the api answers only once ollama did);
  - a port Grafana queries waits Grafana's own data-proxy timeout (its queries give up then anyway), and so
    do Grafana's own ports (a dashboard waits on its datasources, never longer than that);
  - an idle timeout is never below the per-request one (AWS would close the connection first), and on a
    port the ALB forwards to it exceeds the ALB's idle timeout (the ALB's backend keeps connections longer);
  - the ALB's idle timeout covers the per-request timeout of the port it forwards to.

An explicit value always wins; the rules in modules/config/rules/timeouts.py check that explicit values
still agree with AWS's rules. Pure Python over the EnvConfig (duck typed): the constructs, `describe` and
the rules read the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modules.config.defaults import (
    ALB_BACKEND_KEEP_ALIVE_MARGIN,
    ALB_IDLE_TIMEOUT_RANGE,
    DEFAULT_ALB_IDLE_TIMEOUT,
    GRAFANA_DATAPROXY_TIMEOUT,
    GRAFANA_DATAPROXY_TIMEOUT_VARIABLE,
    INFERENCE_REQUEST_TIMEOUT,
    INFERENCE_SERVER_IMAGES,
    SERVICE_CONNECT_IDLE_TIMEOUT,
    SERVICE_CONNECT_PER_REQUEST_TIMEOUT,
    UVICORN_KEEP_ALIVE_VARIABLE,
)
from modules.config.registry import split_reference
from modules.config.services import Kind

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig
    from modules.config.services import PortMapping

UNLIMITED = math.inf  # a timeout of 0 (AWS: disabled), for comparisons


@dataclass(frozen=True)
class Seconds:
    """A timeout in seconds (0: no limit) and why it has that value."""

    value: int
    reason: str

    @property
    def limit(self) -> float:
        return UNLIMITED if self.value == 0 else self.value


def as_limit(value: int) -> float:
    return UNLIMITED if value == 0 else value


def _seconds(limit: float) -> int:
    return 0 if limit == UNLIMITED else int(limit)


# ------------------------------------------------------------------ the call graph
def _host_owners(cfg: EnvConfig) -> dict[str, str]:
    """{host name a task may dial: task owner}: a container's Service Connect name and Cloud Map DNS name."""
    hosts = {}
    for cname, svc in cfg.services.items():
        if svc.ports and cfg.task_owner(cname) in cfg.services:
            hosts[cname] = hosts[f"{cname}.{cfg.dns_namespace}"] = cfg.task_owner(cname)
    return hosts


def callees(cfg: EnvConfig, owner: str) -> list[str]:
    """The long-running services (task owners) `owner`'s task calls: its containers' depends_on and the
    service names in their variables (`http://ollama:11434`), sorted."""
    from modules.config.rules.ports import _HOST_PORT, _reaching_values  # noqa: PLC0415  (one regex for both)

    hosts = _host_owners(cfg)
    called = set()
    for cname, container in cfg.containers_of(owner).items():
        called |= {cfg.task_owner(dep) for dep in container.depends_on if dep in cfg.services}
        for _, value in _reaching_values(cfg, cname):
            called |= {hosts[m["host"]] for m in _HOST_PORT.finditer(value) if m["host"] in hosts}
    return sorted(c for c in called - {owner} if c in cfg.services and cfg.services[c].kind == Kind.service)


def _reachable_ports(cfg: EnvConfig, caller: str, callee: str) -> list[tuple[str, PortMapping]]:
    """The HTTP-family ports of `callee`'s task that `caller` may reach (all of them if allow_from lets it
    reach none: the call is wrong anyway, and the rules on allow_from say so)."""
    sources = cfg.port_sources(callee)
    ports = [(cname, pm) for cname, svc in cfg.containers_of(callee).items() for pm in svc.ports
             if pm.protocol != "tcp"]
    allowed = [(c, pm) for c, pm in ports if caller in sources.get(pm.port, [])]
    return allowed or ports


def grafana_owner(cfg: EnvConfig) -> str | None:
    name = cfg.alb.grafana.service
    return cfg.task_owner(name) if name in cfg.services and cfg.task_owner(name) in cfg.services else None


def grafana_query_timeout(cfg: EnvConfig) -> Seconds:
    """Grafana's data-proxy timeout: GF_DATAPROXY_TIMEOUT in its environment, else Grafana's 30 s."""
    value = cfg.services[cfg.alb.grafana.service].environment.get(GRAFANA_DATAPROXY_TIMEOUT_VARIABLE, "")
    if value.isdigit():
        return Seconds(int(value), f"Grafana's {GRAFANA_DATAPROXY_TIMEOUT_VARIABLE}")
    return Seconds(GRAFANA_DATAPROXY_TIMEOUT, "Grafana's data-proxy timeout")


def is_inference_server(svc) -> bool:
    """A container that serves LLM generations: it holds a GPU, or runs a known inference-server image."""
    if svc.gpu:
        return True
    return bool(svc.image.public) and split_reference(svc.image.public)[0] in INFERENCE_SERVER_IMAGES


# ------------------------------------------------------------------ Service Connect, per port
def per_request_timeout(cfg: EnvConfig, cname: str, pm: PortMapping, _seen: frozenset = frozenset()) -> Seconds:
    """How long Service Connect lets a request to this port take (AWS's 15 s unless set or derived)."""
    if pm.per_request_timeout is not None:
        return Seconds(pm.per_request_timeout, "set")
    if pm.protocol == "tcp":
        return Seconds(0, "tcp: no per-request timeout (AWS)")
    owner = cfg.task_owner(cname)
    best = Seconds(SERVICE_CONNECT_PER_REQUEST_TIMEOUT, "AWS default")
    candidates = []
    if is_inference_server(cfg.services[cname]):
        candidates.append(Seconds(INFERENCE_REQUEST_TIMEOUT, "inference server"))
    grafana = grafana_owner(cfg)
    if grafana and grafana != owner and owner in callees(cfg, grafana) \
            and grafana in cfg.port_sources(owner).get(pm.port, []):
        candidates.append(grafana_query_timeout(cfg))
    if owner == grafana and callees(cfg, owner):
        candidates.append(grafana_query_timeout(cfg))  # Grafana waits on no datasource longer than that
    elif owner not in _seen and cfg.services[owner].kind == Kind.service:
        for callee in callees(cfg, owner):
            if callee in _seen:
                continue  # a depends_on cycle: no_dependency_cycles reports it
            for other, other_pm in _reachable_ports(cfg, owner, callee):
                waited = per_request_timeout(cfg, other, other_pm, _seen | {owner})
                candidates.append(Seconds(waited.value, f"calls {callee}:{other_pm.port}"))
    for candidate in candidates:
        if candidate.limit > best.limit:
            best = candidate
    return best


def alb_target_ports(cfg: EnvConfig) -> list[tuple[str, int]]:
    """(container, port) the ALB forwards to: alb.target, and Grafana when exposed through the ALB."""
    found = [(cfg.alb.target.service, cfg.alb.target.port)]
    grafana = cfg.alb.grafana
    if grafana.exposure in ("vpn", "sso") and grafana.service in cfg.services:
        found.append((grafana.service, grafana.port))
    return [(c, p) for c, p in found if c in cfg.services]


def idle_timeout(cfg: EnvConfig, cname: str, pm: PortMapping) -> Seconds:
    """How long Service Connect keeps an idle connection to this port: at least the per-request timeout,
    and above the ALB's idle timeout on a port the ALB forwards to."""
    if pm.idle_timeout is not None:
        return Seconds(pm.idle_timeout, "set")
    best = Seconds(SERVICE_CONNECT_IDLE_TIMEOUT[pm.protocol], "AWS default")
    per_request = per_request_timeout(cfg, cname, pm)
    if pm.protocol != "tcp" and per_request.limit > best.limit:
        best = Seconds(per_request.value, "= per-request")
    if (cname, pm.port) in alb_target_ports(cfg):
        alb = alb_idle_timeout(cfg)
        keep = Seconds(_seconds(alb.limit + ALB_BACKEND_KEEP_ALIVE_MARGIN), "ALB idle + margin")
        if keep.limit > best.limit:
            best = keep
    return best


def service_connect_timeouts(cfg: EnvConfig, cname: str, pm: PortMapping) -> tuple[int | None, int | None]:
    """(per-request, idle) to write into the port's TimeoutConfiguration; None where AWS's default stands."""
    per_request, idle = per_request_timeout(cfg, cname, pm), idle_timeout(cfg, cname, pm)
    emit_per_request = pm.per_request_timeout is not None or (
        pm.protocol != "tcp" and per_request.value != SERVICE_CONNECT_PER_REQUEST_TIMEOUT)
    emit_idle = pm.idle_timeout is not None or idle.value != SERVICE_CONNECT_IDLE_TIMEOUT[pm.protocol]
    return (per_request.value if emit_per_request else None, idle.value if emit_idle else None)


# ------------------------------------------------------------------ the ALB
def alb_idle_timeout(cfg: EnvConfig) -> Seconds:
    """alb.idle_timeout, else long enough for the target port's requests (AWS's 60 s at least, 4000 at most)."""
    if cfg.alb.idle_timeout is not None:
        return Seconds(cfg.alb.idle_timeout, "set")
    best = Seconds(DEFAULT_ALB_IDLE_TIMEOUT, "AWS default")
    target = cfg.alb.target
    ports = [pm for pm in cfg.services[target.service].ports if pm.port == target.port] \
        if target.service in cfg.services else []
    if ports and ports[0].protocol != "tcp":  # a tcp port says nothing about its requests
        waited = per_request_timeout(cfg, target.service, ports[0])
        if waited.limit > best.limit:
            best = Seconds(int(min(waited.limit, ALB_IDLE_TIMEOUT_RANGE[1])), f"{target.service}:{target.port} "
                           f"waits {'without limit' if waited.value == 0 else f'{waited.value} s'}")
    return best


def keep_alive_environment(cfg: EnvConfig, cname: str) -> dict[str, str]:
    """The HTTP keep-alive variable the generator gives the ALB's target container (uvicorn's), above the
    ALB's idle timeout; nothing when the env file sets it, or for any other container."""
    if cname != cfg.alb.target.service:
        return {}
    svc = cfg.services[cname]
    from_secrets = {key for name in svc.secrets_from if name in cfg.secrets for key in cfg.secrets[name].keys}
    if UVICORN_KEEP_ALIVE_VARIABLE in {*svc.environment, *svc.parameters, *svc.secrets, *from_secrets}:
        return {}
    return {UVICORN_KEEP_ALIVE_VARIABLE: str(alb_idle_timeout(cfg).value + ALB_BACKEND_KEEP_ALIVE_MARGIN)}
