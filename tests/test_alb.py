"""modules/alb.py: listeners, target groups, access-log bucket, and the three Grafana exposure modes.
The certificate and DNS records in the team's zone: tests/test_domain.py."""

from __future__ import annotations

import json
import re

import pytest

from conftest import STAGE_ZONE, variant
from modules.config.timeouts import alb_idle_timeout
from test_security_groups import group_names, rules

VPN = "198.51.100.0/24"
OFFICE = "203.0.113.0/24"
API_HOST = f"api.stage.{STAGE_ZONE}"  # stage.yaml: alb.domain.api_record in alb.domain.zone
GRAFANA_HOST = f"grafana.stage.{STAGE_ZONE}"  # alb.domain.grafana_record
EXTERNAL_CERTIFICATE = "arn:aws:acm:us-east-1:111122223333:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"


def _sso(data):
    data["secrets"]["grafana-oidc"] = {"description": "OIDC client secret", "existing": True}
    data["alb"].update(allowed_cidrs=[OFFICE], access_logs=False, deletion_protection=True, grafana={
        "exposure": "sso", "allowed_cidrs": [VPN],  # host: <domain.grafana_record>.<zone>
        "oidc": {"issuer": "https://idp.example.com", "authorization_endpoint": "https://idp.example.com/auth",
                 "token_endpoint": "https://idp.example.com/token",
                 "user_info_endpoint": "https://idp.example.com/userinfo", "client_id": "grafana",
                 "client_secret": "grafana-oidc"}})


NEW_REGION = "ap-southeast-4"  # opened after Aug 2022: no regional ELB account


def _http_vpn(data):
    """No certificate and no zone: plain HTTP, DNS records left to the team."""
    data["region"] = NEW_REGION
    data["network"].pop("availability_zones")  # the new region's default zones
    data["alb"].pop("domain")
    data["alb"].update(https=False, access_logs=True,
                       grafana={"exposure": "vpn", "host": GRAFANA_HOST, "allowed_cidrs": [VPN]})


def _external_certificate(data):
    """A certificate managed elsewhere: no zone, nothing requested or validated here."""
    data["alb"].pop("domain")
    data["alb"]["certificate_arn"] = EXTERNAL_CERTIFICATE


TERRAFORM_VALIDATE = {"test_exposure_variants_are_valid_terraform": [
    lambda synths: synths.of_data(variant(_sso)), lambda synths: synths.of_data(variant(_http_vpn))]}


@pytest.fixture(scope="module")
def sso(synths):
    return synths.of_data(variant(_sso))


@pytest.fixture(scope="module")
def http_vpn(synths):
    return synths.of_data(variant(_http_vpn))


@pytest.fixture(scope="module")
def external_certificate(synths):
    return synths.of_data(variant(_external_certificate))


def lid(reference: str) -> str:
    return reference.split(".")[1]


def oidc_secret_lookup(synth) -> str | None:
    """Logical id of the ALB's client-secret lookup (other constructs read secrets too)."""
    found = [k for k, v in synth.data("aws_secretsmanager_secret_version").items()
             if v["//"]["metadata"]["path"].endswith("/alb/oidc_client_secret")]
    assert len(found) <= 1
    return found[0] if found else None


def listeners_by_port(synth) -> dict[int, dict]:
    return {listener["port"]: listener for listener in synth.resources("aws_lb_listener").values()}


def test_stage_alb_is_internet_facing_in_public_subnets_behind_its_group(stage, stage_cfg):
    lb = stage.one("aws_lb")
    assert lb["load_balancer_type"] == "application" and lb["internal"] is False
    assert lb["drop_invalid_header_fields"] is True
    assert lb["enable_deletion_protection"] is stage_cfg.alb.deletion_protection
    assert lb["idle_timeout"] == alb_idle_timeout(stage_cfg).value  # derived: stage sets none
    assert lb["subnets"] == stage.json["output"]["public_subnet_ids"]["value"]
    assert [group_names(stage)[g] for g in lb["security_groups"]] == ["alb"]
    assert stage.json["output"]["alb_dns_name"]["value"] == f"${{aws_lb.{next(iter(stage.resources('aws_lb')))}.dns_name}}"


def test_stage_https_listener_forwards_to_the_api_and_http_redirects(stage, stage_cfg):
    listeners = listeners_by_port(stage)
    assert sorted(listeners) == [80, 443]
    https = listeners[443]
    assert https["protocol"] == "HTTPS"
    (validation,) = stage.resources("aws_acm_certificate_validation")
    # the validated certificate: Terraform creates the listener only once ACM has ISSUED it
    assert https["certificate_arn"] == f"${{aws_acm_certificate_validation.{validation}.certificate_arn}}"
    assert https["ssl_policy"] == stage_cfg.alb.ssl_policy
    (forward,) = https["default_action"]
    tg = stage.resources("aws_lb_target_group")[lid(forward["target_group_arn"])]
    assert forward["type"] == "forward" and tg["port"] == stage_cfg.alb.target.port
    (redirect,) = listeners[80]["default_action"]
    assert redirect == {"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}}


def test_stage_target_group_uses_ip_targets_and_the_env_health_check(stage, stage_cfg):
    (tg,) = stage.resources("aws_lb_target_group").values()  # internal Grafana: the api's group only
    assert tg["target_type"] == "ip" and tg["protocol"] == "HTTP" and tg["vpc_id"].startswith("${aws_vpc.")
    hc = tg["health_check"]
    expected = stage_cfg.alb.health_check
    assert (hc["path"], hc["interval"], hc["matcher"]) == (expected.path, expected.interval, expected.matcher)
    assert (hc["healthy_threshold"], hc["unhealthy_threshold"]) == (expected.healthy_threshold,
                                                                     expected.unhealthy_threshold)
    # the timeout is stated (not the provider's default) and below the interval, as ELB requires
    assert hc["timeout"] == expected.timeout < hc["interval"]


def test_stage_access_logs_bucket_is_private_encrypted_tls_only_and_writable_by_elb(stage, stage_cfg):
    lb = stage.one("aws_lb")
    bucket_id = next(iter(stage.resources("aws_s3_bucket")))
    assert lb["access_logs"]["bucket"] == f"${{aws_s3_bucket.{bucket_id}.bucket}}" and lb["access_logs"]["enabled"]
    bucket_ref = f"${{aws_s3_bucket.{bucket_id}.id}}"
    block = stage.one("aws_s3_bucket_public_access_block")
    assert block["bucket"] == bucket_ref
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls",
                                          "restrict_public_buckets"))
    sse = stage.one("aws_s3_bucket_server_side_encryption_configuration")
    assert sse["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "AES256"  # ALB: SSE-S3 only
    assert stage.one("aws_s3_bucket_ownership_controls")["rule"]["object_ownership"] == "BucketOwnerEnforced"
    lifecycle = stage.one("aws_s3_bucket_lifecycle_configuration")
    (rule,) = lifecycle["rule"]
    assert rule["expiration"][0]["days"] == stage_cfg.alb.access_logs_retention_days
    # versioned: a log deleted by hand survives as a noncurrent version for the same retention
    versioning = stage.one("aws_s3_bucket_versioning")
    assert versioning["bucket"] == bucket_ref and versioning["versioning_configuration"]["status"] == "Enabled"
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"] == stage_cfg.alb.access_logs_retention_days
    assert lifecycle["depends_on"] == [f"aws_s3_bucket_versioning.{next(iter(stage.resources('aws_s3_bucket_versioning')))}"]

    policy = stage.one("aws_s3_bucket_policy")
    assert lb["depends_on"] == [f"aws_s3_bucket_policy.{next(iter(stage.resources('aws_s3_bucket_policy')))}"]
    doc = stage.data("aws_iam_policy_document")[policy["policy"].split(".")[2]]
    statements = {s["sid"]: s for s in doc["statement"]}
    (elb,) = stage.data("aws_elb_service_account")
    write = statements["ElbWritesAccessLogs"]
    assert write["principals"] == [{"type": "AWS", "identifiers": [f"${{data.aws_elb_service_account.{elb}.arn}}"]}]
    assert write["actions"] == ["s3:PutObject"]
    # only this account's prefix under the ALB's log prefix, nothing else in the bucket
    assert re.fullmatch(rf"\$\{{aws_s3_bucket\.{bucket_id}\.arn\}}/alb/AWSLogs/"
                        r"\$\{data\.aws_caller_identity\.\w+\.account_id\}/\*", write["resources"][0])
    assert len(write["resources"]) == 1
    deny = statements["DenyInsecureTransport"]
    assert deny["effect"] == "Deny" and deny["condition"] == [
        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]


def test_stage_grafana_internal_is_not_behind_the_alb(stage):
    assert not stage.resources("aws_lb_listener_rule")
    assert "grafana_url" not in stage.json["output"]
    assert not [r for r in rules(stage, "aws_vpc_security_group_ingress_rule") if r[1] == "grafana" and r[0] == "alb"]


def test_no_prometheus_or_tempo_behind_the_alb(stage, sso, http_vpn):
    for synth in (stage, sso, http_vpn):
        ports = {tg["port"] for tg in synth.resources("aws_lb_target_group").values()}
        assert not ports & {9090, 3200, 4317, 4318}
        assert {r for r in rules(synth, "aws_vpc_security_group_ingress_rule") if r[0] == "alb"} <= {
            ("alb", "api", 8000), ("alb", "grafana", 3000)}


def test_sso_authenticates_then_forwards_only_the_vpn_on_the_grafana_host(sso):
    (rule,) = sso.resources("aws_lb_listener_rule").values()
    assert lid(rule["listener_arn"]) == next(k for k, v in sso.resources("aws_lb_listener").items() if v["port"] == 443)
    conditions = {key: value["values"] for c in rule["condition"] for key, value in c.items()}
    assert conditions == {"host_header": [GRAFANA_HOST], "source_ip": [VPN]}
    auth, forward = sorted(rule["action"], key=lambda a: a["order"])
    assert auth["type"] == "authenticate-oidc" and forward["type"] == "forward"
    oidc = auth["authenticate_oidc"]
    assert oidc["client_id"] == "grafana" and oidc["issuer"] == "https://idp.example.com"
    secret_version = oidc_secret_lookup(sso)
    assert oidc["client_secret"] == f"${{data.aws_secretsmanager_secret_version.{secret_version}.secret_string}}"
    grafana_tg = sso.resources("aws_lb_target_group")[lid(forward["target_group_arn"])]
    assert grafana_tg["port"] == 3000 and grafana_tg["target_type"] == "ip"
    assert grafana_tg["health_check"]["path"] == "/api/health"
    assert sso.json["output"]["grafana_url"]["value"] == f"https://{GRAFANA_HOST}"


def test_sso_client_secret_is_an_existing_secret_read_never_created_or_written(sso):
    """A first apply never reads a secret it has just created (empty): the client secret exists, with its
    value, before the deploy (rules.secrets_read_at_apply_exist_before_it), and is only looked up here."""
    version = sso.data("aws_secretsmanager_secret_version")[oidc_secret_lookup(sso)]
    (lookup,) = [k for k, s in sso.data("aws_secretsmanager_secret").items() if s["name"] == "araquem-stage/grafana-oidc"]
    assert version["secret_id"] == f"${{data.aws_secretsmanager_secret.{lookup}.arn}}"
    assert not [s for s in sso.resources("aws_secretsmanager_secret").values() if s["name"].endswith("/grafana-oidc")]
    assert not [v for v in sso.resources("aws_secretsmanager_secret_version").values() if lookup in v["secret_id"]]


def test_sso_groups_let_the_vpn_in_and_the_alb_out_to_grafana_and_the_idp(sso):
    ingress = rules(sso, "aws_vpc_security_group_ingress_rule")
    assert {(OFFICE, "alb", 443), (VPN, "alb", 443), (OFFICE, "alb", 80), (VPN, "alb", 80)} <= ingress
    assert not {r for r in ingress if r[1] == "alb" and r[0] not in (OFFICE, VPN)}
    assert ("alb", "grafana", 3000) in ingress
    assert ("instances", "grafana", 3000) not in ingress  # the port-forwarding path is for `internal` only
    egress = {(peer, port) for peer, group, port in rules(sso, "aws_vpc_security_group_egress_rule") if group == "alb"}
    assert egress == {("api", 8000), ("grafana", 3000), ("0.0.0.0/0", 443)}  # 443 out: the OIDC token endpoint
    assert sso.one("aws_lb")["enable_deletion_protection"] is True
    assert "access_logs" not in sso.one("aws_lb") and not sso.resources("aws_s3_bucket")


def test_http_only_forwards_on_80_and_vpn_rule_has_no_login(http_vpn):
    listeners = listeners_by_port(http_vpn)
    assert sorted(listeners) == [80]
    assert listeners[80]["protocol"] == "HTTP" and listeners[80]["default_action"][0]["type"] == "forward"
    assert {r[2] for r in rules(http_vpn, "aws_vpc_security_group_ingress_rule") if r[1] == "alb"} == {80}
    (rule,) = http_vpn.resources("aws_lb_listener_rule").values()
    assert [a["type"] for a in rule["action"]] == ["forward"]
    assert oidc_secret_lookup(http_vpn) is None
    assert http_vpn.json["output"]["grafana_url"]["value"] == f"http://{GRAFANA_HOST}"


@pytest.mark.parametrize("name", ["sso", "http_vpn"])
def test_exposure_variants_are_valid_terraform(name, request, terraform_validation):
    result = terraform_validation.of(request.getfixturevalue(name))
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)


def test_access_logs_in_a_region_without_elb_account_use_the_log_delivery_principal(http_vpn):
    assert not http_vpn.data("aws_elb_service_account")
    doc = http_vpn.data("aws_iam_policy_document")[http_vpn.one("aws_s3_bucket_policy")["policy"].split(".")[2]]
    (write,) = [st for st in doc["statement"] if st["sid"] == "ElbWritesAccessLogs"]
    assert write["principals"] == [{"type": "Service", "identifiers": ["logdelivery.elasticloadbalancing.amazonaws.com"]}]
