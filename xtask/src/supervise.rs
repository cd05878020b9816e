//! The children xtask starts, and how they are stopped. Each one leads a process group of
//! its own, recorded here while it runs, so that a stop signal sent to xtask alone (a
//! supervisor, an IDE's stop button, `kill <pid>`) still reaches everything it started,
//! grandchildren included (`cargo test` and its test binaries): [`forward`] passes the
//! signal on to every group and [`kill_survivors`] SIGKILLs what is still alive after
//! [`GRACE`]. A Ctrl-C in a terminal reaches only xtask as well (the children are not in
//! the terminal's foreground group) and takes the same path.
//!
//! Once xtask is stopping, only clean-up commands ([`Role::CleanUp`]) start; any other
//! spawn is refused, so a step that was about to begin does not outlive the signal.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::interrupt;

/// How long a child has to exit after a forwarded signal (or [`Supervised::stop`])
/// before it is killed.
pub const GRACE: Duration = Duration::from_secs(10);

/// How often the liveness of stopping children is checked.
const POLL: Duration = Duration::from_millis(100);

/// The process groups of the running children; each child leads its own.
static GROUPS: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// The registry, even if a thread panicked while holding it: it is a list of numbers.
fn groups() -> MutexGuard<'static, Vec<Pid>> {
    GROUPS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a command may start while xtask is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Part of the work: refused once a stop signal arrived.
    Work,
    /// Stops what xtask started (`pg_ctl stop`): runs even while stopping.
    CleanUp,
}

/// A running child in its own process group. Dropped before it was waited for, it is
/// stopped as by [`Supervised::stop`], so that no child outlives its owner.
#[derive(Debug)]
pub struct Supervised {
    child: Option<Child>,
    group: Pid,
}

/// Starts `command` in a new process group and records the group. The record is made
/// under the same lock [`forward`] takes, and the stop flag is read under it: a signal
/// either reaches the new child or makes this call refuse to start it.
pub fn spawn(command: &mut Command, role: Role) -> io::Result<Supervised> {
    command.process_group(0);
    let mut groups = groups();
    if let Some(refusal) = refusal(role, interrupt::interrupted()) {
        return Err(refusal);
    }
    let child = command.spawn()?;
    let Ok(raw) = i32::try_from(child.id()) else {
        return Err(io::Error::other("the child's pid does not fit a pid_t"));
    };
    let group = Pid::from_raw(raw);
    groups.push(group);
    Ok(Supervised {
        child: Some(child),
        group,
    })
}

/// Why a command with `role` may not start, once xtask is `stopping`, if it may not.
fn refusal(role: Role, stopping: bool) -> Option<io::Error> {
    match (role, stopping) {
        (Role::Work, true) => Some(io::Error::new(
            io::ErrorKind::Interrupted,
            "not started: xtask was interrupted",
        )),
        (Role::Work, false) | (Role::CleanUp, _) => None,
    }
}

impl Supervised {
    /// The child's process id (also its group's).
    pub fn pid(&self) -> u32 {
        self.group.as_raw().unsigned_abs()
    }

    /// The exit status if the child has exited, without blocking.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => child.try_wait(),
            None => Err(io::Error::other("the child was already waited for")),
        }
    }

    /// Waits for the child to exit.
    pub fn wait(mut self) -> io::Result<ExitStatus> {
        match self.child.take() {
            Some(mut child) => child.wait(),
            None => Err(io::Error::other("the child was already waited for")),
        }
    }

    /// Waits for the child, collecting the stdout and stderr it was given as pipes.
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        match self.child.take() {
            Some(child) => child.wait_with_output(),
            None => Err(io::Error::other("the child was already waited for")),
        }
    }

    /// SIGTERM to the child's group, SIGKILL to what is left of it after [`GRACE`];
    /// returns how the child ended.
    pub fn stop(self) -> io::Result<ExitStatus> {
        self.stop_within(GRACE)
    }

    /// SIGKILL to the child's group at once, as a crash would end it (for tests of what
    /// survives one); returns how the child ended.
    pub fn kill(mut self) -> io::Result<ExitStatus> {
        match self.child.take() {
            Some(mut child) => {
                signal_group(self.group, Signal::SIGKILL);
                child.wait()
            }
            None => Err(io::Error::other("the child was already waited for")),
        }
    }

    fn stop_within(mut self, grace: Duration) -> io::Result<ExitStatus> {
        match self.child.take() {
            Some(child) => terminate(child, self.group, grace),
            None => Err(io::Error::other("the child was already waited for")),
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child, self.group, GRACE).ok();
        }
        groups().retain(|group| *group != self.group);
    }
}

/// Stops one child's group: SIGTERM, then SIGKILL once `grace` has passed.
fn terminate(mut child: Child, group: Pid, grace: Duration) -> io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    signal_group(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        thread::sleep(POLL);
    }
    signal_group(group, Signal::SIGKILL);
    child.wait()
}

/// Sends `signal` to every running child's group; returns the groups it reached.
pub fn forward(signal: Signal) -> Vec<Pid> {
    groups()
        .iter()
        .copied()
        .filter(|group| signal_group(*group, signal))
        .collect()
}

/// The thread [`kill_survivors`] started, for [`wait_for_survivors`].
static SURVIVOR_KILLER: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

/// In the background: SIGKILLs each of `reached` that still has a live process after
/// `grace`, so that a child ignoring the forwarded signal cannot keep xtask waiting.
pub fn kill_survivors(reached: Vec<Pid>, grace: Duration) {
    if reached.is_empty() {
        return;
    }
    let spawned = thread::Builder::new()
        .name("kill-survivors".into())
        .spawn(move || {
            let deadline = Instant::now() + grace;
            let mut alive = reached;
            while !alive.is_empty() && Instant::now() < deadline {
                thread::sleep(POLL);
                alive.retain(|group| group_exists(*group));
            }
            for group in alive {
                signal_group(group, Signal::SIGKILL);
            }
        });
    match spawned {
        Ok(handle) => {
            *SURVIVOR_KILLER
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(handle);
        }
        // No thread to wait with: the children get no grace.
        Err(_) => kill_all(),
    }
}

/// Before xtask exits: waits until what the forwarded signal reached is gone, killing it
/// when the grace period ends. A group can outlive the child xtask waited for (a test
/// binary ignoring SIGTERM after cargo died of it), and must not outlive xtask.
pub fn wait_for_survivors() {
    let handle = SURVIVOR_KILLER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(handle) = handle {
        handle.join().ok();
    }
}

/// SIGKILLs every running child's group (a second stop signal: leave at once).
pub fn kill_all() {
    forward(Signal::SIGKILL);
}

/// Sends `signal` to a process group; false when the group is gone or not ours.
fn signal_group(group: Pid, signal: Signal) -> bool {
    killpg(group, signal).is_ok()
}

/// Whether the process group still has a process we may signal (exited children not
/// yet waited for count, which errs on the side of one more SIGKILL to nobody).
fn group_exists(group: Pid) -> bool {
    !matches!(killpg(group, None), Err(Errno::ESRCH | Errno::EPERM))
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    fn group_of(child: &Supervised) -> Pid {
        child.group
    }

    #[test]
    fn a_child_leads_its_own_process_group_and_is_recorded_while_it_runs() {
        let child = spawn(&mut sh("sleep 30"), Role::Work).unwrap();
        let group = group_of(&child);
        assert_eq!(nix::unistd::getpgid(Some(group)).unwrap(), group);
        assert!(groups().contains(&group));

        let status = child.stop().unwrap();
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
        assert!(
            !groups().contains(&group),
            "no longer recorded once stopped"
        );
    }

    #[test]
    fn stop_kills_a_child_that_ignores_sigterm_once_the_grace_period_is_over() {
        let mut command = sh("trap '' TERM; echo ready; sleep 30");
        command.stdout(Stdio::piped());
        let mut child = spawn(&mut command, Role::Work).unwrap();
        // The trap is set once the shell says so.
        let mut ready = [0u8; 6];
        let stdout = child
            .child
            .as_mut()
            .and_then(|c| c.stdout.as_mut())
            .unwrap();
        std::io::Read::read_exact(stdout, &mut ready).unwrap();

        let started = Instant::now();
        let status = child.stop_within(Duration::from_millis(500)).unwrap();
        assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn kill_ends_a_child_at_once_even_when_it_ignores_sigterm() {
        let child = spawn(&mut sh("trap '' TERM; sleep 30"), Role::Work).unwrap();
        let group = group_of(&child);
        let started = Instant::now();
        let status = child.kill().unwrap();
        assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!groups().contains(&group));
    }

    #[test]
    fn wait_with_output_collects_both_streams() {
        let mut command = sh("echo out; echo err >&2");
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = spawn(&mut command, Role::Work)
            .unwrap()
            .wait_with_output()
            .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert!(out.status.success());
    }

    #[test]
    fn once_stopping_only_clean_up_commands_start() {
        assert!(refusal(Role::Work, false).is_none());
        assert!(refusal(Role::CleanUp, false).is_none());
        assert!(refusal(Role::CleanUp, true).is_none());
        let refused = refusal(Role::Work, true).unwrap();
        assert_eq!(refused.kind(), io::ErrorKind::Interrupted);
        assert!(refused.to_string().contains("interrupted"), "{refused}");
    }

    #[test]
    fn a_group_whose_processes_all_exited_is_gone() {
        let child = spawn(&mut sh("exit 0"), Role::Work).unwrap();
        let group = group_of(&child);
        assert!(child.wait().unwrap().success());
        assert!(!group_exists(group));
    }
}
