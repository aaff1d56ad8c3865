//! The interactive windows, on a virtual X server: Xvfb runs, run_windows
//! opens a window per panel, and a screenshot of the X screen must show
//! the test pattern the first panel's display holds.
//!
//! Skips (with a message) when Xvfb or the screenshot tools (x11-apps,
//! netpbm) are missing; `scripts/setup.sh` installs them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ensemble::frontend::window::{display_available, run_windows};
use ensemble::frontend::{Panel, UserInput};
use ensemble_devices::VideoFrame;

const QUADRANTS: [u32; 4] = [0xff0000, 0x00ff00, 0x0000ff, 0xffff00];

/// The tests here each start their own X server; one at a time, so that
/// two never pick the same display number.
static X_SERVER: Mutex<()> = Mutex::new(());

fn installed(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Xvfb, killed when dropped.
struct Xvfb(Child);

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM, so that it removes its socket and lock file.
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_xvfb() -> (Xvfb, u32) {
    let base = 100 + std::process::id() % 400;
    for n in (base..base + 50).map(|n| n % 1000 + 100) {
        let socket = format!("/tmp/.X11-unix/X{n}");
        if Path::new(&socket).exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let mut child = Command::new("Xvfb")
            .arg(format!(":{n}"))
            .args(["-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if Path::new(&socket).exists() {
                return (Xvfb(child), n);
            }
            if let Ok(Some(_)) = child.try_wait() {
                break; // that display was taken after all: try the next
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("could not start Xvfb on any display");
}

/// A 240x240 frame: red, green, blue and yellow quadrants.
fn test_pattern() -> VideoFrame {
    let (w, h) = (240u32, 240u32);
    let pixels = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            QUADRANTS[((y >= h / 2) as usize) * 2 + (x >= w / 2) as usize]
        })
        .collect();
    VideoFrame {
        time: 1_000,
        seq: 1,
        width: w,
        height: h,
        pixels,
    }
}

/// Screenshot of the whole X screen, as RGB rows.
fn screenshot(display: u32, png_path: &Path) -> Result<(u32, u32, Vec<u8>), String> {
    let pipeline = format!(
        "xwd -root -silent -display :{display} | xwdtopnm 2>/dev/null | pnmtopng > '{}'",
        png_path.display()
    );
    let status = Command::new("sh")
        .args(["-c", &pipeline])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("screenshot pipeline failed: {status}"));
    }
    let file = std::fs::File::open(png_path).map_err(|e| e.to_string())?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("png too large")?];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let bpp = info.color_type.samples();
    let rgb = buf[..info.buffer_size()]
        .chunks_exact(bpp)
        .flat_map(|p| {
            if bpp >= 3 {
                [p[0], p[1], p[2]]
            } else {
                [p[0], p[0], p[0]]
            }
        })
        .collect();
    Ok((info.width, info.height, rgb))
}

/// How many screen pixels have each quadrant colour (within a little
/// tolerance for colour conversions).
fn count_quadrant_colours(rgb: &[u8]) -> [usize; 4] {
    let mut counts = [0; 4];
    for p in rgb.chunks_exact(3) {
        for (k, c) in QUADRANTS.iter().enumerate() {
            let want = [(c >> 16) as u8, (c >> 8) as u8, *c as u8];
            if p.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 3) {
                counts[k] += 1;
            }
        }
    }
    counts
}

#[test]
fn windows_show_panels_on_a_virtual_display() {
    for tool in ["Xvfb", "xwd", "xwdtopnm", "pnmtopng"] {
        if !installed(tool) {
            eprintln!(
                "skipping the window test: `{tool}` is not installed (run ./scripts/setup.sh)"
            );
            return;
        }
    }
    let _one_at_a_time = X_SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = start_xvfb();
    // The other test here passes DISPLAY to its child explicitly.
    std::env::remove_var("WAYLAND_DISPLAY");
    std::env::set_var("DISPLAY", format!(":{display}"));
    // Graphics libraries probe for Wayland too and complain without a
    // runtime directory (a desktop session always has one).
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-runtime");
        std::fs::create_dir_all(&dir).expect("runtime dir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
    assert!(display_available());

    let lcd = Panel {
        name: "lcd".into(),
        screen_size: Some((240, 240)),
        frame: Some(test_pattern()),
        leds: vec![true, false, true],
        buttons: 3,
        sensors: vec![
            ("accel".into(), [0.0, 0.0, 9.81]),
            ("temperature".into(), [25.0, 0.0, 0.0]),
        ],
        status: "t 1.000 s  1.00x".into(),
        ..Panel::default()
    };
    let node = Panel {
        name: "sensor-node".into(),
        leds: vec![true],
        buttons: 1,
        sensors: vec![("heart-rate".into(), [70.0, 0.0, 0.0])],
        status: "t 1.000 s  1.00x".into(),
        ..Panel::default()
    };
    let panels: Vec<_> = [lcd, node]
        .into_iter()
        .map(|p| Arc::new(Mutex::new(p)))
        .collect();
    let (tx, rx) = mpsc::channel::<(usize, UserInput)>();
    let stop = Arc::new(AtomicBool::new(false));

    let png_path: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("window-test.png");
    let checker = {
        let stop = stop.clone();
        let png_path = png_path.clone();
        let panels = panels.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let deadline = started + Duration::from_secs(60);
            let mut last = Err("no screenshot taken".to_string());
            std::thread::sleep(Duration::from_secs(2));
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                last = screenshot(display, &png_path).and_then(|(w, h, rgb)| {
                    if (w, h) != (1280, 1024) {
                        return Err(format!("screenshot is {w}x{h}, not the Xvfb screen"));
                    }
                    Ok(count_quadrant_colours(&rgb))
                });
                // Each 120x120 quadrant shows at 2x: 240x240 pixels.
                if matches!(&last, Ok(c) if c.iter().all(|&n| n >= 240 * 240)) {
                    break;
                }
                // Keep the panel changing, as a running machine would.
                if let Ok(mut p) = panels[0].lock() {
                    p.status = format!("t {:.3} s  1.00x", started.elapsed().as_secs_f64());
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            stop.store(true, Ordering::Relaxed);
            last
        })
    };

    let started = Instant::now();
    let result = run_windows(panels, tx, stop.clone());
    // However run_windows ended, let the checker finish.
    stop.store(true, Ordering::Relaxed);
    let counts = checker.join().expect("checker thread");
    result.expect("run_windows");
    eprintln!(
        "windows ran {:.1} s; quadrant pixels in the screenshot ({}): {:?}",
        started.elapsed().as_secs_f64(),
        png_path.display(),
        counts
    );
    let counts = counts.expect("screenshot");
    assert!(
        counts.iter().all(|&n| n >= 240 * 240),
        "each quadrant colour should cover at least 240x240 pixels: {counts:?}"
    );
    // Nobody pressed, touched or closed anything.
    let inputs: Vec<_> = rx.try_iter().collect();
    assert!(inputs.is_empty(), "unexpected inputs: {inputs:?}");
}

/// The most common colour of a reference picture and how often it occurs.
fn dominant_colour(path: &Path) -> (u32, usize) {
    let f = ensemble::frontend::headless::read_png(path).expect("reference PNG");
    let mut counts = std::collections::HashMap::new();
    for p in f.pixels {
        *counts.entry(p).or_insert(0usize) += 1;
    }
    counts.into_iter().max_by_key(|(_, n)| *n).unwrap()
}

#[test]
fn ensemble_run_shows_the_device_screen_in_a_window() {
    for tool in ["Xvfb", "xwd", "xwdtopnm", "pnmtopng"] {
        if !installed(tool) {
            eprintln!("skipping the windowed-run test: `{tool}` is not installed (run ./scripts/setup.sh)");
            return;
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let image = root.join("images/build/watch-face.elf");
    assert!(image.exists(), "run scripts/build-images.sh");
    // The face's background, from the headless reference picture: a
    // windowed run of the same image must show it (at 2x: 4 pixels each).
    let (background, count) =
        dominant_colour(&root.join("images/tests/golden/watch-face-2500ms.png"));
    let _one_at_a_time = X_SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let (_xvfb, display) = start_xvfb();
    let runtime = Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-runtime-run");
    std::fs::create_dir_all(&runtime).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ensemble"))
        .args([
            "run",
            "--board",
            "watch",
            "--mute",
            "--no-input",
            "--time-limit",
            "6s",
        ])
        .arg("--image")
        .arg(&image)
        .env("DISPLAY", format!(":{display}"))
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ensemble");
    let png_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("window-run.png");
    let started = Instant::now();
    let mut seen = 0usize;
    std::thread::sleep(Duration::from_secs(2));
    while started.elapsed() < Duration::from_secs(5) {
        if let Ok((_, _, rgb)) = screenshot(display, &png_path) {
            seen = rgb
                .chunks_exact(3)
                .filter(|p| ((p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32) == background)
                .count();
            if seen >= count * 4 * 9 / 10 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = child.wait_with_output().expect("ensemble ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Real-time pace in a window: 6 s of virtual time take about 6 s.
    let wall = started.elapsed().as_secs_f64();
    assert!(stdout.contains("clock from 10:08:00"), "{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(1), "time limit: {stderr}");
    assert!(
        wall > 4.0,
        "a windowed run is paced to the wall clock ({wall:.1} s)"
    );
    assert!(
        seen >= count * 4 * 9 / 10,
        "the window shows {seen} pixels of the face's background #{background:06x}, expected about {} ({})",
        count * 4,
        png_path.display()
    );
}
