//! Running the examples of a rule set: each rule's examples are its tests.
//!
//! An example with `output` checks the text repair of its `input` (normalize and repair of one
//! paragraph), and that repairing the output again changes nothing. An example with record
//! fields runs the whole pipeline on `input` as a page and compares the fields with one record.

use std::fmt;

use super::{Example, RuleError, RuleSet};
use crate::{Kind, Options, Pipeline, Record};

/// An example that did not give what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleFailure {
    pub rule: String,
    pub file: String,
    pub example: usize,
    pub message: String,
}

impl fmt::Display for ExampleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: rule `{}`, example {}: {}", self.file, self.rule, self.example + 1, self.message)
    }
}

/// Compiles the rule set and runs every example of every rule against it.
pub fn check_examples(set: &RuleSet) -> Result<Vec<ExampleFailure>, RuleError> {
    let pipeline = Pipeline::new(set, Options::default())?;
    let mut failures = Vec::new();
    for r in set.rules() {
        for (i, ex) in r.spec.examples.iter().enumerate() {
            for message in check_one(&pipeline, ex) {
                failures.push(ExampleFailure { rule: r.spec.id.clone(), file: r.file.clone(), example: i, message });
            }
        }
    }
    Ok(failures)
}

fn check_one(p: &Pipeline, ex: &Example) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(want) = &ex.output {
        let got = p.repair_text(&ex.input);
        if &got != want {
            out.push(format!("repairing {:?} gave {:?}, expected {:?}", ex.input, got, want));
        } else {
            let again = p.repair_text(&got);
            if again != got {
                out.push(format!("not idempotent: repairing {got:?} again gave {again:?}"));
            }
        }
    }
    let fields = ex.record.is_some()
        || ex.kind.is_some()
        || ex.section.is_some()
        || ex.headline.is_some()
        || ex.dateline.is_some()
        || ex.reporters.is_some()
        || ex.correspondents.is_some()
        || ex.paragraphs.is_some()
        || ex.caption_text.is_some()
        || ex.credit.is_some();
    if !fields {
        return out;
    }
    let records = p.process_text("example", &ex.input).records;
    let record = match ex.record {
        Some(n) => records.get(n.wrapping_sub(1)),
        None => records.iter().find(|r| r.kind != Kind::Furniture),
    };
    let Some(r) = record else {
        out.push(format!(
            "no record {} among {} records of {:?}",
            ex.record.map_or("(first non-furniture)".to_string(), |n| n.to_string()),
            records.len(),
            ex.input
        ));
        return out;
    };
    compare(&mut out, "kind", ex.kind.as_deref(), Some(r.kind.as_str()));
    compare(&mut out, "section", ex.section.as_deref(), r.section.as_deref());
    compare(&mut out, "headline", ex.headline.as_deref(), r.headline.as_deref());
    compare(&mut out, "dateline", ex.dateline.as_deref(), r.dateline.as_deref());
    compare(&mut out, "reporters", ex.reporters.as_ref(), Some(&r.reporters));
    compare(&mut out, "correspondents", ex.correspondents.as_ref(), Some(&r.correspondents));
    compare(&mut out, "paragraphs", ex.paragraphs.as_ref(), Some(&r.paragraphs));
    let caption = r.captions.first();
    compare(&mut out, "caption text", ex.caption_text.as_deref(), caption.map(|c| c.text.as_str()));
    compare(&mut out, "credit", ex.credit.as_deref(), caption.and_then(|c| c.credit.as_deref()));
    if !out.is_empty() {
        out.push(format!("record was {}", describe(r)));
    }
    out
}

fn compare<T: PartialEq + fmt::Debug + ?Sized>(out: &mut Vec<String>, what: &str, want: Option<&T>, got: Option<&T>) {
    if let Some(w) = want {
        if got != Some(w) {
            out.push(format!("{what}: expected {w:?}, got {got:?}"));
        }
    }
}

fn describe(r: &Record) -> String {
    serde_json::to_string(&r.gold_fields()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of the built-in rules are the first tests of the rules.
    #[test]
    fn builtin_examples_pass() {
        let failures = check_examples(&RuleSet::builtin()).unwrap();
        let text: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
        assert!(failures.is_empty(), "{}", text.join("\n"));
    }
}
