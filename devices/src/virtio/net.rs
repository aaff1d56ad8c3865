//! virtio-net (device ID 1, virtio 1.2 section 5.1): receiveq1 (queue 0)
//! and transmitq1 (queue 1), no control queue, no offloads.
//!
//! Features: MAC (the address is in config bytes 0..6) and STATUS (config
//! bytes 6..8, b0 LINK_UP, driven by [`crate::Device::set_link`]; a change
//! raises the configuration interrupt).
//!
//! Every buffer starts with the 12-byte virtio_net_hdr (VERSION_1 layout:
//! flags, gso_type, hdr_len, gso_size, csum_start, csum_offset,
//! num_buffers). Sent frames leave without it through
//! [`crate::Device::take_frames`] (frames sent while the link is down are
//! lost, as on a wire). Received frames get an all-zero header with
//! num_buffers = 1.
//!
//! [`crate::Device::receive_frame`] has no memory access, so it accepts a
//! frame only when the receive queue held a buffer not yet promised to an
//! earlier frame at the last service (counted then), and the frame is
//! written at the next service, which the transport asks for at once. A
//! frame larger than its buffer is dropped there (the buffer stays for the
//! next frame).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{read_config_bytes, QueueError, VirtioDevice, Virtqueue, ID_NET};
use crate::{Dma, Ticks};

pub const F_MAC: u64 = 1 << 5;
pub const F_STATUS: u64 = 1 << 16;

pub const S_LINK_UP: u16 = 1;

pub const HDR_LEN: usize = 12;
/// Frames shorter than an Ethernet header are not received.
const MIN_FRAME: usize = 14;
/// Larger frames are neither sent nor received (no GSO is offered; this
/// leaves room for jumbo frames a host network might carry).
const MAX_FRAME: usize = 65_535;

const RX: usize = 0;
const TX: usize = 1;

#[derive(Serialize, Deserialize)]
pub struct VirtioNet {
    mac: [u8; 6],
    link_up: bool,
    sent: Vec<Vec<u8>>,
    /// Frames accepted, to be written at the next service.
    staged: VecDeque<Vec<u8>>,
    /// Receive buffers not yet promised to a staged frame.
    credit: u16,
    /// Frames dropped in either direction, for diagnostics.
    dropped: u64,
}

impl VirtioNet {
    pub fn new(mac: [u8; 6]) -> Self {
        VirtioNet {
            mac,
            link_up: true,
            sent: Vec::new(),
            staged: VecDeque::new(),
            credit: 0,
            dropped: 0,
        }
    }

    pub fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Frames dropped since power-on (no buffer, too large, link down).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn transmit(&mut self, q: &mut Virtqueue, mem: &mut dyn Dma) -> Result<(), QueueError> {
        while let Some(chain) = q.pop(mem)? {
            let len = chain.readable_len();
            if len >= HDR_LEN as u64 && len - (HDR_LEN as u64) <= MAX_FRAME as u64 {
                let mut frame = vec![0u8; len as usize - HDR_LEN];
                chain.read(mem, HDR_LEN as u64, &mut frame)?;
                if self.link_up {
                    self.sent.push(frame);
                } else {
                    self.dropped += 1;
                }
            } else {
                self.dropped += 1;
            }
            q.push_used(mem, chain.head, 0)?;
        }
        Ok(())
    }

    fn receive(&mut self, q: &mut Virtqueue, mem: &mut dyn Dma) -> Result<(), QueueError> {
        while let Some(frame) = self.staged.pop_front() {
            let Some(chain) = q.peek(mem)? else {
                self.dropped += 1;
                continue;
            };
            let need = (HDR_LEN + frame.len()) as u64;
            if chain.writable_len() < need {
                self.dropped += 1;
                continue;
            }
            let mut hdr = [0u8; HDR_LEN];
            hdr[10..12].copy_from_slice(&1u16.to_le_bytes());
            chain.write(mem, 0, &hdr)?;
            chain.write(mem, HDR_LEN as u64, &frame)?;
            q.advance();
            q.push_used(mem, chain.head, need as u32)?;
        }
        self.credit = q.pending(mem)?;
        Ok(())
    }
}

impl VirtioDevice for VirtioNet {
    fn name(&self) -> &'static str {
        "virtio-net"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn device_id(&self) -> u32 {
        ID_NET
    }

    fn features(&self) -> u64 {
        F_MAC | F_STATUS
    }

    fn queue_count(&self) -> usize {
        2
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // mac, status, max_virtqueue_pairs (1), mtu (1500; not offered).
        let mut c = [0u8; 12];
        c[..6].copy_from_slice(&self.mac);
        let status = if self.link_up { S_LINK_UP } else { 0 };
        c[6..8].copy_from_slice(&status.to_le_bytes());
        c[8..10].copy_from_slice(&1u16.to_le_bytes());
        c[10..12].copy_from_slice(&1500u16.to_le_bytes());
        read_config_bytes(&c, offset, data);
    }

    fn reset(&mut self) {
        // Frames already sent have left; those not yet written are lost.
        self.dropped += self.staged.len() as u64;
        self.staged.clear();
        self.credit = 0;
    }

    fn process(
        &mut self,
        queues: &mut [Virtqueue],
        mem: &mut dyn Dma,
        _now: Ticks,
    ) -> Result<(), QueueError> {
        let (rx, tx) = queues.split_at_mut(TX);
        self.transmit(&mut tx[0], mem)?;
        self.receive(&mut rx[RX], mem)
    }

    fn has_work(&self) -> bool {
        !self.staged.is_empty()
    }

    fn wants_service(&self) -> bool {
        !self.sent.is_empty()
    }

    fn take_frames(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.sent)
    }

    fn receive_frame(&mut self, frame: &[u8]) -> bool {
        if !self.link_up || self.credit == 0 || !(MIN_FRAME..=MAX_FRAME).contains(&frame.len()) {
            self.dropped += 1;
            return false;
        }
        self.credit -= 1;
        self.staged.push_back(frame.to_vec());
        true
    }

    fn set_link(&mut self, up: bool) -> bool {
        let changed = self.link_up != up;
        self.link_up = up;
        changed
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        postcard::to_allocvec(self).ok()
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        *self =
            postcard::from_bytes(state).map_err(|e| format!("virtio-net: bad saved state: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::mmio::{CONFIG_GENERATION, INT_CONFIG, INT_USED_BUFFER, LINE_IRQ};
    use super::super::testutil::Driver;
    use super::*;
    use crate::Device;

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    fn frame(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 3) as u8).collect()
    }

    fn start() -> Driver {
        Driver::start(Box::new(VirtioNet::new(MAC)), 16)
    }

    /// Give the device `n` receive buffers of `size` bytes.
    fn rx_buffers(d: &mut Driver, n: usize, size: u32) -> Vec<u64> {
        let bufs: Vec<u64> = (0..n)
            .map(|_| {
                let b = d.alloc(size as u64);
                d.add(RX, &[(b, size, true)]);
                b
            })
            .collect();
        d.kick(RX);
        bufs
    }

    #[test]
    fn config_holds_mac_and_link() {
        let mut d = start();
        assert_eq!(d.config(0, 6), MAC);
        assert_eq!(d.config(6, 2), [1, 0]);
        let f = d.device_features();
        assert_eq!(f & 0xff_ffff, F_MAC | F_STATUS);
        let generation = d.rd(CONFIG_GENERATION);
        d.dev.set_link(false);
        assert_eq!(d.config(6, 2), [0, 0]);
        assert_ne!(d.rd(CONFIG_GENERATION), generation);
        assert_eq!(d.dev.irq_lines(), LINE_IRQ);
        assert_eq!(d.ack(), INT_CONFIG);
        d.dev.set_link(false);
        assert_eq!(d.dev.irq_lines(), 0, "no change, no interrupt");
    }

    #[test]
    fn transmitted_frames_come_out_without_header() {
        let mut d = start();
        let f = frame(60);
        let hdr = d.alloc(12);
        let data = d.alloc(60);
        d.ram.put(data, &f);
        let head = d.add(TX, &[(hdr, 12, false), (data, 60, false)]);
        d.wr(super::super::mmio::QUEUE_NOTIFY, TX as u32);
        assert!(d.dev.wants_service());
        d.service();
        assert!(d.dev.wants_service(), "a frame waits to be taken");
        assert_eq!(d.dev.take_frames(), vec![f.clone()]);
        assert!(!d.dev.wants_service());
        assert_eq!(d.used(TX), vec![(head as u32, 0)]);
        assert_eq!(d.ack(), INT_USED_BUFFER);
        // Header and frame in one buffer, as Linux sends them.
        let buf = d.alloc(72);
        d.ram.put(buf + 12, &f);
        d.add(TX, &[(buf, 72, false)]);
        d.kick(TX);
        assert_eq!(d.dev.take_frames(), vec![f]);
        // With the link down the frame is lost.
        d.dev.set_link(false);
        d.add(TX, &[(buf, 72, false)]);
        d.kick(TX);
        assert!(d.dev.take_frames().is_empty());
        assert_eq!(d.used(TX).len(), 2);
    }

    #[test]
    fn received_frames_fill_buffers_and_interrupt() {
        let mut d = start();
        assert!(!d.dev.receive_frame(&frame(60), d.now), "no buffers yet");
        let bufs = rx_buffers(&mut d, 2, 1526);
        assert!(d.dev.receive_frame(&frame(60), d.now));
        assert_eq!(d.dev.next_deadline(), Some(d.now), "service asked for");
        assert!(d.dev.wants_service());
        assert!(d.dev.receive_frame(&frame(1514), d.now));
        assert!(
            !d.dev.receive_frame(&frame(60), d.now),
            "both buffers promised"
        );
        assert_eq!(d.dev.irq_lines(), 0);
        d.service();
        assert_eq!(d.dev.next_deadline(), None);
        assert_eq!(d.dev.irq_lines(), LINE_IRQ);
        assert_eq!(d.used(RX), vec![(0, 72), (1, 1526)]);
        let mut hdr = [0u8; 12];
        hdr[10] = 1; // num_buffers
        assert_eq!(d.ram.get(bufs[0], 12), hdr);
        assert_eq!(d.ram.get(bufs[0] + 12, 60), &frame(60)[..]);
        assert_eq!(d.ram.get(bufs[1] + 12, 1514), &frame(1514)[..]);
        assert_eq!(d.ack(), INT_USED_BUFFER);
    }

    #[test]
    fn drops_when_the_frame_cannot_go_in() {
        let mut d = start();
        rx_buffers(&mut d, 1, 100);
        assert!(!d.dev.receive_frame(&[0; 10], d.now), "runt");
        d.dev.set_link(false);
        assert!(!d.dev.receive_frame(&frame(60), d.now), "link down");
        d.dev.set_link(true);
        // Too big for the buffer: dropped at delivery, the buffer stays.
        assert!(d.dev.receive_frame(&frame(200), d.now));
        d.service();
        assert!(d.used(RX).is_empty());
        assert!(d.dev.receive_frame(&frame(80), d.now));
        d.service();
        assert_eq!(d.used(RX), vec![(0, 92)]);
        let net: &VirtioNet = d.dev.device_as().unwrap();
        assert_eq!(net.dropped(), 3);
        // Not running: nothing is accepted.
        d.wr(super::super::mmio::STATUS, 0);
        assert!(!d.dev.receive_frame(&frame(60), d.now));
    }
}
