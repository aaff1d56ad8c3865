//! A GDB remote-protocol server for `ensemble run --gdb`, built on the
//! `gdbstub` crate.
//!
//! The server stands in for `Machine::run` in the run loop of the CLI: while
//! gdb has the guest halted it serves gdb's requests and virtual time stands
//! still; while gdb lets the guest run, each call runs one short slice of
//! virtual time and returns, so the run loop keeps printing the console,
//! matching `--expect` and enforcing `--time-limit` as without a debugger,
//! and gdb's Ctrl-C is looked for between slices.
//!
//! What gdb sees:
//! - breakpoints (software and hardware alike) and steps stop with SIGTRAP;
//! - watchpoints (write, read, access) stop with SIGTRAP and the address,
//!   before the accessing instruction completes, as ARM's do: gdb steps
//!   over it to show the new value (and so does a plain continue);
//! - the registers are those of the core: the FPU's too on a Cortex-M4F/M7;
//! - Ctrl-C stops with SIGINT;
//! - a crash (lockup, or stuck in a fault handler) stops with SIGSEGV where
//!   it happened, to be inspected; resuming then ends the run (exit 3) and
//!   gdb sees the program terminated by SIGSEGV;
//! - the end of the run (the guest asleep for good, `--expect`, `--fail`,
//!   the time limit) is a program exit with ensemble's exit code.
//!
//! `detach` lets the guest run on without a debugger; `kill` ends the run.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::num::NonZeroUsize;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use ensemble_devices::Ticks;
use gdbstub::arch::{Arch, RegId, Registers};
use gdbstub::common::Signal;
use gdbstub::conn::{Connection, ConnectionExt};
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::{DisconnectReason, GdbStub, GdbStubError, SingleThreadStopReason};
use gdbstub::target::ext::base::single_register_access::{
    SingleRegisterAccess, SingleRegisterAccessOps,
};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadRangeStepping, SingleThreadRangeSteppingOps, SingleThreadResume,
    SingleThreadResumeOps, SingleThreadSingleStep, SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps,
};
use gdbstub::target::ext::target_description_xml_override::{
    TargetDescriptionXmlOverride, TargetDescriptionXmlOverrideOps,
};
use gdbstub::target::{Target, TargetError, TargetResult};

use crate::machine::{CrashInfo, Machine, StopReason};
use crate::time::{ns_to_ticks, ticks_to_secs};
use crate::watch::WatchKind;

/// Virtual time the guest runs between two looks at gdb's connection.
const SLICE_NS: u128 = 1_000_000;
/// Looking at the connection costs system calls: at most this often.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// A range step that stays in its range returns to the run loop this often.
const RANGE_STEP_BUDGET: Duration = Duration::from_millis(10);
/// How long gdb is given to close the connection after the program exited.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);

/// Registers in GDB's M-profile numbering, which `Machine::read_register`
/// uses too: r0-r12, sp, lr, pc, xpsr, then msp, psp, primask, basepri,
/// faultmask, control.
pub const NUM_REGS: usize = 23;
/// With an FPU, d0-d15 follow (numbers 23-38), then fpscr (39).
const FIRST_D: usize = NUM_REGS;
const FPSCR: usize = FIRST_D + 16;

/// The Cortex-M core for gdbstub (gdbstub_arch has none). Its target
/// description depends on the core (FPU registers or not), so the
/// debuggee gives it (`target_xml`) rather than the architecture.
pub enum CortexM {}

/// The registers of the M-profile feature and the system registers. The
/// order of the registers is their number in the protocol (no `regnum`
/// given: they count up from r0 = 0).
const CORE_FEATURES: &str = r#"  <feature name="org.gnu.gdb.arm.m-profile">
    <reg name="r0" bitsize="32" type="uint32"/>
    <reg name="r1" bitsize="32" type="uint32"/>
    <reg name="r2" bitsize="32" type="uint32"/>
    <reg name="r3" bitsize="32" type="uint32"/>
    <reg name="r4" bitsize="32" type="uint32"/>
    <reg name="r5" bitsize="32" type="uint32"/>
    <reg name="r6" bitsize="32" type="uint32"/>
    <reg name="r7" bitsize="32" type="uint32"/>
    <reg name="r8" bitsize="32" type="uint32"/>
    <reg name="r9" bitsize="32" type="uint32"/>
    <reg name="r10" bitsize="32" type="uint32"/>
    <reg name="r11" bitsize="32" type="uint32"/>
    <reg name="r12" bitsize="32" type="uint32"/>
    <reg name="sp" bitsize="32" type="data_ptr"/>
    <reg name="lr" bitsize="32" type="uint32"/>
    <reg name="pc" bitsize="32" type="code_ptr"/>
    <reg name="xpsr" bitsize="32" type="uint32"/>
  </feature>
  <feature name="org.gnu.gdb.arm.m-system">
    <reg name="msp" bitsize="32" type="data_ptr"/>
    <reg name="psp" bitsize="32" type="data_ptr"/>
    <reg name="primask" bitsize="32" type="uint32"/>
    <reg name="basepri" bitsize="32" type="uint32"/>
    <reg name="faultmask" bitsize="32" type="uint32"/>
    <reg name="control" bitsize="32" type="uint32"/>
  </feature>
"#;

/// The target description of a core, with the FPU's registers (the VFP
/// feature: gdb derives s0-s31 from d0-d15) when it has one.
fn target_xml(fpu: bool) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n\
         <target version=\"1.0\">\n  <architecture>arm</architecture>\n",
    );
    x.push_str(CORE_FEATURES);
    if fpu {
        x.push_str("  <feature name=\"org.gnu.gdb.arm.vfp\">\n");
        for d in 0..16 {
            x.push_str(&format!(
                "    <reg name=\"d{d}\" bitsize=\"64\" type=\"ieee_double\" group=\"float\"/>\n"
            ));
        }
        x.push_str("    <reg name=\"fpscr\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n");
        x.push_str("  </feature>\n");
    }
    x.push_str("</target>\n");
    x
}

impl Arch for CortexM {
    type Usize = u32;
    type Registers = CortexMRegs;
    /// ARM's breakpoint kinds (2: 16-bit Thumb, 3: 32-bit Thumb, 4: ARM);
    /// a breakpoint here is a stop before an address, whatever its size.
    type BreakpointKind = usize;
    type RegId = CortexMRegId;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CortexMRegs {
    pub regs: [u32; NUM_REGS],
    /// d0-d15 and FPSCR, on a core with an FPU.
    pub fp: Option<([u64; 16], u32)>,
    /// How many core registers a `G` packet carried (all, from gdb): the
    /// rest are left alone.
    pub present: usize,
}

impl Registers for CortexMRegs {
    type ProgramCounter = u32;

    fn pc(&self) -> u32 {
        self.regs[15]
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        for r in &self.regs {
            r.to_le_bytes()
                .into_iter()
                .for_each(|b| write_byte(Some(b)));
        }
        if let Some((d, fpscr)) = &self.fp {
            for r in d {
                r.to_le_bytes()
                    .into_iter()
                    .for_each(|b| write_byte(Some(b)));
            }
            fpscr
                .to_le_bytes()
                .into_iter()
                .for_each(|b| write_byte(Some(b)));
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        const CORE: usize = NUM_REGS * 4;
        const FP: usize = 16 * 8 + 4;
        if !bytes.len().is_multiple_of(4) || (bytes.len() > CORE && bytes.len() != CORE + FP) {
            return Err(());
        }
        let (core, fp) = bytes.split_at(bytes.len().min(CORE));
        for (r, b) in self.regs.iter_mut().zip(core.chunks_exact(4)) {
            *r = u32::from_le_bytes(b.try_into().expect("4 bytes"));
        }
        self.present = core.len() / 4;
        self.fp = (!fp.is_empty()).then(|| {
            let mut d = [0u64; 16];
            for (r, b) in d.iter_mut().zip(fp.chunks_exact(8)) {
                *r = u64::from_le_bytes(b.try_into().expect("8 bytes"));
            }
            (
                d,
                u32::from_le_bytes(fp[128..].try_into().expect("4 bytes")),
            )
        });
        Ok(())
    }
}

/// A register in the protocol's numbering: a core or system register
/// (0-22), an FPU double register (23-38) or FPSCR (39).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CortexMRegId(pub usize);

impl CortexMRegId {
    /// Which FPU register this is (`Machine::read_fp_register`), if one.
    fn fp(self) -> Option<usize> {
        (FIRST_D..=FPSCR)
            .contains(&self.0)
            .then(|| self.0 - FIRST_D)
    }
}

impl RegId for CortexMRegId {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        let size = match id {
            0..NUM_REGS | FPSCR => 4,
            FIRST_D..FPSCR => 8,
            _ => return None,
        };
        Some((CortexMRegId(id), NonZeroUsize::new(size)))
    }
}

/// The TCP connection to gdb, buffered both ways: gdbstub writes replies
/// and reads requests a byte at a time, which would otherwise cost a
/// system call (and, with Nagle off, a TCP segment) per byte.
struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    next: usize,
    output: Vec<u8>,
    nonblocking: bool,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            input: Vec::new(),
            next: 0,
            output: Vec::new(),
            nonblocking: false,
        }
    }

    fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        if self.nonblocking != on {
            self.stream.set_nonblocking(on)?;
            self.nonblocking = on;
        }
        Ok(())
    }

    /// Wait (a little) for gdb to hang up once the session is over: gdb
    /// takes a connection closed under it for an error.
    fn goodbye(&mut self) {
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(100)));
        let deadline = Instant::now() + GOODBYE_TIMEOUT;
        while Instant::now() < deadline && self.fill(true).is_ok() {}
    }

    /// Read what has arrived; with `wait`, wait for something first.
    fn fill(&mut self, wait: bool) -> io::Result<()> {
        self.set_nonblocking(!wait)?;
        let mut buf = [0u8; 4096];
        loop {
            return match Read::read(&mut self.stream, &mut buf) {
                Ok(0) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "gdb closed the connection",
                )),
                Ok(n) => {
                    self.input.drain(..self.next);
                    self.next = 0;
                    self.input.extend_from_slice(&buf[..n]);
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }
}

impl Connection for Conn {
    type Error = io::Error;

    fn write(&mut self, byte: u8) -> io::Result<()> {
        self.output.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.output.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.set_nonblocking(false)?;
        Write::write_all(&mut self.stream, &self.output)?;
        self.output.clear();
        Ok(())
    }

    fn on_session_start(&mut self) -> io::Result<()> {
        // Replies are single small packets that gdb waits for.
        self.stream.set_nodelay(true)
    }
}

impl ConnectionExt for Conn {
    fn read(&mut self) -> io::Result<u8> {
        while self.next == self.input.len() {
            self.fill(true)?;
        }
        self.next += 1;
        Ok(self.input[self.next - 1])
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.next == self.input.len() {
            self.fill(false)?;
        }
        Ok(self.input.get(self.next).copied())
    }
}

/// What gdb last asked the guest to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Continue,
    Step,
    /// Step while the PC stays in `start..end`.
    RangeStep {
        start: u32,
        end: u32,
    },
}

/// gdbstub's view of the machine.
struct Debuggee {
    /// The machine being debugged. gdbstub's session is typed by its target
    /// and lives across `Server::run` calls, between which the run loop uses
    /// the machine, so the target cannot hold a borrow of it: this points
    /// at the machine only while `Server::run` has it mutably borrowed, and
    /// is null otherwise.
    machine: *mut Machine,
    /// Breakpoints gdb set, per address: (software, hardware). Both kinds
    /// are the machine's breakpoints; it has one per address, set while
    /// either kind is.
    breakpoints: BTreeMap<u32, (u32, u32)>,
    action: Action,
    /// The target description for this machine's core (`target_xml`).
    xml: String,
}

impl Debuggee {
    fn m(&mut self) -> &mut Machine {
        assert!(
            !self.machine.is_null(),
            "gdb target used outside Server::run"
        );
        // SAFETY: non-null only during `Server::run`, which sets it from the
        // `&mut Machine` it was given and holds that borrow throughout;
        // nothing else reaches the machine meanwhile (see `machine`).
        unsafe { &mut *self.machine }
    }

    fn add_breakpoint(&mut self, addr: u32, hw: bool) -> TargetResult<bool, Self> {
        let addr = addr & !1;
        let (sw_n, hw_n) = self.breakpoints.get(&addr).copied().unwrap_or((0, 0));
        if sw_n + hw_n == 0 {
            self.m()
                .set_breakpoint(addr)
                .map_err(|_| TargetError::NonFatal)?;
        }
        let counts = if hw {
            (sw_n, hw_n + 1)
        } else {
            (sw_n + 1, hw_n)
        };
        self.breakpoints.insert(addr, counts);
        Ok(true)
    }

    fn remove_breakpoint(&mut self, addr: u32, hw: bool) -> TargetResult<bool, Self> {
        let addr = addr & !1;
        let Some(&(sw_n, hw_n)) = self.breakpoints.get(&addr) else {
            return Ok(false);
        };
        let counts = match hw {
            true if hw_n > 0 => (sw_n, hw_n - 1),
            false if sw_n > 0 => (sw_n - 1, hw_n),
            _ => return Ok(false),
        };
        if counts == (0, 0) {
            self.breakpoints.remove(&addr);
            self.m().clear_breakpoint(addr);
        } else {
            self.breakpoints.insert(addr, counts);
        }
        Ok(true)
    }

    /// How gdb is told about a stop at breakpoint address `pc`.
    fn breakpoint_stop(&self, pc: u32) -> SingleThreadStopReason<u32> {
        match self.breakpoints.get(&(pc & !1)) {
            Some(&(0, _)) => SingleThreadStopReason::HwBreak(()),
            _ => SingleThreadStopReason::SwBreak(()),
        }
    }

    /// Breakpoints and watchpoints, all gone (gdb detached).
    fn clear_breakpoints(&mut self) {
        for addr in std::mem::take(&mut self.breakpoints).into_keys() {
            self.m().clear_breakpoint(addr);
        }
        self.m().clear_watchpoints();
    }
}

impl Target for Debuggee {
    type Arch = CortexM;
    type Error = Infallible;

    fn base_ops(&mut self) -> BaseOps<'_, CortexM, Infallible> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_target_description_xml_override(
        &mut self,
    ) -> Option<TargetDescriptionXmlOverrideOps<'_, Self>> {
        Some(self)
    }
}

impl TargetDescriptionXmlOverride for Debuggee {
    fn target_description_xml(
        &self,
        annex: &[u8],
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        if annex != b"target.xml" {
            return Err(TargetError::NonFatal);
        }
        let xml = self.xml.as_bytes();
        let from = (offset as usize).min(xml.len());
        let n = length.min(buf.len()).min(xml.len() - from);
        buf[..n].copy_from_slice(&xml[from..from + n]);
        Ok(n)
    }
}

impl SingleThreadBase for Debuggee {
    fn read_registers(&mut self, regs: &mut CortexMRegs) -> TargetResult<(), Self> {
        let m = self.m();
        for (n, r) in regs.regs.iter_mut().enumerate() {
            *r = m.read_register(n).ok_or(TargetError::NonFatal)?;
        }
        regs.present = NUM_REGS;
        regs.fp = m.has_fpu().then(|| {
            let mut d = [0u64; 16];
            for (i, r) in d.iter_mut().enumerate() {
                *r = m.read_fp_register(i).unwrap_or(0);
            }
            (d, m.read_fp_register(16).unwrap_or(0) as u32)
        });
        Ok(())
    }

    fn write_registers(&mut self, regs: &CortexMRegs) -> TargetResult<(), Self> {
        // Write only what changed: sp and msp (or psp) are the same
        // register, and writing back the old value of one would undo a
        // change gdb made to the other.
        let m = self.m();
        for (n, &v) in regs.regs.iter().enumerate().take(regs.present) {
            if m.read_register(n) != Some(v) && !m.write_register(n, v) {
                return Err(TargetError::NonFatal);
            }
        }
        if let Some((d, fpscr)) = &regs.fp {
            let values = d.iter().copied().chain([*fpscr as u64]);
            for (n, v) in values.enumerate() {
                if !m.write_fp_register(n, v) {
                    return Err(TargetError::NonFatal);
                }
            }
        }
        Ok(())
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, (), Self>> {
        Some(self)
    }

    fn read_addrs(&mut self, start: u32, data: &mut [u8]) -> TargetResult<usize, Self> {
        let m = self.m();
        if let Some(bytes) = m.read_memory(start, data.len()) {
            data.copy_from_slice(&bytes);
            return Ok(data.len());
        }
        // Part of the range is not mapped (nothing was read): give gdb what
        // comes before the hole.
        let mut n = 0;
        while n < data.len() {
            match m.read_memory(start.wrapping_add(n as u32), 1) {
                Some(b) => data[n] = b[0],
                None => break,
            }
            n += 1;
        }
        if n == 0 {
            // EFAULT
            Err(TargetError::Errno(14))
        } else {
            Ok(n)
        }
    }

    fn write_addrs(&mut self, start: u32, data: &[u8]) -> TargetResult<(), Self> {
        if self.m().write_memory(start, data) {
            Ok(())
        } else {
            Err(TargetError::Errno(14))
        }
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleRegisterAccess<()> for Debuggee {
    fn read_register(
        &mut self,
        _tid: (),
        reg: CortexMRegId,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let m = self.m();
        let bytes = match reg.fp() {
            Some(n) => {
                let v = m.read_fp_register(n).ok_or(TargetError::NonFatal)?;
                v.to_le_bytes()[..if n < 16 { 8 } else { 4 }].to_vec()
            }
            None => {
                let v = m.read_register(reg.0).ok_or(TargetError::NonFatal)?;
                v.to_le_bytes().to_vec()
            }
        };
        let out = buf.get_mut(..bytes.len()).ok_or(TargetError::NonFatal)?;
        out.copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    fn write_register(
        &mut self,
        _tid: (),
        reg: CortexMRegId,
        val: &[u8],
    ) -> TargetResult<(), Self> {
        let m = self.m();
        let done = match (reg.fp(), val.len()) {
            (Some(n), 4 | 8) => {
                let mut v = [0u8; 8];
                v[..val.len()].copy_from_slice(val);
                m.write_fp_register(n, u64::from_le_bytes(v))
            }
            (None, 4) => m.write_register(reg.0, u32::from_le_bytes(val.try_into().expect("4"))),
            _ => false,
        };
        if done {
            Ok(())
        } else {
            Err(TargetError::NonFatal)
        }
    }
}

// Signals gdb passes on resuming (e.g. the SIGSEGV of a crash) mean nothing
// to the guest and are ignored.
impl SingleThreadResume for Debuggee {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), Infallible> {
        self.action = Action::Continue;
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_range_step(&mut self) -> Option<SingleThreadRangeSteppingOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for Debuggee {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), Infallible> {
        self.action = Action::Step;
        Ok(())
    }
}

impl SingleThreadRangeStepping for Debuggee {
    fn resume_range_step(&mut self, start: u32, end: u32) -> Result<(), Infallible> {
        self.action = Action::RangeStep { start, end };
        Ok(())
    }
}

impl Breakpoints for Debuggee {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for Debuggee {
    fn add_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.add_breakpoint(addr, false)
    }

    fn remove_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.remove_breakpoint(addr, false)
    }
}

impl HwBreakpoint for Debuggee {
    fn add_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.add_breakpoint(addr, true)
    }

    fn remove_hw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        self.remove_breakpoint(addr, true)
    }
}

/// gdb's watchpoint kinds as the machine's.
fn watch_kind(kind: gdbstub::target::ext::breakpoints::WatchKind) -> WatchKind {
    use gdbstub::target::ext::breakpoints::WatchKind as Gdb;
    match kind {
        Gdb::Write => WatchKind::Write,
        Gdb::Read => WatchKind::Read,
        Gdb::ReadWrite => WatchKind::Access,
    }
}

impl HwWatchpoint for Debuggee {
    fn add_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: gdbstub::target::ext::breakpoints::WatchKind,
    ) -> TargetResult<bool, Self> {
        self.m()
            .set_watchpoint(addr, len, watch_kind(kind))
            .map_err(|_| TargetError::NonFatal)?;
        Ok(true)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u32,
        len: u32,
        kind: gdbstub::target::ext::breakpoints::WatchKind,
    ) -> TargetResult<bool, Self> {
        Ok(self.m().clear_watchpoint(addr, len, watch_kind(kind)))
    }
}

type Session = GdbStubStateMachine<'static, Debuggee, Conn>;

/// Console input as the run loop reads it (bytes from stdin, None at its
/// end), and the UART it is for.
pub type Input<'a> = (&'a Receiver<Option<Vec<u8>>>, &'a str);

/// What ended a wait for console input.
enum Woken {
    Input(Vec<u8>),
    /// gdb sent something (Ctrl-C).
    Gdb,
    /// No more input can come.
    Closed,
}

/// What one call of `Server::serve` ends with: the session to keep (None
/// once gdb has gone) and the answer for the run loop.
type Served = (Option<Session>, Option<StopReason>);

/// One gdb session over TCP, for the whole run.
pub struct Server {
    target: Debuggee,
    /// None once gdb detached or went away.
    session: Option<Session>,
    /// The guest crashed and gdb was shown it (SIGSEGV): the run ends with
    /// this as soon as gdb resumes it or goes.
    crash: Option<Box<CrashInfo>>,
    /// When the connection was last looked at while the guest ran (None:
    /// look now).
    last_poll: Option<Instant>,
}

impl Server {
    /// Listen on `spec` (`PORT` on 127.0.0.1, or `HOST:PORT`; port 0 picks
    /// a free one), say where on stderr, and wait for gdb to connect. The
    /// guest stays halted at reset until gdb resumes it.
    pub fn listen(spec: &str) -> Result<Server> {
        let addr: SocketAddr = match spec.parse::<u16>() {
            Ok(port) => SocketAddr::from(([127, 0, 0, 1], port)),
            Err(_) => spec
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(|| {
                    anyhow!("--gdb '{spec}': expected a port (e.g. 3333) or HOST:PORT")
                })?,
        };
        let listener =
            TcpListener::bind(addr).with_context(|| format!("--gdb: cannot listen on {addr}"))?;
        let local = listener.local_addr().context("--gdb")?;
        eprintln!("gdb: listening on {local}");
        let (stream, peer) = listener
            .accept()
            .with_context(|| format!("--gdb: waiting for a connection on {local}"))?;
        eprintln!("gdb: connected from {peer}");
        let mut target = Debuggee {
            machine: std::ptr::null_mut(),
            breakpoints: BTreeMap::new(),
            action: Action::Continue,
            xml: String::new(),
        };
        let session = GdbStub::new(Conn::new(stream))
            .run_state_machine(&mut target)
            .map_err(|e| anyhow!("--gdb: starting the session: {e}"))?;
        Ok(Server {
            target,
            session: Some(session),
            crash: None,
            last_poll: None,
        })
    }

    /// Stands in for `machine.run(until)` while gdb is attached: serves gdb
    /// while it has the guest halted, and runs the guest one slice at a
    /// time while gdb lets it run. A guest asleep until console input
    /// arrives waits for it here, where gdb's Ctrl-C is still heard; only
    /// once no input can come does it return `Asleep`. `None`: gdb killed
    /// the guest (or went away), and the run ends.
    pub fn run(
        &mut self,
        machine: &mut Machine,
        until: Ticks,
        input: Option<Input<'_>>,
    ) -> Option<StopReason> {
        let Some(session) = self.session.take() else {
            // Detached: the guest runs on by itself.
            return Some(machine.run(until));
        };
        if self.target.xml.is_empty() {
            self.target.xml = target_xml(machine.has_fpu());
        }
        self.target.machine = machine;
        let (session, stop) = self.serve(session, until, input);
        self.target.machine = std::ptr::null_mut();
        self.session = session;
        stop
    }

    /// The run ended with exit code `code`: if gdb is waiting for the guest
    /// to stop, tell it the program exited (or was terminated by its crash),
    /// and give it a moment to hang up.
    pub fn finish(&mut self, code: i32) {
        let Some(GdbStubStateMachine::Running(session)) = self.session.take() else {
            return;
        };
        let reason = if self.crash.is_some() {
            SingleThreadStopReason::Terminated(Signal::SIGSEGV)
        } else {
            SingleThreadStopReason::Exited(code as u8)
        };
        // Exit reports do not touch the machine.
        let Ok(mut session) = session.report_stop(&mut self.target, reason) else {
            return;
        };
        session_conn(&mut session).goodbye();
    }

    fn serve(&mut self, mut session: Session, until: Ticks, input: Option<Input<'_>>) -> Served {
        loop {
            let next = match session {
                GdbStubStateMachine::Idle(mut s) => match s.borrow_conn().read() {
                    Ok(byte) => s.incoming_data(&mut self.target, byte),
                    Err(e) => return self.lost(&e.to_string()),
                },
                GdbStubStateMachine::CtrlCInterrupt(s) => {
                    self.flush_output();
                    let stop = SingleThreadStopReason::Signal(Signal::SIGINT);
                    match s.interrupt_handled(&mut self.target, Some(stop)) {
                        Ok(next) => return (Some(next), Some(StopReason::Output)),
                        Err(e) => return self.failed(e),
                    }
                }
                GdbStubStateMachine::Disconnected(mut s) => {
                    let reason = s.get_reason();
                    if matches!(reason, DisconnectReason::Kill) {
                        // gdbstub ends a session on `vKill` without the OK
                        // that gdb waits for (until its timeout): send it.
                        let conn = s.borrow_conn();
                        if conn.write_all(b"$OK#9a").and_then(|_| conn.flush()).is_ok() {
                            conn.goodbye();
                        }
                    }
                    return self.gone(reason, until);
                }
                GdbStubStateMachine::Running(mut s) => {
                    if let Some(info) = &self.crash {
                        // gdb resumed a crashed guest: that ends the run.
                        let stop = StopReason::Crashed(info.clone());
                        return (Some(GdbStubStateMachine::Running(s)), Some(stop));
                    }
                    // Anything from gdb while the guest runs (Ctrl-C) first.
                    if self.last_poll.is_none_or(|t| t.elapsed() >= POLL_INTERVAL) {
                        self.last_poll = Some(Instant::now());
                        let byte = match s.borrow_conn().peek() {
                            Ok(None) => None,
                            // Something has arrived: this read does not wait.
                            Ok(Some(_)) => s.borrow_conn().read().ok(),
                            Err(e) => return self.lost(&e.to_string()),
                        };
                        if let Some(byte) = byte {
                            session = match s.incoming_data(&mut self.target, byte) {
                                Ok(next) => next,
                                Err(e) => return self.failed(e),
                            };
                            continue;
                        }
                    }
                    let (stop, halt) = self.advance(until);
                    let Some(halt) = halt else {
                        if let (StopReason::Asleep { .. }, Some((rx, console))) = (&stop, input) {
                            match wait_for_input(rx, s.borrow_conn()) {
                                Woken::Input(bytes) => {
                                    self.target.m().push_input(console, &bytes);
                                    session = GdbStubStateMachine::Running(s);
                                    continue;
                                }
                                Woken::Gdb => {
                                    self.last_poll = None;
                                    session = GdbStubStateMachine::Running(s);
                                    continue;
                                }
                                Woken::Closed => {}
                            }
                        }
                        return (Some(GdbStubStateMachine::Running(s)), Some(stop));
                    };
                    self.flush_output();
                    match s.report_stop(&mut self.target, halt) {
                        // Back to the run loop once, to show the output the
                        // guest produced before it halted.
                        Ok(next) => return (Some(next), Some(StopReason::Output)),
                        Err(e) => return self.failed(e),
                    }
                }
            };
            session = match next {
                Ok(next) => next,
                Err(e) => return self.failed(e),
            };
        }
    }

    /// Do a piece of what gdb asked for. Returns the machine's stop and,
    /// when the guest halts for gdb, what to tell gdb.
    fn advance(&mut self, until: Ticks) -> (StopReason, Option<SingleThreadStopReason<u32>>) {
        let stop = match self.target.action {
            Action::Continue => {
                let m = self.target.m();
                // Resuming from a watchpoint: its access happens first.
                let over = if m.at_watch_hit() {
                    Some(m.step())
                } else {
                    None
                };
                match over {
                    Some(stop) if !matches!(stop, StopReason::Stepped { .. }) => stop,
                    _ => {
                        let slice = ns_to_ticks(SLICE_NS, m.clock_hz()).max(1);
                        m.run(until.min(m.now().saturating_add(slice)))
                    }
                }
            }
            Action::Step => self.target.m().step(),
            Action::RangeStep { start, end } => {
                let began = Instant::now();
                loop {
                    let stop = self.target.m().step();
                    let StopReason::Stepped { pc } = stop else {
                        break stop;
                    };
                    if !(start..end).contains(&pc) {
                        break stop;
                    }
                    if self.target.breakpoints.contains_key(&pc) {
                        return (stop, Some(self.target.breakpoint_stop(pc)));
                    }
                    if began.elapsed() >= RANGE_STEP_BUDGET {
                        // Still in range: let the run loop see to input and
                        // output, and come back.
                        return (stop, None);
                    }
                }
            }
        };
        let halt = match &stop {
            StopReason::Breakpoint { pc } => Some(self.target.breakpoint_stop(*pc)),
            StopReason::Watchpoint { hit, .. } => {
                use gdbstub::target::ext::breakpoints::WatchKind as Gdb;
                Some(SingleThreadStopReason::Watch {
                    tid: (),
                    kind: match hit.kind {
                        WatchKind::Write => Gdb::Write,
                        WatchKind::Read => Gdb::Read,
                        WatchKind::Access => Gdb::ReadWrite,
                    },
                    addr: hit.addr,
                })
            }
            StopReason::Stepped { .. } => Some(SingleThreadStopReason::DoneStep),
            StopReason::Crashed(info) => {
                let m = self.target.m();
                eprintln!(
                    "\nensemble: guest crashed at t={:.6}s: {}; halted for gdb (SIGSEGV)",
                    ticks_to_secs(info.time, m.clock_hz()),
                    info.reason
                );
                self.crash = Some(info.clone());
                Some(SingleThreadStopReason::Signal(Signal::SIGSEGV))
            }
            StopReason::Output
            | StopReason::TimeLimit
            | StopReason::Asleep { .. }
            | StopReason::PoweredOff => None,
        };
        (stop, halt)
    }

    /// Have the devices hand over the output they hold, so that it is shown
    /// before gdb takes over: a run to the present only services devices.
    fn flush_output(&mut self) {
        let m = self.target.m();
        let now = m.now();
        let _ = m.run(now);
    }

    /// gdb ended the session.
    fn gone(&mut self, reason: DisconnectReason, until: Ticks) -> Served {
        let t = {
            let m = self.target.m();
            ticks_to_secs(m.now(), m.clock_hz())
        };
        match reason {
            DisconnectReason::Disconnect if self.crash.is_none() => {
                self.target.clear_breakpoints();
                eprintln!("gdb: detached at t={t:.6}s; the guest runs on");
                (None, Some(self.target.m().run(until)))
            }
            DisconnectReason::Kill if self.crash.is_none() => {
                eprintln!("\nensemble: gdb killed the guest at t={t:.6}s");
                (None, None)
            }
            _ => (None, self.crash.clone().map(StopReason::Crashed)),
        }
    }

    fn lost(&mut self, why: &str) -> Served {
        eprintln!("\nensemble: gdb connection lost: {why}");
        (None, self.crash.clone().map(StopReason::Crashed))
    }

    fn failed(&mut self, e: GdbStubError<Infallible, io::Error>) -> Served {
        self.lost(&e.to_string())
    }
}

/// Wait for console input, and for gdb meanwhile.
fn wait_for_input(rx: &Receiver<Option<Vec<u8>>>, conn: &mut Conn) -> Woken {
    loop {
        match rx.recv_timeout(POLL_INTERVAL) {
            Ok(Some(bytes)) => return Woken::Input(bytes),
            Ok(None) | Err(RecvTimeoutError::Disconnected) => return Woken::Closed,
            Err(RecvTimeoutError::Timeout) => {}
        }
        // An error is for the next poll of the connection to report.
        if !matches!(conn.peek(), Ok(None)) {
            return Woken::Gdb;
        }
    }
}

/// The connection of a session in any state.
fn session_conn(session: &mut Session) -> &mut Conn {
    match session {
        GdbStubStateMachine::Idle(s) => s.borrow_conn(),
        GdbStubStateMachine::Running(s) => s.borrow_conn(),
        GdbStubStateMachine::CtrlCInterrupt(s) => s.borrow_conn(),
        GdbStubStateMachine::Disconnected(s) => s.borrow_conn(),
    }
}
