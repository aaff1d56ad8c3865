//! ARM SBCon two-wire serial bus interface: the bit-banged I2C controller of
//! the MPS2 boards (also known as the Versatile I2C controller).
//!
//! Reference: behaviour matched to QEMU `hw/i2c/arm_sbcon_i2c.c` (device
//! `versatile_i2c`, 4 KiB window) and to the drivers that use it, Linux
//! `i2c-versatile` (compatible "arm,versatile-i2c", on top of
//! `i2c-algo-bit`) and Zephyr `i2c_sbcon` (on top of `i2c_bitbang`). The MPS2
//! AN385/AN386 have four: 0x4002_2000 (touch screen), 0x4002_3000 (audio
//! codec), 0x4002_9000 and 0x4002_A000 (the two Shield connector buses).
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x00 | CONTROL | RO | b0 SCL, b1 SDA: the levels on the bus |
//! | 0x00 | CONTROLS | WO | write 1s to release (drive high) SCL b0 / SDA b1 |
//! | 0x04 | CONTROLC | WO | write 1s to pull SCL b0 / SDA b1 low |
//!
//! The controller is nothing but two open-drain outputs and their read-back;
//! the guest generates the whole protocol itself. Both lines have pull-ups:
//! a line reads 1 unless someone pulls it low. SDA reads as the wired-AND of
//! the master's output and the addressed target's, so a target's ACK and
//! its read data are visible; SCL reads as the master drives it (no target
//! here stretches the clock). Other offsets read 0xFFFF_FFFF and ignore
//! writes, as QEMU's model does. At reset both lines are released; QEMU's
//! model reads 0 until the guest first writes (Linux's probe writes SCL|SDA
//! to CONTROLS first thing, Zephyr's first transfer releases both too).
//!
//! Protocol decoding, as the targets on the bus see it:
//! - SDA falling while SCL is high is a START (or a repeated START), SDA
//!   rising while SCL is high is a STOP. Data bits must be stable while SCL
//!   is high, so no other SDA change happens then.
//! - Bits are sampled on the rising edge of SCL, most significant first:
//!   the first byte after a START is the 7-bit address and the R/W bit.
//! - After the 8th bit, on the falling edge of SCL, the addressed target
//!   pulls SDA low to ACK (an address nobody has, or a byte the target
//!   refuses, leaves SDA high: a NACK) and releases it on the next falling
//!   edge.
//! - In a read, the target puts each data bit on SDA just after a falling
//!   edge of SCL, so the bit is valid both while SCL is still low (Zephyr
//!   samples there) and while it is high (Linux samples there). After the
//!   8th bit it releases SDA for the master's ACK (SDA low: send another
//!   byte) or NACK (SDA high: done, a STOP follows).
//! - One write that changes both lines changes SDA while SCL is low: SCL
//!   falls first or rises last, so a simultaneous change is never taken for
//!   a START or a STOP.
//!
//! Targets ([`I2cTarget`]) are attached with [`SbconI2c::attach`]; they are
//! told the time on every register access and on every
//! [`Device::advance`], and sensor feeds given to the controller with
//! [`Device::set_sensor`] are passed on to them.

use crate::{zero_extend, Device, SensorSource, Ticks};

pub const CONTROL: u64 = 0x00;
pub const CONTROLS: u64 = 0x00;
pub const CONTROLC: u64 = 0x04;

/// Serial clock line, bit 0 of every register.
pub const SCL: u32 = 1 << 0;
/// Serial data line, bit 1 of every register.
pub const SDA: u32 = 1 << 1;

const LINES: u32 = SCL | SDA;

/// A device on an I2C bus, seen byte by byte: the controller decodes the
/// bit-level protocol and calls these in bus order.
pub trait I2cTarget: Send {
    /// The chip's whole state, for a machine snapshot.
    fn save_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Return to a saved state.
    fn restore_state(&mut self, _state: &[u8]) -> Result<(), String> {
        Err(format!("{} cannot be restored", self.kind()))
    }

    /// Short model name used in traces (`"lis3dh"`).
    fn kind(&self) -> &'static str;

    /// 7-bit bus address.
    fn address(&self) -> u8;

    /// The target was addressed after a START or repeated START, for a read
    /// (it will be asked for bytes) or a write (it will be given bytes).
    fn start(&mut self, read: bool);

    /// A byte the master wrote. Returns true to ACK it.
    fn write(&mut self, byte: u8) -> bool;

    /// The next byte to send to the master. Called only when the master
    /// wants it: for the first byte of a read, and after each byte the
    /// master ACKed.
    fn read(&mut self) -> u8;

    /// A STOP ended a transfer that addressed this target.
    fn stop(&mut self);

    /// Virtual time has advanced to `now` (never smaller than before).
    fn advance(&mut self, _now: Ticks) {}

    /// Return to the power-on state.
    fn reset(&mut self) {}

    /// Feed a sensor channel, as [`Device::set_sensor`].
    fn set_sensor(&mut self, _channel: &str, _source: SensorSource) -> bool {
        false
    }

    /// Names of the target's sensor channels.
    fn sensor_channels(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// Where the controller is in the current transfer.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No transfer, or one nobody takes part in (a NACK): only a START
    /// matters.
    Idle,
    /// Shifting in the address byte after a START.
    Address { shift: u8, bits: u8 },
    /// Shifting in a data byte for the addressed target.
    Write { shift: u8, bits: u8 },
    /// The ninth clock of a byte the target ACKed; then a read or a write.
    TargetAck { then_read: bool },
    /// The target drives bit `7 - bit` of `byte`.
    Read { byte: u8, bit: u8 },
    /// The ninth clock of a byte the target sent: the master ACKs or NACKs.
    MasterAck { acked: bool },
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct SbconI2c {
    /// The master's outputs (SCL b0, SDA b1; 1 = released).
    out: u32,
    /// The addressed target is pulling SDA low.
    target_low: bool,
    phase: Phase,
    #[serde(skip)]
    targets: Vec<Box<dyn I2cTarget>>,
    /// The target addressed by the current transfer.
    active: Option<usize>,
    /// Targets addressed since the last STOP, which will be told of it.
    addressed: Vec<bool>,
    now: Ticks,
}

impl Default for SbconI2c {
    fn default() -> Self {
        Self::new()
    }
}

impl SbconI2c {
    /// A controller with an empty bus, both lines released.
    pub fn new() -> Self {
        SbconI2c {
            out: LINES,
            target_low: false,
            phase: Phase::Idle,
            targets: Vec::new(),
            active: None,
            addressed: Vec::new(),
            now: 0,
        }
    }

    /// Connect a target to the bus. When two share an address, the first
    /// attached answers.
    pub fn attach(&mut self, mut target: Box<dyn I2cTarget>) {
        target.advance(self.now);
        self.targets.push(target);
        self.addressed.push(false);
    }

    /// The levels on the bus, as CONTROL reads them.
    pub fn lines(&self) -> u32 {
        let sda = if self.target_low { 0 } else { self.out & SDA };
        (self.out & SCL) | sda
    }

    fn scl_high(&self) -> bool {
        self.out & SCL != 0
    }

    fn sda_high(&self) -> bool {
        self.lines() & SDA != 0
    }

    fn catch_up(&mut self, now: Ticks) {
        self.now = self.now.max(now);
        for t in &mut self.targets {
            t.advance(self.now);
        }
    }

    /// Drive the master's outputs to `new`, one line at a time, in the order
    /// that never turns a simultaneous change into a START or STOP.
    fn drive(&mut self, new: u32) {
        let new = new & LINES;
        if self.out & SCL != 0 && new & SCL == 0 {
            self.set_scl(false);
            self.set_sda(new & SDA != 0);
        } else {
            self.set_sda(new & SDA != 0);
            self.set_scl(new & SCL != 0);
        }
    }

    fn set_sda(&mut self, high: bool) {
        let before = self.sda_high();
        if high {
            self.out |= SDA;
        } else {
            self.out &= !SDA;
        }
        let after = self.sda_high();
        if self.scl_high() && before != after {
            if after {
                self.bus_stop();
            } else {
                self.bus_start();
            }
        }
    }

    fn set_scl(&mut self, high: bool) {
        let was = self.scl_high();
        if high {
            self.out |= SCL;
        } else {
            self.out &= !SCL;
        }
        match (was, high) {
            (false, true) => self.rising_edge(),
            (true, false) => self.falling_edge(),
            _ => {}
        }
    }

    fn bus_start(&mut self) {
        self.target_low = false;
        self.active = None;
        self.phase = Phase::Address { shift: 0, bits: 0 };
    }

    fn bus_stop(&mut self) {
        self.target_low = false;
        self.active = None;
        self.phase = Phase::Idle;
        for (t, was) in self.targets.iter_mut().zip(self.addressed.iter_mut()) {
            if *was {
                t.stop();
                *was = false;
            }
        }
    }

    fn rising_edge(&mut self) {
        let bit = self.sda_high() as u8;
        match &mut self.phase {
            Phase::Address { shift, bits } | Phase::Write { shift, bits } if *bits < 8 => {
                *shift = (*shift << 1) | bit;
                *bits += 1;
            }
            Phase::MasterAck { acked } => *acked = bit == 0,
            _ => {}
        }
    }

    fn falling_edge(&mut self) {
        match self.phase {
            Phase::Address { shift, bits: 8 } => {
                let read = shift & 1 != 0;
                let addr = shift >> 1;
                match self.targets.iter().position(|t| t.address() == addr) {
                    Some(i) => {
                        self.active = Some(i);
                        self.addressed[i] = true;
                        self.targets[i].start(read);
                        self.target_low = true;
                        self.phase = Phase::TargetAck { then_read: read };
                    }
                    None => self.phase = Phase::Idle,
                }
            }
            Phase::Write { shift, bits: 8 } => {
                let ack = match self.active {
                    Some(i) => self.targets[i].write(shift),
                    None => false,
                };
                if ack {
                    self.target_low = true;
                    self.phase = Phase::TargetAck { then_read: false };
                } else {
                    self.phase = Phase::Idle;
                }
            }
            Phase::TargetAck { then_read } => {
                self.target_low = false;
                if then_read {
                    self.next_read_byte();
                } else {
                    self.phase = Phase::Write { shift: 0, bits: 0 };
                }
            }
            Phase::Read { byte, bit } => {
                if bit < 7 {
                    let bit = bit + 1;
                    self.target_low = (byte << bit) & 0x80 == 0;
                    self.phase = Phase::Read { byte, bit };
                } else {
                    self.target_low = false;
                    self.phase = Phase::MasterAck { acked: false };
                }
            }
            Phase::MasterAck { acked } => {
                if acked {
                    self.next_read_byte();
                } else {
                    self.phase = Phase::Idle;
                }
            }
            _ => {}
        }
    }

    /// Fetch the next byte from the addressed target and drive its MSB.
    fn next_read_byte(&mut self) {
        let Some(i) = self.active else {
            self.phase = Phase::Idle;
            return;
        };
        let byte = self.targets[i].read();
        self.target_low = byte & 0x80 == 0;
        self.phase = Phase::Read { byte, bit: 0 };
    }
}

impl Device for SbconI2c {
    /// The bus state, then each attached chip's own.
    fn save_state(&self) -> Option<Vec<u8>> {
        let chips: Option<Vec<Vec<u8>>> = self.targets.iter().map(|t| t.save_state()).collect();
        postcard::to_allocvec(&(postcard::to_allocvec(self).ok()?, chips?)).ok()
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        let bad = |e: postcard::Error| format!("sbcon-i2c: bad saved state: {e}");
        let (bus, chips): (Vec<u8>, Vec<Vec<u8>>) = postcard::from_bytes(state).map_err(bad)?;
        if chips.len() != self.targets.len() {
            return Err("sbcon-i2c: saved state has another set of chips".into());
        }
        let targets = std::mem::take(&mut self.targets);
        *self = postcard::from_bytes(&bus).map_err(bad)?;
        self.targets = targets;
        for (t, c) in self.targets.iter_mut().zip(&chips) {
            t.restore_state(c)?;
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "sbcon-i2c"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        self.catch_up(now);
        let value = match offset {
            CONTROL => self.lines(),
            _ => 0xffff_ffff,
        };
        zero_extend(value, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        self.catch_up(now);
        let value = zero_extend(value, size);
        match offset {
            CONTROLS => self.drive(self.out | value),
            CONTROLC => self.drive(self.out & !value),
            _ => {}
        }
    }

    /// Releases both lines, abandons any transfer and resets the targets.
    fn reset(&mut self) {
        self.out = LINES;
        self.target_low = false;
        self.phase = Phase::Idle;
        self.active = None;
        self.addressed.iter_mut().for_each(|a| *a = false);
        for t in &mut self.targets {
            t.reset();
        }
    }

    fn advance(&mut self, now: Ticks) {
        self.catch_up(now);
    }

    fn set_sensor(&mut self, channel: &str, source: SensorSource) -> bool {
        let mut taken = false;
        for t in &mut self.targets {
            taken |= t.set_sensor(channel, source.clone());
        }
        taken
    }

    fn sensor_channels(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for t in &self.targets {
            for name in t.sensor_channels() {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }
}

/// A bit-banging master for tests: drives an [`SbconI2c`] through its
/// registers the way Linux's `i2c-algo-bit` and Zephyr's `i2c_bitbang` do.
#[cfg(test)]
pub(crate) struct BitBang {
    pub dev: SbconI2c,
    /// Time of the next register access.
    pub now: Ticks,
    /// Ticks between register accesses.
    pub step: Ticks,
}

#[cfg(test)]
impl BitBang {
    pub fn new(dev: SbconI2c) -> Self {
        BitBang {
            dev,
            now: 0,
            step: 10,
        }
    }

    fn tick(&mut self) -> Ticks {
        let t = self.now;
        self.now += self.step;
        t
    }

    pub fn set(&mut self, lines: u32) {
        let t = self.tick();
        self.dev.write(CONTROLS, 4, lines, t);
    }

    pub fn clear(&mut self, lines: u32) {
        let t = self.tick();
        self.dev.write(CONTROLC, 4, lines, t);
    }

    pub fn sda(&mut self) -> bool {
        let t = self.tick();
        self.dev.read(CONTROL, 4, t) & SDA != 0
    }

    fn sda_to(&mut self, high: bool) {
        if high {
            self.set(SDA);
        } else {
            self.clear(SDA);
        }
    }

    /// START, or repeated START from the middle of a transfer (SCL low).
    pub fn start(&mut self) {
        self.set(SDA);
        self.set(SCL);
        self.clear(SDA);
        self.clear(SCL);
    }

    pub fn stop(&mut self) {
        self.clear(SDA);
        self.set(SCL);
        self.set(SDA);
    }

    /// Send a byte; returns true when the target ACKed it. The ACK is read
    /// both before and after SCL rises, as Zephyr and Linux read it.
    pub fn write_byte(&mut self, byte: u8) -> bool {
        for i in (0..8).rev() {
            self.sda_to(byte >> i & 1 != 0);
            self.set(SCL);
            self.clear(SCL);
        }
        self.set(SDA);
        let low = !self.sda();
        self.set(SCL);
        let high = !self.sda();
        assert_eq!(low, high, "ACK changed while SCL rose");
        self.clear(SCL);
        high
    }

    /// Receive a byte and ACK it (`ack`) or NACK it. Each bit is read
    /// while SCL is low and again while it is high; they must agree.
    pub fn read_byte(&mut self, ack: bool) -> u8 {
        self.set(SDA);
        let mut byte = 0u8;
        for _ in 0..8 {
            let low = self.sda();
            self.set(SCL);
            let high = self.sda();
            assert_eq!(low, high, "data bit changed while SCL rose");
            self.clear(SCL);
            byte = (byte << 1) | high as u8;
        }
        self.sda_to(!ack);
        self.set(SCL);
        self.clear(SCL);
        self.set(SDA);
        byte
    }

    /// Write `data` to register `reg` of the target at `addr`.
    pub fn write_regs(&mut self, addr: u8, reg: u8, data: &[u8]) -> bool {
        self.start();
        let mut ok = self.write_byte(addr << 1) && self.write_byte(reg);
        for &b in data {
            ok = ok && self.write_byte(b);
        }
        self.stop();
        ok
    }

    /// Read `n` bytes from register `reg` of the target at `addr`:
    /// sub-address write, repeated START, read. None on a NACK.
    pub fn read_regs(&mut self, addr: u8, reg: u8, n: usize) -> Option<Vec<u8>> {
        self.start();
        if !(self.write_byte(addr << 1) && self.write_byte(reg)) {
            self.stop();
            return None;
        }
        self.start();
        if !self.write_byte(addr << 1 | 1) {
            self.stop();
            return None;
        }
        let out = (0..n).map(|i| self.read_byte(i + 1 < n)).collect();
        self.stop();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A small register file at `addr`: first written byte sets the
    /// pointer, later ones store and advance; reads return and advance.
    /// Refuses (NACKs) writes of 0xEE. Logs its calls.
    struct Regs {
        addr: u8,
        mem: [u8; 16],
        ptr: usize,
        fresh: bool,
        log: Arc<Mutex<Vec<String>>>,
        now: Ticks,
    }

    impl I2cTarget for Regs {
        fn kind(&self) -> &'static str {
            "regs"
        }
        fn address(&self) -> u8 {
            self.addr
        }
        fn start(&mut self, read: bool) {
            self.fresh = !read;
            self.log.lock().unwrap().push(format!("start {read}"));
        }
        fn write(&mut self, byte: u8) -> bool {
            self.log.lock().unwrap().push(format!("write {byte:02x}"));
            if byte == 0xee {
                return false;
            }
            if self.fresh {
                self.ptr = byte as usize & 15;
                self.fresh = false;
            } else {
                self.mem[self.ptr] = byte;
                self.ptr = (self.ptr + 1) & 15;
            }
            true
        }
        fn read(&mut self) -> u8 {
            let v = self.mem[self.ptr];
            self.log.lock().unwrap().push(format!("read {v:02x}"));
            self.ptr = (self.ptr + 1) & 15;
            v
        }
        fn stop(&mut self) {
            self.log.lock().unwrap().push("stop".into());
        }
        fn advance(&mut self, now: Ticks) {
            assert!(now >= self.now);
            self.now = now;
        }
        fn set_sensor(&mut self, channel: &str, _source: SensorSource) -> bool {
            channel == "accel"
        }
        fn sensor_channels(&self) -> Vec<&'static str> {
            vec!["accel"]
        }
    }

    fn bus_with_regs(addr: u8) -> (BitBang, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut dev = SbconI2c::new();
        let mut mem = [0u8; 16];
        for (i, m) in mem.iter_mut().enumerate() {
            *m = 0xa0 + i as u8;
        }
        dev.attach(Box::new(Regs {
            addr,
            mem,
            ptr: 0,
            fresh: false,
            log: log.clone(),
            now: 0,
        }));
        (BitBang::new(dev), log)
    }

    #[test]
    fn lines_read_back_and_reset_released() {
        let mut d = SbconI2c::new();
        assert_eq!(d.read(CONTROL, 4, 0), SCL | SDA);
        d.write(CONTROLC, 4, SCL, 1);
        assert_eq!(d.read(CONTROL, 4, 2), SDA);
        d.write(CONTROLC, 4, 0xffff_ffff, 3);
        assert_eq!(d.read(CONTROL, 4, 4), 0);
        d.write(CONTROLS, 4, SDA | 0xf0, 5);
        assert_eq!(d.read(CONTROL, 4, 6), SDA);
        // Unknown offsets, and the write-only CONTROLC, as QEMU reads them.
        assert_eq!(d.read(CONTROLC, 4, 7), 0xffff_ffff);
        assert_eq!(d.read(0x08, 1, 7), 0xff);
        d.write(0x08, 4, 3, 8);
        assert_eq!(d.read(CONTROL, 4, 9), SDA);
        d.reset();
        assert_eq!(d.read(CONTROL, 4, 10), SCL | SDA);
        assert_eq!(d.window(), 0x1000);
    }

    #[test]
    fn address_ack_and_nack() {
        let (mut m, log) = bus_with_regs(0x18);
        m.start();
        assert!(m.write_byte(0x18 << 1));
        m.stop();
        m.start();
        assert!(!m.write_byte(0x19 << 1), "nobody at 0x19");
        // After a NACK the bus ignores the rest until a START.
        assert!(!m.write_byte(0x00));
        m.stop();
        assert_eq!(*log.lock().unwrap(), ["start false", "stop"]);
        // Nothing attached at all.
        let mut empty = BitBang::new(SbconI2c::new());
        empty.start();
        assert!(!empty.write_byte(0x18 << 1 | 1));
        empty.stop();
        assert_eq!(empty.dev.read(CONTROL, 4, empty.now), SCL | SDA);
    }

    #[test]
    fn write_then_read_with_repeated_start() {
        let (mut m, log) = bus_with_regs(0x50);
        assert!(m.write_regs(0x50, 3, &[0x11, 0x22]));
        assert_eq!(m.read_regs(0x50, 2, 4), Some(vec![0xa2, 0x11, 0x22, 0xa5]));
        let log = log.lock().unwrap();
        assert_eq!(
            *log,
            [
                "start false",
                "write 03",
                "write 11",
                "write 22",
                "stop",
                "start false",
                "write 02",
                "start true",
                "read a2",
                "read 11",
                "read 22",
                "read a5",
                "stop",
            ]
        );
    }

    #[test]
    fn read_without_register_and_data_nack() {
        let (mut m, log) = bus_with_regs(0x50);
        // A plain read continues from the target's pointer (0 at start).
        m.start();
        assert!(m.write_byte(0x50 << 1 | 1));
        assert_eq!(m.read_byte(true), 0xa0);
        assert_eq!(m.read_byte(false), 0xa1);
        m.stop();
        // A refused data byte is NACKed.
        m.start();
        assert!(m.write_byte(0x50 << 1));
        assert!(!m.write_byte(0xee));
        m.stop();
        let log = log.lock().unwrap();
        assert_eq!(log[..4], ["start true", "read a0", "read a1", "stop"]);
        assert_eq!(log[4..], ["start false", "write ee", "stop"]);
    }

    #[test]
    fn target_holds_sda_during_ack_only() {
        let (mut m, _) = bus_with_regs(0x18);
        m.start();
        for i in (0..8).rev() {
            let bit = (0x30u8 >> i) & 1 != 0;
            if bit {
                m.set(SDA);
            } else {
                m.clear(SDA);
            }
            m.set(SCL);
            m.clear(SCL);
        }
        // Master released SDA; the target pulls it low for the ACK clock.
        m.set(SDA);
        assert!(!m.sda());
        m.set(SCL);
        assert!(!m.sda());
        m.clear(SCL);
        assert!(m.sda(), "released after the ACK clock");
        // The master can still STOP.
        m.stop();
        assert_eq!(m.dev.lines(), SCL | SDA);
    }

    #[test]
    fn simultaneous_change_is_not_a_condition() {
        let (mut m, log) = bus_with_regs(0x18);
        // Both lines low, then both released in one write: SDA rises while
        // SCL is still low, so no STOP; then START works normally.
        m.clear(SCL | SDA);
        m.set(SCL | SDA);
        assert!(log.lock().unwrap().is_empty());
        m.start();
        assert!(m.write_byte(0x18 << 1 | 1));
        assert_eq!(m.read_byte(false), 0xa0);
        m.stop();
        assert_eq!(*log.lock().unwrap(), ["start true", "read a0", "stop"]);
    }

    #[test]
    fn time_and_sensors_reach_targets() {
        let (mut m, _) = bus_with_regs(0x18);
        m.dev.advance(1000);
        m.now = 2000;
        m.start();
        assert!(m.dev.set_sensor("accel", SensorSource::Constant([0.0; 3])));
        assert!(!m.dev.set_sensor("light", SensorSource::Constant([0.0; 3])));
        assert_eq!(m.dev.sensor_channels(), ["accel"]);
        // A stale time does not go backwards (Regs asserts it).
        m.dev.advance(5);
        m.dev.read(CONTROL, 4, 7);
    }
}
