"""What the preflight test files share: moto's region and account, an env file made from stage.yaml."""

from __future__ import annotations

import yaml
from conftest import variant

from modules.config import load

REGION = "us-east-1"  # stage's region; moto offers g5.xlarge only in us-east-1a and us-east-1b
ACCOUNT = "123456789012"  # moto's default account


def env_cfg(tmp_path, mutate=lambda data: None):
    """stage.yaml changed by `mutate(data)`, written to tmp_path and loaded (rules and all)."""
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(variant(mutate), sort_keys=False))
    return load(path)


def levels(findings) -> list[str]:
    return [f.level for f in findings]
