//! Peripheral models for Ensemble.
//!
//! A device here knows nothing of the CPU that drives it. It sees register
//! reads and writes at offsets within its own window, it is told when
//! virtual time has advanced, it can ask to be woken at a deadline, and it
//! drives interrupt lines that the board wires to an interrupt controller.
//! Every model can therefore be unit-tested with no emulator at all.
//!
//! Time is counted in *ticks* of the machine's clock (the board's `clock_hz`,
//! 25 MHz on MPS2): a tick is one unit of retired guest work. Devices that
//! need another rate (a 1 Hz counter, a 1 MHz reference clock) derive it from
//! the tick count and the clock rate they were built with, so the result is
//! exact and independent of how often they are told the time.

pub mod audio;
pub mod cmsdk_dualtimer;
pub mod cmsdk_timer;
pub mod cmsdk_uart;
pub mod cmsdk_watchdog;
pub mod display;
pub mod fpgaio;
pub mod gicv2;
pub mod gpio;
pub mod lan9118;
pub mod lis3dh;
pub mod media;
pub mod mps2_scc;
pub mod pl011;
pub mod pl031;
pub mod radio;
pub mod sbcon_i2c;
pub mod sensors;
pub mod touch;
pub mod virtio;
pub mod zero;

pub use media::{AudioChunk, AudioSource, SensorSource, VideoFrame, WaveShape};

mod countdown;

/// Virtual time in ticks of the owning machine's clock.
pub type Ticks = u64;

/// Guest memory as a bus master (a DMA engine) sees it: physical
/// addresses, RAM and ROM only. Accesses outside memory fail and change
/// nothing; the device decides what that means (a bus-error flag).
pub trait Dma {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool;
    fn write(&mut self, addr: u64, data: &[u8]) -> bool;
}

/// A memory-mapped peripheral.
pub trait Device: Send {
    /// Short model name used in traces and warnings (`"cmsdk-uart"`).
    fn kind(&self) -> &'static str;

    /// Size in bytes of the register window the device occupies.
    fn window(&self) -> u64;

    /// Read `size` bytes (1, 2 or 4) at `offset` within the window, at time
    /// `now`. Reads may have side effects (popping a FIFO).
    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32;

    /// Write `size` bytes (1, 2 or 4) at `offset` within the window, at time
    /// `now`.
    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks);

    /// Return to the power-on state.
    fn reset(&mut self);

    /// The earliest future time at which this device needs [`Device::advance`]
    /// to be called (a timer reaching zero, a byte finishing transmission).
    /// `None` when nothing is scheduled.
    fn next_deadline(&self) -> Option<Ticks> {
        None
    }

    /// Virtual time has advanced to `now`. Called at least at every deadline
    /// the device asked for; may be called more often, with any `now` not
    /// smaller than the last one seen.
    fn advance(&mut self, _now: Ticks) {}

    /// Levels of the device's interrupt output lines, bit `n` for line `n`.
    /// The board file maps each line to an interrupt controller input.
    fn irq_lines(&self) -> u32 {
        0
    }

    /// Bytes the device has sent to the outside world since the last call
    /// (a UART's transmitter). Empty for devices with no such output.
    fn take_output(&mut self) -> Vec<u8> {
        Vec::new()
    }

    /// Bytes arriving from the outside world (a UART's receiver). Returns how
    /// many were accepted; the caller keeps the rest and offers them again
    /// later, so nothing typed is lost when a FIFO is full.
    fn push_input(&mut self, _bytes: &[u8], _now: Ticks) -> usize {
        0
    }

    /// Set the level of a named external input (a button, a switch).
    /// Devices without inputs ignore it.
    fn set_input(&mut self, _name: &str, _level: u32) {}

    /// The device holds something that should leave at once rather than at
    /// the next service: a frame sent, whose time on the wire matters.
    /// (UART bytes are buffered and taken at the next service.)
    fn wants_service(&self) -> bool {
        false
    }

    /// Frames a network interface transmitted since the last call, in
    /// order. Empty for devices that are not network interfaces.
    fn take_frames(&mut self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// A frame arriving from the network at `now`. Returns false when the
    /// device dropped it (receiver disabled, FIFO full, filtered out), as
    /// the hardware would.
    fn receive_frame(&mut self, _frame: &[u8], _now: Ticks) -> bool {
        false
    }

    /// The network link went up or down (cable, partition).
    fn set_link(&mut self, _up: bool) {}

    /// Move data between the device and guest memory, as a bus master.
    /// The machine calls it right after every [`Device::advance`], with
    /// the same `now`: a device with work due at a deadline (a vsync, an
    /// audio period) does its memory side here.
    fn dma(&mut self, _mem: &mut dyn Dma, _now: Ticks) {}

    /// Frames a display showed since the last call, oldest first.
    fn take_video(&mut self) -> Vec<VideoFrame> {
        Vec::new()
    }

    /// Samples a sound output played since the last call.
    fn take_audio(&mut self) -> Vec<AudioChunk> {
        Vec::new()
    }

    /// Output lines a person can see (LEDs): `(count, levels)` with bit
    /// `n` for LED `n`. `None` for devices without any.
    fn leds(&self) -> Option<(u32, u32)> {
        None
    }

    /// A touch panel is touched at (`x`, `y`) pixels, or released.
    /// Returns false for devices that are not touch panels.
    fn touch(&mut self, _x: u32, _y: u32, _pressed: bool, _now: Ticks) -> bool {
        false
    }

    /// Feed sensor channel `channel` ("accel", "temperature", ...) from
    /// `source`. Returns false when the device has no such channel.
    fn set_sensor(&mut self, _channel: &str, _source: SensorSource) -> bool {
        false
    }

    /// What sensor channel `channel` reads at `now` (SI units), for a
    /// user interface to show. `None` when the device has no such channel.
    fn sensor_value(&self, _channel: &str, _now: Ticks) -> Option<[f64; 3]> {
        None
    }

    /// Names of the sensor channels the device has, in register order.
    fn sensor_channels(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Feed a sound input (a microphone). False for devices without one.
    fn set_audio_source(&mut self, _source: AudioSource) -> bool {
        false
    }

    /// The device's whole state, for a snapshot of the machine (`None`:
    /// this model cannot be saved).
    fn save_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Return to a state [`Device::save_state`] produced.
    fn restore_state(&mut self, _state: &[u8]) -> Result<(), String> {
        Err(format!("{} cannot be restored", self.kind()))
    }
}

/// `save_state`/`restore_state` for a model whose struct derives serde's
/// traits: its fields are its state.
#[macro_export]
macro_rules! state_by_serde {
    () => {
        fn save_state(&self) -> Option<Vec<u8>> {
            postcard::to_allocvec(self).ok()
        }

        fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
            *self = postcard::from_bytes(state)
                .map_err(|e| format!("{}: bad saved state: {e}", self.kind()))?;
            Ok(())
        }
    };
}

/// Combine a sub-word write into a 32-bit register value, as a bus with byte
/// lanes does: `offset` is the byte address of the access.
pub fn merge_write(old: u32, offset: u64, size: u8, value: u32) -> u32 {
    let shift = ((offset & 3) * 8) as u32;
    let mask: u32 = match size {
        1 => 0xff,
        2 => 0xffff,
        _ => return value,
    };
    (old & !(mask << shift)) | ((value & mask) << shift)
}

/// Extract a sub-word read from a 32-bit register value.
pub fn extract_read(reg: u32, offset: u64, size: u8) -> u32 {
    let shift = ((offset & 3) * 8) as u32;
    match size {
        1 => (reg >> shift) & 0xff,
        2 => (reg >> shift) & 0xffff,
        _ => reg,
    }
}

/// The value of a `size`-byte write as a device with 32-bit registers sees
/// it when the bus zero-pads narrow accesses (QEMU's behaviour for all the
/// CMSDK and MPS2 models): the other bytes of the register are not kept.
pub fn zero_extend(value: u32, size: u8) -> u32 {
    match size {
        1 => value & 0xff,
        2 => value & 0xffff,
        _ => value,
    }
}

/// The CMSDK/ARM PrimeCell identification registers at 0xFD0..0xFFC, shared
/// by all CMSDK APB peripherals. `ids` holds PID4..PID7, PID0..PID3,
/// CID0..CID3 in address order.
pub fn primecell_id(ids: &[u8; 12], offset: u64) -> Option<u32> {
    if (0xfd0..0x1000).contains(&offset) {
        Some(ids[((offset - 0xfd0) / 4) as usize] as u32)
    } else {
        None
    }
}

/// An ID register read as QEMU's CMSDK models decode it: any offset from
/// PID4 (0xFD0) to CID3 (0xFFC) inclusive selects the word it falls in, and
/// the value is returned unshifted (narrow reads see its low bytes).
pub fn id_register(ids: &[u8; 12], offset: u64) -> Option<u32> {
    if offset <= 0xffc {
        primecell_id(ids, offset)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every model saves and restores its whole state: a fresh model given
    /// the saved state reads and schedules exactly as the original.
    #[test]
    fn snapshots_restore_every_model() {
        let hz = 25_000_000;
        let mut models: Vec<(Box<dyn Device>, Box<dyn Device>)> = vec![
            (
                Box::new(cmsdk_uart::CmsdkUart::new(hz)),
                Box::new(cmsdk_uart::CmsdkUart::new(hz)),
            ),
            (
                Box::new(cmsdk_timer::CmsdkTimer::new()),
                Box::new(cmsdk_timer::CmsdkTimer::new()),
            ),
            (
                Box::new(cmsdk_dualtimer::CmsdkDualTimer::new()),
                Box::new(cmsdk_dualtimer::CmsdkDualTimer::new()),
            ),
            (
                Box::new(cmsdk_watchdog::CmsdkWatchdog::new()),
                Box::new(cmsdk_watchdog::CmsdkWatchdog::new()),
            ),
            (
                Box::new(fpgaio::Fpgaio::new(hz)),
                Box::new(fpgaio::Fpgaio::new(hz)),
            ),
            (
                Box::new(mps2_scc::Mps2Scc::new(1)),
                Box::new(mps2_scc::Mps2Scc::new(1)),
            ),
            (
                Box::new(lan9118::Lan9118::new([2, 0, 0, 0, 0, 1], hz)),
                Box::new(lan9118::Lan9118::new([2, 0, 0, 0, 0, 1], hz)),
            ),
            (
                Box::new(radio::Radio::new(hz, 3)),
                Box::new(radio::Radio::new(hz, 3)),
            ),
            (
                Box::new(display::Display::new(hz, 32, 16)),
                Box::new(display::Display::new(hz, 32, 16)),
            ),
            (
                Box::new(touch::Touch::new(32, 16)),
                Box::new(touch::Touch::new(32, 16)),
            ),
            (
                Box::new(gpio::Gpio::new(2, 3)),
                Box::new(gpio::Gpio::new(2, 3)),
            ),
            (
                Box::new(audio::AudioOut::new(hz, 2)),
                Box::new(audio::AudioOut::new(hz, 2)),
            ),
            (
                Box::new(audio::AudioIn::new(hz, 1)),
                Box::new(audio::AudioIn::new(hz, 1)),
            ),
            (
                Box::new(sensors::SensorHub::new(
                    hz,
                    &[sensors::SensorKind::Accel, sensors::SensorKind::Light],
                )),
                Box::new(sensors::SensorHub::new(
                    hz,
                    &[sensors::SensorKind::Accel, sensors::SensorKind::Light],
                )),
            ),
            (
                {
                    let mut b = sbcon_i2c::SbconI2c::new();
                    b.attach(Box::new(lis3dh::Lis3dh::new(hz, 0x18)));
                    Box::new(b)
                },
                {
                    let mut b = sbcon_i2c::SbconI2c::new();
                    b.attach(Box::new(lis3dh::Lis3dh::new(hz, 0x18)));
                    Box::new(b)
                },
            ),
        ];
        for (a, b) in models.iter_mut() {
            // Put the original in some non-reset state: enable bits, counts.
            for off in (0..0x40).step_by(4) {
                a.write(off, 4, 0x0000_00ff, 100);
            }
            a.write(0x108, 4, 1, 150); // a sensor channel on
            a.touch(3, 4, true, 200);
            a.set_input("button1", 1);
            a.advance(5_000);
            let state = a
                .save_state()
                .unwrap_or_else(|| panic!("{} saves", a.kind()));
            b.restore_state(&state).unwrap();
            assert_eq!(a.next_deadline(), b.next_deadline(), "{}", a.kind());
            assert_eq!(a.irq_lines(), b.irq_lines(), "{}", a.kind());
            assert_eq!(a.leds(), b.leds(), "{}", a.kind());
            for off in (0..0x200).step_by(4) {
                assert_eq!(
                    a.read(off, 4, 6_000),
                    b.read(off, 4, 6_000),
                    "{} at {off:#x}",
                    a.kind()
                );
            }
            assert!(b.restore_state(&[0xff, 0xff]).is_err(), "{}", a.kind());
        }
    }

    #[test]
    fn byte_lane_merge() {
        assert_eq!(merge_write(0x1122_3344, 1, 1, 0xaa), 0x1122_aa44);
        assert_eq!(merge_write(0x1122_3344, 2, 2, 0xbeef), 0xbeef_3344);
        assert_eq!(merge_write(0x1122_3344, 0, 4, 7), 7);
        assert_eq!(extract_read(0x1122_3344, 3, 1), 0x11);
        assert_eq!(extract_read(0x1122_3344, 2, 2), 0x1122);
        assert_eq!(zero_extend(0x1122_3344, 1), 0x44);
        assert_eq!(zero_extend(0x1122_3344, 2), 0x3344);
        assert_eq!(zero_extend(0x1122_3344, 4), 0x1122_3344);
    }
}

/// Serde support for arrays longer than serde's built-in 32 elements
/// (`#[serde(with = "crate::big_array")]`), for device snapshots.
pub(crate) mod big_array {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize, const N: usize>(
        a: &[T; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        a.as_slice().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const N: usize>(
        d: D,
    ) -> Result<[T; N], D::Error> {
        let v: Vec<T> = Vec::deserialize(d)?;
        let len = v.len();
        v.try_into()
            .map_err(|_| D::Error::custom(format!("expected {N} elements, got {len}")))
    }
}
