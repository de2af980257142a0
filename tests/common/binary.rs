//! The `agent-sessions` binary started as a process, as scripts start it: `serve` on a free
//! port, the first line read for the address, stopped on drop.

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `agent-sessions serve`.
pub struct Binary {
    child: Child,
    pub base: String,
    lines: mpsc::Receiver<String>,
}

impl Binary {
    pub fn start(args: &[&str]) -> Self {
        Self::start_under(&[], args)
    }

    /// Starts it through `wrapper` (`["prlimit", "--nofile=64"]`, say); empty: directly.
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> Self {
        let exe = env!("CARGO_BIN_EXE_agent-sessions");
        let mut command = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let mut child = command
            .arg("serve")
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a first line");
        let base = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Self { child, base, lines }
    }

    /// The server's process id (`prlimit` execs it, so the same process).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line it prints, if one comes within `wait`.
    pub fn next_line(&self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    /// SIGTERM; waits for a graceful stop ("stopped", exit 0).
    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a last line");
        assert_eq!(line, "stopped");
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit}");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
