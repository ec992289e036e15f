//! Ctrl-C: the first one asks the run to stop (no new pages; pages in flight finish and are written
//! whole; the summary says `"interrupted": true`; exit code 130). A second one removes the temp
//! files being written and exits at once with 130.
//!
//! Only SIGINT is handled (the `ctrlc` crate without its `termination` feature). SIGTERM and
//! SIGKILL end the process at once: outputs are still never partial under their final names. New
//! outputs on Linux are unnamed files until whole, which vanish with the process; a rewrite of an
//! existing output (or any output elsewhere) may leave a hidden `.newsmend-*.tmp` file behind,
//! which is safe to delete.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Set by the first Ctrl-C.
pub static STOP: AtomicBool = AtomicBool::new(false);
static PRESSES: AtomicUsize = AtomicUsize::new(0);

/// Exit code of an interrupted run (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Installs the handler (once per process) and returns the stop flag.
pub fn install(what: &'static str) -> &'static AtomicBool {
    let result = ctrlc::set_handler(move || {
        if PRESSES.fetch_add(1, Ordering::SeqCst) == 0 {
            STOP.store(true, Ordering::SeqCst);
            eprintln!("newsmend: interrupted; finishing the {what} in flight (Ctrl-C again to abort now)");
        } else {
            let _guard = super::write::abandon_temps();
            eprintln!("newsmend: aborted");
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    });
    if let Err(e) = result {
        eprintln!("newsmend: warning: cannot handle Ctrl-C ({e}); an interrupt will end the run at once");
    }
    &STOP
}

/// Has the run been interrupted?
pub fn interrupted() -> bool {
    STOP.load(Ordering::SeqCst)
}
