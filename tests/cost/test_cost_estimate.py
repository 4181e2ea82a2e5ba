"""modules/cost/estimate.py: every line priced from the env file and the table, nothing silently zero."""

from __future__ import annotations

import pytest

from conftest import ROOT, variant
from modules.config import EnvConfig, load
from modules.cost import prices
from modules.cost.estimate import HOURS_PER_MONTH, INTERFACE_ENDPOINTS_PER_SWITCH, estimate
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
            "ElastiCache", "EFS", "CloudWatch Logs"} == {ln.group for ln in est.lines}


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
    # modules/waf.py: the rate-based rule + one rule per managed group, $1/month each; $5 per web ACL
    assert one_group[0].desired == pytest.approx(5.0 + 2 * 1.0 + ASSUMED_WAF_MILLION_REQUESTS * 0.6)
    assert three_groups[0].desired - one_group[0].desired == pytest.approx(2.0)
    assert "million requests" in one_group[0].assumption
    assert waf({"AWSManagedRulesCommonRuleSet": []}, enabled=False) == []
