"""Grafana wherever an env file runs it (modules/config/grafana.py, issue 26): no shared admin password, no
anonymous access by default, and behind exposure sso its own OIDC login so it knows each user.
Fresh small env files (tests/small_envs.py) name Grafana `boards` and run the public grafana-oss image, so
nothing here leans on stage's service names."""

from __future__ import annotations

import json

import pytest

from small_envs import IDP, small_env

TERRAFORM_VALIDATE = {"test_small_envs_are_valid_terraform": [
    lambda synths: synths.of_data(small_env()), lambda synths: synths.of_data(small_env(grafana="sso", waf=True))]}


@pytest.fixture(scope="module")
def internal(synths):
    return synths.of_data(small_env())


@pytest.fixture(scope="module")
def sso(synths):
    return synths.of_data(small_env(grafana="sso", waf=True))


def container(synth, name: str) -> dict:
    for task in synth.resources("aws_ecs_task_definition").values():
        for definition in json.loads(task["container_definitions"]):
            if definition["name"] == name:
                return definition
    raise AssertionError(f"no container {name}")


def env_of(definition: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in definition.get("environment", [])}


def secret_of(synth, definition: dict, variable: str) -> dict:
    """The aws_secretsmanager_secret (or its lookup) a container's `secrets` entry reads."""
    (value_from,) = [s["valueFrom"] for s in definition["secrets"] if s["name"] == variable]
    kind, lid = value_from.removeprefix("${").split(".")[-3:-1] if value_from.startswith("${data.") else \
        value_from.removeprefix("${").split(".")[:2]
    return (synth.data if value_from.startswith("${data.") else synth.resources)(kind)[lid]


@pytest.mark.parametrize("fixture", ["internal", "sso"])
def test_every_grafana_gets_a_generated_admin_password_as_a_secret(fixture, request):
    synth = request.getfixturevalue(fixture)
    boards = container(synth, "boards")
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env_of(boards)  # never a plain value in the JSON
    secret = secret_of(synth, boards, "GF_SECURITY_ADMIN_PASSWORD")
    assert secret["name"] == "edge-small/boards-admin-password"
    (lid,) = [k for k, v in synth.resources("aws_secretsmanager_secret").items() if v["name"] == secret["name"]]
    (version,) = [v for v in synth.resources("aws_secretsmanager_secret_version").values() if lid in v["secret_id"]]
    assert version["secret_string_wo"].startswith("${ephemeral.aws_secretsmanager_random_password.")  # not in state
    assert "secret_string" not in version
    assert container(synth, "chat").get("secrets") is None  # only Grafana gets it


def test_the_execution_role_reads_the_admin_password(internal):
    (lid,) = [k for k, v in internal.resources("aws_secretsmanager_secret").items()
              if v["name"].endswith("/boards-admin-password")]
    readable = [doc for doc in internal.data("aws_iam_policy_document").values()
                for st in doc.get("statement", []) if "secretsmanager:GetSecretValue" in st.get("actions", [])
                and f"${{aws_secretsmanager_secret.{lid}.arn}}" in st.get("resources", [])]
    assert readable


def test_internal_grafana_is_not_anonymous_and_keeps_its_login_form(internal):
    env = env_of(container(internal, "boards"))
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_AUTH_DISABLE_LOGIN_FORM" not in env and not [k for k in env if k.startswith("GF_AUTH_GENERIC_OAUTH")]


def test_sso_grafana_signs_users_in_against_the_albs_idp(sso):
    env = env_of(container(sso, "boards"))
    assert env["GF_AUTH_DISABLE_LOGIN_FORM"] == "true" and env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_AUTH_GENERIC_OAUTH_ENABLED"] == "true" and env["GF_AUTH_GENERIC_OAUTH_AUTO_LOGIN"] == "true"
    assert (env["GF_AUTH_GENERIC_OAUTH_AUTH_URL"], env["GF_AUTH_GENERIC_OAUTH_TOKEN_URL"],
            env["GF_AUTH_GENERIC_OAUTH_API_URL"]) == (f"{IDP}/authorize", f"{IDP}/token", f"{IDP}/userinfo")
    # one IdP application for both logins: the ALB's client id, and its secret injected from the same secret
    (rule,) = [r for r in sso.resources("aws_lb_listener_rule").values() if r["priority"] == 10]
    oidc = next(a for a in rule["action"] if a["type"] == "authenticate-oidc")["authenticate_oidc"]
    assert env["GF_AUTH_GENERIC_OAUTH_CLIENT_ID"] == oidc["client_id"] == "boards-client"
    assert secret_of(sso, container(sso, "boards"), "GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET")["name"] == "edge-small/boards-oidc"
    assert env["GF_SERVER_ROOT_URL"] == "https://boards.example.org/"  # redirect URI <root>login/generic_oauth
    assert env["GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH"] == "contains(groups[*], 'ops') && 'Admin' || 'Viewer'"


def test_sso_grafana_may_reach_the_idp_and_nothing_else_new(sso, internal):
    def anywhere(synth):
        return {(v["from_port"], v["description"]) for v in synth.resources("aws_vpc_security_group_egress_rule").values()
                if v.get("cidr_ipv4") == "0.0.0.0/0"}
    added = anywhere(sso) - anywhere(internal)
    assert added == {(443, "ALB to the OIDC provider (token, userinfo)"),
                     (443, "boards: Grafana's OIDC login (token, userinfo)")}
    assert all(v.get("ip_protocol") == "tcp" for v in sso.resources("aws_vpc_security_group_egress_rule").values())


def test_stage_grafana_gets_its_password_and_no_anonymous_access(stage):
    grafana = container(stage, "grafana")
    assert env_of(grafana)["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert secret_of(stage, grafana, "GF_SECURITY_ADMIN_PASSWORD")["name"] == "araquem-stage/grafana-admin-password"


def test_grafana_is_found_by_its_image_whatever_its_name(stage_cfg):
    from modules.config import EnvConfig
    from modules.config.grafana import grafana_services, is_grafana_image
    from modules.config.services import Image
    assert grafana_services(stage_cfg) == ["grafana"]  # stage builds docker/grafana, FROM grafana/grafana
    assert grafana_services(EnvConfig.model_validate(small_env())) == ["boards"]
    for image in ("grafana/grafana:11.2.0", "docker.io/grafana/grafana-enterprise:11.2.0", "grafana/grafana-oss:11.2.0"):
        assert is_grafana_image(Image(public=image))
    for image in ("prom/prometheus:v2.55.1", "example/grafana:1.0", "grafana/tempo:2.6.1"):
        assert not is_grafana_image(Image(public=image))
    assert not is_grafana_image(Image(build="tempo", dockerfile="docker/tempo/Dockerfile"))


@pytest.mark.parametrize("fixture", ["internal", "sso"])
def test_small_envs_are_valid_terraform(fixture, request, terraform_validation):
    result = terraform_validation.of(request.getfixturevalue(fixture))
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)
