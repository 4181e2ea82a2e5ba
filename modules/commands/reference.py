"""The env file reference (docs/env-reference.md), generated from the schema so it cannot drift.

    python main.py reference > docs/env-reference.md     (or: python -m modules.commands.reference)

Walks `EnvConfig.model_fields` recursively: one table per section (field path, type, default,
description). Types, constraints and defaults come from the pydantic field definitions in
modules/config/; descriptions from their `description=` texts and the models' docstrings.
"""

from __future__ import annotations

import argparse
import enum
import inspect
import sys
import types
import typing
from dataclasses import dataclass

from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from modules import config
from modules.config import base, services

HELP = "print the env file reference (Markdown, generated from the schema) to stdout"
NEEDS_ENV = False
REGENERATE_COMMAND = "python main.py reference > docs/env-reference.md"

# Named string types of the schema, recognised by their pattern / validator, explained once in the intro.
NAMED_PATTERNS = {base.NAME_PATTERN: "name", base.ENV_VAR_PATTERN: "env-var name"}
NAMED_VALIDATORS = {"_cidr": "CIDR"}
LIST_OR_MAP_NOTE = "a list `[A, B]` is short for `{A: A, B: B}`"


@dataclass(frozen=True)
class Row:
    path: str
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class Section:
    path: str  # where the model sits in an env file, e.g. `services.<name>.ports[]`
    model: type[BaseModel]
    rows: tuple[Row, ...]


def _flat_metadata(items: typing.Iterable) -> list:
    """Constraint objects, with those nested in `Annotated[str, Field(...)]` brought up."""
    out: list = []
    for item in items:
        if isinstance(item, FieldInfo):
            out.extend(_flat_metadata(item.metadata))
        else:
            out.append(item)
    return out


def _unwrap(annotation) -> tuple[typing.Any, list]:
    """Annotated[T, m...] -> (T, [m...]) ; other annotations -> (annotation, [])."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return base, _flat_metadata(meta)
    return annotation, []


def _constraint_text(base, metadata: list) -> tuple[str | None, list[str]]:
    """(a name for a known string type or None, constraint phrases)."""
    named: str | None = None
    phrases: list[str] = []
    for item in metadata:
        pattern = getattr(item, "pattern", None)
        if pattern:
            if pattern in NAMED_PATTERNS:
                named = NAMED_PATTERNS[pattern]
            else:
                phrases.append(f"matches `{pattern}`")
        if isinstance(item, BeforeValidator):
            func = getattr(item.func, "__name__", "")
            if func in NAMED_VALIDATORS:
                named = NAMED_VALIDATORS[func]
            elif func == services._names_list_or_map.__name__:
                phrases.append(LIST_OR_MAP_NOTE)
        for attr, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None:
                phrases.append(f"{symbol} {value}")
        min_len = getattr(item, "min_length", None)
        if min_len:
            phrases.append(f"at least {min_len} entr{'y' if min_len == 1 else 'ies'}" if base in (list, dict)
                           or typing.get_origin(base) in (list, dict) else f"length ≥ {min_len}")
    if base is int and ("≥ 1" in phrases and "≤ 65535" in phrases):
        named, phrases = "port", [p for p in phrases if p not in ("≥ 1", "≤ 65535")]
    return named, phrases


def _models_in(annotation) -> list[type[BaseModel]]:
    base, _ = _unwrap(annotation)
    if isinstance(base, type) and issubclass(base, BaseModel):
        return [base]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(base):
        found.extend(_models_in(arg))
    return found


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def type_text(annotation, metadata: list | None = None) -> str:
    """A short, human type: `int (≥ 1)`, `list of CIDR`, `map of name → Service`, `"a" | "b"`."""
    base, inner_meta = _unwrap(annotation)
    metadata = list(metadata or []) + inner_meta
    named, phrases = _constraint_text(base, metadata)
    origin = typing.get_origin(base)
    args = typing.get_args(base)
    optional = False
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        optional = len(options) < len(args)
        text = " or ".join(type_text(a) for a in options)
    elif origin is typing.Literal:
        text = " \\| ".join(f'`"{a}"`' for a in args)
    elif origin is list:
        text = f"list of {type_text(args[0])}"
    elif origin is dict:
        text = f"map of {type_text(args[0])} → {type_text(args[1])}"
    elif isinstance(base, type) and issubclass(base, BaseModel):
        text = f"[{base.__name__}](#{_anchor(base)})"
    elif isinstance(base, type) and issubclass(base, enum.Enum):
        text = " \\| ".join(f'`"{m.value}"`' for m in base)
    elif named:
        text = named
    else:
        text = getattr(base, "__name__", str(base))
    if phrases:
        text += f" ({', '.join(phrases)})"
    return f"{text}, optional" if optional else text


def _value_text(value) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return "unset"
    if value == "":
        return '`""`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, BaseModel):
        return "see section"
    if isinstance(value, (list, dict)) and not value:
        return f"`{'[]' if isinstance(value, list) else '{}'}`"
    if isinstance(value, list):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    return f"`{value}`"


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return _value_text(field.default_factory())
    return _value_text(field.default)


def description_text(field: FieldInfo) -> str:
    """The field's own description; a section-valued field may fall back to its model's docstring."""
    text = field.description or ""
    if not text:
        models = _models_in(field.annotation)
        if models and models[0].__doc__:
            text = inspect.cleandoc(models[0].__doc__).split("\n\n")[0]
    # `|` would end the table cell; `<x>` would be taken for an HTML tag
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _child_path(path: str, annotation) -> str:
    """Where a nested model's fields live: `x`, `x.<name>` for maps, `x[]` for lists."""
    base, _ = _unwrap(annotation)
    origin = typing.get_origin(base)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(base):
            if _models_in(arg):
                return _child_path(path, arg)
    if origin is dict:
        return f"{path}.<name>"
    if origin is list:
        return f"{path}[]"
    return path


def sections(root: type[BaseModel] = config.EnvConfig) -> list[Section]:
    """Every model reachable from `root`, breadth first, each at the path it first appears."""
    out: list[Section] = []
    queue: list[tuple[str, type[BaseModel]]] = [("", root)]
    seen: set[type[BaseModel]] = set()
    while queue:
        path, model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        rows = []
        for name, field in model.model_fields.items():
            key = field.alias or name
            field_path = f"{path}.{key}" if path else key
            rows.append(Row(field_path, type_text(field.annotation, field.metadata), default_text(field),
                            description_text(field)))
            for child in _models_in(field.annotation):
                queue.append((_child_path(field_path, field.annotation), child))
        out.append(Section(path, model, tuple(rows)))
    return out


def undocumented_fields(root: type[BaseModel] = config.EnvConfig) -> list[str]:
    """Field paths whose reference row would have no description."""
    return [row.path for section in sections(root) for row in section.rows if not row.description]


INTRO = f"""\
# Env file reference

<!-- Generated from modules/config/ by `{REGENERATE_COMMAND}`. Do not edit by hand:
     tests/commands/test_reference.py fails when this file is out of date. -->

An environment is one YAML file, `envs/<name>.yaml` (`python main.py --env <name>`), validated against
the schema in `modules/config/` before anything is synthesized. Unknown keys are errors, not ignored.
`envs/stage.yaml` is the commented example of every section; `envs/dev-eu.yaml` is a second environment.

Conventions used below:

- **name**: lowercase letters, digits and `-`, 2–32 characters, starting with a letter (`{base.NAME_PATTERN}`).
- **env-var name**: `{base.ENV_VAR_PATTERN}`.
- **CIDR**: a network such as `10.40.0.0/16` (host bits must be zero).
- **port**: an integer 1–65535.
- `<name>` in a path is a key you choose (a service, volume, secret, capacity provider); `[]` is a list item.
- *unset* means the field is absent / `null`; what that implies is in the description.
"""


def render() -> str:
    parts = [INTRO]
    for section in sections():
        title = f"`{section.path}`" if section.path else "top level"
        parts.append(f'<a id="{_anchor(section.model)}"></a>\n\n## {title} — {section.model.__name__}\n')
        doc = inspect.cleandoc(section.model.__doc__ or "")
        if doc and section.model is not config.EnvConfig:
            parts.append(" ".join(doc.split()) + "\n")
        parts.append("| field | type | default | description |\n| --- | --- | --- | --- |")
        for row in section.rows:
            parts.append(f"| `{row.path}` | {row.type} | {row.default} | {row.description} |")
        parts.append("")
    return "\n".join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = f"Regenerate the checked-in reference with: {REGENERATE_COMMAND}"


def run(args: argparse.Namespace, cfg: None) -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.stdout.write(render())
