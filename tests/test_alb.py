"""modules/alb.py: listeners, target groups, access-log bucket, and the three Grafana exposure modes.
The certificate and DNS records in the team's zone: tests/test_domain.py."""

from __future__ import annotations

import ipaddress
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


# ---------------------------------------------------------------- what the listener does with a request
def _glob(pattern: str, value: str, case_sensitive: bool) -> bool:
    """ALB match: `*` any characters (also `/`), `?` one (ELB user guide, "Listener rules": path and host
    conditions); paths are case-sensitive, host names are not."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _matches(condition: dict, path: str, host: str, source_ip: str) -> bool:
    (kind, spec), = condition.items()
    values = spec["values"]
    if kind == "path_pattern":
        return any(_glob(v, path, True) for v in values)
    if kind == "host_header":
        return any(_glob(v, host, False) for v in values)
    if kind == "source_ip":
        return any(ipaddress.ip_address(source_ip) in ipaddress.ip_network(v) for v in values)
    raise AssertionError(f"the evaluator does not know condition {kind}")


def _outcome(synth, actions: list[dict]) -> str:
    """`forward:<target port>`, `authenticate-oidc,forward:<port>`, `fixed-response:<status>`, `redirect:<port>`."""
    out = []
    for action in sorted(actions, key=lambda a: a.get("order", 0)):
        if action["type"] == "forward":
            out.append(f"forward:{synth.resources('aws_lb_target_group')[lid(action['target_group_arn'])]['port']}")
        elif action["type"] == "fixed-response":
            out.append(f"fixed-response:{action['fixed_response']['status_code']}")
        elif action["type"] == "redirect":
            out.append(f"redirect:{action['redirect']['port']}")
        else:
            out.append(action["type"])
    return ",".join(out)


def fate(synth, port: int, path: str, host: str = API_HOST, source_ip: str = "192.0.2.10") -> str:
    """What the synthesized listener on `port` does with a request: its rules by priority (every condition of a
    rule must match), else the default action."""
    listener_id, listener = next((k, v) for k, v in synth.resources("aws_lb_listener").items() if v["port"] == port)
    rules_ = sorted((r for r in synth.resources("aws_lb_listener_rule").values() if lid(r["listener_arn"]) == listener_id),
                    key=lambda r: r["priority"])
    for rule in rules_:
        if all(_matches(c, path, host, source_ip) for c in rule["condition"]):
            return _outcome(synth, rule["action"])
    return _outcome(synth, listener["default_action"])


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
    (not_found,) = https["default_action"]  # only the public paths are forwarded (test_public_paths_*)
    assert not_found["type"] == "fixed-response" and not_found["fixed_response"]["status_code"] == "404"
    assert fate(stage, 443, "/api/ask") == f"forward:{stage_cfg.alb.target.port}"
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
    forwarded = {_outcome(stage, r["action"]) for r in stage.resources("aws_lb_listener_rule").values()}
    assert forwarded == {"forward:8000"}  # the api's public paths only
    assert fate(stage, 443, "/", host=GRAFANA_HOST, source_ip=VPN.replace("0/24", "7")) == "fixed-response:404"
    assert "grafana_url" not in stage.json["output"]
    assert not [r for r in rules(stage, "aws_vpc_security_group_ingress_rule") if r[1] == "grafana" and r[0] == "alb"]


def test_no_prometheus_or_tempo_behind_the_alb(stage, sso, http_vpn):
    for synth in (stage, sso, http_vpn):
        ports = {tg["port"] for tg in synth.resources("aws_lb_target_group").values()}
        assert not ports & {9090, 3200, 4317, 4318}
        assert {r for r in rules(synth, "aws_vpc_security_group_ingress_rule") if r[0] == "alb"} <= {
            ("alb", "api", 8000), ("alb", "grafana", 3000)}


def grafana_rule(synth) -> dict:
    (rule,) = [r for r in synth.resources("aws_lb_listener_rule").values()
               if any("host_header" in c for c in r["condition"])]
    return rule


def test_sso_authenticates_then_forwards_only_the_vpn_on_the_grafana_host(sso):
    rule = grafana_rule(sso)
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
    assert listeners[80]["protocol"] == "HTTP" and fate(http_vpn, 80, "/healthz") == "forward:8000"
    assert fate(http_vpn, 80, "/metrics") == "fixed-response:404"
    assert {r[2] for r in rules(http_vpn, "aws_vpc_security_group_ingress_rule") if r[1] == "alb"} == {80}
    rule = grafana_rule(http_vpn)
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


# ---------------------------------------------------------------- only public paths public (issue 26)
@pytest.fixture(scope="module")
def small_internal(synths):
    from small_envs import small_env
    return synths.of_data(small_env())


@pytest.mark.parametrize("path, expected", [
    ("/healthz", "forward:8000"),          # the health check path: in the derived default (uptime checks)
    ("/api", "forward:8000"), ("/api/v1/ask", "forward:8000"),  # the default API prefix and below it
    ("/apix", "fixed-response:404"),       # a prefix is segment-wise, not a string prefix
    ("/metrics", "fixed-response:404"),    # Prometheus scrapes it inside the VPC
    ("/ops/quality/push", "fixed-response:404"), ("/ops/x", "fixed-response:404"),  # the crons' ops endpoints
    ("/", "fixed-response:404"), ("/docs", "fixed-response:404"),
])
def test_stage_public_paths_each_paths_fate(stage, path, expected):
    assert fate(stage, 443, path) == expected
    assert fate(stage, 80, path) == "redirect:443"  # HTTP only ever redirects; the HTTPS listener decides


@pytest.mark.parametrize("path, expected", [
    ("/v1/chat", "forward:8080"), ("/v1/chat/completions", "forward:8080"), ("/v1/models", "forward:8080"),
    ("/livez", "fixed-response:404"),  # listed public_paths replace the default: the health check stays inside
    ("/V1/chat", "fixed-response:404"),  # ALB path patterns are case-sensitive
    ("/metrics", "fixed-response:404"), ("/ops/x", "fixed-response:404"), ("/", "fixed-response:404"),
])
def test_listed_public_paths_replace_the_default(small_internal, path, expected):
    assert fate(small_internal, 443, path) == expected


def test_public_path_rules_stay_within_the_alb_quotas(stage, small_internal):
    """ELB quotas: 5 condition values and 5 wildcards per rule, 100 rules per load balancer."""
    for synth in (stage, small_internal):
        for rule in synth.resources("aws_lb_listener_rule").values():
            values = [v for c in rule["condition"] for spec in c.values() for v in spec["values"]]
            assert len(values) <= 5 and sum(v.count("*") + v.count("?") for v in values) <= 5
        assert len(synth.resources("aws_lb_listener_rule")) <= 100
        priorities = [r["priority"] for r in synth.resources("aws_lb_listener_rule").values()]
        assert len(set(priorities)) == len(priorities)


def test_ecs_waits_for_every_rule_that_attaches_its_target_group(sso):
    """ECS refuses a target group no listener rule uses yet: the services depend on the rules too."""
    rule_ids = {f"aws_lb_listener_rule.{k}" for k in sso.resources("aws_lb_listener_rule")}
    for name, service in sso.resources("aws_ecs_service").items():
        if service.get("load_balancer"):
            assert rule_ids <= set(service["depends_on"]), name
