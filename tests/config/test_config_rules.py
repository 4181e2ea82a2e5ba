"""modules/config/rules/: each cross-field rule rejects what it states and passes what it allows.

One row per case in CASES: (rule, how stage.yaml is changed, field path of the problem or None when
the rule must pass, words the message must contain). Rules of later concerns keep their CASES in
tests/config/test_config_rules_<concern>.py. Every rule in RULES has at least one failing and one
passing row across those files (a test checks it). The configs are validated by the schema only (every rule
skipped), then the rule is called directly.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from config_mutations import GRAFANA_HOST, all_of, case_id, check_rule_case, delete_path, grafana_sso, schema_only, set_path, unchanged
from conftest import seed_services_only, stage_data, variant
from modules.config import EnvConfig, rules
from modules.config.base import dotted

_set, _delete, _all, _unchanged = set_path, delete_path, all_of, unchanged


def _as_sidecar(name: str):
    """A scheduled cron of stage turned back into a sidecar of the api (compose's shape)."""

    def mutate(data):
        cron = data["services"][name]
        for key in ("kind", "schedule", "schedule_timezone", "failure_alarm"):
            cron.pop(key, None)
        cron.update(kind="sidecar", sidecar_of="api")

    return mutate


_VPN = {"exposure": "vpn", "host": GRAFANA_HOST, "allowed_cidrs": ["198.51.100.0/24"]}

R = rules
CASES = [
    (R.public_images_pin_digests, _set("registry.require_image_digests", True), "services.ollama.image",
     ["has no digest", "name:tag@sha256"]),
    (R.public_images_pin_digests, _all(seed_services_only, _set("registry.require_image_digests", True),
                                       _set("services.ollama.image", "ollama/ollama:0.3.14@sha256:" + "a" * 64)),
     None, []),
    (R.public_images_pin_digests, _unchanged, None, []),
    (R.availability_zones_are_in_the_region, _set("network.availability_zones", ["us-east-1a", "us-west-2b"]),
     "network.availability_zones[1]", ["'us-west-2b' is not a zone of region us-east-1"]),
    (R.availability_zones_are_in_the_region, _set("network.availability_zones", ["use1-az1", "use1-az4"]), None, []),
    (R.availability_zones_are_in_the_region, _unchanged, None, []),
    (R.cache_upstreams_need_pull_through, _set("registry", {"pull_through_cache": False, "cache_upstreams": ["quay"]}),
     "registry.cache_upstreams", ["needs 'pull_through_cache: true'"]),
    (R.cache_upstreams_need_pull_through, _set("registry.cache_upstreams", ["quay"]), None, []),
    (R.pull_through_prefix_fits, _set("environment", "stage-eu-central"), "registry.pull_through_cache",
     ["'araquem-stage-eu-central/docker-hub'", "at most 30 characters"]),
    (R.pull_through_prefix_fits, _unchanged, None, []),
    (R.public_images_are_cacheable, _set("services.ollama.image", "gcr.io/acme/ollama:0.3.14"),
     "services.ollama.image", ["pull-through cache does not support", "quay.io"]),
    (R.public_images_are_cacheable, _all(_set("services.ollama.image", "gcr.io/acme/ollama:0.3.14"),
                                         _set("registry.pull_through_cache", False)), None, []),
    (R.docker_hub_has_credentials, _delete("registry.docker_hub_secret"), "registry.docker_hub_secret",
     ["required", "accessToken"]),
    (R.docker_hub_has_credentials, _set("secrets.docker-hub.keys", ["user", "token"]), "secrets.docker-hub.keys",
     ["exactly the keys"]),
    (R.docker_hub_has_credentials, _unchanged, None, []),
    (R.cache_id_fits, _set("environment", "stage--b"), "cache", ["at most 40 characters without '--'"]),
    (R.cache_id_fits, _all(_set("environment", "stage--b"), _delete("cache")), None, []),
    (R.tag_env_var_is_not_the_synth_tag, _set("services.api.image.tag_env_var", "ARAQUEM_IMAGE_TAG"),
     "services.api.image.tag_env_var", ["is the synth-time tag"]),
    (R.tag_env_var_is_not_the_synth_tag, _unchanged, None, []),
    (R.one_build_one_source, _set("services.rag-indexer.image", {"build": "api"}), "services.rag-indexer.image",
     ["builds 'api' like service 'api'"]),
    (R.one_build_one_source, _set("services.rag-indexer.image",
                                  {"build": "api", "tag_env_var": "ARAQUEM_APP_IMAGE_TAG"}), None, []),
    (R.service_references_resolve, _set("services.api.depends_on", ["prometheus", "jaeger"]),
     "services.api.depends_on[1]", ["'jaeger' is not a defined service"]),
    (R.service_references_resolve, _set("services.tempo.depends_on", ["tempo"]), "services.tempo.depends_on[0]",
     ["cannot depend on itself"]),
    (R.service_references_resolve, _set("services.api.secrets", {"DB": "api-env:PASSWORD"}),
     "services.api.secrets.DB", ["key 'PASSWORD' is not in secrets.api-env.keys"]),
    (R.service_references_resolve, _unchanged, None, []),
    (R.hosts_own_a_task, _all(_as_sidecar("quality-cron"), _set("services.quality-cron.sidecar_of", "apii")),
     "services.quality-cron.sidecar_of", ["'apii' is not a defined service"]),
    (R.hosts_own_a_task, _all(_as_sidecar("quality-cron"), _set("services.quality-cron.sidecar_of", "rag-indexer")),
     "services.quality-cron.sidecar_of", ["'rag-indexer' is not a long-running service"]),
    (R.hosts_own_a_task, _unchanged, None, []),
    (R.section_references_resolve, _set("cache.allow_from", ["api", "quality-cronn"]), "cache.allow_from[1]",
     ["'quality-cronn' is not a defined service"]),
    (R.section_references_resolve, _unchanged, None, []),
    (R.variables_are_set_once, _set("services.api.environment", {"EXECUTOR_MODE": "local"}), "services.api",
     ["set both in environment and parameters/secrets"]),
    (R.variables_are_set_once, _set("services.api.environment", {"OPENAI_API_KEY": "x"}), "services.api",
     ["variable OPENAI_API_KEY is injected more than once", "secrets_from api-env"]),
    (R.variables_are_set_once, _unchanged, None, []),
    (R.ports_are_unique_per_task, _set("services.ollama-init.ports", [11434]), "services.ollama-init.ports[0]",
     ["port 11434 is already used by 'ollama' in task 'ollama'"]),
    (R.ports_are_unique_per_task, _set("services.ollama-init.ports", [11435]), None, []),
    (R.port_allow_from_narrows, _set("services.tempo.ports.1.allow_from", ["api"]),
     "services.tempo.ports[1].allow_from[0]", ["'api' is not in services.tempo.allow_from", "narrows"]),
    (R.port_allow_from_narrows, _unchanged, None, []),
    (R.port_names_are_unique, _set("services.otel-collector.ports.0.name", "tempo-otlp-grpc"),
     "services.otel-collector.ports[0].name", ["port name 'tempo-otlp-grpc' is already used by 'tempo'"]),
    (R.port_names_are_unique, _unchanged, None, []),
    (R.jobs_use_dns_names, _set("services.rag-indexer.parameters", {"OLLAMA_BASE_URL": "OLLAMA_URL"}),
     "services.rag-indexer.parameters.OLLAMA_BASE_URL", ["is not in the Service Connect mesh",
                                                         "ollama.araquem-stage.internal"]),
    (R.jobs_use_dns_names, _all(_set("services.rag-indexer.depends_on", []),  # set by hand: ollama gets no record
                                _set("services.rag-indexer.environment.OLLAMA_BASE_URL",
                                     "http://ollama.araquem-stage.internal:11434")),
     "services.rag-indexer.environment.OLLAMA_BASE_URL", ["add 'ollama' to depends_on"]),
    (R.jobs_use_dns_names, _set("services.rag-indexer.depends_on", []), None, []),  # derived: ollama gets its record
    (R.jobs_use_dns_names, _unchanged, None, []),
    (R.services_may_reach_what_they_are_given, _set("services.prometheus.allow_from", ["grafana"]),
     "services.api.parameters.PROMETHEUS_URL", ["'http://prometheus:9090'", "api reaches prometheus on port 9090",
                                                "services.prometheus.allow_from ['grafana']", "add 'api'"]),
    (R.services_may_reach_what_they_are_given, _set("services.ollama.allow_from", ["api"]),  # a job, by DNS name
     "services.rag-indexer.environment.OLLAMA_BASE_URL", ["rag-indexer reaches ollama on port 11434",
                                                          "add 'rag-indexer'",
                                                          "derived from docker/contracts/rag-indexer.yaml"]),
    (R.services_may_reach_what_they_are_given,  # an init container speaks for its task (ollama's)
     _set("services.ollama-init.environment.GF", "http://grafana:3000"), "services.ollama-init.environment.GF",
     ["ollama reaches grafana on port 3000", "add 'ollama'"]),
    (R.services_may_reach_what_they_are_given,  # ... and so does the port's own allow_from
     _all(_set("services.ollama-init.environment.TEMPO", "tempo:3200"),
          _set("services.tempo.allow_from", ["grafana", "otel-collector", "prometheus", "ollama"]),
          _set("services.tempo.ports.0.allow_from", ["grafana", "prometheus", "ollama"])), None, []),
    (R.services_may_reach_what_they_are_given,
     _all(_set("services.api.environment", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"}),
          _set("services.otel-collector.ports.1.allow_from", ["prometheus"])),
     "services.api.environment.OTEL_EXPORTER_OTLP_ENDPOINT",
     ["services.otel-collector.ports[1].allow_from ['prometheus']", "add 'api'"]),
    (R.services_may_reach_what_they_are_given, _set("services.api.environment", {"GF": "grafana:3001"}),
     "services.api.environment.GF", ["names grafana port 3001, which is not a port of task 'grafana' ([3000])"]),
    (R.services_may_reach_what_they_are_given,  # same task (localhost) and non-service hosts are not checked
     _set("services.api.environment", {"SELF": "http://api:8000", "X": "https://example.com:8443"}), None, []),
    (R.services_may_reach_what_they_are_given, _unchanged, None, []),
    (R.gpus_on_gpu_providers, _set("services.ollama.capacity_provider", "general"), "services.ollama.gpu",
     ["capacity provider 'general' has no GPU", "['gpu']"]),
    (R.gpus_on_gpu_providers, _unchanged, None, []),
    (R.alb_target_is_a_service_port, _set("alb.target.port", 8080), "alb.target.port",
     ["port 8080 is not a port of 'api' ([8000])"]),
    (R.alb_target_is_a_service_port, _set("alb.target.service", "rag-indexer"), "alb.target.service",
     ["'rag-indexer' is not a long-running service"]),
    (R.alb_target_is_a_service_port, _unchanged, None, []),
    (R.grafana_target_is_a_service_port, _set("alb.grafana", {**_VPN, "service": "grafna"}), "alb.grafana.service",
     ["'grafna' is not a defined service"]),
    (R.grafana_target_is_a_service_port, _set("alb.grafana", {**_VPN, "port": 3001}), "alb.grafana.port",
     ["port 3001 is not a port of 'grafana'"]),
    (R.grafana_target_is_a_service_port, _set("alb.grafana", _VPN), None, []),
    (R.grafana_target_is_a_service_port, _set("alb.grafana", {"service": "grafna"}), None, []),  # not exposed
    (R.oidc_client_secret_is_plain, _set("alb.grafana", grafana_sso("QUALITY_OPS_TOKEN")),
     "alb.grafana.oidc.client_secret", ["must be a plain secret set out of band"]),
    (R.oidc_client_secret_is_plain, _set("alb.grafana", grafana_sso("grafana-oidcc")),
     "alb.grafana.oidc.client_secret", ["'grafana-oidcc' is not a defined secret"]),
    (R.oidc_client_secret_is_plain, _all(_set("secrets.grafana-oidc", {}),
                                         _set("alb.grafana", grafana_sso("grafana-oidc"))), None, []),
    (R.scheduled_tasks_run_inside_off_hours, _all(_set("services.rag-indexer.kind", "scheduled"),
                                                  _set("services.rag-indexer.schedule", "rate(1 hour)"),
                                                  _set("services.rag-indexer.capacity_provider", "gpu")),
     "services.rag-indexer.schedule", ["fires around the clock", "'gpu' runs only mon-fri 08:00-20:00"]),
    (R.scheduled_tasks_run_inside_off_hours, _all(_set("services.rag-indexer.kind", "scheduled"),
                                                  _set("services.rag-indexer.schedule", "cron(30 22 ? * MON-FRI *)"),
                                                  _set("services.rag-indexer.schedule_timezone", "America/Sao_Paulo"),
                                                  _set("services.rag-indexer.capacity_provider", "gpu")),
     "services.rag-indexer.schedule", ["fires outside the window, at MON 22:30, TUE 22:30, WED 22:30, ..."]),
    (R.scheduled_tasks_run_inside_off_hours, _all(_set("services.rag-indexer.kind", "scheduled"),
                                                  _set("services.rag-indexer.schedule", "cron(0 9 ? * MON-FRI *)"),
                                                  _set("services.rag-indexer.schedule_timezone", "America/Sao_Paulo"),
                                                  _set("services.rag-indexer.capacity_provider", "gpu")), None, []),
    (R.secrets_read_at_apply_exist_before_it, _set("secrets.docker-hub.existing", False), "secrets.docker-hub.existing",
     ["the ECR pull-through cache rule for Docker Hub needs this secret's value", "'existing: true'"]),
    (R.secrets_read_at_apply_exist_before_it, _all(_set("secrets.grafana-oidc", {}),
                                                   _set("alb.grafana", grafana_sso("grafana-oidc"))),
     "secrets.grafana-oidc.existing", ["the Grafana SSO listener rule (authenticate-oidc)", "before the first deploy"]),
    (R.secrets_read_at_apply_exist_before_it, _all(_set("secrets.grafana-oidc", {"existing": True}),
                                                   _set("alb.grafana", grafana_sso("grafana-oidc"))), None, []),
    (R.secrets_read_at_apply_exist_before_it,  # no cache rule reads it: the stack may create it
     _all(_set("secrets.docker-hub.existing", False), _set("registry.pull_through_cache", False)), None, []),
    (R.no_dependency_cycles, _set("services.tempo.depends_on", ["api"]), "services.",
     ["dependency cycle:", "api", "tempo"]),
    (R.no_dependency_cycles, _unchanged, None, []),
    (R.tasks_fit_capacity, _set("services.ollama.memory", 65536), "services.ollama.memory",
     ["task 'ollama' needs 65792 MiB", "g5.xlarge offers"]),
    (R.tasks_fit_capacity, _all(_set("services.ollama.memory", 65536),
                                _set("cluster.capacity_providers.gpu.instance_type", "g5.8xlarge")), None, []),
]


@pytest.mark.parametrize("rule,mutate,field_path,words", CASES, ids=[case_id(c) for c in CASES])
def test_rule(rule, mutate, field_path, words):
    check_rule_case(rule, mutate, field_path, words)


def _all_cases() -> list:
    """CASES of this file and of every tests/config/test_config_rules_<concern>.py."""
    found = list(CASES)
    for path in sorted(Path(__file__).parent.glob("test_config_rules_*.py")):
        found += importlib.import_module(path.stem).CASES
    return found


def test_every_rule_is_registered_once_documented_and_tested():
    names = [rule.__name__ for rule in rules.RULES]
    assert len(names) == len(set(names))
    cases = _all_cases()
    for rule in rules.RULES:
        assert rule.__doc__ and rule.__doc__.strip(), f"{rule.__name__} states no rule in its docstring"
        kinds = {path is not None for r, _, path, _ in cases if r is rule}
        assert kinds == {True, False}, f"{rule.__name__} needs a failing and a passing case in a CASES list"
    # a rule: a public function of a rules module taking the config and returning problems
    public = {name for module in _rule_modules() for name, obj in vars(module).items()
              if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not name.startswith("_")
              and list(inspect.signature(obj).parameters) == ["cfg"]
              and inspect.signature(obj).return_annotation == "list[Problem]"}
    assert public - set(names) == set(), "a rule is not in RULES"
    assert {"undefined", "only_when_consistent", "problems", "check"} <= {
        name for module in _rule_modules() for name in vars(module)}


def _rule_modules() -> list:
    """The package modules/config/rules/ and every module in it."""
    found = [rules]
    for info in pkgutil.walk_packages(rules.__path__, rules.__name__ + "."):
        found.append(importlib.import_module(info.name))
    return found


def test_stage_passes_every_rule(stage_cfg):
    assert rules.problems(stage_cfg) == []


def test_model_validate_runs_the_rules_and_reports_them_all():
    data = variant(_all(_set("services.api.depends_on", ["nope"]), _set("alb.target.port", 8080)))
    with pytest.raises(ValidationError) as excinfo:
        EnvConfig.model_validate(data)
    text = str(excinfo.value)
    assert "services.api.depends_on[0]: 'nope' is not a defined service" in text
    assert "alb.target.port: port 8080 is not a port of 'api'" in text


def test_capacity_fit_waits_for_the_other_rules():
    """Sizes of a config whose references dangle are noise: the fit runs only when the rules before it pass."""
    both = _all(_set("services.api.depends_on", ["nope"]), _set("services.ollama.memory", 65536))
    paths = [dotted(loc) for loc, _ in rules.problems(schema_only(both))]
    assert paths == ["services.api.depends_on[0]"]
    paths = [dotted(loc) for loc, _ in rules.problems(schema_only(_set("services.ollama.memory", 65536)))]
    assert paths == ["services.ollama.memory"]


def test_skipped_rules_are_not_run():
    data = variant(_set("services.ollama.memory", 65536))
    with pytest.raises(ValidationError):
        EnvConfig.model_validate(data)
    cfg = EnvConfig.model_validate(data, context={"skip_rules": {"tasks_fit_capacity"}})
    assert cfg.services["ollama"].memory == 65536
    assert stage_data()["services"]["ollama"]["memory"] != 65536


def test_a_job_with_a_dangling_depends_on_is_reported_not_a_crash():
    """jobs_use_dns_names follows a job's depends_on; a dangling one is service_references_resolve's to report."""
    found = [(dotted(loc), msg) for loc, msg in rules.problems(schema_only(
        _set("services.rag-indexer.depends_on", ["nope"])))]
    assert ("services.rag-indexer.depends_on[0]", "'nope' is not a defined service; defined: "
            f"{sorted(stage_data()['services'])}") in found


def test_a_rule_registered_after_the_gated_one_still_reports():
    """Every problem at once: a rule listed after the gated capacity fit (volume_users_own_their_volumes) reports
    its problem together with an earlier rule's, and together with a problem that makes the fit skip."""
    names = [rule.__name__ for rule in rules.RULES]
    assert names.index("volume_users_own_their_volumes") > names.index("tasks_fit_capacity")
    both = _all(_set("services.api.depends_on", ["nope"]), _set("services.grafana.user", "1000:1000"))
    # (the grafana user is refused twice: it owns no volume, and it is not the image's user: contract rule)
    paths = list(dict.fromkeys(dotted(loc) for loc, _ in rules.problems(schema_only(both))))
    assert paths == ["services.api.depends_on[0]", "services.grafana.user"]
    # the capacity fit's own problem waits, the later rule's does not
    also_too_big = _all(both, _set("services.ollama.memory", 65536))
    paths = list(dict.fromkeys(dotted(loc) for loc, _ in rules.problems(schema_only(also_too_big))))
    assert paths == ["services.api.depends_on[0]", "services.grafana.user"]
    # a later rule's problem alone still skips the fit (its figures would assume a sound config)
    fit_and_later = _all(_set("services.grafana.user", "1000:1000"), _set("services.ollama.memory", 65536))
    assert set(dotted(loc) for loc, _ in rules.problems(schema_only(fit_and_later))) == {"services.grafana.user"}
