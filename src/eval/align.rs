//! Order-preserving alignment of one page's gold items with its predicted items.
//!
//! Exact matches come first: a longest common subsequence over items, two items matching when
//! all seven compared fields are equal. Its length is the number of exactly matched items, the
//! most any order-preserving one-to-one pairing can achieve, so one missing or one extra article
//! costs exactly one item and does not shift the rest of the page out of step.
//!
//! The items left over lie in *gaps* between consecutive exact matches (and before the first and
//! after the last). Inside a gap, gold and predicted items are paired so that field-level
//! accuracy can say *what* is wrong with them:
//!
//! * if both sides of the gap hold the same number of items, they are paired by position;
//! * otherwise every item of the shorter side is paired, in order, with an item of the longer
//!   side, choosing the pairing with the largest total text similarity (character-bigram Dice
//!   coefficient of the items' texts, see [`similarity`]); ties go to the earliest items, so
//!   with no signal at all this is again pairing by position. The longer side's remaining items
//!   are *missed* (gold) or *spurious* (predicted).
//!
//! Pairing by bare position in an uneven gap would pair a wrong-headline article with the
//! neighbour of a missing article and report two wrong items instead of one wrong headline and
//! one missing article.

use std::collections::HashMap;

use super::metrics::item_text;
use crate::record::GoldFields;

/// One step of an alignment, in page order. Indices are 0-based positions on each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A gold item aligned with a predicted item; `exact` when all compared fields are equal.
    Pair { gold: usize, pred: usize, exact: bool },
    /// A gold item with no predicted counterpart.
    Missed(usize),
    /// A predicted item with no gold counterpart.
    Spurious(usize),
}

/// Aligns `gold` with `pred`; every index of both sides appears in exactly one step.
pub(crate) fn align(gold: &[GoldFields], pred: &[GoldFields]) -> Vec<Step> {
    let (g, p) = (gold.len(), pred.len());
    let width = p + 1;
    let mut equal = vec![false; g * p];
    // lcs[i * width + j] = LCS length of gold[i..] and pred[j..].
    let mut lcs = vec![0u32; (g + 1) * width];
    for i in (0..g).rev() {
        for j in (0..p).rev() {
            let eq = gold[i] == pred[j];
            equal[i * p + j] = eq;
            lcs[i * width + j] = if eq {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }

    let mut steps = Vec::with_capacity(g.max(p));
    let (mut i, mut j) = (0, 0);
    let (mut gap_gold, mut gap_pred) = (0, 0);
    while i < g && j < p {
        if equal[i * p + j] && lcs[i * width + j] == lcs[(i + 1) * width + j + 1] + 1 {
            pair_gap(gold, pred, gap_gold..i, gap_pred..j, &mut steps);
            steps.push(Step::Pair { gold: i, pred: j, exact: true });
            i += 1;
            j += 1;
            (gap_gold, gap_pred) = (i, j);
        } else if lcs[(i + 1) * width + j] >= lcs[i * width + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    pair_gap(gold, pred, gap_gold..g, gap_pred..p, &mut steps);
    steps
}

/// Pairs the leftover items of one gap (see the module documentation) and appends the steps in
/// page order.
fn pair_gap(
    gold: &[GoldFields],
    pred: &[GoldFields],
    gold_range: std::ops::Range<usize>,
    pred_range: std::ops::Range<usize>,
    steps: &mut Vec<Step>,
) {
    let (gs, ps) = (gold_range.start, pred_range.start);
    let (a, b) = (gold_range.len(), pred_range.len());
    // Pairs as offsets into the gap.
    let pairs: Vec<(usize, usize)> = if a == b || a == 0 || b == 0 {
        (0..a.min(b)).map(|k| (k, k)).collect()
    } else {
        let gold_grams: Vec<Bigrams> = gold[gold_range.clone()].iter().map(Bigrams::of).collect();
        let pred_grams: Vec<Bigrams> = pred[pred_range.clone()].iter().map(Bigrams::of).collect();
        let sim = |x: usize, y: usize| similarity(&gold_grams[x], &pred_grams[y]);
        if a < b {
            best_injection(a, b, sim)
        } else {
            best_injection(b, a, |s, l| sim(l, s)).into_iter().map(|(s, l)| (l, s)).collect()
        }
    };
    let (mut x, mut y) = (0, 0);
    for (pg, pp) in pairs {
        steps.extend((x..pg).map(|k| Step::Missed(gs + k)));
        steps.extend((y..pp).map(|k| Step::Spurious(ps + k)));
        let exact = gold[gs + pg] == pred[ps + pp];
        steps.push(Step::Pair { gold: gs + pg, pred: ps + pp, exact });
        (x, y) = (pg + 1, pp + 1);
    }
    steps.extend((x..a).map(|k| Step::Missed(gs + k)));
    steps.extend((y..b).map(|k| Step::Spurious(ps + k)));
}

/// Pairs each of `short` items with one of `long` items (`short < long`), in order, maximizing the
/// total similarity; returns `(short, long)` offset pairs in order. Ties prefer pairing earlier
/// long items, i.e. leaving the trailing ones unpaired.
fn best_injection(short: usize, long: usize, sim: impl Fn(usize, usize) -> u64) -> Vec<(usize, usize)> {
    let width = long + 1;
    // best[i * width + j]: the best total pairing the first i short items with the first j long
    // items; infeasible (j < i) cells stay None.
    let mut best: Vec<Option<u64>> = vec![None; (short + 1) * width];
    for cell in best.iter_mut().take(width) {
        *cell = Some(0);
    }
    for i in 1..=short {
        for j in i..=long {
            let skip = best[i * width + j - 1];
            let take = best[(i - 1) * width + j - 1].map(|v| v + sim(i - 1, j - 1));
            best[i * width + j] = skip.max(take);
        }
    }
    let mut pairs = Vec::with_capacity(short);
    let (mut i, mut j) = (short, long);
    while i > 0 {
        if j > i && best[i * width + j - 1] == best[i * width + j] {
            j -= 1;
        } else {
            pairs.push((i - 1, j - 1));
            i -= 1;
            j -= 1;
        }
    }
    pairs.reverse();
    pairs
}

/// The multiset of character bigrams of an item's text (see [`item_text`]), the first character
/// paired with a start marker so that one-character texts still have one bigram.
pub(crate) struct Bigrams {
    counts: HashMap<(char, char), u32>,
    total: u64,
}

impl Bigrams {
    pub(crate) fn of(item: &GoldFields) -> Bigrams {
        let mut counts = HashMap::new();
        let mut prev = '\0';
        let mut total = 0;
        for c in item_text(item).chars() {
            *counts.entry((prev, c)).or_insert(0) += 1;
            prev = c;
            total += 1;
        }
        Bigrams { counts, total }
    }
}

/// Dice coefficient of two bigram multisets, 2·|A∩B| / (|A|+|B|), in thousandths (integer, so
/// that ties in [`best_injection`] are exact).
pub(crate) fn similarity(a: &Bigrams, b: &Bigrams) -> u64 {
    if a.total + b.total == 0 {
        return 0;
    }
    let (small, large) = if a.counts.len() <= b.counts.len() { (a, b) } else { (b, a) };
    let common: u64 =
        small.counts.iter().map(|(k, &n)| u64::from(n.min(large.counts.get(k).copied().unwrap_or(0)))).sum();
    2 * common * 1000 / (a.total + b.total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;

    fn item(text: &str) -> GoldFields {
        GoldFields {
            kind: Kind::Brief,
            section: None,
            headline: None,
            dateline: None,
            reporters: vec![],
            paragraphs: vec![text.to_string()],
            captions: vec![],
        }
    }

    fn exact_count(steps: &[Step]) -> usize {
        steps.iter().filter(|s| matches!(s, Step::Pair { exact: true, .. })).count()
    }

    #[test]
    fn identical_pages_pair_exactly() {
        let page: Vec<_> = ["甲", "乙", "丙"].iter().map(|t| item(t)).collect();
        let steps = align(&page, &page);
        assert_eq!(exact_count(&steps), 3);
        assert_eq!(steps.len(), 3);
    }

    #[test]
    fn a_missing_item_costs_one() {
        let gold: Vec<_> = ["甲", "乙", "丙", "丁"].iter().map(|t| item(t)).collect();
        let pred = vec![gold[0].clone(), gold[2].clone(), gold[3].clone()];
        let steps = align(&gold, &pred);
        assert_eq!(exact_count(&steps), 3);
        assert!(steps.contains(&Step::Missed(1)));
    }

    #[test]
    fn uneven_gap_pairs_by_similarity() {
        let gold = vec![item("今天天气很好我们去公园"), item("北京市人民政府召开会议")];
        // The first gold item is missing, the second is slightly changed.
        let pred = vec![item("北京市人民政府召开了会议")];
        let steps = align(&gold, &pred);
        assert_eq!(steps, vec![Step::Missed(0), Step::Pair { gold: 1, pred: 0, exact: false }]);
    }

    #[test]
    fn no_signal_pairs_by_position() {
        let gold = vec![item("甲"), item("乙")];
        let pred = vec![item("丙"), item("丁"), item("戊")];
        let steps = align(&gold, &pred);
        assert_eq!(
            steps,
            vec![
                Step::Pair { gold: 0, pred: 0, exact: false },
                Step::Pair { gold: 1, pred: 1, exact: false },
                Step::Spurious(2)
            ]
        );
    }

    #[test]
    fn every_index_appears_once() {
        let gold: Vec<_> = ["a", "b", "c", "d", "e", "b"].iter().map(|t| item(t)).collect();
        let pred: Vec<_> = ["x", "b", "d", "y", "z", "w", "e"].iter().map(|t| item(t)).collect();
        let steps = align(&gold, &pred);
        let mut gs = vec![0; gold.len()];
        let mut ps = vec![0; pred.len()];
        for s in &steps {
            match *s {
                Step::Pair { gold, pred, .. } => {
                    gs[gold] += 1;
                    ps[pred] += 1;
                }
                Step::Missed(g) => gs[g] += 1,
                Step::Spurious(p) => ps[p] += 1,
            }
        }
        assert!(gs.iter().all(|&n| n == 1) && ps.iter().all(|&n| n == 1));
        assert_eq!(exact_count(&steps), 3); // b, d, e
    }
}
