"""modules/config/rules/edge.py (the certificate's Region; the ALB's targets are in test_config_rules.py)."""

from __future__ import annotations

import pytest

from config_mutations import all_of, certificate_arn, case_id, check_rule_case, set_path, unchanged
from modules.config.rules import edge as R

CERT = "arn:{partition}:acm:{region}:000000000000:certificate/00000000-0000-0000-0000-000000000000"

CASES = [
    (R.certificate_is_in_the_alb_region, certificate_arn(CERT.format(partition="aws",
                                                                                      region="eu-west-1")),
     "alb.certificate_arn", ["is in eu-west-1 (aws), but the ALB is in us-east-1 (aws)", "arn:aws:acm:us-east-1:"]),
    (R.certificate_is_in_the_alb_region, all_of(set_path("region", "cn-north-1"), certificate_arn(CERT.format(partition="aws-cn", region="cn-northwest-1"))),
     "alb.certificate_arn", ["in cn-northwest-1 (aws-cn), but the ALB is in cn-north-1 (aws-cn)", "arn:aws-cn:acm:cn-north-1:"]),
    (R.certificate_is_in_the_alb_region, all_of(set_path("region", "cn-north-1"), certificate_arn(CERT.format(partition="aws-cn", region="cn-north-1"))), None, []),
    (R.certificate_is_in_the_alb_region, unchanged, None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)


# ---------------------------------------------------------------- Grafana: admin password, SSO login (issue 26)
from config_mutations import grafana_sso, model_problems  # noqa: E402


def _sso_with(env: dict):
    def mutate(data):
        data["secrets"]["grafana-oidc"] = {"existing": True}
        data["alb"]["grafana"] = grafana_sso("grafana-oidc")
        data["services"]["grafana"]["environment"].update(env)
    return mutate


def _own_admin_secret(data):
    data["secrets"]["grafana-admin"] = {"generate": True}
    data["services"]["grafana"]["secrets"] = {"GF_SECURITY_ADMIN_PASSWORD": "grafana-admin"}


GRAFANA_CASES = [
    (R.grafana_admin_password_is_a_secret, set_path("services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD", "admin"),
     "services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD", ["lands in the task definition", "Secrets Manager"]),
    (R.grafana_admin_password_is_a_secret, set_path("services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD__FILE", "/x"),
     "services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD__FILE", ["plain environment"]),
    (R.grafana_admin_password_is_a_secret, set_path("secrets.grafana-admin-password", {"generate": True}),
     "secrets.grafana-admin-password", ["the stack generates this secret for Grafana 'grafana'"]),
    (R.grafana_admin_password_is_a_secret, _own_admin_secret, None, []),  # the env file's own secret instead
    (R.grafana_admin_password_is_a_secret, unchanged, None, []),
    (R.grafana_behind_sso_keeps_its_login, _sso_with({"GF_AUTH_ANONYMOUS_ENABLED": "true"}),
     "services.grafana.environment.GF_AUTH_ANONYMOUS_ENABLED", ["set by the generator with exposure sso"]),
    (R.grafana_behind_sso_keeps_its_login, _sso_with({"GF_AUTH_DISABLE_LOGIN_FORM": "false"}),
     "services.grafana.environment.GF_AUTH_DISABLE_LOGIN_FORM", ["sso"]),
    (R.grafana_behind_sso_keeps_its_login, _sso_with({"GF_AUTH_GENERIC_OAUTH_CLIENT_ID": "other"}),
     "services.grafana.environment.GF_AUTH_GENERIC_OAUTH_CLIENT_ID", ["alb.grafana.oidc"]),
    (R.grafana_behind_sso_keeps_its_login, _sso_with({"GF_AUTH_ANONYMOUS_ENABLED": "false"}), None, []),
    # internal: the env file may turn anonymous access on (it is off by default)
    (R.grafana_behind_sso_keeps_its_login, set_path("services.grafana.environment.GF_AUTH_ANONYMOUS_ENABLED", "true"),
     None, []),
]


CASES = CASES + GRAFANA_CASES  # a new list: test_rule above keeps its own; test_config_rules.py reads this one


@pytest.mark.parametrize("rule,mutate,field_path,words", GRAFANA_CASES, ids=[case_id(c) for c in GRAFANA_CASES])
def test_grafana_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)


# ---------------------------------------------------------------- alb.public_paths, waf.prompt_paths
@pytest.mark.parametrize("paths, words", [
    (["/api", "/metrics"], ["'/metrics' would make /metrics public"]),
    (["/ops/quality"], ["'/ops/quality' would make /ops public"]),
    (["/api", "/"], ["'/' is not a path prefix"]),  # `/` alone would be every path
    (["/api/*"], ["'/api/*' is not a path prefix", "no wildcard"]),  # each prefix becomes `/p` and `/p/*` itself
    (["/api/"], ["no trailing '/'", "e.g. /api"]),
])
def test_public_paths_never_cover_the_stacks_own_paths(paths, words):
    found = model_problems(set_path("alb.public_paths", paths))
    assert found and all(any(w in msg for _, msg in found) for w in words), found


def test_public_paths_stay_within_the_alb_rule_quota():
    assert not model_problems(set_path("alb.public_paths", [f"/p{i}" for i in range(247)]))  # 99 rules x 5 values
    (problem,) = model_problems(set_path("alb.public_paths", [f"/p{i}" for i in range(248)]))
    assert "need 100 listener rules" in problem[1] and "at most 247 prefixes" in problem[1]


def test_prompt_paths_lie_under_public_paths():
    (problem,) = model_problems(set_path("alb.waf.prompt_paths", ["/chat"]))
    assert "waf.prompt_paths: /chat is not under a public path (/api, /healthz)" in problem[1]
    assert not model_problems(set_path("alb.waf.prompt_paths", ["/api/ask"]))
