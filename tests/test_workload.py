"""modules/workload.py: every seed service as an ECS workload (or ElastiCache), reachable by its compose name.

Expected values come from the requirements document (seed §2 inventory, §5 start order, §6 sizing);
each row below quotes what it checks. The stage stack is synthesized once per session.
The helpers over the synthesized JSON below are shared by the tests of the Workload's pieces
(test_task_roles, test_task_definition, test_ecs_service, test_schedule, test_namespaces, test_task_secrets).
"""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import ROOT, run_main, variant

DEV_EU_FILE = ROOT / "envs" / "dev-eu.yaml"
TERRAFORM_VALIDATE = {"test_dev_eu_passes_terraform_validate": [lambda synths: synths.of_file(DEV_EU_FILE)]}

# Seed §2 variables (plus the external .env keys of stage's api-env secret: no DATABASE_URL while the seed's
# Postgres is unconfirmed, stage.yaml's `database`; and REDIS_URL from the
# ElastiCache that replaces compose's redis); §6 sizing; kind/placement from the mapping.
# (service, kind, task owner, vCPU (§6), memory MiB range (§6), ports (§2), variables (§2), GPUs)
SEED_SERVICES = [
    ("api", "service", "api", 1, (2048, 2048), [8000],
     ["EXECUTOR_MODE", "PROMETHEUS_URL", "GRAFANA_URL", "QUALITY_OPS_TOKEN", "RAG_INDEX_PATH", "OLLAMA_BASE_URL",
      "OLLAMA_URL", "OPENAI_API_KEY", "REDIS_URL"], 0),
    # "controle de paralelismo, threads, cache e log"; 4-8 vCPU / 8-16 GB
    ("ollama", "service", "ollama", (4, 8), (8192, 16384), [11434],
     ["OLLAMA_NUM_PARALLEL", "OLLAMA_MAX_LOADED_MODELS", "OLLAMA_NUM_THREADS", "OLLAMA_KEEP_ALIVE", "OLLAMA_DEBUG"], 1),
    ("ollama-init", "init", "ollama", None, None, [], ["OLLAMA_HOST", "OLLAMA_MODELS", "SIRIOS_MODEFILE"], 0),
    ("rag-indexer", "job", "rag-indexer", 1, (2048, 2048), [],
     ["OLLAMA_BASE_URL", "TZ", "OLLAMA_EMBED_MODEL", "EMBED_BATCH_SIZE"], 0),
    ("prometheus", "service", "prometheus", 1, (2048, 4096), [9090], [], 0),
    # "autenticação anônima habilitada"
    ("grafana", "service", "grafana", 1, (2048, 2048), [3000], ["GF_AUTH_ANONYMOUS_ENABLED"], 0),
    ("tempo", "service", "tempo", 1, (2048, 2048), [3200, 4317, 4318], [], 0),
    ("otel-collector", "service", "otel-collector", 0.5, (512, 1024), [4317, 4318, 8888], [], 0),
    # compose ran the crons next to the api (network_mode service:api); here each runs once per interval
    # as its own scheduled task (issue 16), so they no longer share the api task's Redis access
    ("quality-cron", "scheduled", "quality-cron", 0.25, (512, 512), [],
     ["QUALITY_OPS_TOKEN", "QUALITY_SAMPLES_GLOB", "QUALITY_PUSH_SLEEP", "QUALITY_AUTH_BEARER", "QUALITY_TOKEN_HEADER",
      "QUALITY_REPORT_WAIT_MAX", "QUALITY_REPORT_WAIT_SLEEP", "QUALITY_API_URL", "QUALITY_CRON_INTERVAL", "TZ"], 0),
    ("rag-refresh-cron", "scheduled", "rag-refresh-cron", 0.25, (512, 512), [], ["QUALITY_OPS_TOKEN", "TZ"], 0),
]


def scheduled_without_volumes(data: dict) -> None:
    """Another shape of env file: rag-indexer on a schedule, no persistent volumes, a KMS key for secrets,
    Grafana behind the ALB for a VPN range."""
    data["services"]["rag-indexer"].update(kind="scheduled", schedule="cron(0 3 * * ? *)",
                                           schedule_timezone="America/Sao_Paulo")
    data["secrets_kms"] = True
    data["alb"]["grafana"] = {"exposure": "vpn", "allowed_cidrs": ["203.0.113.0/24"]}  # host: from alb.domain
    data.pop("volumes")
    for svc in data["services"].values():
        svc.pop("volumes", None)


def crons_as_sidecars(data: dict) -> None:
    """The crons as compose ran them: loops in the api's task (stage schedules them instead)."""
    for name in ("quality-cron", "rag-refresh-cron"):
        cron = data["services"][name]
        for key in ("kind", "schedule", "schedule_timezone", "parameters"):
            cron.pop(key, None)
        cron.update(kind="sidecar", sidecar_of="api")
        cron["environment"].update({"QUALITY_API_URL" if name == "quality-cron" else "RAG_API_URL":
                                    "http://localhost:8000", "CRON_CYCLES": "0"})
    data["services"]["api"]["allow_from"] = ["prometheus", "grafana"]
    # a loop sidecar runs once per task of its host: refused unless the api stays at one task
    data["services"]["api"].pop("scaling", None)
    data["services"]["api"]["desired_count"] = 1


# ---------------------------------------------------------------- helpers over the synthesized JSON
def task_definitions(stack) -> dict[str, dict]:
    """family suffix (task owner) -> task definition resource."""
    return {td["family"].removeprefix("araquem-stage-").removeprefix("araquem-dev-eu-"): td
            for td in stack.resources("aws_ecs_task_definition").values()}


def containers(stack) -> dict[str, tuple[str, dict]]:
    """container name -> (task owner, parsed container definition)."""
    out = {}
    for owner, td in task_definitions(stack).items():
        for definition in json.loads(td["container_definitions"]):
            out[definition["name"]] = (owner, definition)
    return out


def ecs_services(stack) -> dict[str, dict]:
    return {s["name"].removeprefix("araquem-stage-"): s for s in stack.resources("aws_ecs_service").values()}


def policy_statements(stack, workload: str, document: str) -> list[dict]:
    suffix = f"/workload_{workload}/{document}"
    found = [v for v in stack.data("aws_iam_policy_document").values()
             if v["//"]["metadata"]["path"].endswith(suffix)]
    assert len(found) == 1, suffix
    return found[0]["statement"]


def bad_input_line(tmp_path, mutate, field: str) -> str:
    """Synth an env file changed by `mutate`: exit 2, no traceback; the error line naming `field`."""
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(variant(mutate), sort_keys=False))
    proc = run_main("--env-file", str(path), "synth", "--outdir", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    return next(line for line in proc.stderr.splitlines() if f": {field}: " in line)


def referenced(stack, expression: str) -> dict:
    """The resource a `${type.key.attribute}` reference points at."""
    rtype, key, _ = expression.removeprefix("${").removesuffix("}").split(".", 2)
    return stack.resources(rtype)[key]


# ---------------------------------------------------------------- the seed inventory
@pytest.mark.parametrize("row", SEED_SERVICES, ids=[r[0] for r in SEED_SERVICES])
def test_seed_service(stage, stage_cfg, row):
    name, kind, owner, vcpu, memory, ports, variables, gpus = row
    found = containers(stage)
    assert name in found, f"{name} is not a container of any task definition"
    task_owner, definition = found[name]
    assert task_owner == owner
    assert stage_cfg.services[name].kind.value == kind
    if vcpu is not None:
        low, high = vcpu if isinstance(vcpu, tuple) else (vcpu, vcpu)
        assert low * 1024 <= definition["cpu"] <= high * 1024
        assert memory[0] <= definition["memory"] <= memory[1]
    assert sorted(p["containerPort"] for p in definition.get("portMappings", [])) == ports
    delivered = {e["name"] for e in definition.get("environment", [])} | {
        s["name"] for s in definition.get("secrets", [])}
    assert not set(variables) - delivered, f"{name} misses {sorted(set(variables) - delivered)}"
    requirements = definition.get("resourceRequirements", [])
    assert requirements == ([{"type": "GPU", "value": str(gpus)}] if gpus else [])
    # placement: the task runs on the GPU capacity provider only when it holds a GPU container
    provider = stage_cfg.capacity_provider_of(name)
    assert provider == ("gpu" if owner == "ollama" else "general")
    if kind == "service":
        strategy = ecs_services(stage)[owner]["capacity_provider_strategy"]
        assert len(strategy) == 1
        capacity_provider = referenced(stage, strategy[0]["capacity_provider"])
        assert capacity_provider["name"].endswith(f"-{provider}"), capacity_provider["name"]


def test_redis_is_elasticache_not_a_container(stage, stage_cfg):
    # compose's redis:7 becomes ElastiCache (seed §6: "ElastiCache t4g.micro"); clients get REDIS_URL
    assert "redis" not in containers(stage)
    group = stage.one("aws_elasticache_replication_group")
    assert group["port"] == 6379 and group["node_type"] == "cache.t4g.micro"
    for client in stage_cfg.cache.allow_from:
        secrets = {s["name"]: s["valueFrom"] for s in containers(stage)[client][1].get("secrets", [])}
        assert "aws_secretsmanager_secret" in secrets["REDIS_URL"]


def test_eleven_seed_services_and_nothing_else(stage, stage_cfg):
    # every seed service, and nothing the env file does not declare (it may add services of its own)
    assert set(containers(stage)) == set(stage_cfg.services) >= {row[0] for row in SEED_SERVICES}
    assert set(task_definitions(stage)) == set(stage_cfg.task_owners()) >= {
        "api", "ollama", "rag-indexer", "prometheus", "grafana", "tempo", "otel-collector", "quality-cron",
        "rag-refresh-cron"}
    # a job or scheduled task is a task definition only: no ECS service keeps it running
    assert not {"rag-indexer", "quality-cron", "rag-refresh-cron"} & set(ecs_services(stage))


def test_dev_eu_passes_terraform_validate(synths, terraform_validation):
    dev = synths.of_file(DEV_EU_FILE)
    assert "resourceRequirements" not in json.dumps([json.loads(td["container_definitions"])
                                                     for td in task_definitions(dev).values()])  # no GPU there
    result = terraform_validation.of(dev)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)
