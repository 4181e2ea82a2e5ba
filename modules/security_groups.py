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

from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from modules.config import EnvConfig
from modules.network import Network
from modules.security_group_plan import (  # noqa: F401  (re-exported: the constructs import them from here)
    HTTP_PORT,
    HTTPS_PORT,
    INSTANCE_API_SWITCHES,
    NFS_PORT,
    TASK_PREFIX,
    Egress,
    Ingress,
    egress_plan,
    grafana_internal_path,
    grafana_via_alb,
    instances_reach_aws_through_endpoints,
    group_keys,
    ingress_plan,
    listener_ports,
    task_group,
)

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
            target = rule.destination_group or rule.destination_cidr or "s3-gateway"
            VpcSecurityGroupEgressRule(
                self, _rule_id("out", rule.group, rule.port or "all", target),
                security_group_id=self._groups[rule.group].id,
                ip_protocol="tcp" if rule.port else "-1",
                from_port=rule.port, to_port=rule.port, description=rule.reason,
                referenced_security_group_id=(self._groups[rule.destination_group].id
                                              if rule.destination_group else None),
                prefix_list_id=network.s3_prefix_list_id if rule.to_s3_gateway else None,
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
