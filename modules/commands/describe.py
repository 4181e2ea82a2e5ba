"""`python main.py describe`: what an env file deploys, as tables an operator can read.

Reads the validated EnvConfig only (no cdktf/jsii), so it answers instantly. Four tables:
services (where and how each container runs), wiring (volumes, secrets, parameters, managed data,
start order), the variables derived from the image contracts (modules/config/wiring.py), the Service
Connect timeouts per port (set or derived) and capacity per capacity provider (from
modules/config/capacity.py). Box drawing and colour
only when stdout is a terminal; piped output is plain, aligned text (stable: tests compare it).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import yaml

from modules.config.grafana import admin_secret, grafana_secret_env
from modules.config import EnvConfig, Kind, Service
from modules.config.loading import resolve
from modules.config.wiring import dns_discovered
from modules.config.wiring import derived_environment

HELP = "print a table of every service and the capacity each capacity provider needs vs. has"
NEEDS_ENV = True
NONE = "-"
BOLD, RESET = "\033[1m", "\033[0m"


# ------------------------------------------------------------------ cell contents (pure, testable)
def image_text(svc: Service) -> str:
    """Public images as written; built images as their ECR repository (tag chosen at synth)."""
    return svc.image.public if svc.image.public else f"ecr:{svc.image.build}"


def vcpu_text(svc: Service) -> str:
    return f"{svc.cpu:g}"


def ports_text(svc: Service) -> list[str]:
    return [f"{p.port}/{p.protocol}" for p in svc.ports]


def connect_name(cfg: EnvConfig, name: str) -> list[str]:
    """How other services address this container (the compose name). Service Connect gives every
    container with ports in a long-running service its own name; a container without ports shares its
    task's network, reached through the task owner; services a job depends on also get a DNS name,
    because run-task jobs sit outside Service Connect."""
    svc = cfg.services[name]
    owner = cfg.task_owner(name)
    if not svc.ports or cfg.services[owner].kind != Kind.service:
        return [f"via {svc.host}"] if svc.host else []
    names = [name]
    if name == owner and name in dns_discovered(cfg):
        names.append(f"{name}.{cfg.dns_namespace} (DNS)")
    return names


def kind_text(svc: Service) -> str:
    if svc.kind == Kind.scheduled:
        return f"scheduled {svc.schedule} {svc.schedule_timezone}"
    if svc.is_loop:
        return "sidecar (loop)"
    return svc.kind.value


def count_text(svc: Service) -> str:
    if svc.host:
        return NONE
    if svc.kind != Kind.service:
        return "on demand" if svc.kind == Kind.job else "per run"
    if svc.scaling:
        return f"{svc.desired_count} ({svc.scaling.min}-{svc.scaling.max})"
    return str(svc.desired_count)


def secrets_text(cfg: EnvConfig, name: str) -> list[str]:
    """Secret NAMES only (values never leave Secrets Manager): the env var, and where it comes from
    when that is not a secret of the same name (`secret:KEY` of a JSON secret, the cache's URL)."""
    svc = cfg.services[name]
    lines = [env if ref == env else f"{env} <- {ref}" for env, ref in sorted(svc.secrets.items())]
    for secret in sorted(svc.secrets_from):
        lines += [f"{secret}:{key}" for key in sorted(cfg.secrets[secret].keys)]
    if cfg.cache and name in cfg.cache.allow_from:
        lines.append(f"{cfg.cache.url_variable} (cache)")
    # what the generator gives a Grafana: its admin password (generated), the SSO client secret
    lines += [f"{env} (generated)" if secret == admin_secret(name) else f"{env} <- {secret}"
              for env, secret in sorted(grafana_secret_env(cfg, name).items())]
    if database_client(cfg, name):  # keys of the existing credentials secret
        lines += [f"{cfg.database.env.username} (database)", f"{cfg.database.env.password} (database)"]
    return lines


def parameters_text(cfg: EnvConfig, name: str) -> list[str]:
    """SSM parameters the container reads: its own, plus the database connection for its clients."""
    lines = sorted(cfg.services[name].parameters)
    if database_client(cfg, name):
        db_env = cfg.database.env
        lines += [f"{var} (database)" for var in (db_env.host, db_env.port)]
        if cfg.database.name:
            lines.append(f"{db_env.database} (database)")
    return lines


def database_client(cfg: EnvConfig, name: str) -> bool:
    return cfg.database.mode != "none" and name in cfg.database.allow_from


def allowed_from_text(cfg: EnvConfig, name: str) -> list[str]:
    """Who may connect to this container's ports: one list, or `PORT: sources` when ports differ."""
    sources = cfg.port_sources(cfg.task_owner(name))
    mine = {pm.port: sorted(sources[pm.port]) for pm in cfg.services[name].ports}
    if len({tuple(s) for s in mine.values()}) <= 1:
        return next(iter(mine.values()), [])
    return [f"{port}: {', '.join(s) or NONE}" for port, s in sorted(mine.items())]


def managed_data_text(cfg: EnvConfig, name: str) -> list[str]:
    lines = []
    if cfg.cache and name in cfg.cache.allow_from:
        lines.append(f"redis:{cfg.cache.port}")
    if database_client(cfg, name):
        lines.append(f"postgres:{cfg.database.port}")
    return lines


def service_order(cfg: EnvConfig) -> list[str]:
    """Task owners by name, each followed by its init/sidecar containers by name."""
    order: list[str] = []
    for owner in sorted(cfg.task_owners()):
        order += [owner, *sorted(set(cfg.containers_of(owner)) - {owner})]
    return order


def task_groups(cfg: EnvConfig) -> frozenset[int]:
    """Row indexes (in service_order) where a new task starts."""
    return frozenset(i for i, name in enumerate(service_order(cfg)) if cfg.services[name].host is None)


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: list[tuple[list[str], ...]]  # every cell is a list of lines
    right: frozenset[int] = frozenset()  # numeric columns, right-aligned
    groups: frozenset[int] | None = None  # rows that start a group (a task); None: every row


def _cell(value) -> list[str]:
    if isinstance(value, list):
        return value or [NONE]
    return [str(value)] if value not in (None, "") else [NONE]


def services_table(cfg: EnvConfig) -> Table:
    rows = []
    for name in service_order(cfg):
        svc = cfg.services[name]
        rows.append(tuple(_cell(v) for v in (
            name, kind_text(svc), cfg.task_owner(name), image_text(svc), vcpu_text(svc), svc.memory,
            svc.gpu or NONE, cfg.capacity_provider_of(name), count_text(svc), ports_text(svc),
            connect_name(cfg, name))))
    return Table("Services", ("SERVICE", "KIND", "TASK", "IMAGE", "vCPU", "MEM MiB", "GPU", "CAPACITY",
                              "TASKS", "PORTS", "CONNECT NAME"), rows, frozenset({4, 5, 6}), task_groups(cfg))


def wiring_table(cfg: EnvConfig) -> Table:
    rows = []
    for name in service_order(cfg):
        svc = cfg.services[name]
        volumes = [f"{m.volume}:{m.path}{':ro' if m.read_only else ''}" for m in svc.volumes]
        rows.append(tuple(_cell(v) for v in (
            name, volumes, secrets_text(cfg, name), parameters_text(cfg, name), managed_data_text(cfg, name),
            allowed_from_text(cfg, name), sorted(svc.depends_on))))
    return Table("Wiring", ("SERVICE", "VOLUMES (EFS)", "SECRETS (names)", "PARAMETERS (SSM)", "MANAGED DATA",
                            "ALLOWED FROM", "DEPENDS ON"), rows, groups=task_groups(cfg))


def timeouts_table(cfg: EnvConfig) -> Table:
    """Every Service Connect port: how long a request to it may take and a connection stay idle, as set or
    derived from who calls it (modules/config/timeouts.py), and why."""
    from modules.config import timeouts  # noqa: PLC0415  (pure Python)

    rows = []
    for name in service_order(cfg):
        for pm in cfg.services[name].ports:
            if cfg.services[cfg.task_owner(name)].kind != Kind.service:
                continue  # not in the mesh: no Service Connect port
            per_request, idle = timeouts.per_request_timeout(cfg, name, pm), timeouts.idle_timeout(cfg, name, pm)
            rows.append(tuple(_cell(v) for v in (
                f"{name}:{pm.port}", per_request.value if pm.protocol != "tcp" else NONE, idle.value,
                f"{per_request.reason}; idle: {idle.reason}" if pm.protocol != "tcp" else f"idle: {idle.reason}")))
    return Table("Timeouts (Service Connect, per called port; 0 = no limit)",
                 ("PORT", "PER REQUEST s", "IDLE s", "WHY"), rows, frozenset({1, 2}))


def derived_table(cfg: EnvConfig) -> Table:
    """Every variable the generator sets from an image contract (the env file did not), and why."""
    rows = []
    for name in service_order(cfg):
        for var, derived in sorted(derived_environment(cfg, name).items()):
            rows.append(tuple(_cell(v) for v in (name, var, derived.value, derived.reason)))
    return Table("Derived from image contracts (docker/*/contract.yaml, docker/contracts/; an env-file value wins)",
                 ("SERVICE", "VARIABLE", "VALUE", "FROM"), rows)


def _used(needed: int, available: int) -> str:
    if not needed and not available:
        return NONE
    return f"{needed} / {available} ({100 * needed / available:.0f}%)"


def capacity_table(cfg: EnvConfig) -> Table:
    """Per capacity provider: reservations at the services' maximum task counts vs. instance x max_size
    (network interfaces: one per awsvpc task, instance ENIs - 1 per instance).
    (config.load() already refused an env file whose tasks do not fit, so nothing here is over 100%.)"""
    from modules.config import capacity  # noqa: PLC0415  (pure Python, no jsii)

    rows = []
    for key, use in sorted(capacity.usage(cfg).items()):
        rows.append(tuple(_cell(v) for v in (
            key, f"{use.max_size} x {use.instance_type}", _used(use.cpu_units_needed, use.cpu_units_available),
            _used(use.memory_mib_needed, use.memory_mib_available), _used(use.gpus_needed, use.gpus_available),
            _used(use.task_count, use.task_slots), [f"{owner} x{count}" for owner, count in sorted(use.tasks)])))
    return Table("Capacity (reserved at maximum task counts / available at max_size)",
                 ("CAPACITY PROVIDER", "INSTANCES (max)", "CPU UNITS", "MEMORY MiB", "GPUS", "ENIS (1 per task)",
                  "TASKS"), rows)


def summary_lines(cfg: EnvConfig) -> list[str]:
    from modules.config.timeouts import alb_idle_timeout  # noqa: PLC0415  (pure Python)

    target, alb_idle = cfg.alb.target, alb_idle_timeout(cfg)
    if cfg.database.mode == "none":
        database = "none referenced"
    else:
        database = f"{cfg.database.mode} {cfg.database.identifier or cfg.database.endpoint}:{cfg.database.port}"
        if cfg.database.network:  # in another VPC, connected by this stack
            net = cfg.database.network
            link = "peering" if net.via == "peering" else f"transit gateway {net.transit_gateway_id}"
            database += f" in {net.vpc_id} ({link})"
    cache = f"Redis {cfg.cache.engine_version} on {cfg.cache.num_cache_clusters} x {cfg.cache.node_type}" \
        if cfg.cache else "none"
    backend = f"Terraform Cloud {cfg.terraform_cloud.organization}" if cfg.terraform_cloud else "local state"
    grafana = f"; Grafana {cfg.alb.grafana.exposure}" if cfg.alb.grafana.service in cfg.services else ""
    lines = [
        f"{cfg.name} ({cfg.region}, {cfg.network.az_count} AZs, {backend})",
        f"ALB -> {target.service}:{target.port} ({'HTTPS' if cfg.alb.https else 'HTTP'}){grafana}; "
        f"Service Connect namespace {cfg.namespace}",
        f"ALB idle timeout: {alb_idle.value} s ({alb_idle.reason})",
        f"cache: {cache}; database: {database}; "
        f"{len(cfg.services)} container(s) in {len(cfg.task_owners())} task definition(s)",
    ]
    if any(svc.image.build for svc in cfg.services.values()):
        lines.append(f"ecr:NAME = ECR repository {cfg.name}/NAME (modules/registry.py), tagged with the synth's "
                     "image tag")
    built_elsewhere: dict[str, set[str]] = {}  # image.tag_env_var -> the builds whose tag it holds
    for svc in cfg.services.values():
        if svc.image.tag_env_var:
            built_elsewhere.setdefault(svc.image.tag_env_var, set()).add(svc.image.build)
    for var, builds in sorted(built_elsewhere.items()):
        lines.append(f"  except {', '.join(sorted(builds))} (built by another repository): the tag in ${var}, "
                     "else the synth's")
    lines.append(cost_line(cfg))
    return lines


def cost_line(cfg: EnvConfig) -> str:
    """The monthly estimate of `python main.py cost`, in one line (or why there is none)."""
    from modules.commands.cost import summary_line  # noqa: PLC0415  (pure Python)
    from modules.cost import prices  # noqa: PLC0415
    from modules.cost.estimate import estimate  # noqa: PLC0415
    from modules.cost.prices import PriceError  # noqa: PLC0415

    try:
        return summary_line(estimate(cfg, prices.load()))
    except PriceError as exc:
        return f"cost: not estimated: {exc}"


# ------------------------------------------------------------------ rendering
def _width(table: Table, col: int) -> int:
    return max(len(line) for row in [tuple([h] for h in table.header), *table.rows] for line in row[col])


def _lines_of(row: tuple[list[str], ...]) -> int:
    return max(len(cell) for cell in row)


def _align(text: str, width: int, right: bool) -> str:
    return text.rjust(width) if right else text.ljust(width)


def render_plain(table: Table) -> str:
    """Aligned columns, two spaces apart, a dashed rule under the header; no colour, no boxes."""
    widths = [_width(table, c) for c in range(len(table.header))]
    header_row = tuple([h] for h in table.header)
    out = [table.title]

    def emit(row):
        for i in range(_lines_of(row)):
            parts = [_align(cell[i] if i < len(cell) else "", widths[c], c in table.right)
                     for c, cell in enumerate(row)]
            out.append("  ".join(parts).rstrip())

    emit(header_row)
    out.append("  ".join("-" * w for w in widths))
    for row in table.rows:
        emit(row)
    return "\n".join(out)


def render_box(table: Table, colour: bool) -> str:
    """Box drawing (and bold headers with colour) for a terminal."""
    widths = [_width(table, c) for c in range(len(table.header))]
    bold = (lambda s: f"{BOLD}{s}{RESET}") if colour else (lambda s: s)

    def rule(left, mid, right):
        return left + mid.join("─" * (w + 2) for w in widths) + right

    def emit(row, style=lambda s: s):
        lines = []
        for i in range(_lines_of(row)):
            parts = [style(_align(cell[i] if i < len(cell) else "", widths[c], c in table.right))
                     for c, cell in enumerate(row)]
            lines.append("│ " + " │ ".join(parts) + " │")
        return lines

    out = [bold(table.title), rule("┌", "┬", "┐")]
    out += emit(tuple([h] for h in table.header), bold)
    out.append(rule("├", "┼", "┤"))
    for i, row in enumerate(table.rows):
        if i and (table.groups is None or i in table.groups):
            out.append(rule("├", "┼", "┤"))
        out += emit(row)
    out.append(rule("└", "┴", "┘"))
    return "\n".join(out)


def render(cfg: EnvConfig, box: bool = False, colour: bool = False) -> str:
    capacity = capacity_table(cfg)
    tables = [services_table(cfg), wiring_table(cfg), derived_table(cfg), timeouts_table(cfg), capacity]
    blocks = ["\n".join(summary_lines(cfg))]
    blocks += [render_box(t, colour) if box else render_plain(t) for t in tables]
    return "\n\n".join(blocks) + "\n"


def resolved_yaml(env_path) -> str:
    """The merged env file as YAML, keys in the files' order: what `extends:` made of it."""
    resolved = resolve(env_path)
    resolved.raw.pop("extends", None)
    header = f"# {env_path} with the files it extends merged in (python main.py describe --resolved)\n"
    return header + yaml.safe_dump(resolved.raw, sort_keys=False, allow_unicode=True, width=120)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--style", choices=("auto", "plain", "box"), default="auto",
                        help="auto (default): box drawing and colour on a terminal, plain text when piped")
    parser.add_argument("--resolved", action="store_true",
                        help="print the env file with the files it `extends:` merged in (YAML), instead")
    parser.epilog = ("Colour is off when NO_COLOR is set. Capacity counts each service at its scaling maximum "
                     "(jobs and schedules as one task); 'available' is instance size x max_size after the "
                     "ECS agent reserve (modules/config/capacity.py).")


def run(args: argparse.Namespace, cfg: EnvConfig) -> int:
    if args.resolved:  # cfg validated it: the merged document is a valid env file
        sys.stdout.write(resolved_yaml(args.env_path))
        return 0
    tty = sys.stdout.isatty()
    box = args.style == "box" or (args.style == "auto" and tty)
    colour = box and tty and "NO_COLOR" not in os.environ
    sys.stdout.write(render(cfg, box=box, colour=colour))
    return 0
