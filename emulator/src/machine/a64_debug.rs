//! The debugger's view of a machine (`ensemble run --gdb`, see gdb.rs),
//! with 64-bit addresses for both kinds of core, and what it needs of the
//! AArch64 core in particular.
//!
//! The `debug_*` methods are the machine's breakpoints, watchpoints, steps
//! and memory: on M-profile those of machine.rs; on AArch64 those here,
//! built on the same parts (the breakpoint set and its code hooks, the
//! watchpoint set, the run loop):
//!
//! - Addresses are the CPU's: virtual ones once the MMU is on. Memory is
//!   read and written by walking the guest's stage 1 translation tables
//!   (the EL1&0 regime: TTBR0/TTBR1_EL1 by address range, TCR_EL1's
//!   T0SZ/T1SZ, TG0/TG1 for the 4, 16 and 64 KiB granules, TBI), as a
//!   debug probe does: whatever the access permissions and the exception
//!   level the core is at. An address the tables do not map is an error.
//!   With the MMU off, addresses are physical.
//! - Breakpoints are the engine's code hooks, which compare the virtual PC.
//! - The engine hooks data accesses by physical address, so a watchpoint is
//!   translated when it is set (gdb sets its watchpoints anew whenever it
//!   resumes the guest) and watches those physical bytes; a hit is
//!   reported at the virtual address gdb asked for. As on hardware, the
//!   guest stops before the accessing instruction completes: the hook keeps
//!   the CPU's state from just before the access (and a store's old bytes)
//!   and both are put back, so even a load into its own base register
//!   runs again correctly.
//! - A step is one instruction: the run loop, with the engine counting one
//!   instruction. An instruction that takes an exception (SVC, a fault)
//!   stops at the vector, and so does a step while an interrupt is pending
//!   and unmasked: the core takes the interrupt first, and the step ends
//!   on its vector. A step over WFI ends after it; the wait for an
//!   interrupt is the next step's (or run's). A step is one tick of
//!   virtual time; while the guest is halted, nothing advances.

use unicorn_engine::{HookType, MemType, RegisterARM64 as R64, Unicorn};

use super::*;
use crate::cpu::aarch64::{self as core, PowerOnState, SysReg};

/// gdb's AArch64 register numbers (features org.gnu.gdb.aarch64.core and
/// org.gnu.gdb.aarch64.fpu): x0-x30 are 0-30.
const SP: usize = 31;
const PC: usize = 32;
const CPSR: usize = 33;
const V0: usize = 34;
const FPSR: usize = 66;
const FPCR: usize = 67;
/// The system registers below follow, in their order.
const FIRST_SYSTEM: usize = 68;

const SCTLR_EL1: SysReg = core::sysreg(3, 0, 1, 0, 0);
const TCR_EL1: SysReg = core::sysreg(3, 0, 2, 0, 2);
const CONTEXTIDR_EL1: SysReg = core::sysreg(3, 0, 13, 0, 1);

/// PSTATE.I: IRQs masked.
const PSTATE_I: u64 = 1 << 7;
/// Virtual memory is split into pieces of this size, which no mapping
/// (page or block, any granule) is smaller than.
const PIECE: u64 = 4096;

/// How a system register is reached.
#[derive(Debug, Clone, Copy)]
enum System {
    /// Through the engine's register id.
    Reg(R64),
    /// Through the engine's system-register (MRS/MSR) interface.
    Cp(SysReg),
    /// SP_EL0 (false) or SP_EL1 (true): the live stack pointer while it is
    /// the one in use.
    Sp(bool),
    /// CurrentEL, read-only: PSTATE.EL in bits 3:2.
    CurrentEl,
    /// The generic timer, which the emulator models in virtual time.
    Timer(SysReg),
}

/// The system registers a debugger sees, as gdb names them.
const SYSTEM_REGISTERS: [(&str, System); 24] = [
    ("currentel", System::CurrentEl),
    ("sctlr_el1", System::Cp(SCTLR_EL1)),
    ("tcr_el1", System::Cp(TCR_EL1)),
    ("ttbr0_el1", System::Reg(R64::TTBR0_EL1)),
    ("ttbr1_el1", System::Reg(R64::TTBR1_EL1)),
    ("mair_el1", System::Reg(R64::MAIR_EL1)),
    ("vbar_el1", System::Reg(R64::VBAR_EL1)),
    ("esr_el1", System::Reg(R64::ESR_EL1)),
    ("far_el1", System::Reg(R64::FAR_EL1)),
    ("elr_el1", System::Cp(core::ELR_EL1)),
    ("spsr_el1", System::Cp(core::SPSR_EL1)),
    ("sp_el0", System::Sp(false)),
    ("sp_el1", System::Sp(true)),
    ("tpidr_el0", System::Reg(R64::TPIDR_EL0)),
    ("tpidr_el1", System::Reg(R64::TPIDR_EL1)),
    ("contextidr_el1", System::Cp(CONTEXTIDR_EL1)),
    ("cpacr_el1", System::Reg(R64::CPACR_EL1)),
    ("par_el1", System::Reg(R64::PAR_EL1)),
    ("cntfrq_el0", System::Timer(core::CNTFRQ_EL0)),
    ("cntvct_el0", System::Timer(core::CNTVCT_EL0)),
    ("cntv_ctl_el0", System::Timer(core::CNTV_CTL_EL0)),
    ("cntv_cval_el0", System::Timer(core::CNTV_CVAL_EL0)),
    ("cntp_ctl_el0", System::Timer(core::CNTP_CTL_EL0)),
    ("cntp_cval_el0", System::Timer(core::CNTP_CVAL_EL0)),
];

/// A watchpoint gdb set: its virtual range and the physical pieces
/// (virtual address, physical address, length) watched for it.
struct Watch {
    va: u64,
    len: u64,
    kind: WatchKind,
    pieces: Vec<(u64, u64, u64)>,
}

/// The AArch64 core's debugger state (part of `a64::A64`).
#[derive(Default)]
pub(super) struct DebugState {
    watches: Vec<Watch>,
    /// The CPU as it was before the access a watchpoint stopped, to be
    /// put back once the engine has stopped.
    before_access: Option<PowerOnState>,
    /// The engine's instruction counter is installed (the last run was a
    /// step): code translated since counts instructions.
    counting: bool,
}

fn debug_of(hw: &mut Hw) -> &mut DebugState {
    &mut hw.a64.as_mut().expect("an AArch64 machine").debug
}

/// Is SP_EL1 (rather than SP_EL0) the stack pointer in use?
fn on_sp_el1(pstate: u64) -> bool {
    (pstate >> 2) & 3 != 0 && pstate & 1 != 0
}

/// The registers that say how the EL1&0 regime translates addresses.
#[derive(Debug, Clone, Copy, Default)]
struct Regime {
    sctlr: u64,
    tcr: u64,
    ttbr0: u64,
    ttbr1: u64,
}

/// Bits `lo..=hi` set.
fn bits(hi: u32, lo: u32) -> u64 {
    (u64::MAX >> (63 - hi)) & !((1u64 << lo) - 1)
}

/// The physical address at virtual address `va` (VMSAv8-64 stage 1,
/// ARM ARM D8), reading descriptors with `desc`; None where nothing is
/// mapped. Permissions and attributes are not looked at.
fn translate(r: &Regime, va: u64, desc: impl Fn(u64) -> Option<u64>) -> Option<u64> {
    if r.sctlr & 1 == 0 {
        return Some(va);
    }
    let upper = va >> 55 & 1 != 0;
    let tcr = r.tcr;
    // TxSZ, TBIx, EPDx, granule (log2) and table base of the range.
    let (tsz, tbi, epd, granule, ttbr) = if upper {
        let g = match (tcr >> 30) & 3 {
            1 => 14,
            3 => 16,
            _ => 12,
        };
        (tcr >> 16 & 0x3f, tcr >> 38 & 1, tcr >> 23 & 1, g, r.ttbr1)
    } else {
        let g = match (tcr >> 14) & 3 {
            1 => 16,
            2 => 14,
            _ => 12,
        };
        (tcr & 0x3f, tcr >> 37 & 1, tcr >> 7 & 1, g, r.ttbr0)
    };
    if epd != 0 {
        return None;
    }
    // Out-of-range sizes are taken as the nearest valid one, as the
    // engine does.
    let inputsize = 64 - tsz.clamp(16, 39) as u32;
    let top = if tbi != 0 { 55 } else { 63 };
    let range = bits(top, inputsize);
    if va & range != if upper { range } else { 0 } {
        return None;
    }
    let stride = granule - 3;
    let levels = (inputsize - granule).div_ceil(stride);
    let mut level = 4 - levels;
    let oa = bits(47, 12);
    let mut table = ttbr & bits(47, 1);
    loop {
        let low = granule + (3 - level) * stride;
        let width = (inputsize - low).min(stride);
        let index = (va >> low) & ((1 << width) - 1);
        let d = desc((table & !((8u64 << width) - 1)) + index * 8)?;
        let block_ok = match granule {
            12 => level == 1 || level == 2,
            _ => level == 2,
        };
        match d & 3 {
            3 if level < 3 => {
                table = d & oa & !((1 << granule) - 1);
                level += 1;
            }
            1 if block_ok => return Some((d & oa & !((1 << low) - 1)) | (va & ((1 << low) - 1))),
            3 => return Some((d & oa & !((1 << granule) - 1)) | (va & ((1 << granule) - 1))),
            _ => return None,
        }
    }
}

impl Machine {
    /// Whether the core is an AArch64 one.
    pub fn is_aarch64(&self) -> bool {
        self.uc.get_data().a64.is_some()
    }

    /// The program counter, whatever the core.
    pub fn debug_pc(&self) -> u64 {
        if self.is_aarch64() {
            self.uc.reg_read(R64::PC).unwrap_or(0)
        } else {
            self.pc() as u64
        }
    }

    /// Stop before the instruction at `addr` runs (a debugger breakpoint).
    pub fn debug_set_breakpoint(&mut self, addr: u64) -> Result<(), MachineError> {
        if !self.is_aarch64() {
            return self.set_breakpoint(addr as u32);
        }
        let hw = self.uc.get_data_mut();
        hw.breakpoints.insert(addr);
        if hw.break_hooks.insert(addr) {
            self.uc.add_code_hook(addr, addr, |uc, addr, _size| {
                let hw = uc.get_data_mut();
                if hw.breakpoints.contains(&addr) && hw.skip_break.take_if(|a| *a == addr).is_none()
                {
                    Hw::request_stop(uc, CpuExit::Breakpoint);
                }
            })?;
            // Code translated without the hook must be translated again;
            // where it lies physically depends on the translation tables.
            self.uc.ctl_flush_tb()?;
        }
        Ok(())
    }

    pub fn debug_clear_breakpoint(&mut self, addr: u64) {
        if self.is_aarch64() {
            self.uc.get_data_mut().breakpoints.remove(&addr);
        } else {
            self.clear_breakpoint(addr as u32);
        }
    }

    /// Stop when the guest accesses `len` bytes at `addr` as `kind` says
    /// (a debugger watchpoint), before the accessing instruction completes.
    pub fn debug_set_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> Result<(), MachineError> {
        if !self.is_aarch64() {
            return self.set_watchpoint(addr as u32, len as u32, kind);
        }
        let pieces = self
            .a64_pieces(addr, len.max(1))
            .ok_or_else(|| MachineError::Device(format!("0x{addr:x} is not mapped")))?;
        let mut hooked = false;
        for &(_, pa, n) in &pieces {
            for (first, last, write) in self.uc.get_data_mut().watch.insert(pa, n, kind) {
                let ty = if write {
                    HookType::MEM_WRITE
                } else {
                    HookType::MEM_READ
                };
                self.uc.add_mem_hook(ty, first, last, watch_hook)?;
                hooked = true;
            }
        }
        if hooked {
            // Hooks apply to code translated from now on.
            self.uc.ctl_flush_tb()?;
        }
        debug_of(self.uc.get_data_mut()).watches.push(Watch {
            va: addr,
            len,
            kind,
            pieces,
        });
        Ok(())
    }

    /// Remove a watchpoint set with the same arguments; false if none was.
    pub fn debug_clear_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> bool {
        if !self.is_aarch64() {
            return self.clear_watchpoint(addr as u32, len as u32, kind);
        }
        let hw = self.uc.get_data_mut();
        let watches = &mut debug_of(hw).watches;
        let Some(i) = watches
            .iter()
            .position(|w| (w.va, w.len, w.kind) == (addr, len, kind))
        else {
            return false;
        };
        let w = watches.remove(i);
        for (_, pa, n) in w.pieces {
            hw.watch.remove(pa, n, kind);
        }
        true
    }

    pub fn debug_clear_watchpoints(&mut self) {
        self.clear_watchpoints();
        if self.is_aarch64() {
            debug_of(self.uc.get_data_mut()).watches.clear();
        }
    }

    /// Stopped at a watchpoint: the instruction at the PC has not made its
    /// access yet, and the next step makes it (a run would stop again).
    pub fn debug_at_watch_hit(&self) -> bool {
        if !self.is_aarch64() {
            return self.at_watch_hit();
        }
        self.uc.get_data().watch.pending == Some(self.debug_pc())
    }

    /// The address a watchpoint hit reports, as the debugger set it.
    pub fn debug_watch_address(&self, hit: &WatchHit) -> u64 {
        let pa = hit.addr as u64;
        let Some(a) = self.uc.get_data().a64.as_ref() else {
            return pa;
        };
        a.debug
            .watches
            .iter()
            .flat_map(|w| &w.pieces)
            .find(|&&(_, p, n)| (p..p + n).contains(&pa))
            .map_or(pa, |&(va, p, _)| va + (pa - p))
    }

    /// Execute one instruction, or enter a pending exception and stop at
    /// its vector (its handler's first instruction).
    pub fn debug_step(&mut self) -> StopReason {
        if !self.is_aarch64() {
            return self.step();
        }
        let pc = self.debug_pc();
        let hw = self.uc.get_data_mut();
        // Stepping from a watchpoint's stop makes the access it stopped.
        let over_watch = hw.watch.pending.take();
        hw.watch.suspended = over_watch == Some(pc);
        hw.skip_break = Some(pc);
        hw.stepping = true;
        let stop = self.run_a64(Ticks::MAX);
        let hw = self.uc.get_data_mut();
        hw.stepping = false;
        hw.watch.suspended = false;
        if hw.skip_break == Some(pc) {
            hw.skip_break = None;
        }
        stop
    }

    /// Guest memory at the CPU's addresses (RAM, ROM; MMIO reads have their
    /// device side effects, as through a debug probe). None if any of it is
    /// not mapped.
    pub fn debug_read_memory(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if !self.is_aarch64() {
            return self.read_memory(u32::try_from(addr).ok()?, len);
        }
        let mut out = vec![0; len];
        let mut at = 0;
        for (_, pa, n) in self.a64_pieces(addr, len as u64)? {
            let n = n as usize;
            self.uc.mem_read(pa, &mut out[at..at + n]).ok()?;
            at += n;
        }
        Some(out)
    }

    /// Write guest memory at the CPU's addresses; nothing is written unless
    /// all of it is mapped.
    pub fn debug_write_memory(&mut self, addr: u64, data: &[u8]) -> bool {
        if !self.is_aarch64() {
            return u32::try_from(addr).is_ok_and(|a| self.write_memory(a, data));
        }
        let Some(pieces) = self.a64_pieces(addr, data.len() as u64) else {
            return false;
        };
        let mut at = 0;
        for (_, pa, n) in pieces {
            let n = n as usize;
            if self.uc.mem_write(pa, &data[at..at + n]).is_err() {
                return false;
            }
            at += n;
        }
        true
    }

    /// The physical address the CPU reaches at `va` now, if any.
    pub fn a64_translate(&self, va: u64) -> Option<u64> {
        let uc = &self.uc;
        let regime = Regime {
            sctlr: core::read_sys(uc, SCTLR_EL1),
            tcr: core::read_sys(uc, TCR_EL1),
            ttbr0: uc.reg_read(R64::TTBR0_EL1).unwrap_or(0),
            ttbr1: uc.reg_read(R64::TTBR1_EL1).unwrap_or(0),
        };
        let hw = uc.get_data();
        translate(&regime, va, |pa| {
            let mut d = [0u8; 8];
            hw.ram_read(pa, &mut d).then(|| u64::from_le_bytes(d))
        })
    }

    /// `len` bytes at virtual address `va` as pieces that are each
    /// physically contiguous: (virtual address, physical address, length).
    fn a64_pieces(&self, va: u64, len: u64) -> Option<Vec<(u64, u64, u64)>> {
        let mut pieces = Vec::new();
        let (mut at, mut left) = (va, len);
        while left > 0 {
            let n = (PIECE - at % PIECE).min(left);
            pieces.push((at, self.a64_translate(at)?, n));
            at = at.wrapping_add(n);
            left -= n;
        }
        Some(pieces)
    }

    /// The size in bytes of AArch64 register `n` in gdb's numbering:
    /// x0-x30, sp, pc, cpsr (0-33), v0-v31 (34-65), fpsr, fpcr (66, 67),
    /// then the system registers of `a64_system_registers` (68 on).
    pub fn a64_register_size(n: usize) -> Option<usize> {
        Some(match n {
            0..CPSR => 8,
            CPSR | FPSR | FPCR => 4,
            V0..FPSR => 16,
            _ if n - FIRST_SYSTEM < SYSTEM_REGISTERS.len() => 8,
            _ => return None,
        })
    }

    /// gdb's names of the system registers a debugger sees, in their order.
    pub fn a64_system_registers() -> impl Iterator<Item = &'static str> {
        SYSTEM_REGISTERS.iter().map(|r| r.0)
    }

    /// AArch64 register `n` (numbering as `a64_register_size`), as the
    /// little-endian bytes of its size.
    pub fn a64_read_register(&self, n: usize) -> Option<Vec<u8>> {
        let size = Self::a64_register_size(n)?;
        let uc = &self.uc;
        let rd = |r: R64| uc.reg_read(r).unwrap_or(0);
        let v = match n {
            0..SP => rd(core::xreg(n as u32)),
            SP => rd(R64::SP),
            PC => rd(R64::PC),
            CPSR => rd(R64::PSTATE),
            V0..FPSR => {
                let q = uc.reg_read_long(R64::Q0 as i32 + (n - V0) as i32).ok()?;
                return Some(q.to_vec());
            }
            FPSR => rd(R64::FPSR),
            FPCR => rd(R64::FPCR),
            _ => self.a64_read_system(SYSTEM_REGISTERS[n - FIRST_SYSTEM].1),
        };
        Some(v.to_le_bytes()[..size].to_vec())
    }

    fn a64_read_system(&self, reg: System) -> u64 {
        let uc = &self.uc;
        let pstate = uc.reg_read(R64::PSTATE).unwrap_or(0);
        match reg {
            System::Reg(r) => uc.reg_read(r).unwrap_or(0),
            System::Cp(r) => core::read_sys(uc, r),
            System::Sp(el1) if on_sp_el1(pstate) == el1 => uc.reg_read(R64::SP).unwrap_or(0),
            System::Sp(el1) => uc
                .reg_read(if el1 { R64::SP_EL1 } else { R64::SP_EL0 })
                .unwrap_or(0),
            System::CurrentEl => pstate & 0xc,
            System::Timer(r) => {
                let hw = uc.get_data();
                let a = hw.a64.as_ref().expect("an AArch64 machine");
                a.timer.read(r, hw.now)
            }
        }
    }

    /// Set AArch64 register `n` (numbering as `a64_register_size`) from the
    /// little-endian bytes of its size.
    pub fn a64_write_register(&mut self, n: usize, bytes: &[u8]) -> bool {
        if Self::a64_register_size(n) != Some(bytes.len()) {
            return false;
        }
        if (V0..FPSR).contains(&n) {
            return self
                .uc
                .reg_write_long(R64::Q0 as i32 + (n - V0) as i32, bytes)
                .is_ok();
        }
        let mut le = [0u8; 8];
        le[..bytes.len()].copy_from_slice(bytes);
        let v = u64::from_le_bytes(le);
        let uc = &mut self.uc;
        match n {
            0..SP => uc.reg_write(core::xreg(n as u32), v).is_ok(),
            SP => uc.reg_write(R64::SP, v).is_ok(),
            PC => uc.reg_write(R64::PC, v).is_ok(),
            CPSR => {
                let old = uc.reg_read(R64::PSTATE).unwrap_or(0);
                if (old ^ v) & !0xf000_0000 == 0 {
                    uc.reg_write(R64::NZCV, v).is_ok()
                } else {
                    // Writing PSTATE does not rebuild the engine's cached
                    // mode flags; a system-register write does.
                    let _ = uc.reg_write(R64::PSTATE, v);
                    let spsr = core::read_sys(uc, core::SPSR_EL1);
                    core::write_sys(uc, core::SPSR_EL1, spsr);
                    true
                }
            }
            FPSR => uc.reg_write(R64::FPSR, v).is_ok(),
            FPCR => uc.reg_write(R64::FPCR, v).is_ok(),
            _ => self.a64_write_system(SYSTEM_REGISTERS[n - FIRST_SYSTEM].1, v),
        }
    }

    fn a64_write_system(&mut self, reg: System, v: u64) -> bool {
        let uc = &mut self.uc;
        let pstate = uc.reg_read(R64::PSTATE).unwrap_or(0);
        let done = match reg {
            System::Reg(r) => uc.reg_write(r, v).is_ok(),
            System::Cp(r) => {
                core::write_sys(uc, r, v);
                true
            }
            System::Sp(el1) if on_sp_el1(pstate) == el1 => uc.reg_write(R64::SP, v).is_ok(),
            System::Sp(el1) => uc
                .reg_write(if el1 { R64::SP_EL1 } else { R64::SP_EL0 }, v)
                .is_ok(),
            System::CurrentEl => false,
            System::Timer(core::CNTFRQ_EL0 | core::CNTVCT_EL0) => false,
            System::Timer(r) => {
                let hw = uc.get_data_mut();
                let now = hw.now;
                hw.a64
                    .as_mut()
                    .expect("an AArch64 machine")
                    .timer
                    .write(r, v, now);
                // The loop recomputes the timer's deadline and lines.
                hw.attention = true;
                true
            }
        };
        // A translation register may have changed.
        let _ = uc.ctl_flush_tlb();
        done
    }

    /// The run loop is about to run the CPU at `pc` (`irq`: the interrupt
    /// controller's output). Returns true when that is a step and it is
    /// done already: a pending interrupt was entered.
    pub(super) fn a64_before_run(&mut self, pc: u64, irq: bool) -> bool {
        let hw = self.uc.get_data_mut();
        if hw.skip_break != Some(pc) {
            hw.skip_break = None;
        }
        if !hw.stepping {
            // Running with no count removes the engine's counter.
            debug_of(hw).counting = false;
            return false;
        }
        hw.stop_at = Ticks::MAX;
        hw.limit = 0;
        let pstate = self.uc.reg_read(R64::PSTATE).unwrap_or(0);
        if irq && pstate & PSTATE_I == 0 && (pstate >> 2) & 3 <= 1 {
            // The core would take the (virtual) IRQ before the instruction:
            // enter it here, so that the step ends on its vector. An IRQ
            // leaves ESR_EL1 as it was; its slot is 0x80 after the
            // synchronous one of the same vector group.
            let esr = self.uc.reg_read(R64::ESR_EL1).unwrap_or(0);
            core::enter_el1(&mut self.uc, esr as u32, None, pc);
            let vector = self.uc.reg_read(R64::PC).unwrap_or(0);
            let _ = self.uc.reg_write(R64::PC, vector + 0x80);
            self.uc.get_data_mut().sleeping = false;
            return true;
        }
        let debug = debug_of(self.uc.get_data_mut());
        if !debug.counting {
            // The engine's instruction count applies only to code
            // translated after it is asked for.
            debug.counting = true;
            let _ = self.uc.ctl_flush_tb();
        }
        false
    }

    /// The CPU returned by itself after running from `pc`: true if that
    /// is the end of a step, false if it executed WFI.
    pub(super) fn a64_step_done(&self, pc: u64) -> bool {
        const WFI: [u8; 4] = 0xd503_207fu32.to_le_bytes();
        self.uc.get_data().stepping && self.debug_read_memory(pc, 4) != Some(WFI.to_vec())
    }

    /// After the CPU ran: true if that was a step (it took a tick).
    pub(super) fn a64_stepped(&mut self) -> bool {
        let hw = self.uc.get_data_mut();
        if hw.stepping {
            hw.now += 1;
        }
        hw.stepping
    }

    /// A debugger's breakpoint or watchpoint stopped the CPU.
    pub(super) fn a64_debug_stop(&mut self, exit: CpuExit) -> StopReason {
        let hw = self.uc.get_data_mut();
        if let CpuExit::Watchpoint { hit, undo, .. } = exit {
            // Undo what the access did: the instruction has not run.
            if let Some((addr, bytes)) = undo {
                hw.ram_write(addr, &bytes);
            }
            if let Some(before) = debug_of(hw).before_access.take() {
                before.restore(&mut self.uc);
            }
            let pc = self.debug_pc();
            self.uc.get_data_mut().watch.pending = Some(pc);
            return StopReason::Watchpoint { pc: pc as u32, hit };
        }
        let pc = self.debug_pc();
        self.uc.get_data_mut().skip_break = Some(pc);
        StopReason::Breakpoint { pc: pc as u32 }
    }
}

/// A watched physical range was accessed: stop if a watchpoint covers the
/// access, keeping what is needed to undo it.
fn watch_hook(uc: &mut Unicorn<'_, Hw>, mem: MemType, addr: u64, size: usize, _value: i64) -> bool {
    let hw = uc.get_data();
    let write = mem == MemType::WRITE;
    if hw.stopping {
        return true;
    }
    let Some(hit) = hw.watch.hit(addr, size, write) else {
        return true;
    };
    let mut old = vec![0; size];
    let undo = (write && hw.ram_read(addr, &mut old)).then_some((addr, old));
    // The engine has synced the PC to the accessing instruction, and the
    // registers are as before it.
    let before = PowerOnState::save(uc).ok();
    debug_of(uc.get_data_mut()).before_access = before;
    Hw::request_stop(uc, CpuExit::Watchpoint { hit, pc: 0, undo });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicorn_engine::{Arch, Mode, Prot};

    const RAM: u64 = 0x4000_0000;

    /// Translation tables in a scratch engine's RAM, built the way a guest
    /// builds them, and the engine's own walk to compare with.
    struct Tables {
        uc: Unicorn<'static, ()>,
        next: u64,
    }

    impl Tables {
        fn new() -> Tables {
            let mut uc = Unicorn::new(Arch::ARM64, Mode::ARM).unwrap();
            uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::A53 as i32)
                .unwrap();
            uc.mem_map(RAM, 16 << 20, Prot::ALL).unwrap();
            core::reset_to_el1(&mut uc, RAM, 0);
            Tables {
                uc,
                next: RAM + (1 << 20),
            }
        }

        /// A zeroed table of `granule` bytes.
        fn table(&mut self, granule: u64) -> u64 {
            let t = self.next.next_multiple_of(granule);
            self.next = t + granule;
            t
        }

        fn rd(&self, pa: u64) -> u64 {
            let mut b = [0u8; 8];
            self.uc.mem_read(pa, &mut b).unwrap();
            u64::from_le_bytes(b)
        }

        /// Map `va` to `pa` with a descriptor at `leaf` level (a block
        /// above level 3), from the table at `root`.
        fn map(&mut self, root: u64, r: &Regime, va: u64, pa: u64, leaf: u32) {
            let upper = va >> 55 & 1 != 0;
            let (tsz, tg) = if upper {
                (
                    r.tcr >> 16 & 0x3f,
                    [12, 14, 12, 16][(r.tcr >> 30 & 3) as usize],
                )
            } else {
                (r.tcr & 0x3f, [12, 16, 14, 12][(r.tcr >> 14 & 3) as usize])
            };
            let inputsize = 64 - tsz as u32;
            let stride = tg - 3;
            let mut level = 4 - (inputsize - tg).div_ceil(stride);
            let mut table = root;
            loop {
                let low = tg + (3 - level) * stride;
                let width = (inputsize - low).min(stride);
                let at = table + ((va >> low) & ((1 << width) - 1)) * 8;
                if level == leaf {
                    let d = pa | 0x400 | if level == 3 { 3 } else { 1 };
                    self.uc.mem_write(at, &d.to_le_bytes()).unwrap();
                    return;
                }
                let mut d = self.rd(at);
                if d & 3 != 3 {
                    d = self.table(1 << tg) | 3;
                    self.uc.mem_write(at, &d.to_le_bytes()).unwrap();
                }
                table = d & bits(47, tg);
                level += 1;
            }
        }

        fn enable(&mut self, r: &Regime) {
            core::write_sys(&mut self.uc, TCR_EL1, r.tcr);
            self.uc.reg_write(R64::TTBR0_EL1, r.ttbr0).unwrap();
            self.uc.reg_write(R64::TTBR1_EL1, r.ttbr1).unwrap();
            self.uc.reg_write(R64::MAIR_EL1, 0xff).unwrap();
            core::write_sys(&mut self.uc, SCTLR_EL1, r.sctlr);
            self.uc.ctl_flush_tlb().unwrap();
        }

        fn ours(&self, r: &Regime, va: u64) -> Option<u64> {
            translate(r, va, |pa| Some(self.rd(pa)))
        }

        fn engines(&mut self, va: u64) -> Option<u64> {
            self.uc.vmem_translate(va, Prot::READ).ok()
        }
    }

    /// TCR_EL1 for the two ranges: T0SZ, TG0 (as encoded), T1SZ, TG1, a
    /// 40-bit output size, and TBI0.
    fn tcr(t0sz: u64, tg0: u64, t1sz: u64, tg1: u64) -> u64 {
        t0sz | tg0 << 14 | t1sz << 16 | tg1 << 30 | 2 << 32 | 1 << 37
    }

    /// Build tables for each granule and both ranges, and compare our walk
    /// with the engine's (QEMU's) at mapped and unmapped addresses.
    #[test]
    fn walks_as_the_engine_does() {
        // (TCR, which levels to map at, addresses): 4 KiB with 48-bit
        // ranges, 16 KiB with 47/42-bit ones, 64 KiB with 42/48-bit ones.
        let cases: [(u64, &[u32]); 3] = [
            (tcr(16, 0b00, 16, 0b10), &[3, 2, 1]),
            (tcr(17, 0b10, 22, 0b01), &[3, 2]),
            (tcr(22, 0b01, 16, 0b11), &[3, 2]),
        ];
        for (tcr, leaves) in cases {
            let mut t = Tables::new();
            let granule = if tcr >> 14 & 3 == 1 { 1 << 16 } else { 1 << 12 };
            let mut r = Regime {
                sctlr: 1,
                tcr,
                ..Default::default()
            };
            r.ttbr0 = t.table(1 << 16);
            r.ttbr1 = t.table(1 << 16);
            let lo_size = 1u64 << (64 - (tcr & 0x3f));
            let mut probes = Vec::new();
            for (i, &leaf) in leaves.iter().enumerate() {
                let i = i as u64 + 1;
                // A page or block near the top of the lower range, and one
                // in the upper range.
                let lo = (lo_size - (i << 30)) & !0x3fff_ffff;
                let hi = 0xffff_ff80_0000_0000 | (i << 30);
                // Aligned for the largest block (the bits below a block's
                // size are RES0 in its descriptor).
                let pa = RAM;
                t.map(r.ttbr0, &r, lo, pa, leaf);
                t.map(r.ttbr1, &r, hi, pa, leaf);
                probes.extend([lo + 0x123, lo + granule + 8, hi + 0x7f8, hi + 0x20_0010]);
            }
            // Unmapped, out of range, and tagged (TBI0) addresses.
            probes.extend([
                0x1000,
                lo_size,
                0x1234_0000_0000_0000,
                0x8000_0000_0000_0000,
                0x5a00_0000_0000_0000 | ((lo_size - (1 << 30)) & !0x3fff_ffff) + 0x40,
            ]);
            t.enable(&r);
            for va in probes {
                let ours = t.ours(&r, va);
                assert_eq!(ours, t.engines(va), "TCR {tcr:#x}, VA {va:#x}");
            }
            // Something was mapped in every case.
            assert!(t.ours(&r, (lo_size - (1 << 30)) & !0x3fff_ffff).is_some());
        }
    }

    #[test]
    fn mmu_off_is_flat() {
        let r = Regime::default();
        assert_eq!(translate(&r, 0x4008_0000, |_| None), Some(0x4008_0000));
    }

    #[test]
    fn register_numbers() {
        assert_eq!(Machine::a64_register_size(0), Some(8));
        assert_eq!(Machine::a64_register_size(PC), Some(8));
        assert_eq!(Machine::a64_register_size(CPSR), Some(4));
        assert_eq!(Machine::a64_register_size(V0 + 31), Some(16));
        assert_eq!(Machine::a64_register_size(FPCR), Some(4));
        let last = FIRST_SYSTEM + SYSTEM_REGISTERS.len();
        assert_eq!(Machine::a64_register_size(last - 1), Some(8));
        assert_eq!(Machine::a64_register_size(last), None);
        assert_eq!(Machine::a64_system_registers().next(), Some("currentel"));
    }
}
