#!/usr/bin/env bash
# vfstop's own cost: CPU and memory while it shows 20 instrumented
# processes at one refresh a second, in a real terminal (tmux).
# usage: tests/bench/vfstop.sh [SECONDS] [PROCESSES]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
count=${2:-20}
for tool in tmux python3; do
  command -v "$tool" >/dev/null || { echo "vfstop.sh: $tool is not installed" >&2; exit 2; }
done
cargo build --release -q -p vfstop -p vfscope-preload
lib=$PWD/target/release/libvfscope.so
vfstop=$PWD/target/release/vfstop
work=$(mktemp -d)
socket="vfstop-bench-$$"
pids=()
cleanup() {
  tmux -L "$socket" kill-server 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Each process: a WAL database, a commit and a read every 20 ms.
for i in $(seq 1 "$count"); do
  LD_PRELOAD=$lib VFSCOPE_DIR=$work/segments python3 -c '
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA journal_mode=WAL"); c.execute("CREATE TABLE IF NOT EXISTS t(v)")
end = time.time() + float(sys.argv[2])
while time.time() < end:
    c.execute("INSERT INTO t VALUES (randomblob(100))"); c.commit(); c.execute("SELECT count(*) FROM t").fetchone(); time.sleep(0.02)
' "$work/db$i.sqlite" "$((seconds + 20))" &
  pids+=($!)
done
sleep 2

tmux -L "$socket" new-session -d -s bench -x 160 -y 50 "$vfstop --dir $work/segments --interval 1"
vfstop_pid=$(tmux -L "$socket" display -p -t bench '#{pane_pid}')
sleep 3  # warm up: every segment mapped, history filling
ticks() { awk '{print $14 + $15}' "/proc/$vfstop_pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks); s0=$(date +%s.%N)
sleep "$seconds"
t1=$(ticks); s1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$vfstop_pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$vfstop_pid/status")
shown=$("$vfstop" --dir "$work/segments" --once --json --interval 0.2 |
  python3 -c 'import json,sys; print(sum(p["state"] == "running" for p in json.load(sys.stdin)["processes"]))')
awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v rss="$rss" -v hwm="$hwm" \
    -v n="$count" -v shown="$shown" -v secs="$seconds" 'BEGIN {
  cpu = (t1 - t0) / hz / (s1 - s0) * 100
  print "| processes (seen running) | refresh | measured over | vfstop CPU, % of one core | RSS | peak RSS |"
  print "|---:|---:|---:|---:|---:|---:|"
  printf "| %d (%d) | 1 s | %d s | %.2f %% | %.1f MiB | %.1f MiB |\n", n, shown, secs, cpu, rss / 1024, hwm / 1024
}'
