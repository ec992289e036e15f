//! Fault injection for tests: makes output writes fail the way a full disk or a directory turned
//! read-only would, and opens a window between listing and reading.
//!
//! Set `NEWSMEND_TEST_FAULTS` to a comma-separated list (it is meant for the test suite; a run with
//! faults active says so on stderr):
//!
//! * `enospc-after=N`: output writes after the first N fail with "No space left on device", after
//!   half of the data has gone into the temp file (so the cleanup of partial temp files is
//!   exercised);
//! * `eacces-after=N`: creating a temp file after the first N writes fails with "Permission
//!   denied" (the output directory became unwritable);
//! * `pause-after-listing-ms=MS`: sleep after the listing, before the first page is read (so that
//!   a test can delete an input file in between).
//!
//! Writes are counted in the order they start; with `--jobs 1` that is input order. The summary
//! write counts too, as on a real full disk.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The environment variable that turns faults on.
pub const ENV: &str = "NEWSMEND_TEST_FAULTS";

/// Linux and the BSDs agree on these two.
const ENOSPC: i32 = 28;
const EACCES: i32 = 13;

#[derive(Debug, Default)]
pub struct Faults {
    enospc_after: Option<u64>,
    eacces_after: Option<u64>,
    pub pause_after_listing: Option<Duration>,
    writes: AtomicU64,
}

impl Faults {
    /// Reads [`ENV`]. Unknown or malformed entries are a setup error, so a typo in a test cannot
    /// silently disable the fault it meant to inject.
    pub fn from_env() -> Result<Faults, String> {
        match std::env::var(ENV) {
            Ok(spec) => Faults::parse(&spec),
            Err(_) => Ok(Faults::default()),
        }
    }

    pub fn parse(spec: &str) -> Result<Faults, String> {
        let mut f = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').ok_or_else(|| format!("{ENV}: `{item}` is not key=value"))?;
            let n: u64 = value.parse().map_err(|_| format!("{ENV}: `{item}`: not a number"))?;
            match key {
                "enospc-after" => f.enospc_after = Some(n),
                "eacces-after" => f.eacces_after = Some(n),
                "pause-after-listing-ms" => f.pause_after_listing = Some(Duration::from_millis(n)),
                _ => return Err(format!("{ENV}: unknown fault `{key}`")),
            }
        }
        Ok(f)
    }

    pub fn active(&self) -> bool {
        self.enospc_after.is_some() || self.eacces_after.is_some() || self.pause_after_listing.is_some()
    }

    /// Called when a write starts: the write's number, or the error creating its temp file gets.
    pub fn begin_write(&self) -> io::Result<u64> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        if self.eacces_after.is_some_and(|k| n >= k) {
            return Err(io::Error::from_raw_os_error(EACCES));
        }
        Ok(n)
    }

    /// Wraps the temp file of write number `n`.
    pub fn wrap<W: Write>(&self, n: u64, inner: W) -> FaultyWriter<W> {
        FaultyWriter { inner, fail: self.enospc_after.is_some_and(|k| n >= k), written: 0 }
    }
}

/// A writer that, when told to fail, accepts a first chunk of data and then reports a full disk.
#[derive(Debug)]
pub struct FaultyWriter<W> {
    inner: W,
    fail: bool,
    written: usize,
}

impl<W> FaultyWriter<W> {
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for FaultyWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.fail && self.written > 0 {
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        let take = if self.fail { buf.len().div_ceil(2).max(1) } else { buf.len() };
        let n = self.inner.write(&buf[..take.min(buf.len())])?;
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Is this error about the output device as a whole (full, over quota, read-only), so that every
/// later write would fail too?
pub fn device_failure(e: &io::Error) -> bool {
    // ENOSPC and EROFS agree across Linux and the BSDs; EDQUOT does not.
    const EROFS: i32 = 30;
    #[cfg(target_os = "linux")]
    const EDQUOT: i32 = 122;
    #[cfg(not(target_os = "linux"))]
    const EDQUOT: i32 = 69;
    matches!(e.raw_os_error(), Some(ENOSPC) | Some(EROFS) | Some(EDQUOT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let f = Faults::parse("enospc-after=2, pause-after-listing-ms=10").unwrap();
        assert!(f.active());
        assert_eq!(f.enospc_after, Some(2));
        assert!(Faults::parse("enospc-after").is_err());
        assert!(Faults::parse("bogus=1").is_err());
        assert!(!Faults::parse("").unwrap().active());
    }

    #[test]
    fn writer_fails_midway() {
        let f = Faults::parse("enospc-after=1").unwrap();
        let n0 = f.begin_write().unwrap();
        let mut ok = f.wrap(n0, Vec::new());
        ok.write_all(b"hello world").unwrap();
        let n1 = f.begin_write().unwrap();
        let mut bad = f.wrap(n1, Vec::new());
        let err = bad.write_all(b"hello world").unwrap_err();
        assert!(device_failure(&err));
        assert_eq!(bad.inner, b"hello ");
    }

    #[test]
    fn eacces_on_create() {
        let f = Faults::parse("eacces-after=0").unwrap();
        let e = f.begin_write().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(!device_failure(&e));
    }
}
