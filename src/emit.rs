//! Stage 5: items to [`Record`]s, and records to JSON Lines.
//!
//! Records are written straight from the structs by a small hand-written JSON writer, one object
//! per line, fields in the order of the SPEC. Its output is byte for byte what `serde_json`
//! writes for the same [`Record`] (the serde derive stays, for reading records back and for
//! other users; a test holds the two together): the writer exists because serde_json checks
//! every byte of a string against its escape table, and the text of a page is almost all of
//! what a record holds; [`write_str`] skips 32 bytes at a time when none needs escaping.

use std::io::{self, Write};

use crate::record::{Flag, Record};
use crate::rules::CompiledRules;
use crate::segment::Item;

/// Turns the items of one page into records. `source` names the page in `id` and `source`;
/// `utf8_lines` are the lines of a mixed page that were decoded as UTF-8 (see
/// [`crate::decode::Decoded::utf8_lines`]), flagged in the records that hold them.
pub fn records(
    rules: &CompiledRules,
    source: &str,
    page: &str,
    utf8_lines: &[std::ops::Range<usize>],
    items: Vec<Item>,
    explain: bool,
) -> Vec<Record> {
    // Items are searched for U+FFFD only on a page that has one (one search of the page instead
    // of one per item, each with its own searcher).
    let page_has_replacement = replacement_finder().find(page.as_bytes()).is_some();
    items
        .into_iter()
        .enumerate()
        .map(|(i, it)| {
            let index = i + 1;
            let mut flags = it.flags;
            let replacement = page_has_replacement
                .then(|| replacement_finder().find(page.get(it.span.clone()).unwrap_or("").as_bytes()))
                .flatten();
            if let Some(at) = replacement {
                let n = page[it.span.clone()].matches('\u{FFFD}').count();
                let start = it.span.start + at;
                flags.push(Flag {
                    code: "decode.malformed".into(),
                    span: Some([start, start + '\u{FFFD}'.len_utf8()]),
                    note: format!("{n} malformed byte sequence(s) in this item were decoded as U+FFFD"),
                });
            }
            let mut mixed = utf8_lines.iter().filter(|l| l.start < it.span.end && it.span.start < l.end);
            if let Some(first) = mixed.next() {
                let n = 1 + mixed.count();
                flags.push(Flag {
                    code: "decode.mixed-encoding".into(),
                    span: Some([first.start.max(it.span.start), first.end.min(it.span.end)]),
                    note: format!(
                        "{n} line(s) of this item were UTF-8 text on a page in another encoding, and were decoded as UTF-8"
                    ),
                });
            }
            Record {
                id: record_id(source, index),
                source: source.to_string(),
                index,
                kind: it.kind,
                section: it.section,
                headline: it.headline,
                dateline: it.dateline,
                reporters: it.reporters,
                correspondents: it.correspondents,
                paragraphs: it.paragraphs,
                captions: it.captions,
                span: [it.span.start, it.span.end],
                flags,
                edits: explain.then(|| it.edits.into_iter().map(|e| e.into_edit(rules)).collect()),
            }
        })
        .collect()
}

/// A searcher for U+FFFD, built once: `memmem::find` builds one per call, which cost more than
/// searching a page.
fn replacement_finder() -> &'static memchr::memmem::Finder<'static> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("\u{FFFD}".as_bytes()));
    &FINDER
}

/// `source#index`, the id of a record. (Written out directly: through `format!` it took as long
/// as all the rest of making the record.)
fn record_id(source: &str, index: usize) -> String {
    let mut id = Vec::with_capacity(source.len() + 8);
    id.extend_from_slice(source.as_bytes());
    id.push(b'#');
    write_uint(&mut id, index);
    String::from_utf8(id).expect("a str, '#' and ASCII digits are UTF-8")
}

/// Writes records as JSON Lines.
pub fn write_jsonl<W: Write>(records: &[Record], mut out: W) -> io::Result<()> {
    out.write_all(&to_jsonl(records))
}

/// Appends one record as a JSON object (no line end), as `serde_json::to_writer` would.
pub fn write_record(out: &mut Vec<u8>, r: &Record) {
    out.extend_from_slice(b"{\"id\":");
    write_str(out, &r.id);
    out.extend_from_slice(b",\"source\":");
    write_str(out, &r.source);
    out.extend_from_slice(b",\"index\":");
    write_uint(out, r.index);
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(r.kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"section\":");
    write_opt_str(out, r.section.as_deref());
    out.extend_from_slice(b",\"headline\":");
    write_opt_str(out, r.headline.as_deref());
    out.extend_from_slice(b",\"dateline\":");
    write_opt_str(out, r.dateline.as_deref());
    out.extend_from_slice(b",\"reporters\":");
    write_list(out, &r.reporters, |out, s| write_str(out, s));
    out.extend_from_slice(b",\"correspondents\":");
    write_list(out, &r.correspondents, |out, s| write_str(out, s));
    out.extend_from_slice(b",\"paragraphs\":");
    write_list(out, &r.paragraphs, |out, s| write_str(out, s));
    out.extend_from_slice(b",\"captions\":");
    write_list(out, &r.captions, |out, c| {
        out.extend_from_slice(b"{\"text\":");
        write_str(out, &c.text);
        out.extend_from_slice(b",\"credit\":");
        write_opt_str(out, c.credit.as_deref());
        out.push(b'}');
    });
    out.extend_from_slice(b",\"span\":");
    write_span(out, r.span);
    out.extend_from_slice(b",\"flags\":");
    write_list(out, &r.flags, |out, f| {
        out.extend_from_slice(b"{\"code\":");
        write_str(out, &f.code);
        if let Some(span) = f.span {
            out.extend_from_slice(b",\"span\":");
            write_span(out, span);
        }
        out.extend_from_slice(b",\"note\":");
        write_str(out, &f.note);
        out.push(b'}');
    });
    if let Some(edits) = &r.edits {
        out.extend_from_slice(b",\"edits\":");
        write_list(out, edits, |out, e| {
            out.extend_from_slice(b"{\"rule\":");
            write_str(out, &e.rule);
            out.extend_from_slice(b",\"span\":");
            write_span(out, e.span);
            out.extend_from_slice(b",\"before\":");
            write_str(out, &e.before);
            out.extend_from_slice(b",\"after\":");
            write_str(out, &e.after);
            out.push(b'}');
        });
    }
    out.push(b'}');
}

fn write_list<T>(out: &mut Vec<u8>, items: &[T], mut each: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, item);
    }
    out.push(b']');
}

fn write_span(out: &mut Vec<u8>, span: [usize; 2]) {
    out.push(b'[');
    write_uint(out, span[0]);
    out.push(b',');
    write_uint(out, span[1]);
    out.push(b']');
}

fn write_uint(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Byte by byte into reserved room: a slice copy of a few bytes went through a call to
    // memcpy (0.6% of a run, for the spans).
    out.reserve(digits.len() - i);
    for &d in &digits[i..] {
        out.push(d);
    }
}

fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Does JSON need this byte escaped? (A quote, a backslash or a control character; serde_json
/// escapes exactly these, and leaves DEL and all non-ASCII text as it is.)
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Writes a JSON string, escaped as serde_json escapes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    loop {
        let i = find_escape(bytes, start);
        out.extend_from_slice(&bytes[start..i]);
        let Some(&b) = bytes.get(i) else { break };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xF) as usize]);
            }
        }
        start = i + 1;
    }
    out.push(b'"');
}

/// The first byte at or after `from` that JSON needs escaped, or the length of `bytes`.
///
/// On x86-64 with AVX2 (checked at run time) 32 bytes at a time: the text of a page is almost
/// all of what records hold, and almost none of it needs escaping.
#[inline]
fn find_escape(bytes: &[u8], from: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (just checked).
        return unsafe { find_escape_avx2(bytes, from) };
    }
    find_escape_portable(bytes, from)
}

/// [`find_escape`] on any CPU: sixteen bytes at a time, in a loop without early exit that the
/// compiler turns into vector compares.
fn find_escape_portable(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = bytes.get(i..i + 16) {
        if chunk.iter().fold(false, |any, &b| any | needs_escape(b)) {
            break;
        }
        i += 16;
    }
    bytes[i..].iter().position(|&b| needs_escape(b)).map_or(bytes.len(), |k| i + k)
}

/// [`find_escape`] with AVX2. The bytes after the last whole block of 32 are read as the last
/// 32 bytes of `bytes` (overlapping what was read, the bytes before `i` masked out); a string of
/// 16 to 31 bytes as two overlapping blocks of 16 (SSE2), a shorter one a byte at a time.
///
/// # Safety
///
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn find_escape_avx2(bytes: &[u8], mut i: usize) -> usize {
    use std::arch::x86_64::*;
    let n = bytes.len();
    if n < 32 {
        if n < 16 {
            return find_escape_portable(bytes, i);
        }
        // 16 to 31 bytes (most headlines, datelines and names): its first 16 and its last 16.
        let escapes16 = |at: usize| {
            // SAFETY: `at + 16 <= n`; the load needs no alignment.
            let v = unsafe { _mm_loadu_si128(bytes.as_ptr().add(at).cast()) };
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
            let marks = _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
            );
            _mm_movemask_epi8(_mm_or_si128(control, marks)) as u32
        };
        let mask = (escapes16(0) | escapes16(n - 16) << (n - 16)) & (u32::MAX << i.min(31));
        return if mask != 0 { mask.trailing_zeros() as usize } else { n };
    }
    let quote = _mm256_set1_epi8(b'"' as i8);
    let backslash = _mm256_set1_epi8(b'\\' as i8);
    let below_space = _mm256_set1_epi8(0x1F);
    // Bit k set when byte k of the 32 at `at` needs escaping.
    let escapes = |at: usize| {
        // SAFETY: `at + 32 <= n` at both calls below; the load needs no alignment.
        let v = unsafe { _mm256_loadu_si256(bytes.as_ptr().add(at).cast()) };
        // A control character is a byte whose unsigned minimum with 0x1F is itself.
        let control = _mm256_cmpeq_epi8(_mm256_min_epu8(v, below_space), v);
        let marks = _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash));
        _mm256_movemask_epi8(_mm256_or_si256(control, marks)) as u32
    };
    while i + 32 <= n {
        let mask = escapes(i);
        if mask != 0 {
            return i + mask.trailing_zeros() as usize;
        }
        i += 32;
    }
    if i < n {
        let base = n - 32;
        let mask = escapes(base) & (u32::MAX << (i - base));
        if mask != 0 {
            return base + mask.trailing_zeros() as usize;
        }
    }
    n
}

/// Records as one JSON Lines buffer.
pub fn to_jsonl(records: &[Record]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(records.iter().map(json_size_hint).sum());
    for r in records {
        write_record(&mut buf, r);
        buf.push(b'\n');
    }
    buf
}

/// About the size of a record's JSON when little needs escaping (Chinese text needs none): its
/// strings, plus room for the keys and numbers. Sized up front, the output buffer is not
/// reallocated (and copied) as it grows.
fn json_size_hint(r: &Record) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let list = |l: &[String]| l.iter().map(|s| s.len() + 3).sum::<usize>();
    let captions: usize = r.captions.iter().map(|c| c.text.len() + opt(&c.credit) + 24).sum();
    let flags: usize = r.flags.iter().map(|f| f.code.len() + f.note.len() + 48).sum();
    let edits: usize = r.edits.iter().flatten().map(|e| e.rule.len() + e.before.len() + e.after.len() + 64).sum();
    r.id.len()
        + r.source.len()
        + opt(&r.section)
        + opt(&r.headline)
        + opt(&r.dateline)
        + list(&r.reporters)
        + list(&r.correspondents)
        + list(&r.paragraphs)
        + captions
        + flags
        + edits
        + 256
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Caption, Edit, Kind};

    fn record(text: &str, explain: bool) -> Record {
        Record {
            id: format!("p/{text}#1"),
            source: "p".into(),
            index: 12345,
            kind: Kind::Photo,
            section: None,
            headline: Some(text.into()),
            dateline: Some(String::new()),
            reporters: vec![text.into(), "张三".into()],
            correspondents: vec![],
            paragraphs: vec![text.repeat(3), String::new()],
            captions: vec![
                Caption { text: text.into(), credit: None },
                Caption { text: "图".into(), credit: Some(text.into()) },
            ],
            span: [0, usize::MAX],
            flags: vec![
                Flag { code: "a".into(), span: None, note: text.into() },
                Flag { code: "b".into(), span: Some([7, 9]), note: String::new() },
            ],
            edits: explain
                .then(|| vec![Edit { rule: "r".into(), span: [1, 2], before: text.into(), after: "".into() }]),
        }
    }

    #[test]
    fn ids_are_source_hash_index() {
        for (source, index) in [("a/b.txt", 1), ("第1版.txt", 10), ("p", 12345), ("", usize::MAX)] {
            assert_eq!(record_id(source, index), format!("{source}#{index}"));
        }
    }

    #[test]
    fn writes_what_serde_json_writes() {
        // Every control character, the two escaped marks, DEL, non-ASCII, and escapes on both
        // sides of the 16-byte steps.
        let controls: String = (0u8..0x20).map(char::from).collect();
        let texts = [
            String::new(),
            "全区老干部情况通报会召开".to_string(),
            controls,
            "\"quoted\" \\back\\slash\u{7f} end".to_string(),
            format!("{}\"{}\n", "x".repeat(15), "全".repeat(7)),
            format!("{}\t", "abcdefghijklmnop"),
            "\u{2028}\u{FFFD}𠀀·".to_string(),
        ];
        for t in &texts {
            for explain in [false, true] {
                let r = record(t, explain);
                let mut ours = Vec::new();
                write_record(&mut ours, &r);
                assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&r).unwrap(), "text {t:?}");
            }
        }
    }

    /// The output buffer is sized once: records whose strings need no escaping fit in the hint,
    /// whatever fields they fill (captions, flags, edits, long headlines).
    #[test]
    fn size_hint_covers_unescaped_records() {
        for text in ["", "全区老干部情况通报会召开", &"新华社北京电".repeat(200)] {
            for explain in [false, true] {
                let records = [record(text, explain), record(text, !explain)];
                let out = to_jsonl(&records);
                let hint: usize = records.iter().map(json_size_hint).sum();
                assert!(out.len() <= hint, "{} bytes of JSON, hint {hint}", out.len());
            }
        }
    }

    #[test]
    fn writes_what_serde_json_writes_on_random_strings() {
        // A mix of ASCII (controls included) and Chinese.
        let alphabet = [
            "\u{0}", "\u{1}", "\u{1f}", "\n", "\r", "\t", "\"", "\\", "/", " ", "a", "Z", "0", "9", ",", ".", "全",
            "区", "，", "。", "“", "”", "\u{7f}", "\u{80}", "\u{3000}",
        ];
        for s in crate::text::random_texts(&alphabet, 2_000, 100) {
            let mut ours = Vec::new();
            write_str(&mut ours, &s);
            assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&s).unwrap());
        }
    }

    #[test]
    fn escapes_are_found_wherever_they_stand() {
        // Every length up to three blocks, one escape at every position (and none), searched from
        // every start: the block loop, the overlapping last block and the mask before `from`.
        for n in 0..100 {
            for at in (0..n).map(Some).chain([None]) {
                for b in [b'"', b'\\', 0x00, 0x1F] {
                    let mut bytes = vec![b'a'; n];
                    if let Some(at) = at {
                        bytes[at] = b;
                    }
                    for from in 0..=n {
                        let want = at.filter(|&at| at >= from).unwrap_or(n);
                        assert_eq!(find_escape(&bytes, from), want, "{n} {at:?} {b} {from}");
                        assert_eq!(find_escape_portable(&bytes, from), want, "{n} {at:?} {b} {from}");
                    }
                }
            }
        }
    }

    #[test]
    fn numbers_are_plain_decimals() {
        for n in [0usize, 9, 10, 99, 100, 65536, usize::MAX] {
            let mut ours = Vec::new();
            write_uint(&mut ours, n);
            assert_eq!(ours, n.to_string().into_bytes());
        }
    }
}
