//! `newsmend eval --gold GOLD PRED`.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Gold records: a directory of per-page .jsonl, or one JSON Lines file with `source` fields.
    #[arg(long)]
    pub gold: PathBuf,
    /// Predicted records, in the same forms.
    pub pred: PathBuf,
}

pub fn main(_args: EvalArgs) -> u8 {
    super::setup_error("eval is not built yet")
}
