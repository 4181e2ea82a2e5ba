"""End-to-end proof: the stage stack deployed THE WAY USERS DO (`cdktf deploy`) against moto's server,
re-planned with no changes (and that plan's JSON scanned by trivy), and destroyed (`cdktf destroy`).

Any env file runs the same way: `ARAQUEM_EMULATOR_ENV_FILES=a.yaml{os.pathsep}b.yaml` (os.pathsep-separated)
gives one deploy/re-plan/destroy per file, each on its own moto server, stack name and region from the file
(docs/proof.md, "Deploy your own env file on the emulator"). With the variable set, only those files run:
the stage run is skipped (it is the default run, and a reviewer's run should not pay for it).

What moto 5.2 cannot do is listed ONCE, below (EMULATOR_EXCLUSIONS: features the emulator's env file
switches off; TOLERATED_DRIFT: attributes moto does not read back). docs/proof.md carries the same list
for readers; test_every_exclusion_is_documented keeps the two in step. Anything not listed must apply,
re-plan empty and destroy.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import importlib.util
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import boto3
import pytest
import yaml

import trivy_scan
import background as background_jobs
from conftest import NODE_BIN, PYTHON, ROOT, TEST_IMAGE_TAG, run, stage_data

MOTO_SERVER = Path(__file__).with_name("replaying_moto_server.py")  # moto's app; SDK retries get a replay
CDKTF = ROOT / ".tools" / "node_modules" / ".bin" / "cdktf"
PROOF_DOC = ROOT / "docs" / "proof.md"
STAGE_FILE = ROOT / "envs" / "stage.yaml"
# A reviewer's own env files, os.pathsep-separated: each deploys, re-plans empty and destroys (see the docstring).
ENV_FILES_VARIABLE = "ARAQUEM_EMULATOR_ENV_FILES"


def env_files(value: str) -> tuple[Path, ...]:
    """The env files named by ARAQUEM_EMULATOR_ENV_FILES's value (os.pathsep-separated; empty entries ignored)."""
    return tuple(Path(p).resolve() for p in value.split(os.pathsep) if p.strip())


ENV_FILES = env_files(os.environ.get(ENV_FILES_VARIABLE, ""))
# Bounds on every step (2 shared cores; a full stage stack applies against moto in a few minutes).
SERVER_START_TIMEOUT = 60
DEPLOY_TIMEOUT = 1200
PLAN_TIMEOUT = 600
DESTROY_TIMEOUT = 1200
PR_SET_PDEATHSIG = 1  # prctl(2)
GO_GC_PERCENT = "400"  # GOGC for terraform and the provider (make_project says why)
STUCK_SECONDS = 180  # one resource pending this long against moto = an API moto does not implement
# moto issues a requested (AMAZON_ISSUED) certificate this many seconds after the request, whether or not the
# DNS validation records exist (moto/acm/models.py CertBundle.check, MOTO_ACM_VALIDATION_WAIT, default 60):
# long enough that aws_acm_certificate_validation polls a PENDING_VALIDATION certificate until ISSUED,
# short enough not to stretch the run.
ACM_VALIDATION_WAIT_SECONDS = 10
OIDC_SECRET = "grafana-oidc"
STILL_WORKING = re.compile(
    r"(?P<address>aws_[\w.-]+(?:\[[^]]*\])?) .*Still (?P<what>creating|destroying|modifying)\.\.\. "
    r"\[(?:id=[^,\]]*, )?(?:(?P<m>\d+)m)?(?P<s>\d+)s elapsed\]"
)


@dataclass(frozen=True)
class Exclusion:
    """A feature the emulator run switches off in its env file, and the moto limitation behind it."""

    key: str
    limitation: str
    switch_off: Callable[[dict], None]


def _drop_cache(data: dict) -> None:
    data.pop("cache", None)


def _drop_pull_through_cache(data: dict) -> None:
    data.setdefault("registry", {})["pull_through_cache"] = False  # a file may leave the section out


def _drop_scaling(data: dict) -> None:
    for service in data["services"].values():
        service.pop("scaling", None)


def _drop_off_hours_of_services(data: dict) -> None:
    """Services on an off-hours capacity provider get no schedule at desired_count 0; the ASG keeps its own."""
    windows = {k for k, cp in data["cluster"]["capacity_providers"].items() if cp.get("off_hours")}
    default = data["cluster"]["default_capacity_provider"]
    for service in data["services"].values():
        if service.get("capacity_provider", default) in windows and service.get("kind", "service") == "service":
            service["desired_count"] = 0


EMULATOR_EXCLUSIONS: tuple[Exclusion, ...] = (
    Exclusion("cache", "ElastiCache: replication groups are created but their member clusters do not exist, "
                       "and DeleteCacheSubnetGroup is not implemented (destroy fails)", _drop_cache),
    Exclusion("registry.pull_through_cache", "ECR: CreatePullThroughCacheRule is not implemented, so "
                                             "aws_ecr_pull_through_cache_rule never finishes creating",
              _drop_pull_through_cache),
    Exclusion("scaling", "Application Auto Scaling: ListTagsForResource is not implemented, so "
                         "aws_appautoscaling_target never finishes creating", _drop_scaling),
    Exclusion("off_hours.services", "Application Auto Scaling: the same missing ListTagsForResource keeps the "
                                    "scalable target of the services' off-hours scheduled actions from being "
                                    "created; the run gives those services desired_count 0 (no schedule) and "
                                    "keeps the Auto Scaling group's off-hours schedule", _drop_off_hours_of_services),
)

# (resource type, top-level attribute) -> the moto limitation that makes it drift on every plan.
TOLERATED_DRIFT: dict[tuple[str, str], str] = {
    ("aws_ecs_service", "capacity_provider_strategy"):
        "ECS CreateService ignores capacityProviderStrategy (and serviceConnectConfiguration, "
        "deploymentConfiguration, enableECSManagedTags, healthCheckGracePeriodSeconds): the strategy reads "
        "back empty, which forces a replacement, so the service's other attributes cannot be compared",
    ("aws_launch_template", "tag_specifications"):
        "EC2 CreateLaunchTemplate copies the template's own tags (resource type launch-template, from "
        "default_tags) into the template data's TagSpecifications, which then read back as an extra block",
    ("aws_launch_template", "default_version"):
        "follows from aws_launch_template.tag_specifications (the update makes a new version)",
    ("aws_launch_template", "latest_version"):
        "follows from aws_launch_template.tag_specifications (the update makes a new version)",
    ("aws_autoscaling_group", "launch_template"):
        "follows from aws_launch_template.tag_specifications (the template version becomes unknown)",
    ("aws_vpc_security_group_ingress_rule", "description"):
        "EC2 does not read security-group rule descriptions back",
    ("aws_vpc_security_group_egress_rule", "description"):
        "EC2 does not read security-group rule descriptions back",
}


# Resource types whose delete moto does not implement: dropped from the state before `cdktf destroy`
# (in AWS they go with their parent, which is destroyed normally).
FORGET_BEFORE_DESTROY: dict[str, str] = {
    "aws_efs_file_system_policy": "EFS DeleteFileSystemPolicy is not implemented (the destroy retries until it "
                                  "times out); the policy is deleted with its file system",
}


def with_grafana_sso(data: dict) -> None:
    """The emulator run's one variant of the env file: Grafana `sso` (stage has `internal`). It covers what
    `internal` does on the ALB (nothing) and more: the Grafana host on the certificate and in the zone, the
    listener rule with authenticate-oidc, and its client secret read from an existing secret on a first apply.
    An env file without HTTPS, or without the Grafana service, keeps its own exposure (sso needs both)."""
    alb = data["alb"]
    grafana_service = (alb.get("grafana") or {}).get("service", "grafana")
    if alb.get("https", True) is False or grafana_service not in data["services"]:
        return
    idp = "https://idp.example.com"
    data.setdefault("secrets", {})[OIDC_SECRET] = {"description": "Grafana's OIDC client secret", "existing": True}
    kept = {k: v for k, v in (alb.get("grafana") or {}).items() if k in ("service", "port", "health_check_path")}
    alb["grafana"] = {
        **kept, "exposure": "sso", "allowed_cidrs": ["198.51.100.0/24"],
        "oidc": {"issuer": idp, "authorization_endpoint": f"{idp}/authorize", "token_endpoint": f"{idp}/token",
                 "user_info_endpoint": f"{idp}/userinfo", "client_id": "grafana", "client_secret": OIDC_SECRET}}
    if not alb.get("domain"):  # a certificate managed elsewhere: Grafana's host is named, not derived
        alb["grafana"]["host"] = f"grafana.{data['project']}-{data['environment']}.example.com"


def emulator_client(moto_url: str, region: str, service: str):
    # A session of its own: the run is on a background thread, and boto3's default session is not thread-safe.
    return boto3.session.Session().client(service, endpoint_url=moto_url, region_name=region,
                                          aws_access_key_id="emulator", aws_secret_access_key="emulator")


@dataclass(frozen=True)
class Precondition:
    """Something the stack looks up (or references) that a real team creates out of band before the first
    deploy (docs/runbook.md step 0), created in moto from the env file. `rewrites`: the env-file field that
    moto's generated id or ARN replaces (dotted path), or None when the name is the file's own."""

    kind: str
    name: str
    rewrites: str | None = None


SECRET_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")  # Secrets Manager appends 6 random characters to the name


def preconditions(cfg) -> list[Precondition]:
    """What the env file `cfg` needs to exist in the account, in creation order (a DB's group before the DB).

    - `alb.domain`: the Route 53 public hosted zone (the certificate is then requested by the stack itself);
      `alb.certificate_arn` instead: that certificate, in the file's region (ARN rewritten);
    - each `existing` secret, with a value (its JSON keys when it has some);
    - `database` (any mode but none): its credentials secret (`credentials_secret_arn` rewritten), a security
      group (`security_group_id` rewritten when the file names one; otherwise the one the DB carries), and for
      `instance` / `cluster` the RDS instance / cluster by `identifier`, carrying that group.
    - `database.network`: the database's own VPC first (`vpc_id` rewritten; its blocks: the file's `cidrs`, else
      one outside `network.vpc_cidr`), with a DB subnet group the instance / cluster is created in, the file's
      number of `route_table_ids` (rewritten) or one route table besides the main one, and for
      `via: transit_gateway` the gateway with that VPC attached (`transit_gateway_id` rewritten). The group
      above is then created in that VPC.
    """
    needed: list[Precondition] = []
    if cfg.alb.domain:
        needed.append(Precondition("route53 zone", cfg.alb.domain.zone))
    elif cfg.alb.https and cfg.alb.certificate_arn:
        needed.append(Precondition("acm certificate", cfg.name, rewrites="alb.certificate_arn"))
    for name, spec in cfg.secrets.items():
        if spec.existing:
            needed.append(Precondition("secret", cfg.secret_name(name)))
    db = cfg.database
    if db.mode != "none":
        secret_name = SECRET_ARN_SUFFIX.sub("", db.credentials_secret_arn.split(":secret:", 1)[1])
        needed.append(Precondition("database secret", secret_name, rewrites="database.credentials_secret_arn"))
        if db.network:
            needed.append(Precondition("database vpc", f"{cfg.name}-database-vpc", rewrites="database.network.vpc_id"))
            if db.network.route_table_ids:
                needed.append(Precondition("database route tables", f"{cfg.name}-database",
                                           rewrites="database.network.route_table_ids"))
            if db.network.via == "transit_gateway":
                needed.append(Precondition("transit gateway", f"{cfg.name}-database",
                                           rewrites="database.network.transit_gateway_id"))
        needed.append(Precondition("security group", f"{cfg.name}-database",
                                   rewrites="database.security_group_id" if db.security_group_id else None))
        if db.mode in ("instance", "cluster"):
            needed.append(Precondition(f"rds {db.mode}", db.identifier))
    return needed


def set_field(data: dict, dotted: str, value: str | list[str]) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        data = data[key]
    data[leaf] = value


def create_precondition(need: Precondition, cfg, data: dict, client, created: dict[str, str]) -> None:
    """Create `need` in moto (as the team would in the account) and rewrite its field in `data`, if any.
    `created` carries ids between preconditions (the DB's security group)."""
    value = None
    if need.kind == "route53 zone":
        client("route53").create_hosted_zone(Name=need.name, CallerReference="araquem-emulator")
    elif need.kind == "acm certificate":
        name = f"{need.name}.example.com"  # moto checks no name against the listener; Grafana's host if named
        names = [name, f"*.{name}", *([cfg.alb.grafana.host] if cfg.alb.grafana.host else [])]
        value = client("acm").request_certificate(DomainName=name, SubjectAlternativeNames=names)["CertificateArn"]
    elif need.kind == "secret":
        (key,) = [k for k in cfg.secrets if cfg.secret_name(k) == need.name]
        keys = cfg.secrets[key].keys
        text = json.dumps({k: f"emulator-{k}" for k in keys}) if keys else f"emulator-{key}"
        client("secretsmanager").create_secret(Name=need.name, SecretString=text)
    elif need.kind == "database secret":
        db = cfg.database
        text = json.dumps({db.username_key: "emulator", db.password_key: "emulator-password"})
        value = client("secretsmanager").create_secret(Name=need.name, SecretString=text)["ARN"]
    elif need.kind == "database vpc":
        value = created["database vpc"] = create_database_vpc(need.name, cfg, client("ec2"), client("rds"))
        created["database subnet group"] = need.name
    elif need.kind == "database route tables":
        ec2 = client("ec2")
        value = [ec2.create_route_table(VpcId=created["database vpc"])["RouteTable"]["RouteTableId"]
                 for _ in cfg.database.network.route_table_ids]
    elif need.kind == "transit gateway":
        ec2 = client("ec2")
        value = ec2.create_transit_gateway(Description=need.name)["TransitGateway"]["TransitGatewayId"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [created["database vpc"]]}])["Subnets"]
        ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=value, VpcId=created["database vpc"],
                                                  SubnetIds=[s["SubnetId"] for s in subnets])
    elif need.kind == "security group":
        ec2 = client("ec2")
        vpc = created.get("database vpc") or \
            ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        value = created["security group"] = ec2.create_security_group(
            GroupName=need.name, Description="the existing database's group", VpcId=vpc)["GroupId"]
    elif need.kind == "rds instance":
        client("rds").create_db_instance(
            DBInstanceIdentifier=need.name, Engine="postgres", DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
            MasterUsername="emulator", MasterUserPassword="emulator-password",
            VpcSecurityGroupIds=[created["security group"]], **database_subnets(created))
    elif need.kind == "rds cluster":
        client("rds").create_db_cluster(
            DBClusterIdentifier=need.name, Engine="aurora-postgresql", MasterUsername="emulator",
            MasterUserPassword="emulator-password", VpcSecurityGroupIds=[created["security group"]],
            **database_subnets(created))
    else:
        raise AssertionError(f"no way to create {need.kind}")
    if need.rewrites:
        set_field(data, need.rewrites, value)


DATABASE_VPC_CANDIDATES = ("10.250.0.0/16", "172.30.0.0/16")  # the database's VPC when the file gives no block


def create_database_vpc(name: str, cfg, ec2, rds) -> str:
    """The database's own VPC, as the team has it: its blocks (the file's `cidrs`, else one outside
    network.vpc_cidr), two subnets in a DB subnet group named like the VPC, and a route table besides the main
    one (the stack adds its route back to each)."""
    blocks = list(cfg.database.network.cidrs) or [next(
        c for c in DATABASE_VPC_CANDIDATES if not ipaddress.ip_network(c).overlaps(
            ipaddress.ip_network(cfg.network.vpc_cidr)))]
    vpc = ec2.create_vpc(CidrBlock=blocks[0])["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": name}])
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    for block in blocks[1:]:
        ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock=block)
    halves = list(ipaddress.ip_network(blocks[0]).subnets(prefixlen_diff=2))[:2]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=str(half), AvailabilityZone=f"{cfg.region}{zone}")
               ["Subnet"]["SubnetId"] for half, zone in zip(halves, "ab")]
    rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="the database's subnets",
                               SubnetIds=subnets)
    if not cfg.database.network.route_table_ids:
        ec2.create_route_table(VpcId=vpc)
    return vpc


def database_subnets(created: dict) -> dict:
    """The DB subnet group of the database's own VPC, when the run created one (database.network)."""
    return {"DBSubnetGroupName": created["database subnet group"]} if "database subnet group" in created else {}


def emulator_env(tmp_path: Path, moto_url: str, source: Path = STAGE_FILE) -> Path:
    """The env file `source` as the emulator run deploys it: EMULATOR_EXCLUSIONS switched off, and what the
    team creates out of band before the first deploy (docs/runbook.md step 0) created in moto first, as it
    exists in the real account (preconditions(): the zone, `existing` secrets, a certificate for
    `alb.certificate_arn`, the referenced database, its group and credentials secret).

    moto generates ARNs and ids: the file's `alb.certificate_arn`, `database.credentials_secret_arn` and
    `database.security_group_id` are rewritten to the created ones (their placeholders name nothing in moto).
    stage.yaml also gets Grafana `sso` (with_grafana_sso: the variant the default run covers); any other file
    is deployed as written, apart from those rewrites and the exclusions.
    """
    data = yaml.safe_load(source.read_text())
    if source.resolve() == STAGE_FILE.resolve():
        with_grafana_sso(data)
    cfg = load_config(data, tmp_path)

    def client(service):
        return emulator_client(moto_url, cfg.region, service)

    created: dict[str, str] = {}
    for need in preconditions(cfg):
        create_precondition(need, cfg, data, client, created)
    for exclusion in EMULATOR_EXCLUSIONS:
        exclusion.switch_off(data)
    path = tmp_path / f"{cfg.name}-emulator.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load_config(data: dict, tmp_path: Path):
    from modules.config import load  # noqa: PLC0415

    path = tmp_path / "emulator-source.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Project:
    dir: Path
    env: dict
    moto_log: Path
    env_file: Path
    moto_url: str
    stack: str  # the stack the env file names: <project>-<environment>

    @property
    def stack_dir(self) -> Path:
        return self.dir / "cdktf.out" / "stacks" / self.stack

    def cdktf(self, *args: str, timeout: int) -> subprocess.CompletedProcess:
        proc = cdktf(self.dir, self.env, *args, timeout=timeout)
        assert proc.returncode == 0, self.failure(proc)
        return proc

    def failure(self, proc: subprocess.CompletedProcess) -> str:
        return (f"{' '.join(proc.args[1:])} exited {proc.returncode}\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}\n"
                f"--- moto log tail ---\n{self.moto_log.read_text()[-2000:]}")


try:  # looked up here, not in the forked child: other threads run, so the child must not dlopen (subprocess docs)
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None  # not Linux: leaving moto_server's block still stops the server


def die_with_parent() -> None:
    """In the child: get SIGTERM when the thread that started it dies (prctl(2): the main thread, so when
    pytest dies), even if pytest is killed before fixture teardown (Linux)."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def moto_server(log_dir: Path):
    """moto's server on a free local port, stopped (whole process group) on leaving the block.

    Start it on the main thread: die_with_parent ties it to the starting thread's life."""
    if importlib.util.find_spec("werkzeug") is None:
        pytest.fail("moto[server] missing: it is a dev dependency (make test installs it)")
    log = log_dir / "moto.log"
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [PYTHON, str(MOTO_SERVER), "127.0.0.1", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
            # Attach AWS-managed policies (e.g. AmazonECSTaskExecutionRolePolicy) like real IAM does.
            env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
                 "MOTO_ACM_VALIDATION_WAIT": str(ACM_VALIDATION_WAIT_SECONDS)},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start on {url}:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url, log
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto's server for this module's tests that do not deploy (the deploy has its own: prepare_stage_run)."""
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


def check_cdktf() -> None:
    if not CDKTF.is_file():
        pytest.fail(f"{CDKTF} missing: `bash scripts/bootstrap.sh test` installs cdktf-cli")


def make_project(directory: Path, moto: tuple[str, Path], terraform_env: dict, source: Path = STAGE_FILE) -> Project:
    """A cdktf project dir whose app synthesizes `source`'s emulator env with the provider pointed at moto."""
    url, log = moto
    env_path = emulator_env(directory, url, source)
    named = yaml.safe_load(env_path.read_text())
    app = shlex.join([PYTHON, str(ROOT / "main.py"), "--env-file", str(env_path), "--aws-endpoint", url])
    (directory / "cdktf.json").write_text(json.dumps({
        "language": "python", "app": app, "output": "cdktf.out", "sendCrashReports": "false",
        "terraformProviders": [], "terraformModules": [], "codeMakerOutput": "imports", "context": {},
    }, indent=2))
    env = {
        **terraform_env,
        "PATH": f"{NODE_BIN}{os.pathsep}{background_jobs.environ()['PATH']}",
        "ARAQUEM_IMAGE_TAG": TEST_IMAGE_TAG,
        "CI": "1",  # no prompts, no spinners
        "AWS_EC2_METADATA_DISABLED": "true",
        # Go's collector (terraform, the provider plugin): at the default GOGC=100 it took about 30 % of their
        # CPU, the run's largest share; 400 lets the heap grow to 5x the live data between collections (peak
        # RSS of one provider process 390 -> 630 MB) for about a quarter less CPU. Pacing only: same results.
        "GOGC": GO_GC_PERCENT,
    }
    return Project(directory, env, log, env_path, url, "{project}-{environment}".format(**named))


@pytest.fixture(scope="module")
def cdktf_project(moto, tmp_path_factory, terraform_env):
    """A cdktf project on this module's moto, for the tests that synthesize but do not deploy."""
    check_cdktf()
    return make_project(tmp_path_factory.mktemp("emulator-project"), moto, terraform_env)


def run_bounded(cmd: list[str], cwd: Path, env: dict, timeout: int) -> subprocess.CompletedProcess:
    """Run cmd in its own process group (cdktf -> node -> terraform), killed as a whole when it overruns
    `timeout` or when one resource has been "Still creating/destroying..." for STUCK_SECONDS: that is
    moto lacking an API the provider polls, and waiting the provider's own timeout out helps nobody."""
    proc = background_jobs.popen(cmd, cwd=cwd, env={**background_jobs.environ(), **env}, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    stuck = None
    while proc.poll() is None and stuck is None and time.monotonic() < deadline:
        time.sleep(1)
        for line in lines[-20:]:
            match = STILL_WORKING.search(line)
            if match and int(match["m"] or 0) * 60 + int(match["s"]) >= STUCK_SECONDS:
                stuck = f"{match['address']} still {match['what']} after {STUCK_SECONDS}s"
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    reader.join(timeout=30)
    out = "".join(lines)
    if stuck or proc.returncode < 0:
        reason = stuck or f"did not finish in {timeout}s"
        raise AssertionError(f"{' '.join(cmd)}: {reason}\n{out[-6000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def cdktf(project: Path, env: dict, *args: str, timeout: int) -> subprocess.CompletedProcess:
    if args[0] in ("deploy", "destroy", "diff"):
        # `terraform providers lock` ignores the CLI config's offline mirror and needs the registry.
        args = (*args, "--skip-provider-lock", "--no-color")
    return run_bounded([str(CDKTF), *args], cwd=project, env=env, timeout=timeout)


def _normal(value):
    """Terraform shows no change between null and empty ("" / [] / {}): neither do we."""
    if isinstance(value, dict):
        value = {k: _normal(v) for k, v in value.items()}
        return {k: v for k, v in value.items() if v is not None} or None
    if isinstance(value, list):
        value = [_normal(v) for v in value]
        return value if any(v is not None for v in value) else None
    return None if value == "" else value


def _any_true(unknown) -> bool:
    """after_unknown marks values known only after apply with `true`, nested like the value."""
    if isinstance(unknown, dict):
        return any(_any_true(v) for v in unknown.values())
    if isinstance(unknown, list):
        return any(_any_true(v) for v in unknown)
    return unknown is True


def untolerated_changes(plan: dict) -> list[str]:
    """Every planned change that TOLERATED_DRIFT does not explain, as `address: action attrs`."""
    problems = []
    for change in plan.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        before = change["change"].get("before") or {}
        after = change["change"].get("after") or {}
        if "create" in actions and "delete" in actions:  # replacement: the attributes forcing it
            attrs = sorted({path[0] for path in change["change"].get("replace_paths", []) if path})
        elif actions == ["update"]:
            unknown = change["change"].get("after_unknown") or {}
            attrs = sorted(k for k in set(before) | set(after)
                           if _normal(before.get(k)) != _normal(after.get(k)) or _any_true(unknown.get(k)))
        else:
            attrs = []  # a bare create or delete: the state lost track of a resource
        untolerated = [a for a in attrs if (change["type"], a) not in TOLERATED_DRIFT]
        if untolerated or not attrs:
            what = untolerated or ("(no attribute differs: see the plan)" if "update" in actions else "(whole resource)")
            problems.append(f"{change['address']}: {'/'.join(actions)} {what}")
    for name, change in (plan.get("output_changes") or {}).items():
        if change["actions"] != ["no-op"] and change.get("after_unknown") is not True:
            problems.append(f"output.{name}: {'/'.join(change['actions'])}")
    return problems


def prepare_run(source: Path) -> Callable:
    """The deploy/re-plan/destroy of env file `source`, on its own moto server and project, as a background job
    (tests/background.py): it starts with the session and runs while the other tests do; its test collects it."""

    def prepare(request) -> Callable[[], None]:
        check_cdktf()
        tmp = request.getfixturevalue("tmp_path_factory")
        terraform_env = request.getfixturevalue("terraform_env")
        project_dir = tmp.mktemp(f"emulator-{source.stem}")
        server = contextlib.ExitStack()  # moto starts here, on the main thread (die_with_parent); the work stops it
        moto = server.enter_context(moto_server(tmp.mktemp(f"moto-{source.stem}")))

        def work() -> None:
            with server:
                deploy_replan_destroy(make_project(project_dir, moto, terraform_env, source))

        return work

    return prepare


def env_file_run(path: Path) -> str:
    return f"emulator: {path} deploy, re-plan, destroy"


STAGE_RUN = "emulator: stage deploy, re-plan, destroy"
BACKGROUND = {  # with ARAQUEM_EMULATOR_ENV_FILES set, only those files run (see the module docstring)
    "test_stage_deploys_replans_empty_and_destroys": [] if ENV_FILES else [(STAGE_RUN, prepare_run(STAGE_FILE))],
    "test_env_file_deploys_replans_empty_and_destroys": [(env_file_run(p), prepare_run(p)) for p in ENV_FILES],
}


def test_stage_deploys_replans_empty_and_destroys(background):
    if ENV_FILES:
        pytest.skip(f"{ENV_FILES_VARIABLE} is set: only its env files run")
    background.result(STAGE_RUN)  # re-raises the run's failed assertion, if any


@pytest.mark.parametrize("env_file", ENV_FILES, ids=str)
def test_env_file_deploys_replans_empty_and_destroys(background, env_file):
    """A reviewer's own env file (ARAQUEM_EMULATOR_ENV_FILES): deploys, re-plans empty, destroys."""
    background.result(env_file_run(env_file))


def deploy_replan_destroy(project: Project) -> None:
    env, stack_dir = project.env, project.stack_dir

    project.cdktf("deploy", project.stack, "--auto-approve", timeout=DEPLOY_TIMEOUT)
    deployed = json.loads((stack_dir / "cdk.tf.json").read_text())
    state = run(["terraform", "state", "list"], cwd=stack_dir, env=env, timeout=120).stdout.split()
    declared = sum(len(v) for v in deployed.get("resource", {}).values())
    # a for_each resource (database.network's routes) is one block and several instances (`addr["key"]`)
    blocks = {a.split("[", 1)[0] for a in state if not a.startswith("data.")}
    assert len(blocks) == declared, "state misses resources"
    check_edge_as_deployed(project)
    check_database_as_deployed(project)

    # Re-synthesize as a user would (cdktf synth), then plan in the stack dir.
    project.cdktf("synth", timeout=PLAN_TIMEOUT)
    plan = run(["terraform", "plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=replan.tfplan"],
               cwd=stack_dir, env=env, timeout=PLAN_TIMEOUT, check=False)
    assert plan.returncode in (0, 2), f"terraform plan failed:\n{plan.stdout[-6000:]}\n{plan.stderr[-3000:]}"
    shown = run(["terraform", "show", "-json", "replan.tfplan"], cwd=stack_dir, env=env, timeout=120)
    # trivy over the plan of the deployed stack: every value known, as Terraform resolved it
    plan_json = stack_dir / "replan.tfplan.json"
    plan_json.write_text(shown.stdout)
    findings = trivy_scan.trivy(plan_json, stack_dir / "trivy-cache")
    assert findings == [], "trivy on the plan JSON (explained only in scan-exceptions.yaml):\n" + trivy_scan.describe(findings)
    if plan.returncode == 2:
        problems = untolerated_changes(json.loads(shown.stdout))
        (stack_dir / "replan.txt").write_text(plan.stdout)
        assert not problems, "re-plan after deploy is not empty (not explained by TOLERATED_DRIFT):\n" + \
            "\n".join(problems) + f"\n\nfull plan: {stack_dir / 'replan.txt'}"

    forget = [a for a in state if a.split(".")[0] in FORGET_BEFORE_DESTROY]
    if forget:
        run(["terraform", "state", "rm", *forget], cwd=stack_dir, env=env, timeout=120)
    # --skip-synth: cdktf.out is the `cdktf synth` above, of the same input (synth is deterministic), so
    # destroy's own synth would write the same bytes again (about 3 CPU-seconds of Python, jsii and Node).
    project.cdktf("destroy", project.stack, "--auto-approve", "--skip-synth", timeout=DESTROY_TIMEOUT)
    left = run(["terraform", "state", "list"], cwd=stack_dir, env=env, timeout=120).stdout.split()
    assert [a for a in left if not a.startswith("data.")] == [], f"destroy left resources in state: {left}"


def check_edge_as_deployed(project: Project) -> None:
    """What the first apply built at the edge, read back from the emulator. With alb.domain: the certificate the
    stack requested is ISSUED, covers the api's and Grafana's host names and is on the HTTPS listener, the
    validation CNAMEs are ACM's, and both names alias the ALB in the zone. With Grafana sso, its rule logs in
    with the client secret read from the existing secret."""
    cfg = load_config(yaml.safe_load(project.env_file.read_text()), project.dir)

    def client(service):
        return emulator_client(project.moto_url, cfg.region, service)

    elbv2 = client("elbv2")
    (lb,) = elbv2.describe_load_balancers()["LoadBalancers"]
    listeners = {ln["Port"]: ln for ln in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    if cfg.alb.grafana.exposure in ("vpn", "sso"):
        front = listeners[443 if cfg.alb.https else 80]
        (rule,) = [r for r in elbv2.describe_rules(ListenerArn=front["ListenerArn"])["Rules"]
                   if any(c["Field"] == "host-header" for c in r["Conditions"])]  # not the api's public paths
        expected = ["authenticate-oidc", "forward"] if cfg.alb.grafana.exposure == "sso" else ["forward"]
        assert [a["Type"] for a in sorted(rule["Actions"], key=lambda a: a["Order"])] == expected
    if not cfg.alb.domain:
        if cfg.alb.https:
            assert [c["CertificateArn"] for c in listeners[443]["Certificates"]] == [cfg.alb.certificate_arn]
        return
    hosts = sorted(filter(None, [cfg.alb.domain.api_host, cfg.alb.grafana_host()
                                 if cfg.alb.grafana.exposure in ("vpn", "sso") else None]))
    zone_name = cfg.alb.domain.zone
    (zone,) = client("route53").list_hosted_zones_by_name(DNSName=zone_name)["HostedZones"]
    records = client("route53").list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    aliases = {r["Name"].rstrip("."): r["AliasTarget"]["DNSName"].rstrip(".").lower() for r in records
               if r["Type"] == "A" and "AliasTarget" in r}
    assert aliases == dict.fromkeys(hosts, lb["DNSName"].lower())
    if not cfg.alb.https:
        return
    (summary,) = client("acm").list_certificates()["CertificateSummaryList"]  # none but the stack's own
    certificate = client("acm").describe_certificate(CertificateArn=summary["CertificateArn"])["Certificate"]
    assert certificate["Status"] == "ISSUED" and certificate["DomainName"] == cfg.alb.domain.api_host
    assert sorted(certificate["SubjectAlternativeNames"]) == hosts
    assert [c["CertificateArn"] for c in listeners[443]["Certificates"]] == [summary["CertificateArn"]]
    validation = {r["Name"].rstrip(".") for r in records if r["Type"] == "CNAME"}
    assert {v["ResourceRecord"]["Name"].rstrip(".") for v in certificate["DomainValidationOptions"]} == validation


def check_database_as_deployed(project: Project) -> None:
    """With a database reference, what allow_from gets is the DB's own, read back from the emulator: the host,
    port (and name) SSM parameters hold the endpoint and port of the instance or cluster moto holds (or the
    file's, mode endpoint), and the DB's group (the file's, or the first the DB carries) admits exactly each
    allow_from task group on that port."""
    cfg = load_config(yaml.safe_load(project.env_file.read_text()), project.dir)
    db = cfg.database
    if db.mode == "none":
        return

    def client(service):
        return emulator_client(project.moto_url, cfg.region, service)

    if db.mode == "cluster":
        (found,) = client("rds").describe_db_clusters(DBClusterIdentifier=db.identifier)["DBClusters"]
        host, port = found["Endpoint"], found["Port"]
    elif db.mode == "instance":
        (found,) = client("rds").describe_db_instances(DBInstanceIdentifier=db.identifier)["DBInstances"]
        host, port = found["Endpoint"]["Address"], found["Endpoint"]["Port"]
    else:
        found, host, port = {}, db.endpoint, db.port
    group = db.security_group_id or sorted(g["VpcSecurityGroupId"] for g in found["VpcSecurityGroups"])[0]
    expected = {"database/host": host, "database/port": str(port), **({"database/name": db.name} if db.name else {})}
    ssm = client("ssm")
    assert {k: ssm.get_parameter(Name=cfg.parameter_prefix + k, WithDecryption=True)["Parameter"]["Value"]
            for k in expected} == expected
    ec2 = client("ec2")
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    if db.network and db.network.via == "transit_gateway":  # no group named across a gateway: the private subnets
        assert sorted(r["CidrIpv4"] for r in rules if not r["IsEgress"] and r["FromPort"] == r["ToPort"] == port) \
            == sorted(cfg.network.subnet_cidrs()["private"])
    else:
        admitted = sorted({r["ReferencedGroupInfo"]["GroupId"] for r in rules if not r["IsEgress"]
                           and "ReferencedGroupInfo" in r and r["FromPort"] == r["ToPort"] == port})
        names = {g["GroupName"] for g in ec2.describe_security_groups(GroupIds=admitted)["SecurityGroups"]} \
            if admitted else set()
        assert names == {f"{cfg.name}-task-{cfg.task_owner(s)}" for s in db.allow_from}  # security_groups.TASK_PREFIX
    if db.network:
        check_database_network_as_deployed(cfg, ec2)


def check_database_network_as_deployed(cfg, ec2) -> None:
    """database.network, read back: the link is up (peering active, the database VPC's DNS names answered
    privately to the stack; or the stack's VPC attached to the gateway), every private route table of the stack
    routes every block of the database's VPC through it, and every route table of that VPC (or those the file
    names) routes network.vpc_cidr back through it."""
    net = cfg.database.network
    (stack_vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [cfg.name]}])["Vpcs"]
    (peer_vpc,) = ec2.describe_vpcs(VpcIds=[net.vpc_id])["Vpcs"]
    blocks = sorted({a["CidrBlock"] for a in peer_vpc.get("CidrBlockAssociationSet", [])} | {peer_vpc["CidrBlock"]})
    if net.via == "peering":
        (link,) = ec2.describe_vpc_peering_connections(Filters=[
            {"Name": "requester-vpc-info.vpc-id", "Values": [stack_vpc["VpcId"]]},
            {"Name": "accepter-vpc-info.vpc-id", "Values": [net.vpc_id]}])["VpcPeeringConnections"]
        assert link["Status"]["Code"] == "active"
        assert link["AccepterVpcInfo"]["PeeringOptions"]["AllowDnsResolutionFromRemoteVpc"] is net.dns_resolution
        target, key = link["VpcPeeringConnectionId"], "VpcPeeringConnectionId"
    else:
        (attachment,) = ec2.describe_transit_gateway_vpc_attachments(Filters=[
            {"Name": "vpc-id", "Values": [stack_vpc["VpcId"]]}])["TransitGatewayVpcAttachments"]
        assert attachment["TransitGatewayId"] == net.transit_gateway_id and attachment["State"] == "available"
        target, key = net.transit_gateway_id, "TransitGatewayId"

    def routed(tables: list[dict]) -> dict[str, list[str]]:
        return {t["RouteTableId"]: sorted(r["DestinationCidrBlock"] for r in t["Routes"] if r.get(key) == target)
                for t in tables}

    private = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [stack_vpc["VpcId"]]},
                                                 {"Name": "tag:Name", "Values": [f"{cfg.name}-private-*"]}])
    assert routed(private["RouteTables"]) == {t["RouteTableId"]: list(net.cidrs) or blocks
                                              for t in private["RouteTables"]}
    assert len(private["RouteTables"]) == len(cfg.availability_zones())
    theirs = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [net.vpc_id]}])["RouteTables"]
    expected_back = set(net.route_table_ids) or {t["RouteTableId"] for t in theirs}
    assert routed(theirs) == {t["RouteTableId"]: [cfg.network.vpc_cidr] if t["RouteTableId"] in expected_back else []
                              for t in theirs}


def test_emulator_replays_its_answer_to_an_sdk_retry():
    """replaying_moto_server: a retried invocation gets the first answer, moto runs the call once."""
    from replaying_moto_server import ReplayRetries  # noqa: PLC0415  (tests/ is on pytest's path)

    calls = []

    def moto(environ, start_response):
        calls.append(environ.get("HTTP_AMZ_SDK_INVOCATION_ID"))
        ok = environ["PATH_INFO"] != "/fail"
        start_response("200 OK" if ok else "500 INTERNAL SERVER ERROR", [("Content-Type", "text/xml")])
        return [b"<DeleteListenerResponse/>" if ok else b"boom", f"#{len(calls)}".encode()]

    app = ReplayRetries(moto)

    def call(invocation=None, path="/"):
        got = {}
        environ = {"PATH_INFO": path, **({"HTTP_AMZ_SDK_INVOCATION_ID": invocation} if invocation else {})}
        body = b"".join(app(environ, lambda status, headers: got.update(status=status)))
        return got["status"], body

    first = call("inv-1")
    assert call("inv-1") == first == ("200 OK", b"<DeleteListenerResponse/>#1")  # replayed, not re-run
    assert call("inv-2")[1].endswith(b"#2")  # another invocation reaches moto
    assert call()[1].endswith(b"#3") and call()[1].endswith(b"#4")  # no SDK header: always moto
    assert call("inv-3", "/fail")[0].startswith("500") and call("inv-3", "/fail")[1].endswith(b"#6")  # errors re-run
    assert calls == ["inv-1", "inv-2", None, None, "inv-3", "inv-3"]


def test_emulator_option_changes_only_provider_and_backend(cdktf_project, synths):
    """The emulator run proves what users get: same resources; only provider + backend differ."""
    cdktf_project.cdktf("synth", timeout=PLAN_TIMEOUT)
    emulated = json.loads((cdktf_project.stack_dir / "cdk.tf.json").read_text())
    default = json.loads(synths.of_file(cdktf_project.env_file).text)
    endpoints = emulated["provider"]["aws"][0]["endpoints"][0]
    assert "sts" in endpoints and set(endpoints.values()) == {cdktf_project.moto_url}
    assert "endpoints" not in default["provider"]["aws"][0] and "access_key" not in default["provider"]["aws"][0]
    for doc in (emulated, default):
        doc.pop("provider")
        doc["terraform"].pop("backend", None)
        doc["terraform"].pop("cloud", None)
        doc["//"]["metadata"].pop("backend", None)
        doc["//"]["metadata"].pop("cloud", None)
    assert emulated == default


def test_every_exclusion_is_documented():
    """docs/proof.md is the readable copy of the one list: every entry above appears there."""
    section = PROOF_DOC.read_text().split("## What the emulator run excludes or tolerates", 1)[1].split("\n## ")[0]
    listed = set(re.findall(r"^\| `([^`]+)`", section, re.M))  # first cell of each table row
    in_code = {e.key for e in EMULATOR_EXCLUSIONS} | {f"{t}.{a}" for t, a in TOLERATED_DRIFT}
    in_code |= set(FORGET_BEFORE_DESTROY)
    assert in_code - listed == set(), "docs/proof.md does not list these (add them)"
    assert listed - in_code == set(), "docs/proof.md lists entries the test no longer has (remove them)"


def test_replan_filter_reports_all_but_the_listed_drift():
    """untolerated_changes can fail: only TOLERATED_DRIFT attributes pass, null equals empty."""
    def change(address, actions, before=None, after=None, unknown=None, replace=None):
        return {"address": address, "type": address.split(".")[0],
                "change": {"actions": actions, "before": before, "after": after, "after_unknown": unknown or {},
                           "replace_paths": replace or []}}

    plan = {"resource_changes": [
        change("aws_vpc.main", ["update"], {"cidr_block": "10.0.0.0/16"}, {"cidr_block": "10.1.0.0/16"}),
        change("aws_vpc_security_group_ingress_rule.r", ["update"], {"description": None}, {"description": "x"}),
        change("aws_autoscaling_group.g", ["update"],  # null vs "" is no change; a tolerated unknown
               {"capacity_reservation_specification": [{"p": None}], "launch_template": [{"version": "1"}]},
               {"capacity_reservation_specification": [{"p": ""}], "launch_template": [{}]},
               {"launch_template": [{"version": True}]}),
        change("aws_ecs_service.s", ["delete", "create"], replace=[["capacity_provider_strategy"]]),
        change("aws_ecs_service.t", ["delete", "create"], replace=[["task_definition"]]),
        change("aws_ecr_repository.lost", ["create"], None, {"name": "x"}),
        change("aws_iam_role.same", ["no-op"]),
    ], "output_changes": {"vpc_id": {"actions": ["update"], "after_unknown": False}}}
    assert untolerated_changes(plan) == [
        "aws_vpc.main: update ['cidr_block']",
        "aws_ecs_service.t: delete/create ['task_definition']",
        "aws_ecr_repository.lost: create (whole resource)",
        "output.vpc_id: update",
    ]


# --- what the emulator run creates before deploying an env file (pure: no emulator) -----------------------

EU_FIXTURE = ROOT / "tests" / "fixtures" / "emulator" / "stage-eu-west-1-cpu.yaml"
CLUSTER_FIXTURE = ROOT / "tests" / "fixtures" / "emulator" / "dev-eu-aurora-cluster.yaml"
DEV_EU = ROOT / "envs" / "dev-eu.yaml"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:team/db-AbCdEf"


def needs(data: dict, tmp_path: Path) -> list[tuple[str, str, str | None]]:
    return [(n.kind, n.name, n.rewrites) for n in preconditions(load_config(data, tmp_path))]


def test_preconditions_of_stage_are_its_zone_and_existing_secrets(tmp_path):
    """alb.domain: the zone only (the stack requests its own certificate); no database with mode none."""
    data = stage_data()
    with_grafana_sso(data)
    assert needs(data, tmp_path) == [
        ("route53 zone", "araquem.com.br", None),
        ("secret", "ecr-pullthroughcache/araquem-stage/docker-hub", None),
        ("secret", "araquem-stage/grafana-oidc", None),
    ]


def test_preconditions_of_a_certificate_managed_elsewhere(tmp_path):
    """alb.certificate_arn: the certificate is created and its ARN rewritten; no zone is looked up."""
    data = yaml.safe_load(EU_FIXTURE.read_text())
    assert needs(data, tmp_path)[0] == ("acm certificate", "araquem-euw1", "alb.certificate_arn")
    assert not [n for n in needs(data, tmp_path) if n[0] == "route53 zone"]
    data["alb"]["https"] = False
    data["alb"].pop("certificate_arn")
    assert [n[0] for n in needs(data, tmp_path)] == ["secret"]  # plain HTTP: no certificate at all


@pytest.mark.parametrize("mode", ["instance", "cluster"])
def test_preconditions_of_a_looked_up_database(tmp_path, mode):
    """instance/cluster: its credentials secret, then a group, then the DB carrying it (the stack reads the
    group from the DB: nothing to rewrite); a named security_group_id is rewritten to the created group."""
    data = stage_data()
    data["database"] = {"mode": mode, "identifier": "team-db", "credentials_secret_arn": SECRET_ARN,
                        "allow_from": ["api"]}
    assert needs(data, tmp_path)[-3:] == [
        ("database secret", "team/db", "database.credentials_secret_arn"),
        ("security group", "araquem-stage-database", None),
        (f"rds {mode}", "team-db", None),
    ]
    data["database"]["security_group_id"] = "sg-0123456789abcdef0"
    assert needs(data, tmp_path)[-2] == ("security group", "araquem-stage-database", "database.security_group_id")


PEERED_FIXTURE = ROOT / "tests" / "fixtures" / "envs" / "ap-southeast-2-peered-db.yaml"


def test_preconditions_of_a_database_in_another_vpc(tmp_path):
    """database.network: the database's VPC before its group (created in it) and the instance (in its subnets);
    given route tables and a transit gateway are created and rewritten too."""
    data = yaml.safe_load(PEERED_FIXTURE.read_text())
    assert needs(data, tmp_path) == [
        ("acm certificate", "ledger-syd", "alb.certificate_arn"),
        ("database secret", "ledger/syd/postgres", "database.credentials_secret_arn"),
        ("database vpc", "ledger-syd-database-vpc", "database.network.vpc_id"),
        ("security group", "ledger-syd-database", None),
        ("rds instance", "ledger-syd-pg", None),
    ]
    data["database"]["network"] = {"via": "transit_gateway", "vpc_id": "vpc-0123456789abcdef0",
                                   "transit_gateway_id": "tgw-0123456789abcdef0", "route_table_ids": ["rtb-01"]}
    assert needs(data, tmp_path)[2:5] == [
        ("database vpc", "ledger-syd-database-vpc", "database.network.vpc_id"),
        ("database route tables", "ledger-syd-database", "database.network.route_table_ids"),
        ("transit gateway", "ledger-syd-database", "database.network.transit_gateway_id"),
    ]


def test_preconditions_of_dev_eu_make_its_placeholders_real(tmp_path):
    """dev-eu as shipped (mode endpoint, placeholder secret ARN and group in account 000000000000): both are
    created and rewritten; an endpoint is a host name, so no RDS resource."""
    assert needs(yaml.safe_load(DEV_EU.read_text()), tmp_path) == [
        ("route53 zone", "araquem.com.br", None),
        ("secret", "ecr-pullthroughcache/araquem-dev-eu/docker-hub", None),
        ("database secret", "araquem/dev-eu/postgres", "database.credentials_secret_arn"),
        ("security group", "araquem-dev-eu-database", "database.security_group_id"),
    ]


def test_rewritten_fields_land_where_the_env_file_has_them():
    data = {"alb": {"certificate_arn": "old"}, "database": {"security_group_id": "sg-0"}}
    set_field(data, "alb.certificate_arn", "arn:new")
    set_field(data, "database.security_group_id", "sg-1")
    assert data == {"alb": {"certificate_arn": "arn:new"}, "database": {"security_group_id": "sg-1"}}


def test_env_files_variable_is_a_path_list(tmp_path):
    assert env_files("") == ()
    assert env_files(f"{tmp_path}/a.yaml{os.pathsep}{os.pathsep}b.yaml") == (
        tmp_path / "a.yaml", (Path.cwd() / "b.yaml").resolve())


def test_the_by_hand_fixture_is_the_shape_it_claims(tmp_path):
    """The files in tests/fixtures/emulator/ (run by hand, docs/proof.md). stage-eu-west-1-cpu.yaml: another
    region, 3 AZs, no GPU capacity provider, no Terraform Cloud, a certificate managed elsewhere.
    dev-eu-aurora-cluster.yaml: dev-eu as shipped but for its database, an Aurora cluster looked up by identifier
    (no endpoint, port or group in the file: all read from the cluster, which the run creates with its secret),
    and a NAT gateway per AZ."""
    cfg = load_config(yaml.safe_load(EU_FIXTURE.read_text()), tmp_path)
    assert cfg.region == "eu-west-1" and len(cfg.network.availability_zones) == 3
    assert not any(cp.gpu for cp in cfg.cluster.capacity_providers.values())
    assert cfg.terraform_cloud is None and cfg.alb.domain is None and cfg.alb.certificate_arn

    cluster_data, dev_eu_data = yaml.safe_load(CLUSTER_FIXTURE.read_text()), yaml.safe_load(DEV_EU.read_text())
    db = load_config(cluster_data, tmp_path).database
    assert db.mode == "cluster" and db.identifier and db.name and db.allow_from
    assert db.endpoint is None and db.security_group_id is None and "port" not in db.model_fields_set
    assert cluster_data["network"].pop("nat") == "per_az" and dev_eu_data["network"].pop("nat") == "single"
    assert {k: v for k, v in cluster_data.items() if k != "database"} == \
        {k: v for k, v in dev_eu_data.items() if k != "database"}
    assert [n[0] for n in needs(cluster_data, tmp_path)][-3:] == ["database secret", "security group", "rds cluster"]
