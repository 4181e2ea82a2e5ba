#!/usr/bin/env python3
"""Record an application release in git: write its image tag into an env file's `registry.app_image_tag`.

    python scripts/record_app_release.py --env stage --tag app-2.4.1

The images the application repository builds (`image.tag_env_var` in the env file) run that tag, so every
deployed state is a commit of this repository and a rollback is `git revert`. The app-release workflow
runs this on the application's repository_dispatch and opens a pull request with the change.
Only that one line is touched (added under `registry:` when absent): the file's comments and layout stay.
The result is validated like any env file; on a problem the file is left as it was.
Prints `changed` or `unchanged`. Exit codes: 0 ok, 2 bad input (bad tag, invalid env file).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.commands import UsageError  # noqa: E402
from modules.image_tags import checked_tag  # noqa: E402  (the tag grammar synth enforces)
from modules.config import ConfigError, load  # noqa: E402

FIELD = "app_image_tag"
SECTION = re.compile(r"^registry:\s*(#.*)?$")
CHILD = re.compile(r"^(?P<indent>[ ]+)(?P<key>[A-Za-z_][\w-]*):")


def with_tag(text: str, tag: str) -> str:
    """The env file's text with registry.app_image_tag set to `tag`, every other line as it was."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if SECTION.match(line.rstrip("\n"))), None)
    if start is None:
        return text + ("" if text.endswith("\n") else "\n") + f"\nregistry:\n  {FIELD}: {tag}\n"
    indent, end = "  ", len(lines)
    for i in range(start + 1, len(lines)):
        line = lines[i].rstrip("\n")
        if line.strip() == "" or line.lstrip().startswith("#"):
            continue
        match = CHILD.match(line)
        if not match:  # back at the top level: the section ended
            end = i
            break
        indent = match["indent"]
        if match["key"] == FIELD:
            lines[i] = f"{indent}{FIELD}: {tag}  # recorded by the app-release workflow\n"
            return "".join(lines)
    # insert after the section's last child
    insert_at = end
    while insert_at > start + 1 and lines[insert_at - 1].strip() == "":
        insert_at -= 1
    lines.insert(insert_at, f"{indent}{FIELD}: {tag}  # recorded by the app-release workflow\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--env", help="environment name: envs/NAME.yaml")
    where.add_argument("--env-file", type=Path, help="path of an env file")
    parser.add_argument("--tag", required=True, help="the image tag the application repository pushed")
    args = parser.parse_args(argv)
    path = args.env_file or ROOT / "envs" / f"{args.env}.yaml"
    try:
        tag = checked_tag("--tag", args.tag)
        original = path.read_text(encoding="utf-8")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {path}: {exc.strerror}", file=sys.stderr)
        return 2
    updated = with_tag(original, tag)
    if updated == original:
        print("unchanged")
        return 0
    path.write_text(updated, encoding="utf-8")
    try:
        cfg = load(path)
    except ConfigError as exc:
        path.write_text(original, encoding="utf-8")  # leave the file as it was
        print(exc.render(), file=sys.stderr)
        return 2
    if cfg.registry.app_image_tag != tag:
        path.write_text(original, encoding="utf-8")
        print(f"error: {path}: registry.{FIELD} reads back as {cfg.registry.app_image_tag!r}, not {tag!r}",
              file=sys.stderr)
        return 2
    print("changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
