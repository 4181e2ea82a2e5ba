"""Reference to an existing Postgres (seed §3.2, §7): looked up or given by endpoint; nothing is created.

Modes: `instance` / `cluster` read host, port and security group from a data source (the DB must exist
at plan time); `endpoint` takes them from the env file; `none` creates nothing. The generator opens the
DB's group to each `database.allow_from` task group (and that group's egress to the DB) and hands those services the connection: host,
port (and database name) as SSM parameters, user and password as keys of the existing credentials
secret (values stay in Secrets Manager; only ARNs are in the JSON).

A database in another VPC (`database.network`, modules/database_network.py): over a same-Region peering the
rules still name the groups (AWS accepts a reference to a peer VPC's group once the peering is active, so
they are created after it); through a transit gateway a group cannot be named across (without the gateway's
security-group referencing, not switched on here), so the DB's group admits the stack's private subnets and
the task groups leave towards the database VPC's blocks.
"""

from __future__ import annotations

from cdktf import Fn, Token
from cdktf_cdktf_provider_aws.data_aws_db_instance import DataAwsDbInstance
from cdktf_cdktf_provider_aws.data_aws_rds_cluster import DataAwsRdsCluster
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from modules.config import EnvConfig
from modules.database_network import DatabaseNetwork
from modules.network import flat_output
from modules.parameters import Parameters
from modules.security_groups import SecurityGroups


class Database(Construct):
    """Exposes `secret_env()`, `secret_arns`, `kms_key_arns`, `parameter_arns`, `host`, `port`, `security_group_id`."""

    def __init__(self, scope: Construct, construct_id: str, cfg: EnvConfig, security: SecurityGroups,
                 parameters: Parameters, path: DatabaseNetwork | None = None):
        super().__init__(scope, construct_id)
        db = cfg.database
        self._env: dict[str, str] = {}
        self.secret_arns: list[str] = []
        self.kms_key_arns: list[str] = [db.credentials_kms_key_arn] if db.credentials_kms_key_arn else []
        self.parameter_arns: list[str] = []
        self.host = self.port = self.security_group_id = None
        if db.mode == "none":
            return

        self._locate(db)
        if path is not None and path.via == "transit_gateway":
            self._open_across_transit_gateway(cfg, security, path)
        else:
            self._open_to(cfg, security, path.ready if path is not None else None)
        self._hand_over(cfg, parameters)
        flat_output(self, "database_host", self.host, "Postgres host (existing database)")
        flat_output(self, "database_security_group_id", self.security_group_id,
                    "the DB group opened to database.allow_from")

    def _locate(self, db) -> None:
        """host, port and security group: from a data source (instance, cluster) or the env file (endpoint)."""
        if db.mode == "instance":
            found = DataAwsDbInstance(self, "instance", db_instance_identifier=db.identifier)
            self.host, self.port, groups = found.address, found.port, found.vpc_security_groups
        elif db.mode == "cluster":
            found = DataAwsRdsCluster(self, "cluster", cluster_identifier=db.identifier)
            # a set attribute: cdktf already reads it through tolist()
            self.host, self.port, groups = found.endpoint, found.port, found.vpc_security_group_ids
        else:
            self.host, self.port, groups = db.endpoint, db.port, None
        if db.security_group_id:
            self.security_group_id = db.security_group_id
        else:
            # A looked-up DB may carry several groups; the first in sorted order is a stable choice (a
            # list token cannot be indexed in Python, so Terraform's element() picks it at plan time).
            self.security_group_id = Token.as_string(Fn.element(Fn.sort(groups), 0))

    def _open_to(self, cfg: EnvConfig, security: SecurityGroups, after: list | None) -> None:
        """The DB's group admits each `database.allow_from` task group, and that group may leave towards it.
        `after`: the peering to the DB's VPC (and its options), which must be active before a rule names a group
        across it."""
        for owner in sorted({cfg.task_owner(s) for s in cfg.database.allow_from}):
            VpcSecurityGroupIngressRule(
                self, f"ingress_from_{owner}",
                security_group_id=self.security_group_id,
                referenced_security_group_id=security.for_service(owner),
                ip_protocol="tcp",
                from_port=self.port,
                to_port=self.port,
                description=f"{cfg.name}: Postgres from {owner} (database.allow_from)",
                depends_on=after,
            )
            # and the way out of the task's group (task groups have no catch-all egress)
            VpcSecurityGroupEgressRule(
                self, f"egress_from_{owner}",
                security_group_id=security.for_service(owner),
                referenced_security_group_id=self.security_group_id,
                ip_protocol="tcp",
                from_port=self.port,
                to_port=self.port,
                description=f"{owner} to Postgres (database.allow_from)",
                depends_on=after,
            )

    def _open_across_transit_gateway(self, cfg: EnvConfig, security: SecurityGroups, path: DatabaseNetwork) -> None:
        """The DB's group admits the stack's private subnets (where every task runs; only the allow_from task
        groups have the egress below), and each allow_from task group may leave towards the database VPC."""
        for i, cidr in enumerate(path.stack_subnet_cidrs):
            VpcSecurityGroupIngressRule(
                self, f"ingress_from_private_{i}",
                security_group_id=self.security_group_id,
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=self.port,
                to_port=self.port,
                description=f"{cfg.name}: Postgres from private subnet {i + 1} (database.allow_from, transit gateway)",
            )
        for owner in sorted({cfg.task_owner(s) for s in cfg.database.allow_from}):
            each, cidr = path.each_peer_cidr()
            VpcSecurityGroupEgressRule(
                self, f"egress_from_{owner}",
                for_each=each,
                security_group_id=security.for_service(owner),
                cidr_ipv4=cidr,
                ip_protocol="tcp",
                from_port=self.port,
                to_port=self.port,
                description=f"{owner} to Postgres (database.allow_from, transit gateway)",
            )

    def _hand_over(self, cfg: EnvConfig, parameters: Parameters) -> None:
        """host/port/name as SSM parameters, user and password as keys of the existing credentials secret."""
        db = cfg.database
        port_text = Token.as_string(self.port) if not isinstance(self.port, int) else str(self.port)
        values = {db.env.host: ("database/host", self.host), db.env.port: ("database/port", port_text)}
        if db.name:
            values[db.env.database] = ("database/name", db.name)
        for variable, (key, value) in values.items():
            arn = parameters.define(key, value, f"{cfg.name}: Postgres {key.split('/')[1]} ({db.mode} reference)")
            self._env[variable] = arn
            self.parameter_arns.append(arn)
        # `<secret arn>:<json key>::` selects one key of the JSON secret (ECS valueFrom syntax).
        self._env[db.env.username] = f"{db.credentials_secret_arn}:{db.username_key}::"
        self._env[db.env.password] = f"{db.credentials_secret_arn}:{db.password_key}::"
        self.secret_arns.append(db.credentials_secret_arn)

    def secret_env(self) -> dict[str, str]:
        """{env var: valueFrom ARN} for the services in `database.allow_from` (empty with mode none)."""
        return dict(self._env)
