"""Waf: an AWS WAFv2 web ACL in front of the public ALB (`alb.waf`).

Rules, in evaluation order:
  0        rate limit: more than `rate_limit` requests from one IP in `rate_limit_window_seconds` is blocked
           for as long as the rate stays above it (the api calls a paid LLM: one loop must not run up a bill)
  1..n     AWS managed rule groups (`managed_rule_groups`; default: the common rule set and known bad
           inputs). Rules listed under a group are switched to count-only, e.g. the common rule set's
           SizeRestrictions_BODY, which blocks bodies over 8 KB (prompts with RAG context exceed it).
Everything else is allowed. Requests are logged to the CloudWatch log group `aws-waf-logs-<name>` (AWS WAF
requires that prefix for a CloudWatch destination) with `log_retention_days`; the headers in
`redacted_headers` (credentials) are redacted from the logs.
Capacity: a web ACL has 1,500 WCUs before extra charges; the rate rule costs 2, the common rule set 700,
known bad inputs 200 (AWS WAF developer guide, "Web ACL capacity units" and the managed rule group list).
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
from modules.naming import fit_name
from modules.network import flat_output

WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"  # AWS WAF logs only to CloudWatch log groups named so
WEB_ACL_NAME_LIMIT = 128
MANAGED_RULES_VENDOR = "AWS"
RATE_RULE_NAME = "rate-limit-per-ip"


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
        for priority, (group, count_only) in enumerate(waf.managed_rule_groups.items(), start=1):
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
