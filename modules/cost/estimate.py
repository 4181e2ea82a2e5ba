"""EnvConfig -> priced monthly lines, per group, at the capacity providers' desired and max sizes.

What the env file fixes (instance types and counts, NAT gateways, endpoints, cache nodes) is counted
from it; what only traffic decides (GB through the NAT, LCUs, log volume, EFS size, WAF requests) is a
named assumption below, printed with the figure. A capacity provider with `off_hours` runs its
instances only inside its window, so the estimate is given with and without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modules.config import EnvConfig
from modules.cost.prices import PriceTable, RegionPrices

HOURS_PER_MONTH = 730  # AWS pricing pages' month: 24 h x 365 days / 12
WEEKS_PER_MONTH = HOURS_PER_MONTH / (24 * 7)
# Interface endpoints per network.endpoints switch (modules/network.py creates one per service and AZ;
# tests/test_cost_estimate.py checks the count against the synthesized stack). s3 is a free gateway endpoint.
INTERFACE_ENDPOINTS_PER_SWITCH = {"ecr": 2, "logs": 1, "secretsmanager": 1, "ssm": 1}

# Usage the env file does not fix: assumptions for a stage-sized environment, printed with the estimate.
ASSUMED_NAT_GB_PER_MONTH = 100  # internet egress of the tasks (LLM API calls, model pulls); ECR/S3 go via endpoints
ASSUMED_ENDPOINT_GB_PER_MONTH = 20  # image manifests, log shipping, secret/parameter reads through the endpoints
ASSUMED_ALB_LCU = 1.0  # average LCUs per hour: 25 new conn/s, 3,000 active conn/min, 1 GB/h or 1,000 rules/s each
ASSUMED_EFS_GB = 30  # llama3.1:8b (~4.9 GB) + nomic-embed-text + prometheus, tempo and grafana data
ASSUMED_LOGS_GB_PER_MONTH = 20  # container logs + VPC flow logs ingested into CloudWatch Logs
ASSUMED_WAF_RULES = 3  # issue 17's web ACL: 2 AWS managed rule groups + 1 rate-based rule ($1/month each)
ASSUMED_WAF_MILLION_REQUESTS = 5  # requests per month inspected by the web ACL
NOT_COUNTED = ("data transfer out to the internet", "Secrets Manager secrets and KMS keys", "ECR and S3 storage",
               "CloudWatch Logs storage and Container Insights metrics", "Cloud Map, EventBridge Scheduler",
               "free tier, Savings Plans, reserved capacity")


@dataclass(frozen=True)
class Line:
    group: str  # e.g. "EC2 gpu", "NAT gateways": what a PR delta is summed by
    item: str  # what is counted, in words
    desired: float  # USD/month at the capacity providers' desired sizes, running around the clock
    max: float  # USD/month at max_size
    desired_off_hours: float  # as `desired`, instances running only inside their off_hours window
    max_off_hours: float
    assumption: str | None = None


@dataclass(frozen=True)
class Estimate:
    environment: str
    region: str
    prices_file: str
    prices_retrieved: str
    lines: list[Line]
    windows: dict[str, str] = field(default_factory=dict)  # capacity provider -> its off-hours window, in words

    def total(self, column: str) -> float:
        return round(sum(getattr(line, column) for line in self.lines), 2)

    def groups(self, column: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.group] = round(out.get(line.group, 0.0) + getattr(line, column), 2)
        return out

    @property
    def assumptions(self) -> list[str]:
        return [line.assumption for line in self.lines if line.assumption]

    @property
    def effective(self) -> str:
        """The column the env file really runs: with its off-hours schedule when it has one."""
        return "desired_off_hours" if self.windows else "desired"

    @property
    def effective_max(self) -> str:
        return "max_off_hours" if self.windows else "max"

    def as_dict(self) -> dict:
        """Machine-readable form (`cost --json`): USD per month, rounded to cents."""
        columns = ("desired", "max", "desired_off_hours", "max_off_hours")
        return {
            "environment": self.environment, "region": self.region, "currency": "USD", "period": "month",
            "prices": {"file": self.prices_file, "retrieved": self.prices_retrieved},
            "off_hours": dict(self.windows),
            "effective": {"desired": self.total(self.effective), "max": self.total(self.effective_max)},
            "totals": {c: self.total(c) for c in columns},
            "groups": {c: self.groups(c) for c in columns},
            "lines": [{"group": ln.group, "item": ln.item, **{c: getattr(ln, c) for c in columns},
                       "assumption": ln.assumption} for ln in self.lines],
            "assumptions": self.assumptions,
            "not_counted": list(NOT_COUNTED),
        }


def running_hours(cp) -> float:
    """Hours per month a capacity provider's instances run: its off-hours window, else all month."""
    window = getattr(cp, "off_hours", None)
    return window.hours_per_week * WEEKS_PER_MONTH if window else HOURS_PER_MONTH


def _flat(group: str, item: str, monthly: float, assumption: str | None = None) -> Line:
    value = round(monthly, 2)
    return Line(group, item, value, value, value, value, assumption)


def ec2_lines(cfg: EnvConfig, prices: RegionPrices) -> list[Line]:
    lines = []
    for key, cp in sorted(cfg.cluster.capacity_providers.items()):
        field_path = f"cluster.capacity_providers.{key}.instance_type"
        hourly = prices.per_type("ec2_instance_hour", cp.instance_type, field_path)
        # an instance's root volume exists while the instance does (delete_on_termination)
        volume_hourly = cp.root_volume_gb * prices.scalar("ebs_gp3_gb_month") / HOURS_PER_MONTH
        desired = cp.desired_capacity if cp.desired_capacity is not None else cp.min_size
        hours = running_hours(cp)
        per_instance = hourly + volume_hourly
        lines.append(Line(
            f"EC2 {key}",
            f"{desired} (max {cp.max_size}) x {cp.instance_type} ${hourly:g}/h + {cp.root_volume_gb} GiB gp3 root",
            round(desired * per_instance * HOURS_PER_MONTH, 2), round(cp.max_size * per_instance * HOURS_PER_MONTH, 2),
            round(desired * per_instance * hours, 2), round(cp.max_size * per_instance * hours, 2),
        ))
    return lines


def network_lines(cfg: EnvConfig, prices: RegionPrices) -> list[Line]:
    net = cfg.network
    nat_count = 1 if net.nat == "single" else net.az_count
    lines = [_flat(
        "NAT gateways", f"{nat_count} x ${prices.scalar('nat_gateway_hour'):g}/h + "
        f"{ASSUMED_NAT_GB_PER_MONTH} GB x ${prices.scalar('nat_gateway_gb'):g}/GB",
        nat_count * prices.scalar("nat_gateway_hour") * HOURS_PER_MONTH
        + ASSUMED_NAT_GB_PER_MONTH * prices.scalar("nat_gateway_gb"),
        f"NAT gateways process {ASSUMED_NAT_GB_PER_MONTH} GB/month",
    )]
    endpoints = sum(n for switch, n in INTERFACE_ENDPOINTS_PER_SWITCH.items() if getattr(net.endpoints, switch))
    if endpoints:
        lines.append(_flat(
            "VPC interface endpoints",
            f"{endpoints} endpoints x {net.az_count} AZs x ${prices.scalar('interface_endpoint_hour'):g}/h + "
            f"{ASSUMED_ENDPOINT_GB_PER_MONTH} GB x ${prices.scalar('interface_endpoint_gb'):g}/GB",
            endpoints * net.az_count * prices.scalar("interface_endpoint_hour") * HOURS_PER_MONTH
            + ASSUMED_ENDPOINT_GB_PER_MONTH * prices.scalar("interface_endpoint_gb"),
            f"interface endpoints process {ASSUMED_ENDPOINT_GB_PER_MONTH} GB/month",
        ))
    # AWS charges every public IPv4 address: the NAT gateways' Elastic IPs and one per ALB subnet (AZ)
    addresses = nat_count + net.az_count
    lines.append(_flat("Public IPv4", f"{addresses} addresses ({nat_count} NAT, {net.az_count} ALB) x "
                       f"${prices.scalar('public_ipv4_hour'):g}/h",
                       addresses * prices.scalar("public_ipv4_hour") * HOURS_PER_MONTH))
    return lines


def edge_lines(cfg: EnvConfig, prices: RegionPrices) -> list[Line]:
    lines = [_flat(
        "ALB", f"1 x ${prices.scalar('alb_hour'):g}/h + {ASSUMED_ALB_LCU:g} LCU x ${prices.scalar('alb_lcu_hour'):g}/h",
        (prices.scalar("alb_hour") + ASSUMED_ALB_LCU * prices.scalar("alb_lcu_hour")) * HOURS_PER_MONTH,
        f"the ALB averages {ASSUMED_ALB_LCU:g} LCU",
    )]
    waf = getattr(cfg.alb, "waf", None)  # alb.waf (issue 17): priced when the env file has one
    if waf is not None and getattr(waf, "enabled", True):
        rules = ASSUMED_WAF_RULES
        lines.append(_flat(
            "WAF", f"1 web ACL ${prices.scalar('waf_web_acl_month'):g} + {rules} rules x "
            f"${prices.scalar('waf_rule_month'):g} + {ASSUMED_WAF_MILLION_REQUESTS}M requests x "
            f"${prices.scalar('waf_million_requests'):g}",
            prices.scalar("waf_web_acl_month") + rules * prices.scalar("waf_rule_month")
            + ASSUMED_WAF_MILLION_REQUESTS * prices.scalar("waf_million_requests"),
            f"the web ACL has {rules} rules and inspects {ASSUMED_WAF_MILLION_REQUESTS} million requests/month",
        ))
    return lines


def data_lines(cfg: EnvConfig, prices: RegionPrices) -> list[Line]:
    lines = []
    if cfg.cache:
        hourly = prices.per_type("elasticache_node_hour", cfg.cache.node_type, "cache.node_type")
        lines.append(_flat("ElastiCache", f"{cfg.cache.num_cache_clusters} x {cfg.cache.node_type} ${hourly:g}/h",
                           cfg.cache.num_cache_clusters * hourly * HOURS_PER_MONTH))
    if cfg.volumes:
        gb_month = prices.scalar("efs_standard_gb_month")
        lines.append(_flat("EFS", f"{ASSUMED_EFS_GB} GB Standard x ${gb_month:g}/GB-month",
                           ASSUMED_EFS_GB * gb_month, f"EFS holds {ASSUMED_EFS_GB} GB ({len(cfg.volumes)} volumes)"))
    ingestion = prices.scalar("logs_ingestion_gb")
    lines.append(_flat("CloudWatch Logs", f"{ASSUMED_LOGS_GB_PER_MONTH} GB ingested x ${ingestion:g}/GB",
                       ASSUMED_LOGS_GB_PER_MONTH * ingestion,
                       f"{ASSUMED_LOGS_GB_PER_MONTH} GB/month of logs are ingested"))
    return lines


def estimate(cfg: EnvConfig, table: PriceTable) -> Estimate:
    """Every line of the environment's monthly bill this module knows how to price.

    Raises PriceError (field path + message) for a region or type the price table does not hold."""
    prices = table.region(cfg.region)
    lines = ec2_lines(cfg, prices) + network_lines(cfg, prices) + edge_lines(cfg, prices) + data_lines(cfg, prices)
    windows = {key: cp.off_hours.describe() for key, cp in sorted(cfg.cluster.capacity_providers.items())
               if getattr(cp, "off_hours", None)}
    return Estimate(cfg.name, cfg.region, table.file, table.retrieved, lines, windows)
