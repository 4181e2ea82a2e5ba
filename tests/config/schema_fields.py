"""The fields of the env-file schema, walked from the pydantic models' annotations: every leaf (schema_fields.leaves),
and every field whose value is of a kind (modules/config/kinds.py), found by the kind marker, so a new field of a
kind is found without being listed."""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from modules.config import EnvConfig
from modules.config.base import KIND_KEY


def _kind_of(metadata) -> str | None:
    for item in metadata:
        extra = item.json_schema_extra if isinstance(item, FieldInfo) else None
        if isinstance(extra, dict) and KIND_KEY in extra:
            return extra[KIND_KEY]
    return None


def leaves(model: type[BaseModel] = EnvConfig, prefix: str = "", kinds: bool = True,
           ) -> list[tuple[str, typing.Any, FieldInfo | None]]:
    """(schema path, annotation, field) of every leaf: `a.b`, `a[]` for list items, `a.<key>` for mapping keys,
    `a.*` for mapping values. With `kinds`, a value of a kind is one leaf (a mapping of tags: `tags`); without,
    the walk goes into it (`tags.<key>`, `tags.*`)."""
    found = []
    for name, field in model.model_fields.items():
        if kinds and _kind_of([field]):  # the kind's Annotated metadata merged into the field itself
            found.append((f"{prefix}{name}", typing.Annotated[field.annotation, field], field))
        else:
            found += _visit(field.annotation, f"{prefix}{name}", field, kinds)
    return found


def _visit(tp, path: str, field, kinds: bool) -> list:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated and kinds and _kind_of(args[1:]):
        return [(path, tp, field)]
    if origin is typing.Annotated:
        return _visit(args[0], path, field, kinds)
    if origin in (typing.Union, types.UnionType):
        found = []
        for arg in args:
            if arg is not type(None):
                found += [leaf for leaf in _visit(arg, path, field, kinds) if leaf[0] not in {f[0] for f in found}]
        return found
    if origin is list:
        return _visit(args[0], f"{path}[]", field, kinds)
    if origin is dict:
        return _visit(args[0], f"{path}.<key>", field, kinds) + _visit(args[1], f"{path}.*", field, kinds)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return leaves(tp, f"{path}.", kinds)
    return [(path, tp, field)]


def kind_of(annotation) -> str | None:
    """The value kind of an annotation (its own or a union member's), or None."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _kind_of(args[1:]) or kind_of(args[0])
    if origin in (typing.Union, types.UnionType):
        return next(filter(None, (kind_of(a) for a in args)), None)
    return None


def fields_by_kind() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path, annotation, field in leaves():
        if kind := kind_of(annotation):
            found.setdefault(kind, set()).add(path)
    return found
