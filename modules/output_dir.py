"""The synth output directory: checked, locked, and replaced only as a whole, never losing what synth did not write.

Synth writes its output into a staging directory beside the outdir and swaps it in. It replaces only a
directory it recognises as earlier cdktf output and keeps everything in it that synth did not write (local
state, .terraform/, a user's notes): those are hard-linked (or copied) into the new output before the swap,
so the old directory is never emptied and a failure at any step leaves it where it was. docs/setup.md.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from modules.commands import UsageError

ROOT = Path(__file__).resolve().parents[1]  # the checkout: never an outdir

MANIFEST = "manifest.json"  # what cdktf writes at the top of its outdir (cdktf 0.21: version + stacks)
MARKER = ".araquem-synth"  # written into each staging/retired directory synth creates: only those are cleaned up
STAGING_KINDS = ("new", "old")  # .<outdir>.new-XXXX: a synth in progress; .<outdir>.old-XXXX: output being retired
LOCK_TIMEOUT_VAR = "ARAQUEM_SYNTH_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 600  # a full synth takes well under a minute; ten minutes means the holder is stuck
LOCK_POLL_S = 0.2
LOCK_HEADER_WAIT_S = 2  # an empty lock file: another synth between creating it and writing its first line


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


# The lock file beside the outdir is synth's own: created whole with this first line, and reused only when
# it starts with it (or with the holder line earlier versions wrote), never a user's file or a symlink.
LOCK_HEADER = b"araquem synth lock (python main.py synth): safe to delete while no synth runs\n"
LEGACY_LOCK = re.compile(rb"pid \d+ on [^\n]*, since \d{4}-\d\d-\d\dT")  # written by synth before this header


def lock_path_of(outdir: Path) -> Path:
    return outdir.parent / f".{outdir.name}.lock"


def _open_lock_file(outdir: Path, lock_path: Path) -> int:
    """A descriptor of synth's own lock file (created exclusively, never through a link); UsageError when the
    name holds anything else."""
    refuse = (f"--outdir {outdir}: {lock_path} exists and is not synth's lock file ({{why}}); synth keeps its "
              "lock under that name and never writes into a file it did not create: move it away, or choose "
              "another --outdir")
    deadline = time.monotonic() + LOCK_HEADER_WAIT_S
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            pass
        except OSError as exc:
            raise UsageError(f"--outdir {outdir}: cannot write in {outdir.parent}: {exc.strerror}") from None
        else:
            try:
                os.write(fd, LOCK_HEADER)
            except BaseException:
                os.close(fd)
                os.unlink(lock_path)  # ours, just created: no half-written lock file stays behind
                raise
            return fd
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            continue  # removed in between: create it
        except OSError as exc:
            why = ("a symbolic link" if os.path.islink(lock_path) else "a directory" if os.path.isdir(lock_path)
                   else None)
            if why:
                raise UsageError(refuse.format(why=why)) from None
            raise UsageError(f"--outdir {outdir}: cannot open {lock_path}: {exc.strerror}") from None
        info = os.fstat(fd)
        head = os.pread(fd, len(LOCK_HEADER), 0) if stat.S_ISREG(info.st_mode) else b""
        if stat.S_ISREG(info.st_mode) and (head == LOCK_HEADER or LEGACY_LOCK.match(head)):
            return fd
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(refuse.format(why="not a regular file"))
        if head and not LOCK_HEADER.startswith(head) or time.monotonic() >= deadline:
            raise UsageError(refuse.format(why="its content is not synth's" if head else "empty"))
        time.sleep(LOCK_POLL_S)  # another synth created it this instant and is writing its first line


def _write_holder(fd: int) -> None:
    holder = (f"pid {os.getpid()} on {socket.gethostname()}, since "
              f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, LOCK_HEADER + holder, 0)


def _holder(fd: int) -> str:
    text = os.pread(fd, 400, 0).removeprefix(LOCK_HEADER).decode(errors="replace").strip()
    return text or "unknown process"


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
    lock_path = lock_path_of(outdir)
    fd = _open_lock_file(outdir, lock_path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
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
        _write_holder(fd)
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


def _make_writable_and_retry(function, path, _exc_info) -> None:
    """rmtree's error handler: a read-only directory of a retired output (its files are carried into the new
    output, or it is a staging copy) is made writable by its owner, then the removal is tried again."""
    parent = os.path.dirname(path)
    os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
    if function is os.rmdir or os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
        _rmtree(path)
    else:
        function(path)


def _rmtree(path) -> None:
    if sys.version_info >= (3, 12):  # `onerror` is deprecated there; the handler takes the same arguments
        shutil.rmtree(path, onexc=_make_writable_and_retry)
    else:
        shutil.rmtree(path, onerror=_make_writable_and_retry)


def _remove_staging(path: Path) -> None:
    """Its contents first, the marker last: interrupted anywhere, it is still recognisably ours (or empty)."""
    if os.path.lexists(path / "out"):
        _rmtree(path / "out")
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
        try:
            _remove_staging(entry)
        except OSError as exc:  # never a reason to refuse this synth: nothing of the user's is in it any more
            print(f"notice: could not remove {entry.name} (left beside {outdir.name} by an earlier synth): "
                  f"{exc.strerror}; remove it by hand", file=sys.stderr)


def _carry(src: Path, dst: Path) -> None:
    """dst becomes a copy of src: files hard-linked (same bytes, no space, nothing moved), symlinks recreated."""
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    elif src.is_dir():
        os.mkdir(dst)
        for child in sorted(src.iterdir()):
            _carry(child, dst / child.name)
        shutil.copymode(src, dst)  # after its children: a read-only directory is filled first
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


def refuse_links_over_state(outdir: Path, stack_names: tuple[str, ...]) -> None:
    """UsageError when `stacks/` or the directory of a stack about to be written is a symbolic link.

    The new output is a plain directory tree: a link there would be replaced by a folder holding only
    cdk.tf.json, and the local state behind the link (terraform.<stack>.tfstate, .terraform/) would be left
    out of it, so the next `cdktf deploy` would see empty state. Links deeper down (a state file, .terraform/)
    and the directories of other stacks are carried as links."""
    stacks = outdir / "stacks"
    for path in [stacks, *(stacks / name for name in stack_names)]:
        if path.is_symlink():
            raise UsageError(
                f"--outdir {outdir}: {path.relative_to(outdir.parent)} is a symbolic link (to {os.readlink(path)}); "
                "synth writes that directory anew and would leave the local state behind the link out of its "
                "output: replace the link with the directory it points to, or use --outdir on the real location")


def write_output(outdir: Path, write: Callable[[Path], None], stack_names: tuple[str, ...] = ()) -> None:
    """Under the outdir's lock: clear what killed synths left, check the outdir again (another synth may
    have changed it while this one waited), and replace it with what write(target) produces."""
    refuse_links_over_state(outdir, stack_names)  # before the lock too: fail before the synth's cost
    with output_lock(outdir):
        remove_stale_staging(outdir)
        checked_outdir(outdir)
        refuse_links_over_state(outdir, stack_names)
        replace_output(outdir, write)


