//! Rule-file parsing and compilation on arbitrary text: an error or a rule set, never a panic;
//! a rule set that compiles runs on a small page without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use newsmend::{Options, Pipeline, RuleSet};

const PAGE: &str =
    "全区老干部情况通报会召开\n\n本报讯 (记者 朱梦琪) 昨天上午,全区老干部情况通报会召开。图为现场。徐晶玮 摄";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut set = RuleSet::builtin();
    if set.add_file("fuzz.toml", text, true).is_err() {
        return;
    }
    if let Ok(p) = Pipeline::new(&set, Options { explain: true, encoding: None }) {
        let _ = p.process_text("fuzz", PAGE);
        let _ = p.repair_text(text);
    }
});
