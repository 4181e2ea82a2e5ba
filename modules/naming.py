"""Generated AWS names that must fit a length limit. No cdktf import: `preflight` finds the ALB by this name."""

from __future__ import annotations

import hashlib


def fit_name(base: str, limit: int) -> str:
    """AWS names with a length limit (ALB/target group 32, IAM role 64): keep short names, else
    truncate and add a stable hash so two long names never collide."""
    if len(base) <= limit:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base[: limit - 9].rstrip('-')}-{digest}"


def scheduled_failures_policy_name(stack_name: str) -> str:
    """The CloudWatch Logs resource policy letting EventBridge write failed scheduled runs to their log group
    (modules/schedule_failures.py); preflight looks for it among the account's 10 per Region."""
    return f"{stack_name}-scheduled-failures"


# S3 bucket_prefix: Terraform appends a 26-character unique suffix (a timestamp and a counter, all digits), and a
# bucket name is at most 63 characters, so the prefix is at most 37.
BUCKET_PREFIX_LIMIT = 37
TERRAFORM_UNIQUE_SUFFIX_LENGTH = 26


def access_log_bucket_prefix(stack_name: str) -> str:
    """bucket_prefix of the ALB's access log bucket (modules/alb.py); its names rule checks it too."""
    return fit_name(f"{stack_name}-alb-logs", BUCKET_PREFIX_LIMIT - 1) + "-"


def load_balancer_name(stack_name: str, limit: int) -> str:
    """The ALB's name (modules/alb.py; preflight finds the ALB by it)."""
    return fit_name(stack_name, limit)
