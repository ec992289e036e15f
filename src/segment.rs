//! Stage 4: paragraphs to items (SPEC A5, A6, A7).
//!
//! Items start at headlines and at datelines and bylines; a dateline with no headline right
//! before it opens a brief. A paragraph that ends in a photographer credit is a caption: after a
//! headline it makes photo news, elsewhere a photo item of its own. Page furniture becomes
//! furniture items, and a column label becomes the `section` of the item it stands next to.
//!
//! Taking a dateline out of the first paragraph moves text into the `dateline` field. Taking out
//! a byline or a credit drops the words around the names (`（记者 …）`, `摄`); those are edits
//! (`before` the byline, `after` the names kept), so that every character of the page stays
//! accounted for.

use std::ops::Range;

use crate::edits::{EditLog, RawEdit};
use crate::record::{Caption, Flag, Kind};
use crate::repair::{Paragraph, Role};
use crate::rules::{BylinePosition, CompiledRules, Groups, RuleIdx};
use crate::text::{char_len, compact, is_hspace};

/// An item of the page, before it is written out.
#[derive(Debug, Clone)]
pub struct Item {
    pub kind: Kind,
    pub section: Option<String>,
    pub headline: Option<String>,
    pub dateline: Option<String>,
    pub reporters: Vec<String>,
    pub correspondents: Vec<String>,
    pub paragraphs: Vec<String>,
    pub captions: Vec<Caption>,
    pub span: Range<usize>,
    pub flags: Vec<Flag>,
    pub edits: Vec<RawEdit>,
}

impl Item {
    fn new(kind: Kind, span: Range<usize>) -> Item {
        Item {
            kind,
            section: None,
            headline: None,
            dateline: None,
            reporters: Vec::new(),
            correspondents: Vec::new(),
            paragraphs: Vec::new(),
            captions: Vec::new(),
            span,
            flags: Vec::new(),
            edits: Vec::new(),
        }
    }

    /// Nothing but a headline, dateline or byline so far: the next start belongs to it.
    fn is_open_head(&self) -> bool {
        self.kind != Kind::Furniture && self.paragraphs.is_empty() && self.captions.is_empty()
    }

    fn absorb(&mut self, p: &mut Paragraph) {
        self.span.start = self.span.start.min(p.span.start);
        self.span.end = self.span.end.max(p.span.end);
        self.flags.append(&mut p.flags);
        self.edits.append(&mut p.edits);
    }

    fn finish(&mut self) {
        if self.kind == Kind::Furniture {
            return;
        }
        self.kind = match (&self.headline, self.paragraphs.is_empty(), self.captions.is_empty()) {
            (_, true, false) => Kind::Photo,
            (Some(_), _, _) => Kind::Article,
            (None, _, _) => Kind::Brief,
        };
        self.edits.sort_by_key(|e| (e.span.start, e.span.end));
    }
}

/// A column label waiting for the item it names, with what its paragraph carried.
struct Pending {
    label: String,
    holder: Item,
}

impl Pending {
    /// Makes the pending label (if any) the section of `item`, with its span, flags and edits.
    fn give(pending: &mut Option<Pending>, item: &mut Item) {
        if let Some(Pending { label, mut holder }) = pending.take() {
            item.section = Some(label);
            item.span.start = item.span.start.min(holder.span.start);
            item.span.end = item.span.end.max(holder.span.end);
            item.flags.append(&mut holder.flags);
            item.edits.append(&mut holder.edits);
        }
    }

    /// The label as an item of its own (furniture).
    fn alone(self) -> Item {
        let mut item = self.holder;
        item.paragraphs.push(self.label);
        item
    }
}

/// Is this line (raw page text) page furniture?
pub fn is_furniture_line(rules: &CompiledRules, line: &str) -> bool {
    if rules.furniture.is_empty() || line.len() > 48 * 4 {
        return false;
    }
    // A line whose first character normalization leaves as it is, and that no furniture pattern
    // starts with, is no furniture: decided without reading the rest of the line. (Before the
    // length: nearly every line is decided here, and most are long enough to need counting.)
    if let Some(c) = line.trim_start().chars().next() {
        if !rules.needs_attention(c) && !rules.furniture.iter().any(|(re, _)| re.may_start_with(c)) {
            return false;
        }
    }
    // (At most 48 bytes is at most 48 characters: the count is needed only for longer lines.)
    if line.len() > 48 && char_len(line) > 48 {
        return false;
    }
    let matches = |t: &str| !t.is_empty() && rules.furniture.iter().any(|(re, _)| re.is_match(t));
    // Most lines are decided on their raw text; only a line with full-width letters or digits,
    // which the patterns do not spell, is normalized first.
    let wide = line.chars().any(|c| ('０'..='ｚ').contains(&c));
    if wide {
        matches(crate::normalize::normalize_str(rules, line).trim())
    } else {
        matches(line.trim())
    }
}

/// Does a paragraph whose normalized text starts with `head` open an item? `whole`
/// is the whole paragraph when it is short.
pub fn starts_item(rules: &CompiledRules, head: &str, whole: Option<&str>) -> bool {
    // (`whole`, when given, starts as `head` does.)
    rules.may_open(head)
        && (rules.datelines.iter().any(|(re, _)| re.is_match(head))
            || rules.bylines.iter().any(|b| match b.position {
                // (The cheap test first: the parenthesised byline starts with one.)
                BylinePosition::AfterDateline => !head.starts_with(['（', '(']) && b.regex.is_match(head),
                BylinePosition::Line => whole.is_some_and(|w| b.regex.is_match(w)),
            }))
}

/// Is `whole` a byline on a line of its own?
pub fn is_byline_line(rules: &CompiledRules, whole: &str) -> bool {
    rules.bylines.iter().any(|b| b.position == BylinePosition::Line && b.regex.is_match(whole))
}

/// Does text that ends with `tail` end in a photographer credit?
pub fn ends_with_credit(rules: &CompiledRules, tail: &str) -> bool {
    rules.may_end_in_credit(tail) && rules.credits.iter().any(|(re, _)| re.is_match(tail))
}

/// Groups the paragraphs of a page into items.
pub fn items(rules: &CompiledRules, mut paragraphs: Vec<Paragraph>, log: &mut EditLog) -> Vec<Item> {
    // (At most one item a paragraph, and one for a label left pending: room for all, so that the
    // items, a few hundred bytes each, are not copied as the vector grows.)
    let mut items: Vec<Item> = Vec::with_capacity(paragraphs.len() + 1);
    // The item that body text goes to.
    let mut current: Option<usize> = None;
    let mut pending_section: Option<Pending> = None;
    let n = paragraphs.len();
    for i in 0..n {
        let next_role = paragraphs.get(i + 1).map(|p| p.role);
        let p = &mut paragraphs[i];
        match p.role {
            Role::Furniture => {
                let mut item = Item::new(Kind::Furniture, p.span.clone());
                item.paragraphs.push(std::mem::take(&mut p.text.text));
                item.absorb(p);
                items.push(item);
            }
            Role::Label => {
                let label = compact(&p.text.text);
                // A label before a headline names what follows; elsewhere what it stands after.
                match current {
                    Some(c) if next_role != Some(Role::Headline) && items[c].section.is_none() => {
                        items[c].section = Some(label);
                        items[c].absorb(p);
                    }
                    _ => {
                        // The label's paragraph (span, flags, edits) goes with it; a label that a
                        // newer one replaces before it named anything stands alone.
                        let mut holder = Item::new(Kind::Furniture, p.span.clone());
                        holder.absorb(p);
                        if let Some(prev) = pending_section.replace(Pending { label, holder }) {
                            items.push(prev.alone());
                        }
                    }
                }
            }
            Role::Headline => {
                // (The paragraph is done with: its text moves.)
                let text = std::mem::take(&mut p.text.text);
                match current {
                    // A second headline line right after the first: one headline.
                    Some(c)
                        if items[c].is_open_head()
                            && items[c].headline.is_some()
                            && items[c].dateline.is_none()
                            && items[c].reporters.is_empty() =>
                    {
                        items[c].headline.as_mut().unwrap().push_str(&text);
                        items[c].absorb(p);
                    }
                    _ => {
                        let mut item = Item::new(Kind::Article, p.span.clone());
                        item.headline = Some(text);
                        Pending::give(&mut pending_section, &mut item);
                        item.absorb(p);
                        items.push(item);
                        current = Some(items.len() - 1);
                    }
                }
            }
            Role::Body => body(rules, p, &mut items, &mut current, &mut pending_section, log),
        }
    }
    if pending_section.is_some() {
        // A label with nothing after it: it belongs to the last item, or stands alone.
        match items.iter_mut().rev().find(|it| it.kind != Kind::Furniture && it.section.is_none()) {
            Some(it) => Pending::give(&mut pending_section, it),
            None => items.push(pending_section.take().unwrap().alone()),
        }
    }
    for it in &mut items {
        it.finish();
    }
    items
}

/// What the start of a paragraph carried: dateline, byline, and where the text begins.
struct Opening {
    dateline: Option<String>,
    reporters: Vec<String>,
    correspondents: Vec<String>,
    text_start: usize,
    starts_item: bool,
}

fn body(
    rules: &CompiledRules,
    p: &mut Paragraph,
    items: &mut Vec<Item>,
    current: &mut Option<usize>,
    pending_section: &mut Option<Pending>,
    log: &mut EditLog,
) {
    // A dateline that stood alone in its paragraph (a column break after it, or an unwrapped
    // line): a parenthesised byline at the start of this one is still its byline, as it would be
    // had the break not come between them.
    let after_dateline = current.is_some_and(|c| {
        let it = &items[c];
        it.is_open_head() && it.dateline.is_some() && it.reporters.is_empty() && it.correspondents.is_empty()
    });
    let mut open = Opening::none();
    if p.opens {
        opening(rules, p, after_dateline, &mut open, log);
    } else if after_dateline {
        byline_after_dateline(rules, p, true, &mut open, log);
    }
    let rest = &p.text.text[open.text_start..];
    let start = p.text.text.len() - rest.trim_start_matches(|c: char| is_hspace(c)).len();
    let caption = if open.starts_item || !p.ends_credit {
        None
    } else {
        let text = p.text.text[start..].to_string();
        credit(rules, p, &text, open.text_start, log)
    };

    if let Some(mut cap) = caption {
        let target = match *current {
            // Photo news whose caption came in more than one paragraph: a headline, a short text
            // with no dateline or byline, and now the credit. The text is the caption's start.
            Some(c)
                if items[c].headline.is_some()
                    && items[c].dateline.is_none()
                    && items[c].reporters.is_empty()
                    && items[c].captions.is_empty()
                    && (1..=2).contains(&items[c].paragraphs.len()) =>
            {
                let mut text: String = items[c].paragraphs.drain(..).collect();
                text.push_str(&cap.text);
                cap.text = text;
                c
            }
            Some(c) if items[c].is_open_head() && items[c].headline.is_some() && items[c].dateline.is_none() => c,
            Some(c) if items[c].kind == Kind::Photo => c,
            _ => {
                let mut item = Item::new(Kind::Photo, p.span.clone());
                Pending::give(pending_section, &mut item);
                items.push(item);
                items.len() - 1
            }
        };
        items[target].kind = Kind::Photo;
        items[target].captions.push(cap);
        items[target].absorb(p);
        *current = Some(target);
        return;
    }

    let target = match *current {
        Some(c)
            if open.starts_item
                && items[c].is_open_head()
                && !(open.dateline.is_some() && items[c].dateline.is_some()) =>
        {
            c
        }
        Some(c) if !open.starts_item && items[c].kind != Kind::Photo => c,
        _ => {
            let mut item = Item::new(Kind::Brief, p.span.clone());
            Pending::give(pending_section, &mut item);
            items.push(item);
            items.len() - 1
        }
    };
    let it = &mut items[target];
    if open.dateline.is_some() {
        it.dateline = open.dateline;
    }
    // (Moved when the item has none yet, the usual case: extending an empty vector copies.)
    for (to, from) in [(&mut it.reporters, open.reporters), (&mut it.correspondents, open.correspondents)] {
        if to.is_empty() {
            *to = from;
        } else {
            to.extend(from);
        }
    }
    // The paragraph's text moves into the item, less what the opening took from its start.
    let mut text = std::mem::take(&mut p.text.text);
    text.drain(..start);
    if !text.is_empty() {
        it.paragraphs.push(text);
    }
    it.absorb(p);
    *current = Some(target);
}

impl Opening {
    /// Nothing taken: the paragraph is text from its start.
    fn none() -> Opening {
        Opening { dateline: None, reporters: Vec::new(), correspondents: Vec::new(), text_start: 0, starts_item: false }
    }
}

/// Reads the dateline and byline at the start of a paragraph into `o`. `after_dateline`: the
/// item's dateline came in the paragraph before (see [`body`]).
fn opening(rules: &CompiledRules, p: &mut Paragraph, after_dateline: bool, o: &mut Opening, log: &mut EditLog) {
    // A byline that is the whole paragraph.
    for b in rules.bylines.iter().filter(|b| b.position == BylinePosition::Line) {
        if let Some(caps) = b.regex.captures(&p.text.text) {
            let caps = OwnedCaps::new(&caps, 0);
            let len = p.text.text.len();
            take_byline(p, &caps, 0..len, b.rule, o, log);
            o.text_start = p.text.text.len();
            o.starts_item = true;
            return;
        }
    }
    let t = &p.text.text;
    if let Some(m) = rules.datelines.iter().find_map(|(re, _)| re.find(t)) {
        o.dateline = Some(t[m.clone()].to_string());
        o.text_start = m.end;
        o.starts_item = true;
    }
    let after_dateline = after_dateline || o.dateline.is_some();
    byline_after_dateline(rules, p, after_dateline, o, log);
}

/// Reads a byline where the text of `o` starts (after its dateline, if any). A parenthesised
/// byline is one only `after_dateline`: elsewhere `（记者…）` is text.
fn byline_after_dateline(
    rules: &CompiledRules,
    p: &mut Paragraph,
    after_dateline: bool,
    o: &mut Opening,
    log: &mut EditLog,
) {
    let rest_start = o.text_start + p.text.text[o.text_start..].len() - p.text.text[o.text_start..].trim_start().len();
    for b in rules.bylines.iter().filter(|b| b.position == BylinePosition::AfterDateline) {
        let rest = &p.text.text[rest_start..];
        if !after_dateline && rest.starts_with(['（', '(']) {
            continue;
        }
        if let Some(caps) = b.regex.captures(rest) {
            let whole = caps.get(0).unwrap();
            let range = rest_start + whole.start..rest_start + whole.end;
            let caps = OwnedCaps::new(&caps, rest_start);
            take_byline(p, &caps, range.clone(), b.rule, o, log);
            o.text_start = range.end;
            o.starts_item = true;
            break;
        }
    }
}

/// Capture positions of a byline match, shifted to paragraph offsets.
struct OwnedCaps {
    reporters: Option<Range<usize>>,
    correspondents: Option<Range<usize>>,
}

impl OwnedCaps {
    fn new(caps: &Groups<'_>, shift: usize) -> OwnedCaps {
        let g = |name: &str| caps.name(name).map(|m| m.start + shift..m.end + shift);
        OwnedCaps { reporters: g("reporters"), correspondents: g("correspondents") }
    }
}

fn take_byline(
    p: &mut Paragraph,
    caps: &OwnedCaps,
    range: Range<usize>,
    rule: RuleIdx,
    o: &mut Opening,
    log: &mut EditLog,
) {
    if let Some(r) = &caps.reporters {
        o.reporters = split_names(&p.text.text, r.clone(), &p.text.cuts);
    }
    if let Some(r) = &caps.correspondents {
        o.correspondents = split_names(&p.text.text, r.clone(), &p.text.cuts);
    }
    // (What the edit leaves is only read when edits are kept.)
    let after = if log.keeps_edits() {
        let mut kept: Vec<&str> = o.reporters.iter().map(String::as_str).collect();
        kept.extend(o.correspondents.iter().map(String::as_str));
        kept.join(" ")
    } else {
        String::new()
    };
    extraction_edit(p, range, rule, &after, log);
}

fn extraction_edit(p: &mut Paragraph, range: Range<usize>, rule: RuleIdx, after: &str, log: &mut EditLog) {
    // (Only kept edits read the span, and only their texts keep the map that gives it.)
    let span = if p.text.is_mapped() { p.text.span_to_page(range.clone()) } else { 0..0 };
    let explain = log.explain;
    log.push(rule, span, || p.text.text[range].to_string(), after);
    if explain {
        if let Some(e) = log.edits.pop() {
            p.edits.push(e);
        }
    }
}

/// Splits a run of names at separators and at removed spaces. A one-character piece is a name
/// that OCR cut with a space (`陈  国琦`) and joins its neighbour.
pub fn split_names(text: &str, r: Range<usize>, cuts: &[u32]) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    // Pieces are runs of the text between separators and cuts, copied whole when they end (a
    // character at a time, each piece grew its string two or three times).
    let names = &text[r.clone()];
    let mut piece_start: Option<usize> = None;
    for (i, c) in names.char_indices() {
        let cut = i > 0 && cuts.binary_search(&((r.start + i) as u32)).is_ok();
        let separator = c.is_whitespace() || is_hspace(c) || matches!(c, '、' | '，' | ',');
        if cut || separator {
            if let Some(s) = piece_start.take() {
                pieces.push(names[s..i].to_string());
            }
        }
        if !separator {
            piece_start.get_or_insert(i);
        }
    }
    if let Some(s) = piece_start {
        pieces.push(names[s..].to_string());
    }
    // Merge one-character pieces into a neighbour (the shorter one), in one pass: a piece that
    // goes to the next one is carried over to it (`Vec::remove` per piece was quadratic).
    if pieces.len() > 1 {
        let lens: Vec<usize> = pieces.iter().map(|p| char_len(p)).collect();
        let n = pieces.len();
        let mut out: Vec<String> = Vec::with_capacity(n);
        let mut carry = String::new();
        for (k, piece) in pieces.into_iter().enumerate() {
            let p = if carry.is_empty() { piece } else { std::mem::take(&mut carry) + &piece };
            if char_len(&p) == 1 {
                let into_next = k + 1 < n && out.last().map_or(true, |last| lens[k + 1] <= char_len(last));
                if into_next {
                    carry = p;
                    continue;
                }
                if let Some(last) = out.last_mut() {
                    last.push_str(&p);
                    continue;
                }
            }
            out.push(p);
        }
        pieces = out;
    }
    for p in &mut pieces {
        if p.chars().count() > 2 && p.ends_with('等') {
            p.pop();
        }
    }
    pieces.retain(|p| !p.is_empty());
    pieces
}

/// A credit at the end of the paragraph text (which starts at `start` in the paragraph).
fn credit(rules: &CompiledRules, p: &mut Paragraph, text: &str, start: usize, log: &mut EditLog) -> Option<Caption> {
    for (re, rule) in &rules.credits {
        let Some(caps) = re.captures(text) else {
            continue;
        };
        let cut = caps.name("cut").map_or(caps.get(0).unwrap().start, |m| m.start);
        let name_range = caps.name("credit")?;
        let offset = start + (p.text.text.len() - start - text.len());
        let names = split_names(text, name_range, &shift_cuts(&p.text.cuts, offset));
        let credit = names.join("、");
        let caption_text = text[..cut].trim_end().to_string();
        let range = offset + cut..offset + text.len();
        extraction_edit(p, range, *rule, &credit, log);
        return Some(Caption { text: caption_text, credit: (!credit.is_empty()).then_some(credit) });
    }
    None
}

fn shift_cuts(cuts: &[u32], by: usize) -> Vec<u32> {
    cuts.iter().filter(|&&c| c as usize >= by).map(|&c| c - by as u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, Pipeline, Record, RuleSet};

    fn run(page: &str) -> Vec<Record> {
        Pipeline::new(&RuleSet::builtin(), Options { explain: true, encoding: None })
            .unwrap()
            .process_text("t.txt", page)
            .records
    }

    #[test]
    fn names_split_at_spaces_and_marks_and_one_character_pieces_rejoin() {
        // Cuts are where normalization removed a space: 陈  国琦 had one inside the name.
        let t = "陈国琦吴梦婷";
        assert_eq!(split_names(t, 0..t.len(), &[3, 9]), ["陈国琦", "吴梦婷"]);
        let t = "王明、李华";
        assert_eq!(split_names(t, 0..t.len(), &[]), ["王明", "李华"]);
        let t = "朱梦琪";
        assert_eq!(split_names(t, 0..t.len(), &[6]), ["朱梦琪"]);
        let t = "阿德·梅尔克特等";
        assert_eq!(split_names(t, 0..t.len(), &[]), ["阿德·梅尔克特"]);
    }

    #[test]
    fn a_dateline_without_headline_opens_a_brief() {
        let r = run("本报讯 今天天气很好。（张三）\n\n本报讯 明天也好。（李四）\n");
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|r| r.kind == Kind::Brief && r.dateline.as_deref() == Some("本报讯")));
    }

    #[test]
    fn a_parenthesised_byline_after_a_break_after_the_dateline_is_the_byline() {
        // The dateline ends its paragraph (a column break); the byline opens the next one.
        let r = run("中东和平进程\n\n新华社开罗1月5日电\n\n（记者 李新华）埃及政府今天宣布。\n\n（记者 王明）说。\n");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].dateline.as_deref(), Some("新华社开罗1月5日电"));
        assert_eq!(r[0].reporters, ["李新华"]);
        // Only the paragraph right after the dateline: once the item has text, `（记者…）` is text.
        assert_eq!(r[0].paragraphs, ["埃及政府今天宣布。", "（记者王明）说。"]);
        // Without a dateline, a parenthesised byline is text.
        let r = run("中东和平进程\n\n埃及政府今天宣布。\n\n（记者 李新华）说。\n");
        assert!(r[0].reporters.is_empty());
        assert_eq!(r[0].paragraphs.last().map(String::as_str), Some("（记者李新华）说。"));
    }

    #[test]
    fn byline_line_then_dateline_make_one_item() {
        let r = run("中东和平进程\n\n本报驻埃及记者李新华\n\n本报开罗1月5日电 埃及政府今天宣布。\n");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].headline.as_deref(), Some("中东和平进程"));
        assert_eq!(r[0].reporters, ["李新华"]);
        assert_eq!(r[0].dateline.as_deref(), Some("本报开罗1月5日电"));
        assert_eq!(r[0].paragraphs, ["埃及政府今天宣布。"]);
    }

    #[test]
    fn a_caption_after_an_article_is_a_photo_item_with_the_label_as_section() {
        let r = run(
            "全区会议召开\n\n本报讯 昨天上午，全区会议召开。\n\n\n\n图为项目建设现场。徐晶玮 摄\n\n重点项目\n进行时\n",
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].kind, Kind::Photo);
        assert_eq!(r[1].section.as_deref(), Some("重点项目进行时"));
        assert_eq!(r[1].captions[0].credit.as_deref(), Some("徐晶玮"));
        assert_eq!(r[0].section, None);
    }

    #[test]
    fn a_label_before_a_headline_names_the_next_item() {
        let r = run("本报讯 上一条消息。\n\n城市\n风景\n\n春到滨江\n\n图为滨江公园的樱花。（周小川摄）\n");
        assert_eq!(r[1].section.as_deref(), Some("城市风景"));
        assert_eq!(r[1].headline.as_deref(), Some("春到滨江"));
    }

    #[test]
    fn extractions_are_edits_that_keep_the_names() {
        let r = run("标题\n\n本报讯（记者 张三 李四）今天开会。\n");
        let e = r[0].edits.as_ref().unwrap().iter().find(|e| e.rule == "byline.paren").unwrap();
        assert_eq!(e.before, "（记者张三李四）");
        assert_eq!(e.after, "张三 李四");
        assert_eq!(r[0].reporters, ["张三", "李四"]);
    }
}
