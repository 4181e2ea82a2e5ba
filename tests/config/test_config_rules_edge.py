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
