"""`python main.py preflight`: read-only checks of the AWS account before a deploy.

What terraform validate, checkov and the emulator cannot see, because it lives in the account: the TLS
certificate, or the Route 53 zone the stack requests and validates one in (alb.domain), secrets that must
have a value before the deploy, the GPU instance type's availability in
the chosen zones, the account's On-Demand vCPU quotas, the referenced RDS database, the app images in ECR.
One line per finding with what to do; exit 2 when the deploy would fail (any FAIL line), 0 with a summary.

Credentials and endpoint: boto3's default chain (AWS_PROFILE, SSO, environment, instance role); region
from the env file; `--endpoint-url` (or AWS_ENDPOINT_URL, read by boto3 itself) for an emulator.
Only Describe/List/Get calls. One reads a value: GetSecretValue, to check that a JSON secret has the keys
ECS will ask for (a missing key fails the task at start exactly like a missing value). The value never
leaves `_json_keys`: only key names are compared and printed. Without the permission that check is
skipped with a warning; the value check itself (DescribeSecret: a version labelled AWSCURRENT) reads none.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from modules.commands import EXIT_BAD_INPUT, EXIT_OK
from modules.config import LB_NAME_MAX, EnvConfig
from modules.naming import fit_name

HELP = ("read-only checks of the AWS account before a deploy (DNS zone or certificate, secrets, GPU, quotas, "
        "database, images)")
NEEDS_ENV = True

OK, WARN, FAIL = "ok", "warn", "FAIL"

# EC2 On-Demand vCPU quotas by instance family (Service Quotas, service code ec2; AWS docs "Amazon EC2
# service quotas" / "On-Demand Instance quotas"). A family not listed is reported as not checked.
STANDARD_VCPU_QUOTA = "L-1216C47A"  # Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances
GPU_VCPU_QUOTA = "L-DB2E81BA"       # Running On-Demand G and VT instances (0 on new accounts)
VCPU_QUOTAS: dict[str, tuple[str, str]] = {  # leading letters of the family -> (quota code, quota name)
    **{letter: (STANDARD_VCPU_QUOTA, "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances")
       for letter in "acdhimrtz"},
    "g": (GPU_VCPU_QUOTA, "Running On-Demand G and VT instances"),
    "vt": (GPU_VCPU_QUOTA, "Running On-Demand G and VT instances"),
    "p": ("L-417A185B", "Running On-Demand P instances"),
    "f": ("L-74FC7D96", "Running On-Demand F instances"),
    "x": ("L-7295265B", "Running On-Demand X instances"),
    "inf": ("L-1945791B", "Running On-Demand Inf instances"),
    "trn": ("L-2C3B7624", "Running On-Demand Trn instances"),
    "dl": ("L-6E869C2A", "Running On-Demand DL instances"),
}
# ACM user guide, "CAA records": a CAA record set that applies to a name must allow one of these for ACM to
# issue a certificate for it (no CAA record at all allows every authority).
ACM_CAA_ISSUERS = ("amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com")
# Errors that mean "who you are" is the problem, not the account: one line, exit 2.
CREDENTIAL_ERROR_CODES = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                          "SignatureDoesNotMatch", "AuthFailure", "RequestExpired", "InvalidAccessKeyId"}
ACCESS_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}


@dataclass(frozen=True)
class Finding:
    level: str  # OK | WARN | FAIL
    check: str
    text: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.check}: {self.text}"


class CredentialsError(Exception):
    """No usable AWS credentials (missing, expired, invalid) or no reachable endpoint."""


class Aws:
    """boto3 clients for the env file's region (and an emulator endpoint), created once each.
    Tests put a Stubber-wrapped client into `clients` for an API the emulator lacks."""

    def __init__(self, region: str, endpoint_url: str | None = None):
        import boto3  # noqa: PLC0415  (only this command needs it)
        import botocore.session  # noqa: PLC0415

        self.region, self.endpoint_url = region, endpoint_url
        core = botocore.session.Session()
        core.register_component("data_loader", _service_model_loader())
        self._session = boto3.session.Session(botocore_session=core, region_name=region)
        self.clients: dict[str, object] = {}

    def client(self, service: str):
        if service not in self.clients:
            self.clients[service] = self._session.client(service, region_name=self.region,
                                                         endpoint_url=self.endpoint_url)
        return self.clients[service]


@functools.cache
def _service_model_loader():
    """botocore's loader, one per process: it keeps the service models it parsed, and a session of its own
    would parse each JSON model again (~0.3 s for EC2's; the tests make an Aws per case)."""
    import botocore.loaders  # noqa: PLC0415

    return botocore.loaders.create_loader()


def error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def denied(check: str, action: str, exc: Exception) -> Finding:
    return Finding(FAIL, check, f"cannot check: {error_code(exc)} on {action}; run preflight with a role that may "
                                f"call it (read-only), or check by hand")


# ------------------------------------------------------------------ certificate
def _covers(names: list[str], host: str) -> bool:
    """ACM: a wildcard name covers exactly one label (`*.example.com` covers a.example.com, not a.b.example.com)."""
    for name in names:
        if name == host or (name.startswith("*.") and host.partition(".")[2] == name[2:]):
            return True
    return False


def certificate_hosts(cfg: EnvConfig) -> list[str]:
    """Host names the HTTPS listener serves that the env file names (Grafana's, with vpn/sso)."""
    grafana = cfg.alb.grafana
    return [grafana.host] if grafana.exposure in ("vpn", "sso") and grafana.host else []


def check_certificate(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    arn = cfg.alb.certificate_arn
    if not (cfg.alb.https and arn):
        return []
    check = "certificate"
    region = arn.split(":")[3] if arn.count(":") >= 5 else ""
    if region != cfg.region:
        return [Finding(FAIL, check, f"alb.certificate_arn is in region '{region}', the ALB in '{cfg.region}': an ALB "
                                     f"takes only a certificate from its own region (ACM certificates are regional); "
                                     f"request or import one in {cfg.region}")]
    try:
        cert = aws.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    except aws.client("acm").exceptions.ResourceNotFoundException:
        return [Finding(FAIL, check, f"{arn} does not exist in this account: request one (aws acm request-certificate "
                                     f"--region {cfg.region} --validation-method DNS ...) or use alb.domain")]
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) in ACCESS_DENIED_CODES:
            return [denied(check, "acm:DescribeCertificate", exc)]
        raise
    findings = []
    status = cert.get("Status")
    if status != "ISSUED":
        todo = {"PENDING_VALIDATION": "create its DNS validation records (aws acm describe-certificate shows them) "
                                      "and wait for ISSUED"}.get(status, "request a new certificate")
        findings.append(Finding(FAIL, check, f"{arn} is {status}, not ISSUED: the HTTPS listener would fail to "
                                             f"create; {todo}"))
    names = cert.get("SubjectAlternativeNames") or [cert.get("DomainName", "")]
    for host in certificate_hosts(cfg):
        if not _covers(names, host):
            findings.append(Finding(FAIL, check, f"{arn} does not cover {host} (it covers {', '.join(names)}): "
                                                 "browsers refuse the name; add it to a new certificate"))
    if not findings:
        findings.append(Finding(OK, check, f"ISSUED in {cfg.region}, covers {', '.join(names)}"))
    return findings


# ------------------------------------------------------------------ DNS zone (alb.domain)
def _fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def _record_sets(route53, zone_id: str) -> list[dict]:
    pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return [record for page in pages for record in page["ResourceRecordSets"]]


def _public_zones_named(route53, name: str) -> tuple[list[dict], list[dict]]:
    """(public, private) hosted zones of this account named exactly `name` (ListHostedZonesByName starts at
    the name and goes on in DNS order, so the matching ones come first)."""
    zones = route53.list_hosted_zones_by_name(DNSName=name)["HostedZones"]
    named = [z for z in zones if z["Name"].lower() == _fqdn(name)]
    return ([z for z in named if not z.get("Config", {}).get("PrivateZone")],
            [z for z in named if z.get("Config", {}).get("PrivateZone")])


def _caa_problem(records: list[dict], zone: str, host: str) -> str | None:
    """Why the CAA records in the zone keep ACM from issuing for `host`, or None. RFC 8659: the CAA set that
    applies is the one at the host name or, failing that, at the closest parent name that has one."""
    caa = {_fqdn(r["Name"]): [rr["Value"] for rr in r.get("ResourceRecords", [])]
           for r in records if r["Type"] == "CAA"}
    name = _fqdn(host)
    while name not in caa and name != _fqdn(zone):
        name = name.partition(".")[2]
    values = caa.get(name)
    if not values:
        return None
    issuers = [v.split(" ", 2)[2].strip('"').split(";")[0].strip() for v in values if v.split(" ")[1:2] == ["issue"]]
    # RFC 8659 4.2: without any "issue" property (only iodef/issuewild) every CA may issue a non-wildcard name.
    if not issuers or any(issuer in ACM_CAA_ISSUERS for issuer in issuers):
        return None
    return (f"the CAA records at {name.rstrip('.')} ({'; '.join(values)}) do not allow ACM to issue for {host}: add "
            f"a CAA record '0 issue \"amazon.com\"' there (ACM user guide, \"CAA records\")")


def _alias_target(record: dict) -> str:
    """An alias record's target DNS name as ELB names it (Route 53 may return it with a 'dualstack.' prefix)."""
    name = record["AliasTarget"]["DNSName"].rstrip(".").lower()
    return name.removeprefix("dualstack.")


def _record_problem(records: list[dict], host: str, alb_dns: str | None) -> str | None:
    """Why creating the A alias record for `host` would fail, or None. aws_route53_record does not overwrite
    (allow_overwrite defaults to false: "Tried to create resource record set ... but it already exists"), so an
    alias already there is ours only when it points at this stack's ALB (a redeploy); any other stops the apply."""
    for record in records:
        if _fqdn(record["Name"]) != _fqdn(host):
            continue
        if record["Type"] == "CNAME":
            return (f"{host} has a CNAME record: no other record may share its name, so the stack's A alias "
                    f"cannot be created; delete the CNAME, or choose another alb.domain record name")
        if record["Type"] == "A" and "AliasTarget" not in record:
            return (f"{host} has an A record not made by this stack: creating its A alias to the ALB would fail "
                    f"(the record exists); delete it, or choose another alb.domain record name")
        if record["Type"] == "A" and _alias_target(record) != alb_dns:
            owner = f"this stack's ALB is {alb_dns}" if alb_dns else "this stack has no ALB yet"
            return (f"{host} already has an A alias to {_alias_target(record)} and {owner}: creating the stack's "
                    f"alias would fail (the record exists); delete it if an earlier deploy left it, or choose "
                    f"another alb.domain record name")
    return None


def _alb_dns_name(cfg: EnvConfig, aws: Aws) -> str | None:
    """The DNS name of this stack's ALB when it exists (a redeploy), else None. The name is the one the Alb
    construct gives it (modules/naming.py fit_name)."""
    try:
        found = aws.client("elbv2").describe_load_balancers(Names=[fit_name(cfg.name, LB_NAME_MAX)])
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) == "LoadBalancerNotFound":
            return None
        raise
    return found["LoadBalancers"][0]["DNSName"].rstrip(".").lower()


def check_domain(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    """alb.domain: the public zone the plan looks up exists once in this account; its records can validate the
    certificate (CAA; delegation from a parent zone in this account) and take the host names' alias records."""
    domain = cfg.alb.domain
    if domain is None:
        return []
    zone, check = domain.zone, f"zone {domain.zone}"
    route53 = aws.client("route53")
    try:
        public, private = _public_zones_named(route53, zone)
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) in ACCESS_DENIED_CODES:
            return [denied(check, "route53:ListHostedZonesByName", exc)]
        raise
    listing = "aws route53 list-hosted-zones --query 'HostedZones[?!Config.PrivateZone].Name'"
    if not public:
        kind = "only a private hosted zone" if private else "no hosted zone"
        why = (" (ACM validates through public DNS, so the validation records must be in a public zone)"
               if private else "")
        return [Finding(FAIL, check, f"{kind} named {zone} in this account{why}: the plan stops at its lookup. Set "
                                     f"alb.domain.zone to a public zone you own ({listing}), or create it (aws route53 "
                                     f"create-hosted-zone --name {zone} --caller-reference <unique>) and delegate "
                                     "it to the name servers it lists at your registrar or parent zone")]
    if len(public) > 1:
        ids = ", ".join(z["Id"].rsplit("/", 1)[-1] for z in public)
        return [Finding(FAIL, check, f"{len(public)} public hosted zones are named {zone} ({ids}): the plan's lookup "
                                     "by name accepts one only; delete the one your registrar does not delegate to "
                                     f"(compare aws route53 get-hosted-zone --id <id> with dig +short NS {zone})")]
    zone_id = public[0]["Id"].rsplit("/", 1)[-1]
    name_servers = route53.get_hosted_zone(Id=zone_id).get("DelegationSet", {}).get("NameServers", [])
    records = _record_sets(route53, zone_id)
    findings = []
    hosts = [domain.api_host] + ([cfg.alb.grafana_host()] if cfg.alb.grafana.exposure in ("vpn", "sso") else [])
    try:
        alb_dns = _alb_dns_name(cfg, aws)
    except Exception as exc:  # noqa: BLE001
        if error_code(exc) in ACCESS_DENIED_CODES:
            return [denied(check, "elasticloadbalancing:DescribeLoadBalancers", exc)]
        raise
    for host in hosts:
        problems = [_record_problem(records, host, alb_dns)] + ([_caa_problem(records, zone, host)] if cfg.alb.https else [])
        findings += [Finding(FAIL, check, problem) for problem in problems if problem]
    findings += _delegation_from_parent(route53, zone, name_servers, check)
    if not findings:
        delegated = ", ".join(sorted(ns.rstrip(".") for ns in name_servers)) or "its name servers"
        findings.append(Finding(OK, check, f"public hosted zone {zone_id} takes {', '.join(hosts)}; ACM validates "
                                           f"through public DNS, so {zone} must be delegated to {delegated} "
                                           f"(dig +short NS {zone})"))
    return findings


def _delegation_from_parent(route53, zone: str, name_servers: list[str], check: str) -> list[Finding]:
    """When the parent zone is also a public zone in this account, it must hold the NS records delegating to this
    one; otherwise the records the stack writes are never seen and the certificate never validates."""
    parent = zone.partition(".")[2]
    if "." not in parent:
        return []  # a top-level domain: the registrar delegates, not a zone of this account
    parents, _ = _public_zones_named(route53, parent)
    if len(parents) != 1:
        return []
    ns = {_fqdn(rr["Value"]) for r in _record_sets(route53, parents[0]["Id"].rsplit("/", 1)[-1])
          if _fqdn(r["Name"]) == _fqdn(zone) and r["Type"] == "NS" for rr in r.get("ResourceRecords", [])}
    wanted = {_fqdn(n) for n in name_servers}
    if ns == wanted:
        return []
    return [Finding(FAIL, check, f"the parent zone {parent} in this account does not delegate {zone} to its name "
                                 f"servers ({', '.join(sorted(n.rstrip('.') for n in wanted))}): the certificate's "
                                 f"validation records would never be seen; set the NS record {zone} in {parent} "
                                 "to them")]


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
    findings = []
    sm = aws.client("secretsmanager")
    for secret in needed_secrets(cfg):
        check = f"secret {secret.ref}"
        value = ("'{" + ", ".join(f'"{k}": ...' for k in secret.keys) + "}'") if secret.keys else "<value>"
        put = (f"aws secretsmanager put-secret-value --region {cfg.region} --secret-id {secret.secret_id} "
               f"--secret-string {value}")
        try:
            desc = sm.describe_secret(SecretId=secret.secret_id)
        except sm.exceptions.ResourceNotFoundException:
            if secret.created_here:
                findings.append(Finding(WARN, check, f"{secret.secret_id} does not exist yet: this deploy creates it "
                                                     f"empty, and what reads it cannot start until you set it "
                                                     f"right after ({put}; docs/runbook.md)"))
            else:
                create = ("" if secret.secret_id.startswith("arn:") else
                          f": aws secretsmanager create-secret --region {cfg.region} --name {secret.secret_id} "
                          f"--secret-string {value}")
                findings.append(Finding(FAIL, check, f"{secret.secret_id} does not exist ({secret.why}): create it "
                                                     f"with its value before the deploy (docs/runbook.md step 0){create}"))
            continue
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) in ACCESS_DENIED_CODES:
                findings.append(denied(check, "secretsmanager:DescribeSecret", exc))
                continue
            raise
        if desc.get("DeletedDate"):
            findings.append(Finding(FAIL, check, f"{secret.secret_id} is scheduled for deletion: aws secretsmanager "
                                                 f"restore-secret --region {cfg.region} --secret-id {secret.secret_id}"))
            continue
        stages = desc.get("VersionIdsToStages") or {}
        if not any("AWSCURRENT" in labels for labels in stages.values()):
            findings.append(Finding(FAIL, check, f"{secret.secret_id} has no value (no AWSCURRENT version; "
                                                 f"{secret.why}): {put}"))
            continue
        if not secret.keys:
            findings.append(Finding(OK, check, "has a value"))
            continue
        try:
            keys = _json_keys(sm, secret.secret_id)
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) in ACCESS_DENIED_CODES | {"KMSAccessDeniedException", "DecryptionFailure"}:
                findings.append(Finding(WARN, check, f"has a value; its keys are not checked ({error_code(exc)} on "
                                                     f"GetSecretValue): it must hold {', '.join(secret.keys)}"))
                continue
            raise
        if keys is None:
            findings.append(Finding(FAIL, check, f"{secret.secret_id} is not a JSON object; ECS reads the keys "
                                                 f"{', '.join(secret.keys)} from it: {put}"))
        elif missing := [k for k in secret.keys if k not in keys]:
            findings.append(Finding(FAIL, check, f"{secret.secret_id} lacks the key(s) {', '.join(missing)} (tasks "
                                                 f"reading them fail to start): {put}"))
        else:
            findings.append(Finding(OK, check, f"has a value with the keys {', '.join(secret.keys)}"))
    return findings


# ------------------------------------------------------------------ instances: offering and quotas
def chosen_zones(cfg: EnvConfig, aws: Aws) -> tuple[list[str], list[str]]:
    """(names of the env file's zones that are available, those that are not): network.availability_zones as
    modules/network.py writes them into the subnets (zone names, or zone ids mapped to this account's names)."""
    zones = aws.client("ec2").describe_availability_zones(Filters=[
        {"Name": "state", "Values": ["available"]},
    ])["AvailabilityZones"]
    key = "ZoneId" if cfg.network.zones_by_id else "ZoneName"
    names = {z[key]: z["ZoneName"] for z in zones}
    wanted = cfg.network.availability_zones
    return [names[z] for z in wanted if z in names], [z for z in wanted if z not in names]


def check_instance_offerings(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    findings = []
    ec2 = aws.client("ec2")
    zones, unavailable = chosen_zones(cfg, aws)
    if unavailable:
        return [Finding(FAIL, "zones", f"network.availability_zones {', '.join(unavailable)} not available in "
                                       f"{cfg.region} for this account (aws ec2 describe-availability-zones): "
                                       "choose zones it lists")]
    for name, provider in sorted(cfg.cluster.capacity_providers.items()):
        check = f"capacity provider {name}"
        offered = {o["Location"] for o in ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [provider.instance_type]},
                     {"Name": "location", "Values": zones}])["InstanceTypeOfferings"]}
        missing = [z for z in zones if z not in offered]
        if missing:
            findings.append(Finding(FAIL, check, f"{provider.instance_type} is not offered in {', '.join(missing)} "
                                                 f"(of the chosen {', '.join(zones)}): the Auto Scaling group cannot "
                                                 f"launch there; choose a type offered in every zone (aws ec2 "
                                                 f"describe-instance-type-offerings --location-type availability-zone "
                                                 f"--region {cfg.region})"))
        else:
            findings.append(Finding(OK, check, f"{provider.instance_type} offered in {', '.join(zones)}"))
    return findings


def vcpu_quota_of(instance_type: str) -> tuple[str, str] | None:
    """The On-Demand vCPU quota governing `instance_type`, by the letters its family starts with
    (g4dn -> g, inf2 -> inf, im4gn -> im: an I family), or None when not known here."""
    letters = re.match(r"[a-z]+", instance_type)
    family = letters.group(0) if letters else ""
    if family in ("im", "is"):  # im4gn, is4gen: storage-optimized I families, in the Standard quota
        family = "i"
    return VCPU_QUOTAS.get(family)


def _quota_value(aws: Aws, code: str) -> float | str:
    """The quota's applied value, else AWS's default; or why it could not be read (the error code)."""
    sq = aws.client("service-quotas")
    try:
        try:
            return sq.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
        except sq.exceptions.NoSuchResourceException:  # no applied value recorded: AWS's default applies
            return sq.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
    except sq.exceptions.ClientError as exc:
        if error_code(exc) in CREDENTIAL_ERROR_CODES:
            raise
        return error_code(exc) or "error"


def check_vcpu_quotas(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    """Each quota >= the sum over the capacity providers it governs of max_size x the type's vCPUs.
    Instances already running in the account count against the same quota; they are not subtracted."""
    providers = cfg.cluster.capacity_providers
    types = sorted({p.instance_type for p in providers.values()})
    vcpus = {t["InstanceType"]: t["VCpuInfo"]["DefaultVCpus"]
             for t in aws.client("ec2").describe_instance_types(InstanceTypes=types)["InstanceTypes"]}
    needed: dict[tuple[str, str], list[tuple[str, int]]] = {}
    findings = []
    for name, provider in sorted(providers.items()):
        quota = vcpu_quota_of(provider.instance_type)
        if quota is None:
            findings.append(Finding(WARN, f"capacity provider {name}", f"no known On-Demand vCPU quota for "
                                                                       f"{provider.instance_type}: not checked"))
            continue
        needed.setdefault(quota, []).append((name, provider.max_size * vcpus[provider.instance_type]))
    for (code, quota_name), parts in sorted(needed.items()):
        check = f"quota {code}"
        total = sum(v for _, v in parts)
        value = _quota_value(aws, code)
        detail = " + ".join(f"{n} {v}" for n, v in parts)
        if isinstance(value, str):
            findings.append(Finding(FAIL, check, f"cannot read '{quota_name}' ({value} on servicequotas:GetServiceQuota);"
                                                 f" the capacity providers need {total} vCPUs ({detail}): check it in "
                                                 f"the Service Quotas console ({cfg.region})"))
        elif value < total:
            findings.append(Finding(FAIL, check, f"'{quota_name}' is {value:g} vCPUs, the capacity providers need "
                                                 f"{total} at max_size ({detail}): request an increase (Service Quotas "
                                                 f"console, or aws service-quotas request-service-quota-increase "
                                                 f"--service-code ec2 --quota-code {code} --desired-value {total} "
                                                 f"--region {cfg.region}); new accounts start at 0 for G and VT"))
        else:
            findings.append(Finding(OK, check, f"'{quota_name}' {value:g} vCPUs >= {total} at max_size ({detail})"))
    return findings


# ------------------------------------------------------------------ database
def check_database(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    db = cfg.database
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
        return [Finding(WARN, check, f"exists but is '{status}', not available")]
    return [Finding(OK, check, f"{db.mode} exists and is available")]


# ------------------------------------------------------------------ images
def check_images(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    """The images another repository builds (`image.tag_env_var`) are in ECR under the tag synth gives them
    (commands/synth.py image_tags: the variable, else registry.app_image_tag); so are docker/ images when
    registry.image_tag_env_var names their tag (pushed by hand). docker/ images tagged by the hash of their
    build context are built and pushed by the deploy workflow itself (its step 1), so they are not required."""
    from modules.commands.synth import image_tags  # noqa: PLC0415  (no jsii: the deploy workflow imports it too)

    tags = image_tags(cfg)
    override = os.environ.get(cfg.registry.image_tag_env_var)
    findings = []
    ecr = aws.client("ecr")
    for build in sorted(tags):
        svc = next(s for s in cfg.services.values() if s.image.build == build)
        var = svc.image.tag_env_var
        if not var and not override:
            continue
        check, tag, repository = f"image {build}", tags[build], cfg.repository_name(build)
        if var and not os.environ.get(var) and not cfg.registry.app_image_tag:
            findings.append(Finding(FAIL, check, f"no release recorded: registry.app_image_tag is unset and so is {var}, "
                                                 f"so synth tags it with the git sha ({tag}), which the application "
                                                 "repository did not push; record its tag in registry.app_image_tag"))
            continue
        source = var if var and os.environ.get(var) else "registry.app_image_tag" if var else cfg.registry.image_tag_env_var
        try:
            ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
        except ecr.exceptions.RepositoryNotFoundException:
            findings.append(Finding(FAIL, check, f"no ECR repository {repository}: on a first deploy create the "
                                                 "repositories first (deploy workflow with bootstrap_registry, README "
                                                 "\"Delivery\"), then push the image"))
        except ecr.exceptions.ImageNotFoundException:
            findings.append(Finding(FAIL, check, f"{repository}:{tag} is not in ECR (tag from {source}): push it, or "
                                                 f"name a tag that was pushed; its tasks cannot start without it"))
        else:
            findings.append(Finding(OK, check, f"{repository}:{tag} is in ECR"))
    return findings


CHECKS: list[Callable[[EnvConfig, Aws], list[Finding]]] = [
    check_domain,
    check_certificate,
    check_secrets,
    check_instance_offerings,
    check_vcpu_quotas,
    check_database,
    check_images,
]


def account_id(aws: Aws) -> str:
    """The caller's account (sts:GetCallerIdentity, which needs no permission): fails first on bad credentials."""
    return aws.client("sts").get_caller_identity()["Account"]


def preflight(cfg: EnvConfig, aws: Aws) -> tuple[list[Finding], str]:
    """(findings, account). Raises CredentialsError when no check can run."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # noqa: PLC0415

    try:
        account = account_id(aws)
        findings = [finding for check in CHECKS for finding in check(cfg, aws)]
    except NoCredentialsError as exc:
        raise CredentialsError(f"no AWS credentials found ({exc}): log in (aws sso login, aws configure, AWS_PROFILE, "
                               "or the workflow's role) and rerun") from None
    except ClientError as exc:
        if error_code(exc) in CREDENTIAL_ERROR_CODES:
            raise CredentialsError(f"AWS credentials rejected ({error_code(exc)}: expired or invalid): log in again "
                                   "and rerun") from None
        raise
    except BotoCoreError as exc:  # token refresh failures, unreachable endpoint, ...
        raise CredentialsError(f"cannot reach AWS with these credentials: {exc}") from None
    return findings, account


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", default=None,
                        help="AWS endpoint for every call, e.g. an emulator (default: $AWS_ENDPOINT_URL, else AWS)")


def run(args: argparse.Namespace, cfg: EnvConfig) -> int:
    aws = Aws(cfg.region, args.endpoint_url)
    try:
        findings, account = preflight(cfg, aws)
    except CredentialsError as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for finding in findings:
        print(finding.line())
    failed = [f for f in findings if f.level == FAIL]
    warned = [f for f in findings if f.level == WARN]
    where = f"{cfg.name} in {cfg.region}, account {account}"
    if failed:
        print(f"preflight {where}: {len(failed)} problem(s): the deploy would fail; fix the FAIL lines above",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"preflight {where}: {len(findings) - len(warned)} check(s) ok, {len(warned)} warning(s): ready to deploy")
    return EXIT_OK
