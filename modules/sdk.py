"""Where cdktf and the AWS provider bindings come from, in one place.

Renaming to CDK Terrain (cdktn) or another binding package means changing the names here
and the `from cdktf... import` lines (a sed over modules/).

Why the shim: the provider package's `__init__.py` eagerly imports all ~2,100 resource
submodules (15-18 s, ~0.6 GB through jsii). Each submodule only needs the package's jsii
assembly (`<package>._jsii`), not its siblings. So before anything imports the package we
register a bare package object with the real `__path__` and without running `__init__.py`;
`import <package>.vpc` then loads `_jsii` (the assembly) and `vpc` only. The JSON is identical
(tests/test_performance.py compares it byte for byte with the plain path).
Set ARAQUEM_EAGER_PROVIDER_IMPORT=1 to take the plain path (the benchmark's baseline).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

CDKTF_PACKAGE = "cdktf"
PROVIDER_PACKAGES = ("cdktf_cdktf_provider_aws",)
EAGER_ENV_VAR = "ARAQUEM_EAGER_PROVIDER_IMPORT"


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


install_lazy_provider_packages()
