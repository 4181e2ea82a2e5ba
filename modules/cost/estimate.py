"""Inventory -> priced monthly lines, per group, at the capacity providers' desired and max sizes.

The Inventory (what the bill is made of) is read from the env file (inventory_of_config) or from a
synthesized stack (modules/cost/from_synth.py); both are priced by price(). What the stack fixes (instance
types and counts, NAT gateways, endpoints, cache nodes, WAF rules) is counted; what only traffic decides (GB through the NAT, LCUs, log volume, EFS size, WAF requests) is a
named assumption below, printed with the figure. A capacity provider with `off_hours` runs its
instances only inside its window, so the estimate is given with and without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modules.config import EnvConfig, Kind
from modules.config.defaults import DEFAULT_FAILURE_ALARM_PERIOD
from modules.config.alarms import SCHEDULER_FAILURE_METRICS  # one alarm each (modules/schedule_failures.py)
from modules.config.alarms import failure_alarm_of, service_alarm_plan
from modules.config.defaults import INTERFACE_ENDPOINT_SERVICES, SCHEDULER_ALARM_PERIOD
from modules.config.grafana import derived_admin_secrets
from modules.cost.prices import PriceError, PriceTable, RegionPrices

HOURS_PER_MONTH = 730  # AWS pricing pages' month: 24 h x 365 days / 12
WEEKS_PER_MONTH = HOURS_PER_MONTH / (24 * 7)
# Interface endpoints per network.endpoints switch (modules/network.py creates one per service and AZ;
# tests/test_cost_estimate.py checks the count against the synthesized stack). s3 is a free gateway endpoint.
INTERFACE_ENDPOINTS_PER_SWITCH = {switch: len(services) for switch, services in INTERFACE_ENDPOINT_SERVICES.items()}
CACHE_SECRETS = 2  # modules/cache.py: the Redis AUTH token and the client URL

# Usage the env file does not fix: assumptions for a stage-sized environment, printed with the estimate.
ASSUMED_NAT_GB_PER_MONTH = 100  # internet egress of the tasks (LLM API calls, model pulls); ECR/S3 go via endpoints
ASSUMED_ENDPOINT_GB_PER_MONTH = 20  # image manifests, log shipping, secret/parameter reads through the endpoints
ASSUMED_ALB_LCU = 1.0  # average LCUs per hour: 25 new conn/s, 3,000 active conn/min, 1 GB/h or 1,000 rules/s each
ASSUMED_EFS_GB = 30  # llama3.1:8b (~4.9 GB) + nomic-embed-text + prometheus, tempo and grafana data
ASSUMED_LOGS_GB_PER_MONTH = 20  # container logs + VPC flow logs ingested into CloudWatch Logs
ASSUMED_WAF_MILLION_REQUESTS = 5  # requests per month inspected by the web ACL
NOT_COUNTED = ("data transfer out to the internet", "ECR and S3 storage",
               "CloudWatch Logs storage and Container Insights metrics",
               "the alarms target tracking creates itself (ECS managed scaling, service auto scaling)",
               "SNS, SQS and KMS / Secrets Manager / CloudWatch API requests (priced per request)",
               "`existing` secrets (created, and billed, outside the stack)",
               "Cloud Map, EventBridge Scheduler",
               "free tier, Savings Plans, reserved capacity")
# CloudWatch alarms: a period under 60 s makes a high-resolution alarm, priced higher (CloudWatch pricing page)
HIGH_RESOLUTION_ALARM_BELOW_SECONDS = 60


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


@dataclass(frozen=True)
class Window:
    """The weekly window a fleet runs in (a capacity provider's off_hours): days 0 = Sunday, minutes after
    midnight, in `timezone`."""

    days: tuple[int, ...]
    start: int
    stop: int
    timezone: str

    @property
    def hours_per_week(self) -> float:
        return len(self.days) * (self.stop - self.start) / 60

    def describe(self) -> str:
        return (f"{day_words(self.days)} {self.start // 60:02d}:{self.start % 60:02d}-{self.stop // 60:02d}:"
                f"{self.stop % 60:02d} {self.timezone} ({self.hours_per_week:g} h/week)")


def day_words(days: tuple[int, ...]) -> str:
    """(1, 2, 3, 4, 5) -> 'mon-fri', (1, 3, 5) -> 'mon,wed,fri', all seven -> 'daily' (ranges read Monday-first)."""
    if len(set(days)) == 7:
        return "daily"
    order = [1, 2, 3, 4, 5, 6, 0]  # mon ... sun
    names = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
    runs: list[list[int]] = []
    for day in (d for d in order if d in days):
        if runs and order.index(day) == order.index(runs[-1][-1]) + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(names[r[0]] if len(r) == 1 else f"{names[r[0]]}-{names[r[-1]]}" for r in runs)


@dataclass(frozen=True)
class Fleet:
    """One capacity provider's Auto Scaling group."""

    key: str
    instance_type: str
    root_volume_gb: int
    desired: int
    max: int
    window: Window | None
    type_field: str  # what a missing price names: the env-file field or the synthesized resource's attribute


@dataclass(frozen=True)
class CacheNodes:
    node_type: str
    count: int
    type_field: str


@dataclass(frozen=True)
class Inventory:
    """What the bill is made of, read from an env file (inventory_of_config) or from a synthesized stack
    (modules/cost/from_synth.py): both price the same way, so a synth of the env file gives the same estimate."""

    environment: str
    region: str
    region_field: str
    fleets: tuple[Fleet, ...]
    nat_gateways: int
    nat_addresses: int  # Elastic IPs of the NAT gateways
    endpoint_azs: tuple[int, ...]  # per interface endpoint, the subnets (AZs) it has an ENI in: billed per AZ
    alb_subnets: tuple[int, ...]  # per internet-facing ALB, its subnets: one public IPv4 each
    waf_rules: tuple[int, ...]  # per web ACL, its rules (managed rule groups count one each)
    caches: tuple[CacheNodes, ...]
    efs_file_systems: int
    efs_volumes: int  # access points (one per env-file volume)
    log_groups: bool
    alarm_periods: tuple[int, ...] = ()  # per CloudWatch alarm metric (a metric-math alarm: one per metric), its period (s), sorted
    kms_keys: int = 0  # customer managed keys the stack creates
    secrets: int = 0  # Secrets Manager secrets the stack creates (not `existing` ones: a data source)


def config_alarm_periods(cfg: EnvConfig) -> tuple[int, ...]:
    """The period of every alarm metric the stack makes (modules/failure_alarms.py, modules/schedule_failures.py,
    modules/service_alarms.py)."""
    periods = [failure_alarm_of(svc).period for owner in cfg.task_owners()
               for svc in cfg.containers_of(owner).values() if failure_alarm_of(svc) is not None]
    # modules/service_alarms.py: CloudWatch bills a metric-math alarm per metric it reads, so one entry each
    periods += [a.timing[0] for a in service_alarm_plan(cfg) for _ in range(a.metrics)]
    scheduled = [svc for svc in cfg.task_owners().values() if svc.kind == Kind.scheduled]
    if scheduled:  # the dead-letter alarm, one per Scheduler failure metric, one per scheduled owner
        periods += [SCHEDULER_ALARM_PERIOD] * (1 + len(SCHEDULER_FAILURE_METRICS))
        periods += [svc.failure_alarm.period if svc.failure_alarm else DEFAULT_FAILURE_ALARM_PERIOD
                    for svc in scheduled]
    return tuple(sorted(periods))


def config_secrets(cfg: EnvConfig) -> int:
    """Secrets the stack creates: the env file's non-`existing` ones, Redis' AUTH token and URL, and each
    Grafana's generated admin password."""
    return (sum(1 for spec in cfg.secrets.values() if not spec.existing) + (CACHE_SECRETS if cfg.cache else 0)
            + len(derived_admin_secrets(cfg)))


def inventory_of_config(cfg: EnvConfig) -> Inventory:
    """What the env file fixes, counted the way the constructs synthesize it (tests/cost/ cross-checks)."""
    fleets = []
    for key, cp in sorted(cfg.cluster.capacity_providers.items()):
        window = None
        if cp.off_hours is not None:
            oh = cp.off_hours
            window = Window(tuple(oh.day_numbers), _clock_minutes(oh.start), _clock_minutes(oh.stop), oh.timezone)
        fleets.append(Fleet(key, cp.instance_type, cp.root_volume_gb,
                            cp.desired_capacity if cp.desired_capacity is not None else cp.min_size,
                            cp.max_size, window, f"cluster.capacity_providers.{key}.instance_type"))
    net = cfg.network
    nat = 1 if net.nat == "single" else net.az_count
    endpoints = sum(n for switch, n in INTERFACE_ENDPOINTS_PER_SWITCH.items() if getattr(net.endpoints, switch))
    waf = cfg.alb.waf
    caches = (CacheNodes(cfg.cache.node_type, cfg.cache.num_cache_clusters, "cache.node_type"),) if cfg.cache else ()
    return Inventory(
        cfg.name, cfg.region, "region", tuple(fleets), nat, nat, (net.az_count,) * endpoints, (net.az_count,),
        (cfg.alb.waf_rule_count(),) if waf.enabled else (),  # modules/waf.py: rate rule, each group, label rule
        caches, 1 if cfg.volumes else 0, len(cfg.volumes), True, config_alarm_periods(cfg),
        # modules/secrets.py's key (secrets_kms) and modules/notifications.py's topic key (create_topic)
        int(bool(cfg.secrets_kms)) + int(cfg.alarms.create_topic), config_secrets(cfg))


def _clock_minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def running_hours(fleet: Fleet) -> float:
    """Hours per month a fleet's instances run: its off-hours window, else all month."""
    return fleet.window.hours_per_week * WEEKS_PER_MONTH if fleet.window else HOURS_PER_MONTH


def _flat(group: str, item: str, monthly: float, assumption: str | None = None) -> Line:
    value = round(monthly, 2)
    return Line(group, item, value, value, value, value, assumption)


def ec2_lines(inv: Inventory, prices: RegionPrices) -> list[Line]:
    lines = []
    for fleet in inv.fleets:
        hourly = prices.per_type("ec2_instance_hour", fleet.instance_type, fleet.type_field)
        # an instance's root volume exists while the instance does (delete_on_termination)
        volume_hourly = fleet.root_volume_gb * prices.scalar("ebs_gp3_gb_month") / HOURS_PER_MONTH
        hours = running_hours(fleet)
        per_instance = hourly + volume_hourly
        lines.append(Line(
            f"EC2 {fleet.key}",
            f"{fleet.desired} (max {fleet.max}) x {fleet.instance_type} ${hourly:g}/h + {fleet.root_volume_gb} GiB "
            "gp3 root",
            round(fleet.desired * per_instance * HOURS_PER_MONTH, 2), round(fleet.max * per_instance * HOURS_PER_MONTH, 2),
            round(fleet.desired * per_instance * hours, 2), round(fleet.max * per_instance * hours, 2),
        ))
    return lines


def network_lines(inv: Inventory, prices: RegionPrices) -> list[Line]:
    lines = []
    if inv.nat_gateways:
        lines.append(_flat(
            "NAT gateways", f"{inv.nat_gateways} x ${prices.scalar('nat_gateway_hour'):g}/h + "
            f"{ASSUMED_NAT_GB_PER_MONTH} GB x ${prices.scalar('nat_gateway_gb'):g}/GB",
            inv.nat_gateways * prices.scalar("nat_gateway_hour") * HOURS_PER_MONTH
            + ASSUMED_NAT_GB_PER_MONTH * prices.scalar("nat_gateway_gb"),
            f"NAT gateways process {ASSUMED_NAT_GB_PER_MONTH} GB/month",
        ))
    if inv.endpoint_azs:
        count, placements = len(inv.endpoint_azs), sum(inv.endpoint_azs)
        shape = (f"{count} endpoints x {inv.endpoint_azs[0]} AZs" if len(set(inv.endpoint_azs)) == 1
                 else f"{count} endpoints in {placements} AZ placements")
        lines.append(_flat(
            "VPC interface endpoints",
            f"{shape} x ${prices.scalar('interface_endpoint_hour'):g}/h + "
            f"{ASSUMED_ENDPOINT_GB_PER_MONTH} GB x ${prices.scalar('interface_endpoint_gb'):g}/GB",
            placements * prices.scalar("interface_endpoint_hour") * HOURS_PER_MONTH
            + ASSUMED_ENDPOINT_GB_PER_MONTH * prices.scalar("interface_endpoint_gb"),
            f"interface endpoints process {ASSUMED_ENDPOINT_GB_PER_MONTH} GB/month",
        ))
    # AWS charges every public IPv4 address: the NAT gateways' Elastic IPs and one per ALB subnet (AZ)
    alb_addresses = sum(inv.alb_subnets)
    addresses = inv.nat_addresses + alb_addresses
    if addresses:
        lines.append(_flat("Public IPv4", f"{addresses} addresses ({inv.nat_addresses} NAT, {alb_addresses} ALB) x "
                           f"${prices.scalar('public_ipv4_hour'):g}/h",
                           addresses * prices.scalar("public_ipv4_hour") * HOURS_PER_MONTH))
    return lines


def edge_lines(inv: Inventory, prices: RegionPrices) -> list[Line]:
    lines = []
    if inv.alb_subnets:
        albs = len(inv.alb_subnets)
        lcu = albs * ASSUMED_ALB_LCU
        lines.append(_flat(
            "ALB", f"{albs} x ${prices.scalar('alb_hour'):g}/h + {lcu:g} LCU x ${prices.scalar('alb_lcu_hour'):g}/h",
            (albs * prices.scalar("alb_hour") + lcu * prices.scalar("alb_lcu_hour")) * HOURS_PER_MONTH,
            f"the ALB averages {ASSUMED_ALB_LCU:g} LCU",
        ))
    if inv.waf_rules:
        acls, rules = len(inv.waf_rules), sum(inv.waf_rules)
        requests = acls * ASSUMED_WAF_MILLION_REQUESTS
        lines.append(_flat(
            "WAF", f"{acls} web ACL ${prices.scalar('waf_web_acl_month'):g} + {rules} rules x "
            f"${prices.scalar('waf_rule_month'):g} + {requests}M requests x "
            f"${prices.scalar('waf_million_requests'):g}",
            acls * prices.scalar("waf_web_acl_month") + rules * prices.scalar("waf_rule_month")
            + requests * prices.scalar("waf_million_requests"),
            f"the web ACL inspects {ASSUMED_WAF_MILLION_REQUESTS} million requests/month",
        ))
    return lines


def data_lines(inv: Inventory, prices: RegionPrices) -> list[Line]:
    lines = []
    for cache in inv.caches:
        hourly = prices.per_type("elasticache_node_hour", cache.node_type, cache.type_field)
        lines.append(_flat("ElastiCache", f"{cache.count} x {cache.node_type} ${hourly:g}/h",
                           cache.count * hourly * HOURS_PER_MONTH))
    if inv.efs_file_systems:
        gb_month = prices.scalar("efs_standard_gb_month")
        lines.append(_flat("EFS", f"{ASSUMED_EFS_GB} GB Standard x ${gb_month:g}/GB-month",
                           ASSUMED_EFS_GB * gb_month, f"EFS holds {ASSUMED_EFS_GB} GB ({inv.efs_volumes} volumes)"))
    if inv.log_groups:
        ingestion = prices.scalar("logs_ingestion_gb")
        lines.append(_flat("CloudWatch Logs", f"{ASSUMED_LOGS_GB_PER_MONTH} GB ingested x ${ingestion:g}/GB",
                           ASSUMED_LOGS_GB_PER_MONTH * ingestion,
                           f"{ASSUMED_LOGS_GB_PER_MONTH} GB/month of logs are ingested"))
    return lines


def fixed_monthly_lines(inv: Inventory, prices: RegionPrices) -> list[Line]:
    """Items billed per month whatever the traffic: alarms, customer managed keys, secrets."""
    lines = []
    if inv.alarm_periods:
        high = sum(1 for p in inv.alarm_periods if p < HIGH_RESOLUTION_ALARM_BELOW_SECONDS)
        standard = len(inv.alarm_periods) - high
        parts = [f"{standard} standard x ${prices.scalar('cloudwatch_alarm_month'):g}"] if standard else []
        if high:
            parts.append(f"{high} high-resolution x ${prices.scalar('cloudwatch_alarm_high_resolution_month'):g}")
        lines.append(_flat("CloudWatch alarms", " + ".join(parts) + " per alarm metric-month",
                           standard * prices.scalar("cloudwatch_alarm_month")
                           + high * prices.scalar("cloudwatch_alarm_high_resolution_month")))
    if inv.kms_keys:
        key_month = prices.scalar("kms_key_month")
        # AWS KMS pricing: $1/key-month, and each of the first two rotations of the key material adds the
        # same again (since April 2024 later rotations add nothing): a rotated key costs 1x, 2x, then 3x.
        lines.append(_flat("KMS keys", f"{inv.kms_keys} customer managed x ${key_month:g}/key-month",
                           inv.kms_keys * key_month,
                           "KMS keys are in their first year (each of the first two yearly rotations adds "
                           f"${key_month:g}/key-month)"))
    if inv.secrets:
        secret_month = prices.scalar("secretsmanager_secret_month")
        lines.append(_flat("Secrets Manager", f"{inv.secrets} secrets x ${secret_month:g}/secret-month",
                           inv.secrets * secret_month))
    return lines


def price(inv: Inventory, table: PriceTable) -> Estimate:
    """Every line of the inventory's monthly bill.

    Raises PriceError (field path + message) for a region or type the price table does not hold."""
    try:
        prices = table.region(inv.region)
    except PriceError as exc:
        raise PriceError([(inv.region_field, msg) for _, msg in exc.problems]) from None
    lines = ec2_lines(inv, prices) + network_lines(inv, prices) + edge_lines(inv, prices) + data_lines(inv, prices)
    lines += fixed_monthly_lines(inv, prices)
    windows = {fleet.key: fleet.window.describe() for fleet in inv.fleets if fleet.window}
    return Estimate(inv.environment, inv.region, table.file, table.retrieved, lines, windows)


def estimate(cfg: EnvConfig, table: PriceTable) -> Estimate:
    """The env file's monthly bill (PriceError for a region or type the price table does not hold)."""
    return price(inventory_of_config(cfg), table)
