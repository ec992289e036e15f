//! `newsmend stream`: pages as JSON Lines on stdin, records on stdout.

use clap::Args;

use super::PipelineArgs;

#[derive(Args, Debug)]
pub struct StreamArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub fn main(_args: StreamArgs) -> u8 {
    super::setup_error("stream mode is not built yet")
}
