//! Listing the pages of a run: INPUT arguments to a sorted list of jobs (paths only).
//!
//! Decisions:
//!
//! * **Roots.** Each INPUT is a root. With one INPUT that is a directory, its contents map straight
//!   under OUT (`run raw/ -o out/` gives `out/2024/p3.jsonl`). Otherwise every INPUT maps under OUT
//!   by its own name: a file to `OUT/<name>.jsonl`, a directory to `OUT/<name>/…`. Two INPUTs with
//!   the same name are a usage error (they would share outputs), as is an INPUT that does not
//!   exist or is neither a file nor a directory.
//! * **Order.** Jobs are sorted by root (argument order), then by relative path, compared
//!   component by component on the raw bytes. That order is "input order" for `--stdout`, and it
//!   makes the run independent of directory enumeration order and of `--jobs`.
//! * **Hidden** names (starting with `.`) are skipped, files and directories alike, unless
//!   `--hidden`. Names starting with `.newsmend-` (our temp files and manifest) are always skipped.
//! * **Symlinks** met during the walk follow `--symlinks`: `skip` (default; like `find`, `fd`,
//!   `rg`), `inside` (follow those whose resolved target lies inside the same root) or `all`. An
//!   INPUT that is itself a symlink is followed: the user named it. Whatever is followed, outputs
//!   are placed by the link's own path under the root, so nothing can lead outside OUT. Each
//!   directory is walked once per root, identified by device and inode: a symlink loop or a second
//!   link to the same directory is noted in the summary and not walked again.
//! * **Special files** (FIFOs, sockets, devices) are never read (a FIFO would block the run); they
//!   are noted. An unreadable directory is a failure (its pages are missing from the run).
//! * **OUT inside the input tree** is never walked (its directory is recognised by identity), so a
//!   rerun does not take the previous outputs for inputs. When OUT is the root itself, the root is
//!   walked, minus OUT's `summary.json`. Either way, if the output tree and an input tree overlap,
//!   the identities of all input files are kept so that writing can refuse any target that is an
//!   input file.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};

use super::glob::Filter;

/// Device and inode: what makes two paths the same file.
pub type FileId = (u64, u64);

/// `a` joined with `b`, as `Path::join` does it, in one allocation of the final size (`join`
/// copies `a` and then grows the copy for `b`: an allocation and a copy more, three times a page).
/// Every path of the walk is made with it.
pub fn join(a: &Path, b: &Path) -> PathBuf {
    let mut path = PathBuf::with_capacity(a.as_os_str().len() + 1 + b.as_os_str().len());
    path.push(a);
    path.push(b);
    path
}

/// The identity of the file behind `meta`.
#[cfg(unix)]
pub fn file_id(meta: &Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Without device/inode numbers, loops are still caught by the visited set on canonical paths
/// (see [`dir_id`]); file identity is unavailable.
#[cfg(not(unix))]
pub fn file_id(_meta: &Metadata) -> FileId {
    (0, 0)
}

/// The identity of a directory: device and inode where available, else a hash of its canonical
/// path.
fn dir_id(path: &Path, meta: &Metadata) -> FileId {
    if cfg!(unix) {
        return file_id(meta);
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).hash(&mut h);
    (1, h.finish())
}

/// What to do with symlinks met during the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Symlinks {
    /// Do not follow them (they are counted and listed in the summary).
    Skip,
    /// Follow those whose target lies inside the same input root.
    Inside,
    /// Follow all of them.
    All,
}

#[derive(Debug)]
pub struct WalkOptions<'a> {
    pub filter: &'a Filter,
    pub hidden: bool,
    pub symlinks: Symlinks,
    /// OUT, once created: its canonical path and identity.
    pub out: Option<(PathBuf, FileId)>,
}

/// One INPUT argument.
#[derive(Debug)]
pub struct Root {
    /// As given on the command line.
    pub arg: PathBuf,
    /// Fully resolved.
    pub canon: PathBuf,
    /// Where its outputs go, relative to OUT (empty, or the INPUT's name).
    pub prefix: PathBuf,
    pub is_dir: bool,
}

/// One page to process. 8 bytes plus the relative path: what a million-file listing costs.
#[derive(Debug)]
pub struct Job {
    pub root: u32,
    /// Relative to the root directory; for a file root, its file name.
    pub rel: PathBuf,
}

/// A path and why it was skipped or failed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Note {
    pub path: String,
    pub reason: String,
}

/// Counts of what the walk passed over, for the summary.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct WalkCounts {
    pub hidden: u64,
    pub not_selected: u64,
    pub symlinks_skipped: u64,
    pub special_files: u64,
    pub dirs_visited_twice: u64,
    pub output_dir_skipped: u64,
}

#[derive(Debug, Default)]
pub struct Listing {
    pub roots: Vec<Root>,
    pub jobs: Vec<Job>,
    pub counts: WalkCounts,
    /// Skipped on purpose (symlinks, loops, special files), for the summary.
    pub skipped: Vec<Note>,
    /// Directories that could not be listed: their pages are missing from the run.
    pub failures: Vec<Note>,
    /// Identities of all input files (and symlinks to them), kept only when the output tree and
    /// an input tree overlap.
    pub input_ids: Option<HashSet<FileId>>,
}

impl Listing {
    /// The path to read the job from.
    pub fn source_path(&self, job: &Job) -> PathBuf {
        let root = &self.roots[job.root as usize];
        if root.is_dir {
            join(&root.arg, &job.rel)
        } else {
            root.arg.clone()
        }
    }

    /// The job's path relative to OUT, before the `.jsonl` mapping; also its `source` name.
    pub fn out_rel(&self, job: &Job) -> PathBuf {
        join(&self.roots[job.root as usize].prefix, &job.rel)
    }
}

/// Lists the pages under `roots` (from [`roots`]).
pub fn list(roots: Vec<Root>, opts: &WalkOptions) -> Listing {
    let mut listing = Listing { roots, ..Listing::default() };
    if overlaps_output(&listing.roots, opts) {
        listing.input_ids = Some(HashSet::new());
    }
    for idx in 0..listing.roots.len() {
        walk_root(&mut listing, idx, opts);
    }
    listing.jobs.sort_by(|a, b| (a.root, &a.rel).cmp(&(b.root, &b.rel)));
    listing.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    listing.failures.sort_by(|a, b| a.path.cmp(&b.path));
    listing
}

/// Checks the INPUT arguments and names them under OUT. `Err` is a usage error (exit 2).
pub fn roots(inputs: &[PathBuf]) -> Result<Vec<Root>, String> {
    let many = inputs.len() > 1;
    let mut roots: Vec<Root> = Vec::with_capacity(inputs.len());
    for arg in inputs {
        let shown = super::one_line(arg);
        let meta = fs::metadata(arg).map_err(|e| format!("{shown}: {e}"))?;
        if !meta.is_dir() && !meta.is_file() {
            return Err(format!("{shown}: not a regular file or a directory"));
        }
        let canon = fs::canonicalize(arg).map_err(|e| format!("{shown}: {e}"))?;
        let name = arg.file_name().or_else(|| canon.file_name()).map(PathBuf::from);
        let prefix = match (&name, many && meta.is_dir()) {
            (Some(n), true) => n.clone(),
            (None, true) => {
                return Err(format!("{shown}: cannot name this input under OUT; give it as the only INPUT"))
            }
            (_, false) => PathBuf::new(),
        };
        if let Some(other) = roots.iter().find(|r| many && r.out_name() == name) {
            return Err(format!(
                "inputs {} and {shown} have the same name, so their outputs would collide under OUT; run them separately",
                super::one_line(&other.arg)
            ));
        }
        roots.push(Root { arg: arg.clone(), canon, prefix, is_dir: meta.is_dir() });
    }
    Ok(roots)
}

impl Root {
    /// The name this root has under OUT when there are several roots.
    fn out_name(&self) -> Option<PathBuf> {
        self.arg.file_name().or_else(|| self.canon.file_name()).map(PathBuf::from)
    }

    /// The directory whose files this root lists.
    fn dir(&self) -> &Path {
        if self.is_dir {
            &self.canon
        } else {
            self.canon.parent().unwrap_or(&self.canon)
        }
    }
}

/// Does OUT lie inside an input tree, or an input tree inside OUT? Then a target could be an input
/// file, and the walk keeps input identities to refuse such writes.
fn overlaps_output(roots: &[Root], opts: &WalkOptions) -> bool {
    let Some((out, _)) = &opts.out else {
        return false;
    };
    opts.symlinks == Symlinks::All || roots.iter().any(|r| out.starts_with(r.dir()) || r.dir().starts_with(out))
}

/// Walks one root, appending its jobs to the listing.
fn walk_root(listing: &mut Listing, idx: usize, opts: &WalkOptions) {
    let root = &listing.roots[idx];
    if !root.is_dir {
        let arg = root.arg.clone();
        let name = arg.file_name().map(PathBuf::from).unwrap_or_default();
        if let (Some(ids), Ok(meta)) = (listing.input_ids.as_mut(), fs::metadata(&arg)) {
            ids.insert(file_id(&meta));
            if let Ok(link) = fs::symlink_metadata(&arg) {
                ids.insert(file_id(&link));
            }
        }
        listing.jobs.push(Job { root: idx as u32, rel: name });
        return;
    }
    let mut walker = Walker {
        root_idx: idx as u32,
        root_arg: root.arg.clone(),
        root_canon: root.canon.clone(),
        opts,
        visited: HashSet::new(),
        listing,
    };
    walker.run();
}

/// The state of one root's walk.
struct Walker<'a, 'o> {
    root_idx: u32,
    root_arg: PathBuf,
    root_canon: PathBuf,
    opts: &'a WalkOptions<'o>,
    visited: HashSet<FileId>,
    listing: &'a mut Listing,
}

/// What a directory entry turned out to be.
enum Kind {
    File(Option<FileId>),
    Dir(Metadata),
    Skip,
}

impl Walker<'_, '_> {
    fn run(&mut self) {
        let root_meta = match fs::metadata(&self.root_arg) {
            Ok(m) => m,
            Err(e) => return self.fail(&self.root_arg.clone(), format!("cannot list directory: {e}")),
        };
        self.visited.insert(dir_id(&self.root_arg, &root_meta));
        // Depth first, in sorted order, so that which of two links to one directory is walked is
        // the same on every filesystem.
        let mut stack = vec![PathBuf::new()];
        while let Some(rel_dir) = stack.pop() {
            let mut subdirs = self.read_dir(&rel_dir);
            subdirs.reverse();
            stack.extend(subdirs);
        }
    }

    /// Lists one directory: files become jobs, subdirectories are returned (sorted).
    fn read_dir(&mut self, rel_dir: &Path) -> Vec<PathBuf> {
        let dir = join(&self.root_arg, rel_dir);
        let entries = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) => {
                self.fail(&dir, format!("cannot list directory: {e}"));
                return Vec::new();
            }
        };
        let is_out_dir = self.is_out_dir(&dir);
        // Each entry with its name, made once: sorting by `DirEntry::file_name` made a new
        // `OsString` at every comparison (some 20 allocations per file).
        let mut names = Vec::new();
        for entry in entries {
            match entry {
                Ok(e) => names.push((e.file_name(), e)),
                Err(e) => self.fail(&dir, format!("cannot read a directory entry: {e}")),
            }
        }
        names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut subdirs = Vec::new();
        for (name, entry) in names {
            if self.skip_name(&name, is_out_dir) {
                continue;
            }
            let rel = join(rel_dir, Path::new(&name));
            match self.classify(&entry, &rel) {
                Kind::File(id) => self.add_file(rel, id),
                Kind::Dir(meta) => {
                    if self.enter_dir(&rel, &meta) {
                        subdirs.push(rel);
                    }
                }
                Kind::Skip => {}
            }
        }
        subdirs
    }

    /// Hidden names, our own files, and OUT's summary when OUT is this root.
    fn skip_name(&mut self, name: &OsStr, in_out_dir: bool) -> bool {
        let bytes = name.as_encoded_bytes();
        if bytes.starts_with(b".newsmend-") || (in_out_dir && name == "summary.json") {
            return true;
        }
        if bytes.starts_with(b".") && !self.opts.hidden {
            self.listing.counts.hidden += 1;
            return true;
        }
        false
    }

    fn is_out_dir(&self, dir: &Path) -> bool {
        match (&self.opts.out, fs::metadata(dir)) {
            (Some((_, out_id)), Ok(meta)) => dir_id(dir, &meta) == *out_id,
            _ => false,
        }
    }

    /// Decides what an entry is, following symlinks as `--symlinks` says.
    fn classify(&mut self, entry: &fs::DirEntry, rel: &Path) -> Kind {
        let path = entry.path();
        let ftype = match entry.file_type() {
            Ok(t) => t,
            Err(e) => {
                self.fail(&path, format!("cannot stat: {e}"));
                return Kind::Skip;
            }
        };
        if ftype.is_file() {
            return Kind::File(self.entry_id(entry));
        }
        if ftype.is_dir() {
            return match entry.metadata() {
                Ok(m) => Kind::Dir(m),
                Err(e) => {
                    self.fail(&path, format!("cannot stat: {e}"));
                    Kind::Skip
                }
            };
        }
        if ftype.is_symlink() {
            return self.classify_symlink(entry, &path, rel);
        }
        self.listing.counts.special_files += 1;
        self.note(&path, "not a regular file (FIFO, socket or device)".into());
        Kind::Skip
    }

    fn classify_symlink(&mut self, entry: &fs::DirEntry, path: &Path, rel: &Path) -> Kind {
        let skip = |w: &mut Self, reason: String| {
            w.listing.counts.symlinks_skipped += 1;
            w.note(path, reason);
            Kind::Skip
        };
        if self.opts.symlinks == Symlinks::Skip {
            // Only links to would-be pages or directories are worth a note.
            let to_dir = fs::metadata(path).is_ok_and(|m| m.is_dir());
            if !to_dir && !self.opts.filter.selects(rel) {
                self.listing.counts.not_selected += 1;
                return Kind::Skip;
            }
            return skip(self, "symlink not followed (see --symlinks)".into());
        }
        let target = match (fs::metadata(path), fs::canonicalize(path)) {
            (Ok(m), Ok(c)) => (m, c),
            (Err(e), _) | (_, Err(e)) => return skip(self, format!("broken symlink: {e}")),
        };
        if self.opts.symlinks == Symlinks::Inside && !target.1.starts_with(&self.root_canon) {
            return skip(self, "symlink leads outside the input root (see --symlinks)".into());
        }
        let meta = target.0;
        if meta.is_dir() {
            Kind::Dir(meta)
        } else if meta.is_file() {
            if let Some(ids) = self.listing.input_ids.as_mut() {
                ids.insert(file_id(&meta));
            }
            Kind::File(self.entry_id(entry))
        } else {
            self.listing.counts.special_files += 1;
            self.note(path, "symlink to something that is not a regular file".into());
            Kind::Skip
        }
    }

    /// The identity of the directory entry itself (the link, for a symlink), when identities are
    /// being kept.
    fn entry_id(&self, entry: &fs::DirEntry) -> Option<FileId> {
        self.listing.input_ids.as_ref()?;
        entry.metadata().ok().map(|m| file_id(&m))
    }

    fn add_file(&mut self, rel: PathBuf, id: Option<FileId>) {
        if !self.opts.filter.selects(&rel) {
            self.listing.counts.not_selected += 1;
            return;
        }
        if let (Some(ids), Some(id)) = (self.listing.input_ids.as_mut(), id) {
            ids.insert(id);
        }
        self.listing.jobs.push(Job { root: self.root_idx, rel });
    }

    /// Should the walk descend into this directory? Not into OUT, not twice into one directory.
    fn enter_dir(&mut self, rel: &Path, meta: &Metadata) -> bool {
        let path = join(&self.root_arg, rel);
        let id = dir_id(&path, meta);
        if self.opts.out.as_ref().is_some_and(|(_, out)| *out == id) {
            self.listing.counts.output_dir_skipped += 1;
            return false;
        }
        if !self.visited.insert(id) {
            self.listing.counts.dirs_visited_twice += 1;
            self.note(&path, "directory already walked (symlink loop or a second link to it)".into());
            return false;
        }
        true
    }

    fn note(&mut self, path: &Path, reason: String) {
        self.listing.skipped.push(Note { path: path.to_string_lossy().into_owned(), reason });
    }

    fn fail(&mut self, path: &Path, reason: String) {
        self.listing.failures.push(Note { path: path.to_string_lossy().into_owned(), reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_is_path_join() {
        for a in ["", "in", "in/", "/abs/dir", "./x", "a/../b"] {
            for b in ["", "p.txt", "d/p.txt", "/root/p.txt", "./p", "页面.txt"] {
                let (a, b) = (Path::new(a), Path::new(b));
                let got = join(a, b);
                assert_eq!(got, a.join(b), "{a:?} + {b:?}");
                assert_eq!(got.as_os_str(), a.join(b).as_os_str(), "{a:?} + {b:?}");
            }
        }
    }
}
