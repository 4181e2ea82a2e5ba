"""Araquem constructs: one module per concern.

Importing this package first installs the lazy provider-package shim (see modules/sdk.py),
so `from cdktf_cdktf_provider_aws.vpc import Vpc` loads only the `vpc` submodule.
"""

from modules import sdk as _sdk  # noqa: F401  (must run before any provider import)
