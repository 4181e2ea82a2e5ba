"""modules/network.py: VPC, subnets per AZ and tier, IGW/NAT routing, flow logs, VPC endpoints, outputs."""

from __future__ import annotations

import ipaddress
import json

import pytest

from conftest import variant


def ref(rtype: str, logical_id: str, attr: str = "id") -> str:
    return f"${{{rtype}.{logical_id}.{attr}}}"


def subnets_by_tier(synth) -> dict[str, list[tuple[str, dict]]]:
    """{tier: [(logical id, subnet)]} ordered by the subnet's index suffix (= its AZ index)."""
    tiers: dict[str, list] = {}
    for lid, subnet in synth.resources("aws_subnet").items():
        tiers.setdefault(subnet["tags"]["Tier"], []).append((lid, subnet))
    return {t: sorted(s, key=lambda item: item[1]["tags"]["Name"]) for t, s in tiers.items()}


def route_targets(synth) -> dict[str, dict]:
    """{route table logical id: default route}."""
    out = {}
    for route in synth.resources("aws_route").values():
        if route["destination_cidr_block"] == "0.0.0.0/0":
            out[route["route_table_id"].split(".")[1]] = route
    return out


def table_of(synth) -> dict[str, str]:
    """{subnet reference: route table logical id}."""
    return {a["subnet_id"]: a["route_table_id"].split(".")[1]
            for a in synth.resources("aws_route_table_association").values()}


# A different shape from stage: 3 AZs, one NAT per AZ, no endpoints, no flow logs.
def _per_az(data):
    data["network"].pop("availability_zones")  # the default: the region's first az_count zone letters
    data["network"].update(az_count=3, nat="per_az", flow_logs={"enabled": False},
                           endpoints={"s3": False, "ecr": False, "logs": False, "secretsmanager": False,
                                      "ssm": False})


# Every AWS API of the container instances through an endpoint, and a bucket of the app's own.
def _closed(data):
    data["network"]["endpoints"] = {"s3": True, "ecr": True, "logs": True, "secretsmanager": True, "ssm": True,
                                    "ecs": True, "session_manager": True, "s3_buckets": ["araquem-stage-exports"]}


TERRAFORM_VALIDATE = {"test_per_az_variant_is_valid_terraform": [lambda synths: synths.of_data(variant(_per_az))],
                      "test_closed_variant_is_valid_terraform": [lambda synths: synths.of_data(variant(_closed))]}


@pytest.fixture(scope="module")
def per_az(synths):
    return synths.of_data(variant(_per_az))


def test_stage_subnets_one_per_az_and_tier_carved_from_the_vpc(stage, stage_cfg):
    vpc = stage.one("aws_vpc")
    assert vpc["cidr_block"] == stage_cfg.network.vpc_cidr
    assert vpc["enable_dns_support"] and vpc["enable_dns_hostnames"]
    tiers = subnets_by_tier(stage)
    assert sorted(tiers) == ["private", "public"]
    vpc_net = ipaddress.ip_network(vpc["cidr_block"])
    carved = []
    for tier, subnets in tiers.items():
        assert len(subnets) == stage_cfg.network.az_count
        # subnet i of a tier sits in AZ i: one per AZ, none sharing an AZ
        assert [s["availability_zone"] for _, s in subnets] == stage_cfg.network.availability_zones
        for _, s in subnets:
            net = ipaddress.ip_network(s["cidr_block"])
            assert net.subnet_of(vpc_net) and net.prefixlen == stage_cfg.network.subnet_prefix
            assert s["map_public_ip_on_launch"] is False
            carved.append(net)
    assert all(not a.overlaps(b) for i, a in enumerate(carved) for b in carved[i + 1:])


def _zones_id(synth) -> str:
    (lid,) = synth.data("aws_availability_zones")
    return lid


def test_zones_are_named_in_the_env_file_and_only_checked_at_plan(stage, stage_cfg):
    """Subnets use the env file's zones literally (nothing re-derived on a plan); the lookup filters on
    exactly those names and fails the plan, naming the field, if one is not available to the account."""
    assert stage_cfg.network.availability_zones == ["us-east-1a", "us-east-1b"]
    zones = stage.data("aws_availability_zones")[_zones_id(stage)]
    assert zones["state"] == "available"
    assert zones["filter"] == [{"name": "zone-name", "values": ["us-east-1a", "us-east-1b"]}]
    (check,) = zones["lifecycle"]["postcondition"]
    assert check["condition"] == "${length(self.names) == 2}"
    assert "network.availability_zones" in check["error_message"]
    assert not [s for s in stage.resources("aws_subnet").values() if "${" in s["availability_zone"]]


def test_default_zones_are_the_regions_first_letters(per_az):
    subnets = subnets_by_tier(per_az)["private"]
    assert [s["availability_zone"] for _, s in subnets] == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_zone_ids_pin_physical_zones(synths):
    def by_id(data):
        data["network"]["availability_zones"] = ["use1-az1", "use1-az2"]
    stack = synths.of_data(variant(by_id))
    zones = next(iter(stack.data("aws_availability_zones").values()))
    assert zones["filter"] == [{"name": "zone-id", "values": ["use1-az1", "use1-az2"]}]
    assert zones["lifecycle"]["postcondition"][0]["condition"] == "${length(self.zone_ids) == 2}"
    for subnet in stack.resources("aws_subnet").values():
        assert "availability_zone" not in subnet and subnet["availability_zone_id"] in ("use1-az1", "use1-az2")


def test_public_tier_routes_through_the_internet_gateway(stage):
    (igw_id,) = stage.resources("aws_internet_gateway")
    routes, tables = route_targets(stage), table_of(stage)
    for lid, _ in subnets_by_tier(stage)["public"]:
        route = routes[tables[ref("aws_subnet", lid)]]
        assert route["gateway_id"] == ref("aws_internet_gateway", igw_id) and "nat_gateway_id" not in route


def test_stage_private_tier_routes_through_one_nat_in_a_public_subnet(stage):
    (nat_id,) = stage.resources("aws_nat_gateway")  # stage: nat single
    nat = stage.resources("aws_nat_gateway")[nat_id]
    public_ids = [ref("aws_subnet", lid) for lid, _ in subnets_by_tier(stage)["public"]]
    assert nat["subnet_id"] == public_ids[0]
    assert nat["allocation_id"].startswith("${aws_eip.")
    routes, tables = route_targets(stage), table_of(stage)
    for lid, _ in subnets_by_tier(stage)["private"]:
        route = routes[tables[ref("aws_subnet", lid)]]
        assert route["nat_gateway_id"] == ref("aws_nat_gateway", nat_id) and "gateway_id" not in route


def test_per_az_nat_gives_each_private_subnet_the_nat_of_its_own_az(per_az):
    tiers = subnets_by_tier(per_az)
    assert len(tiers["public"]) == len(tiers["private"]) == 3
    nats = per_az.resources("aws_nat_gateway")
    assert len(nats) == 3 and len(per_az.resources("aws_eip")) == 3
    nat_subnet = {ref("aws_nat_gateway", lid): n["subnet_id"] for lid, n in nats.items()}
    routes, tables = route_targets(per_az), table_of(per_az)
    for (pub_id, _), (priv_id, _) in zip(tiers["public"], tiers["private"]):
        nat = routes[tables[ref("aws_subnet", priv_id)]]["nat_gateway_id"]
        assert nat_subnet[nat] == ref("aws_subnet", pub_id)  # same AZ index: no cross-AZ dependency


def test_flow_logs_go_to_a_log_group_through_a_scoped_role(stage, stage_cfg):
    flow = stage.one("aws_flow_log")
    (group_id,) = [lid for lid, g in stage.resources("aws_cloudwatch_log_group").items()
                   if ref("aws_cloudwatch_log_group", lid, "arn") == flow["log_destination"]]
    group = stage.resources("aws_cloudwatch_log_group")[group_id]
    assert group["retention_in_days"] == stage_cfg.network.flow_logs.retention_days
    assert flow["traffic_type"] == stage_cfg.network.flow_logs.traffic_type
    assert flow["vpc_id"].startswith("${aws_vpc.") and flow["log_destination_type"] == "cloud-watch-logs"

    role_id = flow["iam_role_arn"].split(".")[1]
    role = stage.resources("aws_iam_role")[role_id]
    trust = stage.data("aws_iam_policy_document")[role["assume_role_policy"].split(".")[2]]
    (stmt,) = trust["statement"]
    assert stmt["principals"] == [{"identifiers": ["vpc-flow-logs.amazonaws.com"], "type": "Service"}]
    assert {c["variable"] for c in stmt["condition"]} == {"aws:SourceAccount", "aws:SourceArn"}
    (policy,) = [p for p in stage.resources("aws_iam_role_policy").values()
                 if p["role"] == ref("aws_iam_role", role_id)]
    doc = stage.data("aws_iam_policy_document")[policy["policy"].split(".")[2]]
    group_arn = ref("aws_cloudwatch_log_group", group_id, "arn")
    for statement in doc["statement"]:
        assert set(statement["resources"]) <= {group_arn, f"{group_arn}:*"}  # this group only, never "*"


def test_flow_logs_can_be_switched_off(per_az):
    assert not per_az.resources("aws_flow_log")


def test_stage_endpoints_keep_image_pulls_and_aws_calls_off_the_nat(stage):
    endpoints = {e["service_name"]: e for e in stage.resources("aws_vpc_endpoint").values()}
    assert sorted(endpoints) == sorted(f"com.amazonaws.us-east-1.{s}" for s in
                                       ("s3", "ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm"))
    s3 = endpoints.pop("com.amazonaws.us-east-1.s3")
    private_tables = {table_of(stage)[ref("aws_subnet", lid)] for lid, _ in subnets_by_tier(stage)["private"]}
    assert s3["vpc_endpoint_type"] == "Gateway"
    assert {t.split(".")[1] for t in s3["route_table_ids"]} == private_tables
    private_subnets = [ref("aws_subnet", lid) for lid, _ in subnets_by_tier(stage)["private"]]
    (endpoints_sg,) = [lid for lid, g in stage.resources("aws_security_group").items()
                       if g["name"] == "araquem-stage-endpoints"]
    for endpoint in endpoints.values():
        assert endpoint["vpc_endpoint_type"] == "Interface" and endpoint["private_dns_enabled"] is True
        assert endpoint["subnet_ids"] == private_subnets
        assert endpoint["security_group_ids"] == [ref("aws_security_group", endpoints_sg)]


def policy_of(synth, endpoint: dict) -> dict:
    """The aws_iam_policy_document an endpoint's `policy` references."""
    name = endpoint["policy"].split(".")[2]
    return synth.data("aws_iam_policy_document")[name]


def test_endpoint_policies_allow_only_what_the_stack_uses(stage):
    endpoints = {e["service_name"].rsplit(".", 1)[-1] if "ecr" not in e["service_name"]
                 else e["service_name"].split("us-east-1.")[1]: e for e in stage.resources("aws_vpc_endpoint").values()}
    [s3_read] = policy_of(stage, endpoints.pop("s3"))["statement"]
    assert s3_read["actions"] == ["s3:GetObject"] and "condition" not in s3_read  # ECR presigns layer URLs itself
    assert [r.split(":::")[1] for r in s3_read["resources"]] == [
        "prod-us-east-1-starport-layer-bucket/*", "al2023-repos-us-east-1-de612dc2/*"]
    for service, endpoint in endpoints.items():  # ecr.api, ecr.dkr, logs, secretsmanager, ssm: all take policies
        [only] = policy_of(stage, endpoint)["statement"]
        assert (only["actions"], only["resources"]) == ([f"{service.split('.')[0]}:*"], ["*"]), service
        assert [(c["test"], c["variable"]) for c in only["condition"]] == [("StringEquals", "aws:PrincipalAccount")]
        assert only["condition"][0]["values"][0].startswith("${data.aws_caller_identity.")


@pytest.fixture(scope="module")
def closed(synths):
    return synths.of_data(variant(_closed))


def test_every_instance_api_through_an_endpoint_closes_the_instances_internet_egress(closed, stage):
    """ecs and session_manager add their endpoints (no endpoint policy: their guides document none); with
    every API of the instances behind an endpoint, their HTTPS goes to the endpoints and S3's prefix list only."""
    services = {e["service_name"].split("us-east-1.")[1]: e for e in closed.resources("aws_vpc_endpoint").values()}
    for service in ("ecs", "ecs-agent", "ecs-telemetry", "ec2messages", "ssmmessages"):
        assert services[service]["vpc_endpoint_type"] == "Interface" and "policy" not in services[service], service
    s3_statements = {st["sid"]: st for st in policy_of(closed, services["s3"])["statement"]}
    own = s3_statements["TheEnvFilesBucketsFromThisAccount"]
    assert own["resources"][0].endswith(":s3:::araquem-stage-exports") and own["condition"][0]["variable"] == \
        "aws:PrincipalAccount"

    def instance_egress(synth):
        group = next(f"${{aws_security_group.{lid}.id}}" for lid, g in synth.resources("aws_security_group").items()
                     if g["name"].endswith("-instances"))
        return [r for r in synth.resources("aws_vpc_security_group_egress_rule").values()
                if r["security_group_id"] == group]

    assert any(r.get("cidr_ipv4") == "0.0.0.0/0" for r in instance_egress(stage))  # stage: ecs/session_manager off
    closed_rules = instance_egress(closed)
    assert not [r for r in closed_rules if "cidr_ipv4" in r or "cidr_ipv6" in r]
    https = {("group" if "referenced_security_group_id" in r else "prefix list", r["from_port"])
             for r in closed_rules if r["from_port"] == 443}
    assert https == {("group", 443), ("prefix list", 443)}
    [to_s3] = [r for r in closed_rules if "prefix_list_id" in r]
    assert to_s3["prefix_list_id"].startswith("${aws_vpc_endpoint.network_endpoint_s3_") and \
        to_s3["prefix_list_id"].endswith(".prefix_list_id}")


def test_closed_variant_is_valid_terraform(closed, terraform_validation):
    result = terraform_validation.of(closed)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)


def test_endpoints_are_optional(per_az):
    assert not per_az.resources("aws_vpc_endpoint")
    assert not [g for g in per_az.resources("aws_security_group").values() if g["name"].endswith("-endpoints")]


def test_outputs_are_flat_and_name_the_network(stage):
    outputs = stage.json["output"]
    vpc_id = next(iter(stage.resources("aws_vpc")))
    assert outputs["vpc_id"]["value"] == ref("aws_vpc", vpc_id)
    tiers = subnets_by_tier(stage)
    for tier in ("public", "private"):
        assert outputs[f"{tier}_subnet_ids"]["value"] == [ref("aws_subnet", lid) for lid, _ in tiers[tier]]


def test_per_az_variant_is_valid_terraform(per_az, terraform_validation):
    result = terraform_validation.of(per_az)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)
