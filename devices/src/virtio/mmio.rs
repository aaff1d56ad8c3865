//! The virtio-mmio transport, version 2 (virtio 1.2 section 4.2.2).
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x000 | MagicValue | RO | 0x7472_6976 ("virt") |
//! | 0x004 | Version | RO | 2 |
//! | 0x008 | DeviceID | RO | device type (1 net, 2 block, 18 input) |
//! | 0x00C | VendorID | RO | 0x454E_534D |
//! | 0x010 | DeviceFeatures | RO | 32 feature bits selected by DeviceFeaturesSel |
//! | 0x014 | DeviceFeaturesSel | WO | 0 low word, 1 high word, others read 0 |
//! | 0x020 | DriverFeatures | WO | 32 accepted bits selected by DriverFeaturesSel |
//! | 0x024 | DriverFeaturesSel | WO | |
//! | 0x030 | QueueSel | WO | queue the Queue* registers address |
//! | 0x034 | QueueNumMax | RO | 256, 0 for a queue that does not exist |
//! | 0x038 | QueueNum | WO | queue size (ignored while ready) |
//! | 0x044 | QueueReady | RW | 1 enables (needs 1 <= QueueNum <= max) |
//! | 0x050 | QueueNotify | WO | queue index with new buffers |
//! | 0x060 | InterruptStatus | RO | b0 used buffer, b1 configuration change |
//! | 0x064 | InterruptACK | WO | clears the bits written |
//! | 0x070 | Status | RW | device status; writing 0 resets the device |
//! | 0x080/0x084 | QueueDescLow/High | RW | descriptor table address |
//! | 0x090/0x094 | QueueDriverLow/High | RW | available ring address |
//! | 0x0A0/0x0A4 | QueueDeviceLow/High | RW | used ring address |
//! | 0x0AC | SHMSel | WO | no shared memory regions: |
//! | 0x0B0/0x0B4 | SHMLenLow/High | RO | all ones ("no such region", as Linux expects) |
//! | 0x0B8/0x0BC | SHMBaseLow/High | RO | 0 |
//! | 0x0C0 | QueueReset | RW | 0 (VIRTIO_F_RING_RESET not offered) |
//! | 0x0FC | ConfigGeneration | RO | bumped at every configuration change |
//! | 0x100.. | Config | RW | device configuration space, any access size |
//!
//! Registers below 0x100 take aligned 32-bit accesses only (the spec's
//! rule); other accesses read 0 and are ignored. Interrupt line 0 is
//! InterruptStatus != 0.
//!
//! FEATURES_OK stays clear when the driver accepted a bit not offered or
//! did not accept VERSION_1 (a version 2 transport is virtio 1.x only).
//! Queues are processed only while DRIVER_OK and FEATURES_OK are set and
//! DEVICE_NEEDS_RESET is not. A malformed ring sets DEVICE_NEEDS_RESET and
//! raises the configuration-change interrupt; only a reset clears it.

use serde::{Deserialize, Serialize};

use super::{VirtioDevice, Virtqueue, F_INDIRECT_DESC, F_VERSION_1, QUEUE_MAX};
use crate::{Device, Dma, Ticks};

pub const MAGIC_VALUE: u64 = 0x000;
pub const VERSION: u64 = 0x004;
pub const DEVICE_ID: u64 = 0x008;
pub const VENDOR_ID: u64 = 0x00c;
pub const DEVICE_FEATURES: u64 = 0x010;
pub const DEVICE_FEATURES_SEL: u64 = 0x014;
pub const DRIVER_FEATURES: u64 = 0x020;
pub const DRIVER_FEATURES_SEL: u64 = 0x024;
pub const QUEUE_SEL: u64 = 0x030;
pub const QUEUE_NUM_MAX: u64 = 0x034;
pub const QUEUE_NUM: u64 = 0x038;
pub const QUEUE_READY: u64 = 0x044;
pub const QUEUE_NOTIFY: u64 = 0x050;
pub const INTERRUPT_STATUS: u64 = 0x060;
pub const INTERRUPT_ACK: u64 = 0x064;
pub const STATUS: u64 = 0x070;
pub const QUEUE_DESC_LOW: u64 = 0x080;
pub const QUEUE_DESC_HIGH: u64 = 0x084;
pub const QUEUE_DRIVER_LOW: u64 = 0x090;
pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
pub const SHM_SEL: u64 = 0x0ac;
pub const SHM_LEN_LOW: u64 = 0x0b0;
pub const SHM_LEN_HIGH: u64 = 0x0b4;
pub const SHM_BASE_LOW: u64 = 0x0b8;
pub const SHM_BASE_HIGH: u64 = 0x0bc;
pub const QUEUE_RESET: u64 = 0x0c0;
pub const CONFIG_GENERATION: u64 = 0x0fc;
pub const CONFIG: u64 = 0x100;

pub const MAGIC: u32 = 0x7472_6976;
pub const VENDOR: u32 = 0x454e_534d;
pub const WINDOW: u64 = 0x200;

pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;
pub const STATUS_NEEDS_RESET: u32 = 64;
pub const STATUS_FAILED: u32 = 128;

pub const INT_USED_BUFFER: u32 = 1;
pub const INT_CONFIG: u32 = 2;

/// The interrupt output line.
pub const LINE_IRQ: u32 = 1;

/// The transport's registers and queues (the serializable part).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct Transport {
    device_id: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    status: u32,
    interrupt_status: u32,
    config_generation: u32,
    queues: Vec<Virtqueue>,
    /// A QueueNotify waits for the next [`Device::dma`].
    notified: bool,
    /// Latest time seen, the deadline asked for when work is staged.
    now: Ticks,
    /// Why DEVICE_NEEDS_RESET was set.
    error: Option<String>,
}

impl Transport {
    fn new(device_id: u32, queues: usize) -> Self {
        Transport {
            device_id,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            status: 0,
            interrupt_status: 0,
            config_generation: 0,
            queues: vec![Virtqueue::new(QUEUE_MAX); queues],
            notified: false,
            now: 0,
            error: None,
        }
    }

    fn queue(&mut self) -> Option<&mut Virtqueue> {
        self.queues.get_mut(self.queue_sel as usize)
    }
}

/// A virtio-mmio transport around one device.
pub struct VirtioMmio {
    t: Transport,
    device: Box<dyn VirtioDevice>,
}

impl VirtioMmio {
    pub fn new(device: Box<dyn VirtioDevice>) -> Self {
        VirtioMmio {
            t: Transport::new(device.device_id(), device.queue_count()),
            device,
        }
    }

    /// The device behind the transport.
    pub fn device(&self) -> &dyn VirtioDevice {
        self.device.as_ref()
    }

    pub fn device_mut(&mut self) -> &mut dyn VirtioDevice {
        self.device.as_mut()
    }

    /// The device as its own type (`dev.device_as::<VirtioBlk>()`).
    pub fn device_as<T: 'static>(&self) -> Option<&T> {
        self.device.as_any().downcast_ref()
    }

    pub fn device_as_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.device.as_any_mut().downcast_mut()
    }

    /// Every feature bit offered.
    pub fn offered_features(&self) -> u64 {
        self.device.features() | F_VERSION_1 | F_INDIRECT_DESC
    }

    /// The device status register.
    pub fn status(&self) -> u32 {
        self.t.status
    }

    /// Why the device set DEVICE_NEEDS_RESET, if it did.
    pub fn error(&self) -> Option<&str> {
        self.t.error.as_deref()
    }

    fn running(&self) -> bool {
        let need = STATUS_DRIVER_OK | STATUS_FEATURES_OK;
        self.t.status & need == need && self.t.status & STATUS_NEEDS_RESET == 0
    }

    /// Something a [`Device::dma`] now would move.
    fn work_due(&self) -> bool {
        self.t.notified || (self.running() && self.device.has_work())
    }

    fn see(&mut self, now: Ticks) {
        self.t.now = self.t.now.max(now);
    }

    fn reset_all(&mut self) {
        let now = self.t.now;
        let generation = self.t.config_generation;
        self.t = Transport::new(self.device.device_id(), self.device.queue_count());
        self.t.now = now;
        // Drivers compare generations across reads: never go back.
        self.t.config_generation = generation;
        self.device.reset();
    }

    fn config_changed(&mut self) {
        self.t.config_generation = self.t.config_generation.wrapping_add(1);
        if self.t.status & STATUS_DRIVER_OK != 0 {
            self.t.interrupt_status |= INT_CONFIG;
        }
    }

    fn write_status(&mut self, value: u32) {
        if value == 0 {
            self.reset_all();
            return;
        }
        let old = self.t.status;
        // The device's own bit survives driver writes.
        let mut new = (value & 0xff) | (old & STATUS_NEEDS_RESET);
        if new & STATUS_FEATURES_OK != 0 && old & STATUS_FEATURES_OK == 0 {
            let f = self.t.driver_features;
            if f & !self.offered_features() != 0 || f & F_VERSION_1 == 0 {
                new &= !STATUS_FEATURES_OK;
            } else {
                self.device.set_driver_features(f);
            }
        }
        self.t.status = new;
    }

    fn read_reg(&mut self, offset: u64) -> u32 {
        let q = self.t.queues.get(self.t.queue_sel as usize);
        match offset {
            MAGIC_VALUE => MAGIC,
            VERSION => 2,
            DEVICE_ID => self.t.device_id,
            VENDOR_ID => VENDOR,
            DEVICE_FEATURES => match self.t.device_features_sel {
                0 => self.offered_features() as u32,
                1 => (self.offered_features() >> 32) as u32,
                _ => 0,
            },
            QUEUE_NUM_MAX => q.map_or(0, |q| q.max_size() as u32),
            QUEUE_NUM => q.map_or(0, |q| q.size() as u32),
            QUEUE_READY => q.is_some_and(|q| q.is_ready()) as u32,
            INTERRUPT_STATUS => self.t.interrupt_status,
            STATUS => self.t.status,
            QUEUE_DESC_LOW => q.map_or(0, |q| q.addresses().0 as u32),
            QUEUE_DESC_HIGH => q.map_or(0, |q| (q.addresses().0 >> 32) as u32),
            QUEUE_DRIVER_LOW => q.map_or(0, |q| q.addresses().1 as u32),
            QUEUE_DRIVER_HIGH => q.map_or(0, |q| (q.addresses().1 >> 32) as u32),
            QUEUE_DEVICE_LOW => q.map_or(0, |q| q.addresses().2 as u32),
            QUEUE_DEVICE_HIGH => q.map_or(0, |q| (q.addresses().2 >> 32) as u32),
            SHM_LEN_LOW | SHM_LEN_HIGH => u32::MAX,
            CONFIG_GENERATION => self.t.config_generation,
            _ => 0,
        }
    }

    fn write_reg(&mut self, offset: u64, v: u32) {
        let low = |old: u64| (old & !0xffff_ffff) | v as u64;
        let high = |old: u64| (old & 0xffff_ffff) | (v as u64) << 32;
        match offset {
            DEVICE_FEATURES_SEL => self.t.device_features_sel = v,
            DRIVER_FEATURES_SEL => self.t.driver_features_sel = v,
            DRIVER_FEATURES => match self.t.driver_features_sel {
                0 => self.t.driver_features = low(self.t.driver_features),
                1 => self.t.driver_features = high(self.t.driver_features),
                _ => {}
            },
            QUEUE_SEL => self.t.queue_sel = v,
            QUEUE_NOTIFY => {
                if (v as usize) < self.t.queues.len() {
                    self.t.notified = true;
                }
            }
            INTERRUPT_ACK => self.t.interrupt_status &= !v,
            STATUS => self.write_status(v),
            _ => {
                let Some(q) = self.t.queue() else { return };
                let (desc, avail, used) = q.addresses();
                match offset {
                    QUEUE_NUM => q.set_size(v),
                    QUEUE_READY => q.set_ready(v & 1 != 0),
                    QUEUE_DESC_LOW => q.set_desc(low(desc)),
                    QUEUE_DESC_HIGH => q.set_desc(high(desc)),
                    QUEUE_DRIVER_LOW => q.set_avail(low(avail)),
                    QUEUE_DRIVER_HIGH => q.set_avail(high(avail)),
                    QUEUE_DEVICE_LOW => q.set_used(low(used)),
                    QUEUE_DEVICE_HIGH => q.set_used(high(used)),
                    _ => {}
                }
            }
        }
    }
}

impl Device for VirtioMmio {
    fn kind(&self) -> &'static str {
        "virtio-mmio"
    }

    fn window(&self) -> u64 {
        WINDOW
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        self.see(now);
        if offset >= CONFIG {
            let mut b = [0u8; 4];
            let n = (size as usize).clamp(1, 4);
            self.device.read_config(offset - CONFIG, &mut b[..n]);
            return u32::from_le_bytes(b);
        }
        if size != 4 || offset & 3 != 0 {
            return 0;
        }
        self.read_reg(offset)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        self.see(now);
        if offset >= CONFIG {
            let n = (size as usize).clamp(1, 4);
            self.device
                .write_config(offset - CONFIG, &value.to_le_bytes()[..n]);
            return;
        }
        if size == 4 && offset & 3 == 0 {
            self.write_reg(offset, value);
        }
    }

    fn reset(&mut self) {
        self.reset_all();
    }

    fn next_deadline(&self) -> Option<Ticks> {
        // Staged work (a frame, input events) is moved at the next
        // service, which a deadline already passed asks for.
        self.work_due().then_some(self.t.now)
    }

    fn advance(&mut self, now: Ticks) {
        self.see(now);
    }

    fn irq_lines(&self) -> u32 {
        if self.t.interrupt_status != 0 {
            LINE_IRQ
        } else {
            0
        }
    }

    fn set_input(&mut self, name: &str, level: u32) {
        self.device.set_input(name, level);
    }

    fn wants_service(&self) -> bool {
        self.device.wants_service() || self.work_due()
    }

    fn take_frames(&mut self) -> Vec<Vec<u8>> {
        self.device.take_frames()
    }

    fn receive_frame(&mut self, frame: &[u8], now: Ticks) -> bool {
        self.see(now);
        self.running() && self.device.receive_frame(frame)
    }

    fn set_link(&mut self, up: bool) {
        if self.device.set_link(up) {
            self.config_changed();
        }
    }

    fn dma(&mut self, mem: &mut dyn Dma, now: Ticks) {
        self.see(now);
        self.t.notified = false;
        if !self.running() {
            return;
        }
        let result = self.device.process(&mut self.t.queues, mem, now);
        let mut used = false;
        for q in &mut self.t.queues {
            used |= q.take_signal();
        }
        if used {
            self.t.interrupt_status |= INT_USED_BUFFER;
        }
        if let Err(e) = result {
            self.t.status |= STATUS_NEEDS_RESET;
            self.t.error = Some(format!("{}: {e}", self.device.name()));
            self.config_changed();
        }
    }

    fn touch(&mut self, x: u32, y: u32, pressed: bool, now: Ticks) -> bool {
        self.see(now);
        self.device.touch(x, y, pressed)
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        let device = self.device.save_state()?;
        postcard::to_allocvec(&(&self.t, device)).ok()
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        let (t, device): (Transport, Vec<u8>) = postcard::from_bytes(state)
            .map_err(|e| format!("virtio-mmio: bad saved state: {e}"))?;
        if t.device_id != self.device.device_id() || t.queues.len() != self.device.queue_count() {
            return Err(format!(
                "virtio-mmio: saved state is of another device than {}",
                self.device.name()
            ));
        }
        self.device.restore_state(&device)?;
        self.t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{Driver, RAM_BASE};
    use super::super::{VirtioBlk, VirtioInput, VirtioNet, F_EVENT_IDX};
    use super::*;

    fn blk() -> Box<dyn VirtioDevice> {
        Box::new(VirtioBlk::from_bytes(vec![0x5a; 4096]))
    }

    #[test]
    fn identification_registers() {
        let mut d = Driver::attach(Box::new(VirtioNet::new([2, 0, 0, 0, 0, 1])));
        assert_eq!(d.dev.kind(), "virtio-mmio");
        assert_eq!(d.dev.window(), 0x200);
        assert_eq!(d.rd(DEVICE_ID), 1);
        assert_eq!(d.rd(VENDOR_ID), VENDOR);
        let f = d.device_features();
        assert_ne!(f & F_VERSION_1, 0);
        assert_ne!(f & F_INDIRECT_DESC, 0);
        assert_eq!(f & F_EVENT_IDX, 0);
        d.wr(DEVICE_FEATURES_SEL, 2);
        assert_eq!(d.rd(DEVICE_FEATURES), 0);
        d.wr(SHM_SEL, 0);
        assert_eq!(d.rd(SHM_LEN_LOW), u32::MAX);
        assert_eq!(d.rd(SHM_LEN_HIGH), u32::MAX);
        assert_eq!(d.rd(SHM_BASE_LOW), 0);
        assert_eq!(d.rd(QUEUE_RESET), 0);
        // Two queues: the third does not exist.
        d.wr(QUEUE_SEL, 1);
        assert_eq!(d.rd(QUEUE_NUM_MAX), 256);
        d.wr(QUEUE_SEL, 2);
        assert_eq!(d.rd(QUEUE_NUM_MAX), 0);
        // Registers take 32-bit accesses only.
        assert_eq!(d.dev.read(MAGIC_VALUE, 2, 0), 0);
        assert_eq!(d.dev.read(MAGIC_VALUE + 1, 4, 0), 0);
    }

    #[test]
    fn features_ok_needs_version_1_and_offered_bits() {
        let mut d = Driver::attach(blk());
        d.negotiate(0);
        assert_eq!(d.rd(STATUS) & STATUS_FEATURES_OK, 0, "no VERSION_1");
        let mut d = Driver::attach(blk());
        d.negotiate(F_VERSION_1 | F_EVENT_IDX);
        assert_eq!(
            d.rd(STATUS) & STATUS_FEATURES_OK,
            0,
            "EVENT_IDX not offered"
        );
        let mut d = Driver::attach(blk());
        d.negotiate(F_VERSION_1);
        assert_eq!(
            d.rd(STATUS),
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK
        );
    }

    #[test]
    fn queue_ready_needs_a_valid_size() {
        let mut d = Driver::attach(blk());
        d.negotiate(F_VERSION_1);
        d.wr(QUEUE_SEL, 0);
        d.wr(QUEUE_NUM, 0);
        d.wr(QUEUE_READY, 1);
        assert_eq!(d.rd(QUEUE_READY), 0);
        d.wr(QUEUE_NUM, 512);
        d.wr(QUEUE_READY, 1);
        assert_eq!(d.rd(QUEUE_READY), 0);
        d.wr(QUEUE_NUM, 64);
        d.wr(QUEUE_DESC_LOW, 0x1234_5000);
        d.wr(QUEUE_DESC_HIGH, 1);
        d.wr(QUEUE_READY, 1);
        assert_eq!(d.rd(QUEUE_READY), 1);
        assert_eq!(d.rd(QUEUE_DESC_LOW), 0x1234_5000);
        assert_eq!(d.rd(QUEUE_DESC_HIGH), 1);
        // Live queues keep their size.
        d.wr(QUEUE_NUM, 8);
        assert_eq!(d.rd(QUEUE_NUM), 64);
        d.wr(QUEUE_READY, 0);
        assert_eq!(d.rd(QUEUE_READY), 0);
    }

    #[test]
    fn status_zero_resets_everything() {
        let mut d = Driver::start(blk(), 8);
        let hdr = d.alloc(16);
        let data = d.alloc(512);
        let st = d.alloc(1);
        d.add(0, &[(hdr, 16, false), (data, 512, true), (st, 1, true)]);
        d.kick(0);
        assert_eq!(d.dev.irq_lines(), LINE_IRQ);
        d.wr(STATUS, 0);
        assert_eq!(d.rd(STATUS), 0);
        assert_eq!(d.rd(INTERRUPT_STATUS), 0);
        assert_eq!(d.dev.irq_lines(), 0);
        d.wr(QUEUE_SEL, 0);
        assert_eq!(d.rd(QUEUE_READY), 0);
        assert_eq!(d.rd(QUEUE_DESC_LOW), 0);
    }

    #[test]
    fn interrupt_ack_clears_the_line() {
        let mut d = Driver::start(blk(), 8);
        let hdr = d.alloc(16);
        let st = d.alloc(1);
        d.ram.put(hdr, &4u32.to_le_bytes()); // FLUSH
        d.add(0, &[(hdr, 16, false), (st, 1, true)]);
        d.kick(0);
        assert!(!d.dev.wants_service(), "serviced");
        assert_eq!(d.dev.next_deadline(), None);
        assert_eq!(d.dev.irq_lines(), LINE_IRQ);
        assert_eq!(d.ack(), INT_USED_BUFFER);
        assert_eq!(d.dev.irq_lines(), 0);
    }

    #[test]
    fn no_interrupt_flag_suppresses_the_interrupt() {
        let mut d = Driver::start(blk(), 8);
        let avail = d.queues[0].avail;
        d.ram.put(avail, &1u16.to_le_bytes());
        let hdr = d.alloc(16);
        let st = d.alloc(1);
        d.ram.put(hdr, &4u32.to_le_bytes());
        d.add(0, &[(hdr, 16, false), (st, 1, true)]);
        d.kick(0);
        assert_eq!(d.used(0), vec![(0, 1)]);
        assert_eq!(d.dev.irq_lines(), 0);
    }

    #[test]
    fn nothing_moves_before_driver_ok() {
        let mut d = Driver::attach(blk());
        d.negotiate(F_VERSION_1);
        d.setup_queue(0, 8);
        let hdr = d.alloc(16);
        let st = d.alloc(1);
        d.add(0, &[(hdr, 16, false), (st, 1, true)]);
        d.kick(0);
        assert!(d.used(0).is_empty());
        let s = d.rd(STATUS);
        d.wr(STATUS, s | STATUS_DRIVER_OK);
        d.service();
        assert_eq!(d.used(0).len(), 1);
    }

    fn assert_needs_reset(d: &mut Driver) {
        assert_ne!(d.rd(STATUS) & STATUS_NEEDS_RESET, 0);
        assert_ne!(d.rd(INTERRUPT_STATUS) & INT_CONFIG, 0);
        assert!(d.dev.error().is_some());
        // The device stays stopped; a driver write keeps the bit.
        let s = d.rd(STATUS);
        d.wr(STATUS, s);
        assert_ne!(d.rd(STATUS) & STATUS_NEEDS_RESET, 0);
        d.wr(STATUS, 0);
        assert_eq!(d.rd(STATUS), 0);
    }

    #[test]
    fn descriptor_loop_needs_reset() {
        let mut d = Driver::start(blk(), 8);
        let generation = d.rd(CONFIG_GENERATION);
        let table = d.queues[0].desc;
        let hdr = d.alloc(16);
        d.put_desc(table, 0, (hdr, 16, false), 1, 1);
        d.put_desc(table, 1, (hdr, 16, false), 1, 0);
        d.publish(0, 0);
        d.kick(0);
        assert!(d.dev.error().unwrap().contains("loops"));
        assert_ne!(d.rd(CONFIG_GENERATION), generation);
        assert_needs_reset(&mut d);
    }

    #[test]
    fn descriptor_outside_memory_needs_reset() {
        let mut d = Driver::start(blk(), 8);
        let hdr = d.alloc(16);
        let st = d.alloc(1);
        d.add(0, &[(hdr, 16, false), (0x10, 512, true), (st, 1, true)]);
        d.kick(0);
        assert!(d.used(0).is_empty());
        assert_needs_reset(&mut d);
    }

    #[test]
    fn other_malformed_rings_need_reset() {
        type Spoil = fn(&mut Driver);
        let cases: [(&str, Spoil); 6] = [
            ("next index", |d| {
                let (t, h) = (d.queues[0].desc, d.alloc(16));
                d.put_desc(t, 0, (h, 16, false), 1, 99);
                d.publish(0, 0);
            }),
            ("head index", |d| d.publish(0, 8)),
            ("avail overrun", |d| {
                let a = d.queues[0].avail;
                d.ram.put(a + 2, &100u16.to_le_bytes());
            }),
            ("readable after writable", |d| {
                let h = d.alloc(16);
                d.add(0, &[(h, 1, true), (h, 16, false)]);
            }),
            ("indirect with next", |d| {
                let (t, h) = (d.queues[0].desc, d.alloc(16));
                d.put_desc(t, 0, (h, 16, false), 4 | 1, 1);
                d.publish(0, 0);
            }),
            ("indirect of odd size", |d| {
                let (t, h) = (d.queues[0].desc, d.alloc(32));
                d.put_desc(t, 0, (h, 17, false), 4, 0);
                d.publish(0, 0);
            }),
        ];
        for (name, spoil) in cases {
            let mut d = Driver::start(blk(), 8);
            spoil(&mut d);
            d.kick(0);
            assert_ne!(d.rd(STATUS) & STATUS_NEEDS_RESET, 0, "{name}");
        }
        // A ring placed outside memory.
        let mut d = Driver::start(blk(), 8);
        d.wr(QUEUE_SEL, 0);
        d.wr(QUEUE_READY, 0);
        d.wr(QUEUE_DRIVER_LOW, 0x100);
        d.wr(QUEUE_READY, 1);
        d.kick(0);
        assert_ne!(d.rd(STATUS) & STATUS_NEEDS_RESET, 0, "avail ring");
    }

    #[test]
    fn snapshot_round_trip() {
        let devices: Vec<fn() -> Box<dyn VirtioDevice>> = vec![
            blk,
            || Box::new(VirtioNet::new([2, 0, 0, 0, 0, 9])),
            || Box::new(VirtioInput::touchscreen(320, 240)),
            || Box::new(VirtioInput::keyboard()),
        ];
        for make in devices {
            let mut d = Driver::start(make(), 8);
            let hdr = d.alloc(16);
            d.ram.put(hdr, &1u32.to_le_bytes()); // an OUT for the blk
            d.add(
                0,
                &[(hdr, 16, false), (RAM_BASE, 512, false), (hdr, 1, true)],
            );
            d.kick(0);
            d.dev.touch(5, 6, true, d.now);
            d.dev.set_input("KEY_A", 1);
            let state = d.dev.save_state().expect("saves");
            let mut b = VirtioMmio::new(make());
            b.restore_state(&state).unwrap();
            assert_eq!(b.save_state().unwrap(), state);
            assert_eq!(b.irq_lines(), d.dev.irq_lines());
            assert_eq!(b.next_deadline(), d.dev.next_deadline());
            for off in (0..0x200).step_by(4) {
                assert_eq!(b.read(off, 4, 1000), d.dev.read(off, 4, 1000), "{off:#x}");
            }
            assert!(b.restore_state(&[0xff, 0xff]).is_err());
        }
        // Another device type is refused.
        let d = Driver::start(blk(), 8);
        let mut net = VirtioMmio::new(Box::new(VirtioNet::new([2; 6])));
        assert!(net.restore_state(&d.dev.save_state().unwrap()).is_err());
    }
}
