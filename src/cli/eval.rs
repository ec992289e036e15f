//! `newsmend eval`: records against gold records → the accuracy figures.
//!
//! Two forms:
//!
//! * `newsmend eval --gold GOLD PRED` compares existing predictions (a directory of per-page
//!   `.jsonl`, or one JSON Lines file with `source` fields) with gold records;
//! * `newsmend eval --gold GOLD --raw RAW` runs the pipeline on the raw pages itself (in memory,
//!   nothing written) and compares; with `--raw`, the report also has the CER of the raw text,
//!   so the reduction is visible.
//!
//! `--min-exact` and `--max-cer` turn the figures into a check (exit code 1 when one is missed):
//! CI uses them so that accuracy cannot silently fall below what the README claims.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use newsmend::eval::{self, EvalOptions, Pages};
use rayon::prelude::*;

use super::{setup_error, PipelineArgs, EXIT_OK, EXIT_PAGE_FAILED};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Gold records: a directory of per-page .jsonl, or one JSON Lines file with `source` fields.
    #[arg(long, value_name = "GOLD")]
    pub gold: PathBuf,
    /// Predicted records, in the same forms. Without it, `--raw` pages are processed in memory.
    #[arg(value_name = "PRED", required_unless_present = "raw")]
    pub pred: Option<PathBuf>,
    /// Raw pages (a directory or one file): their CER is the baseline; without PRED they are also
    /// what is evaluated.
    #[arg(long, value_name = "RAW")]
    pub raw: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// How many of the worst pages to list.
    #[arg(long, default_value_t = eval::DEFAULT_WORST_PAGES)]
    pub worst: usize,
    /// Fail (exit 1) when the exact-match rate of items is below this fraction.
    #[arg(long, value_name = "RATE")]
    pub min_exact: Option<f64>,
    /// Fail (exit 1) when the character error rate is above this fraction.
    #[arg(long, value_name = "RATE")]
    pub max_cer: Option<f64>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub fn main(args: EvalArgs) -> u8 {
    let gold = match eval::load_records(&args.gold) {
        Ok(g) => g,
        Err(e) => return setup_error(&format!("gold: {e}")),
    };
    let raw = match &args.raw {
        Some(dir) => match read_raw(dir, &args.pipeline) {
            Ok(r) => Some(r),
            Err(e) => return setup_error(&e),
        },
        None => None,
    };
    let pred: Pages = match (&args.pred, &raw) {
        (Some(p), _) => match eval::load_records(p) {
            Ok(p) => p,
            Err(e) => return setup_error(&format!("predictions: {e}")),
        },
        (None, Some(raw)) => match predict(raw, &args.pipeline) {
            Ok(p) => p,
            Err(e) => return setup_error(&e),
        },
        (None, None) => return setup_error("give PRED or --raw"),
    };
    let texts: Option<BTreeMap<String, String>> = raw.map(|r| r.into_iter().map(|(k, page)| (k, page.text)).collect());
    let report = eval::evaluate_with(&gold, &pred, texts.as_ref(), &EvalOptions { worst_pages: args.worst });
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return setup_error(&e.to_string()),
        }
    } else {
        print!("{}", report.render_table());
    }
    let mut ok = true;
    if let Some(min) = args.min_exact {
        if report.items.exact_rate < min {
            eprintln!("newsmend eval: exact-match rate {:.4} is below the required {min:.4}", report.items.exact_rate);
            ok = false;
        }
    }
    if let Some(max) = args.max_cer {
        if report.cer.cer > max {
            eprintln!("newsmend eval: character error rate {:.5} is above the allowed {max:.5}", report.cer.cer);
            ok = false;
        }
    }
    if ok {
        EXIT_OK
    } else {
        EXIT_PAGE_FAILED
    }
}

/// A raw page: its bytes decoded, and the bytes (for running the pipeline on them).
struct RawPage {
    text: String,
    bytes: Vec<u8>,
    source: String,
}

fn read_raw(path: &Path, args: &PipelineArgs) -> Result<BTreeMap<String, RawPage>, String> {
    let encoding = match &args.encoding {
        Some(name) => Some(newsmend::decode::encoding_for_label(name).map_err(|e| e.to_string())?),
        None => None,
    };
    let mut files = Vec::new();
    collect_files(path, path, &mut files).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    for (file, rel) in files {
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let text = match newsmend::decode::decode(&bytes, encoding) {
            Ok(d) => d.text,
            Err(e) => {
                eprintln!("newsmend eval: {}: {e} (scored as an empty page)", file.display());
                String::new()
            }
        };
        out.insert(eval::page_key(&rel), RawPage { text, bytes, source: rel });
    }
    Ok(out)
}

fn collect_files(root: &Path, path: &Path, out: &mut Vec<(PathBuf, String)>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
            if !hidden {
                collect_files(root, &p, out)?;
            }
        }
    } else {
        let rel = if path == root {
            path.file_name().map(PathBuf::from).unwrap_or_default()
        } else {
            path.strip_prefix(root).unwrap_or(path).to_path_buf()
        };
        out.push((path.to_path_buf(), rel.to_string_lossy().replace('\\', "/")));
    }
    Ok(())
}

fn predict(raw: &BTreeMap<String, RawPage>, args: &PipelineArgs) -> Result<Pages, String> {
    let pipeline = args.pipeline()?;
    Ok(raw
        .par_iter()
        .map(|(key, page)| {
            let records = match pipeline.process_bytes(&page.source, &page.bytes) {
                Ok(out) => out.records.iter().map(|r| r.gold_fields()).collect(),
                Err(_) => Vec::new(),
            };
            (key.clone(), records)
        })
        .collect())
}
