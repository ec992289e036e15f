//! `newsmend rules`: list the rules, check a rule set and run its examples.

use clap::{Args, Subcommand};

use super::PipelineArgs;

#[derive(Args, Debug)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Validate the rule set (built-in plus --rules DIR) and run every rule's examples.
    Check {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

pub fn main(_args: RulesArgs) -> u8 {
    super::setup_error("rules check is not built yet")
}
