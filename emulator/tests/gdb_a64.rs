//! `ensemble run --gdb` on the aarch64-virt board, driven by Debian's
//! gdb-multiarch in batch mode: the bare-metal program a64-counter
//! (images/src/a64-counter, MMU off), and Debian's Linux kernel (MMU on,
//! virtual addresses), as tests/linux.rs boots it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::gdb::{gdb, gdb_available, gdb_output, Process};

use object::{Object as _, ObjectSymbol as _};

const PROGRAM: &str = "a64-counter";

/// Debian's kernel and initramfs (tests/linux.rs), or None (skipped)
/// outside scripts/test.sh, which sets ENSEMBLE_REQUIRE_ARM64.
fn arm64() -> Option<PathBuf> {
    let dir = common::root().join("target/arm64");
    if ["Image", "initramfs.cpio.gz"]
        .iter()
        .all(|f| dir.join(f).exists())
    {
        return Some(dir);
    }
    assert!(
        std::env::var_os("ENSEMBLE_REQUIRE_ARM64").is_none(),
        "{} lacks the arm64 inputs: run scripts/fetch-arm64.sh and scripts/build-initramfs.sh",
        dir.display()
    );
    eprintln!("note: arm64 inputs not fetched; skipping");
    None
}

/// `ensemble run --board aarch64-virt ARGS --gdb 0 --gdb-wait` (halted at
/// reset until gdb continues it), and the port it took.
fn ensemble(args: &[&str]) -> (Process, u16) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ensemble"));
    cmd.args([
        "run",
        "--board",
        "aarch64-virt",
        "--no-input",
        "--gdb",
        "0",
        "--gdb-wait",
    ])
    .args(args);
    cmd.stdin(Stdio::null());
    let p = Process::spawn("ensemble", &mut cmd);
    let port = p.port_after("gdb: listening on 127.0.0.1:");
    (p, port)
}

/// The bare-metal program, booted as a kernel Image.
fn program() -> (Process, u16) {
    let bin = common::image(PROGRAM).replace(".elf", ".bin");
    ensemble(&["--kernel", &bin, "--time-limit", "10s"])
}

/// The value of the first line of `text` that starts with `prefix` (the
/// first word after it; hex with 0x, else decimal).
fn value_after(text: &str, prefix: &str) -> u64 {
    let word = text
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no '{prefix}' in gdb output:\n{text}"));
    number(word)
}

/// The value of `name=VALUE` on `line`.
fn field(line: &str, name: &str) -> u64 {
    let word = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name}= in '{line}'"));
    number(word)
}

/// A number as gdb prints it: hex with 0x, else decimal.
fn number(word: &str) -> u64 {
    let parsed = match word.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => word.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("'{word}' is not a number"))
}

/// The words `x/Nxw` printed on its line for `addr`.
fn words_at(text: &str, addr: u64) -> Vec<u32> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{addr:#x}")))
        .unwrap_or_else(|| panic!("no x/xw output at {addr:#x}:\n{text}"));
    line.split(':')
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .map(|w| u32::from_str_radix(w.trim_start_matches("0x"), 16).unwrap())
        .collect()
}

fn symbol(name: &str) -> u64 {
    let data = std::fs::read(common::image(PROGRAM)).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    elf.symbols()
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("no symbol {name}"))
        .address()
}

/// The line of `text` in the program's main.c (1-based).
fn source_line(text: &str) -> usize {
    let path = common::root().join("images/src/a64-counter/main.c");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("'{text}' not in main.c"))
        + 1
}

/// What a debugging session showed: gdb's output, the run's exit code,
/// stdout and stderr, and all of it as a context for failure messages.
type Ended = (String, i32, String, String, String);

/// gdb printed `out`; wait for the run to end.
fn ended(out: String, ens: Process) -> Ended {
    let common::gdb::Ended {
        code,
        stdout,
        stderr,
    } = ens.end();
    let ctx = format!("gdb:\n{out}\nensemble stdout:\n{stdout}\nensemble stderr:\n{stderr}");
    (out, code, stdout, stderr, ctx)
}

/// The bare-metal program debugged by gdb running `commands`; None
/// (the test is skipped) without gdb.
fn debug_program(commands: &[&str]) -> Option<Ended> {
    if !gdb_available() {
        return None;
    }
    let (ens, port) = program();
    let out = gdb_output(gdb(port, Some(&common::image(PROGRAM)), commands));
    Some(ended(out, ens))
}

#[test]
fn halted_at_the_entry_then_breakpoint_step_registers_and_watchpoint() {
    let Some((out, code, stdout, stderr, ctx)) = debug_program(&[
        // Halted before the first instruction: the Image's entry, with
        // the boot protocol's registers.
        "printf \"ENTRY pc=0x%lx x0=0x%lx el=%lu\\n\", $pc, $x0, $currentel",
        "x/2xw $pc",
        "break tick",
        "continue",
        "print counter",
        "next",
        // The loads of the pointer and of the counter's value.
        "stepi 2",
        "info registers",
        // tick(1) has read counter for its result: the next pass adds
        // 2 to this.
        "set var counter = 1000",
        "delete",
        "watch counter",
        "continue",
        "delete",
        "continue",
    ]) else {
        return;
    };

    // The entry: _head, the Image header's branch; x0 is the device tree
    // at the top 2 MiB of RAM; EL1 (CurrentEL 0b0100).
    let entry = symbol("_head");
    assert_eq!(entry, 0x4008_0000);
    assert!(
        out.contains(&format!("ENTRY pc={entry:#x} x0=0x5fe00000 el=4")),
        "{ctx}"
    );
    let header = std::fs::read(common::image(PROGRAM).replace(".elf", ".bin")).unwrap();
    let word = |i: usize| u32::from_le_bytes(header[i * 4..i * 4 + 4].try_into().unwrap());
    assert_eq!(words_at(&out, entry), vec![word(0), word(1)], "{ctx}");

    assert!(
        out.contains("Breakpoint 1, tick (step=step@entry=1) at images/src/a64-counter/main.c"),
        "{ctx}"
    );
    assert!(out.contains("$1 = 0\n"), "{ctx}");
    // `next` ran the increment and stopped at the next line.
    let next_line = source_line("return *counter_at;");
    assert!(
        out.contains(&format!("\n{next_line}\t    return *counter_at;")),
        "{ctx}"
    );
    // The registers: general ones, the cpsr's fields, the system ones.
    let pc = value_after(&out, "pc             ");
    assert!(
        (symbol("tick")..symbol("tick") + 0x20).contains(&pc),
        "{ctx}"
    );
    assert_eq!(value_after(&out, "x0             "), 1, "{ctx}");
    assert!(out.contains("[ SP EL=1 F I A D"), "{ctx}");
    assert_eq!(
        value_after(&out, "vbar_el1       "),
        symbol("vectors"),
        "{ctx}"
    );
    assert_eq!(
        value_after(&out, "sp             "),
        value_after(&out, "sp_el1         "),
        "{ctx}"
    );

    // A hardware watchpoint on the counter: tick(2)'s store.
    assert!(out.contains("Hardware watchpoint 2: counter"), "{ctx}");
    assert!(
        out.contains("Old value = 1000\nNew value = 1002\n"),
        "{ctx}"
    );
    // The guest saw the debugger's write, and ran to its end: PSCI
    // SYSTEM_OFF is the program's exit.
    assert!(stdout.contains("tick 1 counter=1\n"), "{ctx}");
    assert!(stdout.contains("tick 2 counter=1002\n"), "{ctx}");
    assert!(stdout.contains("tick 10 counter=1054\n"), "{ctx}");
    assert!(stdout.contains("a64-counter: done"), "{ctx}");
    assert!(out.contains("exited normally"), "{ctx}");
    assert!(stderr.contains("powered the machine off"), "{ctx}");
    assert_eq!(code, 0, "{ctx}");
}

#[test]
fn a_step_into_an_exception_lands_on_its_vector() {
    let Some((out, code, stdout, _, ctx)) = debug_program(&[
        "break *call_svc",
        "continue",
        "stepi",
        "printf \"VEC pc=0x%lx esr=0x%lx elr=0x%lx\\n\", $pc, $esr_el1, $elr_el1",
        "info registers cpsr",
        "stepi",
        "info symbol $pc",
        "delete",
        "continue",
    ]) else {
        return;
    };
    // SVC #0x42 from EL1h: the current-EL SP_ELx synchronous vector; ESR
    // says SVC (EC 0x15, IL) with the immediate; ELR is after the SVC.
    let call_svc = symbol("call_svc");
    assert!(
        out.contains(&format!(
            "VEC pc={:#x} esr=0x56000042 elr={:#x}",
            symbol("vectors") + 0x200,
            call_svc + 4
        )),
        "{ctx}"
    );
    // Masked as exception entry leaves it.
    assert!(out.contains("[ SP EL=1 F I A D ]"), "{ctx}");
    // The vector's branch to the handler.
    assert!(out.contains("sync_el1h in section .text"), "{ctx}");
    assert!(stdout.contains("svc_calls=1 imm=0x42"), "{ctx}");
    assert_eq!(code, 0, "{ctx}");
}

#[test]
fn a_step_while_an_interrupt_is_pending_enters_it() {
    let Some((out, code, stdout, _, ctx)) = debug_program(&[
        // IRQs unmasked, the virtual timer armed: a WFI, then a step
        // that waits for the timer.
        "break *irq_wfi",
        "continue",
        "printf \"WFI cnt=%lu\\n\", $cntvct_el0",
        "stepi",
        "printf \"AFTER pc=0x%lx cnt=%lu\\n\", $pc, $cntvct_el0",
        "stepi",
        "printf \"IRQ pc=0x%lx cnt=%lu elr=0x%lx cpsr=0x%lx\\n\", $pc, $cntvct_el0, $elr_el1, $cpsr",
        "delete",
        "continue",
    ]) else {
        return;
    };
    let line = |tag: &str| {
        out.lines()
            .find(|l| l.starts_with(tag))
            .unwrap_or_else(|| panic!("no {tag}\n{ctx}"))
            .to_string()
    };
    let wfi = symbol("irq_wfi");
    let armed = field(&line("WFI "), "cnt");
    // Stepping over the WFI does not wait: the next step does.
    let after = line("AFTER ");
    assert_eq!(field(&after, "pc"), wfi + 4, "{ctx}");
    assert_eq!(field(&after, "cnt"), armed, "{ctx}");
    // The timer fired (625 counts after it was armed, a few instructions
    // before the WFI) and the step took its IRQ: at the current-EL SP_ELx
    // IRQ vector, from after the WFI, masked.
    let irq = line("IRQ ");
    assert_eq!(field(&irq, "pc"), symbol("vectors") + 0x280, "{ctx}");
    assert!(
        (armed + 600..=armed + 625).contains(&field(&irq, "cnt")),
        "{ctx}"
    );
    assert_eq!(field(&irq, "elr"), wfi + 4, "{ctx}");
    assert_eq!(field(&irq, "cpsr"), 0x3c5, "{ctx}");
    assert!(stdout.contains("a64-counter: timer_irqs=1\n"), "{ctx}");
    assert!(stdout.contains("a64-counter: done"), "{ctx}");
    assert_eq!(code, 0, "{ctx}");
}

#[test]
fn read_and_access_watchpoints_registers_and_time_standing_still() {
    let Some((out, code, stdout, _, ctx)) = debug_program(&[
        "break tick",
        "continue",
        "delete",
        "rwatch counter",
        "continue",
        "delete",
        "awatch counter",
        "continue",
        "continue",
        "delete",
        // Virtual time (and the generic timer's counter) stands still
        // while the guest is halted.
        "printf \"CNT %lu\\n\", $cntvct_el0",
        "shell sleep 0.3",
        "printf \"CNT %lu\\n\", $cntvct_el0",
        // A SIMD register written, and read back after a step (the
        // program's C code never touches SIMD registers).
        "set var $v2.d.u[0] = 0x1122334455667788",
        "stepi",
        "printf \"V2 0x%lx\\n\", $v2.d.u[0]",
        // Nothing is mapped there.
        "x/xw 0x20000000",
        "continue",
    ]) else {
        return;
    };
    // tick(1): `counter += 1` reads 0 (gdb shows the stop after the load,
    // which it steps over), then writes 1; `return counter` reads 1.
    assert!(
        out.contains("Hardware read watchpoint 2: counter\n\nValue = 0\n"),
        "{ctx}"
    );
    let access = "Hardware access (read/write) watchpoint 3: counter\n\n";
    assert!(
        out.contains(&format!("{access}Old value = 0\nNew value = 1\n")),
        "{ctx}"
    );
    assert!(out.contains(&format!("{access}Value = 1\n")), "{ctx}");
    // That read loads the counter into the register that held its address:
    // gdb stepped over it after the stop, and the guest got the value.
    assert!(stdout.contains("tick 1 counter=1\n"), "{ctx}");
    let counts: Vec<&str> = out.lines().filter(|l| l.starts_with("CNT ")).collect();
    assert_eq!(counts.len(), 2, "{ctx}");
    assert_eq!(counts[0], counts[1], "{ctx}");
    assert!(out.contains("V2 0x1122334455667788"), "{ctx}");
    assert!(
        out.contains("Cannot access memory at address 0x20000000"),
        "{ctx}"
    );
    assert!(stdout.contains("tick 10 counter=55\n"), "{ctx}");
    assert!(out.contains("exited normally"), "{ctx}");
    assert_eq!(code, 0, "{ctx}");
}

#[test]
fn ctrl_c_interrupts_the_running_guest() {
    if !gdb_available() {
        return;
    }
    let (ens, port) = program();
    let elf = common::image(PROGRAM);
    let gdb = gdb(
        port,
        Some(&elf),
        &[
            "break *call_svc",
            "continue",
            // Make the program spin until told otherwise.
            "set var spin = 1",
            "delete",
            "continue",
            "printf \"STOPPED counter=%lu\\n\", counter",
            "info symbol $pc",
            "set var spin = 0",
            "continue",
        ],
    );
    ens.wait_for("a64-counter: spinning", false);
    gdb.interrupt();
    let out = gdb_output(gdb);
    let (out, code, stdout, _, ctx) = ended(out, ens);
    assert!(out.contains("Program received signal SIGINT"), "{ctx}");
    // Stopped in main's loop, which had counted on.
    assert!(out.contains("main + "), "{ctx}");
    assert!(value_after(&out, "STOPPED counter=") > 55, "{ctx}");
    assert!(stdout.contains("a64-counter: done"), "{ctx}");
    assert!(out.contains("exited normally"), "{ctx}");
    assert_eq!(code, 0, "{ctx}");
}

#[test]
fn a_port_in_use_is_bad_input() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let bin = common::image(PROGRAM).replace(".elf", ".bin");
    let r = common::ensemble(&[
        "run",
        "--board",
        "aarch64-virt",
        "--kernel",
        &bin,
        "--no-input",
        "--gdb",
        &port,
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot listen"), "{}", r.stderr);
}

/// The kernel's vectors are at kernel virtual addresses: gdb breaks at the
/// one for exceptions from EL0 when it is a system call, and reads kernel
/// and user memory through the guest's translation tables.
#[test]
fn linux_stops_at_the_first_system_call_from_user_space() {
    if !gdb_available() {
        return;
    }
    let Some(dir) = arm64() else { return };
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (kernel, initrd) = (s(&dir.join("Image")), s(&dir.join("initramfs.cpio.gz")));
    let (ens, port) = ensemble(&[
        "--kernel",
        &kernel,
        "--initrd",
        &initrd,
        "--append",
        "console=ttyAMA0",
        "--time-limit",
        "30s",
    ]);
    let gdb = gdb(
        port,
        None,
        &[
            "continue",
            "printf \"VBAR 0x%lx\\n\", $vbar_el1",
            "break *($vbar_el1 + 0x400) if ($esr_el1 >> 26) == 0x15",
            "continue",
            "printf \"AT pc=0x%lx el=%lu spsr=0x%lx elr=0x%lx\\n\", $pc, $currentel, $spsr_el1, $elr_el1",
            "x/4xw $pc",
            "x/xw $elr_el1 - 4",
            "x/xw 0",
            "delete",
            "kill",
        ],
    );
    // Early in the boot, long before user space.
    ens.wait_for("Booting Linux", false);
    gdb.interrupt();
    let out = gdb_output(gdb);
    let (out, code, stdout, stderr, ctx) = ended(out, ens);
    assert!(out.contains("Program received signal SIGINT"), "{ctx}");
    let vbar = value_after(&out, "VBAR ");
    assert!(vbar >= 0xffff_0000_0000_0000, "{ctx}");
    assert!(out.contains("Breakpoint 1, "), "{ctx}");
    let at = out
        .lines()
        .find(|l| l.starts_with("AT pc="))
        .unwrap_or_else(|| panic!("no stop at the vector\n{ctx}"));
    let pc = field(at, "pc");
    assert_eq!(pc, vbar + 0x400, "{ctx}");
    // At EL1, taken from EL0 (SPSR.M = EL0t), at a user address.
    assert_eq!(field(at, "el"), 4, "{ctx}");
    let (spsr, elr) = (field(at, "spsr"), field(at, "elr"));
    assert_eq!(spsr & 0xf, 0, "{ctx}");
    assert!(elr < 1 << 48, "{ctx}");
    // The vector's code, read through the kernel's mapping: the same
    // bytes as in the Image file, at the same offset in a page.
    let words = words_at(&out, pc);
    assert_eq!(words.len(), 4, "{ctx}");
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let image = std::fs::read(dir.join("Image")).unwrap();
    let found = image
        .windows(16)
        .enumerate()
        .any(|(i, w)| w == bytes && (i as u64) % 4096 == pc % 4096);
    assert!(
        found,
        "the vector's words {words:x?} are not in the Image\n{ctx}"
    );
    // The user program's SVC #0, read through its own mapping.
    assert_eq!(words_at(&out, elr - 4), vec![0xd400_0001], "{ctx}");
    // User page 0 is not mapped.
    assert!(out.contains("Cannot access memory at address 0x0"), "{ctx}");
    assert!(stderr.contains("gdb killed the guest"), "{ctx}");
    assert!(!stdout.contains("Kernel panic"), "{ctx}");
    assert_eq!(code, 0, "{ctx}");
}
