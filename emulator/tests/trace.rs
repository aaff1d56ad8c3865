//! `--trace`: interrupts of one machine, frames on a scenario's networks,
//! and the recent events a crash report shows.

mod common;

use common::*;

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ensemble-trace-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The virtual time of a trace line: `[   0.001234567] ...`.
fn stamp(line: &str) -> f64 {
    line.strip_prefix('[')
        .and_then(|l| l.split_once(']'))
        .and_then(|(t, _)| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no timestamp: {line}"))
}

#[test]
fn interrupt_lines_and_the_nvic_pending_them() {
    let dir = temp_dir("irq");
    let file = dir.join("irq.txt");
    // audio-tone plays and records in periods: each period ends with the
    // audio devices' interrupt lines rising, and the handler lowers them.
    let r = ensemble(&[
        "run",
        "--board",
        "mps2-an386",
        "--image",
        &image("audio-tone"),
        "--headless",
        "--no-input",
        "--time-limit",
        "100ms",
        "--trace",
        "interrupts",
        "--trace-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty());
    // Only this category, in time order.
    assert!(lines.iter().all(|l| l.contains("] irq: ")), "{text}");
    assert!(
        lines.windows(2).all(|w| stamp(w[0]) <= stamp(w[1])),
        "{text}"
    );
    let high = lines
        .iter()
        .position(|l| l.ends_with("irq: audio-in line 0 (IRQ29) high"))
        .unwrap_or_else(|| panic!("no rising line\n{text}"));
    // The rising edge pends the IRQ at the same time; the handler later
    // clears the device's interrupt and the line falls.
    let (time, _) = lines[high].split_once("] ").unwrap();
    assert_eq!(lines[high + 1], format!("{time}] irq: NVIC: IRQ29 pending"));
    let low = lines[high..]
        .iter()
        .find(|l| l.ends_with("irq: audio-in line 0 (IRQ29) low"))
        .unwrap_or_else(|| panic!("the line never fell\n{text}"));
    assert!(stamp(low) > stamp(lines[high]));
}

/// `ensemble run` of `image_name` on an AN385 to its end, traced with
/// `categories`: the trace's lines.
fn traced_run(dir: &std::path::Path, image_name: &str, categories: &str) -> Vec<String> {
    let file = dir.join(format!("{image_name}.txt"));
    let r = ensemble(&[
        "run",
        "--board",
        "mps2-an385",
        "--image",
        &image(image_name),
        "--no-input",
        "--trace",
        categories,
        "--trace-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    text.lines().map(String::from).collect()
}

/// The line after the first that ends with `what`, which must have the
/// same timestamp; panics with the trace when there is none.
fn line_after<'a>(lines: &'a [String], what: &str) -> (&'a str, &'a str) {
    let at = lines
        .iter()
        .position(|l| l.ends_with(what))
        .unwrap_or_else(|| panic!("no '{what}' in\n{}", lines.join("\n")));
    let next = lines.get(at + 1).map_or("", |l| l.as_str());
    assert_eq!(stamp(&lines[at]), stamp(next), "{}\n{next}", lines[at]);
    (&lines[at], next)
}

#[test]
fn exceptions_pended_by_software_and_by_the_core() {
    let dir = temp_dir("soft");
    // irq-nesting pends interrupts through STIR, ISPR and ICSR.PENDSVSET,
    // and SysTick counts down.
    let lines = traced_run(&dir, "irq-nesting", "interrupts,exceptions");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("] irq: ") || l.contains("] exc: ")),
        "{}",
        lines.join("\n")
    );
    // Scenario 2: an IRQ pended through STIR is taken at once.
    let (_, next) = line_after(&lines, "] irq: NVIC: IRQ31 pending (STIR write)");
    assert!(next.contains("] exc: enter 47 (IRQ31) from pc="), "{next}");
    // Scenario 3: three pends with PRIMASK set, by three registers, then
    // taken by priority when it is cleared.
    let (first, second) = line_after(&lines, "] irq: NVIC: IRQ29 pending (ISPR0 write)");
    assert!(
        second.ends_with("] irq: NVIC: PendSV pending (ICSR.PENDSVSET write)"),
        "{second}"
    );
    let (_, third) = line_after(&lines, second);
    assert!(
        third.ends_with("] irq: NVIC: IRQ28 pending (STIR write)"),
        "{third}"
    );
    let taken = lines
        .iter()
        .skip_while(|l| *l != third)
        .find(|l| l.contains("] exc: enter"))
        .unwrap();
    assert!(
        taken.contains("] exc: enter 44 (IRQ28) from pc="),
        "{taken}"
    );
    assert!(stamp(taken) > stamp(first));
    // Scenario 5: SysTick reaching zero pends it.
    let (_, next) = line_after(
        &lines,
        "] irq: NVIC: SysTick pending (counter reached zero)",
    );
    assert!(
        next.contains("] exc: enter 15 (SysTick) from pc="),
        "{next}"
    );

    // context-switch's threads call the kernel with SVC.
    let lines = traced_run(&dir, "context-switch", "interrupts,exceptions");
    let (_, next) = line_after(&lines, "] irq: NVIC: SVCall pending (SVC instruction)");
    assert!(next.contains("] exc: enter 11 (SVCall) from pc="), "{next}");
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("] irq: NVIC: PendSV pending (ICSR.PENDSVSET write)")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn unknown_or_misplaced_categories_are_bad_input() {
    let r = ensemble(&[
        "run",
        "--image",
        &image("hello-an385"),
        "--no-input",
        "--trace",
        "bogus",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("unknown category (exceptions, interrupts, mmio, network)"),
        "{}",
        r.stderr
    );
    let r = ensemble(&[
        "run",
        "--image",
        &image("hello-an385"),
        "--no-input",
        "--trace",
        "network",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("only scenarios have networks"),
        "{}",
        r.stderr
    );
    let scn = root().join("images/scenarios/lan.toml");
    let r = ensemble(&[
        "scenario",
        scn.to_str().unwrap(),
        "--headless",
        "--trace",
        "mmio",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

/// The LAN scenario with a lossy switch, run for a while.
fn lossy_lan(dir: &std::path::Path) -> std::path::PathBuf {
    let build = root().join("images/build");
    let scn = format!(
        r#"
name = "lossy"
seed = 7
time_limit = "1500ms"

[[device]]
name = "hub"
board = "mps2-an385"
image = "{b}/net-hub.elf"

[[device]]
name = "ping"
board = "mps2-an385"
image = "{b}/net-ping.elf"

[[device]]
name = "node"
board = "mps2-an385"
image = "{b}/net-node.elf"

[[network]]
name = "lan"
kind = "switch"
members = ["hub", "ping", "node"]
latency = "1ms"
loss = 0.2
"#,
        b = build.display()
    );
    let p = dir.join("lossy.toml");
    std::fs::write(&p, scn).unwrap();
    p
}

#[test]
fn frames_sent_delivered_and_dropped_on_a_network() {
    image("net-hub");
    let dir = temp_dir("net");
    let scn = lossy_lan(&dir);
    let mut traces = Vec::new();
    for threads in ["1", "2"] {
        let file = dir.join(format!("net-{threads}.txt"));
        let r = ensemble(&[
            "scenario",
            scn.to_str().unwrap(),
            "--headless",
            "--quiet",
            "--threads",
            threads,
            "--trace",
            "network",
            "--trace-file",
            file.to_str().unwrap(),
        ]);
        // No steps and a time limit: the limit ends it.
        assert_eq!(r.code, 1, "{}", r.stderr);
        // "(N frames sent, M dropped)"
        let counts: Vec<usize> = r
            .stderr
            .rsplit_once('(')
            .map(|(_, c)| c)
            .unwrap_or("")
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(counts.len(), 2, "{}", r.stderr);
        let text = std::fs::read_to_string(&file).unwrap();
        let count = |what: &str| text.lines().filter(|l| l.contains(what)).count();
        let sends = text
            .lines()
            .filter(|l| l.contains(" sent ") && !l.contains("sent at"))
            .count();
        assert_eq!(sends, counts[0], "{text}");
        assert_eq!(count(" dropped: "), counts[1], "{text}");
        assert!(counts[1] > 0, "{}", r.stderr);
        assert!(count(" dropped: random loss") == counts[1], "{text}");
        assert!(count(" delivered, sent at ") > counts[0] / 2, "{text}");
        assert!(
            text.lines()
                .any(|l| l.contains("net: lan: ping sent 60 B (ARP)")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.contains("net: lan: hub -> ping ") && l.contains(" (ICMP) delivered")),
            "{text}"
        );
        traces.push(text);
    }
    // The trace is part of the deterministic run.
    assert_eq!(traces[0], traces[1]);
}

#[test]
fn a_test_run_keeps_its_network_trace_in_its_artifacts() {
    image("net-hub");
    let dir = temp_dir("test");
    let scn = lossy_lan(&dir);
    let art = dir.join("artifacts");
    let r = ensemble(&[
        "test",
        scn.to_str().unwrap(),
        "--artifacts",
        art.to_str().unwrap(),
        "--trace",
        "network",
    ]);
    // Time limit without steps: a failed test, artifacts kept.
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let text = std::fs::read_to_string(art.join("lossy/network.trace.txt")).unwrap();
    assert!(text.contains("] net: lan: "), "{text}");
}

/// An image (Intel HEX) whose reset handler counts down `loops` times
/// (80 ns each on a 25 MHz board: two halfwords of code), then jumps to
/// unmapped memory; its fault handlers are all `b .`.
fn jump_to_nowhere(dir: &std::path::Path, loops: u32) -> String {
    let mut fw = vec![0u8; 0x60];
    fw[0..4].copy_from_slice(&0x2000_1000u32.to_le_bytes());
    fw[4..8].copy_from_slice(&0x41u32.to_le_bytes());
    for v in 2..16 {
        fw[v * 4..v * 4 + 4].copy_from_slice(&0x4bu32.to_le_bytes());
    }
    // 0x40: ldr r1, [pc, #12] ; subs r1, #1 ; bne 0x42 ; ldr r0, [pc, #12]
    // 0x48: bx r0 ; 0x4a: b . ; nop ; nop ; 0x50: loops ; 0x54: target
    fw[0x40..0x50].copy_from_slice(&[
        0x03, 0x49, 0x01, 0x39, 0xfd, 0xd1, 0x03, 0x48, 0x00, 0x47, 0xfe, 0xe7, 0x00, 0xbf, 0x00,
        0xbf,
    ]);
    fw[0x50..0x54].copy_from_slice(&loops.to_le_bytes());
    fw[0x54..0x58].copy_from_slice(&0x6000_0001u32.to_le_bytes());
    let mut hex = String::new();
    for (i, chunk) in fw.chunks(16).enumerate() {
        let addr = (i * 16) as u16;
        let mut rec = vec![chunk.len() as u8, (addr >> 8) as u8, addr as u8, 0];
        rec.extend_from_slice(chunk);
        let sum = rec
            .iter()
            .fold(0u8, |s, b| s.wrapping_add(*b))
            .wrapping_neg();
        rec.push(sum);
        hex.push(':');
        rec.iter().for_each(|b| hex.push_str(&format!("{b:02X}")));
        hex.push('\n');
    }
    hex.push_str(":00000001FF\n");
    let p = dir.join("nowhere.hex");
    std::fs::write(&p, hex).unwrap();
    p.display().to_string()
}

#[test]
fn a_crash_report_shows_the_last_events_without_tracing() {
    let dir = temp_dir("crash");
    let image = jump_to_nowhere(&dir, 1);
    let r = ensemble(&["run", "--image", &image, "--no-input"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == "last 2 trace events:")
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(
        lines[at + 1].ends_with("exc: fault at pc=0x60000000, raising BusFault"),
        "{}",
        r.stderr
    );
    assert!(
        lines[at + 2].ends_with("exc: enter 3 (HardFault) from pc=0x60000000"),
        "{}",
        r.stderr
    );

    // The same in a test's failure report.
    let scn = dir.join("crash.toml");
    std::fs::write(
        &scn,
        format!(
            "name = \"crash\"\n[[device]]\nname = \"dev\"\nboard = \"mps2-an385\"\nimage = \"{image}\"\n\
             [[step]]\nwait-uart = {{ device = \"dev\", regex = \"never\", timeout = \"1s\" }}\n"
        ),
    )
    .unwrap();
    let art = dir.join("artifacts");
    let r = ensemble(&[
        "test",
        scn.to_str().unwrap(),
        "--artifacts",
        art.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let failure = std::fs::read_to_string(art.join("crash/failure.txt")).unwrap();
    assert!(failure.contains("last 2 trace events:"), "{failure}");
    assert!(
        failure.contains("exc: enter 3 (HardFault) from pc=0x60000000"),
        "{failure}"
    );
}

/// The value after `prefix` on its line, as a number.
fn number_after(text: &str, prefix: &str) -> f64 {
    text.split_once(prefix)
        .and_then(|(_, rest)| {
            rest.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .next()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after '{prefix}' in:\n{text}"))
}

#[test]
fn reports_give_the_crash_time_and_the_failed_step() {
    let dir = temp_dir("ending");
    // 2.5 million loops: a crash at 0.2 s, inside a 10 ms quantum.
    let image = jump_to_nowhere(&dir, 2_500_000);
    let scn = dir.join("late.toml");
    std::fs::write(
        &scn,
        format!(
            "name = \"late\"\n[[device]]\nname = \"dev\"\nboard = \"mps2-an385\"\nimage = \"{image}\"\n\
             [[step]]\ndelay = \"1ms\"\n\
             [[step]]\nwait-uart = {{ device = \"dev\", regex = \"never\", timeout = \"1s\" }}\n"
        ),
    )
    .unwrap();
    let r = ensemble(&["scenario", scn.to_str().unwrap(), "--headless"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let t = number_after(&r.stderr, "crashed at t=");
    assert!((0.2..0.2001).contains(&t), "{t}\n{}", r.stderr);
    let art = dir.join("artifacts");
    let junit = dir.join("junit.xml");
    let r = ensemble(&[
        "test",
        scn.to_str().unwrap(),
        "--artifacts",
        art.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let failure = std::fs::read_to_string(art.join("late/failure.txt")).unwrap();
    let t = number_after(&failure, "crashed at: ");
    assert!((0.2..0.2001).contains(&t), "{failure}");
    // The step pending when it crashed: the second.
    assert!(failure.contains("step: 2/2 at "), "{failure}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<property name=\"failed_step\" value=\"2\"/>"),
        "{xml}"
    );
    let t = number_after(&xml, "<property name=\"crash_time_s\" value=\"");
    assert!((0.2..0.2001).contains(&t), "{xml}");

    // A step that fails, and a time limit, name their step.
    std::fs::write(
        &scn,
        format!(
            "name = \"late\"\n[[device]]\nname = \"dev\"\nboard = \"mps2-an385\"\nimage = \"{}\"\n\
             [[step]]\ndelay = \"1ms\"\n\
             [[step]]\nexpect-no-uart = {{ device = \"dev\", regex = \"hello\", window = \"1s\" }}\n\
             [[step]]\nwait-uart = {{ device = \"dev\", regex = \"never\", timeout = \"1s\" }}\n",
            common::image("hello-an385")
        ),
    )
    .unwrap();
    let r = ensemble(&["scenario", scn.to_str().unwrap(), "--headless", "--quiet"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("ensemble: step 2/3 at "), "{}", r.stderr);
    let text = std::fs::read_to_string(&scn).unwrap();
    std::fs::write(&scn, text.replace("regex = \"hello\"", "regex = \"zzz\"")).unwrap();
    let r = ensemble(&[
        "scenario",
        scn.to_str().unwrap(),
        "--headless",
        "--quiet",
        "--time-limit",
        "500ms",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("with step 2/3 pending: expect-no-uart"),
        "{}",
        r.stderr
    );
}
