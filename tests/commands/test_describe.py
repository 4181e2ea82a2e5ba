"""modules/commands/describe.py: `python main.py describe` — the service/wiring/capacity tables of an env file."""

from __future__ import annotations

import os
import pty
import subprocess

import pytest
import yaml

from conftest import PYTHON, ROOT, run_main, variant
from modules.commands import describe
from modules.config import EnvConfig, capacity, load
from modules.config.wiring import dns_discovered
from test_workload import crons_as_sidecars

GOLDEN = ROOT / "tests" / "golden" / "describe-stage.txt"
REGENERATE = f"python main.py describe --env stage > {GOLDEN.relative_to(ROOT)}"
BOX_CHARS = set("┌┬┐├┼┤└┴┘│─")
ANSI = "\033["


@pytest.fixture(scope="module")
def piped():
    """`describe` of stage with stdout a pipe, as in `... | less` or a CI log."""
    proc = run_main("describe", "--env", "stage")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_stage_table_matches_the_reviewed_golden_file(piped):
    # The golden file is the reviewed picture of stage; a change to stage.yaml, the schema or the
    # capacity rules shows up here as a readable diff.
    assert piped == GOLDEN.read_text(), f"describe output changed; review it, then regenerate: {REGENERATE} (all generated files: make regen)"


def test_piped_output_is_plain_text(piped):
    assert ANSI not in piped
    assert not BOX_CHARS & set(piped)


def test_every_service_has_one_row_per_table(piped, stage_cfg):
    services_block, wiring_block = piped.split("\n\nWiring\n")[0], piped.split("\n\nWiring\n")[1]
    for block in (services_block, wiring_block.split("\n\nDerived")[0]):
        first_words = [line.split()[0] for line in block.splitlines() if line and not line.startswith(" ")]
        for name in stage_cfg.services:
            assert first_words.count(name) == 1, f"{name} rows in:\n{block}"


def _run_in_terminal(*args: str, env: dict[str, str | None] | None = None) -> str:
    """Run main.py with stdout on a pseudo-terminal (what an operator's shell gives it)."""
    primary, secondary = pty.openpty()
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}  # None: unset
    proc = subprocess.Popen([PYTHON, str(ROOT / "main.py"), *args], cwd=ROOT, stdout=secondary,
                            stderr=subprocess.PIPE, env=full_env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    return b"".join(chunks).decode()


def test_terminal_gets_boxes_and_bold_headers():
    out = _run_in_terminal("describe", env={"NO_COLOR": None})
    assert "┌" in out and "│ SERVICE" in out.replace(describe.BOLD, "").replace(describe.RESET, "")
    assert describe.BOLD in out


def test_no_color_keeps_boxes_without_escape_codes():
    out = _run_in_terminal("describe", env={"NO_COLOR": "1"})
    assert "┌" in out and ANSI not in out


def test_style_plain_overrides_the_terminal():
    out = _run_in_terminal("describe", "--style", "plain")
    assert ANSI not in out and not BOX_CHARS & set(out)


def test_capacity_rows_come_from_the_capacity_module(stage_cfg):
    table = describe.capacity_table(stage_cfg)
    usage = capacity.usage(stage_cfg)
    assert [row[0][0] for row in table.rows] == sorted(usage)
    for row in table.rows:
        use = usage[row[0][0]]
        assert row[2] == [f"{use.cpu_units_needed} / {use.cpu_units_available} "
                          f"({100 * use.cpu_units_needed / use.cpu_units_available:.0f}%)"]
        assert row[5] == [f"{use.task_count} / {use.task_slots} ({100 * use.task_count / use.task_slots:.0f}%)"]
        assert sorted(row[6]) == sorted(f"{o} x{n}" for o, n in use.tasks)


def test_secrets_show_names_never_values(stage_cfg):
    lines = describe.secrets_text(stage_cfg, "api")
    assert "QUALITY_OPS_TOKEN" in lines
    assert all(f"api-env:{key}" in lines for key in stage_cfg.secrets["api-env"].keys)
    assert f"{stage_cfg.cache.url_variable} (cache)" in lines


def test_connect_names(stage_cfg):
    """Services with ports by their own (compose) name; port-less inits/sidecars through their host;
    jobs have none; services a job depends on also by DNS (run-task jobs are outside Service Connect)."""
    for name, svc in stage_cfg.services.items():
        names = describe.connect_name(stage_cfg, name)
        if svc.ports and svc.kind.value == "service":
            assert names[0] == name
            assert (f"{name}.{stage_cfg.dns_namespace} (DNS)" in names) == (name in dns_discovered(stage_cfg))
        elif svc.host:
            assert names == [f"via {svc.host}"]
        else:
            assert names == []
    assert "ollama" in dns_discovered(stage_cfg)  # rag-indexer (a job) depends on it


def test_sidecar_with_ports_gets_its_own_name(tmp_path):
    data = variant(crons_as_sidecars)
    data["services"]["quality-cron"]["ports"] = [9100]
    cfg = load_data(tmp_path, data)
    assert describe.connect_name(cfg, "quality-cron") == ["quality-cron"]


def load_data(tmp_path, data):
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load(path)


def test_other_environment_without_gpu_or_tfc(tmp_path):
    """dev-eu: one capacity provider, a database by endpoint, local state."""
    proc = run_main("describe", "--env", "dev-eu")
    assert proc.returncode == 0, proc.stderr
    cfg = load(ROOT / "envs" / "dev-eu.yaml")
    assert "local state" in proc.stdout and f"{cfg.network.az_count} AZs" in proc.stdout
    assert f"postgres:{cfg.database.port}" in proc.stdout
    db_env = cfg.database.env  # the connection reaches database.allow_from as env vars: named, not valued
    for name in cfg.database.allow_from:
        assert f"{db_env.password} (database)" in describe.secrets_text(cfg, name)
        assert f"{db_env.host} (database)" in describe.parameters_text(cfg, name)
    assert cfg.database.endpoint not in proc.stdout.split("\nWiring")[1]
    capacity_block = proc.stdout.split("\nCapacity")[1]
    assert [line.split()[0] for line in capacity_block.splitlines()[3:] if line and not line.startswith(" ")] \
        == sorted(cfg.cluster.capacity_providers)


def test_scheduled_job_and_scaling_cells(tmp_path):
    def mutate(data):
        data["services"]["rag-indexer"].update(kind="scheduled", schedule="cron(0 3 * * ? *)")

    path = tmp_path / "scheduled.yaml"
    path.write_text(yaml.safe_dump(variant(mutate), sort_keys=False))
    proc = run_main("--env-file", str(path), "describe")
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("rag-indexer "))
    assert "scheduled cron(0 3 * * ? *) UTC" in row and "per run" in row  # the timezone's default is UTC


@pytest.mark.parametrize("args, words", [
    (("describe", "--env", "nope"), ["--env nope", "known environments", "stage"]),
    (("describe", "--style", "fancy"), ["invalid choice", "'fancy'"]),
])
def test_bad_input_exits_2_without_traceback(args, words):
    proc = run_main(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr


def test_broken_env_file_exits_2(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(variant(lambda d: d["services"]["api"].update(cpus=2))))
    proc = run_main("--env-file", str(path), "describe")
    assert proc.returncode == 2 and "services.api.cpus" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["describe", "diagram", "reference", "synth"])
def test_every_command_has_help(command):
    proc = run_main(command, "--help")
    assert proc.returncode == 0 and "usage: main.py" in proc.stdout and "--env" in proc.stdout


def test_operator_commands_do_not_start_jsii(tmp_path):
    """describe/diagram/reference read the config only: they must not import cdktf or jsii (instant)."""
    code = ("import sys, main; "
            "rcs = [main.main(['describe']), main.main(['diagram', '--dot']), main.main(['reference'])]; "
            "loaded = sorted(m for m in ('jsii', 'cdktf', 'cdktf_cdktf_provider_aws._jsii') if m in sys.modules); "
            "print('RESULT', rcs, loaded, file=sys.stderr)")
    proc = subprocess.run([PYTHON, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "RESULT [0, 0, 0] []" in proc.stderr, proc.stderr


def test_allowed_from_is_per_port_when_ports_differ(stage_cfg):
    for name, svc in stage_cfg.services.items():
        sources = stage_cfg.port_sources(stage_cfg.task_owner(name))
        cell = describe.allowed_from_text(stage_cfg, name)
        per_port = {pm.port: sorted(sources[pm.port]) for pm in svc.ports}
        if len({tuple(v) for v in per_port.values()}) > 1:
            assert cell == [f"{p}: {', '.join(s) or '-'}" for p, s in sorted(per_port.items())]
        else:
            assert cell == next(iter(per_port.values()), [])


# The smallest env file the schema accepts: no cache, database, secrets, parameters, volumes, GPU or
# Terraform Cloud, public image only. The operator commands must serve it as well as stage.
MINIMAL_ENV = {
    "project": "demo", "environment": "mini",
    "network": {"vpc_cidr": "10.1.0.0/16"},
    "alb": {"https": False, "target": {"service": "web", "port": 80}},
    "cluster": {"capacity_providers": {"general": {"instance_type": "t3.medium"}}},
    "registry": {"pull_through_cache": False},
    "services": {"web": {"image": "nginx:1.27.2", "cpu": 0.5, "memory": 512, "ports": [80]}},
}


def test_minimal_env_file(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(MINIMAL_ENV))
    proc = run_main("--env-file", str(path), "describe")
    assert proc.returncode == 0, proc.stderr
    assert "cache: none; database: none referenced" in proc.stdout
    assert "ecr:NAME" not in proc.stdout and "Grafana" not in proc.stdout  # nothing built, no Grafana
    web = next(line for line in proc.stdout.splitlines() if line.startswith("web "))
    assert "nginx:1.27.2" in web and "80/http" in web
    proc = run_main("--env-file", str(path), "diagram", "-o", str(tmp_path / "mini"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mini.png").read_bytes()[:4] == b"\x89PNG"


def test_timeouts_show_what_the_generator_derives(piped, stage_cfg):
    """stage sets no timeout: describe shows the derived ones with their reason, one row per Service Connect port,
    and the ALB's idle timeout, which the api's idle timeout exceeds."""
    block = piped.split("\n\nTimeouts")[1].split("\n\n")[0]
    rows = {line.split()[0]: line.split() for line in block.splitlines()[3:] if line and not line.startswith(" ")}
    assert set(rows) == {f"{name}:{pm.port}" for name, svc in stage_cfg.services.items() for pm in svc.ports
                         if stage_cfg.services[stage_cfg.task_owner(name)].kind.value == "service"}
    assert rows["ollama:11434"][1:3] == ["600", "600"] and "inference server" in " ".join(rows["ollama:11434"])
    assert rows["api:8000"][1] == "600" and "calls ollama:11434" in " ".join(rows["api:8000"])
    assert "ALB idle timeout: 600 s (api:8000 waits 600 s)" in piped
    assert int(rows["api:8000"][2]) > 600


def test_a_loop_sidecar_says_so():
    """tests/fixtures/envs/ap-southeast-2-cpu-llm.yaml: keep-warm serves no port (a loop, allowed in a one-task
    host); describe marks it, so a reader sees why scaling its host would be refused."""
    cfg = load(ROOT / "tests" / "fixtures" / "envs" / "ap-southeast-2-cpu-llm.yaml")
    assert describe.kind_text(cfg.services["keep-warm"]) == "sidecar (loop)"
    assert describe.kind_text(cfg.services["llm"]) == "service"


def test_summary_says_where_a_database_in_another_vpc_is_and_how_it_is_reached():
    cfg = load(ROOT / "tests" / "fixtures" / "envs" / "ap-southeast-2-peered-db.yaml")
    assert any("database: instance ledger-syd-pg:5432 in vpc-0a1b2c3d4e5f60718 (peering);" in line
               for line in describe.summary_lines(cfg))


def test_derived_variables_are_shown_with_where_they_come_from_and_an_explicit_value_hides_them():
    fresh = load(ROOT / "tests" / "fixtures" / "envs" / "cpu-sa-east.yaml")
    rows = {tuple(cell[0] for cell in row[:3]): row[3][0] for row in describe.derived_table(fresh).rows}
    assert rows[("metrics", "SCRAPE_DNS_NAMESPACE", "lab-sae.internal")].startswith("docker/prometheus/contract.yaml")
    assert "DNS name (outside Service Connect)" in rows[("indexer", "OLLAMA_BASE_URL", "http://llm.lab-sae.internal:11434")]
    data = yaml.safe_load((ROOT / "tests" / "fixtures" / "envs" / "cpu-sa-east.yaml").read_text())
    data["services"]["metrics"]["environment"] = {"SCRAPE_DNS_NAMESPACE": "lab-sae.internal"}
    explicit = EnvConfig.model_validate(data)
    assert not [row for row in describe.derived_table(explicit).rows if row[0] == ["metrics"]]
    assert "Derived from image contracts" in describe.render(fresh)
