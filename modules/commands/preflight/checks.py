"""Every preflight check, declared once: the function, what it looks at, and the IAM actions it calls.

From this declaration come the command's help (HELP), the order the checks run in (CHECKS), the runbook's
list of permissions (docs/runbook.md, step 0) and the deploy role's policy (docs/terraform-cloud.md, step 6);
tests/commands/test_preflight_checks.py keeps those docs equal to it and records, on every preflight test, each
AWS call made, failing on one a check does not declare.

`actions` are needed: without one the check FAILs ("cannot check"). `optional` ones only deepen a check: without
them it warns instead (GetSecretValue for a JSON secret's keys, the KMS key of an encrypted alarm topic).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from modules.commands.preflight.alarms import check_alarm_recipients, check_alarm_topics, check_log_resource_policies
from modules.commands.preflight.capacity import check_instance_offerings, check_vcpu_quotas
from modules.commands.preflight.data import check_database, check_secrets
from modules.commands.preflight.edge import check_certificate, check_domain
from modules.commands.preflight.findings import Aws, Finding
from modules.commands.preflight.images import check_images, check_public_image_pins
from modules.config import EnvConfig


@dataclass(frozen=True)
class Check:
    run: Callable[[EnvConfig, Aws], list[Finding]]
    looks_at: str  # for the help line and the README: what in the account it checks
    actions: tuple[str, ...]  # IAM actions it needs
    optional: tuple[str, ...] = ()  # IAM actions whose absence turns part of the check into a warning


# Asked once per run, before any check (Aws.account()); a check comparing accounts reuses the answer.
CALLER_ACTIONS = ("sts:GetCallerIdentity",)

CHECKS: tuple[Check, ...] = (
    Check(check_domain, "DNS zone",
          ("route53:ListHostedZonesByName", "route53:GetHostedZone", "route53:ListResourceRecordSets",
           "elasticloadbalancing:DescribeLoadBalancers")),
    Check(check_certificate, "certificate", ("acm:DescribeCertificate",)),
    Check(check_secrets, "secrets", ("secretsmanager:DescribeSecret",),
          optional=("secretsmanager:GetSecretValue",)),
    Check(check_instance_offerings, "instance types offered in the zones",
          ("ec2:DescribeAvailabilityZones", "ec2:DescribeInstanceTypeOfferings")),
    Check(check_vcpu_quotas, "vCPU quotas",
          ("ec2:DescribeInstanceTypes", "servicequotas:GetServiceQuota",
           "servicequotas:GetAWSDefaultServiceQuota")),
    Check(check_database, "database",
          ("rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:DescribeDBSubnetGroups",
           "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
           # database.network: the database's VPC, its route tables and DNS attributes, the transit gateway
           "ec2:DescribeRouteTables", "ec2:DescribeVpcAttribute", "ec2:DescribeTransitGateways",
           "ec2:DescribeTransitGatewayVpcAttachments")),
    Check(check_images, "app images in ECR", ("ecr:DescribeImages",)),
    Check(check_public_image_pins, "digests of public images pulled by tag", ("ecr:DescribeImages",)),
    Check(check_alarm_topics, "alarm topics", ("sns:GetTopicAttributes",),
          optional=("kms:DescribeKey", "kms:GetKeyPolicy")),
    Check(check_alarm_recipients, "alarm recipients", ()),
    Check(check_log_resource_policies, "log resource policies", ("logs:DescribeResourcePolicies",)),
)

HELP = f"read-only checks of the AWS account before a deploy ({', '.join(check.looks_at for check in CHECKS)})"

# What the deploy job does with its role besides preflight (.github/workflows/deploy.yml and
# scripts/break_glass_deploy.sh): push the docker/ images, then wait for the ECS rollout.
PUSH_ACTIONS = ("ecr:DescribeImages", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage")
REGISTRY_LOGIN_ACTIONS = ("ecr:GetAuthorizationToken",)  # no resource form: Resource "*"
ROLLOUT_ACTIONS = ("ecs:ListServices", "ecs:DescribeServices")


def preflight_actions() -> list[str]:
    """Every IAM action a preflight run may call, needed or optional, sorted."""
    return sorted({*CALLER_ACTIONS, *(a for check in CHECKS for a in (*check.actions, *check.optional))})


def optional_actions() -> list[str]:
    return sorted({a for check in CHECKS for a in check.optional})


def runbook_list() -> str:
    """The runbook's sentence listing the preflight role's permissions (docs/runbook.md, step 0)."""
    needed = [a for a in preflight_actions() if a not in optional_actions()]
    return (f"The role it runs with needs {', '.join(f'`{a}`' for a in needed)}; with "
            f"{', '.join(f'`{a}`' for a in optional_actions())} it also checks a JSON secret's keys and the KMS "
            "key of an encrypted alarm topic (without them those parts are warnings).")


def deploy_role_policy(account: str = "<account>", region: str = "<region>", stack: str = "<stack>") -> dict:
    """The identity policy of the GitHub deploy role (docs/terraform-cloud.md, step 6): preflight's reads
    (Describe/List/Get, most without a resource form), push to the stack's repositories, the rollout wait."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Preflight", "Effect": "Allow", "Action": preflight_actions(), "Resource": "*"},
        {"Sid": "RegistryLogin", "Effect": "Allow", "Action": list(REGISTRY_LOGIN_ACTIONS), "Resource": "*"},
        {"Sid": "PushImages", "Effect": "Allow", "Action": sorted(PUSH_ACTIONS),
         "Resource": f"arn:aws:ecr:{region}:{account}:repository/{stack}/*"},
        {"Sid": "RolloutWait", "Effect": "Allow", "Action": sorted(ROLLOUT_ACTIONS), "Resource": "*"},
    ]}


def deploy_role_policy_json() -> str:
    return json.dumps(deploy_role_policy(), indent=2)

