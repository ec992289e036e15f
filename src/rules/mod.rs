//! Rules are data: everything that is about Chinese newspapers (punctuation tables, stray words,
//! confusion lexicons, dateline, byline, caption and furniture patterns, layout character
//! classes) is read from TOML files in `rules/`.
//!
//! A rule file holds `[[rule]]` entries, each with an `id`, a `type` (which mechanism runs it),
//! a `description` and `examples`, plus the fields its type needs; and optionally a `[vars]` table
//! of pattern fragments that any pattern may use as `{name}`. The defaults are compiled into the
//! binary ([`RuleSet::builtin`]); [`RuleSet::with_overrides`] adds a directory of files whose
//! rules replace built-in rules of the same id (or remove them with `disabled = true`).
//!
//! [`RuleSet::compile`] turns the rules into the tables and automata the stages run
//! ([`CompiledRules`]); that happens once per run, never per page.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

mod examples;
mod groups;
mod search;

pub use examples::{check_examples, ExampleFailure};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use groups::CompactGroups;
use regex_automata::{meta, Input, PatternID};
use search::Searcher;
use serde::Deserialize;

/// The rule files shipped in `rules/`, compiled into the binary.
/// Data files that rules refer to (word lists), by their path relative to `rules/`.
pub const BUILTIN_RESOURCES: &[(&str, &str)] = &[("words/common.txt", include_str!("../../rules/words/common.txt"))];

pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("vars.toml", include_str!("../../rules/vars.toml")),
    ("punctuation.toml", include_str!("../../rules/punctuation.toml")),
    ("width.toml", include_str!("../../rules/width.toml")),
    ("whitespace.toml", include_str!("../../rules/whitespace.toml")),
    ("stray_words.toml", include_str!("../../rules/stray_words.toml")),
    ("confusions.toml", include_str!("../../rules/confusions.toml")),
    ("datelines.toml", include_str!("../../rules/datelines.toml")),
    ("bylines.toml", include_str!("../../rules/bylines.toml")),
    ("captions.toml", include_str!("../../rules/captions.toml")),
    ("furniture.toml", include_str!("../../rules/furniture.toml")),
    ("layout.toml", include_str!("../../rules/layout.toml")),
];

/// Upper bound on the compiled size of one pattern, so that a rule file cannot make the process
/// allocate without limit.
const REGEX_SIZE_LIMIT: usize = 4 << 20;
/// Upper bound on the length of a pattern after `{var}` expansion.
const PATTERN_MAX_LEN: usize = 16 << 10;

/// Words of the attention bitmap: one past the largest index of [`attention_index`].
const ATTENTION_WORDS: usize = 0x0F3F + 1;

/// Where BMP code point `u`'s bit is in the attention bitmap: the word at its top four bits and
/// middle six, `(u >> 12) << 8 | (u >> 6 & 0x3F)` (for a three-byte sequence, its first byte's
/// low four bits and its second byte's low six: see [`CompiledRules::utf8_attention_word`]);
/// the bit is `u % 64`.
#[inline]
fn attention_index(u: u32) -> usize {
    debug_assert!(u < 0x10000);
    ((u >> 12 & 0x0F) << 8 | (u >> 6 & 0x3F)) as usize
}

/// What went wrong with a rule set; the message names the file and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub file: String,
    pub rule: Option<String>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(id) => write!(f, "{}: rule `{}`: {}", self.file, id, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for RuleError {}

fn err(file: &str, rule: Option<&str>, message: impl Into<String>) -> RuleError {
    RuleError { file: file.to_string(), rule: rule.map(str::to_string), message: message.into() }
}

/// One rule as written in a file.
#[derive(Debug, Clone, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: RuleType,
    pub description: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub map: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub ranges: Option<Vec<[String; 3]>>,
    #[serde(default)]
    pub chars: Option<CharsSpec>,
    #[serde(default)]
    pub word: Option<String>,
    #[serde(default)]
    pub replacement: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub position: Option<BylinePosition>,
    #[serde(default)]
    pub max_line_chars: Option<usize>,
    #[serde(default)]
    pub max_lines: Option<usize>,
    #[serde(default)]
    pub min_lines: Option<usize>,
    #[serde(default)]
    pub across: Option<JoinAcross>,
    #[serde(default)]
    pub between_digits: Option<bool>,
    /// A word list file, relative to the rules directory (`word_list`).
    #[serde(default)]
    pub words: Option<String>,
    /// Characters a line ends with when it is cut mid-sentence (`subhead`).
    #[serde(default)]
    pub ends_open: Option<String>,
    /// Characters text starts with when it continues a sentence (`subhead`).
    #[serde(default)]
    pub starts_open: Option<String>,
    #[serde(default)]
    pub examples: Vec<Example>,
}

/// Which mechanism runs a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    /// Half-width punctuation to full-width, in Chinese context (`map`).
    PunctContext,
    /// Code-point ranges folded to another range (`ranges`: `[first, last, first_target]`).
    Fold,
    /// Characters deleted (`chars`).
    Delete,
    /// Characters that become an ASCII space (`chars`).
    ToSpace,
    /// Spaces between Chinese characters removed.
    CjkSpacing,
    /// A Latin word between Chinese characters replaced (`word`, `replacement`).
    StrayWord,
    /// Strings replaced by others (`map`), longest match first.
    Lexicon,
    /// A dateline at the start of a paragraph (`pattern`).
    Dateline,
    /// A byline (`pattern` with groups `reporters`, `correspondents`; `position`).
    Byline,
    /// A photo credit at the end of a paragraph (`pattern` with groups `credit`, `cut`).
    Credit,
    /// A line of page furniture (`pattern`, matched against the whole line).
    Furniture,
    /// A class of characters the layout reader uses (`chars`); the id says which.
    CharClass,
    /// Column labels (`max_line_chars`, `max_lines`, `min_lines`).
    ColumnLabel,
    /// Full-width signs that belong to numbers (`map`), folded to ASCII right after a digit, or
    /// with `between_digits = true` only between two digits.
    NumericFold,
    /// A list of common words (`words`: a file of one word per line), which layout consults.
    WordList,
    /// Subheads: short lines of their own that are not cut sentences (`max_line_chars`,
    /// `ends_open`, `starts_open`, `chars`: what an unquoted subhead does not contain).
    Subhead,
    /// The shape of a headline (`max_line_chars`; `ends_open`: what it does not end with;
    /// `chars`: what it does not contain; `starts_open`: what it does not start with).
    Headline,
    /// Joining text across line ends (`across = "line"`) or blank lines (`across = "blank"`).
    /// The mechanism is in the repair stage; the rule gives the joins their id.
    Join,
}

/// Where a byline pattern is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BylinePosition {
    /// At the start of the text that follows the dateline (or of the paragraph).
    AfterDateline,
    /// Against a whole paragraph that is nothing but the byline.
    Line,
}

/// What a join rule joins across.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinAcross {
    /// A single line end (hard wrap).
    Line,
    /// One or more blank lines (column or page break).
    Blank,
}

/// `chars = "。！？"` or `chars = ["\u00A0", "\t"]`.
#[derive(Debug, Clone, Hash, Deserialize)]
#[serde(untagged)]
pub enum CharsSpec {
    One(String),
    Many(Vec<String>),
}

impl CharsSpec {
    fn to_chars(&self) -> Vec<char> {
        match self {
            CharsSpec::One(s) => s.chars().collect(),
            CharsSpec::Many(v) => v.iter().flat_map(|s| s.chars()).collect(),
        }
    }
}

/// An example of a rule at work; `newsmend rules check` and the test suite run every one.
///
/// `output` is checked against the text repair of `input` (normalize and repair of one
/// paragraph); the other fields are checked against a record of the full pipeline run on `input`
/// as a page (record number `record`, 1-based; by default the first that is not furniture).
#[derive(Debug, Clone, Default, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub input: String,
    pub output: Option<String>,
    pub record: Option<usize>,
    pub kind: Option<String>,
    pub section: Option<String>,
    pub headline: Option<String>,
    pub dateline: Option<String>,
    pub reporters: Option<Vec<String>>,
    pub correspondents: Option<Vec<String>>,
    pub paragraphs: Option<Vec<String>>,
    pub caption_text: Option<String>,
    pub credit: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    rule: Vec<RuleSpec>,
}

/// A rule with the file it came from.
#[derive(Debug, Clone)]
pub struct SourcedRule {
    pub file: String,
    pub spec: RuleSpec,
}

/// A set of rules, not yet compiled: the built-in files plus any overrides.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    vars: BTreeMap<String, String>,
    rules: Vec<SourcedRule>,
    /// Contents of the data files rules refer to, by path relative to their rules directory.
    resources: BTreeMap<String, String>,
}

impl RuleSet {
    /// The rules shipped in the binary.
    pub fn builtin() -> RuleSet {
        let mut set = RuleSet::default();
        for (name, text) in BUILTIN_RESOURCES {
            set.resources.insert(name.to_string(), text.to_string());
        }
        for (name, text) in BUILTIN_FILES {
            set.add_file(name, text, false).expect("built-in rules are valid (tested)");
        }
        set
    }

    /// An empty rule set: no repairs, no segmentation patterns. Useful to see the raw layout.
    pub fn empty() -> RuleSet {
        RuleSet::default()
    }

    /// The built-in rules with every `*.toml` file of `dir` added on top (in file-name order).
    pub fn with_overrides(dir: &Path) -> Result<RuleSet, RuleError> {
        let mut set = RuleSet::builtin();
        set.add_dir(dir)?;
        Ok(set)
    }

    /// Adds every `*.toml` file of `dir`; a rule whose id exists already replaces it.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), RuleError> {
        let shown = dir.display().to_string();
        let entries =
            std::fs::read_dir(dir).map_err(|e| err(&shown, None, format!("cannot read rules directory: {e}")))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(err(&shown, None, "no *.toml rule files in this directory"));
        }
        for path in files {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| err(&name, None, format!("cannot read: {e}")))?;
            self.add_file(&name, &text, true)?;
            // Load the data files that the new rules refer to, from this directory.
            for r in self.rules.iter().filter(|r| r.file == name) {
                if let Some(rel) = &r.spec.words {
                    let p = dir.join(rel);
                    if !p.starts_with(dir) || rel.contains("..") {
                        return Err(err(&name, Some(&r.spec.id), "a word list must lie inside the rules directory"));
                    }
                    let text = std::fs::read_to_string(&p).map_err(|e| {
                        err(&name, Some(&r.spec.id), format!("cannot read word list {}: {e}", p.display()))
                    })?;
                    self.resources.insert(rel.clone(), text);
                }
            }
        }
        Ok(())
    }

    /// Adds the rules of one file. Within one call a duplicate id is an error; with `replace`,
    /// an id that exists from earlier files is replaced (or removed when `disabled`).
    pub fn add_file(&mut self, name: &str, text: &str, replace: bool) -> Result<(), RuleError> {
        let spec: FileSpec = toml::from_str(text).map_err(|e| err(name, None, e.to_string().trim_end().to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for r in &spec.rule {
            if !seen.insert(r.id.as_str()) {
                return Err(err(name, Some(&r.id), "duplicate rule id in this file"));
            }
        }
        for (k, v) in spec.vars {
            if !replace && self.vars.contains_key(&k) {
                return Err(err(name, None, format!("variable `{k}` is defined twice")));
            }
            self.vars.insert(k, v);
        }
        for r in spec.rule {
            match self.rules.iter().position(|x| x.spec.id == r.id) {
                Some(i) if replace => {
                    if r.disabled {
                        self.rules.remove(i);
                    } else {
                        self.rules[i] = SourcedRule { file: name.to_string(), spec: r };
                    }
                }
                Some(_) => return Err(err(name, Some(&r.id), "duplicate rule id")),
                None if r.disabled => {}
                None => self.rules.push(SourcedRule { file: name.to_string(), spec: r }),
            }
        }
        Ok(())
    }

    pub fn rules(&self) -> &[SourcedRule] {
        &self.rules
    }

    /// A stable fingerprint of the rule set (FNV-1a over variables, data files and every rule's
    /// fields), recorded in run manifests so that `--resume` can tell whether earlier outputs
    /// used the same rules. The rules are fed to the hash through their derived `Hash` (each
    /// string's bytes and a terminator, each field in order), not through their `Debug` text:
    /// formatting escaped every character of the examples, 7% of compiling the rules.
    pub fn fingerprint(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = Fnv1a::default();
        for (k, v) in self.vars.iter().chain(&self.resources) {
            k.hash(&mut h);
            v.hash(&mut h);
        }
        for r in &self.rules {
            r.spec.hash(&mut h);
        }
        format!("{:016x}", h.finish())
    }

    /// Checks every rule and builds the tables the stages use.
    pub fn compile(&self) -> Result<CompiledRules, RuleError> {
        CompiledRules::build(self)
    }
}

/// Index of a rule in [`CompiledRules::ids`]; edits carry it until they are written out.
pub type RuleIdx = u16;

/// What normalization does with one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharAction {
    /// Replace by this character.
    Map(char, RuleIdx),
    /// Replace by an ASCII space.
    Space(RuleIdx),
    /// Delete.
    Delete(RuleIdx),
}

/// A compiled pattern with a test that rules out most texts before the regex runs.
///
/// Layout asks the dateline, byline, credit and furniture patterns about every unit of a page,
/// and almost every answer is "no"; a regex search has a fixed cost (the thread's cache looked up,
/// the search set up) that dominates on such short texts. Most of these patterns are anchored
/// (`^…`, `…$`), and regex-syntax's literal extractor tells which literals every match starts
/// (or ends) with: `^(?:本报|新华社…)` starts with one of the agencies, `…摄）$` ends with `）`
/// or `)`. A text that does not start (end) with one of them cannot match, and is answered
/// without searching. Where nothing can be said (an unanchored pattern, a class too large to
/// list) the regex decides alone. The methods are named as the regex crate's `Regex` methods
/// they stand for. Searches run with the calling thread's own caches (see [`search`]).
#[derive(Debug, Clone)]
pub struct Pattern {
    regex: Searcher,
    /// The pattern as compiled (variables expanded).
    source: Box<str>,
    /// The characters every match starts with, when matches start at the text's start. Only the
    /// first character of each literal is kept: a handful to look up instead of the cross product
    /// of a pattern's alternatives.
    prefixes: Option<CharSet>,
    /// The characters every match ends with, when matches end at the text's end.
    suffixes: Option<CharSet>,
    /// The pattern over its alphabet, for its capture groups (see [`groups`]); `None` without
    /// groups, or when the regex finds them itself.
    compact: Option<CompactGroups>,
    /// Group names by group index.
    names: Vec<Option<Box<str>>>,
}

/// The capture groups of a match: byte ranges in the text searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups<'p> {
    spans: groups::Spans,
    names: &'p [Option<Box<str>>],
}

impl Groups<'_> {
    /// Group `i`; 0 is the whole match.
    pub fn get(&self, i: usize) -> Option<Range<usize>> {
        self.spans.get(i).cloned().flatten()
    }

    /// The group named `name`, when it took part in the match.
    pub fn name(&self, name: &str) -> Option<Range<usize>> {
        self.names.iter().position(|n| n.as_deref() == Some(name)).and_then(|i| self.get(i))
    }
}

/// A small set of characters, asked about far more often than it holds anything: a 1024-bit
/// filter on the low bits of the code point rules most characters out in one test, the sorted
/// list decides the rest. (Pattern prefilters and the layout character classes, asked about
/// the ends of every line and unit.) The filter is wide because the characters asked about are
/// mostly Chinese, whose low bits are spread evenly: a set of 30 characters lets about 3% of
/// them through to the search, where a 128-bit filter let a fifth through.
#[derive(Debug, Clone, Default)]
struct CharSet {
    filter: [u64; 16],
    sorted: Vec<char>,
}

impl CharSet {
    fn new(mut chars: Vec<char>) -> CharSet {
        chars.sort_unstable();
        chars.dedup();
        let mut filter = [0u64; 16];
        for &c in &chars {
            let (word, bit) = CharSet::slot(c);
            filter[word] |= bit;
        }
        CharSet { filter, sorted: chars }
    }

    /// The filter's word and bit for `c`: bits 6..10 and 0..6 of the code point.
    #[inline]
    fn slot(c: char) -> (usize, u64) {
        let u = c as u32;
        ((u >> 6 & 15) as usize, 1 << (u & 63))
    }

    #[inline]
    fn contains(&self, c: char) -> bool {
        let (word, bit) = CharSet::slot(c);
        self.filter[word] & bit != 0 && self.sorted.binary_search(&c).is_ok()
    }

    /// Is the first character of `text` in the set? A three-byte character (all of Chinese text)
    /// is tried on the filter straight from its bytes: its code point's bits 6..10 are the low
    /// four bits of its second byte, and bits 0..6 the low six of its third. Only a character the
    /// filter lets through is decoded.
    #[inline]
    fn contains_first(&self, text: &str) -> bool {
        if let [0xE0..=0xEF, b1, b2, ..] = *text.as_bytes() {
            if !self.filter_passes(b1, b2) {
                return false;
            }
        }
        text.chars().next().is_some_and(|c| self.contains(c))
    }

    /// Is the last character of `text` in the set? (As [`CharSet::contains_first`]: in UTF-8 a
    /// three-byte lead third from the end starts the last character.)
    #[inline]
    fn contains_last(&self, text: &str) -> bool {
        if let [.., 0xE0..=0xEF, b1, b2] = *text.as_bytes() {
            if !self.filter_passes(b1, b2) {
                return false;
            }
        }
        text.chars().next_back().is_some_and(|c| self.contains(c))
    }

    /// Is any character of `text` in the set? A three-byte character is tried on the filter from
    /// its bytes first (as in [`CharSet::contains_first`]) and passed over when the filter rules
    /// it out; the rest are decoded and looked up.
    fn contains_any(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&lead) = bytes.get(i) {
            if (0xE0..0xF0).contains(&lead) {
                // SAFETY: `text` is UTF-8, in which a lead byte E0..EF is followed by two
                // continuation bytes: `i + 2 < bytes.len()`. (Read without the bounds checks, a
                // third of this loop.)
                let (b1, b2) = unsafe { (*bytes.get_unchecked(i + 1), *bytes.get_unchecked(i + 2)) };
                if !self.filter_passes(b1, b2) {
                    i += 3;
                    continue;
                }
            }
            // (`i` is at a character boundary: it only ever steps over whole characters.)
            let Some(c) = text[i..].chars().next() else { break };
            if self.contains(c) {
                return true;
            }
            i += c.len_utf8();
        }
        false
    }

    /// The filter's answer for the three-byte character whose second and third bytes are `b1`
    /// and `b2` (see [`CharSet::slot`]).
    #[inline]
    fn filter_passes(&self, b1: u8, b2: u8) -> bool {
        self.filter[(b1 & 0x0F) as usize] >> (b2 & 0x3F) & 1 != 0
    }
}

impl Pattern {
    /// Compiles `pattern` as the regex crate's `Regex::new` would (the same syntax and engine
    /// settings, and size limits of [`REGEX_SIZE_LIMIT`]), with the same error messages.
    fn compile(pattern: &str) -> Result<Pattern, String> {
        use regex_syntax::hir::literal::{ExtractKind, Extractor};
        use regex_syntax::hir::Look;
        let hir = regex_syntax::ParserBuilder::new().build().parse(pattern).map_err(|e| e.to_string())?;
        let config = meta::Config::new()
            .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
            .hybrid_cache_capacity(REGEX_SIZE_LIMIT)
            .match_kind(regex_automata::MatchKind::LeftmostFirst)
            .utf8_empty(true);
        let regex = meta::Builder::new().configure(config).build_from_hir(&hir).map_err(|e| match e.size_limit() {
            Some(limit) => format!("Compiled regex exceeds size limit of {limit} bytes."),
            None => e.to_string(),
        })?;
        let names = regex.group_info().pattern_names(PatternID::ZERO).map(|n| n.map(Box::from)).collect();
        let compact = CompactGroups::new(&hir);
        let props = hir.properties();
        let chars = |kind: ExtractKind, first: bool| {
            // Prefixes are read with room for larger classes (`[A-Z]?[0-9]` is 36 first
            // characters); the same limits make suffix sets of long patterns give up.
            let mut extractor = Extractor::new();
            if first {
                extractor.limit_class(64).limit_total(4096);
            }
            let seq = extractor.kind(kind).extract(&hir);
            let mut out = Vec::new();
            for lit in seq.literals()? {
                // A literal is UTF-8 (the pattern is), unless the extractor cut one inside a
                // character; an empty one matches everything: then nothing can be ruled out.
                let s = std::str::from_utf8(lit.as_bytes()).ok()?;
                out.push(if first { s.chars().next()? } else { s.chars().next_back()? });
            }
            (!out.is_empty()).then(|| CharSet::new(out))
        };
        let prefixes =
            props.look_set_prefix().contains(Look::Start).then(|| chars(ExtractKind::Prefix, true)).flatten();
        let suffixes = props.look_set_suffix().contains(Look::End).then(|| chars(ExtractKind::Suffix, false)).flatten();
        Ok(Pattern { regex: Searcher::new(regex), source: pattern.into(), prefixes, suffixes, compact, names })
    }

    /// Could the pattern match `text`? `false` is certain; `true` means the regex must say.
    #[inline]
    pub fn may_match(&self, text: &str) -> bool {
        // (Each end is decoded only when there is a set to look it up in.)
        if let Some(set) = &self.prefixes {
            if !set.contains_first(text) {
                return false;
            }
        }
        if let Some(set) = &self.suffixes {
            if !set.contains_last(text) {
                return false;
            }
        }
        true
    }

    /// The union of one end's sets of `patterns`; `None` when one of them has no set (it could
    /// match whatever the text starts or ends with).
    fn union<'p>(
        patterns: impl Iterator<Item = &'p Pattern>,
        set: impl Fn(&'p Pattern) -> Option<&'p CharSet>,
    ) -> Option<CharSet> {
        let mut chars = Vec::new();
        for p in patterns {
            chars.extend_from_slice(&set(p)?.sorted);
        }
        Some(CharSet::new(chars))
    }

    /// Could a match start with `c`? (Always, when the pattern's starts are not known.)
    #[inline]
    pub fn may_start_with(&self, c: char) -> bool {
        self.prefixes.as_ref().map_or(true, |set| set.contains(c))
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.may_match(text) && self.regex.with_cache(|re, cache| re.is_match_with(cache, &Input::new(text)))
    }

    /// Where the first match in `text` is.
    pub fn find(&self, text: &str) -> Option<Range<usize>> {
        if !self.may_match(text) {
            return None;
        }
        self.find_unfiltered(text)
    }

    fn find_unfiltered(&self, text: &str) -> Option<Range<usize>> {
        self.regex.with_cache(|re, cache| re.search_with(cache, &Input::new(text))).map(|m| m.range())
    }

    /// The groups of the first match in `text`, as the regex crate's `Regex::captures` finds
    /// them.
    pub fn captures(&self, text: &str) -> Option<Groups<'_>> {
        if !self.may_match(text) {
            return None;
        }
        let spans = match &self.compact {
            // The DFA finds the match; the compact pattern finds its groups.
            Some(compact) => compact.groups(text, self.find_unfiltered(text)?),
            None => None,
        };
        let spans = match spans {
            Some(spans) => spans,
            None => self.regex.with_cache(|re, cache| {
                let mut caps = re.create_captures();
                re.search_captures_with(cache, &Input::new(text), &mut caps);
                caps.is_match().then(|| groups::spans_of(&caps))
            })?,
        };
        Some(Groups { spans, names: &self.names })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The group names by group index (`None` for the whole match and unnamed groups).
    pub fn capture_names(&self) -> impl Iterator<Item = Option<&str>> {
        self.names.iter().map(|n| n.as_deref())
    }
}

/// A compiled byline pattern.
#[derive(Debug, Clone)]
pub struct BylineRule {
    pub regex: Pattern,
    pub position: BylinePosition,
    pub rule: RuleIdx,
}

/// Parameters of column-label detection.
#[derive(Debug, Clone, Copy)]
pub struct LabelParams {
    pub max_line_chars: usize,
    pub max_lines: usize,
    pub min_lines: usize,
    pub rule: RuleIdx,
}

/// The rules in the form the stages run them. Built once; shared read-only by all workers.
#[derive(Debug)]
pub struct CompiledRules {
    /// Rule ids by [`RuleIdx`].
    pub ids: Vec<String>,
    /// Per-character actions for the Basic Multilingual Plane, by code point (`None`: keep).
    bmp_actions: Box<[Option<CharAction>; 0x10000]>,
    /// Per-character actions outside the BMP.
    astral_actions: HashMap<char, CharAction>,
    /// Half-width punctuation converted in Chinese context.
    pub punct: HashMap<char, (char, RuleIdx)>,
    /// Number signs: target, rule, only between digits.
    pub numeric_signs: HashMap<char, (char, RuleIdx, bool)>,
    /// `punct` as a table over ASCII, for the per-character path.
    punct_ascii: [Option<(char, RuleIdx)>; 128],
    /// The code-point range of `numeric_signs` (a cheap test before the map).
    numeric_range: (u32, u32),
    /// One bit per BMP code point: does normalization have anything to do with it (a table
    /// action, a number sign, a space)? Laid out by the code point's UTF-8 bytes (see
    /// [`CompiledRules::utf8_attention_word`]), so that the hot loop finds a three-byte
    /// character's word with one mask of its first two bytes. 31 KiB (3,904 words),
    /// of which 8 KiB hold all code points, 64 consecutive words (one 4,096-code-point block) to
    /// each 2 KiB row; the 48 lines that Chinese text reads stay in the L1 cache, where the action
    /// table (512 KiB) would not.
    attention: Box<[u64; ATTENTION_WORDS]>,
    /// First characters of the lexicon's entries (after normalization).
    lexicon_first: std::collections::HashSet<char>,
    lexicon_ascii: [bool; 128],
    /// Which ASCII bytes normalization looks at (see `normalize::ascii_attention_table`).
    pub ascii_attention: [bool; 128],
    /// Length of the longest lexicon entry, in characters.
    pub lexicon_max_chars: usize,
    pub cjk_spacing: Option<RuleIdx>,
    /// Stray words by lower-case ASCII spelling.
    pub stray_words: HashMap<String, (String, RuleIdx)>,
    /// Lexicon replacements: automaton, then replacement and rule per pattern.
    pub lexicon: Option<(AhoCorasick, Vec<(String, RuleIdx)>)>,
    pub datelines: Vec<(Pattern, RuleIdx)>,
    pub bylines: Vec<BylineRule>,
    pub credits: Vec<(Pattern, RuleIdx)>,
    pub furniture: Vec<(Pattern, RuleIdx)>,
    /// The first characters of every dateline and byline match, and the last of every credit
    /// match, when every such pattern says (see [`CompiledRules::may_open`]).
    opener_first: Option<CharSet>,
    credit_last: Option<CharSet>,
    sentence_end: CharSet,
    non_initial: CharSet,
    closing: CharSet,
    pub label: Option<LabelParams>,
    /// The rules that joins are attributed to.
    pub join_wrap: RuleIdx,
    pub join_break: RuleIdx,
    /// Common words (two or three characters), for decisions at breaks.
    pub words: WordSet,
    pub subhead: Option<SubheadParams>,
    pub headline: LineShape,
}

/// The shape of a line that stands on its own (a headline, a subhead): the `headline` and
/// `subhead` rules give it.
#[derive(Debug, Clone)]
pub struct LineShape {
    pub max_line_chars: usize,
    /// Characters it does not end with (it would be a clause cut short).
    pub ends_open: Vec<char>,
    /// Characters it does not start with.
    pub starts_open: Vec<char>,
    /// Characters it does not contain (a full stop makes a sentence): see [`LineShape::has_never`].
    never: CharSet,
}

impl Default for LineShape {
    /// Without a `headline` rule: any short line may be a headline.
    fn default() -> Self {
        LineShape { max_line_chars: 48, ends_open: Vec::new(), starts_open: Vec::new(), never: CharSet::default() }
    }
}

impl LineShape {
    fn from_rule(r: &RuleSpec) -> Option<LineShape> {
        Some(LineShape {
            max_line_chars: r.max_line_chars?,
            ends_open: r.ends_open.as_deref().unwrap_or("").chars().collect(),
            starts_open: r.starts_open.as_deref().unwrap_or("").chars().collect(),
            never: CharSet::new(r.chars.as_ref().map(|c| c.to_chars()).unwrap_or_default()),
        })
    }

    /// Does `text` contain one of the characters a line of this shape never contains? (A set
    /// lookup per character: this reads every short line of a page.)
    pub fn has_never(&self, text: &str) -> bool {
        self.never.contains_any(text)
    }
}

/// Parameters of subhead detection.
#[derive(Debug, Clone)]
pub struct SubheadParams {
    pub shape: LineShape,
    pub rule: RuleIdx,
}

/// A set of short words, each packed into a `u64` (three 21-bit code points), so that a look-up
/// allocates nothing. The keys are hashed by a multiply-shift (they are not attacker-chosen: the
/// word list is the rule set's), which makes building the 40,000-word set cheap.
#[derive(Debug, Default, Clone)]
pub struct WordSet(std::collections::HashSet<u64, std::hash::BuildHasherDefault<KeyHasher>>);

/// FNV-1a, byte by byte: the rule set's fingerprint, which must not change from run to run (the
/// standard library's `DefaultHasher` promises no such thing).
#[derive(Debug, Clone, Copy)]
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Multiply-shift hashing of one `u64`.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, k: u64) {
        self.0 = (k ^ (k >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl WordSet {
    fn key(chars: &[char]) -> Option<u64> {
        (2..=3)
            .contains(&chars.len())
            .then(|| chars.iter().enumerate().fold(0u64, |k, (i, &c)| k | (c as u64) << (21 * i)))
    }

    pub fn insert(&mut self, word: &str) {
        let mut buf = ['\0'; 3];
        let mut n = 0;
        for c in word.chars() {
            if n == 3 {
                return;
            }
            buf[n] = c;
            n += 1;
        }
        if let Some(k) = Self::key(&buf[..n]) {
            self.0.insert(k);
        }
    }

    /// Is this sequence of two or three characters a known word?
    pub fn contains(&self, chars: &[char]) -> bool {
        Self::key(chars).is_some_and(|k| self.0.contains(&k))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Does a known word of two or three characters run across the boundary between `left`
    /// (text before it, last characters) and `right` (text after it, first characters)?
    pub fn spans(&self, left: &[char], right: &[char]) -> bool {
        let l = left.len();
        for take_left in 1..=2.min(l) {
            for take_right in 1..=2.min(right.len()) {
                if take_left + take_right > 3 {
                    continue;
                }
                let mut w = ['\0'; 4];
                w[..take_left].copy_from_slice(&left[l - take_left..]);
                w[take_left..take_left + take_right].copy_from_slice(&right[..take_right]);
                if self.contains(&w[..take_left + take_right]) {
                    return true;
                }
            }
        }
        false
    }
}

impl CompiledRules {
    fn build(set: &RuleSet) -> Result<CompiledRules, RuleError> {
        let mut c = CompiledRules {
            ids: Vec::new(),
            bmp_actions: vec![None; 0x10000].into_boxed_slice().try_into().expect("0x10000 entries"),
            astral_actions: HashMap::new(),
            punct: HashMap::new(),
            numeric_signs: HashMap::new(),
            punct_ascii: [None; 128],
            numeric_range: (u32::MAX, 0),
            attention: vec![0; ATTENTION_WORDS].into_boxed_slice().try_into().expect("ATTENTION_WORDS words"),
            lexicon_first: std::collections::HashSet::new(),
            lexicon_ascii: [false; 128],
            lexicon_max_chars: 0,
            ascii_attention: [true; 128],
            cjk_spacing: None,
            stray_words: HashMap::new(),
            lexicon: None,
            datelines: Vec::new(),
            bylines: Vec::new(),
            credits: Vec::new(),
            furniture: Vec::new(),
            opener_first: None,
            credit_last: None,
            sentence_end: CharSet::default(),
            non_initial: CharSet::default(),
            closing: CharSet::default(),
            label: None,
            join_wrap: RuleIdx::MAX,
            join_break: RuleIdx::MAX,
            words: WordSet::default(),
            subhead: None,
            headline: LineShape::default(),
        };
        let mut lexicon_patterns: Vec<String> = Vec::new();
        let mut lexicon_targets: Vec<(String, RuleIdx)> = Vec::new();
        if set.rules.len() >= RuleIdx::MAX as usize {
            return Err(err("rules", None, "too many rules"));
        }
        for sourced in &set.rules {
            let r = &sourced.spec;
            let file = sourced.file.as_str();
            let id = Some(r.id.as_str());
            let idx = c.ids.len() as RuleIdx;
            c.ids.push(r.id.clone());
            let need = |what: &str| err(file, id, format!("a `{:?}` rule needs `{what}`", r.kind));
            match r.kind {
                RuleType::PunctContext => {
                    for (from, to) in r.map.as_ref().ok_or_else(|| need("map"))? {
                        let (f, t) = (single_char(from), single_char(to));
                        match (f, t) {
                            (Some(f), Some(t)) => {
                                c.punct.insert(f, (t, idx));
                            }
                            _ => {
                                return Err(err(
                                    file,
                                    id,
                                    format!("map entries must be single characters: {from:?} = {to:?}"),
                                ))
                            }
                        }
                    }
                }
                RuleType::NumericFold => {
                    for (from, to) in r.map.as_ref().ok_or_else(|| need("map"))? {
                        let (Some(f), Some(t)) = (single_char(from), single_char(to)) else {
                            return Err(err(
                                file,
                                id,
                                format!("map entries must be single characters: {from:?} = {to:?}"),
                            ));
                        };
                        c.numeric_signs.insert(f, (t, idx, r.between_digits.unwrap_or(false)));
                    }
                }
                RuleType::Fold => {
                    for [first, last, target] in r.ranges.as_ref().ok_or_else(|| need("ranges"))? {
                        let (Some(a), Some(b), Some(t)) = (single_char(first), single_char(last), single_char(target))
                        else {
                            return Err(err(file, id, "ranges are [first, last, first_target] of single characters"));
                        };
                        if b < a || (b as u32 - a as u32) > 0x1000 {
                            return Err(err(file, id, format!("bad range {first}..{last}")));
                        }
                        for u in a as u32..=b as u32 {
                            let from = char::from_u32(u);
                            let to = char::from_u32(t as u32 + (u - a as u32));
                            if let (Some(from), Some(to)) = (from, to) {
                                c.set_action(from, CharAction::Map(to, idx));
                            }
                        }
                    }
                }
                RuleType::Delete | RuleType::ToSpace => {
                    for ch in r.chars.as_ref().ok_or_else(|| need("chars"))?.to_chars() {
                        if ch == '\n' {
                            return Err(err(
                                file,
                                id,
                                "line ends are structure and cannot be rewritten by a character rule",
                            ));
                        }
                        let action =
                            if r.kind == RuleType::Delete { CharAction::Delete(idx) } else { CharAction::Space(idx) };
                        c.set_action(ch, action);
                    }
                }
                RuleType::CjkSpacing => c.cjk_spacing = Some(idx),
                RuleType::StrayWord => {
                    let word = r.word.as_ref().ok_or_else(|| need("word"))?;
                    let repl = r.replacement.as_ref().ok_or_else(|| need("replacement"))?;
                    if word.is_empty() || !word.chars().all(|ch| ch.is_ascii_alphabetic()) {
                        return Err(err(file, id, "a stray word is one or more ASCII letters"));
                    }
                    c.stray_words.insert(word.to_ascii_lowercase(), (repl.clone(), idx));
                }
                RuleType::Lexicon => {
                    for (from, to) in r.map.as_ref().ok_or_else(|| need("map"))? {
                        if from.is_empty() {
                            return Err(err(file, id, "an empty lexicon entry would match everywhere"));
                        }
                        lexicon_patterns.push(from.clone());
                        lexicon_targets.push((to.clone(), idx));
                    }
                }
                RuleType::Dateline | RuleType::Byline | RuleType::Credit | RuleType::Furniture => {
                    let pattern = r.pattern.as_ref().ok_or_else(|| need("pattern"))?;
                    let regex = compile_pattern(pattern, &set.vars, file, &r.id)?;
                    match r.kind {
                        RuleType::Dateline => c.datelines.push((regex, idx)),
                        RuleType::Credit => {
                            if regex.capture_names().flatten().all(|n| n != "credit") {
                                return Err(err(file, id, "a credit pattern needs a group named `credit`"));
                            }
                            c.credits.push((regex, idx))
                        }
                        RuleType::Furniture => c.furniture.push((regex, idx)),
                        _ => {
                            let position = r.position.ok_or_else(|| need("position"))?;
                            c.bylines.push(BylineRule { regex, position, rule: idx });
                        }
                    }
                }
                RuleType::CharClass => {
                    let chars = r.chars.as_ref().ok_or_else(|| need("chars"))?.to_chars();
                    match r.id.as_str() {
                        "layout.sentence-end" => c.sentence_end = CharSet::new(chars),
                        "layout.non-initial" => c.non_initial = CharSet::new(chars),
                        "layout.closing" => c.closing = CharSet::new(chars),
                        other => return Err(err(file, id, format!("unknown character class `{other}` (known: layout.sentence-end, layout.non-initial, layout.closing)"))),
                    }
                }
                RuleType::Join => match r.across.ok_or_else(|| need("across"))? {
                    JoinAcross::Line => c.join_wrap = idx,
                    JoinAcross::Blank => c.join_break = idx,
                },
                RuleType::WordList => {
                    let rel = r.words.as_ref().ok_or_else(|| need("words"))?;
                    let text =
                        set.resources.get(rel).ok_or_else(|| err(file, id, format!("word list `{rel}` not found")))?;
                    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                        c.words.insert(line);
                    }
                }
                RuleType::Subhead => {
                    let shape = LineShape::from_rule(r).ok_or_else(|| need("max_line_chars"))?;
                    c.subhead = Some(SubheadParams { shape, rule: idx });
                }
                RuleType::Headline => {
                    c.headline = LineShape::from_rule(r).ok_or_else(|| need("max_line_chars"))?;
                }
                RuleType::ColumnLabel => {
                    c.label = Some(LabelParams {
                        max_line_chars: r.max_line_chars.ok_or_else(|| need("max_line_chars"))?,
                        max_lines: r.max_lines.ok_or_else(|| need("max_lines"))?,
                        min_lines: r.min_lines.unwrap_or(2).max(1),
                        rule: idx,
                    });
                }
            }
        }
        for (&from, &to) in &c.punct {
            if from.is_ascii() {
                c.punct_ascii[from as usize] = Some(to);
            }
        }
        for &from in c.numeric_signs.keys() {
            c.numeric_range = (c.numeric_range.0.min(from as u32), c.numeric_range.1.max(from as u32));
        }
        for pattern in &lexicon_patterns {
            c.lexicon_max_chars = c.lexicon_max_chars.max(pattern.chars().count());
            if let Some(first) = pattern.chars().next() {
                c.lexicon_first.insert(first);
                if first.is_ascii() {
                    c.lexicon_ascii[first as usize] = true;
                }
            }
        }
        // Characters with an action (any character that folds, possibly into the start of a
        // lexicon entry, has one), number signs, lexicon starts, and every kind of space.
        let mut busy: Vec<char> =
            (0x80u32..0x10000).filter(|&u| c.bmp_actions[u as usize].is_some()).filter_map(char::from_u32).collect();
        busy.extend(c.numeric_signs.keys());
        busy.extend(c.lexicon_first.iter());
        busy.extend(('\u{80}'..='\u{ffff}').filter(|&ch| crate::text::is_hspace(ch) || crate::text::is_zero_width(ch)));
        for ch in busy {
            let u = ch as u32;
            if (0x80..0x10000).contains(&u) {
                c.attention[attention_index(u)] |= 1 << (u % 64);
            }
        }
        c.ascii_attention = crate::normalize::ascii_attention_table(&c);
        let openers = c.datelines.iter().map(|(p, _)| p).chain(c.bylines.iter().map(|b| &b.regex));
        c.opener_first = Pattern::union(openers, |p| p.prefixes.as_ref());
        c.credit_last = Pattern::union(c.credits.iter().map(|(p, _)| p), |p| p.suffixes.as_ref());
        if c.join_wrap == RuleIdx::MAX || c.join_break == RuleIdx::MAX {
            return Err(err("rules", None, "the join rules (type \"join\", across \"line\" and \"blank\") cannot be removed: every join must be attributed to a rule"));
        }
        if !lexicon_patterns.is_empty() {
            let ac = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&lexicon_patterns)
                .map_err(|e| err("lexicon", None, e.to_string()))?;
            c.lexicon = Some((ac, lexicon_targets));
        }
        Ok(c)
    }

    fn set_action(&mut self, ch: char, action: CharAction) {
        if (ch as u32) < 0x10000 {
            self.bmp_actions[ch as usize] = Some(action);
        } else {
            self.astral_actions.insert(ch, action);
        }
    }

    /// What normalization does with `ch`, if anything.
    #[inline]
    pub fn char_action(&self, ch: char) -> Option<CharAction> {
        let u = ch as u32;
        if u < 0x10000 {
            // (A fixed-size table indexed by a 16-bit value: no bounds check.)
            self.bmp_actions[u as u16 as usize]
        } else if self.astral_actions.is_empty() {
            None
        } else {
            self.astral_actions.get(&ch).copied()
        }
    }

    /// Could a dateline or byline pattern match `text`, by its first character? `false` is
    /// certain: one set lookup instead of each pattern's own (this is asked of every unit).
    #[inline]
    pub fn may_open(&self, text: &str) -> bool {
        self.opener_first.as_ref().map_or(true, |set| set.contains_first(text))
    }

    /// Could a credit pattern match `text`, by its last character? (As [`CompiledRules::may_open`].)
    #[inline]
    pub fn may_end_in_credit(&self, text: &str) -> bool {
        self.credit_last.as_ref().map_or(true, |set| set.contains_last(text))
    }

    /// Can a paragraph end with `ch`?
    #[inline]
    pub fn is_sentence_end(&self, ch: char) -> bool {
        self.sentence_end.contains(ch)
    }

    /// Does an entry of the lexicon start with `ch`?
    #[inline]
    pub fn starts_lexicon_entry(&self, ch: char) -> bool {
        if self.lexicon_first.is_empty() {
            return false;
        }
        // Tables first: the set is asked about every character that needs attention.
        let u = ch as u32;
        if u < 0x80 {
            return self.lexicon_starts_with_ascii(u as u8);
        }
        // A lexicon start is in the attention bitmap (see `build`): a BMP character outside it
        // starts no entry.
        if u < 0x10000 && !self.bmp_needs_attention(u) {
            return false;
        }
        self.lexicon_first.contains(&ch)
    }

    /// Does an entry of the lexicon start with the ASCII byte `b`? (A table: this is asked of
    /// every digit.)
    #[inline]
    pub fn lexicon_starts_with_ascii(&self, b: u8) -> bool {
        self.lexicon_ascii[(b & 0x7f) as usize]
    }

    /// Does normalization have anything to do with the BMP code point `u` (at least 0x80, below
    /// 0x10000)? The attention bitmap read without making a `char` first.
    #[inline]
    pub fn bmp_needs_attention(&self, u: u32) -> bool {
        debug_assert!(u < 0x10000);
        self.attention[attention_index(u)] >> (u % 64) & 1 != 0
    }

    /// The attention bitmap's word for the three-byte UTF-8 sequences whose first two bytes are
    /// the low two bytes of `pair`, in reading order from the high one: `pair` is the text read
    /// big-endian (the other bytes are ignored). Bit `k` of the word stands for the sequence whose
    /// third byte ends in `k` (`k` = its low six bits). A sequence `1110aaaa 10bbbbbb 10cccccc` is
    /// code point `aaaabbbbbbcccccc`; its word is at `aaaa << 8 | bbbbbb`, which is
    /// `pair & 0x0F3F`: one mask.
    ///
    /// (The text read little-endian gives `bbbbbb << 8 | aaaa` for the same mask, the layout until
    /// 2026-11-28: it put the 64 words of a 4,096-code-point block 2 KiB apart, so that the 128
    /// lines of CJK's six blocks fell into 4 of the L1 cache's 64 sets and evicted each other —
    /// 3.6 million L1 misses on 4,000 pages, 94% of normalization's. Here a block's words are
    /// contiguous; the byte swap is one instruction for the two characters of a read.) A
    /// fixed-size table indexed by a masked value: no bounds check.
    #[inline]
    pub fn utf8_attention_word(&self, pair: u64) -> u64 {
        self.attention[(pair & 0x0F3F) as usize]
    }

    /// Does normalization have anything to do with `ch`? (A character it does not attend to is
    /// copied as it is, whatever stands around it.)
    #[inline]
    pub fn needs_attention(&self, ch: char) -> bool {
        let u = ch as u32;
        if u < 0x80 {
            self.ascii_attention[u as usize]
        } else if u < 0x10000 {
            self.bmp_needs_attention(u)
        } else {
            self.char_action(ch).is_some()
        }
    }

    /// The full-width form of an ASCII punctuation mark, if a rule converts it.
    #[inline]
    pub fn punct_for(&self, ch: char) -> Option<(char, RuleIdx)> {
        if ch.is_ascii() {
            self.punct_ascii[ch as usize]
        } else {
            None
        }
    }

    /// The number-sign rule for `ch`: target, rule, only between digits.
    #[inline]
    pub fn numeric_sign_for(&self, ch: char) -> Option<(char, RuleIdx, bool)> {
        let u = ch as u32;
        if u < self.numeric_range.0 || u > self.numeric_range.1 {
            return None;
        }
        self.numeric_signs.get(&ch).copied()
    }

    /// Is `ch` a closing quote or bracket?
    #[inline]
    pub fn is_closing(&self, ch: char) -> bool {
        self.closing.contains(ch)
    }

    /// Is `ch` a character no paragraph starts with?
    #[inline]
    pub fn is_non_initial(&self, ch: char) -> bool {
        self.non_initial.contains(ch)
    }

    /// Does `text` start with a mark no paragraph starts with ([`CompiledRules::is_non_initial`])?
    #[inline]
    pub fn starts_non_initial(&self, text: &str) -> bool {
        self.non_initial.contains_first(text)
    }

    pub fn id(&self, idx: RuleIdx) -> &str {
        &self.ids[idx as usize]
    }
}

fn single_char(s: &str) -> Option<char> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// Expands `{var}` references and compiles with a size limit.
fn compile_pattern(pattern: &str, vars: &BTreeMap<String, String>, file: &str, id: &str) -> Result<Pattern, RuleError> {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}');
        let name = close.map(|c| &after[..c]);
        // `\p{Han}` is a Unicode class, not a variable.
        let is_class = rest[..open].ends_with("\\p") || rest[..open].ends_with("\\P");
        match name {
            // `{2,4}` and friends are regex repetition, not variables.
            Some(n)
                if !is_class
                    && !n.is_empty()
                    && n.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                    && !n.chars().next().unwrap().is_ascii_digit() =>
            {
                let value = vars.get(n).ok_or_else(|| err(file, Some(id), format!("unknown variable `{{{n}}}`")))?;
                out.push_str(&rest[..open]);
                out.push_str("(?:");
                out.push_str(value);
                out.push(')');
                rest = &after[n.len() + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
        if out.len() > PATTERN_MAX_LEN {
            return Err(err(file, Some(id), "pattern is too long after expanding variables"));
        }
    }
    out.push_str(rest);
    if out.len() > PATTERN_MAX_LEN {
        return Err(err(file, Some(id), "pattern is too long after expanding variables"));
    }
    Pattern::compile(&out).map_err(|e| err(file, Some(id), format!("pattern does not compile: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set's answer for the first or last character of a text, or for any character of it,
    /// read from the bytes where it can be, is the answer for the decoded characters: for every
    /// scalar value, alone and between other characters, in sets of punctuation, of Chinese
    /// characters, and of characters that share the filter's slots with others.
    #[test]
    fn set_ends_read_by_bytes_agree_with_characters() {
        let sets = [
            CharSet::new("，。、）”：；！？…".chars().collect()),
            CharSet::new("本新中据法美路塔共".chars().collect()),
            // (一 U+4E00 shares its filter slot, bits 0..10 of the code point, with 刀 U+5200.)
            CharSet::new(vec!['\u{4E00}', 'a', '\u{00B7}', '\u{20000}']),
            CharSet::new(Vec::new()),
        ];
        for set in &sets {
            for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
                let want = set.contains(c);
                for other in ["", "x", "全"] {
                    assert_eq!(set.contains_first(&format!("{c}{other}")), want, "{c:?}");
                    assert_eq!(set.contains_last(&format!("{other}{c}")), want, "{c:?}");
                    // Anywhere in a text, with characters of one to four bytes around it.
                    let around = format!("a·{other}全{c}{other}𪚥z");
                    assert_eq!(set.contains_any(&around), around.chars().any(|c| set.contains(c)), "{c:?}");
                }
            }
            assert!(!set.contains_first("") && !set.contains_last("") && !set.contains_any(""));
        }
        let [_, _, b1, b2] = *"x刀".as_bytes() else { unreachable!() };
        assert!(sets[2].filter_passes(b1, b2) && sets[2].contains_first("一") && !sets[2].contains_first("刀"));
    }

    #[test]
    fn line_shape_finds_its_never_characters() {
        let c = RuleSet::builtin().compile().unwrap();
        let shape = &c.headline;
        assert!(!shape.never.sorted.is_empty());
        for &ch in &shape.never.sorted {
            assert!(shape.has_never(&format!("全区老干部{ch}情况")), "{ch:?}");
        }
        assert!(!shape.has_never("全区老干部情况通报会召开"));
        assert!(!LineShape::default().has_never("。，"));
    }

    #[test]
    fn the_attention_bitmap_read_by_utf8_bytes_is_the_code_point_set() {
        let c = RuleSet::builtin().compile().unwrap();
        let mut attended = 0;
        for ch in ('\u{80}'..='\u{FFFF}').filter(|ch| ch.len_utf8() == 3) {
            let mut b = [0u8; 8];
            ch.encode_utf8(&mut b);
            // The bytes of the next character in the high bytes, as the hot loop reads them.
            b[3..6].copy_from_slice(&[0xE4, 0xB8, 0x80]);
            let w = u64::from_le_bytes(b);
            let by_bytes = c.utf8_attention_word(w.swap_bytes() >> 48).wrapping_shr((w >> 16) as u32) & 1 != 0;
            assert_eq!(by_bytes, c.needs_attention(ch), "{ch:?}");
            attended += by_bytes as usize;
        }
        // Spaces, full-width digits and letters and the character table: some, not all.
        assert!((20..20_000).contains(&attended), "{attended}");
        for ch in ['\u{3000}', '１', '\u{200B}'] {
            assert!(c.needs_attention(ch), "{ch:?}");
        }
        assert!(!c.needs_attention('中') && !c.needs_attention('é'));
    }

    #[test]
    fn pattern_prefilter_reads_anchored_literals() {
        let p = Pattern::compile("^(?:本报|新华社)(?:北京)?(?:电|讯)").unwrap();
        assert!(p.prefixes.is_some() && p.suffixes.is_none());
        assert!(!p.may_match("昨天，本报讯") && p.may_match("本报讯 昨天"));
        let p = Pattern::compile("\\s*(?P<credit>\\p{Han}{2,3})\\s*摄[）)]$").unwrap();
        assert!(p.prefixes.is_none() && p.suffixes.is_some());
        assert!(!p.may_match("张三摄）。") && p.may_match("张三摄）"));
        // Unanchored: nothing to rule out.
        let p = Pattern::compile("本报").unwrap();
        assert!(p.prefixes.is_none() && p.suffixes.is_none() && p.may_match("x"));
    }

    /// Texts made of pieces of the built-in patterns' examples and of text that matches none.
    fn probe_texts() -> Vec<String> {
        let pieces = [
            "本报讯",
            "新华社北京1月15日电",
            "据新华社",
            "（记者 张三 李四）",
            "(记者张三)",
            "记者张三、李四报道：",
            "本报驻埃及记者王五",
            "（新华社记者王五摄）",
            "王五 摄",
            "张三摄",
            "1998年1月13日 星期二",
            "第2版 要闻",
            "责任编辑：赵六",
            "昨天上午，",
            "会议召开。",
            " ",
            "\n",
            "（",
            "）",
            "摄",
            "”",
        ];
        let mut texts = vec![String::new()];
        for a in pieces {
            texts.push(a.to_string());
            for b in pieces {
                texts.push(format!("{a}{b}"));
                for z in ["会议召开。", "（张三摄）", "张三 摄"] {
                    texts.push(format!("{a}{b}{z}"));
                }
            }
        }
        texts
    }

    /// Every pattern of the rule set.
    fn all_patterns(c: &CompiledRules) -> impl Iterator<Item = &Pattern> {
        c.datelines
            .iter()
            .chain(&c.credits)
            .chain(&c.furniture)
            .map(|(p, _)| p)
            .chain(c.bylines.iter().map(|b| &b.regex))
    }

    /// The prefilter never rules out a text its regex matches: every built-in pattern, on the
    /// probe texts.
    #[test]
    fn pattern_prefilter_is_exact_on_builtin_patterns() {
        let c = RuleSet::builtin().compile().unwrap();
        let texts = probe_texts();
        for p in all_patterns(&c) {
            for t in &texts {
                assert!(
                    p.may_match(t) || !p.regex.regex().is_match(t),
                    "{} rules out {t:?}, which it matches",
                    p.as_str()
                );
            }
        }
        // The rule set's unions of the pattern ends rule out no text a pattern matches either,
        // and they do rule texts out.
        assert!(c.opener_first.is_some() && c.credit_last.is_some());
        let openers: Vec<&Pattern> =
            c.datelines.iter().map(|(p, _)| p).chain(c.bylines.iter().map(|b| &b.regex)).collect();
        for t in &texts {
            if openers.iter().any(|p| p.regex.regex().is_match(t)) {
                assert!(c.may_open(t), "{t:?}");
            }
            if c.credits.iter().any(|(p, _)| p.regex.regex().is_match(t)) {
                assert!(c.may_end_in_credit(t), "{t:?}");
            }
        }
        assert!(!c.may_open("昨天") && !c.may_open("") && !c.may_end_in_credit("会议。"));
    }

    /// Groups found over the compressed alphabet are the regex's own, on every built-in pattern
    /// with groups, and the byline and credit patterns do take that path.
    #[test]
    fn pattern_groups_are_the_regex_groups_on_builtin_patterns() {
        let c = RuleSet::builtin().compile().unwrap();
        let texts = probe_texts();
        let mut matched = 0;
        for p in all_patterns(&c) {
            // The regex crate's answers, from the pattern's text: what `Pattern` must give.
            let reference = regex::Regex::new(p.as_str()).unwrap();
            if reference.captures_len() > 1 {
                assert!(p.compact.is_some(), "{} has groups but no compact form", p.as_str());
            }
            for t in &texts {
                assert_eq!(reference.is_match(t), p.is_match(t), "{} on {t:?}", p.as_str());
                assert_eq!(reference.find(t).map(|m| m.range()), p.find(t), "{} on {t:?}", p.as_str());
                let want = reference.captures(t).map(|c| groups::spans_of_reference(&c));
                let got = p.captures(t).map(|g| g.spans);
                assert_eq!(want, got, "{} on {t:?}", p.as_str());
                matched += (p.compact.is_some() && want.is_some()) as usize;
            }
        }
        assert!(matched > 100, "{matched}");
    }

    #[test]
    fn builtin_rules_compile() {
        let c = RuleSet::builtin().compile().unwrap();
        assert!(c.ids.iter().any(|i| i == "punct.halfwidth"));
        assert_eq!(
            c.char_action('２'),
            Some(CharAction::Map('2', c.ids.iter().position(|i| i == "width.digits").unwrap() as RuleIdx))
        );
        assert!(c.is_sentence_end('。'));
        assert!(c.is_non_initial('，'));
    }

    #[test]
    fn override_replaces_and_disables() {
        let mut set = RuleSet::builtin();
        let n = set.rules().len();
        set.add_file(
            "user.toml",
            "[[rule]]\nid = \"stray.or\"\ntype = \"stray_word\"\ndescription = \"off\"\ndisabled = true\n",
            true,
        )
        .unwrap();
        assert_eq!(set.rules().len(), n - 1);
        set.add_file("user.toml", "[[rule]]\nid = \"stray.with\"\ntype = \"stray_word\"\ndescription = \"with\"\nword = \"with\"\nreplacement = \"与\"\n", true).unwrap();
        assert_eq!(set.rules().len(), n);
        assert!(set.compile().unwrap().stray_words.contains_key("with"));
    }

    fn compile_one(text: &str) -> Result<CompiledRules, RuleError> {
        let mut set = RuleSet::builtin();
        set.add_file("bad.toml", text, true)?;
        set.compile()
    }

    #[test]
    fn bad_rule_files_are_errors() {
        let e = compile_one("[[rule]\nid=").unwrap_err();
        assert_eq!(e.file, "bad.toml");
        let e = compile_one("[[rule]]\nid = \"x\"\ntype = \"lexicon\"\ndescription = \"d\"\nmap = {}\ncolour = 1\n")
            .unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
        let e = compile_one("[[rule]]\nid = \"x\"\ntype = \"lexicon\"\ndescription = \"d\"\n[[rule]]\nid = \"x\"\ntype = \"lexicon\"\ndescription = \"d\"\n").unwrap_err();
        assert!(e.message.contains("duplicate"), "{e}");
        let e =
            compile_one("[[rule]]\nid = \"x\"\ntype = \"dateline\"\ndescription = \"d\"\npattern = \"(unclosed\"\n")
                .unwrap_err();
        assert!(e.message.contains("does not compile"), "{e}");
        let e = compile_one("[[rule]]\nid = \"x\"\ntype = \"dateline\"\ndescription = \"d\"\npattern = \"\\\\w{1000}\\\\w{1000}\\\\w{1000}\"\n").unwrap_err();
        assert!(e.message.contains("does not compile"), "{e}");
        let e =
            compile_one("[[rule]]\nid = \"x\"\ntype = \"dateline\"\ndescription = \"d\"\npattern = \"{nosuchvar}\"\n")
                .unwrap_err();
        assert!(e.message.contains("unknown variable"), "{e}");
        let e = compile_one("[[rule]]\nid = \"x\"\ntype = \"teleport\"\ndescription = \"d\"\n").unwrap_err();
        assert!(e.message.contains("teleport"), "{e}");
    }

    #[test]
    fn repetition_braces_are_not_variables() {
        let vars = BTreeMap::from([("n".to_string(), "a".to_string())]);
        let re = compile_pattern("^{n}{2,3}$", &vars, "f", "i").unwrap();
        assert!(re.is_match("aa") && !re.is_match("a"));
    }

    #[test]
    fn fingerprint_changes_with_rules() {
        let a = RuleSet::builtin();
        let mut b = RuleSet::builtin();
        b.add_file(
            "u.toml",
            "[[rule]]\nid = \"stray.or\"\ntype = \"stray_word\"\ndescription = \"d\"\ndisabled = true\n",
            true,
        )
        .unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), RuleSet::builtin().fingerprint());
    }

    #[test]
    fn fingerprint_follows_what_the_rules_say_not_how_the_file_is_written() {
        let one = |text: &str| {
            let mut set = RuleSet::empty();
            set.add_file("f.toml", text, false).unwrap();
            set.fingerprint()
        };
        let rule = "[[rule]]\nid = \"s\"\ntype = \"stray_word\"\nword = \"and\"\nreplacement = \"和\"\n";
        let base =
            one(&format!("{rule}description = \"d\"\n[[rule.examples]]\ninput = \"我and你\"\noutput = \"我和你\"\n"));
        // The same rule with its keys in another order and other spacing.
        let reordered = "[[rule]]\ntype = \"stray_word\"\ndescription = \"d\"\nid = \"s\"\nreplacement = \"和\"\nword=\"and\"\n\n[[rule.examples]]\noutput = \"我和你\"\ninput = \"我and你\"\n";
        assert_eq!(base, one(reordered));
        // Any field that differs, examples included, and a value moved from one field to another.
        for changed in [
            format!("{rule}description = \"e\"\n[[rule.examples]]\ninput = \"我and你\"\noutput = \"我和你\"\n"),
            format!("{rule}description = \"d\"\n[[rule.examples]]\ninput = \"我and你\"\noutput = \"我和 你\"\n"),
            format!("{rule}description = \"d\"\n[[rule.examples]]\ninput = \"我and你\"\n"),
            format!("{rule}description = \"d\"\nmax_lines = 2\n[[rule.examples]]\ninput = \"我and你\"\noutput = \"我和你\"\n"),
        ] {
            assert_ne!(base, one(&changed), "{changed}");
        }
        assert_ne!(
            one("[[rule]]\nid = \"a\"\ntype = \"stray_word\"\ndescription = \"xy\"\nword = \"z\"\n"),
            one("[[rule]]\nid = \"a\"\ntype = \"stray_word\"\ndescription = \"x\"\nword = \"yz\"\n")
        );
    }
}
