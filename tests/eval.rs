//! Evaluation library tests on hand-made gold/prediction pairs with answers worked out by hand.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use newsmend::eval::{self, distance::levenshtein_str, EvalError, EvalOptions, Pages, Report};
use serde_json::{json, Value};

const PAGE_A: &str = "1998/pd-a";
const PAGE_B: &str = "1998/pd-b";
const PAGE_EXTRA: &str = "1998/pd-extra";

fn furniture(text: &str) -> Value {
    json!({"kind": "furniture", "section": null, "headline": null, "dateline": null,
           "reporters": [], "paragraphs": [text], "captions": []})
}

fn article(headline: &str, dateline: Option<&str>, reporters: &[&str], paragraphs: &[&str]) -> Value {
    json!({"kind": "article", "section": null, "headline": headline, "dateline": dateline,
           "reporters": reporters, "paragraphs": paragraphs, "captions": []})
}

fn brief(dateline: &str, paragraphs: &[&str]) -> Value {
    json!({"kind": "brief", "section": null, "headline": null, "dateline": dateline,
           "reporters": [], "paragraphs": paragraphs, "captions": []})
}

fn photo(headline: &str, caption: &str, credit: Option<&str>) -> Value {
    json!({"kind": "photo", "section": null, "headline": headline, "dateline": null,
           "reporters": [], "paragraphs": [],
           "captions": [{"text": caption, "credit": credit}]})
}

/// Gold page A (4 items, 93 text chars):
/// furniture "1998年1月1日星期四第2版" (15 chars once the blanks are gone),
/// article "国务院侨办发表新年贺词" (11) + 14 + 15 = 40 chars,
/// article "冰城举办冰雕展" (7) + 14 = 21 chars, photo "新年灯展" (4) + caption 13 = 17 chars.
fn gold_a() -> Vec<Value> {
    vec![
        furniture("1998年1月1日 星期四 第2版"),
        article(
            "国务院侨办发表新年贺词",
            Some("本报讯"),
            &["吴亚明"],
            &["新年将至，侨办主任发表贺词。", "贺词说，即将过去的一年很重要。"],
        ),
        article("冰城举办冰雕展", None, &["张三"], &["哈尔滨市儿童公园举办冰雕展。"]),
        photo("新年灯展", "盖茨堡镇近日举办新年灯展。", Some("刘宇")),
    ]
}

/// Gold page B (2 items, 48 text chars): a brief of 15 + 9 + 4 = 28 chars, an article of
/// 9 + 11 = 20 chars.
fn gold_b() -> Vec<Value> {
    vec![
        brief("新华社北京1月1日电", &["本市昨天召开全市经济工作会议。会议强调稳中求进。（苏宁）"]),
        article("水利项目协调会召开", Some("本报讯"), &["李四", "王五"], &["昨天下午，协调会召开。"]),
    ]
}

/// Predictions: page A misses the 国务院 article and has `展` → `节` in the 冰城 headline;
/// page B has `了` inserted in the brief (after its first 12 chars) and one extra record `广告`;
/// a third page has no gold.
fn pred_a() -> Vec<Value> {
    let mut a = gold_a();
    a.remove(1);
    a[1]["headline"] = json!("冰城举办冰雕节");
    a
}

fn pred_b() -> Vec<Value> {
    let mut b = gold_b();
    b[0]["paragraphs"] = json!(["本市昨天召开全市经济工作会议。会议强调了稳中求进。（苏宁）"]);
    b.push(brief("本报讯", &["广告"]));
    b
}

fn pred_extra() -> Vec<Value> {
    vec![brief("本报讯", &["另一页"])]
}

/// Adds the fields the tool writes besides the gold ones, which evaluation must ignore.
fn as_tool_output(source: &str, items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut record = item.clone();
            let obj = record.as_object_mut().unwrap();
            obj.insert("id".into(), json!(format!("{source}#{}", i + 1)));
            obj.insert("source".into(), json!(source));
            obj.insert("index".into(), json!(i + 1));
            obj.insert("correspondents".into(), json!([]));
            obj.insert("span".into(), json!([0, 10]));
            obj.insert("flags".into(), json!([]));
            record
        })
        .collect()
}

fn write_jsonl(path: &Path, lines: &[Value]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    fs::write(path, text).unwrap();
}

/// Writes gold as a directory tree (`gold/1998/pd-a.jsonl`, …) and the predictions both as a
/// directory tree of tool output (`pred/1998/pd-a.jsonl`, …) and as one JSON Lines file with
/// `source` fields (`pred.jsonl`, sources `1998/pd-a.txt`, …).
fn fixture(dir: &Path) {
    write_jsonl(&dir.join("gold").join(format!("{PAGE_A}.jsonl")), &gold_a());
    write_jsonl(&dir.join("gold").join(format!("{PAGE_B}.jsonl")), &gold_b());
    let mut all = Vec::new();
    for (page, items) in [(PAGE_A, pred_a()), (PAGE_B, pred_b()), (PAGE_EXTRA, pred_extra())] {
        let records = as_tool_output(&format!("{page}.txt"), &items);
        write_jsonl(&dir.join("pred").join(format!("{page}.jsonl")), &records);
        all.extend(records);
    }
    // A blank line in the middle must be skipped.
    all.insert(2, Value::Null);
    let text: String = all.iter().map(|l| if l.is_null() { "\n".to_string() } else { format!("{l}\n") }).collect();
    fs::write(dir.join("pred.jsonl"), text).unwrap();
}

fn load_fixture() -> (tempfile::TempDir, Pages, Pages) {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let gold = eval::load_records(dir.path().join("gold")).unwrap();
    let pred = eval::load_records(dir.path().join("pred")).unwrap();
    (dir, gold, pred)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn keys_line_up_between_gold_and_tool_output() {
    let (_dir, gold, pred) = load_fixture();
    assert_eq!(gold.keys().collect::<Vec<_>>(), [PAGE_A, PAGE_B]);
    assert_eq!(pred.keys().collect::<Vec<_>>(), [PAGE_A, PAGE_B, PAGE_EXTRA]);
    assert_eq!(gold[PAGE_A].len(), 4);
    assert_eq!(pred[PAGE_B].len(), 3);
}

#[test]
fn directory_and_single_file_load_the_same() {
    let (dir, _gold, pred_dir) = load_fixture();
    let pred_file = eval::load_records(dir.path().join("pred.jsonl")).unwrap();
    assert_eq!(pred_dir, pred_file);
    let gold = eval::load_records(dir.path().join("gold")).unwrap();
    assert_eq!(eval::evaluate(&gold, &pred_dir, None), eval::evaluate(&gold, &pred_file, None));
}

#[test]
fn known_answers() {
    let (_dir, gold, pred) = load_fixture();
    let r = eval::evaluate(&gold, &pred, None);

    // Pages: the extra page is listed, not scored; no page is entirely right.
    assert_eq!((r.pages.gold, r.pages.predicted), (2, 3));
    assert_eq!((r.pages.missing, r.pages.extra, r.pages.exact), (0, 1, 0));
    assert_eq!(r.pages.extra_keys, [PAGE_EXTRA]);
    assert_eq!(r.pages.exact_rate, 0.0);

    // Items: exact are A's furniture and photo and B's article.
    assert_eq!((r.items.gold, r.items.predicted, r.items.exact), (6, 6, 3));
    assert!(close(r.items.exact_rate, 0.5));
    assert!(close(r.items.exact_precision, 0.5));
    // Pairs: 3 exact + (冰城 gold, 冰雕节 pred) + (brief, edited brief); the 国务院 article is
    // missed (not paired with the 冰城 prediction, thanks to the similarity pairing) and 广告 is
    // spurious.
    assert_eq!((r.items.aligned_pairs, r.items.missed, r.items.spurious), (5, 1, 1));

    let f = &r.fields;
    assert_eq!(f.pairs, 5);
    for (name, score) in f.iter() {
        let expected = if name == "headline" || name == "paragraphs" { 4 } else { 5 };
        assert_eq!(score.equal, expected, "{name}");
        assert!(close(score.accuracy, expected as f64 / 5.0), "{name}");
    }

    // Boundaries: keys of A's furniture and photo and of both gold items of B are predicted
    // (B's edit comes after the first 12 characters); 冰城举办冰雕节… and 广告 are wrong.
    assert_eq!((r.boundaries.gold, r.boundaries.predicted, r.boundaries.matched), (6, 6, 4));
    assert!(close(r.boundaries.precision, 4.0 / 6.0));
    assert!(close(r.boundaries.recall, 4.0 / 6.0));
    assert!(close(r.boundaries.f1, 4.0 / 6.0));

    assert_eq!((r.captions.gold, r.captions.predicted, r.captions.matched), (1, 1, 1));
    assert_eq!((r.caption_credits.gold, r.caption_credits.predicted, r.caption_credits.matched), (1, 1, 1));
    // Reporters: 吴亚明 went with the missing article.
    assert_eq!((r.reporters.gold, r.reporters.predicted, r.reporters.matched), (4, 3, 3));
    assert!(close(r.reporters.precision, 1.0));
    assert!(close(r.reporters.recall, 0.75));

    // CER: page A loses the 40 characters of the 国务院 article and the prediction has 节, which
    // gold does not contain anywhere, so 40 + 1 = 41 edits; page B has 了 (1) and 广告 (2), 3
    // edits. Gold text is 93 + 48 = 141 characters.
    assert_eq!((r.cer.edits, r.cer.gold_chars), (44, 141));
    assert_eq!(r.cer.predicted_chars, 141 - 40 + 3);
    assert!(close(r.cer.cer, 44.0 / 141.0));
    assert!(r.cer.raw.is_none());

    // Worst pages: A (2 non-exact gold items) before B (1).
    assert_eq!(r.worst_pages.len(), 2);
    let a = &r.worst_pages[0];
    assert_eq!(a.key, PAGE_A);
    assert_eq!((a.gold_items, a.predicted_items, a.exact_items), (4, 3, 2));
    assert_eq!((a.missed_items, a.spurious_items, a.edits, a.gold_chars), (1, 0, 41, 93));
    let d = a.diff.as_ref().unwrap();
    assert_eq!(d.field, "headline");
    assert_eq!((d.gold_item, d.predicted_item), (Some(3), Some(2)));
    assert_eq!(d.gold, "\"冰城举办冰雕展\"");
    assert_eq!(d.predicted, "\"冰城举办冰雕节\"");
    let b = &r.worst_pages[1];
    assert_eq!(b.key, PAGE_B);
    assert!(close(b.cer, 3.0 / 48.0));
    let d = b.diff.as_ref().unwrap();
    assert_eq!(d.field, "paragraphs");
    assert!(d.predicted.contains("强调了"));

    let limited = eval::evaluate_with(&gold, &pred, None, &EvalOptions { worst_pages: 1 });
    assert_eq!(limited.worst_pages.len(), 1);
}

#[test]
fn raw_cer_and_reduction() {
    let (_dir, gold, pred) = load_fixture();
    // Raw text for page B only: half-width punctuation (6 substitutions: 。。（）in the brief,
    // ，。in the article) and line breaks and blanks, which do not count.
    let raw_b =
        "本市昨天召开全市经济工作会议. 会议强调稳中求进.(苏宁)\n\n水利项目协调会召开\n本报讯 昨天下午,协调会召开.\n";
    // "本报讯" is in the raw text but not in gold's text (datelines are not text): 3 more edits.
    let raw = BTreeMap::from([(PAGE_B.to_string(), raw_b.to_string())]);
    let r = eval::evaluate(&gold, &pred, Some(&raw));
    let raw_stats = r.cer.raw.as_ref().unwrap();
    assert_eq!(raw_stats.pages, 1);
    assert_eq!(raw_stats.gold_chars, 48);
    assert_eq!(raw_stats.raw_chars, 48 + 3);
    assert_eq!(raw_stats.raw_edits, 6 + 3);
    assert_eq!(raw_stats.edits, 3);
    assert!(close(raw_stats.raw_cer, 9.0 / 48.0));
    assert!(close(raw_stats.cer, 3.0 / 48.0));
    assert!(close(raw_stats.reduction, 1.0 - 3.0 / 9.0));
    // The overall CER is still over both pages.
    assert!(close(r.cer.cer, 44.0 / 141.0));
}

#[test]
fn identical_records_are_perfect() {
    let (_dir, gold, _pred) = load_fixture();
    let r = eval::evaluate(&gold, &gold, None);
    assert_eq!(r.cer.edits, 0);
    assert_eq!(r.cer.cer, 0.0);
    assert_eq!((r.pages.exact, r.pages.exact_rate), (2, 1.0));
    assert_eq!((r.items.exact, r.items.exact_rate), (6, 1.0));
    for pr in [&r.boundaries, &r.captions, &r.caption_credits, &r.reporters] {
        assert_eq!((pr.precision, pr.recall, pr.f1), (1.0, 1.0, 1.0));
    }
    for (name, score) in r.fields.iter() {
        assert_eq!(score.accuracy, 1.0, "{name}");
    }
    assert!(r.worst_pages.is_empty());
    assert_eq!(levenshtein_str("滆湖水利", "滆湖水利"), 0);
}

#[test]
fn missing_page_counts_as_empty_prediction() {
    let (_dir, gold, mut pred) = load_fixture();
    pred.remove(PAGE_B);
    let r = eval::evaluate(&gold, &pred, None);
    assert_eq!((r.pages.missing, r.pages.missing_keys.clone()), (1, vec![PAGE_B.to_string()]));
    assert_eq!(r.items.predicted, 3);
    assert_eq!(r.cer.edits, 41 + 48);
    assert_eq!(r.reporters.matched, 1);
    let b = r.worst_pages.iter().find(|p| p.key == PAGE_B).unwrap();
    assert_eq!(b.cer, 1.0);
    assert_eq!(b.diff.as_ref().unwrap().field, "page");
}

#[test]
fn captions_and_credits_are_matched_as_multisets() {
    let page = |items: Vec<Value>| -> Pages {
        let items = items.into_iter().map(|v| serde_json::from_value(v).unwrap()).collect();
        BTreeMap::from([("p".to_string(), items)])
    };
    let gold =
        page(vec![photo("甲", "图一", Some("周确")), photo("乙", "图二", Some("刘宇")), photo("丙", "图三", None)]);
    let pred = page(vec![
        photo("甲", "图一", Some("周确")),
        photo("乙", "图二", Some("刘")),
        photo("丙", "图三说明", Some("王")),
    ]);
    let r = eval::evaluate(&gold, &pred, None);
    assert_eq!((r.captions.gold, r.captions.predicted, r.captions.matched), (3, 3, 2));
    // Credits: gold has two credited captions, the prediction three; only 图一/周确 matches.
    let c = &r.caption_credits;
    assert_eq!((c.gold, c.predicted, c.matched), (2, 3, 1));
    assert!(close(c.precision, 1.0 / 3.0) && close(c.recall, 0.5));
    assert!(close(c.f1, 0.4));
}

#[test]
fn report_renders_and_serializes() {
    let (_dir, gold, pred) = load_fixture();
    let raw = BTreeMap::from([(PAGE_B.to_string(), "本市".to_string())]);
    let r = eval::evaluate(&gold, &pred, Some(&raw));
    let table = r.render_table();
    println!("{table}");
    for needle in [
        "items exact (rate)",
        "50.00%",
        "31.2057%", // 44 / 141
        "66.67%",   // boundaries
        "75.00%",   // reporter recall
        "raw character error rate",
        "CER on those pages",
        PAGE_A,
        "gold: \"冰城举办冰雕展\"",
        "extra: 1998/pd-extra",
    ] {
        assert!(table.contains(needle), "missing {needle:?} in\n{table}");
    }
    // Columns line up: every row of the field table has its percentage ending at one column.
    let field_rows: Vec<&str> =
        table.lines().skip_while(|l| !(l.starts_with("field ") && l.ends_with("equal"))).take(8).collect();
    let ends: Vec<usize> =
        field_rows.iter().map(|l| l.find('%').unwrap_or_else(|| l.find("accuracy").unwrap() + 7)).collect();
    assert!(ends.windows(2).all(|w| w[0] == w[1]), "{field_rows:#?}");

    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["items"]["exact"], 3);
    assert_eq!(json["fields"]["headline"]["equal"], 4);
    assert_eq!(json["cer"]["edits"], 44);
    assert!(json["cer"]["raw"]["reduction"].is_number());
    let back: Report = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn bad_json_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub").join("page.jsonl");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(&file, "{\"kind\": \"brief\"}\n{not json\n").unwrap();
    let err = eval::load_records(dir.path()).unwrap_err();
    assert!(matches!(err, EvalError::Json { line: 2, .. }));
    let message = err.to_string();
    assert!(message.contains("page.jsonl:2"), "{message}");
    assert!(eval::load_records(dir.path().join("nope")).is_err());
}
