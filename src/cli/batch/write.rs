//! Atomic output files: temp file in the target's directory, then rename.
//!
//! * The temp name is `.newsmend-<pid>-<seq>.tmp`: hidden (so walks skip it), unique per process
//!   and per write (`seq` is a process-wide counter), and it can never equal an output (those end
//!   in `.jsonl`) or an input (walks skip `.newsmend-*`). It is created with `O_EXCL`
//!   (`create_new`), so even a stale file of that name from a dead process is never written into.
//! * On any error the temp file is removed and the target is left as it was: a previous output
//!   survives a failed rewrite.
//! * `rename` replaces the target's directory entry and never writes through it, so a target that
//!   is a symlink or a hard link elsewhere leaves the other file untouched. A target that is an
//!   *input* file is refused outright (see [`AtomicWriter::input_ids`]).
//! * Durability: by default data is not fsynced (a crash of the machine may lose recent outputs,
//!   but never leaves a partial one under its final name on a journaling filesystem with
//!   rename-replace ordering, such as ext4's `auto_da_alloc`). `--fsync` syncs each file before
//!   the rename and each output directory at the end, at a large cost in speed.
//! * Live temp files are registered, so that a second Ctrl-C can remove them before exiting
//!   ([`abandon_temps`]).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, RwLock};

use super::faults::Faults;
use super::walk::{file_id, FileId};

/// Temp files that exist right now.
static LIVE_TEMPS: LazyLock<Mutex<HashSet<PathBuf>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// Gate around creating a temp file: workers create theirs under a shared (read) hold, so that
/// they do not wait for each other's `open`; abandoning takes it exclusively, so that no temp
/// file can appear between the clean-up and the exit.
static CREATE_GATE: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Removes every live temp file. Returns holding the creation gate exclusively, so that no new
/// temp file can appear before the caller exits.
pub fn abandon_temps() -> Option<std::sync::RwLockWriteGuard<'static, ()>> {
    let gate = CREATE_GATE.write().ok()?;
    let live = LIVE_TEMPS.lock().ok()?;
    for path in live.iter() {
        let _ = fs::remove_file(path);
    }
    Some(gate)
}

#[derive(Debug, Default)]
pub struct AtomicWriter {
    pub faults: Faults,
    pub fsync: bool,
    /// Identities of input files, when the output tree overlaps an input tree.
    pub input_ids: Option<HashSet<FileId>>,
}

impl AtomicWriter {
    /// Writes `data` to `target` atomically.
    pub fn write(&self, target: &Path, data: &[u8]) -> io::Result<()> {
        self.refuse_inputs(target)?;
        let dir = target.parent().unwrap_or(Path::new("."));
        let n = self.faults.begin_write()?;
        let (tmp, file) = create_temp(dir)?;
        let result = self.fill(n, file, data).and_then(|()| fs::rename(&tmp, target));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        unregister(&tmp);
        result
    }

    fn fill(&self, n: u64, file: File, data: &[u8]) -> io::Result<()> {
        let mut w = self.faults.wrap(n, file);
        w.write_all(data)?;
        w.flush()?;
        if self.fsync {
            w.into_inner().sync_all()?;
        }
        Ok(())
    }

    /// A target that is an input file is never replaced.
    fn refuse_inputs(&self, target: &Path) -> io::Result<()> {
        let Some(ids) = &self.input_ids else {
            return Ok(());
        };
        match fs::symlink_metadata(target) {
            Ok(meta) if ids.contains(&file_id(&meta)) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the output path is an input file; refusing to overwrite it",
            )),
            _ => Ok(()),
        }
    }
}

/// Creates a fresh temp file in `dir` and registers it.
fn create_temp(dir: &Path) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    loop {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".newsmend-{pid}-{seq}.tmp"));
        // Create and register under a shared hold of the gate: a second Ctrl-C (which takes it
        // exclusively) then either sees this path registered or keeps us from creating it.
        let _gate = CREATE_GATE.read().map_err(|_| io::Error::other("temp file gate poisoned"))?;
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => {
                LIVE_TEMPS.lock().map_err(|_| io::Error::other("temp file registry poisoned"))?.insert(tmp.clone());
                return Ok((tmp, f));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn unregister(tmp: &Path) {
    if let Ok(mut live) = LIVE_TEMPS.lock() {
        live.remove(tmp);
    }
}

/// Syncs directories (after renames, for `--fsync`).
pub fn sync_dirs(dirs: &[PathBuf]) -> io::Result<()> {
    for d in dirs {
        File::open(d)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn writes_and_replaces() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("a.jsonl");
        let w = AtomicWriter::default();
        w.write(&target, b"one\n").unwrap();
        w.write(&target, b"two\n").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two\n");
        assert!(leftovers(tmp.path()).is_empty());
    }

    #[test]
    fn disk_full_keeps_the_old_output_and_leaves_no_temp() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("a.jsonl");
        let w = AtomicWriter { faults: Faults::parse("enospc-after=1").unwrap(), ..AtomicWriter::default() };
        w.write(&target, b"first version\n").unwrap();
        let e = w.write(&target, b"second version, longer\n").unwrap_err();
        assert!(super::super::faults::device_failure(&e));
        assert_eq!(fs::read(&target).unwrap(), b"first version\n");
        assert!(leftovers(tmp.path()).is_empty());
    }

    #[test]
    fn unwritable_dir_mid_run() {
        let tmp = tempfile::tempdir().unwrap();
        let w = AtomicWriter { faults: Faults::parse("eacces-after=1").unwrap(), ..AtomicWriter::default() };
        w.write(&tmp.path().join("a.jsonl"), b"x").unwrap();
        let e = w.write(&tmp.path().join("b.jsonl"), b"y").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(!tmp.path().join("b.jsonl").exists());
        assert!(leftovers(tmp.path()).is_empty());
    }

    #[test]
    fn input_files_are_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("page.jsonl");
        fs::write(&input, b"input").unwrap();
        let id = file_id(&fs::metadata(&input).unwrap());
        let w = AtomicWriter { input_ids: Some(HashSet::from([id])), ..AtomicWriter::default() };
        assert!(w.write(&input, b"output").is_err());
        assert_eq!(fs::read(&input).unwrap(), b"input");
        assert!(leftovers(tmp.path()).is_empty());
    }
}
