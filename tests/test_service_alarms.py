"""modules/service_alarms.py: alarms on what users feel (issue 26), derived from the env file's services:
the ALB's targets, the GPU services and capacity providers, the init containers (modules/failure_alarms.py)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT
from modules.config import EnvConfig
from modules.config.alarms import service_alarm_plan
from modules.config.defaults import (
    ALB_5XX_ALARM,
    BELOW_DESIRED_ALARM,
    GPU_NOT_IN_SERVICE_ALARM,
    UNHEALTHY_HOSTS_ALARM,
)
from small_envs import small_env

TERRAFORM_VALIDATE = {"test_the_gpu_env_is_valid_terraform": [lambda synths: synths.of_data(small_env(gpu=True))]}
OLLAMA_INIT = ROOT / "docker" / "ollama-init" / "ollama-init.sh"


def alarms_of(synth) -> dict[str, dict]:
    return {a["alarm_name"]: a for a in synth.resources("aws_cloudwatch_metric_alarm").values()}


def ref(synth, rtype: str, attr: str, where=lambda r: True) -> str:
    (lid,) = [k for k, v in synth.resources(rtype).items() if where(v)]
    return f"${{{rtype}.{lid}.{attr}}}"


@pytest.fixture(scope="module")
def gpu(synths):
    return synths.of_data(small_env(gpu=True))


@pytest.fixture(scope="module")
def no_gpu(synths):
    return synths.of_data(small_env())


def test_stage_alb_5xx_and_unhealthy_targets(stage):
    alarms = alarms_of(stage)
    lb = ref(stage, "aws_lb", "arn_suffix")
    api_tg = ref(stage, "aws_lb_target_group", "arn_suffix", lambda tg: tg["port"] == 8000)
    elb = alarms["araquem-stage-alb-5xx"]
    assert (elb["namespace"], elb["metric_name"], elb["statistic"]) == ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum")
    assert elb["dimensions"] == {"LoadBalancer": lb}
    assert (elb["period"], elb["evaluation_periods"], elb["threshold"]) == ALB_5XX_ALARM
    target = alarms["araquem-stage-api-5xx"]
    assert target["metric_name"] == "HTTPCode_Target_5XX_Count" and target["dimensions"] == {"LoadBalancer": lb, "TargetGroup": api_tg}
    unhealthy = alarms["araquem-stage-api-unhealthy-hosts"]
    assert (unhealthy["metric_name"], unhealthy["statistic"]) == ("UnHealthyHostCount", "Maximum")
    assert unhealthy["dimensions"] == {"LoadBalancer": lb, "TargetGroup": api_tg}
    assert (unhealthy["period"], unhealthy["evaluation_periods"], unhealthy["threshold"]) == UNHEALTHY_HOSTS_ALARM
    for alarm in (elb, target, unhealthy):
        assert alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["treat_missing_data"] == "notBreaching"  # no 5XX, no data point


def _difference(alarm: dict) -> tuple[dict, dict, str]:
    queries = {q["id"]: q for q in alarm["metric_query"]}
    assert queries["missing"]["expression"] == "wanted - have" and queries["missing"]["return_data"] is True
    assert queries["wanted"]["return_data"] is False and queries["have"]["return_data"] is False
    return queries["wanted"]["metric"], queries["have"]["metric"], queries["missing"]["expression"]


def test_stage_api_and_ollama_alarm_when_running_below_desired(stage, stage_cfg):
    cluster = stage.json["output"]["cluster_name"]["value"]
    for service in ("api", "ollama"):  # the ALB's target and the GPU service
        alarm = alarms_of(stage)[f"araquem-stage-{service}-below-desired"]
        wanted, have, _ = _difference(alarm)
        assert (wanted["namespace"], wanted["metric_name"]) == ("ECS/ContainerInsights", "DesiredTaskCount")
        assert (have["namespace"], have["metric_name"]) == ("ECS/ContainerInsights", "RunningTaskCount")
        assert wanted["dimensions"] == have["dimensions"] == {"ClusterName": cluster,
                                                              "ServiceName": f"araquem-stage-{service}"}
        assert (wanted["period"], alarm["evaluation_periods"], alarm["threshold"]) == BELOW_DESIRED_ALARM
        assert "period" not in alarm and "metric_name" not in alarm  # metric math only
    services = {s["name"] for s in stage.resources("aws_ecs_service").values()}
    assert {"araquem-stage-api", "araquem-stage-ollama"} <= services  # the dimension is the ECS service's name


def test_stage_gpu_instance_not_back_is_an_alarm_on_the_gpu_group(stage):
    alarm = alarms_of(stage)["araquem-stage-gpu-not-in-service"]
    wanted, have, _ = _difference(alarm)
    asg = ref(stage, "aws_autoscaling_group", "name", lambda g: g["name"] == "araquem-stage-gpu")
    assert (wanted["metric_name"], have["metric_name"]) == ("GroupDesiredCapacity", "GroupInServiceInstances")
    assert wanted["dimensions"] == have["dimensions"] == {"AutoScalingGroupName": asg}
    assert (wanted["period"], alarm["evaluation_periods"], alarm["threshold"]) == GPU_NOT_IN_SERVICE_ALARM
    groups = {g["name"]: g for g in stage.resources("aws_autoscaling_group").values()}
    # the group publishes what the alarm reads; the general group has no GPU alarm and publishes nothing
    assert set(groups["araquem-stage-gpu"]["enabled_metrics"]) >= {"GroupDesiredCapacity", "GroupInServiceInstances"}
    assert groups["araquem-stage-gpu"]["metrics_granularity"] == "1Minute"
    assert "enabled_metrics" not in groups["araquem-stage-general"]


def test_stage_ollama_init_failing_is_an_alarm_on_its_log_lines(stage):
    alarm = alarms_of(stage)["araquem-stage-ollama-init-failures"]
    (metric,) = [f for f in stage.resources("aws_cloudwatch_log_metric_filter").values()
                 if f["name"] == "araquem-stage-ollama-init-failures"]
    assert "workload_ollama_log_group_ollama-init_" in metric["log_group_name"]
    assert metric["pattern"] == '"ERROR:"' and alarm["metric_name"] == metric["metric_transformation"]["name"]


def test_ollama_init_logs_error_on_every_failing_exit():
    """The alarm reads `ERROR:` lines: every non-zero exit of the script goes through fail(), which logs one."""
    script = OLLAMA_INIT.read_text()
    assert 'fail() { code=$1; shift; log "ERROR: $*"; exit "$code"; }' in script
    exits = [line for line in script.splitlines() if re.search(r"\bexit\b", line) and not line.lstrip().startswith("#")]
    assert exits == ['fail() { code=$1; shift; log "ERROR: $*"; exit "$code"; }']


def test_every_alarm_notifies_the_alarm_topic(stage):
    topic = ref(stage, "aws_sns_topic", "arn")
    for name, alarm in alarms_of(stage).items():
        assert topic in alarm["alarm_actions"] and topic in alarm["ok_actions"], name


def test_alarms_follow_a_fresh_env_files_services(gpu, no_gpu):
    """Named by the env file (chat, llm, llm-models, accel), not by stage's services."""
    assert {"edge-small-alb-5xx", "edge-small-chat-5xx", "edge-small-chat-unhealthy-hosts",
            "edge-small-chat-below-desired", "edge-small-llm-below-desired", "edge-small-accel-not-in-service",
            "edge-small-llm-models-failures"} == set(alarms_of(gpu))
    assert set(alarms_of(no_gpu)) == {"edge-small-alb-5xx", "edge-small-chat-5xx", "edge-small-chat-unhealthy-hosts",
                                      "edge-small-chat-below-desired"}  # no GPU, no init container: none of theirs


def test_sso_grafana_behind_the_alb_gets_its_target_alarms_too():
    plan = {a.key for a in service_alarm_plan(EnvConfig.model_validate(small_env(grafana="sso")))}
    assert {"boards-5xx", "boards-unhealthy-hosts", "boards-below-desired"} <= plan


def test_without_container_insights_no_below_desired_alarm():
    data = small_env(gpu=True)
    data["cluster"]["container_insights"] = False  # the metrics would not exist
    kinds = {a.kind for a in service_alarm_plan(EnvConfig.model_validate(data))}
    assert "below_desired" not in kinds and "gpu_not_in_service" in kinds


def test_each_alarm_kind_and_its_threshold_are_in_the_docs(stage_cfg):
    """docs/observability.md states every alarm with its numbers; a changed threshold changes the docs."""
    docs = (ROOT / "docs" / "observability.md").read_text()
    names = {"elb_5xx": "`<name>-alb-5xx`", "target_5xx": "`<name>-<service>-5xx`",
             "unhealthy_hosts": "`<name>-<service>-unhealthy-hosts`", "below_desired": "`<name>-<service>-below-desired`",
             "gpu_not_in_service": "`<name>-<provider>-not-in-service`"}
    for planned in service_alarm_plan(EnvConfig.model_validate(small_env(gpu=True))):
        (row,) = [line for line in docs.splitlines() if line.startswith(f"| {names[planned.kind]} ")]
        period, evaluations, threshold = planned.timing
        assert f"{threshold}" in row and f"{evaluations * period} s" in row, row


def test_the_gpu_env_is_valid_terraform(gpu, terraform_validation):
    result = terraform_validation.of(gpu)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)
