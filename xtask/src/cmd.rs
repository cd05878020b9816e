//! Running other programs: a small builder over [`std::process::Command`] that echoes
//! what it runs (with secrets masked), never reads our stdin, starts every program under
//! [`supervise`] (so a stop signal reaches it), and turns failures into errors that name
//! the command.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

use crate::error::{Error, Result};
use crate::supervise::{self, Role};

/// A command line to run.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(String, OsString, bool)>,
    cwd: Option<PathBuf>,
    echo: bool,
    role: Role,
}

impl Cmd {
    /// A command running `program`, echoed before it runs.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            echo: true,
            role: Role::Work,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable, shown in the echo.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.to_owned(), value.as_ref().to_owned(), false));
        self
    }

    /// Sets an environment variable whose value the echo masks.
    pub fn secret_env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.to_owned(), value.as_ref().to_owned(), true));
        self
    }

    /// Runs in `dir` instead of the current directory.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Does not echo the command (for polling and queries whose output is the point).
    pub fn quiet(mut self) -> Self {
        self.echo = false;
        self
    }

    /// Marks a command that stops what xtask started: it still runs once a stop signal
    /// arrived, when every other command is refused.
    pub fn cleanup(mut self) -> Self {
        self.role = Role::CleanUp;
        self
    }

    /// The command as a shell-like line, secrets masked.
    pub fn display(&self) -> String {
        let mut parts: Vec<String> = self
            .envs
            .iter()
            .map(|(k, v, secret)| {
                if *secret {
                    format!("{k}=***")
                } else {
                    format!("{k}={}", shell_quote(&v.to_string_lossy()))
                }
            })
            .collect();
        parts.push(shell_quote(&self.program.to_string_lossy()));
        parts.extend(self.args.iter().map(|a| shell_quote(&a.to_string_lossy())));
        parts.join(" ")
    }

    fn command(&self) -> Command {
        if self.echo {
            eprintln!("    $ {}", self.display());
        }
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).stdin(Stdio::null());
        for (k, v, _) in &self.envs {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs with inherited stdout/stderr and returns the exit status, whatever it is.
    pub fn status(&self) -> Result<ExitStatus> {
        supervise::spawn(&mut self.command(), self.role)
            .and_then(supervise::Supervised::wait)
            .map_err(|e| self.spawn_error(&e))
    }

    /// Runs with inherited stdout/stderr; a non-zero exit is an error.
    pub fn run(&self) -> Result<()> {
        let status = self.status()?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::msg(format!(
                "`{}` failed ({})",
                self.short(),
                describe(status)
            )))
        }
    }

    /// Runs capturing stdout and stderr, whatever the exit status.
    pub fn output(&self) -> Result<Output> {
        let mut command = self.command();
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        supervise::spawn(&mut command, self.role)
            .and_then(supervise::Supervised::wait_with_output)
            .map_err(|e| self.spawn_error(&e))
    }

    /// Runs capturing output and returns stdout; a non-zero exit is an error carrying
    /// the command's stderr.
    pub fn read(&self) -> Result<String> {
        let out = self.output()?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(Error::msg(format!(
                "`{}` failed ({}): {}",
                self.short(),
                describe(out.status),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// Program and first arguments: enough to name the command in an error.
    fn short(&self) -> String {
        let mut parts = vec![self.program.to_string_lossy().into_owned()];
        parts.extend(
            self.args
                .iter()
                .take(3)
                .map(|a| a.to_string_lossy().into_owned()),
        );
        if self.args.len() > 3 {
            parts.push("…".to_owned());
        }
        parts.join(" ")
    }

    fn spawn_error(&self, e: &std::io::Error) -> Error {
        Error::msg(format!(
            "cannot run `{}`: {e}",
            self.program.to_string_lossy()
        ))
    }
}

/// "exit code 3", "killed by signal 9".
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown exit status".to_owned(),
    }
}

/// Whether `program` is an executable file on `PATH`.
pub fn on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Quotes a word for display when it holds characters a shell would interpret.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_masks_secret_values_and_quotes_odd_words() {
        let cmd = Cmd::new("ems")
            .arg("serve")
            .arg("")
            .arg("a b")
            .env("APP_ENV", "development")
            .secret_env("ADMIN_PASSWORD", "hunter2hunter2");
        let shown = cmd.display();
        assert_eq!(
            shown,
            "APP_ENV=development ADMIN_PASSWORD=*** ems serve '' 'a b'"
        );
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn read_reports_the_failing_command_and_its_stderr() {
        let err = Cmd::new("sh")
            .args(["-c", "echo oops >&2; exit 3"])
            .quiet()
            .read()
            .unwrap_err()
            .to_string();
        assert!(err.contains("sh -c"), "{err}");
        assert!(err.contains("exit code 3"), "{err}");
        assert!(err.contains("oops"), "{err}");
    }

    #[test]
    fn a_missing_program_is_an_error_naming_it() {
        let err = Cmd::new("definitely-not-a-program-xyz")
            .quiet()
            .run()
            .unwrap_err()
            .to_string();
        assert!(err.contains("definitely-not-a-program-xyz"), "{err}");
    }
}
