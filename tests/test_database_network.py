"""modules/database_network.py (and the rules modules/database.py makes with it): a database in another VPC
is reached in one apply. Checked on an env file written for this (tests/fixtures/envs/ap-southeast-2-peered-db.yaml:
Sydney, 3 AZs with a NAT gateway each, an RDS instance in a peered VPC whose blocks and route tables are looked up)
and on its transit-gateway variant (blocks and route tables given in the file)."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import ROOT
from modules.config import load

PEERED_FILE = ROOT / "tests" / "fixtures" / "envs" / "ap-southeast-2-peered-db.yaml"
TGW = "tgw-0123456789abcdef0"
PEER_BLOCKS = ["10.90.0.0/16", "100.64.0.0/20"]  # a secondary block too: one route and one egress rule per block
PEER_TABLES = ["rtb-0aaaaaaaaaaaaaaa1", "rtb-0bbbbbbbbbbbbbbb2"]


def transit_gateway_data() -> dict:
    data = yaml.safe_load(PEERED_FILE.read_text())
    data["database"]["network"] = {"via": "transit_gateway", "vpc_id": data["database"]["network"]["vpc_id"],
                                   "transit_gateway_id": TGW, "cidrs": PEER_BLOCKS, "route_table_ids": PEER_TABLES}
    return data


TERRAFORM_VALIDATE = {"test_both_ways_pass_terraform_validate": [
    lambda synths: synths.of_file(PEERED_FILE), lambda synths: synths.of_data(transit_gateway_data())]}


@pytest.fixture(scope="session")
def peered(synths):
    return synths.of_file(PEERED_FILE)


@pytest.fixture(scope="session")
def via_tgw(synths):
    return synths.of_data(transit_gateway_data())


def ref(stack, rtype: str, fragment: str = "") -> str:
    """`<type>.<key>` of the one resource of `rtype` whose key holds `fragment`."""
    keys = [k for k in stack.resources(rtype) if fragment in k]
    assert len(keys) == 1, (rtype, fragment, keys)
    return f"{rtype}.{keys[0]}"


def data_ref(stack, dtype: str) -> str:
    (key,) = stack.data(dtype)
    return f"data.{dtype}.{key}"


def private_tables(stack) -> list[str]:
    return sorted(f"${{aws_route_table.{k}.id}}" for k in stack.resources("aws_route_table") if "private_rt" in k)


def toset(for_each: str) -> list[str]:
    """The literal list inside a `${toset([...])}` for_each."""
    assert for_each.startswith("${toset([") and for_each.endswith("])}"), for_each
    return json.loads(for_each[len("${toset("):-len(")}")])


def db_routes(stack) -> dict[str, dict]:
    return {k: r for k, r in stack.resources("aws_route").items() if k.startswith("database_network_")}


def db_rules(stack, rtype: str) -> list[dict]:
    return [r for r in stack.resources(rtype).values() if "(database.allow_from" in r.get("description", "")]


def task_group(stack, owner: str) -> str:
    return f"${{{ref(stack, 'aws_security_group', f'task-{owner}_')}.id}}"


def test_the_stack_peers_its_vpc_with_the_databases_and_accepts_it(peered):
    cfg = load(PEERED_FILE)
    (peering,) = peered.resources("aws_vpc_peering_connection").values()
    assert peering["vpc_id"] == f"${{{ref(peered, 'aws_vpc')}.id}}"
    assert peering["peer_vpc_id"] == cfg.database.network.vpc_id
    # same account and Region: accepted by this apply; no owner or Region of another side
    assert peering["auto_accept"] is True and "peer_owner_id" not in peering and "peer_region" not in peering
    (options,) = peered.resources("aws_vpc_peering_connection_options").values()
    assert options["vpc_peering_connection_id"] == f"${{{ref(peered, 'aws_vpc_peering_connection')}.id}}"
    # the database's VPC (accepter) answers its DNS names privately to the stack's tasks; nothing the other way
    assert options["accepter"] == {"allow_remote_vpc_dns_resolution": True} and "requester" not in options
    assert peered.resources("aws_ec2_transit_gateway_vpc_attachment") == {}


def test_peered_routes_go_both_ways(peered):
    """Each of the 3 private route tables (nat per_az) -> every block of the database's VPC, and each of that
    VPC's route tables -> the stack's 10.70.0.0/16; both looked up at plan time (nothing given in the file)."""
    pcx = f"${{{ref(peered, 'aws_vpc_peering_connection')}.id}}"
    vpc, tables = data_ref(peered, "aws_vpc"), data_ref(peered, "aws_route_tables")
    assert peered.data("aws_vpc")[vpc.split(".")[-1]]["id"] == load(PEERED_FILE).database.network.vpc_id
    routes = db_routes(peered)
    outbound = [r for k, r in routes.items() if "to_database" in k]
    assert sorted(r["route_table_id"] for r in outbound) == private_tables(peered) and len(outbound) == 3
    for route in outbound:
        assert route["for_each"] == f"${{{{ for key, val in {vpc}.cidr_block_associations: val.cidr_block => val }}}}"
        assert route["destination_cidr_block"] == "${each.value.cidr_block}"
        assert route["vpc_peering_connection_id"] == pcx
    (back,) = [r for k, r in routes.items() if "from_database" in k]
    assert back["for_each"] == f"${{toset({tables}.ids)}}" and back["route_table_id"] == "${each.value}"
    assert back["destination_cidr_block"] == "10.70.0.0/16" and back["vpc_peering_connection_id"] == pcx


def test_peered_database_group_names_the_task_groups_once_the_peering_is_active(peered):
    """Same Region: the rules reference groups across the peering, which AWS accepts only when it is active,
    so each rule depends on the peering connection (auto_accept: created = active)."""
    pcx = ref(peered, "aws_vpc_peering_connection")
    owners = ["api", "db-migrate", "nightly-report"]  # database.allow_from: a service, a job, a scheduled task
    ingress, egress = db_rules(peered, "aws_vpc_security_group_ingress_rule"), \
        db_rules(peered, "aws_vpc_security_group_egress_rule")
    assert sorted(r["referenced_security_group_id"] for r in ingress) == sorted(task_group(peered, o) for o in owners)
    assert sorted(r["security_group_id"] for r in egress) == sorted(task_group(peered, o) for o in owners)
    db = data_ref(peered, "aws_db_instance")
    for rule in ingress + egress:
        assert rule["depends_on"] == [pcx]
        assert rule["from_port"] == rule["to_port"] == f"${{{db}.port}}" and rule["ip_protocol"] == "tcp"
    assert {r["security_group_id"] for r in ingress} == {r["referenced_security_group_id"] for r in egress} == {
        f"${{element(sort({db}.vpc_security_groups), 0)}}"}


def test_the_readers_get_the_connection(peered):
    for owner in ("api", "db-migrate", "nightly-report"):
        (task,) = [t for t in peered.resources("aws_ecs_task_definition").values() if t["family"].endswith(owner)]
        (container,) = json.loads(task["container_definitions"])
        assert {"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"} <= {s["name"] for s in container["secrets"]}


def test_transit_gateway_attaches_the_private_subnets_and_routes_both_ways(via_tgw):
    (attachment,) = via_tgw.resources("aws_ec2_transit_gateway_vpc_attachment").values()
    attachment_ref = ref(via_tgw, "aws_ec2_transit_gateway_vpc_attachment")
    assert attachment["transit_gateway_id"] == TGW and attachment["vpc_id"] == f"${{{ref(via_tgw, 'aws_vpc')}.id}}"
    assert sorted(attachment["subnet_ids"]) == sorted(
        f"${{aws_subnet.{k}.id}}" for k in via_tgw.resources("aws_subnet") if "private" in k)
    assert via_tgw.resources("aws_vpc_peering_connection") == {} and via_tgw.data("aws_vpc") == {}
    assert via_tgw.data("aws_route_tables") == {}  # given in the file: nothing looked up
    routes = db_routes(via_tgw)
    outbound = [r for k, r in routes.items() if "to_database" in k]
    assert sorted(r["route_table_id"] for r in outbound) == private_tables(via_tgw)
    for route in outbound:
        assert toset(route["for_each"]) == PEER_BLOCKS and route["destination_cidr_block"] == "${each.value}"
    (back,) = [r for k, r in routes.items() if "from_database" in k]
    assert toset(back["for_each"]) == PEER_TABLES and back["route_table_id"] == "${each.value}"
    assert back["destination_cidr_block"] == "10.70.0.0/16"
    for route in routes.values():  # a route through the gateway needs the stack's VPC attached first
        assert route["transit_gateway_id"] == TGW and route["depends_on"] == [attachment_ref]


def test_transit_gateway_rules_use_addresses(via_tgw):
    """No group can be named across a transit gateway: the DB's group admits the stack's private subnets, and
    only the allow_from task groups may leave towards the database VPC's blocks."""
    cfg = load(PEERED_FILE)
    ingress = db_rules(via_tgw, "aws_vpc_security_group_ingress_rule")
    assert sorted(r["cidr_ipv4"] for r in ingress) == sorted(cfg.network.subnet_cidrs()["private"])
    assert not [r for r in ingress if "referenced_security_group_id" in r]
    egress = db_rules(via_tgw, "aws_vpc_security_group_egress_rule")
    assert sorted(r["security_group_id"] for r in egress) == sorted(
        task_group(via_tgw, o) for o in ("api", "db-migrate", "nightly-report"))
    for rule in egress:
        assert toset(rule["for_each"]) == PEER_BLOCKS
        assert rule["cidr_ipv4"] == "${each.value}" and "referenced_security_group_id" not in rule


def test_without_network_nothing_is_connected(stage):
    for rtype in ("aws_vpc_peering_connection", "aws_vpc_peering_connection_options",
                  "aws_ec2_transit_gateway_vpc_attachment"):
        assert stage.resources(rtype) == {}
    assert db_routes(stage) == {}


def test_both_ways_pass_terraform_validate(peered, via_tgw, terraform_validation):
    for stack in (peered, via_tgw):
        result = terraform_validation.of(stack)
        assert result["valid"], json.dumps(result["diagnostics"], indent=2)
