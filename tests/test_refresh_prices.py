"""scripts/refresh_prices.py: the Price List API's answers (a recorded-shape fixture) become the table."""

from __future__ import annotations

import copy
import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import refresh_prices  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "pricing" / "get_products-us-east-1.json"


class RecordedPricing:
    """Stands in for boto3's pricing client: answers exactly the recorded get_products calls."""

    def __init__(self):
        self.calls = json.loads(FIXTURE.read_text())["calls"]
        self.requests = []

    def get_products(self, **request):
        self.requests.append(request)
        for call in self.calls:
            if call["request"] == request:
                return copy.deepcopy(call["response"])
        raise AssertionError(f"unrecorded get_products call: {request}")


def small_table() -> dict:
    """The committed table cut to us-east-1 and the types the fixture holds."""
    data = json.loads((ROOT / "modules" / "cost" / "prices.json").read_text())
    region = data["regions"]["us-east-1"]
    region["ec2_instance_hour"] = {"g5.xlarge": 0, "m6i.xlarge": 0}
    region["elasticache_node_hour"] = {"cache.t4g.micro": 0}
    data["regions"] = {"us-east-1": region}
    return data


def test_refresh_reads_every_price_from_the_recorded_responses():
    client = RecordedPricing()
    fresh = refresh_prices.refresh(small_table(), client, [], "2026-11-29")
    prices = fresh["regions"]["us-east-1"]
    assert prices["ec2_instance_hour"] == {"g5.xlarge": 1.006, "m6i.xlarge": 0.192}
    assert prices["elasticache_node_hour"] == {"cache.t4g.micro": 0.016}
    assert prices["nat_gateway_hour"] == 0.045 and prices["nat_gateway_gb"] == 0.045
    assert prices["interface_endpoint_gb"] == 0.01  # first tier of a tiered price
    assert prices["logs_ingestion_gb"] == 0.5  # the free first tier is skipped
    assert prices["ebs_gp3_gb_month"] == 0.08  # found on the second page (NextToken followed)
    assert prices["waf_million_requests"] == 0.6  # per request in the API, per million in the table
    # one Alarm answer holds both resolutions: each key takes its own usage type
    assert (prices["cloudwatch_alarm_month"], prices["cloudwatch_alarm_high_resolution_month"]) == (0.1, 0.3)
    assert prices["kms_key_month"] == 1.0  # usage type us-east-1-KMS-Keys (region-code prefix)
    assert prices["secretsmanager_secret_month"] == 0.4  # USE1-AWSSecretsManager-Secrets
    assert fresh["retrieved"] == "2026-11-29" and "Price List API" in fresh["source"]
    assert "cross_checks" not in fresh  # those described the hand-made table
    assert all(r["Filters"][0] == {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}
               for r in client.requests)


def test_refreshed_table_prices_the_committed_one_identically_where_both_have_figures():
    # The hand-made table and the API-shaped answers agree (same list prices): a refresh changes no figure.
    fresh = refresh_prices.refresh(small_table(), RecordedPricing(), [], "2026-11-29")["regions"]["us-east-1"]
    committed = json.loads((ROOT / "modules" / "cost" / "prices.json").read_text())["regions"]["us-east-1"]
    for key, value in fresh.items():
        if isinstance(value, dict):
            assert all(committed[key][t] == v for t, v in value.items()), key
        else:
            assert committed[key] == value, key


def test_an_ambiguous_or_missing_price_stops_the_refresh_and_names_it():
    client = RecordedPricing()
    nat = next(c for c in client.calls if c["request"]["Filters"][-1].get("Value") == "NAT Gateway")
    hours = json.loads(nat["response"]["PriceList"][0])
    hours["terms"]["OnDemand"][next(iter(hours["terms"]["OnDemand"]))]["priceDimensions"].popitem()
    nat["response"]["PriceList"][0] = json.dumps(hours)
    with pytest.raises(refresh_prices.PriceNotFound, match="NatGateway-Hours: no on-demand price"):
        refresh_prices.refresh(small_table(), client, [], "2026-11-29")


def test_main_leaves_the_file_unchanged_when_a_price_is_missing(tmp_path, monkeypatch, capsys):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(small_table()))
    before = path.read_text()
    client = RecordedPricing()
    for call in client.calls:  # the API knows no WAF products (e.g. a region without WAF)
        if call["request"]["ServiceCode"] == "awswaf":
            call["response"]["PriceList"] = []
    fake_boto3 = type(sys)("boto3")
    fake_boto3.client = lambda name, region_name: client if (name, region_name) == ("pricing", "us-east-1") else None
    monkeypatch.setitem(sys.modules, "boto3", fake_boto3)
    assert refresh_prices.main(["--file", str(path)]) == 1
    assert path.read_text() == before
    assert "WebACLV2: no on-demand price" in capsys.readouterr().err


def test_main_writes_the_refreshed_table(tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(small_table()))
    fake_boto3 = type(sys)("boto3")
    fake_boto3.client = lambda name, region_name: RecordedPricing()
    monkeypatch.setitem(sys.modules, "boto3", fake_boto3)
    assert refresh_prices.main(["--file", str(path)]) == 0
    assert json.loads(path.read_text())["regions"]["us-east-1"]["alb_lcu_hour"] == 0.008


def test_a_new_region_gets_the_types_of_the_table_and_its_own_queries():
    class AnyRegion(RecordedPricing):  # answers every region with the recorded us-east-1 figures
        def get_products(self, **request):
            self.requests.append(request)
            as_recorded = {**request, "Filters": [dict(f, Value="us-east-1") if f["Field"] == "regionCode" else f
                                                  for f in request["Filters"]]}
            return super().get_products(**as_recorded)

    client = AnyRegion()
    fresh = refresh_prices.refresh(small_table(), client, ["sa-east-1"], "2026-11-29")
    assert sorted(fresh["regions"]) == ["sa-east-1", "us-east-1"]
    assert set(fresh["regions"]["sa-east-1"]["ec2_instance_hour"]) == {"g5.xlarge", "m6i.xlarge"}
    asked = {f["Value"] for r in client.requests for f in r["Filters"] if f["Field"] == "regionCode"}
    assert asked == {"sa-east-1", "us-east-1"}


# ---------------------------------------------------------------- real responses recorded by others
RECORDED = ROOT / "tests" / "fixtures" / "pricing" / "recorded"  # provenance: README.md there


def recorded_page(name: str) -> dict:
    """A recorded response with each PriceList entry a JSON string, as boto3 returns it (README.md)."""
    page = json.loads((RECORDED / name).read_text())
    page["PriceList"] = [entry if isinstance(entry, str) else json.dumps(entry) for entry in page["PriceList"]]
    return page


class OnePage:
    """Answers the script's first request with a recorded page, a follow-up (NextToken) with an empty last
    page (not recorded: the recording stops there)."""

    def __init__(self, page: dict):
        self.page, self.requests = page, []

    def get_products(self, **request):
        self.requests.append(request)
        return {"FormatVersion": "aws_v1", "PriceList": []} if "NextToken" in request else copy.deepcopy(self.page)


def test_a_recorded_ec2_response_gives_the_on_demand_price_not_a_reserved_one():
    page = recorded_page("cloudlint-get_products-m5.large-us-east-1.json")
    terms = json.loads(page["PriceList"][0])["terms"]
    assert len(terms["Reserved"]) == 12  # reserved prices from $0 to $0.071/h sit next to the on-demand one
    client = OnePage(page)
    price = refresh_prices.query(client, refresh_prices.type_spec("ec2_instance_hour", "m5.large"), "us-east-1")
    assert price == 0.096
    committed = json.loads((ROOT / "modules" / "cost" / "prices.json").read_text())
    assert committed["regions"]["us-east-1"]["ec2_instance_hour"]["m5.large"] == price
    request = client.requests[0]
    assert request["ServiceCode"] == "AmazonEC2" and {"Type": "TERM_MATCH", "Field": "instanceType",
                                                      "Value": "m5.large"} in request["Filters"]


def test_a_recorded_response_of_another_region_is_matched_by_its_prefixed_usage_type():
    # AWS's own CLI example: APS1-EBS:VolumeUsage.piops in Singapore, with a NextToken the script follows
    client = OnePage(recorded_page("aws-cli-get_products-example.json"))
    spec = refresh_prices.Spec("AmazonEC2", {"volumeType": "Provisioned IOPS"}, "EBS:VolumeUsage.piops")
    assert refresh_prices.query(client, spec, "ap-southeast-1") == 0.138
    assert [r.get("NextToken") for r in client.requests] == [None, client.page["NextToken"]]
    # the same page asked for gp3 holds no such usage type: no price, never a wrong one
    with pytest.raises(refresh_prices.PriceNotFound, match="usagetype \\*EBS:VolumeUsage.gp3: no on-demand price"):
        refresh_prices.query(OnePage(client.page), refresh_prices.scalar_specs()["ebs_gp3_gb_month"], "ap-southeast-1")
