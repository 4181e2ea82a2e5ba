"""modules/commands/preflight/edge.py against moto in-process: the certificate, the DNS zone and its records."""

from __future__ import annotations

import boto3
import pytest
from moto import settings as moto_settings

from modules.commands import preflight
from modules.config import ConfigError
from modules.config.defaults import LB_NAME_MAX
from modules.naming import fit_name
from preflight_support import (  # noqa: F401  (aws: the fixture)
    ACCOUNT,
    REGION,
    aws,
    env_cfg,
    hosted_zone,
    levels,
    with_certificate,
    with_zone,
)


# ------------------------------------------------------------------ certificate
def issue_at_once(monkeypatch):
    """moto issues a requested certificate once it is older than MOTO_ACM_VALIDATION_WAIT (read at import)."""
    monkeypatch.setattr(moto_settings, "ACM_VALIDATION_WAIT", -1)


def issued_certificate(names: list[str], monkeypatch) -> str:
    issue_at_once(monkeypatch)
    acm = boto3.client("acm", region_name=REGION)
    return acm.request_certificate(DomainName=names[0], SubjectAlternativeNames=names,
                                   ValidationMethod="DNS")["CertificateArn"]


def test_certificate_issued_covering_the_hosts_passes(aws, tmp_path, monkeypatch):
    arn = issued_certificate(["api.example.com", "*.example.com"], monkeypatch)
    cfg = env_cfg(tmp_path, with_certificate(arn, grafana_host="grafana.example.com"))
    findings = preflight.check_certificate(cfg, aws)
    assert levels(findings) == ["ok"], findings
    assert "ISSUED" in findings[0].text


def test_certificate_missing_pending_uncovering_or_in_another_region_fails(aws, tmp_path, monkeypatch):
    missing = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/00000000-0000-0000-0000-000000000000"
    [finding] = preflight.check_certificate(env_cfg(tmp_path, with_certificate(missing)), aws)
    assert finding.level == "FAIL" and "does not exist in this account" in finding.text

    other_region = missing.replace(REGION, "eu-west-1")  # refused when the env file loads (config rules/edge.py)
    with pytest.raises(ConfigError, match="takes ACM certificates of its own Region only"):
        env_cfg(tmp_path, with_certificate(other_region))

    pending = boto3.client("acm", region_name=REGION).request_certificate(
        DomainName="api.example.com", ValidationMethod="DNS")["CertificateArn"]  # default wait: 60 s
    [finding] = preflight.check_certificate(env_cfg(tmp_path, with_certificate(pending)), aws)
    assert finding.level == "FAIL" and "PENDING_VALIDATION, not ISSUED" in finding.text

    arn = issued_certificate(["api.example.com", "*.example.com"], monkeypatch)
    cfg = env_cfg(tmp_path, with_certificate(arn, grafana_host="grafana.ops.example.com"))  # a wildcard: one label
    [finding] = preflight.check_certificate(cfg, aws)
    assert finding.level == "FAIL" and "does not cover grafana.ops.example.com" in finding.text


# ------------------------------------------------------------------ DNS zone (alb.domain)
def add_record(zone_id: str, name: str, rtype: str, *values: str) -> None:
    boto3.client("route53", region_name=REGION).change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": {
            "Name": name, "Type": rtype, "TTL": 300, "ResourceRecords": [{"Value": v} for v in values]}}]})


def name_servers(zone_id: str) -> list[str]:
    return boto3.client("route53", region_name=REGION).get_hosted_zone(Id=zone_id)["DelegationSet"]["NameServers"]


def test_public_zone_that_can_take_the_certificate_and_records_passes(aws, tmp_path):
    cfg = env_cfg(tmp_path)  # stage as shipped: alb.domain.zone names the team's zone
    zone_id = hosted_zone(cfg.alb.domain.zone)
    add_record(zone_id, cfg.alb.domain.zone, "CAA", '0 issue "amazon.com"', '0 issue "letsencrypt.org"')
    [finding] = preflight.check_domain(cfg, aws)
    assert finding.level == "ok" and finding.check == f"zone {cfg.alb.domain.zone}", finding
    assert f"takes api.stage.{cfg.alb.domain.zone}" in finding.text
    assert all(ns in finding.text for ns in name_servers(zone_id))  # where the registrar must delegate

    # a zone delegated from its parent zone in the same account, with Grafana's host on the certificate
    parent = hosted_zone("example.net")
    child = hosted_zone("stage.example.net")
    add_record(parent, "stage.example.net", "NS", *name_servers(child))
    [finding] = preflight.check_domain(env_cfg(tmp_path, with_zone("stage.example.net", grafana_sso=True)), aws)
    assert finding.level == "ok" and "api.stage.stage.example.net, grafana.stage.stage.example.net" in finding.text


def test_zone_missing_private_duplicated_or_unable_to_validate_fails(aws, tmp_path):
    cfg = env_cfg(tmp_path)
    zone = cfg.alb.domain.zone
    [finding] = preflight.check_domain(cfg, aws)
    assert finding.level == "FAIL" and f"no hosted zone named {zone} in this account" in finding.text
    assert "aws route53 list-hosted-zones" in finding.text and f"create-hosted-zone --name {zone}" in finding.text

    hosted_zone(zone, private=True)  # ACM cannot see a private zone's records
    [finding] = preflight.check_domain(cfg, aws)
    assert finding.level == "FAIL" and f"only a private hosted zone named {zone}" in finding.text

    first, second = hosted_zone(zone), hosted_zone(zone)
    [finding] = preflight.check_domain(cfg, aws)
    assert finding.level == "FAIL" and f"2 public hosted zones are named {zone}" in finding.text
    boto3.client("route53", region_name=REGION).delete_hosted_zone(Id=second)

    add_record(first, zone, "CAA", '0 issue "letsencrypt.org"')  # CAA at the apex applies to every name below
    add_record(first, f"api.stage.{zone}", "CNAME", "old-alb.example.org")
    findings = preflight.check_domain(cfg, aws)
    assert levels(findings) == ["FAIL", "FAIL"]
    assert f"api.stage.{zone} has a CNAME record" in findings[0].text
    assert "do not allow ACM to issue" in findings[1].text and '0 issue "amazon.com"' in findings[1].text

    hosted_zone("example.net")  # the parent zone is in this account but does not delegate to the child
    hosted_zone("stage.example.net")
    [finding] = preflight.check_domain(env_cfg(tmp_path, with_zone("stage.example.net")), aws)
    assert finding.level == "FAIL" and "the parent zone example.net in this account does not delegate" in finding.text


def add_alias(zone_id: str, name: str, target: str) -> None:
    boto3.client("route53", region_name=REGION).change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": target, "EvaluateTargetHealth": True}}}]})


def stack_alb(cfg) -> str:
    """This stack's ALB (named as the Alb construct names it) in moto; its DNS name."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{z}")
               ["Subnet"]["SubnetId"] for i, z in enumerate("ab")]
    lb = boto3.client("elbv2", region_name=REGION).create_load_balancer(
        Name=fit_name(cfg.name, LB_NAME_MAX), Subnets=subnets)["LoadBalancers"][0]
    return lb["DNSName"]


def test_an_alias_on_the_host_is_only_taken_for_this_stacks_alb(aws, tmp_path):
    """aws_route53_record never overwrites (allow_overwrite false): an alias left by anything else stops the apply."""
    cfg = env_cfg(tmp_path)
    zone, host = cfg.alb.domain.zone, cfg.alb.domain.api_host
    zone_id = hosted_zone(zone)
    add_alias(zone_id, host, "old-alb-123.us-east-1.elb.amazonaws.com")
    [finding] = preflight.check_domain(cfg, aws)  # first deploy: no ALB of this stack yet
    assert finding.level == "FAIL" and f"{host} already has an A alias to old-alb-123" in finding.text
    assert "this stack has no ALB yet" in finding.text

    dns = stack_alb(cfg)  # a redeploy: the ALB exists, the alias points elsewhere
    [finding] = preflight.check_domain(cfg, aws)
    assert finding.level == "FAIL" and f"this stack's ALB is {dns.lower()}" in finding.text

    boto3.client("route53", region_name=REGION).change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
        "Changes": [{"Action": "DELETE", "ResourceRecordSet": {"Name": host, "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "old-alb-123.us-east-1.elb.amazonaws.com",
            "EvaluateTargetHealth": True}}}]})
    add_alias(zone_id, host, f"dualstack.{dns}.")  # the stack's own alias, as Route 53 may spell it
    [finding] = preflight.check_domain(cfg, aws)
    assert finding.level == "ok", finding


def test_caa_records_without_an_issue_property_let_acm_issue(aws, tmp_path):
    """RFC 8659: only "issue" properties restrict non-wildcard names; iodef/issuewild alone do not."""
    cfg = env_cfg(tmp_path)
    zone_id = hosted_zone(cfg.alb.domain.zone)
    add_record(zone_id, cfg.alb.domain.zone, "CAA", '0 iodef "mailto:security@example.com"',
               '0 issuewild "letsencrypt.org"')
    [finding] = preflight.check_domain(cfg, aws)
    assert finding.level == "ok", finding
    add_record(zone_id, cfg.alb.domain.api_host, "CAA", '0 issue ";"')  # no CA at all for the api host
    [finding] = preflight.check_domain(cfg, aws)
    assert finding.level == "FAIL" and "do not allow ACM to issue" in finding.text
