"""modules/config/kinds.py: one validator per kind of value. Each kind's bad values are fed through every field
of that kind (found by walking the schema: tests/config/schema_fields.py) and get the same verdict, at that field;
its good values load in every one of them."""

from __future__ import annotations

import pytest

from config_mutations import all_of, certificate_arn, delete_path, grafana_sso, model_problems, set_path
from schema_fields import fields_by_kind
from modules.config.base import dotted

ACCOUNT = "123456789012"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:team/db-AbCdEf"
SG = "sg-0123456789abcdef0"


def _database(**fields):
    base = {"mode": "endpoint", "endpoint": "db.example.internal", "security_group_id": SG,
            "credentials_secret_arn": SECRET_ARN}
    return set_path("database", {**base, **fields})


def _json_secret(name: str):
    return set_path(f"secrets.{name}", {"keys": ["TOKEN_A"]})


# field path (as kind_fields names it) -> (mutation putting `value` there, the field path a problem is reported at)
PLACES = {
    "tags": (lambda v: set_path("tags", v), lambda v: "tags"),
    "logs.retention_days": (lambda v: set_path("logs.retention_days", v), lambda v: "logs.retention_days"),
    "network.flow_logs.retention_days": (lambda v: set_path("network.flow_logs.retention_days", v),
                                         lambda v: "network.flow_logs.retention_days"),
    "alb.waf.log_retention_days": (lambda v: set_path("alb.waf.log_retention_days", v),
                                   lambda v: "alb.waf.log_retention_days"),
    "alb.certificate_arn": (certificate_arn, lambda v: "alb.certificate_arn"),
    "alarms.topic_arns[]": (lambda v: set_path("alarms.topic_arns", [v]), lambda v: "alarms.topic_arns[0]"),
    "services.*.failure_alarm.alarm_actions[]": (
        lambda v: set_path("services.quality-cron.failure_alarm", {"alarm_actions": [v]}),
        lambda v: "services.quality-cron.failure_alarm.alarm_actions[0]"),
    "database.security_group_id": (lambda v: _database(security_group_id=v), lambda v: "database.security_group_id"),
    "database.credentials_secret_arn": (lambda v: _database(credentials_secret_arn=v),
                                        lambda v: "database.credentials_secret_arn"),
    "database.credentials_kms_key_arn": (lambda v: _database(credentials_kms_key_arn=v),
                                         lambda v: "database.credentials_kms_key_arn"),
    "secrets.<key>": (lambda v: set_path(f"secrets.{v}", {}), lambda v: dotted(("secrets", v))),
    "registry.docker_hub_secret": (
        lambda v: all_of(delete_path("secrets.docker-hub"),
                         set_path(f"secrets.{v}", {"keys": ["username", "accessToken"], "existing": True}),
                         set_path("registry.docker_hub_secret", v)),
        lambda v: "registry.docker_hub_secret"),
    "alb.grafana.oidc.client_secret": (
        lambda v: all_of(set_path(f"secrets.{v}", {"existing": True}), set_path("alb.grafana", grafana_sso(v))),
        lambda v: "alb.grafana.oidc.client_secret"),
    "services.*.secrets_from[]": (lambda v: all_of(_json_secret(v), set_path("services.prometheus.secrets_from", [v])),
                                  lambda v: "services.prometheus.secrets_from[0]"),
}

TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:ops"
# kind -> (bad values with a word of the verdict, good values)
VALUES = {
    "tags": ([({"Team": "ml\n"}, "allowed are 0-256"), ({"Team\n": "ml"}, "allowed are 1-128"),
              ({"aws:team": "ml"}, "reserved for AWS"), ({"k" * 129: "v"}, "allowed are 1-128"),
              ({f"T{i}": "v" for i in range(47)}, "at most 46")],
             [{"Team": "ml/ops", "Cost Center": "a+b=c@d:e.f_g-h"}, {"k" * 128: "v" * 256}]),
    "retention-days": ([(10, "not a CloudWatch Logs retention"), (0, "not a CloudWatch Logs retention"),
                        (4000, "not a CloudWatch Logs retention")], [1, 3653]),
    "arn:sns": ([("arn:aws:sqs:us-east-1:123456789012:q", "is not an SNS topic ARN"),
                 ("arn:aws:lambda:us-east-1:123456789012:function:f", "is not an SNS topic ARN"),
                 ("arn:aws:sns:us-east-1:12345:ops", "is not an SNS topic ARN"),
                 (f"{TOPIC}\n", "is not an SNS topic ARN"),
                 (f"arn:aws:sns:us-east-9:{ACCOUNT}:ops", "'us-east-9' is not an AWS Region code"),
                 (f"arn:aws:sns:us-gov-west-1:{ACCOUNT}:ops", "is in partition aws-us-gov, not aws"),
                 (f"arn:aws:sns:eu-west-1:{ACCOUNT}:ops", "is in eu-west-1 (aws), but the stack's alarms are in "
                                                          "us-east-1")],
                [TOPIC, f"{TOPIC}.fifo"]),
    "arn:acm": ([("arn:aws:acm:us-east-1:123:certificate/x", "is not an ACM certificate ARN"),
                 (f"arn:aws-cn:acm:us-east-1:{ACCOUNT}:certificate/00000000-0000-0000-0000-000000000000",
                  "is in partition aws, not aws-cn"),
                 (f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/00000000-0000-0000-0000-000000000000",
                  "is in eu-west-1 (aws), but the ALB is in us-east-1")],
                [f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/00000000-0000-0000-0000-000000000000"]),
    "arn:secretsmanager": ([("arn:aws:secretsmanager:us-east-1:1:secret:x", "is not a Secrets Manager secret ARN"),
                            (f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db",
                             "is not a Secrets Manager secret ARN"),
                            (f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/db", "is not a Secrets Manager secret ARN"),
                            (f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db name-AbCdEf",
                             "is not a Secrets Manager secret ARN")],
                           [SECRET_ARN, f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:rds!db-1234-AbCdEf"]),
    "arn:kms": ([(f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/db", "is not a KMS key ARN"),
                 (f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*", "is not a KMS key ARN"),
                 (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000",
                  "is in eu-west-1 (aws), but the credentials secret is in us-east-1")],
                [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000",
                 f"arn:aws:kms:us-east-1:{ACCOUNT}:key/mrk-0123456789abcdef0123456789abcdef"]),
    "security-group-id": ([("sg-0", "is not a security group id"), ("sg-XYZ12345", "is not a security group id"),
                           (f"{SG}\n", "is not a security group id"), ("vpc-0123abcd", "is not a security group id"),
                           ("*", "is not a security group id")],
                          ["sg-0123abcd", SG]),
    "secret-name": ([("api env", "env var name"), ("Api-Env", "env var name"), ("team/db", "env var name"),
                     ("token\n", "env var name")],
                    ["api-token", "API_TOKEN"]),
}


def test_every_field_of_a_kind_has_a_place_and_every_kind_values():
    found = fields_by_kind()
    assert set(VALUES) == set(found), "a kind without values here, or values of no kind"
    assert set(PLACES) == set().union(*found.values()), "a field of a kind the test cannot yet put a value in"


CASES = [(kind, path, value, word) for kind, paths in sorted(fields_by_kind().items()) for path in sorted(paths)
         for value, word in VALUES[kind][0]]
GOOD = [(kind, path, value) for kind, paths in sorted(fields_by_kind().items()) for path in sorted(paths)
        for value in VALUES[kind][1]]


@pytest.mark.parametrize("kind,path,value,word", CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_a_bad_value_of_a_kind_is_refused_in_every_field_of_the_kind(kind, path, value, word):
    mutate, where = PLACES[path]
    problems = model_problems(mutate(value))
    at = where(value)
    lines = [msg for p, msg in problems if p == at or p.startswith((at + ".", at + "["))]
    assert lines, f"no problem at {at!r}: {problems}"
    assert any(word in line for line in lines), (word, lines)


@pytest.mark.parametrize("kind,path,value", GOOD, ids=[f"{c[1]}-{i}" for i, c in enumerate(GOOD)])
def test_a_good_value_of_a_kind_loads_in_every_field_of_the_kind(kind, path, value):
    mutate, _ = PLACES[path]
    assert model_problems(mutate(value)) == []
