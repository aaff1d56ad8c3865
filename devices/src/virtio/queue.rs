//! Split virtqueues (virtio 1.2 section 2.7), device side, over [`Dma`].
//!
//! Layout in guest memory (all little-endian):
//! - descriptor table: `size` entries of 16 bytes: addr u64, len u32,
//!   flags u16 (NEXT 1, WRITE 2, INDIRECT 4), next u16;
//! - available ring: flags u16 (NO_INTERRUPT 1), idx u16, ring[size] u16;
//! - used ring: flags u16, idx u16, ring[size] of (id u32, len u32).
//!
//! Every memory access can fail (the driver gave an address outside RAM);
//! that and any other violation of the ring rules is a [`QueueError`],
//! never a panic.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Dma;

pub const DESC_F_NEXT: u16 = 1;
pub const DESC_F_WRITE: u16 = 2;
pub const DESC_F_INDIRECT: u16 = 4;
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;

const DESC_SIZE: u64 = 16;
/// Bound on an indirect table (Linux uses at most one entry per segment of
/// a request; this only stops a guest from making us allocate gigabytes).
const MAX_INDIRECT: u64 = 4096;

/// A malformed ring: the device must be reset by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// A ring, descriptor or buffer address outside guest memory.
    Memory(u64),
    /// A descriptor index (head or next) past the table.
    BadIndex(u16),
    /// A chain longer than its table: a loop.
    Loop,
    /// An indirect table of bad size, nested, or with NEXT set.
    BadIndirect,
    /// A device-readable descriptor after a device-writable one.
    Order,
    /// The driver made more buffers available than the queue holds.
    AvailOverrun(u16),
    /// A request the device cannot parse (no header, no status byte).
    Request(&'static str),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Memory(a) => write!(f, "address {a:#x} is not in memory"),
            QueueError::BadIndex(i) => write!(f, "descriptor index {i} out of range"),
            QueueError::Loop => write!(f, "descriptor chain loops"),
            QueueError::BadIndirect => write!(f, "bad indirect descriptor table"),
            QueueError::Order => write!(f, "readable descriptor after a writable one"),
            QueueError::AvailOverrun(n) => write!(f, "{n} buffers available in a smaller queue"),
            QueueError::Request(s) => write!(f, "malformed request: {s}"),
        }
    }
}

fn read(mem: &mut dyn Dma, addr: u64, buf: &mut [u8]) -> Result<(), QueueError> {
    if mem.read(addr, buf) {
        Ok(())
    } else {
        Err(QueueError::Memory(addr))
    }
}

fn write(mem: &mut dyn Dma, addr: u64, data: &[u8]) -> Result<(), QueueError> {
    if mem.write(addr, data) {
        Ok(())
    } else {
        Err(QueueError::Memory(addr))
    }
}

fn read_u16(mem: &mut dyn Dma, addr: u64) -> Result<u16, QueueError> {
    let mut b = [0; 2];
    read(mem, addr, &mut b)?;
    Ok(u16::from_le_bytes(b))
}

/// One buffer of a descriptor chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub addr: u64,
    pub len: u32,
    /// Device-writable (the driver reads it back).
    pub writable: bool,
}

/// A descriptor chain taken from the available ring: device-readable
/// segments first, then device-writable ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The head descriptor index, returned in the used ring.
    pub head: u16,
    pub segments: Vec<Segment>,
}

impl Chain {
    pub fn readable_len(&self) -> u64 {
        self.segments
            .iter()
            .filter(|s| !s.writable)
            .map(|s| s.len as u64)
            .sum()
    }

    pub fn writable_len(&self) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.writable)
            .map(|s| s.len as u64)
            .sum()
    }

    /// Copy from the readable bytes, starting `offset` bytes in; returns how
    /// many were copied (fewer at the end of the chain).
    pub fn read(
        &self,
        mem: &mut dyn Dma,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, QueueError> {
        let mut done = 0;
        self.walk(false, offset, buf.len(), |addr, at, n| {
            read(mem, addr, &mut buf[at..at + n])?;
            done += n;
            Ok(())
        })?;
        Ok(done)
    }

    /// Copy into the writable bytes, starting `offset` bytes in; returns
    /// how many were copied (fewer at the end of the chain).
    pub fn write(&self, mem: &mut dyn Dma, offset: u64, data: &[u8]) -> Result<usize, QueueError> {
        let mut done = 0;
        self.walk(true, offset, data.len(), |addr, at, n| {
            write(mem, addr, &data[at..at + n])?;
            done += n;
            Ok(())
        })?;
        Ok(done)
    }

    /// Call `f(guest address, offset in the caller's buffer, length)` for
    /// the pieces of `len` bytes at `offset` in the readable or writable
    /// stream.
    fn walk(
        &self,
        writable: bool,
        mut offset: u64,
        len: usize,
        mut f: impl FnMut(u64, usize, usize) -> Result<(), QueueError>,
    ) -> Result<(), QueueError> {
        let mut at = 0;
        for s in self.segments.iter().filter(|s| s.writable == writable) {
            if at == len {
                break;
            }
            let seg_len = s.len as u64;
            if offset >= seg_len {
                offset -= seg_len;
                continue;
            }
            let n = ((seg_len - offset) as usize).min(len - at);
            let addr = s
                .addr
                .checked_add(offset)
                .ok_or(QueueError::Memory(s.addr))?;
            f(addr, at, n)?;
            at += n;
            offset = 0;
        }
        Ok(())
    }
}

struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

impl Desc {
    fn parse(b: &[u8]) -> Desc {
        Desc {
            addr: u64::from_le_bytes(b[0..8].try_into().expect("16-byte entry")),
            len: u32::from_le_bytes(b[8..12].try_into().expect("16-byte entry")),
            flags: u16::from_le_bytes([b[12], b[13]]),
            next: u16::from_le_bytes([b[14], b[15]]),
        }
    }
}

/// One split virtqueue as the transport's registers configure it, and the
/// device's position in its rings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Virtqueue {
    max: u16,
    size: u16,
    ready: bool,
    desc: u64,
    avail: u64,
    used: u64,
    next_avail: u16,
    next_used: u16,
    /// A used buffer was added and the driver did not suppress the
    /// interrupt; the transport takes it after processing.
    signal: bool,
}

impl Virtqueue {
    pub fn new(max: u16) -> Self {
        Virtqueue {
            max,
            size: max,
            ready: false,
            desc: 0,
            avail: 0,
            used: 0,
            next_avail: 0,
            next_used: 0,
            signal: false,
        }
    }

    /// Back to the state after a device reset.
    pub fn reset(&mut self) {
        *self = Virtqueue::new(self.max);
    }

    pub fn max_size(&self) -> u16 {
        self.max
    }

    pub fn size(&self) -> u16 {
        self.size
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// QueueNum; ignored while the queue is live (the driver must not).
    pub fn set_size(&mut self, size: u32) {
        if !self.ready {
            self.size = size.min(u16::MAX as u32) as u16;
        }
    }

    /// QueueReady: enabling needs a size within 1..=max (Linux only uses
    /// powers of two; others work here too). The rings start afresh.
    pub fn set_ready(&mut self, ready: bool) {
        if ready && !(1..=self.max).contains(&self.size) {
            return;
        }
        if ready && !self.ready {
            self.next_avail = 0;
            self.next_used = 0;
        }
        self.ready = ready;
    }

    pub fn addresses(&self) -> (u64, u64, u64) {
        (self.desc, self.avail, self.used)
    }

    pub fn set_desc(&mut self, addr: u64) {
        self.desc = addr;
    }

    pub fn set_avail(&mut self, addr: u64) {
        self.avail = addr;
    }

    pub fn set_used(&mut self, addr: u64) {
        self.used = addr;
    }

    /// Did a used buffer ask for an interrupt since the last call?
    pub fn take_signal(&mut self) -> bool {
        std::mem::take(&mut self.signal)
    }

    /// Buffers the driver made available that the device has not taken.
    pub fn pending(&self, mem: &mut dyn Dma) -> Result<u16, QueueError> {
        if !self.ready || self.size == 0 {
            return Ok(0);
        }
        let idx = read_u16(mem, self.avail.wrapping_add(2))?;
        let n = idx.wrapping_sub(self.next_avail);
        if n > self.size {
            return Err(QueueError::AvailOverrun(n));
        }
        Ok(n)
    }

    /// The next available chain, left in the ring (see [`Self::advance`]).
    pub fn peek(&self, mem: &mut dyn Dma) -> Result<Option<Chain>, QueueError> {
        if self.pending(mem)? == 0 {
            return Ok(None);
        }
        let slot = (self.next_avail % self.size) as u64;
        let head = read_u16(mem, self.avail.wrapping_add(4 + 2 * slot))?;
        self.chain(mem, head).map(Some)
    }

    /// Take the chain [`Self::peek`] returned.
    pub fn advance(&mut self) {
        self.next_avail = self.next_avail.wrapping_add(1);
    }

    /// Take the next available chain.
    pub fn pop(&mut self, mem: &mut dyn Dma) -> Result<Option<Chain>, QueueError> {
        let chain = self.peek(mem)?;
        if chain.is_some() {
            self.advance();
        }
        Ok(chain)
    }

    /// Return chain `head` to the driver with `len` bytes written into it.
    pub fn push_used(&mut self, mem: &mut dyn Dma, head: u16, len: u32) -> Result<(), QueueError> {
        if self.size == 0 {
            return Err(QueueError::BadIndex(head));
        }
        let slot = (self.next_used % self.size) as u64;
        let mut elem = [0u8; 8];
        elem[..4].copy_from_slice(&(head as u32).to_le_bytes());
        elem[4..].copy_from_slice(&len.to_le_bytes());
        write(mem, self.used.wrapping_add(4 + 8 * slot), &elem)?;
        self.next_used = self.next_used.wrapping_add(1);
        write(
            mem,
            self.used.wrapping_add(2),
            &self.next_used.to_le_bytes(),
        )?;
        if read_u16(mem, self.avail)? & AVAIL_F_NO_INTERRUPT == 0 {
            self.signal = true;
        }
        Ok(())
    }

    /// Follow the chain starting at descriptor `head`.
    fn chain(&self, mem: &mut dyn Dma, head: u16) -> Result<Chain, QueueError> {
        let mut segments = Vec::new();
        let mut index = head;
        let mut visited = 0u32;
        loop {
            if index >= self.size {
                return Err(QueueError::BadIndex(index));
            }
            visited += 1;
            if visited > self.size as u32 {
                return Err(QueueError::Loop);
            }
            let mut raw = [0u8; 16];
            read(
                mem,
                self.desc.wrapping_add(DESC_SIZE * index as u64),
                &mut raw,
            )?;
            let d = Desc::parse(&raw);
            if d.flags & DESC_F_INDIRECT != 0 {
                if d.flags & DESC_F_NEXT != 0 {
                    return Err(QueueError::BadIndirect);
                }
                indirect(mem, &d, &mut segments)?;
                break;
            }
            add_segment(&mut segments, &d)?;
            if d.flags & DESC_F_NEXT == 0 {
                break;
            }
            index = d.next;
        }
        Ok(Chain { head, segments })
    }
}

fn add_segment(segments: &mut Vec<Segment>, d: &Desc) -> Result<(), QueueError> {
    let writable = d.flags & DESC_F_WRITE != 0;
    if !writable && segments.last().is_some_and(|s| s.writable) {
        return Err(QueueError::Order);
    }
    segments.push(Segment {
        addr: d.addr,
        len: d.len,
        writable,
    });
    Ok(())
}

/// Append the segments of the indirect table `d` describes.
fn indirect(mem: &mut dyn Dma, d: &Desc, segments: &mut Vec<Segment>) -> Result<(), QueueError> {
    let len = d.len as u64;
    if len == 0 || !len.is_multiple_of(DESC_SIZE) || len / DESC_SIZE > MAX_INDIRECT {
        return Err(QueueError::BadIndirect);
    }
    let count = len / DESC_SIZE;
    let mut table = vec![0u8; len as usize];
    read(mem, d.addr, &mut table)?;
    let mut index = 0u64;
    for _ in 0..count {
        let e = Desc::parse(&table[(index * DESC_SIZE) as usize..][..DESC_SIZE as usize]);
        if e.flags & DESC_F_INDIRECT != 0 {
            return Err(QueueError::BadIndirect);
        }
        add_segment(segments, &e)?;
        if e.flags & DESC_F_NEXT == 0 {
            return Ok(());
        }
        index = e.next as u64;
        if index >= count {
            return Err(QueueError::BadIndex(e.next));
        }
    }
    Err(QueueError::Loop)
}
