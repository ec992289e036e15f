//! Atomic output files: an output appears under its name only once it is whole.
//!
//! * On Linux the data goes into an unnamed file in the target's directory (`O_TMPFILE`), which
//!   is then given its name with `linkat`. A process that dies before that (SIGKILL, a crash, a
//!   full disk) leaves nothing behind: the kernel frees an unnamed file when it is closed. And the
//!   file's inode is allocated outside the directory's lock: with a named temp file, creating it
//!   and renaming it both hold that lock, and on ext4 two workers creating files in one directory
//!   waited on each other (see [`unnamed`]).
//! * Where the target exists already (a rerun), or where unnamed files cannot be made (another
//!   OS, a filesystem without `O_TMPFILE`, no `/proc`), the data goes to a named temp file
//!   (`.newsmend-<pid>-<seq>.tmp`) that is renamed over the target. The name is hidden (so walks
//!   skip it), unique per process and per write (`seq` is a process-wide counter), and can never
//!   equal an output (those end in `.jsonl`) or an input (walks skip `.newsmend-*`). It is created
//!   with `O_EXCL`, so even a stale file of that name from a dead process is never written into.
//! * On any error the temp file is removed and the target is left as it was: a previous output
//!   survives a failed rewrite.
//! * `rename` and `linkat` make a new directory entry and never write through an existing one,
//!   so a target that is a symlink or a hard link elsewhere leaves the other file untouched. A
//!   target that is an *input* file is refused outright (see [`AtomicWriter::input_ids`]).
//! * Durability: by default data is not fsynced (a crash of the machine may lose recent outputs,
//!   but never leaves a partial one under its final name on a journaling filesystem with
//!   rename-replace ordering, such as ext4's `auto_da_alloc`). `--fsync` syncs each file before
//!   it is named and each output directory at the end, at a large cost in speed.
//! * Live named temp files are registered, so that a second Ctrl-C can remove them before exiting
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
    /// Always write through a named temp file, never an unnamed one (tests of that path).
    pub named_temps: bool,
}

impl AtomicWriter {
    /// Writes `data` to `target` atomically.
    pub fn write(&self, target: &Path, data: &[u8]) -> io::Result<()> {
        self.refuse_inputs(target)?;
        let dir = target.parent().unwrap_or(Path::new("."));
        let n = self.faults.begin_write()?;
        #[cfg(target_os = "linux")]
        if !self.named_temps && unnamed::usable() {
            let refused = match unnamed::create(dir) {
                Ok(file) => {
                    self.fill(n, &file, data)?;
                    match unnamed::link(&file, target) {
                        Ok(()) => return Ok(()),
                        // A rerun: the unnamed file gets a temp name, which replaces the target.
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                            let (tmp, ()) = new_temp(dir, |tmp| unnamed::link(&file, tmp))?;
                            return settle(&tmp, fs::rename(&tmp, target));
                        }
                        Err(_) => true,
                    }
                }
                Err(_) => true,
            };
            // Making or naming the unnamed file failed: a filesystem without them, a sandbox
            // that refuses links through /proc, or a directory that refuses any new file. The
            // named way tells which: if it works, unnamed files are given up for the rest of the
            // run; if it fails too, its error is the write's, and the next write tries again.
            let result = self.write_named(n, dir, target, data);
            if refused && result.is_ok() {
                unnamed::give_up();
            }
            return result;
        }
        self.write_named(n, dir, target, data)
    }

    /// Writes through a named temp file in `dir`, renamed over `target`.
    fn write_named(&self, n: u64, dir: &Path, target: &Path, data: &[u8]) -> io::Result<()> {
        let (tmp, file) = new_temp(dir, |tmp| OpenOptions::new().write(true).create_new(true).open(tmp))?;
        let filled = self.fill(n, &file, data);
        // Closed before the rename: some systems (Windows) refuse to rename an open file.
        drop(file);
        settle(&tmp, filled.and_then(|()| fs::rename(&tmp, target)))
    }

    fn fill(&self, n: u64, file: &File, data: &[u8]) -> io::Result<()> {
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

/// Makes a fresh temp file in `dir` with `make` (which fails with `AlreadyExists` when the name
/// is taken) and registers it.
fn new_temp<T>(dir: &Path, make: impl Fn(&Path) -> io::Result<T>) -> io::Result<(PathBuf, T)> {
    let pid = std::process::id();
    loop {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".newsmend-{pid}-{seq}.tmp"));
        // Create and register under a shared hold of the gate: a second Ctrl-C (which takes it
        // exclusively) then either sees this path registered or keeps us from creating it.
        let _gate = CREATE_GATE.read().map_err(|_| io::Error::other("temp file gate poisoned"))?;
        match make(&tmp) {
            Ok(made) => {
                LIVE_TEMPS.lock().map_err(|_| io::Error::other("temp file registry poisoned"))?.insert(tmp.clone());
                return Ok((tmp, made));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Ends the life of the registered temp file `tmp`, given what became of it: renamed over its
/// target (`Ok`), or not, and then removed.
fn settle(tmp: &Path, result: io::Result<()>) -> io::Result<()> {
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    unregister(tmp);
    result
}

fn unregister(tmp: &Path) {
    if let Ok(mut live) = LIVE_TEMPS.lock() {
        live.remove(tmp);
    }
}

/// Unnamed files (`O_TMPFILE`, Linux 3.11 and later), named with `linkat` through
/// `/proc/self/fd`.
///
/// Why: a named temp file is created with the directory's lock held while the filesystem finds a
/// free inode, and renamed with it held again. On ext4, right after many files were deleted,
/// finding an inode is slow (`find_inode_bit` → `recently_deleted` in `perf`), and a second worker
/// creating a file in the same directory spun on the lock (`rwsem_spin_on_owner`, a third of the
/// samples): `-o` on two cores was 1.60–1.75× one core, against 1.78–1.82× on tmpfs. An unnamed
/// file's inode is allocated without the directory's lock, and naming it is one directory entry
/// instead of two (create and rename).
#[cfg(target_os = "linux")]
mod unnamed {
    use std::ffi::CString;
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::OnceLock;

    /// Cleared for the rest of the process once a named temp file worked where an unnamed one
    /// did not.
    static USABLE: AtomicBool = AtomicBool::new(true);

    /// Are unnamed files worth trying? Naming one goes through /proc (`linkat` with
    /// `AT_EMPTY_PATH` would need a capability).
    pub fn usable() -> bool {
        static PROC: OnceLock<bool> = OnceLock::new();
        USABLE.load(Ordering::Relaxed) && *PROC.get_or_init(|| Path::new("/proc/self/fd").is_dir())
    }

    pub fn give_up() {
        USABLE.store(false, Ordering::Relaxed);
    }

    /// An unnamed file in `dir`. (It fails with EOPNOTSUPP on a filesystem without them, and
    /// with EISDIR or EINVAL on a kernel from before them, which reads the flag as O_DIRECTORY.)
    pub fn create(dir: &Path) -> io::Result<File> {
        OpenOptions::new().write(true).mode(0o666).custom_flags(libc::O_TMPFILE).open(dir)
    }

    /// Gives the unnamed `file` the name `to`. Fails with `AlreadyExists` if `to` exists.
    pub fn link(file: &File, to: &Path) -> io::Result<()> {
        let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(io::Error::other)?;
        let to = CString::new(to.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte"))?;
        // SAFETY: both arguments are NUL-terminated strings that outlive the call.
        let r = unsafe {
            libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::AT_SYMLINK_FOLLOW)
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Syncs directories (after outputs are named, for `--fsync`).
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
        entries(dir).into_iter().filter(|n| n.ends_with(".tmp")).collect()
    }

    /// Every test runs with unnamed files (where the system has them) and with named temp files.
    fn writers(make: impl Fn() -> AtomicWriter) -> [AtomicWriter; 2] {
        [make(), AtomicWriter { named_temps: true, ..make() }]
    }

    /// Everything in `dir`, temp files included.
    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_replaces() {
        for w in writers(AtomicWriter::default) {
            let tmp = tempfile::tempdir().unwrap();
            let target = tmp.path().join("a.jsonl");
            w.write(&target, b"one\n").unwrap();
            assert_eq!(fs::read(&target).unwrap(), b"one\n");
            w.write(&target, b"two\n").unwrap();
            assert_eq!(fs::read(&target).unwrap(), b"two\n");
            assert_eq!(entries(tmp.path()), ["a.jsonl"]);
        }
    }

    /// A rewrite makes a new file under the name: a hard link to the old output elsewhere keeps
    /// the old content.
    #[test]
    fn a_rewrite_never_writes_through_a_hard_link() {
        for w in writers(AtomicWriter::default) {
            let tmp = tempfile::tempdir().unwrap();
            let target = tmp.path().join("a.jsonl");
            let other = tmp.path().join("kept.txt");
            w.write(&target, b"old\n").unwrap();
            fs::hard_link(&target, &other).unwrap();
            w.write(&target, b"new\n").unwrap();
            assert_eq!(fs::read(&target).unwrap(), b"new\n");
            assert_eq!(fs::read(&other).unwrap(), b"old\n");
        }
    }

    /// On Linux the default writer makes unnamed files: what is written appears under its name
    /// and nowhere else, even for a moment, on filesystems that have them (tmpfs and ext4 do).
    #[cfg(target_os = "linux")]
    #[test]
    fn unnamed_files_are_linked_under_their_name() {
        let tmp = tempfile::tempdir().unwrap();
        let Ok(file) = unnamed::create(tmp.path()) else {
            eprintln!("skipped: no unnamed files in {}", tmp.path().display());
            return;
        };
        (&file).write_all(b"data").unwrap();
        assert!(entries(tmp.path()).is_empty(), "an unnamed file has no name");
        let target = tmp.path().join("a.jsonl");
        unnamed::link(&file, &target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"data");
        let again = unnamed::link(&file, &target).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        drop(file);
        assert_eq!(entries(tmp.path()), ["a.jsonl"]);
    }

    #[test]
    fn disk_full_keeps_the_old_output_and_leaves_no_temp() {
        let faulty = || AtomicWriter { faults: Faults::parse("enospc-after=1").unwrap(), ..AtomicWriter::default() };
        for w in writers(faulty) {
            let tmp = tempfile::tempdir().unwrap();
            let target = tmp.path().join("a.jsonl");
            w.write(&target, b"first version\n").unwrap();
            let e = w.write(&target, b"second version, longer\n").unwrap_err();
            assert!(super::super::faults::device_failure(&e));
            assert_eq!(fs::read(&target).unwrap(), b"first version\n");
            // A new output that fails leaves nothing either.
            assert!(w.write(&tmp.path().join("b.jsonl"), b"never whole\n").is_err());
            assert_eq!(entries(tmp.path()), ["a.jsonl"]);
        }
    }

    #[test]
    fn unwritable_dir_mid_run() {
        let faulty = || AtomicWriter { faults: Faults::parse("eacces-after=1").unwrap(), ..AtomicWriter::default() };
        for w in writers(faulty) {
            let tmp = tempfile::tempdir().unwrap();
            w.write(&tmp.path().join("a.jsonl"), b"x").unwrap();
            let e = w.write(&tmp.path().join("b.jsonl"), b"y").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
            assert!(!tmp.path().join("b.jsonl").exists());
            assert!(leftovers(tmp.path()).is_empty());
        }
    }

    #[test]
    fn input_files_are_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("page.jsonl");
        fs::write(&input, b"input").unwrap();
        let id = file_id(&fs::metadata(&input).unwrap());
        for w in writers(|| AtomicWriter { input_ids: Some(HashSet::from([id])), ..AtomicWriter::default() }) {
            assert!(w.write(&input, b"output").is_err());
            assert_eq!(fs::read(&input).unwrap(), b"input");
            assert!(leftovers(tmp.path()).is_empty());
        }
    }
}
