"""The one Dockerfile reader of the project: instructions, stages, COPY/ADD, exec-form arguments.

Used by the content-addressed image tags (build_context.py), the image contracts' tests and the Dockerfile
policy tests, so the tag, the policy and the contracts read a Dockerfile the same way. Covers what the
Dockerfile reference allows in docker/: comments, backslash continuations, shell and JSON (exec) forms of
COPY/ADD/ENTRYPOINT/CMD, `--flag` options, several stages (`FROM ... AS name`). No parser directives or
heredocs (none in docker/; hadolint, which the tests run, would flag a misuse).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

COPY_INSTRUCTIONS = ("COPY", "ADD")


class DockerfileError(ValueError):
    """A Dockerfile instruction this reader cannot interpret."""


class Instruction(NamedTuple):
    keyword: str  # upper case: FROM, COPY, USER, ...
    args: str  # the rest of the logical line, stripped


@dataclass(frozen=True)
class Copy:
    """One COPY/ADD: its options (`--from=x`, `--chmod=0555`), sources and destination."""

    keyword: str
    flags: tuple[str, ...]
    sources: tuple[str, ...]
    destination: str
    line: str

    @property
    def from_context(self) -> bool:
        """Reads the build context (not another stage or image)."""
        return not any(flag.startswith("--from") for flag in self.flags)


def instructions(dockerfile: Path) -> list[Instruction]:
    """Logical instructions: comments and blank lines dropped, backslash continuations joined."""
    found, pending = [], ""
    for raw in dockerfile.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # a comment inside a continuation is dropped too (Docker does the same)
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        found.append(_instruction(pending + stripped))
        pending = ""
    if pending.strip():
        found.append(_instruction(pending))
    return found


def _instruction(line: str) -> Instruction:
    keyword, _, args = line.strip().partition(" ")
    return Instruction(keyword.upper(), args.strip())


def final_stage(dockerfile: Path) -> list[Instruction]:
    """The instructions of the last stage, from its FROM: what the built image is."""
    steps = instructions(dockerfile)
    starts = [i for i, step in enumerate(steps) if step.keyword == "FROM"]
    if not starts:
        raise DockerfileError(f"{dockerfile}: no FROM")
    return steps[starts[-1]:]


def arguments(args: str) -> list[str]:
    """The words of an instruction: the JSON (exec) form `["a", "b"]` or the shell form `a b`."""
    if args.startswith("["):
        try:
            words = json.loads(args)
        except json.JSONDecodeError as exc:
            raise DockerfileError(f"`{args}` is not a JSON array: {exc}") from None
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise DockerfileError(f"`{args}` is not a JSON array of strings")
        return words
    return shlex.split(args)


def exec_form(args: str) -> list[str]:
    """ENTRYPOINT/CMD in exec form; the shell form is refused (it would run under /bin/sh -c)."""
    if not args.startswith("["):
        raise DockerfileError(f"`{args}` is in shell form; use the exec form [\"...\"]")
    return arguments(args)


def copy_of(dockerfile: Path, step: Instruction) -> Copy:
    """A COPY/ADD instruction as options, sources and destination (both forms, options before either)."""
    args = step.args
    flags: list[str] = []
    while args.startswith("--"):  # options come first, in both forms: COPY --chmod=0555 ["a", "/b"]
        flag, _, args = args.partition(" ")
        flags.append(flag)
        args = args.strip()
    words = arguments(args)
    line = f"{step.keyword} {step.args}"
    if len(words) < 2:
        raise DockerfileError(f"{dockerfile}: `{line}`: COPY/ADD needs a source and a destination")
    return Copy(step.keyword, tuple(flags), tuple(words[:-1]), words[-1], line)


def copies(dockerfile: Path, *, final_only: bool = False) -> list[Copy]:
    """Every COPY/ADD of the Dockerfile (or of its final stage only)."""
    steps = final_stage(dockerfile) if final_only else instructions(dockerfile)
    return [copy_of(dockerfile, step) for step in steps if step.keyword in COPY_INSTRUCTIONS]


def image_env(dockerfile: Path) -> dict[str, str]:
    """ENV of the final stage (`ENV A=1 B=2`; the legacy `ENV A 1` form too)."""
    env: dict[str, str] = {}
    for step in final_stage(dockerfile):
        if step.keyword != "ENV":
            continue
        words = shlex.split(step.args)
        if words and "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
            continue
        env.update(word.split("=", 1) for word in words)
    return env
