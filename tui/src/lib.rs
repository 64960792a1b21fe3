//! # vfstop
//!
//! `top` for SQLite's storage layer. It lists the stats segments of every
//! process running under vfscope (no configuration, no network), and shows
//! per process — or all together — the rate, latency percentiles, errors
//! and share of time of each VFS operation, latency histograms, locks and
//! WAL-index slots, and the slow-call ring.
//!
//! Three parts, kept apart: `source` reads segments into snapshots, `state`
//! keeps what is known and chosen (no ratatui), `view` draws from `&State`;
//! `input` turns keys into state changes and `app` is the loop, generic over
//! the backend so tests drive it on `TestBackend`.
#![forbid(unsafe_code)]

pub mod app;
pub mod input;
pub mod json;
pub mod source;
pub mod state;
pub mod view;
