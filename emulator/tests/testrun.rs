//! `ensemble test`: the example tests pass, a failing test explains itself
//! in its artifacts and in JUnit XML, malformed files stop everything
//! before it starts, and results do not depend on -j.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

/// A fresh scratch folder for this test process.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-testrun-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// images/tests/*.toml, sorted.
fn example_tests() -> Vec<String> {
    // The images they boot.
    image("net-hub");
    image("net-node");
    image("net-ping");
    let mut v: Vec<String> = std::fs::read_dir(root().join("images/tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    v.sort();
    for name in ["ping", "discovery", "partition"] {
        assert!(
            v.iter().any(|f| f.ends_with(&format!("/{name}.toml"))),
            "images/tests/{name}.toml is missing"
        );
    }
    v
}

fn run(args: &[&str], files: &[String]) -> Run {
    let mut all: Vec<&str> = vec!["test"];
    all.extend_from_slice(args);
    all.extend(files.iter().map(|s| s.as_str()));
    ensemble(&all)
}

/// A test file that waits for text its device never prints.
fn failing_test(dir: &Path) -> (String, usize) {
    let text = format!(
        r#"# Expected to fail: the hello image never prints this.
[[device]]
name = "a"
board = "mps2-an385"
image = "{}"

[[step]]
wait-uart = {{ device = "a", regex = "hello: done", timeout = "1s" }}
[[step]]
wait-uart = {{ device = "a", regex = "never <seen> & 'quoted'", timeout = "1s" }}
"#,
        image("hello-an385")
    );
    let line = text
        .lines()
        .position(|l| l.contains("never <seen>"))
        .unwrap();
    let p = dir.join("never-matches.toml");
    std::fs::write(&p, text).unwrap();
    (p.to_string_lossy().into_owned(), line)
}

/// A parsed JUnit report: per test case its attributes and the names of
/// its child elements with their attributes.
struct Case {
    attrs: BTreeMap<String, String>,
    children: Vec<(String, BTreeMap<String, String>)>,
}

fn attrs(e: &quick_xml::events::BytesStart) -> BTreeMap<String, String> {
    e.attributes()
        .map(|a| {
            let a = a.expect("well-formed attribute");
            (
                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                    .expect("escaped value")
                    .into_owned(),
            )
        })
        .collect()
}

/// Parse the report (failing on any XML error) and return the testsuite's
/// attributes and its test cases.
fn parse_junit(xml: &str) -> (BTreeMap<String, String>, Vec<Case>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut suite = None;
    let mut cases: Vec<Case> = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    loop {
        let ev = reader.read_event().expect("well-formed JUnit XML");
        let (e, empty) = match &ev {
            Event::Eof => break,
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            _ => continue,
        };
        let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
        match name.as_str() {
            "testsuite" => suite = Some(attrs(e)),
            "testcase" => cases.push(Case {
                attrs: attrs(e),
                children: Vec::new(),
            }),
            _ if stack.last().is_some_and(|p| p == "testcase") => cases
                .last_mut()
                .unwrap()
                .children
                .push((name.clone(), attrs(e))),
            _ => {}
        }
        if !empty {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    (suite.expect("a <testsuite>"), cases)
}

#[test]
fn the_example_tests_pass_in_parallel() {
    let files = example_tests();
    let dir = scratch("examples");
    let art = dir.join("art");
    let junit = dir.join("junit.xml");
    let r = run(
        &[
            "-j",
            "2",
            "--artifacts",
            art.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        &files,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for name in ["ping", "discovery", "partition"] {
        assert!(
            r.stdout.contains(&format!("PASS {name}  virtual")),
            "{}",
            r.stdout
        );
    }
    assert!(
        r.stdout.contains(&format!(
            "{n} passed, 0 failed (of {n}) in",
            n = files.len()
        )),
        "{}",
        r.stdout
    );
    // Passed tests leave nothing behind.
    assert!(
        !art.exists() || std::fs::read_dir(&art).unwrap().next().is_none(),
        "artifacts of passed tests were kept"
    );
    let (suite, cases) = parse_junit(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(suite["tests"], files.len().to_string());
    assert_eq!(suite["failures"], "0");
    assert_eq!(cases.len(), files.len());
    for c in &cases {
        assert!(
            c.children
                .iter()
                .all(|(n, _)| n != "failure" && n != "error"),
            "{:?}",
            c.attrs
        );
        assert!(c.children.iter().any(|(n, _)| n == "properties"));
    }
}

#[test]
fn a_failing_test_keeps_its_artifacts_and_explains_why() {
    let dir = scratch("failing");
    let (failing, line) = failing_test(&dir);
    let ping = root()
        .join("images/tests/ping.toml")
        .to_string_lossy()
        .into_owned();
    let art = dir.join("art");
    let junit = dir.join("report/junit.xml");
    let r = run(
        &[
            "--artifacts",
            art.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        &[failing.clone(), ping.clone()],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("FAIL never-matches"), "{}", r.stdout);
    assert!(r.stdout.contains("PASS ping"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("{failing}:{line}")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("1 passed, 1 failed (of 2)"),
        "{}",
        r.stdout
    );
    let kept = art.join("never-matches");
    assert!(
        r.stdout.contains(&kept.display().to_string()),
        "the artifacts path is printed: {}",
        r.stdout
    );
    // The failure explained: which step, why, and the console's end.
    let failure = std::fs::read_to_string(kept.join("failure.txt")).unwrap();
    for needle in [
        "never <seen> & 'quoted'",
        &format!("{failing}:{line}"),
        "not seen on a within 1000 ms",
        "virtual time: 1.0",
        "hello: Ensemble test image on mps2-an385",
        "hello: done",
    ] {
        assert!(failure.contains(needle), "'{needle}' not in:\n{failure}");
    }
    let log = std::fs::read_to_string(kept.join("a.uart.txt")).unwrap();
    assert!(log.contains("hello: done"), "{log}");
    // The passed test's artifacts are gone.
    assert!(!art.join("ping").exists());

    let (suite, cases) = parse_junit(&std::fs::read_to_string(&junit).unwrap());
    assert_eq!(suite["tests"], "2");
    assert_eq!(suite["failures"], "1");
    assert_eq!(cases.len(), 2);
    let bad = &cases[0];
    assert_eq!(bad.attrs["name"], "never-matches");
    assert_eq!(bad.attrs["classname"], failing);
    let (_, f) = bad
        .children
        .iter()
        .find(|(n, _)| n == "failure")
        .expect("a <failure> for the failing test");
    assert!(
        f["message"].contains("'never <seen> & 'quoted'' not seen"),
        "{:?}",
        f
    );
    assert!(cases[1].children.iter().all(|(n, _)| n != "failure"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<system-out>"), "{xml}");
    assert!(xml.contains("net-ping: 4 sent, 4 received"), "{xml}");
}

#[test]
fn a_malformed_file_stops_everything_with_its_line() {
    let dir = scratch("malformed");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"bad\"\n[[device]]\nname = 7\nboard = \"mps2-an385\"\n",
    )
    .unwrap();
    let bad = bad.to_string_lossy().into_owned();
    let good = root()
        .join("images/tests/ping.toml")
        .to_string_lossy()
        .into_owned();
    let art = dir.join("art");
    let r = run(
        &["--artifacts", art.to_str().unwrap()],
        &[good, bad.clone()],
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!("ensemble: error: {bad}:3:")),
        "{}",
        r.stderr
    );
    // Nothing ran.
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(!art.exists());
}

/// Each test's printed block, without wall times and with `art` for the
/// artifacts folder, sorted by test.
fn blocks(stdout: &str, art: &Path) -> Vec<String> {
    let stdout = stdout.replace(&art.display().to_string(), "ART");
    let mut v: Vec<String> = Vec::new();
    for l in stdout.lines() {
        // The summary follows the last test.
        if l.is_empty() || l.contains(" passed, ") {
            break;
        }
        if l.starts_with("test ") {
            v.push(String::new());
        }
        let b = v.last_mut().expect("a block starts with its test line");
        b.push_str(l.split("  wall ").next().unwrap());
        b.push('\n');
    }
    v.sort();
    v
}

#[test]
fn results_do_not_depend_on_jobs() {
    let files: Vec<String> = example_tests()
        .into_iter()
        .filter(|f| {
            ["ping", "discovery", "partition"]
                .iter()
                .any(|n| f.ends_with(&format!("/{n}.toml")))
        })
        .collect();
    let dir = scratch("jobs");
    let (failing, _) = failing_test(&dir);
    let mut files = files;
    files.push(failing);
    let mut runs = Vec::new();
    for jobs in ["1", "2"] {
        let art = dir.join(format!("art-j{jobs}"));
        let r = run(
            &[
                "-j",
                jobs,
                "--keep-artifacts",
                "--artifacts",
                art.to_str().unwrap(),
            ],
            &files,
        );
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        let mut logs = BTreeMap::new();
        for test in std::fs::read_dir(&art).unwrap() {
            let test = test.unwrap().path();
            for f in std::fs::read_dir(&test).unwrap() {
                let f = f.unwrap().path();
                let name = f.file_name().unwrap().to_string_lossy().into_owned();
                if name.ends_with(".uart.txt") || name.ends_with(".pcap") {
                    let key = format!("{}/{name}", test.file_name().unwrap().to_string_lossy());
                    logs.insert(key, std::fs::read(&f).unwrap());
                }
            }
        }
        assert!(logs.keys().any(|k| k == "ping/pinger.uart.txt"), "{logs:?}");
        assert!(logs.keys().any(|k| k == "never-matches/a.uart.txt"));
        runs.push((logs, blocks(&r.stdout, &art)));
    }
    assert_eq!(
        runs[0].0.keys().collect::<Vec<_>>(),
        runs[1].0.keys().collect::<Vec<_>>()
    );
    for (k, v) in &runs[0].0 {
        assert!(runs[1].0[k] == *v, "{k} differs between -j 1 and -j 2");
    }
    assert_eq!(runs[0].1, runs[1].1);
}
