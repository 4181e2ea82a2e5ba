"""Image contracts (modules/config/contracts.py): what an image needs from its task is there, and the names its
baked configuration calls exist, are created before it and let it in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import modules.config.wiring as wiring
from modules.config.base import Problem

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig


def _image_text(contract) -> str:
    return f"image {contract.image.build or contract.image.public} ({contract.source})"


def contract_required_variables_are_set(cfg: EnvConfig) -> list[Problem]:
    """Every variable an image's contract marks required (its entrypoint refuses to start without it) is set by
    the env file or derived by the generator (modules/config/wiring.py)."""
    problems = []
    for cname in cfg.services:
        contract = wiring.contract_for(cfg, cname)
        if contract is None or cfg.services[cname].host not in (None, *cfg.services):
            continue  # no contract, or a dangling init_of/sidecar_of (hosts_own_a_task reports it)
        explicit = wiring.explicit_variables(cfg, cname)
        for var, need in sorted(contract.env.items()):
            if not need.required or var in explicit:
                continue
            value, reason = wiring.derive(cfg, cname, need)
            if value is not None:
                continue
            why = f" ({need.why})" if need.why else ""
            problems.append((("services", cname, "environment", var),
                             f"{_image_text(contract)} requires {var}{why}; it is unset and cannot be derived: "
                             f"{reason}; allowed: set it in services.{cname}.environment, parameters or secrets"
                             + (f", or add a service providing '{need.endpoint}'" if need.endpoint else "")))
    return problems


def contract_users_match(cfg: EnvConfig) -> list[Problem]:
    """A service's `user` is the uid:gid its image's contract runs as (the image's USER: its files and its
    volume's owner are that uid's)."""
    problems = []
    for cname, svc in cfg.services.items():
        contract = wiring.contract_for(cfg, cname)
        if contract is None or contract.user is None or svc.user is None or svc.user == contract.user:
            continue
        problems.append((("services", cname, "user"),
                         f"'{svc.user}' is not the user {_image_text(contract)} runs as; allowed: "
                         f"'{contract.user}' (or omit user)"))
    return problems


def baked_calls_resolve(cfg: EnvConfig) -> list[Problem]:
    """A call an image's baked configuration makes by name (its contract's `calls[].as`) reaches the service
    providing that endpoint: the service has that name, serves the port, lets the caller in, and (through
    Service Connect) is created before the caller. A call whose endpoint no service provides is left alone."""
    problems = []
    for cname in cfg.services:
        if cfg.services[cname].host not in (None, *cfg.services):
            continue  # dangling init_of/sidecar_of: hosts_own_a_task reports it
        contract = wiring.contract_for(cfg, cname)
        caller_owner = cfg.task_owner(cname)
        for call, providers in wiring.calls_of(cfg, cname):
            if call.as_ is None:
                continue
            for provider in providers:
                problems += _baked_call_problems(cfg, cname, caller_owner, contract, call, provider)
    return problems


def _baked_call_problems(cfg: EnvConfig, cname: str, caller_owner: str, contract, call, provider) -> list[Problem]:
    callee_owner = cfg.task_owner(provider.container)
    if callee_owner not in cfg.services or callee_owner == caller_owner:
        return []
    named = callee_owner if call.per_task else provider.container
    baked = f"{_image_text(contract)} calls endpoint '{call.endpoint}' as '{call.as_}' ({call.why or 'baked in'})"
    if named != call.as_:
        return [(("services", named),
                 f"{baked}, but the service providing it is named '{named}'; allowed: name it '{call.as_}' "
                 f"(or build {contract.image.build or contract.image.public} with another name)")]
    sources = cfg.port_sources(callee_owner)
    if provider.port not in sources:
        return [(("services", provider.container, "ports"),
                 f"{baked} on port {provider.port}, which '{provider.container}' does not list; allowed: add "
                 f"{provider.port} to its ports")]
    problems = []
    if not any(cfg.task_owner(s) == caller_owner for s in sources[provider.port] if s in cfg.services):
        problems.append((("services", callee_owner, "allow_from"),
                         f"{baked}: port {provider.port} does not let '{caller_owner}' in; allowed: add "
                         f"'{caller_owner}' to services.{callee_owner}.allow_from (and the port's allow_from)"))
    if not call.per_task and not (wiring.in_mesh(cfg, cname)
                                  and callee_owner in wiring.created_before(cfg, caller_owner)):
        where = ("is outside Service Connect (a job or scheduled task)" if not wiring.in_mesh(cfg, cname)
                 else f"is not created after '{callee_owner}'")
        problems.append((("services", cname, "depends_on"),
                         f"{baked} by its Service Connect name, but '{caller_owner}' {where}, so the name does "
                         f"not resolve in its tasks; allowed: a service with '{callee_owner}' in depends_on"))
    return problems
