"""The `cluster` section: the ECS cluster and its EC2 capacity providers."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from modules.config.base import Name, Strict, known_timezones
from modules.config.defaults import (
    CLOCK_TIME_PATTERN,
    DEFAULT_GENERAL_INSTANCE_TYPE,
    DEFAULT_OFF_HOURS_DAYS,
    DEFAULT_OFF_HOURS_START,
    DEFAULT_OFF_HOURS_STOP,
    DEFAULT_OFF_HOURS_TIMEZONE,
    DEFAULT_ROOT_VOLUME_GB,
    DEFAULT_TARGET_CAPACITY,
    WEEKDAYS,
)


def _weekdays(text: str) -> list[int]:
    """`mon-fri`, `mon,wed,fri`, `sat-sun`, `mon-wed,fri` -> cron day numbers (0 = Sunday), sorted.
    Ranges go forward through the week (mon-sun); `daily` is every day."""
    if text.strip() == "daily":
        return list(range(7))
    order = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # ranges read Monday-first
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        last = last or first
        if first not in order or last not in order:
            raise ValueError(f"'{text}': days are {', '.join(order)}, as a range (mon-fri), a list (mon,wed,fri) "
                             "or both (mon-wed,fri); or 'daily'")
        if order.index(last) < order.index(first):
            raise ValueError(f"'{part.strip()}': a range runs forward through the week (mon ... sun); "
                             f"write it as two, e.g. {first}-sun,mon-{last}")
        days.update(WEEKDAYS.index(d) for d in order[order.index(first): order.index(last) + 1])
    return sorted(days)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class OffHours(Strict):
    """The window a capacity provider runs in: outside it, its Auto Scaling group and the ECS services placed
    on it are scheduled down to zero (AWS scheduled actions, in `timezone`, daylight saving included)."""

    timezone: str = Field(DEFAULT_OFF_HOURS_TIMEZONE, description="IANA time zone of start and stop, "
                          "e.g. America/Sao_Paulo")
    days: str = Field(DEFAULT_OFF_HOURS_DAYS, description="days the window opens: a range (mon-fri), a list "
                      "(mon,wed,fri), both, or daily")
    start: str = Field(DEFAULT_OFF_HOURS_START, description="HH:MM (24 h) the instances and services come back")
    stop: str = Field(DEFAULT_OFF_HOURS_STOP, description="HH:MM (24 h, after start, same day) they are scaled "
                      "to zero")

    @field_validator("start", "stop", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 reads 20:00 as 1200 (base 60)
            raise ValueError(f"YAML read an unquoted time as the number {value}; quote it, e.g. \"20:00\"")
        if not isinstance(value, str) or not re.fullmatch(CLOCK_TIME_PATTERN, value):
            raise ValueError(f"{value!r} is not a time HH:MM (24 h, quoted in YAML), e.g. \"08:00\"")
        return value

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        known = known_timezones()  # empty without a tz database: AWS then judges the name
        if known and value not in known:
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. America/Sao_Paulo, Europe/Dublin, UTC)")
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        _weekdays(value)
        return value

    @model_validator(mode="after")
    def _window(self) -> OffHours:
        if _minutes(self.stop) <= _minutes(self.start):
            raise ValueError(f"stop {self.stop} must be after start {self.start}: the window opens and closes on "
                             "the same day (windows across midnight are not supported)")
        return self

    @property
    def day_numbers(self) -> list[int]:
        return _weekdays(self.days)

    @property
    def hours_per_week(self) -> float:
        return len(self.day_numbers) * (_minutes(self.stop) - _minutes(self.start)) / 60

    def describe(self) -> str:
        return f"{self.days} {self.start}-{self.stop} {self.timezone} ({self.hours_per_week:g} h/week)"

    def covers(self, hour: int, minute: int) -> bool:
        """Whether hour:minute (in `timezone`) lies inside the daily window [start, stop)."""
        return _minutes(self.start) <= hour * 60 + minute < _minutes(self.stop)

    def asg_recurrence(self, clock: str) -> str:
        """Unix cron of an Auto Scaling scheduled action (minute hour day month weekday; 0 = Sunday)."""
        return f"{int(clock[3:])} {int(clock[:2])} * * {','.join(map(str, self.day_numbers))}"

    def appautoscaling_schedule(self, clock: str) -> str:
        """Application Auto Scaling's cron(minute hour day-of-month month day-of-week year)."""
        names = ",".join(WEEKDAYS[d].upper() for d in self.day_numbers)
        return f"cron({int(clock[3:])} {int(clock[:2])} ? * {names} *)"


class CapacityProvider(Strict):
    instance_type: str = Field(DEFAULT_GENERAL_INSTANCE_TYPE, description="EC2 instance type")
    gpu: bool = Field(False, description="GPU-optimized ECS AMI and GPU support in the agent")
    min_size: int = Field(0, ge=0, description="ASG minimum instances (0 lets managed scaling remove all)")
    max_size: int = Field(2, ge=1, description="ASG maximum instances; bounds the capacity for tasks")
    desired_capacity: int | None = Field(None, ge=0, description="initial ASG size; managed scaling owns it after")
    target_capacity: int = Field(DEFAULT_TARGET_CAPACITY, ge=1, le=100, description="managed scaling target %")
    root_volume_gb: int = Field(DEFAULT_ROOT_VOLUME_GB, ge=30, le=16384, description="encrypted gp3 root volume, GiB")
    off_hours: OffHours | None = Field(None, description="run only inside this window: outside it the ASG and the "
                                       "ECS services placed here scale to zero (omit: around the clock)")

    @model_validator(mode="after")
    def _sizes(self) -> CapacityProvider:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} is above max_size {self.max_size}")
        if self.desired_capacity is not None and not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(
                f"desired_capacity {self.desired_capacity} must lie between min_size {self.min_size} "
                f"and max_size {self.max_size}"
            )
        return self


class Cluster(Strict):
    container_insights: bool = Field(True, description="CloudWatch Container Insights on the cluster")
    default_capacity_provider: Name = Field("general", description="capacity provider of services that name none")
    capacity_providers: dict[Name, CapacityProvider] = Field(
        min_length=1, description="one launch template + ASG + ECS capacity provider per entry"
    )

    @model_validator(mode="after")
    def _default_exists(self) -> Cluster:
        if self.default_capacity_provider not in self.capacity_providers:
            raise ValueError(
                f"default_capacity_provider '{self.default_capacity_provider}' is not one of "
                f"{sorted(self.capacity_providers)}"
            )
        return self
