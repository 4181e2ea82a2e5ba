"""`python main.py [synth]`: the env file -> Terraform JSON in cdktf.out/ (the default command).

Before jsii starts: the outdir is checked (only earlier cdktf output is replaced; never the checkout,
a directory containing it, $HOME or a regular file), TMPDIR, the image tags, and that the outdir's parent
is writable. Then, holding a lock beside the outdir, the stack is synthesized into a staging directory and
swapped in; everything of the earlier output that synth did not write (local state, .terraform/) is
linked or copied over first, so a failure at any step leaves the earlier output intact. docs/setup.md.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from modules.build_context import BuildContextError, context_tag
from modules.commands import EXIT_OK, UsageError
from modules.config.defaults import APP_IMAGE_UNRELEASED_TAG

HELP = "synthesize Terraform JSON into cdktf.out/ (the default command)"
NEEDS_ENV = True
ROOT = Path(__file__).resolve().parents[2]  # the checkout: docker/ (build contexts)
DOCKER_CONTEXT = ROOT / "docker"  # the build context of every docker/ image (docker/lib/ is shared)

# Docker's tag grammar: what ECR accepts and what a `docker push` could have produced.
IMAGE_TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def checked_tag(var: str, tag: str) -> str:
    if tag == "latest":
        raise UsageError(f"{var}=latest: pin images to a git sha or a version (seed §5), not 'latest'")
    if not IMAGE_TAG_PATTERN.fullmatch(tag):
        raise UsageError(f"{var}={tag!r} is not an image tag: letters, digits, '_', '.', '-' (not first), "
                         "at most 128 characters")
    return tag


def docker_tag(dockerfile: str) -> str:
    """The content-addressed tag of an image built from docker/ (modules/build_context.py)."""
    try:
        return context_tag(DOCKER_CONTEXT, ROOT / dockerfile)
    except BuildContextError as exc:
        raise UsageError(f"image.dockerfile {dockerfile}: {exc}") from None


def image_tags(cfg) -> dict[str, str]:
    """The tag of every built image, keyed by `image.build` (sorted).

    docker/ builds (`image.dockerfile`) are tagged with the hash of their build context, so a commit that
    changes none of their files changes neither their tag nor their task definition (no needless restart);
    `registry.image_tag_env_var` set overrides that (an image you built and pushed by hand under that tag).
    An image another repository builds runs the release recorded in the env file (`registry.app_image_tag`,
    written by the app-release workflow); the env var it names (`image.tag_env_var`) overrides that; with
    neither it gets APP_IMAGE_UNRELEASED_TAG, said on stderr: the same for every commit (a commit of this
    repository restarts nothing), never pushed, so the deploy workflow and preflight refuse it."""
    override_var = cfg.registry.image_tag_env_var
    override = os.environ.get(override_var)
    tags: dict[str, str] = {}
    fallbacks: dict[str, list[str]] = {}
    for name, svc in sorted(cfg.services.items()):
        build, var = svc.image.build, svc.image.tag_env_var
        if not build:
            continue
        if svc.image.dockerfile:
            tags[build] = checked_tag(override_var, override) if override else docker_tag(svc.image.dockerfile)
            continue
        value = os.environ.get(var) if var else override  # no tag_env_var: an image pushed by hand
        if value:
            tags[build] = checked_tag(var or override_var, value)
        elif cfg.registry.app_image_tag:
            tags[build] = cfg.registry.app_image_tag
        else:
            fallbacks.setdefault(var or override_var, []).append(name)
            tags[build] = APP_IMAGE_UNRELEASED_TAG
    for var, names in sorted(fallbacks.items()):
        print(f"notice: {var} is not set and no release is recorded: {', '.join(names)} (built by another "
              f"repository) get the tag '{APP_IMAGE_UNRELEASED_TAG}', which no deploy accepts; record the tag that "
              f"repository pushed in registry.app_image_tag (the app-release workflow does) or set {var}",
              file=sys.stderr)
    return dict(sorted(tags.items()))


# ---------------------------------------------------------------- the output directory
# Synth writes its output into a staging directory beside the outdir and swaps it in. It replaces only
# a directory it recognises as earlier cdktf output and keeps everything in it that synth did not
# write (local state, .terraform/, the lock file, a user's notes): those are hard-linked (or copied)
# into the new output before the swap, so the old directory is never emptied and a failure at any
# step leaves it where it was.
MANIFEST = "manifest.json"  # what cdktf writes at the top of its outdir (cdktf 0.21: version + stacks)
MARKER = ".araquem-synth"  # written into each staging/retired directory synth creates: only those are cleaned up
STAGING_KINDS = ("new", "old")  # .<outdir>.new-XXXX: a synth in progress; .<outdir>.old-XXXX: output being retired
LOCK_TIMEOUT_VAR = "ARAQUEM_SYNTH_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 600  # a full synth takes well under a minute; ten minutes means the holder is stuck
LOCK_POLL_S = 0.2


def is_cdktf_output(directory: Path) -> bool:
    """Its manifest.json has the shape cdktf writes: {"version": "...", "stacks": {name: {"workingDirectory",
    "synthesizedStackPath", ...}}} (cdktf 0.21 Manifest.writeToFile)."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    stacks = manifest.get("stacks") if isinstance(manifest, dict) else None
    return (isinstance(manifest.get("version"), str) and isinstance(stacks, dict)
            and all(isinstance(s, dict) and isinstance(s.get("workingDirectory"), str)
                    and isinstance(s.get("synthesizedStackPath"), str) for s in stacks.values()))


def checked_outdir(outdir: Path) -> Path:
    """The resolved outdir when synth may replace it; UsageError naming the path and why not otherwise."""
    try:
        resolved = outdir.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise UsageError(f"--outdir {outdir}: {getattr(exc, 'strerror', None) or exc}") from None
    protected = {ROOT: "the checkout", Path("/"): "the root directory"}
    home = os.environ.get("HOME")
    if home:
        protected[Path(home).resolve()] = "your home directory"
    for place, what in protected.items():
        if resolved == place or place.is_relative_to(resolved):
            raise UsageError(f"--outdir {outdir}: {'is' if resolved == place else 'contains'} {what} ({place}); "
                             "synth replaces its output directory: choose one of its own, such as cdktf.out")
    if os.path.lexists(resolved):
        if not resolved.is_dir():
            raise UsageError(f"--outdir {outdir}: is a file, not a directory; synth will not replace it: "
                             "choose another --outdir")
        if any(resolved.iterdir()) and not is_cdktf_output(resolved):
            raise UsageError(f"--outdir {outdir}: exists and is not earlier synth output (no cdktf {MANIFEST}); "
                             "synth replaces only its own output: choose another --outdir (or move this one away)")
    if not resolved.parent.is_dir():
        raise UsageError(f"--outdir {outdir}: its parent directory {resolved.parent} does not exist; create it first")
    return resolved


def check_tmpdir() -> None:
    """jsii's Node process writes to $TMPDIR; a missing one fails deep inside it with a JavaScript trace."""
    tmp = os.environ.get("TMPDIR")
    if not tmp:
        return
    try:
        os.rmdir(tempfile.mkdtemp(dir=tmp))
    except OSError as exc:
        raise UsageError(f"TMPDIR={tmp}: {exc.strerror}; synth's Node process keeps temporary files there: "
                         "create it, or unset TMPDIR") from None


@contextmanager
def output_lock(outdir: Path, timeout: float | None = None):
    """An exclusive flock on .<outdir>.lock beside the outdir: one synth at a time per outdir.

    The lock file stays (removing it would let a waiter lock an unlinked file); it names its holder."""
    if timeout is None:
        setting = os.environ.get(LOCK_TIMEOUT_VAR) or str(DEFAULT_LOCK_TIMEOUT_S)
        try:
            timeout = float(setting)
        except ValueError:
            raise UsageError(f"{LOCK_TIMEOUT_VAR}={setting!r}: seconds to wait for another synth, e.g. 600") from None
    lock_path = outdir.parent / f".{outdir.name}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UsageError(f"--outdir {outdir}: cannot write in {outdir.parent}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
            print(f"waiting for another synth into {outdir} ({holder}) to finish ...", file=sys.stderr)
            deadline = time.monotonic() + timeout
            while True:
                time.sleep(LOCK_POLL_S)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise UsageError(
                            f"--outdir {outdir}: another synth ({holder}) still holds {lock_path} after "
                            f"{timeout:g} s; wait for it, or stop it (${LOCK_TIMEOUT_VAR} sets how long to wait)"
                        ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since "
                      f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode(), 0)
        yield lock_path
    finally:
        os.close(fd)  # releases the lock


def _staging_dir(outdir: Path, kind: str) -> Path:
    """A marked directory beside the outdir; the output (new or retired) goes in its `out` subdirectory."""
    path = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.{kind}-", dir=outdir.parent))
    try:
        (path / MARKER).write_text(f"{kind} output of a synth into {outdir.name}; pid {os.getpid()}\n")
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # unmarked, no later synth would remove it
        raise
    return path


def _remove_staging(path: Path) -> None:
    """Its contents first, the marker last: interrupted anywhere, it is still recognisably ours (or empty)."""
    if os.path.lexists(path / "out"):
        shutil.rmtree(path / "out")
    os.unlink(path / MARKER)
    os.rmdir(path)


def _remove_staging_quietly(path: Path) -> None:
    try:
        _remove_staging(path)
    except OSError:
        pass  # a leftover staging directory is removed by the next synth into this outdir


def _ours(entry: Path, outdir: Path) -> str | None:
    """'new' or 'old' when entry is a staging directory a synth into outdir made (name and marker)."""
    for kind in STAGING_KINDS:
        if entry.name.startswith(f".{outdir.name}.{kind}-") and not entry.is_symlink() and (entry / MARKER).is_file():
            return kind
    return None


def remove_stale_staging(outdir: Path) -> None:
    """Staging directories a killed synth left behind (call with the lock held: none is in use).

    A synth killed between its two renames left no outdir and the earlier output in .old-*/out:
    that is put back, never deleted."""
    for entry in sorted(outdir.parent.iterdir()):
        kind = _ours(entry, outdir)
        if kind is None:
            if entry.name.startswith(tuple(f".{outdir.name}.{k}-" for k in STAGING_KINDS)) and entry.is_dir():
                try:
                    os.rmdir(entry)  # one left empty by an interruption; rmdir cannot remove anything else
                except OSError:
                    pass
            continue
        if kind == "old" and not os.path.lexists(outdir) and (entry / "out").is_dir():
            os.rename(entry / "out", outdir)
            print(f"notice: restored the earlier output {outdir} that an interrupted synth left in {entry}",
                  file=sys.stderr)
        _remove_staging(entry)


def _carry(src: Path, dst: Path) -> None:
    """dst becomes a copy of src: files hard-linked (same bytes, no space, nothing moved), symlinks recreated."""
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    elif src.is_dir():
        os.mkdir(dst)
        shutil.copymode(src, dst)
        for child in sorted(src.iterdir()):
            _carry(child, dst / child.name)
    else:
        try:
            os.link(src, dst)
        except OSError:  # another file system, or one without hard links: a real copy
            shutil.copy2(src, dst)


def keep_terraform_files(old: Path, new: Path) -> None:
    """Copy into the new output everything of the old one that this synth did not write.

    `cdktf deploy` runs Terraform inside cdktf.out/stacks/<stack>/, so a local backend keeps its state
    there (terraform.<stack>.tfstate, .terraform/, .terraform.lock.hcl). Stacks of other environments
    synthesized into the same outdir (another --env) are carried whole: their local state must survive,
    and cdktf-cli expects every stack of the previous manifest. Copies, never moves: until the swap the
    old output stays complete, so no failure can take its state with it."""
    for entry in sorted(old.iterdir()):
        target = new / entry.name
        if entry.name == "stacks" and entry.is_dir() and not entry.is_symlink() and target.is_dir():
            for old_stack in sorted(entry.iterdir()):
                new_stack = target / old_stack.name
                if not os.path.lexists(new_stack):
                    _carry(old_stack, new_stack)
                elif old_stack.is_dir() and not old_stack.is_symlink() and new_stack.is_dir():
                    for item in sorted(old_stack.iterdir()):
                        if not os.path.lexists(new_stack / item.name):
                            _carry(item, new_stack / item.name)
        elif not os.path.lexists(target):
            _carry(entry, target)


def publish(new: Path, outdir: Path) -> None:
    """Swap the new output in. Each failure leaves outdir as it was (or puts it back)."""
    if not os.path.lexists(outdir):
        os.rename(new, outdir)
        return
    keep_terraform_files(outdir, new)
    retired = _staging_dir(outdir, "old")
    try:
        os.rename(outdir, retired / "out")
    except BaseException:
        _remove_staging_quietly(retired)
        raise
    try:
        os.rename(new, outdir)
    except BaseException:
        try:
            os.rename(retired / "out", outdir)
        except OSError as exc:
            print(f"error: could not put the earlier output back ({exc.strerror}): it is in {retired / 'out'}; "
                  "the next synth restores it", file=sys.stderr)
        raise
    _remove_staging_quietly(retired)  # its files not written by synth are linked or copied in the new output


def replace_output(outdir: Path, write: Callable[[Path], None]) -> None:
    """write(target) fills a fresh directory; then it replaces outdir. Call with the output lock held."""
    staging = _staging_dir(outdir, "new")
    try:
        write(staging / "out")
        publish(staging / "out", outdir)
    finally:
        _remove_staging_quietly(staging)


def _synthesize(cfg, target: Path, tags: dict[str, str], aws_endpoint: str | None) -> None:
    from modules.bindings.node import use_supported_node  # noqa: PLC0415  (light: no jsii yet)

    use_supported_node()
    from cdktf import App  # noqa: PLC0415  (jsii starts here, after the config and the outdir are known good)

    import modules  # noqa: F401,PLC0415  (installs the lazy provider import before the stack imports)
    from modules.stack import AraquemStack, StackOptions  # noqa: PLC0415

    app = App(outdir=str(target), stack_traces=False)
    AraquemStack(app, cfg, StackOptions(image_tags=tags, aws_endpoint=aws_endpoint))
    app.synth()


def synth(cfg, outdir: Path, aws_endpoint: str | None = None) -> Path:
    """Synthesize into a staging dir beside outdir, then swap: a failure leaves the old output intact.

    Everything a user can get wrong is checked before jsii starts: image tags, the outdir, TMPDIR,
    and that the outdir's parent is writable (the lock file and the staging directory are made there)."""
    outdir = checked_outdir(outdir)
    check_tmpdir()
    tags = image_tags(cfg)
    write_output(outdir, lambda target: _synthesize(cfg, target, tags, aws_endpoint))
    return outdir / "stacks" / cfg.name / "cdk.tf.json"


def write_output(outdir: Path, write: Callable[[Path], None]) -> None:
    """Under the outdir's lock: clear what killed synths left, check the outdir again (another synth may
    have changed it while this one waited), and replace it with what write(target) produces."""
    with output_lock(outdir):
        remove_stale_staging(outdir)
        checked_outdir(outdir)
        replace_output(outdir, write)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """None of its own: --outdir (and the test-only --aws-endpoint) are main.py's common options,
    so a bare `python main.py --outdir D` synthesizes too."""


def run(args: argparse.Namespace, cfg) -> int:
    out = synth(cfg, Path(args.outdir), aws_endpoint=args.aws_endpoint)
    print(f"synthesized {cfg.name} from {os.path.relpath(args.env_path)} -> {os.path.relpath(out)}")
    return EXIT_OK
