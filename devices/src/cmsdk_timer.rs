//! CMSDK APB timer (32-bit down-counter).
//!
//! Reference: ARM DDI0479 (Cortex-M System Design Kit TRM), "APB timer";
//! behaviour matched to QEMU `hw/timer/cmsdk-apb-timer.c` (as in QEMU 7.2).
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x000 | CTRL | RW | b0 enable, b1 EXTIN as enable, b2 EXTIN as clock, b3 interrupt enable |
//! | 0x004 | VALUE | RW | current count |
//! | 0x008 | RELOAD | RW | reload value; writing it also loads VALUE |
//! | 0x00C | INTSTATUS / INTCLEAR | RW | b0 interrupt, write 1 to clear |
//! | 0xFD0..0xFFC | PID4..7, PID0..3, CID0..3 | RO | 0x04 0 0 0, 0x22 0xB8 0x1B 0, 0x0D 0xF0 0x05 0xB1 |
//!
//! Interrupt line: bit 0 = INTSTATUS. The counter decrements once per tick
//! while enabled. Going from 1 to 0 sets INTSTATUS if the interrupt enable is
//! set at that moment (clearing the enable later does not lower the line);
//! the counter then holds 0 for one tick and reloads from RELOAD. With RELOAD
//! 0 it stops at 0. Writing 0 to VALUE raises nothing. The EXTIN bits read
//! back but have no effect: nothing drives EXTIN (as in QEMU).

use crate::countdown::Countdown;
use crate::{id_register, zero_extend, Device, Ticks};

pub const CTRL: u64 = 0x000;
pub const VALUE: u64 = 0x004;
pub const RELOAD: u64 = 0x008;
pub const INTSTATUS: u64 = 0x00c;

pub const CTRL_EN: u32 = 1 << 0;
pub const CTRL_SELEXTEN: u32 = 1 << 1;
pub const CTRL_SELEXTCLK: u32 = 1 << 2;
pub const CTRL_IRQEN: u32 = 1 << 3;
const CTRL_MASK: u32 = 0xf;

pub const INT_IRQ: u32 = 1 << 0;

const IDS: [u8; 12] = [
    0x04, 0x00, 0x00, 0x00, 0x22, 0xb8, 0x1b, 0x00, 0x0d, 0xf0, 0x05, 0xb1,
];

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CmsdkTimer {
    ctrl: u32,
    intstatus: u32,
    counter: Countdown,
    /// Latest time seen, so that time never runs backwards inside the model.
    now: Ticks,
}

impl Default for CmsdkTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl CmsdkTimer {
    /// A timer clocked at the machine's tick rate (PCLK = system clock).
    pub fn new() -> Self {
        CmsdkTimer {
            ctrl: 0,
            intstatus: 0,
            counter: Countdown::new(1),
            now: 0,
        }
    }

    /// Bring the counter up to `now`, raising the interrupt for expiries.
    fn sync(&mut self, now: Ticks) -> Ticks {
        self.now = self.now.max(now);
        let fired = self.counter.expire_until(self.now);
        if fired > 0 && self.ctrl & CTRL_IRQEN != 0 {
            self.intstatus |= INT_IRQ;
        }
        self.now
    }
}

impl Device for CmsdkTimer {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "cmsdk-timer"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        let now = self.sync(now);
        let value = match offset {
            CTRL => self.ctrl,
            VALUE => self.counter.count(now) as u32,
            RELOAD => self.counter.limit() as u32,
            INTSTATUS => self.intstatus,
            _ => id_register(&IDS, offset).unwrap_or(0),
        };
        zero_extend(value, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        let now = self.sync(now);
        let value = zero_extend(value, size);
        let c = &mut self.counter;
        match offset {
            CTRL => {
                self.ctrl = value & CTRL_MASK;
                c.begin();
                if self.ctrl & CTRL_EN != 0 {
                    // With RELOAD 0 the count runs down once and stops.
                    c.run(c.limit() == 0);
                } else {
                    c.stop(now);
                }
                c.commit(now);
            }
            RELOAD => {
                c.begin();
                if value == 0 {
                    c.stop(now);
                }
                c.set_limit(value as u64, true);
                if value != 0 && self.ctrl & CTRL_EN != 0 {
                    // Restarts a timer that ran down with RELOAD 0.
                    c.run(false);
                }
                c.commit(now);
            }
            VALUE => {
                c.begin();
                if value == 0 && c.limit() == 0 {
                    c.stop(now);
                }
                c.set_count(value as u64);
                if value != 0 && self.ctrl & CTRL_EN != 0 {
                    c.run(c.limit() == 0);
                }
                c.commit(now);
            }
            INTSTATUS => self.intstatus &= !(value & INT_IRQ),
            _ => {}
        }
    }

    fn reset(&mut self) {
        self.ctrl = 0;
        self.intstatus = 0;
        let now = self.now;
        self.counter.begin();
        self.counter.stop(now);
        self.counter.set_limit(0, true);
        self.counter.commit(now);
    }

    fn next_deadline(&self) -> Option<Ticks> {
        // Expiries are caught up lazily on access; only those that can move
        // the interrupt line need a wake-up.
        if self.ctrl & CTRL_IRQEN != 0 && self.intstatus == 0 {
            self.counter.deadline()
        } else {
            None
        }
    }

    fn advance(&mut self, now: Ticks) {
        self.sync(now);
    }

    fn irq_lines(&self) -> u32 {
        self.intstatus & INT_IRQ
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the device the way a machine does: wake at every deadline up to `t`.
    fn run_to(d: &mut CmsdkTimer, t: Ticks) {
        while let Some(when) = d.next_deadline() {
            if when > t {
                break;
            }
            d.advance(when);
        }
        d.advance(t);
    }

    #[test]
    fn ids_match_qemu() {
        let mut d = CmsdkTimer::new();
        assert_eq!(d.read(0xfe0, 4, 0), 0x22);
        assert_eq!(d.read(0xfe4, 4, 0), 0xb8);
        assert_eq!(d.read(0xff0, 4, 0), 0x0d);
        assert_eq!(d.read(0xffc, 4, 0), 0xb1);
    }

    #[test]
    fn reset_state() {
        let mut d = CmsdkTimer::new();
        assert_eq!(d.read(CTRL, 4, 0), 0);
        assert_eq!(d.read(VALUE, 4, 0), 0);
        assert_eq!(d.read(RELOAD, 4, 0), 0);
        assert_eq!(d.read(INTSTATUS, 4, 0), 0);
        assert_eq!(d.next_deadline(), None);
    }

    #[test]
    fn periodic_count_interrupt_and_reload() {
        let mut d = CmsdkTimer::new();
        d.write(RELOAD, 4, 100, 10);
        assert_eq!(d.read(VALUE, 4, 10), 100);
        d.write(CTRL, 4, CTRL_EN | CTRL_IRQEN, 10);
        assert_eq!(d.read(VALUE, 4, 10), 100);
        assert_eq!(d.read(VALUE, 4, 50), 60);
        assert_eq!(d.next_deadline(), Some(110));
        run_to(&mut d, 109);
        assert_eq!(d.irq_lines(), 0);
        assert_eq!(d.read(VALUE, 4, 109), 1);
        run_to(&mut d, 110);
        assert_eq!(d.irq_lines(), 1);
        // Holds 0 for one tick, then reloads.
        assert_eq!(d.read(VALUE, 4, 110), 0);
        assert_eq!(d.read(VALUE, 4, 111), 100);
        d.write(INTSTATUS, 4, 1, 111);
        assert_eq!(d.irq_lines(), 0);
        // Next expiry one full period (RELOAD + 1) later.
        assert_eq!(d.next_deadline(), Some(211));
    }

    #[test]
    fn interrupt_needs_irqen_at_expiry_and_reads_are_exact_without_advance() {
        let mut d = CmsdkTimer::new();
        d.write(RELOAD, 4, 9, 0);
        d.write(CTRL, 4, CTRL_EN, 0);
        assert_eq!(d.next_deadline(), None);
        // Nobody called advance for a long time: the count is still exact.
        // Expiries at 9, 19, 29, ...; 1_000_000 - 999_999 = 1 tick past one.
        assert_eq!(d.read(VALUE, 4, 1_000_000), 9);
        assert_eq!(d.read(VALUE, 4, 1_000_001), 8);
        assert_eq!(d.read(INTSTATUS, 4, 1_000_001), 0);
        d.write(CTRL, 4, CTRL_EN | CTRL_IRQEN, 1_000_001);
        assert_eq!(d.next_deadline(), Some(1_000_009));
        d.advance(1_000_009);
        assert_eq!(d.irq_lines(), 1);
        // Clearing IRQEN does not drop a raised interrupt.
        d.write(CTRL, 4, CTRL_EN, 1_000_010);
        assert_eq!(d.irq_lines(), 1);
    }

    #[test]
    fn reload_zero_counts_down_once_and_stops() {
        let mut d = CmsdkTimer::new();
        d.write(CTRL, 4, CTRL_EN | CTRL_IRQEN, 0);
        d.write(VALUE, 4, 5, 0);
        assert_eq!(d.next_deadline(), Some(5));
        run_to(&mut d, 100);
        assert_eq!(d.irq_lines(), 1);
        assert_eq!(d.read(VALUE, 4, 100), 0);
        assert_eq!(d.next_deadline(), None);
        // Writing RELOAD restarts it as a periodic timer.
        d.write(INTSTATUS, 4, 1, 100);
        d.write(RELOAD, 4, 3, 100);
        assert_eq!(d.read(VALUE, 4, 101), 2);
        run_to(&mut d, 103);
        assert_eq!(d.irq_lines(), 1);
        assert_eq!(d.read(VALUE, 4, 104), 3);
    }

    #[test]
    fn writing_zero_to_value_reloads_without_interrupt() {
        let mut d = CmsdkTimer::new();
        d.write(RELOAD, 4, 10, 0);
        d.write(CTRL, 4, CTRL_EN | CTRL_IRQEN, 0);
        d.write(VALUE, 4, 0, 4);
        assert_eq!(d.read(VALUE, 4, 4), 0);
        run_to(&mut d, 5);
        assert_eq!(d.irq_lines(), 0);
        assert_eq!(d.read(VALUE, 4, 5), 10);
        run_to(&mut d, 15);
        assert_eq!(d.irq_lines(), 1);
    }

    #[test]
    fn disable_freezes_and_enable_resumes() {
        let mut d = CmsdkTimer::new();
        d.write(RELOAD, 4, 50, 0);
        d.write(CTRL, 4, CTRL_EN, 0);
        d.write(CTRL, 4, 0, 20);
        assert_eq!(d.read(VALUE, 4, 1000), 30);
        d.write(CTRL, 4, CTRL_EN | CTRL_IRQEN, 1000);
        assert_eq!(d.read(VALUE, 4, 1010), 20);
        assert_eq!(d.next_deadline(), Some(1030));
        d.reset();
        assert_eq!(d.read(VALUE, 4, 1040), 0);
        assert_eq!(d.read(RELOAD, 4, 1040), 0);
        assert_eq!(d.next_deadline(), None);
    }
}
