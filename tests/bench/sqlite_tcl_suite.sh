#!/usr/bin/env bash
# SQLite's own TCL test suite (Debian's source package of the SQLite the
# machine has, 3.40.1 on bookworm), built as `testfixture`, run bare and
# with libvfscope.so preloaded (which hooks testfixture's statically linked
# SQLite in place), each test file in its own process and its own empty
# directory. Prints every file whose result differs (errors, tests run,
# exit status), then one summary line; exits 1 when any file differs.
#
# usage: tests/bench/sqlite_tcl_suite.sh [--lib PATH] [--jobs N] [--timeout S] [FILE.test ...]
#   no FILE: the "veryquick" set, as test/permutations.test defines it
#   --lib      the library to preload (default: target/release/libvfscope.so, built)
#   --jobs     files run at once (default 2)
#   --timeout  seconds per file and mode (default 900)
# VFSCOPE_TCL_DIR: where the source is fetched and built
# (default ~/.cache/vfscope/sqlite-tcl); needs deb-src, dpkg-dev, tcl-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
lib="" jobs=2 timeout=900 files=()
while [ $# -gt 0 ]; do
    case "$1" in
        --lib) lib=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "sqlite_tcl_suite.sh: unknown option $1" >&2; exit 2 ;;
        *) files+=("$1"); shift ;;
    esac
done
if [ -z "$lib" ]; then
    cargo build --release -q -p vfscope-preload
    lib=$PWD/target/release/libvfscope.so
fi
[ -f "$lib" ] || { echo "sqlite_tcl_suite.sh: no library at $lib" >&2; exit 2; }
lib=$(realpath "$lib")

dir=${VFSCOPE_TCL_DIR:-$HOME/.cache/vfscope/sqlite-tcl}
fixture=$(ls -d "$dir"/sqlite3-*/bld/testfixture 2>/dev/null | head -1 || true)
if [ -z "$fixture" ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    if ! grep -rqs '^Types: deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # The same archive as the binary packages, for sources.
        $sudo_cmd sh -c 'sed "s/^Types: deb$/Types: deb-src/" /etc/apt/sources.list.d/debian.sources > /etc/apt/sources.list.d/vfscope-deb-src.sources'
    fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq dpkg-dev tcl-dev gcc make >/dev/null
    mkdir -p "$dir"
    (cd "$dir" && apt-get source -qq sqlite3 >/dev/null 2>&1)
    src=$(ls -d "$dir"/sqlite3-*/ | head -1)
    mkdir -p "$src/bld"
    (cd "$src/bld" && ../configure --quiet >/dev/null && make -j2 testfixture >/dev/null 2>&1)
    fixture=$src/bld/testfixture
fi
testdir=$(dirname "$(dirname "$fixture")")/test

out=$(mktemp -d "${TMPDIR:-/tmp}/vfscope-tcl.XXXXXX")
trap 'rm -rf "$out"' EXIT
if [ ${#files[@]} -eq 0 ]; then
    cat > "$out/list.tcl" <<'EOF'
set testdir [lindex $argv 0]
set argv0 [file join $testdir list-veryquick]
set argv {}
source [file join $testdir permutations.test]
array set o $::testspec(veryquick)
foreach f $o(-files) { puts $f }
exit 0
EOF
    mapfile -t files < <("$fixture" "$out/list.tcl" "$testdir" 2>/dev/null)
fi

# one FILE MODE: runs it, prints "errors tests status" to $out/MODE/NAME.
one() {
    local file=$1 mode=$2 name work rc=0
    name=$(basename "$file" .test)
    case "$file" in /*) ;; *) file=$testdir/$file ;; esac
    work=$(mktemp -d "$out/run.XXXXXX")
    if [ "$mode" = preload ]; then
        (cd "$work" && VFSCOPE_DIR="$work/seg" LD_PRELOAD="$lib" timeout "$timeout" "$fixture" "$file" > "$work/log" 2>&1) || rc=$?
    else
        (cd "$work" && timeout "$timeout" "$fixture" "$file" > "$work/log" 2>&1) || rc=$?
    fi
    local line
    line=$(grep -aE '^[0-9]+ errors out of [0-9]+ tests' "$work/log" | tail -1 || true)
    local errors=- tests=-
    [ -n "$line" ] && read -r errors _ _ _ tests _ <<< "$line"
    local failed
    failed=$(grep -aE '^!Failures on these tests:' "$work/log" | sed 's/^!Failures on these tests: //' | head -c 300 || true)
    mkdir -p "$out/$mode"
    printf '%s\t%s\t%s\t%s\n' "$errors" "$tests" "$rc" "$failed" > "$out/$mode/$name"
    rm -rf "$work"
}
export -f one
export out testdir fixture lib timeout

printf '%s\n' "${files[@]}" | sed 's/$/ bare/; p; s/ bare$/ preload/' \
    | xargs -P "$jobs" -L 1 bash -c 'one "$0" "$1"'

same=0 differ=0 eb=0 ep=0 tb=0 tp=0
echo "| file | bare: errors / tests / exit | preload: errors / tests / exit | failing under preload |"
echo "|---|---|---|---|"
for f in "${files[@]}"; do
    name=$(basename "$f" .test)
    IFS=$'\t' read -r e1 t1 r1 _ < "$out/bare/$name"
    IFS=$'\t' read -r e2 t2 r2 fail2 < "$out/preload/$name"
    [[ $e1 =~ ^[0-9]+$ ]] && eb=$((eb + e1)); [[ $t1 =~ ^[0-9]+$ ]] && tb=$((tb + t1))
    [[ $e2 =~ ^[0-9]+$ ]] && ep=$((ep + e2)); [[ $t2 =~ ^[0-9]+$ ]] && tp=$((tp + t2))
    if [ "$e1 $t1 $r1" = "$e2 $t2 $r2" ]; then
        same=$((same + 1))
    else
        differ=$((differ + 1))
        echo "| $name | $e1 / $t1 / $r1 | $e2 / $t2 / $r2 | ${fail2:-} |"
    fi
done
echo
echo "files: ${#files[@]} run, $same the same, $differ differing; errors bare $eb, preload $ep; tests bare $tb, preload $tp"
[ "$differ" -eq 0 ]
