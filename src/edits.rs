//! Bookkeeping of the changes the stages make: every change is attributed to a rule.
//!
//! Counting is always on (the run summary reports edits by rule); the full list with text is kept
//! only for `--explain`, so that a plain run does not allocate a string per change.

use std::ops::Range;

use crate::rules::{CompiledRules, RuleIdx};

/// An edit before it is written out: the rule is an index, the span is in the decoded page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEdit {
    pub rule: RuleIdx,
    pub span: Range<usize>,
    pub before: String,
    pub after: String,
}

impl RawEdit {
    pub fn to_edit(&self, rules: &CompiledRules) -> crate::Edit {
        crate::Edit {
            rule: rules.id(self.rule).to_string(),
            span: [self.span.start, self.span.end],
            before: self.before.clone(),
            after: self.after.clone(),
        }
    }
}

/// Where edits go: a per-rule counter, and with `explain` the edits themselves.
#[derive(Debug, Default)]
pub struct EditLog {
    /// Keep the edits themselves (for `--explain`).
    pub explain: bool,
    /// Count nothing at all (used for look-ahead previews that are not part of the output).
    pub muted: bool,
    pub counts: Vec<u64>,
    pub edits: Vec<RawEdit>,
}

impl EditLog {
    pub fn new(explain: bool) -> EditLog {
        EditLog { explain, ..EditLog::default() }
    }

    /// A log that records nothing.
    pub fn muted() -> EditLog {
        EditLog { muted: true, ..EditLog::default() }
    }

    /// Records an edit; `before` is only evaluated when edits are kept.
    #[inline]
    pub fn push(&mut self, rule: RuleIdx, span: Range<usize>, before: impl FnOnce() -> String, after: &str) {
        if self.muted {
            return;
        }
        let i = rule as usize;
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        if self.explain {
            self.edits.push(RawEdit { rule, span, before: before(), after: after.to_string() });
        }
    }

    /// Moves the kept edits out (the counts stay).
    pub fn take_edits(&mut self) -> Vec<RawEdit> {
        std::mem::take(&mut self.edits)
    }

    /// Adds the counts of another log into this one.
    pub fn merge_counts(&mut self, other: &EditLog) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }
}
