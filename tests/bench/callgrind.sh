#!/usr/bin/env bash
# Instructions executed by the mixed workload with and without vfscope,
# counted by valgrind's callgrind (repeatable on a noisy machine).
# usage: tests/bench/callgrind.sh [SCALE]
set -euo pipefail
cd "$(dirname "$0")/../.."
scale=${1:-20}
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
cargo build --release -q -p vfscope-tests --bin vfscope-bench-workload
bin=target/release/vfscope-bench-workload
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$out/$1.out" "$bin" "$1" "$scale" >"$out/$1.stdout" 2>"$out/$1.log"
  grep -E '^summary:|^totals:' "$out/$1.out" | head -1 | awk '{print $2}'
}
plain=$(count plain)
traced=$(count vfscope)
calls=$("$bin" vfscope "$scale" --count | awk '/traced VFS calls/ {print $4}')
echo "| workload scale | VFS calls | bare unix VFS, instructions | vfscope, instructions | overhead | per traced call |"
echo "|---:|---:|---:|---:|---:|---:|"
awk -v s="$scale" -v c="$calls" -v p="$plain" -v t="$traced" \
  'BEGIN { printf "| %d | %d | %d | %d | %+.2f %% | %.0f |\n", s, c, p, t, (t / p - 1) * 100, (t - p) / c }'
