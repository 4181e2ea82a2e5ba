#!/usr/bin/env bash
# Build and push the docker/ images that are not in ECR yet, and check that the application's are there.
#   bash scripts/push_images.sh IMAGES_TXT REGION
# IMAGES_TXT: one line per built image, "<ECR repository> <tag> <Dockerfile>" (deploy.yml's plan job writes it
# from the env file; an empty Dockerfile = built by the application repository). Used by the deploy job (step 1)
# and by the break-glass deploy (scripts/break_glass_deploy.sh), with the caller's AWS credentials: ecr
# GetAuthorizationToken, DescribeImages and the push actions (docs/terraform-cloud.md, step 6).
# Tags are content-addressed and IMMUTABLE: an image already pushed under its tag is never rebuilt.
set -euo pipefail

images=${1:?usage: push_images.sh IMAGES_TXT REGION}
region=${2:?usage: push_images.sh IMAGES_TXT REGION}
python=${PYTHON:-.venv/bin/python}

registry="$(aws sts get-caller-identity --query Account --output text).dkr.ecr.$region.amazonaws.com"
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"
missing=()
# fd 3: commands in the loop must not consume the list from stdin
while read -r repository tag dockerfile <&3; do
  image="$registry/$repository:$tag"
  if aws ecr describe-images --region "$region" --repository-name "$repository" \
       --image-ids "imageTag=$tag" >/dev/null 2>&1; then
    echo "exists: $image"
  elif [[ -n $dockerfile ]]; then
    # The tag is the hash of the build context (modules/build_context.py): this checkout plus the plan's
    # quality samples must hash to the tag the plan references, or the build is refused.
    context=$("$python" -m modules.build_context "$dockerfile")
    if [[ $context != "$tag" ]]; then
      echo "::error title=build context differs from the plan::$dockerfile hashes to $context, the plan references $tag"
      exit 1
    fi
    # One build context for every image, docker/: docker/lib/ holds what several images share.
    docker build --pull -f "$dockerfile" -t "$image" docker/
    docker push "$image"
  else
    missing+=("$image")
  fi
done 3<"$images"
if ((${#missing[@]})); then
  # Built by the application repository; deploying without them would leave tasks unable to start.
  echo "::error title=images missing::the application repository pushes these (seed §5: images before deploy); registry.app_image_tag in the env file (the app-release workflow records it) must name a tag it pushed: ${missing[*]}"
  exit 1
fi
