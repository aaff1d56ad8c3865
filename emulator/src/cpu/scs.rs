//! The Cortex-M System Control Space at 0xE000_E000: NVIC, SCB, SysTick and
//! the FPU control registers, as plain state with no CPU access.
//! Reference: ARMv7-M Architecture Reference Manual (DDI 0403E), B3.2-B3.4.
//!
//! | offset | register |
//! | --- | --- |
//! | 0x004 | ICTR |
//! | 0x010..0x01C | SYST_CSR, SYST_RVR, SYST_CVR, SYST_CALIB |
//! | 0x100/0x180/0x200/0x280/0x300 | ISER, ICER, ISPR, ICPR, IABR (8 words each) |
//! | 0x400..0x4EF | IPR (byte per IRQ) |
//! | 0xD00..0xD3C | CPUID, ICSR, VTOR, AIRCR, SCR, CCR, SHPR1-3, SHCSR, CFSR, HFSR, DFSR, MMFAR, BFAR, AFSR |
//! | 0xD40..0xD7C | ID_PFR0.. ID_ISAR4 |
//! | 0xD88 | CPACR |
//! | 0xF00 | STIR |
//! | 0xF34..0xF3C | FPCCR, FPCAR, FPDSCR |

use ensemble_devices::{extract_read, merge_write, Ticks};

pub const EXC_NMI: usize = 2;
pub const EXC_HARDFAULT: usize = 3;
pub const EXC_MEMMANAGE: usize = 4;
pub const EXC_BUSFAULT: usize = 5;
pub const EXC_USAGEFAULT: usize = 6;
pub const EXC_SVCALL: usize = 11;
pub const EXC_DEBUGMON: usize = 12;
pub const EXC_PENDSV: usize = 14;
pub const EXC_SYSTICK: usize = 15;
pub const EXC_IRQ0: usize = 16;

// CFSR bits (MMFSR | BFSR << 8 | UFSR << 16).
pub const CFSR_IACCVIOL: u32 = 1 << 0;
pub const CFSR_IBUSERR: u32 = 1 << 8;
pub const CFSR_PRECISERR: u32 = 1 << 9;
pub const CFSR_STKERR: u32 = 1 << 12;
pub const CFSR_BFARVALID: u32 = 1 << 15;
pub const CFSR_UNDEFINSTR: u32 = 1 << 16;
pub const CFSR_INVSTATE: u32 = 1 << 17;
pub const CFSR_INVPC: u32 = 1 << 18;
pub const CFSR_UNALIGNED: u32 = 1 << 24;
pub const HFSR_FORCED: u32 = 1 << 30;
pub const HFSR_DEBUGEVT: u32 = 1 << 31;

const SHCSR_MEMFAULTENA: u32 = 1 << 16;
const SHCSR_BUSFAULTENA: u32 = 1 << 17;
const SHCSR_USGFAULTENA: u32 = 1 << 18;

const ICSR_NMIPENDSET: u32 = 1 << 31;
const ICSR_PENDSVSET: u32 = 1 << 28;
const ICSR_PENDSVCLR: u32 = 1 << 27;
const ICSR_PENDSTSET: u32 = 1 << 26;
const ICSR_PENDSTCLR: u32 = 1 << 25;

const AIRCR_VECTKEY: u32 = 0x05fa;
const AIRCR_SYSRESETREQ: u32 = 1 << 2;

const CCR_STKALIGN: u32 = 1 << 9;
pub const CCR_UNALIGN_TRP: u32 = 1 << 3;
pub const CCR_DIV_0_TRP: u32 = 1 << 4;
pub const CFSR_DIVBYZERO: u32 = 1 << 25;

const FPCCR_ASPEN: u32 = 1 << 31;
const FPCCR_LSPEN: u32 = 1 << 30;
pub const FPCCR_LSPACT: u32 = 1;

/// Fixed facts about the core, from the board's `cpu` entry.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CoreInfo {
    pub cpuid: u32,
    pub has_fpu: bool,
    pub num_irq: usize,
    pub prio_bits: u8,
    /// The SysTick reference clock in core ticks per reference tick.
    pub systick_ref_div: u64,
    /// SYST_CALIB read value.
    pub systick_calib: u32,
    /// ID_PFR0.. ID_ISAR4 (0xD40..0xD7C) as the core reports them.
    pub id_regs: [u32; 16],
}

/// SysTick, the core's 24-bit down-counter (B3.3). Its value is derived
/// from the time it was last loaded, so it needs no per-tick work.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SysTick {
    csr: u32,
    rvr: u32,
    /// When enabled: the counter held `anchor_value` at `anchor` (ticks).
    anchor: Ticks,
    anchor_value: u32,
    /// Value latched while disabled.
    stopped_value: u32,
    /// Last time `advance` looked at zero crossings.
    seen: Ticks,
}

const SYST_ENABLE: u32 = 1;
const SYST_TICKINT: u32 = 2;
const SYST_CLKSOURCE: u32 = 4;
const SYST_COUNTFLAG: u32 = 1 << 16;

impl SysTick {
    fn period(&self, ref_div: u64) -> u64 {
        if self.csr & SYST_CLKSOURCE != 0 {
            1
        } else {
            ref_div.max(1)
        }
    }

    fn enabled(&self) -> bool {
        self.csr & SYST_ENABLE != 0
    }

    /// Number of counter decrements between the anchor and `now`.
    fn clocks(&self, now: Ticks, ref_div: u64) -> u64 {
        now.saturating_sub(self.anchor) / self.period(ref_div)
    }

    fn value(&self, now: Ticks, ref_div: u64) -> u32 {
        if !self.enabled() {
            return self.stopped_value;
        }
        let c = self.clocks(now, ref_div);
        let v0 = self.anchor_value as u64;
        if c <= v0 {
            return (v0 - c) as u32;
        }
        if self.rvr == 0 {
            return 0;
        }
        let period = self.rvr as u64 + 1;
        (self.rvr as u64 - ((c - v0 - 1) % period)) as u32
    }

    /// Number of times the counter went from 1 to 0 in clocks (a, b].
    fn zeros_between(&self, a: u64, b: u64) -> u64 {
        let count_upto = |c: u64| -> u64 {
            // Zero reached at clock v0 (if v0 > 0), then every rvr+1 clocks.
            let v0 = self.anchor_value as u64;
            let mut n = 0;
            if v0 > 0 && c >= v0 {
                n += 1;
            }
            if self.rvr > 0 {
                let first = v0 + 1 + self.rvr as u64; // clock at which the reloaded count reaches 0
                if c >= first {
                    n += 1 + (c - first) / (self.rvr as u64 + 1);
                }
            }
            n
        };
        count_upto(b) - count_upto(a)
    }

    /// Next tick at which the counter reaches zero.
    fn next_zero(&self, now: Ticks, ref_div: u64) -> Option<Ticks> {
        if !self.enabled() {
            return None;
        }
        let p = self.period(ref_div);
        let c = self.clocks(now, ref_div);
        let v0 = self.anchor_value as u64;
        let clock = if v0 > 0 && c < v0 {
            v0
        } else if self.rvr == 0 {
            return None;
        } else {
            let first = v0 + 1 + self.rvr as u64;
            if c < first {
                first
            } else {
                let k = (c - first) / (self.rvr as u64 + 1) + 1;
                first + k * (self.rvr as u64 + 1)
            }
        };
        Some(self.anchor + clock * p)
    }

    /// Returns true when the counter reached zero since the last call.
    fn advance(&mut self, now: Ticks, ref_div: u64) -> bool {
        if !self.enabled() || now <= self.seen {
            self.seen = self.seen.max(now);
            return false;
        }
        let a = self.clocks(self.seen, ref_div);
        let b = self.clocks(now, ref_div);
        self.seen = now;
        if self.zeros_between(a, b) > 0 {
            self.csr |= SYST_COUNTFLAG;
            return self.csr & SYST_TICKINT != 0;
        }
        false
    }

    fn reanchor(&mut self, now: Ticks, value: u32) {
        self.anchor = now;
        self.anchor_value = value;
        self.seen = now;
    }
}

/// A set of exception numbers (at most 256), as bits: the NVIC asks
/// "which are pending?" several times per interrupt, and visiting only the
/// set bits keeps that cheap.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ExcSet {
    bits: [u64; 4],
    len: usize,
}

impl ExcSet {
    fn new(len: usize) -> ExcSet {
        ExcSet { bits: [0; 4], len }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn set(&mut self, e: usize, on: bool) {
        if e < self.len {
            let (w, b) = (e / 64, e % 64);
            if on {
                self.bits[w] |= 1 << b;
            } else {
                self.bits[w] &= !(1 << b);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.bits == [0; 4]
    }

    fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The members, in increasing order.
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let b = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    w * 64 + b
                })
            })
        })
    }
}

impl std::ops::Index<usize> for ExcSet {
    type Output = bool;

    fn index(&self, e: usize) -> &bool {
        if e < self.len && self.bits[e / 64] & (1 << (e % 64)) != 0 {
            &true
        } else {
            &false
        }
    }
}

/// The whole System Control Space state of one core.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Scs {
    pub info: CoreInfo,
    pub vtor: u32,
    prigroup: u32,
    scr: u32,
    ccr: u32,
    shcsr: u32,
    pub cfsr: u32,
    pub hfsr: u32,
    dfsr: u32,
    pub mmfar: u32,
    pub bfar: u32,
    cpacr: u32,
    pub fpccr: u32,
    pub fpcar: u32,
    fpdscr: u32,
    /// Priority byte per exception number (0..16+num_irq); 1..3 unused.
    prio: Vec<u8>,
    enabled: Vec<bool>,
    pending: ExcSet,
    active: ExcSet,
    /// Level of each external interrupt input.
    level: Vec<bool>,
    pub systick: SysTick,
    /// A guest asked for a system reset through AIRCR.SYSRESETREQ.
    pub reset_requested: bool,
    /// The exception being handled (IPSR), kept by the exception model.
    pub current: usize,
}

/// The priority of an exception as the architecture compares them:
/// negative for the fixed-priority ones.
pub type Priority = i32;

const NO_PRIORITY: Priority = 256;

impl Scs {
    pub fn new(info: CoreInfo) -> Self {
        let n = EXC_IRQ0 + info.num_irq;
        let mut s = Scs {
            info,
            vtor: 0,
            prigroup: 0,
            scr: 0,
            ccr: CCR_STKALIGN,
            shcsr: 0,
            cfsr: 0,
            hfsr: 0,
            dfsr: 0,
            mmfar: 0,
            bfar: 0,
            cpacr: 0,
            fpccr: 0,
            fpcar: 0,
            fpdscr: 0,
            prio: vec![0; n],
            enabled: vec![false; n],
            pending: ExcSet::new(n),
            active: ExcSet::new(n),
            level: vec![false; n],
            systick: SysTick::default(),
            reset_requested: false,
            current: 0,
        };
        s.reset();
        s
    }

    pub fn reset(&mut self) {
        let info = self.info.clone();
        let n = EXC_IRQ0 + info.num_irq;
        *self = Scs {
            prio: vec![0; n],
            enabled: vec![false; n],
            pending: ExcSet::new(n),
            active: ExcSet::new(n),
            level: vec![false; n],
            systick: SysTick::default(),
            vtor: 0,
            prigroup: 0,
            scr: 0,
            ccr: CCR_STKALIGN,
            shcsr: 0,
            cfsr: 0,
            hfsr: 0,
            dfsr: 0,
            mmfar: 0,
            bfar: 0,
            cpacr: 0,
            fpccr: if info.has_fpu {
                FPCCR_ASPEN | FPCCR_LSPEN
            } else {
                0
            },
            fpcar: 0,
            fpdscr: 0,
            reset_requested: false,
            current: 0,
            info,
        };
        for e in [EXC_NMI, EXC_HARDFAULT, EXC_SVCALL, EXC_PENDSV, EXC_SYSTICK] {
            self.enabled[e] = true;
        }
        self.enabled[EXC_DEBUGMON] = true;
    }

    pub fn num_exceptions(&self) -> usize {
        self.prio.len()
    }

    fn prio_mask(&self) -> u8 {
        (0xffu32 << (8 - self.info.prio_bits as u32)) as u8
    }

    /// Full priority of exception `e`.
    pub fn priority(&self, e: usize) -> Priority {
        match e {
            1 => -3,
            EXC_NMI => -2,
            EXC_HARDFAULT => -1,
            _ => self.prio[e] as Priority,
        }
    }

    /// The group (preemption) part of a priority value (B1.5.4).
    pub fn group(&self, p: Priority) -> Priority {
        if p < 0 {
            return p;
        }
        let sub_mask = (2u32 << self.prigroup) - 1;
        (p as u32 & !sub_mask & 0xff) as Priority
    }

    /// Whether a configurable fault is enabled in SHCSR.
    pub fn fault_enabled(&self, e: usize) -> bool {
        match e {
            EXC_MEMMANAGE => self.shcsr & SHCSR_MEMFAULTENA != 0,
            EXC_BUSFAULT => self.shcsr & SHCSR_BUSFAULTENA != 0,
            EXC_USAGEFAULT => self.shcsr & SHCSR_USGFAULTENA != 0,
            _ => true,
        }
    }

    pub fn is_enabled(&self, e: usize) -> bool {
        if (EXC_MEMMANAGE..=EXC_USAGEFAULT).contains(&e) {
            self.fault_enabled(e)
        } else {
            self.enabled[e]
        }
    }

    /// Priority of the running code before masking registers.
    fn active_priority(&self) -> Priority {
        if self.active.is_empty() {
            return NO_PRIORITY;
        }
        self.active
            .iter()
            .filter(|&e| e >= 1)
            .map(|e| self.group(self.priority(e)))
            .min()
            .unwrap_or(NO_PRIORITY)
    }

    /// Execution priority given PRIMASK, FAULTMASK and BASEPRI (B1.5.4).
    pub fn execution_priority(&self, primask: bool, faultmask: bool, basepri: u32) -> Priority {
        let mut boost = NO_PRIORITY;
        let basepri = basepri & self.prio_mask() as u32;
        if basepri != 0 {
            boost = self.group(basepri as Priority);
        }
        if primask {
            boost = 0;
        }
        if faultmask {
            boost = -1;
        }
        self.active_priority().min(boost)
    }

    /// The pending, enabled exception that would be taken next, by priority
    /// and then by number.
    pub fn highest_pending(&self) -> Option<usize> {
        // A plain loop over the set bits: this runs at every service.
        let mut best: Option<(Priority, usize)> = None;
        for (w, &word) in self.pending.bits.iter().enumerate() {
            let mut rest = word;
            while rest != 0 {
                let e = w * 64 + rest.trailing_zeros() as usize;
                rest &= rest - 1;
                if e >= 1 && self.is_enabled(e) {
                    let p = self.priority(e);
                    // Visited in increasing number: on equal priority the
                    // lower number, found first, stays.
                    if best.is_none_or(|(bp, _)| p < bp) {
                        best = Some((p, e));
                    }
                }
            }
        }
        best.map(|(_, e)| e)
    }

    /// Whether some pending exception outranks the active ones, so the CPU
    /// loop must look at the masking registers to decide.
    pub fn may_preempt(&self) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        match self.highest_pending() {
            Some(e) => self.group(self.priority(e)) < self.active_priority(),
            None => false,
        }
    }

    /// The exception to take now, if any.
    pub fn to_take(&self, primask: bool, faultmask: bool, basepri: u32) -> Option<usize> {
        let e = self.highest_pending()?;
        let p = self.group(self.priority(e));
        (p < self.execution_priority(primask, faultmask, basepri)).then_some(e)
    }

    /// Whether a WFI would wake: a pending exception that would preempt if
    /// PRIMASK were clear (B1.5.19).
    pub fn wakes_from_wfi(&self, faultmask: bool, basepri: u32) -> bool {
        self.to_take(false, faultmask, basepri).is_some() || self.to_take(false, false, 0).is_some()
    }

    pub fn set_pending(&mut self, e: usize) {
        if e < self.pending.len() {
            self.pending.set(e, true);
        }
    }

    pub fn is_pending(&self, e: usize) -> bool {
        self.pending[e]
    }

    /// The pending exceptions, one bit per exception number (a plain
    /// value to compare before and after a register write).
    pub fn pending_bits(&self) -> [u64; 4] {
        self.pending.bits
    }

    pub fn is_active(&self, e: usize) -> bool {
        self.active[e]
    }

    pub fn active_count(&self) -> usize {
        self.active.count()
    }

    /// Exception entry: pending becomes active.
    pub fn acknowledge(&mut self, e: usize) {
        self.pending.set(e, false);
        self.active.set(e, true);
        self.current = e;
    }

    /// Exception return from `e`: a level interrupt still asserted pends again.
    pub fn complete(&mut self, e: usize) {
        self.active.set(e, false);
        if e >= EXC_IRQ0 && self.level[e] {
            self.pending.set(e, true);
        }
    }

    /// Drive external interrupt input `irq` (0-based): a rising edge pends it.
    pub fn set_irq_level(&mut self, irq: usize, high: bool) {
        let e = EXC_IRQ0 + irq;
        if e >= self.level.len() {
            return;
        }
        // A rising edge pends it, also while its handler runs (then it is
        // taken again after the return).
        if high && !self.level[e] {
            self.pending.set(e, true);
        }
        self.level[e] = high;
    }

    /// Record input levels without pending anything: what the NVIC sees of
    /// lines already high when it comes out of reset (QEMU resets the NVIC
    /// after the devices, so no edge is seen then either).
    pub fn adopt_irq_levels(&mut self, levels: &[bool]) {
        for (irq, &high) in levels.iter().enumerate() {
            if let Some(l) = self.level.get_mut(EXC_IRQ0 + irq) {
                *l = high;
            }
        }
    }

    pub fn stack_align8(&self) -> bool {
        self.ccr & CCR_STKALIGN != 0
    }

    pub fn ccr(&self) -> u32 {
        self.ccr
    }

    pub fn sleep_on_exit(&self) -> bool {
        self.scr & 2 != 0
    }

    pub fn fpccr_lazy(&self) -> bool {
        self.fpccr & FPCCR_LSPEN != 0
    }

    pub fn fpccr_aspen(&self) -> bool {
        self.fpccr & FPCCR_ASPEN != 0
    }

    /// SysTick: bring the counter up to `now`, pending its exception on a
    /// zero crossing with TICKINT set. True when that made it pending.
    pub fn advance(&mut self, now: Ticks) -> bool {
        if self.systick.advance(now, self.info.systick_ref_div) && !self.pending[EXC_SYSTICK] {
            self.pending.set(EXC_SYSTICK, true);
            return true;
        }
        false
    }

    pub fn next_deadline(&self, now: Ticks) -> Option<Ticks> {
        self.systick.next_zero(now, self.info.systick_ref_div)
    }

    fn icsr(&self) -> u32 {
        let mut v = self.current as u32 & 0x1ff;
        if self.active_count() <= 1 {
            v |= 1 << 11; // RETTOBASE
        }
        if let Some(p) = self.highest_pending() {
            v |= (p as u32 & 0x1ff) << 12;
        }
        if self.pending.iter().any(|e| e >= EXC_IRQ0) {
            v |= 1 << 22; // ISRPENDING
        }
        if self.pending[EXC_SYSTICK] {
            v |= ICSR_PENDSTSET;
        }
        if self.pending[EXC_PENDSV] {
            v |= ICSR_PENDSVSET;
        }
        if self.pending[EXC_NMI] {
            v |= ICSR_NMIPENDSET;
        }
        v
    }

    fn shcsr_read(&self) -> u32 {
        let mut v = self.shcsr & (SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA);
        let bits = [
            (EXC_MEMMANAGE, 0, Some(13)),
            (EXC_BUSFAULT, 1, Some(14)),
            (EXC_USAGEFAULT, 3, Some(12)),
            (EXC_SVCALL, 7, Some(15)),
            (EXC_DEBUGMON, 8, None),
            (EXC_PENDSV, 10, None),
            (EXC_SYSTICK, 11, None),
        ];
        for (e, act, pend) in bits {
            if self.active[e] {
                v |= 1 << act;
            }
            if let Some(p) = pend {
                if self.pending[e] {
                    v |= 1 << p;
                }
            }
        }
        v
    }

    fn shcsr_write(&mut self, v: u32) {
        self.shcsr = v & (SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA);
        let bits = [
            (EXC_MEMMANAGE, 0, Some(13)),
            (EXC_BUSFAULT, 1, Some(14)),
            (EXC_USAGEFAULT, 3, Some(12)),
            (EXC_SVCALL, 7, Some(15)),
            (EXC_DEBUGMON, 8, None),
            (EXC_PENDSV, 10, None),
            (EXC_SYSTICK, 11, None),
        ];
        for (e, act, pend) in bits {
            self.active.set(e, v & (1 << act) != 0);
            if let Some(p) = pend {
                self.pending.set(e, v & (1 << p) != 0);
            }
        }
    }

    /// A 32-bit view of the register word containing `offset`.
    fn read_word(&mut self, off: u64, now: Ticks) -> u32 {
        let irq_word = |s: &Scs, base: u64, f: &dyn Fn(&Scs, usize) -> bool| -> u32 {
            let first = ((off - base) / 4) as usize * 32;
            (0..32)
                .filter(|i| {
                    let e = EXC_IRQ0 + first + i;
                    e < s.pending.len() && f(s, e)
                })
                .fold(0, |acc, i| acc | (1 << i))
        };
        match off {
            0x004 => (self.info.num_irq.div_ceil(32) as u32).saturating_sub(1),
            0x010 => {
                let v = self.systick.csr;
                self.systick.csr &= !SYST_COUNTFLAG; // COUNTFLAG clears on read
                v
            }
            0x014 => self.systick.rvr,
            0x018 => self.systick.value(now, self.info.systick_ref_div),
            0x01c => self.info.systick_calib,
            0x100..=0x13c => irq_word(self, 0x100, &|s, e| s.enabled[e]),
            0x180..=0x1bc => irq_word(self, 0x180, &|s, e| s.enabled[e]),
            0x200..=0x23c => irq_word(self, 0x200, &|s, e| s.pending[e]),
            0x280..=0x2bc => irq_word(self, 0x280, &|s, e| s.pending[e]),
            0x300..=0x33c => irq_word(self, 0x300, &|s, e| s.active[e]),
            0x400..=0x5ec => {
                let first = EXC_IRQ0 + (off - 0x400) as usize;
                (0..4).fold(0, |acc, i| {
                    let p = self.prio.get(first + i).copied().unwrap_or(0) as u32;
                    acc | (p << (8 * i))
                })
            }
            0xd00 => self.info.cpuid,
            0xd04 => self.icsr(),
            0xd08 => self.vtor,
            0xd0c => (0xfa05 << 16) | (self.prigroup << 8),
            0xd10 => self.scr,
            0xd14 => self.ccr,
            0xd18..=0xd20 => {
                let first = 4 + (off - 0xd18) as usize;
                (0..4).fold(0, |acc, i| acc | ((self.prio[first + i] as u32) << (8 * i)))
            }
            0xd24 => self.shcsr_read(),
            0xd28 => self.cfsr,
            0xd2c => self.hfsr,
            0xd30 => self.dfsr,
            0xd34 => self.mmfar,
            0xd38 => self.bfar,
            0xd40..=0xd7c => self.info.id_regs[((off - 0xd40) / 4) as usize],
            0xd88 => self.cpacr,
            0xf34 if self.info.has_fpu => self.fpccr,
            0xf38 if self.info.has_fpu => self.fpcar,
            0xf3c if self.info.has_fpu => self.fpdscr,
            _ => 0,
        }
    }

    pub fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        let word = self.read_word(offset & !3, now);
        extract_read(word, offset, size)
    }

    pub fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        let off = offset & !3;
        // Byte-accessible priority registers: touch only the lanes written.
        let lanes = |o: u64, s: u8| (o & 3) as usize..((o & 3) as usize + s.min(4) as usize);
        let full = merge_write(0, offset, size, value);
        match off {
            0x010 => {
                let was = self.systick.enabled();
                let cur = self.systick.value(now, self.info.systick_ref_div);
                self.systick.csr = (self.systick.csr & SYST_COUNTFLAG) | (full & 7);
                if was && !self.systick.enabled() {
                    self.systick.stopped_value = cur;
                } else if !was && self.systick.enabled() {
                    let v = self.systick.stopped_value;
                    self.systick.reanchor(now, v);
                }
            }
            0x014 => self.systick.rvr = full & 0x00ff_ffff,
            0x018 => {
                // Any write clears the counter and COUNTFLAG (B3.3.3).
                self.systick.csr &= !SYST_COUNTFLAG;
                self.systick.stopped_value = 0;
                if self.systick.enabled() {
                    self.systick.reanchor(now, 0);
                }
            }
            0x100..=0x13c | 0x180..=0x1bc | 0x200..=0x23c | 0x280..=0x2bc => {
                let base = off & !0x7f;
                let first = EXC_IRQ0 + ((off - base) / 4) as usize * 32;
                for i in 0..32 {
                    let e = first + i;
                    if full & (1 << i) == 0 || e >= self.pending.len() {
                        continue;
                    }
                    match base {
                        0x100 => self.enabled[e] = true,
                        0x180 => self.enabled[e] = false,
                        0x200 => self.pending.set(e, true),
                        _ => self.pending.set(e, false),
                    }
                }
            }
            0x400..=0x5ec => {
                let mask = self.prio_mask();
                for lane in lanes(offset, size) {
                    let e = EXC_IRQ0 + (off - 0x400) as usize + lane;
                    if e < self.prio.len() {
                        self.prio[e] = (full >> (8 * lane)) as u8 & mask;
                    }
                }
            }
            0xd04 => {
                if full & ICSR_NMIPENDSET != 0 {
                    self.pending.set(EXC_NMI, true);
                }
                if full & ICSR_PENDSVSET != 0 {
                    self.pending.set(EXC_PENDSV, true);
                }
                if full & ICSR_PENDSVCLR != 0 {
                    self.pending.set(EXC_PENDSV, false);
                }
                if full & ICSR_PENDSTSET != 0 {
                    self.pending.set(EXC_SYSTICK, true);
                }
                if full & ICSR_PENDSTCLR != 0 {
                    self.pending.set(EXC_SYSTICK, false);
                }
            }
            0xd08 => self.vtor = full & 0xffff_ff80,
            0xd0c => {
                if size == 4 && value >> 16 == AIRCR_VECTKEY {
                    self.prigroup = (value >> 8) & 7;
                    if value & AIRCR_SYSRESETREQ != 0 {
                        self.reset_requested = true;
                    }
                }
            }
            0xd10 => self.scr = full & 0x16,
            0xd14 => self.ccr = (full & 0x31b) | CCR_STKALIGN,
            0xd18..=0xd20 => {
                let mask = self.prio_mask();
                for lane in lanes(offset, size) {
                    let e = 4 + (off - 0xd18) as usize + lane;
                    self.prio[e] = (full >> (8 * lane)) as u8 & mask;
                }
            }
            0xd24 => self.shcsr_write(full),
            0xd28 => self.cfsr &= !full,
            0xd2c => self.hfsr &= !full,
            0xd30 => self.dfsr &= !full,
            0xd34 => self.mmfar = full,
            0xd38 => self.bfar = full,
            0xd88 => self.cpacr = full & 0x00f0_0000,
            0xf00 => {
                let e = EXC_IRQ0 + (full & 0x1ff) as usize;
                if e < self.pending.len() {
                    self.pending.set(e, true);
                }
            }
            0xf34 if self.info.has_fpu => {
                self.fpccr = (self.fpccr & !0xc000_0000) | (full & 0xc000_0000);
                self.fpccr = (self.fpccr & !0x1ff) | (full & 0x1ff);
            }
            0xf38 if self.info.has_fpu => self.fpcar = full & !7,
            0xf3c if self.info.has_fpu => self.fpdscr = full & 0x07c0_0000,
            _ => {}
        }
    }
}

/// The register a write to SCS offset `offset` pended (`set`) or cleared
/// exception `e` through, for traces: "STIR", "ISPR1", "ICSR.PENDSVSET".
pub fn pend_register(offset: u64, e: usize, set: bool) -> String {
    let off = offset & !3;
    match off {
        0x200..=0x23c => format!("ISPR{}", (off - 0x200) / 4),
        0x280..=0x2bc => format!("ICPR{}", (off - 0x280) / 4),
        0xf00 => "STIR".into(),
        0xd24 => "SHCSR".into(),
        0xd04 => match (e, set) {
            (EXC_NMI, _) => "ICSR.NMIPENDSET",
            (EXC_PENDSV, true) => "ICSR.PENDSVSET",
            (EXC_PENDSV, false) => "ICSR.PENDSVCLR",
            (EXC_SYSTICK, true) => "ICSR.PENDSTSET",
            (EXC_SYSTICK, false) => "ICSR.PENDSTCLR",
            _ => "ICSR",
        }
        .into(),
        _ => format!("SCS+0x{off:03x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scs() -> Scs {
        Scs::new(CoreInfo {
            cpuid: 0x410f_c231,
            has_fpu: false,
            num_irq: 32,
            prio_bits: 3,
            systick_ref_div: 25,
            systick_calib: 10000,
            id_regs: [0; 16],
        })
    }

    #[test]
    fn priorities_use_implemented_bits_and_group() {
        let mut s = scs();
        s.write(0x400 + 3, 1, 0xff, 0);
        assert_eq!(s.read(0x400, 4, 0), 0xe000_0000);
        // PRIGROUP 5: group is bits [7:6].
        s.write(0xd0c, 4, 0x05fa_0500, 0);
        assert_eq!(s.read(0xd0c, 4, 0), 0xfa05_0500);
        assert_eq!(s.group(0xe0), 0xc0);
        // Without the key the write is ignored.
        s.write(0xd0c, 4, 0x0000_0700, 0);
        assert_eq!(s.read(0xd0c, 4, 0) & 0x700, 0x500);
    }

    #[test]
    fn pending_enabled_irq_preempts_thread_but_not_masked() {
        let mut s = scs();
        s.write(0x100, 4, 1 << 5, 0); // enable IRQ5
        s.set_irq_level(5, true);
        assert_eq!(s.to_take(false, false, 0), Some(EXC_IRQ0 + 5));
        assert_eq!(s.to_take(true, false, 0), None);
        assert!(
            s.wakes_from_wfi(false, 0),
            "WFI wakes even with PRIMASK set"
        );
        s.acknowledge(EXC_IRQ0 + 5);
        assert_eq!(s.read(0xd04, 4, 0) & 0x1ff, 21);
        // Line still high at return: pends again (level-sensitive).
        s.complete(EXC_IRQ0 + 5);
        assert!(s.is_pending(EXC_IRQ0 + 5));
    }

    #[test]
    fn basepri_masks_by_group() {
        let mut s = scs();
        s.write(0x100, 4, 3, 0);
        s.write(0x400, 2, 0x4020, 0); // IRQ0 prio 0x20, IRQ1 prio 0x40
        s.write(0x200, 4, 3, 0);
        assert_eq!(s.to_take(false, false, 0x40), Some(EXC_IRQ0));
        assert_eq!(s.to_take(false, false, 0x20), None);
    }

    #[test]
    fn same_group_does_not_preempt() {
        let mut s = scs();
        s.write(0x100, 4, 3, 0);
        s.write(0x400, 2, 0x2040, 0); // IRQ0 prio 0x40, IRQ1 prio 0x20
        s.acknowledge(EXC_IRQ0);
        s.write(0x200, 4, 2, 0);
        assert_eq!(s.to_take(false, false, 0), Some(EXC_IRQ0 + 1));
        // PRIGROUP 7: everything is subpriority, no preemption.
        s.write(0xd0c, 4, 0x05fa_0700, 0);
        assert_eq!(s.to_take(false, false, 0), None);
    }

    #[test]
    fn systick_counts_reloads_and_pends() {
        let mut s = scs();
        s.write(0x014, 4, 99, 0);
        s.write(0x018, 4, 0, 0);
        s.write(0x010, 4, 7, 0); // enable, tickint, core clock
        assert_eq!(s.next_deadline(0), Some(100));
        s.advance(50);
        assert!(!s.is_pending(EXC_SYSTICK));
        assert_eq!(s.read(0x018, 4, 50), 50);
        s.advance(100);
        assert!(s.is_pending(EXC_SYSTICK));
        assert_eq!(s.next_deadline(100), Some(200));
        assert_eq!(s.read(0x010, 4, 100) >> 16, 1, "COUNTFLAG set");
        assert_eq!(s.read(0x010, 4, 100) >> 16, 0, "and cleared by the read");
        // Reference clock: 25 ticks a count.
        s.write(0x010, 4, 3, 100);
        s.write(0x018, 4, 0, 100);
        assert_eq!(s.next_deadline(100), Some(100 + 100 * 25));
    }

    #[test]
    fn exception_sets_iterate_in_order_across_words() {
        let mut set = ExcSet::new(16 + 240);
        for e in [255, 3, 64, 63, 130] {
            set.set(e, true);
        }
        set.set(64, false);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![3, 63, 130, 255]);
        assert_eq!(set.count(), 4);
        assert!(set[130] && !set[64]);
        set.set(400, true); // out of range: ignored
        assert_eq!(set.count(), 4);
    }

    #[test]
    fn shcsr_enables_faults() {
        let mut s = scs();
        assert!(!s.fault_enabled(EXC_USAGEFAULT));
        s.write(0xd24, 4, 1 << 18, 0);
        assert!(s.fault_enabled(EXC_USAGEFAULT));
        s.cfsr = CFSR_UNDEFINSTR;
        s.write(0xd28, 4, CFSR_UNDEFINSTR, 0);
        assert_eq!(s.read(0xd28, 4, 0), 0);
    }
}
