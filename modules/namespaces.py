"""Namespaces: the workload-wide discovery pieces every Workload builds on.

  - the Service Connect (Cloud Map HTTP) namespace, one per environment: containers reach each other
    by compose name
  - a private DNS namespace, only when a job/scheduled task depends on a service (run-task jobs are
    outside Service Connect)
  - the account id and partition (confused-deputy conditions and ARNs in the task roles)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.service_discovery_http_namespace import ServiceDiscoveryHttpNamespace
from cdktf_cdktf_provider_aws.service_discovery_private_dns_namespace import ServiceDiscoveryPrivateDnsNamespace
from constructs import Construct

from modules.config import EnvConfig
from modules.network import flat_output
from modules.config.wiring import dns_discovered

if TYPE_CHECKING:
    from modules.network import Network


class Namespaces(Construct):
    """Workload-wide pieces: the Service Connect namespace (one per environment), the private DNS
    namespace for jobs (only when a job/scheduled task depends on a service) and the account id.

    Exposes service_connect_arn, dns_namespace_id (or None), account_id, partition.
    """

    def __init__(self, scope: Construct, id_: str, *, cfg: EnvConfig, network: Network):
        super().__init__(scope, id_)
        http = ServiceDiscoveryHttpNamespace(
            self, "service_connect", name=cfg.namespace,
            description=f"{cfg.name}: Service Connect (containers reach each other by compose name)",
        )
        self.service_connect_arn: str = http.arn
        self.dns_namespace_id: str | None = None
        if dns_discovered(cfg):
            dns = ServiceDiscoveryPrivateDnsNamespace(
                self, "dns", name=cfg.dns_namespace, vpc=network.vpc_id,
                description=f"{cfg.name}: DNS names for tasks outside Service Connect (run-task jobs)",
            )
            self.dns_namespace_id = dns.id
        self.account_id: str = DataAwsCallerIdentity(self, "account").account_id
        self.partition: str = DataAwsPartition(self, "partition").partition
        flat_output(self, "service_connect_namespace", cfg.namespace,
                    "Service Connect namespace of the ECS services")
