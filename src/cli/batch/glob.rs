//! Which files of a walked directory are pages: `--ext` and `--glob`.
//!
//! A file is selected when it matches any `--glob` pattern or has any `--ext` extension; with
//! neither option, `--ext txt`. Extensions compare ASCII-case-insensitively (`.TXT` is a page).
//! Files named explicitly on the command line are always taken, whatever the filter says.
//!
//! Glob patterns (no glob crate: this is the small, fully specified subset we need):
//!
//! * a pattern without `/` matches the file name (`*.txt`, `p?.txt`);
//! * a pattern with `/` matches the path relative to the input root, `/`-separated
//!   (`2024-*/p*.txt`, `**/raw/*.txt`);
//! * `*` matches any run of characters except `/`; `**` any run including `/`; `**/` zero or more
//!   whole directories; `?` one character except `/`; `[abc]`, `[a-z]`, `[!a-z]` (or `[^a-z]`) one
//!   character of (not of) a set; `\x` the character `x` literally.
//!
//! Matching is on the lossy text of the name; invalid UTF-8 bytes match `*`, `?` and negated sets.

use std::ffi::OsStr;
use std::path::Path;

/// One glob pattern, compiled.
#[derive(Debug, Clone)]
pub struct Glob {
    tokens: Vec<Token>,
    /// Matched against the whole relative path (the pattern has a `/`), else the file name.
    whole_path: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Lit(char),
    Any,
    Star,
    DoubleStar,
    /// `**/`: empty, or anything ending with `/`.
    DirStar,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            let tok = match c {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                        Token::DirStar
                    } else {
                        Token::DoubleStar
                    }
                }
                '*' => Token::Star,
                '?' => Token::Any,
                '\\' => match chars.get(i) {
                    Some(&n) => {
                        i += 1;
                        Token::Lit(n)
                    }
                    None => return Err(format!("glob `{pattern}` ends with a lone `\\`")),
                },
                '[' => {
                    let (tok, next) =
                        class(&chars, i).ok_or_else(|| format!("glob `{pattern}` has an unclosed `[`"))?;
                    i = next;
                    tok
                }
                c => Token::Lit(c),
            };
            tokens.push(tok);
        }
        let whole_path = pattern.contains('/');
        Ok(Glob { tokens, whole_path })
    }

    /// Does the file at `rel` (relative to its input root) match?
    pub fn matches(&self, rel: &Path) -> bool {
        let text: Vec<char> = if self.whole_path {
            let mut s = String::new();
            for (k, comp) in rel.iter().enumerate() {
                if k > 0 {
                    s.push('/');
                }
                s.push_str(&comp.to_string_lossy());
            }
            s.chars().collect()
        } else {
            rel.file_name().map(|n| n.to_string_lossy().chars().collect()).unwrap_or_default()
        };
        let mut memo = vec![None; (self.tokens.len() + 1) * (text.len() + 1)];
        matches_at(&self.tokens, &text, 0, 0, &mut memo)
    }
}

/// Parses a `[...]` class whose body starts at `i`; returns the token and the index after `]`.
fn class(chars: &[char], mut i: usize) -> Option<(Token, usize)> {
    let negated = matches!(chars.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            ranges.push((c, chars[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
}

/// Memoized matcher: does `tokens[ti..]` match `text[xi..]`?
fn matches_at(tokens: &[Token], text: &[char], ti: usize, xi: usize, memo: &mut [Option<bool>]) -> bool {
    let key = ti * (text.len() + 1) + xi;
    if let Some(known) = memo[key] {
        return known;
    }
    let result = match tokens.get(ti) {
        None => xi == text.len(),
        Some(Token::Star) => {
            matches_at(tokens, text, ti + 1, xi, memo)
                || (xi < text.len() && text[xi] != '/' && matches_at(tokens, text, ti, xi + 1, memo))
        }
        Some(Token::DoubleStar) => {
            matches_at(tokens, text, ti + 1, xi, memo)
                || (xi < text.len() && matches_at(tokens, text, ti, xi + 1, memo))
        }
        Some(Token::DirStar) => {
            matches_at(tokens, text, ti + 1, xi, memo)
                || (xi..text.len()).any(|k| text[k] == '/' && matches_at(tokens, text, ti + 1, k + 1, memo))
        }
        Some(tok) => xi < text.len() && one_char(tok, text[xi]) && matches_at(tokens, text, ti + 1, xi + 1, memo),
    };
    memo[key] = Some(result);
    result
}

fn one_char(tok: &Token, c: char) -> bool {
    match tok {
        Token::Lit(l) => *l == c,
        Token::Any => c != '/',
        Token::Class { negated, ranges } => c != '/' && ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negated,
        Token::Star | Token::DoubleStar | Token::DirStar => false,
    }
}

/// The page filter of a walk.
#[derive(Debug, Clone)]
pub struct Filter {
    globs: Vec<Glob>,
    /// Lowercase, without the dot.
    exts: Vec<String>,
}

impl Filter {
    /// Builds the filter from `--glob` and `--ext` values (`--ext` values may be comma-separated
    /// and may start with a dot).
    pub fn new(globs: &[String], exts: &[String]) -> Result<Filter, String> {
        let globs = globs.iter().map(|g| Glob::new(g)).collect::<Result<Vec<_>, _>>()?;
        let mut ext_list: Vec<String> = exts
            .iter()
            .flat_map(|e| e.split(','))
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        if globs.is_empty() && ext_list.is_empty() {
            ext_list.push("txt".to_string());
        }
        Ok(Filter { globs, exts: ext_list })
    }

    /// Is the file at `rel` (relative to its input root) a page?
    pub fn selects(&self, rel: &Path) -> bool {
        let ext_ok = rel
            .extension()
            .and_then(OsStr::to_str)
            .is_some_and(|x| self.exts.iter().any(|e| e.eq_ignore_ascii_case(x)));
        ext_ok || self.globs.iter().any(|g| g.matches(rel))
    }

    /// The extensions, for the summary.
    pub fn exts(&self) -> &[String] {
        &self.exts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).unwrap().matches(Path::new(path))
    }

    #[test]
    fn names_and_paths() {
        assert!(m("*.txt", "a/b/p1.txt"));
        assert!(!m("*.txt", "a/b/p1.text"));
        assert!(m("p?.txt", "p1.txt"));
        assert!(!m("p?.txt", "p12.txt"));
        assert!(m("a/*/p1.txt", "a/b/p1.txt"));
        assert!(!m("a/*.txt", "a/b/p1.txt"));
        assert!(m("a/**.txt", "a/b/c/p1.txt"));
        assert!(m("**/p1.txt", "p1.txt"));
        assert!(m("**/p1.txt", "x/y/p1.txt"));
        assert!(m("x/**/p1.txt", "x/p1.txt"));
        assert!(!m("**/p1.txt", "x/yp1.txt"));
        assert!(m("版面*.txt", "版面3.txt"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("p[0-9].txt", "p7.txt"));
        assert!(!m("p[!0-9].txt", "p7.txt"));
        assert!(m("p[^0-9].txt", "pa.txt"));
        assert!(m("[]]x", "]x"));
        assert!(m("\\*.txt", "*.txt"));
        assert!(!m("\\*.txt", "a.txt"));
        assert!(Glob::new("p[0-9.txt").is_err());
        assert!(Glob::new("p\\").is_err());
    }

    #[test]
    fn filter_defaults_to_txt_any_case() {
        let f = Filter::new(&[], &[]).unwrap();
        assert!(f.selects(Path::new("a/b.txt")));
        assert!(f.selects(Path::new("a/b.TXT")));
        assert!(!f.selects(Path::new("a/b.jsonl")));
        assert!(!f.selects(Path::new("a/txt")));
        let f = Filter::new(&["*.page".into()], &[]).unwrap();
        assert!(!f.selects(Path::new("b.txt")));
        assert!(f.selects(Path::new("b.page")));
        let f = Filter::new(&[], &[".md,text".into()]).unwrap();
        assert!(f.selects(Path::new("b.md")) && f.selects(Path::new("b.text")));
    }

    #[test]
    fn long_names_do_not_blow_up() {
        let name = "a".repeat(4000);
        assert!(!m("*a*a*a*a*a*b", &name));
    }
}
