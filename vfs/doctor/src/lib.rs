//! `vfscope doctor`: from what was recorded to what to change. The
//! evidence (`evidence.rs`) is summed per database from segments or a
//! trace; each rule (`findings.rs`, `rules.rs`) reads it and, above its threshold,
//! says what it saw in numbers, the change to make and the time it should
//! save; `render.rs` writes that as text (80 columns) or JSON.

mod diagnose;
pub mod evidence;
pub mod findings;
pub mod render;
mod rules;

pub use diagnose::diagnose;
pub use evidence::Evidence;
pub use findings::{Diagnosis, Finding, Gain, Severity};
pub use rules::remote_risk;
