"""modules/container.py: container definitions from the env file, checked without a synth.

The ECS API shape is checked with botocore's own model of RegisterTaskDefinition (the request ECS
receives), so a misspelt key or a wrong type fails here rather than at `terraform apply`.
"""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

from conftest import ROOT, variant
from test_workload import crons_as_sidecars
from modules import container as c
from modules.config import EnvConfig, load

DEV_EU_FILE = ROOT / "envs" / "dev-eu.yaml"


def _inputs(cfg: EnvConfig, name: str) -> c.ContainerInputs:
    """Inputs as the Workload construct builds them, with plausible literal ARNs instead of tokens."""
    svc = cfg.services[name]
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf"
    return c.ContainerInputs(
        image=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}:0123456789ab",
        log_group=f"/ecs/{cfg.name}/{name}",
        region=cfg.region,
        secrets={env: arn for env in [*svc.parameters, *svc.secrets]},
        depends_on=c.in_task_dependencies(cfg, name),
        volume_names={m.volume: m.volume for m in svc.volumes},
        tmp_volume=f"{name}-tmp" if svc.read_only_root else None,
    )


def _task(cfg: EnvConfig, owner: str) -> list[dict]:
    return [c.container_definition(n, s, _inputs(cfg, n)) for n, s in cfg.containers_of(owner).items()]


@pytest.fixture(scope="module")
def sidecar_cfg() -> EnvConfig:
    return EnvConfig.model_validate(variant(crons_as_sidecars))


@pytest.fixture(scope="module")
def ecs_validator():
    model = botocore.session.get_session().get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape, ParamValidator()


@pytest.mark.parametrize("env_file", [ROOT / "envs" / "stage.yaml", DEV_EU_FILE], ids=["stage", "dev-eu"])
def test_every_task_matches_the_ecs_api(env_file: Path, ecs_validator):
    cfg = load(env_file)
    shape, validator = ecs_validator
    for owner in cfg.task_owners():
        definitions = json.loads(c.render(_task(cfg, owner)))
        cpu, memory = c.task_size(cfg.containers_of(owner))
        request = {"family": owner, "containerDefinitions": definitions, "cpu": str(cpu), "memory": str(memory),
                   "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"]}
        report = validator.validate(request, shape)
        assert not report.has_errors(), f"{owner}: {report.generate_report()}"


def test_render_is_sorted_and_stable(stage_cfg):
    defs = _task(stage_cfg, "api")
    text = c.render(defs)
    reordered = [dict(reversed(list(d.items()))) for d in defs]  # same content, other insertion order
    assert c.render(reordered) == text
    first = json.loads(text)[0]
    assert list(first) == sorted(first)  # keys sorted: byte-identical synths
    assert [e["name"] for e in first["secrets"]] == sorted(e["name"] for e in first["secrets"])


def test_env_file_literals_cannot_become_terraform_interpolations():
    def mutate(data):
        data["services"]["grafana"]["environment"]["GF_PATHS_DATA"] = "${HOME}/data %{if}"
        data["services"]["grafana"]["health_check"] = 'test -n "${GF_PATHS_DATA}"'

    cfg = EnvConfig.model_validate(variant(mutate))
    text = c.render(_task(cfg, "grafana"))
    grafana = json.loads(text)[0]
    env = {e["name"]: e["value"] for e in grafana["environment"]}
    assert env["GF_PATHS_DATA"] == "$${HOME}/data %%{if}"  # Terraform renders it back to ${HOME}/data %{if}
    assert grafana["healthCheck"]["command"] == ["CMD-SHELL", 'test -n "$${GF_PATHS_DATA}"']
    assert "${HOME}" not in text.replace("$${", "")


def test_dependencies_inside_a_task_wait_for_health(stage_cfg, sidecar_cfg):
    assert c.in_task_dependencies(stage_cfg, "ollama-init") == {"ollama": "HEALTHY"}
    assert c.in_task_dependencies(sidecar_cfg, "quality-cron") == {"api": "HEALTHY"}
    assert c.in_task_dependencies(sidecar_cfg, "rag-refresh-cron") == {"api": "HEALTHY"}
    assert c.in_task_dependencies(stage_cfg, "quality-cron") == {}  # scheduled: its own task
    # across tasks ECS cannot order start-up: api's and grafana's depends_on produce no dependsOn
    assert stage_cfg.services["api"].depends_on and c.in_task_dependencies(stage_cfg, "api") == {}
    assert c.in_task_dependencies(stage_cfg, "grafana") == {}


def test_dependency_conditions_follow_the_target():
    def mutate(data):
        data["services"]["ollama"].pop("health_check")  # no health check: only START can be awaited
        data["services"]["probe"] = {"kind": "sidecar", "sidecar_of": "ollama", "image": "busybox:1.36",
                                     "cpu": 0, "memory": 16, "depends_on": ["ollama-init"]}

    cfg = EnvConfig.model_validate(variant(mutate))
    assert c.in_task_dependencies(cfg, "ollama-init") == {"ollama": "START"}
    assert c.in_task_dependencies(cfg, "probe") == {"ollama-init": "SUCCESS"}  # an init container must finish


def test_sidecars_and_inits_are_not_essential(stage_cfg, sidecar_cfg):
    by_name = {d["name"]: d for d in _task(sidecar_cfg, "api") + _task(stage_cfg, "ollama")}
    assert by_name["api"]["essential"] and by_name["ollama"]["essential"]
    for sidecar in ("quality-cron", "rag-refresh-cron"):
        assert by_name[sidecar]["essential"] is False
        # a crashed loop restarts in place, but only after it ran restartAttemptPeriod seconds (ECS)
        assert by_name[sidecar]["restartPolicy"]["enabled"] is True
        assert by_name[sidecar]["dependsOn"] == [{"containerName": "api", "condition": "HEALTHY"}]
    init = by_name["ollama-init"]
    assert init["essential"] is False and "restartPolicy" not in init  # runs once per task start


def test_hardening_of_every_container(stage_cfg):
    for owner in stage_cfg.task_owners():
        for d in _task(stage_cfg, owner):
            assert d["privileged"] is False
            assert d["linuxParameters"] == {"initProcessEnabled": True}
            assert d["logConfiguration"]["logDriver"] == "awslogs"
            svc = stage_cfg.services[d["name"]]
            assert d.get("user") == svc.user
            assert d["readonlyRootFilesystem"] is svc.read_only_root


def test_read_only_root_gets_a_writable_tmp(stage_cfg):
    prometheus = _task(stage_cfg, "prometheus")[0]
    assert prometheus["readonlyRootFilesystem"] is True
    assert {"sourceVolume": "prometheus-tmp", "containerPath": "/tmp", "readOnly": False} in prometheus["mountPoints"]
    assert {"sourceVolume": "prometheus-data", "containerPath": "/prometheus", "readOnly": False} in prometheus[
        "mountPoints"]
    svc = stage_cfg.services["prometheus"]
    inputs = _inputs(stage_cfg, "prometheus")
    with pytest.raises(ValueError, match="read-only root filesystem but no tmp volume"):
        c.container_definition("prometheus", svc, c.ContainerInputs(**{**inputs.__dict__, "tmp_volume": None}))


def test_gpu_only_where_requested(stage_cfg):
    for owner in stage_cfg.task_owners():
        for d in _task(stage_cfg, owner):
            gpus = stage_cfg.services[d["name"]].gpu
            assert d.get("resourceRequirements", []) == ([{"type": "GPU", "value": str(gpus)}] if gpus else [])
    assert [n for n, s in stage_cfg.services.items() if s.gpu] == ["ollama"]


def test_port_names_and_protocols(stage_cfg):
    tempo = {p["containerPort"]: p for p in _task(stage_cfg, "tempo")[0]["portMappings"]}
    assert tempo[3200]["name"] == "tempo-http" and tempo[3200]["appProtocol"] == "http"
    assert tempo[4317]["appProtocol"] == "grpc"
    api = _task(stage_cfg, "api")[0]["portMappings"]
    assert api == [{"name": "api-8000", "containerPort": 8000, "hostPort": 8000, "protocol": "tcp",
                    "appProtocol": "http"}]


def test_task_size_is_the_sum_of_its_containers(stage_cfg, sidecar_cfg):
    # api 1 vCPU/2048 + two crons of 0.25 vCPU/512 (seed §6) as sidecars; stage schedules the crons
    assert c.task_size(sidecar_cfg.containers_of("api")) == (1024 + 256 + 256, 2048 + 512 + 512)
    assert c.task_size(stage_cfg.containers_of("api")) == (1024, 2048)
    assert c.task_size(stage_cfg.containers_of("quality-cron")) == (256, 512)
    assert c.task_size(stage_cfg.containers_of("ollama")) == (4096, 12288 + 256)
