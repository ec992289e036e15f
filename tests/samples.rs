//! The shipped sample pages through the whole CLI: each gives exactly its gold records, in
//! every encoding it ships in, and the text it writes is a fixed point of the repairs.

use std::path::{Path, PathBuf};
use std::process::Command;

use newsmend::{GoldFields, Pipeline, Record};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn run_cli(page: &Path) -> Vec<Record> {
    let out = Command::new(env!("CARGO_BIN_EXE_newsmend")).arg("run").arg(page).arg("--stdout").output().expect("runs");
    assert!(out.status.success(), "{}: {}", page.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record per line"))
        .collect()
}

fn gold(path: &Path) -> Vec<GoldFields> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn assert_gold(page: &Path, gold_path: &Path) {
    let want = gold(gold_path);
    let got: Vec<GoldFields> = run_cli(page).iter().map(Record::gold_fields).collect();
    assert_eq!(got.len(), want.len(), "{}: number of records", page.display());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "{}: record {}", page.display(), i + 1);
    }
}

#[test]
fn seed_page_gives_its_gold_records_in_every_encoding() {
    let dir = samples().join("seed");
    let gold = dir.join("000_84ecbbf29989ab47.gold.jsonl");
    for name in ["000_84ecbbf29989ab47.txt", "000_84ecbbf29989ab47.gb18030.txt", "000_84ecbbf29989ab47.utf16le.txt"] {
        assert_gold(&dir.join(name), &gold);
    }
}

#[test]
fn artifact_samples_give_their_gold_records() {
    let dir = samples().join("artifacts");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".txt") {
            continue;
        }
        let base = name.split('.').next().unwrap();
        assert_gold(&path, &dir.join(format!("{base}.gold.jsonl")));
        n += 1;
    }
    assert!(n >= 4, "expected the artifact samples, found {n}");
}

/// What the tool writes needs no more repair: every text field is a fixed point of the text
/// repairs (so a second run over the output changes nothing).
#[test]
fn output_text_is_a_fixed_point() {
    let p = Pipeline::builtin();
    for dir in ["seed", "artifacts"] {
        for entry in std::fs::read_dir(samples().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "txt") {
                for r in run_cli(&path) {
                    let texts = r.paragraphs.iter().chain(r.headline.iter()).chain(r.captions.iter().map(|c| &c.text));
                    for t in texts.filter(|_| r.kind != newsmend::Kind::Furniture) {
                        assert_eq!(&p.repair_text(t), t, "{}", path.display());
                    }
                }
            }
        }
    }
}

/// Clean text passes through unchanged: a page written the way the records say (no artifacts)
/// gives back the same records, and no text rule fires on it.
#[test]
fn clean_page_passes_through_unchanged() {
    let page = "全区老干部情况通报会召开\n\n本报讯（记者 朱梦琪）昨天上午，全区老干部情况通报会召开。市委常委、区委书记出席会议并通报2023年以来全区主要工作完成情况。\n\n全年预计完成地区生产总值2250亿元，增长7.1%；规模以上工业总产值超3900亿元。联东U谷·国经湖塘科创港项目总建筑面积约8.8万平方米。\n";
    let p = Pipeline::new(&newsmend::RuleSet::builtin(), newsmend::Options { explain: true, encoding: None }).unwrap();
    let out = p.process_text("clean.txt", page);
    assert_eq!(out.records.len(), 1);
    let r = &out.records[0];
    assert_eq!(
        r.paragraphs[0],
        "昨天上午，全区老干部情况通报会召开。市委常委、区委书记出席会议并通报2023年以来全区主要工作完成情况。"
    );
    assert_eq!(r.paragraphs[1], "全年预计完成地区生产总值2250亿元，增长7.1%；规模以上工业总产值超3900亿元。联东U谷·国经湖塘科创港项目总建筑面积约8.8万平方米。");
    // The only edit is the byline being taken out (the space between 记者 and the name goes with
    // it): nothing outside the byline was changed.
    let edits = r.edits.as_ref().unwrap();
    let byline = edits.iter().find(|e| e.rule == "byline.paren").expect("byline edit");
    assert_eq!(byline.before, "（记者朱梦琪）");
    for e in edits {
        assert!(e.span[0] >= byline.span[0] && e.span[1] <= byline.span[1], "edit outside the byline: {e:?}");
    }
}
