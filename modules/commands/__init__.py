"""Operator commands: one module per `python main.py <command>`.

Each command module exposes
    HELP: str                 one line for --help
    NEEDS_ENV: bool           whether main.py loads and validates an env file first
    needs_env(args) -> bool   optional: the same, decided by the options (cost --synth reads no env file)
    add_arguments(parser)     the command's own options (main.py adds --env/--env-file/--outdir)
    run(args, cfg) -> int     the exit code; cfg is the validated EnvConfig, or None when NEEDS_ENV is False
and is imported lazily (importing it must not start jsii). Adding a command = one module + one line below.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

DEFAULT_COMMAND = "synth"
SUBCOMMANDS: dict[str, str] = {  # command name -> module
    "synth": "modules.commands.synth",
    "describe": "modules.commands.describe",
    "diagram": "modules.commands.diagram",
    "reference": "modules.commands.reference",
    "plan-summary": "modules.commands.plan_summary",
    "cost": "modules.commands.cost",
    "preflight": "modules.commands.preflight",
    "schema": "modules.commands.schema",
}
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
    """Bad input that is not inside an env file (unknown env name, missing image tag): exit code 2."""


def emit(text: str, output: str | None, what: str) -> None:
    """A command's text to `output` (said on stderr) or to stdout; an unwritable path is bad input (exit 2)."""
    if not output:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {what} to {output}: {exc.strerror}") from None
    print(f"wrote {os.path.relpath(output)}", file=sys.stderr)


def command_module(name: str) -> ModuleType:
    return importlib.import_module(SUBCOMMANDS[name])
