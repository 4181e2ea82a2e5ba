"""modules/commands/preflight/checks.py: each check's IAM actions declared once. The runbook's permission list and
the deploy role's policy in docs/terraform-cloud.md are that declaration; every declared action is an operation
botocore knows; and a call a check makes that it does not declare fails the test that made it (preflight_support:
`declared_calls_only`, around every `aws` fixture and the full runs of test_preflight.py)."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from botocore.stub import Stubber

from conftest import ROOT
from modules.commands import preflight
from modules.commands.preflight import checks
from preflight_support import (  # noqa: F401  (aws: the fixture)
    QUOTA_NAMES,
    REGION,
    aws,
    declared_calls_only,
    env_cfg,
    quota_response,
)

RUNBOOK, TFC_DOC, README = ROOT / "docs" / "runbook.md", ROOT / "docs" / "terraform-cloud.md", ROOT / "README.md"
GENERATED = re.compile(r"<!-- generated from modules/commands/preflight/checks\.py[^\n]*-->\n(?P<body>.*?)\n"
                       r"\s*<!-- end generated -->", re.S)
# botocore's client name for a signing name that differs from it
CLIENT_OF = {"elasticloadbalancing": "elbv2", "servicequotas": "service-quotas"}


def generated(path) -> str:
    found = GENERATED.findall(path.read_text())
    assert len(found) == 1, f"{path.name}: expected one generated block"
    return found[0]


def test_runbook_lists_exactly_the_declared_actions():
    expected = checks.runbook_list()
    assert generated(RUNBOOK) == expected, f"docs/runbook.md step 0: replace the generated block with:\n{expected}"
    assert "`servicequotas:GetAWSDefaultServiceQuota`" in expected  # asked when no applied quota value exists


def test_deploy_role_policy_in_the_docs_is_the_declared_one():
    block = generated(TFC_DOC)
    body = re.fullmatch(r"\s*```json\n(?P<json>.*)\n\s*```", block, re.S)
    assert body, block
    expected = checks.deploy_role_policy_json()
    documented = "\n".join(line.removeprefix("   ") for line in body["json"].splitlines())
    assert documented == expected, f"docs/terraform-cloud.md step 6: replace the JSON with:\n{expected}"
    policy = json.loads(documented)
    allowed = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert set(checks.preflight_actions()) <= allowed  # the role can run every check
    assert all(re.fullmatch(r"[a-z0-9-]+:(Describe|List|Get)\w+", a) for a in checks.preflight_actions())


@pytest.mark.parametrize("action", sorted({*checks.preflight_actions(), *checks.PUSH_ACTIONS,
                                           *checks.REGISTRY_LOGIN_ACTIONS, *checks.ROLLOUT_ACTIONS}))
def test_every_declared_action_is_an_operation_of_its_service(action):
    prefix, operation = action.split(":")
    client = boto3.client(CLIENT_OF.get(prefix, prefix), region_name=REGION)
    assert client.meta.service_model.signing_name == prefix
    assert operation in client.meta.service_model.operation_names, f"{action}: no such operation"


def test_help_readme_and_exports_come_from_the_declaration():
    assert preflight.HELP == checks.HELP and all(check.looks_at in checks.HELP for check in checks.CHECKS)
    readme_row = next(line for line in README.read_text().splitlines() if "`python main.py preflight" in line)
    assert checks.HELP in readme_row, f"README: the preflight row should carry the command's help: {checks.HELP}"
    assert {check.run.__name__ for check in checks.CHECKS} <= set(preflight.__all__)
    assert len({check.run for check in checks.CHECKS}) == len(checks.CHECKS)


def _no_applied_quota(code: str) -> dict:
    return {"service_error_code": "NoSuchResourceException", "service_message": f"no applied value for {code}",
            "expected_params": {"ServiceCode": "ec2", "QuotaCode": code}}


def test_a_quota_without_an_applied_value_asks_for_the_default_and_that_call_is_declared(tmp_path):
    """The call the runbook missed: GetAWSDefaultServiceQuota, when GetServiceQuota has no applied value
    (Stubber, in the shape the Service Quotas API reference gives; moto lacks EC2's quotas)."""
    client = boto3.client("service-quotas", region_name=REGION)
    stub = Stubber(client)
    for code in sorted(QUOTA_NAMES):
        stub.add_client_error("get_service_quota", **_no_applied_quota(code))
        stub.add_response("get_aws_default_service_quota", quota_response(code, 64.0),
                          {"ServiceCode": "ec2", "QuotaCode": code})
    stub.activate()
    with declared_calls_only():
        from moto import mock_aws  # noqa: PLC0415
        with mock_aws():
            aws = preflight.Aws(REGION)
            aws.clients["service-quotas"] = client
            findings = preflight.check_vcpu_quotas(env_cfg(tmp_path), aws)
    stub.assert_no_pending_responses()
    assert [f.level for f in findings] == ["ok", "ok"], findings


def test_an_undeclared_call_fails_the_test_that_made_it(tmp_path, monkeypatch):
    """The control: with GetAWSDefaultServiceQuota taken out of the declaration, the same run fails."""
    vcpu = next(c for c in checks.CHECKS if c.run is preflight.check_vcpu_quotas)
    shrunk = checks.Check(vcpu.run, vcpu.looks_at, tuple(a for a in vcpu.actions
                                                         if a != "servicequotas:GetAWSDefaultServiceQuota"))
    monkeypatch.setattr(checks, "CHECKS", tuple(shrunk if c is vcpu else c for c in checks.CHECKS))
    with pytest.raises(AssertionError, match=r"check_vcpu_quotas calls servicequotas:GetAWSDefaultServiceQuota"):
        test_a_quota_without_an_applied_value_asks_for_the_default_and_that_call_is_declared(tmp_path)
