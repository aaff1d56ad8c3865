//! MPS2 Serial Communication Controller (SCC): board configuration registers.
//!
//! Reference: ARM MPS2 TRM (DDI 100112) and AN385; behaviour matched to
//! QEMU `hw/misc/mps2-scc.c` as `hw/arm/mps2.c` configures it for
//! AN385/AN386 (CFG4 = 2, AID = 0x0020_0008, three OSCCLKs).
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x000 | CFG0 | RW | b0 remap (read back only here); reset 0 |
//! | 0x004 | CFG1 | RW | b7:0 user LEDs |
//! | 0x00C | CFG3 | RO | DIP switches: 0 |
//! | 0x010 | CFG4 | RO | board revision: 2 |
//! | 0x0A0 | CFGDATA_RTN | RW | data returned by a config read |
//! | 0x0A4 | CFGDATA_OUT | RW | data for a config write |
//! | 0x0A8 | CFGCTRL | RW | b11:0 device, b25:20 function, b30 write, b31 start; reset 0x0010_0000 |
//! | 0x0AC | CFGSTAT | RO | b0 done, b1 error; cleared by a CFGCTRL write |
//! | 0x100 | DLL | RW | b31:24 lock mask (RW), b23:16 locked, b0 all locked; reset 0xFFFF_0001 |
//! | 0xFF8 | AID | RO | 0x0020_0008 |
//! | 0xFFC | ID | RO | board id (AN385 0x4104_3850, AN386 0x4104_3860) |
//!
//! CFG2, CFG5..CFG7 do not exist on these images and read 0 like every other
//! offset. Writing CFGCTRL with the start bit performs the transfer at once:
//! function 1 (OSCCLK) with device 0..2 reads or writes the oscillator
//! frequencies (50 MHz, 24.576 MHz, 25 MHz at reset); anything else sets the
//! error bit. The start and reserved bits never read back.

use crate::{zero_extend, Device, Ticks};

pub const CFG0: u64 = 0x000;
pub const CFG1: u64 = 0x004;
pub const CFG3: u64 = 0x00c;
pub const CFG4: u64 = 0x010;
pub const CFGDATA_RTN: u64 = 0x0a0;
pub const CFGDATA_OUT: u64 = 0x0a4;
pub const CFGCTRL: u64 = 0x0a8;
pub const CFGSTAT: u64 = 0x0ac;
pub const DLL: u64 = 0x100;
pub const AID: u64 = 0xff8;
pub const ID: u64 = 0xffc;

pub const CFGCTRL_DEVICE: u32 = 0xfff;
pub const CFGCTRL_FUNCTION_SHIFT: u32 = 20;
pub const CFGCTRL_FUNCTION: u32 = 0x3f << CFGCTRL_FUNCTION_SHIFT;
pub const CFGCTRL_WRITE: u32 = 1 << 30;
pub const CFGCTRL_START: u32 = 1 << 31;
const CFGCTRL_RESERVED: u32 = (0xff << 12) | (0xf << 26);
const CFGCTRL_RESET: u32 = 0x0010_0000;
pub const CFGSTAT_DONE: u32 = 1 << 0;
pub const CFGSTAT_ERROR: u32 = 1 << 1;
const DLL_RESET: u32 = 0xffff_0001;
const DLL_LOCK_MASK: u32 = 0xff00_0000;

/// Config function number of the oscillator clocks.
pub const FUNCTION_OSCCLK: u32 = 1;

/// Board IDs QEMU's `mps2-an385` / `mps2-an386` report.
pub const AN385_ID: u32 = 0x4104_3850;
pub const AN386_ID: u32 = 0x4104_3860;

const CFG4_BOARD_REV: u32 = 0x2;
const AID_VALUE: u32 = 0x0020_0008;
const OSCCLK_RESET: [u32; 3] = [50_000_000, 24_576_000, 25_000_000];

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Mps2Scc {
    board_id: u32,
    cfg0: u32,
    cfg1: u32,
    cfgdata_rtn: u32,
    cfgdata_out: u32,
    cfgctrl: u32,
    cfgstat: u32,
    dll: u32,
    oscclk: [u32; 3],
}

impl Mps2Scc {
    /// `board_id` is what the ID register reports ([`AN385_ID`], [`AN386_ID`]).
    pub fn new(board_id: u32) -> Self {
        let mut s = Mps2Scc {
            board_id,
            cfg0: 0,
            cfg1: 0,
            cfgdata_rtn: 0,
            cfgdata_out: 0,
            cfgctrl: 0,
            cfgstat: 0,
            dll: 0,
            oscclk: OSCCLK_RESET,
        };
        s.reset();
        s
    }

    /// The eight user LEDs driven by CFG1 (bit n = LED n lit).
    pub fn leds(&self) -> u32 {
        self.cfg1 & 0xff
    }

    /// The remap control (CFG0 bit 0). QEMU leaves it unwired on these boards.
    pub fn remap(&self) -> bool {
        self.cfg0 & 1 != 0
    }

    /// Run the config transfer CFGCTRL describes; returns false on error.
    fn transfer(&mut self) -> bool {
        let device = (self.cfgctrl & CFGCTRL_DEVICE) as usize;
        let function = (self.cfgctrl & CFGCTRL_FUNCTION) >> CFGCTRL_FUNCTION_SHIFT;
        if function != FUNCTION_OSCCLK || device >= self.oscclk.len() {
            return false;
        }
        if self.cfgctrl & CFGCTRL_WRITE != 0 {
            self.oscclk[device] = self.cfgdata_out;
        } else {
            self.cfgdata_rtn = self.oscclk[device];
        }
        true
    }
}

impl Device for Mps2Scc {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "mps2-scc"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, _now: Ticks) -> u32 {
        let value = match offset {
            CFG0 => self.cfg0,
            CFG1 => self.cfg1,
            CFG4 => CFG4_BOARD_REV,
            CFGDATA_RTN => self.cfgdata_rtn,
            CFGDATA_OUT => self.cfgdata_out,
            CFGCTRL => self.cfgctrl,
            CFGSTAT => self.cfgstat,
            DLL => self.dll,
            AID => AID_VALUE,
            ID => self.board_id,
            // CFG3 (switches) and everything unimplemented.
            _ => 0,
        };
        zero_extend(value, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, _now: Ticks) {
        let value = zero_extend(value, size);
        match offset {
            CFG0 => self.cfg0 = value,
            CFG1 => self.cfg1 = value,
            CFGDATA_OUT => self.cfgdata_out = value,
            CFGCTRL => {
                self.cfgstat = 0;
                self.cfgctrl = value & !(CFGCTRL_RESERVED | CFGCTRL_START);
                if value & CFGCTRL_START != 0 {
                    self.cfgstat = CFGSTAT_DONE;
                    if !self.transfer() {
                        self.cfgstat |= CFGSTAT_ERROR;
                    }
                }
            }
            DLL => self.dll = (self.dll & !DLL_LOCK_MASK) | (value & DLL_LOCK_MASK),
            _ => {}
        }
    }

    fn reset(&mut self) {
        self.cfg0 = 0;
        self.cfg1 = 0;
        self.cfgdata_rtn = 0;
        self.cfgdata_out = 0;
        self.cfgctrl = CFGCTRL_RESET;
        self.cfgstat = 0;
        self.dll = DLL_RESET;
        self.oscclk = OSCCLK_RESET;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn osc_read(s: &mut Mps2Scc, device: u32) -> (u32, u32) {
        s.write(CFGCTRL, 4, CFGCTRL_START | (1 << 20) | device, 0);
        (s.read(CFGSTAT, 4, 0), s.read(CFGDATA_RTN, 4, 0))
    }

    #[test]
    fn reset_values_match_qemu() {
        // Observed on qemu-system-arm 7.2 -M mps2-an385.
        let mut s = Mps2Scc::new(AN385_ID);
        let regs: Vec<u32> = (0..8).map(|i| s.read(i * 4, 4, 0)).collect();
        assert_eq!(regs, vec![0, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(s.read(CFGCTRL, 4, 0), 0x0010_0000);
        assert_eq!(s.read(CFGSTAT, 4, 0), 0);
        assert_eq!(s.read(DLL, 4, 0), 0xffff_0001);
        assert_eq!(s.read(AID, 4, 0), 0x0020_0008);
        assert_eq!(s.read(ID, 4, 0), 0x4104_3850);
        assert_eq!(Mps2Scc::new(AN386_ID).read(ID, 4, 0), 0x4104_3860);
    }

    #[test]
    fn oscclk_reads_and_errors() {
        let mut s = Mps2Scc::new(AN385_ID);
        assert_eq!(osc_read(&mut s, 0), (CFGSTAT_DONE, 50_000_000));
        assert_eq!(s.read(CFGCTRL, 4, 0), 0x0010_0000);
        assert_eq!(osc_read(&mut s, 1), (CFGSTAT_DONE, 24_576_000));
        assert_eq!(osc_read(&mut s, 2), (CFGSTAT_DONE, 25_000_000));
        // No device 3: error, the returned data is unchanged.
        assert_eq!(
            osc_read(&mut s, 3),
            (CFGSTAT_DONE | CFGSTAT_ERROR, 25_000_000)
        );
        assert_eq!(s.read(CFGCTRL, 4, 0), 0x0010_0003);
        // Any CFGCTRL write clears the status.
        s.write(CFGCTRL, 4, 0, 0);
        assert_eq!(s.read(CFGSTAT, 4, 0), 0);
    }

    #[test]
    fn oscclk_write_then_read_back() {
        let mut s = Mps2Scc::new(AN385_ID);
        s.write(CFGDATA_OUT, 4, 12_000_000, 0);
        s.write(CFGCTRL, 4, CFGCTRL_START | CFGCTRL_WRITE | (1 << 20) | 2, 0);
        assert_eq!(s.read(CFGSTAT, 4, 0), CFGSTAT_DONE);
        assert_eq!(osc_read(&mut s, 2), (CFGSTAT_DONE, 12_000_000));
        // Wrong function.
        s.write(CFGCTRL, 4, CFGCTRL_START | (2 << 20), 0);
        assert_eq!(s.read(CFGSTAT, 4, 0), CFGSTAT_DONE | CFGSTAT_ERROR);
        s.reset();
        assert_eq!(osc_read(&mut s, 2), (CFGSTAT_DONE, 25_000_000));
    }

    #[test]
    fn leds_dll_and_read_only_registers() {
        let mut s = Mps2Scc::new(AN385_ID);
        s.write(CFG1, 4, 0x1a5, 0);
        assert_eq!(s.leds(), 0xa5);
        assert_eq!(s.read(CFG1, 4, 0), 0x1a5);
        s.write(CFG0, 4, 1, 0);
        assert!(s.remap());
        s.write(DLL, 4, 0x1200_0000, 0);
        assert_eq!(s.read(DLL, 4, 0), 0x12ff_0001);
        s.write(CFG4, 4, 9, 0);
        s.write(CFG3, 4, 9, 0);
        s.write(ID, 4, 9, 0);
        assert_eq!(s.read(CFG4, 4, 0), 2);
        assert_eq!(s.read(CFG3, 4, 0), 0);
        assert_eq!(s.read(ID, 4, 0), AN385_ID);
        assert_eq!(s.read(ID, 2, 0), 0x3850);
    }
}
