//! CMSDK APB UART.
//!
//! Reference: ARM DDI0479 (Cortex-M System Design Kit TRM), "APB UART";
//! behaviour matched to QEMU `hw/char/cmsdk-apb-uart.c` (as in QEMU 7.2).
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x000 | DATA | RW | write: byte to send; read: received byte (clears RXFULL) |
//! | 0x004 | STATE | RW | b0 TXFULL, b1 RXFULL (RO); b2 TX overrun, b3 RX overrun (W1C) |
//! | 0x008 | CTRL | RW | b0 TX enable, b1 RX enable, b2 TX int en, b3 RX int en, b4 TX overrun int en, b5 RX overrun int en, b6 high-speed test |
//! | 0x00C | INTSTATUS / INTCLEAR | RW | b0 TX, b1 RX, b2 TX overrun, b3 RX overrun; W1C (clearing b2/b3 clears the STATE overrun bits) |
//! | 0x010 | BAUDDIV | RW | 20-bit baud divider |
//! | 0xFD0..0xFFC | PID4..7, PID0..3, CID0..3 | RO | 0x04 0 0 0, 0x21 0xB8 0x1B 0, 0x0D 0xF0 0x05 0xB1 |
//!
//! Interrupt lines: bit 0 RX, bit 1 TX, bit 2 overrun (TX overrun | RX
//! overrun, each as masked into INTSTATUS).
//!
//! Transmission is instantaneous, as in QEMU: a byte written to DATA with the
//! transmitter enabled is output at once, TXFULL never reads as set, and the
//! TX interrupt status is raised (if TX int en) because the buffer went from
//! full to empty. A byte written while the transmitter is disabled is not
//! sent and leaves TXFULL set; enabling the transmitter later does not send
//! it, and every further write counts as a TX overrun (until reset). The TX
//! and RX interrupt status bits are only set on their events and only
//! cleared by INTCLEAR, never by reading DATA or changing CTRL.

use crate::{id_register, zero_extend, Device, Ticks};

pub const DATA: u64 = 0x000;
pub const STATE: u64 = 0x004;
pub const CTRL: u64 = 0x008;
pub const INTSTATUS: u64 = 0x00c;
pub const BAUDDIV: u64 = 0x010;

pub const STATE_TXFULL: u32 = 1 << 0;
pub const STATE_RXFULL: u32 = 1 << 1;
pub const STATE_TXOVERRUN: u32 = 1 << 2;
pub const STATE_RXOVERRUN: u32 = 1 << 3;

pub const CTRL_TX_EN: u32 = 1 << 0;
pub const CTRL_RX_EN: u32 = 1 << 1;
pub const CTRL_TX_INTEN: u32 = 1 << 2;
pub const CTRL_RX_INTEN: u32 = 1 << 3;
pub const CTRL_TXO_INTEN: u32 = 1 << 4;
pub const CTRL_RXO_INTEN: u32 = 1 << 5;
const CTRL_MASK: u32 = 0x7f;

pub const INT_TX: u32 = 1 << 0;
pub const INT_RX: u32 = 1 << 1;
pub const INT_TXO: u32 = 1 << 2;
pub const INT_RXO: u32 = 1 << 3;
const INT_OVERRUNS: u32 = INT_TXO | INT_RXO;

const BAUDDIV_MASK: u32 = 0xf_ffff;

/// Interrupt output lines.
pub const LINE_RX: u32 = 1 << 0;
pub const LINE_TX: u32 = 1 << 1;
pub const LINE_OVERRUN: u32 = 1 << 2;

const IDS: [u8; 12] = [
    0x04, 0x00, 0x00, 0x00, 0x21, 0xb8, 0x1b, 0x00, 0x0d, 0xf0, 0x05, 0xb1,
];

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CmsdkUart {
    clock_hz: u64,
    state: u32,
    ctrl: u32,
    intstatus: u32,
    bauddiv: u32,
    rxbuf: u8,
    output: Vec<u8>,
}

impl CmsdkUart {
    /// `clock_hz` is the UART's PCLK (the board's system clock).
    pub fn new(clock_hz: u64) -> Self {
        CmsdkUart {
            clock_hz,
            state: 0,
            ctrl: 0,
            intstatus: 0,
            bauddiv: 0,
            rxbuf: 0,
            output: Vec::new(),
        }
    }

    /// The programmed baud rate, if BAUDDIV holds a legal divider (>= 16).
    pub fn baud_rate(&self) -> Option<u64> {
        let div = self.bauddiv as u64;
        (div >= 16 && div <= self.clock_hz).then(|| self.clock_hz / div)
    }

    /// The overrun interrupt bits are the STATE overrun bits masked by their
    /// enables, recomputed whenever either changes.
    fn update(&mut self) {
        self.intstatus &= !INT_OVERRUNS;
        self.intstatus |= self.state & (self.ctrl >> 2) & INT_OVERRUNS;
    }

    fn write_data(&mut self, byte: u8) {
        if self.state & STATE_TXFULL != 0 {
            // Only reachable while the byte is stuck (TX disabled when it
            // was written): the new byte is lost to an overrun.
            self.state |= STATE_TXOVERRUN;
            self.update();
            return;
        }
        self.state |= STATE_TXFULL;
        if self.ctrl & CTRL_TX_EN == 0 {
            return;
        }
        self.output.push(byte);
        self.state &= !STATE_TXFULL;
        if self.ctrl & CTRL_TX_INTEN != 0 {
            self.intstatus |= INT_TX;
        }
        self.update();
    }

    fn can_receive(&self) -> bool {
        self.ctrl & CTRL_RX_EN != 0 && self.state & STATE_RXFULL == 0
    }
}

impl Device for CmsdkUart {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "cmsdk-uart"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, _now: Ticks) -> u32 {
        let value = match offset {
            DATA => {
                self.state &= !STATE_RXFULL;
                self.update();
                self.rxbuf as u32
            }
            STATE => self.state,
            CTRL => self.ctrl,
            INTSTATUS => self.intstatus,
            BAUDDIV => self.bauddiv,
            _ => id_register(&IDS, offset).unwrap_or(0),
        };
        zero_extend(value, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, _now: Ticks) {
        let value = zero_extend(value, size);
        match offset {
            DATA => self.write_data(value as u8),
            STATE => {
                self.state &= !(value & (STATE_TXOVERRUN | STATE_RXOVERRUN));
                self.update();
            }
            CTRL => {
                self.ctrl = value & CTRL_MASK;
                self.update();
            }
            INTSTATUS => {
                self.state &= !(value & INT_OVERRUNS);
                self.intstatus &= !value;
                self.update();
            }
            BAUDDIV => self.bauddiv = value & BAUDDIV_MASK,
            _ => {}
        }
    }

    fn reset(&mut self) {
        self.state = 0;
        self.ctrl = 0;
        self.intstatus = 0;
        self.bauddiv = 0;
        self.rxbuf = 0;
        // Bytes already sent have left the device; they stay with the host.
    }

    fn irq_lines(&self) -> u32 {
        let mut lines = 0;
        if self.intstatus & INT_RX != 0 {
            lines |= LINE_RX;
        }
        if self.intstatus & INT_TX != 0 {
            lines |= LINE_TX;
        }
        if self.intstatus & INT_OVERRUNS != 0 {
            lines |= LINE_OVERRUN;
        }
        lines
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    fn push_input(&mut self, bytes: &[u8], _now: Ticks) -> usize {
        // A one-byte receive buffer, filled only while the receiver is
        // enabled; otherwise the host keeps the byte (QEMU's can_receive).
        match bytes.first() {
            Some(&b) if self.can_receive() => {
                self.rxbuf = b;
                self.state |= STATE_RXFULL;
                if self.ctrl & CTRL_RX_INTEN != 0 {
                    self.intstatus |= INT_RX;
                }
                self.update();
                1
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uart() -> CmsdkUart {
        CmsdkUart::new(25_000_000)
    }

    #[test]
    fn ids_match_qemu() {
        let mut u = uart();
        let ids: Vec<u32> = (0xfd0..0x1000)
            .step_by(4)
            .map(|o| u.read(o, 4, 0))
            .collect();
        assert_eq!(
            ids,
            vec![0x04, 0, 0, 0, 0x21, 0xb8, 0x1b, 0, 0x0d, 0xf0, 0x05, 0xb1]
        );
    }

    #[test]
    fn transmit_is_instant_and_raises_tx_interrupt() {
        let mut u = uart();
        u.write(BAUDDIV, 4, 16, 0);
        u.write(CTRL, 4, CTRL_TX_EN | CTRL_TX_INTEN, 0);
        u.write(DATA, 4, b'h' as u32, 0);
        u.write(DATA, 1, b'i' as u32, 0);
        assert_eq!(u.take_output(), b"hi");
        assert_eq!(u.take_output(), b"");
        assert_eq!(u.read(STATE, 4, 0) & STATE_TXFULL, 0);
        assert_eq!(u.read(INTSTATUS, 4, 0), INT_TX);
        assert_eq!(u.irq_lines(), LINE_TX);
        u.write(INTSTATUS, 4, INT_TX, 0);
        assert_eq!(u.irq_lines(), 0);
        assert_eq!(u.baud_rate(), Some(25_000_000 / 16));
    }

    #[test]
    fn no_tx_interrupt_without_enable_and_enabling_later_does_not_raise_it() {
        let mut u = uart();
        u.write(CTRL, 4, CTRL_TX_EN, 0);
        u.write(DATA, 4, b'a' as u32, 0);
        u.write(CTRL, 4, CTRL_TX_EN | CTRL_TX_INTEN, 0);
        assert_eq!(u.read(INTSTATUS, 4, 0), 0);
        assert_eq!(u.irq_lines(), 0);
    }

    #[test]
    fn write_with_tx_disabled_sticks_txfull_then_overruns() {
        // Observed on qemu-system-arm 7.2: STATE 0 -> 1 -> 1 -> 5.
        let mut u = uart();
        u.write(DATA, 4, b'x' as u32, 0);
        assert_eq!(u.read(STATE, 4, 0), STATE_TXFULL);
        u.write(CTRL, 4, CTRL_TX_EN | CTRL_TXO_INTEN, 0);
        assert_eq!(u.read(STATE, 4, 0), STATE_TXFULL);
        u.write(DATA, 4, b'y' as u32, 0);
        assert_eq!(u.read(STATE, 4, 0), STATE_TXFULL | STATE_TXOVERRUN);
        assert!(u.take_output().is_empty());
        assert_eq!(u.read(INTSTATUS, 4, 0), INT_TXO);
        assert_eq!(u.irq_lines(), LINE_OVERRUN);
        // W1C on STATE clears the overrun and its interrupt.
        u.write(STATE, 4, STATE_TXOVERRUN | STATE_RXOVERRUN, 0);
        assert_eq!(u.read(STATE, 4, 0), STATE_TXFULL);
        assert_eq!(u.irq_lines(), 0);
        u.reset();
        u.write(CTRL, 4, CTRL_TX_EN, 0);
        u.write(DATA, 4, b'z' as u32, 0);
        assert_eq!(u.take_output(), b"z");
    }

    #[test]
    fn receive_one_byte_buffer() {
        let mut u = uart();
        // Receiver disabled: nothing accepted, the host keeps the bytes.
        assert_eq!(u.push_input(b"ab", 0), 0);
        u.write(CTRL, 4, CTRL_RX_EN | CTRL_RX_INTEN, 0);
        assert_eq!(u.push_input(b"ab", 0), 1);
        assert_eq!(u.read(STATE, 4, 0), STATE_RXFULL);
        assert_eq!(u.irq_lines(), LINE_RX);
        // Buffer full: the next byte waits.
        assert_eq!(u.push_input(b"b", 0), 0);
        assert_eq!(u.read(DATA, 4, 0), b'a' as u32);
        assert_eq!(u.read(STATE, 4, 0), 0);
        // Reading DATA does not clear the interrupt status.
        assert_eq!(u.irq_lines(), LINE_RX);
        u.write(INTSTATUS, 4, INT_RX, 0);
        assert_eq!(u.irq_lines(), 0);
        assert_eq!(u.push_input(b"b", 0), 1);
        assert_eq!(u.read(DATA, 1, 0), b'b' as u32);
        // An empty buffer reads the last byte again.
        assert_eq!(u.read(DATA, 4, 0), b'b' as u32);
    }

    #[test]
    fn intclear_of_overrun_clears_state_bit() {
        let mut u = uart();
        u.write(DATA, 4, 1, 0);
        u.write(DATA, 4, 2, 0);
        assert_eq!(u.read(STATE, 4, 0) & STATE_TXOVERRUN, STATE_TXOVERRUN);
        // Not enabled: not in INTSTATUS, no line.
        assert_eq!(u.read(INTSTATUS, 4, 0), 0);
        u.write(CTRL, 4, CTRL_TXO_INTEN, 0);
        assert_eq!(u.read(INTSTATUS, 4, 0), INT_TXO);
        u.write(INTSTATUS, 4, INT_TXO, 0);
        assert_eq!(u.read(STATE, 4, 0) & STATE_TXOVERRUN, 0);
        assert_eq!(u.irq_lines(), 0);
    }

    #[test]
    fn narrow_accesses_are_zero_padded_and_unaligned_ones_miss() {
        let mut u = uart();
        u.write(CTRL, 1, 0x103, 0);
        assert_eq!(u.read(CTRL, 4, 0), 3);
        assert_eq!(u.read(CTRL + 1, 1, 0), 0);
        u.write(BAUDDIV, 2, 0xab_1234, 0);
        assert_eq!(u.read(BAUDDIV, 4, 0), 0x1234);
        u.write(BAUDDIV, 4, 0xfff_ffff, 0);
        assert_eq!(u.read(BAUDDIV, 4, 0), 0xf_ffff);
        assert_eq!(u.read(BAUDDIV, 1, 0), 0xff);
        assert_eq!(u.read(0x14, 4, 0), 0);
    }
}
