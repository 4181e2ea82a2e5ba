"""modules/task_secrets.py: each variable a container reads from a store, delivered once."""

from __future__ import annotations

import pytest

from test_workload import bad_input_line


def test_secret_arn_of_strips_the_json_key_selector():
    from modules.task_secrets import secret_arn_of

    arn = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:araquem/dev-eu/postgres-AbCdEf"
    assert secret_arn_of(f"{arn}:password::") == arn  # ECS valueFrom `<arn>:<key>:<stage>:<version>`
    assert secret_arn_of(arn) == arn
    token = "${TfToken[TOKEN.42]}"  # how cdktf hands a resource's ARN to Python
    assert secret_arn_of(f"{token}:REDIS_URL::") == token


@pytest.mark.parametrize("mutate, field, words", [
    (lambda d: d["services"]["api"].setdefault("environment", {}).update(OPENAI_API_KEY="x"),
     "services.api", ["OPENAI_API_KEY", "own", "secrets_from api-env"]),
    (lambda d: d["services"]["api"].setdefault("environment", {}).update(REDIS_URL="redis://localhost"),
     "services.api", ["REDIS_URL", "cache.url_variable"]),
], ids=["env-vs-secrets_from", "env-vs-cache-url"])
def test_a_variable_injected_twice_is_a_clear_error(tmp_path, mutate, field, words):
    line = bad_input_line(tmp_path, mutate, field)
    assert all(w in line for w in words), line
