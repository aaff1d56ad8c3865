//! `ensemble run --gdb`, driven by Debian's gdb-multiarch in batch mode:
//! what a user sees in gdb, and what the run does meanwhile.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::gdb::{gdb_available, gdb_output, Process};
use ensemble::loader::Image;

/// `ensemble run ... --gdb 0 --gdb-wait` (halted at reset until gdb
/// continues it), and the port it picked; with `input`, the console's
/// input is a pipe left open, else there is none.
fn ensemble(board: &str, image_name: &str, input: bool) -> (Process, u16) {
    ensemble_with(board, image_name, input, &["--gdb", "0", "--gdb-wait"])
}

/// `ensemble run` on `image_name` with `gdb_args`, and the port it says
/// it listens on.
fn ensemble_with(board: &str, image_name: &str, input: bool, gdb_args: &[&str]) -> (Process, u16) {
    let image = common::image(image_name);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ensemble"));
    cmd.args(["run", "--board", board, "--image", &image]);
    cmd.args(gdb_args);
    if input {
        cmd.stdin(Stdio::piped());
    } else {
        cmd.arg("--no-input").stdin(Stdio::null());
    }
    let p = Process::spawn("ensemble", &mut cmd);
    let port = p.port_after("gdb: listening on 127.0.0.1:");
    (p, port)
}

/// gdb-multiarch in batch mode on `image_name`'s ELF, connected to `port`,
/// running `commands`.
fn gdb(port: u16, image_name: &str, commands: &[&str]) -> Process {
    common::gdb::gdb(port, Some(&common::image(image_name)), commands)
}

fn run_gdb(port: u16, image_name: &str, commands: &[&str]) -> String {
    gdb_output(gdb(port, image_name, commands))
}

/// The number after `prefix` on the first line that has it (hex with 0x).
fn value_after(text: &str, prefix: &str) -> u32 {
    let line = text
        .lines()
        .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no '{prefix}' in gdb output:\n{text}"));
    let word = line.split_whitespace().next().unwrap_or("");
    u32::from_str_radix(word.trim_start_matches("0x"), 16)
        .unwrap_or_else(|_| panic!("'{word}' after '{prefix}' is not a number:\n{text}"))
}

fn symbol(image_name: &str, name: &str) -> u32 {
    let image = Image::load(&common::image(image_name)).unwrap();
    image.symbol(name).unwrap() as u32 & !1
}

#[test]
fn breakpoint_step_registers_memory_and_continue() {
    if !gdb_available() {
        return;
    }
    let (ens, port) = ensemble("mps2-an385", "hello-an385", false);
    let out = run_gdb(
        port,
        "hello-an385",
        &[
            "break *main",
            "continue",
            "info registers pc",
            "next",
            "info symbol $pc",
            "print/x $sp",
            "x/2wx 0",
            "continue",
        ],
    );
    let end = ens.end();
    let context = format!("gdb:\n{out}\nensemble stderr:\n{}", end.stderr);

    // Halted at reset until gdb said continue; then stopped at main.
    let main = symbol("hello-an385", "main");
    assert!(out.contains("Breakpoint 1, "), "{context}");
    assert_eq!(value_after(&out, "pc             "), main, "{context}");
    // `next` moved on within main.
    assert!(out.contains("main + "), "{context}");
    // The stack is the one the vector table gives, minus main's frame.
    let image = Image::load(&common::image("hello-an385")).unwrap();
    let vectors = &image
        .segments
        .iter()
        .find(|s| s.addr == 0)
        .expect("vector table at 0")
        .data[..8];
    let word = |i: usize| u32::from_le_bytes(vectors[i * 4..i * 4 + 4].try_into().unwrap());
    let sp = value_after(&out, "$1 = ");
    assert!(
        sp < word(0) && sp >= word(0) - 64,
        "sp {sp:#x}, initial {:#x}\n{context}",
        word(0)
    );
    // Memory reads: the vector table, as in the ELF.
    let x = out
        .lines()
        .find(|l| l.starts_with("0x0 "))
        .unwrap_or_else(|| panic!("no x/2wx output\n{context}"));
    let words: Vec<u32> = x
        .split_whitespace()
        .filter_map(|w| {
            w.strip_prefix("0x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
        })
        .skip(1)
        .collect();
    assert_eq!(words, vec![word(0), word(1)], "{context}");

    // Continued to the end: the guest printed everything and slept for
    // good, which gdb sees as the program exiting, with ensemble's code.
    assert!(end.stdout.contains("hello: done"), "{}", end.stdout);
    assert!(out.contains("exited normally"), "{context}");
    assert_eq!(end.code, 0, "{context}");
}

#[test]
fn variables_by_name_and_hardware_breakpoints() {
    if !gdb_available() {
        return;
    }
    let (ens, port) = ensemble("mps2-an385", "hello-an385", false);
    let out = run_gdb(
        port,
        "hello-an385",
        &[
            "break main",
            "continue",
            "print/x initialised",
            // hello checks that .bss was cleared: make it see otherwise.
            "set var zeroed = 5",
            "hbreak *con_puts",
            "continue",
            "info registers pc",
            "delete",
            "continue",
        ],
    );
    let end = ens.end();
    let context = format!("gdb:\n{out}\nensemble stderr:\n{}", end.stderr);
    assert!(out.contains("$1 = 0x600dda7a"), "{context}");
    assert!(out.contains("Breakpoint 2, "), "{context}");
    assert_eq!(
        value_after(&out, "pc             "),
        symbol("hello-an385", "con_puts"),
        "{context}"
    );
    assert!(
        end.stdout.contains("hello: .data ok, .bss BAD"),
        "{}",
        end.stdout
    );
    assert_eq!(end.code, 0, "{context}");
}

#[test]
fn breakpoint_in_an_interrupt_handler() {
    if !gdb_available() {
        return;
    }
    let (ens, port) = ensemble("mps2-an385", "irq-nesting", false);
    let out = run_gdb(
        port,
        "irq-nesting",
        &[
            "break SysTick_Handler",
            "continue",
            "print systick_calls",
            "backtrace",
            "continue",
            "print systick_calls",
            "info registers xpsr",
            "delete",
            "continue",
        ],
    );
    let end = ens.end();
    let context = format!("gdb:\n{out}\nensemble stderr:\n{}", end.stderr);
    // Two entries to the handler, counted by the guest in between.
    assert!(out.contains("$1 = 0"), "{context}");
    assert!(out.contains("$2 = 1"), "{context}");
    // gdb unwinds through the exception frame (it knows MSP and PSP).
    assert!(out.contains("<signal handler called>"), "{context}");
    // Handler mode, on SysTick (exception 15).
    assert_eq!(
        value_after(&out, "xpsr           ") & 0x1ff,
        15,
        "{context}"
    );
    assert!(end.stdout.contains("irq-nesting: done"), "{}", end.stdout);
    assert_eq!(end.code, 0, "{context}");
}

#[test]
fn ctrl_c_interrupts_the_running_guest() {
    if !gdb_available() {
        return;
    }
    // net-beacon runs for ever, announcing itself once a second.
    let (ens, port) = ensemble("mps2-an385", "net-beacon", false);
    let gdb = gdb(
        port,
        "net-beacon",
        &["continue", "printf \"PC=0x%x\\n\", $pc", "kill"],
    );
    ens.wait_for("net-beacon: ", false);
    // Ctrl-C: gdb sends the interrupt to the stub.
    gdb.interrupt();
    let out = gdb_output(gdb);
    let end = ens.end();
    let context = format!("gdb:\n{out}\nensemble stderr:\n{}", end.stderr);
    assert!(out.contains("Program received signal SIGINT"), "{context}");
    assert!(out.contains("PC=0x"), "{context}");
    // gdb's kill ends the run.
    assert!(out.contains("killed]"), "{context}");
    assert!(end.stderr.contains("gdb killed the guest"), "{context}");
    assert_eq!(end.code, 0, "{context}");
}

#[test]
fn ctrl_c_while_the_guest_waits_for_input() {
    if !gdb_available() {
        return;
    }
    // uart-echo sleeps until a byte arrives on its console, and the console
    // input stays open: the run waits for it, and gdb must still be heard.
    let (mut ens, port) = ensemble("mps2-an385", "uart-echo-an385", true);
    let gdb = gdb(
        port,
        "uart-echo-an385",
        &["continue", "printf \"PC=0x%x\\n\", $pc", "continue"],
    );
    ens.wait_for("uart-echo: type lines", false);
    gdb.interrupt();
    gdb.wait_for("Program received signal SIGINT", false);
    // Input reaches the guest once gdb continues it, and its end ends the
    // run.
    let mut stdin = ens.stdin.take().unwrap();
    stdin.write_all(b"hello\nquit\n").unwrap();
    drop(stdin);
    let out = gdb_output(gdb);
    let end = ens.end();
    let context = format!("gdb:\n{out}\nensemble stderr:\n{}", end.stderr);
    assert!(out.contains("PC=0x"), "{context}");
    assert!(end.stdout.contains("echo 1: HELLO"), "{}", end.stdout);
    assert!(
        end.stdout.contains("uart-echo: done after 2 lines"),
        "{}",
        end.stdout
    );
    assert!(out.contains("exited normally"), "{context}");
    assert_eq!(end.code, 0, "{context}");
}

#[test]
fn a_crash_stops_with_sigsegv_and_ends_the_run() {
    if !gdb_available() {
        return;
    }
    let (ens, port) = ensemble("mps2-an385", "hello-an385", false);
    let out = run_gdb(
        port,
        "hello-an385",
        &[
            "break *main",
            "continue",
            // Nothing is mapped there: the first push faults, and so does
            // stacking the exception frame for it: a lockup.
            "set $sp = 0x30000000",
            "continue",
            "info registers pc",
            "continue",
        ],
    );
    let end = ens.end();
    let context = format!("gdb:\n{out}\nensemble stderr:\n{}", end.stderr);
    assert!(out.contains("Program received signal SIGSEGV"), "{context}");
    // Halted where it crashed (the push of main's first instruction), for
    // inspection.
    assert_eq!(
        value_after(&out, "pc             "),
        symbol("hello-an385", "main"),
        "{context}"
    );
    // Resuming a crashed guest ends the run as a crash does without gdb.
    assert!(
        out.contains("Program terminated with signal SIGSEGV"),
        "{context}"
    );
    assert!(end.stderr.contains("guest crashed"), "{context}");
    assert_eq!(end.code, 3, "{context}");
}

#[test]
fn detaching_lets_the_guest_run_on() {
    if !gdb_available() {
        return;
    }
    let (ens, port) = ensemble("mps2-an385", "hello-an385", false);
    // The batch ends while the guest is halted: gdb detaches.
    let out = run_gdb(port, "hello-an385", &["break *main", "continue"]);
    let end = ens.end();
    let context = format!("gdb:\n{out}\nensemble stderr:\n{}", end.stderr);
    assert!(out.contains("Breakpoint 1, "), "{context}");
    assert!(out.contains("detached"), "{context}");
    assert!(end.stdout.contains("hello: done"), "{}", end.stdout);
    assert_eq!(end.code, 0, "{context}");
}

#[test]
fn a_port_in_use_is_bad_input() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let r = common::ensemble(&[
        "run",
        "--image",
        &common::image("hello-an385"),
        "--no-input",
        "--gdb",
        &port,
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot listen"), "{}", r.stderr);
}

/// The line of `text` in an image's source file (1-based).
fn source_line(file: &str, text: &str) -> u32 {
    let src = std::fs::read_to_string(common::root().join(file)).unwrap();
    src.lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("'{text}' not in {file}")) as u32
        + 1
}

#[test]
fn watchpoints_for_writes_reads_and_accesses() {
    if !gdb_available() {
        return;
    }
    let (ens, port) = ensemble("mps2-an385", "irq-nesting", false);
    let out = run_gdb(
        port,
        "irq-nesting",
        &[
            // A hardware watchpoint (gdb would fall back to software
            // watchpoints, single-stepping, if the stub had none).
            "watch systick_calls",
            "continue",
            "delete",
            "rwatch systick_calls",
            "continue",
            "delete",
            "awatch pendsv_calls",
            "continue",
            "delete",
            // A Cortex-M3 has no FPU: no FPU registers either.
            "info registers d0",
            "continue",
        ],
    );
    let end = ens.end();
    let context = format!("gdb:\n{out}\nensemble stderr:\n{}", end.stderr);
    assert!(
        out.contains("Hardware watchpoint 1: systick_calls"),
        "{context}"
    );
    assert!(!out.contains("Software watchpoint"), "{context}");
    // The handler's increment: from 0 to 1, shown where it happened (gdb
    // shows the statement after the store: the next line or two).
    assert!(out.contains("Old value = 0\nNew value = 1\n"), "{context}");
    let written = source_line("images/src/irq-nesting/main.c", "systick_calls++;");
    let at = out
        .lines()
        .find_map(|l| {
            l.strip_prefix("SysTick_Handler () at ")
                .and_then(|rest| rest.rsplit(':').next())
                .and_then(|n| n.parse::<u32>().ok())
        })
        .unwrap_or_else(|| panic!("no stop in SysTick_Handler\n{context}"));
    assert!(
        (written..=written + 4).contains(&at),
        "stopped at line {at}, the write is at {written}\n{context}"
    );
    // The next read of it: the handler's own check right after.
    assert!(
        out.contains("Hardware read watchpoint 2: systick_calls\n\nValue = 1\n"),
        "{context}"
    );
    // An access watchpoint sees the next write (the thread resetting the
    // PendSV count for scenario 6).
    assert!(
        out.contains("Hardware access (read/write) watchpoint 3: pendsv_calls"),
        "{context}"
    );
    assert!(out.contains("Old value = 2\nNew value = 0\n"), "{context}");
    assert!(out.contains("Invalid register `d0'"), "{context}");
    // The guest was not disturbed.
    assert!(end.stdout.contains("irq-nesting: done"), "{}", end.stdout);
    assert!(
        end.stdout
            .contains("back in thread: SysTick handlers=1 PendSV handlers=1"),
        "{}",
        end.stdout
    );
    assert!(out.contains("exited normally"), "{context}");
    assert_eq!(end.code, 0, "{context}");
}

#[test]
fn fpu_registers_of_a_cortex_m4f() {
    if !gdb_available() {
        return;
    }
    // fpu-context interrupts main() with S0-S31 holding known patterns:
    // pattern i = 0x11000000 ^ (i * 0x01010101) ^ 0x3f800000, and lazy
    // stacking leaves them in the registers when the handler starts.
    let (ens, port) = ensemble("mps2-an386", "fpu-context", false);
    let out = run_gdb(
        port,
        "fpu-context",
        &[
            "break fp_irq_body",
            "continue",
            "info registers s0",
            "info registers d0",
            "p $s1",
            "p/x $fpscr",
            // Writes reach the machine: s2 is the low half of d1.
            "set var $s2 = 2.5",
            "p $s2",
            "info registers d1",
            "delete",
            "continue",
        ],
    );
    let end = ens.end();
    let context = format!("gdb:\n{out}\nensemble stderr:\n{}", end.stderr);
    let pattern = |i: u32| 0x1100_0000 ^ i.wrapping_mul(0x0101_0101) ^ 0x3f80_0000;
    assert!(out.contains("Breakpoint 1, fp_irq_body"), "{context}");
    assert!(
        out.contains(&format!("(raw {:#010x})", pattern(0))),
        "s0\n{context}"
    );
    assert!(
        out.contains(&format!(
            "(raw {:#018x})",
            (pattern(1) as u64) << 32 | pattern(0) as u64
        )),
        "d0\n{context}"
    );
    // s1 as a float (pattern 1 is 0x2f810101), and the thread's FPSCR
    // (flags 0x60000011, round towards zero).
    assert!(out.contains("$1 = 2.34656766e-10"), "{context}");
    assert!(out.contains("$2 = 0x60c00011"), "{context}");
    assert!(out.contains("$3 = 2.5"), "{context}");
    let d1 = out
        .lines()
        .find(|l| l.starts_with("d1 "))
        .unwrap_or_else(|| panic!("no d1\n{context}"));
    assert!(
        d1.contains(&format!("(raw {:#010x}40200000)", pattern(3))),
        "{d1}\n{context}"
    );
    assert!(end.stdout.contains("fpu-context: done"), "{}", end.stdout);
    assert_eq!(end.code, 0, "{context}");
}

#[test]
fn with_no_gdb_attached_the_guest_runs_to_its_end() {
    // --gdb alone does not hold the guest: it runs and prints as without a
    // debugger, and its run ends by itself.
    let r = common::ensemble(&[
        "run",
        "--image",
        &common::image("hello-an385"),
        "--no-input",
        "--gdb",
        "0",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("hello: done"), "{}", r.stdout);
    assert!(
        r.stderr.contains("gdb: listening on 127.0.0.1:"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("connected"), "{}", r.stderr);
}

#[test]
fn gdb_attaches_to_a_running_guest_halts_it_and_continues_it() {
    if !gdb_available() {
        return;
    }
    // uart-echo runs at once (no --gdb-wait) and waits for console input.
    let (mut ens, port) = ensemble_with("mps2-an385", "uart-echo-an385", true, &["--gdb", "0"]);
    ens.wait_for("uart-echo: type lines", false);
    let mut stdin = ens.stdin.take().unwrap();
    stdin.write_all(b"one\n").unwrap();
    stdin.flush().unwrap();
    ens.wait_for("echo 1: ONE", false);
    // gdb attaches to the waiting guest: halted where it is, with its
    // variables as the run left them.
    let gdb = gdb(
        port,
        "uart-echo-an385",
        &[
            "print lines",
            "break IRQ0_Handler",
            "continue",
            "print lines",
            "delete",
            "continue",
        ],
    );
    gdb.wait_for("Breakpoint 1 at", false);
    ens.wait_for("gdb: the guest is halted at t=", true);
    // Input entered while halted reaches the guest once gdb continues it:
    // the breakpoint in the receive interrupt stops it.
    stdin.write_all(b"two\n").unwrap();
    stdin.flush().unwrap();
    gdb.wait_for("Breakpoint 1, ", false);
    stdin.write_all(b"quit\n").unwrap();
    drop(stdin);
    let out = gdb_output(gdb);
    let end = ens.end();
    let context = format!("gdb:\n{out}\nensemble stderr:\n{}", end.stderr);
    assert!(out.contains("$1 = 1"), "{context}");
    assert!(out.contains("$2 = 1"), "{context}");
    assert!(end.stdout.contains("echo 2: TWO"), "{}", end.stdout);
    assert!(
        end.stdout.contains("uart-echo: done after 3 lines"),
        "{}",
        end.stdout
    );
    assert!(out.contains("exited normally"), "{context}");
    assert!(end.stderr.contains("gdb: connected from"), "{context}");
    assert_eq!(end.code, 0, "{context}");
}

#[test]
fn after_a_detach_another_gdb_may_attach() {
    if !gdb_available() {
        return;
    }
    let (mut ens, port) = ensemble_with("mps2-an385", "uart-echo-an385", true, &["--gdb", "0"]);
    ens.wait_for("uart-echo: type lines", false);
    // The first gdb reads a variable and detaches (the end of its batch).
    let first = run_gdb(port, "uart-echo-an385", &["print lines"]);
    assert!(first.contains("$1 = 0"), "{first}");
    ens.wait_for("gdb: detached at t=", true);
    let mut stdin = ens.stdin.take().unwrap();
    stdin.write_all(b"one\n").unwrap();
    stdin.flush().unwrap();
    ens.wait_for("echo 1: ONE", false);
    let second = run_gdb(port, "uart-echo-an385", &["print lines"]);
    assert!(second.contains("$1 = 1"), "{second}");
    stdin.write_all(b"quit\n").unwrap();
    drop(stdin);
    let end = ens.end();
    assert_eq!(
        end.stderr.matches("gdb: connected from").count(),
        2,
        "{}",
        end.stderr
    );
    assert!(
        end.stdout.contains("uart-echo: done after 2 lines"),
        "{}",
        end.stdout
    );
    assert_eq!(end.code, 0, "{}", end.stderr);
}

#[test]
fn bad_gdb_options_are_one_line_of_bad_input() {
    let image = common::image("hello-an385");
    for args in [
        &["--gdb", "not-a-port", "--gdb-wait"][..],
        &["--gdb-wait", "--gdb", "70000"][..],
        &["--gdb", "localhost:"][..],
    ] {
        let mut all = vec!["run", "--image", &image, "--no-input"];
        all.extend_from_slice(args);
        let r = common::ensemble(&all);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("--gdb"), "{args:?}: {}", r.stderr);
    }
}
