"""Rewrite modules/config/aws_shapes.json from the installed botocore's service models (a dev dependency):
the constraints of every API member modules/config/aws_shapes.py REACHES names. Run after a botocore upgrade or
a change to REACHES; tests/config/test_config_aws_shapes.py says when it is due."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.config import aws_shapes  # noqa: E402  (after the path)

if __name__ == "__main__":
    aws_shapes.write_snapshot()
    print(f"wrote {aws_shapes.SNAPSHOT.relative_to(ROOT)} ({len(aws_shapes.api_members())} API members)")
