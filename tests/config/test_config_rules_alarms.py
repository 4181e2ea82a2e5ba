"""modules/config/alarms.py and rules/alarms.py: where the alarms notify, and what the env file may say about it."""

from __future__ import annotations

import pytest

from config_mutations import all_of, case_id, check_rule_case, model_problems, set_path, unchanged
from modules.config.rules import alarms as R

TOPIC = "arn:{partition}:sns:{region}:123456789012:ops-pager"

CASES = [
    (R.alarm_topics_are_in_the_stack_region,
     set_path("alarms.topic_arns", [TOPIC.format(partition="aws", region="eu-west-1")]),
     "alarms.topic_arns[0]", ["is in eu-west-1 (aws)", "alarms are in us-east-1", "arn:aws:sns:us-east-1:"]),
    (R.alarm_topics_are_in_the_stack_region,
     set_path("services.quality-cron.failure_alarm.alarm_actions", [TOPIC.format(partition="aws", region="eu-west-1")]),
     "services.quality-cron.failure_alarm.alarm_actions[0]", ["is in eu-west-1 (aws)", "arn:aws:sns:us-east-1:"]),
    (R.alarm_topics_are_in_the_stack_region,
     set_path("alarms.topic_arns", [TOPIC.format(partition="aws", region="us-east-1")]), None, []),
    (R.alarm_topics_are_in_the_stack_region, unchanged, None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)


BAD = [
    ("email-without-at", set_path("alarms.subscriptions", [{"protocol": "email", "endpoint": "ops.example.com"}]),
     "alarms.subscriptions[0]", ["'ops.example.com' is not what protocol 'email' delivers to", "an email address"]),
    ("http-not-https", set_path("alarms.subscriptions", [{"protocol": "https", "endpoint": "http://hook.example"}]),
     "alarms.subscriptions[0]", ["an https:// URL"]),
    ("unknown-protocol", set_path("alarms.subscriptions", [{"protocol": "sms", "endpoint": "+5511999999999"}]),
     "alarms.subscriptions[0].protocol", ["'email'", "'lambda'"]),
    ("subscriptions-without-topic", all_of(
        set_path("alarms.create_topic", False),
        set_path("alarms.topic_arns", [TOPIC.format(partition="aws", region="us-east-1")]),
        set_path("alarms.subscriptions", [{"protocol": "email", "endpoint": "ops@example.com"}])),
     "alarms", ["create_topic is false", "set create_topic: true"]),
    ("notifies-no-one", set_path("alarms.create_topic", False),
     "alarms", ["would notify no one", "topic_arns"]),
    ("not-a-topic-arn", set_path("alarms.topic_arns", ["arn:aws:sqs:us-east-1:123456789012:q"]),
     "alarms.topic_arns[0]", ["is not an SNS topic ARN", "arn:<aws|aws-cn|aws-us-gov>:sns:"]),
    ("topic-partition-not-the-regions", set_path("alarms.topic_arns", [TOPIC.format(partition="aws", region="us-gov-west-1")]),
     "alarms.topic_arns[0]", ["Region us-gov-west-1 is in partition aws-us-gov, not aws", "arn:aws-us-gov:sns:us-gov-west-1:"]),
    ("topic-twice", set_path("alarms.topic_arns", [TOPIC.format(partition="aws", region="us-east-1")] * 2),
     "alarms", ["listed twice"]),
    ("unknown-key", set_path("alarms.email", ["ops@example.com"]), "alarms.email", ["unknown key 'email'", "subscriptions, topic_arns"]),
]


@pytest.mark.parametrize("case,mutate,path,words", BAD, ids=[c[0] for c in BAD])
def test_bad_alarm_routing_is_an_error_at_its_field(case, mutate, path, words):
    problems = model_problems(mutate)
    lines = [msg for where, msg in problems if where == path]
    assert lines, problems
    for word in words:
        assert any(word in line for line in lines), (word, lines)


GOOD = [
    ("default", unchanged),
    ("all-protocols", set_path("alarms.subscriptions", [
        {"protocol": "email", "endpoint": "ops@example.com"},
        {"protocol": "email-json", "endpoint": "ops@example.com"},
        {"protocol": "https", "endpoint": "https://hooks.example.com/alarms"},
        {"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:123456789012:alarms"},
        {"protocol": "lambda", "endpoint": "arn:aws:lambda:us-east-1:123456789012:function:page-ops"}])),
    ("existing-topic-only", all_of(set_path("alarms.create_topic", False),
                                   set_path("alarms.topic_arns", [TOPIC.format(partition="aws", region="us-east-1")]))),
]


@pytest.mark.parametrize("case,mutate", GOOD, ids=[c[0] for c in GOOD])
def test_good_alarm_routing_loads(case, mutate):
    assert model_problems(mutate) == []


def test_stage_creates_its_topic_and_notifies_ok(stage_cfg):
    assert stage_cfg.alarms.create_topic and stage_cfg.alarms.notify_ok
    assert stage_cfg.alarms.topic_arns == []
