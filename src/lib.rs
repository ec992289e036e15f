//! newsmend: repairs the artifacts that OCR leaves in scanned newspaper pages and splits each page
//! into per-article records.
//!
//! The pipeline has one module per stage:
//!
//! ```text
//! bytes ──decode──▶ text ──normalize──▶ text ──repair──▶ paragraphs ──segment──▶ items ──emit──▶ JSON
//! ```
//!
//! * [`decode`]: bytes of any common encoding to UTF-8 text with `\n` line ends.
//! * [`normalize`]: character-level, line-preserving normalization (SPEC A3, A4, A10).
//! * [`repair`]: lines to paragraphs, undoing column breaks and hard wraps (A1), then stray words
//!   (A2), confusions (A8) and spaces between Chinese characters (A10) inside each paragraph.
//! * [`segment`]: paragraphs to items: headlines, datelines, bylines, captions, furniture (A5–A7).
//! * [`emit`]: items to [`Record`]s and JSON Lines.
//!
//! Everything that is specific to Chinese newspapers lives in [`rules`], loaded from data files.
//! [`Pipeline`] ties the stages together; the CLI, the tests and the benchmarks all go through it.

#[cfg(feature = "mimalloc")]
pub mod alloc;
pub mod audit;
pub mod decode;
pub mod edits;
pub mod emit;
pub mod eval;
pub mod normalize;
pub mod pipeline;
pub mod record;
pub mod repair;
pub mod rules;
pub mod segment;
pub mod text;

pub use pipeline::{Options, PageError, PageOutput, Pipeline, StageTimes};
pub use record::{Caption, Edit, Flag, GoldFields, Kind, Record};
pub use rules::{RuleError, RuleSet};
