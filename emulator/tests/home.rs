//! The showcase as a test: the smart-home story passes (its expectations
//! are the scenario's steps: cards, the alert, the chime heard, the
//! watch's message, a node fading and returning, the LAN cut and healed),
//! and its artifacts are the same bytes with one worker thread or two.

mod common;

use common::{ensemble, root};

#[test]
fn the_smart_home_story_passes_and_is_the_same_on_any_thread_count() {
    let base = root()
        .join("target/tmp/home")
        .join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&base);
    let scenario = root().join("images/scenarios/home.toml");
    let mut runs = Vec::new();
    for threads in ["1", "2"] {
        let dir = base.join(threads);
        let r = ensemble(&[
            "scenario",
            "--headless",
            "--threads",
            threads,
            "--artifacts",
            &dir.to_string_lossy(),
            &scenario.to_string_lossy(),
        ]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        for line in [
            "[  phone] alert kitchen",
            "chime via lan",
            "chime via radio",
            "lost bedroom",
            "found bedroom",
            "msg: ALERT kitchen",
        ] {
            assert!(r.stdout.contains(line), "missing '{line}'");
        }
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "network.gif",
            "network.png",
            "phone.gif",
            "watch.gif",
            "air.pcap",
            "lan.pcap",
            "speaker.wav",
        ] {
            assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
        }
        let contents: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
        runs.push((r.stdout, names, contents));
    }
    assert_eq!(
        runs[0].0, runs[1].0,
        "consoles differ between 1 and 2 threads"
    );
    assert_eq!(runs[0].1, runs[1].1);
    for (i, name) in runs[0].1.iter().enumerate() {
        assert!(
            runs[0].2[i] == runs[1].2[i],
            "{name} differs between 1 and 2 threads"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}
