"""modules/config/rules/volumes.py: no volume owned by root; a container mounting a volume runs as its owner."""

from __future__ import annotations

import pytest

from config_mutations import all_of, case_id, check_rule_case, delete_path, set_path, unchanged
from modules.config.rules import volumes as R

CASES = [
    # ollama/ollama as the seed ran it: root, on a root-owned access point
    (R.volumes_run_as_their_non_root_owner,
     all_of(set_path("volumes.ollama-home", {"uid": 0, "gid": 0}), delete_path("services.ollama.user")),
     "volumes.ollama-home.uid", ["0 is root", "ClientRootAccess", "HOME on the volume"]),
    # a public image mounting a volume with `user` unset runs as its default user (root for ollama)
    (R.volumes_run_as_their_non_root_owner, delete_path("services.ollama.user"), "services.ollama.user",
     ["mounts volume 'ollama-home'", "leaves `user` unset", 'set user: "1001:1001"']),
    (R.volumes_run_as_their_non_root_owner, set_path("services.prometheus.user", "0:0"), "services.prometheus.user",
     ["runs as '0:0' (root)", 'set user: "65534:65534"']),
    (R.volumes_run_as_their_non_root_owner, set_path("services.prometheus.user", "root"), "services.prometheus.user",
     ["runs as 'root' (root)"]),
    (R.volumes_run_as_their_non_root_owner, unchanged, None, []),
    (R.volumes_run_as_their_non_root_owner, set_path("services.grafana.user", "472"), None, []),  # uid alone
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)
