"""Preflight checks of data the stack reads but does not create: secrets that must hold a value (and the
JSON keys ECS asks for) before their readers start, and the referenced RDS database: that it exists, and that
the stack's tasks can reach it (its VPC is the stack's, or peered with it).

GetSecretValue is the one call that reads a value: only key names are compared and printed; the value never
leaves `_json_keys`."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

from modules.commands.preflight.findings import (
    ACCESS_DENIED_CODES,
    FAIL,
    OK,
    WARN,
    Aws,
    Finding,
    error_code,
    per_item,
)
from modules.config import EnvConfig

# ------------------------------------------------------------------ secrets
@dataclass(frozen=True)
class NeededSecret:
    ref: str          # the env file's name for it (or the ARN)
    secret_id: str    # Secrets Manager name or ARN
    keys: tuple[str, ...]
    created_here: bool  # this stack creates it (empty) on its first apply
    why: str


def needed_secrets(cfg: EnvConfig) -> list[NeededSecret]:
    """Secrets that must hold a value before the services (or resources) reading them start."""
    needed = []
    oidc = cfg.alb.grafana.oidc.client_secret if cfg.alb.grafana.exposure == "sso" and cfg.alb.grafana.oidc else None
    for name, spec in sorted(cfg.secrets.items()):
        if spec.generate:
            continue  # generated during the apply
        if not spec.keys and name != oidc and not spec.existing:
            continue
        if name == oidc:
            why = "the Grafana SSO listener rule's OIDC client secret"
        elif name == cfg.registry.docker_hub_secret and cfg.registry.pull_through_cache:
            why = "the Docker Hub login of the ECR pull-through cache rule"
        else:
            why = "set out of band"
        needed.append(NeededSecret(name, cfg.secret_name(name), tuple(spec.keys), not spec.existing, why))
    db = cfg.database
    if db.mode != "none" and db.credentials_secret_arn:
        needed.append(NeededSecret("database.credentials_secret_arn", db.credentials_secret_arn,
                                   (db.username_key, db.password_key), False, "the database credentials"))
    return needed


def _json_keys(sm, secret_id: str) -> set[str] | None:
    """The key names of a JSON secret's current value (None: not a JSON object). The value stays here."""
    value = sm.get_secret_value(SecretId=secret_id).get("SecretString")
    try:
        parsed = json.loads(value) if value is not None else None
    except ValueError:
        return None
    return set(parsed) if isinstance(parsed, dict) else None


def check_secrets(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    return per_item(needed_secrets(cfg), lambda secret: f"secret {secret.ref}", "secretsmanager:DescribeSecret",
                    lambda secret: _check_secret(cfg, aws.client("secretsmanager"), secret))


def _check_secret(cfg: EnvConfig, sm, secret: NeededSecret) -> Finding:
    check = f"secret {secret.ref}"
    value = ("'{" + ", ".join(f'"{k}": ...' for k in secret.keys) + "}'") if secret.keys else "<value>"
    put = (f"aws secretsmanager put-secret-value --region {cfg.region} --secret-id {secret.secret_id} "
           f"--secret-string {value}")
    try:
        desc = sm.describe_secret(SecretId=secret.secret_id)
    except sm.exceptions.ResourceNotFoundException:
        if secret.created_here:
            return Finding(WARN, check, f"{secret.secret_id} does not exist yet: this deploy creates it empty, and "
                                        f"what reads it cannot start until you set it right after ({put}; "
                                        f"docs/runbook.md)")
        create = ("" if secret.secret_id.startswith("arn:") else
                  f": aws secretsmanager create-secret --region {cfg.region} --name {secret.secret_id} "
                  f"--secret-string {value}")
        return Finding(FAIL, check, f"{secret.secret_id} does not exist ({secret.why}): create it with its value "
                                    f"before the deploy (docs/runbook.md step 0){create}")
    if desc.get("DeletedDate"):
        return Finding(FAIL, check, f"{secret.secret_id} is scheduled for deletion: aws secretsmanager "
                                    f"restore-secret --region {cfg.region} --secret-id {secret.secret_id}")
    stages = desc.get("VersionIdsToStages") or {}
    if not any("AWSCURRENT" in labels for labels in stages.values()):
        return Finding(FAIL, check, f"{secret.secret_id} has no value (no AWSCURRENT version; {secret.why}): {put}")
    if not secret.keys:
        return Finding(OK, check, "has a value")
    try:
        keys = _json_keys(sm, secret.secret_id)
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) in ACCESS_DENIED_CODES | {"KMSAccessDeniedException", "DecryptionFailure"}:
            return Finding(WARN, check, f"has a value; its keys are not checked ({error_code(exc)} on "
                                        f"GetSecretValue): it must hold {', '.join(secret.keys)}")
        raise
    if keys is None:
        return Finding(FAIL, check, f"{secret.secret_id} is not a JSON object; ECS reads the keys "
                                    f"{', '.join(secret.keys)} from it: {put}")
    if missing := [k for k in secret.keys if k not in keys]:
        return Finding(FAIL, check, f"{secret.secret_id} lacks the key(s) {', '.join(missing)} (tasks reading "
                                    f"them fail to start): {put}")
    return Finding(OK, check, f"has a value with the keys {', '.join(secret.keys)}")


def check_database(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    db = cfg.database
    if db.mode == "endpoint":
        return check_database_network(cfg, aws)
    if db.mode not in ("instance", "cluster"):
        return []
    rds = aws.client("rds")
    check = f"database {db.identifier}"
    try:
        if db.mode == "instance":
            found = rds.describe_db_instances(DBInstanceIdentifier=db.identifier)["DBInstances"][0]
            status = found.get("DBInstanceStatus")
        else:
            found = rds.describe_db_clusters(DBClusterIdentifier=db.identifier)["DBClusters"][0]
            status = found.get("Status")
    except (rds.exceptions.DBInstanceNotFoundFault, rds.exceptions.DBClusterNotFoundFault):
        return [Finding(FAIL, check, f"no RDS {'DB instance' if db.mode == 'instance' else 'DB cluster'} "
                                     f"'{db.identifier}' in {cfg.region}: fix database.identifier (aws rds "
                                     f"describe-db-{db.mode}s --region {cfg.region}) or database.mode")]
    if status != "available":
        return [Finding(WARN, check, f"exists but is '{status}', not available"), *check_database_network(cfg, aws, found)]
    return [Finding(OK, check, f"{db.mode} exists and is available"), *check_database_network(cfg, aws, found)]


def _database_vpc(cfg: EnvConfig, aws: Aws, found: dict | None) -> str | None:
    """The VPC the database lives in: its DB subnet group's (instance: in DescribeDBInstances; cluster: by the
    group's name), or, for `mode: endpoint`, the VPC of the security group the env file names."""
    if cfg.database.mode == "endpoint":
        groups = aws.client("ec2").describe_security_groups(GroupIds=[cfg.database.security_group_id])
        return groups["SecurityGroups"][0]["VpcId"]
    group = (found or {}).get("DBSubnetGroup")
    if isinstance(group, dict):
        return group.get("VpcId")
    if group:
        try:
            return aws.client("rds").describe_db_subnet_groups(DBSubnetGroupName=group)["DBSubnetGroups"][0]["VpcId"]
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) != "DBSubnetGroupNotFoundFault":
                raise
    return None


def _vpc_blocks(vpc: dict) -> list[str]:
    return sorted({vpc["CidrBlock"], *(a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", [])
                                       if a.get("CidrBlockState", {}).get("State", "associated") == "associated")})


def _stack_vpc(cfg: EnvConfig, ec2) -> str | None:
    """The stack's VPC once deployed: found by its Name tag and network.vpc_cidr (modules/network.py)."""
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [cfg.name]},
                                       {"Name": "cidr-block-association.cidr-block",
                                        "Values": [cfg.network.vpc_cidr]}])["Vpcs"]
    return found[0]["VpcId"] if found else None


def check_database_network(cfg: EnvConfig, aws: Aws, found: dict | None = None) -> list[Finding]:
    """The stack opens the DB's security group to the tasks' group (modules/database.py): AWS accepts a rule
    referencing another VPC's group only over an active VPC peering connection in the same Region ("Update your
    security groups to reference peer security groups", VPC peering guide), and the tasks reach the DB only with
    routes both ways. Without `database.network` the stack creates no link, so the DB must be in the stack's VPC
    or already peered with it; with it, this deploy creates the link (check_database_path). VPCs whose CIDRs
    overlap cannot be peered at all (VPC peering limitations)."""
    check = "database network"
    db_vpc = _database_vpc(cfg, aws, found)
    if cfg.database.network is not None:
        return check_database_path(cfg, aws, db_vpc)
    if db_vpc is None:
        return [Finding(WARN, check, "the database's VPC is not known (no DB subnet group): the stack's tasks reach "
                                     "it only from the stack's VPC or a VPC connected to it (database.network)")]
    ec2, ours = aws.client("ec2"), ipaddress.ip_network(cfg.network.vpc_cidr)
    stack_vpc = _stack_vpc(cfg, ec2)
    if db_vpc == stack_vpc:
        return [Finding(OK, check, f"the database is in the stack's VPC {db_vpc}")]
    cidrs = _vpc_blocks(ec2.describe_vpcs(VpcIds=[db_vpc])["Vpcs"][0])
    where = f"the database is in {db_vpc} ({', '.join(cidrs)})"
    if overlapping := [c for c in cidrs if ipaddress.ip_network(c).overlaps(ours)]:
        return [Finding(FAIL, check, f"{where}, overlapping network.vpc_cidr {ours} ({', '.join(overlapping)}): "
                                     "VPCs with overlapping CIDRs cannot be peered, so the tasks could never reach "
                                     "it; choose a network.vpc_cidr outside those ranges")]
    if stack_vpc:
        peerings = ec2.describe_vpc_peering_connections(Filters=[
            {"Name": "status-code", "Values": ["active"]},
            {"Name": "requester-vpc-info.vpc-id", "Values": [db_vpc, stack_vpc]},
            {"Name": "accepter-vpc-info.vpc-id", "Values": [db_vpc, stack_vpc]}])["VpcPeeringConnections"]
        if peerings:
            return [Finding(OK, check, f"{where}, peered with the stack's VPC {stack_vpc} over "
                                       f"{peerings[0]['VpcPeeringConnectionId']} (the routes both ways are the "
                                       "peering's owner's to keep)")]
    not_yet = (f"the stack's VPC {stack_vpc} is not connected to it" if stack_vpc else
               f"the stack creates its own VPC ({ours}), and nothing connects it to the database's")
    return [Finding(FAIL, check, f"{where}; {not_yet}: the rule the stack adds to the database's security group "
                                 "(referencing the tasks' group) fails at apply, and the tasks could not reach the "
                                 f"database anyway. Set database.network {{via: peering, vpc_id: {db_vpc}}} (or via "
                                 "transit_gateway) and this deploy connects them, routes both ways "
                                 "(docs/data-and-secrets.md), or move the database into the stack's VPC")]


def _not_found(exc: Exception) -> bool:
    return error_code(exc).endswith(".NotFound") or error_code(exc).endswith(".Malformed")


def check_database_path(cfg: EnvConfig, aws: Aws, db_vpc: str | None) -> list[Finding]:
    """`database.network`: what this deploy's peering or transit gateway attachment needs from the account.
    The database's VPC exists in this account and Region (auto_accept, and routes in its tables, need both), its
    blocks do not overlap network.vpc_cidr and hold the `cidrs` given, the database is in it; no route in its
    tables already holds the stack's block (the route back would fail with RouteAlreadyExists). Peering: no other
    peering already joins the two VPCs (AWS allows one at a time). Transit gateway: it exists, is available and
    the database's VPC is attached to it; without default association and propagation nothing routes between
    the attachments (a warning: the gateway's route tables are its owner's)."""
    check, net, ec2 = "database network", cfg.database.network, aws.client("ec2")
    ours = ipaddress.ip_network(cfg.network.vpc_cidr)
    try:
        (vpc,) = ec2.describe_vpcs(VpcIds=[net.vpc_id])["Vpcs"]
    except Exception as exc:  # noqa: BLE001
        if not _not_found(exc):
            raise
        return [Finding(FAIL, check, f"database.network.vpc_id {net.vpc_id} is not a VPC of this account in "
                                     f"{cfg.region}: the stack peers (or attaches to) a VPC of its own account and "
                                     f"Region only; fix the id (aws ec2 describe-vpcs --region {cfg.region})")]
    blocks = _vpc_blocks(vpc)
    where = f"the database's VPC {net.vpc_id} ({', '.join(blocks)})"
    if overlapping := [c for c in blocks if ipaddress.ip_network(c).overlaps(ours)]:
        return [Finding(FAIL, check, f"{where} overlaps network.vpc_cidr {ours} ({', '.join(overlapping)}): VPCs "
                                     "with overlapping CIDRs cannot be peered or routed to each other; choose a "
                                     "network.vpc_cidr outside those ranges")]
    if outside := [c for c in net.cidrs
                   if not any(ipaddress.ip_network(c).subnet_of(ipaddress.ip_network(b)) for b in blocks)]:
        return [Finding(FAIL, check, f"database.network.cidrs {', '.join(outside)} are not blocks of {where}: the "
                                     "tasks' routes to them would lead nowhere; list its blocks, or omit cidrs to "
                                     "route to all of them")]
    if db_vpc is not None and db_vpc != net.vpc_id:
        return [Finding(FAIL, check, f"the database is in {db_vpc}, but database.network.vpc_id is {net.vpc_id}: "
                                     f"set database.network.vpc_id: {db_vpc}")]
    stack_vpc = _stack_vpc(cfg, ec2)
    if net.via == "peering":
        problem, links = _existing_peering(cfg, ec2, stack_vpc)
    else:
        problem, links = _transit_gateway(cfg, ec2), set()
    if problem is not None:
        return [problem]
    problem, tables = _route_back_is_free(cfg, ec2, stack_vpc, links)
    if problem is not None:
        return [problem]
    link = ("peers it with the stack's VPC" if net.via == "peering"
            else f"attaches the stack's VPC to {net.transit_gateway_id}")
    findings = [Finding(OK, check, f"{where}: this deploy {link}, with routes both ways ({tables} route table(s) "
                                   f"of the database's VPC back to {ours})")]
    if db_vpc is None:
        findings.append(Finding(WARN, check, "the database's own VPC is not known (no DB subnet group): make sure it "
                                             f"is {net.vpc_id}"))
    if net.via == "transit_gateway":
        findings += _transit_gateway_routing(cfg, ec2)
    elif net.dns_resolution:
        findings += _peer_dns(cfg, ec2)
    return findings


def _peer_dns(cfg: EnvConfig, ec2) -> list[Finding]:
    """DNS resolution over a peering works only when both VPCs have DNS resolution and DNS hostnames on (VPC
    peering guide, "Enable DNS resolution for a VPC peering connection"); the stack's VPC has both."""
    net = cfg.database.network
    off = [attribute for attribute, key in (("enableDnsSupport", "EnableDnsSupport"),
                                            ("enableDnsHostnames", "EnableDnsHostnames"))
           if not ec2.describe_vpc_attribute(VpcId=net.vpc_id, Attribute=attribute)[key]["Value"]]
    if not off:
        return []
    return [Finding(WARN, "database network",
                    f"{net.vpc_id} has {' and '.join(off)} off: the database's DNS names will not resolve to private "
                    "addresses over the peering (dns_resolution); turn them on (aws ec2 modify-vpc-attribute "
                    f"--vpc-id {net.vpc_id} --enable-dns-hostnames) or use a private endpoint")]


def _existing_peering(cfg: EnvConfig, ec2, stack_vpc: str | None) -> tuple[Finding | None, set[str]]:
    """(a FAIL when a peering this stack did not make already joins the two VPCs, the ids of ours)."""
    net = cfg.database.network
    if stack_vpc is None:
        return None, set()
    peerings = ec2.describe_vpc_peering_connections(Filters=[
        {"Name": "status-code", "Values": ["active", "pending-acceptance", "provisioning"]},
        {"Name": "requester-vpc-info.vpc-id", "Values": [net.vpc_id, stack_vpc]},
        {"Name": "accepter-vpc-info.vpc-id", "Values": [net.vpc_id, stack_vpc]}])["VpcPeeringConnections"]
    name = f"{cfg.name}-database"  # modules/database_network.py's Name tag
    ours = {p["VpcPeeringConnectionId"] for p in peerings
            if {"Key": "Name", "Value": name} in (p.get("Tags") or [])}
    if others := sorted({p["VpcPeeringConnectionId"] for p in peerings} - ours):
        return Finding(FAIL, "database network",
                       f"{others[0]} already peers the stack's VPC {stack_vpc} with {net.vpc_id}, and AWS allows one "
                       "peering between two VPCs: remove database.network (that peering serves; its owner keeps the "
                       "routes) or delete it before the deploy"), ours
    return None, ours


def _transit_gateway(cfg: EnvConfig, ec2) -> Finding | None:
    """A FAIL when the transit gateway is missing, not available, or the database's VPC is not attached to it."""
    net, check = cfg.database.network, "database network"
    try:  # AWS answers an unknown id with InvalidTransitGatewayID.NotFound, moto with an empty list
        gateway = next(iter(ec2.describe_transit_gateways(
            TransitGatewayIds=[net.transit_gateway_id])["TransitGateways"]), None)
    except Exception as exc:  # noqa: BLE001
        if not _not_found(exc):
            raise
        gateway = None
    if gateway is None or gateway.get("State") in ("deleting", "deleted"):
        return Finding(FAIL, check, f"database.network.transit_gateway_id {net.transit_gateway_id} is not a transit "
                                    f"gateway of this account in {cfg.region} (aws ec2 describe-transit-gateways "
                                    f"--region {cfg.region})")
    if gateway.get("State") != "available":
        return Finding(FAIL, check, f"transit gateway {net.transit_gateway_id} is '{gateway.get('State')}', not "
                                    "available: the attachment would fail")
    attached = ec2.describe_transit_gateway_vpc_attachments(Filters=[
        {"Name": "transit-gateway-id", "Values": [net.transit_gateway_id]},
        {"Name": "vpc-id", "Values": [net.vpc_id]},
        {"Name": "state", "Values": ["available"]}])["TransitGatewayVpcAttachments"]
    if not attached:
        return Finding(FAIL, check, f"the database's VPC {net.vpc_id} is not attached to {net.transit_gateway_id}: "
                                    "the stack attaches only its own VPC, so the traffic would stop at the gateway; "
                                    f"attach it first (aws ec2 create-transit-gateway-vpc-attachment --region "
                                    f"{cfg.region} --transit-gateway-id {net.transit_gateway_id} --vpc-id "
                                    f"{net.vpc_id} --subnet-ids <one subnet per AZ>) or use via peering")
    return None


def _transit_gateway_routing(cfg: EnvConfig, ec2) -> list[Finding]:
    net = cfg.database.network
    (gateway,) = ec2.describe_transit_gateways(TransitGatewayIds=[net.transit_gateway_id])["TransitGateways"]
    options = gateway.get("Options") or {}
    off = [name for name, key in (("association", "DefaultRouteTableAssociation"),
                                  ("propagation", "DefaultRouteTablePropagation")) if options.get(key) != "enable"]
    if not off:
        return []
    return [Finding(WARN, "database network",
                    f"transit gateway {net.transit_gateway_id} has default route table {' and '.join(off)} off: the "
                    "stack's attachment will not be associated with (or propagate its block to) a gateway route "
                    "table by itself; its owner must add both after the deploy, or the traffic stops at the gateway")]


def _route_back_is_free(cfg: EnvConfig, ec2, stack_vpc: str | None,
                        our_peerings: set[str]) -> tuple[Finding | None, int]:
    """(a FAIL when one of the database VPC's route tables already routes network.vpc_cidr elsewhere, how many
    tables get the route back). A route this stack made on an earlier deploy is its own."""
    net, check = cfg.database.network, "database network"
    try:
        if net.route_table_ids:
            tables = ec2.describe_route_tables(RouteTableIds=list(net.route_table_ids))["RouteTables"]
        else:
            tables = ec2.describe_route_tables(
                Filters=[{"Name": "vpc-id", "Values": [net.vpc_id]}])["RouteTables"]
    except Exception as exc:  # noqa: BLE001
        if not _not_found(exc):
            raise
        return Finding(FAIL, check, f"database.network.route_table_ids: not all of {', '.join(net.route_table_ids)} "
                                    f"exist in {cfg.region} (aws ec2 describe-route-tables --filters "
                                    f"Name=vpc-id,Values={net.vpc_id})"), 0
    if foreign := sorted(t["RouteTableId"] for t in tables if t.get("VpcId") != net.vpc_id):
        return Finding(FAIL, check, f"database.network.route_table_ids {', '.join(foreign)} are not route tables of "
                                    f"{net.vpc_id}: list that VPC's own"), 0
    for table in tables:
        for route in table.get("Routes", []):
            if route.get("DestinationCidrBlock") != cfg.network.vpc_cidr:
                continue
            ours = route.get("VpcPeeringConnectionId") in our_peerings or (
                stack_vpc is not None and net.via == "transit_gateway"
                and route.get("TransitGatewayId") == net.transit_gateway_id)
            if not ours:
                target = next((v for k, v in route.items() if k.endswith("Id") and v), "another target")
                return Finding(FAIL, check, f"route table {table['RouteTableId']} of {net.vpc_id} already routes "
                                            f"{cfg.network.vpc_cidr} to {target}: the stack's route back would fail "
                                            "(RouteAlreadyExists); delete that route, or list the other tables in "
                                            "database.network.route_table_ids"), 0
    return None, len(tables)
