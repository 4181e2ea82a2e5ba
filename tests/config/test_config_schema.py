"""modules/config/ models: stage is the seed inventory, short forms expand, every env file in the repo is valid."""

from __future__ import annotations

from conftest import ROOT, SEED_SERVICE_NAMES, STAGE_FILE, stage_data
from modules.config import Kind, load


def test_stage_is_the_seed_inventory():
    cfg = load(STAGE_FILE)
    # seed §1 lists 11 services; `redis` is ElastiCache (the cache section), the other 10 are ECS containers
    # (stage may add services of its own: the seed's are required, not the only ones)
    assert set(cfg.services) >= SEED_SERVICE_NAMES
    assert "redis" not in cfg.services and cfg.cache is not None
    assert cfg.services["ollama-init"].kind == Kind.init and cfg.services["ollama-init"].init_of == "ollama"
    assert {n for n, s in cfg.services.items() if s.gpu} == {"ollama"}
    assert cfg.capacity_provider_of("ollama") == "gpu"
    assert set(cfg.task_owners()) == set(cfg.services) - {"ollama-init"}
    # the crons run once per interval on their own, not once per api task (issue 16)
    assert {n for n, s in cfg.services.items() if s.kind == Kind.scheduled} == {"quality-cron", "rag-refresh-cron"}


def test_short_forms_expand():
    data = stage_data()
    cfg = load(STAGE_FILE)
    assert data["services"]["ollama"]["image"] == "ollama/ollama:0.3.14"
    assert cfg.services["ollama"].image.public == "ollama/ollama:0.3.14"
    mount = cfg.services["ollama"].volumes[0]
    assert (mount.volume, mount.path, mount.read_only) == ("ollama-home", "/home/ollama", False)
    assert cfg.services["api"].parameters["EXECUTOR_MODE"] == "EXECUTOR_MODE"
    assert cfg.services["api"].health_check.command[0] == "CMD-SHELL"
    assert cfg.services["api"].ports[0].port == 8000


def test_subnets_are_carved_not_typed():
    cfg = load(STAGE_FILE)
    assert cfg.network.subnet_cidrs() == {
        "public": ["10.40.0.0/20", "10.40.16.0/20"],
        "private": ["10.40.32.0/20", "10.40.48.0/20"],
    }


def test_env_files_in_repo_are_valid():
    for path in sorted((ROOT / "envs").glob("*.yaml")):
        load(path)
