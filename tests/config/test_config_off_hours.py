"""modules/config.py OffHours: the window a capacity provider runs in (cluster.capacity_providers.<name>.off_hours)."""

from __future__ import annotations

import pytest
import yaml

from conftest import run_main, variant
from modules.config import ConfigError, load
from modules.config.compute import OffHours


def test_stage_gpu_runs_working_hours_in_sao_paulo(stage_cfg):
    window = stage_cfg.cluster.capacity_providers["gpu"].off_hours
    assert (window.timezone, window.days, window.start, window.stop) == ("America/Sao_Paulo", "mon-fri", "08:00", "20:00")
    assert window.hours_per_week == 60
    assert stage_cfg.cluster.capacity_providers["general"].off_hours is None


@pytest.mark.parametrize("days, numbers, names", [
    ("mon-fri", "1,2,3,4,5", "MON,TUE,WED,THU,FRI"),
    ("mon-wed,fri", "1,2,3,5", "MON,TUE,WED,FRI"),
    ("sat-sun", "0,6", "SUN,SAT"),
    ("daily", "0,1,2,3,4,5,6", "SUN,MON,TUE,WED,THU,FRI,SAT"),
])
def test_days_become_both_cron_dialects(days, numbers, names):
    window = OffHours(days=days, start="07:05", stop="19:30")
    assert window.asg_recurrence(window.start) == f"5 7 * * {numbers}"  # Auto Scaling: unix cron, 0 = Sunday
    assert window.appautoscaling_schedule(window.stop) == f"cron(30 19 ? * {names} *)"


def test_defaults_are_named_and_documented():
    window = OffHours()
    assert (window.timezone, window.days, window.start, window.stop) == ("UTC", "mon-fri", "08:00", "20:00")


@pytest.mark.parametrize("change, field, words", [
    ({"timezone": "America/Sao_Paolo"}, "timezone", "not an IANA time zone"),
    ({"days": "fri-mon"}, "days", "runs forward through the week"),
    ({"days": "weekdays"}, "days", "days are mon, tue"),
    ({"start": "8:00"}, "start", "is not a time HH:MM"),
    ({"stop": 1200}, "stop", "unquoted time as the number 1200"),  # YAML 1.1: stop: 20:00
    ({"start": "20:00", "stop": "08:00"}, "", "must be after start 20:00"),
    ({"at": "night"}, "at", "unknown key 'at'"),
])
def test_bad_windows_are_refused_with_the_field(tmp_path, change, field, words):
    def mutate(d):
        d["cluster"]["capacity_providers"]["gpu"]["off_hours"].update(change)
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(variant(mutate), sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load(path)
    ((where, message),) = err.value.problems
    assert where == ".".join(filter(None, ["cluster.capacity_providers.gpu.off_hours", field]))
    assert words in message


def test_cli_reports_a_bad_window_as_exit_2(tmp_path):
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(variant(
        lambda d: d["cluster"]["capacity_providers"]["gpu"]["off_hours"].update(timezone="Mars/Olympus")))),
    proc = run_main("--env-file", str(path), "cost")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{path}: cluster.capacity_providers.gpu.off_hours.timezone: 'Mars/Olympus'")
