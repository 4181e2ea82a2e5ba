"""modules/stack.py through `python main.py`: the stage stack synthesizes, validates with the real provider, and picks its backend."""

from __future__ import annotations

import json

from conftest import ROOT, STAGE_FILE, variant

DEV_EU_FILE = ROOT / "envs" / "dev-eu.yaml"
TERRAFORM_VALIDATE = {  # validated together with the other modules' stacks (conftest.TerraformValidation)
    "test_stage_passes_terraform_validate": [lambda synths: synths.of_file(STAGE_FILE)],
    "test_other_environment_passes_terraform_validate": [lambda synths: synths.of_file(DEV_EU_FILE)],
}


def test_stage_passes_terraform_validate(stage, terraform_validation):
    result = terraform_validation.of(stage)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)
    assert result["error_count"] == 0


def test_other_environment_passes_terraform_validate(synths, terraform_validation):
    """envs/dev-eu.yaml: another region, 3 AZs, no GPU, local state, database by endpoint."""
    result = terraform_validation.of(synths.of_file(DEV_EU_FILE))
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)


def test_provider_is_pinned_to_the_bound_version(stage):
    assert stage.json["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"
    provider = stage.json["provider"]["aws"][0]
    assert provider["region"] == "us-east-1"
    assert "endpoints" not in provider and "access_key" not in provider  # emulator settings never leak


def test_stage_uses_terraform_cloud(stage):
    cloud = stage.json["terraform"]["cloud"]
    assert cloud["organization"] == "araquem" and cloud["workspaces"] == {"name": "araquem-stage"}


def test_env_without_terraform_cloud_uses_local_state(synths):
    local = synths.of_data(variant(lambda d: d.pop("terraform_cloud")))
    assert "cloud" not in local.json["terraform"]
    assert local.json["terraform"]["backend"]["local"]["path"] == "terraform.araquem-stage.tfstate"


def test_workspace_tags_select_workspaces(synths):
    def mutate(data):
        data["terraform_cloud"] = {"organization": "acme", "workspace_tags": ["araquem"],
                                   "hostname": "tfe.example.com"}

    tagged = synths.of_data(variant(mutate))
    cloud = tagged.json["terraform"]["cloud"]
    assert cloud["hostname"] == "tfe.example.com" and cloud["workspaces"] == {"tags": ["araquem"]}


def test_default_tags_carry_project_and_environment(stage):
    tags = stage.json["provider"]["aws"][0]["default_tags"][0]["tags"]
    assert tags["Project"] == "araquem" and tags["Environment"] == "stage"


# Service principals whose trust or resource policy carries no aws:SourceAccount/aws:SourceArn, and why.
NO_CONFUSED_DEPUTY_KEYS = {
    # EC2 assumes the instance role for an instance launched in this account with iam:PassRole on the
    # instance profile; the EC2 and IAM guides document no source condition for ec2.amazonaws.com trust
    "ec2.": "instance role",
}


def service_statements(stack) -> list[tuple[str, list[str], dict[str, dict]]]:
    """(policy document, service principals, {condition key: condition}) of every statement naming a service."""
    found = []
    for name, doc in stack.data("aws_iam_policy_document").items():
        for st in doc.get("statement", []):
            services = [i for p in st.get("principals", []) if p["type"] == "Service" for i in p["identifiers"]]
            if services:
                found.append((name, services, {c["variable"]: c for c in st.get("condition", [])}))
    return found


def test_every_service_principal_is_held_to_this_account_and_its_source(stage, synths):
    """Confused-deputy conditions wherever AWS documents them: aws:SourceAccount on every service principal's
    statement; aws:SourceArn where the service passes one we can name (ECS task role, Scheduler's schedule
    group, the EventBridge rule writing to Logs, CloudWatch alarms using the topic's key, flow logs)."""
    for stack in (stage, synths.of_file(DEV_EU_FILE)):
        statements = service_statements(stack)
        assert statements
        for name, services, conditions in statements:
            if all(s.startswith(tuple(NO_CONFUSED_DEPUTY_KEYS)) for s in services):
                continue
            assert conditions.get("aws:SourceAccount", {}).get("test") == "StringEquals", (name, conditions)
            if "_execution_trust" not in name:  # ECS documents only aws:SourceAccount for the execution role
                assert conditions["aws:SourceArn"]["test"] in ("ArnEquals", "ArnLike"), (name, conditions)
    policy = next(c for n, _, c in service_statements(stage) if n.startswith("schedule_failures_stopped_task"))
    assert policy["aws:SourceArn"]["values"] == ["${aws_cloudwatch_event_rule.schedule_failures_stopped_task_rule_"
                                                 + policy["aws:SourceArn"]["values"][0].split("_rule_")[1]]
    scheduler = next(c for n, _, c in service_statements(stage) if "scheduler_trust" in n)
    assert scheduler["aws:SourceArn"]["values"][0].split(":schedule-group/")[1].startswith(
        "${aws_scheduler_schedule_group."), scheduler
