//! Character classes and small text utilities shared by the stages.
//!
//! These are Unicode facts (what is a Han character, what is whitespace), not newspaper
//! conventions; conventions live in `rules/`.

use std::ops::Range;

/// A Han (CJK ideograph) character, including the extension blocks and compatibility ideographs,
/// and `〇`, which Chinese text uses as the digit zero (`二〇〇〇年`).
#[inline]
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F | 0x3007)
}

/// Kana and Hangul: scripts that, like Han, are written without spaces in Chinese pages.
#[inline]
fn is_other_cjk_script(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x31F0..=0x31FF | 0xAC00..=0xD7AF | 0x1100..=0x11FF)
}

/// Punctuation that only occurs in East Asian text: the CJK symbols block (`、。《》「」『』〈〉`…)
/// and the full-width forms block (`，；：！？（）％`… and their kin), plus the quotes, dashes,
/// ellipsis and middle dot that Chinese typesetting uses.
#[inline]
pub fn is_cjk_punct(c: char) -> bool {
    matches!(c as u32,
        0x3001..=0x3006 | 0x3008..=0x303F | 0xFF01..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40
        | 0xFF5B..=0xFF65 | 0xFE30..=0xFE4F | 0xFE10..=0xFE19
        | 0x2014 | 0x2015 | 0x2018 | 0x2019 | 0x201C | 0x201D | 0x2026 | 0x00B7 | 0x2236)
}

/// A character of Chinese text: Han, kana/hangul, or East Asian punctuation. Half-width
/// punctuation next to such a character is "in Chinese context".
#[inline]
pub fn is_cjk(c: char) -> bool {
    is_han(c) || is_cjk_punct(c) || is_other_cjk_script(c)
}

/// Full-width ASCII variants (`！`..`～`), which map to ASCII by subtracting 0xFEE0.
#[inline]
pub fn fullwidth_to_ascii(c: char) -> Option<char> {
    let u = c as u32;
    if (0xFF01..=0xFF5E).contains(&u) {
        char::from_u32(u - 0xFEE0)
    } else {
        None
    }
}

/// Horizontal whitespace as it occurs inside a line: ASCII space and tab, the ideographic space,
/// NBSP and the other Unicode space separators.
#[inline]
pub fn is_hspace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{3000}' | '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}')
}

/// Characters that take no space and carry no text: they are deleted by normalization.
#[inline]
pub fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// The length in bytes of the horizontal space or zero-width character ([`is_hspace`],
/// [`is_zero_width`]) that UTF-8 `bytes` starts with, or 0: told by its bytes without decoding.
/// Their encodings: ASCII space and tab, C2 A0, E2 80 80..8D (U+2000..U+200D), E2 80 AF,
/// E2 81 9F, E2 81 A0, E3 80 80 and EF BB BF. (Kept beside the two classes, and held to them by
/// a test: a change to one is a change to both.)
#[inline]
pub(crate) fn leading_blank_len(bytes: &[u8]) -> usize {
    match bytes {
        [b' ' | b'\t', ..] => 1,
        [0xC2, 0xA0, ..] => 2,
        [0xE2, 0x80, 0x80..=0x8D | 0xAF, ..]
        | [0xE2, 0x81, 0x9F | 0xA0, ..]
        | [0xE3, 0x80, 0x80, ..]
        | [0xEF, 0xBB, 0xBF, ..] => 3,
        _ => 0,
    }
}

/// The length in bytes of the horizontal space, zero-width character or carriage return that
/// UTF-8 `bytes` ends with, or 0. (The lead bytes matched are never continuation bytes, so a
/// match is a whole character.)
#[inline]
pub(crate) fn trailing_blank_or_cr_len(bytes: &[u8]) -> usize {
    match bytes {
        [.., b' ' | b'\t' | b'\r'] => 1,
        [.., 0xC2, 0xA0] => 2,
        [.., 0xE2, 0x80, 0x80..=0x8D | 0xAF]
        | [.., 0xE2, 0x81, 0x9F | 0xA0]
        | [.., 0xE3, 0x80, 0x80]
        | [.., 0xEF, 0xBB, 0xBF] => 3,
        _ => 0,
    }
}

/// Number of chars in `s` (not bytes).
///
/// Counted eight bytes at a time as the bytes that do not continue a character (continuation
/// bytes are `10xxxxxx`): layout asks this of every line, a few dozen bytes each, where the
/// standard library's count spends more on lining up its wider blocks than on counting.
#[inline]
pub fn char_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut continuation = 0usize;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        // Bit 7 of each byte where bit 7 is set and bit 6 is clear, moved to bit 0 and summed
        // across the eight bytes by one multiplication.
        let marks = (x & !(x << 1) & 0x8080_8080_8080_8080) >> 7;
        continuation += (marks.wrapping_mul(0x0101_0101_0101_0101) >> 56) as usize;
    }
    continuation += words.remainder().iter().filter(|&&y| y & 0xC0 == 0x80).count();
    b.len() - continuation
}

/// What [`for_each_line`] hands each line to: any `FnMut(Range<usize>, usize)`, or a type whose
/// `line` is marked `#[inline(always)]`. (A closure's body is compiled as a function of its own
/// when it is large, and the scan then pays a call for each line; a method can insist on being
/// inlined into the scan.)
pub trait LineSink {
    fn line(&mut self, range: Range<usize>, chars: usize);
}

impl<F: FnMut(Range<usize>, usize)> LineSink for F {
    #[inline]
    fn line(&mut self, range: Range<usize>, chars: usize) {
        self(range, chars)
    }
}

/// Calls `line(range, chars)` for every line of `s`, in order: `range` is the line's bytes
/// without its line feed, `chars` its length in characters. The text after the last line feed
/// is a line too (empty when `s` ends in one).
///
/// One pass over the bytes, a block at a time on x86-64: 32 bytes with AVX2, 16 with SSE2 (and
/// `popcnt`, which every x86-64 CPU since 2008 has; both checked at run time). Each block yields
/// its line feeds and its continuation bytes (`10xxxxxx`) as bit masks, and a line's length is
/// its bytes less its continuation bytes. Layout reads every line of every page; a line feed
/// search and a count per line cost three times as much.
pub fn for_each_line(s: &str, mut line: impl LineSink) {
    if !lines_by_blocks(s.as_bytes(), &mut line) {
        lines_portable(s, &mut line);
    }
}

/// Calls `line(range)` for every line of `bytes`, which need not be text in any encoding: the
/// ranges of [`for_each_line`], from the same scan (a line feed is byte 0x0A in every encoding
/// that detection chooses, and in none of their multi-byte sequences).
pub fn for_each_byte_line(bytes: &[u8], mut line: impl FnMut(Range<usize>)) {
    if !lines_by_blocks(bytes, &mut |range, _| line(range)) {
        byte_lines_portable(bytes, &mut line);
    }
}

/// Calls `line(range)` for the lines of `bytes` (as [`for_each_byte_line`] gives them) whose first
/// byte beyond ASCII passes `opens`; lines of ASCII only and the others are passed over. For a
/// question most lines of a page answer at that byte (is this line UTF-8 in a legacy page?), the
/// scan looks at each line's first such byte where it finds it, 64 bytes at a time, instead of
/// handing every line to code that looks for it again.
pub fn for_each_line_opening_with(bytes: &[u8], opens: impl Fn(u8) -> bool, mut line: impl FnMut(Range<usize>)) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (just checked).
        unsafe { lines_opening_with_avx2(bytes, &opens, &mut line) };
        return;
    }
    lines_opening_with_portable(bytes, &opens, &mut line);
}

/// [`for_each_line_opening_with`] on any CPU: every line, and its first byte beyond ASCII looked
/// for in it.
fn lines_opening_with_portable(bytes: &[u8], opens: &impl Fn(u8) -> bool, line: &mut impl FnMut(Range<usize>)) {
    byte_lines_portable(bytes, &mut |r: Range<usize>| {
        if bytes[r.clone()].iter().find(|&&b| b >= 0x80).is_some_and(|&b| opens(b)) {
            line(r);
        }
    });
}

/// [`for_each_line_opening_with`] with AVX2, 64 bytes at a time, with no work per line beyond a
/// bit or two: a block's line feeds and its bytes beyond ASCII are two masks, and the first byte
/// beyond ASCII of every line that starts in the block comes out of one subtraction (below).
/// `opens` is asked once per line that has such a byte; lines are reported only when it says yes.
///
/// # Safety
///
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lines_opening_with_avx2(bytes: &[u8], opens: &impl Fn(u8) -> bool, line: &mut impl FnMut(Range<usize>)) {
    use std::arch::x86_64::{_mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8};
    let n = bytes.len();
    let feed = _mm256_set1_epi8(b'\n' as i8);
    // The current line's start; whether its first byte beyond ASCII has been met (`seen`); and
    // whether that byte passed `opens`, so that the line is reported at its line feed (`hit`).
    let mut start = 0;
    let mut seen = false;
    let mut hit = false;
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: bytes i..i + 64 are in `bytes`; the loads need no alignment.
        let (lo, hi) = unsafe {
            (_mm256_loadu_si256(bytes.as_ptr().add(i).cast()), _mm256_loadu_si256(bytes.as_ptr().add(i + 32).cast()))
        };
        let mask = |v| _mm256_movemask_epi8(v) as u32 as u64;
        let feeds = mask(_mm256_cmpeq_epi8(lo, feed)) | mask(_mm256_cmpeq_epi8(hi, feed)) << 32;
        let high = mask(lo) | mask(hi) << 32;
        // The lines that start in the block (after a line feed, and at its first byte when the
        // line coming into it has not met a byte beyond ASCII yet), and for each the first byte
        // beyond ASCII or line feed at or after its start: subtracting a start's bit borrows up
        // to the lowest set bit of `stops` at or above it and no further, so the bits that the
        // subtraction changes end at that bit. The line feed that ends a line keeps the borrows
        // of two lines apart; a borrow that finds no stop in the block runs out past bit 63.
        let starts = feeds << 1 | u64::from(!seen);
        let stops = high | feeds;
        let firsts = stops & (stops ^ stops.wrapping_sub(starts)) & high;
        if hit && feeds != 0 {
            line(start..i + feeds.trailing_zeros() as usize);
            hit = false;
        }
        let mut rest = firsts;
        while rest != 0 {
            let p = rest.trailing_zeros();
            rest &= rest - 1;
            // SAFETY: `p` is a bit of the block at `i`, whose 64 bytes are in `bytes`.
            if opens(unsafe { *bytes.get_unchecked(i + p as usize) }) {
                // The line around `p`: from the line feed below it (or the line's start in an
                // earlier block) to the one above it (or in a later block).
                let below = feeds & ((1u64 << p) - 1);
                let from = if below == 0 { start } else { i + 64 - below.leading_zeros() as usize };
                let above = feeds >> p;
                if above == 0 {
                    start = from;
                    hit = true;
                } else {
                    line(from..i + p as usize + above.trailing_zeros() as usize);
                }
            }
        }
        if feeds == 0 {
            seen |= firsts != 0;
        } else {
            let last = 63 - feeds.leading_zeros();
            start = i + last as usize + 1;
            seen = firsts.checked_shr(last + 1).unwrap_or(0) != 0;
        }
        i += 64;
    }
    for (k, &b) in bytes.iter().enumerate().skip(i) {
        if b == b'\n' {
            if hit {
                line(start..k);
            }
            start = k + 1;
            seen = false;
            hit = false;
        } else if b >= 0x80 && !seen {
            seen = true;
            hit = opens(b);
        }
    }
    if hit {
        line(start..n);
    }
}

/// The block scan for this CPU ([`lines_avx2`] or [`lines_sse2`]) over `bytes`; `false`, having
/// called nothing, where there is none.
#[inline]
fn lines_by_blocks<F: LineSink>(bytes: &[u8], sink: &mut F) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 and popcnt (just checked).
            unsafe { lines_avx2(bytes, sink) };
        } else {
            // SAFETY: the CPU has popcnt (just checked), and SSE2 is part of x86-64.
            unsafe { lines_sse2(bytes, sink) };
        }
        return true;
    }
    let _ = (bytes, sink); // (Read above on x86-64 only.)
    false
}

/// [`for_each_byte_line`] on any CPU.
fn byte_lines_portable<F: FnMut(Range<usize>)>(bytes: &[u8], line: &mut F) {
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
        line(start..end);
        start = end + 1;
    }
}

/// [`for_each_line`] on any CPU: a line feed search and a count per line.
fn lines_portable<F: LineSink>(s: &str, sink: &mut F) {
    byte_lines_portable(s.as_bytes(), &mut |r: Range<usize>| sink.line(r.clone(), char_len(&s[r])));
}

/// The body of [`for_each_line`]'s block scans: `$block` bytes at a time, `$masks(i)` giving the
/// line feeds and the continuation bytes of the block at `i` as bit masks (bit k for byte
/// `i + k`). A macro rather than a function taking a closure, so that the vector instructions
/// are compiled inside each `#[target_feature]` function.
#[cfg(target_arch = "x86_64")]
macro_rules! scan_lines_by_block {
    ($b:expr, $line:expr, $block:expr, $masks:expr) => {{
        let b: &[u8] = $b;
        let n = b.len();
        // The current line's first byte, and its continuation bytes before block `i`.
        let mut start = 0;
        let mut cont = 0usize;
        let mut i = 0;
        while i + $block <= n {
            let (mut feeds, mut conts): (u64, u64) = $masks(i);
            while feeds != 0 {
                let bit = feeds.trailing_zeros();
                let before = (1u64 << bit) - 1;
                cont += (conts & before).count_ones() as usize;
                let end = i + bit as usize;
                $line.line(start..end, end - start - cont);
                start = end + 1;
                cont = 0;
                conts &= !before;
                feeds &= feeds - 1;
            }
            cont += conts.count_ones() as usize;
            i += $block;
        }
        for (k, &byte) in b.iter().enumerate().skip(i) {
            if byte == b'\n' {
                $line.line(start..k, k - start - cont);
                start = k + 1;
                cont = 0;
            } else if byte & 0xC0 == 0x80 {
                cont += 1;
            }
        }
        $line.line(start..n, n - start - cont);
    }};
}

/// [`for_each_line`] with SSE2 and `popcnt`.
///
/// # Safety
///
/// The CPU must support `popcnt`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn lines_sse2<F: LineSink>(b: &[u8], line: &mut F) {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let feed = _mm_set1_epi8(b'\n' as i8);
    // Continuation bytes, 0x80..=0xBF, are -128..=-65 as i8: less than -64.
    let limit = _mm_set1_epi8(-64);
    scan_lines_by_block!(b, line, 16, |i: usize| {
        // SAFETY: bytes i..i + 16 are in `b`; the load needs no alignment.
        let v = unsafe { _mm_loadu_si128(b.as_ptr().add(i).cast()) };
        let feeds = _mm_movemask_epi8(_mm_cmpeq_epi8(v, feed)) as u32 as u64;
        let conts = _mm_movemask_epi8(_mm_cmplt_epi8(v, limit)) as u32 as u64;
        (feeds, conts)
    })
}

/// [`for_each_line`] with AVX2 and `popcnt`.
///
/// # Safety
///
/// The CPU must support AVX2 and `popcnt`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn lines_avx2<F: LineSink>(b: &[u8], line: &mut F) {
    use std::arch::x86_64::{
        _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };
    let feed = _mm256_set1_epi8(b'\n' as i8);
    // Continuation bytes, 0x80..=0xBF, are -128..=-65 as i8: less than -64.
    let limit = _mm256_set1_epi8(-64);
    scan_lines_by_block!(b, line, 32, |i: usize| {
        // SAFETY: bytes i..i + 32 are in `b`; the load needs no alignment.
        let v = unsafe { _mm256_loadu_si256(b.as_ptr().add(i).cast()) };
        let feeds = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, feed)) as u32 as u64;
        let conts = _mm256_movemask_epi8(_mm256_cmpgt_epi8(limit, v)) as u32 as u64;
        (feeds, conts)
    })
}

/// The last `n` chars of `s`.
pub fn tail_chars(s: &str, n: usize) -> &str {
    match s.char_indices().rev().nth(n.saturating_sub(1)) {
        Some((i, _)) if n > 0 => &s[i..],
        _ if n == 0 => "",
        _ => s,
    }
}

/// At most the first `n` bytes of `s`, cut at a character boundary.
pub fn head_bytes(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// At most the last `n` bytes of `s`, cut at a character boundary.
pub fn tail_bytes(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut start = s.len() - n;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The first `n` chars of `s`.
pub fn head_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `s` without whitespace that touches a non-ASCII character: a cheap view of a piece of text
/// for pattern matching before the full repair has run (spaces between Latin words stay).
pub fn compact(s: &str) -> String {
    let space = |c: char| c.is_whitespace() || is_hspace(c);
    // Normalized text rarely has any space left (normalization turns the Unicode spaces into
    // ASCII ones and removes those between Chinese characters): a few byte searches find out.
    let b = s.as_bytes();
    let maybe =
        b.contains(&b' ') || b.contains(&b'\t') || b.contains(&b'\n') || s.contains('\u{3000}') || s.contains('\u{a0}');
    if !maybe {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut pending = false;
    for c in s.chars() {
        if space(c) {
            pending = true;
            continue;
        }
        if pending && out.ends_with(|p: char| p.is_ascii_alphanumeric()) && c.is_ascii_alphanumeric() {
            out.push(' ');
        }
        pending = false;
        out.push(c);
    }
    out
}

/// `count` texts of up to `max_pieces` pieces each, chosen by a fixed xorshift sequence: the same
/// texts on every run, for tests that compare two implementations.
#[cfg(test)]
pub(crate) fn random_texts(pieces: &[&str], count: usize, max_pieces: u64) -> Vec<String> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (0..x % max_pieces).map(|k| pieces[((x >> (k % 40)) as usize + k as usize) % pieces.len()]).collect()
        })
        .collect()
}

/// `count` byte strings of fewer than `max_len` bytes drawn from `alphabet`, by the same fixed
/// xorshift sequence on every run: for tests that compare a decoder with encoding_rs.
#[cfg(test)]
pub(crate) fn random_byte_strings(alphabet: &[u8], count: usize, max_len: u64) -> Vec<Vec<u8>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = (next() % max_len) as usize;
            (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_opening_with_a_byte_are_the_lines_whose_first_high_byte_passes() {
        // Lines of every length around the 64-byte blocks, ASCII and high bytes, a last line with
        // and without a line feed; the answer is the portable scan's (each line read whole).
        let mut sparse = vec![b'a'; 30];
        sparse.extend([b'\n', 0x81, 0xC2, 0xE4, 0xB8]);
        let mut strings = random_byte_strings(&[b'\n', b'\n', b'a', b' ', 0x81, 0xC2, 0xE4, 0xB8, 0xFE], 4_000, 150);
        // Long lines, most of them with their first high byte in a later block than their start.
        strings.extend(random_byte_strings(&sparse, 4_000, 300));
        for opens in [|b: u8| b == 0xE4 || b == 0xC2, |b: u8| b >= 0xB8, |_: u8| true] {
            for bytes in &strings {
                let mut want = Vec::new();
                lines_opening_with_portable(bytes, &opens, &mut |r| want.push(r));
                let mut got = Vec::new();
                for_each_line_opening_with(bytes, opens, |r| got.push(r));
                assert_eq!(got, want, "{bytes:02X?}");
            }
        }
    }

    #[test]
    fn char_len_agrees_with_chars_count() {
        let pieces = ["", "a", "全", "𠀀", "·", "ab,全区。", "\u{FEFF}x", "１２３"];
        for s in random_texts(&pieces, 2000, 24) {
            assert_eq!(char_len(&s), s.chars().count(), "{s:?}");
        }
    }

    #[test]
    fn lines_are_split_and_counted_as_one_by_one() {
        // Line feeds, carriage returns and multi-byte characters at every offset of the 16- and
        // 32-byte blocks, and lines longer than a block.
        let pieces = ["\n", "\r", "a", "全", "𠀀", "é", "\n\n", "国家统计局", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"];
        for s in random_texts(&pieces, 4000, 40) {
            let mut want = Vec::new();
            let mut start = 0;
            for piece in s.split('\n') {
                want.push((start..start + piece.len(), piece.chars().count()));
                start += piece.len() + 1;
            }
            let mut got = Vec::new();
            for_each_line(&s, |r, chars| got.push((r, chars)));
            assert_eq!(got, want, "{s:?}");
            // Every way, whichever this CPU takes.
            let mut portable = Vec::new();
            lines_portable(&s, &mut |r, chars| portable.push((r, chars)));
            assert_eq!(portable, want, "{s:?}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("popcnt") {
                let mut sse2 = Vec::new();
                // SAFETY: the CPU has popcnt (just checked).
                unsafe { lines_sse2(s.as_bytes(), &mut |r, chars| sse2.push((r, chars))) };
                assert_eq!(sse2, want, "{s:?}");
            }
        }
    }

    #[test]
    fn byte_lines_are_split_as_one_by_one() {
        // Any bytes: line feeds at every offset of the 16- and 32-byte blocks, bytes that are no
        // UTF-8, continuation bytes alone.
        for bytes in random_byte_strings(&[b'\n', b'a', 0x80, 0xBF, 0xC2, 0xE4, 0xFF, 0xB0], 4000, 70) {
            let mut want = Vec::new();
            let mut start = 0;
            for piece in bytes.split(|&b| b == b'\n') {
                want.push(start..start + piece.len());
                start += piece.len() + 1;
            }
            let mut got = Vec::new();
            for_each_byte_line(&bytes, |r| got.push(r));
            assert_eq!(got, want, "{bytes:?}");
            let mut portable = Vec::new();
            byte_lines_portable(&bytes, &mut |r| portable.push(r));
            assert_eq!(portable, want, "{bytes:?}");
        }
    }

    #[test]
    fn blank_ends_are_told_by_bytes_as_by_characters() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let blank = is_hspace(c) || is_zero_width(c);
            let mut buf = [0u8; 4];
            let c_bytes = c.encode_utf8(&mut buf).as_bytes();
            for other in ["", "x", "全"] {
                let starting = [c_bytes, other.as_bytes()].concat();
                let ending = [other.as_bytes(), c_bytes].concat();
                let len = if blank { c.len_utf8() } else { 0 };
                assert_eq!(leading_blank_len(&starting), len, "{c:?}");
                assert_eq!(trailing_blank_or_cr_len(&ending), if c == '\r' { 1 } else { len }, "{c:?}");
            }
        }
        assert_eq!((leading_blank_len(b""), trailing_blank_or_cr_len(b"")), (0, 0));
    }

    #[test]
    fn classes() {
        assert!(is_han('滆') && is_han('〇') && !is_han('a'));
        assert!(is_cjk_punct('，') && is_cjk_punct('“') && !is_cjk_punct(','));
        assert_eq!(fullwidth_to_ascii('２'), Some('2'));
        assert_eq!(fullwidth_to_ascii('Ｇ'), Some('G'));
        assert_eq!(fullwidth_to_ascii('中'), None);
    }

    #[test]
    fn head_and_tail() {
        assert_eq!(tail_chars("中华人民", 2), "人民");
        assert_eq!(tail_chars("中", 3), "中");
        assert_eq!(tail_chars("中", 0), "");
        assert_eq!(head_chars("中华人民", 2), "中华");
        assert_eq!(head_chars("中", 5), "中");
    }

    #[test]
    fn compact_keeps_latin_spacing_only() {
        assert_eq!(compact("新华  社 Windows 95 系统\n 中"), "新华社Windows 95系统中");
    }
}
