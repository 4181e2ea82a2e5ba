"""modules/volumes.py: the seed's persistent volumes on one encrypted EFS, owned by the user each image runs as."""

from __future__ import annotations

from conftest import ROOT, variant
from test_workload import scheduled_without_volumes

# Seed §3.2 persistent volumes and the uid:gid the images run as (prometheus nobody, grafana 472,
# tempo 10001, ollama root): a wrong owner is the classic "permission denied" on first start.
OWNERS = {"prometheus-data": (65534, 65534), "grafana": (472, 0), "tempo-data": (10001, 10001), "ollama-home": (1001, 1001),
          "rag": (1000, 1000)}


def _access_points(stack) -> dict[str, dict]:
    return {ap["root_directory"]["path"].lstrip("/"): ap for ap in stack.resources("aws_efs_access_point").values()}


def test_one_encrypted_file_system(stage, stage_cfg):
    fs = stage.one("aws_efs_file_system")
    assert fs["encrypted"] is True
    assert fs["throughput_mode"] == stage_cfg.volumes_throughput_mode
    assert stage.json["output"]["efs_file_system_id"]["value"].startswith("${aws_efs_file_system.")


def test_access_point_owners(stage):
    points = _access_points(stage)
    assert set(points) == set(OWNERS)
    for name, (uid, gid) in OWNERS.items():
        ap = points[name]
        assert ap["posix_user"] == {"uid": uid, "gid": gid}  # enforced identity of every NFS call
        creation = ap["root_directory"]["creation_info"]
        assert (creation["owner_uid"], creation["owner_gid"]) == (uid, gid)
        assert creation["permissions"] == "0750"


def test_mount_target_per_private_subnet(stage, synths):
    for stack, az_count in ((stage, 2), (synths.of_file(ROOT / "envs" / "dev-eu.yaml"), 3)):
        targets = stack.resources("aws_efs_mount_target").values()
        subnets = sorted(t["subnet_id"] for t in targets)
        assert len(subnets) == az_count and all("network_private_" in s for s in subnets)
        assert all(len(t["security_groups"]) == 1 and "aws_security_group." in t["security_groups"][0]
                   for t in targets)


def test_file_system_policy_denies_plaintext(stage):
    policy = stage.one("aws_efs_file_system_policy")
    document_key = policy["policy"].split(".")[2]  # ${data.aws_iam_policy_document.<key>.json}
    statements = stage.data("aws_iam_policy_document")[document_key]["statement"]
    assert statements == [{
        "sid": "DenyWithoutTls", "effect": "Deny", "actions": ["*"],
        "principals": [{"type": "AWS", "identifiers": ["*"]}],
        "resources": [statements[0]["resources"][0]],
        "condition": [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}],
    }]
    assert statements[0]["resources"][0].startswith("${aws_efs_file_system.")


def test_no_volumes_no_file_system(synths):
    other = synths.of_data(variant(scheduled_without_volumes))
    for rtype in ("aws_efs_file_system", "aws_efs_mount_target", "aws_efs_access_point", "aws_efs_file_system_policy"):
        assert not other.resources(rtype), rtype
    assert "efs_file_system_id" not in other.json.get("output", {})


def test_the_rag_index_is_one_shared_volume_where_rag_index_path_points(stage, stage_cfg):
    """issue 16: the indexer wrote its index into its own container filesystem, lost when the job exited;
    the api read its image's copy. Both now mount the same access point, and RAG_INDEX_PATH is inside it."""
    import json

    index_path = stage_cfg.parameters["RAG_INDEX_PATH"]
    access_points = {}
    for td in stage.resources("aws_ecs_task_definition").values():
        owner = td["family"].removeprefix("araquem-stage-")
        if owner not in ("api", "rag-indexer"):
            continue
        [container] = [d for d in json.loads(td["container_definitions"]) if d["name"] == owner]
        mounts = [m for m in container["mountPoints"] if index_path.startswith(m["containerPath"].rstrip("/") + "/")]
        assert len(mounts) == 1, f"{owner}: RAG_INDEX_PATH {index_path} is not on one mounted volume"
        assert mounts[0]["readOnly"] is False  # the indexer builds it, the api's refresh updates it
        [volume] = [v for v in td["volume"] if v["name"] == mounts[0]["sourceVolume"]]
        access_points[owner] = volume["efs_volume_configuration"]["authorization_config"]["access_point_id"]
        # the container runs as the access point's owner (EFS enforces that identity on every call)
        assert container["user"] == "{}:{}".format(*OWNERS["rag"])
    assert access_points["api"] == access_points["rag-indexer"]
    assert "access_point_rag_" in access_points["api"]
    # both get the same RAG_INDEX_PATH (the api from the seed's variables, the indexer to write there)
    for owner in ("api", "rag-indexer"):
        assert stage_cfg.services[owner].parameters["RAG_INDEX_PATH"] == "RAG_INDEX_PATH"
