"""Building env-file variants for the config tests: stage.yaml changed at a dotted path, validated with
or without the cross-field rules, and a rule case runner shared by tests/config/test_config_rules*.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from conftest import STAGE_ZONE, variant
from modules.config import EnvConfig, rules
from modules.config.base import dotted
from modules.config.loading import ConfigError, load


def set_path(path: str, value):
    """Mutation setting a dotted path (list indexes as ints) in the env data; a missing mapping on the way is
    created (a service whose `environment` the file leaves out gets one)."""

    def mutate(data):
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        node = data
        for key, following in zip(keys[:-1], keys[1:]):
            node = node[key] if isinstance(key, int) else node.setdefault(key, [] if isinstance(following, int) else {})
        node[keys[-1]] = value

    return mutate


def delete_path(path: str):
    def mutate(data):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def certificate_arn(arn: str):
    """Mutation: the ALB's certificate managed elsewhere (`alb.certificate_arn`) instead of stage's `alb.domain`."""
    return all_of(delete_path("alb.domain"), set_path("alb.certificate_arn", arn))


def all_of(*mutations):
    return lambda data: [m(data) for m in mutations]


def unchanged(data):
    return None


def schema_only(mutate) -> EnvConfig:
    """stage.yaml changed by `mutate`, validated by the section models with every rule skipped."""
    skip = {rule.__name__ for rule in rules.RULES}
    return EnvConfig.model_validate(variant(mutate), context={"skip_rules": skip})


def case_id(case) -> str:
    rule, _, path, _ = case
    return f"{rule.__name__}-{'fails' if path else 'passes'}"


def check_rule_case(rule, mutate, field_path, words) -> None:
    """Run one rule on stage.yaml changed by `mutate`: no problem when field_path is None, else a problem at
    field_path whose message holds every word."""
    found = [(dotted(loc), msg) for loc, msg in rule(schema_only(mutate))]
    if field_path is None:
        assert found == []
        return
    lines = [msg for path, msg in found if path.startswith(field_path)]
    assert lines, f"no problem at {field_path!r}: {found}"
    for word in words:
        assert any(word in msg for msg in lines), f"{word!r} missing from {lines}"


def model_problems(mutate) -> list[tuple[str, str]]:
    """(field path, message) of every problem load() reports for stage.yaml changed by `mutate` (models and
    rules, rendered as a user sees them); [] when the variant is valid."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "variant.yaml"
        path.write_text(yaml.safe_dump(variant(mutate), sort_keys=False), encoding="utf-8")
        try:
            load(path)
        except ConfigError as exc:
            return list(exc.problems)
    return []


# A Grafana host name inside stage's Route 53 zone (alb.domain.zone): the certificate and record go there.
GRAFANA_HOST = f"grafana.{STAGE_ZONE}"


def grafana_sso(client_secret: str) -> dict:
    """A Grafana `sso` exposure whose OIDC client secret is the named secret."""
    idp = "https://idp.example.com"
    return {"exposure": "sso", "host": GRAFANA_HOST, "allowed_cidrs": ["198.51.100.0/24"],
            "oidc": {"issuer": idp, "authorization_endpoint": f"{idp}/a", "token_endpoint": f"{idp}/t",
                     "user_info_endpoint": f"{idp}/u", "client_id": "grafana", "client_secret": client_secret}}
