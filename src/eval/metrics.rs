//! Per-page scoring and its aggregation into a [`Report`]. The definitions are documented on the
//! module [`crate::eval`] and on the report's fields.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use rayon::prelude::*;

use super::align::{align, Step};
use super::distance::levenshtein;
use super::report::{
    CerStats, FieldDiff, FieldScore, FieldStats, ItemStats, PageStats, PageSummary, PrecisionRecall, RawCer, Report,
};
use super::{EvalOptions, Pages};
use crate::record::GoldFields;

/// How many leading characters of an item's text make its boundary key.
pub const BOUNDARY_PREFIX_CHARS: usize = 12;

/// How many characters of each value a [`FieldDiff`] shows.
pub const DIFF_WIDTH: usize = 120;

/// The compared fields, in the order used for field accuracy and for choosing which difference a
/// [`FieldDiff`] shows.
pub const FIELD_NAMES: [&str; 7] = ["kind", "section", "headline", "dateline", "reporters", "paragraphs", "captions"];

/// An item's text: headline, then every paragraph, then every caption text, concatenated without
/// separators and with all whitespace (`char::is_whitespace`, which includes the ideographic space
/// U+3000) removed.
///
/// Section, dateline, reporters and credits are left out: they are scored by their own metrics,
/// and leaving them out keeps the text a plain reading of the article.
pub fn item_text(item: &GoldFields) -> String {
    let parts = item.headline.iter().chain(&item.paragraphs).chain(item.captions.iter().map(|c| &c.text));
    let mut text = String::new();
    for part in parts {
        text.extend(part.chars().filter(|c| !c.is_whitespace()));
    }
    text
}

/// A page's text for the character error rate: the [`item_text`] of every item, in order.
pub fn page_text(items: &[GoldFields]) -> Vec<char> {
    items.iter().flat_map(|i| item_text(i).chars().collect::<Vec<_>>()).collect()
}

/// An item's boundary key: the first [`BOUNDARY_PREFIX_CHARS`] characters of its [`item_text`].
pub fn boundary_key(item: &GoldFields) -> String {
    item_text(item).chars().take(BOUNDARY_PREFIX_CHARS).collect()
}

fn field_equal(g: &GoldFields, p: &GoldFields) -> [bool; 7] {
    [
        g.kind == p.kind,
        g.section == p.section,
        g.headline == p.headline,
        g.dateline == p.dateline,
        g.reporters == p.reporters,
        g.paragraphs == p.paragraphs,
        g.captions == p.captions,
    ]
}

fn field_json(item: &GoldFields, field: usize) -> String {
    let value = match field {
        0 => serde_json::to_string(&item.kind),
        1 => serde_json::to_string(&item.section),
        2 => serde_json::to_string(&item.headline),
        3 => serde_json::to_string(&item.dateline),
        4 => serde_json::to_string(&item.reporters),
        5 => serde_json::to_string(&item.paragraphs),
        _ => serde_json::to_string(&item.captions),
    };
    value.unwrap_or_default()
}

/// Cuts both values to [`DIFF_WIDTH`] characters around their first differing character (a third
/// of the window before it), marking cuts with `…`.
pub(crate) fn excerpt_pair(gold: &str, pred: &str) -> (String, String) {
    let g: Vec<char> = gold.chars().collect();
    let p: Vec<char> = pred.chars().collect();
    let first_diff = g.iter().zip(&p).take_while(|(a, b)| a == b).count();
    let start = first_diff.saturating_sub(DIFF_WIDTH / 3);
    let cut = |s: &[char]| {
        let start = start.min(s.len());
        let end = (start + DIFF_WIDTH).min(s.len());
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        out.extend(&s[start..end]);
        if end < s.len() {
            out.push('…');
        }
        out
    };
    (cut(&g), cut(&p))
}

/// Matched/gold/predicted counts of one multiset comparison.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub gold: usize,
    pub predicted: usize,
    pub matched: usize,
}

impl Counts {
    /// Size of the multiset intersection of `gold` and `pred`.
    fn multiset<T: Hash + Eq>(gold: impl IntoIterator<Item = T>, pred: impl IntoIterator<Item = T>) -> Counts {
        let mut remaining: HashMap<T, usize> = HashMap::new();
        let mut counts = Counts::default();
        for g in gold {
            *remaining.entry(g).or_insert(0) += 1;
            counts.gold += 1;
        }
        for p in pred {
            counts.predicted += 1;
            if let Some(n) = remaining.get_mut(&p) {
                if *n > 0 {
                    *n -= 1;
                    counts.matched += 1;
                }
            }
        }
        counts
    }

    fn add(&mut self, other: Counts) {
        self.gold += other.gold;
        self.predicted += other.predicted;
        self.matched += other.matched;
    }
}

/// Everything measured on one gold page.
#[derive(Clone, Debug)]
pub(crate) struct PageEval {
    pub key: String,
    pub present: bool,
    pub gold_items: usize,
    pub pred_items: usize,
    pub exact_items: usize,
    pub pairs: usize,
    pub missed: usize,
    pub spurious: usize,
    pub field_equal: [usize; 7],
    pub boundaries: Counts,
    pub captions: Counts,
    pub credits: Counts,
    pub reporters: Counts,
    pub gold_chars: usize,
    pub pred_chars: usize,
    pub edits: usize,
    /// Raw page characters (whitespace removed) and their distance to the gold text.
    pub raw: Option<(usize, usize)>,
    pub diff: Option<FieldDiff>,
}

impl PageEval {
    fn exact_page(&self) -> bool {
        self.present && self.exact_items == self.gold_items && self.pred_items == self.gold_items
    }
}

pub(crate) fn evaluate_page(
    key: &str,
    gold: &[GoldFields],
    pred: Option<&[GoldFields]>,
    raw: Option<&str>,
) -> PageEval {
    let present = pred.is_some();
    let pred = pred.unwrap_or(&[]);
    let steps = align(gold, pred);

    let mut exact_items = 0;
    let mut pairs = 0;
    let mut missed = 0;
    let mut spurious = 0;
    let mut field_counts = [0usize; 7];
    let mut diff = None;
    let mut first_unpaired = None;
    for step in &steps {
        match *step {
            Step::Pair { gold: gi, pred: pi, exact } => {
                pairs += 1;
                exact_items += usize::from(exact);
                let eq = field_equal(&gold[gi], &pred[pi]);
                for (count, e) in field_counts.iter_mut().zip(eq) {
                    *count += usize::from(e);
                }
                if diff.is_none() {
                    if let Some(f) = eq.iter().position(|e| !e) {
                        let (g, p) = excerpt_pair(&field_json(&gold[gi], f), &field_json(&pred[pi], f));
                        diff = Some(FieldDiff {
                            gold_item: Some(gi + 1),
                            predicted_item: Some(pi + 1),
                            field: FIELD_NAMES[f].to_string(),
                            gold: g,
                            predicted: p,
                        });
                    }
                }
            }
            Step::Missed(_) => {
                missed += 1;
                first_unpaired.get_or_insert(*step);
            }
            Step::Spurious(_) => {
                spurious += 1;
                first_unpaired.get_or_insert(*step);
            }
        }
    }
    if diff.is_none() {
        diff = match first_unpaired {
            _ if !present => Some(FieldDiff {
                gold_item: None,
                predicted_item: None,
                field: "page".to_string(),
                gold: format!("{} items", gold.len()),
                predicted: "no prediction for this page".to_string(),
            }),
            Some(Step::Missed(gi)) => Some(FieldDiff {
                gold_item: Some(gi + 1),
                predicted_item: None,
                field: "missing item".to_string(),
                gold: excerpt_pair(&item_text(&gold[gi]), "").0,
                predicted: String::new(),
            }),
            Some(Step::Spurious(pi)) => Some(FieldDiff {
                gold_item: None,
                predicted_item: Some(pi + 1),
                field: "extra item".to_string(),
                gold: String::new(),
                predicted: excerpt_pair("", &item_text(&pred[pi])).1,
            }),
            _ => None,
        };
    }

    let boundaries = Counts::multiset(gold.iter().map(boundary_key), pred.iter().map(boundary_key));
    let caption_texts = |items: &[GoldFields]| -> Vec<String> {
        items.iter().flat_map(|i| i.captions.iter().map(|c| c.text.clone())).collect()
    };
    let captions = Counts::multiset(caption_texts(gold), caption_texts(pred));
    let credited = |items: &[GoldFields]| -> Vec<(String, String)> {
        items
            .iter()
            .flat_map(|i| &i.captions)
            .filter_map(|c| c.credit.clone().map(|credit| (c.text.clone(), credit)))
            .collect()
    };
    let credits = Counts::multiset(credited(gold), credited(pred));
    let reporters = Counts::multiset(gold.iter().flat_map(|i| &i.reporters), pred.iter().flat_map(|i| &i.reporters));

    let gold_text = page_text(gold);
    let pred_text = page_text(pred);
    let edits = levenshtein(&pred_text, &gold_text);
    let raw = raw.map(|r| {
        let raw_text: Vec<char> = r.chars().filter(|c| !c.is_whitespace()).collect();
        (raw_text.len(), levenshtein(&raw_text, &gold_text))
    });

    PageEval {
        key: key.to_string(),
        present,
        gold_items: gold.len(),
        pred_items: pred.len(),
        exact_items,
        pairs,
        missed,
        spurious,
        field_equal: field_counts,
        boundaries,
        captions,
        credits,
        reporters,
        gold_chars: gold_text.len(),
        pred_chars: pred_text.len(),
        edits,
        raw,
        diff,
    }
}

/// `num / den`, with a rate over nothing defined as 1: nothing was there to get wrong.
pub(crate) fn rate(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

/// Edits per gold character; with no gold characters, 0 if nothing was predicted either, else 1.
pub(crate) fn error_rate(edits: usize, gold_chars: usize) -> f64 {
    match (edits, gold_chars) {
        (0, _) => 0.0,
        (_, 0) => 1.0,
        (e, n) => e as f64 / n as f64,
    }
}

fn precision_recall(c: Counts) -> PrecisionRecall {
    let precision = rate(c.matched, c.predicted);
    let recall = rate(c.matched, c.gold);
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    PrecisionRecall { gold: c.gold, predicted: c.predicted, matched: c.matched, precision, recall, f1 }
}

pub(crate) fn evaluate_with(
    gold: &Pages,
    pred: &Pages,
    raw: Option<&BTreeMap<String, String>>,
    options: &EvalOptions,
) -> Report {
    let keys: Vec<&String> = gold.keys().collect();
    let pages: Vec<PageEval> = keys
        .par_iter()
        .map(|&key| {
            evaluate_page(
                key,
                &gold[key],
                pred.get(key).map(Vec::as_slice),
                raw.and_then(|r| r.get(key)).map(String::as_str),
            )
        })
        .collect();

    let missing_keys: Vec<String> = pages.iter().filter(|p| !p.present).map(|p| p.key.clone()).collect();
    let extra_keys: Vec<String> = pred.keys().filter(|k| !gold.contains_key(*k)).cloned().collect();
    let exact_pages = pages.iter().filter(|p| p.exact_page()).count();

    let sum = |f: fn(&PageEval) -> usize| pages.iter().map(f).sum::<usize>();
    let gold_items = sum(|p| p.gold_items);
    let pred_items = sum(|p| p.pred_items);
    let exact_items = sum(|p| p.exact_items);
    let pairs = sum(|p| p.pairs);

    let mut field_equal = [0usize; 7];
    let (mut boundaries, mut captions, mut credits, mut reporters) = Default::default();
    for p in &pages {
        for (total, n) in field_equal.iter_mut().zip(p.field_equal) {
            *total += n;
        }
        Counts::add(&mut boundaries, p.boundaries);
        Counts::add(&mut captions, p.captions);
        Counts::add(&mut credits, p.credits);
        Counts::add(&mut reporters, p.reporters);
    }
    let score = |k: usize| FieldScore { equal: field_equal[k], accuracy: rate(field_equal[k], pairs) };

    let gold_chars = sum(|p| p.gold_chars);
    let edits = sum(|p| p.edits);
    let with_raw: Vec<&PageEval> = pages.iter().filter(|p| p.raw.is_some()).collect();
    let raw_stats = raw.map(|_| {
        let gold_chars: usize = with_raw.iter().map(|p| p.gold_chars).sum();
        let edits: usize = with_raw.iter().map(|p| p.edits).sum();
        let raw_chars: usize = with_raw.iter().filter_map(|p| p.raw).map(|r| r.0).sum();
        let raw_edits: usize = with_raw.iter().filter_map(|p| p.raw).map(|r| r.1).sum();
        RawCer {
            pages: with_raw.len(),
            gold_chars,
            edits,
            cer: error_rate(edits, gold_chars),
            raw_chars,
            raw_edits,
            raw_cer: error_rate(raw_edits, gold_chars),
            reduction: if raw_edits == 0 { 0.0 } else { 1.0 - edits as f64 / raw_edits as f64 },
        }
    });

    let mut worst: Vec<&PageEval> = pages.iter().filter(|p| !p.exact_page()).collect();
    worst.sort_by(|a, b| {
        (b.gold_items - b.exact_items)
            .cmp(&(a.gold_items - a.exact_items))
            .then(error_rate(b.edits, b.gold_chars).total_cmp(&error_rate(a.edits, a.gold_chars)))
            .then(b.spurious.cmp(&a.spurious))
            .then(a.key.cmp(&b.key))
    });
    let worst_pages = worst
        .into_iter()
        .take(options.worst_pages)
        .map(|p| PageSummary {
            key: p.key.clone(),
            gold_items: p.gold_items,
            predicted_items: p.pred_items,
            exact_items: p.exact_items,
            missed_items: p.missed,
            spurious_items: p.spurious,
            edits: p.edits,
            gold_chars: p.gold_chars,
            cer: error_rate(p.edits, p.gold_chars),
            diff: p.diff.clone(),
        })
        .collect();

    Report {
        pages: PageStats {
            gold: gold.len(),
            predicted: pred.len(),
            missing: missing_keys.len(),
            extra: extra_keys.len(),
            exact: exact_pages,
            exact_rate: rate(exact_pages, gold.len()),
            missing_keys,
            extra_keys,
        },
        items: ItemStats {
            gold: gold_items,
            predicted: pred_items,
            exact: exact_items,
            exact_rate: rate(exact_items, gold_items),
            exact_precision: rate(exact_items, pred_items),
            aligned_pairs: pairs,
            missed: sum(|p| p.missed),
            spurious: sum(|p| p.spurious),
        },
        fields: FieldStats {
            pairs,
            kind: score(0),
            section: score(1),
            headline: score(2),
            dateline: score(3),
            reporters: score(4),
            paragraphs: score(5),
            captions: score(6),
        },
        boundaries: precision_recall(boundaries),
        captions: precision_recall(captions),
        caption_credits: precision_recall(credits),
        reporters: precision_recall(reporters),
        cer: CerStats {
            gold_chars,
            predicted_chars: sum(|p| p.pred_chars),
            edits,
            cer: error_rate(edits, gold_chars),
            raw: raw_stats,
        },
        worst_pages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Caption, Kind};

    fn article(headline: &str, paragraphs: &[&str]) -> GoldFields {
        GoldFields {
            kind: Kind::Article,
            section: None,
            headline: Some(headline.to_string()),
            dateline: None,
            reporters: vec![],
            paragraphs: paragraphs.iter().map(|p| p.to_string()).collect(),
            captions: vec![],
        }
    }

    #[test]
    fn item_text_order_and_whitespace() {
        let mut a = article("标 题", &["第一段\u{3000}", " 第二段"]);
        a.captions.push(Caption { text: "图\t说".into(), credit: Some("张三".into()) });
        a.dateline = Some("本报讯".into());
        a.reporters.push("李四".into());
        assert_eq!(item_text(&a), "标题第一段第二段图说");
        assert_eq!(boundary_key(&a), "标题第一段第二段图说");
        let long = article("一二三四五六七八九十甲乙丙丁", &[]);
        assert_eq!(boundary_key(&long), "一二三四五六七八九十甲乙");
    }

    #[test]
    fn excerpt_centres_on_the_difference() {
        let gold: String = "甲".repeat(200) + "乙" + &"丙".repeat(200);
        let pred: String = "甲".repeat(200) + "丁" + &"丙".repeat(200);
        let (g, p) = excerpt_pair(&gold, &pred);
        assert!(g.starts_with('…') && g.ends_with('…'));
        assert_eq!(g.chars().count(), DIFF_WIDTH + 2);
        assert!(g.contains('乙') && p.contains('丁'));
        let (g, p) = excerpt_pair("\"短\"", "\"長\"");
        assert_eq!((g.as_str(), p.as_str()), ("\"短\"", "\"長\""));
    }

    #[test]
    fn multiset_counts_duplicates_once_each() {
        let c = Counts::multiset(["a", "a", "b"], ["a", "a", "a", "c"]);
        assert_eq!((c.gold, c.predicted, c.matched), (3, 4, 2));
    }

    #[test]
    fn rates_over_nothing() {
        assert_eq!(rate(0, 0), 1.0);
        assert_eq!(error_rate(0, 0), 0.0);
        assert_eq!(error_rate(3, 0), 1.0);
        let pr = precision_recall(Counts { gold: 4, predicted: 0, matched: 0 });
        assert_eq!((pr.precision, pr.recall, pr.f1), (1.0, 0.0, 0.0));
    }

    #[test]
    fn missing_page_scores_zero() {
        let gold = vec![article("标题", &["正文"])];
        let p = evaluate_page("k", &gold, None, None);
        assert!(!p.present && !p.exact_page());
        assert_eq!((p.edits, p.gold_chars, p.missed), (4, 4, 1));
        assert_eq!(p.diff.unwrap().field, "page");
    }
}
