"""`vfscope doctor`'s predicted gains against the measured ones: each
program of tests/programs/doctor_cases.py with its problem and with the
change the finding names, 3 runs each under `vfscope run`. The predicted
gain is the finding's (from the problem run's own recording); the measured
one, the difference of the workload's wall time (median of 3) between the
problem and the changed program. Prints Markdown for BENCHMARKS.md.

usage: doctor_gains.py VFSCOPE PYTHON
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "programs", "doctor_cases.py")
# (finding, case, binding, the variant with the change)
ROWS = [
    ("sync-per-row", "autocommit", "sqlite3", "batched"),
    ("sync-per-row", "autocommit", "apsw", "batched"),
    ("rollback-small-commits", "autocommit", "sqlite3", "fixed"),
    ("rollback-small-commits", "autocommit", "apsw", "fixed"),
    ("temp-spill", "temp-spill", "sqlite3", "fixed"),
    ("connection-churn", "churn", "sqlite3", "fixed"),
    ("connection-churn", "churn", "apsw", "fixed"),
    ("cache-rereads", "cache-rereads", "sqlite3", "fixed"),
    ("cache-rereads", "cache-rereads", "apsw", "fixed"),
    ("busy-without-timeout", "busy", "sqlite3", "fixed"),
    ("wal-checkpoint-starved", "wal-starved", "sqlite3", "fixed"),
]


def run(vfscope, python, scratch, case, variant, binding, i):
    base = tempfile.mkdtemp(prefix=f"{case}-{variant}-{binding}-{i}-", dir=scratch)
    report = os.path.join(base, "report.json")
    out = subprocess.run(
        [vfscope, "run", "--quiet", "--dir", os.path.join(base, "seg"), "--json", report, "--",
         python, CASES, case, variant, os.path.join(base, "test.db"), "--binding", binding],
        capture_output=True, text=True, timeout=600,
    )
    if out.returncode != 0:
        sys.exit(f"doctor_gains: {case} {variant} {binding} failed:\n{out.stderr}")
    program = json.loads(out.stdout.strip().splitlines()[-1])
    findings = json.load(open(report))["findings"]["findings"]
    return program, findings


def main(vfscope, python):
    print("| finding | program | predicted gain | measured gain (median of 3) | predicted / measured | finding after the change |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for finding, case, binding, fixed in ROWS:
            before, after, predicted, failed, avoided, left, wal, missed = [], [], [], [], [], [], [], []
            for i in range(3):
                program, findings = run(vfscope, python, scratch, case, "problem", binding, i)
                before.append(program["elapsed_s"])
                f = next((f for f in findings if f["id"] == finding), None)
                if f is None:
                    # Reported, not fatal: a row says how often it was missed.
                    missed.append(program.get("failed", "-"))
                    continue
                if f["gain"]:
                    predicted.append(f["gain"]["saved_ns"] / 1e9)
                elif finding == "busy-without-timeout":
                    avoided.append(f["evidence"]["failed_at_once"])
                    failed.append(program["failed"])
                else:
                    wal.append(f["evidence"]["wal_bytes"] / 2**20)
                program, findings = run(vfscope, python, scratch, case, fixed, binding, i)
                after.append(program["elapsed_s"])
                left.append(any(f["id"] == finding and f["severity"] == "warn" for f in findings))
            name = f"{case} ({binding}), change: {fixed}"
            if missed:
                name += f" (no finding in {len(missed)} of 3 problem runs; their failed statements: {missed})"
            gone = "none" if not any(left) else f"still a warning in {sum(left)} of {len(left)} runs"
            if not (predicted or wal or avoided):
                print(f"| {finding} | {name} | - | - | - | - |")
            elif predicted:
                p = statistics.median(predicted)
                m = statistics.median(before) - statistics.median(after)
                print(f"| {finding} | {name} | {p * 1000:.1f} ms | {m * 1000:.1f} ms "
                      f"({statistics.median(before) * 1000:.1f} -> {statistics.median(after) * 1000:.1f} ms) "
                      f"| {p / m if m > 0 else float('nan'):.2f} | {gone} |")
            elif wal:
                print(f"| {finding} | {name} | the WAL back near 3.9 MiB from {statistics.median(wal):.1f} MiB "
                      f"| (a size, not a time) | - | {gone} |")
            else:
                print(f"| {finding} | {name} | {statistics.median(avoided):.0f} failed statements avoided "
                      f"| {statistics.median(failed):.0f} failed -> 0 | "
                      f"{statistics.median(avoided) / max(statistics.median(failed), 1):.2f} | {gone} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
