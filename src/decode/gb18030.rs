//! GB18030 decoding with a fast path for what GB18030 pages are made of: ASCII and two-byte
//! characters.
//!
//! encoding_rs decodes GB18030 at about 480 MB/s here (`corpus/decode-floor/gb18030`), a sixth
//! of a whole run on a GB18030 page; the decode stage through this module, detection included,
//! runs at about 820 MB/s (`corpus/decode/gb18030`).
//! Nearly every character of a Chinese page is either ASCII or a two-byte sequence, and the
//! two-byte sequences are a plain lookup: 126 lead bytes × 190 trail bytes. This module reads
//! those through a table and leaves everything else (four-byte sequences, the single byte 0x80,
//! malformed input) to encoding_rs.
//!
//! # Contract
//!
//! [`decode_counting`] returns exactly what encoding_rs's GB18030 decoder returns for the same
//! bytes (malformed sequences as U+FFFD, counted), because:
//!
//! * the table is *built by encoding_rs*: each of the 23,940 two-byte sequences decoded on its
//!   own, once per process. A sequence whose decode is not one character is left out, so that it
//!   goes to encoding_rs in context;
//! * the fast path only ever stops at a character boundary, where the decoder has no state, and
//!   hands encoding_rs a stretch that ends just after a line feed. 0x0A is never part of a
//!   multi-byte sequence (second bytes are 0x30-0x39, 0x40-0x7E or 0x80-0xFE, third and fourth
//!   bytes 0x81-0xFE and 0x30-0x39); met inside one, it ends it as malformed and is itself
//!   decoded as a line feed. So the decoder has no state after it either, and decoding the page
//!   stretch by stretch gives what one decoder over the whole page gives.
//!
//! Tests compare the two on every two-byte sequence and on random byte strings.

use std::sync::OnceLock;

use encoding_rs::GB18030;

/// A table entry for every pair of bytes (a fixed size: indexing it needs no bounds check). An
/// entry is a `u32` rather than four bytes so that the loop writes it with one store: written as
/// `[u8; 4]`, each entry became a byte load and store, a 16-bit load and store and a store of
/// the length byte, eight more instructions for two characters.
type Table = [u32; 1 << 16];

/// The length byte of entry `e` (its UTF-8 bytes are the low three bytes, little-endian).
#[inline]
fn entry_len(e: u32) -> u32 {
    e >> 24
}

/// The UTF-8 bytes of every two-byte sequence as encoding_rs decodes it alone (in the low three
/// bytes of the entry, little-endian; the high byte is the length), at `trail << 8 | lead`: the
/// two bytes read as a little-endian `u16`, as the loop reads them. All zero where that is not
/// exactly one BMP character and for every pair of bytes that is not a two-byte sequence.
/// (256 KiB: indexing by the two bytes as they come saves the loop two range checks a
/// character.)
fn table() -> &'static Table {
    static TABLE: OnceLock<Box<Table>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Box<Table> = vec![0u32; 1 << 16].into_boxed_slice().try_into().expect("1 << 16 entries");
        for lead in 0x81..=0xFEu8 {
            for trail in (0x40..=0x7Eu8).chain(0x80..=0xFE) {
                let pair = [lead, trail];
                let decoded = GB18030.decode_without_bom_handling_and_without_replacement(&pair);
                let mut chars = decoded.as_deref().unwrap_or("").chars();
                if let (Some(c), None) = (chars.next(), chars.next()) {
                    if c.len_utf8() <= 3 {
                        let mut e = [0u8; 4];
                        e[3] = c.encode_utf8(&mut e[..3]).len() as u8;
                        t[pair_index(lead, trail)] = u32::from_le_bytes(e);
                    }
                }
            }
        }
        t
    })
}

/// Where the entry of the pair `lead`, `trail` is in the table.
#[inline]
fn pair_index(lead: u8, trail: u8) -> usize {
    usize::from(u16::from_le_bytes([lead, trail]))
}

/// Decodes GB18030 `bytes`, writing U+FFFD for each malformed sequence; returns the text and the
/// number of malformed sequences. Same result as encoding_rs (see the module docs).
pub fn decode_counting(bytes: &[u8]) -> (String, usize) {
    let table = table();
    // Two bytes become at most three, one ASCII byte one: 1.5 × is room for every clean page.
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 2 + 16);
    let mut malformed = 0;
    let mut i = 0;
    let n = bytes.len();
    while i < n {
        i = fast(table, bytes, i, &mut out);
        if i == n {
            break;
        }
        // Something the table does not cover: encoding_rs decodes up to the next line end.
        let end = memchr::memchr(b'\n', &bytes[i..]).map_or(n, |k| i + k + 1);
        malformed += super::decode_counting_into(GB18030, &bytes[i..end], &mut out);
        i = end;
    }
    (out, malformed)
}

/// Decodes ASCII and two-byte sequences from `i` on; returns where it stopped (the end, or the
/// first byte it cannot decode alone, always at a character boundary).
#[inline]
fn fast(table: &Table, bytes: &[u8], mut i: usize, out: &mut String) -> usize {
    let n = bytes.len();
    // Every byte the loop reads becomes at most 1.5 bytes, and it writes up to 4 bytes at a time
    // (a table entry whole, length byte included, and eight ASCII bytes at once only when eight
    // bytes are left to read): this is room for all of it.
    out.reserve((n - i) + (n - i) / 2 + 8);
    let len = out.len();
    let spare = unsafe { out.as_mut_vec() }.spare_capacity_mut();
    let room = spare.len();
    let dst = spare.as_mut_ptr().cast::<u8>();
    let src = bytes.as_ptr();
    let mut o = 0;
    // SAFETY (for the writes and `set_len` below): reads are at `i` and `i + 1` with `i + 1 < n`,
    // four bytes at `i` with `i + 4 <= n`, or eight bytes at `i` with `i + 8 <= n`. Writes
    // start at `o` and end by `o + 8`, or by `o + 13` when eight bytes are left to read; `o`
    // grows at most 1.5 times as fast as `i`, so the room left is at least
    // `1.5 × (n - i) + 8` (the reserve above): `o + 8 <= room`, and `o + 20 <= room` when
    // `i + 8 <= n`. The first `o` bytes written are whole UTF-8 sequences: ASCII bytes, and
    // table entries, which are `char::encode_utf8` output cut at their length (`o` advances by
    // that length; a byte written past it is overwritten or left outside the string).
    unsafe {
        while i + 1 < n {
            debug_assert!(o + 8 <= room);
            // Four characters a turn when all four are two-byte sequences with three-byte
            // entries (runs of Chinese text): eight bytes read as one word, the lead bytes tested
            // by one mask, the lengths by one `and` of the entries (3 & 3 & 3 & 3 is the only
            // way to 3). Four at a time rather than two: −10% of this loop's instructions on the
            // generated GB18030 corpus, +5% MB/s in a standalone A/B of the loop. Eight at a time
            // and a loop of its own each cost 4% more instructions; packing the entries into
            // fewer, wider stores was slower.
            if i + 8 <= n {
                let w = u64::from_le(std::ptr::read_unaligned(src.add(i).cast::<u64>()));
                if w & 0x80 == 0 {
                    // ASCII (numbers, spaces, line ends, indentation): the bytes before the first
                    // that is not ASCII, all eight when none is, copied in one turn. (They came a
                    // byte a turn unless eight were ASCII, behind the failed tests for Chinese
                    // text: 0.84M turns of the 4,000-page GB18030 corpus.)
                    let high = w & 0x8080_8080_8080_8080;
                    let k = if high == 0 { 8 } else { (high.trailing_zeros() / 8) as usize };
                    std::ptr::write_unaligned(dst.add(o).cast::<u64>(), w.to_le());
                    o += k;
                    i += k;
                    continue;
                }
                if w & 0x0080_0080_0080_0080 == 0x0080_0080_0080_0080 {
                    let e0 = table[(w & 0xFFFF) as usize];
                    let e1 = table[((w >> 16) & 0xFFFF) as usize];
                    let e2 = table[((w >> 32) & 0xFFFF) as usize];
                    let e3 = table[(w >> 48) as usize];
                    if entry_len(e0 & e1 & e2 & e3) == 3 {
                        debug_assert!(o + 13 <= room);
                        std::ptr::write_unaligned(dst.add(o).cast::<u32>(), e0.to_le());
                        std::ptr::write_unaligned(dst.add(o + 3).cast::<u32>(), e1.to_le());
                        std::ptr::write_unaligned(dst.add(o + 6).cast::<u32>(), e2.to_le());
                        std::ptr::write_unaligned(dst.add(o + 9).cast::<u32>(), e3.to_le());
                        o += 12;
                        i += 8;
                        continue;
                    }
                }
            }
            // Two at a time (the same tests), before a run's last three characters.
            if i + 4 <= n {
                let w = u32::from_le(std::ptr::read_unaligned(src.add(i).cast::<u32>()));
                if w & 0x0080_0080 == 0x0080_0080 {
                    let e = table[(w & 0xFFFF) as usize];
                    let e2 = table[(w >> 16) as usize];
                    if entry_len(e & e2) == 3 {
                        std::ptr::write_unaligned(dst.add(o).cast::<u32>(), e.to_le());
                        std::ptr::write_unaligned(dst.add(o + 3).cast::<u32>(), e2.to_le());
                        o += 6;
                        i += 4;
                        continue;
                    }
                }
            }
            let b = *src.add(i);
            if b < 0x80 {
                // (Only among the last seven bytes: before them ASCII went above.)
                *dst.add(o) = b;
                o += 1;
                i += 1;
                continue;
            }
            let e = table[pair_index(b, *src.add(i + 1))];
            std::ptr::write_unaligned(dst.add(o).cast::<u32>(), e.to_le());
            // Nearly every entry is three bytes long. Branching on that (predicted) instead of
            // adding the length read from the table keeps the next write's position from
            // waiting for the table load (forced GB18030 decode: 611 -> 650 MB/s).
            match entry_len(e) {
                3 => o += 3,
                0 => break,
                len => o += len as usize,
            }
            i += 2;
        }
        // The last byte, when it is ASCII (anything else there is a sequence cut short).
        if i + 1 == n && bytes[i] < 0x80 {
            *dst.add(o) = bytes[i];
            o += 1;
            i += 1;
        }
        debug_assert!(o <= room);
        out.as_mut_vec().set_len(len + o);
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Is `(lead, trail)` shaped like a two-byte sequence?
    fn is_pair(lead: u8, trail: u8) -> bool {
        matches!(lead, 0x81..=0xFE) && matches!(trail, 0x40..=0x7E | 0x80..=0xFE)
    }

    fn reference(bytes: &[u8]) -> (String, usize) {
        crate::decode::tests::reference_decode_counting(GB18030, bytes)
    }

    #[test]
    fn every_two_byte_sequence_decodes_as_encoding_rs_does() {
        let mut covered = 0;
        for lead in 0x80..=0xFFu8 {
            for trail in 0..=0xFFu8 {
                // In context too: after ASCII, before a line end and a four-byte sequence.
                for bytes in [vec![lead, trail], vec![b'a', lead, trail, b'\n', 0x81, 0x30, 0x81, 0x30, b'z']] {
                    assert_eq!(decode_counting(&bytes), reference(&bytes), "{bytes:02X?}");
                }
                let entry = table()[pair_index(lead, trail)];
                assert!(entry_len(entry) == 0 || is_pair(lead, trail));
                covered += (entry_len(entry) != 0) as usize;
            }
        }
        // Nearly all two-byte sequences take the fast path.
        assert!(covered > 23_000, "{covered}");
    }

    #[test]
    fn random_bytes_decode_as_encoding_rs_does() {
        // Bytes drawn mostly from the ranges GB18030 uses, so that sequences are often valid,
        // often cut short and often malformed; 20,000 strings from a fixed generator.
        let alphabet: Vec<u8> =
            (0x81..=0xFE).chain(0x30..=0x39).chain(0x40..=0x42).chain([0x80, 0xFF, b'\n', b' ']).collect();
        for bytes in crate::text::random_byte_strings(&alphabet, 20_000, 24) {
            assert_eq!(decode_counting(&bytes), reference(&bytes), "{bytes:02X?}");
        }
    }

    #[test]
    fn runs_of_every_length_decode_as_encoding_rs_does() {
        // Runs of two-byte characters of every length up to 20, after and before 0-3 ASCII
        // bytes and a four-byte sequence, and after ASCII runs around the eight bytes of a word:
        // every way a run ends against the four-at-a-time and two-at-a-time turns, an ASCII run
        // against the word it is copied by, and either against the end of the input.
        let han: Vec<char> = "中华人民共和国新闻报道记者北京上海广州天津重庆".chars().collect();
        for len in 0..=20 {
            let run: String = han.iter().cycle().take(len).collect();
            for before in
                ["", "a", "ab", "abc", "\n   ", "1998年", "abcdefg", "abcdefgh", "abcdefghi", "12345678901234567"]
            {
                for after in ["", "1", "12", "123", "𠀀"] {
                    let text = format!("{before}{run}{after}");
                    let (bytes, _, _) = GB18030.encode(&text);
                    assert_eq!(decode_counting(&bytes), (text.clone(), 0), "{text}");
                }
            }
        }
    }

    #[test]
    fn a_page_decodes_as_encoding_rs_does() {
        let text = "本报讯（记者 董建勤）“水利富民”工程，截至11月底投资1897.01万元。\n𠀀𪚥 € ·—\n";
        let (bytes, _, _) = GB18030.encode(text);
        assert_eq!(decode_counting(&bytes), (text.to_string(), 0));
        assert_eq!(decode_counting(&bytes), reference(&bytes));
    }
}
