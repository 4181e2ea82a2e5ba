"""AWS limits the API models do not carry (reserved prefixes, documented lists, quotas, cross-field limits):
one named rule each, citing the AWS page it comes from. The models' own limits: rules/aws_api.py."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.config.rules.common import only_when_consistent
from modules.config.base import Problem
from modules.config.defaults import (
    ACM_FIRST_DOMAIN_MAX_OCTETS,
    ALB_MATCHER_CODE_RANGE,
    ALB_RESERVED_NAME_PREFIX,
    ALB_TLS_POLICIES,
    ALB_TLS_POLICIES_AS_OF,
    ECS_IMAGE_MAX,
    LB_NAME_MAX,
    S3_RESERVED_BUCKET_PREFIXES,
    S3_RESERVED_BUCKET_SUFFIXES,
    SECURITY_GROUP_RULES_MAX,
    SSM_PARAMETER_ARN_MAX,
    WAF_MANAGED_RULE_GROUPS,
    WAF_MANAGED_RULE_GROUPS_AS_OF,
    partition_of,
)
from modules.config.registry import pull_through_source
from modules.naming import TERRAFORM_UNIQUE_SUFFIX_LENGTH, access_log_bucket_prefix, load_balancer_name

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig


def alb_name_is_not_reserved(cfg: EnvConfig) -> list[Problem]:
    """The ALB's name (`<project>-<environment>`, shortened to 32) does not begin with "internal-", which ELB
    reserves. https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html"""
    name = load_balancer_name(cfg.name, LB_NAME_MAX)
    if not name.startswith(ALB_RESERVED_NAME_PREFIX):
        return []
    return [(("project",), f"the ALB's name '{name}' begins with '{ALB_RESERVED_NAME_PREFIX}', which ELB reserves "
             "(CreateLoadBalancer Name); allowed: a project name other than 'internal'")]


def access_log_bucket_name_is_allowed(cfg: EnvConfig) -> list[Problem]:
    """With alb.access_logs, the log bucket's name (`<project>-<environment>-alb-logs-` and the 26 digits Terraform
    appends) avoids the prefixes and suffixes S3 reserves (xn--, sthree-, amzn-s3-demo-; -s3alias, --ol-s3, .mrap,
    --x-s3, --table-s3). https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"""
    if not cfg.alb.access_logs:
        return []
    prefix = access_log_bucket_prefix(cfg.name)
    name = prefix + "0" * TERRAFORM_UNIQUE_SUFFIX_LENGTH  # the form of the name S3 receives (aws_shapes._bucket)
    bad = [p for p in S3_RESERVED_BUCKET_PREFIXES if name.startswith(p)]
    bad += [s for s in S3_RESERVED_BUCKET_SUFFIXES if name.endswith(s)]
    if not bad:
        return []
    return [(("project",), f"the ALB access log bucket's name begins '{prefix}', and S3 reserves {bad} "
             f"(bucket naming rules; reserved prefixes {', '.join(S3_RESERVED_BUCKET_PREFIXES)}); allowed: a project "
             "name not starting with one, or alb.access_logs: false")]


def certificate_domain_fits_64_octets(cfg: EnvConfig) -> list[Problem]:
    """The certificate's first domain name (the api host `<api_record>.<zone>`, with alb.domain and https) is at
    most 64 octets, periods included; only the other names may reach 253.
    https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html"""
    domain = cfg.alb.domain
    if not domain or not cfg.alb.https:
        return []
    octets = len(domain.api_host.encode())
    if octets <= ACM_FIRST_DOMAIN_MAX_OCTETS:
        return []
    return [(("alb", "domain", "api_record"), f"the certificate's domain name '{domain.api_host}' "
             f"(api_record.zone) is {octets} octets; ACM allows at most {ACM_FIRST_DOMAIN_MAX_OCTETS} for the first "
             "name (RequestCertificate DomainName): shorten alb.domain.api_record or alb.domain.zone")]


def health_check_matcher_is_in_range(cfg: EnvConfig) -> list[Problem]:
    """alb.health_check.matcher is HTTP codes an Application Load Balancer accepts: 200-499, as one code (200), a
    list (200,202) or a range (200-299).
    https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Matcher.html"""
    low, high = ALB_MATCHER_CODE_RANGE
    matcher = cfg.alb.health_check.matcher
    valid = bool(matcher)
    for item in matcher.split(","):
        match = re.fullmatch(r"(\d{3})(?:-(\d{3}))?", item)
        first, last = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
        valid = valid and bool(match) and low <= first <= last <= high
    if valid:
        return []
    return [(("alb", "health_check", "matcher"), f"'{matcher}' is not HTTP codes an ALB health check takes; allowed: "
             f"codes {low}-{high} as one code (200), a list (200,202) or a range (200-299) (ELB Matcher HttpCode)")]


def tls_policy_is_offered(cfg: EnvConfig) -> list[Problem]:
    """alb.ssl_policy is one of ELB's predefined security policies for Application Load Balancers (which take no
    custom policy). https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html"""
    if not cfg.alb.https or cfg.alb.ssl_policy in ALB_TLS_POLICIES:
        return []
    return [(("alb", "ssl_policy"), f"'{cfg.alb.ssl_policy}' is not a security policy of Application Load Balancers "
             f"(as of {ALB_TLS_POLICIES_AS_OF}); allowed: {', '.join(ALB_TLS_POLICIES)}")]


def waf_rule_groups_are_offered(cfg: EnvConfig) -> list[Problem]:
    """alb.waf.managed_rule_groups names AWS managed rule groups that exist.
    https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-list.html"""
    if not cfg.alb.waf.enabled:
        return []
    return [(("alb", "waf", "managed_rule_groups", group), f"'{group}' is not an AWS managed rule group (as of "
             f"{WAF_MANAGED_RULE_GROUPS_AS_OF}); allowed: {', '.join(WAF_MANAGED_RULE_GROUPS)}")
            for group in cfg.alb.waf.managed_rule_groups if group not in WAF_MANAGED_RULE_GROUPS]


def container_image(cfg: EnvConfig, name: str) -> str | None:
    """The image reference ECS receives for a public image (modules/registry.py Registry.image): through the
    pull-through cache `<account>.dkr.ecr.<region>.amazonaws.com/<project>-<env>/<upstream>/<repository>:<tag>`."""
    public = cfg.services[name].image.public
    if not public:
        return None
    upstream, repository, reference = pull_through_source(public)
    if upstream in cfg.pull_through_upstreams():
        return f"{'0' * 12}.dkr.ecr.{cfg.region}.amazonaws.com/{cfg.name}/{upstream}/{repository}{reference}"
    return public


def image_references_fit(cfg: EnvConfig) -> list[Problem]:
    """The image reference a container definition gets is at most 255 characters (ECS RegisterTaskDefinition,
    ContainerDefinition image), counting the pull-through cache's ECR prefix when the image goes through it.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html"""
    problems = []
    for name in cfg.services:
        image = container_image(cfg, name)
        if image and len(image) > ECS_IMAGE_MAX:
            via = " through the pull-through cache" if image != cfg.services[name].image.public else ""
            problems.append((("services", name, "image"), f"the image reference ECS receives{via} is {len(image)} "
                             f"characters; allowed: at most {ECS_IMAGE_MAX} (ContainerDefinition image): shorten "
                             "the image name or tag"))
    return problems


@only_when_consistent  # counts the generator's plan of rules, which assumes every reference resolves
def security_group_rules_fit_the_quota(cfg: EnvConfig) -> list[Problem]:
    """Each security group the stack creates gets at most 60 inbound and 60 outbound rules, counted from what the
    generator creates (modules/security_group_plan.py, and database.allow_from's egress): the default VPC quota,
    enforced separately for IPv4 and IPv6, where a rule referencing a group counts for both.
    https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups"""
    from modules.security_group_plan import egress_plan, ingress_plan, task_group  # noqa: PLC0415  (a cycle at import)

    counts: dict[tuple[str, str, str], int] = {}

    def count(group: str, direction: str, cidr: str | None) -> None:
        families = ("IPv6",) if cidr and ":" in cidr else ("IPv4",) if cidr else ("IPv4", "IPv6")
        for family in families:
            counts[(group, direction, family)] = counts.get((group, direction, family), 0) + 1

    for rule in ingress_plan(cfg):
        count(rule.destination, "inbound", rule.source_cidr)
    for rule in egress_plan(cfg):
        count(rule.group, "outbound", rule.destination_cidr)
    for owner in sorted({cfg.task_owner(s) for s in cfg.database.allow_from}):  # modules/database.py
        count(task_group(owner), "outbound", None)
    worst: dict[tuple[str, str], tuple[int, str]] = {}  # one problem per group and direction: its fuller family
    for (group, direction, family), number in sorted(counts.items()):
        worst[(group, direction)] = max(worst.get((group, direction), (0, "")), (number, family))
    problems = []
    for (group, direction), (number, family) in sorted(worst.items()):
        if number > SECURITY_GROUP_RULES_MAX:
            where = _group_field(cfg, group, direction)
            problems.append((where, f"security group '{cfg.name}-{group}' would get {number} {direction} {family} "
                             f"rules; AWS allows {SECURITY_GROUP_RULES_MAX} per group (VPC quota 'Inbound or outbound "
                             "rules per security group', default): fewer CIDRs, sources or egress entries"))
    return problems


def _group_field(cfg: EnvConfig, group: str, direction: str) -> tuple:
    """The env-file field whose entries fill a group's rules."""
    if group == "alb":
        return ("alb", "allowed_cidrs")
    if group.startswith("task-"):
        owner = group[len("task-"):]
        return ("services", owner, "egress") if direction == "outbound" else ("services", owner, "allow_from")
    return (group,)


def parameter_names_fit(cfg: EnvConfig) -> list[Problem]:
    """Each SSM parameter's name `/<project>/<environment>/<key>` keeps its ARN within 1011 characters (the API
    model allows a 2048-character name, which counts room for system attributes).
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html"""
    partition = partition_of(cfg.region)
    problems = []
    for key in cfg.parameters:
        arn = f"arn:{partition}:ssm:{cfg.region}:{'0' * 12}:parameter{cfg.parameter_prefix}{key}"
        if len(arn) > SSM_PARAMETER_ARN_MAX:
            problems.append((("parameters", key), f"the parameter's ARN would be {len(arn)} characters; SSM allows at "
                             f"most {SSM_PARAMETER_ARN_MAX} for the name with its ARN (PutParameter Name): a key of at "
                             f"most {len(key) - (len(arn) - SSM_PARAMETER_ARN_MAX)} characters"))
    return problems
