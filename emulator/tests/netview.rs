//! The network view: `ensemble scenario --artifacts` draws the scenario's
//! devices, networks and frames into network.gif (a frame every 100 ms of
//! virtual time) and network.png (the end), the same bytes on every run.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use ensemble::frontend::netview::{BOARD_COLOURS, DEVICE_TEXT, KIND_COLOURS, RANGE_EDGE};

fn artifacts(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-netview-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn run_default(dir: &Path, extra: &[&str]) -> Run {
    image("net-hub");
    image("radio-node");
    let file = root().join("images/scenarios/default.toml");
    let mut args = vec![
        "scenario",
        "--headless",
        "--quiet",
        "--artifacts",
        dir.to_str().unwrap(),
        file.to_str().unwrap(),
        "--time-limit",
        "5s",
    ];
    args.extend_from_slice(extra);
    ensemble(&args)
}

/// Each frame of a GIF composed onto its canvas, as 0x00RRGGBB pixels.
fn gif_frames(path: &Path) -> (u32, u32, Vec<Vec<u32>>) {
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut dec = opts
        .read_info(std::fs::File::open(path).expect("open gif"))
        .expect("a GIF");
    let (w, h) = (dec.width() as usize, dec.height() as usize);
    let mut canvas = vec![0u32; w * h];
    let mut frames = Vec::new();
    while let Some(f) = dec.read_next_frame().expect("a frame") {
        for y in 0..f.height as usize {
            for x in 0..f.width as usize {
                let p = &f.buffer[(y * f.width as usize + x) * 4..][..4];
                if p[3] != 0 {
                    canvas[(y + f.top as usize) * w + x + f.left as usize] =
                        (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32;
                }
            }
        }
        frames.push(canvas.clone());
    }
    (w as u32, h as u32, frames)
}

fn png_pixels(path: &Path) -> (u32, u32, Vec<u32>) {
    let dec = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("open png"),
    ));
    let mut reader = dec.read_info().expect("a PNG");
    let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("its picture");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|c| (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32)
        .collect();
    (info.width, info.height, px)
}

#[test]
fn scenario_writes_a_network_animation_and_picture() {
    let dir = artifacts("a");
    let r = run_default(&dir, &[]);
    // The time limit ends the run before the last steps: exit code 1.
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("time limit reached at t=5.0"),
        "{}",
        r.stderr
    );

    let gif = dir.join("network.gif");
    let (w, h, frames) = gif_frames(&gif);
    assert_eq!((w, h), (800, 600));
    // A frame every 100 ms of 5 s; the clock in the header changes each.
    assert!(frames.len() > 10, "{} frames", frames.len());
    assert_eq!(frames.len(), 51);
    // Packets of several kinds cross the picture over the run: ARP, ICMP
    // and discovery on the LAN, radio broadcasts in the air (the legend
    // at the bottom is left out).
    let mut kinds = BTreeSet::new();
    for f in &frames {
        for &p in &f[30 * 800..(600 - 40) * 800] {
            if let Some(k) = KIND_COLOURS.iter().position(|&c| c == p) {
                kinds.insert(k);
            }
        }
    }
    assert!(kinds.len() >= 3, "packet kinds seen: {kinds:?}");

    let (pw, ph, png) = png_pixels(&dir.join("network.png"));
    assert_eq!((pw, ph), (800, 600));
    let count = |c: u32| png.iter().filter(|&&p| p == c).count();
    // Three boards, three box colours; white names on them; the radios'
    // range circles.
    for c in &BOARD_COLOURS[..3] {
        assert!(count(*c) > 300, "{c:06x}: {}", count(*c));
    }
    assert!(count(DEVICE_TEXT) > 300);
    assert!(count(RANGE_EDGE) > 300);
    // The last frame of the animation is the picture of the end.
    assert_eq!(frames.last().unwrap(), &png);

    // The same run again: the same bytes.
    let dir2 = artifacts("b");
    let r2 = run_default(&dir2, &[]);
    assert_eq!(r2.code, 1, "{}", r2.stderr);
    assert_eq!(
        std::fs::read(&gif).unwrap(),
        std::fs::read(dir2.join("network.gif")).unwrap(),
        "network.gif differs between two runs"
    );
    assert_eq!(
        std::fs::read(dir.join("network.png")).unwrap(),
        std::fs::read(dir2.join("network.png")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn animation_options() {
    // A frame every 500 ms; or none at all (the picture still).
    let dir = artifacts("c");
    let r = run_default(&dir, &["--gif-interval", "500ms"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (_, _, frames) = gif_frames(&dir.join("network.gif"));
    assert_eq!(frames.len(), 11);
    let dir2 = artifacts("d");
    let r = run_default(&dir2, &["--no-animation"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!dir2.join("network.gif").exists());
    assert!(dir2.join("network.png").exists());
    let r = run_default(&dir2, &["--gif-interval", "fast"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--gif-interval"), "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}
