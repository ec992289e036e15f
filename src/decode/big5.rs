//! Does a byte string decode as Big5 without a malformed sequence? Asked of every page that is
//! neither UTF-8 nor UTF-16 (see `detect`), nearly always of GB18030 pages, whose common
//! characters lie in Big5's byte ranges too: the answer comes only at the first character Big5
//! does not map, a few hundred bytes in. encoding_rs spent about 30 instructions a byte getting
//! there; a bitmap of the two-byte sequences that map answers with one lookup per character.
//!
//! # Contract
//!
//! [`decodes_cleanly`] answers exactly as encoding_rs's Big5 decoder does, because:
//!
//! * the bitmap is *built by encoding_rs*: each pair of a lead byte (0x81-0xFE) and a byte after
//!   it is decoded on its own, once per process, and marked when it decodes without error;
//! * the decoder has no other state: a byte below 0x80 outside a pair is ASCII, 0x80 and 0xFF are
//!   malformed, a lead byte takes the next byte as its trail whatever it is (a pair that does not
//!   map is malformed), and a lead byte at the end is malformed.
//!
//! Tests compare the two on every pair and on random byte strings.

use std::sync::OnceLock;

use encoding_rs::BIG5;

/// Bit `lead << 8 | trail` is set when the two bytes decode alone without error.
fn bitmap() -> &'static [u64; 1024] {
    static MAP: OnceLock<Box<[u64; 1024]>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = Box::new([0u64; 1024]);
        let mut decoder_out = String::with_capacity(16);
        for lead in 0x81..=0xFEu8 {
            for trail in 0..=0xFFu8 {
                decoder_out.clear();
                let mut decoder = BIG5.new_decoder_without_bom_handling();
                let (result, _) = decoder.decode_to_string_without_replacement(&[lead, trail], &mut decoder_out, true);
                if result == encoding_rs::DecoderResult::InputEmpty {
                    let i = (lead as usize) << 8 | trail as usize;
                    map[i / 64] |= 1 << (i % 64);
                }
            }
        }
        map
    })
}

/// Does `bytes` decode as Big5 without a single malformed sequence?
pub fn decodes_cleanly(bytes: &[u8]) -> bool {
    let map = bitmap();
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        if b == 0x80 || b == 0xFF || i + 1 == n {
            return false;
        }
        let pair = (b as usize) << 8 | bytes[i + 1] as usize;
        if map[pair / 64] >> (pair % 64) & 1 == 0 {
            return false;
        }
        i += 2;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(bytes: &[u8]) -> bool {
        let mut decoder = BIG5.new_decoder_without_bom_handling();
        let mut out = String::with_capacity(bytes.len() * 3 + 16);
        let (result, _) = decoder.decode_to_string_without_replacement(bytes, &mut out, true);
        result == encoding_rs::DecoderResult::InputEmpty
    }

    #[test]
    fn every_pair_answers_as_encoding_rs_does() {
        for lead in 0..=0xFFu8 {
            for trail in 0..=0xFFu8 {
                // Alone, after ASCII, and before more text.
                for bytes in [vec![lead, trail], vec![b'a', lead, trail], vec![lead, trail, b'z', 0xA4, 0x40]] {
                    assert_eq!(decodes_cleanly(&bytes), reference(&bytes), "{bytes:02X?}");
                }
            }
        }
    }

    #[test]
    fn random_bytes_answer_as_encoding_rs_does() {
        // Bytes drawn mostly from the ranges Big5 and GB18030 use, so that strings are often
        // clean, often cut short and often malformed; 20,000 strings from a fixed generator.
        let alphabet: Vec<u8> =
            (0xA1..=0xC6).chain(0x40..=0x45).chain([0x80, 0x81, 0xFE, 0xFF, b'\n', b' ', 0x7E]).collect();
        let mut clean = 0;
        for bytes in crate::text::random_byte_strings(&alphabet, 20_000, 12) {
            let want = reference(&bytes);
            clean += want as usize;
            assert_eq!(decodes_cleanly(&bytes), want, "{bytes:02X?}");
        }
        // Both answers occur.
        assert!(clean > 1_000 && clean < 19_000, "{clean}");
    }

    #[test]
    fn a_page_answers_as_encoding_rs_does() {
        let text = "本報訊（記者 董建勤）「水利富民」工程，截至11月底投資1897.01萬元。\n";
        let (big5, _, _) = BIG5.encode(text);
        assert!(decodes_cleanly(&big5));
        let (gb, _, _) = encoding_rs::GB18030.encode("本报讯（记者 董建勤）“水利富民”工程，截至11月底。\n");
        assert_eq!(decodes_cleanly(&gb), reference(&gb));
    }
}
