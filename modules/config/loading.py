"""Loading an env file: reading, YAML, schema validation, and every problem rendered as `file: path: problem`.

Imports only pydantic and PyYAML (no jsii), so bad input is reported in well under a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from modules.config.base import CrossFieldErrors, dotted
from modules.config.env import EnvConfig


class ConfigError(Exception):
    """Bad input: printed as `file: path: problem` lines, exit code 2."""

    def __init__(self, file: Path | str, problems: list[tuple[str, str]]):
        self.file = str(file)
        self.problems = problems  # (field path, message)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.file}: {path}: {msg}" if path else f"{self.file}: {msg}" for path, msg in self.problems]
        return "\n".join(lines)


def _allowed_keys(loc: tuple) -> list[str] | None:
    """For 'unknown key' errors: the keys that are allowed at that place."""
    model: Any = EnvConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return None
        if part in fields:
            model = _inner_model(fields[part].annotation)
        else:  # a dict key such as a service name
            continue
        if model is None:
            return None
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        ctx_error = err.get("ctx", {}).get("error")
        if isinstance(ctx_error, CrossFieldErrors):
            problems.extend((dotted(loc + sub), msg) for sub, msg in ctx_error.errors)
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc)
            msg = f"unknown key '{loc[-1]}'" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif "input" in err and not isinstance(err["input"], (dict, list)) and err["type"] not in ("value_error",):
            msg = f"{msg} (got {err['input']!r})"
        problems.append((dotted(loc), msg))
    return problems


def load(path: Path | str) -> EnvConfig:
    """Read and validate one env file. Raises ConfigError with every problem found."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, [("", "file not found")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, [("", f"malformed YAML: {where}{getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError(path, [("", f"must be a YAML mapping of sections, got {type(raw).__name__}")])
    try:
        cfg = EnvConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, _problems(exc)) from None
    return cfg
