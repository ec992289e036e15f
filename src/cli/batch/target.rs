//! Where a page's output goes, and the guarantees that it stays inside OUT and clobbers nothing.
//!
//! * `OUT/<path relative to its root>` with the last component mapped by [`output_name`]: a `.txt`
//!   extension (any case) becomes `.jsonl`; any other name gets `.jsonl` appended (`p3.md` →
//!   `p3.md.jsonl`, `p3` → `p3.jsonl`). So every output name ends in `.jsonl`, and no output can be
//!   `summary.json`, the manifest or a temp file.
//! * Paths are joined from `OsStr` components, never through lossy strings, and every component
//!   must be a plain name ([`checked_join`]): no `..`, no root, no prefix. Names with newlines or
//!   invalid UTF-8 are written as they are.
//! * Output directories are made one component at a time ([`OutDirs`]); a component that exists
//!   as a symlink is refused, so a symlink planted inside OUT cannot redirect writes elsewhere.
//! * Two jobs whose outputs are the same path (`a.txt` and `a.TXT`, or `a` and `a.txt` under
//!   `--glob '*'`): the first in input order wins, the others fail ([`duplicates`]).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use super::walk::Listing;

/// The output file name for an input file name.
pub fn output_name(name: &OsStr) -> OsString {
    let path = Path::new(name);
    let is_txt = path.extension().and_then(OsStr::to_str).is_some_and(|e| e.eq_ignore_ascii_case("txt"));
    let mut out = match (is_txt, path.file_stem()) {
        (true, Some(stem)) => stem.to_os_string(),
        _ => name.to_os_string(),
    };
    out.push(".jsonl");
    out
}

/// The output path of a job, relative to OUT.
pub fn output_rel(listing: &Listing, job: &super::walk::Job) -> PathBuf {
    let mut rel = listing.out_rel(job);
    if let Some(name) = rel.file_name().map(output_name) {
        rel.set_file_name(name);
    }
    rel
}

/// `out` joined with `rel`, provided every component of `rel` is a plain name.
pub fn checked_join(out: &Path, rel: &Path) -> Result<PathBuf, String> {
    let mut path = out.to_path_buf();
    let mut any = false;
    for comp in rel.components() {
        match comp {
            Component::Normal(name) => {
                path.push(name);
                any = true;
            }
            _ => return Err(format!("output path {} would leave the output directory", super::one_line(rel))),
        }
    }
    if any {
        Ok(path)
    } else {
        Err("empty output path".into())
    }
}

/// For each job whose output path was already taken by an earlier job: (its index, the earlier
/// job's index). Costs 16 bytes per job while it runs: hashes are sorted, and only jobs with equal
/// hashes are compared by their real paths.
pub fn duplicates(listing: &Listing) -> HashMap<usize, usize> {
    let mut hashed: Vec<(u64, u32)> = listing
        .jobs
        .iter()
        .enumerate()
        .map(|(i, job)| {
            let mut h = DefaultHasher::new();
            output_rel(listing, job).hash(&mut h);
            (h.finish(), i as u32)
        })
        .collect();
    hashed.sort_unstable();
    let mut dups = HashMap::new();
    for group in hashed.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
        let paths: Vec<(usize, PathBuf)> =
            group.iter().map(|&(_, i)| (i as usize, output_rel(listing, &listing.jobs[i as usize]))).collect();
        for (k, (idx, path)) in paths.iter().enumerate() {
            if let Some((first, _)) = paths[..k].iter().find(|(_, p)| p == path) {
                dups.insert(*idx, *first);
            }
        }
    }
    dups
}

/// Creates and checks output directories. Each directory is checked once per run.
#[derive(Debug)]
pub struct OutDirs {
    out: PathBuf,
    verified: Mutex<HashSet<PathBuf>>,
}

impl OutDirs {
    pub fn new(out: &Path) -> OutDirs {
        OutDirs { out: out.to_path_buf(), verified: Mutex::new(HashSet::new()) }
    }

    /// Makes sure `OUT/rel_dir` is a real directory reached without symlinks, creating what is
    /// missing.
    pub fn ensure(&self, rel_dir: &Path) -> io::Result<()> {
        if rel_dir.as_os_str().is_empty() || self.is_verified(rel_dir) {
            return Ok(());
        }
        let mut rel = PathBuf::new();
        for comp in rel_dir.components() {
            let Component::Normal(name) = comp else {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "output directory would leave OUT"));
            };
            rel.push(name);
            if !self.is_verified(&rel) {
                self.check_or_create(&self.out.join(&rel))?;
                self.mark_verified(rel.clone());
            }
        }
        Ok(())
    }

    fn check_or_create(&self, dir: &Path) -> io::Result<()> {
        match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(m) if m.file_type().is_symlink() => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is a symlink; refusing to write through it", super::one_line(dir)),
            )),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a directory", super::one_line(dir)),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(dir) {
                Ok(()) => Ok(()),
                // Another worker made it meanwhile: check what is there now.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::symlink_metadata(dir) {
                    Ok(m) if m.is_dir() => Ok(()),
                    _ => Err(e),
                },
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    fn is_verified(&self, rel: &Path) -> bool {
        self.verified.lock().map(|set| set.contains(rel)).unwrap_or(false)
    }

    fn mark_verified(&self, rel: PathBuf) {
        if let Ok(mut set) = self.verified.lock() {
            set.insert(rel);
        }
    }

    /// All directories written into (for `--fsync`).
    pub fn all(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> =
            self.verified.lock().map(|set| set.iter().map(|r| self.out.join(r)).collect()).unwrap_or_default();
        dirs.push(self.out.clone());
        dirs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(output_name(OsStr::new("p3.txt")), "p3.jsonl");
        assert_eq!(output_name(OsStr::new("p3.TXT")), "p3.jsonl");
        assert_eq!(output_name(OsStr::new("p3.md")), "p3.md.jsonl");
        assert_eq!(output_name(OsStr::new("p3")), "p3.jsonl");
        assert_eq!(output_name(OsStr::new(".txt")), ".txt.jsonl");
        assert_eq!(output_name(OsStr::new("a.jsonl")), "a.jsonl.jsonl");
    }

    #[test]
    fn joins_stay_inside() {
        let out = Path::new("/o");
        assert_eq!(checked_join(out, Path::new("a/b.jsonl")).unwrap(), Path::new("/o/a/b.jsonl"));
        assert!(checked_join(out, Path::new("../b.jsonl")).is_err());
        assert!(checked_join(out, Path::new("a/../../b.jsonl")).is_err());
        assert!(checked_join(out, Path::new("/etc/passwd")).is_err());
        assert!(checked_join(out, Path::new("")).is_err());
        // Only plain names: even a harmless leading `.` is refused (the walk never makes one).
        assert!(checked_join(out, Path::new("./a.jsonl")).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn invalid_utf8_names_survive() {
        use std::os::unix::ffi::OsStrExt;
        let name = OsStr::from_bytes(b"p\xff\n3.txt");
        assert_eq!(output_name(name).as_bytes(), b"p\xff\n3.jsonl");
    }

    #[test]
    fn symlinked_output_dirs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&elsewhere, out.join("evil")).unwrap();
        let dirs = OutDirs::new(&out);
        dirs.ensure(Path::new("a/b")).unwrap();
        assert!(out.join("a/b").is_dir());
        #[cfg(unix)]
        assert!(dirs.ensure(Path::new("evil/c")).is_err());
        assert!(!elsewhere.join("c").exists());
    }
}
