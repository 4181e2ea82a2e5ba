"""modules/config/timeouts.py: timeouts derived from the call graph, on env-file variants (no synth)."""

from __future__ import annotations

from config_mutations import all_of, schema_only, set_path
from modules.config import timeouts as T
from modules.config.defaults import (
    ALB_BACKEND_KEEP_ALIVE_MARGIN,
    GRAFANA_DATAPROXY_TIMEOUT,
    INFERENCE_REQUEST_TIMEOUT,
    SERVICE_CONNECT_PER_REQUEST_TIMEOUT,
)


def _port(cfg, name, port):
    return next(pm for pm in cfg.services[name].ports if pm.port == port)


def _written(cfg, name, port):
    return T.service_connect_timeouts(cfg, name, _port(cfg, name, port))


def test_stage_derives_what_it_used_to_set_by_hand(stage_cfg):
    """stage.yaml sets no timeout: ollama (a GPU service) and the api waiting on it get 600 s, the ALB 600 s, and
    the api's idle timeout lies above the ALB's (the hand-set 600 s it had broke that AWS rule)."""
    assert _written(stage_cfg, "ollama", 11434) == (INFERENCE_REQUEST_TIMEOUT, INFERENCE_REQUEST_TIMEOUT)
    assert _written(stage_cfg, "api", 8000) == (INFERENCE_REQUEST_TIMEOUT,
                                                INFERENCE_REQUEST_TIMEOUT + ALB_BACKEND_KEEP_ALIVE_MARGIN)
    assert T.alb_idle_timeout(stage_cfg).value == INFERENCE_REQUEST_TIMEOUT
    assert _written(stage_cfg, "prometheus", 9090) == (GRAFANA_DATAPROXY_TIMEOUT, None)
    assert _written(stage_cfg, "otel-collector", 4318) == (None, None)  # nobody waits long on it: AWS's own


def test_an_explicit_timeout_wins_and_reaches_the_callers():
    """ollama set to 120 s: the api waits as long, the ALB too (above AWS's 60 s), nothing more."""
    cfg = schema_only(set_path("services.ollama.ports", [{"port": 11434, "per_request_timeout": 120}]))
    assert T.per_request_timeout(cfg, "ollama", _port(cfg, "ollama", 11434)) == T.Seconds(120, "set")
    assert T.per_request_timeout(cfg, "api", _port(cfg, "api", 8000)).value == 120
    assert T.alb_idle_timeout(cfg).value == 120


def test_no_long_call_leaves_aws_defaults():
    """Without an inference server (no GPU, an image not known to serve LLMs) the api waits only as long as
    Grafana's queries (Grafana queries it, and it calls Prometheus, which Grafana queries): the ALB keeps AWS's
    60 s and Service Connect's 300 s idle timeout already lies above it, so none is written; the OTLP ports keep
    AWS's 15 s."""
    cfg = schema_only(all_of(set_path("services.ollama.gpu", 0), set_path("services.ollama.capacity_provider", None),
                             set_path("services.ollama.image", "nginx:1.27.2")))
    assert T.per_request_timeout(cfg, "api", _port(cfg, "api", 8000)).value == GRAFANA_DATAPROXY_TIMEOUT
    assert T.alb_idle_timeout(cfg).value == 60
    assert _written(cfg, "api", 8000) == (GRAFANA_DATAPROXY_TIMEOUT, None)
    assert _written(cfg, "ollama", 11434) == (None, None)
    assert T.per_request_timeout(cfg, "tempo", _port(cfg, "tempo", 4318)).value == SERVICE_CONNECT_PER_REQUEST_TIMEOUT


def test_grafanas_own_data_proxy_timeout_is_read():
    cfg = schema_only(set_path("services.grafana.environment.GF_DATAPROXY_TIMEOUT", "90"))
    assert _written(cfg, "tempo", 3200)[0] == 90
    assert _written(cfg, "tempo", 4318) == (None, None)  # the OTLP port Grafana may not reach: not its query


def test_no_limit_passes_to_the_callers_and_the_alb_takes_its_longest():
    cfg = schema_only(set_path("services.ollama.ports", [{"port": 11434, "per_request_timeout": 0, "idle_timeout": 0}]))
    assert T.per_request_timeout(cfg, "api", _port(cfg, "api", 8000)).value == 0
    assert T.alb_idle_timeout(cfg).value == 4000


def test_a_dependency_cycle_does_not_recurse_forever():
    cfg = schema_only(set_path("services.ollama.depends_on", ["api"]))  # no_dependency_cycles reports it
    assert T.per_request_timeout(cfg, "api", _port(cfg, "api", 8000)).value == INFERENCE_REQUEST_TIMEOUT


def test_a_tcp_port_keeps_its_own_idle_default():
    """tcp has no per-request timeout (AWS): nothing is derived from one, the idle default (1 h) stands."""
    cfg = schema_only(set_path("services.tempo.ports.1.protocol", "tcp"))
    assert _written(cfg, "tempo", 4317) == (None, None)
    assert T.idle_timeout(cfg, "tempo", _port(cfg, "tempo", 4317)).value == 3600
