"""Alb: the internet-facing Application Load Balancer in front of `alb.target` (and Grafana when exposed).

HTTPS listener with the certificate validated in the team's zone (`alb.domain`, modules/domain.py) or the
env file's `certificate_arn`, and its TLS policy; HTTP redirected to it (with `https: false`, a plain HTTP
listener forwards instead). Grafana exposure (seed §3.3):
  internal  no ALB rule; reachable from inside the VPC only (see docs/edge.md)
  vpn       a listener rule on `alb.grafana.host`, only for `alb.grafana.allowed_cidrs`
  sso       the same rule, preceded by the ALB's authenticate-oidc action; the client secret is read
            from an `existing` Secrets Manager secret at plan time (created with its value before the
            first deploy: rules.secrets_read_at_apply_exist_before_it), so it never appears in the JSON
Prometheus and Tempo are never behind the ALB.
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_elb_service_account import DataAwsElbServiceAccount
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.data_aws_secretsmanager_secret_version import DataAwsSecretsmanagerSecretVersion
from cdktf_cdktf_provider_aws.lb import Lb, LbAccessLogs
from cdktf_cdktf_provider_aws.lb_listener import (
    LbListener,
    LbListenerDefaultAction,
    LbListenerDefaultActionFixedResponse,
    LbListenerDefaultActionRedirect,
)
from cdktf_cdktf_provider_aws.lb_listener_rule import (
    LbListenerRule,
    LbListenerRuleAction,
    LbListenerRuleActionAuthenticateOidc,
    LbListenerRuleCondition,
)
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from constructs import Construct

from modules.config import EnvConfig
from modules.config.defaults import ALB_ACCESS_LOG_ABORTED_UPLOAD_DAYS, LB_NAME_MAX
from modules.config.defaults import (
    ALB_NOT_FOUND_BODY,
    ALB_RULE_CONDITION_VALUES_MAX,
    PUBLIC_PATH_RULE_PRIORITY_START,
)
from modules.config.edge import path_patterns
from modules.domain import Domain
from modules.naming import access_log_bucket_prefix, fit_name, load_balancer_name
from modules.network import Network, flat_output
from modules.secrets import Secrets
from modules.config.timeouts import alb_idle_timeout
from modules.security_groups import HTTP_PORT, HTTPS_PORT, SecurityGroups, grafana_via_alb

ACCESS_LOG_PREFIX = "alb"
GRAFANA_RULE_PRIORITY = 10
# Regions where ALB access logs are written by a regional ELB account (aws_elb_service_account knows it);
# regions opened since August 2022 have none and use the log-delivery service principal instead.
ELB_ACCOUNT_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-south-1",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-north-1",
    "me-south-1", "sa-east-1", "us-gov-west-1", "us-gov-east-1",
})
LOG_DELIVERY_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"


class Alb(Construct):
    """Exposes arn, dns_name, listener_arn, target_group_arn, grafana_target_group_arn (None unless exposed)
    and target_groups: {service: {container port: target group ARN}} for the ECS services to register."""

    def __init__(self, scope: Construct, id_: str, cfg: EnvConfig, network: Network, security: SecurityGroups,
                 secrets: Secrets | None = None, domain: Domain | None = None):
        super().__init__(scope, id_)
        self._cfg = cfg
        self._domain = domain
        alb_cfg = cfg.alb
        bucket, bucket_policy = self._access_log_bucket() if alb_cfg.access_logs else (None, None)

        lb = Lb(
            self, "alb", name=load_balancer_name(cfg.name, LB_NAME_MAX), load_balancer_type="application", internal=False,
            subnets=network.public_subnet_ids, security_groups=[security.alb_id],
            drop_invalid_header_fields=True,  # no request smuggling through malformed headers
            enable_deletion_protection=alb_cfg.deletion_protection, idle_timeout=alb_idle_timeout(cfg).value,
            access_logs=LbAccessLogs(bucket=bucket.bucket, prefix=ACCESS_LOG_PREFIX, enabled=True) if bucket else None,
            depends_on=[bucket_policy] if bucket_policy else None,  # the ALB checks it may write before enabling
        )
        self.dns_name: str = lb.dns_name
        self.arn: str = lb.arn
        self.arn_suffix: str = lb.arn_suffix  # the LoadBalancer dimension of AWS/ApplicationELB metrics

        target = alb_cfg.target
        api_tg = self._target_group("target", target.service, target.port, alb_cfg.health_check.path, network)
        self.target_group_arn: str = api_tg.arn
        self.target_groups: dict[str, dict[int, str]] = {target.service: {target.port: api_tg.arn}}
        self.target_group_suffixes: dict[str, str] = {target.service: api_tg.arn_suffix}  # TargetGroup dimension

        # Only the api's public paths are forwarded (alb.public_paths, one rule per 5 path patterns); anything
        # else, /metrics and /ops/* included, is answered here with a 404 and never reaches a task.
        not_found = LbListenerDefaultAction(type="fixed-response", fixed_response=LbListenerDefaultActionFixedResponse(
            content_type="text/plain", message_body=ALB_NOT_FOUND_BODY, status_code="404"))
        if alb_cfg.https:
            listener = LbListener(self, "https", load_balancer_arn=lb.arn, port=HTTPS_PORT, protocol="HTTPS",
                                  ssl_policy=alb_cfg.ssl_policy,
                                  # the validated certificate: the listener waits for ACM to issue it
                                  certificate_arn=domain.certificate_arn if domain else alb_cfg.certificate_arn,
                                  default_action=[not_found])
            LbListener(self, "http_redirect", load_balancer_arn=lb.arn, port=HTTP_PORT, protocol="HTTP",
                       default_action=[LbListenerDefaultAction(type="redirect", redirect=LbListenerDefaultActionRedirect(
                           protocol="HTTPS", port=str(HTTPS_PORT), status_code="HTTP_301"))])
        else:
            listener = LbListener(self, "http", load_balancer_arn=lb.arn, port=HTTP_PORT, protocol="HTTP",
                                  default_action=[not_found])
        self.listener_arn: str = listener.arn
        self.public_path_rules = self._public_paths(listener, api_tg)
        self._served_by(api_tg, listener)
        self.listener = listener  # ECS services with a load balancer depend on it (target group must be attached)

        self.grafana_target_group_arn: str | None = None
        grafana_rule = self._grafana(listener, network, secrets) if grafana_via_alb(cfg) else None
        # what attaches the target groups to the ALB: ECS refuses a target group no listener rule uses yet
        self.attachments = [listener, *self.public_path_rules, *([grafana_rule] if grafana_rule else [])]

        if domain:
            domain.alias_to(lb.dns_name, lb.zone_id)
        flat_output(self, "alb_dns_name", lb.dns_name, "public DNS name of the ALB" if domain else
                    "public DNS name of the ALB (point the API host at it)")

    @staticmethod
    def _served_by(target_group: LbTargetGroup, listener: LbListener) -> None:
        """State which listener serves a target group reached only through its rules: created after it, and a
        graph scanner (checkov CKV_AWS_378: HTTP to the targets is fine behind an HTTPS listener) sees the
        listener's protocol, as it did when the listener forwarded to the group itself."""
        address = f"{listener.terraform_resource_type}.{listener.friendly_unique_id}"
        target_group.depends_on = [*(target_group.depends_on or []), address]

    def _public_paths(self, listener: LbListener, target_group: LbTargetGroup) -> list[LbListenerRule]:
        """Forward rules for alb.public_paths: each prefix as `/p` and `/p/*` (ALB path patterns are
        case-sensitive, `*` any characters), ALB_RULE_CONDITION_VALUES_MAX values per rule (ELB quota)."""
        values = [v for prefix in self._cfg.alb.public_path_prefixes() for v in path_patterns(prefix)]
        chunks = [values[i:i + ALB_RULE_CONDITION_VALUES_MAX] for i in range(0, len(values), ALB_RULE_CONDITION_VALUES_MAX)]
        return [LbListenerRule(
            self, f"public_paths_{index}", listener_arn=listener.arn, priority=PUBLIC_PATH_RULE_PRIORITY_START + index,
            action=[LbListenerRuleAction(type="forward", target_group_arn=target_group.arn)],
            condition=[LbListenerRuleCondition(path_pattern={"values": chunk})],
        ) for index, chunk in enumerate(chunks)]

    def _target_group(self, id_: str, service: str, port: int, path: str, network: Network) -> LbTargetGroup:
        hc = self._cfg.alb.health_check
        return LbTargetGroup(
            self, id_, name=fit_name(f"{self._cfg.name}-{service}-{port}", LB_NAME_MAX), port=port, protocol="HTTP",
            target_type="ip",  # awsvpc tasks register their ENI addresses
            vpc_id=network.vpc_id,
            health_check=LbTargetGroupHealthCheck(
                enabled=True, path=path, interval=hc.interval, timeout=hc.timeout,
                healthy_threshold=hc.healthy_threshold,
                unhealthy_threshold=hc.unhealthy_threshold, matcher=hc.matcher, protocol="HTTP", port="traffic-port",
            ),
        )

    def _grafana(self, listener: LbListener, network: Network, secrets: Secrets | None) -> LbListenerRule:
        cfg = self._cfg
        grafana = cfg.alb.grafana
        host = self._domain.grafana_host if self._domain else grafana.host
        tg = self._target_group("grafana", grafana.service, grafana.port, grafana.health_check_path, network)
        self._served_by(tg, listener)
        self.grafana_target_group_arn = tg.arn
        self.target_groups.setdefault(grafana.service, {})[grafana.port] = tg.arn
        self.target_group_suffixes[grafana.service] = tg.arn_suffix

        actions = []
        if grafana.exposure == "sso":
            oidc = grafana.oidc
            # ELB API reference, AuthenticateOidcActionConfig: ClientSecret is required when the rule is
            # created and is a plain string (no Secrets Manager reference), so Terraform must hold the value.
            # Read at plan time: the value lives in state (encrypted in Terraform Cloud), never in the JSON.
            # The secret is `existing` (a rule): created with its value before the first deploy, so this read
            # never meets a secret the same apply has just created without a value (docs/edge.md).
            client_secret = DataAwsSecretsmanagerSecretVersion(
                self, "oidc_client_secret", secret_id=self._secret_id(oidc.client_secret, secrets))
            actions.append(LbListenerRuleAction(type="authenticate-oidc", order=1,
                                                authenticate_oidc=LbListenerRuleActionAuthenticateOidc(
                                                    issuer=oidc.issuer,
                                                    authorization_endpoint=oidc.authorization_endpoint,
                                                    token_endpoint=oidc.token_endpoint,
                                                    user_info_endpoint=oidc.user_info_endpoint,
                                                    client_id=oidc.client_id,
                                                    client_secret=client_secret.secret_string,
                                                    on_unauthenticated_request="authenticate")))
        actions.append(LbListenerRuleAction(type="forward", order=len(actions) + 1, target_group_arn=tg.arn))
        rule = LbListenerRule(
            self, "grafana_rule", listener_arn=listener.arn, priority=GRAFANA_RULE_PRIORITY, action=actions,
            condition=[LbListenerRuleCondition(host_header={"values": [host]}),
                       LbListenerRuleCondition(source_ip={"values": list(grafana.allowed_cidrs)})],
        )
        scheme = "https" if cfg.alb.https else "http"
        flat_output(self, "grafana_url", f"{scheme}://{host}", f"Grafana ({grafana.exposure})" if self._domain else
                    f"Grafana ({grafana.exposure}); point {host} at alb_dns_name")
        return rule

    def _secret_id(self, name: str, secrets: Secrets | None) -> str:
        if secrets is None:
            raise RuntimeError("Alb needs the Secrets construct for the sso client secret (compose order in stack.py)")
        return secrets.arn(name)

    def _access_log_bucket(self) -> tuple[S3Bucket, S3BucketPolicy]:
        """Encrypted, private, TLS-only, versioned bucket the region's ELB account may write access logs to."""
        cfg = self._cfg
        bucket = S3Bucket(self, "access_logs", bucket_prefix=access_log_bucket_prefix(cfg.name),
                          force_destroy=False)
        S3BucketPublicAccessBlock(self, "access_logs_public_access", bucket=bucket.id, block_public_acls=True,
                                  block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)
        S3BucketOwnershipControls(self, "access_logs_ownership", bucket=bucket.id,
                                  rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"))
        # ALB access logs support SSE-S3 only (not SSE-KMS)
        S3BucketServerSideEncryptionConfigurationA(
            self, "access_logs_sse", bucket=bucket.id,
            rule=[S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=(
                    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="AES256")))])
        # Versioning: a log deleted or overwritten by hand (e.g. to hide a request) survives as a noncurrent
        # version for the retention period. Lifecycle expiry turns current logs into noncurrent versions,
        # removed after the same period; S3 then removes the delete markers left alone by itself
        # (S3 user guide, "Managing delete markers"). AWS asks for the lifecycle after versioning.
        versioning = S3BucketVersioningA(
            self, "access_logs_versioning", bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"))
        retention_days = cfg.alb.access_logs_retention_days
        S3BucketLifecycleConfiguration(
            self, "access_logs_lifecycle", bucket=bucket.id, depends_on=[versioning],
            rule=[S3BucketLifecycleConfigurationRule(
                id="expire-access-logs", status="Enabled", filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=retention_days)],
                noncurrent_version_expiration=[S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                    noncurrent_days=retention_days)],
                # no half-written objects kept (and billed) forever
                abort_incomplete_multipart_upload=[S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                    days_after_initiation=ALB_ACCESS_LOG_ABORTED_UPLOAD_DAYS)])])

        caller = DataAwsCallerIdentity(self, "caller")
        log_objects = f"{bucket.arn}/{ACCESS_LOG_PREFIX}/AWSLogs/{caller.account_id}/*"
        if cfg.region in ELB_ACCOUNT_REGIONS:
            elb_account = DataAwsElbServiceAccount(self, "elb_account")  # the region's ELB log-delivery account
            writer = DataAwsIamPolicyDocumentStatementPrincipals(type="AWS", identifiers=[elb_account.arn])
        else:
            writer = DataAwsIamPolicyDocumentStatementPrincipals(type="Service", identifiers=[LOG_DELIVERY_PRINCIPAL])
        policy = DataAwsIamPolicyDocument(self, "access_logs_policy_document", statement=[
            DataAwsIamPolicyDocumentStatement(
                sid="ElbWritesAccessLogs", actions=["s3:PutObject"], resources=[log_objects], principals=[writer]),
            DataAwsIamPolicyDocumentStatement(
                sid="DenyInsecureTransport", effect="Deny", actions=["s3:*"],
                resources=[bucket.arn, f"{bucket.arn}/*"],
                principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="*", identifiers=["*"])],
                condition=[DataAwsIamPolicyDocumentStatementCondition(
                    test="Bool", variable="aws:SecureTransport", values=["false"])]),
        ])
        return bucket, S3BucketPolicy(self, "access_logs_policy", bucket=bucket.id, policy=policy.json)
