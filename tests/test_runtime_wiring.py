"""Env files written fresh (tests/fixtures/envs/, README there) run as wired: timeouts derived from who calls
whom, loop sidecars and cron counts, data shared on one volume. Checked on the synthesized JSON by behaviour
(what a request, a schedule or a reader meets at runtime), or on the refusal a user sees."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import ROOT, run_main_in_process

FIXTURES = ROOT / "tests" / "fixtures" / "envs"
CPU_LLM = FIXTURES / "ap-southeast-2-cpu-llm.yaml"
SCALED_LOOP = FIXTURES / "eu-central-1-scaled-loop-sidecar.yaml"

TERRAFORM_VALIDATE = {"test_the_cpu_llm_env_is_valid_terraform": [lambda synths: synths.of_file(CPU_LLM)]}


@pytest.fixture(scope="module")
def cpu_llm(synths):
    return synths.of_file(CPU_LLM)


def _service(stack, name: str) -> dict:
    found = [s for s in stack.resources("aws_ecs_service").values() if s["name"].endswith(f"-{name}")]
    assert len(found) == 1, name
    return found[0]


def _timeouts(stack, name: str) -> dict[int, dict]:
    """{port: the Service Connect timeout block AWS applies to calls to it ({} = AWS's 15 s / 300 s)}."""
    return {entry["client_alias"]["port"]: entry.get("timeout", {})
            for entry in _service(stack, name)["service_connect_configuration"]["service"]}


def _containers(stack, owner: str) -> dict[str, dict]:
    found = [t for t in stack.resources("aws_ecs_task_definition").values() if t["family"].endswith(f"-{owner}")]
    assert len(found) == 1, owner
    return {c["name"]: c for c in json.loads(found[0]["container_definitions"])}


def _task_volumes(stack, owner: str) -> dict[str, str]:
    """{task volume name: the access point it mounts through}."""
    found = [t for t in stack.resources("aws_ecs_task_definition").values() if t["family"].endswith(f"-{owner}")]
    return {v["name"]: v["efs_volume_configuration"]["authorization_config"]["access_point_id"]
            for v in found[0].get("volume", []) if "efs_volume_configuration" in v}


def test_the_cpu_llm_env_is_valid_terraform(cpu_llm, terraform_validation):
    result = terraform_validation.of(cpu_llm)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)


def test_an_llm_answer_outlasts_every_hop_on_its_way(cpu_llm):
    """No GPU and no timeout in the file: ollama on CPU is still an inference server. A request waits on it
    longer than Service Connect's 15 s default, the api (its caller) lets its own requests wait as long, the
    ALB in front of the api as long again, and every backend the ALB reaches keeps idle connections longer
    than the ALB does (AWS: else a 502 on a connection the target just closed)."""
    llm = _timeouts(cpu_llm, "llm")[11434]
    assert llm["per_request_timeout_seconds"] > 15 * 10  # minutes, not AWS's 15 s
    assert llm["idle_timeout_seconds"] >= llm["per_request_timeout_seconds"]
    api = _timeouts(cpu_llm, "api")[8000]
    assert api["per_request_timeout_seconds"] >= llm["per_request_timeout_seconds"]
    alb_idle = cpu_llm.one("aws_lb")["idle_timeout"]
    assert 1 <= alb_idle <= 4000 and alb_idle >= api["per_request_timeout_seconds"]
    assert api["idle_timeout_seconds"] > alb_idle
    keep_alive = dict((e["name"], e["value"]) for e in _containers(cpu_llm, "api")["api"]["environment"])
    assert int(keep_alive["UVICORN_TIMEOUT_KEEP_ALIVE"]) > alb_idle
    # Grafana is exposed through the ALB too: its port keeps connections longer than the ALB as well
    assert _timeouts(cpu_llm, "grafana")[3000]["idle_timeout_seconds"] > alb_idle


def test_grafanas_queries_wait_as_long_as_grafana_does(cpu_llm):
    """Prometheus and Tempo answer Grafana's datasource queries, which Grafana gives up on after its own data
    proxy timeout (30 s): past Service Connect's 15 s, and Grafana's own port waits as long, not longer."""
    for name, port in (("prometheus", 9090), ("tempo", 3200), ("grafana", 3000)):
        assert _timeouts(cpu_llm, name)[port]["per_request_timeout_seconds"] == 30, name
    assert "idle_timeout_seconds" not in _timeouts(cpu_llm, "prometheus")[9090]  # AWS's 300 s covers 30 s


def test_the_index_the_job_writes_is_the_one_the_api_reads(cpu_llm):
    """indexer writes INDEX_FILE and the api reads it: both tasks mount the same access point at the path
    the parameter points into (the api read-only), and both run as the volume's owner."""
    index = yaml.safe_load(CPU_LLM.read_text())["parameters"]["INDEX_FILE"]
    writer, reader = _containers(cpu_llm, "indexer")["indexer"], _containers(cpu_llm, "api")["api"]
    assert _task_volumes(cpu_llm, "indexer")["search-index"] == _task_volumes(cpu_llm, "api")["search-index"]
    for container, read_only in ((writer, False), (reader, True)):
        (mount,) = [m for m in container["mountPoints"] if m["sourceVolume"] == "search-index"]
        assert index.startswith(mount["containerPath"] + "/") and mount["readOnly"] is read_only
        assert container["user"] == "1000:1000"
    point = cpu_llm.resources("aws_efs_access_point")
    (owner,) = [p["posix_user"] for p in point.values() if p["root_directory"]["path"] == "/search-index"]
    assert (owner["uid"], owner["gid"]) == (1000, 1000)


def test_each_periodic_job_runs_once_per_interval(cpu_llm):
    """The scheduled task: one schedule starting one task; the loop sidecar sits in a service that never runs a
    second task (no autoscaling, desired 1): one copy of the loop."""
    schedules = cpu_llm.resources("aws_scheduler_schedule")
    assert [s["target"]["ecs_parameters"]["task_count"] for s in schedules.values()] == [1]
    assert "keep-warm" in _containers(cpu_llm, "llm")
    assert _service(cpu_llm, "llm")["desired_count"] == 1
    assert not [t for t in cpu_llm.resources("aws_appautoscaling_target").values() if "-llm" in t["resource_id"]]


def test_a_scaled_api_with_loop_sidecars_is_refused_with_every_problem():
    """The compose shape carried to ECS: a cron loop as a sidecar of an api scaled 2-6, and the api given the
    RAG index path without the volume the job writes it on. Both problems at once, each naming its field."""
    proc = run_main_in_process("--env-file", str(SCALED_LOOP), "describe")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any(": services.quality-cron.kind: " in line and "runs up to 6 tasks" in line
               and "kind: scheduled" in line for line in lines), lines
    assert any(": services.api.parameters.RAG_INDEX_PATH: " in line and "'rag:/data/rag'" in line
               for line in lines), lines
    assert "Traceback" not in proc.stderr
