//! `vfstop --once --json`: what the screen would show, for scripts.

use crate::state::{State, Status};
use serde_json::{json, Value};

pub fn render(state: &State) -> Value {
    let processes: Vec<Value> = state
        .processes
        .iter()
        .map(|p| {
            let (ops, bytes, errors) = p.rates();
            let (status, error) = match &p.status {
                Status::Live(l) => (l.name(), None),
                Status::Error(message) => ("error", Some(message.clone())),
            };
            json!({
                "pid": p.pid,
                "command": p.command,
                "state": status,
                "error": error,
                "segment": p.path,
                "databases": p.dbs(),
                "other_databases": p.other_dbs(),
                "ops_per_s": ops,
                "bytes_per_s": bytes,
                "errors": errors,
                "latency_injection": p.latency_injection,
            })
        })
        .collect();
    let operations: Vec<Value> = state
        .rows()
        .iter()
        .map(|r| {
            json!({
                "op": r.op.name(),
                "file_kind": r.kind.name(),
                "calls_per_s": r.calls,
                "bytes_per_s": r.bytes,
                "errors": r.totals.errors,
                "time_share": r.share,
                "latency_ns": {"p50": r.p50, "p99": r.p99, "p999": r.p999, "max": r.totals.max_ns},
            })
        })
        .collect();
    let mut slow: Vec<Value> = Vec::new();
    for (p, s) in state.latest() {
        for c in &s.slow {
            slow.push(json!({
                "pid": p.pid, "op": c.op.name(), "file_kind": c.kind.name(), "db": s.db_label(c.db),
                "offset": c.offset, "size": c.size, "latency_ns": c.latency_ns, "rc": c.rc,
            }));
        }
    }
    json!({
        "schema": "vfstop/1",
        "dir": state.dir,
        "interval_ms": state.interval_ms,
        "processes": processes,
        "operations": operations,
        "slow_calls": slow,
    })
}
