"""modules/commands/preflight/ as a command, on moto: the exit codes and summary on a ready account and on one
that would fail, every call read-only, `--endpoint-url`, and credentials that are missing or expired. Each
check's own passing and failing cases: test_preflight_<edge|data|capacity|images|alarms>.py, as the package
is split."""

from __future__ import annotations

import argparse
import json
import re

import boto3
import yaml
from botocore.stub import Stubber
from moto import mock_aws
from moto.server import ThreadedMotoServer

from conftest import run_main, variant
from modules.commands import preflight
from preflight_support import (
    ACCOUNT,
    ENOUGH,
    REGION,
    declared_calls_only,
    env_cfg,
    hosted_zone,
    no_tag_overrides,  # noqa: F401  (the autouse fixture)
    push,
    stubbed_quotas,
    with_certificate,
)


# ------------------------------------------------------------------ the command: exit codes, summary
class QuotaStubbedAws(preflight.Aws):
    """Service Quotas stubbed; every operation any client is asked for recorded (`calls`)."""
    quotas = ENOUGH
    calls: list[str] = []

    def __init__(self, region, endpoint_url=None):
        super().__init__(region, endpoint_url)
        self.clients["service-quotas"], _ = stubbed_quotas(self.quotas)
        self.clients["service-quotas"].meta.events.register_first("before-parameter-build", self._record)

    def _record(self, model, **_):
        QuotaStubbedAws.calls.append(model.name)

    def client(self, service):
        if service not in self.clients:
            super().client(service).meta.events.register_first("before-parameter-build", self._record)
        return self.clients[service]


def ready_account(cfg, tag: str) -> None:
    """What a team has done before its first deploy of this env file."""
    sm, ecr = boto3.client("secretsmanager", region_name=REGION), boto3.client("ecr", region_name=REGION)
    if cfg.alb.domain:
        hosted_zone(cfg.alb.domain.zone)
    for name, spec in cfg.secrets.items():
        if spec.keys:
            sm.create_secret(Name=cfg.secret_name(name), SecretString=json.dumps(dict.fromkeys(spec.keys, "x")))
    for build in sorted({s.image.build for s in cfg.services.values() if s.image.tag_env_var}):
        ecr.create_repository(repositoryName=cfg.repository_name(build))
        push(ecr, cfg.repository_name(build), tag)


def preflight_on_a_ready_account(tmp_path, monkeypatch, capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of preflight on a moto account holding everything stage needs."""
    monkeypatch.setattr(preflight, "Aws", QuotaStubbedAws)
    monkeypatch.setenv("ARAQUEM_APP_IMAGE_TAG", "v1.2.3")
    with mock_aws(), declared_calls_only():
        cfg = env_cfg(tmp_path)  # stage as shipped: its zone and its existing secret are in the account
        ready_account(cfg, "v1.2.3")
        code = preflight.run(argparse.Namespace(endpoint_url=None), cfg)
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_account_exits_0_with_a_summary(tmp_path, monkeypatch, capsys):
    code, out, err = preflight_on_a_ready_account(tmp_path, monkeypatch, capsys)
    assert code == 0, out + err
    assert "FAIL" not in out and err == ""
    assert out.splitlines()[-1].startswith(f"preflight araquem-stage in {REGION}, account {ACCOUNT}: ")
    assert "ready to deploy" in out.splitlines()[-1]
    # read-only: nothing but Describe/List/Get (GetSecretValue only for key names: not in any line above)
    assert QuotaStubbedAws.calls and all(re.match(r"(Describe|List|Get)[A-Z]", c) for c in QuotaStubbedAws.calls)
    assert {"GetCallerIdentity", "ListHostedZonesByName", "DescribeSecret", "DescribeInstanceTypeOfferings",
            "GetServiceQuota", "DescribeImages", "DescribeResourcePolicies"} <= set(QuotaStubbedAws.calls)
    # stage as shipped has no alarm subscription yet: a warning, not a failure
    assert any(ln.startswith("warn  alarm recipients: ") for ln in out.splitlines())


def test_endpoint_url_sends_every_call_to_an_emulator(tmp_path):
    """`--endpoint-url`: main.py against moto's server on 127.0.0.1 (a free port), stopped by the test. moto's
    Service Quotas cannot answer for EC2, which preflight reports as a finding, not a crash."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env_file = tmp_path / "env.yaml"
        placeholder = f"arn:aws:acm:{REGION}:000000000000:certificate/00000000-0000-0000-0000-000000000000"
        env_file.write_text(yaml.safe_dump(variant(with_certificate(placeholder)), sort_keys=False))
        proc = run_main("preflight", "--env-file", str(env_file), "--endpoint-url", f"http://{host}:{port}",
                        timeout=120, env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                                          "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None})
    finally:
        server.stop()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert any(ln.startswith("ok    capacity provider gpu: g5.xlarge offered in us-east-1a, us-east-1b") for ln in lines)
    assert any(ln.startswith("FAIL  quota L-DB2E81BA: cannot read") for ln in lines)
    assert any(ln.startswith("FAIL  certificate:") and "does not exist in this account" in ln for ln in lines)


def test_a_failing_check_exits_2_one_line_per_finding(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(QuotaStubbedAws, "quotas", {"L-1216C47A": 64.0, "L-DB2E81BA": 0.0})
    code, out, err = preflight_on_a_ready_account(tmp_path, monkeypatch, capsys)
    assert code == 2
    assert [ln for ln in out.splitlines() if ln.startswith("FAIL")] == [
        ln for ln in out.splitlines() if "L-DB2E81BA" in ln]
    assert "1 problem(s): the deploy would fail" in err


def test_expired_credentials_are_one_line_exit_2(tmp_path, capsys, monkeypatch):
    cfg = env_cfg(tmp_path)

    class ExpiredAws(preflight.Aws):
        def __init__(self, region, endpoint_url=None):
            super().__init__(region, endpoint_url)
            sts = boto3.client("sts", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
            stub = Stubber(sts)
            stub.add_client_error("get_caller_identity", "ExpiredToken", "The security token included in the "
                                  "request is expired", http_status_code=403)
            stub.activate()
            self.clients["sts"] = sts

    monkeypatch.setattr(preflight, "Aws", ExpiredAws)
    assert preflight.run(argparse.Namespace(endpoint_url=None), cfg) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "AWS credentials rejected (ExpiredToken" in err


def test_missing_credentials_are_one_line_exit_2_from_the_cli():
    no_credentials = {v: None for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE")}
    proc = run_main("preflight", "--env", "stage", timeout=60, env={
        **no_credentials, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("preflight: no AWS credentials found")
