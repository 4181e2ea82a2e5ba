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


def check_database_network(cfg: EnvConfig, aws: Aws, found: dict | None = None) -> list[Finding]:
    """The stack opens the DB's security group to the tasks' group (modules/database.py): AWS accepts a rule
    referencing another VPC's group only over an active VPC peering connection in the same Region ("Update your
    security groups to reference peer security groups", VPC peering guide), and the tasks reach the DB only with
    routes both ways. The stack creates its own VPC and no peering, so the DB must be in that VPC or peered
    with it; VPCs whose CIDRs overlap cannot be peered at all (VPC peering limitations)."""
    check = "database network"
    db_vpc = _database_vpc(cfg, aws, found)
    if db_vpc is None:
        return [Finding(WARN, check, "the database's VPC is not known (no DB subnet group): the stack's tasks reach "
                                     "it only from the stack's VPC or a VPC peered with it")]
    ec2, ours = aws.client("ec2"), ipaddress.ip_network(cfg.network.vpc_cidr)
    stack_vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [cfg.name]},
                                            {"Name": "cidr-block-association.cidr-block",
                                             "Values": [cfg.network.vpc_cidr]}])["Vpcs"]
    stack_vpc = stack_vpcs[0]["VpcId"] if stack_vpcs else None
    if db_vpc == stack_vpc:
        return [Finding(OK, check, f"the database is in the stack's VPC {db_vpc}")]
    vpc = ec2.describe_vpcs(VpcIds=[db_vpc])["Vpcs"][0]
    cidrs = sorted({vpc["CidrBlock"], *(a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", []))})
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
    not_yet = (f"the stack's VPC {stack_vpc} is not peered with it" if stack_vpc else
               f"the stack creates its own VPC ({ours}) on its first deploy, with no peering")
    return [Finding(FAIL, check, f"{where}; {not_yet}: the rule the stack adds to the database's security group "
                                 "(referencing the tasks' group) fails at apply, and the tasks could not reach the "
                                 "database anyway. Deploy with database.mode none first, then peer the stack's VPC "
                                 "with the database's (same Region; routes both ways) or move the database into the "
                                 "stack's VPC, then set database.mode again (docs/data-and-secrets.md)")]


