#!/usr/bin/env bash
# Prints which lab to run, "compose" or "native", on stdout, and why on stderr:
# compose when a Docker engine answers and has the compose plugin, native otherwise.
# ASYNCLAB_MODE=native|compose forces the choice.
set -euo pipefail

docker=${DOCKER:-docker}
choose() {
  echo "asynclab: $1 mode: $2" >&2
  echo "$1"
}

case "${ASYNCLAB_MODE:-auto}" in
  native | compose) choose "$ASYNCLAB_MODE" "ASYNCLAB_MODE=$ASYNCLAB_MODE"; exit 0 ;;
  auto) ;;
  *) echo "asynclab: ASYNCLAB_MODE must be auto, native or compose, not '$ASYNCLAB_MODE'" >&2; exit 2 ;;
esac

# A stopped Docker Desktop can take long to refuse; do not let it hold up the native lab.
with_timeout() { if command -v timeout >/dev/null; then timeout 15 "$@"; else "$@"; fi; }

# Several --env-file flags (.env, then .env.local) need Compose 2.17 (scripts/compose.sh).
MIN_COMPOSE=2.17
version_at_least() { printf '%s\n%s\n' "$2" "$1" | sort --check=quiet --version-sort; }

if ! command -v "$docker" >/dev/null 2>&1; then
  choose native "no docker command on PATH"
elif ! with_timeout "$docker" info >/dev/null 2>&1; then
  choose native "docker is installed but no Docker engine answers ('docker info' failed)"
elif ! version=$("$docker" compose version --short 2>/dev/null) || [ -z "$version" ]; then
  choose native "a Docker engine answers but the compose plugin is missing ('docker compose version'
  failed): install Docker Compose v2 ($MIN_COMPOSE or newer, the docker-compose-plugin package)"
elif ! version_at_least "${version#v}" "$MIN_COMPOSE"; then
  choose native "Docker Compose ${version#v} is older than $MIN_COMPOSE, which the compose lab needs:
  upgrade the docker-compose-plugin package (https://docs.docker.com/compose/install/)"
else
  choose compose "a Docker engine answers ('docker info' succeeded), Docker Compose ${version#v}"
fi
