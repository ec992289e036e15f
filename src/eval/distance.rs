//! Character-level edit distance, the numerator of the character error rate.
//!
//! The character error rate compares whole pages (a newspaper page is thousands to tens of
//! thousands of characters, and the raw-text baseline compares the entire raw page), so the
//! textbook O(n·m) matrix is out of the question: 30 000 × 30 000 cells would be 3.6 GB of
//! `u32`. [`levenshtein`] uses the bit-parallel
//! algorithm of Myers (1999) in Hyyrö's formulation (2003), blocked over 64-bit words for patterns
//! longer than one word. It runs in O(⌈m/64⌉·n) word operations and keeps only two bit-vectors per
//! block plus a sparse match table, so memory is O(m + σ) where σ is the number of distinct
//! characters of the pattern.
//!
//! The alphabet is Unicode `char`s, so the match table ("Peq") cannot be a dense array indexed by
//! byte. It is a hash map from each pattern character to the sorted list of `(block, mask)` pairs
//! where that character occurs; a character occurs in at most m blocks in total over all
//! characters, so the table holds at most m entries whatever the alphabet size. Dense per-character
//! block vectors would cost σ·⌈m/64⌉ words instead, which for Chinese text (thousands of distinct
//! characters) is tens of megabytes at m = 30 000.

use std::collections::HashMap;

/// Levenshtein distance (unit-cost insertions, deletions and substitutions) between two character
/// sequences.
///
/// A common prefix and suffix are stripped first (model output is usually close to gold, so this
/// often leaves little to compare); the shorter remainder becomes the bit-parallel pattern.
pub fn levenshtein(a: &[char], b: &[char]) -> usize {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    let (pattern, text) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if pattern.is_empty() {
        return text.len();
    }
    myers_blocked(pattern, text)
}

/// Convenience wrapper over [`levenshtein`] for string slices (compares `char`s, not bytes).
pub fn levenshtein_str(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    levenshtein(&a, &b)
}

/// The sparse match table: for each pattern character, the blocks where it occurs with the bit
/// mask of its positions in that block, in increasing block order.
struct Peq {
    map: HashMap<char, Vec<(usize, u64)>>,
}

impl Peq {
    fn new(pattern: &[char]) -> Peq {
        let mut map: HashMap<char, Vec<(usize, u64)>> = HashMap::new();
        for (i, &c) in pattern.iter().enumerate() {
            let (block, bit) = (i / 64, 1u64 << (i % 64));
            let entries = map.entry(c).or_default();
            match entries.last_mut() {
                Some((b, mask)) if *b == block => *mask |= bit,
                _ => entries.push((block, bit)),
            }
        }
        Peq { map }
    }

    fn get(&self, c: char) -> &[(usize, u64)] {
        self.map.get(&c).map_or(&[], Vec::as_slice)
    }
}

/// Myers' bit-vector algorithm, one column (text character) at a time, blocks of 64 pattern rows
/// per word, carrying the horizontal deltas of each block's last row into the next block.
///
/// Per block, `vp`/`vn` hold the vertical deltas (+1 / −1) of the current column. The distance
/// is tracked at the last pattern row, starting from m (the first column is 0..=m) and adjusted
/// by that row's horizontal delta at each step. Bits above row m−1 in the last block are
/// garbage, but carries only flow upwards, so they never reach the tracked row.
fn myers_blocked(pattern: &[char], text: &[char]) -> usize {
    let m = pattern.len();
    let words = m.div_ceil(64);
    let last = 1u64 << ((m - 1) % 64);
    let peq = Peq::new(pattern);
    let mut vp = vec![!0u64; words];
    let mut vn = vec![0u64; words];
    let mut dist = m;

    for &c in text {
        let entries = peq.get(c);
        let mut next = 0;
        // Row 0 of the DP matrix is 0, 1, 2, …: its horizontal delta is always +1.
        let mut hp_carry = 1u64;
        let mut hn_carry = 0u64;
        for w in 0..words {
            let eq = match entries.get(next) {
                Some(&(block, mask)) if block == w => {
                    next += 1;
                    mask
                }
                _ => 0,
            };
            let (p, n) = (vp[w], vn[w]);
            // A −1 horizontal delta entering from the block below acts like a match on its
            // first row (Hyyrö 2003, "X = Eq | HNin").
            let x = eq | hn_carry;
            let d0 = ((x & p).wrapping_add(p) ^ p) | x | n;
            let mut hp = n | !(d0 | p);
            let mut hn = d0 & p;
            let (hp_in, hn_in) = (hp_carry, hn_carry);
            if w + 1 < words {
                hp_carry = hp >> 63;
                hn_carry = hn >> 63;
            } else {
                if hp & last != 0 {
                    dist += 1;
                }
                if hn & last != 0 {
                    dist -= 1;
                }
            }
            hp = (hp << 1) | hp_in;
            hn = (hn << 1) | hn_in;
            vp[w] = hn | !(d0 | hp);
            vn[w] = hp & d0;
        }
    }
    dist
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference: the textbook dynamic programme, O(n·m) time, one row of O(m) space.
    fn naive(a: &[char], b: &[char]) -> usize {
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, &ca) in a.iter().enumerate() {
            let mut diag = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let up = row[j + 1];
                let cost = usize::from(ca != cb);
                row[j + 1] = (diag + cost).min(up + 1).min(row[j] + 1);
                diag = up;
            }
        }
        row[b.len()]
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn known_values() {
        let cases = [
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("kitten", "sitting", 3),
            ("flaw", "lawn", 2),
            ("中华人民共和国", "中华人民共和国", 0),
            ("中华人民共和国", "中华人民共合国", 1),
            ("改革创新取得新突破", "改革创新取\n得新突破", 1),
            ("滆湖", "漏湖", 1),
        ];
        for (a, b, d) in cases {
            assert_eq!(levenshtein_str(a, b), d, "{a:?} vs {b:?}");
            assert_eq!(naive(&chars(a), &chars(b)), d, "naive {a:?} vs {b:?}");
        }
    }

    #[test]
    fn block_boundaries() {
        // Patterns whose length is exactly at, just below and just above word boundaries.
        for m in [63, 64, 65, 127, 128, 129, 192, 200] {
            let a: Vec<char> = (0..m).map(|i| ['甲', '乙', '丙'][i % 3]).collect();
            let mut b = a.clone();
            b[m / 2] = '丁';
            b.insert(m - 1, '戊');
            b.remove(0);
            assert_eq!(levenshtein(&a, &b), naive(&a, &b), "m = {m}");
            let empty: Vec<char> = Vec::new();
            assert_eq!(levenshtein(&a, &empty), m);
            let other: Vec<char> = (0..m + 70).map(|_| '己').collect();
            assert_eq!(levenshtein(&a, &other), naive(&a, &other), "m = {m}");
        }
    }

    fn small_alphabet(max: usize) -> impl Strategy<Value = Vec<char>> {
        prop::collection::vec(prop::sample::select(vec!['a', 'b', '中']), 0..max)
    }

    fn wide_alphabet(max: usize) -> impl Strategy<Value = Vec<char>> {
        prop::collection::vec(prop::char::ranges(vec!['a'..='z', '\u{4e00}'..='\u{4e3f}'].into()), 0..max)
    }

    /// A string and a few random edits of it: long shared stretches, as in real model output.
    fn near_pair() -> impl Strategy<Value = (Vec<char>, Vec<char>)> {
        (
            small_alphabet(400),
            prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::char::range('a', 'd')), 0..12),
        )
            .prop_map(|(a, edits)| {
                let mut b = a.clone();
                for (at, op, c) in edits {
                    if b.is_empty() {
                        b.push(c);
                        continue;
                    }
                    let i = at.index(b.len());
                    match op {
                        0 => b[i] = c,
                        1 => b.insert(i, c),
                        _ => {
                            b.remove(i);
                        }
                    }
                }
                (a, b)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn agrees_with_naive_small_alphabet(a in small_alphabet(300), b in small_alphabet(300)) {
            prop_assert_eq!(levenshtein(&a, &b), naive(&a, &b));
        }

        #[test]
        fn agrees_with_naive_wide_alphabet(a in wide_alphabet(300), b in wide_alphabet(300)) {
            prop_assert_eq!(levenshtein(&a, &b), naive(&a, &b));
        }

        #[test]
        fn agrees_with_naive_near_strings((a, b) in near_pair()) {
            prop_assert_eq!(levenshtein(&a, &b), naive(&a, &b));
            prop_assert_eq!(levenshtein(&b, &a), naive(&a, &b));
        }

        #[test]
        fn symmetric_and_bounded(a in small_alphabet(200), b in small_alphabet(200)) {
            let d = levenshtein(&a, &b);
            prop_assert_eq!(d, levenshtein(&b, &a));
            prop_assert!(d <= a.len().max(b.len()));
            prop_assert!(d >= a.len().abs_diff(b.len()));
        }
    }

    /// Performance check for long pages: run with
    /// `cargo test --release --lib eval::distance -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing check; run in release mode"]
    fn thirty_thousand_chars_is_fast() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // 3 000 distinct CJK characters, like a newspaper page.
        let a: Vec<char> = (0..30_000).map(|_| char::from_u32(0x4e00 + (next() % 3000) as u32).unwrap()).collect();
        let b: Vec<char> = (0..30_000).map(|_| char::from_u32(0x4e00 + (next() % 3000) as u32).unwrap()).collect();
        let start = std::time::Instant::now();
        let d = levenshtein(&a, &b);
        let unrelated = start.elapsed();
        // Same text with scattered edits: no shared prefix/suffix shortcut beyond the first edit.
        let mut c = a.clone();
        for i in (0..c.len()).step_by(97) {
            c[i] = '〇';
        }
        let start = std::time::Instant::now();
        let d2 = levenshtein(&a, &c);
        let edited = start.elapsed();
        eprintln!("30k x 30k: unrelated d={d} in {unrelated:?}; edited d={d2} in {edited:?}");
        assert_eq!(d2, 30_000usize.div_ceil(97));
        assert!(d > 25_000);
        assert!(unrelated.as_secs_f64() < 1.0, "{unrelated:?}");
        assert!(edited.as_secs_f64() < 1.0, "{edited:?}");
    }
}
