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
//! Every change is logged with its rule and its span in the decoded page. [`ParaText`] keeps a
//! sparse map from offsets of the output back to the page, so that later stages can give spans
//! for what they extract.

use std::ops::Range;

use crate::edits::EditLog;
use crate::rules::{CharAction, CompiledRules};
use crate::text::{is_cjk, is_cjk_punct, is_han, is_hspace, is_zero_width};

/// A normalized paragraph with the map back to the decoded page.
#[derive(Debug, Clone, Default)]
pub struct ParaText {
    pub text: String,
    /// `(offset in text, offset in page)` at every point where the two stop moving in step.
    anchors: Vec<(u32, u32)>,
    /// Offsets in `text` where whitespace was removed.
    pub cuts: Vec<u32>,
}

impl ParaText {
    pub fn clear(&mut self) {
        self.text.clear();
        self.anchors.clear();
        self.cuts.clear();
    }

    /// The page offset of a char boundary of `text`.
    pub fn to_page(&self, off: usize) -> usize {
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
        let end = if r.end > r.start {
            self.to_page_end(r.end)
        } else {
            start
        };
        start..end.max(start)
    }

    /// Like `to_page`, but for the end of a range: the anchor at `off` itself describes what
    /// comes after, so the end is taken from the last char before `off`.
    fn to_page_end(&self, off: usize) -> usize {
        let Some((last_start, last)) = self.text[..off].char_indices().next_back() else {
            return self.to_page(off);
        };
        self.to_page(last_start) + last.len_utf8()
    }

    /// Appends a character that is not in the page (a separator), placed at page offset `page`.
    pub fn push_separator(&mut self, c: char, page: usize) {
        self.anchor(page);
        self.text.push(c);
        self.anchor(page);
    }

    /// Appends another paragraph text (its anchors and cuts move along).
    pub fn append(&mut self, other: &ParaText) {
        let base = self.text.len() as u32;
        for &(t, p) in &other.anchors {
            let t = t + base;
            match self.anchors.last_mut() {
                Some(last) if last.0 == t => last.1 = p,
                _ => self.anchors.push((t, p)),
            }
        }
        self.cuts.extend(other.cuts.iter().map(|c| c + base));
        self.text.push_str(&other.text);
    }

    fn anchor(&mut self, page: usize) {
        let t = self.text.len() as u32;
        match self.anchors.last_mut() {
            Some(last) if last.0 == t => last.1 = page as u32,
            _ => self.anchors.push((t, page as u32)),
        }
    }

    fn is_synced(&self, page: usize) -> bool {
        matches!(self.anchors.last(), Some(&(t, p)) if (p as usize) + (self.text.len() - t as usize) == page)
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
    /// The paragraph's characters with their page offsets.
    chars: Vec<(char, u32)>,
    /// Decisions for ASCII parentheses: (index in `chars`, convert?).
    parens: Vec<(u32, bool)>,
    stack: Vec<u32>,
}

/// Normalizes the text of `pieces` (ranges of `page`, read as one run) into `out`.
pub fn normalize_pieces(
    rules: &CompiledRules,
    page: &str,
    pieces: &[Range<usize>],
    mode: Mode,
    scratch: &mut Scratch,
    out: &mut ParaText,
    log: &mut EditLog,
) {
    out.clear();
    scratch.chars.clear();
    for r in pieces {
        scratch.chars.extend(
            page[r.clone()]
                .char_indices()
                .map(|(i, c)| (c, (r.start + i) as u32)),
        );
    }
    Pass {
        rules,
        chars: &scratch.chars,
        parens: &mut scratch.parens,
        stack: &mut scratch.stack,
        out,
        log,
        mode,
    }
    .run();
    if mode == Mode::Text {
        apply_lexicon(rules, out, log);
    }
}

/// Normalizes a string on its own (offsets are into `s`); for previews and tests.
pub fn normalize_str(rules: &CompiledRules, s: &str) -> String {
    let mut out = ParaText::default();
    normalize_pieces(
        rules,
        s,
        &[0..s.len()],
        Mode::Text,
        &mut Scratch::default(),
        &mut out,
        &mut EditLog::muted(),
    );
    out.text
}

struct Pass<'a> {
    rules: &'a CompiledRules,
    chars: &'a [(char, u32)],
    parens: &'a mut Vec<(u32, bool)>,
    stack: &'a mut Vec<u32>,
    out: &'a mut ParaText,
    log: &'a mut EditLog,
    mode: Mode,
}

#[inline]
fn is_ws(c: char) -> bool {
    is_hspace(c) || c == '\n' || c == '\r' || is_zero_width(c)
}

impl Pass<'_> {
    /// The character as normalization will write it (folded), for context decisions.
    #[inline]
    fn folded(&self, c: char) -> char {
        match self.rules.char_action(c) {
            Some(CharAction::Map(t, _)) => t,
            _ => c,
        }
    }

    fn prev_sig(&self, i: usize) -> Option<char> {
        self.chars[..i]
            .iter()
            .rev()
            .map(|&(c, _)| c)
            .find(|&c| !is_ws(c))
            .map(|c| self.folded(c))
    }

    fn next_sig(&self, i: usize) -> Option<char> {
        self.chars[i + 1..]
            .iter()
            .map(|&(c, _)| c)
            .find(|&c| !is_ws(c))
            .map(|c| self.folded(c))
    }

    fn cjk_context(&self, i: usize) -> bool {
        self.prev_sig(i).is_some_and(is_cjk) || self.next_sig(i).is_some_and(is_cjk)
    }

    fn page_end(&self, i: usize) -> usize {
        let (c, p) = self.chars[i];
        p as usize + c.len_utf8()
    }

    /// Decides every ASCII parenthesis of the paragraph: a matched pair converts together when
    /// any of its four sides is Chinese or it holds Chinese text or punctuation; a lone one by its
    /// own context.
    fn decide_parens(&mut self) {
        self.parens.clear();
        self.stack.clear();
        if !self.rules.punct.contains_key(&'(') && !self.rules.punct.contains_key(&')') {
            return;
        }
        for i in 0..self.chars.len() {
            match self.chars[i].0 {
                '(' => self.stack.push(i as u32),
                ')' => match self.stack.pop() {
                    Some(open) => {
                        let o = open as usize;
                        let inside_cjk = self.chars[o + 1..i]
                            .iter()
                            .any(|&(c, _)| is_cjk(self.folded(c)));
                        let convert = inside_cjk || self.cjk_context(o) || self.cjk_context(i);
                        self.parens.push((open, convert));
                        self.parens.push((i as u32, convert));
                    }
                    None => {
                        let convert = self.cjk_context(i);
                        self.parens.push((i as u32, convert));
                    }
                },
                _ => {}
            }
        }
        while let Some(open) = self.stack.pop() {
            let convert = self.cjk_context(open as usize);
            self.parens.push((open, convert));
        }
        self.parens.sort_unstable();
    }

    fn convert_punct(&self, i: usize, c: char) -> bool {
        if c == '(' || c == ')' {
            return self
                .parens
                .binary_search_by_key(&(i as u32), |p| p.0)
                .map(|k| self.parens[k].1)
                .unwrap_or(false);
        }
        let folded_at = |k: usize| self.chars.get(k).map(|&(c, _)| self.folded(c));
        let before = i.checked_sub(1).and_then(folded_at);
        let after = folded_at(i + 1);
        let digit = |x: Option<char>| x.is_some_and(|x| x.is_ascii_digit());
        let latin = |x: Option<char>| x.is_some_and(|x| x.is_ascii_alphanumeric());
        // Separators inside a number, a time, a URL or an address are not Chinese punctuation:
        // a thousands comma (`1,000`: three digits follow, then no digit), a time or ratio colon
        // (`10:30`), a URL colon (`http:`), and any mark between two Latin letters or digits
        // other than a comma or semicolon between digits (`2/3,5年` is a list, not a number).
        let thousands = c == ',' && digit(before) && (1..=3).all(|k| digit(folded_at(i + k))) && !digit(folded_at(i + 4));
        let time = c == ':' && digit(before) && digit(after);
        let url = c == ':' && latin(before) && after == Some('/');
        let between_digits = digit(before) && digit(after);
        if thousands || time || url || (latin(before) && latin(after) && !(between_digits && matches!(c, ',' | ';'))) {
            return false;
        }
        // What stands before is read from the output, where earlier marks are converted already
        // (`（右）,1997` has a full-width parenthesis before the comma by now). A number next to
        // the mark is looked past: `12%;35个` is between 的 and 个.
        let number = |c: char| c.is_ascii_digit() || matches!(c, '.' | '%' | '‰' | '/');
        let prev = self.out.text.chars().rev().find(|&c| !is_ws(c) && !number(c));
        let next = self.chars[i + 1..].iter().map(|&(c, _)| self.folded(c)).find(|&c| !is_ws(c) && !number(c));
        prev.is_some_and(is_cjk) || next.is_some_and(is_cjk)
    }

    /// Writes a replacement for `chars[r]` and logs it.
    fn replace(&mut self, r: Range<usize>, with: &str, rule: crate::rules::RuleIdx) {
        let span = self.chars[r.start].1 as usize..self.page_end(r.end - 1);
        self.out.anchor(span.start);
        self.out.text.push_str(with);
        self.out.anchor(span.end);
        let chars = self.chars;
        self.log.push(
            rule,
            span,
            || chars[r].iter().map(|&(c, _)| c).collect(),
            with,
        );
    }

    /// Copies `chars[i]` unchanged.
    #[inline]
    fn copy(&mut self, i: usize) {
        let (c, p) = self.chars[i];
        if !self.out.is_synced(p as usize) {
            self.out.anchor(p as usize);
        }
        self.out.text.push(c);
    }

    /// Copies or maps one non-space character.
    fn emit(&mut self, i: usize) {
        let c = self.chars[i].0;
        if c.is_ascii() {
            if let Some(&(to, rule)) = self.rules.punct.get(&c) {
                if self.convert_punct(i, c) {
                    let mut buf = [0u8; 4];
                    return self.replace(i..i + 1, to.encode_utf8(&mut buf), rule);
                }
            }
            return self.copy(i);
        }
        if let Some((to, rule)) = self.numeric_sign(i, c) {
            let mut buf = [0u8; 4];
            return self.replace(i..i + 1, to.encode_utf8(&mut buf), rule);
        }
        match self.rules.char_action(c) {
            Some(CharAction::Map(to, rule)) => {
                let mut buf = [0u8; 4];
                self.replace(i..i + 1, to.encode_utf8(&mut buf), rule)
            }
            Some(CharAction::Delete(rule)) => self.replace(i..i + 1, "", rule),
            // Spaces are handled by the caller; a Space action on a non-space char still applies.
            Some(CharAction::Space(rule)) => self.replace(i..i + 1, " ", rule),
            None => self.copy(i),
        }
    }

    /// The character that `chars[i]` will become (fold, punctuation, number signs), for deciding
    /// about the space before it.
    fn will_emit(&self, i: usize, c: char) -> char {
        if let Some(&(to, _)) = self.rules.punct.get(&c) {
            if self.convert_punct(i, c) {
                return to;
            }
        }
        if let Some(to) = self.numeric_sign(i, c) {
            return to.0;
        }
        self.folded(c)
    }

    /// A full-width sign that belongs to a number (`３０％`, `４．５`) and its ASCII form.
    fn numeric_sign(&self, i: usize, c: char) -> Option<(char, crate::rules::RuleIdx)> {
        let &(to, rule, between) = self.rules.numeric_signs.get(&c)?;
        let digit = |k: Option<usize>| k.and_then(|k| self.chars.get(k)).is_some_and(|&(c, _)| self.folded(c).is_ascii_digit());
        let before = digit(i.checked_sub(1));
        let after = digit(Some(i + 1));
        (before && (after || !between)).then_some((to, rule))
    }

    /// Is `c` whitespace for this pass (including characters a rule turns into a space)?
    #[inline]
    fn is_space_like(&self, c: char) -> bool {
        is_hspace(c) || matches!(self.rules.char_action(c), Some(CharAction::Space(_)))
    }

    /// Resolves a run of whitespace `chars[r]` that stands before `chars[r.end]` (if any).
    fn flush_space(&mut self, r: Range<usize>) {
        if r.is_empty() {
            return;
        }
        let prev = self.out.text.chars().next_back();
        let next = self.chars.get(r.end).map(|&(c, _)| self.will_emit(r.end, c));
        let remove = match (self.mode, self.rules.cjk_spacing, prev, next) {
            (Mode::Text, Some(_), Some(p), Some(n)) => {
                (is_cjk(p) && is_cjk(n)) || is_cjk_punct(p) || is_cjk_punct(n)
            }
            // Leading or trailing space of the paragraph: nothing to separate.
            (Mode::Text, Some(_), _, _) => true,
            _ => false,
        };
        if remove {
            let rule = self.rules.cjk_spacing.unwrap();
            let pos = self.out.text.len() as u32;
            self.replace(r, "", rule);
            self.out.cuts.push(pos);
            return;
        }
        for i in r {
            match self.rules.char_action(self.chars[i].0) {
                Some(CharAction::Space(rule)) => self.replace(i..i + 1, " ", rule),
                Some(CharAction::Delete(rule)) => self.replace(i..i + 1, "", rule),
                _ => self.copy(i),
            }
        }
    }

    /// At `chars[i]`, an ASCII or full-width letter: if it starts a stray word in Chinese context,
    /// replace the word and the spaces around it, and return the index after them.
    fn stray_word(&mut self, i: usize, space_before: Range<usize>) -> Option<usize> {
        if self.rules.stray_words.is_empty() || self.mode != Mode::Text {
            return None;
        }
        let mut j = i;
        let mut word = String::new();
        while j < self.chars.len() {
            let f = self.folded(self.chars[j].0);
            if !f.is_ascii_alphabetic() {
                break;
            }
            word.push(f.to_ascii_lowercase());
            j += 1;
            if word.len() > 16 {
                return None;
            }
        }
        let (repl, rule) = self.rules.stray_words.get(&word)?.clone();
        let left = self.prev_sig(i)?;
        let right_idx = (j..self.chars.len()).find(|&k| !is_ws(self.chars[k].0))?;
        let right = self.folded(self.chars[right_idx].0);
        if !(is_cjk(left) && is_cjk(right) && (is_han(left) || is_han(right))) {
            return None;
        }
        let start = if space_before.is_empty() {
            i
        } else {
            space_before.start
        };
        self.replace(start..right_idx, &repl, rule);
        Some(right_idx)
    }

    fn run(mut self) {
        self.decide_parens();
        let n = self.chars.len();
        let mut space_start: Option<usize> = None;
        let mut i = 0;
        while i < n {
            let c = self.chars[i].0;
            if is_zero_width(c) && matches!(self.rules.char_action(c), Some(CharAction::Delete(_)))
            {
                // Deleted where it stands; it does not interrupt a run of spaces.
                if space_start.is_none() {
                    self.emit(i);
                }
                i += 1;
                continue;
            }
            if self.is_space_like(c) || c == '\n' {
                space_start.get_or_insert(i);
                i += 1;
                continue;
            }
            let space = space_start.take().map_or(i..i, |s| s..i);
            if c.is_ascii_alphabetic() || ('ａ'..='ｚ').contains(&c) || ('Ａ'..='Ｚ').contains(&c)
            {
                if let Some(next) = self.stray_word(i, space.clone()) {
                    i = next;
                    continue;
                }
                // Not a stray word: copy the whole run of letters, so that the middle of a Latin
                // word is never taken for the start of one.
                self.flush_space(space);
                while i < n && self.folded(self.chars[i].0).is_ascii_alphabetic() {
                    self.emit(i);
                    i += 1;
                }
                continue;
            }
            self.flush_space(space);
            self.emit(i);
            i += 1;
        }
        if let Some(s) = space_start {
            self.flush_space(s..n);
        }
    }
}

/// Replaces known confusions in the normalized text (longest match wins).
fn apply_lexicon(rules: &CompiledRules, out: &mut ParaText, log: &mut EditLog) {
    let Some((ac, targets)) = &rules.lexicon else {
        return;
    };
    let matches: Vec<_> = ac
        .find_iter(&out.text)
        .filter(|m| targets[m.pattern().as_usize()].0 != out.text[m.range()])
        .collect();
    if matches.is_empty() {
        return;
    }
    let old = std::mem::take(&mut out.text);
    let old_anchors = std::mem::take(&mut out.anchors);
    let old_cuts = std::mem::take(&mut out.cuts);
    let shifted = |old_off: usize, delta: isize| (old_off as isize + delta) as u32;
    let probe = ParaText {
        text: old.clone(),
        anchors: old_anchors.clone(),
        cuts: Vec::new(),
    };
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
        let span = probe.span_to_page(m.range());
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
        out.anchors
            .push((shifted(m.end(), delta), probe.to_page(m.end()) as u32));
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
    }

    #[test]
    fn lexicon_and_offsets() {
        let r = rules();
        let page = "切实改善漏湖流域，２０ 年";
        let mut out = ParaText::default();
        let mut log = EditLog::new(true);
        normalize_pieces(
            &r,
            page,
            &[0..page.len()],
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
        let lex = log
            .edits
            .iter()
            .find(|e| r.id(e.rule) == "confusion.lake-gehu")
            .unwrap();
        assert_eq!(&page[lex.span.clone()], "漏湖");
        assert_eq!(out.span_to_page(i - 6..i), lex.span);
    }

    #[test]
    fn pieces_are_read_as_one_run() {
        let r = rules();
        let page = "少数大国 ａｎ\n\nｄ 旧时代";
        let pieces = [
            0..page.find('\n').unwrap(),
            page.rfind('\n').unwrap() + 1..page.len(),
        ];
        let mut out = ParaText::default();
        normalize_pieces(
            &r,
            page,
            &pieces,
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
            &[0..page.len()],
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
        ] {
            let once = norm(s);
            assert_eq!(norm(&once), once, "{s}");
        }
    }
}
