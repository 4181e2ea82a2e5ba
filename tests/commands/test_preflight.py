"""modules/commands/preflight/ against moto's in-process AWS (mock_aws): each check with a passing and a
failing case, the exit codes, and credentials that are missing or expired.

moto 5.2's Service Quotas knows only VPC quotas (GetServiceQuota for ec2/L-DB2E81BA answers
NoSuchResourceException "not available in the current Region"), so the vCPU quota check runs on botocore's
Stubber, with responses shaped like the real GetServiceQuota (the Stubber validates them against the API model).
"""

from __future__ import annotations

import argparse
import json
import re

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws
from moto import settings as moto_settings
from moto.server import ThreadedMotoServer

from conftest import run_main, variant
from preflight_support import ACCOUNT, REGION, env_cfg, levels
from modules.commands import preflight
from modules.config import LB_NAME_MAX, ConfigError
from modules.naming import fit_name

QUOTA_NAMES = {"L-DB2E81BA": "Running On-Demand G and VT instances",
               "L-1216C47A": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"}
ENOUGH = {"L-1216C47A": 64.0, "L-DB2E81BA": 8.0}  # stage needs 16 standard (general 4 x 4) and 4 G (gpu 1 x 4)


def quota_response(code: str, value: float) -> dict:
    """GetServiceQuota as AWS answers it (fields from the Service Quotas API reference)."""
    return {"Quota": {"ServiceCode": "ec2", "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                      "QuotaArn": f"arn:aws:servicequotas:{REGION}:{ACCOUNT}:ec2/{code}", "QuotaCode": code,
                      "QuotaName": QUOTA_NAMES[code], "Value": value, "Unit": "None", "Adjustable": True,
                      "GlobalQuota": False,
                      "UsageMetric": {"MetricNamespace": "AWS/Usage", "MetricName": "ResourceCount",
                                      "MetricDimensions": {"Class": "Standard/OnDemand", "Resource": "vCPU",
                                                           "Service": "EC2", "Type": "Resource"},
                                      "MetricStatisticRecommendation": "Maximum"}}}


def stubbed_quotas(values: dict[str, float]) -> tuple[object, Stubber]:
    client = boto3.client("service-quotas", region_name=REGION)
    stub = Stubber(client)
    for code in sorted(values):  # the check asks in quota-code order
        stub.add_response("get_service_quota", quota_response(code, values[code]),
                          {"ServiceCode": "ec2", "QuotaCode": code})
    stub.activate()
    return client, stub


@pytest.fixture(autouse=True)
def no_tag_overrides(monkeypatch):
    """A developer's shell may export the image tag variables; each test sets what it means."""
    for var in ("ARAQUEM_APP_IMAGE_TAG", "ARAQUEM_IMAGE_TAG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def aws():
    with mock_aws():
        yield preflight.Aws(REGION)


def with_certificate(arn: str, grafana_host: str | None = None):
    def mutate(data):
        data["alb"].pop("domain", None)
        data["alb"]["certificate_arn"] = arn
        if grafana_host:
            data["alb"]["grafana"] = {"exposure": "vpn", "host": grafana_host, "allowed_cidrs": ["10.8.0.0/16"]}
    return mutate


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
def hosted_zone(name: str, private: bool = False) -> str:
    route53 = boto3.client("route53", region_name=REGION)
    vpc = ({"VPC": {"VPCRegion": REGION, "VPCId": boto3.client("ec2", region_name=REGION).create_vpc(
        CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]}} if private else {})
    zone = route53.create_hosted_zone(Name=name, CallerReference=f"{name}-{private}-{len(route53.list_hosted_zones()['HostedZones'])}",
                                      HostedZoneConfig={"PrivateZone": private}, **vpc)
    return zone["HostedZone"]["Id"]


def add_record(zone_id: str, name: str, rtype: str, *values: str) -> None:
    boto3.client("route53", region_name=REGION).change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": {
            "Name": name, "Type": rtype, "TTL": 300, "ResourceRecords": [{"Value": v} for v in values]}}]})


def name_servers(zone_id: str) -> list[str]:
    return boto3.client("route53", region_name=REGION).get_hosted_zone(Id=zone_id)["DelegationSet"]["NameServers"]


def with_zone(zone: str, grafana_sso: bool = False):
    def mutate(data):
        data["alb"]["domain"]["zone"] = zone
        if grafana_sso:
            data["secrets"]["grafana-oidc"] = {"existing": True}
            data["alb"]["grafana"] = grafana_sso_exposure("grafana-oidc")
    return mutate


def grafana_sso_exposure(secret: str) -> dict:
    idp = "https://idp.example.com"
    return {"exposure": "sso", "allowed_cidrs": ["198.51.100.0/24"],
            "oidc": {"issuer": idp, "authorization_endpoint": f"{idp}/a", "token_endpoint": f"{idp}/t",
                     "user_info_endpoint": f"{idp}/u", "client_id": "grafana", "client_secret": secret}}


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


# ------------------------------------------------------------------ secrets
def keyed_secret_id(cfg, name: str) -> str:
    return cfg.secret_name(name)


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


# ------------------------------------------------------------------ instance type offering
def test_gpu_instance_type_offered_in_the_chosen_zones_passes(aws, tmp_path):
    findings = preflight.check_instance_offerings(env_cfg(tmp_path), aws)
    assert levels(findings) == ["ok", "ok"] and "g5.xlarge offered in us-east-1a, us-east-1b" in findings[1].text


def test_gpu_instance_type_missing_in_a_chosen_zone_fails(aws, tmp_path):
    def five_zones(data):  # us-east-1a..e: moto (like AWS) offers neither g5 nor m6i in us-east-1e
        data["network"]["availability_zones"] = [f"us-east-1{x}" for x in "abcde"]
        data["network"].pop("az_count", None)
    findings = {f.check: f for f in preflight.check_instance_offerings(env_cfg(tmp_path, five_zones), aws)}
    gpu = findings["capacity provider gpu"]
    assert gpu.level == "FAIL" and "g5.xlarge is not offered in us-east-1e (of the chosen us-east-1a," in gpu.text
    assert findings["capacity provider general"].level == "FAIL"

    def four_zones_in_ireland(data):  # more zones than the region has (moto's eu-west-1 has 3, like AWS's)
        data["region"] = "eu-west-1"
        data["network"]["availability_zones"] = [f"eu-west-1{x}" for x in "abcd"]
        data["network"].pop("az_count", None)
    [finding] = preflight.check_instance_offerings(env_cfg(tmp_path, four_zones_in_ireland), preflight.Aws("eu-west-1"))
    assert finding.level == "FAIL" and "eu-west-1d not available in eu-west-1" in finding.text


# ------------------------------------------------------------------ vCPU quotas (Stubber: moto lacks them)
def test_vcpu_quotas_covering_max_size_pass(aws, tmp_path):
    client, stub = stubbed_quotas(ENOUGH)
    aws.clients["service-quotas"] = client
    findings = preflight.check_vcpu_quotas(env_cfg(tmp_path), aws)
    stub.assert_no_pending_responses()
    assert levels(findings) == ["ok", "ok"], findings
    assert "8 vCPUs >= 4 at max_size (gpu 4)" in findings[1].text


def test_new_accounts_zero_gpu_quota_fails_with_the_increase_to_request(aws, tmp_path):
    client, stub = stubbed_quotas({"L-1216C47A": 8.0, "L-DB2E81BA": 0.0})
    aws.clients["service-quotas"] = client
    findings = {f.check: f for f in preflight.check_vcpu_quotas(env_cfg(tmp_path), aws)}
    gpu, standard = findings["quota L-DB2E81BA"], findings["quota L-1216C47A"]
    assert gpu.level == "FAIL" and "is 0 vCPUs" in gpu.text and "--quota-code L-DB2E81BA --desired-value 4" in gpu.text
    assert standard.level == "FAIL" and "need 16 at max_size (general 16)" in standard.text


def test_instance_families_map_to_their_quota():
    assert preflight.vcpu_quota_of("g4dn.xlarge")[0] == preflight.GPU_VCPU_QUOTA
    assert preflight.vcpu_quota_of("vt1.3xlarge")[0] == preflight.GPU_VCPU_QUOTA
    assert preflight.vcpu_quota_of("m6i.xlarge")[0] == preflight.STANDARD_VCPU_QUOTA
    assert preflight.vcpu_quota_of("im4gn.large")[0] == preflight.STANDARD_VCPU_QUOTA
    assert preflight.vcpu_quota_of("inf2.xlarge")[0] == "L-1945791B"
    assert preflight.vcpu_quota_of("p4d.24xlarge")[0] == "L-417A185B"
    assert preflight.vcpu_quota_of("hpc7g.4xlarge") is None


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
    assert levels(preflight.check_database(env_cfg(tmp_path, database("instance", "araquem-db")), aws)) == ["ok"]
    assert levels(preflight.check_database(env_cfg(tmp_path, database("cluster", "araquem-cluster")), aws)) == ["ok"]


def test_referenced_rds_identifier_that_does_not_exist_fails(aws, tmp_path):
    [finding] = preflight.check_database(env_cfg(tmp_path, database("instance", "araquem-db")), aws)
    assert finding.level == "FAIL" and "no RDS DB instance 'araquem-db'" in finding.text
    [finding] = preflight.check_database(env_cfg(tmp_path, database("cluster", "araquem-db")), aws)
    assert finding.level == "FAIL" and "no RDS DB cluster 'araquem-db'" in finding.text
    assert preflight.check_database(env_cfg(tmp_path), aws) == []  # stage: mode none, nothing to look up


# ------------------------------------------------------------------ images
def push(ecr, repository: str, tag: str) -> None:
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                           "digest": "sha256:" + "0" * 64}, "layers": [], "annotations": {"tag": tag}}
    ecr.put_image(repositoryName=repository, imageTag=tag, imageManifest=json.dumps(manifest))


def test_app_images_pushed_under_the_given_tag_pass(aws, tmp_path, monkeypatch):
    cfg = env_cfg(tmp_path)
    monkeypatch.setenv("ARAQUEM_APP_IMAGE_TAG", "v1.2.3")
    ecr = boto3.client("ecr", region_name=REGION)
    app_builds = sorted(s.image.build for s in cfg.services.values() if s.image.tag_env_var)
    assert app_builds == ["api", "rag-indexer"]
    for build in app_builds:
        ecr.create_repository(repositoryName=cfg.repository_name(build))
        push(ecr, cfg.repository_name(build), "v1.2.3")
    findings = preflight.check_images(cfg, aws)
    assert levels(findings) == ["ok", "ok"] and "araquem-stage/api:v1.2.3 is in ECR" in findings[0].text

    monkeypatch.delenv("ARAQUEM_APP_IMAGE_TAG")  # the release the env file records (app-release workflow)
    released = env_cfg(tmp_path, lambda data: data["registry"].update(app_image_tag="v1.2.3"))
    assert levels(preflight.check_images(released, aws)) == ["ok", "ok"]


def test_app_image_missing_repository_tag_or_variable_fails(aws, tmp_path, monkeypatch):
    cfg = env_cfg(tmp_path)
    monkeypatch.delenv("ARAQUEM_APP_IMAGE_TAG", raising=False)
    assert cfg.registry.app_image_tag is None  # stage records no release yet
    assert {f.level for f in preflight.check_images(cfg, aws)} == {"FAIL"}
    assert "no release recorded: registry.app_image_tag is unset" in preflight.check_images(cfg, aws)[0].text

    monkeypatch.setenv("ARAQUEM_APP_IMAGE_TAG", "v1.2.3")
    ecr = boto3.client("ecr", region_name=REGION)
    ecr.create_repository(repositoryName=cfg.repository_name("api"))
    push(ecr, cfg.repository_name("api"), "v1.2.2")
    findings = {f.check: f for f in preflight.check_images(cfg, aws)}
    api = findings["image api"]
    assert api.level == "FAIL" and "araquem-stage/api:v1.2.3 is not in ECR (tag from ARAQUEM_APP_IMAGE_TAG)" in api.text
    assert findings["image rag-indexer"].level == "FAIL"
    assert "no ECR repository araquem-stage/rag-indexer" in findings["image rag-indexer"].text


def test_a_check_the_caller_may_not_call_is_a_finding_for_that_item_the_others_still_checked(aws, tmp_path, monkeypatch):
    """per_item: AccessDenied on one item's first call is that item's FAIL line (what to call, with what role),
    not a traceback; the next item is still checked."""
    cfg = env_cfg(tmp_path)
    monkeypatch.setenv("ARAQUEM_APP_IMAGE_TAG", "v1.2.3")
    ecr = boto3.client("ecr", region_name=REGION)
    stub = Stubber(ecr)
    stub.add_client_error("describe_images", "AccessDeniedException", http_status_code=400)
    stub.add_client_error("describe_images", "RepositoryNotFoundException", http_status_code=400)
    aws.clients["ecr"] = ecr
    with stub:
        api, rag = preflight.check_images(cfg, aws)
    assert api.level == "FAIL" and api.text.startswith("cannot check: AccessDeniedException on ecr:DescribeImages")
    assert rag.level == "FAIL" and "no ECR repository araquem-stage/rag-indexer" in rag.text


# ------------------------------------------------------------------ the command: exit codes, summary
class QuotaStubbedAws(preflight.Aws):
    """Service Quotas stubbed; every operation any client is asked for recorded (`calls`)."""
    quotas = ENOUGH
    calls: list[str] = []

    def __init__(self, region, endpoint_url=None):
        super().__init__(region, endpoint_url)
        self.clients["service-quotas"], _ = stubbed_quotas(self.quotas)
        self.clients["service-quotas"].meta.events.register_first("before-parameter-build", self._record)

    def _record(self, model, **_):
        QuotaStubbedAws.calls.append(model.name)

    def client(self, service):
        if service not in self.clients:
            super().client(service).meta.events.register_first("before-parameter-build", self._record)
        return self.clients[service]


def ready_account(cfg, tag: str) -> None:
    """What a team has done before its first deploy of this env file."""
    sm, ecr = boto3.client("secretsmanager", region_name=REGION), boto3.client("ecr", region_name=REGION)
    if cfg.alb.domain:
        hosted_zone(cfg.alb.domain.zone)
    for name, spec in cfg.secrets.items():
        if spec.keys:
            sm.create_secret(Name=cfg.secret_name(name), SecretString=json.dumps(dict.fromkeys(spec.keys, "x")))
    for build in sorted({s.image.build for s in cfg.services.values() if s.image.tag_env_var}):
        ecr.create_repository(repositoryName=cfg.repository_name(build))
        push(ecr, cfg.repository_name(build), tag)


def preflight_on_a_ready_account(tmp_path, monkeypatch, capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of preflight on a moto account holding everything stage needs."""
    monkeypatch.setattr(preflight, "Aws", QuotaStubbedAws)
    monkeypatch.setenv("ARAQUEM_APP_IMAGE_TAG", "v1.2.3")
    with mock_aws():
        cfg = env_cfg(tmp_path)  # stage as shipped: its zone and its existing secret are in the account
        ready_account(cfg, "v1.2.3")
        code = preflight.run(argparse.Namespace(endpoint_url=None), cfg)
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_account_exits_0_with_a_summary(tmp_path, monkeypatch, capsys):
    code, out, err = preflight_on_a_ready_account(tmp_path, monkeypatch, capsys)
    assert code == 0, out + err
    assert "FAIL" not in out and err == ""
    assert out.splitlines()[-1].startswith(f"preflight araquem-stage in {REGION}, account {ACCOUNT}: ")
    assert "ready to deploy" in out.splitlines()[-1]
    # read-only: nothing but Describe/List/Get (GetSecretValue only for key names: not in any line above)
    assert QuotaStubbedAws.calls and all(re.match(r"(Describe|List|Get)[A-Z]", c) for c in QuotaStubbedAws.calls)
    assert {"GetCallerIdentity", "ListHostedZonesByName", "DescribeSecret", "DescribeInstanceTypeOfferings",
            "GetServiceQuota", "DescribeImages", "DescribeResourcePolicies"} <= set(QuotaStubbedAws.calls)
    # stage as shipped has no alarm subscription yet: a warning, not a failure
    assert any(ln.startswith("warn  alarm recipients: ") for ln in out.splitlines())


def test_endpoint_url_sends_every_call_to_an_emulator(tmp_path):
    """`--endpoint-url`: main.py against moto's server on 127.0.0.1 (a free port), stopped by the test. moto's
    Service Quotas cannot answer for EC2, which preflight reports as a finding, not a crash."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env_file = tmp_path / "env.yaml"
        placeholder = f"arn:aws:acm:{REGION}:000000000000:certificate/00000000-0000-0000-0000-000000000000"
        env_file.write_text(yaml.safe_dump(variant(with_certificate(placeholder)), sort_keys=False))
        proc = run_main("preflight", "--env-file", str(env_file), "--endpoint-url", f"http://{host}:{port}",
                        timeout=120, env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                                          "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None})
    finally:
        server.stop()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("ok    capacity provider gpu: g5.xlarge offered in us-east-1a, us-east-1b") for ln in lines)
    assert any(ln.startswith("FAIL  quota L-DB2E81BA: cannot read") for ln in lines)
    assert any(ln.startswith("FAIL  certificate:") and "does not exist in this account" in ln for ln in lines)


def test_a_failing_check_exits_2_one_line_per_finding(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(QuotaStubbedAws, "quotas", {"L-1216C47A": 64.0, "L-DB2E81BA": 0.0})
    code, out, err = preflight_on_a_ready_account(tmp_path, monkeypatch, capsys)
    assert code == 2
    assert [ln for ln in out.splitlines() if ln.startswith("FAIL")] == [
        ln for ln in out.splitlines() if "L-DB2E81BA" in ln]
    assert "1 problem(s): the deploy would fail" in err


def test_expired_credentials_are_one_line_exit_2(tmp_path, capsys, monkeypatch):
    cfg = env_cfg(tmp_path)

    class ExpiredAws(preflight.Aws):
        def __init__(self, region, endpoint_url=None):
            super().__init__(region, endpoint_url)
            sts = boto3.client("sts", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
            stub = Stubber(sts)
            stub.add_client_error("get_caller_identity", "ExpiredToken", "The security token included in the "
                                  "request is expired", http_status_code=403)
            stub.activate()
            self.clients["sts"] = sts

    monkeypatch.setattr(preflight, "Aws", ExpiredAws)
    assert preflight.run(argparse.Namespace(endpoint_url=None), cfg) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "AWS credentials rejected (ExpiredToken" in err


def test_missing_credentials_are_one_line_exit_2_from_the_cli():
    no_credentials = {v: None for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE")}
    proc = run_main("preflight", "--env", "stage", timeout=60, env={
        **no_credentials, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("preflight: no AWS credentials found")
