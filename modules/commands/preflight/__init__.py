"""`python main.py preflight`: read-only checks of the AWS account before a deploy.

What terraform validate, checkov and the emulator cannot see, because it lives in the account. The checks, what
each looks at and the IAM actions each calls are declared once, in checks.py (CHECKS); the help line, the
runbook's permission list and the deploy role's policy come from there.
One line per finding with what to do; exit 2 when the deploy would fail (any FAIL line), 0 with a summary.

Credentials and endpoint: boto3's default chain (AWS_PROFILE, SSO, environment, instance role); region
from the env file; `--endpoint-url` (or AWS_ENDPOINT_URL, read by boto3 itself) for an emulator.
Only Describe/List/Get calls. One reads a value: GetSecretValue, to check that a JSON secret has the keys
ECS will ask for (a missing key fails the task at start exactly like a missing value). The value never
leaves `_json_keys`: only key names are compared and printed. Without the permission that check is
skipped with a warning; the value check itself (DescribeSecret: a version labelled AWSCURRENT) reads none.

The checks live by concern: findings.py (the Finding, the AWS clients, errors -> findings), edge.py, data.py,
capacity.py, images.py, alarms.py; checks.py lists them.
"""

from __future__ import annotations

import argparse
import sys

from modules.commands import EXIT_BAD_INPUT, EXIT_OK
from modules.commands.preflight.alarms import check_alarm_recipients, check_alarm_topics, check_log_resource_policies
from modules.commands.preflight.capacity import (
    GPU_VCPU_QUOTA,
    STANDARD_VCPU_QUOTA,
    VCPU_QUOTAS,
    check_instance_offerings,
    check_vcpu_quotas,
    chosen_zones,
    vcpu_quota_of,
)
from modules.commands.preflight.checks import CHECKS, HELP, Check
from modules.commands.preflight.data import NeededSecret, check_database, check_secrets, needed_secrets
from modules.commands.preflight.edge import ACM_CAA_ISSUERS, certificate_hosts, check_certificate, check_domain
from modules.commands.preflight.findings import (
    CREDENTIAL_ERROR_CODES,
    FAIL,
    OK,
    WARN,
    Aws,
    CredentialsError,
    Finding,
    error_code,
)
from modules.commands.preflight.images import check_images, check_public_image_pins
from modules.config import EnvConfig

NEEDS_ENV = True



def account_id(aws: Aws) -> str:
    """The caller's account: asked first, so bad credentials fail before any check."""
    return aws.account()


def preflight(cfg: EnvConfig, aws: Aws) -> tuple[list[Finding], str]:
    """(findings, account). Raises CredentialsError when no check can run."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # noqa: PLC0415

    try:
        account = account_id(aws)
        findings = [finding for check in CHECKS for finding in check.run(cfg, aws)]
    except NoCredentialsError as exc:
        raise CredentialsError(f"no AWS credentials found ({exc}): log in (aws sso login, aws configure, AWS_PROFILE, "
                               "or the workflow's role) and rerun") from None
    except ClientError as exc:
        if error_code(exc) in CREDENTIAL_ERROR_CODES:
            raise CredentialsError(f"AWS credentials rejected ({error_code(exc)}: expired or invalid): log in again "
                                   "and rerun") from None
        raise
    except BotoCoreError as exc:  # token refresh failures, unreachable endpoint, ...
        raise CredentialsError(f"cannot reach AWS with these credentials: {exc}") from None
    return findings, account


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", default=None,
                        help="AWS endpoint for every call, e.g. an emulator (default: $AWS_ENDPOINT_URL, else AWS)")


def run(args: argparse.Namespace, cfg: EnvConfig) -> int:
    aws = Aws(cfg.region, args.endpoint_url)
    try:
        findings, account = preflight(cfg, aws)
    except CredentialsError as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for finding in findings:
        print(finding.line())
    failed = [f for f in findings if f.level == FAIL]
    warned = [f for f in findings if f.level == WARN]
    where = f"{cfg.name} in {cfg.region}, account {account}"
    if failed:
        print(f"preflight {where}: {len(failed)} problem(s): the deploy would fail; fix the FAIL lines above",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"preflight {where}: {len(findings) - len(warned)} check(s) ok, {len(warned)} warning(s): ready to deploy")
    return EXIT_OK


__all__ = ["ACM_CAA_ISSUERS", "CHECKS", "FAIL", "Check", "GPU_VCPU_QUOTA", "HELP", "NEEDS_ENV", "OK", "STANDARD_VCPU_QUOTA",
           "VCPU_QUOTAS", "WARN", "Aws", "CredentialsError", "Finding", "NeededSecret", "add_arguments",
           "certificate_hosts", "check_alarm_recipients", "check_alarm_topics", "check_certificate",
           "check_database", "check_domain", "check_images", "check_public_image_pins", "check_instance_offerings",
           "check_log_resource_policies", "check_secrets", "check_vcpu_quotas", "chosen_zones", "needed_secrets",
           "preflight", "run", "vcpu_quota_of"]
