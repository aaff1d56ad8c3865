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

#[test]
fn a_host_program_talks_to_a_device_through_a_udp_bridge() {
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};
    image("net-hub");
    // The host's end, and a free port for the bridge's end (loopback only).
    let host = UdpSocket::bind("127.0.0.1:0").unwrap();
    host.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let bridge_port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = format!(
        "name = \"bridged\"\n\
         [[device]]\nname = \"hub\"\nboard = \"mps2-an385\"\nimage = \"../build/net-hub.elf\"\n\
         [[network]]\nname = \"lan\"\nkind = \"switch\"\nmembers = [\"hub\"]\n\
         [[bridge]]\nnetwork = \"lan\"\nkind = \"udp\"\nlocal = \"127.0.0.1:{bridge_port}\"\nremote = \"{}\"\n\
         [[step]]\ndelay = \"4s\"\n",
        host.local_addr().unwrap()
    );
    let path = scenario_file(&format!(".tmp-{}-bridge.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args(["scenario", path.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // ARP request from the host (02:00:00:00:00:99, 10.0.0.99) for 10.0.0.1.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 0x99, 0x08, 0x06]);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0x99, 10, 0, 0, 99]);
    arp.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 1]);
    arp.resize(60, 0);

    let start = Instant::now();
    let (mut heard_hub, mut got_reply) = (false, false);
    let mut buf = [0u8; 2048];
    while start.elapsed() < Duration::from_secs(10) && !got_reply {
        if heard_hub {
            host.send_to(&arp, ("127.0.0.1", bridge_port)).unwrap();
        }
        while let Ok(n) = host.recv(&mut buf) {
            let f = &buf[..n];
            heard_hub |= f[6..12] == [0x52, 0x54, 0x00, 0x12, 0x34, 0x00];
            // ARP reply (opcode 2) for our MAC, saying 10.0.0.1 is the hub.
            if f.len() >= 42
                && f[12..14] == [8, 6]
                && f[21] == 2
                && f[0..6] == [2, 0, 0, 0, 0, 0x99]
            {
                assert_eq!(&f[28..32], &[10, 0, 0, 1]);
                got_reply = true;
            }
        }
    }
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        heard_hub,
        "no frame from the hub reached the host: {stderr}"
    );
    assert!(got_reply, "no ARP reply from the hub: {stderr}");
    assert!(stderr.contains("bridged to the host"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn a_named_pipe_streams_the_capture_live() {
    let dir = artifacts("fifo");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("lan.pcap");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo");
    // A reader standing in for `wireshark -k -i lan.pcap`.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let r = ensemble(&[
        "scenario",
        scenario_file("lan.toml").to_str().unwrap(),
        "--quiet",
        "--pcap",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let streamed = reader.join().unwrap();
    // Same bytes as a capture written to a plain file.
    let file_dir = artifacts("fifo-file");
    run_scenario(&scenario_file("lan.toml"), &file_dir, "1");
    assert_eq!(streamed, std::fs::read(file_dir.join("lan.pcap")).unwrap());
}
