"""The one config schema: an env file (envs/<name>.yaml) validated into typed objects.

Every default lives here, once, as a named constant or a field default. Constructs read
these objects and never invent defaults of their own. The module imports only pydantic
and PyYAML, so bad input is reported in well under a second, before jsii starts.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# ---------------------------------------------------------------- defaults (named once)
DEFAULT_REGION = "us-east-1"
DEFAULT_AZ_COUNT = 2
MIN_AZ_COUNT = 2
DEFAULT_SUBNET_PREFIX = 20  # /20 = 4,091 usable addresses per subnet; awsvpc tasks use one IP each
DEFAULT_LOG_RETENTION_DAYS = 30
DEFAULT_FLOW_LOG_RETENTION_DAYS = 30
DEFAULT_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 + 1.2 only
DEFAULT_HEALTH_CHECK_PATH = "/healthz"
DEFAULT_HEALTH_CHECK_INTERVAL = 30
DEFAULT_TARGET_CAPACITY = 100  # managed scaling: keep instances fully used
DEFAULT_ROOT_VOLUME_GB = 30
DEFAULT_GENERAL_INSTANCE_TYPE = "m6i.xlarge"
DEFAULT_GPU_INSTANCE_TYPE = "g5.xlarge"  # g4dn.xlarge is the cheaper option
DEFAULT_CACHE_NODE_TYPE = "cache.t4g.micro"
DEFAULT_CACHE_ENGINE_VERSION = "7.1"
DEFAULT_CACHE_PORT = 6379
DEFAULT_DB_PORT = 5432
DEFAULT_SECRET_RECOVERY_DAYS = 7
DEFAULT_GENERATED_SECRET_LENGTH = 48
DEFAULT_ECR_KEEP_LAST = 20
DEFAULT_ECR_UNTAGGED_EXPIRE_DAYS = 7
DEFAULT_KMS_DELETION_WINDOW_DAYS = 30  # longest AWS allows: a scheduled key deletion can still be cancelled
REDIS_AUTH_TOKEN_LENGTH = 64  # ElastiCache AUTH tokens are 16-128 printable characters
SECRET_RECOVERY_WINDOWS = "0 (delete at once) or 7-30"  # what Secrets Manager accepts
# ECR pull-through cache: upstream name -> (registry host, credentials needed). Docker Hub needs a
# Secrets Manager secret whose name starts with `ecr-pullthroughcache/`; the others are anonymous.
PULL_THROUGH_UPSTREAMS: dict[str, tuple[str, bool]] = {
    "docker-hub": ("registry-1.docker.io", True),
    "ecr-public": ("public.ecr.aws", False),
    "quay": ("quay.io", False),
    "k8s": ("registry.k8s.io", False),
}
DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
DOCKER_HUB_SECRET_KEYS = ["accessToken", "username"]  # the keys ECR reads from the credentials secret
PULL_THROUGH_PREFIX_MAX = 30  # ECR's limit on a rule's repository prefix
SSM_STANDARD_VALUE_MAX = 4096  # characters in a Standard-tier SSM parameter value
CACHE_ID_MAX = 40  # ElastiCache replication group ids: <= 40 characters, no '--'
CACHE_ID_SUFFIX = "-redis"
DEFAULT_SERVICE_CONNECT_NAMESPACE = "{project}-{environment}.local"
DEFAULT_IMAGE_TAG_ENV_VAR = "ARAQUEM_IMAGE_TAG"
DEFAULT_TFC_HOSTNAME = "app.terraform.io"
DEFAULT_HEALTH_START_PERIOD = 30
DEFAULT_HEALTH_INTERVAL = 30
DEFAULT_HEALTH_TIMEOUT = 5
DEFAULT_HEALTH_RETRIES = 3
DEFAULT_CPU_TARGET_PERCENT = 70
# workloads
DEFAULT_EFS_THROUGHPUT_MODE = "elastic"  # pay per use; bursting starves a small file system (model loads)
DEFAULT_SCHEDULE_TIMEZONE = "UTC"  # EventBridge Scheduler's own default, stated
# Tasks started by run-task / EventBridge Scheduler are outside the Service Connect mesh; the services
# they depend on are also registered as DNS names `<service>.<this namespace>` (Cloud Map private DNS).
DEFAULT_DISCOVERY_DNS_NAMESPACE = "{project}-{environment}.internal"
# ECS deployment (minimum healthy %, maximum %): rolling starts the new task before stopping the old;
# replace stops the old first: for a service that writes a persistent volume (two Prometheus/Tempo on
# one data directory corrupt it) or holds a GPU (max_size GPU instances leave no room for a second task).
ROLLING_DEPLOYMENT = (100, 200)
REPLACE_DEPLOYMENT = (0, 100)
# network and edge
DEFAULT_ALB_ACCESS_LOG_RETENTION_DAYS = 90
ALB_ACCESS_LOG_ABORTED_UPLOAD_DAYS = 1  # days until incomplete multipart uploads to the ALB log bucket are dropped
DEFAULT_GRAFANA_SERVICE = "grafana"
DEFAULT_GRAFANA_PORT = 3000
DEFAULT_GRAFANA_HEALTH_CHECK_PATH = "/api/health"
VPC_PREFIX_RANGE = (16, 28)  # the VPC sizes AWS accepts
MAX_GRAFANA_SOURCE_CIDRS = 4  # an ALB rule takes 5 condition values: 1 host + up to 4 source CIDRs

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
PORT_RANGE = (1, 65535)


class Strict(BaseModel):
    """Base of every section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Name = Annotated[str, Field(pattern=NAME_PATTERN)]
EnvVarName = Annotated[str, Field(pattern=ENV_VAR_PATTERN)]
Port = Annotated[int, Field(ge=PORT_RANGE[0], le=PORT_RANGE[1])]


def _cidr(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a CIDR string such as 10.0.0.0/16")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a valid network CIDR ({exc})") from None


Cidr = Annotated[str, BeforeValidator(_cidr)]


# ---------------------------------------------------------------- top-level sections
class TerraformCloud(Strict):
    """Terraform Cloud / Enterprise `cloud` block. Omit the section for a local backend."""

    organization: str = Field(min_length=1, description="Terraform Cloud organization")
    workspace: str | None = Field(None, description="workspace name (or use workspace_tags)")
    workspace_tags: list[str] = Field(default_factory=list, description="select workspaces by tags")
    project: str | None = Field(None, description="Terraform Cloud project of the workspace")
    hostname: str = Field(DEFAULT_TFC_HOSTNAME, description="Terraform Enterprise hostname")

    @model_validator(mode="after")
    def _one_workspace_selector(self) -> TerraformCloud:
        if bool(self.workspace) == bool(self.workspace_tags):
            raise ValueError("set exactly one of 'workspace' (a name) or 'workspace_tags' (a list)")
        return self


class Endpoints(Strict):
    """VPC endpoints; they keep image pulls and secret reads off the NAT gateway."""

    s3: bool = Field(False, description="S3 gateway endpoint (free; ECR layers come from S3)")
    ecr: bool = Field(False, description="ECR api + dkr interface endpoints")
    logs: bool = Field(False, description="CloudWatch Logs interface endpoint")
    secretsmanager: bool = Field(False, description="Secrets Manager interface endpoint")
    ssm: bool = Field(False, description="SSM interface endpoint")


class FlowLogs(Strict):
    enabled: bool = Field(True, description="VPC flow logs to CloudWatch Logs")
    retention_days: int = Field(DEFAULT_FLOW_LOG_RETENTION_DAYS, ge=1, description="days flow logs are kept")
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = Field("ALL", description="which traffic is logged")


class Network(Strict):
    vpc_cidr: Cidr = Field(description="VPC CIDR, e.g. 10.40.0.0/16")
    az_count: int = Field(DEFAULT_AZ_COUNT, ge=MIN_AZ_COUNT, le=6, description="availability zones used")
    subnet_prefix: int = Field(
        DEFAULT_SUBNET_PREFIX, ge=16, le=28, description="prefix length of every public/private subnet"
    )
    nat: Literal["single", "per_az"] = Field("single", description="one NAT gateway, or one per AZ")
    flow_logs: FlowLogs = Field(default_factory=FlowLogs, description="VPC flow logs (on by default)")
    endpoints: Endpoints = Field(default_factory=Endpoints)

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_size(cls, value: str) -> str:
        vpc = ipaddress.ip_network(value)
        if vpc.version != 4 or not VPC_PREFIX_RANGE[0] <= vpc.prefixlen <= VPC_PREFIX_RANGE[1]:
            raise ValueError(f"{value}: a VPC is an IPv4 block from /{VPC_PREFIX_RANGE[0]} to /{VPC_PREFIX_RANGE[1]}"
                             " (AWS limit), e.g. 10.40.0.0/16")
        if not vpc.is_private:
            raise ValueError(f"{value} is a public range; use a private one (10.0.0.0/8, 172.16.0.0/12, "
                             "192.168.0.0/16) so it cannot shadow internet addresses")
        return value

    @model_validator(mode="after")
    def _subnets_fit(self) -> Network:
        vpc = ipaddress.ip_network(self.vpc_cidr)
        if self.subnet_prefix < vpc.prefixlen:
            raise ValueError(
                f"subnet_prefix /{self.subnet_prefix} is larger than the VPC {self.vpc_cidr}; "
                f"use a prefix between /{vpc.prefixlen} and /28"
            )
        needed = 2 * self.az_count  # one public + one private subnet per AZ
        available = 2 ** (self.subnet_prefix - vpc.prefixlen)
        if needed > available:
            raise ValueError(
                f"{needed} subnets of /{self.subnet_prefix} ({self.az_count} AZs x public+private) "
                f"do not fit in {self.vpc_cidr} (room for {available}); use a longer subnet_prefix "
                f"or a larger vpc_cidr"
            )
        return self

    def subnet_cidrs(self) -> dict[str, list[str]]:
        """Public subnets first, then private, carved in order from the VPC CIDR."""
        subnets = ipaddress.ip_network(self.vpc_cidr).subnets(new_prefix=self.subnet_prefix)
        carved = [str(next(subnets)) for _ in range(2 * self.az_count)]
        return {"public": carved[: self.az_count], "private": carved[self.az_count :]}


class AlbHealthCheck(Strict):
    path: str = Field(DEFAULT_HEALTH_CHECK_PATH, pattern=r"^/", description="HTTP path the ALB probes")
    interval: int = Field(DEFAULT_HEALTH_CHECK_INTERVAL, ge=5, le=300, description="seconds")
    healthy_threshold: int = Field(3, ge=2, le=10, description="consecutive successes to mark healthy")
    unhealthy_threshold: int = Field(3, ge=2, le=10, description="consecutive failures to mark unhealthy")
    matcher: str = Field("200-399", description="HTTP codes counted healthy")


class AlbTarget(Strict):
    service: Name = Field(description="service behind the ALB")
    port: Port = Field(description="container port of that service")


class Oidc(Strict):
    issuer: str = Field(pattern=r"^https://", description="OIDC issuer URL (the ALB requires https)")
    authorization_endpoint: str = Field(pattern=r"^https://", description="OIDC authorization endpoint URL")
    token_endpoint: str = Field(pattern=r"^https://", description="OIDC token endpoint URL")
    user_info_endpoint: str = Field(pattern=r"^https://", description="OIDC user info endpoint URL")
    client_id: str = Field(description="OIDC client id (not secret)")
    client_secret: Name | EnvVarName = Field(description="name of a secret in `secrets` holding the client secret")


class GrafanaExposure(Strict):
    """Seed §3.3: Grafana for the internal team only."""

    exposure: Literal["internal", "vpn", "sso"] = Field(
        "internal", description="internal: VPC only; vpn: ALB host rule limited to CIDRs; sso: vpn + OIDC"
    )
    host: str | None = Field(
        None, description="host name of the ALB listener rule (vpn/sso); point its DNS record at the ALB",
    )
    allowed_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="vpn/sso: VPN source CIDRs on the ALB rule; internal: private ranges routed into the VPC "
        "(VPN, peering) given direct access to the Grafana tasks",
    )
    service: Name = Field(DEFAULT_GRAFANA_SERVICE, description="the Grafana service in `services`")
    port: Port = Field(DEFAULT_GRAFANA_PORT, description="Grafana's container port")
    health_check_path: str = Field(DEFAULT_GRAFANA_HEALTH_CHECK_PATH, pattern=r"^/",
                                   description="ALB health check of the Grafana target group (vpn/sso)")
    oidc: Oidc | None = Field(None, description="OpenID Connect provider (exposure sso only)")

    @field_validator("host")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", value):
            raise ValueError(f"'{value}' is not a lower-case DNS host name such as grafana.example.com "
                             "(no scheme, port or path)")
        return value

    @model_validator(mode="after")
    def _exposure_fields(self) -> GrafanaExposure:
        if self.exposure in ("vpn", "sso"):
            if not self.host:
                raise ValueError(f"exposure '{self.exposure}' needs 'host'")
            if not self.allowed_cidrs:
                raise ValueError(f"exposure '{self.exposure}' needs 'allowed_cidrs' (the VPN ranges)")
            if len(self.allowed_cidrs) > MAX_GRAFANA_SOURCE_CIDRS:
                raise ValueError(f"exposure '{self.exposure}' allows at most {MAX_GRAFANA_SOURCE_CIDRS} "
                                 f"'allowed_cidrs' (one ALB rule); got {len(self.allowed_cidrs)}")
        for cidr in self.allowed_cidrs:
            network = ipaddress.ip_network(cidr)
            if network.prefixlen == 0:
                raise ValueError(f"allowed_cidrs: {cidr} opens Grafana to everyone; seed §3.3 keeps it for the "
                                 "internal team: list the VPN/office ranges")
            if self.exposure == "internal" and not network.is_private:
                raise ValueError(f"allowed_cidrs: {cidr} is public; with exposure 'internal' list private ranges "
                                 "routed into the VPC, or use exposure 'vpn'/'sso' for public VPN egress ranges")
        if (self.exposure == "sso") != (self.oidc is not None):
            raise ValueError("'oidc' is required with exposure 'sso' and allowed only there")
        return self


class Alb(Strict):
    https: bool = Field(True, description="HTTPS listener (HTTP redirects to it)")
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:acm:", description="ACM certificate")
    ssl_policy: str = Field(DEFAULT_TLS_POLICY, description="TLS policy of the HTTPS listener")
    allowed_cidrs: list[Cidr] = Field(
        default_factory=lambda: ["0.0.0.0/0"], min_length=1, description="sources allowed to the public listeners"
    )
    target: AlbTarget = Field(description="the service and container port the listener forwards to")
    health_check: AlbHealthCheck = Field(default_factory=AlbHealthCheck, description="target group health check")
    deletion_protection: bool = Field(False, description="refuse to delete the ALB (turn on for production)")
    access_logs: bool = Field(False, description="access logs to an encrypted S3 bucket")
    access_logs_retention_days: int = Field(DEFAULT_ALB_ACCESS_LOG_RETENTION_DAYS, ge=1,
                                            description="days access log objects are kept")
    idle_timeout: int = Field(60, ge=1, le=4000, description="seconds an idle connection stays open")
    grafana: GrafanaExposure = Field(default_factory=GrafanaExposure)

    @model_validator(mode="after")
    def _certificate(self) -> Alb:
        if self.https and not self.certificate_arn:
            raise ValueError("'certificate_arn' is required when 'https' is true (an ACM certificate ARN)")
        if self.grafana.exposure == "sso" and not self.https:
            raise ValueError("grafana exposure 'sso' needs 'https: true' (the ALB authenticates only on HTTPS)")
        return self


class CapacityProvider(Strict):
    instance_type: str = Field(DEFAULT_GENERAL_INSTANCE_TYPE, description="EC2 instance type")
    gpu: bool = Field(False, description="GPU-optimized ECS AMI and GPU support in the agent")
    min_size: int = Field(0, ge=0, description="ASG minimum instances (0 lets managed scaling remove all)")
    max_size: int = Field(2, ge=1, description="ASG maximum instances; bounds the capacity for tasks")
    desired_capacity: int | None = Field(None, ge=0, description="initial ASG size; managed scaling owns it after")
    target_capacity: int = Field(DEFAULT_TARGET_CAPACITY, ge=1, le=100, description="managed scaling target %")
    root_volume_gb: int = Field(DEFAULT_ROOT_VOLUME_GB, ge=30, le=16384, description="encrypted gp3 root volume, GiB")

    @model_validator(mode="after")
    def _sizes(self) -> CapacityProvider:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} is above max_size {self.max_size}")
        if self.desired_capacity is not None and not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(
                f"desired_capacity {self.desired_capacity} must lie between min_size {self.min_size} "
                f"and max_size {self.max_size}"
            )
        return self


class Cluster(Strict):
    container_insights: bool = Field(True, description="CloudWatch Container Insights on the cluster")
    default_capacity_provider: Name = Field("general", description="capacity provider of services that name none")
    capacity_providers: dict[Name, CapacityProvider] = Field(
        min_length=1, description="one launch template + ASG + ECS capacity provider per entry"
    )

    @model_validator(mode="after")
    def _default_exists(self) -> Cluster:
        if self.default_capacity_provider not in self.capacity_providers:
            raise ValueError(
                f"default_capacity_provider '{self.default_capacity_provider}' is not one of "
                f"{sorted(self.capacity_providers)}"
            )
        return self


class Cache(Strict):
    """ElastiCache for Redis: replaces the compose `redis` service."""

    engine_version: str = Field(DEFAULT_CACHE_ENGINE_VERSION, description="Redis engine version")
    node_type: str = Field(DEFAULT_CACHE_NODE_TYPE, description="ElastiCache node type")
    num_cache_clusters: int = Field(1, ge=1, le=6, description="primary + replicas")
    port: Port = Field(DEFAULT_CACHE_PORT, description="Redis port")
    allow_from: list[Name] = Field(default_factory=list, description="services that may connect")
    url_variable: EnvVarName = Field("REDIS_URL", description="env var handed to the clients")


class DatabaseEnv(Strict):
    """Env var names the connection values reach the allow_from services under (libpq's by default)."""

    host: EnvVarName = Field("PGHOST", description="host name (SSM parameter)")
    port: EnvVarName = Field("PGPORT", description="port (SSM parameter)")
    database: EnvVarName = Field("PGDATABASE", description="database name (SSM parameter; only with 'name')")
    username: EnvVarName = Field("PGUSER", description="user name (key of the credentials secret)")
    password: EnvVarName = Field("PGPASSWORD", description="password (key of the credentials secret)")


class Database(Strict):
    """Reference to an existing Postgres (seed §3.2): nothing is created."""

    mode: Literal["none", "instance", "cluster", "endpoint"] = Field(
        "none", description="none | look up an RDS instance/cluster by identifier | explicit endpoint"
    )
    identifier: str | None = Field(None, description="RDS instance or cluster identifier (instance/cluster)")
    endpoint: str | None = Field(None, description="host name (endpoint mode)")
    port: Port = Field(DEFAULT_DB_PORT, description="Postgres port opened from allow_from services")
    security_group_id: str | None = Field(None, pattern=r"^sg-[0-9a-f]+$", description="DB security group")
    credentials_secret_arn: str | None = Field(
        None, pattern=r"^arn:aws[a-z-]*:secretsmanager:", description="existing secret with the DB credentials"
    )
    credentials_kms_key_arn: str | None = Field(
        None, pattern=r"^arn:aws[a-z-]*:kms:", description="customer-managed key of that secret, if any"
    )
    username_key: str = Field("username", min_length=1, description="JSON key of the user name in the secret")
    password_key: str = Field("password", min_length=1, description="JSON key of the password in the secret")
    name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$", description="database name (PGDATABASE)")
    env: DatabaseEnv = Field(default_factory=DatabaseEnv, description="env var names handed to allow_from")
    allow_from: list[Name] = Field(default_factory=list, description="services that may connect")

    @model_validator(mode="after")
    def _reference(self) -> Database:
        if self.mode == "none":
            extra = [f for f in ("identifier", "endpoint", "security_group_id", "credentials_secret_arn")
                     if getattr(self, f)]
            if extra or self.allow_from:
                raise ValueError(f"mode 'none' takes no reference, but {extra or ['allow_from']} is set")
            return self
        if not self.credentials_secret_arn:
            raise ValueError(f"mode '{self.mode}' needs 'credentials_secret_arn' (the existing secret)")
        if self.mode in ("instance", "cluster"):
            if not self.identifier:
                raise ValueError(f"mode '{self.mode}' needs 'identifier'")
            if self.endpoint:
                raise ValueError(f"mode '{self.mode}' looks the endpoint up; remove 'endpoint' or use mode 'endpoint'")
            if "port" in self.model_fields_set:
                raise ValueError(f"mode '{self.mode}' looks the port up; remove 'port' or use mode 'endpoint'")
        else:
            if not (self.endpoint and self.security_group_id):
                raise ValueError("mode 'endpoint' needs 'endpoint' and 'security_group_id'")
            if self.identifier:
                raise ValueError("mode 'endpoint' takes no 'identifier'; use mode 'instance' or 'cluster'")
        return self


def _recovery_window(value: int) -> int:
    if value != 0 and not 7 <= value <= 30:
        raise ValueError(f"{value} days is not a Secrets Manager recovery window; use {SECRET_RECOVERY_WINDOWS}")
    return value


RecoveryWindow = Annotated[int, AfterValidator(_recovery_window)]


class Secret(Strict):
    """A Secrets Manager secret: generated (never in the synthesized JSON) or set out of band."""

    description: str = Field("", description="description shown in Secrets Manager")
    generate: bool = Field(False, description="generate a random value at apply time")
    length: int = Field(DEFAULT_GENERATED_SECRET_LENGTH, ge=16, le=4096, description="generated value length")
    keys: list[EnvVarName] = Field(
        default_factory=list, description="JSON secret: key names (values are set out of band)"
    )
    recovery_window_days: RecoveryWindow | None = Field(None, description="overrides secrets_recovery_window_days")
    generation: int = Field(1, ge=1, description="generated secrets: bump to generate a new value (rotation)")

    @model_validator(mode="after")
    def _generate_or_keys(self) -> Secret:
        if self.generate and self.keys:
            raise ValueError("a secret is either 'generate'd or a JSON secret with 'keys', not both")
        if "generation" in self.model_fields_set and not self.generate:
            raise ValueError("'generation' applies to generated secrets only ('generate: true')")
        return self


class Volume(Strict):
    """A named persistent volume: an EFS access point owned by the user the image runs as."""

    uid: int = Field(ge=0, description="POSIX owner uid of the access point root")
    gid: int = Field(ge=0, description="POSIX owner gid of the access point root")
    permissions: str = Field("0750", pattern=r"^0?[0-7]{3}$", description="mode of the access point root")


class Registry(Strict):
    keep_last: int = Field(DEFAULT_ECR_KEEP_LAST, ge=1, description="ECR lifecycle: tagged images kept")
    untagged_expire_days: int = Field(
        DEFAULT_ECR_UNTAGGED_EXPIRE_DAYS, ge=1, description="ECR lifecycle: days untagged images are kept"
    )
    encryption: Literal["AES256", "KMS"] = Field(
        "AES256", description="repository encryption at rest: AES256 (S3-managed) or KMS (the aws/ecr key)"
    )
    force_delete: bool = Field(False, description="let `destroy` delete repositories that still hold images")
    image_tag_env_var: EnvVarName = Field(
        DEFAULT_IMAGE_TAG_ENV_VAR, description="env var with the image tag; else the git commit"
    )
    pull_through_cache: bool = Field(True, description="ECR pull-through cache for public images")
    docker_hub_secret: Name | None = Field(
        None, description="secret with Docker Hub username/accessToken (needed for docker-hub upstream)"
    )
    cache_upstreams: list[Literal["docker-hub", "ecr-public", "quay", "k8s"]] = Field(
        default_factory=list,
        description="extra pull-through cache upstreams, e.g. for the base images of docker/ builds",
    )


def pull_through_source(image: str) -> tuple[str | None, str, str]:
    """`ollama/ollama:0.3.14` -> (upstream name or None if ECR cannot cache it, repository, `:tag`/`@digest`)."""
    at = image.find("@")
    cut = at if at >= 0 else image.rfind(":") if ":" in image.rsplit("/", 1)[-1] else len(image)
    name, reference = image[:cut], image[cut:]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):  # an explicit registry host
        host, repository = first, rest
    else:
        host, repository = "docker.io", name
    if host in DOCKER_HUB_HOSTS:
        return "docker-hub", repository if "/" in repository else f"library/{repository}", reference
    for upstream, (upstream_host, _) in PULL_THROUGH_UPSTREAMS.items():
        if host == upstream_host:
            return upstream, repository, reference
    return None, repository, reference


class Logs(Strict):
    retention_days: int = Field(DEFAULT_LOG_RETENTION_DAYS, ge=1, description="days container logs are kept")


# ---------------------------------------------------------------- services
class Kind(str, Enum):
    service = "service"  # long-running ECS service
    init = "init"  # extra container in another service's task, runs once at task start
    sidecar = "sidecar"  # extra long-running container in another service's task
    job = "job"  # one-shot task definition, run on demand
    scheduled = "scheduled"  # task run by EventBridge Scheduler


class Image(Strict):
    """Exactly one of `build` (an image this project or the app builds, pushed to ECR) or `public`."""

    build: Name | None = Field(None, description="ECR repository name; built from docker/ or the app repo")
    dockerfile: str | None = Field(None, description="Dockerfile in this repo (docker/...); omit if the app builds it")
    public: str | None = Field(None, description="public image with a pinned tag, e.g. ollama/ollama:0.3.14")
    tag_env_var: EnvVarName | None = Field(
        None, description="env var holding the tag another repository pushed this image with (only with 'build' "
        "and no 'dockerfile'); unset at synth: the synth-time tag, with a notice",
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):  # `image: ollama/ollama:0.3.14`
            return {"public": value}
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Image:
        if bool(self.build) == bool(self.public):
            raise ValueError("set exactly one of 'build' (ECR repository) or 'public' (image reference)")
        if self.public:
            tag = self.public.rsplit("/", 1)[-1].partition(":")[2]
            if not tag or tag == "latest":
                raise ValueError(f"public image '{self.public}' needs a pinned tag (not 'latest')")
        if self.dockerfile and not self.build:
            raise ValueError("'dockerfile' only goes with 'build'")
        if self.tag_env_var and not self.build:
            raise ValueError("'tag_env_var' only goes with 'build' (an image another repository builds); "
                             "a public image carries its tag in its reference")
        if self.tag_env_var and self.dockerfile:
            # One deploy ships one consistent set: everything built from docker/ gets the synth-time tag.
            raise ValueError("'tag_env_var' is for images another repository builds; an image built here "
                             "('dockerfile') always gets the synth-time tag (registry.image_tag_env_var)")
        return self


class PortMapping(Strict):
    """A container port. A bare number is short for `{port: N}`."""

    port: Port = Field(description="container port")
    name: str | None = Field(None, pattern=r"^[a-z][a-z0-9-]*$", description="port name (default <service>-<port>)")
    protocol: Literal["http", "http2", "grpc", "tcp"] = Field("http", description="Service Connect protocol")
    allow_from: list[Name] | None = Field(
        None, description="narrows the task's `allow_from` for this port (e.g. OTLP only from the collector); "
        "default: every service in the task's `allow_from`",
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"port": value} if isinstance(value, int) else value


class VolumeMount(Strict):
    """A volume mounted in a container. The string `volume:/path[:ro]` (compose style) is short for it."""

    volume: Name = Field(description="a key of `volumes`")
    path: str = Field(pattern=r"^/", description="mount path in the container")
    read_only: bool = Field(False, description="mount read-only")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):  # compose style `name:/path[:ro]`
            parts = value.split(":")
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
                raise ValueError(f"'{value}' is not 'volume:/path' or 'volume:/path:ro'")
            return {"volume": parts[0], "path": parts[1], "read_only": len(parts) == 3 and parts[2] == "ro"}
        return value


class HealthCheck(Strict):
    """A container health check. A string is short for `{command: [CMD-SHELL, <string>]}`."""

    command: list[str] = Field(min_length=1, description="CMD-SHELL form when a single string is given")
    interval: int = Field(DEFAULT_HEALTH_INTERVAL, ge=5, le=300, description="seconds between checks")
    timeout: int = Field(DEFAULT_HEALTH_TIMEOUT, ge=2, le=120, description="seconds before a check fails")
    retries: int = Field(DEFAULT_HEALTH_RETRIES, ge=1, le=10, description="failures before unhealthy")
    start_period: int = Field(DEFAULT_HEALTH_START_PERIOD, ge=0, le=300, description="grace seconds after start")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"command": ["CMD-SHELL", value]}
        if isinstance(value, dict) and isinstance(value.get("command"), str):
            return {**value, "command": ["CMD-SHELL", value["command"]]}
        return value


class Scaling(Strict):
    min: int = Field(1, ge=0, description="fewest tasks")
    max: int = Field(1, ge=1, description="most tasks")
    cpu_target: int = Field(DEFAULT_CPU_TARGET_PERCENT, ge=10, le=95, description="target CPU %")

    @model_validator(mode="after")
    def _bounds(self) -> Scaling:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


def _names_list_or_map(value: Any) -> Any:
    """`[A, B]` is short for `{A: A, B: B}` (env var name = parameter/secret name)."""
    if isinstance(value, list):
        return {item: item for item in value}
    return value


class Service(Strict):
    kind: Kind = Field(Kind.service, description="service | job | scheduled own a task; init/sidecar join one")
    description: str = Field("", description="what it is for (documentation; also the schedule's description)")
    image: Image = Field(description="where the image comes from")
    command: list[str] | None = Field(None, description="overrides the image command")
    cpu: float = Field(ge=0, le=192, description="vCPU reserved (0.25 = 256 CPU units); 0 shares the task's")
    memory: int = Field(ge=6, description="MiB hard limit")
    gpu: int = Field(0, ge=0, le=8, description="GPUs (needs a gpu capacity provider)")
    capacity_provider: Name | None = Field(None, description="default: cluster.default_capacity_provider")
    ports: list[PortMapping] = Field(default_factory=list, description="container ports (Service Connect names)")
    environment: dict[EnvVarName, str] = Field(default_factory=dict, description="plain, non-secret values")
    parameters: Annotated[dict[EnvVarName, str], BeforeValidator(_names_list_or_map)] = Field(
        default_factory=dict, description="env var -> key in `parameters` (SSM, injected via valueFrom)"
    )
    secrets: Annotated[dict[EnvVarName, str], BeforeValidator(_names_list_or_map)] = Field(
        default_factory=dict, description="env var -> `secret` or `secret:KEY` (Secrets Manager)"
    )
    secrets_from: list[Name] = Field(default_factory=list, description="JSON secrets whose every key is injected")
    volumes: list[VolumeMount] = Field(default_factory=list, description="persistent volumes (EFS) mounted")
    health_check: HealthCheck | None = Field(None, description="container health check (depends_on waits for it)")
    depends_on: list[Name] = Field(default_factory=list, description="start order (seed §5)")
    init_of: Name | None = Field(None, description="kind init: the service whose task holds this container")
    sidecar_of: Name | None = Field(None, description="kind sidecar: the service whose task holds it")
    allow_from: list[Name] = Field(default_factory=list, description="services allowed to reach the ports")
    desired_count: int = Field(1, ge=0, description="running tasks (kind service); 0 stops it")
    scaling: Scaling | None = Field(None, description="CPU target tracking (kind service)")
    schedule: str | None = Field(None, description="kind scheduled: cron(...) or rate(...) expression")
    schedule_timezone: str = Field(
        DEFAULT_SCHEDULE_TIMEZONE, pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$",
        description="IANA time zone the schedule's cron runs in, e.g. America/Sao_Paulo",
    )
    user: str | None = Field(None, description="uid[:gid] the container runs as")
    read_only_root: bool = Field(False, description="read-only root filesystem")
    essential: bool | None = Field(None, description="default: true for service/job, false for init/sidecar")
    stop_timeout: int | None = Field(None, ge=2, le=120, description="seconds between SIGTERM and SIGKILL")

    @field_validator("cpu")
    @classmethod
    def _cpu_units(cls, value: float) -> float:
        if round(value * 1024) != value * 1024:
            raise ValueError(f"{value} vCPU is not a whole number of CPU units (1 vCPU = 1024)")
        return value

    @property
    def cpu_units(self) -> int:
        return round(self.cpu * 1024)

    @property
    def host(self) -> str | None:
        """The service whose task holds this container (None for task-owning kinds)."""
        return self.init_of or self.sidecar_of

    @property
    def is_essential(self) -> bool:
        return self.essential if self.essential is not None else self.kind in (Kind.service, Kind.job, Kind.scheduled)

    @model_validator(mode="after")
    def _kind_fields(self) -> Service:
        if (self.kind == Kind.init) != (self.init_of is not None):
            raise ValueError("'init_of' is required with kind 'init' and allowed only there")
        if (self.kind == Kind.sidecar) != (self.sidecar_of is not None):
            raise ValueError("'sidecar_of' is required with kind 'sidecar' and allowed only there")
        if (self.kind == Kind.scheduled) != (self.schedule is not None):
            raise ValueError("'schedule' is required with kind 'scheduled' and allowed only there")
        if self.schedule and not re.match(r"^(cron|rate|at)\(.+\)$", self.schedule):
            raise ValueError(f"schedule '{self.schedule}' must be cron(...), rate(...) or at(...)")
        if self.schedule_timezone != DEFAULT_SCHEDULE_TIMEZONE:
            if self.kind != Kind.scheduled:
                raise ValueError("'schedule_timezone' applies to kind 'scheduled' only")
            known = zoneinfo.available_timezones()  # empty without a tz database: the pattern check stands
            if known and self.schedule_timezone not in known:
                raise ValueError(f"schedule_timezone '{self.schedule_timezone}' is not an IANA time zone "
                                 "(e.g. America/Sao_Paulo, UTC)")
        if self.host and (self.capacity_provider or self.scaling or self.allow_from):
            raise ValueError(
                "an init/sidecar container runs in its host's task: set capacity_provider, scaling and "
                "allow_from on the host service"
            )
        if self.kind != Kind.service and self.scaling:
            raise ValueError("'scaling' applies to kind 'service' only")
        if self.scaling and not self.scaling.min <= self.desired_count <= self.scaling.max:
            raise ValueError(
                f"desired_count {self.desired_count} must lie within scaling min {self.scaling.min} "
                f"and max {self.scaling.max}"
            )
        return self


# ---------------------------------------------------------------- the env file
class EnvConfig(Strict):
    project: Name = Field(description="project name; prefixes every resource")
    environment: Name = Field(description="environment name, e.g. stage")
    region: str = Field(DEFAULT_REGION, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region")
    account_id: str | None = Field(None, pattern=r"^\d{12}$", description="guards against the wrong account")
    tags: dict[str, str] = Field(default_factory=dict, description="tags on every resource")
    terraform_cloud: TerraformCloud | None = Field(None, description="omit for a local backend")
    network: Network = Field(description="VPC, subnets, NAT, flow logs, VPC endpoints")
    alb: Alb = Field(description="the public Application Load Balancer")
    cluster: Cluster = Field(description="the ECS cluster and its EC2 capacity providers")
    service_connect_namespace: str | None = Field(None, description=f"default {DEFAULT_SERVICE_CONNECT_NAMESPACE}")
    cache: Cache | None = Field(None, description="omit for no Redis")
    database: Database = Field(default_factory=Database)
    secrets: dict[Name | EnvVarName, Secret] = Field(default_factory=dict)
    secrets_kms: bool = Field(False, description="customer-managed KMS key for secrets and parameters")
    secrets_recovery_window_days: RecoveryWindow = Field(
        DEFAULT_SECRET_RECOVERY_DAYS, description="days a deleted secret can be restored (0: at once)"
    )
    parameters: dict[EnvVarName, Annotated[str, Field(min_length=1, max_length=SSM_STANDARD_VALUE_MAX)]] = Field(
        default_factory=dict, description="SSM parameters under /<project>/<environment>/ (non-empty values)"
    )
    volumes: dict[Name, Volume] = Field(default_factory=dict)
    volumes_throughput_mode: Literal["elastic", "bursting"] = Field(
        DEFAULT_EFS_THROUGHPUT_MODE, description="EFS throughput mode of the volumes' file system"
    )
    discovery_dns_namespace: str | None = Field(
        None, description=f"private DNS namespace for jobs to reach services; default {DEFAULT_DISCOVERY_DNS_NAMESPACE}"
    )
    registry: Registry = Field(default_factory=Registry, description="ECR repositories and lifecycle")
    logs: Logs = Field(default_factory=Logs, description="CloudWatch Logs for the containers")
    services: dict[Name, Service] = Field(min_length=1, description="every container of the stack, keyed by name")

    # ------------------------------------------------------------ derived views
    @property
    def name(self) -> str:
        """`<project>-<environment>`: stack name and resource prefix."""
        return f"{self.project}-{self.environment}"

    @property
    def namespace(self) -> str:
        return self.service_connect_namespace or DEFAULT_SERVICE_CONNECT_NAMESPACE.format(
            project=self.project, environment=self.environment
        )

    @property
    def dns_namespace(self) -> str:
        return self.discovery_dns_namespace or DEFAULT_DISCOVERY_DNS_NAMESPACE.format(
            project=self.project, environment=self.environment
        )

    def dns_discovered(self) -> list[str]:
        """Long-running services a job/scheduled task depends on: they also get a DNS name."""
        found = set()
        for owner, svc in self.task_owners().items():
            if svc.kind not in (Kind.job, Kind.scheduled):
                continue
            for container in self.containers_of(owner).values():
                for dep in container.depends_on:
                    target = self.task_owner(dep)
                    if target != owner and self.services[target].kind == Kind.service:
                        found.add(target)
        return sorted(found)

    @property
    def parameter_prefix(self) -> str:
        return f"/{self.project}/{self.environment}/"

    def task_owners(self) -> dict[str, Service]:
        """Services that own a task definition (service, job, scheduled)."""
        return {n: s for n, s in self.services.items() if s.host is None}

    def containers_of(self, owner: str) -> dict[str, Service]:
        """The owner's container first, then its init and sidecar containers, in file order."""
        out = {owner: self.services[owner]}
        out.update({n: s for n, s in self.services.items() if s.host == owner})
        return out

    def task_owner(self, name: str) -> str:
        return self.services[name].host or name

    def port_sources(self, owner: str) -> dict[int, list[str]]:
        """{port of the owner's task: services allowed to reach it} (a port's allow_from narrows the task's)."""
        default = self.services[owner].allow_from
        return {pm.port: list(pm.allow_from if pm.allow_from is not None else default)
                for svc in self.containers_of(owner).values() for pm in svc.ports}

    def capacity_provider_of(self, name: str) -> str:
        return self.services[self.task_owner(name)].capacity_provider or self.cluster.default_capacity_provider

    # ------------------------------------------------------------ cross-field checks
    @model_validator(mode="after")
    def _pull_through_cache(self) -> EnvConfig:
        """Every public image must come from an upstream ECR can cache, with credentials where it needs them."""
        reg, errors = self.registry, []
        if not reg.pull_through_cache:
            if reg.cache_upstreams:
                errors.append((("registry", "cache_upstreams"), "needs 'pull_through_cache: true'"))
            if errors:
                raise CrossFieldErrors(errors)
            return self
        for upstream in self.pull_through_upstreams():
            prefix = f"{self.name}/{upstream}"
            if len(prefix) > PULL_THROUGH_PREFIX_MAX or "--" in prefix:
                errors.append((("registry", "pull_through_cache"), f"repository prefix '{prefix}' must be at most "
                               f"{PULL_THROUGH_PREFIX_MAX} characters without '--' (ECR); shorten project/environment "
                               "names"))
        for sname, svc in self.services.items():
            if svc.image.public and pull_through_source(svc.image.public)[0] is None:
                errors.append((("services", sname, "image"),
                               f"'{svc.image.public}' is on a registry ECR pull-through cache does not support "
                               f"(supported: Docker Hub, {', '.join(h for h, _ in list(PULL_THROUGH_UPSTREAMS.values())[1:])}); "
                               f"use one of those or set registry.pull_through_cache: false"))
        if "docker-hub" in self.pull_through_upstreams() and not reg.docker_hub_secret:
            errors.append((("registry", "docker_hub_secret"),
                           f"required: Docker Hub images are cached and ECR needs Docker Hub credentials; name a "
                           f"secret with keys {DOCKER_HUB_SECRET_KEYS}, or set pull_through_cache: false"))
        secret = self.secrets.get(reg.docker_hub_secret or "")
        if secret is not None and sorted(secret.keys) != DOCKER_HUB_SECRET_KEYS:
            errors.append((("secrets", reg.docker_hub_secret, "keys"),
                           f"the Docker Hub credentials secret needs exactly the keys {DOCKER_HUB_SECRET_KEYS}"))
        if errors:
            raise CrossFieldErrors(errors)
        return self

    @model_validator(mode="after")
    def _cache_id(self) -> EnvConfig:
        cache_id = self.name + CACHE_ID_SUFFIX
        if self.cache and (len(cache_id) > CACHE_ID_MAX or "--" in cache_id):
            raise CrossFieldErrors([(("cache",), f"ElastiCache id '{cache_id}' must be at most {CACHE_ID_MAX} "
                                     "characters without '--'; shorten project/environment names")])
        return self

    @model_validator(mode="after")
    def _built_images(self) -> EnvConfig:
        """One ECR repository gets one tag per synth: services sharing a `build` must agree on how it is built."""
        errors, first = [], {}
        for sname, svc in self.services.items():
            image = svc.image
            if image.tag_env_var and image.tag_env_var == self.registry.image_tag_env_var:
                errors.append((("services", sname, "image", "tag_env_var"),
                               f"'{image.tag_env_var}' is the synth-time tag (registry.image_tag_env_var); "
                               "omit tag_env_var for that, or name the variable the other repository's tag is in"))
            if not image.build:
                continue
            other = first.setdefault(image.build, sname)
            theirs = self.services[other].image
            if (image.dockerfile, image.tag_env_var) != (theirs.dockerfile, theirs.tag_env_var):
                errors.append((("services", sname, "image"),
                               f"builds '{image.build}' like service '{other}' but with another dockerfile/tag_env_var; "
                               "one repository has one source and one tag"))
        if errors:
            raise CrossFieldErrors(errors)
        return self

    def pull_through_upstreams(self) -> list[str]:
        """Upstreams of the public images plus registry.cache_upstreams, sorted; empty when caching is off."""
        if not self.registry.pull_through_cache:
            return []
        found = {pull_through_source(s.image.public)[0] for s in self.services.values() if s.image.public}
        return sorted((found - {None}) | set(self.registry.cache_upstreams))

    @model_validator(mode="after")
    def _references(self) -> EnvConfig:
        errors: list[tuple[tuple, str]] = []
        names = set(self.services)

        def check(loc: tuple, ref: str, pool: set[str] | dict, what: str) -> None:
            if ref not in pool:
                errors.append((loc, f"'{ref}' is not a defined {what}; defined: {sorted(pool) or 'none'}"))

        for sname, svc in self.services.items():
            base = ("services", sname)
            for i, dep in enumerate(svc.depends_on):
                check(base + ("depends_on", i), dep, names, "service")
                if dep == sname:
                    errors.append((base + ("depends_on", i), "a service cannot depend on itself"))
            for field in ("init_of", "sidecar_of"):
                host = getattr(svc, field)
                if host is None:
                    continue
                check(base + (field,), host, names, "service")
                if host in self.services and self.services[host].host is not None:
                    errors.append((base + (field,), f"'{host}' is itself an init/sidecar; name a task-owning service"))
                if host in self.services and self.services[host].kind != Kind.service and svc.kind == Kind.sidecar:
                    errors.append((base + (field,), f"'{host}' is not a long-running service"))
            for i, src in enumerate(svc.allow_from):
                check(base + ("allow_from", i), src, names, "service")
            for env, key in svc.parameters.items():
                check(base + ("parameters", env), key, self.parameters, "parameter")
            for env, ref in svc.secrets.items():
                secret, _, key = ref.partition(":")
                check(base + ("secrets", env), secret, self.secrets, "secret")
                if key and secret in self.secrets and key not in self.secrets[secret].keys:
                    errors.append((base + ("secrets", env),
                                   f"key '{key}' is not in secrets.{secret}.keys {self.secrets[secret].keys}"))
            for i, secret in enumerate(svc.secrets_from):
                check(base + ("secrets_from", i), secret, self.secrets, "secret")
                if secret in self.secrets and not self.secrets[secret].keys:
                    errors.append((base + ("secrets_from", i), f"secret '{secret}' has no 'keys' to inject"))
            for i, mount in enumerate(svc.volumes):
                check(base + ("volumes", i, "volume"), mount.volume, self.volumes, "volume")
            if svc.capacity_provider is not None:
                check(base + ("capacity_provider",), svc.capacity_provider,
                      self.cluster.capacity_providers, "capacity provider")
            overlap = set(svc.environment) & (set(svc.parameters) | set(svc.secrets))
            if overlap:
                errors.append((base,
                               f"{sorted(overlap)} set both in environment and parameters/secrets; keep one"))
            # variables injected from elsewhere must not collide with the service's own (ECS rejects duplicates)
            sources: dict[str, list[str]] = {}
            for var in [*svc.environment, *svc.parameters, *svc.secrets]:
                sources.setdefault(var, []).append("own")
            for secret in svc.secrets_from:
                for key in self.secrets[secret].keys if secret in self.secrets else []:
                    sources.setdefault(key, []).append(f"secrets_from {secret}")
            if self.cache and sname in self.cache.allow_from:
                sources.setdefault(self.cache.url_variable, []).append("cache.url_variable")
            if sname in self.database.allow_from:
                env = self.database.env
                db_vars = [env.host, env.port, env.username, env.password]
                db_vars += [env.database] if self.database.name else []
                for var in db_vars:
                    sources.setdefault(var, []).append("database.env")
            for var, found in sorted(sources.items()):
                if len(found) > 1 and set(found) != {"own"}:
                    errors.append((base, f"variable {var} is injected more than once ({', '.join(found)}); "
                                         f"keep one (rename the key or the env var)"))

        # ports: unique per task (containers of one task share the network namespace)
        for owner in self.task_owners():
            seen: dict[int, str] = {}
            for cname, svc in self.containers_of(owner).items():
                for i, pm in enumerate(svc.ports):
                    if pm.port in seen:
                        errors.append((("services", cname, "ports", i),
                                       f"port {pm.port} is already used by '{seen[pm.port]}' in task '{owner}'"))
                    seen[pm.port] = cname
                    allowed = self.services[owner].allow_from
                    for j, src in enumerate(pm.allow_from or []):
                        if src not in allowed:
                            errors.append((("services", cname, "ports", i, "allow_from", j),
                                           f"'{src}' is not in services.{owner}.allow_from {allowed}; a port's "
                                           "allow_from only narrows the task's"))

        # jobs run outside Service Connect: a compose short name (http://ollama:11434) does not resolve
        # there; the DNS name `<service>.<dns_namespace>` does, for services the job depends on
        served = {n for n, s in self.services.items() if s.ports}
        for owner, task_owner_svc in self.task_owners().items():
            if task_owner_svc.kind not in (Kind.job, Kind.scheduled):
                continue
            reachable = {self.task_owner(d) for c in self.containers_of(owner).values() for d in c.depends_on}
            for cname, svc in self.containers_of(owner).items():
                values = [(("environment", k), v) for k, v in svc.environment.items()]
                values += [(("parameters", k), self.parameters[key]) for k, key in svc.parameters.items()
                           if key in self.parameters]
                for loc, value in values:
                    for target in sorted(served):
                        if re.search(rf"(^|//){re.escape(target)}:\d", value):
                            errors.append((("services", cname) + loc,
                                           f"'{value}': a {task_owner_svc.kind.value} is not in the Service Connect "
                                           f"mesh, so '{target}' does not resolve; use "
                                           f"{target}.{self.dns_namespace} (and depends_on: [{target}])"))
                        elif f"{target}.{self.dns_namespace}" in value and self.task_owner(target) not in reachable:
                            errors.append((("services", cname) + loc,
                                           f"'{value}' uses the DNS name of '{target}', which is registered only "
                                           f"for services a job depends on; add '{target}' to depends_on"))

        # port names are Service Connect discovery names: unique in the environment's namespace
        port_names: dict[str, str] = {}
        for sname, svc in self.services.items():
            for i, pm in enumerate(svc.ports):
                port_name = pm.name or f"{sname}-{pm.port}"
                if port_name in port_names:
                    errors.append((("services", sname, "ports", i, "name"),
                                   f"port name '{port_name}' is already used by '{port_names[port_name]}'; "
                                   "port names must be unique (Service Connect discovery names)"))
                port_names.setdefault(port_name, sname)

        # GPUs only on GPU capacity providers
        for sname, svc in self.services.items():
            if svc.gpu:
                provider = self.capacity_provider_of(sname)
                cp = self.cluster.capacity_providers.get(provider)
                if cp is not None and not cp.gpu:
                    gpu_cps = [n for n, c in self.cluster.capacity_providers.items() if c.gpu]
                    errors.append((("services", sname, "gpu"),
                                   f"{svc.gpu} GPU(s) requested but capacity provider '{provider}' has no GPU; "
                                   f"set capacity_provider to one of {gpu_cps or '(none: add one with gpu: true)'}"))

        # the ALB target, and allow_from lists elsewhere
        t = self.alb.target
        check(("alb", "target", "service"), t.service, names, "service")
        if t.service in self.services:
            if self.services[t.service].kind != Kind.service or self.services[t.service].host:
                errors.append((("alb", "target", "service"), f"'{t.service}' is not a long-running service"))
            elif t.port not in [p.port for p in self.services[t.service].ports]:
                errors.append((("alb", "target", "port"),
                               f"port {t.port} is not a port of '{t.service}' "
                               f"({[p.port for p in self.services[t.service].ports]})"))
        if self.cache:
            for i, src in enumerate(self.cache.allow_from):
                check(("cache", "allow_from", i), src, names, "service")
        for i, src in enumerate(self.database.allow_from):
            check(("database", "allow_from", i), src, names, "service")
        if self.alb.grafana.oidc:
            check(("alb", "grafana", "oidc", "client_secret"), self.alb.grafana.oidc.client_secret,
                  self.secrets, "secret")
            client_secret = self.secrets.get(self.alb.grafana.oidc.client_secret)
            if client_secret is not None and (client_secret.generate or client_secret.keys):
                errors.append((("alb", "grafana", "oidc", "client_secret"),
                               f"secret '{self.alb.grafana.oidc.client_secret}' must be a plain secret set out of "
                               "band (the IdP issues it): no 'generate', no 'keys'"))
        grafana = self.alb.grafana
        if grafana.exposure != "internal" or grafana.allowed_cidrs:
            check(("alb", "grafana", "service"), grafana.service, names, "service")
            if grafana.service in self.services:
                gsvc = self.services[grafana.service]
                if gsvc.kind != Kind.service or gsvc.host:
                    errors.append((("alb", "grafana", "service"), f"'{grafana.service}' is not a long-running service"))
                elif grafana.port not in [pm.port for pm in gsvc.ports]:
                    errors.append((("alb", "grafana", "port"), f"port {grafana.port} is not a port of "
                                   f"'{grafana.service}' ({[pm.port for pm in gsvc.ports]})"))
        if self.registry.docker_hub_secret:
            check(("registry", "docker_hub_secret"), self.registry.docker_hub_secret, self.secrets, "secret")

        # depends_on cycles
        state: dict[str, int] = {}

        def visit(node: str, path: list[str]) -> None:
            state[node] = 1
            for dep in self.services[node].depends_on:
                if dep not in self.services:
                    continue
                if state.get(dep) == 1:
                    cycle = path[path.index(dep):] + [dep] if dep in path else [node, dep]
                    errors.append((("services", node, "depends_on"), f"dependency cycle: {' -> '.join(cycle)}"))
                elif dep not in state:
                    visit(dep, path + [dep])
            state[node] = 2

        for sname in self.services:
            if sname not in state:
                visit(sname, [sname])

        if errors:
            raise CrossFieldErrors(errors)
        return self


# ---------------------------------------------------------------- loading and errors
class CrossFieldErrors(ValueError):
    """Several reference errors at once, each with its own field path."""

    def __init__(self, errors: list[tuple[tuple, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{_dotted(loc)}: {msg}" for loc, msg in errors))


class ConfigError(Exception):
    """Bad input: printed as `file: path: problem` lines, exit code 2."""

    def __init__(self, file: Path | str, problems: list[tuple[str, str]]):
        self.file = str(file)
        self.problems = problems  # (field path, message)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.file}: {path}: {msg}" if path else f"{self.file}: {msg}" for path, msg in self.problems]
        return "\n".join(lines)


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _allowed_keys(loc: tuple) -> list[str] | None:
    """For 'unknown key' errors: the keys that are allowed at that place."""
    model: Any = EnvConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return None
        if part in fields:
            model = _inner_model(fields[part].annotation)
        else:  # a dict key such as a service name
            continue
        if model is None:
            return None
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        ctx_error = err.get("ctx", {}).get("error")
        if isinstance(ctx_error, CrossFieldErrors):
            problems.extend((_dotted(loc + sub), msg) for sub, msg in ctx_error.errors)
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            msg = f"unknown key '{loc[-1]}'" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err and not isinstance(err["input"], (dict, list)) and err["type"] not in ("value_error",):
            msg = f"{msg} (got {err['input']!r})"
        problems.append((_dotted(loc), msg))
    return problems


def load(path: Path | str) -> EnvConfig:
    """Read and validate one env file. Raises ConfigError with every problem found."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, [("", "file not found")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, [("", f"malformed YAML: {where}{getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError(path, [("", f"must be a YAML mapping of sections, got {type(raw).__name__}")])
    try:
        cfg = EnvConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, _problems(exc)) from None
    from modules import capacity  # noqa: PLC0415  (capacity.py imports this module: import here, no cycle)

    problems = capacity.fit_problems(cfg)  # tasks must fit their capacity provider's instances
    if problems:
        raise ConfigError(path, problems)
    return cfg
