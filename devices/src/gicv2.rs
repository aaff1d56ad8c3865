//! ARM Generic Interrupt Controller v2: distributor and CPU interface.
//!
//! Reference: ARM IHI 0048B (GIC architecture v2.0); identification as a
//! CoreLink GIC-400; behaviour matched to QEMU `hw/intc/arm_gic.c` for a
//! GICv2 without the Security Extensions (QEMU `virt` without `secure=on`).
//!
//! | window | offset | name | meaning |
//! | --- | --- | --- | --- |
//! | D | 0x000 | GICD_CTLR | b0 EnableGrp0, b1 EnableGrp1 |
//! | D | 0x004 | GICD_TYPER | b4:0 ITLinesNumber, b7:5 CPUNumber (RO) |
//! | D | 0x008 | GICD_IIDR | 0x0200143B (GIC-400) |
//! | D | 0x080 / 0x100 / 0x180 | IGROUPR / ISENABLER / ICENABLER | a bit per INTID (SGI enables RAO/WI) |
//! | D | 0x200 / 0x280 / 0x300 / 0x380 | ISPENDR / ICPENDR / ISACTIVER / ICACTIVER | a bit per INTID |
//! | D | 0x400 / 0x800 | IPRIORITYR / ITARGETSR | a byte per INTID (SGI/PPI targets RO = own CPU) |
//! | D | 0xC00 | ICFGR | 2 bits per INTID, b1 = edge (SGIs edge, PPIs level: RO) |
//! | D | 0xF00 | GICD_SGIR | WO, 32-bit: b3:0 INTID, b23:16 targets, b25:24 filter |
//! | D | 0xF10 / 0xF20 | CPENDSGIR / SPENDSGIR | a byte per SGI, a bit per source CPU |
//! | D | 0xFD0..0xFFC | PIDR4..7, PIDR0..3, CIDR0..3 | 0x04 0 0 0, 0x90 0xB4 0x2B 0, 0x0D 0xF0 0x05 0xB1 |
//! | C | 0x00 / 0x04 / 0x08 | GICC_CTLR / PMR / BPR | CTLR: b0/b1 EnableGrp0/1, b2 AckCtl, b3 FIQEn, b4 CBPR, b8:5 bypass, b9 EOImode |
//! | C | 0x0C / 0x10 / 0x14 / 0x18 | IAR / EOIR / RPR / HPPIR | |
//! | C | 0x1C / 0x20 / 0x24 / 0x28 | ABPR / AIAR / AEOIR / AHPPIR | group 1 aliases |
//! | C | 0xD0..0xDC / 0xE0..0xEC | APR0..3 / NSAPR0..3 | active priorities, group 0 / group 1 |
//! | C | 0xFC / 0x1000 | GICC_IIDR / GICC_DIR | 0x0202143B / deactivate (EOImode 1) |
//!
//! Choices, each as QEMU's GICv2 model behaves unless noted:
//! - 8 priority bits are implemented, so GICC_BPR's minimum (and reset
//!   value) is 0 and GICC_ABPR's is 1; there are 128 preemption levels,
//!   hence four APR and four NSAPR registers.
//! - No Security Extensions: every access acts as a Secure one. A group 1
//!   interrupt is therefore acknowledged through GICC_IAR only with AckCtl
//!   set (GICC_IAR reads 1022 otherwise); GICC_AIAR/AEOIR/AHPPIR handle
//!   group 1 alone. Group 0 is signalled as FIQ when GICC_CTLR.FIQEn is set,
//!   as IRQ otherwise; group 1 always as IRQ.
//! - A level-sensitive interrupt is pending while its line is high or while a
//!   write to ISPENDR has latched it; an edge-triggered one is latched by a
//!   rising edge. An active interrupt is not signalled again (even if
//!   pending) until it is deactivated.
//! - ITARGETSR is implemented as in a multiprocessor GIC (Linux reads its own
//!   CPU mask from the SGI/PPI bytes). SPI targets reset to CPU 0 (the
//!   architecture leaves the value IMPLEMENTATION DEFINED), so a lone CPU gets
//!   SPIs without any programming; an SPI reaches only the CPUs it targets.
//! - The levels of the input lines are wires outside the GIC: `reset` keeps
//!   them, so a line still high is seen again at once.
//! - GICC_EOIR and GICC_DIR with an INTID that does not exist are ignored; so
//!   are GICC_EOIR with no active priority and GICC_DIR while EOImode is 0.

use serde::{Deserialize, Serialize};

use crate::extract_read;

pub const GICD_CTLR: u64 = 0x000;
pub const GICD_TYPER: u64 = 0x004;
pub const GICD_IIDR: u64 = 0x008;
pub const GICD_IGROUPR: u64 = 0x080;
pub const GICD_ISENABLER: u64 = 0x100;
pub const GICD_ICENABLER: u64 = 0x180;
pub const GICD_ISPENDR: u64 = 0x200;
pub const GICD_ICPENDR: u64 = 0x280;
pub const GICD_ISACTIVER: u64 = 0x300;
pub const GICD_ICACTIVER: u64 = 0x380;
pub const GICD_IPRIORITYR: u64 = 0x400;
pub const GICD_ITARGETSR: u64 = 0x800;
pub const GICD_ICFGR: u64 = 0xc00;
pub const GICD_SGIR: u64 = 0xf00;
pub const GICD_CPENDSGIR: u64 = 0xf10;
pub const GICD_SPENDSGIR: u64 = 0xf20;

pub const GICC_CTLR: u64 = 0x00;
pub const GICC_PMR: u64 = 0x04;
pub const GICC_BPR: u64 = 0x08;
pub const GICC_IAR: u64 = 0x0c;
pub const GICC_EOIR: u64 = 0x10;
pub const GICC_RPR: u64 = 0x14;
pub const GICC_HPPIR: u64 = 0x18;
pub const GICC_ABPR: u64 = 0x1c;
pub const GICC_AIAR: u64 = 0x20;
pub const GICC_AEOIR: u64 = 0x24;
pub const GICC_AHPPIR: u64 = 0x28;
pub const GICC_APR0: u64 = 0xd0;
pub const GICC_NSAPR0: u64 = 0xe0;
pub const GICC_IIDR: u64 = 0xfc;
pub const GICC_DIR: u64 = 0x1000;

pub const GICD_CTLR_ENABLE_GRP0: u32 = 1 << 0;
pub const GICD_CTLR_ENABLE_GRP1: u32 = 1 << 1;

pub const GICC_CTLR_ENABLE_GRP0: u32 = 1 << 0;
pub const GICC_CTLR_ENABLE_GRP1: u32 = 1 << 1;
pub const GICC_CTLR_ACK_CTL: u32 = 1 << 2;
pub const GICC_CTLR_FIQ_EN: u32 = 1 << 3;
pub const GICC_CTLR_CBPR: u32 = 1 << 4;
pub const GICC_CTLR_EOI_MODE: u32 = 1 << 9;
const GICC_CTLR_MASK: u32 = 0x3ff;

/// GICC_IAR/HPPIR: nothing to acknowledge.
pub const SPURIOUS: u32 = 1023;
/// GICC_IAR/HPPIR: the highest pending interrupt is group 1 and AckCtl is 0.
pub const GROUP1_PENDING: u32 = 1022;

pub const GICD_IIDR_VALUE: u32 = 0x0200_143b;
pub const GICC_IIDR_VALUE: u32 = 0x0202_143b;

const NUM_SGIS: u32 = 16;
const NUM_PRIVATE: u32 = 32;
/// INTIDs 1020..1023 are special, so at most 988 SPIs.
const MAX_SPIS: u32 = 988;
const NUM_APRS: usize = 4;
/// Running priority with nothing active.
const IDLE_PRIORITY: u32 = 0x100;
const MIN_BPR: u32 = 0;
const MIN_ABPR: u32 = 1;

const DIST_IDS: [u8; 12] = [
    0x04, 0x00, 0x00, 0x00, 0x90, 0xb4, 0x2b, 0x00, 0x0d, 0xf0, 0x05, 0xb1,
];

#[derive(Clone, Copy, Default, Serialize, Deserialize)]
struct Irq {
    enabled: bool,
    group1: bool,
    /// Pending state set by an edge or ISPENDR (not used for SGIs, whose
    /// pending state is their set of source CPUs).
    latch: bool,
    active: bool,
    /// The input line.
    level: bool,
    edge: bool,
    priority: u8,
}

impl Irq {
    fn pending(&self) -> bool {
        self.latch || (!self.edge && self.level)
    }
}

/// The state banked per CPU: its SGIs and PPIs, and its CPU interface.
#[derive(Clone, Serialize, Deserialize)]
struct Cpu {
    private: Vec<Irq>,
    /// For each SGI, the source CPUs it is pending from (bit n: CPU n).
    sgi_sources: Vec<u8>,
    ctlr: u32,
    pmr: u32,
    bpr: u32,
    abpr: u32,
    apr: [u32; NUM_APRS],
    nsapr: [u32; NUM_APRS],
    /// Outputs, recomputed after every change: the highest priority pending
    /// interrupt that passes the priority mask (or 1023), and the lines.
    hppi: u32,
    irq: bool,
    fiq: bool,
}

impl Cpu {
    fn new() -> Self {
        let mut c = Cpu {
            private: vec![Irq::default(); NUM_PRIVATE as usize],
            sgi_sources: vec![0; NUM_SGIS as usize],
            ctlr: 0,
            pmr: 0,
            bpr: MIN_BPR,
            abpr: MIN_ABPR,
            apr: [0; NUM_APRS],
            nsapr: [0; NUM_APRS],
            hppi: SPURIOUS,
            irq: false,
            fiq: false,
        };
        c.reset();
        c
    }

    fn reset(&mut self) {
        for (id, irq) in self.private.iter_mut().enumerate() {
            let level = irq.level;
            *irq = Irq {
                // SGIs are always enabled and edge-triggered (GIC-400).
                enabled: (id as u32) < NUM_SGIS,
                edge: (id as u32) < NUM_SGIS,
                level,
                ..Irq::default()
            };
        }
        self.sgi_sources.fill(0);
        self.ctlr = 0;
        self.pmr = 0;
        self.bpr = MIN_BPR;
        self.abpr = MIN_ABPR;
        self.apr = [0; NUM_APRS];
        self.nsapr = [0; NUM_APRS];
    }

    fn running_priority(&self) -> u32 {
        for i in 0..NUM_APRS {
            let bits = self.apr[i] | self.nsapr[i];
            if bits != 0 {
                return ((i as u32) * 32 + bits.trailing_zeros()) << (MIN_BPR + 1);
            }
        }
        IDLE_PRIORITY
    }

    /// The group priority of `irq`: its priority with the subpriority bits
    /// (per the binary point register that applies) cleared.
    fn group_priority(&self, irq: &Irq) -> u32 {
        let mask = if irq.group1 && self.ctlr & GICC_CTLR_CBPR == 0 {
            !0u32 << self.abpr
        } else {
            !0u32 << (self.bpr + 1)
        };
        irq.priority as u32 & mask
    }
}

/// A GICv2 distributor with its CPU interfaces (one, CPU 0, for now: the
/// per-CPU state is kept in a vector so that more can be added).
#[derive(Clone, Serialize, Deserialize)]
pub struct GicV2 {
    /// INTIDs implemented: 32 + the number of SPIs.
    num_irqs: u32,
    ctlr: u32,
    spis: Vec<Irq>,
    /// ITARGETSR of each SPI.
    targets: Vec<u8>,
    cpus: Vec<Cpu>,
}

impl GicV2 {
    /// A GIC with `num_spis` shared peripheral interrupts (INTIDs 32 and
    /// up), rounded up to a multiple of 32 and limited to 988.
    pub fn new(num_spis: u32) -> Self {
        let spis = num_spis.div_ceil(32).saturating_mul(32).min(MAX_SPIS);
        let mut g = GicV2 {
            num_irqs: NUM_PRIVATE + spis,
            ctlr: 0,
            spis: vec![Irq::default(); spis as usize],
            targets: vec![0; spis as usize],
            cpus: vec![Cpu::new()],
        };
        g.reset();
        g
    }

    pub fn reset(&mut self) {
        self.ctlr = 0;
        for irq in self.spis.iter_mut() {
            *irq = Irq {
                level: irq.level,
                ..Irq::default()
            };
        }
        self.targets.fill(1);
        for cpu in self.cpus.iter_mut() {
            cpu.reset();
        }
        self.update();
    }

    /// Read `size` bytes at `offset` in the distributor's window.
    pub fn dist_read(&mut self, offset: u64, size: u8) -> u32 {
        let cpu = 0;
        let mut value = 0;
        for i in 0..size.min(4) as u64 {
            value |= (self.dist_read_byte(cpu, offset + i) as u32) << (8 * i);
        }
        value
    }

    /// Write `size` bytes at `offset` in the distributor's window.
    pub fn dist_write(&mut self, offset: u64, size: u8, value: u32) {
        let cpu = 0;
        if offset == GICD_SGIR {
            // Word access only: a narrow write cannot form a request.
            if size == 4 {
                self.software_interrupt(cpu, value);
            }
            return;
        }
        for i in 0..size.min(4) as u64 {
            self.dist_write_byte(cpu, offset + i, (value >> (8 * i)) as u8);
        }
        self.update();
    }

    /// Read `size` bytes at `offset` in the CPU interface's window.
    pub fn cpu_read(&mut self, offset: u64, size: u8) -> u32 {
        let value = self.cpu_read_reg(0, offset & !3);
        extract_read(value, offset, size)
    }

    /// Write `size` bytes at `offset` in the CPU interface's window. The
    /// registers are 32 bits wide: narrow writes are zero-extended and
    /// unaligned ones ignored.
    pub fn cpu_write(&mut self, offset: u64, size: u8, value: u32) {
        if offset & 3 != 0 {
            return;
        }
        self.cpu_write_reg(0, offset, crate::zero_extend(value, size));
        self.update();
    }

    /// Drive SPI `spi` (INTID 32 + `spi`) from a device's line.
    pub fn set_spi(&mut self, spi: u32, level: bool) {
        if let Some(irq) = self.spis.get_mut(spi as usize) {
            if Self::set_line(irq, level) {
                self.update();
            }
        }
    }

    /// Drive PPI `intid` (16..=31) of CPU 0: the generic timer's virtual
    /// (27), non-secure physical (30), secure physical (29), hyp (26).
    pub fn set_ppi(&mut self, intid: u32, level: bool) {
        if (NUM_SGIS..NUM_PRIVATE).contains(&intid)
            && Self::set_line(&mut self.cpus[0].private[intid as usize], level)
        {
            self.update();
        }
    }

    /// The IRQ input of CPU 0.
    pub fn irq_pending(&self) -> bool {
        self.cpus[0].irq
    }

    /// The FIQ input of CPU 0: group 0 interrupts when GICC_CTLR.FIQEn is set.
    pub fn fiq_pending(&self) -> bool {
        self.cpus[0].fiq
    }

    /// Record a line level; true when it changed anything.
    fn set_line(irq: &mut Irq, level: bool) -> bool {
        if irq.level == level {
            return false;
        }
        irq.level = level;
        if level && irq.edge {
            irq.latch = true;
        }
        true
    }

    fn all_cpus_mask(&self) -> u8 {
        ((1u32 << self.cpus.len()) - 1) as u8
    }

    fn irq(&self, cpu: usize, id: u32) -> &Irq {
        if id < NUM_PRIVATE {
            &self.cpus[cpu].private[id as usize]
        } else {
            &self.spis[(id - NUM_PRIVATE) as usize]
        }
    }

    fn irq_mut(&mut self, cpu: usize, id: u32) -> &mut Irq {
        if id < NUM_PRIVATE {
            &mut self.cpus[cpu].private[id as usize]
        } else {
            &mut self.spis[(id - NUM_PRIVATE) as usize]
        }
    }

    fn pending(&self, cpu: usize, id: u32) -> bool {
        if id < NUM_SGIS {
            self.cpus[cpu].sgi_sources[id as usize] != 0
        } else {
            self.irq(cpu, id).pending()
        }
    }

    fn targets_cpu(&self, cpu: usize, id: u32) -> bool {
        id < NUM_PRIVATE || self.targets[(id - NUM_PRIVATE) as usize] & (1 << cpu) != 0
    }

    fn group_enabled(&self, cpu: usize, group1: bool) -> bool {
        let bit = 1 << group1 as u32;
        self.ctlr & bit != 0 && self.cpus[cpu].ctlr & bit != 0
    }

    /// The highest priority interrupt the distributor forwards to `cpu`
    /// (lowest INTID on a tie), with its priority.
    fn best(&self, cpu: usize) -> Option<(u32, u32)> {
        let mut best: Option<(u32, u32)> = None;
        for id in 0..self.num_irqs {
            let irq = self.irq(cpu, id);
            if irq.enabled
                && !irq.active
                && self.pending(cpu, id)
                && self.targets_cpu(cpu, id)
                && self.group_enabled(cpu, irq.group1)
                && best.is_none_or(|(_, p)| (irq.priority as u32) < p)
            {
                best = Some((id, irq.priority as u32));
            }
        }
        best
    }

    /// Recompute every CPU interface's outputs.
    fn update(&mut self) {
        for cpu in 0..self.cpus.len() {
            let (mut hppi, mut irq_out, mut fiq_out) = (SPURIOUS, false, false);
            if let Some((id, prio)) = self.best(cpu) {
                let c = &self.cpus[cpu];
                if prio < c.pmr {
                    hppi = id;
                    if prio < c.running_priority() {
                        let as_fiq = !self.irq(cpu, id).group1 && c.ctlr & GICC_CTLR_FIQ_EN != 0;
                        fiq_out = as_fiq;
                        irq_out = !as_fiq;
                    }
                }
            }
            let c = &mut self.cpus[cpu];
            c.hppi = hppi;
            c.irq = irq_out;
            c.fiq = fiq_out;
        }
    }

    /// An INTID with, for an SGI, its lowest pending source CPU in b12:10.
    fn with_source(&self, cpu: usize, id: u32) -> u32 {
        if id < NUM_SGIS {
            let sources = self.cpus[cpu].sgi_sources[id as usize];
            id | ((sources.trailing_zeros() & 7) << 10)
        } else {
            id
        }
    }

    /// GICC_HPPIR (`alias`: GICC_AHPPIR, group 1 only).
    fn highest_pending(&self, cpu: usize, alias: bool) -> u32 {
        let id = self.cpus[cpu].hppi;
        if id == SPURIOUS {
            return SPURIOUS;
        }
        let group1 = self.irq(cpu, id).group1;
        if alias && !group1 {
            SPURIOUS
        } else if !alias && group1 && self.cpus[cpu].ctlr & GICC_CTLR_ACK_CTL == 0 {
            GROUP1_PENDING
        } else {
            self.with_source(cpu, id)
        }
    }

    /// GICC_IAR (`alias`: GICC_AIAR): make the highest priority pending
    /// interrupt active and return its INTID.
    fn acknowledge(&mut self, cpu: usize, alias: bool) -> u32 {
        let value = self.highest_pending(cpu, alias);
        let id = value & 0x3ff;
        if id >= self.num_irqs {
            return value;
        }
        let c = &self.cpus[cpu];
        let irq = *self.irq(cpu, id);
        if irq.priority as u32 >= c.running_priority() {
            return SPURIOUS;
        }
        let level = c.group_priority(&irq) >> (MIN_BPR + 1);
        let (reg, bit) = ((level / 32) as usize, level % 32);
        let c = &mut self.cpus[cpu];
        if irq.group1 {
            c.nsapr[reg] |= 1 << bit;
        } else {
            c.apr[reg] |= 1 << bit;
        }
        if id < NUM_SGIS {
            let src = (value >> 10) & 7;
            c.sgi_sources[id as usize] &= !(1 << src);
        }
        let irq = self.irq_mut(cpu, id);
        irq.active = true;
        irq.latch = false;
        self.update();
        value
    }

    /// GICC_EOIR / GICC_AEOIR: drop the running priority and, unless
    /// EOImode splits the two, deactivate.
    fn end_of_interrupt(&mut self, cpu: usize, value: u32) {
        let id = value & 0x3ff;
        if id >= self.num_irqs || self.cpus[cpu].running_priority() == IDLE_PRIORITY {
            return;
        }
        let group1 = self.irq(cpu, id).group1;
        let c = &mut self.cpus[cpu];
        // Interrupts nest, so the one ending holds the highest active
        // priority of its group: the lowest set bit.
        let aprs = if group1 { &mut c.nsapr } else { &mut c.apr };
        if let Some(r) = aprs.iter_mut().find(|r| **r != 0) {
            *r &= *r - 1;
        }
        if c.ctlr & GICC_CTLR_EOI_MODE == 0 {
            self.irq_mut(cpu, id).active = false;
        }
    }

    fn deactivate(&mut self, cpu: usize, value: u32) {
        let id = value & 0x3ff;
        if id < self.num_irqs && self.cpus[cpu].ctlr & GICC_CTLR_EOI_MODE != 0 {
            self.irq_mut(cpu, id).active = false;
        }
    }

    fn software_interrupt(&mut self, cpu: usize, value: u32) {
        let id = (value & 0xf) as usize;
        let all = self.all_cpus_mask();
        let targets = match (value >> 24) & 3 {
            0 => (value >> 16) as u8 & all,
            1 => all & !(1 << cpu),
            2 => 1 << cpu,
            _ => return,
        };
        for (t, c) in self.cpus.iter_mut().enumerate() {
            if targets & (1 << t) != 0 {
                c.sgi_sources[id] |= 1 << cpu;
            }
        }
        self.update();
    }

    fn cpu_read_reg(&mut self, cpu: usize, offset: u64) -> u32 {
        let c = &self.cpus[cpu];
        match offset {
            GICC_CTLR => c.ctlr,
            GICC_PMR => c.pmr,
            GICC_BPR => c.bpr,
            GICC_IAR => self.acknowledge(cpu, false),
            GICC_RPR => c.running_priority().min(0xff),
            GICC_HPPIR => self.highest_pending(cpu, false),
            GICC_ABPR => c.abpr,
            GICC_AIAR => self.acknowledge(cpu, true),
            GICC_AHPPIR => self.highest_pending(cpu, true),
            0xd0..=0xdc => c.apr[((offset - GICC_APR0) / 4) as usize],
            0xe0..=0xec => c.nsapr[((offset - GICC_NSAPR0) / 4) as usize],
            GICC_IIDR => GICC_IIDR_VALUE,
            _ => 0,
        }
    }

    fn cpu_write_reg(&mut self, cpu: usize, offset: u64, value: u32) {
        let c = &mut self.cpus[cpu];
        match offset {
            GICC_CTLR => c.ctlr = value & GICC_CTLR_MASK,
            GICC_PMR => c.pmr = value & 0xff,
            // With 8 priority bits every binary point is legal for group 0.
            GICC_BPR => c.bpr = value & 7,
            GICC_EOIR | GICC_AEOIR => self.end_of_interrupt(cpu, value),
            GICC_ABPR => c.abpr = (value & 7).max(MIN_ABPR),
            0xd0..=0xdc => c.apr[((offset - GICC_APR0) / 4) as usize] = value,
            0xe0..=0xec => c.nsapr[((offset - GICC_NSAPR0) / 4) as usize] = value,
            GICC_DIR => self.deactivate(cpu, value),
            _ => {}
        }
    }

    /// Eight one-bit fields from INTID `first` up, as a byte.
    fn bit_byte(&self, first: u32, f: impl Fn(&Self, u32) -> bool) -> u8 {
        let mut byte = 0;
        for i in 0..8 {
            let id = first + i;
            if id < self.num_irqs && f(self, id) {
                byte |= 1 << i;
            }
        }
        byte
    }

    fn dist_read_byte(&self, cpu: usize, offset: u64) -> u8 {
        let word = |w: u32| (w >> (8 * (offset & 3))) as u8;
        let bits_from = |base: u64| ((offset - base) * 8) as u32;
        match offset {
            0x000..=0x003 => word(self.ctlr),
            0x004..=0x007 => {
                word((self.num_irqs.div_ceil(32) - 1) | ((self.cpus.len() as u32 - 1) << 5))
            }
            0x008..=0x00b => word(GICD_IIDR_VALUE),
            0x080..=0x0ff => self.bit_byte(bits_from(GICD_IGROUPR), |g, id| g.irq(cpu, id).group1),
            0x100..=0x1ff => {
                let first = bits_from(offset & !0x7f);
                self.bit_byte(first, |g, id| g.irq(cpu, id).enabled)
            }
            0x200..=0x2ff => {
                let first = bits_from(offset & !0x7f);
                self.bit_byte(first, |g, id| g.pending(cpu, id))
            }
            0x300..=0x3ff => {
                let first = bits_from(offset & !0x7f);
                self.bit_byte(first, |g, id| g.irq(cpu, id).active)
            }
            0x400..=0x7ff => {
                let id = (offset - GICD_IPRIORITYR) as u32;
                if id < self.num_irqs {
                    self.irq(cpu, id).priority
                } else {
                    0
                }
            }
            0x800..=0xbff => {
                let id = (offset - GICD_ITARGETSR) as u32;
                if id < NUM_PRIVATE {
                    1 << cpu
                } else if id < self.num_irqs {
                    self.targets[(id - NUM_PRIVATE) as usize]
                } else {
                    0
                }
            }
            0xc00..=0xcff => {
                let first = ((offset - GICD_ICFGR) * 4) as u32;
                let mut byte = 0;
                for i in 0..4 {
                    let id = first + i;
                    if id < self.num_irqs && self.irq(cpu, id).edge {
                        byte |= 2 << (2 * i);
                    }
                }
                byte
            }
            0xf10..=0xf2f => self.cpus[cpu].sgi_sources[(offset & 0xf) as usize],
            0xfd0..=0xfff if offset & 3 == 0 => DIST_IDS[((offset - 0xfd0) / 4) as usize],
            _ => 0,
        }
    }

    fn dist_write_byte(&mut self, cpu: usize, offset: u64, byte: u8) {
        let bits_from = |base: u64| ((offset - base) * 8) as u32;
        let each_bit = |g: &mut Self, first: u32, f: &dyn Fn(&mut Irq)| {
            for i in 0..8 {
                let id = first + i;
                if byte & (1 << i) != 0 && id < g.num_irqs {
                    f(g.irq_mut(cpu, id));
                }
            }
        };
        match offset {
            GICD_CTLR => self.ctlr = byte as u32 & (GICD_CTLR_ENABLE_GRP0 | GICD_CTLR_ENABLE_GRP1),
            0x080..=0x0ff => {
                let first = bits_from(GICD_IGROUPR);
                for i in 0..8 {
                    if first + i < self.num_irqs {
                        self.irq_mut(cpu, first + i).group1 = byte & (1 << i) != 0;
                    }
                }
            }
            // SGIs are always enabled, and only SGI registers pend them.
            0x100..=0x101 | 0x180..=0x181 | 0x200..=0x201 | 0x280..=0x281 => {}
            0x102..=0x17f => each_bit(self, bits_from(GICD_ISENABLER), &|i| i.enabled = true),
            0x182..=0x1ff => each_bit(self, bits_from(GICD_ICENABLER), &|i| i.enabled = false),
            0x202..=0x27f => each_bit(self, bits_from(GICD_ISPENDR), &|i| i.latch = true),
            0x282..=0x2ff => each_bit(self, bits_from(GICD_ICPENDR), &|i| i.latch = false),
            0x300..=0x37f => each_bit(self, bits_from(GICD_ISACTIVER), &|i| i.active = true),
            0x380..=0x3ff => each_bit(self, bits_from(GICD_ICACTIVER), &|i| i.active = false),
            0x400..=0x7ff => {
                let id = (offset - GICD_IPRIORITYR) as u32;
                if id < self.num_irqs {
                    self.irq_mut(cpu, id).priority = byte;
                }
            }
            0x800..=0xbff => {
                let id = (offset - GICD_ITARGETSR) as u32;
                if (NUM_PRIVATE..self.num_irqs).contains(&id) {
                    let all = self.all_cpus_mask();
                    self.targets[(id - NUM_PRIVATE) as usize] = byte & all;
                }
            }
            0xc00..=0xcff => {
                let first = ((offset - GICD_ICFGR) * 4) as u32;
                for i in 0..4 {
                    let id = first + i;
                    // SGIs are edge-triggered and PPIs level-sensitive, fixed.
                    if (NUM_PRIVATE..self.num_irqs).contains(&id) {
                        self.irq_mut(cpu, id).edge = byte & (2 << (2 * i)) != 0;
                    }
                }
            }
            0xf10..=0xf1f => self.cpus[cpu].sgi_sources[(offset & 0xf) as usize] &= !byte,
            0xf20..=0xf2f => {
                let all = self.all_cpus_mask();
                self.cpus[cpu].sgi_sources[(offset & 0xf) as usize] |= byte & all;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UART_SPI: u32 = 1; // INTID 33

    /// A GIC set up the way Linux's GICv2 driver leaves it: everything
    /// group 0, priorities 0xa0, PMR 0xf0, distributor and CPU interface on.
    fn linux_gic() -> GicV2 {
        let mut g = GicV2::new(64);
        for off in (0..96).step_by(4) {
            g.dist_write(GICD_IPRIORITYR + off, 4, 0xa0a0_a0a0);
        }
        g.dist_write(GICD_CTLR, 4, 1);
        g.cpu_write(GICC_PMR, 4, 0xf0);
        g.cpu_write(GICC_CTLR, 4, 1);
        g
    }

    fn enable(g: &mut GicV2, id: u32) {
        g.dist_write(GICD_ISENABLER + 4 * (id / 32) as u64, 4, 1 << (id % 32));
    }

    fn set_priority(g: &mut GicV2, id: u32, prio: u8) {
        g.dist_write(GICD_IPRIORITYR + id as u64, 1, prio as u32);
    }

    fn active(g: &mut GicV2, id: u32) -> bool {
        g.dist_read(GICD_ISACTIVER + 4 * (id / 32) as u64, 4) & (1 << (id % 32)) != 0
    }

    fn pending(g: &mut GicV2, id: u32) -> bool {
        g.dist_read(GICD_ISPENDR + 4 * (id / 32) as u64, 4) & (1 << (id % 32)) != 0
    }

    #[test]
    fn typer_iidr_and_ids() {
        let mut g = GicV2::new(64);
        // 96 INTIDs: ITLinesNumber 2, CPUNumber 0, no Security Extensions.
        assert_eq!(g.dist_read(GICD_TYPER, 4), 2);
        assert_eq!(GicV2::new(256).dist_read(GICD_TYPER, 4), 8);
        assert_eq!(GicV2::new(988).dist_read(GICD_TYPER, 4), 31);
        assert_eq!(g.dist_read(GICD_IIDR, 4), 0x0200_143b);
        assert_eq!(g.cpu_read(GICC_IIDR, 4), 0x0202_143b);
        let ids: Vec<u32> = (0xfd0..0x1000)
            .step_by(4)
            .map(|o| g.dist_read(o, 4))
            .collect();
        assert_eq!(
            ids,
            vec![0x04, 0, 0, 0, 0x90, 0xb4, 0x2b, 0, 0x0d, 0xf0, 0x05, 0xb1]
        );
        // Architecture revision 2 in PIDR2[7:4].
        assert_eq!(g.dist_read(0xfe8, 4) >> 4, 2);
        // QEMU maps 64 KiB; the rest reads 0.
        assert_eq!(g.dist_read(0x1000, 4), 0);
        assert_eq!(g.dist_read(0xfffc, 4), 0);
    }

    #[test]
    fn reset_state() {
        let mut g = GicV2::new(64);
        assert_eq!(g.dist_read(GICD_CTLR, 4), 0);
        // SGIs enabled and edge-triggered, PPIs level, nothing else on.
        assert_eq!(g.dist_read(GICD_ISENABLER, 4), 0xffff);
        assert_eq!(g.dist_read(GICD_ICFGR, 4), 0xaaaa_aaaa);
        assert_eq!(g.dist_read(GICD_ICFGR + 4, 4), 0);
        assert_eq!(g.cpu_read(GICC_BPR, 4), 0);
        assert_eq!(g.cpu_read(GICC_ABPR, 4), 1);
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xff);
        assert_eq!(g.cpu_read(GICC_IAR, 4), SPURIOUS);
        // SGI enables cannot be cleared.
        g.dist_write(GICD_ICENABLER, 4, 0xffff_ffff);
        assert_eq!(g.dist_read(GICD_ISENABLER, 4), 0xffff);
    }

    #[test]
    fn level_spi_signals_is_acknowledged_and_re_pends_while_high() {
        let mut g = linux_gic();
        let id = 32 + UART_SPI;
        g.set_spi(UART_SPI, true);
        // Pending but not enabled: no IRQ.
        assert!(pending(&mut g, id));
        assert!(!g.irq_pending());
        enable(&mut g, id);
        assert!(g.irq_pending());
        assert!(!g.fiq_pending());
        assert_eq!(g.cpu_read(GICC_HPPIR, 4), id);
        assert_eq!(g.cpu_read(GICC_IAR, 4), id);
        assert!(active(&mut g, id));
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xa0);
        // Line still high: active and pending, but not signalled again.
        assert!(pending(&mut g, id));
        assert!(!g.irq_pending());
        assert_eq!(g.cpu_read(GICC_IAR, 4), SPURIOUS);
        g.cpu_write(GICC_EOIR, 4, id);
        assert!(!active(&mut g, id));
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xff);
        // Deactivated with the line still high: pending again.
        assert!(g.irq_pending());
        assert_eq!(g.cpu_read(GICC_IAR, 4), id);
    }

    #[test]
    fn level_spi_lowered_before_eoi_is_not_re_pended() {
        let mut g = linux_gic();
        let id = 32 + UART_SPI;
        enable(&mut g, id);
        g.set_spi(UART_SPI, true);
        assert_eq!(g.cpu_read(GICC_IAR, 4), id);
        g.set_spi(UART_SPI, false);
        assert!(!pending(&mut g, id));
        g.cpu_write(GICC_EOIR, 4, id);
        assert!(!g.irq_pending());
        assert!(!pending(&mut g, id));
        assert_eq!(g.cpu_read(GICC_IAR, 4), SPURIOUS);
        // ICPENDR cannot clear a level that is still high.
        g.set_spi(UART_SPI, true);
        g.dist_write(GICD_ICPENDR + 4, 4, 1 << 1);
        assert!(pending(&mut g, id));
        // ISPENDR latches a level interrupt whose line is low.
        g.set_spi(UART_SPI, false);
        g.dist_write(GICD_ISPENDR + 4, 4, 1 << 1);
        assert!(g.irq_pending());
        g.dist_write(GICD_ICPENDR + 4, 4, 1 << 1);
        assert!(!g.irq_pending());
    }

    #[test]
    fn edge_spi_latches_rising_edges() {
        let mut g = linux_gic();
        let id = 32 + 2;
        // ICFGR2 covers INTIDs 32..47: INTID 34 is field 2.
        g.dist_write(GICD_ICFGR + 8, 4, 2 << 4);
        assert_eq!(g.dist_read(GICD_ICFGR + 8, 4), 2 << 4);
        enable(&mut g, id);
        g.set_spi(2, true);
        g.set_spi(2, false);
        // The pulse is remembered after the line fell.
        assert!(g.irq_pending());
        assert_eq!(g.cpu_read(GICC_IAR, 4), id);
        assert!(!pending(&mut g, id));
        // A held line does not pend it again.
        g.set_spi(2, true);
        assert!(pending(&mut g, id));
        g.set_spi(2, true);
        g.cpu_write(GICC_EOIR, 4, id);
        assert!(g.irq_pending());
        assert_eq!(g.cpu_read(GICC_IAR, 4), id);
        g.cpu_write(GICC_EOIR, 4, id);
        assert!(!g.irq_pending());
        // ICPENDR clears a latched edge.
        g.set_spi(2, false);
        g.set_spi(2, true);
        g.dist_write(GICD_ICPENDR + 4, 4, 1 << 2);
        assert!(!g.irq_pending());
    }

    #[test]
    fn priority_mask_and_enables_gate_the_output() {
        let mut g = linux_gic();
        let id = 32 + 5;
        enable(&mut g, id);
        set_priority(&mut g, id, 0xf0);
        g.set_spi(5, true);
        // Priority must be strictly higher (lower value) than PMR.
        assert!(!g.irq_pending());
        assert_eq!(g.cpu_read(GICC_HPPIR, 4), SPURIOUS);
        assert_eq!(g.cpu_read(GICC_IAR, 4), SPURIOUS);
        g.cpu_write(GICC_PMR, 4, 0xf8);
        assert!(g.irq_pending());
        g.cpu_write(GICC_PMR, 4, 0);
        assert!(!g.irq_pending());
        g.cpu_write(GICC_PMR, 4, 0xff);
        assert!(g.irq_pending());
        g.dist_write(GICD_CTLR, 4, 0);
        assert!(!g.irq_pending());
        g.dist_write(GICD_CTLR, 4, 1);
        g.cpu_write(GICC_CTLR, 4, 0);
        assert!(!g.irq_pending());
        assert_eq!(g.cpu_read(GICC_IAR, 4), SPURIOUS);
        g.cpu_write(GICC_CTLR, 4, 1);
        // Targeted at no CPU: not forwarded.
        g.dist_write(GICD_ITARGETSR + id as u64, 1, 0);
        assert!(!g.irq_pending());
        g.dist_write(GICD_ITARGETSR + id as u64, 1, 1);
        assert!(g.irq_pending());
        g.dist_write(GICD_ICENABLER + 4, 4, 1 << 5);
        assert!(!g.irq_pending());
    }

    #[test]
    fn higher_priority_preempts_lower() {
        let mut g = linux_gic();
        let (low, high, same) = (32 + 3, 32 + 4, 32 + 6);
        for id in [low, high, same] {
            enable(&mut g, id);
        }
        set_priority(&mut g, low, 0xa0);
        set_priority(&mut g, high, 0x40);
        // With BPR 0 the group priority is bits 7:1: 0xa1 ties with 0xa0.
        set_priority(&mut g, same, 0xa1);
        g.set_spi(3, true);
        assert_eq!(g.cpu_read(GICC_IAR, 4), low);
        g.set_spi(6, true);
        assert!(!g.irq_pending());
        g.set_spi(4, true);
        assert!(g.irq_pending());
        assert_eq!(g.cpu_read(GICC_HPPIR, 4), high);
        assert_eq!(g.cpu_read(GICC_IAR, 4), high);
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0x40);
        // Preemption levels are priority / 2: 0x40 is APR1 b0, 0xa0 APR2 b16.
        assert_eq!(g.cpu_read(GICC_APR0 + 4, 4), 1);
        assert_eq!(g.cpu_read(GICC_APR0 + 8, 4), 1 << 16);
        // Nested EOIs unwind the active priorities.
        g.set_spi(4, false);
        g.cpu_write(GICC_EOIR, 4, high);
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xa0);
        assert!(!g.irq_pending());
        g.cpu_write(GICC_EOIR, 4, low);
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xff);
        // The re-pended line (0xa0) comes before the tie (0xa1).
        assert_eq!(g.cpu_read(GICC_IAR, 4), low);
        g.set_spi(3, false);
        g.cpu_write(GICC_EOIR, 4, low);
        assert_eq!(g.cpu_read(GICC_IAR, 4), same);
    }

    #[test]
    fn binary_point_widens_the_subpriority() {
        let mut g = linux_gic();
        let (a, b) = (32 + 7, 32 + 8);
        enable(&mut g, a);
        enable(&mut g, b);
        set_priority(&mut g, a, 0xa0);
        set_priority(&mut g, b, 0x88);
        // BPR 6: group priority is bit 7 only, so 0x88 cannot preempt 0xa0.
        g.cpu_write(GICC_BPR, 4, 6);
        g.set_spi(7, true);
        assert_eq!(g.cpu_read(GICC_IAR, 4), a);
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0x80);
        g.set_spi(8, true);
        assert!(!g.irq_pending());
        g.cpu_write(GICC_EOIR, 4, a);
        assert_eq!(g.cpu_read(GICC_IAR, 4), b);
    }

    #[test]
    fn sgi_carries_its_source_cpu() {
        let mut g = linux_gic();
        // Target list filter 0 with CPU 0 in the list, SGI 3.
        g.dist_write(GICD_SGIR, 4, (1 << 16) | 3);
        assert!(g.irq_pending());
        assert!(pending(&mut g, 3));
        assert_eq!(g.dist_read(GICD_SPENDSGIR, 4), 1 << 24);
        assert_eq!(g.cpu_read(GICC_IAR, 4), 3);
        assert!(active(&mut g, 3));
        g.cpu_write(GICC_EOIR, 4, 3);
        assert!(!g.irq_pending());
        // "All but self" reaches nobody on one CPU; "self" reaches CPU 0.
        g.dist_write(GICD_SGIR, 4, (1 << 24) | 5);
        assert!(!g.irq_pending());
        g.dist_write(GICD_SGIR, 4, (2 << 24) | 5);
        assert_eq!(g.cpu_read(GICC_IAR, 4), 5);
        g.cpu_write(GICC_EOIR, 4, 5);
        // Sources that do not exist cannot be set.
        g.dist_write(GICD_SPENDSGIR + 1, 1, 1 << 2);
        assert_eq!(g.dist_read(GICD_SPENDSGIR, 4), 0);
        assert!(!g.irq_pending());
        // With a second CPU interface, an SGI from CPU 1 shows it in b12:10.
        g.cpus.push(Cpu::new());
        g.software_interrupt(1, (1 << 16) | 1);
        assert_eq!(g.dist_read(GICD_SPENDSGIR, 4), 2 << 8);
        assert_eq!(g.cpu_read(GICC_HPPIR, 4), 1 | (1 << 10));
        assert_eq!(g.cpu_read(GICC_IAR, 4), 1 | (1 << 10));
        assert_eq!(g.dist_read(GICD_SPENDSGIR, 4), 0);
        g.cpu_write(GICC_EOIR, 4, 1 | (1 << 10));
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xff);
        g.cpus.pop();
        // CPENDSGIR withdraws a pending SGI; ISPENDR cannot set one.
        g.dist_write(GICD_SGIR, 4, (2 << 24) | 9);
        g.dist_write(GICD_CPENDSGIR + 8, 4, 1 << 8);
        assert!(!g.irq_pending());
        g.dist_write(GICD_ISPENDR, 4, 0xffff);
        assert!(!g.irq_pending());
        // Narrow writes to GICD_SGIR do nothing.
        g.dist_write(GICD_SGIR, 2, 9);
        assert!(!g.irq_pending());
    }

    #[test]
    fn spurious_when_nothing_is_pending() {
        let mut g = linux_gic();
        assert_eq!(g.cpu_read(GICC_IAR, 4), SPURIOUS);
        assert_eq!(g.cpu_read(GICC_HPPIR, 4), SPURIOUS);
        // EOI of 1023 is ignored.
        g.cpu_write(GICC_EOIR, 4, SPURIOUS);
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xff);
    }

    #[test]
    fn eoimode_splits_priority_drop_from_deactivation() {
        let mut g = linux_gic();
        let id = 32 + 9;
        g.cpu_write(GICC_CTLR, 4, GICC_CTLR_ENABLE_GRP0 | GICC_CTLR_EOI_MODE);
        enable(&mut g, id);
        g.set_spi(9, true);
        assert_eq!(g.cpu_read(GICC_IAR, 4), id);
        g.cpu_write(GICC_EOIR, 4, id);
        // Priority dropped, but still active: not signalled again.
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xff);
        assert!(active(&mut g, id));
        assert!(!g.irq_pending());
        g.cpu_write(GICC_DIR, 4, id);
        assert!(!active(&mut g, id));
        assert!(g.irq_pending());
        // Without EOImode, DIR is ignored.
        g.cpu_write(GICC_CTLR, 4, GICC_CTLR_ENABLE_GRP0);
        assert_eq!(g.cpu_read(GICC_IAR, 4), id);
        g.cpu_write(GICC_DIR, 4, id);
        assert!(active(&mut g, id));
        g.cpu_write(GICC_EOIR, 4, id);
        assert!(!active(&mut g, id));
    }

    #[test]
    fn group1_needs_ackctl_or_the_aliases_and_group0_can_be_fiq() {
        let mut g = linux_gic();
        let id = 32 + 10;
        enable(&mut g, id);
        g.dist_write(GICD_IGROUPR + 4, 4, 1 << 10);
        g.set_spi(10, true);
        // Group 1 disabled in the distributor: nothing.
        assert!(!g.irq_pending());
        g.dist_write(GICD_CTLR, 4, 3);
        g.cpu_write(GICC_CTLR, 4, 3);
        assert!(g.irq_pending());
        assert_eq!(g.cpu_read(GICC_HPPIR, 4), GROUP1_PENDING);
        assert_eq!(g.cpu_read(GICC_IAR, 4), GROUP1_PENDING);
        assert_eq!(g.cpu_read(GICC_AHPPIR, 4), id);
        assert_eq!(g.cpu_read(GICC_AIAR, 4), id);
        assert_eq!(g.cpu_read(GICC_NSAPR0 + 4 * 2, 4), 1 << (0x50 % 32));
        g.cpu_write(GICC_AEOIR, 4, id);
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xff);
        // With AckCtl, GICC_IAR takes group 1 too.
        g.cpu_write(GICC_CTLR, 4, 3 | GICC_CTLR_ACK_CTL);
        assert_eq!(g.cpu_read(GICC_IAR, 4), id);
        g.cpu_write(GICC_EOIR, 4, id);
        g.set_spi(10, false);
        // Group 0 with FIQEn goes to FIQ; group 1 stays IRQ.
        let fiq = 32 + 11;
        enable(&mut g, fiq);
        g.cpu_write(GICC_CTLR, 4, 3 | GICC_CTLR_FIQ_EN);
        g.set_spi(11, true);
        assert!(g.fiq_pending());
        assert!(!g.irq_pending());
        assert_eq!(g.cpu_read(GICC_AIAR, 4), SPURIOUS);
        assert_eq!(g.cpu_read(GICC_IAR, 4), fiq);
        assert!(!g.fiq_pending());
    }

    #[test]
    fn ppis_are_banked_level_inputs() {
        let mut g = linux_gic();
        let timer = 27;
        enable(&mut g, timer);
        g.set_ppi(timer, true);
        assert!(g.irq_pending());
        // Writes to PPI configuration are ignored: fixed level.
        g.dist_write(GICD_ICFGR + 4, 4, 0xffff_ffff);
        assert_eq!(g.dist_read(GICD_ICFGR + 4, 4), 0);
        assert_eq!(g.cpu_read(GICC_IAR, 4), timer);
        g.set_ppi(timer, false);
        g.cpu_write(GICC_EOIR, 4, timer);
        assert!(!g.irq_pending());
        // Out-of-range lines are ignored.
        g.set_ppi(15, true);
        g.set_ppi(32, true);
        g.set_spi(64, true);
        assert!(!g.irq_pending());
    }

    #[test]
    fn byte_access_to_priorities_and_targets() {
        let mut g = GicV2::new(64);
        g.dist_write(GICD_IPRIORITYR + 33, 1, 0xa8);
        assert_eq!(g.dist_read(GICD_IPRIORITYR + 32, 4), 0xa800);
        assert_eq!(g.dist_read(GICD_IPRIORITYR + 33, 1), 0xa8);
        g.dist_write(GICD_IPRIORITYR + 32, 2, 0x1234);
        assert_eq!(g.dist_read(GICD_IPRIORITYR + 32, 4), 0x1234);
        // SGI/PPI targets read this CPU's mask; SPIs reset to CPU 0.
        assert_eq!(g.dist_read(GICD_ITARGETSR, 4), 0x0101_0101);
        assert_eq!(g.dist_read(GICD_ITARGETSR + 28, 4), 0x0101_0101);
        assert_eq!(g.dist_read(GICD_ITARGETSR + 32, 4), 0x0101_0101);
        // Only implemented CPUs can be targeted.
        g.dist_write(GICD_ITARGETSR + 40, 1, 0xff);
        assert_eq!(g.dist_read(GICD_ITARGETSR + 40, 1), 1);
        g.dist_write(GICD_ITARGETSR, 4, 0);
        assert_eq!(g.dist_read(GICD_ITARGETSR, 4), 0x0101_0101);
        // Beyond the implemented INTIDs: RAZ/WI.
        g.dist_write(GICD_IPRIORITYR + 96, 4, 0xffff_ffff);
        assert_eq!(g.dist_read(GICD_IPRIORITYR + 96, 4), 0);
        assert_eq!(g.dist_read(GICD_ISENABLER + 12, 4), 0);
    }

    #[test]
    fn set_and_clear_active_and_cpu_registers() {
        let mut g = linux_gic();
        g.dist_write(GICD_ISACTIVER + 4, 4, 0x8000_0001);
        assert_eq!(g.dist_read(GICD_ICACTIVER + 4, 4), 0x8000_0001);
        g.dist_write(GICD_ICACTIVER + 4, 4, 1);
        assert_eq!(g.dist_read(GICD_ISACTIVER + 4, 4), 0x8000_0000);
        g.cpu_write(GICC_BPR, 4, 0xff);
        assert_eq!(g.cpu_read(GICC_BPR, 4), 7);
        g.cpu_write(GICC_ABPR, 4, 0);
        assert_eq!(g.cpu_read(GICC_ABPR, 4), 1);
        g.cpu_write(GICC_CTLR, 4, 0xffff_ffff);
        assert_eq!(g.cpu_read(GICC_CTLR, 4), 0x3ff);
        g.cpu_write(GICC_APR0 + 12, 4, 0x8000_0000);
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xfe);
        g.reset();
        assert_eq!(g.cpu_read(GICC_RPR, 4), 0xff);
        assert_eq!(g.cpu_read(GICC_CTLR, 4), 0);
        assert_eq!(g.dist_read(GICD_ISACTIVER + 4, 4), 0);
    }

    #[test]
    fn line_levels_survive_reset() {
        let mut g = linux_gic();
        g.set_spi(UART_SPI, true);
        g.reset();
        let mut g2 = g.clone();
        assert!(pending(&mut g2, 32 + UART_SPI));
        g = g2;
        g.dist_write(GICD_CTLR, 4, 1);
        g.cpu_write(GICC_CTLR, 4, 1);
        g.cpu_write(GICC_PMR, 4, 0xff);
        enable(&mut g, 32 + UART_SPI);
        assert!(g.irq_pending());
    }

    #[test]
    fn snapshot_round_trip() {
        let mut g = linux_gic();
        enable(&mut g, 32 + UART_SPI);
        g.set_spi(UART_SPI, true);
        assert_eq!(g.cpu_read(GICC_IAR, 4), 32 + UART_SPI);
        g.dist_write(GICD_SGIR, 4, (2 << 24) | 4);
        let bytes = postcard::to_allocvec(&g).unwrap();
        let mut h: GicV2 = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(h.irq_pending(), g.irq_pending());
        for off in (0..0x1000).step_by(4) {
            assert_eq!(h.dist_read(off, 4), g.dist_read(off, 4), "GICD {off:#x}");
        }
        for off in [GICC_CTLR, GICC_PMR, GICC_RPR, GICC_HPPIR, GICC_APR0] {
            assert_eq!(h.cpu_read(off, 4), g.cpu_read(off, 4), "GICC {off:#x}");
        }
        h.cpu_write(GICC_EOIR, 4, 32 + UART_SPI);
        assert_eq!(h.cpu_read(GICC_IAR, 4), 4);
    }
}
