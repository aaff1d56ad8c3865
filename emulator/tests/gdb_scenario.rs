//! `ensemble scenario --gdb`: a GDB server per device, driven by Debian's
//! gdb-multiarch in batch mode, and scenarios that nobody debugs running
//! as without the servers.

mod common;

use std::process::{Command, Stdio};

use common::gdb::{gdb, gdb_available, gdb_output, Ended, Process};

fn test_scenario(name: &str) -> String {
    common::root()
        .join("images/tests")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn artifacts(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-gdb-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The port after "gdb: DEVICE listening on 127.0.0.1:" in `stderr`.
fn port_of(stderr: &str, device: &str) -> u16 {
    let prefix = format!("gdb: {device} listening on 127.0.0.1:");
    stderr
        .split_once(&prefix)
        .and_then(|(_, rest)| rest.lines().next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port for {device} in: {stderr}"))
}

#[test]
fn gdb_debugs_one_device_of_a_scenario_that_then_passes() {
    if !gdb_available() {
        return;
    }
    common::image("net-ping");
    common::image("net-hub");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ensemble"));
    cmd.args([
        "scenario",
        &test_scenario("ping.toml"),
        "--headless",
        "--gdb",
        "0",
        "--gdb-wait",
        "pinger",
    ]);
    cmd.stdin(Stdio::null());
    let ens = Process::spawn("ensemble", &mut cmd);
    // One line per device, in scenario order, before anything runs.
    let stderr = ens.wait_for("gdb: pinger listening on 127.0.0.1:", true);
    let hub = port_of(&stderr, "hub");
    let pinger = port_of(&stderr, "pinger");
    assert_ne!(hub, pinger);
    assert!(
        stderr.find("gdb: hub listening").unwrap() < stderr.find("gdb: pinger listening").unwrap(),
        "{stderr}"
    );
    ens.wait_for("gdb [pinger]: waiting for gdb to connect", true);

    let image = common::image("net-ping");
    let out = gdb_output(gdb(
        pinger,
        Some(&image),
        &[
            "print waiting_seq",
            "break on_reply",
            "continue",
            "print waiting_seq",
            "print/x ping_id",
            // Held here a while: the whole scenario waits, and its steps'
            // time-outs (virtual time) do not run out.
            "shell sleep 1",
            "delete",
            "continue",
        ],
    ));
    let Ended {
        code,
        stdout,
        stderr,
    } = ens.end();
    let context = format!("gdb:\n{out}\nensemble stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(out.contains("$1 = 0"), "{context}");
    assert!(out.contains(", on_reply (src="), "{context}");
    assert!(out.contains("$2 = 1"), "{context}");
    assert!(out.contains("$3 = 0x500"), "{context}");
    // The scenario ended well, which gdb sees as the program exiting.
    assert!(out.contains("exited normally"), "{context}");
    assert!(stdout.contains("4 sent, 4 received"), "{context}");
    assert_eq!(code, 0, "{context}");
}

#[test]
fn unattached_servers_change_nothing() {
    common::image("net-ping");
    common::image("net-hub");
    let mut runs = Vec::new();
    for (tag, gdb) in [("plain", &[][..]), ("gdb", &["--gdb", "0"][..])] {
        let dir = artifacts(tag);
        let mut args = vec![
            "scenario",
            &test_scenario_owned("ping.toml"),
            "--headless",
            "--no-animation",
            "--threads",
            "2",
            "--artifacts",
            dir.to_str().unwrap(),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(gdb.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = common::ensemble(&args);
        assert_eq!(r.code, 0, "{tag}: {}", r.stderr);
        let mut files = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect::<Vec<_>>();
        files.sort();
        let _ = std::fs::remove_dir_all(&dir);
        runs.push((r.stdout, files));
    }
    assert!(!runs[0].1.is_empty());
    assert_eq!(runs[0].0, runs[1].0, "consoles differ");
    let names = |i: usize| runs[i].1.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(0), names(1));
    for (a, b) in runs[0].1.iter().zip(&runs[1].1) {
        assert!(a.1 == b.1, "{} differs with --gdb", a.0);
    }
}

fn test_scenario_owned(name: &str) -> String {
    test_scenario(name)
}

#[test]
fn bad_gdb_options_of_a_scenario_are_one_line_of_bad_input() {
    common::image("net-ping");
    common::image("net-hub");
    let file = test_scenario("ping.toml");
    for (args, needle) in [
        (
            &["--gdb-wait", "nosuch", "--gdb", "0"][..],
            "no such device",
        ),
        (&["--gdb", "65535"][..], "past 65535"),
        (&["--gdb", "nonsense"][..], "--gdb 'nonsense'"),
    ] {
        let mut all = vec!["scenario", file.as_str(), "--headless"];
        all.extend_from_slice(args);
        let r = common::ensemble(&all);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}
