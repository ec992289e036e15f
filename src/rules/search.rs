//! A compiled pattern and its search caches, one per thread, without a lock.
//!
//! A regex search needs a mutable cache (the lazy DFA's states, the backtracker's visited set).
//! The regex crate keeps each regex's caches in a pool whose fast path serves only the thread
//! that searched first; every other thread locks a mutex to take a cache and again to give it
//! back, on every search. With two workers that was 0.94% of the run's CPU time in a profile
//! (`Pool::put_value` and `Pool::get_slow`), and none with one: the lock the parallel run pays
//! for. Here every thread keeps its own caches, by the pattern's slot, in a thread-local table,
//! and searches through [`regex_automata::meta::Regex`]'s `*_with` methods, which take the
//! cache as an argument: the same engines and the same answers as the pool's.
//!
//! A slot number is taken when a [`Searcher`] is made and given back when it is dropped (rules
//! compiled again and again, as the tests do, reuse a few slots rather than grow every thread's
//! table). A reused slot can still hold the cache of the searcher that had it before, made for
//! another regex; each searcher therefore also has a number of its own that is never reused,
//! and a cache is used only by the searcher whose number it was made under.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use regex_automata::meta::{Cache, Regex};

/// A regex with a slot for its per-thread caches.
#[derive(Debug)]
pub(crate) struct Searcher {
    regex: Regex,
    slot: usize,
    /// Never the same for two searchers, also when they had the same slot.
    id: u64,
}

/// Slot numbers given back, and the next never used.
static SLOTS: Mutex<(Vec<usize>, usize)> = Mutex::new((Vec::new(), 0));
/// The next searcher's number.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's caches, by slot: the number of the searcher each was made for, and the cache.
    static CACHES: RefCell<Vec<Option<(u64, Cache)>>> = const { RefCell::new(Vec::new()) };
}

impl Searcher {
    pub(crate) fn new(regex: Regex) -> Searcher {
        let slot = {
            // (A poisoned lock still holds valid numbers: taking one cannot leave them half done.)
            let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
            match slots.0.pop() {
                Some(slot) => slot,
                None => {
                    slots.1 += 1;
                    slots.1 - 1
                }
            }
        };
        Searcher { regex, slot, id: NEXT_ID.fetch_add(1, Ordering::Relaxed) }
    }

    pub(crate) fn regex(&self) -> &Regex {
        &self.regex
    }

    /// Runs `search` with this thread's cache for the regex (made on the thread's first search).
    /// `search` must not search with another `Searcher`: the table is borrowed meanwhile.
    #[inline]
    pub(crate) fn with_cache<R>(&self, search: impl FnOnce(&Regex, &mut Cache) -> R) -> R {
        let mut search = Some(search);
        let done = CACHES.try_with(|table| {
            let mut table = table.borrow_mut();
            if table.len() <= self.slot {
                table.resize_with(self.slot + 1, || None);
            }
            let entry = &mut table[self.slot];
            if !entry.as_ref().is_some_and(|(id, _)| *id == self.id) {
                *entry = Some((self.id, self.regex.create_cache()));
            }
            search.take().zip(entry.as_mut()).map(|(f, (_, cache))| f(&self.regex, cache))
        });
        match done.ok().flatten() {
            Some(r) => r,
            // The thread's table is gone (a search from a thread-local destructor): a cache of
            // its own for this search.
            None => {
                let f = search.take().expect("the search ran only if the table was there");
                f(&self.regex, &mut self.regex.create_cache())
            }
        }
    }
}

impl Clone for Searcher {
    /// A clone shares the compiled regex and has a slot of its own.
    fn clone(&self) -> Searcher {
        Searcher::new(self.regex.clone())
    }
}

impl Drop for Searcher {
    fn drop(&mut self) {
        SLOTS.lock().unwrap_or_else(|e| e.into_inner()).0.push(self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::Input;

    fn searcher(p: &str) -> Searcher {
        Searcher::new(Regex::new(p).unwrap())
    }

    fn finds(s: &Searcher, text: &str) -> Option<(usize, usize)> {
        s.with_cache(|re, cache| re.search_with(cache, &Input::new(text))).map(|m| (m.start(), m.end()))
    }

    /// Two searchers for different regexes in the same slot (as when a slot is given back and
    /// taken again): the second does not search with the cache the first left there (made for
    /// the other regex, whose lazy DFA states mean nothing to it), and the first, searching again,
    /// makes its own anew.
    #[test]
    fn a_slot_does_not_lend_one_regex_cache_to_another() {
        let a = searcher("[0-9]+");
        assert_eq!(finds(&a, "ab 123 cd"), Some((3, 6)));
        let b = Searcher {
            regex: Regex::new("[a-z]+").unwrap(),
            slot: a.slot,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        };
        let owner = || CACHES.with(|t| t.borrow()[a.slot].as_ref().map(|(id, _)| *id));
        assert_eq!(owner(), Some(a.id));
        assert_eq!(finds(&b, "12 xyz 34"), Some((3, 6)));
        assert_eq!(owner(), Some(b.id), "the cache in the slot was made anew for the second regex");
        assert_eq!(finds(&b, "ab 123 cd"), Some((0, 2)));
        assert_eq!(finds(&a, "ab 123 cd"), Some((3, 6)));
        assert_eq!(owner(), Some(a.id));
        // (`b` shares `a`'s slot: only one of them gives it back.)
        std::mem::forget(b);
    }

    /// Two threads searching with the same searchers get the answers one thread gets.
    #[test]
    fn threads_keep_caches_of_their_own() {
        let s = [searcher("记者(\\p{Han}{2,3})"), searcher("^[（(]\\p{Han}+摄[）)]$")];
        let texts = ["本报记者张三报道", "（李四摄）", "没有", "新华社记者王五"];
        let want: Vec<_> = texts.iter().map(|t| (finds(&s[0], t), finds(&s[1], t))).collect();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        let got: Vec<_> = texts.iter().map(|t| (finds(&s[0], t), finds(&s[1], t))).collect();
                        assert_eq!(got, want);
                    }
                });
            }
        });
    }

    /// A clone has a slot of its own and finds the same matches.
    #[test]
    fn a_clone_searches_alike() {
        let a = searcher("\\d{4}年");
        let b = a.clone();
        assert_ne!(a.slot, b.slot);
        assert_eq!(finds(&a, "1998年1月"), finds(&b, "1998年1月"));
    }
}
