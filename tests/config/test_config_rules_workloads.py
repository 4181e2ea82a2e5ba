"""modules/config/rules/workloads.py: loop sidecars run once, readers mount the writer's volume, container
users own the volumes they mount."""

from __future__ import annotations

import pytest

from config_mutations import all_of, case_id, check_rule_case, delete_path, set_path, unchanged
from modules.config.rules import workloads as R


def _cron_as_sidecar_of_api(data):
    """quality-cron as a sidecar of the api, as compose ran it (a loop next to the api), no `loop` said."""
    cron = data["services"]["quality-cron"]
    for key in ("kind", "schedule", "schedule_timezone", "failure_alarm"):
        cron.pop(key, None)
    cron.update(kind="sidecar", sidecar_of="api")


CASES = [
    # stage's api scales 1-3: a loop sidecar would run up to three times per interval
    (R.loop_sidecars_run_in_one_task, _cron_as_sidecar_of_api, "services.quality-cron.kind",
     ["loop sidecar (a sidecar without ports) of 'api'", "up to 3 tasks", "services.api.scaling.max 3",
      "kind: scheduled"]),
    (R.loop_sidecars_run_in_one_task, all_of(_cron_as_sidecar_of_api, delete_path("services.api.scaling"),
                                             set_path("services.api.desired_count", 2)),
     "services.quality-cron.kind", ["up to 2 tasks", "services.api.desired_count 2"]),
    # a host that never runs more than one task keeps its loop sidecar
    (R.loop_sidecars_run_in_one_task, all_of(_cron_as_sidecar_of_api, delete_path("services.api.scaling")), None, []),
    # a per-task helper said so
    (R.loop_sidecars_run_in_one_task, all_of(_cron_as_sidecar_of_api, set_path("services.quality-cron.loop", False)),
     None, []),
    (R.loop_sidecars_run_in_one_task, unchanged, None, []),
    # the api reads RAG_INDEX_PATH, which rag-indexer writes on the rag volume: without the mount it never sees it
    (R.readers_mount_the_writers_volume, set_path("services.api.volumes", []), "services.api.parameters.RAG_INDEX_PATH",
     ["'/app/data/rag/index' is under rag-indexer's mount of volume 'rag'", "api mounts no volume there",
      "'rag:/app/data/rag' to services.api.volumes"]),
    # ...and the shared volume mounted one level up names other files by the same path
    (R.readers_mount_the_writers_volume, set_path("services.api.volumes", ["rag:/app/data"]),
     "services.api.parameters.RAG_INDEX_PATH", ["on volume 'rag' in both", "api mounts it at /app/data",
                                                "rag-indexer at /app/data/rag", "mount it at /app/data/rag"]),
    # a volume of its own at that path holds its own data (two services may both keep theirs under /data)
    (R.readers_mount_the_writers_volume, all_of(set_path("volumes.api-rag", {"uid": 1000, "gid": 1000}),
                                                set_path("services.api.volumes", ["api-rag:/app/data/rag"])),
     None, []),
    # a read-only mount of the writer's volume is a reader's: rag-indexer reading it does not make it written
    (R.readers_mount_the_writers_volume, all_of(set_path("services.api.volumes", []),
                                                set_path("services.rag-indexer.volumes", ["rag:/app/data/rag:ro"])),
     None, []),
    (R.readers_mount_the_writers_volume, unchanged, None, []),
    (R.volume_users_own_their_volumes, set_path("services.grafana.user", "1000:1000"), "services.grafana.user",
     ["'1000:1000' but volume 'grafana'", "owned by 472:0", "run as \"472:0\""]),
    (R.volume_users_own_their_volumes, set_path("services.grafana.user", "0"), None, []),
    (R.volume_users_own_their_volumes, unchanged, None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)
