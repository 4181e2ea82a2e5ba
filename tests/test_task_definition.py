"""modules/task_definition.py: awsvpc/EC2 task definitions, start order inside a task, log groups, volumes."""

from __future__ import annotations

import json

from test_workload import containers, policy_statements, task_definitions


def test_depends_on_conditions(stage):
    found = containers(stage)
    assert found["ollama-init"][1]["dependsOn"] == [{"containerName": "ollama", "condition": "HEALTHY"}]
    for cron in ("quality-cron", "rag-refresh-cron"):  # scheduled tasks of their own: they wait for the
        definition = found[cron][1]                   # api's /healthz themselves (docker/lib/ops-http.sh)
        assert found[cron][0] == cron and "dependsOn" not in definition and definition["essential"] is True
    assert "healthCheck" in found["api"][1] and "healthCheck" in found["ollama"][1]
    # across tasks there is no dependsOn (ECS cannot order services; docs/workloads.md "Start order")
    assert "dependsOn" not in found["otel-collector"][1] and "dependsOn" not in found["api"][1]


def test_task_definitions_are_awsvpc_ec2_and_sized_by_their_containers(stage):
    for owner, td in task_definitions(stage).items():
        defs = json.loads(td["container_definitions"])
        assert td["network_mode"] == "awsvpc" and td["requires_compatibilities"] == ["EC2"]
        assert int(td["cpu"]) == sum(d["cpu"] for d in defs)
        assert int(td["memory"]) == sum(d["memory"] for d in defs)
        for d in defs:
            assert d["privileged"] is False and d["linuxParameters"]["initProcessEnabled"] is True


def test_one_log_group_per_container_with_retention(stage, stage_cfg):
    groups = {g["name"]: g for g in stage.resources("aws_cloudwatch_log_group").values()
              if g["name"].startswith("/ecs/araquem-stage/")}
    assert set(groups) == {f"/ecs/araquem-stage/{name}" for name in containers(stage)}
    assert {g["retention_in_days"] for g in groups.values()} == {stage_cfg.logs.retention_days}
    for name, (_, definition) in containers(stage).items():
        options = definition["logConfiguration"]["options"]
        assert f"log_group_{name}_" in options["awslogs-group"] and options["awslogs-region"] == "us-east-1"


def test_task_volumes_use_tls_and_iam_with_their_own_access_point(stage):
    expected = {"ollama": ["ollama-home"], "prometheus": ["prometheus-data"], "grafana": ["grafana"],
                "tempo": ["tempo-data"], "api": ["rag"], "rag-indexer": ["rag"]}
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
            # no volume is root's (rules/volumes.py): no task may act as root on the file system
            assert "elasticfilesystem:ClientRootAccess" not in statements[0]["actions"]
