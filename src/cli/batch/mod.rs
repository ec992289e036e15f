//! The machinery behind `newsmend run` and `newsmend stream`: listing inputs, mapping them to
//! output paths, running pages on a bounded pool of workers, writing outputs atomically, resuming,
//! and reporting.
//!
//! The library ([`newsmend::Pipeline`]) never touches the filesystem; everything here is about
//! doing I/O over millions of files so that a data team can trust the result. The decisions, and
//! why:
//!
//! * **Memory is bounded by pages in flight, not by the number of files.** Only the listing (paths)
//!   is held for the whole run. Each worker holds a chunk of up to 64 pages (one in stream mode);
//!   results go to the calling thread through a window of at most `256 × jobs` pages (`4 × jobs`
//!   in stream mode) ([`engine`]), which is also the reorder buffer
//!   that keeps `--stdout` and `stream` output in input order.
//! * **Nothing escapes OUT, nothing is clobbered** ([`target`]). Output paths are built from
//!   `OsStr` components that the walk produced (never from lossy strings), every component is
//!   checked to be a plain name, output directories are created one component at a time and a
//!   symlink among them is refused, temp files are created with `O_EXCL`, and a target that is an
//!   input file is refused. Two inputs mapping to one output: the second (in input order) fails.
//! * **Atomic outputs** ([`write`]): each output is written to an unnamed file in its final
//!   directory and linked under its name when whole (Linux), or to a hidden temp file there
//!   (`.newsmend-<pid>-<seq>.tmp`, which can never be an output name since outputs end in
//!   `.jsonl`) renamed over the target (a rewrite, other systems). A reader never sees half a
//!   file; a failed write leaves the previous output, if any, untouched.
//! * **Resume** ([`manifest`]): `OUT/.newsmend-manifest.json` records the tool version, the rules
//!   fingerprint and the options that change records, plus the moment from which outputs were
//!   made with those settings. An output counts as done when it is newer than that moment and
//!   newer than its input.
//! * **Faults are isolated and reported** with one-line reasons; a full or read-only output device
//!   stops the run (every later write would fail too) but loses nothing already written.
//! * **Ctrl-C** ([`interrupt`]) stops dispatching; pages in flight finish and are written whole;
//!   the summary says `"interrupted": true`; a second Ctrl-C removes live temp files and exits.

pub mod engine;
pub mod faults;
pub mod gather;
pub mod glob;
pub mod interrupt;
pub mod manifest;
pub mod progress;
pub mod summary;
pub mod target;
pub mod walk;
pub mod write;

/// Parses a byte size: a number with an optional binary suffix `K`, `M`, `G`, `T` (with or without
/// `i`/`B`: `256M`, `256MiB`, `1G`, `1048576`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a size (e.g. 1048576, 256M, 1G)"))?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("`{s}`: unknown size suffix (use K, M, G or T)")),
    };
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("`{s}` is too large"))
}

/// A path as one line of text: lossy for invalid UTF-8, control characters (a newline in a file
/// name) escaped, so that a message about a file is always exactly one line.
pub fn one_line(path: &std::path::Path) -> String {
    let s = path.to_string_lossy();
    if !s.chars().any(char::is_control) {
        return s.into_owned();
    }
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Number of worker threads: `--jobs`, or all cores.
pub fn worker_count(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1)
}

/// A thread pool of our own (never rayon's global one, so that the library user's pool and ours do
/// not interfere, and `--jobs` means exactly that many workers).
pub fn thread_pool(workers: usize) -> Result<rayon::ThreadPool, String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("newsmend-worker-{i}"))
        .build()
        .map_err(|e| format!("cannot start {workers} worker threads: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999T").is_err());
    }

    #[test]
    fn one_line_escapes_newlines() {
        assert_eq!(one_line(std::path::Path::new("a\nb.txt")), "a\\nb.txt");
        assert_eq!(one_line(std::path::Path::new("a/b.txt")), "a/b.txt");
    }
}
