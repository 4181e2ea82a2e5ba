#!/bin/sh
# cdktf.json's "app": `cdktf synth/diff/deploy` run main.py in the project's venv, so they need no pipenv on PATH.
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/.venv/bin/python" ]; then
  echo "cdktf app: $root/.venv (the project's Python environment) is missing: run \`make synth\` once, then retry" >&2
  exit 2
fi
exec "$root/.venv/bin/python" "$root/main.py" "$@"
