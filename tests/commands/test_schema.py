"""modules/commands/schema.py: docs/env-file.schema.json is generated from the models, kept fresh, named on
the first line of every env file, and an editor validating with it accepts the repo's env files and flags
what the models reject field by field."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from conftest import ROOT, run_main, variant
from modules.commands import schema

SCHEMA_FILE = ROOT / schema.SCHEMA_FILE
HEADER = "# yaml-language-server: $schema=../docs/env-file.schema.json"


def set_path(path: str, value):
    def mutate(data):
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        data[last] = value
    return mutate


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def test_checked_in_schema_is_up_to_date():
    assert SCHEMA_FILE.read_text() == schema.render(), (
        f"{schema.SCHEMA_FILE} is out of date with modules/config/; regenerate it: {schema.REGENERATE_COMMAND} (all generated files: make regen)")


def test_schema_is_a_valid_draft_2020_12_schema_with_descriptions_and_defaults():
    document = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == schema.SCHEMA_DIALECT
    service = document["$defs"]["Service"]["properties"]
    assert service["cpu"]["description"] and document["$defs"]["Logs"]["properties"]["retention_days"]["default"] == 30


@pytest.mark.parametrize("env_file", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_env_file_names_the_schema_and_passes_it(env_file):
    text = env_file.read_text()
    assert text.splitlines()[0] == HEADER, f"{env_file.name}: first line must be {HEADER!r}"
    errors = [f"{list(e.path)}: {e.message}" for e in _validator().iter_errors(yaml.safe_load(text))]
    assert errors == []


@pytest.mark.parametrize("mutate,where", [
    (set_path("logs", {"retention_days": 10}), ["logs", "retention_days"]),
    (set_path("region", "us-east-9"), ["region"]),
    (set_path("cache.node_type", "cache.t4g.huge"), ["cache", "node_type"]),
    (set_path("network.flow_logs", {"enabled": True, "colour": "blue"}), ["network", "flow_logs"]),
    (set_path("services.api.cpu", "one"), ["services", "api", "cpu"]),
], ids=["retention", "region", "node-type", "unknown-key", "type"])
def test_the_schema_flags_field_errors_as_an_editor_would(mutate, where):
    errors = list(_validator().iter_errors(variant(mutate)))
    assert len(errors) == 1, [e.message for e in errors]
    best = jsonschema.exceptions.best_match(errors)  # descends into anyOf (an optional section) like editors do
    assert list(best.absolute_path)[:len(where)] == where, (list(best.absolute_path), best.message)


def test_short_forms_are_accepted_by_the_schema():
    """stage.yaml uses every short form (image string, port number, volume string, health check string,
    parameter list): the editor must not flag them."""
    data = variant(lambda d: None)
    assert isinstance(data["services"]["ollama"]["image"], str)
    assert any(isinstance(port, int) for svc in data["services"].values() for port in svc.get("ports", []))
    assert list(_validator().iter_errors(data)) == []


def test_command_prints_and_writes_the_schema(tmp_path):
    printed = run_main("schema")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == schema.render()
    out = tmp_path / "schema.json"
    written = run_main("schema", "--output", str(out))
    assert written.returncode == 0, written.stderr
    assert out.read_text() == schema.render()
    nowhere = run_main("schema", "--output", str(tmp_path / "missing" / "schema.json"))
    assert nowhere.returncode == 2 and "Traceback" not in nowhere.stderr
    assert f"cannot write the schema to {tmp_path / 'missing' / 'schema.json'}: No such file" in nowhere.stderr


def test_describe_still_reads_an_env_file_with_the_header():
    """The header is a YAML comment: loading and describe are unaffected by it."""
    proc = run_main("--env-file", str(ROOT / "envs" / "stage.yaml"), "describe")
    assert proc.returncode == 0, proc.stderr
    assert "api" in proc.stdout


@pytest.mark.parametrize("subscription, valid", [
    ({"protocol": "email", "endpoint": "ops@example.com"}, True),
    ({"protocol": "https", "endpoint": "https://hooks.example.com/cloudwatch"}, True),
    ({"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:123456789012:ops-alarms"}, True),
    ({"protocol": "sqs", "endpoint": "ops@example.com"}, False),  # an address where SNS needs a queue ARN
    ({"protocol": "https", "endpoint": "http://hooks.example.com/x"}, False),  # plain http: SNS https only
    ({"protocol": "email", "endpoint": "https://hooks.example.com"}, False),
    ({"protocol": "sms", "endpoint": "+5511999999999"}, False),  # not a protocol the stack subscribes
])
def test_the_schema_checks_each_subscription_protocols_endpoint(subscription, valid):
    """The editor flags what AlarmSubscription rejects (docs/observability.md shows one of each)."""
    data = variant(lambda d: d["alarms"].update(subscriptions=[subscription]))
    errors = list(_validator().iter_errors(data))
    assert (errors == []) is valid, [e.message for e in errors]
