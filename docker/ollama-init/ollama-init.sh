#!/bin/sh
# ollama-init: make the ollama server hold every model in OLLAMA_MODELS, plus SIRIOS_MODEL_NAME built
# from the Modelfile at SIRIOS_MODEFILE. Runs once per ollama task (an ECS init container).
#
# Idempotent: a model already present is not pulled again. The custom model is created under a tag
# derived from the Modelfile's sha256 and copied to <name>:latest, so a second run with the same
# Modelfile finds both and changes nothing, while an edited Modelfile is picked up on the next run.
#
# Exit codes: 0 done | 2 bad configuration | 3 ollama not reachable within OLLAMA_INIT_WAIT_MAX
#             5 a pull, create or copy still failed after OLLAMA_INIT_RETRIES attempts
set -eu

# Tunables (seconds unless noted); every default is here, once.
: "${SIRIOS_MODEL_NAME:=sirios-narrator}"
: "${OLLAMA_INIT_WAIT_MAX:=300}"        # how long to wait for the server to answer
: "${OLLAMA_INIT_WAIT_SLEEP:=5}"
: "${OLLAMA_INIT_RETRIES:=3}"           # attempts per pull/create/copy
: "${OLLAMA_INIT_RETRY_SLEEP:=10}"
: "${OLLAMA_INIT_PULL_TIMEOUT:=3600}"   # one pull of a multi-GB model over the NAT can take long

log() { printf '%s ollama-init: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
fail() { code=$1; shift; log "ERROR: $*"; exit "$code"; }

is_uint() { case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac; }

# ------------------------------------------------------------------ configuration
[ -n "${OLLAMA_HOST:-}" ] || fail 2 "OLLAMA_HOST is not set (e.g. http://localhost:11434)"
[ -n "${OLLAMA_MODELS:-}" ] || fail 2 "OLLAMA_MODELS is not set (models separated by spaces or commas)"
[ -n "${SIRIOS_MODEFILE:-}" ] || fail 2 "SIRIOS_MODEFILE is not set (path of the Modelfile)"
[ -r "$SIRIOS_MODEFILE" ] || fail 2 "SIRIOS_MODEFILE '$SIRIOS_MODEFILE' is not a readable file"
need_uint() { is_uint "$2" || fail 2 "$1 must be a whole number, got '$2'"; }
need_uint OLLAMA_INIT_WAIT_MAX "$OLLAMA_INIT_WAIT_MAX"
need_uint OLLAMA_INIT_WAIT_SLEEP "$OLLAMA_INIT_WAIT_SLEEP"
need_uint OLLAMA_INIT_RETRIES "$OLLAMA_INIT_RETRIES"
need_uint OLLAMA_INIT_RETRY_SLEEP "$OLLAMA_INIT_RETRY_SLEEP"
need_uint OLLAMA_INIT_PULL_TIMEOUT "$OLLAMA_INIT_PULL_TIMEOUT"
[ "$OLLAMA_INIT_RETRIES" -ge 1 ] || fail 2 "OLLAMA_INIT_RETRIES must be at least 1"
case $SIRIOS_MODEL_NAME in
  '' | *[!a-z0-9._-]*) fail 2 "SIRIOS_MODEL_NAME '$SIRIOS_MODEL_NAME' may hold only a-z 0-9 . _ - (no tag)" ;;
esac

# ollama itself accepts OLLAMA_HOST without a scheme (host:port); so do we.
case $OLLAMA_HOST in
  http://* | https://*) base=${OLLAMA_HOST%/} ;;
  *) base="http://${OLLAMA_HOST%/}" ;;
esac

# `llama3.1:8b` stays; `nomic-embed-text` is listed by the server as `nomic-embed-text:latest`.
with_tag() {
  case ${1##*/} in
    *:*) printf '%s' "$1" ;;
    *) printf '%s:latest' "$1" ;;
  esac
}

models=$(printf '%s' "$OLLAMA_MODELS" | tr ',' ' ')
set -f # model names are data, not globs
for model in $models; do
  case $model in
    *[!A-Za-z0-9._:/-]*) fail 2 "OLLAMA_MODELS entry '$model' is not a model name (letters, digits, . _ : / -)" ;;
  esac
done
set +f
[ -n "$(printf '%s' "$models" | tr -d ' ')" ] || fail 2 "OLLAMA_MODELS lists no model"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ------------------------------------------------------------------ ollama API helpers
# post PATH JSON TIMEOUT: POST and leave the body in $work/response; succeeds on HTTP 200.
post() {
  status=$(curl -sS -o "$work/response" -w '%{http_code}' --max-time "$3" \
    -H 'Content-Type: application/json' --data-binary "$2" "$base$1" 2>"$work/curl-error") || status=000
  [ "$status" = 200 ]
}

# lookup NAME: set $found to the digest the server lists for NAME (empty when absent).
# (A variable, not stdout: `exit` inside $(...) would only leave the subshell.)
lookup() {
  curl -fsS --max-time 30 "$base/api/tags" >"$work/tags" 2>"$work/curl-error" ||
    fail 3 "cannot list models: $(cat "$work/curl-error")"
  found=$(jq -r --arg name "$1" \
    'first(.models[]? | select(.name == $name or .model == $name) | .digest) // empty' "$work/tags")
}

# with_retries WHAT COMMAND...: run COMMAND until it succeeds, at most OLLAMA_INIT_RETRIES times.
with_retries() {
  what=$1
  shift
  attempt=1
  while :; do
    if "$@"; then return 0; fi
    reason=$(jq -r '.error // empty' "$work/response" 2>/dev/null || true)
    [ -n "$reason" ] || reason="HTTP $status $(cat "$work/curl-error" 2>/dev/null)"
    log "$what failed (attempt $attempt/$OLLAMA_INIT_RETRIES): $reason"
    [ "$attempt" -lt "$OLLAMA_INIT_RETRIES" ] || fail 5 "$what failed after $OLLAMA_INIT_RETRIES attempts"
    attempt=$((attempt + 1))
    sleep "$OLLAMA_INIT_RETRY_SLEEP"
  done
}

succeeded() { jq -e '.status == "success"' "$work/response" >/dev/null 2>&1; }
pull() { post /api/pull "$(jq -cn --arg m "$1" '{model: $m, name: $m, stream: false}')" "$OLLAMA_INIT_PULL_TIMEOUT" && succeeded; }
create() {
  post /api/create "$(jq -cn --arg m "$1" --rawfile f "$SIRIOS_MODEFILE" '{model: $m, name: $m, modelfile: $f, stream: false}')" \
    "$OLLAMA_INIT_PULL_TIMEOUT" && succeeded
}
copy() { post /api/copy "$(jq -cn --arg s "$1" --arg d "$2" '{source: $s, destination: $d}')" 60; }

# ------------------------------------------------------------------ 1. wait for the server
log "waiting up to ${OLLAMA_INIT_WAIT_MAX}s for $base"
started=$(date +%s)
until curl -fsS --max-time 5 -o /dev/null "$base/api/version" 2>/dev/null; do
  [ $(($(date +%s) - started)) -lt "$OLLAMA_INIT_WAIT_MAX" ] || fail 3 "$base did not answer within ${OLLAMA_INIT_WAIT_MAX}s"
  sleep "$OLLAMA_INIT_WAIT_SLEEP"
done

# ------------------------------------------------------------------ 2. pull what is missing
set -f
for model in $models; do
  name=$(with_tag "$model")
  lookup "$name"
  if [ -n "$found" ]; then
    log "$name is present; not pulling"
    continue
  fi
  log "pulling $name"
  with_retries "pull of $name" pull "$name"
  log "pulled $name"
done
set +f

# ------------------------------------------------------------------ 3. the custom model
version=$(sha256sum "$SIRIOS_MODEFILE" | cut -c1-12)
versioned="$SIRIOS_MODEL_NAME:$version"
latest="$SIRIOS_MODEL_NAME:latest"
lookup "$versioned"
if [ -z "$found" ]; then
  log "creating $versioned from $SIRIOS_MODEFILE"
  with_retries "create of $versioned" create "$versioned"
  lookup "$versioned"
  [ -n "$found" ] || fail 5 "ollama reported success but does not list $versioned"
fi
versioned_digest=$found
lookup "$latest"
if [ "$found" != "$versioned_digest" ]; then
  log "pointing $latest at $versioned"
  with_retries "copy of $versioned to $latest" copy "$versioned" "$latest"
else
  log "$latest is $versioned already; nothing to create"
fi
log "done: $models $latest"
