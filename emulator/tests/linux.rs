//! The large device class: Debian's unmodified arm64 U-Boot and Linux
//! kernel on the aarch64-virt board. Inputs come from Debian's archive
//! (scripts/fetch-arm64.sh, scripts/build-initramfs.sh, both run by
//! scripts/test.sh, which sets ENSEMBLE_REQUIRE_ARM64 so that missing
//! inputs fail instead of skipping).

mod common;

use std::path::{Path, PathBuf};

use common::{ensemble, root};
use ensemble::frontend::headless::read_png;

/// The fetched inputs, or None (test skipped) outside scripts/test.sh.
fn arm64() -> Option<PathBuf> {
    let dir = root().join("target/arm64");
    let ready = ["Image", "initramfs.cpio.gz", "u-boot.bin"]
        .iter()
        .all(|f| dir.join(f).exists());
    if ready {
        return Some(dir);
    }
    if std::env::var_os("ENSEMBLE_REQUIRE_ARM64").is_some() {
        panic!(
            "{} lacks the arm64 inputs: run scripts/fetch-arm64.sh and scripts/build-initramfs.sh",
            dir.display()
        );
    }
    eprintln!("note: arm64 inputs not fetched; skipping");
    None
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = root()
        .join("target/tmp/linux")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn boot_linux(dir: &Path, append: &str, extra: &[&str]) -> common::Run {
    boot_linux_for(dir, append, "30s", extra)
}

fn boot_linux_for(dir: &Path, append: &str, limit: &str, extra: &[&str]) -> common::Run {
    let kernel = s(&dir.join("Image"));
    let initrd = s(&dir.join("initramfs.cpio.gz"));
    let mut args = vec![
        "run",
        "--board",
        "aarch64-virt",
        "--kernel",
        &kernel,
        "--initrd",
        &initrd,
        "--append",
        append,
        "--time-limit",
        limit,
        "--no-input",
    ];
    args.extend_from_slice(extra);
    ensemble(&args)
}

#[test]
fn debian_kernel_reaches_init_and_powers_off() {
    let Some(dir) = arm64() else { return };
    let r = boot_linux(&dir, "console=ttyAMA0", &["--stats"]);
    assert_eq!(r.code, 0, "poweroff -f ends the run with 0: {}", r.stderr);
    let out = &r.stdout;
    assert!(out.contains("Booting Linux on physical CPU"), "{out}");
    assert!(
        out.contains("Machine model: Ensemble aarch64-virt"),
        "{out}"
    );
    assert!(
        out.contains("arch_timer: cp15 timer(s) running at 62.50MHz (virt)"),
        "{out}"
    );
    assert!(
        out.contains("psci: PSCIv1.0 detected in firmware."),
        "{out}"
    );
    assert!(
        out.contains("rtc-pl031 9010000.pl031: registered as rtc0"),
        "{out}"
    );
    assert!(out.contains("ENSEMBLE-LINUX-INIT-OK"), "{out}");
    // The virtio modules from the same kernel package bound to our
    // transports: network, disk, touchscreen and keys.
    assert!(out.contains("init: 7 modules loaded"), "{out}");
    assert!(out.contains("virtio_blk virtio1"), "{out}");
    assert!(out.contains("input: Ensemble virtio touchscreen"), "{out}");
    assert!(out.contains("reboot: Power down"), "{out}");
    assert!(!out.contains("Kernel panic"), "{out}");
    assert!(r.stderr.contains("powered the machine off"), "{}", r.stderr);
    assert!(r.stderr.contains("page faults"), "stats: {}", r.stderr);
}

#[test]
fn linux_console_is_the_same_on_every_run() {
    let Some(dir) = arm64() else { return };
    let a = boot_linux(&dir, "console=ttyAMA0", &[]);
    let b = boot_linux(&dir, "console=ttyAMA0", &[]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert!(a.stdout.len() > 10_000);
    assert!(
        a.stdout == b.stdout,
        "console bytes differ between two runs"
    );
    assert_eq!(a.stderr, b.stderr, "the end time differs");
}

#[test]
fn framebuffer_shows_the_linux_console() {
    let Some(dir) = arm64() else { return };
    let out = scratch("fb");
    let shot = out.join("fb.png");
    // The kernel's framebuffer console on the simple-framebuffer; the
    // shell keeps the machine up until the screenshot.
    let r = boot_linux_for(
        &dir,
        "console=ttyAMA0 console=tty0 ensemble.shell=1",
        "2s",
        &["--headless", "--screenshot", &s(&shot)],
    );
    assert_eq!(r.code, 1, "the time limit ends the run: {}", r.stderr);
    let got = read_png(&shot).expect("a screenshot");
    assert_eq!((got.width, got.height), (640, 480));
    let lit = got.pixels.iter().filter(|&&p| p & 0xffffff != 0).count();
    assert!(lit > 5_000, "console text on the screen: {lit} lit pixels");
    // The text itself depends on the kernel's version and timings; the
    // picture drawn from userspace below is the golden one.
    let text = r.stdout.contains("BusyBox") || r.stdout.contains("Run /init");
    assert!(text, "{}", r.stdout);
}

#[test]
fn framebuffer_shows_a_userspace_drawing() {
    let Some(dir) = arm64() else { return };
    let out = scratch("pattern");
    let shot = out.join("pattern.png");
    // images/linux/fb-pattern.c draws through /dev/fb0 (simplefb); the
    // screenshot is taken when the guest powers off.
    let r = boot_linux(
        &dir,
        "console=ttyAMA0 vt.global_cursor_default=0 ensemble.run=fb-pattern",
        &["--headless", "--screenshot", &s(&shot)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("fb-pattern: drew 640x480"),
        "{}",
        r.stdout
    );
    let got = read_png(&shot).expect("a screenshot");
    let want = read_png(&root().join("images/tests/golden/linux-fb-pattern.png")).unwrap();
    assert_eq!((got.width, got.height), (want.width, want.height));
    let differing = got
        .pixels
        .iter()
        .zip(&want.pixels)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        differing,
        0,
        "screen differs from images/tests/golden/linux-fb-pattern.png ({} kept)",
        shot.display()
    );
}

#[test]
fn virtio_disk_is_read_and_never_written_back() {
    let Some(dir) = arm64() else { return };
    let out = scratch("disk");
    let disk = out.join("disk.img");
    let mut content = vec![0u8; 1 << 20];
    content[..16].copy_from_slice(b"ENSEMBLE-DISK-01");
    std::fs::write(&disk, &content).unwrap();
    // Read the first sector, then overwrite it: the write stays in the
    // machine's copy-on-write overlay.
    let r = boot_linux(
        &dir,
        "console=ttyAMA0 ensemble.run=sh,-c,hexdump${IFS}-C${IFS}-n${IFS}16${IFS}/dev/vda;echo${IFS}x>/dev/vda;sync",
        &["--disk", &s(&disk)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("[vda] 2048 512-byte logical blocks"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("45 4e 53 45 4d 42 4c 45  2d 44 49 53 4b 2d 30 31"),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::read(&disk).unwrap(),
        content,
        "the disk file was changed"
    );
}

#[test]
fn uboot_answers_at_its_prompt() {
    if arm64().is_none() {
        return;
    }
    let r = ensemble(&["test", &s(&root().join("images/tests/uboot.toml"))]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn linux_and_a_microcontroller_find_each_other() {
    if arm64().is_none() {
        return;
    }
    let r = ensemble(&[
        "test",
        &s(&root().join("images/tests/linux-meets-mcu.toml")),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn bad_kernels_get_one_clear_line() {
    let dir = scratch("bad");
    let not_image = dir.join("notes.txt");
    std::fs::write(&not_image, vec![b'x'; 4096]).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--kernel".into(), s(&not_image)],
            "not an arm64 Linux Image",
        ),
        (
            vec!["--kernel".into(), s(&dir.join("missing"))],
            "cannot read",
        ),
        (
            vec!["--image".into(), s(&not_image)],
            "boot it with --kernel IMAGE or --bios FILE",
        ),
        (
            vec![
                "--kernel".into(),
                s(&not_image),
                "--memory".into(),
                "3T".into(),
            ],
            "--memory '3T'",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["run", "--board", "aarch64-virt", "--no-input"];
        args.extend(extra.iter().map(|a| a.as_str()));
        let r = ensemble(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);
    }
    // And an M-profile board refuses the AArch64 options.
    let r = ensemble(&["run", "--board", "mps2-an385", "--kernel", &s(&not_image)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("only AArch64 boards"), "{}", r.stderr);
}

#[test]
fn memory_from_128_mib_to_4_gib() {
    let Some(dir) = arm64() else { return };
    for (size, kib) in [("128M", 131072), ("4G", 4194304)] {
        let r = boot_linux(&dir, "console=ttyAMA0", &["--memory", size]);
        assert_eq!(r.code, 0, "{size}: {}", r.stderr);
        let want = format!("K/{kib}K available");
        assert!(r.stdout.contains(&want), "{size}: {}", r.stdout);
        assert!(r.stdout.contains("ENSEMBLE-LINUX-INIT-OK"), "{size}");
    }
}

#[test]
fn device_tree_describes_the_board() {
    let Some(dir) = arm64() else { return };
    let out = scratch("dtb");
    let dtb = out.join("virt.dtb");
    let r = boot_linux_for(
        &dir,
        "console=ttyAMA0 quiet",
        "1ms",
        &["--dump-dtb", &s(&dtb)],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let dts = std::process::Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts"])
        .arg(&dtb)
        .output()
        .expect("dtc (device-tree-compiler, installed by scripts/setup.sh)");
    assert!(
        dts.status.success(),
        "{}",
        String::from_utf8_lossy(&dts.stderr)
    );
    let dts = String::from_utf8_lossy(&dts.stdout);
    for want in [
        "compatible = \"arm,cortex-a15-gic\"",
        // (dtc versions differ in how they print string lists.)
        "arm,armv8-timer",
        "arm,psci-1.0",
        "method = \"hvc\"",
        "pl011@9000000",
        "pl031@9010000",
        "virtio_mmio@a000000",
        "virtio_mmio@a000600",
        "compatible = \"simple-framebuffer\"",
        "bootargs = \"console=ttyAMA0 quiet\"",
        "stdout-path = \"/pl011@9000000\"",
        "linux,initrd-start",
        "reg = <0x00 0x40000000 0x00 0x20000000>",
    ] {
        assert!(dts.contains(want), "missing {want} in:\n{dts}");
    }
    // The dumped tree boots the same kernel when given back with --dtb.
    let r = boot_linux(&dir, "ignored", &["--dtb", &s(&dtb)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Its command line ("quiet"), not the one given to --append, is used.
    assert!(r.stdout.contains("ENSEMBLE-LINUX-INIT-OK"), "{}", r.stdout);
    assert!(!r.stdout.contains("Booting Linux"), "{}", r.stdout);
}

#[test]
fn a_linux_scenario_is_identical_on_one_and_two_threads() {
    if arm64().is_none() {
        return;
    }
    let file = s(&root().join("images/tests/linux-meets-mcu.toml"));
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let art = scratch(&format!("threads-{threads}"));
        let r = ensemble(&[
            "scenario",
            &file,
            "--headless",
            "--threads",
            threads,
            "--artifacts",
            &s(&art),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let files: Vec<Vec<u8>> = ["tablet.uart.txt", "hub.uart.txt", "lan.pcap"]
            .iter()
            .map(|f| std::fs::read(art.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
            .collect();
        assert!(files[0].len() > 10_000 && files[2].len() > 100);
        outputs.push(files);
    }
    assert!(
        outputs[0] == outputs[1],
        "artifacts differ between 1 and 2 threads"
    );
}

#[test]
fn psci_reset_reboots_the_machine() {
    let Some(dir) = arm64() else { return };
    // busybox's `reboot -f` ends in PSCI SYSTEM_RESET: the machine starts
    // over from its power-on state and boots the same kernel again.
    let r = boot_linux_for(&dir, "console=ttyAMA0 ensemble.run=reboot,-f", "2.5s", &[]);
    assert_eq!(r.code, 1, "the time limit ends the run: {}", r.stderr);
    let boots = r.stdout.matches("Booting Linux on physical CPU").count();
    assert!(boots >= 2, "{boots} boots:\n{}", r.stdout);
    assert!(r.stdout.contains("reboot: Restarting system"));
    assert!(!r.stdout.contains("Kernel panic"), "{}", r.stdout);
}

#[test]
fn a_kernel_that_faults_without_handlers_is_reported() {
    // An "Image" whose code loads from an address with nothing behind it
    // and has no exception vectors: the data abort is entered at VBAR 0
    // (zeros: undefined instructions) forever. The report names the first
    // fault of the cascade.
    let dir = scratch("crash");
    let mut image = vec![0u8; 64 + 4096];
    image[0..4].copy_from_slice(&0x1400_0010u32.to_le_bytes()); // b +0x40
    image[16..24].copy_from_slice(&0x10_0000u64.to_le_bytes()); // image_size
    image[0x38..0x3c].copy_from_slice(b"ARM\x64");
    for (i, insn) in [0xd2e0_0e00u32, 0xf940_0001, 0x1400_0000]
        .iter()
        .enumerate()
    {
        image[64 + 4 * i..68 + 4 * i].copy_from_slice(&insn.to_le_bytes());
    }
    let path = dir.join("Image");
    std::fs::write(&path, &image).unwrap();
    let r = ensemble(&[
        "run",
        "--board",
        "aarch64-virt",
        "--kernel",
        &s(&path),
        "--time-limit",
        "1s",
        "--no-input",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("guest crashed"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("data abort at pc 0x0000000040000044 (ESR 0x96000000, FAR 0x70000000000000)"),
        "{}",
        r.stderr
    );
}

/// A snapshot of a running Linux (kernel initialising; user space loading
/// modules) continues, restored in a new process, exactly as the run that
/// was never interrupted: the same console bytes and the same power-off
/// time. Taking the snapshot does not change the run either.
#[test]
fn a_restored_linux_continues_as_the_uninterrupted_run() {
    let Some(dir) = arm64() else { return };
    let work = scratch("linux-snapshot");
    let append = "console=ttyAMA0";
    let whole = boot_linux(&dir, append, &[]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    let ending = |r: &common::Run| {
        r.stderr
            .lines()
            .find(|l| l.contains("powered the machine off at"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no power-off line: {}", r.stderr))
    };
    for (at, marker) in [("0.4s", "Loaded X.509 cert"), ("0.97s", "input: Ensemble")] {
        let snap = s(&work.join(format!("at-{at}.snap")));
        let taken = boot_linux(&dir, append, &["--snapshot-at", at, &snap]);
        assert_eq!(
            taken.stdout, whole.stdout,
            "taking a snapshot at {at} changed the run"
        );
        assert_eq!(ending(&taken), ending(&whole));
        let size = std::fs::metadata(&snap).unwrap().len();
        assert!(
            size < 256 << 20,
            "a snapshot of a 512 MiB machine takes {size} bytes"
        );
        let restored = boot_linux(&dir, append, &["--restore", &snap]);
        assert_eq!(restored.code, 0, "{}", restored.stderr);
        assert!(
            restored.stdout.contains(marker) && restored.stdout.len() < whole.stdout.len(),
            "restored at {at}: {}",
            restored.stdout
        );
        assert!(
            whole.stdout.ends_with(&restored.stdout),
            "restored at {at}, the console differs from the uninterrupted run:\n{}",
            restored.stdout
        );
        assert_eq!(ending(&restored), ending(&whole), "restored at {at}");
    }
    // Another kernel command line is another machine.
    let snap = s(&work.join("at-0.4s.snap"));
    let other = boot_linux(&dir, "console=ttyAMA0 quiet", &["--restore", &snap]);
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(
        other.stderr.contains("snapshot of another image"),
        "{}",
        other.stderr
    );
    assert_eq!(other.stderr.trim().lines().count(), 1, "{}", other.stderr);
}

/// A scenario with Linux and a microcontroller on one LAN, saved while
/// Linux boots and restored: both devices' whole consoles are those of
/// the uninterrupted run, and so is the verdict.
#[test]
fn a_linux_scenario_snapshot_continues_identically() {
    if arm64().is_none() {
        return;
    }
    let file = s(&root().join("images/tests/linux-meets-mcu.toml"));
    let work = scratch("linux-scenario-snapshot");
    let snap = s(&work.join("lan.snap"));
    let run = |name: &str, extra: &[&str]| {
        let art = work.join(name);
        let mut args = vec!["scenario", &file, "--headless", "--quiet", "--artifacts"];
        let art_s = s(&art);
        args.push(&art_s);
        args.extend_from_slice(extra);
        let r = ensemble(&args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let verdict = r
            .stderr
            .lines()
            .find(|l| l.contains("passed at"))
            .unwrap_or_else(|| panic!("{name}: {}", r.stderr))
            .to_owned();
        let logs: Vec<Vec<u8>> = ["tablet.uart.txt", "hub.uart.txt"]
            .iter()
            .map(|f| std::fs::read(art.join(f)).unwrap())
            .collect();
        (verdict, logs)
    };
    let whole = run("whole", &[]);
    let saved = run("saved", &["--snapshot-at", "1.2s", &snap]);
    let restored = run("restored", &["--restore", &snap]);
    assert!(whole.1[0].len() > 10_000, "the tablet booted");
    assert!(saved == whole, "taking the snapshot changed the run");
    assert!(
        restored == whole,
        "the restored run differs: {}",
        restored.0
    );
}
