"""modules/cluster.py: ECS cluster, one launch template + ASG + capacity provider per env-file entry.

Reads the session's stage synth and the dev-eu synth (no GPU, one provider); each is synthesized once.
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from conftest import ROOT, run
from modules.cluster import AMI_PARAMETER, GPU_AMI_PARAMETER, IMDS_HOP_LIMIT
from modules.config import load
from modules.config.capacity import ECS_RESERVED_MEMORY_MIB

DEV_EU = ROOT / "envs" / "dev-eu.yaml"
REF = re.compile(r"^\$\{([a-z0-9_]+)\.([^.}]+)\.([a-z_]+)\}$")


def ref(value: str) -> tuple[str, str, str]:
    """`${type.name.attr}` -> (type, name, attr); fails on anything else."""
    match = REF.match(value)
    assert match, f"not a plain reference: {value!r}"
    return match.groups()


def by_name(stack, rtype: str) -> dict[str, tuple[str, dict]]:
    """Resources of one type keyed by their `name` argument: {name: (logical id, body)}."""
    return {body["name"]: (lid, body) for lid, body in stack.resources(rtype).items()}


class Compute:
    """The compute resources of one synthesized stack, per capacity provider key."""

    def __init__(self, stack, cfg):
        self.stack, self.cfg = stack, cfg
        providers = by_name(stack, "aws_ecs_capacity_provider")
        asgs = {lid: body for lid, body in stack.resources("aws_autoscaling_group").items()}
        templates = stack.resources("aws_launch_template")
        self.keys = list(cfg.cluster.capacity_providers)
        self.provider, self.asg, self.template, self.provider_ref = {}, {}, {}, {}
        for key in self.keys:
            lid, cp = providers[f"{cfg.name}-{key}"]
            self.provider[key], self.provider_ref[key] = cp, f"${{aws_ecs_capacity_provider.{lid}.name}}"
            _, asg_id, _ = ref(cp["auto_scaling_group_provider"]["auto_scaling_group_arn"])
            self.asg[key] = asgs[asg_id]
            _, lt_id, _ = ref(self.asg[key]["launch_template"]["id"])
            self.template[key] = templates[lt_id]

    def user_data(self, key: str) -> str:
        return base64.b64decode(self.template[key]["user_data"]).decode()


def _ami_parameter(stack, template: dict) -> str:
    match = re.match(r"^\$\{data\.aws_ssm_parameter\.([^.]+)\.insecure_value\}$", template["image_id"])
    assert match, template["image_id"]
    return stack.data("aws_ssm_parameter")[match.group(1)]["name"]


def _agent_config(compute: Compute, key: str) -> dict[str, str]:
    script = compute.user_data(key)
    assert script.startswith("#!/bin/bash\n") and "cat >> /etc/ecs/ecs.config <<'EOF'\n" in script
    body = script.split("<<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    return dict(line.split("=", 1) for line in body.splitlines())


@pytest.fixture(scope="module")
def compute(stage, stage_cfg) -> Compute:
    return Compute(stage, stage_cfg)


@pytest.fixture(scope="module")
def dev_eu(synths) -> Compute:
    return Compute(synths.of_file(DEV_EU), load(DEV_EU))


def test_one_capacity_provider_per_env_entry(compute, stage_cfg):
    assert len(compute.stack.resources("aws_ecs_capacity_provider")) == len(stage_cfg.cluster.capacity_providers) == 2
    for key, cp in stage_cfg.cluster.capacity_providers.items():
        asg, lt = compute.asg[key], compute.template[key]
        assert lt["instance_type"] == cp.instance_type
        assert (asg["min_size"], asg["max_size"]) == (cp.min_size, cp.max_size)
        assert asg.get("desired_capacity") == cp.desired_capacity
        assert asg["lifecycle"]["ignore_changes"][0] == "desired_capacity"  # managed scaling owns it


def test_amis_come_from_the_public_ssm_parameters(compute):
    assert _ami_parameter(compute.stack, compute.template["general"]) == AMI_PARAMETER
    assert _ami_parameter(compute.stack, compute.template["gpu"]) == GPU_AMI_PARAMETER
    assert AMI_PARAMETER == "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    assert GPU_AMI_PARAMETER == "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"


def test_launch_templates_are_locked_down(compute, stage_cfg):
    for key, lt in compute.template.items():
        meta = lt["metadata_options"]
        assert meta["http_tokens"] == "required" and meta["http_endpoint"] == "enabled"  # IMDSv2 only
        assert meta["http_put_response_hop_limit"] == IMDS_HOP_LIMIT == 1
        assert "key_name" not in lt  # no SSH: Session Manager
        [root] = lt["block_device_mappings"]
        assert root["ebs"]["encrypted"] == "true" and root["ebs"]["volume_type"] == "gp3"
        assert root["ebs"]["volume_size"] == stage_cfg.cluster.capacity_providers[key].root_volume_gb
        # the size applies to the AMI's own root device (read from the AMI, not guessed)
        assert root["device_name"].startswith("${data.aws_ami.") and root["device_name"].endswith(".root_device_name}")


def test_instances_use_the_instances_security_group_and_private_subnets(compute, stage_cfg):
    groups = compute.stack.resources("aws_security_group")
    subnets = compute.stack.resources("aws_subnet")
    private = set(stage_cfg.network.subnet_cidrs()["private"])
    for key in compute.keys:
        [sg] = compute.template[key]["vpc_security_group_ids"]
        _, sg_id, _ = ref(sg)
        assert "instances" in groups[sg_id]["name"]
        cidrs = {subnets[ref(s)[1]]["cidr_block"] for s in compute.asg[key]["vpc_zone_identifier"]}
        assert cidrs == private


def test_gpu_agent_settings_only_on_the_gpu_provider(compute, stage_cfg):
    general, gpu = _agent_config(compute, "general"), _agent_config(compute, "gpu")
    assert gpu["ECS_ENABLE_GPU_SUPPORT"] == "true"
    assert "ECS_ENABLE_GPU_SUPPORT" not in general
    for config in (general, gpu):
        assert config["ECS_CLUSTER"] == stage_cfg.name
        assert config["ECS_AWSVPC_BLOCK_IMDS"] == "true"  # tasks cannot read the instance credentials
        assert config["ECS_ENABLE_TASK_IAM_ROLE"] == "true"
        assert config["ECS_RESERVED_MEMORY"] == str(ECS_RESERVED_MEMORY_MIB)  # what the fit check assumes


def test_default_strategy_is_the_env_default(compute, stage_cfg):
    association = compute.stack.one("aws_ecs_cluster_capacity_providers")
    assert sorted(association["capacity_providers"]) == sorted(compute.provider_ref.values())
    [strategy] = association["default_capacity_provider_strategy"]
    assert strategy["capacity_provider"] == compute.provider_ref[stage_cfg.cluster.default_capacity_provider]
    assert strategy["capacity_provider"] == compute.provider_ref["general"]


def test_scaling_and_teardown_settings(compute, stage_cfg):
    for key, cp in compute.provider.items():
        group = cp["auto_scaling_group_provider"]
        assert group["managed_scaling"] == {
            "status": "ENABLED", "target_capacity": stage_cfg.cluster.capacity_providers[key].target_capacity}
        assert group["managed_termination_protection"] == "DISABLED"  # else destroy waits on protected instances
        assert group["managed_draining"] == "ENABLED"
        assert cp["lifecycle"] == {"create_before_destroy": True}  # removal: association updated first
        asg = compute.asg[key]
        assert asg["protect_from_scale_in"] is False
        assert {"key": "AmazonECSManaged", "value": "true", "propagate_at_launch": True} in asg["tag"]
        [cluster_id] = compute.stack.resources("aws_ecs_cluster")
        assert asg["depends_on"] == [f"aws_ecs_cluster.{cluster_id}"]  # instances go before the cluster


def test_cluster_settings_and_outputs(compute, stage_cfg):
    assert compute.stack.one("aws_ecs_cluster")["name"] == stage_cfg.name
    outputs = compute.stack.json["output"]
    assert set(outputs["capacity_provider_names"]["value"]) == {"general", "gpu"}
    assert set(outputs["autoscaling_group_names"]["value"]) == {"general", "gpu"}
    # cluster name/ARN are read through the association: services wait for the providers to be attached
    assert "aws_ecs_cluster_capacity_providers." in outputs["cluster_name"]["value"]
    assert "aws_ecs_cluster_capacity_providers." in outputs["cluster_arn"]["value"]


def test_services_are_placed_after_the_providers_are_attached(compute):
    services = compute.stack.resources("aws_ecs_service")
    assert services, "no ECS services in the stack"
    for service in services.values():
        assert "aws_ecs_cluster_capacity_providers." in service["cluster"]


def test_instance_role_has_the_ecs_and_ssm_policies(compute):
    attached = {a["policy_arn"] for a in compute.stack.resources("aws_iam_role_policy_attachment").values()}
    assert any(arn.endswith(":iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role") for arn in attached)
    assert any(arn.endswith(":iam::aws:policy/AmazonSSMManagedInstanceCore") for arn in attached)
    profile = by_name(compute.stack, "aws_iam_instance_profile")
    for lt in compute.template.values():
        _, profile_id, _ = ref(lt["iam_instance_profile"]["arn"])
        assert profile_id in {lid for lid, _ in profile.values()}


def test_env_without_gpu_has_one_general_provider(dev_eu):
    assert dev_eu.keys == ["general"] and len(dev_eu.stack.resources("aws_ecs_capacity_provider")) == 1
    assert [p["name"] for p in dev_eu.stack.data("aws_ssm_parameter").values()
            if p["name"].startswith("/aws/service/ecs/")] == [AMI_PARAMETER]
    assert "ECS_ENABLE_GPU_SUPPORT" not in _agent_config(dev_eu, "general")
    subnets = dev_eu.stack.resources("aws_subnet")
    assert len(dev_eu.asg["general"]["vpc_zone_identifier"]) == dev_eu.cfg.network.az_count == 3
    assert {subnets[ref(s)[1]]["cidr_block"] for s in dev_eu.asg["general"]["vpc_zone_identifier"]} == \
        set(dev_eu.cfg.network.subnet_cidrs()["private"])


def test_container_insights_follows_the_env_file(compute, dev_eu):
    assert compute.cfg.cluster.container_insights and not dev_eu.cfg.cluster.container_insights
    assert {"name": "containerInsights", "value": "enabled"} in compute.stack.one("aws_ecs_cluster")["setting"]
    assert {"name": "containerInsights", "value": "disabled"} in dev_eu.stack.one("aws_ecs_cluster")["setting"]


def _apply(workdir, config: dict, terraform_env: dict) -> list[str]:
    """Apply a config (JSON) with one worker; return the lines saying what changed, in order."""
    (workdir / "main.tf.json").write_text(json.dumps(config))
    proc = run(["terraform", "apply", "-auto-approve", "-no-color", "-input=false", "-parallelism=1"],
               cwd=workdir, env=terraform_env)
    return [f"{m.group(1)}: {m.group(2)}" for m in re.finditer(r"^(\S+): (Creating|Modifying|Destroying)\.\.\.",
                                                               proc.stdout, re.MULTILINE)]


def test_removing_a_provider_detaches_it_before_deleting_it(compute, terraform_env, tmp_path):
    """Terraform itself, on a stand-in graph with OUR lifecycle: capacity provider <- association.

    terraform_data (built into Terraform, no provider or cloud needed) plays the two resources; the
    capacity provider carries the lifecycle block of the synthesized one. Removing it must update the
    association first: ECS cannot delete a provider still attached to the cluster.
    """
    lifecycle = compute.provider["gpu"]["lifecycle"]

    def config(with_gpu: bool) -> dict:
        names = ["general"] + (["gpu"] if with_gpu else [])
        resources = {n: {"input": n, "lifecycle": lifecycle} for n in names}
        resources["association"] = {"input": [f"${{terraform_data.{n}.output}}" for n in names]}
        return {"resource": {"terraform_data": resources}}

    run(["terraform", "init", "-no-color", "-input=false"], cwd=tmp_path, env=terraform_env)
    _apply(tmp_path, config(with_gpu=True), terraform_env)
    steps = _apply(tmp_path, config(with_gpu=False), terraform_env)
    assert steps == ["terraform_data.association: Modifying", "terraform_data.gpu: Destroying"], steps


# ---------------------------------------------------------------- off-hours
def test_gpu_asg_is_scheduled_to_zero_outside_its_window(stage, stage_cfg):
    gpu = stage_cfg.cluster.capacity_providers["gpu"]
    asgs = by_name(stage, "aws_autoscaling_group")
    gpu_asg_id, gpu_asg = asgs["araquem-stage-gpu"]
    schedules = {s["scheduled_action_name"].rsplit("-", 1)[1]: s
                 for s in stage.resources("aws_autoscaling_schedule").values()}
    assert set(schedules) == {"stop", "start"}
    assert all(ref(s["autoscaling_group_name"]) == ("aws_autoscaling_group", gpu_asg_id, "name")
               for s in schedules.values())  # only the GPU group; general runs around the clock
    stop, start = schedules["stop"], schedules["start"]
    # stop: nothing may run (max 0 also keeps managed scaling from launching one)
    assert (stop["min_size"], stop["max_size"], stop["desired_capacity"]) == (0, 0, 0)
    # start: the env file's bounds; desired -1 = unchanged, left to ECS managed scaling
    assert (start["min_size"], start["max_size"], start["desired_capacity"]) == (gpu.min_size, gpu.max_size, -1)
    assert stop["recurrence"] == "0 20 * * 1,2,3,4,5" and start["recurrence"] == "0 8 * * 1,2,3,4,5"
    assert stop["time_zone"] == start["time_zone"] == "America/Sao_Paulo"
    assert sorted(gpu_asg["lifecycle"]["ignore_changes"]) == ["desired_capacity", "max_size", "min_size"]
    assert asgs["araquem-stage-general"][1]["lifecycle"]["ignore_changes"] == ["desired_capacity"]


def test_asg_and_its_services_stop_and_start_at_the_same_moments(stage):
    asg = {s["scheduled_action_name"].rsplit("-", 1)[1]: s for s in stage.resources("aws_autoscaling_schedule").values()}
    for action in stage.resources("aws_appautoscaling_scheduled_action").values():
        which = action["name"].rsplit("-", 1)[1]
        minute, hour, _, _, days = asg[which]["recurrence"].split()
        names = ",".join(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"][int(d)] for d in days.split(","))
        assert action["schedule"] == f"cron({minute} {hour} ? * {names} *)"
        assert action["timezone"] == asg[which]["time_zone"]
