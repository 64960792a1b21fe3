//! End-to-end tests: real SQLite (rusqlite's bundled build) through vfscope,
//! checked against the same workload without it and against the segment.

mod calibrate;
mod cli;
mod copies;
mod distributed;
mod doctor;
mod exactness;
mod fork;
mod grafana;
mod latency;
mod latency_cli;
mod lifecycle;
mod locks;
mod multiprocess;
mod otlp;
mod parents;
mod pip;
mod preload;
mod prometheus;
mod python;
mod recording;
mod structure;
mod torture;
mod transactions;
mod transparency;
mod two_terminals;
mod vfstop;
