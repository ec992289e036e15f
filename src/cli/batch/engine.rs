//! A bounded, optionally ordered, parallel map: items from an iterator are processed by the
//! workers of a local rayon pool, and the results are handed to a [`Consumer`] on the calling
//! thread.
//!
//! Why not `par_iter().map().collect()`: that holds every result until the end, so memory grows
//! with the number of pages. Here the number of items taken from the iterator but not yet handed
//! to the consumer never exceeds `window`; a worker waits before taking item `i` until item
//! `i - window` has been consumed. With `ordered`, results are handed over in input order (the
//! window is the reorder buffer); otherwise as they come. The iterator is pulled by the workers
//! under a lock, one item at a time, so a slow source (stdin) is read only as fast as pages are
//! processed.
//!
//! Workers take up to `chunk` consecutive items at a time (as many as fit in the window without
//! waiting) and send their results together: one hand-over, one wake-up of the calling thread and
//! one notification of waiting workers per chunk instead of per page. On a two-core machine the
//! per-page hand-over cost a fifth of the run in thread switches. A source that must be answered
//! line by line (stream mode's stdin) uses a chunk of one.
//!
//! No deadlock: items are taken in index order, so the lowest unconsumed item has always been
//! taken by a worker that is processing it (workers wait only before taking items, never while
//! holding results), and it arrives.
//!
//! Stopping: when `stop` is set (Ctrl-C) or the consumer refuses a result (stdout closed, disk
//! full), workers take no more items; the items in flight finish and their results still reach
//! the consumer, which decides what to do with them.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rayon::ThreadPool;

/// Receives results on the calling thread.
pub trait Consumer<R> {
    /// One result. Return `false` to stop the run (no more items are taken; results of items in
    /// flight are still delivered).
    fn accept(&mut self, index: usize, result: R) -> bool;
    /// No result is waiting right now (a good moment to flush output).
    fn idle(&mut self) {}
    /// Called about every [`Config::tick`] (progress reports).
    fn tick(&mut self) {}
}

#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Most items taken but not yet consumed.
    pub window: usize,
    /// Hand results over in input order.
    pub ordered: bool,
    /// Most items a worker takes at once (at least 1).
    pub chunk: usize,
    pub tick: Duration,
}

/// What a run did.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    /// Items taken from the iterator (and so processed and delivered).
    pub dispatched: usize,
}

/// The shared source of items.
struct Feed<I> {
    iter: I,
    next: usize,
    done: bool,
}

/// The window: how many results have been consumed.
struct Gate {
    consumed: Mutex<usize>,
    cv: Condvar,
}

impl Gate {
    /// Waits until item `index` fits in the window; returns the end of the window then (items
    /// below it fit). `None` if the run is stopping.
    fn wait_for_room(&self, index: usize, window: usize, stopping: &dyn Fn() -> bool) -> Option<usize> {
        let mut consumed = self.consumed.lock().ok()?;
        while index >= *consumed + window {
            if stopping() {
                return None;
            }
            match self.cv.wait_timeout(consumed, Duration::from_millis(50)) {
                Ok((guard, _)) => consumed = guard,
                Err(_) => return None,
            }
        }
        (!stopping()).then_some(*consumed + window)
    }

    fn advance(&self, n: usize) {
        if n == 0 {
            return;
        }
        if let Ok(mut consumed) = self.consumed.lock() {
            *consumed += n;
        }
        self.cv.notify_all();
    }
}

/// Runs `work` on every item, on `pool`'s threads; results go to `consumer`.
pub fn run<I, T, R, W, C>(
    pool: &ThreadPool,
    cfg: Config,
    stop: &AtomicBool,
    items: I,
    work: W,
    consumer: &mut C,
) -> Report
where
    I: Iterator<Item = T> + Send,
    T: Send,
    R: Send,
    W: Fn(usize, T) -> R + Sync,
    C: Consumer<R>,
{
    let feed = Mutex::new(Feed { iter: items, next: 0, done: false });
    let gate = Gate { consumed: Mutex::new(0), cv: Condvar::new() };
    let halt = AtomicBool::new(false);
    let window = cfg.window.max(1);
    let chunk = cfg.chunk.clamp(1, window);
    let (tx, rx) = mpsc::channel::<Vec<(usize, R)>>();
    let (feed, gate, halt_ref, work) = (&feed, &gate, &halt, &work);
    pool.in_place_scope(|scope| {
        for _ in 0..pool.current_num_threads() {
            let tx = tx.clone();
            scope.spawn(move |_| {
                let stopping = || stop.load(Ordering::SeqCst) || halt_ref.load(Ordering::SeqCst);
                while let Some((first, items)) = take(feed, gate, window, chunk, &stopping) {
                    let mut results = Vec::with_capacity(items.len());
                    for (k, item) in items.into_iter().enumerate() {
                        let index = first + k;
                        // Callers turn panics into results; should one get here anyway, hand over
                        // what is done, stop the run (the ordered consumer would otherwise wait
                        // forever for this index) and let the scope re-raise it once everyone is
                        // out.
                        match panic::catch_unwind(AssertUnwindSafe(|| work(index, item))) {
                            Ok(r) => results.push((index, r)),
                            Err(p) => {
                                let _ = tx.send(std::mem::take(&mut results));
                                halt_ref.store(true, Ordering::SeqCst);
                                panic::resume_unwind(p)
                            }
                        }
                    }
                    if tx.send(results).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        consume(rx, cfg, gate, halt_ref, consumer);
    });
    let dispatched = feed.lock().map(|f| f.next).unwrap_or(0);
    Report { dispatched }
}

/// Takes the next items (at most `chunk`, and only as many as fit in the window without waiting
/// again), once there is room for the first. Returns the index of the first and the items.
fn take<I: Iterator>(
    feed: &Mutex<Feed<I>>,
    gate: &Gate,
    window: usize,
    chunk: usize,
    stopping: &dyn Fn() -> bool,
) -> Option<(usize, Vec<I::Item>)> {
    let mut f = feed.lock().ok()?;
    if f.done {
        return None;
    }
    let end = gate.wait_for_room(f.next, window, stopping)?;
    let first = f.next;
    let mut items = Vec::with_capacity(chunk.min(end - first));
    while items.len() < chunk && first + items.len() < end {
        match f.iter.next() {
            Some(item) => items.push(item),
            None => {
                f.done = true;
                break;
            }
        }
    }
    f.next += items.len();
    (!items.is_empty()).then_some((first, items))
}

/// The calling thread's loop: receives results, reorders them if asked, hands them over.
fn consume<R, C: Consumer<R>>(
    rx: mpsc::Receiver<Vec<(usize, R)>>,
    cfg: Config,
    gate: &Gate,
    halt: &AtomicBool,
    consumer: &mut C,
) {
    let mut pending: BTreeMap<usize, R> = BTreeMap::new();
    let mut next = 0usize;
    let mut last_tick = Instant::now();
    let deliver = |index: usize, result: R, consumer: &mut C| {
        if !consumer.accept(index, result) {
            halt.store(true, Ordering::SeqCst);
        }
    };
    loop {
        let msg = match rx.try_recv() {
            Ok(m) => Some(m),
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                consumer.idle();
                match rx.recv_timeout(cfg.tick) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        if let Some(results) = msg {
            let mut delivered = 0;
            for (index, result) in results {
                if cfg.ordered {
                    pending.insert(index, result);
                    while let Some(r) = pending.remove(&next) {
                        deliver(next, r, consumer);
                        next += 1;
                        delivered += 1;
                    }
                } else {
                    deliver(index, result, consumer);
                    delivered += 1;
                }
            }
            gate.advance(delivered);
        }
        if last_tick.elapsed() >= cfg.tick {
            consumer.tick();
            last_tick = Instant::now();
        }
    }
    consumer.idle();
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect {
        seen: Vec<usize>,
        stop_at: Option<usize>,
    }

    impl Consumer<usize> for Collect {
        fn accept(&mut self, index: usize, result: usize) -> bool {
            assert_eq!(index * 2, result);
            self.seen.push(index);
            self.stop_at != Some(self.seen.len())
        }
    }

    fn pool(n: usize) -> ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()
    }

    fn cfg(window: usize, ordered: bool) -> Config {
        Config { window, ordered, chunk: 1, tick: Duration::from_millis(10) }
    }

    /// Runs `n` items on `threads` workers with uneven work (so that results arrive out of
    /// order); returns what the consumer saw, the report and the most items worked on at once.
    fn run_uneven(threads: usize, cfg: Config, n: usize, step_us: u64) -> (Vec<usize>, Report, usize) {
        let in_flight = std::sync::atomic::AtomicUsize::new(0);
        let max_in_flight = std::sync::atomic::AtomicUsize::new(0);
        let mut c = Collect { seen: vec![], stop_at: None };
        let stop = AtomicBool::new(false);
        let r = run(
            &pool(threads),
            cfg,
            &stop,
            0..n,
            |i, x| {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max_in_flight.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_micros(((i * 7919) % 13) as u64 * step_us));
                in_flight.fetch_sub(1, Ordering::SeqCst);
                x * 2
            },
            &mut c,
        );
        (c.seen, r, max_in_flight.load(Ordering::SeqCst))
    }

    #[test]
    fn chunks_keep_order_and_the_window() {
        for ordered in [true, false] {
            let cfg = Config { window: 12, ordered, chunk: 4, tick: Duration::from_millis(10) };
            let (mut seen, r, max_in_flight) = run_uneven(3, cfg, 1001, 20);
            assert_eq!(r.dispatched, 1001);
            if !ordered {
                seen.sort_unstable();
            }
            assert_eq!(seen, (0..1001).collect::<Vec<_>>());
            assert!(max_in_flight <= 3);
        }
    }

    #[test]
    fn ordered_results_in_input_order_with_bounded_window() {
        let (seen, r, max_in_flight) = run_uneven(4, cfg(6, true), 500, 50);
        assert_eq!(r.dispatched, 500);
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
        assert!(max_in_flight <= 4);
    }

    #[test]
    fn unordered_delivers_everything() {
        let mut c = Collect { seen: vec![], stop_at: None };
        let stop = AtomicBool::new(false);
        run(&pool(3), cfg(2, false), &stop, 0..200usize, |_, x| x * 2, &mut c);
        c.seen.sort_unstable();
        assert_eq!(c.seen, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn refusing_stops_taking_items() {
        let mut c = Collect { seen: vec![], stop_at: Some(10) };
        let stop = AtomicBool::new(false);
        let r = run(&pool(2), cfg(4, true), &stop, 0..100_000usize, |_, x| x * 2, &mut c);
        assert!(r.dispatched < 10 + 4 + 2, "dispatched {}", r.dispatched);
        // Results of the items in flight are still delivered, in order.
        assert_eq!(c.seen, (0..r.dispatched).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_worker_ends_the_run_instead_of_hanging_it() {
        let mut c = Collect { seen: vec![], stop_at: None };
        let stop = AtomicBool::new(false);
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            run(&pool(2), cfg(4, true), &stop, 0..1000usize, |i, x| if i == 3 { panic!("boom") } else { x * 2 }, &mut c)
        }));
        assert!(r.is_err());
        assert_eq!(c.seen, [0, 1, 2]);
    }

    #[test]
    fn stop_flag_stops_taking_items() {
        let mut c = Collect { seen: vec![], stop_at: None };
        let stop = AtomicBool::new(true);
        let r = run(&pool(2), cfg(4, true), &stop, 0..100usize, |_, x| x * 2, &mut c);
        assert_eq!(r.dispatched, 0);
    }
}
