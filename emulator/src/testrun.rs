//! `ensemble test`: scenario files run as tests, for CI.
//!
//! Every file is parsed (and its boards and images checked) before any
//! runs. Each test then runs in virtual time with its artifacts in
//! `DIR/<file stem>/`; a line is printed per step as it passes and one per
//! test with PASS or FAIL. A failed test keeps its artifacts and gets a
//! `failure.txt` explaining it; a passed one's are removed. With `--junit`
//! the results are also written as JUnit XML, which CI systems show.
//!
//! The worlds are deterministic, so a test's result and its logs do not
//! depend on `-j` or on the number of worker threads.

use std::io::{IsTerminal, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::board::Board;
use crate::cli::{EXIT_BAD_INPUT, EXIT_OK, EXIT_UNMET};
use crate::loader::Image;
use crate::scenario::Scenario;
use crate::time::parse_duration_ns;
use crate::trace::TraceTo;
use crate::world::{self, Ending, Observer};

/// Virtual time a test may take when neither it nor the command line sets
/// a limit, so that a stuck test still ends.
pub const DEFAULT_TIME_LIMIT_NS: u64 = 60_000_000_000;
/// Console lines per device in failure.txt, and in JUnit's system-out.
const FAILURE_LINES: usize = 20;
const JUNIT_LINES: usize = 200;
/// Step texts longer than this are cut short on progress lines.
const STEP_TEXT_MAX: usize = 120;
/// Runs shorter than this (wall time) never show a progress bar.
const BAR_DELAY: Duration = Duration::from_secs(1);
/// The network trace's file in a test's artifacts.
const NETWORK_TRACE: &str = "network.trace.txt";

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Test files: scenarios (TOML) whose steps are the checks.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<String>,
    /// Each test's UART logs, pcaps, screens and sound go to DIR/<file stem>/.
    #[arg(long, value_name = "DIR", default_value = "ensemble-artifacts")]
    pub artifacts: String,
    /// Keep the artifacts of passed tests too (failed ones are always kept).
    #[arg(long = "keep-artifacts")]
    pub keep_artifacts: bool,
    /// Run N test files at once (each then uses one worker thread; results
    /// do not depend on it).
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    /// Virtual time limit of every test (default: the file's time_limit,
    /// else 60s).
    #[arg(long = "time-limit", value_name = "DURATION")]
    pub time_limit: Option<String>,
    /// Do not print the devices' consoles (the default).
    #[arg(long, overrides_with = "verbose")]
    pub quiet: bool,
    /// Print the devices' consoles, as [test/device] line.
    #[arg(short = 'v', long, overrides_with = "quiet")]
    pub verbose: bool,
    /// Trace categories, written to each test's artifacts as
    /// network.trace.txt: network (every frame sent, delivered or dropped).
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    pub trace: Vec<String>,
}

/// A parsed test file.
struct Test {
    file: String,
    /// Its artifacts folder's name: the file stem, made unique.
    dir_name: String,
    /// The scenario's name, else the stem.
    label: String,
    scenario: Scenario,
}

/// What all runs share.
struct Ctx {
    artifacts: PathBuf,
    time_limit_ns: Option<u64>,
    threads: usize,
    keep: bool,
    verbose: bool,
    /// `--trace network`.
    trace_network: bool,
    /// One test at a time: print its lines as they come.
    live: bool,
    /// Live, and stderr is a terminal: long runs get a progress bar.
    bar: bool,
}

/// How a test ended, for reports.
enum Verdict {
    Passed,
    Failed {
        /// Index of the step it stopped at, if any.
        step: Option<usize>,
        /// One line: what was expected and what happened.
        why: String,
        /// Further detail (a crash's registers and last events).
        detail: Vec<String>,
        /// A crash (JUnit calls it an error) rather than a failed check:
        /// its virtual time.
        crash_ns: Option<u64>,
        kind: &'static str,
    },
    /// The test could not run (a board without the interface a network
    /// needs, an unwritable artifacts folder, ...).
    Error(String),
}

struct Outcome {
    index: usize,
    verdict: Verdict,
    time_ns: u64,
    wall: Duration,
    /// Each device's name and full console output.
    consoles: Vec<(String, Vec<u8>)>,
    /// The lines printed for this test (kept for -j > 1, else printed).
    block: Vec<String>,
    /// Where its artifacts were kept, if they were.
    kept: Option<PathBuf>,
}

pub fn run(args: TestArgs) -> Result<i32> {
    let started = Instant::now();
    let time_limit_ns =
        match &args.time_limit {
            Some(s) => Some(parse_duration_ns(s).filter(|&ns| ns > 0).ok_or_else(|| {
                anyhow!("--time-limit '{s}': expected a duration like 10s or 500ms")
            })? as u64),
            None => None,
        };
    if args.jobs == 0 {
        return Err(anyhow!("--jobs must be at least 1"));
    }

    // Everything is checked before anything runs.
    let mut tests: Vec<Test> = Vec::new();
    let mut bad = false;
    for file in &args.files {
        match load(file) {
            Ok(scenario) => {
                let stem = Path::new(file)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "test".into());
                let mut dir_name = stem.clone();
                let mut n = 1;
                while tests.iter().any(|t| t.dir_name == dir_name) {
                    n += 1;
                    dir_name = format!("{stem}-{n}");
                }
                let label = if scenario.name.is_empty() {
                    stem
                } else {
                    scenario.name.clone()
                };
                tests.push(Test {
                    file: file.clone(),
                    dir_name,
                    label,
                    scenario,
                });
            }
            Err(msg) => {
                eprintln!("ensemble: error: {msg}");
                bad = true;
            }
        }
    }
    if bad {
        return Ok(EXIT_BAD_INPUT);
    }

    let artifacts = PathBuf::from(&args.artifacts);
    let made_artifacts = !artifacts.exists();
    let jobs = args.jobs.min(tests.len()).max(1);
    let live = jobs == 1;
    let ctx = Ctx {
        artifacts: artifacts.clone(),
        time_limit_ns,
        threads: if args.jobs > 1 { 1 } else { machine_threads() },
        keep: args.keep_artifacts,
        verbose: args.verbose && !args.quiet,
        trace_network: crate::cli::scenario_trace(&args.trace, None)?.is_some(),
        live,
        bar: live && std::io::stderr().is_terminal(),
    };

    let mut outcomes: Vec<Option<Outcome>> = (0..tests.len()).map(|_| None).collect();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Outcome>();
    std::thread::scope(|s| -> Result<()> {
        for w in 0..jobs {
            let tx = tx.clone();
            let (next, tests, ctx) = (&next, &tests, &ctx);
            std::thread::Builder::new()
                .name(format!("ensemble-test-{w}"))
                .spawn_scoped(s, move || loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(t) = tests.get(i) else { break };
                    if tx.send(run_one(i, t, ctx)).is_err() {
                        break;
                    }
                })
                .context("starting a test thread")?;
        }
        drop(tx);
        for o in rx {
            if !live {
                print_lines(None, &o.block);
            }
            let i = o.index;
            outcomes[i] = Some(o);
        }
        Ok(())
    })?;
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|o| o.expect("every test reports"))
        .collect();
    let wall = started.elapsed();

    if let Some(path) = &args.junit {
        let xml = junit(&tests, &outcomes, wall);
        let path = Path::new(path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("--junit: creating {}", parent.display()))?;
        }
        std::fs::write(path, xml)
            .with_context(|| format!("--junit: writing {}", path.display()))?;
    }

    let passed = outcomes
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Passed))
        .count();
    let failed = outcomes.len() - passed;
    let mut summary = Vec::new();
    if failed > 0 {
        summary.push(String::new());
        summary.push("failed:".to_string());
        for (t, o) in tests.iter().zip(&outcomes) {
            if matches!(o.verdict, Verdict::Passed) {
                continue;
            }
            let at = o
                .kept
                .as_ref()
                .map(|p| format!("  artifacts: {}", p.display()))
                .unwrap_or_default();
            summary.push(format!("  {} ({}){at}", t.label, t.file));
        }
    }
    summary.push(format!(
        "{passed} passed, {failed} failed (of {}) in {:.2} s",
        outcomes.len(),
        wall.as_secs_f64()
    ));
    print_lines(None, &summary);
    if made_artifacts && failed == 0 && !args.keep_artifacts {
        // Only if empty: nothing of anyone else's goes.
        let _ = std::fs::remove_dir(&artifacts);
    }
    Ok(
        if outcomes
            .iter()
            .any(|o| matches!(o.verdict, Verdict::Error(_)))
        {
            EXIT_BAD_INPUT
        } else if failed > 0 {
            EXIT_UNMET
        } else {
            EXIT_OK
        },
    )
}

fn machine_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Parse a test file and check that its boards and images load, so that a
/// typo ends the whole run before anything starts. The error is one line.
fn load(file: &str) -> std::result::Result<Scenario, String> {
    let scenario = Scenario::load(Path::new(file)).map_err(|e| e.to_string())?;
    for d in &scenario.devices {
        let chain = |e: anyhow::Error| {
            let msg = e
                .chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": ");
            format!("{file}: device '{}': {msg}", d.name)
        };
        let mut board = Board::load(&d.board).map_err(|e| chain(e.into()))?;
        crate::boot::device_image(&mut board, &d.image, d.boot.as_ref()).map_err(chain)?;
    }
    Ok(scenario)
}

/// Print lines to stdout, around the progress bar if there is one. Errors
/// (a closed pipe) are ignored: the exit code still tells.
fn print_lines(bar: Option<&ProgressBar>, lines: &[String]) {
    let print = || {
        let mut out = std::io::stdout().lock();
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    };
    match bar {
        Some(b) => b.suspend(print),
        None => print(),
    }
}

/// Watches one test: step lines, consoles with --verbose, the progress bar.
struct TestObserver<'a> {
    test: &'a Test,
    ctx: &'a Ctx,
    block: Vec<String>,
    /// Steps passed so far (= the index of the pending one).
    passed: usize,
    partial: Vec<Vec<u8>>,
    started: Instant,
    limit_ns: u64,
    bar: Option<ProgressBar>,
    last_bar_update: Instant,
}

impl TestObserver<'_> {
    fn emit(&mut self, line: String) {
        if self.ctx.live {
            print_lines(self.bar.as_ref(), std::slice::from_ref(&line));
        } else {
            self.block.push(line);
        }
    }

    fn step_line(&self, word: &str, index: usize, now_ns: u64) -> String {
        let steps = &self.test.scenario.steps;
        let n = steps.len();
        format!(
            "  {word:<4} {:>w$}/{n} {}  t={:.3}s",
            index + 1,
            short(&steps[index].text),
            now_ns as f64 / 1e9,
            w = n.to_string().len()
        )
    }

    fn console_line(&mut self, dev: usize) {
        let line = String::from_utf8_lossy(&self.partial[dev])
            .trim_end_matches('\r')
            .to_string();
        self.partial[dev].clear();
        let name = &self.test.scenario.devices[dev].name;
        let text = format!("[{}/{name}] {line}", self.test.label);
        self.emit(text);
    }

    /// Print what is left of unfinished console lines, and remove the bar.
    fn finish(&mut self) {
        for dev in 0..self.partial.len() {
            if !self.partial[dev].is_empty() {
                self.console_line(dev);
            }
        }
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Observer for TestObserver<'_> {
    fn console(&mut self, dev: usize, bytes: &[u8]) {
        if !self.ctx.verbose {
            return;
        }
        for &b in bytes {
            if b == b'\n' {
                self.console_line(dev);
            } else {
                self.partial[dev].push(b);
            }
        }
    }

    fn step_passed(&mut self, index: usize, now_ns: u64) {
        self.passed = index + 1;
        let line = self.step_line("ok", index, now_ns);
        self.emit(line);
    }

    fn progress(&mut self, now_ns: u64) {
        if !self.ctx.bar {
            return;
        }
        let wall = Instant::now();
        let since_start = wall.duration_since(self.started);
        match &self.bar {
            None if since_start < BAR_DELAY => return,
            Some(_) if wall.duration_since(self.last_bar_update) < Duration::from_millis(100) => {
                return
            }
            _ => {}
        }
        self.last_bar_update = wall;
        let message = format!("{:.1}s/{}", now_ns as f64 / 1e9, secs(self.limit_ns));
        let position = now_ns / 1_000_000;
        match &self.bar {
            Some(bar) => {
                bar.set_message(message);
                bar.set_position(position);
            }
            None => {
                let style = ProgressStyle::with_template(
                    "  {spinner} {prefix} [{bar:40}] {msg} virtual, {elapsed} wall",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                let bar = ProgressBar::with_draw_target(
                    Some(self.limit_ns / 1_000_000),
                    ProgressDrawTarget::stderr(),
                )
                .with_style(style)
                .with_prefix(self.test.label.clone())
                .with_message(message)
                .with_position(position)
                .with_elapsed(since_start);
                self.bar = Some(bar);
            }
        }
    }
}

/// "60s", "1.5s".
fn secs(ns: u64) -> String {
    format!("{}s", ns as f64 / 1e9)
}

/// A step's text on one line, cut short if long.
fn short(text: &str) -> String {
    let one: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one = one.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > STEP_TEXT_MAX {
        let cut: String = one.chars().take(STEP_TEXT_MAX - 3).collect();
        format!("{cut}...")
    } else {
        one
    }
}

fn run_one(index: usize, test: &Test, ctx: &Ctx) -> Outcome {
    let scn = &test.scenario;
    let dir = ctx.artifacts.join(&test.dir_name);
    // Nothing stale from an earlier run may be mistaken for this one's.
    let _ = std::fs::remove_dir_all(&dir);
    let limit_ns = ctx
        .time_limit_ns
        .or(scn.time_limit_ns)
        .unwrap_or(DEFAULT_TIME_LIMIT_NS);
    let opts = world::Options {
        threads: ctx.threads,
        time_limit_ns: Some(limit_ns),
        artifacts: Some(dir.clone()),
        pcap_dir: None,
        realtime: false,
        trace_network: ctx
            .trace_network
            .then(|| TraceTo::File(dir.join(NETWORK_TRACE))),
        snapshot_at: None,
        restore: None,
        gdb: None,
    };
    let started = Instant::now();
    let mut obs = TestObserver {
        test,
        ctx,
        block: Vec::new(),
        passed: 0,
        partial: vec![Vec::new(); scn.devices.len()],
        started,
        limit_ns,
        bar: None,
        last_bar_update: started,
    };
    obs.emit(format!("test {} ({})", test.label, test.file));
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        world::run_observed(scn, &opts, &mut obs)
    }));
    let wall = started.elapsed();
    obs.finish();

    let names = scn.devices.iter().map(|d| d.name.clone());
    let (verdict, time_ns, consoles) = match result {
        Ok(Ok(report)) => {
            let verdict = judge(test, report.ending, obs.passed, limit_ns);
            (
                verdict,
                report.time_ns,
                names.zip(report.consoles).collect::<Vec<_>>(),
            )
        }
        Ok(Err(e)) => {
            let msg = e
                .chain()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(": ");
            (Verdict::Error(msg), 0, Vec::new())
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown cause".into());
            (
                Verdict::Error(format!("the emulator panicked: {msg}")),
                0,
                Vec::new(),
            )
        }
    };

    let t = time_ns as f64 / 1e9;
    let times = format!("virtual {t:.3}s  wall {:.2}s", wall.as_secs_f64());
    let mut kept = None;
    match &verdict {
        Verdict::Passed => {
            obs.emit(format!("PASS {}  {times}", test.label));
            if !ctx.keep {
                let _ = std::fs::remove_dir_all(&dir);
            } else {
                kept = Some(dir.clone());
            }
        }
        Verdict::Failed {
            step,
            why,
            detail,
            kind,
            ..
        } => {
            if let Some(i) = step {
                let word = match *kind {
                    "time-limit" => "TIME",
                    "crash" => "CRASH",
                    _ => "FAIL",
                };
                let line = format!(
                    "{}  ({}:{})",
                    obs.step_line(word, *i, time_ns),
                    test.file,
                    scn.steps[*i].line
                );
                obs.emit(line);
            }
            obs.emit(format!("       {why}"));
            for d in detail {
                obs.emit(format!("       {d}"));
            }
            obs.emit(format!("FAIL {}  {times}", test.label));
        }
        Verdict::Error(msg) => {
            obs.emit(format!("  error: {msg}"));
            obs.emit(format!("FAIL {}  {times}", test.label));
        }
    }
    if !matches!(verdict, Verdict::Passed) {
        match write_failure(test, &dir, &verdict, time_ns, wall, &consoles) {
            Ok(()) => {
                obs.emit(format!(
                    "     artifacts: {} (see failure.txt)",
                    dir.display()
                ));
                kept = Some(dir.clone());
            }
            Err(e) => obs.emit(format!("     could not write {}: {e:#}", dir.display())),
        }
    }
    Outcome {
        index,
        verdict,
        time_ns,
        wall,
        consoles,
        block: std::mem::take(&mut obs.block),
        kept,
    }
}

/// Turn a world's ending into a verdict. `passed` is how many steps passed
/// (the index of the one pending).
fn judge(test: &Test, ending: Ending, passed: usize, limit_ns: u64) -> Verdict {
    let steps = &test.scenario.steps;
    match ending {
        Ending::Passed => Verdict::Passed,
        Ending::StepFailed { index, why, .. } => Verdict::Failed {
            step: Some(index),
            why,
            detail: Vec::new(),
            crash_ns: None,
            kind: "step-failed",
        },
        Ending::TimeLimit { pending } => {
            let step = pending.map(|(i, _)| i);
            let why = match step {
                Some(_) => format!(
                    "time limit of {} (virtual) reached with this step pending",
                    secs(limit_ns)
                ),
                None => format!(
                    "time limit of {} (virtual) reached before every device went to sleep",
                    secs(limit_ns)
                ),
            };
            Verdict::Failed {
                step,
                why,
                detail: Vec::new(),
                crash_ns: None,
                kind: "time-limit",
            }
        }
        Ending::Crashed {
            device,
            info,
            time_ns,
        } => {
            let sym = |pc: u32| -> String {
                test.scenario
                    .devices
                    .iter()
                    .find(|d| d.name == device)
                    .and_then(|d| Image::load(&d.image.display().to_string()).ok())
                    .and_then(|img| img.symbolize(pc as u64))
                    .map(|s| format!(" in {s}"))
                    .unwrap_or_default()
            };
            let mut detail = Vec::new();
            if let Some(fpc) = info.fault_pc {
                detail.push(format!("faulting pc=0x{fpc:08x}{}", sym(fpc)));
            }
            detail.push(format!(
                "pc=0x{:08x}{} lr=0x{:08x} xpsr=0x{:08x}",
                info.pc,
                sym(info.pc),
                info.lr,
                info.xpsr
            ));
            detail.push(format!(
                "CFSR=0x{:08x} HFSR=0x{:08x} BFAR=0x{:08x} MMFAR=0x{:08x}",
                info.cfsr, info.hfsr, info.bfar, info.mmfar
            ));
            detail.extend(crate::cli::recent_lines(&info));
            Verdict::Failed {
                step: Some(passed).filter(|&i| i < steps.len()),
                why: format!(
                    "device '{device}' crashed at t={:.6}s: {}",
                    time_ns as f64 / 1e9,
                    info.reason
                ),
                detail,
                crash_ns: Some(time_ns),
                kind: "crash",
            }
        }
        Ending::Stopped => Verdict::Failed {
            step: Some(passed).filter(|&i| i < steps.len()),
            why: "the run was stopped".into(),
            detail: Vec::new(),
            crash_ns: None,
            kind: "stopped",
        },
    }
}

/// A console's last `n` lines, as text without control characters.
fn last_lines(bytes: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| printable(l)).collect()
}

/// Text without terminal escape sequences and control characters (tabs
/// kept).
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters... final byte in @..~
            if chars.peek() == Some(&'[') {
                chars.next();
                for f in chars.by_ref() {
                    if ('@'..='~').contains(&f) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

fn write_failure(
    test: &Test,
    dir: &Path,
    verdict: &Verdict,
    time_ns: u64,
    wall: Duration,
    consoles: &[(String, Vec<u8>)],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let scn = &test.scenario;
    let mut s = String::new();
    s.push_str(&format!("test: {} ({})\n", test.label, test.file));
    match verdict {
        Verdict::Passed => s.push_str("result: passed\n"),
        Verdict::Failed {
            step,
            why,
            detail,
            kind,
            crash_ns,
        } => {
            s.push_str(&format!("result: failed ({kind})\n"));
            if let Some(ns) = crash_ns {
                s.push_str(&format!(
                    "crashed at: {:.6} s (virtual)\n",
                    *ns as f64 / 1e9
                ));
            }
            if let Some(i) = step {
                let st = &scn.steps[*i];
                s.push_str(&format!(
                    "step: {}/{} at {}:{}\n  {}\n",
                    i + 1,
                    scn.steps.len(),
                    test.file,
                    st.line,
                    st.text.replace('\n', "\n  ")
                ));
            }
            s.push_str(&format!("why: {why}\n"));
            for d in detail {
                s.push_str(&format!("  {d}\n"));
            }
        }
        Verdict::Error(msg) => s.push_str(&format!("result: error\nwhy: {msg}\n")),
    }
    s.push_str(&format!(
        "virtual time: {:.6} s\nwall time: {:.3} s\n",
        time_ns as f64 / 1e9,
        wall.as_secs_f64()
    ));
    for (name, bytes) in consoles {
        let lines = last_lines(bytes, FAILURE_LINES);
        s.push_str(&format!(
            "\n--- {name}: last {} console line{} (all of it in {name}.uart.txt) ---\n",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" }
        ));
        for l in lines {
            s.push_str(&l);
            s.push('\n');
        }
    }
    let p = dir.join("failure.txt");
    std::fs::write(&p, s).with_context(|| format!("writing {}", p.display()))
}

/// Whether XML 1.0 allows `c` (and it is not a control character other
/// than tab and newline, which readers of test reports do not want).
fn xml_char(c: char) -> bool {
    match c {
        '\t' | '\n' => true,
        c if c.is_control() => false,
        '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    }
}

/// Escaped for XML character data.
fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|&c| xml_char(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escaped for a double-quoted XML attribute (newlines and tabs kept as
/// character references, which attribute normalisation would otherwise
/// turn into spaces).
fn xml_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|&c| xml_char(c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            _ => out.push(c),
        }
    }
    out
}

fn junit(tests: &[Test], outcomes: &[Outcome], wall: Duration) -> String {
    let failures = outcomes
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Failed { crash_ns: None, .. }))
        .count();
    let errors = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o.verdict,
                Verdict::Failed {
                    crash_ns: Some(_),
                    ..
                } | Verdict::Error(_)
            )
        })
        .count();
    let counts = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{:.3}\"",
        outcomes.len(),
        wall.as_secs_f64()
    );
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!("<testsuites name=\"ensemble\" {counts}>\n"));
    x.push_str(&format!("  <testsuite name=\"ensemble\" {counts}>\n"));
    for (t, o) in tests.iter().zip(outcomes) {
        x.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">\n",
            xml_attr(&t.label),
            xml_attr(&t.file),
            o.wall.as_secs_f64()
        ));
        let mut properties = vec![("virtual_time_s", format!("{:.6}", o.time_ns as f64 / 1e9))];
        if let Verdict::Failed { step, crash_ns, .. } = &o.verdict {
            if let Some(i) = step {
                properties.push(("failed_step", (i + 1).to_string()));
            }
            if let Some(ns) = crash_ns {
                properties.push(("crash_time_s", format!("{:.6}", *ns as f64 / 1e9)));
            }
        }
        x.push_str("      <properties>");
        for (name, value) in properties {
            x.push_str(&format!("<property name=\"{name}\" value=\"{value}\"/>"));
        }
        x.push_str("</properties>\n");
        match &o.verdict {
            Verdict::Passed => {}
            Verdict::Failed {
                step,
                why,
                detail,
                crash_ns,
                kind,
            } => {
                let tag = if crash_ns.is_some() {
                    "error"
                } else {
                    "failure"
                };
                let mut body = String::new();
                if let Some(i) = step {
                    let st = &t.scenario.steps[*i];
                    body.push_str(&format!(
                        "step {}/{} at {}:{}: {}\n",
                        i + 1,
                        t.scenario.steps.len(),
                        t.file,
                        st.line,
                        st.text
                    ));
                }
                body.push_str(why);
                body.push('\n');
                for d in detail {
                    body.push_str(d);
                    body.push('\n');
                }
                body.push_str(&format!("virtual time {:.6} s\n", o.time_ns as f64 / 1e9));
                if let Some(dir) = &o.kept {
                    body.push_str(&format!("artifacts: {}\n", dir.display()));
                }
                let message = match step {
                    Some(i) => format!("{}:{}: {why}", t.file, t.scenario.steps[*i].line),
                    None => why.clone(),
                };
                x.push_str(&format!(
                    "      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>\n",
                    xml_attr(&message),
                    xml_text(&body)
                ));
            }
            Verdict::Error(msg) => {
                x.push_str(&format!(
                    "      <error message=\"{}\" type=\"setup\">{}</error>\n",
                    xml_attr(msg),
                    xml_text(msg)
                ));
            }
        }
        if !o.consoles.is_empty() {
            let mut out = String::new();
            for (name, bytes) in &o.consoles {
                let lines = last_lines(bytes, JUNIT_LINES);
                out.push_str(&format!("=== {name} ===\n"));
                for l in lines {
                    out.push_str(&l);
                    out.push('\n');
                }
            }
            x.push_str(&format!(
                "      <system-out>{}</system-out>\n",
                xml_text(&out)
            ));
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping() {
        assert_eq!(
            xml_attr("a<b>&\"c'\nd\x07\x1b"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;d"
        );
        assert_eq!(
            xml_text("x < y && z]]>\r\n\x00"),
            "x &lt; y &amp;&amp; z]]&gt;\n"
        );
    }

    #[test]
    fn console_tails_are_printable() {
        let log = b"one\r\n\x1b[1;31mtwo\x1b[0m\r\nthr\x01ee\npartial";
        assert_eq!(last_lines(log, 3), ["two", "three", "partial"]);
        assert_eq!(last_lines(b"a\nb\n", 5), ["a", "b"]);
        assert!(last_lines(b"", 5).is_empty());
    }

    #[test]
    fn long_steps_are_cut_to_one_line() {
        assert_eq!(short("wait-uart {\n  x = 1 }"), "wait-uart { x = 1 }");
        let long = "x".repeat(500);
        assert_eq!(short(&long).chars().count(), STEP_TEXT_MAX);
    }
}
