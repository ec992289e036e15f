//! `newsmend run` end to end, on generated temporary trees: outputs, failures and exit codes,
//! determinism across `--jobs`, `--resume`, atomicity under faults (disk full, unwritable output,
//! a file deleted after listing, Ctrl-C), `--stdout`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use encoding_rs::{Encoding, GB18030, UTF_16BE, UTF_16LE};
use serde_json::Value;

fn newsmend() -> Command {
    Command::new(env!("CARGO_BIN_EXE_newsmend"))
}

/// `newsmend run ARGS…`
fn run(args: &[&str]) -> Output {
    newsmend().arg("run").args(args).output().expect("newsmend runs")
}

fn run_in(dir: &Path, args: &[&str], faults: Option<&str>) -> Output {
    let mut cmd = newsmend();
    cmd.current_dir(dir).arg("run").args(args);
    if let Some(f) = faults {
        cmd.env("NEWSMEND_TEST_FAULTS", f);
    }
    cmd.output().expect("newsmend runs")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A small page in the style of the seed, varied by `i`.
fn page(i: usize) -> String {
    let names = ["张三", "李四", "王五", "赵六", "朱梦琪"];
    format!(
        "全区第{i}次工作会议召开\n\n本报讯 (记者 {}) 昨天上午,全区召开第{i}次会议。会议强调,要坚持稳中求进。\n\n会议要求,各部门要抓好落实,确保２０２４年各项任务完成。\n",
        names[i % names.len()]
    )
}

/// A page of about 10 KB, for runs that must last long enough to be interrupted.
fn long_page(i: usize) -> String {
    let mut s = format!("重点项目建设推进会召开\n\n本报讯 (记者 张三) 昨天上午,第{i}次推进会召开。");
    for k in 0..60 {
        s.push_str(&format!("会议指出,第{k}个项目进展顺利,要建立\n\n统一推进机制。"));
    }
    s.push('\n');
    s
}

fn encode(enc: &'static Encoding, s: &str) -> Vec<u8> {
    if enc == UTF_16LE {
        let mut b = vec![0xFF, 0xFE];
        b.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        return b;
    }
    if enc == UTF_16BE {
        let mut b = vec![0xFE, 0xFF];
        b.extend(s.encode_utf16().flat_map(u16::to_be_bytes));
        return b;
    }
    let (bytes, _, bad) = enc.encode(s);
    assert!(!bad);
    bytes.into_owned()
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// A tree of `n` good pages in nested directories.
fn good_tree(root: &Path, n: usize) {
    for i in 0..n {
        write(&root.join(format!("2024-0{}/p{:03}.txt", i % 3 + 1, i)), page(i));
    }
}

/// Every file under `dir`, relative path → bytes (hidden files included).
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Temp files left anywhere under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(".newsmend-") && p.to_string_lossy().ends_with(".tmp"))
        .collect()
}

fn summary(out: &Path) -> Value {
    serde_json::from_slice(&fs::read(out.join("summary.json")).expect("summary.json")).expect("summary is JSON")
}

fn without_timings(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("timings");
    v
}

/// Every line of every .jsonl output parses as a record.
fn assert_outputs_whole(out: &Path) {
    for (rel, bytes) in files(out) {
        if rel.extension().is_some_and(|e| e == "jsonl") {
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.is_empty() || text.ends_with('\n'), "{rel:?} is cut short");
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{rel:?}: {e}: {line}"));
                assert!(v["kind"].is_string());
            }
        }
    }
}

#[test]
fn mixed_tree_good_pages_are_written_bad_ones_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    write(&input.join("a/b/utf8.txt"), page(1));
    write(&input.join("a/gb.txt"), encode(GB18030, &page(1)));
    write(&input.join("a/u16le.txt"), encode(UTF_16LE, &page(1)));
    write(&input.join("u16be.txt"), encode(UTF_16BE, &page(1)));
    write(&input.join("crlf.txt"), page(1).replace('\n', "\r\n"));
    write(&input.join("empty.txt"), b"");
    write(&input.join("blank.txt"), b" \n\n\t\n");
    write(&input.join("image.txt"), b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR");
    write(&input.join("nul.txt"), b"abc\x00def\x00");
    write(&input.join("notes.md"), "not a page");
    write(&input.join(".hidden/p.txt"), page(2));
    write(&input.join(".dot.txt"), page(2));
    let o = run(&[p(&input), "-o", p(&out), "-j", "3"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("image.txt: not a text file: starts like a PNG image"), "{err}");
    assert!(err.contains("nul.txt: not a text file"), "{err}");

    let got = files(&out);
    let outputs: Vec<_> = got.keys().filter(|k| k.extension().is_some_and(|e| e == "jsonl")).cloned().collect();
    let want: Vec<PathBuf> =
        ["a/b/utf8.jsonl", "a/gb.jsonl", "a/u16le.jsonl", "blank.jsonl", "crlf.jsonl", "empty.jsonl", "u16be.jsonl"]
            .iter()
            .map(PathBuf::from)
            .collect();
    assert_eq!(outputs, want);
    assert!(got[Path::new("empty.jsonl")].is_empty(), "an empty page gives an empty output");
    assert!(got[Path::new("blank.jsonl")].is_empty());

    // The same page in every encoding gives the same records (but for the source name).
    let records = |rel: &str| -> Vec<Value> {
        String::from_utf8(got[Path::new(rel)].clone())
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("id");
                v.as_object_mut().unwrap().remove("source");
                v
            })
            .collect()
    };
    let reference = records("a/b/utf8.jsonl");
    assert!(!reference.is_empty());
    assert_eq!(reference[0]["reporters"][0], "李四");
    for other in ["a/gb.jsonl", "a/u16le.jsonl", "u16be.jsonl", "crlf.jsonl"] {
        assert_eq!(records(other), reference, "{other}");
    }
    let first: Value =
        serde_json::from_str(String::from_utf8_lossy(&got[Path::new("a/gb.jsonl")]).lines().next().unwrap()).unwrap();
    assert_eq!(first["source"], "a/gb.txt");
    assert_eq!(first["id"], "a/gb.txt#1");

    let s = summary(&out);
    assert_eq!(s["files"]["listed"], 9);
    assert_eq!(s["files"]["processed"], 7);
    assert_eq!(s["files"]["failed"], 2);
    assert_eq!(s["files"]["empty"], 2);
    assert_eq!(s["complete"], false);
    assert_eq!(s["walk"]["hidden"], 2);
    assert_eq!(s["walk"]["not_selected"], 1);
    // chardetng names the GB family GBK when GBK suffices; either way it is decoded as GB18030.
    let gb = s["encodings"]["gb18030"].as_u64().or(s["encodings"]["GBK"].as_u64());
    assert_eq!(gb, Some(1), "{}", s["encodings"]);
    assert_eq!(s["encodings"]["UTF-16LE"], 1);
    assert_eq!(s["encodings"]["UTF-16BE"], 1);
    assert_eq!(s["encodings"]["UTF-8"], 4);
    assert!(s["edits"]["punct.halfwidth"].as_u64().unwrap() > 0, "{}", s["edits"]);
    assert!(s["records"]["by_kind"]["article"].as_u64().unwrap() >= 5);
    let failures: Vec<(String, String)> = s["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(failures.len(), 2);
    assert!(failures[0].0.ends_with("image.txt") && failures[0].1.contains("PNG"));
    assert!(failures[1].0.ends_with("nul.txt") && failures[1].1.contains("NUL"));
    assert!(s["timings"]["cpu_s"]["repair"].is_number());
    assert!(temp_files(&out).is_empty());
}

#[test]
fn unreadable_file_is_reported_and_skipped() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    good_tree(&input, 3);
    let locked = input.join("locked.txt");
    write(&locked, page(9));
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(&locked).is_ok() {
        eprintln!("SKIPPED assertion: running as root (or with CAP_DAC_OVERRIDE), chmod 000 does not block reads");
        return;
    }
    let o = run(&[p(&input), "-o", p(&out)]);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("locked.txt: cannot read: permission denied"), "{}", stderr(&o));
    assert_eq!(summary(&out)["files"]["processed"], 3);
}

/// A directory the walk cannot list (here: its path is longer than the system allows, which
/// blocks root too) is a failure like an unreadable page: a line on stderr that names it, exit 1,
/// an entry in the summary, and the one-line summary counts it; the other pages are processed.
#[test]
fn unlistable_directory_is_reported_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    good_tree(&input, 2);
    // Two chains of ten 250-byte names, each short enough to make; then one moved under the
    // other, so that its deeper directories' paths are over 4,096 bytes.
    let chain = |root: &Path, c: char| {
        (0..10).fold(root.to_path_buf(), |p, i| p.join(format!("{i}{}", c.to_string().repeat(249))))
    };
    let outer = chain(&input, 'd');
    let inner = chain(&tmp.path().join("c"), 'c');
    fs::create_dir_all(&outer).unwrap();
    fs::create_dir_all(&inner).unwrap();
    write(&inner.join("deep.txt"), page(7));
    let first = inner.ancestors().find(|a| a.parent() == Some(&tmp.path().join("c"))).unwrap();
    fs::rename(first, outer.join(first.file_name().unwrap())).unwrap();
    let o = run(&[p(&input), "-o", p(&out)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.lines().any(|l| l.contains("cannot list directory")), "{err}");
    assert!(err.contains("1 unreadable in the walk"), "{err}");
    let s = summary(&out);
    assert_eq!(s["files"]["processed"], 2);
    assert_eq!(s["failures"].as_array().unwrap().len(), 1);
}

#[test]
fn all_good_exits_zero_and_quiet_is_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    good_tree(&input, 5);
    let o = run(&[p(&input), "-o", p(&out), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "nothing on stdout without --stdout");
    let s = summary(&out);
    assert_eq!(s["complete"], true);
    assert_eq!(s["interrupted"], false);
    assert_eq!(s["files"]["processed"], 5);
}

#[test]
fn jobs_1_and_4_give_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    for i in 0..60 {
        write(&input.join(format!("d{}/e{}/p{i}.txt", i % 4, i % 3)), page(i));
    }
    write(&input.join("bad.txt"), b"\x7fELF\x02\x01\x01");
    write(&input.join("gb.txt"), encode(GB18030, &page(3)));
    let (one, four) = (tmp.path().join("one"), tmp.path().join("four"));
    fs::create_dir_all(&one).unwrap();
    fs::create_dir_all(&four).unwrap();
    // Same arguments, different working directories, so that the summaries can be compared whole.
    let a = run_in(&one, &[p(&input), "-o", "out", "-j", "1"], None);
    let b = run_in(&four, &[p(&input), "-o", "out", "-j", "4"], None);
    assert_eq!(a.status.code(), Some(1));
    assert_eq!(b.status.code(), Some(1));
    let (fa, fb) = (files(&one.join("out")), files(&four.join("out")));
    let strip = |m: &BTreeMap<PathBuf, Vec<u8>>| -> BTreeMap<PathBuf, Vec<u8>> {
        m.iter()
            .filter(|(k, _)| k.extension().is_some_and(|e| e == "jsonl"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(strip(&fa).len(), 61);
    assert!(strip(&fa) == strip(&fb), "outputs differ between --jobs 1 and --jobs 4");
    assert_eq!(without_timings(summary(&one.join("out"))), without_timings(summary(&four.join("out"))));
    // And the summary file itself, once timings are gone, is byte-identical in its serialization.
    let ser = |v: Value| serde_json::to_string_pretty(&without_timings(v)).unwrap();
    assert_eq!(ser(summary(&one.join("out"))), ser(summary(&four.join("out"))));

    let s1 = run(&[p(&input), "--stdout", "-j", "1", "-q"]);
    let s4 = run(&[p(&input), "--stdout", "-j", "4", "-q"]);
    assert!(!s1.stdout.is_empty());
    assert!(s1.stdout == s4.stdout, "--stdout differs between --jobs 1 and --jobs 4");
}

#[test]
fn stdout_is_records_only_in_input_order() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    good_tree(&input, 40);
    let o = run(&[p(&input), "--stdout", "-j", "4"]);
    assert_eq!(o.status.code(), Some(0));
    let sources: Vec<String> = String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("only records on stdout")["source"].as_str().unwrap().to_string()
        })
        .collect();
    let mut sorted = sources.clone();
    sorted.sort();
    assert_eq!(sources, sorted, "input order is sorted path order");
    assert!(stderr(&o).contains("40 pages"), "{}", stderr(&o));
}

#[test]
fn stdout_closed_early_stops_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    for i in 0..400 {
        write(&input.join(format!("p{i:04}.txt")), long_page(i));
    }
    let mut child = newsmend()
        .args(["run", p(&input), "--stdout", "-j", "2", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    use std::io::Read;
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let status = wait_timeout(&mut child, Duration::from_secs(60)).expect("newsmend stops when stdout closes");
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("stdout was closed"), "{err}");
}

fn wait_timeout(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    None
}

#[test]
fn resume_skips_done_pages_and_redoes_changed_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    good_tree(&input, 10);
    assert_eq!(run(&[p(&input), "-o", p(&out), "-q"]).status.code(), Some(0));
    let first = files(&out);

    // One input changes (its mtime moves past its output's), one is added.
    let changed = input.join("2024-01/p000.txt");
    write(&changed, page(100));
    write(&input.join("2024-09/new.txt"), page(7));

    let o = run(&[p(&input), "-o", p(&out), "--resume", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["files"]["listed"], 11);
    assert_eq!(s["files"]["skipped_resume"], 9);
    assert_eq!(s["files"]["processed"], 2);
    assert_eq!(s["settings"]["resume"], true);
    assert_eq!(s["complete"], true);
    let second = files(&out);
    assert_ne!(first[Path::new("2024-01/p000.jsonl")], second[Path::new("2024-01/p000.jsonl")]);
    assert_eq!(first[Path::new("2024-02/p001.jsonl")], second[Path::new("2024-02/p001.jsonl")]);
    assert!(second.contains_key(Path::new("2024-09/new.jsonl")));

    // Other options change the records: nothing is reused.
    let o = run(&[p(&input), "-o", p(&out), "--resume", "--explain", "-q"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(summary(&out)["files"]["skipped_resume"], 0);
    assert_eq!(summary(&out)["files"]["processed"], 11);
    let explained = String::from_utf8(fs::read(out.join("2024-02/p001.jsonl")).unwrap()).unwrap();
    assert!(explained.contains("\"edits\""));
    // … and a resume with those options now skips everything.
    let o = run(&[p(&input), "-o", p(&out), "--resume", "--explain", "-q"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(summary(&out)["files"]["skipped_resume"], 11);
    // Going back to the old options redoes everything, even though old outputs were newer than
    // their inputs once.
    let o = run(&[p(&input), "-o", p(&out), "--resume", "-q"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(summary(&out)["files"]["skipped_resume"], 0);
    assert!(!String::from_utf8(fs::read(out.join("2024-02/p001.jsonl")).unwrap()).unwrap().contains("\"edits\""));
}

#[test]
fn usage_and_setup_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    good_tree(&input, 2);
    let file = tmp.path().join("a-file");
    write(&file, "x");
    let bad_rules = tmp.path().join("rules");
    write(&bad_rules.join("broken.toml"), "[[rule\nid = ");

    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![p(&input).into(), "-o".into(), p(&file).into()], "not a directory"),
        (vec![p(&input).into(), "-o".into(), format!("{}/sub", p(&file))], "cannot create output directory"),
        (
            vec![
                p(&input).into(),
                "-o".into(),
                p(&tmp.path().join("o1")).into(),
                "--rules".into(),
                p(&bad_rules).into(),
            ],
            "bad rules",
        ),
        (vec![p(&tmp.path().join("missing")).into(), "-o".into(), p(&tmp.path().join("o2")).into()], "missing"),
        (
            vec![
                p(&input).into(),
                "-o".into(),
                p(&tmp.path().join("o3")).into(),
                "--encoding".into(),
                "klingon".into(),
            ],
            "klingon",
        ),
        (vec![p(&input).into(), "-o".into(), p(&tmp.path().join("o4")).into(), "--jobs".into(), "0".into()], "workers"),
        (vec![p(&input).into()], "required"),
        (vec![p(&input).into(), "--stdout".into(), "--resume".into()], "cannot be used with"),
        (
            vec![p(&input).into(), "-o".into(), p(&tmp.path().join("o5")).into(), "--glob".into(), "[oops".into()],
            "unclosed",
        ),
        (
            vec![
                p(&input).into(),
                "-o".into(),
                p(&tmp.path().join("o6")).into(),
                "--max-page-bytes".into(),
                "12Q".into(),
            ],
            "suffix",
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["run".to_string()];
        full.extend(args.clone());
        let o = newsmend().args(&full).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: want {want:?} in {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
    assert_eq!(fs::read(&file).unwrap(), b"x", "a file given as OUT is left alone");
    for o in ["o1", "o2", "o3", "o4", "o5", "o6"] {
        assert!(!tmp.path().join(o).exists(), "{o} was created by a run that could not start");
    }
}

#[test]
fn pages_over_the_size_limit_fail_without_being_read() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    write(&input.join("small.txt"), page(1));
    write(&input.join("big.txt"), long_page(1));
    let o = run(&[p(&input), "-o", p(&out), "--max-page-bytes", "2K"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("big.txt: page is"), "{}", stderr(&o));
    assert!(stderr(&o).contains("over --max-page-bytes 2048"));
    assert!(out.join("small.jsonl").exists());
    assert!(!out.join("big.jsonl").exists());
}

/// Pages are read into a 64 KiB buffer first, and asked their size only when they fill it: pages
/// just under, at and over that size, and several times it, are read whole (the last record ends
/// at the page's last character), and one over `--max-page-bytes` above 64 KiB is refused.
#[test]
fn pages_around_the_first_read_are_read_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let sizes = [65_535usize, 65_536, 65_537, 200_003];
    for &size in &sizes {
        let mut text = String::from("重点项目建设推进会召开\n\n本报讯 昨天上午，推进会召开。\n\n");
        let mut k = 0;
        while text.len() + 64 < size {
            text.push_str(&format!("会议指出，第{k}个项目进展顺利。\n\n"));
            k += 1;
        }
        // Fill to the exact size with digits (one byte each) before the last full stop.
        text.push_str("编号");
        let digits = size - text.len() - "。\n".len();
        text.push_str(&"7".repeat(digits));
        text.push_str("。\n");
        assert_eq!(text.len(), size);
        write(&input.join(format!("p{size}.txt")), &text);
    }
    let o = run(&[p(&input), "--stdout"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut last_end: BTreeMap<String, u64> = BTreeMap::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let end = r["span"][1].as_u64().unwrap();
        let e = last_end.entry(r["source"].as_str().unwrap().to_string()).or_default();
        *e = (*e).max(end);
    }
    for size in sizes {
        // The page ends in `。` and a line feed: its last character ends one byte before the end.
        assert_eq!(last_end.get(&format!("p{size}.txt")), Some(&(size as u64 - 1)), "{last_end:?}");
    }
    // Over the limit, past the first read: refused, the others processed.
    let o = run(&[p(&input), "--stdout", "--max-page-bytes", "100K"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("p200003.txt: page is 200003 bytes, over --max-page-bytes 102400"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("p65537.txt"), "{}", stderr(&o));
}

/// Runs into `out` with faults, then checks what every fault test needs: exit 1, no temp file,
/// every output whole, and a plain `--resume` completing the run to the same bytes as a clean run.
fn fault_then_resume(faults: &str, n: usize, expect_written: usize) -> (Output, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    good_tree(&input, n);
    let clean = tmp.path().join("clean");
    let out = tmp.path().join("out");
    assert_eq!(run(&[p(&input), "-o", p(&clean), "-q"]).status.code(), Some(0));
    let o = run_in(tmp.path(), &[p(&input), "-o", p(&out), "-j", "1", "-q"], Some(faults));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("NEWSMEND_TEST_FAULTS is set"));
    assert!(temp_files(&out).is_empty(), "temp files left: {:?}", temp_files(&out));
    assert_outputs_whole(&out);
    let written: Vec<_> = files(&out).into_keys().filter(|k| k.extension().is_some_and(|e| e == "jsonl")).collect();
    assert_eq!(written.len(), expect_written, "{written:?}");
    for k in &written {
        assert_eq!(fs::read(out.join(k)).unwrap(), fs::read(clean.join(k)).unwrap(), "{k:?}");
    }
    let r = run(&[p(&input), "-o", p(&out), "--resume", "-q"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let s = summary(&out);
    assert_eq!(s["files"]["skipped_resume"], expect_written);
    assert_eq!(s["complete"], true);
    let strip = |m: BTreeMap<PathBuf, Vec<u8>>| -> BTreeMap<PathBuf, Vec<u8>> {
        m.into_iter().filter(|(k, _)| k.extension().is_some_and(|e| e == "jsonl")).collect()
    };
    assert!(strip(files(&out)) == strip(files(&clean)), "resumed outputs differ from a clean run");
    (o, s)
}

#[test]
fn disk_full_mid_run_loses_nothing_and_resume_completes() {
    let (o, _) = fault_then_resume("enospc-after=4", 12, 4);
    let err = stderr(&o);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("stopped early"), "{err}");
    // The summary could not be written either (the disk is full): it went to stderr.
    assert!(err.contains("cannot write the summary"), "{err}");
    assert!(err.contains("\"aborted\": \"cannot write"), "{err}");
}

#[test]
fn output_dir_unwritable_mid_run_is_reported_per_page_and_resume_completes() {
    let (o, _) = fault_then_resume("eacces-after=5", 9, 5);
    let err = stderr(&o);
    let lines = err.lines().filter(|l| l.starts_with("newsmend: ") && l.contains("Permission denied"));
    assert_eq!(lines.count(), 4 + 1, "4 pages and the summary: {err}");
}

#[test]
fn disk_full_on_a_real_tiny_filesystem() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=96k", "tmpfs", p(&mnt)])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN); the injected-fault tests cover this path");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let input = tmp.path().join("in");
    for i in 0..40 {
        write(&input.join(format!("p{i:02}.txt")), long_page(i));
    }
    let out = mnt.join("out");
    let o = run(&[p(&input), "-o", p(&out), "-j", "2", "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("No space left on device"), "{}", stderr(&o));
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
    assert_outputs_whole(&out);
    let written = files(&out).into_keys().filter(|k| k.extension().is_some_and(|e| e == "jsonl")).count();
    assert!(written > 0 && written < 40, "{written} outputs");
}

#[test]
fn file_deleted_between_listing_and_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    good_tree(&input, 6);
    let doomed = input.join("2024-02/p004.txt");
    assert!(doomed.exists());
    let child = newsmend()
        .args(["run", p(&input), "-o", p(&out), "-q"])
        .env("NEWSMEND_TEST_FAULTS", "pause-after-listing-ms=1500")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    fs::remove_file(&doomed).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("p004.txt: cannot read: the file is gone"), "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["files"]["processed"], 5);
    assert_eq!(s["files"]["failed"], 1);
    let r = run(&[p(&input), "-o", p(&out), "--resume", "-q"]);
    assert_eq!(r.status.code(), Some(0));
    assert_eq!(summary(&out)["files"]["skipped_resume"], 5);
}

#[test]
fn ctrl_c_stops_cleanly_and_resume_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    let n = long_tree(&input);
    let mut child =
        newsmend().args(["run", p(&input), "-o", p(&out), "-j", "1", "-q"]).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_outputs(&out);
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let status = wait_timeout(&mut child, Duration::from_secs(60)).expect("stops after Ctrl-C");
    if status.code() == Some(0) {
        eprintln!("SKIPPED: the run finished before the interrupt arrived");
        return;
    }
    assert_eq!(status.code(), Some(130));
    let s = summary(&out);
    assert_eq!(s["interrupted"], true);
    assert_eq!(s["complete"], false);
    let done = s["files"]["processed"].as_u64().unwrap();
    assert!(s["files"]["not_started"].as_u64().unwrap() > 0);
    assert_eq!(done + s["files"]["not_started"].as_u64().unwrap(), n);
    assert!(temp_files(&out).is_empty());
    assert_outputs_whole(&out);
    let written = files(&out).into_keys().filter(|k| k.extension().is_some_and(|e| e == "jsonl")).count() as u64;
    assert_eq!(written, done, "every processed page has its output, no other");
    let r = run(&[p(&input), "-o", p(&out), "--resume", "-q"]);
    assert_eq!(r.status.code(), Some(0));
    let s = summary(&out);
    assert_eq!(s["files"]["skipped_resume"].as_u64().unwrap(), done);
    assert_eq!(s["complete"], true);
}

/// SIGKILL cannot be handled: what a killed run leaves must already be clean. On Linux outputs
/// are written as unnamed files and named when whole, so there is no temp file to leave; the
/// resume then finishes the run.
#[cfg(target_os = "linux")]
#[test]
fn a_killed_run_leaves_whole_outputs_and_no_temp_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    let n = long_tree(&input);
    let mut child = newsmend().args(["run", p(&input), "-o", p(&out), "-j", "2", "-q"]).spawn().unwrap();
    wait_for_outputs(&out);
    child.kill().unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(60)).expect("a killed process ends");
    // (A run that wrote its summary had finished its pages before the signal arrived.)
    if status.success() || out.join("summary.json").exists() {
        eprintln!("SKIPPED: the run finished before it was killed");
        return;
    }
    assert!(temp_files(&out).is_empty(), "temp files left: {:?}", temp_files(&out));
    assert_outputs_whole(&out);
    let r = run(&[p(&input), "-o", p(&out), "--resume", "-q"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let s = summary(&out);
    let skipped = s["files"]["skipped_resume"].as_u64().unwrap();
    assert!(skipped >= 20, "the outputs written before the kill are kept: {skipped}");
    assert_eq!(s["files"]["processed"].as_u64().unwrap() + skipped, n);
}

/// 1,500 pages of about 10 KB in ten directories, for runs that must last long enough to be
/// interrupted; returns how many.
fn long_tree(input: &Path) -> u64 {
    let n = 1500;
    for i in 0..n {
        write(&input.join(format!("d{}/p{i:04}.txt", i % 10)), long_page(i));
    }
    n as u64
}

/// Waits (at most a minute) until a run into `out` has written 20 outputs.
fn wait_for_outputs(out: &Path) {
    let start = Instant::now();
    while files_under(out) < 20 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn files_under(dir: &Path) -> usize {
    fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0)).sum())
        .unwrap_or(0)
}

#[test]
fn stats_go_to_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    good_tree(&input, 3);
    let o = run(&[p(&input), "--stdout", "--stats", "-q"]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    for stage in ["read", "decode", "repair", "segment", "emit", "write"] {
        assert!(err.contains(stage), "{err}");
    }
    assert!(String::from_utf8(o.stdout).unwrap().lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
}

#[test]
fn summary_file_with_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    good_tree(&input, 3);
    let sum = tmp.path().join("sum.json");
    let o = run(&[p(&input), "--stdout", "--summary", p(&sum), "-q"]);
    assert_eq!(o.status.code(), Some(0));
    let s: Value = serde_json::from_slice(&fs::read(&sum).unwrap()).unwrap();
    assert_eq!(s["output"], "-");
    assert_eq!(s["files"]["processed"], 3);
}

#[test]
fn no_pages_is_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write(&input.join("readme.md"), "x");
    let out = tmp.path().join("out");
    let o = run(&[p(&input), "-o", p(&out)]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("no pages found"));
    assert_eq!(summary(&out)["files"]["listed"], 0);
}
