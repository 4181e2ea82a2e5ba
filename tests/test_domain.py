"""modules/domain.py: the ACM certificate requested and DNS-validated in the team's Route 53 zone, the
HTTPS listener waiting for it, and the alias records of the api's (and an exposed Grafana's) host name.
Variants (sso, external certificate) are tests/test_alb.py's fixtures: each env file is synthesized once."""

from __future__ import annotations

import re

from conftest import ROOT, STAGE_ZONE
from test_alb import (  # noqa: F401  (fixtures)
    API_HOST,
    EXTERNAL_CERTIFICATE,
    GRAFANA_HOST,
    external_certificate,
    http_vpn,
    listeners_by_port,
    sso,
)


def _validation_records(synth) -> dict[str, dict]:
    """{host name: its validation record}, read from each record's lookup expression."""
    found = {}
    for record in synth.resources("aws_route53_record").values():
        match = re.search(r'o\.domain_name == \"([^"\\]+)\"', record["name"]) if "for o in" in record["name"] else None
        if match:
            found[match[1]] = record
    return found


def _aliases(synth) -> dict[str, dict]:
    return {r["name"]: r for r in synth.resources("aws_route53_record").values() if "alias" in r}


def test_shipped_env_files_name_their_zone_and_no_placeholder_certificate():
    """What an apply needs from the team is named in the file (the zone, looked up at plan time and checked by
    preflight), never a placeholder certificate that fails half-way through an apply (account 000000000000)."""
    for env_file in sorted((ROOT / "envs").glob("*.yaml")):
        text = env_file.read_text()
        assert "certificate_arn" not in text and f"zone: {STAGE_ZONE}" in text, env_file
    assert "000000000000" not in (ROOT / "envs" / "stage.yaml").read_text()


def test_stage_certificate_is_requested_and_dns_validated_in_the_teams_zone(stage):
    """stage as shipped: synthesized with no variable naming the zone (conftest.run_main sets the image tag only)."""
    (zone_id,) = stage.data("aws_route53_zone")
    assert stage.data("aws_route53_zone")[zone_id] == {
        "//": stage.data("aws_route53_zone")[zone_id]["//"], "name": STAGE_ZONE, "private_zone": False}
    (cert_id, cert), = stage.resources("aws_acm_certificate").items()
    assert cert["domain_name"] == API_HOST and "subject_alternative_names" not in cert  # Grafana internal
    assert cert["validation_method"] == "DNS" and cert["lifecycle"] == {"create_before_destroy": True}
    records = _validation_records(stage)
    assert sorted(records) == [API_HOST]
    record = records[API_HOST]
    assert record["zone_id"] == f"${{data.aws_route53_zone.{zone_id}.zone_id}}" and record["allow_overwrite"] is True
    for field, attribute in (("name", "resource_record_name"), ("type", "resource_record_type")):
        assert record[field] == (f"${{one([for o in aws_acm_certificate.{cert_id}.domain_validation_options : "
                                 f'o.{attribute} if o.domain_name == \"{API_HOST}\"])}}')
    assert "resource_record_value" in record["records"][0]
    (validation,) = stage.resources("aws_acm_certificate_validation").values()
    assert validation["certificate_arn"] == f"${{aws_acm_certificate.{cert_id}.arn}}"
    (record_id,) = [k for k, v in stage.resources("aws_route53_record").items() if v is record]
    assert validation["validation_record_fqdns"] == [f"${{aws_route53_record.{record_id}.fqdn}}"]


def test_stage_api_host_is_an_alias_of_the_alb(stage):
    lb = next(iter(stage.resources("aws_lb")))
    aliases = _aliases(stage)
    assert sorted(aliases) == [API_HOST]  # internal Grafana gets no public name
    alias = aliases[API_HOST]
    assert alias["type"] == "A"  # the ALB is IPv4-only: an AAAA alias would answer nothing
    assert alias["alias"] == {"name": f"${{aws_lb.{lb}.dns_name}}", "zone_id": f"${{aws_lb.{lb}.zone_id}}",
                              "evaluate_target_health": True}
    assert stage.json["output"]["api_url"]["value"] == f"https://{API_HOST}"


def test_sso_grafana_host_is_on_the_certificate_and_an_alias(sso):
    (cert,) = sso.resources("aws_acm_certificate").values()
    assert cert["domain_name"] == API_HOST and cert["subject_alternative_names"] == [GRAFANA_HOST]
    assert sorted(_validation_records(sso)) == sorted([API_HOST, GRAFANA_HOST])
    (validation,) = sso.resources("aws_acm_certificate_validation").values()
    assert len(validation["validation_record_fqdns"]) == 2
    assert sorted(_aliases(sso)) == sorted([API_HOST, GRAFANA_HOST])


def test_external_certificate_is_used_as_is_and_no_zone_is_touched(external_certificate):
    assert listeners_by_port(external_certificate)[443]["certificate_arn"] == EXTERNAL_CERTIFICATE
    for rtype in ("aws_acm_certificate", "aws_acm_certificate_validation", "aws_route53_record"):
        assert not external_certificate.resources(rtype), rtype
    assert not external_certificate.data("aws_route53_zone") and "api_url" not in external_certificate.json["output"]


def test_http_without_domain_touches_no_zone(http_vpn):
    assert not http_vpn.resources("aws_acm_certificate") and not http_vpn.resources("aws_route53_record")


