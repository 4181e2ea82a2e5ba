#!/usr/bin/env python3
"""The images a deploy of an env file needs, one line each: "<ECR repository> <tag> <Dockerfile>".

    python scripts/list_images.py ENV_NAME >images.txt

The tags are synth's (modules/commands/synth.py image_tags: docker/ images by the hash of their build context,
the application's by registry.app_image_tag); an empty Dockerfile means the application repository builds it.
scripts/push_images.sh reads the list (deploy.yml's deploy job; scripts/break_glass_deploy.sh).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from modules.image_tags import image_tags  # noqa: E402
from modules.config import load  # noqa: E402


def lines(env_name: str) -> list[str]:
    cfg = load(Path("envs") / f"{env_name}.yaml")
    tags = image_tags(cfg)
    dockerfiles = {s.image.build: s.image.dockerfile or "" for s in cfg.services.values() if s.image.build}
    return [f"{cfg.repository_name(b)} {tags[b]} {dockerfiles[b]}" for b in sorted(tags)]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: list_images.py ENV_NAME")
    print("\n".join(lines(sys.argv[1])))
