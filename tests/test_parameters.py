"""modules/parameters.py: every env-file parameter is an SSM parameter under /<project>/<environment>/."""

from __future__ import annotations

import re

import pytest

from conftest import variant
from test_secrets import data_variant


@pytest.fixture(scope="session")
def data_stack(synths):
    return synths.of_data(variant(data_variant))


def _by_name(stack):
    return {p["name"]: p for p in stack.resources("aws_ssm_parameter").values()}


def test_every_parameter_is_under_the_env_prefix(stage, stage_cfg):
    params = _by_name(stage)
    assert stage_cfg.parameter_prefix == "/araquem/stage/"
    assert all(name.startswith(stage_cfg.parameter_prefix) for name in params)
    for key, value in stage_cfg.parameters.items():
        param = params[stage_cfg.parameter_prefix + key]
        # plain String: the value is configuration, and a String shows in `terraform plan` PR comments
        assert param["type"] == "String" and param["insecure_value"] == value and "value" not in param


def test_other_environment_gets_its_own_prefix(synths):
    from conftest import ROOT

    dev = synths.of_file(ROOT / "envs" / "dev-eu.yaml")
    names = set(_by_name(dev))
    assert "/araquem/dev-eu/EXECUTOR_MODE" in names
    assert not [n for n in names if not n.startswith("/araquem/dev-eu/")]


def test_with_a_customer_key_parameters_are_secure_strings(data_stack):
    key_arn = "${aws_kms_key.%s.arn}" % next(
        k for k in data_stack.resources("aws_kms_key") if k.startswith("secrets_kms_key"))  # not the alarm topic's
    params = _by_name(data_stack)
    assert params
    for param in params.values():
        assert param["type"] == "SecureString" and param["key_id"] == key_arn
        assert "insecure_value" not in param and param["value"]


def test_parameter_names_are_ssm_valid(stage):
    for name in _by_name(stage):  # SSM: letters, digits, . - _ / ; hierarchy separated by '/'
        assert re.fullmatch(r"(/[A-Za-z0-9_.-]+)+", name), name
