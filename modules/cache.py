"""ElastiCache for Redis (replaces the compose `redis`): TLS in transit, encrypted at rest, AUTH token.

The AUTH token is generated at apply time into the secret `<name>/redis-auth-token` (ephemeral random
value, write-only: the synthesized JSON never holds it). ElastiCache's `auth_token` has no write-only
form in hashicorp/aws 5.100, so the token is read back from that secret and therefore *is* in Terraform
state (sensitive; the Terraform Cloud state is encrypted), as is the client URL below.
Clients get `rediss://:<token>@<primary endpoint>:<port>` from the secret `<name>/redis-url`, injected as
`cache.url_variable` (REDIS_URL) into every `cache.allow_from` service.
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.data_aws_secretsmanager_secret_version import DataAwsSecretsmanagerSecretVersion
from cdktf_cdktf_provider_aws.elasticache_replication_group import ElasticacheReplicationGroup
from cdktf_cdktf_provider_aws.elasticache_subnet_group import ElasticacheSubnetGroup
from cdktf_cdktf_provider_aws.secretsmanager_secret_version import SecretsmanagerSecretVersion
from constructs import Construct

from modules.config import EnvConfig
from modules.config.defaults import CACHE_ID_SUFFIX, REDIS_AUTH_TOKEN_LENGTH
from modules.config.defaults import CACHE_AUTH_TOKEN_SECRET, CACHE_URL_SECRET
from modules.network import Network, flat_output
from modules.secrets import Secrets
from modules.security_groups import SecurityGroups

# Rotation keeps the previous token valid next to the new one, so running tasks keep working until they
# restart with the new URL (`SET` would cut them off at once).
AUTH_TOKEN_UPDATE_STRATEGY = "ROTATE"


class Cache(Construct):
    """Exposes `secret_env()`, `secret_arns`, `primary_endpoint`, `port`."""

    def __init__(self, scope: Construct, construct_id: str, cfg: EnvConfig, network: Network,
                 security: SecurityGroups, secrets: Secrets):
        super().__init__(scope, construct_id)
        assert cfg.cache is not None, "Cache is built only when the env file has a `cache` section"
        cache = cfg.cache
        self._cfg = cfg
        name = cfg.name + CACHE_ID_SUFFIX

        token_secret = secrets.new_secret(self, "auth_token_secret", f"{cfg.name}/{CACHE_AUTH_TOKEN_SECRET}",
                                          "ElastiCache Redis AUTH token (generated at apply time)")
        token_version = secrets.generate_value(self, "auth_token_value", token_secret, REDIS_AUTH_TOKEN_LENGTH,
                                               generation=1)
        # Reading by version id makes the read wait for the write on the first apply; later plans read the
        # same version, so the token is stable until `generation` changes.
        token = DataAwsSecretsmanagerSecretVersion(self, "auth_token", secret_id=token_secret.id,
                                                   version_id=token_version.version_id)

        subnets = ElasticacheSubnetGroup(self, "subnets", name=name, description=f"{cfg.name} Redis: private subnets",
                                         subnet_ids=network.private_subnet_ids)
        replicated = cache.num_cache_clusters > 1
        self.group = ElasticacheReplicationGroup(
            self, "redis",
            replication_group_id=name,
            description=f"{cfg.name} Redis (compose `redis`)",
            engine=cache.engine,
            engine_version=cache.engine_version,
            node_type=cache.node_type,
            num_cache_clusters=cache.num_cache_clusters,
            port=cache.port,
            subnet_group_name=subnets.name,
            security_group_ids=[security.cache_id],
            at_rest_encryption_enabled="true",  # a string in the 5.100 schema
            kms_key_id=secrets.kms_key_arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=token.secret_string,
            auth_token_update_strategy=AUTH_TOKEN_UPDATE_STRATEGY,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            auto_minor_version_upgrade="true",
        )
        self.primary_endpoint: str = self.group.primary_endpoint_address
        self.port: int = cache.port

        url_secret = secrets.new_secret(self, "url_secret", f"{cfg.name}/{CACHE_URL_SECRET}",
                                        f"{cache.url_variable} for {', '.join(cache.allow_from) or 'clients'} "
                                        "(rediss:// with the AUTH token)")
        SecretsmanagerSecretVersion(
            self, "url_value", secret_id=url_secret.id,
            secret_string=f"rediss://:{token.secret_string}@{self.group.primary_endpoint_address}:{cache.port}",
        )
        self._url_secret_arn = url_secret.arn
        self.secret_arns: list[str] = [url_secret.arn]

        flat_output(self, "redis_endpoint", self.group.primary_endpoint_address,
                    "Redis primary endpoint (TLS, AUTH required)")
        flat_output(self, "redis_port", cache.port, "Redis port")
        flat_output(self, "redis_secret_arns", {"auth_token": token_secret.arn, "url": url_secret.arn},
                    "secrets of the Redis AUTH token and client URL")

    def secret_env(self) -> dict[str, str]:
        """{REDIS_URL: secret ARN} for the services in `cache.allow_from`."""
        return {self._cfg.cache.url_variable: self._url_secret_arn}
