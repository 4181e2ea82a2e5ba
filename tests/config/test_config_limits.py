"""Field-level AWS limits in the section models (modules/config/): each rejects what AWS would reject at
apply (or what would break at run time) with the field path and what is allowed, and accepts the edge
of what AWS allows. One failing and one passing case per check."""

from __future__ import annotations

import pytest

from config_mutations import all_of, certificate_arn, delete_path, model_problems, set_path
from modules.config.schedules import schedule_problem

CERT = "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000"


def _update(path: str, **values):
    """Mutation merging `values` into the mapping at a dotted path."""

    def mutate(data):
        node = data
        for key in path.split("."):
            node = node[int(key) if key.isdigit() else key]
        node.update(values)

    return mutate


def _scheduled(expression: str):
    return _update("services.rag-indexer", kind="scheduled", schedule=expression)


# (id, mutation, field path of the problem, words of the message: what is wrong and what is allowed)
FAILING = [
    ("region-unknown", set_path("region", "us-east-9"), "region",
     ["'us-east-9' is not an AWS Region code", "allowed: af-south-1", "us-west-2"]),
    ("region-typo", set_path("region", "eu-west"), "region", ["'eu-west' is not an AWS Region code", "eu-west-1"]),
    ("tag-reserved-prefix", set_path("tags", {"aws:owner": "me"}), "tags",
     ["tag key 'aws:owner'", "prefix 'aws:' is reserved"]),
    ("tag-key-too-long", set_path("tags", {"k" * 129: "v"}), "tags", ["allowed are 1-128 letters"]),
    ("tag-value-too-long", set_path("tags", {"Team": "v" * 257}), "tags", ["allowed are 0-256 letters"]),
    ("tags-too-many", set_path("tags", {f"T{i}": "v" for i in range(47)}), "tags",
     ["47 tags", "allowed: at most 46"]),
    ("tag-value-characters", set_path("tags", {"Team": "a;b"}), "tags", ["_ . : / = + - @"]),
    ("certificate-malformed", certificate_arn("arn:aws:acm:us-east-1:123:certificate/x"),
     "alb.certificate_arn", ["is not an ACM certificate ARN", "<12-digit account>:certificate/<uuid>"]),
    ("container-health-timeout", set_path("services.api.health_check", {"command": "true", "timeout": 90}),
     "services.api.health_check.timeout", ["less than or equal to 60"]),
    ("container-health-interval", set_path("services.api.health_check", {"command": "true", "interval": 301}),
     "services.api.health_check.interval", ["less than or equal to 300"]),
    ("container-health-retries", set_path("services.api.health_check", {"command": "true", "retries": 11}),
     "services.api.health_check.retries", ["less than or equal to 10"]),
    ("container-health-start-period", set_path("services.api.health_check", {"command": "true", "start_period": 301}),
     "services.api.health_check.start_period", ["less than or equal to 300"]),
    ("alb-health-timeout-not-below-interval", set_path("alb.health_check", {"interval": 10, "timeout": 10}),
     "alb.health_check", ["timeout 10 s must be smaller than interval 10 s", "allowed: timeout 2-9"]),
    ("alb-health-timeout-range", set_path("alb.health_check", {"interval": 300, "timeout": 121}),
     "alb.health_check.timeout", ["less than or equal to 120"]),
    ("init-essential", set_path("services.ollama-init.essential", True), "services.ollama-init",
     ["init container runs once and exits", "allowed: essential false or omitted"]),
    ("log-retention", set_path("logs.retention_days", 10), "logs.retention_days",
     ["10 days is not a CloudWatch Logs retention", "allowed: 1, 3, 5, 7, 14, 30", "3653"]),
    ("flow-log-retention", set_path("network.flow_logs", {"retention_days": 31}), "network.flow_logs.retention_days",
     ["31 days is not a CloudWatch Logs retention", "allowed: 1, 3, 5"]),
    ("schedule-five-fields", _scheduled("cron(0 3 * * *)"), "services.rag-indexer",
     ["has 5 fields", "cron(minutes hours day-of-month month day-of-week year)"]),
    ("schedule-no-question-mark", _scheduled("cron(0 3 * * MON *)"), "services.rag-indexer",
     ["exactly one of day-of-month ('*') and day-of-week ('MON') must be '?'"]),
    ("schedule-hour-out-of-range", _scheduled("cron(0 24 * * ? *)"), "services.rag-indexer",
     ["hours '24' is not valid", "allowed: 0-23"]),
    ("schedule-rate-unit", _scheduled("rate(5 weeks)"), "services.rag-indexer",
     ["unit one of minute, minutes, hour, hours, day, days"]),
    ("schedule-at-malformed", _scheduled("at(2026-02-30 09:00)"), "services.rag-indexer",
     ["at(yyyy-mm-ddThh:mm:ss)"]),
    ("cache-node-type", set_path("cache.node_type", "cache.t4g.huge"), "cache.node_type",
     ["'cache.t4g.huge' is not an ElastiCache node type", "family one of", "r7g"]),
    ("cache-engine-version", set_path("cache.engine_version", "7.2"), "cache",
     ["engine_version '7.2' is not a redis version", "allowed: 7.0, 7.1"]),
    ("cache-valkey-version", _update("cache", engine="valkey", engine_version="7.1"), "cache",
     ["'7.1' is not a valkey version", "allowed: 7.2, 8.0, 8.1"]),
    ("two-volumes-one-path", set_path("services.ollama.volumes", ["ollama-home:/data", "tempo-data:/data"]),
     "services.ollama", ["volumes[1] mounts 'tempo-data' at /data, already the path of volumes[0]"]),
    ("mount-path-relative", set_path("services.ollama.volumes", [{"volume": "ollama", "path": "data"}]),
     "services.ollama.volumes[0].path", ["container path 'data' must be absolute"]),
    ("port-name-too-long", set_path("services.api.ports", [{"port": 8000, "name": "p" * 65}]),
     "services.api.ports[0].name", ["at most 64 characters"]),
    ("port-name-characters", set_path("services.api.ports", [{"port": 8000, "name": "-api"}]),
     "services.api.ports[0].name", ["'-api' is not text matching ^[a-z0-9_][a-z0-9_-]{0,63}$"]),
    ("vpc-too-small-for-alb-subnets", set_path("network.vpc_cidr", "10.40.0.0/28"), "network",
     ["too small for 4 subnets", "the smallest subnet an ALB accepts is /27", "/25 or shorter"]),
]

PASSING = [
    ("region-govcloud", all_of(set_path("region", "us-gov-west-1"), delete_path("network.availability_zones"), certificate_arn(CERT.replace("aws:acm:us-east-1", "aws-us-gov:acm:us-gov-west-1")))),
    ("tags-at-the-limits", set_path("tags", {"k" * 128: "v" * 256, "Team:ml/ops": "a b_c.d=e+f-g@h",
                                             **{f"T{i}": "" for i in range(44)}})),
    ("container-health-at-the-limits", set_path("services.api.health_check", {
        "command": "true", "interval": 300, "timeout": 60, "retries": 10, "start_period": 300})),
    ("alb-health-timeout-below-interval", set_path("alb.health_check", {"interval": 5, "timeout": 4})),
    ("init-not-essential", set_path("services.ollama-init.essential", False)),
    ("retention-allowed", all_of(set_path("logs.retention_days", 3653),
                                 set_path("network.flow_logs", {"retention_days": 1}))),
    ("schedule-forms", _scheduled("cron(0/15 8-18 ? * MON-FRI *)")),
    ("schedule-rate", _scheduled("rate(1 hour)")),
    ("schedule-at", _scheduled("at(2026-01-31T09:00:00)")),
    ("cache-valkey", _update("cache", engine="valkey", engine_version="8.0", node_type="cache.r7g.large")),
    ("mounts-on-distinct-paths", set_path("services.ollama.volumes", ["ollama-home:/data", "tempo-data:/data2:ro"])),
    ("port-name-64", set_path("services.api.ports", [{"port": 8000, "name": "a_" + "p" * 62}])),
    ("no-cache", delete_path("cache")),
]


@pytest.mark.parametrize("mutate,field_path,words", [c[1:] for c in FAILING], ids=[c[0] for c in FAILING])
def test_rejected_with_the_field_and_what_is_allowed(mutate, field_path, words):
    problems = model_problems(mutate)
    lines = [msg for path, msg in problems if path == field_path or path.startswith(field_path + ".")
             or path.startswith(field_path + "[")]
    assert lines, f"no problem at {field_path!r}: {problems}"
    for word in words:
        assert any(word in msg for msg in lines), f"{word!r} missing from {lines}"


@pytest.mark.parametrize("mutate", [c[1] for c in PASSING], ids=[c[0] for c in PASSING])
def test_accepted_at_the_edge_of_what_aws_allows(mutate):
    assert model_problems(mutate) == []


@pytest.mark.parametrize("expression", ["cron(0 3 L * ? *)", "cron(0 3 ? * 2#1 *)", "cron(0 3 15W * ? 2027)",
                                        "cron(0 12 ? JAN-MAR MON,WED *)", "rate(5 minutes)", "rate(1 day)"])
def test_scheduler_expressions_aws_documents_are_accepted(expression):
    assert schedule_problem(expression) is None


@pytest.mark.parametrize("expression,words", [
    ("cron(0 3 * * ? * *)", "has 7 fields"),
    ("cron(60 3 * * ? *)", "minutes '60' is not valid"),
    ("cron(0 3 ? * 8 *)", "day-of-week '8' is not valid"),
    ("cron(0 3 * 13 ? *)", "month '13' is not valid"),
    ("cron(0 3 ? * MON 1969)", "year '1969' is not valid"),
    ("rate(1 minutes)", "singular unit for 1"),
    ("rate(0 hours)", "positive whole number"),
    ("every day at 3", "must be cron("),
])
def test_scheduler_expressions_aws_rejects_are_explained(expression, words):
    assert words in (schedule_problem(expression) or "")
