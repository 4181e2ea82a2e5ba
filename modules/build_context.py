"""Content-addressed tags for the images built from docker/: the tag is a hash of what the build reads.

Every docker/ image builds with the context `docker/` (docker/lib/ holds files several images share), so the
files one image reads are: its Dockerfile's folder, plus every COPY/ADD source outside that folder (e.g.
`lib/ops-http.sh`). The tag hashes their paths (relative to docker/), executable bits and bytes, so a commit
that changes none of them keeps the tag — and the task definition, and the running tasks — unchanged, while
any change to them gives a new tag. Git is not consulted: two checkouts with the same files agree.

    python -m modules.build_context docker/quality-cron/Dockerfile     prints the tag (what CI builds it as)
"""

from __future__ import annotations

import glob
import hashlib
import sys
from pathlib import Path

from modules import dockerfile as dockerfile_reader

TAG_PREFIX = "ctx-"  # marks content-addressed tags (ECR lifecycle rules can select them by prefix)
HASH_CHARS = 20  # hex digits of SHA-256 kept: 80 bits, collision-free in practice for one repository
# Files of an image's folder that no build reads: the image contract (docker/<image>/contract.yaml, read by the
# generator; docs/workloads.md#image-contracts). Editing it changes no image, so it keeps the tag.
NOT_BUILT = frozenset({"contract.yaml"})


class BuildContextError(ValueError):
    """A Dockerfile or a COPY source that cannot be resolved inside the build context."""


def copy_sources(dockerfile: Path) -> list[str]:
    """Sources (relative to the context) of every COPY/ADD that reads the build context (not --from)."""
    sources: list[str] = []
    try:
        found = dockerfile_reader.copies(dockerfile)
    except dockerfile_reader.DockerfileError as exc:
        raise BuildContextError(str(exc)) from None
    for copy in found:
        if not copy.from_context:
            continue  # from another stage or image, not from the context
        for src in copy.sources:
            if "://" in src:
                raise BuildContextError(f"{dockerfile}: `{copy.line}`: a remote ADD source cannot be "
                                        "content-addressed; COPY a file from docker/ instead")
            sources.append(src)
    return sources


def context_files(context: Path, dockerfile: Path) -> list[Path]:
    """Every file the build of `dockerfile` reads from `context`, sorted, deduplicated."""
    context, dockerfile = context.resolve(), dockerfile.resolve()
    if not dockerfile.is_file():
        raise BuildContextError(f"{dockerfile}: no such Dockerfile")
    try:
        dockerfile.relative_to(context)
    except ValueError:
        raise BuildContextError(f"{dockerfile}: not inside the build context {context}") from None
    files = {p for p in dockerfile.parent.rglob("*") if p.is_file() and p.name not in NOT_BUILT}
    for src in copy_sources(dockerfile):
        matches = [Path(m) for m in glob.glob(str(context / src.lstrip("/")), recursive=True)]
        if not matches:
            raise BuildContextError(f"{dockerfile}: COPY source '{src}' matches nothing in {context}")
        for match in matches:
            match = match.resolve()
            try:
                match.relative_to(context)
            except ValueError:
                raise BuildContextError(f"{dockerfile}: COPY source '{src}' leaves the build context") from None
            files |= {p for p in match.rglob("*") if p.is_file()} if match.is_dir() else {match}
    return sorted(files)


def context_tag(context: Path, dockerfile: Path) -> str:
    """`ctx-<hash>` of the files `dockerfile` reads: their context-relative paths, executable bits, bytes."""
    context = context.resolve()
    digest = hashlib.sha256()
    for path in context_files(context, dockerfile):
        rel = path.relative_to(context).as_posix()
        executable = "x" if path.stat().st_mode & 0o111 else "-"
        data = path.read_bytes()
        # Length-prefixed fields: no two different file sets can produce the same byte stream.
        digest.update(f"{len(rel)}:{rel}{executable}{len(data)}:".encode())
        digest.update(data)
    return TAG_PREFIX + digest.hexdigest()[:HASH_CHARS]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m modules.build_context docker/<name>/Dockerfile", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parents[1]
    try:
        print(context_tag(root / "docker", Path(argv[0])))
    except BuildContextError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
