//! CMSDK APB dual-input timer: two SP804-style down-counters.
//!
//! Reference: ARM DDI0479 (Cortex-M System Design Kit TRM), "APB dual-input
//! timers" (ARM DDI0271 SP804 for the register model); behaviour matched to
//! QEMU `hw/timer/cmsdk-apb-dualtimer.c` (as in QEMU 7.2).
//!
//! Timer 1 at +0x00, timer 2 at +0x20, each:
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x00 | LOAD | RW | reload value; writing it also loads the count |
//! | 0x04 | VALUE | RO | current count |
//! | 0x08 | CONTROL | RW | b0 one-shot, b1 32-bit, b3:2 prescale (/1, /16, /256), b5 int enable, b6 periodic, b7 enable; reset 0x20 |
//! | 0x0C | INTCLR | WO | any write clears the interrupt |
//! | 0x10 | RIS | RO | raw interrupt status |
//! | 0x14 | MIS | RO | RIS & int enable |
//! | 0x18 | BGLOAD | RW | reload value, without touching the count |
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0xF00 | TIMERITCR | RW | b0 integration test mode |
//! | 0xF04 | TIMERITOP | WO | b0 drives TIMINT1, b1 TIMINT2 in test mode |
//! | 0xFD0..0xFFC | PID4..7, PID0..3, CID0..3 | RO | 0x04 0 0 0, 0x23 0xB8 0x1B 0, 0x0D 0xF0 0x05 0xB1 |
//!
//! Interrupt lines: bit 0 combined (TIMINTC), bit 1 timer 1, bit 2 timer 2.
//!
//! Free-running mode (periodic bit clear) wraps at 0xFFFF or 0xFFFF_FFFF;
//! LOAD still sets the count. In 16-bit mode VALUE and LOAD read their upper
//! half from the last 32-bit value written or held, as QEMU keeps it.
//! QEMU quirk kept on purpose: writing LOAD while the timer is enabled in
//! periodic mode turns it into a one-shot until CONTROL is written again
//! (observed on qemu-system-arm 7.2).

use crate::countdown::Countdown;
use crate::{id_register, zero_extend, Device, Ticks};

pub const TIMER1: u64 = 0x00;
pub const TIMER2: u64 = 0x20;
pub const LOAD: u64 = 0x00;
pub const VALUE: u64 = 0x04;
pub const CONTROL: u64 = 0x08;
pub const INTCLR: u64 = 0x0c;
pub const RIS: u64 = 0x10;
pub const MIS: u64 = 0x14;
pub const BGLOAD: u64 = 0x18;
pub const TIMERITCR: u64 = 0xf00;
pub const TIMERITOP: u64 = 0xf04;

pub const CONTROL_ONESHOT: u32 = 1 << 0;
pub const CONTROL_SIZE32: u32 = 1 << 1;
pub const CONTROL_PRESCALE_SHIFT: u32 = 2;
pub const CONTROL_PRESCALE: u32 = 3 << CONTROL_PRESCALE_SHIFT;
pub const CONTROL_INTEN: u32 = 1 << 5;
pub const CONTROL_PERIODIC: u32 = 1 << 6;
pub const CONTROL_ENABLE: u32 = 1 << 7;
const CONTROL_MASK: u32 = CONTROL_ONESHOT
    | CONTROL_SIZE32
    | CONTROL_PRESCALE
    | CONTROL_INTEN
    | CONTROL_PERIODIC
    | CONTROL_ENABLE;

pub const LINE_COMBINED: u32 = 1 << 0;
pub const LINE_TIMER1: u32 = 1 << 1;
pub const LINE_TIMER2: u32 = 1 << 2;

const IDS: [u8; 12] = [
    0x04, 0x00, 0x00, 0x00, 0x23, 0xb8, 0x1b, 0x00, 0x0d, 0xf0, 0x05, 0xb1,
];

/// Replace the low 16 bits of `high` with those of `low`.
fn with_low16(high: u32, low: u64) -> u32 {
    (high & 0xffff_0000) | (low as u32 & 0xffff)
}

fn prescale_divisor(control: u32) -> u64 {
    match (control & CONTROL_PRESCALE) >> CONTROL_PRESCALE_SHIFT {
        0 => 1,
        1 => 16,
        // 3 is undefined; treated like 2.
        _ => 256,
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Module {
    control: u32,
    intstatus: bool,
    /// LOAD as written; in 16-bit periodic mode the counter only holds the
    /// low half.
    load: u32,
    /// Upper half of VALUE while in 16-bit mode.
    value: u32,
    counter: Countdown,
}

impl Module {
    fn new() -> Self {
        let mut m = Module {
            control: 0,
            intstatus: false,
            load: 0,
            value: 0,
            counter: Countdown::new(1),
        };
        m.reset(0);
        m
    }

    fn reset(&mut self, now: Ticks) {
        self.control = CONTROL_INTEN;
        self.intstatus = false;
        self.load = 0;
        self.value = 0xffff_ffff;
        let c = &mut self.counter;
        c.begin();
        c.stop(now);
        // Free-running, 16-bit: wraps at 0xFFFF.
        c.set_limit(0xffff, true);
        c.set_period(prescale_divisor(CONTROL_INTEN), now);
        c.commit(now);
    }

    fn masked(&self) -> bool {
        self.intstatus && self.control & CONTROL_INTEN != 0
    }

    fn sync(&mut self, now: Ticks) {
        if self.counter.expire_until(now) > 0 {
            self.intstatus = true;
        }
    }

    fn read(&self, reg: u64, now: Ticks) -> Option<u32> {
        let size32 = self.control & CONTROL_SIZE32 != 0;
        Some(match reg {
            LOAD | BGLOAD => {
                if self.control & CONTROL_PERIODIC != 0 {
                    let limit = self.counter.limit();
                    if size32 {
                        limit as u32
                    } else {
                        with_low16(self.load, limit)
                    }
                } else {
                    self.load
                }
            }
            VALUE => {
                let count = self.counter.count(now);
                if size32 {
                    count as u32
                } else {
                    with_low16(self.value, count)
                }
            }
            CONTROL => self.control,
            RIS => self.intstatus as u32,
            MIS => self.masked() as u32,
            _ => return None,
        })
    }

    fn write(&mut self, reg: u64, value: u32, now: Ticks) {
        let size32 = self.control & CONTROL_SIZE32 != 0;
        let periodic = self.control & CONTROL_PERIODIC != 0;
        match reg {
            LOAD => {
                self.load = value;
                self.value = value;
                let v = if size32 { value } else { value & 0xffff } as u64;
                let c = &mut self.counter;
                c.begin();
                if !periodic {
                    // Free-running: the wrap limit stays, the count changes.
                    c.set_count(v);
                } else {
                    if v == 0 {
                        c.stop(now);
                    }
                    c.set_limit(v, true);
                    if v != 0 && self.control & CONTROL_ENABLE != 0 {
                        // QEMU restarts it as a one-shot, whatever CONTROL says.
                        c.run(true);
                    }
                }
                c.commit(now);
            }
            BGLOAD => {
                self.load = value;
                if periodic {
                    let v = if size32 { value } else { value & 0xffff } as u64;
                    self.counter.begin();
                    self.counter.set_limit(v, false);
                    self.counter.commit(now);
                }
            }
            CONTROL => self.write_control(value, now),
            INTCLR => self.intstatus = false,
            _ => {}
        }
    }

    /// CONTROL changes are applied in QEMU's order: stop, prescaler, mode,
    /// width, start; each step sees the state the previous one left.
    fn write_control(&mut self, value: u32, now: Ticks) {
        let new = value & CONTROL_MASK;
        let old = self.control;
        let changed = old ^ new;
        let c = &mut self.counter;
        c.begin();

        if changed & !new & CONTROL_ENABLE != 0 {
            c.stop(now);
        }
        if changed & CONTROL_PRESCALE != 0 {
            c.set_period(prescale_divisor(new), now);
        }
        if changed & CONTROL_PERIODIC != 0 {
            let mut limit = if new & CONTROL_PERIODIC != 0 {
                self.load
            } else {
                let mut held = c.limit() as u32;
                if old & CONTROL_SIZE32 == 0 {
                    held = with_low16(self.load, held as u64);
                }
                self.load = held;
                0xffff_ffff
            };
            // The width is still the old one here.
            if old & CONTROL_SIZE32 == 0 {
                limit &= 0xffff;
            }
            c.set_limit(limit as u64, false);
        }
        if changed & CONTROL_SIZE32 != 0 {
            let mut count = c.count(now) as u32;
            let mut limit = c.limit() as u32;
            if new & CONTROL_SIZE32 != 0 {
                count = with_low16(self.value, count as u64);
            } else {
                self.value = count;
                count &= 0xffff;
            }
            if new & CONTROL_PERIODIC != 0 {
                if new & CONTROL_SIZE32 != 0 {
                    limit = with_low16(self.load, limit as u64);
                } else {
                    self.load = limit;
                    limit &= 0xffff;
                }
            } else if new & CONTROL_SIZE32 != 0 {
                limit = 0xffff_ffff;
            } else {
                limit = 0xffff;
            }
            c.set_count(count as u64);
            c.set_limit(limit as u64, false);
        }
        if new & CONTROL_ENABLE != 0 {
            // Also restarts an expired one-shot turned periodic.
            c.run(new & CONTROL_ONESHOT != 0);
        }
        self.control = new;
        c.commit(now);
    }

    fn deadline(&self) -> Option<Ticks> {
        if self.control & CONTROL_INTEN != 0 && !self.intstatus {
            self.counter.deadline()
        } else {
            None
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CmsdkDualTimer {
    timers: [Module; 2],
    itcr: u32,
    itop: u32,
    now: Ticks,
}

impl Default for CmsdkDualTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl CmsdkDualTimer {
    /// Both counters clocked at the machine's tick rate (TIMCLK = system clock).
    pub fn new() -> Self {
        CmsdkDualTimer {
            timers: [Module::new(), Module::new()],
            itcr: 0,
            itop: 0,
            now: 0,
        }
    }

    fn sync(&mut self, now: Ticks) -> Ticks {
        self.now = self.now.max(now);
        for m in &mut self.timers {
            m.sync(self.now);
        }
        self.now
    }
}

impl Device for CmsdkDualTimer {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "cmsdk-dualtimer"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        let now = self.sync(now);
        let value = if offset >= TIMERITCR {
            match offset {
                TIMERITCR => self.itcr,
                _ => id_register(&IDS, offset).unwrap_or(0),
            }
        } else {
            self.timers
                .get((offset >> 5) as usize)
                .and_then(|m| m.read(offset & 0x1f, now))
                .unwrap_or(0)
        };
        zero_extend(value, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        let now = self.sync(now);
        let value = zero_extend(value, size);
        if offset >= TIMERITCR {
            match offset {
                TIMERITCR => self.itcr = value & 1,
                TIMERITOP => self.itop = value & 3,
                _ => {}
            }
        } else if let Some(m) = self.timers.get_mut((offset >> 5) as usize) {
            m.write(offset & 0x1f, value, now);
        }
    }

    fn reset(&mut self) {
        let now = self.now;
        for m in &mut self.timers {
            m.reset(now);
        }
        self.itcr = 0;
        self.itop = 0;
    }

    fn next_deadline(&self) -> Option<Ticks> {
        if self.itcr != 0 {
            // Test mode: the lines follow TIMERITOP only.
            return None;
        }
        self.timers.iter().filter_map(Module::deadline).min()
    }

    fn advance(&mut self, now: Ticks) {
        self.sync(now);
    }

    fn irq_lines(&self) -> u32 {
        let (t1, t2) = if self.itcr != 0 {
            (self.itop & 1 != 0, self.itop & 2 != 0)
        } else {
            (self.timers[0].masked(), self.timers[1].masked())
        };
        let mut lines = 0;
        if t1 || t2 {
            lines |= LINE_COMBINED;
        }
        if t1 {
            lines |= LINE_TIMER1;
        }
        if t2 {
            lines |= LINE_TIMER2;
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN_PERIODIC_32_INT: u32 =
        CONTROL_ENABLE | CONTROL_PERIODIC | CONTROL_SIZE32 | CONTROL_INTEN;

    fn run_to(d: &mut CmsdkDualTimer, t: Ticks) {
        while let Some(when) = d.next_deadline() {
            if when > t {
                break;
            }
            d.advance(when);
        }
        d.advance(t);
    }

    #[test]
    fn reset_values_match_qemu() {
        // Observed on qemu-system-arm 7.2: CONTROL 0x20, VALUE 0xFFFFFFFF, LOAD 0.
        let mut d = CmsdkDualTimer::new();
        for base in [TIMER1, TIMER2] {
            assert_eq!(d.read(base + CONTROL, 4, 0), 0x20);
            assert_eq!(d.read(base + VALUE, 4, 0), 0xffff_ffff);
            assert_eq!(d.read(base + LOAD, 4, 0), 0);
            assert_eq!(d.read(base + RIS, 4, 0), 0);
        }
        assert_eq!(d.read(0xfe0, 4, 0), 0x23);
        assert_eq!(d.read(0xff4, 4, 0), 0xf0);
        assert_eq!(d.irq_lines(), 0);
        assert_eq!(d.next_deadline(), None);
    }

    #[test]
    fn periodic_timer_interrupts_every_load_plus_one() {
        let mut d = CmsdkDualTimer::new();
        d.write(TIMER2 + LOAD, 4, 999, 0);
        d.write(TIMER2 + CONTROL, 4, EN_PERIODIC_32_INT, 0);
        assert_eq!(d.read(TIMER2 + VALUE, 4, 100), 899);
        assert_eq!(d.next_deadline(), Some(999));
        run_to(&mut d, 999);
        assert_eq!(d.irq_lines(), LINE_COMBINED | LINE_TIMER2);
        assert_eq!(d.read(TIMER2 + MIS, 4, 999), 1);
        assert_eq!(d.read(TIMER1 + MIS, 4, 999), 0);
        d.write(TIMER2 + INTCLR, 4, 0, 1000);
        assert_eq!(d.irq_lines(), 0);
        assert_eq!(d.read(TIMER2 + VALUE, 4, 1000), 999);
        assert_eq!(d.next_deadline(), Some(1999));
    }

    #[test]
    fn load_while_running_makes_it_one_shot_like_qemu() {
        let mut d = CmsdkDualTimer::new();
        d.write(TIMER1 + CONTROL, 4, EN_PERIODIC_32_INT, 0);
        d.write(TIMER1 + LOAD, 4, 5000, 0);
        run_to(&mut d, 5000);
        assert_eq!(d.read(TIMER1 + RIS, 4, 5000), 1);
        d.write(TIMER1 + INTCLR, 4, 1, 5001);
        run_to(&mut d, 20_000);
        assert_eq!(d.read(TIMER1 + RIS, 4, 20_000), 0);
        assert_eq!(d.read(TIMER1 + VALUE, 4, 20_000), 0);
        // Writing CONTROL again restores periodic operation.
        d.write(TIMER1 + CONTROL, 4, EN_PERIODIC_32_INT, 20_000);
        assert_eq!(d.read(TIMER1 + VALUE, 4, 20_001), 5000);
        run_to(&mut d, 30_000);
        assert_eq!(d.read(TIMER1 + RIS, 4, 30_000), 1);
    }

    #[test]
    fn one_shot_stops_at_zero() {
        let mut d = CmsdkDualTimer::new();
        d.write(TIMER1 + LOAD, 4, 10, 0);
        d.write(
            TIMER1 + CONTROL,
            4,
            CONTROL_ENABLE | CONTROL_ONESHOT | CONTROL_SIZE32 | CONTROL_INTEN | CONTROL_PERIODIC,
            0,
        );
        run_to(&mut d, 50);
        assert_eq!(d.irq_lines(), LINE_COMBINED | LINE_TIMER1);
        assert_eq!(d.read(TIMER1 + VALUE, 4, 50), 0);
        assert_eq!(d.next_deadline(), None);
    }

    #[test]
    fn free_running_16_bit_wraps_and_keeps_upper_half() {
        let mut d = CmsdkDualTimer::new();
        d.write(TIMER1 + LOAD, 4, 0x1234_0010, 0);
        assert_eq!(d.read(TIMER1 + VALUE, 4, 0), 0x1234_0010);
        d.write(TIMER1 + CONTROL, 4, CONTROL_ENABLE | CONTROL_INTEN, 0);
        assert_eq!(d.read(TIMER1 + VALUE, 4, 6), 0x1234_000a);
        run_to(&mut d, 0x10);
        assert_eq!(d.read(TIMER1 + RIS, 4, 0x10), 1);
        // Holds 0 one tick, then wraps to 0xFFFF.
        assert_eq!(d.read(TIMER1 + VALUE, 4, 0x11), 0x1234_ffff);
        assert_eq!(d.read(TIMER1 + LOAD, 4, 0x11), 0x1234_0010);
    }

    #[test]
    fn prescaler_divides_the_count_rate() {
        let mut d = CmsdkDualTimer::new();
        d.write(TIMER1 + LOAD, 4, 4, 0);
        let ctrl = EN_PERIODIC_32_INT | (1 << CONTROL_PRESCALE_SHIFT);
        d.write(TIMER1 + CONTROL, 4, ctrl, 0);
        assert_eq!(d.read(TIMER1 + VALUE, 4, 15), 4);
        assert_eq!(d.read(TIMER1 + VALUE, 4, 16), 3);
        assert_eq!(d.next_deadline(), Some(64));
        d.write(TIMER1 + INTCLR, 4, 1, 16);
        let ctrl = EN_PERIODIC_32_INT | (2 << CONTROL_PRESCALE_SHIFT);
        d.write(TIMER1 + CONTROL, 4, ctrl, 16);
        assert_eq!(d.next_deadline(), Some(16 + 3 * 256));
    }

    #[test]
    fn bgload_changes_next_period_only() {
        let mut d = CmsdkDualTimer::new();
        d.write(TIMER1 + LOAD, 4, 100, 0);
        d.write(TIMER1 + CONTROL, 4, EN_PERIODIC_32_INT, 0);
        d.write(TIMER1 + BGLOAD, 4, 10, 50);
        assert_eq!(d.read(TIMER1 + VALUE, 4, 50), 50);
        assert_eq!(d.read(TIMER1 + LOAD, 4, 50), 10);
        run_to(&mut d, 100);
        assert_eq!(d.irq_lines() & LINE_TIMER1, LINE_TIMER1);
        assert_eq!(d.read(TIMER1 + VALUE, 4, 101), 10);
    }

    #[test]
    fn masked_status_and_integration_test_mode() {
        let mut d = CmsdkDualTimer::new();
        d.write(TIMER1 + LOAD, 4, 3, 0);
        d.write(
            TIMER1 + CONTROL,
            4,
            CONTROL_ENABLE | CONTROL_PERIODIC | CONTROL_SIZE32,
            0,
        );
        d.advance(3);
        assert_eq!(d.read(TIMER1 + RIS, 4, 3), 1);
        assert_eq!(d.read(TIMER1 + MIS, 4, 3), 0);
        assert_eq!(d.irq_lines(), 0);
        d.write(TIMERITCR, 4, 1, 3);
        d.write(TIMERITOP, 4, 2, 3);
        assert_eq!(d.read(TIMERITCR, 4, 3), 1);
        assert_eq!(d.read(TIMERITOP, 4, 3), 0);
        assert_eq!(d.irq_lines(), LINE_COMBINED | LINE_TIMER2);
        d.reset();
        assert_eq!(d.irq_lines(), 0);
        assert_eq!(d.read(TIMER1 + CONTROL, 4, 4), 0x20);
    }

    #[test]
    fn sixteen_bit_periodic_uses_low_half_of_load() {
        let mut d = CmsdkDualTimer::new();
        d.write(TIMER1 + CONTROL, 4, CONTROL_PERIODIC | CONTROL_INTEN, 0);
        d.write(TIMER1 + LOAD, 4, 0x0001_0005, 0);
        assert_eq!(d.read(TIMER1 + LOAD, 4, 0), 0x0001_0005);
        assert_eq!(d.read(TIMER1 + VALUE, 4, 0), 0x0001_0005);
        d.write(
            TIMER1 + CONTROL,
            4,
            CONTROL_PERIODIC | CONTROL_INTEN | CONTROL_ENABLE,
            0,
        );
        assert_eq!(d.next_deadline(), Some(5));
        // Widening to 32 bits keeps the count and takes the upper half back.
        d.write(
            TIMER1 + CONTROL,
            4,
            CONTROL_PERIODIC | CONTROL_INTEN | CONTROL_ENABLE | CONTROL_SIZE32,
            2,
        );
        assert_eq!(d.read(TIMER1 + VALUE, 4, 2), 0x0001_0003);
        assert_eq!(d.read(TIMER1 + LOAD, 4, 2), 0x0001_0005);
    }
}
