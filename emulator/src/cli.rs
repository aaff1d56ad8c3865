//! The `ensemble` command line.

use std::collections::VecDeque;
use std::io::{IsTerminal, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};
use regex::Regex;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use crate::board::{Board, IrqTarget, MemoryKind};
use crate::frontend::animation::{AnimationWriter, Palette};
use crate::frontend::headless::{parse_audio_source, parse_sensor_source, WavSink};
use crate::frontend::netview::NetView;
use crate::frontend::record::Recorder;
use crate::frontend::sinks::{self, Sinks};
use crate::frontend::{window, Panel, UserInput};
use crate::loader::Image;
use crate::machine::{CrashInfo, Machine, StopReason};
use crate::time::{ns_to_ticks, parse_duration_ns, ticks_to_secs};
use crate::trace::{Trace, TraceKind, TraceTo};

/// Exit codes, as documented in `ensemble run --help`.
pub const EXIT_OK: i32 = 0;
pub const EXIT_UNMET: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_CRASHED: i32 = 3;

const UART_HISTORY: usize = 20;

#[derive(Parser)]
#[command(
    name = "ensemble",
    version,
    about = "Full-system emulator for ARM devices, in deterministic virtual time"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Boot an image on a board and show its serial console.
    #[command(after_help = "\
Exit codes:
  0  success: every --expect matched, or the guest went to sleep for good with nothing expected
  1  the time limit came first, an --expect was not met (guest asleep), or a --fail matched
  2  bad input: unknown board, unreadable or wrong-architecture image, bad option
  3  the guest crashed: lockup, or stuck in a fault handler (PC, fault registers and
     the last UART lines are printed)

Time is virtual: derived from executed guest code at the board's clock, never
from the host clock, so the same image and input give the same output, at the
same virtual times, on every run.")]
    Run(Box<RunArgs>),
    /// Run several devices on simulated networks, in lockstep virtual time.
    #[command(after_help = "\
Exit codes:
  0  every step passed (with no steps: every device went to sleep for good)
  1  a step failed or timed out, or the time limit came first
  2  bad input: malformed scenario, unknown board, missing image, a
     --replay recording of another scenario or with a malformed line
  3  a device crashed (its report is printed)

Each device's console is printed line by line as [device] text. The same
scenario and seed give the same bytes, frames and timestamps with any
number of threads.")]
    Scenario(ScenarioArgs),
    /// Run scenario files as tests: a line per step, PASS or FAIL per file,
    /// a summary, artifacts of failures, optionally JUnit XML.
    #[command(after_help = "\
Exit codes:
  0  every test passed
  1  a test failed: a step failed or timed out, the time limit came first,
     or a device crashed
  2  a malformed test file or bad input (reported as FILE:LINE before any
     test runs), or a test could not start

Each test runs with its artifacts in DIR/<file stem>/: UART logs, pcaps,
screens, sound. A passed test's are removed (unless --keep-artifacts); a
failed test's are kept with a failure.txt saying which step failed, why,
and the last console lines of every device. Results do not depend on -j.")]
    Test(crate::testrun::TestArgs),
    /// List the built-in boards with their memory and devices.
    Boards,
}

#[derive(clap::Args)]
struct ScenarioArgs {
    /// The scenario file (TOML); without one, the smart-home showcase
    /// (images/scenarios/home.toml of this checkout).
    file: Option<String>,
    /// Worker threads (results do not depend on it).
    #[arg(long, default_value_t = default_threads())]
    threads: usize,
    /// Stop after this much virtual time (overrides the scenario's).
    #[arg(long = "time-limit", value_name = "DURATION")]
    time_limit: Option<String>,
    /// Write each device's UART log and each network's pcap here.
    #[arg(long, value_name = "DIR")]
    artifacts: Option<String>,
    /// Write each network's pcap here instead; make DIR/NET.pcap a named
    /// pipe (mkfifo) to watch it live: wireshark -k -i DIR/NET.pcap
    #[arg(long, value_name = "DIR")]
    pcap: Option<String>,
    /// Pace virtual time to the wall clock.
    #[arg(long)]
    realtime: bool,
    /// Do not print the devices' consoles.
    #[arg(long)]
    quiet: bool,
    /// Never open windows, even when a display is available.
    #[arg(long)]
    headless: bool,
    /// With windows, run as fast as possible instead of at real-time pace.
    #[arg(long = "max-speed")]
    max_speed: bool,
    /// With windows, do not play the devices' sound on the host.
    #[arg(long)]
    mute: bool,
    /// With --artifacts: a frame of network.gif and of each screen's
    /// <device>.gif every DURATION of virtual time.
    #[arg(
        long = "gif-interval",
        value_name = "DURATION",
        default_value = "100ms"
    )]
    gif_interval: String,
    /// With --artifacts: write no animations (network.png still is).
    #[arg(long = "no-animation")]
    no_animation: bool,
    /// Trace categories to stderr or --trace-file; in a scenario: network
    /// (every frame sent, delivered or dropped, with why).
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    trace: Vec<String>,
    /// Write traces to this file instead of stderr.
    #[arg(long = "trace-file", value_name = "FILE")]
    trace_file: Option<String>,
    /// Save the whole scenario (machines, networks with the frames in
    /// flight, steps) to FILE at the first lockstep quantum boundary at or
    /// after virtual time TIME, and go on.
    #[arg(long = "snapshot-at", num_args = 2, value_names = ["TIME", "FILE"])]
    snapshot_at: Vec<String>,
    /// Continue from a snapshot taken with --snapshot-at of the same
    /// scenario; --time-limit stays absolute virtual time.
    #[arg(long, value_name = "FILE")]
    restore: Option<String>,
    /// Record every input from outside the simulation to FILE, with the
    /// virtual time and the device or network it entered: window input
    /// (buttons, keys, touches, sensor controls, closing windows) and the
    /// frames a host sends through a [[bridge]]. Each line is flushed at
    /// once. Not with --restore.
    #[arg(long, value_name = "FILE")]
    record: Option<String>,
    /// Replay a recording made with --record of this same scenario file:
    /// the same inputs enter at the same virtual times, so the run is the
    /// recorded one byte for byte. Window input is ignored (closing every
    /// window still ends the run early); a bridge binds no socket and is
    /// not paced to the wall clock: the host's frames come from FILE, and
    /// frames the devices send to the host are dropped. Not with --restore.
    #[arg(long, value_name = "FILE")]
    replay: Option<String>,
    /// Debug with GDB: serve the GDB remote protocol for every device, the
    /// i-th device of the scenario on BASEPORT+i of 127.0.0.1 (3333 when no
    /// value is given; HOST:BASEPORT for another address; 0: each a free
    /// port), one line per device saying where. Devices run at once; gdb
    /// may connect at any time, which halts its device, and while any
    /// device is halted the whole scenario's virtual time stands still.
    #[arg(long, value_name = "[HOST:]BASEPORT", num_args = 0..=1, default_missing_value = "3333")]
    gdb: Option<String>,
    /// Hold DEVICE at reset until its gdb connects and continues it
    /// (repeatable; implies --gdb when it is not given).
    #[arg(long = "gdb-wait", value_name = "DEVICE")]
    gdb_wait: Vec<String>,
}

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[derive(clap::Args)]
struct RunArgs {
    /// A built-in board name (see `ensemble boards`) or a board file (.toml).
    #[arg(long, default_value = "mps2-an385")]
    board: String,
    /// Guest image: ELF, Intel HEX, or a raw binary as FILE@ADDRESS.
    /// (AArch64 boards boot --kernel or --bios instead.)
    #[arg(long, required_unless_present_any = ["kernel", "bios"])]
    image: Option<String>,
    /// AArch64 boards: a Linux arm64 Image (or gzip-compressed Image) to
    /// boot with the generated device tree in x0.
    #[arg(long, value_name = "IMAGE")]
    kernel: Option<String>,
    /// AArch64 boards: an initramfs (cpio, compressed or not) for --kernel.
    #[arg(long, value_name = "FILE")]
    initrd: Option<String>,
    /// AArch64 boards: the kernel command line.
    #[arg(long, value_name = "CMDLINE", default_value = "")]
    append: String,
    /// AArch64 boards: firmware loaded at the flash base and started there
    /// (U-Boot's qemu_arm64 u-boot.bin); the device tree is put at the
    /// start of RAM for it.
    #[arg(long, value_name = "FILE")]
    bios: Option<String>,
    /// AArch64 boards: use this device tree blob instead of the generated one.
    #[arg(long, value_name = "FILE.dtb")]
    dtb: Option<String>,
    /// AArch64 boards: write the device tree blob to FILE and go on.
    #[arg(long = "dump-dtb", value_name = "FILE.dtb")]
    dump_dtb: Option<String>,
    /// AArch64 boards: a disk image for the virtio block device. Guest
    /// writes stay in memory (the file is never changed) unless
    /// --disk-writable is given.
    #[arg(long, value_name = "FILE")]
    disk: Option<String>,
    /// With --disk: let the guest write to the file.
    #[arg(long = "disk-writable", requires = "disk")]
    disk_writable: bool,
    /// AArch64 boards: RAM size (e.g. 128M, 1G, 4G; default the board's).
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// Which UART is the console on stdout/stdin.
    #[arg(long, default_value = "uart0")]
    console: String,
    /// Also write a UART's output to a file: FILE (the console) or NAME=FILE.
    #[arg(long = "uart-log", value_name = "[NAME=]FILE")]
    uart_log: Vec<String>,
    /// Stop after this much virtual time (e.g. 10s, 500ms).
    #[arg(long = "time-limit", value_name = "DURATION")]
    time_limit: Option<String>,
    /// Exit 0 as soon as console output matches (repeatable: all must match).
    #[arg(long, value_name = "REGEX")]
    expect: Vec<String>,
    /// Exit 1 as soon as console output matches.
    #[arg(long, value_name = "REGEX")]
    fail: Vec<String>,
    /// Trace categories to stderr or --trace-file: exceptions, interrupts,
    /// mmio.
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    trace: Vec<String>,
    /// Write traces to this file instead of stderr.
    #[arg(long = "trace-file", value_name = "FILE")]
    trace_file: Option<String>,
    /// Pace virtual time to the wall clock (interactive use).
    #[arg(long)]
    realtime: bool,
    /// Do not feed stdin to the console UART.
    #[arg(long = "no-input")]
    no_input: bool,
    /// Print the virtual time and instructions' worth of ticks at the end.
    #[arg(long)]
    stats: bool,
    /// Debug with GDB: serve the GDB remote protocol on PORT of 127.0.0.1
    /// (3333 when no value is given; HOST:PORT for another address; 0 picks
    /// a free port). The guest runs at once; gdb may connect at any time,
    /// which halts the guest where it is, and after it detaches another
    /// may connect. Virtual time stands still while the guest is halted.
    #[arg(long, value_name = "[HOST:]PORT", num_args = 0..=1, default_missing_value = "3333")]
    gdb: Option<String>,
    /// With --gdb (or alone: --gdb 3333): hold the guest at reset until
    /// gdb connects and continues it.
    #[arg(long = "gdb-wait")]
    gdb_wait: bool,
    /// Never open a window, even when a display is available.
    #[arg(long)]
    headless: bool,
    /// In a window, run as fast as possible instead of at real-time pace.
    #[arg(long = "max-speed")]
    max_speed: bool,
    /// In a window, do not play the device's sound on the host.
    #[arg(long)]
    mute: bool,
    /// Save the screen as a PNG (repeatable; the n-th --at gives its
    /// virtual time, else it is taken when the run ends).
    #[arg(long, value_name = "FILE.png")]
    screenshot: Vec<String>,
    /// Virtual time of the matching --screenshot (e.g. 2s).
    #[arg(long, value_name = "DURATION")]
    at: Vec<String>,
    /// Write displayed frames as PNG files DIR/DEVICE-NNNNNN.png.
    #[arg(long = "frames-dir", value_name = "DIR")]
    frames_dir: Option<String>,
    /// With --frames-dir: keep every Nth frame.
    #[arg(long = "frame-every", value_name = "N", default_value_t = 1)]
    frame_every: u64,
    /// Write the samples the guest played to a WAV file, at its own rate.
    #[arg(long = "audio-out", value_name = "FILE.wav")]
    audio_out: Option<String>,
    /// What the microphone hears: FILE.wav, loop:FILE.wav or tone:HZ[:AMPLITUDE].
    #[arg(long = "audio-in", value_name = "SOURCE")]
    audio_in: Option<String>,
    /// Save the whole machine at virtual time TIME to FILE, and go on
    /// (repeatable).
    #[arg(long = "snapshot-at", num_args = 2, value_names = ["TIME", "FILE"])]
    snapshot_at: Vec<String>,
    /// Continue from a snapshot taken with --snapshot-at (same board and
    /// image); --time-limit stays absolute virtual time.
    #[arg(long, value_name = "FILE")]
    restore: Option<String>,
    /// Record console input and window input (buttons, touches, sensor
    /// controls) with the virtual time each entered, to replay the session.
    #[arg(long, value_name = "FILE")]
    record: Option<String>,
    /// Replay a recording made with --record: the same inputs at the same
    /// virtual times (stdin is then not read).
    #[arg(long, value_name = "FILE", conflicts_with = "record")]
    replay: Option<String>,
    /// Feed a sensor channel (repeatable): NAME=FILE.csv (time_s,value...
    /// in virtual time), NAME=VALUE or NAME=X,Y,Z (SI units), or
    /// NAME=sine:OFFSET:AMPLITUDE:PERIOD_S. Names: accel, gyro, mag,
    /// temperature, humidity, pressure, light, heart-rate, steps.
    #[arg(long, value_name = "NAME=SOURCE")]
    sensor: Vec<String>,
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Run(args) => run(*args),
        Command::Scenario(args) => scenario(args),
        Command::Test(args) => crate::testrun::run(args),
        Command::Boards => boards().map(|_| EXIT_OK),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line: the chain of contexts, outermost first.
            let msg = e
                .chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": ");
            eprintln!("ensemble: error: {msg}");
            EXIT_BAD_INPUT
        }
    }
}

fn boards() -> Result<()> {
    let mut out = std::io::stdout().lock();
    for name in Board::builtin_names() {
        let b = Board::load(name)?;
        writeln!(out, "{}  -  {}", b.name, b.description)?;
        match b.gic {
            Some(g) if b.cpu.is_aarch64() => writeln!(
                out,
                "  cpu {} at {} MHz (one instruction per tick), GICv2 with {} SPIs, generic timer at {} MHz",
                b.cpu.name(),
                b.clock_hz as f64 / 1e6,
                g.spis,
                b.timer_hz as f64 / 1e6
            )?,
            _ => writeln!(
                out,
                "  cpu {} at {} MHz, {} IRQs",
                b.cpu.name(),
                b.clock_hz as f64 / 1e6,
                b.nvic_irqs
            )?,
        }
        for m in &b.memory {
            let aliases: Vec<String> = m.aliases.iter().map(|a| format!("0x{a:08x}")).collect();
            writeln!(
                out,
                "  {:<4} 0x{:08x} {:>6} KiB  {}{}",
                if m.kind == MemoryKind::Ram {
                    "ram"
                } else {
                    "rom"
                },
                m.base,
                m.size / 1024,
                m.name,
                if aliases.is_empty() {
                    String::new()
                } else {
                    format!(" (also at {})", aliases.join(", "))
                }
            )?;
        }
        for d in &b.devices {
            let irqs: Vec<String> = d
                .irqs
                .iter()
                .map(|i| match i {
                    IrqTarget::Irq(n) => n.to_string(),
                    IrqTarget::Named(s) => s.clone(),
                })
                .collect();
            writeln!(
                out,
                "  dev  0x{:08x} {:<10} {:<16} irq {}",
                d.base,
                d.name,
                d.kind,
                if irqs.is_empty() {
                    "-".into()
                } else {
                    irqs.join(",")
                }
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Console text matching: --expect patterns still to see, --fail patterns.
struct Watch {
    expect: Vec<(Regex, bool)>,
    fail: Vec<Regex>,
    line: String,
    history: VecDeque<String>,
}

enum Verdict {
    Pending,
    Passed,
    Failed(String),
}

impl Watch {
    /// Feed console bytes; patterns are matched per line, and against the
    /// partial line at the end so a prompt without a newline matches too.
    /// Returns the verdict and how many bytes led to it (the output to show).
    fn feed(&mut self, bytes: &[u8]) -> (Verdict, usize) {
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                let v = self.check(&line);
                self.remember(line);
                if !matches!(v, Verdict::Pending) {
                    return (v, i + 1);
                }
            } else if b != b'\r' {
                self.line.push(b as char);
            }
        }
        let partial = self.line.clone();
        (self.check(&partial), bytes.len())
    }

    fn remember(&mut self, line: String) {
        if self.history.len() == UART_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(line);
    }

    fn check(&mut self, text: &str) -> Verdict {
        if let Some(re) = self.fail.iter().find(|re| re.is_match(text)) {
            return Verdict::Failed(format!("--fail '{}' matched: {text}", re.as_str()));
        }
        for (re, seen) in &mut self.expect {
            *seen |= re.is_match(text);
        }
        if !self.expect.is_empty() && self.expect.iter().all(|(_, s)| *s) {
            Verdict::Passed
        } else {
            Verdict::Pending
        }
    }

    fn unmet(&self) -> Vec<String> {
        self.expect
            .iter()
            .filter(|(_, s)| !s)
            .map(|(r, _)| r.as_str().to_string())
            .collect()
    }

    fn last_lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self.history.iter().cloned().collect();
        if !self.line.is_empty() {
            v.push(self.line.clone());
        }
        let n = v.len().saturating_sub(UART_HISTORY);
        v.split_off(n)
    }
}

fn stdin_reader() -> mpsc::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    if tx.send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// What the emulation thread of a windowed run hands the window.
struct UiSetup {
    panel_tx: mpsc::Sender<Arc<Mutex<Panel>>>,
    inputs: mpsc::Receiver<(usize, UserInput)>,
    stop: Arc<AtomicBool>,
}

/// Wall time an unattached `--gdb` run aims to spend between looks for a
/// connection.
const GDB_SLICE_WALL: Duration = Duration::from_millis(20);

fn run(mut args: RunArgs) -> Result<i32> {
    if args.gdb_wait && args.gdb.is_none() {
        args.gdb = Some("3333".into());
    }
    if args.headless || args.gdb.is_some() || !window::display_available() {
        return run_machine(args, None);
    }
    // The window owns the main thread; the machine runs on another (and is
    // built there: the CPU engine's handle stays on its thread).
    let (panel_tx, panel_rx) = mpsc::channel();
    let (input_tx, input_rx) = mpsc::channel();
    let stop = sinks::stop_flag();
    let ui = UiSetup {
        panel_tx,
        inputs: input_rx,
        stop: stop.clone(),
    };
    let emulation = std::thread::Builder::new()
        .name("ensemble-machine".into())
        .spawn(move || run_machine(args, Some(ui)))
        .context("starting the emulation thread")?;
    if let Ok(panel) = panel_rx.recv() {
        if let Err(e) = window::run_windows(vec![panel], input_tx, stop) {
            eprintln!("note: no window ({e}); continuing headless");
        }
    }
    emulation
        .join()
        .map_err(|_| anyhow!("the emulation thread panicked"))?
}

fn run_machine(mut args: RunArgs, ui: Option<UiSetup>) -> Result<i32> {
    let mut board = Board::load(&args.board)?;
    let image = if board.cpu.is_aarch64() {
        if args.image.is_some() {
            return Err(anyhow!(
                "--image: board '{}' is an AArch64 board; boot it with --kernel IMAGE or --bios FILE",
                board.name
            ));
        }
        crate::boot::configure_board(
            &mut board,
            args.memory.as_deref(),
            args.disk.as_deref(),
            args.disk_writable,
        )?;
        let spec = crate::boot::BootSpec {
            kernel: args.kernel.clone(),
            initrd: args.initrd.clone(),
            append: args.append.clone(),
            bios: args.bios.clone(),
            dtb: args.dtb.clone(),
        };
        let (image, dtb) = crate::boot::boot_image(&board, &spec)?;
        if let Some(path) = &args.dump_dtb {
            std::fs::write(path, &dtb).with_context(|| format!("--dump-dtb {path}"))?;
        }
        image
    } else {
        let flag = [
            ("--kernel", args.kernel.is_some()),
            ("--bios", args.bios.is_some()),
            ("--initrd", args.initrd.is_some()),
            ("--dtb", args.dtb.is_some()),
            ("--dump-dtb", args.dump_dtb.is_some()),
            ("--disk", args.disk.is_some()),
            ("--memory", args.memory.is_some()),
        ]
        .into_iter()
        .find(|f| f.1);
        if let Some((flag, _)) = flag {
            return Err(anyhow!(
                "{flag}: only AArch64 boards (such as aarch64-virt) take it; board '{}' runs --image",
                board.name
            ));
        }
        let Some(spec) = &args.image else {
            return Err(anyhow!(
                "--image: board '{}' needs a guest image",
                board.name
            ));
        };
        Image::load(spec)?
    };
    let time_limit =
        match &args.time_limit {
            Some(s) => Some(parse_duration_ns(s).ok_or_else(|| {
                anyhow!("--time-limit '{s}': expected a duration like 10s or 500ms")
            })?),
            None => None,
        };
    let compile = |v: &[String], opt: &str| -> Result<Vec<Regex>> {
        v.iter()
            .map(|p| Regex::new(p).map_err(|e| anyhow!("{opt} '{p}': {e}")))
            .collect()
    };
    let mut watch = Watch {
        expect: compile(&args.expect, "--expect")?
            .into_iter()
            .map(|r| (r, false))
            .collect(),
        fail: compile(&args.fail, "--fail")?,
        line: String::new(),
        history: VecDeque::new(),
    };
    let kinds = trace_kinds(&args.trace)?;
    if kinds.contains(&TraceKind::Network) {
        return Err(anyhow!(
            "--trace network: only scenarios have networks (ensemble scenario, ensemble test)"
        ));
    }
    let trace = if kinds.is_empty() {
        Trace::off()
    } else {
        let out: Box<dyn Write + Send> = match &args.trace_file {
            Some(f) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(f).with_context(|| format!("--trace-file {f}"))?,
            )),
            None => Box::new(std::io::stderr()),
        };
        Trace::new(&kinds, board.clock_hz, out)
    };

    let clock_hz = board.clock_hz;
    let mut machine = Machine::new(board, image, trace)?;
    let devices = machine.device_names();
    if !devices.contains(&args.console) {
        return Err(anyhow!(
            "--console '{}': board '{}' has no such device (it has {})",
            args.console,
            machine.board.name,
            devices.join(", ")
        ));
    }
    let mut logs: Vec<(String, std::fs::File)> = Vec::new();
    for spec in &args.uart_log {
        let (name, file) = match spec.split_once('=') {
            Some((n, f)) => (n.to_string(), f),
            None => (args.console.clone(), spec.as_str()),
        };
        if !devices.contains(&name) {
            return Err(anyhow!(
                "--uart-log '{spec}': no device '{name}' on this board"
            ));
        }
        let f = std::fs::File::create(file).with_context(|| format!("--uart-log {file}"))?;
        logs.push((name, f));
    }

    let limit = time_limit
        .map(|ns| ns_to_ticks(ns, clock_hz))
        .unwrap_or(u64::MAX);
    if let Some(f) = &args.restore {
        let data = std::fs::read(f).with_context(|| format!("--restore {f}"))?;
        machine
            .restore_snapshot(&data)
            .map_err(|e| anyhow!("--restore {f}: {e}"))?;
    }
    let mut snapshots: Vec<(u64, String)> = Vec::new();
    for pair in args.snapshot_at.chunks(2) {
        let t = parse_duration_ns(&pair[0])
            .ok_or_else(|| anyhow!("--snapshot-at '{}': expected a duration like 2s", pair[0]))?;
        snapshots.push((ns_to_ticks(t, clock_hz), pair[1].clone()));
    }
    snapshots.sort();
    let mut sinks = build_sinks(&args, &mut machine, clock_hz)?;
    if let Some(ui) = ui {
        let panel = Arc::new(Mutex::new(sinks::panel_for(&machine.board.name, &machine)));
        // The window draws from the same panel the loop updates.
        let _ = ui.panel_tx.send(panel.clone());
        sinks.panel = Some(sinks::PanelLink {
            panel,
            inputs: ui.inputs,
            index: 0,
            stop: ui.stop,
        });
        if !args.mute {
            sinks.sound = crate::frontend::sound::SoundOutput::open();
        }
        args.realtime |= !args.max_speed;
    }
    sinks.attach(&mut machine);
    // Sinks and a window's panel are fed between slices of the run.
    let capture = sinks.wants_video() || sinks.wants_audio() || sinks.panel.is_some();
    let input = (!args.no_input && args.replay.is_none()).then(stdin_reader);
    let mut input_open = input.is_some();
    let interactive = std::io::stdin().is_terminal();
    let started = Instant::now();
    let mut stdout = std::io::stdout().lock();
    // Real-time pacing runs in short slices so the clock can be checked.
    let slice = ns_to_ticks(10_000_000, clock_hz);

    // With --gdb, the server runs the machine as gdb says (see gdb.rs).
    let mut gdb = args
        .gdb
        .as_deref()
        .map(|spec| crate::gdb::Server::listen(spec, args.gdb_wait))
        .transpose()?;
    let console_input = input.as_ref().map(|rx| (rx, args.console.as_str()));
    // Virtual time an unattached gdb server runs between looks for a
    // connection (adapted to the guest's pace, below).
    let gdb_slice_min = ns_to_ticks(1_000_000, clock_hz).max(1);
    let gdb_slice_max = ns_to_ticks(1_000_000_000, clock_hz).max(1);
    let mut gdb_slice = slice.max(1);
    let code = loop {
        // Typed input enters as it comes; piped input only when the guest
        // is idle (below), so that a piped run is reproducible.
        if let Some(rx) = input.as_ref().filter(|_| interactive) {
            while let Ok(msg) = rx.try_recv() {
                match msg {
                    Some(bytes) => {
                        machine.push_input(&args.console, &bytes);
                        sinks.record_uart(&machine, &bytes)?;
                    }
                    None => input_open = false,
                }
            }
        }
        let mut until = if args.realtime || capture {
            limit.min(machine.now() + slice)
        } else {
            limit
        };
        // An unattached gdb server looks for a connection between slices.
        let unattached = gdb.as_ref().is_some_and(|s| !s.attached());
        if unattached {
            until = until.min(machine.now().saturating_add(gdb_slice));
        }
        if let Some(t) = sinks.next_stop() {
            until = until.min(t.max(machine.now()));
        }
        if let Some((t, _)) = snapshots.first() {
            until = until.min((*t).max(machine.now()));
        }
        let slice_started = Instant::now();
        let stop = match gdb.as_mut() {
            None => machine.run(until),
            Some(server) => match server.run(&mut machine, until, console_input) {
                Some(stop) => stop,
                // gdb killed the guest: the run ends as if it slept for good.
                None => {
                    break if watch.expect.is_empty() {
                        EXIT_OK
                    } else {
                        EXIT_UNMET
                    }
                }
            },
        };
        if unattached && matches!(stop, StopReason::TimeLimit) && machine.now() >= until {
            // Slices that take little wall time (an idle guest) grow, so
            // that looking for gdb costs nothing noticeable; slow ones
            // shrink, so that a connection is noticed soon.
            let took = slice_started.elapsed();
            if took < GDB_SLICE_WALL / 8 {
                gdb_slice = gdb_slice.saturating_mul(2).min(gdb_slice_max);
            } else if took > GDB_SLICE_WALL {
                gdb_slice = (gdb_slice / 2).max(gdb_slice_min);
            }
        }
        let speed =
            ticks_to_secs(machine.now(), clock_hz) / started.elapsed().as_secs_f64().max(1e-9);
        sinks.after_step(&mut machine, speed)?;
        while snapshots.first().is_some_and(|(t, _)| *t <= machine.now()) {
            let (_, file) = snapshots.remove(0);
            let data = machine
                .save_snapshot()
                .map_err(|e| anyhow!("--snapshot-at: {e}"))?;
            std::fs::write(&file, data)
                .with_context(|| format!("--snapshot-at: writing {file}"))?;
        }
        if sinks.closed {
            eprintln!(
                "\nensemble: window closed at t={:.6}s",
                ticks_to_secs(machine.now(), clock_hz)
            );
            break EXIT_OK;
        }
        let console = machine.take_output(&args.console);
        let mut others: Vec<(String, Vec<u8>)> = Vec::new();
        for name in logs.iter().map(|(n, _)| n.clone()) {
            if name != args.console {
                others.push((name.clone(), machine.take_output(&name)));
            }
        }
        for (name, file) in &mut logs {
            let bytes = if *name == args.console {
                &console
            } else {
                &others
                    .iter()
                    .find(|(n, _)| n == name)
                    .expect("taken above")
                    .1
            };
            file.write_all(bytes).context("writing UART log")?;
        }
        if !console.is_empty() {
            // Show the output up to the point that decided the run, if any.
            let (verdict, shown) = watch.feed(&console);
            stdout.write_all(&console[..shown])?;
            stdout.flush()?;
            match verdict {
                Verdict::Passed => break EXIT_OK,
                Verdict::Failed(why) => {
                    eprintln!("\nensemble: {why}");
                    break EXIT_UNMET;
                }
                Verdict::Pending => {}
            }
        }
        if args.realtime {
            let virt = Duration::from_secs_f64(ticks_to_secs(machine.now(), clock_hz));
            if let Some(ahead) = virt.checked_sub(started.elapsed()) {
                std::thread::sleep(ahead);
            }
        }
        let t = ticks_to_secs(machine.now(), clock_hz);
        match stop {
            // Breakpoints and steps are the gdb server's business (gdb.rs).
            StopReason::Output
            | StopReason::Breakpoint { .. }
            | StopReason::Watchpoint { .. }
            | StopReason::Stepped { .. } => {}
            StopReason::TimeLimit if machine.now() < limit => {}
            StopReason::PoweredOff => {
                eprintln!(
                    "\nensemble: the guest powered the machine off at t={t:.6}s{}",
                    unmet_note(&watch)
                );
                break if watch.unmet().is_empty() {
                    EXIT_OK
                } else {
                    EXIT_UNMET
                };
            }
            StopReason::TimeLimit => {
                eprintln!(
                    "\nensemble: time limit reached at t={t:.6}s{}",
                    unmet_note(&watch)
                );
                break EXIT_UNMET;
            }
            StopReason::Asleep { pc } => {
                // Recorded input, or a person at the window, can still
                // wake it: let its time pass meanwhile.
                if let Some(&(at, _)) = sinks.replay.front() {
                    machine.idle_until(at.min(limit));
                    continue;
                }
                if sinks.panel.is_some() {
                    machine.idle_until((machine.now() + slice).min(limit));
                    continue;
                }
                // Input can still wake a guest waiting for its UART.
                if input_open {
                    if let Some(rx) = &input {
                        match rx.recv() {
                            Ok(Some(bytes)) => {
                                machine.push_input(&args.console, &bytes);
                                sinks.record_uart(&machine, &bytes)?;
                                continue;
                            }
                            _ => {}
                        }
                    }
                }
                eprintln!(
                    "\nensemble: guest is asleep with no wake-up source at t={t:.6}s (pc=0x{pc:08x}{}){}",
                    symbol_note(&machine, pc),
                    unmet_note(&watch)
                );
                break if watch.expect.is_empty() {
                    EXIT_OK
                } else {
                    EXIT_UNMET
                };
            }
            StopReason::Crashed(info) => {
                report_crash(&machine, &info, &watch);
                break EXIT_CRASHED;
            }
        }
    };
    if let Some(server) = gdb.as_mut() {
        server.finish(code);
    }
    sinks.finish(&mut machine)?;
    if args.stats {
        let busy = machine.now() - machine.idle_ticks().min(machine.now());
        eprintln!(
            "ensemble: virtual time {:.6}s ({} ticks, {:.1}% busy), wall time {:.3}s",
            ticks_to_secs(machine.now(), clock_hz),
            machine.now(),
            100.0 * busy as f64 / machine.now().max(1) as f64,
            started.elapsed().as_secs_f64()
        );
        if let Some(s) = machine.a64_stats() {
            eprintln!(
                "ensemble: exceptions {} (page faults {}, system calls {}), IRQs raised {}, WFI sleeps {}, GIC accesses {}, timer accesses {}, code flushes {}",
                s.exceptions, s.page_faults, s.syscalls, s.irqs_raised, s.wfi, s.gic_accesses, s.timer_accesses, s.code_flushes
            );
        }
    }
    Ok(code)
}

/// The headless sinks and sources the options ask for.
fn build_sinks(args: &RunArgs, machine: &mut Machine, clock_hz: u64) -> Result<Sinks> {
    let mut sinks = Sinks::default();
    sinks.console = args.console.clone();
    if let Some(f) = &args.record {
        sinks.recorder = Some(Recorder::create(std::path::Path::new(f))?);
    }
    if let Some(f) = &args.replay {
        sinks.replay = crate::frontend::record::load(std::path::Path::new(f))?;
    }
    if args.at.len() > args.screenshot.len() {
        return Err(anyhow!("--at without a --screenshot for it"));
    }
    for (i, file) in args.screenshot.iter().enumerate() {
        let t = match args.at.get(i) {
            Some(s) => ns_to_ticks(
                parse_duration_ns(s)
                    .ok_or_else(|| anyhow!("--at '{s}': expected a duration like 2s or 500ms"))?,
                clock_hz,
            ),
            None => u64::MAX,
        };
        sinks.screenshots.push((t, file.into()));
    }
    sinks.screenshots.sort_by_key(|(t, _)| *t);
    if !args.screenshot.is_empty() && machine.devices_of_kind("display").is_empty() {
        return Err(anyhow!(
            "--screenshot: board '{}' has no display",
            machine.board.name
        ));
    }
    if let Some(dir) = &args.frames_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("--frames-dir {dir}"))?;
        sinks.frames_dir = Some((dir.into(), args.frame_every.max(1)));
    }
    if let Some(f) = &args.audio_out {
        if machine.devices_of_kind("audio-out").is_empty() {
            return Err(anyhow!(
                "--audio-out: board '{}' has no sound output",
                machine.board.name
            ));
        }
        sinks.wav = Some(WavSink::create(std::path::Path::new(f))?);
    }
    if let Some(spec) = &args.audio_in {
        let src = parse_audio_source(spec).with_context(|| "--audio-in".to_string())?;
        if !machine.set_audio_source(src) {
            return Err(anyhow!(
                "--audio-in: board '{}' has no sound input",
                machine.board.name
            ));
        }
    }
    for spec in &args.sensor {
        let (name, source) = spec
            .split_once('=')
            .ok_or_else(|| anyhow!("--sensor '{spec}': expected NAME=SOURCE"))?;
        let src = parse_sensor_source(source, std::path::Path::new("."))
            .with_context(|| format!("--sensor {name}"))?;
        if !machine.set_sensor(name, src) {
            return Err(anyhow!(
                "--sensor '{name}': board '{}' has no such sensor (it has {})",
                machine.board.name,
                machine.sensor_channels().join(", ")
            ));
        }
    }
    Ok(sinks)
}

/// The categories of `--trace` options.
pub fn trace_kinds(args: &[String]) -> Result<Vec<TraceKind>> {
    args.iter()
        .map(|k| {
            TraceKind::parse(k)
                .ok_or_else(|| anyhow!("--trace '{k}': unknown category ({})", TraceKind::NAMES))
        })
        .collect()
}

/// The categories of a scenario's `--trace` (network only: its machines'
/// traces would interleave by thread).
pub fn scenario_trace(args: &[String], file: Option<&str>) -> Result<Option<TraceTo>> {
    let kinds = trace_kinds(args)?;
    if let Some(k) = kinds.iter().find(|k| **k != TraceKind::Network) {
        return Err(anyhow!(
            "--trace: a scenario traces its networks only (network), not {k:?}; trace one device with ensemble run"
        ));
    }
    Ok((!kinds.is_empty()).then(|| match file {
        Some(f) => TraceTo::File(f.into()),
        None => TraceTo::Stderr,
    }))
}

/// The recent events of a crash report (`CrashInfo::recent`).
pub fn recent_lines(info: &CrashInfo) -> Vec<String> {
    if info.recent.is_empty() {
        return Vec::new();
    }
    let mut v = vec![format!("last {} trace events:", info.recent.len())];
    v.extend(info.recent.iter().map(|l| format!("| {l}")));
    v
}

fn unmet_note(watch: &Watch) -> String {
    let unmet = watch.unmet();
    if unmet.is_empty() {
        String::new()
    } else {
        format!("; --expect not met: {}", unmet.join(", "))
    }
}

fn symbol_note(machine: &Machine, pc: u32) -> String {
    machine
        .image()
        .symbolize(pc as u64)
        .map(|s| format!(" in {s}"))
        .unwrap_or_default()
}

fn report_crash(machine: &Machine, info: &CrashInfo, watch: &Watch) {
    let t = ticks_to_secs(info.time, machine.clock_hz());
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "\nensemble: guest crashed at t={t:.6}s: {}", info.reason);
    if let Some(detail) = &info.detail {
        let _ = writeln!(e, "  {detail}");
    } else {
        if let Some(fpc) = info.fault_pc {
            let _ = writeln!(e, "  faulting pc=0x{fpc:08x}{}", symbol_note(machine, fpc));
        }
        let _ = writeln!(
            e,
            "  pc=0x{:08x}{} lr=0x{:08x} xpsr=0x{:08x}",
            info.pc,
            symbol_note(machine, info.pc),
            info.lr,
            info.xpsr
        );
        let _ = writeln!(
            e,
            "  CFSR=0x{:08x} HFSR=0x{:08x} BFAR=0x{:08x} MMFAR=0x{:08x}",
            info.cfsr, info.hfsr, info.bfar, info.mmfar
        );
    }
    for l in recent_lines(info) {
        let _ = writeln!(e, "  {l}");
    }
    let lines = watch.last_lines();
    if lines.is_empty() {
        let _ = writeln!(e, "  (no UART output)");
    } else {
        let _ = writeln!(e, "  last UART lines:");
        for l in lines {
            let _ = writeln!(e, "  | {l}");
        }
    }
}

/// Animations lag this far behind the run, so that radio frames (told at
/// the first quantum after they end on air) are in before their time is
/// drawn.
const ANIMATION_LAG_NS: u64 = 50_000_000;
/// Device screens wider than this are shrunk in their animations.
const SCREEN_GIF_MAX_WIDTH: u32 = 320;
/// The live network view is redrawn at most this often (host time).
const LIVE_NET_INTERVAL: Duration = Duration::from_millis(40);

/// A scenario's animations in the artifacts folder: network.gif and a
/// <device>.gif per device that shows something, with a frame every
/// `interval_ns` of virtual time.
struct Animations {
    dir: std::path::PathBuf,
    interval_ns: u64,
    /// The next frame's virtual time.
    next_ns: u64,
    network: Option<AnimationWriter>,
    screens: Vec<ScreenAnimation>,
}

#[derive(Default)]
struct ScreenAnimation {
    writer: Option<AnimationWriter>,
    /// Frames shown by the end of a quantum (its time), not yet sampled.
    queue: VecDeque<(u64, ensemble_devices::VideoFrame)>,
    current: Option<ensemble_devices::VideoFrame>,
}

impl Animations {
    /// Writes the frames due up to `upto_ns`.
    fn sample(&mut self, view: &mut NetView, names: &[String], upto_ns: u64) -> Result<()> {
        while self.next_ns <= upto_ns {
            let t = self.next_ns;
            if let Some(w) = self.network.as_mut() {
                w.push(&view.render(t), t)?;
            }
            for (i, s) in self.screens.iter_mut().enumerate() {
                while s.queue.front().is_some_and(|(at, _)| *at <= t) {
                    s.current = s.queue.pop_front().map(|(_, f)| f);
                }
                let Some(f) = &s.current else { continue };
                if s.writer.is_none() {
                    let file = if names[i] == "network" {
                        "network.screen.gif".to_string()
                    } else {
                        format!("{}.gif", names[i])
                    };
                    let mut w = AnimationWriter::for_screen(
                        &self.dir.join(file),
                        f.width,
                        f.height,
                        SCREEN_GIF_MAX_WIDTH,
                    )?;
                    if t > 0 {
                        // Dark until the screen first showed something.
                        let blank = ensemble_devices::VideoFrame {
                            time: 0,
                            seq: 0,
                            width: f.width,
                            height: f.height,
                            pixels: vec![0; (f.width * f.height) as usize],
                        };
                        w.push(&blank, 0)?;
                    }
                    s.writer = Some(w);
                }
                s.writer.as_mut().expect("created").push(f, t)?;
            }
            self.next_ns += self.interval_ns;
        }
        view.forget_before(self.next_ns.saturating_sub(self.interval_ns));
        Ok(())
    }

    fn finish(mut self, view: &mut NetView, names: &[String], end_ns: u64) -> Result<()> {
        self.sample(view, names, end_ns)?;
        let end = end_ns.max(self.next_ns);
        if let Some(w) = self.network.take() {
            w.finish(end)?;
        }
        for s in self.screens {
            if let Some(w) = s.writer {
                w.finish(end)?;
            }
        }
        Ok(())
    }
}

/// Watches a scenario for the command line: prints consoles as
/// `[device] line`, and with windows, updates their panels and passes
/// their inputs on; draws the network view into its window and, with
/// artifacts, into network.png and the animations.
struct ScenarioView {
    names: Vec<String>,
    width: usize,
    partial: Vec<Vec<u8>>,
    quiet: bool,
    panels: Vec<Arc<Mutex<Panel>>>,
    inputs: Option<mpsc::Receiver<(usize, UserInput)>>,
    open: Vec<bool>,
    sound: Option<crate::frontend::sound::SoundOutput>,
    started: Instant,
    stop: Option<Arc<AtomicBool>>,
    /// Virtual time at the last quantum's end.
    now: u64,
    /// The network view (with artifacts or windows).
    want_netview: bool,
    netview: Option<NetView>,
    net_panel: Option<Arc<Mutex<Panel>>>,
    last_net_draw: Option<Instant>,
    artifacts: Option<std::path::PathBuf>,
    /// Frame interval of the animations (None: no animations).
    animation_interval_ns: Option<u64>,
    animations: Option<Animations>,
    /// Something went wrong writing the animations: the error, told once
    /// the run ends.
    animation_error: Option<anyhow::Error>,
}

impl ScenarioView {
    fn speed(&self, now_ns: u64) -> f64 {
        now_ns as f64 / 1e9 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    /// Redraws the network window (at most every LIVE_NET_INTERVAL unless
    /// `force`).
    fn draw_live(&mut self, now_ns: u64, force: bool) {
        let (Some(panel), Some(view)) = (&self.net_panel, &self.netview) else {
            return;
        };
        if !force
            && self
                .last_net_draw
                .is_some_and(|t| t.elapsed() < LIVE_NET_INTERVAL)
        {
            return;
        }
        self.last_net_draw = Some(Instant::now());
        let frame = view.render_with_speed(now_ns, Some(self.speed(now_ns)));
        // Device d's window is window d + 1 (the network view's is 0).
        let links = view
            .device_boxes(now_ns)
            .into_iter()
            .map(|(r, d)| (r, d + 1))
            .collect();
        let mut p = panel.lock().expect("panel lock");
        p.frame = Some(frame);
        p.focus_links = links;
    }

    /// The end of the run: the last frames of the animations, network.png.
    fn finish(&mut self, end_ns: u64) -> Result<()> {
        self.draw_live(end_ns, true);
        if let Some(e) = self.animation_error.take() {
            return Err(e.context("writing the animations"));
        }
        let Some(view) = self.netview.as_mut() else {
            return Ok(());
        };
        if let Some(a) = self.animations.take() {
            a.finish(view, &self.names, end_ns)
                .context("writing the animations")?;
        }
        if let Some(dir) = &self.artifacts {
            let p = dir.join("network.png");
            crate::frontend::headless::write_png(&p, &view.render(end_ns))
                .with_context(|| format!("writing {}", p.display()))?;
        }
        Ok(())
    }
}

impl crate::world::Observer for ScenarioView {
    fn console(&mut self, dev: usize, bytes: &[u8]) {
        if self.quiet {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        for &b in bytes {
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.partial[dev])
                    .trim_end_matches('\r')
                    .to_string();
                let _ = writeln!(stdout, "[{:>w$}] {line}", self.names[dev], w = self.width);
                self.partial[dev].clear();
            } else {
                self.partial[dev].push(b);
            }
        }
        let _ = stdout.flush();
    }

    fn progress(&mut self, now_ns: u64) {
        self.now = now_ns;
        let speed = self.speed(now_ns);
        for p in self.panels.iter().chain(&self.net_panel) {
            p.lock().expect("panel lock").status =
                format!("t {:.3} s  {speed:.2}x", now_ns as f64 / 1e9);
        }
        if let (Some(a), Some(view)) = (self.animations.as_mut(), self.netview.as_mut()) {
            if let Err(e) = a.sample(view, &self.names, now_ns.saturating_sub(ANIMATION_LAG_NS)) {
                self.animation_error = Some(e);
                self.animations = None;
            }
        } else if let Some(view) = self.netview.as_mut() {
            view.forget_before(now_ns.saturating_sub(ANIMATION_LAG_NS));
        }
        self.draw_live(now_ns, false);
    }

    fn screen(&mut self, dev: usize, frame: &ensemble_devices::VideoFrame) {
        if let Some(p) = self.panels.get(dev) {
            p.lock().expect("panel lock").frame = Some(frame.clone());
        }
        if let Some(s) = self
            .animations
            .as_mut()
            .and_then(|a| a.screens.get_mut(dev))
        {
            s.queue.push_back((self.now, frame.clone()));
        }
    }

    fn topology(&mut self, topology: &crate::world::Topology) {
        if !self.want_netview {
            return;
        }
        let (w, h) = crate::frontend::netview::DEFAULT_SIZE;
        self.netview = Some(NetView::new(topology, w, h));
        if let (Some(dir), Some(interval_ns)) = (&self.artifacts, self.animation_interval_ns) {
            let network = AnimationWriter::create(
                &dir.join("network.gif"),
                w,
                h,
                Palette::with_colours(&crate::frontend::netview::palette()),
            );
            match network {
                Ok(n) => {
                    self.animations = Some(Animations {
                        dir: dir.clone(),
                        interval_ns,
                        next_ns: 0,
                        network: Some(n),
                        screens: (0..topology.devices.len())
                            .map(|_| ScreenAnimation::default())
                            .collect(),
                    })
                }
                Err(e) => self.animation_error = Some(e),
            }
        }
    }

    fn moved(&mut self, dev: usize, position: [f64; 3], now_ns: u64) {
        if let Some(v) = self.netview.as_mut() {
            v.moved(dev, position, now_ns);
        }
    }

    fn link(&mut self, net: usize, dev: usize, up: bool, now_ns: u64) {
        if let Some(v) = self.netview.as_mut() {
            v.link(net, dev, up, now_ns);
        }
    }

    fn partition(&mut self, net: usize, groups: &[Vec<usize>], now_ns: u64) {
        if let Some(v) = self.netview.as_mut() {
            v.partition(net, groups, now_ns);
        }
    }

    fn packet(&mut self, packet: &crate::world::PacketEvent) {
        if let Some(v) = self.netview.as_mut() {
            v.packet(packet);
        }
    }

    fn audio(&mut self, dev: usize, chunk: &ensemble_devices::AudioChunk) {
        if let Some(s) = &self.sound {
            s.push(dev, chunk);
        }
    }

    fn leds(&mut self, dev: usize, leds: &[bool]) {
        if let Some(p) = self.panels.get(dev) {
            let mut p = p.lock().expect("panel lock");
            if p.leds != leds {
                p.leds = leds.to_vec();
            }
        }
    }

    fn inputs(&mut self) -> Vec<(usize, crate::fleet::Inbound)> {
        use crate::fleet::Inbound;
        let Some(rx) = &self.inputs else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (panel, input) in rx.try_iter() {
            // Window 0 is the network view's, when there is one: not a
            // device.
            let offset = self.net_panel.is_some() as usize;
            let Some(dev) = panel.checked_sub(offset).filter(|d| *d < self.names.len()) else {
                continue;
            };
            out.push((
                dev,
                match input {
                    UserInput::Button { index, pressed } => Inbound::Button { index, pressed },
                    UserInput::Touch { x, y, pressed } => Inbound::Touch { x, y, pressed },
                    UserInput::Sensor { channel, value } => Inbound::Sensor {
                        channel,
                        source: ensemble_devices::SensorSource::Constant(value),
                    },
                    UserInput::Close => {
                        self.open[dev] = false;
                        Inbound::PowerOff
                    }
                },
            ));
        }
        out
    }

    /// What the windows and the network view show of an input that
    /// entered (from a window, or replayed).
    fn external(&mut self, dev: usize, input: &crate::fleet::Inbound, now_ns: u64) {
        use crate::fleet::Inbound;
        match input {
            Inbound::Sensor {
                channel,
                source: ensemble_devices::SensorSource::Constant(value),
            } => {
                if let Some(p) = self.panels.get(dev) {
                    let mut p = p.lock().expect("panel lock");
                    if let Some(s) = p.sensors.iter_mut().find(|(c, _)| c == channel) {
                        s.1 = *value;
                    }
                }
            }
            Inbound::PowerOff => {
                if let Some(v) = self.netview.as_mut() {
                    v.power(dev, false, now_ns);
                }
            }
            _ => {}
        }
    }

    fn wants_stop(&mut self) -> bool {
        self.inputs.is_some() && !self.open.iter().any(|o| *o)
    }
}

fn scenario(args: ScenarioArgs) -> Result<i32> {
    use crate::world;
    let file = match &args.file {
        Some(f) => f.clone(),
        None => default_scenario()?,
    };
    let scn = crate::scenario::Scenario::load(std::path::Path::new(&file))?;
    let external = scenario_external(&args, &file, &scn)?;
    let replaying = matches!(external, world::External::Replay(_));
    let time_limit_ns =
        match &args.time_limit {
            Some(s) => Some(parse_duration_ns(s).ok_or_else(|| {
                anyhow!("--time-limit '{s}': expected a duration like 10s or 500ms")
            })? as u64),
            None => None,
        };
    let snapshot_file = args.snapshot_at.get(1).cloned();
    let opts = world::Options {
        threads: args.threads.max(1),
        time_limit_ns,
        artifacts: args.artifacts.as_ref().map(std::path::PathBuf::from),
        pcap_dir: args.pcap.as_ref().map(std::path::PathBuf::from),
        realtime: args.realtime,
        trace_network: scenario_trace(&args.trace, args.trace_file.as_deref())?,
        snapshot_at: match args.snapshot_at.as_slice() {
            [t, file] => Some((
                parse_duration_ns(t)
                    .ok_or_else(|| anyhow!("--snapshot-at '{t}': expected a duration like 2s"))?
                    as u64,
                file.into(),
            )),
            _ => None,
        },
        restore: args.restore.as_ref().map(std::path::PathBuf::from),
        gdb: scenario_gdb(&args)?,
    };
    let animation_interval_ns = match parse_duration_ns(&args.gif_interval) {
        Some(ns) if ns >= 10_000_000 => Some(ns as u64),
        _ => {
            return Err(anyhow!(
                "--gif-interval '{}': expected a duration of at least 10ms, like 100ms",
                args.gif_interval
            ))
        }
    };
    let windowed = !args.headless && window::display_available();
    let names: Vec<String> = scn.devices.iter().map(|d| d.name.clone()).collect();
    let mut view = ScenarioView {
        width: names.iter().map(|n| n.len()).max().unwrap_or(0),
        partial: vec![Vec::new(); names.len()],
        names,
        quiet: args.quiet,
        panels: Vec::new(),
        inputs: None,
        open: vec![true; scn.devices.len()],
        sound: None,
        started: Instant::now(),
        stop: None,
        now: 0,
        want_netview: windowed || args.artifacts.is_some(),
        netview: None,
        net_panel: None,
        last_net_draw: None,
        artifacts: opts.artifacts.clone(),
        animation_interval_ns: animation_interval_ns.filter(|_| !args.no_animation),
        animations: None,
        animation_error: None,
    };
    let report = if windowed {
        let mut panels = Vec::new();
        for d in &scn.devices {
            let board = Board::load(&d.board).with_context(|| format!("device '{}'", d.name))?;
            panels.push(Arc::new(Mutex::new(sinks::panel_for_board(
                &d.name, &board,
            ))));
        }
        let (input_tx, input_rx) = mpsc::channel();
        let stop = sinks::stop_flag();
        view.panels = panels.clone();
        // The network view: one more window, first (top left), so the
        // devices' windows are panels 1.. of the window system.
        let (w, h) = crate::frontend::netview::DEFAULT_SIZE;
        let net_panel = Arc::new(Mutex::new(Panel {
            name: "network".into(),
            screen_size: Some((w, h)),
            ..Panel::default()
        }));
        view.net_panel = Some(net_panel.clone());
        panels.insert(0, net_panel);
        view.inputs = Some(input_rx);
        view.stop = Some(stop.clone());
        if !args.mute {
            view.sound = crate::frontend::sound::SoundOutput::open();
        }
        let mut opts = opts;
        opts.realtime |= !args.max_speed;
        let runner = std::thread::Builder::new()
            .name("ensemble-scenario".into())
            .spawn(move || {
                let r = world::run_external(&scn, &opts, &mut view, external).and_then(|r| {
                    view.finish(r.time_ns)?;
                    Ok(r)
                });
                if let Some(stop) = &view.stop {
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                r.map(|r| (r, scn))
            })
            .context("starting the scenario thread")?;
        if let Err(e) = window::run_windows(panels, input_tx, stop) {
            eprintln!("note: no window ({e}); continuing headless");
        }
        let (report, scn2) = runner
            .join()
            .map_err(|_| anyhow!("the scenario thread panicked"))??;
        return Ok(scenario_verdict(
            &file,
            &scn2,
            report,
            snapshot_file.as_deref(),
            replaying,
        ));
    } else {
        let report = world::run_external(&scn, &opts, &mut view, external)?;
        view.finish(report.time_ns)?;
        report
    };
    Ok(scenario_verdict(
        &file,
        &scn,
        report,
        snapshot_file.as_deref(),
        replaying,
    ))
}

/// The GDB servers `--gdb` and `--gdb-wait` ask for.
fn scenario_gdb(args: &ScenarioArgs) -> Result<Option<crate::world::GdbOptions>> {
    let spec = match (&args.gdb, args.gdb_wait.is_empty()) {
        (Some(spec), _) => spec.as_str(),
        (None, false) => "3333",
        (None, true) => return Ok(None),
    };
    Ok(Some(crate::world::GdbOptions {
        base: crate::gdb::parse_address(spec, "--gdb")?,
        wait: args.gdb_wait.clone(),
    }))
}

/// Where a scenario's inputs from outside come from, as --record and
/// --replay say.
fn scenario_external(
    args: &ScenarioArgs,
    file: &str,
    scn: &crate::scenario::Scenario,
) -> Result<crate::world::External> {
    use crate::frontend::record::{load_scenario, ScenarioRecorder, ScenarioStamp};
    use crate::world::External;
    if args.record.is_some() && args.replay.is_some() {
        return Err(anyhow!(
            "--record and --replay cannot be used together (replay a recording, or make one)"
        ));
    }
    if args.restore.is_some() && (args.record.is_some() || args.replay.is_some()) {
        return Err(anyhow!(
            "--record and --replay start from virtual time 0: they cannot be combined with --restore"
        ));
    }
    if args.record.is_none() && args.replay.is_none() {
        return Ok(External::Live);
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    let stamp = ScenarioStamp::of(&bytes, scn);
    Ok(match (&args.record, &args.replay) {
        (Some(f), _) => {
            External::Record(ScenarioRecorder::create(std::path::Path::new(f), &stamp)?)
        }
        (_, Some(f)) => External::Replay(load_scenario(std::path::Path::new(f), &stamp)?),
        (None, None) => External::Live,
    })
}

/// The showcase scenario: images/scenarios/home.toml under the current
/// directory, else in the checkout this binary was built from.
fn default_scenario() -> Result<String> {
    let rel = std::path::Path::new("images/scenarios/home.toml");
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    for p in [rel.to_path_buf(), built] {
        if p.exists() {
            return Ok(p.display().to_string());
        }
    }
    Err(anyhow!(
        "no scenario file given and the default images/scenarios/home.toml was not found (run from the Ensemble checkout)"
    ))
}

/// Tell how a scenario ended (and whether the snapshot asked for, to
/// `snapshot`, was taken); the exit code.
fn scenario_verdict(
    file: &str,
    scn: &crate::scenario::Scenario,
    report: crate::world::Report,
    snapshot: Option<&str>,
    replaying: bool,
) -> i32 {
    use crate::world::Ending;
    let t = report.time_ns as f64 / 1e9;
    if report.replay_left > 0 {
        eprintln!(
            "ensemble: note: the run ended at t={t:.6}s with {} recorded input{} not replayed",
            report.replay_left,
            if report.replay_left == 1 { "" } else { "s" }
        );
    }
    match (snapshot, report.snapshot_ns) {
        (Some(f), Some(ns)) => {
            eprintln!(
                "ensemble: scenario saved to {f} at t={:.6}s",
                ns as f64 / 1e9
            )
        }
        (Some(f), None) => eprintln!(
            "ensemble: warning: the run ended at t={t:.6}s, before --snapshot-at: {f} not written"
        ),
        _ => {}
    }
    let stats = format!(
        "{} frames sent, {} dropped",
        report.frames_sent, report.frames_dropped
    );
    match report.ending {
        Ending::Stopped => {
            eprintln!(
                "ensemble: scenario '{}' stopped at t={t:.6}s (windows closed{})",
                scn.name,
                if replaying {
                    " in the recording, or now"
                } else {
                    ""
                }
            );
            EXIT_OK
        }
        Ending::Passed => {
            eprintln!(
                "ensemble: scenario '{}' passed at t={t:.6}s ({stats})",
                scn.name
            );
            EXIT_OK
        }
        Ending::StepFailed {
            index,
            line,
            step,
            why,
        } => {
            eprintln!(
                "ensemble: step {}/{} at {file}:{line} failed at t={t:.6}s: {why}\n  step: {step}",
                index + 1,
                scn.steps.len()
            );
            EXIT_UNMET
        }
        Ending::TimeLimit { pending } => {
            match pending {
                Some((i, s)) => eprintln!(
                    "ensemble: time limit reached at t={t:.6}s with step {}/{} pending: {s}",
                    i + 1,
                    scn.steps.len()
                ),
                None => eprintln!("ensemble: time limit reached at t={t:.6}s ({stats})"),
            }
            EXIT_UNMET
        }
        Ending::Crashed {
            device,
            info,
            time_ns,
        } => {
            eprintln!(
                "ensemble: device '{device}' crashed at t={:.6}s: {}",
                time_ns as f64 / 1e9,
                info.reason
            );
            eprintln!(
                "  pc=0x{:08x} lr=0x{:08x} xpsr=0x{:08x} CFSR=0x{:08x} HFSR=0x{:08x} BFAR=0x{:08x}",
                info.pc, info.lr, info.xpsr, info.cfsr, info.hfsr, info.bfar
            );
            for l in recent_lines(&info) {
                eprintln!("  {l}");
            }
            EXIT_CRASHED
        }
    }
}
