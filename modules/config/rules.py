"""Cross-field rules of the env file: checks that need more than one section.

Each rule is a function `rule(cfg) -> list[Problem]` whose docstring states the rule, registered
once in RULES. EnvConfig runs them in order after every section has validated (`check()`), and
every problem found is reported at once. Adding a rule: one function here, one line in RULES,
one test in tests/config/test_config_rules.py.

Rules read the EnvConfig by duck typing (its views: task_owners(), containers_of(), ...), so
this module never imports modules/config/env.py at run time: env.py imports it, no cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from modules.config import capacity
from modules.config.base import CrossFieldErrors, Problem
from modules.config.defaults import (
    CACHE_ID_MAX,
    CACHE_ID_SUFFIX,
    DOCKER_HUB_SECRET_KEYS,
    PULL_THROUGH_PREFIX_MAX,
    PULL_THROUGH_UPSTREAMS,
)
from modules.config.registry import pull_through_source
from modules.config.services import Kind

if TYPE_CHECKING:  # annotations only: env.py imports this module
    from modules.config.env import EnvConfig

Rule = Callable[["EnvConfig"], list[Problem]]


def _undefined(loc: tuple, ref: str, pool: Iterable[str], what: str) -> list[Problem]:
    """The 'not defined' problem when `ref` is not in `pool`, else none."""
    pool = set(pool)
    if ref in pool:
        return []
    return [(loc, f"'{ref}' is not a defined {what}; defined: {sorted(pool) or 'none'}")]


def only_when_consistent(rule: Rule) -> Rule:
    """Marks a rule that runs only when the rules before it found nothing (its figures assume a sound config)."""
    rule.only_when_consistent = True  # type: ignore[attr-defined]
    return rule


# ---------------------------------------------------------------- registry and images
def cache_upstreams_need_pull_through(cfg: EnvConfig) -> list[Problem]:
    """registry.cache_upstreams only means something with registry.pull_through_cache on."""
    if not cfg.registry.pull_through_cache and cfg.registry.cache_upstreams:
        return [(("registry", "cache_upstreams"), "needs 'pull_through_cache: true'")]
    return []


def pull_through_prefix_fits(cfg: EnvConfig) -> list[Problem]:
    """Each pull-through rule's repository prefix `<name>/<upstream>` is at most 30 characters, no '--' (ECR)."""
    problems = []
    for upstream in cfg.pull_through_upstreams():
        prefix = f"{cfg.name}/{upstream}"
        if len(prefix) > PULL_THROUGH_PREFIX_MAX or "--" in prefix:
            problems.append((("registry", "pull_through_cache"), f"repository prefix '{prefix}' must be at most "
                             f"{PULL_THROUGH_PREFIX_MAX} characters without '--' (ECR); shorten project/environment "
                             "names"))
    return problems


def public_images_are_cacheable(cfg: EnvConfig) -> list[Problem]:
    """With the pull-through cache on, every public image comes from an upstream ECR can cache."""
    if not cfg.registry.pull_through_cache:
        return []
    supported = ", ".join(h for h, _ in list(PULL_THROUGH_UPSTREAMS.values())[1:])
    return [(("services", sname, "image"),
             f"'{svc.image.public}' is on a registry ECR pull-through cache does not support "
             f"(supported: Docker Hub, {supported}); "
             f"use one of those or set registry.pull_through_cache: false")
            for sname, svc in cfg.services.items()
            if svc.image.public and pull_through_source(svc.image.public)[0] is None]


def docker_hub_has_credentials(cfg: EnvConfig) -> list[Problem]:
    """Caching Docker Hub needs registry.docker_hub_secret, a secret with exactly ECR's credential keys."""
    reg = cfg.registry
    if not reg.pull_through_cache:
        return []
    problems = []
    if "docker-hub" in cfg.pull_through_upstreams() and not reg.docker_hub_secret:
        problems.append((("registry", "docker_hub_secret"),
                         f"required: Docker Hub images are cached and ECR needs Docker Hub credentials; name a "
                         f"secret with keys {DOCKER_HUB_SECRET_KEYS}, or set pull_through_cache: false"))
    secret = cfg.secrets.get(reg.docker_hub_secret or "")
    if secret is not None and sorted(secret.keys) != DOCKER_HUB_SECRET_KEYS:
        problems.append((("secrets", reg.docker_hub_secret, "keys"),
                         f"the Docker Hub credentials secret needs exactly the keys {DOCKER_HUB_SECRET_KEYS}"))
    return problems


def cache_id_fits(cfg: EnvConfig) -> list[Problem]:
    """The ElastiCache replication group id `<name>-redis` is at most 40 characters without '--'."""
    cache_id = cfg.name + CACHE_ID_SUFFIX
    if cfg.cache and (len(cache_id) > CACHE_ID_MAX or "--" in cache_id):
        return [(("cache",), f"ElastiCache id '{cache_id}' must be at most {CACHE_ID_MAX} "
                 "characters without '--'; shorten project/environment names")]
    return []


def tag_env_var_is_not_the_synth_tag(cfg: EnvConfig) -> list[Problem]:
    """An image's tag_env_var names another repository's tag, never registry.image_tag_env_var."""
    return [(("services", sname, "image", "tag_env_var"),
             f"'{svc.image.tag_env_var}' is the synth-time tag (registry.image_tag_env_var); "
             "omit tag_env_var for that, or name the variable the other repository's tag is in")
            for sname, svc in cfg.services.items()
            if svc.image.tag_env_var and svc.image.tag_env_var == cfg.registry.image_tag_env_var]


def one_build_one_source(cfg: EnvConfig) -> list[Problem]:
    """Services sharing a `build` repository agree on its dockerfile and tag_env_var (one tag per synth)."""
    problems, first = [], {}
    for sname, svc in cfg.services.items():
        image = svc.image
        if not image.build:
            continue
        other = first.setdefault(image.build, sname)
        theirs = cfg.services[other].image
        if (image.dockerfile, image.tag_env_var) != (theirs.dockerfile, theirs.tag_env_var):
            problems.append((("services", sname, "image"),
                             f"builds '{image.build}' like service '{other}' but with another dockerfile/tag_env_var; "
                             "one repository has one source and one tag"))
    return problems


# ---------------------------------------------------------------- references between sections
def service_references_resolve(cfg: EnvConfig) -> list[Problem]:
    """A service's depends_on, allow_from, parameters, secrets, secrets_from, volumes and capacity_provider
    name things that are defined (secret keys included); a service does not depend on itself."""
    problems, names = [], set(cfg.services)
    for sname, svc in cfg.services.items():
        base = ("services", sname)
        for i, dep in enumerate(svc.depends_on):
            problems += _undefined(base + ("depends_on", i), dep, names, "service")
            if dep == sname:
                problems.append((base + ("depends_on", i), "a service cannot depend on itself"))
        for i, src in enumerate(svc.allow_from):
            problems += _undefined(base + ("allow_from", i), src, names, "service")
        for env, key in svc.parameters.items():
            problems += _undefined(base + ("parameters", env), key, cfg.parameters, "parameter")
        for env, ref in svc.secrets.items():
            secret, _, key = ref.partition(":")
            problems += _undefined(base + ("secrets", env), secret, cfg.secrets, "secret")
            if key and secret in cfg.secrets and key not in cfg.secrets[secret].keys:
                problems.append((base + ("secrets", env),
                                 f"key '{key}' is not in secrets.{secret}.keys {cfg.secrets[secret].keys}"))
        for i, secret in enumerate(svc.secrets_from):
            problems += _undefined(base + ("secrets_from", i), secret, cfg.secrets, "secret")
            if secret in cfg.secrets and not cfg.secrets[secret].keys:
                problems.append((base + ("secrets_from", i), f"secret '{secret}' has no 'keys' to inject"))
        for i, mount in enumerate(svc.volumes):
            problems += _undefined(base + ("volumes", i, "volume"), mount.volume, cfg.volumes, "volume")
        if svc.capacity_provider is not None:
            problems += _undefined(base + ("capacity_provider",), svc.capacity_provider,
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
            problems += _undefined(loc, host, cfg.services, "service")
            if host in cfg.services and cfg.services[host].host is not None:
                problems.append((loc, f"'{host}' is itself an init/sidecar; name a task-owning service"))
            if host in cfg.services and cfg.services[host].kind != Kind.service and svc.kind == Kind.sidecar:
                problems.append((loc, f"'{host}' is not a long-running service"))
    return problems


def section_references_resolve(cfg: EnvConfig) -> list[Problem]:
    """cache.allow_from and database.allow_from name services; registry.docker_hub_secret names a secret."""
    problems = []
    for i, src in enumerate(cfg.cache.allow_from if cfg.cache else []):
        problems += _undefined(("cache", "allow_from", i), src, cfg.services, "service")
    for i, src in enumerate(cfg.database.allow_from):
        problems += _undefined(("database", "allow_from", i), src, cfg.services, "service")
    if cfg.registry.docker_hub_secret:
        problems += _undefined(("registry", "docker_hub_secret"), cfg.registry.docker_hub_secret,
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


# ---------------------------------------------------------------- ports and the mesh
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


def gpus_on_gpu_providers(cfg: EnvConfig) -> list[Problem]:
    """A service asking for GPUs runs on a capacity provider with gpu: true."""
    problems = []
    for sname, svc in cfg.services.items():
        if not svc.gpu:
            continue
        provider = cfg.capacity_provider_of(sname)
        cp = cfg.cluster.capacity_providers.get(provider)
        if cp is not None and not cp.gpu:
            gpu_cps = [n for n, c in cfg.cluster.capacity_providers.items() if c.gpu]
            problems.append((("services", sname, "gpu"),
                             f"{svc.gpu} GPU(s) requested but capacity provider '{provider}' has no GPU; "
                             f"set capacity_provider to one of {gpu_cps or '(none: add one with gpu: true)'}"))
    return problems


# EventBridge Scheduler cron(minutes hours day-of-month month day-of-week year) at one fixed time of day
FIXED_TIME_CRON = re.compile(r"^cron\((\d{1,2}) (\d{1,2}) ")


def scheduled_tasks_run_inside_off_hours(cfg: EnvConfig) -> list[Problem]:
    """A scheduled task placed on a capacity provider with off_hours runs inside the window: outside it the
    provider has no instance, so the task cannot be placed. rate(...) fires around the clock; a cron(...) at a
    fixed time in the window's time zone must fall between start and stop (other crons are not judged)."""
    problems = []
    for sname, svc in cfg.task_owners().items():
        provider = cfg.capacity_provider_of(sname)
        cp = cfg.cluster.capacity_providers.get(provider)
        if svc.kind != Kind.scheduled or cp is None or cp.off_hours is None:
            continue
        window = cp.off_hours
        where = f"capacity provider '{provider}' runs only {window.describe()}"
        fixed = FIXED_TIME_CRON.match(svc.schedule)
        if svc.schedule.startswith("rate("):
            problems.append((("services", sname, "schedule"), f"'{svc.schedule}' fires around the clock, but {where}; "
                             "use a cron(...) inside the window or another capacity_provider"))
        elif fixed and svc.schedule_timezone == window.timezone and not window.covers(int(fixed[2]), int(fixed[1])):
            problems.append((("services", sname, "schedule"), f"'{svc.schedule}' ({svc.schedule_timezone}) falls "
                             f"outside the window: {where}"))
    return problems


# ---------------------------------------------------------------- the ALB's targets
def _long_running_port(cfg: EnvConfig, section: tuple, service: str, port: int) -> list[Problem]:
    """`service` is a defined long-running service and `port` one of its ports."""
    problems = _undefined(section + ("service",), service, cfg.services, "service")
    svc = cfg.services.get(service)
    if svc is None:
        return problems
    ports = [pm.port for pm in svc.ports]
    if svc.kind != Kind.service or svc.host:
        problems.append((section + ("service",), f"'{service}' is not a long-running service"))
    elif port not in ports:
        problems.append((section + ("port",), f"port {port} is not a port of '{service}' ({ports})"))
    return problems


def alb_target_is_a_service_port(cfg: EnvConfig) -> list[Problem]:
    """alb.target names a long-running service and one of its container ports."""
    return _long_running_port(cfg, ("alb", "target"), cfg.alb.target.service, cfg.alb.target.port)


def grafana_target_is_a_service_port(cfg: EnvConfig) -> list[Problem]:
    """When Grafana is exposed (vpn/sso, or internal with allowed_cidrs), alb.grafana names a long-running
    service and one of its ports."""
    grafana = cfg.alb.grafana
    if grafana.exposure == "internal" and not grafana.allowed_cidrs:
        return []
    return _long_running_port(cfg, ("alb", "grafana"), grafana.service, grafana.port)


def oidc_client_secret_is_plain(cfg: EnvConfig) -> list[Problem]:
    """alb.grafana.oidc.client_secret names a plain secret set out of band (no generate, no keys)."""
    oidc = cfg.alb.grafana.oidc
    if not oidc:
        return []
    loc = ("alb", "grafana", "oidc", "client_secret")
    problems = _undefined(loc, oidc.client_secret, cfg.secrets, "secret")
    client_secret = cfg.secrets.get(oidc.client_secret)
    if client_secret is not None and (client_secret.generate or client_secret.keys):
        problems.append((loc, f"secret '{oidc.client_secret}' must be a plain secret set out of "
                              "band (the IdP issues it): no 'generate', no 'keys'"))
    return problems


# ---------------------------------------------------------------- start order and sizing
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


@only_when_consistent
def tasks_fit_capacity(cfg: EnvConfig) -> list[Problem]:
    """Every task fits one instance of its capacity provider, and all tasks at their maximum counts fit
    instance x max_size (modules/config/capacity.py); the instance types are known and agree with `gpu`."""
    return [(tuple(path.split(".")), msg) for path, msg in capacity.fit_problems(cfg)]


RULES: list[Rule] = [
    cache_upstreams_need_pull_through,
    pull_through_prefix_fits,
    public_images_are_cacheable,
    docker_hub_has_credentials,
    cache_id_fits,
    tag_env_var_is_not_the_synth_tag,
    one_build_one_source,
    service_references_resolve,
    hosts_own_a_task,
    section_references_resolve,
    variables_are_set_once,
    ports_are_unique_per_task,
    port_allow_from_narrows,
    port_names_are_unique,
    jobs_use_dns_names,
    gpus_on_gpu_providers,
    scheduled_tasks_run_inside_off_hours,
    alb_target_is_a_service_port,
    grafana_target_is_a_service_port,
    oidc_client_secret_is_plain,
    no_dependency_cycles,
    tasks_fit_capacity,
]


def problems(cfg: EnvConfig, skip: Iterable[str] = ()) -> list[Problem]:
    """Every problem the rules find, in RULES order; rules named in `skip` are left out."""
    found: list[Problem] = []
    for rule in RULES:
        if rule.__name__ in skip:
            continue
        if getattr(rule, "only_when_consistent", False) and found:
            break
        found += rule(cfg)
    return found


def check(cfg: EnvConfig, skip: Iterable[str] = ()) -> None:
    """Raise CrossFieldErrors listing every problem; return when the config passes every rule."""
    found = problems(cfg, skip)
    if found:
        raise CrossFieldErrors(found)
