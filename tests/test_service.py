"""modules/service.py: every seed service as an ECS workload (or ElastiCache), reachable by its compose name.

Expected values come from the requirements document (seed §2 inventory, §5 start order, §6 sizing);
each row below quotes what it checks. The stage stack is synthesized once per session.
"""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import ROOT, run_main, terraform_validate, variant

DEV_EU_FILE = ROOT / "envs" / "dev-eu.yaml"

# Seed §2 variables (plus the external .env keys of stage's api-env secret and REDIS_URL from the
# ElastiCache that replaces compose's redis); §6 sizing; kind/placement from the mapping.
# (service, kind, task owner, vCPU (§6), memory MiB range (§6), ports (§2), variables (§2), GPUs)
SEED_SERVICES = [
    ("api", "service", "api", 1, (2048, 2048), [8000],
     ["EXECUTOR_MODE", "PROMETHEUS_URL", "GRAFANA_URL", "QUALITY_OPS_TOKEN", "RAG_INDEX_PATH", "OLLAMA_BASE_URL",
      "OLLAMA_URL", "DATABASE_URL", "OPENAI_API_KEY", "REDIS_URL"], 0),
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
    ("quality-cron", "sidecar", "api", 0.25, (512, 512), [],
     ["QUALITY_OPS_TOKEN", "QUALITY_SAMPLES_GLOB", "QUALITY_PUSH_SLEEP", "QUALITY_AUTH_BEARER", "QUALITY_TOKEN_HEADER",
      "QUALITY_REPORT_WAIT_MAX", "QUALITY_REPORT_WAIT_SLEEP", "QUALITY_API_URL", "QUALITY_CRON_INTERVAL", "TZ",
      "REDIS_URL"], 0),
    ("rag-refresh-cron", "sidecar", "api", 0.25, (512, 512), [], ["QUALITY_OPS_TOKEN", "TZ", "REDIS_URL"], 0),
]
# Compose names and ports other containers use (seed §3.4 datasources, §2 ports).
COMPOSE_ALIASES = {("api", 8000), ("prometheus", 9090), ("grafana", 3000), ("tempo", 3200), ("tempo", 4317),
                   ("tempo", 4318), ("ollama", 11434), ("otel-collector", 4317), ("otel-collector", 4318),
                   ("otel-collector", 8888)}


def scheduled_without_volumes(data: dict) -> None:
    """Another shape of env file: rag-indexer on a schedule, no persistent volumes, a KMS key for secrets,
    Grafana behind the ALB for a VPN range."""
    data["services"]["rag-indexer"].update(kind="scheduled", schedule="cron(0 3 * * ? *)",
                                           schedule_timezone="America/Sao_Paulo")
    data["secrets_kms"] = True
    data["alb"]["grafana"] = {"exposure": "vpn", "host": "grafana.example.com", "allowed_cidrs": ["203.0.113.0/24"]}
    data.pop("volumes")
    for svc in data["services"].values():
        svc.pop("volumes", None)


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


def test_eleven_seed_services_and_nothing_else(stage):
    assert set(containers(stage)) == {row[0] for row in SEED_SERVICES}
    assert set(task_definitions(stage)) == {"api", "ollama", "rag-indexer", "prometheus", "grafana", "tempo",
                                            "otel-collector"}
    # a job is a task definition only: no ECS service keeps it running
    assert "rag-indexer" not in ecs_services(stage)


# ---------------------------------------------------------------- reachability
def test_service_connect_aliases_are_the_compose_names(stage):
    namespace = stage.one("aws_service_discovery_http_namespace")
    assert namespace["name"] == "araquem-stage.local"
    aliases = set()
    for name, service in ecs_services(stage).items():
        sc = service["service_connect_configuration"]
        assert sc["enabled"] is True and "aws_service_discovery_http_namespace" in sc["namespace"]  # every one a client
        for server in sc.get("service", []):
            aliases.add((server["client_alias"]["dns_name"], server["client_alias"]["port"]))
            assert server["port_name"] == server["discovery_name"]
    assert aliases == COMPOSE_ALIASES
    # the port names the services publish exist in their task definitions
    for owner, td in task_definitions(stage).items():
        names = {p["name"] for d in json.loads(td["container_definitions"]) for p in d.get("portMappings", [])}
        if owner in ecs_services(stage):
            published = {s["port_name"] for s in ecs_services(stage)[owner]["service_connect_configuration"].get(
                "service", [])}
            assert published == names


def test_jobs_reach_ollama_through_dns(stage):
    """A run-task'd job is outside Service Connect: ollama is also a Cloud Map DNS name."""
    dns = stage.one("aws_service_discovery_private_dns_namespace")
    assert dns["name"] == "araquem-stage.internal"
    discovery = stage.one("aws_service_discovery_service")
    assert discovery["name"] == "ollama" and discovery["dns_config"]["dns_records"][0]["type"] == "A"
    assert "aws_service_discovery_service" in ecs_services(stage)["ollama"]["service_registries"]["registry_arn"]
    secrets = {s["name"]: s["valueFrom"] for s in containers(stage)["rag-indexer"][1]["secrets"]}
    parameter = next(p for k, p in stage.resources("aws_ssm_parameter").items() if k in secrets["OLLAMA_BASE_URL"])
    assert parameter["insecure_value"] == "http://ollama.araquem-stage.internal:11434"
    command = stage.json["output"]["rag_indexer_run_task_command"]["value"]
    assert command.startswith("aws ecs run-task ") and "--task-definition araquem-stage-rag-indexer" in command
    assert "assignPublicIp=DISABLED" in command


# ---------------------------------------------------------------- start order, health, deployment
def test_depends_on_conditions(stage):
    found = containers(stage)
    assert found["ollama-init"][1]["dependsOn"] == [{"containerName": "ollama", "condition": "HEALTHY"}]
    for cron in ("quality-cron", "rag-refresh-cron"):
        definition = found[cron][1]
        assert definition["dependsOn"] == [{"containerName": "api", "condition": "HEALTHY"}]
        assert definition["essential"] is False and definition["restartPolicy"]["enabled"] is True
    assert "healthCheck" in found["api"][1] and "healthCheck" in found["ollama"][1]
    # across tasks there is no dependsOn (ECS cannot order services; README "Workloads")
    assert "dependsOn" not in found["otel-collector"][1] and "dependsOn" not in found["api"][1]


def test_api_behind_the_alb_with_rollback_and_autoscaling(stage, stage_cfg):
    api = ecs_services(stage)["api"]
    assert api["load_balancer"] == [{"container_name": "api", "container_port": 8000,
                                     "target_group_arn": api["load_balancer"][0]["target_group_arn"]}]
    assert "aws_lb_target_group" in api["load_balancer"][0]["target_group_arn"]
    assert any("aws_lb_listener" in d for d in api["depends_on"])
    assert api["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert api["lifecycle"]["ignore_changes"] == ["desired_count"]
    scaling = stage_cfg.services["api"].scaling
    target = stage.one("aws_appautoscaling_target")
    assert (target["min_capacity"], target["max_capacity"]) == (scaling.min, scaling.max)
    policy = stage.one("aws_appautoscaling_policy")["target_tracking_scaling_policy_configuration"]
    assert policy["target_value"] == scaling.cpu_target
    assert policy["predefined_metric_specification"]["predefined_metric_type"] == "ECSServiceAverageCPUUtilization"


def test_every_service_rolls_back_and_stateful_ones_replace(stage):
    for name, service in ecs_services(stage).items():
        assert service["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
        assert service["network_configuration"]["assign_public_ip"] is False
        assert service["enable_execute_command"] is False
        stateful = name in ("ollama", "prometheus", "grafana", "tempo")  # write an EFS volume or hold the GPU
        expected = (0, 100) if stateful else (100, 200)
        assert (service["deployment_minimum_healthy_percent"], service["deployment_maximum_percent"]) == expected


def test_task_definitions_are_awsvpc_ec2_and_sized_by_their_containers(stage):
    for owner, td in task_definitions(stage).items():
        defs = json.loads(td["container_definitions"])
        assert td["network_mode"] == "awsvpc" and td["requires_compatibilities"] == ["EC2"]
        assert int(td["cpu"]) == sum(d["cpu"] for d in defs)
        assert int(td["memory"]) == sum(d["memory"] for d in defs)
        for d in defs:
            assert d["privileged"] is False and d["linuxParameters"]["initProcessEnabled"] is True


# ---------------------------------------------------------------- logs and volumes
def test_one_log_group_per_container_with_retention(stage, stage_cfg):
    groups = {g["name"]: g for g in stage.resources("aws_cloudwatch_log_group").values()
              if g["name"].startswith("/ecs/araquem-stage/")}
    assert set(groups) == {f"/ecs/araquem-stage/{name}" for name in containers(stage)}
    assert {g["retention_in_days"] for g in groups.values()} == {stage_cfg.logs.retention_days}
    for name, (_, definition) in containers(stage).items():
        options = definition["logConfiguration"]["options"]
        assert f"log_group_{name}_" in options["awslogs-group"] and options["awslogs-region"] == "us-east-1"


def test_task_volumes_use_tls_and_iam_with_their_own_access_point(stage):
    expected = {"ollama": ["ollama"], "prometheus": ["prometheus-data"], "grafana": ["grafana"],
                "tempo": ["tempo-data"]}
    for owner, td in task_definitions(stage).items():
        efs = [v for v in td.get("volume", []) if "efs_volume_configuration" in v]
        scratch = [v for v in td.get("volume", []) if "efs_volume_configuration" not in v]
        read_only = [d["name"] for d in json.loads(td["container_definitions"]) if d["readonlyRootFilesystem"]]
        assert [v["name"] for v in scratch] == [f"{name}-tmp" for name in read_only]
        assert all(v["docker_volume_configuration"] == {"scope": "task", "driver": "local"} for v in scratch)
        assert [v["name"] for v in efs] == expected.get(owner, [])
        for volume in efs:
            config = volume["efs_volume_configuration"]
            assert config["transit_encryption"] == "ENABLED" and config["authorization_config"]["iam"] == "ENABLED"
            assert f"access_point_{volume['name']}_" in config["authorization_config"]["access_point_id"]
            statements = policy_statements(stage, owner, "task_policy_document")
            assert [s["condition"][0]["values"] for s in statements] == [
                [config["authorization_config"]["access_point_id"].replace(".id}", ".arn}")]]
            root = "elasticfilesystem:ClientRootAccess" in statements[0]["actions"]
            assert root == (owner == "ollama")  # only ollama's image runs as root


# ---------------------------------------------------------------- least privilege
def test_execution_roles_read_exactly_the_referenced_secrets(stage):
    for owner, td in task_definitions(stage).items():
        referenced = set()
        for d in json.loads(td["container_definitions"]):
            for s in d.get("secrets", []):
                referenced.add(s["valueFrom"].split("}")[0] + "}")  # the resource, without a :KEY:: suffix
        statements = {s["sid"]: s for s in policy_statements(stage, owner, "execution_policy_document")}
        granted = set()
        for sid in ("ReadOwnSecrets", "ReadOwnParameters"):
            if sid in statements:
                resources = statements[sid]["resources"]
                assert not any("*" in r for r in resources), f"{owner}: wildcard in {sid}"
                granted.update(resources)
        assert granted == referenced, owner
        for s in statements.values():
            if s["resources"] == ["*"]:
                assert s["actions"] == ["ecr:GetAuthorizationToken"]  # the one action without resource ARNs
        logs = statements["WriteOwnLogGroups"]["resources"]
        assert len(logs) == len(json.loads(td["container_definitions"]))
        assert all(f"workload_{owner}_log_group_" in r and r.endswith(":*") for r in logs)


def test_task_roles_are_assumed_by_this_account_only(stage):
    for owner in task_definitions(stage):
        trust = policy_statements(stage, owner, "task_trust")
        assert trust[0]["principals"] == [{"identifiers": ["ecs-tasks.amazonaws.com"], "type": "Service"}]
        assert trust[0]["condition"][0]["variable"] == "aws:SourceAccount"


# ---------------------------------------------------------------- other env files
def test_scheduled_job_and_an_env_without_volumes(synths, terraform_env, tmp_path):
    other = synths.of_data(variant(scheduled_without_volumes))
    schedule = other.one("aws_scheduler_schedule")
    assert schedule["schedule_expression"] == "cron(0 3 * * ? *)"
    assert schedule["schedule_expression_timezone"] == "America/Sao_Paulo"  # the seed's TZ, not UTC
    ecs = schedule["target"]["ecs_parameters"]
    assert "rag-indexer" in ecs["task_definition_arn"] and ecs["network_configuration"]["assign_public_ip"] is False
    run = policy_statements(other, "rag-indexer", "scheduler_policy_document")
    assert {s["sid"]: s["actions"] for s in run} == {
        "RunOwnTask": ["ecs:RunTask"], "PassOwnRoles": ["iam:PassRole"], "TagOwnTasks": ["ecs:TagResource"]}
    assert not other.resources("aws_efs_file_system")
    assert not [v for td in task_definitions(other).values() for v in td.get("volume", [])
                if "efs_volume_configuration" in v]
    result = json.loads(terraform_validate(other, terraform_env, tmp_path / "validate").stdout)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)


def test_dev_eu_passes_terraform_validate(synths, terraform_env, tmp_path):
    dev = synths.of_file(DEV_EU_FILE)
    assert "resourceRequirements" not in json.dumps([json.loads(td["container_definitions"])
                                                     for td in task_definitions(dev).values()])  # no GPU there
    result = json.loads(terraform_validate(dev, terraform_env, tmp_path / "validate").stdout)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)


@pytest.mark.parametrize("mutate, field, words", [
    (lambda d: d["services"]["api"].setdefault("environment", {}).update(OPENAI_API_KEY="x"),
     "services.api", ["OPENAI_API_KEY", "own", "secrets_from api-env"]),
    (lambda d: d["services"]["quality-cron"]["environment"].update(REDIS_URL="redis://localhost"),
     "services.quality-cron", ["REDIS_URL", "cache.url_variable"]),
], ids=["env-vs-secrets_from", "env-vs-cache-url"])
def test_a_variable_injected_twice_is_a_clear_error(tmp_path, mutate, field, words):
    line = bad_input_line(tmp_path, mutate, field)
    assert all(w in line for w in words), line


def test_port_names_must_be_unique_in_the_namespace(tmp_path):
    def mutate(data):
        data["services"]["otel-collector"]["ports"][0]["name"] = "tempo-http"  # tempo's 3200 already has it

    line = bad_input_line(tmp_path, mutate, "services.otel-collector.ports[0].name")
    assert "port name 'tempo-http' is already used by 'tempo'" in line


@pytest.mark.parametrize("mutate, field, words", [
    (lambda d: d["services"]["rag-indexer"].update(parameters=["OLLAMA_BASE_URL"]),  # http://ollama:11434
     "services.rag-indexer.parameters.OLLAMA_BASE_URL", ["not in the Service Connect mesh",
                                                         "ollama.araquem-stage.internal"]),
    (lambda d: d["services"]["rag-indexer"].pop("depends_on"),
     "services.rag-indexer.parameters.OLLAMA_BASE_URL", ["add 'ollama' to depends_on"]),
], ids=["short-name", "dns-name-without-depends_on"])
def test_a_job_cannot_use_service_connect_names(tmp_path, mutate, field, words):
    line = bad_input_line(tmp_path, mutate, field)
    assert all(w in line for w in words), line


def test_secret_arn_of_strips_the_json_key_selector():
    from modules.task_secrets import secret_arn_of

    arn = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:araquem/dev-eu/postgres-AbCdEf"
    assert secret_arn_of(f"{arn}:password::") == arn  # ECS valueFrom `<arn>:<key>:<stage>:<version>`
    assert secret_arn_of(arn) == arn
    token = "${TfToken[TOKEN.42]}"  # how cdktf hands a resource's ARN to Python
    assert secret_arn_of(f"{token}:REDIS_URL::") == token


def test_kms_decrypt_only_with_a_customer_managed_key(stage, synths):
    for owner in task_definitions(stage):  # stage: AWS-managed keys, nothing to grant
        assert "DecryptViaSecretStores" not in {s["sid"] for s in policy_statements(
            stage, owner, "execution_policy_document")}
    other = synths.of_data(variant(scheduled_without_volumes))
    statements = {s["sid"]: s for s in policy_statements(other, "api", "execution_policy_document")}
    decrypt = statements["DecryptViaSecretStores"]
    assert decrypt["actions"] == ["kms:Decrypt"] and all("aws_kms_key." in r for r in decrypt["resources"])
    assert decrypt["condition"][0]["variable"] == "kms:ViaService"
    assert sorted(decrypt["condition"][0]["values"]) == ["secretsmanager.us-east-1.amazonaws.com",
                                                         "ssm.us-east-1.amazonaws.com"]


def test_grafana_registers_with_its_target_group_when_exposed(stage, synths):
    assert "load_balancer" not in ecs_services(stage)["grafana"]  # stage: internal only
    other = synths.of_data(variant(scheduled_without_volumes))
    grafana = ecs_services(other)["grafana"]
    [attachment] = grafana["load_balancer"]
    assert (attachment["container_name"], attachment["container_port"]) == ("grafana", 3000)
    assert referenced(other, attachment["target_group_arn"])["port"] == 3000
    assert any("aws_lb_listener" in d for d in grafana["depends_on"])


def test_schedule_time_zone_must_exist(tmp_path):
    def mutate(data):
        data["services"]["rag-indexer"].update(kind="scheduled", schedule="rate(1 day)",
                                               schedule_timezone="America/Sao_Pualo")

    assert "'America/Sao_Pualo' is not an IANA time zone" in bad_input_line(tmp_path, mutate, "services.rag-indexer")
