//! `newsmend stream`: pages as JSON Lines on stdin, records as JSON Lines on stdout — the contract
//! that lets newsmend run as a stage under Spark (`RDD.pipe`), Hadoop Streaming, GNU parallel
//! (`--pipe`) or any engine that pipes text through a command.
//!
//! # Input: one page per line
//!
//! ```text
//! {"id": "2024-02-05/p3", "text": "标题\n\n本报讯 (记者 张三) 昨天上午,全区召开会议。"}
//! {"id": 17, "bytes_b64": "serialized raw bytes of the page, base64", "encoding": "gb18030"}
//! ```
//!
//! * `id` (string or number, required) names the page: records get `source = id` and
//!   `id = "<id>#<index>"`.
//! * exactly one of `text` (the page as a JSON string) or `bytes_b64` (its raw bytes, base64,
//!   padding optional; the encoding is detected as for files, see `newsmend::decode`);
//! * `encoding` (optional, only with `bytes_b64`): a WHATWG label (`gb18030`, `big5`,
//!   `utf-16le`…) that overrides detection for this page; without it, `--encoding` applies.
//! * Other fields are ignored. Blank lines are skipped. A line may end in `\n` or `\r\n`.
//!
//! # Output: the records of each input, in input order
//!
//! For each input line, in the order read: its records, one JSON object per line, exactly as
//! `run` writes them (a page with no text gives no line). An input that cannot be processed gives
//! one **error record** instead, and the stream goes on:
//!
//! ```text
//! {"id":"2024-02-05/p3","line":7,"error":"not a text file: starts like a PNG image"}
//! ```
//!
//! `id` is the input's id when it could be read, else the line number; `line` is the 1-based line
//! number on stdin. Error records are told from records by their `error` field. A message goes to
//! stderr too (unless `--quiet`).
//!
//! # Resources and ordering
//!
//! `--jobs N` workers each process one page at a time. Lines are read only as fast as pages are
//! processed: at most `N` lines wait in the read-ahead queue and at most `4 × N` pages are read
//! but not yet written (the reorder window), so memory is bounded by a few pages per worker,
//! whatever the length of the stream. A line longer than `2 × --max-page-bytes + 1 MiB` (room for
//! JSON escapes and base64) is answered with an error record without being held in memory. Output
//! is flushed whenever no finished page is waiting, so a coprocess that writes one page and waits
//! gets its records at once.
//!
//! # End and exit status
//!
//! At end of input a summary line goes to stderr (unless `--quiet`): inputs, errors, records,
//! bytes, MB/s. Exit status: 0 when the stream was read and written to the end, even if some
//! inputs gave error records — they are data, and engines such as Spark fail the whole task on a
//! non-zero status; `--fail-on-error` makes error records exit 1. Also 1 when stdin cannot be
//! read or stdout is closed; 2 for usage errors (bad rules, unknown `--encoding`); 130 after
//! Ctrl-C (reading stops, pages in flight are written, then the summary).

use std::io::{self, BufRead, BufReader, Read};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use clap::Args;
use newsmend::{PageOutput, Pipeline};
use serde::Serialize;
use serde_json::Value;

use super::batch::engine::{self, Consumer};
use super::batch::gather::GatherWriter;
use super::batch::summary::{PageStats, Tally};
use super::batch::{interrupt, parse_size, thread_pool, worker_count};
use super::{setup_error, PipelineArgs, EXIT_OK, EXIT_PAGE_FAILED};

#[derive(Args, Debug)]
pub struct StreamArgs {
    /// Worker threads (default: all cores).
    #[arg(short, long, value_name = "N", value_parser = super::parse_jobs)]
    pub jobs: Option<usize>,
    /// Pages larger than this get an error record (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    pub max_page_bytes: u64,
    /// No per-error messages and no summary line on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Exit 1 if any input gave an error record (default: 0, errors are in-band data).
    #[arg(long)]
    pub fail_on_error: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// One line of stdin.
struct Input {
    /// 1-based.
    line: u64,
    body: Body,
}

enum Body {
    Line(Vec<u8>),
    /// Longer than the limit; its length.
    TooLong(u64),
    /// stdin failed; the stream ends here.
    ReadError(String),
}

/// What became of one input.
enum Outcome {
    Records { jsonl: Vec<u8>, stats: PageStats },
    Error { record: Vec<u8>, message: String },
    ReadError(String),
    Blank,
}

pub fn main(args: StreamArgs) -> u8 {
    let pipeline = match args.pipeline.pipeline() {
        Ok(p) => p,
        Err(e) => return setup_error(&e),
    };
    let workers = worker_count(args.jobs);
    let pool = match thread_pool(workers) {
        Ok(p) => p,
        Err(e) => return setup_error(&e),
    };
    let stop = interrupt::install("pages");
    let line_limit = args.max_page_bytes.saturating_mul(2).saturating_add(1 << 20);
    let lines = spawn_reader(line_limit, workers);
    let start = Instant::now();
    let stdout = io::stdout();
    let mut consumer = StreamConsumer {
        out: GatherWriter::new(stdout.lock(), 1 << 16),
        quiet: args.quiet,
        tally: Tally::default(),
        inputs: 0,
        errors: 0,
        failure: None,
    };
    // A chunk of one: a line on stdin is answered before the next one is read.
    let cfg = engine::Config { window: 4 * workers, ordered: true, chunk: 1, tick: Duration::from_millis(200) };
    let feed = Feed { rx: lines, stop };
    let max = args.max_page_bytes;
    engine::run(&pool, cfg, stop, feed, |_, input| handle_guarded(&pipeline, max, input), &mut consumer);
    if let Err(e) = consumer.out.flush() {
        consumer.failure.get_or_insert_with(|| stdout_error(&e));
    }
    finish(&args, &consumer, start.elapsed())
}

/// Reads stdin on its own thread, so that a Ctrl-C is noticed even while a read blocks. At most
/// `ahead` lines wait in the queue.
fn spawn_reader(limit: u64, ahead: usize) -> Receiver<Input> {
    let (tx, rx) = mpsc::sync_channel(ahead);
    std::thread::spawn(move || read_lines(BufReader::with_capacity(1 << 16, io::stdin()), limit, &tx));
    rx
}

fn read_lines<R: BufRead>(mut reader: R, limit: u64, tx: &SyncSender<Input>) {
    let mut line = 0u64;
    loop {
        line += 1;
        let body = match read_capped(&mut reader, limit) {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(e) => Body::ReadError(format!("cannot read stdin: {e}")),
        };
        let last = matches!(body, Body::ReadError(_));
        if tx.send(Input { line, body }).is_err() || last {
            return;
        }
    }
}

/// Reads one line of at most `limit` bytes (without its line end); a longer line is skipped
/// without being stored. `None` at end of input.
fn read_capped<R: BufRead>(reader: &mut R, limit: u64) -> io::Result<Option<Body>> {
    let mut buf = Vec::new();
    let n = reader.by_ref().take(limit + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        return Ok(Some(Body::Line(buf)));
    }
    if (buf.len() as u64) <= limit {
        return Ok(Some(Body::Line(buf))); // the last line, without a line end
    }
    let mut skipped = buf.len() as u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(pos) => {
                skipped += pos as u64;
                reader.consume(pos + 1);
                break;
            }
            None => {
                let len = chunk.len();
                skipped += len as u64;
                reader.consume(len);
            }
        }
    }
    Ok(Some(Body::TooLong(skipped)))
}

/// The engine's source: lines from the reader thread, until the end or a Ctrl-C.
struct Feed {
    rx: Receiver<Input>,
    stop: &'static AtomicBool,
}

impl Iterator for Feed {
    type Item = Input;

    fn next(&mut self) -> Option<Input> {
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(input) => return Some(input),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

fn handle_guarded(pipeline: &Pipeline, max: u64, input: Input) -> Outcome {
    let line = input.line;
    panic::catch_unwind(AssertUnwindSafe(|| handle(pipeline, max, input))).unwrap_or_else(|_| {
        error_outcome(
            &Value::from(line),
            line,
            "internal error: newsmend panicked on this page (please report it)".into(),
        )
    })
}

/// Processes one input line.
fn handle(pipeline: &Pipeline, max: u64, input: Input) -> Outcome {
    let line = input.line;
    let bytes = match input.body {
        Body::Line(b) if b.iter().all(u8::is_ascii_whitespace) => return Outcome::Blank,
        Body::Line(b) => b,
        Body::TooLong(n) => {
            return error_outcome(&Value::from(line), line, format!("line is {n} bytes, over the limit; skipped"))
        }
        Body::ReadError(e) => return Outcome::ReadError(e),
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return error_outcome(&Value::from(line), line, format!("not valid JSON: {e}")),
    };
    drop(bytes);
    let (id, source) = match page_id(&value) {
        Ok(x) => x,
        Err(e) => return error_outcome(&Value::from(line), line, e),
    };
    match page(pipeline, max, &value, &source) {
        Ok((out, bytes)) => {
            let stats = PageStats::new(&out, bytes);
            Outcome::Records { jsonl: newsmend::emit::to_jsonl(&out.records), stats }
        }
        Err(e) => error_outcome(&id, line, e),
    }
}

/// The input's id, as given and as a `source` string.
fn page_id(value: &Value) -> Result<(Value, String), String> {
    let obj = value.as_object().ok_or("expected a JSON object with \"id\" and \"text\" or \"bytes_b64\"")?;
    match obj.get("id") {
        Some(Value::String(s)) => Ok((Value::String(s.clone()), s.clone())),
        Some(Value::Number(n)) => Ok((Value::Number(n.clone()), n.to_string())),
        Some(_) => Err("\"id\" must be a string or a number".into()),
        None => Err("missing \"id\"".into()),
    }
}

/// Runs the page of an input object through the pipeline. Returns the output and the page's size
/// in bytes.
fn page(pipeline: &Pipeline, max: u64, value: &Value, source: &str) -> Result<(PageOutput, u64), String> {
    let text = value.get("text");
    let b64 = value.get("bytes_b64");
    let encoding = value.get("encoding");
    let too_big = |n: usize| format!("page is {n} bytes, over --max-page-bytes {max}");
    match (text, b64) {
        (Some(Value::String(t)), None) => {
            if encoding.is_some() {
                return Err("\"encoding\" applies only to \"bytes_b64\"".into());
            }
            if t.len() as u64 > max {
                return Err(too_big(t.len()));
            }
            Ok((pipeline.process_text(source, t), t.len() as u64))
        }
        (None, Some(Value::String(b))) => {
            let bytes = BASE64.decode(b.trim()).map_err(|e| format!("\"bytes_b64\" is not valid base64: {e}"))?;
            if bytes.len() as u64 > max {
                return Err(too_big(bytes.len()));
            }
            let out = decode_and_process(pipeline, source, &bytes, encoding)?;
            Ok((out, bytes.len() as u64))
        }
        (Some(_), Some(_)) => Err("give either \"text\" or \"bytes_b64\", not both".into()),
        (None, None) => Err("missing \"text\" or \"bytes_b64\"".into()),
        (Some(_), None) => Err("\"text\" must be a string".into()),
        (None, Some(_)) => Err("\"bytes_b64\" must be a string".into()),
    }
}

/// Decodes raw bytes with the line's `encoding`, or as `--encoding`/detection says.
fn decode_and_process(
    pipeline: &Pipeline,
    source: &str,
    bytes: &[u8],
    encoding: Option<&Value>,
) -> Result<PageOutput, String> {
    let label = match encoding {
        None | Some(Value::Null) => return pipeline.process_bytes(source, bytes).map_err(|e| e.to_string()),
        Some(Value::String(s)) => s,
        Some(_) => return Err("\"encoding\" must be a string".into()),
    };
    let enc = newsmend::decode::encoding_for_label(label).map_err(|e| e.to_string())?;
    pipeline.process_bytes_with(source, bytes, Some(enc)).map_err(|e| e.to_string())
}

/// Standard alphabet; padding accepted but not required.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Serialize)]
struct ErrorRecord<'a> {
    id: &'a Value,
    line: u64,
    error: &'a str,
}

fn error_outcome(id: &Value, line: u64, error: String) -> Outcome {
    let mut record = serde_json::to_vec(&ErrorRecord { id, line, error: &error }).unwrap_or_default();
    record.push(b'\n');
    let shown = match id {
        Value::Number(n) if n.as_u64() == Some(line) => String::new(),
        other => format!(" (id {other})"),
    };
    Outcome::Error { record, message: format!("newsmend: line {line}{shown}: {error}") }
}

/// Writes records in input order and keeps count.
struct StreamConsumer {
    out: GatherWriter<io::StdoutLock<'static>>,
    quiet: bool,
    tally: Tally,
    inputs: u64,
    errors: u64,
    /// stdin or stdout failed.
    failure: Option<String>,
}

impl StreamConsumer {
    fn write(&mut self, bytes: Vec<u8>) -> bool {
        if self.failure.is_some() {
            return false;
        }
        match self.out.push(bytes) {
            Ok(()) => true,
            Err(e) => {
                self.failure = Some(stdout_error(&e));
                false
            }
        }
    }
}

impl Consumer<Outcome> for StreamConsumer {
    fn accept(&mut self, _index: usize, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Blank => true,
            Outcome::Records { jsonl, stats } => {
                self.inputs += 1;
                self.tally.add_page(stats);
                self.write(jsonl)
            }
            Outcome::Error { record, message } => {
                self.inputs += 1;
                self.errors += 1;
                if !self.quiet {
                    eprintln!("{message}");
                }
                self.write(record)
            }
            Outcome::ReadError(e) => {
                self.failure.get_or_insert(e);
                false
            }
        }
    }

    fn idle(&mut self) {
        if self.failure.is_none() {
            if let Err(e) = self.out.flush() {
                self.failure = Some(stdout_error(&e));
            }
        }
    }
}

fn stdout_error(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::BrokenPipe {
        "stdout was closed".into()
    } else {
        format!("cannot write to stdout: {e}")
    }
}

/// The summary line and the exit status.
fn finish(args: &StreamArgs, c: &StreamConsumer, wall: Duration) -> u8 {
    let interrupted = interrupt::interrupted();
    if let Some(f) = &c.failure {
        eprintln!("newsmend stream: {f}");
    }
    if !args.quiet {
        let secs = wall.as_secs_f64().max(1e-6);
        eprintln!(
            "newsmend stream: {} inputs, {} ok, {} errors, {} records, {:.2} MB in {:.2} s ({:.2} MB/s){}",
            c.inputs,
            c.inputs - c.errors,
            c.errors,
            c.tally.records(),
            c.tally.bytes as f64 / 1e6,
            secs,
            c.tally.bytes as f64 / 1e6 / secs,
            if interrupted { ", interrupted" } else { "" }
        );
    }
    if interrupted {
        interrupt::EXIT_INTERRUPTED
    } else if c.failure.is_some() || (args.fail_on_error && c.errors > 0) {
        EXIT_PAGE_FAILED
    } else {
        EXIT_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], limit: u64) -> Vec<String> {
        let mut r = input;
        let mut out = Vec::new();
        while let Some(body) = read_capped(&mut r, limit).unwrap() {
            out.push(match body {
                Body::Line(b) => String::from_utf8(b).unwrap(),
                Body::TooLong(n) => format!("<too long: {n}>"),
                Body::ReadError(e) => e,
            });
        }
        out
    }

    #[test]
    fn capped_lines() {
        assert_eq!(lines(b"a\r\nbb\n\nccc", 10), ["a", "bb", "", "ccc"]);
        assert_eq!(lines(b"short\nxxxxxxxxxxxxxxxxxxxx\nok\n", 8), ["short", "<too long: 20>", "ok"]);
        assert_eq!(lines(b"xxxxxxxxxxxx", 4), ["<too long: 12>"]);
    }

    #[test]
    fn inputs_to_records_and_errors() {
        let p = Pipeline::builtin();
        let run = |line: &str| handle(&p, 1 << 20, Input { line: 3, body: Body::Line(line.as_bytes().to_vec()) });
        let text = r#"{"id":"a","text":"标题\n\n本报讯 (记者 张三) 昨天上午,全区召开会议。"}"#;
        assert!(matches!(run(text), Outcome::Records { .. }));
        let b64 = format!(r#"{{"id":5,"bytes_b64":"{}"}}"#, BASE64.encode("标题\n\n正文。"));
        assert!(matches!(run(&b64), Outcome::Records { .. }));
        for (bad, want) in [
            ("{nope", "not valid JSON"),
            ("[1]", "expected a JSON object"),
            (r#"{"text":"x"}"#, "missing \"id\""),
            (r#"{"id":"a"}"#, "missing \"text\""),
            (r#"{"id":"a","text":"x","bytes_b64":"eA=="}"#, "not both"),
            (r#"{"id":"a","bytes_b64":"!!"}"#, "not valid base64"),
            (r#"{"id":"a","bytes_b64":"eA==","encoding":"klingon"}"#, "unknown encoding"),
            (r#"{"id":"a","text":"x","encoding":"gbk"}"#, "applies only"),
            (r#"{"id":"a","bytes_b64":"iVBORw0KGgoAAAA="}"#, "not a text file"),
        ] {
            match run(bad) {
                Outcome::Error { record, .. } => {
                    let v: Value = serde_json::from_slice(&record).unwrap();
                    assert_eq!(v["line"], 3);
                    assert!(v["error"].as_str().unwrap().contains(want), "{bad}: {v}");
                }
                _ => panic!("{bad} should be an error"),
            }
        }
        assert!(matches!(run("   "), Outcome::Blank));
    }
}
