"""modules/commands/preflight/alarms.py against moto in-process: the existing alarm topics (there, and with a
KMS key CloudWatch may use), alarms that reach nobody, the CloudWatch Logs resource-policy quota.

moto's KMS makes every key customer managed (even its alias/aws/* defaults), so the AWS managed key found by
its ARN, and a GetKeyPolicy the caller may not call, run on botocore's Stubber with AWS-shaped responses."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from modules.commands.preflight import alarms
from modules.config import ConfigError
from modules.naming import scheduled_failures_policy_name
from preflight_support import ACCOUNT, REGION, aws, env_cfg, levels  # noqa: F401  (aws: the fixture)

ROOT_ADMINISTERS = {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*", "Resource": "*"}
CLOUDWATCH_USES = {"Sid": "CloudWatch", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                   "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"}


def with_topics(*arns: str, subscriptions: list | None = None):
    def mutate(data):
        data["alarms"]["topic_arns"] = list(arns)
        if subscriptions is not None:
            data["alarms"]["subscriptions"] = subscriptions
    return mutate


def topic(name: str, key: str | None = None) -> str:
    attributes = {"KmsMasterKeyId": key} if key else {}
    return boto3.client("sns", region_name=REGION).create_topic(Name=name, Attributes=attributes)["TopicArn"]


def key(*statements: dict) -> str:
    policy = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return boto3.client("kms", region_name=REGION).create_key(Policy=policy)["KeyMetadata"]["Arn"]


# ------------------------------------------------------------------ existing topics
def test_existing_topics_cloudwatch_can_publish_to_pass(aws, tmp_path):
    plain = topic("pager")
    encrypted = topic("chat", key(ROOT_ADMINISTERS, CLOUDWATCH_USES))
    everything = topic("ops", key(ROOT_ADMINISTERS, {**CLOUDWATCH_USES, "Action": "kms:*"}))
    # the two calls SNS makes, named exactly instead of through the documented kms:GenerateDataKey* pattern
    exact = topic("exact", key(ROOT_ADMINISTERS, {**CLOUDWATCH_USES, "Action": ["kms:GenerateDataKey", "kms:Decrypt"]}))
    anyone = topic("anyone", key(ROOT_ADMINISTERS, {**CLOUDWATCH_USES, "Principal": {"AWS": "*"}}))
    five = with_topics(plain, encrypted, everything, exact, anyone)
    # five existing topics are all the actions an alarm takes (CloudWatch: 5): no topic of the stack's own
    cfg = env_cfg(tmp_path, lambda data: [five(data), data["alarms"].update(create_topic=False)])
    findings = alarms.check_alarm_topics(cfg, aws)
    assert levels(findings) == ["ok"] * 5, findings
    assert findings[0].check == "alarm topic pager" and "not encrypted" in findings[0].text
    assert "lets cloudwatch.amazonaws.com use kms:Decrypt, kms:GenerateDataKey" in findings[1].text


def test_a_grant_under_a_condition_or_a_conditional_deny_is_a_warning_and_a_plain_deny_fails(aws, tmp_path):
    """Conditions are not evaluated: an Allow that hangs on one, or a Deny that may apply, is for a person to read."""
    condition = {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    deny = {"Sid": "NoCloudWatch", "Effect": "Deny", "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "kms:Decrypt", "Resource": "*"}
    conditional = topic("conditional", key(ROOT_ADMINISTERS, {**CLOUDWATCH_USES, "Condition": condition}))
    maybe_denied = topic("maybe-denied", key(ROOT_ADMINISTERS, CLOUDWATCH_USES, {**deny, "Condition": condition}))
    denied = topic("denied", key(ROOT_ADMINISTERS, CLOUDWATCH_USES, deny))
    findings = alarms.check_alarm_topics(env_cfg(tmp_path, with_topics(conditional, maybe_denied, denied)), aws)
    assert levels(findings) == ["warn", "warn", "FAIL"], findings
    assert "only under a Condition" in findings[0].text and "check by hand" in findings[1].text
    assert "does not let cloudwatch.amazonaws.com use kms:Decrypt:" in findings[2].text


def test_alarm_topic_missing_or_with_a_key_cloudwatch_cannot_use_fails(aws, tmp_path):
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT}:gone"
    managed = topic("managed", "alias/aws/sns")
    root_only = topic("root-only", key(ROOT_ADMINISTERS))  # the console's default key policy
    decrypt_only = topic("decrypt-only", key(ROOT_ADMINISTERS, {**CLOUDWATCH_USES, "Action": "kms:Decrypt"}))
    cfg = env_cfg(tmp_path, with_topics(missing, managed, root_only, decrypt_only))
    gone, aws_key, root, decrypt = alarms.check_alarm_topics(cfg, aws)
    assert gone.level == "FAIL" and f"{missing} does not exist in {REGION}" in gone.text
    assert aws_key.level == "FAIL" and "AWS managed key alias/aws/sns" in aws_key.text
    assert "CloudWatch cannot publish" in aws_key.text
    assert root.level == "FAIL"
    assert "does not let cloudwatch.amazonaws.com use kms:Decrypt, kms:GenerateDataKey:" in root.text
    assert decrypt.level == "FAIL" and "use kms:GenerateDataKey:" in decrypt.text


def stubbed_kms(describe: dict, policy_error: str | None = None) -> tuple[object, Stubber]:
    kms = boto3.client("kms", region_name=REGION)
    stub = Stubber(kms)
    stub.add_response("describe_key", {"KeyMetadata": describe})
    if policy_error:
        stub.add_client_error("get_key_policy", policy_error, http_status_code=400)
    stub.activate()
    return kms, stub


def key_metadata(manager: str) -> dict:
    """DescribeKey's KeyMetadata as AWS answers it (fields from the KMS API reference)."""
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    return {"AWSAccountId": ACCOUNT, "KeyId": key_id, "Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}",
            "Enabled": True, "KeyState": "Enabled", "KeyManager": manager, "KeyUsage": "ENCRYPT_DECRYPT",
            "KeySpec": "SYMMETRIC_DEFAULT", "Origin": "AWS_KMS"}


def test_the_aws_managed_key_named_by_its_arn_fails(aws, tmp_path):
    """A topic may name the AWS managed key by its key ARN: DescribeKey's KeyManager AWS says what it is."""
    metadata = key_metadata("AWS")
    arn = topic("managed-by-arn", metadata["Arn"])
    aws.clients["kms"], stub = stubbed_kms(metadata)
    [finding] = alarms.check_alarm_topics(env_cfg(tmp_path, with_topics(arn)), aws)
    stub.assert_no_pending_responses()
    assert finding.level == "FAIL" and "AWS managed key alias/aws/sns" in finding.text


def test_a_key_policy_the_caller_may_not_read_is_a_warning_naming_what_to_check(aws, tmp_path):
    metadata = key_metadata("CUSTOMER")
    arn = topic("other-teams", metadata["Arn"])
    aws.clients["kms"], stub = stubbed_kms(metadata, policy_error="AccessDeniedException")
    [finding] = alarms.check_alarm_topics(env_cfg(tmp_path, with_topics(arn)), aws)
    assert finding.level == "warn" and "AccessDeniedException on kms:GetKeyPolicy" in finding.text
    assert ("an Allow statement for the service principal cloudwatch.amazonaws.com with kms:Decrypt and "
            "kms:GenerateDataKey*") in finding.text


def test_a_key_in_another_account_is_a_warning_without_reading_its_policy(aws, tmp_path):
    """GetKeyPolicy does not work across accounts (KMS API reference): no call, a line saying where to look."""
    metadata = {**key_metadata("CUSTOMER"), "AWSAccountId": "210987654321"}
    metadata["Arn"] = metadata["Arn"].replace(ACCOUNT, "210987654321")
    arn = topic("shared-pager", metadata["Arn"])
    aws.clients["kms"], stub = stubbed_kms(metadata)  # a get_key_policy call would find no stubbed answer
    [finding] = alarms.check_alarm_topics(env_cfg(tmp_path, with_topics(arn)), aws)
    stub.assert_no_pending_responses()
    assert finding.level == "warn" and "the key is in account 210987654321" in finding.text


def test_a_topic_in_another_region_is_refused_before_preflight_runs(tmp_path):
    """An alarm notifies topics of its own Region only: the env file rule refuses it at load."""
    with pytest.raises(ConfigError, match="an alarm can notify only topics of its own Region"):
        env_cfg(tmp_path, with_topics(f"arn:aws:sns:eu-west-1:{ACCOUNT}:pager"))


# ------------------------------------------------------------------ alarms nobody receives
def test_a_created_topic_without_subscriptions_or_topics_is_a_warning(aws, tmp_path):
    cfg = env_cfg(tmp_path)  # stage as shipped: subscriptions [] and no topic_arns
    [finding] = alarms.check_alarm_recipients(cfg, aws)
    assert finding.level == "warn" and "every alarm will fire into a topic nobody is subscribed to" in finding.text
    assert "alarms.subscriptions: [{protocol: email" in finding.text and "aws sns subscribe" in finding.text


def test_alarms_with_a_subscription_or_an_existing_topic_pass(aws, tmp_path):
    mailed = env_cfg(tmp_path, with_topics(subscriptions=[{"protocol": "email", "endpoint": "ops@example.com"}]))
    [finding] = alarms.check_alarm_recipients(mailed, aws)
    assert finding.level == "ok" and "1 subscription(s) to araquem-stage-alarms" in finding.text
    paged = env_cfg(tmp_path, with_topics(f"arn:aws:sns:{REGION}:{ACCOUNT}:pager"))
    [finding] = alarms.check_alarm_recipients(paged, aws)
    assert finding.level == "ok" and "1 existing topic(s)" in finding.text


# ------------------------------------------------------------------ CloudWatch Logs resource policies
def resource_policies(*names: str) -> None:
    logs = boto3.client("logs", region_name=REGION)
    for name in names:
        logs.put_resource_policy(policyName=name, policyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "route53.amazonaws.com"}, "Action": "logs:PutLogEvents",
                "Resource": "*"}]}))


def no_scheduled_tasks(data):
    crons = {n for n, s in data["services"].items() if s.get("kind") == "scheduled"}
    data["services"] = {n: s for n, s in data["services"].items() if n not in crons}
    for svc in data["services"].values():
        svc["allow_from"] = [n for n in svc.get("allow_from", []) if n not in crons]


def test_room_for_the_stacks_and_wafs_log_resource_policies_or_a_redeploy_passes(aws, tmp_path):
    cfg = env_cfg(tmp_path)  # stage: scheduled tasks (the stack's policy) and a WAF that logs (AWS WAF's policy)
    assert cfg.alb.waf.enabled
    resource_policies(*(f"other-{i}" for i in range(8)))
    [finding] = alarms.check_log_resource_policies(cfg, aws)
    assert finding.level == "ok"
    assert f"8 of 10 used in {REGION}: room for araquem-stage-scheduled-failures, AWSWAF-LOGS" in finding.text
    resource_policies(scheduled_failures_policy_name(cfg.name), "AWSWAF-LOGS")  # a redeploy: both exist
    [finding] = alarms.check_log_resource_policies(cfg, aws)
    assert finding.level == "ok" and "AWSWAF-LOGS exist(s) (updated in place); 10 of 10" in finding.text


def test_no_room_for_what_the_deploy_adds_fails(aws, tmp_path):
    cfg = env_cfg(tmp_path)
    resource_policies(*(f"other-{i}" for i in range(9)))  # 9 + the stack's + WAF's = 11
    [finding] = alarms.check_log_resource_policies(cfg, aws)
    assert finding.level == "FAIL" and "9 of the 10 CloudWatch Logs resource policies" in finding.text
    assert "adds araquem-stage-scheduled-failures, AWSWAF-LOGS" in finding.text and "AWS WAF adds it" in finding.text
    assert "LimitExceededException" in finding.text and "aws logs delete-resource-policy" in finding.text
    # without scheduled tasks only WAF's policy is added: 9 + 1 fits
    [finding] = alarms.check_log_resource_policies(env_cfg(tmp_path, no_scheduled_tasks), aws)
    assert finding.level == "ok" and "room for AWSWAF-LOGS" in finding.text


def test_nothing_to_add_nothing_checked(aws, tmp_path):
    def no_waf(data):
        no_scheduled_tasks(data)
        data["alb"]["waf"]["enabled"] = False
    assert alarms.check_log_resource_policies(env_cfg(tmp_path, no_waf), aws) == []
