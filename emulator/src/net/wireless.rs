//! A wireless medium for packet radios: nodes at positions in metres, a
//! log-distance path-loss model giving each receiver an RSSI, a delivery
//! probability that falls off around the receiver sensitivity, channels,
//! half-duplex radios, and collisions when transmissions overlap in time
//! at a receiver.
//!
//! A frame is judged once every transmission that could overlap it is
//! known, that is at the first quantum boundary after it ends on air; it
//! then arrives `latency_ns` after its end (the receiver's processing
//! delay), which the lockstep quantum never exceeds.
//!
//! Carrier sense: machines tell the medium about a transmission at the end
//! of the quantum in which it starts, so that boundary is the earliest time
//! any other machine can know of it. There ([`Wireless::sense`]) every
//! radio that hears the frame at or above `carrier_sense_dbm` is given its
//! carrier, energy on the channel from the boundary until the frame ends,
//! which its CCA sees. The rule: a frame starting at `s` in the quantum
//! `[b0, b1)` is busy for CCA at every radio in range from `b1` to its
//! end, whatever the thread count; a CCA before `b1` may miss it, and two
//! radios that both assess the channel within that window collide, as
//! real ones do within a CCA time.

use super::{classify, Delivery, Loss, Rng};
use ensemble_devices::radio::{decode_tx, encode_rx};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RadioParams {
    /// Path loss at 1 m, dB (about 40 dB at 2.4 GHz).
    pub reference_loss_db: f64,
    /// Path-loss exponent: 2 in free space, about 3 indoors.
    pub exponent: f64,
    /// RSSI at which half the frames get through, dBm.
    pub sensitivity_dbm: f64,
    /// Hard limit in metres beyond which nothing is heard (0: none).
    pub range_m: f64,
    /// Receiver processing delay after a frame ends on air.
    pub latency_ns: u64,
    /// A frame survives an overlapping one only if it is this much stronger.
    pub capture_db: f64,
    /// A radio's CCA sees a frame that reaches it at least this strongly.
    pub carrier_sense_dbm: f64,
}

impl Default for RadioParams {
    fn default() -> Self {
        RadioParams {
            reference_loss_db: 40.0,
            exponent: 3.0,
            sensitivity_dbm: -95.0,
            range_m: 0.0,
            latency_ns: 1_000_000,
            capture_db: 3.0,
            // 6 dB under the sensitivity, where 5% of frames get through:
            // what a radio can receive, its CCA sees.
            carrier_sense_dbm: -101.0,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Transmission {
    from: usize,
    start: u64,
    end: u64,
    channel: u8,
    power_dbm: f64,
    psdu: Vec<u8>,
    judged: bool,
    /// Its carrier has been given to the radios that hear it.
    sensed: bool,
}

/// Its whole state serialises, for snapshots of a scenario.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Wireless {
    pub params: RadioParams,
    positions: Vec<[f64; 3]>,
    enabled: Vec<bool>,
    recent: Vec<Transmission>,
    rng: Rng,
    pub dropped: u64,
    /// The frames counted in `dropped` since the last `take_losses`
    /// (always taken by the end of a quantum: not part of a snapshot).
    #[serde(skip)]
    losses: Vec<Loss>,
}

impl Wireless {
    pub fn new(positions: Vec<[f64; 3]>, params: RadioParams, seed: u64) -> Wireless {
        Wireless {
            params,
            enabled: vec![true; positions.len()],
            positions,
            recent: Vec::new(),
            rng: Rng::new(seed),
            dropped: 0,
            losses: Vec::new(),
        }
    }

    /// The frames lost since the last call, in the order they were lost
    /// (a node that did not get a frame its radio could hear, or a
    /// transmission from a disabled node).
    pub fn take_losses(&mut self) -> Vec<Loss> {
        std::mem::take(&mut self.losses)
    }

    pub fn set_position(&mut self, node: usize, p: [f64; 3]) {
        self.positions[node] = p;
    }

    pub fn position(&self, node: usize) -> [f64; 3] {
        self.positions[node]
    }

    pub fn set_enabled(&mut self, node: usize, on: bool) {
        self.enabled[node] = on;
    }

    pub fn enabled(&self, node: usize) -> bool {
        self.enabled[node]
    }

    /// Received signal strength at `to` of a transmission from `from`.
    pub fn rssi(&self, from: usize, to: usize, power_dbm: f64) -> Option<f64> {
        let (a, b) = (self.positions[from], self.positions[to]);
        let d = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
        if self.params.range_m > 0.0 && d > self.params.range_m {
            return None;
        }
        let loss = self.params.reference_loss_db + 10.0 * self.params.exponent * d.max(1.0).log10();
        Some(power_dbm - loss)
    }

    /// A node put a frame on air at `start` (the radio's own encoding,
    /// see `ensemble_devices::radio`). Returns the PSDU for capture.
    pub fn transmit(&mut self, from: usize, start: u64, bytes: &[u8]) -> Option<Vec<u8>> {
        let (channel, power, airtime_us, psdu) = decode_tx(bytes)?;
        if !self.enabled[from] {
            self.dropped += 1;
            self.losses.push(Loss {
                from,
                to: None,
                sent: start,
                len: psdu.len(),
                kind: classify(psdu, true),
                why: "sender's radio off",
            });
            return None;
        }
        self.recent.push(Transmission {
            from,
            start,
            end: start + airtime_us as u64 * 1000,
            channel,
            power_dbm: power as f64,
            psdu: psdu.to_vec(),
            judged: false,
            sensed: false,
        });
        Some(psdu.to_vec())
    }

    /// The carriers of the transmissions that started since the last call
    /// and are still on air at `now` (a quantum boundary): for each radio
    /// that hears one at or above `carrier_sense_dbm`, an empty frame with
    /// the rest of its airtime (see `ensemble_devices::radio`), arriving
    /// at `now`. In (start, sender, receiver) order; not frames, so neither
    /// captured nor told as packets.
    pub fn sense(&mut self, now: u64) -> Vec<Delivery> {
        let mut order: Vec<usize> = (0..self.recent.len())
            .filter(|&i| !self.recent[i].sensed)
            .collect();
        order.sort_by_key(|&i| (self.recent[i].start, self.recent[i].from));
        let mut out = Vec::new();
        for i in order {
            self.recent[i].sensed = true;
            let tx = &self.recent[i];
            if tx.end <= now {
                continue;
            }
            // Rounded up: a carrier never ends before its frame.
            let left_us = (tx.end - now).div_ceil(1000) as u32;
            for to in 0..self.positions.len() {
                if to == tx.from || !self.enabled[to] {
                    continue;
                }
                let Some(rssi) = self.rssi(tx.from, to, tx.power_dbm) else {
                    continue;
                };
                if rssi < self.params.carrier_sense_dbm {
                    continue;
                }
                out.push(Delivery {
                    from: tx.from,
                    sent: tx.start,
                    to,
                    arrives: now,
                    frame: encode_rx(tx.channel, rssi.round() as i8, 0, left_us, &[]),
                });
            }
        }
        out
    }

    /// Judge every transmission that ended by `now`: who hears it, with what
    /// RSSI and LQI. Deliveries come out in (end, sender) order.
    pub fn flush(&mut self, now: u64) -> Vec<Delivery> {
        let mut out = Vec::new();
        let mut order: Vec<usize> = (0..self.recent.len())
            .filter(|&i| !self.recent[i].judged && self.recent[i].end <= now)
            .collect();
        order.sort_by_key(|&i| {
            (
                self.recent[i].end,
                self.recent[i].from,
                self.recent[i].start,
            )
        });
        for i in order {
            self.recent[i].judged = true;
            let tx = self.recent[i].clone();
            for to in 0..self.positions.len() {
                if to == tx.from {
                    continue;
                }
                // Draw in a fixed order whatever happens, so that one
                // outcome does not shift all later random choices.
                let draw = self.rng.next_f64();
                if !self.enabled[to] {
                    continue;
                }
                let Some(rssi) = self.rssi(tx.from, to, tx.power_dbm) else {
                    continue;
                };
                // Half duplex: a node sending during the frame hears nothing.
                let busy = self.recent.iter().any(|o| {
                    o.from == to && o.channel == tx.channel && o.start < tx.end && tx.start < o.end
                });
                // Collision: an overlapping frame on the channel that is not
                // at least capture_db weaker at this receiver.
                let collided = self.recent.iter().enumerate().any(|(j, o)| {
                    j != i
                        && o.from != to
                        && o.channel == tx.channel
                        && o.start < tx.end
                        && tx.start < o.end
                        && self
                            .rssi(o.from, to, o.power_dbm)
                            .is_some_and(|r| r > rssi - self.params.capture_db)
                });
                let p = 1.0 / (1.0 + (-(rssi - self.params.sensitivity_dbm) / 2.0).exp());
                if busy || collided || draw >= p {
                    self.dropped += 1;
                    self.losses.push(Loss {
                        from: tx.from,
                        to: Some(to),
                        sent: tx.start,
                        len: tx.psdu.len(),
                        kind: classify(&tx.psdu, true),
                        why: if busy {
                            "receiver was transmitting"
                        } else if collided {
                            "collision"
                        } else {
                            "signal too weak"
                        },
                    });
                    continue;
                }
                let lqi = ((rssi - self.params.sensitivity_dbm) / 40.0 * 255.0).clamp(0.0, 255.0);
                let arrives = tx.end + self.params.latency_ns;
                out.push(Delivery {
                    from: tx.from,
                    sent: tx.start,
                    to,
                    arrives,
                    frame: encode_rx(tx.channel, rssi.round() as i8, lqi as u8, 0, &tx.psdu),
                });
            }
        }
        // Forget frames that can no longer overlap anything unjudged.
        let oldest_open = self
            .recent
            .iter()
            .filter(|t| !t.judged)
            .map(|t| t.start)
            .min()
            .unwrap_or(now);
        self.recent.retain(|t| !t.judged || t.end > oldest_open);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ensemble_devices::radio::encode_tx;

    fn line(n: usize, spacing: f64) -> Vec<[f64; 3]> {
        (0..n).map(|i| [i as f64 * spacing, 0.0, 0.0]).collect()
    }

    #[test]
    fn ends_of_a_line_do_not_hear_each_other() {
        let params = RadioParams {
            range_m: 15.0,
            ..RadioParams::default()
        };
        let mut w = Wireless::new(line(3, 10.0), params, 1);
        w.transmit(0, 0, &encode_tx(15, 0, 1000, b"from a"));
        let d = w.flush(2_000_000);
        assert_eq!(d.iter().map(|d| d.to).collect::<Vec<_>>(), vec![1]);
        assert_eq!(d[0].arrives, 1_000_000 + 1_000_000);
        assert_eq!((d[0].from, d[0].sent), (0, 0));
        w.transmit(1, 3_000_000, &encode_tx(15, 0, 1000, b"from b"));
        let d = w.flush(5_000_000);
        assert_eq!(d.iter().map(|d| d.to).collect::<Vec<_>>(), vec![0, 2]);
    }

    #[test]
    fn rssi_falls_with_distance_and_channels_separate() {
        let w = Wireless::new(line(3, 10.0), RadioParams::default(), 1);
        let near = w.rssi(0, 1, 0.0).unwrap();
        let far = w.rssi(0, 2, 0.0).unwrap();
        assert!((near - (-70.0)).abs() < 1e-9, "{near}");
        assert!(far < near);
        let mut w = Wireless::new(line(2, 1.0), RadioParams::default(), 1);
        w.transmit(0, 0, &encode_tx(11, 0, 500, b"x"));
        w.transmit(1, 0, &encode_tx(12, 0, 500, b"y"));
        // Different channels: both heard despite overlapping in time.
        assert_eq!(w.flush(1_000_000).len(), 2);
    }

    #[test]
    fn overlapping_frames_collide_unless_one_is_much_stronger() {
        // 0 and 2 both reach 1 equally strongly at the same time: collision.
        let mut w = Wireless::new(line(3, 5.0), RadioParams::default(), 1);
        w.transmit(0, 0, &encode_tx(15, 0, 1000, b"a"));
        w.transmit(2, 100_000, &encode_tx(15, 0, 1000, b"c"));
        let d = w.flush(5_000_000);
        assert!(d.iter().all(|d| d.to != 1), "{d:?}");
        let lost: Vec<_> = w.take_losses().iter().map(|l| (l.from, l.to)).collect();
        assert!(lost.contains(&(0, Some(1))) && lost.contains(&(2, Some(1))));
        assert_eq!(lost.len() as u64, w.dropped);
        // Now 2 is far away: node 1 captures 0's frame.
        let mut w = Wireless::new(
            vec![[0.0; 3], [1.0, 0.0, 0.0], [60.0, 0.0, 0.0]],
            RadioParams::default(),
            1,
        );
        w.transmit(0, 0, &encode_tx(15, 0, 1000, b"a"));
        w.transmit(2, 100_000, &encode_tx(15, 0, 1000, b"c"));
        let d = w.flush(5_000_000);
        assert!(
            d.iter().any(|d| d.to == 1 && d.frame.ends_with(b"a")),
            "{d:?}"
        );
    }

    #[test]
    fn carriers_reach_those_in_range_at_the_next_boundary() {
        use ensemble_devices::radio::decode_rx;
        let params = RadioParams {
            range_m: 15.0,
            ..RadioParams::default()
        };
        // 0 and 1 hear each other, 2 is out of 0's range.
        let mut w = Wireless::new(line(3, 10.0), params, 1);
        // 4000 µs from 300 µs: told at the 1 ms boundary, 3300 µs left.
        w.transmit(0, 300_000, &encode_tx(15, 0, 4000, &[7; 119]));
        let c = w.sense(1_000_000);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(
            (c[0].from, c[0].to, c[0].sent, c[0].arrives),
            (0, 1, 300_000, 1_000_000)
        );
        let (channel, rssi, _, left_us, psdu) = decode_rx(&c[0].frame).unwrap();
        assert_eq!((channel, rssi, left_us), (15, -70, 3300));
        assert!(psdu.is_empty(), "a carrier, not the frame");
        // Each carrier is told once; a frame over by the boundary has none.
        assert!(w.sense(2_000_000).is_empty());
        w.transmit(1, 4_500_000, &encode_tx(15, 0, 500, b"short"));
        assert!(w.sense(5_000_000).is_empty());
        // The frames themselves are judged as before.
        assert_eq!(w.flush(9_000_000).len(), 1 + 2);
        // Too weak for carrier sense: nothing.
        let mut w = Wireless::new(line(2, 10.0), RadioParams::default(), 1);
        w.params.carrier_sense_dbm = -60.0;
        w.transmit(0, 0, &encode_tx(15, 0, 4000, b"x"));
        assert!(w.sense(1_000_000).is_empty());
    }

    #[test]
    fn frames_wait_for_their_end_before_being_judged() {
        let mut w = Wireless::new(line(2, 1.0), RadioParams::default(), 1);
        w.transmit(0, 0, &encode_tx(15, 0, 4000, b"long"));
        assert!(w.flush(1_000_000).is_empty());
        assert_eq!(w.flush(4_000_000).len(), 1);
        assert!(w.flush(9_000_000).is_empty(), "judged once");
    }
}
