//! Nothing escapes OUT, nothing is clobbered (issue 6, part 3): hostile names, symlinks leading
//! out of the input root or into OUT, OUT inside or equal to the input tree, two inputs with one
//! output path, several INPUT roots.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_newsmend")).arg("run").args(args).output().expect("newsmend runs")
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn page(i: usize) -> String {
    format!("第{i}次会议召开\n\n本报讯 (记者 张三) 昨天上午,全区召开第{i}次会议。\n")
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Every file and symlink under `dir` (not following symlinks), relative path → contents
/// (a symlink's contents are its target).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd {
            let path = e.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if meta.file_type().is_symlink() {
                out.insert(rel, fs::read_link(&path).unwrap().into_os_string().into_vec());
            } else if meta.is_dir() {
                stack.push(path);
            } else {
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn jsonl(map: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<PathBuf> {
    map.keys().filter(|k| k.extension().is_some_and(|e| e == "jsonl")).cloned().collect()
}

fn summary(out: &Path) -> Value {
    serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn hostile_names_stay_inside_out() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let input = base.join("in");
    let names: Vec<&[u8]> = vec![
        b"line\nbreak.txt",
        b"bad\xff\xfeutf8.txt",
        b"..txt",
        b"...txt",
        b"-o.txt",
        b" spaced name .txt",
        b"\xe7\x89\x88\xe9\x9d\xa2.txt", // 版面
        b"tab\there.txt",
        b"back\\slash.txt",
    ];
    for (i, n) in names.iter().enumerate() {
        write(&input.join("d").join(OsStr::from_bytes(n)), page(i));
    }
    let before_base = tree(&base);
    let out = base.join("out");
    // The input given with `..` in its path, the output as an absolute path.
    let in_arg = base.join("in/d/../../in");
    // --hidden, since `..txt` and `...txt` are hidden names.
    let o = run(&[in_arg.as_os_str(), os("-o"), out.as_os_str(), os("--hidden")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let after = tree(&base);
    for (k, v) in &before_base {
        assert_eq!(after.get(k), Some(v), "input {k:?} changed");
    }
    let new: Vec<_> = after.keys().filter(|k| !before_base.contains_key(*k)).collect();
    for k in &new {
        assert!(k.starts_with("out"), "{k:?} was written outside OUT");
    }
    let outputs = jsonl(&tree(&out));
    assert_eq!(outputs.len(), names.len());
    for n in &names {
        let mut want = n.to_vec();
        let stem_len = want.len() - b".txt".len();
        want.truncate(stem_len);
        want.extend(b".jsonl");
        let want = PathBuf::from("d").join(OsStr::from_bytes(&want));
        assert!(outputs.contains(&want), "{want:?} missing from {outputs:?}");
    }
    // A name that is not UTF-8 is written byte for byte; its `source` label is lossy.
    let bad = out.join("d").join(OsStr::from_bytes(b"bad\xff\xfeutf8.jsonl"));
    let rec: Value = serde_json::from_slice(fs::read(&bad).unwrap().split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(rec["source"], "d/bad\u{FFFD}\u{FFFD}utf8.txt");
    // A newline in a name is escaped in messages, so each message stays one line.
    let nl = out.join("d").join("line\nbreak.jsonl");
    assert!(nl.exists());
}

#[test]
fn symlinks_out_of_the_root_are_not_followed_unless_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let outside = tmp.path().join("outside");
    write(&input.join("inner/p1.txt"), page(1));
    write(&outside.join("secret.txt"), page(2));
    write(&outside.join("deep/s2.txt"), page(3));
    symlink(&outside, input.join("to-outside")).unwrap();
    symlink(outside.join("secret.txt"), input.join("secret-link.txt")).unwrap();
    symlink(input.join("inner"), input.join("inner-link")).unwrap();
    symlink(input.join("inner/p1.txt"), input.join("p1-link.txt")).unwrap();
    symlink(tmp.path().join("nowhere"), input.join("dangling.txt")).unwrap();
    symlink(&input, input.join("inner/loop")).unwrap();
    let before_outside = tree(&outside);

    // Default: no symlink is followed; each is noted.
    let out = tmp.path().join("out-skip");
    let o = run(&[input.as_os_str(), os("-o"), out.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(jsonl(&tree(&out)), vec![PathBuf::from("inner/p1.jsonl")]);
    let s = summary(&out);
    assert_eq!(s["walk"]["symlinks_skipped"], 6);
    assert!(s["skipped"].as_array().unwrap().iter().all(|n| n["reason"].as_str().unwrap().contains("symlink")));

    // inside: links that stay in the root are followed, the others noted; the loop is cut.
    let out = tmp.path().join("out-inside");
    let o = run(&[input.as_os_str(), os("-o"), out.as_os_str(), os("--symlinks"), os("inside")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // `inner-link` leads to a directory already walked (as `inner`), `inner/loop` to the root.
    let got = jsonl(&tree(&out));
    assert_eq!(got, vec![PathBuf::from("inner/p1.jsonl"), PathBuf::from("p1-link.jsonl")]);
    let reasons: Vec<String> = summary(&out)["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("outside the input root")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("broken symlink")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("already walked")), "{reasons:?}");

    // all: everything is followed, but outputs still land under OUT by the link's own name.
    let out = tmp.path().join("out-all");
    let o = run(&[input.as_os_str(), os("-o"), out.as_os_str(), os("--symlinks"), os("all")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = jsonl(&tree(&out));
    assert!(got.contains(&PathBuf::from("to-outside/secret.jsonl")), "{got:?}");
    assert!(got.contains(&PathBuf::from("to-outside/deep/s2.jsonl")), "{got:?}");
    assert!(got.contains(&PathBuf::from("secret-link.jsonl")), "{got:?}");
    assert_eq!(tree(&outside), before_outside, "nothing was written outside OUT");
}

#[test]
fn out_inside_the_input_tree_is_never_walked() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    for i in 0..4 {
        write(&input.join(format!("p{i}.txt")), page(i));
    }
    let out = input.join("out");
    let before = tree(&input);
    for _ in 0..2 {
        let o = run(&[input.as_os_str(), os("-o"), out.as_os_str(), os("--glob"), os("*")]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(summary(&out)["files"]["listed"], 4);
        assert_eq!(summary(&out)["walk"]["output_dir_skipped"], 1);
    }
    assert!(!out.join("out").exists());
    assert_eq!(jsonl(&tree(&out)).len(), 4);
    let after = tree(&input);
    for (k, v) in before {
        assert_eq!(after[&k], v, "{k:?} changed");
    }
}

#[test]
fn out_equal_to_the_input_root_never_overwrites_an_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pages");
    write(&dir.join("a.txt"), page(1));
    write(&dir.join("sub/b.txt"), page(2));
    let o = run(&[dir.as_os_str(), os("-o"), dir.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dir.join("a.jsonl").exists() && dir.join("sub/b.jsonl").exists());
    assert_eq!(fs::read_to_string(dir.join("a.txt")).unwrap(), page(1));

    // Now the .jsonl files are inputs too (--glob '*'): a.txt's output path is an input file and
    // is refused; a.jsonl's own output is a.jsonl.jsonl.
    let a_jsonl = fs::read(dir.join("a.jsonl")).unwrap();
    let o = run(&[dir.as_os_str(), os("-o"), dir.as_os_str(), os("--glob"), os("*")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("the output path is an input file; refusing to overwrite it"), "{}", stderr(&o));
    assert_eq!(fs::read(dir.join("a.jsonl")).unwrap(), a_jsonl, "an input was overwritten");
    assert_eq!(fs::read_to_string(dir.join("a.txt")).unwrap(), page(1));
    assert!(dir.join("a.jsonl.jsonl").exists());
    // summary.json was not taken for a page.
    assert!(!dir.join("summary.json.jsonl").exists());
}

#[test]
fn two_inputs_with_one_output_path_the_second_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write(&input.join("a.TXT"), page(1));
    write(&input.join("a.txt"), page(2));
    write(&input.join("b"), page(3));
    write(&input.join("b.txt"), page(4));
    let out = tmp.path().join("out");
    let o = run(&[input.as_os_str(), os("-o"), out.as_os_str(), os("--glob"), os("*")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    // Input order is byte order: `a.TXT` < `a.txt`, `b` < `b.txt`; the first one wins.
    assert!(err.contains("a.txt: has the same output path as"), "{err}");
    assert!(err.contains("b.txt: has the same output path as"), "{err}");
    let a = fs::read_to_string(out.join("a.jsonl")).unwrap();
    assert!(a.contains("\"source\":\"a.TXT\""), "{a}");
    let b = fs::read_to_string(out.join("b.jsonl")).unwrap();
    assert!(b.contains("\"source\":\"b\""), "{b}");
    let s = summary(&out);
    assert_eq!(s["files"]["failed"], 2);
    assert_eq!(s["files"]["processed"], 2);
}

#[test]
fn several_roots_are_mirrored_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let d1 = tmp.path().join("d1");
    let d2 = tmp.path().join("x/d2");
    let f = tmp.path().join("loose.txt");
    write(&d1.join("p.txt"), page(1));
    write(&d2.join("sub/p.txt"), page(2));
    write(&f, page(3));
    let notes = tmp.path().join("notes.md");
    write(&notes, page(4));
    let out = tmp.path().join("out");
    let o = run(&[d1.as_os_str(), d2.as_os_str(), f.as_os_str(), notes.as_os_str(), os("-o"), out.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = jsonl(&tree(&out));
    let want: Vec<PathBuf> =
        ["d1/p.jsonl", "d2/sub/p.jsonl", "loose.jsonl", "notes.md.jsonl"].iter().map(PathBuf::from).collect();
    assert_eq!(got, want, "explicit files are taken whatever the filter");
    let rec = fs::read_to_string(out.join("d2/sub/p.jsonl")).unwrap();
    assert!(rec.contains("\"source\":\"d2/sub/p.txt\""), "{rec}");

    // A single directory maps straight under OUT.
    let out1 = tmp.path().join("out1");
    let o = run(&[d1.as_os_str(), os("-o"), out1.as_os_str()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(jsonl(&tree(&out1)), vec![PathBuf::from("p.jsonl")]);

    // Two roots with the same name would share outputs: a usage error, nothing written.
    let other = tmp.path().join("y/d1");
    write(&other.join("q.txt"), page(5));
    let out2 = tmp.path().join("out2");
    let o = run(&[d1.as_os_str(), other.as_os_str(), os("-o"), out2.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("have the same name"), "{}", stderr(&o));
}

#[test]
fn a_symlink_planted_in_out_cannot_redirect_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write(&input.join("sub/p.txt"), page(1));
    write(&input.join("q.txt"), page(2));
    let elsewhere = tmp.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    symlink(&elsewhere, out.join("sub")).unwrap();
    let o = run(&[input.as_os_str(), os("-o"), out.as_os_str()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a symlink; refusing to write through it"), "{}", stderr(&o));
    assert!(tree(&elsewhere).is_empty(), "a write went through the symlink");
    assert!(out.join("q.jsonl").exists());
}

#[test]
fn an_output_that_is_a_symlink_is_replaced_not_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write(&input.join("p.txt"), page(1));
    let precious = tmp.path().join("precious");
    write(&precious, "keep me");
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    symlink(&precious, out.join("p.jsonl")).unwrap();
    let o = run(&[input.as_os_str(), os("-o"), out.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(&precious).unwrap(), "keep me");
    assert!(!fs::symlink_metadata(out.join("p.jsonl")).unwrap().file_type().is_symlink());
}

#[test]
fn hidden_files_only_with_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write(&input.join(".h/p.txt"), page(1));
    write(&input.join(".q.txt"), page(2));
    write(&input.join("v.txt"), page(3));
    let out = tmp.path().join("out");
    let o = run(&[input.as_os_str(), os("-o"), out.as_os_str(), os("--hidden")]);
    assert_eq!(o.status.code(), Some(0));
    let got = jsonl(&tree(&out));
    assert_eq!(got, [".h/p.jsonl", ".q.jsonl", "v.jsonl"].iter().map(PathBuf::from).collect::<Vec<_>>());
}

#[test]
fn fifos_are_never_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write(&input.join("v.txt"), page(3));
    let made = Command::new("mkfifo").arg(input.join("pipe.txt")).status().is_ok_and(|s| s.success());
    if !made {
        eprintln!("SKIPPED: mkfifo is not available");
        return;
    }
    let out = tmp.path().join("out");
    let o = run(&[input.as_os_str(), os("-o"), out.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["walk"]["special_files"], 1);
    assert_eq!(s["files"]["listed"], 1);
}
