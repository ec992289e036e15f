//! `newsmend rules`: list a rule set, and check it: every rule compiles and every example of
//! every rule gives what it says.

use clap::{Args, Subcommand};
use newsmend::rules::check_examples;

use super::{setup_error, PipelineArgs, EXIT_OK, EXIT_PAGE_FAILED};

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
    /// List the rules: id, type, file and description.
    List {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

pub fn main(args: RulesArgs) -> u8 {
    match args.command {
        RulesCommand::Check { pipeline } => check(&pipeline),
        RulesCommand::List { pipeline } => list(&pipeline),
    }
}

fn rule_set(args: &PipelineArgs) -> Result<newsmend::RuleSet, String> {
    match &args.rules {
        Some(dir) => newsmend::RuleSet::with_overrides(dir).map_err(|e| format!("bad rules: {e}")),
        None => Ok(newsmend::RuleSet::builtin()),
    }
}

fn check(args: &PipelineArgs) -> u8 {
    let set = match rule_set(args) {
        Ok(s) => s,
        Err(e) => return setup_error(&e),
    };
    let failures = match check_examples(&set) {
        Ok(f) => f,
        Err(e) => return setup_error(&format!("bad rules: {e}")),
    };
    let examples: usize = set.rules().iter().map(|r| r.spec.examples.len()).sum();
    for f in &failures {
        eprintln!("{f}");
    }
    println!("{} rules, {} examples, {} failed", set.rules().len(), examples, failures.len());
    if failures.is_empty() {
        EXIT_OK
    } else {
        EXIT_PAGE_FAILED
    }
}

fn list(args: &PipelineArgs) -> u8 {
    let set = match rule_set(args) {
        Ok(s) => s,
        Err(e) => return setup_error(&e),
    };
    for r in set.rules() {
        println!("{:<28} {:<14} {:<18} {}", r.spec.id, format!("{:?}", r.spec.kind), r.file, r.spec.description);
    }
    EXIT_OK
}
