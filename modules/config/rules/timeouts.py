"""Timeouts on the request path: Service Connect per port and the ALB, as set or derived
(modules/config/timeouts.py), agree with AWS's rules and with the calls they carry.

AWS's rules (ECS API reference, TimeoutConfiguration; ELB user guide, "Edit attributes for your Application
Load Balancer", Connection idle timeout): an idle timeout below the per-request one closes the connection
first; the ALB's idle timeout is 1-4000 s; the ALB's targets keep idle connections longer than the ALB does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.defaults import ALB_BACKEND_KEEP_ALIVE_MARGIN, ALB_IDLE_TIMEOUT_RANGE, UVICORN_KEEP_ALIVE_VARIABLE
from modules.config.timeouts import alb_idle_timeout, alb_target_ports, idle_timeout, per_request_timeout

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig


def _ports(cfg: EnvConfig):
    for cname, svc in cfg.services.items():
        if cfg.task_owner(cname) not in cfg.services:
            continue  # a dangling init_of/sidecar_of: hosts_own_a_task reports it
        for i, pm in enumerate(svc.ports):
            yield cname, i, pm


def service_connect_idle_covers_per_request(cfg: EnvConfig) -> list[Problem]:
    """On every port, Service Connect's idle timeout (set or derived; 0: none) is not below its per-request
    timeout (set or derived from the calls): AWS closes an idle connection first, cutting the request."""
    problems = []
    for cname, i, pm in _ports(cfg):
        if pm.protocol == "tcp":
            continue  # no per-request timeout on a tcp port (AWS)
        per_request, idle = per_request_timeout(cfg, cname, pm), idle_timeout(cfg, cname, pm)
        if idle.limit < per_request.limit:
            waits = "without limit" if per_request.value == 0 else f"{per_request.value} s"
            problems.append((("services", cname, "ports", i, "idle_timeout"),
                             f"idle_timeout {idle.value} s is below the {waits} a request to port {pm.port} may "
                             f"take ({per_request.reason}): Service Connect would close the connection first "
                             f"(AWS); set idle_timeout to at least {per_request.value or 0} (0: no limit), or "
                             "omit it to derive it"))
    return problems


def alb_idle_timeout_covers_its_target(cfg: EnvConfig) -> list[Problem]:
    """The ALB's idle timeout (set, else derived) lasts as long as a request to its target port may take:
    a silent request (an answer waiting on an LLM) is cut with a 504 when it runs out; the ALB allows at
    most 4000 s, so a target waiting longer (or without limit) cannot sit behind it."""
    target = cfg.alb.target
    ports = [pm for pm in cfg.services[target.service].ports if pm.port == target.port] \
        if target.service in cfg.services else []
    if not ports or ports[0].protocol == "tcp":
        return []  # alb_target_is_a_service_port reports a missing port; a tcp port has no per-request timeout
    waited, alb = per_request_timeout(cfg, target.service, ports[0]), alb_idle_timeout(cfg)
    if alb.limit >= waited.limit:
        return []
    longest = ALB_IDLE_TIMEOUT_RANGE[1]
    waits = "without limit" if waited.value == 0 else f"up to {waited.value} s"
    if waited.limit > longest:
        index = cfg.services[target.service].ports.index(ports[0])
        return [(("services", target.service, "ports", index, "per_request_timeout"),
                 f"{target.service}:{target.port} behind the ALB waits {waits} ({waited.reason}), but an ALB "
                 f"closes a silent connection after at most {longest} s (ELB): set per_request_timeout to at "
                 f"most {longest} here (and on what it calls)")]
    return [(("alb", "idle_timeout"),
             f"{alb.value} s is shorter than a request to {target.service}:{target.port} may take ({waits}: "
             f"{waited.reason}): the ALB would answer 504 first; set it to at least {waited.value}, or omit it "
             "to derive it")]


def alb_backends_outlast_the_alb_idle_timeout(cfg: EnvConfig) -> list[Problem]:
    """Every port the ALB forwards to keeps idle connections longer than the ALB's idle timeout (AWS: else
    the ALB may send a request on a connection the target just closed: a 502): Service Connect's idle
    timeout on that port (0: none) and the server's own keep-alive when the env file sets uvicorn's."""
    alb = alb_idle_timeout(cfg)
    problems = []
    for cname, port in alb_target_ports(cfg):
        svc = cfg.services[cname]
        for i, pm in enumerate(svc.ports):
            if pm.port != port:
                continue
            idle = idle_timeout(cfg, cname, pm)
            if idle.limit <= alb.limit:
                problems.append((("services", cname, "ports", i, "idle_timeout"),
                                 f"{idle.value} s: the ALB keeps idle connections to {cname}:{port} for {alb.value} s "
                                 f"(alb.idle_timeout, {alb.reason}), and its target must keep them longer (AWS); "
                                 f"set it above {alb.value} (e.g. {alb.value + ALB_BACKEND_KEEP_ALIVE_MARGIN}), 0, "
                                 "or omit it to derive it"))
        keep_alive = svc.environment.get(UVICORN_KEEP_ALIVE_VARIABLE)
        if keep_alive is not None and cname == cfg.alb.target.service and (
                not keep_alive.isdigit() or int(keep_alive) <= alb.value):
            problems.append((("services", cname, "environment", UVICORN_KEEP_ALIVE_VARIABLE),
                             f"'{keep_alive}': the server keeps idle connections shorter than the ALB's "
                             f"{alb.value} s idle timeout (alb.idle_timeout, {alb.reason}), so the ALB may reuse one "
                             f"it closed (a 502, AWS); set whole seconds above {alb.value} (e.g. "
                             f"{alb.value + ALB_BACKEND_KEEP_ALIVE_MARGIN}), or omit it to derive it"))
    return problems
