//! The AArch64 core's part of a machine snapshot. A saved engine context
//! cannot go into a file (it holds host pointers and QEMU's private
//! layout), so the CPU is saved register by register: general and SIMD
//! registers, the banked stack pointers, PSTATE, every EL1/EL0 system
//! register a kernel programs, the OS lock, the exclusive monitor, and
//! the emulator's own GIC, generic timer and power state. EL2 and EL3 are
//! the emulator's fixed scaffolding (`reset_to_el1`), except HCR_EL2,
//! whose VI bit carries the GIC's output.

use serde::{Deserialize, Serialize};
use unicorn_engine::RegisterARM64 as R64;

use super::a64::A64Snapshot;
use super::*;
use crate::cpu::aarch64::{self as core, sysreg, ExclusiveMonitor, SysReg};

/// System registers saved by value: read and written raw through the
/// engine's system-register interface, in this order.
const SYSTEM_REGISTERS: &[SysReg] = &[
    sysreg(3, 0, 1, 0, 0),   // SCTLR_EL1
    sysreg(3, 0, 1, 0, 1),   // ACTLR_EL1
    sysreg(3, 0, 1, 0, 2),   // CPACR_EL1
    sysreg(3, 0, 2, 0, 0),   // TTBR0_EL1
    sysreg(3, 0, 2, 0, 1),   // TTBR1_EL1
    sysreg(3, 0, 2, 0, 2),   // TCR_EL1
    sysreg(3, 0, 4, 0, 0),   // SPSR_EL1
    sysreg(3, 0, 4, 0, 1),   // ELR_EL1
    sysreg(3, 0, 5, 1, 0),   // AFSR0_EL1
    sysreg(3, 0, 5, 1, 1),   // AFSR1_EL1
    sysreg(3, 0, 5, 2, 0),   // ESR_EL1
    sysreg(3, 0, 6, 0, 0),   // FAR_EL1
    sysreg(3, 0, 7, 4, 0),   // PAR_EL1
    sysreg(3, 0, 10, 2, 0),  // MAIR_EL1
    sysreg(3, 0, 10, 3, 0),  // AMAIR_EL1
    sysreg(3, 0, 12, 0, 0),  // VBAR_EL1
    sysreg(3, 0, 13, 0, 1),  // CONTEXTIDR_EL1
    sysreg(3, 0, 13, 0, 4),  // TPIDR_EL1
    sysreg(3, 0, 14, 1, 0),  // CNTKCTL_EL1
    sysreg(3, 2, 0, 0, 0),   // CSSELR_EL1
    sysreg(3, 3, 13, 0, 2),  // TPIDR_EL0
    sysreg(3, 3, 13, 0, 3),  // TPIDRRO_EL0
    sysreg(3, 3, 9, 12, 0),  // PMCR_EL0
    sysreg(3, 3, 9, 14, 0),  // PMUSERENR_EL0
    sysreg(3, 3, 9, 12, 5),  // PMSELR_EL0
    sysreg(3, 3, 14, 15, 7), // PMCCFILTR_EL0
    sysreg(2, 0, 0, 2, 2),   // MDSCR_EL1
    sysreg(2, 0, 0, 2, 0),   // MDCCINT_EL1
    sysreg(2, 0, 1, 3, 4),   // OSDLR_EL1
    sysreg(3, 4, 1, 1, 0),   // HCR_EL2 (VI: the GIC's output)
];
/// OSLSR_EL1 is read-only; the lock is set through OSLAR_EL1.
const OSLSR_EL1: SysReg = sysreg(2, 0, 1, 1, 4);
const OSLAR_EL1: SysReg = sysreg(2, 0, 1, 0, 4);
const OSLSR_OSLK: u64 = 1 << 1;
/// Hardware breakpoint and watchpoint registers: DBGB{V,C}R<n>_EL1 at
/// op2 4/5 and DBGW{V,C}R<n>_EL1 at op2 6/7, CRm = n.
const DEBUG_PAIRS: u32 = 16;
const ID_AA64DFR0_EL1: SysReg = sysreg(3, 0, 0, 5, 0);

#[derive(Serialize, Deserialize)]
pub(super) struct SavedCpu {
    /// x0-x30, then SP, PC, PSTATE.
    x: Vec<u64>,
    sp_el0: u64,
    sp_el1: u64,
    /// v0-v31, 16 bytes each.
    v: Vec<u8>,
    fpcr: u64,
    fpsr: u64,
    /// (op0, op1, CRn, CRm, op2) and value, of the registers the engine has.
    system: Vec<(SysReg, u64)>,
    os_lock: bool,
    exclusive: [u64; 3],
    machine: A64Snapshot,
}

/// The core and its interrupt controller, timer and power state.
pub(super) fn save(uc: &Unicorn<'_, Hw>) -> Result<SavedCpu, String> {
    let rd = |r: R64| uc.reg_read(r).unwrap_or(0);
    let mut x: Vec<u64> = (0..31).map(|n| rd(core::xreg(n))).collect();
    x.extend([rd(R64::SP), rd(R64::PC), rd(R64::PSTATE)]);
    let mut v = Vec::with_capacity(32 * 16);
    for n in 0..32 {
        let reg = vreg(n);
        let bytes = uc.reg_read_long(reg).map_err(|e| format!("v{n}: {e:?}"))?;
        let mut q = [0u8; 16];
        let k = bytes.len().min(16);
        q[..k].copy_from_slice(&bytes[..k]);
        v.extend_from_slice(&q);
    }
    let mut system = Vec::new();
    for &reg in SYSTEM_REGISTERS.iter().chain(debug_registers(uc).iter()) {
        let mut r = core::cp(reg);
        if uc.reg_read_arm64_coproc(&mut r).is_ok() {
            system.push((reg, r.val));
        }
    }
    let os_lock = core::read_sys(uc, OSLSR_EL1) & OSLSR_OSLK != 0;
    let exclusive = ExclusiveMonitor::locate()?.read(uc)?;
    let a = uc.get_data().a64.as_ref().expect("an AArch64 machine");
    Ok(SavedCpu {
        x,
        sp_el0: rd(R64::SP_EL0),
        sp_el1: rd(R64::SP_EL1),
        v,
        fpcr: rd(R64::FPCR),
        fpsr: rd(R64::FPSR),
        system,
        os_lock,
        exclusive,
        machine: a.snapshot(),
    })
}

/// Put the core back as [`save`] found it. The machine must be freshly
/// built (or reset): EL2/EL3 as `reset_to_el1` leaves them.
pub(super) fn restore(uc: &mut Unicorn<'_, Hw>, saved: &SavedCpu) -> Result<(), String> {
    if saved.x.len() != 34 || saved.v.len() != 32 * 16 {
        return Err("damaged snapshot: AArch64 register file".into());
    }
    let monitor = ExclusiveMonitor::locate()?;
    for (reg, value) in &saved.system {
        let mut r = core::cp(*reg);
        r.val = *value;
        uc.reg_write_arm64_coproc(&r)
            .map_err(|e| format!("system register {reg:?}: {e:?}"))?;
    }
    core::write_sys(uc, OSLAR_EL1, saved.os_lock as u64);
    for n in 0..32 {
        let q = &saved.v[n * 16..n * 16 + 16];
        uc.reg_write_long(vreg(n), q)
            .map_err(|e| format!("v{n}: {e:?}"))?;
    }
    let wr = |uc: &mut Unicorn<'_, Hw>, r: R64, v: u64| {
        let _ = uc.reg_write(r, v);
    };
    wr(uc, R64::FPCR, saved.fpcr);
    wr(uc, R64::FPSR, saved.fpsr);
    for n in 0..31 {
        wr(uc, core::xreg(n), saved.x[n as usize]);
    }
    // PSTATE selects the exception level and stack pointer; the banked
    // copies and the live SP are written as they were, whichever is live.
    wr(uc, R64::PSTATE, saved.x[33]);
    wr(uc, R64::SP_EL0, saved.sp_el0);
    wr(uc, R64::SP_EL1, saved.sp_el1);
    wr(uc, R64::SP, saved.x[31]);
    wr(uc, R64::PC, saved.x[32]);
    // Writing PSTATE does not rebuild QEMU's cached mode flags; a system
    // register written through the CP interface does.
    core::write_sys(uc, core::SPSR_EL1, saved_sys(saved, core::SPSR_EL1));
    monitor.write(uc, saved.exclusive)?;
    let _ = uc.ctl_flush_tlb();
    let _ = uc.ctl_flush_tb();
    let a = uc.get_data_mut().a64.as_mut().expect("an AArch64 machine");
    a.restore_snapshot(&saved.machine);
    Ok(())
}

fn saved_sys(saved: &SavedCpu, reg: SysReg) -> u64 {
    saved
        .system
        .iter()
        .find(|(r, _)| *r == reg)
        .map_or(0, |(_, v)| *v)
}

/// The core's breakpoint (op2 4, 5) and watchpoint (op2 6, 7) registers,
/// as many as ID_AA64DFR0_EL1 says it has.
fn debug_registers(uc: &Unicorn<'_, Hw>) -> Vec<SysReg> {
    let dfr0 = core::read_sys(uc, ID_AA64DFR0_EL1);
    let breakpoints = ((dfr0 >> 12) & 0xf) as u32 + 1;
    let watchpoints = ((dfr0 >> 20) & 0xf) as u32 + 1;
    let pairs = |count: u32, op2: u32| {
        (0..count.min(DEBUG_PAIRS))
            .flat_map(move |n| [sysreg(2, 0, 0, n, op2), sysreg(2, 0, 0, n, op2 + 1)])
    };
    pairs(breakpoints, 4).chain(pairs(watchpoints, 6)).collect()
}

/// Register id of Vn in Unicorn's numbering (V0..V31 are consecutive).
fn vreg(n: usize) -> R64 {
    let id = R64::V0 as i32 + n as i32;
    debug_assert!(n < 32);
    // SAFETY: `RegisterARM64` is a C-like enum over i32 and V0..V31 are
    // consecutive values in it.
    unsafe { std::mem::transmute::<i32, R64>(id) }
}
