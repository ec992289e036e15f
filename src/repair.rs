//! Stage 3: from lines to paragraphs (SPEC A1), then each paragraph's text through
//! [`crate::normalize`].
//!
//! OCR delivers lines. A paragraph may be cut by a hard line wrap (a single newline) or by a
//! column or page break (a blank line), in the middle of a word. Reading the page back into
//! paragraphs takes three facts about its layout, all measured on the page itself:
//!
//! * **wrap width**: when most lines that continue into a next line have the same length, the
//!   page is hard-wrapped at that width, and a shorter line ends its paragraph;
//! * **indentation**: when paragraphs start indented (`　　`), an indented line starts a paragraph
//!   and an unindented one after a break continues the one before;
//! * **sentence ends**: a line or block that does not end like a sentence (`layout.sentence-end`)
//!   was cut, and text that starts with a character no paragraph starts with
//!   (`layout.non-initial`) continues the text before it.
//!
//! Text across a blank line is joined only when nothing says that a new item starts there: not a
//! dateline or byline (those start articles and briefs), not a headline (a short single-line block
//! followed by such a start or by a photo caption), not page furniture or a column label.
//!
//! Every join is an edit (`join.line-wrap`, `join.column-break`). A join that probably lost a
//! character at the break is kept as it is and flagged (`join.lost-char`): see [`lost_char`].

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use crate::edits::{EditLog, RawEdit};
use crate::normalize::{normalize_pieces, Mode, ParaText, Scratch};
use crate::record::Flag;
use crate::rules::CompiledRules;
use crate::segment;
use crate::text::{
    char_len, for_each_line, head_bytes, head_chars, is_cjk, is_han, is_zero_width, leading_blank_len, tail_bytes,
    tail_chars, trailing_blank_or_cr_len, LineSink,
};

thread_local! {
    /// Buffers for normalizing units (the paragraph assembly has its own).
    static PREVIEW_SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
    /// The layout's buffers, kept from page to page.
    static PAGE_BUFFERS: std::cell::RefCell<PageBuffers> = std::cell::RefCell::new(PageBuffers::default());
}

/// Developer switches (see the README's Layout of the repository): `NEWSMEND_DEBUG_LAYOUT` prints
/// each page's layout facts and units to stderr, `NEWSMEND_DEBUG_SUBHEAD` each unit taken for a
/// subhead. Read once per process: reading the environment takes a lock, and the layout switch was
/// read on every page.
static DEBUG_LAYOUT: LazyLock<bool> = LazyLock::new(|| std::env::var_os("NEWSMEND_DEBUG_LAYOUT").is_some());
static DEBUG_SUBHEAD: LazyLock<bool> = LazyLock::new(|| std::env::var_os("NEWSMEND_DEBUG_SUBHEAD").is_some());

/// What the layout of a page is worked out in: a dozen vectors a page, kept from page to page
/// on each thread instead of allocated anew (they were a tenth of a page's allocations).
#[derive(Default)]
struct PageBuffers {
    lines: Vec<Line>,
    blocks: Vec<Range<usize>>,
    /// Where paragraphs end inside blocks (see [`measure`]).
    breaks: Vec<bool>,
    /// Widths of the lines that continue (see [`measure`]).
    counts: Vec<usize>,
    /// Which lines of a block are furniture (see [`make_units`]).
    furniture: Vec<bool>,
    units: Vec<Unit>,
    /// The edits that normalized each unit, at the unit's index: kept here, from page to page,
    /// rather than in the units (a log is 260 bytes, mostly its counters, and was moved with its
    /// unit and zeroed for every one of them).
    logs: Vec<EditLog>,
    plan: Plan,
    /// The line ranges of the paragraph being assembled.
    pieces: Vec<Range<usize>>,
}

impl PageBuffers {
    /// Lets the memory go after a page far larger than most (a 50 MB page has about a million
    /// lines): the buffers are kept for the pages that come next, not sized by the largest page
    /// a thread ever read.
    fn trim(&mut self) {
        // 16,384 lines: half a MiB of `Line`s, a page of about 650 KB.
        const KEEP_LINES: usize = 1 << 14;
        if self.lines.capacity() > KEEP_LINES || self.units.capacity() > KEEP_LINES / 4 {
            *self = PageBuffers::default();
        }
    }
}

/// Flag code of a join that probably lost a character.
pub const LOST_CHAR: &str = "join.lost-char";

/// How much text around a unit's ends the look-ahead reads, in characters and in bytes.
const PREVIEW_CHARS: usize = 80;
const PREVIEW_BYTES: usize = 240;

/// One line of the page.
#[derive(Debug, Clone)]
pub struct Line {
    /// Byte range of the text without indentation and trailing whitespace.
    pub content: Range<usize>,
    /// Starts with an ideographic space, a tab or two spaces.
    pub indent: bool,
    /// Length of the line in characters, indentation and trailing spaces included.
    pub width: usize,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.content.is_empty()
    }
}

/// What a paragraph is, as far as layout can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Body,
    Headline,
    Furniture,
    Label,
}

/// A paragraph of the page, repaired.
#[derive(Debug, Clone)]
pub struct Paragraph {
    pub role: Role,
    pub text: ParaText,
    /// Byte range in the page from the start of its first line's text to the end of its last.
    pub span: Range<usize>,
    pub edits: Vec<RawEdit>,
    pub flags: Vec<Flag>,
    /// Layout's look-ahead saw a dateline or byline at the start of this paragraph, and a credit
    /// at its end: segmentation reads them only where these say so.
    pub opens: bool,
    pub ends_credit: bool,
}

/// A run of lines that layout treats as one paragraph before cross-break joins.
#[derive(Debug)]
struct Unit {
    lines: Range<usize>,
    block: usize,
    indent: bool,
    /// Indented as paragraphs are (see [`PARAGRAPH_INDENT_COLUMNS`]), not further.
    paragraph_indent: bool,
    single_line_block: bool,
    furniture: bool,
    label: bool,
    /// Nothing but symbols (`＊＊＊`, `———`): a separator that joins nothing.
    ornament: bool,
    /// The whole normalized text is short (`whole()` gives it).
    short: bool,
    /// The text ends like a sentence (see [`ends_sentence`]).
    ends_sentence: bool,
    /// The text ends in a photo credit.
    ends_credit: bool,
    /// The text on its own opens an item (dateline, byline).
    opens: bool,
    /// The unit's text, normalized on its own (the edits that made it are in
    /// [`PageBuffers::logs`]): a paragraph that is one unit (most are) takes it as it is; a
    /// chain of units is normalized again as a whole unless its units' texts join as they are.
    text: ParaText,
}

impl Unit {
    /// The start of the normalized text (a preview for the look-ahead).
    fn head(&self) -> &str {
        head_bytes(&self.text.text, PREVIEW_BYTES)
    }

    /// The end of the normalized text.
    fn tail(&self) -> &str {
        tail_bytes(&self.text.text, PREVIEW_BYTES)
    }

    /// The whole normalized text, when it is short.
    fn whole(&self) -> Option<&str> {
        self.short.then_some(self.text.text.as_str())
    }
}

/// Page-wide layout facts.
#[derive(Debug, Clone, Copy)]
struct PageLayout {
    /// Hard-wrap width in characters, when the page is wrapped at a fixed width.
    wrap: Option<usize>,
    /// Paragraphs start indented.
    indent_page: bool,
    /// Lines are wrapped, but not at a fixed width: a line that does not end a sentence continues.
    ragged: bool,
    /// Paragraphs follow each other without blank lines, so a blank line inside an item is a
    /// column or page break even after a full stop.
    tight: bool,
}

/// Splits the page into lines.
pub fn lines(page: &str) -> Vec<Line> {
    let mut out = Vec::new();
    lines_into(page, &mut out);
    out
}

/// Splits the page into lines, into `out` (cleared first).
fn lines_into(page: &str, out: &mut Vec<Line>) {
    out.clear();
    out.reserve(page.len() / 40 + 1);
    for_each_line(page, LineTable { page, out });
}

/// The [`LineSink`] that fills the page's line table: the one that is inlined into the scan.
struct LineTable<'a> {
    page: &'a str,
    out: &'a mut Vec<Line>,
}

impl LineSink for LineTable<'_> {
    #[inline(always)]
    fn line(&mut self, range: Range<usize>, chars: usize) {
        self.out.push(line(self.page, range, chars));
    }
}

/// The line at `range` (without its line feed), which is `chars` characters long.
#[inline(always)]
fn line(page: &str, range: Range<usize>, chars: usize) -> Line {
    // Most lines start and end with a character that is no space, zero-width character or
    // carriage return: told by the bytes at each end, without decoding.
    let bytes = &page.as_bytes()[range.clone()];
    if leading_blank_len(bytes) == 0 && trailing_blank_or_cr_len(bytes) == 0 {
        return Line { content: range, indent: false, width: chars };
    }
    line_trimmed(bytes, range, chars)
}

/// [`line`] for a line (`bytes`, at `range` in the page) that starts or ends with blanks: its
/// indentation and trailing blanks taken off a character at a time, each told by its bytes.
#[inline(never)]
fn line_trimmed(bytes: &[u8], range: Range<usize>, chars: usize) -> Line {
    let mut lead = 0;
    let mut spaces = 0;
    let mut indent = false;
    loop {
        let n = leading_blank_len(&bytes[lead..]);
        match &bytes[lead..lead + n] {
            [] => break,
            // (An ideographic space or a tab indents alone; spaces and no-break spaces by two.)
            [b'\t'] | [0xE3, 0x80, 0x80] => indent = true,
            [b' '] | [0xC2, 0xA0] => spaces += 1,
            _ => {}
        }
        lead += n;
    }
    indent |= spaces >= 2;
    let mut end = bytes.len();
    loop {
        let n = trailing_blank_or_cr_len(&bytes[lead..end]);
        if n == 0 {
            break;
        }
        end -= n;
    }
    let content = range.start + lead..range.start + end;
    // The wrap width is measured on the whole line: a wrapper counts the spaces it ends on, not
    // the carriage returns. (Indentation is never a carriage return: those at the end are the
    // body's.)
    let returns = bytes.iter().rev().take_while(|&&b| b == b'\r').count();
    Line { content, indent, width: chars - returns }
}

/// Does `text` end like a sentence? A closing quote or bracket counts only when what it closes
/// ends one (`。”`, `。（王雅平）`), not when it closes a term (`“十五大”`).
pub fn ends_sentence(rules: &CompiledRules, text: &str) -> bool {
    // Most texts end in a plain character or a full stop: decided by the last character alone.
    match text.chars().next_back() {
        None => return false,
        Some(c) if !rules.is_closing(c) => return rules.is_sentence_end(c),
        Some(_) => {}
    }
    // The last 48 characters, reversed; the last 8 first, which decide most closing marks
    // (`。”`, `。）`) without decoding the rest.
    let mut rev = ['\0'; SENTENCE_LOOKBACK];
    let mut n = 0;
    let mut chars = text.chars().rev();
    for c in chars.by_ref().take(8) {
        rev[n] = c;
        n += 1;
    }
    if let Some(answer) = ends_sentence_at(rules, &rev[..n], 0, n < 8) {
        return answer;
    }
    for c in chars.take(SENTENCE_LOOKBACK - n) {
        rev[n] = c;
        n += 1;
    }
    ends_sentence_at(rules, &rev[..n], 0, true).unwrap_or(false)
}

/// How far back `ends_sentence` reads, in characters.
const SENTENCE_LOOKBACK: usize = 48;

/// `ends_sentence` on reversed characters, from index `i` (the last character considered).
/// `complete`: `rev` holds all the characters the answer may need (the last
/// `SENTENCE_LOOKBACK`, or all of a shorter text); when it does not and the answer would read
/// past its end, `None`.
fn ends_sentence_at(rules: &CompiledRules, rev: &[char], i: usize, complete: bool) -> Option<bool> {
    let more = || if complete { Some(false) } else { None };
    let Some(&c) = rev.get(i) else { return more() };
    if rules.is_sentence_end(c) {
        return Some(true);
    }
    if !rules.is_closing(c) {
        return Some(false);
    }
    if matches!(c, '）' | ')') {
        // `……。）` ends inside; `……。（王雅平）` ends before the parentheses.
        match rev.get(i + 1) {
            Some(&p) if rules.is_sentence_end(p) => return Some(true),
            None if !complete => return None,
            _ => {}
        }
        return match rev[i + 1..].iter().position(|&p| matches!(p, '（' | '(')) {
            // A parenthesis that is all there is (an author mark on its own line) ends too.
            Some(j) if i + 1 + j + 1 >= rev.len() => complete.then_some(true),
            Some(j) => ends_sentence_at(rules, rev, i + 1 + j + 1, complete),
            // One opened before the text we see (a credit cut by a break): it closes an author
            // mark or a credit, which end what they follow.
            None => complete.then_some(rev.len() < SENTENCE_LOOKBACK),
        };
    }
    ends_sentence_at(rules, rev, i + 1, complete)
}

fn measure(
    rules: &CompiledRules,
    page: &str,
    lines: &[Line],
    blocks: &[Range<usize>],
    breaks: &mut Vec<bool>,
    counts: &mut Vec<usize>,
) -> PageLayout {
    // Lengths of the lines that continue into another line of their block.
    // counts[w]: how many such lines are w characters wide.
    counts.clear();
    let mut continuing = 0;
    let mut open_ended = 0;
    for b in blocks {
        for l in &lines[b.start..b.end - 1] {
            if counts.len() <= l.width + 1 {
                counts.resize(l.width + 2, 0);
            }
            counts[l.width] += 1;
            continuing += 1;
            if !line_ends_sentence(rules, &page[l.content.clone()]) {
                open_ended += 1;
            }
        }
    }
    let wrap = counts
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n > 0)
        .max_by_key(|&(w, &n)| (n, w))
        .filter(|&(w, &n)| n >= 3 && w >= 6 && (n + counts.get(w + 1).copied().unwrap_or(0)) * 2 >= continuing)
        .map(|(w, _)| w);
    let indented = lines.iter().filter(|l| !l.is_blank() && l.indent).count();
    let indent_page = indented >= 2 && indented * 4 >= blocks.len();
    // Too few lines to measure anything: a line that does not end a sentence goes on.
    let ragged = wrap.is_none()
        && !indent_page
        && if continuing < 3 { open_ended > 0 } else { open_ended >= 3 && open_ended * 2 > continuing };
    let mut layout = PageLayout { wrap, indent_page, ragged, tight: false };
    // Where paragraphs end inside blocks (what `units` splits at); two or more make a tight page.
    // (`paragraph_ends` does not read `tight`.)
    breaks.clear();
    breaks.resize(lines.len(), false);
    let mut inner_breaks = 0;
    for b in blocks {
        for i in b.start..b.end - 1 {
            if paragraph_ends(rules, page, &lines[i], &lines[i + 1], layout) {
                breaks[i] = true;
                inner_breaks += 1;
            }
        }
    }
    layout.tight = inner_breaks >= 2;
    layout
}

/// Does a raw line end like a sentence? The sentence-end and closing classes hold the half-width
/// marks too, so the line's last characters need no normalization for this.
fn line_ends_sentence(rules: &CompiledRules, line: &str) -> bool {
    // Most lines are decided by their last character alone (as in `ends_sentence`), without
    // walking back to find the tail.
    match line.chars().next_back() {
        None => false,
        Some(c) if !rules.is_closing(c) => rules.is_sentence_end(c),
        Some(_) => ends_sentence(rules, tail_chars(line, 12)),
    }
}

/// Reads the page into paragraphs.
pub fn paragraphs(rules: &CompiledRules, page: &str, scratch: &mut Scratch, log: &mut EditLog) -> Vec<Paragraph> {
    PAGE_BUFFERS.with(|b| {
        let b = &mut *b.borrow_mut();
        let out = paragraphs_in(rules, page, scratch, log, b);
        // (What is left of the units, their texts taken, goes now rather than with the next page.)
        b.units.clear();
        b.trim();
        out
    })
}

fn paragraphs_in(
    rules: &CompiledRules,
    page: &str,
    scratch: &mut Scratch,
    log: &mut EditLog,
    b: &mut PageBuffers,
) -> Vec<Paragraph> {
    let PageBuffers { lines, blocks, breaks, counts, furniture, units, logs, plan, pieces } = b;
    lines_into(page, lines);
    let lines = &lines[..];
    // (At most one block per two lines, blank lines between them: sized once.)
    blocks.clear();
    blocks.reserve(lines.len() / 2 + 1);
    let mut i = 0;
    while i < lines.len() {
        if lines[i].is_blank() {
            i += 1;
            continue;
        }
        let s = i;
        while i < lines.len() && !lines[i].is_blank() {
            i += 1;
        }
        blocks.push(s..i);
    }
    let layout = measure(rules, page, lines, blocks, breaks, counts);
    make_units(rules, page, lines, blocks, breaks, layout, log.explain && !log.muted, furniture, units, logs);
    make_plan(rules, units, layout, plan);
    if *DEBUG_LAYOUT {
        eprintln!("{layout:?}");
        for (i, u) in units.iter().enumerate() {
            eprintln!(
                "{i} b{} lines{:?} ind{} single{} furn{} label{} start{} cap{} join{} head{} | {} … {}",
                u.block,
                u.lines,
                u.indent,
                u.single_line_block,
                u.furniture,
                u.label,
                plan.starts[i],
                plan.caption[i],
                plan.joins[i],
                plan.headline[i],
                head_chars(u.head(), 20),
                tail_chars(u.tail(), 20)
            );
        }
    }
    let mut out = Vec::with_capacity(units.len());
    let mut k = 0;
    while k < units.len() {
        let first = k;
        while plan.joins[k] {
            k += 1;
        }
        let chain = &mut units[first..=k];
        let chain_logs = &mut logs[first..=k];
        let role = if chain[0].furniture {
            Role::Furniture
        } else if chain[0].label {
            Role::Label
        } else if plan.headline[k] {
            // A chain ends in its headline unit: a headline line before it joined it.
            Role::Headline
        } else {
            Role::Body
        };
        let mut para = assemble(rules, page, lines, chain, chain_logs, role, pieces, scratch, log);
        para.opens = plan.starts[first];
        para.ends_credit = plan.caption[first];
        out.push(para);
        k += 1;
    }
    out
}

/// Splits blocks into units (into `units`, cleared first, and their edits into `logs` at the same
/// index): furniture runs, column labels, and paragraphs by indentation, wrap width or sentence
/// ends.
#[allow(clippy::too_many_arguments)]
fn make_units(
    rules: &CompiledRules,
    page: &str,
    lines: &[Line],
    blocks: &[Range<usize>],
    breaks: &[bool],
    layout: PageLayout,
    explain: bool,
    furniture: &mut Vec<bool>,
    units: &mut Vec<Unit>,
    logs: &mut Vec<EditLog>,
) {
    units.clear();
    units.reserve(blocks.len() * 2);
    for (bi, b) in blocks.iter().enumerate() {
        let single = b.len() == 1;
        // Furniture stands in short blocks of its own or at the top of the page; long blocks of
        // text are not searched for it line by line.
        furniture.clear();
        furniture.extend(lines[b.clone()].iter().enumerate().map(|(i, l)| {
            (b.len() <= 4 || b.start + i < 3) && segment::is_furniture_line(rules, &page[l.content.clone()])
        }));
        if is_label_block(rules, page, &lines[b.clone()]) && !furniture.iter().any(|&f| f) {
            let log = unit_log(logs, units.len(), explain);
            units.push(make_unit(rules, page, lines, b.clone(), bi, single, false, true, log));
            continue;
        }
        let mut s = b.start;
        // Parentheses left open by the lines of the current unit: a byline or a caption credit
        // cut after `（记者` or `(` goes on in the next line.
        let mut depth: isize = 0;
        for i in b.clone() {
            let last = i + 1 == b.end;
            let f = furniture[i - b.start];
            // (Indented pages break at indentation whatever is open, and a block's last line
            // ends its unit: neither needs the count.)
            if !layout.indent_page && !last {
                depth += paren_balance(&page[lines[i].content.clone()]);
            }
            let open = depth > 0 && !layout.indent_page;
            let brk = last || f != furniture[i + 1 - b.start] || (!f && !open && breaks[i]);
            if brk {
                let log = unit_log(logs, units.len(), explain);
                units.push(make_unit(rules, page, lines, s..i + 1, bi, single, f, false, log));
                s = i + 1;
                depth = 0;
            }
        }
    }
}

/// The log for unit `k`, reused from an earlier page (emptied) or made.
fn unit_log(logs: &mut Vec<EditLog>, k: usize, explain: bool) -> &mut EditLog {
    if k == logs.len() {
        logs.push(EditLog::new(explain));
    } else {
        logs[k].reset(explain);
    }
    &mut logs[k]
}

/// Does the paragraph end after line `a`, with `b` the next line of the same block?
fn paragraph_ends(rules: &CompiledRules, page: &str, a: &Line, b: &Line, layout: PageLayout) -> bool {
    // A line that starts with a mark no paragraph starts with (`，`, `”`) continues.
    if rules.starts_non_initial(&page[b.content.clone()]) {
        return false;
    }
    if layout.indent_page {
        return b.indent;
    }
    let text = &page[a.content.clone()];
    if let Some(w) = layout.wrap {
        return a.width < w;
    }
    if layout.ragged {
        return line_ends_sentence(rules, text) || b.indent;
    }
    // Lines of an unwrapped page are paragraphs.
    true
}

/// Opening minus closing parentheses (ASCII and full-width) in `text`, counted on the bytes:
/// `（` and `）` are EF BC 88 and EF BC 89, the only characters with those three bytes.
fn paren_balance(text: &str) -> isize {
    let b = text.as_bytes();
    let mut n = 0isize;
    for i in memchr::memchr3_iter(b'(', b')', 0xBC, b) {
        n += match b[i] {
            b'(' => 1,
            b')' => -1,
            _ if i > 0 && b[i - 1] == 0xEF => match b.get(i + 1) {
                Some(0x88) => 1,
                Some(0x89) => -1,
                _ => 0,
            },
            _ => 0,
        };
    }
    n
}

fn is_label_block(rules: &CompiledRules, page: &str, lines: &[Line]) -> bool {
    let Some(p) = rules.label else { return false };
    (p.min_lines..=p.max_lines).contains(&lines.len())
        && lines.iter().all(|l| {
            let t = &page[l.content.clone()];
            let n = char_len(t);
            n >= 1 && n <= p.max_line_chars && t.chars().all(is_han)
        })
}

#[allow(clippy::too_many_arguments)]
fn make_unit(
    rules: &CompiledRules,
    page: &str,
    lines: &[Line],
    r: Range<usize>,
    block: usize,
    single_line_block: bool,
    furniture: bool,
    label: bool,
    log: &mut EditLog,
) -> Unit {
    let mut text = ParaText::default();
    if !furniture {
        let pieces = lines[r.clone()].iter().map(|l| l.content.clone());
        PREVIEW_SCRATCH
            .with(|s| normalize_pieces(rules, page, pieces, Mode::Text, &mut s.borrow_mut(), &mut text, log));
    }
    let t = text.text.as_str();
    // Previews are cut by bytes (at a character boundary): at three bytes a Chinese character,
    // PREVIEW_BYTES holds more than any dateline, byline or credit.
    // The text is normalized already: no spaces are left between Chinese characters. The
    // previews are slices of it.
    let head = head_bytes(t, PREVIEW_BYTES);
    // (At most PREVIEW_CHARS bytes is at most as many characters: only longer texts are counted.)
    let short = t.len() <= PREVIEW_CHARS || (t.len() <= PREVIEW_CHARS * 4 && char_len(t) <= PREVIEW_CHARS);
    let whole = short.then_some(t);
    let tail = tail_bytes(t, PREVIEW_BYTES);
    // (The CJK Unified Ideographs block is all letters: answered before the Unicode tables.)
    let ornament = !furniture
        && !head.is_empty()
        && !head.chars().any(|c| matches!(c, '\u{4E00}'..='\u{9FFF}') || c.is_alphanumeric());
    let ends_sentence = ends_sentence(rules, tail);
    let ends_credit = !furniture && !label && segment::ends_with_credit(rules, tail);
    let opens = !furniture && !label && segment::starts_item(rules, head, whole);
    let first = &lines[r.start];
    Unit {
        indent: first.indent,
        paragraph_indent: first.indent && indent_columns(page, first) <= PARAGRAPH_INDENT_COLUMNS,
        lines: r,
        block,
        single_line_block,
        furniture,
        label,
        ornament,
        short,
        ends_sentence,
        ends_credit,
        opens,
        text,
    }
}

/// The widest indentation of a paragraph's first line, in columns (an ideographic space is two,
/// a tab four): two ideographic spaces or four spaces. A line set further in (a headline centred
/// in its column) is not indented as a paragraph is.
const PARAGRAPH_INDENT_COLUMNS: usize = 4;

/// How far `line` is set in, in columns (see [`PARAGRAPH_INDENT_COLUMNS`]).
fn indent_columns(page: &str, line: &Line) -> usize {
    let start = page.as_bytes()[..line.content.start].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    page[start..line.content.start]
        .chars()
        .map(|c| match c {
            '\u{3000}' => 2,
            '\t' => 4,
            c if is_zero_width(c) => 0,
            _ => 1,
        })
        .sum()
}

/// Could this unit be a headline by its shape: one line, short, not a sentence, not cut
/// mid-clause.
fn headline_shaped(rules: &CompiledRules, u: &Unit) -> bool {
    let Some(w) = u.whole() else { return false };
    let shape = &rules.headline;
    // (The unit's flags first: they rule out most units before the text is read.)
    if !u.single_line_block || u.ends_credit || u.furniture || u.label || u.ornament || u.opens {
        return false;
    }
    let last = w.chars().next_back();
    let first = w.chars().next();
    // (The two ends before the tests that read the whole text.)
    !last.is_some_and(|c| shape.ends_open.contains(&c))
        && !first.is_some_and(|c| rules.is_non_initial(c) || shape.starts_open.contains(&c))
        && (2..=shape.max_line_chars).contains(&char_len(w))
        && !shape.has_never(w)
}

/// The layout decisions for a page's units.
#[derive(Default)]
struct Plan {
    /// Unit k joins unit k + 1.
    joins: Vec<bool>,
    /// The chain that starts at unit k is a headline.
    headline: Vec<bool>,
    /// The chain that starts at unit k opens an item (dateline, byline).
    starts: Vec<bool>,
    /// The chain that starts at unit k ends in a photo credit.
    caption: Vec<bool>,
    /// The last unit of the chain from unit k.
    chain_end: Vec<usize>,
    /// Buffers for the previews of chains (see [`make_plan`]), kept from page to page.
    spare: Vec<String>,
}

/// Gives a preview's buffer back to `spare`, if it has one. (A preview taken with `mem::take`
/// leaves an empty `Cow::Owned` behind, which has none.)
fn recycle(preview: Cow<'_, str>, spare: &mut Vec<String>) {
    if let Cow::Owned(mut s) = preview {
        if s.capacity() > 0 {
            s.clear();
            spare.push(s);
        }
    }
}

/// Which end of a text a preview shows.
#[derive(Debug, Clone, Copy)]
enum End {
    Head,
    Tail,
}

/// The preview at `end` of two texts put end to end, `a` then `b` (what `head_bytes` or
/// `tail_bytes` with `PREVIEW_BYTES` gives of `a + b`), from the previews of `a` and `b` at that
/// end. `near_is_long`: the text at that end (`a` for the head, `b` for the tail) is longer than
/// `PREVIEW_BYTES`, so its own preview is the answer whatever the other holds (a preview cut at a
/// character boundary can be a byte or two short, and must not be filled up from the other
/// text). Otherwise the text at that end is its preview whole, and the answer is built into a
/// buffer from `spare`. Buffers not returned go back to `spare`.
fn join_preview<'a>(
    end: End,
    a: Cow<'a, str>,
    b: Cow<'a, str>,
    near_is_long: bool,
    spare: &mut Vec<String>,
) -> Cow<'a, str> {
    if near_is_long {
        let (near, far) = match end {
            End::Head => (a, b),
            End::Tail => (b, a),
        };
        recycle(far, spare);
        return near;
    }
    let mut joined = spare.pop().unwrap_or_default();
    joined.push_str(&a);
    joined.push_str(&b);
    match end {
        End::Head => joined.truncate(head_bytes(&joined, PREVIEW_BYTES).len()),
        End::Tail => {
            joined.drain(..joined.len() - tail_bytes(&joined, PREVIEW_BYTES).len());
        }
    }
    recycle(a, spare);
    recycle(b, spare);
    Cow::Owned(joined)
}

/// Decides, for each unit, whether it joins the next one, and which chains are headlines.
/// Runs from the end of the page backwards: whether a unit is a headline depends on what follows
/// it, and what a chain starts and ends with depends on the joins after it.
fn make_plan(rules: &CompiledRules, units: &[Unit], layout: PageLayout, p: &mut Plan) {
    let n = units.len();
    for v in [&mut p.joins, &mut p.headline, &mut p.starts, &mut p.caption] {
        v.clear();
        v.resize(n, false);
    }
    p.chain_end.clear();
    p.chain_end.extend(0..n);
    // Text at the start and at the end of the chain from unit k + 1 (empty: the unit's own head
    // and tail), which is all that unit k reads. A preview that is a unit's own (the head of a
    // long first unit, the tail of a long last one) is borrowed from it; only previews made of
    // two units' text are built, in buffers kept from page to page.
    let mut next_head: Cow<'_, str> = Cow::Borrowed("");
    let mut next_tail: Cow<'_, str> = Cow::Borrowed("");
    // The length of the chain from unit k + 1's text (when unit k joins it).
    let mut next_len = 0;
    let mut spare = std::mem::take(&mut p.spare);
    for k in (0..n).rev() {
        let u = &units[k];
        let next_block_start = k + 1 < n && units[k + 1].block != u.block;
        // A headline: a short single-line block, after the end of something, followed (after a
        // break) by the start of an item or by a photo caption, or by a short text and then a
        // caption (a caption in two paragraphs).
        // After the end of something, or after the first line of a headline set in two lines
        // (only before a dateline or byline: a caption's first line looks like a headline line).
        let after_end = after_end(units, k)
            || (k + 1 < n
                && p.starts[k + 1]
                && k > 0
                && headline_shaped(rules, &units[k - 1])
                && after_end(units, k - 1));
        p.headline[k] = next_block_start
            && after_end
            // On a page whose paragraphs are indented, a line indented as they are is one.
            && !(layout.indent_page && u.paragraph_indent)
            && headline_shaped(rules, u)
            && (p.starts[k + 1]
                // Confirmed by a caption alone (right after it, or after a short text that ends a
                // sentence: a caption in two paragraphs), a headline must be phrase-like, as a
                // subhead is: a line with a comma before a caption is more often the caption's
                // first line.
                || ((p.caption[k + 1] || caption_follows(units, p, k + 1))
                    && !u.whole().is_some_and(|w| rules.subhead.as_ref().is_some_and(|s| s.shape.has_never(w)))));
        if next_block_start && !p.headline[k] {
            p.joins[k] = can_join(rules, units, k, layout, p);
        }
        let plain = !u.furniture && !u.label && !u.ornament;
        if p.joins[k] {
            // A chain of several units: its ends are read anew.
            p.chain_end[k] = p.chain_end[k + 1];
            // (Nothing reads the previews of the chain from k + 1 after this: they are taken.)
            let after_tail = match std::mem::take(&mut next_tail) {
                t if t.is_empty() => Cow::Borrowed(units[k + 1].tail()),
                t => t,
            };
            let after_head = match std::mem::take(&mut next_head) {
                h if h.is_empty() => Cow::Borrowed(units[k + 1].head()),
                h => h,
            };
            let own = u.text.text.len();
            let tail =
                join_preview(End::Tail, Cow::Borrowed(u.tail()), after_tail, next_len > PREVIEW_BYTES, &mut spare);
            let head = join_preview(End::Head, Cow::Borrowed(u.head()), after_head, own > PREVIEW_BYTES, &mut spare);
            p.starts[k] = plain && segment::starts_item(rules, &head, None);
            // A line that joined a headline as its first line, and with it opens an item, was a
            // dateline cut by the break (`本报|讯 …`), not a headline in two lines: the chain is
            // the opening of an item. (Read from the text alone, on the clean page, it is one.)
            if p.starts[k] && p.headline[p.chain_end[k]] {
                p.headline[p.chain_end[k]] = false;
            }
            p.caption[k] = plain && !p.starts[k] && !p.headline[k] && segment::ends_with_credit(rules, &tail);
            (next_head, next_tail) = (head, tail);
            next_len += own;
        } else {
            recycle(std::mem::take(&mut next_head), &mut spare);
            recycle(std::mem::take(&mut next_tail), &mut spare);
            next_len = u.text.text.len();
            // A unit on its own: what it starts and ends with was read when it was made (the
            // empty strings stand for the unit's own head and tail).
            p.starts[k] = plain && u.opens;
            p.caption[k] = plain && !p.starts[k] && !p.headline[k] && u.ends_credit;
        }
    }
    recycle(next_head, &mut spare);
    recycle(next_tail, &mut spare);
    debug_assert!(spare.len() <= 4, "preview buffers are given back once");
    p.spare = spare;
}

/// Does unit `k` come after the end of something (or at the top of the page, or inside a block)?
fn after_end(units: &[Unit], k: usize) -> bool {
    k == 0 || {
        let (prev, u) = (&units[k - 1], &units[k]);
        prev.ends_sentence || prev.ends_credit || prev.furniture || prev.label || prev.ornament || prev.block == u.block
    }
}

/// Is unit `k`, before unit `k + 1` across a break, a subhead rather than text cut by the break?
/// See the `layout.subhead` rule for the criteria.
fn is_subhead(rules: &CompiledRules, units: &[Unit], k: usize) -> bool {
    let Some(params) = rules.subhead.as_ref().map(|s| &s.shape) else { return false };
    let (a, b) = (&units[k], &units[k + 1]);
    let Some(w) = a.whole() else { return false };
    // (The unit's flags first: they rule out most units before the text is read.)
    if !a.single_line_block || a.ends_sentence || a.opens || k == 0 {
        return false;
    }
    let (Some(first), Some(last)) = (w.chars().next(), w.chars().next_back()) else { return false };
    let n = char_len(w);
    // The last two characters (or the one), and the first two of what follows.
    let mut end = ['\0'; 2];
    let end_len = n.min(2);
    for (slot, c) in end[..end_len].iter_mut().rev().zip(w.chars().rev()) {
        *slot = c;
    }
    let mut b_head = ['\0'; 2];
    let mut b_len = 0;
    for c in b.head().chars().take(2) {
        b_head[b_len] = c;
        b_len += 1;
    }
    let b_head = &b_head[..b_len];
    let quoted = matches!((first, last), ('“', '”') | ('『', '』') | ('「', '」'));
    // A byline on a line of its own ends something too: what follows it starts the text. (Read
    // only when nothing else came to an end: it is a pattern search.)
    (after_end(units, k) || units[k - 1].whole().is_some_and(|p| segment::is_byline_line(rules, p)))
        && n <= if quoted { params.max_line_chars * 3 / 2 } else { params.max_line_chars }
        && (quoted || !params.has_never(w) && !w.contains(|c: char| c.is_ascii_digit()))
        && !params.ends_open.contains(&last)
        && b_head.first().is_some_and(|c| !params.starts_open.contains(c) && !rules.is_non_initial(*c))
        && !rules.words.spans(&end[..end_len], b_head)
        // A dateline cut by the break (`据新华社北京1月9|日电`) is not a subhead.
        && !segment::starts_item(rules, &format!("{}{}", w, b.head()), None)
}

/// The chain at `j` is text that ends a sentence, and a caption chain comes right after it.
fn caption_follows(units: &[Unit], p: &Plan, j: usize) -> bool {
    let end = p.chain_end[j];
    !p.starts[j] && units[end].ends_sentence && end + 1 < units.len() && p.caption[end + 1] && end - j < 3
}

fn can_join(rules: &CompiledRules, units: &[Unit], k: usize, layout: PageLayout, p: &Plan) -> bool {
    let (a, b) = (&units[k], &units[k + 1]);
    if a.furniture || b.furniture || a.label || b.label || a.ornament || b.ornament || a.ends_credit || p.starts[k + 1]
    {
        return false;
    }
    // A byline on a line of its own is complete.
    if a.whole().is_some_and(|w| segment::is_byline_line(rules, w)) {
        return false;
    }
    // A headline starts something new; only the line of a headline before it (a headline set in
    // two lines) joins it. The same holds before the first line of a headline set in two lines:
    // text does not join it.
    if p.headline[p.chain_end[k + 1]] {
        return headline_shaped(rules, a) && after_end(units, k) && !a.ends_sentence;
    }
    if rules.starts_non_initial(b.head()) {
        return true;
    }
    if layout.indent_page {
        return !b.indent;
    }
    if is_subhead(rules, units, k) {
        if *DEBUG_SUBHEAD {
            eprintln!("SUBHEAD {} | {}", a.whole().unwrap_or(""), head_chars(b.head(), 8));
        }
        return false;
    }
    !a.ends_sentence || layout.tight
}

/// Builds the text of a chain of units: its pieces, its join edits, normalization.
#[allow(clippy::too_many_arguments)]
fn assemble(
    rules: &CompiledRules,
    page: &str,
    lines: &[Line],
    chain: &mut [Unit],
    chain_logs: &mut [EditLog],
    role: Role,
    pieces: &mut Vec<Range<usize>>,
    scratch: &mut Scratch,
    log: &mut EditLog,
) -> Paragraph {
    pieces.clear();
    let mut flags = Vec::new();
    let first_line = chain[0].lines.start;
    let last_line = chain[chain.len() - 1].lines.end - 1;
    let mut joins_log = EditLog::new(log.explain);
    joins_log.muted = log.muted;
    let mut prev: Option<(usize, usize)> = None; // (line index, block)
    for u in chain.iter() {
        for li in u.lines.clone() {
            let l = &lines[li];
            if let Some((pl, pb)) = prev {
                let gap = lines[pl].content.end..l.content.start;
                let column = pb != u.block;
                if role != Role::Furniture && role != Role::Label {
                    joins_log.push(join_rule(rules, column), gap.clone(), || page[gap.clone()].to_string(), "");
                    if column {
                        if let Some(f) = lost_char(rules, page, &lines[pl], l) {
                            flags.push(f);
                        }
                    }
                }
            }
            pieces.push(l.content.clone());
            prev = Some((li, u.block));
        }
    }
    let mode = if role == Role::Furniture { Mode::Furniture } else { Mode::Text };
    let mut text = ParaText::default();
    if role == Role::Furniture {
        // Furniture keeps its line structure as spaces: `1998年1月13日 星期二 第11版`.
        furniture_text(rules, page, pieces, scratch, &mut text, log);
    } else if chain.len() == 1 || stitchable(rules, page, lines, chain) {
        // The units' texts were normalized already, for the look-ahead; put end to end they are
        // the chain's text.
        for (i, (unit, unit_log)) in chain.iter_mut().zip(chain_logs).enumerate() {
            if i == 0 {
                text = std::mem::take(&mut unit.text);
            } else {
                text.append(&unit.text);
            }
            log.merge_counts(unit_log);
            log.edits.append(&mut unit_log.edits);
        }
        // Debug builds (the tests) check the reasoning of `stitchable` on every chain they meet.
        #[cfg(debug_assertions)]
        if chain.len() > 1 {
            let mut whole = ParaText::default();
            normalize_pieces(rules, page, pieces.iter().cloned(), mode, scratch, &mut whole, &mut EditLog::muted());
            assert_eq!(whole.text, text.text, "a stitched chain differs from the chain normalized whole");
            assert_eq!(whole.cuts, text.cuts, "a stitched chain has other cuts");
        }
    } else {
        normalize_pieces(rules, page, pieces.iter().cloned(), mode, scratch, &mut text, log);
    }
    log.merge_counts(&joins_log);
    let mut edits = joins_log.take_edits();
    edits.extend(log.take_edits());
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    Paragraph {
        role,
        text,
        span: lines[first_line].content.start..lines[last_line].content.end,
        edits,
        flags,
        opens: false,
        ends_credit: false,
    }
}

/// Are a chain's units, normalized each on its own, together the chain normalized as a whole?
///
/// Normalization reads context around a character (the nearest significant character before
/// and after a mark or a space, a parenthesis's partner, a lexicon entry), and each unit was
/// read without its neighbours. Where a unit ends and the next begins with a plain East Asian
/// character (one the pass leaves as it is and that is not part of a number), every look
/// around stops at that character inside the unit, as it would in the whole; what is left is a
/// parenthesis opened in one unit and closed in a later one, and a lexicon entry that could
/// span the seam. When neither can happen the chain is its units put end to end, and the long
/// chains of a page with column breaks are not normalized twice.
fn stitchable(rules: &CompiledRules, page: &str, lines: &[Line], chain: &[Unit]) -> bool {
    let plain = |c: Option<char>| c.is_some_and(|c| is_cjk(c) && !rules.needs_attention(c));
    let raw = |u: &Unit| {
        let first = lines[u.lines.start].content.start;
        &page.as_bytes()[first..lines[u.lines.end - 1].content.end]
    };
    let mut paren_open = false;
    for (i, u) in chain.iter().enumerate() {
        let bytes = raw(u);
        if i > 0 {
            let first = &page[lines[u.lines.start].content.clone()];
            if !plain(first.chars().next()) || (paren_open && memchr::memchr(b')', bytes).is_some()) {
                return false;
            }
        }
        if i + 1 < chain.len() {
            let last = &page[lines[u.lines.end - 1].content.clone()];
            let near_end = tail_chars(&u.text.text, rules.lexicon_max_chars.saturating_sub(1));
            if !plain(last.chars().next_back()) || near_end.chars().any(|c| rules.starts_lexicon_entry(c)) {
                return false;
            }
        }
        paren_open |= memchr::memchr(b'(', bytes).is_some();
    }
    true
}

fn join_rule(rules: &CompiledRules, column: bool) -> crate::rules::RuleIdx {
    if column {
        rules.join_break
    } else {
        rules.join_wrap
    }
}

fn furniture_text(
    rules: &CompiledRules,
    page: &str,
    pieces: &[Range<usize>],
    scratch: &mut Scratch,
    out: &mut ParaText,
    log: &mut EditLog,
) {
    // Normalize each line on its own and join them with a space.
    let mut part = ParaText::default();
    out.clear();
    for (i, p) in pieces.iter().enumerate() {
        normalize_pieces(rules, page, std::iter::once(p.clone()), Mode::Furniture, scratch, &mut part, log);
        if i > 0 {
            out.push_separator(' ', p.start);
        }
        out.append(&part);
    }
}

/// Flags a column-break join that probably lost a character: the character before the break
/// stands alone between two words (`弘扬` `光` | `传统`: 光荣 lost its 荣), is not a word with
/// what comes before it nor with what comes after it, and is not a function word that stands
/// alone naturally. The text is kept as it is; the flag points at the spot.
pub fn lost_char(rules: &CompiledRules, page: &str, before: &Line, after: &Line) -> Option<Flag> {
    if rules.words.is_empty() {
        return None;
    }
    let (mut left, mut right) = (['\0'; 3], ['\0'; 2]);
    let mut rev = page[before.content.clone()].chars().rev();
    for slot in left.iter_mut().rev() {
        *slot = rev.next()?;
    }
    let mut fwd = page[after.content.clone()].chars();
    for slot in right.iter_mut() {
        *slot = fwd.next()?;
    }
    if !left.iter().chain(&right).all(|&c| is_han(c)) {
        return None;
    }
    let orphan = left[2];
    let function_word = rules.subhead.as_ref().is_some_and(|p| p.shape.ends_open.contains(&orphan));
    let w = &rules.words;
    if function_word
        || w.spans(&left[1..], &right)
        || w.contains(&left[1..])
        || !w.contains(&left[..2])
        || !w.contains(&right)
    {
        return None;
    }
    let at = before.content.end - orphan.len_utf8();
    Some(Flag {
        code: LOST_CHAR.to_string(),
        span: Some([at, after.content.start + right[0].len_utf8()]),
        note: format!("`{orphan}` stands alone between `{}{}` and `{}{}` at a column break: a character may have been lost there; the text is kept as it is", left[0], left[1], right[0], right[1]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleSet;

    fn rules() -> CompiledRules {
        RuleSet::builtin().compile().unwrap()
    }

    fn paras(page: &str) -> Vec<(Role, String)> {
        let r = rules();
        paragraphs(&r, page, &mut Scratch::default(), &mut EditLog::muted())
            .into_iter()
            .map(|p| (p.role, p.text.text))
            .collect()
    }

    fn texts(page: &str) -> Vec<String> {
        paras(page).into_iter().map(|(_, t)| t).collect()
    }

    /// A line (without its line feed) read character by character, as the fields of [`Line`]
    /// are defined: its content, whether it is indented, its width.
    fn line_by_characters(piece: &str) -> (Range<usize>, bool, usize) {
        let blank = |c: char| crate::text::is_hspace(c) || is_zero_width(c);
        let body = piece.trim_start_matches(blank);
        let lead = &piece[..piece.len() - body.len()];
        let spaces = lead.chars().filter(|&c| c == ' ' || c == '\u{00A0}').count();
        let indent = lead.contains(['\u{3000}', '\t']) || spaces >= 2;
        let trimmed = body.trim_end_matches(|c: char| blank(c) || c == '\r');
        let returns = piece.len() - piece.trim_end_matches('\r').len();
        (lead.len()..lead.len() + trimmed.len(), indent, piece.chars().count() - returns)
    }

    /// The one-byte test at each end of a line agrees with reading the line character by
    /// character, on lines made of every space, zero-width and other character layout meets.
    #[test]
    fn line_ends_read_by_bytes_agree_with_characters() {
        let alphabet = [
            " ", "\t", "\r", "\u{3000}", "\u{00A0}", "\u{2002}", "\u{200A}", "\u{202F}", "\u{205F}", "\u{200B}",
            "\u{2060}", "\u{FEFF}", "a", "全", "。", "“", "”", "，", "\u{2014}", "\u{E000}", "\u{C2}", "𠀀",
        ];
        for t in crate::text::random_texts(&alphabet, 4000, 8) {
            let chars = t.chars().count();
            let (fast, slow) = (line(&t, 0..t.len(), chars), line_trimmed(t.as_bytes(), 0..t.len(), chars));
            assert_eq!((fast.content, fast.indent, fast.width), line_by_characters(&t), "{t:?}");
            assert_eq!((slow.content, slow.indent, slow.width), line_by_characters(&t), "{t:?}");
        }
    }

    /// A chain's previews, built from its parts' previews, are the previews of its whole text,
    /// also where a part's preview is cut a byte or two short of PREVIEW_BYTES by a character.
    #[test]
    fn joined_previews_are_previews_of_the_joined_text() {
        let pieces = ["中华人民共和国", "ab", "x", "，", "𠀀", "全区召开会议。"];
        let texts = crate::text::random_texts(&pieces, 400, 90);
        let mut spare = Vec::new();
        let mut cut_short = 0;
        for pair in texts.chunks(2) {
            let (a, b) = (pair[0].as_str(), pair[1].as_str());
            let whole = format!("{a}{b}");
            let (ah, bh) = (head_bytes(a, PREVIEW_BYTES), head_bytes(b, PREVIEW_BYTES));
            let (at, bt) = (tail_bytes(a, PREVIEW_BYTES), tail_bytes(b, PREVIEW_BYTES));
            cut_short += (a.len() > PREVIEW_BYTES && ah.len() < PREVIEW_BYTES) as usize;
            let head = join_preview(End::Head, ah.into(), bh.into(), a.len() > PREVIEW_BYTES, &mut spare);
            assert_eq!(head, head_bytes(&whole, PREVIEW_BYTES), "{a:?} {b:?}");
            let tail = join_preview(End::Tail, at.into(), bt.into(), b.len() > PREVIEW_BYTES, &mut spare);
            assert_eq!(tail, tail_bytes(&whole, PREVIEW_BYTES), "{a:?} {b:?}");
            recycle(head, &mut spare);
            recycle(tail, &mut spare);
        }
        assert!(cut_short > 10, "{cut_short}");
        assert!(spare.len() <= 2, "{}", spare.len());
    }

    #[test]
    fn buffers_are_kept_for_ordinary_pages_and_let_go_after_huge_ones() {
        let r = rules();
        let capacity = || PAGE_BUFFERS.with(|b| b.borrow().lines.capacity());
        paragraphs(&r, &"全区召开会议。\n".repeat(100), &mut Scratch::default(), &mut EditLog::muted());
        assert!(capacity() > 100);
        paragraphs(&r, &"全区召开会议。\n".repeat(20_000), &mut Scratch::default(), &mut EditLog::muted());
        assert_eq!(capacity(), 0);
    }

    #[test]
    fn lines_know_indentation_and_width() {
        let ls = lines("　　第一行\n  two\nplain \n");
        assert!(ls[0].indent && ls[1].indent && !ls[2].indent);
        assert_eq!(ls[0].width, 5);
        assert_eq!(ls[2].width, 6, "a wrapper counts the space it ended on");
        assert!(ls[3].is_blank());
        assert_eq!(ls.len(), 4, "the text after the last line end is a line too");
    }

    #[test]
    fn lines_agree_with_reading_line_by_line() {
        let pieces = ["\n", "\r", " ", "\t", "　", "\u{200B}", "\u{00A0}", "a", "中", "𠀀", "，", "\r\n", "  两格"];
        for page in crate::text::random_texts(&pieces, 3000, 40) {
            let mut want = Vec::new();
            let mut start = 0;
            for piece in page.split('\n') {
                let (content, indent, width) = line_by_characters(piece);
                want.push((start + content.start..start + content.end, indent, width));
                start += piece.len() + 1;
            }
            let got: Vec<_> = lines(&page).into_iter().map(|l| (l.content, l.indent, l.width)).collect();
            assert_eq!(got, want, "{page:?}");
        }
    }

    #[test]
    fn paren_balance_counts_both_widths() {
        assert_eq!(paren_balance("本报讯（记者 张三"), 1);
        assert_eq!(paren_balance("(a)（b）"), 0);
        assert_eq!(paren_balance("李四）昨天，"), -1);
        // `＜` (EF BC 9C) and `，` (EF BC 8C) share the BC byte and count for nothing.
        assert_eq!(paren_balance("＜，"), 0);
    }

    #[test]
    fn sentence_ends_through_closing_marks() {
        let r = rules();
        assert!(ends_sentence(&r, "他说：“好。”"));
        assert!(ends_sentence(&r, "效益好。（王雅平）"));
        assert!(ends_sentence(&r, "（徐俊）"));
        assert!(!ends_sentence(&r, "读者对“十五大”"));
        assert!(!ends_sentence(&r, "改革创新取"));
        assert!(!ends_sentence(&r, ""));
        // Parentheses that open more than eight characters back (past the first look).
        assert!(ends_sentence(&r, "会议召开。（新华社记者王雅平摄影报道）"));
        assert!(!ends_sentence(&r, "会议召开（新华社记者王雅平摄影报道）"));
        assert!(ends_sentence(&r, "（新华社记者王雅平摄影报道）"));
        // Opened before the text: a short text is a credit's end, a long one is not decided by it.
        assert!(ends_sentence(&r, "新华社记者王雅平摄影报道）"));
        assert!(!ends_sentence(&r, &format!("{}）", "改革创新取得新突破".repeat(6))));
        // Exactly eight characters, and closing marks nested past the first look.
        assert!(ends_sentence(&r, "（王雅平摄影报道）"));
        assert!(ends_sentence(&r, "他说：“会议召开了。”）"));
        assert!(!ends_sentence(&r, "他说：“会议召开了”"));
    }

    #[test]
    fn hard_wrapped_page_is_read_by_its_width() {
        // Wrapped at 10 characters; a short line ends its paragraph, even without a blank line.
        let page = "一二三四五六七八九十\n一二三四五。\n甲乙丙丁戊己庚辛壬癸\n甲乙。\n子丑寅卯辰巳午未申酉\n子丑。\n";
        assert_eq!(
            texts(page),
            ["一二三四五六七八九十一二三四五。", "甲乙丙丁戊己庚辛壬癸甲乙。", "子丑寅卯辰巳午未申酉子丑。"]
        );
    }

    #[test]
    fn indented_page_starts_paragraphs_at_indentation() {
        let page = "　　第一段开始，\n后面接着写。\n　　第二段。\n\n不缩进的续行。\n　　第三段。\n";
        assert_eq!(texts(page), ["第一段开始，后面接着写。", "第二段。不缩进的续行。", "第三段。"]);
    }

    #[test]
    fn column_break_is_joined_but_not_across_a_new_item() {
        let page = "第一条消息\n\n本报讯 昨天上午，全区召开会议，改革创新取\n\n得新突破。\n\n第二条消息\n\n本报讯 今天继续开会。\n";
        let p = paras(page);
        assert_eq!(p.len(), 4);
        assert_eq!(p[0], (Role::Headline, "第一条消息".to_string()));
        assert_eq!(p[1].1, "本报讯昨天上午，全区召开会议，改革创新取得新突破。");
        assert_eq!(p[2].0, Role::Headline);
    }

    /// Whether a column break's seam lets the chain be its units put end to end; both ways the
    /// text is what normalizing the chain whole gives (debug builds assert that on every chain).
    #[test]
    fn chains_are_stitched_only_at_plain_seams() {
        let r = rules();
        let chain_of = |page: &str| {
            let ls = lines(page);
            let blocks: Vec<Range<usize>> = vec![0..1, 2..3];
            let layout = PageLayout { wrap: None, indent_page: false, ragged: true, tight: false };
            let mut units = Vec::new();
            let (mut furniture, mut logs) = (Vec::new(), Vec::new());
            make_units(
                &r,
                page,
                &ls,
                &blocks,
                &vec![false; ls.len()],
                layout,
                false,
                &mut furniture,
                &mut units,
                &mut logs,
            );
            assert_eq!(units.len(), 2, "{page:?}");
            (stitchable(&r, page, &ls, &units), paras(page))
        };
        let (ok, p) = chain_of("全区召开会议，改革创新取\n\n得新突破。");
        assert!(ok);
        assert_eq!(p[0].1, "全区召开会议，改革创新取得新突破。");
        // A half-width comma at the seam is decided by what follows it, across the break.
        let (ok, p) = chain_of("全区召开会议,改革创新取得,\n\n新突破。");
        assert!(!ok);
        assert_eq!(p[0].1, "全区召开会议，改革创新取得，新突破。");
        // A parenthesis opened before the break and closed after it is decided as a pair.
        let (ok, p) = chain_of("本报讯(记者张三李四\n\n王五)昨天全区召开会议。");
        assert!(!ok);
        assert_eq!(p[0].1, "本报讯（记者张三李四王五）昨天全区召开会议。");
        // A lexicon entry split by the break (the seed's 漏|湖) is found in the whole.
        let (ok, p) = chain_of("他们在太湖和漏\n\n湖一带调查水质。");
        assert!(!ok);
        assert!(p[0].1.contains("滆湖"), "{:?}", p[0].1);
    }

    #[test]
    fn on_an_indented_page_a_line_indented_as_paragraphs_are_is_no_headline() {
        let page = |line: &str| {
            format!("全区召开会议\n\n　　本报讯 今天上午，全区召开会议。会议通报了全年工作。\n\n{line}\n\n　　新华社北京1月5日电 今天召开会议。\n")
        };
        // A short paragraph (cut before its sentence ended) before a dateline.
        let p = paras(&page("　　与会同志一致表示"));
        assert_eq!(p[2], (Role::Body, "与会同志一致表示".to_string()));
        // A headline centred in the column, further in than a paragraph, is still one; so is one
        // not indented at all.
        for line in ["        水利项目开工", "水利项目开工"] {
            let p = paras(&page(line));
            assert_eq!(p[2], (Role::Headline, "水利项目开工".to_string()), "{line:?}");
        }
    }

    #[test]
    fn photo_headline_is_not_joined_to_its_caption() {
        let page = "春到滨江\n\n市民在公园观赏樱花\n\n盛开的景象。（周小川摄）\n";
        let p = paras(page);
        assert_eq!(p[0], (Role::Headline, "春到滨江".to_string()));
        assert_eq!(p[1], (Role::Body, "市民在公园观赏樱花盛开的景象。（周小川摄）".to_string()));
    }

    /// Confirmed by a caption alone, a headline is phrase-like whether the caption comes right
    /// after it or after a short text: a line with a comma is not one either way.
    #[test]
    fn before_a_caption_a_line_with_a_comma_is_no_headline() {
        for between in ["", "市民在公园观赏樱花。\n\n"] {
            let page = |first: &str| format!("{first}\n\n{between}图为盛开的樱花。（周小川摄）\n");
            let p = paras(&page("春到滨江"));
            assert_eq!(p[0], (Role::Headline, "春到滨江".to_string()), "{between:?}");
            let p = paras(&page("春到滨江，游人如织"));
            assert_ne!(p[0].0, Role::Headline, "{between:?}: {p:?}");
        }
    }

    /// `本报|讯 …` before an item: the short first line joins what looks like a headline, and
    /// together they open an item; that is a dateline cut by the break, not a headline.
    #[test]
    fn a_dateline_cut_by_a_break_is_no_headline_in_two_lines() {
        let p = paras("新华社北京1月5日电 全区召开会议。\n\n本报\n\n讯 今天天气晴！\n\n本报讯 今天召开会议。\n");
        assert_eq!(p[1], (Role::Body, "本报讯今天天气晴！".to_string()), "{p:?}");
        // A headline in two lines is still one.
        let p = paras("新华社北京1月5日电 全区召开会议。\n\n重点项目\n\n今天开工\n\n本报讯 今天召开会议。\n");
        assert_eq!(p[1], (Role::Headline, "重点项目今天开工".to_string()), "{p:?}");
    }

    /// On an indented page a line that is not indented continues the paragraph before it, but
    /// not when it is the first line of a headline in two lines: the text would become part of
    /// the headline.
    #[test]
    fn text_does_not_join_the_first_line_of_a_headline_in_two_lines() {
        let page = "　　本报讯 今天全区召开会议。\n\n报刊传递金信息\n\n中国代表团离京访美\n\n　　新华社北京1月11日电 今天离开这里。\n";
        let p = paras(page);
        assert_eq!(p[0], (Role::Body, "本报讯今天全区召开会议。".to_string()), "{p:?}");
        assert_eq!(p[1], (Role::Headline, "报刊传递金信息中国代表团离京访美".to_string()), "{p:?}");
    }

    #[test]
    fn furniture_and_labels_are_their_own_paragraphs() {
        let page = "1998年1月13日 星期二\n第11版\n\n本报讯 今天天气晴。\n\n重点项目\n进行时\n";
        let p = paras(page);
        assert_eq!(p[0], (Role::Furniture, "1998年1月13日 星期二 第11版".to_string()));
        assert_eq!(p[2], (Role::Label, "重点项目进行时".to_string()));
    }

    #[test]
    fn a_join_that_lost_a_character_is_flagged() {
        let r = rules();
        let page = "要弘扬光\n\n传统，汲取宝贵经验。";
        let ps = paragraphs(&r, page, &mut Scratch::default(), &mut EditLog::muted());
        assert_eq!(ps[0].text.text, "要弘扬光传统，汲取宝贵经验。", "the text is kept as it is");
        let flag = &ps[0].flags[0];
        assert_eq!(flag.code, LOST_CHAR);
        assert_eq!(&page[flag.span.unwrap()[0]..page.find('\n').unwrap()], "光");
        // A word across the break is a clean join.
        let page = "改革创新取\n\n得新突破。";
        assert!(paragraphs(&r, page, &mut Scratch::default(), &mut EditLog::muted())[0].flags.is_empty());
    }

    #[test]
    fn joins_are_edits() {
        let r = rules();
        let page = "改革创新取\n\n得新突破。";
        let mut log = EditLog::new(true);
        let ps = paragraphs(&r, page, &mut Scratch::default(), &mut log);
        let e = &ps[0].edits[0];
        assert_eq!(r.id(e.rule), "join.column-break");
        assert_eq!(e.before, "\n\n");
        assert_eq!(e.span, 15..17);
    }
}
