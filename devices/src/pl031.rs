//! ARM PrimeCell Real Time Clock (PL031).
//!
//! Reference: ARM DDI 0224 (PL031 TRM); behaviour matched to QEMU
//! `hw/rtc/pl031.c`.
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x000 | DR | RO | seconds counter |
//! | 0x004 | MR | RW | match value: RIS is set when DR reaches it |
//! | 0x008 | LR | RW | write: load DR with this value; read: last value loaded |
//! | 0x00C | CR | RW | b0 start: reads 1, writes ignored |
//! | 0x010 / 0x014 / 0x018 / 0x01C | IMSC / RIS / MIS / ICR | RW / RO / RO / WO | b0 match interrupt |
//! | 0xFE0..0xFFC | PeriphID0..3, PCellID0..3 | RO | 0x31 0x10 0x04 0x00, 0x0D 0xF0 0x05 0xB1 |
//!
//! One interrupt line, bit 0: MIS.
//!
//! DR counts whole virtual seconds: `epoch + elapsed + offset`, where the
//! offset is whatever a write to LR made it. The counter ticks on the
//! boundaries of the machine's seconds (tick `n * clock_hz`), whatever the
//! time of the LR write, as the 1 Hz clock of the hardware keeps its phase.
//! Writing MR (or LR) so that DR already equals MR sets RIS at once, as in
//! QEMU; otherwise RIS is set at the second DR becomes MR.
//!
//! Like QEMU's model (which has no reset at all) and a battery-backed part,
//! `reset` leaves the counter running; it clears MR, LR and the interrupt
//! registers. PeriphID2 is the TRM's 0x04; QEMU reads 0x14, which Linux's
//! AMBA match masks away.

use crate::{extract_read, Device, Ticks};

pub const DR: u64 = 0x000;
pub const MR: u64 = 0x004;
pub const LR: u64 = 0x008;
pub const CR: u64 = 0x00c;
pub const IMSC: u64 = 0x010;
pub const RIS: u64 = 0x014;
pub const MIS: u64 = 0x018;
pub const ICR: u64 = 0x01c;

const IDS: [u8; 8] = [0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Pl031 {
    clock_hz: u64,
    /// DR = `offset` + whole seconds elapsed since tick 0 (mod 2^32).
    offset: u32,
    mr: u32,
    lr: u32,
    imsc: u32,
    ris: u32,
    /// The latest time seen; matches up to it have been accounted for.
    now: Ticks,
}

impl Pl031 {
    /// `clock_hz` is the machine clock; DR reads `epoch_secs` (seconds
    /// since 1970, truncated to 32 bits as the register is) at tick 0.
    pub fn new(clock_hz: u64, epoch_secs: u64) -> Self {
        Pl031 {
            clock_hz: clock_hz.max(1),
            offset: epoch_secs as u32,
            mr: 0,
            lr: 0,
            imsc: 0,
            ris: 0,
            now: 0,
        }
    }

    fn seconds(&self, t: Ticks) -> u64 {
        t / self.clock_hz
    }

    fn count_at(&self, t: Ticks) -> u32 {
        self.offset.wrapping_add(self.seconds(t) as u32)
    }

    /// Seconds from the latest time seen until DR next becomes MR (2^32
    /// when it equals MR now).
    fn seconds_to_match(&self) -> u64 {
        match self.mr.wrapping_sub(self.count_at(self.now)) {
            0 => 1 << 32,
            k => k as u64,
        }
    }

    /// Bring time forward to `now`, setting RIS if DR passed MR on the way.
    fn sync(&mut self, now: Ticks) {
        if now <= self.now {
            return;
        }
        let passed = self.seconds(now) - self.seconds(self.now);
        if passed >= self.seconds_to_match() {
            self.ris = 1;
        }
        self.now = now;
    }

    fn check_match_now(&mut self) {
        if self.count_at(self.now) == self.mr {
            self.ris = 1;
        }
    }
}

impl Device for Pl031 {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "pl031"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        self.sync(now);
        let value = match offset & !3 {
            DR => self.count_at(self.now),
            MR => self.mr,
            LR => self.lr,
            CR => 1,
            IMSC => self.imsc,
            RIS => self.ris,
            MIS => self.ris & self.imsc,
            o @ 0xfe0..=0xffc => IDS[((o - 0xfe0) / 4) as usize] as u32,
            _ => 0,
        };
        extract_read(value, offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        self.sync(now);
        let value = crate::zero_extend(value, size);
        match offset {
            MR => {
                self.mr = value;
                self.check_match_now();
            }
            LR => {
                self.lr = value;
                self.offset = value.wrapping_sub(self.seconds(self.now) as u32);
                self.check_match_now();
            }
            IMSC => self.imsc = value & 1,
            ICR => self.ris &= !(value & 1),
            _ => {}
        }
    }

    fn reset(&mut self) {
        self.mr = 0;
        self.lr = 0;
        self.imsc = 0;
        self.ris = 0;
    }

    /// Only an unmasked match needs waking for: RIS alone is brought up to
    /// date by the next access.
    fn next_deadline(&self) -> Option<Ticks> {
        if self.imsc == 0 || self.ris != 0 {
            return None;
        }
        let second = self
            .seconds(self.now)
            .checked_add(self.seconds_to_match())?;
        second.checked_mul(self.clock_hz)
    }

    fn advance(&mut self, now: Ticks) {
        self.sync(now);
    }

    fn irq_lines(&self) -> u32 {
        self.ris & self.imsc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 1_000;
    const EPOCH: u64 = 1_700_000_000;

    fn rtc() -> Pl031 {
        Pl031::new(HZ, EPOCH)
    }

    #[test]
    fn ids_and_control() {
        let mut r = rtc();
        let ids: Vec<u32> = (0xfe0..0x1000)
            .step_by(4)
            .map(|o| r.read(o, 4, 0))
            .collect();
        assert_eq!(ids, vec![0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        assert_eq!(r.read(CR, 4, 0), 1);
        r.write(CR, 4, 0, 0);
        assert_eq!(r.read(CR, 4, 0), 1);
        assert_eq!(r.kind(), "pl031");
        assert_eq!(r.window(), 0x1000);
    }

    #[test]
    fn time_advances_with_ticks() {
        let mut r = rtc();
        assert_eq!(r.read(DR, 4, 0), EPOCH as u32);
        assert_eq!(r.read(DR, 4, HZ - 1), EPOCH as u32);
        assert_eq!(r.read(DR, 4, HZ), EPOCH as u32 + 1);
        r.advance(90 * HZ + 500);
        assert_eq!(r.read(DR, 4, 90 * HZ + 500), EPOCH as u32 + 90);
        // Time never runs backwards if told an earlier time.
        assert_eq!(r.read(DR, 4, 10 * HZ), EPOCH as u32 + 90);
        // Writes to DR are ignored.
        r.write(DR, 4, 5, 91 * HZ);
        assert_eq!(r.read(DR, 4, 91 * HZ), EPOCH as u32 + 91);
    }

    #[test]
    fn load_register_sets_the_time_and_keeps_the_second_phase() {
        let mut r = rtc();
        r.write(LR, 4, 1000, 2 * HZ + 700);
        assert_eq!(r.read(LR, 4, 2 * HZ + 700), 1000);
        assert_eq!(r.read(DR, 4, 2 * HZ + 700), 1000);
        assert_eq!(r.read(DR, 4, 2 * HZ + 999), 1000);
        // The next second starts on the machine's second boundary.
        assert_eq!(r.read(DR, 4, 3 * HZ), 1001);
        assert_eq!(r.read(DR, 4, 13 * HZ + 1), 1011);
        // The counter wraps at 32 bits.
        r.write(LR, 4, u32::MAX, 14 * HZ);
        assert_eq!(r.read(DR, 4, 15 * HZ), 0);
    }

    #[test]
    fn match_interrupt_at_the_right_tick() {
        let mut r = rtc();
        r.write(MR, 4, EPOCH as u32 + 5, 100);
        assert_eq!(r.read(RIS, 4, 100), 0);
        // Masked: no wake-up needed.
        assert_eq!(r.next_deadline(), None);
        r.write(IMSC, 4, 1, 100);
        assert_eq!(r.next_deadline(), Some(5 * HZ));
        r.advance(5 * HZ - 1);
        assert_eq!(r.irq_lines(), 0);
        assert_eq!(r.next_deadline(), Some(5 * HZ));
        r.advance(5 * HZ);
        assert_eq!(r.irq_lines(), 1);
        assert_eq!(r.read(RIS, 4, 5 * HZ), 1);
        assert_eq!(r.read(MIS, 4, 5 * HZ), 1);
        assert_eq!(r.next_deadline(), None);
        r.write(ICR, 4, 1, 5 * HZ + 1);
        assert_eq!(r.irq_lines(), 0);
        // The next match is a wrap of the counter away.
        assert_eq!(r.next_deadline(), Some((5 + (1u64 << 32)) * HZ));
        r.write(IMSC, 4, 0, 5 * HZ + 2);
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn match_found_late_and_while_masked() {
        let mut r = rtc();
        r.write(MR, 4, EPOCH as u32 + 3, 0);
        // Told the time only long after: the match still counts.
        r.advance(100 * HZ);
        assert_eq!(r.read(RIS, 4, 100 * HZ), 1);
        assert_eq!(r.irq_lines(), 0);
        r.write(IMSC, 4, 1, 100 * HZ);
        assert_eq!(r.irq_lines(), 1);
    }

    #[test]
    fn writing_a_match_equal_to_now_fires_at_once() {
        let mut r = rtc();
        r.write(IMSC, 4, 1, 0);
        r.write(MR, 4, EPOCH as u32 + 2, 2 * HZ + 10);
        assert_eq!(r.irq_lines(), 1);
        r.write(ICR, 4, 1, 2 * HZ + 10);
        // Loading LR onto MR matches too.
        r.write(LR, 4, EPOCH as u32 + 2, 2 * HZ + 20);
        assert_eq!(r.irq_lines(), 1);
        r.write(ICR, 4, 1, 2 * HZ + 20);
        r.write(LR, 4, 50, 2 * HZ + 30);
        r.write(MR, 4, 52, 2 * HZ + 30);
        assert_eq!(r.next_deadline(), Some(4 * HZ));
    }

    #[test]
    fn reset_keeps_time_and_snapshot_restores() {
        let mut r = rtc();
        r.write(LR, 4, 77, 0);
        r.write(MR, 4, 80, 0);
        r.write(IMSC, 4, 1, 0);
        r.advance(HZ);
        let state = r.save_state().unwrap();
        let mut s = Pl031::new(1, 0);
        s.restore_state(&state).unwrap();
        assert_eq!(s.next_deadline(), r.next_deadline());
        for off in (0..0x20).step_by(4) {
            assert_eq!(s.read(off, 4, 2 * HZ), r.read(off, 4, 2 * HZ), "{off:#x}");
        }
        assert!(s.restore_state(&[0xff]).is_err());
        r.reset();
        assert_eq!(r.read(DR, 4, 3 * HZ), 80);
        assert_eq!(r.read(MR, 4, 3 * HZ), 0);
        assert_eq!(r.read(IMSC, 4, 3 * HZ), 0);
        assert_eq!(r.next_deadline(), None);
    }
}
