"""What holds for every correct env file, checked on each environment the repository ships (envs/*.yaml):
no test here names a service, a count or a size of stage, so adding, removing or resizing a service in an
env file keeps it green while it is still a correct env file.

The generator's behaviour is pinned by the construct and rule tests on small fixture env files; these are
the invariants of a working environment: every port has someone who may call it, the tasks fit their
capacity providers, every secret, parameter and volume defined is used by a task.
"""

from __future__ import annotations

import pytest

from conftest import ROOT
from modules.config import capacity, load

ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


@pytest.fixture(scope="module", params=ENV_FILES, ids=[p.stem for p in ENV_FILES])
def cfg(request):
    return load(request.param)


def test_every_served_port_has_a_caller(cfg):
    """A long-running service's port that nothing may reach (no allow_from, not the ALB's target) serves nobody."""
    edge_targets = {(cfg.alb.target.service, cfg.alb.target.port)}
    grafana = getattr(cfg.alb, "grafana", None)
    if grafana is not None and getattr(grafana, "target", None) is not None:
        edge_targets.add((grafana.target.service, grafana.target.port))
    unreachable = []
    for owner, service in cfg.task_owners().items():
        if service.kind.value != "service":
            continue
        for port, sources in cfg.port_sources(owner).items():
            container = next((name for name, c in cfg.containers_of(owner).items()
                              if any(pm.port == port for pm in c.ports)), owner)
            if not sources and (container, port) not in edge_targets and (owner, port) not in edge_targets:
                unreachable.append(f"{container}:{port}")
    assert not unreachable, f"ports nobody may call: {unreachable}"


def test_tasks_fit_their_capacity_providers(cfg):
    assert capacity.fit_problems(cfg) == []
    for key, use in capacity.usage(cfg).items():
        assert use.tasks, f"capacity provider {key} runs no task"


def _secret_readers(cfg) -> set[str]:
    read = {name for service in cfg.services.values()
            for name in [*service.secrets.values(), *service.secrets_from]}
    read.add(cfg.registry.docker_hub_secret)
    oidc = getattr(getattr(cfg.alb, "grafana", None), "oidc", None)
    if oidc is not None:
        read.add(oidc.client_secret)
    return {name.split(":", 1)[0] for name in read if name}


def test_every_secret_is_read_by_someone(cfg):
    unread = sorted(set(cfg.secrets) - _secret_readers(cfg))
    assert not unread, f"secrets no task, registry or identity provider reads: {unread}"


def test_every_parameter_is_read_by_someone(cfg):
    read = {key for service in cfg.services.values() for key in service.parameters.values()}
    unread = sorted(set(cfg.parameters) - read)
    assert not unread, f"parameters no task reads: {unread}"


def test_every_volume_is_mounted_by_someone(cfg):
    mounted = {mount.volume for service in cfg.services.values() for mount in service.volumes}
    unmounted = sorted(set(cfg.volumes) - mounted)
    assert not unmounted, f"volumes no task mounts: {unmounted}"


def test_the_invariants_see_a_broken_env_file(tmp_path):
    """A small env file (tests/fixtures/envs/overlay/base.yaml) given an unread secret, an unread parameter, an
    unmounted volume and a port nobody may call: each check above reports it."""
    text = (ROOT / "tests/fixtures/envs/overlay/base.yaml").read_text()
    text += ("secrets:\n  orphan-token: {generate: true}\nparameters:\n  ORPHAN_URL: http://nowhere\n"
             "volumes:\n  orphan-data: {uid: 1000, gid: 1000}\n")
    text = text.replace("    memory: 256\n", "    memory: 256\n    ports: [9000]\n", 1)  # the worker serves nobody
    (tmp_path / "broken.yaml").write_text(text)
    broken = load(tmp_path / "broken.yaml")
    checks = [test_every_served_port_has_a_caller, test_every_secret_is_read_by_someone,
              test_every_parameter_is_read_by_someone, test_every_volume_is_mounted_by_someone]
    for check in checks:
        with pytest.raises(AssertionError, match="worker:9000|orphan-token|ORPHAN_URL|orphan-data"):
            check(broken)
