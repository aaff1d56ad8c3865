//! Boards are data: a TOML file lists the CPU, clock, memory regions and
//! devices with their addresses, interrupt wiring and parameters. The
//! built-in boards are the same format, compiled in.

use std::path::Path;

use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use crate::cpu::scs::CoreInfo;

const BUILTIN: &[(&str, &str)] = &[
    (
        "mps2-an385",
        include_str!("../../images/boards/mps2-an385.toml"),
    ),
    (
        "mps2-an386",
        include_str!("../../images/boards/mps2-an386.toml"),
    ),
    (
        "sensor-node",
        include_str!("../../images/boards/sensor-node.toml"),
    ),
    ("watch", include_str!("../../images/boards/watch.toml")),
    ("speaker", include_str!("../../images/boards/speaker.toml")),
    ("phone", include_str!("../../images/boards/phone.toml")),
    (
        "aarch64-virt",
        include_str!("../../images/boards/aarch64-virt.toml"),
    ),
];

#[derive(Debug, Error)]
pub enum BoardError {
    #[error("unknown board '{0}' (built-in boards: {1}; or give a path to a .toml board file)")]
    Unknown(String, String),
    #[error("cannot read board file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{file}:{line}: {msg}")]
    Invalid {
        file: String,
        line: usize,
        msg: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoardFile {
    name: String,
    #[serde(default)]
    description: String,
    cpu: Spanned<String>,
    clock_hz: Spanned<u64>,
    #[serde(default = "default_irqs")]
    nvic_irqs: Spanned<usize>,
    #[serde(default = "default_prio_bits")]
    nvic_priority_bits: Spanned<u8>,
    #[serde(default)]
    systick_ref_hz: Option<u64>,
    /// AArch64 boards: the GICv2 and the generic timer.
    #[serde(default)]
    gic: Option<GicEntry>,
    #[serde(default)]
    timer_hz: Option<u64>,
    #[serde(default)]
    memory: Vec<Spanned<MemoryEntry>>,
    #[serde(default)]
    device: Vec<Spanned<DeviceEntry>>,
    #[serde(default)]
    unimplemented: Vec<Spanned<RegionEntry>>,
}

fn default_irqs() -> Spanned<usize> {
    Spanned::new(0..0, 32)
}

fn default_prio_bits() -> Spanned<u8> {
    Spanned::new(0..0, 8)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemoryEntry {
    name: String,
    kind: Spanned<String>,
    base: u64,
    size: u64,
    #[serde(default)]
    aliases: Vec<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GicEntry {
    /// Distributor and CPU interface bases.
    pub distributor: u64,
    pub cpu_interface: u64,
    /// Shared peripheral interrupts (devices' `irqs` are SPI numbers).
    pub spis: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceEntry {
    name: String,
    kind: Spanned<String>,
    base: u64,
    /// Register window; 4 KiB unless the device says otherwise (virtio
    /// transports sit 0x200 apart).
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    irqs: Vec<IrqTarget>,
    #[serde(default)]
    params: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionEntry {
    name: String,
    base: u64,
    size: u64,
}

/// Where a device's interrupt output line goes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IrqTarget {
    /// External interrupt input n of the NVIC (exception 16 + n).
    Irq(u32),
    /// "nmi", "reset" or "none".
    Named(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKind {
    Ram,
    Rom,
}

#[derive(Debug, Clone)]
pub struct Memory {
    pub name: String,
    pub kind: MemoryKind,
    pub base: u64,
    pub size: u64,
    pub aliases: Vec<u64>,
}

#[derive(Debug, Clone)]
pub struct DeviceSpec {
    pub name: String,
    pub kind: String,
    pub base: u64,
    pub size: u64,
    pub irqs: Vec<IrqTarget>,
    pub params: toml::Table,
}

#[derive(Debug, Clone)]
pub struct Region {
    pub name: String,
    pub base: u64,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuModel {
    CortexM3,
    CortexM4,
    CortexM7,
    CortexA53,
    CortexA57,
    CortexA72,
}

impl CpuModel {
    pub fn name(self) -> &'static str {
        match self {
            CpuModel::CortexM3 => "cortex-m3",
            CpuModel::CortexM4 => "cortex-m4",
            CpuModel::CortexM7 => "cortex-m7",
            CpuModel::CortexA53 => "cortex-a53",
            CpuModel::CortexA57 => "cortex-a57",
            CpuModel::CortexA72 => "cortex-a72",
        }
    }

    pub fn is_aarch64(self) -> bool {
        matches!(
            self,
            CpuModel::CortexA53 | CpuModel::CortexA57 | CpuModel::CortexA72
        )
    }
}

/// A validated board description.
#[derive(Debug, Clone)]
pub struct Board {
    pub name: String,
    pub description: String,
    pub cpu: CpuModel,
    pub clock_hz: u64,
    pub nvic_irqs: usize,
    pub nvic_priority_bits: u8,
    pub systick_ref_hz: u64,
    /// AArch64 boards: interrupt controller and generic timer frequency.
    pub gic: Option<GicEntry>,
    pub timer_hz: u64,
    pub memory: Vec<Memory>,
    pub devices: Vec<DeviceSpec>,
    pub unimplemented: Vec<Region>,
}

/// Device kinds the emulator can build, for validation and `ensemble boards`.
pub const DEVICE_KINDS: &[&str] = &[
    "cmsdk-uart",
    "cmsdk-timer",
    "cmsdk-dualtimer",
    "cmsdk-watchdog",
    "mps2-fpgaio",
    "mps2-scc",
    "lan9118",
    "radio",
    "display",
    "touch",
    "gpio",
    "audio-out",
    "audio-in",
    "sensor-hub",
    "sbcon-i2c",
    "pl011",
    "pl031",
    "virtio-net",
    "virtio-blk",
    "virtio-touch",
    "virtio-keyboard",
    "simple-framebuffer",
];

/// The 1-based line of byte `offset` in `text`, for error messages.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Board {
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in board by name, or a board file by path.
    pub fn load(name_or_path: &str) -> Result<Board, BoardError> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Board::parse(text, name_or_path);
        }
        let path = Path::new(name_or_path);
        if name_or_path.ends_with(".toml") || path.exists() {
            let text = std::fs::read_to_string(path)
                .map_err(|e| BoardError::Io(name_or_path.to_string(), e))?;
            return Board::parse(&text, name_or_path);
        }
        Err(BoardError::Unknown(
            name_or_path.to_string(),
            Board::builtin_names().join(", "),
        ))
    }

    pub fn parse(text: &str, file: &str) -> Result<Board, BoardError> {
        let line_of = |offset: usize| line_at(text, offset);
        let invalid = |offset: usize, msg: String| BoardError::Invalid {
            file: file.to_string(),
            line: line_of(offset),
            msg,
        };
        let raw: BoardFile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            invalid(offset, e.message().trim().replace('\n', " "))
        })?;

        let cpu = match raw.cpu.get_ref().as_str() {
            "cortex-m3" => CpuModel::CortexM3,
            "cortex-m4" => CpuModel::CortexM4,
            "cortex-m7" => CpuModel::CortexM7,
            "cortex-a53" => CpuModel::CortexA53,
            "cortex-a57" => CpuModel::CortexA57,
            "cortex-a72" => CpuModel::CortexA72,
            other => {
                return Err(invalid(
                    raw.cpu.span().start,
                    format!("cpu: unknown model '{other}' (cortex-m3, cortex-m4, cortex-m7, cortex-a53, cortex-a57, cortex-a72)"),
                ))
            }
        };
        let gic = raw.gic;
        if cpu.is_aarch64() && gic.is_none_or(|g| g.spis % 32 != 0 || g.spis > 988) {
            return Err(invalid(
                raw.cpu.span().start,
                "an AArch64 board needs gic = { distributor, cpu_interface, spis } (spis a multiple of 32, at most 988)".into(),
            ));
        }
        if raw.timer_hz == Some(0) {
            return Err(invalid(
                raw.cpu.span().start,
                "timer_hz: must be above zero".into(),
            ));
        }
        // Device IRQs are NVIC inputs on M-profile, SPI numbers on a GIC.
        let irq_limit = match gic {
            Some(g) if cpu.is_aarch64() => g.spis as usize,
            _ => *raw.nvic_irqs.get_ref(),
        };
        let clock_hz = *raw.clock_hz.get_ref();
        if clock_hz == 0 {
            return Err(invalid(
                raw.clock_hz.span().start,
                "clock_hz: must be above zero".into(),
            ));
        }
        let nvic_irqs = *raw.nvic_irqs.get_ref();
        if !(1..=240).contains(&nvic_irqs) {
            return Err(invalid(
                raw.nvic_irqs.span().start,
                "nvic_irqs: must be 1..=240".into(),
            ));
        }
        let prio_bits = *raw.nvic_priority_bits.get_ref();
        if !(2..=8).contains(&prio_bits) {
            return Err(invalid(
                raw.nvic_priority_bits.span().start,
                "nvic_priority_bits: must be 2..=8".into(),
            ));
        }

        let mut memory = Vec::new();
        for m in &raw.memory {
            let span = m.span().start;
            let m = m.get_ref();
            let kind = match m.kind.get_ref().as_str() {
                "ram" => MemoryKind::Ram,
                "rom" => MemoryKind::Rom,
                other => {
                    return Err(invalid(
                        m.kind.span().start,
                        format!(
                            "memory '{}': kind: unknown kind '{other}' (ram, rom)",
                            m.name
                        ),
                    ))
                }
            };
            for (what, v) in [("base", m.base), ("size", m.size)]
                .into_iter()
                .chain(m.aliases.iter().map(|a| ("aliases", *a)))
            {
                if v & 0xfff != 0 || (what == "size" && v == 0) {
                    return Err(invalid(
                        span,
                        format!(
                            "memory '{}': {what}: 0x{v:x} is not a non-zero multiple of 4 KiB",
                            m.name
                        ),
                    ));
                }
            }
            memory.push(Memory {
                name: m.name.clone(),
                kind,
                base: m.base,
                size: m.size,
                aliases: m.aliases.clone(),
            });
        }

        let mut devices = Vec::new();
        for d in &raw.device {
            let span = d.span().start;
            let d = d.get_ref();
            if !DEVICE_KINDS.contains(&d.kind.get_ref().as_str()) {
                return Err(invalid(
                    d.kind.span().start,
                    format!(
                        "device '{}': kind: unknown device kind '{}' (known: {})",
                        d.name,
                        d.kind.get_ref(),
                        DEVICE_KINDS.join(", ")
                    ),
                ));
            }
            let size = d.size.unwrap_or(0x1000);
            if size == 0 || size > 0x1000 || 0x1000 % size != 0 || d.base % size != 0 {
                return Err(invalid(
                    span,
                    format!(
                        "device '{}': base and size: the window must divide 4 KiB and the base be a multiple of it",
                        d.name
                    ),
                ));
            }
            for irq in &d.irqs {
                let ok = match irq {
                    IrqTarget::Irq(n) => (*n as usize) < irq_limit,
                    IrqTarget::Named(s) => matches!(s.as_str(), "nmi" | "reset" | "none"),
                };
                if !ok {
                    return Err(invalid(
                        span,
                        format!(
                            "device '{}': irqs: {irq:?} is not an IRQ below {irq_limit} or one of nmi, reset, none",
                            d.name
                        ),
                    ));
                }
            }
            devices.push(DeviceSpec {
                name: d.name.clone(),
                kind: d.kind.get_ref().clone(),
                base: d.base,
                size,
                irqs: d.irqs.clone(),
                params: d.params.clone(),
            });
        }
        let unimplemented: Vec<Region> = raw
            .unimplemented
            .iter()
            .map(|r| {
                let r = r.get_ref();
                Region {
                    name: r.name.clone(),
                    base: r.base,
                    size: r.size,
                }
            })
            .collect();

        // No two things may claim the same address.
        let mut spans: Vec<(u64, u64, String)> = Vec::new();
        for m in &memory {
            spans.push((m.base, m.size, format!("memory '{}'", m.name)));
            for a in &m.aliases {
                spans.push((*a, m.size, format!("memory '{}' alias", m.name)));
            }
        }
        for d in &devices {
            spans.push((d.base, d.size, format!("device '{}'", d.name)));
        }
        for r in &unimplemented {
            spans.push((r.base, r.size, format!("unimplemented '{}'", r.name)));
        }
        spans.sort();
        for w in spans.windows(2) {
            if w[0].0 + w[0].1 > w[1].0 {
                return Err(invalid(
                    0,
                    format!(
                        "{} at 0x{:x} overlaps {} at 0x{:x}",
                        w[0].2, w[0].0, w[1].2, w[1].0
                    ),
                ));
            }
        }

        Ok(Board {
            name: raw.name,
            description: raw.description,
            cpu,
            clock_hz,
            nvic_irqs,
            nvic_priority_bits: prio_bits,
            systick_ref_hz: raw.systick_ref_hz.unwrap_or(clock_hz),
            gic,
            timer_hz: raw.timer_hz.unwrap_or(62_500_000),
            memory,
            devices,
            unimplemented,
        })
    }

    pub fn core_info(&self) -> CoreInfo {
        let (cpuid, has_fpu, id_regs) = match self.cpu {
            // AArch64 boards have no SCS; their machines ignore it.
            CpuModel::CortexM3
            | CpuModel::CortexA53
            | CpuModel::CortexA57
            | CpuModel::CortexA72 => (
                0x410f_c231,
                false,
                [
                    0x30,
                    0x200,
                    0x0010_0000,
                    0,
                    0x30,
                    0,
                    0,
                    0,
                    0x0114_1110,
                    0x0211_1000,
                    0x2111_2231,
                    0x0111_1110,
                    0x0131_0102,
                    0,
                    0,
                    0,
                ],
            ),
            CpuModel::CortexM4 => (
                0x410f_c240,
                true,
                [
                    0x30,
                    0x200,
                    0x0010_0000,
                    0,
                    0x30,
                    0,
                    0,
                    0,
                    0x0114_1110,
                    0x0211_1000,
                    0x2111_2231,
                    0x0111_1110,
                    0x0131_0102,
                    0,
                    0,
                    0,
                ],
            ),
            CpuModel::CortexM7 => (
                0x411f_c272,
                true,
                [
                    0x30,
                    0x200,
                    0x0010_0000,
                    0,
                    0x0010_0030,
                    0,
                    0x0100_0000,
                    0,
                    0x0110_1110,
                    0x0211_2000,
                    0x2023_2231,
                    0x0111_1131,
                    0x0131_0132,
                    0,
                    0,
                    0,
                ],
            ),
        };
        let ref_div = (self.clock_hz / self.systick_ref_hz.max(1)).max(1);
        CoreInfo {
            cpuid,
            has_fpu,
            num_irq: self.nvic_irqs,
            prio_bits: self.nvic_priority_bits,
            systick_ref_div: ref_div,
            // TENMS is the reload value for 10 ms: reference ticks - 1.
            systick_calib: ((self.systick_ref_hz / 100).saturating_sub(1)) as u32 & 0x00ff_ffff,
            id_regs,
        }
    }

    /// The RAM or ROM region (or alias) containing [addr, addr+len).
    pub fn memory_at(&self, addr: u64, len: u64) -> Option<(&Memory, u64)> {
        self.memory.iter().find_map(|m| {
            std::iter::once(m.base)
                .chain(m.aliases.iter().copied())
                .find(|&b| addr >= b && addr + len <= b + m.size)
                .map(|b| (m, addr - b))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_boards_parse() {
        for name in Board::builtin_names() {
            let b = Board::load(name).unwrap();
            assert_eq!(b.name, name);
        }
        let b = Board::load("mps2-an386").unwrap();
        assert_eq!(b.cpu, CpuModel::CortexM4);
        assert!(b.core_info().has_fpu);
    }

    #[test]
    fn errors_name_line_and_field() {
        let text = "name = \"x\"\ncpu = \"cortex-m3\"\nclock_hz = 1\n[[memory]]\nname = \"r\"\nkind = \"flash\"\nbase = 0\nsize = 4096\n";
        let e = Board::parse(text, "b.toml").unwrap_err().to_string();
        assert!(e.starts_with("b.toml:6:"), "{e}");
        assert!(e.contains("kind"), "{e}");
        let e = Board::parse(
            "name = \"x\"\ncpu = \"cortex-m3\"\nclock_hz = \"fast\"\n",
            "b.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("b.toml:3:"), "{e}");
        let e = Board::load("no-such-board").unwrap_err().to_string();
        assert!(e.contains("mps2-an385"), "{e}");
    }

    #[test]
    fn overlaps_are_rejected() {
        let text = "name = \"x\"\ncpu = \"cortex-m3\"\nclock_hz = 1\n[[memory]]\nname = \"a\"\nkind = \"ram\"\nbase = 0\nsize = 0x2000\n[[memory]]\nname = \"b\"\nkind = \"ram\"\nbase = 0x1000\nsize = 0x1000\n";
        let e = Board::parse(text, "b.toml").unwrap_err().to_string();
        assert!(e.contains("overlaps"), "{e}");
    }
}
