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
//! Both kinds of core are served: Cortex-M (an M-profile target
//! description of our own; gdbstub_arch has none) and AArch64 (gdb's
//! `org.gnu.gdb.aarch64.core` and `.fpu` features, x0-x30, sp, pc, cpsr,
//! v0-v31, fpsr, fpcr, and a feature of system registers: SCTLR_EL1,
//! TTBR0/1_EL1, VBAR_EL1, ESR_EL1, CurrentEL, the generic timer...; see
//! `Machine::a64_system_registers`). On AArch64, addresses are the CPU's
//! virtual addresses (see machine/a64_debug.rs).
//!
//! What gdb sees:
//! - breakpoints (software and hardware alike) and steps stop with SIGTRAP;
//! - watchpoints (write, read, access) stop with SIGTRAP and the address,
//!   before the accessing instruction completes, as ARM's do: gdb steps
//!   over it to show the new value (and so does a plain continue);
//! - the registers are those of the core: the FPU's too on a Cortex-M4F/M7,
//!   system registers on AArch64;
//! - Ctrl-C stops with SIGINT;
//! - a crash (lockup, or stuck in a fault handler) stops with SIGSEGV where
//!   it happened, to be inspected; resuming then ends the run (exit 3) and
//!   gdb sees the program terminated by SIGSEGV;
//! - the end of the run (the guest asleep for good, `--expect`, `--fail`,
//!   the time limit) is a program exit with ensemble's exit code.
//!
//! `detach` (or a lost connection) lets the guest run on without a
//! debugger, and another gdb may connect; `kill` ends the run.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{self, Read, Write};
use std::marker::PhantomData;
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

/// What the server needs of a kind of core besides the machine's own
/// debugging methods (`Machine::debug_*`): its architecture for gdbstub,
/// its target description and its registers.
trait Core: Arch<BreakpointKind = usize> + Sized + 'static {
    fn target_xml(m: &Machine) -> String;
    fn addr(a: Self::Usize) -> u64;
    fn usize(a: u64) -> Self::Usize;
    fn read_registers(m: &mut Machine, regs: &mut Self::Registers) -> Option<()>;
    fn write_registers(m: &mut Machine, regs: &Self::Registers) -> Option<()>;
    /// A register's bytes, little-endian.
    fn read_register(m: &mut Machine, reg: Self::RegId) -> Option<Vec<u8>>;
    fn write_register(m: &mut Machine, reg: Self::RegId, val: &[u8]) -> Option<()>;
}

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

/// The start of a target description for `arch`.
fn xml_head(arch: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n\
         <target version=\"1.0\">\n  <architecture>{arch}</architecture>\n"
    )
}

/// The target description of a core, with the FPU's registers (the VFP
/// feature: gdb derives s0-s31 from d0-d15) when it has one.
fn target_xml(fpu: bool) -> String {
    let mut x = xml_head("arm");
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

impl Core for CortexM {
    fn target_xml(m: &Machine) -> String {
        target_xml(m.has_fpu())
    }

    fn addr(a: u32) -> u64 {
        a.into()
    }

    fn usize(a: u64) -> u32 {
        a as u32
    }

    fn read_registers(m: &mut Machine, regs: &mut CortexMRegs) -> Option<()> {
        for (n, r) in regs.regs.iter_mut().enumerate() {
            *r = m.read_register(n)?;
        }
        regs.present = NUM_REGS;
        regs.fp = m.has_fpu().then(|| {
            let mut d = [0u64; 16];
            for (i, r) in d.iter_mut().enumerate() {
                *r = m.read_fp_register(i).unwrap_or(0);
            }
            (d, m.read_fp_register(16).unwrap_or(0) as u32)
        });
        Some(())
    }

    fn write_registers(m: &mut Machine, regs: &CortexMRegs) -> Option<()> {
        // Write only what changed: sp and msp (or psp) are the same
        // register, and writing back the old value of one would undo a
        // change gdb made to the other.
        for (n, &v) in regs.regs.iter().enumerate().take(regs.present) {
            if m.read_register(n) != Some(v) && !m.write_register(n, v) {
                return None;
            }
        }
        if let Some((d, fpscr)) = &regs.fp {
            let values = d.iter().copied().chain([*fpscr as u64]);
            for (n, v) in values.enumerate() {
                m.write_fp_register(n, v).then_some(())?;
            }
        }
        Some(())
    }

    fn read_register(m: &mut Machine, reg: CortexMRegId) -> Option<Vec<u8>> {
        Some(match reg.fp() {
            Some(n) => {
                let v = m.read_fp_register(n)?;
                v.to_le_bytes()[..if n < 16 { 8 } else { 4 }].to_vec()
            }
            None => m.read_register(reg.0)?.to_le_bytes().to_vec(),
        })
    }

    fn write_register(m: &mut Machine, reg: CortexMRegId, val: &[u8]) -> Option<()> {
        let done = match (reg.fp(), val.len()) {
            (Some(n), 4 | 8) => {
                let mut v = [0u8; 8];
                v[..val.len()].copy_from_slice(val);
                m.write_fp_register(n, u64::from_le_bytes(v))
            }
            (None, 4) => m.write_register(reg.0, u32::from_le_bytes(val.try_into().ok()?)),
            _ => false,
        };
        done.then_some(())
    }
}

/// The AArch64 core for gdbstub: gdb's register layout for it, and the
/// system registers the machine exposes (`AArch64::xml`). Our own, like
/// `CortexM`: gdbstub_arch is not a dependency, and its AArch64 target
/// description lists every system register rather than those modelled.
pub enum AArch64 {}

/// Registers in a `g` packet: x0-x30, sp, pc, cpsr, v0-v31, fpsr, fpcr
/// (the system registers that follow are read one at a time).
const A64_G_REGS: usize = 68;
const A64_PC: usize = 32;

/// Where register `n` starts in a `g` packet, in bytes.
fn a64_offset(n: usize) -> usize {
    (0..n)
        .map(|r| Machine::a64_register_size(r).unwrap_or(0))
        .sum()
}

impl Arch for AArch64 {
    type Usize = u64;
    type Registers = AArch64Regs;
    /// AArch64 has one kind (4); a breakpoint is a stop before an address.
    type BreakpointKind = usize;
    type RegId = AArch64RegId;
}

/// The registers of a `g` packet, as its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AArch64Regs {
    raw: Vec<u8>,
}

impl Registers for AArch64Regs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        let at = a64_offset(A64_PC);
        self.raw
            .get(at..at + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        self.raw.iter().for_each(|&b| write_byte(Some(b)));
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        if bytes.len() != a64_offset(A64_G_REGS) {
            return Err(());
        }
        self.raw = bytes.to_vec();
        Ok(())
    }
}

/// A register in gdb's AArch64 numbering (`Machine::a64_register_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AArch64RegId(pub usize);

impl RegId for AArch64RegId {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        let size = Machine::a64_register_size(id)?;
        Some((AArch64RegId(id), NonZeroUsize::new(size)))
    }
}

/// PSTATE's fields as gdb shows cpsr (the SPSR layout).
const CPSR_FIELDS: [(&str, u32, u32); 16] = [
    ("SP", 0, 0),
    ("EL", 2, 3),
    ("nRW", 4, 4),
    ("F", 6, 6),
    ("I", 7, 7),
    ("A", 8, 8),
    ("D", 9, 9),
    ("SSBS", 12, 12),
    ("IL", 20, 20),
    ("SS", 21, 21),
    ("PAN", 22, 22),
    ("UAO", 23, 23),
    ("V", 28, 28),
    ("C", 29, 29),
    ("Z", 30, 30),
    ("N", 31, 31),
];

/// The views of a 128-bit SIMD register, as gdb offers them: (union,
/// [(field, vector type, element type, count)]).
const V_VIEWS: [(&str, &[(&str, &str, &str, u32)]); 5] = [
    (
        "vnd",
        &[
            ("f", "v2d", "ieee_double", 2),
            ("u", "v2u", "uint64", 2),
            ("s", "v2i", "int64", 2),
        ],
    ),
    (
        "vns",
        &[
            ("f", "v4f", "ieee_single", 4),
            ("u", "v4u", "uint32", 4),
            ("s", "v4i", "int32", 4),
        ],
    ),
    (
        "vnh",
        &[
            ("f", "v8f", "ieee_half", 8),
            ("u", "v8u", "uint16", 8),
            ("s", "v8i", "int16", 8),
        ],
    ),
    (
        "vnb",
        &[("u", "v16u", "uint8", 16), ("s", "v16i", "int8", 16)],
    ),
    (
        "vnq",
        &[("u", "v1u", "uint128", 1), ("s", "v1i", "int128", 1)],
    ),
];

impl AArch64 {
    /// The target description: gdb's core and FPU features (register
    /// numbers count up from x0 = 0), then the system registers.
    fn xml() -> String {
        let mut x = xml_head("aarch64");
        x.push_str("  <feature name=\"org.gnu.gdb.aarch64.core\">\n");
        x.push_str("    <flags id=\"cpsr_flags\" size=\"4\">\n");
        for (name, start, end) in CPSR_FIELDS {
            x.push_str(&format!(
                "      <field name=\"{name}\" start=\"{start}\" end=\"{end}\"/>\n"
            ));
        }
        x.push_str("    </flags>\n");
        for n in 0..31 {
            x.push_str(&format!(
                "    <reg name=\"x{n}\" bitsize=\"64\" type=\"int\"/>\n"
            ));
        }
        x.push_str(
            "    <reg name=\"sp\" bitsize=\"64\" type=\"data_ptr\"/>\n\
             \x20   <reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\"/>\n\
             \x20   <reg name=\"cpsr\" bitsize=\"32\" type=\"cpsr_flags\"/>\n  </feature>\n",
        );
        x.push_str("  <feature name=\"org.gnu.gdb.aarch64.fpu\">\n");
        for (_, fields) in V_VIEWS {
            for (_, id, ty, count) in fields.iter() {
                x.push_str(&format!(
                    "    <vector id=\"{id}\" type=\"{ty}\" count=\"{count}\"/>\n"
                ));
            }
        }
        for (union, fields) in V_VIEWS {
            x.push_str(&format!("    <union id=\"{union}\">\n"));
            for (field, id, _, _) in fields.iter() {
                x.push_str(&format!("      <field name=\"{field}\" type=\"{id}\"/>\n"));
            }
            x.push_str("    </union>\n");
        }
        x.push_str("    <union id=\"aarch64v\">\n");
        for (union, field) in V_VIEWS.iter().map(|v| v.0).zip(["d", "s", "h", "b", "q"]) {
            x.push_str(&format!(
                "      <field name=\"{field}\" type=\"{union}\"/>\n"
            ));
        }
        x.push_str("    </union>\n");
        for n in 0..32 {
            x.push_str(&format!(
                "    <reg name=\"v{n}\" bitsize=\"128\" type=\"aarch64v\" group=\"vector\"/>\n"
            ));
        }
        x.push_str(
            "    <reg name=\"fpsr\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n\
             \x20   <reg name=\"fpcr\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n  </feature>\n",
        );
        x.push_str("  <feature name=\"org.ensemble.aarch64.system\">\n");
        for name in Machine::a64_system_registers() {
            x.push_str(&format!(
                "    <reg name=\"{name}\" bitsize=\"64\" type=\"uint64\" group=\"system\"/>\n"
            ));
        }
        x.push_str("  </feature>\n</target>\n");
        x
    }
}

impl Core for AArch64 {
    fn target_xml(_m: &Machine) -> String {
        AArch64::xml()
    }

    fn addr(a: u64) -> u64 {
        a
    }

    fn usize(a: u64) -> u64 {
        a
    }

    fn read_registers(m: &mut Machine, regs: &mut AArch64Regs) -> Option<()> {
        regs.raw.clear();
        for n in 0..A64_G_REGS {
            regs.raw.extend(m.a64_read_register(n)?);
        }
        Some(())
    }

    fn write_registers(m: &mut Machine, regs: &AArch64Regs) -> Option<()> {
        // Write only what changed: writing cpsr back rebuilds the core's
        // mode.
        for n in 0..A64_G_REGS {
            let at = a64_offset(n);
            let new = regs.raw.get(at..at + Machine::a64_register_size(n)?)?;
            if m.a64_read_register(n).as_deref() != Some(new) {
                m.a64_write_register(n, new).then_some(())?;
            }
        }
        Some(())
    }

    fn read_register(m: &mut Machine, reg: AArch64RegId) -> Option<Vec<u8>> {
        m.a64_read_register(reg.0)
    }

    fn write_register(m: &mut Machine, reg: AArch64RegId, val: &[u8]) -> Option<()> {
        m.a64_write_register(reg.0, val).then_some(())
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
        start: u64,
        end: u64,
    },
}

/// gdbstub's view of the machine, with a core of kind `C`.
struct Debuggee<C: Core> {
    /// The machine being debugged. gdbstub's session is typed by its target
    /// and lives across `Server::run` calls, between which the run loop uses
    /// the machine, so the target cannot hold a borrow of it: this points
    /// at the machine only while `Server::run` has it mutably borrowed, and
    /// is null otherwise.
    machine: *mut Machine,
    /// Breakpoints gdb set, per address: (software, hardware). Both kinds
    /// are the machine's breakpoints; it has one per address, set while
    /// either kind is.
    breakpoints: BTreeMap<u64, (u32, u32)>,
    action: Action,
    /// The target description for this machine's core (`Core::target_xml`).
    xml: String,
    core: PhantomData<C>,
}

// SAFETY: the pointer is set only for the length of a `Server::run` call,
// which holds the server mutably borrowed (it cannot move between threads
// meanwhile) and the machine too; otherwise it is null.
unsafe impl<C: Core> Send for Debuggee<C> {}

impl<C: Core> Debuggee<C> {
    fn new() -> Debuggee<C> {
        Debuggee {
            machine: std::ptr::null_mut(),
            breakpoints: BTreeMap::new(),
            action: Action::Continue,
            xml: String::new(),
            core: PhantomData,
        }
    }

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

    fn add_breakpoint(&mut self, addr: u64, hw: bool) -> TargetResult<bool, Self> {
        let addr = addr & !1;
        let (sw_n, hw_n) = self.breakpoints.get(&addr).copied().unwrap_or((0, 0));
        if sw_n + hw_n == 0 {
            self.m()
                .debug_set_breakpoint(addr)
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

    fn remove_breakpoint(&mut self, addr: u64, hw: bool) -> TargetResult<bool, Self> {
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
            self.m().debug_clear_breakpoint(addr);
        } else {
            self.breakpoints.insert(addr, counts);
        }
        Ok(true)
    }

    /// How gdb is told about a stop at breakpoint address `pc`.
    fn breakpoint_stop(&self, pc: u64) -> SingleThreadStopReason<C::Usize> {
        match self.breakpoints.get(&(pc & !1)) {
            Some(&(0, _)) => SingleThreadStopReason::HwBreak(()),
            _ => SingleThreadStopReason::SwBreak(()),
        }
    }

    /// Breakpoints and watchpoints, all gone (gdb detached).
    fn clear_breakpoints(&mut self) {
        for addr in std::mem::take(&mut self.breakpoints).into_keys() {
            self.m().debug_clear_breakpoint(addr);
        }
        self.m().debug_clear_watchpoints();
    }
}

impl<C: Core> Target for Debuggee<C> {
    type Arch = C;
    type Error = Infallible;

    fn base_ops(&mut self) -> BaseOps<'_, C, Infallible> {
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

impl<C: Core> TargetDescriptionXmlOverride for Debuggee<C> {
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

impl<C: Core> SingleThreadBase for Debuggee<C> {
    fn read_registers(&mut self, regs: &mut C::Registers) -> TargetResult<(), Self> {
        C::read_registers(self.m(), regs).ok_or(TargetError::NonFatal)
    }

    fn write_registers(&mut self, regs: &C::Registers) -> TargetResult<(), Self> {
        C::write_registers(self.m(), regs).ok_or(TargetError::NonFatal)
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, (), Self>> {
        Some(self)
    }

    fn read_addrs(&mut self, start: C::Usize, data: &mut [u8]) -> TargetResult<usize, Self> {
        let start = C::addr(start);
        let m = self.m();
        if let Some(bytes) = m.debug_read_memory(start, data.len()) {
            data.copy_from_slice(&bytes);
            return Ok(data.len());
        }
        // Part of the range is not mapped (nothing was read): give gdb what
        // comes before the hole.
        let mut n = 0;
        while n < data.len() {
            match m.debug_read_memory(start.wrapping_add(n as u64), 1) {
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

    fn write_addrs(&mut self, start: C::Usize, data: &[u8]) -> TargetResult<(), Self> {
        if self.m().debug_write_memory(C::addr(start), data) {
            Ok(())
        } else {
            Err(TargetError::Errno(14))
        }
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl<C: Core> SingleRegisterAccess<()> for Debuggee<C> {
    fn read_register(
        &mut self,
        _tid: (),
        reg: C::RegId,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let bytes = C::read_register(self.m(), reg).ok_or(TargetError::NonFatal)?;
        let out = buf.get_mut(..bytes.len()).ok_or(TargetError::NonFatal)?;
        out.copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    fn write_register(&mut self, _tid: (), reg: C::RegId, val: &[u8]) -> TargetResult<(), Self> {
        C::write_register(self.m(), reg, val).ok_or(TargetError::NonFatal)
    }
}

// Signals gdb passes on resuming (e.g. the SIGSEGV of a crash) mean nothing
// to the guest and are ignored.
impl<C: Core> SingleThreadResume for Debuggee<C> {
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

impl<C: Core> SingleThreadSingleStep for Debuggee<C> {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), Infallible> {
        self.action = Action::Step;
        Ok(())
    }
}

impl<C: Core> SingleThreadRangeStepping for Debuggee<C> {
    fn resume_range_step(&mut self, start: C::Usize, end: C::Usize) -> Result<(), Infallible> {
        self.action = Action::RangeStep {
            start: C::addr(start),
            end: C::addr(end),
        };
        Ok(())
    }
}

impl<C: Core> Breakpoints for Debuggee<C> {
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

impl<C: Core> SwBreakpoint for Debuggee<C> {
    fn add_sw_breakpoint(&mut self, addr: C::Usize, _kind: usize) -> TargetResult<bool, Self> {
        self.add_breakpoint(C::addr(addr), false)
    }

    fn remove_sw_breakpoint(&mut self, addr: C::Usize, _kind: usize) -> TargetResult<bool, Self> {
        self.remove_breakpoint(C::addr(addr), false)
    }
}

impl<C: Core> HwBreakpoint for Debuggee<C> {
    fn add_hw_breakpoint(&mut self, addr: C::Usize, _kind: usize) -> TargetResult<bool, Self> {
        self.add_breakpoint(C::addr(addr), true)
    }

    fn remove_hw_breakpoint(&mut self, addr: C::Usize, _kind: usize) -> TargetResult<bool, Self> {
        self.remove_breakpoint(C::addr(addr), true)
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

impl<C: Core> HwWatchpoint for Debuggee<C> {
    fn add_hw_watchpoint(
        &mut self,
        addr: C::Usize,
        len: C::Usize,
        kind: gdbstub::target::ext::breakpoints::WatchKind,
    ) -> TargetResult<bool, Self> {
        self.m()
            .debug_set_watchpoint(C::addr(addr), C::addr(len), watch_kind(kind))
            .map_err(|_| TargetError::NonFatal)?;
        Ok(true)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: C::Usize,
        len: C::Usize,
        kind: gdbstub::target::ext::breakpoints::WatchKind,
    ) -> TargetResult<bool, Self> {
        Ok(self
            .m()
            .debug_clear_watchpoint(C::addr(addr), C::addr(len), watch_kind(kind)))
    }
}

type Session<C> = GdbStubStateMachine<'static, Debuggee<C>, Conn>;

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

/// What one call of `Serving::serve` ends with: the session to keep (None
/// once gdb has gone) and the answer for the run loop.
type Served<C> = (Option<Session<C>>, Option<StopReason>);

/// The GDB server of one machine: a listener that gdb may connect to at
/// any time, and the session with the gdb connected, if any. While nobody
/// is attached the machine runs as without a debugger (`run` looks for a
/// connection each time it is called, without waiting); a gdb that
/// connects finds the guest halted where it is; after it detaches (or its
/// connection is lost) the guest runs on and another gdb may connect. The
/// session's architecture is the machine's core.
pub struct Server {
    listener: TcpListener,
    local: SocketAddr,
    /// The scenario device served (None in `ensemble run`), for messages.
    device: Option<String>,
    /// Hold the guest at reset until gdb connects: the first `run` waits.
    wait: bool,
    /// A gdb that connected while the guest waited for input.
    pending: Option<TcpStream>,
    state: State,
}

// The session's target points at the machine only inside `Server::run`,
// which holds `&mut Server` (see `Debuggee::machine`): a server may move to
// another thread with its machine, as a scenario's workers need.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Server>();
};

enum State {
    /// Nobody attached: the machine runs by itself.
    Unattached,
    CortexM(Serving<CortexM>),
    AArch64(Serving<AArch64>),
}

/// The session with a machine whose core is of kind `C`.
struct Serving<C: Core> {
    target: Debuggee<C>,
    /// None once gdb detached or went away.
    session: Option<Session<C>>,
    /// The guest crashed and gdb was shown it (SIGSEGV): the run ends with
    /// this as soon as gdb resumes it or goes.
    crash: Option<Box<CrashInfo>>,
    /// When the connection was last looked at while the guest ran (None:
    /// look now).
    last_poll: Option<Instant>,
    /// How messages start (`Server::tag`).
    tag: String,
}

/// Where `--gdb SPEC` listens: `PORT` on 127.0.0.1, or `HOST:PORT`.
pub fn parse_address(spec: &str, option: &str) -> Result<SocketAddr> {
    match spec.parse::<u16>() {
        Ok(port) => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => spec
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| anyhow!("{option} '{spec}': expected a port (e.g. 3333) or HOST:PORT")),
    }
}

impl Server {
    /// Listen on `spec` (`PORT` on 127.0.0.1, or `HOST:PORT`; port 0 picks
    /// a free one) and say where on stderr. With `wait`, the first `run`
    /// waits for gdb to connect and the guest stays halted at reset until
    /// gdb resumes it; else the guest runs at once and gdb may connect at
    /// any time.
    pub fn listen(spec: &str, wait: bool) -> Result<Server> {
        let addr = parse_address(spec, "--gdb")?;
        Server::bind(addr, None, wait)
    }

    /// Listen on `addr` for the machine of scenario device `device` (None:
    /// the one machine of `ensemble run`), and say where on stderr.
    pub fn bind(addr: SocketAddr, device: Option<&str>, wait: bool) -> Result<Server> {
        let listener = TcpListener::bind(addr).with_context(|| match device {
            Some(d) => format!("--gdb: device '{d}': cannot listen on {addr}"),
            None => format!("--gdb: cannot listen on {addr}"),
        })?;
        let local = listener.local_addr().context("--gdb")?;
        listener
            .set_nonblocking(true)
            .with_context(|| format!("--gdb: listening on {local}"))?;
        match device {
            Some(d) => eprintln!("gdb: {d} listening on {local}"),
            None => eprintln!("gdb: listening on {local}"),
        }
        Ok(Server {
            listener,
            local,
            device: device.map(str::to_string),
            wait,
            pending: None,
            state: State::Unattached,
        })
    }

    /// The address listened on (the port chosen, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether a gdb is attached now.
    pub fn attached(&self) -> bool {
        !matches!(self.state, State::Unattached)
    }

    /// "gdb" or "gdb [DEVICE]", to start a message with.
    fn tag(&self) -> String {
        match &self.device {
            Some(d) => format!("gdb [{d}]"),
            None => "gdb".into(),
        }
    }

    /// A gdb that has connected; with `block`, wait for one.
    fn accept(&mut self, block: bool) -> Option<TcpStream> {
        if block {
            let _ = self.listener.set_nonblocking(false);
            eprintln!(
                "{}: waiting for gdb to connect to {} (the guest is halted at reset)",
                self.tag(),
                self.local
            );
        }
        let accepted = loop {
            match self.listener.accept() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        if block {
            let _ = self.listener.set_nonblocking(true);
        }
        match accepted {
            Ok((stream, peer)) => {
                // Accepted sockets do not inherit the listener's mode on
                // every system: the connection starts blocking.
                if stream.set_nonblocking(false).is_err() {
                    return None;
                }
                eprintln!("{}: connected from {peer}", self.tag());
                Some(stream)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => {
                eprintln!("{}: accepting a connection: {e}", self.tag());
                None
            }
        }
    }

    /// Stands in for `machine.run(until)`. Unattached, it runs the machine
    /// to `until` (the caller keeps slices short enough for a connection to
    /// be noticed soon) after looking, without waiting, for a gdb that has
    /// connected. Attached, it serves gdb while it has the guest halted
    /// (virtual time stands still), and runs the guest one short slice at a
    /// time while gdb lets it run. A guest asleep until console input
    /// arrives waits for it here, where gdb (its Ctrl-C, or a new
    /// connection) is still heard; only once no input can come does it
    /// return `Asleep`. `None`: gdb killed the guest, and the run ends.
    pub fn run(
        &mut self,
        machine: &mut Machine,
        until: Ticks,
        input: Option<Input<'_>>,
    ) -> Option<StopReason> {
        loop {
            if let State::Unattached = self.state {
                let block = std::mem::take(&mut self.wait);
                let stream = match self.pending.take() {
                    Some(s) => Some(s),
                    None => self.accept(block),
                };
                match stream {
                    Some(stream) => self.start(Conn::new(stream), machine),
                    None => {
                        let stop = machine.run(until);
                        if let (StopReason::Asleep { .. }, Some((rx, console))) = (&stop, input) {
                            match self.wait_for_input(rx) {
                                Woken::Input(bytes) => {
                                    machine.push_input(console, &bytes);
                                    continue;
                                }
                                Woken::Gdb => continue,
                                Woken::Closed => {}
                            }
                        }
                        return Some(stop);
                    }
                }
                if let State::Unattached = self.state {
                    // The session could not start: run on unattached.
                    continue;
                }
                let t = ticks_to_secs(machine.now(), machine.clock_hz());
                eprintln!("{}: the guest is halted at t={t:.6}s", self.tag());
            }
            let (stop, over) = match &mut self.state {
                State::CortexM(s) => (s.run(machine, until, input), s.session.is_none()),
                State::AArch64(s) => (s.run(machine, until, input), s.session.is_none()),
                State::Unattached => unreachable!("attached above"),
            };
            if over {
                self.state = State::Unattached;
            }
            return stop;
        }
    }

    /// Start a session with the gdb on `conn`.
    fn start(&mut self, conn: Conn, machine: &Machine) {
        let tag = self.tag();
        let started = if machine.is_aarch64() {
            Serving::start(conn, &tag).map(State::AArch64)
        } else {
            Serving::start(conn, &tag).map(State::CortexM)
        };
        match started {
            Ok(state) => self.state = state,
            Err(e) => eprintln!("{tag}: starting the session: {e}"),
        }
    }

    /// Wait for console input to wake the unattached guest, and for a gdb
    /// to connect meanwhile (it is accepted by the next look).
    fn wait_for_input(&mut self, rx: &Receiver<Option<Vec<u8>>>) -> Woken {
        loop {
            match rx.recv_timeout(POLL_INTERVAL) {
                Ok(Some(bytes)) => return Woken::Input(bytes),
                Ok(None) | Err(RecvTimeoutError::Disconnected) => return Woken::Closed,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(stream) = self.accept(false) {
                self.pending = Some(stream);
                return Woken::Gdb;
            }
        }
    }

    /// The run ended with exit code `code`: if gdb is waiting for the guest
    /// to stop, tell it the program exited (or was terminated by its crash),
    /// and give it a moment to hang up.
    pub fn finish(&mut self, code: i32) {
        match &mut self.state {
            State::CortexM(s) => s.finish(code),
            State::AArch64(s) => s.finish(code),
            State::Unattached => {}
        }
    }
}

impl<C: Core> Serving<C> {
    fn start(conn: Conn, tag: &str) -> Result<Serving<C>, GdbStubError<Infallible, io::Error>> {
        let mut target = Debuggee::new();
        let session = GdbStub::new(conn).run_state_machine(&mut target)?;
        Ok(Serving {
            target,
            session: Some(session),
            crash: None,
            last_poll: None,
            tag: tag.to_string(),
        })
    }

    /// See `Server::run`.
    fn run(
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
            self.target.xml = C::target_xml(machine);
        }
        self.target.machine = machine;
        let (session, stop) = self.serve(session, until, input);
        self.target.machine = std::ptr::null_mut();
        self.session = session;
        stop
    }

    /// See `Server::finish`.
    fn finish(&mut self, code: i32) {
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

    fn serve(
        &mut self,
        mut session: Session<C>,
        until: Ticks,
        input: Option<Input<'_>>,
    ) -> Served<C> {
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
    fn advance(&mut self, until: Ticks) -> (StopReason, Option<SingleThreadStopReason<C::Usize>>) {
        let stop = match self.target.action {
            Action::Continue => {
                let m = self.target.m();
                // Resuming from a watchpoint: its access happens first.
                let over = if m.debug_at_watch_hit() {
                    Some(m.debug_step())
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
            Action::Step => self.target.m().debug_step(),
            Action::RangeStep { start, end } => {
                let began = Instant::now();
                loop {
                    let stop = self.target.m().debug_step();
                    let StopReason::Stepped { .. } = stop else {
                        break stop;
                    };
                    let pc = self.target.m().debug_pc();
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
            StopReason::Breakpoint { .. } => {
                let pc = self.target.m().debug_pc();
                Some(self.target.breakpoint_stop(pc))
            }
            StopReason::Watchpoint { hit, .. } => {
                use gdbstub::target::ext::breakpoints::WatchKind as Gdb;
                Some(SingleThreadStopReason::Watch {
                    tid: (),
                    kind: match hit.kind {
                        WatchKind::Write => Gdb::Write,
                        WatchKind::Read => Gdb::Read,
                        WatchKind::Access => Gdb::ReadWrite,
                    },
                    addr: C::usize(self.target.m().debug_watch_address(hit)),
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
    fn gone(&mut self, reason: DisconnectReason, until: Ticks) -> Served<C> {
        let t = {
            let m = self.target.m();
            ticks_to_secs(m.now(), m.clock_hz())
        };
        match reason {
            DisconnectReason::Disconnect if self.crash.is_none() => {
                self.target.clear_breakpoints();
                eprintln!("{}: detached at t={t:.6}s; the guest runs on", self.tag);
                (None, Some(self.target.m().run(until)))
            }
            DisconnectReason::Kill if self.crash.is_none() => {
                eprintln!("\nensemble: {} killed the guest at t={t:.6}s", self.tag);
                (None, None)
            }
            _ => (None, self.crash.clone().map(StopReason::Crashed)),
        }
    }

    /// The connection broke: as if gdb had detached (another may connect),
    /// unless it was shown a crash, which ends the run.
    fn lost(&mut self, why: &str) -> Served<C> {
        if self.crash.is_some() {
            eprintln!("\nensemble: {} connection lost: {why}", self.tag);
            return (None, self.crash.clone().map(StopReason::Crashed));
        }
        self.target.clear_breakpoints();
        let t = {
            let m = self.target.m();
            ticks_to_secs(m.now(), m.clock_hz())
        };
        eprintln!(
            "{}: connection lost at t={t:.6}s ({why}); the guest runs on",
            self.tag
        );
        (None, Some(StopReason::Output))
    }

    fn failed(&mut self, e: GdbStubError<Infallible, io::Error>) -> Served<C> {
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
fn session_conn<C: Core>(session: &mut Session<C>) -> &mut Conn {
    match session {
        GdbStubStateMachine::Idle(s) => s.borrow_conn(),
        GdbStubStateMachine::Running(s) => s.borrow_conn(),
        GdbStubStateMachine::CtrlCInterrupt(s) => s.borrow_conn(),
        GdbStubStateMachine::Disconnected(s) => s.borrow_conn(),
    }
}
