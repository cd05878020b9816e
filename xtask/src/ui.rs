//! What xtask says while it works. Narration goes to stderr so that a command's own
//! stdout stays clean; every line is prefixed so it stands out from cargo's output.

/// Announces a step.
pub fn step(message: impl std::fmt::Display) {
    eprintln!("\n==> {message}");
}

/// A detail of the current step.
pub fn note(message: impl std::fmt::Display) {
    eprintln!("    {message}");
}

/// Something the user should know about but that does not stop the run.
pub fn warn(message: impl std::fmt::Display) {
    eprintln!("xtask: warning: {message}");
}
