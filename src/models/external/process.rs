//! Running the program: no shell, its own process group, output to files,
//! a deadline enforced with SIGTERM and then SIGKILL.
//!
//! Written on std::process because no maintained crate adds more than the
//! group kill (wait-timeout only polls as this does); the one system call
//! std lacks, a signal to a process group, comes from libc, which every
//! Unix build already links.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Time between SIGTERM and SIGKILL: enough for a trainer to flush a log.
pub const GRACE: Duration = Duration::from_secs(5);
/// How much of stderr a failed trial keeps.
const STDERR_TAIL_BYTES: u64 = 2_000;

/// Why a run failed, and the end of the program's stderr where it ran.
#[derive(Debug, PartialEq)]
pub struct Failure {
    pub what: String,
    pub stderr: Option<String>,
}

impl From<String> for Failure {
    fn from(what: String) -> Self {
        Self { what, stderr: None }
    }
}

/// Runs `command` in `cwd` with `env` added, waiting at most `timeout`.
/// Err says why it failed: it did not start, it exited non-zero, or it ran
/// out of time.
pub fn run(
    command: &[String],
    cwd: &Path,
    env: &[(&str, &Path)],
    timeout: Duration,
) -> Result<(), Failure> {
    let program = &command[0];
    let stdout_path = cwd.join("stdout.log");
    let stderr_path = cwd.join("stderr.log");
    let file = |path: &Path| {
        File::create(path).map_err(|e| Failure::from(format!("creating {}: {e}", path.display())))
    };
    let mut cmd = Command::new(program);
    cmd.args(&command[1..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(file(&stdout_path)?)
        .stderr(file(&stderr_path)?);
    for (key, value) in env {
        cmd.env(key, value);
    }
    own_group(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure::from(format!("could not start `{program}`: {e}")))?;
    let status = wait(&mut child, timeout)
        .map_err(|e| Failure::from(format!("waiting for `{program}`: {e}")))?;
    let what = match status {
        Waited::Exited(status) if status.success() => return Ok(()),
        Waited::Exited(status) => format!("`{}` failed ({})", command.join(" "), describe(status)),
        Waited::TimedOut { killed } => format!(
            "`{}` ran past its timeout of {} s and was stopped with SIGTERM{}",
            command.join(" "),
            crate::describe::number(timeout.as_secs_f64()),
            if killed {
                format!(", then SIGKILL {} s later", GRACE.as_secs())
            } else {
                String::new()
            },
        ),
    };
    Err(Failure {
        what,
        stderr: Some(tail(&stderr_path)),
    })
}

enum Waited {
    Exited(ExitStatus),
    /// Stopped at the deadline; `killed` when SIGTERM was not enough.
    TimedOut {
        killed: bool,
    },
}

fn wait(child: &mut Child, timeout: Duration) -> std::io::Result<Waited> {
    let start = Instant::now();
    if let Some(status) = poll_until(child, start + timeout)? {
        return Ok(Waited::Exited(status));
    }
    signal_group(child, Signal::Term);
    if poll_until(child, Instant::now() + GRACE)?.is_some() {
        return Ok(Waited::TimedOut { killed: false });
    }
    signal_group(child, Signal::Kill);
    child.wait()?;
    Ok(Waited::TimedOut { killed: true })
}

/// The exit status if the child ends before `deadline`. Polls with a
/// growing pause (1 ms to 100 ms): short programs return at once, long
/// ones cost nothing.
fn poll_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

enum Signal {
    Term,
    Kill,
}

/// The program leads a process group of its own, so a timeout stops what
/// it started too (a data loader's workers, a shell script's children).
#[cfg(unix)]
fn own_group(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
}

#[cfg(not(unix))]
fn own_group(_: &mut Command) {}

#[cfg(unix)]
fn signal_group(child: &mut Child, signal: Signal) {
    let signal = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // The group's id is the leader's pid (process_group(0)).
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) has no memory effects; a group that already
        // exited gives ESRCH, which is fine.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

#[cfg(not(unix))]
fn signal_group(child: &mut Child, _: Signal) {
    let _ = child.kill();
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "no exit status".into(),
    }
}

/// The last [`STDERR_TAIL_BYTES`] of a log, from a line start where one is
/// near; "(empty)" for none.
fn tail(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
        return "(not readable)".into();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(STDERR_TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return "(not readable)".into();
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = match (start > 0, text.find('\n')) {
        (true, Some(at)) => &text[at + 1..],
        _ => &text[..],
    };
    match text.trim_end() {
        "" => "(empty)".into(),
        t => t.to_string(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The failure's summary and stderr, joined.
    fn sh(script: &str, timeout: Duration) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let command = ["sh", "-c", script].map(String::from);
        run(&command, dir.path(), &[], timeout)
            .map_err(|f| format!("{}\n{}", f.what, f.stderr.unwrap_or_default()))
    }

    #[test]
    fn success_failure_and_a_missing_program() {
        assert_eq!(sh("exit 0", Duration::from_secs(10)), Ok(()));
        let err = sh(
            "echo first >&2; echo boom >&2; exit 3",
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(
            err.contains("exit status 3") && err.ends_with("first\nboom"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = run(
            &["/no/such/program".to_string()],
            dir.path(),
            &[],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            err.what.contains("could not start `/no/such/program`"),
            "{err:?}"
        );
        assert_eq!(err.stderr, None);
    }

    #[test]
    fn a_hanging_program_and_its_children_are_stopped() {
        let start = Instant::now();
        let err = sh("sleep 30 & sleep 30", Duration::from_millis(200)).unwrap_err();
        assert!(err.contains("ran past its timeout of 0.2 s"), "{err}");
        assert!(!err.contains("SIGKILL"), "sh exits on SIGTERM: {err}");
        assert!(start.elapsed() < Duration::from_secs(20));
        // One that ignores SIGTERM is killed after the grace period.
        let err = sh("trap '' TERM; sleep 30", Duration::from_millis(200)).unwrap_err();
        assert!(err.contains("then SIGKILL"), "{err}");
    }
}
