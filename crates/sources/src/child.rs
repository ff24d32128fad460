//! Client tools (`psql`, `pg_dump`, and the next engine's own) as child processes: a tool's
//! output as a stream that fails unless the tool exits 0, its stderr drained so that a chatty
//! tool never blocks, its pipes given room, its version read. Shared by every engine that
//! drives a tool; where an engine's tools live and what their stderr means are its own.

use std::{
    io::{self, Read},
    process::{Child, ChildStdout, Command, Stdio},
    thread::JoinHandle,
};

/// Turns what a failed tool wrote on stderr into the error text a person reads.
pub type Explain = Box<dyn Fn(&str) -> String + Send>;

/// The standard output of a running tool as a stream that fails unless the tool exits 0.
///
/// A dump cut short (server gone, tool killed) must never look like a complete stream, so the
/// end of the output is only reported once the exit status says the tool finished its work.
/// Dropping it before the end kills the tool.
pub struct ChildOutput {
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<String>>,
    what: String,
    explain: Explain,
}

impl ChildOutput {
    /// Starts `cmd` with no standard input; `what` names it in errors, `explain` reads its
    /// stderr when it fails.
    pub fn spawn(mut cmd: Command, what: impl Into<String>, explain: Explain) -> io::Result<Self> {
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let stderr = child.stderr.take().map(drain);
        let stdout = child.stdout.take().expect("piped");
        enlarge_pipe(&stdout);
        Ok(Self { child, stdout, stderr, what: what.into(), explain })
    }
}

impl Read for ChildOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        let status = self.child.wait()?;
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        if status.success() { Ok(0) } else { Err(io::Error::other(format!("{} failed: {}", self.what, (self.explain)(&stderr)))) }
    }
}

impl Drop for ChildOutput {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Gives a pipe to or from a tool 1 MiB of room instead of 64 KiB. psql moves COPY data in
/// 4 KiB writes; with more room it runs ahead instead of waking its reader (or being woken)
/// for every few of them (a quarter less system time in a backup of the mixed benchmark
/// table). Best effort: a system that refuses keeps the default size, which only costs time.
pub fn enlarge_pipe(pipe: &impl std::os::fd::AsRawFd) {
    // SAFETY: F_SETPIPE_SZ only resizes the kernel buffer of a descriptor we own.
    unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
}

/// Reads a child's stderr (or any pipe) on a thread of its own, so a chatty tool never blocks
/// on a full pipe.
pub fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// The major version `program --version` prints (`pg_dump (PostgreSQL) 15.14 (Debian …)` →
/// 15); `None` when it cannot be run or prints no version.
pub fn major_version(program: &std::path::Path) -> Option<u32> {
    let output = Command::new(program).arg("--version").stdin(Stdio::null()).output().ok()?;
    parse_major(&String::from_utf8_lossy(&output.stdout))
}

/// The first word that starts with a digit, up to its first dot.
fn parse_major(version: &str) -> Option<u32> {
    let number = version.split_whitespace().find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    number.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_major("pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"), Some(15));
        assert_eq!(parse_major("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major("mysqldump  Ver 10.19 Distrib 10.11.6-MariaDB"), Some(10));
        assert_eq!(parse_major("no version here"), None);
    }

    #[test]
    fn a_tool_that_fails_after_its_output_makes_the_stream_fail_with_its_explained_stderr() {
        let cmd = || {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", "echo partial; echo 'server gone' >&2; exit 3"]);
            cmd
        };
        let mut out = ChildOutput::spawn(cmd(), "the dump", Box::new(|stderr| format!("it said: {}", stderr.trim()))).unwrap();
        let mut text = String::new();
        let err = out.read_to_string(&mut text).unwrap_err().to_string();
        assert_eq!(text, "partial\n");
        assert_eq!(err, "the dump failed: it said: server gone");
        let mut ok = Command::new("sh");
        ok.args(["-c", "echo whole"]);
        let mut text = String::new();
        ChildOutput::spawn(ok, "echo", Box::new(|_| unreachable!())).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "whole\n");
    }
}
