//! `newsmend run INPUT… -o OUT` (or `--stdout`): the batch job.
//!
//! One `.jsonl` per page under OUT, mirroring the input tree, plus `OUT/summary.json`; or all
//! records on stdout in input order. The machinery (walk, output paths, atomic writes, resume,
//! the bounded worker engine) lives in [`super::batch`], whose docs give the decisions and the
//! reasons; this module wires it together and handles one page at a time.
//!
//! Per page, in order: duplicate target? → open → not a regular file? → (`--resume`) output up to
//! date? → over `--max-page-bytes` (checked on the open file's size, before reading; the read is
//! capped too, in case the file grows) → read → process → write atomically (or hand the bytes to
//! the stdout writer). Each failure is one line on stderr and one `{path, reason}` in the summary;
//! the other pages go on. An empty (or whitespace-only) page is not a failure: it gets an empty
//! `.jsonl`, so that every listed page has an output and `--resume` knows it is done.
//!
//! Exit codes: 0 every page succeeded; 1 some page failed (or a directory could not be listed, or
//! the run stopped on a full or read-only output device, or stdout closed, or the summary could
//! not be written); 2 usage or setup error (bad arguments or rules, an INPUT that does not exist,
//! OUT not creatable, not a directory or not writable); 130 interrupted by Ctrl-C.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use newsmend::Pipeline;

use super::batch::engine::{self, Consumer};
use super::batch::faults::{self, Faults};
use super::batch::gather::GatherWriter;
use super::batch::glob::Filter;
use super::batch::manifest::{self, Manifest};
use super::batch::progress::{Counts, Progress};
use super::batch::summary::{self, PageStats, Summary, Tally};
use super::batch::target::{self, OutDirs};
use super::batch::walk::{self, Job, Listing, Symlinks, WalkOptions};
use super::batch::write::{self, AtomicWriter};
use super::batch::{interrupt, one_line, parse_size, thread_pool, worker_count};
use super::{setup_error, PipelineArgs, EXIT_OK, EXIT_PAGE_FAILED};

/// Pages a worker takes at once (see `engine`): each hand-over wakes the writing thread. At 16
/// pages the wake-ups (futex) were 2–4% of a one-worker profile; 64 (~300 KB of input) made the
/// 200 MB UTF-8 run 2–4% faster for 1 MB more peak RSS. At most `4 × PAGES_PER_CHUNK` pages per
/// worker are in flight.
const PAGES_PER_CHUNK: usize = 64;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Page files and directories (directories are walked recursively).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output directory: one .jsonl per page, mirroring the input tree, and summary.json.
    #[arg(short, long, value_name = "OUT", required_unless_present = "stdout", conflicts_with = "stdout")]
    pub output: Option<PathBuf>,
    /// Write all records to stdout as JSON Lines, in input order, instead of files.
    #[arg(long)]
    pub stdout: bool,
    /// Worker threads (default: all cores).
    #[arg(short, long, value_name = "N", value_parser = super::parse_jobs)]
    pub jobs: Option<usize>,
    /// Take files with this extension (repeatable or comma-separated; default: txt).
    #[arg(long, value_name = "EXT")]
    pub ext: Vec<String>,
    /// Take files matching this glob (on the name, or on the path under the root if it has a /).
    #[arg(long, value_name = "PATTERN")]
    pub glob: Vec<String>,
    /// Also walk hidden files and directories (names starting with a dot).
    #[arg(long)]
    pub hidden: bool,
    /// Symlinks met while walking: skip them, follow those inside the input root, or all.
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = Symlinks::Skip)]
    pub symlinks: Symlinks,
    /// Pages larger than this fail without being read (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    pub max_page_bytes: u64,
    /// Skip pages whose output is newer than the input and made with the same version, rules and
    /// options.
    #[arg(long, requires = "output", conflicts_with = "stdout")]
    pub resume: bool,
    /// No progress and no final line on stderr (failures are still reported).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print time spent per stage on stderr at the end.
    #[arg(long)]
    pub stats: bool,
    /// fsync every output and output directory (slow; guards against power loss).
    #[arg(long)]
    pub fsync: bool,
    /// Also write the summary JSON to this file (the only place it goes with --stdout).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub fn main(args: RunArgs) -> u8 {
    match run(&args) {
        Ok(code) => code,
        Err(msg) => setup_error(&msg),
    }
}

/// The prepared output directory.
struct Out {
    dir: PathBuf,
    dirs: OutDirs,
    manifest: Manifest,
}

/// Everything a worker needs, shared read-only.
struct Ctx<'a> {
    args: &'a RunArgs,
    pipeline: &'a Pipeline,
    listing: &'a Listing,
    out: Option<&'a Out>,
    writer: &'a AtomicWriter,
    /// Jobs whose output path an earlier job already has: index → earlier index.
    dups: HashMap<usize, usize>,
}

/// The whole run; `Err` is a setup error (exit 2).
fn run(args: &RunArgs) -> Result<u8, String> {
    let start = Instant::now();
    let setup = args.pipeline.setup()?;
    std::thread::scope(|scope| {
        // The rules compile on a thread of their own while the pool starts and the input tree
        // is walked (each takes 1% of a 200 MB run on one core). An output directory waits for
        // them: a run whose rules do not compile creates nothing.
        let mut compiling = Some(scope.spawn(|| setup.build()));
        let mut compiled = || match compiling.take().map(|c| c.join()) {
            Some(Ok(pipeline)) => pipeline,
            Some(Err(_)) => Err("internal error: compiling the rules panicked".into()),
            None => unreachable!("the rules are compiled once"),
        };
        let filter = Filter::new(&args.glob, &args.ext)?;
        let faults = Faults::from_env()?;
        if faults.active() {
            eprintln!("newsmend: warning: {} is set: injecting faults", faults::ENV);
        }
        let workers = worker_count(args.jobs);
        let pool = thread_pool(workers)?;
        let roots = walk::roots(&args.inputs)?;
        let (pipeline, out) = match &args.output {
            Some(dir) => {
                let pipeline = compiled()?;
                let out = prepare_out(dir, &settings(args, &pipeline))?;
                (Some(pipeline), Some(out))
            }
            None => (None, None),
        };
        let out_id = match &out {
            Some(o) => Some(identify(&o.dir)?),
            None => None,
        };
        let walk_opts = WalkOptions { filter: &filter, hidden: args.hidden, symlinks: args.symlinks, out: out_id };
        if let (true, Some(o)) = (args.resume && !args.quiet, &out) {
            if !o.manifest.reused {
                eprintln!("newsmend: --resume: OUT has no outputs made with this version, rules and options; processing every page");
            }
        }
        let mut listing = walk::list(roots, &walk_opts);
        // A directory or entry the walk could not read is a failure like a page's: one line on
        // stderr (the run then exits 1, and the summary lists it).
        for f in &listing.failures {
            eprintln!("{}", failure_line(Path::new(&f.path), &f.reason));
        }
        let pipeline = match pipeline {
            Some(p) => p,
            None => compiled()?,
        };
        if !args.quiet && listing.jobs.is_empty() {
            eprintln!("newsmend: no pages found (default filter: *.txt; see --ext and --glob)");
        }
        if let Some(pause) = faults.pause_after_listing {
            std::thread::sleep(pause);
        }
        let writer =
            AtomicWriter { faults, fsync: args.fsync, input_ids: listing.input_ids.take(), named_temps: false };
        let dups = if out.is_some() { target::duplicates(&listing) } else { HashMap::new() };
        let ctx = Ctx { args, pipeline: &pipeline, listing: &listing, out: out.as_ref(), writer: &writer, dups };
        let stop = interrupt::install("pages");
        let (tally, report, aborted) = process(&ctx, &pool, stop, workers);
        Ok(finish(&ctx, tally, report, aborted, workers, start.elapsed()))
    })
}

/// The settings recorded in the manifest.
fn settings(args: &RunArgs, pipeline: &Pipeline) -> manifest::Settings {
    manifest::Settings {
        tool: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
        rules_fingerprint: pipeline.fingerprint().to_string(),
        explain: args.pipeline.explain,
        encoding: encoding_name(pipeline),
    }
}

fn encoding_name(pipeline: &Pipeline) -> Option<String> {
    pipeline.options().encoding.map(|e| e.name().to_string())
}

/// Creates OUT, checks that it is a writable directory, and reads or writes the manifest.
fn prepare_out(dir: &Path, settings: &manifest::Settings) -> Result<Out, String> {
    let shown = one_line(dir);
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{shown}: exists and is not a directory"));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create output directory {shown}: {e}"))?;
    let manifest =
        manifest::prepare(dir, settings).map_err(|e| format!("output directory {shown} is not writable: {e}"))?;
    Ok(Out { dir: dir.to_path_buf(), dirs: OutDirs::new(dir), manifest })
}

fn identify(dir: &Path) -> Result<(PathBuf, walk::FileId), String> {
    let canon = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", one_line(dir)))?;
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", one_line(dir)))?;
    Ok((canon, walk::file_id(&meta)))
}

/// What became of one page.
enum PageResult {
    Done {
        stats: Box<PageStats>,
        records: Option<Vec<u8>>,
    },
    Skipped,
    /// `device`: the output device is full or read-only, so the run should stop.
    Failed {
        reason: String,
        device: bool,
    },
}

impl PageResult {
    fn failed(reason: impl Into<String>) -> PageResult {
        PageResult::Failed { reason: reason.into(), device: false }
    }
}

/// Runs every page through the engine. Returns the tally, the engine's report and why the run
/// stopped early, if it did.
fn process(
    ctx: &Ctx,
    pool: &rayon::ThreadPool,
    stop: &std::sync::atomic::AtomicBool,
    workers: usize,
) -> (Tally, engine::Report, Option<String>) {
    let stdout = io::stdout();
    let mut consumer = RunConsumer {
        ctx,
        tally: Tally::default(),
        progress: Progress::new(ctx.listing.jobs.len() as u64, ctx.args.quiet),
        counts: Counts { total: ctx.listing.jobs.len() as u64, ..Counts::default() },
        stdout: ctx.args.stdout.then(|| GatherWriter::new(stdout.lock(), 1 << 16)),
        aborted: None,
    };
    let cfg = engine::Config {
        window: PAGES_PER_CHUNK * 4 * workers,
        ordered: ctx.args.stdout,
        chunk: PAGES_PER_CHUNK,
        tick: Duration::from_millis(200),
    };
    let report =
        engine::run(pool, cfg, stop, ctx.listing.jobs.iter(), |i, job| process_guarded(ctx, i, job), &mut consumer);
    consumer.progress.finish();
    if let Some(mut w) = consumer.stdout.take() {
        if let Err(e) = w.flush() {
            consumer.aborted.get_or_insert_with(|| stdout_error(&e));
        }
    }
    (consumer.tally, report, consumer.aborted)
}

fn stdout_error(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::BrokenPipe {
        "stdout was closed".to_string()
    } else {
        format!("cannot write to stdout: {e}")
    }
}

/// [`process_page`], with a panic turned into a failure of that page: one bad page must not take
/// down a million-page run.
fn process_guarded(ctx: &Ctx, index: usize, job: &Job) -> PageResult {
    panic::catch_unwind(AssertUnwindSafe(|| process_page(ctx, index, job))).unwrap_or_else(|_| {
        PageResult::failed("internal error: newsmend panicked on this page (please report it with the file)")
    })
}

fn process_page(ctx: &Ctx, index: usize, job: &Job) -> PageResult {
    if let Some(&first) = ctx.dups.get(&index) {
        let other = ctx.listing.source_path(&ctx.listing.jobs[first]);
        return PageResult::failed(format!("has the same output path as {}; not written", one_line(&other)));
    }
    let target = match ctx.out {
        Some(out) => match target::checked_join(&out.dir, &target::output_rel(ctx.listing, job)) {
            Ok(t) => Some(t),
            Err(e) => return PageResult::failed(e),
        },
        None => None,
    };
    let read_start = Instant::now();
    let path = ctx.listing.source_path(job);
    let bytes = match read_page(ctx, &path, target.as_deref()) {
        Ok(Some(b)) => b,
        Ok(None) => return PageResult::Skipped,
        Err(reason) => return PageResult::failed(reason),
    };
    let read = read_start.elapsed();
    let source = source_name(&ctx.listing.out_rel(job));
    let len = bytes.len() as u64;
    let out = match ctx.pipeline.process_owned(&source, bytes) {
        Ok(o) => o,
        Err(e) => return PageResult::failed(e.to_string()),
    };
    let mut stats = PageStats::new(&out, len);
    stats.read = read;
    let jsonl = newsmend::emit::to_jsonl(&out.records);
    drop(out);
    match (target, ctx.out) {
        (Some(target), Some(out)) => write_page(ctx, out, job, &target, &jsonl, stats),
        _ => PageResult::Done { stats: Box::new(stats), records: Some(jsonl) },
    }
}

/// Pages are read into a buffer of this size first, without asking the file for its size: the
/// walk has seen that it is a regular file, and nearly every page fits, so a page costs an open, a
/// read, the read that finds its end, and a close. (Asking the size first, a `statx` per page,
/// was 0.7% of a run.) A page that fills the buffer is asked its size and type before the rest
/// is read: a page over `--max-page-bytes` is refused with no more than this read of it.
const FIRST_READ: u64 = 64 * 1024;

/// Reads a page, or `Ok(None)` when `--resume` finds its output up to date.
fn read_page(ctx: &Ctx, path: &Path, target: Option<&Path>) -> Result<Option<Vec<u8>>, String> {
    let mut file = File::open(path).map_err(|e| read_error(&e))?;
    if let (true, Some(target), Some(out)) = (ctx.args.resume, target, ctx.out) {
        let meta = file.metadata().map_err(|e| read_error(&e))?;
        if let Ok(mtime) = meta.modified() {
            if manifest::is_done(target, mtime, &out.manifest) {
                return Ok(None);
            }
        }
    }
    let max = ctx.args.max_page_bytes;
    let first = FIRST_READ.min(max + 1);
    let mut bytes = Vec::with_capacity(first as usize);
    (&mut file).take(first).read_to_end(&mut bytes).map_err(|e| read_error(&e))?;
    if (bytes.len() as u64) < first {
        return Ok(Some(bytes));
    }
    // A large page, or one over the limit: its size and type decide before the rest is read.
    let meta = file.metadata().map_err(|e| read_error(&e))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > max {
        return Err(too_big(meta.len(), max));
    }
    bytes.reserve((meta.len() as usize).saturating_sub(bytes.len()));
    file.take(max + 1 - first).read_to_end(&mut bytes).map_err(|e| read_error(&e))?;
    if bytes.len() as u64 > max {
        return Err(too_big(bytes.len() as u64, max));
    }
    Ok(Some(bytes))
}

fn too_big(len: u64, max: u64) -> String {
    format!("page is {len} bytes, over --max-page-bytes {max}; not processed")
}

fn read_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "cannot read: the file is gone (deleted after it was listed?)".into(),
        io::ErrorKind::PermissionDenied => "cannot read: permission denied".into(),
        _ => format!("cannot read: {e}"),
    }
}

/// Writes one page's output atomically.
fn write_page(ctx: &Ctx, out: &Out, job: &Job, target: &Path, jsonl: &[u8], mut stats: PageStats) -> PageResult {
    let start = Instant::now();
    let rel = target::output_rel(ctx.listing, job);
    let result = out.dirs.ensure(rel.parent().unwrap_or(Path::new(""))).and_then(|()| ctx.writer.write(target, jsonl));
    match result {
        Ok(()) => {
            stats.write = start.elapsed();
            PageResult::Done { stats: Box::new(stats), records: None }
        }
        Err(e) => PageResult::Failed {
            reason: format!("cannot write {}: {e}", one_line(target)),
            device: faults::device_failure(&e),
        },
    }
}

/// The `source` of a page's records: its path under OUT (before `.jsonl`), `/`-separated. Lossy
/// for names that are not UTF-8: it is a label, never used to build a path.
fn source_name(rel: &Path) -> String {
    let parts: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
    parts.join("/")
}

/// The stderr line of a failure, of a page or of the walk: `newsmend: PATH: REASON`.
fn failure_line(path: &Path, reason: &str) -> String {
    format!("newsmend: {}: {reason}", one_line(path))
}

/// Receives page results on the main thread: tallies, reports, writes `--stdout` records.
struct RunConsumer<'a> {
    ctx: &'a Ctx<'a>,
    tally: Tally,
    progress: Progress,
    counts: Counts,
    stdout: Option<GatherWriter<io::StdoutLock<'static>>>,
    aborted: Option<String>,
}

impl RunConsumer<'_> {
    /// Writes a page's `--stdout` records; `false` once stdout has failed.
    fn emit(&mut self, records: Option<Vec<u8>>) -> bool {
        let (Some(buf), Some(w)) = (records, self.stdout.as_mut()) else {
            return true;
        };
        if self.aborted.is_some() {
            return false;
        }
        match w.push(buf) {
            Ok(()) => true,
            Err(e) => {
                self.aborted = Some(stdout_error(&e));
                false
            }
        }
    }
}

impl Consumer<PageResult> for RunConsumer<'_> {
    fn accept(&mut self, index: usize, result: PageResult) -> bool {
        self.counts.done += 1;
        match result {
            PageResult::Done { stats, records } => {
                self.counts.bytes += stats.bytes;
                self.tally.add_page(*stats);
                self.emit(records)
            }
            PageResult::Skipped => {
                self.tally.skipped_resume += 1;
                true
            }
            PageResult::Failed { reason, device } => {
                self.counts.failed += 1;
                let path = self.ctx.listing.source_path(&self.ctx.listing.jobs[index]);
                self.progress.println(&failure_line(&path, &reason));
                if device && self.aborted.is_none() {
                    self.progress
                        .println("newsmend: the output device is full or read-only; stopping (rerun with --resume)");
                    self.aborted = Some(reason.clone());
                }
                self.tally.add_failure(index, path.to_string_lossy().into_owned(), reason);
                !device
            }
        }
    }

    fn idle(&mut self) {
        if let Some(w) = self.stdout.as_mut() {
            if let Err(e) = w.flush() {
                self.aborted.get_or_insert_with(|| stdout_error(&e));
            }
        }
    }

    fn tick(&mut self) {
        self.progress.update(self.counts);
    }
}

/// Builds and writes the summary, prints the final lines, picks the exit code.
fn finish(
    ctx: &Ctx,
    mut tally: Tally,
    report: engine::Report,
    aborted: Option<String>,
    workers: usize,
    wall: Duration,
) -> u8 {
    if ctx.args.fsync {
        if let Some(out) = ctx.out {
            if let Err(e) = write::sync_dirs(&out.dirs.all()) {
                eprintln!("newsmend: cannot sync output directories: {e}");
            }
        }
    }
    let interrupted = interrupt::interrupted();
    tally.failures.sort_by_key(|(i, _)| *i);
    let summary = build_summary(ctx, &tally, &report, aborted, interrupted, workers, wall);
    let mut summary_ok = true;
    let json = match serde_json::to_vec_pretty(&summary) {
        Ok(mut j) => {
            j.push(b'\n');
            j
        }
        Err(e) => {
            eprintln!("newsmend: cannot serialize the summary: {e}");
            Vec::new()
        }
    };
    let places = ctx.out.map(|o| o.dir.join("summary.json")).into_iter().chain(ctx.args.summary.clone());
    for place in places {
        if let Err(e) = ctx.writer.write(&place, &json) {
            eprintln!("newsmend: cannot write the summary to {}: {e}; here it is:", one_line(&place));
            eprintln!("{}", String::from_utf8_lossy(&json));
            summary_ok = false;
        }
    }
    if let Some(why) = &summary.aborted {
        eprintln!("newsmend: stopped early: {why}");
    }
    if !ctx.args.quiet {
        eprintln!("{}", summary::one_line(&summary));
    }
    if ctx.args.stats {
        eprint!("{}", summary::stats_table(&summary.timings));
    }
    if interrupted {
        interrupt::EXIT_INTERRUPTED
    } else if !summary.failures.is_empty() || summary.aborted.is_some() || !summary_ok {
        EXIT_PAGE_FAILED
    } else {
        EXIT_OK
    }
}

fn build_summary(
    ctx: &Ctx,
    tally: &Tally,
    report: &engine::Report,
    aborted: Option<String>,
    interrupted: bool,
    workers: usize,
    wall: Duration,
) -> Summary {
    let listing = ctx.listing;
    let args = ctx.args;
    let listed = listing.jobs.len() as u64;
    let failed = tally.failures.len() as u64;
    let not_started = listed.saturating_sub(report.dispatched as u64);
    let failures: Vec<_> =
        listing.failures.iter().cloned().chain(tally.failures.iter().map(|(_, n)| n.clone())).collect();
    Summary {
        tool: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        settings: summary::Settings {
            rules_fingerprint: ctx.pipeline.fingerprint().to_string(),
            explain: args.pipeline.explain,
            encoding: encoding_name(ctx.pipeline),
            ext: Filter::new(&args.glob, &args.ext).map(|f| f.exts().to_vec()).unwrap_or_default(),
            glob: args.glob.clone(),
            hidden: args.hidden,
            symlinks: args.symlinks,
            max_page_bytes: args.max_page_bytes,
            resume: args.resume,
        },
        inputs: args.inputs.iter().map(|p| p.to_string_lossy().into_owned()).collect(),
        output: args.output.as_ref().map_or_else(|| "-".to_string(), |o| o.to_string_lossy().into_owned()),
        complete: failures.is_empty() && not_started == 0 && aborted.is_none() && !interrupted,
        interrupted,
        aborted,
        files: summary::Files {
            listed,
            processed: tally.processed,
            skipped_resume: tally.skipped_resume,
            failed,
            not_started,
            empty: tally.empty,
        },
        bytes: tally.bytes,
        records: summary::Records { total: tally.records(), by_kind: tally.by_kind() },
        edits: tally.edits_by_rule(|i| ctx.pipeline.rule_id(i).to_string()),
        flags: tally.flags.clone(),
        encodings: tally.encodings.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        malformed_sequences: tally.malformed,
        walk: listing.counts.clone(),
        skipped: listing.skipped.clone(),
        failures,
        timings: summary::Timings::new(tally, workers, wall),
    }
}
