#!/usr/bin/env bash
# Installs what the lab needs, and only what is missing, so a second run takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v prometheus-postgres-exporter >/dev/null || need_apt+=(prometheus-postgres-exporter)
command -v prometheus-node-exporter >/dev/null || need_apt+=(prometheus-node-exporter)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v taskset >/dev/null || need_apt+=(util-linux)
command -v setpriv >/dev/null || need_apt+=(util-linux)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # Debian starts packaged daemons on install; the lab runs its own instances on its own ports.
    for svc in prometheus prometheus-postgres-exporter prometheus-node-exporter; do
      (systemctl stop "$svc" || service "$svc" stop || true) >/dev/null 2>&1
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
