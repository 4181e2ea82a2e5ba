"""End to end: env files AWS would reject (or that would break at run time) are refused by
`python main.py --env-file X synth --outdir D` before jsii starts: exit 2, no traceback, the file and the
field named with what is allowed, and the earlier output in D left byte for byte as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from conftest import run_main_in_process, variant

CERT = "arn:aws:acm:{region}:000000000000:certificate/00000000-0000-0000-0000-000000000000"


def _set(path: str, value):
    def mutate(data):
        *parents, last = path.split(".")
        for key in parents:
            data = data[int(key) if key.isdigit() else key]
        data[last] = value
    return mutate


def _certificate_arn(arn: str):
    """The certificate managed elsewhere instead of stage's alb.domain."""
    def mutate(data):
        data["alb"].pop("domain", None)
        data["alb"]["certificate_arn"] = arn
    return mutate


def _both(*mutations):
    return lambda data: [m(data) for m in mutations]


def _scheduled(expression: str):
    return _set("services.rag-indexer", {**variant(lambda d: None)["services"]["rag-indexer"],
                                         "kind": "scheduled", "schedule": expression})


# (id, mutation of stage.yaml, field path the error names, a word of what is allowed)
BAD = [
    ("reserved-capacity-provider-prefix", _set("project", "ecsapp"), "project", "'aws', 'ecs', 'fargate'"),
    ("reserved-tag-key", _set("tags", {"aws:team": "ml"}), "tags", "reserved for AWS"),
    ("unknown-region", _set("region", "sa-west-1"), "region", "allowed: af-south-1"),
    ("certificate-other-region", _certificate_arn(CERT.format(region="eu-west-1")),
     "alb.certificate_arn", "its own Region only"),
    ("certificate-malformed", _certificate_arn("arn:aws:acm:us-east-1:certificate/abc"),
     "alb.certificate_arn", "<12-digit account>"),
    ("iam-role-name-too-long", _both(_set("project", "p" * 32), _set("environment", "e" * 20)),
     "services.api", "at most 64"),
    ("port-name-too-long", _set("services.api.ports", [{"port": 8000, "name": "a" * 70}]),
     "services.api.ports[0].name", "at most 64"),
    ("task-definition-over-64kib", _set("services.api.environment", {f"V{i}": "x" * 4000 for i in range(20)}),
     "services.api", "64 KiB"),
    ("container-health-timeout", _set("services.api.health_check", {"command": "true", "timeout": 61}),
     "services.api.health_check.timeout", "60"),
    ("alb-health-interval-not-above-timeout", _set("alb.health_check", {"interval": 6, "timeout": 6}),
     "alb.health_check", "allowed: timeout 2-5"),
    ("no-essential-container", _set("services.api.essential", False), "services.api.essential", "essential true"),
    ("init-container-essential", _set("services.ollama-init.essential", True), "services.ollama-init",
     "essential false"),
    ("cpu-zero-on-task-owner", _set("services.prometheus.cpu", 0), "services.prometheus.cpu", "cpu >= 0.125"),
    ("log-retention-not-accepted", _set("logs", {"retention_days": 45}), "logs.retention_days", "60, 90"),
    ("cron-with-five-fields", _scheduled("cron(0 3 * * *)"), "services.rag-indexer", "6"),
    ("cron-without-question-mark", _scheduled("cron(0 3 * * * *)"), "services.rag-indexer", "must be '?'"),
    ("cache-node-type-unknown", _set("cache.node_type", "cache.t5.micro"), "cache.node_type", "cache.t4g.micro"),
    ("cache-engine-version-unknown", _set("cache.engine_version", "6.0"), "cache", "allowed: 7.0, 7.1"),
    ("two-volumes-one-path", _set("services.ollama.volumes", ["ollama-home:/models", "grafana:/models"]),
     "services.ollama", "its own container path"),
    ("mount-path-relative", _set("services.ollama.volumes", ["ollama-home:home/ollama"]),
     "services.ollama.volumes", "must be absolute"),
    ("subnets-too-small", _set("network.subnet_prefix", 28), "network.subnet_prefix", "subnet_prefix /27"),
    ("vpc-too-small", _set("network.vpc_cidr", "10.40.0.0/28"), "network", "/25 or shorter"),
    # issue 16 items 1, 8, 9: the zone is a name; a secret the first apply reads is never one it creates
    ("domain-zone-is-a-url", _set("alb.domain.zone", "https://araquem.com.br"), "alb.domain.zone",
     "zone name such as example.com"),
    ("pull-through-secret-created-by-the-stack", _set("secrets.docker-hub.existing", False),
     "secrets.docker-hub.existing", "'existing: true'"),
    ("sso-client-secret-created-by-the-stack", _both(_set("secrets.grafana-oidc", {}), _set("alb.grafana", {
        "exposure": "sso", "allowed_cidrs": ["198.51.100.0/24"],
        "oidc": {"issuer": "https://idp.example.com", "authorization_endpoint": "https://idp.example.com/a",
                 "token_endpoint": "https://idp.example.com/t", "user_info_endpoint": "https://idp.example.com/u",
                 "client_id": "grafana", "client_secret": "grafana-oidc"}})),
     "secrets.grafana-oidc.existing", "before the first deploy"),
    # issue 24: a service reading a Postgres connection with no database given; a peer block overlapping the VPC
    ("reads-database-url-without-database", _set("secrets.api-env.keys", ["DATABASE_URL", "OPENAI_API_KEY"]),
     "services.api", "Set database.mode (instance | cluster | endpoint)"),
    ("database-network-overlaps-vpc", _set("database", {
        "mode": "instance", "identifier": "team-db", "allow_from": ["api"],
        "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:000000000000:secret:team/db-AbCdEf",
        "network": {"via": "peering", "vpc_id": "vpc-0a1b2c3d4e5f60718", "cidrs": ["10.40.0.0/16"]}}),
     "database.network.cidrs[0]", "allowed: a network.vpc_cidr outside the database VPC's blocks"),
]


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def earlier_output(tmp_path_factory) -> Path:
    """An output directory as an earlier synth left it: manifest, stack JSON and local state."""
    out = tmp_path_factory.mktemp("earlier") / "cdktf.out"
    stack = out / "stacks" / "araquem-stage"
    stack.mkdir(parents=True)
    (out / "manifest.json").write_text('{"version": "0.21.0", "stacks": {"araquem-stage": {}}}\n')
    (stack / "cdk.tf.json").write_text('{"resource": {}}\n')
    (stack / "terraform.araquem-stage.tfstate").write_text('{"serial": 11}\n')
    return out


@pytest.mark.parametrize("mutate,field,allowed", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_env_file_is_refused_and_earlier_output_kept(tmp_path, earlier_output, mutate, field, allowed):
    env_file = tmp_path / "bad.yaml"
    env_file.write_text(yaml.safe_dump(variant(mutate), sort_keys=False))
    before = _snapshot(earlier_output)
    # In process (refused before any synth): tests/test_bad_inputs.py runs refusals as `python main.py`.
    proc = run_main_in_process("--env-file", str(env_file), "synth", "--outdir", str(earlier_output))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if f"{env_file}: {field}" in line]
    assert lines, f"no line naming {env_file}: {field}:\n{text}"
    assert any(allowed in line for line in lines), f"{allowed!r} missing from {lines}"
    assert _snapshot(earlier_output) == before
