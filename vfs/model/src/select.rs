//! Which calls a part of a model applies to.

use vfscope_segment::{FileKind, Op};

/// Which calls a rule or fault applies to; empty lists mean all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    pub ops: Vec<Op>,
    pub files: Vec<FileKind>,
}

impl Selector {
    pub fn matches(&self, op: Op, kind: FileKind) -> bool {
        (self.ops.is_empty() || self.ops.contains(&op))
            && (self.files.is_empty() || self.files.contains(&kind))
    }
}
