"""Placement and sizing: GPUs on GPU providers, scheduled tasks inside their provider's off-hours window,
every task fits its capacity provider."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import modules.config.capacity as capacity
from modules.config.base import Problem
from modules.config.rules.common import only_when_consistent
from modules.config.schedules import WEEKDAYS, describe_run, runs_outside
from modules.config.services import Kind

if TYPE_CHECKING:  # annotations only
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

def scheduled_tasks_run_inside_off_hours(cfg: EnvConfig) -> list[Problem]:
    """A scheduled task placed on a capacity provider with off_hours runs inside the window: outside it the
    provider has no instance, so the task cannot be placed. Every run the expression can fire (cron fields with
    ranges, lists, steps, names, L/W/#; at(...); in the schedule's time zone, read in the window's, daylight
    saving time included) must fall on a window day between start and stop; rate(...) fires around the clock."""
    problems = []
    for sname, svc in cfg.task_owners().items():
        provider = cfg.capacity_provider_of(sname)
        cp = cfg.cluster.capacity_providers.get(provider)
        if svc.kind != Kind.scheduled or cp is None or cp.off_hours is None:
            continue
        window = cp.off_hours
        where = f"capacity provider '{provider}' runs only {window.describe()}"
        allowed = (f"allowed: runs on {window.days} from {window.start} to before {window.stop} {window.timezone}, "
                   f"e.g. {_example_cron(window)} with schedule_timezone {window.timezone}")
        outside = runs_outside(svc.schedule, svc.schedule_timezone, window.day_numbers, _minutes(window.start),
                               _minutes(window.stop), window.timezone, datetime.now().year)
        if outside is None:
            problems.append((("services", sname, "schedule"), f"'{svc.schedule}' fires around the clock, but {where}; "
                             f"{allowed}, or another capacity_provider"))
        elif outside:
            shown = ", ".join(describe_run(*run) for run in outside[:3]) + (", ..." if len(outside) > 3 else "")
            problems.append((("services", sname, "schedule"), f"'{svc.schedule}' ({svc.schedule_timezone}) fires "
                             f"outside the window, at {shown} ({window.timezone}): {where}; {allowed}"))
    return problems


def _minutes(clock: str) -> int:
    return int(clock[:2]) * 60 + int(clock[3:])


def _example_cron(window) -> str:
    """A cron(...) firing hourly inside the window, at its start minute."""
    start, stop = _minutes(window.start), _minutes(window.stop)
    first, last = start // 60, (stop - 1 - start % 60) // 60
    hours = str(first) if first == last else f"{first}-{last}"
    return f"cron({start % 60} {hours} ? * {_cron_days(window.day_numbers)} *)"


def _cron_days(days: list[int]) -> str:
    """Window days (0 = Sunday) as cron day-of-week names, e.g. MON-FRI (cron numbers 1 = SUN)."""
    names = [WEEKDAYS[d] for d in days]
    if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        return f"{names[0]}-{names[-1]}"
    return ",".join(names)


@only_when_consistent
def tasks_fit_capacity(cfg: EnvConfig) -> list[Problem]:
    """Every task fits one instance of its capacity provider, and all tasks at their maximum counts fit
    instance x max_size (modules/config/capacity.py); the instance types are known and agree with `gpu`."""
    return [(tuple(path.split(".")), msg) for path, msg in capacity.fit_problems(cfg)]
