"""What the rule modules share: the rule type, the 'not defined' problem, the only-when-consistent mark.

The rule modules import this module, never the package's __init__ (which imports them: a cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.defaults import partition_of
from modules.config.kinds import arn_region

if TYPE_CHECKING:  # annotations only
    from modules.config.env import EnvConfig

Rule = Callable[["EnvConfig"], list[Problem]]


def undefined(loc: tuple, ref: str, pool: Iterable[str], what: str) -> list[Problem]:
    """The 'not defined' problem when `ref` is not in `pool`, else none."""
    pool = set(pool)
    if ref in pool:
        return []
    return [(loc, f"'{ref}' is not a defined {what}; defined: {sorted(pool) or 'none'}")]


def only_when_consistent(rule: Rule) -> Rule:
    """Marks a rule that runs only when the rules before it found nothing (its figures assume a sound config)."""
    rule.only_when_consistent = True  # type: ignore[attr-defined]
    return rule


def arn_outside_the_region(region: str, loc: tuple, arn: str, where: str, why: str, fix: str = "") -> list[Problem]:
    """The problem when `arn` (well formed: its kind checked it) is not in `region` and its partition, else none.
    One wording for every ARN that must be in the stack's Region (alarm topics, the ALB's certificate)."""
    partition, arn_region_ = arn_region(arn)
    expected = partition_of(region)
    if (partition, arn_region_) == (expected, region):
        return []
    service = arn.split(":")[2]
    return [(loc, f"'{arn}' is in {arn_region_} ({partition}), but {where} in {region} ({expected}); {why} "
                  f"(arn:{expected}:{service}:{region}:...){' ' + fix if fix else ''}")]
