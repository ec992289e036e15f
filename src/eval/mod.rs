//! Evaluation of predicted records against gold records: the accuracy figures of the SPEC.
//!
//! [`load_records`] reads both sides into [`Pages`] (page key → items in page order),
//! [`evaluate`] compares them and returns a [`Report`], which serializes to JSON and renders as a
//! table with [`Report::render_table`].
//!
//! # Metric definitions
//!
//! These are the definitions the README figures quote. Only gold pages are scored: a gold page
//! with no prediction is scored as a page with no items, a predicted page with no gold is listed
//! as extra and otherwise ignored (so a run over a superset of the gold pages is not penalized).
//! Items are compared on the seven gold fields of [`GoldFields`] (`kind section headline dateline
//! reporters paragraphs captions`), by exact equality; other record fields are ignored.
//!
//! * **Item text.** Headline, then every paragraph, then every caption text, concatenated
//!   without separators, all whitespace removed ([`item_text`]). Datelines, reporters, sections
//!   and credits are not part of it. **Page text**: the item texts of the page in order.
//! * **Exact items** ([`ItemStats`]). Per page, the longest order-preserving one-to-one matching
//!   of gold and predicted items where matched items are equal on all seven fields (a longest
//!   common subsequence over items). *Exact-match rate* = exact items / gold items; *exact
//!   precision* = exact items / predicted items.
//! * **Exact pages.** Gold pages whose prediction has as many items as gold, each equal to the
//!   gold item at the same position.
//! * **Field accuracy** ([`FieldStats`]). Over the *aligned pairs*: the exact matches, plus the
//!   left-over items between consecutive exact matches paired by position, or, when the two sides
//!   of such a gap differ in length, by the order-preserving pairing of maximal text similarity
//!   (details in the `align` module). For each field: pairs where the field is equal / pairs.
//!   Unpaired items count as missed/spurious and are not in the denominator.
//! * **Boundaries.** An item's *boundary key* is the first 12 characters of its item text. On each
//!   page, the gold keys and the predicted keys are matched as multisets; a predicted item start
//!   is correct if an unmatched gold item on the same page has the same key. Precision = matched /
//!   predicted items, recall = matched / gold items, summed over pages. The key ignores `kind`
//!   (a brief predicted as an article still starts in the right place). Rather than the item's
//!   absolute position on the page, its place in order enters only through multiset matching
//!   (the k-th item with a given prefix matches the k-th such gold item): an absolute index
//!   would make one missed item at the top of a page turn every later boundary wrong.
//! * **Captions.** Multiset match per page of the caption texts (exact strings) of all items;
//!   precision = matched / predicted captions, recall = matched / gold captions. **Caption
//!   credits**: the same over `(caption text, credit)` pairs of captions whose credit is not
//!   null, so a credit counts only when it is attached to the right caption.
//! * **Reporters.** Multiset match of `(page, name)` pairs over all items' `reporters`.
//! * **Character error rate.** CER = Σ over gold pages of Levenshtein(predicted page text, gold
//!   page text) / Σ gold page text lengths, in `char`s (unit costs, [`distance::levenshtein`]).
//!   **Raw CER**, when decoded raw pages are given: the same with the raw page text (whitespace
//!   removed, nothing else changed) as the prediction, over the gold pages that have raw text;
//!   **reduction** = 1 − CER / raw CER over those same pages.
//! * **Rates over nothing.** Precision, recall, accuracy or exact rate with a zero denominator
//!   is 1 (nothing was there to get wrong); F1 is 0 when precision and recall are both 0; an
//!   error rate with zero gold characters is 0 with no edits and 1 otherwise.
//! * **Worst pages.** Pages that are not exact, sorted by most non-exact gold items (gold −
//!   exact), then highest page CER, then most spurious items, then key; the first
//!   [`EvalOptions::worst_pages`] are listed with their first difference ([`FieldDiff`]).

mod align;
pub mod distance;
mod load;
mod metrics;
mod report;

use std::collections::BTreeMap;

use crate::record::GoldFields;

pub use load::{load_records, page_key, EvalError};
pub use metrics::{boundary_key, item_text, page_text, BOUNDARY_PREFIX_CHARS, DIFF_WIDTH, FIELD_NAMES};
pub use report::{
    CerStats, FieldDiff, FieldScore, FieldStats, ItemStats, PageStats, PageSummary, PrecisionRecall, RawCer, Report,
};

/// Records by page: page key → the page's items in page order.
pub type Pages = BTreeMap<String, Vec<GoldFields>>;

/// How many worst pages a report lists by default.
pub const DEFAULT_WORST_PAGES: usize = 10;

/// Knobs of an evaluation that do not change the figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalOptions {
    /// How many worst pages to list in [`Report::worst_pages`].
    pub worst_pages: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { worst_pages: DEFAULT_WORST_PAGES }
    }
}

/// Compares predicted records with gold records, page by page (pages in parallel).
///
/// `raw` maps page keys to the decoded raw page text; when given, the report includes the raw
/// CER baseline and the tool's reduction of it.
pub fn evaluate(gold: &Pages, pred: &Pages, raw: Option<&BTreeMap<String, String>>) -> Report {
    evaluate_with(gold, pred, raw, &EvalOptions::default())
}

/// [`evaluate`] with options.
pub fn evaluate_with(
    gold: &Pages,
    pred: &Pages,
    raw: Option<&BTreeMap<String, String>>,
    options: &EvalOptions,
) -> Report {
    metrics::evaluate_with(gold, pred, raw, options)
}
