//! A region that reads as zero and ignores writes.
//!
//! Stands in for board regions with no model, as QEMU's
//! `hw/misc/unimp.c` does (which also reads 0 and drops writes); the
//! emulator, not this device, reports the first access.
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | any | - | RW | reads 0, writes ignored |

use crate::{Device, Ticks};

pub struct Zero {
    kind: &'static str,
    size: u64,
}

impl Zero {
    /// `kind_name` is reported by [`Device::kind`]; `size` is the window.
    pub fn new(kind_name: &'static str, size: u64) -> Self {
        Zero {
            kind: kind_name,
            size,
        }
    }
}

impl Device for Zero {
    /// Nothing to save: no state.
    fn save_state(&self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }

    fn restore_state(&mut self, _state: &[u8]) -> Result<(), String> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        self.kind
    }

    fn window(&self) -> u64 {
        self.size
    }

    fn read(&mut self, _offset: u64, _size: u8, _now: Ticks) -> u32 {
        0
    }

    fn write(&mut self, _offset: u64, _size: u8, _value: u32, _now: Ticks) {}

    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zero_and_ignores_writes() {
        let mut z = Zero::new("ahb-gpio", 0x1000);
        assert_eq!(z.kind(), "ahb-gpio");
        assert_eq!(z.window(), 0x1000);
        z.write(0x10, 4, 0xdead_beef, 0);
        assert_eq!(z.read(0x10, 4, 5), 0);
        assert_eq!(z.read(0xfff, 1, 5), 0);
        assert_eq!(z.irq_lines(), 0);
        assert_eq!(z.next_deadline(), None);
        assert!(z.take_output().is_empty());
    }
}
