//! Progress of a batch run, always on stderr (stdout belongs to `--stdout` records).
//!
//! * stderr is a terminal: an indicatif bar (files done of total, bytes, MB/s, ETA);
//! * stderr is a file or pipe (CI logs, `nohup`): one plain line every 5 seconds, so a log shows
//!   that a long run is alive without filling up;
//! * `--quiet`: nothing but failures and errors.
//!
//! Messages about single pages go through [`Progress::println`], so that they do not tear the bar.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

const LINE_EVERY: Duration = Duration::from_secs(5);

/// Counters the display is made of.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub done: u64,
    pub total: u64,
    pub bytes: u64,
    pub failed: u64,
}

#[derive(Debug)]
pub enum Progress {
    Bar(ProgressBar),
    Lines { last: Instant, start: Instant },
    Silent,
}

impl Progress {
    pub fn new(total: u64, quiet: bool) -> Progress {
        if quiet {
            return Progress::Silent;
        }
        if !std::io::stderr().is_terminal() {
            let now = Instant::now();
            return Progress::Lines { last: now, start: now };
        }
        // `wide_bar` takes what the line leaves, so the bar does not wrap on a narrow terminal.
        let style =
            ProgressStyle::with_template("{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} files {msg} ETA {eta}")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(total).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress::Bar(bar)
    }

    pub fn update(&mut self, c: Counts) {
        match self {
            Progress::Bar(bar) => {
                bar.set_position(c.done);
                let secs = bar.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "{:.1} MB {:.1} MB/s {} failed",
                    c.bytes as f64 / 1e6,
                    c.bytes as f64 / 1e6 / secs,
                    c.failed
                ));
            }
            Progress::Lines { last, start } => {
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    eprintln!("{}", line(c, start.elapsed()));
                }
            }
            Progress::Silent => {}
        }
    }

    /// Prints a message line (above the bar, if there is one).
    pub fn println(&self, msg: &str) {
        match self {
            Progress::Bar(bar) => bar.println(msg),
            _ => eprintln!("{msg}"),
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// One plain progress line.
fn line(c: Counts, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let pct = if c.total == 0 { 100.0 } else { c.done as f64 * 100.0 / c.total as f64 };
    let eta = if c.done == 0 {
        "?".to_string()
    } else {
        let rest = secs * (c.total.saturating_sub(c.done)) as f64 / c.done as f64;
        format!("{rest:.0}s")
    };
    format!(
        "newsmend: {}/{} files ({pct:.0}%), {:.1} MB, {:.1} MB/s, {} failed, ETA {eta}",
        c.done,
        c.total,
        c.bytes as f64 / 1e6,
        c.bytes as f64 / 1e6 / secs,
        c.failed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line() {
        let l = line(Counts { done: 50, total: 200, bytes: 5_000_000, failed: 1 }, Duration::from_secs(10));
        assert_eq!(l, "newsmend: 50/200 files (25%), 5.0 MB, 0.5 MB/s, 1 failed, ETA 30s");
    }
}
