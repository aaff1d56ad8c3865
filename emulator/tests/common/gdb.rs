//! Driving `ensemble ... --gdb` and Debian's gdb-multiarch (batch mode)
//! from the GDB tests: processes whose output is collected while they
//! run, the port a server says it listens on, and gdb itself.

use std::io::Read;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest wait for a process to print or end: generous, since a Linux
/// guest boots for a while before gdb stops it on a busy machine.
pub const WALL_LIMIT: Duration = Duration::from_secs(300);

/// gdb-multiarch is needed; without it the tests are skipped, except under
/// scripts/test.sh (ENSEMBLE_REQUIRE_QEMU), where it must be there.
pub fn gdb_available() -> bool {
    let ok = Command::new("gdb-multiarch")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("ENSEMBLE_REQUIRE_QEMU").is_some() {
            panic!("gdb-multiarch is required for the GDB tests (scripts/setup.sh installs it)");
        }
        eprintln!("skipping: gdb-multiarch is not installed (scripts/setup.sh installs it)");
    }
    ok
}

/// A child process with its stdout and stderr collected as they come.
pub struct Process {
    name: &'static str,
    child: Child,
    /// The child's input when the command asked for a pipe.
    pub stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// How a process ended, with everything it printed.
pub struct Ended {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn collect(from: impl Read + Send + 'static, into: &Arc<Mutex<String>>) -> JoinHandle<()> {
    let into = into.clone();
    std::thread::spawn(move || {
        let mut from = from;
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
}

impl Process {
    /// Start `cmd` (its stdin as the caller set it).
    pub fn spawn(name: &'static str, cmd: &mut Command) -> Process {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), &stdout),
            collect(child.stderr.take().unwrap(), &stderr),
        ];
        let stdin = child.stdin.take();
        Process {
            name,
            child,
            stdin,
            stdout,
            stderr,
            readers,
        }
    }

    /// Wait until `text` shows on stdout (or stderr), and return all of it.
    pub fn wait_for(&self, text: &str, on_stderr: bool) -> String {
        let stream = if on_stderr {
            &self.stderr
        } else {
            &self.stdout
        };
        let start = Instant::now();
        loop {
            let seen = stream.lock().unwrap().clone();
            if seen.contains(text) {
                return seen;
            }
            assert!(
                start.elapsed() < WALL_LIMIT,
                "{} did not print '{text}'; stdout:\n{}\nstderr:\n{}",
                self.name,
                self.stdout.lock().unwrap(),
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port in the first stderr line starting with `prefix` (which
    /// ends just before the port, e.g. "gdb: listening on 127.0.0.1:").
    pub fn port_after(&self, prefix: &str) -> u16 {
        let stderr = self.wait_for(prefix, true);
        stderr
            .split_once(prefix)
            .and_then(|(_, rest)| rest.lines().next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port after '{prefix}' in: {stderr}"))
    }

    /// What Ctrl-C does in a terminal.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Wait for the process to end.
    pub fn end(mut self) -> Ended {
        let start = Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < WALL_LIMIT,
                "{} did not finish within {WALL_LIMIT:?}; stdout:\n{}\nstderr:\n{}",
                self.name,
                self.stdout.lock().unwrap(),
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in std::mem::take(&mut self.readers) {
            r.join().unwrap();
        }
        let stdout = self.stdout.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        Ended {
            code,
            stdout,
            stderr,
        }
    }
}

/// A test that fails half-way leaves no process behind.
impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// gdb-multiarch in batch mode connected to `port`, running `commands`,
/// with the symbols of `file` when given.
pub fn gdb(port: u16, file: Option<&str>, commands: &[&str]) -> Process {
    let mut cmd = Command::new("gdb-multiarch");
    cmd.args(["-nx", "-batch", "-ex", "set confirm off"])
        .arg("-ex")
        .arg(format!("target remote 127.0.0.1:{port}"));
    for c in commands {
        cmd.arg("-ex").arg(c);
    }
    cmd.args(file)
        .current_dir(super::root())
        .stdin(Stdio::null());
    Process::spawn("gdb-multiarch", &mut cmd)
}

/// Everything gdb printed, once it has finished.
pub fn gdb_output(gdb: Process) -> String {
    let end = gdb.end();
    end.stdout + &end.stderr
}
