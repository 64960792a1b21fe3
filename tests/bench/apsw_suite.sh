#!/usr/bin/env bash
# apsw's own test suite (`python -m apsw.tests -v`: ~239 tests; apsw's wheel
# links its own SQLite into the extension module, and the tests make, free,
# re-register and stack VFSes from Python) run bare and under `vfscope run`,
# each in its own empty directory. Prints one result line per run (tests run,
# failures, errors, skips, the signal that ended it and in which test, exit
# status, wall time) and the tests that fail only under vfscope; exits 1 when
# the two lines differ (time aside), 2 on a usage or setup error.
#
# usage: tests/bench/apsw_suite.sh [--vfscope PATH] [--keep DIR]
#   --vfscope  the vfscope binary (default: target/release/vfscope, built); it
#              preloads the libvfscope.so next to it, or $VFSCOPE_LIB
#   --keep     write both logs to DIR (bare.log, vfscope.log); without it they
#              are kept in a temporary directory only when the runs differ
# VFSCOPE_APSW_VENV: the venv (default ~/.cache/vfscope/apsw-venv), made with
# python3 -m venv if missing; apsw is pip-installed into it if it cannot be
# imported, as $VFSCOPE_APSW_SPEC (default: apsw, the newest wheel; e.g.
# apsw==3.54.1.0 to pin).
# APSW_SUITE_TIMEOUT: seconds per run (default 1800).
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$self")/../.."
vfscope="" keep=""
while [ $# -gt 0 ]; do
    case "$1" in
        --vfscope) vfscope=${2:?--vfscope needs a path}; shift 2 ;;
        --keep) keep=${2:?--keep needs a directory}; shift 2 ;;
        -h|--help) sed -n "2,/^set -euo/p" "$self" | sed '$ d'; exit 0 ;;
        *) echo "apsw_suite.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$vfscope" ]; then
    cargo build --release -q -p vfscope-cli -p vfscope-preload
    vfscope=$PWD/target/release/vfscope
fi
[ -x "$vfscope" ] || { echo "apsw_suite.sh: no vfscope binary at $vfscope" >&2; exit 2; }
vfscope=$(realpath "$vfscope")
timeout=${APSW_SUITE_TIMEOUT:-1800}

venv=${VFSCOPE_APSW_VENV:-$HOME/.cache/vfscope/apsw-venv}
if [ ! -x "$venv/bin/python" ]; then
    echo "apsw_suite.sh: making a venv in $venv" >&2
    python3 -m venv "$venv" || {
        echo "apsw_suite.sh: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
        exit 2
    }
fi
python=$venv/bin/python
if ! "$python" -c 'import apsw' >/dev/null 2>&1; then
    spec=${VFSCOPE_APSW_SPEC:-apsw}
    echo "apsw_suite.sh: pip install $spec into $venv" >&2
    "$python" -m pip install -q --disable-pip-version-check "$spec"
fi
"$python" -c 'import apsw, sys; print(f"apsw {apsw.apsw_version()}, SQLite {apsw.sqlite_lib_version()}, Python {sys.version.split()[0]}, {apsw.__file__}")'
echo "vfscope: $vfscope ($("$vfscope" --version 2>/dev/null || echo '?'))"

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    logs=$(realpath "$keep")
else
    logs=$(mktemp -d "${TMPDIR:-/tmp}/apsw-suite.XXXXXX")
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/apsw-suite-work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# run NAME CMD...: runs the suite in an empty directory of its own, the log
# (unittest writes to stderr, as does vfscope's report) to $logs/NAME.log;
# sets $status and $seconds.
run() {
    local name=$1
    shift
    mkdir -p "$work/$name"
    local start end
    start=$(date +%s.%N)
    set +e
    (cd "$work/$name" && exec timeout -k 10 "$timeout" "$@" -m apsw.tests -v) >"$logs/$name.log" 2>&1
    status=$?
    set -e
    end=$(date +%s.%N)
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
}

# summary LOG STATUS: "RUN FAILURES ERRORS SKIPPED SIGNAL|TEST" from a verbose
# unittest log. With its closing lines (Ran N tests; OK or FAILED (...)) those
# are taken; without them (the process died) the tests are counted from the
# verbose lines, the last one started being the one it died in.
summary() {
    awk -v status="$2" '
        # A test starts with "name (module.Class.name)", then " ... result"
        # on that line or, after its docstring, on the next.
        /^[A-Za-z_][A-Za-z0-9_]* \([A-Za-z0-9_.]+\)/ { started++; current = $1 " " $2 }
        / \.\.\. ok$/ || /^ok$/ { done_ok++ }
        / \.\.\. ERROR$/ || /^ERROR$/ { errors++ }
        / \.\.\. FAIL$/ || /^FAIL$/ { failures++ }
        / \.\.\. skipped / || /^skipped / { skipped++ }
        /^Ran [0-9]+ tests? in / { ran = $2; closed = 1 }
        /^(OK|FAILED)( \(.*\))?$/ {
            f = 0; e = 0; s = 0
            if (match($0, /failures=[0-9]+/)) f = substr($0, RSTART + 9, RLENGTH - 9)
            if (match($0, /errors=[0-9]+/)) e = substr($0, RSTART + 7, RLENGTH - 7)
            if (match($0, /skipped=[0-9]+/)) s = substr($0, RSTART + 8, RLENGTH - 8)
            cf = f; ce = e; cs = s
        }
        END {
            sig = (status > 128 && status < 160) ? status - 128 : 0
            if (status == 124) sig = "timeout"
            where = ""
            if (sig != 0 && current != "") where = "|" current
            if (closed) print ran + 0, cf + 0, ce + 0, cs + 0, sig where
            else print (started > 0 ? started - 1 : 0), failures + 0, errors + 0, skipped + 0, sig where
        }' "$1"
}

# Tests whose verbose line ends in ERROR or FAIL, by name.
failing() {
    awk '
        /^[A-Za-z_][A-Za-z0-9_]* \([A-Za-z0-9_.]+\)/ { current = $1 " " $2 }
        / \.\.\. (ERROR|FAIL)$/ || /^(ERROR|FAIL)$/ { print current }' "$1" | sort -u
}

signame() {
    case "$1" in
        0) echo "no signal" ;;
        timeout) echo "timed out after ${timeout}s" ;;
        *) echo "signal $1 ($(kill -l "$1" 2>/dev/null | sed 's/^/SIG/' || echo '?'))" ;;
    esac
}

line() {
    local label=$1 sum=$2 status=$3 seconds=$4
    local ran f e s sigwhere sig where
    read -r ran f e s sigwhere <<<"$sum"
    sig=${sigwhere%%|*}
    where=""
    [[ $sigwhere == *"|"* ]] && where=" in ${sigwhere#*|}"
    printf '%-8s %s run, %s failures, %s errors, %s skipped, %s%s, exit %s (%s s)\n' \
        "$label:" "$ran" "$f" "$e" "$s" "$(signame "$sig")" "$where" "$status" "$seconds"
}

echo "running bare ..." >&2
run bare "$python"
bare_status=$status bare_seconds=$seconds
echo "running under vfscope run ..." >&2
run vfscope "$vfscope" run -- "$python"
vfs_status=$status vfs_seconds=$seconds

bare_sum=$(summary "$logs/bare.log" "$bare_status")
vfs_sum=$(summary "$logs/vfscope.log" "$vfs_status")
line bare "$bare_sum" "$bare_status" "$bare_seconds"
line vfscope "$vfs_sum" "$vfs_status" "$vfs_seconds"

if [ "$bare_sum" = "$vfs_sum" ] && [ "$bare_status" = "$vfs_status" ]; then
    echo "same result bare and under vfscope"
    [ -n "$keep" ] || rm -rf "$logs"
    exit 0
fi
only=$(comm -13 <(failing "$logs/bare.log") <(failing "$logs/vfscope.log"))
if [ -n "$only" ]; then
    echo "failing only under vfscope:"
    while IFS= read -r t; do echo "  $t"; done <<<"$only"
fi
echo "results differ; logs: $logs/bare.log, $logs/vfscope.log"
exit 1
