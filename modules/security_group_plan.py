"""The security group plan: every group of the stack and every rule between them, derived from the env file
without cdktf, so the config rules can count what the generator will create (rules/aws_limits.py: rules per
group within the VPC quota) and modules/security_groups.py creates exactly it. What each rule is for: the
docstring of modules/security_groups.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig

from modules.config.defaults import INTERFACE_ENDPOINT_SERVICES

ANYWHERE_IPV4 = "0.0.0.0/0"


def interface_endpoint_services(cfg: EnvConfig) -> list[str]:
    """AWS service suffixes of the interface endpoints switched on in the env file, sorted."""
    switches = cfg.network.endpoints
    return sorted(svc for switch, services in INTERFACE_ENDPOINT_SERVICES.items()
                  if getattr(switches, switch) for svc in services)
HTTP_PORT = 80
HTTPS_PORT = 443
NFS_PORT = 2049
TASK_PREFIX = "task-"  # group key of a task-owning service: task-<service>


def task_group(service: str) -> str:
    return f"{TASK_PREFIX}{service}"


class Ingress(NamedTuple):
    """One ingress rule: to `destination` group on `port`, from a group or a CIDR."""

    destination: str
    port: int
    source_group: str | None
    source_cidr: str | None
    reason: str


class Egress(NamedTuple):
    """One egress rule: from `group` on `port` (None = all traffic) to a group, a CIDR or the S3 gateway
    endpoint's prefix list (`to_s3_gateway`)."""

    group: str
    port: int | None
    destination_group: str | None
    destination_cidr: str | None
    reason: str
    to_s3_gateway: bool = False


# Every AWS API the container instances call (ECS agent, image pulls and their S3 layers, awslogs, secrets
# and parameters, the SSM agent), by the network.endpoints switch that gives it a VPC endpoint.
INSTANCE_API_SWITCHES = ("ecr", "logs", "secretsmanager", "ssm", "ecs", "session_manager", "s3")


def instances_reach_aws_through_endpoints(cfg: EnvConfig) -> bool:
    """Every API the instances call has an endpoint: their HTTPS needs no internet route."""
    return all(getattr(cfg.network.endpoints, switch) for switch in INSTANCE_API_SWITCHES)


def listener_ports(cfg: EnvConfig) -> list[int]:
    return [HTTP_PORT, HTTPS_PORT] if cfg.alb.https else [HTTP_PORT]


def grafana_via_alb(cfg: EnvConfig) -> bool:
    return cfg.alb.grafana.exposure in ("vpn", "sso")


def grafana_internal_path(cfg: EnvConfig) -> bool:
    """Grafana is internal and the env file runs it (an env without Grafana has nothing to reach)."""
    grafana = cfg.alb.grafana
    return (grafana.exposure == "internal" and grafana.service in cfg.task_owners()
            and grafana.port in cfg.port_sources(grafana.service))


def group_keys(cfg: EnvConfig) -> list[str]:
    """Every group the env file calls for, in a stable order."""
    keys = [task_group(owner) for owner in sorted(cfg.task_owners())]
    keys += ["alb", "instances"]
    if cfg.cache:
        keys.append("cache")
    if cfg.volumes:
        keys.append("efs")
    if interface_endpoint_services(cfg):
        keys.append("endpoints")
    return keys


def ingress_plan(cfg: EnvConfig) -> list[Ingress]:
    """All ingress rules of the stack, deduplicated and sorted (deterministic synth)."""
    rules: dict[tuple, Ingress] = {}

    def add(dest: str, port: int, reason: str, group: str | None = None, cidr: str | None = None) -> None:
        if group == dest:
            return  # containers of one task talk over localhost: no rule needed
        rules.setdefault((dest, port, group or "", cidr or ""), Ingress(dest, port, group, cidr, reason))

    owners = cfg.task_owners()
    for owner in owners:
        for port, sources in sorted(cfg.port_sources(owner).items()):
            for source in sources:
                add(task_group(owner), port, f"{owner} port {port} from {source} (allow_from)",
                    group=task_group(cfg.task_owner(source)))

    target = cfg.alb.target
    add(task_group(cfg.task_owner(target.service)), target.port, f"{target.service} port {target.port} from the ALB",
        group="alb")
    grafana = cfg.alb.grafana
    if grafana_via_alb(cfg):
        add(task_group(grafana.service), grafana.port, f"Grafana via the ALB ({grafana.exposure})", group="alb")
    elif grafana_internal_path(cfg):
        # internal: an SSM port-forwarding session through a container instance (IAM-authorised, no open port)
        add(task_group(grafana.service), grafana.port, "Grafana via SSM port forwarding on a container instance",
            group="instances")
        for cidr in grafana.allowed_cidrs:  # private ranges routed into the VPC (Client VPN, peering)
            add(task_group(grafana.service), grafana.port, f"Grafana from internal range {cidr}", cidr=cidr)

    public_sources = list(cfg.alb.allowed_cidrs)
    if grafana_via_alb(cfg):  # the listener rule filters by source; the group must let the VPN in first
        public_sources += [c for c in grafana.allowed_cidrs if c not in public_sources]
    for cidr in public_sources:
        for port in listener_ports(cfg):
            add("alb", port, f"ALB listener {port} from {cidr}", cidr=cidr)

    if cfg.cache:
        for source in cfg.cache.allow_from:
            add("cache", cfg.cache.port, f"Redis from {source} (cache.allow_from)", group=task_group(cfg.task_owner(source)))

    if cfg.volumes:
        for owner in owners:
            if any(svc.volumes for svc in cfg.containers_of(owner).values()):
                add("efs", NFS_PORT, f"NFS from {owner} (mounts a volume)", group=task_group(owner))
        add("efs", NFS_PORT, "NFS from the container instances (the ECS agent mounts EFS)", group="instances")

    if interface_endpoint_services(cfg):
        for owner in owners:
            add("endpoints", HTTPS_PORT, f"AWS APIs from {owner}", group=task_group(owner))
        add("endpoints", HTTPS_PORT, "AWS APIs from the container instances (ECS agent, image pulls, logs)",
            group="instances")

    return sorted(rules.values(), key=lambda r: (r.destination, r.port, r.source_group or "", r.source_cidr or ""))


def egress_plan(cfg: EnvConfig) -> list[Egress]:
    """Egress per group. Groups that only answer (cache, efs, endpoints) get none: groups are stateful.

    A task's group reaches exactly the groups that admit it (the ingress plan read backwards: the services
    it calls, Redis, EFS, the VPC endpoints; the database adds its own rule) plus what the env file declares
    under the services' `egress` (e.g. the api's HTTPS to its LLM provider). No rule allows all protocols. Security groups do not filter the Amazon DNS resolver, the task metadata
    and credentials endpoints or Amazon Time Sync (VPC user guide, "Security group rules"), so tasks
    need no rule for those; image pulls, secrets and awslogs go through the container instance's network.
    """
    rules: list[Egress] = []
    for rule in ingress_plan(cfg):
        if rule.source_group and rule.source_group.startswith(TASK_PREFIX):
            rules.append(Egress(rule.source_group, rule.port, rule.destination, None,
                                f"{rule.source_group[len(TASK_PREFIX):]} to {rule.destination} port {rule.port}"))
    for owner in sorted(cfg.task_owners()):
        declared: dict[tuple[int, str], str] = {}
        for name, svc in sorted(cfg.containers_of(owner).items()):  # the task's containers share its ENI
            for rule in svc.egress:
                for cidr in rule.cidrs:
                    declared.setdefault((rule.port, cidr), rule.description or f"{name} egress (env file)")
        for (port, cidr), reason in sorted(declared.items()):
            rules.append(Egress(task_group(owner), port, None, cidr, f"{owner}: {reason}"))
    # ECS agent, ECR, S3, CloudWatch and SSM are all HTTPS; DNS/NTP/metadata are not filtered by groups.
    if instances_reach_aws_through_endpoints(cfg):
        rules.append(Egress("instances", HTTPS_PORT, "endpoints", None, "instances: HTTPS to the AWS API endpoints"))
        rules.append(Egress("instances", HTTPS_PORT, None, None, "instances: HTTPS to S3 (ECR image layers)",
                            to_s3_gateway=True))
    else:
        rules.append(Egress("instances", HTTPS_PORT, None, ANYWHERE_IPV4, "instances: HTTPS to AWS APIs"))
    if cfg.volumes:
        rules.append(Egress("instances", NFS_PORT, "efs", None, "instances: NFS to EFS (agent mounts)"))
    if grafana_internal_path(cfg):
        grafana = cfg.alb.grafana
        rules.append(Egress("instances", grafana.port, task_group(grafana.service), None,
                            "instances: SSM port forwarding to Grafana"))
    # The ALB talks only to its targets (plus the IdP's token/userinfo endpoints with sso).
    for rule in ingress_plan(cfg):
        if rule.source_group == "alb":
            rules.append(Egress("alb", rule.port, rule.destination, None, f"ALB to {rule.destination} port {rule.port}"))
    if cfg.alb.grafana.exposure == "sso":
        rules.append(Egress("alb", HTTPS_PORT, None, ANYWHERE_IPV4, "ALB to the OIDC provider (token, userinfo)"))
        if cfg.alb.grafana.service in cfg.task_owners():  # Grafana's own OIDC login (modules/config/grafana.py)
            rules.append(Egress(task_group(cfg.alb.grafana.service), HTTPS_PORT, None, ANYWHERE_IPV4,
                                f"{cfg.alb.grafana.service}: Grafana's OIDC login (token, userinfo)"))
    return rules
