//! Virtio devices over the MMIO transport (virtio 1.2, section 4.2: the
//! "virtio-mmio" version 2 register layout QEMU's `virt` board uses), for
//! Linux's virtio_mmio, virtio_blk, virtio_net and virtio_input drivers.
//!
//! [`VirtioMmio`] is the transport: one 0x200-byte window and one interrupt
//! line, wrapping a [`VirtioDevice`] (the device type): [`VirtioBlk`],
//! [`VirtioNet`] or [`VirtioInput`]. Virtqueues are split rings
//! ([`queue::Virtqueue`]) read and written through [`crate::Dma`] in
//! [`crate::Device::dma`]; a QueueNotify write asks for that service at
//! once ([`crate::Device::wants_service`]).
//!
//! Features offered by every device: VIRTIO_F_VERSION_1 (required) and
//! VIRTIO_F_INDIRECT_DESC. VIRTIO_F_EVENT_IDX is not offered: the driver
//! notifies on every new buffer and suppresses interrupts with the avail
//! ring's NO_INTERRUPT flag, which the device honours. A malformed ring
//! (a descriptor outside memory, a loop, a bad index) sets
//! DEVICE_NEEDS_RESET, raises a configuration-change interrupt and stops the
//! device until the driver resets it.

pub mod blk;
pub mod input;
pub mod mmio;
pub mod net;
pub mod queue;

#[cfg(test)]
mod testutil;

pub use blk::{DiskMode, VirtioBlk};
pub use input::VirtioInput;
pub use mmio::VirtioMmio;
pub use net::VirtioNet;
pub use queue::{Chain, QueueError, Segment, Virtqueue};

use crate::{Dma, Ticks};

/// Device IDs (virtio 1.2 section 5).
pub const ID_NET: u32 = 1;
pub const ID_BLOCK: u32 = 2;
pub const ID_INPUT: u32 = 18;

/// Transport feature bits the transport adds to every device's own.
pub const F_INDIRECT_DESC: u64 = 1 << 28;
pub const F_EVENT_IDX: u64 = 1 << 29;
pub const F_VERSION_1: u64 = 1 << 32;

/// The largest queue size offered (a power of two, as Linux requires).
pub const QUEUE_MAX: u16 = 256;

/// A virtio device type behind a transport. The transport owns the
/// virtqueues and hands them to [`VirtioDevice::process`] whenever the
/// driver is running (DRIVER_OK, FEATURES_OK, not NEEDS_RESET).
pub trait VirtioDevice: Send {
    /// Short name for traces (`"virtio-blk"`).
    fn name(&self) -> &'static str;

    /// For [`VirtioMmio::device_as`]: `self`.
    fn as_any(&self) -> &dyn std::any::Any;

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;

    /// The virtio device ID (1 net, 2 block, 18 input).
    fn device_id(&self) -> u32;

    /// Device-type feature bits offered (bits below 24); the transport adds
    /// VERSION_1 and INDIRECT_DESC.
    fn features(&self) -> u64;

    /// The features the driver accepted (FEATURES_OK was set with them).
    fn set_driver_features(&mut self, _features: u64) {}

    /// Number of virtqueues.
    fn queue_count(&self) -> usize;

    /// Read device configuration space at `offset` (bytes the device does
    /// not have read 0).
    fn read_config(&self, offset: u64, data: &mut [u8]);

    /// Write device configuration space (ignored by default).
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}

    /// The driver reset the device (Status = 0) or the machine reset.
    /// Disk contents survive; queued work does not.
    fn reset(&mut self);

    /// Move data through the queues. Errors mean a malformed ring.
    fn process(
        &mut self,
        queues: &mut [Virtqueue],
        mem: &mut dyn Dma,
        now: Ticks,
    ) -> Result<(), QueueError>;

    /// Work is staged that a [`VirtioDevice::process`] now would move (a
    /// received frame, input events with buffers to take them).
    fn has_work(&self) -> bool {
        false
    }

    /// Output is waiting to be taken (a sent frame).
    fn wants_service(&self) -> bool {
        false
    }

    fn take_frames(&mut self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// A frame from the network; false when dropped (no buffer, link down).
    fn receive_frame(&mut self, _frame: &[u8]) -> bool {
        false
    }

    /// Returns true when the configuration space changed.
    fn set_link(&mut self, _up: bool) -> bool {
        false
    }

    fn touch(&mut self, _x: u32, _y: u32, _pressed: bool) -> bool {
        false
    }

    fn set_input(&mut self, _name: &str, _level: u32) {}

    /// The device's state for a snapshot (not the transport's).
    fn save_state(&self) -> Option<Vec<u8>>;

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String>;
}

/// Copy `config[offset..]` into `data`, zeros past its end.
pub(crate) fn read_config_bytes(config: &[u8], offset: u64, data: &mut [u8]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(i))
            .and_then(|o| config.get(o).copied())
            .unwrap_or(0);
    }
}
