"""The JSON Schema of the env file (docs/env-file.schema.json), generated from the pydantic models.

    python main.py schema --output docs/env-file.schema.json

Editors that speak the YAML language server read it from the first line of every envs/*.yaml
(`# yaml-language-server: $schema=../docs/env-file.schema.json`) and complete and check fields as
you type. The schema states field types, bounds, patterns, enums and defaults; the cross-field rules
(modules/config/rules/) are checked by `python main.py synth` / `describe`, not by the editor.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from modules.commands import emit
from modules.config import EnvConfig

HELP = "print (or write with --output) the JSON Schema of the env file, for editor completion"
NEEDS_ENV = False
SCHEMA_FILE = Path("docs") / "env-file.schema.json"
REGENERATE_COMMAND = f"python main.py schema --output {SCHEMA_FILE}"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render() -> str:
    """The schema as stable, indented JSON text (sorted keys, trailing newline)."""
    schema = EnvConfig.model_json_schema(mode="validation")
    schema = {"$schema": SCHEMA_DIALECT, "title": "Araquem env file (envs/<name>.yaml)",
              **{k: v for k, v in schema.items() if k != "title"}}
    schema["description"] = ("One environment of the Araquem stack. Generated from modules/config/ by "
                             f"`{REGENERATE_COMMAND}`; do not edit by hand.")
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", metavar="FILE", help="write the schema there instead of stdout")
    parser.epilog = f"Regenerate the checked-in schema with: {REGENERATE_COMMAND}"


def run(args: argparse.Namespace, cfg: None) -> int:
    text = render()
    emit(text, args.output, "the schema")
    return 0
