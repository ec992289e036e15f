//! Synthetic page corpora for throughput measurements, built by recombining real pages.
//!
//! Shared by `examples/gen_corpus.rs` (writes a corpus to disk) and `benches/pipeline.rs` (builds
//! one in memory); both include this file with `#[path]`, so it is not a target of its own.
//!
//! # How pages are made
//!
//! Every source page is decoded with [`newsmend::decode::decode`] and cut into a *preamble* (the
//! blocks before the first headline: page headers, dates) and *articles* (a headline block and the
//! blocks after it, up to the next headline). A headline is found by shape only: a block of one
//! short line that does not end a sentence, after a block that does. This is deliberately
//! independent of newsmend's own segmenter, so that the corpus does not change when the
//! segmenter does.
//!
//! Pages are grouped by layout (hard-wrap width, indented paragraphs, Traditional script), so
//! that a generated page never mixes layouts: articles wrapped at 14 characters only meet
//! articles wrapped at 14 characters. A generated page takes a random source page as its
//! template (its preamble, its line ends, its BOM, its size give or take) and fills it with
//! articles drawn at random from the template's layout group. An article keeps its blocks in
//! order, so column breaks inside it still break words the way OCR did; its artifacts (half-width
//! punctuation, stray words, spaces, full-width digits, confusions) come along unchanged.
//!
//! Everything is deterministic for a seed and a set of source files: sources are read in sorted
//! path order, and the random generator is a fixed SplitMix64.

#![allow(dead_code)] // each includer uses part of it

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Output encodings of a generated corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    Utf8,
    Gb18030,
    Utf16Le,
}

impl Enc {
    pub fn parse(s: &str) -> Option<Enc> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Some(Enc::Utf8),
            "gb18030" | "gbk" => Some(Enc::Gb18030),
            "utf-16le" | "utf16le" | "utf-16" => Some(Enc::Utf16Le),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Enc::Utf8 => "utf-8",
            Enc::Gb18030 => "gb18030",
            Enc::Utf16Le => "utf-16le",
        }
    }
}

impl fmt::Display for Enc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SplitMix64: tiny, fast, and fixed forever (a corpus must not change with a crate version).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6E65_7773_6D65_6E64) // "newsmend"
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 11) as u128 * n as u128) >> 53) as usize
    }

    /// Uniform in `[lo, hi)`.
    pub fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// Page layout, as far as recombination has to respect it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Layout {
    /// Hard-wrap width in characters, 0 for unwrapped pages.
    pub wrap: usize,
    /// Paragraphs start indented.
    pub indent: bool,
    /// Decoded from Big5: Traditional script.
    pub traditional: bool,
}

/// A decoded source page, cut into preamble and articles.
#[derive(Debug, Clone)]
pub struct SourcePage {
    pub name: String,
    pub layout: Layout,
    pub preamble: String,
    pub articles: Vec<String>,
    /// Decoded length in bytes (UTF-8).
    pub len: usize,
    pub crlf: bool,
    pub bom: bool,
}

/// All source pages, grouped by layout.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub pages: Vec<SourcePage>,
    /// Layout → indices into `pages`.
    groups: BTreeMap<Layout, Vec<usize>>,
    /// FNV-1a over the decoded texts, in order: identifies the sources in a corpus manifest.
    pub fingerprint: u64,
    /// Files that were skipped, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Sources {
    /// Reads every `*.txt` file under `dirs` (recursively, in sorted order). Files that do not
    /// decode are skipped and listed in `skipped`.
    pub fn load(dirs: &[PathBuf]) -> std::io::Result<Sources> {
        let mut files = Vec::new();
        for d in dirs {
            collect_txt(d, &mut files)?;
        }
        let mut pages = Vec::new();
        let mut skipped = Vec::new();
        for f in files {
            let bytes = std::fs::read(&f)?;
            match newsmend::decode::decode(&bytes, None) {
                Ok(d) => pages.push(RawSource {
                    name: f.display().to_string(),
                    text: d.text,
                    traditional: d.encoding.eq_ignore_ascii_case("big5"),
                    crlf: d.line_ends_normalized > 0,
                    bom: d.bom,
                }),
                Err(e) => skipped.push((f, e.to_string())),
            }
        }
        let mut s = Sources::from_raw(pages);
        s.skipped = skipped;
        Ok(s)
    }

    /// Sources from decoded texts (`name`, `text`), e.g. a page embedded in a benchmark.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = (&'a str, &'a str)>) -> Sources {
        Sources::from_raw(
            texts
                .into_iter()
                .map(|(n, t)| RawSource {
                    name: n.to_string(),
                    text: t.replace("\r\n", "\n"),
                    traditional: false,
                    crlf: false,
                    bom: false,
                })
                .collect(),
        )
    }

    fn from_raw(raw: Vec<RawSource>) -> Sources {
        let mut fingerprint = 0xcbf2_9ce4_8422_2325u64;
        let mut pages = Vec::new();
        // The same page in several encodings (samples/seed) counts once.
        let mut seen = std::collections::HashSet::new();
        for r in raw {
            if !seen.insert(r.text.clone()) {
                continue;
            }
            for b in r.text.as_bytes().iter().chain(&[0xFF]) {
                fingerprint = (fingerprint ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
            }
            let (preamble, articles) = split_page(&r.text);
            if articles.is_empty() {
                continue;
            }
            let layout = Layout { wrap: wrap_width(&r.text), indent: is_indented(&r.text), traditional: r.traditional };
            pages.push(SourcePage {
                name: r.name,
                layout,
                preamble,
                articles,
                len: r.text.len(),
                crlf: r.crlf,
                bom: r.bom,
            });
        }
        let mut groups: BTreeMap<Layout, Vec<usize>> = BTreeMap::new();
        for (i, p) in pages.iter().enumerate() {
            groups.entry(p.layout).or_default().push(i);
        }
        Sources { pages, groups, fingerprint, skipped: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    pub fn total_len(&self) -> usize {
        self.pages.iter().map(|p| p.len).sum()
    }

    pub fn article_count(&self) -> usize {
        self.pages.iter().map(|p| p.articles.len()).sum()
    }

    pub fn layouts(&self) -> usize {
        self.groups.len()
    }
}

struct RawSource {
    name: String,
    text: String,
    traditional: bool,
    crlf: bool,
    bom: bool,
}

fn collect_txt(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_txt(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "txt") {
            out.push(p);
        }
    }
    Ok(())
}

/// Blank-line separated blocks of a page, each as its lines.
fn blocks(text: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(line);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn ends_sentence(line: &str) -> bool {
    line.trim_end().ends_with(['。', '！', '？', '”', '）', ')', '」', '…', '.', '!', '?'])
}

fn headline_shaped(block: &[&str]) -> bool {
    if block.len() != 1 {
        return false;
    }
    let t = block[0].trim();
    let n = t.chars().count();
    (2..=40).contains(&n) && !ends_sentence(t) && !t.ends_with(['，', ',', '、', '；', ';', '：', ':'])
}

/// Cuts a page into its preamble and its articles (see the module docs).
fn split_page(text: &str) -> (String, Vec<String>) {
    let bs = blocks(text);
    let mut starts = Vec::new();
    for i in 0..bs.len() {
        // After the end of something: a sentence, or (before the first headline) a header block.
        let after_end = i == 0
            || bs[i - 1].last().is_some_and(|l| ends_sentence(l))
            || (starts.is_empty() && bs[i - 1].iter().all(|l| l.trim().chars().count() <= 24));
        if i + 1 < bs.len() && after_end && headline_shaped(&bs[i]) {
            starts.push(i);
        }
    }
    // A page without headlines is one brief; a page whose first headline comes after body text
    // keeps that text as an article of its own (a brief), not as preamble.
    let first = starts.first().copied().unwrap_or(bs.len());
    let pre = &bs[..first];
    let pre_is_header = first < bs.len()
        && pre.iter().map(Vec::len).sum::<usize>() <= 4
        && pre.iter().all(|b| b.iter().all(|l| l.trim().chars().count() <= 24));
    let (pre_end, mut cuts) = if pre_is_header {
        (first, starts.clone())
    } else {
        (0, std::iter::once(0).chain(starts.iter().copied().filter(|&s| s > 0)).collect())
    };
    if cuts.is_empty() && pre_end < bs.len() {
        cuts.push(pre_end);
    }
    let join = |r: &[Vec<&str>]| r.iter().map(|b| b.join("\n")).collect::<Vec<_>>().join("\n\n");
    let preamble = join(&bs[..pre_end]);
    let mut articles = Vec::new();
    for (k, &s) in cuts.iter().enumerate() {
        let e = cuts.get(k + 1).copied().unwrap_or(bs.len());
        if s < e {
            articles.push(join(&bs[s..e]));
        }
    }
    (preamble, articles)
}

/// The hard-wrap width: the most common width of lines that continue into a next line of their
/// block, when it covers at least half of them (0 otherwise).
fn wrap_width(text: &str) -> usize {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    let mut continuing = 0;
    for b in blocks(text) {
        for l in &b[..b.len() - 1] {
            *counts.entry(l.trim_end().chars().count()).or_default() += 1;
            continuing += 1;
        }
    }
    match counts.iter().max_by_key(|&(w, n)| (*n, *w)) {
        Some((&w, &n)) if n >= 3 && w >= 6 && n * 2 >= continuing => w,
        _ => 0,
    }
}

fn is_indented(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let indented = lines.iter().filter(|l| l.starts_with(['\u{3000}', '\t']) || l.starts_with("  ")).count();
    indented >= 2 && indented * 8 >= lines.len()
}

/// A generated page, as text (LF line ends) plus how it is to be written.
#[derive(Debug, Clone)]
pub struct Page {
    pub text: String,
    pub crlf: bool,
    pub bom: bool,
}

impl Page {
    /// The bytes of the page in `enc`, with CRLF line ends and a BOM where the template had them
    /// (UTF-16LE always gets a BOM; GB18030 never does).
    pub fn encode(&self, enc: Enc) -> Vec<u8> {
        let text = if self.crlf {
            std::borrow::Cow::Owned(self.text.replace('\n', "\r\n"))
        } else {
            std::borrow::Cow::Borrowed(self.text.as_str())
        };
        match enc {
            Enc::Utf8 => {
                let mut out = Vec::with_capacity(text.len() + 3);
                if self.bom {
                    out.extend_from_slice(b"\xEF\xBB\xBF");
                }
                out.extend_from_slice(text.as_bytes());
                out
            }
            Enc::Gb18030 => {
                // GB18030 maps all of Unicode, so nothing is lost (no numeric character references).
                let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
                debug_assert!(!unmappable);
                bytes.into_owned()
            }
            Enc::Utf16Le => {
                // encoding_rs does not encode to UTF-16 (WHATWG), so do it by hand.
                let mut out = Vec::with_capacity(text.len() * 2 + 2);
                out.extend_from_slice(b"\xFF\xFE");
                for u in text.encode_utf16() {
                    out.extend_from_slice(&u.to_le_bytes());
                }
                out
            }
        }
    }
}

/// Makes pages from sources, deterministically for a seed.
pub struct Generator<'a> {
    sources: &'a Sources,
    rng: Rng,
}

impl<'a> Generator<'a> {
    pub fn new(sources: &'a Sources, seed: u64) -> Generator<'a> {
        assert!(!sources.is_empty(), "no source pages");
        Generator { sources, rng: Rng::new(seed) }
    }

    /// The next page: a template's preamble, then articles of the template's layout until the
    /// page is about the template's size (0.6×–1.6×).
    pub fn next_page(&mut self) -> Page {
        let s = self.sources;
        let t = &s.pages[self.rng.below(s.pages.len())];
        let group = &s.groups[&t.layout];
        let target = (t.len as f64 * self.rng.range_f64(0.6, 1.6)) as usize;
        let mut text = String::with_capacity(target + 4096);
        if !t.preamble.is_empty() {
            text.push_str(&t.preamble);
        }
        loop {
            let p = &s.pages[group[self.rng.below(group.len())]];
            let a = &p.articles[self.rng.below(p.articles.len())];
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(a);
            if text.len() >= target {
                break;
            }
        }
        text.push('\n');
        Page { text, crlf: t.crlf, bom: t.bom }
    }

    /// Encoded pages until at least `bytes` bytes in total.
    pub fn encoded_pages(&mut self, enc: Enc, bytes: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut total = 0;
        while total < bytes {
            let b = self.next_page().encode(enc);
            total += b.len();
            out.push(b);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn split_keeps_header_and_articles() {
        use super::split_page;
        let page = "1998年1月10日 星期六\n第2版\n\n标题一\n\n本报讯 正文。\n\n续文。\n\n标题二\n\n新华社电 正文。";
        let (pre, arts) = split_page(page);
        assert_eq!(pre, "1998年1月10日 星期六\n第2版");
        assert_eq!(
            arts,
            vec!["标题一\n\n本报讯 正文。\n\n续文。".to_string(), "标题二\n\n新华社电 正文。".to_string()]
        );
    }
}
