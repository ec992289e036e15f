//! Helpers shared by the integration tests.

use newsmend::Record;

/// Is `h` one text block of `records` (headline, paragraph, caption), or two consecutive ones?
/// (How the idempotence checks recognise a paragraph read as a headline on the clean page.)
pub fn made_of_paragraphs(records: &[Record], h: &str) -> bool {
    // Headlines, paragraphs and caption texts in page order.
    let ps: Vec<&str> = records
        .iter()
        .flat_map(|r| {
            r.headline
                .as_deref()
                .into_iter()
                .chain(r.paragraphs.iter().map(String::as_str))
                .chain(r.captions.iter().map(|c| c.text.as_str()))
        })
        .collect();
    ps.contains(&h)
        || ps.windows(2).any(|w| h.len() == w[0].len() + w[1].len() && h.starts_with(w[0]) && h.ends_with(w[1]))
}
