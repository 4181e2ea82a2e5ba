"""EnvConfig: one env file (envs/<name>.yaml) as typed objects, with the views constructs read.

The sections are defined by concern in the sibling modules; the cross-field rules live in
modules/config/rules/ (registered in its RULES) and run here, after every section has validated, so that
`EnvConfig.model_validate(data)` rejects everything `load()` rejects. This module does not import the rules
(they read EnvConfig: an import circle): the rules package registers its runner with register_rules() when
it is imported, which modules/config/__init__.py does, and validation refuses to run without one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from modules.config.base import EnvVarName, Name, Strict
from modules.config.alarms import Alarms
from modules.config.compute import Cluster
from modules.config.data import Cache, Database, Logs, RecoveryWindow, Secret, Volume
from modules.config.defaults import (
    DEFAULT_AZ_LETTERS,
    AWS_REGIONS,
    AWS_REGIONS_AS_OF,
    DEFAULT_DISCOVERY_DNS_NAMESPACE,
    DEFAULT_EFS_THROUGHPUT_MODE,
    DEFAULT_REGION,
    DEFAULT_SECRET_RECOVERY_DAYS,
    DEFAULT_SERVICE_CONNECT_NAMESPACE,
    PULL_THROUGH_SECRET_PREFIX,
    REPLACE_DEPLOYMENT,
    ROLLING_DEPLOYMENT,
    SSM_STANDARD_VALUE_MAX,
)
from modules.config.edge import Alb, TerraformCloud
from modules.config.kinds import SecretName, Tags
from modules.config.network import Network
from modules.config.registry import Registry, pull_through_source
from modules.config.services import Service


class EnvConfig(Strict):
    extends: str | None = Field(None, description=(
        "a base env file this one overlays (path relative to this file, e.g. stage.yaml): its sections are "
        "merged key by key, this file's values win, a key set to null removes the base's; docs/env-file.md"))
    project: Name = Field(description="project name; prefixes every resource")
    environment: Name = Field(description="environment name, e.g. stage")
    region: str = Field(DEFAULT_REGION, json_schema_extra={"enum": list(AWS_REGIONS)},
                        description=f"AWS Region code, e.g. us-east-1, eu-west-1 (as of {AWS_REGIONS_AS_OF})")
    account_id: str | None = Field(None, pattern=r"^\d{12}$", description="guards against the wrong account")
    tags: Tags = Field(default_factory=dict, description="tags on every resource")
    terraform_cloud: TerraformCloud | None = Field(None, description="omit for a local backend")
    network: Network = Field(description="VPC, subnets, NAT, flow logs, VPC endpoints")
    alb: Alb = Field(description="the public Application Load Balancer")
    cluster: Cluster = Field(description="the ECS cluster and its EC2 capacity providers")
    service_connect_namespace: str | None = Field(None, description=f"default {DEFAULT_SERVICE_CONNECT_NAMESPACE}")
    cache: Cache | None = Field(None, description="omit for no Redis")
    database: Database = Field(default_factory=Database)
    secrets: dict[SecretName, Secret] = Field(default_factory=dict)
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
    alarms: Alarms = Field(default_factory=Alarms,
                           description="where every alarm of the stack notifies (SNS topics)")
    services: dict[Name, Service] = Field(min_length=1, description="every container of the stack, keyed by name")

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        # AWS General Reference, "AWS Regions and endpoints" (table in defaults.py, as listed then).
        if value not in AWS_REGIONS:
            raise ValueError(f"'{value}' is not an AWS Region code (as of {AWS_REGIONS_AS_OF}); allowed: "
                             f"{', '.join(AWS_REGIONS)}")
        return value

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

    def availability_zones(self) -> list[str]:
        """network.availability_zones, or the region's first az_count zone letters (decided here, once)."""
        return list(self.network.availability_zones) or [
            f"{self.region}{letter}" for letter in DEFAULT_AZ_LETTERS[: self.network.az_count]]

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

    def secret_name(self, name: str) -> str:
        """The Secrets Manager name of `secrets.<name>`: `<project>-<env>/<name>`, under ECR's pull-through
        prefix for the Docker Hub login. An `existing` secret must be created with exactly this name."""
        base = f"{self.name}/{name}"
        return PULL_THROUGH_SECRET_PREFIX + base if name == self.registry.docker_hub_secret else base

    def deployment_of(self, owner: str) -> tuple[int, int]:
        """(minimum healthy %, maximum %) of a service's deployments: replace when its task writes a volume not
        made for concurrent writers (two tasks on one data directory corrupt it: Prometheus, Tempo) or holds a
        GPU, else rolling (defaults.py says why)."""
        containers = self.containers_of(owner).values()
        concurrent = {name for name, volume in self.volumes.items() if volume.concurrent_writers}
        writes_volume = any(not m.read_only and m.volume not in concurrent for c in containers for m in c.volumes)
        has_gpu = any(c.gpu for c in containers)
        return REPLACE_DEPLOYMENT if (writes_volume or has_gpu) else ROLLING_DEPLOYMENT

    def capacity_provider_of(self, name: str) -> str:
        return self.services[self.task_owner(name)].capacity_provider or self.cluster.default_capacity_provider


    def pull_through_upstreams(self) -> list[str]:
        """Upstreams of the public images plus registry.cache_upstreams, sorted; empty when caching is off."""
        if not self.registry.pull_through_cache:
            return []
        found = {pull_through_source(s.image.public)[0] for s in self.services.values() if s.image.public}
        return sorted((found - {None}) | set(self.registry.cache_upstreams))

    def repository_name(self, build: str) -> str:
        """The ECR repository of the image `image.build: <build>` (modules/registry.py creates it; preflight
        and the deploy workflow look images up in it)."""
        return f"{self.name}/{build}"

    # ------------------------------------------------------------ cross-field rules
    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> EnvConfig:
        """Every rule of rules.RULES, in order (a validation context {"skip_rules": {name}} leaves some out)."""
        if not _RULE_RUNNERS:
            raise RuntimeError("the cross-field rules are not registered: import modules.config (its __init__ "
                               "imports modules.config.rules), not modules.config.env alone")
        skip = set((info.context or {}).get("skip_rules", ()))
        for run_rules in _RULE_RUNNERS:
            run_rules(self, skip)
        return self


_RULE_RUNNERS: list[Callable[[EnvConfig, set[str]], None]] = []


def register_rules(runner: Callable[[EnvConfig, set[str]], None]) -> None:
    """Called once by modules/config/rules/__init__.py: `runner(cfg, skip)` raises CrossFieldErrors."""
    if runner not in _RULE_RUNNERS:
        _RULE_RUNNERS.append(runner)
