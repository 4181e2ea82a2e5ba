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
