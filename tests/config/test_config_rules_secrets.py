"""modules/config/rules/secrets.py: secret names the stack owns, the database secret's key Region."""

from __future__ import annotations

import pytest

from config_mutations import all_of, case_id, check_rule_case, delete_path, set_path, unchanged
from modules.config.rules import secrets as R

SECRET = "arn:aws:secretsmanager:{region}:123456789012:secret:team/db-AbCdEf"
KEY = "arn:aws:kms:{region}:123456789012:key/00000000-0000-0000-0000-000000000000"


def _database(secret_region: str, key_region: str):
    return set_path("database", {"mode": "instance", "identifier": "team-db",
                                 "credentials_secret_arn": SECRET.format(region=secret_region),
                                 "credentials_kms_key_arn": KEY.format(region=key_region)})


CASES = [
    (R.secret_names_are_not_the_stacks_own, set_path("secrets.redis-url", {"description": "mine"}),
     "secrets.redis-url", ["'araquem-stage/redis-url' is the name of the secret the stack creates for the cache"]),
    (R.secret_names_are_not_the_stacks_own, set_path("secrets.redis-auth-token", {}),
     "secrets.redis-auth-token", ["redis-auth-token, redis-url are the stack's own"]),
    # without a cache the stack creates neither: the names are free
    (R.secret_names_are_not_the_stacks_own, all_of(delete_path("cache"), set_path("secrets.redis-url", {})), None, []),
    (R.secret_names_are_not_the_stacks_own, unchanged, None, []),
    (R.database_key_is_in_the_secret_region, _database("us-east-1", "eu-west-1"), "database.credentials_kms_key_arn",
     ["is in eu-west-1 (aws), but the credentials secret is in us-east-1", "arn:aws:kms:us-east-1:"]),
    # a secret of another Region is fine (ECS reads it by its full ARN), with its key in its own Region
    (R.database_key_is_in_the_secret_region, _database("eu-west-1", "eu-west-1"), None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)
