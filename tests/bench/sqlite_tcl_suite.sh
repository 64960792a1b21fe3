#!/usr/bin/env bash
# SQLite's own TCL test suite (Debian's source package of the SQLite the
# machine has, 3.40.1 on bookworm), built as `testfixture`, run bare and
# with libvfscope.so preloaded (which hooks testfixture's statically linked
# SQLite in place), each test file in its own process and its own empty
# directory. Prints every file whose result differs (errors, tests run,
# failing tests, exit status or signal) with the first test that fails only
# preloaded (expected / got), or where the file aborted or crashed, then one
# summary line; exits 1 when any file differs.
#
# usage: tests/bench/sqlite_tcl_suite.sh [--lib PATH] [--jobs N] [--timeout S] [--keep DIR] [FILE.test ...]
#   no FILE: the "veryquick" set, as test/permutations.test defines it
#            ($::testspec(veryquick) -files, read by sourcing permutations.test
#            in testfixture, as test/testrunner.tcl does: 1110 files in 3.40.1)
#   FILE     a name under test/ (wal2.test, or wal2), a path relative to test/
#            (../ext/rtree/rtree1.test), or an absolute path
#   --lib      the library to preload (default: target/release/libvfscope.so, built)
#   --jobs     testfixture processes at once (default 2)
#   --timeout  seconds per file and mode (default 900)
#   --keep     copy both logs of each differing file to DIR (NAME.bare.log, NAME.preload.log)
# VFSCOPE_TCL_DIR: where the source is fetched and built, as
# DIR/sqlite3-*/bld/testfixture (default ~/.cache/vfscope/sqlite-tcl);
# building needs deb-src in apt's sources (added if missing), dpkg-dev, tcl-dev,
# gcc, make (installed if missing). testfixture is left unstripped: the
# library finds its static SQLite through the symbol table.
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$self")/../.."
lib="" jobs=2 timeout=900 keep="" files=()
while [ $# -gt 0 ]; do
    case "$1" in
        --lib) lib=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        -h|--help) sed -n "2,/^set -euo/p" "$self" | sed "$ d"; exit 0 ;;
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
    echo "sqlite_tcl_suite.sh: building testfixture in $dir (a few minutes)" >&2
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        # The same archive as the binary packages, for sources.
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            $sudo_cmd sh -c 'sed "s/^Types: deb$/Types: deb-src/" /etc/apt/sources.list.d/debian.sources > /etc/apt/sources.list.d/vfscope-deb-src.sources'
        else
            $sudo_cmd sh -c 'sed -n "s/^deb /deb-src /p" /etc/apt/sources.list > /etc/apt/sources.list.d/vfscope-deb-src.list'
        fi
    fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq dpkg-dev tcl-dev gcc make >/dev/null
    mkdir -p "$dir"
    src=$(ls -d "$dir"/sqlite3-*/ 2>/dev/null | head -1 || true)
    if [ -z "$src" ]; then
        # apt-get source unpacks and applies Debian's patches (dpkg-source -x).
        (cd "$dir" && apt-get source -qq sqlite3 > "$dir/source.log" 2>&1) \
            || { tail -20 "$dir/source.log" >&2; exit 2; }
        src=$(ls -d "$dir"/sqlite3-*/ | head -1)
    fi
    mkdir -p "$src/bld"
    (cd "$src/bld" && ../configure --quiet > "$dir/build.log" 2>&1 && make -j2 testfixture >> "$dir/build.log" 2>&1) \
        || { tail -20 "$dir/build.log" >&2; exit 2; }
    fixture=$src/bld/testfixture
fi
testdir=$(cd "$(dirname "$fixture")/../test" && pwd)

out=$(mktemp -d "${TMPDIR:-/tmp}/vfscope-tcl.XXXXXX")
trap 'rm -rf "$out"' EXIT
if [ ${#files[@]} -eq 0 ]; then
    cat > "$out/list.tcl" <<'EOF'
set testdir [lindex $argv 0]
set argv0 [file join $testdir list-veryquick]
set argv {}
source [file join $testdir permutations.test]
array set o $::testspec(veryquick)
foreach f [lsort $o(-files)] { puts $f }
exit 0
EOF
    # In a directory of its own: sourcing tester.tcl makes ./testdir.
    mkdir "$out/list"
    (cd "$out/list" && "$fixture" "$out/list.tcl" "$testdir") > "$out/list.txt" 2> "$out/list.err" \
        || { cat "$out/list.err" >&2; exit 2; }
    mapfile -t files < "$out/list.txt"
    [ ${#files[@]} -gt 0 ] || { echo "sqlite_tcl_suite.sh: empty veryquick list" >&2; exit 2; }
fi
mkdir -p "$out/bare" "$out/preload"

# one FILE MODE: runs FILE, leaves its output in $out/MODE/NAME.log and
# "errors|tests|status|failing tests|seconds" in $out/MODE/NAME.
# errors and tests are those of the summary line, - when there is none
# (the file aborted or crashed).
one() {
    local file=$1 mode=$2 name work rc=0 t0 line errors=- tests=- failed status
    name=$(basename "$file" .test)
    case "$file" in /*) ;; *) file=$testdir/$file ;; esac
    case "$file" in *.test) ;; *) file=$file.test ;; esac
    work=$(mktemp -d "$out/run.XXXXXX")
    mkdir "$work/cwd"
    mkdir -m 700 "$work/seg"  # vfscope wants it private
    local log=$out/$mode/$name.log
    t0=$(date +%s)
    # (braces: bash's own "Segmentation fault" notice goes to /dev/null)
    { if [ "$mode" = preload ]; then
        (cd "$work/cwd" && ulimit -c 0 && exec timeout -k 30 "$timeout" \
            env VFSCOPE_DIR="$work/seg" LD_PRELOAD="$lib" "$fixture" "$file") > "$log" 2>&1 < /dev/null || rc=$?
    else
        (cd "$work/cwd" && ulimit -c 0 && exec timeout -k 30 "$timeout" \
            "$fixture" "$file") > "$log" 2>&1 < /dev/null || rc=$?
    fi; } 2> /dev/null
    rm -rf "$work"
    line=$(grep -aE '^[0-9]+ errors out of [0-9]+ tests' "$log" | tail -1 || true)
    [ -n "$line" ] && read -r errors _ _ _ tests _ <<< "$line"
    # The summary's list, or (no summary) each test that failed before the end.
    failed=$(sed -n 's/^!Failures on these tests: //p' "$log" | tail -1)
    if [ -z "$line" ]; then
        # "! NAME expected: ..." or "NAME..." then "Error: ..."
        failed=$(awk '
            /^! [^ ]+ expected: / { n = $2 }
            p != "" && /^Error: / { n = p }
            # (a test line may carry stderr after its "...", and a blank line)
            /^[^ !]+\.\.\./ { p = / Ok$/ ? "" : substr($0, 1, index($0, "...") - 1); next }
            !/^$/ { p = "" }
            n != "" && !(n in seen) { seen[n] = 1; printf "%s%s", sep, n; sep = " " }
            { n = "" }' "$log")
    fi
    case $rc in
        0) status=ok ;;
        124|137) status=timeout ;;
        1) if [ -n "$line" ]; then status=fail; else status=abort; fi ;;
        *) if [ "$rc" -gt 128 ]; then status=SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)));
           else status="exit $rc"; fi ;;
    esac
    printf '%s|%s|%s|%s|%s\n' "$errors" "$tests" "$status" "$failed" "$(( $(date +%s) - t0 ))" > "$out/$mode/$name"
}

# first_difference NAME: the first test failing preloaded and not bare, with
# what it expected and got (or its error); and, when the preloaded run
# crashed, aborted or timed out, where: the last test it started, the next
# one bare ran, and the error it stopped on.
first_difference() {
    local name=$1 log=$out/preload/$1.log f1 f2 t status last next
    IFS='|' read -r _ _ _ f1 _ < "$out/bare/$name"
    IFS='|' read -r _ _ status f2 _ < "$out/preload/$name"
    local first="" list
    read -ra list <<< "$f2"
    for t in "${list[@]}"; do
        case " $f1 " in *" $t "*) continue ;; esac
        first=$t
        awk -v t="$t" '
            function cut(s) { return length(s) > 240 ? substr(s, 1, 240) "..." : s }
            index($0, "! " t " expected: ") == 1 { print "  " cut($0); found = 1; next }
            index($0, "! " t " got: ") == 1 { print "  " cut($0); exit }
            index($0, t "...") == 1 { err = 1; next }
            err && /^Error: / { print "  ! " t " " cut($0); exit }
            END { if (!found && !err) print "  ! " t " failed" }' "$log"
        break
    done
    case $status in
        ok|fail)
            [ -z "$first" ] && [ -n "$f1" ] && echo "  passes preloaded what fails bare: $f1"
            # Same failures, other test count: tests skipped (or added).
            local t1 t2
            IFS='|' read -r _ t1 _ _ _ < "$out/bare/$name"
            IFS='|' read -r _ t2 _ _ _ < "$out/preload/$name"
            [ "$t1" != "$t2" ] && echo "  ran $t2 tests preloaded, $t1 bare"
            ;;
        *)
            # The last test started: "NAME... Ok" when it had passed.
            last=$(grep -aE '^[^ !]+\.\.\.' "$log" | tail -1 || true)
            case $last in
                "") where="before the first test" ;;
                *"... Ok"*) last=${last%%...*}
                    next=$(grep -aoE '^[^ !]+\.\.\.' "$out/bare/$name.log" | sed 's/\.\.\.$//' \
                        | awk -v l="$last" 'f { print; exit } $0 == l { f = 1 }')
                    if [ -n "$next" ]; then where="after $last (bare goes on with $next)";
                    else where="after $last (the last test bare too)"; fi ;;
                *) where="in ${last%%...*}" ;;
            esac
            # What it stopped on: the error after the last test line.
            local msg cmd
            msg=$(awk -v fx="$fixture: " '
                /^[^ !]+\.\.\./ { m = ""; c = ""; next }
                index($0, fx) == 1 && m == "" { m = substr($0, length(fx) + 1); next }
                /^Error: / && m == "" { m = $0; next }
                w { c = $0; w = 0; next }
                /^    while executing$/ && c == "" { w = 1 }
                END { if (m != "") print substr(m, 1, 200) (c != "" ? "; while executing " substr(c, 1, 120) : "") }' "$log")
            echo "  $status $where${msg:+: $msg}"
            ;;
    esac
    # What vfscope itself said, if anything.
    grep -aoE 'vfscope: .*' "$log" | head -1 | cut -c1-240 | sed 's/^/  said: /'
    return 0
}
export -f one
export out testdir fixture lib timeout

start=$(date +%s)
printf '%s\n' "${files[@]}" | sed 's/$/ bare/; p; s/ bare$/ preload/' \
    | xargs -P "$jobs" -L 1 bash -c 'one "$0" "$1"' || true

same=0 differ=0 eb=0 ep=0 tb=0 tp=0 said=0 details="" spoken=""
echo "| file | bare: errors / tests / status | preload: errors / tests / status | failing only preloaded |"
echo "|---|---|---|---|"
for f in "${files[@]}"; do
    name=$(basename "$f" .test)
    for m in bare preload; do
        [ -f "$out/$m/$name" ] || printf -- '-|-|not run||0\n' > "$out/$m/$name"
    done
    IFS='|' read -r e1 t1 s1 f1 _ < "$out/bare/$name"
    IFS='|' read -r e2 t2 s2 f2 _ < "$out/preload/$name"
    [[ $e1 =~ ^[0-9]+$ ]] && eb=$((eb + e1)); [[ $t1 =~ ^[0-9]+$ ]] && tb=$((tb + t1))
    [[ $e2 =~ ^[0-9]+$ ]] && ep=$((ep + e2)); [[ $t2 =~ ^[0-9]+$ ]] && tp=$((tp + t2))
    if line=$(grep -am1 'vfscope: ' "$out/preload/$name.log"); then
        said=$((said + 1))
        spoken+="  $name: $line"$'\n'
    fi
    if [ "$e1|$t1|$s1|$f1" = "$e2|$t2|$s2|$f2" ]; then
        same=$((same + 1))
    else
        differ=$((differ + 1))
        only=""
        read -ra list <<< "$f2"
        for t in "${list[@]}"; do case " $f1 " in *" $t "*) ;; *) only+="$t " ;; esac; done
        [ ${#only} -gt 120 ] && only="${only:0:120}..."
        echo "| $name | $e1 / $t1 / $s1 | $e2 / $t2 / $s2 | ${only% } |"
        details+="$name:"$'\n'"$(first_difference "$name")"$'\n'
        if [ -n "$keep" ]; then
            mkdir -p "$keep"
            cp "$out/bare/$name.log" "$keep/$name.bare.log"
            cp "$out/preload/$name.log" "$keep/$name.preload.log"
        fi
    fi
done
if [ -n "$details" ]; then
    echo
    echo "first difference of each (preloaded):"
    printf '%s' "$details"
fi
if [ -n "$spoken" ]; then
    echo
    echo "vfscope spoke in (first line of each):"
    printf '%s' "$spoken"
fi
echo
echo "files: ${#files[@]} run, $same the same, $differ differing; errors bare $eb, preload $ep; tests bare $tb, preload $tp; vfscope printed to $said preloaded runs; $(( $(date +%s) - start )) s"
[ "$differ" -eq 0 ]
