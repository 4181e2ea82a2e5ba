"""Fresh machines: scripts/bootstrap.sh and Pipfile.lock on the Pythons docs/setup.md promises.

- The interpreter choice: PYTHON=..., else 3.11, 3.12, 3.13 from PATH or pyenv, else a clear error.
- An externally managed Python (PEP 668: its stdlib dir holds EXTERNALLY-MANAGED, so pip refuses to install
  into it, --user included): the bootstrap puts pipenv into .tools/pipenv-venv and leaves that Python alone.
- Pipfile.lock installs on Python 3.12 and 3.13 from wheels, and there synth gives the same bytes as on 3.11
  and the config tests pass. That venv is built once per lock hash under .tools/ and reused.
- `cdktf synth` runs the app from cdktf.json with no pipenv on PATH.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pip
import pytest

import background as background_jobs
from conftest import NODE_BIN, ROOT, STAGE_FILE, TEST_IMAGE_TAG, TOOLS_DIR, run

BOOTSTRAP = ROOT / "scripts" / "bootstrap.sh"
BASH = shutil.which("bash")
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
PIPENV_VERSION = "2026.10.3"  # = scripts/bootstrap.sh
PIP_CACHE = TOOLS_DIR / "pip-cache"  # for the lock venvs' installs
CDKTF = TOOLS_DIR / "node_modules" / ".bin" / "cdktf"
LOCK_HASH = hashlib.sha256((ROOT / "Pipfile.lock").read_bytes()).hexdigest()[:16]


def pyenv_python(version: str) -> Path | None:
    """pyenv's newest installed `version` (e.g. "3.12"), or None."""
    found = sorted(PYENV_VERSIONS.glob(f"{version}.*/bin/python{version}"),
                   key=lambda p: tuple(int(x) for x in p.parent.parent.name.split(".") if x.isdigit()))
    return found[-1] if found else None


def python_version(python: Path | str) -> str:
    return run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.strip()


def bootstrap(project: Path, mode: str, env: dict, path: str) -> subprocess.CompletedProcess:
    """scripts/bootstrap.sh `mode` in `project`, with exactly `path` as PATH."""
    return run([BASH, str(project / "scripts" / "bootstrap.sh"), mode], cwd=project,
               env={**env, "PATH": path}, check=False, timeout=600)


def fake_bin(tmp_path: Path, **links: Path) -> Path:
    """A directory holding only the given commands (name -> target), to stand for PATH."""
    directory = tmp_path / "bin"
    directory.mkdir()
    for name, target in links.items():
        (directory / name).symlink_to(target)
    return directory


@pytest.fixture
def pythons() -> dict[str, Path]:
    found = {v: pyenv_python(v) for v in ("3.10", "3.11", "3.12", "3.13")}
    if None in found.values():
        pytest.skip(f"needs pyenv's 3.10-3.13 in {PYENV_VERSIONS}; found {sorted(v for v in found if found[v])}")
    return found


@pytest.mark.parametrize("on_path, expected", [
    ({"python3.13": "3.13", "python3.12": "3.12", "python3": "3.10"}, "3.12"),
    ({"python3.13": "3.13", "python3": "3.10"}, "3.13"),
    ({"python3": "3.12"}, "3.12"),
], ids=["3.12-before-3.13", "3.13-before-unsupported-python3", "python3-when-supported"])
def test_bootstrap_prefers_311_then_312_then_313(pythons, tmp_path, on_path, expected):
    path = fake_bin(tmp_path, **{name: pythons[v] for name, v in on_path.items()})
    proc = bootstrap(ROOT, "python", {"PYENV_ROOT": str(tmp_path / "no-pyenv")}, str(path))
    assert proc.returncode == 0, proc.stderr
    assert python_version(proc.stdout.strip()) == expected


def test_bootstrap_finds_pyenv_versions_pyenv_has_not_selected(pythons, tmp_path):
    pyenv_root = tmp_path / "pyenv"
    version_dir = pyenv_root / "versions" / "3.13.0" / "bin"
    version_dir.mkdir(parents=True)
    (version_dir / "python3.13").symlink_to(pythons["3.13"])
    path = fake_bin(tmp_path, python3=pythons["3.10"])
    proc = bootstrap(ROOT, "python", {"PYENV_ROOT": str(pyenv_root)}, str(path))
    assert proc.returncode == 0, proc.stderr
    assert python_version(proc.stdout.strip()) == "3.13"


def test_python_override_wins_and_is_checked(pythons, tmp_path):
    path = str(fake_bin(tmp_path, **{"python3.11": pythons["3.11"]}))
    chosen = bootstrap(ROOT, "python", {"PYTHON": str(pythons["3.13"])}, path)
    assert chosen.returncode == 0, chosen.stderr
    assert python_version(chosen.stdout.strip()) == "3.13"
    refused = bootstrap(ROOT, "python", {"PYTHON": str(pythons["3.10"])}, path)
    assert refused.returncode == 1
    assert f"PYTHON={pythons['3.10']} is not a working Python 3.11, 3.12, 3.13 interpreter" in refused.stderr


def test_no_supported_python_says_what_to_do(pythons, tmp_path):
    path = fake_bin(tmp_path, python3=pythons["3.10"])
    proc = bootstrap(ROOT, "python", {"PYENV_ROOT": str(tmp_path / "no-pyenv")}, str(path))
    assert proc.returncode == 1
    assert "no Python 3.11, 3.12, 3.13 found" in proc.stderr
    assert "PYTHON=/path/to/python3.12" in proc.stderr
    assert "Traceback" not in proc.stderr


def externally_managed_python(dest: Path, without: tuple[str, ...] = ()) -> Path:
    """A Python installation at `dest` made of the running Python's, marked externally managed (PEP 668).

    The interpreter binary is copied (Python finds its prefix from the binary's own location), the stdlib
    entries are symlinked, site-packages is new and holds only a link to pip (to show pip refusing), and the
    stdlib dir gets the EXTERNALLY-MANAGED marker — as on Debian 12 and Ubuntu 24.04. `without` leaves stdlib
    entries out (Debian ships ensurepip separately, in python3.X-venv).
    """
    version = "%d.%d" % sys.version_info[:2]
    (dest / "bin").mkdir(parents=True)
    python = dest / "bin" / f"python{version}"
    shutil.copy2(Path(getattr(sys, "_base_executable", sys.executable)).resolve(), python)
    base_stdlib = Path(sysconfig.get_path("stdlib"))
    stdlib = dest / "lib" / f"python{version}"
    stdlib.mkdir(parents=True)
    for entry in base_stdlib.iterdir():
        if entry.name not in ("site-packages", "dist-packages", "EXTERNALLY-MANAGED", *without):
            (stdlib / entry.name).symlink_to(entry)
    (stdlib / "site-packages").mkdir()
    (stdlib / "site-packages" / "pip").symlink_to(Path(pip.__file__).parent)
    (stdlib / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError=this Python is managed by the system (test stand-in for Debian's)\n")
    return python


def pipenv_wheels() -> Path:
    """pipenv and its dependencies as wheels under .tools/, downloaded once: the bootstrap then installs offline."""
    wheels = TOOLS_DIR / f"pipenv-wheels-{PIPENV_VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}"
    TOOLS_DIR.mkdir(exist_ok=True)
    with open(TOOLS_DIR / "pipenv-wheels.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if not (wheels / ".complete").is_file():
            run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:", "--dest", str(wheels),
                 f"pipenv=={PIPENV_VERSION}"], timeout=600)
            (wheels / ".complete").touch()
    return wheels


def tree_listing(directory: Path) -> list[str]:
    """Every path under `directory`, not following symlinks."""
    return sorted(os.path.relpath(os.path.join(parent, name), directory)
                  for parent, dirs, files in os.walk(directory) for name in dirs + files)


PIPENV_INSTALL = "bootstrap: pipenv beside an externally managed Python"


def prepare_pipenv_install(request):
    """A background job (tests/background.py): on a fresh machine pipenv_wheels() downloads from PyPI."""
    tmp_path = request.getfixturevalue("tmp_path_factory").mktemp("pipenv-install")
    return functools.partial(bootstrap_installs_pipenv_beside_an_externally_managed_python, tmp_path)


def test_bootstrap_installs_pipenv_beside_an_externally_managed_python(background):
    background.result(PIPENV_INSTALL)  # re-raises its failed assertion, if any


def bootstrap_installs_pipenv_beside_an_externally_managed_python(tmp_path: Path) -> None:
    version = "%d.%d" % sys.version_info[:2]
    python = externally_managed_python(tmp_path / "system-python")
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    assert site == str(tmp_path / "system-python" / "lib" / f"python{version}" / "site-packages")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PIP_FIND_LINKS": str(pipenv_wheels()), "PIP_NO_INDEX": "1", "PYTHONUSERBASE": None,
           "VIRTUAL_ENV": None, "PIP_USER": None, "PIP_BREAK_SYSTEM_PACKAGES": None}
    # The stand-in behaves like Debian's Python: pip refuses, --user too.
    refused = run([str(python), "-m", "pip", "install", "--user", f"pipenv=={PIPENV_VERSION}"],
                  env=env, check=False)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr, refused.stderr
    before = tree_listing(tmp_path / "system-python")

    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(BOOTSTRAP, project / "scripts")
    for name in ("Pipfile", "Pipfile.lock"):
        shutil.copy2(ROOT / name, project)
    proc = bootstrap(project, "pipenv", {**env, "PYTHON": str(python)}, background_jobs.environ()["PATH"])
    assert proc.returncode == 0, proc.stderr

    pipenv_python = project / ".tools" / "pipenv-venv" / "bin" / "python"
    assert run([str(pipenv_python), "-m", "pipenv", "--version"]).stdout.split()[-1] == PIPENV_VERSION
    cfg = (project / ".tools" / "pipenv-venv" / "pyvenv.cfg").read_text()
    assert f"home = {python.parent}\n" in cfg
    assert tree_listing(tmp_path / "system-python") == before, "the bootstrap installed into the system Python"
    assert not (home / ".local").exists(), "the bootstrap wrote to ~/.local"
    # A second run finds pipenv installed and does nothing.
    again = bootstrap(project, "pipenv", {**env, "PYTHON": str(python)}, background_jobs.environ()["PATH"])
    assert again.returncode == 0 and "installing pipenv" not in again.stderr, again.stderr


def write_script(path: Path, text: str) -> None:
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)


@pytest.mark.parametrize("has_sudo", [True, False], ids=["user-with-sudo", "user-without-sudo"])
def test_missing_venv_module_is_installed_through_sudo_or_named(tmp_path, has_sudo):
    """Debian's Python without python3.X-venv, run by a non-root user: apt-get through sudo, else what to ask for."""
    version = "%d.%d" % sys.version_info[:2]
    python = externally_managed_python(tmp_path / "system-python", without=("ensurepip",))
    assert run([str(python), "-c", "import ensurepip"], check=False).returncode != 0
    path = fake_bin(tmp_path, uname=Path(shutil.which("uname")))
    sudo_log = tmp_path / "sudo.log"
    write_script(path / "id", 'echo 1000\n')
    write_script(path / "apt-get", 'echo "apt-get run without root" >&2; exit 100\n')
    if has_sudo:  # records what it was asked to run, then fails as a refused password would
        write_script(path / "sudo", f'echo "$*" >> {sudo_log}; exit 1\n')
    proc = bootstrap(ROOT, "pipenv", {"PYTHON": str(python)}, str(path))
    assert proc.returncode == 1
    assert f"could not install python{version}-venv (needs root or sudo)" in proc.stderr
    assert f"apt-get install --no-install-recommends python{version}-venv" in proc.stderr
    assert "apt-get run without root" not in proc.stderr
    assert sudo_log.read_text().startswith("apt-get update") if has_sudo else not sudo_log.exists()


def test_setup_scripts_pass_shellcheck():
    scripts = [BOOTSTRAP, ROOT / "scripts" / "cdktf-app.sh", ROOT / ".ci" / "run"]
    proc = run([shutil.which("shellcheck") or "shellcheck", "--severity=style", *map(str, scripts)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def requirements_from_lock(lock: dict) -> str:
    """Pipfile.lock (default + develop) as a hash-pinned requirements file, markers kept."""
    lines = []
    for name, pin in sorted({**lock["develop"], **lock["default"]}.items()):
        marker = f" ; {pin['markers']}" if pin.get("markers") else ""
        hashes = " ".join(f"--hash={h}" for h in pin["hashes"])
        lines.append(f"{name}{pin['version']}{marker} {hashes}")
    return "\n".join(lines) + "\n"


def locked_venv(python: Path, version: str) -> Path:
    """A venv of `python` holding everything in Pipfile.lock, from wheels only; built once per lock hash.

    A file lock serialises concurrent test sessions building the same venv.
    """
    venv = TOOLS_DIR / f"lock-venv-py{version}-{LOCK_HASH}"
    done = venv / ".installed"
    TOOLS_DIR.mkdir(exist_ok=True)
    with open(TOOLS_DIR / f"lock-venv-py{version}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if not done.is_file():
            run([str(python), "-m", "venv", "--clear", str(venv)])
            requirements = venv / "requirements.txt"
            requirements.write_text(requirements_from_lock(json.loads((ROOT / "Pipfile.lock").read_text())))
            # --only-binary: a fresh machine needs no compiler for any locked package on this Python.
            # --no-compile: byte-compiling all ~2,100 provider binding modules was 30 of the 50 CPU-s of a cold
            # install; the synth and tests run here import a few dozen of them, compiled on first import.
            run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--require-hashes",
                 "--only-binary", ":all:", "--no-compile", "-r", str(requirements)],
                env={"PIP_CACHE_DIR": str(PIP_CACHE)}, timeout=1800)
            done.touch()
    return venv / "bin" / "python"


CONFIG_TESTS = sorted({*ROOT.glob("tests/test_config*.py"), *ROOT.glob("tests/config/test_config*.py")})
OTHER_PYTHONS = ("3.12", "3.13")


def prepare_other_python_run(version: str, request):
    """A background job (tests/background.py): the locked venv of pyenv's `version` (built once per lock hash;
    on a fresh machine minutes of pip downloads and installs), then a synth of stage and the config tests in it,
    both at once. It starts with the session, so it costs the suite little beyond its CPU; None without pyenv's
    `version`."""
    python = pyenv_python(version)
    outdir = request.getfixturevalue("tmp_path_factory").mktemp(f"synth-py{version}")

    def work() -> dict | None:
        if python is None:
            return None
        venv_python = locked_venv(python, version)
        fixed = {**background_jobs.environ(), "ARAQUEM_IMAGE_TAG": TEST_IMAGE_TAG}
        for name in ("ARAQUEM_ENV", "ARAQUEM_APP_IMAGE_TAG"):
            fixed.pop(name, None)
        commands = {
            "synth": [str(venv_python), str(ROOT / "main.py"), "--env-file", str(STAGE_FILE), "synth",
                      "--outdir", str(outdir)],
            "config tests": [str(venv_python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                             *map(str, CONFIG_TESTS)],
        }
        procs = {what: background_jobs.popen(cmd, cwd=ROOT, env=fixed, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True) for what, cmd in commands.items()}
        results = {}
        for what, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=900)
            except subprocess.TimeoutExpired:
                background_jobs.kill_group(proc)
                out, err = proc.communicate()
                err += f"\n(killed after 900 s: {what} hung)"
            results[what] = (proc.returncode, out, err)
        return {"python": venv_python, "outdir": outdir, "results": results}

    return work


def other_python_job(version: str) -> str:
    return f"Python {version}: lock venv, synth, config tests"


@pytest.mark.parametrize("version", OTHER_PYTHONS)
def test_lock_installs_and_synth_and_config_tests_pass_on(version, background, stage):
    result = background.result(other_python_job(version))
    if result is None:
        pytest.skip(f"pyenv has no Python {version} in {PYENV_VERSIONS} (`pyenv install {version}`): "
                    f"the lock is not proved on {version} on this machine")
    assert python_version(result["python"]) == version
    code, out, err = result["results"]["synth"]
    assert code == 0, f"synth on Python {version}:\n{err[-3000:]}"
    produced = result["outdir"] / "stacks" / stage.dir.name / "cdk.tf.json"
    assert produced.read_bytes() == stage.path.read_bytes(), f"synth on Python {version} differs from 3.11's"
    assert CONFIG_TESTS, "no config tests found"
    code, out, err = result["results"]["config tests"]
    assert code == 0, f"config tests on Python {version}:\n{out[-4000:]}\n{err[-2000:]}"


def checkout_copy(dest: Path) -> Path:
    """The checkout's files as a user has them (no .git, .venv, .tools, outputs); docker/ stays: the image
    contracts there are the generator's input."""
    shutil.copytree(ROOT, dest, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tools", "cdktf.out", "__pycache__", ".pytest_cache", "tests", "docs"))
    return dest


def prepare_cdktf_synth(request):
    """`cdktf synth` in a copy of the checkout, as a background job (tests/background.py): cdktf-cli's Node
    start and the synth it runs are ~10 s."""
    if not CDKTF.is_file():
        pytest.fail(f"{CDKTF} missing: `bash scripts/bootstrap.sh test` installs cdktf-cli")
    terraform_env = request.getfixturevalue("terraform_env")
    project = request.getfixturevalue("tmp_path_factory").mktemp("cdktf-synth") / "checkout"
    terraform_dir = Path(shutil.which("terraform")).parent  # cdktf runs `terraform version`
    path = os.pathsep.join(map(str, [NODE_BIN, terraform_dir, "/usr/bin", "/bin"]))

    def work():
        checkout_copy(project)
        (project / ".venv").symlink_to(ROOT / ".venv")
        return path, project, run([str(CDKTF), "synth"], cwd=project, check=False, timeout=600, env={
            **terraform_env, "PATH": path, "CI": "1", "ARAQUEM_IMAGE_TAG": TEST_IMAGE_TAG,
            "ARAQUEM_ENV": None, "ARAQUEM_APP_IMAGE_TAG": None})

    return work


CDKTF_SYNTH = "cdktf synth in a checkout copy, no pipenv on PATH"


def test_cdktf_synth_needs_no_pipenv_on_path(stage, background):
    path, project, proc = background.result(CDKTF_SYNTH)
    assert shutil.which("pipenv", path=path) is None, "pipenv is on the restricted PATH: the test proves nothing"
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    produced = project / "cdktf.out" / "stacks" / stage.dir.name / "cdk.tf.json"
    assert produced.read_bytes() == stage.path.read_bytes()


def test_cdktf_app_without_the_venv_says_to_run_make_synth(tmp_path):
    project = checkout_copy(tmp_path / "checkout")
    app = json.loads((project / "cdktf.json").read_text())["app"]
    proc = subprocess.run(app, shell=True, cwd=project, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert ".venv (the project's Python environment) is missing: run `make synth` once" in proc.stderr


# Started with the session when these tests are selected (tests/background.py); each test collects its jobs.
BACKGROUND = {
    "test_bootstrap_installs_pipenv_beside_an_externally_managed_python": [(PIPENV_INSTALL, prepare_pipenv_install)],
    "test_lock_installs_and_synth_and_config_tests_pass_on": [
        (other_python_job(version), functools.partial(prepare_other_python_run, version))
        for version in OTHER_PYTHONS],
    "test_cdktf_synth_needs_no_pipenv_on_path": [(CDKTF_SYNTH, prepare_cdktf_synth)],
}
