"""The ALB: its targets are long-running services' ports, its certificate is in its Region; OIDC's secret."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.defaults import GRAFANA_ADMIN_PASSWORD_VAR
from modules.config.grafana import derived_admin_secrets, grafana_services, sso_locked_variables
from modules.config.rules.common import arn_outside_the_region, undefined
from modules.config.services import Kind

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig


def _long_running_port(cfg: EnvConfig, section: tuple, service: str, port: int) -> list[Problem]:
    """`service` is a defined long-running service and `port` one of its ports."""
    problems = undefined(section + ("service",), service, cfg.services, "service")
    svc = cfg.services.get(service)
    if svc is None:
        return problems
    ports = [pm.port for pm in svc.ports]
    if svc.kind != Kind.service or svc.host:
        problems.append((section + ("service",), f"'{service}' is not a long-running service"))
    elif port not in ports:
        problems.append((section + ("port",), f"port {port} is not a port of '{service}' ({ports})"))
    return problems

def alb_target_is_a_service_port(cfg: EnvConfig) -> list[Problem]:
    """alb.target names a long-running service and one of its container ports."""
    return _long_running_port(cfg, ("alb", "target"), cfg.alb.target.service, cfg.alb.target.port)

def grafana_target_is_a_service_port(cfg: EnvConfig) -> list[Problem]:
    """When Grafana is exposed (vpn/sso, or internal with allowed_cidrs), alb.grafana names a long-running
    service and one of its ports."""
    grafana = cfg.alb.grafana
    if grafana.exposure == "internal" and not grafana.allowed_cidrs:
        return []
    return _long_running_port(cfg, ("alb", "grafana"), grafana.service, grafana.port)

def oidc_client_secret_is_plain(cfg: EnvConfig) -> list[Problem]:
    """alb.grafana.oidc.client_secret names a plain secret set out of band (no generate, no keys)."""
    oidc = cfg.alb.grafana.oidc
    if not oidc:
        return []
    loc = ("alb", "grafana", "oidc", "client_secret")
    problems = undefined(loc, oidc.client_secret, cfg.secrets, "secret")
    client_secret = cfg.secrets.get(oidc.client_secret)
    if client_secret is not None and (client_secret.generate or client_secret.keys):
        problems.append((loc, f"secret '{oidc.client_secret}' must be a plain secret set out of "
                              "band (the IdP issues it): no 'generate', no 'keys'"))
    return problems


def certificate_is_in_the_alb_region(cfg: EnvConfig) -> list[Problem]:
    """alb.certificate_arn is an ACM certificate of the ALB's own Region and partition: an ALB listener only
    takes certificates from ACM in its Region (ELB user guide, "SSL certificates")."""
    arn = cfg.alb.certificate_arn
    if not arn:
        return []
    return arn_outside_the_region(cfg.region, ("alb", "certificate_arn"), arn, "the ALB is",
                                  f"an ALB takes ACM certificates of its own Region only: request or import one in "
                                  f"{cfg.region}")


def grafana_admin_password_is_a_secret(cfg: EnvConfig) -> list[Problem]:
    """A Grafana service's admin password never sits in plain `environment` (it would be in the JSON), and the
    secret the stack generates for it (`<service>-admin-password`) is not also defined in `secrets`."""
    problems = []
    for name in grafana_services(cfg):
        env = cfg.services[name].environment
        for var in (GRAFANA_ADMIN_PASSWORD_VAR, f"{GRAFANA_ADMIN_PASSWORD_VAR}__FILE"):
            if var in env:
                problems.append((("services", name, "environment", var),
                                 "a password in plain environment lands in the task definition; omit it (the stack "
                                 "generates one into Secrets Manager) or inject your own secret under `secrets`"))
    for secret, service in derived_admin_secrets(cfg).items():
        if secret in cfg.secrets:
            problems.append((("secrets", secret), f"the stack generates this secret for Grafana '{service}' (its "
                             "admin password); rename yours, or inject it as GF_SECURITY_ADMIN_PASSWORD in "
                             f"services.{service}.secrets to use it instead"))
    return problems


def grafana_behind_sso_keeps_its_login(cfg: EnvConfig) -> list[Problem]:
    """The Grafana behind exposure sso keeps the login the generator gives it: no anonymous access, no login
    form, its own OIDC login (GF_AUTH_GENERIC_OAUTH_*) and root URL derived from alb.grafana."""
    service = cfg.alb.grafana.service
    if service not in cfg.services:
        return []
    return [(("services", service, "environment", var),
             "set by the generator with exposure sso (each user signs in through the IdP, docs/edge.md); "
             "remove it, or change alb.grafana.oidc")
            for var in sorted(sso_locked_variables(cfg, service))]
