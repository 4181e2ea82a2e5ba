"""Preflight checks of where the alarms go (env file `alarms`, modules/notifications.py) and of the one
account-wide resource the scheduled-failure alarms need (modules/schedule_failures.py).

  - every `alarms.topic_arns` topic exists, and CloudWatch can publish to it: a topic encrypted with a KMS key
    needs a key whose policy lets cloudwatch.amazonaws.com use it (kms:Decrypt, kms:GenerateDataKey*), and the
    AWS managed key alias/aws/sns can never be one (its policy cannot be changed). SNS developer guide,
    "Key management", section "Enable compatibility between event sources from AWS services and encrypted
    topics". That each topic is in the stack's Region is a rule of the env file (modules/config/rules/alarms.py:
    an alarm notifies topics of its own Region only), refused before preflight runs.
  - a created topic with no `subscriptions` and no `topic_arns`: the alarms reach no one (a warning).
  - the stack's CloudWatch Logs resource policy (EventBridge writes failed scheduled runs to a log group) fits
    in the account's 10 per Region ("CloudWatch Logs quotas": resource policies, 10 per Region per account, not
    adjustable; PutResourcePolicy answers LimitExceededException beyond).
"""

from __future__ import annotations

import fnmatch
import json

from modules.commands.preflight.findings import ACCESS_DENIED_CODES, FAIL, OK, WARN, Aws, Finding, error_code, per_item
from modules.config import EnvConfig, Kind
from modules.config.alarms import CLOUDWATCH_KEY_ACTIONS, CLOUDWATCH_PRINCIPAL
from modules.naming import scheduled_failures_policy_name

AWS_MANAGED_SNS_KEY = "alias/aws/sns"
# The KMS calls made for CloudWatch when it publishes to an encrypted topic; a policy may grant them as written
# or through the documented kms:GenerateDataKey* pattern.
CLOUDWATCH_KEY_CALLS = ("kms:Decrypt", "kms:GenerateDataKey")
KEY_POLICY_STATEMENT = (f"an Allow statement for the service principal {CLOUDWATCH_PRINCIPAL} with "
                        f"{' and '.join(CLOUDWATCH_KEY_ACTIONS)}")
LOGS_RESOURCE_POLICIES_PER_REGION = 10  # CloudWatch Logs quotas: resource policies per Region per account


# ------------------------------------------------------------------ existing topics (alarms.topic_arns)
def check_alarm_topics(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    return per_item(cfg.alarms.topic_arns, _topic_check, "sns:GetTopicAttributes",
                    lambda arn: _check_topic(cfg, aws, arn))


def _topic_check(arn: str) -> str:
    return f"alarm topic {arn.rsplit(':', 1)[-1]}"


def _check_topic(cfg: EnvConfig, aws: Aws, arn: str) -> Finding:
    check = _topic_check(arn)
    try:
        attributes = aws.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"]
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) not in ("NotFound", "NotFoundException"):  # SNS's query protocol says NotFound
            raise
        return Finding(FAIL, check, f"{arn} does not exist in {cfg.region}: the alarms would notify nothing there; "
                                    "create it, or remove it from alarms.topic_arns")
    key = attributes.get("KmsMasterKeyId")
    if not key:
        return Finding(OK, check, f"{arn} exists (not encrypted: CloudWatch may publish)")
    return _check_topic_key(cfg, aws, check, arn, key)


def _is_aws_managed_sns_key(key: str) -> bool:
    return key == AWS_MANAGED_SNS_KEY or key.endswith(f":{AWS_MANAGED_SNS_KEY}")


def _check_topic_key(cfg: EnvConfig, aws: Aws, check: str, arn: str, key: str) -> Finding:
    """The topic's KMS key lets CloudWatch encrypt what it publishes: a customer managed key, enabled, whose key
    policy grants the CloudWatch service principal the actions it needs."""
    managed = (f"{arn} is encrypted with the AWS managed key {AWS_MANAGED_SNS_KEY}, whose key policy cannot be "
               f"changed to let {CLOUDWATCH_PRINCIPAL} use it: CloudWatch cannot publish to it, so no alarm reaches "
               "anyone; encrypt the topic with a customer managed key whose policy has "
               f"{KEY_POLICY_STATEMENT} (SNS developer guide, \"Key management\")")
    if _is_aws_managed_sns_key(key):
        return Finding(FAIL, check, managed)
    kms = aws.client("kms")
    unread = (f"{arn} is encrypted with {key}; check by hand that its key policy has {KEY_POLICY_STATEMENT}, or "
              "CloudWatch cannot publish the alarms to it")
    try:
        metadata = kms.describe_key(KeyId=key)["KeyMetadata"]
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) in ACCESS_DENIED_CODES:
            return Finding(WARN, check, f"{unread} ({error_code(exc)} on kms:DescribeKey)")
        if error_code(exc) == "NotFoundException":
            return Finding(FAIL, check, f"{arn} is encrypted with {key}, which does not exist: SNS cannot encrypt "
                                        "what is published to it; give the topic an existing customer managed key")
        raise
    if metadata.get("KeyManager") == "AWS":
        return Finding(FAIL, check, managed)
    if metadata.get("KeyState") != "Enabled":
        return Finding(FAIL, check, f"{arn} is encrypted with {metadata['Arn']}, which is {metadata.get('KeyState')}: "
                                    "SNS cannot encrypt what is published to it; enable the key or change the topic's")
    if metadata.get("AWSAccountId") and metadata["AWSAccountId"] != aws.account():
        # GetKeyPolicy does not work across accounts (AWS KMS API reference, "Cross-account use: No")
        return Finding(WARN, check, f"{unread} (the key is in account {metadata['AWSAccountId']}: its policy can be "
                                    "read there only)")
    try:
        policy = kms.get_key_policy(KeyId=metadata["Arn"], PolicyName="default")["Policy"]
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) in ACCESS_DENIED_CODES:
            return Finding(WARN, check, f"{unread} ({error_code(exc)} on kms:GetKeyPolicy)")
        raise
    grants = {call: _grant(policy, CLOUDWATCH_PRINCIPAL, call) for call in CLOUDWATCH_KEY_CALLS}
    missing = [call for call, grant in grants.items() if grant == NOT_GRANTED]
    if missing:
        return Finding(FAIL, check, f"the key policy of {metadata['Arn']} (encrypting {arn}) does not let "
                                    f"{CLOUDWATCH_PRINCIPAL} use {', '.join(missing)}: CloudWatch cannot publish to "
                                    f"the topic, so no alarm reaches anyone; add {KEY_POLICY_STATEMENT} "
                                    "(aws kms put-key-policy; SNS developer guide, \"Key management\")")
    if any(grant == MAYBE_GRANTED for grant in grants.values()):
        return Finding(WARN, check, f"the key policy of {metadata['Arn']} (encrypting {arn}) lets "
                                    f"{CLOUDWATCH_PRINCIPAL} use {', '.join(CLOUDWATCH_KEY_CALLS)} only under a "
                                    "Condition, through NotAction/NotPrincipal, or next to a Deny that may apply, "
                                    "which preflight does not evaluate: check by hand that an alarm's publish "
                                    "meets them, or CloudWatch cannot publish to the topic")
    return Finding(OK, check, f"{arn} exists; its key {metadata['Arn']} lets {CLOUDWATCH_PRINCIPAL} use "
                              f"{', '.join(CLOUDWATCH_KEY_CALLS)}")


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


GRANTED, MAYBE_GRANTED, NOT_GRANTED = "granted", "maybe", "not granted"


def _grant(policy_json: str, service: str, call: str) -> str:
    """Whether the key policy lets the service principal make `call` (IAM action names: case-insensitive, * and ?
    wildcards): GRANTED by an unconditional Allow naming it (or every principal) with no Deny that may apply;
    NOT_GRANTED without any Allow, or with an unconditional Deny; MAYBE_GRANTED when it hangs on what preflight
    does not evaluate (a Condition, NotAction/NotPrincipal, a conditional Deny)."""
    allowed, unsure = False, False
    for statement in _listed_statements(json.loads(policy_json).get("Statement")):
        if not _may_apply(statement, service, call):
            continue
        exact = not ({"Condition", "NotAction", "NotPrincipal"} & statement.keys())
        if statement.get("Effect") == "Deny":
            if exact:
                return NOT_GRANTED
            unsure = True
        elif statement.get("Effect") == "Allow":
            allowed, unsure = True, unsure or not exact
    if not allowed:
        return NOT_GRANTED
    return MAYBE_GRANTED if unsure else GRANTED


def _may_apply(statement: dict, service: str, call: str) -> bool:
    """The statement names the service principal (Principal "*", {"AWS": "*"}, its Service; any NotPrincipal not
    listing it) and the call (an Action pattern matching it, or a NotAction list none of whose patterns does)."""
    def matches(patterns) -> bool:
        return any(fnmatch.fnmatchcase(call.lower(), pattern.lower()) for pattern in _listed(patterns))

    if "NotPrincipal" in statement:
        named = statement["NotPrincipal"]
        applies_to = not (named == "*" or service in _listed((named or {}).get("Service")))
    else:
        principal = statement.get("Principal")
        named = ["*"] if principal == "*" else [*_listed((principal or {}).get("Service")),
                                                 *[p for p in _listed((principal or {}).get("AWS")) if p == "*"]]
        applies_to = any(p in ("*", service) for p in named)
    if "NotAction" in statement:
        return applies_to and not matches(statement["NotAction"])
    return applies_to and matches(statement.get("Action"))


def _listed_statements(value) -> list[dict]:
    return [value] if isinstance(value, dict) else list(value or [])


# ------------------------------------------------------------------ a created topic nobody is subscribed to
def check_alarm_recipients(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    """No AWS call: the env file alone says whether anyone gets the alarms (an email subscription still has to
    be confirmed from the mail SNS sends, which no check can see)."""
    spec = cfg.alarms
    if spec.subscriptions or spec.topic_arns or not spec.create_topic:
        targets = [f"{len(spec.subscriptions)} subscription(s) to {cfg.name}-alarms"] if spec.create_topic else []
        targets += [f"{len(spec.topic_arns)} existing topic(s)"] if spec.topic_arns else []
        return [Finding(OK, "alarm recipients", f"the alarms notify {' and '.join(targets)}")]
    return [Finding(WARN, "alarm recipients",
                    f"the stack creates the topic {cfg.name}-alarms, but alarms.subscriptions is empty and "
                    "alarms.topic_arns lists no topic: every alarm will fire into a topic nobody is subscribed to. Add "
                    "a subscription to the env file (alarms.subscriptions: [{protocol: email, endpoint: "
                    "ops@example.com}], then confirm the mail SNS sends), or subscribe after the deploy (aws sns "
                    "subscribe --topic-arn <output alarm_topic_arn> --protocol email --notification-endpoint "
                    "ops@example.com)")]


# ------------------------------------------------------------------ CloudWatch Logs resource policy quota
# AWS WAF writes its own account-level policy when a web ACL logs to CloudWatch Logs: the provider's
# aws_wafv2_web_acl_logging_configuration documents it ("tries to create or update a generic Log Resource Policy
# named AWSWAF-LOGS"), and modules/waf.py relies on it.
WAF_LOGS_POLICY = "AWSWAF-LOGS"


def policies_the_deploy_adds(cfg: EnvConfig) -> list[str]:
    """The account-level CloudWatch Logs resource policies this stack's deploy needs: its own, letting EventBridge
    write failed scheduled runs to their log group (modules/schedule_failures.py), and WAF's (modules/waf.py)."""
    needed = [scheduled_failures_policy_name(cfg.name)] if any(
        s.kind == Kind.scheduled for s in cfg.task_owners().values()) else []
    return needed + ([WAF_LOGS_POLICY] if cfg.alb.waf.enabled else [])


def check_log_resource_policies(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    """Resource-scoped policies (set on one log group, policyScope RESOURCE) are not counted: the quota of 10 per
    Region is the account-level ones' (PutResourcePolicy: "a maximum of 10 policies without resourceARN")."""
    needed = policies_the_deploy_adds(cfg)
    if not needed:
        return []
    return per_item([needed], lambda _: "logs resource policies", "logs:DescribeResourcePolicies",
                    lambda names: _resource_policy_room(cfg, aws, names))


def _resource_policy_room(cfg: EnvConfig, aws: Aws, needed: list[str]) -> Finding:
    check, limit = "logs resource policies", LOGS_RESOURCE_POLICIES_PER_REGION
    pages = aws.client("logs").get_paginator("describe_resource_policies").paginate()
    names = sorted(p["policyName"] for page in pages for p in page.get("resourcePolicies", [])
                   if p.get("policyScope", "ACCOUNT") == "ACCOUNT")
    existing = [name for name in needed if name in names]
    new = [name for name in needed if name not in names]
    reused = f"{', '.join(existing)} exist(s) (updated in place); " if existing else ""
    if len(names) + len(new) > limit:
        return Finding(FAIL, check, f"{len(names)} of the {limit} CloudWatch Logs resource policies this account may "
                                    f"have in {cfg.region} exist ({', '.join(names)}) and the deploy adds "
                                    f"{', '.join(new)} ({_why(new, cfg)}): it would fail with "
                                    "LimitExceededException and the quota cannot be raised; delete what is no longer "
                                    f"needed (aws logs delete-resource-policy --region {cfg.region} --policy-name "
                                    "<name>) or merge two into one")
    adds = f"room for {', '.join(new)}" if new else "nothing to add"
    return Finding(OK, check, f"{reused}{len(names)} of {limit} used in {cfg.region}: {adds}")


def _why(new: list[str], cfg: EnvConfig) -> str:
    reasons = {scheduled_failures_policy_name(cfg.name): "EventBridge writes failed scheduled runs to their log group",
               WAF_LOGS_POLICY: "AWS WAF adds it to log the web ACL's requests"}
    return "; ".join(reasons[name] for name in new)
