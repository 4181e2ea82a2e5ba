"""Load only the provider submodules a stack uses, on the Python and on the Node side of jsii.

Why the shim: the provider package's `__init__.py` eagerly imports all ~2,100 resource
submodules (15-18 s, ~0.6 GB through jsii). Each submodule only needs the package's jsii
assembly (`<package>._jsii`), not its siblings. So before anything imports the package we
register a bare package object with the real `__path__` and without running `__init__.py`;
`import <package>.vpc` then loads `_jsii` (the assembly) and `vpc` only. The JSON is identical
(tests/test_bindings.py compares it byte for byte with the plain path).
The same holds on the Node side of jsii: the package's JavaScript index requires every module,
so `lazy_node_options` preloads lazy_provider_index.js into the kernel (see that file).
Set ARAQUEM_EAGER_PROVIDER_IMPORT=1 to take the plain path (the benchmark's baseline).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
from collections.abc import MutableMapping
from pathlib import Path

from modules.bindings.packages import PROVIDER_NPM_PACKAGES, PROVIDER_PACKAGES

EAGER_ENV_VAR = "ARAQUEM_EAGER_PROVIDER_IMPORT"
LAZY_JS_PACKAGES_VAR = "ARAQUEM_LAZY_JS_PACKAGES"  # read by the preload script
LAZY_JS_PRELOAD = Path(__file__).with_name("lazy_provider_index.js")


def install_lazy_provider_packages() -> None:
    if os.environ.get(EAGER_ENV_VAR) == "1":
        return
    for name in PROVIDER_PACKAGES:
        if name in sys.modules:
            continue  # already imported (eagerly or lazily): nothing to gain
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue  # not installed: the real import will raise its own clear error
        package = types.ModuleType(name, "lazy stand-in: submodules load on first import")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        package.__file__ = spec.origin
        package.__package__ = name
        sys.modules[name] = package


def lazy_node_options(environ: MutableMapping[str, str]) -> None:
    """Make jsii's Node kernel (started later, from `environ`) load provider modules on first use."""
    if environ.get(EAGER_ENV_VAR) == "1":
        return
    environ[LAZY_JS_PACKAGES_VAR] = ",".join(PROVIDER_NPM_PACKAGES)
    flag = f"--require {json.dumps(str(LAZY_JS_PRELOAD), ensure_ascii=False)}"  # Node: "quoted", \\ and \" escaped
    current = environ.get("NODE_OPTIONS", "")
    if flag not in current:
        environ["NODE_OPTIONS"] = f"{current} {flag}".strip()
