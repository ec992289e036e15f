//! The allocator of the `newsmend` binary and of the benches: mimalloc, asked the way the
//! standard library asks the system's `malloc`.
//!
//! A page makes a few hundred small, short-lived allocations (lines, units, paragraph texts,
//! records) on whichever worker processes it. glibc's malloc spent ~10% of a run's instructions
//! on them; mimalloc's thread-local free lists make the same run ~12% faster (measured: 200 MB
//! UTF-8 corpus, 1 worker, 1.98 s → 1.74 s).
//!
//! The `mimalloc` crate's allocator sends every request through `mi_malloc_aligned`, even those
//! whose alignment any `malloc` result has. Its fast path costs about 20 instructions more than
//! `mi_malloc`'s, and a block beyond mimalloc's small sizes (1 KiB: page texts, line tables,
//! output buffers, about ten a page) takes its generic path at about 220 instructions. Here a
//! request goes to `mi_malloc` when the alignment is one `malloc` already guarantees, by the rule
//! the standard library's `System` allocator uses on Unix: at most 16 bytes (`max_align_t` on
//! x86-64 and AArch64) and at most the size. (mimalloc keeps the C guarantee: its block sizes
//! for 16 bytes and more are multiples of 16, and every page's first block is 16-aligned.) On the
//! 4,000-page GB18030 subset this took 11.5M instructions off 1,284M (callgrind).
//!
//! Built without transparent huge pages (the crate feature `no_thp` of `libmimalloc-sys`): with
//! them every arena was resident in 2 MiB steps (peak RSS 43 MB instead of 21 MB for the same
//! run, at the same speed).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc, mi_zalloc_aligned,
};

/// The largest alignment every `malloc` result has (`alignof(max_align_t)`).
const MALLOC_ALIGN: usize = 16;

/// mimalloc as a [`GlobalAlloc`]: `#[global_allocator] static A: Mimalloc = Mimalloc;`.
pub struct Mimalloc;

/// Does a block of `size` bytes from plain `malloc` have alignment `align`?
#[inline]
fn malloc_aligns(align: usize, size: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

// SAFETY: every block comes from mimalloc and goes back to it (`mi_free` frees blocks of either
// kind of call). A block from `mi_malloc`/`mi_zalloc`/`mi_realloc` is asked for only when
// `malloc_aligns` holds, so it has the layout's alignment; the others are asked for with it.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if malloc_aligns(layout.align(), layout.size()) {
            mi_malloc(layout.size()) as *mut u8
        } else {
            mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if malloc_aligns(layout.align(), layout.size()) {
            mi_zalloc(layout.size()) as *mut u8
        } else {
            mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi_free(ptr as *mut c_void);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if malloc_aligns(layout.align(), new_size) {
            mi_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size up to 5,000 bytes (small, medium and mimalloc's generic path) at every
    /// alignment up to 64: the blocks are aligned, writable, zeroed when asked, and keep their
    /// bytes through a realloc that grows and one that shrinks them.
    #[test]
    fn blocks_have_their_layouts_alignment_and_keep_their_bytes() {
        let a = Mimalloc;
        for align in [1usize, 2, 4, 8, 16, 32, 64] {
            for size in (1..=5000usize).step_by(7).chain([8, 16, 24, 48, 1024, 1025, 4096]) {
                let layout = Layout::from_size_align(size, align).unwrap();
                unsafe {
                    let z = a.alloc_zeroed(layout);
                    assert!(!z.is_null() && z as usize % align == 0, "zeroed {size}/{align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    a.dealloc(z, layout);

                    let p = a.alloc(layout);
                    assert!(!p.is_null() && p as usize % align == 0, "alloc {size}/{align}");
                    for i in 0..size {
                        *p.add(i) = i as u8;
                    }
                    let grown = a.realloc(p, layout, size * 3);
                    assert!(!grown.is_null() && grown as usize % align == 0, "grown {size}/{align}");
                    assert!((0..size).all(|i| *grown.add(i) == i as u8));
                    let big = Layout::from_size_align(size * 3, align).unwrap();
                    let shrunk = a.realloc(grown, big, size.div_ceil(2));
                    assert!(!shrunk.is_null() && shrunk as usize % align == 0, "shrunk {size}/{align}");
                    assert!((0..size.div_ceil(2)).all(|i| *shrunk.add(i) == i as u8));
                    a.dealloc(shrunk, Layout::from_size_align(size.div_ceil(2), align).unwrap());
                }
            }
        }
    }
}
