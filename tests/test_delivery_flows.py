"""The PR flow (plan.yml) and the deploy flow (deploy.yml) end to end, against the local fake of the Terraform Cloud
API of test_tfc_run.py (HashiCorp's recorded payloads, Terraform's own json-output-redacted test data).

Each workflow step runs as GitHub runs it (its `run:` script in bash, with the step's environment); what GitHub
decides between steps and jobs (a failed step skips the rest of its job, `needs:`, an approval rejected, a job
cancelled) is played here the way the workflows' `if:` conditions say. Every failure path of the deploy must
end with no run waiting for confirmation: the fake records each discard and cancel, and the tests assert them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import ROOT
from modules.commands.plan_summary import MARKER
from test_tfc_run import APPLY_LOG, PLAN_FIXTURE, RUN_ID, TFC_FIXTURES, FakeTfc
from test_workflows import (DEPLOY, DRIFT, PLAN, environment_of, github_files, load, run_step, step, steps,
                            tfc_workspace)

ERRORED_PLAN_JSON = TFC_FIXTURES / "plans-redacted" / "plan-json-error.json"  # `{}`: not a plan


def gh_files(tmp_path: Path) -> dict[str, str]:
    files = github_files(tmp_path)
    summary = tmp_path / "step-summary.md"
    summary.write_text("")
    return {**files, "GITHUB_STEP_SUMMARY": str(summary)}


def outputs(gh: dict) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(gh["GITHUB_OUTPUT"]).read_text().splitlines() if "=" in line)


# ---------------------------------------------------------------- pull requests
@pytest.mark.parametrize("outcome", ["planned", "errored"])
def test_pr_flow_comments_the_redacted_plan_or_the_failure(tmp_path, stage, stage_cfg, outcome):
    wf = load(PLAN)
    root = tfc_workspace(tmp_path, stage)
    gh = gh_files(tmp_path)
    last = "planned_and_finished" if outcome == "planned" else "errored"
    with FakeTfc(["pending", "planning", "policy_checking", last], plan_log="Error: Unsupported argument") as fake:
        env = {"TFC_API_URL": fake.url, "TFC_POLL_SECONDS": "0.01", "STACK": stage_cfg.name,
               "ARAQUEM_ENV": "stage", "TF_API_TOKEN": "plan-tok", "PR_NUMBER": "12",
               "HEAD_SHA": "fedcba9876543210", "RUN_URL": "https://github/run/1", **gh}
        assert run_step(step(wf, "plan", "Terraform Cloud backend")["run"], root, env).returncode == 0
        assert outputs(gh) == {"enabled": "true"}
        planned = run_step(step(wf, "plan", "Terraform Cloud speculative")["run"], root, env)
        if outcome == "planned":
            assert planned.returncode == 0, planned.stderr
            # the JSON the real endpoint returns: Terraform's jsonformat.Plan, which plan-summary used to refuse
            assert "plan_format_version" in json.loads((root / "plan.json").read_text())
            proc = run_step(step(wf, "plan", "Render the plan summary")["run"], root, env)
        else:
            assert planned.returncode == 1
            proc = run_step(step(wf, "plan", "Mark the sticky comment stale")["run"], root, env)
        assert proc.returncode == 0, proc.stderr
    body = (root / "plan-comment.md").read_text()
    assert body.splitlines()[0] == MARKER.format(stack=stage_cfg.name)
    assert f"/runs/{RUN_ID}" in body and "at `fedcba987654`" in body
    assert "#### Policy checks and run tasks" in body and "**soft_failed** policy check" in body
    if outcome == "planned":
        assert "Plan: **1** to add" in body and "`null_resource.foo`" in body  # Terraform's test plan
    else:
        assert "**The plan failed** (`errored`)" in body and "Error: Unsupported argument" in body
    # a speculative run never waits for confirmation: nothing to discard, and nothing ever confirmed
    assert fake.actions == []


# ---------------------------------------------------------------- deploy
class Deploy:
    """deploy.yml's jobs, step by step, against one fake; `result` per job as GitHub reports it to `needs`."""

    def __init__(self, tmp_path: Path, stage, stage_cfg, fake: FakeTfc):
        self.wf = load(DEPLOY)
        self.root = tfc_workspace(tmp_path, stage)
        self.gh = gh_files(tmp_path)
        self.fake = fake
        self.env = {"TFC_API_URL": fake.url, "TFC_POLL_SECONDS": "0.01", "TFC_TIMEOUT_SECONDS": "20",
                    "STACK": stage_cfg.name, "DEPLOY_SHA": "0123456789abcdef", "GITHUB_RUN_ID": "77",
                    "TFC_HOSTNAME": stage_cfg.terraform_cloud.hostname, **self.gh}
        self.result: dict[str, str] = {}
        self.stderr = ""

    def run(self, job: str, name: str, token: str, **env: str):
        proc = run_step(step(self.wf, job, name)["run"], self.root, {**self.env, "TF_API_TOKEN": token, **env})
        self.stderr += proc.stderr
        return proc

    def plan_job(self, cancelled_while_planning: bool = False) -> None:
        created = self.run("plan", "Terraform Cloud run, created", "plan-tok")
        assert created.returncode == 0, created.stderr
        if cancelled_while_planning:  # the job is cancelled during the wait: the next steps never run
            self.result["plan"] = "cancelled"
            return
        for name in ("Terraform Cloud run, waiting", "Plan summary for the reviewers"):
            if self.run("plan", name, "plan-tok").returncode != 0:
                self.result["plan"] = "failure"
                return
        self.result["plan"] = "success"

    def deploy_job(self, approved: bool = True, fails_before_apply: bool = False) -> None:
        if self.result["plan"] != "success":
            self.result["deploy"] = "skipped"
        elif not approved:  # rejected by the reviewers, or the approval expired: no step runs
            self.result["deploy"] = "failure"
        elif fails_before_apply:  # preflight FAIL, an image missing: the apply step is skipped
            self.result["deploy"] = "failure"
        else:
            proc = self.run("deploy", "2. Apply", "apply-tok", RUN_ID=outputs(self.gh)["run_id"])
            self.result["deploy"] = "success" if proc.returncode == 0 else "failure"

    def discard_job(self):
        job = self.wf["jobs"]["discard-leftover-run"]
        # its `if:`, as GitHub evaluates it
        assert job["if"] == "always() && needs.plan.outputs.run_id != '' && needs.deploy.result != 'success'"
        run_id = outputs(self.gh).get("run_id", "")
        if not (run_id and self.result["deploy"] != "success"):
            return None
        return self.run("discard-leftover-run", "Discard the run", "discard-tok", RUN_ID=run_id,
                        OUTCOME=f"plan {self.result['plan']}, deploy {self.result['deploy']}")


def test_deploy_jobs_wiring():
    wf = load(DEPLOY)
    plan_steps = [s.get("name", "") for s in steps(wf, "plan")]
    created = plan_steps.index("Terraform Cloud run, created")
    assert created < plan_steps.index("Terraform Cloud run, waiting for confirmation")
    assert step(wf, "plan", "Terraform Cloud run, created")["id"] == "run"  # the job output, saved before any wait
    assert wf["jobs"]["plan"]["outputs"]["run_id"] == "${{ steps.run.outputs.run_id }}"
    discard = wf["jobs"]["discard-leftover-run"]
    assert discard["needs"] == ["plan", "deploy"] and discard["environment"] == "stage-discard"
    assert step(wf, "discard-leftover-run", "Discard the run")["env"]["TF_API_TOKEN"] == "${{ secrets.TF_DISCARD_TOKEN }}"
    # the plan token cannot discard; it never needs to (the plan job's environment is stage-plan: test_workflows.py)
    plan_job = wf["jobs"]["plan"]
    assert plan_job["environment"] != "stage-discard" and "TF_DISCARD_TOKEN" not in json.dumps(plan_job)
    # the deploy job outlasts the apply wait (tfc_run.py: 150 min) plus images and the rollout check
    assert wf["jobs"]["deploy"]["timeout-minutes"] >= 150 + 30 + 30


def test_deploy_flow_applies_the_reviewed_run_and_leaves_nothing_to_discard(tmp_path, stage, stage_cfg):
    with FakeTfc(["pending", "planning", "policy_checking", "policy_checked"]) as fake:
        flow = Deploy(tmp_path, stage, stage_cfg, fake)
        flow.plan_job()
        assert flow.result["plan"] == "success", flow.stderr
        assert outputs(flow.gh)["run_id"] == RUN_ID
        summary = Path(flow.gh["GITHUB_STEP_SUMMARY"]).read_text()
        assert "Plan: **1** to add" in summary and "#### Policy checks and run tasks" in summary
        fake.run_statuses = ["policy_checked", "apply_queued", "applying", "applied"]
        flow.deploy_job()
        assert flow.result["deploy"] == "success", flow.stderr
        assert flow.discard_job() is None
    assert [name for name, _ in fake.actions] == ["apply"]
    confirm = next(r for r in fake.requests if r["path"].endswith("/actions/apply"))
    assert confirm["path"] == f"/api/v2/runs/{RUN_ID}/actions/apply" and confirm["auth"] == "Bearer apply-tok"


# (scenario, the run's statuses, what the discard job must do, plan job options, deploy job options)
FAILURES = {
    "plan-json-unreadable": (["pending", "planned"], "discard", {}, {}),
    "plan-timeout": (["pending"], "discard", {}, {}),
    "policy-override": (["pending", "planning", "policy_checking", "policy_override"], "discard", {}, {}),
    "run-task-decision": (["pending", "post_plan_running", "post_plan_awaiting_decision"], "discard", {}, {}),
    "cancelled-while-planning": (["planning"], "cancel", {"cancelled_while_planning": True}, {}),
    "approval-rejected": (["pending", "planned"], "discard", {}, {"approved": False}),
    "preflight-failed": (["pending", "planned"], "discard", {}, {"fails_before_apply": True}),
}


@pytest.mark.parametrize("scenario", list(FAILURES))
def test_every_deploy_failure_path_leaves_no_run_waiting(tmp_path, stage, stage_cfg, scenario):
    statuses, action, plan_opts, deploy_opts = FAILURES[scenario]
    plan_json = ERRORED_PLAN_JSON if scenario == "plan-json-unreadable" else PLAN_FIXTURE
    with FakeTfc(statuses, plan_json=plan_json) as fake:
        flow = Deploy(tmp_path, stage, stage_cfg, fake)
        if scenario == "plan-timeout":
            flow.env["TFC_TIMEOUT_SECONDS"] = "0.3"
        flow.plan_job(**plan_opts)
        flow.deploy_job(**deploy_opts)
        assert flow.result["deploy"] != "success"
        assert not fake.applied
        proc = flow.discard_job()
        assert proc is not None and proc.returncode == 0, flow.stderr
    assert fake.discarded == [action]
    discard_call = next(r for r in fake.requests if r["path"].endswith(f"/actions/{action}"))
    assert discard_call["auth"] == "Bearer discard-tok"  # the discard token, not the plan token
    assert f"{action}ed" in Path(flow.gh["GITHUB_STEP_SUMMARY"]).read_text()


def test_failed_apply_shows_its_log_and_a_timed_out_apply_is_never_cut_off(tmp_path, stage, stage_cfg):
    with FakeTfc(["pending", "planned"], apply_log=APPLY_LOG) as fake:
        flow = Deploy(tmp_path, stage, stage_cfg, fake)
        flow.plan_job()
        fake.run_statuses = ["planned", "applying", "errored"]
        flow.deploy_job()
        assert flow.result["deploy"] == "failure"
        summary = Path(flow.gh["GITHUB_STEP_SUMMARY"]).read_text()
        assert "### Terraform Cloud apply `errored`" in summary and "PENDING_VALIDATION" in summary
        proc = flow.discard_job()  # an errored run is over: nothing left waiting
        assert proc.returncode == 0 and "already 'errored'" in proc.stderr
    assert fake.discarded == []

    (tmp_path / "timeout").mkdir()
    with FakeTfc(["pending", "planned"]) as fake:
        flow = Deploy(tmp_path / "timeout", stage, stage_cfg, fake)
        flow.plan_job()
        fake.run_statuses = ["planned", "applying"]
        flow.env["TFC_TIMEOUT_SECONDS"] = "0.3"
        flow.deploy_job()
        assert flow.result["deploy"] == "failure"
        summary = Path(flow.gh["GITHUB_STEP_SUMMARY"]).read_text()
        assert "still `applying`" in summary and f"/app/araquem/workspaces/araquem-stage/runs/{RUN_ID}" in summary
        proc = flow.discard_job()
        assert proc.returncode == 1 and "not interrupted" in proc.stderr
    assert fake.discarded == []  # an apply is never interrupted; the job failed saying so


def test_bootstrap_jobs_wiring():
    """The split bootstrap (bootstrap-plan, then bootstrap-apply behind the reviewers) has its own leftover-run
    job: its run id is an output before any wait, and the discard runs whenever bootstrap-apply did not succeed."""
    wf = load(DEPLOY)
    names = [s.get("name", "") for s in steps(wf, "bootstrap-plan")]
    created = step(wf, "bootstrap-plan", "ECR repositories only (a targeted run, created)")
    assert created["id"] == "run" and "--no-wait" in created["run"]
    assert names.index(created["name"]) < names.index(step(wf, "bootstrap-plan", "Wait for the bootstrap plan")["name"])
    assert wf["jobs"]["bootstrap-plan"]["outputs"]["run_id"] == "${{ steps.run.outputs.run_id }}"
    job = wf["jobs"]["discard-bootstrap-run"]
    assert job["needs"] == ["bootstrap-plan", "bootstrap-apply"] and job["environment"] == "stage-discard"
    assert job["if"] == ("always() && needs.bootstrap-plan.outputs.run_id != '' "
                         "&& needs.bootstrap-apply.result != 'success'")
    cleanup = step(wf, "discard-bootstrap-run", "Discard the bootstrap run")
    assert cleanup["env"]["TF_API_TOKEN"] == "${{ secrets.TF_DISCARD_TOKEN }}"
    assert cleanup["env"]["RUN_ID"] == "${{ needs.bootstrap-plan.outputs.run_id }}"
    assert cleanup["env"]["TFC_HOSTNAME"] == "${{ needs.bootstrap-plan.outputs.tfc_hostname }}"


# (the run's statuses when the discard job starts, what it must do): the reviewers rejected bootstrap-apply (or
# let it expire: no step of it ran); bootstrap-plan was cancelled while the run was still planning
BOOTSTRAP_LEFTOVERS = {"approval-rejected": (["pending", "planned"], "discard"),
                       "cancelled-while-planning": (["planning"], "cancel")}


@pytest.mark.parametrize("scenario", list(BOOTSTRAP_LEFTOVERS))
def test_bootstrap_run_not_applied_is_discarded(tmp_path, stage, stage_cfg, scenario):
    statuses, action = BOOTSTRAP_LEFTOVERS[scenario]
    wf = load(DEPLOY)
    root = tfc_workspace(tmp_path, stage)
    gh = gh_files(tmp_path)
    cleanup = step(wf, "discard-bootstrap-run", "Discard the bootstrap run")
    with FakeTfc(statuses) as fake:
        proc = run_step(cleanup["run"], root, {"TFC_API_URL": fake.url, "TFC_POLL_SECONDS": "0.01",
                                               "TF_API_TOKEN": "discard-tok", "RUN_ID": RUN_ID,
                                               "TFC_HOSTNAME": stage_cfg.terraform_cloud.hostname,
                                               "OUTCOME": "bootstrap-plan ?, bootstrap-apply ?",
                                               "GITHUB_RUN_ID": "5", **gh})
    assert proc.returncode == 0, proc.stderr
    assert fake.discarded == [action]
    discard_call = next(r for r in fake.requests if r["path"].endswith(f"/actions/{action}"))
    assert discard_call["auth"] == "Bearer discard-tok"
    assert f"{action}ed" in Path(gh["GITHUB_STEP_SUMMARY"]).read_text()


# ---------------------------------------------------------------- docs/delivery.md
DELIVERY_DOC = ROOT / "docs" / "delivery.md"


def test_delivery_doc_names_every_terraform_cloud_token_where_it_lives():
    """The token table of docs/delivery.md against the workflows: each TF_* secret, in which environment."""
    used: dict[str, set] = {}
    for path in (PLAN, DEPLOY, DRIFT):
        for job in load(path)["jobs"].values():
            for token in re.findall(r"secrets\.(TF_\w+)", json.dumps(job)):
                used.setdefault(token, set()).add(environment_of(job))
    rows = {m["token"]: m["where"] for m in re.finditer(r"^\| `(?P<token>TF_\w+)` \| (?P<where>[^|]+) \|",
                                                          DELIVERY_DOC.read_text(), re.M)}
    assert set(rows) == set(used) and used, (rows, used)
    for token, environments in used.items():
        # the "Tokens" table names each environment in backticks; no token is a repository secret any more
        assert None not in environments, (token, "a job reads it without an environment")
        assert set(re.findall(r"`([\w-]+)`", rows[token])) == environments, (token, rows[token])
    # the condition the doc quotes is the job's own
    assert f"`if: {load(DEPLOY)['jobs']['discard-leftover-run']['if']}`" in DELIVERY_DOC.read_text()
