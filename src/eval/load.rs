//! Reading gold and predicted records into [`Pages`], keyed so that the two sides line up.
//!
//! Gold and predictions arrive in two shapes, and both must give the same page keys:
//!
//! * a directory tree of `NAME.jsonl` files, one per page (the corpus' `gold/` and the output of
//!   `newsmend run … -o OUT`, which writes `OUT/NAME.jsonl` for `INPUT/NAME.txt`). The key is
//!   the path relative to the directory, with `/` separators;
//! * one JSON Lines file holding the records of many pages (e.g. `newsmend run … --stdout`),
//!   whose lines carry the page in their `source` field (`raw/NAME.txt`). The key is `source`,
//!   directory prefix kept.
//!
//! Either way the key goes through [`page_key`], which strips the file-name decorations that
//! differ between the two sides (`.jsonl`, a `.gold` infix as in the seed's
//! `000_….gold.jsonl`, and the input's `.txt`), so `gold/pd19980101-p02-0014.jsonl`,
//! `out/pd19980101-p02-0014.txt.jsonl` and `"source": "pd19980101-p02-0014.txt"` all become
//! `pd19980101-p02-0014`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::Pages;
use crate::record::GoldFields;

/// Why records could not be loaded.
#[derive(Debug)]
pub enum EvalError {
    /// A file or directory could not be read.
    Io { path: PathBuf, source: std::io::Error },
    /// A line is not a valid record. `line` is 1-based.
    Json { path: PathBuf, line: usize, source: serde_json::Error },
    /// Two files of a directory map to the same page key (e.g. `a.jsonl` and `a.txt.jsonl`).
    DuplicatePage { key: String, first: PathBuf, second: PathBuf },
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            EvalError::Json { path, line, source } => {
                write!(f, "{}:{line}: not a valid record: {source}", path.display())
            }
            EvalError::DuplicatePage { key, first, second } => {
                write!(f, "{} and {} are both page {key:?}", first.display(), second.display())
            }
        }
    }
}

impl std::error::Error for EvalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EvalError::Io { source, .. } => Some(source),
            EvalError::Json { source, .. } => Some(source),
            EvalError::DuplicatePage { .. } => None,
        }
    }
}

/// The page key of a file name, relative path or `source` value.
///
/// Backslashes become `/` and a leading `./` is dropped; then, each only if present and in this
/// order, the suffixes `.jsonl`, `.gold` and `.txt` are removed. Stripping is by suffix so that
/// the output of the tool (`NAME.jsonl`, or `NAME.txt.jsonl` if a future version keeps the input
/// extension) and gold files (`NAME.jsonl`, `NAME.gold.jsonl`) agree.
pub fn page_key(name: &str) -> String {
    let mut key = name.replace('\\', "/");
    while let Some(rest) = key.strip_prefix("./") {
        key = rest.to_string();
    }
    for suffix in [".jsonl", ".gold", ".txt"] {
        if let Some(rest) = key.strip_suffix(suffix) {
            if !rest.is_empty() && !rest.ends_with('/') {
                key.truncate(rest.len());
            }
        }
    }
    key
}

/// Loads records from a directory (recursively, every `*.jsonl` file is one page) or from a
/// single JSON Lines file (pages named by each line's `source` field).
///
/// Lines are parsed as [`GoldFields`]; other fields (`id`, `span`, `flags`, …) are ignored, so
/// both gold files and full tool output load. Blank lines are skipped. An empty `.jsonl` file in
/// a directory is a page with no items (the tool found nothing), which is different from a
/// missing page. In a single file, a line without `source` belongs to the page named after the
/// file itself. Within a page, records keep their file order.
pub fn load_records(path: impl AsRef<Path>) -> Result<Pages, EvalError> {
    let path = path.as_ref();
    let meta = fs::metadata(path).map_err(|source| EvalError::Io { path: path.to_path_buf(), source })?;
    if meta.is_dir() {
        load_dir(path)
    } else {
        load_file(path)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Io { path: path.to_path_buf(), source }
}

fn load_dir(root: &Path) -> Result<Pages, EvalError> {
    let mut files = Vec::new();
    collect_jsonl(root, &mut files)?;
    files.sort();
    let mut pages = BTreeMap::new();
    let mut origin: HashMap<String, PathBuf> = HashMap::new();
    for file in files {
        let rel = file.strip_prefix(root).unwrap_or(&file);
        let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let key = page_key(&rel.join("/"));
        if let Some(first) = origin.get(&key) {
            return Err(EvalError::DuplicatePage { key, first: first.clone(), second: file });
        }
        let items = read_lines::<GoldFields>(&file)?;
        origin.insert(key.clone(), file);
        pages.insert(key, items);
    }
    Ok(pages)
}

/// Every `*.jsonl` file under `dir`. Symbolic links to files are followed; symbolic links to
/// directories are not, so a link cycle cannot make the walk endless.
fn collect_jsonl(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), EvalError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io_err(&path))?;
        if file_type.is_dir() {
            collect_jsonl(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "jsonl") && path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct SourcedLine {
    #[serde(default)]
    source: Option<String>,
    #[serde(flatten)]
    fields: GoldFields,
}

fn load_file(path: &Path) -> Result<Pages, EvalError> {
    let fallback = page_key(&path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let lines = read_lines::<SourcedLine>(path)?;
    let mut pages: Pages = BTreeMap::new();
    for SourcedLine { source, fields } in lines {
        let key = source.as_deref().map_or_else(|| fallback.clone(), page_key);
        pages.entry(key).or_default().push(fields);
    }
    Ok(pages)
}

/// Parses each non-blank line of a file, naming file and 1-based line number on failure.
fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, EvalError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line).map_err(|source| EvalError::Json {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        out.push(value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_line_up() {
        assert_eq!(page_key("pd19980101-p02-0014.jsonl"), "pd19980101-p02-0014");
        assert_eq!(page_key("pd19980101-p02-0014.txt.jsonl"), "pd19980101-p02-0014");
        assert_eq!(page_key("pd19980101-p02-0014.txt"), "pd19980101-p02-0014");
        assert_eq!(page_key("000_84ecbbf29989ab47.gold.jsonl"), "000_84ecbbf29989ab47");
        assert_eq!(page_key("./raw/a/b.txt"), "raw/a/b");
        assert_eq!(page_key("raw\\a\\b.txt"), "raw/a/b");
        assert_eq!(page_key("pages/2024-02-05/p3.txt"), "pages/2024-02-05/p3");
        assert_eq!(page_key("no-extension"), "no-extension");
        // Only suffixes are stripped, never a whole name.
        assert_eq!(page_key(".txt"), ".txt");
        assert_eq!(page_key("dir/.jsonl"), "dir/.jsonl");
    }

    #[test]
    fn bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.jsonl");
        fs::write(&file, "{\"kind\":\"brief\",\"paragraphs\":[\"x\"]}\n\n{\"kind\":\"nope\"}\n").unwrap();
        let err = load_records(&file).unwrap_err();
        match &err {
            EvalError::Json { path, line, .. } => {
                assert_eq!(path, &file);
                assert_eq!(*line, 3);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("p.jsonl:3:"), "{err}");
    }

    #[test]
    fn duplicate_keys_in_a_directory_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.jsonl"), "").unwrap();
        fs::write(dir.path().join("a.txt.jsonl"), "").unwrap();
        let err = load_records(dir.path()).unwrap_err();
        assert!(matches!(err, EvalError::DuplicatePage { ref key, .. } if key == "a"));
    }

    #[test]
    fn single_file_without_source_is_named_after_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("000_x.gold.jsonl");
        fs::write(
            &file,
            "\u{feff}{\"kind\":\"brief\",\"paragraphs\":[\"x\"]}\r\n{\"kind\":\"furniture\",\"paragraphs\":[\"y\"],\"source\":\"other.txt\"}\r\n",
        )
        .unwrap();
        let pages = load_records(&file).unwrap();
        assert_eq!(pages.keys().collect::<Vec<_>>(), ["000_x", "other"]);
    }
}
