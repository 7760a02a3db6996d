#!/usr/bin/env bash
# The compose lab, for the Makefile's targets when scripts/lab_mode.sh says "compose".
#
#   scripts/compose.sh up [SERVICE...]         build, start, wait until healthy, print the URLs
#   scripts/compose.sh down                    stop and remove the containers (data kept)
#   scripts/compose.sh clean                   down, and remove volumes and the lab's images
#   scripts/compose.sh logs [SERVICE...]       follow the logs
#   scripts/compose.sh switch flask flask-gthread   serve another variant on a service's port
#   scripts/compose.sh urls                    print what to open
#   scripts/compose.sh bench [ARGS...]         asynclab bench against the compose lab
#                                              (--target LABEL=URL: a service outside the lab)
#
# Settings: .env (committed), then .env.local (gitignored, secrets), then your shell: the same
# precedence compose applies. ASYNCLAB_COMPOSE_SERVICES="postgres upstream ..." starts only
# those services (and the variants of COMPOSE_PROFILES among them) for up and bench.
# ASYNCLAB_TARGET=LABEL=URL adds a service the lab did not start to the web UI's Target list.
#
# For the bench (asynclab/bench/compose_lab.py), one generator container per measured run:
#   scripts/compose.sh generator NAME OUT_DIR [VAR=VALUE...] -- COMMAND...
#   scripts/compose.sh generator-pid NAME      its PID 1 on this machine, and its id
#   scripts/compose.sh generator-stop NAME
set -euo pipefail
cd "$(dirname "$0")/.."

ENV_LOCAL=${ASYNCLAB_ENV_LOCAL:-.env.local}
DOCKER=${DOCKER:-docker}
# Started after the rest, and the lab goes on without it: cAdvisor needs a Linux engine's
# /sys and /var/lib/docker, which some Docker Desktop setups do not share.
OPTIONAL=cadvisor
# Several --env-file flags (.env, then .env.local) need Compose 2.17.
MIN_COMPOSE=2.17

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

version_at_least() { printf '%s\n%s\n' "$2" "$1" | sort --check=quiet --version-sort; }

require_compose() {
  local version
  if ! version=$("$DOCKER" compose version --short 2>/dev/null) || [ -z "$version" ]; then
    echo "asynclab: '$DOCKER compose' does not answer: install Docker Compose v2 ($MIN_COMPOSE or" \
      "newer), e.g. the docker-compose-plugin package: https://docs.docker.com/compose/install/" >&2
    exit 2
  fi
  version=${version#v}
  if ! version_at_least "$version" "$MIN_COMPOSE"; then
    echo "asynclab: Docker Compose $version is too old: the lab needs $MIN_COMPOSE or newer" \
      "(it passes .env and .env.local as two --env-file flags). Upgrade the" \
      "docker-compose-plugin package (or Docker Desktop): https://docs.docker.com/compose/install/" >&2
    exit 2
  fi
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

# The lab's services, as asynclab/registry.py lists them: name, label, the setting of the port
# published on this machine. tests/test_registry_files.py keeps the two lists equal.
lab_services() {
  cat <<'EOF'
flask Flask ASYNCLAB_FLASK_PORT
fastapi FastAPI ASYNCLAB_FASTAPI_PORT
node Node ASYNCLAB_NODE_PORT
go Go ASYNCLAB_GO_PORT
EOF
}

service_names() { lab_services | cut -d' ' -f1; }

# What compose cannot compute for the reference services (their images have no Python to run
# `asynclab serve`), one "VARIABLE value how" a line: the value asynclab/variants.py gives for
# the settings in force. node-cluster shares each pool among its workers, at least one
# connection each; go-multi runs Go code on the whole CPUs of SERVICE_CPUS (rounded up).
# tests/compose/test_scripts.py holds these to asynclab/variants.py.
derived_values() {
  local workers db http cpus
  workers=$(setting ASYNCLAB_WORKERS)
  db=$(setting ASYNCLAB_DB_POOL_SIZE)
  http=$(setting ASYNCLAB_HTTP_POOL_SIZE)
  cpus=$(setting SERVICE_CPUS)
  echo "NODE_CLUSTER_DB_POOL_SIZE $(share "$db" "$workers") ASYNCLAB_DB_POOL_SIZE=$db shared by ASYNCLAB_WORKERS=$workers"
  echo "NODE_CLUSTER_HTTP_POOL_SIZE $(share "$http" "$workers") ASYNCLAB_HTTP_POOL_SIZE=$http shared by ASYNCLAB_WORKERS=$workers"
  echo "GO_MULTI_GOMAXPROCS $(whole_cpus "$cpus") SERVICE_CPUS=$cpus rounded up"
}

# A budget shared among processes, at least 1 each; "?" unless both are whole numbers.
share() {
  if [[ $1 =~ ^[0-9]+$ && $2 =~ ^[1-9][0-9]*$ ]]; then echo $(($1 / $2 > 1 ? $1 / $2 : 1)); else echo "?"; fi
}

whole_cpus() {
  if [[ $1 =~ ^[0-9]*\.?[0-9]+$ ]]; then
    awk -v cpus="$1" 'BEGIN { n = int(cpus); if (n < cpus) n++; print (n < 1 ? 1 : n) }'
  else
    echo "?"
  fi
}

# Refuse to start a reference service on another budget than the Python services get: a shell or
# .env.local that changes ASYNCLAB_DB_POOL_SIZE, ASYNCLAB_HTTP_POOL_SIZE, ASYNCLAB_WORKERS or
# SERVICE_CPUS must change what .env derives from them too.
check_derived() {
  local name wanted how found wrong=no
  while read -r name wanted how; do
    found=$(setting "$name")
    if [ "$wanted" = "?" ]; then
      echo "asynclab: cannot compute $name from $how: not a number" >&2
      wrong=yes
    elif [ "$found" != "$wanted" ]; then
      echo "asynclab: $name=$found, but $how gives $wanted: compose cannot compute it, so set" \
        "$name=$wanted beside them (in your shell or $ENV_LOCAL; see .env)" >&2
      wrong=yes
    fi
  done < <(derived_values)
  if [ "$wrong" = yes ]; then exit 2; fi
}

# The web UI's external target (ASYNCLAB_TARGET=LABEL=URL) must answer HTTP where Locust runs:
# inside the lab's network, where 127.0.0.1 is the container itself and this machine is
# host.docker.internal. Checked from a Locust container before anything starts
# (asynclab/target_check.py says why not).
check_target() {
  local target
  target=$(setting ASYNCLAB_TARGET)
  if [ -z "$target" ]; then return; fi
  compose build locust-master
  if ! compose run --rm --no-deps -T locust-master python -m asynclab.target_check "$target" >/dev/null; then
    echo "asynclab: ASYNCLAB_TARGET=$target: the lab's Locust cannot load it (why: above). From the" \
      "containers, this machine is host.docker.internal, and a service there must listen beyond" \
      "127.0.0.1 (README, Docker Compose)." >&2
    exit 2
  fi
}

# Every variant's profile, so that down and clean also reach variants started by `switch`.
all_profiles() {
  COMPOSE_PROFILES='' compose config --profiles | paste -sd, -
}

# The services of a service's variants, one per line (flask-sync, flask-gthread, ...).
variants_of() {
  COMPOSE_PROFILES='' compose config --profiles | grep "^$1-" || true
}

# Stop and remove these variants' containers. Compose 2.23 and newer no longer count a service
# of an inactive profile as an orphan (docker/compose#11486), so nothing else removes them, and
# the next variant on that port would fail with "port is already allocated".
remove_variants() {
  if [ $# -gt 0 ]; then COMPOSE_PROFILES="$(all_profiles)" compose rm --stop --force "$@"; fi
}

switch() {
  local usage
  usage="usage: scripts/compose.sh switch $(service_names | paste -sd'|' -) VARIANT"
  local framework=${1:?$usage}
  local variant=${2:?$usage}
  case "$variant" in
    "$framework"-*) ;;
    *) echo "$variant is not a $framework variant" >&2; exit 2 ;;
  esac
  if ! variants_of "$framework" | grep -qx "$variant"; then
    echo "unknown $framework variant '$variant'; choose one of: $(variants_of "$framework" | paste -sd' ' -)" >&2
    exit 2
  fi
  # shellcheck disable=SC2046  # one service name per word
  remove_variants $(variants_of "$framework" | grep -vx "$variant")
  compose up --detach --wait "$variant"
}

# What `up` and `bench` start: ASYNCLAB_COMPOSE_SERVICES, else every service but the optional.
services() {
  if [ -n "${ASYNCLAB_COMPOSE_SERVICES:-}" ]; then
    echo "${ASYNCLAB_COMPOSE_SERVICES//,/ }"
  else
    compose config --services | grep -vx "$OPTIONAL" | paste -sd' ' -
  fi
}

start() {
  ensure_grafana_password
  check_derived
  require_compose
  check_target
  local wanted inactive
  wanted=${*:-$(services)}
  # The variants whose profile is not active: a `switch` or a bench may have left one on a
  # service's port.
  inactive=$(for name in $(service_names); do variants_of "$name"; done |
    grep -vxF -f <(setting COMPOSE_PROFILES | tr ',' '\n' | sed 's/^ *//; s/ *$//') || true)
  # shellcheck disable=SC2086  # one service name per word
  remove_variants $inactive
  # shellcheck disable=SC2086
  compose up --detach --build --wait --remove-orphans $wanted
  if [ $# -eq 0 ] && [ -z "${ASYNCLAB_COMPOSE_SERVICES:-}" ]; then
    if ! compose up --detach "$OPTIONAL"; then
      echo "$OPTIONAL could not start on this engine; the lab runs without per-container metrics." >&2
    fi
  fi
  STARTED=$wanted
}

# What to open; with service names, only the lines of those services.
urls() {
  local host service label port note wanted
  host=$(setting BIND_ADDRESS)
  echo "The compose lab is up (profiles: $(setting COMPOSE_PROFILES)):"
  # A service's line matches each of its variants: flask-* is any Flask variant.
  while read -r service label port note; do
    if [ $# -gt 0 ]; then
      wanted=no
      for name in "$@"; do
        # shellcheck disable=SC2053  # $service is a pattern: flask-* is any Flask variant
        if [[ $name == $service ]]; then wanted=yes; fi
      done
      [ "$wanted" = yes ] || continue
    fi
    printf '  %-11s http://%s:%s%s\n' "$label" "$host" "$(setting "$port")" "${note:+   $note}"
  done <<EOF
locust-master Locust ASYNCLAB_LOCUST_PORT pick a scenario and a target, start
grafana Grafana ASYNCLAB_GRAFANA_PORT dashboards open without login; admin password in $ENV_LOCAL
prometheus Prometheus ASYNCLAB_PROMETHEUS_PORT
$(lab_services | sed 's/ /-* /')
EOF
  echo "More Locust workers: LOCUST_WORKERS=2 make lab. Stop: make down."
}

main() {
  local command=${1:-}
  shift || true
  case "$command" in
    up)
      start "$@"
      # shellcheck disable=SC2086  # one service name per word
      urls $STARTED
      ;;
    down)
      without_secrets
      require_compose
      COMPOSE_PROFILES="$(all_profiles)" compose down --remove-orphans
      ;;
    clean)
      without_secrets
      require_compose
      COMPOSE_PROFILES="$(all_profiles)" compose down --remove-orphans --volumes --rmi local
      ;;
    logs)
      without_secrets
      compose logs --follow --tail 100 "$@"
      ;;
    switch)
      ensure_grafana_password
      check_derived
      require_compose
      switch "$@"
      ;;
    urls) urls ;;
    bench)
      start
      compose build locust-bench
      # ASYNCLAB_LAB=compose: the bench uses this lab as it is, on the ports of .env, changes
      # variants with `scripts/compose.sh switch`, and runs its Locust in a locust-bench
      # container per run (`generator` below) instead of starting anything itself.
      ASYNCLAB_LAB=compose "${ASYNCLAB:-.venv/bin/asynclab}" bench "$@"
      ;;
    generator)
      local name=${1:?usage: scripts/compose.sh generator NAME OUT_DIR [VAR=VALUE...] -- COMMAND...}
      local out=${2:?usage: scripts/compose.sh generator NAME OUT_DIR [VAR=VALUE...] -- COMMAND...}
      shift 2
      local env=()
      while [ $# -gt 0 ] && [ "$1" != -- ]; do env+=(--env "$1"); shift; done
      shift || true
      without_secrets
      # --use-aliases: Prometheus finds it as locust-bench; --user: its files are yours.
      compose run --rm --no-deps --use-aliases -T --name "$name" --user "$(id -u):$(id -g)" \
        --volume "$out:/out" "${env[@]}" locust-bench "$@"
      ;;
    generator-pid)
      "$DOCKER" inspect --format '{{.State.Pid}} {{.Id}}' "${1:?usage: generator-pid NAME}"
      ;;
    generator-stop)
      "$DOCKER" rm --force "${1:?usage: generator-stop NAME}" >/dev/null 2>&1 || true
      ;;
    *)
      sed -n '2,21p' "$0" >&2
      exit 2
      ;;
  esac
}

main "$@"
