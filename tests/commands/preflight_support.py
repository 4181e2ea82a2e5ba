"""What the preflight test files share: moto's region and account, an env file made from stage.yaml, the
`aws` fixture (moto in-process), and what several checks' tests put in the account first.

moto 5.2's Service Quotas knows only VPC quotas (GetServiceQuota for ec2/L-DB2E81BA answers
NoSuchResourceException "not available in the current Region"), so the vCPU quota check runs on botocore's
Stubber, with responses shaped like the real GetServiceQuota (the Stubber validates them against the API model).
A test module uses a fixture by importing it (`aws`; `no_tag_overrides` where image tags matter).

Every AWS call a check makes under `aws` (or `declared_calls_only`) is recorded and must be among the IAM actions
that check declares in modules/commands/preflight/checks.py: the runbook's list and the deploy role's policy come
from that declaration, so an undeclared call would be an AccessDenied (a FAIL) with the documented role.
"""

from __future__ import annotations

import inspect
import json
from contextlib import contextmanager
from unittest import mock

import boto3
import botocore.client
import pytest
import yaml
from botocore.stub import Stubber
from conftest import variant
from moto import mock_aws

from modules.commands import preflight
from modules.config import load

REGION = "us-east-1"  # stage's region; moto offers g5.xlarge only in us-east-1a and us-east-1b
ACCOUNT = "123456789012"  # moto's default account


def env_cfg(tmp_path, mutate=lambda data: None):
    """stage.yaml changed by `mutate(data)`, written to tmp_path and loaded (rules and all)."""
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(variant(mutate), sort_keys=False))
    return load(path)


def levels(findings) -> list[str]:
    return [f.level for f in findings]


QUOTA_NAMES = {"L-DB2E81BA": "Running On-Demand G and VT instances",
               "L-1216C47A": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"}
ENOUGH = {"L-1216C47A": 64.0, "L-DB2E81BA": 8.0}  # stage needs 16 standard (general 4 x 4) and 4 G (gpu 1 x 4)


def quota_response(code: str, value: float) -> dict:
    """GetServiceQuota as AWS answers it (fields from the Service Quotas API reference)."""
    return {"Quota": {"ServiceCode": "ec2", "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                      "QuotaArn": f"arn:aws:servicequotas:{REGION}:{ACCOUNT}:ec2/{code}", "QuotaCode": code,
                      "QuotaName": QUOTA_NAMES[code], "Value": value, "Unit": "None", "Adjustable": True,
                      "GlobalQuota": False,
                      "UsageMetric": {"MetricNamespace": "AWS/Usage", "MetricName": "ResourceCount",
                                      "MetricDimensions": {"Class": "Standard/OnDemand", "Resource": "vCPU",
                                                           "Service": "EC2", "Type": "Resource"},
                                      "MetricStatisticRecommendation": "Maximum"}}}


def stubbed_quotas(values: dict[str, float]) -> tuple[object, Stubber]:
    client = boto3.client("service-quotas", region_name=REGION)
    stub = Stubber(client)
    for code in sorted(values):  # the check asks in quota-code order
        stub.add_response("get_service_quota", quota_response(code, values[code]),
                          {"ServiceCode": "ec2", "QuotaCode": code})
    stub.activate()
    return client, stub

@pytest.fixture(autouse=True)
def no_tag_overrides(monkeypatch):
    """A developer's shell may export the image tag variables; each test sets what it means."""
    for var in ("ARAQUEM_APP_IMAGE_TAG", "ARAQUEM_IMAGE_TAG"):
        monkeypatch.delenv(var, raising=False)


def iam_action(client, operation_name: str) -> str:
    """The IAM action of an API call: the service's signing name (elbv2 -> elasticloadbalancing, service-quotas
    -> servicequotas) and the operation."""
    return f"{client.meta.service_model.signing_name}:{operation_name}"


def _calling_check(checks) -> object | None:
    """The declared check on the call stack (None: test setup, or the run's own caller lookup)."""
    codes = {check.run.__code__: check for check in checks}
    for frame in inspect.stack(context=0):
        if frame.frame.f_code in codes:
            return codes[frame.frame.f_code]
    return None


@contextmanager
def declared_calls_only():
    """Records every botocore call (moto, Stubber, a real endpoint alike) and, on leaving, fails on any a check
    made that it does not declare (its actions or optional ones, or the caller lookup every run makes)."""
    from modules.commands.preflight.checks import CALLER_ACTIONS, CHECKS  # noqa: PLC0415

    undeclared: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def recording(client, operation_name, api_params):
        action, check = iam_action(client, operation_name), _calling_check(CHECKS)
        if check is not None and action not in (*check.actions, *check.optional, *CALLER_ACTIONS):
            undeclared.append(f"{check.run.__name__} calls {action}")
        return real(client, operation_name, api_params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", recording):
        yield
    assert not undeclared, ("calls not declared in modules/commands/preflight/checks.py (add them to the check's "
                            f"actions, then update the docs its test names): {sorted(set(undeclared))}")


@pytest.fixture
def aws():
    with mock_aws(), declared_calls_only():
        yield preflight.Aws(REGION)

def with_certificate(arn: str, grafana_host: str | None = None):
    def mutate(data):
        data["alb"].pop("domain", None)
        data["alb"]["certificate_arn"] = arn
        if grafana_host:
            data["alb"]["grafana"] = {"exposure": "vpn", "host": grafana_host, "allowed_cidrs": ["10.8.0.0/16"]}
    return mutate

def hosted_zone(name: str, private: bool = False) -> str:
    route53 = boto3.client("route53", region_name=REGION)
    vpc = ({"VPC": {"VPCRegion": REGION, "VPCId": boto3.client("ec2", region_name=REGION).create_vpc(
        CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]}} if private else {})
    zone = route53.create_hosted_zone(Name=name, CallerReference=f"{name}-{private}-{len(route53.list_hosted_zones()['HostedZones'])}",
                                      HostedZoneConfig={"PrivateZone": private}, **vpc)
    return zone["HostedZone"]["Id"]

def with_zone(zone: str, grafana_sso: bool = False):
    def mutate(data):
        data["alb"]["domain"]["zone"] = zone
        if grafana_sso:
            data["secrets"]["grafana-oidc"] = {"existing": True}
            data["alb"]["grafana"] = grafana_sso_exposure("grafana-oidc")
    return mutate


def grafana_sso_exposure(secret: str) -> dict:
    idp = "https://idp.example.com"
    return {"exposure": "sso", "allowed_cidrs": ["198.51.100.0/24"],
            "oidc": {"issuer": idp, "authorization_endpoint": f"{idp}/a", "token_endpoint": f"{idp}/t",
                     "user_info_endpoint": f"{idp}/u", "client_id": "grafana", "client_secret": secret}}

def push(ecr, repository: str, tag: str) -> None:
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                           "digest": "sha256:" + "0" * 64}, "layers": [], "annotations": {"tag": tag}}
    ecr.put_image(repositoryName=repository, imageTag=tag, imageManifest=json.dumps(manifest))
