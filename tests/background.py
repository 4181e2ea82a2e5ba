"""Long, mostly waiting work that starts with the test session and is collected by the test that asserts on it.

Why: pytest runs one test at a time, and the suite's longest tests mostly wait: the emulator run on
terraform polling moto, the 3.12/3.13 lock venvs on pip. Started on threads when the session starts, they
run while the other tests do, so the suite costs about its longest job instead of their sum (issue 19:
under 5 minutes on 2 cores).

A test module opts in with a module-level mapping

    BACKGROUND = {"test_name": [("job name", prepare), ...]}

When `test_name` is selected, conftest calls `prepare(request)` once, on the main thread, at session start:
it reads fixtures and returns the work (a no-argument callable), which then runs on its own thread. The
test calls `background.result("job name")`: that waits and returns the work's value or re-raises what it
raised, failed assertions included, so the test fails exactly when what it proves breaks. Work that
asserts step by step (the emulator's deploy, re-plan, destroy) keeps its assertions where they were.

On a background thread `run()` (conftest) starts processes in their own process group from the
environment as it was when the session started (a test's monkeypatch.setenv must not leak into them), and
the session's end kills what is still running (after `-x` or Ctrl-C, nobody waits for a deploy).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable

_local = threading.local()
_SESSION_ENVIRON = dict(os.environ)  # taken when conftest imports this module, before any test runs


def on_background_thread() -> bool:
    return getattr(_local, "job", None) is not None


def session_environ() -> dict[str, str]:
    """The environment as it was when the session started (no test's monkeypatch in it)."""
    return dict(_SESSION_ENVIRON)


def environ() -> dict[str, str]:
    """The environment a subprocess starts from: the session's initial one on a background thread."""
    return dict(_SESSION_ENVIRON if on_background_thread() else os.environ)


def popen(cmd: list[str], **kwargs) -> subprocess.Popen:
    """subprocess.Popen; on a background thread in its own process group, killed when the session ends."""
    job = getattr(_local, "job", None)
    if job is None:
        return subprocess.Popen(cmd, **kwargs)
    kwargs.setdefault("start_new_session", True)
    proc = subprocess.Popen(cmd, **kwargs)
    job.processes.append(proc)
    return proc


def run(cmd: list[str], timeout: float | None = None, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run; on a background thread through popen(), its process group killed on timeout."""
    if not on_background_thread():
        return subprocess.run(cmd, timeout=timeout, **kwargs)
    if kwargs.pop("capture_output", False):
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with popen(cmd, **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


class Job:
    def __init__(self, name: str):
        self.name = name
        self.future: Future = Future()
        self.processes: list[subprocess.Popen] = []
        self.started = time.monotonic()
        self.seconds: float | None = None  # how long the work ran
        self.waited = 0.0  # how long the collecting test(s) waited for it

    def run(self, work: Callable[[], Any]) -> None:
        _local.job = self
        try:
            self.future.set_result(work())
        except BaseException as exc:  # noqa: BLE001  (re-raised in the collecting test)
            self.future.set_exception(exc)
        finally:
            self.seconds = time.monotonic() - self.started
            _local.job = None


class Background:
    """The session's background jobs, by name."""

    def __init__(self):
        self.jobs: dict[str, Job] = {}

    def start(self, name: str, prepare: Callable, request) -> None:
        if name in self.jobs:
            return
        job = self.jobs[name] = Job(name)
        try:
            work = prepare(request)
        except BaseException as exc:  # noqa: BLE001  (pytest.fail/skip in prepare: reported by the test)
            job.future.set_exception(exc)
            job.seconds = 0.0
            return
        threading.Thread(target=job.run, args=(work,), name=f"background: {name}", daemon=True).start()

    def result(self, name: str, timeout: float = 3600) -> Any:
        if name not in self.jobs:
            raise AssertionError(f"background job {name!r} was never started (is it in its module's BACKGROUND?)")
        job = self.jobs[name]
        began = time.monotonic()
        try:
            return job.future.result(timeout=timeout)
        finally:
            job.waited += time.monotonic() - began

    def close(self) -> None:
        """Kill what still runs (the session ended early) and let the threads finish."""
        for job in self.jobs.values():
            if not job.future.done():
                for proc in job.processes:
                    if proc.poll() is None:
                        kill_group(proc)
        for thread in threading.enumerate():
            if thread.name.startswith("background: "):
                thread.join(timeout=30)

    def summary(self) -> list[str]:
        return [f"{job.name}: ran {job.seconds:.0f} s, the suite waited {job.waited:.0f} s for it"
                for job in self.jobs.values() if job.seconds is not None]
