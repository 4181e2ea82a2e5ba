"""Secrets a first apply itself reads: they exist, with their values, before it (docs/data-and-secrets.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.defaults import CACHE_AUTH_TOKEN_SECRET, CACHE_URL_SECRET
from modules.config.kinds import arn_region
from modules.config.rules.common import arn_outside_the_region

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig


def secrets_read_at_apply_exist_before_it(cfg: EnvConfig) -> list[Problem]:
    """A secret whose value the first apply itself needs (the Docker Hub login of the pull-through cache rule,
    the Grafana OIDC client secret of the listener rule) is `existing`: created with its value before the
    deploy. A secret this stack creates has no value on its first apply, and that apply would stop on it."""
    problems = []
    needed = []
    if cfg.registry.pull_through_cache and cfg.registry.docker_hub_secret:
        needed.append((cfg.registry.docker_hub_secret, "the ECR pull-through cache rule for Docker Hub"))
    if cfg.alb.grafana.oidc:
        needed.append((cfg.alb.grafana.oidc.client_secret, "the Grafana SSO listener rule (authenticate-oidc)"))
    for name, reader in needed:
        secret = cfg.secrets.get(name)
        if secret is not None and not secret.existing:
            problems.append((("secrets", name, "existing"),
                             f"{reader} needs this secret's value when it is created: set 'existing: true' and "
                             "create the secret with its value before the first deploy (docs/runbook.md step 0)"))
    return problems


def secret_names_are_not_the_stacks_own(cfg: EnvConfig) -> list[Problem]:
    """No secret of the env file takes the name of a secret the stack creates itself: with a cache, the Redis
    AUTH token and URL (`<project>-<environment>/redis-auth-token`, `.../redis-url`, modules/cache.py). Secrets
    Manager names are unique per account and Region: the second CreateSecret would fail."""
    if not cfg.cache:
        return []
    own = (CACHE_AUTH_TOKEN_SECRET, CACHE_URL_SECRET)
    return [(("secrets", name), f"'{cfg.secret_name(name)}' is the name of the secret the stack creates for the "
             f"cache ({', '.join(own)} are the stack's own with a cache); allowed: another name")
            for name in cfg.secrets if cfg.secret_name(name) in {f"{cfg.name}/{n}" for n in own}]


def database_key_is_in_the_secret_region(cfg: EnvConfig) -> list[Problem]:
    """database.credentials_kms_key_arn is in the Region (and partition) of credentials_secret_arn: Secrets
    Manager encrypts a secret with a KMS key of the secret's own Region (Secrets Manager user guide, "Secret
    encryption and decryption")."""
    db = cfg.database
    if not (db.credentials_kms_key_arn and db.credentials_secret_arn):
        return []
    _, region = arn_region(db.credentials_secret_arn)
    return arn_outside_the_region(region, ("database", "credentials_kms_key_arn"), db.credentials_kms_key_arn,
                                  "the credentials secret is", "a secret's KMS key is in the secret's Region: name "
                                  f"the key of the secret (in {region})")
