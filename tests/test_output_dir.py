"""modules/output_dir.py: synth replaces its output directory whole and loses nothing it did not write: local
state survives a failure at every step, the lock is a file synth owns, and a link over a stack's state is refused."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, run_main
from modules import output_dir
from modules.commands import UsageError


def test_synth_replaces_earlier_output_and_keeps_what_it_did_not_write(tmp_path):
    out = tmp_path / "cdktf.out"
    stack = out / "stacks/araquem-stage"
    stack.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps(EARLIER_MANIFEST))
    (stack / "cdk.tf.json").write_text('{"earlier": true}')
    (out / "NOTES.md").write_text("a user's notes")
    proc = run_main("synth", "--outdir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((stack / "cdk.tf.json").read_text()) != {"earlier": True}
    assert (out / "NOTES.md").read_text() == "a user's notes"
    assert not list(tmp_path.glob(".cdktf.out.*-*"))
    umask = os.umask(0)
    os.umask(umask)
    for directory in (out, out / "stacks", stack):  # not mkdtemp's 0700
        assert directory.stat().st_mode & 0o777 == 0o777 & ~umask, directory


EARLIER_MANIFEST = {"version": "0.21.0", "stacks": {"araquem-stage": {
    "name": "araquem-stage", "constructPath": "araquem-stage", "workingDirectory": "stacks/araquem-stage",
    "synthesizedStackPath": "stacks/araquem-stage/cdk.tf.json", "annotations": [], "dependencies": []}}}


def test_resynth_keeps_local_state_of_every_stack(synths, tmp_path):
    """Local state lives in cdktf.out/stacks/<stack>/; neither a re-synth nor another --env may lose it."""
    out = tmp_path / "cdktf.out"
    session_dev_eu = synths.of_file(ROOT / "envs" / "dev-eu.yaml")  # earlier output: the session's dev-eu synth
    shutil.copytree(session_dev_eu.dir.parent.parent, out)
    dev_state = out / "stacks/araquem-dev-eu/terraform.araquem-dev-eu.tfstate"
    dev_state.write_text('{"serial": 7}')
    assert run_main("--env", "stage", "synth", "--outdir", str(out)).returncode == 0
    stage_state = out / "stacks/araquem-stage/terraform.araquem-stage.tfstate"
    stage_state.write_text('{"serial": 3}')
    assert run_main("--env", "stage", "synth", "--outdir", str(out)).returncode == 0
    assert dev_state.read_text() == '{"serial": 7}' and stage_state.read_text() == '{"serial": 3}'
    assert (out / "stacks/araquem-stage/cdk.tf.json").is_file()


# ------------------------------------------------- the swap: local state survives a failure at every step
STATE_FILES = {  # what `cdktf deploy` / terraform leave in a stack directory, and a user's own file
    "stacks/araquem-stage/terraform.araquem-stage.tfstate": b'{"serial": 41, "lineage": "only-copy"}',
    "stacks/araquem-stage/terraform.araquem-stage.tfstate.backup": b'{"serial": 40}',
    "stacks/araquem-stage/.terraform.lock.hcl": b'provider "registry.terraform.io/hashicorp/aws" {}',
    "stacks/araquem-stage/.terraform/providers/aws/terraform-provider-aws": b"\x7fELF provider",
    "stacks/araquem-stage/.terraform/terraform.tfstate": b'{"backend": "local"}',
    "stacks/araquem-dev-eu/terraform.araquem-dev-eu.tfstate": b'{"serial": 7}',
    "stacks/araquem-dev-eu/cdk.tf.json": b'{"dev": true}',
    "NOTES.md": b"kept by synth",
}
OLD_STACK, NEW_STACK = b'{"old": true}', b'{"new": true}'
# Every file-system call the lock, the cleanup and the swap make; each is made to fail in turn.
FAULTABLE = [(os, "rename"), (os, "link"), (os, "mkdir"), (os, "symlink"), (os, "rmdir"), (os, "unlink"),
             (shutil, "copy2"), (shutil, "copymode"), (shutil, "rmtree"), (tempfile, "mkdtemp"),
             (Path, "write_text"), (Path, "write_bytes")]


def _earlier_output(out: Path) -> None:
    (out / "stacks/araquem-stage").mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps(EARLIER_MANIFEST))
    (out / "stacks/araquem-stage/cdk.tf.json").write_bytes(OLD_STACK)
    for rel, data in STATE_FILES.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    os.symlink("aws/terraform-provider-aws", out / "stacks/araquem-stage/.terraform/providers/current")


def _fake_cdktf(target: Path) -> None:
    """What cdktf writes: the manifest and one stack (through the same os calls, so they can fail too)."""
    (target / "stacks/araquem-stage").mkdir(parents=True)
    (target / "manifest.json").write_text(json.dumps(EARLIER_MANIFEST))
    (target / "stacks/araquem-stage/cdk.tf.json").write_bytes(NEW_STACK)


class Fault:
    """Makes the n-th call (counted over every FAULTABLE function) raise `error`."""

    def __init__(self, monkeypatch, n: int, error: BaseException):
        self.calls, self.n, self.error, self.fired = 0, n, error, None
        for owner, name in FAULTABLE:
            monkeypatch.setattr(owner, name, self._wrap(getattr(owner, name), f"{owner.__name__}.{name}"))

    def _wrap(self, real, label):
        def faulty(*args, **kwargs):
            self.calls += 1
            if self.calls == self.n:
                self.fired = label
                raise self.error
            return real(*args, **kwargs)
        return faulty


def _assert_state_kept(out: Path) -> None:
    for rel, data in STATE_FILES.items():
        assert (out / rel).read_bytes() == data, rel
    assert os.readlink(out / "stacks/araquem-stage/.terraform/providers/current") == "aws/terraform-provider-aws"
    assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() in (OLD_STACK, NEW_STACK)


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
                         ids=["no-space", "ctrl-c"])
def test_local_state_survives_a_failure_at_every_step_of_the_swap(tmp_path, monkeypatch, error):
    steps = 0
    for n in range(1, 200):
        base = tmp_path / str(n)
        base.mkdir()
        out = base / "cdktf.out"
        _earlier_output(out)
        with monkeypatch.context() as patch:
            fault = Fault(patch, n, error)
            try:
                output_dir.write_output(out, _fake_cdktf)
            except type(error):
                assert fault.fired, "an error nobody injected"
        _assert_state_kept(out)  # the earlier output (or the new one) with every state file, byte for byte
        if not fault.fired:
            assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() == NEW_STACK
            break
        steps += 1
        output_dir.write_output(out, _fake_cdktf)  # the next synth cleans up and succeeds
        _assert_state_kept(out)
        assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() == NEW_STACK
        assert sorted(p.name for p in base.iterdir()) == [".cdktf.out.lock", "cdktf.out"], f"fault at {fault.fired}"
    assert steps >= 20, f"only {steps} file-system steps were interrupted"


def test_an_interrupted_swap_is_put_back_by_the_next_synth(tmp_path):
    """Killed between its two renames: no outdir, the earlier output in .old-*/out. The next synth restores
    it (never deletes it), removes only staging directories that carry its marker, then swaps."""
    out = tmp_path / "cdktf.out"
    retired = tmp_path / ".cdktf.out.old-k1ll3d"
    _earlier_output(retired / "out")
    (retired / output_dir.MARKER).write_text("old")
    half_written = tmp_path / ".cdktf.out.new-k1ll3d"
    (half_written / "out").mkdir(parents=True)
    (half_written / output_dir.MARKER).write_text("new")
    not_ours = tmp_path / ".cdktf.out.new-mine"  # the name pattern but no marker: a user's
    not_ours.mkdir()
    (not_ours / "keep.txt").write_text("mine")
    output_dir.write_output(out, _fake_cdktf)
    _assert_state_kept(out)
    assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() == NEW_STACK
    assert not retired.exists() and not half_written.exists()
    assert (not_ours / "keep.txt").read_text() == "mine"


def test_state_is_linked_or_copied_never_moved(tmp_path, monkeypatch):
    """Until the swap the earlier output stays complete: a failure just before the swap loses nothing."""
    out = tmp_path / "cdktf.out"
    _earlier_output(out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real_rename = os.rename

    def fail_the_swap(src, dst):
        if Path(src) == out:
            assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
            raise OSError(errno.EIO, "Input/output error", str(src))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", fail_the_swap)
    with pytest.raises(OSError):
        output_dir.write_output(out, _fake_cdktf)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".cdktf.out.*-*"))


@pytest.mark.parametrize("content", [None, "{}", '{"version": "0.21.0", "stacks": {"x": {"name": "x"}}}', "not json"],
                         ids=["no-manifest", "empty-object", "stack-without-paths", "not-json"])
def test_only_cdktf_output_is_recognised(tmp_path, content):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/thesis.odt").write_text("only copy")
    if content is not None:
        (tmp_path / "out/manifest.json").write_text(content)
    with pytest.raises(UsageError, match="is not earlier synth output"):
        output_dir.checked_outdir(tmp_path / "out")
    (tmp_path / "out/manifest.json").write_text(json.dumps(EARLIER_MANIFEST))
    assert output_dir.checked_outdir(tmp_path / "out") == (tmp_path / "out").resolve()
    (tmp_path / "empty").mkdir()
    assert output_dir.checked_outdir(tmp_path / "empty") == (tmp_path / "empty").resolve()  # nothing to lose




# ------------------------------------------------- the lock: a file synth owns, never a user's
def _a_fifo(path: Path) -> None:
    os.mkfifo(path)


LOCK_SQUATTERS = {  # what may already sit at .cdktf.out.lock, and how the test makes it
    "a-users-file": lambda p: p.write_text("my notes, not a lock\n"),
    "an-empty-file": lambda p: p.write_text(""),
    "a-symlink-to-a-users-file": lambda p: (p.with_name("target.txt").write_text("linked notes\n"),
                                            os.symlink("target.txt", p)),
    "a-dangling-symlink": lambda p: os.symlink("nowhere/at/all", p),
    "a-directory": lambda p: (p.mkdir(), (p / "inside.txt").write_text("x")),
    "a-fifo": _a_fifo,
}


def _tree(base: Path) -> dict[str, bytes | str]:
    """Every entry below base: file bytes, link targets, directories; what must not change."""
    seen: dict[str, bytes | str] = {}
    for path in sorted(base.rglob("*")):
        rel = str(path.relative_to(base))
        if path.is_symlink():
            seen[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            seen[rel] = path.read_bytes()
        else:
            seen[rel] = "dir" if path.is_dir() else "special"
    return seen


@pytest.mark.parametrize("squatter", sorted(LOCK_SQUATTERS))
def test_lock_name_held_by_something_else_is_refused_and_left_alone(tmp_path, squatter, monkeypatch):
    monkeypatch.setattr(output_dir, "LOCK_HEADER_WAIT_S", 0.3)  # an empty file waits for a header this long
    out = tmp_path / "cdktf.out"
    _earlier_output(out)
    LOCK_SQUATTERS[squatter](tmp_path / ".cdktf.out.lock")
    before = _tree(tmp_path)
    with pytest.raises(UsageError, match=r"\.cdktf\.out\.lock exists and is not synth's lock file \(.+\); .*move it away"):
        output_dir.write_output(out, _fake_cdktf)
    assert _tree(tmp_path) == before  # the squatter, its link target and the earlier output: untouched


def test_lock_file_is_synths_own_and_reused(tmp_path):
    out = tmp_path / "cdktf.out"
    output_dir.write_output(out, _fake_cdktf)
    lock = tmp_path / ".cdktf.out.lock"
    first = lock.read_bytes()
    assert first.startswith(output_dir.LOCK_HEADER) and b"pid " in first
    output_dir.write_output(out, _fake_cdktf)  # the same file, reused
    assert lock.read_bytes().startswith(output_dir.LOCK_HEADER)


def test_lock_written_by_an_earlier_version_is_reused(tmp_path):
    """Before its header, synth wrote only its holder line: that file is synth's too."""
    (tmp_path / ".cdktf.out.lock").write_text("pid 4242 on build-7, since 2026-11-30T10:00:00Z\n")
    output_dir.write_output(tmp_path / "cdktf.out", _fake_cdktf)
    assert (tmp_path / ".cdktf.out.lock").read_bytes().startswith(output_dir.LOCK_HEADER)


def test_refused_lock_through_the_command_line(tmp_path):
    """The user's view: exit 2, one line naming the file, the earlier output and the file left as they were."""
    out = tmp_path / "cdktf.out"
    _earlier_output(out)
    (tmp_path / ".cdktf.out.lock").write_text("my notes\n")
    before = _tree(tmp_path)
    proc = run_main("synth", "--outdir", str(out))
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "not synth's lock file" in errors[0] and "Traceback" not in proc.stderr
    assert _tree(tmp_path) == before


# ------------------------------------------------- links over local state are refused, links beside it kept
@pytest.mark.parametrize("linked", ["stacks", "stacks/araquem-stage"])
def test_a_link_over_the_stacks_state_is_refused(tmp_path, linked):
    """Synth writes stacks/ and stacks/<stack>/ anew: a link there would become a plain folder without the
    state behind the link, and the next deploy would start from empty state."""
    real = tmp_path / "kept-elsewhere"
    out = tmp_path / "cdktf.out"
    _earlier_output(out)
    shutil.move(str(out / linked), real)
    os.symlink(real, out / linked)
    before = _tree(tmp_path)
    with pytest.raises(UsageError, match=rf"cdktf\.out/{linked} is a symbolic link .*local state behind the link"):
        output_dir.write_output(out, _fake_cdktf, stack_names=("araquem-stage",))
    assert _tree(tmp_path) == before


def test_links_beside_the_state_are_carried_as_links(tmp_path):
    """Another environment's stack directory, or a state file, kept elsewhere through a link: carried as
    the same link, so what is behind it is still reached from the new output."""
    out = tmp_path / "cdktf.out"
    _earlier_output(out)
    elsewhere = tmp_path / "dev-state"
    shutil.move(str(out / "stacks/araquem-dev-eu"), elsewhere)
    os.symlink(elsewhere, out / "stacks/araquem-dev-eu")
    state = tmp_path / "stage.tfstate"
    state.write_text('{"serial": 9}')
    os.symlink(state, out / "stacks/araquem-stage/terraform.tfstate.link")
    output_dir.write_output(out, _fake_cdktf, stack_names=("araquem-stage",))
    assert os.readlink(out / "stacks/araquem-dev-eu") == str(elsewhere)
    assert (out / "stacks/araquem-stage/terraform.tfstate.link").read_text() == '{"serial": 9}'
    assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() == NEW_STACK


# ------------------------------------------------- read-only directories in an earlier output
def test_read_only_directories_are_carried_with_their_mode_and_later_synths_still_work(tmp_path):
    out = tmp_path / "cdktf.out"
    _earlier_output(out)
    providers = out / "stacks/araquem-stage/.terraform/providers"
    os.chmod(providers, 0o555)
    for _ in range(2):  # the second synth meets the read-only directory the first one carried
        output_dir.write_output(out, _fake_cdktf)
        _assert_state_kept(out)
        assert providers.stat().st_mode & 0o777 == 0o555
        assert sorted(p.name for p in tmp_path.iterdir()) == [".cdktf.out.lock", "cdktf.out"]


AS_A_USER = r"""
import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from modules import output_dir
out = Path(sys.argv[2]) / "cdktf.out"
manifest = {"version": "0.21.0", "stacks": {"s": {"workingDirectory": "stacks/s",
                                                   "synthesizedStackPath": "stacks/s/cdk.tf.json"}}}
def fake_cdktf(target):
    (target / "stacks/s").mkdir(parents=True)
    (target / "manifest.json").write_text(json.dumps(manifest))
    (target / "stacks/s/cdk.tf.json").write_text("{}")
output_dir.write_output(out, fake_cdktf)
providers = out / "stacks/s/.terraform/providers"
providers.mkdir(parents=True)
(providers / "lock").write_text("provider")
os.chmod(providers, 0o555)
for _ in range(2):
    output_dir.write_output(out, fake_cdktf)
print(sorted(p.name for p in out.parent.iterdir()), (providers / "lock").read_text(), oct(providers.stat().st_mode & 0o777))
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become another user")
def test_read_only_directories_as_a_user_without_root(tmp_path):
    """Root may write into a read-only directory; a user may not. As nobody (setpriv), with the system
    Python: a read-only .terraform/providers in the earlier output is carried, the retired output holding it
    is removed, and the next synth neither fails nor leaves a staging directory behind."""
    base = Path(tempfile.mkdtemp(prefix="araquem-as-nobody-"))  # /tmp: tmp_path's parents are closed to nobody
    try:
        os.chown(base, 65534, 65534)
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                               "-c", AS_A_USER, str(ROOT), str(base)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["['.cdktf.out.lock',", "'cdktf.out']", "provider", "0o555"], proc.stdout
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(base)], check=False)
        shutil.rmtree(base)


def test_a_stale_staging_directory_that_cannot_be_removed_does_not_fail_the_synth(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cdktf.out"
    stale = tmp_path / ".cdktf.out.new-stuck"
    (stale / "out").mkdir(parents=True)
    (stale / output_dir.MARKER).write_text("new")

    def cannot(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(output_dir, "_remove_staging", cannot)
    output_dir.write_output(out, _fake_cdktf)
    assert (out / "stacks/araquem-stage/cdk.tf.json").read_bytes() == NEW_STACK
    err = capsys.readouterr().err
    assert "could not remove .cdktf.out.new-stuck" in err and "Permission denied" in err
