"""Values against AWS's own API models: each env-file value (or the name the stack derives from it) fits the
shape of the API member that receives it: min, max, pattern, enum (the table: modules/config/aws_shapes.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import modules.config.aws_shapes as aws_shapes
from modules.config.base import Problem

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig


def values_fit_aws_api_models(cfg: EnvConfig) -> list[Problem]:
    """Every value that reaches AWS fits the shape botocore's model gives the API member receiving it (e.g.
    alb.health_check.path: elbv2 CreateTargetGroup HealthCheckPath, 1-1024 characters; a secret's description:
    secretsmanager CreateSecret Description, at most 2048): what the API would refuse at apply is refused here."""
    return aws_shapes.problems(cfg)
