"""Render a Terraform plan as Markdown for one sticky pull-request comment: `terraform show -json <planfile>`
output or Terraform Cloud's redacted plan JSON (what scripts/tfc_run.py saves; plan_changes.py reads both).

    python main.py plan-summary plan.json --synth cdktf.out/stacks/araquem-stage/cdk.tf.json --commit SHA \
        --run-json run.json
    python -m modules.commands.plan_summary plan.json --stack araquem-stage -o comment.md
    python main.py plan-summary --stack araquem-stage --run-json run.json    a failed run: its error text

What the comment holds, in order: a stable marker (`<!-- araquem-plan:<stack> -->`, how the workflow
finds the comment to update), the counts, replacements and destroys called out first, then every change
grouped by construct. Grouping: with `--synth`, the construct path cdktf records in each resource's
`//`.metadata.path (Terraform drops `//` keys, so the plan alone does not carry it); without it, the
logical id up to its first `_` (`<construct>_<id>_<HASH8>`), coarser when construct ids contain `_`
(all `workload_<service>` land in one `workload` group), hence the workflow passes `--synth`.

Sensitive values never appear: a value is printed only where `before_sensitive` / `after_sensitive`
say it is not sensitive, and masked otherwise. The comment is kept under GitHub's comment limit; what
does not fit is replaced by one line saying how many changes were left out and where the full plan is.
A task definition's change is shown per container and field (plan_changes.py). The head names the commit
(`--commit`) and links the run (`--run-url`, or the Terraform Cloud run of `--run-json`, the file
scripts/tfc_run.py writes), whose policy checks and run task results are listed under the head. A failed run
(`--run-json` with an error, no plan) gets a comment with its error text, its beginning and end kept when it
does not fit.

Reading the plan: plan_changes.py; here: rendering and the command line.

Exit codes: 0 ok, 2 bad input (missing or unreadable file, not plan JSON in either shape).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from modules.input_files import SMALL_JSON_MAX_BYTES, InputFileError, decode_utf8, read_input
from modules.commands.plan_changes import KINDS, SYMBOL, Change, PlanInputError, Summary, load_construct_paths, \
    load_plan, summarize

HELP = ("render plan JSON (`terraform show -json` or Terraform Cloud's redacted plan) as a Markdown PR comment "
        "(sticky, size-limited)")
NEEDS_ENV = False
EXIT_OK, EXIT_BAD_INPUT = 0, 2

GITHUB_COMMENT_LIMIT = 65536  # GitHub rejects issue/PR comment bodies longer than this
MARKER = "<!-- araquem-plan:{stack} -->"
MAX_CALLOUTS = 100  # replacements/destroys listed up front; the rest stay in their groups, so both get room
CLOSE_GROUP = "\n</details>"
SHORT_SHA = 12


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


def _title(stack: str, commit: str | None) -> list[str]:
    title = f"### Terraform plan: `{stack}`" + (f" at `{commit[:SHORT_SHA]}`" if commit else "")
    return [MARKER.format(stack=stack), title, ""]


def _head(summary: Summary, run_url: str | None, commit: str | None = None) -> str:
    """The marker (always the first line), the title, the counts, drift and the link to the full plan."""
    head = _title(summary.stack, commit)
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
    return "\n".join(head)


MAX_CHECKS = 50  # policy checks and run task results listed; each line is bounded by tfc_run.py


def _checks_lines(checks: list[dict]) -> list[str]:
    """The run's policy checks and run task results (run.json "checks", from scripts/tfc_run.py)."""
    if not checks:
        return []
    lines = ["\n#### Policy checks and run tasks\n"]
    for check in checks[:MAX_CHECKS]:
        text = f"- **{check.get('status', '?')}** {check.get('kind', 'check')} `{check.get('name', '?')}`"
        if check.get("detail"):
            text += f": {check['detail']}"
        if check.get("url"):
            text += f" ([details]({check['url']}))"
        lines.append(text)
    if len(checks) > MAX_CHECKS:
        lines.append(f"- … and {len(checks) - MAX_CHECKS} more (in the run)")
    return lines


def _callouts(summary: Summary) -> list[str]:
    """Replacements, destroys and forgets, listed before everything else (review first)."""
    risky = [c for c in summary.changes if c.kind in ("replace", "destroy", "forget")]
    if not risky:
        return []
    ordered = sorted(risky, key=lambda c: (KINDS.index(c.kind), c.address))
    lines = ["\n#### Replacements and destroys (review first)\n"]
    lines += [f"- `{SYMBOL[c.kind]}` **{c.kind}** `{c.address}`" + (f" — {c.reason}" if c.reason else "")
              for c in ordered[:MAX_CALLOUTS]]
    if len(ordered) > MAX_CALLOUTS:
        lines.append(f"- … and {len(ordered) - MAX_CALLOUTS} more (in the groups below)")
    return lines


def _groups(summary: Summary) -> list[tuple[str, list[Change]]]:
    """(opening <details> line, changes) per construct, sorted by construct."""
    groups: dict[str, list[Change]] = {}
    for change in summary.changes:
        groups.setdefault(change.construct, []).append(change)
    openers = []
    for construct in sorted(groups):
        items = groups[construct]
        counts = {kind: sum(1 for c in items if c.kind == kind) for kind in KINDS}
        label = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        openers.append((f"\n<details><summary><b>{construct}</b>: {label}</summary>\n", items))
    return openers


def _output_lines(summary: Summary) -> list[str]:
    if not summary.outputs:
        return []
    return ["\n#### Outputs\n"] + [f"- `{name}`: {before} → {after}" if before else f"- `{name}`: {after}"
                                    for name, before, after in summary.outputs]


def _truncation_notice(left_out: int, total: int, run_url: str | None) -> str:
    where = f"see the full plan: {run_url}" if run_url else "see the full plan in the workflow log"
    return (f"\n**Truncated:** {left_out} of {total} change(s) not shown to stay under GitHub's "
            f"{GITHUB_COMMENT_LIMIT:,}-character comment limit; {where}.")


class _Page:
    """Lines of the comment, added while they fit in `limit` bytes with `reserve` bytes kept free."""

    def __init__(self, limit: int, reserve: int) -> None:
        self.lines: list[str] = []
        self.used, self.limit, self.reserve = 0, limit, reserve

    def add(self, text: str) -> bool:
        if self.used + _size(text) + 1 + self.reserve > self.limit:
            return False
        self.force(text)
        return True

    def force(self, text: str) -> None:
        self.lines.append(text)
        self.used += _size(text) + 1


def _add_groups(page: _Page, groups: list[tuple[str, list[Change]]]) -> tuple[bool, int]:
    """Each construct's group while it fits; a group cut short is still closed. -> (all fitted, changes shown)"""
    shown = 0
    for opener, items in groups:
        if not page.add(opener):
            return False, shown
        for change in items:
            if not page.add(change.line()):
                page.force(CLOSE_GROUP)
                return False, shown
            shown += 1
        page.force(CLOSE_GROUP)
    return True, shown


def render(summary: Summary, limit: int = GITHUB_COMMENT_LIMIT, run_url: str | None = None,
           commit: str | None = None, checks: list[dict] = ()) -> str:
    """Markdown for the comment, at most `limit` bytes; the marker is always the first line."""
    groups = _groups(summary)
    blocks = [_head(summary, run_url, commit), *_checks_lines(list(checks)), *_callouts(summary)] + (
        ["\n#### Changes by construct"] if groups else [])
    total = len(summary.changes)
    # Room for the longest possible notice and a closing </details> is always kept free.
    page = _Page(limit, reserve=_size(_truncation_notice(total, total, run_url)) + _size(CLOSE_GROUP) + 2)
    shown = 0
    fitted = all(page.add(text) for text in blocks)
    if fitted:
        fitted, shown = _add_groups(page, groups)
    if fitted:
        fitted = all(page.add(text) for text in _output_lines(summary))
    if not fitted:
        page.force(_truncation_notice(total - shown, total, run_url))
    return "\n".join(page.lines) + "\n"


def _fence(text: str) -> str:
    """A code fence longer than any backtick run in `text`, so the text cannot close it."""
    return "`" * max(3, 1 + max(map(len, re.findall("`+", text)), default=0))


def render_failure(stack: str, error: str, limit: int = GITHUB_COMMENT_LIMIT, run_url: str | None = None,
                   commit: str | None = None, status: str = "errored", checks: list[dict] = ()) -> str:
    """The comment of a run that produced no plan: its error text, cut in the middle when too long."""
    head = _title(stack, commit) + [
        f"**The plan failed** (`{status}`): an earlier plan shown here no longer applies."]
    if run_url:
        head += ["", f"Full log: {run_url}"]
    head += _checks_lines(list(checks))
    head_text = "\n".join(head) + "\n\n"
    fence = _fence(error)
    frame = _size(head_text) + 2 * _size(fence) + _size("text\n\n\n")
    room = limit - frame
    text = error
    if _size(text) > room:
        # Terraform prints the cause first and the failing resource last: keep both ends.
        note = "\n[… {} characters cut to fit GitHub's comment limit …]\n"
        keep = room - _size(note.format(len(error)))
        head_part = text.encode()[: keep // 2].decode(errors="ignore")
        tail_part = text.encode()[-(keep - keep // 2):].decode(errors="ignore")
        text = head_part + note.format(len(error) - len(head_part) - len(tail_part)) + tail_part
    return f"{head_text}{fence}text\n{text}\n{fence}\n"


def _read_run(path: str) -> dict:
    """scripts/tfc_run.py's run.json: {"id", "url", "status", "error", ...}."""
    try:
        run = json.loads(decode_utf8(path, read_input(path, SMALL_JSON_MAX_BYTES)))
    except InputFileError as exc:
        raise PlanInputError(f"{exc} (scripts/tfc_run.py's run.json)") from None
    except ValueError as exc:
        raise PlanInputError(f"{path}: not the run.json scripts/tfc_run.py writes: {exc}") from None
    if not isinstance(run, dict) or "status" not in run:
        raise PlanInputError(f"{path}: no 'status': not the run.json scripts/tfc_run.py writes")
    checks = run.get("checks") or []
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise PlanInputError(f"{path}: checks: expected a list of objects (policy checks and run tasks)")
    return run


# ---------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", nargs="?",
                        help="JSON from `terraform show -json <planfile>` or Terraform Cloud's redacted plan JSON "
                             "('-' reads stdin); omit it for a failed run (--run-json with an error)")
    parser.add_argument("--stack", help="stack name for the title and marker (default: from --synth)")
    parser.add_argument("--synth", metavar="CDK_TF_JSON",
                        help="the synthesized cdk.tf.json, to group changes by cdktf construct path")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the Markdown here (default stdout)")
    parser.add_argument("--run-url", help="link to the full plan (e.g. the CI run), shown in the comment")
    parser.add_argument("--run-json", metavar="FILE",
                        help="scripts/tfc_run.py's run.json: links the Terraform Cloud run; its error, if any")
    parser.add_argument("--commit", help="the commit planned (its first 12 characters are shown)")
    parser.add_argument("--limit", type=int, default=GITHUB_COMMENT_LIMIT,
                        help=f"maximum comment size (default {GITHUB_COMMENT_LIMIT}, GitHub's limit)")


def run(args: argparse.Namespace, cfg: object = None) -> int:
    try:
        if args.limit < 1024:
            raise PlanInputError(f"--limit {args.limit}: too small for a summary; allowed: 1024 to "
                                 f"{GITHUB_COMMENT_LIMIT}")
        if args.commit and not re.fullmatch(r"[0-9a-f]{7,64}", args.commit):
            raise PlanInputError(f"--commit {args.commit!r}: not a commit SHA (7 to 64 hex digits)")
        run = _read_run(args.run_json) if args.run_json else {}
        run_url = args.run_url or run.get("url")
        stack, paths = load_construct_paths(args.synth) if args.synth else (None, {})
        stack = args.stack or stack
        if not stack:
            raise PlanInputError("no stack name: pass --stack NAME (or --synth with the stack's cdk.tf.json)")
        limit = min(args.limit, GITHUB_COMMENT_LIMIT)
        if run.get("error"):
            markdown = render_failure(stack, run["error"], limit, run_url, args.commit, run.get("status", "errored"),
                                      run.get("checks") or [])
        elif not args.plan:
            raise PlanInputError("no plan file: pass the plan JSON (or --run-json of a failed run)")
        else:
            markdown = render(summarize(load_plan(args.plan), stack, paths), limit, run_url, args.commit,
                              run.get("checks") or [])
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
    parser = argparse.ArgumentParser(prog="python -m modules.commands.plan_summary", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
