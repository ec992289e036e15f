//! `OUT/.newsmend-manifest.json`: what made the outputs in OUT, so that `--resume` can trust them.
//!
//! It records the settings that change the bytes of an output (tool version, rules fingerprint,
//! `--explain`, `--encoding`) and `valid_since`, the filesystem time from which outputs were made
//! with those settings. An output counts as done when it is a regular file whose mtime is
//! `>= valid_since` and `>` its input's mtime.
//!
//! Why a moment and not just the settings: a run with new settings rewrites the manifest before
//! its first output, and if it is killed halfway, OUT holds old and new outputs side by side. The
//! old ones are older than `valid_since`, so a resume redoes them.
//!
//! `valid_since` is taken from the filesystem's own clock, not the process's: a probe file is
//! rewritten until its mtime moves past the mtime it had first (file timestamps come from a coarse
//! kernel clock, up to a tick behind `SystemTime::now()`), so every older output is strictly before
//! it and every newer one at or after it. On filesystems with 1–2 s timestamps this waits that
//! long, once, when the settings change. The scheme assumes that the filesystem clock does not go
//! backwards between runs (as `make` does).
//!
//! The manifest is only rewritten when the settings change, so resuming keeps the moment.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::write::AtomicWriter;

/// The manifest's file name in OUT.
pub const NAME: &str = ".newsmend-manifest.json";

/// What determines the bytes of an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub tool: String,
    pub version: String,
    pub rules_fingerprint: String,
    pub explain: bool,
    pub encoding: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    #[serde(flatten)]
    settings: Settings,
    valid_since: SystemTime,
}

/// The outcome of [`prepare`].
#[derive(Debug, Clone, Copy)]
pub struct Manifest {
    pub valid_since: SystemTime,
    /// The manifest already had these settings (outputs from earlier runs are usable).
    pub reused: bool,
}

/// Checks that OUT is writable, and reads or (re)writes the manifest.
pub fn prepare(out: &Path, settings: &Settings) -> io::Result<Manifest> {
    let probe = out.join(format!(".newsmend-probe-{}.tmp", std::process::id()));
    let result = prepare_with_probe(out, &probe, settings);
    let _ = fs::remove_file(&probe);
    result
}

fn prepare_with_probe(out: &Path, probe: &Path, settings: &Settings) -> io::Result<Manifest> {
    let first = touch(probe)?;
    if let Some(existing) = read(out).filter(|m| m.settings == *settings) {
        return Ok(Manifest { valid_since: existing.valid_since, reused: true });
    }
    let valid_since = next_fs_moment(probe, first)?;
    let file = File { settings: settings.clone(), valid_since };
    let json = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
    AtomicWriter::default().write(&out.join(NAME), &json)?;
    Ok(Manifest { valid_since, reused: false })
}

/// The manifest in OUT, if there is a readable one.
fn read(out: &Path) -> Option<File> {
    let bytes = fs::read(out.join(NAME)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Rewrites the probe and returns its new mtime.
fn touch(probe: &Path) -> io::Result<SystemTime> {
    let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(probe)?;
    f.write_all(b"newsmend write probe\n")?;
    f.metadata()?.modified()
}

/// The first filesystem time strictly after `after`, as seen on the probe.
fn next_fs_moment(probe: &Path, after: SystemTime) -> io::Result<SystemTime> {
    let start = Instant::now();
    loop {
        let now = touch(probe)?;
        if now > after || start.elapsed() > Duration::from_secs(5) {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Is the output at `target` done, for an input last modified at `input_mtime`?
pub fn is_done(target: &Path, input_mtime: SystemTime, manifest: &Manifest) -> bool {
    match fs::symlink_metadata(target) {
        Ok(m) if m.is_file() => m.modified().is_ok_and(|t| t >= manifest.valid_since && t > input_mtime),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(fp: &str) -> Settings {
        Settings {
            tool: "newsmend".into(),
            version: "0.0.0".into(),
            rules_fingerprint: fp.into(),
            explain: false,
            encoding: None,
        }
    }

    #[test]
    fn same_settings_keep_the_moment_new_ones_move_it() {
        let tmp = tempfile::tempdir().unwrap();
        let a = prepare(tmp.path(), &settings("a")).unwrap();
        assert!(!a.reused);
        let old_output = tmp.path().join("old.jsonl");
        fs::write(&old_output, "x").unwrap();
        let again = prepare(tmp.path(), &settings("a")).unwrap();
        assert!(again.reused);
        assert_eq!(again.valid_since, a.valid_since);
        let input_mtime = SystemTime::UNIX_EPOCH;
        assert!(is_done(&old_output, input_mtime, &again));
        let b = prepare(tmp.path(), &settings("b")).unwrap();
        assert!(!b.reused);
        assert!(b.valid_since > a.valid_since);
        assert!(!is_done(&old_output, input_mtime, &b), "an output made with other settings is not done");
        let probes: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(probes.is_empty());
    }

    #[test]
    fn unwritable_out_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, "x").unwrap();
        assert!(prepare(&file, &settings("a")).is_err());
    }
}
