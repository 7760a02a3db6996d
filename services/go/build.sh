#!/usr/bin/env bash
# Builds the Go service, services/go/bin/asynclab-go, offline: Debian's Go 1.19 and the library
# sources Debian installs under /usr/share/gocode (GOPATH mode; no module proxy is needed),
# at the versions of services/go/debian-packages.lock. Does nothing when the binary is newer
# than every source file and the lock, so scripts/install.sh can call it every time.
#
#   services/go/build.sh          build if anything changed
#   services/go/build.sh --force  build anyway
#   services/go/build.sh --lock   write the installed versions into debian-packages.lock
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="$here/bin/asynclab-go"
lock="$here/debian-packages.lock"
gopath=/usr/share/gocode

force=no
case "${1:-}" in
  "") ;;
  --force) force=yes ;;
  --lock)
    tmp="$(mktemp)"
    grep '^#' "$lock" >"$tmp"
    grep -v '^#' "$lock" | cut -d= -f1 | while read -r package; do
      dpkg-query -W -f='${Package}=${Version}\n' "$package"
    done >>"$tmp"
    mv "$tmp" "$lock"
    echo "wrote $lock"
    exit 0
    ;;
  *) echo "usage: services/go/build.sh [--force | --lock]" >&2; exit 2 ;;
esac

if [ "$force" = no ] && [ -x "$binary" ] &&
  [ -z "$(find "$here" -maxdepth 1 \( -name '*.go' -o -name "$(basename "$lock")" \) -newer "$binary")" ]; then
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "go is not installed: sudo apt-get install golang-go (Go 1.19, Debian's)" >&2
  exit 1
fi
# Every locked package, installed at its locked version.
missing=() other=()
while IFS='=' read -r package version; do
  case "$package" in '' | '#'*) continue ;; esac
  installed="$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$package" 2>/dev/null || true)"
  if [ "${installed%% *}" != installed ]; then
    missing+=("$package")
  elif [ "${installed#* }" != "$version" ]; then
    other+=("$package ${installed#* } (locked: $version)")
  fi
done <"$lock"
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing Debian packages for the Go service: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
if [ ${#other[@]} -gt 0 ]; then
  echo "installed versions differ from services/go/debian-packages.lock:" >&2
  printf '  %s\n' "${other[@]}" >&2
  echo "check the service against them, then: services/go/build.sh --lock" >&2
  exit 1
fi

# Go's build cache where Go keeps it; under bin/ when there is no home to keep it in.
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
  export GOCACHE="$here/bin/.cache"
fi
mkdir -p "$here/bin"
echo "building services/go/bin/asynclab-go ($(go version | cut -d' ' -f3))"
cd "$here"
GOPATH="$gopath" GO111MODULE=off GOFLAGS= CGO_ENABLED=0 \
  go build -trimpath -o "$binary.tmp" .
mv "$binary.tmp" "$binary"
