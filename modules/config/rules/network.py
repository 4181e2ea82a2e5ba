"""Network rules: availability zones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig


def availability_zones_are_in_the_region(cfg: EnvConfig) -> list[Problem]:
    """Zone names in network.availability_zones belong to the env file's region (zone ids are checked at plan)."""
    if cfg.network.zones_by_id:
        return []
    return [(("network", "availability_zones", i), f"'{zone}' is not a zone of region {cfg.region} "
             f"(expected {cfg.region}a, {cfg.region}b, ...)")
            for i, zone in enumerate(cfg.network.availability_zones) if zone[:-1] != cfg.region]
