"""modules/cost/estimate.py: every line priced from the env file and the table, nothing silently zero."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import ROOT, variant
from modules.config import EnvConfig, load
from modules.cost import prices
from modules.cost.estimate import HOURS_PER_MONTH, INTERFACE_ENDPOINTS_PER_SWITCH, estimate, inventory_of_config, price
from modules.cost.prices import PriceError


@pytest.fixture(scope="module")
def table():
    return prices.load()


def cfg_of(data: dict) -> EnvConfig:
    return EnvConfig.model_validate(data)


def line(est, group: str):
    found = [ln for ln in est.lines if ln.group == group]
    assert len(found) == 1, f"{group}: {[ln.group for ln in est.lines]}"
    return found[0]


def test_stage_gpu_line_is_instance_hours_plus_root_volume(stage_cfg, table):
    est = estimate(stage_cfg, table)
    us = table.data["regions"]["us-east-1"]
    gpu = stage_cfg.cluster.capacity_providers["gpu"]
    per_month = us["ec2_instance_hour"]["g5.xlarge"] * HOURS_PER_MONTH + gpu.root_volume_gb * us["ebs_gp3_gb_month"]
    assert line(est, "EC2 gpu").desired == round(gpu.desired_capacity * per_month, 2)
    assert line(est, "EC2 gpu").max == round(gpu.max_size * per_month, 2)


def test_general_line_scales_from_desired_to_max(stage_cfg, table):
    general = line(estimate(stage_cfg, table), "EC2 general")
    cp = stage_cfg.cluster.capacity_providers["general"]
    assert general.max == pytest.approx(general.desired * cp.max_size / cp.desired_capacity, abs=0.02)


def test_totals_are_the_sum_of_the_lines_and_every_line_costs_something(stage_cfg, table):
    est = estimate(stage_cfg, table)
    assert est.total("desired") == round(sum(ln.desired for ln in est.lines), 2)
    assert all(ln.desired > 0 for ln in est.lines)
    assert {"EC2 general", "EC2 gpu", "NAT gateways", "VPC interface endpoints", "Public IPv4", "ALB", "WAF",
            "ElastiCache", "EFS", "CloudWatch Logs", "CloudWatch alarms", "KMS keys",
            "Secrets Manager"} == {ln.group for ln in est.lines}


def test_region_prices_follow_the_env_file(table):
    dev = estimate(load(ROOT / "envs" / "dev-eu.yaml"), table)
    eu = table.data["regions"]["eu-west-1"]
    assert line(dev, "ALB").desired == round((eu["alb_hour"] + eu["alb_lcu_hour"]) * HOURS_PER_MONTH, 2)
    assert "EC2 gpu" not in {ln.group for ln in dev.lines}  # no GPU provider, no GPU line


def test_nat_per_az_pays_one_gateway_per_az(table):
    single = estimate(cfg_of(variant(lambda d: None)), table)
    per_az = estimate(cfg_of(variant(lambda d: d["network"].update(nat="per_az"))), table)
    hour = table.data["regions"]["us-east-1"]["nat_gateway_hour"]
    assert line(per_az, "NAT gateways").desired - line(single, "NAT gateways").desired == \
        pytest.approx(hour * HOURS_PER_MONTH, abs=0.01)


def test_optional_parts_cost_nothing_when_absent(table):
    def strip(d):
        d.pop("cache")
        d["network"]["endpoints"] = {"s3": True}
    est = estimate(cfg_of(variant(strip)), table)
    groups = {ln.group for ln in est.lines}
    assert "ElastiCache" not in groups and "VPC interface endpoints" not in groups


def test_unknown_cache_node_type_is_an_error_naming_the_field(table):
    # a node type ElastiCache offers (the schema rejects invented ones) that the price table lacks
    cfg = cfg_of(variant(lambda d: d["cache"].update(node_type="cache.m5.24xlarge")))
    with pytest.raises(PriceError) as err:
        estimate(cfg, table)
    assert err.value.problems[0][0] == "cache.node_type"


@pytest.mark.parametrize("env", ["stage", "dev-eu"])
def test_what_the_estimate_counts_is_what_the_synthesized_stack_holds(env, synths):
    """Every count the estimate takes from the env file, read back from the Terraform JSON instead."""
    path = ROOT / "envs" / f"{env}.yaml"
    cfg, stack = load(path), synths.of_file(path)
    res = stack.resources
    interface = [r for r in res("aws_vpc_endpoint").values() if r["vpc_endpoint_type"] == "Interface"]
    per_switch = sum(n for s, n in INTERFACE_ENDPOINTS_PER_SWITCH.items() if getattr(cfg.network.endpoints, s))
    assert len(interface) == per_switch
    assert all(len(r["subnet_ids"]) == cfg.network.az_count for r in interface)  # billed per AZ
    assert len(res("aws_nat_gateway")) == (1 if cfg.network.nat == "single" else cfg.network.az_count)
    assert len(stack.one("aws_lb")["subnets"]) == cfg.network.az_count  # one public IPv4 per ALB subnet
    templates = {t["name"]: t for t in res("aws_launch_template").values()}
    asgs = {a["name"]: a for a in res("aws_autoscaling_group").values()}
    assert len(asgs) == len(cfg.cluster.capacity_providers)
    for key, cp in cfg.cluster.capacity_providers.items():
        name = f"{cfg.name}-{key}"
        assert templates[name]["instance_type"] == cp.instance_type
        assert templates[name]["block_device_mappings"][0]["ebs"]["volume_size"] == cp.root_volume_gb
        assert (asgs[name].get("desired_capacity"), asgs[name]["max_size"]) == (cp.desired_capacity, cp.max_size)
    scheduled = {s["scheduled_action_name"] for s in res("aws_autoscaling_schedule").values()}
    assert scheduled == {f"{cfg.name}-{k}-off-hours-{a}" for k, cp in cfg.cluster.capacity_providers.items()
                         if cp.off_hours for a in ("start", "stop")}
    groups = res("aws_elasticache_replication_group").values()
    assert [(g["node_type"], g["num_cache_clusters"]) for g in groups] == (
        [(cfg.cache.node_type, cfg.cache.num_cache_clusters)] if cfg.cache else [])
    assert len(res("aws_efs_file_system")) == (1 if cfg.volumes else 0)
    inv = inventory_of_config(cfg)
    # one entry per alarm metric: a metric-math alarm (metric_query) counts each metric it reads
    periods = [q["metric"]["period"] for a in res("aws_cloudwatch_metric_alarm").values()
               for q in a.get("metric_query", []) if "metric" in q]
    periods += [a["period"] for a in res("aws_cloudwatch_metric_alarm").values() if "metric_query" not in a]
    assert sorted(periods) == list(inv.alarm_periods)
    assert len(res("aws_kms_key")) == inv.kms_keys
    assert len(res("aws_secretsmanager_secret")) == inv.secrets


def test_off_hours_prices_the_gpu_only_inside_its_window(stage_cfg, table):
    est = estimate(stage_cfg, table)
    gpu = line(est, "EC2 gpu")
    window = stage_cfg.cluster.capacity_providers["gpu"].off_hours
    hours = window.hours_per_week * HOURS_PER_MONTH / (24 * 7)  # 60 h/week = 260.7 h/month
    assert gpu.desired_off_hours == pytest.approx(gpu.desired * hours / HOURS_PER_MONTH, abs=0.01)
    general = line(est, "EC2 general")
    assert general.desired_off_hours == general.desired  # no window: around the clock
    assert est.windows == {"gpu": window.describe()} and est.effective == "desired_off_hours"
    assert est.total("desired") - est.total("desired_off_hours") == pytest.approx(gpu.desired - gpu.desired_off_hours,
                                                                                   abs=0.01)


def test_waf_is_priced_per_rule_when_the_env_file_has_one(table):
    from modules.cost.estimate import ASSUMED_WAF_MILLION_REQUESTS

    def waf(groups, enabled=True):
        def mutate(d):
            d["alb"]["waf"] = {"enabled": enabled, "managed_rule_groups": groups}
        return [ln for ln in estimate(cfg_of(variant(mutate)), table).lines if ln.group == "WAF"]

    one_group = waf({"AWSManagedRulesCommonRuleSet": []})
    three_groups = waf({"AWSManagedRulesCommonRuleSet": [], "AWSManagedRulesKnownBadInputsRuleSet": [],
                        "AWSManagedRulesAmazonIpReputationList": []})
    # modules/waf.py: the rate-based rule, the IP reputation list (ip_reputation, on by default), one rule per
    # managed group and, with the common rule set, the body-label rule; $1/month each; $5 per web ACL
    assert one_group[0].desired == pytest.approx(5.0 + 4 * 1.0 + ASSUMED_WAF_MILLION_REQUESTS * 0.6)
    # + the known bad inputs; the reputation list listed explicitly is the same one rule
    assert three_groups[0].desired - one_group[0].desired == pytest.approx(1.0)
    assert "million requests" in one_group[0].assumption
    assert waf({"AWSManagedRulesCommonRuleSet": []}, enabled=False) == []


def test_stage_fixed_monthly_items_are_what_the_stack_makes_times_the_price(stage_cfg, table):
    """Reasoned from envs/stage.yaml: two `kind: scheduled` owners (quality-cron, rag-refresh-cron), each with a
    failure_alarm: 2 log-failure alarms + 2 stopped-task alarms + the Scheduler dead-letter alarm + 3 Scheduler
    metric alarms = 8; the init container ollama-init's failure alarm: 1; the user-facing alarms
    (modules/service_alarms.py): ALB 5XX, api 5XX, api unhealthy hosts = 3 single-metric alarms, api and ollama
    below desired (Container Insights on) and the gpu provider not in service = 3 two-metric alarms = 6 alarm
    metrics: 8 + 1 + 3 + 6 = 18 standard alarm metrics. One customer managed key (the alarm topic's; secrets_kms is
    off). Secrets: QUALITY_OPS_TOKEN and api-env (docker-hub is `existing`: not created) + Redis' AUTH token and
    URL + Grafana's generated admin password = 5."""
    est = estimate(stage_cfg, table)
    us = table.data["regions"]["us-east-1"]
    assert line(est, "CloudWatch alarms").desired == round(18 * us["cloudwatch_alarm_month"], 2) == 1.8
    assert line(est, "CloudWatch alarms").item == "18 standard x $0.1 per alarm metric-month"
    assert line(est, "KMS keys").desired == us["kms_key_month"] == 1.0
    assert "first two yearly rotations" in line(est, "KMS keys").assumption
    assert line(est, "Secrets Manager").desired == round(5 * us["secretsmanager_secret_month"], 2) == 2.0
    fixed = line(est, "Secrets Manager")
    assert (fixed.desired, fixed.max, fixed.desired_off_hours, fixed.max_off_hours) == (2.0,) * 4  # no window


PAGER_TOPIC = "arn:aws:sns:us-east-1:123456789012:pager"  # an existing topic: no key of this stack


def test_fixed_items_follow_the_env_file(table):
    us = table.data["regions"]["us-east-1"]

    def changed(d):
        d["secrets_kms"] = True  # + the secrets key
        d["alarms"].update(create_topic=False, topic_arns=[PAGER_TOPIC])  # - the topic key
        d.pop("cache")  # - the two Redis secrets
        d["secrets"]["extra"] = {"generate": True}  # + one secret
        d["secrets"]["extra-existing"] = {"keys": ["k"], "existing": True}  # not created: not counted
    est = estimate(cfg_of(variant(changed)), table)
    assert line(est, "KMS keys").item.startswith("1 customer managed")
    # QUALITY_OPS_TOKEN, api-env, extra + Grafana's generated admin password
    assert line(est, "Secrets Manager").desired == round(4 * us["secretsmanager_secret_month"], 2)


def test_a_sub_minute_alarm_is_priced_as_high_resolution(stage_cfg, table):
    # The env-file schema allows periods of 60 s and up only; a synthesized stack (another version of the code,
    # cost --synth) may hold a 10 s alarm: CloudWatch prices that as a high-resolution alarm.
    inv = inventory_of_config(stage_cfg)
    est = price(dataclasses.replace(inv, alarm_periods=(10, 30, *inv.alarm_periods[2:])), table)
    alarms = line(est, "CloudWatch alarms")
    us = table.data["regions"]["us-east-1"]
    assert alarms.item == "16 standard x $0.1 + 2 high-resolution x $0.3 per alarm metric-month"
    assert alarms.desired == round(16 * us["cloudwatch_alarm_month"] + 2 * us["cloudwatch_alarm_high_resolution_month"], 2)


def test_no_alarm_key_or_secret_no_line(stage_cfg, table):
    bare = dataclasses.replace(inventory_of_config(stage_cfg), alarm_periods=(), kms_keys=0, secrets=0)
    assert not {"CloudWatch alarms", "KMS keys", "Secrets Manager"} & {ln.group for ln in price(bare, table).lines}


def test_the_ecs_and_session_manager_endpoints_are_priced_per_az(table):
    """network.endpoints.ecs (3 endpoints) and session_manager (2) on top of stage's: 5 more endpoints x its AZs."""
    base = estimate(cfg_of(variant(lambda d: None)), table)
    more = estimate(cfg_of(variant(lambda d: d["network"]["endpoints"].update(ecs=True, session_manager=True))), table)
    hour = table.data["regions"]["us-east-1"]["interface_endpoint_hour"]
    added = line(more, "VPC interface endpoints").desired - line(base, "VPC interface endpoints").desired
    assert added == pytest.approx(5 * 2 * hour * HOURS_PER_MONTH, abs=0.01)
    assert "10 endpoints x 2 AZs" in line(more, "VPC interface endpoints").item
