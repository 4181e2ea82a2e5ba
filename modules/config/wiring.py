"""What the generator derives from the image contracts (modules/config/contracts.py) for one env file.

For each container whose image has a contract, every variable the contract can derive and the env file does
not set itself (an explicit value always wins: environment, parameters, secrets, secrets_from keys, the cache
URL, the database variables):
  dns_namespace     the Cloud Map DNS namespace (discovery_dns_namespace)
  service_name      the container's own name in the env file
  url:<endpoint>    http://<host>:<port> of the one service whose image provides <endpoint>; the host is
                    localhost in the same task; the callee's Service Connect name when the caller is in the mesh
                    (a service's task) and is created after the callee (the callee is in its depends_on, directly
                    or not: a Service Connect name resolves only in tasks started after it exists, AWS); else the
                    callee's Cloud Map DNS name <service>.<dns_namespace> (jobs and scheduled tasks are outside the
                    mesh; a service the callee itself depends on is created first), which then gets its DNS record
  value:<text>      a value the image dictates (a path inside it, a protocol)
and which services need a DNS record: the DNS hosts above, and the callees of `per_task` calls (reached per
task, as Prometheus scrapes the api). Pure functions of the EnvConfig (read by duck typing: env.py imports
this module), robust to references the rules have yet to report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modules.config.contracts import Call, EnvNeed, ImageContract, contract_of
from modules.config.services import Kind

if TYPE_CHECKING:  # annotations only: env.py imports this module
    from modules.config.env import EnvConfig

LOCALHOST = "localhost"


@dataclass(frozen=True)
class Derived:
    """A value the generator sets, and why (shown by `describe`)."""

    value: str
    reason: str


@dataclass(frozen=True)
class Provider:
    """A container whose image provides an endpoint, and the port it serves it on."""

    container: str
    port: int


def contract_for(cfg: EnvConfig, cname: str) -> ImageContract | None:
    svc = cfg.services.get(cname)
    return contract_of(svc.image) if svc is not None else None


def explicit_variables(cfg: EnvConfig, cname: str) -> set[str]:
    """Every variable the env file itself gives the container (the generator never overrides one)."""
    svc = cfg.services[cname]
    found = set(svc.environment) | set(svc.parameters) | set(svc.secrets)
    for secret in svc.secrets_from:
        if secret in cfg.secrets:
            found |= set(cfg.secrets[secret].keys)
    if cfg.cache and cname in cfg.cache.allow_from:
        found.add(cfg.cache.url_variable)
    database = cfg.database
    if database.mode != "none" and cname in database.allow_from:
        found |= {database.env.host, database.env.port, database.env.username, database.env.password,
                  *([database.env.database] if database.name else [])}
    return found


def providers(cfg: EnvConfig, endpoint: str) -> list[Provider]:
    """The containers whose image's contract provides `endpoint`, in env-file order."""
    found = []
    for cname in cfg.services:
        contract = contract_for(cfg, cname)
        if contract is not None and endpoint in contract.provides:
            found.append(Provider(cname, contract.provides[endpoint].port))
    return found


def _owner(cfg: EnvConfig, cname: str) -> str | None:
    owner = cfg.services[cname].host or cname
    return owner if owner in cfg.services else None


def created_before(cfg: EnvConfig, owner: str) -> set[str]:
    """The task owners created before `owner`'s service: its containers' depends_on, followed transitively
    (the stack orders each ECS service after the services its containers depend on)."""
    seen: set[str] = set()
    todo = [owner]
    while todo:
        current = todo.pop()
        for container in cfg.containers_of(current).values():
            for dep in container.depends_on:
                target = _owner(cfg, dep) if dep in cfg.services else None
                if target and target not in seen and target != owner:
                    seen.add(target)
                    todo.append(target)
    return seen


def in_mesh(cfg: EnvConfig, cname: str) -> bool:
    """The container runs in a Service Connect client: a task of a `kind: service`."""
    owner = _owner(cfg, cname)
    return owner is not None and cfg.services[owner].kind == Kind.service


def address(cfg: EnvConfig, caller: str, provider: Provider) -> tuple[str | None, str]:
    """(host the caller dials for the provider, why); host None when there is none (a job serves nothing)."""
    caller_owner, callee_owner = _owner(cfg, caller), _owner(cfg, provider.container)
    if caller_owner is None or callee_owner is None:
        return None, "a dangling init_of/sidecar_of"
    if caller_owner == callee_owner:
        return LOCALHOST, "same task"
    if cfg.services[callee_owner].kind != Kind.service:
        return None, f"'{callee_owner}' is a {cfg.services[callee_owner].kind.value}, reachable by no name"
    if in_mesh(cfg, caller) and callee_owner in created_before(cfg, caller_owner):
        return provider.container, "Service Connect name (created after it, depends_on)"
    why = ("outside Service Connect" if not in_mesh(cfg, caller)
           else f"no depends_on on '{callee_owner}': its Service Connect name may not resolve")
    return f"{callee_owner}.{cfg.dns_namespace}", f"DNS name ({why})"


def derive(cfg: EnvConfig, cname: str, need: EnvNeed) -> tuple[str | None, str]:
    """(value, why) of one contract variable for one container; value None with the reason it has none."""
    if need.derive is None:
        return None, "the contract gives no way to derive it"
    if need.when and not providers(cfg, need.when):
        return None, f"no service provides '{need.when}'"
    kind, _, argument = need.derive.partition(":")
    if kind == "dns_namespace":
        return cfg.dns_namespace, "discovery_dns_namespace"
    if kind == "service_name":
        return cname, "the service's name"
    if kind == "value":
        return argument, "fixed by the image"
    found = providers(cfg, argument)
    if len(found) != 1:
        which = f"{len(found)} services provide it ({', '.join(p.container for p in found)})" if found else \
            "no service of the env file provides it"
        return None, f"endpoint '{argument}': {which}"
    host, why = address(cfg, cname, found[0])
    if host is None:
        return None, f"endpoint '{argument}' of '{found[0].container}': {why}"
    return f"http://{host}:{found[0].port}", f"{argument} of {found[0].container}, {why}"


def derived_environment(cfg: EnvConfig, cname: str) -> dict[str, Derived]:
    """The variables the generator sets for the container: derivable, and not set by the env file."""
    contract = contract_for(cfg, cname)
    if contract is None:
        return {}
    explicit = explicit_variables(cfg, cname)
    found = {}
    for var, need in sorted(contract.env.items()):
        if var in explicit or need.derive is None:
            continue
        value, why = derive(cfg, cname, need)
        if value is not None:
            found[var] = Derived(value, f"{contract.source}: {why}")
    return found


def calls_of(cfg: EnvConfig, cname: str) -> list[tuple[Call, list[Provider]]]:
    """The contract's calls of the container, each with the containers providing its endpoint."""
    contract = contract_for(cfg, cname)
    return [(call, providers(cfg, call.endpoint)) for call in contract.calls] if contract else []


def dns_targets(cfg: EnvConfig) -> set[str]:
    """Services the derivation reaches by their Cloud Map DNS name: DNS hosts of derived URLs, and the callees
    of `per_task` calls (they get a DNS record, one A record per task)."""
    found: set[str] = set()
    suffix = f".{cfg.dns_namespace}"
    for cname in cfg.services:
        if _owner(cfg, cname) is None:
            continue
        for derived in derived_environment(cfg, cname).values():
            host = derived.value.partition("://")[2].rpartition(":")[0]
            if host.endswith(suffix) and host[: -len(suffix)] in cfg.services:
                found.add(host[: -len(suffix)])
        for call, found_providers in calls_of(cfg, cname):
            if call.per_task:
                found |= {owner for p in found_providers if (owner := _owner(cfg, p.container))
                          and cfg.services[owner].kind == Kind.service}
    return found


def dns_discovered(cfg: EnvConfig) -> list[str]:
    """Long-running services with `dns_discovery`, that a job/scheduled task depends on, or that a derived
    value or an image contract's per-task call reaches by DNS (dns_targets): they also get a DNS name."""
    found = {n for n, s in cfg.services.items() if s.dns_discovery and s.kind == Kind.service}
    found |= dns_targets(cfg)
    for owner, svc in cfg.task_owners().items():
        if svc.kind not in (Kind.job, Kind.scheduled):
            continue
        for container in cfg.containers_of(owner).values():
            for dep in container.depends_on:
                if dep not in cfg.services:  # dangling: service_references_resolve reports it
                    continue
                target = cfg.task_owner(dep)
                if target != owner and cfg.services[target].kind == Kind.service:
                    found.add(target)
    return sorted(found)
