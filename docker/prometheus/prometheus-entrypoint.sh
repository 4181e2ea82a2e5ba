#!/bin/sh
# prometheus-entrypoint: writes this environment's scrape config, then runs Prometheus with it.
# The baked prometheus.yml scrapes the api per task through the api's Cloud Map DNS name
# `api.<namespace>` (dns_sd_configs, A records: one target per task); the namespace differs per
# environment (discovery_dns_namespace), so the config carries the placeholder @SCRAPE_DNS_NAMESPACE@
# and the env file gives the value. Prometheus itself does not expand environment variables.
#
# Exit codes: 2 bad configuration; else Prometheus's own.
set -eu

: "${PROMETHEUS_CONFIG_TEMPLATE:=/etc/prometheus/prometheus.yml}"
: "${PROMETHEUS_CONFIG:=/tmp/prometheus.yml}"  # /tmp: writable with a read-only root filesystem
: "${PROMETHEUS_BIN:=/bin/prometheus}"

fail() { echo "prometheus-entrypoint: ERROR: $*" >&2; exit 2; }

[ -n "${SCRAPE_DNS_NAMESPACE:-}" ] || fail "SCRAPE_DNS_NAMESPACE is not set (the Cloud Map DNS namespace, e.g. araquem-stage.internal)"
case $SCRAPE_DNS_NAMESPACE in
  *[!a-z0-9.-]* | .* | *.) fail "SCRAPE_DNS_NAMESPACE '$SCRAPE_DNS_NAMESPACE' is not a lower-case DNS name" ;;
esac
[ -r "$PROMETHEUS_CONFIG_TEMPLATE" ] || fail "$PROMETHEUS_CONFIG_TEMPLATE is not a readable file"

sed "s/@SCRAPE_DNS_NAMESPACE@/$SCRAPE_DNS_NAMESPACE/g" "$PROMETHEUS_CONFIG_TEMPLATE" >"$PROMETHEUS_CONFIG"
exec "$PROMETHEUS_BIN" "--config.file=$PROMETHEUS_CONFIG" "$@"
