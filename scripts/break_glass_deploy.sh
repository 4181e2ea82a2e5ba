#!/usr/bin/env bash
# Break-glass deploy from a laptop, when the deploy workflow cannot run (GitHub down, a broken workflow):
#   make break-glass-deploy ENV=stage        (= bash scripts/break_glass_deploy.sh stage)
# The same gates and order as .github/workflows/deploy.yml, in place of a bare `cdktf deploy` (which would skip
# preflight, the images and the rollout wait): synth, refuse an env file without an application release,
# preflight, build and push the missing docker/ images, plan to a file, show it, apply exactly that plan after you
# type "apply", wait for every ECS service. Needs: your AWS credentials (the deploy role's rights:
# docs/terraform-cloud.md step 6, or more), `terraform login` for a Terraform Cloud workspace (a token that may
# apply), docker, and `make test`'s installs (boto3). docs/delivery.md, "Break-glass deploy".
# Nothing here bypasses the environment's reviewers silently: tell them, and link the run in the incident.
set -euo pipefail

env_name=${1:?usage: break_glass_deploy.sh ENV_NAME}
python=${PYTHON:-.venv/bin/python}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

"$python" main.py --env "$env_name" synth
read -r stack region < <("$python" -c 'import sys; from pathlib import Path; from modules.config import load; cfg = load(Path("envs") / (sys.argv[1] + ".yaml")); print(cfg.name, cfg.region)' "$env_name")
"$python" scripts/list_images.py "$env_name" >cdktf.out/images.txt

unreleased=$("$python" -c 'from modules.config.defaults import APP_IMAGE_UNRELEASED_TAG as t; print(t)')
missing=$(awk -v t="$unreleased" '$2 == t && $3 == "" {print $1}' cdktf.out/images.txt | tr '\n' ' ')
if [[ -n $missing ]]; then
  echo "break-glass: envs/$env_name.yaml records no application release (registry.app_image_tag): $missing would run '$unreleased', which no one pushed" >&2
  exit 2
fi

"$python" main.py --env "$env_name" preflight
PYTHON=$python bash scripts/push_images.sh cdktf.out/images.txt "$region"

cd "cdktf.out/stacks/$stack"
terraform init -input=false
terraform plan -input=false -out=break-glass.tfplan
read -r -p "Apply exactly this plan to $stack in $region? Type 'apply': " answer
if [[ $answer != apply ]]; then
  echo "break-glass: not applied" >&2
  exit 1
fi
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
terraform apply -input=false break-glass.tfplan # that plan, nothing else; a stale plan is refused
cd "$root"
"$python" scripts/wait_ecs_rollout.py --cluster "$stack" --region "$region" --since "$since"
