"""`python main.py diagram`: the architecture picture of an env file (PNG + SVG, Graphviz).

Generated from the validated EnvConfig only (no cdktf/jsii): VPC with its public and private subnet
tiers, the ALB, the ECS capacity providers with their tasks and containers, Redis, the referenced
database, EFS with its volumes, Secrets Manager and SSM. Arrows between services come from the
`allow_from` lists (who may connect to whom, labelled with the ports), so the observability flow
(api -> otel-collector -> tempo; prometheus scrapes; grafana reads) is drawn from the data, not
hard-coded. Everything is emitted in sorted order: the DOT source is deterministic.

Needs Graphviz's `dot` on PATH (Debian/Ubuntu `apt-get install graphviz`, macOS `brew install
graphviz`). Without it the command exits 2 with that advice: a missing prerequisite the user fixes,
like the other bad-input cases.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modules.config import EnvConfig, Kind

HELP = "draw the architecture of an env file as PNG and SVG (needs Graphviz `dot`)"
NEEDS_ENV = True
FORMATS = ("png", "svg")
DEFAULT_OUTPUT_DIR = "docs"  # docs/<environment>.png|svg; README embeds docs/stage.png
FONT = "Helvetica"
COLOURS = {  # fill colours per kind of thing, so the picture reads at a glance
    "edge": "#fde2c8", "service": "#dbe9f6", "job": "#e8e0f3", "scheduled": "#e8e0f3", "init": "#eeeeee",
    "sidecar": "#eeeeee", "data": "#d5f0dc", "security": "#f9d9d9", "storage": "#fff2c2", "aws": "#f4f4f4",
}


def node_id(kind: str, name: str = "") -> str:
    """Stable node ids (also the <title> of each SVG node): `svc_api`, `vol_grafana`, `redis`."""
    return f"{kind}_{name}" if name else kind


def _label(title: str, *details: str) -> str:
    return "\n".join([title, *[d for d in details if d]])


def _reachable_ports(cfg: EnvConfig, owner: str) -> dict[str, list[int]]:
    """{source service: ports of the owner's task it may connect to} (a port's allow_from narrows the task's)."""
    by_source: dict[str, list[int]] = {}
    for port, sources in sorted(cfg.port_sources(owner).items()):
        for source in sources:
            by_source.setdefault(source, []).append(port)
    return by_source


def build(cfg: EnvConfig):
    """The graph as a graphviz.Digraph (no rendering here, so tests can read the DOT source)."""
    import graphviz  # noqa: PLC0415  (only this command needs it)

    g = graphviz.Digraph(cfg.name, graph_attr={
        "rankdir": "LR", "fontname": FONT, "fontsize": "12", "compound": "true", "newrank": "true",
        "nodesep": "0.25", "ranksep": "0.6", "labelloc": "t",
        "label": f"{cfg.name} ({cfg.region}) - generated from its env file by `python main.py diagram`",
    }, node_attr={"shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": "10",
                  "fillcolor": "white"}, edge_attr={"fontname": FONT, "fontsize": "8", "color": "#555555"})
    g.node(node_id("users"), "users\n(internet)", shape="oval", fillcolor=COLOURS["aws"])

    subnets = cfg.network.subnet_cidrs()
    with g.subgraph(name="cluster_aws") as aws:
        aws.attr(label=f"AWS {cfg.region}", style="rounded", color="#999999")
        with aws.subgraph(name="cluster_vpc") as vpc:
            vpc.attr(label=f"VPC {cfg.network.vpc_cidr} ({cfg.network.az_count} AZs)", style="rounded,dashed")
            _public_tier(cfg, vpc, subnets["public"])
            _private_tier(cfg, vpc, subnets["private"])
        _regional_services(cfg, aws)
    _edges(cfg, g)
    return g


def _public_tier(cfg: EnvConfig, vpc, cidrs: list[str]) -> None:
    with vpc.subgraph(name="cluster_public") as pub:
        pub.attr(label="public subnets\n" + ", ".join(cidrs), style="rounded,filled", fillcolor="#fbf3ea")
        listeners = "HTTPS :443, HTTP :80 -> redirect" if cfg.alb.https else "HTTP :80"
        pub.node(node_id("alb"), _label("Application Load Balancer", listeners), fillcolor=COLOURS["edge"])
        pub.node(node_id("nat"), _label("NAT gateway", "one per AZ" if cfg.network.nat == "per_az" else "single"),
                 fillcolor=COLOURS["aws"])


def _private_tier(cfg: EnvConfig, vpc, cidrs: list[str]) -> None:
    with vpc.subgraph(name="cluster_private") as priv:
        priv.attr(label="private subnets\n" + ", ".join(cidrs), style="rounded,filled", fillcolor="#eef4fa")
        with priv.subgraph(name="cluster_ecs") as ecs:
            ecs.attr(label=f"ECS cluster {cfg.name}\nService Connect namespace {cfg.namespace}",
                     style="rounded,filled", fillcolor="white")
            for key, cp in sorted(cfg.cluster.capacity_providers.items()):
                _capacity_provider(cfg, ecs, key, cp)
        _managed_data(cfg, priv)
        if cfg.volumes:
            with priv.subgraph(name="cluster_efs") as efs:
                efs.attr(label="EFS (encrypted, TLS)\naccess point per volume", style="rounded,filled",
                         fillcolor=COLOURS["storage"])
                for name, vol in sorted(cfg.volumes.items()):
                    efs.node(node_id("vol", name), _label(name, f"uid {vol.uid}:{vol.gid}"), shape="cylinder",
                             fillcolor="white")
        endpoints = sorted(k for k, on in cfg.network.endpoints.model_dump().items() if on)
        if endpoints:
            priv.node(node_id("endpoints"), _label("VPC endpoints", ", ".join(endpoints)), fillcolor=COLOURS["aws"])


def _capacity_provider(cfg: EnvConfig, ecs, key: str, cp) -> None:
    owners = sorted(o for o in cfg.task_owners() if cfg.capacity_provider_of(o) == key)
    with ecs.subgraph(name=f"cluster_cp_{key}") as group:
        size = f"{cp.instance_type} x {cp.min_size}-{cp.max_size}" + (" (GPU)" if cp.gpu else "")
        group.attr(label=f"capacity provider {key}\n{size}", style="rounded,filled",
                   fillcolor="#e6f0e0" if cp.gpu else "#f2f2f2")
        if not owners:
            group.node(node_id("cp_empty", key), "(no tasks)", style="dashed")
        for owner in owners:
            svc = cfg.services[owner]
            with group.subgraph(name=f"cluster_task_{owner}") as task:
                count = svc.kind.value if svc.kind != Kind.service else f"service x{svc.desired_count}" + (
                    f" ({svc.scaling.min}-{svc.scaling.max})" if svc.scaling else "")
                if svc.kind == Kind.scheduled:
                    count = f"scheduled {svc.schedule} {svc.schedule_timezone}"
                task.attr(label=f"task {owner}: {count}", style="rounded,dashed", fillcolor="white")
                containers = cfg.containers_of(owner)
                for name in [owner, *sorted(set(containers) - {owner})]:
                    container = containers[name]
                    ports = ",".join(str(p.port) for p in container.ports)
                    size = f"{container.cpu:g} vCPU, {container.memory} MiB" + (
                        f", {container.gpu} GPU" if container.gpu else "")
                    kind = "" if container.kind == Kind.service else f"({container.kind.value})"
                    task.node(node_id("svc", name), _label(f"{name} {kind}".strip(), size,
                                                           f":{ports}" if ports else ""),
                              fillcolor=COLOURS[container.kind.value])


def _managed_data(cfg: EnvConfig, priv) -> None:
    if cfg.cache:
        priv.node(node_id("redis"), _label("ElastiCache Redis " + cfg.cache.engine_version,
                                           f"{cfg.cache.num_cache_clusters} x {cfg.cache.node_type}",
                                           f":{cfg.cache.port} TLS + AUTH"), shape="cylinder",
                  fillcolor=COLOURS["data"])
    db = cfg.database
    if db.mode == "none":
        priv.node(node_id("rds"), _label("RDS Postgres", "none referenced", "(database.mode: none)"),
                  shape="cylinder", style="dashed", fillcolor="white")
    else:
        priv.node(node_id("rds"), _label("RDS Postgres (existing)", f"{db.mode}: {db.identifier or db.endpoint}",
                                         f":{db.port}"), shape="cylinder", fillcolor=COLOURS["data"])


def _regional_services(cfg: EnvConfig, aws) -> None:
    with aws.subgraph(name="cluster_regional") as reg:
        reg.attr(label="regional services", style="rounded,dashed")
        if cfg.secrets or cfg.cache or cfg.database.credentials_secret_arn:
            with reg.subgraph(name="cluster_secrets") as sm:
                sm.attr(label="Secrets Manager" + (" (KMS CMK)" if cfg.secrets_kms else ""), style="rounded,filled",
                        fillcolor=COLOURS["security"])
                for name, secret in sorted(cfg.secrets.items()):
                    what = "generated" if secret.generate else (f"keys: {', '.join(secret.keys)}" if secret.keys
                                                                else "set out of band")
                    sm.node(node_id("secret", name), _label(name, what), shape="note", fillcolor="white")
                if cfg.cache:
                    sm.node(node_id("secret", "redis-auth"), _label("Redis AUTH token", cfg.cache.url_variable),
                            shape="note", fillcolor="white")
                if cfg.database.mode != "none" and cfg.database.credentials_secret_arn:
                    sm.node(node_id("secret", "database-credentials"),
                            _label("database credentials", "existing secret (not managed here)"),
                            shape="note", style="dashed", fillcolor="white")
        if cfg.parameters:
            reg.node(node_id("ssm"), _label("SSM Parameter Store", cfg.parameter_prefix,
                                            f"{len(cfg.parameters)} parameters"), shape="note",
                     fillcolor=COLOURS["aws"])
        reg.node(node_id("ecr"), _label("ECR", f"{len({s.image.build for s in cfg.services.values()} - {None})} "
                                               "repositories"), fillcolor=COLOURS["aws"])
        reg.node(node_id("logs"), _label("CloudWatch Logs", f"{cfg.logs.retention_days} days"),
                 fillcolor=COLOURS["aws"])


def _edges(cfg: EnvConfig, g) -> None:
    target = cfg.alb.target
    g.edge(node_id("users"), node_id("alb"), label=", ".join(cfg.alb.allowed_cidrs), penwidth="2")
    g.edge(node_id("alb"), node_id("svc", target.service), label=f":{target.port}", penwidth="2")
    grafana = cfg.alb.grafana
    if grafana.exposure != "internal":  # seed §3.3: an ALB host rule limited to the VPN ranges
        g.edge(node_id("alb"), node_id("svc", grafana.service), label=f"{cfg.alb.grafana_host()} ({grafana.exposure}) "
               f"from {', '.join(grafana.allowed_cidrs)}", style="dashed")
    elif grafana.allowed_cidrs:  # internal: private ranges routed into the VPC reach the tasks directly
        g.node(node_id("vpn"), _label("VPN / peered networks", ", ".join(grafana.allowed_cidrs)), shape="oval",
               fillcolor=COLOURS["aws"])
        g.edge(node_id("vpn"), node_id("svc", grafana.service), label=f":{grafana.port}", style="dashed")
    # who may connect to whom, on which ports (security group rules): allow_from of the receiving task
    for owner in sorted(cfg.task_owners()):
        for source, ports in sorted(_reachable_ports(cfg, owner).items()):
            g.edge(node_id("svc", source), node_id("svc", owner), label=":" + ",".join(map(str, ports)))
    if cfg.cache:
        for source in sorted(cfg.cache.allow_from):
            g.edge(node_id("svc", source), node_id("redis"), color="#2e7d32")
    if cfg.database.mode != "none":
        for source in sorted(cfg.database.allow_from):
            g.edge(node_id("svc", source), node_id("rds"), color="#2e7d32")
    for name in sorted(cfg.services):
        svc = cfg.services[name]
        for mount in sorted(svc.volumes, key=lambda m: (m.volume, m.path)):
            g.edge(node_id("svc", name), node_id("vol", mount.volume), label=mount.path, style="dashed",
                   color="#b58900", arrowhead="none")
        secrets = sorted({ref.partition(":")[0] for ref in svc.secrets.values()} | set(svc.secrets_from))
        for secret in secrets:
            g.edge(node_id("svc", name), node_id("secret", secret), style="dotted", color="#c62828",
                   arrowhead="none")
        if cfg.cache and name in cfg.cache.allow_from:
            g.edge(node_id("svc", name), node_id("secret", "redis-auth"), style="dotted", color="#c62828",
                   arrowhead="none")
        if cfg.database.mode != "none" and cfg.database.credentials_secret_arn and name in cfg.database.allow_from:
            g.edge(node_id("svc", name), node_id("secret", "database-credentials"), style="dotted", color="#c62828",
                   arrowhead="none")
        if svc.parameters:
            g.edge(node_id("svc", name), node_id("ssm"), style="dotted", color="#777777", arrowhead="none")


def render(cfg: EnvConfig, stem: Path) -> list[Path]:
    """Write <stem>.png and <stem>.svg; raises graphviz.ExecutableNotFound without `dot`."""
    graph = build(cfg)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in FORMATS:
        data = graph.pipe(format=fmt)
        path = stem.with_name(f"{stem.name}.{fmt}")
        path.write_bytes(data)
        written.append(path)
    return written


def output_stem(args: argparse.Namespace, cfg: EnvConfig) -> Path:
    if args.output:
        out = Path(args.output)
        return out.with_suffix("") if out.suffix.lower().lstrip(".") in FORMATS else out
    return Path(DEFAULT_OUTPUT_DIR) / cfg.environment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE",
                        help=f"output path without extension (a .png/.svg suffix is dropped); writes FILE.png and "
                             f"FILE.svg (default {DEFAULT_OUTPUT_DIR}/<environment>)")
    parser.add_argument("--dot", action="store_true", help="print the Graphviz DOT source instead (no `dot` needed)")
    parser.epilog = "Exit 2 when Graphviz `dot` is not installed (apt-get install graphviz / brew install graphviz)."


def run(args: argparse.Namespace, cfg: EnvConfig) -> int:
    if args.dot:
        sys.stdout.write(build(cfg).source)
        return 0
    import graphviz  # noqa: PLC0415

    try:
        written = render(cfg, output_stem(args, cfg))
    except graphviz.ExecutableNotFound:
        print("error: Graphviz `dot` is not on PATH; install Graphviz (Debian/Ubuntu: apt-get install graphviz, "
              "macOS: brew install graphviz) or print the DOT source with --dot", file=sys.stderr)
        return 2
    print("wrote " + " and ".join(str(p) for p in written))
    return 0
