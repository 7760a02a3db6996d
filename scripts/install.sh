#!/usr/bin/env bash
# Installs what the lab needs, and only what is missing, so a second run takes a second.
#
#   scripts/install.sh            the lab (native mode) and the locked virtual environment
#   scripts/install.sh --engine   also what the engine test needs (`make test` does this): a
#                                 dockerd it starts privately, and mmdebstrap for its images
# `make lab` never installs a Docker engine: compose mode uses the one you have.
set -euo pipefail
cd "$(dirname "$0")/.."

engine=no
for arg in "$@"; do
  case "$arg" in
    --engine) engine=yes ;;
    *) echo "usage: scripts/install.sh [--engine]" >&2; exit 2 ;;
  esac
done

need_apt=()
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v prometheus-postgres-exporter >/dev/null || need_apt+=(prometheus-postgres-exporter)
command -v prometheus-node-exporter >/dev/null || need_apt+=(prometheus-node-exporter)
command -v wrk >/dev/null || need_apt+=(wrk)
# flask-sync-nginx: nginx in front of gunicorn (services/proxy.py); /usr/sbin may not be on PATH.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v taskset >/dev/null || need_apt+=(util-linux)
command -v setpriv >/dev/null || need_apt+=(util-linux)
# The reference services (docs/contract.md): Node from the machine's nodejs, Go built offline
# from Debian's toolchain and library sources (no module proxy is needed).
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v go >/dev/null || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/github.com/jackc/pgx ] || need_apt+=(golang-github-jackc-pgx-v4-dev)
[ -d /usr/share/gocode/src/github.com/prometheus/client_golang ] ||
  need_apt+=(golang-github-prometheus-client-golang-dev)
[ -d /usr/share/gocode/src/golang.org/x/sync ] || need_apt+=(golang-golang-x-sync-dev)
[ -d /usr/share/gocode/src/golang.org/x/crypto ] || need_apt+=(golang-golang-x-crypto-dev)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
if [ "$engine" = yes ]; then
  command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)
  if ! command -v dockerd >/dev/null; then
    # Never beside Docker's own packages: docker.io conflicts with docker-ce, and replacing a
    # user's Docker is not this script's business.
    if dpkg-query -W -f='${Status}\n' docker-ce docker-ce-cli moby-engine containerd.io 2>/dev/null |
      grep -q "install ok installed"; then
      echo "dockerd is missing, but Docker's own packages (docker-ce, moby) are installed: not" \
        "adding Debian's docker.io beside them; the engine test says what it needs" >&2
    else
      need_apt+=(docker.io)
    fi
  fi
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    # No packaged daemon starts on install (Debian's docker.io would start the system's
    # dockerd, with its bridge and iptables rules): the lab and its tests start their own.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
      trap 'rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # Debian starts packaged daemons on install (where policy-rc.d was not ours to write); the
    # lab runs its own instances on its own ports. nginx's would listen on port 80 of every
    # interface: stopped and kept from starting again. Only what this run installed: a daemon
    # the user already had is theirs.
    for svc in prometheus prometheus-postgres-exporter prometheus-node-exporter nginx; do
      case " ${need_apt[*]} " in *" $svc "*) ;; *) continue ;; esac
      (systemctl stop "$svc" || service "$svc" stop || true) >/dev/null 2>&1
      if [ "$svc" = nginx ]; then (systemctl disable nginx || true) >/dev/null 2>&1; fi
    done
  else
    echo "missing: ${need_apt[*]}. Install them with: sudo apt-get install ${need_apt[*]}" >&2
    echo "(the lab carries on without the optional ones and tells you which it skipped)" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
if ! command -v uv >/dev/null; then
  "$PYTHON" -m pip install --quiet --disable-pip-version-check uv
fi
uv sync --frozen --quiet

# Node's packages from its lock file, again only when the lock changed since the last install.
node_dir=services/node
if [ -f "$node_dir/package-lock.json" ]; then
  stamp="$node_dir/node_modules/.asynclab-lock"
  if ! cmp -s "$node_dir/package-lock.json" "$stamp" 2>/dev/null; then
    if command -v npm >/dev/null; then
      echo "installing services/node's packages (npm ci)"
      (cd "$node_dir" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
      cp "$node_dir/package-lock.json" "$stamp"
    else
      echo "missing: npm, for the Node service. Install it with: sudo apt-get install npm" >&2
    fi
  fi
fi
# The Go service's binary; the script rebuilds only what changed, and says what is missing.
if [ -x services/go/build.sh ]; then
  services/go/build.sh || echo "the Go service is not built: see the message above" >&2
fi
