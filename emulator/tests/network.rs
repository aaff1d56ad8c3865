//! Networks between machines: switched Ethernet with a real guest IPv4
//! stack, radio range, loss, partitions, captures, and determinism.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use pcap_file::pcap::PcapReader;

fn scenario_file(name: &str) -> PathBuf {
    root().join("images/scenarios").join(name)
}

fn artifacts(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-net-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn run_scenario(file: &Path, dir: &Path, threads: &str) -> Run {
    image("net-hub");
    ensemble(&[
        "scenario",
        file.to_str().unwrap(),
        "--threads",
        threads,
        "--artifacts",
        dir.to_str().unwrap(),
    ])
}

/// A variant of a scenario written next to it (so relative image paths
/// still resolve), removed after use.
fn variant(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(scenario_file(name)).unwrap();
    let p = scenario_file(&format!(".tmp-{}-{name}", std::process::id()));
    std::fs::write(&p, edit(text)).unwrap();
    p
}

fn frames(pcap: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut r = PcapReader::new(std::fs::File::open(pcap).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        out.push((p.timestamp.as_nanos() as u64, p.data.into_owned()));
    }
    out
}

#[test]
fn devices_discover_each_other_and_ping_over_the_switch() {
    let dir = artifacts("lan");
    let r = run_scenario(&scenario_file("lan.toml"), &dir, "2");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("[ ping] net-ping: 4 sent, 4 received"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("net-hub: node-2 joined (10.0.0.3"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("[  hub] net-hub: 10 readings"),
        "{}",
        r.stdout
    );

    // The capture holds what crossed the wire, in time order.
    let f = frames(&dir.join("lan.pcap"));
    assert!(f.len() > 20);
    assert!(
        f.windows(2).all(|w| w[0].0 <= w[1].0),
        "timestamps in order"
    );
    let ethertype = |d: &[u8]| u16::from_be_bytes([d[12], d[13]]);
    let arp = f.iter().filter(|(_, d)| ethertype(d) == 0x0806).count();
    let icmp_echo = f
        .iter()
        .filter(|(_, d)| ethertype(d) == 0x0800 && d[23] == 1 && d[34] == 8)
        .count();
    let coap = f
        .iter()
        .filter(|(_, d)| {
            ethertype(d) == 0x0800 && d[23] == 17 && u16::from_be_bytes([d[36], d[37]]) == 5684
        })
        .count();
    assert!(arp >= 2, "ARP requests and replies");
    assert_eq!(icmp_echo, 4, "four echo requests");
    assert!(coap >= 10, "announcements and readings to port 5684");
    // Announcements go to the CoAP all-nodes multicast group.
    assert!(f
        .iter()
        .any(|(_, d)| d[0..6] == [0x01, 0x00, 0x5e, 0x00, 0x01, 0xbb]));
}

#[test]
fn same_frames_logs_and_timestamps_with_any_thread_count() {
    let mut results = Vec::new();
    for threads in ["1", "2", "4"] {
        let dir = artifacts(&format!("det{threads}"));
        let r = run_scenario(&scenario_file("lan.toml"), &dir, threads);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let logs: Vec<Vec<u8>> = ["hub", "ping", "node2", "node3"]
            .iter()
            .map(|d| std::fs::read(dir.join(format!("{d}.uart.txt"))).unwrap())
            .collect();
        results.push((std::fs::read(dir.join("lan.pcap")).unwrap(), logs, r.stdout));
    }
    assert!(
        results.windows(2).all(|w| w[0] == w[1]),
        "results differ between thread counts"
    );
}

#[test]
fn total_loss_makes_the_ping_step_fail() {
    let p = variant("lan.toml", |t| {
        t.replace(
            "bandwidth = \"100Mbit\"",
            "bandwidth = \"100Mbit\"\nloss = 1.0",
        )
    });
    let r = ensemble(&["scenario", p.to_str().unwrap()]);
    let _ = std::fs::remove_file(&p);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("'4 sent, 4 received' not seen on ping"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("resolving 10.0.0.1"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("is at 52:54"),
        "no ARP reply gets through: {}",
        r.stdout
    );
}

#[test]
fn a_partition_shows_in_the_logs_at_the_right_times() {
    let dir = artifacts("part");
    let r = run_scenario(&scenario_file("lan-partition.toml"), &dir, "2");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = std::fs::read_to_string(dir.join("ping.uart.txt")).unwrap();
    // Pings go out at 1 s intervals: the first before the cut at 0.5 s,
    // the second and third while cut off, the fourth after the heal at 2.5 s.
    assert!(log.contains("seq=1 bytes=56"), "{log}");
    assert!(log.contains("seq=2 timed out"), "{log}");
    assert!(log.contains("seq=3 timed out"), "{log}");
    assert!(log.contains("seq=4 bytes=56"), "{log}");
    // And the capture shows no echo reply between the cut and the heal.
    let f = frames(&dir.join("lan.pcap"));
    let replies: Vec<u64> = f
        .iter()
        .filter(|(_, d)| d.len() > 34 && d[12..14] == [8, 0] && d[23] == 1 && d[34] == 0)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(
        replies[0] < 500_000_000 && replies[1] > 2_500_000_000,
        "{replies:?}"
    );
}

#[test]
fn radio_range_ends_of_a_line_hear_only_the_middle() {
    image("radio-node");
    let dir = artifacts("radio");
    let r = ensemble(&[
        "scenario",
        scenario_file("radio-line.toml").to_str().unwrap(),
        "--artifacts",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = |d: &str| std::fs::read_to_string(dir.join(format!("{d}.uart.txt"))).unwrap();
    let (west, middle, east) = (log("west"), log("middle"), log("east"));
    assert!(
        west.contains("rx from 0x0002") && !west.contains("rx from 0x0003"),
        "{west}"
    );
    assert!(
        east.contains("rx from 0x0002") && !east.contains("rx from 0x0001"),
        "{east}"
    );
    assert!(
        middle.contains("rx from 0x0001") && middle.contains("rx from 0x0003"),
        "{middle}"
    );
    // 802.15.4 capture: 15 frames, 5 from each node.
    assert_eq!(frames(&dir.join("air.pcap")).len(), 15);
}

#[test]
fn moving_a_node_out_of_range_cuts_it_off() {
    image("radio-node");
    let p = variant("radio-line.toml", |t| {
        t.replace(
            "[[step]]\nwait-uart = { device = \"middle\"",
            "[[step]]\nmove = { device = \"east\", position = [500.0, 0.0, 0.0] }\n[[step]]\nwait-uart = { device = \"middle\"",
        )
    });
    let dir = artifacts("move");
    let r = ensemble(&[
        "scenario",
        p.to_str().unwrap(),
        "--artifacts",
        dir.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&p);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let middle = std::fs::read_to_string(dir.join("middle.uart.txt")).unwrap();
    assert!(!middle.contains("rx from 0x0003"), "{middle}");
    assert!(middle.contains("rx from 0x0001"), "{middle}");
}
