"""modules/config/rules/capacity.py scheduled_tasks_run_inside_off_hours, with modules/config/schedules.py: every
run a scheduled task on stage's GPU provider can fire (mon-fri 08:00-20:00 America/Sao_Paulo) must be inside it.

EventBridge cron (docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html): day-of-week 1-7 =
SUN-SAT, `L` last, `#` n-th; day-of-month `W` nearest weekday; `/` steps. rate(...) fires around the clock.
"""

from __future__ import annotations

import pytest

from config_mutations import all_of, check_rule_case, schema_only, set_path
from modules.config.rules import capacity as R
from modules.config.schedules import cron_runs, runs_outside, zone_shifts

WINDOW = "'gpu' runs only mon-fri 08:00-20:00 America/Sao_Paulo (60 h/week)"
ALLOWED = "allowed: runs on mon-fri from 08:00 to before 20:00 America/Sao_Paulo, e.g. cron(0 8-19 ? * MON-FRI *)"


def on_gpu(schedule: str, timezone: str = "America/Sao_Paulo"):
    """stage's rag-indexer job turned into a scheduled task on the GPU provider."""
    return all_of(set_path("services.rag-indexer.kind", "scheduled"), set_path("services.rag-indexer.schedule", schedule),
                  set_path("services.rag-indexer.schedule_timezone", timezone),
                  set_path("services.rag-indexer.capacity_provider", "gpu"))


FIELD = "services.rag-indexer.schedule"
FAILING = [  # (schedule, time zone, first runs outside as named in the message)
    ("cron(30 10 ? * SAT *)", "America/Sao_Paulo", "at SAT 10:30 (America/Sao_Paulo)"),
    ("cron(0 */2 ? * MON-FRI *)", "America/Sao_Paulo", "at MON 00:00, MON 02:00, MON 04:00, ..."),
    ("cron(30 8-20 ? * 2-6 *)", "America/Sao_Paulo", "at MON 20:30, TUE 20:30, WED 20:30, ..."),  # 2-6 = MON-FRI
    ("cron(0 9 ? * 1 *)", "America/Sao_Paulo", "at SUN 09:00"),  # 1 = SUN, not Monday
    ("cron(0 9 ? * 7L *)", "America/Sao_Paulo", "at SAT 09:00"),  # the month's last Saturday
    ("cron(0 9 ? * L *)", "America/Sao_Paulo", "at SAT 09:00"),  # L alone: the week's last day
    ("cron(0 9 ? * 1#2 *)", "America/Sao_Paulo", "at SUN 09:00"),  # the second Sunday
    ("cron(0 9 ? * FRI-MON *)", "America/Sao_Paulo", "at SUN 09:00, SAT 09:00"),  # wraps through the weekend
    ("cron(0 9 1 * ? *)", "America/Sao_Paulo", "at SUN 09:00, SAT 09:00 ("),  # the 1st falls on any weekday
    ("cron(0 20 ? * MON-FRI *)", "America/Sao_Paulo", "at MON 20:00"),  # stop is outside: the GPU is going away
    ("cron(59 7 ? * MON-FRI *)", "America/Sao_Paulo", "at MON 07:59"),
    ("cron(30 10 ? * MON-FRI *)", "UTC", "at MON 07:30"),  # 10:30 UTC is 07:30 in São Paulo (UTC-3)
    ("cron(0 11 ? * MON-FRI *)", "Europe/Lisbon", "at MON 07:00"),  # 08:00 in winter, 07:00 in Lisbon's summer
    ("at(2026-12-05T10:00:00)", "America/Sao_Paulo", "at SAT 10:00"),  # a Saturday
]
PASSING = [
    ("cron(30 8-19 ? * MON-FRI *)", "America/Sao_Paulo"),  # stage's crons
    ("cron(0 8,12,19 ? * 2-6 *)", "America/Sao_Paulo"),
    ("cron(*/15 8-19 ? * MON-FRI *)", "America/Sao_Paulo"),
    ("cron(5/20 9-18/3 ? * MON,WED,FRI *)", "America/Sao_Paulo"),
    ("cron(0 9 LW * ? *)", "America/Sao_Paulo"),  # the month's last weekday
    ("cron(0 9 15W * ? *)", "America/Sao_Paulo"),  # the weekday nearest the 15th
    ("cron(0 9 ? * 6#1 *)", "America/Sao_Paulo"),  # the first Friday
    ("cron(0 9 ? * 6L *)", "America/Sao_Paulo"),  # the last Friday
    ("cron(0 10 25 12 ? 2026)", "America/Sao_Paulo"),  # Christmas 2026 is a Friday
    ("cron(30 11 ? * MON-FRI *)", "UTC"),  # 08:30 in São Paulo
    ("cron(0 12 ? * MON-FRI *)", "Europe/Lisbon"),  # 09:00 or 08:00 in São Paulo
    ("at(2026-12-07T10:00:00)", "America/Sao_Paulo"),  # a Monday
]
CASES = [(R.scheduled_tasks_run_inside_off_hours, on_gpu(s, tz), FIELD, ["fires outside the window", runs, WINDOW,
                                                                           ALLOWED]) for s, tz, runs in FAILING]
CASES += [(R.scheduled_tasks_run_inside_off_hours, on_gpu("rate(1 hour)"), FIELD,
           ["'rate(1 hour)' fires around the clock", WINDOW, ALLOWED])]
CASES += [(R.scheduled_tasks_run_inside_off_hours, on_gpu(s, tz), None, []) for s, tz in PASSING]
CASES += [(R.scheduled_tasks_run_inside_off_hours,  # on the general provider (no window) anything goes
           all_of(on_gpu("cron(30 10 ? * SAT *)"), set_path("services.rag-indexer.capacity_provider", "general")),
           None, [])]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES,
                         ids=[f"{'fails' if c[2] else 'passes'}-{i}" for i, c in enumerate(CASES)])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)


def test_the_message_names_the_schedule_the_window_and_what_is_allowed():
    [(path, message)] = R.scheduled_tasks_run_inside_off_hours(schema_only(on_gpu("cron(30 10 ? * SAT *)")))
    assert path == ("services", "rag-indexer", "schedule")
    assert message == ("'cron(30 10 ? * SAT *)' (America/Sao_Paulo) fires outside the window, at SAT 10:30 "
                       f"(America/Sao_Paulo): capacity provider {WINDOW}; {ALLOWED} with schedule_timezone "
                       "America/Sao_Paulo")


@pytest.mark.parametrize("expression, days, hours, minutes", [
    ("cron(30 8-19 ? * MON-FRI *)", {1, 2, 3, 4, 5}, set(range(8, 20)), {30}),
    ("cron(0 */6 ? * * *)", set(range(7)), {0, 6, 12, 18}, {0}),
    ("cron(1/20 22-2 ? * SUN,SAT *)", {0, 6}, {22, 23, 0, 1, 2}, {1, 21, 41}),  # a range across midnight wraps
    ("cron(0 12 ? * 1-7/3 *)", {0, 3, 6}, {12}, {0}),  # SUN, WED, SAT
    ("cron(0 12 L * ? *)", set(range(7)), {12}, {0}),
    ("cron(0 12 1,15 FEB ? 2027)", {1}, {12}, {0}),  # 2027-02-01 and -15 are Mondays
])
def test_cron_fields_give_the_weekdays_and_times_it_fires_at(expression, days, hours, minutes):
    fired_days, times = cron_runs(expression)
    assert fired_days == days
    assert times == {h * 60 + m for h in hours for m in minutes}


def test_zone_shifts_follow_daylight_saving_time():
    assert zone_shifts("America/Sao_Paulo", "America/Sao_Paulo", 2026) == {0}
    assert zone_shifts("UTC", "America/Sao_Paulo", 2026) == {-180}  # no DST in Brazil since 2019
    assert zone_shifts("Europe/Lisbon", "America/Sao_Paulo", 2026) == {-180, -240}
    assert runs_outside("rate(5 minutes)", "UTC", [1], 0, 60, "UTC", 2026) is None
