"""The price table (modules/cost/prices.json): loading, and lookups that fail loudly.

A price that is not in the table is an error naming the env-file field that asked for it and the table,
never a silent 0: an estimate missing its largest line would be worse than none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modules.input_files import SMALL_JSON_MAX_BYTES, InputFileError, read_json

PRICES_FILE = Path(__file__).resolve().parent / "prices.json"
# What every region of the table holds: scalars (USD per unit) and per-type tables (USD per hour).
SCALAR_KEYS = (
    "ebs_gp3_gb_month", "nat_gateway_hour", "nat_gateway_gb", "interface_endpoint_hour", "interface_endpoint_gb",
    "alb_hour", "alb_lcu_hour", "public_ipv4_hour", "efs_standard_gb_month", "logs_ingestion_gb", "waf_web_acl_month",
    "waf_rule_month", "waf_million_requests", "cloudwatch_alarm_month", "cloudwatch_alarm_high_resolution_month",
    "kms_key_month", "secretsmanager_secret_month",
)
TABLE_KEYS = ("ec2_instance_hour", "elasticache_node_hour")


class PriceError(Exception):
    """Prices the table does not hold: (env-file field path, message) pairs, rendered like config errors."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in problems))


@dataclass(frozen=True)
class RegionPrices:
    region: str
    values: dict
    file: str  # shown in errors, relative when possible

    def scalar(self, key: str) -> float:
        return float(self.values[key])

    def per_type(self, table: str, type_name: str, field: str) -> float:
        known = self.values[table]
        if type_name not in known:
            raise PriceError([(field, f"no price for '{type_name}' in {self.region} in {self.file} "
                                      f"({table}); priced: {', '.join(sorted(known))}. Add it by hand with its "
                                      "source, or run scripts/refresh_prices.py")])
        return float(known[type_name])


@dataclass(frozen=True)
class PriceTable:
    data: dict
    file: str

    @property
    def retrieved(self) -> str:
        return self.data["retrieved"]

    @property
    def source(self) -> str:
        return self.data["source"]

    def region(self, region: str) -> RegionPrices:
        regions = self.data["regions"]
        if region not in regions:
            raise PriceError([("region", f"'{region}' has no prices in {self.file}; priced regions: "
                                         f"{', '.join(sorted(regions))}. Run scripts/refresh_prices.py --region "
                                         f"{region} (AWS credentials needed) or add it by hand with its source")])
        return RegionPrices(region, regions[region], self.file)


def shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class PriceFileError(ValueError):
    """The price table file cannot be read or has not the table's shape: `file: what is wrong`."""


def validate(data, where: str) -> None:
    """The table's shape: every region holds every key, every price a non-negative number."""
    if not isinstance(data, dict):
        raise PriceFileError(f"{where}: a JSON object with currency, retrieved, source and regions expected, "
                             f"not {type(data).__name__}")
    for key in ("currency", "retrieved", "source", "regions"):
        if key not in data:
            raise PriceFileError(f"{where}: missing '{key}'")
    for key in ("currency", "retrieved", "source"):
        if not isinstance(data[key], str):
            raise PriceFileError(f"{where}: {key}: {data[key]!r} is not a string")
    if not isinstance(data["regions"], dict) or not data["regions"]:
        raise PriceFileError(f"{where}: regions: an object of Region -> prices expected")
    for region, values in data["regions"].items():
        if not isinstance(values, dict):
            raise PriceFileError(f"{where}: regions.{region}: an object of prices expected")
        for key in (*SCALAR_KEYS, *TABLE_KEYS):
            if key not in values:
                raise PriceFileError(f"{where}: regions.{region}: missing '{key}'")
        for table in TABLE_KEYS:
            if not isinstance(values[table], dict):
                raise PriceFileError(f"{where}: regions.{region}.{table}: an object of type -> USD per hour expected")
        numbers = [(k, values[k]) for k in SCALAR_KEYS]
        numbers += [(f"{t}.{n}", v) for t in TABLE_KEYS for n, v in values[t].items()]
        for key, value in numbers:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise PriceFileError(f"{where}: regions.{region}.{key}: {value!r} is not a price (a number >= 0)")


def load(path: Path = PRICES_FILE) -> PriceTable:
    """The table; PriceFileError naming the file when it is unreadable, not JSON or not of the table's shape."""
    where = shown(path)
    try:
        data = read_json(path, SMALL_JSON_MAX_BYTES, shown=where)
    except InputFileError as exc:
        raise PriceFileError(str(exc)) from None
    validate(data, where)
    return PriceTable(data, where)
