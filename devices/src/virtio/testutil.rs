//! A fake guest for the virtio tests: RAM as a `Vec<u8>` and a driver
//! that sets devices up the way Linux's virtio_mmio does.

use super::mmio::*;
use super::{VirtioDevice, VirtioMmio};
use crate::{Device, Dma};

pub const RAM_BASE: u64 = 0x4000_0000;
pub const RAM_SIZE: usize = 0x10_0000;

pub struct Ram {
    pub bytes: Vec<u8>,
}

impl Ram {
    fn range(&self, addr: u64, len: usize) -> Option<std::ops::Range<usize>> {
        let off = usize::try_from(addr.checked_sub(RAM_BASE)?).ok()?;
        let end = off.checked_add(len)?;
        (end <= self.bytes.len()).then_some(off..end)
    }

    pub fn get(&self, addr: u64, len: usize) -> &[u8] {
        &self.bytes[self.range(addr, len).expect("in RAM")]
    }

    pub fn put(&mut self, addr: u64, data: &[u8]) {
        let r = self.range(addr, data.len()).expect("in RAM");
        self.bytes[r].copy_from_slice(data);
    }

    pub fn u16(&self, addr: u64) -> u16 {
        u16::from_le_bytes(self.get(addr, 2).try_into().unwrap())
    }

    pub fn u32(&self, addr: u64) -> u32 {
        u32::from_le_bytes(self.get(addr, 4).try_into().unwrap())
    }
}

impl Dma for Ram {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        match self.range(addr, buf.len()) {
            Some(r) => {
                buf.copy_from_slice(&self.bytes[r]);
                true
            }
            None => false,
        }
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.range(addr, data.len()) {
            Some(r) => {
                self.bytes[r].copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

pub struct DrvQueue {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
    next_desc: u16,
    avail_idx: u16,
    last_used: u16,
}

/// A buffer for [`Driver::add`]: address, length, device-writable.
pub type Buf = (u64, u32, bool);

pub struct Driver {
    pub dev: VirtioMmio,
    pub ram: Ram,
    pub queues: Vec<DrvQueue>,
    next_alloc: u64,
    pub now: u64,
}

impl Driver {
    /// Probe and start the device as Linux does, accepting every offered
    /// feature, with `size`-entry queues.
    pub fn start(device: Box<dyn VirtioDevice>, size: u16) -> Driver {
        let mut d = Driver::attach(device);
        let features = d.device_features();
        d.negotiate(features);
        assert_ne!(d.rd(STATUS) & STATUS_FEATURES_OK, 0, "features accepted");
        let n = d.dev.device().queue_count();
        for q in 0..n {
            d.setup_queue(q as u32, size);
        }
        let s = d.rd(STATUS);
        d.wr(STATUS, s | STATUS_DRIVER_OK);
        d
    }

    pub fn attach(device: Box<dyn VirtioDevice>) -> Driver {
        let mut d = Driver {
            dev: VirtioMmio::new(device),
            ram: Ram {
                bytes: vec![0; RAM_SIZE],
            },
            queues: Vec::new(),
            next_alloc: RAM_BASE + 0x1000,
            now: 100,
        };
        assert_eq!(d.rd(MAGIC_VALUE), MAGIC);
        assert_eq!(d.rd(VERSION), 2);
        d.wr(STATUS, 0);
        d.wr(STATUS, STATUS_ACKNOWLEDGE);
        d.wr(STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        d
    }

    pub fn device_features(&mut self) -> u64 {
        self.wr(DEVICE_FEATURES_SEL, 1);
        let high = self.rd(DEVICE_FEATURES) as u64;
        self.wr(DEVICE_FEATURES_SEL, 0);
        let low = self.rd(DEVICE_FEATURES) as u64;
        high << 32 | low
    }

    pub fn negotiate(&mut self, features: u64) {
        self.wr(DRIVER_FEATURES_SEL, 1);
        self.wr(DRIVER_FEATURES, (features >> 32) as u32);
        self.wr(DRIVER_FEATURES_SEL, 0);
        self.wr(DRIVER_FEATURES, features as u32);
        let s = self.rd(STATUS);
        self.wr(STATUS, s | STATUS_FEATURES_OK);
    }

    pub fn setup_queue(&mut self, index: u32, size: u16) {
        self.wr(QUEUE_SEL, index);
        assert_eq!(self.rd(QUEUE_READY), 0);
        assert!(self.rd(QUEUE_NUM_MAX) >= size as u32);
        let desc = self.alloc(16 * size as u64);
        let avail = self.alloc(6 + 2 * size as u64);
        let used = self.alloc(6 + 8 * size as u64);
        self.wr(QUEUE_NUM, size as u32);
        self.wr(QUEUE_DESC_LOW, desc as u32);
        self.wr(QUEUE_DESC_HIGH, (desc >> 32) as u32);
        self.wr(QUEUE_DRIVER_LOW, avail as u32);
        self.wr(QUEUE_DRIVER_HIGH, (avail >> 32) as u32);
        self.wr(QUEUE_DEVICE_LOW, used as u32);
        self.wr(QUEUE_DEVICE_HIGH, (used >> 32) as u32);
        self.wr(QUEUE_READY, 1);
        assert_eq!(self.rd(QUEUE_READY), 1);
        self.queues.push(DrvQueue {
            size,
            desc,
            avail,
            used,
            next_desc: 0,
            avail_idx: 0,
            last_used: 0,
        });
    }

    pub fn rd(&mut self, off: u64) -> u32 {
        self.dev.read(off, 4, self.now)
    }

    pub fn wr(&mut self, off: u64, v: u32) {
        self.dev.write(off, 4, v, self.now)
    }

    /// Zeroed RAM, 16-byte aligned.
    pub fn alloc(&mut self, len: u64) -> u64 {
        let a = self.next_alloc;
        self.next_alloc = (a + len + 15) & !15;
        assert!(self.next_alloc <= RAM_BASE + RAM_SIZE as u64);
        a
    }

    /// Write a descriptor into table `table` at `index`.
    pub fn put_desc(&mut self, table: u64, index: u16, buf: Buf, flags: u16, next: u16) {
        let mut d = [0u8; 16];
        d[0..8].copy_from_slice(&buf.0.to_le_bytes());
        d[8..12].copy_from_slice(&buf.1.to_le_bytes());
        let flags = flags | if buf.2 { 2 } else { 0 };
        d[12..14].copy_from_slice(&flags.to_le_bytes());
        d[14..16].copy_from_slice(&next.to_le_bytes());
        self.ram.put(table + 16 * index as u64, &d);
    }

    /// Chain `bufs` in the descriptor table and make the chain available.
    pub fn add(&mut self, q: usize, bufs: &[Buf]) -> u16 {
        let (size, table) = (self.queues[q].size, self.queues[q].desc);
        let head = self.queues[q].next_desc;
        for (i, &b) in bufs.iter().enumerate() {
            let index = (head + i as u16) % size;
            let last = i + 1 == bufs.len();
            let next = (index + 1) % size;
            self.put_desc(table, index, b, if last { 0 } else { 1 }, next);
        }
        self.queues[q].next_desc = (head + bufs.len() as u16) % size;
        self.publish(q, head);
        head
    }

    /// Put `bufs` in an indirect table referenced by one descriptor.
    pub fn add_indirect(&mut self, q: usize, bufs: &[Buf]) -> u16 {
        let table = self.alloc(16 * bufs.len() as u64);
        for (i, &b) in bufs.iter().enumerate() {
            let last = i + 1 == bufs.len();
            self.put_desc(table, i as u16, b, if last { 0 } else { 1 }, i as u16 + 1);
        }
        let (size, qtable) = (self.queues[q].size, self.queues[q].desc);
        let head = self.queues[q].next_desc;
        self.put_desc(qtable, head, (table, 16 * bufs.len() as u32, false), 4, 0);
        self.queues[q].next_desc = (head + 1) % size;
        self.publish(q, head);
        head
    }

    /// Add `head` to the available ring.
    pub fn publish(&mut self, q: usize, head: u16) {
        let dq = &mut self.queues[q];
        let slot = dq.avail + 4 + 2 * (dq.avail_idx % dq.size) as u64;
        dq.avail_idx = dq.avail_idx.wrapping_add(1);
        let (avail, idx) = (dq.avail, dq.avail_idx);
        self.ram.put(slot, &head.to_le_bytes());
        self.ram.put(avail + 2, &idx.to_le_bytes());
    }

    /// Notify queue `q` and let the machine service the device.
    pub fn kick(&mut self, q: usize) {
        self.wr(QUEUE_NOTIFY, q as u32);
        assert!(self.dev.wants_service(), "a notify asks for service");
        self.service();
    }

    /// What the machine does at a service.
    pub fn service(&mut self) {
        self.now += 10;
        self.dev.advance(self.now);
        self.dev.dma(&mut self.ram, self.now);
    }

    /// New used entries: (id, len).
    pub fn used(&mut self, q: usize) -> Vec<(u32, u32)> {
        let dq = &mut self.queues[q];
        let idx = self.ram.u16(dq.used + 2);
        let mut out = Vec::new();
        while dq.last_used != idx {
            let e = dq.used + 4 + 8 * (dq.last_used % dq.size) as u64;
            out.push((self.ram.u32(e), self.ram.u32(e + 4)));
            dq.last_used = dq.last_used.wrapping_add(1);
        }
        out
    }

    /// Read and acknowledge the interrupt status, as vm_interrupt does.
    pub fn ack(&mut self) -> u32 {
        let s = self.rd(INTERRUPT_STATUS);
        self.wr(INTERRUPT_ACK, s);
        s
    }

    /// Read device config bytes one at a time.
    pub fn config(&mut self, offset: u64, len: usize) -> Vec<u8> {
        (0..len as u64)
            .map(|i| self.dev.read(CONFIG + offset + i, 1, self.now) as u8)
            .collect()
    }
}
