"""Secrets a first apply itself reads: they exist, with their values, before it (docs/data-and-secrets.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem

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
