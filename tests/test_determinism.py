"""Determinism and no secret values.

Two synths of the same env file, in separate output dirs, are byte-identical (stage and dev-eu): one in a
fresh `python main.py`, one in the session's synth worker after other env files (another process, so another
hash seed; and whatever an earlier synth left in the process would show). The synthesized JSON (including the container definitions inside it) holds no
literal credential: no access key ids, private keys, well-known token formats, or password-like
fields with a literal value; secrets are references resolved by Terraform or by ECS at run time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import ROOT, STAGE_FILE, run_main

DEV_EU = ROOT / "envs" / "dev-eu.yaml"

# Literal credential formats that must never appear in the synthesized text.
SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
    "OpenAI-style API key": re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b"),
    "JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "URL with a password": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@\"]+:[^\s@/\"$]+@"),
}
# Provider arguments that hold a secret when they hold anything (not e.g. EFS `creation_token`).
SECRET_ARGUMENT = re.compile(
    r"^(password|master_password|secret_string|secret_key|secret_access_key|auth_token|token|access_token"
    r"|api_key|private_key|client_secret)$"
)
# Environment variable names that hold a secret (QUALITY_OPS_TOKEN yes, QUALITY_TOKEN_HEADER no).
SECRET_ENV_VAR = re.compile(r"(^|_)(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|SECRET_KEY)$", re.IGNORECASE)
# A value with a Terraform interpolation is computed at apply time (a literal password inside one
# is still caught by the "URL with a password" pattern).
REFERENCE = re.compile(r"\$\{[^}]+\}")


def synthesized_files(outdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(outdir)): p.read_bytes() for p in sorted(outdir.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("env_file", [STAGE_FILE, DEV_EU], ids=["stage", "dev-eu"])
def test_two_synths_are_byte_identical(env_file, synths, tmp_path):
    session = {path: synths.of_file(path) for path in (DEV_EU, STAGE_FILE)}[env_file]  # both made by the worker
    in_worker = synths.worker.main("--env-file", str(env_file), "synth", "--outdir", str(tmp_path / "worker"))
    fresh = run_main("--env-file", str(env_file), "synth", "--outdir", str(tmp_path / "fresh"))
    assert in_worker.returncode == 0 and fresh.returncode == 0, in_worker.stderr + fresh.stderr
    files = synthesized_files(tmp_path / "fresh" / "stacks" / session.dir.name)
    assert synthesized_files(tmp_path / "worker" / "stacks" / session.dir.name) == files
    assert synthesized_files(session.dir) == files


def literal_secrets(doc, path: str = "") -> list[str]:
    """`path: what` for every literal credential in a synthesized document (recursing into container JSON)."""
    found = []
    if isinstance(doc, dict):
        env_name = doc.get("name") if set(doc) >= {"name", "value"} else None  # ECS environment entry
        if env_name and SECRET_ENV_VAR.search(env_name) and doc["value"]:
            found.append(f"{path}: environment variable {env_name} has a literal value (use secrets)")
        for key, value in doc.items():
            where = f"{path}.{key}" if path else key
            if SECRET_ARGUMENT.match(key) and isinstance(value, str) and value and not REFERENCE.search(value):
                found.append(f"{where}: literal value in a secret field")
            found += literal_secrets(value, where)
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            found += literal_secrets(item, f"{path}[{i}]")
    elif isinstance(doc, str):
        if path.endswith("container_definitions"):
            return literal_secrets(json.loads(doc), path)
        found += [f"{path}: {what}" for what, pattern in SECRET_PATTERNS.items() if pattern.search(doc)]
    return found


@pytest.mark.parametrize("env_file", [STAGE_FILE, DEV_EU], ids=["stage", "dev-eu"])
def test_no_literal_secrets_in_synthesized_json(env_file, synths):
    stack = synths.of_file(env_file)
    assert stack.resources("aws_secretsmanager_secret"), "the stack has secrets: the scan must see them"
    assert literal_secrets(stack.json) == []


def test_secret_scan_finds_planted_secrets():
    """The scan can fail: each kind of planted credential is reported."""
    container = [{"name": "api", "environment": [{"name": "DB_PASSWORD", "value": "hunter2"},
                                                 {"name": "QUALITY_TOKEN_HEADER", "value": "X-Ops-Token"}]}]
    doc = {
        "provider": {"aws": [{"access_key": "AKIAABCDEFGHIJKLMNOP", "secret_key": "abc"}]},
        "resource": {
            "aws_secretsmanager_secret_version": {"v": {"secret_string": "plain"}},
            "aws_elasticache_replication_group": {"r": {"auth_token": "${random_password.r.result}"}},
            "aws_ecs_task_definition": {"t": {"container_definitions": json.dumps(container)}},
            "aws_ssm_parameter": {"p": {"value": "-----BEGIN RSA PRIVATE KEY-----\nMIIE"},
                                  "u": {"value": "postgres://app:s3cret@db:5432/app"}},
        },
    }
    found = literal_secrets(doc)
    expected = ["AWS access key id", "secret_key", "secret_string", "DB_PASSWORD", "private key",
                "URL with a password"]
    assert all(any(e in f for f in found) for e in expected), found
    assert len(found) == len(expected), found  # the reference and the header name are not flagged
