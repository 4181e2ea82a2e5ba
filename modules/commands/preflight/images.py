"""Preflight checks of images: those another repository builds are in ECR under the tag synth gives them; a
public image pulled by tag alone gets the digest to pin."""

from __future__ import annotations

import os

from modules.commands.preflight.findings import FAIL, OK, WARN, Aws, Finding, per_item
from modules.config import EnvConfig
from modules.config.registry import pull_through_source, split_reference

# ------------------------------------------------------------------ images
def check_images(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    """The images another repository builds (`image.tag_env_var`) are in ECR under the tag synth gives them
    (modules/image_tags.py: the variable, else registry.app_image_tag); so are docker/ images when
    registry.image_tag_env_var names their tag (pushed by hand). docker/ images tagged by the hash of their
    build context are built and pushed by the deploy workflow itself (its step 1), so they are not required."""
    from modules.image_tags import image_tags  # noqa: PLC0415

    tags = image_tags(cfg)
    override = os.environ.get(cfg.registry.image_tag_env_var)
    required = [build for build in sorted(tags) if _tag_env_var(cfg, build) or override]
    return per_item(required, lambda build: f"image {build}", "ecr:DescribeImages",
                    lambda build: _check_image(cfg, aws.client("ecr"), build, tags[build]))


def _tag_env_var(cfg: EnvConfig, build: str) -> str | None:
    """The variable naming the tag of an image another repository builds (None: a docker/ image)."""
    return next(s for s in cfg.services.values() if s.image.build == build).image.tag_env_var


def _check_image(cfg: EnvConfig, ecr, build: str, tag: str) -> Finding:
    var = _tag_env_var(cfg, build)
    check, repository = f"image {build}", cfg.repository_name(build)
    if var and not os.environ.get(var) and not cfg.registry.app_image_tag:
        return Finding(FAIL, check, f"no release recorded: registry.app_image_tag is unset and so is {var}, so synth "
                                    f"tags it '{tag}', which stands for no release: the first deploy waits for the "
                                    "application's first release (docs/delivery.md, \"First deploy\"); record its "
                                    "tag in registry.app_image_tag")
    source = var if var and os.environ.get(var) else "registry.app_image_tag" if var else cfg.registry.image_tag_env_var
    try:
        ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ecr.exceptions.RepositoryNotFoundException:
        return Finding(FAIL, check, f"no ECR repository {repository}: on a first deploy create the repositories "
                                    "first (deploy workflow with bootstrap_registry, "
                                    "docs/delivery.md \"First deploy\"), then push the image")
    except ecr.exceptions.ImageNotFoundException:
        return Finding(FAIL, check, f"{repository}:{tag} is not in ECR (tag from {source}): push it, or name a tag "
                                    "that was pushed; its tasks cannot start without it")
    return Finding(OK, check, f"{repository}:{tag} is in ECR")


# ------------------------------------------------------------------ public image pins
def check_public_image_pins(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    """Each public image pulled through the cache by tag alone: the digest ECR cached for that tag, printed as
    the pin to write in the env file (`name:tag@sha256:...`). A tag not cached yet (before the first task
    pulled it) is a warning with the way to look it up upstream; a pinned image is OK."""
    images = sorted({svc.image.public for svc in cfg.services.values() if svc.image.public})
    return per_item(images, lambda image: f"pin {image}", "ecr:DescribeImages",
                    lambda image: _pin(cfg, aws.client("ecr"), image))


def _pin(cfg: EnvConfig, ecr, image: str) -> Finding:
    check = f"pin {image}"
    name, tag, digest = split_reference(image)
    if digest:
        return Finding(OK, check, "pinned by digest")
    upstream, repository, _ = pull_through_source(image)
    if not cfg.registry.pull_through_cache or upstream is None or not tag:
        return Finding(WARN, check, f"tag only and not cached by ECR: pin it from `docker buildx imagetools inspect "
                                    f"{image}`")
    cached = f"{cfg.name}/{upstream}/{repository}"
    try:
        found = ecr.describe_images(repositoryName=cached, imageIds=[{"imageTag": tag}])["imageDetails"][0]
    except (ecr.exceptions.RepositoryNotFoundException, ecr.exceptions.ImageNotFoundException):
        return Finding(WARN, check, f"tag only, and {cached}:{tag} is not cached yet (the first task pull caches it): "
                                    f"pin it from `docker buildx imagetools inspect {image}`, or run preflight again "
                                    "after the first deploy")
    return Finding(WARN, check, f"tag only; ECR cached {tag} as {found['imageDigest']}: pin it, "
                                f"image: {name}:{tag}@{found['imageDigest']} (then registry.require_image_digests: "
                                "true)")
