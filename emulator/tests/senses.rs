//! The device's senses seen from outside, headless: screens as PNG files
//! compared with reference pictures, sound as WAV files analysed for pitch
//! and level, sensors fed from a trace and read back by the guest, touch
//! and buttons reaching it, and all of it the same on every run.

mod common;

use std::path::{Path, PathBuf};

use common::{ensemble, image, root};
use ensemble::frontend::headless::{channel_of, read_png, rms, tone_frequency};

fn scratch(name: &str) -> PathBuf {
    let d = root()
        .join("target/tmp/senses")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn wav(path: &Path) -> (u32, u16, Vec<i16>) {
    let mut r = hound::WavReader::open(path).expect("a WAV file");
    let spec = r.spec();
    assert_eq!(spec.bits_per_sample, 16);
    let samples: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
    (spec.sample_rate, spec.channels, samples)
}

#[test]
fn watch_face_matches_its_reference_picture() {
    let dir = scratch("golden");
    let shot = dir.join("face.png");
    let r = ensemble(&[
        "run",
        "--headless",
        "--board",
        "watch",
        "--image",
        &image("watch-face"),
        "--time-limit",
        "3s",
        "--screenshot",
        &s(&shot),
        "--at",
        "2.5s",
    ]);
    assert_eq!(r.code, 1, "time limit ends the run: {}", r.stderr);
    let got = read_png(&shot).unwrap();
    let want = read_png(&root().join("images/tests/golden/watch-face-2500ms.png")).unwrap();
    assert_eq!((got.width, got.height), (240, 240));
    let differing = got
        .pixels
        .iter()
        .zip(&want.pixels)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        differing, 0,
        "screen differs from the reference in {differing} pixels"
    );
    // The picture is not blank: the face has several colours.
    let mut colours = got.pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() >= 5, "only {} colours", colours.len());
}

#[test]
fn frames_dir_holds_every_vsync_and_nothing_later() {
    let dir = scratch("frames");
    let r = ensemble(&[
        "run",
        "--headless",
        "--board",
        "watch",
        "--image",
        &image("watch-face"),
        "--time-limit",
        "1s",
        "--frames-dir",
        &s(&dir),
        "--frame-every",
        "6",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let n = std::fs::read_dir(&dir).unwrap().count();
    // The library presents a frame only when it drew one; at most one per
    // 60 Hz vsync, every 6th kept.
    assert!((1..=10).contains(&n), "{n} frames written");
}

#[test]
fn tones_are_played_at_their_pitch_and_level_and_the_microphone_hears() {
    let dir = scratch("tone");
    let out = dir.join("tone.wav");
    let r = ensemble(&[
        "run",
        "--headless",
        "--board",
        "speaker",
        "--image",
        &image("audio-tone"),
        "--time-limit",
        "10s",
        "--audio-in",
        "tone:500",
        "--audio-out",
        &s(&out),
    ]);
    assert!(
        r.stdout.contains("audio-tone: done"),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    // The microphone heard a 500 Hz tone for a second: 499 or 500 rising
    // zero crossings after the first sample.
    let mic: u32 = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("mic: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a mic line");
    assert!((499..=500).contains(&mic), "mic heard {mic} crossings");

    let (rate, channels, samples) = wav(&out);
    assert_eq!((rate, channels), (48_000, 2));
    let left = channel_of(&samples, channels, 0);
    let right = channel_of(&samples, channels, 1);
    assert_eq!(left, right, "the same tone on both channels");
    // 1000 Hz for 2 s, then 440 Hz for 2 s: measure inside each, away from
    // the note edges.
    let sec = rate as usize;
    let first = &left[sec / 4..sec * 7 / 4];
    let second = &left[sec * 9 / 4..sec * 15 / 4];
    let f1 = tone_frequency(first, rate).unwrap();
    let f2 = tone_frequency(second, rate).unwrap();
    assert!((f1 - 1000.0).abs() < 1.0, "first tone {f1} Hz");
    assert!((f2 - 440.0).abs() < 1.0, "second tone {f2} Hz");
    // A full-scale sine of the library's peak: RMS = peak / sqrt(2).
    let peak = first.iter().map(|s| s.unsigned_abs()).max().unwrap() as f64;
    let level = rms(first);
    assert!(peak > 8000.0, "peak {peak}");
    assert!(
        (level - peak / 2f64.sqrt()).abs() < peak * 0.02,
        "RMS {level} for peak {peak}"
    );
}

#[test]
fn sound_and_screens_are_the_same_bytes_every_run() {
    let dir = scratch("determinism");
    let mut outputs = Vec::new();
    for run in 0..2 {
        let w = dir.join(format!("speaker-{run}.wav"));
        let p = dir.join(format!("watch-{run}.png"));
        let a = ensemble(&[
            "run",
            "--headless",
            "--board",
            "speaker",
            "--image",
            &image("speaker"),
            "--time-limit",
            "3s",
            "--audio-out",
            &s(&w),
        ]);
        let b = ensemble(&[
            "run",
            "--headless",
            "--board",
            "watch",
            "--image",
            &image("watch-face"),
            "--time-limit",
            "2s",
            "--sensor",
            "heart-rate=sine:80:20:3",
            "--screenshot",
            &s(&p),
        ]);
        assert!(a.stdout.contains("note "), "{}", a.stderr);
        outputs.push((
            a.stdout,
            b.stdout,
            std::fs::read(&w).unwrap(),
            std::fs::read(&p).unwrap(),
        ));
    }
    assert!(outputs[0].2.len() > 100_000, "3 s of sound");
    assert!(outputs[0] == outputs[1], "two runs differ");
}

#[test]
fn a_sensor_trace_is_read_back_by_the_guest() {
    let dir = scratch("trace");
    let csv = dir.join("temperature.csv");
    // 20 C rising to 30 C over 10 s: 1 C per second, interpolated.
    std::fs::write(&csv, "time_s,celsius\n0,20\n10,30\n").unwrap();
    let r = ensemble(&[
        "run",
        "--headless",
        "--board",
        "sensor-node",
        "--image",
        &image("sensor-report"),
        "--time-limit",
        "5.5s",
        "--sensor",
        &format!("temperature={}", s(&csv)),
        "--sensor",
        "light=1234",
    ]);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("t=")).collect();
    assert_eq!(lines.len(), 6, "{}", r.stdout);
    for (k, line) in lines.iter().enumerate() {
        // Samples are taken at whole seconds (plus the microseconds the
        // driver needed to enable the channel), where the trace reads
        // 20 + k degrees.
        assert!(line.starts_with(&format!("t={k}.000 ")), "{line}");
        let temp: f64 = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("temp="))
            .unwrap()
            .parse()
            .unwrap();
        assert!((temp - (20.0 + k as f64)).abs() <= 0.002, "{line}");
        assert!(line.ends_with("light=1234"), "{line}");
    }
}

#[test]
fn touch_buttons_and_tilt_reach_the_guest() {
    let dir = scratch("inputs");
    let r = ensemble(&[
        "scenario",
        "--headless",
        "--artifacts",
        &s(&dir),
        &s(&root().join("images/tests/watch-input.toml")),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for expected in [
        "touch x=120 y=60",
        "screen stats",
        "button 0 down",
        "backlight off",
        "backlight on",
        "rotate 90",
    ] {
        assert!(
            r.stdout.contains(expected),
            "missing '{expected}':\n{}",
            r.stdout
        );
    }
    // The artifacts hold the last screen and the console.
    assert!(dir.join("watch.png").exists());
    assert!(std::fs::read_to_string(dir.join("watch.uart.txt"))
        .unwrap()
        .contains("rotate 90"));
}

#[test]
fn a_wrong_screen_fails_with_the_actual_picture_kept() {
    let dir = scratch("wrong-screen");
    let scn = dir.join("wrong.toml");
    std::fs::write(
        &scn,
        format!(
            "[[device]]\nname = \"watch\"\nboard = \"watch\"\nimage = \"{}\"\n\
             [[step]]\nexpect-screen = {{ device = \"watch\", file = \"{}\", timeout = \"1s\" }}\n",
            image("watch-face"),
            s(&root().join("images/tests/golden/watch-stats-4s.png"))
        ),
    )
    .unwrap();
    let r = ensemble(&["scenario", "--headless", "--artifacts", &s(&dir), &s(&scn)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("pixels differ"), "{}", r.stderr);
    assert!(dir.join("watch-actual.png").exists());
}

#[test]
fn sense_options_check_their_input() {
    let hello = image("hello-sensor-node");
    for (args, needle) in [
        (vec!["--sensor", "heart-rate=70"], "no such sensor"),
        (vec!["--sensor", "temperature=sine:1:2"], "temperature"),
        (
            vec!["--sensor", "temperature=/nonexistent.csv"],
            "nonexistent.csv",
        ),
        (vec!["--audio-out", "/tmp/x.wav"], "no sound output"),
        (vec!["--screenshot", "/tmp/x.png"], "no display"),
        (vec!["--audio-in", "tone:abc"], "tone:HZ"),
    ] {
        let mut a = vec![
            "run",
            "--headless",
            "--board",
            "sensor-node",
            "--image",
            &hello,
            "--time-limit",
            "1s",
        ];
        a.extend(args.iter());
        let r = ensemble(&a);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn a_recorded_session_replays_to_the_same_bytes() {
    let dir = scratch("replay");
    // What a window session records: a touch, a button, a tilt, at virtual
    // times in ticks of the 25 MHz clock.
    let rec = dir.join("session.txt");
    std::fs::write(
        &rec,
        "# ensemble input recording v1\n\
         25000000 touch 100 50 down\n\
         27500000 touch 100 50 up\n\
         37500000 button 0 down\n\
         40000000 button 0 up\n\
         45000000 sensor accel -9.81 0 0\n",
    )
    .unwrap();
    let mut runs = Vec::new();
    for n in 0..2 {
        let shot = dir.join(format!("end-{n}.png"));
        let r = ensemble(&[
            "run",
            "--headless",
            "--board",
            "watch",
            "--image",
            &image("watch-face"),
            "--replay",
            &s(&rec),
            "--time-limit",
            "2.5s",
            "--screenshot",
            &s(&shot),
        ]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        for line in [
            "touch x=100 y=50",
            "button 0 down",
            "backlight off",
            "rotate 270",
        ] {
            assert!(r.stdout.contains(line), "missing '{line}':\n{}", r.stdout);
        }
        runs.push((r.stdout, std::fs::read(&shot).unwrap()));
    }
    assert!(runs[0] == runs[1], "two replays differ");

    // Console input recorded from a pipe replays identically too.
    let rec2 = dir.join("uart.txt");
    let piped = std::process::Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args([
            "run",
            "--image",
            &image("uart-echo-an385"),
            "--time-limit",
            "2s",
        ])
        .arg("--record")
        .arg(&rec2)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"one\ntwo\n")?;
            c.wait_with_output()
        })
        .unwrap();
    let replayed = ensemble(&[
        "run",
        "--image",
        &image("uart-echo-an385"),
        "--time-limit",
        "2s",
        "--replay",
        &s(&rec2),
    ]);
    let first = String::from_utf8_lossy(&piped.stdout);
    assert!(first.contains("TWO"), "{first}");
    assert_eq!(first, replayed.stdout);
    // A recording of another format version is refused in one line.
    std::fs::write(&rec2, "# ensemble input recording v9\n").unwrap();
    let bad = ensemble(&[
        "run",
        "--image",
        &image("uart-echo-an385"),
        "--replay",
        &s(&rec2),
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("not the supported"), "{}", bad.stderr);
}
