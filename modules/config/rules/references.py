"""References between sections: every name a field gives is defined; start order has no cycle;
each container variable comes from one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.rules.common import undefined
from modules.config.services import Kind

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig


def service_references_resolve(cfg: EnvConfig) -> list[Problem]:
    """A service's depends_on, allow_from, parameters, secrets, secrets_from, volumes and capacity_provider
    name things that are defined (secret keys included); a service does not depend on itself."""
    problems, names = [], set(cfg.services)
    for sname, svc in cfg.services.items():
        base = ("services", sname)
        for i, dep in enumerate(svc.depends_on):
            problems += undefined(base + ("depends_on", i), dep, names, "service")
            if dep == sname:
                problems.append((base + ("depends_on", i), "a service cannot depend on itself"))
        for i, src in enumerate(svc.allow_from):
            problems += undefined(base + ("allow_from", i), src, names, "service")
        for env, key in svc.parameters.items():
            problems += undefined(base + ("parameters", env), key, cfg.parameters, "parameter")
        for env, ref in svc.secrets.items():
            secret, _, key = ref.partition(":")
            problems += undefined(base + ("secrets", env), secret, cfg.secrets, "secret")
            if key and secret in cfg.secrets and key not in cfg.secrets[secret].keys:
                problems.append((base + ("secrets", env),
                                 f"key '{key}' is not in secrets.{secret}.keys {cfg.secrets[secret].keys}"))
        for i, secret in enumerate(svc.secrets_from):
            problems += undefined(base + ("secrets_from", i), secret, cfg.secrets, "secret")
            if secret in cfg.secrets and not cfg.secrets[secret].keys:
                problems.append((base + ("secrets_from", i), f"secret '{secret}' has no 'keys' to inject"))
        for i, mount in enumerate(svc.volumes):
            problems += undefined(base + ("volumes", i, "volume"), mount.volume, cfg.volumes, "volume")
        if svc.capacity_provider is not None:
            problems += undefined(base + ("capacity_provider",), svc.capacity_provider,
                                   cfg.cluster.capacity_providers, "capacity provider")
    return problems

def hosts_own_a_task(cfg: EnvConfig) -> list[Problem]:
    """init_of/sidecar_of name a defined, task-owning service; a sidecar's host is a long-running service."""
    problems = []
    for sname, svc in cfg.services.items():
        for field in ("init_of", "sidecar_of"):
            host = getattr(svc, field)
            if host is None:
                continue
            loc = ("services", sname, field)
            problems += undefined(loc, host, cfg.services, "service")
            if host in cfg.services and cfg.services[host].host is not None:
                problems.append((loc, f"'{host}' is itself an init/sidecar; name a task-owning service"))
            if host in cfg.services and cfg.services[host].kind != Kind.service and svc.kind == Kind.sidecar:
                problems.append((loc, f"'{host}' is not a long-running service"))
    return problems

def section_references_resolve(cfg: EnvConfig) -> list[Problem]:
    """cache.allow_from and database.allow_from name services; registry.docker_hub_secret names a secret."""
    problems = []
    for i, src in enumerate(cfg.cache.allow_from if cfg.cache else []):
        problems += undefined(("cache", "allow_from", i), src, cfg.services, "service")
    for i, src in enumerate(cfg.database.allow_from):
        problems += undefined(("database", "allow_from", i), src, cfg.services, "service")
    if cfg.registry.docker_hub_secret:
        problems += undefined(("registry", "docker_hub_secret"), cfg.registry.docker_hub_secret,
                               cfg.secrets, "secret")
    return problems

def variables_are_set_once(cfg: EnvConfig) -> list[Problem]:
    """A container env var comes from one place: environment, parameters/secrets, secrets_from keys,
    cache.url_variable or database.env (ECS rejects duplicates)."""
    problems = []
    for sname, svc in cfg.services.items():
        overlap = set(svc.environment) & (set(svc.parameters) | set(svc.secrets))
        if overlap:
            problems.append((("services", sname),
                             f"{sorted(overlap)} set both in environment and parameters/secrets; keep one"))
        sources: dict[str, list[str]] = {}
        for var in [*svc.environment, *svc.parameters, *svc.secrets]:
            sources.setdefault(var, []).append("own")
        for secret in svc.secrets_from:
            for key in cfg.secrets[secret].keys if secret in cfg.secrets else []:
                sources.setdefault(key, []).append(f"secrets_from {secret}")
        if cfg.cache and sname in cfg.cache.allow_from:
            sources.setdefault(cfg.cache.url_variable, []).append("cache.url_variable")
        if sname in cfg.database.allow_from:
            env = cfg.database.env
            db_vars = [env.host, env.port, env.username, env.password]
            db_vars += [env.database] if cfg.database.name else []
            for var in db_vars:
                sources.setdefault(var, []).append("database.env")
        for var, found in sorted(sources.items()):
            if len(found) > 1 and set(found) != {"own"}:
                problems.append((("services", sname), f"variable {var} is injected more than once "
                                 f"({', '.join(found)}); keep one (rename the key or the env var)"))
    return problems

def no_dependency_cycles(cfg: EnvConfig) -> list[Problem]:
    """depends_on forms no cycle (ECS could never start the services in it)."""
    problems, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in cfg.services[node].depends_on:
            if dep not in cfg.services:
                continue
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep] if dep in path else [node, dep]
                problems.append((("services", node, "depends_on"), f"dependency cycle: {' -> '.join(cycle)}"))
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for sname in cfg.services:
        if sname not in state:
            visit(sname, [sname])
    return problems
