//! Ensemble GPIO block "GPI1": buttons as inputs with edge interrupts and
//! LEDs as outputs (no real chip; Ensemble's own design).
//!
//! The guest-facing documentation is `images/include/gpio.h`; this comment
//! is the model's summary.
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x00 | ID | RO | 0x4750_4931 ("GPI1") |
//! | 0x04 | IN | RO | button levels, bit n = button n pressed |
//! | 0x08 | OUT | RW | LED levels, bit n = LED n lit; reset 0 |
//! | 0x0C | OUT_SET | WO | OUT \|= value; reads 0 |
//! | 0x10 | OUT_CLR | WO | OUT &= !value; reads 0 |
//! | 0x14 | RISE_IE | RW | latch an interrupt on IN bit 0 -> 1; reset 0 |
//! | 0x18 | FALL_IE | RW | latch an interrupt on IN bit 1 -> 0; reset 0 |
//! | 0x1C | INT_STATUS | W1C | edges seen; reset 0 |
//! | 0x20 | NUM_INPUTS | RO | buttons (board), at most 32 |
//! | 0x24 | NUM_OUTPUTS | RO | LEDs (board), at most 32 |
//!
//! Bits at and above NUM_INPUTS (IN, RISE_IE, FALL_IE, INT_STATUS) and
//! NUM_OUTPUTS (OUT) read 0 and ignore writes.
//!
//! Registers are 32-bit: a read of any size returns the bytes it covers; a
//! write must be at the register's own offset, and a narrow write is
//! zero-extended as on the CMSDK peripherals. Writes elsewhere are ignored,
//! unassigned offsets read 0.
//!
//! Interrupt line 0 = INT_STATUS != 0. An edge of IN bit n sets INT_STATUS
//! bit n if the matching RISE_IE / FALL_IE bit is set at the time of the
//! edge; clearing an enable later does not clear INT_STATUS.
//!
//! The buttons are driven with `set_input("button<n>", level)` (level != 0
//! is pressed) or `set_input("buttons", mask)`; they are outside the chip,
//! so a reset does not release them. The LEDs are reported by
//! [`Device::leds`].

use crate::{extract_read, zero_extend, Device, Ticks};

pub const ID: u64 = 0x00;
pub const IN: u64 = 0x04;
pub const OUT: u64 = 0x08;
pub const OUT_SET: u64 = 0x0c;
pub const OUT_CLR: u64 = 0x10;
pub const RISE_IE: u64 = 0x14;
pub const FALL_IE: u64 = 0x18;
pub const INT_STATUS: u64 = 0x1c;
pub const NUM_INPUTS: u64 = 0x20;
pub const NUM_OUTPUTS: u64 = 0x24;

pub const ID_VALUE: u32 = 0x4750_4931;

/// Most inputs or outputs a block can have.
pub const MAX_LINES: u32 = 32;

/// The mask of the low `n` bits (`n` <= 32).
fn low_bits(n: u32) -> u32 {
    if n >= 32 {
        u32::MAX
    } else {
        (1 << n) - 1
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Gpio {
    num_inputs: u32,
    num_outputs: u32,
    in_mask: u32,
    out_mask: u32,
    input: u32,
    out: u32,
    rise_ie: u32,
    fall_ie: u32,
    int_status: u32,
}

impl Gpio {
    /// A block with `num_inputs` buttons and `num_outputs` LEDs (each
    /// clamped to 0..=32).
    pub fn new(num_inputs: u32, num_outputs: u32) -> Self {
        let num_inputs = num_inputs.min(MAX_LINES);
        let num_outputs = num_outputs.min(MAX_LINES);
        Gpio {
            num_inputs,
            num_outputs,
            in_mask: low_bits(num_inputs),
            out_mask: low_bits(num_outputs),
            input: 0,
            out: 0,
            rise_ie: 0,
            fall_ie: 0,
            int_status: 0,
        }
    }

    /// New button levels: latch the enabled edges.
    fn set_levels(&mut self, levels: u32) {
        let levels = levels & self.in_mask;
        let rose = levels & !self.input;
        let fell = self.input & !levels;
        self.int_status |= (rose & self.rise_ie) | (fell & self.fall_ie);
        self.input = levels;
    }

    fn register(&self, offset: u64) -> u32 {
        match offset {
            ID => ID_VALUE,
            IN => self.input,
            OUT => self.out,
            RISE_IE => self.rise_ie,
            FALL_IE => self.fall_ie,
            INT_STATUS => self.int_status,
            NUM_INPUTS => self.num_inputs,
            NUM_OUTPUTS => self.num_outputs,
            _ => 0,
        }
    }
}

impl Device for Gpio {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "gpio"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, _now: Ticks) -> u32 {
        extract_read(self.register(offset & !3), offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, _now: Ticks) {
        let v = zero_extend(value, size);
        match offset {
            OUT => self.out = v & self.out_mask,
            OUT_SET => self.out |= v & self.out_mask,
            OUT_CLR => self.out &= !v,
            RISE_IE => self.rise_ie = v & self.in_mask,
            FALL_IE => self.fall_ie = v & self.in_mask,
            INT_STATUS => self.int_status &= !v,
            _ => {}
        }
    }

    /// Everything but IN (the buttons are outside the chip) returns to 0.
    fn reset(&mut self) {
        let input = self.input;
        *self = Gpio::new(self.num_inputs, self.num_outputs);
        self.input = input;
    }

    fn irq_lines(&self) -> u32 {
        (self.int_status != 0) as u32
    }

    fn set_input(&mut self, name: &str, level: u32) {
        if name == "buttons" {
            self.set_levels(level);
            return;
        }
        let Some(n) = name
            .strip_prefix("button")
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u32>().ok())
        else {
            return;
        };
        if n >= self.num_inputs {
            return;
        }
        let levels = if level != 0 {
            self.input | 1 << n
        } else {
            self.input & !(1 << n)
        };
        self.set_levels(levels);
    }

    fn leds(&self) -> Option<(u32, u32)> {
        Some((self.num_outputs, self.out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rd(g: &mut Gpio, offset: u64) -> u32 {
        g.read(offset, 4, 0)
    }

    fn wr(g: &mut Gpio, offset: u64, value: u32) {
        g.write(offset, 4, value, 0)
    }

    #[test]
    fn reset_values_and_read_only_registers() {
        let mut g = Gpio::new(4, 3);
        let expect = [
            (ID, ID_VALUE),
            (IN, 0),
            (OUT, 0),
            (OUT_SET, 0),
            (OUT_CLR, 0),
            (RISE_IE, 0),
            (FALL_IE, 0),
            (INT_STATUS, 0),
            (NUM_INPUTS, 4),
            (NUM_OUTPUTS, 3),
            (0x28, 0),
            (0xffc, 0),
        ];
        for (off, v) in expect {
            assert_eq!(rd(&mut g, off), v, "offset {off:#x}");
        }
        assert_eq!(g.kind(), "gpio");
        assert_eq!(g.read(ID + 3, 1, 0), 0x47);
        assert_eq!(g.read(ID, 2, 0), 0x4931);
        for off in [ID, IN, NUM_INPUTS, NUM_OUTPUTS] {
            let before = rd(&mut g, off);
            wr(&mut g, off, 0x55);
            assert_eq!(rd(&mut g, off), before, "offset {off:#x}");
        }
        assert_eq!(Gpio::new(40, 33).register(NUM_INPUTS), 32);
        assert_eq!(Gpio::new(40, 33).register(NUM_OUTPUTS), 32);
    }

    #[test]
    fn out_set_clr_and_leds() {
        let mut g = Gpio::new(2, 3);
        assert_eq!(g.leds(), Some((3, 0)));
        wr(&mut g, OUT, 0xff);
        assert_eq!(rd(&mut g, OUT), 0b111);
        wr(&mut g, OUT_CLR, 0b101);
        assert_eq!(rd(&mut g, OUT), 0b010);
        wr(&mut g, OUT_SET, 0xf1);
        assert_eq!(rd(&mut g, OUT), 0b011);
        assert_eq!(g.leds(), Some((3, 0b011)));
        // Write-only registers read 0.
        assert_eq!(rd(&mut g, OUT_SET), 0);
        assert_eq!(rd(&mut g, OUT_CLR), 0);
        // A narrow write is zero-extended; one off the register's offset
        // is ignored.
        let mut g = Gpio::new(0, 32);
        wr(&mut g, OUT, 0xffff_ffff);
        g.write(OUT, 1, 0x0f, 0);
        assert_eq!(rd(&mut g, OUT), 0x0f);
        g.write(OUT + 1, 1, 0xff, 0);
        assert_eq!(rd(&mut g, OUT), 0x0f);
        assert_eq!(g.read(OUT, 2, 0), 0x0f);
        wr(&mut g, OUT_SET, 0x8000_0000);
        assert_eq!(g.leds(), Some((32, 0x8000_000f)));
        g.reset();
        assert_eq!(g.leds(), Some((32, 0)));
    }

    #[test]
    fn buttons_follow_inputs() {
        let mut g = Gpio::new(3, 0);
        g.set_input("button2", 1);
        assert_eq!(rd(&mut g, IN), 0b100);
        g.set_input("button0", 7);
        assert_eq!(rd(&mut g, IN), 0b101);
        g.set_input("button2", 0);
        assert_eq!(rd(&mut g, IN), 0b001);
        // Buttons that do not exist, and other names, change nothing.
        g.set_input("button3", 1);
        g.set_input("button", 1);
        g.set_input("button+1", 1);
        g.set_input("volume", 1);
        assert_eq!(rd(&mut g, IN), 0b001);
        g.set_input("buttons", 0xfe);
        assert_eq!(rd(&mut g, IN), 0b110);
        // The buttons are outside the chip: reset keeps them.
        g.reset();
        assert_eq!(rd(&mut g, IN), 0b110);
    }

    #[test]
    fn edge_interrupts() {
        let mut g = Gpio::new(4, 0);
        wr(&mut g, RISE_IE, 0xff);
        assert_eq!(rd(&mut g, RISE_IE), 0xf);
        wr(&mut g, FALL_IE, 0b0010);
        assert_eq!(rd(&mut g, FALL_IE), 0b0010);
        // Rise on 0 and 1: both latched.
        g.set_input("buttons", 0b0011);
        assert_eq!(rd(&mut g, INT_STATUS), 0b0011);
        assert_eq!(g.irq_lines(), 1);
        // A level that does not change is not an edge.
        g.set_input("button0", 1);
        wr(&mut g, INT_STATUS, 0b0011);
        assert_eq!(g.irq_lines(), 0);
        g.set_input("button0", 1);
        assert_eq!(rd(&mut g, INT_STATUS), 0);
        // Falls: only button 1 has FALL_IE.
        g.set_input("button0", 0);
        assert_eq!(rd(&mut g, INT_STATUS), 0);
        g.set_input("button1", 0);
        assert_eq!(rd(&mut g, INT_STATUS), 0b0010);
        // W1C: writing 0s keeps bits, and disabling does not clear them.
        wr(&mut g, INT_STATUS, 0b0001);
        wr(&mut g, FALL_IE, 0);
        assert_eq!(rd(&mut g, INT_STATUS), 0b0010);
        assert_eq!(g.irq_lines(), 1);
        g.write(INT_STATUS, 1, 0b0010, 0);
        assert_eq!(rd(&mut g, INT_STATUS), 0);
        assert_eq!(g.irq_lines(), 0);
        // An edge while its enable is clear is lost, even if enabled later.
        wr(&mut g, RISE_IE, 0);
        g.set_input("button3", 1);
        wr(&mut g, RISE_IE, 0b1000);
        assert_eq!(rd(&mut g, INT_STATUS), 0);
        g.set_input("button3", 0);
        g.set_input("button3", 1);
        assert_eq!(rd(&mut g, INT_STATUS), 0b1000);
        // Reset clears the latched edges and the enables.
        g.reset();
        assert_eq!(rd(&mut g, INT_STATUS), 0);
        assert_eq!(rd(&mut g, RISE_IE), 0);
        assert_eq!(g.irq_lines(), 0);
    }

    #[test]
    fn thirty_two_inputs() {
        let mut g = Gpio::new(32, 0);
        wr(&mut g, RISE_IE, u32::MAX);
        g.set_input("button31", 1);
        assert_eq!(rd(&mut g, IN), 1 << 31);
        assert_eq!(rd(&mut g, INT_STATUS), 1 << 31);
        assert_eq!(g.leds(), Some((0, 0)));
    }
}
