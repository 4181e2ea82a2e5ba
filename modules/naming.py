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
