"""Grafana, wherever an env file runs it: which services are Grafana, and what the generator adds to them.

A service is Grafana when the env file names it so (alb.grafana.service, default `grafana`) or its image is
(a public grafana/grafana[-oss|-enterprise] image, or a docker/ build whose Dockerfile starts FROM one).
Each gets, derived here so every env file does (docs/edge.md "Grafana: who gets in"):
  - its built-in admin's password generated into Secrets Manager (secret `<service>-admin-password`,
    injected as GF_SECURITY_ADMIN_PASSWORD; never in the JSON), unless the env file injects its own;
  - anonymous access off (GF_AUTH_ANONYMOUS_ENABLED=false) unless the env file turns it on (not with sso);
  - behind exposure sso: its own OIDC login against the ALB's IdP (auth.generic_oauth, same client), so
    Grafana knows each user; the login form off; GF_SERVER_ROOT_URL for the redirect URI.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from modules.config.defaults import (
    GRAFANA_ADMIN_PASSWORD_VAR,
    GRAFANA_ADMIN_SECRET_SUFFIX,
    GRAFANA_IMAGE_REPOSITORIES,
    GRAFANA_OAUTH_CLIENT_SECRET_VAR,
)
from modules.config.registry import split_reference
from modules.config.services import Kind

if TYPE_CHECKING:
    from modules.config.env import EnvConfig
    from modules.config.services import Image

REPO_ROOT = Path(__file__).resolve().parents[2]  # image.dockerfile paths are relative to the checkout
ANONYMOUS_VAR = "GF_AUTH_ANONYMOUS_ENABLED"
LOGIN_FORM_VAR = "GF_AUTH_DISABLE_LOGIN_FORM"
OAUTH_PREFIX = "GF_AUTH_GENERIC_OAUTH_"
ROOT_URL_VAR = "GF_SERVER_ROOT_URL"


def _repository(reference: str) -> str:
    """`docker.io/grafana/grafana:11.2.0@sha256:..` -> `grafana/grafana` (registry host and library/ dropped)."""
    name = split_reference(reference)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts).removeprefix("library/")


@functools.cache
def _dockerfile_bases(path: str) -> tuple[str, ...]:
    """The images a Dockerfile's FROM lines name (`--platform` flags and `AS name` dropped); () if unreadable."""
    try:
        text = (REPO_ROOT / path).read_text(encoding="utf-8")
    except OSError:
        return ()
    bases = []
    for line in text.splitlines():
        words = [w for w in line.split() if not w.startswith("--")]
        if len(words) >= 2 and words[0].upper() == "FROM":
            bases.append(words[1])
    return tuple(bases)


def is_grafana_image(image: Image) -> bool:
    if image.public:
        return _repository(image.public) in GRAFANA_IMAGE_REPOSITORIES
    if image.dockerfile:
        bases = _dockerfile_bases(image.dockerfile)
        return bool(bases) and _repository(bases[-1]) in GRAFANA_IMAGE_REPOSITORIES  # the final stage
    return False


def grafana_services(cfg: EnvConfig) -> list[str]:
    """Long-running services that are Grafana, in file order: alb.grafana.service (the env file's Grafana,
    default `grafana`; it needs no Dockerfile at hand) and any other with a Grafana image."""
    named = cfg.alb.grafana.service
    return [name for name, svc in cfg.services.items()
            if svc.kind == Kind.service and svc.host is None and (name == named or is_grafana_image(svc.image))]


def behind_sso(cfg: EnvConfig, service: str) -> bool:
    return cfg.alb.grafana.exposure == "sso" and service == cfg.alb.grafana.service


def admin_secret(service: str) -> str:
    """The `secrets` name of a Grafana service's generated admin password."""
    return f"{service}-{GRAFANA_ADMIN_SECRET_SUFFIX}"


def derived_admin_secrets(cfg: EnvConfig) -> dict[str, str]:
    """{secret name: Grafana service} the stack generates (not when the env file injects its own password)."""
    return {admin_secret(name): name for name in grafana_services(cfg)
            if GRAFANA_ADMIN_PASSWORD_VAR not in {**cfg.services[name].secrets, **cfg.services[name].parameters}}


def grafana_secret_env(cfg: EnvConfig, service: str) -> dict[str, str]:
    """{env var: `secrets` name} the generator injects into a Grafana container."""
    if service not in grafana_services(cfg):
        return {}
    out = {}
    if admin_secret(service) in derived_admin_secrets(cfg):
        out[GRAFANA_ADMIN_PASSWORD_VAR] = admin_secret(service)
    if behind_sso(cfg, service) and cfg.alb.grafana.oidc:
        out[GRAFANA_OAUTH_CLIENT_SECRET_VAR] = cfg.alb.grafana.oidc.client_secret  # the ALB's client, one IdP app
    return out


def grafana_environment(cfg: EnvConfig, service: str) -> dict[str, str]:
    """Plain variables the generator adds to a Grafana container (the env file's own win where allowed)."""
    if service not in grafana_services(cfg):
        return {}
    env = {ANONYMOUS_VAR: "false"}  # explicit: the image's default could change, the env file may turn it on
    oidc = cfg.alb.grafana.oidc
    if behind_sso(cfg, service) and oidc:
        env |= {
            LOGIN_FORM_VAR: "true",  # nobody signs in with a local password past the SSO
            ROOT_URL_VAR: f"https://{cfg.alb.grafana_host()}/",  # redirect URI: <root>/login/generic_oauth
            f"{OAUTH_PREFIX}ENABLED": "true",
            f"{OAUTH_PREFIX}NAME": "SSO",
            f"{OAUTH_PREFIX}AUTO_LOGIN": "true",  # the IdP session the ALB just made signs in without a click
            f"{OAUTH_PREFIX}CLIENT_ID": oidc.client_id,
            f"{OAUTH_PREFIX}SCOPES": oidc.scopes,
            f"{OAUTH_PREFIX}AUTH_URL": oidc.authorization_endpoint,
            f"{OAUTH_PREFIX}TOKEN_URL": oidc.token_endpoint,
            f"{OAUTH_PREFIX}API_URL": oidc.user_info_endpoint,
            f"{OAUTH_PREFIX}USE_PKCE": "true",
            f"{OAUTH_PREFIX}ALLOW_SIGN_UP": "true",  # the ALB already limits who gets here (IdP + source CIDRs)
        }
        if oidc.role_attribute_path:
            env[f"{OAUTH_PREFIX}ROLE_ATTRIBUTE_PATH"] = oidc.role_attribute_path
    own = cfg.services[service].environment
    return {k: v for k, v in env.items() if k not in own}


def sso_locked_variables(cfg: EnvConfig, service: str) -> set[str]:
    """Variables an env file may not set on the Grafana behind sso: they would undo who gets in."""
    if not behind_sso(cfg, service):
        return set()
    svc = cfg.services[service]
    env = svc.environment
    locked = {k for k in [*env, *svc.secrets] if k.startswith(OAUTH_PREFIX) or k in (LOGIN_FORM_VAR, ROOT_URL_VAR)}
    if env.get(ANONYMOUS_VAR, "false").lower() != "false":
        locked.add(ANONYMOUS_VAR)
    return locked
