"""Generated AWS resource names: each fits the limit AWS documents for that resource."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.defaults import CACHE_ID_MAX, CACHE_ID_SUFFIX

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig


def cache_id_fits(cfg: EnvConfig) -> list[Problem]:
    """The ElastiCache replication group id `<name>-redis` is at most 40 characters without '--'."""
    cache_id = cfg.name + CACHE_ID_SUFFIX
    if cfg.cache and (len(cache_id) > CACHE_ID_MAX or "--" in cache_id):
        return [(("cache",), f"ElastiCache id '{cache_id}' must be at most {CACHE_ID_MAX} "
                 "characters without '--'; shorten project/environment names")]
    return []
