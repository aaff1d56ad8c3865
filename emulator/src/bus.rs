//! The address map's device side: each board device in a slot with its
//! interrupt wiring, and the factory that builds a model from its kind.

use std::collections::VecDeque;

use ensemble_devices::{
    audio::{AudioIn, AudioOut},
    cmsdk_dualtimer::CmsdkDualTimer,
    cmsdk_timer::CmsdkTimer,
    cmsdk_uart::CmsdkUart,
    cmsdk_watchdog::CmsdkWatchdog,
    display::Display,
    fpgaio::Fpgaio,
    gpio::Gpio,
    lan9118::Lan9118,
    lis3dh::Lis3dh,
    mps2_scc::Mps2Scc,
    pl011::Pl011,
    pl031::Pl031,
    radio::Radio,
    sbcon_i2c::SbconI2c,
    sensors::{SensorHub, SensorKind},
    touch::Touch,
    virtio::{VirtioBlk, VirtioInput, VirtioMmio, VirtioNet},
    Device, Ticks,
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

    /// The interrupt lines as of the last refresh (bit n: line n).
    pub fn lines(&self) -> u32 {
        self.lines
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

fn panel_size(spec: &DeviceSpec) -> Result<(u32, u32), String> {
    let w = param_u32(spec, "width")?.unwrap_or(320);
    let h = param_u32(spec, "height")?.unwrap_or(240);
    if !(1..=4096).contains(&w) || !(1..=4096).contains(&h) {
        return Err(format!(
            "device '{}': params: width and height must be 1..4096",
            spec.name
        ));
    }
    Ok((w, h))
}

fn audio_channels(spec: &DeviceSpec) -> Result<u16, String> {
    match param_u32(spec, "channels")?.unwrap_or(1) {
        c @ (1 | 2) => Ok(c as u16),
        c => Err(format!(
            "device '{}': params.channels: 1 or 2, not {c}",
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
        "display" | "touch" => &["width", "height"],
        "gpio" => &["inputs", "outputs"],
        "audio-out" | "audio-in" => &["channels"],
        "sensor-hub" => &["channels"],
        "sbcon-i2c" => &["lis3dh"],
        "virtio-net" => &["mac"],
        "pl031" => &["epoch"],
        "virtio-blk" => &["file", "writable"],
        "virtio-touch" => &["width", "height"],
        "simple-framebuffer" => &["address", "width", "height"],
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
        "lan9118" => Box::new(Lan9118::new(mac_param(spec)?, clock_hz)),
        "radio" => Box::new(Radio::new(clock_hz, param_u32(spec, "eui")?.unwrap_or(1))),
        "display" => {
            let (w, h) = panel_size(spec)?;
            Box::new(Display::new(clock_hz, w, h))
        }
        "touch" => {
            let (w, h) = panel_size(spec)?;
            Box::new(Touch::new(w, h))
        }
        "gpio" => {
            let inputs = param_u32(spec, "inputs")?.unwrap_or(0);
            let outputs = param_u32(spec, "outputs")?.unwrap_or(0);
            if inputs > 32 || outputs > 32 {
                return Err(format!(
                    "device '{}': params: at most 32 inputs and 32 outputs",
                    spec.name
                ));
            }
            Box::new(Gpio::new(inputs, outputs))
        }
        "audio-out" => Box::new(AudioOut::new(clock_hz, audio_channels(spec)?)),
        "audio-in" => Box::new(AudioIn::new(clock_hz, audio_channels(spec)?)),
        "sensor-hub" => {
            let names: Vec<&str> = match spec.params.get("channels") {
                None => Vec::new(),
                Some(toml::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
                Some(_) => Vec::new(),
            };
            let mut kinds = Vec::new();
            for n in &names {
                kinds.push(SensorKind::from_name(n).ok_or_else(|| {
                    format!(
                        "device '{}': params.channels: unknown sensor '{n}' (accel, gyro, mag, temperature, humidity, pressure, light, heart-rate, steps)",
                        spec.name
                    )
                })?);
            }
            if let Some(k) = kinds
                .iter()
                .enumerate()
                .find_map(|(i, k)| kinds[..i].contains(k).then_some(k))
            {
                return Err(format!(
                    "device '{}': params.channels: '{}' listed twice",
                    spec.name,
                    k.name()
                ));
            }
            if kinds.is_empty() || kinds.len() > 16 {
                return Err(format!(
                    "device '{}': params.channels: expected 1 to 16 sensor names",
                    spec.name
                ));
            }
            Box::new(SensorHub::new(clock_hz, &kinds))
        }
        "sbcon-i2c" => {
            let mut bus = SbconI2c::new();
            if let Some(addr) = param_u32(spec, "lis3dh")? {
                if addr > 0x7f {
                    return Err(format!(
                        "device '{}': params.lis3dh: a 7-bit I2C address",
                        spec.name
                    ));
                }
                bus.attach(Box::new(Lis3dh::new(clock_hz, addr as u8)));
            }
            Box::new(bus)
        }
        "pl011" => Box::new(Pl011::new()),
        // The clock starts at the epoch a scenario sets (default 2025-01-01).
        "pl031" => Box::new(Pl031::new(
            clock_hz,
            param_u32(spec, "epoch")?.unwrap_or(1_735_689_600) as u64,
        )),
        "virtio-net" => {
            let mac = mac_param(spec)?;
            Box::new(VirtioMmio::new(Box::new(VirtioNet::new(mac))))
        }
        "virtio-blk" => {
            let blk = match spec.params.get("file").and_then(|v| v.as_str()) {
                Some(path) => {
                    let writable = spec
                        .params
                        .get("writable")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false);
                    VirtioBlk::open(path, writable)
                        .map_err(|e| format!("device '{}': {e}", spec.name))?
                }
                // No disk: a drive with no medium (capacity 0).
                None => VirtioBlk::from_bytes(Vec::new()),
            };
            Box::new(VirtioMmio::new(Box::new(blk)))
        }
        "virtio-touch" => {
            let (w, h) = panel_size(spec)?;
            Box::new(VirtioMmio::new(Box::new(VirtioInput::touchscreen(w, h))))
        }
        "virtio-keyboard" => Box::new(VirtioMmio::new(Box::new(VirtioInput::keyboard()))),
        "simple-framebuffer" => {
            let (w, h) = panel_size(spec)?;
            let address = param_u32(spec, "address")?.unwrap_or(0);
            Box::new(Display::scanning_out(clock_hz, w, h, address as u64))
        }
        other => return Err(format!("device '{}': unknown kind {other}", spec.name)),
    })
}

fn mac_param(spec: &DeviceSpec) -> Result<[u8; 6], String> {
    match spec.params.get("mac") {
        None => Ok(DEFAULT_MAC),
        Some(v) => v.as_str().and_then(parse_mac).ok_or_else(|| {
            format!(
                "device '{}': params.mac: expected a MAC like \"52:54:00:12:34:56\"",
                spec.name
            )
        }),
    }
}
