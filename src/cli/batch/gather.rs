//! `--stdout` records written from the pages' own buffers, several buffers to a vectored write.
//!
//! A page's records come from its worker as one buffer of JSON Lines. Through a `BufWriter`,
//! every byte of them was copied once more into its buffer before the `write`: as many bytes as
//! the run's output (1.5 times its input on GB18030 pages), a memory-bound copy on the thread
//! that also has to keep the workers fed. [`GatherWriter`] keeps the buffers instead and hands
//! them to one `writev` once enough have come, so the system call count stays what the
//! `BufWriter` made and the copy goes.

use std::io::{self, IoSlice, Write};

/// Buffers given to one vectored write at most (well under any system's `IOV_MAX`).
const MAX_SLICES: usize = 64;

/// Whole buffers queued and written in order, with vectored writes, once `threshold` bytes wait
/// (and on [`GatherWriter::flush`]).
pub struct GatherWriter<W: Write> {
    inner: W,
    pending: Vec<Vec<u8>>,
    /// Bytes of `pending[0]` that a partial write already wrote.
    head_written: usize,
    /// Bytes in `pending`, written or not.
    bytes: usize,
    threshold: usize,
}

impl<W: Write> GatherWriter<W> {
    pub fn new(inner: W, threshold: usize) -> GatherWriter<W> {
        GatherWriter { inner, pending: Vec::new(), head_written: 0, bytes: 0, threshold }
    }

    /// Queues `buf`, and writes what waits once it reaches the threshold.
    pub fn push(&mut self, buf: Vec<u8>) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.bytes += buf.len();
        self.pending.push(buf);
        if self.bytes >= self.threshold {
            self.write_pending()
        } else {
            Ok(())
        }
    }

    /// Writes everything queued and flushes the writer underneath.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.inner.flush()
    }

    /// Writes the queued buffers, as many to a call as the writer takes; on an error, what was
    /// written is dropped from the queue and the rest stays.
    fn write_pending(&mut self) -> io::Result<()> {
        let mut first = 0;
        let result = loop {
            if first == self.pending.len() {
                break Ok(());
            }
            let end = self.pending.len().min(first + MAX_SLICES);
            let slices: Vec<IoSlice<'_>> = std::iter::once(&self.pending[first][self.head_written..])
                .chain(self.pending[first + 1..end].iter().map(Vec::as_slice))
                .map(IoSlice::new)
                .collect();
            let mut n = match self.inner.write_vectored(&slices) {
                Ok(0) => break Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write whole records")),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            // Past the buffers the write finished, into the one it stopped in.
            while n > 0 {
                let left = self.pending[first].len() - self.head_written;
                if n < left {
                    self.head_written += n;
                    break;
                }
                n -= left;
                first += 1;
                self.head_written = 0;
            }
        };
        for done in self.pending.drain(..first) {
            self.bytes -= done.len();
        }
        result
    }
}

impl<W: Write> Drop for GatherWriter<W> {
    /// Writes what is queued, as a `BufWriter` does when dropped (errors are lost here: callers
    /// that want them call [`GatherWriter::flush`]).
    fn drop(&mut self) {
        let _ = self.write_pending();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `max_bytes` bytes from at most `max_slices` slices a call,
    /// and fails every third call with `Interrupted`.
    struct Stingy {
        out: Vec<u8>,
        max_bytes: usize,
        max_slices: usize,
        calls: usize,
        slices_seen: usize,
    }

    impl Write for Stingy {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 3 == 0 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            self.slices_seen = self.slices_seen.max(bufs.len());
            let mut n = 0;
            for b in bufs.iter().take(self.max_slices) {
                let take = b.len().min(self.max_bytes - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                if n == self.max_bytes {
                    break;
                }
            }
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn buffers_come_out_whole_and_in_order_through_partial_writes() {
        let buffers: Vec<Vec<u8>> =
            (0..200u32).map(|i| format!("{{\"page\":{i}}}\n").repeat(i as usize % 7).into_bytes()).collect();
        let want: Vec<u8> = buffers.concat();
        for (max_bytes, max_slices, threshold) in [(7, 2, 1), (1, 1, 50), (1000, 100, 300), (13, 64, 1 << 20)] {
            let stingy = Stingy { out: Vec::new(), max_bytes, max_slices, calls: 0, slices_seen: 0 };
            let mut w = GatherWriter::new(stingy, threshold);
            for b in &buffers {
                w.push(b.clone()).unwrap();
                // Nothing waits past the threshold.
                assert!(w.bytes < threshold.max(1) || w.pending.is_empty());
            }
            w.flush().unwrap();
            assert!(w.pending.is_empty() && w.bytes == 0);
            assert_eq!(w.inner.out, want, "{max_bytes} bytes, {max_slices} slices a call");
            assert!(w.inner.slices_seen <= MAX_SLICES);
        }
    }

    #[test]
    fn an_error_keeps_what_was_not_written() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = GatherWriter::new(Closed, 10);
        w.push(b"short\n".to_vec()).unwrap();
        let e = w.push(b"long enough\n".to_vec()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!((w.pending.len(), w.bytes), (2, 18));
    }

    #[test]
    fn dropping_writes_what_waits() {
        let mut out = Vec::new();
        {
            let mut w = GatherWriter::new(&mut out, 1 << 16);
            w.push(b"a\n".to_vec()).unwrap();
            w.push(b"b\n".to_vec()).unwrap();
        }
        assert_eq!(out, b"a\nb\n");
    }
}
