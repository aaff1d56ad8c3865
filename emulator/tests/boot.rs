//! Whole-machine tests: boot our images, compare with QEMU byte for byte,
//! check determinism, and check that bad input and dead guests are
//! reported as a user needs.

mod common;

use std::time::Duration;

use common::*;

/// Differential test: same image on QEMU and on Ensemble, same UART bytes.
fn same_as_qemu(machine: &str, board: &str, image: &str, marker: &str) {
    if !qemu_available() {
        eprintln!("skipping QEMU comparison: qemu-system-arm not installed");
        return;
    }
    let ours = boot(board, image);
    assert_eq!(ours.code, 0, "ensemble failed: {}", ours.stderr);
    let theirs = qemu(machine, image, marker, Duration::from_secs(60));
    assert_eq!(
        ours.stdout, theirs,
        "UART output of {image} differs from QEMU {machine}"
    );
    assert!(ours.stdout.contains(marker));
}

#[test]
fn hello_an385_matches_qemu() {
    same_as_qemu("mps2-an385", "mps2-an385", "hello-an385", "hello: done");
}

#[test]
fn hello_an386_matches_qemu() {
    same_as_qemu("mps2-an386", "mps2-an386", "hello-an386", "hello: done");
}

#[test]
fn irq_nesting_matches_qemu() {
    same_as_qemu(
        "mps2-an385",
        "mps2-an385",
        "irq-nesting",
        "irq-nesting: done",
    );
}

#[test]
fn context_switch_matches_qemu() {
    same_as_qemu(
        "mps2-an385",
        "mps2-an385",
        "context-switch",
        "context-switch: done",
    );
}

#[test]
fn fpu_context_matches_qemu() {
    same_as_qemu(
        "mps2-an386",
        "mps2-an386",
        "fpu-context",
        "fpu-context: done",
    );
}

#[test]
fn faults_match_qemu() {
    // Undefined instruction, bus errors, escalation, DIV_0_TRP,
    // UNALIGN_TRP, INVSTATE and execute-never, each reported by the
    // guest's own handler from the fault status registers.
    same_as_qemu("mps2-an385", "mps2-an385", "faults", "faults: done");
}

#[test]
fn wfi_idle_matches_qemu_and_fast_forwards() {
    same_as_qemu("mps2-an385", "mps2-an385", "wfi-idle", "wfi-idle: done");
    let r = ensemble(&[
        "run",
        "--image",
        &image("wfi-idle"),
        "--no-input",
        "--stats",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Five seconds of SysTick at 100 Hz passed in virtual time.
    assert!(
        r.stderr.contains("asleep with no wake-up source at t=5.0"),
        "{}",
        r.stderr
    );
}

#[test]
fn sensor_node_boots_from_flash() {
    let r = boot("sensor-node", "hello-sensor-node");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("hello: done"), "{}", r.stdout);
    assert!(
        r.stderr.contains("asleep with no wake-up source"),
        "{}",
        r.stderr
    );
}

#[test]
fn same_bytes_and_same_virtual_time_every_run() {
    let args = |img: &str| {
        vec![
            "run".to_string(),
            "--board".into(),
            "mps2-an385".into(),
            "--image".into(),
            image(img),
            "--no-input".into(),
            "--stats".into(),
        ]
    };
    for img in ["irq-nesting", "context-switch"] {
        let a: Vec<String> = args(img);
        let a: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        let r1 = ensemble(&a);
        let r2 = ensemble(&a);
        assert_eq!(r1.stdout, r2.stdout);
        let ticks = |s: &str| {
            s.lines()
                .find(|l| l.contains("virtual time"))
                .and_then(|l| l.split('(').nth(1))
                .map(|t| t.split(' ').next().unwrap().to_string())
                .expect("--stats line")
        };
        assert_eq!(
            ticks(&r1.stderr),
            ticks(&r2.stderr),
            "final virtual time differs"
        );
    }
}

#[test]
fn expect_and_fail_patterns_decide_the_exit_code() {
    let img = image("hello-an385");
    let r = ensemble(&[
        "run",
        "--image",
        &img,
        "--no-input",
        "--expect",
        "SCC ID 0x4104",
    ]);
    assert_eq!(r.code, 0);
    assert!(
        !r.stdout.contains("hello: done"),
        "stops as soon as it matched"
    );
    let r = ensemble(&["run", "--image", &img, "--no-input", "--fail", "CPUID"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--fail"), "{}", r.stderr);
    let r = ensemble(&[
        "run",
        "--image",
        &img,
        "--no-input",
        "--expect",
        "never printed",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not met: never printed"), "{}", r.stderr);
}

#[test]
fn time_limit_is_virtual_and_exits_1() {
    // A guest that spins forever with no wake-up can only end by the limit:
    // ldr r0,=loop; b . is the `b .` idle loop, so use a register loop.
    let mut fw = raw_firmware(0x60);
    // 0x40: adds r0, #1 ; b 0x40  (a busy loop, not a self-branch)
    fw[0x40..0x44].copy_from_slice(&[0x01, 0x30, 0xfd, 0xe7]);
    let f = temp_file("busy.bin", &fw);
    let r = ensemble(&[
        "run",
        "--image",
        &format!("{f}@0"),
        "--no-input",
        "--time-limit",
        "200ms",
        "--stats",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("time limit reached at t=0.2"),
        "{}",
        r.stderr
    );
}

fn one_line_error(r: &Run, needle: &str) {
    assert_eq!(r.code, 2, "stdout: {} stderr: {}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);
    assert!(r.stderr.contains(needle), "'{needle}' not in: {}", r.stderr);
}

#[test]
fn bad_input_gets_one_clear_line_and_exit_2() {
    let hello = image("hello-an385");
    one_line_error(
        &ensemble(&["run", "--board", "mps2-an999", "--image", &hello]),
        "unknown board 'mps2-an999'",
    );
    one_line_error(
        &ensemble(&["run", "--image", "/no/such/fw.elf"]),
        "cannot read image /no/such/fw.elf",
    );
    let empty = temp_file("empty.elf", b"");
    one_line_error(&ensemble(&["run", "--image", &empty]), "is empty");
    // The test binary itself: a host ELF, not ARM.
    let host = std::env::current_exe().unwrap();
    one_line_error(
        &ensemble(&["run", "--image", host.to_str().unwrap()]),
        "Cortex-M image",
    );
    // 5 MiB at 0 does not fit the 4 MiB SSRAM1.
    let big = temp_file("big.bin", &vec![0u8; 5 << 20]);
    one_line_error(
        &ensemble(&["run", "--image", &format!("{big}@0")]),
        "does not fit in the memory",
    );
    // Nothing at all is mapped at 0x6000_0000.
    let small = temp_file("small.bin", &[0u8; 16]);
    one_line_error(
        &ensemble(&["run", "--image", &format!("{small}@0x60000000")]),
        "does not fit in the memory",
    );
    one_line_error(
        &ensemble(&["run", "--image", &hello, "--time-limit", "soon"]),
        "--time-limit",
    );
}

#[test]
fn user_board_files_work_and_malformed_ones_name_the_line() {
    let board = std::fs::read_to_string(root().join("images/boards/sensor-node.toml")).unwrap();
    let custom = temp_file(
        "my-node.toml",
        board.replace("sensor-node", "my-node").as_bytes(),
    );
    let r = ensemble(&[
        "run",
        "--board",
        &custom,
        "--image",
        &image("hello-sensor-node"),
        "--no-input",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("on sensor-node"));

    let broken = board.replace("kind = \"cmsdk-timer\"", "kind = \"cmsdk-timr\"");
    let line = broken
        .lines()
        .position(|l| l.contains("cmsdk-timr"))
        .unwrap()
        + 1;
    let f = temp_file("broken.toml", broken.as_bytes());
    one_line_error(
        &ensemble(&["run", "--board", &f, "--image", &image("hello-sensor-node")]),
        &format!("broken.toml:{line}: device 'timer0': kind: unknown device kind 'cmsdk-timr'"),
    );
    let f = temp_file(
        "syntax.toml",
        b"name = \"x\"\ncpu = \"cortex-m3\"\nclock_hz = 25_000_000\nnvic_irqs = [\n",
    );
    let r = ensemble(&["run", "--board", &f, "--image", &image("hello-sensor-node")]);
    one_line_error(&r, "syntax.toml:");
}

/// A raw image of `len` bytes for address 0: initial SP 0x2000_1000 and
/// the reset handler at 0x40 (Thumb), where the caller puts its code.
fn raw_firmware(len: usize) -> Vec<u8> {
    let mut fw = vec![0u8; len];
    fw[0..4].copy_from_slice(&0x2000_1000u32.to_le_bytes());
    fw[4..8].copy_from_slice(&0x41u32.to_le_bytes());
    fw
}

/// A raw image whose reset handler jumps to unmapped memory and whose
/// fault handlers are all `b .`: the classic dead guest.
fn jump_to_nowhere() -> Vec<u8> {
    let mut fw = raw_firmware(0x60);
    for v in 2..16 {
        fw[v * 4..v * 4 + 4].copy_from_slice(&0x49u32.to_le_bytes());
    }
    // 0x40: ldr r0, [pc, #8] ; bx r0 ; nop ; nop ; 0x48: b . ; nop ; 0x4c: .word
    fw[0x40..0x4c].copy_from_slice(&[
        0x02, 0x48, 0x00, 0x47, 0x00, 0xbf, 0x00, 0xbf, 0xfe, 0xe7, 0x00, 0xbf,
    ]);
    fw[0x4c..0x50].copy_from_slice(&0x6000_0001u32.to_le_bytes());
    fw
}

#[test]
fn guest_jumping_to_nowhere_is_reported_as_a_crash() {
    let f = temp_file("nowhere.bin", &jump_to_nowhere());
    let r = ensemble(&["run", "--image", &format!("{f}@0"), "--no-input"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("stuck in its HardFault handler"),
        "{}",
        r.stderr
    );
    // Bus fault on the fetch, escalated (BusFault disabled) to HardFault.
    assert!(r.stderr.contains("CFSR=0x00000100"), "{}", r.stderr);
    assert!(r.stderr.contains("HFSR=0x40000000"), "{}", r.stderr);
    assert!(r.stderr.contains("pc=0x00000048"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn boards_lists_memory_and_devices() {
    let r = ensemble(&["boards"]);
    assert_eq!(r.code, 0);
    for needle in [
        "mps2-an385",
        "mps2-an386",
        "sensor-node",
        "cortex-m4",
        "cmsdk-uart",
        "0x40004000",
    ] {
        assert!(r.stdout.contains(needle), "{needle} missing:\n{}", r.stdout);
    }
}

#[test]
fn cortex_m7_board_runs_as_a_true_m7() {
    let an386 = std::fs::read_to_string(root().join("images/boards/mps2-an386.toml")).unwrap();
    let m7 = an386
        .replacen("name = \"mps2-an386\"", "name = \"m7-board\"", 1)
        .replace("\"cortex-m4\"", "\"cortex-m7\"");
    let f = temp_file("m7.toml", m7.as_bytes());
    let r = ensemble(&[
        "run",
        "--board",
        &f,
        "--image",
        &image("hello-an386"),
        "--no-input",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("CPUID 0x411fc272"), "{}", r.stdout);
}

#[test]
fn exception_trace_has_virtual_timestamps() {
    let trace = temp_file("irq.trace", b"");
    let r = ensemble(&[
        "run",
        "--image",
        &image("irq-nesting"),
        "--no-input",
        "--trace",
        "exceptions",
        "--trace-file",
        &trace,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("exc: enter 25 (IRQ9)"), "{text}");
    assert!(
        text.contains("return from 25 (IRQ9) via 0xfffffff9"),
        "{text}"
    );
    // Nested: IRQ8 entered from inside IRQ9's handler returns to handler mode.
    assert!(text.contains("via 0xfffffff1"), "{text}");
    // Timestamps never go backwards.
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.trim().parse().ok())
        .collect();
    assert!(times.len() > 20);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn stdin_reaches_the_console_uart_receiver() {
    for (board, img) in [
        ("mps2-an385", "uart-echo-an385"),
        ("sensor-node", "uart-echo-sensor-node"),
    ] {
        let img = image(img);
        let args = [
            "run",
            "--board",
            board,
            "--image",
            &img,
            "--expect",
            "done after 3 lines",
        ];
        let r = ensemble_with_input(&args, b"hello\nworld\nquit\n");
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout
                .replace("\r\n", "\n")
                .contains("echo 1: HELLO\necho 2: WORLD\necho 3: QUIT\n"),
            "{}",
            r.stdout
        );
        let again = ensemble_with_input(&args, b"hello\nworld\nquit\n");
        assert_eq!(r.stdout, again.stdout);
    }
}

#[test]
fn unimplemented_regions_read_zero_and_warn_once() {
    let mut fw = raw_firmware(0x50);
    // ldr r1,=0x41000010 ; ldr r0,[r1] ; ldr r0,[r1] ; cpsid i ; 1: wfi ; b 1b
    fw[0x40..0x4c].copy_from_slice(&[
        0x02, 0x49, 0x08, 0x68, 0x08, 0x68, 0x72, 0xb6, 0x30, 0xbf, 0xfd, 0xe7,
    ]);
    fw[0x4c..0x50].copy_from_slice(&0x4100_0010u32.to_le_bytes());
    let f = temp_file("vga.bin", &fw);
    let r = ensemble(&["run", "--image", &format!("{f}@0"), "--no-input"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let warnings: Vec<&str> = r.stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(warnings[0].contains("'vga' at 0x41000010"), "{}", r.stderr);
    assert!(
        r.stderr.contains("asleep with no wake-up source"),
        "{}",
        r.stderr
    );
}

#[test]
fn sleep_on_exit_and_wfe_follow_the_architecture() {
    // QEMU ignores SCR.SLEEPONEXIT (its thread resumes after the first
    // tick), so this checks the ARMv7-M behaviour (B1.5.18) directly.
    let r = boot("mps2-an385", "sleep-on-exit");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout.replace("\r\n", "\n");
    for n in 1..=5 {
        assert!(
            out.contains(&format!("SysTick {n}, thread ran 0 times since arming")),
            "{out}"
        );
    }
    assert!(
        out.contains("thread resumed after 5 ticks, having run 1 time(s)"),
        "{out}"
    );
    assert!(
        out.contains("returned at once (twice)\nsleep-on-exit: done"),
        "{out}"
    );
}

#[test]
fn a_fault_in_the_hardfault_handler_is_a_lockup() {
    let mut fw = jump_to_nowhere();
    // HardFault handler at 0x48 becomes `udf #0`: a fault at priority -1.
    fw[0x48..0x4a].copy_from_slice(&[0x00, 0xde]);
    let f = temp_file("lockup.bin", &fw);
    let r = ensemble(&["run", "--image", &format!("{f}@0"), "--no-input"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("lockup: undefined instruction"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("faulting pc=0x00000048"), "{}", r.stderr);
}

#[test]
fn one_timer_interrupt_runs_its_handler_once() {
    // idle-bench counts 60 000 interrupts of a 1 kHz CMSDK timer; each
    // handler clears the timer and returns in the same block. Counting
    // each interrupt twice would end the image at 30 s of virtual time.
    let r = ensemble(&[
        "run",
        "--image",
        &image("idle-bench"),
        "--no-input",
        "--stats",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("idle-bench: done"), "{}", r.stdout);
    assert!(
        r.stderr.contains("asleep with no wake-up source at t=60.0"),
        "{}",
        r.stderr
    );
}

#[test]
fn intel_hex_and_raw_binary_images_boot_like_the_elf() {
    let elf = image("hello-an385");
    let hex = temp_file("hello.hex", b"");
    let ok = std::process::Command::new("arm-none-eabi-objcopy")
        .args(["-O", "ihex", &elf, &hex])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "arm-none-eabi-objcopy (scripts/setup.sh installs it)");
    let bin = elf.replace(".elf", ".bin");
    let from_elf = ensemble(&["run", "--image", &elf, "--no-input"]);
    let from_hex = ensemble(&["run", "--image", &hex, "--no-input"]);
    let from_bin = ensemble(&["run", "--image", &format!("{bin}@0x0"), "--no-input"]);
    assert!(from_elf.stdout.contains("hello: done"));
    assert_eq!(from_hex.stdout, from_elf.stdout);
    assert_eq!(from_bin.stdout, from_elf.stdout);
}
