"""modules/config/wiring.py and contracts.py: what the generator derives from the image contracts, on an env file
written for it (tests/fixtures/envs/cpu-sa-east.yaml), changed one way per test."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import ROOT
from modules.config import EnvConfig, rules
from modules.config.contracts import ContractError, all_contracts, contract_of, public_repository
from modules.config.rules import contracts as contract_rules
from modules.config.services import Image
from modules.config.wiring import dns_discovered
from modules.config.wiring import derived_environment
from modules.config.environment import environment_of

FRESH = yaml.safe_load((ROOT / "tests" / "fixtures" / "envs" / "cpu-sa-east.yaml").read_text())


def fresh(mutate=lambda data: None) -> EnvConfig:
    data = copy.deepcopy(FRESH)
    mutate(data)
    return EnvConfig.model_validate(data)


def derived(cfg: EnvConfig, name: str) -> dict[str, str]:
    return {var: d.value for var, d in derived_environment(cfg, name).items()}


def test_a_contract_is_found_by_image_whatever_the_service_or_build_is_called():
    by_folder = contract_of(Image(build="metrics-server", dockerfile="docker/prometheus/Dockerfile"))
    assert by_folder.source == "docker/prometheus/contract.yaml"
    assert contract_of(Image(build="api")).source == "docker/contracts/api.yaml"
    assert contract_of(Image(public="docker.io/ollama/ollama:0.4.0@sha256:" + "a" * 64)).image.public == "ollama/ollama"
    assert contract_of(Image(public="redis:7.2")) is None
    assert public_repository("index.docker.io/ollama/ollama:0.3.14") == "ollama/ollama"


def test_a_same_task_caller_gets_localhost_and_an_outside_caller_the_dns_name():
    def cron_as_sidecar(data):
        cron = data["services"]["nightly-quality"]
        del cron["schedule"]
        cron.update(kind="sidecar", sidecar_of="api")
        data["services"]["api"].pop("scaling", None)  # a loop sidecar runs in a one-task host only (rules/workloads.py)
        data["services"]["api"]["desired_count"] = 1
    assert derived(fresh(), "nightly-quality")["QUALITY_API_URL"] == "http://api.lab-sae.internal:8000"
    assert derived(fresh(cron_as_sidecar), "nightly-quality")["QUALITY_API_URL"] == "http://localhost:8000"


def test_service_connect_only_when_the_caller_is_created_after_the_callee():
    cfg = fresh()
    assert derived(cfg, "api")["PROMETHEUS_URL"] == "http://metrics.lab-sae.internal:9090"
    assert "metrics" in dns_discovered(cfg)
    after = fresh(lambda d: d["services"]["api"]["depends_on"].append("metrics"))
    assert derived(after, "api")["PROMETHEUS_URL"] == "http://metrics:9090"
    assert "metrics" not in dns_discovered(after), "reached through Service Connect only: no DNS record"


def test_an_explicit_value_wins_and_is_not_listed_as_derived():
    cfg = fresh(lambda d: d["services"]["metrics"].update(environment={"SCRAPE_DNS_NAMESPACE": "other.internal"}))
    assert "SCRAPE_DNS_NAMESPACE" not in derived_environment(cfg, "metrics")
    assert environment_of(cfg, "metrics")["SCRAPE_DNS_NAMESPACE"] == "other.internal"
    secret = fresh(lambda d: d["services"]["api"].update(secrets={"QUALITY_OPS_TOKEN": "OPS_TOKEN",
                                                                  "OTEL_EXPORTER_OTLP_ENDPOINT": "OPS_TOKEN"}))
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in environment_of(secret, "api")  # a secret sets it: not derived


def test_the_otlp_variables_need_a_collector_and_two_collectors_derive_no_endpoint():
    def no_collector(data):
        del data["services"]["otel-collector"]
        data["services"]["api"]["depends_on"] = []
        data["services"]["metrics"]["depends_on"] = ["tempo"]
        data["services"]["tempo"]["allow_from"] = ["metrics"]
        data["services"]["tempo"]["ports"] = [{"port": 3200, "allow_from": ["metrics"]}]
    assert not [v for v in derived(fresh(no_collector), "api") if v.startswith("OTEL_")]

    def two_collectors(data):
        data["services"]["otel-collector-b"] = copy.deepcopy(data["services"]["otel-collector"])
        for port in data["services"]["otel-collector-b"]["ports"]:
            port["name"] = f"b-{port['port']}"
    data = copy.deepcopy(FRESH)
    two_collectors(data)
    ambiguous = EnvConfig.model_validate(data, context={"skip_rules": {r.__name__ for r in rules.RULES}})
    found = derived(ambiguous, "api")
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in found, "two providers: the generator does not pick one"
    assert found["OTEL_SERVICE_NAME"] == "api"


def test_a_job_serves_nothing_so_nothing_is_derived_towards_it():
    def ollama_as_job(data):
        data["services"]["llm"].update(kind="job", allow_from=[])
        del data["services"]["llm-init"]
    data = copy.deepcopy(FRESH)
    ollama_as_job(data)
    cfg = EnvConfig.model_validate(data, context={"skip_rules": {r.__name__ for r in rules.RULES}})
    assert "OLLAMA_BASE_URL" not in derived(cfg, "api")
    problems = contract_rules.contract_required_variables_are_set(cfg)
    assert [(loc, msg) for loc, msg in problems if loc[:2] == ("services", "indexer")], problems
    assert "'llm' is a job, reachable by no name" in problems[0][1]


def test_a_broken_contract_is_a_repository_error_naming_the_file_and_field(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "contract.yaml").write_text("image: {build: img}\nenv:\n  X: {required: maybe}\n")
    with pytest.raises(ContractError, match=r"img/contract.yaml: env.X.required"):
        all_contracts.__wrapped__(tmp_path)


def test_a_checkout_without_contracts_fails_instead_of_deriving_nothing(tmp_path):
    with pytest.raises(ContractError, match="no image contracts"):
        all_contracts.__wrapped__(tmp_path)
