//! The address map's device side: each board device in a slot with its
//! interrupt wiring, and the factory that builds a model from its kind.

use std::collections::VecDeque;

use ensemble_devices::{
    cmsdk_dualtimer::CmsdkDualTimer, cmsdk_timer::CmsdkTimer, cmsdk_uart::CmsdkUart,
    cmsdk_watchdog::CmsdkWatchdog, fpgaio::Fpgaio, lan9118::Lan9118, mps2_scc::Mps2Scc,
    radio::Radio, Device, Ticks,
};

use crate::board::{DeviceSpec, IrqTarget};

/// One mapped device.
pub struct Slot {
    pub name: String,
    pub dev: Box<dyn Device>,
    pub irqs: Vec<IrqTarget>,
    /// Bytes waiting to enter the device (a UART receiver that was full).
    pub input: VecDeque<u8>,
    /// Network frames due to arrive at the device, in time order.
    pub arrivals: VecDeque<(Ticks, Vec<u8>)>,
    /// Something touched the device since it was last serviced.
    pub dirty: bool,
    /// Interrupt lines and deadline as of the last service.
    lines: u32,
    deadline: Option<Ticks>,
}

impl Slot {
    pub fn new(spec: &DeviceSpec, dev: Box<dyn Device>) -> Slot {
        Slot {
            name: spec.name.clone(),
            dev,
            irqs: spec.irqs.clone(),
            input: VecDeque::new(),
            arrivals: VecDeque::new(),
            dirty: true,
            lines: 0,
            deadline: None,
        }
    }

    /// Did the interrupt lines or the deadline change since the last
    /// service? (An MMIO access asks, to know whether to stop the CPU.)
    pub fn changed(&self) -> bool {
        self.dev.irq_lines() != self.lines || self.dev.next_deadline() != self.deadline
    }

    /// Must the device be serviced at `now`? Untouched devices with nothing
    /// due cannot have changed: their state moves only through the trait.
    pub fn needs_service(&self, now: Ticks) -> bool {
        self.dirty
            || self.deadline.is_some_and(|d| d <= now)
            || !self.input.is_empty()
            || self.arrivals.front().is_some_and(|(t, _)| *t <= now)
    }

    pub fn deadline(&self) -> Option<Ticks> {
        self.deadline
    }

    /// Take the device's current lines and deadline; true if the lines moved.
    pub fn refresh(&mut self) -> bool {
        self.dirty = false;
        self.deadline = self.dev.next_deadline();
        let lines = self.dev.irq_lines();
        let moved = lines != self.lines;
        self.lines = lines;
        moved
    }

    /// Queue a frame to arrive at `at`, after any due no later than it.
    pub fn schedule_arrival(&mut self, at: Ticks, frame: Vec<u8>) {
        let pos = self.arrivals.partition_point(|(t, _)| *t <= at);
        self.arrivals.insert(pos, (at, frame));
    }

    pub fn has_input(&self) -> bool {
        !self.input.is_empty()
    }

    /// OR this device's asserted lines (as of the last refresh) into the
    /// NVIC input `levels`; returns
    /// whether it drives NMI and the reset request.
    pub fn route_irqs(&self, levels: &mut [bool]) -> (bool, bool) {
        let lines = self.lines;
        let (mut nmi, mut reset) = (false, false);
        for (bit, target) in self.irqs.iter().enumerate() {
            if lines & (1 << bit) == 0 {
                continue;
            }
            match target {
                IrqTarget::Irq(n) => levels[*n as usize] = true,
                IrqTarget::Named(s) if s == "nmi" => nmi = true,
                IrqTarget::Named(s) if s == "reset" => reset = true,
                _ => {}
            }
        }
        (nmi, reset)
    }
}

fn param_u32(spec: &DeviceSpec, key: &str) -> Result<Option<u32>, String> {
    match spec.params.get(key) {
        None => Ok(None),
        Some(toml::Value::Integer(v)) if *v >= 0 && *v <= u32::MAX as i64 => Ok(Some(*v as u32)),
        Some(v) => Err(format!(
            "device '{}': params.{key}: expected a 32-bit unsigned integer, got {v}",
            spec.name
        )),
    }
}

/// A MAC address written "52:54:00:12:34:56".
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    parts.try_into().ok()
}

/// QEMU's default MAC for the first NIC; a scenario gives each device its own.
pub const DEFAULT_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// Build the model for a board entry. Unknown parameters are errors, so
/// that a typo in a board file does not pass silently.
pub fn build_device(spec: &DeviceSpec, clock_hz: u64) -> Result<Box<dyn Device>, String> {
    let allowed: &[&str] = match spec.kind.as_str() {
        "mps2-scc" => &["id"],
        "lan9118" => &["mac"],
        "radio" => &["eui"],
        _ => &[],
    };
    if let Some(k) = spec.params.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "device '{}': params: unknown parameter '{k}' for kind {}",
            spec.name, spec.kind
        ));
    }
    Ok(match spec.kind.as_str() {
        "cmsdk-uart" => Box::new(CmsdkUart::new(clock_hz)),
        "cmsdk-timer" => Box::new(CmsdkTimer::new()),
        "cmsdk-dualtimer" => Box::new(CmsdkDualTimer::new()),
        "cmsdk-watchdog" => Box::new(CmsdkWatchdog::new()),
        "mps2-fpgaio" => Box::new(Fpgaio::new(clock_hz)),
        "mps2-scc" => Box::new(Mps2Scc::new(param_u32(spec, "id")?.unwrap_or(0x4104_3850))),
        "lan9118" => {
            let mac = match spec.params.get("mac") {
                None => DEFAULT_MAC,
                Some(v) => v.as_str().and_then(parse_mac).ok_or_else(|| {
                    format!(
                        "device '{}': params.mac: expected a MAC like \"52:54:00:12:34:56\"",
                        spec.name
                    )
                })?,
            };
            Box::new(Lan9118::new(mac, clock_hz))
        }
        "radio" => Box::new(Radio::new(clock_hz, param_u32(spec, "eui")?.unwrap_or(1))),
        other => return Err(format!("device '{}': unknown kind {other}", spec.name)),
    })
}
