//! Diagnostic traces with virtual timestamps: `--trace exceptions,
//! interrupts,mmio` for a machine, `--trace network` for a scenario.
//!
//! Besides the categories asked for, a machine's trace keeps its last few
//! exceptions, interrupt line changes and device accesses in a small ring
//! of plain values, whether tracing is on or not (a few stores per event),
//! so that a crash report can tell what led to the crash.

use std::io::Write;

use ensemble_devices::Ticks;

use crate::board::IrqTarget;
use crate::cpu::scs::pend_register;
use crate::machine::exception_name;
use crate::net::{classify, Delivery, Loss};
use crate::scenario::NetworkDecl;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    /// Exception entry and return, faults, resets.
    Exceptions,
    /// Device interrupt lines changing level, the NVIC pending an IRQ, and
    /// exceptions pended or cleared otherwise (by software through the
    /// SCS, SysTick, SVC, faults), with what did it.
    Interrupts,
    /// Device register accesses.
    Mmio,
    /// Frames sent, delivered and dropped on a scenario's networks.
    Network,
}

impl TraceKind {
    /// The category names `--trace` takes, for messages.
    pub const NAMES: &'static str = "exceptions, interrupts, mmio, network";

    pub fn parse(s: &str) -> Option<TraceKind> {
        match s {
            "exceptions" | "exc" => Some(TraceKind::Exceptions),
            "interrupts" | "irq" => Some(TraceKind::Interrupts),
            "mmio" => Some(TraceKind::Mmio),
            "network" | "net" => Some(TraceKind::Network),
            _ => None,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            TraceKind::Exceptions => "exc",
            TraceKind::Interrupts => "irq",
            TraceKind::Mmio => "mmio",
            TraceKind::Network => "net",
        }
    }
}

/// The device index `device_access` takes for the core's own System
/// Control Space (NVIC, SysTick, SCB).
pub const SCS_DEVICE: usize = u16::MAX as usize;

/// How many recent events a crash report shows.
pub const RECENT: usize = 16;

/// One recent event, as plain values (formatted only for a report).
#[derive(Debug, Clone, Copy)]
enum Recent {
    Enter {
        exc: u16,
        pc: u32,
    },
    Return {
        exc: u16,
        exc_return: u32,
    },
    Fault {
        exc: u16,
        pc: u32,
    },
    Access {
        dev: u16,
        write: bool,
        size: u8,
        off: u32,
        value: u32,
    },
    Line {
        dev: u16,
        bit: u8,
        high: bool,
        to: LineTarget,
    },
    Pending {
        irq: u16,
    },
}

/// Where a device's interrupt line goes.
#[derive(Debug, Clone, Copy)]
enum LineTarget {
    Irq(u16),
    Nmi,
    Reset,
    Nowhere,
}

impl LineTarget {
    fn of(target: Option<&IrqTarget>) -> LineTarget {
        match target {
            Some(IrqTarget::Irq(n)) => LineTarget::Irq(*n as u16),
            Some(IrqTarget::Named(s)) if s == "nmi" => LineTarget::Nmi,
            Some(IrqTarget::Named(s)) if s == "reset" => LineTarget::Reset,
            _ => LineTarget::Nowhere,
        }
    }
}

impl std::fmt::Display for LineTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineTarget::Irq(n) => write!(f, "IRQ{n}"),
            LineTarget::Nmi => write!(f, "NMI"),
            LineTarget::Reset => write!(f, "reset"),
            LineTarget::Nowhere => write!(f, "not wired"),
        }
    }
}

/// Where trace lines go, and the ring of recent events.
pub struct Trace {
    exceptions: bool,
    interrupts: bool,
    mmio: bool,
    network: bool,
    /// Ticks per second of the timestamps (1e9 for nanoseconds).
    clock_hz: u64,
    out: Option<Box<dyn Write + Send>>,
    recent: [(Ticks, Recent); RECENT],
    /// Events recorded so far; the next goes to `recorded % RECENT`.
    recorded: usize,
}

impl Trace {
    pub fn off() -> Trace {
        Trace {
            exceptions: false,
            interrupts: false,
            mmio: false,
            network: false,
            clock_hz: 1,
            out: None,
            recent: [(0, Recent::Pending { irq: 0 }); RECENT],
            recorded: 0,
        }
    }

    pub fn new(kinds: &[TraceKind], clock_hz: u64, out: Box<dyn Write + Send>) -> Trace {
        Trace {
            exceptions: kinds.contains(&TraceKind::Exceptions),
            interrupts: kinds.contains(&TraceKind::Interrupts),
            mmio: kinds.contains(&TraceKind::Mmio),
            network: kinds.contains(&TraceKind::Network),
            clock_hz,
            out: Some(out),
            ..Trace::off()
        }
    }

    pub fn enabled(&self, kind: TraceKind) -> bool {
        match kind {
            TraceKind::Exceptions => self.exceptions,
            TraceKind::Interrupts => self.interrupts,
            TraceKind::Mmio => self.mmio,
            TraceKind::Network => self.network,
        }
    }

    fn line(&mut self, now: Ticks, kind: TraceKind, msg: &str) {
        let secs = now as f64 / self.clock_hz as f64;
        if let Some(out) = self.out.as_mut() {
            let _ = writeln!(out, "[{secs:12.9}] {}: {msg}", kind.tag());
        }
    }

    /// Push buffered lines out (a scenario's trace, at the end).
    pub fn flush(&mut self) {
        if let Some(out) = self.out.as_mut() {
            let _ = out.flush();
        }
    }

    #[inline]
    fn record(&mut self, now: Ticks, event: Recent) {
        self.recent[self.recorded % RECENT] = (now, event);
        self.recorded += 1;
    }

    /// A message in category `kind`, if it is traced.
    pub fn event(&mut self, now: Ticks, kind: TraceKind, msg: &str) {
        if self.enabled(kind) {
            self.line(now, kind, msg);
        }
    }

    /// Exception `exc` is entered; the interrupted code resumes at `pc`.
    pub fn exception_entry(&mut self, now: Ticks, exc: usize, pc: u32) {
        self.record(
            now,
            Recent::Enter {
                exc: exc as u16,
                pc,
            },
        );
        if self.exceptions {
            let msg = format!("enter {exc} ({}) from pc=0x{pc:08x}", exception_name(exc));
            self.line(now, TraceKind::Exceptions, &msg);
        }
    }

    pub fn exception_return(&mut self, now: Ticks, exc: usize, exc_return: u32) {
        self.record(
            now,
            Recent::Return {
                exc: exc as u16,
                exc_return,
            },
        );
        if self.exceptions {
            let msg = format!(
                "return from {exc} ({}) via 0x{exc_return:08x}",
                exception_name(exc)
            );
            self.line(now, TraceKind::Exceptions, &msg);
        }
    }

    /// A synchronous fault (`what`) of the instruction at `pc`, before
    /// exception `exc` is raised for it.
    pub fn fault(&mut self, now: Ticks, exc: usize, what: &str, pc: u32) {
        self.record(
            now,
            Recent::Fault {
                exc: exc as u16,
                pc,
            },
        );
        if self.exceptions {
            let msg = format!("fault: {what} at pc=0x{pc:08x}");
            self.line(now, TraceKind::Exceptions, &msg);
        }
    }

    /// A register access of device `dev`, by name (not kept as a recent
    /// event: see `device_access`).
    pub fn mmio(&mut self, now: Ticks, dev: &str, write: bool, off: u64, size: usize, v: u32) {
        if self.mmio {
            let msg = format!(
                "{dev}+0x{off:03x} {} {v:#010x} ({size}B)",
                if write { "<-" } else { "->" }
            );
            self.line(now, TraceKind::Mmio, &msg);
        }
    }

    /// A register access of the machine's device number `index` (or
    /// `SCS_DEVICE`), named `dev`. (Plain values, as MMIO callbacks have
    /// them: this is on their path.)
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn device_access(
        &mut self,
        now: Ticks,
        index: usize,
        dev: &str,
        write: bool,
        off: u64,
        size: usize,
        v: u32,
    ) {
        self.record(
            now,
            Recent::Access {
                dev: index as u16,
                write,
                size: size as u8,
                off: off as u32,
                value: v,
            },
        );
        self.mmio(now, dev, write, off, size, v);
    }

    /// Device number `index`, named `dev` and wired to `irqs`, changed its
    /// interrupt lines from `before` to `after` (one bit per line).
    pub fn lines(
        &mut self,
        now: Ticks,
        index: usize,
        dev: &str,
        irqs: &[IrqTarget],
        before: u32,
        after: u32,
    ) {
        let mut moved = before ^ after;
        while moved != 0 {
            let bit = moved.trailing_zeros();
            moved &= moved - 1;
            let high = after >> bit & 1 != 0;
            let to = LineTarget::of(irqs.get(bit as usize));
            self.record(
                now,
                Recent::Line {
                    dev: index as u16,
                    bit: bit as u8,
                    high,
                    to,
                },
            );
            if self.interrupts {
                let msg = format!("{dev} line {bit} ({to}) {}", level(high));
                self.line(now, TraceKind::Interrupts, &msg);
            }
        }
    }

    /// The NVIC pends external interrupt `irq` (a rising edge of its input).
    pub fn pended(&mut self, now: Ticks, irq: usize) {
        self.record(now, Recent::Pending { irq: irq as u16 });
        if self.interrupts {
            let msg = format!("NVIC: IRQ{irq} pending");
            self.line(now, TraceKind::Interrupts, &msg);
        }
    }

    /// Exception `exc` became pending other than by a device line's
    /// rising edge (`pended`): `by` says what did it (a register write,
    /// an instruction, SysTick reaching zero). The caller only builds
    /// `by` when `interrupts` is traced, and pays one test otherwise.
    #[inline]
    pub fn exception_pended(&mut self, now: Ticks, exc: usize, by: impl FnOnce() -> String) {
        if self.interrupts {
            let msg = format!("NVIC: {} pending ({})", exception_name(exc), by());
            self.line(now, TraceKind::Interrupts, &msg);
        }
    }

    /// A write to the System Control Space at offset `off` changed the
    /// pending exceptions from `before` to `after` (bit sets by exception
    /// number, see `Scs::pending_bits`): a line for each one it pended or
    /// cleared, naming the register (`NVIC: IRQ28 pending (STIR write)`).
    pub fn pends_written(&mut self, now: Ticks, off: u64, before: [u64; 4], after: [u64; 4]) {
        if !self.interrupts {
            return;
        }
        for (w, (b, a)) in before.iter().zip(after.iter()).enumerate() {
            let mut moved = b ^ a;
            while moved != 0 {
                let bit = moved.trailing_zeros() as usize;
                moved &= moved - 1;
                let exc = w * 64 + bit;
                let set = a >> bit & 1 != 0;
                let msg = format!(
                    "NVIC: {} {} ({} write)",
                    exception_name(exc),
                    if set { "pending" } else { "no longer pending" },
                    pend_register(off, exc, set)
                );
                self.line(now, TraceKind::Interrupts, &msg);
            }
        }
    }

    /// A network event (scenario traces count time in nanoseconds).
    pub fn network(&mut self, now_ns: u64, msg: &str) {
        if self.network {
            self.line(now_ns, TraceKind::Network, msg);
        }
    }

    /// The last events (at most `RECENT`), oldest first, as report lines;
    /// `devices` names the machine's devices by index, and timestamps
    /// count `clock_hz` ticks a second.
    pub fn recent(&self, devices: &[String], clock_hz: u64) -> Vec<String> {
        let n = self.recorded.min(RECENT);
        let name = |i: u16| -> &str {
            match i as usize {
                SCS_DEVICE => "scs",
                i => devices.get(i).map_or("?", |s| s.as_str()),
            }
        };
        (self.recorded - n..self.recorded)
            .map(|k| {
                let (t, e) = self.recent[k % RECENT];
                let what = match e {
                    Recent::Enter { exc, pc } => format!(
                        "exc: enter {exc} ({}) from pc=0x{pc:08x}",
                        exception_name(exc as usize)
                    ),
                    Recent::Return { exc, exc_return } => format!(
                        "exc: return from {exc} ({}) via 0x{exc_return:08x}",
                        exception_name(exc as usize)
                    ),
                    Recent::Fault { exc, pc } => format!(
                        "exc: fault at pc=0x{pc:08x}, raising {}",
                        exception_name(exc as usize)
                    ),
                    Recent::Access {
                        dev,
                        write,
                        size,
                        off,
                        value,
                    } => format!(
                        "mmio: {}+0x{off:03x} {} {value:#010x} ({size}B)",
                        name(dev),
                        if write { "<-" } else { "->" }
                    ),
                    Recent::Line { dev, bit, high, to } => {
                        format!("irq: {} line {bit} ({to}) {}", name(dev), level(high))
                    }
                    Recent::Pending { irq } => format!("irq: NVIC: IRQ{irq} pending"),
                };
                format!("[{:12.9}] {what}", t as f64 / clock_hz.max(1) as f64)
            })
            .collect()
    }
}

/// Where a trace goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceTo {
    Stderr,
    File(std::path::PathBuf),
}

impl TraceTo {
    pub fn open(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(match self {
            TraceTo::Stderr => Box::new(std::io::stderr()),
            TraceTo::File(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        })
    }
}

/// A scenario's `network` trace: each frame sent, delivered or dropped on
/// a network, with the devices (or the host behind a bridge) by name.
/// Lines come in the order the networks decide (a delivery when its frame
/// is judged, stamped with its arrival time), so not always in time order.
pub struct NetworkTrace {
    trace: Trace,
    devices: Vec<String>,
}

impl NetworkTrace {
    pub fn new(trace: Trace, devices: Vec<String>) -> NetworkTrace {
        NetworkTrace { trace, devices }
    }

    pub fn off() -> NetworkTrace {
        NetworkTrace::new(Trace::off(), Vec::new())
    }

    pub fn on(&self) -> bool {
        self.trace.network
    }

    /// Who is on `port` of `net`: a member device, else the host.
    fn port(&self, net: &NetworkDecl, port: usize) -> &str {
        net.members
            .get(port)
            .and_then(|&d| self.devices.get(d))
            .map_or("host", |s| s.as_str())
    }

    /// Port `port` of `net` sent `frame` (a radio's: as its driver wrote
    /// it) at `ns`.
    pub fn sent(&mut self, net: &NetworkDecl, port: usize, ns: u64, frame: &[u8]) {
        if !self.on() {
            return;
        }
        let wireless = net.medium.is_wireless();
        let payload = if wireless {
            ensemble_devices::radio::decode_tx(frame).map_or(&[][..], |t| t.3)
        } else {
            frame
        };
        let msg = format!(
            "{}: {} sent {} B ({})",
            net.name,
            self.port(net, port),
            payload.len(),
            classify(payload, wireless).name()
        );
        self.trace.network(ns, &msg);
    }

    /// A frame reached a port (at its arrival time).
    pub fn delivered(&mut self, net: &NetworkDecl, d: &Delivery) {
        if !self.on() {
            return;
        }
        let wireless = net.medium.is_wireless();
        let payload = if wireless {
            ensemble_devices::radio::decode_rx(&d.frame).map_or(&[][..], |r| r.4)
        } else {
            &d.frame
        };
        let msg = format!(
            "{}: {} -> {} {} B ({}) delivered, sent at {:.9}",
            net.name,
            self.port(net, d.from),
            self.port(net, d.to),
            payload.len(),
            classify(payload, wireless).name(),
            d.sent as f64 / 1e9
        );
        self.trace.network(d.arrives, &msg);
    }

    /// A frame was lost (stamped with the time it was sent).
    pub fn dropped(&mut self, net: &NetworkDecl, l: &Loss) {
        if !self.on() {
            return;
        }
        let to =
            l.to.map(|p| format!(" -> {}", self.port(net, p)))
                .unwrap_or_default();
        let msg = format!(
            "{}: {}{to} {} B ({}) dropped: {}",
            net.name,
            self.port(net, l.from),
            l.len,
            l.kind.name(),
            l.why
        );
        self.trace.network(l.sent, &msg);
    }

    pub fn flush(&mut self) {
        self.trace.flush();
    }
}

fn level(high: bool) -> &'static str {
    if high {
        "high"
    } else {
        "low"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes a test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn categories_and_lines() {
        assert_eq!(TraceKind::parse("irq"), Some(TraceKind::Interrupts));
        assert_eq!(TraceKind::parse("network"), Some(TraceKind::Network));
        assert_eq!(TraceKind::parse("bogus"), None);
        let out = Shared::default();
        let mut t = Trace::new(&[TraceKind::Interrupts], 1000, Box::new(out.clone()));
        let irqs = [IrqTarget::Irq(7), IrqTarget::Named("nmi".into())];
        t.lines(500, 2, "uart0", &irqs, 0b00, 0b11);
        t.pended(500, 7);
        // Not traced: exceptions.
        t.exception_entry(501, 23, 0x100);
        // Pends by software and by the core, and clears.
        t.pends_written(502, 0xf00, [0; 4], [1 << 44, 0, 0, 0]);
        t.pends_written(502, 0xd04, [1 << 44, 0, 0, 0], [1 << 44 | 1 << 14, 0, 0, 0]);
        t.pends_written(503, 0x280, [1 << 45 | 1 << 14, 0, 0, 0], [1 << 14, 0, 0, 0]);
        t.exception_pended(504, 11, || "SVC instruction".into());
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "[ 0.500000000] irq: uart0 line 0 (IRQ7) high\n\
             [ 0.500000000] irq: uart0 line 1 (NMI) high\n\
             [ 0.500000000] irq: NVIC: IRQ7 pending\n\
             [ 0.502000000] irq: NVIC: IRQ28 pending (STIR write)\n\
             [ 0.502000000] irq: NVIC: PendSV pending (ICSR.PENDSVSET write)\n\
             [ 0.503000000] irq: NVIC: IRQ29 no longer pending (ICPR0 write)\n\
             [ 0.504000000] irq: NVIC: SVCall pending (SVC instruction)\n"
        );
        // Off: the message is never built.
        let mut off = Trace::off();
        off.exception_pended(505, 11, || unreachable!());
    }

    #[test]
    fn the_ring_keeps_the_last_events_even_when_off() {
        let mut t = Trace::off();
        let names = vec!["uart0".to_string()];
        assert!(t.recent(&names, 1000).is_empty());
        for i in 0..RECENT as u64 + 3 {
            t.device_access(i, 0, "uart0", true, 4, 4, i as u32);
        }
        t.exception_entry(100, 3, 0x1234);
        let r = t.recent(&names, 1000);
        assert_eq!(r.len(), RECENT);
        assert_eq!(r[0], "[ 0.004000000] mmio: uart0+0x004 <- 0x00000004 (4B)");
        assert_eq!(
            r[RECENT - 1],
            "[ 0.100000000] exc: enter 3 (HardFault) from pc=0x00001234"
        );
    }
}
