"""modules/namespaces.py: Service Connect names for services, Cloud Map DNS names for run-task jobs."""

from __future__ import annotations

import pytest

from test_workload import bad_input_line, containers, ecs_services


def test_jobs_reach_ollama_through_dns(stage):
    """A run-task'd job is outside Service Connect: ollama is also a Cloud Map DNS name."""
    dns = stage.one("aws_service_discovery_private_dns_namespace")
    assert dns["name"] == "araquem-stage.internal"
    registered = {s["name"]: s for s in stage.resources("aws_service_discovery_service").values()}
    # ollama for rag-indexer; api for the scheduled crons and Prometheus's per-task scrapes
    assert sorted(registered) == ["api", "ollama"]
    discovery = registered["ollama"]
    assert discovery["dns_config"]["dns_records"][0]["type"] == "A"
    assert "aws_service_discovery_service" in ecs_services(stage)["ollama"]["service_registries"]["registry_arn"]
    # derived from the indexer's image contract (docker/contracts/rag-indexer.yaml): a job, so the DNS name
    environment = {e["name"]: e["value"] for e in containers(stage)["rag-indexer"][1]["environment"]}
    assert environment["OLLAMA_BASE_URL"] == "http://ollama.araquem-stage.internal:11434"
    command = stage.json["output"]["rag_indexer_run_task_command"]["value"]
    assert command.startswith("aws ecs run-task ") and "--task-definition araquem-stage-rag-indexer" in command
    assert "assignPublicIp=DISABLED" in command


@pytest.mark.parametrize("mutate, field, words", [
    (lambda d: d["services"]["rag-indexer"].update(parameters=["OLLAMA_BASE_URL"]),  # http://ollama:11434
     "services.rag-indexer.parameters.OLLAMA_BASE_URL", ["not in the Service Connect mesh",
                                                         "ollama.araquem-stage.internal"]),
    (lambda d: d["services"]["rag-indexer"].pop("depends_on") and d["services"]["rag-indexer"]["environment"].update(
        OLLAMA_BASE_URL="http://ollama.araquem-stage.internal:11434"),  # by hand: ollama gets no DNS record
     "services.rag-indexer.environment.OLLAMA_BASE_URL", ["add 'ollama' to depends_on"]),
], ids=["short-name", "dns-name-without-depends_on"])
def test_a_job_cannot_use_service_connect_names(tmp_path, mutate, field, words):
    line = bad_input_line(tmp_path, mutate, field)
    assert all(w in line for w in words), line


def test_dns_discovery_is_for_long_running_services(tmp_path):
    line = bad_input_line(tmp_path, lambda d: d["services"]["rag-indexer"].update(dns_discovery=True),
                          "services.rag-indexer")
    assert "'dns_discovery' applies to kind 'service' only" in line
