//! Capture groups found over a compressed alphabet.
//!
//! A pattern's match is found by the regex's lazy DFA, which is cheap; its groups (the names in
//! a byline, the credit of a caption) need an engine that tracks positions, and the regex crate
//! runs its bounded backtracker on the match. That engine clears a bitmap of NFA states × match
//! length on every search, and Unicode classes make NFAs large: `\p{Han}` is 36 UTF-8 states, and
//! the byline patterns, with a bounded list of names, are about 6,000. A byline capture cost
//! 300–700 ns, ten times the search that found it.
//!
//! The pattern only ever asks a handful of questions about a character: is it `本`, is it in
//! `\p{Han}`, in `\s`. Characters that answer every question alike are interchangeable, so the
//! code points split into a few dozen blocks (a literal character is a block of its own; the Han
//! characters that no literal names are one block). [`CompactGroups`] rewrites the pattern over
//! block numbers, one byte per character: every class becomes a byte class, every literal a byte
//! string. It has the same structure (alternatives in the same order, the same repetitions and
//! greediness, the same groups), so it matches a translated text exactly where the pattern
//! matches the text, with the same groups, and its NFA is a tenth of the size.
//!
//! The rewriting is exact only for what it knows: literals, Unicode classes, and the text-start
//! and text-end anchors. A pattern with anything else (a word boundary, a line anchor, a byte
//! class), or with more than 128 distinct classes or 256 blocks, is left to the regex.

use std::collections::hash_map::{Entry, HashMap};
use std::ops::Range;

use regex_automata::util::captures::Captures;
use regex_automata::{meta, Anchored, Input};
use regex_syntax::hir::{Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, Hir, HirKind, Look, Repetition};

use super::search::Searcher;

/// Byte ranges of a match's groups in the text, by group index (0: the whole match).
pub(crate) type Spans = Vec<Option<Range<usize>>>;

/// A pattern rewritten over its alphabet of blocks, for finding the groups of a known match.
#[derive(Debug, Clone)]
pub(crate) struct CompactGroups {
    alphabet: Alphabet,
    regex: Searcher,
}

/// Which block each code point is in.
#[derive(Debug, Clone)]
struct Alphabet {
    ascii: [u8; 128],
    /// The BMP by 256-code-point page: a block number (below 256) for a page that is all one
    /// block, else 256 + the page's index in `leaves`.
    pages: Box<[u16; 256]>,
    leaves: Vec<[u8; 256]>,
    /// All code points, as the starts of intervals of one block each, and their blocks: the
    /// lookup beyond the BMP.
    starts: Vec<u32>,
    blocks: Vec<u8>,
}

impl Alphabet {
    #[inline]
    fn block(&self, c: char) -> u8 {
        let u = c as u32;
        if u < 128 {
            return self.ascii[u as usize];
        }
        if u < 0x10000 {
            let page = self.pages[(u >> 8) as usize];
            return match page.checked_sub(256) {
                None => page as u8,
                Some(leaf) => self.leaves[leaf as usize][(u & 0xFF) as usize],
            };
        }
        self.blocks[self.starts.partition_point(|&s| s <= u) - 1]
    }
}

/// What a pattern asks about characters: the literal characters and the classes.
#[derive(Default)]
struct Questions {
    chars: Vec<u32>,
    classes: Vec<Vec<(u32, u32)>>,
}

impl Questions {
    /// Collects the questions of `hir`; `false` when it holds something the rewriting does not
    /// keep exact.
    fn collect(&mut self, hir: &Hir) -> bool {
        match hir.kind() {
            HirKind::Empty => true,
            HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
                Ok(s) => {
                    self.chars.extend(s.chars().map(|c| c as u32));
                    true
                }
                Err(_) => false,
            },
            HirKind::Class(Class::Unicode(class)) => {
                self.classes.push(code_point_ranges(class));
                true
            }
            HirKind::Class(Class::Bytes(_)) => false,
            HirKind::Look(look) => matches!(look, Look::Start | Look::End),
            HirKind::Repetition(rep) => self.collect(&rep.sub),
            HirKind::Capture(cap) => self.collect(&cap.sub),
            HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().all(|h| self.collect(h)),
        }
    }

    /// Splits the code points into intervals at every edge of a question, and numbers the
    /// intervals by the answers they give (intervals that answer alike share a block). `None`
    /// past 128 classes or 256 blocks.
    fn alphabet(mut self) -> Option<Alphabet> {
        self.chars.sort_unstable();
        self.chars.dedup();
        self.classes.sort_unstable();
        self.classes.dedup();
        let mut starts = vec![0u32];
        for &c in &self.chars {
            starts.extend([c, c + 1]);
        }
        for class in &self.classes {
            for &(s, e) in class {
                starts.extend([s, e + 1]);
            }
        }
        starts.sort_unstable();
        starts.dedup();
        starts.retain(|&s| s <= char::MAX as u32);
        // An interval's answers: the literal it is (a literal character is an interval of its
        // own), and the classes that hold it, as one bit per class. (Patterns ask a handful of
        // classes; one with more is left to the regex.)
        if self.classes.len() > 128 {
            return None;
        }
        let mut held = vec![0u128; starts.len()];
        for (k, class) in self.classes.iter().enumerate() {
            for (h, i) in held_intervals(&starts, class).into_iter().zip(&mut held) {
                *i |= (h as u128) << k;
            }
        }
        let mut numbers: HashMap<(Option<u32>, u128), u8> = HashMap::new();
        let mut blocks = Vec::with_capacity(starts.len());
        for (i, &s) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(char::MAX as u32 + 1, |&e| e);
            let literal = (end == s + 1 && self.chars.binary_search(&s).is_ok()).then_some(s);
            let next = numbers.len();
            let block = match numbers.entry((literal, held[i])) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) if next < 256 => *e.insert(next as u8),
                Entry::Vacant(_) => return None,
            };
            blocks.push(block);
        }
        // The blocks of the code points from `first` on, into `out`: each interval that overlaps
        // them fills its part. (A binary search for each of the BMP's code points cost more than
        // the rest of building the alphabet.)
        let run = |first: u32, out: &mut [u8]| {
            let end = first as usize + out.len();
            let mut i = starts.partition_point(|&s| s <= first) - 1;
            while i < starts.len() && (starts[i] as usize) < end {
                let from = (starts[i] as usize).max(first as usize) - first as usize;
                let to = starts.get(i + 1).map_or(end, |&s| (s as usize).min(end)) - first as usize;
                out[from..to].fill(blocks[i]);
                i += 1;
            }
        };
        let mut ascii = [0u8; 128];
        run(0, &mut ascii);
        let mut pages = Box::new([0u16; 256]);
        let mut leaves = Vec::new();
        for (p, page) in pages.iter_mut().enumerate() {
            let mut leaf = [0u8; 256];
            run((p as u32) << 8, &mut leaf);
            if leaf.iter().all(|&b| b == leaf[0]) {
                *page = leaf[0] as u16;
            } else {
                *page = 256 + leaves.len() as u16;
                leaves.push(leaf);
            }
        }
        Some(Alphabet { ascii, pages, leaves, starts, blocks })
    }
}

/// A class's ranges as inclusive code-point pairs, in order.
fn code_point_ranges(class: &ClassUnicode) -> Vec<(u32, u32)> {
    class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect()
}

/// For each interval of `starts` (sorted starts of intervals), whether the class `ranges`
/// (sorted, disjoint, inclusive; their edges are interval starts) holds it: one walk over both,
/// so that a class of hundreds of ranges (`\w`) costs no more than its length.
fn held_intervals(starts: &[u32], ranges: &[(u32, u32)]) -> Vec<bool> {
    let mut k = 0;
    starts
        .iter()
        .map(|&s| {
            while k < ranges.len() && ranges[k].1 < s {
                k += 1;
            }
            k < ranges.len() && ranges[k].0 <= s
        })
        .collect()
}

/// `hir` over block numbers.
fn rewrite(hir: &Hir, alphabet: &Alphabet) -> Hir {
    match hir.kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(lit) => {
            // (UTF-8, checked when the questions were collected.)
            let s = std::str::from_utf8(&lit.0).unwrap_or_default();
            Hir::literal(s.chars().map(|c| alphabet.block(c)).collect::<Vec<u8>>())
        }
        HirKind::Class(Class::Unicode(class)) => {
            // A class holds whole intervals (its edges are interval starts), and so whole blocks.
            let mut held = [false; 256];
            for (i, h) in held_intervals(&alphabet.starts, &code_point_ranges(class)).into_iter().enumerate() {
                held[alphabet.blocks[i] as usize] |= h;
            }
            let ranges = (0..=255u8).filter(|&b| held[b as usize]).map(|b| ClassBytesRange::new(b, b));
            Hir::class(Class::Bytes(ClassBytes::new(ranges)))
        }
        // (Not met: `Questions::collect` turns a pattern with a byte class away.)
        HirKind::Class(Class::Bytes(class)) => Hir::class(Class::Bytes(class.clone())),
        HirKind::Look(look) => Hir::look(*look),
        HirKind::Repetition(rep) => Hir::repetition(Repetition {
            min: rep.min,
            max: rep.max,
            greedy: rep.greedy,
            sub: Box::new(rewrite(&rep.sub, alphabet)),
        }),
        HirKind::Capture(cap) => Hir::capture(Capture {
            index: cap.index,
            name: cap.name.clone(),
            sub: Box::new(rewrite(&cap.sub, alphabet)),
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(|h| rewrite(h, alphabet)).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(|h| rewrite(h, alphabet)).collect()),
    }
}

/// The groups of a match the regex found itself, in the same form.
pub(crate) fn spans_of(caps: &Captures) -> Spans {
    caps.iter().map(|s| s.map(|s| s.range())).collect()
}

/// The groups the regex crate's `Regex::captures` found, in the same form: the reference the
/// tests compare with.
#[cfg(test)]
pub(crate) fn spans_of_reference(caps: &regex::Captures<'_>) -> Spans {
    caps.iter().map(|m| m.map(|m| m.range())).collect()
}

/// Slots (two per group) kept on the stack by [`CompactGroups::groups`]; patterns with more
/// groups use the heap.
const STACK_SLOTS: usize = 32;

thread_local! {
    /// The translated match and the text offset of each of its characters, reused.
    static SCRATCH: std::cell::RefCell<(Vec<u8>, Vec<usize>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

impl CompactGroups {
    /// The rewritten pattern, when the pattern (parsed into `hir`) has groups to find and can be
    /// rewritten exactly.
    pub(crate) fn new(hir: &Hir) -> Option<CompactGroups> {
        if hir.properties().explicit_captures_len() == 0 {
            return None;
        }
        let mut questions = Questions::default();
        if !questions.collect(hir) {
            return None;
        }
        let alphabet = questions.alphabet()?;
        // Straight to the engines that find groups: the match is known, there is nothing for a
        // DFA to search for.
        let config = meta::Config::new().utf8_empty(false).hybrid(false).dfa(false);
        let regex = meta::Builder::new().configure(config).build_from_hir(&rewrite(hir, &alphabet)).ok()?;
        Some(CompactGroups { alphabet, regex: Searcher::new(regex) })
    }

    /// The groups of the match at `m` in `text` (found by the pattern), as text ranges by group
    /// index; `None` if the rewritten pattern does not match (which would be a bug).
    pub(crate) fn groups(&self, text: &str, m: Range<usize>) -> Option<Spans> {
        SCRATCH.with(|cell| {
            let (bytes, offsets) = &mut *cell.borrow_mut();
            bytes.clear();
            offsets.clear();
            // The characters around the match are stand-ins: the anchors only ask whether the
            // match is at the text's start or end.
            let lead = m.start > 0;
            if lead {
                bytes.push(0);
                offsets.push(m.start);
            }
            for (i, c) in text[m.clone()].char_indices() {
                bytes.push(self.alphabet.block(c));
                offsets.push(m.start + i);
            }
            offsets.push(m.end);
            let span = lead as usize..bytes.len();
            if m.end < text.len() {
                bytes.push(0);
            }
            let input = Input::new(&bytes[..]).span(span).anchored(Anchored::Yes);
            // The groups' slots (start and end of each) on the stack: a `Captures` would be
            // allocated for every search.
            let slot_len = self.regex.regex().group_info().slot_len();
            let mut stack = [None; STACK_SLOTS];
            let mut heap = Vec::new();
            let slots = if slot_len <= STACK_SLOTS {
                &mut stack[..slot_len]
            } else {
                heap.resize(slot_len, None);
                &mut heap[..]
            };
            self.regex.with_cache(|re, cache| re.search_slots_with(cache, &input, slots))?;
            if slots.get(1).copied().flatten()?.get() != offsets.len() - 1 {
                return None;
            }
            let span_of = |g: usize| match (slots[2 * g], slots[2 * g + 1]) {
                (Some(s), Some(e)) => Some(offsets[s.get()]..offsets[e.get()]),
                _ => None,
            };
            Some((0..slot_len / 2).map(span_of).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compact form of `pattern`; `None` also when it does not parse.
    fn compact(pattern: &str) -> Option<CompactGroups> {
        CompactGroups::new(&regex_syntax::parse(pattern).ok()?)
    }

    fn both(pattern: &str, text: &str) -> (Option<Spans>, Option<Spans>) {
        let re = regex::Regex::new(pattern).unwrap();
        let compact = compact(pattern).expect("rewritable");
        let want = re.captures(text).map(|c| spans_of_reference(&c));
        let got = re.find(text).and_then(|m| compact.groups(text, m.range()));
        (want, got)
    }

    /// Every code point's block, as the lookup tables give it, is the block of the interval
    /// that holds it (found by a search of the interval starts, the slow way).
    #[test]
    fn tables_give_each_code_point_its_interval_block() {
        for pattern in [
            "^(?:本报|新华社)记者\\s*(?P<names>\\p{Han}{2,3}?(?:、\\p{Han}{2,3}?)*)$",
            "(?P<a>[\\w·]+)(?P<b>[^\\s\\d]{2})(?P<c>[\\x{FF}-\\x{1FF}\\x{10000}-\\x{10010}])",
        ] {
            let mut questions = Questions::default();
            assert!(questions.collect(&regex_syntax::parse(pattern).unwrap()));
            let a = questions.alphabet().expect("few blocks");
            assert!(a.leaves.len() > 1, "{pattern}: the pages that are not one block are what is tested");
            for u in (0..0x11000).chain(0x10FF00..=0x10FFFF) {
                let Some(c) = char::from_u32(u) else { continue };
                let want = a.blocks[a.starts.partition_point(|&s| s <= u) - 1];
                assert_eq!(a.block(c), want, "{pattern}: U+{u:04X}");
            }
        }
    }

    #[test]
    fn groups_match_the_regex() {
        let cases = [
            ("^(?:本报|新华社)记者\\s*(?P<names>\\p{Han}{2,3}?(?:、\\p{Han}{2,3}?)*)$", "本报记者张三、李四"),
            ("^(?:本报|新华社)记者\\s*(?P<names>\\p{Han}{2,3}?(?:、\\p{Han}{2,3}?)*)$", "新华社记者 王五"),
            ("(?P<cut>)[（(]\\s*(?P<credit>\\p{Han}{2,4})\\s*摄[）)]$", "会场一角（张三摄）"),
            ("(?P<cut>)[（(]\\s*(?P<credit>\\p{Han}{2,4})\\s*摄[）)]$", "(李四 摄)"),
            ("(?i:x)(?P<a>[^a-z]+?)(?P<b>\\d*)", "X-12"),
            ("(?P<a>.)(?P<b>🦀|b)", "a🦀b"),
            ("(?P<x>a)|(?P<y>b)", "zzb"),
        ];
        for (p, t) in cases {
            let (want, got) = both(p, t);
            assert!(want.is_some(), "{p} on {t}");
            assert_eq!(want, got, "{p} on {t}");
        }
    }

    #[test]
    fn anchors_see_the_text_around_the_match() {
        // `$` inside the pattern is asked at the match's end, which is not the text's end here.
        let (want, got) = both("(?P<a>b)(?:$|c)", "abcd");
        assert_eq!(want, got);
        let (want, got) = both("(?:^|x)(?P<a>b)", "xb");
        assert_eq!(want, got);
    }

    #[test]
    fn what_it_cannot_rewrite_is_left_to_the_regex() {
        assert!(compact("\\b(?P<w>\\w+)\\b").is_none());
        assert!(compact("(?m:^)(?P<w>a)").is_none());
        assert!(compact("(?-u:(?P<w>\\xFF))").is_none());
        // No groups to find.
        assert!(compact("本报|新华社").is_none());
        // A block of its own for each of 300 literal characters.
        let many: String = ('一'..).take(300).map(|c| format!("{c}a|")).collect();
        assert!(compact(&format!("(?P<a>{many}x)")).is_none());
    }

    proptest::proptest! {
        /// On texts of characters the patterns ask about and characters they do not, the groups
        /// are the regex's.
        #[test]
        fn groups_match_the_regex_on_any_text(text in "[本报记者、 （）(a张李王\u{20000}1]{0,16}") {
            for p in [
                "^[（(]?\\s*(?:本报)?记者\\s*(?P<r>\\p{Han}[\\p{Han}·]{0,3}?(?:[\\s、]*\\p{Han}[\\p{Han}·]{0,3}?){0,3}?)\\s*[）)]?$",
                "(?P<cut>)[（(]\\s*(?P<credit>\\p{Han}{1,3}?)\\s*[）)]",
                "(?P<a>\\p{Han}*?)(?P<b>记者|\\s+)(?P<c>.*)",
            ] {
                let (want, got) = both(p, &text);
                proptest::prop_assert_eq!(want, got, "{} on {:?}", p, text);
            }
        }
    }

    /// Large Unicode classes (`\w` is hundreds of ranges) are rewritten exactly too.
    #[test]
    fn large_classes_keep_their_answers() {
        for t in ["abc_9 张三", "Ωmega·x", "١٢٣ word"] {
            let (want, got) = both("(?P<w>\\w+)(?P<rest>\\W*)(?P<d>\\d*)", t);
            assert!(want.is_some());
            assert_eq!(want, got, "{t}");
        }
    }

    /// The alphabet is small: a byline pattern's thousands of UTF-8 states come down to one byte
    /// class per question.
    #[test]
    fn han_characters_no_literal_names_are_one_block() {
        let c = compact("(?P<a>\\p{Han}+)记者").unwrap();
        let a = &c.alphabet;
        assert_eq!(a.block('张'), a.block('李'));
        assert_eq!(a.block('张'), a.block('\u{20000}'));
        assert_ne!(a.block('张'), a.block('记'));
        assert_ne!(a.block('记'), a.block('者'));
        assert_ne!(a.block('张'), a.block('a'));
    }
}
