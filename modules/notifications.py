"""Notifications: where every CloudWatch alarm of the stack sends ALARM (and OK) — env file `alarms`.

  - with `create_topic` (the default): an SNS topic `<name>-alarms` encrypted with its own KMS key, and the
    env file's `subscriptions` on it. CloudWatch cannot publish to a topic encrypted with the AWS managed
    key (alias/aws/sns: its policy cannot be changed); a customer managed key whose policy lets the
    CloudWatch service principal use it is what the SNS developer guide documents ("Enable compatibility
    between event sources from AWS services and encrypted topics").
  - `topic_arns`: existing topics (another team's pager, a chat integration), notified as well.

Exposes `alarm_actions` and `ok_actions` (lists of ARNs, empty `ok_actions` without `notify_ok`) and
`topic_arn` (the created topic, or None).
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from modules.config import EnvConfig
from modules.config.defaults import DEFAULT_KMS_DELETION_WINDOW_DAYS
from modules.config.alarms import CLOUDWATCH_KEY_ACTIONS, CLOUDWATCH_PRINCIPAL
from modules.network import flat_output


class Notifications(Construct):
    def __init__(self, scope: Construct, id_: str, *, cfg: EnvConfig, account_id: str, partition: str):
        super().__init__(scope, id_)
        spec = cfg.alarms
        self.topic_arn: str | None = None
        if spec.create_topic:
            key = self._key(cfg, account_id, partition)
            topic = SnsTopic(self, "topic", name=f"{cfg.name}-alarms", kms_master_key_id=key.arn,
                             display_name=f"{cfg.name} alarms")
            self.topic_arn = topic.arn
            for index, sub in enumerate(spec.subscriptions):
                SnsTopicSubscription(self, f"subscription_{index}", topic_arn=topic.arn,
                                     protocol=sub.protocol, endpoint=sub.endpoint)
            flat_output(self, "alarm_topic_arn", topic.arn,
                        "SNS topic every alarm of the stack notifies (subscribe to it)")
        self.alarm_actions: list[str] = ([self.topic_arn] if self.topic_arn else []) + list(spec.topic_arns)
        self.ok_actions: list[str] = list(self.alarm_actions) if spec.notify_ok else []

    def _key(self, cfg: EnvConfig, account_id: str, partition: str) -> KmsKey:
        principals = DataAwsIamPolicyDocumentStatementPrincipals
        policy = DataAwsIamPolicyDocument(self, "key_policy", statement=[
            # the account's default key statement: the root administers the key, IAM policies delegate use
            # (in a key policy "*" is this key). The condition states what the root principal already means,
            # this account's principals only, so a policy scanner does not read kms:* as unconstrained.
            DataAwsIamPolicyDocumentStatement(
                sid="AccountAdministersKeyAndDelegatesUseToIam", actions=["kms:*"], resources=["*"],
                principals=[principals(type="AWS", identifiers=[f"arn:{partition}:iam::{account_id}:root"])],
                condition=[DataAwsIamPolicyDocumentStatementCondition(
                    test="StringEquals", variable="aws:PrincipalAccount", values=[account_id])]),
            # CloudWatch encrypts the alarm message it publishes (SNS developer guide, key management:
            # kms:Decrypt + kms:GenerateDataKey* for the service principal), for this account's alarms only:
            # confused-deputy guard on both keys CloudWatch passes (the alarm's ARN and its account)
            DataAwsIamPolicyDocumentStatement(
                sid="CloudWatchAlarmsPublishToTheTopic", actions=list(CLOUDWATCH_KEY_ACTIONS),
                resources=["*"], principals=[principals(type="Service", identifiers=[CLOUDWATCH_PRINCIPAL])],
                condition=[
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable="aws:SourceAccount", values=[account_id]),
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="ArnLike", variable="aws:SourceArn",
                        values=[f"arn:{partition}:cloudwatch:{cfg.region}:{account_id}:alarm:*"]),
                ]),
        ])
        key = KmsKey(self, "key", description=f"{cfg.name}: the alarm notification topic (SNS)",
                     enable_key_rotation=True, deletion_window_in_days=DEFAULT_KMS_DELETION_WINDOW_DAYS,
                     policy=policy.json)
        KmsAlias(self, "key_alias", name=f"alias/{cfg.name}/alarms", target_key_id=key.key_id)
        return key


def stack_alarm(scope: Construct, id_: str, notifications: Notifications | None, *,
                extra_actions: Sequence[str] = (), **alarm) -> CloudwatchMetricAlarm:
    """A one-period alarm on `threshold` (default 1) or more of a metric, notifying the stack's targets (and
    `extra_actions`) on ALARM and, with alarms.notify_ok, on OK. No data point means nothing happened: the
    metrics alarmed on are counts of failures, published only when there is one."""
    actions = list(dict.fromkeys([*(notifications.alarm_actions if notifications else []), *extra_actions]))
    ok = list(dict.fromkeys([*(notifications.ok_actions if notifications else []), *extra_actions]))
    defaults = dict(evaluation_periods=1, threshold=1, comparison_operator="GreaterThanOrEqualToThreshold",
                    treat_missing_data="notBreaching")
    return CloudwatchMetricAlarm(scope, id_, **{**defaults, **alarm}, alarm_actions=actions or None,
                                 ok_actions=ok or None)
