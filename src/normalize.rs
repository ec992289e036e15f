//! Stage 2: character normalization of one paragraph (SPEC A3, A4, A10), fused with the
//! in-paragraph repairs that work on the same characters (A2 stray words, A8 confusions).
//!
//! The repair stage decides which pieces of the page (line contents, without indentation and line
//! ends) make up a paragraph; this stage reads those pieces as one run of text and writes the
//! normalized paragraph in a single pass:
//!
//! * characters with a table action: full-width letters and digits folded to ASCII, zero-width
//!   characters deleted, NBSP and other Unicode spaces turned into spaces;
//! * half-width punctuation converted to full-width when it stands in Chinese context
//!   (parentheses decided as a pair), never between two ASCII letters or digits (`1,000`,
//!   `10:30`, URLs);
//! * whitespace between two Chinese characters, or next to East Asian punctuation, removed (the
//!   positions are kept in [`ParaText::cuts`]: a byline reads its name boundaries from them);
//! * a stray Latin word between Chinese characters replaced, with the spaces around it;
//!
//! and then, over the result, the lexicon of known confusions (aho-corasick, longest match).
//!
//! Every change is logged with its rule and its span in the decoded page. When the log keeps the
//! edits themselves (`--explain`), [`ParaText`] also keeps a sparse map from offsets of the
//! output back to the page, so that later stages can give spans for the edits of what they
//! extract. Without it nothing reads page offsets out of a paragraph's text (spans of items come
//! from lines), so neither the map nor the spans are made: a plain run only counts edits.

use std::ops::Range;

use crate::edits::EditLog;
use crate::rules::{CharAction, CompiledRules};
use crate::text::{is_cjk, is_cjk_punct, is_han, is_hspace, is_zero_width};

/// A normalized paragraph with the map back to the decoded page.
#[derive(Debug, Clone, Default)]
pub struct ParaText {
    pub text: String,
    /// `(offset in text, offset in page)` at every point where the two stop moving in step; kept
    /// only when `mapped`.
    anchors: Vec<(u32, u32)>,
    /// The map is kept: [`normalize_pieces`] sets this when its log keeps edits.
    mapped: bool,
    /// Offsets in `text` where whitespace was removed.
    pub cuts: Vec<u32>,
}

impl ParaText {
    pub fn clear(&mut self) {
        self.text.clear();
        self.anchors.clear();
        self.cuts.clear();
    }

    /// Does this text keep its map back to the page ([`ParaText::to_page`])?
    pub fn is_mapped(&self) -> bool {
        self.mapped
    }

    /// The page offset of a char boundary of `text`. Only a mapped text knows it (see
    /// [`ParaText::is_mapped`]).
    pub fn to_page(&self, off: usize) -> usize {
        debug_assert!(self.mapped, "page offsets asked of a text normalized without its map");
        let off = off as u32;
        let i = self.anchors.partition_point(|&(t, _)| t <= off);
        if i == 0 {
            return self.anchors.first().map_or(0, |a| a.1 as usize);
        }
        let (t, p) = self.anchors[i - 1];
        (p + (off - t)) as usize
    }

    /// The page span of a range of `text`.
    pub fn span_to_page(&self, r: Range<usize>) -> Range<usize> {
        let start = self.to_page(r.start);
        let end = if r.end > r.start { self.to_page_end(r.end) } else { start };
        start..end.max(start)
    }

    /// Like `to_page`, but for the end of a range: the anchor at `off` itself describes what
    /// comes after, so the end is taken from the last char before `off`.
    fn to_page_end(&self, off: usize) -> usize {
        let Some((last_start, last)) = self.text[..off].char_indices().next_back() else {
            return self.to_page(off);
        };
        // A char that was not copied in step (a replacement can be longer or shorter than what
        // it replaced: `)` → `）`, `２` → `2`) has an anchor at its end saying where the page
        // resumes; a copied char is as long in the page as in the text.
        match self.anchors.binary_search_by_key(&(off as u32), |a| a.0) {
            Ok(i) => self.anchors[i].1 as usize,
            Err(_) => self.to_page(last_start) + last.len_utf8(),
        }
    }

    /// Appends a character that is not in the page (a separator), placed at page offset `page`.
    pub fn push_separator(&mut self, c: char, page: usize) {
        self.anchor(page);
        self.text.push(c);
        self.anchor(page);
    }

    /// Appends another paragraph text (its anchors and cuts move along). An empty text takes
    /// the other's kind: mapped or not.
    pub fn append(&mut self, other: &ParaText) {
        let base = self.text.len() as u32;
        if self.text.is_empty() {
            self.mapped = other.mapped;
        }
        if self.mapped {
            for &(t, p) in &other.anchors {
                let t = t + base;
                match self.anchors.last_mut() {
                    Some(last) if last.0 == t => last.1 = p,
                    _ => self.anchors.push((t, p)),
                }
            }
        }
        self.cuts.extend(other.cuts.iter().map(|c| c + base));
        self.text.push_str(&other.text);
    }

    fn anchor(&mut self, page: usize) {
        self.anchor_at(self.text.len(), page);
    }

    /// Anchors text offset `t` (at or after the last anchor) to page offset `page`.
    #[inline]
    fn anchor_at(&mut self, t: usize, page: usize) {
        if !self.mapped {
            return;
        }
        let t = t as u32;
        match self.anchors.last_mut() {
            Some(last) if last.0 == t => last.1 = page as u32,
            _ => self.anchors.push((t, page as u32)),
        }
    }

    /// Does text offset `t` (at or after the last anchor) map to `page` without a new anchor?
    fn is_synced_at(&self, t: usize, page: usize) -> bool {
        matches!(self.anchors.last(), Some(&(a, p)) if (p as usize) + (t - a as usize) == page)
    }
}

/// How a paragraph is normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Article text: all rules.
    Text,
    /// Page furniture: characters are normalized but spaces stay (they separate the date, the
    /// weekday and the page number) and no word repairs run.
    Furniture,
}

/// Buffers reused from paragraph to paragraph.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The paragraph's pieces, concatenated.
    joined: String,
    /// `(offset in joined, offset in page)` where each piece starts.
    starts: Vec<(u32, u32)>,
    /// Decisions for ASCII parentheses: (offset in joined, convert?).
    parens: Vec<(u32, bool)>,
    stack: Vec<u32>,
}

/// Normalizes the text of `pieces` (ranges of `page`, read as one run) into `out`, mapped back
/// to the page when `log` keeps edits.
pub fn normalize_pieces(
    rules: &CompiledRules,
    page: &str,
    pieces: impl IntoIterator<Item = Range<usize>>,
    mode: Mode,
    scratch: &mut Scratch,
    out: &mut ParaText,
    log: &mut EditLog,
) {
    out.clear();
    out.mapped = log.keeps_edits();
    scratch.joined.clear();
    scratch.starts.clear();
    for r in pieces {
        scratch.starts.push((scratch.joined.len() as u32, r.start as u32));
        scratch.joined.push_str(&page[r]);
    }
    // Room for what conversions add (a half-width mark becomes three bytes) and for the anchors
    // (one per piece and two per change), so that the pass does not grow them as it writes.
    out.text.reserve(scratch.joined.len() + scratch.joined.len() / 8 + 16);
    if out.mapped {
        out.anchors.reserve(2 * scratch.starts.len() + 16);
    }
    let Scratch { joined, starts, parens, stack } = scratch;
    let mut lexicon_seen = false;
    Pass {
        rules,
        text: joined.as_str(),
        starts,
        piece: std::cell::Cell::new(0),
        parens_decided: false,
        parens,
        stack,
        out,
        log,
        mode,
        lexicon_seen: &mut lexicon_seen,
    }
    .run();
    // The lexicon is searched only in paragraphs where the pass met the first character of one
    // of its entries: most paragraphs have none.
    if mode == Mode::Text && lexicon_seen {
        apply_lexicon(rules, out, log);
    }
}

thread_local! {
    static PREVIEW: std::cell::RefCell<(Scratch, ParaText)> = std::cell::RefCell::new(Default::default());
}

/// Normalizes a string on its own (offsets are into `s`); for previews and tests.
pub fn normalize_str(rules: &CompiledRules, s: &str) -> String {
    PREVIEW.with(|cell| {
        let (scratch, out) = &mut *cell.borrow_mut();
        normalize_pieces(rules, s, std::iter::once(0..s.len()), Mode::Text, scratch, out, &mut EditLog::muted());
        out.text.clone()
    })
}

/// One pass over the joined text of a paragraph. Positions are byte offsets into `text`.
struct Pass<'a> {
    rules: &'a CompiledRules,
    text: &'a str,
    starts: &'a [(u32, u32)],
    parens: &'a mut Vec<(u32, bool)>,
    stack: &'a mut Vec<u32>,
    out: &'a mut ParaText,
    log: &'a mut EditLog,
    mode: Mode,
    /// Set when a character that starts a lexicon entry went by.
    lexicon_seen: &'a mut bool,
    /// The piece the last offset asked about was in: the pass moves forward, so the next one is
    /// almost always in the same piece or the next.
    piece: std::cell::Cell<usize>,
    /// [`Pass::decide_parens`] has run: it runs when the pass first meets an ASCII parenthesis
    /// (most paragraphs have none, and looking for one was a pass of its own).
    parens_decided: bool,
}

#[inline]
fn is_ws(c: char) -> bool {
    is_hspace(c) || c == '\n' || c == '\r' || is_zero_width(c)
}

/// The character at byte `i` of `s` (which must be a char boundary) and its length.
#[inline]
fn char_at(s: &str, i: usize) -> Option<char> {
    s[i..].chars().next()
}

/// The character whose UTF-8 encoding starts at `bytes[i]` (a lead byte of valid UTF-8): the
/// hot loop's decoder, without the slicing and iterator of `str::chars`.
#[inline]
fn decode_at(bytes: &[u8], i: usize) -> char {
    let b = bytes[i] as u32;
    let cont = |k: usize| (bytes[i + k] & 0x3F) as u32;
    let u = if b < 0xE0 {
        ((b & 0x1F) << 6) | cont(1)
    } else if b < 0xF0 {
        ((b & 0x0F) << 12) | (cont(1) << 6) | cont(2)
    } else {
        ((b & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3)
    };
    char::from_u32(u).unwrap_or('\u{FFFD}')
}

impl<'a> Pass<'a> {
    /// The character as normalization will write it (folded), for context decisions.
    #[inline]
    fn folded(&self, c: char) -> char {
        match self.rules.char_action(c) {
            Some(CharAction::Map(t, _)) => t,
            _ => c,
        }
    }

    /// The page offset of joined offset `j`.
    fn page_of(&self, j: usize) -> usize {
        let k = self.piece_at(j);
        let (s, p) = self.starts[k];
        p as usize + (j - s as usize)
    }

    /// The index of the piece that holds joined offset `j` (the last piece starting at or before it).
    #[inline]
    fn piece_at(&self, j: usize) -> usize {
        let k = self.piece.get();
        let starts_at_or_before = |k: usize| self.starts.get(k).is_some_and(|&(s, _)| s as usize <= j);
        if starts_at_or_before(k) && !starts_at_or_before(k + 1) {
            return k;
        }
        let k = self.starts.partition_point(|&(s, _)| s as usize <= j).saturating_sub(1);
        self.piece.set(k);
        k
    }

    /// The page span of joined range `r` (its end taken from the last character in it, so that a
    /// range ending at a piece boundary does not reach into the next piece).
    fn page_span(&self, r: &Range<usize>) -> Range<usize> {
        let start = self.page_of(r.start);
        match self.text[r.clone()].chars().next_back() {
            Some(c) => start..self.page_of(r.end - c.len_utf8()) + c.len_utf8(),
            None => start..start,
        }
    }

    /// The first non-space character at or after `i`, folded, and its offset.
    fn next_sig_from(&self, i: usize) -> Option<(usize, char)> {
        self.text[i..].char_indices().find(|&(_, c)| !is_ws(c)).map(|(k, c)| (i + k, self.folded(c)))
    }

    /// Decides every ASCII parenthesis of the paragraph: a matched pair converts together when
    /// any of its four sides is Chinese or it holds Chinese text or punctuation; a lone one by its
    /// own context.
    ///
    /// Decided from the input text alone (the characters around each parenthesis), so deciding
    /// at the first parenthesis the pass meets gives what deciding before the pass gave.
    fn decide_parens(&mut self) {
        if std::mem::replace(&mut self.parens_decided, true) {
            return;
        }
        self.parens.clear();
        self.stack.clear();
        if self.rules.punct_for('(').is_none() && self.rules.punct_for(')').is_none() {
            return;
        }
        // Where the last Chinese character so far is: a pair holds Chinese text when that is
        // after its opening parenthesis (linear, whatever the nesting depth). Only the stretch
        // before each parenthesis is read, from its end back to its last Chinese character
        // (usually the one right there), not the whole paragraph character by character.
        let mut last_cjk: Option<usize> = None;
        let mut from = 0;
        for i in memchr::memchr2_iter(b'(', b')', self.text.as_bytes()) {
            let gap = &self.text[from..i];
            if let Some((k, _)) = gap.char_indices().rev().find(|&(_, c)| is_cjk(self.folded(c))) {
                last_cjk = Some(from + k);
            }
            from = i + 1;
            match self.text.as_bytes()[i] {
                b'(' => self.stack.push(i as u32),
                _ => match self.stack.pop() {
                    Some(open) => {
                        let o = open as usize;
                        let inside_cjk = last_cjk.is_some_and(|k| k > o);
                        let convert = inside_cjk || self.paren_context(o) || self.paren_context(i);
                        self.parens.push((open, convert));
                        self.parens.push((i as u32, convert));
                    }
                    None => {
                        let convert = self.paren_context(i);
                        self.parens.push((i as u32, convert));
                    }
                },
            }
        }
        while let Some(open) = self.stack.pop() {
            let convert = self.paren_context(open as usize);
            self.parens.push((open, convert));
        }
        self.parens.sort_unstable();
    }

    /// Is the ASCII parenthesis at `i` in Chinese context: is the nearest character on either
    /// side (past spaces) Chinese? A half-width mark next to the parenthesis is looked past, with
    /// the spaces, numbers and other such marks beyond it: the pass converts the mark when Chinese
    /// text lies there ([`Pass::convert_punct`]), and a second run over the output would see it
    /// full-width next to the parenthesis (`�),１９９７年` became `�)，1997年`, and then
    /// `�），1997年`).
    fn paren_context(&self, i: usize) -> bool {
        let mark = |c: char| c != '(' && c != ')' && self.rules.punct_for(c).is_some();
        let side = |chars: &mut dyn Iterator<Item = char>| {
            let mut chars = chars.map(|c| self.folded(c)).filter(|&c| !is_ws(c));
            match chars.next() {
                Some(c) if mark(c) => chars.find(|&c| !in_number(c) && !mark(c)).is_some_and(is_cjk),
                c => c.is_some_and(is_cjk),
            }
        };
        side(&mut self.text[..i].chars().rev()) || side(&mut self.text[i + 1..].chars())
    }

    /// Does the ASCII mark `c` at `i` convert to its full-width form?
    ///
    /// A parenthesis after it counts as what it becomes (the parentheses are decided then, if
    /// they were not yet): `abc,(中文)` converts the comma with the pair, as a second run over the
    /// output, seeing `（`, would.
    fn convert_punct(&mut self, i: usize, c: char) -> bool {
        if c == '(' || c == ')' {
            return self.parens.binary_search_by_key(&(i as u32), |p| p.0).map(|k| self.parens[k].1).unwrap_or(false);
        }
        let before = self.text[..i].chars().next_back().map(|c| self.folded(c));
        // The common case, a mark right after Chinese text: none of the number, time or URL
        // readings below can apply (they all need a digit or a letter before the mark), and the
        // output's last character is what `prev` below would find.
        if before.is_some_and(is_cjk) && self.out.text.chars().next_back().is_some_and(is_cjk) {
            return true;
        }
        let folded_at = |k: usize| char_at(self.text, k).map(|c| self.folded(c));
        let after = folded_at(i + 1);
        let digit = |x: Option<char>| x.is_some_and(|x| x.is_ascii_digit());
        let latin = |x: Option<char>| x.is_some_and(|x| x.is_ascii_alphanumeric());
        // Separators inside a number, a time, a URL or an address are not Chinese punctuation:
        // a thousands comma (`1,000`: three digits follow, then no digit), a time or ratio colon
        // (`10:30`), a URL colon (`http:`), and any mark between two Latin letters or digits
        // other than a comma or semicolon between digits (`2/3,5年` is a list, not a number).
        let mut following = self.text[i + 1..].chars().map(|c| self.folded(c));
        let thousands =
            c == ',' && digit(before) && (0..3).all(|_| digit(following.next())) && !digit(following.next());
        let time = c == ':' && digit(before) && digit(after);
        let url = c == ':' && latin(before) && after == Some('/');
        let between_digits = digit(before) && digit(after);
        if thousands || time || url || (latin(before) && latin(after) && !(between_digits && matches!(c, ',' | ';'))) {
            return false;
        }
        // What stands before is read from the output, where earlier marks are converted already
        // (`（右）,1997` has a full-width parenthesis before the comma by now). A number next to
        // the mark is looked past: `12%;35个` is between 的 and 个.
        let prev = self.out.text.chars().rev().find(|&c| !is_ws(c) && !in_number(c));
        let next = self.text[i + 1..]
            .char_indices()
            .map(|(k, c)| (i + 1 + k, self.folded(c)))
            .find(|&(_, c)| !is_ws(c) && !in_number(c));
        match next {
            _ if prev.is_some_and(is_cjk) => true,
            Some((k, '(' | ')')) => {
                self.decide_parens();
                self.parens.binary_search_by_key(&(k as u32), |p| p.0).is_ok_and(|at| self.parens[at].1)
            }
            next => next.is_some_and(|(_, c)| is_cjk(c)),
        }
    }

    /// A full-width sign that belongs to a number (`３０％`, `４．５`) and its ASCII form.
    fn numeric_sign(&self, i: usize, c: char) -> Option<(char, crate::rules::RuleIdx)> {
        let (to, rule, between) = self.rules.numeric_sign_for(c)?;
        let before = self.text[..i].chars().next_back().is_some_and(|p| self.folded(p).is_ascii_digit());
        let after = char_at(self.text, i + c.len_utf8()).is_some_and(|n| self.folded(n).is_ascii_digit());
        (before && (after || !between)).then_some((to, rule))
    }

    /// The character that the one at `i` will become (fold, punctuation, number signs), for
    /// deciding about the space before it.
    fn will_emit(&mut self, i: usize, c: char) -> char {
        if let Some((to, _)) = self.rules.punct_for(c) {
            if self.convert_punct(i, c) {
                return to;
            }
        }
        if let Some((to, _)) = self.numeric_sign(i, c) {
            return to;
        }
        self.folded(c)
    }

    /// Writes a replacement for `text[r]` and logs it.
    fn replace(&mut self, r: Range<usize>, with: &str, rule: crate::rules::RuleIdx) {
        // (The span goes to the map and to the log's kept edits: neither is kept without the
        // other.)
        let span = if self.out.mapped { self.page_span(&r) } else { 0..0 };
        self.out.anchor(span.start);
        self.out.text.push_str(with);
        self.out.anchor(span.end);
        let before = &self.text[r];
        self.log.push(rule, span, || before.to_string(), with);
    }

    /// Copies `text[r]` unchanged, anchoring at every piece start inside it. (One copy of the
    /// whole run: the pieces follow each other in `text` as they will in the output.)
    fn copy(&mut self, r: Range<usize>) {
        if r.is_empty() {
            return;
        }
        if !self.out.mapped {
            self.out.text.push_str(&self.text[r]);
            return;
        }
        let base = self.out.text.len();
        let mut k = self.piece_at(r.start);
        let mut at = r.start;
        while at < r.end {
            let (s, p) = self.starts[k];
            let page = p as usize + (at - s as usize);
            let t = base + (at - r.start);
            if !self.out.is_synced_at(t, page) {
                self.out.anchor_at(t, page);
            }
            at = self.starts.get(k + 1).map_or(self.text.len(), |&(s, _)| s as usize);
            k += 1;
        }
        self.out.text.push_str(&self.text[r]);
    }

    /// Is `c` whitespace for this pass (including characters a rule turns into a space)?
    #[inline]
    fn is_space_like(&self, c: char) -> bool {
        is_ws(c) || matches!(self.rules.char_action(c), Some(CharAction::Space(_)))
    }

    /// At `i`, a stray Latin word between Chinese characters (the spaces around it included)?
    /// Returns the end of what it replaces, the replacement and the rule.
    fn stray_word_at(&self, i: usize) -> Option<(usize, &'a str, crate::rules::RuleIdx)> {
        let rules: &'a CompiledRules = self.rules;
        if rules.stray_words.is_empty() || self.mode != Mode::Text {
            return None;
        }
        // The word in lower case, on the stack (a stray word is at most 16 letters).
        let mut word = [0u8; 16];
        let mut len = 0;
        let mut end = i;
        for (k, c) in self.text[i..].char_indices() {
            let f = self.folded(c);
            if !f.is_ascii_alphabetic() {
                break;
            }
            if len == word.len() {
                return None;
            }
            word[len] = f.to_ascii_lowercase() as u8;
            len += 1;
            end = i + k + c.len_utf8();
        }
        let word = std::str::from_utf8(&word[..len]).expect("ASCII letters");
        let (repl, rule) = rules.stray_words.get(word)?;
        // What stands before is read from the output, where an earlier mark is converted already
        // (`目前, and 大` has a full-width comma before the word by now): read from the input,
        // the half-width comma kept the word here and a second run over the output replaced it.
        let left = self.out.text.chars().rev().find(|&c| !is_ws(c))?;
        let (right_at, right) = self.next_sig_from(end)?;
        if !(is_cjk(left) && is_cjk(right) && (is_han(left) || is_han(right))) {
            return None;
        }
        Some((right_at, repl.as_str(), *rule))
    }

    /// At `i`, a run of whitespace: removed between Chinese characters (and next to East Asian
    /// punctuation), otherwise kept with its characters normalized. Returns where it ends.
    fn space_run(&mut self, i: usize) -> usize {
        let end = self.text[i..]
            .char_indices()
            .find(|&(_, c)| !self.is_space_like(c))
            .map_or(self.text.len(), |(k, _)| i + k);
        // A stray word right after the spaces takes them with it.
        if end < self.text.len() && self.text[end..].starts_with(|c: char| self.folded(c).is_ascii_alphabetic()) {
            if let Some((stop, repl, rule)) = self.stray_word_at(end) {
                self.replace(i..stop, repl, rule);
                return stop;
            }
        }
        let prev = self.out.text.chars().next_back();
        if matches!(self.text.as_bytes().get(end), Some(b'(' | b')')) {
            self.decide_parens();
        }
        let next = char_at(self.text, end).map(|c| self.will_emit(end, c));
        let remove = match (self.mode, self.rules.cjk_spacing, prev, next) {
            (Mode::Text, Some(_), Some(p), Some(n)) => (is_cjk(p) && is_cjk(n)) || is_cjk_punct(p) || is_cjk_punct(n),
            // Leading or trailing space of the paragraph: nothing to separate.
            (Mode::Text, Some(_), _, _) => true,
            _ => false,
        };
        if remove {
            let rule = self.rules.cjk_spacing.unwrap();
            let pos = self.out.text.len() as u32;
            self.replace(i..end, "", rule);
            self.out.cuts.push(pos);
            return end;
        }
        let mut k = i;
        while k < end {
            let c = char_at(self.text, k).unwrap();
            let len = c.len_utf8();
            match self.rules.char_action(c) {
                Some(CharAction::Space(rule)) => self.replace(k..k + len, " ", rule),
                Some(CharAction::Delete(rule)) => self.replace(k..k + len, "", rule),
                _ => self.copy(k..k + len),
            }
            k += len;
        }
        end
    }

    /// At `i`, a character that needs attention (not a space). Returns where to go on.
    fn special(&mut self, i: usize, c: char) -> usize {
        let len = c.len_utf8();
        let folded = self.folded(c);
        if self.rules.starts_lexicon_entry(folded) {
            *self.lexicon_seen = true;
        }
        if folded.is_ascii_alphabetic() {
            if let Some((stop, repl, rule)) = self.stray_word_at(i) {
                self.replace(i..stop, repl, rule);
                return stop;
            }
            // Not a stray word: the whole run of letters goes through as it is (folded), so that
            // the middle of a Latin word is never taken for the start of one.
            let mut k = i;
            while let Some(c) = char_at(self.text, k).filter(|&c| self.folded(c).is_ascii_alphabetic()) {
                self.map_char(k, c);
                k += c.len_utf8();
            }
            return k;
        }
        if let Some((to, rule)) = self.rules.punct_for(c) {
            if c == '(' || c == ')' {
                self.decide_parens();
            }
            if self.convert_punct(i, c) {
                let mut buf = [0u8; 4];
                self.replace(i..i + len, to.encode_utf8(&mut buf), rule);
                return i + len;
            }
        }
        if let Some((to, rule)) = self.numeric_sign(i, c) {
            let mut buf = [0u8; 4];
            self.replace(i..i + len, to.encode_utf8(&mut buf), rule);
            return i + len;
        }
        self.map_char(i, c);
        i + len
    }

    /// Applies the character table to one character.
    fn map_char(&mut self, i: usize, c: char) {
        let len = c.len_utf8();
        match self.rules.char_action(c) {
            Some(CharAction::Map(to, rule)) => {
                let mut buf = [0u8; 4];
                self.replace(i..i + len, to.encode_utf8(&mut buf), rule)
            }
            Some(CharAction::Delete(rule)) => self.replace(i..i + len, "", rule),
            Some(CharAction::Space(rule)) => self.replace(i..i + len, " ", rule),
            None => self.copy(i..i + len),
        }
    }

    fn run(mut self) {
        let text = self.text;
        let bytes = text.as_bytes();
        let n = bytes.len();
        let mut run = 0; // start of the run of characters copied as they are
        let mut i = 0;
        let ascii = &self.rules.ascii_attention;
        while i < n {
            i = skip_plain(self.rules, ascii, bytes, i);
            if i == n {
                break;
            }
            let b = bytes[i];
            let c = if b < 0x80 { b as char } else { decode_at(bytes, i) };
            if !self.rules.needs_attention(c) {
                i += c.len_utf8();
                continue;
            }
            self.copy(run..i);
            i = if self.is_space_like(c) {
                // A zero-width character stands for nothing: it is deleted where it is (not taken
                // as a space between two words).
                if is_zero_width(c) && !self.text[..i].ends_with(|p: char| self.is_space_like(p)) {
                    let next_is_space = char_at(text, i + c.len_utf8()).is_some_and(|n| self.is_space_like(n));
                    if !next_is_space {
                        self.map_char(i, c);
                        run = i + c.len_utf8();
                        i = run;
                        continue;
                    }
                }
                self.space_run(i)
            } else {
                self.special(i, c)
            };
            run = i;
        }
        self.copy(run..n);
    }
}

/// Can `c` stand inside a number (`12.5%`, `1,000`, `3/4`, `10:30`)? What [`Pass::convert_punct`]
/// and [`Pass::paren_context`] look past to find the text beside a mark.
fn in_number(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '.' | '%' | '‰' | '/' | ',' | ':')
}

/// Which ASCII bytes the pass must look at (the rest are copied in runs): all but digits and the
/// marks that stay inside numbers (`-%./`), and the first characters of lexicon entries. Built
/// once per rule set ([`CompiledRules::ascii_attention`]).
pub(crate) fn ascii_attention_table(rules: &CompiledRules) -> [bool; 128] {
    std::array::from_fn(|b| {
        let b = b as u8;
        (!b.is_ascii_digit() && b != b'-' && b != b'%' && b != b'.' && b != b'/') || rules.lexicon_starts_with_ascii(b)
    })
}

/// From `i`, the end of the stretch of characters that need nothing: ASCII by a table, and the
/// three-byte sequences (where almost all Chinese text is) by their code point in the attention
/// bitmap, without decoding them into `char`s. Stops at anything else (the caller decides it).
#[inline]
fn skip_plain(rules: &CompiledRules, ascii: &[bool; 128], bytes: &[u8], mut i: usize) -> usize {
    // Bytes 0 and 3 of a word, and what they are when they lead two three-byte sequences.
    const LEADS: u64 = 0xF000_00F0;
    const THREE_BYTE_LEADS: u64 = 0xE000_00E0;
    let n = bytes.len();
    // Where a word of eight bytes no longer fits.
    let words_end = n.saturating_sub(7);
    while i < n {
        // Two three-byte characters at a time, read as one word: Chinese text is long runs of
        // them (49 bytes between two characters that need attention, on average), and this is
        // the loop every byte of them goes through. One test for both lead bytes and one for both
        // lookups. (The text is valid UTF-8, so a lead byte E0..EF is followed by its two
        // continuation bytes.)
        while i < words_end {
            // SAFETY: `i + 8 <= n` (`i < n - 7`): the eight bytes are in `bytes`. (Read without
            // the bounds check that slicing repeats, a quarter of this loop's instructions.)
            let w = u64::from_le(unsafe { bytes.as_ptr().add(i).cast::<u64>().read_unaligned() });
            if w & LEADS != THREE_BYTE_LEADS {
                break;
            }
            // A sequence's first two bytes pick the bitmap's word (read big-endian), its third the
            // bit in it (the shift is taken modulo 64: the third byte's low six bits).
            let be = w.swap_bytes();
            let first = rules.utf8_attention_word(be >> 48).wrapping_shr((w >> 16) as u32);
            let second = rules.utf8_attention_word(be >> 24).wrapping_shr((w >> 40) as u32);
            if (first | second) & 1 != 0 {
                return if first & 1 != 0 { i } else { i + 3 };
            }
            i += 6;
        }
        let Some(&b) = bytes.get(i) else { break };
        if b < 0x80 {
            if ascii[b as usize] {
                return i;
            }
            i += 1;
        } else if (0xE0..0xF0).contains(&b) && i + 2 < n {
            let u = ((b as u32 & 0x0F) << 12) | ((bytes[i + 1] as u32 & 0x3F) << 6) | (bytes[i + 2] as u32 & 0x3F);
            if rules.bmp_needs_attention(u) {
                return i;
            }
            i += 3;
        } else {
            return i;
        }
    }
    n
}

/// Replaces known confusions in the normalized text (longest match wins).
fn apply_lexicon(rules: &CompiledRules, out: &mut ParaText, log: &mut EditLog) {
    let Some((ac, targets)) = &rules.lexicon else {
        return;
    };
    let matches: Vec<_> =
        ac.find_iter(&out.text).filter(|m| targets[m.pattern().as_usize()].0 != out.text[m.range()]).collect();
    if matches.is_empty() {
        return;
    }
    let old = std::mem::take(&mut out.text);
    let old_anchors = std::mem::take(&mut out.anchors);
    let old_cuts = std::mem::take(&mut out.cuts);
    let shifted = |old_off: usize, delta: isize| (old_off as isize + delta) as u32;
    // The text before the replacements, for page offsets (a mapped text only).
    let mapped = out.mapped;
    let probe = mapped.then(|| ParaText { text: old.clone(), anchors: old_anchors.clone(), mapped, cuts: Vec::new() });
    let mut delta: isize = 0;
    let mut last = 0usize;
    let mut anchors = old_anchors.iter().peekable();
    for m in &matches {
        let (to, rule) = &targets[m.pattern().as_usize()];
        // Copy the anchors and text before the match.
        while let Some(&&(t, p)) = anchors.peek() {
            if t as usize > m.start() {
                break;
            }
            out.anchors.push((shifted(t as usize, delta), p));
            anchors.next();
        }
        out.text.push_str(&old[last..m.start()]);
        let span = probe.as_ref().map_or(0..0, |p| p.span_to_page(m.range()));
        out.anchor(span.start);
        out.text.push_str(to);
        out.anchor(span.end);
        log.push(*rule, span, || old[m.range()].to_string(), to);
        delta += to.len() as isize - m.len() as isize;
        // Anchors inside the match are replaced by the two above.
        while let Some(&&(t, _)) = anchors.peek() {
            if t as usize >= m.end() {
                break;
            }
            anchors.next();
        }
        // Re-anchor the text that follows the match at its old position.
        if let Some(probe) = &probe {
            out.anchors.push((shifted(m.end(), delta), probe.to_page(m.end()) as u32));
        }
        last = m.end();
    }
    for &(t, p) in anchors {
        out.anchors.push((shifted(t as usize, delta), p));
    }
    out.anchors.dedup_by(|b, a| {
        if a.0 == b.0 {
            a.1 = b.1;
            true
        } else {
            false
        }
    });
    out.text.push_str(&old[last..]);
    // Cuts move with the text; a cut inside a replaced span stays at its start.
    let mut d: isize = 0;
    let mut mi = matches.iter().peekable();
    for c in old_cuts {
        while let Some(m) = mi.peek() {
            if m.end() <= c as usize {
                d += targets[m.pattern().as_usize()].0.len() as isize - m.len() as isize;
                mi.next();
            } else {
                break;
            }
        }
        out.cuts.push(shifted(c as usize, d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleSet;

    fn rules() -> CompiledRules {
        RuleSet::builtin().compile().unwrap()
    }

    fn norm(s: &str) -> String {
        normalize_str(&rules(), s)
    }

    #[test]
    fn punctuation_in_chinese_context() {
        assert_eq!(norm("昨天上午,全区"), "昨天上午，全区");
        assert_eq!(norm("(记者 朱梦琪) 昨天"), "（记者朱梦琪）昨天");
        assert_eq!(norm("8.8万,7.1%,1,000,10:30"), "8.8万，7.1%，1,000，10:30");
        // A parenthesis next to a mark that converts, and a mark before a pair that converts,
        // are read as they will stand in the output.
        assert_eq!(norm("胡花\u{FFFD}),１９９７年"), "胡花\u{FFFD}），1997年");
        assert_eq!(norm("目前,(abc) x"), "目前，（abc）x");
        assert_eq!(norm("abc,(中文)"), "abc，（中文）");
        assert_eq!(norm("x (y), z"), "x (y), z");
        assert_eq!(norm("见 http://x.cn/a?b=1"), "见 http://x.cn/a?b=1");
        assert_eq!(norm("f(x) = y"), "f(x) = y");
    }

    #[test]
    fn width_and_spaces() {
        assert_eq!(norm("２０２４年ＧＤＰ"), "2024年GDP");
        assert_eq!(norm("新华  社联合国"), "新华社联合国");
        assert_eq!(norm("联东U谷·国经"), "联东U谷·国经");
        assert_eq!(norm("a\u{200B}b 中\u{00A0}文"), "ab 中文");
    }

    #[test]
    fn stray_words() {
        assert_eq!(norm("中心 and 广大"), "中心和广大");
        assert_eq!(norm("理想 ａｎｄ 正确"), "理想和正确");
        assert_eq!(norm("R and D部门"), "R and D部门");
        assert_eq!(norm("Band乐队"), "Band乐队");
        assert_eq!(norm("中心 Band 广大"), "中心 Band 广大");
        // After a mark that the pass converts, the word stands between Chinese text as it will
        // in the output (where a second run would see the full-width comma).
        assert_eq!(norm("目前, and 大连港"), "目前，和大连港");
    }

    #[test]
    fn lexicon_and_offsets() {
        let r = rules();
        let page = "切实改善漏湖流域，２０\u{200B}年";
        let mut out = ParaText::default();
        let mut log = EditLog::new(true);
        normalize_pieces(
            &r,
            page,
            std::iter::once(0..page.len()),
            Mode::Text,
            &mut Scratch::default(),
            &mut out,
            &mut log,
        );
        assert_eq!(out.text, "切实改善滆湖流域，20年");
        // Every char boundary of the output maps back to where its text came from.
        let i = out.text.find("流域").unwrap();
        assert_eq!(&page[out.to_page(i)..out.to_page(i) + 6], "流域");
        let j = out.text.find('年').unwrap();
        assert_eq!(&page[out.to_page(j)..], "年");
        let lex = log.edits.iter().find(|e| r.id(e.rule) == "confusion.lake-gehu").unwrap();
        assert_eq!(&page[lex.span.clone()], "漏湖");
        assert_eq!(out.span_to_page(i - 6..i), lex.span);
    }

    #[test]
    fn the_map_is_kept_with_the_edits_and_changes_nothing_else() {
        let r = rules();
        let page = "本报讯 (记者 朱梦琪) 昨天,切实改善漏湖流域\n\n２０\u{200B}年 and 旧时代";
        let pieces = [0..page.find('\n').unwrap(), page.rfind('\n').unwrap() + 1..page.len()];
        let run = |mut log: EditLog| {
            let mut out = ParaText::default();
            normalize_pieces(&r, page, pieces.iter().cloned(), Mode::Text, &mut Scratch::default(), &mut out, &mut log);
            (out, log.counts())
        };
        let (kept, kept_counts) = run(EditLog::new(true));
        let (plain, plain_counts) = run(EditLog::new(false));
        let (muted, _) = run(EditLog::muted());
        assert!(kept.is_mapped() && !plain.is_mapped() && !muted.is_mapped());
        assert!(!kept.anchors.is_empty() && plain.anchors.is_empty() && muted.anchors.is_empty());
        for other in [&plain, &muted] {
            assert_eq!(other.text, kept.text);
            assert_eq!(other.cuts, kept.cuts);
        }
        assert_eq!(plain_counts, kept_counts);
        assert!(kept_counts.iter().sum::<u64>() >= 5, "{kept_counts:?}");
    }

    #[test]
    fn plain_stretches_end_where_a_character_needs_attention() {
        let rules = rules();
        let ascii = &rules.ascii_attention;
        // What skip_plain must give: the first character at or after `from` that needs attention
        // or is neither ASCII nor three bytes long.
        let reference = |s: &str, from: usize| {
            s[from..]
                .char_indices()
                .find(
                    |&(_, c)| {
                        if c.is_ascii() {
                            ascii[c as usize]
                        } else {
                            c.len_utf8() != 3 || rules.needs_attention(c)
                        }
                    },
                )
                .map_or(s.len(), |(k, _)| from + k)
        };
        let pieces = ["全", "区", "国家统计局", "，", "。", "１", "\u{3000}", "a", "7", "é", "𠀀", "\u{200B}", "％"];
        for s in crate::text::random_texts(&pieces, 3000, 30) {
            for from in (0..=s.len()).filter(|&k| s.is_char_boundary(k)) {
                assert_eq!(skip_plain(&rules, ascii, s.as_bytes(), from), reference(&s, from), "{s:?} from {from}");
            }
        }
    }

    #[test]
    fn pieces_are_read_as_one_run() {
        let r = rules();
        let page = "少数大国 ａｎ\n\nｄ 旧时代";
        let pieces = [0..page.find('\n').unwrap(), page.rfind('\n').unwrap() + 1..page.len()];
        let mut out = ParaText::default();
        normalize_pieces(
            &r,
            page,
            pieces.iter().cloned(),
            Mode::Text,
            &mut Scratch::default(),
            &mut out,
            &mut EditLog::muted(),
        );
        assert_eq!(out.text, "少数大国和旧时代");
    }

    #[test]
    fn cuts_mark_removed_spaces() {
        let r = rules();
        let page = "记者 朱梦琪 吴梦婷";
        let mut out = ParaText::default();
        normalize_pieces(
            &r,
            page,
            std::iter::once(0..page.len()),
            Mode::Text,
            &mut Scratch::default(),
            &mut out,
            &mut EditLog::muted(),
        );
        assert_eq!(out.text, "记者朱梦琪吴梦婷");
        assert_eq!(out.cuts, vec![6, 15]);
    }

    #[test]
    fn idempotent_on_output() {
        for s in [
            "本报讯 (记者 朱梦琪) 昨天上午,全区。",
            "２０２４年 ＧＤＰ and 增长;好!",
            "中心 ａｎｄ 广大(Internet)上",
            "目前, and 大连港;and,一",
            "胡花\u{FFFD}),１９９７年岁末",
            "目前,(abc) x",
            "abc,(中文)",
            "x (y), 1998年",
        ] {
            let once = norm(s);
            assert_eq!(norm(&once), once, "{s}");
        }
    }
}
