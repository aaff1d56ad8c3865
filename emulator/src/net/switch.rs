//! A wired Ethernet switch: one port per member device, per-port link
//! state, latency, jitter, bandwidth (serialisation delay), loss and MTU,
//! MAC learning with flooding of unknown and group destinations, and
//! partitions (groups of ports that cannot reach each other).
//!
//! A device's frames queue for its port's link, which carries one at a
//! time at the bandwidth; the queue holds at most `queue_bytes`, and a
//! frame that does not fit is dropped and counted ("queue full"), as a
//! port buffer overflows when more is sent than the link carries. (Frames
//! from several ports to one are not serialised again on the way out: it
//! would be more faithful for bursts, but it spreads each burst's arrivals
//! over distinct times, and every distinct arrival stops the receiving
//! machine's engine once: 5-8% more wall time for 64 devices announcing
//! themselves each second.)

use std::collections::BTreeMap;

use super::{classify, Delivery, Loss, Rng};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LinkParams {
    pub latency_ns: u64,
    pub jitter_ns: u64,
    /// Bits per second; 0 for no serialisation delay.
    pub bandwidth_bps: u64,
    /// Probability in [0, 1] that a frame is lost on its way to one port.
    pub loss: f64,
    /// Largest frame (Ethernet header included, no FCS) that is carried.
    pub mtu: usize,
    /// Bytes (with preamble, FCS and gap) that may wait for a port's link;
    /// 0 for no limit.
    pub queue_bytes: u64,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            latency_ns: 1_000_000,
            jitter_ns: 0,
            bandwidth_bps: 100_000_000,
            loss: 0.0,
            mtu: 1514,
            // A small switch's buffer per port: 5 ms at 100 Mbit/s.
            queue_bytes: 64 * 1024,
        }
    }
}

/// Its whole state serialises, for snapshots of a scenario.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Switch {
    pub params: LinkParams,
    link_up: Vec<bool>,
    /// Partition group of each port; ports reach only their own group.
    group: Vec<usize>,
    /// Learnt MAC address -> port.
    table: BTreeMap<[u8; 6], usize>,
    /// When each port's transmitter is free again (serialisation).
    busy_until: Vec<u64>,
    /// When the last frame to each port arrives, so that jitter never
    /// reorders frames on one link.
    last_arrival: Vec<u64>,
    rng: Rng,
    pub dropped: u64,
    /// The frames counted in `dropped` since the last `take_losses`
    /// (always taken by the end of a quantum: not part of a snapshot).
    #[serde(skip)]
    losses: Vec<Loss>,
}

impl Switch {
    pub fn new(ports: usize, params: LinkParams, seed: u64) -> Switch {
        Switch {
            params,
            link_up: vec![true; ports],
            group: vec![0; ports],
            table: BTreeMap::new(),
            busy_until: vec![0; ports],
            last_arrival: vec![0; ports],
            rng: Rng::new(seed),
            dropped: 0,
            losses: Vec::new(),
        }
    }

    /// The frames lost since the last call, in the order they were lost.
    pub fn take_losses(&mut self) -> Vec<Loss> {
        std::mem::take(&mut self.losses)
    }

    fn lose(&mut self, from: usize, to: Option<usize>, sent: u64, frame: &[u8]) {
        let why = if to.is_some() {
            "random loss"
        } else if frame.len() > self.params.mtu {
            "longer than the MTU"
        } else if frame.len() < 14 {
            "shorter than an Ethernet header"
        } else {
            "sender's link down"
        };
        self.lose_because(from, to, sent, frame, why);
    }

    fn lose_because(
        &mut self,
        from: usize,
        to: Option<usize>,
        sent: u64,
        frame: &[u8],
        why: &'static str,
    ) {
        self.dropped += 1;
        self.losses.push(Loss {
            from,
            to,
            sent,
            len: frame.len(),
            kind: classify(frame, false),
            why,
        });
    }

    pub fn set_link(&mut self, port: usize, up: bool) {
        self.link_up[port] = up;
    }

    pub fn link_up(&self, port: usize) -> bool {
        self.link_up[port]
    }

    /// Split the ports into groups that cannot reach each other; ports not
    /// named stay in group 0.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        self.group.iter_mut().for_each(|g| *g = 0);
        for (i, members) in groups.iter().enumerate() {
            for &p in members {
                self.group[p] = i + 1;
            }
        }
    }

    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
    }

    /// Would a frame of `len` bytes overflow a queue it must wait `wait_ns`
    /// in (the bytes ahead of it being what the link carries meanwhile)?
    fn queue_full(&self, wait_ns: u64, len: usize) -> bool {
        let (limit, bps) = (self.params.queue_bytes, self.params.bandwidth_bps);
        if limit == 0 || bps == 0 {
            return false;
        }
        let ahead = (wait_ns as u128 * bps as u128 / 8_000_000_000) as u64;
        ahead + len as u64 + 24 > limit
    }

    /// Port `from` sends `frame` at time `sent`: where and when it arrives.
    pub fn send(&mut self, from: usize, sent: u64, frame: &[u8]) -> Vec<Delivery> {
        if frame.len() < 14 || frame.len() > self.params.mtu || !self.link_up[from] {
            self.lose(from, None, sent, frame);
            return Vec::new();
        }
        let dst: [u8; 6] = frame[0..6].try_into().expect("length checked");
        let src: [u8; 6] = frame[6..12].try_into().expect("length checked");
        if src[0] & 1 == 0 {
            self.table.insert(src, from);
        }
        // Serialisation on the sender's link: frames queue behind each other.
        let bits = (frame.len() as u64 + 24) * 8; // preamble, FCS, gap
        let wire = if self.params.bandwidth_bps == 0 {
            0
        } else {
            bits * 1_000_000_000 / self.params.bandwidth_bps
        };
        let start = sent.max(self.busy_until[from]);
        if self.queue_full(start - sent, frame.len()) {
            self.lose_because(from, None, sent, frame, "queue full");
            return Vec::new();
        }
        self.busy_until[from] = start + wire;
        let leaves = start + wire;

        let targets: Vec<usize> = match self.table.get(&dst) {
            Some(&p) if dst[0] & 1 == 0 => vec![p],
            _ => (0..self.link_up.len()).collect(),
        };
        let mut out = Vec::new();
        for to in targets {
            if to == from || !self.link_up[to] || self.group[to] != self.group[from] {
                continue;
            }
            // Draw in a fixed order whatever the outcome, so one lost frame
            // does not shift every later random choice.
            let lost = self.rng.next_f64() < self.params.loss;
            let jitter = if self.params.jitter_ns > 0 {
                self.rng.next_u64() % (self.params.jitter_ns + 1)
            } else {
                0
            };
            if lost {
                self.lose(from, Some(to), sent, frame);
                continue;
            }
            let arrives = (leaves + self.params.latency_ns + jitter).max(self.last_arrival[to]);
            self.last_arrival[to] = arrives;
            out.push(Delivery {
                from,
                sent,
                to,
                arrives,
                frame: frame.to_vec(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x00]);
        f.resize(60, 0);
        f
    }

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const BCAST: [u8; 6] = [0xff; 6];

    #[test]
    fn floods_then_learns() {
        let mut sw = Switch::new(3, LinkParams::default(), 1);
        let d = sw.send(0, 0, &frame(B, A));
        assert_eq!(d.iter().map(|d| d.to).collect::<Vec<_>>(), vec![1, 2]);
        sw.send(1, 0, &frame(A, B));
        // Now both are learnt: unicast goes to one port only.
        let d = sw.send(0, 10_000_000, &frame(B, A));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].to, 1);
        // Latency 1 ms plus 84 bytes at 100 Mbit/s = 6720 ns.
        assert_eq!(d[0].arrives, 10_000_000 + 1_000_000 + 6_720);
    }

    #[test]
    fn links_partitions_and_loss() {
        let mut sw = Switch::new(3, LinkParams::default(), 1);
        sw.set_link(2, false);
        assert_eq!(sw.send(0, 0, &frame(BCAST, A)).len(), 1);
        sw.set_link(2, true);
        sw.partition(&[vec![0], vec![1, 2]]);
        assert!(sw.send(0, 0, &frame(BCAST, A)).is_empty());
        assert_eq!(sw.send(1, 0, &frame(BCAST, B)).len(), 1);
        sw.heal();
        sw.params.loss = 1.0;
        assert!(sw.send(0, 0, &frame(BCAST, A)).is_empty());
        assert!(sw.dropped >= 2);
        // Each loss is told once, with where the frame was going.
        let losses = sw.take_losses();
        assert_eq!(losses.len() as u64, sw.dropped);
        assert_eq!(
            losses.iter().map(|l| (l.from, l.to)).collect::<Vec<_>>(),
            vec![(0, Some(1)), (0, Some(2))]
        );
        assert!(sw.take_losses().is_empty());
        sw.set_link(0, false);
        assert!(sw.send(0, 5, &frame(BCAST, A)).is_empty());
        let losses = sw.take_losses();
        assert_eq!((losses[0].to, losses[0].sent, losses[0].len), (None, 5, 60));
    }

    fn big(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = frame(dst, src);
        f.resize(1514, 0);
        f
    }

    #[test]
    fn a_full_queue_drops_and_counts_frames() {
        let params = LinkParams {
            bandwidth_bps: 2_000_000,
            ..LinkParams::default()
        };
        let mut sw = Switch::new(2, params, 1);
        // 100 frames of 1 538 bytes on the wire at once: 64 KiB holds 42.
        let mut arrivals = Vec::new();
        for _ in 0..100 {
            arrivals.extend(sw.send(0, 0, &big(BCAST, A)).iter().map(|d| d.arrives));
        }
        assert_eq!(arrivals.len(), 42);
        assert_eq!(sw.dropped, 58);
        let losses = sw.take_losses();
        assert!(losses
            .iter()
            .all(|l| l.why == "queue full" && l.to.is_none()));
        // What got in leaves at the link's pace: 6.152 ms a frame.
        assert_eq!(arrivals[41] - arrivals[40], 6_152_000);
        // Once the queue has drained, frames go through again.
        assert_eq!(sw.send(0, 1_000_000_000, &big(BCAST, A)).len(), 1);
        // No limit: nothing is dropped, however long the queue.
        let mut sw = Switch::new(
            2,
            LinkParams {
                queue_bytes: 0,
                ..sw.params.clone()
            },
            1,
        );
        for _ in 0..100 {
            sw.send(0, 0, &big(BCAST, A));
        }
        assert_eq!(sw.dropped, 0);
    }

    #[test]
    fn serialisation_queues_frames_and_jitter_keeps_order() {
        let params = LinkParams {
            jitter_ns: 500_000,
            ..LinkParams::default()
        };
        let mut sw = Switch::new(2, params, 9);
        let mut last = 0;
        for _ in 0..50 {
            let d = sw.send(0, 0, &frame(BCAST, A));
            assert!(d[0].arrives >= last);
            last = d[0].arrives;
        }
        // 50 back-to-back frames take at least 50 wire times.
        assert!(last >= 1_000_000 + 50 * 6_720);
    }
}
