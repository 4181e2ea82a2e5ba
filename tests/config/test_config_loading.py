"""modules/config/loading.py: every bad env file gets one clear, exit-2 error naming the file and the field path."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from config_mutations import GRAFANA_HOST, delete_path, grafana_sso, set_path
from conftest import STAGE_FILE, run_main, run_main_in_process, variant
from modules.config import EnvConfig, load
from modules.config.loading import _problems


_set, _delete, _grafana_sso = set_path, delete_path, grafana_sso


# (case id, how the stage file is broken, the field path the message must name, words it must contain)
BAD_ENV_FILES = [
    # issue 17: egress, zones, image digests
    ("egress-bad-description", _set("services.api.egress", [{"port": 443, "description": "LLM <provider>"}]),
     "services.api.egress[0].description", ["is not text matching"]),
    ("egress-bad-port", _set("services.api.egress", [70000]), "services.api.egress[0].port", ["less than or equal"]),
    ("zones-disagree-with-count", lambda d: d["network"].update(az_count=3), "network",
     ["names 2 zones but az_count is 3"]),
    ("zones-mixed-kinds", _set("network.availability_zones", ["us-east-1a", "use1-az2"]), "network",
     ["mixes zone names and zone ids"]),
    ("zone-not-a-zone", _set("network.availability_zones", ["us-east-1", "us-east-1b"]),
     "network.availability_zones[0]", ["is not text matching"]),
    ("image-digest-malformed", _set("services.ollama.image", "ollama/ollama:0.3.14@sha256:abc"),
     "services.ollama.image", ["not sha256:<64 lower-case hex>"]),
    ("image-digest-without-tag", _set("services.ollama.image", "ollama/ollama@sha256:" + "a" * 64),
     "services.ollama.image", ["needs a pinned tag"]),
    ("unknown-top-level-key", _set("netwrok", {}), "netwrok", ["unknown key", "allowed keys", "network"]),
    ("unknown-service-key", _set("services.api.cpus", 2), "services.api.cpus", ["unknown key", "cpu"]),
    ("wrong-type", _set("services.ollama.gpu", "one"), "services.ollama.gpu", ["integer", "'one'"]),
    ("bad-cidr", _set("network.vpc_cidr", "10.40.0.300/16"), "network.vpc_cidr", ["not a valid network CIDR"]),
    ("cidr-host-bits", _set("network.vpc_cidr", "10.40.0.1/16"), "network.vpc_cidr", ["host bits"]),
    ("dangling-depends-on", _set("services.api.depends_on", ["prometheus", "jaeger"]),
     "services.api.depends_on[1]", ["'jaeger' is not a defined service"]),
    ("gpu-on-general", _set("services.ollama.capacity_provider", "general"), "services.ollama.gpu",
     ["no GPU", "gpu"]),
    ("duplicate-port-in-task", _set("services.ollama-init.ports", [11434]), "services.ollama-init.ports[0]",
     ["port 11434", "'ollama'"]),
    ("missing-required", _delete("services.api.image"), "services.api.image", ["required field is missing"]),
    ("subnets-do-not-fit", _set("network.subnet_prefix", 17), "network", ["do not fit", "10.40.0.0/16"]),
    ("one-az", _set("network.az_count", 1), "network.az_count", ["greater than or equal to 2"]),
    ("unreachable-url", _set("services.grafana.allow_from", []), "services.api.parameters.GRAFANA_URL",
     ["'http://grafana:3000'", "api reaches grafana on port 3000", "services.grafana.allow_from []", "add 'api'"]),
    ("https-without-certificate", _delete("alb.domain"), "alb",
     ["'https: true' needs a certificate", "'domain' (a Route 53 hosted zone", "'certificate_arn'"]),
    ("domain-and-certificate", _set("alb.certificate_arn", "arn:aws:acm:us-east-1:111122223333:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"), "alb",
     ["set one of 'domain'", "'certificate_arn' (a certificate managed elsewhere), not both"]),
    ("domain-without-zone", _delete("alb.domain.zone"), "alb.domain.zone", ["required"]),
    ("domain-zone-is-a-url", _set("alb.domain", {"zone": "https://example.com"}), "alb.domain.zone",
     ["not a lower-case DNS zone name such as example.com"]),
    ("grafana-host-outside-the-zone", _set("alb", {**variant(lambda d: None)["alb"],
                                                   "domain": {"zone": "example.com"},
                                                   "grafana": {"exposure": "vpn", "host": "grafana.example.org",
                                                               "allowed_cidrs": ["198.51.100.0/24"]}}),
     "alb", ["grafana.host 'grafana.example.org' is not in the zone 'example.com'", "grafana.example.com"]),
    ("secret-needed-at-apply-created-here", _delete("secrets.docker-hub.existing"), "secrets.docker-hub.existing",
     ["pull-through cache rule for Docker Hub needs this secret's value", "'existing: true'", "step 0"]),
    ("existing-secret-generated", _set("secrets.QUALITY_OPS_TOKEN.existing", True), "secrets.QUALITY_OPS_TOKEN",
     ["an 'existing' secret is created out of band with its value: it cannot be 'generate'd"]),
    ("dangling-secret", _set("services.api.secrets", ["QUALITY_OPS_TOKN"]), "services.api.secrets.QUALITY_OPS_TOKN",
     ["not a defined secret", "QUALITY_OPS_TOKEN"]),
    ("dangling-volume", _set("services.ollama.volumes", ["models:/root/.ollama"]),
     "services.ollama.volumes[0].volume", ["'models' is not a defined volume"]),
    ("dangling-init-of", _set("services.ollama-init.init_of", "olama"), "services.ollama-init.init_of",
     ["'olama' is not a defined service"]),
    ("latest-tag", _set("services.ollama.image", "ollama/ollama:latest"), "services.ollama.image",
     ["pinned tag"]),
    ("bad-kind", _set("services.api.kind", "daemon"), "services.api.kind", ["'service'", "'scheduled'"]),
    ("dependency-cycle", _set("services.tempo.depends_on", ["api"]), "services.",
     ["dependency cycle"]),
    ("database-without-identifier", _set("database", {"mode": "instance", "credentials_secret_arn":
                                                      "arn:aws:secretsmanager:us-east-1:000000000000:secret:x-AbCdEf"}),
     "database", ["needs 'identifier'"]),
    ("alb-target-port", _set("alb.target.port", 8080), "alb.target.port", ["not a port of 'api'"]),
    ("dangling-parameter", _set("services.api.parameters", ["EXECUTOR_MOD"]), "services.api.parameters.EXECUTOR_MOD",
     ["not a defined parameter"]),
    ("unknown-capacity-provider", _set("services.ollama.capacity_provider", "gpus"),
     "services.ollama.capacity_provider", ["not a defined capacity provider"]),
    # capacity-fit check (modules/config/capacity.py, rule tasks_fit_capacity)
    ("ollama-64gb-on-g5-xlarge", _set("services.ollama.memory", 65536), "services.ollama.memory",
     ["task 'ollama' needs 65792 MiB", "ollama-init 256", "g5.xlarge offers", "short by"]),
    ("unknown-instance-type", _set("cluster.capacity_providers.gpu.instance_type", "g5.xlarg"),
     "cluster.capacity_providers.gpu.instance_type", ["'g5.xlarg' is not supported", "g5.xlarge", "g4dn.xlarge"]),
    ("gpu-provider-without-gpu", _set("cluster.capacity_providers.gpu.instance_type", "m6i.xlarge"),
     "cluster.capacity_providers.gpu.instance_type", ["has no GPU", "g5.xlarge"]),
    ("general-max-size-too-small", _set("services.api.scaling", {"min": 1, "max": 12}),
     "cluster.capacity_providers.general.max_size", ["api x12", "raise max_size to at least"]),
    # network and edge (modules/network.py, security_groups.py, alb.py)
    ("subnet-larger-than-vpc", _set("network.vpc_cidr", "10.40.0.0/22"), "network",
     ["subnet_prefix /20 is larger than the VPC 10.40.0.0/22", "between /24 and /27"]),
    ("alb-without-sources", _set("alb.allowed_cidrs", []), "alb.allowed_cidrs", ["at least 1"]),
    ("grafana-open-to-everyone", _set("alb.grafana", {"exposure": "vpn", "host": GRAFANA_HOST,
                                                      "allowed_cidrs": ["0.0.0.0/0"]}),
     "alb.grafana", ["0.0.0.0/0 opens Grafana to everyone", "VPN"]),
    ("grafana-internal-public-range", _set("alb.grafana", {"allowed_cidrs": ["8.8.8.0/24"]}), "alb.grafana",
     ["8.8.8.0/24 is public", "a private range (RFC 1918", "'vpn'"]),
    ("grafana-host-is-a-url", _set("alb.grafana", {"exposure": "vpn", "host": "https://grafana.example.com",
                                                   "allowed_cidrs": ["198.51.100.0/24"]}),
     "alb.grafana.host", ["not a lower-case DNS host name", "grafana.example.com"]),
    ("grafana-unknown-service", _set("alb.grafana", {"exposure": "vpn", "host": GRAFANA_HOST,
                                                     "allowed_cidrs": ["198.51.100.0/24"], "service": "grafna"}),
     "alb.grafana.service", ["'grafna' is not a defined service", "grafana"]),
    ("grafana-sso-over-http",
     lambda d: [m(d) for m in (_delete("alb.domain"), _set("alb.https", False),
                               _set("secrets.grafana-oidc", {"existing": True}),
                               _set("alb.grafana", grafana_sso("grafana-oidc")))],
     "alb", ["'sso' needs 'https: true'"]),
    ("oidc-secret-is-generated", _set("alb.grafana", grafana_sso("QUALITY_OPS_TOKEN")),
     "alb.grafana.oidc.client_secret", ["must be a plain secret set out of band"]),
    ("port-allow-from-widens-the-task", _set("services.tempo.ports.1.allow_from", ["api"]),
     "services.tempo.ports[1].allow_from[0]", ["'api' is not in services.tempo.allow_from", "narrows"]),
    ("vpc-larger-than-aws-allows", _set("network.vpc_cidr", "10.0.0.0/8"), "network.vpc_cidr",
     ["10.0.0.0/8", "/16 to /28"]),
    ("vpc-public-range", _set("network.vpc_cidr", "52.10.0.0/16"), "network.vpc_cidr", ["public range", "10.0.0.0/8"]),
    # managed data, secrets, registries (modules/secrets.py, registry.py, database.py)
    ("database-endpoint-without-group", _set("database", {"mode": "endpoint", "endpoint": "db.example.internal",
                                                          "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:pg-AbCdEf"}),
     "database", ["needs 'endpoint' and 'security_group_id'"]),
    ("database-without-credentials", _set("database", {"mode": "instance", "identifier": "pg"}),
     "database", ["needs 'credentials_secret_arn'"]),
    ("database-lookup-and-endpoint", _set("database", {"mode": "cluster", "identifier": "pg", "endpoint": "db.x",
                                                       "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:pg-AbCdEf"}),
     "database", ["looks the endpoint up", "mode 'endpoint'"]),
    ("database-lookup-with-port", _set("database", {"mode": "instance", "identifier": "pg", "port": 5433,
                                                    "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:pg-AbCdEf"}),
     "database", ["looks the port up"]),
    ("database-none-with-reference", _set("database", {"mode": "none", "identifier": "pg"}),
     "database", ["takes no reference", "identifier"]),
    ("database-allow-from-dangling", _set("database", {"mode": "instance", "identifier": "pg", "allow_from": ["apii"],
                                                       "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:pg-AbCdEf"}),
     "database.allow_from[0]", ["'apii' is not a defined service"]),
    ("cache-allow-from-dangling", _set("cache.allow_from", ["api", "quality-cronn"]), "cache.allow_from[1]",
     ["'quality-cronn' is not a defined service"]),
    ("secret-recovery-window", _set("secrets.api-env.recovery_window_days", 3),
     "secrets.api-env.recovery_window_days", ["not a Secrets Manager recovery window", "7-30"]),
    ("generation-of-a-keys-secret", _set("secrets.api-env.generation", 2), "secrets.api-env",
     ["'generation' applies to generated secrets only"]),
    ("generate-and-keys", _set("secrets.QUALITY_OPS_TOKEN.keys", ["A"]), "secrets.QUALITY_OPS_TOKEN",
     ["either 'generate'd or a JSON secret"]),
    ("empty-parameter", _set("parameters.EXECUTOR_MODE", ""), "parameters.EXECUTOR_MODE", ["at least 1 character"]),
    ("uncacheable-public-image", _set("services.ollama.image", "gcr.io/acme/ollama:0.3.14"), "services.ollama.image",
     ["pull-through cache does not support", "pull_through_cache: false"]),
    ("docker-hub-without-credentials", _delete("registry.docker_hub_secret"), "registry.docker_hub_secret",
     ["required", "accessToken", "pull_through_cache: false"]),
    ("docker-hub-secret-keys", _set("secrets.docker-hub.keys", ["user", "token"]), "secrets.docker-hub.keys",
     ["exactly the keys", "accessToken"]),
    ("cache-upstreams-without-cache", _set("registry", {"pull_through_cache": False, "cache_upstreams": ["quay"]}),
     "registry.cache_upstreams", ["needs 'pull_through_cache: true'"]),
    ("unknown-cache-upstream", _set("registry.cache_upstreams", ["gcr"]), "registry.cache_upstreams[0]",
     ["'docker-hub'", "'quay'"]),
    ("cache-id-invalid", lambda d: (_set("environment", "stage--b")(d), _set("registry", {"pull_through_cache": False})(d)), "cache",
     ["at most 40 characters without '--'", "araquem-stage--b-redis"]),
    ("pull-through-prefix-too-long", _set("environment", "stage-eu-central"), "registry.pull_through_cache",
     ["'araquem-stage-eu-central/docker-hub'", "at most 30 characters"]),
    ("parameter-too-long", _set("parameters.EXECUTOR_MODE", "x" * 4097), "parameters.EXECUTOR_MODE",
     ["at most 4096 characters"]),
    ("tag-env-var-with-dockerfile", _set("services.prometheus.image.tag_env_var", "PROMETHEUS_TAG"),
     "services.prometheus.image", ["'tag_env_var' is for images another repository builds", "hash of its build context"]),
    ("tag-env-var-with-public", _set("services.ollama.image", {"public": "ollama/ollama:0.3.14", "tag_env_var": "T"}),
     "services.ollama.image", ["'tag_env_var' only goes with 'build'"]),
    ("tag-env-var-is-the-synth-tag", _set("services.api.image.tag_env_var", "ARAQUEM_IMAGE_TAG"),
     "services.api.image.tag_env_var", ["is the synth-time tag (registry.image_tag_env_var)", "omit tag_env_var"]),
    ("one-build-two-tags", _set("services.rag-indexer.image", {"build": "api"}), "services.rag-indexer.image",
     ["builds 'api' like service 'api'", "one repository has one source and one tag"]),
]


@pytest.fixture()
def previous_output(tmp_path):
    """An earlier cdktf.out: must be left exactly as it was by a failed run."""
    out = tmp_path / "cdktf.out"
    stack = out / "stacks" / "araquem-stage"
    stack.mkdir(parents=True)
    (stack / "cdk.tf.json").write_text('{"earlier": true}')
    (out / "manifest.json").write_text(json.dumps({"version": "0.21.0", "stacks": {"araquem-stage": {
        "workingDirectory": "stacks/araquem-stage", "synthesizedStackPath": "stacks/araquem-stage/cdk.tf.json"}}}))
    return out


def _snapshot(directory):
    return {p.relative_to(directory): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case,mutate,field_path,words", BAD_ENV_FILES, ids=[c[0] for c in BAD_ENV_FILES])
def test_bad_env_file_is_rejected_clearly(case, mutate, field_path, words, tmp_path, previous_output):
    env_file = tmp_path / f"{case}.yaml"
    env_file.write_text(yaml.safe_dump(variant(mutate), sort_keys=False))
    before = _snapshot(previous_output)

    # In process: the CLI's path from arguments to exit code, ~70 cases under three Pythons; the tests below
    # run the same refusal through a real `python main.py` subprocess.
    proc = run_main_in_process("--env-file", str(env_file), "synth", "--outdir", str(previous_output))

    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(f"{env_file}: {field_path}")]
    assert lines, f"no line names {field_path!r}:\n{proc.stderr}"
    for word in words:
        assert any(word in ln for ln in lines), f"{word!r} missing from {lines}"
    assert _snapshot(previous_output) == before
    assert not list(previous_output.parent.glob(".cdktf.out.*")), "a staging directory was left behind"


def test_malformed_yaml_names_the_line(tmp_path, previous_output):
    env_file = tmp_path / "broken.yaml"
    env_file.write_text("project: araquem\nservices:\n  api: [unclosed\n")
    before = _snapshot(previous_output)
    proc = run_main("--env-file", str(env_file), "synth", "--outdir", str(previous_output))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{env_file}: malformed YAML: line ")
    assert "Traceback" not in proc.stderr
    assert _snapshot(previous_output) == before


def test_unknown_env_name_lists_known_ones(previous_output):
    before = _snapshot(previous_output)
    proc = run_main("--env", "prod-eu", "synth", "--outdir", str(previous_output))
    assert proc.returncode == 2
    assert "--env prod-eu" in proc.stderr and "envs/prod-eu.yaml" in proc.stderr and "stage" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _snapshot(previous_output) == before


def test_latest_image_tag_is_refused(previous_output):
    proc = run_main("synth", "--outdir", str(previous_output), env={"ARAQUEM_IMAGE_TAG": "latest"})
    assert proc.returncode == 2
    assert "ARAQUEM_IMAGE_TAG=latest" in proc.stderr


@pytest.mark.parametrize("tag,words", [("latest", ["not 'latest'"]), ("feature/x", ["not an image tag"])],
                         ids=["latest", "not-a-tag"])
def test_app_image_tag_is_checked_before_synth(previous_output, tag, words):
    var = load(STAGE_FILE).services["api"].image.tag_env_var
    before = _snapshot(previous_output)
    proc = run_main("synth", "--outdir", str(previous_output), env={var: tag})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {var}={tag}" if tag == "latest" else f"error: {var}='{tag}'")
    assert all(word in proc.stderr for word in words), proc.stderr
    assert _snapshot(previous_output) == before


def test_every_problem_is_reported_at_once(tmp_path):
    def mutate(data):
        data["services"]["api"]["depends_on"] = ["nope"]
        data["services"]["ollama"]["volumes"] = ["gone:/root/.ollama"]

    env_file = tmp_path / "two.yaml"
    env_file.write_text(yaml.safe_dump(variant(mutate)))
    proc = run_main("--env-file", str(env_file))
    assert proc.returncode == 2
    assert "services.api.depends_on[0]" in proc.stderr and "services.ollama.volumes[0].volume" in proc.stderr


def _leaf_paths(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,)
            yield from _leaf_paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield path + (index,)
            yield from _leaf_paths(value, path + (index,))


def test_a_wrong_shape_anywhere_is_an_input_error_not_a_crash():
    """A nested list or mapping in place of any value of stage.yaml: a validator that assumed names (a
    TypeError: unhashable list) would crash with a traceback; every one must be a field error."""
    base = yaml.safe_load(STAGE_FILE.read_text())
    for path in _leaf_paths(base):
        for wrong in ([["x"]], {"a": [1]}):
            data = copy.deepcopy(base)
            node = data
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = wrong
            try:
                EnvConfig.model_validate(data)
            except ValueError as exc:  # pydantic's ValidationError; anything else propagates and fails
                assert _problems(exc, {}), path
