"""Araquem constructs: one module per concern.

Importing this package first installs the lazy provider-package shim (see modules/bindings/),
so `from cdktf_cdktf_provider_aws.vpc import Vpc` loads only the `vpc` submodule.
"""

import modules.bindings as _bindings  # noqa: F401  (must run before any provider import)
