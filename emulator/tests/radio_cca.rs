//! Carrier sense on the wireless medium: a radio's clear channel
//! assessment sees another device's frame while it is on the air (from
//! the first quantum boundary after it starts), so CSMA defers instead of
//! colliding; two devices that start within that window still collide.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use pcap_file::pcap::PcapReader;

/// Two radio-nodes 10 m apart; commands on their UARTs (see
/// images/src/radio-node/main.c): L sends a 127-byte frame (4.3 ms on air)
/// at once, C does one CCA, S sends a hello with CSMA.
const SCENARIO: &str = r#"
name = "cca"
seed = 5
time_limit = "6s"

[[device]]
name = "a"
board = "sensor-node"
image = "../build/radio-node.elf"
position = [0.0, 0.0, 0.0]

[[device]]
name = "b"
board = "sensor-node"
image = "../build/radio-node.elf"
position = [10.0, 0.0, 0.0]

[[network]]
name = "air"
kind = "wireless"
members = ["a", "b"]
latency = "1ms"

# A's long frame; B assesses the channel in its middle, then after it.
[[step]]
at = "2.5s"
write-uart = { device = "a", text = "L" }
[[step]]
at = "2.502s"
write-uart = { device = "b", text = "C" }
[[step]]
at = "2.51s"
write-uart = { device = "b", text = "C" }
# B wants to send in the middle of A's next long frame: CSMA defers.
[[step]]
at = "2.7s"
write-uart = { device = "a", text = "L" }
[[step]]
at = "2.702s"
write-uart = { device = "b", text = "S" }
# Both start within one quantum: neither can know of the other, collision.
[[step]]
at = "3.5s"
write-uart = { device = "a", text = "L" }
[[step]]
at = "3.5s"
write-uart = { device = "b", text = "S" }
[[step]]
wait-uart = { device = "b", regex = "radio-node: done", timeout = "6s" }
"#;

fn run(threads: &str) -> PathBuf {
    image("radio-node");
    let tag = format!("{}-{threads}", std::process::id());
    let file = root().join(format!("images/scenarios/.tmp-cca-{tag}.toml"));
    std::fs::write(&file, SCENARIO).unwrap();
    let dir = std::env::temp_dir().join(format!("ensemble-cca-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    let r = ensemble(&[
        "scenario",
        file.to_str().unwrap(),
        "--threads",
        threads,
        "--artifacts",
        dir.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    dir
}

/// (start ns, end ns, PSDU) of every frame put on the air, in order.
fn on_air(pcap: &Path) -> Vec<(u64, u64, Vec<u8>)> {
    let mut r = PcapReader::new(std::fs::File::open(pcap).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let start = p.timestamp.as_nanos() as u64;
        // 250 kbit/s: 32 µs a byte, with 6 bytes of preamble, SFD and PHR.
        let end = start + (p.data.len() as u64 + 6) * 32_000;
        out.push((start, end, p.data.into_owned()));
    }
    out
}

fn is_long(psdu: &[u8]) -> bool {
    psdu.len() == 127 && psdu[9..].starts_with(b"long from 0x0001")
}

#[test]
fn cca_sees_a_frame_on_air_and_csma_defers_to_it() {
    let dir = run("1");
    let log = |d: &str| std::fs::read_to_string(dir.join(format!("{d}.uart.txt"))).unwrap();
    let (a, b) = (log("a"), log("b"));

    // In the middle of A's frame the channel is busy, after it clear.
    let busy = b.find("cca busy at").expect(&b);
    let clear = b.find("cca clear at").expect(&b);
    assert!(busy < clear, "{b}");
    assert_eq!(b.matches("cca ").count(), 2, "{b}");

    // CSMA: B found the channel busy, waited and sent after A's frame;
    // each heard the other.
    let deferred = b.find("tx seq 3: channel busy, retry in 3 ms").expect(&b);
    let sent = b.find("tx seq 3: hello from 0x0002 seq 3").expect(&b);
    assert!(deferred < sent, "{b}");
    assert!(
        a.contains("rx from 0x0002 rssi -70 lqi 159: hello from 0x0002 seq 3"),
        "{a}"
    );
    // B heard A's first two long frames; the third collided.
    assert_eq!(b.matches("long from 0x0001").count(), 2, "{b}");
    assert!(!a.contains("hello from 0x0002 seq 5"), "{a}");

    let air = on_air(&dir.join("air.pcap"));
    let longs: Vec<_> = air.iter().filter(|f| is_long(&f.2)).collect();
    assert_eq!(longs.len(), 3);
    // B's first CCA was in the middle of the first long frame, after the
    // quantum boundary that followed its start (1 ms quanta).
    let (s1, e1) = (longs[0].0, longs[0].1);
    assert!(s1 < 2_501_000_000 && e1 > 2_502_128_000, "{s1} {e1}");
    // No two frames overlap on air but the deliberate collision.
    let overlapping: Vec<(u64, u64)> = air
        .windows(2)
        .filter(|w| w[1].0 < w[0].1)
        .map(|w| (w[0].0, w[1].0))
        .collect();
    assert_eq!(overlapping.len(), 1, "{overlapping:?}");
    let (first, second) = overlapping[0];
    assert_eq!(first, longs[2].0);
    assert!(
        second - first < 1_000_000,
        "within one quantum: {first} {second}"
    );
    // The deferred hello went out after the second long frame ended.
    let deferred = air
        .iter()
        .find(|f| f.2.ends_with(b"hello from 0x0002 seq 3"))
        .expect("B's deferred hello");
    assert!(deferred.0 >= longs[1].1, "{} < {}", deferred.0, longs[1].1);
}

#[test]
fn carrier_sense_is_the_same_with_any_thread_count() {
    let one = run("1");
    let two = run("2");
    for f in ["a.uart.txt", "b.uart.txt", "air.pcap"] {
        let x = std::fs::read(one.join(f)).unwrap();
        let y = std::fs::read(two.join(f)).unwrap();
        assert!(x == y, "{f} differs between 1 and 2 threads");
    }
}
