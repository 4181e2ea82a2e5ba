"""modules/config/capacity.py: what each capacity provider must hold, and the synth-time fit check.

Pure Python (no synth): the configs are validated with the schema minus the fit rule, then checked directly.
"""

from __future__ import annotations

import math

import pytest

from conftest import ROOT, SEED_SERVICE_NAMES, seed_services_only, variant
from modules.config import capacity
from modules.config.capacity import (
    CPU_UNITS_PER_VCPU,
    ECS_RESERVED_MEMORY_MIB,
    INSTANCE_SPECS,
    MAX_NETWORK_INTERFACES,
    PLATFORM_MEMORY_OVERHEAD_PERCENT,
    awsvpc_tasks_per_instance,
    fit_problems,
    usage,
)
from modules.config import EnvConfig, load


def cfg_of(mutate) -> EnvConfig:
    """stage.yaml changed by `mutate`, validated by the schema without the fit rule (the fit check is what we test)."""
    return EnvConfig.model_validate(variant(mutate), context={"skip_rules": {"tasks_fit_capacity"}})


def paths(problems) -> list[str]:
    return [p for p, _ in problems]


def test_env_files_in_repo_fit():
    for path in sorted((ROOT / "envs").glob("*.yaml")):
        assert fit_problems(load(path)) == [], path


def test_gpu_provider_holds_ollama_with_its_init_container(stage_cfg):
    gpu = usage(stage_cfg)["gpu"]
    containers = stage_cfg.containers_of("ollama")
    assert set(containers) == {"ollama", "ollama-init"}  # the init container is part of the task
    assert gpu.tasks == [("ollama", 1)]
    assert gpu.memory_mib_needed == sum(c.memory for c in containers.values())
    assert gpu.cpu_units_needed == sum(c.cpu_units for c in containers.values())
    assert gpu.gpus_needed == stage_cfg.services["ollama"].gpu == 1
    spec = INSTANCE_SPECS[stage_cfg.cluster.capacity_providers["gpu"].instance_type]
    assert gpu.gpus_available == spec.gpus * stage_cfg.cluster.capacity_providers["gpu"].max_size


def test_services_count_at_their_scaling_maximum_and_jobs_once(stage_cfg):
    general = dict(usage(stage_cfg)["general"].tasks)
    assert general["api"] == stage_cfg.services["api"].scaling.max  # 3, not desired_count 1
    assert general["rag-indexer"] == 1  # a job runs one task at a time
    assert general["quality-cron"] == general["rag-refresh-cron"] == 1  # scheduled: one task per run
    assert "ollama" not in general  # other provider


def test_agent_reserve_is_taken_off_the_advertised_memory():
    spec = INSTANCE_SPECS["g5.xlarge"]
    assert (spec.vcpus, spec.memory_mib, spec.gpus) == (4, 16384, 1)  # EC2: 4 vCPU, 16 GiB, 1 A10G
    visible = spec.memory_mib * (100 - PLATFORM_MEMORY_OVERHEAD_PERCENT) // 100
    assert spec.task_memory_mib == visible - ECS_RESERVED_MEMORY_MIB < spec.memory_mib
    assert spec.task_cpu_units == 4 * CPU_UNITS_PER_VCPU


def test_ollama_of_64_gb_on_g5_xlarge_is_rejected_with_the_shortfall():
    cfg = cfg_of(lambda d: d["services"]["ollama"].update(memory=65536))
    problems = fit_problems(cfg)
    assert paths(problems) == ["services.ollama.memory"]  # one clear line, no follow-on total error
    needed = 65536 + cfg.services["ollama-init"].memory
    available = INSTANCE_SPECS["g5.xlarge"].task_memory_mib
    msg = problems[0][1]
    assert f"task 'ollama' needs {needed} MiB" in msg and "g5.xlarge" in msg
    assert f"short by {needed - available} MiB" in msg


def test_a_larger_gpu_instance_makes_the_same_ollama_fit():
    def mutate(d):
        d["services"]["ollama"]["memory"] = 65536
        d["cluster"]["capacity_providers"]["gpu"]["instance_type"] = "g5.8xlarge"  # 128 GiB

    assert fit_problems(cfg_of(mutate)) == []


@pytest.mark.parametrize("field,value,words", [
    ("cpu", 8, ["8 vCPU", "g5.xlarge offers 4 vCPU"]),
    ("gpu", 2, ["needs 2 GPU(s)", "has 1", "short by 1"]),
])
def test_one_task_must_fit_one_instance(field, value, words):
    problems = fit_problems(cfg_of(lambda d: d["services"]["ollama"].update({field: value})))
    assert paths(problems) == [f"services.ollama.{field}"]
    assert all(w in problems[0][1] for w in words), problems


def test_total_beyond_max_size_names_the_provider_and_the_max_size_that_fits():
    cfg = cfg_of(lambda d: d["services"]["api"].update(scaling={"min": 1, "max": 12}))
    problems = fit_problems(cfg)
    assert paths(problems) == ["cluster.capacity_providers.general.max_size"]
    use = usage(cfg)["general"]
    spec = INSTANCE_SPECS[use.instance_type]
    # 19 tasks at 3 per m6i.xlarge (ENIs) need more instances than their CPU (17 vCPU on 4-vCPU instances)
    enough = math.ceil(use.task_count / use.tasks_per_instance)
    assert enough > math.ceil(use.cpu_units_needed / spec.task_cpu_units)
    assert use.cpu_units_needed > use.cpu_units_available
    assert f"raise max_size to at least {enough}" in problems[0][1] and "api x12" in problems[0][1]

    # the suggestion is right: with that max_size everything fits
    def fixed(d):
        d["services"]["api"]["scaling"] = {"min": 1, "max": 12}
        d["cluster"]["capacity_providers"]["general"]["max_size"] = enough

    assert fit_problems(cfg_of(fixed)) == []


def test_each_awsvpc_task_takes_a_network_interface_and_the_instance_keeps_one():
    """ECS: one ENI per awsvpc task; without trunking an m6i.xlarge (4 ENIs) holds 3 tasks."""
    assert MAX_NETWORK_INTERFACES["m6i.xlarge"] == 4 and awsvpc_tasks_per_instance("m6i.xlarge") == 3
    assert set(MAX_NETWORK_INTERFACES) == set(INSTANCE_SPECS)  # a row for every supported type
    assert all(enis >= 2 for enis in MAX_NETWORK_INTERFACES.values())


def test_network_interfaces_alone_can_outgrow_max_size():
    """stage's general provider at max_size 3: CPU (8 of 12 vCPU) and memory fit, but 10 tasks need 10 ENIs
    and 3 x m6i.xlarge attach 9 for tasks: the crons would never start while the api is scaled out."""
    def max_3(d):
        seed_services_only(d)  # the counts below are the seed's tasks
        d["cluster"]["capacity_providers"]["general"].update(max_size=3, desired_capacity=3)

    cfg = cfg_of(max_3)
    use = usage(cfg)["general"]
    assert use.cpu_units_needed <= use.cpu_units_available and use.memory_mib_needed <= use.memory_mib_available
    assert (use.task_count, use.task_slots) == (10, 9)
    problems = fit_problems(cfg)
    assert paths(problems) == ["cluster.capacity_providers.general.max_size"]
    msg = problems[0][1]
    assert "10 network interfaces (one per awsvpc task) > 9" in msg
    assert "m6i.xlarge attaches 4, one is the instance's own: 3 tasks per instance" in msg
    assert "raise max_size to at least 4" in msg and "awsvpcTrunking" in msg
    assert fit_problems(cfg_of(lambda d: [seed_services_only(d),
                                          d["cluster"]["capacity_providers"]["general"].update(max_size=4)])) == []


def test_stage_desired_capacity_holds_its_services_and_a_cron_run(stage_cfg):
    """The services at their desired counts plus both crons running: the ENIs decide (7 tasks, 3 per instance)."""
    general = stage_cfg.cluster.capacity_providers["general"]
    running = [o for o, s in stage_cfg.task_owners().items()
               if stage_cfg.capacity_provider_of(o) == "general" and s.kind.value in ("service", "scheduled")]
    count = {o: stage_cfg.services[o].desired_count if stage_cfg.services[o].kind.value == "service" else 1
             for o in running}
    tasks = sum(count.values())
    assert sum(n for o, n in count.items() if o in SEED_SERVICE_NAMES) == 7  # the seed's; stage may add more
    assert general.desired_capacity == math.ceil(tasks / awsvpc_tasks_per_instance(general.instance_type))


def test_unknown_instance_type_lists_the_supported_ones():
    cfg = cfg_of(lambda d: d["cluster"]["capacity_providers"]["general"].update(instance_type="m6i.xlarg"))
    problems = fit_problems(cfg)
    assert paths(problems) == ["cluster.capacity_providers.general.instance_type"]
    assert "'m6i.xlarg' is not supported" in problems[0][1]
    assert all(t in problems[0][1] for t in INSTANCE_SPECS)


def test_gpu_flag_and_instance_type_must_agree():
    no_gpu = fit_problems(cfg_of(lambda d: d["cluster"]["capacity_providers"]["gpu"].update(instance_type="m6i.xlarge")))
    assert paths(no_gpu) == ["cluster.capacity_providers.gpu.instance_type"] and "has no GPU" in no_gpu[0][1]

    unused = fit_problems(cfg_of(lambda d: d["cluster"]["capacity_providers"]["general"].update(instance_type="g4dn.xlarge")))
    assert paths(unused) == ["cluster.capacity_providers.general.instance_type"] and "gpu: false" in unused[0][1]


def test_supported_types_are_consistent():
    for name, spec in INSTANCE_SPECS.items():
        assert spec.vcpus > 0 and spec.memory_mib > 0 and spec.task_memory_mib > 0, name
        assert (spec.gpus > 0) == (spec.gpu_model is not None), name
    assert capacity.INSTANCE_SPECS["g4dn.xlarge"].gpus == 1  # the cheaper GPU option is supported


def test_stage_sizing_follows_seed_section_6(stage_cfg):
    # seed §6: Ollama 4-8 vCPU / 8-16 GB; the issue puts it alone on the GPU provider, the rest on general
    ollama = stage_cfg.services["ollama"]
    assert 4 <= ollama.cpu <= 8 and 8 * 1024 <= ollama.memory <= 16 * 1024
    placed = {owner: stage_cfg.capacity_provider_of(owner) for owner in stage_cfg.task_owners()}
    assert {o for o, key in placed.items() if key == "gpu"} == {"ollama"}
    assert set(placed.values()) == {"general", "gpu"}
