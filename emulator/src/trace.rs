//! Diagnostic traces with virtual timestamps: `--trace exceptions,mmio`.

use std::io::Write;

use ensemble_devices::Ticks;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    Exceptions,
    Mmio,
}

impl TraceKind {
    pub fn parse(s: &str) -> Option<TraceKind> {
        match s {
            "exceptions" | "exc" | "interrupts" => Some(TraceKind::Exceptions),
            "mmio" => Some(TraceKind::Mmio),
            _ => None,
        }
    }
}

/// Where trace lines go; disabled categories cost one branch.
pub struct Trace {
    exceptions: bool,
    mmio: bool,
    clock_hz: u64,
    out: Option<Box<dyn Write + Send>>,
}

impl Trace {
    pub fn off() -> Trace {
        Trace {
            exceptions: false,
            mmio: false,
            clock_hz: 1,
            out: None,
        }
    }

    pub fn new(kinds: &[TraceKind], clock_hz: u64, out: Box<dyn Write + Send>) -> Trace {
        Trace {
            exceptions: kinds.contains(&TraceKind::Exceptions),
            mmio: kinds.contains(&TraceKind::Mmio),
            clock_hz,
            out: Some(out),
        }
    }

    pub fn enabled(&self, kind: TraceKind) -> bool {
        match kind {
            TraceKind::Exceptions => self.exceptions,
            TraceKind::Mmio => self.mmio,
        }
    }

    fn line(&mut self, now: Ticks, tag: &str, msg: &str) {
        let secs = now as f64 / self.clock_hz as f64;
        if let Some(out) = self.out.as_mut() {
            let _ = writeln!(out, "[{secs:12.9}] {tag}: {msg}");
        }
    }

    pub fn event(&mut self, now: Ticks, kind: TraceKind, msg: &str) {
        if self.enabled(kind) {
            self.line(now, "exc", msg);
        }
    }

    pub fn mmio(&mut self, now: Ticks, dev: &str, write: bool, off: u64, size: usize, v: u32) {
        if self.mmio {
            let msg = format!(
                "{dev}+0x{off:03x} {} {v:#010x} ({size}B)",
                if write { "<-" } else { "->" }
            );
            self.line(now, "mmio", &msg);
        }
    }
}
