"""modules/config/rules/database.py and the `database.network` section: a service reading a Postgres
connection is given one; the database's VPC can be peered or routed to; bad network settings are refused."""

from __future__ import annotations

import pytest

from config_mutations import all_of, case_id, check_rule_case, model_problems, set_path, unchanged
from modules.config.rules import database as R

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:team/db-AbCdEf"
PEER_VPC = "vpc-0a1b2c3d4e5f60718"


def database(**fields):
    """stage's database section replaced by an RDS instance reference (plus `fields`)."""
    return set_path("database", {"mode": "instance", "identifier": "team-db", "credentials_secret_arn": SECRET_ARN,
                                 "allow_from": ["api"], **fields})


def api_env_keys(*keys):
    return set_path("secrets.api-env.keys", list(keys))


CASES = [
    # stage's api reading DATABASE_URL again (the .env key it had) while stage references no database
    (R.services_reading_a_database_are_given_one, api_env_keys("DATABASE_URL", "OPENAI_API_KEY"), "services.api",
     ["'api' reads DATABASE_URL (key of secrets.api-env, via secrets_from)", "database.mode is 'none'",
      "Set database.mode (instance | cluster | endpoint)", "allow_from: [api]", "database.network"]),
    # libpq's variables count too, wherever they come from
    (R.services_reading_a_database_are_given_one, set_path("services.rag-indexer.parameters", {"PGHOST": "EXECUTOR_MODE", "RAG_INDEX_PATH": "RAG_INDEX_PATH"}),
     "services.rag-indexer", ["PGHOST (parameters)", "database.mode is 'none'"]),
    # a database, but the reader is not among those it is opened to
    (R.services_reading_a_database_are_given_one,
     all_of(database(allow_from=["quality-cron"]), api_env_keys("DATABASE_URL")), "services.api",
     ["is not in database.allow_from", "no egress to the database", "Add 'api' to database.allow_from"]),
    (R.services_reading_a_database_are_given_one, all_of(database(), api_env_keys("DATABASE_URL")), None, []),
    # plain values that need no database reference: another engine, or a Postgres service of the stack itself
    (R.services_reading_a_database_are_given_one,
     set_path("services.api.environment.DATABASE_URL", "sqlite:////app/data/rag/app.db"), None, []),
    (R.services_reading_a_database_are_given_one,
     set_path("services.api.environment.PGHOST", "ollama.araquem-stage.internal"), None, []),
    # a database in another account or Region: reached with the api's own egress rule on 5432 and its URL
    (R.services_reading_a_database_are_given_one,
     all_of(api_env_keys("DATABASE_URL"), set_path("services.api.egress", [
         {"port": 443}, {"port": 5432, "cidrs": ["10.90.0.0/16"], "description": "Postgres of the shared account"}])),
     None, []),
    (R.services_reading_a_database_are_given_one, unchanged, None, []),
    (R.database_network_cidrs_do_not_overlap_the_vpc,
     database(network={"via": "peering", "vpc_id": PEER_VPC, "cidrs": ["10.90.0.0/16", "10.40.128.0/17"]}),
     "database.network.cidrs[1]", ["10.40.128.0/17 overlaps network.vpc_cidr 10.40.0.0/16", "cannot be peered"]),
    (R.database_network_cidrs_do_not_overlap_the_vpc,
     database(network={"via": "transit_gateway", "vpc_id": PEER_VPC, "transit_gateway_id": "tgw-0123456789abcdef0",
                       "cidrs": ["10.0.0.0/8"]}),
     "database.network.cidrs[0]", ["overlaps network.vpc_cidr", "routed to each other"]),
    (R.database_network_cidrs_do_not_overlap_the_vpc,
     database(network={"via": "peering", "vpc_id": PEER_VPC, "cidrs": ["10.90.0.0/16"]}), None, []),
    (R.database_network_cidrs_do_not_overlap_the_vpc, database(network={"via": "peering", "vpc_id": PEER_VPC}),
     None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)


def test_an_overlapping_peer_block_is_refused_when_the_file_loads():
    """Rendered as the user sees it (load(): file, field path, message), not only by the rule."""
    problems = model_problems(database(network={"via": "peering", "vpc_id": PEER_VPC, "cidrs": ["10.40.0.0/24"]}))
    assert [(path, msg.split(":")[0]) for path, msg in problems] == [
        ("database.network.cidrs[0]", "10.40.0.0/24 overlaps network.vpc_cidr 10.40.0.0/16")]


@pytest.mark.parametrize("network,path,words", [
    ({"via": "transit_gateway", "vpc_id": PEER_VPC}, "database.network", "needs 'transit_gateway_id'"),
    ({"via": "peering", "vpc_id": PEER_VPC, "transit_gateway_id": "tgw-0123456789abcdef0"}, "database.network",
     "via 'peering' takes none"),
    ({"via": "transit_gateway", "vpc_id": PEER_VPC, "transit_gateway_id": "tgw-0123456789abcdef0",
      "dns_resolution": False}, "database.network", "a transit gateway has none"),
    ({"via": "peering", "vpc_id": "my-db-vpc"}, "database.network.vpc_id", "not text matching ^vpc-"),
    ({"via": "vpn", "vpc_id": PEER_VPC}, "database.network.via", "'peering' or 'transit_gateway'"),
    ({"via": "peering", "vpc_id": PEER_VPC, "cidrs": ["10.90.0.1/16"]}, "database.network.cidrs[0]",
     "not a valid network CIDR"),
    ({"via": "peering", "vpc_id": PEER_VPC, "route_table_ids": ["rtb-0a", "rtb-0a"]}, "database.network",
     "lists a value twice"),
], ids=["tgw-without-id", "peering-with-tgw-id", "dns-over-tgw", "bad-vpc-id", "unknown-via", "host-bits",
        "route-table-twice"])
def test_bad_network_settings_are_refused(network, path, words):
    problems = model_problems(database(network=network))
    assert [p for p, msg in problems if p == path and words in msg], problems


def test_mode_none_takes_no_network():
    problems = model_problems(set_path("database", {"mode": "none", "network": {"via": "peering",
                                                                               "vpc_id": PEER_VPC}}))
    assert [p for p, msg in problems if p == "database" and "['network']" in msg], problems
