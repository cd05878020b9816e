//! Ctrl-C handling. A terminal sends SIGINT to the whole foreground process group, so
//! `cargo test` or `ems serve` stop on their own; xtask only has to survive the signal
//! so that its guards can stop the PostgreSQL cluster and Redis it started.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Context, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler: remember the interruption instead of dying.
pub fn install() -> Result<()> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: the user gave up on the clean-up; leave at once.
            eprintln!("\nxtask: interrupted twice, exiting without clean-up");
            std::process::exit(130);
        }
        eprintln!("\nxtask: interrupted, cleaning up (Ctrl-C again exits at once)");
    })
    .context("cannot install the Ctrl-C handler")
}

/// Whether SIGINT/SIGTERM arrived: steps not yet started are skipped.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
