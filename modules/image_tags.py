"""The tag of every image the stack runs that is built (not public): what synth writes into the task definitions
and what the deploy pushes (scripts/list_images.py, preflight's image check).

docker/ images are tagged with the hash of their build context (modules/build_context.py), so a commit that
changes none of their files changes no task definition; images another repository builds run the release
recorded in the env file, or a fixed placeholder no deploy accepts.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from modules.build_context import BuildContextError, context_tag
from modules.commands import UsageError
from modules.config.defaults import APP_IMAGE_UNRELEASED_TAG

ROOT = Path(__file__).resolve().parents[1]  # the checkout: docker/ (build contexts)
DOCKER_CONTEXT = ROOT / "docker"  # the build context of every docker/ image (docker/lib/ is shared)

# Docker's tag grammar: what ECR accepts and what a `docker push` could have produced.
IMAGE_TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def checked_tag(var: str, tag: str) -> str:
    if tag == "latest":
        raise UsageError(f"{var}=latest: pin images to a git sha or a version (seed §5), not 'latest'")
    if not IMAGE_TAG_PATTERN.fullmatch(tag):
        raise UsageError(f"{var}={tag!r} is not an image tag: letters, digits, '_', '.', '-' (not first), "
                         "at most 128 characters")
    return tag


def docker_tag(dockerfile: str) -> str:
    """The content-addressed tag of an image built from docker/ (modules/build_context.py)."""
    try:
        return context_tag(DOCKER_CONTEXT, ROOT / dockerfile)
    except BuildContextError as exc:
        raise UsageError(f"image.dockerfile {dockerfile}: {exc}") from None


def image_tags(cfg) -> dict[str, str]:
    """The tag of every built image, keyed by `image.build` (sorted).

    docker/ builds (`image.dockerfile`) are tagged with the hash of their build context, so a commit that
    changes none of their files changes neither their tag nor their task definition (no needless restart);
    `registry.image_tag_env_var` set overrides that (an image you built and pushed by hand under that tag).
    An image another repository builds runs the release recorded in the env file (`registry.app_image_tag`,
    written by the app-release workflow); the env var it names (`image.tag_env_var`) overrides that; with
    neither it gets APP_IMAGE_UNRELEASED_TAG, said on stderr: the same for every commit (a commit of this
    repository restarts nothing), never pushed, so the deploy workflow and preflight refuse it."""
    override_var = cfg.registry.image_tag_env_var
    override = os.environ.get(override_var)
    tags: dict[str, str] = {}
    fallbacks: dict[str, list[str]] = {}
    for name, svc in sorted(cfg.services.items()):
        build, var = svc.image.build, svc.image.tag_env_var
        if not build:
            continue
        if svc.image.dockerfile:
            tags[build] = checked_tag(override_var, override) if override else docker_tag(svc.image.dockerfile)
            continue
        value = os.environ.get(var) if var else override  # no tag_env_var: an image pushed by hand
        if value:
            tags[build] = checked_tag(var or override_var, value)
        elif cfg.registry.app_image_tag:
            tags[build] = cfg.registry.app_image_tag
        else:
            fallbacks.setdefault(var or override_var, []).append(name)
            tags[build] = APP_IMAGE_UNRELEASED_TAG
    for var, names in sorted(fallbacks.items()):
        print(f"notice: {var} is not set and no release is recorded: {', '.join(names)} (built by another "
              f"repository) get the tag '{APP_IMAGE_UNRELEASED_TAG}', which no deploy accepts; record the tag that "
              f"repository pushed in registry.app_image_tag (the app-release workflow does) or set {var}",
              file=sys.stderr)
    return dict(sorted(tags.items()))


