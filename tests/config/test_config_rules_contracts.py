"""modules/config/rules/contracts.py: image contracts satisfied (required variables set or derived, users, the
names baked configurations call); the refusals also on an env file written fresh for them."""

from __future__ import annotations

import pytest
import yaml

from config_mutations import all_of, case_id, check_rule_case, delete_path, set_path, unchanged
from conftest import ROOT, run_main_in_process
from modules.config.rules import contracts as R

FRESH = ROOT / "tests" / "fixtures" / "envs" / "cpu-sa-east.yaml"


def _rename(old: str, new: str):
    def mutate(data):
        data["services"][new] = data["services"].pop(old)
    return mutate


CASES = [
    (R.contract_required_variables_are_set, set_path("services.quality-cron.secrets", {}),
     "services.quality-cron.environment.QUALITY_OPS_TOKEN",
     ["image quality-cron (docker/quality-cron/contract.yaml) requires QUALITY_OPS_TOKEN", "cannot be derived",
      "the contract gives no way to derive it", "allowed: set it in services.quality-cron.environment"]),
    (R.contract_required_variables_are_set, all_of(delete_path("services.ollama"), delete_path("services.ollama-init")),
     "services.rag-indexer.environment.OLLAMA_BASE_URL",
     ["image rag-indexer (docker/contracts/rag-indexer.yaml) requires OLLAMA_BASE_URL",
      "endpoint 'ollama-api': no service of the env file provides it", "add a service providing 'ollama-api'"]),
    (R.contract_required_variables_are_set,  # no ollama here, but the env file says where one is: it wins
     all_of(delete_path("services.ollama"), delete_path("services.ollama-init"),
            set_path("services.rag-indexer.environment.OLLAMA_BASE_URL", "http://llm.example.internal:11434")),
     None, []),
    (R.contract_required_variables_are_set, unchanged, None, []),
    (R.contract_users_match, set_path("services.prometheus.user", "1000:1000"), "services.prometheus.user",
     ["'1000:1000' is not the user image prometheus (docker/prometheus/contract.yaml) runs as",
      "allowed: '65534:65534'"]),
    (R.contract_users_match, delete_path("services.prometheus.user"), None, []),
    (R.contract_users_match, unchanged, None, []),
    (R.baked_calls_resolve, _rename("tempo", "traces"), "services.traces",
     ["calls endpoint 'tempo-http' as 'tempo'", "is named 'traces'", "allowed: name it 'tempo'"]),
    (R.baked_calls_resolve, set_path("services.grafana.depends_on", ["tempo"]), "services.grafana.depends_on",
     ["image grafana (docker/grafana/contract.yaml) calls endpoint 'prometheus-http' as 'prometheus'",
      "is not created after 'prometheus'", "allowed: a service with 'prometheus' in depends_on"]),
    (R.baked_calls_resolve, set_path("services.api.allow_from", ["grafana"]), "services.api.allow_from",
     ["calls endpoint 'api-http' as 'api'", "does not let 'prometheus' in", "add 'prometheus'"]),
    (R.baked_calls_resolve, delete_path("services.tempo"), None, []),  # no provider: nothing to call
    (R.baked_calls_resolve, unchanged, None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)


def _fresh(tmp_path, mutate):
    data = yaml.safe_load(FRESH.read_text())
    mutate(data)
    path = tmp_path / "fresh.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_fresh_env_file_leaving_required_values_unset_is_refused_naming_service_and_variable(tmp_path):
    def mutate(data):
        data["services"]["nightly-quality"].pop("secrets")  # the cron's token
        del data["services"]["llm"], data["services"]["llm-init"]  # the indexer's ollama
    path = _fresh(tmp_path, mutate)
    proc = run_main_in_process("--env-file", str(path), "describe")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    for field, words in (("services.nightly-quality.environment.QUALITY_OPS_TOKEN", "requires QUALITY_OPS_TOKEN"),
                         ("services.indexer.environment.OLLAMA_BASE_URL", "requires OLLAMA_BASE_URL")):
        assert any(line.startswith(f"{path}: {field}: ") and words in line and "allowed:" in line
                   for line in lines), proc.stderr


def test_a_fresh_env_file_whose_derived_address_is_not_let_in_is_refused(tmp_path):
    """The api's derived PROMETHEUS_URL reaches `metrics`: an allow_from without the api is refused, saying
    the value was derived and how to override it."""
    path = _fresh(tmp_path, lambda d: d["services"]["metrics"].update(allow_from=[]))
    proc = run_main_in_process("--env-file", str(path), "describe")
    assert proc.returncode == 2, proc.stderr
    assert f"{path}: services.api.environment.PROMETHEUS_URL: 'http://metrics.lab-sae.internal:9090'" in proc.stderr
    assert "derived from docker/contracts/api.yaml; or set PROMETHEUS_URL yourself" in proc.stderr


def test_an_explicit_value_wins_over_the_derived_one(tmp_path):
    path = _fresh(tmp_path, lambda d: d["services"]["api"].update(
        environment={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318/custom"}))
    proc = run_main_in_process("--env-file", str(path), "describe")
    assert proc.returncode == 0, proc.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in proc.stdout.split("Derived from image contracts")[1].split("Capacity")[0]
