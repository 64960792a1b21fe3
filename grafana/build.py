#!/usr/bin/env python3
"""Writes the Grafana dashboards in grafana/dashboards/ (run it after a
change; the JSON is committed, and tests/e2e/grafana.rs checks it).

Every panel queries Prometheus through the `datasource` template variable
(never ${DS_PROMETHEUS}, which file provisioning cannot resolve), filters
by the `job`, `instance` and (where the series have one) `db` variables,
uses $__rate_interval in rates, and sets a unit and a description.
"""

import json
import os

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job",instance=~"$instance"'
SELDB = SEL + ',db=~"$db"'
RATE = "[$__rate_interval]"


def variables():
    def query(name, label, q, include_all=True):
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DS,
            "query": {"query": q, "refId": name},
            "definition": q,
            "refresh": 2,
            "includeAll": include_all,
            "multi": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
        }

    return {
        "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "refresh": 1,
            },
            query("job", "Job", "label_values(vfscope_build_info, job)"),
            query("instance", "Instance", 'label_values(vfscope_build_info{job=~"$job"}, instance)'),
            query("db", "Database", "label_values(vfscope_vfs_operations_total{" + SEL + "}, db)"),
        ]
    }


class Board:
    def __init__(self, uid, title, description):
        self.uid, self.title, self.description = uid, title, description
        self.panels, self.x, self.y, self.row_height = [], 0, 0, 0

    def add(self, title, description, unit, targets, kind="timeseries", width=12, height=8, **extra):
        if self.x + width > 24:
            self.x, self.y = 0, self.y + self.row_height
            self.row_height = 0
        panel = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DS,
            "gridPos": {"x": self.x, "y": self.y, "w": width, "h": height},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [
                dict(
                    {
                        "datasource": DS,
                        "refId": chr(ord("A") + i),
                        "expr": expr,
                        "legendFormat": legend,
                    },
                    **({"format": "heatmap"} if kind == "heatmap" else {}),
                )
                for i, (expr, legend) in enumerate(targets)
            ],
        }
        if kind == "heatmap":
            panel["options"] = {
                "calculate": False,
                "yAxis": {"unit": unit},
                "cellGap": 1,
                "color": {"mode": "scheme", "scheme": "Oranges"},
            }
        panel.update(extra)
        self.panels.append(panel)
        self.x += width
        self.row_height = max(self.row_height, height)

    def json(self):
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["vfscope", "sqlite"],
            "schemaVersion": 39,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,
            "time": {"from": "now-1h", "to": "now"},
            "refresh": "30s",
            "templating": variables(),
            "annotations": {"list": []},
            "links": [
                {"title": "vfscope dashboards", "type": "dashboards", "tags": ["vfscope"], "asDropdown": True}
            ],
            "panels": self.panels,
        }


def quantile(q, metric, by, sel=SELDB):
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{sel}}}{RATE})))"


def overview():
    b = Board("vfscope-overview", "vfscope: overview", "VFS calls of every SQLite process running under vfscope.")
    b.add("Operations per second", "VFS calls per second by op, all file kinds.", "ops",
          [(f"sum by (op) (rate(vfscope_vfs_operations_total{{{SELDB}}}{RATE}))", "{{op}}")])
    b.add("Bytes per second", "Bytes read and written through the VFS, by file kind.", "Bps",
          [(f"sum by (direction, file_kind) (rate(vfscope_vfs_io_bytes_total{{{SELDB}}}{RATE}))", "{{direction}} {{file_kind}}")])
    b.add("Errors per second", "Calls that failed, by op and result class (busy, ioerr, full, ...). Short reads and unhandled file controls are normal and left out.", "ops",
          [(f'sum by (op, result) (rate(vfscope_vfs_operations_total{{{SELDB},result!~"ok|short_read|notfound"}}{RATE}))', "{{op}} {{result}}")])
    b.add("Error ratio", "Failed calls as a share of all calls.", "percentunit",
          [(f'sum(rate(vfscope_vfs_operations_total{{{SELDB},result!~"ok|short_read|notfound"}}{RATE})) / sum(rate(vfscope_vfs_operations_total{{{SELDB}}}{RATE}))', "errors")])
    b.add("p50 latency by op and file kind", "Median VFS call latency.", "s",
          [(quantile(0.5, "vfscope_vfs_operation_duration_seconds", "op, file_kind"), "{{op}} {{file_kind}}")])
    b.add("p99 latency by op and file kind", "99th percentile VFS call latency.", "s",
          [(quantile(0.99, "vfscope_vfs_operation_duration_seconds", "op, file_kind"), "{{op}} {{file_kind}}")])
    b.add("Top databases by VFS time", "Seconds spent in VFS calls per second, by database (the 10 busiest).", "s",
          [(f"topk(10, sum by (db) (rate(vfscope_vfs_operation_duration_seconds_sum{{{SELDB}}}{RATE})))", "{{db}}")])
    b.add("Open files", "Files open now, by kind.", "short",
          [(f"sum by (file_kind) (vfscope_open_files{{{SELDB}}})", "{{file_kind}}")])
    b.add("WAL commits and frames per second", "Transactions committed to the WAL, and frames written.", "ops",
          [(f"sum by (db) (rate(vfscope_wal_commits_total{{{SELDB}}}{RATE}))", "commits {{db}}"),
           (f"sum by (db) (rate(vfscope_wal_frames_total{{{SELDB}}}{RATE}))", "frames {{db}}")])
    b.add("Slow calls per second", "Calls at or above each process's slow-call threshold (VFSCOPE_SLOW).", "ops",
          [(f"sum by (pid) (rate(vfscope_slow_calls_total{{{SEL}}}{RATE}))", "pid {{pid}}")])
    b.add("Processes", "Instrumented processes: one row per live process, with its program and SQLite version.", "short",
          [(f"vfscope_process_info{{{SEL}}}", "{{pid}} {{program}} SQLite {{sqlite_version}}")], kind="table", width=8)
    b.add("SQLite copies", "Every SQLite copy in each process (a shared libsqlite3, one bundled into an extension module, one linked into the program): version, object, how vfscope reaches it, traced or unreachable.", "short",
          [(f"vfscope_sqlite_copy_info{{{SEL}}}", "{{pid}} #{{copy}} SQLite {{version}} in {{object}}: {{access}}, {{status}}")], kind="table", width=8)
    b.add("Files opened per second by SQLite copy", "Files (databases, journals, WAL) opened per second through each SQLite copy of each process.", "ops",
          [(f"sum by (pid, copy) (rate(vfscope_sqlite_copy_opens_total{{{SEL}}}{RATE}))", "pid {{pid}} copy {{copy}}")])
    b.add("Process uptime", "Time since each live process started recording.", "s",
          [(f"time() - vfscope_process_start_time_seconds{{{SEL}}}", "pid {{pid}}")], kind="stat", width=8)
    b.add("Segments by state", "Segment files in the directory `vfscope serve` reads: running, exited, dead; and files it could not read.", "short",
          [(f"sum by (state) (vfscope_segments{{{SEL}}})", "{{state}}"),
           (f"sum(vfscope_segment_read_errors{{{SEL}}})", "unreadable")], kind="stat", width=8)
    b.add("Bounded tables overflowed", "Uses of a full table's overflow row and internal faults: anything above 0 means some numbers are shared or recording stopped.", "short",
          [(f"sum by (table) (vfscope_table_overflow_total{{{SEL}}})", "{{table}}")], kind="stat", width=16)
    b.add("Findings (vfscope doctor)", "What to change, per live process: each finding's id, severity and database, from the process's counters. `vfscope doctor PID` gives the evidence and the change.", "short",
          [(f"vfscope_finding_info{{{SEL}}}", "{{pid}} {{finding}} [{{severity}}] {{db}}")], kind="table", width=12)
    b.add("Expected gain of each finding", "The time each finding's change would have saved so far (a lower bound for temp-spill and connection-churn).", "s",
          [(f"vfscope_finding_gain_seconds{{{SEL}}}", "{{pid}} {{finding}} {{db}}")], width=12)
    b.add("vfscope version", "Versions of `vfscope serve` answering.", "short",
          [(f'count by (version) (vfscope_build_info{{job=~"$job",instance=~"$instance"}})', "{{version}}")], kind="stat", width=8)
    return b


def latency():
    b = Board("vfscope-latency", "vfscope: latency", "Latency distributions of VFS calls (histograms from 1 µs to 10 s).")
    for title, op in [("all calls", None), ("reads", "read"), ("syncs", "sync")]:
        sel = SELDB + (f',op="{op}"' if op else "")
        b.add(f"Latency heatmap: {title}", f"How the latency of {title} is distributed over time (buckets of vfscope_vfs_operation_duration_seconds).", "s",
              [(f"sum by (le) (rate(vfscope_vfs_operation_duration_seconds_bucket{{{sel}}}{RATE}))", "{{le}}")],
              kind="heatmap", width=8)
    for q in (0.5, 0.9, 0.99):
        b.add(f"p{int(q * 100)} by op", f"The {int(q * 100)}th percentile of call latency, by op (all file kinds).", "s",
              [(quantile(q, "vfscope_vfs_operation_duration_seconds", "op"), "{{op}}")], width=8)
    b.add("Mean latency by op and file kind", "Time in calls divided by calls.", "s",
          [(f"sum by (op, file_kind) (rate(vfscope_vfs_operation_duration_seconds_sum{{{SELDB}}}{RATE})) / sum by (op, file_kind) (rate(vfscope_vfs_operation_duration_seconds_count{{{SELDB}}}{RATE}))", "{{op}} {{file_kind}}")],
          width=24)
    return b


def locks():
    b = Board("vfscope-locks", "vfscope: locks and contention", "File locks, BUSY answers, waits and holds, and the WAL-index (shm) locks of WAL mode.")
    b.add("Lock transitions per second", "File lock level changes (none, shared, reserved, pending, exclusive).", "ops",
          [(f"sum by (from, to) (rate(vfscope_lock_transitions_total{{{SELDB}}}{RATE}))", "{{from}} → {{to}}")])
    b.add("BUSY per second", "xLock calls answered BUSY, by the level asked for (rollback-journal contention).", "ops",
          [(f"sum by (level) (rate(vfscope_lock_busy_total{{{SELDB}}}{RATE}))", "{{level}}")])
    b.add("Lock wait p50 / p99", "Time from the first BUSY to the granted lock.", "s",
          [(quantile(0.5, "vfscope_lock_wait_seconds", "db"), "p50 {{db}}"),
           (quantile(0.99, "vfscope_lock_wait_seconds", "db"), "p99 {{db}}")])
    b.add("Waits given up per second", "Waits that ended in a release instead of the lock: the app got SQLITE_BUSY.", "ops",
          [(f"sum by (db) (rate(vfscope_lock_waits_abandoned_total{{{SELDB}}}{RATE}))", "{{db}}")])
    b.add("Lock hold p50 / p99 by level", "How long files stayed at each lock level.", "s",
          [(quantile(0.5, "vfscope_lock_hold_seconds", "level"), "p50 {{level}}"),
           (quantile(0.99, "vfscope_lock_hold_seconds", "level"), "p99 {{level}}")])
    b.add("WAL-index lock acquisitions per second", "shm locks taken, by slot (write, checkpoint, recover, read0..4) and mode.", "ops",
          [(f"sum by (slot, mode) (rate(vfscope_shm_lock_acquisitions_total{{{SELDB}}}{RATE}))", "{{slot}} {{mode}}")])
    b.add("WAL-index BUSY per second", "shm lock requests answered BUSY (WAL-mode writer and checkpoint contention).", "ops",
          [(f"sum by (slot) (rate(vfscope_shm_lock_busy_total{{{SELDB}}}{RATE}))", "{{slot}}")])
    b.add("WAL-index lock hold p99", "How long shm lock slots were held.", "s",
          [(quantile(0.99, "vfscope_shm_lock_hold_seconds", "slot"), "{{slot}}")])
    return b


def simulation():
    b = Board("vfscope-simulation", "vfscope: latency model", "What the latency/fault model did: injected delay, modelled against measured, faults, the simulated page cache and replication lag.")
    b.add("Active model", "The latency model each process runs (preset or file) and its mode.", "short",
          [(f"vfscope_latency_model_info{{{SEL}}}", "{{pid}} {{model}} ({{mode}})")], kind="table", width=8)
    b.add("Injected delay by op", "Modelled latency added per second, by op and file kind.", "s",
          [(f"sum by (op, file_kind) (rate(vfscope_injected_delay_seconds_total{{{SELDB}}}{RATE}))", "{{op}} {{file_kind}}")], width=16)
    b.add("Modelled vs measured, per delayed call", "Mean modelled latency of the delayed calls next to their mean measured latency (0 in virtual mode). The gap is the engine's accuracy.", "s",
          [(f"sum by (op) (rate(vfscope_injected_delay_seconds_total{{{SELDB}}}{RATE})) / sum by (op) (rate(vfscope_injected_delayed_calls_total{{{SELDB}}}{RATE}))", "modelled {{op}}"),
           (f"sum by (op) (rate(vfscope_injected_delay_measured_seconds_total{{{SELDB}}}{RATE})) / sum by (op) (rate(vfscope_injected_delayed_calls_total{{{SELDB}}}{RATE}))", "measured {{op}}")])
    b.add("Share of VFS time injected", "Measured time of delayed calls as a share of all time in VFS calls.", "percentunit",
          [(f"sum(rate(vfscope_injected_delay_measured_seconds_total{{{SEL}}}{RATE})) / sum(rate(vfscope_vfs_operation_duration_seconds_sum{{{SEL}}}{RATE}))", "injected")])
    b.add("Injected faults per second", "Calls that returned an injected error instead of running.", "ops",
          [(f"sum by (op, file_kind) (rate(vfscope_injected_faults_total{{{SELDB}}}{RATE}))", "{{op}} {{file_kind}}")])
    b.add("Simulated page cache hit ratio", "Reads served by the model's local page cache (no fetch latency).", "percentunit",
          [(f'sum(rate(vfscope_model_cache_reads_total{{{SEL},result="hit"}}{RATE})) / sum(rate(vfscope_model_cache_reads_total{{{SEL}}}{RATE}))', "hit ratio")])
    b.add("Requests per second by type", "Requests a request-level scenario (s3vfs) implies, by type: what the design would send to the store.", "reqps",
          [(f"sum by (request) (rate(vfscope_model_requests_total{{{SEL}}}{RATE}))", "{{request}}")])
    b.add("Request bill per hour", "What those requests would cost at the model's request prices, in US dollars per hour.", "currencyUSD",
          [(f"sum by (request) (rate(vfscope_model_request_cost_dollars_total{{{SEL}}}{RATE})) * 3600", "{{request}}")])
    b.add("Replication lag p50 / p99", "Async replication: how far replicas were behind after each commit.", "s",
          [(quantile(0.5, "vfscope_replication_lag_seconds", "pid", SEL), "p50 pid {{pid}}"),
           (quantile(0.99, "vfscope_replication_lag_seconds", "pid", SEL), "p99 pid {{pid}}")], width=24)
    return b


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards")
    os.makedirs(out, exist_ok=True)
    for board in (overview(), latency(), locks(), simulation()):
        path = os.path.join(out, board.uid.removeprefix("vfscope-") + ".json")
        with open(path, "w") as f:
            json.dump(board.json(), f, indent=2, ensure_ascii=False)
            f.write("\n")
        print(f"wrote {path}: {len(board.panels)} panels")


if __name__ == "__main__":
    main()
