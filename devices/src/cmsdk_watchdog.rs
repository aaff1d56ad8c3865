//! CMSDK APB watchdog (SP805-style).
//!
//! Reference: ARM DDI0479 (Cortex-M System Design Kit TRM), "APB watchdog";
//! behaviour matched to QEMU 7.2 `hw/watchdog/cmsdk-apb-watchdog.c`, the
//! reference emulator (Debian bookworm).
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x000 | WDOGLOAD | RW | reload value; writing it reloads and (re)starts the counter; reset 0xFFFF_FFFF |
//! | 0x004 | WDOGVALUE | RO | current count |
//! | 0x008 | WDOGCONTROL | RW | b0 INTEN (interrupt enable), b1 RESEN (reset enable) |
//! | 0x00C | WDOGINTCLR | WO | any write clears the interrupt and reloads the counter |
//! | 0x010 | WDOGRIS | RO | raw interrupt status |
//! | 0x014 | WDOGMIS | RO | RIS & INTEN |
//! | 0xC00 | WDOGLOCK | RW | write 0x1ACCE551 to unlock, anything else locks; reads 1 when locked |
//! | 0xF00 | WDOGITCR | RW | b0 integration test mode |
//! | 0xF04 | WDOGITOP | WO | b0 drives WDOGRES, b1 WDOGINT in test mode |
//! | 0xFD0..0xFFC | PID4..7, PID0..3, CID0..3 | RO | 0x04 0 0 0, 0x24 0xB8 0x1B 0, 0x0D 0xF0 0x05 0xB1 |
//!
//! Interrupt lines: bit 0 WDOGINT (RIS & INTEN; the board wires it to NMI),
//! bit 1 WDOGRES, the reset request (set by the second expiry while the
//! interrupt is still pending, shown while RESEN is set; the machine is
//! expected to reset, which clears it).
//!
//! As in QEMU 7.2 the counter runs from reset whatever INTEN says: expiries
//! set RIS even while INTEN is clear, and the second one stops the counter
//! and latches the reset request. While locked, writes other than to
//! WDOGLOCK are ignored. (QEMU 9.1 and later instead run the counter only
//! while INTEN is set, as the TRM describes.)

use crate::countdown::Countdown;
use crate::{id_register, zero_extend, Device, Ticks};

pub const WDOGLOAD: u64 = 0x000;
pub const WDOGVALUE: u64 = 0x004;
pub const WDOGCONTROL: u64 = 0x008;
pub const WDOGINTCLR: u64 = 0x00c;
pub const WDOGRIS: u64 = 0x010;
pub const WDOGMIS: u64 = 0x014;
pub const WDOGLOCK: u64 = 0xc00;
pub const WDOGITCR: u64 = 0xf00;
pub const WDOGITOP: u64 = 0xf04;

pub const CONTROL_INTEN: u32 = 1 << 0;
pub const CONTROL_RESEN: u32 = 1 << 1;
const CONTROL_MASK: u32 = CONTROL_INTEN | CONTROL_RESEN;
pub const UNLOCK_KEY: u32 = 0x1acc_e551;
pub const ITOP_WDOGRES: u32 = 1 << 0;
pub const ITOP_WDOGINT: u32 = 1 << 1;

pub const LINE_INTERRUPT: u32 = 1 << 0;
pub const LINE_RESET: u32 = 1 << 1;

const IDS: [u8; 12] = [
    0x04, 0x00, 0x00, 0x00, 0x24, 0xb8, 0x1b, 0x00, 0x0d, 0xf0, 0x05, 0xb1,
];

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CmsdkWatchdog {
    control: u32,
    intstatus: bool,
    resetstatus: bool,
    locked: bool,
    itcr: u32,
    itop: u32,
    counter: Countdown,
    now: Ticks,
}

impl Default for CmsdkWatchdog {
    fn default() -> Self {
        Self::new()
    }
}

impl CmsdkWatchdog {
    /// A watchdog clocked at the machine's tick rate (WDOGCLK = system clock),
    /// counting from time 0.
    pub fn new() -> Self {
        let mut w = CmsdkWatchdog {
            control: 0,
            intstatus: false,
            resetstatus: false,
            locked: false,
            itcr: 0,
            itop: 0,
            counter: Countdown::new(1),
            now: 0,
        };
        w.reset();
        w
    }

    fn sync(&mut self, now: Ticks) -> Ticks {
        self.now = self.now.max(now);
        while let Some(when) = self.counter.deadline() {
            if when > self.now {
                break;
            }
            if self.counter.expire() {
                if !self.intstatus {
                    self.intstatus = true;
                } else {
                    // Second expiry with the interrupt unserviced.
                    self.resetstatus = true;
                    self.counter.begin();
                    self.counter.stop(when);
                    self.counter.commit(when);
                }
            }
        }
        self.now
    }
}

impl Device for CmsdkWatchdog {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "cmsdk-watchdog"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        let now = self.sync(now);
        let value = match offset {
            WDOGLOAD => self.counter.limit() as u32,
            WDOGVALUE => self.counter.count(now) as u32,
            WDOGCONTROL => self.control,
            WDOGRIS => self.intstatus as u32,
            WDOGMIS => (self.intstatus && self.control & CONTROL_INTEN != 0) as u32,
            WDOGLOCK => self.locked as u32,
            WDOGITCR => self.itcr,
            _ => id_register(&IDS, offset).unwrap_or(0),
        };
        zero_extend(value, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        let now = self.sync(now);
        let value = zero_extend(value, size);
        if self.locked && offset != WDOGLOCK {
            return;
        }
        match offset {
            WDOGLOAD => {
                self.counter.begin();
                self.counter.set_limit(value as u64, true);
                self.counter.run(false);
                self.counter.commit(now);
            }
            WDOGCONTROL => self.control = value & CONTROL_MASK,
            WDOGINTCLR => {
                self.intstatus = false;
                let limit = self.counter.limit();
                self.counter.begin();
                self.counter.set_count(limit);
                self.counter.commit(now);
            }
            WDOGLOCK => self.locked = value != UNLOCK_KEY,
            WDOGITCR => self.itcr = value & 1,
            WDOGITOP => self.itop = value & (ITOP_WDOGRES | ITOP_WDOGINT),
            _ => {}
        }
    }

    fn reset(&mut self) {
        let now = self.now;
        self.control = 0;
        self.intstatus = false;
        self.resetstatus = false;
        self.locked = false;
        self.itcr = 0;
        self.itop = 0;
        self.counter.begin();
        self.counter.stop(now);
        self.counter.set_limit(0xffff_ffff, true);
        self.counter.run(false);
        self.counter.commit(now);
    }

    fn next_deadline(&self) -> Option<Ticks> {
        // Wake only for expiries that can move a line: the first one while
        // INTEN is set, any while RESEN is (the second expiry latches the
        // reset). Others are caught up on the next access.
        let wanted = (self.control & CONTROL_INTEN != 0 && !self.intstatus)
            || self.control & CONTROL_RESEN != 0;
        if wanted && self.itcr == 0 {
            self.counter.deadline()
        } else {
            None
        }
    }

    fn advance(&mut self, now: Ticks) {
        self.sync(now);
    }

    fn irq_lines(&self) -> u32 {
        let (int, res) = if self.itcr != 0 {
            (self.itop & ITOP_WDOGINT != 0, self.itop & ITOP_WDOGRES != 0)
        } else {
            (
                self.intstatus && self.control & CONTROL_INTEN != 0,
                self.resetstatus && self.control & CONTROL_RESEN != 0,
            )
        };
        (int as u32 * LINE_INTERRUPT) | (res as u32 * LINE_RESET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_to(d: &mut CmsdkWatchdog, t: Ticks) {
        while let Some(when) = d.next_deadline() {
            if when > t {
                break;
            }
            d.advance(when);
        }
        d.advance(t);
    }

    #[test]
    fn counts_from_reset_like_qemu_7_2() {
        let mut w = CmsdkWatchdog::new();
        assert_eq!(w.read(WDOGLOAD, 4, 0), 0xffff_ffff);
        assert_eq!(w.read(WDOGVALUE, 4, 0), 0xffff_ffff);
        assert_eq!(w.read(WDOGVALUE, 4, 1000), 0xffff_ffff - 1000);
        assert_eq!(w.read(WDOGCONTROL, 4, 1000), 0);
        assert_eq!(w.read(WDOGLOCK, 4, 1000), 0);
        assert_eq!(w.read(0xfe0, 4, 0), 0x24);
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn first_expiry_interrupts_second_requests_reset() {
        let mut w = CmsdkWatchdog::new();
        w.write(WDOGLOAD, 4, 100, 0);
        w.write(WDOGCONTROL, 4, CONTROL_INTEN | CONTROL_RESEN, 0);
        assert_eq!(w.next_deadline(), Some(100));
        run_to(&mut w, 99);
        assert_eq!(w.irq_lines(), 0);
        run_to(&mut w, 100);
        assert_eq!(w.irq_lines(), LINE_INTERRUPT);
        assert_eq!(w.read(WDOGMIS, 4, 100), 1);
        // Reloads after one tick at zero; second expiry 101 ticks later.
        assert_eq!(w.read(WDOGVALUE, 4, 101), 100);
        assert_eq!(w.next_deadline(), Some(201));
        run_to(&mut w, 500);
        assert_eq!(w.irq_lines(), LINE_INTERRUPT | LINE_RESET);
        // The counter stopped at zero.
        assert_eq!(w.read(WDOGVALUE, 4, 500), 0);
        assert_eq!(w.next_deadline(), None);
        w.reset();
        assert_eq!(w.irq_lines(), 0);
    }

    #[test]
    fn servicing_the_interrupt_reloads_and_avoids_reset() {
        let mut w = CmsdkWatchdog::new();
        w.write(WDOGLOAD, 4, 50, 0);
        w.write(WDOGCONTROL, 4, CONTROL_INTEN | CONTROL_RESEN, 0);
        for k in 1..=5u64 {
            let t = w.next_deadline().unwrap();
            w.advance(t);
            assert_eq!(w.irq_lines(), LINE_INTERRUPT, "round {k}");
            w.write(WDOGINTCLR, 4, 1, t + 3);
            assert_eq!(w.irq_lines(), 0);
            assert_eq!(w.read(WDOGVALUE, 4, t + 3), 50);
        }
    }

    #[test]
    fn reset_request_waits_for_resen() {
        let mut w = CmsdkWatchdog::new();
        w.write(WDOGLOAD, 4, 10, 0);
        w.write(WDOGCONTROL, 4, CONTROL_INTEN, 0);
        run_to(&mut w, 100);
        assert_eq!(w.irq_lines(), LINE_INTERRUPT);
        w.write(WDOGCONTROL, 4, CONTROL_INTEN | CONTROL_RESEN, 100);
        assert_eq!(w.irq_lines(), LINE_INTERRUPT | LINE_RESET);
    }

    #[test]
    fn resen_alone_still_wakes_for_the_reset() {
        let mut w = CmsdkWatchdog::new();
        w.write(WDOGLOAD, 4, 10, 0);
        w.write(WDOGCONTROL, 4, CONTROL_RESEN, 0);
        run_to(&mut w, 21);
        assert_eq!(w.irq_lines(), LINE_RESET);
    }

    #[test]
    fn lock_blocks_writes() {
        let mut w = CmsdkWatchdog::new();
        w.write(WDOGLOCK, 4, 0, 0);
        assert_eq!(w.read(WDOGLOCK, 4, 0), 1);
        w.write(WDOGLOAD, 4, 5, 0);
        w.write(WDOGCONTROL, 4, CONTROL_INTEN, 0);
        assert_eq!(w.read(WDOGLOAD, 4, 0), 0xffff_ffff);
        assert_eq!(w.read(WDOGCONTROL, 4, 0), 0);
        w.write(WDOGLOCK, 4, UNLOCK_KEY, 0);
        assert_eq!(w.read(WDOGLOCK, 4, 0), 0);
        w.write(WDOGLOAD, 4, 5, 0);
        assert_eq!(w.read(WDOGLOAD, 4, 0), 5);
    }

    #[test]
    fn integration_test_outputs() {
        let mut w = CmsdkWatchdog::new();
        w.write(WDOGITCR, 4, 1, 0);
        w.write(WDOGITOP, 4, ITOP_WDOGRES, 0);
        assert_eq!(w.irq_lines(), LINE_RESET);
        w.write(WDOGITOP, 4, ITOP_WDOGINT, 0);
        assert_eq!(w.irq_lines(), LINE_INTERRUPT);
        assert_eq!(w.read(WDOGITOP, 4, 0), 0);
        w.write(WDOGITCR, 4, 0, 0);
        assert_eq!(w.irq_lines(), 0);
    }

    #[test]
    fn expiries_without_inten_still_latch_status() {
        let mut w = CmsdkWatchdog::new();
        w.write(WDOGLOAD, 4, 20, 0);
        assert_eq!(w.next_deadline(), None);
        assert_eq!(w.read(WDOGRIS, 4, 20), 1);
        assert_eq!(w.read(WDOGMIS, 4, 20), 0);
        assert_eq!(w.irq_lines(), 0);
        // The second expiry latched the reset request; RESEN exposes it.
        assert_eq!(w.read(WDOGVALUE, 4, 100), 0);
        w.write(WDOGCONTROL, 4, CONTROL_RESEN, 100);
        assert_eq!(w.irq_lines(), LINE_RESET);
    }
}
