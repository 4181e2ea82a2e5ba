"""modules/config/rules/aws_limits.py and aws_api.py: AWS limits, from the API models and from AWS's pages.
(The same limits end to end, through `main.py synth` on env files of their own: test_config_aws_refusals.py.)"""

from __future__ import annotations

import pytest

from config_mutations import all_of, case_id, check_rule_case, set_path, unchanged
from modules.config.rules import aws_api as A
from modules.config.rules import aws_limits as R

CASES = [
    (A.values_fit_aws_api_models, set_path("alb.health_check.path", "/" + "a" * 1024), "alb.health_check.path",
     ["is 1025 characters", "elbv2 CreateTargetGroup HealthCheckPath"]),
    (A.values_fit_aws_api_models, set_path("secrets.api-env.description", "d" * 2049), "secrets.api-env.description",
     ["secretsmanager CreateSecret Description"]),
    (A.values_fit_aws_api_models, set_path("volumes.rag.uid", 2 ** 32), "volumes.rag.uid",
     ["0-4294967295", "efs CreateAccessPoint PosixUser.Uid"]),
    (A.values_fit_aws_api_models, set_path("alb.health_check.path", "/" + "a" * 1023), None, []),
    (A.values_fit_aws_api_models, unchanged, None, []),
    (R.alb_name_is_not_reserved, set_path("project", "internal"), "project", ["'internal-stage' begins with"]),
    (R.alb_name_is_not_reserved, set_path("project", "internals"), None, []),
    (R.access_log_bucket_name_is_allowed, set_path("project", "sthree-araquem"), "project", ["S3 reserves ['sthree-']"]),
    (R.access_log_bucket_name_is_allowed, all_of(set_path("project", "sthree-araquem"),
                                                 set_path("alb.access_logs", False)), None, []),
    (R.certificate_domain_fits_64_octets, set_path("alb.domain.zone", "z" * 60 + ".com.br"), "alb.domain.api_record",
     ["at most 64", "shorten alb.domain.api_record or alb.domain.zone"]),
    (R.certificate_domain_fits_64_octets, unchanged, None, []),
    (R.health_check_matcher_is_in_range, set_path("alb.health_check.matcher", "200-599"), "alb.health_check.matcher",
     ["codes 200-499"]),
    (R.health_check_matcher_is_in_range, set_path("alb.health_check.matcher", "200,301-308"), None, []),
    (R.tls_policy_is_offered, set_path("alb.ssl_policy", "ELBSecurityPolicy-TLS-1-3"), "alb.ssl_policy",
     ["is not a security policy of Application Load Balancers"]),
    (R.tls_policy_is_offered, set_path("alb.ssl_policy", "ELBSecurityPolicy-TLS13-1-3-2021-06"), None, []),
    (R.waf_rule_groups_are_offered, set_path("alb.waf.managed_rule_groups", {"AWSManagedRulesKnownBadInputs": []}),
     "alb.waf.managed_rule_groups.AWSManagedRulesKnownBadInputs", ["is not an AWS managed rule group"]),
    (R.waf_rule_groups_are_offered, unchanged, None, []),
    (R.image_references_fit, set_path("services.ollama.image", f"ollama/{'o' * 200}:0.3.14"), "services.ollama.image",
     ["through the pull-through cache", "at most 255"]),
    (R.image_references_fit, unchanged, None, []),
    # stage's ALB listens on 80 and 443: 31 CIDRs are 62 inbound rules, 30 are 60
    (R.security_group_rules_fit_the_quota, set_path("alb.allowed_cidrs", [f"198.51.{i}.0/24" for i in range(31)]),
     "alb.allowed_cidrs", ["'araquem-stage-alb' would get 62 inbound IPv4 rules", "allows 60 per group"]),
    (R.security_group_rules_fit_the_quota, set_path("services.api.egress", [{"port": p} for p in range(1000, 1060)]),
     "services.api.egress", ["'araquem-stage-task-api' would get", "outbound"]),
    (R.security_group_rules_fit_the_quota, set_path("alb.allowed_cidrs", [f"198.51.{i}.0/24" for i in range(30)]),
     None, []),
    (R.security_group_rules_fit_the_quota, unchanged, None, []),
    (R.parameter_names_fit, set_path("parameters.P" + "P" * 999, "v"), "parameters.PP",
     ["would be 1059 characters", "at most 1011", "a key of at most 952 characters"]),
    (R.parameter_names_fit, set_path("parameters.P" + "P" * 951, "v"), None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)
