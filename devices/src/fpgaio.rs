//! MPS2 FPGA system control and I/O block (FPGAIO), as in AN385/AN386.
//!
//! Reference: ARM AN385 "FPGA system control and I/O"; behaviour matched to
//! QEMU `hw/misc/mps2-fpgaio.c` as the `mps2-an385`/`mps2-an386` boards
//! configure it (2 LEDs, no switches, no DBGCTRL, 25 MHz prescale clock).
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x00 | LED0 | RW | b1:0 user LEDs |
//! | 0x08 | BUTTON | RO | b1:0 user push buttons (1 = pressed) |
//! | 0x10 | CLK1HZ | RW | counts at 1 Hz since reset or the last write |
//! | 0x14 | CLK100HZ | RW | counts at 100 Hz since reset or the last write |
//! | 0x18 | COUNTER | RW | incremented each time PSCNTR reloads |
//! | 0x1C | PRESCALE | RW | reload value of PSCNTR |
//! | 0x20 | PSCNTR | RW | down-counter at the system clock, reloads from PRESCALE one tick after 0 |
//! | 0x4C | MISC | RW | SPI/CLCD control bits: read back only |
//!
//! Everything else reads 0 and ignores writes. All counters are derived
//! from the tick count and the clock rate, so they are exact however rarely
//! the device is told the time. The buttons are driven with
//! `set_input("button0" | "button1", level)` or `set_input("buttons", mask)`;
//! QEMU has no button input and always reads 0, which is also the default
//! here. The LEDs are reported by [`Device::leds`].

use crate::{zero_extend, Device, Ticks};

pub const LED0: u64 = 0x00;
pub const BUTTON: u64 = 0x08;
pub const CLK1HZ: u64 = 0x10;
pub const CLK100HZ: u64 = 0x14;
pub const COUNTER: u64 = 0x18;
pub const PRESCALE: u64 = 0x1c;
pub const PSCNTR: u64 = 0x20;
pub const MISC: u64 = 0x4c;

const NUM_LEDS: u32 = 2;
const LED_MASK: u32 = (1 << NUM_LEDS) - 1;
const BUTTON_MASK: u32 = 0b11;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Fpgaio {
    clock_hz: u64,
    /// Rate of PSCNTR; the MPS2 boards feed it the 25 MHz system clock.
    prescale_hz: u64,
    led0: u32,
    buttons: u32,
    misc: u32,
    prescale: u32,
    /// The tick at which CLK1HZ / CLK100HZ read 0 (may lie before time 0).
    clk1hz_base: i128,
    clk100hz_base: i128,
    counter: u32,
    pscntr: u32,
    /// Tick of the last PSCNTR edge accounted for in `counter`/`pscntr`.
    pscntr_sync: Ticks,
    now: Ticks,
}

impl Fpgaio {
    /// `clock_hz` is the machine clock, which also drives the prescaler.
    pub fn new(clock_hz: u64) -> Self {
        let clock_hz = clock_hz.max(1);
        let mut f = Fpgaio {
            clock_hz,
            prescale_hz: clock_hz,
            led0: 0,
            buttons: 0,
            misc: 0,
            prescale: 0,
            clk1hz_base: 0,
            clk100hz_base: 0,
            counter: 0,
            pscntr: 0,
            pscntr_sync: 0,
            now: 0,
        };
        f.reset();
        f
    }

    /// `frq`-Hz counter value for a counter that read 0 at `base`.
    fn slow_counter(&self, base: i128, frq: u64) -> u32 {
        let elapsed = (self.now as i128 - base).max(0);
        (elapsed * frq as i128 / self.clock_hz as i128) as u32
    }

    /// The base that makes a `frq`-Hz counter read `value` now.
    fn slow_base(&self, value: u32, frq: u64) -> i128 {
        self.now as i128 - value as i128 * self.clock_hz as i128 / frq as i128
    }

    /// Account for the PSCNTR edges since the last sync (QEMU's
    /// `resync_counter`): PSCNTR reloads from PRESCALE one edge after
    /// reaching 0, and COUNTER increments at that moment.
    fn resync(&mut self) {
        let elapsed = self.now.saturating_sub(self.pscntr_sync) as u128;
        let edges = (elapsed * self.prescale_hz as u128 / self.clock_hz as u128) as u64;
        if edges == 0 {
            return;
        }
        let pscntr = self.pscntr as u64;
        if edges < pscntr {
            self.pscntr -= edges as u32;
        } else if self.prescale == 0 {
            // PSCNTR sticks at 0 and COUNTER counts every edge.
            self.counter = self.counter.wrapping_add((edges - pscntr) as u32);
            self.pscntr = 0;
        } else {
            let period = self.prescale as u64 + 1;
            let y = edges - pscntr + self.prescale as u64;
            self.pscntr = (self.prescale as u64 - y % period) as u32;
            self.counter = self.counter.wrapping_add((y / period) as u32);
        }
        // Advance only to the last edge, so no fraction of one is lost.
        let spent = (edges as u128 * self.clock_hz as u128 / self.prescale_hz as u128) as u64;
        self.pscntr_sync += spent;
    }
}

impl Device for Fpgaio {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "mps2-fpgaio"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        self.now = self.now.max(now);
        let value = match offset {
            LED0 => self.led0,
            BUTTON => self.buttons,
            CLK1HZ => self.slow_counter(self.clk1hz_base, 1),
            CLK100HZ => self.slow_counter(self.clk100hz_base, 100),
            COUNTER => {
                self.resync();
                self.counter
            }
            PRESCALE => self.prescale,
            PSCNTR => {
                self.resync();
                self.pscntr
            }
            MISC => self.misc,
            _ => 0,
        };
        zero_extend(value, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        self.now = self.now.max(now);
        let value = zero_extend(value, size);
        match offset {
            LED0 => self.led0 = value & LED_MASK,
            CLK1HZ => self.clk1hz_base = self.slow_base(value, 1),
            CLK100HZ => self.clk100hz_base = self.slow_base(value, 100),
            COUNTER => {
                self.resync();
                self.counter = value;
            }
            PRESCALE => {
                self.resync();
                self.prescale = value;
            }
            PSCNTR => {
                self.resync();
                self.pscntr = value;
            }
            MISC => self.misc = value,
            _ => {}
        }
    }

    /// Takes effect at the latest time the device has seen: call
    /// [`Device::advance`] with the reset time first.
    fn reset(&mut self) {
        self.led0 = 0;
        self.prescale = 0;
        self.misc = 0;
        self.clk1hz_base = self.now as i128;
        self.clk100hz_base = self.now as i128;
        self.counter = 0;
        self.pscntr = 0;
        self.pscntr_sync = self.now;
        // The buttons are outside the FPGA: a reset does not release them.
    }

    fn advance(&mut self, now: Ticks) {
        self.now = self.now.max(now);
    }

    /// The two user LEDs as LED0 holds them (bit n = LED n lit).
    fn leds(&self) -> Option<(u32, u32)> {
        Some((NUM_LEDS, self.led0))
    }

    fn set_input(&mut self, name: &str, level: u32) {
        let bit = match name {
            "button0" => 1,
            "button1" => 2,
            "buttons" => {
                self.buttons = level & BUTTON_MASK;
                return;
            }
            _ => return,
        };
        if level != 0 {
            self.buttons |= bit;
        } else {
            self.buttons &= !bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 25_000_000;

    #[test]
    fn leds_keep_two_bits() {
        let mut f = Fpgaio::new(HZ);
        f.write(LED0, 4, 0xff, 0);
        assert_eq!(f.read(LED0, 4, 0), 3);
        assert_eq!(f.leds(), Some((2, 3)));
        f.write(LED0, 4, 0b10, 0);
        assert_eq!(f.leds(), Some((2, 0b10)));
        f.reset();
        assert_eq!(f.leds(), Some((2, 0)));
    }

    #[test]
    fn buttons_follow_inputs() {
        let mut f = Fpgaio::new(HZ);
        assert_eq!(f.read(BUTTON, 4, 0), 0);
        f.set_input("button1", 1);
        assert_eq!(f.read(BUTTON, 4, 0), 2);
        f.set_input("button0", 7);
        assert_eq!(f.read(BUTTON, 4, 0), 3);
        f.set_input("button1", 0);
        assert_eq!(f.read(BUTTON, 4, 0), 1);
        f.set_input("buttons", 0xfe);
        assert_eq!(f.read(BUTTON, 4, 0), 2);
        f.set_input("volume", 1);
        assert_eq!(f.read(BUTTON, 4, 0), 2);
        // Read-only.
        f.write(BUTTON, 4, 0, 0);
        assert_eq!(f.read(BUTTON, 4, 0), 2);
    }

    #[test]
    fn slow_clocks_count_from_ticks_and_can_be_set() {
        let mut f = Fpgaio::new(HZ);
        assert_eq!(f.read(CLK1HZ, 4, HZ - 1), 0);
        assert_eq!(f.read(CLK1HZ, 4, HZ), 1);
        assert_eq!(f.read(CLK100HZ, 4, HZ), 100);
        assert_eq!(f.read(CLK100HZ, 4, HZ + 249_999), 100);
        assert_eq!(f.read(CLK100HZ, 4, HZ + 250_000), 101);
        f.write(CLK1HZ, 4, 1000, 3 * HZ);
        assert_eq!(f.read(CLK1HZ, 4, 3 * HZ), 1000);
        assert_eq!(f.read(CLK1HZ, 4, 5 * HZ), 1002);
        f.write(CLK100HZ, 4, 0xffff_ffff, 5 * HZ);
        assert_eq!(f.read(CLK100HZ, 4, 5 * HZ + 250_000), 0);
    }

    #[test]
    fn prescaler_counter() {
        let mut f = Fpgaio::new(HZ);
        // PRESCALE 0 (reset): PSCNTR sticks at 0, COUNTER counts every tick.
        assert_eq!(f.read(COUNTER, 4, 1000), 1000);
        assert_eq!(f.read(PSCNTR, 4, 1000), 0);
        f.write(PRESCALE, 4, 4, 1000);
        f.write(COUNTER, 4, 0, 1000);
        // PSCNTR 0 -> 4 3 2 1 0 -> 4 ...: COUNTER +1 every 5 ticks.
        assert_eq!(f.read(PSCNTR, 4, 1001), 4);
        assert_eq!(f.read(COUNTER, 4, 1001), 1);
        assert_eq!(f.read(PSCNTR, 4, 1003), 2);
        assert_eq!(f.read(COUNTER, 4, 1006), 2);
        assert_eq!(f.read(PSCNTR, 4, 1006), 4);
        // Reading rarely gives the same answer as reading every tick.
        let mut g = Fpgaio::new(HZ);
        g.write(PRESCALE, 4, 4, 1000);
        g.write(COUNTER, 4, 0, 1000);
        assert_eq!(g.read(COUNTER, 4, 1006), 2);
        assert_eq!(g.read(PSCNTR, 4, 1006), 4);
        f.write(PSCNTR, 4, 100, 2000);
        let c = f.read(COUNTER, 4, 2000);
        assert_eq!(f.read(PSCNTR, 4, 2060), 40);
        assert_eq!(f.read(COUNTER, 4, 2100), c);
        assert_eq!(f.read(COUNTER, 4, 2101), c + 1);
        assert_eq!(f.read(PSCNTR, 4, 2101), 4);
    }

    #[test]
    fn misc_reads_back_and_unknown_offsets_are_zero() {
        let mut f = Fpgaio::new(HZ);
        f.write(MISC, 4, 0x1234_5678, 0);
        assert_eq!(f.read(MISC, 4, 0), 0x1234_5678);
        f.write(0x04, 4, 5, 0);
        f.write(0x28, 4, 5, 0);
        assert_eq!(f.read(0x04, 4, 0), 0);
        assert_eq!(f.read(0x28, 4, 0), 0);
    }

    #[test]
    fn reset_restarts_counters_at_last_seen_time() {
        let mut f = Fpgaio::new(HZ);
        f.write(PRESCALE, 4, 9, 0);
        f.advance(10 * HZ);
        f.reset();
        assert_eq!(f.read(CLK1HZ, 4, 10 * HZ), 0);
        assert_eq!(f.read(COUNTER, 4, 10 * HZ + 7), 7);
        assert_eq!(f.read(PRESCALE, 4, 10 * HZ + 7), 0);
        assert_eq!(f.read(CLK1HZ, 4, 11 * HZ), 1);
    }
}
