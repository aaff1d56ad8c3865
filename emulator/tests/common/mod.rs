//! Helpers for whole-machine tests: run the `ensemble` binary and QEMU on
//! the images built by scripts/build-images.sh.
#![allow(dead_code)]

pub mod gdb;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Path of a built image; panics with a hint when the images are missing.
pub fn image(name: &str) -> String {
    let p = root().join("images/build").join(format!("{name}.elf"));
    assert!(
        p.exists(),
        "{} is missing: run scripts/build-images.sh (scripts/test.sh does)",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn ensemble(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ensemble");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Boot `image` on `board` until the guest sleeps for good.
pub fn boot(board: &str, image_name: &str) -> Run {
    ensemble(&[
        "run",
        "--board",
        board,
        "--image",
        &image(image_name),
        "--no-input",
        "--time-limit",
        "120s",
    ])
}

pub fn qemu_available() -> bool {
    let ok = Command::new("qemu-system-arm")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok && std::env::var_os("ENSEMBLE_REQUIRE_QEMU").is_some() {
        panic!("qemu-system-arm is required for differential tests (scripts/setup.sh installs it)");
    }
    ok
}

/// Run `image` on QEMU's `machine` and return its UART output up to and
/// including the first line containing `end_marker` (our images then
/// sleep forever, so QEMU is stopped there).
pub fn qemu(machine: &str, image_name: &str, end_marker: &str, wall_limit: Duration) -> String {
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-M",
            machine,
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "stdio",
        ])
        // Instruction-counted time: QEMU's own output then does not depend
        // on how loaded the machine running the tests is.
        .args(["-icount", "shift=0,sleep=off"])
        .arg("-kernel")
        .arg(image(image_name))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qemu-system-arm");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let start = Instant::now();
    let mut out = Vec::new();
    let done = |out: &[u8]| {
        let s = String::from_utf8_lossy(out);
        s.find(end_marker)
            .and_then(|i| s[i..].find('\n').map(|j| i + j + 1))
    };
    let end = loop {
        if let Some(end) = done(&out) {
            break end;
        }
        let left = wall_limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            let _ = child.kill();
            panic!(
                "QEMU did not print '{end_marker}' within {wall_limit:?}; got:\n{}",
                String::from_utf8_lossy(&out)
            );
        }
        if let Ok(chunk) = rx.recv_timeout(left.min(Duration::from_millis(200))) {
            out.extend(chunk);
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    String::from_utf8_lossy(&out[..end]).into_owned()
}

/// A temporary file with the given contents, unique to this test process.
pub fn temp_file(name: &str, data: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("ensemble-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.to_string_lossy().into_owned()
}

/// Run `ensemble` with `input` piped to its stdin.
pub fn ensemble_with_input(args: &[&str], input: &[u8]) -> Run {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ensemble");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
