//! ST LIS3DH three-axis accelerometer, as an I2C target (see
//! [`crate::sbcon_i2c`]).
//!
//! Reference: ST datasheet DocID17530 (LIS3DH) register map, sensitivity
//! table and output-data-rate table; cross-checked against the drivers that
//! must work unchanged: Zephyr `lis2dh` (compatible `st,lis3dh`), Linux
//! `st_accel` (`st,lis3dh-accel`) and ST's own `lis3dh_reg` driver.
//!
//! Bus protocol: the 7-bit address is 0x18 with SA0 low, 0x19 with SA0
//! high. The first byte the master writes after the address is the
//! sub-address: bits 6:0 select a register and bit 7 asks for
//! auto-increment, so further bytes written or read go to the following
//! registers; without it they all go to the same one. A read continues
//! from the sub-address last written (the usual pattern is write
//! sub-address, repeated START, read). Every byte is ACKed.
//!
//! | addr | name | access | model |
//! | --- | --- | --- | --- |
//! | 0x07 | STATUS_REG_AUX | R | 321OR 3OR 2OR 1OR 321DA 3DA 2DA 1DA: set at each sample while TEMP_CFG.ADC_EN |
//! | 0x08..0x0D | OUT_ADC1_L..OUT_ADC3_H | R | auxiliary ADC: always 0 (inputs at mid-scale, temperature at the 25 C reference); reading an `_H` clears its DA/OR bits |
//! | 0x0F | WHO_AM_I | R | 0x33 |
//! | 0x1E | CTRL_REG0 | RW | SDO_PU_DISC b7, reset 0x10; stored |
//! | 0x1F | TEMP_CFG_REG | RW | ADC_EN b7, TEMP_EN b6 |
//! | 0x20 | CTRL_REG1 | RW | ODR b7:4, LPen b3, Zen Yen Xen b2:0; reset 0x07 |
//! | 0x21 | CTRL_REG2 | RW | high-pass filter: stored, no filtering |
//! | 0x22 | CTRL_REG3 | RW | INT1 routing: stored (no interrupt pins wired) |
//! | 0x23 | CTRL_REG4 | RW | BDU b7, BLE b6, FS b5:4, HR b3, ST b2:1, SIM b0 |
//! | 0x24 | CTRL_REG5 | RW | BOOT b7 (self-clearing), FIFO_EN b6, LIR/D4D b3:0 |
//! | 0x25 | CTRL_REG6 | RW | INT2 routing, polarity: stored |
//! | 0x26 | REFERENCE | RW | stored |
//! | 0x27 | STATUS_REG | R | ZYXOR ZOR YOR XOR ZYXDA ZDA YDA XDA |
//! | 0x28..0x2D | OUT_X_L..OUT_Z_H | R | acceleration, 16-bit two's complement, left-justified |
//! | 0x2E | FIFO_CTRL_REG | RW | stored; the FIFO always behaves as in bypass mode |
//! | 0x2F | FIFO_SRC_REG | R | 0x20: EMPTY, no samples |
//! | 0x30, 0x32, 0x33 | INT1_CFG, INT1_THS, INT1_DURATION | RW | stored |
//! | 0x31 | INT1_SRC | R | 0: no event |
//! | 0x34, 0x36, 0x37 | INT2_CFG, INT2_THS, INT2_DURATION | RW | stored |
//! | 0x35 | INT2_SRC | R | 0 |
//! | 0x38, 0x3A..0x3F | CLICK_CFG, CLICK_THS, TIME_LIMIT, TIME_LATENCY, TIME_WINDOW, ACT_THS, ACT_DUR | RW | stored |
//! | 0x39 | CLICK_SRC | R | 0 |
//!
//! Other addresses are reserved: they read 0 and ignore writes.
//!
//! Data: with a non-zero ODR the chip takes a sample every 1/ODR of
//! virtual time, the first one period after the rate was set: 1, 10,
//! 25, 50, 100, 200, 400 Hz; code 8 is 1.620 kHz (a low-power-mode rate);
//! code 9 is 1.344 kHz, or 5.376 kHz in low-power mode. The sample is the
//! `"accel"` sensor channel (m/s^2, default at rest face up: 0, 0,
//! 9.80665) at the sample's time, converted to g and quantised at the
//! resolution of the operating mode:
//!
//! | mode | LPen | HR | bits | +-2 g | +-4 g | +-8 g | +-16 g (mg/digit) |
//! | --- | --- | --- | --- | --- | --- | --- | --- |
//! | low-power | 1 | 0 | 8 | 16 | 32 | 64 | 192 |
//! | normal | 0 | 0 | 10 | 4 | 8 | 16 | 48 |
//! | high-resolution | 0 | 1 | 12 | 1 | 2 | 4 | 12 |
//!
//! The count saturates at the ends of its range (so at +-16 g the codes go
//! a little beyond 16 g, as on the chip), and is left-justified in 16 bits
//! (1 g at +-2 g high-resolution reads 1000 << 4 = 0x3E80). LPen and HR
//! both set, which the datasheet forbids, is taken as low-power. Each
//! sample sets the DA bit of every enabled axis and ZYXDA; a sample that
//! finds a DA bit still set, or two samples with no read between them, set
//! the overrun bits. Reading an axis' `_H` register clears its DA and OR
//! bits, and ZYXDA/ZYXOR clear once all three are clear. With BDU set, the
//! two bytes of an axis are read as one sample: reading the `_L` register
//! holds that axis' output until its `_H` register has been read. BLE swaps
//! the two bytes. Disabled axes keep their last value; power-down keeps
//! all of them. The self-test, high-pass filter, FIFO and interrupt
//! generators are not modelled, and no interrupt line leaves the chip.
//!
//! BOOT (CTRL_REG5 b7) reads 1 for 5 ms after it is written (the boot
//! sequence reloads trimming values only; user registers are kept).

use crate::sbcon_i2c::I2cTarget;
use crate::{SensorSource, Ticks};

/// Address with SA0 low.
pub const ADDRESS_SA0_LOW: u8 = 0x18;
/// Address with SA0 high.
pub const ADDRESS_SA0_HIGH: u8 = 0x19;

pub const STATUS_REG_AUX: u8 = 0x07;
pub const OUT_ADC1_L: u8 = 0x08;
pub const OUT_ADC3_H: u8 = 0x0d;
pub const WHO_AM_I: u8 = 0x0f;
pub const CTRL_REG0: u8 = 0x1e;
pub const TEMP_CFG_REG: u8 = 0x1f;
pub const CTRL_REG1: u8 = 0x20;
pub const CTRL_REG2: u8 = 0x21;
pub const CTRL_REG3: u8 = 0x22;
pub const CTRL_REG4: u8 = 0x23;
pub const CTRL_REG5: u8 = 0x24;
pub const CTRL_REG6: u8 = 0x25;
pub const REFERENCE: u8 = 0x26;
pub const STATUS_REG: u8 = 0x27;
pub const OUT_X_L: u8 = 0x28;
pub const OUT_X_H: u8 = 0x29;
pub const OUT_Y_L: u8 = 0x2a;
pub const OUT_Y_H: u8 = 0x2b;
pub const OUT_Z_L: u8 = 0x2c;
pub const OUT_Z_H: u8 = 0x2d;
pub const FIFO_CTRL_REG: u8 = 0x2e;
pub const FIFO_SRC_REG: u8 = 0x2f;
pub const INT1_CFG: u8 = 0x30;
pub const INT1_SRC: u8 = 0x31;
pub const INT1_THS: u8 = 0x32;
pub const INT1_DURATION: u8 = 0x33;
pub const INT2_CFG: u8 = 0x34;
pub const INT2_SRC: u8 = 0x35;
pub const INT2_THS: u8 = 0x36;
pub const INT2_DURATION: u8 = 0x37;
pub const CLICK_CFG: u8 = 0x38;
pub const CLICK_SRC: u8 = 0x39;
pub const CLICK_THS: u8 = 0x3a;
pub const TIME_LIMIT: u8 = 0x3b;
pub const TIME_LATENCY: u8 = 0x3c;
pub const TIME_WINDOW: u8 = 0x3d;
pub const ACT_THS: u8 = 0x3e;
pub const ACT_DUR: u8 = 0x3f;

/// Sub-address bit 7: increment the register address after each byte.
pub const AUTO_INCREMENT: u8 = 0x80;

/// WHO_AM_I value.
pub const DEVICE_ID: u8 = 0x33;

// CTRL_REG1
pub const CTRL1_ODR_SHIFT: u8 = 4;
pub const CTRL1_LPEN: u8 = 1 << 3;
pub const CTRL1_ZEN: u8 = 1 << 2;
pub const CTRL1_YEN: u8 = 1 << 1;
pub const CTRL1_XEN: u8 = 1 << 0;
// CTRL_REG4
pub const CTRL4_BDU: u8 = 1 << 7;
pub const CTRL4_BLE: u8 = 1 << 6;
pub const CTRL4_FS_SHIFT: u8 = 4;
pub const CTRL4_HR: u8 = 1 << 3;
// CTRL_REG5
pub const CTRL5_BOOT: u8 = 1 << 7;
// TEMP_CFG_REG
pub const TEMP_CFG_ADC_EN: u8 = 1 << 7;
pub const TEMP_CFG_TEMP_EN: u8 = 1 << 6;
// STATUS_REG (STATUS_REG_AUX has the same layout for ADC channels 1..3)
pub const STATUS_XDA: u8 = 1 << 0;
pub const STATUS_YDA: u8 = 1 << 1;
pub const STATUS_ZDA: u8 = 1 << 2;
pub const STATUS_ZYXDA: u8 = 1 << 3;
pub const STATUS_XOR: u8 = 1 << 4;
pub const STATUS_YOR: u8 = 1 << 5;
pub const STATUS_ZOR: u8 = 1 << 6;
pub const STATUS_ZYXOR: u8 = 1 << 7;
// FIFO_SRC_REG
pub const FIFO_SRC_EMPTY: u8 = 1 << 5;

const CTRL_REG0_RESET: u8 = 0x10;
const CTRL_REG1_RESET: u8 = 0x07;

/// Standard gravity, m/s^2 per g.
const STANDARD_GRAVITY: f64 = 9.80665;

/// High-resolution sensitivity in mg/digit for FS = 0..3; normal mode is
/// 4 times coarser, low-power mode 16 times.
const HR_MG_PER_DIGIT: [f64; 4] = [1.0, 2.0, 4.0, 12.0];

/// How long BOOT reads 1 after it is written, in seconds.
const BOOT_SECONDS: f64 = 0.005;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Lis3dh {
    clock_hz: u64,
    address: u8,
    /// Storage of the read/write registers, by address.
    #[serde(with = "crate::big_array")]
    regs: [u8; 0x40],
    accel: SensorSource,
    now: Ticks,
    /// Register pointer and its auto-increment flag.
    ptr: u8,
    auto_inc: bool,
    /// The next written byte is a sub-address.
    want_sub: bool,
    /// Time the current ODR was set; samples are counted from it.
    epoch: Ticks,
    /// Samples taken since `epoch`.
    samples: u64,
    /// The newest sample, and what the output registers show (they differ
    /// while BDU holds an axis).
    latest: [i16; 3],
    out: [i16; 3],
    held: [bool; 3],
    status: u8,
    status_aux: u8,
    boot_until: Option<Ticks>,
}

impl Lis3dh {
    /// A chip at 7-bit `address` (0x18 or 0x19) in a machine clocked at
    /// `clock_hz`, in its power-on state, at rest face up.
    pub fn new(clock_hz: u64, address: u8) -> Self {
        let mut c = Lis3dh {
            clock_hz: clock_hz.max(1),
            address: address & 0x7f,
            regs: [0; 0x40],
            accel: SensorSource::Constant([0.0, 0.0, STANDARD_GRAVITY]),
            now: 0,
            ptr: 0,
            auto_inc: false,
            want_sub: false,
            epoch: 0,
            samples: 0,
            latest: [0; 3],
            out: [0; 3],
            held: [false; 3],
            status: 0,
            status_aux: 0,
            boot_until: None,
        };
        c.power_on();
        c
    }

    fn power_on(&mut self) {
        self.regs = [0; 0x40];
        self.regs[CTRL_REG0 as usize] = CTRL_REG0_RESET;
        self.regs[CTRL_REG1 as usize] = CTRL_REG1_RESET;
        self.ptr = 0;
        self.auto_inc = false;
        self.want_sub = false;
        self.epoch = self.now;
        self.samples = 0;
        self.latest = [0; 3];
        self.out = [0; 3];
        self.held = [false; 3];
        self.status = 0;
        self.status_aux = 0;
        self.boot_until = None;
    }

    fn reg(&self, addr: u8) -> u8 {
        self.regs[addr as usize]
    }

    /// Output data rate in Hz, None in power-down.
    fn odr_hz(&self) -> Option<u64> {
        let ctrl1 = self.reg(CTRL_REG1);
        let low_power = ctrl1 & CTRL1_LPEN != 0;
        Some(match ctrl1 >> CTRL1_ODR_SHIFT {
            0 => return None,
            1 => 1,
            2 => 10,
            3 => 25,
            4 => 50,
            5 => 100,
            6 => 200,
            7 => 400,
            8 => 1620,
            9 if low_power => 5376,
            9 => 1344,
            // Codes 10..15 are not allowed; run at the fastest rate.
            _ if low_power => 5376,
            _ => 1344,
        })
    }

    /// (resolution in bits, mg per count) in the current mode and range.
    fn resolution(&self) -> (u32, f64) {
        let fs = ((self.reg(CTRL_REG4) >> CTRL4_FS_SHIFT) & 3) as usize;
        let hr = HR_MG_PER_DIGIT[fs];
        if self.reg(CTRL_REG1) & CTRL1_LPEN != 0 {
            (8, hr * 16.0)
        } else if self.reg(CTRL_REG4) & CTRL4_HR != 0 {
            (12, hr)
        } else {
            (10, hr * 4.0)
        }
    }

    /// The left-justified output code for `ms2` m/s^2.
    fn code(&self, ms2: f64) -> i16 {
        let (bits, mg_per_count) = self.resolution();
        let max = (1i32 << (bits - 1)) - 1;
        let counts = (ms2 / STANDARD_GRAVITY * 1000.0 / mg_per_count).round();
        let counts = if counts.is_nan() {
            0
        } else {
            counts.clamp(-(max as f64) - 1.0, max as f64) as i32
        };
        (counts << (16 - bits)) as i16
    }

    /// Take the samples due by `self.now`. Only the newest matters for the
    /// outputs; how many there were decides the overrun bits.
    fn catch_up(&mut self) {
        let Some(odr) = self.odr_hz() else {
            return;
        };
        let elapsed = (self.now - self.epoch) as u128;
        // Sample k (k >= 1) falls at epoch + floor(k * clock_hz / odr).
        let due = (((elapsed + 1) * odr as u128 - 1) / self.clock_hz as u128) as u64;
        let new = due.saturating_sub(self.samples);
        if new == 0 {
            return;
        }
        self.samples = due;
        let at = self.epoch as u128 + due as u128 * self.clock_hz as u128 / odr as u128;
        let t = at as f64 / self.clock_hz as f64;
        let value = self.accel.value_at(t);

        let enabled = self.reg(CTRL_REG1) & (CTRL1_XEN | CTRL1_YEN | CTRL1_ZEN);
        let bdu = self.reg(CTRL_REG4) & CTRL4_BDU != 0;
        if enabled != 0 {
            let overrun = if new > 1 {
                enabled
            } else {
                self.status & enabled
            };
            if overrun != 0 {
                self.status |= (overrun << 4) | STATUS_ZYXOR;
            }
            self.status |= enabled | STATUS_ZYXDA;
        }
        for (axis, &ms2) in value.iter().enumerate() {
            if enabled & (1 << axis) == 0 {
                continue;
            }
            self.latest[axis] = self.code(ms2);
            if !(bdu && self.held[axis]) {
                self.out[axis] = self.latest[axis];
            }
        }
        if self.reg(TEMP_CFG_REG) & TEMP_CFG_ADC_EN != 0 {
            let overrun = if new > 1 { 7 } else { self.status_aux & 7 };
            if overrun != 0 {
                self.status_aux |= (overrun << 4) | STATUS_ZYXOR;
            }
            self.status_aux |= 7 | STATUS_ZYXDA;
        }
    }

    /// The data-available bit of channel `ch` (0..2) was consumed.
    fn consume(status: &mut u8, ch: u8) {
        *status &= !((1 << ch) | (1 << (ch + 4)));
        if *status & 7 == 0 {
            *status &= !(STATUS_ZYXDA | STATUS_ZYXOR);
        }
    }

    fn read_reg(&mut self, addr: u8) -> u8 {
        match addr {
            STATUS_REG_AUX => self.status_aux,
            OUT_ADC1_L..=OUT_ADC3_H => {
                if addr & 1 == 1 {
                    Self::consume(&mut self.status_aux, (addr - OUT_ADC1_L) / 2);
                }
                0
            }
            WHO_AM_I => DEVICE_ID,
            CTRL_REG5 => {
                let booting = self.boot_until.is_some_and(|t| self.now < t);
                self.reg(CTRL_REG5) | if booting { CTRL5_BOOT } else { 0 }
            }
            STATUS_REG => self.status,
            OUT_X_L..=OUT_Z_H => {
                let axis = ((addr - OUT_X_L) / 2) as usize;
                let high_addr = addr & 1 == 1;
                let ctrl4 = self.reg(CTRL_REG4);
                let [lsb, msb] = self.out[axis].to_le_bytes();
                let value = if high_addr == (ctrl4 & CTRL4_BLE == 0) {
                    msb
                } else {
                    lsb
                };
                if high_addr {
                    Self::consume(&mut self.status, axis as u8);
                    self.held[axis] = false;
                    self.out[axis] = self.latest[axis];
                } else if ctrl4 & CTRL4_BDU != 0 {
                    self.held[axis] = true;
                }
                value
            }
            FIFO_SRC_REG => FIFO_SRC_EMPTY,
            CTRL_REG0 | TEMP_CFG_REG | CTRL_REG1..=REFERENCE | FIFO_CTRL_REG => self.reg(addr),
            INT1_CFG | INT1_THS | INT1_DURATION | INT2_CFG | INT2_THS | INT2_DURATION => {
                self.reg(addr)
            }
            CLICK_CFG | CLICK_THS..=ACT_DUR => self.reg(addr),
            // INT1_SRC, INT2_SRC, CLICK_SRC: no event is ever detected.
            _ => 0,
        }
    }

    fn write_reg(&mut self, addr: u8, value: u8) {
        match addr {
            CTRL_REG1 => {
                let rate = self.odr_hz();
                self.regs[addr as usize] = value;
                if self.odr_hz() != rate {
                    self.epoch = self.now;
                    self.samples = 0;
                }
            }
            CTRL_REG4 => {
                self.regs[addr as usize] = value;
                if value & CTRL4_BDU == 0 {
                    self.held = [false; 3];
                    self.out = self.latest;
                }
            }
            CTRL_REG5 => {
                if value & CTRL5_BOOT != 0 {
                    let ticks = (BOOT_SECONDS * self.clock_hz as f64).ceil() as Ticks;
                    self.boot_until = Some(self.now + ticks);
                }
                self.regs[addr as usize] = value & !CTRL5_BOOT;
            }
            CTRL_REG0 | TEMP_CFG_REG | CTRL_REG2 | CTRL_REG3 | CTRL_REG6 | REFERENCE
            | FIFO_CTRL_REG => self.regs[addr as usize] = value,
            INT1_CFG | INT1_THS | INT1_DURATION | INT2_CFG | INT2_THS | INT2_DURATION => {
                self.regs[addr as usize] = value
            }
            CLICK_CFG | CLICK_THS..=ACT_DUR => self.regs[addr as usize] = value,
            // Read-only and reserved registers.
            _ => {}
        }
    }

    fn step_ptr(&mut self) {
        if self.auto_inc {
            self.ptr = (self.ptr + 1) & 0x7f;
        }
    }
}

impl I2cTarget for Lis3dh {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "lis3dh"
    }

    fn address(&self) -> u8 {
        self.address
    }

    fn start(&mut self, read: bool) {
        self.want_sub = !read;
    }

    fn write(&mut self, byte: u8) -> bool {
        if self.want_sub {
            self.want_sub = false;
            self.ptr = byte & 0x7f;
            self.auto_inc = byte & AUTO_INCREMENT != 0;
        } else {
            self.write_reg(self.ptr, byte);
            self.step_ptr();
        }
        true
    }

    fn read(&mut self) -> u8 {
        let value = self.read_reg(self.ptr);
        self.step_ptr();
        value
    }

    fn stop(&mut self) {
        self.want_sub = false;
    }

    fn advance(&mut self, now: Ticks) {
        if now > self.now {
            self.now = now;
            self.catch_up();
        }
    }

    /// Power-on state at the latest time seen.
    fn reset(&mut self) {
        self.power_on();
    }

    fn set_sensor(&mut self, channel: &str, source: SensorSource) -> bool {
        if channel == "accel" {
            self.accel = source;
            true
        } else {
            false
        }
    }

    fn sensor_channels(&self) -> Vec<&'static str> {
        vec!["accel"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbcon_i2c::{BitBang, SbconI2c};
    use crate::Device;

    const HZ: u64 = 25_000_000;
    const G: f64 = STANDARD_GRAVITY;

    fn bus() -> BitBang {
        let mut dev = SbconI2c::new();
        dev.attach(Box::new(Lis3dh::new(HZ, ADDRESS_SA0_LOW)));
        BitBang::new(dev)
    }

    /// Direct register access through the target interface, at `now`.
    fn wr(c: &mut Lis3dh, now: Ticks, reg: u8, data: &[u8]) {
        c.advance(now);
        c.start(false);
        assert!(c.write(reg | if data.len() > 1 { AUTO_INCREMENT } else { 0 }));
        for &b in data {
            assert!(c.write(b));
        }
        c.stop();
    }

    fn rd(c: &mut Lis3dh, now: Ticks, reg: u8, n: usize) -> Vec<u8> {
        c.advance(now);
        c.start(false);
        c.write(reg | if n > 1 { AUTO_INCREMENT } else { 0 });
        c.start(true);
        let v = (0..n).map(|_| c.read()).collect();
        c.stop();
        v
    }

    fn xyz(bytes: &[u8]) -> [i16; 3] {
        std::array::from_fn(|i| i16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]))
    }

    #[test]
    fn who_am_i_over_the_bus() {
        let mut m = bus();
        assert_eq!(m.read_regs(0x18, WHO_AM_I, 1), Some(vec![0x33]));
    }

    #[test]
    fn address_follows_sa0() {
        let mut m = bus();
        assert_eq!(m.read_regs(0x19, WHO_AM_I, 1), None, "NACK at 0x19");
        let mut dev = SbconI2c::new();
        dev.attach(Box::new(Lis3dh::new(HZ, ADDRESS_SA0_HIGH)));
        let mut m = BitBang::new(dev);
        assert_eq!(m.read_regs(0x19, WHO_AM_I, 1), Some(vec![DEVICE_ID]));
        assert_eq!(m.read_regs(0x18, WHO_AM_I, 1), None);
    }

    #[test]
    fn reset_values() {
        let mut c = Lis3dh::new(HZ, 0x18);
        assert_eq!(rd(&mut c, 0, CTRL_REG0, 1), [0x10]);
        assert_eq!(rd(&mut c, 0, CTRL_REG1, 7), [0x07, 0, 0, 0, 0, 0, 0]);
        assert_eq!(rd(&mut c, 0, STATUS_REG, 7), [0; 7]);
        assert_eq!(rd(&mut c, 0, FIFO_SRC_REG, 1), [FIFO_SRC_EMPTY]);
        assert_eq!(rd(&mut c, 0, 0x00, 1), [0]);
    }

    #[test]
    fn ctrl_reg1_write_read_back_over_the_bus() {
        let mut m = bus();
        assert!(m.write_regs(0x18, CTRL_REG1, &[0x57]));
        assert_eq!(m.read_regs(0x18, CTRL_REG1, 1), Some(vec![0x57]));
        // Multi-byte write with auto-increment (Zephyr resets CTRL1..6 so).
        assert!(m.write_regs(
            0x18,
            CTRL_REG1 | AUTO_INCREMENT,
            &[0x27, 1, 2, 0x88, 0x08, 2]
        ));
        assert_eq!(
            m.read_regs(0x18, CTRL_REG1 | AUTO_INCREMENT, 6),
            Some(vec![0x27, 1, 2, 0x88, 0x08, 2])
        );
        // Without auto-increment every byte goes to the same register.
        assert!(m.write_regs(0x18, REFERENCE, &[5, 6]));
        assert_eq!(m.read_regs(0x18, REFERENCE, 1), Some(vec![6]));
        assert_eq!(m.read_regs(0x18, CTRL_REG6, 1), Some(vec![2]));
        // Read-only registers ignore writes.
        assert!(m.write_regs(0x18, WHO_AM_I, &[0]));
        assert_eq!(m.read_regs(0x18, WHO_AM_I, 2), Some(vec![0x33, 0x33]));
    }

    #[test]
    fn one_g_at_2g_high_resolution_over_the_bus() {
        let mut m = bus();
        // 100 Hz, XYZ on; HR, +-2 g, BDU.
        assert!(m.write_regs(0x18, CTRL_REG1, &[0x57]));
        assert!(m.write_regs(0x18, CTRL_REG4, &[CTRL4_BDU | CTRL4_HR]));
        m.now += HZ / 100;
        let regs = m.read_regs(0x18, STATUS_REG | AUTO_INCREMENT, 7).unwrap();
        assert_eq!(regs[0] & STATUS_ZYXDA, STATUS_ZYXDA);
        // 1 g = 1000 mg at 1 mg/digit, 12 bits left-justified.
        assert_eq!(xyz(&regs[1..]), [0, 0, 1000 << 4]);
        assert_eq!(regs[5..], [0x80, 0x3e]);
        // Reading the data cleared the status.
        assert_eq!(m.read_regs(0x18, STATUS_REG, 1), Some(vec![0]));
    }

    #[test]
    fn ranges_and_modes() {
        let cases = [
            // (ctrl1, ctrl4, expected code for +1 g)
            (0x57, 0x08, 1000 << 4), // HR +-2 g: 1 mg/digit
            (0x57, 0x18, 500 << 4),  // HR +-4 g: 2 mg/digit
            (0x57, 0x28, 250 << 4),  // HR +-8 g: 4 mg/digit
            (0x57, 0x38, 83 << 4),   // HR +-16 g: 12 mg/digit
            (0x57, 0x00, 250 << 6),  // normal +-2 g: 4 mg/digit
            (0x57, 0x20, 63 << 6),   // normal +-8 g: 16 mg/digit (62.5)
            (0x5f, 0x00, 63 << 8),   // low-power +-2 g: 16 mg/digit
            (0x5f, 0x30, 5 << 8),    // low-power +-16 g: 192 mg/digit
            (0x5f, 0x08, 63 << 8),   // LPen and HR: low-power
        ];
        for (ctrl1, ctrl4, want) in cases {
            let mut c = Lis3dh::new(HZ, 0x18);
            wr(&mut c, 0, CTRL_REG1, &[ctrl1]);
            wr(&mut c, 0, CTRL_REG4, &[ctrl4]);
            let got = xyz(&rd(&mut c, HZ / 100, OUT_X_L, 6));
            assert_eq!(got, [0, 0, want], "ctrl1 {ctrl1:#x} ctrl4 {ctrl4:#x}");
        }
    }

    #[test]
    fn eight_g_range_over_the_bus_and_signs() {
        let mut m = bus();
        m.dev
            .set_sensor("accel", SensorSource::Constant([-G, 2.0 * G, 0.5 * G]));
        assert!(m.write_regs(0x18, CTRL_REG4, &[0x28])); // HR, +-8 g
        assert!(m.write_regs(0x18, CTRL_REG1, &[0x77])); // 400 Hz
        m.now += HZ / 400;
        let regs = m.read_regs(0x18, OUT_X_L | AUTO_INCREMENT, 6).unwrap();
        assert_eq!(xyz(&regs), [-250 << 4, 500 << 4, 125 << 4]);
    }

    #[test]
    fn saturation() {
        let mut c = Lis3dh::new(HZ, 0x18);
        c.set_sensor(
            "accel",
            SensorSource::Constant([3.0 * G, -3.0 * G, 40.0 * G]),
        );
        wr(&mut c, 0, CTRL_REG1, &[0x57]);
        wr(&mut c, 0, CTRL_REG4, &[0x08]); // HR +-2 g: 12-bit codes
        let got = xyz(&rd(&mut c, HZ / 100, OUT_X_L, 6));
        assert_eq!(got, [2047 << 4, -2048 << 4, 2047 << 4]);
        wr(&mut c, HZ / 100, CTRL_REG4, &[0x30]); // normal +-16 g
        let got = xyz(&rd(&mut c, 2 * HZ / 100, OUT_X_L, 6));
        // 3 g / 48 mg = 62.5 -> 63; 40 g saturates at 511.
        assert_eq!(got, [63 << 6, -63 << 6, 511 << 6]);
    }

    #[test]
    fn zyxda_follows_odr() {
        let mut c = Lis3dh::new(HZ, 0x18);
        let t0 = 1_000_000;
        wr(&mut c, t0, CTRL_REG1, &[0x57]); // 100 Hz: 250_000 ticks
        let period = HZ / 100;
        assert_eq!(rd(&mut c, t0 + period - 1, STATUS_REG, 1), [0]);
        assert_eq!(
            rd(&mut c, t0 + period, STATUS_REG, 1),
            [STATUS_ZYXDA | STATUS_XDA | STATUS_YDA | STATUS_ZDA]
        );
        // Reading the three high bytes consumes the set.
        rd(&mut c, t0 + period, OUT_X_L, 6);
        assert_eq!(rd(&mut c, t0 + period + 10, STATUS_REG, 1), [0]);
        assert_eq!(rd(&mut c, t0 + 2 * period - 1, STATUS_REG, 1), [0]);
        assert_eq!(rd(&mut c, t0 + 2 * period, STATUS_REG, 1), [0x0f]);
        // Not read before the next sample: overrun.
        assert_eq!(rd(&mut c, t0 + 3 * period, STATUS_REG, 1), [0xff]);
        rd(&mut c, t0 + 3 * period, OUT_X_L, 6);
        assert_eq!(rd(&mut c, t0 + 3 * period, STATUS_REG, 1), [0]);
        // Two samples with no read between them also overrun.
        assert_eq!(rd(&mut c, t0 + 5 * period, STATUS_REG, 1), [0xff]);
        // Only the Z axis enabled.
        wr(&mut c, t0 + 5 * period, CTRL_REG1, &[0x54]);
        rd(&mut c, t0 + 5 * period, OUT_X_L, 6);
        assert_eq!(rd(&mut c, t0 + 6 * period, STATUS_REG, 1), [0x0c]);
        // Power-down: no more samples.
        wr(&mut c, t0 + 6 * period, CTRL_REG1, &[0x07]);
        rd(&mut c, t0 + 6 * period, OUT_Z_H, 1);
        assert_eq!(rd(&mut c, t0 + 60 * period, STATUS_REG, 1), [0]);
    }

    #[test]
    fn zyxda_timing_over_the_bus() {
        let mut m = bus();
        m.step = 25; // 1 us per register access
        assert!(m.write_regs(0x18, CTRL_REG1, &[0x27])); // 10 Hz
        let written = m.now;
        m.now = written + HZ / 10 - 50_000;
        assert_eq!(m.read_regs(0x18, STATUS_REG, 1), Some(vec![0]));
        m.now = written + HZ / 10;
        assert_eq!(m.read_regs(0x18, STATUS_REG, 1), Some(vec![0x0f]));
    }

    #[test]
    fn odd_rates_stay_exact() {
        // 1.344 kHz does not divide 25 MHz; sample k is at floor(k * T).
        let mut c = Lis3dh::new(HZ, 0x18);
        wr(&mut c, 0, CTRL_REG1, &[0x97]);
        let at = |k: u64| k * HZ / 1344;
        assert_eq!(rd(&mut c, at(1000) - 1, STATUS_REG, 1), [0xff]);
        // Normal mode, +-2 g: 1 g is 250 << 6 = 0x3E80.
        assert_eq!(rd(&mut c, at(1000) - 1, OUT_X_L, 6)[4..], [0x80, 0x3e]);
        assert_eq!(rd(&mut c, at(1000) - 1, STATUS_REG, 1), [0]);
        assert_eq!(rd(&mut c, at(1000), STATUS_REG, 1), [0x0f]);
        // Low-power: code 9 is 5.376 kHz.
        let mut c = Lis3dh::new(HZ, 0x18);
        wr(&mut c, 0, CTRL_REG1, &[0x9f]);
        let t = HZ / 5376;
        assert_eq!(rd(&mut c, t - 1, STATUS_REG, 1), [0]);
        assert_eq!(rd(&mut c, t, STATUS_REG, 1), [0x0f]);
        // Leaving low-power mode changes the rate to 1.344 kHz, counted
        // from the change.
        wr(&mut c, t, CTRL_REG1, &[0x97]);
        rd(&mut c, t, OUT_X_L, 6);
        assert_eq!(rd(&mut c, t + HZ / 1344 - 1, STATUS_REG, 1), [0]);
        assert_eq!(rd(&mut c, t + HZ / 1344, STATUS_REG, 1), [0x0f]);
        // Code 8 is 1.620 kHz.
        let mut c = Lis3dh::new(HZ, 0x18);
        wr(&mut c, 0, CTRL_REG1, &[0x8f]);
        let t = HZ / 1620;
        assert_eq!(rd(&mut c, t - 1, STATUS_REG, 1), [0]);
        assert_eq!(rd(&mut c, t, STATUS_REG, 1), [0x0f]);
    }

    #[test]
    fn values_follow_the_source_at_sample_times() {
        let mut c = Lis3dh::new(HZ, 0x18);
        // Z ramps at 1 g per second from 0.
        c.set_sensor(
            "accel",
            SensorSource::Ramp {
                start: [0.0; 3],
                per_second: [0.0, 0.0, G],
            },
        );
        wr(&mut c, 0, CTRL_REG4, &[0x08]);
        wr(&mut c, 0, CTRL_REG1, &[0x17]); // 1 Hz
                                           // Sample 1 is at t = 1 s however late it is read.
        let z = xyz(&rd(&mut c, HZ + HZ / 2, OUT_X_L, 6))[2];
        assert_eq!(z, 1000 << 4);
        // Sample 2 at t = 2 s.
        let z = xyz(&rd(&mut c, 2 * HZ, OUT_X_L, 6))[2];
        assert_eq!(z, 2000 << 4);
    }

    #[test]
    fn bdu_keeps_an_axis_consistent() {
        let mut c = Lis3dh::new(HZ, 0x18);
        c.set_sensor(
            "accel",
            SensorSource::Ramp {
                start: [0.0; 3],
                per_second: [G / 10.0, 0.0, 0.0],
            },
        );
        let period = HZ / 100;
        wr(&mut c, 0, CTRL_REG4, &[CTRL4_BDU | CTRL4_HR]);
        wr(&mut c, 0, CTRL_REG1, &[0x57]);
        // X at sample 1 (t = 10 ms) is 1 mg.
        let low = rd(&mut c, period, OUT_X_L, 1)[0];
        // Two samples later X would be 3 mg, but the high byte still
        // belongs to the sample the low byte came from.
        let high = rd(&mut c, 3 * period, OUT_X_H, 1)[0];
        assert_eq!(i16::from_le_bytes([low, high]), 1 << 4);
        // Released: the newest sample shows.
        assert_eq!(xyz(&rd(&mut c, 3 * period, OUT_X_L, 6))[0], 3 << 4);
        // Without BDU the low byte locks nothing.
        wr(&mut c, 3 * period, CTRL_REG4, &[CTRL4_HR]);
        rd(&mut c, 4 * period, OUT_X_L, 1);
        assert_eq!(xyz(&rd(&mut c, 5 * period, OUT_X_L, 6))[0], 5 << 4);
    }

    #[test]
    fn big_endian_selection() {
        let mut c = Lis3dh::new(HZ, 0x18);
        wr(&mut c, 0, CTRL_REG4, &[CTRL4_BLE | CTRL4_HR]);
        wr(&mut c, 0, CTRL_REG1, &[0x57]);
        let b = rd(&mut c, HZ / 100, OUT_X_L, 6);
        assert_eq!(b[4..], [0x3e, 0x80]);
    }

    #[test]
    fn auto_increment_read_of_all_outputs_over_the_bus() {
        let mut m = bus();
        m.dev
            .set_sensor("accel", SensorSource::Constant([0.25 * G, -0.5 * G, G]));
        assert!(m.write_regs(0x18, CTRL_REG1 | AUTO_INCREMENT, &[0x57, 0, 0, 0x08]));
        m.now += HZ / 100;
        let b = m.read_regs(0x18, OUT_X_L | AUTO_INCREMENT, 6).unwrap();
        assert_eq!(xyz(&b), [250 << 4, -500 << 4, 1000 << 4]);
        // A plain read after STOP continues from the pointer: it wrapped on
        // to FIFO_CTRL_REG (0x2E) and FIFO_SRC_REG.
        m.start();
        assert!(m.write_byte(0x18 << 1 | 1));
        assert_eq!(m.read_byte(true), 0);
        assert_eq!(m.read_byte(false), FIFO_SRC_EMPTY);
        m.stop();
    }

    #[test]
    fn aux_adc_and_temperature_registers() {
        let mut c = Lis3dh::new(HZ, 0x18);
        wr(
            &mut c,
            0,
            TEMP_CFG_REG,
            &[TEMP_CFG_ADC_EN | TEMP_CFG_TEMP_EN],
        );
        wr(&mut c, 0, CTRL_REG1, &[0x57]);
        assert_eq!(rd(&mut c, 0, TEMP_CFG_REG, 1), [0xc0]);
        assert_eq!(rd(&mut c, HZ / 100, STATUS_REG_AUX, 1), [0x0f]);
        assert_eq!(rd(&mut c, HZ / 100, OUT_ADC1_L, 6), [0; 6]);
        assert_eq!(rd(&mut c, HZ / 100, STATUS_REG_AUX, 1), [0]);
    }

    #[test]
    fn interrupt_and_click_registers_are_storage() {
        let mut m = bus();
        let rw = [
            INT1_CFG,
            INT1_THS,
            INT1_DURATION,
            INT2_CFG,
            INT2_THS,
            INT2_DURATION,
            CLICK_CFG,
            CLICK_THS,
            TIME_LIMIT,
            TIME_LATENCY,
            TIME_WINDOW,
            ACT_THS,
            ACT_DUR,
            FIFO_CTRL_REG,
            CTRL_REG2,
            CTRL_REG3,
            CTRL_REG6,
        ];
        for (i, &r) in rw.iter().enumerate() {
            assert!(m.write_regs(0x18, r, &[0x40 + i as u8]));
        }
        for (i, &r) in rw.iter().enumerate() {
            assert_eq!(
                m.read_regs(0x18, r, 1),
                Some(vec![0x40 + i as u8]),
                "reg {r:#x}"
            );
        }
        for r in [INT1_SRC, INT2_SRC, CLICK_SRC] {
            assert!(m.write_regs(0x18, r, &[0xff]));
            assert_eq!(m.read_regs(0x18, r, 1), Some(vec![0]));
        }
    }

    #[test]
    fn boot_bit_clears_itself() {
        let mut c = Lis3dh::new(HZ, 0x18);
        wr(&mut c, 100, CTRL_REG1, &[0x57]);
        wr(&mut c, 100, CTRL_REG5, &[CTRL5_BOOT | 0x08]);
        assert_eq!(rd(&mut c, 100, CTRL_REG5, 1), [0x88]);
        assert_eq!(rd(&mut c, 100 + HZ / 200 - 1, CTRL_REG5, 1), [0x88]);
        assert_eq!(rd(&mut c, 100 + HZ / 200, CTRL_REG5, 1), [0x08]);
        // User registers survive the boot.
        assert_eq!(rd(&mut c, 100 + HZ / 200, CTRL_REG1, 1), [0x57]);
    }

    #[test]
    fn reset_returns_to_power_on_state() {
        let mut m = bus();
        assert!(m.write_regs(0x18, CTRL_REG1, &[0x57]));
        m.now += HZ;
        assert_eq!(m.read_regs(0x18, STATUS_REG, 1), Some(vec![0xff]));
        m.dev.reset();
        assert_eq!(
            m.read_regs(0x18, CTRL_REG1 | AUTO_INCREMENT, 2),
            Some(vec![0x07, 0x00])
        );
        m.now += HZ;
        assert_eq!(m.read_regs(0x18, STATUS_REG, 1), Some(vec![0]));
        assert_eq!(m.dev.sensor_channels(), ["accel"]);
    }
}
