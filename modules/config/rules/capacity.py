"""Placement and sizing: GPUs on GPU providers, scheduled tasks inside their provider's off-hours window,
every task fits its capacity provider."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modules.config import capacity
from modules.config.base import Problem
from modules.config.rules.common import only_when_consistent
from modules.config.services import Kind

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig


def gpus_on_gpu_providers(cfg: EnvConfig) -> list[Problem]:
    """A service asking for GPUs runs on a capacity provider with gpu: true."""
    problems = []
    for sname, svc in cfg.services.items():
        if not svc.gpu:
            continue
        provider = cfg.capacity_provider_of(sname)
        cp = cfg.cluster.capacity_providers.get(provider)
        if cp is not None and not cp.gpu:
            gpu_cps = [n for n, c in cfg.cluster.capacity_providers.items() if c.gpu]
            problems.append((("services", sname, "gpu"),
                             f"{svc.gpu} GPU(s) requested but capacity provider '{provider}' has no GPU; "
                             f"set capacity_provider to one of {gpu_cps or '(none: add one with gpu: true)'}"))
    return problems

# EventBridge Scheduler cron(minutes hours day-of-month month day-of-week year) at one fixed time of day
FIXED_TIME_CRON = re.compile(r"^cron\((\d{1,2}) (\d{1,2}) ")


def scheduled_tasks_run_inside_off_hours(cfg: EnvConfig) -> list[Problem]:
    """A scheduled task placed on a capacity provider with off_hours runs inside the window: outside it the
    provider has no instance, so the task cannot be placed. rate(...) fires around the clock; a cron(...) at a
    fixed time in the window's time zone must fall between start and stop (other crons are not judged)."""
    problems = []
    for sname, svc in cfg.task_owners().items():
        provider = cfg.capacity_provider_of(sname)
        cp = cfg.cluster.capacity_providers.get(provider)
        if svc.kind != Kind.scheduled or cp is None or cp.off_hours is None:
            continue
        window = cp.off_hours
        where = f"capacity provider '{provider}' runs only {window.describe()}"
        fixed = FIXED_TIME_CRON.match(svc.schedule)
        if svc.schedule.startswith("rate("):
            problems.append((("services", sname, "schedule"), f"'{svc.schedule}' fires around the clock, but {where}; "
                             "use a cron(...) inside the window or another capacity_provider"))
        elif fixed and svc.schedule_timezone == window.timezone and not window.covers(int(fixed[2]), int(fixed[1])):
            problems.append((("services", sname, "schedule"), f"'{svc.schedule}' ({svc.schedule_timezone}) falls "
                             f"outside the window: {where}"))
    return problems



@only_when_consistent
def tasks_fit_capacity(cfg: EnvConfig) -> list[Problem]:
    """Every task fits one instance of its capacity provider, and all tasks at their maximum counts fit
    instance x max_size (modules/config/capacity.py); the instance types are known and agree with `gpu`."""
    return [(tuple(path.split(".")), msg) for path, msg in capacity.fit_problems(cfg)]
