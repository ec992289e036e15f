//! The run summary: what `OUT/summary.json` holds, and the `--stats` table.
//!
//! Determinism: for the same inputs and options the summary is byte-identical whatever `--jobs`,
//! except the `timings` object, which holds everything that depends on the clock or on the
//! machine (including `jobs`): tests and users can drop that one key and compare the rest. Maps
//! are sorted by key; failures are in input order.

use std::collections::BTreeMap;
use std::time::Duration;

use newsmend::{Kind, PageOutput, StageTimes};
use serde::Serialize;

use super::walk::{Note, WalkCounts};

/// What one processed page contributes to the summary.
#[derive(Debug, Default)]
pub struct PageStats {
    pub bytes: u64,
    pub records_by_kind: [u64; 4],
    pub edit_counts: Vec<u64>,
    pub flags: BTreeMap<String, u64>,
    pub encoding: &'static str,
    pub malformed: u64,
    pub times: StageTimes,
    pub read: Duration,
    pub write: Duration,
}

impl PageStats {
    pub fn new(out: &PageOutput, bytes: u64) -> PageStats {
        let mut s = PageStats {
            bytes,
            edit_counts: out.edit_counts.clone(),
            encoding: out.encoding,
            malformed: out.malformed as u64,
            times: out.times,
            ..PageStats::default()
        };
        for r in &out.records {
            s.records_by_kind[kind_index(r.kind)] += 1;
            for f in &r.flags {
                *s.flags.entry(f.code.clone()).or_default() += 1;
            }
        }
        s
    }

    pub fn records(&self) -> u64 {
        self.records_by_kind.iter().sum()
    }
}

fn kind_index(k: Kind) -> usize {
    Kind::ALL.iter().position(|&x| x == k).unwrap_or(0)
}

/// Running totals over the pages of a run (or a stream).
#[derive(Debug, Default)]
pub struct Tally {
    pub processed: u64,
    pub empty: u64,
    pub skipped_resume: u64,
    pub bytes: u64,
    pub records_by_kind: [u64; 4],
    pub edits: Vec<u64>,
    pub flags: BTreeMap<String, u64>,
    pub encodings: BTreeMap<&'static str, u64>,
    pub malformed: u64,
    /// (input index, failure), sorted by index at the end.
    pub failures: Vec<(usize, Note)>,
    pub times: StageTimes,
    pub read: Duration,
    pub write: Duration,
}

impl Tally {
    pub fn add_page(&mut self, s: PageStats) {
        self.processed += 1;
        if s.records() == 0 {
            self.empty += 1;
        }
        self.bytes += s.bytes;
        for (t, n) in self.records_by_kind.iter_mut().zip(s.records_by_kind) {
            *t += n;
        }
        if self.edits.len() < s.edit_counts.len() {
            self.edits.resize(s.edit_counts.len(), 0);
        }
        for (t, n) in self.edits.iter_mut().zip(&s.edit_counts) {
            *t += n;
        }
        for (code, n) in s.flags {
            *self.flags.entry(code).or_default() += n;
        }
        *self.encodings.entry(s.encoding).or_default() += 1;
        self.malformed += s.malformed;
        self.times.add(&s.times);
        self.read += s.read;
        self.write += s.write;
    }

    pub fn add_failure(&mut self, index: usize, path: String, reason: String) {
        self.failures.push((index, Note { path, reason }));
    }

    pub fn records(&self) -> u64 {
        self.records_by_kind.iter().sum()
    }

    /// Records by kind, every kind present.
    pub fn by_kind(&self) -> BTreeMap<&'static str, u64> {
        Kind::ALL.iter().map(|k| (k.as_str(), self.records_by_kind[kind_index(*k)])).collect()
    }

    /// Edits by rule id (rules that made no edit are left out).
    pub fn edits_by_rule(&self, rule_id: impl Fn(usize) -> String) -> BTreeMap<String, u64> {
        self.edits.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| (rule_id(i), n)).collect()
    }
}

/// `OUT/summary.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub tool: &'static str,
    pub version: &'static str,
    pub settings: Settings,
    pub inputs: Vec<String>,
    /// OUT, or `-` for `--stdout`.
    pub output: String,
    /// Every listed page has an up-to-date output, nothing failed, nothing was interrupted.
    pub complete: bool,
    pub interrupted: bool,
    /// Why the run stopped early on its own (output device full or read-only, stdout closed).
    pub aborted: Option<String>,
    pub files: Files,
    pub bytes: u64,
    pub records: Records,
    pub edits: BTreeMap<String, u64>,
    pub flags: BTreeMap<String, u64>,
    pub encodings: BTreeMap<String, u64>,
    pub malformed_sequences: u64,
    pub walk: WalkCounts,
    /// Passed over on purpose: symlinks not followed, loops, special files.
    pub skipped: Vec<Note>,
    /// Directories that could not be listed, then pages that failed, in input order.
    pub failures: Vec<Note>,
    pub timings: Timings,
}

/// The options that shaped the run.
#[derive(Debug, Serialize)]
pub struct Settings {
    pub rules_fingerprint: String,
    pub explain: bool,
    pub encoding: Option<String>,
    pub ext: Vec<String>,
    pub glob: Vec<String>,
    pub hidden: bool,
    pub symlinks: super::walk::Symlinks,
    pub max_page_bytes: u64,
    pub resume: bool,
}

#[derive(Debug, Serialize)]
pub struct Files {
    /// Pages found by the walk.
    pub listed: u64,
    /// Pages read and processed in this run (including failed writes).
    pub processed: u64,
    /// Pages whose output was already up to date (`--resume`).
    pub skipped_resume: u64,
    pub failed: u64,
    /// Pages not reached because the run stopped early.
    pub not_started: u64,
    /// Processed pages that gave no record (empty or whitespace-only).
    pub empty: u64,
}

#[derive(Debug, Serialize)]
pub struct Records {
    pub total: u64,
    pub by_kind: BTreeMap<&'static str, u64>,
}

/// Everything that depends on the clock or the machine.
#[derive(Debug, Serialize)]
pub struct Timings {
    pub jobs: usize,
    pub wall_s: f64,
    pub mb_per_s: f64,
    pub pages_per_s: f64,
    /// Seconds summed over all workers, by stage.
    pub cpu_s: StageSeconds,
}

#[derive(Debug, Serialize)]
pub struct StageSeconds {
    pub read: f64,
    pub decode: f64,
    pub repair: f64,
    pub segment: f64,
    pub emit: f64,
    pub write: f64,
}

impl Timings {
    pub fn new(t: &Tally, jobs: usize, wall: Duration) -> Timings {
        let wall_s = wall.as_secs_f64();
        let per_s = |x: f64| if wall_s > 0.0 { round3(x / wall_s) } else { 0.0 };
        Timings {
            jobs,
            wall_s: round3(wall_s),
            mb_per_s: per_s(t.bytes as f64 / 1e6),
            pages_per_s: per_s(t.processed as f64),
            cpu_s: StageSeconds {
                read: round3(t.read.as_secs_f64()),
                decode: round3(t.times.decode.as_secs_f64()),
                repair: round3(t.times.repair.as_secs_f64()),
                segment: round3(t.times.segment.as_secs_f64()),
                emit: round3(t.times.emit.as_secs_f64()),
                write: round3(t.write.as_secs_f64()),
            },
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The `--stats` table: time by stage, summed over workers.
pub fn stats_table(t: &Timings) -> String {
    let c = &t.cpu_s;
    let rows = [
        ("read", c.read),
        ("decode", c.decode),
        ("repair", c.repair),
        ("segment", c.segment),
        ("emit", c.emit),
        ("write", c.write),
    ];
    let total: f64 = rows.iter().map(|r| r.1).sum::<f64>().max(1e-9);
    let mut out = format!(
        "stage        cpu s   share   ({} workers, {:.3} s wall, {:.2} MB/s, {:.1} pages/s)\n",
        t.jobs, t.wall_s, t.mb_per_s, t.pages_per_s
    );
    for (name, secs) in rows {
        out.push_str(&format!("{name:<8} {secs:>9.3} {:>6.1}%\n", secs * 100.0 / total));
    }
    out
}

/// A page rate for people: whole pages a second, with a decimal below ten (a run of a few large
/// pages reads `0.4`, not `0`).
fn pages_per_s(rate: f64) -> String {
    if rate < 10.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.0}")
    }
}

/// The one-line account printed at the end of a run.
pub fn one_line(s: &Summary) -> String {
    let f = &s.files;
    let mut line = format!(
        "newsmend: {} pages: {} processed, {} failed, {} records, {:.2} MB in {:.2} s ({:.2} MB/s, {} pages/s)",
        f.listed,
        f.processed,
        f.failed,
        s.records.total,
        s.bytes as f64 / 1e6,
        s.timings.wall_s,
        s.timings.mb_per_s,
        pages_per_s(s.timings.pages_per_s)
    );
    if f.skipped_resume > 0 {
        line.push_str(&format!(", {} already done", f.skipped_resume));
    }
    if f.not_started > 0 {
        line.push_str(&format!(", {} not started", f.not_started));
    }
    // Failures that are not pages: directories or entries the walk could not read.
    let walk_failures = (s.failures.len() as u64).saturating_sub(f.failed);
    if walk_failures > 0 {
        line.push_str(&format!(", {walk_failures} unreadable in the walk"));
    }
    if s.interrupted {
        line.push_str(", interrupted");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_page_rates_keep_a_decimal() {
        assert_eq!(pages_per_s(0.38), "0.4");
        assert_eq!(pages_per_s(9.94), "9.9");
        assert_eq!(pages_per_s(35.2), "35");
        assert_eq!(pages_per_s(28_571.4), "28571");
    }

    #[test]
    fn tally_adds_up() {
        let mut t = Tally::default();
        let mut a = PageStats { bytes: 10, edit_counts: vec![1, 0, 2], encoding: "UTF-8", ..PageStats::default() };
        a.records_by_kind = [2, 0, 1, 0];
        a.flags.insert("join.lost-char".into(), 1);
        t.add_page(a);
        t.add_page(PageStats { bytes: 5, edit_counts: vec![0, 0, 1, 4], encoding: "gb18030", ..PageStats::default() });
        assert_eq!(t.processed, 2);
        assert_eq!(t.empty, 1);
        assert_eq!(t.bytes, 15);
        assert_eq!(t.records(), 3);
        assert_eq!(t.edits, vec![1, 0, 3, 4]);
        let by_rule = t.edits_by_rule(|i| format!("r{i}"));
        assert_eq!(by_rule.keys().collect::<Vec<_>>(), ["r0", "r2", "r3"]);
        assert_eq!(t.by_kind()["article"], 2);
        assert_eq!(t.encodings.len(), 2);
    }
}
