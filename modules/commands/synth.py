"""`python main.py [synth]`: the env file -> Terraform JSON in cdktf.out/ (the default command).

The image tags are resolved and checked before jsii starts, the stack is synthesized into a
staging directory beside the output, then swapped in: a failure leaves the earlier output intact,
and Terraform's working files (local state) in the old stack directories are carried over.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from modules.build_context import BuildContextError, context_tag
from modules.commands import EXIT_OK, UsageError

HELP = "synthesize Terraform JSON into cdktf.out/ (the default command)"
NEEDS_ENV = True
ROOT = Path(__file__).resolve().parents[2]  # the checkout: docker/ and its git HEAD (an app image's fallback tag)
DOCKER_CONTEXT = ROOT / "docker"  # the build context of every docker/ image (docker/lib/ is shared)

# Docker's tag grammar: what ECR accepts and what a `docker push` could have produced.
IMAGE_TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def image_tag(cfg) -> str:
    """The fallback tag of an image another repository builds when nothing names its tag: the git sha
    (seed §5: never `latest`); `registry.image_tag_env_var` overrides it."""
    var = cfg.registry.image_tag_env_var
    tag = os.environ.get(var)
    if not tag:
        try:
            tag = subprocess.run(
                ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            raise UsageError(f"no image tag: set {var} (e.g. a git sha or semver); this is not a git checkout")
    return checked_tag(var, tag)


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
    neither it falls back to the git-sha tag, said on stderr because that tag is likely not in ECR."""
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
        value = os.environ.get(var) if var else None
        if value:
            tags[build] = checked_tag(var, value)
        elif var and cfg.registry.app_image_tag:
            tags[build] = cfg.registry.app_image_tag
        else:
            if var:
                fallbacks.setdefault(var, []).append(name)
            tags[build] = image_tag(cfg)
    for var, names in sorted(fallbacks.items()):
        print(f"notice: {var} is not set: {', '.join(names)} (built by another repository) get the git-sha "
              f"tag {image_tag(cfg)}; record the tag that repository pushed in registry.app_image_tag "
              f"(the app-release workflow does) or set {var}", file=sys.stderr)
    return dict(sorted(tags.items()))


def keep_terraform_files(old: Path, new: Path) -> None:
    """Carry Terraform's working files (.terraform/, lock file, local state) into the new stack dirs.

    `cdktf deploy` runs Terraform inside cdktf.out/stacks/<stack>/, so a local backend keeps its state
    there; replacing the directory wholesale would lose it (and every later plan would re-create all).
    Stacks of other environments synthesized into the same outdir (another --env) are carried over
    whole: their local state must survive, and cdktf-cli expects every stack of the previous manifest.
    """
    for old_stack in sorted((old / "stacks").glob("*")):
        new_stack = new / "stacks" / old_stack.name
        if not old_stack.is_dir():
            continue
        if not new_stack.exists():
            old_stack.rename(new_stack)
            continue
        for entry in sorted(old_stack.iterdir()):
            if not (new_stack / entry.name).exists():
                entry.rename(new_stack / entry.name)


def synth(cfg, outdir: Path, aws_endpoint: str | None = None) -> Path:
    """Synthesize into a temp dir beside outdir, then swap: a failure leaves the old output intact."""
    tags = image_tags(cfg)  # checked before jsii starts
    from modules.bindings.node import use_supported_node  # noqa: PLC0415  (light: no jsii yet)

    use_supported_node()
    from cdktf import App  # noqa: PLC0415  (jsii starts here, after the config is known good)

    import modules  # noqa: F401,PLC0415  (installs the lazy provider import before the stack imports)
    from modules.stack import AraquemStack, StackOptions  # noqa: PLC0415

    options = StackOptions(image_tags=tags, aws_endpoint=aws_endpoint)
    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.new-", dir=outdir.parent))
    try:
        app = App(outdir=str(staging), stack_traces=False)
        AraquemStack(app, cfg, options)
        app.synth()
        if outdir.exists():
            keep_terraform_files(outdir, staging)
            retired = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old-", dir=outdir.parent))
            outdir.rename(retired / "out")
            staging.rename(outdir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(outdir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return outdir / "stacks" / cfg.name / "cdk.tf.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """None of its own: --outdir (and the test-only --aws-endpoint) are main.py's common options,
    so a bare `python main.py --outdir D` synthesizes too."""


def run(args: argparse.Namespace, cfg) -> int:
    out = synth(cfg, Path(args.outdir), aws_endpoint=args.aws_endpoint)
    print(f"synthesized {cfg.name} from {os.path.relpath(args.env_path)} -> {os.path.relpath(out)}")
    return EXIT_OK
