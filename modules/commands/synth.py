"""`python main.py [synth]`: the env file -> Terraform JSON in cdktf.out/ (the default command).

Before jsii starts: the outdir is checked (modules/output_dir.py: only earlier cdktf output is replaced;
never the checkout, a directory containing it, $HOME or a regular file), TMPDIR and the image tags. Then,
holding the outdir's lock, the stack is synthesized into a staging directory and swapped in by
modules/output_dir.py, which keeps everything of the earlier output that synth did not write (local
state, .terraform/). docs/setup.md.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
from pathlib import Path

from modules.build_context import BuildContextError, context_tag
from modules.commands import EXIT_OK, UsageError
from modules.output_dir import checked_outdir, write_output
from modules.config.defaults import APP_IMAGE_UNRELEASED_TAG

HELP = "synthesize Terraform JSON into cdktf.out/ (the default command)"
NEEDS_ENV = True
ROOT = Path(__file__).resolve().parents[2]  # the checkout: docker/ (build contexts)
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


class SynthProcessDied(Exception):
    """jsii's Node process ended in the middle of the synth (killed, or out of memory)."""

    def __init__(self, status: int):
        if status > 128 and status - 128 in {int(s) for s in signal.Signals}:
            status = 128 - status  # Node's handler for SIGTERM/SIGINT exits with 128 + the signal, as a shell does
        if status < 0:
            try:
                name = signal.Signals(-status).name
            except ValueError:
                name = "an unknown signal"
            hint = ": out of memory?" if -status == signal.SIGKILL else ""
            cause = f"was killed (signal {-status}, {name}{hint})"
        else:
            cause = f"exited with status {status} (its error, if any, is printed above)"
        super().__init__(f"the synth's Node process (jsii) {cause}; the earlier output is left as it was")


def check_tmpdir() -> None:
    """jsii's Node process writes to $TMPDIR; a missing one fails deep inside it with a JavaScript trace."""
    tmp = os.environ.get("TMPDIR")
    if not tmp:
        return
    try:
        os.rmdir(tempfile.mkdtemp(dir=tmp))
    except OSError as exc:
        raise UsageError(f"TMPDIR={tmp}: {exc.strerror}; synth's Node process keeps temporary files there: "
                         "create it, or unset TMPDIR") from None


def _synthesize(cfg, target: Path, tags: dict[str, str], aws_endpoint: str | None) -> None:
    from modules.bindings.node import (  # noqa: PLC0415  (light: no jsii yet)
        forget_dead_jsii_kernel,
        jsii_kernel_exit,
        use_supported_node,
    )

    use_supported_node()
    try:
        _run_cdktf(cfg, target, tags, aws_endpoint)
    except Exception as error:
        status = jsii_kernel_exit(error)
        if status is None:
            raise
        forget_dead_jsii_kernel()
        raise SynthProcessDied(status) from None


def _run_cdktf(cfg, target: Path, tags: dict[str, str], aws_endpoint: str | None) -> None:
    from cdktf import App  # noqa: PLC0415  (jsii starts here, after the config and the outdir are known good)

    import modules  # noqa: F401,PLC0415  (installs the lazy provider import before the stack imports)
    from modules.stack import AraquemStack, StackOptions  # noqa: PLC0415

    app = App(outdir=str(target), stack_traces=False)
    AraquemStack(app, cfg, StackOptions(image_tags=tags, aws_endpoint=aws_endpoint))
    app.synth()


def synth(cfg, outdir: Path, aws_endpoint: str | None = None) -> Path:
    """Synthesize into a staging dir beside outdir, then swap: a failure leaves the old output intact.

    Everything a user can get wrong is checked before jsii starts: image tags, the outdir, TMPDIR,
    and that the outdir's parent is writable (the lock file and the staging directory are made there)."""
    outdir = checked_outdir(outdir)
    check_tmpdir()
    tags = image_tags(cfg)
    write_output(outdir, lambda target: _synthesize(cfg, target, tags, aws_endpoint), stack_names=(cfg.name,))
    return outdir / "stacks" / cfg.name / "cdk.tf.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """None of its own: --outdir (and the test-only --aws-endpoint) are main.py's common options,
    so a bare `python main.py --outdir D` synthesizes too."""


def run(args: argparse.Namespace, cfg) -> int:
    out = synth(cfg, Path(args.outdir), aws_endpoint=args.aws_endpoint)
    print(f"synthesized {cfg.name} from {os.path.relpath(args.env_path)} -> {os.path.relpath(out)}")
    return EXIT_OK
