#!/usr/bin/env bash
# The test suite: the engine test (tests/engine, marker "engine": minutes of image builds and
# containers, mostly waiting on dockerd) runs in a pytest of its own beside the rest, so that
# the whole suite's wall time is the longer of the two, not their sum. Its output is printed
# after the rest's, whole. Both must pass; Ctrl-C stops both.
#
#   scripts/test.sh [pytest arguments...]    (make test PYTEST_ARGS="...")
#
# With arguments, both runs get them; a run that selects no test (pytest's exit code 5: the
# arguments named no engine test, or only engine tests) counts as passed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

engine_log="$(mktemp "${TMPDIR:-/tmp}/asynclab-engine-test.XXXXXX")"
engine_pid=""
cleanup() {
    if [ -n "$engine_pid" ] && kill -0 "$engine_pid" 2>/dev/null; then
        # Its own process group: pytest and what it started (dockerd is stopped by the test's
        # own teardown on SIGINT/SIGTERM).
        kill -INT -- "-$engine_pid" 2>/dev/null || true
        wait "$engine_pid" 2>/dev/null || true
    fi
    rm -f "$engine_log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed() { [ "$1" -eq 0 ] || [ "$1" -eq 5 ]; }

set -m  # the engine run in a process group of its own, which cleanup() can signal whole
"$VENV/bin/pytest" -m engine -p no:cacheprovider "$@" >"$engine_log" 2>&1 &
engine_pid=$!
set +m

rest=0
"$VENV/bin/pytest" -m "not engine" "$@" || rest=$?

engine=0
wait "$engine_pid" || engine=$?
engine_pid=""
echo
echo "=== the engine test (tests/engine), run beside the rest ==="
cat "$engine_log"

passed "$rest" && passed "$engine" && exit 0
echo "make test: the suite exited $rest, the engine test $engine" >&2
exit 1
