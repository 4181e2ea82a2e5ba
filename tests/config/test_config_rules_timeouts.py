"""modules/config/rules/timeouts.py: Service Connect and ALB timeouts, set or derived, obey AWS's rules.

The derivation itself (modules/config/timeouts.py) is tested in tests/config/test_config_timeouts.py."""

from __future__ import annotations

import pytest

from config_mutations import case_id, check_rule_case, set_path, unchanged
from modules.config.rules import timeouts as R

CASES = [
    # ollama's requests are derived to 600 s (a GPU service); an idle timeout of 100 s would close them first
    (R.service_connect_idle_covers_per_request, set_path("services.ollama.ports", [{"port": 11434, "idle_timeout": 100}]),
     "services.ollama.ports[0].idle_timeout", ["idle_timeout 100 s is below the 600 s", "inference server",
                                               "at least 600"]),
    (R.service_connect_idle_covers_per_request, set_path("services.ollama.ports", [{"port": 11434, "idle_timeout": 0}]),
     None, []),
    (R.service_connect_idle_covers_per_request, unchanged, None, []),
    (R.service_connect_idle_covers_per_request, set_path("services.tempo.ports.1.protocol", "tcp"), None, []),
    # the api waits on ollama (600 s): an ALB idle timeout of 60 s answers 504 first
    (R.alb_idle_timeout_covers_its_target, set_path("alb.idle_timeout", 60), "alb.idle_timeout",
     ["60 s is shorter than a request to api:8000 may take", "calls ollama:11434", "at least 600"]),
    # ...and one longer than the ALB's 4000 s maximum cannot sit behind it at all
    (R.alb_idle_timeout_covers_its_target,
     set_path("services.ollama.ports", [{"port": 11434, "per_request_timeout": 5000, "idle_timeout": 5000}]),
     "services.api.ports[0].per_request_timeout", ["waits up to 5000 s", "at most 4000 s"]),
    (R.alb_idle_timeout_covers_its_target, set_path("alb.idle_timeout", 900), None, []),
    (R.alb_idle_timeout_covers_its_target, unchanged, None, []),
    # stage's hand-set values of the last round: the api's idle timeout equal to the ALB's, not above it
    (R.alb_backends_outlast_the_alb_idle_timeout,
     set_path("services.api.ports", [{"port": 8000, "per_request_timeout": 600, "idle_timeout": 600}]),
     "services.api.ports[0].idle_timeout", ["the ALB keeps idle connections to api:8000 for 600 s", "above 600"]),
    (R.alb_backends_outlast_the_alb_idle_timeout, set_path("services.api.environment.UVICORN_TIMEOUT_KEEP_ALIVE", "5"),
     "services.api.environment.UVICORN_TIMEOUT_KEEP_ALIVE", ["'5'", "shorter than the ALB's 600 s", "502"]),
    (R.alb_backends_outlast_the_alb_idle_timeout,
     set_path("services.api.ports", [{"port": 8000, "per_request_timeout": 600, "idle_timeout": 0}]), None, []),
    (R.alb_backends_outlast_the_alb_idle_timeout,
     set_path("services.api.environment.UVICORN_TIMEOUT_KEEP_ALIVE", "700"), None, []),
    (R.alb_backends_outlast_the_alb_idle_timeout, unchanged, None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)
