"""The Araquem stack: provider, backend, and every concern's construct, wired from one EnvConfig."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import CloudBackend, LocalBackend, NamedCloudWorkspace, TaggedCloudWorkspaces, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from modules.cluster import Cluster
from modules.config import EnvConfig, Kind
from modules.network import Network
from modules.security_groups import SecurityGroups
from modules.alb import Alb
from modules.cache import Cache
from modules.database import Database
from modules.database_network import DatabaseNetwork
from modules.domain import Domain
from modules.ecs_service import order_after, service_connect_callees
from modules.parameters import Parameters
from modules.registry import Registry
from modules.secrets import Secrets
from modules.namespaces import Namespaces
from modules.notifications import Notifications
from modules.schedule_failures import ScheduleFailures
from modules.service_alarms import ServiceAlarms
from modules.workload import Workload, WorkloadDeps
from modules.volumes import Volumes
from modules.waf import Waf

# Services the emulator run (tests/test_emulator.py) points at a local endpoint. Only used with
# StackOptions.aws_endpoint, which no user-facing command sets.
EMULATED_SERVICES = (
    "acm", "applicationautoscaling", "autoscaling", "cloudwatch", "cloudwatchlogs", "ec2", "ecr", "ecs",
    "efs", "elasticache", "elbv2", "events", "iam", "kms", "rds", "route53", "s3", "scheduler", "secretsmanager",
    "servicediscovery", "sns", "sqs", "ssm", "sts", "wafv2",
)


@dataclass(frozen=True)
class StackOptions:
    """Inputs that are not in the env file: chosen per synth, never stored in it."""

    image_tags: dict[str, str]  # tag of each built image, keyed by image.build (modules/image_tags.py)
    aws_endpoint: str | None = None  # test-only: an AWS emulator URL (fake credentials, no real AWS)


class AraquemStack(TerraformStack):
    def __init__(self, scope: Construct, cfg: EnvConfig, options: StackOptions):
        super().__init__(scope, cfg.name)
        self.cfg = cfg
        self.options = options
        self._provider(cfg, options)
        self._backend(cfg, options)
        # One construct per concern, in dependency order (docs/architecture.md lists what each exposes).
        # ---- network (Network, SecurityGroups)
        self.network = Network(self, "network", cfg)
        self.security = SecurityGroups(self, "security", cfg, self.network)
        # ---- secrets, configuration, registries (Secrets, Parameters, Registry)
        self.secrets = Secrets(self, "secrets", cfg)
        self.parameters = Parameters(self, "parameters", cfg, self.secrets)
        self.registry = Registry(self, "registry", cfg, options.image_tags, self.secrets)
        # ---- edge (Domain: certificate and DNS records in the team's zone; Alb)
        self.domain = Domain(self, "domain", cfg) if cfg.alb.domain else None
        self.alb = Alb(self, "alb", cfg, self.network, self.security, self.secrets, self.domain)
        if cfg.alb.waf.enabled:
            Waf(self, "waf", cfg, self.alb.arn)
        # ---- compute (Cluster)
        self.cluster = Cluster(self, "cluster", cfg, self.network, self.security)
        # ---- managed data (Cache, Database)
        self.cache = Cache(self, "cache", cfg, self.network, self.security, self.secrets) if cfg.cache else None
        self.database_network = DatabaseNetwork(self, "database_network", cfg, self.network) \
            if cfg.database.network else None
        self.database = Database(self, "database", cfg, self.security, self.parameters, self.database_network)
        # ---- workloads (Volumes, Workload per task owner)
        self.volumes = Volumes(self, "volumes", cfg=cfg, network=self.network, security=self.security)
        self.namespaces = Namespaces(self, "namespaces", cfg=cfg, network=self.network)
        # ---- alarms: where they notify; what makes a scheduled run's failure an alarm
        self.notifications = Notifications(self, "notifications", cfg=cfg, account_id=self.namespaces.account_id,
                                           partition=self.namespaces.partition)
        self.schedule_failures = (
            ScheduleFailures(self, "schedule_failures", cfg=cfg, cluster_arn=self.cluster.cluster_arn,
                             notifications=self.notifications, account_id=self.namespaces.account_id)
            if any(s.kind == Kind.scheduled for s in cfg.task_owners().values()) else None)
        workload_deps = WorkloadDeps(
            network=self.network, security=self.security, secrets=self.secrets, parameters=self.parameters,
            registry=self.registry, cluster=self.cluster, volumes=self.volumes, alb=self.alb,
            cache=self.cache, database=self.database,
            namespace_arn=self.namespaces.service_connect_arn, dns_namespace_id=self.namespaces.dns_namespace_id,
            account_id=self.namespaces.account_id, partition=self.namespaces.partition,
            notifications=self.notifications, schedule_failures=self.schedule_failures,
        )
        self.workloads = {
            name: Workload(self, f"workload_{name}", cfg=cfg, name=name, deps=workload_deps)
            for name in cfg.task_owners()
        }
        # Service Connect clients after their servers (no redeploy after a first apply)
        for name, workload in self.workloads.items():
            if workload.service is not None:
                order_after(workload.service, [self.workloads[c].service
                                               for c in service_connect_callees(cfg, name)])
        # ---- alarms on what users feel: ALB 5XX, unhealthy targets, services short of tasks, GPU not back
        self.service_alarms = ServiceAlarms(self, "service_alarms", cfg=cfg, alb=self.alb, cluster=self.cluster,
                                            notifications=self.notifications)
        # ---- outputs are declared by each construct (flat TerraformOutput names)

    def _provider(self, cfg: EnvConfig, options: StackOptions) -> None:
        tags = {"Project": cfg.project, "Environment": cfg.environment, **cfg.tags}
        kwargs: dict = {}
        if options.aws_endpoint:
            kwargs = dict(
                access_key="emulator",
                secret_key="emulator",
                skip_credentials_validation=True,
                skip_metadata_api_check="true",
                s3_use_path_style=True,
                endpoints=[{name: options.aws_endpoint for name in EMULATED_SERVICES}],
            )
        AwsProvider(
            self,
            "aws",
            region=cfg.region,
            allowed_account_ids=[cfg.account_id] if cfg.account_id and not options.aws_endpoint else None,
            default_tags=[AwsProviderDefaultTags(tags=dict(sorted(tags.items())))],
            **kwargs,
        )

    def _backend(self, cfg: EnvConfig, options: StackOptions) -> None:
        tfc = cfg.terraform_cloud
        if tfc is None or options.aws_endpoint:
            # Local state next to the synthesized stack: a newcomer needs no account anywhere.
            LocalBackend(self, path=f"terraform.{cfg.name}.tfstate")
            return
        workspaces = (
            NamedCloudWorkspace(tfc.workspace, tfc.project)
            if tfc.workspace
            else TaggedCloudWorkspaces(tags=tfc.workspace_tags, project=tfc.project)
        )
        CloudBackend(self, organization=tfc.organization, workspaces=workspaces, hostname=tfc.hostname)
