"""The plain environment of a container: the env file's own values over what the generator derives.

Its own module (not a method of EnvConfig): what it combines, the image contracts' wiring and the HTTP
keep-alive of the ALB's target (modules/config/timeouts.py), Grafana's login settings
(modules/config/grafana.py), reads the EnvConfig, which imports neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.grafana import grafana_environment
from modules.config.timeouts import keep_alive_environment
from modules.config.wiring import derived_environment

if TYPE_CHECKING:
    from modules.config.env import EnvConfig


def environment_of(cfg: EnvConfig, name: str) -> dict[str, str]:
    """Container `name`'s variables: derived from its image's contract, the keep-alive the generator gives
    the ALB's target, Grafana's login settings, then the env file's `environment`, which wins (the rules refuse
    overriding what sso locks)."""
    derived = {var: d.value for var, d in derived_environment(cfg, name).items()}
    return {**derived, **keep_alive_environment(cfg, name), **grafana_environment(cfg, name),
            **cfg.services[name].environment}
