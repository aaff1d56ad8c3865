//! The AArch64 core's parts that Unicorn leaves out (see UNICORN.md):
//! synchronous exception entry, the generic timer in virtual time, and
//! PSCI. The guest runs at non-secure EL1 with EL2 and EL3 present but
//! unused, so the GIC's output drives the CPU through HCR_EL2.VI and QEMU's
//! own code takes the (virtual) IRQ.
//!
//! Unicorn drops synchronous exceptions after calling the interrupt hook,
//! but QEMU has already computed their syndrome and faulting address in
//! its CPU state (`env->exception`). That state is part of what
//! `uc_context_save` copies; where it sits in the copy is found once per
//! process by raising two known exceptions in a scratch engine (see
//! `SyndromeProbe`), so nothing depends on guessing a C struct's layout.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use unicorn_engine::hook::sys;
use unicorn_engine::{Arch, Mode, Prot, RegisterARM64 as R, RegisterARM64CP, Unicorn};

/// QEMU's exception numbers as the interrupt hook reports them.
pub const EXCP_UDEF: u32 = 1;
pub const EXCP_SWI: u32 = 2;
pub const EXCP_PREFETCH_ABORT: u32 = 3;
pub const EXCP_DATA_ABORT: u32 = 4;
pub const EXCP_BKPT: u32 = 7;
pub const EXCP_HVC: u32 = 11;
pub const EXCP_SMC: u32 = 13;

/// Exception classes (ESR_ELx.EC) the emulator looks at.
pub const EC_UNKNOWN: u32 = 0x00;
pub const EC_SVC64: u32 = 0x15;
pub const EC_IABORT_LOWER: u32 = 0x20;
pub const EC_IABORT_SAME: u32 = 0x21;
pub const EC_DABORT_LOWER: u32 = 0x24;
pub const EC_DABORT_SAME: u32 = 0x25;

/// A system register as the MRS/MSR hook names it.
pub type SysReg = (u32, u32, u32, u32, u32);

pub const fn sysreg(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> SysReg {
    (op0, op1, crn, crm, op2)
}

pub fn cp(reg: SysReg) -> RegisterARM64CP {
    RegisterARM64CP {
        op0: reg.0,
        op1: reg.1,
        crn: reg.2,
        crm: reg.3,
        op2: reg.4,
        val: 0,
    }
}

pub const CNTFRQ_EL0: SysReg = sysreg(3, 3, 14, 0, 0);
pub const CNTPCT_EL0: SysReg = sysreg(3, 3, 14, 0, 1);
pub const CNTVCT_EL0: SysReg = sysreg(3, 3, 14, 0, 2);
pub const CNTP_TVAL_EL0: SysReg = sysreg(3, 3, 14, 2, 0);
pub const CNTP_CTL_EL0: SysReg = sysreg(3, 3, 14, 2, 1);
pub const CNTP_CVAL_EL0: SysReg = sysreg(3, 3, 14, 2, 2);
pub const CNTV_TVAL_EL0: SysReg = sysreg(3, 3, 14, 3, 0);
pub const CNTV_CTL_EL0: SysReg = sysreg(3, 3, 14, 3, 1);
pub const CNTV_CVAL_EL0: SysReg = sysreg(3, 3, 14, 3, 2);
pub const CNTVOFF_EL2: SysReg = sysreg(3, 4, 14, 0, 3);
pub const SCR_EL3: SysReg = sysreg(3, 6, 1, 1, 0);
pub const HCR_EL2: SysReg = sysreg(3, 4, 1, 1, 0);
pub const CNTHCTL_EL2: SysReg = sysreg(3, 4, 14, 1, 0);
pub const SPSR_EL1: SysReg = sysreg(3, 0, 4, 0, 0);
pub const ELR_EL1: SysReg = sysreg(3, 0, 4, 0, 1);

/// HCR_EL2 as the emulator keeps it: EL1 is AArch64, IRQs are routed to
/// EL2 so that the virtual IRQ (VI) reaches EL1.
pub const HCR_RW: u64 = 1 << 31;
pub const HCR_IMO: u64 = 1 << 4;
pub const HCR_VI: u64 = 1 << 7;
/// SCR_EL3: lower ELs non-secure, HVC enabled, EL2 AArch64.
const SCR_NS: u64 = 1;
const SCR_HCE: u64 = 1 << 8;
const SCR_RW: u64 = 1 << 10;
/// EL1h with D, A, I and F masked: the state a reset leaves EL1 in.
pub const PSTATE_EL1H_MASKED: u64 = 0x3c5;

/// GIC INTIDs of the generic timer's outputs (QEMU `virt`).
pub const PPI_VIRTUAL_TIMER: u32 = 27;
pub const PPI_PHYS_TIMER: u32 = 30;

pub fn read_sys(uc: &Unicorn<'_, impl Sized>, reg: SysReg) -> u64 {
    let mut r = cp(reg);
    match uc.reg_read_arm64_coproc(&mut r) {
        Ok(()) => r.val,
        Err(_) => 0,
    }
}

pub fn write_sys(uc: &mut Unicorn<'_, impl Sized>, reg: SysReg, val: u64) {
    let mut r = cp(reg);
    r.val = val;
    let _ = uc.reg_write_arm64_coproc(&r);
}

/// Register id of Xn (n = 0..=30) in Unicorn's numbering.
pub fn xreg(n: u32) -> R {
    match n {
        29 => R::X29,
        30 => R::X30,
        n => {
            // X0..X28 are consecutive.
            let id = R::X0 as i32 + n as i32;
            // SAFETY: `RegisterARM64` is a C-like enum over i32 and X0..X28
            // are consecutive values in it.
            unsafe { std::mem::transmute::<i32, R>(id) }
        }
    }
}

/// Put the core in the state the Linux boot protocol and U-Boot's
/// `qemu_arm64` build expect: non-secure EL1h, interrupts masked, MMU off,
/// with EL2/EL3 set up only so that the virtual IRQ route works.
pub fn reset_to_el1(uc: &mut Unicorn<'_, impl Sized>, pc: u64, x0: u64) {
    write_sys(uc, SCR_EL3, SCR_NS | SCR_HCE | SCR_RW);
    write_sys(uc, HCR_EL2, HCR_RW | HCR_IMO);
    // EL1 may read the physical counter and use the physical timer.
    write_sys(uc, CNTHCTL_EL2, 3);
    let _ = uc.reg_write(R::PSTATE, PSTATE_EL1H_MASKED);
    // Writing PSTATE alone does not rebuild QEMU's cached mode flags; a
    // system-register write through the CP interface does.
    write_sys(uc, SPSR_EL1, 0);
    for n in 0..31 {
        let _ = uc.reg_write(xreg(n), 0);
    }
    let _ = uc.reg_write(xreg(0), x0);
    let _ = uc.reg_write(R::SP, 0);
    let _ = uc.reg_write(R::PC, pc);
}

/// Enter an exception taken to EL1 (ARM ARM D1.10): SPSR/ELR/ESR/FAR,
/// the stack pointer of EL1h, all of DAIF masked, PC at the vector.
/// `kind` is the vector's slot: 0 synchronous, 1 IRQ, 2 FIQ, 3 SError.
pub fn enter_el1(uc: &mut Unicorn<'_, impl Sized>, esr: u32, far: Option<u64>, elr: u64) {
    let pstate = uc.reg_read(R::PSTATE).unwrap_or(0);
    let from_el = (pstate >> 2) & 3;
    let spsel = pstate & 1;
    let vector = if from_el == 0 {
        0x400 // lower EL, AArch64
    } else if spsel == 1 {
        0x200 // current EL, SP_ELx
    } else {
        0x000 // current EL, SP_EL0
    };
    let vbar = uc.reg_read(R::VBAR_EL1).unwrap_or(0);
    let _ = uc.reg_write(R::ESR_EL1, esr as u64);
    if let Some(far) = far {
        let _ = uc.reg_write(R::FAR_EL1, far);
    }
    if from_el == 0 || spsel == 0 {
        // Bank the stack pointer by hand: QEMU does this only in its own
        // exception entry and ERET (which later restores SP_EL0 from here).
        let sp = uc.reg_read(R::SP).unwrap_or(0);
        let sp_el1 = uc.reg_read(R::SP_EL1).unwrap_or(0);
        let _ = uc.reg_write(R::SP_EL0, sp);
        let _ = uc.reg_write(R::PSTATE, PSTATE_EL1H_MASKED);
        let _ = uc.reg_write(R::SP, sp_el1);
    } else {
        let _ = uc.reg_write(R::PSTATE, PSTATE_EL1H_MASKED);
    }
    write_sys(uc, SPSR_EL1, pstate);
    write_sys(uc, ELR_EL1, elr);
    let _ = uc.reg_write(R::PC, vbar + vector);
}

/// Where QEMU's pending-exception record (`env->exception`: syndrome,
/// fsr, vaddress, target_el) lies in a saved CPU context, and a context
/// buffer to save into.
pub struct SyndromeProbe {
    context: *mut sys::uc_context,
    size: usize,
    syndrome_at: usize,
}

// SAFETY: the context buffer is owned by the probe and only used from the
// thread that runs the engine it belongs to.
unsafe impl Send for SyndromeProbe {}

impl Drop for SyndromeProbe {
    fn drop(&mut self) {
        // SAFETY: allocated by uc_context_alloc, freed once.
        unsafe { sys::uc_context_free(self.context) };
    }
}

/// The CPU's whole power-on state (system registers included), saved
/// once so that a reset (PSCI SYSTEM_RESET) starts from it again: MMU off,
/// vectors and translation registers at their reset values.
pub struct PowerOnState {
    context: *mut sys::uc_context,
}

// SAFETY: owned buffer, used only with the engine it was saved from, on
// the thread that runs it.
unsafe impl Send for PowerOnState {}

impl Drop for PowerOnState {
    fn drop(&mut self) {
        // SAFETY: allocated by uc_context_alloc, freed once.
        unsafe { sys::uc_context_free(self.context) };
    }
}

impl PowerOnState {
    pub fn save<D>(uc: &Unicorn<'_, D>) -> Result<PowerOnState, String> {
        let mut context = std::ptr::null_mut();
        // SAFETY: allocate and save a context on a live engine.
        unsafe {
            if sys::uc_context_alloc(uc.get_handle(), &mut context) != unicorn_engine::uc_error::OK
                || sys::uc_context_save(uc.get_handle(), context) != unicorn_engine::uc_error::OK
            {
                return Err("cannot save the CPU's power-on state".into());
            }
        }
        Ok(PowerOnState { context })
    }

    pub fn restore<D>(&self, uc: &mut Unicorn<'_, D>) {
        // SAFETY: a context saved from this engine.
        unsafe { sys::uc_context_restore(uc.get_handle(), self.context) };
        let _ = uc.ctl_flush_tlb();
    }
}

/// The offset found in a scratch engine, once per process.
static SYNDROME_OFFSET: OnceLock<Result<usize, String>> = OnceLock::new();

/// What QEMU recorded for the exception being reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syndrome {
    pub esr: u32,
    pub far: u64,
    pub target_el: u32,
}

impl SyndromeProbe {
    pub fn new<D>(uc: &Unicorn<'_, D>) -> Result<SyndromeProbe, String> {
        let at = SYNDROME_OFFSET.get_or_init(find_syndrome_offset).clone()?;
        let mut context = std::ptr::null_mut();
        // SAFETY: plain allocation calls on a live engine.
        let size = unsafe { sys::uc_context_size(uc.get_handle()) };
        let err = unsafe { sys::uc_context_alloc(uc.get_handle(), &mut context) };
        if err != unicorn_engine::uc_error::OK || at + 24 > size {
            return Err("cannot allocate a CPU context for exception syndromes".into());
        }
        Ok(SyndromeProbe {
            context,
            size,
            syndrome_at: at,
        })
    }

    /// Read the syndrome of the exception the interrupt hook reports now,
    /// from inside that hook.
    ///
    /// # Safety
    /// `handle` must be the live engine this probe was made for.
    pub unsafe fn read_raw(&self, handle: *mut sys::uc_engine) -> Syndrome {
        // SAFETY: saves the CPU state into our buffer of `size` bytes; the
        // reads below stay inside it.
        unsafe {
            sys::uc_context_save(handle, self.context);
            let base = self.context as *const u8;
            let at = base.add(self.syndrome_at);
            let esr = std::ptr::read_unaligned(at as *const u32);
            let far = std::ptr::read_unaligned(at.add(8) as *const u64);
            let target_el = std::ptr::read_unaligned(at.add(16) as *const u32);
            debug_assert!(self.syndrome_at + 20 <= self.size);
            Syndrome {
                esr,
                far,
                target_el,
            }
        }
    }
}

/// Raise an SVC with a known immediate and an unaligned exclusive load at
/// a known address in a scratch engine; the syndrome word must appear at
/// one offset of the saved context with the address 8 bytes after it.
fn find_syndrome_offset() -> Result<usize, String> {
    const SVC_IMM: u32 = 0xabcd;
    const FAULT_ADDR: u64 = 0x1003;
    let fail = |m: &str| format!("AArch64 exception syndromes: {m}");
    let mut uc = Unicorn::new_with_data(Arch::ARM64, Mode::ARM, Vec::<Vec<u8>>::new())
        .map_err(|e| fail(&format!("{e:?}")))?;
    uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::A53 as i32)
        .map_err(|e| fail(&format!("{e:?}")))?;
    uc.mem_map(0x1000, 0x1000, Prot::ALL)
        .map_err(|e| fail(&format!("{e:?}")))?;
    let svc = 0xd400_0001u32 | (SVC_IMM << 5);
    let ldxr = 0xc85f_7c20u32; // ldxr x0, [x1]
    let mut code = Vec::new();
    code.extend_from_slice(&svc.to_le_bytes());
    code.extend_from_slice(&ldxr.to_le_bytes());
    uc.mem_write(0x1000, &code)
        .map_err(|e| fail(&format!("{e:?}")))?;
    reset_to_el1(&mut uc, 0x1000, 0);
    let _ = uc.reg_write(xreg(1), FAULT_ADDR);
    let size = unsafe { sys::uc_context_size(uc.get_handle()) };
    uc.add_intr_hook(move |uc, _intno| {
        let mut ctx = std::ptr::null_mut();
        // SAFETY: allocate, save and copy out a context of `size` bytes.
        let bytes = unsafe {
            sys::uc_context_alloc(uc.get_handle(), &mut ctx);
            sys::uc_context_save(uc.get_handle(), ctx);
            let b = std::slice::from_raw_parts(ctx as *const u8, size).to_vec();
            sys::uc_context_free(ctx);
            b
        };
        uc.get_data_mut().push(bytes);
        let _ = uc.emu_stop();
    })
    .map_err(|e| fail(&format!("{e:?}")))?;
    let _ = uc.emu_start(0x1000, 0x2000, 0, 0);
    let _ = uc.emu_start(0x1004, 0x2000, 0, 0);
    let saved = uc.get_data();
    if saved.len() != 2 {
        return Err(fail("the probe exceptions were not reported"));
    }
    let svc_syndrome = (EC_SVC64 << 26) | (1 << 25) | SVC_IMM;
    let find_u32 = |buf: &[u8], v: u32| -> Vec<usize> {
        (0..buf.len().saturating_sub(3))
            .filter(|&i| u32::from_le_bytes(buf[i..i + 4].try_into().unwrap()) == v)
            .collect()
    };
    // The alignment fault's syndrome: data abort, same EL, IL, FSC 0x21.
    let abort_syndrome = (EC_DABORT_SAME << 26) | (1 << 25) | 0x21;
    let candidates: Vec<usize> = find_u32(&saved[0], svc_syndrome)
        .into_iter()
        .filter(|&i| {
            saved[1].len() >= i + 16
                && u32::from_le_bytes(saved[1][i..i + 4].try_into().unwrap()) == abort_syndrome
                && u64::from_le_bytes(saved[1][i + 8..i + 16].try_into().unwrap()) == FAULT_ADDR
        })
        .collect();
    match candidates.as_slice() {
        [one] => Ok(*one),
        _ => Err(fail(&format!(
            "could not locate them in the CPU context ({} candidates)",
            candidates.len()
        ))),
    }
}

/// QEMU's exclusive monitor (`env->exclusive_addr`, `_val`, `_high`: the
/// address and value a load-exclusive saw, -1 when clear). It is CPU state
/// no register interface exposes, yet a snapshot taken between a LDXR and
/// its STXR must keep it or the restored guest's store-exclusive fails
/// where the original's succeeded. Where it lies in a saved context is
/// found like the syndrome: in a scratch engine, by two load-exclusives
/// of known addresses and values.
pub struct ExclusiveMonitor {
    at: usize,
}

static EXCLUSIVE_OFFSET: OnceLock<Result<usize, String>> = OnceLock::new();

impl ExclusiveMonitor {
    pub fn locate() -> Result<ExclusiveMonitor, String> {
        let at = EXCLUSIVE_OFFSET
            .get_or_init(find_exclusive_offset)
            .clone()?;
        Ok(ExclusiveMonitor { at })
    }

    /// (address, value, high value) of the monitor now.
    pub fn read<D>(&self, uc: &Unicorn<'_, D>) -> Result<[u64; 3], String> {
        let bytes = save_context(uc)?;
        let word = |i: usize| {
            let o = self.at + 8 * i;
            u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"))
        };
        Ok([word(0), word(1), word(2)])
    }

    /// Put the monitor back as [`ExclusiveMonitor::read`] gave it; the
    /// rest of the CPU state is left as it is.
    pub fn write<D>(&self, uc: &mut Unicorn<'_, D>, monitor: [u64; 3]) -> Result<(), String> {
        let mut context = std::ptr::null_mut();
        // SAFETY: save this engine's context into a buffer of its size,
        // patch 24 bytes inside it (checked by `locate`), restore it.
        unsafe {
            let size = sys::uc_context_size(uc.get_handle());
            if self.at + 24 > size
                || sys::uc_context_alloc(uc.get_handle(), &mut context)
                    != unicorn_engine::uc_error::OK
            {
                return Err("cannot allocate a CPU context".into());
            }
            sys::uc_context_save(uc.get_handle(), context);
            let base = (context as *mut u8).add(self.at);
            for (i, v) in monitor.iter().enumerate() {
                std::ptr::write_unaligned(base.add(8 * i) as *mut u64, *v);
            }
            sys::uc_context_restore(uc.get_handle(), context);
            sys::uc_context_free(context);
        }
        Ok(())
    }
}

/// A copy of the engine's saved CPU context.
fn save_context<D>(uc: &Unicorn<'_, D>) -> Result<Vec<u8>, String> {
    let mut ctx = std::ptr::null_mut();
    // SAFETY: allocate, save and copy out a context of the engine's size.
    unsafe {
        let size = sys::uc_context_size(uc.get_handle());
        if sys::uc_context_alloc(uc.get_handle(), &mut ctx) != unicorn_engine::uc_error::OK {
            return Err("cannot allocate a CPU context".into());
        }
        sys::uc_context_save(uc.get_handle(), ctx);
        let b = std::slice::from_raw_parts(ctx as *const u8, size).to_vec();
        sys::uc_context_free(ctx);
        Ok(b)
    }
}

fn find_exclusive_offset() -> Result<usize, String> {
    let fail = |m: &str| format!("AArch64 exclusive monitor: {m}");
    let e = |e: unicorn_engine::uc_error| fail(&format!("{e:?}"));
    let mut uc = Unicorn::new_with_data(Arch::ARM64, Mode::ARM, ()).map_err(e)?;
    uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::A53 as i32)
        .map_err(e)?;
    uc.mem_map(0x1000, 0x1000, Prot::ALL).map_err(e)?;
    let ldxr = 0xc85f_7c20u32; // ldxr x0, [x1]
    uc.mem_write(0x1000, &ldxr.to_le_bytes()).map_err(e)?;
    reset_to_el1(&mut uc, 0x1000, 0);
    let mut hits: Option<Vec<usize>> = None;
    for (addr, value) in [
        (0x1800u64, 0x1122_3344_5566_7788u64),
        (0x1a40, 0x0fed_cba9_8765_4321),
    ] {
        uc.mem_write(addr, &value.to_le_bytes()).map_err(e)?;
        let _ = uc.reg_write(xreg(1), addr);
        uc.emu_start(0x1000, 0x1004, 0, 0).map_err(e)?;
        let bytes = save_context(&uc).map_err(|m| fail(&m))?;
        let at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
        let found: Vec<usize> = (0..bytes.len().saturating_sub(24))
            .filter(|&i| at(i) == addr && at(i + 8) == value)
            .filter(|i| hits.as_ref().is_none_or(|h| h.contains(i)))
            .collect();
        hits = Some(found);
    }
    match hits.unwrap_or_default().as_slice() {
        [one] => Ok(*one),
        other => Err(fail(&format!(
            "could not locate it in the CPU context ({} candidates)",
            other.len()
        ))),
    }
}

/// The ARM generic timer (ARM ARM D11) on virtual time: the counter is
/// derived from the machine's ticks; the virtual and the EL1 physical
/// timers compare against it. Counter offset (CNTVOFF) is 0.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GenericTimer {
    pub freq: u64,
    clock_hz: u64,
    /// [physical, virtual]: CTL (ENABLE, IMASK) and CVAL.
    ctl: [u64; 2],
    cval: [u64; 2],
}

const CTL_ENABLE: u64 = 1;
const CTL_IMASK: u64 = 2;
const CTL_ISTATUS: u64 = 4;

impl GenericTimer {
    pub fn new(freq: u64, clock_hz: u64) -> GenericTimer {
        GenericTimer {
            freq,
            clock_hz,
            ctl: [0; 2],
            cval: [0; 2],
        }
    }

    pub fn count(&self, now: u64) -> u64 {
        // Firmware polls the counter in tight loops: skip the 128-bit
        // division when the clock is a whole multiple of the counter.
        if self.clock_hz.is_multiple_of(self.freq) {
            return now / (self.clock_hz / self.freq);
        }
        (now as u128 * self.freq as u128 / self.clock_hz as u128) as u64
    }

    /// The first tick at which the counter reaches `count`.
    fn tick_of(&self, count: u64) -> u64 {
        let t = (count as u128 * self.clock_hz as u128).div_ceil(self.freq as u128);
        t.min(u64::MAX as u128) as u64
    }

    fn fired(&self, i: usize, now: u64) -> bool {
        self.ctl[i] & CTL_ENABLE != 0 && self.count(now) >= self.cval[i]
    }

    /// Output levels: (physical, virtual).
    pub fn lines(&self, now: u64) -> (bool, bool) {
        let line = |i: usize| self.fired(i, now) && self.ctl[i] & CTL_IMASK == 0;
        (line(0), line(1))
    }

    /// The next tick at which an output line rises.
    pub fn next_deadline(&self, now: u64) -> Option<u64> {
        (0..2)
            .filter(|&i| self.ctl[i] & (CTL_ENABLE | CTL_IMASK) == CTL_ENABLE)
            .filter(|&i| !self.fired(i, now))
            .map(|i| self.tick_of(self.cval[i]))
            .min()
    }

    /// Is `reg` a timer register this model owns?
    pub fn owns(reg: SysReg) -> bool {
        matches!(
            reg,
            CNTFRQ_EL0
                | CNTPCT_EL0
                | CNTVCT_EL0
                | CNTP_TVAL_EL0
                | CNTP_CTL_EL0
                | CNTP_CVAL_EL0
                | CNTV_TVAL_EL0
                | CNTV_CTL_EL0
                | CNTV_CVAL_EL0
                | CNTVOFF_EL2
        )
    }

    pub fn read(&self, reg: SysReg, now: u64) -> u64 {
        let count = self.count(now);
        let ctl = |i: usize| {
            let mut v = self.ctl[i] & (CTL_ENABLE | CTL_IMASK);
            if self.fired(i, now) {
                v |= CTL_ISTATUS;
            }
            v
        };
        // TVAL is a signed 32-bit view of CVAL - count.
        let tval = |i: usize| (self.cval[i].wrapping_sub(count)) as u32 as u64;
        match reg {
            CNTFRQ_EL0 => self.freq,
            CNTPCT_EL0 | CNTVCT_EL0 => count,
            CNTP_CTL_EL0 => ctl(0),
            CNTV_CTL_EL0 => ctl(1),
            CNTP_CVAL_EL0 => self.cval[0],
            CNTV_CVAL_EL0 => self.cval[1],
            CNTP_TVAL_EL0 => tval(0),
            CNTV_TVAL_EL0 => tval(1),
            _ => 0,
        }
    }

    pub fn write(&mut self, reg: SysReg, value: u64, now: u64) {
        let count = self.count(now);
        let tval = |v: u64| count.wrapping_add(v as u32 as i32 as i64 as u64);
        match reg {
            CNTP_CTL_EL0 => self.ctl[0] = value & (CTL_ENABLE | CTL_IMASK),
            CNTV_CTL_EL0 => self.ctl[1] = value & (CTL_ENABLE | CTL_IMASK),
            CNTP_CVAL_EL0 => self.cval[0] = value,
            CNTV_CVAL_EL0 => self.cval[1] = value,
            CNTP_TVAL_EL0 => self.cval[0] = tval(value),
            CNTV_TVAL_EL0 => self.cval[1] = tval(value),
            // CNTFRQ is written by firmware at EL3 only; CNTVOFF stays 0.
            _ => {}
        }
    }

    pub fn reset(&mut self) {
        self.ctl = [0; 2];
        self.cval = [0; 2];
    }
}

/// PSCI function identifiers (ARM DEN 0022), SMC32/SMC64 calling
/// conventions.
pub mod psci {
    pub const VERSION: u32 = 0x8400_0000;
    pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
    pub const CPU_SUSPEND_64: u32 = 0xc400_0001;
    pub const CPU_OFF: u32 = 0x8400_0002;
    pub const CPU_ON_32: u32 = 0x8400_0003;
    pub const CPU_ON_64: u32 = 0xc400_0003;
    pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
    pub const AFFINITY_INFO_64: u32 = 0xc400_0004;
    pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
    pub const SYSTEM_RESET: u32 = 0x8400_0009;
    pub const FEATURES: u32 = 0x8400_000a;
    pub const SUCCESS: i64 = 0;
    pub const NOT_SUPPORTED: i64 = -1;
    pub const INVALID_PARAMETERS: i64 = -2;
    pub const ALREADY_ON: i64 = -4;
}

/// What a PSCI call asks of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsciOutcome {
    /// Return this value in x0 and go on.
    Return(i64),
    SystemOff,
    SystemReset,
    /// CPU_SUSPEND: behave as WFI, then return success.
    Suspend,
}

/// PSCI 1.0 for one CPU (MPIDR affinity 0).
pub fn psci_call(function: u32, x1: u64) -> PsciOutcome {
    use psci::*;
    match function {
        VERSION => PsciOutcome::Return(0x0001_0000),
        SYSTEM_OFF => PsciOutcome::SystemOff,
        SYSTEM_RESET => PsciOutcome::SystemReset,
        CPU_SUSPEND_32 | CPU_SUSPEND_64 => PsciOutcome::Suspend,
        // The only CPU is on; there is no other to start or stop.
        CPU_ON_32 | CPU_ON_64 => PsciOutcome::Return(if x1 & 0xff_00ff_ffff == 0 {
            ALREADY_ON
        } else {
            INVALID_PARAMETERS
        }),
        AFFINITY_INFO_32 | AFFINITY_INFO_64 => PsciOutcome::Return(if x1 == 0 {
            0 // ON
        } else {
            INVALID_PARAMETERS
        }),
        // Trusted OS not present / does not need migration.
        MIGRATE_INFO_TYPE => PsciOutcome::Return(2),
        FEATURES => PsciOutcome::Return(match x1 as u32 {
            VERSION | SYSTEM_OFF | SYSTEM_RESET | CPU_ON_32 | CPU_ON_64 | CPU_SUSPEND_32
            | CPU_SUSPEND_64 | AFFINITY_INFO_32 | AFFINITY_INFO_64 | MIGRATE_INFO_TYPE
            | FEATURES => 0,
            _ => NOT_SUPPORTED,
        }),
        _ => PsciOutcome::Return(NOT_SUPPORTED),
    }
}

/// Names of the exception classes a crash report may show.
pub fn ec_name(ec: u32) -> &'static str {
    match ec {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "WFI/WFE trap",
        0x07 => "SIMD/FP access trap",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "system register trap",
        0x20 | 0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 | 0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2f => "SError",
        0x3c => "BRK",
        _ => "exception",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syndrome_offset_is_found() {
        let at = SYNDROME_OFFSET.get_or_init(find_syndrome_offset).clone();
        assert!(at.is_ok(), "{at:?}");
    }

    /// The monitor a load-exclusive sets survives a write-back into
    /// another engine: its store-exclusive then succeeds (status 0), and
    /// fails (status 1) where the monitor was left clear.
    #[test]
    fn exclusive_monitor_is_carried_over() {
        let monitor = ExclusiveMonitor::locate().expect("located");
        let engine = || {
            let mut uc = Unicorn::new_with_data(Arch::ARM64, Mode::ARM, ()).unwrap();
            uc.ctl_set_cpu_model(unicorn_engine::Arm64CpuModel::A53 as i32)
                .unwrap();
            uc.mem_map(0x1000, 0x1000, Prot::ALL).unwrap();
            let ldxr = 0xc85f_7c20u32; // ldxr x0, [x1]
            let stxr = 0xc802_7c23u32; // stxr w2, x3, [x1]
            let mut code = ldxr.to_le_bytes().to_vec();
            code.extend_from_slice(&stxr.to_le_bytes());
            uc.mem_write(0x1000, &code).unwrap();
            reset_to_el1(&mut uc, 0x1000, 0);
            let _ = uc.reg_write(xreg(1), 0x1800);
            let _ = uc.reg_write(xreg(3), 0x55);
            let _ = uc.reg_write(xreg(2), 7);
            uc
        };
        let mut first = engine();
        first.emu_start(0x1000, 0x1004, 0, 0).unwrap();
        let saved = monitor.read(&first).unwrap();
        assert_eq!(saved[0], 0x1800, "{saved:x?}");
        for (carry, status) in [(true, 0), (false, 1)] {
            let mut second = engine();
            if carry {
                monitor.write(&mut second, saved).unwrap();
            }
            second.emu_start(0x1004, 0x1008, 0, 0).unwrap();
            assert_eq!(
                second.reg_read(xreg(2)).unwrap(),
                status,
                "carried: {carry}"
            );
        }
    }

    #[test]
    fn timer_counts_and_fires() {
        // 1 GHz of ticks, 62.5 MHz counter: one count per 16 ticks.
        let mut t = GenericTimer::new(62_500_000, 1_000_000_000);
        assert_eq!(t.count(160), 10);
        t.write(CNTV_TVAL_EL0, 100, 0);
        t.write(CNTV_CTL_EL0, CTL_ENABLE, 0);
        assert_eq!(t.next_deadline(0), Some(1600));
        assert_eq!(t.lines(1599), (false, false));
        assert_eq!(t.lines(1600), (false, true));
        assert_eq!(t.read(CNTV_CTL_EL0, 1600), CTL_ENABLE | CTL_ISTATUS);
        // Masked: ISTATUS stays, the line falls.
        t.write(CNTV_CTL_EL0, CTL_ENABLE | CTL_IMASK, 1600);
        assert_eq!(t.lines(1700), (false, false));
        assert_eq!(t.read(CNTV_TVAL_EL0, 1616) as u32 as i32, -1);
    }

    #[test]
    fn psci_answers() {
        assert_eq!(psci_call(psci::VERSION, 0), PsciOutcome::Return(0x10000));
        assert_eq!(psci_call(psci::SYSTEM_OFF, 0), PsciOutcome::SystemOff);
        assert_eq!(
            psci_call(psci::FEATURES, psci::SYSTEM_RESET as u64),
            PsciOutcome::Return(0)
        );
        assert_eq!(psci_call(0x8400_00ff, 0), PsciOutcome::Return(-1));
    }
}
