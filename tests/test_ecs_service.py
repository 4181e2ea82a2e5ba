"""modules/ecs_service.py: Service Connect by compose name, ALB targets, rollback/replace deployments, autoscaling."""

from __future__ import annotations

import json
import re

import pytest

from conftest import variant
from test_workload import bad_input_line, ecs_services, referenced, scheduled_without_volumes, task_definitions

# Compose names and ports other containers use (seed §3.4 datasources, §2 ports).
COMPOSE_ALIASES = {("api", 8000), ("prometheus", 9090), ("grafana", 3000), ("tempo", 3200), ("tempo", 4317),
                   ("tempo", 4318), ("ollama", 11434), ("otel-collector", 4317), ("otel-collector", 4318),
                   ("otel-collector", 8888)}


def test_service_connect_aliases_are_the_compose_names(stage, stage_cfg):
    namespace = stage.one("aws_service_discovery_http_namespace")
    assert namespace["name"] == "araquem-stage.local"
    aliases = set()
    for name, service in ecs_services(stage).items():
        sc = service["service_connect_configuration"]
        assert sc["enabled"] is True and "aws_service_discovery_http_namespace" in sc["namespace"]  # every one a client
        for server in sc.get("service", []):
            aliases.add((server["client_alias"]["dns_name"], server["client_alias"]["port"]))
            assert server["port_name"] == server["discovery_name"]
    # each port of each container of a long-running service, under its name; the seed's among them
    assert aliases == {(cname, pm.port) for owner in ecs_services(stage)
                       for cname, svc in stage_cfg.containers_of(owner).items() for pm in svc.ports}
    assert COMPOSE_ALIASES <= aliases
    # the port names the services publish exist in their task definitions
    for owner, td in task_definitions(stage).items():
        names = {p["name"] for d in json.loads(td["container_definitions"]) for p in d.get("portMappings", [])}
        if owner in ecs_services(stage):
            published = {s["port_name"] for s in ecs_services(stage)[owner]["service_connect_configuration"].get(
                "service", [])}
            assert published == names


def test_api_behind_the_alb_with_rollback_and_autoscaling(stage, stage_cfg):
    api = ecs_services(stage)["api"]
    assert api["load_balancer"] == [{"container_name": "api", "container_port": 8000,
                                     "target_group_arn": api["load_balancer"][0]["target_group_arn"]}]
    assert "aws_lb_target_group" in api["load_balancer"][0]["target_group_arn"]
    assert any("aws_lb_listener" in d for d in api["depends_on"])
    assert api["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert api["lifecycle"]["ignore_changes"] == ["desired_count"]
    scaling = stage_cfg.services["api"].scaling
    target = scalable_targets(stage)["api"]
    assert (target["min_capacity"], target["max_capacity"]) == (scaling.min, scaling.max)
    policy = stage.one("aws_appautoscaling_policy")["target_tracking_scaling_policy_configuration"]
    assert policy["target_value"] == scaling.cpu_target
    assert policy["predefined_metric_specification"]["predefined_metric_type"] == "ECSServiceAverageCPUUtilization"


def test_every_service_rolls_back_and_stateful_ones_replace(stage):
    for name, service in ecs_services(stage).items():
        assert service["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
        assert service["network_configuration"]["assign_public_ip"] is False
        assert service["enable_execute_command"] is False
        # write an EFS volume or hold the GPU; the api writes the rag volume too, but that one is made for
        # concurrent writers (volumes.rag.concurrent_writers), so the critical api keeps rolling
        stateful = name in ("ollama", "prometheus", "grafana", "tempo")
        expected = (0, 100) if stateful else (100, 200)
        assert (service["deployment_minimum_healthy_percent"], service["deployment_maximum_percent"]) == expected


def test_grafana_registers_with_its_target_group_when_exposed(stage, synths):
    assert "load_balancer" not in ecs_services(stage)["grafana"]  # stage: internal only
    other = synths.of_data(variant(scheduled_without_volumes))
    grafana = ecs_services(other)["grafana"]
    [attachment] = grafana["load_balancer"]
    assert (attachment["container_name"], attachment["container_port"]) == ("grafana", 3000)
    assert referenced(other, attachment["target_group_arn"])["port"] == 3000
    assert any("aws_lb_listener" in d for d in grafana["depends_on"])


def test_port_names_must_be_unique_in_the_namespace(tmp_path):
    def mutate(data):
        data["services"]["otel-collector"]["ports"][0]["name"] = "tempo-http"  # tempo's 3200 already has it

    line = bad_input_line(tmp_path, mutate, "services.otel-collector.ports[0].name")
    assert "port name 'tempo-http' is already used by 'tempo'" in line


# ---------------------------------------------------------------- off-hours (cluster.capacity_providers.*.off_hours)
def scalable_targets(stack) -> dict[str, dict]:
    """service name -> its Application Auto Scaling target (resource_id service/<cluster>/<service>)."""
    out = {}
    for target in stack.resources("aws_appautoscaling_target").values():
        service = referenced(stack, "${" + target["resource_id"].rsplit("/${", 1)[1])
        out[service["name"].removeprefix("araquem-stage-")] = target
    return out


def scheduled_actions(stack) -> dict[str, dict[str, dict]]:
    """service name -> {"stop"|"start": its scheduled action}."""
    out: dict[str, dict[str, dict]] = {}
    for action in stack.resources("aws_appautoscaling_scheduled_action").values():
        service, _, which = action["name"].removeprefix("araquem-stage-").rpartition("-off-hours-")
        out.setdefault(service, {})[which] = action
    return out


def test_services_on_an_off_hours_provider_scale_to_zero_outside_the_window(stage, stage_cfg):
    window = stage_cfg.cluster.capacity_providers["gpu"].off_hours
    on_gpu = {n for n, s in stage_cfg.task_owners().items()
              if s.kind.value == "service" and stage_cfg.capacity_provider_of(n) == "gpu"}
    assert on_gpu == {"ollama"} and set(scheduled_actions(stage)) == on_gpu  # nothing on `general` is scheduled
    actions, target = scheduled_actions(stage)["ollama"], scalable_targets(stage)["ollama"]
    desired = stage_cfg.services["ollama"].desired_count
    assert actions["stop"]["scalable_target_action"] == {"min_capacity": "0", "max_capacity": "0"}
    assert actions["start"]["scalable_target_action"] == {"min_capacity": str(desired), "max_capacity": str(desired)}
    assert actions["stop"]["schedule"] == "cron(0 20 ? * MON,TUE,WED,THU,FRI *)"
    assert actions["start"]["schedule"] == "cron(0 8 ? * MON,TUE,WED,THU,FRI *)"
    assert {a["timezone"] for a in actions.values()} == {window.timezone}
    for action in actions.values():  # acting on the service's own target (and created after it)
        assert referenced(stage, action["resource_id"]) is target
    # the schedule owns the count and the target's bounds: a plan at night must not start the GPU again
    assert ecs_services(stage)["ollama"]["lifecycle"]["ignore_changes"] == ["desired_count"]
    assert target["lifecycle"]["ignore_changes"] == ["min_capacity", "max_capacity"]
    assert (target["min_capacity"], target["max_capacity"]) == (desired, desired)
    assert "lifecycle" not in scalable_targets(stage)["api"]  # api: on general, plain autoscaling


def test_off_hours_keeps_a_scaled_service_within_its_scaling_range(synths):
    def general_off_hours(d):
        d["cluster"]["capacity_providers"]["general"]["off_hours"] = {"days": "mon-wed,fri", "start": "07:30",
                                                                      "stop": "19:15", "timezone": "Europe/Lisbon"}
        d["services"]["grafana"]["desired_count"] = 0  # stopped on purpose: no schedule brings it back
        for cron in ("quality-cron", "rag-refresh-cron"):  # scheduled tasks on general run inside its window
            d["services"][cron].update(schedule="cron(30 8-18 ? * MON,TUE,WED,FRI *)", schedule_timezone="Europe/Lisbon")
    stack = synths.of_data(variant(general_off_hours))
    actions = scheduled_actions(stack)
    assert "grafana" not in actions and {"api", "prometheus", "tempo", "otel-collector", "ollama"} <= set(actions)
    api = actions["api"]
    assert api["start"]["scalable_target_action"] == {"min_capacity": "1", "max_capacity": "3"}  # scaling min/max
    assert api["stop"]["schedule"] == "cron(15 19 ? * MON,TUE,WED,FRI *)"
    assert api["start"]["schedule"] == "cron(30 7 ? * MON,TUE,WED,FRI *)" and api["start"]["timezone"] == "Europe/Lisbon"
    assert len(stack.resources("aws_appautoscaling_policy")) == 1  # CPU tracking still api's alone


def test_ollama_models_survive_off_hours_on_efs(stage):
    # Scaled to zero the task is gone; back in the window, ollama-init runs again and must find the models
    # where ollama stores them (~/.ollama/models, HOME being the volume): on EFS, not in the task's disk; and it
    # runs as the volume's owner, not as root (the image's default)
    td = task_definitions(stage)["ollama"]
    ollama = next(c for c in json.loads(td["container_definitions"]) if c["name"] == "ollama")
    home = next(e["value"] for e in ollama["environment"] if e["name"] == "HOME")
    mount = next(m for m in ollama["mountPoints"] if m["containerPath"] == home)
    assert ollama["user"] == "1001:1001"
    volume = next(v for v in td["volume"] if v["name"] == mount["sourceVolume"])
    assert volume["efs_volume_configuration"]["transit_encryption"] == "ENABLED"
    assert mount.get("readOnly") is not True
    assert "OLLAMA_MODELS" not in {e["name"] for e in ollama.get("environment", [])}  # would move the store


def called_services(cfg, owner: str) -> set[str]:
    """What `owner`'s task calls through Service Connect, read from the env file: the compose names in its
    containers' URLs (environment and parameters) and its depends_on, as task owners with an ECS service."""
    served = {n for n, s in cfg.services.items() if s.ports}
    called = set()
    for container in cfg.containers_of(owner).values():
        values = [*container.environment.values(), *(cfg.parameters[k] for k in container.parameters.values())]
        called |= {host for value in values for host in re.findall(r"//([a-z][a-z0-9-]*):\d", value) if host in served}
        called |= set(container.depends_on)
    return {cfg.task_owner(c) for c in called} - {owner}


def test_service_connect_clients_are_created_after_the_services_they_call(stage, stage_cfg):
    # AWS: existing tasks can't resolve a Service Connect endpoint created after them (ECS developer
    # guide, "Service Connect components"): every client's ECS service must wait for its servers.
    services = ecs_services(stage)
    keys = {s["name"].removeprefix("araquem-stage-"): key for key, s in stage.resources("aws_ecs_service").items()}
    for name, service in services.items():
        expected = {f"aws_ecs_service.{keys[c]}" for c in called_services(stage_cfg, name) if c in services}
        assert expected <= set(service.get("depends_on", [])), (name, sorted(expected))
    assert {"ollama", "prometheus", "grafana", "tempo", "otel-collector"} <= called_services(stage_cfg, "api")
    assert f"aws_ecs_service.{keys['tempo']}" in services["otel-collector"]["depends_on"]


def test_llm_calls_to_ollama_get_a_service_connect_timeout_fit_for_them(stage, stage_cfg):
    """issue 16: AWS applies 15 s per request through Service Connect unless the port sets a timeout; a cold
    model load from EFS and a long generation take minutes, so the api got 504s. stage.yaml sets no timeout
    (issue 24): the generator derives them from the call graph (modules/config/timeouts.py)."""
    assert all(pm.per_request_timeout is None and pm.idle_timeout is None
               for svc in stage_cfg.services.values() for pm in svc.ports)
    [server] = ecs_services(stage)["ollama"]["service_connect_configuration"]["service"]
    assert server["timeout"]["per_request_timeout_seconds"] >= 300  # minutes, not AWS's 15 s
    assert server["timeout"]["idle_timeout_seconds"] >= server["timeout"]["per_request_timeout_seconds"]
    # the ALB in front of the api waits at least as long (its default 60 s idle timeout would 504 first)
    assert stage.one("aws_lb")["idle_timeout"] >= server["timeout"]["per_request_timeout_seconds"]
    # ports nobody waits on for long keep AWS's defaults (no timeout block): the collector's
    collector = ecs_services(stage)["otel-collector"]["service_connect_configuration"]["service"]
    assert collector and all("timeout" not in s for s in collector)


@pytest.mark.parametrize("port, words", [
    ({"port": 11434, "protocol": "tcp", "per_request_timeout": 600}, "needs an HTTP/HTTP2/gRPC port"),
    ({"port": 11434, "per_request_timeout": 600}, "idle_timeout 300 s (AWS default) is below per_request_timeout"),
    ({"port": 11434, "per_request_timeout": 600, "idle_timeout": 60}, "idle_timeout 60 s is below"),
], ids=["per-request-on-tcp", "default-idle-below", "idle-below"])
def test_service_connect_timeouts_that_cannot_work_are_rejected(tmp_path, port, words):
    line = bad_input_line(tmp_path, lambda d: d["services"]["ollama"].update(ports=[port]), "services.ollama.ports[0]")
    assert words in line, line


def test_requests_through_the_alb_are_not_cut_by_the_apis_service_connect_proxy(stage, stage_cfg):
    """The ALB sends to the api task's port, where its Service Connect proxy listens (ingressPortOverride
    defaults to the container port in awsvpc mode), so that proxy's per-request timeout (AWS default 15 s)
    applies to every request from the edge: it must be at least the ALB's idle timeout, or a long LLM answer
    gets a 504 from the proxy however long the ALB would wait."""
    target = stage_cfg.alb.target
    servers = ecs_services(stage)[target.service]["service_connect_configuration"]["service"]
    [server] = [s for s in servers if s["client_alias"]["port"] == target.port]
    alb_idle = stage.one("aws_lb")["idle_timeout"]
    assert server["timeout"]["per_request_timeout_seconds"] >= alb_idle
    # and the proxy, the ALB's backend, keeps idle connections longer than the ALB (AWS: else a 502)
    assert server["timeout"]["idle_timeout_seconds"] > alb_idle
