"""Waf: an AWS WAFv2 web ACL in front of the public ALB (`alb.waf`).

Rules, in evaluation order:
  0        rate limit: more than `rate_limit` requests from one IP in `rate_limit_window_seconds` is blocked
           for as long as the rate stays above it (the api calls a paid LLM: one loop must not run up a bill)
  1        the AWS IP reputation list (`ip_reputation`, on by default): addresses AWS threat intelligence
           knows for bots, scanning and DDoS
  2..n     AWS managed rule groups (`managed_rule_groups`; default: the common rule set and known bad
           inputs). Rules listed under a group are switched to count-only. The common rule set's body
           rules (CrossSiteScripting_BODY, GenericLFI_BODY, GenericRFI_BODY, EC2MetaDataSSRF_BODY,
           SizeRestrictions_BODY) always count: a prompt holding code, a file path, a URL or 8 KB of RAG
           context is what an LLM api receives. Counting still labels the request, and
  n+1      blocks a request with one of those labels outside `prompt_paths` (default alb.public_paths),
           so a body attack on any other path is still stopped (docs/edge.md "A WAF fit for prompts").
Everything else is allowed. Requests are logged to the CloudWatch log group `aws-waf-logs-<name>` (AWS WAF
requires that prefix for a CloudWatch destination) with `log_retention_days`; the headers in
`redacted_headers` (credentials) are redacted from the logs.
Capacity: a web ACL has 1,500 WCUs before extra charges; the rate rule costs 2, the common rule set 700,
known bad inputs 200, the IP reputation list 25, the label rule about 10 (AWS WAF developer guide, "Web ACL
capacity units" and the managed rule group list).
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.wafv2_web_acl import (
    Wafv2WebAcl,
    Wafv2WebAclDefaultAction,
    Wafv2WebAclDefaultActionAllow,
    Wafv2WebAclRule,
    Wafv2WebAclRuleAction,
    Wafv2WebAclRuleActionBlock,
    Wafv2WebAclRuleOverrideAction,
    Wafv2WebAclRuleOverrideActionNone,
    Wafv2WebAclRuleVisibilityConfig,
    Wafv2WebAclVisibilityConfig,
)
from cdktf_cdktf_provider_aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from cdktf_cdktf_provider_aws.wafv2_web_acl_logging_configuration import (
    Wafv2WebAclLoggingConfiguration,
    Wafv2WebAclLoggingConfigurationRedactedFields,
    Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader,
)
from constructs import Construct

from modules.config import EnvConfig
from modules.config.defaults import WAF_COMMON_BODY_RULES, WAF_COMMON_RULE_SET, WAF_CORE_RULE_SET_LABEL
from modules.naming import fit_name
from modules.network import flat_output

WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"  # AWS WAF logs only to CloudWatch log groups named so
WEB_ACL_NAME_LIMIT = 128
MANAGED_RULES_VENDOR = "AWS"
RATE_RULE_NAME = "rate-limit-per-ip"
BODY_OUTSIDE_PROMPTS_RULE_NAME = "body-rules-outside-prompt-paths"


def path_regex(prefixes: list[str]) -> str:
    """A regex matching the URI paths at or below any prefix (prefixes hold only [A-Za-z0-9._~-/])."""
    return "^(" + "|".join(p.replace(".", "\\.") for p in prefixes) + ")(/|$)"


def body_rules_outside_prompts_statement(prompt_prefixes: list[str]) -> dict:
    """A request the common set's body rules labelled, on a path that is not a prompt route."""
    labels = [{"label_match_statement": {"scope": "LABEL", "key": WAF_CORE_RULE_SET_LABEL + label}}
              for label in WAF_COMMON_BODY_RULES.values()]
    prompt_route = {"regex_match_statement": {
        "field_to_match": {"uri_path": {}}, "regex_string": path_regex(prompt_prefixes),
        "text_transformation": [{"priority": 0, "type": "NONE"}]}}
    return {"and_statement": {"statement": [{"or_statement": {"statement": labels}},
                                            {"not_statement": {"statement": [prompt_route]}}]}}


def _visibility(metric: str) -> dict:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric, "sampled_requests_enabled": True}


class Waf(Construct):
    """Exposes web_acl_arn and log_group_name."""

    def __init__(self, scope: Construct, id_: str, cfg: EnvConfig, alb_arn: str):
        super().__init__(scope, id_)
        waf = cfg.alb.waf
        name = fit_name(f"{cfg.name}-alb", WEB_ACL_NAME_LIMIT)

        rules = [Wafv2WebAclRule(
            name=RATE_RULE_NAME, priority=0,
            action=Wafv2WebAclRuleAction(block=Wafv2WebAclRuleActionBlock()),
            statement={"rate_based_statement": {
                "limit": waf.rate_limit, "evaluation_window_sec": waf.rate_limit_window_seconds,
                "aggregate_key_type": "IP"}},  # the client address the ALB sees (no proxy in front)
            visibility_config=Wafv2WebAclRuleVisibilityConfig(**_visibility(RATE_RULE_NAME)),
        )]
        # the IP reputation list first after the rate limit: a known-bad address is dropped before inspection
        groups = cfg.alb.waf_rule_groups()
        for priority, (group, count_only) in enumerate(groups.items(), start=1):
            statement = {"name": group, "vendor_name": MANAGED_RULES_VENDOR}
            if count_only:
                statement["rule_action_override"] = [{"name": rule, "action_to_use": {"count": {}}}
                                                     for rule in count_only]
            rules.append(Wafv2WebAclRule(
                name=group, priority=priority,
                override_action=Wafv2WebAclRuleOverrideAction(none=Wafv2WebAclRuleOverrideActionNone()),
                statement={"managed_rule_group_statement": statement},
                visibility_config=Wafv2WebAclRuleVisibilityConfig(**_visibility(group)),
            ))
        if WAF_COMMON_RULE_SET in groups:  # after the group: its labels exist only once it has run
            rules.append(Wafv2WebAclRule(
                name=BODY_OUTSIDE_PROMPTS_RULE_NAME, priority=len(groups) + 1,
                action=Wafv2WebAclRuleAction(block=Wafv2WebAclRuleActionBlock()),
                statement=body_rules_outside_prompts_statement(cfg.alb.prompt_path_prefixes()),
                visibility_config=Wafv2WebAclRuleVisibilityConfig(**_visibility(BODY_OUTSIDE_PROMPTS_RULE_NAME)),
            ))

        acl = Wafv2WebAcl(
            self, "web_acl", name=name, scope="REGIONAL", description=f"{cfg.name}: in front of the public ALB",
            default_action=Wafv2WebAclDefaultAction(allow=Wafv2WebAclDefaultActionAllow()),
            rule=rules, visibility_config=Wafv2WebAclVisibilityConfig(**_visibility(name)),
        )
        Wafv2WebAclAssociation(self, "alb_association", resource_arn=alb_arn, web_acl_arn=acl.arn)

        log_group = CloudwatchLogGroup(self, "log_group", name=f"{WAF_LOG_GROUP_PREFIX}{cfg.name}",
                                       retention_in_days=waf.log_retention_days)
        # The log group's ARN without the ":*" suffix, as AWS WAF expects. AWS WAF adds the CloudWatch Logs
        # resource policy that lets it deliver (needs logs:PutResourcePolicy for whoever applies).
        Wafv2WebAclLoggingConfiguration(
            self, "logging", resource_arn=acl.arn, log_destination_configs=[log_group.arn],
            redacted_fields=[Wafv2WebAclLoggingConfigurationRedactedFields(
                single_header=Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader(name=header))
                for header in waf.redacted_headers],
        )
        self.web_acl_arn: str = acl.arn
        self.log_group_name: str = log_group.name
        flat_output(self, "waf_web_acl_arn", acl.arn, "WAF web ACL in front of the ALB")
