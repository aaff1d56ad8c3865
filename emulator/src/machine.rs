//! One device: a Cortex-M core, its memory and peripherals, and the run
//! loop. The loop runs the CPU until the next deadline and gets back an
//! explicit reason for every stop; exception entry and return, device
//! time and interrupt routing all happen here, between blocks, never
//! inside MMIO callbacks (which only update device state).

use std::ffi::c_void;

use ensemble_devices::{AudioChunk, AudioSource, Dma, SensorSource, Ticks, VideoFrame};
use thiserror::Error;
use unicorn_engine::hook::sys;
use unicorn_engine::{Arch, ArmCpuModel, HookType, MemType, Mode, Prot, RegisterARM as R, Unicorn};

use crate::board::{Board, MemoryKind};
use crate::bus::{build_device, Slot};
use crate::cpu::cortex_m::{self, EntryError, Returned};
use crate::cpu::scs::*;
use crate::loader::Image;
use crate::trace::{Trace, TraceKind, SCS_DEVICE};
use crate::watch::{WatchHit, WatchKind, Watchpoints};

mod a64;
mod a64_debug;
mod a64_snapshot;

const SCS_BASE: u64 = 0xe000_e000;
/// The rest of the Private Peripheral Bus (ITM, DWT, FPB, TPIU...):
/// read as zero, as unimplemented debug components.
const PPB: [(u64, u64); 2] = [(0xe000_0000, 0xe000), (0xe000_f000, 0xf_1000)];
/// The longest the CPU runs without the loop looking at devices (1 ms at
/// 25 MHz): bounds how long output waits in a device before it is seen.
const MAX_SLICE: Ticks = 25_000;
/// Never a Thumb PC: keeps `emu_start`'s `until` from ever matching
/// (and exits come from the engine's exit list, left empty, anyway).
const NO_EXIT: u64 = 0xffff_ffff;
/// Each machine's translation buffer (QEMU's default reserves 1 GiB).
/// The images here translate to 50-350 KiB of host code; a guest that
/// needs more gets its translations flushed and made again when the
/// buffer is full, invisibly to it. Kept under 2 MiB so that it is never
/// one transparent huge page (Unicorn asks for them): that cost 2 MiB of
/// memory and of zeroing per machine.
const TB_BUFFER_BYTES: u32 = (2 << 20) - (64 << 10);

#[derive(Debug, Error)]
pub enum MachineError {
    #[error("CPU engine: {0:?}")]
    Engine(unicorn_engine::uc_error),
    #[error("image segment 0x{addr:08x}..0x{end:08x} ({len} bytes) does not fit in the memory of board '{board}' ({regions})")]
    DoesNotFit {
        addr: u64,
        end: u64,
        len: usize,
        board: String,
        regions: String,
    },
    #[error("{0}")]
    Device(String),
}

impl From<unicorn_engine::uc_error> for MachineError {
    fn from(e: unicorn_engine::uc_error) -> Self {
        MachineError::Engine(e)
    }
}

/// Why the CPU stopped, as the CPU layer reports it to the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CpuExit {
    /// A deadline or a device needs attention; nothing for the CPU to do.
    Service,
    /// A two-byte block that branched to itself (`b .`).
    Spin,
    /// A synchronous exception Unicorn reported through its interrupt hook.
    Exception(u32),
    /// An instruction Unicorn could not execute (UDF, WFE/YIELD, bad state).
    Invalid,
    /// An access to an address with nothing mapped, or a write to ROM.
    BusError { addr: u64, fetch: bool },
    /// UDIV/SDIV by zero with CCR.DIV_0_TRP set, before it executes.
    DivByZero,
    /// A debugger's breakpoint, before the instruction executes.
    Breakpoint,
    /// A debugger's watchpoint, during the access of the instruction at
    /// `pc`; for a store, the bytes it overwrote (RAM only), to be put back
    /// so that the instruction has not happened yet.
    Watchpoint {
        hit: WatchHit,
        pc: u32,
        undo: Option<(u64, Vec<u8>)>,
    },
    /// An exception entry or return touched a watched address
    /// (`Watchpoints::frame_hit`); it is complete.
    FrameWatch,
    /// An unaligned access with CCR.UNALIGN_TRP set; for a store, the bytes
    /// it overwrote, to be put back so the faulting store has no effect.
    Unaligned { undo: Option<(u64, Vec<u8>)> },
    /// A hook could not enter an exception (lockup, bad stack).
    EntryFailed { err: EntryError, pc: u32 },
    /// Code is about to run from RAM that was mapped without EXEC
    /// (`Hw::exec_wanted`); nothing for the loop to do once it is mapped.
    ExecEnabled,
}

/// Why `Machine::run` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Virtual time reached the requested limit.
    TimeLimit,
    /// A device produced output for the outside world (UART bytes).
    Output,
    /// The guest sleeps and nothing can ever wake it.
    Asleep { pc: u32 },
    /// The guest cannot continue (lockup, fault with no handler that returns).
    Crashed(Box<CrashInfo>),
    /// A debugger's breakpoint was reached; the instruction has not run.
    Breakpoint { pc: u32 },
    /// A debugger's watchpoint was hit by the instruction at `pc`, which
    /// has not run yet (step it to make its access: `Machine::step`).
    /// Or, with `Machine::at_watch_hit` false, by the stacking of an
    /// exception entry or the unstacking of a return, which are complete:
    /// `pc` is then the handler's first instruction, or the one the return
    /// went back to (see `watch`).
    Watchpoint { pc: u32, hit: WatchHit },
    /// `Machine::step` executed one instruction (or entered an exception).
    Stepped { pc: u32 },
    /// The guest turned the machine off (PSCI SYSTEM_OFF).
    PoweredOff,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashInfo {
    pub reason: String,
    pub pc: u32,
    pub lr: u32,
    pub xpsr: u32,
    pub cfsr: u32,
    pub hfsr: u32,
    pub bfar: u32,
    pub mmfar: u32,
    pub fault_pc: Option<u32>,
    pub time: Ticks,
    /// The machine's last exceptions, interrupt line changes and device
    /// accesses before the crash, oldest first, as trace lines.
    pub recent: Vec<String>,
    /// Registers of a core other than M-profile, as one line (the
    /// M-profile fields above are then not meaningful).
    pub detail: Option<String>,
}

/// Snapshot files start with these bytes and the format version.
const SNAPSHOT_MAGIC: &[u8; 8] = b"ENSSNAP\0";
/// Bump when what a snapshot holds, or any device's state, changes shape.
pub const SNAPSHOT_VERSION: u32 = 2;

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedSlot {
    name: String,
    state: Vec<u8>,
    input: Vec<u8>,
    arrivals: Vec<(Ticks, Vec<u8>)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedMachine {
    board: String,
    image: u64,
    now: Ticks,
    idle: Ticks,
    event_register: bool,
    nmi_level: bool,
    sleeping: bool,
    /// r0-r12, lr, pc, xPSR, PRIMASK, BASEPRI, FAULTMASK, FPSCR.
    regs: Vec<u32>,
    /// s0-s31.
    fp: Vec<u32>,
    /// IPSR, CONTROL, MSP, PSP.
    mode: [u32; 4],
    scs: Scs,
    memory: Vec<SavedMemory>,
    slots: Vec<SavedSlot>,
    /// The AArch64 core (the M-profile fields above are then unused).
    a64: Option<a64_snapshot::SavedCpu>,
}

/// A memory region as its pages that are not all zero: a Linux-class
/// machine has hundreds of MiB of RAM, mostly untouched.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedMemory {
    len: u64,
    pages: Vec<(u32, Vec<u8>)>,
}

const SAVED_PAGE: usize = 4096;

impl SavedMemory {
    fn of(region: &[u8]) -> SavedMemory {
        let pages = region
            .chunks(SAVED_PAGE)
            .enumerate()
            .filter(|(_, p)| p.iter().any(|&b| b != 0))
            .map(|(i, p)| (i as u32, p.to_vec()))
            .collect();
        SavedMemory {
            len: region.len() as u64,
            pages,
        }
    }

    fn fits(&self, region: &[u8]) -> bool {
        self.len == region.len() as u64
            && self.pages.iter().all(|(i, p)| {
                (*i as usize)
                    .checked_mul(SAVED_PAGE)
                    .and_then(|at| at.checked_add(p.len()))
                    .is_some_and(|end| end <= region.len() && p.len() <= SAVED_PAGE)
            })
    }

    fn restore_into(&self, region: &mut [u8]) {
        region.fill(0);
        for (i, p) in &self.pages {
            let at = *i as usize * SAVED_PAGE;
            region[at..at + p.len()].copy_from_slice(p);
        }
    }
}

/// A fingerprint of an image's contents (FNV-1a over addresses and
/// bytes), so a snapshot is not restored onto another program.
fn image_digest(image: &Image) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for seg in &image.segments {
        seg.addr.to_le_bytes().into_iter().for_each(&mut eat);
        seg.data.iter().copied().for_each(&mut eat);
    }
    h
}

/// State reachable from the CPU's hooks: time, the interrupt controller
/// and the devices.
pub struct Hw {
    pub now: Ticks,
    /// Ticks skipped while the guest slept: `now - idle` is work done.
    pub idle: Ticks,
    pub stop_at: Ticks,
    /// The block hook's fast path runs while `now < limit`: `stop_at`,
    /// or 0 whenever it must look closer (attention, an exception that
    /// may preempt, stopping, single-stepping). Set before the CPU runs
    /// and zeroed by whatever sets those meanwhile.
    limit: Ticks,
    pub scs: Scs,
    pub slots: Vec<Slot>,
    /// Set by MMIO accesses that changed interrupt lines, deadlines or
    /// produced output: the loop should look at devices before going on.
    pub attention: bool,
    /// Some pending exception outranks the active ones; the block hook
    /// then checks the masking registers.
    pub irq_maybe: bool,
    pub event_register: bool,
    nmi_level: bool,
    stopping: bool,
    exit: Option<CpuExit>,
    last_block: u64,
    pub trace: Trace,
    unimplemented: Vec<(String, u64, bool)>,
    /// Hooks for the CCR traps, added the first time a guest enables them
    /// so that guests which do not pay nothing.
    div_trap_hooked: bool,
    unaligned_trap_hooked: bool,
    /// Debugger breakpoints in force, and the addresses that have a hook
    /// (hooks are never removed: a cleared breakpoint's hook stays idle).
    breakpoints: std::collections::BTreeSet<u64>,
    break_hooks: std::collections::BTreeSet<u64>,
    /// Resuming from a breakpoint at this address: let it run once.
    skip_break: Option<u64>,
    /// Debugger watchpoints (memory hooks added as they are set; the
    /// exception model reports its frame accesses here).
    pub(crate) watch: Watchpoints,
    /// Single-stepping: blocks do not count their ticks (one is added).
    stepping: bool,
    /// The machine's second handle on this engine (see `install_hooks`).
    engine: *mut Unicorn<'static, Hw>,
    /// RAM mappings (address, size, index into `memory`) not yet executed
    /// from, mapped without EXEC so that the engine's stores there skip
    /// its check for translated code to invalidate (M-profile RAM is
    /// executable, so the engine's own fast path never applies to it).
    /// The first fetch from one makes its region executable before the
    /// code runs, so translated code in RAM is always checked for.
    no_exec: Vec<(u64, u64, usize)>,
    /// The region (index into `memory`) a fetch asked to make executable.
    exec_wanted: Option<usize>,
    /// The guest executed WFI (or WFE, a branch to itself, sleep-on-exit)
    /// and waits for an event.
    sleeping: bool,
    /// A service collected output for the outside world.
    output_ready: bool,
    /// A device asked for a system reset (reset line) at a service.
    reset_pending: bool,
    /// An MMIO access touched a device since the last full service.
    touched: bool,
    /// Until then no device needs service unless touched or `attention`
    /// is set: the earliest device deadline or frame arrival (0 while a
    /// device has input waiting to enter it).
    quiet_until: Ticks,
    /// The limit of the present `Machine::run`.
    until: Ticks,
    /// Bytes each device sent since last taken, and frames network
    /// devices sent: (time sent, device, bytes).
    outputs: Vec<Vec<u8>>,
    frames: Vec<(Ticks, String, Vec<u8>)>,
    media: Media,
    /// Backing store of RAM/ROM regions; Unicorn maps these pointers
    /// (`Hw` is dropped after the engine is closed). Where each region is
    /// mapped: (address, size, index into `memory`, writable), aliases
    /// included. Devices reach RAM through it.
    memory: Vec<Box<[u8]>>,
    ram_map: Vec<(u64, u64, usize, bool)>,
    /// The AArch64 core's interrupt controller, timer and exception state
    /// (None on M-profile machines).
    a64: Option<Box<a64::A64>>,
}

impl Hw {
    fn request_stop(uc: &mut Unicorn<'_, Hw>, exit: CpuExit) {
        let hw = uc.get_data_mut();
        if !hw.stopping {
            hw.stopping = true;
            hw.limit = 0;
            hw.exit = Some(exit);
            let _ = uc.emu_stop();
        }
    }

    /// The device side of `Machine::service`: everything but the reset
    /// itself, which needs the CPU (`reset_pending` asks for it).
    fn service(&mut self) {
        let now = self.now;
        if self.scs.advance(now) {
            self.trace
                .exception_pended(now, EXC_SYSTICK, || "counter reached zero".into());
        }
        if !self.attention && !self.touched && now < self.quiet_until {
            // No device needs service (see `Slot::needs_service`).
            self.irq_maybe = self.scs.may_preempt();
            return;
        }
        let mut output = false;
        let mut lines_moved = false;
        let mut ram = GuestRam {
            map: &self.ram_map,
            memory: &mut self.memory,
        };
        let media = &mut self.media;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if !slot.needs_service(now) {
                continue;
            }
            slot.dev.advance(now);
            slot.dev.dma(&mut ram, now);
            for frame in slot.dev.take_video() {
                if media.keep_video {
                    media.video.push((i, frame.clone()));
                }
                media.latest[i] = Some(frame);
            }
            for chunk in slot.dev.take_audio() {
                if media.keep_audio {
                    media.audio.push((i, chunk));
                }
            }
            if !slot.input.is_empty() {
                let bytes: Vec<u8> = slot.input.iter().copied().collect();
                let n = slot.dev.push_input(&bytes, now);
                slot.input.drain(..n);
            }
            while slot.arrivals.front().is_some_and(|(t, _)| *t <= now) {
                let (_, frame) = slot.arrivals.pop_front().expect("checked above");
                slot.dev.receive_frame(&frame, now);
            }
            let out = slot.dev.take_output();
            if !out.is_empty() {
                self.outputs[i].extend_from_slice(&out);
                output = true;
            }
            for frame in slot.dev.take_frames() {
                self.frames.push((now, slot.name.clone(), frame));
                output = true;
            }
            let before = slot.lines();
            if slot.refresh() {
                lines_moved = true;
                let after = slot.lines();
                self.trace
                    .lines(now, i, &slot.name, &slot.irqs, before, after);
            }
        }
        if lines_moved && self.a64.is_some() {
            a64::route_spis(self);
        } else if lines_moved {
            let mut levels = vec![false; self.scs.info.num_irq];
            let mut nmi = false;
            let mut reset = false;
            for slot in &self.slots {
                let (n, r) = slot.route_irqs(&mut levels);
                nmi |= n;
                reset |= r;
            }
            for (n, level) in levels.into_iter().enumerate() {
                let was_pending = self.scs.is_pending(EXC_IRQ0 + n);
                self.scs.set_irq_level(n, level);
                if !was_pending && self.scs.is_pending(EXC_IRQ0 + n) {
                    self.trace.pended(now, n);
                }
            }
            // NMI is edge-triggered from the wired lines.
            if nmi && !self.nmi_level && !self.scs.is_pending(EXC_NMI) {
                self.scs.set_pending(EXC_NMI);
                self.trace
                    .exception_pended(now, EXC_NMI, || "rising edge of a device line".into());
            }
            self.nmi_level = nmi;
            self.reset_pending |= reset;
        }
        self.attention = false;
        self.touched = false;
        self.update_quiet_until();
        self.irq_maybe = self.scs.may_preempt();
        self.output_ready |= output;
    }

    /// The earliest deadline a device asked for or frame arrival due.
    fn earliest_device_event(&self) -> Option<Ticks> {
        let deadlines = self.slots.iter().filter_map(|s| s.deadline());
        let arrivals = self
            .slots
            .iter()
            .filter_map(|s| s.arrivals.front().map(|a| a.0));
        deadlines.chain(arrivals).min()
    }

    fn update_quiet_until(&mut self) {
        self.quiet_until = if self.slots.iter().any(|s| s.has_input()) {
            0
        } else {
            self.earliest_device_event().unwrap_or(Ticks::MAX)
        };
    }

    /// May hooks do the run loop's work (see `run_on`)? Not while a
    /// debugger steps or has breakpoints: the loop handles those.
    fn in_engine(&self) -> bool {
        !self.stepping && self.break_hooks.is_empty() && self.skip_break.is_none()
    }

    /// The guest enabled a CCR trap whose hooks are not installed yet.
    fn ccr_traps_unarmed(&self) -> bool {
        let ccr = self.scs.ccr();
        (ccr & CCR_DIV_0_TRP != 0 && !self.div_trap_hooked)
            || (ccr & CCR_UNALIGN_TRP != 0 && !self.unaligned_trap_hooked)
    }

    fn set_limit(&mut self) {
        self.limit = if self.attention || self.irq_maybe || self.stopping || self.stepping {
            0
        } else {
            self.stop_at
        };
    }

    /// Read guest RAM or ROM straight from the backing store; false when
    /// the bytes are not all in one such region.
    pub(crate) fn ram_read(&self, addr: u64, buf: &mut [u8]) -> bool {
        match find_ram(&self.ram_map, addr, buf.len(), false) {
            Some((idx, off)) => {
                buf.copy_from_slice(&self.memory[idx][off..off + buf.len()]);
                true
            }
            None => false,
        }
    }

    /// Write guest RAM straight into the backing store (translated code
    /// there is the caller's business); false when the bytes are not all
    /// in one RAM region.
    pub(crate) fn ram_write(&mut self, addr: u64, data: &[u8]) -> bool {
        match find_ram(&self.ram_map, addr, data.len(), true) {
            Some((idx, off)) => {
                self.memory[idx][off..off + data.len()].copy_from_slice(data);
                true
            }
            None => false,
        }
    }

    fn wants_reset(&self) -> bool {
        self.reset_pending || self.scs.reset_requested
    }

    /// The earliest device deadline, frame arrival or SysTick zero.
    fn next_deadline(&self) -> Option<Ticks> {
        // After a service, `quiet_until` is the earliest of the devices'
        // (`MAX` for none); 0 only while input waits, which also asks for
        // the same full computation.
        let devices = if self.quiet_until != 0 && !self.touched && !self.attention {
            (self.quiet_until != Ticks::MAX).then_some(self.quiet_until)
        } else {
            self.earliest_device_event()
        };
        devices
            .into_iter()
            .chain(self.scs.next_deadline(self.now))
            .min()
    }

    fn mmio_read(&mut self, idx: usize, off: u64, size: usize) -> u64 {
        let now = self.now;
        let slot = &mut self.slots[idx];
        let v = slot.dev.read(off, size as u8, now);
        slot.dirty = true;
        self.touched = true;
        if slot.changed() || slot.has_input() {
            self.attention = true;
            self.limit = 0;
        }
        self.trace
            .device_access(now, idx, &slot.name, false, off, size, v);
        v as u64
    }

    fn mmio_write(&mut self, idx: usize, off: u64, size: usize, value: u64) {
        let now = self.now;
        let slot = &mut self.slots[idx];
        slot.dev.write(off, size as u8, value as u32, now);
        slot.dirty = true;
        self.touched = true;
        // Stop the CPU only when the write changed what the loop acts on:
        // interrupt lines, a deadline, or a frame to send. UART bytes wait
        // in the device until the next service (at most MAX_SLICE away).
        if slot.changed() || slot.dev.wants_service() {
            self.attention = true;
            self.limit = 0;
        }
        self.trace
            .device_access(now, idx, &slot.name, true, off, size, value as u32);
    }

    fn unimplemented_access(&mut self, idx: usize, off: u64, write: bool) {
        let (name, base, warned) = &mut self.unimplemented[idx];
        if !*warned {
            *warned = true;
            eprintln!(
                "warning: guest {} unimplemented region '{}' at 0x{:08x} (reads as zero, writes ignored; warned once)",
                if write { "wrote to" } else { "read from" },
                name,
                *base + off
            );
        }
    }
}

/// Virtual time: one tick per halfword of code in each block entered.
/// Thumb block sizes are in bytes and instructions are 2 or 4 bytes;
/// halfwords are exact, cheap and deterministic. Before the block runs,
/// at a deadline, when a device needs attention or when an exception
/// could now be taken, does the run loop's work in the engine (`run_on`,
/// which may enter an exception instead of running the block) or stops
/// the CPU; stops it on a two-byte block branching to itself.
unsafe extern "C" fn block_hook(uc: *mut sys::uc_engine, addr: u64, size: u32, data: *mut c_void) {
    // SAFETY: `data` is the engine's `Hw`, valid while the engine runs
    // (see `install_hooks`), which nothing else touches during the callback.
    let hw = unsafe { &mut *(data as *mut Hw) };
    if hw.now < hw.limit && (addr != hw.last_block || size != 2) {
        // Nothing to look at (see `Hw::limit`): count the block. This
        // path is kept small (no register saves): it runs for every block.
        hw.last_block = addr;
        hw.now += (size as u64).div_ceil(2).max(1);
        return;
    }
    // SAFETY: as above.
    unsafe { block_hook_slow(uc, addr, size, data) }
}

/// The rest of `block_hook`.
#[cold]
#[inline(never)]
unsafe fn block_hook_slow(uc: *mut sys::uc_engine, addr: u64, size: u32, data: *mut c_void) {
    let hw = data as *mut Hw;
    let masks = || {
        let ids = [R::PRIMASK as i32, R::FAULTMASK as i32, R::BASEPRI as i32];
        let mut v = [0u64; 3];
        let mut ptrs = [std::ptr::null_mut::<c_void>(); 3];
        for (p, v) in ptrs.iter_mut().zip(v.iter_mut()) {
            *p = v as *mut u64 as *mut c_void;
        }
        // SAFETY: 32-bit register reads into u64 slots, on the live engine.
        unsafe { sys::uc_reg_read_batch(uc, ids.as_ptr(), ptrs.as_mut_ptr(), 3) };
        (v[0] as u32 & 1 != 0, v[1] as u32 & 1 != 0, v[2] as u32)
    };
    let mut settled = false;
    loop {
        // SAFETY: see `block_hook`; the reference is not kept across
        // `run_on`, which reaches `Hw` through the engine handle.
        let hw = unsafe { &mut *hw };
        if hw.stopping {
            return;
        }
        let exit = if hw.now >= hw.stop_at || hw.attention {
            Some(CpuExit::Service)
        } else if hw.irq_maybe && {
            let (primask, faultmask, basepri) = masks();
            hw.scs.to_take(primask, faultmask, basepri).is_some()
        } {
            Some(CpuExit::Service)
        } else if addr == hw.last_block && size == 2 {
            Some(CpuExit::Spin)
        } else {
            None
        };
        match exit {
            None => {
                hw.last_block = addr;
                if !hw.stepping {
                    hw.now += (size as u64).div_ceil(2).max(1);
                }
                return;
            }
            Some(CpuExit::Service) if !settled && hw.in_engine() => {
                settled = true;
                // SAFETY: `engine` is the machine's boxed handle on this
                // engine (see `install_hooks`).
                let uc = unsafe { &mut *hw.engine };
                if run_on(uc, false) {
                    // An exception was entered: this block does not run.
                    return;
                }
                // Look again (stopped, or the block runs now).
            }
            Some(exit) => {
                hw.stopping = true;
                hw.limit = 0;
                hw.exit = Some(exit);
                // SAFETY: stopping the engine from inside its own hook is
                // the documented use of uc_emu_stop.
                unsafe { sys::uc_emu_stop(uc) };
                return;
            }
        }
    }
}

pub struct Machine {
    uc: Unicorn<'static, Hw>,
    /// A second handle on the engine, for the block hook (`Hw::engine`).
    _engine: Box<Unicorn<'static, Hw>>,
    pub board: Board,
    image: Image,
    /// Slots in the order `leds` visits them: GPIO blocks first.
    led_order: Vec<usize>,
}

/// What displays showed and speakers played, as the machine collected it.
#[derive(Default)]
struct Media {
    /// The latest frame of each slot that is a display (by slot index).
    latest: Vec<Option<VideoFrame>>,
    /// Every frame shown since last taken, when asked for.
    keep_video: bool,
    video: Vec<(usize, VideoFrame)>,
    /// Audio played since last taken, when asked for.
    keep_audio: bool,
    audio: Vec<(usize, AudioChunk)>,
}

/// Guest RAM and ROM as a bus master sees it (devices' DMA).
struct GuestRam<'a> {
    map: &'a [(u64, u64, usize, bool)],
    memory: &'a mut [Box<[u8]>],
}

impl GuestRam<'_> {
    fn find(&self, addr: u64, len: usize, write: bool) -> Option<(usize, usize)> {
        find_ram(self.map, addr, len, write)
    }
}

/// Where `len` bytes at `addr` are in one RAM (or, reading, ROM) region:
/// (index into the backing store, offset).
fn find_ram(
    map: &[(u64, u64, usize, bool)],
    addr: u64,
    len: usize,
    write: bool,
) -> Option<(usize, usize)> {
    map.iter().find_map(|&(base, size, idx, writable)| {
        let end = addr.checked_add(len as u64)?;
        (addr >= base && end <= base + size && (writable || !write))
            .then(|| (idx, (addr - base) as usize))
    })
}

impl Dma for GuestRam<'_> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        match self.find(addr, buf.len(), false) {
            Some((idx, off)) => {
                buf.copy_from_slice(&self.memory[idx][off..off + buf.len()]);
                true
            }
            None => false,
        }
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.find(addr, data.len(), true) {
            Some((idx, off)) => {
                self.memory[idx][off..off + data.len()].copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

impl Machine {
    pub fn new(board: Board, image: Image, trace: Trace) -> Result<Machine, MachineError> {
        if board.cpu.is_aarch64() {
            return Self::new_a64(board, image, trace);
        }
        let hw = new_hw(&board, trace)?;
        let mut uc = Unicorn::new_with_data(Arch::ARM, Mode::THUMB | Mode::LITTLE_ENDIAN, hw)?;
        // Open as the true core model; Mode::MCLASS would make it an M33.
        let model = match board.cpu {
            crate::board::CpuModel::CortexM3 => ArmCpuModel::CORTEX_M3,
            crate::board::CpuModel::CortexM4 => ArmCpuModel::CORTEX_M4,
            crate::board::CpuModel::CortexM7 => ArmCpuModel::CORTEX_M7,
            other => unreachable!("{} is built by new_a64", other.name()),
        };
        uc.ctl_set_cpu_model(model as i32)?;
        bound_translation_buffer(&mut uc, TB_BUFFER_BYTES)?;
        // Exits from a list (left empty) instead of `emu_start`'s `until`:
        // otherwise every `emu_start` invalidates translations at `until`,
        // a TLB fill of an unmapped page each time.
        uc.ctl_exits_enable()?;

        let (memory, ram_map, no_exec) = map_memory(&mut uc, &board, true)?;
        map_devices(&mut uc, &board)?;
        uc.mmio_map(
            SCS_BASE,
            0x1000,
            Some(|uc: &mut Unicorn<'_, Hw>, off: u64, size: usize| {
                // Lazy FP state preservation happens at the handler's first
                // FP instruction, which is also when the core sets
                // CONTROL.FPCA again: LSPACT reads clear from then on.
                if off & !3 == 0xf34 && uc.get_data().scs.fpccr & FPCCR_LSPACT != 0 {
                    let control = uc.reg_read(R::CONTROL).unwrap_or(0);
                    if control & 4 != 0 {
                        uc.get_data_mut().scs.fpccr &= !FPCCR_LSPACT;
                    }
                }
                let hw = uc.get_data_mut();
                let v = hw.scs.read(off, size as u8, hw.now);
                hw.trace
                    .device_access(hw.now, SCS_DEVICE, "scs", false, off, size, v);
                v as u64
            }),
            Some(
                |uc: &mut Unicorn<'_, Hw>, off: u64, size: usize, value: u64| {
                    let hw = uc.get_data_mut();
                    let now = hw.now;
                    // What the write pends or clears, when traced.
                    let before = hw
                        .trace
                        .enabled(TraceKind::Interrupts)
                        .then(|| hw.scs.pending_bits());
                    hw.scs.write(off, size as u8, value as u32, now);
                    hw.trace
                        .device_access(now, SCS_DEVICE, "scs", true, off, size, value as u32);
                    if let Some(before) = before {
                        let after = hw.scs.pending_bits();
                        hw.trace.pends_written(now, off, before, after);
                    }
                    hw.attention = true;
                    hw.limit = 0;
                },
            ),
        )?;
        let regions: Vec<(u64, u64)> = board
            .unimplemented
            .iter()
            .map(|r| (r.base, r.size))
            .chain(PPB.iter().copied())
            .collect();
        for (idx, (base, size)) in regions.into_iter().enumerate() {
            uc.mmio_map(
                base,
                size,
                Some(move |uc: &mut Unicorn<'_, Hw>, off: u64, _size: usize| {
                    uc.get_data_mut().unimplemented_access(idx, off, false);
                    0
                }),
                Some(
                    move |uc: &mut Unicorn<'_, Hw>, off: u64, _size: usize, _v: u64| {
                        uc.get_data_mut().unimplemented_access(idx, off, true)
                    },
                ),
            )?;
        }

        let hw = uc.get_data_mut();
        hw.memory = memory;
        hw.ram_map = ram_map;
        hw.no_exec = no_exec;
        hw.outputs = vec![Vec::new(); hw.slots.len()];
        hw.media.latest = vec![None; hw.slots.len()];
        let engine = Self::install_hooks(&mut uc)?;
        let led_order = led_order(&uc.get_data().slots);
        let mut m = Machine {
            uc,
            _engine: engine,
            board,
            image,
            led_order,
        };
        m.load_image()?;
        m.hook_sev()?;
        m.reset_cpu();
        Ok(m)
    }

    fn install_hooks(
        uc: &mut Unicorn<'static, Hw>,
    ) -> Result<Box<Unicorn<'static, Hw>>, MachineError> {
        // The block hook runs on every translated block, so it is a plain C
        // callback with `Hw` as its user data: the crate's closure
        // trampoline cost a measured 2-4% more. `Hw` lives inside the
        // engine handle at a stable address for as long as `uc` exists,
        // and hooks are never removed, so the pointer stays valid for
        // every call. For its rare work with the CPU's registers it finds
        // a handle on the engine through `Hw::engine`: boxed, owned by the
        // machine (a handle inside `Hw` would keep the engine alive).
        let mut engine = Box::new(uc.clone());
        uc.get_data_mut().engine = &mut *engine;
        add_block_hook(uc, block_hook)?;
        uc.add_intr_hook(|uc, intno| {
            // M-profile exception return: done here when the loop would
            // just run the CPU on afterwards.
            const EXCP_EXCEPTION_EXIT: u32 = 8;
            let hw = uc.get_data();
            if intno == EXCP_EXCEPTION_EXIT
                && !hw.stopping
                && hw.in_engine()
                && exception_return_in_engine(uc)
            {
                return;
            }
            Hw::request_stop(uc, CpuExit::Exception(intno))
        })?;
        uc.add_insn_invalid_hook(|uc| {
            let hw = uc.get_data_mut();
            hw.exit = Some(CpuExit::Invalid);
            hw.stopping = true;
            hw.limit = 0;
            false
        })?;
        uc.add_mem_hook(
            HookType::MEM_UNMAPPED | HookType::MEM_WRITE_PROT | HookType::MEM_FETCH_PROT,
            1,
            0,
            |uc, kind, addr, _size, _value| {
                let fetch = matches!(kind, MemType::FETCH_UNMAPPED | MemType::FETCH_PROT);
                let hw = uc.get_data_mut();
                if kind == MemType::FETCH_PROT {
                    if let Some(&(_, _, idx)) = hw
                        .no_exec
                        .iter()
                        .find(|&&(base, size, _)| addr >= base && addr - base < size)
                    {
                        // The first code from RAM mapped without EXEC (see
                        // `Hw::no_exec`): let this translation read it,
                        // and stop before it runs to make the region
                        // executable.
                        hw.exec_wanted = Some(idx);
                        Hw::request_stop(uc, CpuExit::ExecEnabled);
                        return true;
                    }
                }
                hw.exit = Some(CpuExit::BusError { addr, fetch });
                hw.stopping = true;
                hw.limit = 0;
                false
            },
        )?;
        Ok(engine)
    }

    fn load_image(&mut self) -> Result<(), MachineError> {
        for seg in &self.image.segments {
            let len = seg.data.len() as u64;
            let Some((mem, off)) = self.board.memory_at(seg.addr, len) else {
                return Err(MachineError::DoesNotFit {
                    addr: seg.addr,
                    end: seg.addr + len,
                    len: seg.data.len(),
                    board: self.board.name.clone(),
                    regions: self
                        .board
                        .memory
                        .iter()
                        .map(|m| format!("{} 0x{:x}+0x{:x}", m.name, m.base, m.size))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let idx = self
                .board
                .memory
                .iter()
                .position(|m| m.name == mem.name)
                .expect("region found above");
            self.uc.get_data_mut().memory[idx][off as usize..(off + len) as usize]
                .copy_from_slice(&seg.data);
        }
        Ok(())
    }

    /// Press the reset button: the image is loaded again, every device
    /// returns to its power-on state (what the outside world feeds it,
    /// such as sensor sources, stays) and the CPU starts from its vectors.
    /// Virtual time goes on.
    pub fn reset(&mut self) {
        let _ = self.load_image();
        self.reset_cpu();
        self.uc.get_data_mut().sleeping = false;
    }

    /// The whole machine as bytes: CPU registers (core, FPU, banked stack
    /// pointers, masks), the core's system state, every memory region,
    /// every device with the input and frames waiting to enter it, and
    /// virtual time. Output the machine produced but nobody took yet is
    /// not included (it belongs to the run that produced it).
    pub fn save_snapshot(&mut self) -> Result<Vec<u8>, MachineError> {
        let a64 = if self.uc.get_data().a64.is_some() {
            Some(a64_snapshot::save(&self.uc).map_err(MachineError::Device)?)
        } else {
            None
        };
        let mode = if a64.is_some() {
            [0; 4]
        } else {
            let m = cortex_m::read_mode(&mut self.uc);
            [m.ipsr, m.control, m.msp, m.psp]
        };
        let rd = |uc: &Unicorn<'_, Hw>, r: R| uc.reg_read(r).unwrap_or(0) as u32;
        let mut regs = Vec::new();
        let mut fp = Vec::new();
        if a64.is_none() {
            regs = (0..13).map(|i| rd(&self.uc, gp_reg(i))).collect();
            for r in [
                R::LR,
                R::PC,
                R::XPSR,
                R::PRIMASK,
                R::BASEPRI,
                R::FAULTMASK,
                R::FPSCR,
            ] {
                regs.push(rd(&self.uc, r));
            }
            fp = (0..32).map(|i| rd(&self.uc, cortex_m::fp_reg(i))).collect();
        }
        let image = image_digest(&self.image);
        let hw = self.uc.get_data();
        let mut slots = Vec::new();
        for s in &hw.slots {
            let state = s.dev.save_state().ok_or_else(|| {
                MachineError::Device(format!(
                    "device '{}' ({}) cannot be saved in a snapshot",
                    s.name,
                    s.dev.kind()
                ))
            })?;
            slots.push(SavedSlot {
                name: s.name.clone(),
                state,
                input: s.input.iter().copied().collect(),
                arrivals: s.arrivals.iter().cloned().collect(),
            });
        }
        let saved = SavedMachine {
            board: self.board.name.clone(),
            image,
            now: hw.now,
            idle: hw.idle,
            event_register: hw.event_register,
            nmi_level: hw.nmi_level,
            sleeping: hw.sleeping,
            regs,
            fp,
            mode,
            scs: hw.scs.clone(),
            memory: hw.memory.iter().map(|m| SavedMemory::of(m)).collect(),
            slots,
            a64,
        };
        let body = postcard::to_allocvec(&saved)
            .map_err(|e| MachineError::Device(format!("snapshot: {e}")))?;
        let mut out = SNAPSHOT_MAGIC.to_vec();
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Continue from a snapshot of a machine of the same board and image.
    /// Meant for a machine just built (no code translated yet).
    pub fn restore_snapshot(&mut self, data: &[u8]) -> Result<(), String> {
        let n = SNAPSHOT_MAGIC.len();
        if data.len() < n + 4 || &data[..n] != SNAPSHOT_MAGIC {
            return Err("not an Ensemble snapshot".into());
        }
        let version = u32::from_le_bytes(data[n..n + 4].try_into().expect("4 bytes"));
        if version != SNAPSHOT_VERSION {
            return Err(format!(
                "snapshot format version {version}, this Ensemble reads version {SNAPSHOT_VERSION}"
            ));
        }
        let saved: SavedMachine =
            postcard::from_bytes(&data[n + 4..]).map_err(|e| format!("damaged snapshot: {e}"))?;
        if saved.board != self.board.name {
            return Err(format!(
                "snapshot of board '{}', not '{}'",
                saved.board, self.board.name
            ));
        }
        if saved.image != image_digest(&self.image) {
            return Err("snapshot of another image (give the image it was taken with)".into());
        }
        {
            let hw = self.uc.get_data_mut();
            if saved.memory.len() != hw.memory.len()
                || saved.memory.iter().zip(&hw.memory).any(|(a, b)| !a.fits(b))
                || saved.slots.len() != hw.slots.len()
                || saved
                    .slots
                    .iter()
                    .zip(&hw.slots)
                    .any(|(a, b)| a.name != b.name)
            {
                return Err("snapshot of another layout of this board".into());
            }
            if saved.a64.is_some() != hw.a64.is_some() {
                return Err("snapshot of another kind of CPU".into());
            }
            for (m, data) in hw.memory.iter_mut().zip(&saved.memory) {
                data.restore_into(m);
            }
            for (slot, s) in hw.slots.iter_mut().zip(&saved.slots) {
                slot.dev
                    .restore_state(&s.state)
                    .map_err(|e| format!("device '{}': {e}", slot.name))?;
                slot.input = s.input.iter().copied().collect();
                slot.arrivals = s.arrivals.iter().cloned().collect();
                slot.dirty = true;
            }
            hw.now = saved.now;
            hw.idle = saved.idle;
            hw.event_register = saved.event_register;
            hw.nmi_level = saved.nmi_level;
            hw.sleeping = saved.sleeping;
            hw.scs = saved.scs.clone();
            hw.attention = true;
            hw.irq_maybe = hw.scs.may_preempt();
        }
        if let Some(cpu) = &saved.a64 {
            return a64_snapshot::restore(&mut self.uc, cpu);
        }
        // Registers whose writes the engine drops in unprivileged thread
        // mode go first, while the core is still privileged from reset.
        let r = &saved.regs;
        let wr = |uc: &mut Unicorn<'_, Hw>, reg: R, v: u32| {
            let _ = uc.reg_write(reg, v as u64);
        };
        for i in 0..13 {
            wr(&mut self.uc, gp_reg(i), r[i]);
        }
        wr(&mut self.uc, R::LR, r[13]);
        wr(&mut self.uc, R::PC, r[14]);
        wr(&mut self.uc, R::PRIMASK, r[16]);
        wr(&mut self.uc, R::BASEPRI, r[17]);
        wr(&mut self.uc, R::FAULTMASK, r[18]);
        wr(&mut self.uc, R::FPSCR, r[19]);
        for (i, v) in saved.fp.iter().enumerate() {
            wr(&mut self.uc, cortex_m::fp_reg(i), *v);
        }
        let [ipsr, control, msp, psp] = saved.mode;
        cortex_m::write_mode(
            &mut self.uc,
            cortex_m::ModeState {
                ipsr,
                control,
                msp,
                psp,
            },
        );
        // Flags and execution state (Thumb bit, IT block) last.
        wr(&mut self.uc, R::EPSR, r[15] & 0x0700_fc00);
        wr(&mut self.uc, R::XPSR_NZCVQG, r[15]);
        Ok(())
    }

    /// Reset as hardware does: SP and PC from the vector table at VTOR.
    fn reset_cpu(&mut self) {
        if self.uc.get_data().a64.is_some() {
            return self.reset_a64();
        }
        for slot in &mut self.uc.get_data_mut().slots {
            slot.dev.reset();
        }
        let hw = self.uc.get_data_mut();
        hw.scs.reset();
        let mut levels = vec![false; hw.scs.info.num_irq];
        let mut nmi = false;
        for slot in &mut hw.slots {
            slot.refresh();
            nmi |= slot.route_irqs(&mut levels).0;
        }
        hw.scs.adopt_irq_levels(&levels);
        hw.nmi_level = nmi;
        hw.update_quiet_until();
        hw.attention = true;
        let vtor = hw.scs.vtor as u64;
        let mut v = [0u8; 8];
        let _ = self.uc.mem_read(vtor, &mut v);
        let sp = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        let pc = u32::from_le_bytes([v[4], v[5], v[6], v[7]]);
        cortex_m::write_mode(
            &mut self.uc,
            cortex_m::ModeState {
                ipsr: 0,
                control: 0,
                msp: sp & !3,
                psp: 0,
            },
        );
        for r in [R::PRIMASK, R::FAULTMASK, R::BASEPRI] {
            let _ = self.uc.reg_write(r, 0);
        }
        for r in (0..13).map(gp_reg) {
            let _ = self.uc.reg_write(r, 0);
        }
        let _ = self.uc.reg_write(R::LR, 0xffff_ffff);
        let _ = self
            .uc
            .reg_write(R::EPSR, if pc & 1 != 0 { 1 << 24 } else { 0 });
        let _ = self.uc.set_pc(pc as u64);
        self.uc.get_data_mut().sleeping = false;
    }

    pub fn now(&self) -> Ticks {
        self.uc.get_data().now
    }

    pub fn clock_hz(&self) -> u64 {
        self.board.clock_hz
    }

    pub fn pc(&self) -> u32 {
        self.uc.reg_read(R::PC).unwrap_or(0) as u32
    }

    pub fn image(&self) -> &Image {
        &self.image
    }

    /// Bytes device `name` sent since the last call.
    pub fn take_output(&mut self, name: &str) -> Vec<u8> {
        match self.device_index(name) {
            Some(i) => self.take_output_of(i),
            None => Vec::new(),
        }
    }

    /// The index of device `name`, for [`Machine::take_output_of`].
    pub fn device_index(&self, name: &str) -> Option<usize> {
        self.uc.get_data().slots.iter().position(|s| s.name == name)
    }

    /// Bytes device number `index` (board order) sent since the last call.
    pub fn take_output_of(&mut self, index: usize) -> Vec<u8> {
        self.uc
            .get_data_mut()
            .outputs
            .get_mut(index)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn device_names(&self) -> Vec<String> {
        self.uc
            .get_data()
            .slots
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// Queue bytes for device `name`'s input (a UART receiver). Returns
    /// false when there is no such device.
    pub fn push_input(&mut self, name: &str, bytes: &[u8]) -> bool {
        let hw = self.uc.get_data_mut();
        match hw.slots.iter_mut().find(|s| s.name == name) {
            Some(s) => {
                s.input.extend(bytes.iter().copied());
                hw.attention = true;
                true
            }
            None => false,
        }
    }

    /// Advance devices to the current time, move data in and out, route
    /// interrupt lines into the NVIC, and carry out a system reset a
    /// device or the guest asked for. Sets `output_ready` when a device
    /// produced output for the outside world.
    fn service(&mut self) {
        let hw = self.uc.get_data_mut();
        hw.service();
        if hw.wants_reset() {
            hw.reset_pending = false;
            let now = hw.now;
            hw.trace.event(now, TraceKind::Exceptions, "system reset");
            // Reset reloads the image, as QEMU's reset reloads its ROM blobs.
            let _ = self.load_image();
            self.reset_cpu();
            let hw = self.uc.get_data_mut();
            hw.attention = false;
            hw.irq_maybe = hw.scs.may_preempt();
        }
    }

    /// Stop before the instruction at `addr` runs (a debugger breakpoint).
    pub fn set_breakpoint(&mut self, addr: u32) -> Result<(), MachineError> {
        let addr = (addr & !1) as u64;
        let hw = self.uc.get_data_mut();
        hw.breakpoints.insert(addr);
        if hw.break_hooks.insert(addr) {
            self.uc.add_code_hook(addr, addr, |uc, addr, _size| {
                let hw = uc.get_data_mut();
                if !hw.breakpoints.contains(&addr) {
                    return;
                }
                if hw.skip_break == Some(addr) {
                    hw.skip_break = None;
                    return;
                }
                Hw::request_stop(uc, CpuExit::Breakpoint);
            })?;
            // Code already translated there must be translated again.
            self.uc.ctl_remove_cache(addr, addr + 4)?;
        }
        Ok(())
    }

    pub fn clear_breakpoint(&mut self, addr: u32) {
        self.uc
            .get_data_mut()
            .breakpoints
            .remove(&((addr & !1) as u64));
    }

    /// Stop when the guest accesses `len` bytes at `addr` as `kind` says
    /// (a debugger watchpoint), before the accessing instruction completes.
    pub fn set_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: WatchKind,
    ) -> Result<(), MachineError> {
        let new = self
            .uc
            .get_data_mut()
            .watch
            .insert(addr as u64, len as u64, kind);
        for &(first, last, write) in &new {
            let ty = if write {
                HookType::MEM_WRITE
            } else {
                HookType::MEM_READ
            };
            self.uc
                .add_mem_hook(ty, first, last, |uc, mem, addr, size, _value| {
                    let hw = uc.get_data();
                    if hw.stopping {
                        return true;
                    }
                    let write = mem == MemType::WRITE;
                    let Some(hit) = hw.watch.hit(addr, size, write) else {
                        return true;
                    };
                    // The engine leaves after this access with the PC on
                    // the instruction (synced for the hook); a store is
                    // undone so that the instruction has not happened.
                    let mut old = vec![0; size];
                    let undo = (write && hw.ram_read(addr, &mut old)).then_some((addr, old));
                    let pc = pc_of(uc);
                    Hw::request_stop(uc, CpuExit::Watchpoint { hit, pc, undo });
                    true
                })?;
        }
        if !new.is_empty() {
            // Hooks apply to code translated from now on.
            self.uc.ctl_flush_tb()?;
        }
        Ok(())
    }

    /// Remove a watchpoint set with the same arguments; false if none was.
    pub fn clear_watchpoint(&mut self, addr: u32, len: u32, kind: WatchKind) -> bool {
        self.uc
            .get_data_mut()
            .watch
            .remove(addr as u64, len as u64, kind)
    }

    pub fn clear_watchpoints(&mut self) {
        self.uc.get_data_mut().watch.clear();
    }

    /// Stopped at a watchpoint: the instruction at the PC has not made its
    /// access yet, and the next `step` makes it (`run` would stop again).
    /// False after a hit by an exception entry or return, which are
    /// complete when reported.
    pub fn at_watch_hit(&self) -> bool {
        self.uc.get_data().watch.pending == Some(self.pc() as u64)
    }

    /// The stop for a hit by the exception model's own stack accesses, if
    /// one is waiting (see `watch`): execution goes on at the PC.
    fn frame_watch_stop(&mut self) -> Option<StopReason> {
        let hit = self.uc.get_data_mut().watch.frame_hit.take()?;
        Some(StopReason::Watchpoint { pc: self.pc(), hit })
    }

    /// Whether the core has an FPU (Cortex-M4F, M7).
    pub fn has_fpu(&self) -> bool {
        self.uc.get_data().scs.info.has_fpu
    }

    /// FPU register `n` for a debugger: d0-d15 (0-15, each two
    /// s-registers) and FPSCR (16). None without an FPU.
    pub fn read_fp_register(&self, n: usize) -> Option<u64> {
        let rd = |r: R| self.uc.reg_read(r).unwrap_or(0) & 0xffff_ffff;
        match n {
            _ if !self.has_fpu() => None,
            0..=15 => Some(rd(cortex_m::fp_reg(2 * n)) | rd(cortex_m::fp_reg(2 * n + 1)) << 32),
            16 => Some(rd(R::FPSCR)),
            _ => None,
        }
    }

    /// Set FPU register `n` (numbering as `read_fp_register`).
    pub fn write_fp_register(&mut self, n: usize, v: u64) -> bool {
        let halves = [(2 * n, v & 0xffff_ffff), (2 * n + 1, v >> 32)];
        match n {
            _ if !self.has_fpu() => return false,
            0..=15 => {
                for (s, half) in halves {
                    let _ = self.uc.reg_write(cortex_m::fp_reg(s), half);
                }
            }
            16 => {
                let _ = self.uc.reg_write(R::FPSCR, v & 0xffff_ffff);
            }
            _ => return false,
        }
        true
    }

    /// Execute one instruction, or take a pending exception and stop at its
    /// handler's first instruction. Virtual time advances by one tick.
    pub fn step(&mut self) -> StopReason {
        // Stepping from a watchpoint's stop makes the access it stopped.
        let over_watch = self.uc.get_data_mut().watch.pending.take();
        self.service();
        if let Some(exc) = cortex_m::exception_to_take(&self.uc) {
            let pc = self.pc();
            if let Err(e) = take(&mut self.uc, exc, pc) {
                return self.entry_failed(e, pc, "exception entry");
            }
            return self
                .frame_watch_stop()
                .unwrap_or(StopReason::Stepped { pc: self.pc() });
        }
        let pc = self.pc();
        let hw = self.uc.get_data_mut();
        hw.stop_at = u64::MAX;
        hw.stopping = false;
        hw.exit = None;
        hw.last_block = u64::MAX;
        hw.stepping = true;
        hw.limit = 0;
        hw.skip_break = Some(pc as u64);
        hw.watch.suspended = over_watch == Some(pc as u64);
        // The engine's instruction count only applies to code translated
        // after it is asked for: translate afresh (a debugger's step only).
        let _ = self.uc.ctl_flush_tb();
        let mut result = self.uc.emu_start(pc as u64 | 1, NO_EXIT, 0, 1);
        while self.enable_exec() {
            let hw = self.uc.get_data_mut();
            hw.stopping = false;
            hw.exit = None;
            result = self.uc.emu_start(pc as u64 | 1, NO_EXIT, 0, 1);
        }
        let hw = self.uc.get_data_mut();
        hw.stepping = false;
        hw.now += 1;
        hw.skip_break = None;
        hw.watch.suspended = false;
        let exit = hw.exit.take();
        // A step that ends normally returns Ok with no exit; WFI does too,
        // but leaves PC after a WFI instruction.
        let stop = match exit {
            None if result.is_ok() => {
                let mut insn = [0u8; 2];
                let after_wfi = self
                    .uc
                    .mem_read(self.pc().wrapping_sub(2) as u64, &mut insn)
                    .is_ok()
                    && u16::from_le_bytes(insn) == 0xbf30;
                self.uc.get_data_mut().sleeping = after_wfi;
                None
            }
            other => self.handle_exit(result, other),
        };
        // A step that returned from an exception, or entered one for a
        // fault or an SVC, may have hit a watchpoint doing so.
        stop.or_else(|| self.frame_watch_stop())
            .unwrap_or(StopReason::Stepped { pc: self.pc() })
    }

    /// Core register `n` in GDB's M-profile numbering: r0-r12, sp, lr, pc,
    /// xpsr (0-16), then msp, psp, primask, basepri, faultmask, control.
    pub fn read_register(&mut self, n: usize) -> Option<u32> {
        let rd = |m: &Self, r: R| m.uc.reg_read(r).unwrap_or(0) as u32;
        Some(match n {
            0..=12 => rd(self, gp_reg(n)),
            13 => rd(self, R::SP),
            14 => rd(self, R::LR),
            15 => rd(self, R::PC),
            16 => rd(self, R::XPSR),
            17 | 18 | 22 => {
                let m = cortex_m::read_mode(&mut self.uc);
                match n {
                    17 => m.msp,
                    18 => m.psp,
                    _ => m.control,
                }
            }
            19 => rd(self, R::PRIMASK),
            20 => rd(self, R::BASEPRI),
            21 => rd(self, R::FAULTMASK),
            _ => return None,
        })
    }

    /// Set core register `n` (numbering as `read_register`).
    pub fn write_register(&mut self, n: usize, v: u32) -> bool {
        match n {
            0..=12 => {
                let _ = self.uc.reg_write(gp_reg(n), v as u64);
            }
            13 => {
                let _ = self.uc.reg_write(R::SP, v as u64);
            }
            14 => {
                let _ = self.uc.reg_write(R::LR, v as u64);
            }
            15 => {
                let _ = self.uc.set_pc((v | 1) as u64);
            }
            16 => {
                let _ = self.uc.reg_write(R::XPSR_NZCVQG, v as u64);
            }
            17 | 18 | 22 => {
                let mut m = cortex_m::read_mode(&mut self.uc);
                match n {
                    17 => m.msp = v,
                    18 => m.psp = v,
                    _ => m.control = v,
                }
                cortex_m::write_mode(&mut self.uc, m);
            }
            19..=21 => cortex_m::write_mask_register(
                &mut self.uc,
                [R::PRIMASK, R::BASEPRI, R::FAULTMASK][n - 19],
                v,
            ),
            _ => return false,
        }
        true
    }

    /// Guest memory as the debugger sees it (RAM, ROM; MMIO reads have
    /// their device side effects, as on hardware through a debug probe).
    pub fn read_memory(&self, addr: u32, len: usize) -> Option<Vec<u8>> {
        self.uc.mem_read_as_vec(addr as u64, len).ok()
    }

    pub fn write_memory(&mut self, addr: u32, data: &[u8]) -> bool {
        self.uc.mem_write(addr as u64, data).is_ok()
    }

    /// Frames network devices sent since the last call: (time, device, bytes).
    pub fn take_frames(&mut self) -> Vec<(Ticks, String, Vec<u8>)> {
        std::mem::take(&mut self.uc.get_data_mut().frames)
    }

    /// Have `frame` arrive at network device `name` at time `at` (not
    /// before the present). Returns false when there is no such device.
    pub fn deliver_frame(&mut self, name: &str, at: Ticks, frame: Vec<u8>) -> bool {
        let hw = self.uc.get_data_mut();
        let at = at.max(hw.now);
        match hw.slots.iter_mut().find(|s| s.name == name) {
            Some(s) => {
                s.schedule_arrival(at, frame);
                hw.quiet_until = hw.quiet_until.min(at);
                true
            }
            None => false,
        }
    }

    /// Cable plugged or pulled on network device `name`.
    pub fn set_link(&mut self, name: &str, up: bool) {
        let hw = self.uc.get_data_mut();
        if let Some(s) = hw.slots.iter_mut().find(|s| s.name == name) {
            s.dev.set_link(up);
            s.dirty = true;
            hw.attention = true;
        }
    }

    /// A guest that is asleep with nothing armed can only be woken from
    /// outside (a frame, input): let its time pass to `t` meanwhile.
    pub fn idle_until(&mut self, t: Ticks) {
        let hw = self.uc.get_data_mut();
        hw.idle += t.saturating_sub(hw.now);
        hw.now = hw.now.max(t);
    }

    /// Virtual time spent asleep (fast-forwarded), in ticks.
    pub fn idle_ticks(&self) -> Ticks {
        self.uc.get_data().idle
    }

    /// Keep every frame displays show and every sample speakers play until
    /// taken with [`Machine::take_video`] / [`Machine::take_audio`] (off by
    /// default: only the latest frame of each display is kept).
    pub fn capture_media(&mut self, video: bool, audio: bool) {
        let media = &mut self.uc.get_data_mut().media;
        media.keep_video = video;
        media.keep_audio = audio;
    }

    /// Frames shown since the last call: (display device, frame), in order.
    pub fn take_video(&mut self) -> Vec<(String, VideoFrame)> {
        if self.uc.get_data().media.video.is_empty() {
            return Vec::new();
        }
        let names = self.device_names();
        std::mem::take(&mut self.uc.get_data_mut().media.video)
            .into_iter()
            .map(|(i, f)| (names[i].clone(), f))
            .collect()
    }

    /// Audio played since the last call: (output device, chunk), in order.
    pub fn take_audio(&mut self) -> Vec<(String, AudioChunk)> {
        if self.uc.get_data().media.audio.is_empty() {
            return Vec::new();
        }
        let names = self.device_names();
        std::mem::take(&mut self.uc.get_data_mut().media.audio)
            .into_iter()
            .map(|(i, c)| (names[i].clone(), c))
            .collect()
    }

    /// The latest frame of the first display that has shown one (or of
    /// display `name`).
    pub fn screen(&self, name: Option<&str>) -> Option<&VideoFrame> {
        let hw = self.uc.get_data();
        let slots = &hw.slots;
        hw.media
            .latest
            .iter()
            .zip(slots)
            .filter(|(_, s)| name.is_none_or(|n| s.name == n))
            .find_map(|(f, _)| f.as_ref())
    }

    /// Names of devices of model `kind` ("display", "gpio", ...), board order.
    pub fn devices_of_kind(&self, kind: &str) -> Vec<String> {
        self.uc
            .get_data()
            .slots
            .iter()
            .filter(|s| s.dev.kind() == kind)
            .map(|s| s.name.clone())
            .collect()
    }

    /// Every LED of the board: those of the GPIO blocks first, then any
    /// others (the MPS2 FPGAIO's two), each in board order.
    pub fn leds(&self) -> Vec<bool> {
        let slots = &self.uc.get_data().slots;
        let mut v = Vec::new();
        for s in self.led_order.iter().map(|&i| &slots[i]) {
            if let Some((count, bits)) = s.dev.leds() {
                v.extend((0..count).map(|i| bits >> i & 1 != 0));
            }
        }
        v
    }

    fn slots_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        let hw = self.uc.get_data_mut();
        hw.attention = true;
        hw.slots.iter_mut()
    }

    /// Set external input `input` ("button0", "buttons") of device
    /// `device`, or of every device when `None`. True if a device exists.
    pub fn set_input(&mut self, device: Option<&str>, input: &str, level: u32) -> bool {
        let mut found = false;
        for s in self.slots_mut() {
            if device.is_none_or(|d| d == s.name) {
                s.dev.set_input(input, level);
                s.dirty = true;
                found |= device.is_some();
            }
        }
        found || device.is_none()
    }

    /// Press or release button `index` of the board's button block (the
    /// first "gpio" device, else the FPGAIO).
    pub fn press_button(&mut self, index: u32, pressed: bool) -> bool {
        let target = self
            .devices_of_kind("gpio")
            .into_iter()
            .chain(self.devices_of_kind("mps2-fpgaio"))
            // On AArch64 boards the buttons are keys of the virtio keyboard.
            .chain(
                self.board
                    .devices
                    .iter()
                    .filter(|d| d.kind == "virtio-keyboard")
                    .map(|d| d.name.clone()),
            )
            .next();
        match target {
            Some(name) => self.set_input(Some(&name), &format!("button{index}"), pressed as u32),
            None => false,
        }
    }

    /// Touch the board's touch panel at (x, y), or release it.
    pub fn touch(&mut self, x: u32, y: u32, pressed: bool) -> bool {
        let now = self.now();
        self.slots_mut().any(|s| {
            s.dirty = true;
            s.dev.touch(x, y, pressed, now)
        })
    }

    /// Feed sensor channel `channel` on every device that has it (the
    /// sensor hub and a real accelerometer chip both see a tilt).
    pub fn set_sensor(&mut self, channel: &str, source: SensorSource) -> bool {
        let mut any = false;
        for s in self.slots_mut() {
            if s.dev.set_sensor(channel, source.clone()) {
                s.dirty = true;
                any = true;
            }
        }
        any
    }

    /// Sensor channels of the board, without repeats, board order.
    pub fn sensor_channels(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Vec::new();
        for s in &self.uc.get_data().slots {
            for c in s.dev.sensor_channels() {
                if !v.contains(&c) {
                    v.push(c);
                }
            }
        }
        v
    }

    /// What sensor channel `channel` reads now (SI units), from the first
    /// device that has it.
    pub fn sensor_value(&self, channel: &str, now: Ticks) -> Option<[f64; 3]> {
        self.uc
            .get_data()
            .slots
            .iter()
            .find_map(|s| s.dev.sensor_value(channel, now))
    }

    /// What the board's microphones hear.
    pub fn set_audio_source(&mut self, source: AudioSource) -> bool {
        let mut any = false;
        for s in self.slots_mut() {
            any |= s.dev.set_audio_source(source.clone());
        }
        any
    }

    /// Network interfaces: (device name, "ethernet" or "radio"), board order.
    pub fn network_interfaces(&self) -> Vec<(String, &'static str)> {
        // By the board's kind: virtio transports all report "virtio-mmio".
        self.board
            .devices
            .iter()
            .filter_map(|d| match d.kind.as_str() {
                "lan9118" | "virtio-net" => Some((d.name.clone(), "ethernet")),
                "radio" => Some((d.name.clone(), "radio")),
                _ => None,
            })
            .collect()
    }

    fn crash(&mut self, reason: String, fault_pc: Option<u32>) -> StopReason {
        let hw = self.uc.get_data();
        StopReason::Crashed(Box::new(CrashInfo {
            reason,
            pc: self.uc.reg_read(R::PC).unwrap_or(0) as u32,
            lr: self.uc.reg_read(R::LR).unwrap_or(0) as u32,
            xpsr: self.uc.reg_read(R::XPSR).unwrap_or(0) as u32,
            cfsr: hw.scs.cfsr,
            hfsr: hw.scs.hfsr,
            bfar: hw.scs.bfar,
            mmfar: hw.scs.mmfar,
            fault_pc,
            time: hw.now,
            recent: hw.trace.recent(&self.device_names(), self.board.clock_hz),
            detail: None,
        }))
    }

    /// Raise a synchronous fault whose preferred return address is `pc`.
    fn fault(&mut self, exc: usize, cfsr: u32, pc: u32, what: &str) -> Option<StopReason> {
        let hw = self.uc.get_data_mut();
        hw.scs.cfsr |= cfsr;
        let now = hw.now;
        hw.trace.fault(now, exc, what, pc);
        match cortex_m::raise_fault(&mut self.uc, exc) {
            Ok(target) => take(&mut self.uc, target, pc)
                .err()
                .map(|e| self.entry_failed(e, pc, what)),
            Err(e) => Some(self.entry_failed(e, pc, what)),
        }
    }

    fn entry_failed(&mut self, e: EntryError, pc: u32, what: &str) -> StopReason {
        match e {
            EntryError::Lockup(why) => self.crash(format!("lockup: {what} ({why})"), Some(pc)),
            EntryError::Stacking(a) => self.crash(
                format!("{what}: exception stack frame at 0x{a:08x} is not writable memory"),
                Some(pc),
            ),
        }
    }

    /// Run until virtual time reaches `until` or something the caller must
    /// see happens.
    ///
    /// Hooks do the same bookkeeping as this loop between two runs of the
    /// CPU (see `run_on`) when it leads to running the CPU again, so that
    /// exception entry, return and tail-chaining do not leave the engine.
    pub fn run(&mut self, until: Ticks) -> StopReason {
        if self.uc.get_data().a64.is_some() {
            return self.run_a64(until);
        }
        self.uc.get_data_mut().until = until;
        loop {
            // After an exception entry or return (here or in the engine).
            if let Some(stop) = self.frame_watch_stop() {
                return stop;
            }
            self.service();
            let hw = self.uc.get_data_mut();
            if std::mem::take(&mut hw.output_ready) {
                return StopReason::Output;
            }
            let now = hw.now;
            if now >= until {
                return StopReason::TimeLimit;
            }
            // Only a pending exception that outranks the active ones can
            // be taken or wake a WFI (B1.5.19); `service` has just
            // looked, so the masking registers need reading only then.
            let may_preempt = hw.irq_maybe;
            if may_preempt {
                if let Some(exc) = cortex_m::exception_to_take(&self.uc) {
                    let pc = self.pc();
                    if let Err(e) = take(&mut self.uc, exc, pc) {
                        return self.entry_failed(e, pc, "exception entry");
                    }
                    continue;
                }
            }
            let hw = self.uc.get_data_mut();
            let deadline = hw.next_deadline();
            if hw.sleeping {
                if may_preempt {
                    hw.sleeping = false;
                    // Woken with PRIMASK set: continue after the WFI.
                    continue;
                }
                match deadline {
                    Some(t) => {
                        let to = t.min(until).max(now);
                        hw.idle += to - now;
                        hw.now = to;
                        continue;
                    }
                    None => return StopReason::Asleep { pc: self.pc() },
                }
            }

            self.arm_ccr_traps();
            let pc = self.pc();
            let hw = self.uc.get_data_mut();
            hw.stop_at = deadline
                .unwrap_or(until)
                .min(until)
                .min(now.saturating_add(MAX_SLICE));
            hw.stopping = false;
            hw.exit = None;
            hw.last_block = u64::MAX;
            hw.set_limit();
            if hw.skip_break != Some(pc as u64) {
                hw.skip_break = None;
            }
            let mut result = self.uc.emu_start(pc as u64 | 1, NO_EXIT, 0, 0);
            while self.enable_exec() {
                // Stopped only for that: go on as if it never stopped.
                let pc = self.pc();
                let hw = self.uc.get_data_mut();
                hw.stopping = false;
                hw.exit = None;
                hw.set_limit();
                result = self.uc.emu_start(pc as u64 | 1, NO_EXIT, 0, 0);
            }
            let exit = self.uc.get_data_mut().exit.take();
            if let Some(stop) = self.handle_exit(result, exit) {
                return stop;
            }
        }
    }

    /// Make the region a fetch asked for executable (see `Hw::no_exec`).
    /// True when that was the only reason the CPU stopped.
    fn enable_exec(&mut self) -> bool {
        let hw = self.uc.get_data_mut();
        let Some(idx) = hw.exec_wanted.take() else {
            return false;
        };
        let mappings: Vec<(u64, u64)> = hw
            .no_exec
            .iter()
            .filter(|m| m.2 == idx)
            .map(|m| (m.0, m.1))
            .collect();
        hw.no_exec.retain(|m| m.2 != idx);
        for (base, size) in mappings {
            let _ = self.uc.mem_protect(base, size, Prot::ALL);
        }
        self.uc.get_data().exit == Some(CpuExit::ExecEnabled)
    }

    /// CCR.DIV_0_TRP and CCR.UNALIGN_TRP are not implemented by the engine.
    /// Once a guest enables one, hook what it needs: every UDIV/SDIV in
    /// memory (so other code runs unhooked), or every data access.
    fn arm_ccr_traps(&mut self) {
        let hw = self.uc.get_data();
        let ccr = hw.scs.ccr();
        let mut changed = false;
        if ccr & CCR_DIV_0_TRP != 0 && !hw.div_trap_hooked {
            for addr in self.divide_instructions() {
                let _ = self.uc.add_code_hook(addr, addr, |uc, addr, _size| {
                    if uc.get_data().scs.ccr() & CCR_DIV_0_TRP == 0 {
                        return;
                    }
                    let mut insn = [0u8; 4];
                    if uc.mem_read(addr, &mut insn).is_err() {
                        return;
                    }
                    let rm = (insn[2] & 0xf) as usize;
                    if rm < 13 && uc.reg_read(gp_reg(rm)).unwrap_or(1) == 0 {
                        Hw::request_stop(uc, CpuExit::DivByZero);
                    }
                });
            }
            self.uc.get_data_mut().div_trap_hooked = true;
            changed = true;
        }
        let hw = self.uc.get_data();
        if ccr & CCR_UNALIGN_TRP != 0 && !hw.unaligned_trap_hooked {
            let _ = self.uc.add_mem_hook(
                HookType::MEM_READ | HookType::MEM_WRITE,
                1,
                0,
                |uc, kind, addr, size, _value| {
                    let hw = uc.get_data();
                    if hw.stopping
                        || hw.scs.ccr() & CCR_UNALIGN_TRP == 0
                        || size <= 1
                        || addr % size as u64 == 0
                    {
                        return true;
                    }
                    let undo = (kind == MemType::WRITE)
                        .then(|| uc.mem_read_as_vec(addr, size).ok().map(|b| (addr, b)))
                        .flatten();
                    Hw::request_stop(uc, CpuExit::Unaligned { undo });
                    true
                },
            );
            self.uc.get_data_mut().unaligned_trap_hooked = true;
            changed = true;
        }
        if changed {
            // Hooks apply to code translated from now on.
            let _ = self.uc.ctl_flush_tb();
            let _ = self.uc.ctl_flush_tlb();
        }
    }

    /// Addresses (and their aliases) of every instruction in the loaded
    /// image that `is_match(first halfword, next halfword)` accepts. Data
    /// that happens to match only gets a hook that never runs.
    fn find_instructions(&self, is_match: impl Fn(u16, u16) -> bool) -> Vec<u64> {
        let mut found = Vec::new();
        for seg in &self.image.segments {
            let Some((mem, _)) = self.board.memory_at(seg.addr, seg.data.len() as u64) else {
                continue;
            };
            let buf = &seg.data;
            for i in (0..buf.len().saturating_sub(3)).step_by(2) {
                let hw1 = u16::from_le_bytes([buf[i], buf[i + 1]]);
                let hw2 = u16::from_le_bytes([buf[i + 2], buf[i + 3]]);
                if is_match(hw1, hw2) {
                    let addr = seg.addr + i as u64;
                    let offset = self.board.memory_at(addr, 4).map(|(_, o)| o).unwrap_or(0);
                    for base in std::iter::once(mem.base).chain(mem.aliases.iter().copied()) {
                        found.push(base + offset);
                    }
                }
            }
        }
        found
    }

    fn divide_instructions(&self) -> Vec<u64> {
        self.find_instructions(|hw1, hw2| {
            matches!(hw1 & 0xfff0, 0xfb90 | 0xfbb0) && hw2 & 0xf0f0 == 0xf0f0
        })
    }

    /// SEV is a no-op in the engine; it sets the event register that WFE
    /// waits on, so hook the SEV instructions of the loaded image.
    fn hook_sev(&mut self) -> Result<(), MachineError> {
        let sevs =
            self.find_instructions(|hw1, hw2| hw1 == 0xbf40 || (hw1, hw2) == (0xf3af, 0x8004));
        for addr in sevs {
            self.uc.add_code_hook(addr, addr, |uc, _addr, _size| {
                uc.get_data_mut().event_register = true;
            })?;
        }
        Ok(())
    }

    fn handle_exit(
        &mut self,
        result: Result<(), unicorn_engine::uc_error>,
        exit: Option<CpuExit>,
    ) -> Option<StopReason> {
        let pc = self.pc();
        match exit {
            None if result.is_ok() => {
                // emu_start returned by itself: the guest executed WFI.
                self.uc.get_data_mut().sleeping = true;
                None
            }
            None => Some(self.crash(
                format!("CPU engine stopped: {:?}", result.unwrap_err()),
                Some(pc),
            )),
            Some(CpuExit::Service) | Some(CpuExit::ExecEnabled) => None,
            Some(CpuExit::FrameWatch) => self.frame_watch_stop(),
            Some(CpuExit::EntryFailed { err, pc }) => {
                Some(self.entry_failed(err, pc, "exception entry"))
            }
            Some(CpuExit::Spin) => self.spin(pc),
            Some(CpuExit::Exception(intno)) => self.cpu_exception(intno, pc),
            Some(CpuExit::Invalid) => self.invalid_instruction(pc),
            Some(CpuExit::Breakpoint) => {
                self.uc.get_data_mut().skip_break = Some(pc as u64);
                Some(StopReason::Breakpoint { pc })
            }
            Some(CpuExit::Watchpoint { hit, pc: at, undo }) => {
                // Still on the accessing instruction (not so where the
                // engine cannot leave mid-block, in an IT block): undo it.
                if at == pc {
                    let hw = self.uc.get_data_mut();
                    if let Some((addr, bytes)) = undo {
                        hw.ram_write(addr, &bytes);
                    }
                    hw.watch.pending = Some(pc as u64);
                }
                Some(StopReason::Watchpoint { pc, hit })
            }
            Some(CpuExit::DivByZero) => {
                self.fault(EXC_USAGEFAULT, CFSR_DIVBYZERO, pc, "division by zero")
            }
            Some(CpuExit::Unaligned { undo }) => {
                if let Some((addr, bytes)) = undo {
                    let _ = self.uc.mem_write(addr, &bytes);
                }
                self.fault(EXC_USAGEFAULT, CFSR_UNALIGNED, pc, "unaligned access")
            }
            Some(CpuExit::BusError { addr, fetch }) => {
                let hw = self.uc.get_data_mut();
                if fetch {
                    self.fault(
                        EXC_BUSFAULT,
                        CFSR_IBUSERR,
                        pc,
                        "instruction fetch bus error",
                    )
                } else {
                    hw.scs.bfar = addr as u32;
                    self.fault(
                        EXC_BUSFAULT,
                        CFSR_PRECISERR | CFSR_BFARVALID,
                        pc,
                        &format!("data bus error at 0x{addr:08x}"),
                    )
                }
            }
        }
    }

    /// A two-byte block that ran twice in a row is a branch to itself (`b .`,
    /// or a conditional one whose flags cannot change): nothing changes
    /// until an interrupt, so sleep like WFI, or report a dead guest stuck
    /// in a fault handler. `pop {pc}` is the one such block that does
    /// change state (SP), so it keeps running.
    fn spin(&mut self, pc: u32) -> Option<StopReason> {
        let mut insn = [0u8; 2];
        let is_pop_pc = self.uc.mem_read(pc as u64, &mut insn).is_err()
            || u16::from_le_bytes(insn) & 0xff00 == 0xbd00;
        if is_pop_pc {
            return None;
        }
        let current = self.uc.get_data().scs.current;
        if (EXC_NMI..=EXC_USAGEFAULT).contains(&current) && !cortex_m::wakes_from_wfi(&self.uc) {
            return Some(self.crash(
                format!(
                    "guest is stuck in its {} handler (a branch to itself)",
                    exception_name(current)
                ),
                None,
            ));
        }
        self.uc.get_data_mut().sleeping = true;
        None
    }

    fn cpu_exception(&mut self, intno: u32, pc: u32) -> Option<StopReason> {
        const EXCP_UDEF: u32 = 1;
        const EXCP_SWI: u32 = 2;
        const EXCP_PREFETCH_ABORT: u32 = 3;
        const EXCP_DATA_ABORT: u32 = 4;
        const EXCP_BKPT: u32 = 7;
        const EXCP_EXCEPTION_EXIT: u32 = 8;
        const EXCP_INVSTATE: u32 = 18;
        match intno {
            EXCP_EXCEPTION_EXIT => {
                // The handler may have just cleared its device's interrupt
                // in the same block: bring the lines up to date first, or
                // a level still seen high would pend it again.
                self.service();
                let exc_return = pc | 1;
                let from = self.uc.get_data().scs.current;
                match cortex_m::exception_return(&mut self.uc, exc_return) {
                    Ok(to) => {
                        returned(self.uc.get_data_mut(), from, exc_return, to);
                        None
                    }
                    Err(cfsr) => self.fault(EXC_USAGEFAULT, cfsr, pc, "invalid exception return"),
                }
            }
            // SVCall that cannot preempt escalates to HardFault (B1.5.15).
            EXCP_SWI => match cortex_m::raise_fault(&mut self.uc, EXC_SVCALL) {
                Ok(target) => take(&mut self.uc, target, pc)
                    .err()
                    .map(|e| self.entry_failed(e, pc, "SVC")),
                Err(e) => Some(self.entry_failed(e, pc, "SVC")),
            },
            EXCP_UDEF => self.fault(EXC_USAGEFAULT, CFSR_UNDEFINSTR, pc, "undefined instruction"),
            EXCP_INVSTATE => self.fault(EXC_USAGEFAULT, CFSR_INVSTATE, pc, "invalid state"),
            EXCP_DATA_ABORT => self.fault(EXC_USAGEFAULT, CFSR_UNALIGNED, pc, "unaligned access"),
            EXCP_PREFETCH_ABORT => self.fault(
                EXC_MEMMANAGE,
                CFSR_IACCVIOL,
                pc,
                "instruction fetch from an execute-never region",
            ),
            EXCP_BKPT => {
                // No debugger attached: a BKPT escalates to HardFault.
                self.uc.get_data_mut().scs.hfsr |= HFSR_DEBUGEVT;
                self.fault(EXC_HARDFAULT, 0, pc, "breakpoint instruction")
            }
            other => Some(self.crash(format!("unhandled CPU exception {other}"), Some(pc))),
        }
    }

    fn invalid_instruction(&mut self, pc: u32) -> Option<StopReason> {
        let xpsr = self.uc.reg_read(R::XPSR).unwrap_or(0) as u32;
        if xpsr & (1 << 24) == 0 {
            return self.fault(
                EXC_USAGEFAULT,
                CFSR_INVSTATE,
                pc,
                "execution with EPSR.T clear",
            );
        }
        // WFE and YIELD arrive here with PC already past them.
        let mut before = [0u8; 2];
        let _ = self.uc.mem_read(pc.wrapping_sub(2) as u64, &mut before);
        let hint = u16::from_le_bytes(before);
        if hint == 0xbf20 || hint == 0xbf10 {
            // WFE sleeps unless the event register was set; either way it
            // is clear afterwards (YIELD just clears nothing and goes on).
            let hw = self.uc.get_data_mut();
            if hint == 0xbf20 {
                hw.sleeping = !hw.event_register;
                hw.event_register = false;
            }
            return None;
        }
        self.fault(EXC_USAGEFAULT, CFSR_UNDEFINSTR, pc, "undefined instruction")
    }
}

type BlockHook = unsafe extern "C" fn(*mut sys::uc_engine, u64, u32, *mut c_void);

/// Install `hook` on every block as a plain C callback with `Hw` as its
/// user data (see `Machine::install_hooks` for why that pointer stays
/// valid).
fn add_block_hook(uc: &mut Unicorn<'static, Hw>, hook: BlockHook) -> Result<(), MachineError> {
    let data = uc.get_data_mut() as *mut Hw as *mut c_void;
    let mut id: sys::uc_hook = 0;
    // SAFETY: `hook` has the signature Unicorn expects for UC_HOOK_BLOCK
    // callbacks, and `data` lives inside the engine handle for as long as
    // the engine (hooks are never removed).
    let err = unsafe {
        sys::uc_hook_add(
            uc.get_handle(),
            &mut id,
            HookType::BLOCK.0 as i32,
            hook as *mut c_void,
            data,
            1u64,
            0u64,
        )
    };
    if err != unicorn_engine::uc_error::OK {
        return Err(MachineError::Engine(err));
    }
    Ok(())
}

/// Bound the engine's translation buffer (QEMU's default reserves 1 GiB);
/// when it fills up, translated code is flushed and translated again,
/// invisibly to the guest. Must precede the first memory map.
fn bound_translation_buffer(uc: &mut Unicorn<'static, Hw>, bytes: u32) -> Result<(), MachineError> {
    // SAFETY: a plain uc_ctl write of a 32-bit value on a live handle.
    let err = unsafe {
        sys::uc_ctl(
            uc.get_handle(),
            sys::ControlType(sys::ControlType::TCG_BUFFER_SIZE.0 | sys::ControlType::IO_WRITE.0),
            bytes,
        )
    };
    if err != unicorn_engine::uc_error::OK {
        return Err(MachineError::Engine(err));
    }
    Ok(())
}

/// The order `Machine::leds` visits slots in: GPIO blocks first.
fn led_order(slots: &[Slot]) -> Vec<usize> {
    (0..slots.len())
        .filter(|&i| slots[i].dev.kind() == "gpio")
        .chain((0..slots.len()).filter(|&i| slots[i].dev.kind() != "gpio"))
        .collect()
}

/// The machine's state outside the CPU, before memory is mapped.
fn new_hw(board: &Board, trace: Trace) -> Result<Hw, MachineError> {
    let info = board.core_info();
    let mut slots = Vec::new();
    for spec in &board.devices {
        let dev = build_device(spec, board.clock_hz).map_err(MachineError::Device)?;
        slots.push(Slot::new(spec, dev));
    }
    Ok(Hw {
        now: 0,
        idle: 0,
        stop_at: 0,
        limit: 0,
        scs: Scs::new(info),
        slots,
        attention: true,
        irq_maybe: false,
        event_register: false,
        nmi_level: false,
        stopping: false,
        exit: None,
        last_block: u64::MAX,
        div_trap_hooked: false,
        unaligned_trap_hooked: false,
        breakpoints: Default::default(),
        break_hooks: Default::default(),
        skip_break: None,
        watch: Watchpoints::default(),
        stepping: false,
        engine: std::ptr::null_mut(),
        no_exec: Vec::new(),
        exec_wanted: None,
        sleeping: false,
        output_ready: false,
        reset_pending: false,
        touched: true,
        quiet_until: 0,
        until: 0,
        outputs: Vec::new(),
        frames: Vec::new(),
        media: Media::default(),
        memory: Vec::new(),
        ram_map: Vec::new(),
        a64: None,
        trace,
        unimplemented: board
            .unimplemented
            .iter()
            .map(|r| (r.name.clone(), r.base, false))
            .chain(
                PPB.iter()
                    .map(|&(b, _)| ("debug (ITM/DWT/FPB)".to_string(), b, false)),
            )
            .collect(),
    })
}

/// Map the board's RAM and ROM onto buffers the machine owns: (backing
/// store, where each region is mapped, RAM mapped without EXEC until code
/// runs from it when `lazy_exec`).
#[allow(clippy::type_complexity)]
fn map_memory(
    uc: &mut Unicorn<'static, Hw>,
    board: &Board,
    lazy_exec: bool,
) -> Result<
    (
        Vec<Box<[u8]>>,
        Vec<(u64, u64, usize, bool)>,
        Vec<(u64, u64, usize)>,
    ),
    MachineError,
> {
    let mut memory = Vec::new();
    let mut ram_map = Vec::new();
    let mut no_exec = Vec::new();
    for m in &board.memory {
        let mut buf = vec![0u8; m.size as usize].into_boxed_slice();
        // RAM becomes executable when code first runs from it.
        let perms = match m.kind {
            MemoryKind::Ram if lazy_exec => Prot::READ | Prot::WRITE,
            MemoryKind::Ram => Prot::ALL,
            MemoryKind::Rom => Prot::READ | Prot::EXEC,
        };
        for base in std::iter::once(m.base).chain(m.aliases.iter().copied()) {
            ram_map.push((base, m.size, memory.len(), m.kind == MemoryKind::Ram));
            if m.kind == MemoryKind::Ram && lazy_exec {
                no_exec.push((base, m.size, memory.len()));
            }
            // SAFETY: the buffer is owned by the Machine and outlives `uc`.
            unsafe {
                uc.mem_map_ptr(base, m.size, perms, buf.as_mut_ptr() as *mut c_void)?;
            }
        }
        memory.push(buf);
    }
    Ok((memory, ram_map, no_exec))
}

/// Map every device's register window. Windows smaller than a page (the
/// engine maps whole 4 KiB pages) share one mapping that dispatches on
/// the offset.
fn map_devices(uc: &mut Unicorn<'static, Hw>, board: &Board) -> Result<(), MachineError> {
    let mut pages: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
    for (idx, d) in board.devices.iter().enumerate() {
        pages.entry(d.base & !0xfff).or_default().push(idx);
    }
    for (page, idxs) in pages {
        if let [idx] = idxs[..] {
            if board.devices[idx].size == 0x1000 {
                uc.mmio_map(
                    page,
                    0x1000,
                    Some(move |uc: &mut Unicorn<'_, Hw>, off: u64, size: usize| {
                        uc.get_data_mut().mmio_read(idx, off, size)
                    }),
                    Some(
                        move |uc: &mut Unicorn<'_, Hw>, off: u64, size: usize, value: u64| {
                            uc.get_data_mut().mmio_write(idx, off, size, value)
                        },
                    ),
                )?;
                continue;
            }
        }
        let windows: Vec<(usize, u64, u64)> = idxs
            .iter()
            .map(|&i| (i, board.devices[i].base - page, board.devices[i].size))
            .collect();
        let find = move |off: u64| {
            windows
                .iter()
                .find(|&&(_, b, sz)| off >= b && off < b + sz)
                .map(|&(i, b, _)| (i, off - b))
        };
        let find2 = find.clone();
        uc.mmio_map(
            page,
            0x1000,
            Some(
                move |uc: &mut Unicorn<'_, Hw>, off: u64, size: usize| match find(off) {
                    Some((idx, off)) => uc.get_data_mut().mmio_read(idx, off, size),
                    None => 0,
                },
            ),
            Some(
                move |uc: &mut Unicorn<'_, Hw>, off: u64, size: usize, value: u64| {
                    if let Some((idx, off)) = find2(off) {
                        uc.get_data_mut().mmio_write(idx, off, size, value)
                    }
                },
            ),
        )?;
    }
    Ok(())
}

fn pc_of(uc: &Unicorn<'_, Hw>) -> u32 {
    uc.reg_read(R::PC).unwrap_or(0) as u32
}

/// Take exception `exc` now: the interrupted context's next instruction
/// is at `return_pc`.
fn take(uc: &mut Unicorn<'_, Hw>, exc: usize, return_pc: u32) -> Result<(), EntryError> {
    let hw = uc.get_data_mut();
    let now = hw.now;
    hw.trace.exception_entry(now, exc, return_pc);
    cortex_m::enter(uc, exc, return_pc)?;
    uc.get_data_mut().sleeping = false;
    Ok(())
}

/// After a successful exception return from `from` through `exc_return`.
fn returned(hw: &mut Hw, from: usize, exc_return: u32, to: Returned) {
    let now = hw.now;
    hw.trace.exception_return(now, from, exc_return);
    if to == Returned::ToThread && hw.scs.sleep_on_exit() {
        hw.sleeping = true;
    }
}

/// The loop of `Machine::run` between two runs of the CPU, done from a
/// hook so that the CPU goes on without leaving the engine: service the
/// devices, take the exceptions due (tail-chaining, preemption) and set
/// the next stop, all at the present time. Whenever the loop would do
/// anything else (return to its caller, sleep, reset the system, add
/// hooks, serve a debugger) this stops the engine at once instead, and
/// the loop repeats the same steps from the same state (a second service
/// at the same time changes nothing). `redirect`: the PC was set by the
/// caller (an exception return). Returns true when the PC was set, so
/// that the block the engine was about to run does not run.
fn run_on(uc: &mut Unicorn<'_, Hw>, mut redirect: bool) -> bool {
    loop {
        let hw = uc.get_data_mut();
        if hw.watch.frame_hit.is_some() {
            // The entry or return just made touched a watched address:
            // stop where execution goes on (see `watch`).
            Hw::request_stop(uc, CpuExit::FrameWatch);
            return redirect;
        }
        hw.service();
        if hw.wants_reset() || hw.output_ready || hw.now >= hw.until || hw.sleeping {
            Hw::request_stop(uc, CpuExit::Service);
            return redirect;
        }
        if hw.irq_maybe {
            if let Some(exc) = cortex_m::exception_to_take(uc) {
                let pc = pc_of(uc);
                if let Err(err) = take(uc, exc, pc) {
                    Hw::request_stop(uc, CpuExit::EntryFailed { err, pc });
                    return redirect;
                }
                redirect = true;
                continue;
            }
        }
        let hw = uc.get_data_mut();
        if hw.ccr_traps_unarmed() {
            Hw::request_stop(uc, CpuExit::Service);
            return redirect;
        }
        let now = hw.now;
        let until = hw.until;
        hw.stop_at = hw
            .next_deadline()
            .unwrap_or(until)
            .min(until)
            .min(now.saturating_add(MAX_SLICE));
        hw.last_block = u64::MAX;
        hw.set_limit();
        if redirect {
            // As `emu_start(pc | 1)` would.
            let pc = pc_of(uc);
            let _ = uc.reg_write(R::PC, pc as u64 | 1);
        }
        return redirect;
    }
}

/// EXC_RETURN reached the interrupt hook: return from the exception and
/// go on in the engine, as `Machine::cpu_exception` and the loop would.
/// False when the loop must do it (a reset due, an invalid return).
fn exception_return_in_engine(uc: &mut Unicorn<'_, Hw>) -> bool {
    let pc = pc_of(uc);
    let hw = uc.get_data_mut();
    // The handler may have just cleared its device's interrupt in the
    // same block: bring the lines up to date first.
    hw.service();
    if hw.wants_reset() {
        return false;
    }
    let exc_return = pc | 1;
    let from = hw.scs.current;
    match cortex_m::exception_return(uc, exc_return) {
        Ok(to) => {
            returned(uc.get_data_mut(), from, exc_return, to);
            run_on(uc, true);
            true
        }
        // Nothing changed: the loop finds the same and raises the fault.
        Err(_) => false,
    }
}

fn gp_reg(n: usize) -> R {
    const REGS: [R; 13] = [
        R::R0,
        R::R1,
        R::R2,
        R::R3,
        R::R4,
        R::R5,
        R::R6,
        R::R7,
        R::R8,
        R::R9,
        R::R10,
        R::R11,
        R::R12,
    ];
    REGS[n]
}

pub fn exception_name(e: usize) -> String {
    match e {
        0 => "thread".into(),
        1 => "Reset".into(),
        EXC_NMI => "NMI".into(),
        EXC_HARDFAULT => "HardFault".into(),
        EXC_MEMMANAGE => "MemManage".into(),
        EXC_BUSFAULT => "BusFault".into(),
        EXC_USAGEFAULT => "UsageFault".into(),
        EXC_SVCALL => "SVCall".into(),
        EXC_DEBUGMON => "DebugMonitor".into(),
        EXC_PENDSV => "PendSV".into(),
        EXC_SYSTICK => "SysTick".into(),
        n if n >= EXC_IRQ0 => format!("IRQ{}", n - EXC_IRQ0),
        n => format!("reserved {n}"),
    }
}
