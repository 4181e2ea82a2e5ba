#!/bin/sh
# rag-refresh-cron: calls the api's RAG refresh endpoint, then its RAG metrics endpoint. On ECS it is a
# scheduled task (EventBridge Scheduler runs it once per interval, however many api tasks run) that
# reaches the api by its Cloud Map DNS name (RAG_API_URL); CRON_CYCLES=0 keeps compose's endless loop
# next to the api (localhost). Authenticates with QUALITY_OPS_TOKEN, sent like quality-cron sends it.
#
# Exit codes: 1 the last of CRON_CYCLES cycles had failed calls | 2 bad configuration
#             3 api not healthy within RAG_API_WAIT_MAX | 4 the api rejected the token (401/403)
set -eu
LOG_NAME=rag-refresh-cron

# Settings; every default is here, once. The endpoint paths are the api's ops routes.
: "${RAG_API_URL:=http://localhost:8000}"
: "${RAG_HEALTH_PATH:=/healthz}"
: "${RAG_REFRESH_PATH:=/ops/rag/refresh}"
: "${RAG_METRICS_PATH:=/ops/rag/metrics}"
: "${RAG_REFRESH_INTERVAL:=3600}"        # seconds between cycles
: "${RAG_API_WAIT_MAX:=600}"             # how long the api may take to become healthy
: "${RAG_RETRIES:=3}"                    # attempts per call
: "${RAG_RETRY_SLEEP:=5}"
: "${RAG_HTTP_TIMEOUT:=300}"             # a refresh re-embeds documents: give it time
: "${QUALITY_AUTH_BEARER:=true}"         # same token, sent the same way as quality-cron does
: "${QUALITY_TOKEN_HEADER=X-Ops-Token}"   # (set empty: bearer only)
: "${CRON_CYCLES:=1}"                    # 1: one run (the scheduled task); N: N cycles; 0: loop forever

# shellcheck source-path=SCRIPTDIR source=../lib/ops-http.sh
. "$(dirname "$0")/../lib/ops-http.sh"

need_url RAG_API_URL "$RAG_API_URL"
need_each need_path "RAG_HEALTH_PATH=$RAG_HEALTH_PATH" "RAG_REFRESH_PATH=$RAG_REFRESH_PATH" \
  "RAG_METRICS_PATH=$RAG_METRICS_PATH"
need_each need_uint "RAG_REFRESH_INTERVAL=$RAG_REFRESH_INTERVAL" "RAG_API_WAIT_MAX=$RAG_API_WAIT_MAX" \
  "RAG_RETRIES=$RAG_RETRIES" "RAG_RETRY_SLEEP=$RAG_RETRY_SLEEP" "RAG_HTTP_TIMEOUT=$RAG_HTTP_TIMEOUT" \
  "CRON_CYCLES=$CRON_CYCLES"
ops_start RAG_RETRIES "$RAG_RETRIES" "$RAG_RETRY_SLEEP" "$RAG_HTTP_TIMEOUT"
api=${RAG_API_URL%/}

log "api $api, refresh $RAG_REFRESH_PATH, metrics $RAG_METRICS_PATH, every ${RAG_REFRESH_INTERVAL}s"

# One cycle: refresh, then print the metrics.
rag_cycle() {
  if ops_call_retry "RAG refresh" POST "$api$RAG_REFRESH_PATH"; then
    log "cycle $cycle: RAG refresh accepted (HTTP $status)"
  else
    failures=$((failures + 1))
  fi
  if ops_call_retry "RAG metrics" GET "$api$RAG_METRICS_PATH"; then
    log "cycle $cycle: RAG metrics:"
    cat "$ops_dir/body"
    echo
  else
    failures=$((failures + 1))
  fi
}

ops_cron_loop "$api$RAG_HEALTH_PATH" "$RAG_API_WAIT_MAX" "$RAG_REFRESH_INTERVAL" rag_cycle
