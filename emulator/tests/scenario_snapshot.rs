//! Snapshots of a whole scenario: a run restored from one continues as
//! the uninterrupted run did, byte for byte; a snapshot is refused by a
//! scenario it is not of.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-snap-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A LAN whose switch loses and delays frames at random, a device whose
/// cable is pulled before the snapshot and plugged back after it, and a
/// radio network on which a node moves: every kind of network state.
fn busy_scenario(dir: &Path) -> PathBuf {
    let b = root().join("images/build");
    let text = format!(
        r#"
name = "busy"
seed = 11
time_limit = "8s"

[[device]]
name = "hub"
board = "mps2-an385"
image = "{b}/net-hub.elf"

[[device]]
name = "ping"
board = "mps2-an385"
image = "{b}/net-ping.elf"

[[device]]
name = "node"
board = "mps2-an385"
image = "{b}/net-node.elf"

[[device]]
name = "west"
board = "sensor-node"
image = "{b}/radio-node.elf"
position = [0.0, 0.0, 0.0]

[[device]]
name = "east"
board = "sensor-node"
image = "{b}/radio-node.elf"
position = [20.0, 0.0, 0.0]

[[network]]
name = "lan"
kind = "switch"
members = ["hub", "ping", "node"]
latency = "1ms"
jitter = "300us"
loss = 0.1

[[network]]
name = "air"
kind = "wireless"
members = ["west", "east"]
range = 30.0
latency = "1ms"

[[step]]
at = "300ms"
link-down = {{ network = "lan", device = "node" }}
[[step]]
at = "600ms"
move = {{ device = "east", position = [25.0, 0.0, 0.0] }}
[[step]]
at = "1300ms"
link-up = {{ network = "lan", device = "node" }}
[[step]]
wait-uart = {{ device = "east", regex = "radio-node: done", timeout = "10s" }}
"#,
        b = b.display()
    );
    let p = dir.join("busy.toml");
    std::fs::write(&p, text).unwrap();
    p
}

struct Outcome {
    code: i32,
    /// The last line of stderr: how the scenario ended.
    ending: String,
    dir: PathBuf,
}

fn scenario(scn: &Path, dir: &Path, extra: &[&str]) -> Outcome {
    let mut args = vec![
        "scenario",
        scn.to_str().unwrap(),
        "--headless",
        "--quiet",
        "--no-animation",
        "--artifacts",
        dir.to_str().unwrap(),
        "--trace",
        "network",
        "--trace-file",
    ];
    let trace = dir.join("net.trace.txt");
    std::fs::create_dir_all(dir).unwrap();
    args.push(trace.to_str().unwrap());
    args.extend_from_slice(extra);
    let r = ensemble(&args);
    Outcome {
        code: r.code,
        ending: r.stderr.lines().last().unwrap_or("").to_string(),
        dir: dir.to_path_buf(),
    }
}

/// (timestamp ns, bytes) of every packet of a pcap.
fn packets(p: &Path) -> Vec<(u128, Vec<u8>)> {
    let f = std::fs::File::open(p).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(f).unwrap();
    let mut v = Vec::new();
    while let Some(pkt) = r.next_packet() {
        let pkt = pkt.unwrap();
        v.push((pkt.timestamp.as_nanos(), pkt.data.into_owned()));
    }
    v
}

#[test]
fn a_restored_scenario_continues_byte_for_byte() {
    image("net-hub");
    image("radio-node");
    let dir = temp_dir("busy");
    let scn = busy_scenario(&dir);
    let snap = dir.join("busy.snap");
    let plain = scenario(&scn, &dir.join("plain"), &[]);
    let saved = scenario(
        &scn,
        &dir.join("saved"),
        &["--snapshot-at", "1s", snap.to_str().unwrap()],
    );
    let restored = scenario(
        &scn,
        &dir.join("restored"),
        &["--restore", snap.to_str().unwrap()],
    );
    // Taking a snapshot changes nothing; the restored run ends the same.
    assert_eq!(plain.code, 0, "{}", plain.ending);
    for o in [&saved, &restored] {
        assert_eq!(o.code, plain.code, "{}", o.ending);
        assert_eq!(o.ending, plain.ending);
    }
    let devices = ["hub", "ping", "node", "west", "east"];
    for d in devices {
        let log = |o: &Outcome| std::fs::read(o.dir.join(format!("{d}.uart.txt"))).unwrap();
        assert_eq!(log(&saved), log(&plain), "{d}: snapshot taken");
        // UART logs start again with the consoles so far.
        assert_eq!(log(&restored), log(&plain), "{d}: restored");
    }
    assert!(
        String::from_utf8_lossy(&std::fs::read(restored.dir.join("east.uart.txt")).unwrap())
            .contains("radio-node: done")
    );
    // Captures start again at the restore: the frames from then on.
    for net in ["lan", "air"] {
        let all = packets(&plain.dir.join(format!("{net}.pcap")));
        assert_eq!(all, packets(&saved.dir.join(format!("{net}.pcap"))));
        let after = packets(&restored.dir.join(format!("{net}.pcap")));
        assert!(!after.is_empty() && after.len() < all.len(), "{net}");
        assert!(after[0].0 >= 1_000_000_000, "{net}");
        assert_eq!(after[..], all[all.len() - after.len()..], "{net}");
    }
    // So does the trace: what the networks did after the snapshot,
    // losses (the random generators') included.
    let trace = |o: &Outcome| std::fs::read_to_string(o.dir.join("net.trace.txt")).unwrap();
    let (all, after) = (trace(&plain), trace(&restored));
    assert_eq!(all, trace(&saved));
    assert!(after.contains("dropped: random loss"), "{after}");
    assert!(all.ends_with(&after) && after.len() < all.len());
    // Snapshots hold every machine's memory: do not leave them about.
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_snapshot_is_refused_by_what_it_is_not_of() {
    image("radio-node");
    let dir = temp_dir("refuse");
    let line = root().join("images/scenarios/radio-line.toml");
    let snap = dir.join("line.snap");
    let r = ensemble(&[
        "scenario",
        line.to_str().unwrap(),
        "--headless",
        "--quiet",
        "--time-limit",
        "1s",
        "--snapshot-at",
        "500ms",
        snap.to_str().unwrap(),
    ]);
    assert!(r.stderr.contains("scenario saved to"), "{}", r.stderr);
    let restore = |scn: &Path, snap: &Path| {
        ensemble(&[
            "scenario",
            scn.to_str().unwrap(),
            "--headless",
            "--quiet",
            "--restore",
            snap.to_str().unwrap(),
        ])
    };
    let refused = |r: &Run, why: &str| {
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(why), "'{why}' not in: {}", r.stderr);
    };
    // Another scenario.
    let lan = root().join("images/scenarios/lan.toml");
    refused(
        &restore(&lan, &snap),
        "a snapshot of scenario 'radio-line', not 'lan'",
    );
    // The same scenario, changed: one step fewer.
    let text = std::fs::read_to_string(&line).unwrap().replace(
        "../build/",
        &format!("{}/", root().join("images/build").display()),
    );
    let cut = text.rsplit_once("[[step]]").unwrap().0.to_string();
    let edited = dir.join("radio-line.toml");
    std::fs::write(&edited, cut).unwrap();
    refused(
        &restore(&edited, &snap),
        "another version of scenario 'radio-line'",
    );
    // Another format version.
    let mut data = std::fs::read(&snap).unwrap();
    data[8] ^= 0xff;
    let bad = dir.join("bad.snap");
    std::fs::write(&bad, &data).unwrap();
    refused(&restore(&line, &bad), "format version");
    // A snapshot of one machine.
    let one = dir.join("one.snap");
    let r = ensemble(&[
        "run",
        "--board",
        "sensor-node",
        "--image",
        &image("radio-node"),
        "--no-input",
        "--time-limit",
        "10ms",
        "--snapshot-at",
        "5ms",
        one.to_str().unwrap(),
    ]);
    assert!(one.exists(), "{}", r.stderr);
    refused(&restore(&line, &one), "a snapshot of one machine");
    refused(&restore(&line, &dir.join("missing.snap")), "--restore");
    let _ = std::fs::remove_dir_all(&dir);
}
