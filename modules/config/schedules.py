"""EventBridge Scheduler expressions: what a `schedule:` may say, checked field by field.

EventBridge Scheduler user guide, "Schedule types": `cron(minutes hours day-of-month month day-of-week
year)` has six fields, and one of day-of-month / day-of-week must be `?`; `rate(value unit)` takes a
positive whole value and minute(s)/hour(s)/day(s) (singular for 1); `at(yyyy-mm-ddThh:mm:ss)` runs once.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

CRON_FORM = "cron(minutes hours day-of-month month day-of-week year)"
RATE_UNITS = ("minute", "minutes", "hour", "hours", "day", "days")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# field name, lowest, highest, names (for month/day-of-week), extra wildcards it takes
CRON_FIELDS = (
    ("minutes", 0, 59, (), ""),
    ("hours", 0, 23, (), ""),
    ("day-of-month", 1, 31, (), "?LW"),
    ("month", 1, 12, MONTHS, ""),
    ("day-of-week", 1, 7, WEEKDAYS, "?L#"),
    ("year", 1970, 2199, (), ""),
)


def _value(token: str, low: int, high: int, names: tuple) -> bool:
    if token.upper() in names:
        return True
    return token.isdigit() and low <= int(token) <= high


def _cron_field_ok(text: str, low: int, high: int, names: tuple, extra: str) -> bool:
    if text == "?":
        return "?" in extra
    for item in text.split(","):
        base, slash, step = item.partition("/")
        if slash and not (step.isdigit() and int(step) >= 1):
            return False
        if base == "*":
            continue
        if "L" in extra and re.fullmatch(r"L|LW|\d{1,2}W|\d?L", base) and not slash:
            if base in ("L", "LW") or _value(base.rstrip("LW"), low, high, names):
                continue
            return False
        if "#" in extra and "#" in base and not slash:
            day, _, nth = base.partition("#")
            if _value(day, low, high, names) and nth in ("1", "2", "3", "4", "5"):
                continue
            return False
        first, dash, last = base.partition("-")
        if not _value(first, low, high, names) or (dash and not _value(last, low, high, names)):
            return False
    return True


def schedule_problem(expression: str) -> str | None:
    """What is wrong with an EventBridge Scheduler expression, or None when Scheduler accepts it."""
    match = re.fullmatch(r"(cron|rate|at)\((.*)\)", expression.strip())
    if not match:
        return f"'{expression}' must be {CRON_FORM}, rate(<value> <minutes|hours|days>) or at(yyyy-mm-ddThh:mm:ss)"
    kind, body = match.groups()
    if kind == "rate":
        value, _, unit = body.strip().partition(" ")
        if not value.isdigit() or int(value) < 1 or unit not in RATE_UNITS:
            return (f"'{expression}': a rate is rate(<positive whole number> <unit>), unit one of "
                    f"{', '.join(RATE_UNITS)}, e.g. rate(5 minutes)")
        if (int(value) == 1) != (not unit.endswith("s")):
            return (f"'{expression}': use the singular unit for 1 and the plural otherwise, "
                    "e.g. rate(1 hour), rate(2 hours)")
        return None
    if kind == "at":
        try:
            datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return f"'{expression}': a one-time schedule is at(yyyy-mm-ddThh:mm:ss), e.g. at(2026-01-31T09:00:00)"
        return None
    fields = body.split()
    if len(fields) != len(CRON_FIELDS):
        return (f"'{expression}' has {len(fields)} fields; EventBridge Scheduler's cron has 6: {CRON_FORM}, "
                "e.g. cron(0 3 * * ? *) for 03:00 every day")
    for text, (name, low, high, names, extra) in zip(fields, CRON_FIELDS):
        if not _cron_field_ok(text, low, high, names, extra):
            allowed = f"{low}-{high}" + (f" or {'-'.join((names[0], names[-1]))}" if names else "")
            wild = " , - * /" + "".join(f" {c}" for c in extra)
            return f"'{expression}': {name} '{text}' is not valid; allowed: {allowed} with{wild}"
    dom, dow = fields[2], fields[4]
    if (dom == "?") == (dow == "?"):
        return (f"'{expression}': exactly one of day-of-month ('{dom}') and day-of-week ('{dow}') must be '?', "
                "e.g. cron(0 3 * * ? *) or cron(0 3 ? * MON *)")
    return None


# ------------------------------------------------------------------ when a schedule fires
# EventBridge "Cron expressions reference" (docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html,
# the syntax EventBridge Scheduler's "Schedule types" page refers to): day-of-week is 1-7 or SUN-SAT with 1 = SUN
# ("3#2" is the second Tuesday: Tuesday is the week's third day), `L` alone in day-of-week is the last day of the
# week (SAT), `xL` the month's last x, `x#n` its n-th x; `W` in day-of-month is the nearest weekday (MON-FRI);
# `/` steps from its start (`*/2` = 0, 2, ...; `1/10` = 1, 11, ...). Scheduler evaluates a cron in the schedule's
# time zone, and a rate(...) without a start date starts at once and repeats around the clock ("Schedule types").
DAY_MINUTES = 24 * 60


def _numbers(item: str, low: int, high: int, names: tuple) -> tuple[int, int] | None:
    """'8-19' -> (8, 19); 'MON' -> (2, 2); '*' -> (low, high); an L/W/# form -> None (handled by the caller)."""
    if item == "*":
        return low, high
    first, _, last = item.partition("-")
    try:
        values = [names.index(v.upper()) + low if v.upper() in names else int(v) for v in (first, last or first)]
    except ValueError:
        return None
    return values[0], values[1]


def _field_values(text: str, low: int, high: int, names: tuple = ()) -> set[int]:
    """Every value a plain cron field (numbers, names, ranges, lists, steps) selects; a range that runs
    backwards (FRI-MON, 22-2) wraps around."""
    values: set[int] = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        span = _numbers(base, low, high, names)
        if span is None:
            continue
        first, last = span
        if step and "-" not in base and base != "*":
            last = high  # '1/10': from 1 to the end of the range
        width = high - low + 1
        count = (last - first) % width + 1
        values.update(low + (first - low + i) % width for i in range(0, count, int(step or 1)))
    return values


def _weekdays_of_day_of_week(text: str) -> set[int]:
    """Day-of-week field -> weekdays, 0 = Sunday (cron 1 = SUN ... 7 = SAT)."""
    days: set[int] = set()
    for item in text.split(","):
        if item == "L":
            days.add(6)  # the last day of the week: Saturday
        elif item.endswith("L") or "#" in item:  # the month's last x / its n-th x: still an x
            days.update(v - 1 for v in _field_values(item.rstrip("L").partition("#")[0], 1, 7, WEEKDAYS))
        else:
            days.update(v - 1 for v in _field_values(item, 1, 7, WEEKDAYS))
    return days


def _weekdays_of_day_of_month(dom: str, month: str, year: str) -> set[int]:
    """The weekdays a day-of-month schedule can land on: the nearest-weekday forms only MON-FRI; other days of
    the month fall on every weekday over the years, unless the year field pins the dates (then counted)."""
    if "W" in dom:
        return {1, 2, 3, 4, 5}
    if year == "*":
        return set(range(7))
    days: set[int] = set()
    for y in _field_values(year, 1970, 2199):
        for m in _field_values(month, 1, 12, MONTHS):
            last = calendar.monthrange(y, m)[1]
            chosen = {last} if "L" in dom.split(",") else set()
            chosen |= {d for d in _field_values(dom, 1, 31) if d <= last}
            days.update((date(y, m, d).weekday() + 1) % 7 for d in chosen)  # Python: Monday = 0
    return days


def cron_runs(expression: str) -> tuple[set[int], set[int]]:
    """The weekdays (0 = Sunday) and the minutes of the day (local to the schedule's time zone) a valid
    cron(...) expression can fire at."""
    minutes, hours, dom, month, dow, year = expression.strip()[5:-1].split()
    days = _weekdays_of_day_of_month(dom, month, year) if dow == "?" else _weekdays_of_day_of_week(dow)
    times = {h * 60 + m for h in _field_values(hours, 0, 23) for m in _field_values(minutes, 0, 59)}
    return days, times


def zone_shifts(schedule_zone: str, window_zone: str, year: int) -> set[int]:
    """Minutes to add to a time in schedule_zone to read it in window_zone, over `year` and the next (daylight
    saving time makes it change; sampled daily, the periods last weeks)."""
    if schedule_zone == window_zone:
        return {0}
    source, target = ZoneInfo(schedule_zone), ZoneInfo(window_zone)
    start = datetime(year, 1, 1, 12, tzinfo=timezone.utc)
    shifts = set()
    for day in range(2 * 366):
        moment = start + timedelta(days=day)
        shifts.add(int((moment.astimezone(target).utcoffset() - moment.astimezone(source).utcoffset())
                       .total_seconds() // 60))
    return shifts


def runs_outside(expression: str, schedule_zone: str, window_days: list[int], start: int, stop: int,
                 window_zone: str, year: int) -> list[tuple[int, int]] | None:
    """Runs of a cron(...) or at(...) expression outside a weekly window (days 0 = Sunday, [start, stop) in minutes
    of the day, in window_zone), as (weekday, minute) in window_zone, sorted; None for a rate(...), which fires
    around the clock."""
    kind = expression.strip().split("(", 1)[0]
    if kind == "rate":
        return None
    if kind == "at":
        moment = datetime.strptime(expression.strip()[3:-1], "%Y-%m-%dT%H:%M:%S")
        days, times = {(moment.weekday() + 1) % 7}, {moment.hour * 60 + moment.minute}
    else:
        days, times = cron_runs(expression)
    outside = set()
    for shift in zone_shifts(schedule_zone, window_zone, year):
        for day in days:
            for time in times:
                moved = time + shift
                weekday, minute = (day + moved // DAY_MINUTES) % 7, moved % DAY_MINUTES
                if weekday not in window_days or not start <= minute < stop:
                    outside.add((weekday, minute))
    return sorted(outside)


def describe_run(weekday: int, minute: int) -> str:
    return f"{WEEKDAYS[weekday]} {minute // 60:02d}:{minute % 60:02d}"
