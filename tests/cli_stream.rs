//! `newsmend stream` end to end: the JSON Lines contract (text, raw bytes in any encoding, error
//! records for malformed lines), input order under parallelism, agreement with `run --stdout`,
//! exit statuses, and that records come back while stdin is still open (coprocess use).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use encoding_rs::{Encoding, BIG5, GB18030, UTF_16LE};
use serde_json::{json, Value};

/// `newsmend stream ARGS` with stdin, stdout and stderr piped.
fn spawn_stream(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_newsmend"))
        .arg("stream")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("newsmend runs")
}

fn stream(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = spawn_stream(args);
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn lines(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn page(i: usize) -> String {
    format!("全区第{i}次工作会议召开\n\n本报讯 (记者 张三) 昨天上午,全区召开第{i}次会议。\n")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn encode(enc: &'static Encoding, s: &str) -> Vec<u8> {
    if enc == UTF_16LE {
        let mut b = vec![0xFF, 0xFE];
        b.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        return b;
    }
    enc.encode(s).0.into_owned()
}

fn jsonl(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        out.extend(serde_json::to_vec(v).unwrap());
        out.push(b'\n');
    }
    out
}

#[test]
fn round_trip_with_a_malformed_line() {
    let mut input = jsonl(&[
        json!({"id": "p/1", "text": page(1)}),
        json!({"id": 2, "bytes_b64": b64(&encode(GB18030, &page(2)))}),
        json!({"id": "p/3", "bytes_b64": b64(&encode(UTF_16LE, &page(3)))}),
    ]);
    input.extend(b"{\"id\": \"p/4\", \"text\": \"unterminated\n");
    input.extend(b"\n");
    input.extend(b"\xff\xfe not json at all\r\n");
    input.extend(jsonl(&[
        json!({"id": "p/7", "text": "x", "bytes_b64": "eA=="}),
        json!({"text": "no id"}),
        json!({"id": "p/9", "bytes_b64": b64(b"\x89PNG\r\n\x1a\n\0\0")}),
        json!({"id": "p/10", "bytes_b64": b64(&encode(BIG5, "吳邦國會見荷蘭客人\n\n據新華社北京1月5日電 (記者張榮典)國務院副總理吳邦國今天會見客人。")), "encoding": "big5"}),
        json!({"id": "p/11", "text": ""}),
        json!({"id": "p/12", "text": page(12), "extra": {"kept": "ignored"}}),
    ]));
    let o = stream(&["-j", "3"], &input);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = lines(&o);
    let tags: Vec<String> = out
        .iter()
        .map(|v| match v.get("error") {
            Some(_) => format!("error {} line {}", v["id"], v["line"]),
            None => format!("{} {}", v["source"], v["index"]),
        })
        .collect();
    assert_eq!(
        tags,
        [
            "\"p/1\" 1",
            "\"2\" 1",
            "\"p/3\" 1",
            "error 4 line 4",
            "error 6 line 6",
            "error \"p/7\" line 7",
            "error 8 line 8",
            "error \"p/9\" line 9",
            "\"p/10\" 1",
            "\"p/12\" 1",
        ]
    );
    // The same page as text, as GB18030 bytes and as UTF-16 bytes gives the same paragraphs.
    assert_eq!(out[0]["paragraphs"][0], "昨天上午，全区召开第1次会议。");
    assert_eq!(out[1]["paragraphs"][0], "昨天上午，全区召开第2次会议。");
    assert_eq!(out[2]["paragraphs"][0], "昨天上午，全区召开第3次会议。");
    assert_eq!(out[1]["id"], "2#1");
    assert!(out[5]["error"].as_str().unwrap().contains("not both"));
    assert!(out[6]["error"].as_str().unwrap().contains("missing \"id\""));
    assert!(out[7]["error"].as_str().unwrap().contains("PNG"));
    assert_eq!(out[8]["headline"], "吳邦國會見荷蘭客人");
    let err = stderr(&o);
    assert!(err.contains("line 4: not valid JSON"), "{err}");
    assert!(err.contains("line 9 (id \"p/9\"): not a text file"), "{err}");
    let summary = err.lines().last().unwrap();
    assert!(summary.starts_with("newsmend stream: 11 inputs, 6 ok, 5 errors, 5 records"), "{summary}");
}

#[test]
fn fail_on_error_and_usage_errors() {
    let input = b"{\"id\": 1, \"text\": \"x\"}\nnope\n";
    assert_eq!(stream(&[], input).status.code(), Some(0));
    assert_eq!(stream(&["--fail-on-error"], input).status.code(), Some(1));
    let o = stream(&["--encoding", "klingon"], input);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let o = stream(&["-q"], input);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    assert_eq!(lines(&o).len(), 2);
}

#[test]
fn empty_input_gives_nothing() {
    let o = stream(&[], b"");
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("0 inputs"));
}

#[test]
fn order_is_kept_under_parallelism_and_agrees_with_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mut values = Vec::new();
    for i in 0..300 {
        let name = format!("p{i:03}.txt");
        // Pages of very different sizes, so that workers finish out of order.
        let text = page(i).repeat(1 + (i * 37) % 23);
        std::fs::write(tmp.path().join(&name), &text).unwrap();
        values.push(json!({"id": name, "text": text}));
    }
    let o = stream(&["-j", "4"], &jsonl(&values));
    assert_eq!(o.status.code(), Some(0));
    let run = Command::new(env!("CARGO_BIN_EXE_newsmend"))
        .args(["run", tmp.path().to_str().unwrap(), "--stdout", "-q", "-j", "3"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    assert!(o.stdout == run.stdout, "stream and run --stdout disagree");
}

#[test]
fn over_long_lines_get_an_error_record_and_the_stream_goes_on() {
    let big = "长".repeat(4000);
    let input = jsonl(&[
        json!({"id": "a", "text": page(1)}),
        json!({"id": "big", "text": big}),
        json!({"id": "c", "text": page(3)}),
        json!({"id": "d", "bytes_b64": b64(big.as_bytes())}),
    ]);
    // 1 KiB pages: lines up to 2 KiB + 1 MiB are read; the 12 KB page is over the page limit.
    let o = stream(&["--max-page-bytes", "1K"], &input);
    assert_eq!(o.status.code(), Some(0));
    let out = lines(&o);
    assert_eq!(out.len(), 4);
    assert_eq!(out[1]["id"], "big");
    assert!(out[1]["error"].as_str().unwrap().contains("over --max-page-bytes 1024"));
    assert_eq!(out[2]["source"], "c");
    assert!(out[3]["error"].as_str().unwrap().contains("over --max-page-bytes"));

    // A line longer than the line limit is skipped without being held.
    let huge = format!("{{\"id\": \"h\", \"text\": \"{}\"}}\n", "x".repeat(3 << 20));
    let mut input = huge.into_bytes();
    input.extend(jsonl(&[json!({"id": "after", "text": page(5)})]));
    let o = stream(&["--max-page-bytes", "1K"], &input);
    let out = lines(&o);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["id"], 1);
    assert!(out[0]["error"].as_str().unwrap().contains("over the limit"));
    assert_eq!(out[1]["source"], "after");
}

#[test]
fn records_come_back_before_stdin_closes() {
    let mut child = spawn_stream(&["-j", "2", "-q"]);
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    for i in 0..3 {
        let line = serde_json::to_string(&json!({"id": format!("q{i}"), "text": page(i)})).unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        let got = rx.recv_timeout(Duration::from_secs(20)).expect("a record while stdin is still open");
        let v: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["source"], format!("q{i}"));
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    reader.join().unwrap();
}

#[test]
fn ctrl_c_ends_a_stream_cleanly_even_while_stdin_is_idle() {
    let mut child = spawn_stream(&["-j", "2"]);
    let mut stdin = child.stdin.take().unwrap();
    let line = serde_json::to_string(&json!({"id": "one", "text": page(1)})).unwrap();
    writeln!(stdin, "{line}").unwrap();
    stdin.flush().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("\"source\":\"one\""));
    // stdin stays open and idle; an interrupt must still end the stream.
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(130));
    let err = stderr(&out);
    assert!(err.contains("1 inputs, 1 ok") && err.contains("interrupted"), "{err}");
}
