"""Container hardening, read from the synthesized task definitions (checkov cannot see inside
`container_definitions`, a JSON string in cdk.tf.json, and its privileged-container check is broken).

Every container: not privileged, no added Linux capabilities, no host devices; every task: no host
network, PID or IPC namespace, no host-path volumes. Where the env file sets `user` or
`read_only_root`, the container carries it.
"""

from __future__ import annotations

import json

HOST_NAMESPACE_ATTRS = ("network_mode", "pid_mode", "ipc_mode")


def containers(stack) -> dict[str, tuple[str, dict]]:
    """container name -> (task definition address, container definition)."""
    found: dict[str, tuple[str, dict]] = {}
    for address, task in stack.resources("aws_ecs_task_definition").items():
        for container in json.loads(task["container_definitions"]):
            assert container["name"] not in found, f"container {container['name']} is defined twice"
            found[container["name"]] = (address, container)
    return found


def task_violations(address: str, task: dict) -> list[str]:
    problems = [f"{address}: {attr} = host" for attr in HOST_NAMESPACE_ATTRS if task.get(attr) == "host"]
    for volume in task.get("volume", []):
        if volume.get("host_path"):
            problems.append(f"{address}: volume {volume.get('name')} mounts host path {volume['host_path']}")
    return problems


def container_violations(address: str, container: dict) -> list[str]:
    where = f"{address}/{container['name']}"
    problems = []
    if container.get("privileged"):
        problems.append(f"{where}: privileged")
    linux = container.get("linuxParameters") or {}
    if (linux.get("capabilities") or {}).get("add"):
        problems.append(f"{where}: adds capabilities {linux['capabilities']['add']}")
    if linux.get("devices"):
        problems.append(f"{where}: maps host devices")
    return problems


def all_violations(stack) -> list[str]:
    problems = []
    for address, task in stack.resources("aws_ecs_task_definition").items():
        problems += task_violations(address, task)
    for address, container in containers(stack).values():
        problems += container_violations(address, container)
    return problems


def test_every_seed_service_is_a_container(stage, stage_cfg):
    """The checks below cover the whole stack: each service of the env file is a container somewhere."""
    assert sorted(containers(stage)) == sorted(stage_cfg.services)


def test_stage_containers_are_hardened(stage):
    assert stage.resources("aws_ecs_task_definition"), "no task definitions synthesized"
    assert all_violations(stage) == []


def test_user_from_the_env_file_is_kept(stage, stage_cfg):
    found = containers(stage)
    with_user = {name: svc.user for name, svc in stage_cfg.services.items() if svc.user}
    assert with_user, "stage.yaml sets `user` on prometheus, grafana and tempo"
    assert {name: found[name][1].get("user") for name in with_user} == with_user
    # and nobody else is switched to root behind the env file's back
    for name, (_, container) in found.items():
        if name not in with_user:
            assert container.get("user") in (None, ""), f"{name}: user {container.get('user')} not in the env file"


def test_read_only_root_where_set(stage, stage_cfg):
    wanted = {name: svc.read_only_root for name, svc in stage_cfg.services.items()}
    assert set(wanted.values()) == {True, False}, "stage.yaml mixes read-only and writable roots"
    found = containers(stage)
    assert {name: bool(found[name][1].get("readonlyRootFilesystem")) for name in wanted} == wanted


def test_checker_reports_each_violation():
    """The checks above can fail: a hostile task definition trips every rule."""
    task = {"network_mode": "host", "pid_mode": "host", "ipc_mode": "host",
            "volume": [{"name": "sock", "host_path": "/var/run/docker.sock"}]}
    container = {"name": "bad", "privileged": True,
                 "linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}, "devices": [{"hostPath": "/dev/mem"}]}}
    problems = task_violations("t", task) + container_violations("t", container)
    assert len(problems) == 7, problems


# Containers of stage that keep a writable root filesystem, and why (each other container is read-only,
# writing only to its EFS volumes and a task-scoped /tmp).
STAGE_WRITABLE_ROOTS = {
    "api": "the app repository's image: its write paths are not known here (RAG_INDEX_PATH under /app/data)",
    "rag-indexer": "the app repository's image: it writes the RAG index it builds",
    "ollama-init": "the ollama client writes its key pair under ~/.ollama, which is not mounted in this container",
}


def test_read_only_root_everywhere_but_the_listed_images(stage, stage_cfg):
    from test_workload import SEED_SERVICES  # here: test_workload imports this module
    writable = {name for name, (_, c) in containers(stage).items() if not c.get("readonlyRootFilesystem")}
    assert writable == {name for name, svc in stage_cfg.services.items() if not svc.read_only_root}
    assert writable & {row[0] for row in SEED_SERVICES} == set(STAGE_WRITABLE_ROOTS)
    for name, (_, container) in containers(stage).items():
        if container.get("readonlyRootFilesystem"):  # somewhere to write: /tmp on a task-scoped volume
            assert "/tmp" in {m["containerPath"] for m in container.get("mountPoints", [])}, name
