"""modules/commands/__init__.py: the registry of sub-commands and the contract every command module keeps."""

from __future__ import annotations

import inspect
import subprocess

import pytest

from conftest import PYTHON, ROOT
from modules.commands import SUBCOMMANDS, command_module


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_command_module_keeps_the_contract(name):
    module = command_module(name)
    assert isinstance(module.HELP, str) and module.HELP.strip()
    assert isinstance(module.NEEDS_ENV, bool)
    assert list(inspect.signature(module.add_arguments).parameters) == ["parser"]
    assert list(inspect.signature(module.run).parameters) == ["args", "cfg"]


def test_importing_every_command_starts_no_jsii():
    """main.py imports every command module to build --help: none may pull in cdktf or jsii."""
    code = ("import sys; from modules.commands import SUBCOMMANDS, command_module; "
            "[command_module(n) for n in SUBCOMMANDS]; "
            "print(sorted(m for m in ('jsii', 'cdktf', 'cdktf_cdktf_provider_aws._jsii') if m in sys.modules))")
    proc = subprocess.run([PYTHON, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"
