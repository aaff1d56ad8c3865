//! Recording and replaying a scenario's inputs from outside (window input,
//! frames from a host through a bridge): a replay runs the recorded
//! session again byte for byte, without the host, and a recording is
//! refused by a scenario it is not of.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-rec-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A port on loopback that nobody uses (at the time of asking).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const HUB_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x00];
const HOST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];
const HOST_IP: [u8; 4] = [10, 0, 0, 99];
const HUB_IP: [u8; 4] = [10, 0, 0, 1];

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in bytes.chunks(2) {
        sum += u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame from the host to the hub: UDP 5684 -> 5684 carrying
/// `payload` (no UDP checksum), in QEMU's UDP socket framing (a frame per
/// datagram).
fn udp_to_hub(payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&HOST_IP);
    ip.extend_from_slice(&HUB_IP);
    let total = (20 + 8 + payload.len()) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut f = HUB_MAC.to_vec();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&5684u16.to_be_bytes());
    f.extend_from_slice(&5684u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f.resize(f.len().max(60), 0);
    f
}

/// A soft bus message (softbus.h): NON POST /sb/<topic>[?from=<from>].
fn coap(mid: u16, topic: &str, from: Option<&str>, text: &str) -> Vec<u8> {
    let mut m = vec![0x50, 0x02];
    m.extend_from_slice(&mid.to_be_bytes());
    m.extend_from_slice(&[0xb2, b's', b'b']);
    m.push(topic.len() as u8);
    m.extend_from_slice(topic.as_bytes());
    m.push(0x10);
    if let Some(from) = from {
        let q = format!("from={from}");
        m.push(0x30 | q.len() as u8);
        m.extend_from_slice(q.as_bytes());
    }
    m.push(0xff);
    m.extend_from_slice(text.as_bytes());
    m
}

/// An ARP reply from the host to whoever asked in `request`.
fn arp_reply(request: &[u8]) -> Vec<u8> {
    let mut f = request[6..12].to_vec();
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&HOST_IP);
    f.extend_from_slice(&request[22..32]);
    f.resize(60, 0);
    f
}

fn is_arp_request_for_host(f: &[u8]) -> bool {
    f.len() >= 42 && f[12..14] == [8, 6] && f[21] == 1 && f[38..42] == HOST_IP
}

/// The lines of stderr that tell how the run ended.
fn verdict(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(" passed at ") || l.contains(" failed at ") || l.contains("limit"))
        .collect()
}

#[test]
fn a_bridged_session_replays_without_the_host() {
    let dir = temp_dir("bridge");
    let b = root().join("images/build");
    image("net-hub");
    image("net-node");
    let host = UdpSocket::bind("127.0.0.1:0").unwrap();
    host.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let bridge_port = free_port();
    let scenario = dir.join("bridged.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"
name = "bridged"
seed = 5
time_limit = "30s"

[[device]]
name = "hub"
board = "mps2-an385"
image = "{b}/net-hub.elf"

[[device]]
name = "node"
board = "mps2-an385"
image = "{b}/net-node.elf"

[[network]]
name = "lan"
kind = "switch"
members = ["hub", "node"]
latency = "1ms"

[[bridge]]
network = "lan"
kind = "udp"
local = "127.0.0.1:{bridge_port}"
remote = "{}"

[[step]]
wait-uart = {{ device = "hub", regex = "host-99 joined", timeout = "20s" }}
[[step]]
wait-uart = {{ device = "hub", regex = "message from host-99 on msg: hello from the host", timeout = "5s" }}
[[step]]
wait-uart = {{ device = "hub", regex = "host-99 left", timeout = "10s" }}
"#,
            host.local_addr().unwrap(),
            b = b.display()
        ),
    )
    .unwrap();
    let rec = dir.join("session.txt");
    let recorded = dir.join("recorded");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args(["scenario", &s(&scenario), "--headless", "--artifacts"])
        .arg(&recorded)
        .arg("--record")
        .arg(&rec)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // The host: once it hears the hub, it announces itself and says hello;
    // it answers the hub's ARP requests; it runs until the scenario ends.
    let start = Instant::now();
    let (mut spoke, mut answered) = (false, 0);
    let mut buf = [0u8; 2048];
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break;
        }
        let Ok(n) = host.recv(&mut buf) else {
            continue;
        };
        let f = &buf[..n];
        if !spoke && f[6..12] == HUB_MAC {
            let ann = coap(1, "ann", None, "name=host-99;kind=tester;caps=udp");
            host.send_to(&udp_to_hub(&ann), ("127.0.0.1", bridge_port))
                .unwrap();
            let msg = coap(2, "msg", Some("host-99"), "hello from the host");
            host.send_to(&udp_to_hub(&msg), ("127.0.0.1", bridge_port))
                .unwrap();
            spoke = true;
        }
        if is_arp_request_for_host(f) {
            host.send_to(&arp_reply(f), ("127.0.0.1", bridge_port))
                .unwrap();
            answered += 1;
        }
    }
    let first = child.wait_with_output().unwrap();
    let first_out = String::from_utf8_lossy(&first.stdout).into_owned();
    let first_err = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(spoke, "the host never heard the hub: {first_err}");
    assert!(answered > 0, "the hub never asked for the host's MAC");
    assert_eq!(first.status.code(), Some(0), "{first_out}\n{first_err}");
    assert!(
        first_out.contains("message from host-99 on msg: hello from the host"),
        "{first_out}"
    );
    let recording = std::fs::read_to_string(&rec).unwrap();
    assert!(
        recording.starts_with("# ensemble input recording v2\n"),
        "{recording}"
    );
    // Announcement, message and ARP replies: all frames from the host.
    let frames = recording
        .lines()
        .filter(|l| l.contains(" @lan frame "))
        .count();
    assert_eq!(frames, 2 + answered, "{recording}");

    // The replay: no host. The bridge's port is taken (a replay binds no
    // socket) and whatever it sends the host's way goes nowhere.
    let _squatter = UdpSocket::bind(("127.0.0.1", bridge_port)).unwrap();
    let replayed = dir.join("replayed");
    let started = Instant::now();
    let second = ensemble(&[
        "scenario",
        &s(&scenario),
        "--headless",
        "--threads",
        "1",
        "--artifacts",
        &s(&replayed),
        "--replay",
        &s(&rec),
    ]);
    let replay_wall = started.elapsed();
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stderr.contains("come from the recording"),
        "{}",
        second.stderr
    );
    assert!(
        host.recv(&mut buf).is_err(),
        "the replay sent a frame to the host"
    );
    assert_eq!(first_out, second.stdout);
    assert_eq!(verdict(&first_err), verdict(&second.stderr));
    assert!(!verdict(&first_err).is_empty(), "{first_err}");
    for f in ["hub.uart.txt", "node.uart.txt", "lan.pcap"] {
        let a = std::fs::read(recorded.join(f)).unwrap();
        let b = std::fs::read(replayed.join(f)).unwrap();
        assert!(
            a == b,
            "{f} differs between the recorded run and its replay"
        );
    }
    // Not paced to the wall clock: virtual seconds go by much faster.
    let t: f64 = verdict(&first_err)[0]
        .split("t=")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        replay_wall.as_secs_f64() < t,
        "the replay took {replay_wall:?} for {t} s of virtual time"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two watches whose faces react to touches, buttons and tilting.
fn watches(dir: &Path) -> PathBuf {
    let p = dir.join("watches.toml");
    std::fs::write(
        &p,
        format!(
            r#"name = "watches"
time_limit = "10s"

[[device]]
name = "left"
board = "watch"
image = "{0}"

[[device]]
name = "right"
board = "watch"
image = "{0}"
"#,
            image("watch-face")
        ),
    )
    .unwrap();
    p
}

fn stamp(scenario: &Path) -> String {
    format!(
        "# ensemble input recording v2\nscenario watches fnv1a64={:016x}\ndevices left right\nnetworks\n",
        fnv1a64(&std::fs::read(scenario).unwrap())
    )
}

#[test]
fn a_written_session_of_window_inputs_replays_the_same_on_any_threads() {
    let dir = temp_dir("window");
    let scenario = watches(&dir);
    let rec = dir.join("session.txt");
    // What windows would record: a touch on the left watch, button 0 and
    // a tilt on the right one (at a time off any quantum boundary), then
    // every window closing.
    std::fs::write(
        &rec,
        stamp(&scenario)
            + "1000000000 @left touch 100 50 down\n\
               1100000000 @left touch 100 50 up\n\
               1234567000 @right button 0 down\n\
               1300000000 @right button 0 up\n\
               1500000000 @right sensor accel -9.81 0 0\n\
               2000000000 stop\n",
    )
    .unwrap();
    let mut runs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(format!("t{threads}"));
        let r = ensemble(&[
            "scenario",
            &s(&scenario),
            "--headless",
            "--threads",
            threads,
            "--artifacts",
            &s(&out),
            "--replay",
            &s(&rec),
        ]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("stopped at t=2.000000s"), "{}", r.stderr);
        assert!(!r.stderr.contains("not replayed"), "{}", r.stderr);
        let left = std::fs::read_to_string(out.join("left.uart.txt")).unwrap();
        let right = std::fs::read_to_string(out.join("right.uart.txt")).unwrap();
        assert!(left.contains("touch x=100 y=50"), "{left}");
        assert!(!left.contains("button 0"), "{left}");
        for line in [
            "button 0 down",
            "backlight off",
            "button 0 up",
            "rotate 270",
        ] {
            assert!(right.contains(line), "missing '{line}':\n{right}");
        }
        assert!(!right.contains("touch"), "{right}");
        let screens = (
            std::fs::read(out.join("left.png")).unwrap(),
            std::fs::read(out.join("right.png")).unwrap(),
        );
        runs.push((r.stdout, left, right, screens));
    }
    assert!(runs[0] == runs[1], "the replays on 1 and 2 threads differ");

    // A device's window closing switches it off: its console stops there.
    std::fs::write(
        &rec,
        stamp(&scenario)
            + "500000000 @left close\n\
               1000000000 @left touch 100 50 down\n\
               1000000000 @right touch 100 50 down\n",
    )
    .unwrap();
    let out = dir.join("closed");
    let r = ensemble(&[
        "scenario",
        &s(&scenario),
        "--headless",
        "--artifacts",
        &s(&out),
        "--replay",
        &s(&rec),
        "--time-limit",
        "1500ms",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let left = std::fs::read_to_string(out.join("left.uart.txt")).unwrap();
    let right = std::fs::read_to_string(out.join("right.uart.txt")).unwrap();
    assert!(!left.contains("touch"), "{left}");
    assert!(right.contains("touch x=100 y=50"), "{right}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One line on stderr, exit code 2, containing `what`.
fn refused(args: &[&str], what: &str) {
    let r = ensemble(args);
    assert_eq!(r.code, 2, "{args:?}: {}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {}", r.stderr);
    assert!(r.stderr.contains(what), "{args:?}: {}", r.stderr);
}

#[test]
fn recordings_of_other_scenarios_and_bad_lines_are_refused() {
    let dir = temp_dir("bad");
    let scenario = watches(&dir);
    let sc = s(&scenario);
    let rec = dir.join("rec.txt");
    let r = s(&rec);
    let replay = ["scenario", &sc, "--headless", "--replay", &r];
    let good = stamp(&scenario);

    for (body, what) in [
        ("1000 @left button 0 sideways\n", ":5: expected down or up"),
        ("soon @left button 0 down\n", ":5: expected a time in ns"),
        ("1000 @nobody button 0 down\n", ":5: no device 'nobody'"),
        ("1000 @left juggle\n", ":5: unknown input"),
        ("1000 @left uart 6\n", ":5: bad hex"),
        ("1000 @left frame 00\n", ":5: no network 'left'"),
        ("1000 button 0 down\n", ":5: expected '@DEVICE INPUT'"),
        (
            "2000 @left button 0 down\n1000 @left button 0 up\n",
            ":6: time goes backwards",
        ),
    ] {
        std::fs::write(&rec, good.clone() + body).unwrap();
        refused(&replay, what);
    }

    // Another scenario, and another version of this one.
    std::fs::write(
        &rec,
        good.replace("devices left right", "devices phone watch") + "1000 @watch button 0 down\n",
    )
    .unwrap();
    refused(
        &replay,
        "a recording of scenario 'watches' (devices phone, watch",
    );
    std::fs::write(&rec, good.clone()).unwrap();
    let edited = dir.join("edited.toml");
    std::fs::write(
        &edited,
        std::fs::read_to_string(&scenario).unwrap() + "# edited\n",
    )
    .unwrap();
    refused(
        &["scenario", &s(&edited), "--headless", "--replay", &r],
        "another version of scenario 'watches'",
    );
    // A missing stamp; a single machine's recording; an unknown version.
    std::fs::write(&rec, "# ensemble input recording v2\n1000 @left close\n").unwrap();
    refused(
        &replay,
        "expected the 'scenario', 'devices' and 'networks' lines",
    );
    std::fs::write(&rec, "# ensemble input recording v1\n5 button 0 down\n").unwrap();
    refused(&replay, "a recording of one machine");
    std::fs::write(&rec, "# ensemble input recording v7\n").unwrap();
    refused(&replay, "not the supported");
    // And the other way round: `run` refuses a scenario's recording.
    std::fs::write(&rec, good.clone()).unwrap();
    refused(
        &[
            "run",
            "--board",
            "watch",
            "--image",
            &image("watch-face"),
            "--replay",
            &r,
        ],
        "a recording of a scenario",
    );

    // Options that do not go together.
    refused(
        &[
            "scenario",
            &sc,
            "--headless",
            "--replay",
            &r,
            "--record",
            &s(&dir.join("new.txt")),
        ],
        "--record and --replay cannot be used together",
    );
    assert!(!dir.join("new.txt").exists());
    refused(
        &[
            "scenario",
            &sc,
            "--headless",
            "--replay",
            &r,
            "--restore",
            &r,
        ],
        "cannot be combined with --restore",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
