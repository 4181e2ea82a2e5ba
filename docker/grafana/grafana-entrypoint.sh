#!/bin/sh
# grafana-entrypoint: make the built-in admin's password the one the stack generated (Secrets Manager,
# injected as GF_SECURITY_ADMIN_PASSWORD), then start Grafana as the base image does.
#
# Grafana reads GF_SECURITY_ADMIN_PASSWORD only when it creates its database. The database lives on the
# grafana EFS volume and outlives every deploy, so one created earlier (with the image's default admin/admin)
# would keep that password forever. Resetting it at each start makes the secret the password, always.
# Fails closed: Grafana does not start with a password nobody could set.
#
# Exit codes: 1 the reset failed (nothing started); otherwise Grafana's own.
set -eu

: "${GF_PATHS_DATA:=/var/lib/grafana}"
: "${GF_PATHS_HOME:=/usr/share/grafana}"
: "${GF_PATHS_CONFIG:=/etc/grafana/grafana.ini}"
: "${GRAFANA_RUN:=/run.sh}"   # the base image's start script (grafana/grafana ENTRYPOINT)

log() { printf '%s grafana-entrypoint: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

if [ -n "${GF_SECURITY_ADMIN_PASSWORD:-}" ] && [ -f "$GF_PATHS_DATA/grafana.db" ]; then
  # stdin, not an argument: the password never shows in the process list
  if printf '%s' "$GF_SECURITY_ADMIN_PASSWORD" |
    grafana cli --homepath "$GF_PATHS_HOME" --config "$GF_PATHS_CONFIG" \
      admin reset-admin-password --password-from-stdin >/dev/null; then
    log "admin password set from GF_SECURITY_ADMIN_PASSWORD"
  else
    log "ERROR: could not set the admin password from GF_SECURITY_ADMIN_PASSWORD; not starting"
    exit 1
  fi
fi
exec "$GRAFANA_RUN" "$@"
