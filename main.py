#!/usr/bin/env python3
"""Araquem infrastructure generator: envs/<name>.yaml -> Terraform JSON (cdktf).

    python main.py                      synthesize envs/stage.yaml into cdktf.out/
    python main.py --env NAME           envs/NAME.yaml (or ARAQUEM_ENV=NAME)
    python main.py --env-file PATH      any env file
    python main.py describe|diagram     see --help of each

Exit codes: 0 ok, 2 bad input (one line per problem: file: field.path: what is wrong) or a file-system
error (the path and the OS's reason), 1 a bug (one line; --debug or ARAQUEM_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from modules.commands import DEFAULT_COMMAND, EXIT_BAD_INPUT, EXIT_INTERNAL, SUBCOMMANDS, UsageError, command_module

ROOT = Path(__file__).resolve().parent
ENVS_DIR = ROOT / "envs"
DEFAULT_ENV = "stage"
DEFAULT_OUTDIR = "cdktf.out"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


def env_file(args: argparse.Namespace) -> Path:
    if args.env_file:
        return Path(args.env_file)
    if args.env is not None and not args.env.strip():
        raise UsageError("--env is empty: give an environment name (envs/NAME.yaml), or leave --env out for "
                         f"$ARAQUEM_ENV or {DEFAULT_ENV}")
    name = args.env or os.environ.get("ARAQUEM_ENV") or DEFAULT_ENV
    if os.sep in name or "/" in name or name.startswith(".") or name.endswith((".yaml", ".yml")):
        raise UsageError(f"--env {name}: takes an environment name (envs/NAME.yaml), not a path; "
                         f"for a file use --env-file {name}")
    path = ENVS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in ENVS_DIR.glob("*.yaml"))
        raise UsageError(f"--env {name}: no env file {path.relative_to(ROOT)}; known environments: {', '.join(known)}")
    return path


def _common_options(parser: argparse.ArgumentParser, top_level: bool) -> None:
    # Sub-commands repeat the options with SUPPRESS defaults so `--env X synth` keeps X.
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument("--env", default=default,
                        help=f"environment name: envs/NAME.yaml (default $ARAQUEM_ENV or {DEFAULT_ENV})")
    parser.add_argument("--env-file", default=default, help="path of an env file (instead of --env)")
    parser.add_argument("--outdir", default=os.environ.get("CDKTF_OUTDIR", DEFAULT_OUTDIR) if top_level else default,
                        help="synth output directory (default cdktf.out, or $CDKTF_OUTDIR under cdktf)")
    parser.add_argument("--aws-endpoint", default=default, help=argparse.SUPPRESS)  # test-only: emulator URL
    parser.add_argument("--debug", action="store_true", default=False if top_level else argparse.SUPPRESS,
                        help="on an internal error, show the traceback (also ARAQUEM_DEBUG=1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_options(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for name in SUBCOMMANDS:
        module = command_module(name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        _common_options(command, top_level=False)
        module.add_arguments(command)
    return parser


def _os_error(exc: OSError) -> str:
    """`path: reason` as the OS says it (e.strerror), both paths for a rename."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    reason = exc.strerror or str(exc)
    return f"{paths}: {reason}" if paths else reason


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("ARAQUEM_DEBUG") == "1"
    from modules.commands.synth import SynthProcessDied  # noqa: PLC0415  (no jsii: only its synth starts it)
    from modules.config import ConfigError, load  # noqa: PLC0415  (cheap: pydantic + yaml only)

    try:
        module = command_module(args.command or DEFAULT_COMMAND)
        needs_env = module.needs_env(args) if hasattr(module, "needs_env") else module.NEEDS_ENV
        if not needs_env:
            return module.run(args, None)
        args.env_path = env_file(args)  # synth and cost name the file in their output
        return module.run(args, load(args.env_path))
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # the file system said no (no space, read-only, permissions): not a bug
        if debug:
            traceback.print_exc()
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SynthProcessDied as exc:  # not a bug and not the input: the machine stopped it
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("interrupted; earlier output is left as it was", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001  (a bug: one line, the traceback on request)
        if debug:
            traceback.print_exc()
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"internal error (a bug, not your input): {type(exc).__name__}: {first_line}"
              + ("" if debug else "; rerun with --debug (or ARAQUEM_DEBUG=1) for the traceback"), file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
