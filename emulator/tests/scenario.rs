//! Scenarios: several machines on one timeline, steps, artifacts, and
//! results that do not depend on the number of worker threads.

mod common;

use common::*;

fn scenario_file(name: &str) -> String {
    root()
        .join("images/scenarios")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn artifacts(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-art-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn steps_drive_and_check_several_devices() {
    // Needs the images the scenario names.
    image("uart-echo-an385");
    let dir = artifacts("consoles");
    let r = ensemble(&[
        "scenario",
        &scenario_file("consoles.toml"),
        "--artifacts",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("[  node] echo 1: PING"), "{}", r.stdout);
    assert!(
        r.stdout.contains("[   hub] uart-echo: done after 1 lines"),
        "{}",
        r.stdout
    );
    // The hub's quit was written at 2.5 s: the ticker had printed 2 s, not 3 s.
    let order: Vec<&str> = r.stdout.lines().collect();
    let quit = order
        .iter()
        .position(|l| l.contains("echo 1: QUIT"))
        .unwrap();
    let two = order.iter().position(|l| l.contains("200 ticks")).unwrap();
    let three = order.iter().position(|l| l.contains("300 ticks")).unwrap();
    assert!(two < quit && quit < three, "{}", r.stdout);
    let log = std::fs::read_to_string(dir.join("node.uart.txt")).unwrap();
    assert!(log.contains("echo 1: PING"));
}

#[test]
fn results_do_not_depend_on_thread_count() {
    image("uart-echo-an385");
    let mut runs = Vec::new();
    for threads in ["1", "2", "3"] {
        let dir = artifacts(&format!("t{threads}"));
        let r = ensemble(&[
            "scenario",
            &scenario_file("consoles.toml"),
            "--threads",
            threads,
            "--artifacts",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let logs: Vec<Vec<u8>> = ["hub", "node", "ticker"]
            .iter()
            .map(|d| std::fs::read(dir.join(format!("{d}.uart.txt"))).unwrap())
            .collect();
        runs.push((r.stdout, r.stderr, logs));
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
}

#[test]
fn a_step_that_times_out_fails_with_its_line() {
    let text = std::fs::read_to_string(scenario_file("consoles.toml"))
        .unwrap()
        .replace("echo 1: PING", "echo 1: PONG");
    // Keep image paths valid: write next to the original.
    // The step's [[step]] header, just above its action.
    let line = text.lines().position(|l| l.contains("PONG")).unwrap();
    let path = root().join(format!("images/scenarios/.tmp-{}.toml", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    let r = ensemble(&["scenario", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("'echo 1: PONG' not seen on node within 100 ms"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(":{line} failed")),
        "{}",
        r.stderr
    );
}

#[test]
fn malformed_scenarios_get_one_line_and_exit_2() {
    let cases = [
        (
            "[[device]]\nname = \"a\"\nboard = \"mps2-an385\"\nimage = \"missing.elf\"\n",
            "does not exist",
        ),
        ("name = \"x\"\nseed = \"seven\"\n", "x.toml:2:"),
        ("name = \"x\"\n", "at least one [[device]]"),
    ];
    for (text, needle) in cases {
        let f = temp_file("x.toml", text.as_bytes());
        let r = ensemble(&["scenario", &f]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(needle), "'{needle}' not in {}", r.stderr);
    }
}

#[test]
fn the_default_demo_scenario_passes() {
    image("net-hub");
    image("radio-node");
    let r = ensemble(&["scenario", &scenario_file("default.toml"), "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("scenario 'default' passed"),
        "{}",
        r.stderr
    );
}
