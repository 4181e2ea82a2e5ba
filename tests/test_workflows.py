""".github/workflows/ (plan, deploy, ci) and .github/dependabot.yml: actionlint (with shellcheck) passes,
every action is pinned by commit SHA, the structure the docs promise holds (plan-only token for PRs, apply
token only in the protected environment, deploy gated on CI, no unreviewed apply), and the workflows' own
scripts behave — run here with stand-in `aws`, `docker` and `gh` commands that record what they were asked
to do, the Terraform Cloud steps against the local fake API of test_tfc_run.py, and the sticky-comment
script on Node against a recording GitHub client.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import NODE_BIN, PYTHON, ROOT, run, run_main
from modules import image_tags
from modules.commands.plan_summary import MARKER
from test_tfc_run import FakeTfc

WORKFLOWS = ROOT / ".github" / "workflows"
PLAN, DEPLOY, CI = WORKFLOWS / "plan.yml", WORKFLOWS / "deploy.yml", WORKFLOWS / "ci.yml"
APP_RELEASE, DRIFT = WORKFLOWS / "app-release.yml", WORKFLOWS / "drift.yml"
ALL = (PLAN, DEPLOY, CI, APP_RELEASE, DRIFT)
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
ACTIONLINT = ROOT / ".tools" / "actionlint-venv" / "bin" / "actionlint"
# `uses: owner/repo@<40-hex commit> # vX.Y.Z`: the SHA is what runs, the comment what Dependabot and people read.
PINNED_LINE = re.compile(r"^\s*(- )?uses: (?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # (?P<version>v\d+\.\d+\.\d+)$")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict) -> dict:
    return workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads the key `on` as True


def steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def step(workflow: dict, job: str, name_start: str) -> dict:
    found = [s for s in steps(workflow, job) if s.get("name", "").startswith(name_start)]
    assert len(found) == 1, (name_start, [s.get("name") for s in steps(workflow, job)])
    return found[0]


def index(workflow: dict, job: str, name_start: str) -> int:
    return steps(workflow, job).index(step(workflow, job, name_start))


def actionlint(*paths: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    if not ACTIONLINT.is_file():
        pytest.fail(f"{ACTIONLINT} is missing: `make test` installs it (scripts/bootstrap.sh test)")
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not on PATH (scripts/bootstrap.sh test installs it); actionlint needs it"
    return run([str(ACTIONLINT), "-no-color", "-oneline", "-shellcheck", shellcheck, *map(str, paths)],
               cwd=cwd, check=False, timeout=120)


# ---------------------------------------------------------------- actionlint
def test_actionlint_passes_on_every_workflow():
    assert sorted(WORKFLOWS.glob("*.yml")) == sorted(ALL)  # a new workflow gets listed (and checked) here
    proc = actionlint(*ALL)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_passes_with_major_version_refs(tmp_path):
    # actionlint knows the inputs of popular actions by major tag (actions/checkout@v5), not by commit;
    # linting a copy with each SHA pin replaced by its major tag also checks every `with:` against them.
    target = tmp_path / ".github" / "workflows"
    target.mkdir(parents=True)
    for path in ALL:
        text, n = re.subn(r"(uses: [\w.-]+/[\w./-]+)@[0-9a-f]{40} # (v\d+)\.\d+\.\d+", r"\1@\2", path.read_text())
        assert n, path
        (target / path.name).write_text(text)
    proc = actionlint(*sorted(target.iterdir()), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_errors_here(tmp_path):
    # The control: this actionlint, with shellcheck, reports a broken workflow (so a pass above means something).
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: echo $UNQUOTED\n      - run: echo \"${{ steps.nothing.outputs.x }}\"\n")
    proc = actionlint(bad)
    assert proc.returncode == 1
    assert "SC2086" in proc.stdout and 'property "nothing" is not defined' in proc.stdout


ZIZMOR = ROOT / ".tools" / "zizmor-venv" / "bin" / "zizmor"


def zizmor(*paths: Path) -> subprocess.CompletedProcess:
    if not ZIZMOR.is_file():
        pytest.fail(f"{ZIZMOR} is missing: `make test` installs it (scripts/bootstrap.sh, scripts/zizmor-requirements.txt)")
    return run([str(ZIZMOR), "--offline", "--no-progress", "--format", "plain", *map(str, paths)], check=False,
               timeout=120)


def test_zizmor_finds_nothing_in_the_workflows():
    """zizmor's security audits (offline: no GitHub API); an accepted finding is ignored in place with its reason
    (deploy.yml's workflow_run trigger, narrowed by the gate job)."""
    proc = zizmor(*ALL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_zizmor_catches_errors_here(tmp_path):
    # The control: an injected expression in a run script and a workflow-level write permission are reported.
    bad = tmp_path / "bad.yml"
    bad.write_text("on: issues\npermissions:\n  contents: write\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
                   "    steps:\n      - run: echo \"${{ github.event.issue.title }}\"\n")
    proc = zizmor(bad)
    assert proc.returncode != 0 and "template-injection" in proc.stdout + proc.stderr


# ---------------------------------------------------------------- structure
def test_every_action_is_pinned_by_commit_sha_with_its_version():
    pins: dict[tuple[str, str], set[str]] = {}
    for path in ALL:
        uses = [s["uses"] for job in load(path)["jobs"].values() for s in job["steps"] if "uses" in s]
        lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*(- )?uses: ", line)]
        assert uses and len(lines) == len(uses), path
        for line in lines:
            match = PINNED_LINE.match(line)
            assert match, f"{path.name}: not pinned by SHA with a '# vX.Y.Z' comment: {line.strip()}"
            pins.setdefault((match["action"], match["version"]), set()).add(match["sha"])
    # one version, one SHA everywhere (a half-done bump would show as two)
    assert all(len(shas) == 1 for shas in pins.values()), pins
    versions: dict[str, set[str]] = {}
    for action, version in pins:
        versions.setdefault(action, set()).add(version)
    assert all(len(v) == 1 for v in versions.values()), versions


@pytest.mark.parametrize("path,job,command", [(PLAN, "plan", "make synth"), (DEPLOY, "plan", "make synth"),
                                              (CI, "test", "make test")], ids=["plan", "deploy", "ci"])
def test_install_is_the_readme_command(path, job, command):
    readme = (ROOT / "README.md").read_text()
    assert command in readme
    runs = [s.get("run", "") for s in steps(load(path), job)]
    assert any(r.startswith(command) for r in runs)


def test_ci_runs_the_suite_on_pull_requests_and_main():
    wf = load(CI)
    assert set(triggers(wf)) == {"pull_request", "push"}
    assert triggers(wf)["push"]["branches"] == ["main"] and triggers(wf)["pull_request"]["branches"] == ["main"]
    assert wf["permissions"] == {} and wf["jobs"]["test"]["permissions"] == {"contents": "read"}
    # the scanners and actionlint are part of the suite; a missing tool fails its test, not skips it
    assert (ROOT / "tests" / "test_security_scan.py").is_file() and ACTIONLINT.name in Path(__file__).read_text()
    setup = next(s for s in steps(wf, "test") if s.get("uses", "").startswith("hashicorp/setup-terraform@"))
    assert setup["with"]["terraform_version"] == "${{ env.TERRAFORM_VERSION }}"
    # main's run is never cancelled: deploy waits for its success
    assert "pull_request" in wf["concurrency"]["cancel-in-progress"]


def test_dependabot_updates_actions_and_pipenv():
    config = yaml.safe_load(DEPENDABOT.read_text())
    assert config["version"] == 2
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"github-actions", "pip"} <= set(ecosystems)  # pip covers Pipfile/Pipfile.lock
    assert ecosystems["github-actions"]["directory"] == "/" and ecosystems["pip"]["directory"] == "/"
    assert (ROOT / "Pipfile.lock").is_file()


def test_plan_workflow_shape(stage_cfg):
    wf = load(PLAN)
    assert list(triggers(wf)) == ["pull_request"]
    assert wf["permissions"] == {}
    assert wf["jobs"]["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert wf["jobs"]["plan"]["environment"] == "pr-plan"  # the plan token is an environment secret
    assert wf["env"]["STACK"] == stage_cfg.name and wf["env"]["ARAQUEM_ENV"] == stage_cfg.environment
    order = [index(wf, "plan", n) for n in ("Synthesize", "Terraform Cloud backend", "Terraform Cloud speculative",
                                           "Render", "Post or update")]
    assert order == sorted(order)
    plan_run = step(wf, "plan", "Terraform Cloud speculative")
    assert plan_run["run"].lstrip().startswith(".venv/bin/python scripts/tfc_run.py speculative ")
    assert "main.py plan-summary" in step(wf, "plan", "Render")["run"]
    text = PLAN.read_text()
    # PRs plan with the plan-only team token; no saved cloud plan (its JSON needs workspace admin, and a
    # person could confirm it from the UI); the apply token is not even named here.
    assert plan_run["env"]["TF_API_TOKEN"] == "${{ secrets.TF_PLAN_TOKEN }}"
    assert "secrets.TF_API_TOKEN" not in text and "terraform plan" not in text and "terraform show" not in text


def test_every_workflow_env_variable_is_used():
    """A variable a workflow sets and nothing reads (TERRAFORM_VERSION in plan.yml and deploy.yml was one) only
    looks like a setting."""
    for path in ALL:
        wf, text = load(path), path.read_text()
        for name in wf.get("env", {}):
            if name in ("TF_IN_AUTOMATION", "TF_INPUT", "CHECKPOINT_DISABLE"):
                continue  # read by terraform itself
            uses = len(re.findall(rf"\b{name}\b", text)) - 1
            assert uses > 0, f"{path.name}: env {name} is set and never read"


@pytest.mark.parametrize("path,job,tfc_step", [(PLAN, "plan", "Terraform Cloud speculative"),
                                               (DEPLOY, "plan", "Terraform Cloud run, created"),
                                               (DRIFT, "plan", "Terraform Cloud speculative")],
                         ids=["plan", "deploy", "drift"])
def test_the_workspace_terraform_version_is_checked_before_each_run(path, job, tfc_step):
    wf = load(path)
    check = step(wf, job, "The workspace runs Terraform")
    assert check["run"] == '.venv/bin/python scripts/tfc_workspace_version.py "cdktf.out/stacks/$STACK"'
    assert index(wf, job, "The workspace runs Terraform") < index(wf, job, tfc_step)
    assert check["env"]["TF_API_TOKEN"] == "${{ secrets.TF_PLAN_TOKEN }}"
    assert "tfc_workspace_version.py" in step(load(DEPLOY), "bootstrap-plan", "ECR repositories only")["run"]


def secrets_named(job: dict) -> set[str]:
    return set(re.findall(r"secrets\.(\w+)", json.dumps(job)))


def test_deploy_workflow_shape(stage_cfg):
    wf = load(DEPLOY)
    # only after CI passed on main (workflow_run), or by hand
    assert set(triggers(wf)) == {"workflow_run", "workflow_dispatch"}
    assert triggers(wf)["workflow_run"] == {"workflows": [load(CI)["name"]], "types": ["completed"],
                                            "branches": ["main"]}
    gate, plan_job, deploy_job = wf["jobs"]["gate"], wf["jobs"]["plan"], wf["jobs"]["deploy"]
    assert "github.event.workflow_run.conclusion == 'success'" in gate["if"]
    assert "github.event.workflow_run.event == 'push'" in gate["if"]
    assert "refs/heads/main" in gate["if"]
    # every job that plans or applies waits for the gate (CI passed, main's tip, reviewers exist)
    assert plan_job["needs"] == "gate" and "needs.gate.outputs.deploy == 'true'" in plan_job["if"]
    assert wf["jobs"]["bootstrap-plan"]["needs"] == "gate"
    assert "needs.gate.outputs.deploy == 'true'" in wf["jobs"]["bootstrap-plan"]["if"]
    assert wf["env"]["DEPLOY_SHA"] == "${{ github.event.workflow_run.head_sha || github.sha }}"
    for name, job in wf["jobs"].items():  # every job checks out the commit CI tested
        checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
        assert checkout["with"]["ref"] == "${{ env.DEPLOY_SHA }}", name
    assert wf["concurrency"]["cancel-in-progress"] is False
    # plan without approval and with the plan-only token; apply in the protected environment, after it
    assert plan_job["environment"] == "stage-plan"
    assert secrets_named(plan_job) == {"TF_PLAN_TOKEN", "APP_REPOSITORY_TOKEN"}  # the latter: reading quality samples
    assert deploy_job["environment"]["name"] == stage_cfg.environment == wf["env"]["DEPLOY_ENVIRONMENT"]
    assert deploy_job["needs"] == "plan"
    assert deploy_job["environment"]["url"] == "${{ needs.plan.outputs.run_url }}"  # the approval shows the run
    for name, job in wf["jobs"].items():  # the apply token only where the environment's reviewers gate it
        if "TF_API_TOKEN" in secrets_named(job):
            assert job["environment"]["name"] == stage_cfg.environment, name
    # images before the apply that references them, the rollout check after it
    order = [index(wf, "deploy", n) for n in ("Preflight", "1. Build", "2. Apply", "3. Wait")]
    assert order == sorted(order)
    assert step(wf, "deploy", "1. Build")["run"] == 'bash scripts/push_images.sh images.txt "$REGION"'
    apply_run = step(wf, "deploy", "2. Apply")["run"]
    assert 'scripts/tfc_run.py apply "$RUN_ID"' in apply_run
    assert index(wf, "deploy", "The rollout starts now") < index(wf, "deploy", "2. Apply")
    assert step(wf, "deploy", "3. Wait")["env"]["ROLLOUT_SINCE"] == "${{ steps.rollout.outputs.since }}"
    assert deploy_job["env"]["RUN_ID"] == "${{ needs.plan.outputs.run_id }}"
    assert "scripts/wait_ecs_rollout.py" in step(wf, "deploy", "3. Wait")["run"]
    # nothing applies an unreviewed plan
    text = DEPLOY.read_text()
    assert "--auto-approve" not in text and "cdktf deploy" not in text and "terraform apply" not in text
    oidc = [s for s in deploy_job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert len(oidc) == 1 and "role-to-assume" in oidc[0]["with"]
    assert "aws-access-key-id" not in oidc[0]["with"]  # OIDC, never stored keys
    assert deploy_job["permissions"] == {"contents": "read", "id-token": "write"}
    assert all("id-token" not in job["permissions"] for name, job in wf["jobs"].items() if name != "deploy")


def test_deploy_runs_preflight_with_the_deploy_role_before_anything_is_pushed_or_applied():
    wf = load(DEPLOY)
    preflight = step(wf, "deploy", "Preflight")
    assert preflight["run"] == '.venv/bin/python main.py preflight --env "$ARAQUEM_ENV"'
    credentials = next(i for i, s in enumerate(steps(wf, "deploy"))
                       if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert credentials < index(wf, "deploy", "Preflight") < index(wf, "deploy", "1. Build")


def test_no_workflow_tags_images_with_the_commit(stage_cfg):
    # docker/ images are content-addressed at synth; a commit-derived tag would restart them on every merge
    for path in ALL:
        text = path.read_text()
        assert "git rev-parse" not in text and stage_cfg.registry.image_tag_env_var not in text, path.name


def test_the_application_tag_comes_from_the_env_file_only(stage_cfg):
    # every deployed state is a commit: no workflow input or repository variable picks the app's tag
    assert "app_image_tag" not in triggers(load(DEPLOY))["workflow_dispatch"]["inputs"]
    for path in ALL:
        assert "APP_IMAGE_TAG" not in path.read_text(), path.name
    assert {s.image.tag_env_var for s in stage_cfg.services.values() if s.image.tag_env_var} == {
        "ARAQUEM_APP_IMAGE_TAG"}


def test_app_release_records_the_tag_and_opens_a_pull_request(tmp_path):
    wf = load(APP_RELEASE)
    assert triggers(wf)["repository_dispatch"] == {"types": ["app-release"]}
    assert wf["permissions"] == {}
    assert wf["jobs"]["record"]["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert wf["jobs"]["record"]["environment"] == "release"  # RELEASE_TOKEN
    assert wf["concurrency"]["cancel-in-progress"] is False
    record, open_pr = step(wf, "record", "Record the tag"), step(wf, "record", "Open the release pull request")
    # the payload reaches the scripts through the environment, never inlined into them
    assert record["env"]["IMAGE_TAG"] == "${{ github.event.client_payload.image_tag || inputs.image_tag }}"
    assert "${{" not in record["run"] and "${{" not in open_pr["run"]
    assert open_pr["env"]["GH_TOKEN"] == "${{ secrets.RELEASE_TOKEN || github.token }}"

    # A checkout-like repository with a remote; the script copied in (not linked: it edits ITS envs/).
    root, remote = tmp_path / "checkout", tmp_path / "remote.git"
    root.mkdir()
    for name in ("modules", "main.py", ".venv"):
        (root / name).symlink_to(ROOT / name)
    (root / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "record_app_release.py", root / "scripts")
    shutil.copytree(ROOT / "envs", root / "envs")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    run(["git", "init", "-q", "--bare", str(remote)], cwd=tmp_path)
    run(["git", "init", "-q", "-b", "main"], cwd=root)
    run([*git, "add", "envs"], cwd=root)
    run([*git, "commit", "-qm", "base"], cwd=root)
    run(["git", "remote", "add", "origin", str(remote)], cwd=root)
    gh = github_files(tmp_path)
    env = {"ARAQUEM_ENV": "stage", "IMAGE_TAG": "app-2.4.1", **gh}
    proc = run_step(record["run"], root, env)
    assert proc.returncode == 0, proc.stderr
    assert Path(gh["GITHUB_OUTPUT"]).read_text() == "result=changed\n"
    bin_dir = fake_bin(tmp_path, {"gh": ""})
    proc = run_step(open_pr["run"], root, {**env, "HAS_RELEASE_TOKEN": "true", "GH_TOKEN": "x"}, bin_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "::warning" not in proc.stdout
    changed = run(["git", "diff", "--name-only", "main", "release/app-app-2.4.1"], cwd=root).stdout.split()
    assert changed == ["envs/stage.yaml"]
    pushed = run(["git", "branch", "--list"], cwd=remote).stdout
    assert "release/app-app-2.4.1" in pushed
    calls = (tmp_path / "gh.log").read_text().splitlines()
    assert calls[0] == "auth setup-git"
    assert calls[1].startswith("pr create --base main --head release/app-app-2.4.1 --title release: application app-2.4.1")
    # the same tag again: nothing to record, no pull request
    (tmp_path / "gh.log").unlink()
    run(["git", "switch", "-q", "release/app-app-2.4.1"], cwd=root)
    Path(gh["GITHUB_OUTPUT"]).write_text("")
    assert run_step(record["run"], root, env).returncode == 0
    assert Path(gh["GITHUB_OUTPUT"]).read_text() == "result=unchanged\n"
    assert step(wf, "record", "Open the release pull request")["if"] == "steps.record.outputs.result == 'changed'"


def test_failure_comment_uses_the_renderer_marker():
    script = step(load(PLAN), "plan", "Mark the sticky comment stale")["run"]
    literal = re.search(r'echo "(<!-- araquem-plan:\$STACK -->)"', script).group(1)
    assert literal.replace("$STACK", "araquem-stage") == MARKER.format(stack="araquem-stage")


# ---------------------------------------------------------------- the workflows' scripts, run here
def fake_bin(tmp_path: Path, scripts: dict[str, str]) -> Path:
    """Stand-in commands that log their arguments to <name>.log and then run the given bash body."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f'#!/usr/bin/env bash\necho "$*" >>"{tmp_path}/{name}.log"\n{body}\n')
        path.chmod(0o755)
    return bin_dir


def run_step(script: str, cwd: Path, env: dict, bin_dir: Path | None = None) -> subprocess.CompletedProcess:
    path = os.environ["PATH"] if bin_dir is None else f"{bin_dir}:{os.environ['PATH']}"
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={k: v for k, v in {**os.environ, "PATH": path, **env}.items()
                                            if v is not None})  # None unsets a variable


def github_files(tmp_path: Path) -> dict[str, str]:
    files = {"GITHUB_OUTPUT": tmp_path / "output", "GITHUB_ENV": tmp_path / "env"}
    for f in files.values():
        f.write_text("")
    return {k: str(v) for k, v in files.items()}


def workspace(tmp_path: Path, stage) -> Path:
    """A checkout-like directory: envs/, modules/, main.py, .venv and the synthesized stage stack."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("envs", "modules", "main.py", ".venv", "docker"):
        (root / name).symlink_to(ROOT / name)
    shutil.copytree(stage.dir, root / "cdktf.out" / "stacks" / stage.dir.name)
    return root


def with_scripts(root: Path) -> Path:
    (root / "scripts").symlink_to(ROOT / "scripts")
    return root


def read_images(root: Path) -> dict[str, tuple[str, str]]:
    """images.txt as {repository: (tag, dockerfile)}."""
    return {repo: (tag, df) for repo, tag, df in (line.split(" ") for line in
                                                  (root / "images.txt").read_text().splitlines())}


def test_deploy_lists_every_image_and_builds_the_docker_ones(tmp_path, stage, stage_cfg):
    root = with_scripts(workspace(tmp_path, stage))
    gh = github_files(tmp_path)
    env_step = step(load(DEPLOY), "plan", "Read the env file")["run"]
    app_tag = "app-2.4.1"
    tags = {"ARAQUEM_IMAGE_TAG": None, "ARAQUEM_APP_IMAGE_TAG": app_tag}  # no override: content-addressed
    proc = run_step(env_step, root, {"ARAQUEM_ENV": "stage", **tags, **gh})
    assert proc.returncode == 0, proc.stderr
    outputs = dict(line.split("=", 1) for line in Path(gh["GITHUB_OUTPUT"]).read_text().splitlines())
    assert outputs == {"stack": stage_cfg.name, "region": stage_cfg.region,
                       "tfc_hostname": stage_cfg.terraform_cloud.hostname}
    images = read_images(root)
    listed = {repo: df for repo, (_, df) in images.items()}
    # docker/ builds carry the hash of their build context, the app repository's images the tag it pushed
    assert {repo: t for repo, (t, _) in images.items()} == {
        f"{stage_cfg.name}/{s.image.build}": app_tag if s.image.tag_env_var else image_tags.docker_tag(s.image.dockerfile)
        for s in stage_cfg.services.values() if s.image.build}
    ctx_tag = {repo: t for repo, (t, df) in images.items() if df}
    assert ctx_tag and all(t.startswith("ctx-") for t in ctx_tag.values())
    # Same repository names as the synthesized ECR repositories (modules/registry.py)
    synthesized = sorted(r["name"] for r in stage.resources("aws_ecr_repository").values())
    assert sorted(listed) == synthesized
    docker_built = {f"{stage_cfg.name}/{s.image.build}": s.image.dockerfile
                    for s in stage_cfg.services.values() if s.image.dockerfile}
    assert {repo: df for repo, df in listed.items() if df} == docker_built
    assert all((ROOT / df).is_file() for df in docker_built.values())

    # Step 2 with stand-ins: the app-built images already exist in ECR under the app's tag (and only that
    # one), the docker/ ones do not yet.
    app_built = sorted(repo for repo, df in listed.items() if not df)
    assert app_built, "stage has images built by the app repository (api, rag-indexer)"
    exists = " ".join(app_built)
    bin_dir = fake_bin(tmp_path, {
        "aws": 'case "$1 $2" in\n'
               '  "sts get-caller-identity") echo 123456789012 ;;\n'
               '  "ecr get-login-password") echo token ;;\n'
               f'  "ecr describe-images") for r in {exists}; do [[ "$*" == *"--repository-name $r --image-ids imageTag={app_tag}" ]] && exit 0; done; exit 254 ;;\n'
               "esac",
        "docker": "cat >/dev/null 2>&1 || true",
    })
    build_step = step(load(DEPLOY), "deploy", "1. Build")["run"]
    proc = run_step(build_step, root, {"REGION": stage_cfg.region}, bin_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    registry = f"123456789012.dkr.ecr.{stage_cfg.region}.amazonaws.com"
    found = sorted(line for line in proc.stdout.splitlines() if line.startswith("exists: "))
    assert found == [f"exists: {registry}/{repo}:{app_tag}" for repo in app_built]
    docker_log = (tmp_path / "docker.log").read_text().splitlines()
    assert docker_log[0] == f"login --username AWS --password-stdin {registry}"
    builds = sorted(line for line in docker_log if line.startswith("build"))
    # one build context, docker/ (the Dockerfiles COPY from docker/<name>/ and docker/lib/)
    assert builds == sorted(f"build --pull -f {df} -t {registry}/{repo}:{ctx_tag[repo]} docker/"
                            for repo, df in docker_built.items())
    pushes = sorted(line for line in docker_log if line.startswith("push"))
    assert pushes == sorted(f"push {registry}/{repo}:{ctx_tag[repo]}" for repo in docker_built)

    # A build context that no longer hashes to the planned tag (a file changed after the plan) is refused.
    (tmp_path / "docker.log").unlink()
    good = (root / "images.txt").read_text()
    (root / "images.txt").write_text(good.replace(ctx_tag[f"{stage_cfg.name}/grafana"], "ctx-00000000000000000000"))
    proc = run_step(build_step, root, {"REGION": stage_cfg.region}, bin_dir)
    assert proc.returncode == 1 and "::error title=build context differs from the plan::docker/grafana" in proc.stdout
    assert not any(line.startswith("build") and "/grafana:" in line
                   for line in (tmp_path / "docker.log").read_text().splitlines())
    (root / "images.txt").write_text(good)

    # An app-built image that is not in ECR stops the deploy before anything is applied.
    (tmp_path / "docker.log").unlink()
    bin_dir = fake_bin(tmp_path, {"aws": 'case "$1 $2" in\n  "sts get-caller-identity") echo 123456789012 ;;\n'
                                         '  "ecr describe-images") exit 254 ;;\nesac'})
    proc = run_step(build_step, root, {"REGION": stage_cfg.region}, bin_dir)
    assert proc.returncode == 1
    assert "::error title=images missing::" in proc.stdout and "app_image_tag" in proc.stdout
    assert all(f"{registry}/{repo}:{app_tag}" in proc.stdout for repo in app_built)

    # The images listed are what synth gave each build (the same function), and the next step lets the
    # release through.
    refuse = step(load(DEPLOY), "plan", "An application release is recorded")["run"]
    assert run_step(refuse, root, {"ARAQUEM_ENV": "stage"}).returncode == 0

    # Without the application's tag, its images are listed under the fixed tag of no release (synth did the
    # same, with its notice), and the deploy refuses before a run is queued.
    assert (index(load(DEPLOY), "plan", "An application release")
            < index(load(DEPLOY), "plan", "Terraform Cloud run, created"))
    proc = run_step(env_step, root, {"ARAQUEM_ENV": "stage", "ARAQUEM_IMAGE_TAG": "0123456789ab",
                                     "ARAQUEM_APP_IMAGE_TAG": "", **gh})
    assert proc.returncode == 0, proc.stderr
    assert {t for t, df in read_images(root).values() if not df} == {"unreleased"}
    assert "notice: ARAQUEM_APP_IMAGE_TAG is not set and no release is recorded" in proc.stderr
    proc = run_step(refuse, root, {"ARAQUEM_ENV": "stage"})
    assert proc.returncode == 1 and "::error title=no application release recorded::" in proc.stdout
    assert all(repo in proc.stdout for repo in app_built) and 'docs/delivery.md, "First deploy"' in proc.stdout


FAKE_TFC_RUN = """import json, shutil, sys
from pathlib import Path
log = Path(sys.argv[0]).with_name("calls.log")
log.open("a").write(Path(sys.argv[0]).name + " " + " ".join(sys.argv[1:]) + "\\n")
if sys.argv[1:2] == ["plan"]:
    run_json = sys.argv[sys.argv.index("--run-json") + 1]
    Path(run_json).write_text(json.dumps({"id": "run-Boot1", "url": "https://tfc/runs/run-Boot1",
                                          "status": "planned", "error": ""}))
    shutil.copy(PLAN_FIXTURE, sys.argv[sys.argv.index("--plan-json") + 1])
"""


def test_bootstrap_registry_is_planned_before_its_approval_and_applies_only_the_ecr_repositories(
        tmp_path, stage, stage_cfg):
    """bootstrap-plan (no approval, plan token) makes the targeted run and shows its plan; bootstrap-apply, in
    the `stage` environment, confirms that run: the reviewers approve a plan that exists."""
    wf = load(DEPLOY)
    plan_job, apply_job = wf["jobs"]["bootstrap-plan"], wf["jobs"]["bootstrap-apply"]
    assert plan_job["environment"] == "stage-plan" and "inputs.bootstrap_registry" in plan_job["if"]
    assert secrets_named(plan_job) == {"TF_PLAN_TOKEN"} and secrets_named(apply_job) == {"TF_API_TOKEN"}
    assert apply_job["needs"] == "bootstrap-plan" and apply_job["environment"]["name"] == stage_cfg.environment
    assert apply_job["environment"]["url"] == "${{ needs.bootstrap-plan.outputs.run_url }}"
    assert "!inputs.bootstrap_registry" in wf["jobs"]["plan"]["if"]  # never both
    root = workspace(tmp_path, stage)
    (root / "scripts").mkdir()
    fake = FAKE_TFC_RUN.replace("PLAN_FIXTURE", repr(str(ROOT / "tests" / "fixtures" / "plans" / "plan-changes.json")))
    for name in ("tfc_run.py", "tfc_workspace_version.py"):
        (root / "scripts" / name).write_text(fake)  # records its calls
    gh = github_files(tmp_path)
    summary = tmp_path / "summary.md"
    summary.write_text("")
    env = {"ARAQUEM_ENV": "stage", "DEPLOY_SHA": "0123456789abcdef", "GITHUB_STEP_SUMMARY": str(summary), **gh}
    proc = run_step(step(wf, "bootstrap-plan", "ECR repositories only")["run"], root, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version_call, plan_call = (root / "scripts" / "calls.log").read_text().splitlines()
    assert version_call == f"tfc_workspace_version.py cdktf.out/stacks/{stage_cfg.name}"
    targets = [f"--target=aws_ecr_repository.{n}" for n in sorted(stage.resources("aws_ecr_repository"))]
    assert targets and plan_call.startswith(f"tfc_run.py plan cdktf.out/stacks/{stage_cfg.name} {' '.join(targets)} ")
    assert " --no-wait " in plan_call  # the run id is a job output before any wait (test_delivery_flows.py)
    outputs = dict(line.split("=", 1) for line in Path(gh["GITHUB_OUTPUT"]).read_text().splitlines())
    assert outputs == {"stack": stage_cfg.name, "run_id": "run-Boot1", "run_url": "https://tfc/runs/run-Boot1",
                       "tfc_hostname": stage_cfg.terraform_cloud.hostname}
    proc = run_step(step(wf, "bootstrap-plan", "Wait for the bootstrap plan")["run"], root,
                    {**env, "STACK": outputs["stack"]})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (root / "scripts" / "calls.log").read_text().splitlines()[2:] == [
        f"tfc_run.py wait cdktf.out/stacks/{stage_cfg.name} --plan-json plan.json --run-json run.json"]
    assert summary.read_text().startswith(MARKER.format(stack=stage_cfg.name))  # the plan, before the approval

    (root / "scripts" / "calls.log").unlink()
    apply_step = step(wf, "bootstrap-apply", "Apply the ECR repositories")
    assert apply_step["env"]["RUN_ID"] == "${{ needs.bootstrap-plan.outputs.run_id }}"
    proc = run_step(apply_step["run"], root, {"RUN_ID": "run-Boot1", "GITHUB_RUN_ID": "9",
                                              "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (root / "scripts" / "calls.log").read_text() == (
        f"tfc_run.py apply run-Boot1 --summary {summary} --message bootstrap approved in GitHub run 9\n")


def tfc_workspace(tmp_path: Path, stage) -> Path:
    return with_scripts(workspace(tmp_path, stage))


def test_deploy_stops_without_remote_state():
    script = step(load(DEPLOY), "plan", "Remote state required")
    assert script["if"] == "steps.env.outputs.tfc_hostname == ''"
    proc = run_step(script["run"], ROOT, {"ARAQUEM_ENV": "dev-eu"})
    assert proc.returncode == 1 and "::error title=no terraform_cloud section::" in proc.stdout


@pytest.mark.parametrize("passed", ["1", "0"])
def test_deploy_is_gated_on_ci_for_the_exact_commit(tmp_path, passed):
    bin_dir = fake_bin(tmp_path, {"gh": f"echo {passed}"})
    proc = run_step(step(load(DEPLOY), "gate", "CI passed")["run"], tmp_path,
                    {"GITHUB_REPOSITORY": "o/r", "DEPLOY_SHA": "abcdef0123456789"}, bin_dir)
    call = (tmp_path / "gh.log").read_text().strip()
    assert call == ("run list --repo o/r --workflow ci.yml --commit abcdef0123456789 --status success "
                    "--json databaseId --jq length")
    if passed == "1":
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 1 and "::error title=CI has not passed::" in proc.stdout


@pytest.mark.parametrize("case", ["token", "no-token", "local-state"])
def test_plan_runs_only_with_terraform_cloud_and_a_token(tmp_path, stage, stage_cfg, case):
    root = workspace(tmp_path, stage)
    if case == "local-state":
        stack_json = root / "cdktf.out" / "stacks" / stage.dir.name / "cdk.tf.json"
        data = json.loads(stack_json.read_text())
        del data["terraform"]["cloud"]
        stack_json.write_text(json.dumps(data))
    gh = github_files(tmp_path)
    env = {"STACK": stage_cfg.name, "ARAQUEM_ENV": "stage", "TF_API_TOKEN": "" if case == "no-token" else "tok",
           **gh}
    tfc_step = step(load(PLAN), "plan", "Terraform Cloud backend")
    assert tfc_step["env"]["TF_API_TOKEN"] == "${{ secrets.TF_PLAN_TOKEN }}"
    proc = run_step(tfc_step["run"], root, env)
    assert proc.returncode == 0, proc.stderr
    output = Path(gh["GITHUB_OUTPUT"]).read_text()
    assert output == ("enabled=true\n" if case == "token" else "enabled=false\n")
    if case != "token":
        assert "::notice title=plan skipped::" in proc.stdout
    assert Path(gh["GITHUB_ENV"]).read_text() == ""  # the token is never written to the job's environment


def test_pr_plan_runs_speculatively_against_the_fake_api(tmp_path, stage, stage_cfg):
    wf = load(PLAN)
    root = tfc_workspace(tmp_path, stage)
    with FakeTfc(["pending", "planned_and_finished"]) as fake:
        proc = run_step(step(wf, "plan", "Terraform Cloud speculative")["run"], root, {
            "TFC_API_URL": fake.url, "TFC_POLL_SECONDS": "0.01", "STACK": stage_cfg.name, "TF_API_TOKEN": "t",
            "PR_NUMBER": "12", "HEAD_SHA": "fedcba9876543210"})
    assert proc.returncode == 0, proc.stderr
    assert fake.cv_body["data"]["attributes"]["speculative"] is True
    assert fake.run_body["data"]["attributes"]["plan-only"] is True
    assert fake.run_body["data"]["attributes"]["message"] == "PR #12 at fedcba987654 (speculative)"
    assert json.loads((root / "run.json").read_text())["status"] == "planned_and_finished"


def test_failure_comment_carries_the_run_link_and_the_error(tmp_path, stage):
    script = step(load(PLAN), "plan", "Mark the sticky comment stale")["run"]
    root = workspace(tmp_path, stage)
    error = "Error: bad thing\n```\ninjected fence"
    (root / "run.json").write_text(json.dumps({"id": "run-1", "status": "errored", "error": error,
                                               "url": "https://app.terraform.io/app/o/workspaces/w/runs/run-1"}))
    proc = run_step(script, root, {"STACK": "araquem-stage", "RUN_URL": "https://ci/run/7",
                                   "HEAD_SHA": "abcdef0123456789"})
    assert proc.returncode == 0, proc.stderr
    body = (root / "plan-comment.md").read_text()
    assert body.splitlines()[0] == MARKER.format(stack="araquem-stage")
    assert "at `abcdef012345`" in body.splitlines()[1]
    assert "Full log: https://app.terraform.io/app/o/workspaces/w/runs/run-1" in body
    assert f"````text\n{error}\n````" in body  # a longer fence: the error's own ``` cannot close it


def test_failure_step_writes_a_stale_notice_under_the_same_marker(tmp_path):
    script = step(load(PLAN), "plan", "Mark the sticky comment stale")["run"]
    proc = run_step(script, tmp_path, {"STACK": "araquem-stage", "RUN_URL": "https://ci/run/7",
                                       "HEAD_SHA": "abcdef0123456789"})
    assert proc.returncode == 0, proc.stderr
    body = (tmp_path / "plan-comment.md").read_text()
    assert body.splitlines()[0] == MARKER.format(stack="araquem-stage")
    assert "abcdef012345;" in body and "https://ci/run/7" in body


STICKY_HARNESS = r"""
const fs = require("fs");
const [script, comments] = [fs.readFileSync(process.argv[2], "utf8"), JSON.parse(process.argv[3])];
const calls = [];
const github = {
  paginate: async (fn, args) => { calls.push(["list", args.issue_number]); return comments; },
  rest: { issues: {
    listComments: "listComments",
    updateComment: async (a) => calls.push(["update", a.comment_id, a.body]),
    createComment: async (a) => calls.push(["create", a.issue_number, a.body]),
  } },
};
const context = { repo: { owner: "o", repo: "r" }, issue: { number: 42 } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction("require", "github", "context", script)(require, github, context)
  .then(() => console.log(JSON.stringify(calls)));
"""


def node() -> str:
    return str(NODE_BIN / "node")


@pytest.mark.parametrize("existing,expected", [
    ([], ["create", 42]),
    ([{"id": 7, "user": {"type": "Bot"}, "body": "<!-- araquem-plan:araquem-stage -->\nold plan"}], ["update", 7]),
    ([{"id": 8, "user": {"type": "User"}, "body": "<!-- araquem-plan:araquem-stage -->\nquoted by a person"},
      {"id": 9, "user": {"type": "Bot"}, "body": "<!-- araquem-plan:araquem-prod -->\nanother stack"}],
     ["create", 42]),
], ids=["first-plan", "updates-own-comment", "leaves-others-alone"])
def test_sticky_comment_is_found_by_marker(tmp_path, existing, expected):
    (tmp_path / "plan-comment.md").write_text("<!-- araquem-plan:araquem-stage -->\nnew plan\n")
    script = tmp_path / "script.js"
    script.write_text(step(load(PLAN), "plan", "Post or update")["with"]["script"])
    harness = tmp_path / "harness.js"
    harness.write_text(STICKY_HARNESS)
    proc = run([node(), str(harness), str(script), json.dumps(existing)], cwd=tmp_path, timeout=60)
    calls = json.loads(proc.stdout)
    assert calls[0] == ["list", 42]
    assert calls[1:] == [[*expected, "<!-- araquem-plan:araquem-stage -->\nnew plan\n"]]


@pytest.mark.parametrize("case", ["copied", "missing", "not-built"])
def test_quality_samples_are_required_before_anything_is_applied(tmp_path, case):
    wf = load(DEPLOY)
    # part of quality-cron's build context, hence of its tag: copied before synth in both workflows,
    # checked before the plan is even made, and handed to the deploy job with the plan
    for workflow in (wf, load(PLAN)):
        assert index(workflow, "plan", "Copy the quality samples") < index(workflow, "plan", "Synthesize")
    assert index(wf, "plan", "Quality samples present") < index(wf, "plan", "Terraform Cloud run, created")
    artifact = next(s for s in wf["jobs"]["plan"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert "docker/quality-cron/samples/*.json" in artifact["with"]["path"]
    root = tmp_path / "checkout"
    (root / "docker" / "quality-cron" / "samples").mkdir(parents=True)
    images = "araquem-stage/api app-1 \n" + ("" if case == "not-built" else
                                             "araquem-stage/quality-cron 0123456789ab docker/quality-cron/Dockerfile\n")
    (root / "images.txt").write_text(images)
    if case == "copied":
        (root / ".app" / "qa" / "samples").mkdir(parents=True)
        (root / ".app" / "qa" / "samples" / "one.json").write_text("{}")
    proc = run_step(step(wf, "plan", "Copy the quality samples")["run"], root,
                    {"SAMPLES_DIR": "qa/samples" if case == "copied" else ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_step(step(wf, "plan", "Quality samples present")["run"], root, {})
    if case == "missing":
        assert proc.returncode == 1 and "::error title=no quality samples::" in proc.stdout
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    copied = (root / "docker" / "quality-cron" / "samples" / "one.json").is_file()
    assert copied == (case == "copied")


@pytest.mark.parametrize("case", ["same-lock", "other-lock", "base-fails", "new-environment"])
def test_base_is_synthesized_by_its_own_code_without_failing_the_job(tmp_path, case):
    """The base synth step runs the base checkout's main.py (on this .venv when the lock files agree, else the
    README's `make synth` in .base); stand-in python and make record where and with what they ran."""
    root, bin_dir, record = tmp_path / "checkout", tmp_path / "bin", tmp_path / "calls.txt"
    (root / ".venv" / "bin").mkdir(parents=True)
    bin_dir.mkdir()
    exit_code = 1 if case == "base-fails" else 0
    for stand_in in (root / ".venv" / "bin" / "python", bin_dir / "make"):
        stand_in.write_text(f'#!/bin/bash\necho "$(basename "$0") $PWD $*" >>{record}\necho synth output\n'
                            f"exit {exit_code}\n")
        stand_in.chmod(0o755)
    (root / "Pipfile.lock").write_text("{}")
    if case != "new-environment":
        (root / ".base" / "envs").mkdir(parents=True)
        (root / ".base" / "envs" / "stage.yaml").write_text("project: araquem\n")
        (root / ".base" / "Pipfile.lock").write_text("{}" if case != "other-lock" else '{"changed": true}')
    proc = run_step(step(load(PLAN), "plan", "Base synth")["run"], root, {"ARAQUEM_ENV": "stage"}, bin_dir)
    assert proc.returncode == 0, proc.stderr
    calls = record.read_text().splitlines() if record.exists() else []
    if case == "new-environment":
        assert calls == [] and "new environment" in proc.stdout
    elif case == "other-lock":
        assert calls == [f"make {root} -C .base synth ARGS=--env stage"]
    else:
        assert calls == [f"python {root / '.base'} main.py synth --env stage"]
    assert (root / "base-synth.failed").exists() == (case == "base-fails")
    if case != "new-environment":
        assert (root / "base-synth.log").read_text() == "synth output\n"


def _synth_out(synth, root: Path) -> None:
    """`root`/cdktf.out: a copy of a session synth's output directory (manifest.json + stacks/)."""
    shutil.copytree(synth.dir.parent.parent, root / "cdktf.out", ignore=shutil.ignore_patterns("*.yaml"))


@pytest.mark.parametrize("case", ["changed", "new-environment", "base-not-synthesized", "base-not-comparable"])
def test_cost_step_comments_the_monthly_delta_of_the_two_synths(tmp_path, case, stage, stage_reshaped):
    """The head is stage_reshaped (tests/conftest.py: a cheaper GPU, a second NAT gateway, a larger cache
    node), the base stage: the comment carries the delta of those two real synths."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("envs", "modules", "main.py", ".venv"):
        (root / name).symlink_to(ROOT / name)
    _synth_out(stage_reshaped, root)
    if case != "new-environment":
        (root / ".base" / "envs").mkdir(parents=True)
        (root / ".base" / "envs" / "stage.yaml").write_text("project: araquem\n")
        _synth_out(stage, root / ".base")
    if case == "base-not-synthesized":
        (root / "base-synth.failed").touch()
        (root / "base-synth.log").write_text("traceback of the base\nerror: the base's synth broke\n")
    if case == "base-not-comparable":  # valid, but in a Region the price table lacks
        base_json = root / ".base" / "cdktf.out" / "stacks" / "araquem-stage" / "cdk.tf.json"
        doc = json.loads(base_json.read_text())
        doc["provider"]["aws"][0]["region"] = "ap-south-2"
        base_json.write_text(json.dumps(doc))
    summary = tmp_path / "summary.md"
    script = step(load(PLAN), "plan", "Monthly cost delta")["run"]
    proc = run_step(script, root, {"STACK": "araquem-stage", "ARAQUEM_ENV": "stage", "BASE_SHA": "ab" * 20,
                                   "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 0, proc.stderr
    comment = (root / "cost-comment.md").read_text()
    assert comment.splitlines()[0] == "<!-- araquem-cost:araquem-stage -->"
    assert summary.read_text() == comment
    if case == "changed":
        expected = run_main("cost", "--synth", str(stage_reshaped.dir), "--compare-synth", str(stage.dir),
                            "--format", "markdown").stdout
        # (the price table's path differs: this checkout's modules/ is a link to the repository's)
        assert comment.split("<sub>")[0] == expected.split("<sub>")[0]
        assert "| EC2 gpu | 266.56 | 141.42 | -125.14 |" in comment and "| NAT gateways | 37.35 | 70.20 | +32.85 |" \
            in comment
    elif case == "new-environment":
        assert "New environment" in comment and "TOTAL" in comment and "g4dn.xlarge" in comment
    elif case == "base-not-synthesized":
        assert f"No delta: the base ({'ab' * 6}) did not synthesize" in comment
        assert "error: the base's synth broke" in comment
    else:
        assert "No delta" in comment and "provider.aws.region: 'ap-south-2' has no prices" in comment


def test_sticky_cost_comment_updates_its_own_comment_only(tmp_path):
    (tmp_path / "cost-comment.md").write_text("<!-- araquem-cost:araquem-stage -->\nnew delta\n")
    script = tmp_path / "script.js"
    script.write_text(step(load(PLAN), "plan", "Sticky cost comment")["with"]["script"])
    harness = tmp_path / "harness.js"
    harness.write_text(STICKY_HARNESS)
    existing = [{"id": 7, "user": {"type": "Bot"}, "body": "<!-- araquem-plan:araquem-stage -->\nthe plan"},
                {"id": 8, "user": {"type": "Bot"}, "body": "<!-- araquem-cost:araquem-stage -->\nold delta"}]
    calls = json.loads(run([node(), str(harness), str(script), json.dumps(existing)], cwd=tmp_path, timeout=60).stdout)
    assert calls[1:] == [["update", 8, "<!-- araquem-cost:araquem-stage -->\nnew delta\n"]]


# ---------------------------------------------------------------- the deploy gate: main's tip, the reviewers
GITHUB_FIXTURES = ROOT / "tests" / "fixtures" / "github"  # README.md there: where each answer comes from


@pytest.mark.parametrize("tip", ["same", "newer"])
def test_only_mains_tip_deploys(tmp_path, tip):
    """Two pushes whose CI finishes out of order: the older commit's run finds main moved on and skips (a notice,
    deploy=false, exit 0), so nothing older is applied after something newer."""
    deploy_sha, newer = "a" * 40, "b" * 40
    bin_dir = fake_bin(tmp_path, {"gh": f"echo {deploy_sha if tip == 'same' else newer}"})
    gh = github_files(tmp_path)
    proc = run_step(step(load(DEPLOY), "gate", "Only main's tip")["run"], tmp_path,
                    {"GITHUB_REPOSITORY": "o/r", "DEPLOY_SHA": deploy_sha, **gh}, bin_dir)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "gh.log").read_text().strip() == "api repos/o/r/commits/main --jq .sha"
    assert Path(gh["GITHUB_OUTPUT"]).read_text() == f"deploy={'true' if tip == 'same' else 'false'}\n"
    if tip == "newer":
        assert "::notice title=not main's tip: skipped::aaaaaaaaaaaa is no longer main's newest commit" in proc.stdout


def environment_answer(case: str) -> dict:
    """GitHub's documented "Get an environment" answer, or a case derived from it (fixtures README)."""
    env = json.loads((GITHUB_FIXTURES / "environment-with-reviewers.json").read_text())
    env["name"] = "stage"  # the example is named staging
    if case == "no-reviewers":
        env["protection_rules"] = [r for r in env["protection_rules"] if r["type"] != "required_reviewers"]
    elif case == "no-rules":
        del env["protection_rules"]
    elif case == "all-branches":
        env["deployment_branch_policy"] = None
    elif case == "self-review-prevented":
        next(r for r in env["protection_rules"] if r["type"] == "required_reviewers")["prevent_self_review"] = True
    return env


@pytest.mark.parametrize("case,code,says", [
    ("documented", 0, "::warning title=deploy gate::the environment 'stage' lets the person who started"),
    ("self-review-prevented", 0, "required reviewers justice-league, octocat"),
    ("no-reviewers", 1, "::error title=deploy gate::the environment 'stage' has no required reviewers"),
    ("no-rules", 1, "::error title=deploy gate::the environment 'stage' has no required reviewers"),
    ("all-branches", 1, "lets every branch deploy (no deployment branch policy)"),
    ("missing", 1, "::error title=no environment stage::"),
])
def test_the_deploy_fails_closed_without_required_reviewers(tmp_path, case, code, says):
    """The gate step with `gh api` answering as GitHub does (the documented example and cases derived from it;
    a missing environment: gh's exit on HTTP 404)."""
    script = step(load(DEPLOY), "gate", "The environment has required reviewers")
    assert script["if"] == "steps.tip.outputs.deploy == 'true'"
    answer = tmp_path / "answer.json"
    if case == "missing":
        body = 'echo "gh: Not Found (HTTP 404)" >&2; exit 1'
    else:
        answer.write_text(json.dumps(environment_answer(case)))
        body = f"cat {answer}"
    bin_dir = fake_bin(tmp_path, {"gh": body})
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "scripts").symlink_to(ROOT / "scripts")
    proc = run_step(script["run"], root, {"GITHUB_REPOSITORY": "o/r", "DEPLOY_ENVIRONMENT": "stage"}, bin_dir)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert says in proc.stdout
    assert (tmp_path / "gh.log").read_text().strip() == "api repos/o/r/environments/stage"


def test_the_gate_reads_the_documented_answer_as_is():
    """The fixture unchanged (named `staging`): reviewers found, branch policy set, self-review warned."""
    proc = run([PYTHON, str(ROOT / "scripts" / "deploy_gate.py"), "environment",
                str(GITHUB_FIXTURES / "environment-with-reviewers.json"), "--name", "staging"], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "required reviewers justice-league, octocat" in proc.stdout and "::warning" in proc.stdout
    wrong = run([PYTHON, str(ROOT / "scripts" / "deploy_gate.py"), "environment",
                 str(GITHUB_FIXTURES / "environment-with-reviewers.json"), "--name", "stage"], check=False)
    assert wrong.returncode == 2 and "not the environment 'stage'" in wrong.stdout


# ---------------------------------------------------------------- linking plan and deploy
@pytest.mark.parametrize("case", ["merged-pr", "direct-push", "api-error"])
def test_the_deploy_summary_links_the_pull_requests_plan(tmp_path, case):
    wf = load(DEPLOY)
    link = step(wf, "plan", "Link the pull request's plan")
    assert index(wf, "plan", "Plan summary") < index(wf, "plan", "Link the pull request's plan")
    assert wf["jobs"]["plan"]["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert wf["jobs"]["plan"]["outputs"]["run_url"] == "${{ steps.run_url.outputs.url }}"
    (tmp_path / "run.json").write_text(json.dumps({"id": "run-1", "url": "https://app.terraform.io/app/o/w/runs/run-1"}))
    comment = "https://github.com/o/r/pull/42#issuecomment-7"
    pulls = {"merged-pr": "echo 42", "direct-push": "true", "api-error": "echo 'HTTP 502' >&2; exit 1"}[case]
    bin_dir = fake_bin(tmp_path, {"gh": f'if [[ $2 == */pulls ]]; then {pulls}; else echo {comment}; fi'})
    gh = github_files(tmp_path)
    summary = tmp_path / "summary.md"
    summary.write_text("")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    proc = run_step(link["run"], tmp_path, {"GITHUB_REPOSITORY": "o/r", "DEPLOY_SHA": "c" * 40, "STACK": "araquem-stage",
                                            "GITHUB_STEP_SUMMARY": str(summary), **gh}, bin_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert Path(gh["GITHUB_OUTPUT"]).read_text() == "url=https://app.terraform.io/app/o/w/runs/run-1\n"
    calls = (tmp_path / "gh.log").read_text().splitlines()
    assert calls[0].startswith(f"api repos/o/r/commits/{'c' * 40}/pulls --jq ")
    if case == "merged-pr":
        assert calls[1].startswith("api --paginate repos/o/r/issues/42/comments --jq ")
        assert '"<!-- araquem-plan:araquem-stage -->"' in calls[1]  # the sticky comment's marker (plan.yml)
        assert f"**Pull request** #42 merged cccccccccccc; its plan: {comment}." in summary.read_text()
    else:  # informational: a failed lookup leaves the link out, the deploy goes on
        assert len(calls) == 1 and "**No pull request** merged cccccccccccc" in summary.read_text()


@pytest.mark.parametrize("path", [PLAN, DEPLOY, DRIFT], ids=["plan", "deploy", "drift"])
@pytest.mark.parametrize("pin,ok", [("0123456789abcdef0123456789abcdef01234567", True), ("main", False), ("", False)])
def test_quality_samples_come_from_a_commit_pinned_in_git(tmp_path, path, pin, ok):
    """APP_REF || main made quality-cron's tag depend on the application's branch at plan time; the commit is now
    read from .github/quality-samples-ref (in git), and a branch name or nothing is refused."""
    wf = load(path)
    job = "plan"
    pinned = step(wf, job, "Pinned application commit")
    checkout = step(wf, job, "Check out the application repository")
    assert checkout["with"]["ref"] == "${{ steps.samples.outputs.ref }}" and pinned["id"] == "samples"
    assert "APP_REF" not in path.read_text()
    assert index(wf, job, "Pinned application commit") < index(wf, job, "Check out the application repository")
    root = tmp_path / "checkout"
    (root / ".github").mkdir(parents=True)
    shipped = (ROOT / ".github" / "quality-samples-ref").read_text()
    assert all(line.startswith("#") for line in shipped.splitlines())  # no application repository configured yet
    (root / ".github" / "quality-samples-ref").write_text(shipped + (pin + "\n" if pin else ""))
    gh = github_files(tmp_path)
    proc = run_step(pinned["run"], root, {"APP_REPOSITORY": "o/app", **gh})
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert Path(gh["GITHUB_OUTPUT"]).read_text() == f"ref={pin}\n"
    else:
        assert proc.returncode == 1 and "::error title=quality samples not pinned::" in proc.stdout


# ---------------------------------------------------------------- drift
@pytest.mark.parametrize("has_changes,state", [(True, "drift"), (False, "in-sync"), (None, None)])
def test_drift_check_decides_from_the_runs_answer(tmp_path, stage, has_changes, state):
    wf = load(DRIFT)
    assert set(triggers(wf)) == {"schedule", "workflow_dispatch"}
    assert wf["jobs"]["plan"]["environment"] == "stage-plan"
    assert step(wf, "plan", "Terraform Cloud speculative")["run"].lstrip().startswith(
        ".venv/bin/python scripts/tfc_run.py speculative ")  # plan-only: it can never be applied
    root = workspace(tmp_path, stage)
    shutil.copy(ROOT / "tests" / "fixtures" / "plans" / "plan-changes.json", root / "plan.json")
    (root / "run.json").write_text(json.dumps({"id": "run-D1", "url": "https://tfc/runs/run-D1", "status": "planned_and_finished",
                                               "has_changes": has_changes, "error": ""}))
    summary = tmp_path / "summary.md"
    summary.write_text("")
    proc = run_step(step(wf, "plan", "Drift or in sync")["run"], root,
                    {"STACK": "araquem-stage", "GITHUB_SHA": "d" * 40, "RUN_URL": "https://ci/run/5",
                     "GITHUB_STEP_SUMMARY": str(summary)})
    if state is None:  # a check that cannot tell fails, it never reports "in sync"
        assert proc.returncode == 1 and "::error title=drift check blind::" in proc.stdout
        assert not (root / "drift-state.txt").exists()
        return
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (root / "drift-state.txt").read_text() == f"{state}\n"
    body = (root / "drift-body.md").read_text()
    assert body.splitlines()[0] == "<!-- araquem-drift:araquem-stage -->"
    assert "differs from main at dddddddddddd (drift check https://ci/run/5)" in body
    assert MARKER.format(stack="araquem-stage") in body  # the plan summary itself


DRIFT_HARNESS = r"""
const fs = require("fs");
const [script, issues] = [fs.readFileSync(process.argv[2], "utf8"), JSON.parse(process.argv[3])];
const calls = [];
const github = {
  paginate: async (fn, args) => { calls.push(["list", args.state, args.labels]); return issues; },
  rest: { issues: {
    listForRepo: "listForRepo",
    create: async (a) => calls.push(["create", a.title, a.labels, a.body]),
    update: async (a) => calls.push(["update", a.issue_number, a.state || null, a.body || null]),
    createComment: async (a) => calls.push(["comment", a.issue_number, a.body]),
  } },
};
const context = { repo: { owner: "o", repo: "r" } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction("require", "github", "context", "process", script)(require, github, context, process)
  .then(() => console.log(JSON.stringify(calls)), (e) => { console.log(JSON.stringify(calls)); console.error(e.message); process.exit(1); });
"""
BODY = "<!-- araquem-drift:araquem-stage -->\nthe plan\n"
OURS = {"number": 5, "body": BODY + "older plan", "labels": [{"name": "drift"}]}


@pytest.mark.parametrize("state,issues,expected", [
    ("drift", [], [["create", "Drift: the live araquem-stage stack differs from main", ["drift"], BODY]]),
    ("drift", [OURS], [["update", 5, None, BODY]]),
    ("drift", [{"number": 6, "body": "<!-- araquem-drift:araquem-prod -->\n", "labels": []},
               {"number": 7, "body": BODY, "pull_request": {}, "labels": []}],
     [["create", "Drift: the live araquem-stage stack differs from main", ["drift"], BODY]]),
    ("in-sync", [OURS], [["comment", 5, "Back in sync: the drift check https://ci/run/5 planned no change."],
                         ["update", 5, "closed", None]]),
    ("in-sync", [], []),
], ids=["opens-one", "updates-its-own", "leaves-others-alone", "closes-when-back-in-sync", "quiet-when-in-sync"])
def test_drift_keeps_one_issue(tmp_path, state, issues, expected):
    wf = load(DRIFT)
    report = wf["jobs"]["report"]
    assert report["permissions"] == {"issues": "write"} and "environment" not in report  # no token, no secret
    assert wf["jobs"]["plan"]["permissions"] == {"contents": "read"}
    script_step = step(wf, "report", "Open, update or close the drift issue")
    (tmp_path / "drift-state.txt").write_text(state + "\n")
    (tmp_path / "drift-body.md").write_text(BODY)
    script = tmp_path / "script.js"
    script.write_text(script_step["with"]["script"])
    harness = tmp_path / "harness.js"
    harness.write_text(DRIFT_HARNESS)
    proc = subprocess.run([node(), str(harness), str(script), json.dumps(issues)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "STACK": "araquem-stage",
                                                      "RUN_URL": "https://ci/run/5"})
    assert proc.returncode == 0, proc.stderr
    calls = json.loads(proc.stdout)
    assert calls[0] == ["list", "open", "drift"] and calls[1:] == expected
    (tmp_path / "drift-state.txt").write_text("\n")  # an empty answer is an error, not "in sync"
    proc = subprocess.run([node(), str(harness), str(script), json.dumps([OURS])], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "STACK": "araquem-stage", "RUN_URL": "u"})
    assert proc.returncode == 1 and json.loads(proc.stdout) == [["list", "open", "drift"]]


# ---------------------------------------------------------------- tokens and permissions
# Every secret a workflow reads, and the GitHub environments that hold it (docs/delivery.md, "Tokens").
TOKEN_ENVIRONMENTS = {"TF_PLAN_TOKEN": {"pr-plan", "stage-plan"}, "APP_REPOSITORY_TOKEN": {"pr-plan", "stage-plan"},
                      "TF_API_TOKEN": {"stage"}, "TF_DISCARD_TOKEN": {"stage-discard"}, "RELEASE_TOKEN": {"release"}}
# The only write permissions a job may hold, and where.
WRITES = {("plan.yml", "plan"): {"pull-requests"}, ("deploy.yml", "deploy"): {"id-token"},
          ("app-release.yml", "record"): {"contents", "pull-requests"}, ("drift.yml", "report"): {"issues"}}


def environment_of(job: dict) -> str | None:
    env = job.get("environment")
    return env["name"] if isinstance(env, dict) else env


def test_tokens_live_in_environments_and_permissions_are_per_job():
    for path in ALL:
        wf = load(path)
        assert wf["permissions"] == {}, f"{path.name}: workflow-level permissions (each job declares its own)"
        for name, job in wf["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} declares no permissions"
            writes = {scope for scope, level in job["permissions"].items() if level == "write"}
            assert writes == WRITES.get((path.name, name), set()), (path.name, name, writes)
            for secret in secrets_named(job):
                assert environment_of(job) in TOKEN_ENVIRONMENTS[secret], (path.name, name, secret)


def test_delivery_doc_lists_every_token_with_its_environments():
    text = (ROOT / "docs" / "delivery.md").read_text()
    rows = {m[1]: set(re.findall(r"`([\w-]+)`", m[2])) for m in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", text, re.M)}
    assert {k: v for k, v in rows.items() if k in TOKEN_ENVIRONMENTS} == TOKEN_ENVIRONMENTS
    assert set(TOKEN_ENVIRONMENTS) <= set(rows)


# ---------------------------------------------------------------- the workspace's Terraform version
TFC_WORKSPACE = ROOT / "tests" / "fixtures" / "tfc-workspace" / "workspace-1.0.4.json"  # README.md there: source


class WorkspaceApi:
    """A local stand-in for Terraform Cloud's "Show workspace" serving HashiCorp's documented sample answer, with
    `terraform-version` set per case (the fixture README says which values the attribute may hold)."""

    def __init__(self, version: str | None):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415
        import threading  # noqa: PLC0415

        answer = json.loads(TFC_WORKSPACE.read_text())
        if version is not None:
            answer["data"]["attributes"]["terraform-version"] = version
        self.paths: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                api.paths.append(self.path)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.api+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("version,code", [(None, 1), ("1.10.5", 1), ("~> 1.10.0", 1), ("1.11.4", 0),
                                          ("~> 1.11.0", 0), (">= 1.11.0, < 2.0.0", 0), ("latest", 0),
                                          ("< 2.0.0", 2)],
                         ids=["documented-1.0.4", "1.10", "pessimistic-1.10", "1.11.4", "pessimistic-1.11",
                              "range", "latest", "no-lower-bound"])
def test_the_workspace_terraform_version_is_at_least_the_stacks(tmp_path, stage, stage_cfg, version, code):
    """The stack requires what modules/secrets.py sets (>= 1.11.0: write-only attributes); the workspace's
    setting is an exact version or a constraint, whose lowest allowed version must satisfy it."""
    root = workspace(tmp_path, stage)
    stack_dir = root / "cdktf.out" / "stacks" / stage_cfg.name
    assert json.loads((stack_dir / "cdk.tf.json").read_text())["terraform"]["required_version"] == ">= 1.11.0"
    with WorkspaceApi(version) as api:
        proc = run([PYTHON, str(ROOT / "scripts" / "tfc_workspace_version.py"), str(stack_dir)], check=False,
                   env={"TF_API_TOKEN": "t", "TFC_API_URL": api.url})
    assert proc.returncode == code, proc.stdout + proc.stderr
    org, ws = stage_cfg.terraform_cloud.organization, stage_cfg.terraform_cloud.workspace
    assert api.paths == [f"/api/v2/organizations/{org}/workspaces/{ws}"]
    if code == 1:
        assert "every run would fail at terraform init" in proc.stderr and "1.11.0 or later" in proc.stderr
    elif code == 0:
        assert f"workspace {org}/{ws} runs Terraform {version}; the stack requires >= 1.11.0" in proc.stdout


# ---------------------------------------------------------------- docs the workflows point to
def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_doc_section_a_workflow_or_script_names_exists():
    """deploy.yml pointed at a README section "Delivery" that did not exist: every `<file>.md, "<Section>"` and
    `README "<Section>"` in the workflows and scripts must name a heading of that file."""
    sources = [*ALL, *sorted((ROOT / "scripts").glob("*.sh")), *sorted((ROOT / "scripts").glob("*.py")),
               *sorted((ROOT / "modules" / "commands" / "preflight").glob("*.py"))]
    found = 0
    for source in sources:
        text = source.read_text()
        for doc, section in re.findall(r'(docs/[\w-]+\.md|README)(?:\.md)?,? \\?"([A-Z][^"\\\n]+)\\?"', text):
            path = ROOT / (doc if doc.endswith(".md") else "README.md")
            slug = re.sub(r"[^\w\- ]", "", section.lower()).replace(" ", "-")
            assert slug in anchors(path), f"{source.name} points to {doc} \"{section}\", which has no such heading"
            found += 1
    assert found >= 5  # the pattern still matches how they write it


# ---------------------------------------------------------------- scripts the workflows run
def test_workflow_shell_scripts_pass_shellcheck():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not on PATH (scripts/bootstrap.sh test installs it)"
    scripts = [ROOT / "scripts" / "push_images.sh", ROOT / "scripts" / "break_glass_deploy.sh"]
    proc = run([shellcheck, "--severity=style", *map(str, scripts)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_deploy_role_policy_covers_what_the_deploy_job_calls():
    """Every `aws <service> <command>` of the deploy job's scripts, and the rollout wait's calls, are allowed by
    the documented deploy role (modules/commands/preflight/checks.py deploy_role_policy)."""
    from modules.commands.preflight.checks import deploy_role_policy  # noqa: PLC0415

    allowed = {a for statement in deploy_role_policy()["Statement"] for a in statement["Action"]}
    cli = {("sts", "get-caller-identity"): "sts:GetCallerIdentity",
           ("ecr", "get-login-password"): "ecr:GetAuthorizationToken",
           ("ecr", "describe-images"): "ecr:DescribeImages"}
    text = (ROOT / "scripts" / "push_images.sh").read_text()
    called = set(re.findall(r"\baws (\w+) ([\w-]+)", text))
    assert called == set(cli), called  # a new call: add it here and to the policy
    assert {cli[c] for c in called} <= allowed
    rollout = (ROOT / "scripts" / "wait_ecs_rollout.py").read_text()
    operations = {"".join(p.title() for p in op.split("_")) for op in re.findall(r'ecs\.(?:get_paginator\(")?(\w+)', rollout)
                  if op not in ("get_paginator",)}
    assert {f"ecs:{op}" for op in operations} <= allowed and operations
    # docker push to a repository of the stack: the push actions ECR documents for it
    assert {"ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
            "ecr:BatchCheckLayerAvailability"} <= allowed


BREAK_GLASS_FAKES = {
    # each stand-in logs its arguments (fake_bin); terraform asks nothing, aws answers the account
    "terraform": "true",
    "aws": 'case "$1 $2" in "sts get-caller-identity") echo 123456789012 ;; "ecr describe-images") exit 0 ;; esac',
    "docker": "cat >/dev/null",
}


@pytest.mark.parametrize("answer", ["apply", "no"])
def test_break_glass_deploy_runs_the_deploy_gates_in_order(tmp_path, answer):
    """scripts/break_glass_deploy.sh with stand-in terraform/aws/docker and a stand-in python that records the
    repository commands it is asked to run: synth, the release check, preflight, push, plan to a file, apply that
    file only after "apply", then the rollout wait."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    (root / "cdktf.out" / "stacks" / "araquem-stage").mkdir(parents=True)
    for name in ("break_glass_deploy.sh", "push_images.sh"):
        shutil.copy(ROOT / "scripts" / name, root / "scripts" / name)
    python = tmp_path / "python"
    python.write_text(f'#!/usr/bin/env bash\necho "python $*" >>"{tmp_path}/order.log"\n'
                      'case "$1" in\n'
                      '  -c) case "$2" in *APP_IMAGE_UNRELEASED_TAG*) echo unreleased ;; *) echo "araquem-stage us-east-1" ;; esac ;;\n'
                      '  scripts/list_images.py) echo "araquem-stage/api app-1.0 " ;;\n'
                      "esac\n")
    python.chmod(0o755)
    bin_dir = fake_bin(tmp_path, {**BREAK_GLASS_FAKES,
                                  "terraform": f'echo "terraform $*" >>"{tmp_path}/order.log"'})
    proc = subprocess.run(["bash", str(root / "scripts" / "break_glass_deploy.sh"), "stage"], cwd=tmp_path,
                          input=f"{answer}\n", capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHON": str(python)})
    order = [line for line in (tmp_path / "order.log").read_text().splitlines() if not line.startswith("python -c")]
    head = ["python main.py --env stage synth", "python scripts/list_images.py stage",
            "python main.py --env stage preflight", "terraform init -input=false",
            "terraform plan -input=false -out=break-glass.tfplan"]
    if answer == "apply":
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert order[:5] == head and order[5] == "terraform apply -input=false break-glass.tfplan"
        assert order[6].startswith("python scripts/wait_ecs_rollout.py --cluster araquem-stage --region us-east-1 --since ")
        assert "exists: 123456789012.dkr.ecr.us-east-1.amazonaws.com/araquem-stage/api:app-1.0" in proc.stdout
    else:
        assert proc.returncode == 1 and order == head and "not applied" in proc.stderr


def test_architecture_lists_every_workflow_and_script():
    """docs/architecture.md's table names every workflow and every script (issue 28: it listed 3 of 4 and 3 of 8)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `([^`]+/)` \| (.*) \|$", text, re.M)}
    named = set(re.findall(r"`([\w.-]+)`", rows[".github/workflows/"]))
    assert {p.name for p in ALL} <= named
    scripts = {p.name for p in (ROOT / "scripts").iterdir() if p.is_file()}
    assert scripts <= set(re.findall(r"`([\w.-]+)`", rows["scripts/"])), scripts
