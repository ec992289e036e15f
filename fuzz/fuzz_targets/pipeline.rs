//! The whole pipeline on arbitrary bytes, with `--explain`: an error or records, never a panic;
//! records conserve the page (audit::conservation) and their spans are char ranges of it
//! (audit::spans).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use newsmend::{audit, Options, Pipeline, RuleSet};

fn pipeline() -> &'static Pipeline {
    static P: OnceLock<Pipeline> = OnceLock::new();
    P.get_or_init(|| Pipeline::new(&RuleSet::builtin(), Options { explain: true, encoding: None }).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Ok(out) = pipeline().process_bytes("fuzz", data) else { return };
    if let Err(e) = audit::conservation(&out.text, &out.records) {
        panic!("conservation: {e}");
    }
    if let Err(e) = audit::spans(&out.text, &out.records) {
        panic!("spans: {e}");
    }
    let _ = newsmend::emit::to_jsonl(&out.records);
});
