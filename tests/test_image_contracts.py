"""Image contracts (docker/*/contract.yaml, docker/contracts/*.yaml) cannot drift from their images, and env files
written fresh for them (tests/fixtures/envs/) synthesize to container definitions that carry what the generator
derives.

Drift: each contract of an image built here is read against what the image itself says: its Dockerfile (USER,
EXPOSE, COPY destinations), its scripts' own checks (`[ -n "${VAR:-}" ] || fail`, `: "${VAR:?}"` make a variable
required; `: "${VAR:=default}"` gives its default; a sourced helper counts), and its baked configuration files
(`${VAR}` that Grafana expands, `@VAR@` an entrypoint fills in, the `host:port` names the configs call).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from modules.config import load
from modules.config.contracts import CONTRACT_FILE, DOCKER_DIR, ELSEWHERE_DIR, all_contracts, contract_of
from modules.build_context import NOT_BUILT
from modules.dockerfile import copies, final_stage

DOCKERFILES = sorted(DOCKER_DIR.glob("*/Dockerfile"))
IMAGES = [p.parent.name for p in DOCKERFILES]
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
FRESH = ROOT / "tests" / "fixtures" / "envs"
# The env files written for the contract tests (tests/fixtures/envs/README.md; the other files there
# are checked by their own tests, some of them refused on purpose).
FRESH_FILES = [FRESH / "cpu-sa-east.yaml", FRESH / "gpu-ap-southeast.yaml"]

# The scripts' own checks (POSIX sh, the forms docker/ uses)
REQUIRED_CHECKS = [
    re.compile(r'\[ -n "\$\{(\w+):-\}" \] \|\| fail'),  # [ -n "${VAR:-}" ] || fail ...
    re.compile(r'\[ -z "\$\{(\w+):-\}" \] && fail'),  # [ -z "${VAR:-}" ] && fail ...
    re.compile(r'\$\{(\w+):\?'),  # : "${VAR:?message}"
]
DEFAULTS = re.compile(r'^: "\$\{(\w+):?=([^}]*)\}"', re.M)  # : "${VAR:=default}" or : "${VAR=default}"
SOURCED = re.compile(r'^\. "\$\(dirname "\$0"\)/([^"]+)"$', re.M)  # . "$(dirname "$0")/../lib/x.sh"
EXPANDED = re.compile(r"\$\{(?:env:)?([A-Za-z_]\w*)\}")  # ${VAR}: Grafana provisioning, the collector's ${env:VAR}
PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")  # @VAR@: filled in by the image's entrypoint
HOST_PORT = re.compile(r"(?<![\w.@-])([a-z][a-z0-9-]*):(\d{2,5})\b")
NOT_A_SERVICE = {"localhost"}


def contract(name: str):
    return next(c for c in all_contracts() if c.source == f"docker/{name}/{CONTRACT_FILE}")


def copied_files(name: str) -> list[Path]:
    """Files of docker/<name>/ and docker/lib/ that the final stage COPYs into the image."""
    found = []
    for copy in copies(DOCKER_DIR / name / "Dockerfile", final_only=True):
        if not copy.from_context:
            continue
        for source in copy.sources:
            path = DOCKER_DIR / source
            found += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return found


def scripts_of(name: str) -> list[Path]:
    """The image's shell scripts and the helpers they source."""
    scripts = [p for p in copied_files(name) if p.suffix == ".sh" and p.parent.name == name]
    for script in list(scripts):
        scripts += [(script.parent / rel).resolve() for rel in SOURCED.findall(script.read_text())]
    return scripts


def script_needs(name: str) -> tuple[set[str], dict[str, str]]:
    """(variables the scripts refuse to run without, {variable: default} of those they default)."""
    required, defaults = set(), {}
    for script in scripts_of(name):
        text = script.read_text()
        for check in REQUIRED_CHECKS:
            required |= set(check.findall(text))
        defaults.update(DEFAULTS.findall(text))
    return required, defaults


def config_text(path: Path) -> str:
    """A baked config without its comments (they mention names the config does not use)."""
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in path.read_text().splitlines())


def baked_configs(name: str) -> list[Path]:
    return [p for p in copied_files(name) if p.suffix in (".yaml", ".yml") and p.parent != DOCKER_DIR / "lib"]


def baked_variables(name: str) -> set[str]:
    return {var for path in baked_configs(name) for var in EXPANDED.findall(config_text(path))}


def baked_placeholders(name: str) -> set[str]:
    return {var for path in baked_configs(name) for var in PLACEHOLDER.findall(config_text(path))}


def baked_addresses(name: str) -> set[tuple[str, int, bool]]:
    """(name, port, per task) of every service the baked configs call: `host:port`, and the DNS names of
    Prometheus's dns_sd_configs (`api.@NAMESPACE@`, port apart)."""
    found = set()
    for path in baked_configs(name):
        text = config_text(path)
        found |= {(host, int(port), False) for host, port in HOST_PORT.findall(text) if host not in NOT_A_SERVICE}
        for job in (yaml.safe_load(text) or {}).get("scrape_configs", []) if path.name == "prometheus.yml" else []:
            for sd in job.get("dns_sd_configs", []):
                found |= {(n.split(".")[0], sd["port"], True) for n in sd["names"] if PLACEHOLDER.search(n)}
    return found


# ---------------------------------------------------------------- inventory
def test_every_image_built_here_has_its_contract_and_it_is_not_part_of_the_image():
    assert IMAGES, "docker/ builds images"
    for name in IMAGES:
        path = DOCKER_DIR / name / CONTRACT_FILE
        assert path.is_file(), f"docker/{name}/ has a Dockerfile but no {CONTRACT_FILE}"
        assert contract(name).image.build == name, f"{path}: image.build must be the folder's name '{name}'"
    assert CONTRACT_FILE in NOT_BUILT, "editing a contract must not change the image's content-addressed tag"
    elsewhere = sorted((DOCKER_DIR / ELSEWHERE_DIR).glob("*.yaml"))
    assert elsewhere and all(not (DOCKER_DIR / p.stem / "Dockerfile").exists() for p in elsewhere), \
        "docker/contracts/ holds contracts of images without a folder here"


@pytest.mark.parametrize("env_file", ENV_FILES + FRESH_FILES, ids=lambda p: p.stem)
def test_every_image_an_env_file_runs_has_a_contract(env_file):
    cfg = load(env_file)
    missing = sorted(name for name, svc in cfg.services.items() if contract_of(svc.image) is None)
    assert not missing, f"{env_file.name}: no contract for the images of {missing} (docker/contracts/)"


def test_endpoints_are_provided_once_and_every_call_names_one():
    provided: dict[str, str] = {}
    for c in all_contracts():
        for endpoint in c.provides:
            assert endpoint not in provided, f"{c.source}: endpoint '{endpoint}' is also {provided[endpoint]}'s"
            provided[endpoint] = c.source
    for c in all_contracts():
        names = [call.endpoint for call in c.calls] + [n.endpoint or n.when for n in c.env.values()
                                                        if n.endpoint or n.when]
        unknown = sorted(set(names) - set(provided))
        assert not unknown, f"{c.source}: calls endpoints no contract provides: {unknown}"
        for var, need in c.env.items():  # a derived URL is a call, listed as such
            assert not need.endpoint or need.endpoint in {call.endpoint for call in c.calls}, \
                f"{c.source}: env.{var} derives url:{need.endpoint}, which calls does not list"


# ---------------------------------------------------------------- contract vs Dockerfile
@pytest.mark.parametrize("name", IMAGES)
def test_contract_states_the_images_user_ports_and_volume_owners(name):
    c, dockerfile = contract(name), DOCKER_DIR / name / "Dockerfile"
    final = final_stage(dockerfile)
    user = [args for keyword, args in final if keyword == "USER"][-1]
    assert c.user == user, f"{c.source}: user {c.user} but the Dockerfile's USER is {user}"
    exposed = sorted(int(p.split("/")[0]) for k, a in final if k == "EXPOSE" for p in a.split())
    assert c.ports == exposed, f"{c.source}: provides ports {c.ports} but the Dockerfile EXPOSEs {exposed}"
    for volume in c.volumes:
        assert volume.owner == user, f"{c.source}: {volume.path} owned by {volume.owner}, the image writes as {user}"
    destinations = {copy.destination for copy in copies(dockerfile, final_only=True)}
    for var, need in c.env.items():  # a value the image dictates is a path it holds
        if need.derive and need.derive.startswith("value:/"):
            assert need.derive[len("value:"):] in destinations, f"{c.source}: env.{var} is no file of the image"


# ---------------------------------------------------------------- contract vs the image's own checks
@pytest.mark.parametrize("name", IMAGES)
def test_contract_env_is_what_the_scripts_and_baked_configs_read(name):
    c = contract(name)
    required, defaults = script_needs(name)
    baked = baked_variables(name)
    placeholders = baked_placeholders(name)
    # every @VAR@ of a baked config is filled in by a script that refuses to run without it
    assert placeholders <= required, f"docker/{name}: {sorted(placeholders - required)} rendered but not checked"
    stated_required = {var for var, need in c.env.items() if need.required}
    assert stated_required == required | baked, \
        f"{c.source}: required {sorted(stated_required)}; the image requires {sorted(required | baked)}"
    stated_defaults = {var: need.default for var, need in c.env.items() if need.default is not None}
    assert stated_defaults == defaults, f"{c.source}: defaults {stated_defaults} != the scripts' {defaults}"
    assert set(c.env) == required | baked | set(defaults), \
        f"{c.source}: env lists {sorted(set(c.env) - (required | baked | set(defaults)))} which the image does " \
        f"not read, misses {sorted((required | baked | set(defaults)) - set(c.env))}"


def test_the_check_reader_cannot_go_blind():
    """The readers above find what the images check today: an image whose checks they missed would pass."""
    assert script_needs("prometheus")[0] == {"SCRAPE_DNS_NAMESPACE"}
    assert script_needs("ollama-init")[0] == {"OLLAMA_HOST", "OLLAMA_MODELS", "SIRIOS_MODEFILE"}
    assert "QUALITY_OPS_TOKEN" in script_needs("quality-cron")[0], "the sourced lib/ops-http.sh counts"
    assert baked_variables("grafana") == {"ARAQUEM_API_URL"}
    assert baked_placeholders("prometheus") == {"SCRAPE_DNS_NAMESPACE"}
    assert ("api", 8000, True) in baked_addresses("prometheus")


@pytest.mark.parametrize("name", IMAGES)
def test_contract_calls_are_the_names_its_baked_configs_call(name):
    c = contract(name)
    ports = {e: ep.port for other in all_contracts() for e, ep in other.provides.items()}
    stated = {(call.as_, ports[call.endpoint], call.per_task) for call in c.calls if call.as_}
    assert stated == baked_addresses(name), f"{c.source}: calls {sorted(stated)} != baked {sorted(baked_addresses(name))}"


# ---------------------------------------------------------------- fresh env files, synthesized
TERRAFORM_VALIDATE = {"test_fresh_env_files_are_valid_terraform": [
    lambda synths, path=path: synths.of_file(path) for path in FRESH_FILES]}


def containers(synth) -> dict[str, dict]:
    """Every container definition of the stack, by container name."""
    return {c["name"]: c for td in synth.resources("aws_ecs_task_definition").values()
            for c in json.loads(td["container_definitions"])}


def environment(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("environment", [])}


@pytest.fixture(scope="module")
def sae(synths):
    return synths.of_file(FRESH / "cpu-sa-east.yaml")


@pytest.fixture(scope="module")
def syd(synths):
    return synths.of_file(FRESH / "gpu-ap-southeast.yaml")


def test_fresh_env_files_are_fresh():
    """Not edited copies of stage: their own regions, three zones, service names stage does not use."""
    stage = load(ROOT / "envs" / "stage.yaml")
    assert len(FRESH_FILES) >= 2
    for path in FRESH_FILES:
        cfg = load(path)
        assert cfg.region != stage.region and len(cfg.availability_zones()) == 3
        assert set(cfg.services) - set(stage.services), f"{path.name} names its services like stage"


def test_prometheus_gets_the_namespace_and_the_api_its_dns_record(sae):
    ns = "lab-sae.internal"
    assert environment(containers(sae)["metrics"])["SCRAPE_DNS_NAMESPACE"] == ns
    assert sae.one("aws_service_discovery_private_dns_namespace")["name"] == ns
    registered = {s["name"] for s in sae.resources("aws_service_discovery_service").values()}
    assert "api" in registered, "Prometheus scrapes each api task by its DNS name"
    api = next(s for s in sae.resources("aws_ecs_service").values() if s["name"] == "lab-sae-api")
    assert "aws_service_discovery_service" in api["service_registries"]["registry_arn"]


def test_the_api_gets_the_collector_and_every_service_it_calls(sae, syd):
    api = environment(containers(sae)["api"])
    assert api["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"  # depends_on it: Service Connect
    assert api["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf" and api["OTEL_SERVICE_NAME"] == "api"
    # no depends_on on them: their DNS names, which they then get
    assert api["OLLAMA_BASE_URL"] == api["OLLAMA_URL"] == "http://llm.lab-sae.internal:11434"
    assert api["PROMETHEUS_URL"] == "http://metrics.lab-sae.internal:9090"
    assert {"llm", "metrics"} <= {s["name"] for s in sae.resources("aws_service_discovery_service").values()}
    assert "GRAFANA_URL" not in api, "no Grafana in this env file"
    api = environment(containers(syd)["api"])
    assert not [v for v in api if v.startswith("OTEL_")], "no collector: no OTLP endpoint"
    assert api["GRAFANA_URL"] == "http://dashboards:3000" and api["OLLAMA_BASE_URL"] == "http://ollama:11434"


def test_grafana_jobs_and_crons_reach_the_api_and_ollama_by_dns(sae, syd):
    assert environment(containers(syd)["dashboards"])["ARAQUEM_API_URL"] == "http://api.acme-syd.internal:8000"
    assert environment(containers(syd)["rag-refresh"])["RAG_API_URL"] == "http://api.acme-syd.internal:8000"
    assert environment(containers(sae)["nightly-quality"])["QUALITY_API_URL"] == "http://api.lab-sae.internal:8000"
    assert environment(containers(sae)["indexer"])["OLLAMA_BASE_URL"] == "http://llm.lab-sae.internal:11434"
    init = environment(containers(syd)["models"])
    assert init["OLLAMA_HOST"] == "http://localhost:11434"
    assert init["SIRIOS_MODEFILE"] == "/opt/ollama-init/Modelfile.sirios-narrator"


def test_every_required_variable_of_every_contract_is_in_the_container_definitions(sae, syd):
    for path, synth in ((FRESH / "cpu-sa-east.yaml", sae), (FRESH / "gpu-ap-southeast.yaml", syd)):
        cfg, defined = load(path), containers(synth)
        for name, svc in cfg.services.items():
            c = contract_of(svc.image)
            given = set(environment(defined[name])) | {s["name"] for s in defined[name].get("secrets", [])}
            missing = sorted(var for var, need in c.env.items() if need.required and var not in given)
            assert not missing, f"{path.name}: {name} ({c.source}) lacks {missing}"


def test_fresh_env_files_are_valid_terraform(sae, syd, terraform_validation):
    for synth in (sae, syd):
        result = terraform_validation.of(synth)
        assert result["valid"], json.dumps(result["diagnostics"], indent=2)
