# shellcheck shell=sh
# ops-http.sh: the loop and HTTP helpers shared by quality-cron and rag-refresh-cron (sourced, not run).
# One copy: every image builds with the context docker/, and each cron's Dockerfile copies this file to
# /usr/local/lib/, so the scripts' "$(dirname "$0")/../lib/ops-http.sh" finds it in the image
# (/usr/local/bin/..) and in the repository (docker/<name>/..) alike.
#
# Exit codes used by the callers: 2 bad configuration | 3 api not healthy in time
#                                 4 the api rejected the token (HTTP 401/403)

log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$LOG_NAME" "$*" >&2; }
fail() { code=$1; shift; log "ERROR: $*"; exit "$code"; }
need_uint() { case $2 in '' | *[!0-9]*) fail 2 "$1 must be a whole number, got '$2'" ;; esac; }
need_url() { case $2 in http://?* | https://?*) ;; *) fail 2 "$1 must be an http(s) URL, got '$2'" ;; esac; }
need_path() { case $2 in /*) ;; *) fail 2 "$1 must be a path starting with /, got '$2'" ;; esac; }
# need_each CHECK NAME=VALUE...: CHECK (need_uint, need_path) every setting, in order.
need_each() {
  check=$1
  shift
  for pair; do "$check" "${pair%%=*}" "${pair#*=}"; done
}

# ops_start RETRIES_NAME RETRIES RETRY_SLEEP HTTP_TIMEOUT: adopt the call settings (RETRIES_NAME names
# the caller's variable in the error), make the work directory $ops_dir (removed on exit) and write the
# auth headers once, to a 0600 file, so the token never appears on a command line (visible in /proc) or
# in a log line.
ops_start() {
  [ "$2" -ge 1 ] || fail 2 "$1 must be at least 1"
  RETRIES=$2 RETRY_SLEEP=$3 HTTP_TIMEOUT=$4
  ops_dir=$(mktemp -d)
  trap 'rm -rf "$ops_dir"' EXIT
  [ -n "${QUALITY_OPS_TOKEN:-}" ] || fail 2 "QUALITY_OPS_TOKEN is not set (the api's ops token, from Secrets Manager)"
  case $QUALITY_OPS_TOKEN in *[[:space:]]*) fail 2 "QUALITY_OPS_TOKEN contains whitespace" ;; esac
  case $QUALITY_AUTH_BEARER in true | false) ;; *) fail 2 "QUALITY_AUTH_BEARER must be true or false, got '$QUALITY_AUTH_BEARER'" ;; esac
  case $QUALITY_TOKEN_HEADER in *[!A-Za-z0-9-]*) fail 2 "QUALITY_TOKEN_HEADER '$QUALITY_TOKEN_HEADER' is not a header name" ;; esac
  if [ -z "$QUALITY_TOKEN_HEADER" ] && [ "$QUALITY_AUTH_BEARER" = false ]; then
    fail 2 "set QUALITY_TOKEN_HEADER or QUALITY_AUTH_BEARER=true: the token must be sent somehow"
  fi
  (
    umask 077
    {
      [ -z "$QUALITY_TOKEN_HEADER" ] || printf '%s: %s\n' "$QUALITY_TOKEN_HEADER" "$QUALITY_OPS_TOKEN"
      [ "$QUALITY_AUTH_BEARER" = false ] || printf 'Authorization: Bearer %s\n' "$QUALITY_OPS_TOKEN"
    } >"$ops_dir/auth-headers"
  )
}

# ops_call METHOD URL [JSON_FILE]: one authenticated request. Sets $status (000: no answer);
# the body is left in $ops_dir/body.
ops_call() {
  if [ -n "${3:-}" ]; then
    status=$(curl -sS -o "$ops_dir/body" -w '%{http_code}' --max-time "$HTTP_TIMEOUT" -X "$1" \
      -H "@$ops_dir/auth-headers" -H 'Content-Type: application/json' --data-binary "@$3" "$2" \
      2>"$ops_dir/curl-error") || status=000
  else
    status=$(curl -sS -o "$ops_dir/body" -w '%{http_code}' --max-time "$HTTP_TIMEOUT" -X "$1" \
      -H "@$ops_dir/auth-headers" "$2" 2>"$ops_dir/curl-error") || status=000
  fi
}

# ops_call_retry WHAT METHOD URL [JSON_FILE]: succeed on 2xx; exit 4 on 401/403 (a wrong token does
# not heal by retrying); retry no answer, 429 and 5xx up to RETRIES times; give up at once on other
# 4xx (a wrong path or payload). Returns 1 when the call failed.
ops_call_retry() {
  what=$1
  shift
  attempt=1
  while :; do
    ops_call "$@"
    case $status in
      2??) return 0 ;;
      401 | 403) fail 4 "$what: the api rejected the token (HTTP $status); check QUALITY_OPS_TOKEN" ;;
      000 | 429 | 5??) ;;
      *)
        log "$what: HTTP $status from $2; not retrying (check the path and payload)"
        return 1
        ;;
    esac
    reason="HTTP $status"
    [ "$status" != 000 ] || reason="no answer: $(cat "$ops_dir/curl-error")"
    log "$what failed (attempt $attempt/$RETRIES): $reason"
    if [ "$attempt" -ge "$RETRIES" ]; then return 1; fi
    attempt=$((attempt + 1))
    sleep "$RETRY_SLEEP"
  done
}

# ops_wait_healthy URL MAX SLEEP: wait until URL answers 2xx, at most MAX seconds, else exit 3.
ops_wait_healthy() {
  started=$(date +%s)
  until curl -fsS --max-time 5 -o /dev/null "$1" 2>/dev/null; do
    [ $(($(date +%s) - started)) -lt "$2" ] || fail 3 "$1 was not healthy within ${2}s"
    sleep "$3"
  done
}

# ops_cron_loop HEALTH_URL WAIT_MAX INTERVAL CYCLE: forever (CRON_CYCLES=0) or CRON_CYCLES times: wait for
# the api's health (exit 3 after WAIT_MAX s), run the function CYCLE, which counts its failed calls in
# $failures (reset to 0 before; $cycle is the cycle's number), then sleep INTERVAL s. A finite run exits
# with its last cycle's result: 0, or 1 when that cycle had failures. CRON_CYCLES=1 is the one-shot mode
# a scheduled task runs (one run per schedule interval; the schedule, not the loop, repeats it).
# Every failure, fatal or not, writes one line with the marker "ERROR:" (fail, or a cycle with failed
# calls): the CloudWatch metric filter of the env file's failure_alarm counts those lines.
ops_cron_loop() {
  cycle=0
  while :; do
    cycle=$((cycle + 1))
    failures=0
    ops_wait_healthy "$1" "$2" 5
    "$4"
    if [ "$CRON_CYCLES" -gt 0 ] && [ "$cycle" -ge "$CRON_CYCLES" ]; then
      [ "$failures" -eq 0 ] || fail 1 "cycle $cycle: $failures call(s) failed"
      log "cycle $cycle: done"
      exit 0
    fi
    [ "$failures" -eq 0 ] || log "ERROR: cycle $cycle: $failures call(s) failed; next cycle in ${3}s"
    sleep "$3"
  done
}
