"""modules/waf.py: the WAFv2 web ACL in front of stage's ALB: rate limit, managed rules, logs."""

from __future__ import annotations

import re

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


BODY_RULES = ["CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY", "EC2MetaDataSSRF_BODY",
              "SizeRestrictions_BODY"]  # AWS WAF developer guide, "Baseline rule groups": the core rule set's body rules


def test_stage_rules_rate_limit_then_reputation_then_the_managed_groups_then_the_body_label_rule(stage, stage_cfg):
    waf = stage_cfg.alb.waf
    rules = sorted(stage.one("aws_wafv2_web_acl")["rule"], key=lambda r: r["priority"])
    rate = rules[0]
    assert rate["action"] == {"block": {}}
    assert rate["statement"]["rate_based_statement"] == {
        "limit": waf.rate_limit, "evaluation_window_sec": waf.rate_limit_window_seconds, "aggregate_key_type": "IP"}
    managed = [r for r in rules if "managed_rule_group_statement" in r["statement"]]
    # the reputation list first (a known-bad address is dropped before any inspection), then the env file's groups
    assert [r["statement"]["managed_rule_group_statement"]["name"] for r in managed] == [
        "AWSManagedRulesAmazonIpReputationList", *waf.managed_rule_groups]
    for rule in managed:
        statement = rule["statement"]["managed_rule_group_statement"]
        assert statement["vendor_name"] == "AWS" and rule["override_action"] == {"none": {}}  # the group's own actions
        overrides = [o["name"] for o in statement.get("rule_action_override", [])]
        listed = waf.managed_rule_groups.get(statement["name"], [])
        if statement["name"] == "AWSManagedRulesCommonRuleSet":  # every body rule counts, whatever the env file lists
            assert set(overrides) == set(listed) | set(BODY_RULES) and len(overrides) == len(set(overrides))
        else:
            assert overrides == listed
        assert all(o["action_to_use"] == {"count": {}} for o in statement.get("rule_action_override", []))
    label_rule = rules[-1]
    assert label_rule["name"] == "body-rules-outside-prompt-paths" and label_rule["action"] == {"block": {}}
    assert label_rule["priority"] > max(r["priority"] for r in managed)  # labels exist once the group has run
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
    assert {"authorization", "cookie", "x-ops-token"} <= set(redacted) and redacted == stage_cfg.alb.waf.redacted_headers


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


# ---------------------------------------------------------------- a WAF fit for prompts (issue 26)
def body_label_rule(synth) -> dict:
    (rule,) = [r for r in synth.one("aws_wafv2_web_acl")["rule"] if r["name"] == "body-rules-outside-prompt-paths"]
    return rule


def blocks_body_match(rule: dict, path: str, labels: set[str]) -> bool:
    """Evaluate the label rule's statement (and / or / not / label match / regex on the URI path) for a
    request the common rule set labelled with `labels` (AWS WAF: a regex_match_statement searches the
    component, so `^` and `$` anchor it; a label match with scope LABEL compares the whole label)."""
    def holds(statement: dict) -> bool:
        (kind, spec), = statement.items()
        if kind == "and_statement":
            return all(holds(s) for s in spec["statement"])
        if kind == "or_statement":
            return any(holds(s) for s in spec["statement"])
        if kind == "not_statement":
            (inner,) = spec["statement"]
            return not holds(inner)
        if kind == "label_match_statement":
            assert spec["scope"] == "LABEL"
            return spec["key"] in labels
        if kind == "regex_match_statement":
            assert spec["field_to_match"] == {"uri_path": {}}
            return re.search(spec["regex_string"], path) is not None
        raise AssertionError(f"the evaluator does not know {kind}")
    return holds(rule["statement"])


XSS = "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body"
LFI = "awswaf:managed:aws:core-rule-set:GenericLFI_Body"


@pytest.mark.parametrize("path, labels, blocked", [
    ("/api/ask", {XSS}, False),        # a prompt with <script> in it: counted, answered
    ("/api/ask", {LFI}, False),        # a prompt quoting ../../etc/passwd
    ("/healthz", {LFI}, False),        # the default prompt paths are the public paths
    ("/metrics", {XSS}, True),         # anywhere else the body rules still block
    ("/apix", {XSS}, True),
    ("/metrics", set(), False),        # no body match: the label rule has nothing to say
])
def test_stage_body_rules_count_on_prompt_routes_and_block_elsewhere(stage, path, labels, blocked):
    assert blocks_body_match(body_label_rule(stage), path, labels) is blocked


@pytest.fixture(scope="module")
def small_waf(synths):
    from small_envs import small_env
    return synths.of_data(small_env(grafana="sso", waf=True))  # prompt_paths [/v1/chat] under public /v1/chat, /v1/models


@pytest.mark.parametrize("path, blocked", [
    ("/v1/chat", False), ("/v1/chat/completions", False), ("/v1/models", True), ("/v1/chatx", True)])
def test_listed_prompt_paths_narrow_where_body_matches_pass(small_waf, path, blocked):
    assert blocks_body_match(body_label_rule(small_waf), path, {XSS}) is blocked


def test_a_fresh_env_file_with_the_waf_on_gets_the_prompt_defaults(small_waf):
    """The env file says only `enabled` and `prompt_paths`: the reputation list, the counting body rules and the
    redacted ops token come from the generator."""
    rules = small_waf.one("aws_wafv2_web_acl")["rule"]
    groups = {r["statement"]["managed_rule_group_statement"]["name"]: r for r in rules
              if "managed_rule_group_statement" in r["statement"]}
    assert set(groups) == {"AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesCommonRuleSet",
                           "AWSManagedRulesKnownBadInputsRuleSet"}
    common = groups["AWSManagedRulesCommonRuleSet"]["statement"]["managed_rule_group_statement"]
    assert [o["name"] for o in common["rule_action_override"]] == BODY_RULES
    redacted = [f["single_header"]["name"] for f in small_waf.one("aws_wafv2_web_acl_logging_configuration")["redacted_fields"]]
    assert "x-ops-token" in redacted


def test_no_waf_in_a_fresh_env_file_that_leaves_it_off(synths):
    from small_envs import small_env
    assert not synths.of_data(small_env()).resources("aws_wafv2_web_acl")
