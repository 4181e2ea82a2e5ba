"""Registry and image rules: ECR repositories, the pull-through cache, image tags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.defaults import DOCKER_HUB_SECRET_KEYS, PULL_THROUGH_PREFIX_MAX, PULL_THROUGH_UPSTREAMS
from modules.config.registry import pull_through_source, split_reference

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig


def cache_upstreams_need_pull_through(cfg: EnvConfig) -> list[Problem]:
    """registry.cache_upstreams only means something with registry.pull_through_cache on."""
    if not cfg.registry.pull_through_cache and cfg.registry.cache_upstreams:
        return [(("registry", "cache_upstreams"), "needs 'pull_through_cache: true'")]
    return []

def pull_through_prefix_fits(cfg: EnvConfig) -> list[Problem]:
    """Each pull-through rule's repository prefix `<name>/<upstream>` is at most 30 characters, no '--' (ECR)."""
    problems = []
    for upstream in cfg.pull_through_upstreams():
        prefix = f"{cfg.name}/{upstream}"
        if len(prefix) > PULL_THROUGH_PREFIX_MAX or "--" in prefix:
            problems.append((("registry", "pull_through_cache"), f"repository prefix '{prefix}' must be at most "
                             f"{PULL_THROUGH_PREFIX_MAX} characters without '--' (ECR); shorten project/environment "
                             "names"))
    return problems

def public_images_pin_digests(cfg: EnvConfig) -> list[Problem]:
    """With registry.require_image_digests on, every public image names its digest as well as its tag."""
    if not cfg.registry.require_image_digests:
        return []
    return [(("services", sname, "image"),
             f"'{svc.image.public}' has no digest; registry.require_image_digests asks for "
             f"name:tag@sha256:<64 hex> (e.g. `docker buildx imagetools inspect {svc.image.public}`)")
            for sname, svc in cfg.services.items()
            if svc.image.public and not split_reference(svc.image.public)[2]]


def public_images_are_cacheable(cfg: EnvConfig) -> list[Problem]:
    """With the pull-through cache on, every public image comes from an upstream ECR can cache."""
    if not cfg.registry.pull_through_cache:
        return []
    supported = ", ".join(h for h, _ in list(PULL_THROUGH_UPSTREAMS.values())[1:])
    return [(("services", sname, "image"),
             f"'{svc.image.public}' is on a registry ECR pull-through cache does not support "
             f"(supported: Docker Hub, {supported}); "
             f"use one of those or set registry.pull_through_cache: false")
            for sname, svc in cfg.services.items()
            if svc.image.public and pull_through_source(svc.image.public)[0] is None]

def docker_hub_has_credentials(cfg: EnvConfig) -> list[Problem]:
    """Caching Docker Hub needs registry.docker_hub_secret, a secret with exactly ECR's credential keys."""
    reg = cfg.registry
    if not reg.pull_through_cache:
        return []
    problems = []
    if "docker-hub" in cfg.pull_through_upstreams() and not reg.docker_hub_secret:
        problems.append((("registry", "docker_hub_secret"),
                         f"required: Docker Hub images are cached and ECR needs Docker Hub credentials; name a "
                         f"secret with keys {DOCKER_HUB_SECRET_KEYS}, or set pull_through_cache: false"))
    secret = cfg.secrets.get(reg.docker_hub_secret or "")
    if secret is not None and sorted(secret.keys) != DOCKER_HUB_SECRET_KEYS:
        problems.append((("secrets", reg.docker_hub_secret, "keys"),
                         f"the Docker Hub credentials secret needs exactly the keys {DOCKER_HUB_SECRET_KEYS}"))
    return problems

def tag_env_var_is_not_the_synth_tag(cfg: EnvConfig) -> list[Problem]:
    """An image's tag_env_var names another repository's tag, never registry.image_tag_env_var."""
    return [(("services", sname, "image", "tag_env_var"),
             f"'{svc.image.tag_env_var}' is the synth-time tag (registry.image_tag_env_var); "
             "omit tag_env_var for that, or name the variable the other repository's tag is in")
            for sname, svc in cfg.services.items()
            if svc.image.tag_env_var and svc.image.tag_env_var == cfg.registry.image_tag_env_var]

def one_build_one_source(cfg: EnvConfig) -> list[Problem]:
    """Services sharing a `build` repository agree on its dockerfile and tag_env_var (one tag per synth)."""
    problems, first = [], {}
    for sname, svc in cfg.services.items():
        image = svc.image
        if not image.build:
            continue
        other = first.setdefault(image.build, sname)
        theirs = cfg.services[other].image
        if (image.dockerfile, image.tag_env_var) != (theirs.dockerfile, theirs.tag_env_var):
            problems.append((("services", sname, "image"),
                             f"builds '{image.build}' like service '{other}' but with another dockerfile/tag_env_var; "
                             "one repository has one source and one tag"))
    return problems
