//! Ensemble touch panel "TCH1": a single-touch panel over the display, in
//! display pixels (no real chip; Ensemble's own design).
//!
//! The guest-facing documentation is `images/include/touch.h`; this
//! comment is the model's summary.
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x00 | ID | RO | 0x5443_4831 ("TCH1") |
//! | 0x04 | CTRL | RW | b0 IE; reset 0 |
//! | 0x08 | STATUS | RO/W1C | b0 PRESSED (RO), b1 NOT_EMPTY (RO), b2 OVERFLOW (W1C); reset 0 |
//! | 0x0C | X | RO | latest x, 0..WIDTH-1; reset 0 |
//! | 0x10 | Y | RO | latest y, 0..HEIGHT-1; reset 0 |
//! | 0x14 | EVENT | RO | pops the oldest event word, 0 when the FIFO is empty |
//! | 0x18 | COUNT | RO | events in the FIFO |
//! | 0x1C | WIDTH | RO | panel width in pixels (board) |
//! | 0x20 | HEIGHT | RO | panel height in pixels (board) |
//!
//! Event word: b31 VALID, b30 PRESSED (0 for a release), b27:16 y, b11:0 x.
//!
//! Registers are 32-bit: a read of any size returns the bytes it covers
//! (any read of EVENT pops it); a write must be at the register's own
//! offset, and a narrow write is zero-extended as on the CMSDK
//! peripherals. Writes elsewhere are ignored, unassigned offsets read 0.
//!
//! Interrupt line 0 = CTRL.IE && the FIFO is not empty.
//!
//! [`Device::touch`] drives the panel. Coordinates are clamped to the
//! panel. A press, or a move to a new position while pressed, records the
//! position; a release keeps the last pressed position. Each such change
//! appends an event to the 16-entry FIFO (a full FIFO drops it and sets
//! STATUS.OVERFLOW); a move to the same position, and any touch while
//! released, changes nothing. X, Y and STATUS.PRESSED always show the
//! latest state.

use std::collections::VecDeque;

use crate::{extract_read, zero_extend, Device, Ticks};

pub const ID: u64 = 0x00;
pub const CTRL: u64 = 0x04;
pub const STATUS: u64 = 0x08;
pub const X: u64 = 0x0c;
pub const Y: u64 = 0x10;
pub const EVENT: u64 = 0x14;
pub const COUNT: u64 = 0x18;
pub const WIDTH: u64 = 0x1c;
pub const HEIGHT: u64 = 0x20;

pub const ID_VALUE: u32 = 0x5443_4831;

pub const CTRL_IE: u32 = 1 << 0;

pub const STATUS_PRESSED: u32 = 1 << 0;
pub const STATUS_NOT_EMPTY: u32 = 1 << 1;
pub const STATUS_OVERFLOW: u32 = 1 << 2;

pub const FIFO_DEPTH: usize = 16;

pub const EVENT_VALID: u32 = 1 << 31;
pub const EVENT_PRESSED: u32 = 1 << 30;
/// Largest panel dimension the 12-bit event coordinates can carry.
pub const MAX_SIZE: u32 = 4096;

/// The EVENT word for a touch at (`x`, `y`), pressed or released.
pub fn event_word(x: u32, y: u32, pressed: bool) -> u32 {
    let pressed = if pressed { EVENT_PRESSED } else { 0 };
    EVENT_VALID | pressed | (y & 0xfff) << 16 | (x & 0xfff)
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Touch {
    width: u32,
    height: u32,
    ctrl: u32,
    overflow: bool,
    pressed: bool,
    x: u32,
    y: u32,
    fifo: VecDeque<u32>,
}

impl Touch {
    /// A panel of `width` x `height` pixels (each clamped to 1..=4096).
    pub fn new(width: u32, height: u32) -> Self {
        Touch {
            width: width.clamp(1, MAX_SIZE),
            height: height.clamp(1, MAX_SIZE),
            ctrl: 0,
            overflow: false,
            pressed: false,
            x: 0,
            y: 0,
            fifo: VecDeque::with_capacity(FIFO_DEPTH),
        }
    }

    fn push(&mut self, event: u32) {
        if self.fifo.len() < FIFO_DEPTH {
            self.fifo.push_back(event);
        } else {
            self.overflow = true;
        }
    }

    fn status(&self) -> u32 {
        let mut s = 0;
        if self.pressed {
            s |= STATUS_PRESSED;
        }
        if !self.fifo.is_empty() {
            s |= STATUS_NOT_EMPTY;
        }
        if self.overflow {
            s |= STATUS_OVERFLOW;
        }
        s
    }
}

impl Device for Touch {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "touch"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, _now: Ticks) -> u32 {
        let value = match offset & !3 {
            ID => ID_VALUE,
            CTRL => self.ctrl,
            STATUS => self.status(),
            X => self.x,
            Y => self.y,
            EVENT => self.fifo.pop_front().unwrap_or(0),
            COUNT => self.fifo.len() as u32,
            WIDTH => self.width,
            HEIGHT => self.height,
            _ => 0,
        };
        extract_read(value, offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, _now: Ticks) {
        let v = zero_extend(value, size);
        match offset {
            CTRL => self.ctrl = v & CTRL_IE,
            STATUS if v & STATUS_OVERFLOW != 0 => self.overflow = false,
            _ => {}
        }
    }

    fn reset(&mut self) {
        *self = Touch::new(self.width, self.height);
    }

    fn irq_lines(&self) -> u32 {
        (self.ctrl & CTRL_IE != 0 && !self.fifo.is_empty()) as u32
    }

    fn touch(&mut self, x: u32, y: u32, pressed: bool, _now: Ticks) -> bool {
        let x = x.min(self.width - 1);
        let y = y.min(self.height - 1);
        match (self.pressed, pressed) {
            (false, false) => {}
            (true, true) if (x, y) == (self.x, self.y) => {}
            (_, true) => {
                self.pressed = true;
                self.x = x;
                self.y = y;
                self.push(event_word(x, y, true));
            }
            (true, false) => {
                self.pressed = false;
                self.push(event_word(self.x, self.y, false));
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rd(t: &mut Touch, offset: u64) -> u32 {
        t.read(offset, 4, 0)
    }

    fn wr(t: &mut Touch, offset: u64, value: u32) {
        t.write(offset, 4, value, 0)
    }

    #[test]
    fn reset_values_and_read_only_registers() {
        let mut t = Touch::new(320, 240);
        let expect = [
            (ID, ID_VALUE),
            (CTRL, 0),
            (STATUS, 0),
            (X, 0),
            (Y, 0),
            (EVENT, 0),
            (COUNT, 0),
            (WIDTH, 320),
            (HEIGHT, 240),
            (0x24, 0),
            (0xffc, 0),
        ];
        for (off, v) in expect {
            assert_eq!(rd(&mut t, off), v, "offset {off:#x}");
        }
        assert_eq!(t.kind(), "touch");
        assert_eq!(t.read(ID, 1, 0), 0x31);
        assert_eq!(t.read(ID + 2, 2, 0), 0x5443);
        for off in [ID, X, Y, EVENT, COUNT, WIDTH, HEIGHT] {
            let before = rd(&mut t, off);
            wr(&mut t, off, 0x55);
            assert_eq!(rd(&mut t, off), before, "offset {off:#x}");
        }
        wr(&mut t, CTRL, 0xff);
        assert_eq!(rd(&mut t, CTRL), CTRL_IE);
        // A narrow write at the register's offset counts; elsewhere not.
        t.write(CTRL, 1, 0, 0);
        assert_eq!(rd(&mut t, CTRL), 0);
        t.write(CTRL + 1, 1, 1, 0);
        assert_eq!(rd(&mut t, CTRL), 0);
    }

    #[test]
    fn press_move_release_in_fifo_order() {
        let mut t = Touch::new(320, 240);
        assert!(t.touch(10, 20, true, 0));
        assert_eq!(rd(&mut t, STATUS), STATUS_PRESSED | STATUS_NOT_EMPTY);
        assert_eq!((rd(&mut t, X), rd(&mut t, Y)), (10, 20));
        assert!(t.touch(11, 22, true, 0));
        // Same place again: no change, no event.
        assert!(t.touch(11, 22, true, 0));
        // Released: keeps the last position whatever the caller says.
        assert!(t.touch(300, 200, false, 0));
        assert_eq!(rd(&mut t, STATUS), STATUS_NOT_EMPTY);
        assert_eq!((rd(&mut t, X), rd(&mut t, Y)), (11, 22));
        assert_eq!(rd(&mut t, COUNT), 3);
        let e = rd(&mut t, EVENT);
        assert_eq!(e, 0xc014_000a);
        assert_eq!(e, EVENT_VALID | EVENT_PRESSED | 20 << 16 | 10);
        assert_eq!(rd(&mut t, EVENT), event_word(11, 22, true));
        assert_eq!(rd(&mut t, COUNT), 1);
        assert_eq!(rd(&mut t, EVENT), 0x8016_000b);
        assert_eq!(rd(&mut t, EVENT), 0);
        assert_eq!(rd(&mut t, STATUS), 0);
    }

    #[test]
    fn moves_while_released_are_ignored() {
        let mut t = Touch::new(320, 240);
        assert!(t.touch(50, 60, false, 0));
        assert_eq!(rd(&mut t, COUNT), 0);
        assert_eq!((rd(&mut t, X), rd(&mut t, Y)), (0, 0));
    }

    #[test]
    fn coordinates_are_clamped_to_the_panel() {
        let mut t = Touch::new(320, 240);
        t.touch(5000, 240, true, 0);
        assert_eq!((rd(&mut t, X), rd(&mut t, Y)), (319, 239));
        assert_eq!(rd(&mut t, EVENT), event_word(319, 239, true));
        let mut big = Touch::new(10_000, 10_000);
        assert_eq!(rd(&mut big, WIDTH), 4096);
        big.touch(9999, 4095, true, 0);
        assert_eq!(
            rd(&mut big, EVENT),
            EVENT_VALID | EVENT_PRESSED | 0xfff << 16 | 0xfff
        );
    }

    #[test]
    fn full_fifo_drops_new_events_and_flags_overflow() {
        let mut t = Touch::new(320, 240);
        t.touch(0, 0, true, 0);
        for i in 1..20 {
            t.touch(i, i, true, 0);
        }
        assert_eq!(rd(&mut t, COUNT), 16);
        assert_eq!(
            rd(&mut t, STATUS),
            STATUS_PRESSED | STATUS_NOT_EMPTY | STATUS_OVERFLOW
        );
        // X and Y follow the touch even when the FIFO is full.
        assert_eq!(rd(&mut t, X), 19);
        // The oldest 16 events were kept, in order.
        for i in 0..16 {
            assert_eq!(rd(&mut t, EVENT), event_word(i, i, true));
        }
        assert_eq!(rd(&mut t, EVENT), 0);
        // OVERFLOW is W1C and survives the FIFO draining.
        assert_eq!(rd(&mut t, STATUS), STATUS_PRESSED | STATUS_OVERFLOW);
        wr(&mut t, STATUS, STATUS_PRESSED | STATUS_NOT_EMPTY);
        assert_eq!(rd(&mut t, STATUS), STATUS_PRESSED | STATUS_OVERFLOW);
        t.write(STATUS, 1, STATUS_OVERFLOW, 0);
        assert_eq!(rd(&mut t, STATUS), STATUS_PRESSED);
    }

    #[test]
    fn interrupt_while_enabled_and_not_empty() {
        let mut t = Touch::new(320, 240);
        t.touch(1, 1, true, 0);
        assert_eq!(t.irq_lines(), 0);
        wr(&mut t, CTRL, CTRL_IE);
        assert_eq!(t.irq_lines(), 1);
        t.touch(1, 1, false, 0);
        rd(&mut t, EVENT);
        assert_eq!(t.irq_lines(), 1);
        // A byte read of EVENT pops it too.
        assert_eq!(t.read(EVENT + 3, 1, 0), 0x80);
        assert_eq!(t.irq_lines(), 0);
        t.touch(2, 2, true, 0);
        assert_eq!(t.irq_lines(), 1);
        wr(&mut t, CTRL, 0);
        assert_eq!(t.irq_lines(), 0);
    }

    #[test]
    fn reset_empties_the_fifo() {
        let mut t = Touch::new(320, 240);
        wr(&mut t, CTRL, CTRL_IE);
        t.touch(7, 8, true, 0);
        t.reset();
        assert_eq!(rd(&mut t, CTRL), 0);
        assert_eq!(rd(&mut t, STATUS), 0);
        assert_eq!(rd(&mut t, COUNT), 0);
        assert_eq!((rd(&mut t, X), rd(&mut t, Y)), (0, 0));
        assert_eq!(rd(&mut t, WIDTH), 320);
        assert_eq!(t.irq_lines(), 0);
    }
}
