//! Back-pressure on the switch: a port's queue holds what its link can
//! carry in a few milliseconds; a sender that outruns the link loses the
//! excess (dropped and counted) instead of queueing it for ever.

mod common;

use common::*;

#[test]
fn a_sender_faster_than_the_link_loses_what_does_not_fit() {
    image("net-stream-tx");
    image("net-stream-rx");
    // images/scenarios/stream2.toml (UDP at about 7 Mbit/s for 5 s) on a
    // 2 Mbit/s link, written next to it so that its image paths resolve.
    let scenarios = root().join("images/scenarios");
    let text = std::fs::read_to_string(scenarios.join("stream2.toml")).unwrap();
    assert!(text.contains("bandwidth = \"100Mbit\""));
    let file = scenarios.join(format!(".tmp-{}-slow-link.toml", std::process::id()));
    std::fs::write(&file, text.replace("\"100Mbit\"", "\"2Mbit\"")).unwrap();
    let dir = std::env::temp_dir().join(format!("ensemble-slow-link-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let r = ensemble(&[
        "scenario",
        file.to_str().unwrap(),
        "--quiet",
        "--artifacts",
        dir.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let rx = std::fs::read_to_string(dir.join("rx.uart.txt")).unwrap();
    let field = |text: &str, after: &str| -> u64 {
        let at = text
            .find(after)
            .unwrap_or_else(|| panic!("{after:?} in {text}"))
            + after.len();
        text[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // "total N datagrams, B bytes in T ms (first at t=F ms), M missing, ..."
    let total = &rx[rx.find("net-stream-rx: total ").expect(&rx)..];
    let got = field(total, "total ");
    let span_ms = field(total, "bytes in ");
    let missing = field(total, "ms), ");
    let kbits = field(total, "datagrams/s, ");
    // The link carries 2 Mbit/s with headers: about 1.9 Mbit/s of payload.
    assert!((1_700..=2_000).contains(&kbits), "{rx}");
    assert!(missing > 2_000 && got + missing > 4_000, "{rx}");
    // What got through came while the sender sent (5 s), not 17 s later.
    assert!(span_ms < 5_500, "{rx}");
    // The switch counted the frames its queue had no room for.
    let dropped = field(&r.stderr, "frames sent, ");
    assert!(dropped >= missing, "{}", r.stderr);
}
