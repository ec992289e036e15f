//! Checks of the output contract that tests, fuzzers and the corpus run can apply to any page.
//!
//! # Conservation ("nothing lost, nothing invented")
//!
//! The SPEC says that every non-whitespace character of the decoded page is in some record, or
//! was changed by a named rule. [`conservation`] checks exactly that, as a balance of character
//! counts. Let, for a character `c` that is not whitespace (see [`is_blank`]: Unicode
//! `White_Space`, plus the zero-width characters U+200B–U+200D, U+2060 and U+FEFF, which the SPEC
//! counts as whitespace noise (A10) and the layout reader strips with indentation like spaces):
//!
//! * `page(c)`: occurrences of `c` in the decoded page text (the text whose byte offsets the
//!   records' `span`s use: after BOM removal and line-end normalization);
//! * `fields(c)`: occurrences of `c` in every string field of every record: `section`,
//!   `headline`, `dateline`, each of `reporters` and `correspondents`, each of `paragraphs`, and
//!   each caption's `text` and `credit`. Not counted: `id`, `source`, `flags` (notes are
//!   commentary, not page text) and `edits`;
//! * `edits(c)`: over every edit of every record, `count(before, c) − count(after, c)`: what the
//!   edits took out of the text minus what they put in.
//!
//! The page is conserved when `page(c) == fields(c) + edits(c)` for every such `c`.
//!
//! An edit's `before` is the text at that point of the pipeline, not necessarily the page text:
//! `(` becomes `（` by `punct.halfwidth`, then the byline `（记者朱梦琪）` is taken out by
//! `byline.paren` with `after = "朱梦琪"`. The balance telescopes: `(` is +1 (the first edit took
//! it), `（` is −1 + 1 = 0, and `朱梦琪` is in `before`, in `after` and in `reporters`, so it nets to
//! one occurrence, as on the page. This is why the check needs records made with
//! `Options { explain: true, .. }`: without their edits a record set cannot be audited, and
//! [`conservation`] says so instead of reporting false losses.
//!
//! What the check does not see: a character that moved from one field to another, or text that was
//! reordered; two compensating errors on the same character (one lost, one invented). It is a
//! multiset balance, cheap enough to run on every page of a corpus and every fuzz input.
//!
//! # Idempotence
//!
//! The SPEC says running the tool on its own output changes nothing. Output is JSON, so "its own
//! output" needs a page made from records: [`render_clean_page`] writes one, laid out the way the
//! segmenter reads pages (see its docs for the conventions and for what cannot round-trip).
//! Processing that page must give the same gold fields and no text edits (only the structural
//! extractions of bylines and credits, which the rendering has to write back to be read again).

use std::collections::HashMap;
use std::fmt;

use crate::record::{Kind, Record};

/// How many offending characters a [`ConservationError`] describes in detail.
pub const REPORTED_CHARS: usize = 8;
/// How many page offsets are listed for each offending character.
pub const REPORTED_OFFSETS: usize = 4;

/// One character whose balance does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imbalance {
    pub ch: char,
    /// `page(c)`.
    pub in_page: usize,
    /// `fields(c)`.
    pub in_records: usize,
    /// `edits(c)`: removed by edits minus inserted by edits.
    pub by_edits: i64,
    /// Byte offsets of the first occurrences of `ch` in the page (at most [`REPORTED_OFFSETS`]).
    pub page_offsets: Vec<usize>,
}

impl Imbalance {
    /// `page − (fields + edits)`: positive when text was lost, negative when it was invented.
    pub fn missing(&self) -> i64 {
        self.in_page as i64 - self.in_records as i64 - self.by_edits
    }
}

/// Why [`conservation`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConservationError {
    /// The record at this position (0-based) carries no edits: it was not made with `explain`.
    NoEdits { record: usize },
    /// Some characters do not balance. `chars` holds the first [`REPORTED_CHARS`] of them in
    /// page order (characters absent from the page last); `total` counts all of them.
    Imbalance { chars: Vec<Imbalance>, total: usize, lost: i64, invented: i64 },
}

impl fmt::Display for ConservationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConservationError::NoEdits { record } => {
                write!(
                    f,
                    "record {} has no edits: conservation can only be checked on records made with explain",
                    record + 1
                )
            }
            ConservationError::Imbalance { chars, total, lost, invented } => {
                write!(f, "{total} character(s) do not balance ({lost} lost, {invented} invented):")?;
                for c in chars {
                    write!(
                        f,
                        "\n  {:?} (U+{:04X}): page {}, records {}, edits {:+} → {} {}",
                        c.ch,
                        c.ch as u32,
                        c.in_page,
                        c.in_records,
                        c.by_edits,
                        c.missing().abs(),
                        if c.missing() > 0 { "lost" } else { "invented" }
                    )?;
                    if !c.page_offsets.is_empty() {
                        write!(f, "; in the page at byte {:?}", c.page_offsets)?;
                    }
                }
                if *total > chars.len() {
                    write!(f, "\n  … and {} more", total - chars.len())?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConservationError {}

/// Whitespace for the conservation balance: Unicode `White_Space` (`char::is_whitespace`: space,
/// tab, line ends, NBSP, the ideographic space U+3000, U+2000–U+200A…) and the zero-width
/// characters of [`crate::text::is_zero_width`].
pub fn is_blank(c: char) -> bool {
    c.is_whitespace() || crate::text::is_zero_width(c)
}

/// Every string field of a record that holds page text (see the module docs).
pub fn text_fields(r: &Record) -> impl Iterator<Item = &str> {
    r.section
        .as_deref()
        .into_iter()
        .chain(r.headline.as_deref())
        .chain(r.dateline.as_deref())
        .chain(r.reporters.iter().map(String::as_str))
        .chain(r.correspondents.iter().map(String::as_str))
        .chain(r.paragraphs.iter().map(String::as_str))
        .chain(r.captions.iter().flat_map(|c| std::iter::once(c.text.as_str()).chain(c.credit.as_deref())))
}

/// Checks that `records` (made with `explain`) conserve the non-whitespace characters of
/// `page_text`; see the module docs for the exact definition.
pub fn conservation(page_text: &str, records: &[Record]) -> Result<(), ConservationError> {
    // balance[c] = page − fields − (before − after)
    let mut balance: HashMap<char, i64> = HashMap::new();
    let mut add = |s: &str, d: i64| {
        for c in s.chars().filter(|&c| !is_blank(c)) {
            *balance.entry(c).or_insert(0) += d;
        }
    };
    add(page_text, 1);
    for (i, r) in records.iter().enumerate() {
        let Some(edits) = &r.edits else { return Err(ConservationError::NoEdits { record: i }) };
        for s in text_fields(r) {
            add(s, -1);
        }
        for e in edits {
            add(&e.before, -1);
            add(&e.after, 1);
        }
    }
    let bad: HashMap<char, i64> = balance.into_iter().filter(|&(_, n)| n != 0).collect();
    if bad.is_empty() {
        return Ok(());
    }
    // Describe the offenders in page order.
    let mut first_seen: HashMap<char, usize> = HashMap::new();
    let mut offsets: HashMap<char, Vec<usize>> = HashMap::new();
    let mut page_count: HashMap<char, usize> = HashMap::new();
    for (i, c) in page_text.char_indices() {
        if bad.contains_key(&c) {
            first_seen.entry(c).or_insert(i);
            *page_count.entry(c).or_default() += 1;
            let v = offsets.entry(c).or_default();
            if v.len() < REPORTED_OFFSETS {
                v.push(i);
            }
        }
    }
    let mut record_count: HashMap<char, usize> = HashMap::new();
    let mut edit_count: HashMap<char, i64> = HashMap::new();
    for r in records {
        for s in text_fields(r) {
            for c in s.chars().filter(|c| bad.contains_key(c)) {
                *record_count.entry(c).or_default() += 1;
            }
        }
        for e in r.edits.iter().flatten() {
            for c in e.before.chars().filter(|c| bad.contains_key(c)) {
                *edit_count.entry(c).or_default() += 1;
            }
            for c in e.after.chars().filter(|c| bad.contains_key(c)) {
                *edit_count.entry(c).or_default() -= 1;
            }
        }
    }
    let mut order: Vec<char> = bad.keys().copied().collect();
    order.sort_by_key(|c| (first_seen.get(c).copied().unwrap_or(usize::MAX), *c));
    let lost = bad.values().filter(|&&n| n > 0).sum();
    let invented = -bad.values().filter(|&&n| n < 0).sum::<i64>();
    let chars = order
        .iter()
        .take(REPORTED_CHARS)
        .map(|&c| Imbalance {
            ch: c,
            in_page: page_count.get(&c).copied().unwrap_or(0),
            in_records: record_count.get(&c).copied().unwrap_or(0),
            by_edits: edit_count.get(&c).copied().unwrap_or(0),
            page_offsets: offsets.remove(&c).unwrap_or_default(),
        })
        .collect();
    Err(ConservationError::Imbalance { chars, total: order.len(), lost, invented })
}

/// Checks that every `span` of the records and of their edits lies inside `page_text` on char
/// boundaries, with `start <= end`. Returns a description of the first bad span.
pub fn spans(page_text: &str, records: &[Record]) -> Result<(), String> {
    let ok = |s: [usize; 2]| {
        s[0] <= s[1] && s[1] <= page_text.len() && page_text.is_char_boundary(s[0]) && page_text.is_char_boundary(s[1])
    };
    for r in records {
        if !ok(r.span) {
            return Err(format!(
                "record {}: span {:?} is not a char range of the page ({} bytes)",
                r.index,
                r.span,
                page_text.len()
            ));
        }
        for e in r.edits.iter().flatten() {
            if !ok(e.span) {
                return Err(format!(
                    "record {}: edit {} span {:?} is not a char range of the page ({} bytes)",
                    r.index,
                    e.rule,
                    e.span,
                    page_text.len()
                ));
            }
        }
        for f in &r.flags {
            if let Some(s) = f.span {
                if !ok(s) {
                    return Err(format!(
                        "record {}: flag {} span {:?} is not a char range of the page",
                        r.index, f.code, s
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Is this rule id a structural extraction (a byline or a credit taken out of the text) rather
/// than a text repair? Re-reading a rendered page repeats those; it must repeat nothing else.
pub fn is_extraction_rule(rule: &str) -> bool {
    rule.starts_with("byline.") || rule.starts_with("caption.")
}

/// Longest line of a column label as [`render_clean_page`] writes it (the built-in
/// `section.column-label` rule reads labels of 2–4 lines of at most 6 Han characters).
pub const LABEL_LINE_CHARS: usize = 6;
/// Most lines of a rendered column label.
pub const LABEL_MAX_LINES: usize = 4;

/// Writes records back as a clean page that the pipeline reads into the same records.
///
/// Layout (chosen to match how `repair` and `segment` read pages with the built-in rules):
///
/// * items follow each other in record order, every paragraph is its own block, blocks are
///   separated by one blank line;
/// * a `section` is written as a column label right before its item: the label's characters in
///   2–4 lines of at most [`LABEL_LINE_CHARS`] characters (labels are recognized by that shape);
/// * the `headline` is one unindented line;
/// * body paragraphs and captions start with an ideographic-space indent (`　　`), so that the page
///   reads as an indented page: a paragraph that does not end in a sentence end then still ends
///   where the next indented one starts, instead of being taken for text cut by a column break;
/// * the `dateline` opens the first paragraph; reporters (and correspondents) follow as
///   `（记者A、B通讯员C）`, names separated by `、` (a space would be an edit of its own). Without
///   a dateline, a parenthesised byline does not open an item, so reporters are written as a
///   byline line `本报记者A、B` (the agency `本报` is required by the byline-line pattern);
/// * a caption is `text（credit摄）`, the credit's names as they are (`、`-separated);
/// * a furniture record is its paragraphs, one block each, unindented (a paragraph of 2–24 Han
///   characters and nothing else is a column label that named no item, and is written as one).
///
/// What cannot round-trip (the idempotence tests avoid generating it, and say so):
///
/// * a headline longer than the headline limit (48 characters), or a headline made of two
///   headline lines (they were concatenated without a separator);
/// * a section that does not fit 2–4 lines of 6 Han characters, or that belongs to a
///   headline-less item of one block whose previous item has no section while the next item
///   starts with a headline (a label before it names the previous item, a label after it the
///   next);
/// * a section label that was alone on the page (a furniture record holding the label);
/// * a single-character reporter or credit name (single-character pieces are read as a name that
///   OCR split and joined to a neighbour);
/// * a caption without credit (a caption is recognized by its credit);
/// * a paragraph that starts with a character no paragraph starts with (`，`…): it is read as the
///   continuation of the paragraph before;
/// * a brief without dateline or reporters after an item that is not photo news (its text is
///   read as more body of the item before).
pub fn render_clean_page(records: &[Record]) -> String {
    const INDENT: &str = "\u{3000}\u{3000}";
    let mut blocks: Vec<String> = Vec::new();
    // Whether the last item that was not furniture has a section (None: there is none).
    let mut prev_has_section: Option<bool> = None;
    for r in records {
        if r.kind == Kind::Furniture {
            // A column label that named no item stands alone as furniture: write it as a label.
            let label_shaped = |p: &str| {
                p.chars().all(crate::text::is_han)
                    && (2..=LABEL_LINE_CHARS * LABEL_MAX_LINES).contains(&p.chars().count())
            };
            blocks.extend(r.paragraphs.iter().map(|p| if label_shaped(p) { label_lines(p) } else { p.clone() }));
            continue;
        }
        // A label before a headline names the item after it; a label elsewhere names the item
        // before it if that one has none.
        let label_after = r.section.is_some() && r.headline.is_none() && prev_has_section == Some(false);
        prev_has_section = Some(r.section.is_some());
        if let (Some(section), false) = (&r.section, label_after) {
            blocks.push(label_lines(section));
        }
        if let Some(h) = &r.headline {
            blocks.push(h.clone());
        }
        let byline = |paren: bool| {
            let mut s = String::new();
            if !r.reporters.is_empty() {
                s.push_str(if paren { "（记者" } else { "本报记者" });
                s.push_str(&r.reporters.join("、"));
            }
            if !r.correspondents.is_empty() {
                if s.is_empty() && paren {
                    s.push('（');
                } else if s.is_empty() {
                    s.push_str("本报");
                }
                s.push_str("通讯员");
                s.push_str(&r.correspondents.join("、"));
            }
            if paren && !s.is_empty() {
                s.push('）');
            }
            s
        };
        let item_start = blocks.len();
        let mut paragraphs = r.paragraphs.iter();
        match &r.dateline {
            Some(d) => {
                let mut first = format!("{INDENT}{d}{}", byline(true));
                if let Some(p) = paragraphs.next() {
                    first.push_str(p);
                }
                blocks.push(first);
            }
            None => {
                let b = byline(false);
                if !b.is_empty() {
                    blocks.push(format!("{INDENT}{b}"));
                }
            }
        }
        for p in paragraphs {
            blocks.push(format!("{INDENT}{p}"));
        }
        for c in &r.captions {
            match &c.credit {
                Some(credit) => blocks.push(format!("{INDENT}{}（{credit}摄）", c.text)),
                None => blocks.push(format!("{INDENT}{}", c.text)),
            }
        }
        if let (Some(section), true) = (&r.section, label_after) {
            // Between the item's first and second block if it has two (what follows the label
            // is then more of this item), else after it.
            let at = if blocks.len() - item_start >= 2 { item_start + 1 } else { blocks.len() };
            blocks.insert(at, label_lines(section));
        }
    }
    let mut page = blocks.join("\n\n");
    page.push('\n');
    page
}

/// A column label as 2–4 short lines (one line when it is too short or too long to be a label).
fn label_lines(section: &str) -> String {
    let chars: Vec<char> = section.chars().collect();
    let n = chars.len();
    if !(2..=LABEL_LINE_CHARS * LABEL_MAX_LINES).contains(&n) {
        return section.to_string();
    }
    let lines = n.div_ceil(LABEL_LINE_CHARS).max(2);
    let per = n.div_ceil(lines);
    chars.chunks(per).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Caption, Edit};

    fn record(paragraphs: &[&str], edits: Vec<Edit>) -> Record {
        Record {
            id: "p#1".into(),
            source: "p".into(),
            index: 1,
            kind: Kind::Brief,
            section: None,
            headline: None,
            dateline: Some("本报讯".into()),
            reporters: vec!["朱梦琪".into()],
            correspondents: vec![],
            paragraphs: paragraphs.iter().map(|s| s.to_string()).collect(),
            captions: vec![],
            span: [0, 0],
            flags: vec![],
            edits: Some(edits),
        }
    }

    fn edit(rule: &str, before: &str, after: &str) -> Edit {
        Edit { rule: rule.into(), span: [0, 0], before: before.into(), after: after.into() }
    }

    const PAGE: &str = "本报讯 (记者 朱梦琪) 昨天上午,全区会议召开。";

    fn good_edits() -> Vec<Edit> {
        vec![
            edit("punct.halfwidth", "(", "（"),
            edit("byline.paren", "（记者朱梦琪）", "朱梦琪"),
            edit("punct.halfwidth", ")", "）"),
            edit("punct.halfwidth", ",", "，"),
        ]
    }

    #[test]
    fn chained_edits_telescope() {
        let r = record(&["昨天上午，全区会议召开。"], good_edits());
        conservation(PAGE, &[r]).unwrap();
    }

    #[test]
    fn lost_and_invented_text_is_reported_with_offsets() {
        let r = record(&["昨天上午，全区会议。", "多"], good_edits());
        let e = conservation(PAGE, &[r]).unwrap_err();
        let ConservationError::Imbalance { chars, total, lost, invented } = &e else { panic!("{e}") };
        assert_eq!((*total, *lost, *invented), (3, 2, 1));
        assert_eq!(chars[0].ch, '召');
        assert_eq!(chars[0].page_offsets, vec![PAGE.find('召').unwrap()]);
        assert_eq!(chars[0].missing(), 1);
        assert_eq!(chars[2].ch, '多');
        assert_eq!(chars[2].missing(), -1);
        let msg = e.to_string();
        assert!(msg.contains("'召'") && msg.contains("lost") && msg.contains("invented"), "{msg}");
    }

    #[test]
    fn records_without_edits_cannot_be_audited() {
        let mut r = record(&["昨天上午，全区会议召开。"], vec![]);
        r.edits = None;
        assert_eq!(conservation(PAGE, &[r]), Err(ConservationError::NoEdits { record: 0 }));
    }

    #[test]
    fn whitespace_and_zero_width_are_not_counted() {
        let r = record(&["昨天上午，全区会议召开。"], good_edits());
        let page = PAGE.replace(' ', "\u{3000}\u{00A0}\n\u{200B}");
        conservation(&page, std::slice::from_ref(&r)).unwrap();
        let page = PAGE.replace("全区", "全\u{00AD}区");
        assert!(conservation(&page, &[r]).is_err());
    }

    #[test]
    fn render_writes_the_reading_conventions() {
        let mut r = record(&["昨天上午，全区会议召开。", "第二段。"], vec![]);
        r.kind = Kind::Article;
        r.headline = Some("全区会议召开".into());
        r.section = Some("重点项目进行时".into());
        r.reporters.push("吴梦婷".into());
        let mut photo = record(&[], vec![]);
        photo.kind = Kind::Photo;
        photo.dateline = None;
        photo.reporters.clear();
        photo.captions.push(Caption { text: "图为现场。".into(), credit: Some("徐晶玮".into()) });
        let page = render_clean_page(&[r, photo]);
        assert_eq!(
            page,
            "重点项目\n进行时\n\n全区会议召开\n\n　　本报讯（记者朱梦琪、吴梦婷）昨天上午，全区会议召开。\n\n　　第二段。\n\n　　图为现场。（徐晶玮摄）\n"
        );
    }

    #[test]
    fn label_lines_fit_the_label_shape() {
        assert_eq!(label_lines("重点项目进行时"), "重点项目\n进行时");
        assert_eq!(label_lines("要闻"), "要\n闻");
        assert_eq!(label_lines("一二三四五六七八九十一二三"), "一二三四五\n六七八九十\n一二三");
        assert_eq!(label_lines("一"), "一");
    }
}
