//! Stage 1: bytes of a page, in whatever encoding the scanning bureau used, to UTF-8 text.
//!
//! # Contract
//!
//! * The result is valid UTF-8 with `\n` line ends: CRLF and lone CR become LF, a leading BOM is
//!   removed. Every later offset (`span`, edit spans) is a byte offset into this text.
//! * Malformed byte sequences are never silently replaced: each one becomes U+FFFD in the text
//!   and is counted in [`Decoded::malformed`], and the records that contain one are flagged.
//! * Input that is not text (NUL bytes outside UTF-16, known binary signatures, mostly control
//!   characters, or mostly malformed) is an error, not a page.
//!
//! # Detection
//!
//! In order: a forced encoding; a BOM (UTF-8, UTF-16LE, UTF-16BE); BOM-less UTF-16, recognised by
//! decoding both byte orders and checking that nearly all code units are plausible text (chardetng
//! does not detect UTF-16 without a BOM); valid UTF-8; otherwise chardetng's guess, checked
//! against GB18030 and Big5 decodes because chardetng is documented to be unreliable on very short
//! inputs: when its guess has malformed sequences or looks less like Chinese than a CJK candidate
//! that decodes cleanly, the candidate wins.
//!
//! # Mixed pages
//!
//! A page assembled from files in two encodings (a UTF-8 headline pasted over a GB18030 body) is
//! neither valid UTF-8 nor, as a whole, any one legacy encoding: decoded as GB18030, the UTF-8
//! part is mojibake (`鍏ㄥ尯…`) without a single malformed sequence. So on a page that is not
//! UTF-8, the lines that are UTF-8 Chinese text are found first: valid UTF-8 whose characters
//! beyond ASCII are all CJK ideographs, CJK, full-width or general punctuation, or the middle dot,
//! at least two a line. When they hold at least four characters, the page's encoding is
//! detected on the other lines alone, the UTF-8 lines are decoded as UTF-8 and the rest in that
//! encoding, and the records holding a UTF-8 line are flagged (`decode.mixed-encoding`). Legacy
//! double-byte text is almost never valid UTF-8 over a whole line, and as Chinese characters only
//! rarely and then on short lines (the thresholds' comments give the rates). Decoding line by
//! line is exact: no multi-byte sequence of an ASCII-compatible encoding that detection can
//! choose holds the byte 0x0A, so every line starts with no decoder state.

use std::fmt;
use std::ops::Range;

mod big5;
mod gb18030;

use encoding_rs::{Encoding, BIG5, GB18030, UTF_16BE, UTF_16LE, UTF_8};

/// A decoded page.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub text: String,
    /// The encoding's WHATWG name (`UTF-8`, `gb18030`, `Big5`, `UTF-16LE`, …).
    pub encoding: &'static str,
    /// Whether the input started with a byte order mark.
    pub bom: bool,
    /// Number of malformed byte sequences (each decoded as U+FFFD).
    pub malformed: usize,
    /// Number of CRLF and lone-CR line ends that became LF.
    pub line_ends_normalized: usize,
    /// On a page that mixes encodings: the lines (byte ranges of `text`, without their line
    /// feed) that were UTF-8 in a page of `encoding`, and were decoded as UTF-8 (see
    /// [Mixed pages](self#mixed-pages)). Empty on every other page.
    pub utf8_lines: Vec<Range<usize>>,
}

/// Why bytes could not be decoded as a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are not text: the reason says what gave it away.
    Binary(String),
    /// More than a third of the decoded characters were malformed byte sequences.
    Undecodable { encoding: &'static str, malformed: usize },
    /// `--encoding` named no encoding we know.
    UnknownEncoding(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Binary(why) => write!(f, "not a text file: {why}"),
            DecodeError::Undecodable { encoding, malformed } => {
                write!(
                    f,
                    "cannot decode: {malformed} malformed byte sequences as {encoding}, and no other encoding fits"
                )
            }
            DecodeError::UnknownEncoding(name) => write!(f, "unknown encoding `{name}`"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Looks up an encoding by any of its WHATWG labels (`gbk`, `gb2312`, `big5-hkscs`, `utf-16le`…).
pub fn encoding_for_label(label: &str) -> Result<&'static Encoding, DecodeError> {
    Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| DecodeError::UnknownEncoding(label.to_string()))
}

const BINARY_SIGNATURES: &[(&[u8], &str)] = &[
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\x7fELF", "an ELF executable"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "gzip data"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
];

/// Decodes a page. `forced` overrides detection (a BOM of another Unicode encoding is then not
/// honoured either: the user said what the bytes are).
pub fn decode(bytes: &[u8], forced: Option<&'static Encoding>) -> Result<Decoded, DecodeError> {
    check_signatures(bytes)?;
    // Detection and the binary check both ask about NUL bytes: one scan answers both.
    decode_detected(bytes, forced, Scanned { nul: Some(memchr_nul(bytes)), utf8: None })
}

/// Like [`decode`], but takes the bytes: a page that is valid UTF-8 (the common case) becomes
/// the text without being copied.
pub fn decode_owned(mut bytes: Vec<u8>, forced: Option<&'static Encoding>) -> Result<Decoded, DecodeError> {
    check_signatures(&bytes)?;
    let utf8_bom = bytes.starts_with(b"\xEF\xBB\xBF");
    let utf8_wanted = forced.map_or(true, |e| e == UTF_8);
    // No NUL byte: not UTF-16 (see `detect`), not binary; then valid UTF-8 is UTF-8.
    let nul = memchr_nul(&bytes);
    if utf8_wanted && !nul && is_utf8(&bytes) {
        if utf8_bom {
            bytes.drain(..3);
        }
        // SAFETY: `is_utf8` validated the bytes, and dropping the three bytes of a BOM (a whole
        // character) keeps them valid.
        let text = unsafe { String::from_utf8_unchecked(bytes) };
        return finish(Text::plain(text, 0), UTF_8, utf8_bom);
    }
    // What was just found out is not scanned for again.
    decode_detected(&bytes, forced, Scanned { nul: Some(nul), utf8: (utf8_wanted && !nul).then_some(false) })
}

/// What is known of the bytes already (`None`: not looked at).
#[derive(Debug, Clone, Copy)]
struct Scanned {
    /// They hold a NUL byte.
    nul: Option<bool>,
    /// They are valid UTF-8.
    utf8: Option<bool>,
}

fn check_signatures(bytes: &[u8]) -> Result<(), DecodeError> {
    for (sig, what) in BINARY_SIGNATURES {
        if bytes.starts_with(sig) {
            return Err(DecodeError::Binary(format!("starts like {what}")));
        }
    }
    Ok(())
}

fn decode_detected(bytes: &[u8], forced: Option<&'static Encoding>, scanned: Scanned) -> Result<Decoded, DecodeError> {
    let (encoding, bom_len, decoded) = match forced {
        Some(enc) => {
            let bom = Encoding::for_bom(bytes).filter(|(e, _)| *e == enc).map_or(0, |(_, n)| n);
            (enc, bom, None)
        }
        None => detect(bytes, scanned),
    };
    let body = &bytes[bom_len..];
    // (A BOM holds no NUL byte, and a UTF-8 BOM is a whole character: what was known of
    // `bytes` holds for `body`.)
    if !is_utf16(encoding) && scanned.nul.unwrap_or_else(|| memchr_nul(body)) {
        return Err(DecodeError::Binary("contains NUL bytes".into()));
    }
    let done = match decoded {
        Some(done) => done,
        // (Known not to be valid UTF-8: decoded with replacement below, not checked again.)
        None if encoding == UTF_8 && scanned.utf8 != Some(false) => match simdutf8::basic::from_utf8(body) {
            Ok(s) => Text::plain(s.to_string(), 0),
            Err(_) => Text::counted(decode_counting(encoding, body)),
        },
        None => Text::counted(decode_counting(encoding, body)),
    };
    finish(done, encoding, bom_len > 0)
}

/// The checks on decoded text (too much of it malformed, or control characters: not a page) and
/// the line-end normalization.
fn finish(done: Text, encoding: &'static Encoding, bom: bool) -> Result<Decoded, DecodeError> {
    let Text { mut text, malformed, mut utf8_lines } = done;
    let (controls, has_cr) = scan_controls(&text);
    // Characters are counted only when there is something to weigh against them (the count is a
    // pass of its own, and most pages have neither malformed sequences nor controls).
    let chars = if malformed > 0 || controls > 0 { crate::text::char_len(&text) } else { 0 };
    if malformed > 0 && malformed * 3 > chars {
        return Err(DecodeError::Undecodable { encoding: encoding.name(), malformed });
    }
    if controls > 0 && controls * 10 > chars {
        return Err(DecodeError::Binary(format!("{controls} control characters in {chars}")));
    }
    if has_cr && !utf8_lines.is_empty() {
        shift_for_line_ends(&text, &mut utf8_lines);
    }
    let line_ends_normalized = if has_cr { normalize_line_ends(&mut text) } else { 0 };
    Ok(Decoded { text, encoding: encoding.name(), bom, malformed, line_ends_normalized, utf8_lines })
}

/// Moves `ranges` of `text` (in order, none of them starting or ending inside a CRLF) to where
/// [`normalize_line_ends`] will put them: down by one byte for each CRLF before them.
fn shift_for_line_ends(text: &str, ranges: &mut [Range<usize>]) {
    let b = text.as_bytes();
    let mut crlfs = memchr::memchr_iter(b'\r', b).filter(|&i| b.get(i + 1) == Some(&b'\n')).peekable();
    let mut before = 0;
    let mut shift = |at: usize| {
        while crlfs.next_if(|&i| i < at).is_some() {
            before += 1;
        }
        at - before
    };
    for r in ranges {
        *r = shift(r.start)..shift(r.end);
    }
}

/// Counts the control characters of `text` (all but line ends, tabs and form feeds; in UTF-8 the
/// C1 controls are the two-byte sequences C2 80..C2 9F) and tells whether it holds a carriage
/// return: one pass for what `finish` asks of every page.
///
/// On x86-64 with AVX2 (checked at run time) 32 bytes at a time: compares give the controls, the
/// C2 lead bytes and the carriage returns of a block as bit masks, and a block with neither a
/// control nor a C2 (nearly every block) costs one branch. Elsewhere, [`count_controls`] and a
/// search for CR.
fn scan_controls(text: &str) -> (usize, bool) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has AVX2 and popcnt (just checked).
        return unsafe { scan_controls_avx2(text.as_bytes()) };
    }
    (count_controls(text), memchr::memchr(b'\r', text.as_bytes()).is_some())
}

/// Is byte `x` a control character on its own (C0 but line ends, tabs and form feeds, or DEL)?
#[inline]
fn is_c0_control(x: u8) -> bool {
    (x < 0x20 && !matches!(x, b'\n' | b'\r' | b'\t' | 0x0c)) || x == 0x7f
}

/// Does the C2 at `i` start a C1 control (C2 80..C2 9F)?
#[inline]
fn c1_at(b: &[u8], i: usize) -> bool {
    b.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n))
}

/// [`scan_controls`] with AVX2.
///
/// # Safety
///
/// The CPU must support AVX2 and popcnt.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn scan_controls_avx2(b: &[u8]) -> (usize, bool) {
    use std::arch::x86_64::{
        _mm256_and_si256, _mm256_andnot_si256, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_loadu_si256,
        _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8,
    };
    let n = b.len();
    let splat = |x: u8| _mm256_set1_epi8(x as i8);
    let (space, minus_one, del, lead_c2) = (splat(0x20), splat(0xFF), splat(0x7F), splat(0xC2));
    let (tab, lf, ff, cr) = (splat(b'\t'), splat(b'\n'), splat(0x0C), splat(b'\r'));
    let mut controls = 0usize;
    let mut returns = 0u32;
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: bytes i..i + 32 are in `b`; the load needs no alignment.
        let v = unsafe { _mm256_loadu_si256(b.as_ptr().add(i).cast()) };
        // 0x00..=0x1F: below 0x20 and not negative as i8.
        let c0 = _mm256_and_si256(_mm256_cmpgt_epi8(space, v), _mm256_cmpgt_epi8(v, minus_one));
        let is_cr = _mm256_cmpeq_epi8(v, cr);
        let allowed = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(v, tab), _mm256_cmpeq_epi8(v, lf)),
            _mm256_or_si256(_mm256_cmpeq_epi8(v, ff), is_cr),
        );
        let ctl = _mm256_or_si256(_mm256_andnot_si256(allowed, c0), _mm256_cmpeq_epi8(v, del));
        let ctl = _mm256_movemask_epi8(ctl) as u32;
        let mut c2 = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, lead_c2)) as u32;
        returns |= _mm256_movemask_epi8(is_cr) as u32;
        if ctl | c2 != 0 {
            controls += ctl.count_ones() as usize;
            while c2 != 0 {
                controls += c1_at(b, i + c2.trailing_zeros() as usize) as usize;
                c2 &= c2 - 1;
            }
        }
        i += 32;
    }
    for (k, &x) in b.iter().enumerate().skip(i) {
        controls += is_c0_control(x) as usize + (x == 0xC2 && c1_at(b, k)) as usize;
        returns |= (x == b'\r') as u32;
    }
    (controls, returns != 0)
}

/// Control characters other than line ends, tabs and form feeds (UTF-8: the C1 controls are the
/// two-byte sequences C2 80..C2 9F).
fn count_controls(text: &str) -> usize {
    let b = text.as_bytes();
    let mut controls = 0usize;
    // Byte counters per chunk of at most 255 bytes cannot overflow, and a loop of byte
    // comparisons summed into bytes is one the compiler turns into vector instructions.
    for chunk in b.chunks(255) {
        let mut k = 0u8;
        for &x in chunk {
            k += is_c0_control(x) as u8;
        }
        controls += k as usize;
    }
    controls + memchr::memchr_iter(0xC2, b).filter(|&i| c1_at(b, i)).count()
}

/// Is `bytes` valid UTF-8? The SIMD validator of simdutf8 checks a page of Chinese text (three
/// bytes a character, where the standard library's ASCII fast path never applies) about ten
/// times faster than `std::str::from_utf8`. Its `compat` flavour stops at the first 64-byte
/// block with an error: a legacy-encoded page is rejected after its first Chinese character
/// instead of after all of it (the `basic` flavour reads the whole input either way).
fn is_utf8(bytes: &[u8]) -> bool {
    simdutf8::compat::from_utf8(bytes).is_ok()
}

fn is_utf16(e: &'static Encoding) -> bool {
    e == UTF_16LE || e == UTF_16BE
}

fn memchr_nul(b: &[u8]) -> bool {
    memchr::memchr(0, b).is_some()
}

/// A decoded text: the text, its malformed sequences, and on a mixed page its UTF-8 lines (as
/// [`Decoded::utf8_lines`], before line ends are normalized).
#[derive(Debug)]
struct Text {
    text: String,
    malformed: usize,
    utf8_lines: Vec<Range<usize>>,
}

impl Text {
    fn plain(text: String, malformed: usize) -> Text {
        Text { text, malformed, utf8_lines: Vec::new() }
    }

    fn counted((text, malformed): (String, usize)) -> Text {
        Text::plain(text, malformed)
    }
}

/// A text decoded during detection (so that it is not decoded again).
type Done = Option<Text>;

/// Picks the encoding and the length of its BOM; when detection had to decode the text, the
/// result comes along.
///
/// For legacy bytes the common cases are settled by strict decodes, which cost far less than a
/// statistical detector: GB18030 text soon hits a sequence Big5 does not map (GB2312's byte ranges
/// are Big5's too, so it takes a character Big5 lacks: on 1,000 generated GB18030 pages the Big5
/// decode read 175 bytes a page, 5% of them, before its first error), and Big5 or GB18030 that
/// decodes cleanly under only one of the two is that one. Only when both decode cleanly (Big5 text
/// is valid GB18030 byte-wise; short texts can be valid in both), or neither does, chardetng judges
/// (on at most the first 64 KiB), checked against the two.
fn detect(bytes: &[u8], scanned: Scanned) -> (&'static Encoding, usize, Done) {
    if let Some((enc, len)) = Encoding::for_bom(bytes) {
        return (enc, len, None);
    }
    // UTF-16 text has NUL bytes (the high byte of ASCII); no NUL, no UTF-16.
    if scanned.nul.unwrap_or_else(|| memchr_nul(bytes)) {
        if let Some(enc) = detect_bomless_utf16(bytes) {
            return (enc, 0, None);
        }
    }
    if scanned.utf8 != Some(false) {
        if let Ok(s) = simdutf8::compat::from_utf8(bytes) {
            return (UTF_8, 0, Some(Text::plain(s.to_string(), 0)));
        }
    }
    // UTF-8 with a few bad sequences (a truncated last character, a damaged byte) is still UTF-8:
    // no legacy encoding yields long runs of valid multi-byte UTF-8 by accident.
    if mostly_utf8(bytes) {
        return (UTF_8, 0, None);
    }
    let utf8_lines = utf8_lines(bytes);
    if !utf8_lines.is_empty() {
        return match decode_mixed(bytes, utf8_lines) {
            Some((enc, text)) => (enc, 0, Some(text)),
            None => (UTF_8, 0, None),
        };
    }
    let (enc, text) = detect_legacy(bytes);
    (enc, 0, text)
}

/// The legacy encoding of `bytes` (see [`detect`]), with the text when judging it took a decode.
fn detect_legacy(bytes: &[u8]) -> (&'static Encoding, Done) {
    let big5_clean = big5::decodes_cleanly(bytes);
    let (gb_text, gb_bad) = decode_counting(GB18030, bytes);
    match (gb_bad == 0, big5_clean) {
        (true, false) => return (GB18030, Some(Text::plain(gb_text, 0))),
        (false, true) => return (BIG5, None),
        _ => {}
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    det.feed(&bytes[..bytes.len().min(64 << 10)], bytes.len() <= 64 << 10);
    let guess = det.guess(None, chardetng::Utf8Detection::Deny);
    // Check the guess against the two Chinese legacy encodings (see the module docs).
    let mut candidates: Vec<(&'static Encoding, String, usize)> = vec![(GB18030, gb_text, gb_bad)];
    for enc in [BIG5, guess] {
        if candidates.iter().all(|c| c.0 != enc) {
            let (t, bad) = decode_counting(enc, bytes);
            candidates.push((enc, t, bad));
        }
    }
    // Each candidate is judged by how much of it reads as Chinese text, less a penalty for its
    // malformed sequences: a page with one damaged byte is still GB18030, not windows-1252
    // (which decodes any byte, into Latin-1 letters).
    let score = |c: &(&'static Encoding, String, usize)| {
        let chars = c.1.chars().count().max(1) as f64;
        chinese_likeness(&c.1) - 3.0 * c.2 as f64 / chars
    };
    let mut best = candidates.iter().position(|c| c.0 == guess).unwrap_or(0);
    for (i, c) in candidates.iter().enumerate() {
        if score(c) > score(&candidates[best]) + 0.05 {
            best = i;
        }
    }
    let (enc, text, bad) = candidates.swap_remove(best);
    (enc, Some(Text::plain(text, bad)))
}

/// Is `bytes` (not valid UTF-8) UTF-8 with damage, rather than text in another encoding? It is
/// when at least a quarter of its bytes beyond ASCII are whole UTF-8 Chinese characters (three
/// bytes each, as [`utf8_chinese_chars`] takes them). Damaged UTF-8 keeps two characters in five
/// whole even with a bad byte in every five (40% of its bytes); GB18030 text forms such a
/// character by accident with 1.4% of its bytes (generated corpus; 37% on the worst line of 20
/// bytes or more, 3% on the worst page), Big5 text with 0.6%.
fn damaged_utf8(bytes: &[u8]) -> bool {
    let (mut chinese, mut beyond_ascii) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0x80 {
            i += 1;
            continue;
        }
        let n = match utf8_sequence(&bytes[i..]) {
            Ok(3) if is_chinese_char(&bytes[i..i + 3]) => {
                chinese += 3;
                3
            }
            _ => 1,
        };
        beyond_ascii += n;
        i += n;
    }
    chinese * 4 >= beyond_ascii
}

/// Are the three bytes of a well-formed UTF-8 sequence a CJK ideograph or CJK, full-width or
/// general punctuation (what Chinese text is written in beyond ASCII)?
#[inline]
fn is_chinese_char(seq: &[u8]) -> bool {
    let u = (seq[0] as u32 & 0x0F) << 12 | (seq[1] as u32 & 0x3F) << 6 | (seq[2] as u32 & 0x3F);
    matches!(u, 0x2000..=0x206F | 0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xFF00..=0xFFEF)
}

/// The fewest characters of UTF-8 Chinese text that make a page mixed (see
/// [Mixed pages](self#mixed-pages)), and that make a line count. Short lines of legacy text are
/// sometimes UTF-8 Chinese text by accident: of 300,000 random lines of two GBK characters, 918
/// were, each as one Chinese character (a three-byte sequence and a trail byte in ASCII's
/// range); of lines of three GB2312 characters 18, as two; of four, 2; of five to eleven, none.
/// Two characters a line and four a page leave a page of genuine legacy text mixed only when two
/// of its short lines are such accidents.
const MIXED_MIN_CHARS: usize = 4;
const MIXED_MIN_LINE_CHARS: usize = 2;

/// The lines of `bytes` (with their line feeds) that are UTF-8 Chinese text of at least
/// [`MIXED_MIN_LINE_CHARS`] characters, when together they hold at least [`MIXED_MIN_CHARS`];
/// otherwise none.
///
/// Costs little on a legacy page: a line of GB18030 or Big5 is given up at its first character
/// beyond ASCII, whose bytes are nearly always no UTF-8, or UTF-8 outside Chinese text.
fn utf8_lines(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut lines = Vec::new();
    let mut chars = 0;
    // Only the lines whose first byte beyond ASCII can open a counted character are read further:
    // the scan finds that byte itself, so the others (nearly all of a legacy page) cost no call.
    // (A line feed search per line came first, then the line scan of layout with every line read
    // here: 24.7M instructions over 4,000 GB18030 pages, 18.7M now, for 384,140 lines of which
    // 2,220 are read.)
    crate::text::for_each_line_opening_with(bytes, opens_utf8_chinese, |line| {
        if let Some(n) = utf8_chinese_chars(&bytes[line.clone()]).filter(|&n| n >= MIXED_MIN_LINE_CHARS) {
            // With its line feed, if it has one.
            lines.push(line.start..(line.end + 1).min(bytes.len()));
            chars += n;
        }
    });
    if chars < MIXED_MIN_CHARS {
        lines.clear();
    }
    lines
}

/// Can `b` start a character that [`utf8_chinese_chars`] counts or lets pass: C2 (the middle dot)
/// and the leads of the blocks of Chinese text (E2, E3, E4..E9, EF)?
#[inline]
fn opens_utf8_chinese(b: u8) -> bool {
    matches!(b, 0xC2 | 0xE2..=0xE9 | 0xEF)
}

/// How many Chinese characters `line` holds, when it is UTF-8 Chinese text: valid UTF-8 whose
/// characters beyond ASCII are all CJK ideographs or CJK, full-width or general punctuation
/// (three bytes each) or the middle dot of transliterated names, at least one of them three
/// bytes. `None` for anything else, and for a line of ASCII only (the same in every encoding
/// detection chooses).
fn utf8_chinese_chars(line: &[u8]) -> Option<usize> {
    // Most lines of a legacy page fail at their first byte beyond ASCII, and most of them on the
    // byte alone: only C2 (the middle dot) and the leads of the blocks of Chinese text (E2, E3,
    // E4..E9, EF) can start a character counted here.
    let mut i = line.iter().position(|&b| b >= 0x80)?;
    if !opens_utf8_chinese(line[i]) {
        return None;
    }
    let mut chinese = 0;
    while i < line.len() {
        let b = line[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        let len = utf8_sequence(&line[i..]).ok()?;
        match len {
            2 if b == 0xC2 && line[i + 1] == 0xB7 => {}
            3 if is_chinese_char(&line[i..i + 3]) => chinese += 1,
            _ => return None,
        }
        i += len;
    }
    (chinese > 0).then_some(chinese)
}

/// Decodes a mixed page: `utf8_lines` as UTF-8, the rest in the encoding detected on the rest
/// alone (see [Mixed pages](self#mixed-pages)). `None` when the rest is UTF-8 damaged (see
/// [`damaged_utf8`]): then the page is UTF-8 damaged in places, not a mix.
fn decode_mixed(bytes: &[u8], utf8_lines: Vec<Range<usize>>) -> Option<(&'static Encoding, Text)> {
    let mut rest = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for r in &utf8_lines {
        rest.extend_from_slice(&bytes[at..r.start]);
        at = r.end;
    }
    rest.extend_from_slice(&bytes[at..]);
    if damaged_utf8(&rest) {
        return None;
    }
    let (encoding, _) = detect_legacy(&rest);
    let mut text = String::with_capacity(bytes.len() + bytes.len() / 2);
    let mut malformed = 0;
    let mut spans = Vec::with_capacity(utf8_lines.len());
    let mut at = 0;
    for r in utf8_lines {
        // (Each stretch ends after a line feed, where the decoder has no state.)
        malformed += decode_counting_into(encoding, &bytes[at..r.start], &mut text);
        let start = text.len();
        // (Valid: `utf8_lines` checked it. Should it not be, the bad bytes are counted.)
        malformed += decode_counting_into(UTF_8, &bytes[r.clone()], &mut text);
        let line = text[start..].trim_end_matches(['\n', '\r']);
        spans.push(start..start + line.len());
        at = r.end;
    }
    malformed += decode_counting_into(encoding, &bytes[at..], &mut text);
    Some((encoding, Text { text, malformed, utf8_lines: spans }))
}

/// Valid UTF-8 except for at most one malformed sequence per 200 bytes (plus one), with some
/// multi-byte text.
///
/// One pass over the bytes with the sequence check inlined: a legacy page fails here after about
/// one malformed sequence per 200 bytes, and asking `str::from_utf8` again after each of them
/// (a call per error, 20 on a 4 KB GB18030 page) was 2% of a GB18030 run. Errors are delimited as
/// [`std::str::Utf8Error`] delimits them (see [`utf8_sequence`]).
fn mostly_utf8(bytes: &[u8]) -> bool {
    let limit = 1 + bytes.len() / 200;
    let (mut errors, mut valid, mut multibyte) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0x80 {
            valid += 1;
            i += 1;
            continue;
        }
        match utf8_sequence(&bytes[i..]) {
            Ok(n) => {
                valid += n;
                multibyte += 1;
                i += n;
            }
            Err(Some(n)) => {
                errors += 1;
                i += n;
                if errors > limit {
                    return false;
                }
            }
            // A sequence cut off by the end of the page ends it.
            Err(None) => {
                errors += 1;
                break;
            }
        }
    }
    errors > 0 && multibyte >= 4 && errors <= 1 + valid / 200
}

/// The well-formed UTF-8 sequence of two to four bytes that starts `b` (whose first byte is not
/// ASCII): `Ok(length)`, or as [`std::str::Utf8Error::error_len`] tells what is wrong with it:
/// `Err(Some(n))`, the `n` bytes that are no character (and that a decoder skips), or
/// `Err(None)`, a sequence cut off by the end of `b`. The checks and their order are those of the
/// standard library's validator (no overlong forms, no surrogates, nothing past U+10FFFF).
#[inline]
fn utf8_sequence(b: &[u8]) -> Result<usize, Option<usize>> {
    // The sequence's length and the range of its second byte, by its first byte; the bytes after
    // the second are continuation bytes, 80..BF.
    let (len, second) = match b[0] {
        0xC2..=0xDF => (2, 0x80..=0xBF),
        0xE0 => (3, 0xA0..=0xBF),
        0xED => (3, 0x80..=0x9F),
        0xE1..=0xEF => (3, 0x80..=0xBF),
        0xF0 => (4, 0x90..=0xBF),
        0xF4 => (4, 0x80..=0x8F),
        0xF1..=0xF3 => (4, 0x80..=0xBF),
        _ => return Err(Some(1)),
    };
    for k in 1..len {
        let x = *b.get(k).ok_or(None)?;
        let allowed = if k == 1 { second.clone() } else { 0x80..=0xBF };
        if !allowed.contains(&x) {
            return Err(Some(k));
        }
    }
    Ok(len)
}

/// Share of characters that are common Chinese text: CJK ideographs, CJK and full-width
/// punctuation, ASCII. Legacy-encoded bytes decoded with the wrong table land in rare blocks.
fn chinese_likeness(text: &str) -> f64 {
    let mut good = 0usize;
    let mut all = 0usize;
    for c in text.chars() {
        all += 1;
        let u = c as u32;
        if (0x4E00..=0x9FFF).contains(&u)
            || (0x3000..=0x303F).contains(&u)
            || (0xFF01..=0xFF5E).contains(&u)
            || (0x20..0x7F).contains(&u)
            || c == '\n'
            || c == '\r'
            || (0x2010..=0x2027).contains(&u)
        {
            good += 1;
        }
    }
    if all == 0 {
        0.0
    } else {
        good as f64 / all as f64
    }
}

/// UTF-16 without a BOM: both byte orders are tried on a prefix, and one is taken when nearly all
/// of its code units are plausible text and it contains a line end or a space (so that a short
/// run of legacy double-byte text cannot pass).
fn detect_bomless_utf16(bytes: &[u8]) -> Option<&'static Encoding> {
    if bytes.len() < 4 {
        return None;
    }
    let n = bytes.len().min(8192) & !1;
    let mut best: Option<(&'static Encoding, f64)> = None;
    for (enc, le) in [(UTF_16LE, true), (UTF_16BE, false)] {
        let mut plausible = 0usize;
        let mut units = 0usize;
        let mut has_break = false;
        for pair in bytes[..n].chunks_exact(2) {
            let u = if le { u16::from_le_bytes([pair[0], pair[1]]) } else { u16::from_be_bytes([pair[0], pair[1]]) };
            units += 1;
            let ok = matches!(u, 0x0A | 0x0D | 0x09 | 0x20..=0x7E | 0xA0..=0xFF | 0x2000..=0x206F | 0x3000..=0x303F | 0x4E00..=0x9FFF | 0xFF00..=0xFFEF | 0x3400..=0x4DBF);
            if ok {
                plausible += 1;
            }
            if matches!(u, 0x0A | 0x0D | 0x20 | 0x3000) {
                has_break = true;
            }
        }
        let share = plausible as f64 / units as f64;
        if has_break && share >= 0.97 && best.map_or(true, |(_, s)| share > s) {
            best = Some((enc, share));
        }
    }
    best.map(|(e, _)| e)
}

/// Decodes without replacement, counting each malformed sequence and writing U+FFFD for it.
fn decode_counting(encoding: &'static Encoding, bytes: &[u8]) -> (String, usize) {
    if encoding == GB18030 {
        return gb18030::decode_counting(bytes);
    }
    let mut out = String::new();
    let malformed = decode_counting_into(encoding, bytes, &mut out);
    (out, malformed)
}

/// [`decode_counting`] with encoding_rs alone, appending to `out`; returns the malformed count.
///
/// Linear in `bytes` however many malformed sequences it holds. encoding_rs's
/// `decode_to_string*` writes a byte into every 4 KiB of the string's spare capacity on every
/// call (so that the pages are mapped), and the decoder returns at each malformed sequence:
/// called once per sequence, that was a pass over the rest of the page's buffer each time (8 MB
/// with a bad byte every 22 bytes took 100 s). Here room is zero-filled once, at the end of
/// `out`, and the decoder writes into it through `decode_to_str_without_replacement`, which keeps
/// it valid UTF-8 (NUL bytes are characters); what is left of it is cut off at the end.
fn decode_counting_into(encoding: &'static Encoding, bytes: &[u8], out: &mut String) -> usize {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let need =
        |d: &encoding_rs::Decoder, n: usize| d.max_utf8_buffer_length_without_replacement(n).unwrap_or(n * 3 + 16);
    let mut malformed = 0usize;
    let mut src = bytes;
    // `out[..w]` is the decoded text; `out[w..]` is room, all NUL bytes.
    let mut w = out.len();
    add_room(out, w, need(&decoder, src.len()));
    loop {
        let (result, read, written) = decoder.decode_to_str_without_replacement(src, &mut out[w..], true);
        src = &src[read..];
        w += written;
        match result {
            encoding_rs::DecoderResult::InputEmpty => break,
            // (Not expected: the room is the decoder's own bound. Should it happen, more room
            // than there is now, so that the loop always moves on.)
            encoding_rs::DecoderResult::OutputFull => add_room(out, out.len(), need(&decoder, src.len()) + 16),
            encoding_rs::DecoderResult::Malformed(_, _) => {
                malformed += 1;
                // (The decoder's bound does not count the replacement characters.)
                add_room(out, w, 3 + need(&decoder, src.len()));
                // Three NULs become U+FFFD: same length, so nothing after them moves. (The room is
                // NULs: encoding_rs clears what a decoder writes past what it reports. Should a
                // character be left there anyway, it is cleared first.)
                let mut end = w + 3;
                while !out.is_char_boundary(end) {
                    end += 1;
                }
                if out.as_bytes()[w..end].iter().any(|&b| b != 0) {
                    out.replace_range(w..end, &NULS[..end - w]);
                }
                out.replace_range(w..w + 3, "\u{FFFD}");
                w += 3;
            }
        }
    }
    out.truncate(w);
    malformed
}

/// NUL bytes to copy from: `push_str` of a slice is a copy, pushing `'\0'` a char at a time is a
/// loop.
const NULS: &str = match std::str::from_utf8(&[0; 1024]) {
    Ok(s) => s,
    Err(_) => panic!("NUL bytes are UTF-8"),
};

/// Makes `out` at least `w + n` bytes long by appending NUL bytes (the room past `w` is NULs
/// already, and only what is missing is written).
fn add_room(out: &mut String, w: usize, n: usize) {
    let mut missing = (w + n).saturating_sub(out.len());
    out.reserve(missing);
    while missing > 0 {
        let k = missing.min(NULS.len());
        out.push_str(&NULS[..k]);
        missing -= k;
    }
}

/// CRLF and lone CR to LF, in place. Returns how many line ends changed.
fn normalize_line_ends(text: &mut String) -> usize {
    let Some(first) = memchr::memchr(b'\r', text.as_bytes()) else {
        return 0;
    };
    // The text moves down over the bytes dropped (the LF of each CRLF) in the same buffer: no
    // second page-sized allocation, and nothing before the first CR moves. `w` (where the text
    // goes) never passes `r` (where it is read).
    let mut bytes = std::mem::take(text).into_bytes();
    let n = bytes.len();
    let (mut r, mut w, mut changed) = (first, first, 0);
    while let Some(k) = memchr::memchr(b'\r', &bytes[r..]) {
        let cr = r + k;
        bytes.copy_within(r..cr, w);
        w += cr - r;
        bytes[w] = b'\n';
        w += 1;
        changed += 1;
        r = cr + 1;
        if bytes.get(r) == Some(&b'\n') {
            r += 1;
        }
    }
    bytes.copy_within(r..n, w);
    bytes.truncate(w + n - r);
    // SAFETY: the bytes were a `String`. CR and LF are ASCII and never part of a multi-byte
    // sequence: replacing a CR by an LF and dropping an LF keep every other sequence whole and
    // in order.
    *text = unsafe { String::from_utf8_unchecked(bytes) };
    changed
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decoding with encoding_rs's own string API, a call per malformed sequence: what
    /// [`decode_counting_into`] must give. (Each call touches all of the string's spare capacity,
    /// so it takes time quadratic in the malformed sequences: for tests only.)
    pub(crate) fn reference_decode_counting(encoding: &'static Encoding, bytes: &[u8]) -> (String, usize) {
        let mut decoder = encoding.new_decoder_without_bom_handling();
        let mut out = String::with_capacity(decoder.max_utf8_buffer_length_without_replacement(bytes.len()).unwrap());
        let (mut src, mut malformed) = (bytes, 0);
        loop {
            let (result, read) = decoder.decode_to_string_without_replacement(src, &mut out, true);
            src = &src[read..];
            match result {
                encoding_rs::DecoderResult::InputEmpty => return (out, malformed),
                encoding_rs::DecoderResult::OutputFull => out.reserve(src.len() * 3 + 16),
                encoding_rs::DecoderResult::Malformed(_, _) => {
                    malformed += 1;
                    out.push('\u{FFFD}');
                }
            }
        }
    }

    #[test]
    fn counting_decode_agrees_with_encoding_rs_after_any_text() {
        // Byte strings thick with malformed sequences, in encodings with their own decoders,
        // appended to text already in the string (as the GB18030 fast path appends).
        let alphabet: Vec<u8> = (0x80..=0xFF).step_by(3).chain([b'a', b'\n', 0x30, 0x40, 0x5C]).collect();
        for enc in
            [UTF_8, GB18030, BIG5, encoding_rs::SHIFT_JIS, encoding_rs::EUC_KR, UTF_16LE, encoding_rs::WINDOWS_1252]
        {
            for bytes in crate::text::random_byte_strings(&alphabet, 2_000, 40) {
                let mut out = String::from("前文");
                let malformed = decode_counting_into(enc, &bytes, &mut out);
                let (text, expected) = reference_decode_counting(enc, &bytes);
                assert_eq!(
                    (out.strip_prefix("前文"), malformed),
                    (Some(text.as_str()), expected),
                    "{} {bytes:02X?}",
                    enc.name()
                );
            }
        }
    }

    #[test]
    fn controls_are_counted_the_same_both_ways() {
        // Controls, C1 controls (C2 80..9F) and other C2 characters (`·` is C2 B7), carriage
        // returns and the allowed controls, at every offset of the 32-byte blocks.
        let pieces = ["\r", "\n", "\t", "\u{c}", "\u{1}", "\u{7f}", "\u{85}", "\u{9f}", "·", "\u{a0}", "中", "a", "ab"];
        for s in crate::text::random_texts(&pieces, 4000, 60) {
            let want = (
                s.chars().filter(|&c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}')).count(),
                s.contains('\r'),
            );
            assert_eq!(scan_controls(&s), want, "{s:?}");
            assert_eq!((count_controls(&s), s.contains('\r')), want, "{s:?}");
        }
    }

    const PAGE: &str = "全区老干部情况通报会召开\n\n本报讯 (记者 朱梦琪) 昨天上午,全区老干部情况通报会召开。";

    fn encode(enc: &'static Encoding, s: &str) -> Vec<u8> {
        if enc == UTF_16LE {
            return s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        }
        if enc == UTF_16BE {
            return s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        }
        let (b, _, bad) = enc.encode(s);
        assert!(!bad);
        b.into_owned()
    }

    /// The sequence check delimits sequences and errors exactly as `str::from_utf8` does.
    type Step = Result<usize, Option<usize>>;

    /// The steps a walk over `bytes` takes past its non-ASCII sequences, each told by `step`.
    fn walk(bytes: &[u8], step: fn(&[u8]) -> Step) -> Vec<Step> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] < 0x80 {
                i += 1;
                continue;
            }
            let s = step(&bytes[i..]);
            out.push(s);
            match s {
                Ok(n) | Err(Some(n)) => i += n,
                Err(None) => break,
            }
        }
        out
    }

    /// One step as `str::from_utf8` tells it.
    fn std_step(rest: &[u8]) -> Step {
        match std::str::from_utf8(rest) {
            Ok(s) => Ok(s.chars().next().unwrap().len_utf8()),
            Err(e) if e.valid_up_to() > 0 => {
                Ok(std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap().chars().next().unwrap().len_utf8())
            }
            Err(e) => Err(e.error_len()),
        }
    }

    fn utf8_steps_by_std(bytes: &[u8]) -> Vec<Step> {
        walk(bytes, std_step)
    }

    fn utf8_steps(bytes: &[u8]) -> Vec<Step> {
        walk(bytes, utf8_sequence)
    }

    #[test]
    fn utf8_sequence_agrees_with_std_on_every_short_sequence() {
        // Every one- and two-byte input, and every four-byte input of bytes from the edges of
        // the ranges where the checks change their answers.
        let edges = [
            0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
            0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
        ];
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(utf8_steps(&[a]), utf8_steps_by_std(&[a]), "{a:02X}");
                assert_eq!(utf8_steps(&[a, b]), utf8_steps_by_std(&[a, b]), "{a:02X} {b:02X}");
            }
        }
        for a in edges {
            for b in edges {
                for c in edges {
                    for d in edges {
                        let x = [a, b, c, d];
                        assert_eq!(utf8_steps(&x), utf8_steps_by_std(&x), "{x:02X?}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn utf8_sequence_agrees_with_std(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            proptest::prop_assert_eq!(utf8_steps(&bytes), utf8_steps_by_std(&bytes));
        }
    }

    #[test]
    fn mostly_utf8_tolerates_a_few_bad_bytes() {
        let text = "新华社北京1月15日电 国务院总理今天在人民大会堂会见了来访的客人。".repeat(10);
        let mut bytes = text.as_bytes().to_vec();
        assert!(!mostly_utf8(&bytes), "valid UTF-8 is not 'mostly'");
        bytes[7] = 0xFF;
        assert!(mostly_utf8(&bytes));
        bytes.truncate(bytes.len() - 1);
        assert!(mostly_utf8(&bytes));
        let gb = encoding_rs::GB18030.encode(&text).0.into_owned();
        assert!(!mostly_utf8(&gb));
    }

    #[test]
    fn detects_every_supported_encoding() {
        for (enc, bom) in [
            (UTF_8, &b""[..]),
            (UTF_8, &b"\xEF\xBB\xBF"[..]),
            (GB18030, &b""[..]),
            (UTF_16LE, &b"\xFF\xFE"[..]),
            (UTF_16BE, &b"\xFE\xFF"[..]),
            (UTF_16LE, &b""[..]),
        ] {
            let mut bytes = bom.to_vec();
            bytes.extend(encode(enc, PAGE));
            let d = decode(&bytes, None).unwrap();
            assert_eq!(d.text, PAGE, "{}", enc.name());
            assert_eq!(d.malformed, 0);
            assert_eq!(d.bom, !bom.is_empty());
        }
    }

    #[test]
    fn detects_big5_traditional() {
        let s = "吳邦國會見荷蘭客人\n\n據新華社北京1月5日電 (記者張榮典)國務院副總理吳邦國今天下午在中南海會見了荷蘭社會事務與就業大臣。";
        let d = decode(&encode(BIG5, s), None).unwrap();
        assert_eq!(d.text, s);
        assert_eq!(d.encoding, "Big5");
    }

    #[test]
    fn short_gbk_text_is_still_chinese() {
        for s in ["中华", "改革创新", "第11版", "水利水务项目协调会召开"] {
            let d = decode(&encode(GB18030, s), None).unwrap();
            assert_eq!(d.text, s, "{s}");
        }
    }

    #[test]
    fn line_ends_become_lf() {
        let d = decode(b"a\r\nb\rc\n", None).unwrap();
        assert_eq!(d.text, "a\nb\nc\n");
        assert_eq!(d.line_ends_normalized, 2);
    }

    #[test]
    fn line_ends_in_place_match_a_plain_replace() {
        // Every string of up to six pieces from this alphabet: CRs at the start, at the end, in
        // runs, before and after LFs and multi-byte characters.
        let alphabet = ["\r", "\n", "\r\n", "中", "a", "\r\r"];
        let mut cases = vec![String::new()];
        // (`len_k`: the strings of exactly k pieces, each made once.)
        let mut len_k = cases.clone();
        for _ in 0..6 {
            len_k = len_k.iter().flat_map(|c| alphabet.iter().map(move |p| format!("{c}{p}"))).collect();
            cases.extend(len_k.iter().cloned());
        }
        for s in cases {
            let want = s.replace("\r\n", "\n").replace('\r', "\n");
            let mut got = s.clone();
            let changed = normalize_line_ends(&mut got);
            assert_eq!(got, want, "{s:?}");
            assert_eq!(changed, s.matches('\r').count(), "{s:?}");
        }
    }

    #[test]
    fn malformed_bytes_are_counted_not_hidden() {
        let mut bytes = encode(GB18030, "中华人民共和国成立七十五周年了");
        bytes.push(0x81); // a truncated two-byte sequence at the end
        let d = decode(&bytes, Some(GB18030)).unwrap();
        assert_eq!(d.malformed, 1);
        assert!(d.text.ends_with('\u{FFFD}'));
    }

    #[test]
    fn a_damaged_byte_does_not_change_the_encoding() {
        let mut bytes = encode(GB18030, "标题在此\n\n本报讯 今天天气很好，大家都出门了。");
        bytes.extend_from_slice(b"\x81\x30\xff");
        bytes.extend(encode(GB18030, "后面还有字。"));
        let d = decode(&bytes, None).unwrap();
        assert_eq!(d.encoding, "gb18030");
        assert!(d.malformed >= 1);
        assert!(d.text.starts_with("标题在此") && d.text.ends_with("后面还有字。"), "{}", d.text);
    }

    #[test]
    fn binary_is_an_error() {
        assert!(matches!(decode(b"\x89PNG\r\n\x1a\n....", None), Err(DecodeError::Binary(_))));
        assert!(matches!(decode(b"\x7fELF\x02\x01", None), Err(DecodeError::Binary(_))));
        assert!(matches!(decode(b"abc\0def", None), Err(DecodeError::Binary(_))));
        let noise: Vec<u8> = (0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 1).collect();
        assert!(decode(&noise, None).is_err());
    }

    #[test]
    fn utf8_lines_on_a_legacy_page_are_decoded_as_utf8() {
        const TRADITIONAL: &str = "香港特別行政區政務司司長陳方安生於1月5日抵京訪問。";
        for (enc, legacy) in [(GB18030, PAGE), (BIG5, TRADITIONAL)] {
            // A UTF-8 line first, between legacy lines, and last without a line end.
            for (before, after) in [("", legacy), (legacy, legacy), (legacy, "")] {
                let utf8_line = "全区老干部情况通报会召开·二";
                let (before, after) = (
                    if before.is_empty() { String::new() } else { format!("{before}\n") },
                    if after.is_empty() { String::new() } else { format!("\n{after}") },
                );
                let bytes = [encode(enc, &before), utf8_line.as_bytes().to_vec(), encode(enc, &after)].concat();
                let d = decode(&bytes, None).unwrap();
                let want = format!("{before}{utf8_line}{after}");
                assert_eq!((d.encoding, d.text.as_str(), d.malformed), (enc.name(), want.as_str(), 0));
                assert_eq!(d.utf8_lines.len(), 1);
                assert_eq!(&d.text[d.utf8_lines[0].clone()], utf8_line);
            }
        }
    }

    #[test]
    fn utf8_damaged_in_some_lines_is_utf8_not_a_mix() {
        // Every fifth byte of one line replaced by 0xFF: too damaged for `mostly_utf8`, and its
        // clean lines are UTF-8 Chinese text. The damaged line reads better as UTF-8 with
        // malformed sequences than as anything else: the page is UTF-8.
        let clean = "全区老干部情况通报会召开\n\n本报讯 昨天上午，全区老干部情况通报会召开。\n";
        let mut damaged = "市委常委、区委书记出席会议并通报2023年以来全区主要工作完成情况。".as_bytes().to_vec();
        for i in (0..damaged.len()).step_by(5) {
            damaged[i] = 0xFF;
        }
        let clean = clean.repeat(3);
        let bytes = [clean.as_bytes(), &damaged, b"\n", clean.as_bytes()].concat();
        assert!(!mostly_utf8(&bytes) && !utf8_lines(&bytes).is_empty());
        let d = decode(&bytes, None).unwrap();
        assert_eq!(d.encoding, "UTF-8");
        assert!(d.utf8_lines.is_empty());
        assert!(d.malformed > 0 && d.text.starts_with(&clean) && d.text.ends_with(&clean));
    }

    #[test]
    fn a_forced_encoding_is_not_decoded_line_by_line() {
        let bytes = [encode(GB18030, PAGE), "\n全区老干部情况通报会召开".as_bytes().to_vec()].concat();
        assert_eq!(decode(&bytes, None).unwrap().utf8_lines.len(), 1);
        let d = decode(&bytes, Some(GB18030)).unwrap();
        assert!(d.utf8_lines.is_empty());
        assert!(!d.text.ends_with("召开"));
    }

    #[test]
    fn short_or_few_utf8_lines_do_not_make_a_page_mixed() {
        // One Chinese character a line, or three on the page: decoded in the page's encoding.
        for utf8 in ["中\n国\n人\n民\n", "中国人\n"] {
            let bytes = [encode(GB18030, &format!("{PAGE}\n")), utf8.as_bytes().to_vec()].concat();
            let d = decode(&bytes, None).unwrap();
            assert!(d.utf8_lines.is_empty(), "{utf8:?}");
        }
        // Lines of UTF-8 that is not Chinese text (Latin-1 letters, Greek) do not count.
        assert!(utf8_chinese_chars("ÀÁÂ中国".as_bytes()).is_none());
        assert!(utf8_chinese_chars("ͼ中国".as_bytes()).is_none());
        assert_eq!(utf8_chinese_chars("阿德·梅尔克特, 1998。".as_bytes()), Some(7));
        assert_eq!(utf8_chinese_chars(b"ASCII only"), None);
    }

    /// The first-byte shortcut of `utf8_chinese_chars` rejects exactly what the walk would.
    #[test]
    fn utf8_chinese_chars_is_the_plain_walk() {
        fn walk(line: &[u8]) -> Option<usize> {
            let (mut i, mut chinese) = (0, 0);
            while i < line.len() {
                if line[i] < 0x80 {
                    i += 1;
                    continue;
                }
                let len = utf8_sequence(&line[i..]).ok()?;
                match len {
                    2 if line[i] == 0xC2 && line[i + 1] == 0xB7 => {}
                    3 if is_chinese_char(&line[i..i + 3]) => chinese += 1,
                    _ => return None,
                }
                i += len;
            }
            (chinese > 0).then_some(chinese)
        }
        // Every first byte beyond ASCII, with continuations that make Chinese characters, other
        // characters and no character; after ASCII or not.
        let tails: [&[u8]; 5] = [b"", "\u{4E2D}".as_bytes(), b"\xB7", b"\xBC\x81", b"\x80\x80\x80"];
        for first in 0x80..=0xFFu8 {
            for second in [0x80u8, 0x90, 0xA1, 0xB7, 0xBC, 0xBF, 0x41] {
                for tail in tails {
                    for prefix in [&b""[..], b"  12"] {
                        let line = [prefix, &[first, second], tail, "\u{56FD}".as_bytes()].concat();
                        assert_eq!(utf8_chinese_chars(&line), walk(&line), "{line:02X?}");
                    }
                }
            }
        }
    }

    #[test]
    fn legacy_text_is_not_taken_for_utf8_lines() {
        // Pages of short lines of GB2312 characters and marks (where an accident is likeliest:
        // see MIXED_MIN_CHARS), and every shipped page in GB18030 and, where it can be, Big5.
        let mut chars: Vec<char> = Vec::new();
        for lead in 0xB0..=0xF7u8 {
            for trail in 0xA1..=0xFEu8 {
                let pair = [lead, trail];
                let (t, _, bad) = GB18030.decode(&pair);
                if !bad {
                    chars.extend(t.chars());
                }
            }
        }
        let mut pieces: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        pieces.extend(["，", "。", "\n", "\n", "\n", "1"].map(String::from));
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let mut pages = crate::text::random_texts(&pieces, 3_000, 400);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        for dir in [root.join("seed"), root.join("artifacts")] {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                if e.path().extension().is_some_and(|x| x == "txt") {
                    pages.push(decode(&std::fs::read(e.path()).unwrap(), None).unwrap().text);
                }
            }
        }
        let mut legacy = 0;
        for page in &pages {
            for enc in [GB18030, BIG5] {
                let (bytes, _, bad) = enc.encode(page);
                if bad || std::str::from_utf8(&bytes).is_ok() {
                    continue;
                }
                legacy += 1;
                assert!(utf8_lines(&bytes).is_empty(), "{} {page:?}", enc.name());
            }
        }
        assert!(legacy > 3_000, "{legacy}");
    }

    #[test]
    fn forced_encoding_wins() {
        let bytes = encode(GB18030, PAGE);
        let d = decode(&bytes, Some(encoding_for_label("gbk").unwrap())).unwrap();
        assert_eq!(d.text, PAGE);
        assert!(encoding_for_label("klingon").is_err());
    }

    #[test]
    fn owned_and_borrowed_decoding_agree() {
        let samples: Vec<Vec<u8>> = vec![
            PAGE.as_bytes().to_vec(),
            [b"\xEF\xBB\xBF".as_slice(), PAGE.as_bytes()].concat(),
            encode(GB18030, PAGE),
            [b"\xFF\xFE".as_slice(), &encode(UTF_16LE, PAGE)].concat(),
            b"a\r\nb\rc".to_vec(),
            b"GIF89a".to_vec(),
            b"abc\0def".to_vec(),
        ];
        for bytes in samples {
            let a = decode(&bytes, None).map(|d| (d.text, d.encoding, d.bom, d.malformed));
            let b = decode_owned(bytes.clone(), None).map(|d| (d.text, d.encoding, d.bom, d.malformed));
            assert_eq!(a, b, "{bytes:?}");
        }
    }

    #[test]
    fn empty_input_is_an_empty_page() {
        let d = decode(b"", None).unwrap();
        assert_eq!(d.text, "");
    }
}
