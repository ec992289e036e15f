//! The configured pipeline: decode → normalize → repair → segment → emit.
//!
//! A [`Pipeline`] holds compiled rules and options; it is `Sync`, so one instance serves every
//! worker thread. Processing a page never panics on any input and never touches the filesystem:
//! reading files and writing outputs belong to the caller (the CLI).

use std::fmt;
use std::time::{Duration, Instant};

use encoding_rs::Encoding;

use crate::decode::{self, DecodeError};
use crate::edits::EditLog;
use crate::normalize::{self, Scratch};
use crate::record::Record;
use crate::rules::{CompiledRules, RuleError, RuleSet};
use crate::{emit, repair, segment};

/// How pages are processed.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Attach every edit to the records (`--explain`).
    pub explain: bool,
    /// Decode every page with this encoding instead of detecting it (`--encoding`).
    pub encoding: Option<&'static Encoding>,
}

/// Why a page could not be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    Decode(DecodeError),
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::Decode(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PageError {}

/// Time spent in each stage, for `--stats`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    pub decode: Duration,
    /// Layout, joins and normalization of the paragraphs (normalize and repair run fused).
    pub repair: Duration,
    pub segment: Duration,
    pub emit: Duration,
}

impl StageTimes {
    pub fn add(&mut self, o: &StageTimes) {
        self.decode += o.decode;
        self.repair += o.repair;
        self.segment += o.segment;
        self.emit += o.emit;
    }
}

/// The result of one page.
#[derive(Debug, Clone)]
pub struct PageOutput {
    pub records: Vec<Record>,
    /// The decoded page text (offsets in records point into it).
    pub text: String,
    /// The encoding it was decoded from.
    pub encoding: &'static str,
    /// Malformed byte sequences met while decoding.
    pub malformed: usize,
    /// On a page that mixes encodings, the lines of `text` that were decoded as UTF-8 (see
    /// [`decode::Decoded::utf8_lines`]); their records are flagged `decode.mixed-encoding`.
    pub utf8_lines: Vec<std::ops::Range<usize>>,
    /// Edits by rule index (see [`Pipeline::rule_id`]).
    pub edit_counts: Vec<u64>,
    pub times: StageTimes,
}

/// Compiled rules plus options: what the CLI, the tests and the benchmarks run pages through.
#[derive(Debug)]
pub struct Pipeline {
    rules: CompiledRules,
    options: Options,
    fingerprint: String,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

impl Pipeline {
    pub fn new(rules: &RuleSet, options: Options) -> Result<Pipeline, RuleError> {
        Ok(Pipeline { rules: rules.compile()?, options, fingerprint: rules.fingerprint() })
    }

    /// The built-in rules with default options.
    pub fn builtin() -> Pipeline {
        Pipeline::new(&RuleSet::builtin(), Options::default()).expect("built-in rules compile (tested)")
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn rules(&self) -> &CompiledRules {
        &self.rules
    }

    /// Identifies the rule set, for manifests.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn rule_id(&self, idx: usize) -> &str {
        &self.rules.ids[idx]
    }

    /// Processes the raw bytes of a page.
    pub fn process_bytes(&self, source: &str, bytes: &[u8]) -> Result<PageOutput, PageError> {
        self.process_bytes_with(source, bytes, self.options.encoding)
    }

    /// Processes the raw bytes of a page decoded with `encoding` (detected when `None`), whatever
    /// the pipeline's options say: for callers that know the encoding page by page.
    pub fn process_bytes_with(
        &self,
        source: &str,
        bytes: &[u8],
        encoding: Option<&'static Encoding>,
    ) -> Result<PageOutput, PageError> {
        let t0 = Instant::now();
        self.after_decode(source, t0, decode::decode(bytes, encoding))
    }

    /// Processes the raw bytes of a page, taking them: a UTF-8 page becomes the page text
    /// without a copy (see [`decode::decode_owned`]).
    pub fn process_owned(&self, source: &str, bytes: Vec<u8>) -> Result<PageOutput, PageError> {
        let t0 = Instant::now();
        self.after_decode(source, t0, decode::decode_owned(bytes, self.options.encoding))
    }

    /// The rest of the pipeline after decoding (started at `t0`).
    fn after_decode(
        &self,
        source: &str,
        t0: Instant,
        d: Result<decode::Decoded, DecodeError>,
    ) -> Result<PageOutput, PageError> {
        let d = d.map_err(PageError::Decode)?;
        let t1 = Instant::now();
        let mut out = self.process_decoded_from(source, d.text, d.utf8_lines, t1);
        out.encoding = d.encoding;
        out.malformed = d.malformed;
        out.times.decode = t1 - t0;
        Ok(out)
    }

    /// Processes a page that is text already.
    pub fn process_text(&self, source: &str, text: &str) -> PageOutput {
        let mut owned = text.replace("\r\n", "\n");
        if owned.contains('\r') {
            owned = owned.replace('\r', "\n");
        }
        if let Some(s) = owned.strip_prefix('\u{FEFF}') {
            owned = s.to_string();
        }
        self.process_decoded_from(source, owned, Vec::new(), Instant::now())
    }

    /// The stages after decoding, timed from `start`. (Each stage's end is the next one's start:
    /// one clock reading per stage.)
    fn process_decoded_from(
        &self,
        source: &str,
        text: String,
        utf8_lines: Vec<std::ops::Range<usize>>,
        start: Instant,
    ) -> PageOutput {
        let mut log = EditLog::new(self.options.explain);
        let mut times = StageTimes::default();
        let paragraphs = SCRATCH.with(|s| repair::paragraphs(&self.rules, &text, &mut s.borrow_mut(), &mut log));
        let repaired = Instant::now();
        times.repair = repaired - start;
        let items = segment::items(&self.rules, paragraphs, &mut log);
        let segmented = Instant::now();
        times.segment = segmented - repaired;
        let records = emit::records(&self.rules, source, &text, &utf8_lines, items, self.options.explain);
        times.emit = segmented.elapsed();
        PageOutput { records, text, encoding: "UTF-8", malformed: 0, utf8_lines, edit_counts: log.counts(), times }
    }

    /// Normalizes and repairs one paragraph of text, without layout or segmentation: what the
    /// text rules' examples are checked with.
    pub fn repair_text(&self, text: &str) -> String {
        normalize::normalize_str(&self.rules, text)
    }
}
