"""Preflight checks of the edge: the TLS certificate (alb.certificate_arn), or the Route 53 zone the stack
requests and validates one in (alb.domain) and the records it will write there."""

from __future__ import annotations

from modules.commands.preflight.findings import ACCESS_DENIED_CODES, FAIL, OK, Aws, Finding, denied, error_code
from modules.config import EnvConfig
from modules.config.defaults import LB_NAME_MAX
from modules.naming import fit_name

# ACM user guide, "CAA records": a CAA record set that applies to a name must allow one of these for ACM to
# issue a certificate for it (no CAA record at all allows every authority).
ACM_CAA_ISSUERS = ("amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com")


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


