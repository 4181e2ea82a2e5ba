#!/bin/sh
# quality-cron: the quality collection run. On ECS it is a scheduled task (EventBridge Scheduler runs it
# once per interval, however many api tasks run) that reaches the api by its Cloud Map DNS name
# (QUALITY_API_URL); CRON_CYCLES=0 keeps compose's endless loop next to the api (localhost).
# Each cycle: wait for the api's health, POST every sample matching QUALITY_SAMPLES_GLOB to the
# push endpoint (QUALITY_PUSH_SLEEP apart), then poll the report endpoint until the report is
# ready (HTTP 200; 202/204/404 mean "not yet") for at most QUALITY_REPORT_WAIT_MAX seconds, and print it.
#
# Exit codes: 1 the last of CRON_CYCLES cycles had failed calls | 2 bad configuration
#             3 api not healthy within QUALITY_API_WAIT_MAX | 4 the api rejected the token (401/403)
set -eu
LOG_NAME=quality-cron

# Settings; every default is here, once. The endpoint paths are the api's ops routes.
: "${QUALITY_API_URL:=http://localhost:8000}"
: "${QUALITY_HEALTH_PATH:=/healthz}"
: "${QUALITY_PUSH_PATH:=/ops/quality/push}"
: "${QUALITY_REPORT_PATH:=/ops/quality/report}"
: "${QUALITY_SAMPLES_GLOB:=/opt/quality/samples/*.json}"
: "${QUALITY_PUSH_SLEEP:=2}"            # seconds between two pushed samples
: "${QUALITY_AUTH_BEARER:=true}"        # also send Authorization: Bearer <token>
: "${QUALITY_TOKEN_HEADER=X-Ops-Token}"  # header carrying the token (set empty: bearer only)
: "${QUALITY_REPORT_WAIT_MAX:=120}"
: "${QUALITY_REPORT_WAIT_SLEEP:=5}"
: "${QUALITY_CRON_INTERVAL:=3600}"      # seconds between cycles
: "${QUALITY_API_WAIT_MAX:=600}"        # how long the api may take to become healthy
: "${QUALITY_RETRIES:=3}"               # attempts per call
: "${QUALITY_RETRY_SLEEP:=5}"
: "${QUALITY_HTTP_TIMEOUT:=30}"
: "${CRON_CYCLES:=1}"                   # 1: one run (the scheduled task); N: N cycles; 0: loop forever

# shellcheck source-path=SCRIPTDIR source=../lib/ops-http.sh
. "$(dirname "$0")/../lib/ops-http.sh"

need_url QUALITY_API_URL "$QUALITY_API_URL"
need_each need_path "QUALITY_HEALTH_PATH=$QUALITY_HEALTH_PATH" "QUALITY_PUSH_PATH=$QUALITY_PUSH_PATH" \
  "QUALITY_REPORT_PATH=$QUALITY_REPORT_PATH"
need_each need_uint "QUALITY_PUSH_SLEEP=$QUALITY_PUSH_SLEEP" "QUALITY_REPORT_WAIT_MAX=$QUALITY_REPORT_WAIT_MAX" \
  "QUALITY_REPORT_WAIT_SLEEP=$QUALITY_REPORT_WAIT_SLEEP" "QUALITY_CRON_INTERVAL=$QUALITY_CRON_INTERVAL" \
  "QUALITY_API_WAIT_MAX=$QUALITY_API_WAIT_MAX" "QUALITY_RETRIES=$QUALITY_RETRIES" \
  "QUALITY_RETRY_SLEEP=$QUALITY_RETRY_SLEEP" "QUALITY_HTTP_TIMEOUT=$QUALITY_HTTP_TIMEOUT" \
  "CRON_CYCLES=$CRON_CYCLES"
ops_start QUALITY_RETRIES "$QUALITY_RETRIES" "$QUALITY_RETRY_SLEEP" "$QUALITY_HTTP_TIMEOUT"
api=${QUALITY_API_URL%/}

# The samples are part of the image: no match is a broken image, not a quiet no-op.
samples_exist() {
  for sample in $QUALITY_SAMPLES_GLOB; do
    [ -f "$sample" ] && return 0
  done
  return 1
}
samples_exist || fail 2 "no file matches QUALITY_SAMPLES_GLOB '$QUALITY_SAMPLES_GLOB' (bake the samples into the image)"

log "api $api, push $QUALITY_PUSH_PATH, report $QUALITY_REPORT_PATH, samples $QUALITY_SAMPLES_GLOB, every ${QUALITY_CRON_INTERVAL}s"

# One cycle: push every sample, then wait for the report and print it.
quality_cycle() {
  pushed=0
  for sample in $QUALITY_SAMPLES_GLOB; do
    [ -f "$sample" ] || continue
    [ "$pushed" -eq 0 ] || sleep "$QUALITY_PUSH_SLEEP"
    if ops_call_retry "push of $(basename "$sample")" POST "$api$QUALITY_PUSH_PATH" "$sample"; then
      pushed=$((pushed + 1))
    else
      failures=$((failures + 1))
    fi
  done
  log "cycle $cycle: pushed $pushed sample(s), $failures failed"

  started=$(date +%s)
  while :; do
    ops_call GET "$api$QUALITY_REPORT_PATH"
    case $status in
      200)
        log "cycle $cycle: quality report:"
        cat "$ops_dir/body"
        echo
        break
        ;;
      401 | 403) fail 4 "report: the api rejected the token (HTTP $status); check QUALITY_OPS_TOKEN" ;;
      000 | 202 | 204 | 404 | 429 | 5??) ;;
      *)
        log "cycle $cycle: report answered HTTP $status; giving up on this cycle's report"
        failures=$((failures + 1))
        break
        ;;
    esac
    if [ $(($(date +%s) - started)) -ge "$QUALITY_REPORT_WAIT_MAX" ]; then
      log "cycle $cycle: no report within ${QUALITY_REPORT_WAIT_MAX}s (last HTTP $status)"
      failures=$((failures + 1))
      break
    fi
    sleep "$QUALITY_REPORT_WAIT_SLEEP"
  done
}

ops_cron_loop "$api$QUALITY_HEALTH_PATH" "$QUALITY_API_WAIT_MAX" "$QUALITY_CRON_INTERVAL" quality_cycle
