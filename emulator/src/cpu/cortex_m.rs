//! The ARMv7-M exception model on top of Unicorn: entry (stacking, the
//! extended FP frame, EXC_RETURN), return (unstacking), and fault
//! escalation. Unicorn delivers none of these itself (see UNICORN.md); the
//! run loop calls in here at block boundaries.
//! Reference: ARMv7-M ARM (DDI 0403E) B1.5.6-B1.5.8 (ExceptionEntry,
//! PushStack, ExceptionReturn, PopStack).

use std::ffi::c_void;

use unicorn_engine::hook::sys;
use unicorn_engine::{RegisterARM as R, Unicorn};

use super::scs::*;
use crate::machine::{exception_name, Hw};

const CONTROL_NPRIV: u32 = 1;
const CONTROL_SPSEL: u32 = 2;
const CONTROL_FPCA: u32 = 4;
const XPSR_ALIGN: u32 = 1 << 9;
const XPSR_T: u32 = 1 << 24;

/// How an exception could not be taken: the core locks up (B1.5.15) or the
/// stack it needs is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    Lockup(&'static str),
    Stacking(u32),
}

/// The banked stack pointers and mode bits, read consistently whatever the
/// privilege of the running code.
#[derive(Debug, Clone, Copy)]
pub struct ModeState {
    pub ipsr: u32,
    pub control: u32,
    pub msp: u32,
    pub psp: u32,
}

fn rd(uc: &Unicorn<'_, Hw>, r: R) -> u32 {
    uc.reg_read(r).unwrap_or(0) as u32
}

fn wr(uc: &mut Unicorn<'_, Hw>, r: R, v: u32) {
    let _ = uc.reg_write(r, v as u64);
}

/// Read 32-bit registers in one engine call (exception entry and return
/// are dozens of register accesses, each a call through the engine's API).
fn rd_n<const N: usize>(uc: &Unicorn<'_, Hw>, regs: [R; N]) -> [u32; N] {
    let ids: [i32; N] = regs.map(|r| r as i32);
    let mut vals = [0u64; N];
    let mut ptrs = [std::ptr::null_mut::<c_void>(); N];
    for (p, v) in ptrs.iter_mut().zip(vals.iter_mut()) {
        *p = v as *mut u64 as *mut c_void;
    }
    // SAFETY: N register ids and N pointers to 8-byte slots, each wider
    // than the 32-bit value the engine stores there, on a live handle.
    unsafe { sys::uc_reg_read_batch(uc.get_handle(), ids.as_ptr(), ptrs.as_mut_ptr(), N as i32) };
    vals.map(|v| v as u32)
}

/// Write 32-bit registers in order, in one engine call. Never the PC: a
/// batched PC write from a hook would be overwritten when the engine
/// leaves the block (`reg_write` of the PC tells it not to).
fn wr_n<const N: usize>(uc: &mut Unicorn<'_, Hw>, regs: [R; N], vals: [u32; N]) {
    let ids: [i32; N] = regs.map(|r| r as i32);
    let vals: [u64; N] = vals.map(|v| v as u64);
    let mut ptrs = [std::ptr::null_mut::<c_void>(); N];
    for (p, v) in ptrs.iter_mut().zip(vals.iter()) {
        *p = v as *const u64 as *mut c_void;
    }
    // SAFETY: N register ids and N pointers to values the engine reads
    // as 32 bits (little-endian low half), on a live handle.
    unsafe { sys::uc_reg_write_batch(uc.get_handle(), ids.as_ptr(), ptrs.as_ptr(), N as i32) };
}

/// Read MSP/PSP/CONTROL/IPSR. Unprivileged thread code cannot read the
/// banked stack pointers through Unicorn's MRS path, so step into handler
/// mode for the read and back (QEMU swaps r13 on both writes).
pub fn read_mode(uc: &mut Unicorn<'_, Hw>) -> ModeState {
    // (Reading MSP and PSP has no side effect; unprivileged, they read 0.)
    let [control, ipsr, msp, psp] = rd_n(uc, [R::CONTROL, R::IPSR, R::MSP, R::PSP]);
    let ipsr = ipsr & 0x1ff;
    let (msp, psp) = if ipsr == 0 && control & CONTROL_NPRIV != 0 {
        wr(uc, R::IPSR, 1);
        let v = (rd(uc, R::MSP), rd(uc, R::PSP));
        wr(uc, R::IPSR, 0);
        v
    } else {
        (msp, psp)
    };
    ModeState {
        ipsr,
        control,
        msp,
        psp,
    }
}

/// Put the core into a given mode with given stack pointers, from any
/// state. The order matters: QEMU ignores SPSEL writes in handler mode and
/// all CONTROL writes from unprivileged code, so pass through privileged
/// thread mode with SPSEL clear, where every write lands.
pub fn write_mode(uc: &mut Unicorn<'_, Hw>, m: ModeState) {
    wr(uc, R::IPSR, 1); // handler: privileged, r13 = MSP
    wr(uc, R::CONTROL, 0); // clears nPRIV and FPCA (SPSEL ignored here)
    wr(uc, R::IPSR, 0); // thread, privileged
    wr(uc, R::CONTROL, 0); // SPSEL = 0: r13 = MSP
    wr(uc, R::MSP, m.msp);
    wr(uc, R::PSP, m.psp);
    let control = if m.ipsr != 0 {
        m.control & !CONTROL_SPSEL
    } else {
        m.control
    };
    wr(uc, R::CONTROL, control);
    wr(uc, R::IPSR, m.ipsr);
    rebuild_flags(uc);
}

/// Move from mode `from` (as `read_mode` saw it) to `to` with the fewest
/// engine calls: while the core is privileged every write lands directly,
/// in an order that respects QEMU's banking (SPSEL only changes in thread
/// mode; in handler mode r13 is MSP). Unprivileged thread code takes the
/// general path.
fn change_mode(uc: &mut Unicorn<'_, Hw>, from: ModeState, to: ModeState) {
    let to_control = if to.ipsr != 0 {
        to.control & !CONTROL_SPSEL
    } else {
        to.control
    };
    if from.ipsr != 0 {
        // Handler mode: SPSEL is clear, r13 is MSP, other SP is PSP.
        wr(uc, R::MSP, to.msp);
        wr(uc, R::PSP, to.psp);
        if to.ipsr == 0 {
            // Thread mode must be entered privileged for the CONTROL write
            // that follows to land; nPRIV can be cleared from handler mode.
            if from.control & CONTROL_NPRIV != 0 {
                wr(uc, R::CONTROL, from.control & !CONTROL_NPRIV);
            }
            wr(uc, R::IPSR, 0); // thread, SPSEL still clear: no swap
            wr(uc, R::CONTROL, to_control); // SPSEL and nPRIV land here
        } else {
            if to_control != from.control {
                wr(uc, R::CONTROL, to_control);
            }
            wr(uc, R::IPSR, to.ipsr);
        }
    } else if from.control & CONTROL_NPRIV == 0 {
        // Privileged thread mode: CONTROL first (SPSEL may swap r13), then
        // the stack pointers by name, then into handler mode.
        if to_control != from.control {
            wr(uc, R::CONTROL, to_control);
        }
        wr(uc, R::MSP, to.msp);
        wr(uc, R::PSP, to.psp);
        if to.ipsr != 0 {
            wr(uc, R::IPSR, to.ipsr);
        }
    } else {
        write_mode(uc, to);
        return;
    }
    rebuild_flags(uc);
}

/// Writing IPSR does not rebuild QEMU's cached translation flags (handler
/// mode, privilege); an NZCV write does.
fn rebuild_flags(uc: &mut Unicorn<'_, Hw>) {
    let nzcv = rd(uc, R::APSR);
    wr(uc, R::APSR_NZCV, nzcv);
}

/// Write PRIMASK, BASEPRI or FAULTMASK whatever the privilege of the
/// running code (Unicorn drops the write from unprivileged thread mode).
pub fn write_mask_register(uc: &mut Unicorn<'_, Hw>, r: R, v: u32) {
    let m = read_mode(uc);
    if m.ipsr == 0 && m.control & CONTROL_NPRIV != 0 {
        wr(uc, R::IPSR, 1);
        wr(uc, r, v);
        wr(uc, R::IPSR, 0);
        rebuild_flags(uc);
    } else {
        wr(uc, r, v);
    }
}

fn read_execution_masks(uc: &Unicorn<'_, Hw>) -> (bool, bool, u32) {
    let [primask, faultmask, basepri] = rd_n(uc, [R::PRIMASK, R::FAULTMASK, R::BASEPRI]);
    (primask & 1 != 0, faultmask & 1 != 0, basepri)
}

/// The exception the core would take now, if any.
pub fn exception_to_take(uc: &Unicorn<'_, Hw>) -> Option<usize> {
    let (pm, fm, bp) = read_execution_masks(uc);
    uc.get_data().scs.to_take(pm, fm, bp)
}

pub fn wakes_from_wfi(uc: &Unicorn<'_, Hw>) -> bool {
    let (_, fm, bp) = read_execution_masks(uc);
    uc.get_data().scs.wakes_from_wfi(fm, bp)
}

/// The most words a frame access moves (the extended FP frame's part).
const MAX_WORDS: usize = 26;

/// Write a stack frame. Into RAM it goes straight to the backing store,
/// and translations of code there are dropped, as the engine's own write
/// does (which costs several address-space walks); anything else takes
/// the engine's path.
fn write_words(uc: &mut Unicorn<'_, Hw>, addr: u32, words: &[u32]) -> Result<(), EntryError> {
    let mut buf = [0u8; MAX_WORDS * 4];
    let bytes = &mut buf[..words.len() * 4];
    for (b, w) in bytes.chunks_exact_mut(4).zip(words) {
        b.copy_from_slice(&w.to_le_bytes());
    }
    if uc.get_data_mut().ram_write(addr as u64, bytes) {
        let _ = uc.ctl_remove_cache(addr as u64, addr as u64 + bytes.len() as u64);
        return Ok(());
    }
    uc.mem_write(addr as u64, bytes)
        .map_err(|_| EntryError::Stacking(addr))
}

/// Read `N` words (a frame, a vector), from RAM or ROM directly when
/// they are there.
fn read_words<const N: usize>(uc: &Unicorn<'_, Hw>, addr: u32) -> Option<[u32; N]> {
    let mut buf = [0u8; MAX_WORDS * 4];
    let bytes = &mut buf[..N * 4];
    if !uc.get_data().ram_read(addr as u64, bytes) {
        uc.mem_read(addr as u64, bytes).ok()?;
    }
    let mut words = [0u32; N];
    for (w, b) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    Some(words)
}

/// Take exception `exc` now: push the frame for the interrupted context,
/// whose next instruction is at `return_pc`, and branch to the handler.
pub fn enter(uc: &mut Unicorn<'_, Hw>, exc: usize, return_pc: u32) -> Result<(), EntryError> {
    let mode = read_mode(uc);
    let has_fpu = uc.get_data().scs.info.has_fpu;
    let fp_frame = has_fpu && mode.control & CONTROL_FPCA != 0;
    let on_psp = mode.ipsr == 0 && mode.control & CONTROL_SPSEL != 0;
    let sp = if on_psp { mode.psp } else { mode.msp };

    // PushStack: 8 words, or 26 with the FP extension; 8-byte alignment
    // recorded in the stacked xPSR bit 9.
    let frame_size = if fp_frame { 0x68 } else { 0x20 };
    let align8 = uc.get_data().scs.stack_align8();
    let pad = if align8 && sp & 4 != 0 { 4 } else { 0 };
    let frame = (sp.wrapping_sub(frame_size)) & !(pad as u32);
    let [xpsr, r0, r1, r2, r3, r12, lr] =
        rd_n(uc, [R::XPSR, R::R0, R::R1, R::R2, R::R3, R::R12, R::LR]);
    let stacked_xpsr = (xpsr & !XPSR_ALIGN) | if pad != 0 { XPSR_ALIGN } else { 0 };
    let words = [r0, r1, r2, r3, r12, lr, return_pc & !1, stacked_xpsr];
    write_words(uc, frame, &words)?;
    // Debugger watchpoints see the stacking (see `watch`).
    uc.get_data_mut().watch.frame_access(frame, 0x20, true);
    if fp_frame {
        // Registers are saved at once rather than lazily: the frame layout,
        // FPCAR and LSPACT are what guests can observe, and they match.
        // S0-S15 and FPSCR; the frame's last word is reserved, not written.
        let mut fp = [0u32; 17];
        for (i, v) in fp.iter_mut().take(16).enumerate() {
            *v = rd(uc, fp_reg(i));
        }
        fp[16] = rd(uc, R::FPSCR);
        write_words(uc, frame + 0x20, &fp)?;
        uc.get_data_mut()
            .watch
            .frame_access(frame + 0x20, 4 * fp.len() as u32, true);
        let scs = &mut uc.get_data_mut().scs;
        if scs.fpccr_lazy() {
            scs.fpcar = frame + 0x20;
            scs.fpccr |= FPCCR_LSPACT;
        }
    }

    let mut exc_return: u32 = if mode.ipsr != 0 {
        0xffff_fff1
    } else if on_psp {
        0xffff_fffd
    } else {
        0xffff_fff9
    };
    if fp_frame {
        exc_return &= !0x10;
    }

    let vtor = uc.get_data().scs.vtor;
    let vector = read_words::<1>(uc, vtor.wrapping_add(4 * exc as u32))
        .map(|v| v[0])
        .ok_or(EntryError::Lockup("vector table read failed"))?;

    let (msp, psp) = if on_psp {
        (mode.msp, frame)
    } else {
        (frame, mode.psp)
    };
    change_mode(
        uc,
        mode,
        ModeState {
            ipsr: exc as u32,
            control: mode.control & !(CONTROL_SPSEL | CONTROL_FPCA),
            msp,
            psp,
        },
    );
    wr(uc, R::LR, exc_return);
    // EPSR.T comes from bit 0 of the vector; IT state is cleared.
    wr(uc, R::EPSR, if vector & 1 != 0 { XPSR_T } else { 0 });
    let _ = uc.reg_write(R::PC, (vector & !1) as u64 | (vector & 1) as u64);
    let hw = uc.get_data_mut();
    hw.scs.acknowledge(exc);
    hw.event_register = true;
    Ok(())
}

pub fn fp_reg(i: usize) -> R {
    const S: [R; 32] = [
        R::S0,
        R::S1,
        R::S2,
        R::S3,
        R::S4,
        R::S5,
        R::S6,
        R::S7,
        R::S8,
        R::S9,
        R::S10,
        R::S11,
        R::S12,
        R::S13,
        R::S14,
        R::S15,
        R::S16,
        R::S17,
        R::S18,
        R::S19,
        R::S20,
        R::S21,
        R::S22,
        R::S23,
        R::S24,
        R::S25,
        R::S26,
        R::S27,
        R::S28,
        R::S29,
        R::S30,
        R::S31,
    ];
    S[i]
}

/// What an exception return did.
#[derive(Debug, PartialEq, Eq)]
pub enum Returned {
    ToThread,
    ToHandler,
}

/// Return from the current exception through `exc_return` (the value the
/// handler branched to). Errors are usage faults the caller raises.
pub fn exception_return(uc: &mut Unicorn<'_, Hw>, exc_return: u32) -> Result<Returned, u32> {
    let mode = read_mode(uc);
    let returning = mode.ipsr as usize;
    let has_fpu = uc.get_data().scs.info.has_fpu;
    let kind = exc_return & 0xf;
    let fp_frame = exc_return & 0x10 == 0;
    if returning == 0
        || !uc.get_data().scs.is_active(returning)
        || !matches!(kind, 0x1 | 0x9 | 0xd)
        || (fp_frame && !has_fpu)
        || exc_return >> 5 != 0x07ff_ffff
    {
        return Err(CFSR_INVPC);
    }
    let to_thread = kind != 0x1;
    let on_psp = kind == 0xd;
    let frame = if on_psp { mode.psp } else { mode.msp };

    let words = read_words::<8>(uc, frame).ok_or(CFSR_INVPC)?;
    // Debugger watchpoints see the unstacking (see `watch`).
    uc.get_data_mut().watch.frame_access(frame, 0x20, false);
    let frame_size = if fp_frame { 0x68 } else { 0x20 };
    if fp_frame {
        let fp = read_words::<17>(uc, frame + 0x20).ok_or(CFSR_INVPC)?;
        uc.get_data_mut()
            .watch
            .frame_access(frame + 0x20, 4 * 17, false);
        for (i, v) in fp.iter().take(16).enumerate() {
            wr(uc, fp_reg(i), *v);
        }
        wr(uc, R::FPSCR, fp[16]);
        uc.get_data_mut().scs.fpccr &= !FPCCR_LSPACT;
    }
    let xpsr = words[7];
    let new_sp = frame + frame_size + if xpsr & XPSR_ALIGN != 0 { 4 } else { 0 };

    let hw = uc.get_data_mut();
    let was_pending = hw.scs.is_pending(returning);
    hw.scs.complete(returning);
    if !was_pending && hw.scs.is_pending(returning) {
        let now = hw.now;
        hw.trace.exception_pended(now, returning, || {
            "its line still high at exception return".into()
        });
    }
    // Every exception return but NMI's clears FAULTMASK (B1.4.3); done
    // while still privileged in handler mode.
    if returning != EXC_NMI {
        wr(uc, R::FAULTMASK, 0);
    }
    let ipsr = if to_thread { 0 } else { xpsr & 0x1ff };
    let mut control = mode.control & !(CONTROL_SPSEL | CONTROL_FPCA);
    if on_psp {
        control |= CONTROL_SPSEL;
    }
    if fp_frame {
        control |= CONTROL_FPCA;
    }
    let (msp, psp) = if on_psp {
        (mode.msp, new_sp)
    } else {
        (new_sp, mode.psp)
    };
    change_mode(
        uc,
        mode,
        ModeState {
            ipsr,
            control,
            msp,
            psp,
        },
    );
    wr_n(
        uc,
        [R::R0, R::R1, R::R2, R::R3, R::R12, R::LR],
        [words[0], words[1], words[2], words[3], words[4], words[5]],
    );
    // APSR, GE and the execution state (T, IT) from the stacked xPSR.
    wr(uc, R::EAPSR_NZCVQG, xpsr);
    let pc = words[6];
    let _ = uc.reg_write(R::PC, ((pc & !1) | ((xpsr >> 24) & 1)) as u64);
    let hw = uc.get_data_mut();
    hw.scs.current = ipsr as usize;
    hw.event_register = true;
    Ok(if to_thread {
        Returned::ToThread
    } else {
        Returned::ToHandler
    })
}

/// Raise a synchronous fault `exc` with status bits already recorded by
/// the caller. Escalates to HardFault when the fault is disabled or cannot
/// preempt (B1.5.15); a fault at HardFault or NMI priority is a lockup.
pub fn raise_fault(uc: &mut Unicorn<'_, Hw>, exc: usize) -> Result<usize, EntryError> {
    let (pm, fm, bp) = read_execution_masks(uc);
    let hw = uc.get_data_mut();
    let scs = &mut hw.scs;
    let exec = scs.execution_priority(pm, fm, bp);
    let mut target = exc;
    if exc != EXC_HARDFAULT {
        let prio = scs.group(scs.priority(exc));
        if !scs.is_enabled(exc) || prio >= exec {
            target = EXC_HARDFAULT;
            scs.hfsr |= HFSR_FORCED;
        }
    }
    if target == EXC_HARDFAULT && exec <= -1 {
        return Err(EntryError::Lockup(
            "fault while at HardFault or NMI priority",
        ));
    }
    let was_pending = scs.is_pending(target);
    scs.set_pending(target);
    if !was_pending {
        let now = hw.now;
        hw.trace.exception_pended(now, target, || match exc {
            _ if target != exc => format!("{} escalated", exception_name(exc)),
            EXC_SVCALL => "SVC instruction".into(),
            _ => "synchronous fault".into(),
        });
    }
    Ok(target)
}
