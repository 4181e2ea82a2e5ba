"""Data and state: the `cache`, `database`, `secrets`, `volumes` and `logs` sections."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from modules.config.base import RETENTION_CHOICES, Cidr, EnvVarName, Name, Port, RetentionDays, Strict
from modules.config.kinds import Arn, SecurityGroupId
from modules.config.defaults import (
    DEFAULT_VOLUME_CONCURRENT_WRITERS,
    CACHE_ENGINE_VERSIONS,
    DEFAULT_CACHE_ENGINE,
    DEFAULT_CACHE_ENGINE_VERSION,
    DEFAULT_CACHE_NODE_TYPE,
    DEFAULT_CACHE_PORT,
    DEFAULT_DB_PORT,
    DEFAULT_GENERATED_SECRET_LENGTH,
    DEFAULT_LOG_RETENTION_DAYS,
    DEFAULT_SECRET_EXISTING,
    ELASTICACHE_NODE_TYPES,
    ELASTICACHE_NODE_TYPES_AS_OF,
    SECRET_RECOVERY_WINDOWS,
)


class Cache(Strict):
    """ElastiCache (Redis OSS or Valkey): replaces the compose `redis` service."""

    engine: Literal["redis", "valkey"] = Field(DEFAULT_CACHE_ENGINE, description="redis (Redis OSS) or valkey")
    engine_version: str = Field(
        DEFAULT_CACHE_ENGINE_VERSION,
        description="engine version: " + "; ".join(f"{e} {', '.join(v)}" for e, v in CACHE_ENGINE_VERSIONS.items()),
    )
    node_type: str = Field(DEFAULT_CACHE_NODE_TYPE, description="ElastiCache node type, e.g. cache.t4g.micro, "
                           f"cache.r7g.large (as of {ELASTICACHE_NODE_TYPES_AS_OF})",
                           json_schema_extra={"enum": list(ELASTICACHE_NODE_TYPES)})
    num_cache_clusters: int = Field(1, ge=1, le=6, description="primary + replicas")
    port: Port = Field(DEFAULT_CACHE_PORT, description="Redis port")
    allow_from: list[Name] = Field(default_factory=list, description="services that may connect")
    url_variable: EnvVarName = Field("REDIS_URL", description="env var handed to the clients")

    @field_validator("node_type")
    @classmethod
    def _known_node_type(cls, value: str) -> str:
        # ElastiCache user guide, "Supported node types" (table in defaults.py, as listed then).
        if value not in ELASTICACHE_NODE_TYPES:
            families = sorted({t.rsplit(".", 1)[0] for t in ELASTICACHE_NODE_TYPES})
            raise ValueError(f"'{value}' is not an ElastiCache node type (as of {ELASTICACHE_NODE_TYPES_AS_OF}); "
                             f"allowed: cache.<family>.<size> with family one of {', '.join(families)}, "
                             "e.g. cache.t4g.micro, cache.r7g.large")
        return value

    @model_validator(mode="after")
    def _engine_version(self) -> Cache:
        # ElastiCache "Supported engines and versions": each engine has its own versions.
        allowed = CACHE_ENGINE_VERSIONS[self.engine]
        if self.engine_version not in allowed:
            raise ValueError(f"engine_version '{self.engine_version}' is not a {self.engine} version ElastiCache "
                             f"offers; allowed: {', '.join(allowed)} (quote it in YAML: \"7.1\")")
        return self


class DatabaseEnv(Strict):
    """Env var names the connection values reach the allow_from services under (libpq's by default)."""

    host: EnvVarName = Field("PGHOST", description="host name (SSM parameter)")
    port: EnvVarName = Field("PGPORT", description="port (SSM parameter)")
    database: EnvVarName = Field("PGDATABASE", description="database name (SSM parameter; only with 'name')")
    username: EnvVarName = Field("PGUSER", description="user name (key of the credentials secret)")
    password: EnvVarName = Field("PGPASSWORD", description="password (key of the credentials secret)")


class DatabaseNetwork(Strict):
    """The way from the stack's VPC to a database in another VPC of the same account and Region, built in
    the same apply as the rest of the stack (modules/database_network.py; docs/data-and-secrets.md)."""

    via: Literal["peering", "transit_gateway"] = Field(
        description="peering: a VPC peering connection the stack creates and accepts; transit_gateway: an "
        "attachment of the stack's VPC to the transit gateway the database's VPC is already attached to")
    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]+$", description="the database's VPC (this account and Region)")
    cidrs: list[Cidr] = Field(
        default_factory=list, description="the database VPC's CIDR blocks the tasks route to (private route "
        "tables); default: every CIDR block of vpc_id, looked up at plan time")
    route_table_ids: list[Annotated[str, Field(pattern=r"^rtb-[0-9a-f]+$")]] = Field(
        default_factory=list, description="the database VPC's route tables that get the route back to "
        "network.vpc_cidr; default: every route table of vpc_id, looked up at plan time")
    transit_gateway_id: str | None = Field(None, pattern=r"^tgw-[0-9a-f]+$",
                                           description="via transit_gateway: the transit gateway")
    dns_resolution: bool = Field(
        True, description="via peering: the database's VPC answers its public DNS names (a publicly "
        "accessible RDS endpoint) with private addresses to the stack's tasks")

    @model_validator(mode="after")
    def _via(self) -> DatabaseNetwork:
        if self.via == "transit_gateway":
            if not self.transit_gateway_id:
                raise ValueError("via 'transit_gateway' needs 'transit_gateway_id' (tgw-...)")
            if "dns_resolution" in self.model_fields_set:
                raise ValueError("'dns_resolution' is a VPC peering option; a transit gateway has none "
                                 "(remove it, or use via 'peering')")
        elif self.transit_gateway_id:
            raise ValueError("'transit_gateway_id' is for via 'transit_gateway'; via 'peering' takes none")
        for name in ("cidrs", "route_table_ids"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"'{name}' lists a value twice: {values}")
        return self


class Database(Strict):
    """Reference to an existing Postgres (seed §3.2): nothing is created."""

    mode: Literal["none", "instance", "cluster", "endpoint"] = Field(
        "none", description="none | look up an RDS instance/cluster by identifier | explicit endpoint"
    )
    identifier: str | None = Field(None, description="RDS instance or cluster identifier (instance/cluster)")
    endpoint: str | None = Field(None, description="host name (endpoint mode)")
    port: Port = Field(DEFAULT_DB_PORT, description="Postgres port opened from allow_from services")
    security_group_id: SecurityGroupId | None = Field(None, description="DB security group (sg-<8 or 17 hex digits>)")
    credentials_secret_arn: Arn("secretsmanager") | None = Field(
        None, description="existing secret with the DB credentials (its ARN: arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)"
    )
    credentials_kms_key_arn: Arn("kms") | None = Field(
        None, description="customer-managed key of that secret, if any, in the secret's Region (its ARN: arn:<partition>:kms:<region>:<account>:key/<key id>)"
    )
    username_key: str = Field("username", min_length=1, description="JSON key of the user name in the secret")
    password_key: str = Field("password", min_length=1, description="JSON key of the password in the secret")
    name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$", description="database name (PGDATABASE)")
    env: DatabaseEnv = Field(default_factory=DatabaseEnv, description="env var names handed to allow_from")
    allow_from: list[Name] = Field(default_factory=list, description="services that may connect")
    network: DatabaseNetwork | None = Field(
        None, description="the database is in another VPC: how the stack's VPC reaches it (VPC peering or a "
        "transit gateway attachment, routes both ways), created in the same apply; omit when it is in the "
        "stack's VPC or already connected to it")

    @model_validator(mode="after")
    def _reference(self) -> Database:
        if self.mode == "none":
            extra = [f for f in ("identifier", "endpoint", "security_group_id", "credentials_secret_arn", "network")
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
    existing: bool = Field(
        DEFAULT_SECRET_EXISTING, description="created, with its value, outside this stack before the first deploy "
        "(docs/runbook.md step 0): the stack reads it by its name and never creates, changes or deletes it")

    @model_validator(mode="after")
    def _generate_or_keys(self) -> Secret:
        if self.generate and self.keys:
            raise ValueError("a secret is either 'generate'd or a JSON secret with 'keys', not both")
        if self.existing and self.generate:
            raise ValueError("an 'existing' secret is created out of band with its value: it cannot be 'generate'd")
        if self.existing and self.recovery_window_days is not None:
            raise ValueError("'recovery_window_days' applies to secrets this stack creates, not 'existing' ones")
        if "generation" in self.model_fields_set and not self.generate:
            raise ValueError("'generation' applies to generated secrets only ('generate: true')")
        return self


class Volume(Strict):
    """A named persistent volume: an EFS access point owned by the user the image runs as."""

    uid: int = Field(ge=0, description="POSIX owner uid of the access point root")
    gid: int = Field(ge=0, description="POSIX owner gid of the access point root")
    permissions: str = Field("0750", pattern=r"^0?[0-7]{3}$", description="mode of the access point root")
    concurrent_writers: bool = Field(
        DEFAULT_VOLUME_CONCURRENT_WRITERS,
        description="several tasks write it at once by design (the application coordinates, e.g. a shared "
        "index): services writing it keep rolling deployments; false: a writing service replaces its task "
        "(stop, then start) so two tasks never share its data directory",
    )


class Logs(Strict):
    retention_days: RetentionDays = Field(DEFAULT_LOG_RETENTION_DAYS,
                                          description=f"days container logs are kept: {RETENTION_CHOICES}")
