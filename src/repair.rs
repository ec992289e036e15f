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

use std::ops::Range;

use crate::edits::{EditLog, RawEdit};
use crate::normalize::{normalize_pieces, normalize_str, Mode, ParaText, Scratch};
use crate::record::Flag;
use crate::rules::CompiledRules;
use crate::segment;
use crate::text::{char_len, compact, head_chars, is_han, is_hspace, is_zero_width, tail_chars};

/// Flag code of a join that probably lost a character.
pub const LOST_CHAR: &str = "join.lost-char";

/// Longest headline, in characters.
const HEADLINE_MAX_CHARS: usize = 64;
/// How much text around a unit's ends the look-ahead reads.
const PREVIEW_CHARS: usize = 80;

/// One line of the page.
#[derive(Debug, Clone)]
pub struct Line {
    /// Byte range of the text without indentation and trailing whitespace.
    pub content: Range<usize>,
    /// Starts with an ideographic space, a tab or two spaces.
    pub indent: bool,
    /// Length in characters from the start of the line to the end of the content.
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
}

/// A run of lines that layout treats as one paragraph before cross-break joins.
#[derive(Debug)]
struct Unit {
    lines: Range<usize>,
    block: usize,
    indent: bool,
    single_line_block: bool,
    furniture: bool,
    label: bool,
    /// Normalized, compacted start and end of the text.
    head: String,
    tail: String,
    /// The whole text, normalized and compacted, when it is short.
    whole: Option<String>,
    starts_item: bool,
}

/// Page-wide layout facts.
#[derive(Debug, Clone, Copy)]
struct PageLayout {
    wrap: Option<usize>,
    indent_page: bool,
}

/// Splits the page into lines.
pub fn lines(page: &str) -> Vec<Line> {
    let mut out = Vec::with_capacity(page.len() / 40 + 1);
    let mut start = 0;
    for piece in page.split('\n') {
        let end = start + piece.len();
        let mut lead = 0;
        let mut lead_chars = 0;
        let mut spaces = 0;
        let mut indent = false;
        for c in piece.chars() {
            if is_hspace(c) || is_zero_width(c) {
                lead += c.len_utf8();
                lead_chars += 1;
                if c == '\u{3000}' || c == '\t' {
                    indent = true;
                } else if c == ' ' || c == '\u{00A0}' {
                    spaces += 1;
                }
            } else {
                break;
            }
        }
        indent |= spaces >= 2;
        let body = &piece[lead..];
        let trimmed = body.trim_end_matches(|c: char| is_hspace(c) || is_zero_width(c) || c == '\r');
        let content = start + lead..start + lead + trimmed.len();
        let width = lead_chars + char_len(trimmed);
        out.push(Line { content, indent, width });
        start = end + 1;
    }
    out
}

fn measure(lines: &[Line], blocks: &[Range<usize>]) -> PageLayout {
    // Lengths of the lines that continue into another line of their block.
    let mut counts: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut continuing = 0;
    for b in blocks {
        for l in &lines[b.start..b.end - 1] {
            *counts.entry(l.width).or_default() += 1;
            continuing += 1;
        }
    }
    let wrap = counts
        .iter()
        .max_by_key(|&(w, n)| (*n, *w))
        .filter(|&(w, n)| *n >= 3 && *w >= 6 && (*n + counts.get(&(w + 1)).unwrap_or(&0)) * 2 >= continuing)
        .map(|(w, _)| *w);
    let indented = lines.iter().filter(|l| !l.is_blank() && l.indent).count();
    let indent_page = indented >= 2 && indented * 4 >= blocks.len();
    PageLayout { wrap, indent_page }
}

/// Reads the page into paragraphs.
pub fn paragraphs(rules: &CompiledRules, page: &str, scratch: &mut Scratch, log: &mut EditLog) -> Vec<Paragraph> {
    let lines = lines(page);
    let mut blocks: Vec<Range<usize>> = Vec::new();
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
    let layout = measure(&lines, &blocks);
    let units = units(rules, page, &lines, &blocks, layout);
    let (joins, headline) = decide_joins(rules, &units, layout);

    let mut out = Vec::with_capacity(units.len());
    let mut k = 0;
    while k < units.len() {
        let first = k;
        while joins[k] {
            k += 1;
        }
        let chain = &units[first..=k];
        let role = if chain[0].furniture {
            Role::Furniture
        } else if chain[0].label {
            Role::Label
        } else if headline[first] {
            Role::Headline
        } else {
            Role::Body
        };
        out.push(assemble(rules, page, &lines, chain, role, scratch, log));
        k += 1;
    }
    out
}

/// Splits blocks into units: furniture runs, column labels, and paragraphs by indentation, wrap
/// width or sentence ends.
fn units(rules: &CompiledRules, page: &str, lines: &[Line], blocks: &[Range<usize>], layout: PageLayout) -> Vec<Unit> {
    let mut units = Vec::new();
    for (bi, b) in blocks.iter().enumerate() {
        let single = b.len() == 1;
        let furniture: Vec<bool> = lines[b.clone()].iter().map(|l| segment::is_furniture_line(rules, &page[l.content.clone()])).collect();
        if is_label_block(rules, page, &lines[b.clone()]) && !furniture.iter().any(|&f| f) {
            units.push(make_unit(rules, page, lines, b.clone(), bi, single, false, true));
            continue;
        }
        let mut s = b.start;
        for i in b.clone() {
            let last = i + 1 == b.end;
            let f = furniture[i - b.start];
            let brk = last
                || f != furniture[i + 1 - b.start]
                || (!f && paragraph_ends(rules, page, &lines[i], &lines[i + 1], layout));
            if brk {
                units.push(make_unit(rules, page, lines, s..i + 1, bi, single, f, false));
                s = i + 1;
            }
        }
    }
    units
}

/// Does the paragraph end after line `a`, with `b` the next line of the same block?
fn paragraph_ends(rules: &CompiledRules, page: &str, a: &Line, b: &Line, layout: PageLayout) -> bool {
    if layout.indent_page {
        return b.indent;
    }
    if let Some(w) = layout.wrap {
        return a.width < w;
    }
    let last = page[a.content.clone()].chars().next_back().map(|c| normalize_char(rules, c));
    last.is_some_and(|c| rules.is_sentence_end(c)) || b.indent
}

fn normalize_char(rules: &CompiledRules, c: char) -> char {
    match rules.char_action(c) {
        Some(crate::rules::CharAction::Map(t, _)) => t,
        _ => c,
    }
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
fn make_unit(rules: &CompiledRules, page: &str, lines: &[Line], r: Range<usize>, block: usize, single_line_block: bool, furniture: bool, label: bool) -> Unit {
    let mut head_raw = String::new();
    for l in &lines[r.clone()] {
        head_raw.push_str(&page[l.content.clone()]);
        if char_len(&head_raw) > PREVIEW_CHARS + 20 {
            break;
        }
    }
    let mut tail_raw = String::new();
    for l in lines[r.clone()].iter().rev() {
        tail_raw.insert_str(0, &page[l.content.clone()]);
        if char_len(&tail_raw) > PREVIEW_CHARS + 20 {
            break;
        }
    }
    let head_norm = compact(&normalize_str(rules, &head_raw));
    let whole = (char_len(&head_raw) <= PREVIEW_CHARS).then(|| head_norm.clone());
    let head = head_chars(&head_norm, PREVIEW_CHARS).to_string();
    let tail = tail_chars(&compact(&normalize_str(rules, &tail_raw)), PREVIEW_CHARS).to_string();
    let starts_item = !furniture && !label && segment::starts_item(rules, &head, whole.as_deref());
    Unit { indent: lines[r.start].indent, lines: r, block, single_line_block, furniture, label, head, tail, whole, starts_item }
}

/// Could this unit be a headline by its shape: one line, short, not cut mid-clause.
fn headline_shaped(rules: &CompiledRules, u: &Unit) -> bool {
    let Some(w) = &u.whole else { return false };
    let n = char_len(w);
    let last = w.chars().next_back();
    let first = w.chars().next();
    u.single_line_block
        && !u.furniture
        && !u.label
        && !u.starts_item
        && n >= 2
        && n <= HEADLINE_MAX_CHARS
        && !last.is_some_and(|c| matches!(c, '，' | '、' | '；' | '：' | '。' | ',' | ';'))
        && !first.is_some_and(|c| rules.is_non_initial(c) || c == '（' || c == '(')
}

/// Decides, for each unit, whether it joins the next one, and which units are confirmed
/// headlines. Runs from the end of the page backwards, because whether a unit is a headline
/// depends on what follows it, and whether a caption ends in a credit depends on the joins after.
fn decide_joins(rules: &CompiledRules, units: &[Unit], layout: PageLayout) -> (Vec<bool>, Vec<bool>) {
    let n = units.len();
    let mut joins = vec![false; n];
    let mut headline = vec![false; n];
    // The end of the text from unit k to the end of its chain, and whether it ends in a credit.
    let mut chain_tail: Vec<String> = vec![String::new(); n];
    let mut caption = vec![false; n];
    for k in (0..n).rev() {
        let u = &units[k];
        let next_block_start = k + 1 < n && units[k + 1].block != u.block;
        if next_block_start {
            joins[k] = can_join(rules, units, k, layout, &headline, &caption);
        }
        chain_tail[k] = if joins[k] {
            let mut t = u.tail.clone();
            t.push_str(&chain_tail[k + 1]);
            tail_chars(&t, PREVIEW_CHARS).to_string()
        } else {
            u.tail.clone()
        };
        caption[k] = !u.furniture && !u.label && segment::ends_with_credit(rules, &chain_tail[k]);
        // A headline: a short single-line block followed (after a break) by the start of an item,
        // a photo caption, or another headline line (segment merges a headline of two lines).
        headline[k] = headline_shaped(rules, u) && !caption[k] && next_block_start && (units[k + 1].starts_item || caption[k + 1] || headline[k + 1]);
    }
    (joins, headline)
}

fn can_join(rules: &CompiledRules, units: &[Unit], k: usize, layout: PageLayout, headline: &[bool], caption: &[bool]) -> bool {
    let (a, b) = (&units[k], &units[k + 1]);
    if a.furniture || b.furniture || a.label || b.label || b.starts_item {
        return false;
    }
    // A byline on a line of its own is complete.
    if a.starts_item && a.whole.as_deref().is_some_and(|w| segment::is_byline_line(rules, w)) {
        return false;
    }
    let a_last = a.tail.chars().next_back();
    let b_first = b.head.chars().next();
    // A photo headline before its caption.
    if caption[k + 1] && headline_shaped(rules, a) {
        return false;
    }
    // A headline does not join the text before it.
    if headline[k + 1] {
        return false;
    }
    if b_first.is_some_and(|c| rules.is_non_initial(c)) {
        return true;
    }
    if layout.indent_page {
        return !b.indent;
    }
    !a_last.is_some_and(|c| rules.is_sentence_end(c))
}

/// Builds the text of a chain of units: its pieces, its join edits, normalization.
fn assemble(rules: &CompiledRules, page: &str, lines: &[Line], chain: &[Unit], role: Role, scratch: &mut Scratch, log: &mut EditLog) -> Paragraph {
    let mut pieces: Vec<Range<usize>> = Vec::new();
    let mut flags = Vec::new();
    let first_line = chain[0].lines.start;
    let last_line = chain[chain.len() - 1].lines.end - 1;
    let mut joins_log = EditLog { explain: log.explain, muted: log.muted, ..EditLog::default() };
    let mut prev: Option<(usize, usize)> = None; // (line index, block)
    for u in chain {
        for li in u.lines.clone() {
            let l = &lines[li];
            if let Some((pl, pb)) = prev {
                let gap = lines[pl].content.end..l.content.start;
                let column = pb != u.block;
                if role != Role::Furniture && role != Role::Label {
                    joins_log.push(join_rule(rules, column), gap.clone(), || page[gap.clone()].to_string(), "");
                    if column {
                        if let Some(f) = lost_char(page, &lines[pl], l) {
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
        furniture_text(rules, page, &pieces, scratch, &mut text, log);
    } else {
        normalize_pieces(rules, page, &pieces, mode, scratch, &mut text, log);
    }
    log.merge_counts(&joins_log);
    let mut edits = joins_log.take_edits();
    edits.extend(log.take_edits());
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    Paragraph { role, text, span: lines[first_line].content.start..lines[last_line].content.end, edits, flags }
}

fn join_rule(rules: &CompiledRules, column: bool) -> crate::rules::RuleIdx {
    if column {
        rules.join_break
    } else {
        rules.join_wrap
    }
}

fn furniture_text(rules: &CompiledRules, page: &str, pieces: &[Range<usize>], scratch: &mut Scratch, out: &mut ParaText, log: &mut EditLog) {
    // Normalize each line on its own and join them with a space.
    let mut part = ParaText::default();
    out.clear();
    for (i, p) in pieces.iter().enumerate() {
        normalize_pieces(rules, page, std::slice::from_ref(p), Mode::Furniture, scratch, &mut part, log);
        if i > 0 {
            out.push_separator(' ', p.start);
        }
        out.append(&part);
    }
}

/// Flags a column-break join that probably lost a character (see `flags` in the README).
pub fn lost_char(_page: &str, _before: &Line, _after: &Line) -> Option<Flag> {
    None
}
