#!/usr/bin/env bash
# The compose lab, for the Makefile's targets when scripts/lab_mode.sh says "compose".
#
#   scripts/compose.sh up                      build, start, wait until healthy, print the URLs
#   scripts/compose.sh down                    stop and remove the containers (data kept)
#   scripts/compose.sh clean                   down, and remove volumes and the lab's images
#   scripts/compose.sh logs [SERVICE...]       follow the logs
#   scripts/compose.sh switch flask flask-gthread   serve another variant on a framework's port
#   scripts/compose.sh urls                    print what to open
#   scripts/compose.sh bench [ARGS...]         asynclab bench against the compose lab
#
# Settings: .env (committed), then .env.local (gitignored, secrets), then your shell: the same
# precedence compose applies.
set -euo pipefail
cd "$(dirname "$0")/.."

ENV_LOCAL=${ASYNCLAB_ENV_LOCAL:-.env.local}
DOCKER=${DOCKER:-docker}
# Started after the rest, and the lab goes on without it: cAdvisor needs a Linux engine's
# /sys and /var/lib/docker, which some Docker Desktop setups do not share.
OPTIONAL=cadvisor

compose() {
  local files=(--env-file .env)
  if [ -f "$ENV_LOCAL" ]; then files+=(--env-file "$ENV_LOCAL"); fi
  "$DOCKER" compose "${files[@]}" "$@"
}

# The value compose will use for a variable: the shell's, else .env.local's, else .env's.
setting() {
  local name=$1 file value
  if [ -n "${!name:-}" ]; then
    echo "${!name}"
    return
  fi
  for file in "$ENV_LOCAL" .env; do
    [ -f "$file" ] || continue
    value=$(sed -n "s/^$name=//p" "$file" | tail -n 1)
    if [ -n "$value" ]; then
      echo "$value"
      return
    fi
  done
}

# No default credentials: the first run writes a random password where only this user reads it.
ensure_grafana_password() {
  if [ -n "$(setting GRAFANA_ADMIN_PASSWORD)" ]; then return; fi
  local password
  password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  (umask 077 && echo "GRAFANA_ADMIN_PASSWORD=$password" >>"$ENV_LOCAL")
  echo "Wrote a random Grafana admin password to $ENV_LOCAL (user: admin)."
}

# Commands that create nothing still need every ${VAR:?} set; the placeholder is never used.
without_secrets() {
  GRAFANA_ADMIN_PASSWORD=$(setting GRAFANA_ADMIN_PASSWORD)
  export GRAFANA_ADMIN_PASSWORD=${GRAFANA_ADMIN_PASSWORD:-unused-by-this-command}
}

# Every variant's profile, so that down and clean also reach variants started by `switch`.
all_profiles() {
  COMPOSE_PROFILES='' compose config --profiles | paste -sd, -
}

urls() {
  local host
  host=$(setting BIND_ADDRESS)
  cat <<EOF
The compose lab is up (profiles: $(setting COMPOSE_PROFILES)):
  Locust      http://$host:$(setting ASYNCLAB_LOCUST_PORT)   pick a scenario and a target, start
  Grafana     http://$host:$(setting ASYNCLAB_GRAFANA_PORT)   dashboards open without login; admin password in $ENV_LOCAL
  Prometheus  http://$host:$(setting ASYNCLAB_PROMETHEUS_PORT)
  Flask       http://$host:$(setting ASYNCLAB_FLASK_PORT)
  FastAPI     http://$host:$(setting ASYNCLAB_FASTAPI_PORT)
More Locust workers: docker compose up -d --scale locust-worker=2. Stop: make down.
EOF
}

switch() {
  local framework=${1:?usage: scripts/compose.sh switch flask|fastapi VARIANT}
  local variant=${2:?usage: scripts/compose.sh switch flask|fastapi VARIANT}
  case "$variant" in
    "$framework"-*) ;;
    *) echo "$variant is not a $framework variant" >&2; exit 2 ;;
  esac
  local others
  others=$(COMPOSE_PROFILES='' compose config --profiles | grep "^$framework-" | grep -vx "$variant" || true)
  # shellcheck disable=SC2086  # one service name per word
  if [ -n "$others" ]; then COMPOSE_PROFILES="$(all_profiles)" compose rm --stop --force $others; fi
  compose up --detach --wait "$variant"
}

start() {
  ensure_grafana_password
  # shellcheck disable=SC2046  # one service name per word
  compose up --detach --build --wait --remove-orphans $(compose config --services | grep -vx "$OPTIONAL")
  if ! compose up --detach "$OPTIONAL"; then
    echo "$OPTIONAL could not start on this engine; the lab runs without per-container metrics." >&2
  fi
}

main() {
  local command=${1:-}
  shift || true
  case "$command" in
    up)
      start
      urls
      ;;
    down)
      without_secrets
      COMPOSE_PROFILES="$(all_profiles)" compose down --remove-orphans
      ;;
    clean)
      without_secrets
      COMPOSE_PROFILES="$(all_profiles)" compose down --remove-orphans --volumes --rmi local
      ;;
    logs)
      without_secrets
      compose logs --follow --tail 100 "$@"
      ;;
    switch)
      ensure_grafana_password
      switch "$@"
      ;;
    urls) urls ;;
    bench)
      start
      # ASYNCLAB_LAB=compose: the bench uses this lab as it is, on the ports of .env, and
      # changes variants with `scripts/compose.sh switch` instead of starting a native lab.
      ASYNCLAB_LAB=compose "${ASYNCLAB:-.venv/bin/asynclab}" bench "$@"
      ;;
    *)
      sed -n '2,12p' "$0" >&2
      exit 2
      ;;
  esac
}

main "$@"
