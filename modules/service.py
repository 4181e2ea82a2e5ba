"""Workload: one task owner of the env file (service, job or scheduled) and every container in its task.

Per task owner: a task definition (awsvpc, EC2) whose containers are the owner plus its init/sidecar
containers, one log group per container, an execution role that reads exactly the secrets and
parameters those containers reference, a task role with only its EFS access points, and then
  kind service   -> ECS service (Service Connect server/client, circuit breaker with rollback,
                    ALB target when it is alb.target, CPU target-tracking autoscaling from `scaling`)
  kind job       -> task definition only, plus a `<name>_run_task_command` output
  kind scheduled -> the same, plus an EventBridge Scheduler schedule and its role
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdktf import Fn, TerraformOutput, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.ecs_service import (
    EcsService,
    EcsServiceCapacityProviderStrategy,
    EcsServiceDeploymentCircuitBreaker,
    EcsServiceLoadBalancer,
    EcsServiceNetworkConfiguration,
    EcsServiceServiceConnectConfiguration,
    EcsServiceServiceConnectConfigurationLogConfiguration,
    EcsServiceServiceConnectConfigurationService,
    EcsServiceServiceConnectConfigurationServiceClientAlias,
    EcsServiceServiceRegistries,
)
from cdktf_cdktf_provider_aws.ecs_task_definition import (
    EcsTaskDefinition,
    EcsTaskDefinitionVolume,
    EcsTaskDefinitionVolumeDockerVolumeConfiguration,
    EcsTaskDefinitionVolumeEfsVolumeConfiguration,
    EcsTaskDefinitionVolumeEfsVolumeConfigurationAuthorizationConfig,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.scheduler_schedule import (
    SchedulerSchedule,
    SchedulerScheduleFlexibleTimeWindow,
    SchedulerScheduleTarget,
    SchedulerScheduleTargetEcsParameters,
    SchedulerScheduleTargetEcsParametersCapacityProviderStrategy,
    SchedulerScheduleTargetEcsParametersNetworkConfiguration,
    SchedulerScheduleTargetRetryPolicy,
)
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.service_discovery_http_namespace import ServiceDiscoveryHttpNamespace
from cdktf_cdktf_provider_aws.service_discovery_private_dns_namespace import ServiceDiscoveryPrivateDnsNamespace
from cdktf_cdktf_provider_aws.service_discovery_service import (
    ServiceDiscoveryService,
    ServiceDiscoveryServiceDnsConfig,
    ServiceDiscoveryServiceDnsConfigDnsRecords,
)
from constructs import Construct

from modules import container as containers
from modules.config import (
    DEFAULT_HEALTH_START_PERIOD,
    REPLACE_DEPLOYMENT,
    ROLLING_DEPLOYMENT,
    EnvConfig,
    Kind,
    Service,
    pull_through_source,
)

if TYPE_CHECKING:  # the constructs a Workload builds on (imported for annotations only)
    from modules.alb import Alb
    from modules.cache import Cache
    from modules.cluster import Cluster
    from modules.database import Database
    from modules.network import Network
    from modules.parameters import Parameters
    from modules.registry import Registry
    from modules.secrets import Secrets
    from modules.security_groups import SecurityGroups
    from modules.volumes import Volumes

ECS_TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"
SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"
SERVICE_CONNECT_LOG_PREFIX = "service-connect"
DNS_RECORD_TTL = 10  # seconds: tasks come and go; a short TTL keeps job clients on live tasks
SCHEDULE_RETRY_ATTEMPTS = 2


@dataclass(frozen=True)
class WorkloadDeps:
    """The constructs a Workload builds on (docs/architecture.md) plus the workload-wide pieces."""

    network: Network
    security: SecurityGroups
    secrets: Secrets
    parameters: Parameters
    registry: Registry
    cluster: Cluster
    volumes: Volumes
    alb: Alb | None = None
    cache: Cache | None = None
    database: Database | None = None
    namespace_arn: str | None = None  # Service Connect (Cloud Map HTTP) namespace
    dns_namespace_id: str | None = None  # Cloud Map private DNS namespace for jobs (cfg.dns_discovered())
    account_id: str | None = None  # confused-deputy conditions in trust policies
    partition: str = "aws"


@dataclass(frozen=True)
class SecretRef:
    """One `secrets` entry of a container: env var, valueFrom, and what IAM must allow for it."""

    env: str
    value_from: str
    store: str  # "secretsmanager" or "ssm"
    resource: str  # the IAM resource (a secret ARN without the JSON-key suffix, or a parameter ARN)


def _statement(sid: str, actions: list[str], resources: list[str], conditions=None) -> DataAwsIamPolicyDocumentStatement:
    return DataAwsIamPolicyDocumentStatement(
        sid=sid, effect="Allow", actions=sorted(actions), resources=resources, condition=conditions or None
    )


def _condition(test: str, variable: str, values: list[str]) -> DataAwsIamPolicyDocumentStatementCondition:
    return DataAwsIamPolicyDocumentStatementCondition(test=test, variable=variable, values=values)


def secret_arn_of(value_from: str) -> str:
    """A Secrets Manager valueFrom (`<secret ARN>[:json-key:stage:version]`) -> the secret ARN for IAM."""
    if value_from.startswith("arn:"):
        return ":".join(value_from.split(":")[:7])  # arn:partition:secretsmanager:region:account:secret:name-XXXXXX
    # a Terraform reference (cdktf token) followed by an optional `:KEY::` suffix
    end = value_from.find("}")
    return value_from[: end + 1] if value_from.startswith("${") and end > 0 else value_from


class Workload(Construct):
    """Exposes task_definition_arn, task_role_arn, execution_role_arn, log_group_names (container -> name),
    service_name (kind service) and run_task_command (job/scheduled)."""

    def __init__(self, scope: Construct, id_: str, *, cfg: EnvConfig, name: str, deps: WorkloadDeps):
        super().__init__(scope, id_)
        self.cfg, self.name, self.deps = cfg, name, deps
        self.owner: Service = cfg.services[name]
        self.containers: dict[str, Service] = cfg.containers_of(name)
        self.prefix = f"{cfg.name}-{name}"
        self.service_name: str | None = None
        self.run_task_command: str | None = None

        self.log_groups = {
            cname: CloudwatchLogGroup(
                self, f"log_group_{cname}", name=f"/ecs/{cfg.name}/{cname}", retention_in_days=cfg.logs.retention_days
            )
            for cname in self.containers
        }
        self.log_group_names = {cname: lg.name for cname, lg in self.log_groups.items()}
        self.secret_refs = {cname: self._secret_refs(cname) for cname in self.containers}
        self.execution_role = self._execution_role()
        self.task_role = self._task_role()
        self.task_definition = self._task_definition()

        if self.owner.kind == Kind.service:
            self._ecs_service()
        else:
            self._run_task_output()
            if self.owner.kind == Kind.scheduled:
                self._schedule()

    # ------------------------------------------------------------ secrets and parameters
    def _secret_refs(self, cname: str) -> list[SecretRef]:
        cfg, deps, svc = self.cfg, self.deps, self.cfg.services[cname]
        refs: list[SecretRef] = []
        for env, key in svc.parameters.items():
            arn = deps.parameters.arn(key)
            refs.append(SecretRef(env, arn, "ssm", arn))
        for env, ref in svc.secrets.items():
            secret, _, key = ref.partition(":")
            arn = deps.secrets.arn(secret)
            refs.append(SecretRef(env, f"{arn}:{key}::" if key else arn, "secretsmanager", arn))
        for secret in svc.secrets_from:
            arn = deps.secrets.arn(secret)
            refs.extend(SecretRef(key, f"{arn}:{key}::", "secretsmanager", arn) for key in cfg.secrets[secret].keys)
        managed = [(cfg.cache, deps.cache), (cfg.database, deps.database)]
        for section, construct in managed:
            if section is not None and construct is not None and cname in section.allow_from:
                ssm_arns = list(getattr(construct, "parameter_arns", []))
                secret_arns = list(getattr(construct, "secret_arns", []))
                for env, value_from in sorted(construct.secret_env().items()):
                    if value_from in ssm_arns:
                        refs.append(SecretRef(env, value_from, "ssm", value_from))
                        continue
                    # the secret a `<arn>:KEY::` reference reads (the construct lists its secret ARNs)
                    owner = next((a for a in secret_arns if value_from.startswith(a)), secret_arn_of(value_from))
                    refs.append(SecretRef(env, value_from, "secretsmanager", owner))
        seen: dict[str, str] = {}
        for ref in refs:
            if ref.env in seen or ref.env in svc.environment:
                raise ValueError(
                    f"services.{cname}: variable {ref.env} is injected twice (environment/parameters/secrets/"
                    f"secrets_from/cache/database); keep one"
                )
            seen[ref.env] = ref.value_from
        return sorted(refs, key=lambda r: r.env)

    # ------------------------------------------------------------ IAM
    def _assume_role_policy(self, principal: str, doc_id: str, source_account: bool = True) -> str:
        conditions = None
        if source_account and self.deps.account_id is not None:
            # confused-deputy guard: only this account's tasks/schedules may assume the role
            conditions = [_condition("StringEquals", "aws:SourceAccount", [self.deps.account_id])]
        doc = DataAwsIamPolicyDocument(
            self,
            doc_id,
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    effect="Allow",
                    actions=["sts:AssumeRole"],
                    principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                        type="Service", identifiers=[principal])],
                    condition=conditions,
                )
            ],
        )
        return doc.json

    def _execution_role(self) -> IamRole:
        # The execution role trusts ECS without a source condition: the agent assumes it before the
        # task exists, and ECS documents the conditions for task roles only.
        role = IamRole(
            self,
            "execution_role",
            name=f"{self.prefix}-execution",
            description=f"ECS agent: pull images, write logs, read the secrets of {self.name}'s task",
            assume_role_policy=self._assume_role_policy(ECS_TASKS_PRINCIPAL, "execution_trust", source_account=False),
        )
        statements = [
            _statement("WriteOwnLogGroups", ["logs:CreateLogStream", "logs:PutLogEvents"],
                       [f"{lg.arn}:*" for _, lg in sorted(self.log_groups.items())]),
        ]
        repositories = sorted({arn for c in self.containers if (arn := self.deps.registry.repository_arn(c))})
        cached = self._pull_through_repositories()
        pull = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        if repositories or cached:
            # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
            statements.append(_statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]))
        if repositories:
            statements.append(_statement("PullOwnImages", pull, repositories))
        if cached:
            # the first pull of a public image through the cache creates its cache repository
            statements.append(_statement(
                "PullPublicImagesThroughCache", pull + ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"],
                cached))
        refs = [r for c in self.containers for r in self.secret_refs[c]]
        secret_arns = sorted({r.resource for r in refs if r.store == "secretsmanager"})
        parameter_arns = sorted({r.resource for r in refs if r.store == "ssm"})
        if secret_arns:
            statements.append(_statement("ReadOwnSecrets", ["secretsmanager:GetSecretValue"], secret_arns))
        if parameter_arns:
            statements.append(_statement("ReadOwnParameters", ["ssm:GetParameters"], parameter_arns))
        kms_keys = sorted(self._kms_keys())
        if kms_keys and refs:
            region = self.cfg.region
            statements.append(_statement(
                "DecryptViaSecretStores", ["kms:Decrypt"], kms_keys,
                [_condition("StringEquals", "kms:ViaService",
                            [f"secretsmanager.{region}.amazonaws.com", f"ssm.{region}.amazonaws.com"])],
            ))
        doc = DataAwsIamPolicyDocument(self, "execution_policy_document", statement=statements)
        IamRolePolicy(self, "execution_policy", name="least-privilege", role=role.id, policy=doc.json)
        return role

    def _kms_keys(self) -> set[str]:
        """Customer-managed keys behind the secrets/parameters this task reads (none: AWS-managed keys)."""
        keys = set()
        if getattr(self.deps.secrets, "kms_key_arn", None):
            keys.add(self.deps.secrets.kms_key_arn)
        for section, construct in [(self.cfg.cache, self.deps.cache), (self.cfg.database, self.deps.database)]:
            if section is not None and construct is not None and set(self.containers) & set(section.allow_from):
                keys.update(getattr(construct, "kms_key_arns", []))
        return keys

    def _pull_through_repositories(self) -> list[str]:
        """Cache-repository ARN patterns of the upstreams this task's public images come through."""
        registry, found = self.deps.registry, set()
        for cname, svc in self.containers.items():
            # the registry rewrites a public image to its cache only when a cache rule covers it
            if svc.image.public and registry.image(cname) != svc.image.public:
                upstream = pull_through_source(svc.image.public)[0]
                found.add(f"arn:{self.deps.partition}:ecr:{self.cfg.region}:{self.deps.account_id}:repository/"
                          f"{registry.cache_prefix(upstream)}/*")
        return sorted(found)

    def _task_role(self) -> IamRole:
        role = IamRole(
            self,
            "task_role",
            name=f"{self.prefix}-task",
            description=f"Identity of {self.name}'s containers: only what they use",
            assume_role_policy=self._assume_role_policy(ECS_TASKS_PRINCIPAL, "task_trust"),
        )
        statements = []
        for volume, read_only in sorted(self._mounted_volumes().items()):
            actions = ["elasticfilesystem:ClientMount"]
            if not read_only:
                actions.append("elasticfilesystem:ClientWrite")
            if self.cfg.volumes[volume].uid == 0:
                actions.append("elasticfilesystem:ClientRootAccess")  # else EFS squashes uid 0 to nobody
            statements.append(_statement(
                f"Efs{''.join(p.title() for p in volume.split('-'))}",
                actions,
                [self.deps.volumes.file_system_arn],
                [_condition("StringEquals", "elasticfilesystem:AccessPointArn",
                            [self.deps.volumes.access_point_arn(volume)])],
            ))
        if statements:
            doc = DataAwsIamPolicyDocument(self, "task_policy_document", statement=statements)
            IamRolePolicy(self, "task_policy", name="least-privilege", role=role.id, policy=doc.json)
        return role

    def _mounted_volumes(self) -> dict[str, bool]:
        """volume -> read-only (true only when every mount of it in the task is read-only)."""
        mounted: dict[str, bool] = {}
        for svc in self.containers.values():
            for m in svc.volumes:
                mounted[m.volume] = mounted.get(m.volume, True) and m.read_only
        return mounted

    # ------------------------------------------------------------ task definition
    def _task_definition(self) -> EcsTaskDefinition:
        cfg, deps = self.cfg, self.deps
        volumes = [
            EcsTaskDefinitionVolume(
                name=volume,
                efs_volume_configuration=EcsTaskDefinitionVolumeEfsVolumeConfiguration(
                    file_system_id=deps.volumes.file_system_id,
                    transit_encryption="ENABLED",
                    authorization_config=EcsTaskDefinitionVolumeEfsVolumeConfigurationAuthorizationConfig(
                        access_point_id=deps.volumes.access_point_id(volume), iam="ENABLED"
                    ),
                ),
            )
            for volume in sorted(self._mounted_volumes())
        ]
        definitions = []
        for cname, svc in self.containers.items():
            tmp_volume = f"{cname}-tmp" if svc.read_only_root else None
            if tmp_volume:
                # Task-scoped Docker volume for a read-only root filesystem: removed with the task, and
                # Docker copies the image's /tmp (mode 1777) into it, so a non-root user can write there.
                volumes.append(EcsTaskDefinitionVolume(
                    name=tmp_volume,
                    docker_volume_configuration=EcsTaskDefinitionVolumeDockerVolumeConfiguration(
                        scope="task", driver="local"),
                ))
            inputs = containers.ContainerInputs(
                image=deps.registry.image(cname),
                log_group=self.log_group_names[cname],
                region=cfg.region,
                secrets={r.env: r.value_from for r in self.secret_refs[cname]},
                depends_on=containers.in_task_dependencies(cfg, cname),
                volume_names={v: v for v in self._mounted_volumes()},
                tmp_volume=tmp_volume,
            )
            definitions.append(containers.container_definition(cname, svc, inputs))
        cpu, memory = containers.task_size(self.containers)
        return EcsTaskDefinition(
            self,
            "task_definition",
            family=self.prefix,
            network_mode="awsvpc",
            requires_compatibilities=["EC2"],
            cpu=str(cpu),
            memory=str(memory),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=containers.render(definitions),
            volume=volumes or None,
        )

    # ------------------------------------------------------------ placement and network
    def _capacity_provider(self) -> str:
        return self.deps.cluster.capacity_provider_name(self.cfg.capacity_provider_of(self.name))

    def _subnets(self) -> list[str]:
        return list(self.deps.network.private_subnet_ids)

    def _security_groups(self) -> list[str]:
        return [self.deps.security.for_service(self.name)]

    # ------------------------------------------------------------ kind service
    def _ecs_service(self) -> None:
        cfg, deps, svc = self.cfg, self.deps, self.owner
        writes_volume = any(not ro for ro in self._mounted_volumes().values())
        has_gpu = any(c.gpu for c in self.containers.values())
        min_healthy, max_percent = REPLACE_DEPLOYMENT if (writes_volume or has_gpu) else ROLLING_DEPLOYMENT

        load_balancers, grace, after = [], None, None
        target_groups = getattr(deps.alb, "target_groups", {}) if deps.alb is not None else {}
        for cname in self.containers:
            for port, arn in sorted(target_groups.get(cname, {}).items()):
                load_balancers.append(EcsServiceLoadBalancer(
                    target_group_arn=arn, container_name=cname, container_port=port))
        if load_balancers:
            grace = svc.health_check.start_period if svc.health_check else DEFAULT_HEALTH_START_PERIOD
            # ECS refuses a target group that no listener uses yet
            after = [deps.alb.listener] if getattr(deps.alb, "listener", None) is not None else None

        registries = None
        if deps.dns_namespace_id and self.name in cfg.dns_discovered():
            discovery = ServiceDiscoveryService(
                self,
                "dns_discovery",
                name=self.name,
                description=f"{self.name}.{cfg.dns_namespace}: for tasks outside Service Connect (jobs)",
                dns_config=ServiceDiscoveryServiceDnsConfig(
                    namespace_id=deps.dns_namespace_id,
                    routing_policy="MULTIVALUE",
                    dns_records=[ServiceDiscoveryServiceDnsConfigDnsRecords(type="A", ttl=DNS_RECORD_TTL)],
                ),
            )
            registries = EcsServiceServiceRegistries(registry_arn=discovery.arn)

        service = EcsService(
            self,
            "service",
            name=self.prefix,
            cluster=deps.cluster.cluster_arn,
            task_definition=self.task_definition.arn,
            desired_count=svc.desired_count,
            capacity_provider_strategy=[
                EcsServiceCapacityProviderStrategy(capacity_provider=self._capacity_provider(), weight=1, base=0)
            ],
            network_configuration=EcsServiceNetworkConfiguration(
                subnets=self._subnets(), security_groups=self._security_groups(), assign_public_ip=False
            ),
            deployment_circuit_breaker=EcsServiceDeploymentCircuitBreaker(enable=True, rollback=True),
            deployment_minimum_healthy_percent=min_healthy,
            deployment_maximum_percent=max_percent,
            load_balancer=load_balancers or None,
            health_check_grace_period_seconds=grace,
            service_connect_configuration=self._service_connect(),
            service_registries=registries,
            enable_execute_command=False,
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            wait_for_steady_state=False,
            depends_on=after,
            # the autoscaler owns desired_count once scaling is on
            lifecycle=TerraformResourceLifecycle(ignore_changes=["desired_count"]) if svc.scaling else None,
        )
        self.service_name = service.name
        if svc.scaling:
            self._autoscaling(service)

    def _service_connect(self) -> EcsServiceServiceConnectConfiguration | None:
        """Every service is a client; a service with ports also serves them under its compose name."""
        if not self.deps.namespace_arn:
            return None
        servers = [
            EcsServiceServiceConnectConfigurationService(
                port_name=containers.port_name(cname, pm.port, pm.name),
                discovery_name=containers.port_name(cname, pm.port, pm.name),
                client_alias=EcsServiceServiceConnectConfigurationServiceClientAlias(port=pm.port, dns_name=cname),
            )
            for cname, svc in self.containers.items()
            for pm in svc.ports
        ]
        return EcsServiceServiceConnectConfiguration(
            enabled=True,
            namespace=self.deps.namespace_arn,
            service=servers or None,
            log_configuration=EcsServiceServiceConnectConfigurationLogConfiguration(
                log_driver=containers.LOG_DRIVER,
                options={
                    "awslogs-group": self.log_group_names[self.name],
                    "awslogs-region": self.cfg.region,
                    "awslogs-stream-prefix": SERVICE_CONNECT_LOG_PREFIX,
                },
            ),
        )

    def _autoscaling(self, service: EcsService) -> None:
        scaling = self.owner.scaling
        target = AppautoscalingTarget(
            self,
            "scaling_target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=f"service/{self.deps.cluster.cluster_name}/{service.name}",
            min_capacity=scaling.min,
            max_capacity=scaling.max,
        )
        AppautoscalingPolicy(
            self,
            "scaling_cpu",
            name=f"{self.prefix}-cpu-{scaling.cpu_target}",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                target_value=scaling.cpu_target,
                predefined_metric_specification=(
                    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                        predefined_metric_type="ECSServiceAverageCPUUtilization"
                    )
                ),
            ),
        )

    # ------------------------------------------------------------ kinds job / scheduled
    def _run_task_output(self) -> None:
        subnets = Fn.join(",", self._subnets())
        groups = Fn.join(",", self._security_groups())
        self.run_task_command = (
            f"aws ecs run-task --region {self.cfg.region} --cluster {self.deps.cluster.cluster_name} "
            f"--task-definition {self.prefix} "
            f"--capacity-provider-strategy capacityProvider={self._capacity_provider()},weight=1 "
            f"--network-configuration 'awsvpcConfiguration={{subnets=[{subnets}],securityGroups=[{groups}],"
            f"assignPublicIp=DISABLED}}'"
        )
        output = TerraformOutput(
            self, "run_task_command", value=self.run_task_command,
            description=f"Runs the {self.name} {self.owner.kind.value} once (latest task definition revision)",
        )
        output.override_logical_id(f"{self.name.replace('-', '_')}_run_task_command")

    def _schedule(self) -> None:
        role = IamRole(
            self,
            "scheduler_role",
            name=f"{self.prefix}-scheduler",
            description=f"EventBridge Scheduler: run {self.name}'s task on its schedule",
            assume_role_policy=self._assume_role_policy(SCHEDULER_PRINCIPAL, "scheduler_trust"),
        )
        doc = DataAwsIamPolicyDocument(
            self,
            "scheduler_policy_document",
            statement=[
                _statement("RunOwnTask", ["ecs:RunTask"], [self.task_definition.arn],
                           [_condition("ArnEquals", "ecs:cluster", [self.deps.cluster.cluster_arn])]),
                _statement("PassOwnRoles", ["iam:PassRole"], [self.execution_role.arn, self.task_role.arn],
                           [_condition("StringEquals", "iam:PassedToService", [ECS_TASKS_PRINCIPAL])]),
                _statement("TagOwnTasks", ["ecs:TagResource"], ["*"],
                           [_condition("StringEquals", "ecs:CreateAction", ["RunTask"])]),
            ],
        )
        IamRolePolicy(self, "scheduler_policy", name="run-task", role=role.id, policy=doc.json)
        SchedulerSchedule(
            self,
            "schedule",
            name=self.prefix,
            description=self.owner.description or f"runs {self.name}",
            schedule_expression=self.owner.schedule,
            schedule_expression_timezone=self.owner.schedule_timezone,
            flexible_time_window=SchedulerScheduleFlexibleTimeWindow(mode="OFF"),
            target=SchedulerScheduleTarget(
                arn=self.deps.cluster.cluster_arn,
                role_arn=role.arn,
                retry_policy=SchedulerScheduleTargetRetryPolicy(maximum_retry_attempts=SCHEDULE_RETRY_ATTEMPTS),
                ecs_parameters=SchedulerScheduleTargetEcsParameters(
                    task_definition_arn=self.task_definition.arn,
                    task_count=1,
                    capacity_provider_strategy=[SchedulerScheduleTargetEcsParametersCapacityProviderStrategy(
                        capacity_provider=self._capacity_provider(), weight=1, base=0)],
                    network_configuration=SchedulerScheduleTargetEcsParametersNetworkConfiguration(
                        subnets=self._subnets(), security_groups=self._security_groups(), assign_public_ip=False
                    ),
                    enable_ecs_managed_tags=True,
                    propagate_tags="TASK_DEFINITION",
                ),
            ),
        )


class Namespaces(Construct):
    """Workload-wide pieces: the Service Connect namespace (one per environment), the private DNS
    namespace for jobs (only when a job/scheduled task depends on a service) and the account id.

    Exposes service_connect_arn, dns_namespace_id (or None), account_id.
    """

    def __init__(self, scope: Construct, id_: str, *, cfg: EnvConfig, network: Network):
        super().__init__(scope, id_)
        http = ServiceDiscoveryHttpNamespace(
            self, "service_connect", name=cfg.namespace,
            description=f"{cfg.name}: Service Connect (containers reach each other by compose name)",
        )
        self.service_connect_arn: str = http.arn
        self.dns_namespace_id: str | None = None
        if cfg.dns_discovered():
            dns = ServiceDiscoveryPrivateDnsNamespace(
                self, "dns", name=cfg.dns_namespace, vpc=network.vpc_id,
                description=f"{cfg.name}: DNS names for tasks outside Service Connect (run-task jobs)",
            )
            self.dns_namespace_id = dns.id
        self.account_id: str = DataAwsCallerIdentity(self, "account").account_id
        self.partition: str = DataAwsPartition(self, "partition").partition
        TerraformOutput(self, "service_connect_namespace", value=cfg.namespace,
                        description="Service Connect namespace of the ECS services").override_logical_id(
                            "service_connect_namespace")
