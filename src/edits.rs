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
    /// The edit as records show it, taking its texts over (copying them was two allocations
    /// per kept edit, a tenth of an `--explain` run on a page with an edit every few bytes).
    pub fn into_edit(self, rules: &CompiledRules) -> crate::Edit {
        crate::Edit {
            rule: rules.id(self.rule).to_string(),
            span: [self.span.start, self.span.end],
            before: self.before,
            after: self.after,
        }
    }
}

/// Where edits go: a per-rule counter, and with `explain` the edits themselves.
#[derive(Debug)]
pub struct EditLog {
    /// Keep the edits themselves (for `--explain`).
    pub explain: bool,
    /// Count nothing at all (used for look-ahead previews that are not part of the output).
    pub muted: bool,
    /// Edits per rule index: the first `INLINE_RULES` rules in place (a log is made for every
    /// unit of a page, and most rule sets have fewer rules, so counting allocates nothing), the
    /// rest in `spill`.
    inline: [u32; INLINE_RULES],
    spill: Vec<u64>,
    /// One more than the highest rule index counted (the length of [`EditLog::counts`]).
    len: usize,
    pub edits: Vec<RawEdit>,
}

const INLINE_RULES: usize = 48;

impl Default for EditLog {
    fn default() -> Self {
        EditLog {
            explain: false,
            muted: false,
            inline: [0; INLINE_RULES],
            spill: Vec::new(),
            len: 0,
            edits: Vec::new(),
        }
    }
}

impl EditLog {
    pub fn new(explain: bool) -> EditLog {
        EditLog { explain, ..EditLog::default() }
    }

    /// Empties the log for reuse, as [`EditLog::new`] makes it.
    pub fn reset(&mut self, explain: bool) {
        self.explain = explain;
        self.muted = false;
        self.inline[..self.len.min(INLINE_RULES)].fill(0);
        self.spill.clear();
        self.len = 0;
        self.edits.clear();
    }

    /// A log that records nothing.
    pub fn muted() -> EditLog {
        EditLog { muted: true, ..EditLog::default() }
    }

    /// Are the edits themselves kept (not only counted)? Only then are their spans read.
    pub fn keeps_edits(&self) -> bool {
        self.explain && !self.muted
    }

    /// Records an edit; `before` is only evaluated when edits are kept.
    #[inline]
    pub fn push(&mut self, rule: RuleIdx, span: Range<usize>, before: impl FnOnce() -> String, after: &str) {
        if self.muted {
            return;
        }
        self.add_count(rule as usize, 1);
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
        if other.len == 0 {
            return;
        }
        // (Only the counters up to the other's highest rule can be non-zero.)
        let inline = other.len.min(INLINE_RULES);
        for (a, b) in self.inline[..inline].iter_mut().zip(&other.inline[..inline]) {
            *a += b;
        }
        for (k, &n) in other.spill.iter().enumerate() {
            self.add_count(INLINE_RULES + k, n);
        }
        self.len = self.len.max(other.len);
    }

    #[inline]
    fn add_count(&mut self, i: usize, n: u64) {
        if i < INLINE_RULES {
            self.inline[i] += n as u32;
        } else {
            let k = i - INLINE_RULES;
            if self.spill.len() <= k {
                self.spill.resize(k + 1, 0);
            }
            self.spill[k] += n;
        }
        self.len = self.len.max(i + 1);
    }

    /// Edits per rule index, up to the highest rule counted.
    pub fn counts(&self) -> Vec<u64> {
        (0..self.len)
            .map(|i| if i < INLINE_RULES { self.inline[i] as u64 } else { self.spill[i - INLINE_RULES] })
            .collect()
    }
}
