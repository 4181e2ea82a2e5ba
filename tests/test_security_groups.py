"""modules/security_groups.py: the whole stage security-group matrix, egress, the closed default group, and
the rule that nothing but the public ALB listeners takes ingress from anywhere."""

from __future__ import annotations

import pytest

from conftest import ROOT, variant
from test_workload import crons_as_sidecars

PREFIX = "araquem-stage-"
ANYWHERE = {"0.0.0.0/0", "::/0"}

# Stage's matrix: (source, destination, port). Task groups are named after the task-owning service;
# init/sidecar containers share their host's group (ollama-init -> ollama), so they never appear; the
# scheduled crons have their own. Why each row exists (envs/stage.yaml, seed §3.3/3.4):
STAGE_MATRIX = {
    # public ALB listeners (alb.allowed_cidrs); HTTP only redirects to HTTPS
    ("0.0.0.0/0", "alb", 80), ("0.0.0.0/0", "alb", 443),
    # api 8000: the ALB (alb.target), plus Prometheus scraping /metrics and Grafana's JSON API datasource,
    # and the scheduled crons calling its ops endpoints by its DNS name
    ("alb", "api", 8000), ("prometheus", "api", 8000), ("grafana", "api", 8000),
    ("quality-cron", "api", 8000), ("rag-refresh-cron", "api", 8000),
    # ollama 11434: the api and the rag-indexer job (ollama-init is in ollama's own task: localhost)
    ("api", "ollama", 11434), ("rag-indexer", "ollama", 11434),
    # grafana 3000: Grafana is `internal`: an SSM port-forwarding session through a container instance, and
    # the api (its GRAFANA_URL; rules.services_may_reach_what_they_are_given makes allow_from say so)
    ("instances", "grafana", 3000), ("api", "grafana", 3000),
    # prometheus 9090: Grafana's datasource, and the api (its PROMETHEUS_URL)
    ("grafana", "prometheus", 9090), ("api", "prometheus", 9090),
    # tempo 3200 (query API, /metrics): Grafana's datasource and Prometheus scraping; OTLP 4317/4318 only
    # from the collector exporting traces (per-port allow_from narrows tempo's [grafana, otel-collector, prometheus])
    ("grafana", "tempo", 3200), ("prometheus", "tempo", 3200),
    ("otel-collector", "tempo", 4317), ("otel-collector", "tempo", 4318),
    # otel-collector OTLP 4317/4318 from the api (traces); its metrics 8888 scraped by Prometheus
    ("api", "otel-collector", 4317), ("api", "otel-collector", 4318), ("prometheus", "otel-collector", 8888),
    # Redis 6379: cache.allow_from = api (the crons only call the api)
    ("api", "cache", 6379),
    # EFS NFS 2049: tasks that mount a volume, and the container instances (the ECS agent mounts)
    ("ollama", "efs", 2049), ("prometheus", "efs", 2049), ("grafana", "efs", 2049), ("tempo", "efs", 2049),
    ("api", "efs", 2049), ("rag-indexer", "efs", 2049),  # the shared RAG index
    ("instances", "efs", 2049),
    # interface endpoints 443: every task and the instances (agent pulls images, ships logs, reads secrets)
    ("api", "endpoints", 443), ("ollama", "endpoints", 443), ("rag-indexer", "endpoints", 443),
    ("prometheus", "endpoints", 443), ("grafana", "endpoints", 443), ("tempo", "endpoints", 443),
    ("otel-collector", "endpoints", 443), ("quality-cron", "endpoints", 443), ("rag-refresh-cron", "endpoints", 443),
    ("instances", "endpoints", 443),
}

# The seed's task owners: each reaches the interface endpoints.
SEED_TASK_OWNERS = {source for source, dest, _ in STAGE_MATRIX if dest == "endpoints"} - {"instances"}


def stage_matrix(cfg) -> set[tuple]:
    """STAGE_MATRIX plus the rows of each task owner stage adds beyond the seed, read from its entry:
    its ports from its `allow_from` (a port's own list narrowing it), the endpoints, EFS if it mounts a volume."""
    rows = set(STAGE_MATRIX)
    for owner in set(cfg.task_owners()) - SEED_TASK_OWNERS:
        rows.add((owner, "endpoints", 443))
        for svc in cfg.containers_of(owner).values():
            rows |= {(cfg.task_owner(source), owner, pm.port)
                     for pm in svc.ports for source in (pm.allow_from or cfg.services[owner].allow_from)}
            if svc.volumes:
                rows.add((owner, "efs", 2049))
    return rows


def group_names(synth) -> dict[str, str]:
    """{`${aws_security_group.X.id}`: short name}: araquem-stage-task-api -> api, araquem-stage-alb -> alb."""
    out = {}
    for lid, group in synth.resources("aws_security_group").items():
        short = group["name"].removeprefix(PREFIX)
        out[f"${{aws_security_group.{lid}.id}}"] = short.removeprefix("task-")
    return out


def rules(synth, rtype: str) -> set[tuple]:
    names = group_names(synth)
    found = set()
    for rule in synth.resources(rtype).values():
        if rule["security_group_id"] not in names:
            continue  # a group this module does not own (the referenced RDS group)
        peer = (names[rule["referenced_security_group_id"]] if "referenced_security_group_id" in rule
                else rule.get("cidr_ipv4") or rule.get("cidr_ipv6"))
        found.add((peer, names[rule["security_group_id"]], rule.get("from_port")))
    return found


def test_stage_groups_one_per_task_owner_plus_infrastructure(stage, stage_cfg):
    expected = set(stage_cfg.task_owners()) | {"alb", "cache", "efs", "instances", "endpoints"}
    assert sorted(group_names(stage).values()) == sorted(expected)
    assert "ollama-init" not in set(group_names(stage).values())


def test_stage_ingress_matrix_is_exactly_the_table(stage, stage_cfg):
    found = rules(stage, "aws_vpc_security_group_ingress_rule")
    assert found - stage_matrix(stage_cfg) == set(), "rules nobody asked for"
    assert stage_matrix(stage_cfg) - found == set(), "rules missing"


def test_every_ingress_rule_is_single_port_tcp_with_a_description(stage):
    for lid, rule in stage.resources("aws_vpc_security_group_ingress_rule").items():
        assert rule["ip_protocol"] == "tcp" and rule["from_port"] == rule["to_port"], lid
        assert rule["description"], lid
        # AWS accepts only these characters in rule descriptions (no '>')
        assert all(c.isalnum() or c in " ._-:/()#,@[]+=&;{}!$*" for c in rule["description"]), rule["description"]


def test_no_ingress_from_anywhere_except_the_alb_listener_ports(stage):
    """Over every kind of ingress any construct may write, not only this module's."""
    names = group_names(stage)
    alb = next(ref for ref, name in names.items() if name == "alb")
    listener_ports = {80, 443}
    offenders = []
    for lid, rule in stage.resources("aws_vpc_security_group_ingress_rule").items():
        if {rule.get("cidr_ipv4"), rule.get("cidr_ipv6")} & ANYWHERE:
            if rule["security_group_id"] != alb or rule.get("from_port") not in listener_ports \
                    or rule.get("to_port") != rule.get("from_port"):
                offenders.append(lid)
    for lid, rule in stage.resources("aws_security_group_rule").items():
        if rule["type"] == "ingress" and set(rule.get("cidr_blocks", []) + rule.get("ipv6_cidr_blocks", [])) & ANYWHERE:
            offenders.append(lid)
    for lid, group in stage.resources("aws_security_group").items():
        for inline in group.get("ingress", []):
            if set(inline.get("cidr_blocks", []) + inline.get("ipv6_cidr_blocks", [])) & ANYWHERE:
                offenders.append(lid)
    assert offenders == []
    # ...and the ALB's own ports are really open (the check above would pass on an unreachable ALB)
    assert {("0.0.0.0/0", "alb", 80), ("0.0.0.0/0", "alb", 443)} <= rules(stage, "aws_vpc_security_group_ingress_rule")


def test_no_vpc_internal_cidr_where_a_group_fits(stage, stage_cfg):
    import ipaddress

    vpc = ipaddress.ip_network(stage_cfg.network.vpc_cidr)
    for rule in stage.resources("aws_vpc_security_group_ingress_rule").values():
        if "cidr_ipv4" in rule:
            assert not ipaddress.ip_network(rule["cidr_ipv4"]).subnet_of(vpc), rule


# Internet egress in stage: only what envs/stage.yaml declares under `egress` (task group, port).
STAGE_DECLARED_EGRESS = {("api", 443), ("ollama", 443)}  # LLM provider APIs; Ollama model pulls


def test_egress_is_the_ingress_matrix_read_backwards_plus_what_the_env_file_declares(stage, stage_cfg):
    """A task reaches exactly what admits it (peers, Redis, EFS, the endpoints) plus its declared `egress`;
    no group has a catch-all rule."""
    found = rules(stage, "aws_vpc_security_group_egress_rule")
    by_group: dict[str, set] = {}
    for peer, group, port in found:
        by_group.setdefault(group, set()).add((peer, port))
    for owner in stage_cfg.task_owners():
        admitted = {(dest, port) for source, dest, port in stage_matrix(stage_cfg) if source == owner}
        declared = {("0.0.0.0/0", port) for group, port in STAGE_DECLARED_EGRESS if group == owner}
        assert by_group[owner] == admitted | declared, owner
    assert by_group["api"] >= {("ollama", 11434), ("cache", 6379), ("otel-collector", 4317), ("endpoints", 443)}
    assert by_group["alb"] == {("api", 8000)}  # the ALB reaches its target only
    assert by_group["instances"] == {("0.0.0.0/0", 443), ("efs", 2049), ("grafana", 3000)}
    for answering_only in ("cache", "efs", "endpoints"):  # stateful groups: replies need no egress
        assert answering_only not in by_group


def test_declared_egress_of_a_sidecar_opens_its_hosts_task_to_the_listed_cidrs(synths):
    def declare(data):
        crons_as_sidecars(data)  # stage schedules the crons as tasks of their own; here one joins the api's task
        data["services"]["quality-cron"]["egress"] = [{"port": 8443, "cidrs": ["198.51.100.0/24"],
                                                        "description": "partner API"}]
        data["services"]["grafana"]["egress"] = [443]
    stack = synths.of_data(variant(declare))
    egress = {(peer, group, port) for peer, group, port in rules(stack, "aws_vpc_security_group_egress_rule")
              if "/" in peer}
    assert ("198.51.100.0/24", "api", 8443) in egress and ("0.0.0.0/0", "grafana", 443) in egress
    assert not [e for e in egress if e[1] == "prometheus"]  # nobody else gains anything
    (partner,) = [r for r in stack.resources("aws_vpc_security_group_egress_rule").values()
                  if r.get("cidr_ipv4") == "198.51.100.0/24"]
    assert partner["description"] == "api: partner API"


ALL_PROTOCOLS = {"-1", "all"}


def all_protocol_egress_to_anywhere(stack_json: dict) -> list[str]:
    """Every egress, in any form a construct may write, that allows all protocols to 0.0.0.0/0 or ::/0."""
    resources = stack_json.get("resource", {})
    offenders = []
    for lid, rule in resources.get("aws_vpc_security_group_egress_rule", {}).items():
        if str(rule.get("ip_protocol")) in ALL_PROTOCOLS and {rule.get("cidr_ipv4"), rule.get("cidr_ipv6")} & ANYWHERE:
            offenders.append(lid)
    for lid, rule in resources.get("aws_security_group_rule", {}).items():
        if rule.get("type") == "egress" and str(rule.get("protocol")) in ALL_PROTOCOLS \
                and set(rule.get("cidr_blocks", []) + rule.get("ipv6_cidr_blocks", [])) & ANYWHERE:
            offenders.append(lid)
    for kind in ("aws_security_group", "aws_default_security_group"):
        for lid, group in resources.get(kind, {}).items():
            for inline in group.get("egress", []):
                if str(inline.get("protocol")) in ALL_PROTOCOLS \
                        and set(inline.get("cidr_blocks", []) + inline.get("ipv6_cidr_blocks", [])) & ANYWHERE:
                    offenders.append(lid)
    return offenders


def test_no_all_protocol_egress_to_anywhere(stage, synths):
    """trivy's AWS-0104 is explained for the 443 rules (scan-exceptions.yaml) and checkov's CKV_AWS_382 skips
    rules without ports: this is the check that an all-protocol rule to the internet never comes back."""
    for stack in (stage, synths.of_file(ROOT / "envs" / "dev-eu.yaml")):
        assert stack.resources("aws_vpc_security_group_egress_rule"), "no egress rules synthesized"
        assert all_protocol_egress_to_anywhere(stack.json) == []
    # and every egress to a CIDR is one TCP port: HTTPS from the instances, or what a service declares
    for lid, rule in stage.resources("aws_vpc_security_group_egress_rule").items():
        if rule.get("cidr_ipv4") or rule.get("cidr_ipv6"):
            assert rule["ip_protocol"] == "tcp" and rule["from_port"] == rule["to_port"], lid


def test_all_protocol_egress_check_can_fail():
    rule = {"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}
    hostile = {"resource": {
        "aws_vpc_security_group_egress_rule": {"a": {"ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"},
                                               "ok": {"ip_protocol": "tcp", "cidr_ipv4": "0.0.0.0/0"}},
        "aws_security_group_rule": {"b": {"type": "egress", **rule}},
        "aws_security_group": {"c": {"egress": [{**rule, "cidr_blocks": [], "ipv6_cidr_blocks": ["::/0"]}]}},
    }}
    assert all_protocol_egress_to_anywhere(hostile) == ["a", "b", "c"]


def test_default_security_group_is_closed(stage):
    default = stage.one("aws_default_security_group")
    assert default["vpc_id"].startswith("${aws_vpc.")
    assert "ingress" not in default and "egress" not in default


def test_groups_live_in_the_stack_vpc(stage):
    (vpc_id,) = stage.resources("aws_vpc")
    for group in stage.resources("aws_security_group").values():
        assert group["vpc_id"] == f"${{aws_vpc.{vpc_id}.id}}"
        assert "ingress" not in group and "egress" not in group  # rules are separate resources only


def _lean(data):
    """No Redis, no volumes, no endpoints; Grafana internal but reachable from a VPN range routed into the VPC."""
    data.pop("cache")
    data["volumes"] = {}
    for svc in data["services"].values():
        svc.pop("volumes", None)
    data["network"]["endpoints"] = {"s3": False, "ecr": False, "logs": False, "secretsmanager": False, "ssm": False}
    data["alb"]["grafana"] = {"exposure": "internal", "allowed_cidrs": ["172.20.0.0/22"]}


@pytest.fixture(scope="module")
def lean(synths):
    return synths.of_data(variant(_lean))


def test_optional_groups_exist_only_with_their_feature(lean):
    assert not {"cache", "efs", "endpoints"} & set(group_names(lean).values())
    found = rules(lean, "aws_vpc_security_group_ingress_rule")
    assert not [r for r in found if r[2] in (6379, 2049)]
    egress = {(peer, port) for peer, group, port in rules(lean, "aws_vpc_security_group_egress_rule")
              if group == "instances"}
    assert egress == {("0.0.0.0/0", 443), ("grafana", 3000)}  # no EFS to mount


def test_internal_grafana_range_reaches_grafana_only_on_its_port(lean):
    found = rules(lean, "aws_vpc_security_group_ingress_rule")
    assert {r for r in found if r[0] == "172.20.0.0/22"} == {("172.20.0.0/22", "grafana", 3000)}
    assert {r for r in found if r[1] == "grafana"} == {("172.20.0.0/22", "grafana", 3000), ("instances", "grafana", 3000),
                                                       ("api", "grafana", 3000)}  # stage's allow_from: [api]
    assert ("alb", "grafana", 3000) not in found  # internal: never behind the ALB
