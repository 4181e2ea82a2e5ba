"""Database rules: a service that reads a Postgres connection is given one (database.mode and allow_from);
the database's VPC (database.network) can be routed to from the stack's (docs/data-and-secrets.md)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from modules.config.base import Problem

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig

# DATABASE_URL (the twelve-factor convention the api's .env follows) and libpq's connection variables
# (PostgreSQL manual, "Environment Variables"): a container reading one of them expects a Postgres to reach.
POSTGRES_CONNECTION_VARIABLES = ("DATABASE_URL", "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER",
                                 "PGPASSWORD", "PGSERVICE")
POSTGRES_URL_SCHEMES = ("postgres", "postgresql")


def _served_elsewhere(cfg: EnvConfig, variable: str, value: str) -> bool:
    """A plain `environment` value that shows it needs no database reference: a URL of another engine
    (sqlite:///..., mysql://...), or a host that is one of the stack's own services (a Postgres service)."""
    if variable == "DATABASE_URL":
        parts = urlsplit(value)
        if parts.scheme.split("+")[0] not in POSTGRES_URL_SCHEMES:
            return True
        host = parts.hostname or ""
    elif variable in ("PGHOST", "PGHOSTADDR"):
        host = value
    else:
        return False
    label, _, rest = host.partition(".")
    return label in cfg.services and rest in ("", cfg.dns_namespace)


def database_reads(cfg: EnvConfig, name: str) -> list[str]:
    """The Postgres connection variables service `name` reads, each with where it comes from."""
    svc = cfg.services[name]
    wanted = set(POSTGRES_CONNECTION_VARIABLES) | set(cfg.database.env.model_dump().values())
    reads = [f"{var} (environment)" for var, value in svc.environment.items()
             if var in wanted and not _served_elsewhere(cfg, var, value)]
    reads += [f"{var} (parameters)" for var in svc.parameters if var in wanted]
    reads += [f"{var} (secrets)" for var in svc.secrets if var in wanted]
    for secret in svc.secrets_from:
        keys = cfg.secrets[secret].keys if secret in cfg.secrets else []
        reads += [f"{key} (key of secrets.{secret}, via secrets_from)" for key in keys if key in wanted]
    return reads


def _egress_by_hand(cfg: EnvConfig, name: str) -> bool:
    """The service's task has its own `egress` rule on the database port: a Postgres the env file cannot
    reference (another account or Region, docs/data-and-secrets.md), reached with a connection it was given."""
    owner = cfg.task_owner(name)
    return any(rule.port == cfg.database.port for svc in cfg.containers_of(owner).values() for rule in svc.egress)


def services_reading_a_database_are_given_one(cfg: EnvConfig) -> list[Problem]:
    """A service that reads a Postgres connection (DATABASE_URL, libpq's PG* variables) has a database to
    reach: database.mode is not 'none', and the service (or the task it runs in) is in database.allow_from,
    which opens the database's security group to its task and its task's egress to the database; or its task
    has an `egress` rule on the database port of its own (a database outside this account or Region). Otherwise
    the task starts with a connection string and no network path to it."""
    db, problems = cfg.database, []
    allowed = {cfg.task_owner(s) for s in db.allow_from if s in cfg.services}
    for name in cfg.services:
        reads = database_reads(cfg, name)
        if not reads or _egress_by_hand(cfg, name):
            continue
        what = f"'{name}' reads {', '.join(reads)}, a Postgres connection"
        drop = f"or stop giving '{name}' those variables if it needs no database"
        if db.mode == "none":
            problems.append((("services", name),
                             f"{what}, but database.mode is 'none': nothing gives it a database (no endpoint, no "
                             "security-group rule, no egress to Postgres). Set database.mode (instance | cluster | "
                             f"endpoint) with its reference and allow_from: [{name}] (and database.network when the "
                             f"database is in another VPC; docs/data-and-secrets.md); for a database in another account or Region "
                             f"give its task an egress rule on port {db.port} to its addresses, {drop}"))
        elif cfg.task_owner(name) not in allowed:
            problems.append((("services", name),
                             f"{what}, but it is not in database.allow_from: its task gets no egress to the "
                             f"database and the database's security group does not admit it. Add '{name}' to "
                             f"database.allow_from, {drop}"))
    return problems


def database_network_cidrs_do_not_overlap_the_vpc(cfg: EnvConfig) -> list[Problem]:
    """database.network.cidrs (the database VPC's blocks) do not overlap network.vpc_cidr: AWS refuses to
    peer VPCs with overlapping CIDR blocks (VPC peering guide, "VPC peering limitations"), and through a
    transit gateway the stack's own local route would win, so the database could never be reached."""
    net = cfg.database.network
    if net is None:
        return []
    ours = ipaddress.ip_network(cfg.network.vpc_cidr)
    return [(("database", "network", "cidrs", i),
             f"{cidr} overlaps network.vpc_cidr {ours}: VPCs with overlapping CIDR blocks cannot be "
             f"{'peered' if net.via == 'peering' else 'routed to each other'}; allowed: a network.vpc_cidr "
             "outside the database VPC's blocks (or remove the overlapping block)")
            for i, cidr in enumerate(net.cidrs) if ipaddress.ip_network(cidr).overlaps(ours)]
