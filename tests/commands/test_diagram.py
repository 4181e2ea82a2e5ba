"""modules/commands/diagram.py: `python main.py diagram` draws the env file's architecture (PNG + SVG)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, run_main, stage_data
from modules.commands import diagram
from modules.config import EnvConfig, load

SVG_NS = {"svg": "http://www.w3.org/2000/svg"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def svg_titles(path) -> tuple[set[str], set[tuple[str, str]]]:
    """(node ids, edges as (from, to)) read back from the rendered SVG: what the picture really shows."""
    root = ET.parse(path).getroot()
    nodes, edges = set(), set()
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        title = group.find("svg:title", SVG_NS)
        if title is None:
            continue
        if group.get("class") == "node":
            nodes.add(title.text)
        elif group.get("class") == "edge":
            tail, _, head = title.text.partition("->")
            edges.add((tail, head))
    return nodes, edges


@pytest.fixture(scope="module")
def stage_picture(tmp_path_factory):
    stem = tmp_path_factory.mktemp("diagram") / "stage"
    proc = run_main("diagram", "--env", "stage", "-o", str(stem))
    assert proc.returncode == 0, proc.stderr
    return stem


def test_png_and_svg_are_written(stage_picture):
    assert stage_picture.with_suffix(".png").read_bytes()[:8] == PNG_MAGIC
    assert ET.parse(stage_picture.with_suffix(".svg")).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_a_node_for_every_service_and_managed_resource(stage_picture, stage_cfg):
    nodes, _ = svg_titles(stage_picture.with_suffix(".svg"))
    expected = {diagram.node_id("svc", name) for name in stage_cfg.services}
    expected |= {diagram.node_id("vol", name) for name in stage_cfg.volumes}
    expected |= {diagram.node_id("secret", name) for name in stage_cfg.secrets}
    expected |= {"alb", "redis", "rds", "ssm", "users"}
    assert expected <= nodes, f"missing: {sorted(expected - nodes)}"


def test_observability_flow_is_drawn_from_allow_from(stage_picture):
    _, edges = svg_titles(stage_picture.with_suffix(".svg"))
    svc = lambda name: diagram.node_id("svc", name)  # noqa: E731
    flow = {("api", "otel-collector"), ("otel-collector", "tempo"),
            ("prometheus", "api"), ("prometheus", "otel-collector"), ("prometheus", "tempo"),
            ("grafana", "prometheus"), ("grafana", "tempo"), ("grafana", "api")}
    assert {(svc(a), svc(b)) for a, b in flow} <= edges
    assert ("alb", svc("api")) in edges and ("users", "alb") in edges


def node_clusters(source: str) -> dict[str, list[str]]:
    """node id -> the subgraphs (outermost first) it is declared in, from the DOT source."""
    stack, found = [], {}
    for line in source.splitlines():
        text = line.strip()
        if text.startswith("subgraph "):
            stack.append(text.removeprefix("subgraph ").rstrip(" {").strip('"'))
        elif text == "}" and stack:
            stack.pop()
        elif "->" not in text and (match := re.match(r'^"?([\w-]+)"? \[', text)):
            found[match.group(1)] = list(stack)
    return found


def test_tasks_sit_in_their_capacity_provider(stage_cfg):
    where = node_clusters(diagram.build(stage_cfg).source)
    for name in stage_cfg.services:
        clusters = where[diagram.node_id("svc", name)]
        assert f"cluster_cp_{stage_cfg.capacity_provider_of(name)}" in clusters, (name, clusters)
        assert f"cluster_task_{stage_cfg.task_owner(name)}" == clusters[-1], (name, clusters)
        assert clusters[:4] == ["cluster_aws", "cluster_vpc", "cluster_private", "cluster_ecs"]
    assert where["alb"][-1] == "cluster_public" and where["redis"][-1] == "cluster_private"
    assert all(where[diagram.node_id("vol", v)][-1] == "cluster_efs" for v in stage_cfg.volumes)


def test_source_is_deterministic_whatever_the_file_order():
    data = stage_data()
    shuffled = {**data, "services": dict(reversed(list(data["services"].items()))),
                "volumes": dict(reversed(list(data["volumes"].items())))}
    first = diagram.build(EnvConfig.model_validate(data)).source
    assert first == diagram.build(EnvConfig.model_validate(data)).source
    assert first == diagram.build(EnvConfig.model_validate(shuffled)).source


def test_other_environment_draws_its_own_shape():
    cfg = load(ROOT / "envs" / "dev-eu.yaml")
    source = diagram.build(cfg).source
    assert all(cidr in source for cidr in cfg.network.subnet_cidrs()["private"])
    assert "none referenced" not in source and cfg.database.endpoint in source
    for name in cfg.database.allow_from:  # the existing DB: port rule and credentials read, drawn per client
        assert f"{diagram.node_id('svc', name)} -> rds" in source
        assert f'{diagram.node_id("svc", name)} -> "{diagram.node_id("secret", "database-credentials")}"' in source
    assert sorted(k for k in cfg.cluster.capacity_providers) == sorted(
        part.split(" ")[0] for part in source.split("subgraph cluster_cp_")[1:])


def test_missing_dot_is_a_clear_exit_2(tmp_path):
    proc = run_main("diagram", "-o", str(tmp_path / "x"), env={"PATH": str(tmp_path)})
    assert proc.returncode == 2
    assert "Graphviz" in proc.stderr and "apt-get install graphviz" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("x.*"))


def test_output_suffix_is_optional(tmp_path):
    cfg = load(ROOT / "envs" / "stage.yaml")
    args = type("Args", (), {"output": str(tmp_path / "pic.png")})()
    assert diagram.output_stem(args, cfg) == tmp_path / "pic"


def test_readme_picture_shows_every_stage_service(stage_cfg):
    """docs/stage.svg (embedded in the README as docs/stage.png) must not miss a service of stage.yaml."""
    nodes, _ = svg_titles(ROOT / "docs" / "stage.svg")
    missing = sorted(diagram.node_id("svc", n) for n in stage_cfg.services if diagram.node_id("svc", n) not in nodes)
    assert not missing, f"docs/stage.* is stale ({missing}); regenerate: make regen (or python main.py diagram --env stage -o docs/stage)"
    assert "docs/stage.png" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("exposure", ["vpn", "internal"])
def test_grafana_exposure_is_drawn(exposure):
    data = stage_data()
    data["alb"]["grafana"] = {"exposure": exposure, "allowed_cidrs": ["10.99.0.0/16"]}
    if exposure == "vpn":
        data["alb"]["grafana"]["host"] = f"grafana.{data['alb']['domain']['zone']}"  # in the zone of alb.domain
    cfg = EnvConfig.model_validate(data)
    source = diagram.build(cfg).source
    grafana = diagram.node_id("svc", cfg.alb.grafana.service)
    entry = "alb" if exposure == "vpn" else "vpn"
    edge = next(line for line in source.splitlines() if line.strip().startswith(f"{entry} -> {grafana}"))
    assert "10.99.0.0/16" in (edge if exposure == "vpn" else source)


def test_edge_labels_are_the_ports_each_source_may_reach(stage_cfg):
    """A port's own allow_from narrows its task's: otel-collector reaches tempo's OTLP ports, not its API."""
    source = diagram.build(stage_cfg).source
    edge = r'^\s*"?(svc_[\w-]+)"? -> "?(svc_[\w-]+)"? \[label=":([\d,]+)"'
    labels = {(tail, head): ports for tail, head, ports in re.findall(edge, source, re.M)}
    for owner in stage_cfg.task_owners():
        expected: dict[str, list[int]] = {}
        for port, sources in stage_cfg.port_sources(owner).items():
            for src in sources:
                expected.setdefault(src, []).append(port)
        for src, ports in expected.items():
            key = (diagram.node_id("svc", src), diagram.node_id("svc", owner))
            assert labels.get(key) == ",".join(map(str, sorted(ports))), key
