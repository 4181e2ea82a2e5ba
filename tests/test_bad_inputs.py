"""Bad input of every kind (files, YAML, arguments, the output directory, the environment) gets exit 2,
one clear line naming the file, field or path, no traceback, and leaves earlier output byte-identical.

Each case runs `python main.py` as a user does; all of them stop before jsii starts (well under a
second each). The earlier output is a real synth, made once for the module, with local state in it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, STAGE_FILE, run_main

STAGE_TEXT = STAGE_FILE.read_text(encoding="utf-8")
STATE = b'{"version": 4, "serial": 12, "lineage": "keep-me"}'


def line_of(text: str) -> int:
    """The 1-based line of stage.yaml that starts with `text`."""
    return next(n for n, line in enumerate(STAGE_TEXT.splitlines(), 1) if line.startswith(text))


def stage_with(old: str, new: str) -> str:
    assert old in STAGE_TEXT, old
    return STAGE_TEXT.replace(old, new, 1)


# (case id, env file content (str: UTF-8 text, bytes: raw), fragments the error must contain)
BAD_FILES = [
    ("latin1-comment", "# São Paulo\n".encode("latin-1") + STAGE_TEXT.encode(),
     ["not UTF-8 text", "byte 0xe3 at offset 3 (line 1, column 4)", "save the file as UTF-8"]),
    ("binary", bytes(range(256)) * 4, ["not UTF-8 text", "byte 0x80", "save the file as UTF-8"]),
    ("nul-character", STAGE_TEXT.replace("project: araquem", "project: araq\0uem"),
     ["character #x0000", f"line {line_of('project:')}", "not allowed in YAML"]),
    ("nested-beyond-the-parser", "network: " + "[" * 5000, ["nested too deeply", "at most 32"]),
    ("nested-beyond-the-limit", "network: " + "[" * 40 + "]" * 40 + "\n", ["network[0][0]", "nested more than 32"]),
    ("duplicate-service", stage_with("  ollama:\n", "  api:\n    cpu: 1\n  ollama:\n"),
     ["services.api: duplicate key 'api' at line", f"(first at line {line_of('  api:')})", "keep only the last"]),
    ("duplicate-top-level", STAGE_TEXT + "region: eu-west-1\n",
     ["region: duplicate key 'region'", f"(first at line {line_of('region:')})"]),
    ("duplicate-tag", stage_with("  ManagedBy: cdktf\n", "  ManagedBy: cdktf\n  Project: other\n"),
     [f"tags.Project: duplicate key 'Project' at line {line_of('  ManagedBy:') + 1} "
      f"(first at line {line_of('  Project:')})"]),
    ("sexagesimal-user", stage_with('user: "472:0"', "user: 472:0"),
     ["services.grafana.user", "base-60 number 28320", "quote it ('472:0')"]),
    ("octal-permissions", stage_with("grafana: {uid: 472, gid: 0}", "grafana: {uid: 472, gid: 0, permissions: 0700}"),
     ["volumes.grafana.permissions", "octal number 448", "quote it ('0700')"]),
    ("float-engine-version", stage_with('engine_version: "7.1"', "engine_version: 7.10"),
     ["cache.engine_version", "unquoted 7.10 as the float 7.1", "quote it: '7.10'"]),
    ("bool-tag-value", stage_with("  ManagedBy: cdktf\n", "  ManagedBy: cdktf\n  Public: no\n"),
     ["tags.Public", "unquoted no as the bool False", "quote it: 'no'"]),
    ("nested-list-in-short-form", stage_with("secrets: [QUALITY_OPS_TOKEN]", "secrets: [[QUALITY_OPS_TOKEN]]"),
     ["services.", ".secrets", "list of names", "['QUALITY_OPS_TOKEN']"]),
    ("secret-name-with-space", stage_with("secrets:\n", "secrets:\n  api env: {}\n"),
     ["secrets.'api env': the key 'api env' is not allowed", "lower-case letters", "an env var name"]),
    ("vpc-too-small", stage_with("vpc_cidr: 10.40.0.0/16", "vpc_cidr: 10.40.0.0/28"),
     ["network: the VPC 10.40.0.0/28 is too small for 4 subnets", "smallest subnet an ALB accepts is /27",
      "/25 or shorter"]),
    ("alarm-topic-in-another-region",
     stage_with("  subscriptions: []\n", "  subscriptions: []\n  topic_arns: [arn:aws:sns:eu-west-1:123456789012:ops]\n"),
     ["alarms.topic_arns[0]: 'arn:aws:sns:eu-west-1:123456789012:ops' is in eu-west-1", "use a topic in us-east-1"]),
    ("alarm-email-malformed",
     stage_with("  subscriptions: []\n", "  subscriptions: [{protocol: email, endpoint: ops.example.com}]\n"),
     ["alarms.subscriptions[0]", "is not what protocol 'email' delivers to", "an email address"]),
    ("yaml11-boolean-key", stage_with('      OLLAMA_DEBUG: "false"\n', '      OLLAMA_DEBUG: "false"\n      NO: "1"\n'),
     ["services.ollama.environment.NO: YAML 1.1 reads the unquoted key NO", "as the boolean False", "quote it ('NO')"]),
    ("public-vpc", stage_with("vpc_cidr: 10.40.0.0/16", "vpc_cidr: 8.8.0.0/16"),
     ["network.vpc_cidr", "8.8.0.0/16 is public, internet-routable address space", "100.64.0.0/10"]),
    ("loopback-vpc", stage_with("vpc_cidr: 10.40.0.0/16", "vpc_cidr: 127.0.0.0/16"),
     ["network.vpc_cidr", "127.0.0.0/16 is loopback address space"]),
    ("empty-file", "", ["must be a YAML mapping of sections"]),
    ("a-list", "- project: araquem\n", ["must be a YAML mapping of sections, got list"]),
    ("python-tag", "project: !!python/object:os.system {}\n", ["malformed YAML", "line 1", "python/object"]),
]


@pytest.fixture(scope="module")
def earlier_synth(tmp_path_factory) -> Path:
    """A real earlier output with local state in it (made once; each test works on a copy)."""
    out = tmp_path_factory.mktemp("earlier") / "cdktf.out"
    proc = run_main("synth", "--outdir", str(out))
    assert proc.returncode == 0, proc.stderr
    (out / "stacks/araquem-stage/terraform.araquem-stage.tfstate").write_bytes(STATE)
    return out


@pytest.fixture()
def earlier(earlier_synth, tmp_path) -> Path:
    out = tmp_path / "cdktf.out"
    shutil.copytree(earlier_synth, out, symlinks=True)
    return out


def snapshot(directory: Path) -> dict:
    return {p.relative_to(directory): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*"))}


def assert_rejected(proc, fragments: list[str], earlier: Path, before: dict) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, f"{fragment!r} missing from:\n{proc.stderr}"
    assert snapshot(earlier) == before, "the earlier output changed"
    assert [p.name for p in earlier.parent.iterdir() if ".new-" in p.name or ".old-" in p.name] == []


@pytest.mark.parametrize("case,content,fragments", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_env_file_content(case, content, fragments, tmp_path, earlier):
    env_file = tmp_path / f"{case}.yaml"
    if isinstance(content, bytes):
        env_file.write_bytes(content)
    else:
        env_file.write_text(content, encoding="utf-8")
    before = snapshot(earlier)
    proc = run_main("--env-file", str(env_file), "synth", "--outdir", str(earlier))
    assert proc.stderr.startswith(f"{env_file}: "), proc.stderr  # every line names the file
    assert_rejected(proc, fragments, earlier, before)


def _directory(tmp: Path) -> list[str]:
    (tmp / "envdir").mkdir()
    return ["--env-file", str(tmp / "envdir")]


def _symlink_loop(tmp: Path) -> list[str]:
    os.symlink(tmp / "loop-b.yaml", tmp / "loop-a.yaml")
    os.symlink(tmp / "loop-a.yaml", tmp / "loop-b.yaml")
    return ["--env-file", str(tmp / "loop-a.yaml")]


def _fifo(tmp: Path) -> list[str]:
    os.mkfifo(tmp / "fifo.yaml")  # reading it would block forever
    return ["--env-file", str(tmp / "fifo.yaml")]


def _users_directory(tmp: Path) -> list[str]:
    (tmp / "notes").mkdir()
    (tmp / "notes" / "thesis.odt").write_bytes(b"a user's only copy")
    return ["--outdir", str(tmp / "notes")]


def _regular_file(tmp: Path) -> list[str]:
    (tmp / "notes.txt").write_text("keep me")
    return ["--outdir", str(tmp / "notes.txt")]


def _missing_tmpdir(tmp: Path) -> list[str]:
    return ["--outdir", str(tmp / "fresh-out")]


# (case id, argv builder given the test's tmp dir, extra env, fragments the error must contain)
BAD_ARGUMENTS = [
    ("env-file-is-a-directory", _directory, {}, ["envdir: is a directory", "YAML file"]),
    ("env-file-symlink-loop", _symlink_loop, {}, ["loop-a.yaml: cannot read the env file",
                                                  "Too many levels of symbolic links"]),
    ("env-file-is-a-fifo", _fifo, {}, ["fifo.yaml: is not a regular file"]),
    ("env-file-missing", lambda tmp: ["--env-file", str(tmp / "nope.yaml")], {}, ["nope.yaml: file not found"]),
    ("env-absolute-path", lambda tmp: ["--env", str(STAGE_FILE)], {},
     ["takes an environment name", f"--env-file {STAGE_FILE}"]),
    ("env-relative-path", lambda tmp: ["--env", "../stage"], {}, ["--env ../stage: takes an environment name"]),
    ("outdir-users-directory", _users_directory, {},
     ["notes: exists and is not earlier synth output (no cdktf manifest.json)"]),
    ("outdir-regular-file", _regular_file, {}, ["notes.txt: is a file, not a directory"]),
    ("outdir-the-checkout", lambda tmp: ["--outdir", "."], {}, [f"--outdir .: is the checkout ({ROOT})"]),
    ("outdir-contains-the-checkout", lambda tmp: ["--outdir", str(ROOT.parent)], {},
     [f"--outdir {ROOT.parent}: contains the checkout"]),
    ("outdir-root", lambda tmp: ["--outdir", "/"], {}, ["--outdir /: contains the checkout"]),
    ("outdir-home", lambda tmp: ["--outdir", str(tmp / "home")], {"HOME": "{tmp}/home"}, ["is your home directory"]),
    ("outdir-parent-missing", lambda tmp: ["--outdir", str(tmp / "no/such/out")], {},
     [f"parent directory {{tmp}}/no/such does not exist"]),
    ("tmpdir-missing", _missing_tmpdir, {"TMPDIR": "{tmp}/gone"}, ["TMPDIR={tmp}/gone: No such file or directory",
                                                                  "unset TMPDIR"]),
    ("lock-timeout-not-a-number", lambda tmp: ["--outdir", str(tmp / "fresh-out")],
     {"ARAQUEM_SYNTH_LOCK_TIMEOUT": "ten minutes"}, ["ARAQUEM_SYNTH_LOCK_TIMEOUT='ten minutes': seconds"]),
]


@pytest.mark.parametrize("case,argv,env,fragments", BAD_ARGUMENTS, ids=[c[0] for c in BAD_ARGUMENTS])
def test_bad_arguments_and_surroundings(case, argv, env, fragments, tmp_path, earlier):
    args = argv(tmp_path)
    if case == "outdir-home":
        (tmp_path / "home").mkdir()
    env = {k: v.format(tmp=tmp_path) if v else v for k, v in env.items()}
    before = snapshot(earlier)
    user_files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(earlier)
                  and not p.is_symlink() and p.name != "fifo.yaml"}
    proc = run_main(*args, "synth", env=env)
    assert_rejected(proc, [f.format(tmp=tmp_path) for f in fragments], earlier, before)
    assert {p: p.read_bytes() for p in user_files} == user_files
    assert not (tmp_path / "fresh-out").exists()


def test_read_only_parent_is_refused_before_jsii(earlier):
    """/sys refuses new files even to root: the lock file cannot be made, so nothing starts."""
    if os.access("/sys", os.W_OK) and os.geteuid() != 0:
        pytest.skip("/sys is writable here")
    before = snapshot(earlier)
    proc = run_main("synth", "--outdir", "/sys/araquem-out")
    assert_rejected(proc, ["--outdir /sys/araquem-out: cannot write in /sys:"], earlier, before)


def test_a_second_synth_waits_then_says_who_holds_the_lock(earlier):
    lock = earlier.parent / f".{earlier.name}.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("pid 4242 on build-box, since 2026-01-01T00:00:00Z\n")
        held.flush()
        before = snapshot(earlier)
        proc = run_main("synth", "--outdir", str(earlier), env={"ARAQUEM_SYNTH_LOCK_TIMEOUT": "0.5"})
    assert "waiting for another synth into" in proc.stderr
    assert_rejected(proc, ["still holds", "pid 4242 on build-box", "after 0.5 s", "ARAQUEM_SYNTH_LOCK_TIMEOUT"],
                    earlier, before)


# ------------------------------------------------- exit 1 is for bugs: one line, the traceback on request
def _a_bug(args, cfg):
    raise KeyError("stacks")  # stands for any genuine bug inside a command


@pytest.mark.parametrize("how", ["plain", "--debug", "ARAQUEM_DEBUG=1"])
def test_a_bug_is_one_line_unless_debugging(how, monkeypatch, capsys, earlier):
    import main  # noqa: PLC0415

    from modules.commands import synth  # noqa: PLC0415

    monkeypatch.setattr(synth, "run", _a_bug)
    monkeypatch.delenv("ARAQUEM_DEBUG", raising=False)
    if how == "ARAQUEM_DEBUG=1":
        monkeypatch.setenv("ARAQUEM_DEBUG", "1")
    argv = ["synth", "--outdir", str(earlier)] + (["--debug"] if how == "--debug" else [])
    assert main.main(argv) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("internal error")]
    assert lines == ["internal error (a bug, not your input): KeyError: 'stacks'"
                     + ("; rerun with --debug (or ARAQUEM_DEBUG=1) for the traceback" if how == "plain" else "")]
    assert ("Traceback" in err) == (how != "plain")


def test_unreadable_env_file_names_the_os_reason(monkeypatch, tmp_path):
    """Root reads any file despite its mode (and /root is closed to other users, so the test cannot run
    main.py under setpriv as nobody): the read is made to fail as it does for a user without permission."""
    from modules.config import ConfigError, load  # noqa: PLC0415

    env_file = tmp_path / "locked.yaml"
    env_file.write_text(STAGE_TEXT)

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigError) as raised:
        load(env_file)
    assert raised.value.render() == f"{env_file}: cannot read the env file: Permission denied"


def test_a_file_system_error_is_exit_2_with_the_path_and_reason(monkeypatch, capsys, earlier):
    import main  # noqa: PLC0415

    from modules.commands import synth  # noqa: PLC0415

    def no_space(args, cfg):
        raise OSError(28, "No space left on device", str(earlier / "manifest.json"))

    monkeypatch.setattr(synth, "run", no_space)
    assert main.main(["synth", "--outdir", str(earlier)]) == 2
    assert capsys.readouterr().err == f"error: {earlier / 'manifest.json'}: No space left on device\n"
