"""The `registry` section (ECR repositories, lifecycle, pull-through cache) and how an image maps to an upstream."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from modules.config.base import EnvVarName, Strict
from modules.config.kinds import SecretName
from modules.config.defaults import (
    APP_IMAGE_UNRELEASED_TAG,
    DEFAULT_ECR_KEEP_LAST,
    DEFAULT_ECR_UNTAGGED_EXPIRE_DAYS,
    DEFAULT_IMAGE_TAG_ENV_VAR,
    DOCKER_HUB_HOSTS,
    PULL_THROUGH_UPSTREAMS,
)


class Registry(Strict):
    keep_last: int = Field(DEFAULT_ECR_KEEP_LAST, ge=1, description="ECR lifecycle: tagged images kept")
    untagged_expire_days: int = Field(
        DEFAULT_ECR_UNTAGGED_EXPIRE_DAYS, ge=1, description="ECR lifecycle: days untagged images are kept"
    )
    encryption: Literal["AES256", "KMS"] = Field(
        "AES256", description="repository encryption at rest: AES256 (S3-managed) or KMS (the aws/ecr key)"
    )
    force_delete: bool = Field(False, description="let `destroy` delete repositories that still hold images")
    image_tag_env_var: EnvVarName = Field(
        DEFAULT_IMAGE_TAG_ENV_VAR,
        description="env var overriding the tag of docker/ images (default: the hash of their build context)",
    )
    app_image_tag: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
        description="the tag images another repository builds (those with `tag_env_var`) run; written by the "
        "app-release workflow, so every deployed state is a commit (the variable still overrides it); unset: "
        f"'{APP_IMAGE_UNRELEASED_TAG}', which the deploy refuses",
    )
    pull_through_cache: bool = Field(True, description="ECR pull-through cache for public images")
    docker_hub_secret: SecretName | None = Field(
        None, description="secret with Docker Hub username/accessToken (needed for docker-hub upstream)"
    )
    require_image_digests: bool = Field(
        False, description="every public image must carry its digest as well as its tag "
        "(name:tag@sha256:...): the tag says which release, the digest makes it immutable")
    cache_upstreams: list[Literal["docker-hub", "ecr-public", "quay", "k8s"]] = Field(
        default_factory=list,
        description="extra pull-through cache upstreams, e.g. for the base images of docker/ builds",
    )
    registry_scanning: bool = Field(
        True, description="own the Region's ECR registry scanning configuration: basic scan on push of every "
        "repository under <project>-<environment>/ (built images and the pull-through cache's). One per account "
        "and Region: only one stack of a Region may own it (false in the others; their repositories then need "
        "that stack's rule to cover them)")

    @field_validator("app_image_tag")
    @classmethod
    def _pinned(cls, value: str | None) -> str | None:
        if value == "latest":
            raise ValueError("'latest' is not a release: record the tag the application repository pushed")
        if value == APP_IMAGE_UNRELEASED_TAG:
            raise ValueError(f"'{APP_IMAGE_UNRELEASED_TAG}' stands for 'no release recorded yet' (the tag synth gives "
                             "the application's images without one): record the tag the application repository "
                             "pushed")
        return value


def split_reference(image: str) -> tuple[str, str, str]:
    """`ollama/ollama:0.3.14@sha256:ab..` -> (`ollama/ollama`, `0.3.14`, `sha256:ab..`); missing parts are ''."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else ""
    return (name[: -len(tag) - 1] if tag else name), tag, digest


def pull_through_source(image: str) -> tuple[str | None, str, str]:
    """`ollama/ollama:0.3.14` -> (upstream name or None if ECR cannot cache it, repository, `:tag[@digest]`)."""
    name, tag, digest = split_reference(image)
    reference = (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):  # an explicit registry host
        host, repository = first, rest
    else:
        host, repository = "docker.io", name
    if host in DOCKER_HUB_HOSTS:
        return "docker-hub", repository if "/" in repository else f"library/{repository}", reference
    for upstream, (upstream_host, _) in PULL_THROUGH_UPSTREAMS.items():
        if host == upstream_host:
            return upstream, repository, reference
    return None, repository, reference
