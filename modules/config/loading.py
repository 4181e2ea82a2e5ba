"""Loading an env file: reading, YAML, schema validation, and every problem rendered as `file: path: problem`.

Imports only pydantic and PyYAML (no jsii), so bad input is reported in well under a second.
Everything a file can do wrong before the schema sees it is an input error here, not a crash:
not a readable regular file, not UTF-8, not YAML, nested absurdly deep, a key given twice in one
mapping (YAML would keep the last silently), or an unquoted scalar that YAML 1.1 turns into a
number nobody meant (`472:0` is base 60, `0700` is octal).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from modules.config.base import ENV_VAR_PATTERN, NAME_PATTERN, CrossFieldErrors, dotted
from modules.config.env import EnvConfig
from modules.input_files import ENV_FILE_MAX_BYTES, MIB

# An env file is a handful of levels deep; far deeper is a runaway edit (or hostile input) and would
# exhaust Python's recursion in the YAML composer or the schema.
MAX_NESTING = 32
YAML_INT, YAML_FLOAT, YAML_BOOL = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"
YAML_MERGE = "tag:yaml.org,2002:merge"
# YAML 1.1 (PyYAML) forms that YAML 1.2 (editors, the JSON Schema tooling) reads differently.
SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")
LEADING_ZERO_OCTAL = re.compile(r"[-+]?0[0-7_]+")
PATTERN_WORDS = {  # schema patterns in words, for "must match" messages
    NAME_PATTERN: "a name: 2-32 lower-case letters, digits and '-', starting with a letter, not ending with '-'",
    ENV_VAR_PATTERN: "an env var name: letters, digits and '_', not starting with a digit",
}


class ConfigError(Exception):
    """Bad input: printed as `file: path: problem` lines, exit code 2."""

    def __init__(self, file: Path | str, problems: list[tuple[str, str]], files: dict[str, Path] | None = None):
        self.file = str(file)
        self.problems = problems  # (field path, message)
        self.files = {field: str(f) for field, f in (files or {}).items()}  # an overlay: the file behind a field
        super().__init__(self.render())

    def render(self) -> str:
        lines = []
        for path, msg in self.problems:
            file = self.files.get(path, self.file)
            via = f" (merged into {self.file})" if file != self.file else ""
            lines.append(f"{file}: {path}: {msg}{via}" if path else f"{file}: {msg}{via}")
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


def _is_schema_tag(part: Any) -> bool:
    """pydantic puts validator and union-member names into locations (`constrained-str`,
    `function-after[...]`); they are not keys of the file."""
    return isinstance(part, str) and ("[" in part or part.startswith(("function-", "constrained-")))


def _pattern_message(err: dict) -> str:
    pattern = err.get("ctx", {}).get("pattern", "")
    return PATTERN_WORDS.get(pattern, f"text matching {pattern}")


def _problems(exc: ValidationError, scalars: dict[tuple, tuple[str, Any]]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    key_errors: dict[tuple, list[dict]] = {}  # a mapping key that is not an allowed name (union: one per form)
    for err in exc.errors():
        if "[key]" in err["loc"]:
            loc = tuple(err["loc"][: err["loc"].index("[key]")])
            key_errors.setdefault(loc, []).append(err)
            continue
        loc = tuple(p for p in err["loc"] if not _is_schema_tag(p))
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
        elif err["type"] == "string_pattern_mismatch":
            msg = f"{err['input']!r} is not {_pattern_message(err)}"
        elif "input" in err and not isinstance(err["input"], (dict, list)) and err["type"] not in ("value_error",):
            msg = f"{msg} (got {err['input']!r})"
        if loc in scalars:
            text, value = scalars[loc]
            msg += (f"; YAML read the unquoted {text} as the {type(value).__name__} {value!r}: "
                    f"if you mean the text, quote it: '{text}'")
        if (dotted(loc), msg) not in problems:  # a union reports one error per member
            problems.append((dotted(loc), msg))
    for loc, errs in key_errors.items():
        key = loc[-1]
        if all(e["type"] == "string_pattern_mismatch" for e in errs):
            forms = " or ".join(dict.fromkeys(_pattern_message(e) for e in errs))
            problems.append((dotted(loc), f"the key {key!r} is not allowed: it must be {forms}"))
        else:
            msgs = "; ".join(dict.fromkeys(e["msg"] for e in errs))
            problems.append((dotted(loc), f"the key {key!r} is not allowed: {msgs}"))
    return problems


def read_text(path: Path) -> str:
    """The file's text, or a ConfigError saying why it cannot be read (with the OS's reason)."""
    try:
        info = path.stat()  # follows symlinks: a loop fails here with ELOOP
    except FileNotFoundError:
        raise ConfigError(path, [("", "file not found")]) from None
    except OSError as exc:
        raise ConfigError(path, [("", f"cannot read the env file: {exc.strerror}")]) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(path, [("", "is a directory; --env-file takes a YAML file (e.g. envs/stage.yaml)")])
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read forever
        raise ConfigError(path, [("", "is not a regular file (a FIFO, socket or device); --env-file takes a "
                                      "YAML file")])
    if info.st_size > ENV_FILE_MAX_BYTES:
        raise ConfigError(path, [("", f"is {info.st_size // MIB} MiB, larger than an env file can be "
                                      f"({ENV_FILE_MAX_BYTES // MIB} MiB at most); is it the right file?")])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, [("", f"cannot read the env file: {exc.strerror}")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(path, [("", f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                                      f"(line {line}, column {column}) is not valid UTF-8; save the file as "
                                      "UTF-8 (an editor's 'encoding' setting, or iconv -f latin1 -t utf-8)")]) from None


def _key_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if node.tag == YAML_MERGE:  # `<<: *anchor`: merged by the safe loader, as PyYAML does
        return node.value
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_object(node)
        return value if isinstance(value, (str, int, float, bool)) or value is None else node.value
    return f"<{node.id} at line {node.start_mark.line + 1}>"


class _Inspection:
    """Walks the composed YAML tree once: duplicate keys, nesting depth, YAML 1.1 number surprises."""

    def __init__(self, loader: yaml.SafeLoader):
        self.loader = loader
        self.problems: list[tuple[str, str]] = []
        self.scalars: dict[tuple, tuple[str, Any]] = {}  # path -> (source text, value) of unquoted non-strings
        self._seen: set[int] = set()  # an alias is walked once (no exponential "billion laughs" walk)

    def walk(self, node: yaml.Node, path: tuple, depth: int) -> None:
        if id(node) in self._seen:
            return
        self._seen.add(id(node))
        if depth > MAX_NESTING:
            self.problems.append((dotted(path), f"nested more than {MAX_NESTING} levels deep (line "
                                                f"{node.start_mark.line + 1}); an env file needs a handful"))
            return
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = _key_text(self.loader, key_node)
                line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode) and key_node.style is None and key_node.tag == YAML_BOOL:
                    self.problems.append((dotted(path + (key_node.value,)), (
                        f"YAML 1.1 reads the unquoted key {key_node.value} (line {line}) as the boolean {key}, not "
                        f"as text; quote it ('{key_node.value}')")))
                    continue
                try:
                    if key in first:
                        self.problems.append((dotted(path + (key,)), (
                            f"duplicate key {key!r} at line {line} (first at line {first[key]}): YAML would "
                            "silently keep only the last one; remove one or merge them")))
                    else:
                        first[key] = line
                except TypeError:  # an unhashable key: the schema reports it
                    pass
                self.walk(value_node, path + (key,), depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, path + (index,), depth + 1)
        elif isinstance(node, yaml.ScalarNode) and node.style is None and node.tag in (YAML_INT, YAML_FLOAT, YAML_BOOL):
            self._scalar(node, path)

    def _scalar(self, node: yaml.ScalarNode, path: tuple) -> None:
        text = node.value
        value = self.loader.construct_object(node)
        if node.tag in (YAML_INT, YAML_FLOAT) and SEXAGESIMAL.fullmatch(text):
            self.problems.append((dotted(path), (
                f"YAML 1.1 reads the unquoted {text} as the base-60 number {value}; quote it ('{text}') "
                "if it is text such as uid:gid, or write the number in decimal")))
        elif node.tag == YAML_INT and LEADING_ZERO_OCTAL.fullmatch(text):
            self.problems.append((dotted(path), (
                f"YAML 1.1 reads the unquoted {text} as the octal number {value} (YAML 1.2 as {int(text.replace('_', ''))}); "
                f"quote it ('{text}') if it is text such as a file mode, or write it without the leading 0")))
        else:
            self.scalars[path] = (text, value)


def parse_yaml(path: Path, text: str) -> tuple[Any, dict[tuple, tuple[str, Any]]]:
    """The document as data, plus the source text of its unquoted non-string scalars by path."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character such as NUL: not a text file
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(path, [("", f"character #x{exc.character:04x} at offset {exc.position} (line {line}) is "
                                      "not allowed in YAML; is this a text file?")]) from None
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(path, [("", f"nested too deeply for the YAML parser; an env file needs a handful "
                                          f"of levels (at most {MAX_NESTING})")]) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(exc, "problem", None) or exc
            raise ConfigError(path, [("", f"malformed YAML: {where}{problem}")]) from None
        if node is None:
            return None, {}
        inspection = _Inspection(loader)
        try:
            inspection.walk(node, (), 0)
            if inspection.problems:
                raise ConfigError(path, inspection.problems)
            return loader.construct_document(node), inspection.scalars
        except yaml.YAMLError as exc:  # e.g. an unknown !tag, a bad timestamp
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            raise ConfigError(path, [("", f"malformed YAML: {where}{getattr(exc, 'problem', None) or exc}")]) from None
    finally:
        loader.dispose()


# ---------------------------------------------------------------- overlays (`extends:`)
# Copilot's per-environment pattern: an env file names a base file and overrides what differs. Mappings merge
# key by key (recursively), a list or a scalar replaces the base's, and null removes the base's key.
EXTENDS_KEY = "extends"
MAX_EXTENDS_DEPTH = 4  # prod -> stage -> base is two; a longer chain is more likely a mistake than a design


class _Resolved:
    """The merged document, the source text of its unquoted scalars, and which file gave each key."""

    def __init__(self, raw: dict, scalars: dict, origin: dict[tuple, Path]):
        self.raw, self.scalars, self.origin = raw, scalars, origin


def _origins(data: Any, path: tuple, file: Path, into: dict[tuple, Path]) -> None:
    into[path] = file
    if isinstance(data, dict):
        for key, value in data.items():
            _origins(value, path + (key,), file, into)


def _merge(base: Any, overlay: Any, path: tuple, file: Path, origin: dict[tuple, Path]) -> Any:
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        for key in [k for k in origin if k[: len(path)] == path and k != path]:
            del origin[key]  # the overlay's value replaces the base's whole
        _origins(overlay, path, file, origin)
        return overlay
    merged = dict(base)
    for key, value in overlay.items():
        if value is None:  # null removes the base's key
            merged.pop(key, None)
            for gone in [k for k in origin if k[: len(path) + 1] == path + (key,)]:
                del origin[gone]
            continue
        merged[key] = _merge(base.get(key), value, path + (key,), file, origin) if key in base else value
        if key not in base:
            _origins(value, path + (key,), file, origin)
    return merged


def _read_document(path: Path) -> tuple[dict, dict]:
    raw, scalars = parse_yaml(path, read_text(path))
    if not isinstance(raw, dict):
        raise ConfigError(path, [("", f"must be a YAML mapping of sections, got {type(raw).__name__}")])
    return raw, scalars


def resolve(path: Path | str, chain: tuple[Path, ...] = ()) -> _Resolved:
    """The env file with its `extends:` chain merged in (the file itself when it extends nothing)."""
    path = Path(path)
    raw, scalars = _read_document(path)
    origin: dict[tuple, Path] = {}
    _origins(raw, (), path, origin)
    reference = raw.get(EXTENDS_KEY)
    if reference is None:
        return _Resolved(raw, scalars, origin)
    if not isinstance(reference, str) or not reference.strip():
        raise ConfigError(path, [(EXTENDS_KEY, f"{reference!r} is not a path; give the base env file's path, "
                                               "relative to this file (e.g. stage.yaml)")])
    base_path = Path(os.path.normpath(path.parent / reference))
    here = chain + (path.resolve(),)
    if base_path.resolve() in here:
        loop = " -> ".join(str(p.name) for p in here + (base_path.resolve(),))
        raise ConfigError(path, [(EXTENDS_KEY, f"{reference} extends back to a file of the chain ({loop}); "
                                               "an overlay chain must end in a file that extends nothing")])
    if len(here) > MAX_EXTENDS_DEPTH:
        raise ConfigError(path, [(EXTENDS_KEY, f"more than {MAX_EXTENDS_DEPTH} files in the extends chain; "
                                               "flatten it (a base and one overlay per environment)")])
    if not base_path.exists():
        raise ConfigError(path, [(EXTENDS_KEY, f"{reference}: no such file (looked for {base_path}, relative to "
                                               "this file)")])
    base = resolve(base_path, here)
    base.raw.pop(EXTENDS_KEY, None)
    merged_origin = dict(base.origin)
    merged = _merge(base.raw, raw, (), path, merged_origin)
    merged_origin[()] = path
    merged_scalars = {loc: v for loc, v in base.scalars.items() if merged_origin.get(loc) != path}
    merged_scalars.update(scalars)
    return _Resolved(merged, merged_scalars, merged_origin)


def _source_of(problem_path: str, resolved: _Resolved, default: Path) -> Path:
    """The file that wrote the deepest key on the problem's path (the overlay for what it set or merged)."""
    best, best_len = default, -1
    for loc, file in resolved.origin.items():
        text = dotted(loc)
        if (problem_path == text or problem_path.startswith(text + ".") or problem_path.startswith(text + "[")
                or not text) and len(text) > best_len:
            best, best_len = file, len(text)
    return best


def load(path: Path | str) -> EnvConfig:
    """Read and validate one env file (with the files it extends merged in). Raises ConfigError with every
    problem found; with an overlay, each problem names the file that wrote the value it is about."""
    path = Path(path)
    resolved = resolve(path)
    try:
        return EnvConfig.model_validate(resolved.raw)
    except ValidationError as exc:
        problems = _problems(exc, resolved.scalars)
    files = {_source_of(field, resolved, path) for field, _ in problems}
    if files == {path}:
        raise ConfigError(path, problems) from None
    raise ConfigError(path, problems, files={field: _source_of(field, resolved, path) for field, _ in problems})
