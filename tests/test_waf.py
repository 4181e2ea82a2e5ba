"""modules/waf.py: the WAFv2 web ACL in front of stage's ALB: rate limit, managed rules, logs."""

from __future__ import annotations

import pytest

import yaml

from conftest import run_main, variant


def ref(synth, rtype: str, attr: str) -> str:
    (lid,) = synth.resources(rtype)
    return f"${{{rtype}.{lid}.{attr}}}"


def test_stage_web_acl_is_regional_and_associated_with_the_alb(stage, stage_cfg):
    assert stage_cfg.alb.waf.enabled, "stage.yaml turns the WAF on"
    acl = stage.one("aws_wafv2_web_acl")
    assert acl["scope"] == "REGIONAL" and acl["default_action"] == {"allow": {}}
    association = stage.one("aws_wafv2_web_acl_association")
    assert association["resource_arn"] == ref(stage, "aws_lb", "arn")
    assert association["web_acl_arn"] == ref(stage, "aws_wafv2_web_acl", "arn")


def test_stage_rules_rate_limit_first_then_the_managed_groups(stage, stage_cfg):
    waf = stage_cfg.alb.waf
    rules = sorted(stage.one("aws_wafv2_web_acl")["rule"], key=lambda r: r["priority"])
    rate = rules[0]
    assert rate["action"] == {"block": {}}
    assert rate["statement"]["rate_based_statement"] == {
        "limit": waf.rate_limit, "evaluation_window_sec": waf.rate_limit_window_seconds, "aggregate_key_type": "IP"}
    managed = {r["statement"]["managed_rule_group_statement"]["name"]: r for r in rules[1:]}
    assert set(managed) == set(waf.managed_rule_groups) >= {"AWSManagedRulesCommonRuleSet",
                                                           "AWSManagedRulesKnownBadInputsRuleSet"}
    for name, rule in managed.items():
        statement = rule["statement"]["managed_rule_group_statement"]
        assert statement["vendor_name"] == "AWS" and rule["override_action"] == {"none": {}}  # the group's own actions
        overrides = [o["name"] for o in statement.get("rule_action_override", [])]
        assert overrides == waf.managed_rule_groups[name]
        assert all(o["action_to_use"] == {"count": {}} for o in statement.get("rule_action_override", []))
    assert len({r["priority"] for r in rules}) == len(rules)
    assert all(r["visibility_config"]["cloudwatch_metrics_enabled"] for r in rules)


def test_stage_waf_logs_to_a_retained_aws_waf_logs_group_without_credentials(stage, stage_cfg):
    logging = stage.one("aws_wafv2_web_acl_logging_configuration")
    assert logging["resource_arn"] == ref(stage, "aws_wafv2_web_acl", "arn")
    groups = {f"${{aws_cloudwatch_log_group.{lid}.arn}}": g for lid, g in stage.resources("aws_cloudwatch_log_group").items()}
    (destination,) = logging["log_destination_configs"]
    group = groups[destination]
    assert group["name"].startswith("aws-waf-logs-")  # AWS WAF delivers only to log groups named so
    assert group["retention_in_days"] == stage_cfg.alb.waf.log_retention_days
    redacted = [f["single_header"]["name"] for f in logging["redacted_fields"]]
    assert {"authorization", "cookie"} <= set(redacted) and redacted == stage_cfg.alb.waf.redacted_headers


def test_no_waf_unless_the_env_file_asks(synths):
    without = synths.of_data(variant(lambda d: d["alb"].pop("waf")))
    for rtype in ("aws_wafv2_web_acl", "aws_wafv2_web_acl_association", "aws_wafv2_web_acl_logging_configuration"):
        assert not without.resources(rtype), rtype
    assert not [g for g in without.resources("aws_cloudwatch_log_group").values()
                if g["name"].startswith("aws-waf-logs-")]


def test_waf_settings_come_from_the_env_file(synths):
    def tuned(data):
        data["alb"]["waf"] = {"enabled": True, "rate_limit": 200, "rate_limit_window_seconds": 60,
                              "managed_rule_groups": {"AWSManagedRulesAmazonIpReputationList": []},
                              "log_retention_days": 7}
    stack = synths.of_data(variant(tuned))
    rules = sorted(stack.one("aws_wafv2_web_acl")["rule"], key=lambda r: r["priority"])
    assert rules[0]["statement"]["rate_based_statement"]["limit"] == 200
    assert rules[0]["statement"]["rate_based_statement"]["evaluation_window_sec"] == 60
    assert [r["statement"]["managed_rule_group_statement"]["name"] for r in rules[1:]] == [
        "AWSManagedRulesAmazonIpReputationList"]
    assert any(g["retention_in_days"] == 7 and g["name"].startswith("aws-waf-logs-")
               for g in stack.resources("aws_cloudwatch_log_group").values())


@pytest.mark.parametrize("waf, field, words", [
    ({"enabled": True, "rate_limit": 5}, "alb.waf.rate_limit", ["greater than or equal to 10"]),
    ({"enabled": True, "rate_limit_window_seconds": 100}, "alb.waf.rate_limit_window_seconds", ["300"]),
    ({"enabled": True, "managed_rule_groups": {"CommonRuleSet": []}}, "alb.waf.managed_rule_groups",
     ["AWSManagedRules"]),
])
def test_bad_waf_settings_are_clear_errors(tmp_path, waf, field, words):
    data = variant(lambda d: d["alb"].update(waf=waf))
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = run_main("--env-file", str(path), "synth", "--outdir", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert field in proc.stderr and all(w in proc.stderr for w in words), proc.stderr
