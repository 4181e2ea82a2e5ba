"""One long-lived `main.py` that runs the session's synths of env files, one request at a time.

A synth in a fresh process pays a Python start, the CLI's imports, jsii's Node kernel start and the first load
of each binding module (~1.3 of its ~1.8 CPU-s for stage); here they are paid once per session and each further
synth costs its own work. The tests that are about the CLI as a user runs it (tests/commands/test_synth.py,
tests/test_bad_inputs.py ...) still start `python main.py` each time, and tests/test_determinism.py
proves that a synth here, after others, is byte-identical to a fresh process's.

Protocol (tests/conftest.py SynthWorker): one JSON line per request on stdin, {"argv": [...]}; one JSON line per
answer on the original stdout, {"code": int, "stdout": str, "stderr": str}. What the program writes to
sys.stdout/sys.stderr is captured per request; what its child processes write to the inherited stderr
(jsii's Node) goes to the worker's stderr.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def load_cli():
    """main.py as a module (it is a script, not a package member); loaded once per process."""
    spec = importlib.util.spec_from_file_location("araquem_main", ROOT / "main.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli


def call_main(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of main.main(argv), what it writes to sys.stdout/sys.stderr captured; also
    what tests/conftest.py's run_main_in_process runs."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = load_cli().main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def main() -> None:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray write to fd 1 must not corrupt the answers
    for line in sys.stdin:
        code, out, err = call_main(json.loads(line)["argv"])
        answers.write(json.dumps({"code": code, "stdout": out, "stderr": err}) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
