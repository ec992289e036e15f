//! The decoder on arbitrary bytes: an error or text, never a panic; the text obeys the decoder's
//! contract (no CR, no leading BOM, U+FFFD only where bytes were malformed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use newsmend::decode;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a forced encoding some of the time.
    let forced = match data.first() {
        Some(0) => Some(encoding_rs::GB18030),
        Some(1) => Some(encoding_rs::BIG5),
        Some(2) => Some(encoding_rs::UTF_16LE),
        Some(3) => Some(encoding_rs::UTF_16BE),
        _ => None,
    };
    if let Ok(d) = decode::decode(data, forced) {
        assert!(!d.text.contains('\r'), "CR left in decoded text");
        assert!(!d.text.starts_with('\u{FEFF}') || d.bom, "leading BOM left in decoded text");
        if d.malformed == 0
            && !data.windows(3).any(|w| w == "\u{FFFD}".as_bytes())
            && forced.is_none()
            && d.encoding == "UTF-8"
        {
            assert!(!d.text.contains('\u{FFFD}'), "U+FFFD without malformed input");
        }
        // The GB18030 fast path gives what encoding_rs gives (line ends aside).
        if forced == Some(encoding_rs::GB18030) {
            let (reference, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(data);
            let reference = reference.replace("\r\n", "\n").replace('\r', "\n");
            assert_eq!(d.text, reference, "GB18030 decode differs from encoding_rs");
            assert_eq!(d.malformed > 0, had_errors);
        }
    }
});
