"""What AWS refuses is refused at load time: env files written for these tests (a small base, one change each) that
AWS would reject at apply, each refused by `main.py synth` with exit 2, a line naming the file and the field, the
limit and where it comes from, and the earlier output untouched; and env files at the edge of what AWS accepts,
which load (and, together, synthesize).

The limits come from AWS's API models (modules/config/aws_shapes.py) and from the named rules of
modules/config/rules/aws_limits.py and modules/config/kinds.py; issue 27 listed the cases."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from conftest import run_main_in_process
from modules.config.loading import ConfigError, load

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:ops"
CERT = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/00000000-0000-0000-0000-000000000000"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:shop/db-AbCdEf"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"

# A small env file of its own: one web service behind a plain-HTTP ALB, one capacity provider, nothing else.
BASE = {
    "project": "shop",
    "environment": "qa",
    "region": REGION,
    "network": {"vpc_cidr": "10.20.0.0/16"},
    "alb": {"https": False, "target": {"service": "web", "port": 8080}},
    "cluster": {"capacity_providers": {"general": {"instance_type": "m6i.large", "max_size": 2}}},
    "services": {"web": {"image": "public.ecr.aws/nginx/nginx:1.27", "cpu": 0.5, "memory": 512, "ports": [8080]}},
}


def env(*changes) -> dict:
    """BASE with each change applied: (dotted path, value); a value of None deletes the key."""
    data = copy.deepcopy(BASE)
    for path, value in changes:
        keys = path.split(".")
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return data


def https(*changes) -> dict:
    return env(("alb.https", True), ("alb.certificate_arn", CERT), *changes)


def domain(zone: str, api_record: str) -> dict:
    return env(("alb.https", True), ("alb.domain", {"zone": zone, "api_record": api_record}))


def scheduled(**fields) -> tuple:
    return ("services.job", {"kind": "scheduled", "schedule": "rate(1 hour)", "image": "public.ecr.aws/x/job:1.0",
                             "cpu": 0.25, "memory": 256, **fields})


def waf(**fields) -> tuple:
    return ("alb.waf", {"enabled": True, **fields})


def database(**fields) -> tuple:
    return ("database", {"mode": "endpoint", "endpoint": "db.shop.internal", "security_group_id": "sg-0123abcd",
                         "credentials_secret_arn": SECRET_ARN, "allow_from": ["web"], **fields})


def label(n: int) -> str:
    return "a" * n


# ECR's pull-through prefix (`<project>-<environment>/<upstream>`, 30 characters, no '--') is not the point here
NO_CACHE = ("registry", {"pull_through_cache": False})

# (case, env data, the field path the line names, words the line holds: what is wrong, what is allowed, the source)
REFUSED = [
    ("alb-name-reserved-prefix", env(("project", "internal")), "project",
     ["the ALB's name 'internal-qa' begins with 'internal-'"]),
    ("bucket-prefix-xn", env(("project", "xn--shop"), ("alb.access_logs", True), NO_CACHE), "project",
     ["S3 reserves ['xn--']"]),
    ("bucket-prefix-sthree", env(("project", "sthree-shop"), ("alb.access_logs", True)), "project",
     ["S3 reserves ['sthree-']"]),
    ("bucket-prefix-amzn-s3-demo", env(("project", "amzn-s3-demo-shop"), ("alb.access_logs", True), NO_CACHE), "project",
     ["S3 reserves ['amzn-s3-demo-']"]),
    ("matcher-below-200", env(("alb.health_check", {"matcher": "100-199"})), "alb.health_check.matcher",
     ["'100-199' is not HTTP codes", "codes 200-499"]),
    ("matcher-above-499", env(("alb.health_check", {"matcher": "200-500"})), "alb.health_check.matcher",
     ["codes 200-499"]),
    ("matcher-not-codes", env(("alb.health_check", {"matcher": "ok"})), "alb.health_check.matcher",
     ["a range (200-299)"]),
    ("matcher-backwards", env(("alb.health_check", {"matcher": "299-200"})), "alb.health_check.matcher",
     ["codes 200-499"]),
    ("health-path-too-long", env(("alb.health_check", {"path": "/" + label(1024)})), "alb.health_check.path",
     ["is 1025 characters", "allowed: 1-1024 characters", "elbv2 CreateTargetGroup HealthCheckPath"]),
    ("grafana-health-path-too-long", env(("alb.grafana", {"health_check_path": "/" + label(1100)})),
     "alb.grafana.health_check_path", ["allowed: 1-1024 characters", "HealthCheckPath"]),
    ("tls-policy-unknown", https(("alb.ssl_policy", "TLSv1.2")), "alb.ssl_policy",
     ["'TLSv1.2' is not a security policy of Application Load Balancers", "ELBSecurityPolicy-TLS13-1-2-2021-06"]),
    ("tls-policy-misspelt", https(("alb.ssl_policy", "ELBSecurityPolicy-TLS13-1-2-2021-6")), "alb.ssl_policy",
     ["is not a security policy"]),
    ("waf-rule-group-unknown", env(waf(managed_rule_groups={"AWSManagedRulesEverythingRuleSet": []})),
     "alb.waf.managed_rule_groups.AWSManagedRulesEverythingRuleSet",
     ["is not an AWS managed rule group", "AWSManagedRulesCommonRuleSet"]),
    ("waf-override-name", env(waf(managed_rule_groups={"AWSManagedRulesCommonRuleSet": ["Size Restrictions"]})),
     "alb.waf.managed_rule_groups.AWSManagedRulesCommonRuleSet[0]",
     ["does not match '^[\\\\w\\\\-]+$'", "RuleActionOverrides.Name"]),
    ("waf-redacted-fields-101", env(waf(redacted_headers=[f"x-h{i}" for i in range(101)])),
     "alb.waf.redacted_headers", ["has 101 items", "at most 100", "LoggingConfiguration.RedactedFields"]),
    ("waf-log-retention", env(waf(log_retention_days=10)), "alb.waf.log_retention_days",
     ["10 days is not a CloudWatch Logs retention", "allowed: 1, 3, 5"]),
    ("schedule-description-513", env(scheduled(description=label(513))), "services.job.description",
     ["is 513 characters", "0-512", "scheduler CreateSchedule Description"]),
    ("secret-description-2049", env(("secrets", {"token": {"description": label(2049)}})),
     "secrets.token.description", ["is 2049 characters", "secretsmanager CreateSecret Description"]),
    ("secret-description-with-keys", env(("secrets", {"api-env": {"description": label(2040), "keys": ["A_KEY"]}})),
     "secrets.api-env.description", ["secret description", "0-2048", "CreateSecret Description"]),
    ("secret-name-too-long", env(("secrets", {"K" * 510: {}})), "secrets.KKKK",
     ["secret name 'shop-qa/KKK", "1-512 characters", "secretsmanager CreateSecret Name"]),
    ("ssm-parameter-name-too-long", env(("parameters", {"P" * 2045: "v"})), "parameters.PPPP",
     ["parameter name '/shop/qa/PPP", "1-2048 characters", "ssm PutParameter Name"]),
    ("ssm-parameter-arn-over-1011", env(("parameters", {"P" * 1000: "v"})), "parameters.PPPP",
     ["the parameter's ARN would be 1053 characters", "at most 1011", "a key of at most 958"]),
    ("acm-domain-65-octets", domain(label(53) + ".shop.io", "api"), "alb.domain.api_record",
     ["is 65 octets", "at most 64", "RequestCertificate DomainName"]),
    ("alarm-actions-6", env(("alarms", {"topic_arns": [f"{TOPIC}{i}" for i in range(5)]})), "alarms.topic_arns",
     ["has 6 items", "at most 5", "cloudwatch PutMetricAlarm AlarmActions"]),
    ("failure-alarm-actions-6", env(("alarms", {"topic_arns": [TOPIC + "1", TOPIC + "2"]}),
                                    scheduled(failure_alarm={"alarm_actions": [TOPIC + "3", TOPIC + "4", TOPIC + "5"]})),
     "services.job.failure_alarm.alarm_actions", ["has 6 items", "at most 5", "AlarmActions"]),
    ("alarm-action-not-sns", env(scheduled(failure_alarm={"alarm_actions": [
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:page"]})),
     "services.job.failure_alarm.alarm_actions[0]", ["is not an SNS topic ARN"]),
    ("alarm-action-other-region", env(scheduled(failure_alarm={"alarm_actions": [
        f"arn:aws:sns:us-east-1:{ACCOUNT}:ops"]})),
     "services.job.failure_alarm.alarm_actions[0]", ["is in us-east-1 (aws), but the stack's alarms are in eu-west-1"]),
    ("efs-uid-above-2-32", env(("volumes", {"data": {"uid": 2 ** 32, "gid": 0}})), "volumes.data.uid",
     ["4294967296 is out of range", "0-4294967295", "efs CreateAccessPoint PosixUser.Uid"]),
    ("efs-gid-above-2-32", env(("volumes", {"data": {"uid": 0, "gid": 2 ** 40}})), "volumes.data.gid",
     ["0-4294967295", "PosixUser.Gid"]),
    ("db-secret-arn-malformed", env(database(credentials_secret_arn=f"arn:aws:secretsmanager:{REGION}:123:secret:x")),
     "database.credentials_secret_arn", ["is not a Secrets Manager secret ARN"]),
    ("db-security-group-malformed", env(database(security_group_id="sg-12")), "database.security_group_id",
     ["is not a security group id", "8 or 17"]),
    ("db-kms-alias", env(database(credentials_kms_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/db")),
     "database.credentials_kms_key_arn", ["is not a KMS key ARN"]),
    ("db-kms-other-region", env(database(credentials_kms_key_arn=KEY_ARN.replace(REGION, "us-east-1"))),
     "database.credentials_kms_key_arn", ["but the credentials secret is in eu-west-1"]),
    ("certificate-partition", https(("alb.certificate_arn", CERT.replace("arn:aws:", "arn:aws-cn:"))),
     "alb.certificate_arn", ["is in partition aws, not aws-cn"]),
    ("service-connect-namespace-space", env(("service_connect_namespace", "shop qa")), "service_connect_namespace",
     ["does not match", "servicediscovery CreateHttpNamespace Name"]),
    ("dns-namespace-space", env(("discovery_dns_namespace", "shop qa.internal"), ("services.web.dns_discovery", True)),
     "discovery_dns_namespace", ["servicediscovery CreatePrivateDnsNamespace Name"]),
    ("image-over-255", env(("services.web.image", f"quay.io/{label(240)}/web:1.0"),
                           NO_CACHE),
     "services.web.image", ["is 256 characters", "at most 255", "ContainerDefinition image"]),
    ("image-over-255-through-the-cache", env(("services.web.image", f"public.ecr.aws/{label(184)}/web:1.0")),
     "services.web.image", ["through the pull-through cache is 256 characters", "at most 255"]),
    ("tag-trailing-newline", env(("tags", {"Team": "ml\n"})), "tags", ["tag 'Team' value 'ml\\n'"]),
    ("secret-named-like-the-cache-url", env(("cache", {"allow_from": ["web"]}), ("secrets", {"redis-url": {}})),
     "secrets.redis-url", ["is the name of the secret the stack creates for the cache"]),
    ("sg-inbound-over-quota", env(("alb.allowed_cidrs", [f"198.51.{i}.0/24" for i in range(61)])), "alb.allowed_cidrs",
     ["security group 'shop-qa-alb' would get 61 inbound IPv4 rules", "AWS allows 60 per group"]),
    ("sg-outbound-over-quota", env(("services.web.egress", [{"port": p} for p in range(1000, 1061)])),
     "services.web.egress", ["security group 'shop-qa-task-web' would get 61 outbound IPv4 rules"]),
    ("secret-named-like-the-cache-token", env(("cache", {"allow_from": ["web"]}), ("secrets", {"redis-auth-token": {}})),
     "secrets.redis-auth-token", ["the stack creates for the cache"]),
]


@pytest.fixture()
def earlier(tmp_path) -> tuple[Path, dict]:
    """An earlier output with local state in it, and its bytes."""
    out = tmp_path / "cdktf.out"
    (out / "stacks/shop-qa").mkdir(parents=True)
    (out / "stacks/shop-qa/cdk.tf.json").write_text('{"earlier": true}')
    (out / "stacks/shop-qa/terraform.shop-qa.tfstate").write_text('{"version": 4, "serial": 3}')
    return out, {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case,data,field,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_with_the_field_and_the_limit(case, data, field, words, tmp_path, earlier):
    env_file = tmp_path / f"{case}.yaml"
    env_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    out, before = earlier
    proc = run_main_in_process("--env-file", str(env_file), "synth", "--outdir", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith(f"{env_file}: {field}")]
    assert lines, f"no line names {field!r}:\n{proc.stderr}"
    for word in words:
        assert any(word in line for line in lines), f"{word!r} missing from {lines}"
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before, "the earlier output changed"


def test_there_are_at_least_35_cases():
    assert len(REFUSED) >= 35


# At the edge of what AWS accepts: each loads (and all of them together synthesize, below).
ACCEPTED = [
    ("alb-name-internal-like", env(("project", "internals"))),
    ("bucket-prefix-allowed", env(("project", "xn-shop"), ("alb.access_logs", True))),
    ("image-through-the-cache-255", env(("services.web.image", f"public.ecr.aws/{label(183)}/web:1.0"))),
    ("matcher-edges", env(("alb.health_check", {"matcher": "200,202,299-499"}))),
    ("health-path-1024", env(("alb.health_check", {"path": "/" + label(1023)}))),
    ("tls-policy-pq", https(("alb.ssl_policy", "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"))),
    ("waf-redacted-fields-100", env(waf(redacted_headers=[f"x-h{i}" for i in range(100)]))),
    ("schedule-description-512", env(scheduled(description=label(512)))),
    ("secret-description-2048", env(("secrets", {"token": {"description": label(2048)}}))),
    ("acm-domain-64-octets", domain(label(52) + ".shop.io", "api")),
    ("alarm-actions-5", env(("alarms", {"topic_arns": [f"{TOPIC}{i}" for i in range(4)]}))),
    ("efs-ids-2-32-minus-1", env(("volumes", {"data": {"uid": 2 ** 32 - 1, "gid": 2 ** 32 - 1}}))),
    ("image-255", env(("services.web.image", f"quay.io/{label(239)}/web:1.0"), NO_CACHE)),
    ("redis-url-without-cache", env(("secrets", {"redis-url": {}}))),
    ("ssm-parameter-arn-1011", env(("parameters", {"P" * 958: "v"}))),
    ("sg-inbound-60", env(("alb.allowed_cidrs", [f"198.51.{i}.0/24" for i in range(60)]))),
    ("sg-outbound-60", env(("services.web.egress", [{"port": p} for p in range(1000, 1060)]))),
]


def _loads(data: dict, tmp_path: Path) -> list:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    try:
        load(path)
    except ConfigError as exc:
        return list(exc.problems)
    return []


@pytest.mark.parametrize("case,data", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted_at_the_edge_of_what_aws_accepts(case, data, tmp_path):
    assert _loads(data, tmp_path) == []


def test_the_edges_together_synthesize(synths):
    """One env file at several edges at once synthesizes, and the values reach the resources unchanged."""
    data = domain(label(52) + ".shop.io", "api")
    for path, value in [("alb.health_check", {"matcher": "200,202,299-499", "path": "/" + label(1023)}),
                        ("alb.access_logs", True), waf(redacted_headers=[f"x-h{i}" for i in range(100)]),
                        scheduled(description=label(512)), ("alarms", {"topic_arns": [f"{TOPIC}{i}" for i in range(4)]}),
                        ("volumes", {"data": {"uid": 2 ** 32 - 1, "gid": 2 ** 32 - 1}}),
                        ("secrets", {"token": {"description": label(2048)}})]:
        node = data
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    stack = synths.of_data(data)
    assert len(stack.one("aws_acm_certificate")["domain_name"]) == 64
    assert len(stack.one("aws_wafv2_web_acl_logging_configuration")["redacted_fields"]) == 100
    assert stack.one("aws_efs_access_point")["posix_user"]["uid"] == 2 ** 32 - 1
    assert stack.one("aws_scheduler_schedule")["description"] == label(512)
    assert stack.one("aws_lb_target_group")["health_check"]["matcher"] == "200,202,299-499"
    alarms = stack.resources("aws_cloudwatch_metric_alarm").values()
    assert alarms and all(len(a["alarm_actions"]) == 5 for a in alarms)
