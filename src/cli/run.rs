//! `newsmend run INPUT… -o OUT`: the batch job.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Args;
use rayon::prelude::*;

use super::{setup_error, PipelineArgs, EXIT_OK, EXIT_PAGE_FAILED};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Page files and directories (walked recursively).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output directory: one .jsonl per page, mirroring the input tree.
    #[arg(short, long, value_name = "OUT", required_unless_present = "stdout")]
    pub output: Option<PathBuf>,
    /// Write all records to stdout as JSON Lines, in input order.
    #[arg(long)]
    pub stdout: bool,
    /// Worker threads (default: all cores).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

struct Job {
    path: PathBuf,
    rel: PathBuf,
}

fn collect(inputs: &[PathBuf]) -> Result<Vec<Job>, String> {
    let mut jobs = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|e| format!("{}: {e}", input.display()))?;
        if meta.is_dir() {
            let mut stack = vec![input.clone()];
            while let Some(dir) = stack.pop() {
                let mut entries: Vec<_> = fs::read_dir(&dir)
                    .map_err(|e| format!("{}: {e}", dir.display()))?
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .collect();
                entries.sort();
                for p in entries {
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x == "txt") {
                        let rel = p.strip_prefix(input).unwrap_or(&p).to_path_buf();
                        jobs.push(Job { path: p, rel });
                    }
                }
            }
        } else {
            let rel = PathBuf::from(input.file_name().unwrap_or_default());
            jobs.push(Job {
                path: input.clone(),
                rel,
            });
        }
    }
    jobs.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(jobs)
}

pub fn main(args: RunArgs) -> u8 {
    let pipeline = match args.pipeline.pipeline() {
        Ok(p) => p,
        Err(e) => return setup_error(&e),
    };
    if let Some(n) = args.jobs {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global();
    }
    let jobs = match collect(&args.inputs) {
        Ok(j) => j,
        Err(e) => return setup_error(&e),
    };
    let start = Instant::now();
    let failed = AtomicUsize::new(0);
    let results: Vec<Option<Vec<u8>>> = jobs
        .par_iter()
        .map(|job| {
            let source = job.rel.to_string_lossy().replace('\\', "/");
            let bytes = match fs::read(&job.path) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("newsmend: {}: {e}", job.path.display());
                    failed.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            };
            match pipeline.process_bytes(&source, &bytes) {
                Ok(out) => {
                    let buf = newsmend::emit::to_jsonl(&out.records);
                    if let Some(dir) = &args.output {
                        let target = dir.join(&job.rel).with_extension("jsonl");
                        if let Err(e) = write_atomic(&target, &buf) {
                            eprintln!("newsmend: {}: {e}", target.display());
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(buf)
                }
                Err(e) => {
                    eprintln!("newsmend: {}: {e}", job.path.display());
                    failed.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        })
        .collect();
    if args.stdout {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        for buf in results.iter().flatten() {
            let _ = lock.write_all(buf);
        }
    }
    let failed = failed.into_inner();
    eprintln!(
        "newsmend: {} pages, {} failed, {:.2}s",
        jobs.len(),
        failed,
        start.elapsed().as_secs_f64()
    );
    if failed > 0 {
        EXIT_PAGE_FAILED
    } else {
        EXIT_OK
    }
}

fn write_atomic(target: &Path, buf: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = target.with_extension("jsonl.tmp");
    fs::write(&tmp, buf)?;
    fs::rename(&tmp, target)
}
