"""Where each env-file value reaches AWS, and the constraints AWS's own API models put on it there.

REACHES maps an env-file field (schema path: `a.b`, `a[]` list items, `a.<key>` mapping keys, `a.*` mapping
values) to the API member that receives it (service, operation, member path in the operation's input, as in
botocore's models), with what is sent when the stack derives it (e.g. `secrets.<key>` -> the secret's name
`<project>-<environment>/<key>`). EXEMPT lists the fields that reach no name, description, path, ARN or id, with
the reason; tests/config/test_config_aws_shapes.py checks that every field of the schema is in one of them.

The constraints (min, max, pattern, enum of each member's shape) come from botocore's service models, kept in
aws_shapes.json (the shapes of REACHES only) so a synth needs no botocore (a dev package) and loads a few KB
once, lazily; regenerate it with scripts/update_aws_shapes.py after a botocore upgrade (a test
compares it with the installed botocore). rules/aws_api.py checks every value against its member's shape.
Constraints the models do not carry (reserved prefixes, quotas, documented lists) are named rules in
rules/aws_limits.py; an entry's `rule` names the one that covers its member.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modules.config.defaults import LB_NAME_MAX
from modules.naming import TERRAFORM_UNIQUE_SUFFIX_LENGTH, access_log_bucket_prefix, load_balancer_name
from modules.config.wiring import dns_discovered

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig

SNAPSHOT = Path(__file__).with_name("aws_shapes.json")
REGENERATE = ".venv/bin/python scripts/update_aws_shapes.py"


@dataclass(frozen=True)
class ApiMember:
    """A member of an operation's input, e.g. elbv2 CreateTargetGroup HealthCheckPath (list items are
    traversed implicitly: `Tags.Key` is the Key of each item of Tags)."""

    service: str
    operation: str
    member: str

    def __str__(self) -> str:
        return f"{self.service} {self.operation} {self.member}"


Sent = Callable[["EnvConfig", tuple, Any], list]  # (cfg, location, value) -> what AWS receives (none: not sent)


@dataclass(frozen=True)
class Reach:
    field: str
    api: ApiMember
    sent: Sent | None = None  # default: the value itself
    what: str = ""  # what the sent value is, when the stack derives it (e.g. "secret name")
    rule: str = ""  # the named rule (rules/aws_limits.py) checking what the model does not carry


def _api(text: str) -> ApiMember:
    service, operation, member = text.split()
    return ApiMember(service, operation, member)


# ------------------------------------------------------------------ what the stack sends for a derived value
def _owner_names(cfg: EnvConfig, suffix: str = "") -> list[str]:
    return [f"{cfg.name}-{owner}{suffix}" for owner in cfg.task_owners()]


def _log_groups(cfg: EnvConfig, *_: Any) -> list[str]:
    return [f"/ecs/{cfg.name}/{c}" for owner in cfg.task_owners() for c in cfg.containers_of(owner)]


def _certificate_domain(cfg: EnvConfig, *_: Any) -> list[str]:
    return [cfg.alb.domain.api_host] if cfg.alb.domain and cfg.alb.https else []


def _certificate_alternatives(cfg: EnvConfig, *_: Any) -> list[str]:
    exposed = cfg.alb.grafana.exposure in ("vpn", "sso")
    host = cfg.alb.grafana_host()
    return [host] if cfg.alb.domain and cfg.alb.https and exposed and host else []


def _bucket(cfg: EnvConfig) -> list[str]:
    """The access log bucket's name as S3 receives it: the prefix and Terraform's 26 digits."""
    prefix = access_log_bucket_prefix(cfg.name)
    return [prefix + "0" * TERRAFORM_UNIQUE_SUFFIX_LENGTH] if cfg.alb.access_logs else []


def _alarm_actions(cfg: EnvConfig) -> list[str]:
    """The actions of the stack's alarms (modules/notifications.py): its own topic (its ARN's length does not
    matter here: only the count is limited), then alarms.topic_arns."""
    own = [f"arn:aws:sns:{cfg.region}:000000000000:{cfg.name}-alarms"] if cfg.alarms.create_topic else []
    return own + list(cfg.alarms.topic_arns)


def _failure_alarm_actions(cfg: EnvConfig, loc: tuple, _: Any) -> list[list[str]]:
    extra = cfg.services[loc[1]].failure_alarm.alarm_actions
    return [list(dict.fromkeys(_alarm_actions(cfg) + list(extra)))]  # modules/failure_alarms.py: deduplicated


def _secret_description(cfg: EnvConfig, loc: tuple, value: str) -> list[str]:
    secret = cfg.secrets[loc[1]]
    if secret.existing:  # created out of band: the stack only reads it
        return []
    keys = secret.keys  # modules/secrets.py appends the JSON keys
    return [(value + " " if value else "") + f"(JSON keys: {', '.join(keys)})" if keys else value]


def _scheduled(cfg: EnvConfig, name: str) -> bool:
    return cfg.services[name].kind.value == "scheduled"


def _volume_root(cfg: EnvConfig, loc: tuple, value: Any) -> list:
    return [f"/{value}"]  # modules/volumes.py: the access point's root directory


def _as(function: Callable[[EnvConfig], list]) -> Sent:
    return lambda cfg, loc, value: function(cfg)


REACHES: tuple[Reach, ...] = (
    # ---- project and environment: every generated name starts with them
    Reach("project", _api("iam CreateRole RoleName"), _as(lambda c: [f"{c.name}-ecs-instance"]), "IAM role name"),
    Reach("environment", _api("iam CreateRole RoleName"), _as(lambda c: [f"{c.name}-ecs-instance"]), "IAM role name"),
    Reach("project", _api("logs CreateLogGroup logGroupName"), _as(lambda c: [f"/aws/vpc/{c.name}/flow-logs"]),
          "flow log group name"),
    Reach("environment", _api("logs CreateLogGroup logGroupName"), _as(lambda c: [f"/aws/vpc/{c.name}/flow-logs"]),
          "flow log group name"),
    Reach("project", _api("elbv2 CreateLoadBalancer Name"), _as(lambda c: [load_balancer_name(c.name, LB_NAME_MAX)]),
          "ALB name", rule="alb_name_is_not_reserved"),
    Reach("project", _api("s3 CreateBucket Bucket"), _as(_bucket), "access log bucket name",
          rule="access_log_bucket_name_is_allowed"),
    Reach("environment", _api("s3 CreateBucket Bucket"), _as(_bucket), "access log bucket name",
          rule="access_log_bucket_name_is_allowed"),
    Reach("project", _api("wafv2 CreateWebACL Name"),
          _as(lambda c: [f"{c.name}-alb"] if c.alb.waf.enabled else []), "web ACL name"),
    Reach("project", _api("servicediscovery CreateHttpNamespace Name"),
          _as(lambda c: [] if c.service_connect_namespace else [c.namespace]), "Service Connect namespace"),
    Reach("project", _api("servicediscovery CreatePrivateDnsNamespace Name"),
          _as(lambda c: [] if c.discovery_dns_namespace or not dns_discovered(c) else [c.dns_namespace]),
          "DNS namespace"),
    Reach("tags.<key>", _api("elbv2 AddTags Tags.Key")),
    Reach("tags.*", _api("elbv2 AddTags Tags.Value")),
    # ---- alb
    Reach("alb.certificate_arn", _api("acm DescribeCertificate CertificateArn")),
    Reach("alb.domain.zone", _api("route53 ListHostedZonesByName DNSName")),
    Reach("alb.domain.zone", _api("acm RequestCertificate DomainName"), _certificate_domain,
          "certificate domain (api host)", rule="certificate_domain_fits_64_octets"),
    Reach("alb.domain.api_record", _api("acm RequestCertificate DomainName"), _certificate_domain,
          "certificate domain (api host)", rule="certificate_domain_fits_64_octets"),
    Reach("alb.domain.grafana_record", _api("acm RequestCertificate SubjectAlternativeNames"),
          _certificate_alternatives, "certificate name (Grafana host)"),
    Reach("alb.grafana.host", _api("acm RequestCertificate SubjectAlternativeNames"), _certificate_alternatives,
          "certificate name (Grafana host)"),
    Reach("alb.grafana.host", _api("elbv2 CreateRule Conditions.HostHeaderConfig.Values")),
    Reach("alb.ssl_policy", _api("elbv2 CreateListener SslPolicy"), rule="tls_policy_is_offered"),
    Reach("alb.health_check.path", _api("elbv2 CreateTargetGroup HealthCheckPath")),
    Reach("alb.grafana.health_check_path", _api("elbv2 CreateTargetGroup HealthCheckPath")),
    Reach("alb.health_check.interval", _api("elbv2 CreateTargetGroup HealthCheckIntervalSeconds")),
    Reach("alb.health_check.timeout", _api("elbv2 CreateTargetGroup HealthCheckTimeoutSeconds")),
    Reach("alb.health_check.healthy_threshold", _api("elbv2 CreateTargetGroup HealthyThresholdCount")),
    Reach("alb.health_check.unhealthy_threshold", _api("elbv2 CreateTargetGroup UnhealthyThresholdCount")),
    Reach("alb.health_check.matcher", _api("elbv2 CreateTargetGroup Matcher.HttpCode"),
          rule="health_check_matcher_is_in_range"),
    Reach("alb.idle_timeout", _api("elbv2 ModifyLoadBalancerAttributes Attributes.Value")),
    Reach("alb.grafana.oidc.issuer", _api("elbv2 CreateRule Actions.AuthenticateOidcConfig.Issuer")),
    Reach("alb.grafana.oidc.authorization_endpoint",
          _api("elbv2 CreateRule Actions.AuthenticateOidcConfig.AuthorizationEndpoint")),
    Reach("alb.grafana.oidc.token_endpoint", _api("elbv2 CreateRule Actions.AuthenticateOidcConfig.TokenEndpoint")),
    Reach("alb.grafana.oidc.user_info_endpoint",
          _api("elbv2 CreateRule Actions.AuthenticateOidcConfig.UserInfoEndpoint")),
    Reach("alb.grafana.oidc.client_id", _api("elbv2 CreateRule Actions.AuthenticateOidcConfig.ClientId")),
    Reach("alb.grafana.oidc.client_secret", _api("secretsmanager DescribeSecret SecretId"),
          lambda cfg, loc, value: [cfg.secret_name(value)], "secret name"),
    Reach("alb.waf.managed_rule_groups.<key>", _api("wafv2 CreateWebACL Rules.Statement.ManagedRuleGroupStatement.Name"),
          rule="waf_rule_groups_are_offered"),
    Reach("alb.waf.managed_rule_groups.*[]",
          _api("wafv2 CreateWebACL Rules.Statement.ManagedRuleGroupStatement.RuleActionOverrides.Name")),
    Reach("alb.waf.redacted_headers", _api("wafv2 PutLoggingConfiguration LoggingConfiguration.RedactedFields"),
          lambda cfg, loc, value: [value] if cfg.alb.waf.enabled else [], "redacted fields"),
    Reach("alb.waf.redacted_headers[]",
          _api("wafv2 PutLoggingConfiguration LoggingConfiguration.RedactedFields.SingleHeader.Name")),
    Reach("alb.waf.log_retention_days", _api("logs PutRetentionPolicy retentionInDays")),
    # ---- cluster
    Reach("cluster.capacity_providers.<key>", _api("ecs CreateCapacityProvider name"),
          lambda cfg, loc, value: [f"{cfg.name}-{value}"], "capacity provider name"),
    Reach("service_connect_namespace", _api("servicediscovery CreateHttpNamespace Name")),
    Reach("discovery_dns_namespace", _api("servicediscovery CreatePrivateDnsNamespace Name")),
    # ---- cache and database
    Reach("cache.engine_version", _api("elasticache CreateReplicationGroup EngineVersion")),
    Reach("cache.node_type", _api("elasticache CreateReplicationGroup CacheNodeType")),
    Reach("cache.url_variable", _api("ecs RegisterTaskDefinition containerDefinitions.secrets.name")),
    Reach("database.identifier", _api("rds DescribeDBInstances DBInstanceIdentifier")),
    Reach("database.endpoint", _api("ssm PutParameter Value")),
    Reach("database.name", _api("ssm PutParameter Value")),
    Reach("database.security_group_id", _api("ec2 AuthorizeSecurityGroupIngress GroupId")),
    Reach("database.credentials_secret_arn", _api("secretsmanager GetSecretValue SecretId")),
    Reach("database.credentials_kms_key_arn", _api("kms DescribeKey KeyId")),
    Reach("database.env.host", _api("ecs RegisterTaskDefinition containerDefinitions.secrets.name")),
    Reach("database.env.port", _api("ecs RegisterTaskDefinition containerDefinitions.secrets.name")),
    Reach("database.env.database", _api("ecs RegisterTaskDefinition containerDefinitions.secrets.name")),
    Reach("database.env.username", _api("ecs RegisterTaskDefinition containerDefinitions.secrets.name")),
    Reach("database.env.password", _api("ecs RegisterTaskDefinition containerDefinitions.secrets.name")),
    # ---- secrets, parameters, volumes, registry
    Reach("secrets.<key>", _api("secretsmanager CreateSecret Name"),
          lambda cfg, loc, value: [cfg.secret_name(value)], "secret name"),
    Reach("secrets.*.description", _api("secretsmanager CreateSecret Description"), _secret_description,
          "secret description"),
    Reach("parameters.<key>", _api("ssm PutParameter Name"),
          lambda cfg, loc, value: [cfg.parameter_prefix + value], "parameter name"),
    Reach("parameters.*", _api("ssm PutParameter Value")),
    Reach("volumes.<key>", _api("efs CreateAccessPoint RootDirectory.Path"), _volume_root, "access point root"),
    Reach("volumes.*.uid", _api("efs CreateAccessPoint PosixUser.Uid")),
    Reach("volumes.*.uid", _api("efs CreateAccessPoint RootDirectory.CreationInfo.OwnerUid")),
    Reach("volumes.*.gid", _api("efs CreateAccessPoint PosixUser.Gid")),
    Reach("volumes.*.gid", _api("efs CreateAccessPoint RootDirectory.CreationInfo.OwnerGid")),
    Reach("volumes.*.permissions", _api("efs CreateAccessPoint RootDirectory.CreationInfo.Permissions")),
    Reach("registry.app_image_tag", _api("ecr BatchGetImage imageIds.imageTag")),
    Reach("registry.docker_hub_secret", _api("secretsmanager DescribeSecret SecretId"),
          lambda cfg, loc, value: [cfg.secret_name(value)], "secret name"),
    # ---- alarms
    Reach("alarms.subscriptions[].endpoint", _api("sns Subscribe Endpoint")),
    Reach("alarms.topic_arns", _api("cloudwatch PutMetricAlarm AlarmActions"), _as(lambda c: [_alarm_actions(c)]),
          "alarm actions (the stack's topic and topic_arns)"),
    Reach("alarms.topic_arns[]", _api("cloudwatch PutMetricAlarm AlarmActions")),
    # ---- services
    Reach("services.<key>", _api("logs CreateLogGroup logGroupName"),
          lambda cfg, loc, value: [f"/ecs/{cfg.name}/{value}"], "log group name"),
    Reach("services.<key>", _api("iam CreateRole RoleName"),
          lambda cfg, loc, value: [] if cfg.services[value].host else [f"{cfg.name}-{value}-execution"],
          "IAM role name"),
    Reach("services.<key>", _api("scheduler CreateSchedule Name"),
          lambda cfg, loc, value: [f"{cfg.name}-{value}"] if _scheduled(cfg, value) else [], "schedule name"),
    Reach("services.<key>", _api("servicediscovery CreateService Name"),
          lambda cfg, loc, value: [value] if value in dns_discovered(cfg) else [], "Cloud Map service name"),
    Reach("services.*.description", _api("scheduler CreateSchedule Description"),
          lambda cfg, loc, value: [value] if _scheduled(cfg, loc[1]) else [], "schedule description"),
    Reach("services.*.image.build", _api("ecr CreateRepository repositoryName"),
          lambda cfg, loc, value: [cfg.repository_name(value)], "repository name"),
    Reach("services.*.image.public", _api("ecs RegisterTaskDefinition containerDefinitions.image"),
          rule="image_references_fit"),
    Reach("services.*.command[]", _api("ecs RegisterTaskDefinition containerDefinitions.command")),
    Reach("services.*.environment.<key>", _api("ecs RegisterTaskDefinition containerDefinitions.environment.name")),
    Reach("services.*.environment.*", _api("ecs RegisterTaskDefinition containerDefinitions.environment.value")),
    Reach("services.*.parameters.<key>", _api("ecs RegisterTaskDefinition containerDefinitions.secrets.name")),
    Reach("services.*.secrets.<key>", _api("ecs RegisterTaskDefinition containerDefinitions.secrets.name")),
    Reach("services.*.ports[].name", _api("ecs RegisterTaskDefinition containerDefinitions.portMappings.name")),
    Reach("services.*.volumes[].path", _api("ecs RegisterTaskDefinition containerDefinitions.mountPoints.containerPath")),
    Reach("services.*.health_check.command[]", _api("ecs RegisterTaskDefinition containerDefinitions.healthCheck.command")),
    Reach("services.*.egress[].description",
          _api("ec2 AuthorizeSecurityGroupEgress IpPermissions.IpRanges.Description")),
    Reach("services.*.schedule", _api("scheduler CreateSchedule ScheduleExpression")),
    Reach("services.*.schedule_timezone", _api("scheduler CreateSchedule ScheduleExpressionTimezone"),
          lambda cfg, loc, value: [value] if _scheduled(cfg, loc[1]) else []),
    Reach("services.*.user", _api("ecs RegisterTaskDefinition containerDefinitions.user")),
    Reach("services.*.failure_alarm.log_pattern", _api("logs PutMetricFilter filterPattern")),
    Reach("services.*.failure_alarm.alarm_actions", _api("cloudwatch PutMetricAlarm AlarmActions"),
          _failure_alarm_actions, "alarm actions (the alarms targets and these)"),
    Reach("services.*.failure_alarm.alarm_actions[]", _api("cloudwatch PutMetricAlarm AlarmActions")),
)

REFERENCE = "names another entry of the env file (rules/references.py); that entry's own name reaches AWS"
CIDR = "a CIDR, parsed by the Cidr type (ipaddress); EC2's models carry no constraint for CIDR blocks"
# Fields of the schema whose value reaches no AWS name, description, path, ARN or id (or only through
# another field listed above), with why.
EXEMPT: dict[str, str] = {
    "region": "selects the endpoints; checked against AWS_REGIONS (defaults.py)",
    "account_id": "compared with the caller's account (provider allowed_account_ids), 12 digits",
    "terraform_cloud.organization": "Terraform Cloud, not AWS",
    "terraform_cloud.workspace": "Terraform Cloud, not AWS",
    "terraform_cloud.workspace_tags[]": "Terraform Cloud, not AWS",
    "terraform_cloud.project": "Terraform Cloud, not AWS",
    "terraform_cloud.hostname": "Terraform Cloud, not AWS",
    "network.vpc_cidr": CIDR,
    "network.availability_zones[]": "zone names or ids, each checked against the Region "
                                    "(availability_zones_are_in_the_region)",
    "network.nat": "a choice of the schema (Literal)",
    "network.flow_logs.traffic_type": "a choice of the schema (Literal), EC2's TrafficType enum",
    "alb.allowed_cidrs[]": CIDR,
    "alb.target.service": REFERENCE,
    "alb.grafana.exposure": "a choice of the schema (Literal)",
    "alb.grafana.allowed_cidrs[]": CIDR,
    "alb.grafana.service": REFERENCE,
    "cluster.default_capacity_provider": REFERENCE,
    "cluster.capacity_providers.*.instance_type": "one of INSTANCE_SPECS (capacity.py), whose message lists "
                                                  "them: the capacity fit needs each type's figures",
    "cluster.capacity_providers.*.off_hours.timezone": "an IANA zone, checked against the tz database "
                                                       "(known_timezones)",
    "cluster.capacity_providers.*.off_hours.days": "composes the scheduled actions' recurrence (OffHours)",
    "cluster.capacity_providers.*.off_hours.start": "composes the scheduled actions' recurrence (OffHours)",
    "cluster.capacity_providers.*.off_hours.stop": "composes the scheduled actions' recurrence (OffHours)",
    "cache.engine": "a choice of the schema (Literal)",
    "cache.allow_from[]": REFERENCE,
    "database.mode": "a choice of the schema (Literal)",
    "database.network.via": "a choice of the schema (Literal)",
    "database.network.vpc_id": "an EC2 id (vpc-<hex>, the schema's pattern; EC2's models carry no constraint for "
                               "ids); preflight checks it exists in the account",
    "database.network.cidrs[]": CIDR,
    "database.network.route_table_ids[]": "EC2 ids (rtb-<hex>, the schema's pattern; EC2's models carry no "
                                          "constraint for ids)",
    "database.network.transit_gateway_id": "an EC2 id (tgw-<hex>, the schema's pattern); preflight checks it exists",
    "extends": "the path of a base env file, read by the loader (overlays); never sent to AWS",
    "alb.grafana.oidc.scopes": "OIDC scopes Grafana asks its identity provider for; never sent to AWS",
    "alb.grafana.oidc.role_attribute_path": "a JMESPath Grafana evaluates over the IdP's claims; never sent to AWS",
    "alb.public_paths[]": "listener path-pattern prefixes, held to ELB's path-pattern form and quotas by their "
                          "type (PathPrefix) and Alb._public_paths_fit (edge.py)",
    "alb.waf.prompt_paths[]": "WAF byte-match prefixes, the same PathPrefix type as alb.public_paths",
    "network.endpoints.s3_buckets[]": "bucket names in the S3 endpoint policy's resource ARNs, held to S3's "
                                      "bucket naming pattern by the schema",
    "database.username_key": "a JSON key inside the secret's value (the valueFrom suffix), not a name of its own",
    "database.password_key": "a JSON key inside the secret's value (the valueFrom suffix), not a name of its own",
    "database.allow_from[]": REFERENCE,
    "secrets.*.keys[]": "JSON keys of the value, set out of band; each becomes an env var (EnvVarName)",
    "volumes_throughput_mode": "a choice of the schema (Literal)",
    "registry.encryption": "a choice of the schema (Literal)",
    "registry.image_tag_env_var": "an environment variable read at synth, not sent",
    "registry.cache_upstreams[]": "a choice of the schema (Literal)",
    "alarms.subscriptions[].protocol": "a choice of the schema (Literal), SNS's protocols",
    "services.*.kind": "a choice of the schema (Kind)",
    "services.*.image.dockerfile": "a path in this repository, read at synth",
    "services.*.image.tag_env_var": "an environment variable read at synth, not sent",
    "services.*.capacity_provider": REFERENCE,
    "services.*.ports[].protocol": "a choice of the schema (Literal)",
    "services.*.ports[].allow_from[]": REFERENCE,
    "services.*.parameters.*": REFERENCE,
    "services.*.secrets.*": REFERENCE,
    "services.*.secrets_from[]": REFERENCE,
    "services.*.volumes[].volume": REFERENCE,
    "services.*.depends_on[]": REFERENCE,
    "services.*.init_of": REFERENCE,
    "services.*.sidecar_of": REFERENCE,
    "services.*.allow_from[]": REFERENCE,
    "services.*.egress[].cidrs[]": CIDR,
}


# ------------------------------------------------------------------ the models' constraints (the snapshot)
def api_members() -> list[ApiMember]:
    return sorted({reach.api for reach in REACHES}, key=str)


@functools.cache
def shapes() -> dict[str, dict]:
    """{str(ApiMember): its shape's constraints} from aws_shapes.json, read once per process."""
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))["shapes"]


# Java regular expression classes the models use, in Python terms (re has no \p{...}): letters and numbers
# (\p{L}\p{N}: Python's \w without '_'), space separators (\p{Z}).
SPACE_SEPARATORS = " \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def python_pattern(pattern: str) -> str:
    """An AWS model pattern (Java syntax) as a Python pattern with the same meaning; a character class with
    \\p{L}, \\p{N} or \\p{Z} becomes an alternation. Raises ValueError for a construct it cannot translate."""

    def translate(match: re.Match) -> str:
        body = match.group(1)
        props = set(re.findall(r"\\p\{(\w+)\}", body))
        if props - {"L", "N", "Z"}:
            raise ValueError(f"cannot translate \\p{{{sorted(props)}}} in {pattern!r}")
        rest = re.sub(r"\\p\{\w+\}", "", body) + (SPACE_SEPARATORS if "Z" in props else "")
        alternatives = []
        if {"L", "N"} <= props:
            alternatives.append(r"[^\W_]")
        elif "L" in props:
            alternatives.append(r"[^\W\d_]")
        elif "N" in props:
            alternatives.append(r"\d")
        if rest:
            alternatives.append(f"[{rest}]")
        return "(?:" + "|".join(alternatives) + ")"

    translated = re.sub(r"\[((?:\\.|[^\]\\])*?\\p\{(?:\\.|[^\]\\])*)\]", translate, pattern)
    if "\\p{" in translated:
        raise ValueError(f"cannot translate {pattern!r}")
    re.compile(translated)
    return translated


def _constraints(shape) -> dict:
    """min, max, pattern and enum of a botocore shape (and of a list's member)."""
    found: dict[str, Any] = {"shape": shape.name, "type": shape.type_name}
    for key in ("min", "max", "pattern"):
        if key in shape.metadata:
            found[key] = shape.metadata[key]
    if "pattern" in found:
        found["python_pattern"] = python_pattern(found["pattern"])
    if getattr(shape, "enum", None):
        found["enum"] = list(shape.enum)
    if shape.type_name == "list":
        found["member"] = _constraints(shape.member)
    return found


def from_botocore() -> dict:
    """The snapshot's content, read from the installed botocore's models (dev dependency)."""
    import botocore  # noqa: PLC0415  (only regenerating the snapshot needs it)
    from botocore.loaders import create_loader  # noqa: PLC0415
    from botocore.model import ServiceModel  # noqa: PLC0415

    loader, models, found = create_loader(), {}, {}
    for api in api_members():
        if api.service not in models:
            models[api.service] = ServiceModel(loader.load_service_model(api.service, "service-2"), api.service)
        shape = models[api.service].operation_model(api.operation).input_shape
        for part in api.member.split("."):
            while shape.type_name == "list":
                shape = shape.member
            shape = shape.members[part]
        found[str(api)] = _constraints(shape)
    return {"source": f"botocore {botocore.__version__} service models (service-2.json), input shapes",
            "regenerate": REGENERATE, "shapes": found}


# ------------------------------------------------------------------ checking values
def values_at(cfg: Any, field: str) -> Iterator[tuple[tuple, Any]]:
    """(location, value) of every value of the config at a schema path (`a.b`, `a[]`, `a.<key>`, `a.*`)."""
    steps = re.findall(r"\[\]|<key>|\*|[A-Za-z0-9_]+", field)

    def walk(node: Any, loc: tuple, rest: list[str]) -> Iterator[tuple[tuple, Any]]:
        if node is None:
            return
        if not rest:
            yield loc, node
            return
        step, rest = rest[0], rest[1:]
        if step == "[]":
            for index, item in enumerate(node):
                yield from walk(item, loc + (index,), rest)
        elif step == "<key>":
            for key in node:
                yield loc + (key,), key
        elif step == "*":
            for key, item in node.items():
                yield from walk(item, loc + (key,), rest)
        else:
            yield from walk(getattr(node, step), loc + (step,), rest)

    yield from walk(cfg, (), steps)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def shape_problem(value: Any, shape: dict, api: ApiMember, what: str = "") -> str | None:
    """What AWS's model of `api` refuses in `value`, quoting the limit and the member; None when it fits."""
    label = f"{what} {_show(value)}" if what else _show(value)
    where = f"({api}, AWS API model)"
    if shape["type"] == "list" and not isinstance(value, list):  # one item of the list
        return shape_problem(value, shape["member"], api, what)
    if shape["type"] == "list":
        count = len(value)
        if "max" in shape and count > shape["max"]:
            return f"{what or 'the list'} has {count} items; allowed: at most {shape['max']} {where}"
        if "min" in shape and count < shape["min"]:
            return f"{what or 'the list'} has {count} items; allowed: at least {shape['min']} {where}"
        return None
    if shape["type"] in ("integer", "long"):
        if not isinstance(value, int):
            return None
        low, high = shape.get("min"), shape.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{label} is out of range; allowed: {low if low is not None else '...'}-{high} {where}"
        return None
    if shape["type"] != "string" or not isinstance(value, str):
        return None
    low, high = shape.get("min", 0), shape.get("max")
    if len(value) < low or (high is not None and len(value) > high):
        allowed = f"{low}-{high} characters" if high is not None else f"at least {low} characters"
        return f"{label} is {len(value)} characters; allowed: {allowed} {where}"
    if "python_pattern" in shape and not re.fullmatch(shape["python_pattern"], value):
        return f"{label} does not match {shape['pattern']!r} {where}"
    if "enum" in shape and value not in shape["enum"]:
        allowed = ", ".join(shape["enum"]) if len(shape["enum"]) <= 20 else f"{len(shape['enum'])} values"
        return f"{label} is not one of the values AWS takes; allowed: {allowed} {where}"
    return None


def problems(cfg: EnvConfig) -> list[tuple[tuple, str]]:
    """Every value of `cfg` that the API member receiving it refuses, at the field it comes from."""
    found: list[tuple[tuple, str]] = []
    known = shapes()
    for reach in REACHES:
        shape = known.get(str(reach.api))
        if shape is None:  # the snapshot lags the table: the snapshot test says how to regenerate it
            continue
        for loc, value in values_at(cfg, reach.field):
            for sent in (reach.sent(cfg, loc, value) if reach.sent else [value]):
                if problem := shape_problem(sent, shape, reach.api, reach.what):
                    found.append((loc, problem))
    return list(dict.fromkeys(found))


def snapshot_text(content: dict) -> str:
    return json.dumps(content, indent=1, sort_keys=True) + "\n"


def write_snapshot() -> None:
    SNAPSHOT.write_text(snapshot_text(from_botocore()), encoding="utf-8")
