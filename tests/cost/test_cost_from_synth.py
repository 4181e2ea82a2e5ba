"""modules/cost/from_synth.py and `cost --synth/--compare-synth`: a synthesized stack priced like its env file,
and a PR's delta from two real synths (the session's stage and stage_reshaped)."""

from __future__ import annotations

import copy
import json

import pytest

from conftest import ROOT, run_main
from modules.config import load
from modules.cost import prices
from modules.cost.estimate import HOURS_PER_MONTH, estimate, price
from modules.cost.prices import PriceError
from modules.cost.from_synth import SynthError, inventory_of_synth, load_inventory, stack_file


@pytest.fixture(scope="module")
def table():
    return prices.load()


@pytest.mark.parametrize("env", ["stage", "dev-eu"])
def test_a_synth_and_its_env_file_give_the_same_estimate(env, synths, table):
    """The cross-check: two independent readings (env file, Terraform JSON) of one environment agree
    line by line, with the off-hours window read back from the Auto Scaling scheduled actions."""
    path = ROOT / "envs" / f"{env}.yaml"
    from_file = estimate(load(path), table)
    inventory, _ = load_inventory(synths.of_file(path).dir)
    from_synth = price(inventory, table)
    assert from_synth.as_dict() == from_file.as_dict()
    assert [ln.item for ln in from_synth.lines] == [ln.item for ln in from_file.lines]


def test_the_synth_reading_counts_what_terraform_creates(stage, stage_cfg):
    inv = inventory_of_synth(stage.json, stage.dir.name)
    assert [(f.key, f.instance_type, f.desired, f.max) for f in inv.fleets] == [
        ("general", "m6i.xlarge", stage_cfg.cluster.capacity_providers["general"].desired_capacity, 4),
        ("gpu", "g5.xlarge", 1, 1)]
    gpu = inv.fleets[1]
    assert (gpu.window.days, gpu.window.start, gpu.window.stop) == ((1, 2, 3, 4, 5), 8 * 60, 20 * 60)
    assert gpu.window.timezone == "America/Sao_Paulo" and inv.fleets[0].window is None
    assert (inv.nat_gateways, inv.nat_addresses, inv.endpoint_azs, inv.alb_subnets) == (1, 1, (2,) * 5, (2,))
    assert inv.waf_rules == (5,)  # the rate rule, the IP reputation list, two managed rule groups, the body-label rule
    assert [(c.node_type, c.count) for c in inv.caches] == [("cache.t4g.micro", 1)]
    assert (inv.efs_file_systems, inv.efs_volumes, inv.log_groups) == (1, len(stage_cfg.volumes), True)
    # per alarm metric: api unhealthy hosts (1) + api and ollama below desired (2 x 2) + gpu not in service (2) at
    # 60 s; Scheduler dead-letter + 3 Scheduler metrics + ALB 5XX + api 5XX at 300 s; 2 log-failure + 2 stopped-task
    # + the ollama-init failure alarm at 3600 s
    assert inv.alarm_periods == (60,) * 7 + (300,) * 6 + (3600,) * 5
    # the topic key; 2 env-file secrets + 2 Redis + Grafana's admin password (docker-hub exists)
    assert (inv.kms_keys, inv.secrets) == (1, 5)


def test_delta_of_two_synths_is_the_reasoned_difference(stage, stage_reshaped, table):
    """stage -> stage_reshaped (tests/conftest.py reshape_for_cost): GPU g5.xlarge -> g4dn.xlarge inside its
    60 h/week window, a second NAT gateway with its Elastic IP, cache.t4g.micro -> small, general max 4 -> 6."""
    proc = run_main("cost", "--synth", str(stage_reshaped.dir), "--compare-synth", str(stage.dir), "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    us = table.data["regions"]["us-east-1"]
    ec2, cache = us["ec2_instance_hour"], us["elasticache_node_hour"]
    window_hours = 60 * HOURS_PER_MONTH / 168
    expected = {
        "EC2 gpu": (ec2["g4dn.xlarge"] - ec2["g5.xlarge"]) * window_hours,
        "NAT gateways": us["nat_gateway_hour"] * HOURS_PER_MONTH,
        "Public IPv4": us["public_ipv4_hour"] * HOURS_PER_MONTH,
        "ElastiCache": (cache["cache.t4g.small"] - cache["cache.t4g.micro"]) * HOURS_PER_MONTH,
    }
    changed = {g: v["delta"] for g, v in d["groups"].items() if v["delta"]}
    assert changed == pytest.approx(expected, abs=0.01)
    assert d["total"]["delta"] == pytest.approx(sum(expected.values()), abs=0.02)
    general_max = 2 * (ec2["m6i.xlarge"] * HOURS_PER_MONTH + 40 * us["ebs_gp3_gb_month"])  # two more at max
    assert d["total_max"]["delta"] == pytest.approx(sum(expected.values()) + general_max, abs=0.02)

    md = run_main("cost", "--synth", str(stage_reshaped.dir.parent.parent), "--compare-synth",
                  str(stage.dir.parent.parent), "--format", "markdown")  # cdktf output dirs (manifest.json)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("<!-- araquem-cost:araquem-stage -->\n")
    assert f"**{d['total']['delta']:+,.2f} USD/month**" in md.stdout
    assert "| EC2 gpu |" in md.stdout and "| EC2 general |" not in md.stdout  # desired sizes unchanged


def test_head_env_file_against_a_base_synth(stage):
    proc = run_main("cost", "--env", "stage", "--compare-synth", str(stage.dir), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total"]["delta"] == 0


def _copy(stage, tmp_path, mutate):
    doc = copy.deepcopy(stage.json)
    mutate(doc)
    out = tmp_path / "araquem-stage"
    out.mkdir()
    (out / "cdk.tf.json").write_text(json.dumps(doc))
    return out


def _launch_templates(doc):
    return doc["resource"]["aws_launch_template"]


@pytest.mark.parametrize("mutate, field, words", [
    (lambda d: [t.update(instance_type="g6.xlarge") for t in _launch_templates(d).values()
                if t["instance_type"] == "g5.xlarge"],
     "resource.aws_launch_template.cluster_gpu-launch-template_2E93BBFF.instance_type",
     "no price for 'g6.xlarge' in us-east-1"),
    (lambda d: [t.update(instance_type="${var.gpu_type}") for t in _launch_templates(d).values()
                if t["instance_type"] == "g5.xlarge"],
     "resource.aws_launch_template.cluster_gpu-launch-template_2E93BBFF.instance_type",
     "'${var.gpu_type}' is not a literal str"),
    (lambda d: d["provider"]["aws"][0].update(region="ap-south-2"), "provider.aws.region",
     "'ap-south-2' has no prices in modules/cost/prices.json"),
    (lambda d: [s.update(recurrence="0 20 1-7 * 5") for s in d["resource"]["aws_autoscaling_schedule"].values()
                if s["max_size"] == 0],
     "resource.aws_autoscaling_schedule.cluster_gpu-off-hours-stop_F6A4FEFC.recurrence",
     "the estimate reads 'M H * * DAYS'"),
])
def test_an_unpriceable_synth_is_exit_2_naming_the_file_and_the_resource(stage, tmp_path, mutate, field, words):
    stack_dir = _copy(stage, tmp_path, mutate)
    proc = run_main("cost", "--synth", str(stack_dir))
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.startswith(f"{stack_dir / 'cdk.tf.json'}: {field}: ") and words in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_directory_without_a_synth_or_with_several_stacks_is_refused(stage, tmp_path):
    proc = run_main("cost", "--synth", str(tmp_path))
    assert proc.returncode == 2 and f"{tmp_path}: no cdk.tf.json and no manifest.json" in proc.stderr
    manifest = {"stacks": {name: {"synthesizedStackPath": f"stacks/{name}/cdk.tf.json"}
                           for name in ("araquem-stage", "araquem-dev")}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SynthError, match="several stacks; stacks: araquem-dev, araquem-stage; name one with --stack"):
        stack_file(tmp_path)
    with pytest.raises(SynthError, match="names stacks/araquem-dev/cdk.tf.json, which is not there"):
        stack_file(tmp_path, "araquem-dev")
    (tmp_path / "stacks/araquem-dev").mkdir(parents=True)
    (tmp_path / "stacks/araquem-dev/cdk.tf.json").write_text("{}")
    assert stack_file(tmp_path, "araquem-dev") == tmp_path / "stacks" / "araquem-dev" / "cdk.tf.json"
    with pytest.raises(SynthError, match="stack 'nope' is not in it"):
        stack_file(tmp_path, "nope")
    # --synth prices the synth alone: an env-file comparison is refused rather than mixed in silently
    proc = run_main("cost", "--synth", str(stage.dir), "--compare", str(ROOT / "envs" / "stage.yaml"))
    assert proc.returncode == 2 and "with --synth, use --compare-synth" in proc.stderr


def test_a_group_whose_schedule_does_not_stop_it_is_not_priced_as_off_hours(stage):
    doc = copy.deepcopy(stage.json)
    for action in doc["resource"]["aws_autoscaling_schedule"].values():
        action["max_size"] = 1  # two "start" actions, no stop: not the off-hours pair
    with pytest.raises(PriceError, match="found 2 start and 0 stop"):
        inventory_of_synth(doc, "araquem-stage")
