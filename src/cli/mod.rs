//! Subcommands of the `newsmend` binary. They parse arguments, do the I/O, and call the library.

pub mod batch;
pub mod eval;
pub mod rules;
pub mod run;
pub mod stream;

use std::path::PathBuf;

use clap::Args;
use newsmend::{Options, Pipeline, RuleSet};

/// Exit code: every page succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: some page failed (the others were written).
pub const EXIT_PAGE_FAILED: u8 = 1;
/// Exit code: bad usage or setup (rules, output directory).
pub const EXIT_USAGE: u8 = 2;

/// Options shared by the commands that process pages.
#[derive(Args, Debug, Clone)]
pub struct PipelineArgs {
    /// Add or override rules with the *.toml files of this directory.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Decode every page with this encoding (gb18030, big5, utf-16le, …) instead of detecting it.
    #[arg(long, value_name = "NAME")]
    pub encoding: Option<String>,
    /// Attach every edit (rule, span, before, after) to the records.
    #[arg(long)]
    pub explain: bool,
}

impl PipelineArgs {
    /// Builds the pipeline, or says what is wrong with the setup.
    pub fn pipeline(&self) -> Result<Pipeline, String> {
        self.setup()?.build()
    }

    /// Reads the rules and options, or says what is wrong with them; compiling the rules (the
    /// slow part: tens of milliseconds of regex automata) is [`Setup::build`].
    pub fn setup(&self) -> Result<Setup, String> {
        let rules = match &self.rules {
            Some(dir) => RuleSet::with_overrides(dir).map_err(|e| format!("bad rules: {e}"))?,
            None => RuleSet::builtin(),
        };
        let encoding = match &self.encoding {
            Some(name) => Some(newsmend::decode::encoding_for_label(name).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(Setup { rules, options: Options { explain: self.explain, encoding } })
    }
}

/// Rules and options, read and checked, before the rules are compiled.
pub struct Setup {
    rules: RuleSet,
    options: Options,
}

impl Setup {
    /// Compiles the rules into a pipeline.
    pub fn build(&self) -> Result<Pipeline, String> {
        Pipeline::new(&self.rules, self.options.clone()).map_err(|e| format!("bad rules: {e}"))
    }
}

/// `--jobs N`: a number of workers, 1 or more.
pub fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a number of workers (1 or more)")),
    }
}

/// Prints an error for a setup problem and returns the usage exit code.
pub fn setup_error(msg: &str) -> u8 {
    eprintln!("newsmend: {msg}");
    EXIT_USAGE
}
