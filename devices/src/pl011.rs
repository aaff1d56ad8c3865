//! ARM PrimeCell UART (PL011).
//!
//! Reference: ARM DDI 0183 (PL011 TRM); behaviour matched to QEMU
//! `hw/char/pl011.c` and to what Linux's `amba-pl011` driver relies on.
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x000 | DR | RW | write: byte to send; read: received byte, b11:8 errors (always 0) |
//! | 0x004 | RSR / ECR | RW | b3 overrun (loopback only); any write clears |
//! | 0x018 | FR | RO | b7 TXFE, b6 RXFF, b5 TXFF, b4 RXFE, b3 BUSY; CTS/DSR/DCD/RI 0 |
//! | 0x020 / 0x024 / 0x028 | ILPR / IBRD / FBRD | RW | 8, 16, 6 bits, no effect |
//! | 0x02C | LCR_H | RW | b4 FEN: 16-entry FIFOs, else a 1-byte holding register |
//! | 0x030 | CR | RW | b0 UARTEN, b7 LBE, b8 TXE, b9 RXE, ...; reset 0x300 |
//! | 0x034 | IFLS | RW | b5:3 RX trigger (1/8, 1/4, 1/2, 3/4, 7/8); reset 0x12 |
//! | 0x038 / 0x03C / 0x040 / 0x044 | IMSC / RIS / MIS / ICR | RW / RO / RO / WO | b4 RX, b5 TX, b6 RT, b10 OE, ... |
//! | 0x048 | DMACR | RW | stored only (no DMA) |
//! | 0xFE0..0xFFC | PeriphID0..3, PCellID0..3 | RO | 0x11 0x10 0x14 0x00, 0x0D 0xF0 0x05 0xB1 |
//!
//! One interrupt line, bit 0: UARTINTR, any bit of MIS.
//!
//! As in QEMU, transmission is instant: a byte written to DR goes straight to
//! the output, the transmit FIFO always reads empty and not busy, and every
//! write raises TXIS (Linux fills the FIFO, then unmasks TXIM, and expects the
//! interrupt). Also as in QEMU, UARTEN/TXE/RXE do not gate data, so code that
//! never enables the UART (an early console) still prints; with LBE set the
//! byte is also looped into the receive FIFO, and outside input waits.
//!
//! Receive: RXIS is raised when the FIFO fills to the IFLS trigger level
//! (one byte with FIFOs off) and cleared when reads take it below. The
//! receive timeout RTIS, which on hardware fires when data has waited 32 bit
//! periods below the trigger, is raised as soon as a batch of input leaves
//! the FIFO non-empty with RXIS clear; it clears when the FIFO empties.
//! Linux handles both alike and, without the timeout, would not see a single
//! typed character (its trigger is half full). Host input waits (is not
//! accepted) while the FIFO is full, so nothing overruns.

use std::collections::VecDeque;

use crate::{extract_read, zero_extend, Device, Ticks};

pub const DR: u64 = 0x000;
pub const RSR: u64 = 0x004;
pub const FR: u64 = 0x018;
pub const ILPR: u64 = 0x020;
pub const IBRD: u64 = 0x024;
pub const FBRD: u64 = 0x028;
pub const LCR_H: u64 = 0x02c;
pub const CR: u64 = 0x030;
pub const IFLS: u64 = 0x034;
pub const IMSC: u64 = 0x038;
pub const RIS: u64 = 0x03c;
pub const MIS: u64 = 0x040;
pub const ICR: u64 = 0x044;
pub const DMACR: u64 = 0x048;

pub const FR_BUSY: u32 = 1 << 3;
pub const FR_RXFE: u32 = 1 << 4;
pub const FR_TXFF: u32 = 1 << 5;
pub const FR_RXFF: u32 = 1 << 6;
pub const FR_TXFE: u32 = 1 << 7;

pub const LCR_H_FEN: u32 = 1 << 4;

pub const CR_UARTEN: u32 = 1 << 0;
pub const CR_LBE: u32 = 1 << 7;
pub const CR_TXE: u32 = 1 << 8;
pub const CR_RXE: u32 = 1 << 9;
/// b2:1 are SIR controls, b6:3 reserved.
const CR_MASK: u32 = 0xff87;
const CR_RESET: u32 = CR_TXE | CR_RXE;

pub const INT_RX: u32 = 1 << 4;
pub const INT_TX: u32 = 1 << 5;
pub const INT_RT: u32 = 1 << 6;
pub const INT_OE: u32 = 1 << 10;
const INT_MASK: u32 = 0x7ff;

pub const RSR_OE: u32 = 1 << 3;

const IFLS_RESET: u32 = 0x12;
const FIFO_DEPTH: usize = 16;

const IDS: [u8; 8] = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Pl011 {
    rx: VecDeque<u8>,
    /// What DR reads with the FIFO empty: the last byte taken.
    last_rx: u8,
    rsr: u32,
    ilpr: u32,
    ibrd: u32,
    fbrd: u32,
    lcr_h: u32,
    cr: u32,
    ifls: u32,
    imsc: u32,
    ris: u32,
    dmacr: u32,
    output: Vec<u8>,
}

impl Default for Pl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl Pl011 {
    pub fn new() -> Self {
        let mut u = Pl011 {
            rx: VecDeque::with_capacity(FIFO_DEPTH),
            last_rx: 0,
            rsr: 0,
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            lcr_h: 0,
            cr: 0,
            ifls: 0,
            imsc: 0,
            ris: 0,
            dmacr: 0,
            output: Vec::new(),
        };
        u.reset();
        u
    }

    fn depth(&self) -> usize {
        if self.lcr_h & LCR_H_FEN != 0 {
            FIFO_DEPTH
        } else {
            1
        }
    }

    /// Receive FIFO fill level that raises RXIS.
    fn rx_trigger(&self) -> usize {
        if self.lcr_h & LCR_H_FEN == 0 {
            return 1;
        }
        match (self.ifls >> 3) & 7 {
            0 => 2,
            1 => 4,
            2 => 8,
            3 => 12,
            _ => 14,
        }
    }

    /// Put a received byte in the FIFO; false when it is full.
    fn put_rx(&mut self, byte: u8) -> bool {
        if self.rx.len() >= self.depth() {
            return false;
        }
        self.rx.push_back(byte);
        if self.rx.len() == self.rx_trigger() {
            self.ris |= INT_RX;
        }
        true
    }

    /// A batch of input has arrived: data left waiting raises the timeout.
    fn rx_batch_done(&mut self) {
        if !self.rx.is_empty() && self.ris & INT_RX == 0 {
            self.ris |= INT_RT;
        }
    }

    /// The FIFO level dropped: clear what no longer holds.
    fn rx_drained(&mut self) {
        if self.rx.len() < self.rx_trigger() {
            self.ris &= !INT_RX;
        }
        if self.rx.is_empty() {
            self.ris &= !INT_RT;
        }
    }

    fn flags(&self) -> u32 {
        let mut fr = FR_TXFE;
        if self.rx.is_empty() {
            fr |= FR_RXFE;
        }
        if self.rx.len() >= self.depth() {
            fr |= FR_RXFF;
        }
        fr
    }

    fn read_dr(&mut self) -> u32 {
        if let Some(b) = self.rx.pop_front() {
            self.last_rx = b;
            self.rx_drained();
        }
        self.last_rx as u32
    }

    fn write_dr(&mut self, byte: u8) {
        self.output.push(byte);
        if self.cr & CR_LBE != 0 {
            if self.put_rx(byte) {
                self.rx_batch_done();
            } else {
                self.rsr |= RSR_OE;
                self.ris |= INT_OE;
            }
        }
        self.ris |= INT_TX;
    }

    fn read_reg(&mut self, offset: u64) -> u32 {
        match offset {
            DR => self.read_dr(),
            RSR => self.rsr,
            FR => self.flags(),
            ILPR => self.ilpr,
            IBRD => self.ibrd,
            FBRD => self.fbrd,
            LCR_H => self.lcr_h,
            CR => self.cr,
            IFLS => self.ifls,
            IMSC => self.imsc,
            RIS => self.ris,
            MIS => self.ris & self.imsc,
            DMACR => self.dmacr,
            0xfe0..=0xffc => IDS[((offset - 0xfe0) / 4) as usize] as u32,
            _ => 0,
        }
    }

    fn write_reg(&mut self, offset: u64, value: u32) {
        match offset {
            DR => self.write_dr(value as u8),
            RSR => self.rsr = 0,
            ILPR => self.ilpr = value & 0xff,
            IBRD => self.ibrd = value & 0xffff,
            FBRD => self.fbrd = value & 0x3f,
            LCR_H => {
                // QEMU empties the FIFOs when FEN changes.
                if (self.lcr_h ^ value) & LCR_H_FEN != 0 {
                    self.rx.clear();
                    self.rx_drained();
                }
                self.lcr_h = value & 0xff;
            }
            CR => self.cr = value & CR_MASK,
            IFLS => self.ifls = value & 0x3f,
            IMSC => self.imsc = value & INT_MASK,
            ICR => self.ris &= !value,
            DMACR => self.dmacr = value & 7,
            _ => {}
        }
    }
}

impl Device for Pl011 {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "pl011"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, _now: Ticks) -> u32 {
        // 32-bit registers: a narrow read sees its part of the word.
        let value = self.read_reg(offset & !3);
        extract_read(value, offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, _now: Ticks) {
        // A narrow write reaches the register zero-padded, in its lane.
        let value = zero_extend(value, size) << (8 * (offset & 3));
        self.write_reg(offset & !3, value);
    }

    fn reset(&mut self) {
        self.rx.clear();
        self.last_rx = 0;
        self.rsr = 0;
        self.ilpr = 0;
        self.ibrd = 0;
        self.fbrd = 0;
        self.lcr_h = 0;
        self.cr = CR_RESET;
        self.ifls = IFLS_RESET;
        self.imsc = 0;
        self.ris = 0;
        self.dmacr = 0;
        // Bytes already sent have left the device; they stay with the host.
    }

    fn irq_lines(&self) -> u32 {
        (self.ris & self.imsc != 0) as u32
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    fn push_input(&mut self, bytes: &[u8], _now: Ticks) -> usize {
        if self.cr & CR_LBE != 0 {
            return 0;
        }
        let taken = bytes.iter().take_while(|&&b| self.put_rx(b)).count();
        if taken > 0 {
            self.rx_batch_done();
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uart() -> Pl011 {
        Pl011::new()
    }

    /// The setup Linux's driver performs: 8N1 with FIFOs, RX/RT interrupts.
    fn linux_uart() -> Pl011 {
        let mut u = uart();
        u.write(ICR, 4, 0x7ff, 0);
        u.write(IFLS, 4, 0x12, 0);
        u.write(IBRD, 4, 13, 0);
        u.write(FBRD, 4, 1, 0);
        u.write(LCR_H, 4, 0x70, 0);
        u.write(CR, 4, CR_UARTEN | CR_TXE | CR_RXE, 0);
        u.write(IMSC, 4, INT_RX | INT_RT, 0);
        u
    }

    #[test]
    fn ids_match_linux_amba_match() {
        let mut u = uart();
        let ids: Vec<u32> = (0xfe0..0x1000)
            .step_by(4)
            .map(|o| u.read(o, 4, 0))
            .collect();
        assert_eq!(ids, vec![0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        assert_eq!(u.read(0xfd0, 4, 0), 0);
        assert_eq!(u.kind(), "pl011");
        assert_eq!(u.window(), 0x1000);
    }

    #[test]
    fn reset_values() {
        let mut u = uart();
        assert_eq!(u.read(CR, 4, 0), 0x300);
        assert_eq!(u.read(IFLS, 4, 0), 0x12);
        assert_eq!(u.read(FR, 4, 0), FR_TXFE | FR_RXFE);
        assert_eq!(u.read(LCR_H, 4, 0), 0);
        assert_eq!(u.read(IMSC, 4, 0), 0);
        assert_eq!(u.read(RIS, 4, 0), 0);
        assert_eq!(u.irq_lines(), 0);
    }

    #[test]
    fn transmit_is_instant_and_raises_txis() {
        let mut u = uart();
        // Not enabled: sent anyway (QEMU), as early consoles expect.
        u.write(DR, 4, b'h' as u32, 0);
        u.write(DR, 1, b'i' as u32, 0);
        assert_eq!(u.take_output(), b"hi");
        assert_eq!(u.take_output(), b"");
        assert_eq!(u.read(FR, 4, 0) & (FR_TXFE | FR_TXFF | FR_BUSY), FR_TXFE);
        assert_eq!(u.read(RIS, 4, 0), INT_TX);
        // Masked: no line until TXIM is set.
        assert_eq!(u.irq_lines(), 0);
        u.write(IMSC, 4, INT_TX, 0);
        assert_eq!(u.read(MIS, 4, 0), INT_TX);
        assert_eq!(u.irq_lines(), 1);
        u.write(ICR, 4, INT_TX, 0);
        assert_eq!(u.irq_lines(), 0);
        u.write(DR, 4, b'!' as u32, 0);
        assert_eq!(u.irq_lines(), 1);
    }

    #[test]
    fn fifo_fills_to_sixteen_and_reads_in_order() {
        let mut u = linux_uart();
        let input: Vec<u8> = (b'a'..=b'z').collect();
        assert_eq!(u.push_input(&input, 0), 16);
        assert_eq!(u.read(FR, 4, 0) & (FR_RXFF | FR_RXFE), FR_RXFF);
        assert_eq!(u.push_input(b"x", 0), 0);
        for &b in &input[..16] {
            assert_eq!(u.read(DR, 4, 0), b as u32);
        }
        assert_eq!(u.read(FR, 4, 0) & (FR_RXFF | FR_RXFE), FR_RXFE);
        // Empty: DR repeats the last byte, RSR shows no error.
        assert_eq!(u.read(DR, 4, 0), b'p' as u32);
        assert_eq!(u.read(RSR, 4, 0), 0);
        assert_eq!(u.push_input(&input[16..], 0), 10);
    }

    #[test]
    fn without_fifo_a_single_holding_register() {
        let mut u = uart();
        u.write(IMSC, 4, INT_RX, 0);
        assert_eq!(u.push_input(b"ab", 0), 1);
        assert_eq!(u.read(FR, 4, 0) & (FR_RXFF | FR_RXFE), FR_RXFF);
        // Trigger level is one byte.
        assert_eq!(u.read(RIS, 4, 0), INT_RX);
        assert_eq!(u.irq_lines(), 1);
        assert_eq!(u.read(DR, 4, 0), b'a' as u32);
        assert_eq!(u.irq_lines(), 0);
        assert_eq!(u.push_input(b"b", 0), 1);
        assert_eq!(u.read(DR, 2, 0), b'b' as u32);
    }

    #[test]
    fn rx_trigger_level_and_timeout() {
        let mut u = linux_uart();
        // One typed byte, below the half-full trigger: the timeout fires.
        assert_eq!(u.push_input(b"x", 0), 1);
        assert_eq!(u.read(RIS, 4, 0), INT_RT);
        assert_eq!(u.irq_lines(), 1);
        // Linux drains the FIFO without writing ICR: that clears it.
        assert_eq!(u.read(DR, 4, 0), b'x' as u32);
        assert_eq!(u.read(RIS, 4, 0), 0);
        assert_eq!(u.irq_lines(), 0);
        // Eight bytes at once reach the trigger: RXIS, no timeout needed.
        assert_eq!(u.push_input(b"01234567", 0), 8);
        assert_eq!(u.read(RIS, 4, 0), INT_RX);
        assert_eq!(u.read(DR, 4, 0), b'0' as u32);
        // Below the trigger RXIS goes; the remaining bytes keep the line up
        // only through a timeout, which needs new input. Drain the rest.
        assert_eq!(u.read(RIS, 4, 0), 0);
        for _ in 0..7 {
            u.read(DR, 4, 0);
        }
        assert_eq!(u.read(FR, 4, 0) & FR_RXFE, FR_RXFE);
        // Other trigger levels: 1/8 of 16 is two bytes.
        u.write(IFLS, 4, 0, 0);
        u.push_input(b"a", 0);
        assert_eq!(u.read(RIS, 4, 0), INT_RT);
        u.push_input(b"b", 0);
        assert_eq!(u.read(RIS, 4, 0), INT_RX | INT_RT);
        // ICR clears either.
        u.write(ICR, 4, INT_RX | INT_RT, 0);
        assert_eq!(u.irq_lines(), 0);
    }

    #[test]
    fn interrupt_masking_and_clearing() {
        let mut u = uart();
        u.write(LCR_H, 4, LCR_H_FEN, 0);
        u.push_input(b"q", 0);
        assert_eq!(u.read(RIS, 4, 0), INT_RT);
        assert_eq!(u.read(MIS, 4, 0), 0);
        assert_eq!(u.irq_lines(), 0);
        u.write(IMSC, 4, 0xffff_ffff, 0);
        assert_eq!(u.read(IMSC, 4, 0), 0x7ff);
        assert_eq!(u.read(MIS, 4, 0), INT_RT);
        assert_eq!(u.irq_lines(), 1);
        u.write(ICR, 4, INT_RT, 0);
        assert_eq!(u.read(RIS, 4, 0), 0);
        assert_eq!(u.irq_lines(), 0);
        // The byte is still there.
        assert_eq!(u.read(FR, 4, 0) & FR_RXFE, 0);
        // Changing FEN empties the FIFO and what it raised.
        u.push_input(b"r", 0);
        u.write(LCR_H, 4, 0, 0);
        assert_eq!(u.read(FR, 4, 0) & FR_RXFE, FR_RXFE);
        assert_eq!(u.read(RIS, 4, 0), 0);
    }

    #[test]
    fn loopback_feeds_the_receiver() {
        let mut u = uart();
        u.write(CR, 4, CR_UARTEN | CR_TXE | CR_RXE | CR_LBE, 0);
        assert_eq!(u.push_input(b"z", 0), 0);
        u.write(DR, 4, b'L' as u32, 0);
        assert_eq!(u.take_output(), b"L");
        assert_eq!(u.read(RIS, 4, 0), INT_TX | INT_RX);
        // Holding register full: the next looped byte overruns.
        u.write(DR, 4, b'M' as u32, 0);
        assert_eq!(u.read(RSR, 4, 0), RSR_OE);
        assert_eq!(u.read(RIS, 4, 0) & INT_OE, INT_OE);
        assert_eq!(u.read(DR, 4, 0), b'L' as u32);
        u.write(RSR, 4, 0, 0);
        assert_eq!(u.read(RSR, 4, 0), 0);
    }

    #[test]
    fn register_widths_and_narrow_access() {
        let mut u = uart();
        u.write(IBRD, 4, 0xffff_ffff, 0);
        u.write(FBRD, 4, 0xffff_ffff, 0);
        u.write(ILPR, 4, 0xffff_ffff, 0);
        u.write(CR, 4, 0xffff_ffff, 0);
        u.write(DMACR, 4, 0xffff_ffff, 0);
        assert_eq!(u.read(IBRD, 4, 0), 0xffff);
        assert_eq!(u.read(FBRD, 4, 0), 0x3f);
        assert_eq!(u.read(ILPR, 4, 0), 0xff);
        assert_eq!(u.read(CR, 4, 0), 0xff87);
        assert_eq!(u.read(DMACR, 4, 0), 7);
        // Linux's default register access is 16-bit.
        u.write(CR, 2, 0x301, 0);
        assert_eq!(u.read(CR, 2, 0), 0x301);
        assert_eq!(u.read(CR + 1, 1, 0), 0x03);
        u.write(CR + 1, 1, 0x01, 0);
        assert_eq!(u.read(CR, 4, 0), 0x100);
        // Writes to FR and unknown offsets are ignored.
        u.write(FR, 4, 0, 0);
        assert_eq!(u.read(FR, 4, 0), FR_TXFE | FR_RXFE);
        assert_eq!(u.read(0x04c, 4, 0), 0);
        assert_eq!(u.read(ICR, 4, 0), 0);
    }

    #[test]
    fn snapshot_restores_fifo_and_interrupts() {
        let mut a = linux_uart();
        a.push_input(b"snap", 0);
        a.write(DR, 4, b'o' as u32, 0);
        let state = a.save_state().unwrap();
        let mut b = uart();
        b.restore_state(&state).unwrap();
        assert_eq!(b.irq_lines(), a.irq_lines());
        for off in (0..0x50).step_by(4) {
            assert_eq!(b.read(off, 4, 0), a.read(off, 4, 0), "{off:#x}");
        }
        assert!(b.restore_state(&[0xff, 0xff]).is_err());
        // Reset keeps bytes already sent for the host.
        a.reset();
        assert_eq!(a.take_output(), b"o");
        assert_eq!(a.read(FR, 4, 0), FR_TXFE | FR_RXFE);
    }
}
