//! The AArch64 side of `Machine`: a Cortex-A core at non-secure EL1 with a
//! GICv2 and the generic timer (see `cpu::aarch64`). The devices, memory,
//! media and network side are the same as on M-profile machines; what
//! differs is how the CPU is started, interrupted and stopped.
//!
//! Virtual time: one tick per A64 instruction (4 bytes of a translated
//! block), at the board's `clock_hz`.

use ensemble_devices::gicv2::GicV2;
use unicorn_engine::{Arm64CpuModel, RegisterARM64 as R64};

use super::*;
use crate::cpu::aarch64::{self as core, GenericTimer, PsciOutcome, SyndromeProbe};

/// Longest run without looking at devices: 1 ms at 1 GHz.
const MAX_SLICE_A64: Ticks = 1_000_000;
/// An A64 PC is never this (exits come from the empty exit list anyway).
const NO_EXIT_A64: u64 = u64::MAX;
/// Translation buffer for a kernel-sized guest (QEMU's default is 1 GiB).
const TB_BUFFER_A64: u32 = 64 << 20;
/// The same exception at the same PC this many times in a row is a guest
/// that cannot make progress (a fault its handler does not resolve).
const FAULT_LOOP: u32 = 10_000;

/// Counters for `--stats` and the benchmark's breakdown.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct A64Stats {
    pub exceptions: u64,
    pub page_faults: u64,
    pub syscalls: u64,
    pub irqs_raised: u64,
    pub gic_accesses: u64,
    pub timer_accesses: u64,
    pub wfi: u64,
    /// Translated code dropped after instruction cache maintenance.
    pub code_flushes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Power {
    Off,
    Reset,
}

pub struct A64 {
    pub gic: GicV2,
    pub timer: GenericTimer,
    probe: SyndromeProbe,
    power_on: core::PowerOnState,
    /// HCR_EL2.VI as last written: the GIC's IRQ output seen by the core.
    vi: bool,
    power: Option<Power>,
    /// Where the CPU starts and what x0 holds (the device tree).
    boot_pc: u64,
    boot_x0: u64,
    pub stats: A64Stats,
    /// (pc, esr, count) of the last synchronous exception.
    repeat: (u64, u32, u32),
    /// The last few distinct synchronous exceptions (pc, esr, far), for
    /// crash reports: the first fault of a cascade is the useful one.
    recent: std::collections::VecDeque<(u64, u32, u64)>,
    fatal: Option<String>,
    /// The guest invalidated instruction cache lines: drop translated
    /// code at the next stop, or before a block of `stale_pages` runs.
    flush_code: bool,
    /// Pages (virtual) of the lines invalidated since the last flush.
    stale_pages: Vec<u64>,
    /// The whole instruction cache was invalidated.
    flush_all: bool,
    dist_base: u64,
    cpu_base: u64,
    spis: u32,
    /// Breakpoints, watchpoints and steps (a64_debug.rs).
    pub(super) debug: super::a64_debug::DebugState,
}

fn a64_of(hw: &mut Hw) -> &mut A64 {
    hw.a64.as_mut().expect("an AArch64 machine")
}

impl Machine {
    pub(super) fn new_a64(
        board: Board,
        image: Image,
        trace: Trace,
    ) -> Result<Machine, MachineError> {
        let gic_spec = board.gic.expect("validated with the board");
        let hw = new_hw(&board, trace)?;
        let mut uc = Unicorn::new_with_data(Arch::ARM64, Mode::ARM | Mode::LITTLE_ENDIAN, hw)?;
        let model = match board.cpu {
            crate::board::CpuModel::CortexA57 => Arm64CpuModel::A57,
            crate::board::CpuModel::CortexA72 => Arm64CpuModel::A72,
            _ => Arm64CpuModel::A53,
        };
        uc.ctl_set_cpu_model(model as i32)?;
        bound_translation_buffer(&mut uc, TB_BUFFER_A64)?;
        uc.ctl_exits_enable()?;
        // Linux maps its data execute-never, which gives stores the
        // engine's fast path; RAM is executable from the start.
        let (memory, ram_map, _) = map_memory(&mut uc, &board, false)?;
        map_devices(&mut uc, &board)?;
        for (base, cpu_side) in [
            (gic_spec.distributor, false),
            (gic_spec.cpu_interface, true),
        ] {
            uc.mmio_map(
                base,
                0x1_0000,
                Some(move |uc: &mut Unicorn<'_, Hw>, off: u64, size: usize| {
                    let hw = uc.get_data_mut();
                    let a = a64_of(hw);
                    a.stats.gic_accesses += 1;
                    let v = if cpu_side {
                        a.gic.cpu_read(off, size as u8)
                    } else {
                        a.gic.dist_read(off, size as u8)
                    };
                    // Acknowledging changes the CPU's IRQ input.
                    if cpu_side && matches!(off, 0x0c | 0x20) {
                        hw.attention = true;
                        hw.limit = 0;
                    }
                    let now = hw.now;
                    hw.trace.mmio(now, "gic", false, off, size, v);
                    v as u64
                }),
                Some(
                    move |uc: &mut Unicorn<'_, Hw>, off: u64, size: usize, value: u64| {
                        let hw = uc.get_data_mut();
                        let a = a64_of(hw);
                        a.stats.gic_accesses += 1;
                        if cpu_side {
                            a.gic.cpu_write(off, size as u8, value as u32);
                        } else {
                            a.gic.dist_write(off, size as u8, value as u32);
                        }
                        hw.attention = true;
                        hw.limit = 0;
                        let now = hw.now;
                        hw.trace.mmio(now, "gic", true, off, size, value as u32);
                    },
                ),
            )?;
        }
        let probe = SyndromeProbe::new(&uc).map_err(MachineError::Device)?;
        let power_on = core::PowerOnState::save(&uc).map_err(MachineError::Device)?;
        let hw = uc.get_data_mut();
        hw.memory = memory;
        hw.ram_map = ram_map;
        hw.outputs = vec![Vec::new(); hw.slots.len()];
        hw.media.latest = vec![None; hw.slots.len()];
        let (boot_pc, boot_x0) = image.boot.unwrap_or((0, 0));
        hw.a64 = Some(Box::new(A64 {
            gic: GicV2::new(gic_spec.spis),
            timer: GenericTimer::new(board.timer_hz, board.clock_hz),
            probe,
            power_on,
            vi: false,
            power: None,
            boot_pc,
            boot_x0,
            stats: A64Stats::default(),
            repeat: (0, 0, 0),
            recent: Default::default(),
            fatal: None,
            flush_code: false,
            stale_pages: Vec::new(),
            flush_all: false,
            dist_base: gic_spec.distributor,
            cpu_base: gic_spec.cpu_interface,
            spis: gic_spec.spis,
            debug: Default::default(),
        }));
        Self::install_a64_hooks(&mut uc)?;
        let engine = Box::new(uc.clone());
        let led_order = led_order(&uc.get_data().slots);
        let mut m = Machine {
            uc,
            _engine: engine,
            board,
            image,
            led_order,
        };
        m.load_image()?;
        m.reset_a64();
        Ok(m)
    }

    fn install_a64_hooks(uc: &mut Unicorn<'static, Hw>) -> Result<(), MachineError> {
        add_block_hook(uc, a64_block_hook)?;
        uc.add_intr_hook(synchronous_exception)?;
        uc.add_insn_invalid_hook(|uc| {
            Hw::request_stop(uc, CpuExit::Invalid);
            false
        })?;
        // Bad accesses are looked for only outside RAM: a memory hook whose
        // range covers a RAM page keeps the engine from ever giving stores
        // to it the fast path (QEMU's "not dirty" TLB state is kept).
        let mut ram: Vec<(u64, u64)> = uc
            .get_data()
            .ram_map
            .iter()
            .filter(|m| m.3)
            .map(|m| (m.0, m.0 + m.1))
            .collect();
        ram.sort();
        let mut gaps = Vec::new();
        let mut from = 0u64;
        for (start, end) in ram {
            if start > from {
                gaps.push((from, start - 1));
            }
            from = from.max(end);
        }
        gaps.push((from, u64::MAX));
        for (begin, end) in gaps {
            uc.add_mem_hook(
                HookType::MEM_UNMAPPED | HookType::MEM_WRITE_PROT | HookType::MEM_FETCH_PROT,
                begin,
                end,
                |uc, kind, addr, _size, _value| {
                    let fetch = matches!(kind, MemType::FETCH_UNMAPPED | MemType::FETCH_PROT);
                    let hw = uc.get_data_mut();
                    hw.exit = Some(CpuExit::BusError { addr, fetch });
                    hw.stopping = true;
                    hw.limit = 0;
                    false
                },
            )?;
        }
        // Instruction cache maintenance keeps translated code coherent
        // with memory. Unicorn stops noticing stores to a page of code
        // once the guest has written it through a non-executable alias
        // (Linux patches its text through the linear map), so without
        // this a kernel runs stale code after patching alternatives and
        // static keys, for as long as the stale block stays translated:
        // a run's course would depend on the translation cache, and a
        // restored snapshot (which starts with an empty one) would not
        // continue as the original run did. The architecture requires
        // IC then ISB before modified code runs, and invalidation by
        // line cannot be done by physical address here, so translated
        // code is dropped at the next stop of the engine (within a slice,
        // 1 ms), and before that if a block of an invalidated page is
        // about to run: one flush for a burst of patches.
        uc.add_insn_sys_hook_arm64(
            unicorn_engine::Arm64Insn::UC_ARM64_INS_SYS,
            1,
            0,
            |uc, _reg, cp| {
                let hw = uc.get_data_mut();
                match (cp.op1, cp.crn, cp.crm, cp.op2) {
                    // IC IALLU, IC IALLUIS: at the next block.
                    (0, 7, 5, 0) | (0, 7, 1, 0) => {
                        let a = a64_of(hw);
                        a.flush_code = true;
                        a.flush_all = true;
                        hw.attention = true;
                        hw.limit = 0;
                    }
                    // IC IVAU: before code of that page runs, or at the
                    // next stop, whichever comes first.
                    (3, 7, 5, 1) => {
                        let a = a64_of(hw);
                        a.flush_code = true;
                        let page = cp.val & !0xfff;
                        if !a.stale_pages.contains(&page) {
                            a.stale_pages.push(page);
                        }
                        hw.limit = 0;
                    }
                    _ => {}
                }
                false
            },
        )?;
        // The generic timer's registers, read and written in virtual time.
        uc.add_insn_sys_hook_arm64(
            unicorn_engine::Arm64Insn::UC_ARM64_INS_MRS,
            1,
            0,
            |uc, reg, cp| {
                let r = (cp.op0, cp.op1, cp.crn, cp.crm, cp.op2);
                if !GenericTimer::owns(r) {
                    return false;
                }
                let hw = uc.get_data_mut();
                let now = hw.now;
                let a = a64_of(hw);
                a.stats.timer_accesses += 1;
                let v = a.timer.read(r, now);
                if reg != R64::XZR {
                    let _ = uc.reg_write(reg, v);
                }
                true
            },
        )?;
        uc.add_insn_sys_hook_arm64(
            unicorn_engine::Arm64Insn::UC_ARM64_INS_MSR,
            1,
            0,
            |uc, _reg, cp| {
                let r = (cp.op0, cp.op1, cp.crn, cp.crm, cp.op2);
                if !GenericTimer::owns(r) {
                    return false;
                }
                let hw = uc.get_data_mut();
                let now = hw.now;
                let a = a64_of(hw);
                a.stats.timer_accesses += 1;
                a.timer.write(r, cp.val, now);
                // A new compare value or enable: the loop recomputes the
                // deadline and the timer's interrupt line.
                hw.attention = true;
                hw.limit = 0;
                true
            },
        )?;
        Ok(())
    }

    /// Start the core as the boot protocol wants it; devices, GIC and
    /// timer to their reset state.
    pub(super) fn reset_a64(&mut self) {
        for slot in &mut self.uc.get_data_mut().slots {
            slot.dev.reset();
        }
        let hw = self.uc.get_data_mut();
        for slot in &mut hw.slots {
            slot.refresh();
        }
        let a = a64_of(hw);
        a.gic.reset();
        a.timer.reset();
        a.vi = false;
        a.power = None;
        a.repeat = (0, 0, 0);
        let (pc, x0) = (a.boot_pc, a.boot_x0);
        route_spis(hw);
        hw.update_quiet_until();
        hw.attention = true;
        hw.sleeping = false;
        let _ = self.uc.ctl_flush_tb();
        // SAFETY of the borrow dance: the saved state is read while the
        // engine is written; it lives in `Hw` inside the engine.
        let power_on = &a64_of(self.uc.get_data_mut()).power_on as *const core::PowerOnState;
        // SAFETY: `power_on` stays valid (owned by the machine's `Hw`) and
        // restoring a context does not touch `Hw`.
        unsafe { (*power_on).restore(&mut self.uc) };
        core::reset_to_el1(&mut self.uc, pc, x0);
    }

    pub(super) fn run_a64(&mut self, until: Ticks) -> StopReason {
        self.uc.get_data_mut().until = until;
        // A debugger's step (`debug_step`) ran its instruction.
        let mut stepped = false;
        loop {
            self.service();
            let hw = self.uc.get_data_mut();
            // A step leaves output for the run after it.
            if !hw.stepping && std::mem::take(&mut hw.output_ready) {
                return StopReason::Output;
            }
            let a = a64_of(hw);
            if let Some(msg) = a.fatal.take() {
                return self.crash_a64(msg);
            }
            match a.power {
                // Off stays off until a reset.
                Some(Power::Off) => {
                    return StopReason::PoweredOff;
                }
                Some(Power::Reset) => {
                    a.power = None;
                    let now = hw.now;
                    hw.trace
                        .event(now, TraceKind::Exceptions, "PSCI system reset");
                    let _ = self.load_image();
                    self.reset_a64();
                    continue;
                }
                None => {}
            }
            if stepped {
                return StopReason::Stepped {
                    pc: self.debug_pc() as u32,
                };
            }
            let hw = self.uc.get_data_mut();
            let now = hw.now;
            if now >= until {
                return StopReason::TimeLimit;
            }
            let a = a64_of(hw);
            let (phys, virt) = a.timer.lines(now);
            a.gic.set_ppi(core::PPI_PHYS_TIMER, phys);
            a.gic.set_ppi(core::PPI_VIRTUAL_TIMER, virt);
            let irq = a.gic.irq_pending();
            let timer_deadline = a.timer.next_deadline(now);
            if irq != a.vi {
                a.vi = irq;
                if irq {
                    a.stats.irqs_raised += 1;
                }
                let hcr = core::HCR_RW | core::HCR_IMO | if irq { core::HCR_VI } else { 0 };
                core::write_sys(&mut self.uc, core::HCR_EL2, hcr);
            }
            let hw = self.uc.get_data_mut();
            let deadline = hw.next_deadline().into_iter().chain(timer_deadline).min();
            if hw.sleeping {
                if irq {
                    hw.sleeping = false;
                } else {
                    match deadline {
                        Some(t) => {
                            let to = t.min(until).max(now);
                            hw.idle += to - now;
                            hw.now = to;
                            continue;
                        }
                        None => {
                            return StopReason::Asleep {
                                pc: self.debug_pc() as u32,
                            }
                        }
                    }
                }
            }
            hw.stop_at = deadline
                .unwrap_or(until)
                .min(until)
                .min(now.saturating_add(MAX_SLICE_A64));
            hw.stopping = false;
            hw.exit = None;
            hw.set_limit();
            let pc = self.uc.reg_read(R64::PC).unwrap_or(0);
            if self.a64_before_run(pc, irq) {
                stepped = true;
                continue;
            }
            self.drop_stale_code();
            let count = self.uc.get_data().stepping as usize;
            let result = self.uc.emu_start(pc, NO_EXIT_A64, 0, count);
            let exit = self.uc.get_data_mut().exit.take();
            match (exit, result) {
                // emu_start returned by itself: the guest executed WFI (or
                // a debugger's step ended).
                (None, Ok(())) if !self.a64_step_done(pc) => {
                    let hw = self.uc.get_data_mut();
                    hw.sleeping = true;
                    a64_of(hw).stats.wfi += 1;
                }
                (None, Ok(())) => {}
                (None, Err(e)) => return self.crash_a64(format!("CPU engine stopped: {e:?}")),
                (Some(CpuExit::Service), _) => {}
                (Some(CpuExit::BusError { addr, fetch }), _) => {
                    return self.crash_a64(format!(
                        "{} physical address 0x{addr:x}, where nothing is mapped",
                        if fetch {
                            "instruction fetch from"
                        } else {
                            "access to"
                        }
                    ))
                }
                (Some(CpuExit::Invalid), _) => {
                    return self.crash_a64("the CPU engine could not execute an instruction".into())
                }
                (Some(exit @ (CpuExit::Breakpoint | CpuExit::Watchpoint { .. })), _) => {
                    return self.a64_debug_stop(exit)
                }
                (Some(other), _) => {
                    return self.crash_a64(format!("unexpected CPU stop: {other:?}"))
                }
            }
            stepped = self.a64_stepped();
        }
    }

    /// Drop translated code the guest invalidated (see the IC hook):
    /// the pages it named when they are executable where it named them,
    /// everything when it named a non-executable alias (Linux cleans user
    /// pages through its linear map) or the whole cache.
    fn drop_stale_code(&mut self) {
        let a = a64_of(self.uc.get_data_mut());
        if !a.flush_code {
            return;
        }
        a.flush_code = false;
        let all = std::mem::take(&mut a.flush_all);
        let pages = std::mem::take(&mut a.stale_pages);
        let by_page = !all
            && pages.len() <= 32
            && pages
                .iter()
                .all(|&p| self.uc.vmem_translate(p, Prot::EXEC).is_ok());
        if by_page {
            for &p in &pages {
                let _ = self.uc.ctl_remove_cache(p, p + 0x1000);
            }
        } else {
            let _ = self.uc.ctl_flush_tb();
            a64_of(self.uc.get_data_mut()).stats.code_flushes += 1;
        }
        // Reuse the list's allocation.
        let a = a64_of(self.uc.get_data_mut());
        a.stale_pages = pages;
        a.stale_pages.clear();
    }

    pub(super) fn crash_a64(&mut self, reason: String) -> StopReason {
        let rd = |r: R64| self.uc.reg_read(r).unwrap_or(0);
        let pstate = rd(R64::PSTATE);
        let detail = format!(
            "pc 0x{:016x} lr 0x{:016x} sp 0x{:016x} pstate 0x{:08x} (EL{}) esr_el1 0x{:08x} far_el1 0x{:016x} elr_el1 0x{:016x} vbar_el1 0x{:016x}",
            rd(R64::PC),
            rd(R64::X30),
            rd(R64::SP),
            pstate,
            (pstate >> 2) & 3,
            rd(R64::ESR_EL1),
            rd(R64::FAR_EL1),
            rd(R64::ELR_EL1),
            rd(R64::VBAR_EL1),
        );
        let hw = self.uc.get_data();
        let mut detail = detail;
        if let Some(a) = hw.a64.as_ref().filter(|a| !a.recent.is_empty()) {
            detail.push_str("\n  recent exceptions, oldest first:");
            for (pc, esr, far) in &a.recent {
                let far = match esr >> 26 {
                    0x20..=0x25 => format!(", FAR 0x{far:x}"),
                    _ => String::new(),
                };
                detail.push_str(&format!(
                    "\n    {} at pc 0x{pc:016x} (ESR 0x{esr:08x}{far})",
                    core::ec_name(esr >> 26)
                ));
            }
        }
        StopReason::Crashed(Box::new(CrashInfo {
            reason,
            pc: rd(R64::PC) as u32,
            lr: rd(R64::X30) as u32,
            xpsr: pstate as u32,
            cfsr: 0,
            hfsr: 0,
            bfar: 0,
            mmfar: 0,
            fault_pc: None,
            time: hw.now,
            detail: Some(detail),
            recent: hw.trace.recent(&self.device_names(), self.board.clock_hz),
        }))
    }

    /// Exception and interrupt counts of an AArch64 machine.
    pub fn a64_stats(&self) -> Option<A64Stats> {
        self.uc.get_data().a64.as_ref().map(|a| a.stats)
    }

    /// The GIC's mapping, for the device tree.
    pub fn a64_gic_bases(&self) -> Option<(u64, u64)> {
        self.uc
            .get_data()
            .a64
            .as_ref()
            .map(|a| (a.dist_base, a.cpu_base))
    }
}

/// Device lines to GIC SPIs (board `irqs` are SPI numbers).
pub(super) fn route_spis(hw: &mut Hw) {
    let Some(a) = hw.a64.as_mut() else { return };
    let mut levels = vec![false; a.gic_spis()];
    for slot in &hw.slots {
        slot.route_irqs(&mut levels);
    }
    for (n, level) in levels.into_iter().enumerate() {
        a.gic.set_spi(n as u32, level);
    }
}

impl A64 {
    fn gic_spis(&self) -> usize {
        self.spis as usize
    }

    /// From the block hook's slow path: must the CPU stop before the
    /// block at `addr` so that changed code is translated afresh?
    fn code_changed_before(&mut self, addr: u64) -> bool {
        if !self.flush_code {
            return false;
        }
        self.stale_pages.contains(&(addr & !0xfff))
    }

    pub(super) fn snapshot(&self) -> A64Snapshot {
        A64Snapshot {
            gic: self.gic.clone(),
            timer: self.timer.clone(),
            vi: self.vi,
            power: self.power,
            stats: self.stats,
            repeat: self.repeat,
            recent: self.recent.iter().copied().collect(),
        }
    }

    pub(super) fn restore_snapshot(&mut self, s: &A64Snapshot) {
        self.gic = s.gic.clone();
        self.timer = s.timer.clone();
        self.vi = s.vi;
        self.power = s.power;
        self.stats = s.stats;
        self.repeat = s.repeat;
        self.recent = s.recent.iter().copied().collect();
        self.fatal = None;
    }
}

/// What a snapshot keeps of the emulator's own AArch64 parts.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct A64Snapshot {
    gic: GicV2,
    timer: GenericTimer,
    vi: bool,
    power: Option<Power>,
    stats: A64Stats,
    repeat: (u64, u32, u32),
    recent: Vec<(u64, u32, u64)>,
}

/// Virtual time for A64 code: one tick per instruction of each block
/// entered; at a deadline or when a device needs attention, stop the CPU
/// before the block runs.
unsafe extern "C" fn a64_block_hook(
    uc: *mut sys::uc_engine,
    addr: u64,
    size: u32,
    data: *mut c_void,
) {
    // SAFETY: `data` is the engine's `Hw` (see `install_a64_hooks`).
    let hw = unsafe { &mut *(data as *mut Hw) };
    if hw.now < hw.limit {
        hw.now += (size as u64 / 4).max(1);
        return;
    }
    if hw.stopping {
        return;
    }
    let code_changed = hw.a64.as_mut().is_some_and(|a| a.code_changed_before(addr));
    if hw.now >= hw.stop_at || hw.attention || code_changed {
        hw.stopping = true;
        hw.limit = 0;
        hw.exit = Some(CpuExit::Service);
        // SAFETY: stopping the engine from inside its own hook.
        unsafe { sys::uc_emu_stop(uc) };
        return;
    }
    // A debugger's step counts one tick (`a64_stepped`).
    if !hw.stepping {
        hw.now += (size as u64 / 4).max(1);
    }
}

/// A synchronous exception the engine reported: PSCI calls are answered
/// here; everything else is entered at EL1 with the syndrome QEMU computed.
fn synchronous_exception(uc: &mut Unicorn<'_, Hw>, intno: u32) {
    if intno == core::EXCP_HVC || intno == core::EXCP_SMC {
        let function = uc.reg_read(core::xreg(0)).unwrap_or(0) as u32;
        let x1 = uc.reg_read(core::xreg(1)).unwrap_or(0);
        let now = uc.get_data().now;
        uc.get_data_mut().trace.event(
            now,
            TraceKind::Exceptions,
            &format!("PSCI call 0x{function:08x}"),
        );
        match core::psci_call(function, x1) {
            PsciOutcome::Return(v) => {
                let _ = uc.reg_write(core::xreg(0), v as u64);
            }
            PsciOutcome::Suspend => {
                let _ = uc.reg_write(core::xreg(0), 0);
                let hw = uc.get_data_mut();
                hw.sleeping = true;
                Hw::request_stop(uc, CpuExit::Service);
            }
            PsciOutcome::SystemOff => {
                a64_of(uc.get_data_mut()).power = Some(Power::Off);
                Hw::request_stop(uc, CpuExit::Service);
            }
            PsciOutcome::SystemReset => {
                a64_of(uc.get_data_mut()).power = Some(Power::Reset);
                Hw::request_stop(uc, CpuExit::Service);
            }
        }
        return;
    }
    let handle = uc.get_handle();
    // SAFETY: the handle of the engine whose hook this is.
    let syn = unsafe { a64_of(uc.get_data_mut()).probe.read_raw(handle) };
    let pc = uc.reg_read(R64::PC).unwrap_or(0);
    let ec = syn.esr >> 26;
    let hw = uc.get_data_mut();
    let now = hw.now;
    let a = a64_of(hw);
    a.stats.exceptions += 1;
    match ec {
        core::EC_SVC64 => a.stats.syscalls += 1,
        core::EC_DABORT_LOWER
        | core::EC_DABORT_SAME
        | core::EC_IABORT_LOWER
        | core::EC_IABORT_SAME => a.stats.page_faults += 1,
        _ => {}
    }
    if a.repeat.0 == pc && a.repeat.1 == syn.esr {
        a.repeat.2 += 1;
    } else {
        a.repeat = (pc, syn.esr, 1);
        if a.recent.len() == 4 {
            a.recent.pop_front();
        }
        a.recent.push_back((pc, syn.esr, syn.far));
    }
    let stuck = a.repeat.2 >= FAULT_LOOP;
    if syn.target_el != 1 || stuck {
        a.fatal = Some(if stuck {
            format!(
                "the guest takes the same {} (ESR 0x{:08x}, FAR 0x{:x}) at the same PC {} times in a row",
                core::ec_name(ec),
                syn.esr,
                syn.far,
                FAULT_LOOP
            )
        } else {
            format!(
                "{} (ESR 0x{:08x}) targets EL{}, which runs no software here",
                core::ec_name(ec),
                syn.esr,
                syn.target_el
            )
        });
        Hw::request_stop(uc, CpuExit::Service);
        return;
    }
    if hw_trace_on(uc) {
        uc.get_data_mut().trace.event(
            now,
            TraceKind::Exceptions,
            &format!(
                "{} esr=0x{:08x} far=0x{:x} pc=0x{pc:x}",
                core::ec_name(ec),
                syn.esr,
                syn.far
            ),
        );
    }
    let far = matches!(ec, 0x20..=0x25 | 0x34 | 0x35).then_some(syn.far);
    core::enter_el1(uc, syn.esr, far, pc);
}

fn hw_trace_on(uc: &Unicorn<'_, Hw>) -> bool {
    uc.get_data().trace.enabled(TraceKind::Exceptions)
}
