//! The result of an evaluation: [`Report`], serializable for machines and renderable as a
//! plain-text table for people.
//!
//! Every rate is a fraction in `[0, 1]` (CER may exceed 1) and comes with the counts it was
//! computed from, so that figures can be recombined or re-derived. A rate whose denominator is
//! zero is 1 for precision, recall, accuracy and exact rates (nothing was there to get wrong) and
//! 0 for error rates (see [`crate::eval`]).

use serde::{Deserialize, Serialize};

/// Everything `newsmend eval` measures. See [`crate::eval`] for the exact definitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub pages: PageStats,
    pub items: ItemStats,
    /// Field accuracy over aligned item pairs.
    pub fields: FieldStats,
    /// Item starts (boundary keys), multiset-matched per page.
    pub boundaries: PrecisionRecall,
    /// Caption texts, multiset-matched per page.
    pub captions: PrecisionRecall,
    /// `(caption text, credit)` pairs of captions that have a credit, multiset-matched per page.
    pub caption_credits: PrecisionRecall,
    /// Reporter names, multiset-matched per page.
    pub reporters: PrecisionRecall,
    /// Character error rate of the page texts.
    pub cer: CerStats,
    /// The pages that are furthest from gold, worst first (pages that are exact are never listed).
    pub worst_pages: Vec<PageSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageStats {
    /// Pages in the gold set. Only these pages are scored.
    pub gold: usize,
    /// Pages in the prediction set (including extra pages).
    pub predicted: usize,
    /// Gold pages with no prediction; scored as pages with no items.
    pub missing: usize,
    /// Predicted pages with no gold; listed, not scored.
    pub extra: usize,
    /// Gold pages whose prediction has the same number of items, each equal to gold in order.
    pub exact: usize,
    /// `exact / gold`.
    pub exact_rate: f64,
    pub missing_keys: Vec<String>,
    pub extra_keys: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemStats {
    /// Items on gold pages.
    pub gold: usize,
    /// Predicted items on gold pages (items of extra pages are not counted).
    pub predicted: usize,
    /// Items exactly equal to gold on all seven compared fields, counted by the order-preserving
    /// alignment (an LCS over items), so each gold item matches at most one predicted item.
    pub exact: usize,
    /// `exact / gold`: the exact-match rate of articles.
    pub exact_rate: f64,
    /// `exact / predicted`: penalizes over-segmentation, which `exact_rate` does not see.
    pub exact_precision: f64,
    /// Gold–predicted item pairs of the alignment, exact ones included.
    pub aligned_pairs: usize,
    /// Gold items left unpaired.
    pub missed: usize,
    /// Predicted items left unpaired.
    pub spurious: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldScore {
    /// Aligned pairs where this field is equal.
    pub equal: usize,
    /// `equal / pairs`.
    pub accuracy: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldStats {
    /// Aligned pairs the accuracies are computed over (= `items.aligned_pairs`).
    pub pairs: usize,
    pub kind: FieldScore,
    pub section: FieldScore,
    pub headline: FieldScore,
    pub dateline: FieldScore,
    pub reporters: FieldScore,
    pub paragraphs: FieldScore,
    pub captions: FieldScore,
}

impl FieldStats {
    /// The seven fields with their names, in record order.
    pub fn iter(&self) -> [(&'static str, &FieldScore); 7] {
        [
            ("kind", &self.kind),
            ("section", &self.section),
            ("headline", &self.headline),
            ("dateline", &self.dateline),
            ("reporters", &self.reporters),
            ("paragraphs", &self.paragraphs),
            ("captions", &self.captions),
        ]
    }
}

/// Precision and recall of a multiset comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrecisionRecall {
    pub gold: usize,
    pub predicted: usize,
    /// Size of the multiset intersection, summed over pages.
    pub matched: usize,
    /// `matched / predicted`.
    pub precision: f64,
    /// `matched / gold`.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CerStats {
    /// Characters of the gold page texts, summed over gold pages.
    pub gold_chars: usize,
    /// Characters of the predicted page texts on gold pages.
    pub predicted_chars: usize,
    /// Sum over gold pages of the Levenshtein distance between predicted and gold page text.
    pub edits: usize,
    /// `edits / gold_chars`.
    pub cer: f64,
    /// The same measure with the raw page text as the prediction, when raw pages were given.
    pub raw: Option<RawCer>,
}

/// Character error rate of the raw page text, the baseline the tool's repairs are measured
/// against. Computed over the gold pages for which raw text was given; `edits`/`cer` repeat the
/// tool's figures over the same pages so that the reduction compares like with like.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawCer {
    /// Gold pages with raw text.
    pub pages: usize,
    /// Gold characters of those pages.
    pub gold_chars: usize,
    /// The tool's edits on those pages.
    pub edits: usize,
    /// The tool's CER on those pages.
    pub cer: f64,
    /// Raw characters (whitespace removed) of those pages.
    pub raw_chars: usize,
    /// Sum of Levenshtein distances between raw and gold page text.
    pub raw_edits: usize,
    /// `raw_edits / gold_chars`.
    pub raw_cer: f64,
    /// `1 − cer / raw_cer` (= `1 − edits / raw_edits`); 0 when the raw text has no errors.
    pub reduction: f64,
}

/// One page of the worst-pages list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageSummary {
    pub key: String,
    pub gold_items: usize,
    pub predicted_items: usize,
    pub exact_items: usize,
    pub missed_items: usize,
    pub spurious_items: usize,
    pub edits: usize,
    pub gold_chars: usize,
    /// `edits / gold_chars` of this page.
    pub cer: f64,
    /// The first difference on the page.
    pub diff: Option<FieldDiff>,
}

/// The first difference on a page: the first non-exact aligned pair's first differing field (in
/// record order), or, if every pair is exact, the first unpaired item (`field` is then
/// `"missing item"` or `"extra item"` and the value is the item's text); for a page with no
/// prediction, `field` is `"page"`.
///
/// Field values are JSON (`null`, `"…"`, `[…]`), cut to about 120 characters around the first
/// character where the two values differ, cuts marked with `…`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// 1-based position of the gold item on the page (as a record's `index`), if any.
    pub gold_item: Option<usize>,
    /// 1-based position of the predicted item on the page, if any.
    pub predicted_item: Option<usize>,
    pub field: String,
    pub gold: String,
    pub predicted: String,
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// Error rates are small: four decimals, so that 13 edits in 315,000 characters do not print
/// as zero.
fn pct4(x: f64) -> String {
    format!("{:.4}%", x * 100.0)
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Lays out rows in columns padded to the widest cell (by `char` count, so CJK text in the last,
/// left-aligned column does not disturb alignment); trailing spaces are trimmed.
fn table(out: &mut String, align: &[Align], rows: &[Vec<String>]) {
    let cols = align.len();
    let mut width = vec![0; cols];
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (k, cell) in row.iter().enumerate() {
            if k > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(width[k] - cell.chars().count());
            match align[k] {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn list_keys(keys: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = keys.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if keys.len() > SHOWN {
        s.push_str(&format!(", … ({} more)", keys.len() - SHOWN));
    }
    s
}

impl Report {
    /// A human-readable summary: headline figures, field accuracy, precision/recall table and the
    /// worst pages with their first difference. Percentages have two decimals.
    pub fn render_table(&self) -> String {
        use Align::{Left, Right};
        let s = |x: usize| x.to_string();
        let mut out = String::new();

        let p = &self.pages;
        out.push_str(&format!(
            "pages: {} gold, {} predicted, {} missing, {} extra (not scored)\n",
            p.gold, p.predicted, p.missing, p.extra
        ));
        if !p.missing_keys.is_empty() {
            out.push_str(&format!("  missing: {}\n", list_keys(&p.missing_keys)));
        }
        if !p.extra_keys.is_empty() {
            out.push_str(&format!("  extra: {}\n", list_keys(&p.extra_keys)));
        }
        out.push('\n');

        let i = &self.items;
        let c = &self.cer;
        let mut rows = vec![
            vec!["metric".into(), "value".into(), "detail".into()],
            vec!["pages exact".into(), pct(p.exact_rate), format!("{} of {} gold pages", p.exact, p.gold)],
            vec!["items exact (rate)".into(), pct(i.exact_rate), format!("{} of {} gold items", i.exact, i.gold)],
            vec![
                "items exact (precision)".into(),
                pct(i.exact_precision),
                format!("{} of {} predicted items", i.exact, i.predicted),
            ],
            vec![
                "character error rate".into(),
                pct4(c.cer),
                format!("{} edits / {} gold chars", c.edits, c.gold_chars),
            ],
        ];
        if let Some(r) = &c.raw {
            rows.push(vec![
                "raw character error rate".into(),
                pct4(r.raw_cer),
                format!(
                    "{} edits / {} gold chars, on the {} of {} gold pages with raw text",
                    r.raw_edits, r.gold_chars, r.pages, p.gold
                ),
            ]);
            if r.pages != p.gold {
                rows.push(vec!["CER on those pages".into(), pct4(r.cer), format!("{} edits", r.edits)]);
            }
            rows.push(vec!["CER reduction from raw".into(), pct(r.reduction), "1 - CER / raw CER".into()]);
        }
        table(&mut out, &[Left, Right, Left], &rows);
        out.push('\n');

        let f = &self.fields;
        out.push_str(&format!(
            "field accuracy over {} aligned item pairs (unpaired: {} gold, {} predicted)\n",
            f.pairs, i.missed, i.spurious
        ));
        let mut rows = vec![vec!["field".into(), "accuracy".into(), "equal".into()]];
        for (name, score) in f.iter() {
            rows.push(vec![name.into(), pct(score.accuracy), s(score.equal)]);
        }
        table(&mut out, &[Left, Right, Right], &rows);
        out.push('\n');

        let mut rows =
            vec![["", "precision", "recall", "F1", "matched", "gold", "predicted"].map(String::from).to_vec()];
        for (name, pr) in [
            ("boundaries", &self.boundaries),
            ("captions", &self.captions),
            ("caption credits", &self.caption_credits),
            ("reporters", &self.reporters),
        ] {
            rows.push(vec![
                name.into(),
                pct(pr.precision),
                pct(pr.recall),
                pct(pr.f1),
                s(pr.matched),
                s(pr.gold),
                s(pr.predicted),
            ]);
        }
        table(&mut out, &[Left, Right, Right, Right, Right, Right, Right], &rows);

        if !self.worst_pages.is_empty() {
            out.push_str("\nworst pages\n");
            let mut rows = vec![["page", "exact/gold", "predicted", "CER"].map(String::from).to_vec()];
            let mut diffs = Vec::new();
            for w in &self.worst_pages {
                rows.push(vec![
                    w.key.clone(),
                    format!("{}/{}", w.exact_items, w.gold_items),
                    s(w.predicted_items),
                    pct(w.cer),
                ]);
                diffs.push(w.diff.as_ref());
            }
            let mut lines = String::new();
            table(&mut lines, &[Left, Right, Right, Right], &rows);
            let mut lines = lines.lines();
            out.push_str(lines.next().unwrap_or_default());
            out.push('\n');
            for (line, diff) in lines.zip(diffs) {
                out.push_str(line);
                out.push('\n');
                if let Some(d) = diff {
                    let at = |n: Option<usize>| n.map_or("-".to_string(), |n| format!("#{n}"));
                    out.push_str(&format!(
                        "    {} (gold {}, predicted {})\n      gold: {}\n      pred: {}\n",
                        d.field,
                        at(d.gold_item),
                        at(d.predicted_item),
                        d.gold,
                        d.predicted
                    ));
                }
            }
        }
        out
    }
}
