//! Stage 5: items to [`Record`]s, and records to JSON Lines.
//!
//! Records are serialized straight from the structs (serde derive), with no intermediate JSON
//! value tree; one object per line, fields in the order of the SPEC.

use std::io::{self, Write};

use crate::record::{Flag, Record};
use crate::rules::CompiledRules;
use crate::segment::Item;

/// Turns the items of one page into records. `source` names the page in `id` and `source`.
pub fn records(rules: &CompiledRules, source: &str, page: &str, items: Vec<Item>, explain: bool) -> Vec<Record> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, it)| {
            let index = i + 1;
            let mut flags = it.flags;
            if let Some(at) = page.get(it.span.clone()).and_then(|s| s.find('\u{FFFD}')) {
                let n = page[it.span.clone()].matches('\u{FFFD}').count();
                let start = it.span.start + at;
                flags.push(Flag {
                    code: "decode.malformed".into(),
                    span: Some([start, start + '\u{FFFD}'.len_utf8()]),
                    note: format!("{n} malformed byte sequence(s) in this item were decoded as U+FFFD"),
                });
            }
            Record {
                id: format!("{source}#{index}"),
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
                edits: explain.then(|| it.edits.iter().map(|e| e.to_edit(rules)).collect()),
            }
        })
        .collect()
}

/// Writes records as JSON Lines.
pub fn write_jsonl<W: Write>(records: &[Record], mut out: W) -> io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut out, r).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Records as one JSON Lines buffer.
pub fn to_jsonl(records: &[Record]) -> Vec<u8> {
    let mut buf =
        Vec::with_capacity(records.iter().map(|r| r.paragraphs.iter().map(String::len).sum::<usize>() + 256).sum());
    write_jsonl(records, &mut buf).expect("writing to a Vec cannot fail");
    buf
}
