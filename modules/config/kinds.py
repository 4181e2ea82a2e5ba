"""One validator per kind of value: every field holding a value of a kind uses the kind's type, so the same
value gets the same verdict in every field (tests/config/test_config_kinds.py feeds each kind's bad values
through every field the schema marks with that kind).

Kinds: tags, CloudWatch Logs retention days (base.RetentionDays), ARNs by service (the Region and partition
of an ARN checked with them), security group ids, names of secrets. Each type carries `x-value-kind` in its
JSON Schema, which is how the test finds every field of a kind.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from modules.config.base import KIND_KEY, EnvVarName, Name
from modules.config.defaults import (
    AWS_REGIONS,
    STACK_TAG_KEYS,
    TAG_CHARACTERS,
    TAG_KEY_MAX,
    TAG_RESERVED_PREFIX,
    TAG_VALUE_MAX,
    TAGS_PER_RESOURCE_MAX,
    partition_of,
)


# ------------------------------------------------------------------ ARNs by service
# arn:<partition>:<service>:<region>:<account>:<resource> (AWS General Reference, "Amazon Resource Names").
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
REGION_FORM = r"[a-z]{2}(-gov)?-[a-z]+-\d"
UUID_FORM = r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
# service -> (resource part, what it is, the resource part in words). Sources: SNS API reference (topic names:
# 1-256 of A-Z a-z 0-9 _ -, .fifo), ACM ("certificate/<uuid>"), Secrets Manager ("secret:<name>-<6 random
# characters>", names of A-Z a-z 0-9 /_+=.@- and ! in the RDS-managed rds!...), KMS ("key/<key id>", multi-Region keys mrk-<32 hex>), SQS (queue
# names 1-80 of A-Z a-z 0-9 _ -, .fifo), Lambda ("function:<name>[:<qualifier>]", names 1-64).
ARN_FORMS: dict[str, tuple[str, str, str]] = {
    "sns": (r"[A-Za-z0-9_-]{1,256}(\.fifo)?", "an SNS topic ARN", "<topic name>"),
    "acm": (rf"certificate/{UUID_FORM}", "an ACM certificate ARN", "certificate/<uuid>"),
    "secretsmanager": (r"secret:[A-Za-z0-9/_+=.@!-]{1,512}-[A-Za-z0-9]{6}", "a Secrets Manager secret ARN",
                       "secret:<name>-<6 characters AWS appended>"),
    "kms": (rf"key/({UUID_FORM}|mrk-[0-9a-f]{{32}})", "a KMS key ARN", "key/<key id>"),
    "sqs": (r"[A-Za-z0-9_-]{1,80}(\.fifo)?", "an SQS queue ARN", "<queue name>"),
    "lambda": (r"function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?", "a Lambda function ARN",
               "function:<name>"),
}


def arn_pattern(service: str) -> str:
    resource = ARN_FORMS[service][0]
    return rf"^arn:aws(-cn|-us-gov)?:{service}:{REGION_FORM}:\d{{12}}:{resource}$"


def arn_problem(value: str, service: str) -> str | None:
    """Why `value` is not an ARN of `service` in a Region AWS has, in that Region's partition; or None."""
    resource, what, words = ARN_FORMS[service]
    form = f"arn:<aws|aws-cn|aws-us-gov>:{service}:<region>:<12-digit account>:{words}"
    if not re.fullmatch(arn_pattern(service)[1:-1], value):
        return f"'{value}' is not {what}; allowed: {form}"
    _, partition, _, region, *_ = value.split(":")
    if region not in AWS_REGIONS:
        return f"'{value}': '{region}' is not an AWS Region code; allowed: {', '.join(AWS_REGIONS)}"
    if partition != partition_of(region):
        return (f"'{value}': Region {region} is in partition {partition_of(region)}, not {partition}; "
                f"allowed: arn:{partition_of(region)}:{service}:{region}:...")
    return None


def arn_region(value: str) -> tuple[str, str]:
    """(partition, region) of a well-formed ARN."""
    parts = value.split(":")
    return parts[1], parts[3]


def _arn_of(service: str):
    def check(value: str) -> str:
        if problem := arn_problem(value, service):
            raise ValueError(problem)
        return value

    return check


def Arn(service: str):  # noqa: N802  (a type, used as one)
    """The type of a field holding an ARN of `service` (e.g. Arn("sns"))."""
    return Annotated[str, AfterValidator(_arn_of(service)),
                     Field(json_schema_extra={"pattern": arn_pattern(service), KIND_KEY: f"arn:{service}"})]


SnsTopicArn = Arn("sns")

# ------------------------------------------------------------------ security group ids
# EC2: sg- followed by 8 (older) or 17 hexadecimal characters (EC2 user guide, "Resource IDs").
SECURITY_GROUP_ID_PATTERN = r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$"


def _security_group_id(value: str) -> str:
    if not re.fullmatch(SECURITY_GROUP_ID_PATTERN[1:-1], value):
        raise ValueError(f"'{value}' is not a security group id; allowed: sg- and 8 or 17 lower-case hex digits, "
                         "e.g. sg-0123456789abcdef0")
    return value


SecurityGroupId = Annotated[str, AfterValidator(_security_group_id),
                            Field(json_schema_extra={"pattern": SECURITY_GROUP_ID_PATTERN,
                                                     KIND_KEY: "security-group-id"})]

# ------------------------------------------------------------------ names of secrets
# A secret of the env file: a key of `secrets`, and every field naming one. Secrets Manager stores it as
# `<project>-<environment>/<name>` (EnvConfig.secret_name).
SecretName = Annotated[Name | EnvVarName, Field(json_schema_extra={KIND_KEY: "secret-name"})]

# ------------------------------------------------------------------ tags
TAG_WORDS = "letters, digits, spaces and _ . : / = + - @"


def tag_problems(tags: dict[str, str]) -> list[str]:
    """What is wrong with a set of tags (AWS tagging limits: key 1-128, value 0-256 characters of letters,
    digits, spaces and _ . : / = + - @; the `aws:` prefix reserved; 50 tags per resource, of which the stack
    uses STACK_TAG_KEYS). The whole value must match: a trailing newline is refused like any other character."""
    room = TAGS_PER_RESOURCE_MAX - len(STACK_TAG_KEYS)
    if len(tags) > room:
        return [f"{len(tags)} tags; AWS allows {TAGS_PER_RESOURCE_MAX} per resource and the stack adds "
                f"{', '.join(STACK_TAG_KEYS)}: allowed: at most {room}"]
    problems = []
    for key, tag in tags.items():
        if key.lower().startswith(TAG_RESERVED_PREFIX):
            problems.append(f"tag key '{key}': the prefix '{TAG_RESERVED_PREFIX}' is reserved for AWS; use another key")
        elif not 1 <= len(key) <= TAG_KEY_MAX or not re.fullmatch(TAG_CHARACTERS, key):
            problems.append(f"tag key {key!r}: allowed are 1-{TAG_KEY_MAX} {TAG_WORDS}")
        if len(tag) > TAG_VALUE_MAX or not re.fullmatch(TAG_CHARACTERS, tag):
            problems.append(f"tag {key!r} value {tag[:40]!r}: allowed are 0-{TAG_VALUE_MAX} {TAG_WORDS}")
    return problems


def _tags(value: dict[str, str]) -> dict[str, str]:
    if problems := tag_problems(value):
        raise ValueError("; ".join(problems))
    return value


Tags = Annotated[dict[str, str], AfterValidator(_tags), Field(json_schema_extra={KIND_KEY: "tags"})]
