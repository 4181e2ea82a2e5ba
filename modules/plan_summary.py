"""Render `terraform show -json <planfile>` as Markdown for one sticky pull-request comment.

    python main.py plan-summary plan.json --synth cdktf.out/stacks/araquem-stage/cdk.tf.json
    python -m modules.plan_summary plan.json --stack araquem-stage -o comment.md

What the comment holds, in order: a stable marker (`<!-- araquem-plan:<stack> -->`, how the workflow
finds the comment to update), the counts, replacements and destroys called out first, then every change
grouped by construct. Grouping: with `--synth`, the construct path cdktf records in each resource's
`//`.metadata.path (Terraform drops `//` keys, so the plan alone does not carry it); without it, the
logical id up to its first `_` (`<construct>_<id>_<HASH8>`), coarser when construct ids contain `_`
(all `workload_<service>` land in one `workload` group), hence the workflow passes `--synth`.

Sensitive values never appear: a value is printed only where `before_sensitive` / `after_sensitive`
say it is not sensitive, and masked otherwise. The comment is kept under GitHub's comment limit; what
does not fit is replaced by one line saying how many changes were left out and where the full plan is.

Exit codes: 0 ok, 2 bad input (missing or unreadable file, not plan JSON).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HELP = "render `terraform show -json` plan output as a Markdown PR comment (sticky, size-limited)"
NEEDS_ENV = False
EXIT_OK, EXIT_BAD_INPUT = 0, 2

GITHUB_COMMENT_LIMIT = 65536  # GitHub rejects issue/PR comment bodies longer than this
MARKER = "<!-- araquem-plan:{stack} -->"
SENSITIVE = "(sensitive)"
UNKNOWN = "(known after apply)"
MAX_VALUE_CHARS = 120  # one attribute value in a change line
MAX_CALLOUTS = 100  # replacements/destroys listed up front; the rest stay in their groups, so both get room
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
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanInputError(f"{path}: no such file ({what})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanInputError(f"{path}: cannot read {what}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanInputError(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"expected {what}"
        ) from None


def load_plan(path: str) -> dict:
    what = "the output of `terraform show -json <planfile>`"
    plan = _load_json(path, what)
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise PlanInputError(f"{path}: no 'format_version' key: this is not {what}")
    if str(plan["format_version"]).split(".")[0] != SUPPORTED_FORMAT_MAJOR:
        raise PlanInputError(
            f"{path}: format_version {plan['format_version']!r} is not supported; "
            f"allowed: {SUPPORTED_FORMAT_MAJOR}.x (Terraform >= 1.0)"
        )
    if "planned_values" not in plan and "resource_changes" not in plan:
        raise PlanInputError(
            f"{path}: a state, not a plan (no 'resource_changes'); run `terraform show -json` on a saved "
            f"plan file (`terraform plan -out=FILE`)"
        )
    if not isinstance(plan.get("resource_changes", []), list):
        raise PlanInputError(f"{path}: resource_changes: expected a list, got {type(plan['resource_changes']).__name__}")
    return plan


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


# ---------------------------------------------------------------- rendering
def _size(text: str) -> int:
    # UTF-8 bytes: never fewer than the characters GitHub counts, so staying under it is safe.
    return len(text.encode("utf-8"))


def _counts_line(counts: dict[str, int]) -> str:
    parts = [f"**{counts['add']}** to add", f"**{counts['change']}** to change",
             f"**{counts['replace']}** to replace", f"**{counts['destroy']}** to destroy"]
    if counts["forget"]:
        parts.append(f"**{counts['forget']}** to forget")
    return "Plan: " + ", ".join(parts) + "."


def render(summary: Summary, limit: int = GITHUB_COMMENT_LIMIT, run_url: str | None = None) -> str:
    """Markdown for the comment, at most `limit` bytes; the marker is always the first line."""
    head = [MARKER.format(stack=summary.stack), f"### Terraform plan: `{summary.stack}`", ""]
    if summary.errored:
        head += ["> [!CAUTION]", "> The plan errored: what follows is incomplete. See the workflow log.", ""]
    if not summary.changes and not summary.outputs:
        head.append("**No changes.** The infrastructure matches the configuration.")
    else:
        head.append(_counts_line(summary.counts))
    if summary.drift:
        head += ["", f"{summary.drift} resource(s) changed outside Terraform since the last run (drift)."]
    if run_url:
        head += ["", f"Full plan: {run_url}"]
    blocks: list[str] = ["\n".join(head)]

    risky = [c for c in summary.changes if c.kind in ("replace", "destroy", "forget")]
    if risky:
        blocks.append("\n#### Replacements and destroys (review first)\n")
        ordered = sorted(risky, key=lambda c: (KINDS.index(c.kind), c.address))
        blocks += [f"- `{SYMBOL[c.kind]}` **{c.kind}** `{c.address}`" + (f" — {c.reason}" if c.reason else "")
                   for c in ordered[:MAX_CALLOUTS]]
        if len(ordered) > MAX_CALLOUTS:
            blocks.append(f"- … and {len(ordered) - MAX_CALLOUTS} more (in the groups below)")

    groups: dict[str, list[Change]] = {}
    for change in summary.changes:
        groups.setdefault(change.construct, []).append(change)
    if groups:
        blocks.append("\n#### Changes by construct")
    group_blocks: list[tuple[str, list[Change]]] = []
    for construct in sorted(groups):
        items = groups[construct]
        counts = {kind: sum(1 for c in items if c.kind == kind) for kind in KINDS}
        label = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        group_blocks.append((f"\n<details><summary><b>{construct}</b>: {label}</summary>\n", items))

    if summary.outputs:
        output_lines = ["\n#### Outputs\n"] + [
            f"- `{name}`: {before} → {after}" if before else f"- `{name}`: {after}"
            for name, before, after in summary.outputs]
    else:
        output_lines = []

    total = len(summary.changes)
    out: list[str] = []
    used = 0
    shown = 0

    def fits(text: str, reserve: int) -> bool:
        return used + _size(text) + 1 + reserve <= limit

    def notice(left_out: int) -> str:
        where = f"see the full plan: {run_url}" if run_url else "see the full plan in the workflow log"
        return (f"\n**Truncated:** {left_out} of {total} change(s) not shown to stay under GitHub's "
                f"{GITHUB_COMMENT_LIMIT:,}-character comment limit; {where}.")

    # Room for the longest possible notice and a closing </details> is always kept free.
    reserve = _size(notice(total)) + _size("\n</details>") + 2
    truncated = False
    for text in blocks:
        if not fits(text, reserve):
            truncated = True
            break
        out.append(text)
        used += _size(text) + 1
    for opener, items in group_blocks if not truncated else []:
        if not fits(opener, reserve):
            truncated = True
            break
        out.append(opener)
        used += _size(opener) + 1
        for change in items:
            text = change.line()
            if not fits(text, reserve):
                truncated = True
                break
            out.append(text)
            used += _size(text) + 1
            shown += 1
        out.append("\n</details>")
        used += _size("\n</details>") + 1
        if truncated:
            break
    if not truncated:
        for text in output_lines:
            if not fits(text, reserve):
                truncated = True
                break
            out.append(text)
            used += _size(text) + 1
    if truncated:
        out.append(notice(total - shown))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", help="JSON from `terraform show -json <planfile>` ('-' reads stdin)")
    parser.add_argument("--stack", help="stack name for the title and marker (default: from --synth)")
    parser.add_argument("--synth", metavar="CDK_TF_JSON",
                        help="the synthesized cdk.tf.json, to group changes by cdktf construct path")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the Markdown here (default stdout)")
    parser.add_argument("--run-url", help="link to the full plan (e.g. the CI run), shown in the comment")
    parser.add_argument("--limit", type=int, default=GITHUB_COMMENT_LIMIT,
                        help=f"maximum comment size (default {GITHUB_COMMENT_LIMIT}, GitHub's limit)")


def run(args: argparse.Namespace, cfg: object = None) -> int:
    try:
        if args.limit < 1024:
            raise PlanInputError(f"--limit {args.limit}: too small for a summary; allowed: 1024 to "
                                 f"{GITHUB_COMMENT_LIMIT}")
        plan = load_plan(args.plan)
        stack, paths = load_construct_paths(args.synth) if args.synth else (None, {})
        stack = args.stack or stack
        if not stack:
            raise PlanInputError("no stack name: pass --stack NAME (or --synth with the stack's cdk.tf.json)")
        markdown = render(summarize(plan, stack, paths), min(args.limit, GITHUB_COMMENT_LIMIT), args.run_url)
        if args.output:
            try:
                Path(args.output).write_text(markdown, encoding="utf-8")
            except OSError as exc:
                raise PlanInputError(f"--output {args.output}: cannot write: {exc}") from None
        else:
            sys.stdout.write(markdown)
    except PlanInputError as exc:
        print(f"plan-summary: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.plan_summary", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
