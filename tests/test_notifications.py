"""modules/notifications.py: every alarm the stack makes notifies the env file's `alarms` targets (issue 16:
alarms had no actions in stage), through a KMS-encrypted topic CloudWatch can publish to."""

from __future__ import annotations

import pytest

from conftest import variant

EXISTING = "arn:aws:sns:us-east-1:123456789012:ops-pager"
SUBSCRIPTIONS = [{"protocol": "email", "endpoint": "ops@example.com"},
                 {"protocol": "https", "endpoint": "https://hooks.example.com/alarms"}]


def _with_subscriptions(data):
    data["alarms"] = {"subscriptions": SUBSCRIPTIONS, "topic_arns": [EXISTING], "notify_ok": False}


EXTRA = "arn:aws:sns:us-east-1:123456789012:cron-owner"


def _existing_topic_only(data):
    data["alarms"] = {"create_topic": False, "topic_arns": [EXISTING]}
    data["services"]["quality-cron"]["failure_alarm"] = {"alarm_actions": [EXTRA, EXISTING]}


@pytest.fixture(scope="module")
def subscribed(synths):
    return synths.of_data(variant(_with_subscriptions))


@pytest.fixture(scope="module")
def existing_only(synths):
    return synths.of_data(variant(_existing_topic_only))


def topic_ref(stack) -> str:
    [(key, _)] = stack.resources("aws_sns_topic").items()
    return f"${{aws_sns_topic.{key}.arn}}"


def test_every_stage_alarm_notifies_the_stack_topic_on_alarm_and_ok(stage):
    alarms = stage.resources("aws_cloudwatch_metric_alarm").values()
    assert len(alarms) >= 8  # 2 cron log alarms, 2 failed-run alarms, 4 Scheduler/dead-letter alarms
    for alarm in alarms:
        assert alarm["alarm_actions"] == [topic_ref(stage)], alarm["alarm_name"]
        assert alarm["ok_actions"] == [topic_ref(stage)], alarm["alarm_name"]


def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use(stage):
    [topic] = stage.resources("aws_sns_topic").values()
    assert topic["name"] == "araquem-stage-alarms"
    [(key_id, key)] = [(k, v) for k, v in stage.resources("aws_kms_key").items() if "notifications" in k]
    assert topic["kms_master_key_id"] == f"${{aws_kms_key.{key_id}.arn}}"  # not alias/aws/sns: CloudWatch can't use it
    assert key["enable_key_rotation"] is True
    [doc] = [d for k, d in stage.data("aws_iam_policy_document").items() if "notifications_key_policy" in k]
    statements = {s["sid"]: s for s in doc["statement"]}
    root = statements["AccountAdministersKeyAndDelegatesUseToIam"]  # AWS's default key statement
    assert root["principals"][0]["identifiers"][0].endswith(":root") and root["actions"] == ["kms:*"]
    assert root["condition"][0]["variable"] == "aws:PrincipalAccount"  # this account's principals only
    cloudwatch = statements["CloudWatchAlarmsPublishToTheTopic"]
    assert cloudwatch["principals"] == [{"type": "Service", "identifiers": ["cloudwatch.amazonaws.com"]}]
    assert sorted(cloudwatch["actions"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    account, source = cloudwatch["condition"]
    assert (account["test"], account["variable"]) == ("StringEquals", "aws:SourceAccount")  # this account's alarms
    assert "${data.aws_caller_identity." in account["values"][0]
    assert (source["test"], source["variable"]) == ("ArnLike", "aws:SourceArn")  # ... and only its alarms
    assert source["values"][0].startswith("arn:${data.aws_partition.") and source["values"][0].endswith(
        ":cloudwatch:us-east-1:" + account["values"][0] + ":alarm:*")
    assert stage.json["output"]["alarm_topic_arn"]["value"] == topic_ref(stage)


def test_subscriptions_and_existing_topics_are_notified_and_ok_can_be_silenced(subscribed):
    subs = sorted((s["protocol"], s["endpoint"], s["topic_arn"])
                  for s in subscribed.resources("aws_sns_topic_subscription").values())
    assert subs == sorted((s["protocol"], s["endpoint"], topic_ref(subscribed)) for s in SUBSCRIPTIONS)
    for alarm in subscribed.resources("aws_cloudwatch_metric_alarm").values():
        assert alarm["alarm_actions"] == [topic_ref(subscribed), EXISTING]
        assert "ok_actions" not in alarm  # notify_ok: false


def test_an_existing_topic_alone_creates_no_topic_or_key(existing_only):
    assert not existing_only.resources("aws_sns_topic")
    assert not [k for k in existing_only.resources("aws_kms_key") if "notifications" in k]
    assert "alarm_topic_arn" not in existing_only.json.get("output", {})
    alarms = {a["alarm_name"]: a for a in existing_only.resources("aws_cloudwatch_metric_alarm").values()}
    own = alarms.pop("araquem-stage-quality-cron-failures")
    assert own["alarm_actions"] == own["ok_actions"] == [EXISTING, EXTRA]  # its own extra action, each once
    for alarm in alarms.values():
        assert alarm["alarm_actions"] == alarm["ok_actions"] == [EXISTING]
