//! Conservation and idempotence on every page of an evaluation corpus (issue 6: "the conservation
//! property holds on the seed page and on every page of `../shared/corpus/dev`").
//!
//! The corpus is not part of the repository, so these tests are `#[ignore]`d and read the
//! directory named by `NEWSMEND_CORPUS` (the corpus's `dev` directory, or its `raw` directory,
//! or any directory of `*.txt` pages):
//!
//! ```text
//! NEWSMEND_CORPUS=../shared/corpus/dev cargo test --release --test corpus_conservation -- --ignored
//! ```

use std::path::{Path, PathBuf};

mod common;
use common::made_of_paragraphs;
use newsmend::{audit, GoldFields, Options, Pipeline, Record, RuleSet};

fn pages() -> Vec<PathBuf> {
    let dir = std::env::var_os("NEWSMEND_CORPUS")
        .map(PathBuf::from)
        .expect("set NEWSMEND_CORPUS to the corpus directory (e.g. ../shared/corpus/dev)");
    let dir = if dir.join("raw").is_dir() { dir.join("raw") } else { dir };
    let mut out = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())).flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "txt") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no *.txt pages under {}", dir.display());
    out
}

fn pipeline() -> Pipeline {
    Pipeline::new(&RuleSet::builtin(), Options { explain: true, encoding: None }).unwrap()
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
#[ignore = "needs NEWSMEND_CORPUS"]
fn every_corpus_page_is_conserved() {
    let p = pipeline();
    let pages = pages();
    let mut failures = Vec::new();
    for path in &pages {
        let bytes = std::fs::read(path).unwrap();
        match p.process_bytes(&name(path), &bytes) {
            Ok(out) => {
                if let Err(e) = audit::conservation(&out.text, &out.records) {
                    failures.push(format!("{}: {e}", path.display()));
                }
            }
            Err(e) => failures.push(format!("{}: does not decode: {e}", path.display())),
        }
    }
    eprintln!("conservation: {} pages, {} failures", pages.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The records of every page, rendered back to a clean page, read back into the same records with
/// no text edits. A short paragraph that the first run kept as text can be read as a headline on
/// the clean page, where nothing says that it is not one (a documented limit of
/// `render_clean_page`): pages that differ only by that are listed, not failed.
#[test]
#[ignore = "needs NEWSMEND_CORPUS"]
fn every_corpus_page_is_idempotent() {
    let p = pipeline();
    let pages = pages();
    let mut failures = Vec::new();
    let mut limits = Vec::new();
    let gold = |rs: &[Record]| rs.iter().map(Record::gold_fields).collect::<Vec<GoldFields>>();
    for path in &pages {
        let Ok(out) = p.process_bytes(&name(path), &std::fs::read(path).unwrap()) else { continue };
        let clean = audit::render_clean_page(&out.records);
        let again = p.process_text(&name(path), &clean);
        let edits: Vec<_> = again
            .records
            .iter()
            .flat_map(|r| r.edits.iter().flatten())
            .filter(|e| !audit::is_extraction_rule(&e.rule))
            .collect();
        let same = edits.is_empty() && gold(&again.records) == gold(&out.records);
        if !same
            && again.records.iter().any(|r| r.headline.as_deref().is_some_and(|h| made_of_paragraphs(&out.records, h)))
        {
            limits.push(name(path));
        } else if !edits.is_empty() {
            failures.push(format!("{}: text edits on the clean page: {edits:?}", path.display()));
        } else if gold(&again.records) != gold(&out.records) {
            let i = gold(&again.records).iter().zip(gold(&out.records)).position(|(a, b)| *a != b).unwrap_or(0);
            failures.push(format!("{}: records differ from record {}", path.display(), i + 1));
        }
    }
    eprintln!(
        "idempotence: {} pages, {} failures; a paragraph read as a headline on the clean page: {limits:?}",
        pages.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Spans of records, edits and flags are char ranges of the decoded page.
#[test]
#[ignore = "needs NEWSMEND_CORPUS"]
fn every_corpus_page_has_valid_spans() {
    let p = pipeline();
    let pages = pages();
    let mut failures = Vec::new();
    for path in &pages {
        let Ok(out) = p.process_bytes(&name(path), &std::fs::read(path).unwrap()) else { continue };
        if let Err(e) = audit::spans(&out.text, &out.records) {
            failures.push(format!("{}: {e}", path.display()));
        }
    }
    eprintln!("spans: {} pages, {} failures", pages.len(), failures.len());
    assert!(failures.is_empty(), "{} pages:\n{}", failures.len(), failures.join("\n"));
}
