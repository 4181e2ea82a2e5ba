"""Where cdktf and the provider bindings come from, and how they load lazily.

    packages.py               the package names (a rename to cdktn is one edit there)
    lazy_import.py            the lazy provider-package shim (Python) and the Node preload options
    lazy_provider_index.js    the preload itself, run inside jsii's Node kernel
    node.py                   which Node runs jsii (the pinned wheel) and where jsii caches packages

Importing this package installs the shim, so it must happen before any provider import
(modules/__init__.py does it). Light: nothing here starts jsii.
"""

from modules.bindings.lazy_import import install_lazy_provider_packages

install_lazy_provider_packages()
