//! The latency model: what it did to calls (delays modelled and
//! measured, errors injected) and its state (which model, its simulated
//! cache, the requests a scenario implied and their bill, replication lag).

use super::approximate_sum;
use crate::family::{Family, Kind};
use vfscope_segment::Snapshot;

/// What the latency model did, by op, file kind and database: delay
/// modelled and measured, calls delayed, errors injected.
pub(super) fn injection(live: &[Snapshot]) -> [Family; 4] {
    let mut injected = Family::new(
        "vfscope_injected_delay_seconds_total",
        "Latency added by the latency model (modelled), by op and file kind.",
        Kind::Counter,
        &["pid", "op", "file_kind", "db"],
    )
    .otlp("vfscope.injected.delay", "s");
    let mut injected_measured = Family::new(
        "vfscope_injected_delay_measured_seconds_total",
        "Measured latency of the calls the model delayed (call start to return; 0 in virtual mode).",
        Kind::Counter,
        &["pid", "op", "file_kind", "db"],
    )
    .otlp("vfscope.injected.delay.measured", "s");
    let mut delayed = Family::new(
        "vfscope_injected_delayed_calls_total",
        "Calls the latency model delayed.",
        Kind::Counter,
        &["pid", "op", "file_kind", "db"],
    )
    .otlp("vfscope.injected.delayed_calls", "{call}");
    let mut faults = Family::new(
        "vfscope_injected_faults_total",
        "Calls that returned an injected error instead of running.",
        Kind::Counter,
        &["pid", "op", "file_kind", "db"],
    )
    .otlp("vfscope.injected.faults", "{call}");
    for s in live {
        let pid = s.meta.pid.to_string();
        for c in s.cells.iter().filter(|c| c.delayed + c.faults_injected > 0) {
            let labels = vec![
                pid.clone(),
                c.op.name().to_string(),
                c.kind.name().to_string(),
                s.db_label(c.db),
            ];
            injected.add(labels.clone(), c.delay_target_ns as f64 / 1e9);
            injected_measured.add(labels.clone(), c.delay_actual_ns as f64 / 1e9);
            delayed.add(labels.clone(), c.delayed as f64);
            faults.add(labels, c.faults_injected as f64);
        }
    }
    [injected, injected_measured, delayed, faults]
}

/// The active latency model: which, its simulated cache, the requests a
/// scenario implied and their bill, replication lag.
pub(super) fn state(live: &[Snapshot]) -> [Family; 5] {
    let mut model = Family::new(
        "vfscope_latency_model_info",
        "The active latency model of a process; always 1.",
        Kind::Gauge,
        &["pid", "model", "mode"],
    );
    let mut cache = Family::new(
        "vfscope_model_cache_reads_total",
        "Reads through the latency model's simulated page cache, by result.",
        Kind::Counter,
        &["pid", "result"],
    )
    .otlp("vfscope.model.cache.reads", "{read}");
    let mut requests = Family::new(
        "vfscope_model_requests_total",
        "Requests a request-level scenario (s3vfs) implied, by type.",
        Kind::Counter,
        &["pid", "request"],
    );
    let mut bill = Family::new(
        "vfscope_model_request_cost_dollars_total",
        "What those requests cost at the model's prices, in US dollars.",
        Kind::Counter,
        &["pid", "request"],
    );
    let mut lag = Family::new(
        "vfscope_replication_lag_seconds",
        "Replication lag after each commit under async replication.",
        Kind::Histogram,
        &["pid"],
    )
    .otlp("vfscope.replication.lag", "s");
    for s in live {
        let pid = s.meta.pid.to_string();
        let Some(name) = &s.model.active else {
            continue;
        };
        let mode = if s.model.virtual_mode {
            "virtual"
        } else {
            "sleep"
        };
        model.add(vec![pid.clone(), name.clone(), mode.into()], 1.0);
        cache.add(vec![pid.clone(), "hit".into()], s.model.cache_hits as f64);
        cache.add(
            vec![pid.clone(), "miss".into()],
            s.model.cache_misses as f64,
        );
        for t in &s.model.requests {
            requests.add(vec![pid.clone(), t.name.clone()], t.count as f64);
            bill.add(vec![pid.clone(), t.name.clone()], t.cost());
        }
        if s.model.lag.count() > 0 {
            lag.observe(
                vec![pid.clone()],
                &s.model.lag,
                approximate_sum(&s.model.lag),
            );
        }
    }
    [model, cache, requests, bill, lag]
}
