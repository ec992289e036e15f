//! Criterion benchmarks of each pipeline stage and of the whole pipeline.
//!
//! ```text
//! cargo bench --bench pipeline                 # everything, about 2 minutes
//! cargo bench --bench pipeline -- seed/        # only the seed page
//! cargo bench --bench pipeline -- corpus/      # only the generated corpus
//! NEWSMEND_BENCH_MB=16 cargo bench --bench pipeline -- corpus/pipeline
//! cargo bench --bench pipeline -- damaged/     # decoding pages thick with malformed bytes
//! ```
//!
//! Two inputs:
//!
//! * `seed/…`: one real page: the first plain `*.txt` (no encoding infix) of `samples/seed/`,
//!   `samples/` or `../shared/seed/`, or `$NEWSMEND_BENCH_PAGE`; on a clean clone without them, a
//!   page embedded in this file (`benches/fallback_page.txt`). The name is printed at start.
//! * `corpus/…`: a corpus generated in memory with `examples/support/corpus.rs` (seed 1) from
//!   `samples/`, `../shared/seed` and `../shared/corpus/dev/raw` (or the directories in
//!   `$NEWSMEND_BENCH_SOURCES`, separated by `:`), `$NEWSMEND_BENCH_MB` MB of UTF-8 text (default
//!   4), and the same pages encoded as GB18030.
//!
//! Each input is measured as UTF-8 and as GB18030 bytes. Every benchmark's throughput is the
//! number of **raw input bytes** of its input, so all figures read as "MB/s of raw input" and the
//! stages compare with each other and with the whole pipeline:
//!
//! * `decode/{utf-8,gb18030}`: `newsmend::decode::decode` with detection (what a run does);
//! * `decode-floor/gb18030`: a plain `encoding_rs` GB18030 decode of the same bytes (the cost of
//!   merely decoding, the in-process analogue of `iconv`);
//! * `repair`: `newsmend::repair::paragraphs` (layout, joins and the fused normalization);
//! * `segment`: `newsmend::segment::items` (its input is cloned outside the timed routine);
//! * `emit`: `newsmend::emit::records` and `to_jsonl` (input cloned outside the timed routine);
//! * `pipeline/{utf-8,gb18030}`: `Pipeline::process_bytes` + `emit::to_jsonl`: everything
//!   `newsmend run` does to a page except reading and writing files.
//!
//! Before the corpus benches, one pass of the whole pipeline over the corpus prints the share of
//! each stage as `PageOutput::times` measures it.

#[path = "../examples/support/corpus.rs"]
mod corpus;

/// The allocator of the `newsmend` binary (see `src/main.rs`), so that these figures are those of
/// a run.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: newsmend::alloc::Mimalloc = newsmend::alloc::Mimalloc;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use newsmend::edits::EditLog;
use newsmend::normalize::Scratch;
use newsmend::repair::Paragraph;
use newsmend::segment::Item;
use newsmend::{decode, emit, repair, segment, Pipeline, StageTimes};

use corpus::{Enc, Generator, Sources};

/// A page to use when the crate is built without its samples and the shared data.
const FALLBACK_PAGE: &str = include_str!("fallback_page.txt");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The seed page: (name, decoded text).
fn seed_page() -> (String, String) {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("NEWSMEND_BENCH_PAGE") {
        candidates.push(PathBuf::from(p));
    }
    for dir in ["samples/seed", "samples", "../shared/seed"] {
        let Ok(rd) = std::fs::read_dir(root().join(dir)) else { continue };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                // `name.txt`, not `name.gb18030.txt`: the page as delivered in UTF-8.
                p.extension().is_some_and(|x| x == "txt")
                    && p.file_stem().is_some_and(|s| !s.to_string_lossy().contains('.'))
            })
            .collect();
        files.sort();
        candidates.extend(files);
    }
    for p in candidates {
        if let Ok(bytes) = std::fs::read(&p) {
            if let Ok(d) = decode::decode(&bytes, None) {
                return (p.display().to_string(), d.text);
            }
        }
    }
    ("benches/fallback_page.txt (embedded)".to_string(), FALLBACK_PAGE.to_string())
}

fn sources() -> (String, Sources) {
    let dirs: Vec<PathBuf> = match std::env::var("NEWSMEND_BENCH_SOURCES") {
        Ok(v) => v.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect(),
        Err(_) => ["samples", "../shared/seed", "../shared/corpus/dev/raw"]
            .iter()
            .map(|d| root().join(d))
            .filter(|p| p.is_dir())
            .collect(),
    };
    if let Ok(s) = Sources::load(&dirs) {
        if !s.is_empty() {
            let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            return (names.join(", "), s);
        }
    }
    ("benches/fallback_page.txt (embedded)".to_string(), Sources::from_texts([("fallback", FALLBACK_PAGE)]))
}

fn encode_gb18030(text: &str) -> Vec<u8> {
    encoding_rs::GB18030.encode(text).0.into_owned()
}

/// One input, at every stage boundary, so that each stage can be measured on its own.
struct Input {
    /// Raw bytes of each page, UTF-8 and GB18030.
    utf8: Vec<Vec<u8>>,
    gb18030: Vec<Vec<u8>>,
    /// Decoded text of each page.
    texts: Vec<String>,
    paragraphs: Vec<Vec<Paragraph>>,
    items: Vec<Vec<Item>>,
}

impl Input {
    fn new(pipeline: &Pipeline, utf8: Vec<Vec<u8>>, gb18030: Vec<Vec<u8>>) -> Input {
        let rules = pipeline.rules();
        let texts: Vec<String> = utf8.iter().map(|b| decode::decode(b, None).expect("page decodes").text).collect();
        let mut scratch = Scratch::default();
        let paragraphs: Vec<Vec<Paragraph>> =
            texts.iter().map(|t| repair::paragraphs(rules, t, &mut scratch, &mut EditLog::new(false))).collect();
        let items = paragraphs.iter().map(|p| segment::items(rules, p.clone(), &mut EditLog::new(false))).collect();
        Input { utf8, gb18030, texts, paragraphs, items }
    }

    fn bytes(pages: &[Vec<u8>]) -> u64 {
        pages.iter().map(|p| p.len() as u64).sum()
    }
}

/// The benchmarks of one input, in group `name`.
fn bench_input(c: &mut Criterion, name: &str, input: &Input, pipeline: &Pipeline, large: bool) {
    let rules = pipeline.rules();
    let utf8_bytes = Input::bytes(&input.utf8);
    let gb_bytes = Input::bytes(&input.gb18030);
    let batch = if large { BatchSize::PerIteration } else { BatchSize::SmallInput };
    let mut g = c.benchmark_group(name);
    if large {
        // Each iteration is a whole corpus (tenths of a second): few, flat samples.
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(4));
    }

    g.throughput(Throughput::BytesDecimal(utf8_bytes));
    g.bench_function("decode/utf-8", |b| {
        b.iter(|| {
            for p in &input.utf8 {
                black_box(decode::decode(black_box(p), None).unwrap());
            }
        })
    });
    g.throughput(Throughput::BytesDecimal(gb_bytes));
    g.bench_function("decode/gb18030", |b| {
        b.iter(|| {
            for p in &input.gb18030 {
                black_box(decode::decode(black_box(p), None).unwrap());
            }
        })
    });
    g.bench_function("decode-floor/gb18030", |b| {
        b.iter(|| {
            for p in &input.gb18030 {
                black_box(encoding_rs::GB18030.decode_without_bom_handling(black_box(p)));
            }
        })
    });

    // The text stages run on decoded text; their throughput is still counted in raw UTF-8 bytes.
    g.throughput(Throughput::BytesDecimal(utf8_bytes));
    g.bench_function("repair", |b| {
        let mut scratch = Scratch::default();
        b.iter(|| {
            for t in &input.texts {
                let mut log = EditLog::new(false);
                black_box(repair::paragraphs(rules, black_box(t), &mut scratch, &mut log));
            }
        })
    });
    g.bench_function("segment", |b| {
        b.iter_batched(
            || input.paragraphs.clone(),
            |pages| {
                for p in pages {
                    let mut log = EditLog::new(false);
                    black_box(segment::items(rules, p, &mut log));
                }
            },
            batch,
        )
    });
    g.bench_function("emit", |b| {
        b.iter_batched(
            || input.items.clone(),
            |pages| {
                for (items, text) in pages.into_iter().zip(&input.texts) {
                    let records = emit::records(rules, "bench/page.txt", text, &[], items, false);
                    black_box(emit::to_jsonl(&records));
                }
            },
            batch,
        )
    });

    for (enc, pages, bytes) in [("utf-8", &input.utf8, utf8_bytes), ("gb18030", &input.gb18030, gb_bytes)] {
        g.throughput(Throughput::BytesDecimal(bytes));
        g.bench_function(format!("pipeline/{enc}"), |b| {
            b.iter(|| {
                for p in pages.iter() {
                    let out = pipeline.process_bytes("bench/page.txt", black_box(p)).unwrap();
                    black_box(emit::to_jsonl(&out.records));
                }
            })
        });
    }
    g.finish();
}

/// One untimed-by-criterion pass that prints where `Pipeline::process_bytes` spends its time,
/// by its own `StageTimes`.
fn print_stage_shares(label: &str, pipeline: &Pipeline, pages: &[Vec<u8>]) {
    let mut times = StageTimes::default();
    let mut jsonl = Duration::ZERO;
    let start = std::time::Instant::now();
    for p in pages {
        let out = pipeline.process_bytes("bench/page.txt", p).unwrap();
        times.add(&out.times);
        let t = std::time::Instant::now();
        black_box(emit::to_jsonl(&out.records));
        jsonl += t.elapsed();
    }
    let wall = start.elapsed().as_secs_f64();
    let mb = Input::bytes(pages) as f64 / 1e6;
    let parts = [
        ("decode", times.decode),
        ("repair", times.repair),
        ("segment", times.segment),
        ("emit", times.emit),
        ("to_jsonl", jsonl),
    ];
    let shares: Vec<String> =
        parts.iter().map(|(n, d)| format!("{n} {:.0}%", 100.0 * d.as_secs_f64() / wall)).collect();
    eprintln!("{label}: {mb:.1} MB in {wall:.2}s = {:.1} MB/s; {}", mb / wall, shares.join(", "));
}

fn seed_benches(c: &mut Criterion) {
    let pipeline = Pipeline::builtin();
    let (name, text) = seed_page();
    eprintln!("seed page: {name} ({} bytes UTF-8)", text.len());
    let input = Input::new(&pipeline, vec![text.as_bytes().to_vec()], vec![encode_gb18030(&text)]);
    bench_input(c, "seed", &input, &pipeline, false);
}

fn corpus_benches(c: &mut Criterion) {
    let pipeline = Pipeline::builtin();
    let mb: f64 = std::env::var("NEWSMEND_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(4.0);
    let (from, sources) = sources();
    let mut gen = Generator::new(&sources, 1);
    let mut pages = Vec::new();
    let mut total = 0usize;
    while (total as f64) < mb * 1e6 {
        let p = gen.next_page();
        total += p.text.len();
        pages.push(p);
    }
    let utf8: Vec<Vec<u8>> = pages.iter().map(|p| p.encode(Enc::Utf8)).collect();
    let gb18030: Vec<Vec<u8>> = pages.iter().map(|p| p.encode(Enc::Gb18030)).collect();
    eprintln!(
        "corpus: {} pages from {} source pages ({from}); {:.1} MB UTF-8, {:.1} MB GB18030",
        pages.len(),
        sources.pages.len(),
        Input::bytes(&utf8) as f64 / 1e6,
        Input::bytes(&gb18030) as f64 / 1e6
    );
    print_stage_shares("corpus stage shares, utf-8", &pipeline, &utf8);
    print_stage_shares("corpus stage shares, gb18030", &pipeline, &gb18030);
    let input = Input::new(&pipeline, utf8, gb18030);
    bench_input(c, "corpus", &input, &pipeline, true);
}

/// Large pages with a malformed or slow-path sequence on every line, decoded with detection at
/// 1 MB and at 4 MB: the same MB/s at both sizes says decoding stays linear however many such
/// sequences a page holds (it once took time quadratic in them). Built from the seed page:
///
/// * `damaged/decode/utf-8-bad-byte-per-line-*`: UTF-8 with a byte 0xFF after each line's first
///   character;
/// * `damaged/decode/gb18030-four-byte-per-line-*`: GB18030 with a four-byte character (U+20000,
///   CJK Extension B, as in names) at the start of each line, which the table does not cover.
fn damaged_benches(c: &mut Criterion) {
    let (_, text) = seed_page();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let page = |size: usize, line: &dyn Fn(&str) -> Vec<u8>| {
        let mut out = Vec::with_capacity(size + 4096);
        for l in lines.iter().cycle() {
            if out.len() >= size {
                break;
            }
            out.extend(line(l));
            out.push(b'\n');
        }
        out
    };
    let bad_byte = |l: &str| {
        let first = l.chars().next().map_or(0, char::len_utf8);
        [&l.as_bytes()[..first], b"\xFF", &l.as_bytes()[first..]].concat()
    };
    let four_byte = |l: &str| encode_gb18030(&format!("\u{20000}{l}"));
    let mut g = c.benchmark_group("damaged");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    for (name, line) in
        [("utf-8-bad-byte-per-line", &bad_byte as &dyn Fn(&str) -> Vec<u8>), ("gb18030-four-byte-per-line", &four_byte)]
    {
        for mb in [1, 4] {
            let bytes = page(mb * 1_000_000, line);
            g.throughput(Throughput::BytesDecimal(bytes.len() as u64));
            g.bench_function(format!("decode/{name}-{mb}mb"), |b| b.iter(|| decode::decode(black_box(&bytes), None)));
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = seed_benches, corpus_benches, damaged_benches
}
criterion_main!(benches);
