"""main.py + modules/stack.py: the stage stack synthesizes, validates with the real provider, and picks its backend."""

from __future__ import annotations

import json

from conftest import ROOT, run_main, terraform_validate, variant


def test_stage_passes_terraform_validate(stage, terraform_env, tmp_path):
    proc = terraform_validate(stage, terraform_env, tmp_path / "validate")
    result = json.loads(proc.stdout)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)
    assert result["error_count"] == 0


def test_other_environment_passes_terraform_validate(synths, terraform_env, tmp_path):
    """envs/dev-eu.yaml: another region, 3 AZs, no GPU, local state, database by endpoint."""
    dev = synths.of_file(ROOT / "envs" / "dev-eu.yaml")
    result = json.loads(terraform_validate(dev, terraform_env, tmp_path / "validate").stdout)
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


def test_env_selection_by_name_and_variable(tmp_path):
    by_flag = run_main("--env", "stage", "synth", "--outdir", str(tmp_path / "a"))
    by_var = run_main("synth", "--outdir", str(tmp_path / "b"), env={"ARAQUEM_ENV": "stage"})
    assert by_flag.returncode == 0 and by_var.returncode == 0, by_flag.stderr + by_var.stderr
    a = (tmp_path / "a/stacks/araquem-stage/cdk.tf.json").read_bytes()
    b = (tmp_path / "b/stacks/araquem-stage/cdk.tf.json").read_bytes()
    assert a == b  # also: two synths of the same input are byte-identical


def test_synth_replaces_earlier_output(tmp_path):
    out = tmp_path / "cdktf.out"
    (out / "stale").mkdir(parents=True)
    proc = run_main("synth", "--outdir", str(out))
    assert proc.returncode == 0, proc.stderr
    assert not (out / "stale").exists() and (out / "stacks/araquem-stage/cdk.tf.json").is_file()
    assert not list(tmp_path.glob(".cdktf.out.*"))


def test_resynth_keeps_local_state_of_every_stack(tmp_path):
    """Local state lives in cdktf.out/stacks/<stack>/; neither a re-synth nor another --env may lose it."""
    out = tmp_path / "cdktf.out"
    assert run_main("--env", "dev-eu", "synth", "--outdir", str(out)).returncode == 0
    dev_state = out / "stacks/araquem-dev-eu/terraform.araquem-dev-eu.tfstate"
    dev_state.write_text('{"serial": 7}')
    assert run_main("--env", "stage", "synth", "--outdir", str(out)).returncode == 0
    stage_state = out / "stacks/araquem-stage/terraform.araquem-stage.tfstate"
    stage_state.write_text('{"serial": 3}')
    assert run_main("--env", "stage", "synth", "--outdir", str(out)).returncode == 0
    assert dev_state.read_text() == '{"serial": 7}' and stage_state.read_text() == '{"serial": 3}'
    assert (out / "stacks/araquem-stage/cdk.tf.json").is_file()
