#!/usr/bin/env python3
"""Refresh modules/cost/prices.json from the AWS Price List API (needs AWS credentials).

    .venv/bin/python scripts/refresh_prices.py                 every region and type already in the table
    .venv/bin/python scripts/refresh_prices.py --region sa-east-1   ... plus a new region (same types)

Uses boto3's `pricing` client at us-east-1 (one of the API's endpoints), `get_products` with TERM_MATCH
filters, and reads each product's on-demand price (terms.OnDemand.*.priceDimensions.*.pricePerUnit.USD,
the first paid tier where prices are tiered). The file is rewritten only when every price was found: a
price the API does not return unambiguously stops the run and names it; the old table stays.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from modules.cost.prices import PRICES_FILE, SCALAR_KEYS, TABLE_KEYS, validate  # noqa: E402

PRICING_API_REGION = "us-east-1"  # the Price List query API is served from us-east-1 (and a few others)
SOURCE = "AWS Price List API (boto3 pricing.get_products, us-east-1 endpoint), on-demand terms"


@dataclass(frozen=True)
class Spec:
    """One price: a product query, the usage type the product must have, and a unit conversion."""

    service: str
    filters: dict[str, str]
    usagetype_suffix: str  # usage types carry a region prefix (e.g. EU-NatGateway-Hours) except in us-east-1
    per_unit: float = 1.0  # multiply the API's price per unit by this (WAF: per request -> per million)


def scalar_specs() -> dict[str, Spec]:
    return {
        "ebs_gp3_gb_month": Spec("AmazonEC2", {"productFamily": "Storage", "volumeApiName": "gp3"},
                                 "EBS:VolumeUsage.gp3"),
        "nat_gateway_hour": Spec("AmazonEC2", {"productFamily": "NAT Gateway"}, "NatGateway-Hours"),
        "nat_gateway_gb": Spec("AmazonEC2", {"productFamily": "NAT Gateway"}, "NatGateway-Bytes"),
        "interface_endpoint_hour": Spec("AmazonVPC", {"productFamily": "VpcEndpoint"}, "VpcEndpoint-Hours"),
        "interface_endpoint_gb": Spec("AmazonVPC", {"productFamily": "VpcEndpoint"}, "VpcEndpoint-Bytes"),
        "public_ipv4_hour": Spec("AmazonVPC", {"productFamily": "VPC Public IPv4 Address"},
                                 "PublicIPv4:InUseAddress"),
        "alb_hour": Spec("AWSELB", {"productFamily": "Load Balancer-Application"}, "LoadBalancerUsage"),
        "alb_lcu_hour": Spec("AWSELB", {"productFamily": "Load Balancer-Application"}, "LCUUsage"),
        "efs_standard_gb_month": Spec("AmazonEFS", {"productFamily": "Storage", "storageClass": "General Purpose"},
                                      "TimedStorage-ByteHrs"),
        "logs_ingestion_gb": Spec("AmazonCloudWatch", {"productFamily": "Data Payload"}, "DataProcessing-Bytes"),
        "waf_web_acl_month": Spec("awswaf", {}, "WebACLV2"),
        "waf_rule_month": Spec("awswaf", {}, "RuleV2"),
        "waf_million_requests": Spec("awswaf", {}, "RequestV2-Tier1", per_unit=1_000_000),
        # per alarm-month; usage types <prefix>-CW:AlarmMonitorUsage / CW:HighResAlarmMonitorUsage
        "cloudwatch_alarm_month": Spec("AmazonCloudWatch", {"productFamily": "Alarm"}, "CW:AlarmMonitorUsage"),
        "cloudwatch_alarm_high_resolution_month": Spec("AmazonCloudWatch", {"productFamily": "Alarm"},
                                                       "CW:HighResAlarmMonitorUsage"),
        # per key-month: KMS prefixes the region code (us-east-1-KMS-Keys); rotations are other usage types
        "kms_key_month": Spec("awskms", {"productFamily": "Encryption Key"}, "KMS-Keys"),
        "secretsmanager_secret_month": Spec("AWSSecretsManager", {"productFamily": "Secret"},
                                            "AWSSecretsManager-Secrets"),
    }


def type_spec(table: str, type_name: str) -> Spec:
    if table == "ec2_instance_hour":
        return Spec("AmazonEC2", {"instanceType": type_name, "operatingSystem": "Linux", "tenancy": "Shared",
                                  "preInstalledSw": "NA", "capacitystatus": "Used"}, f"BoxUsage:{type_name}")
    return Spec("AmazonElastiCache", {"instanceType": type_name, "cacheEngine": "Redis"}, f"NodeUsage:{type_name}")


class PriceNotFound(Exception):
    pass


def on_demand_price(item: dict) -> float | None:
    """USD price of a product's on-demand term: the lowest paid tier (a free first tier is skipped)."""
    tiers = []
    for term in item.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None and float(usd) > 0:
                tiers.append((float(dimension.get("beginRange", "0")), float(usd)))
    return min(tiers)[1] if tiers else None


def query(client, spec: Spec, region: str) -> float:
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}]
    filters += [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in sorted(spec.filters.items())]
    request = {"ServiceCode": spec.service, "Filters": filters, "FormatVersion": "aws_v1", "MaxResults": 100}
    prices: set[float] = set()
    while True:
        page = client.get_products(**request)
        for text in page.get("PriceList", []):
            item = json.loads(text)  # each entry is a JSON document in a string
            usagetype = item.get("product", {}).get("attributes", {}).get("usagetype", "")
            if usagetype == spec.usagetype_suffix or usagetype.endswith("-" + spec.usagetype_suffix):
                price = on_demand_price(item)
                if price is not None:
                    prices.add(price)
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    if len(prices) != 1:
        what = "no on-demand price" if not prices else f"several prices {sorted(prices)}"
        raise PriceNotFound(f"{region} {spec.service} {spec.filters} usagetype *{spec.usagetype_suffix}: {what}")
    return round(prices.pop() * spec.per_unit, 10)


def refresh(data: dict, client, new_regions: list[str], today: str) -> dict:
    """A new table: every region and type of `data` (new regions get the types of the first region)."""
    regions = dict(data["regions"])
    template = next(iter(regions.values()))
    for region in new_regions:
        regions.setdefault(region, {table: dict.fromkeys(template[table], 0) for table in TABLE_KEYS})
    fresh: dict[str, dict] = {}
    for region, values in sorted(regions.items()):
        out: dict = {table: {t: query(client, type_spec(table, t), region) for t in sorted(values[table])}
                     for table in TABLE_KEYS}
        specs = scalar_specs()
        out.update({key: query(client, specs[key], region) for key in SCALAR_KEYS})
        fresh[region] = out
    result = {k: v for k, v in data.items() if k not in ("regions", "cross_checks")}
    result.update(source=SOURCE, retrieved=today, regions=fresh)
    validate(result, "refreshed table")
    return result


def write_atomically(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--region", action="append", default=[], help="add a region (repeatable)")
    parser.add_argument("--file", type=Path, default=PRICES_FILE, help="price table to rewrite")
    args = parser.parse_args(argv)
    import boto3  # noqa: PLC0415  (only this script needs it)

    client = boto3.client("pricing", region_name=PRICING_API_REGION)
    data = json.loads(args.file.read_text(encoding="utf-8"))
    try:
        fresh = refresh(data, client, args.region, datetime.date.today().isoformat())
    except PriceNotFound as exc:
        print(f"error: {exc}; {args.file} left unchanged", file=sys.stderr)
        return 1
    write_atomically(args.file, fresh)
    print(f"wrote {args.file}: {', '.join(sorted(fresh['regions']))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
