"""Terraform's plan JSON read into a Summary of changes. Two shapes, one reading:

- `terraform show -json <planfile>`: `format_version`, `resource_changes`, `output_changes`, `planned_values`, ...
- Terraform Cloud's `GET /plans/:id/json-output-redacted` (what scripts/tfc_run.py saves): Terraform's own
  `jsonformat.Plan` (internal/command/jsonformat/plan.go), `plan_format_version`, `resource_changes`,
  `resource_drift`, `output_changes`, `relevant_attributes`, `provider_schemas`; no `format_version`, and
  empty lists left out (`omitempty`).

Both carry the same `jsonplan.ResourceChange` entries, so everything below reads either.

Which resources change and how (add, change, replace, destroy, forget), why (Terraform's action
reason, the attributes forcing a replacement), grouped under the cdktf construct that made them;
every value masked where the plan marks it sensitive. plan_summary.py renders the Summary.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from modules.input_files import PLAN_JSON_MAX_BYTES, InputFileError, decode_utf8, read_input, read_stdin

SENSITIVE = "(sensitive)"
UNKNOWN = "(known after apply)"
MAX_VALUE_CHARS = 120  # one attribute value in a change line
NO_CONSTRUCT = "(stack)"  # resources created directly in the stack, not inside a construct
CDKTF_LOGICAL_ID = re.compile(r"^(?P<human>.+)_(?P<hash>[0-9A-F]{8})$")
SUPPORTED_FORMAT_MAJOR = "1"
EMPTY = (None, "", 0, False, [], {})

# Plan actions -> the kind of change shown; reads and no-ops are not changes.
KINDS = ("replace", "destroy", "forget", "add", "change")
KIND_OF_ACTIONS = {
    ("create",): "add",
    ("update",): "change",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("delete",): "destroy",
    ("forget",): "forget",
}
VERB = {"add": "create", "change": "update in place", "replace": "replace", "destroy": "destroy",
        "forget": "forget (remove from state, keep the object)"}
SYMBOL = {"add": "+", "change": "~", "replace": "-/+", "destroy": "-", "forget": "."}
REASONS = {
    "replace_because_cannot_update": "cannot be updated in place",
    "replace_because_tainted": "tainted",
    "replace_by_request": "replacement requested (-replace)",
    "replace_by_triggers": "replace_triggered_by",
    "delete_because_no_resource_config": "removed from the configuration",
    "delete_because_no_module": "its module was removed",
    "delete_because_wrong_repetition": "count/for_each changed",
    "delete_because_count_index": "count index out of range",
    "delete_because_each_key": "for_each key removed",
    "delete_because_no_move_target": "moved-block target missing",
}


class PlanInputError(Exception):
    """Bad input: the message names the file and what is wrong."""


# ---------------------------------------------------------------- reading
def _load_json(path: str, what: str) -> Any:
    try:
        data = (read_stdin(PLAN_JSON_MAX_BYTES, sys.stdin.buffer) if path == "-"
                else read_input(path, PLAN_JSON_MAX_BYTES))
        text = decode_utf8(path, data)
    except InputFileError as exc:
        raise PlanInputError(f"{exc} (expected {what})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanInputError(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"expected {what}"
        ) from None


SHOW_JSON = "the output of `terraform show -json <planfile>`"
REDACTED_JSON = "Terraform Cloud's redacted plan JSON (GET /plans/:id/json-output-redacted)"


def _check_version(path: str, plan: dict, key: str) -> None:
    if str(plan[key]).split(".")[0] != SUPPORTED_FORMAT_MAJOR:
        raise PlanInputError(
            f"{path}: {key} {plan[key]!r} is not supported; allowed: {SUPPORTED_FORMAT_MAJOR}.x (Terraform >= 1.0)")


def load_plan(path: str) -> dict:
    """Either plan shape (module docstring); exits through PlanInputError on anything else."""
    what = f"{SHOW_JSON} or {REDACTED_JSON}"
    plan = _load_json(path, what)
    if not isinstance(plan, dict) or ("format_version" not in plan and "plan_format_version" not in plan):
        raise PlanInputError(f"{path}: neither 'format_version' nor 'plan_format_version': this is not {what}")
    if "format_version" not in plan:
        _check_version(path, plan, "plan_format_version")
        for key in ("resource_changes", "resource_drift", "relevant_attributes"):
            if not isinstance(plan.get(key) or [], list):
                raise PlanInputError(f"{path}: {key}: expected a list, got {type(plan[key]).__name__}")
        _check_entries(path, plan)
        return plan
    _check_version(path, plan, "format_version")
    if "planned_values" not in plan and "resource_changes" not in plan:
        raise PlanInputError(
            f"{path}: a state, not a plan (no 'resource_changes'); run `terraform show -json` on a saved "
            f"plan file (`terraform plan -out=FILE`)"
        )
    if not isinstance(plan.get("resource_changes", []), list):
        raise PlanInputError(f"{path}: resource_changes: expected a list, got {type(plan['resource_changes']).__name__}")
    _check_entries(path, plan)
    return plan


def _check_entries(path: str, plan: dict) -> None:
    """Each change has the shape both formats share (an object with an address and a change whose actions
    are a list of strings; output_changes an object of such changes): anything else is named, not a crash."""
    def bad(where: str, what: str) -> PlanInputError:
        return PlanInputError(f"{path}: {where}: {what}; this is not a plan Terraform wrote")

    for key in ("resource_changes", "resource_drift", "relevant_attributes"):
        if not isinstance(plan.get(key) or [], list):
            raise bad(key, f"a list expected, not {type(plan[key]).__name__}")
    for index, entry in enumerate(plan.get("relevant_attributes") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource", ""), str):
            raise bad(f"relevant_attributes[{index}]", "an object with a 'resource' address expected")
        if not isinstance(entry.get("attribute") or [], list):
            raise bad(f"relevant_attributes[{index}].attribute", "a list (an attribute path) expected")
    for key in ("resource_changes", "resource_drift"):
        for index, entry in enumerate(plan.get(key) or []):
            where = f"{key}[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
                raise bad(where, "an object with an 'address' expected")
            change = entry.get("change")
            if not isinstance(change, dict):
                raise bad(f"{where}.change", "an object expected")
            actions = change.get("actions")
            if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
                raise bad(f"{where}.change.actions", "a list of action names expected")
            if entry.get("action_reason") is not None and not isinstance(entry["action_reason"], str):
                raise bad(f"{where}.action_reason", "a reason name expected")
            replace_paths = change.get("replace_paths") or []
            if not isinstance(replace_paths, list) or not all(isinstance(path, list) for path in replace_paths):
                raise bad(f"{where}.change.replace_paths", "a list of attribute paths expected")
            for side in ("after_unknown", "before_sensitive", "after_sensitive"):
                if side in change and not isinstance(change[side], (dict, bool, list)) and change[side] is not None:
                    raise bad(f"{where}.change.{side}", "an object or a boolean expected")
    outputs = plan.get("output_changes") or {}
    if not isinstance(outputs, dict) or not all(
            isinstance(o, dict) and isinstance(o.get("actions", []), list) for o in outputs.values()):
        raise bad("output_changes", "an object of name -> change expected")


def load_construct_paths(path: str) -> tuple[str | None, dict[str, str]]:
    """From a synthesized cdk.tf.json: the stack name and {address: construct path below the stack}."""
    what = "a synthesized cdk.tf.json"
    synth = _load_json(path, what)
    if not isinstance(synth, dict) or not isinstance(synth.get("//"), dict):
        raise PlanInputError(f"{path}: no '//' metadata block: this is not {what}")
    stack = synth["//"].get("metadata", {}).get("stackName")
    paths: dict[str, str] = {}
    for mode, prefix in (("resource", ""), ("data", "data.")):
        for rtype, blocks in synth.get(mode, {}).items():
            for name, body in blocks.items():
                meta_path = body.get("//", {}).get("metadata", {}).get("path", "") if isinstance(body, dict) else ""
                parts = meta_path.split("/")
                # Drop the stack's own id; what remains is the construct path down to the resource.
                paths[f"{prefix}{rtype}.{name}"] = "/".join(parts[1:]) if len(parts) > 1 else ""
    return stack, paths


# ---------------------------------------------------------------- model
@dataclass(frozen=True)
class Change:
    address: str
    kind: str
    construct: str
    reason: str
    attributes: tuple[tuple[str, str, str], ...]  # (name, before, after), masked
    computed: int = 0  # further attributes known only after apply

    def line(self) -> str:
        text = f"- `{SYMBOL[self.kind]}` **{VERB[self.kind]}** `{self.address}`"
        if self.reason:
            text += f" — {self.reason}"
        for name, before, after in self.attributes:
            text += f"\n  - `{name}`: {before} → {after}"
        if self.computed:
            text += f"\n  - _{self.computed} computed attribute(s) known after apply_"
        return text


@dataclass
class Summary:
    stack: str
    changes: list[Change]
    outputs: list[tuple[str, str, str]]  # (name, before, after), masked
    drift: int
    errored: bool
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = {kind: sum(1 for c in self.changes if c.kind == kind) for kind in KINDS}


def _is_sensitive(marks: Any) -> bool:
    return marks is True


def _mask(value: Any, marks: Any) -> Any:
    """The value with every part that `marks` flags as sensitive replaced by SENSITIVE."""
    if marks is True:
        return SENSITIVE
    if isinstance(value, dict) and isinstance(marks, dict):
        return {k: _mask(v, marks.get(k, False)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(marks, list):
        return [_mask(v, marks[i] if i < len(marks) else False) for i, v in enumerate(value)]
    return value


def _show(value: Any) -> str:
    if value == SENSITIVE or value == UNKNOWN:
        return f"_{value}_"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return "`" + text.replace("`", "'") + "`"


def _same(before: Any, after: Any) -> bool:
    """Equal, or an empty value against null (the provider's way of saying "not set"): not a change."""
    return before == after or (before in EMPTY and after in EMPTY)


CONTAINER_DEFINITIONS = "container_definitions"  # aws_ecs_task_definition: all containers in one JSON string
# Lists of {name, <field>} inside a container definition, compared entry by entry (name -> field)
NAMED_LISTS = {"environment": "value", "secrets": "valueFrom"}
UNSET = "_(unset)_"


def _containers(text: Any) -> dict[str, dict] | None:
    """{container name: definition} of a container_definitions JSON string; None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        definitions = json.loads(text)
    except ValueError:
        return None
    if not isinstance(definitions, list) or not all(
            isinstance(d, dict) and isinstance(d.get("name"), str) for d in definitions):
        return None
    return {d["name"]: d for d in definitions}


def _named(entries: Any, field_name: str) -> dict[str, Any] | None:
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "name" in e for e in entries):
        return None
    return {str(e["name"]): e.get(field_name) for e in entries}


def _shown_or_unset(value: Any) -> str:
    return UNSET if value is None else _show(value)


def _container_changes(before: Any, after: Any) -> list[tuple[str, str, str]] | None:
    """A task definition's change per container and field — the image tag, one environment variable, one
    secret reference — instead of one ~2,000-character JSON string cut short. None: not comparable."""
    old, new = _containers(before), _containers(after)
    if old is None or new is None:
        return None
    out: list[tuple[str, str, str]] = []
    for name in sorted(set(old) | set(new)):
        label = f"{CONTAINER_DEFINITIONS}[{name}]"
        if name not in old:
            out.append((label, "_(no container)_", f"added, image {_shown_or_unset(new[name].get('image'))}"))
            continue
        if name not in new:
            out.append((label, f"image {_shown_or_unset(old[name].get('image'))}", "_(removed)_"))
            continue
        b, a = old[name], new[name]
        for key in sorted(set(b) | set(a)):
            if key in NAMED_LISTS:
                b_named, a_named = _named(b.get(key) or [], NAMED_LISTS[key]), _named(a.get(key) or [], NAMED_LISTS[key])
                if b_named is not None and a_named is not None:
                    for entry in sorted(set(b_named) | set(a_named)):
                        if not _same(b_named.get(entry), a_named.get(entry)):
                            out.append((f"{label}.{key}.{entry}", _shown_or_unset(b_named.get(entry)),
                                        _shown_or_unset(a_named.get(entry))))
                    continue
            if not _same(b.get(key), a.get(key)):
                out.append((f"{label}.{key}", _shown_or_unset(b.get(key)), _shown_or_unset(a.get(key))))
    return out


def _attribute_changes(change: dict) -> tuple[tuple[tuple[str, str, str], ...], int]:
    """Top-level attributes whose value changes (compared raw, shown masked), and how many more
    become known only after apply (computed: ids, ARNs; counted, not listed, to keep the comment short)."""
    before, after = change.get("before") or {}, change.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return (), 0
    before_marks, after_marks = change.get("before_sensitive") or {}, change.get("after_sensitive") or {}
    unknown = change.get("after_unknown") or {}
    forced = {str(path[0]) for path in change.get("replace_paths") or [] if path}
    out, computed = [], 0
    for name in sorted(set(before) | set(after) | (set(unknown) if isinstance(unknown, dict) else set())):
        b_marks = before_marks.get(name, False) if isinstance(before_marks, dict) else before_marks
        a_marks = after_marks.get(name, False) if isinstance(after_marks, dict) else after_marks
        if isinstance(unknown, dict) and unknown.get(name) is True:
            if name in forced:
                out.append((name, _show(_mask(before.get(name), b_marks)), _show(UNKNOWN)))
            else:
                computed += 1
            continue
        if _same(before.get(name), after.get(name)):
            continue
        if name == CONTAINER_DEFINITIONS and b_marks is not True and a_marks is not True:
            containers = _container_changes(before.get(name), after.get(name))
            if containers is not None:
                out.extend(containers)
                continue
        out.append((name, _show(_mask(before.get(name), b_marks)), _show(_mask(after.get(name), a_marks))))
    return tuple(out), computed


def _drift(plan: dict) -> int:
    """Objects changed outside Terraform in ways the plan depends on (as Terraform's own UI reports)."""
    relevant: dict[str, set[str]] = {}
    for item in plan.get("relevant_attributes") or []:
        if item.get("attribute"):
            relevant.setdefault(item.get("resource", ""), set()).add(str(item["attribute"][0]))
    count = 0
    for drift in plan.get("resource_drift") or []:
        change = drift.get("change", {})
        before, after = change.get("before") or {}, change.get("after") or {}
        names = relevant.get(drift.get("address", ""), set())
        if isinstance(before, dict) and isinstance(after, dict):
            if any(not _same(before.get(n), after.get(n)) for n in names):
                count += 1
        elif names:
            count += 1  # deleted outside Terraform
    return count


def _reason(rc: dict, kind: str) -> str:
    change = rc.get("change", {})
    if kind == "replace":
        forced = [".".join(str(p) for p in path) for path in change.get("replace_paths") or []]
        text = REASONS.get(rc.get("action_reason", ""), rc.get("action_reason", ""))
        if forced:
            text = (text + "; " if text else "") + "forced by " + ", ".join(f"`{p}`" for p in sorted(forced))
        return text
    if kind == "destroy":
        return REASONS.get(rc.get("action_reason", ""), rc.get("action_reason", ""))
    return ""


def construct_of(address: str, paths: dict[str, str]) -> str:
    """The top-level construct of a resource: from cdk.tf.json metadata, else from the logical id."""
    plain = re.sub(r"\[[^\]]*\]$", "", address)  # drop a count/for_each index
    if plain.startswith("module."):
        return plain.split(".")[1]
    if plain in paths:
        parts = paths[plain].split("/")
        return parts[0] if len(parts) > 1 else NO_CONSTRUCT
    name = plain.split(".")[-1]
    match = CDKTF_LOGICAL_ID.match(name)
    if not match:
        return NO_CONSTRUCT
    return match.group("human").split("_")[0]


def summarize(plan: dict, stack: str, paths: dict[str, str] | None = None) -> Summary:
    paths = paths or {}
    changes = []
    for rc in plan.get("resource_changes") or []:
        change = rc.get("change", {})
        kind = KIND_OF_ACTIONS.get(tuple(change.get("actions", ())))
        if kind is None:
            continue  # no-op, read
        address = rc.get("address", "?")
        attributes, computed = _attribute_changes(change) if kind in ("change", "replace") else ((), 0)
        changes.append(Change(address, kind, construct_of(address, paths), _reason(rc, kind), attributes, computed))
    changes.sort(key=lambda c: (c.construct, KINDS.index(c.kind), c.address))
    outputs = []
    for name, oc in sorted((plan.get("output_changes") or {}).items()):
        if tuple(oc.get("actions", ())) in (("no-op",), ()):
            continue
        before = SENSITIVE if _is_sensitive(oc.get("before_sensitive")) else oc.get("before")
        after = UNKNOWN if oc.get("after_unknown") is True else (
            SENSITIVE if _is_sensitive(oc.get("after_sensitive")) else oc.get("after"))
        shown_before = _show(before) if "create" not in oc.get("actions", ()) else ""
        outputs.append((name, shown_before, _show(after)))
    return Summary(stack, changes, outputs, _drift(plan), bool(plan.get("errored")))
