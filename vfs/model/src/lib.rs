//! # vfscope-model
//!
//! The remote-storage model: which VFS calls a distributed or remote
//! design would pay for, and how much. Model files are TOML (see the
//! README's "Latency and fault model"); presets cover common
//! infrastructure. The [`Engine`] turns one call into a [`Decision`]
//! (a delay, an injected error, replication lag); it is pure and seeded, so
//! the shim applies it live and replay applies it in virtual time.

mod cache;
mod dist;
mod engine;
mod error;
mod model;
mod page_bytes;
mod params;
mod presets;
mod remote;
pub mod replay;
pub mod replicate;
mod rng;
mod select;
mod spec;
mod units;

pub use dist::Dist;
pub use engine::{Call, Decision, Engine};
pub use model::*;
pub use params::{split_spec, with_param_defaults};
pub use presets::{is_model_text, load, Preset, PRESETS};
pub use rng::Rng;
pub use spec::{parse, parse_with, ModelError};
pub use units::{parse_bytes, parse_duration, parse_rate};
