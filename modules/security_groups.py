"""SecurityGroups: every security group of the stack and every rule between them, derived from the env file.

Groups: one per task-owning service (init/sidecar containers share their host's task and ENI, so its
group), plus `alb`, `cache` (with a cache), `efs` (with volumes), `instances` (ECS container instances)
and `endpoints` (with interface endpoints). Ingress comes only from the env file:
  - a service's `allow_from`  -> every port of that service's task (a port's own `allow_from` narrows
                                 it), from each source's task group
  - `alb.target`              -> the ALB group on the target port (and Grafana's port when exposed)
  - `cache.allow_from`        -> the cache port
  - volume mounts             -> NFS 2049 on EFS, from the mounting tasks and the container instances
                                 (the ECS agent mounts EFS from the instance)
  - interface endpoints       -> 443 from every task group and the instances
  - Grafana `internal`        -> its port from the instances (SSM port forwarding) and `alb.grafana.allowed_cidrs`
  - `alb.allowed_cidrs`       -> the ALB listener ports: the only CIDR-sourced public ingress
Sources inside the VPC are always groups (referenced_security_group_id), never CIDRs.
"""

from __future__ import annotations

from typing import NamedTuple

from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from modules.config import EnvConfig
from modules.network import ANYWHERE_IPV4, Network, interface_endpoint_services

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
    """One egress rule: from `group` on `port` (None = all traffic) to a group or a CIDR."""

    group: str
    port: int | None
    destination_group: str | None
    destination_cidr: str | None
    reason: str


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


def _rule_id(*parts) -> str:
    return "_".join(str(p).replace(".", "-").replace("/", "-").replace(":", "-") for p in parts)


class SecurityGroups(Construct):
    """Exposes for_service(name), alb_id, cache_id, efs_id, instances_id, endpoints_id (None when absent)."""

    def __init__(self, scope: Construct, id_: str, cfg: EnvConfig, network: Network):
        super().__init__(scope, id_)
        self._cfg = cfg
        # AWS creates a default group in every VPC that allows all traffic between its members;
        # adopting it with no rules closes it, so nothing falls back to it by accident.
        DefaultSecurityGroup(self, "default_closed", vpc_id=network.vpc_id,
                             tags={"Name": f"{cfg.name}-default-closed"})

        self._groups: dict[str, SecurityGroup] = {}
        for key in group_keys(cfg):
            self._groups[key] = SecurityGroup(
                self, key, name=f"{cfg.name}-{key}", vpc_id=network.vpc_id, description=self._describe(key),
                revoke_rules_on_delete=True,  # lets a group be deleted while another group still references it
                tags={"Name": f"{cfg.name}-{key}"},
            )

        for rule in ingress_plan(cfg):
            source = rule.source_group or rule.source_cidr
            VpcSecurityGroupIngressRule(
                self, _rule_id("in", rule.destination, rule.port, source),
                security_group_id=self._groups[rule.destination].id, ip_protocol="tcp",
                from_port=rule.port, to_port=rule.port, description=rule.reason,
                referenced_security_group_id=self._groups[rule.source_group].id if rule.source_group else None,
                **self._cidr_arg(rule.source_cidr),
            )
        for rule in egress_plan(cfg):
            target = rule.destination_group or rule.destination_cidr
            VpcSecurityGroupEgressRule(
                self, _rule_id("out", rule.group, rule.port or "all", target),
                security_group_id=self._groups[rule.group].id,
                ip_protocol="tcp" if rule.port else "-1",
                from_port=rule.port, to_port=rule.port, description=rule.reason,
                referenced_security_group_id=(self._groups[rule.destination_group].id
                                              if rule.destination_group else None),
                **self._cidr_arg(rule.destination_cidr),
            )

        self.alb_id: str = self._groups["alb"].id
        self.instances_id: str = self._groups["instances"].id
        self.cache_id: str | None = self._groups["cache"].id if "cache" in self._groups else None
        self.efs_id: str | None = self._groups["efs"].id if "efs" in self._groups else None
        self.endpoints_id: str | None = self._groups["endpoints"].id if "endpoints" in self._groups else None
        if self.endpoints_id:
            network.attach_interface_endpoints(self.endpoints_id)

    def for_service(self, name: str) -> str:
        """The security group id of `name`'s task (an init/sidecar container resolves to its host's)."""
        return self._groups[task_group(self._cfg.task_owner(name))].id

    @staticmethod
    def _cidr_arg(cidr: str | None) -> dict:
        if cidr is None:
            return {}
        return {"cidr_ipv6": cidr} if ":" in cidr else {"cidr_ipv4": cidr}

    def _describe(self, key: str) -> str:
        if key.startswith(TASK_PREFIX):
            return f"{self._cfg.name} {key[len(TASK_PREFIX):]} tasks (awsvpc ENIs)"
        return {
            "alb": f"{self._cfg.name} public ALB listeners",
            "instances": f"{self._cfg.name} ECS container instances (egress only)",
            "cache": f"{self._cfg.name} ElastiCache Redis",
            "efs": f"{self._cfg.name} EFS mount targets",
            "endpoints": f"{self._cfg.name} VPC interface endpoints",
        }[key]
