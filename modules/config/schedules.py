"""EventBridge Scheduler expressions: what a `schedule:` may say, checked field by field.

EventBridge Scheduler user guide, "Schedule types": `cron(minutes hours day-of-month month day-of-week
year)` has six fields, and one of day-of-month / day-of-week must be `?`; `rate(value unit)` takes a
positive whole value and minute(s)/hour(s)/day(s) (singular for 1); `at(yyyy-mm-ddThh:mm:ss)` runs once.
"""

from __future__ import annotations

import re
from datetime import datetime

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
