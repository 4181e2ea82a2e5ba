"""Every field of the env-file schema whose value is of a kind (modules/config/kinds.py): found by walking the
pydantic models' annotations for the kind marker, so a new field of a kind is found without being listed."""

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


def leaves(model: type[BaseModel] = EnvConfig, prefix: str = "") -> list[tuple[str, typing.Any, FieldInfo | None]]:
    """(schema path, annotation, field) of every leaf: `a.b`, `a[]` for list items, `a.<key>` for mapping keys,
    `a.*` for mapping values."""
    found = []
    for name, field in model.model_fields.items():
        if _kind_of([field]):  # the kind's Annotated metadata merged into the field itself
            found.append((f"{prefix}{name}", typing.Annotated[field.annotation, field], field))
        else:
            found += _visit(field.annotation, f"{prefix}{name}", field)
    return found


def _visit(tp, path: str, field) -> list:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated and _kind_of(args[1:]):
        return [(path, tp, field)]
    if origin is typing.Annotated:
        return _visit(args[0], path, field)
    if origin in (typing.Union, types.UnionType):
        found = []
        for arg in args:
            if arg is not type(None):
                found += [leaf for leaf in _visit(arg, path, field) if leaf[0] not in {f[0] for f in found}]
        return found
    if origin is list:
        return _visit(args[0], f"{path}[]", field)
    if origin is dict:
        return _visit(args[0], f"{path}.<key>", field) + _visit(args[1], f"{path}.*", field)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return leaves(tp, f"{path}.")
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
