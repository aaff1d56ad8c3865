//! Snapshots: a machine saved at some virtual time and restored later
//! continues byte-identical to the run that was never interrupted; bad
//! snapshots are refused in one line.

mod common;

use std::path::PathBuf;

use common::{ensemble, image, root};

fn scratch(name: &str) -> PathBuf {
    let d = root()
        .join("target/tmp/snapshot")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn samples(path: &PathBuf) -> Vec<i16> {
    hound::WavReader::open(path)
        .unwrap()
        .samples::<i16>()
        .map(|s| s.unwrap())
        .collect()
}

#[test]
fn a_restored_machine_continues_exactly() {
    let dir = scratch("continue");
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let watch = image("watch-face");
    // The watch: console and final screen (time, sensors, display, SysTick).
    let full = ensemble(&[
        "run",
        "--headless",
        "--board",
        "watch",
        "--image",
        &watch,
        "--time-limit",
        "7s",
        "--screenshot",
        &p("full.png"),
    ]);
    let saving = ensemble(&[
        "run",
        "--headless",
        "--board",
        "watch",
        "--image",
        &watch,
        "--time-limit",
        "7s",
        "--snapshot-at",
        "3s",
        &p("watch.snap"),
    ]);
    assert_eq!(
        full.stdout, saving.stdout,
        "taking a snapshot changes nothing"
    );
    let restored = ensemble(&[
        "run",
        "--headless",
        "--board",
        "watch",
        "--image",
        &watch,
        "--time-limit",
        "7s",
        "--restore",
        &p("watch.snap"),
        "--screenshot",
        &p("restored.png"),
    ]);
    assert_eq!(restored.code, 1, "{}", restored.stderr);
    assert!(restored.stdout.contains("steps="), "{}", restored.stdout);
    assert!(
        !restored.stdout.contains("clock from"),
        "printed before the snapshot"
    );
    assert!(full.stdout.ends_with(&restored.stdout));
    assert_eq!(
        std::fs::read(p("full.png")).unwrap(),
        std::fs::read(p("restored.png")).unwrap()
    );

    // The speaker: the sound after the snapshot, sample for sample (audio
    // DMA in flight, FPU code, the melody's state).
    let speaker = image("speaker");
    let a = ensemble(&[
        "run",
        "--headless",
        "--board",
        "speaker",
        "--image",
        &speaker,
        "--time-limit",
        "4s",
        "--audio-out",
        &p("full.wav"),
        "--snapshot-at",
        "1.5s",
        &p("speaker.snap"),
    ]);
    let b = ensemble(&[
        "run",
        "--headless",
        "--board",
        "speaker",
        "--image",
        &speaker,
        "--time-limit",
        "4s",
        "--audio-out",
        &p("rest.wav"),
        "--restore",
        &p("speaker.snap"),
    ]);
    assert!(
        a.stdout.ends_with(&b.stdout) && b.stdout.contains("note "),
        "{}\n--\n{}",
        a.stdout,
        b.stdout
    );
    let (full, rest) = (
        samples(&dir.join("full.wav")),
        samples(&dir.join("rest.wav")),
    );
    assert!(
        rest.len() > 40_000 && rest.len() < full.len(),
        "{} of {}",
        rest.len(),
        full.len()
    );
    assert_eq!(&full[full.len() - rest.len()..], &rest[..]);
}

#[test]
fn bad_snapshots_are_refused() {
    let dir = scratch("refuse");
    let snap = dir.join("s.snap");
    let snap_s = snap.to_string_lossy().into_owned();
    let hello = image("hello-an385");
    let r = ensemble(&[
        "run",
        "--image",
        &hello,
        "--no-input",
        "--time-limit",
        "1ms",
        "--snapshot-at",
        "0s",
        &snap_s,
    ]);
    assert!(snap.exists(), "{}", r.stderr);
    // Another image, another board, another format version, not a snapshot.
    let other = ensemble(&[
        "run",
        "--image",
        &image("wfi-idle"),
        "--no-input",
        "--restore",
        &snap_s,
    ]);
    assert_eq!(other.code, 2);
    assert!(other.stderr.contains("another image"), "{}", other.stderr);
    let board = ensemble(&[
        "run",
        "--board",
        "mps2-an386",
        "--image",
        &image("hello-an386"),
        "--no-input",
        "--restore",
        &snap_s,
    ]);
    assert!(
        board.stderr.contains("board 'mps2-an385'"),
        "{}",
        board.stderr
    );
    let mut data = std::fs::read(&snap).unwrap();
    data[8] = 99;
    std::fs::write(&snap, &data).unwrap();
    let version = ensemble(&["run", "--image", &hello, "--no-input", "--restore", &snap_s]);
    assert_eq!(version.code, 2);
    assert!(
        version.stderr.contains("format version 99"),
        "{}",
        version.stderr
    );
    assert_eq!(version.stderr.lines().count(), 1);
    std::fs::write(&snap, b"hello").unwrap();
    let junk = ensemble(&["run", "--image", &hello, "--no-input", "--restore", &snap_s]);
    assert!(
        junk.stderr.contains("not an Ensemble snapshot"),
        "{}",
        junk.stderr
    );
}
