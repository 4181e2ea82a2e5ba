"""modules/commands/preflight/data.py against moto in-process: secrets with values and keys, the RDS reference."""

from __future__ import annotations

import ipaddress
import json

import boto3
from botocore.stub import Stubber

from modules.commands import preflight
from preflight_support import ACCOUNT, REGION, aws, env_cfg, levels, with_zone  # noqa: F401  (the fixture)


# ------------------------------------------------------------------ secrets
def test_secrets_with_their_keys_pass_and_values_are_never_printed(aws, tmp_path):
    cfg = env_cfg(tmp_path)
    sm = boto3.client("secretsmanager", region_name=REGION)
    for name, spec in cfg.secrets.items():
        if spec.keys:
            sm.create_secret(Name=cfg.secret_name(name),
                             SecretString=json.dumps({k: f"value-of-{k}" for k in spec.keys}))
    findings = preflight.check_secrets(cfg, aws)
    assert levels(findings) == ["ok"] * len(findings) and len(findings) == 2, findings
    assert not any("value-of-" in f.line() for f in findings)


def test_secret_without_value_or_with_missing_keys_fails(aws, tmp_path):
    cfg = env_cfg(tmp_path)
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name=cfg.secret_name("api-env"))  # created by a first apply: no version yet
    sm.create_secret(Name=cfg.secret_name("docker-hub"), SecretString=json.dumps({"username": "value-of-user"}))
    findings = {f.check: f for f in preflight.check_secrets(cfg, aws)}
    assert findings["secret api-env"].level == "FAIL"
    assert "has no value (no AWSCURRENT version" in findings["secret api-env"].text
    assert "put-secret-value" in findings["secret api-env"].text
    hub = findings["secret docker-hub"]
    assert hub.level == "FAIL" and "lacks the key(s) accessToken" in hub.text and "value-of-user" not in hub.line()


def test_secret_the_stack_creates_is_a_warning_one_that_must_exist_before_fails(aws, tmp_path):
    """api-env does not exist before a first deploy (the stack creates it): a warning with what to do after.
    The database credentials (an existing secret the env file references) missing: the deploy would fail."""
    def with_database(data):
        data["database"] = {"mode": "instance", "identifier": "araquem-db", "allow_from": ["api"],
                            "credentials_secret_arn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"}
    cfg = env_cfg(tmp_path, with_database)
    findings = {f.check: f for f in preflight.check_secrets(cfg, aws)}
    assert findings["secret api-env"].level == "warn" and "does not exist yet" in findings["secret api-env"].text
    db = findings["secret database.credentials_secret_arn"]
    assert db.level == "FAIL" and "does not exist" in db.text and "step 0" in db.text


def test_existing_secrets_with_values_pass_missing_or_empty_ones_fail(aws, tmp_path):
    """`existing: true` secrets (stage's docker-hub; an SSO variant's plain grafana-oidc) are never created by the
    stack: each must exist with a value before the deploy, or the apply stops on it."""
    cfg = env_cfg(tmp_path, with_zone("araquem.com.br", grafana_sso=True))
    existing = sorted(n for n, spec in cfg.secrets.items() if spec.existing)
    assert existing == ["docker-hub", "grafana-oidc"]
    findings = {f.check: f for f in preflight.check_secrets(cfg, aws)}
    for name in existing:
        finding = findings[f"secret {name}"]
        assert finding.level == "FAIL" and "does not exist" in finding.text, finding
        assert f"aws secretsmanager create-secret --region {REGION} --name {cfg.secret_name(name)}" in finding.text
    assert "pull-through cache rule" in findings["secret docker-hub"].text
    assert "OIDC client secret" in findings["secret grafana-oidc"].text

    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name=cfg.secret_name("grafana-oidc"))  # created without a value
    sm.create_secret(Name=cfg.secret_name("docker-hub"), SecretString=json.dumps({"username": "u", "accessToken": "t"}))
    findings = {f.check: f for f in preflight.check_secrets(cfg, aws)}
    assert findings["secret docker-hub"].level == "ok"
    assert findings["secret grafana-oidc"].level == "FAIL" and "has no value" in findings["secret grafana-oidc"].text
    sm.put_secret_value(SecretId=cfg.secret_name("grafana-oidc"), SecretString="client-secret-value")
    findings = {f.check: f for f in preflight.check_secrets(cfg, aws)}
    assert findings["secret grafana-oidc"].level == "ok" and "client-secret-value" not in findings["secret grafana-oidc"].line()


def test_secret_keys_unchecked_without_get_secret_value_is_a_warning(aws, tmp_path):
    cfg = env_cfg(tmp_path)
    sm = boto3.client("secretsmanager", region_name=REGION)
    for name in ("api-env", "docker-hub"):
        sm.create_secret(Name=cfg.secret_name(name), SecretString="{}")
    real = aws.client("secretsmanager")
    stub = Stubber(real)  # DescribeSecret answered like AWS; GetSecretValue denied
    for name in ("api-env", "docker-hub"):
        secret_id = cfg.secret_name(name)
        stub.add_response("describe_secret", {"Name": secret_id, "VersionIdsToStages": {"EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE": ["AWSCURRENT"]}},
                          {"SecretId": secret_id})
        stub.add_client_error("get_secret_value", "AccessDeniedException", http_status_code=400)
    with stub:
        findings = preflight.check_secrets(cfg, aws)
    assert levels(findings) == ["warn", "warn"] and "its keys are not checked" in findings[0].text


# ------------------------------------------------------------------ database
def database(mode: str, identifier: str):
    def mutate(data):
        data["database"] = {"mode": mode, "identifier": identifier, "allow_from": ["api"],
                            "credentials_secret_arn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"}
    return mutate


def test_referenced_rds_instance_and_cluster_that_exist_pass(aws, tmp_path):
    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_instance(DBInstanceIdentifier="araquem-db", DBInstanceClass="db.t4g.micro", Engine="postgres",
                           MasterUsername="araquem", MasterUserPassword="not-a-real-one-1", AllocatedStorage=20)
    rds.create_db_cluster(DBClusterIdentifier="araquem-cluster", Engine="aurora-postgresql",
                          MasterUsername="araquem", MasterUserPassword="not-a-real-one-1")
    # [exists, network]: created without a DB subnet group, moto gives no VPC (the network check is below)
    assert levels(preflight.check_database(env_cfg(tmp_path, database("instance", "araquem-db")), aws)) == ["ok", "warn"]
    assert levels(preflight.check_database(env_cfg(tmp_path, database("cluster", "araquem-cluster")), aws)) == \
        ["ok", "warn"]


def vpc_with_db_subnets(cidr: str, name: str | None = None) -> tuple[str, str]:
    """(vpc id, DB subnet group name): a VPC (tagged Name like the stack's when `name`) with two subnets."""
    ec2, rds = boto3.client("ec2", region_name=REGION), boto3.client("rds", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # as RDS recommends (and the stack's)
    if name:
        ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": name}])
    net = ipaddress.ip_network(cidr)
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=str(sub), AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
               for sub, zone in zip(list(net.subnets(new_prefix=24))[:2], "ab")]
    group = f"db-{vpc}"
    rds.create_db_subnet_group(DBSubnetGroupName=group, DBSubnetGroupDescription="db", SubnetIds=subnets)
    return vpc, group


def db_instance(identifier: str, subnet_group: str) -> None:
    boto3.client("rds", region_name=REGION).create_db_instance(
        DBInstanceIdentifier=identifier, DBInstanceClass="db.t4g.micro", Engine="postgres", AllocatedStorage=20,
        MasterUsername="araquem", MasterUserPassword="not-a-real-one-1", DBSubnetGroupName=subnet_group)


def test_a_database_in_the_stacks_vpc_or_a_peered_one_is_reachable(aws, tmp_path):
    stack_vpc, stack_subnets = vpc_with_db_subnets("10.40.0.0/16", name="araquem-stage")  # stage's vpc_cidr, name
    db_instance("in-stack-vpc", stack_subnets)
    [exists, network] = preflight.check_database(env_cfg(tmp_path, database("instance", "in-stack-vpc")), aws)
    assert network.level == "ok" and f"in the stack's VPC {stack_vpc}" in network.text
    other_vpc, other_subnets = vpc_with_db_subnets("10.90.0.0/16")
    boto3.client("rds", region_name=REGION).create_db_cluster(
        DBClusterIdentifier="peered", Engine="aurora-postgresql", MasterUsername="araquem",
        MasterUserPassword="not-a-real-one-1", DBSubnetGroupName=other_subnets)
    ec2 = boto3.client("ec2", region_name=REGION)
    pcx = ec2.create_vpc_peering_connection(VpcId=stack_vpc, PeerVpcId=other_vpc)["VpcPeeringConnection"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx["VpcPeeringConnectionId"])
    [exists, network] = preflight.check_database(env_cfg(tmp_path, database("cluster", "peered")), aws)
    assert network.level == "ok" and f"peered with the stack's VPC {stack_vpc} over pcx-" in network.text


def test_a_database_the_stacks_vpc_cannot_reach_fails(aws, tmp_path):
    """First deploy: the stack's VPC does not exist yet, so nothing is peered with it; and overlapping CIDRs
    can never be peered. mode endpoint: the VPC of the named security group."""
    other_vpc, other_subnets = vpc_with_db_subnets("10.90.0.0/16")
    db_instance("elsewhere", other_subnets)
    [exists, network] = preflight.check_database(env_cfg(tmp_path, database("instance", "elsewhere")), aws)
    assert network.level == "FAIL" and f"the database is in {other_vpc} (10.90.0.0/16)" in network.text
    assert "creates its own VPC (10.40.0.0/16), and nothing connects it to the database's" in network.text
    assert "fails at apply" in network.text
    assert f"Set database.network {{via: peering, vpc_id: {other_vpc}}}" in network.text  # one deploy, not two
    _, overlapping_subnets = vpc_with_db_subnets("10.40.0.0/20")
    db_instance("overlapping", overlapping_subnets)
    [exists, network] = preflight.check_database(env_cfg(tmp_path, database("instance", "overlapping")), aws)
    assert network.level == "FAIL" and "overlapping network.vpc_cidr 10.40.0.0/16" in network.text

    group = boto3.client("ec2", region_name=REGION).create_security_group(
        GroupName="db", Description="db", VpcId=other_vpc)["GroupId"]

    def endpoint(data):
        data["database"] = {"mode": "endpoint", "endpoint": "db.example.internal", "port": 5432,
                            "security_group_id": group, "allow_from": ["api"],
                            "credentials_secret_arn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"}
    [network] = preflight.check_database(env_cfg(tmp_path, endpoint), aws)
    assert network.level == "FAIL" and f"the database is in {other_vpc}" in network.text


def test_referenced_rds_identifier_that_does_not_exist_fails(aws, tmp_path):
    [finding] = preflight.check_database(env_cfg(tmp_path, database("instance", "araquem-db")), aws)
    assert finding.level == "FAIL" and "no RDS DB instance 'araquem-db'" in finding.text
    [finding] = preflight.check_database(env_cfg(tmp_path, database("cluster", "araquem-db")), aws)
    assert finding.level == "FAIL" and "no RDS DB cluster 'araquem-db'" in finding.text
    assert preflight.check_database(env_cfg(tmp_path), aws) == []  # stage: mode none, nothing to look up


# ------------------------------------------------------------------ database.network (one deploy)
def peered(identifier: str, vpc_id: str, **network):
    """database("instance", identifier) with database.network via peering to `vpc_id`."""
    def mutate(data):
        database("instance", identifier)(data)
        data["database"]["network"] = {"via": "peering", "vpc_id": vpc_id, **network}
    return mutate


def test_with_database_network_a_database_in_another_vpc_passes_on_the_first_deploy(aws, tmp_path):
    """The FAIL above ("nothing connects it") becomes OK once database.network names the database's VPC: this
    deploy creates the peering and the routes both ways (the stack's VPC does not exist yet)."""
    other_vpc, other_subnets = vpc_with_db_subnets("10.90.0.0/16")
    db_instance("elsewhere", other_subnets)
    [exists, network] = preflight.check_database(env_cfg(tmp_path, peered("elsewhere", other_vpc)), aws)
    assert (exists.level, network.level) == ("ok", "ok"), network.text
    assert f"the database's VPC {other_vpc} (10.90.0.0/16): this deploy peers it with the stack's VPC" in network.text
    assert "routes both ways (1 route table(s) of the database's VPC back to 10.40.0.0/16)" in network.text
    given = peered("elsewhere", other_vpc, cidrs=["10.90.0.0/17"])  # a part of its block is fine
    assert levels(preflight.check_database(env_cfg(tmp_path, given), aws)) == ["ok", "ok"]
    # DNS over the peering needs DNS hostnames in the database's VPC too (moto, like AWS, creates it off)
    boto3.client("ec2", region_name=REGION).modify_vpc_attribute(VpcId=other_vpc, EnableDnsHostnames={"Value": False})
    findings = preflight.check_database(env_cfg(tmp_path, peered("elsewhere", other_vpc)), aws)
    assert levels(findings) == ["ok", "ok", "warn"] and "enableDnsHostnames off" in findings[2].text
    no_dns = peered("elsewhere", other_vpc, dns_resolution=False)
    assert levels(preflight.check_database(env_cfg(tmp_path, no_dns), aws)) == ["ok", "ok"]


def test_database_network_that_cannot_work_fails(aws, tmp_path):
    other_vpc, other_subnets = vpc_with_db_subnets("10.90.0.0/16")
    db_instance("elsewhere", other_subnets)
    ec2 = boto3.client("ec2", region_name=REGION)
    # a VPC that is not in this account and Region
    [_, network] = preflight.check_database(env_cfg(tmp_path, peered("elsewhere", "vpc-0123456789abcdef0")), aws)
    assert network.level == "FAIL" and "vpc-0123456789abcdef0 is not a VPC of this account in us-east-1" in network.text
    # the database is in another VPC than the one named
    third = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]
    [_, network] = preflight.check_database(env_cfg(tmp_path, peered("elsewhere", third)), aws)
    assert network.level == "FAIL" and f"the database is in {other_vpc}, but database.network.vpc_id is {third}" \
        in network.text
    # blocks that are not the VPC's: routes to nowhere
    [_, network] = preflight.check_database(env_cfg(tmp_path, peered("elsewhere", other_vpc, cidrs=["10.95.0.0/16"])),
                                            aws)
    assert network.level == "FAIL" and "cidrs 10.95.0.0/16 are not blocks of the database's VPC" in network.text
    # the VPC's blocks overlap the stack's (looked up: the file gives none, so the load could not refuse it)
    overlapping, overlapping_subnets = vpc_with_db_subnets("10.40.0.0/20")
    db_instance("overlapping", overlapping_subnets)
    [_, network] = preflight.check_database(env_cfg(tmp_path, peered("overlapping", overlapping)), aws)
    assert network.level == "FAIL" and "overlaps network.vpc_cidr 10.40.0.0/16 (10.40.0.0/20)" in network.text
    # one of its route tables already routes the stack's block elsewhere: the route back would fail
    (main,) = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [other_vpc]}])["RouteTables"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=other_vpc)
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="10.40.0.0/16", GatewayId=gateway)
    [_, network] = preflight.check_database(env_cfg(tmp_path, peered("elsewhere", other_vpc)), aws)
    assert network.level == "FAIL" and f"route table {main['RouteTableId']} of {other_vpc} already routes " \
        f"10.40.0.0/16 to {gateway}" in network.text and "RouteAlreadyExists" in network.text


def test_a_peering_made_by_hand_fails_this_stacks_own_passes(aws, tmp_path):
    """Redeploy: the stack's VPC exists. Its own peering (Name tag <stack>-database) and the route back through
    it pass; a peering someone else made between the same VPCs fails (AWS allows one)."""
    stack_vpc, _ = vpc_with_db_subnets("10.40.0.0/16", name="araquem-stage")
    other_vpc, other_subnets = vpc_with_db_subnets("10.90.0.0/16")
    db_instance("elsewhere", other_subnets)
    ec2 = boto3.client("ec2", region_name=REGION)
    pcx = ec2.create_vpc_peering_connection(VpcId=stack_vpc, PeerVpcId=other_vpc)["VpcPeeringConnection"]
    pcx_id = pcx["VpcPeeringConnectionId"]
    ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=pcx_id)
    [_, network] = preflight.check_database(env_cfg(tmp_path, peered("elsewhere", other_vpc)), aws)
    assert network.level == "FAIL" and f"{pcx_id} already peers the stack's VPC {stack_vpc} with {other_vpc}" \
        in network.text
    ec2.create_tags(Resources=[pcx_id], Tags=[{"Key": "Name", "Value": "araquem-stage-database"}])
    (main,) = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [other_vpc]}])["RouteTables"]
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="10.40.0.0/16",
                     VpcPeeringConnectionId=pcx_id)
    assert levels(preflight.check_database(env_cfg(tmp_path, peered("elsewhere", other_vpc)), aws)) == ["ok", "ok"]


def via_transit_gateway(identifier: str, vpc_id: str, gateway: str):
    def mutate(data):
        database("instance", identifier)(data)
        data["database"]["network"] = {"via": "transit_gateway", "vpc_id": vpc_id, "transit_gateway_id": gateway}
    return mutate


def test_transit_gateway_needs_the_gateway_and_the_databases_attachment(aws, tmp_path):
    other_vpc, other_subnets = vpc_with_db_subnets("10.90.0.0/16")
    db_instance("elsewhere", other_subnets)
    ec2 = boto3.client("ec2", region_name=REGION)
    [_, network] = preflight.check_database(
        env_cfg(tmp_path, via_transit_gateway("elsewhere", other_vpc, "tgw-0123456789abcdef0")), aws)
    assert network.level == "FAIL" and "tgw-0123456789abcdef0 is not a transit gateway of this account" in network.text
    gateway = ec2.create_transit_gateway(Description="shared")["TransitGateway"]["TransitGatewayId"]
    [_, network] = preflight.check_database(env_cfg(tmp_path, via_transit_gateway("elsewhere", other_vpc, gateway)),
                                            aws)
    assert network.level == "FAIL" and f"the database's VPC {other_vpc} is not attached to {gateway}" in network.text
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [other_vpc]}])["Subnets"]]
    ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=gateway, VpcId=other_vpc, SubnetIds=subnets)
    findings = preflight.check_database(env_cfg(tmp_path, via_transit_gateway("elsewhere", other_vpc, gateway)), aws)
    assert levels(findings) == ["ok", "ok"], [f.text for f in findings]
    assert f"this deploy attaches the stack's VPC to {gateway}" in findings[1].text
    ec2.modify_transit_gateway(TransitGatewayId=gateway, Options={"DefaultRouteTablePropagation": "disable"})
    findings = preflight.check_database(env_cfg(tmp_path, via_transit_gateway("elsewhere", other_vpc, gateway)), aws)
    assert levels(findings) == ["ok", "ok", "warn"] and "default route table propagation off" in findings[2].text
