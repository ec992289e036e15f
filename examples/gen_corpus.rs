//! Generates a large synthetic corpus of raw pages for throughput measurements, by recombining
//! the articles of real pages (see `examples/support/corpus.rs` for how).
//!
//! ```text
//! cargo run --release --example gen_corpus -- \
//!     --from ../shared/corpus/dev/raw --from ../shared/seed \
//!     --out /tmp/newsmend-bench/gb18030-200mb --mb 200 --encoding gb18030 --seed 1
//! ```
//!
//! * `--from DIR…` (repeatable, or several paths after one `--from`): directories or files of raw
//!   pages (`*.txt`, any encoding newsmend decodes). Default: `samples/`, `../shared/seed` and
//!   `../shared/corpus/dev/raw` next to the crate, those that exist.
//! * `--out DIR`: where to write; refused inside the repository. Pages go to
//!   `DIR/dNNNN/pNNNNNNN.txt`, 1000 per directory, and `DIR/corpus.json` describes the corpus.
//! * `--mb N`: at least N MB (10^6 bytes) of encoded pages. Default 200.
//! * `--encoding utf-8|gb18030|utf-16le`: default utf-8. CRLF line ends and UTF-8 BOMs follow the
//!   source page each generated page was modelled on.
//! * `--seed S`: default 1. The same seed and sources always give the same bytes.
//! * `--force`: replace an existing corpus in `DIR` (only a directory that holds a `corpus.json`
//!   written by this tool is ever deleted). Without it, a `DIR` that already holds the same corpus
//!   (same parameters and sources) is kept as it is, and any other non-empty `DIR` is an error.

#[path = "support/corpus.rs"]
mod corpus;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use corpus::{Enc, Generator, Sources};

const USAGE: &str =
    "usage: gen_corpus --out DIR [--from DIR...] [--mb N] [--encoding utf-8|gb18030|utf-16le] [--seed S] [--force]";
const MANIFEST: &str = "corpus.json";
const PAGES_PER_DIR: usize = 1000;

struct Args {
    from: Vec<PathBuf>,
    out: PathBuf,
    mb: f64,
    enc: Enc,
    seed: u64,
    force: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut from = Vec::new();
    let mut out = None;
    let mut mb: f64 = 200.0;
    let mut enc = Enc::Utf8;
    let mut seed = 1;
    let mut force = false;
    let mut it = std::env::args().skip(1).peekable();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--from" => {
                from.push(PathBuf::from(value("--from")?));
                // `--from A B C`: the paths up to the next option.
                while let Some(p) = it.next_if(|p| !p.starts_with("--")) {
                    from.push(PathBuf::from(p));
                }
            }
            "--out" | "-o" => out = Some(PathBuf::from(value("--out")?)),
            "--mb" => mb = value("--mb")?.parse().map_err(|e| format!("--mb: {e}"))?,
            "--encoding" => {
                let v = value("--encoding")?;
                enc = Enc::parse(&v)
                    .ok_or_else(|| format!("--encoding: `{v}` is not one of utf-8, gb18030, utf-16le"))?;
            }
            "--seed" => seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--force" => force = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    let out = out.ok_or_else(|| format!("--out is required\n{USAGE}"))?;
    if !mb.is_finite() || mb <= 0.0 {
        return Err("--mb must be positive".into());
    }
    if from.is_empty() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        from = [root.join("samples"), root.join("../shared/seed"), root.join("../shared/corpus/dev/raw")]
            .into_iter()
            .filter(|p| p.is_dir())
            .collect();
        if from.is_empty() {
            return Err("no --from given and no default source directory exists".into());
        }
    }
    Ok(Args { from, out, mb, enc, seed, force })
}

/// The absolute, symlink-free form of `p`, or of its nearest existing ancestor joined with the rest.
fn resolve(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut r = existing.canonicalize().unwrap_or_else(|_| existing.to_path_buf());
    for name in rest.into_iter().rev() {
        r.push(name);
    }
    r
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_corpus: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let repo = resolve(Path::new(env!("CARGO_MANIFEST_DIR")));
    let out = resolve(&args.out);
    if out.starts_with(&repo) {
        return Err(format!("refusing to write into the repository ({}); write under /tmp", out.display()));
    }

    let t0 = Instant::now();
    let sources = Sources::load(&args.from).map_err(|e| format!("reading sources: {e}"))?;
    for (p, why) in &sources.skipped {
        eprintln!("gen_corpus: skipped {}: {why}", p.display());
    }
    if sources.is_empty() {
        return Err("no usable source pages".into());
    }
    let target = (args.mb * 1e6) as usize;
    // What the corpus is: written last, so a corpus.json means a complete corpus.
    let params = format!(
        "\"generator\": \"newsmend gen_corpus 1\", \"seed\": {}, \"encoding\": {}, \"mb\": {}, \"sources\": [{}], \"source_pages\": {}, \"source_fingerprint\": \"{:016x}\"",
        args.seed,
        json_str(args.enc.name()),
        args.mb,
        args.from.iter().map(|p| json_str(&resolve(p).display().to_string())).collect::<Vec<_>>().join(", "),
        sources.pages.len(),
        sources.fingerprint
    );
    let manifest = out.join(MANIFEST);
    if out.exists() {
        let old = fs::read_to_string(&manifest).ok();
        let nonempty = fs::read_dir(&out).map_err(|e| format!("{}: {e}", out.display()))?.next().is_some();
        match old {
            Some(old) if old.contains(&params) && !args.force => {
                eprintln!("gen_corpus: {} already holds this corpus; kept (use --force to rewrite)", out.display());
                println!("{}", out.display());
                return Ok(());
            }
            Some(_) if args.force => fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?,
            Some(_) => return Err(format!("{} holds another corpus; use --force to replace it", out.display())),
            None if nonempty => {
                return Err(format!(
                    "{} is not empty and is not a generated corpus; refusing to touch it",
                    out.display()
                ))
            }
            None => {}
        }
    }
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    eprintln!(
        "gen_corpus: {} source pages ({} articles, {} layouts, {:.1} MB decoded); writing ≥{} MB of {} to {}",
        sources.pages.len(),
        sources.article_count(),
        sources.layouts(),
        sources.total_len() as f64 / 1e6,
        args.mb,
        args.enc,
        out.display()
    );
    let mut gen = Generator::new(&sources, args.seed);
    let mut total = 0usize;
    let mut pages = 0usize;
    while total < target {
        let bytes = gen.next_page().encode(args.enc);
        let dir = out.join(format!("d{:04}", pages / PAGES_PER_DIR));
        if pages % PAGES_PER_DIR == 0 {
            fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let path = dir.join(format!("p{pages:07}.txt"));
        fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        total += bytes.len();
        pages += 1;
    }
    let mut f = fs::File::create(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    writeln!(f, "{{{params}, \"pages\": {pages}, \"bytes\": {total}}}")
        .map_err(|e| format!("{}: {e}", manifest.display()))?;
    eprintln!("gen_corpus: {pages} pages, {total} bytes in {:.1}s", t0.elapsed().as_secs_f64());
    println!("{}", out.display());
    Ok(())
}
