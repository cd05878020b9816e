//! Stop signals: SIGINT (Ctrl-C), SIGTERM (a supervisor, an IDE's stop button) and
//! SIGHUP, taken by ctrlc's handler thread. The children do not share xtask's process
//! group (see [`supervise`]), so none of these reaches them unless xtask passes it on.
//!
//! The first one is passed on to every child as [`FORWARDED`], whatever still runs after
//! [`supervise::GRACE`] is killed, commands not yet started are refused and steps not yet
//! started skipped, the clusters this run started are stopped, and xtask exits with
//! [`EXIT_CODE`]. A second one kills the children and exits at once, without clean-up.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::Signal;

use crate::error::{Context, Result};
use crate::supervise;

/// What the children get. ctrlc does not say which signal arrived; SIGTERM is the
/// request to terminate that every child here honours (`ems serve` finishes the requests
/// in flight, cargo and the test binaries stop, and so do shells' background jobs, which
/// ignore SIGINT).
pub const FORWARDED: Signal = Signal::SIGTERM;

/// The exit status of a run that was stopped: the shell's 128 + SIGINT, "interrupted".
pub const EXIT_CODE: u8 = 130;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler: pass the signal on and remember it, instead of dying.
pub fn install() -> Result<()> {
    ctrlc::set_handler(on_stop_signal).context("cannot install the Ctrl-C/SIGTERM handler")
}

fn on_stop_signal() {
    // Recorded before forwarding: `supervise::spawn` reads it under the lock `forward`
    // takes, so every child is either signalled or never started.
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        eprintln!(
            "\nxtask: interrupted again: killing what xtask started and exiting without \
             clean-up (`cargo xtask stop` stops the clusters)"
        );
        supervise::kill_all();
        std::process::exit(EXIT_CODE.into());
    }
    eprintln!(
        "\nxtask: interrupted: stopping what xtask started, then its clusters (interrupt \
         again to exit at once)"
    );
    let reached = supervise::forward(FORWARDED);
    supervise::kill_survivors(reached, supervise::GRACE);
}

/// Whether SIGINT/SIGTERM/SIGHUP arrived: steps not yet started are skipped.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
