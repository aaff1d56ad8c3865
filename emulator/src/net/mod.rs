//! Simulated networks between machines: media that decide who receives a
//! frame and when, a seeded random source for loss and jitter, and packet
//! capture. Times here are scenario nanoseconds of virtual time.

pub mod pcap;
pub mod switch;
pub mod wireless;

/// SplitMix64: a small, fast, seedable generator. Every random choice of a
/// network comes from one of these, seeded from the scenario's seed, and is
/// drawn in a fixed order, so the same seed gives the same run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A frame on its way: sent by `from` at `sent`, due at `to` at `arrives`
/// (ports of the network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub from: usize,
    pub sent: u64,
    pub to: usize,
    pub arrives: u64,
    pub frame: Vec<u8>,
}

/// A frame that a network lost: port `from` sent it at `sent`; it was
/// heading for port `to` when known (random loss, collision), `None` when
/// it never left the sender (link down, too long, radio off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    pub from: usize,
    pub to: Option<usize>,
    pub sent: u64,
    /// Frame length (for radios, of the PSDU).
    pub len: usize,
    pub kind: PacketKind,
    /// Why it was lost, for traces ("link down", "collision", ...).
    pub why: &'static str,
}

/// What a frame carries, roughly, for pictures and statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PacketKind {
    Arp,
    Icmp,
    /// UDP to or from port 5684 (the CoAP-style discovery of the demos).
    Discovery,
    Udp,
    Tcp,
    RadioBroadcast,
    RadioUnicast,
    Other,
}

impl PacketKind {
    pub const ALL: [PacketKind; 8] = [
        PacketKind::Arp,
        PacketKind::Icmp,
        PacketKind::Discovery,
        PacketKind::Udp,
        PacketKind::Tcp,
        PacketKind::RadioBroadcast,
        PacketKind::RadioUnicast,
        PacketKind::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Arp => "ARP",
            PacketKind::Icmp => "ICMP",
            PacketKind::Discovery => "UDP 5684",
            PacketKind::Udp => "UDP",
            PacketKind::Tcp => "TCP",
            PacketKind::RadioBroadcast => "radio bcast",
            PacketKind::RadioUnicast => "radio ucast",
            PacketKind::Other => "other",
        }
    }

    /// Position in [`PacketKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The UDP port of the demos' discovery announcements.
pub const DISCOVERY_PORT: u16 = 5684;

/// Classify a frame: an Ethernet frame on a switch network (IPv4 or IPv6
/// over Ethernet II, with at most one VLAN tag), an IEEE 802.15.4 PSDU on a
/// wireless one (broadcast when it has no destination address or the short
/// address 0xffff).
pub fn classify(frame: &[u8], wireless: bool) -> PacketKind {
    if wireless {
        return classify_radio(frame);
    }
    if frame.len() < 14 {
        return PacketKind::Other;
    }
    let mut ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let mut at = 14;
    if ethertype == 0x8100 && frame.len() >= 18 {
        ethertype = u16::from_be_bytes([frame[16], frame[17]]);
        at = 18;
    }
    let ip = &frame[at..];
    let (proto, l4) = match ethertype {
        0x0806 => return PacketKind::Arp,
        0x0800 => {
            if ip.len() < 20 || ip[0] >> 4 != 4 {
                return PacketKind::Other;
            }
            let ihl = (ip[0] & 0x0f) as usize * 4;
            (ip[9], ip.get(ihl.max(20)..).unwrap_or(&[]))
        }
        0x86dd => {
            if ip.len() < 40 || ip[0] >> 4 != 6 {
                return PacketKind::Other;
            }
            (ip[6], &ip[40..])
        }
        _ => return PacketKind::Other,
    };
    match proto {
        1 | 58 => PacketKind::Icmp,
        6 => PacketKind::Tcp,
        17 => {
            if l4.len() >= 4 {
                let src = u16::from_be_bytes([l4[0], l4[1]]);
                let dst = u16::from_be_bytes([l4[2], l4[3]]);
                if src == DISCOVERY_PORT || dst == DISCOVERY_PORT {
                    return PacketKind::Discovery;
                }
            }
            PacketKind::Udp
        }
        _ => PacketKind::Other,
    }
}

fn classify_radio(psdu: &[u8]) -> PacketKind {
    if psdu.len() < 3 {
        return PacketKind::Other;
    }
    let fc = u16::from_le_bytes([psdu[0], psdu[1]]);
    match (fc >> 10) & 3 {
        // No destination: to whoever listens.
        0 => PacketKind::RadioBroadcast,
        // Short address after the sequence number and the PAN id.
        2 => match psdu.get(5..7) {
            Some(a) if a == [0xff, 0xff] => PacketKind::RadioBroadcast,
            Some(_) => PacketKind::RadioUnicast,
            None => PacketKind::Other,
        },
        3 => PacketKind::RadioUnicast,
        _ => PacketKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_seeded_and_uniform_enough() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        let mut r = Rng::new(1);
        let mean = (0..10_000).map(|_| r.next_f64()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }

    fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        ip.extend_from_slice(l4);
        ip
    }

    fn udp(src: u16, dst: u16) -> Vec<u8> {
        let mut u = src.to_be_bytes().to_vec();
        u.extend_from_slice(&dst.to_be_bytes());
        u.extend_from_slice(&[0, 8, 0, 0]);
        u
    }

    #[test]
    fn classifies_ethernet_frames() {
        use PacketKind::*;
        assert_eq!(classify(&ether(0x0806, &[0; 28]), false), Arp);
        assert_eq!(classify(&ether(0x0800, &ipv4(1, &[8, 0])), false), Icmp);
        assert_eq!(classify(&ether(0x0800, &ipv4(6, &[0; 20])), false), Tcp);
        let disc = ether(0x0800, &ipv4(17, &udp(40000, 5684)));
        assert_eq!(classify(&disc, false), Discovery);
        let reply = ether(0x0800, &ipv4(17, &udp(5684, 40000)));
        assert_eq!(classify(&reply, false), Discovery);
        assert_eq!(
            classify(&ether(0x0800, &ipv4(17, &udp(1000, 53))), false),
            Udp
        );
        // Options: the UDP header comes after the longer IPv4 header.
        let mut ip = ipv4(17, &[]);
        ip[0] = 0x46;
        ip.extend_from_slice(&[0; 4]);
        ip.extend_from_slice(&udp(1, 5684));
        assert_eq!(classify(&ether(0x0800, &ip), false), Discovery);
        // IPv6 ICMPv6 and UDP.
        let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
        v6.extend_from_slice(&[0; 32]);
        assert_eq!(classify(&ether(0x86dd, &v6), false), Icmp);
        v6[6] = 17;
        v6.extend_from_slice(&udp(5684, 5684));
        assert_eq!(classify(&ether(0x86dd, &v6), false), Discovery);
        // A VLAN tag in front of ARP.
        let mut tagged = ether(0x8100, &[0, 5, 0x08, 0x06]);
        tagged.extend_from_slice(&[0; 28]);
        assert_eq!(classify(&tagged, false), Arp);
        // Short, unknown or malformed.
        assert_eq!(classify(&[0; 10], false), Other);
        assert_eq!(classify(&ether(0x88cc, &[0; 40]), false), Other);
        assert_eq!(classify(&ether(0x0800, &[0x45, 0]), false), Other);
        assert_eq!(classify(&ether(0x0800, &ipv4(47, &[0; 8])), false), Other);
    }

    #[test]
    fn classifies_radio_frames() {
        use PacketKind::*;
        // Data frame, PAN id compression, short destination and source.
        let fc: u16 = 0x0001 | 0x0040 | (2 << 10) | (2 << 14);
        let frame = |dst: u16| {
            let mut f = fc.to_le_bytes().to_vec();
            f.push(7); // sequence
            f.extend_from_slice(&0xe5e5u16.to_le_bytes());
            f.extend_from_slice(&dst.to_le_bytes());
            f.extend_from_slice(&0x0002u16.to_le_bytes());
            f.extend_from_slice(b"hello");
            f
        };
        assert_eq!(classify(&frame(0xffff), true), RadioBroadcast);
        assert_eq!(classify(&frame(0x0003), true), RadioUnicast);
        // No destination address; a long one.
        let none = (0x0001u16 | (2 << 14)).to_le_bytes();
        assert_eq!(
            classify(&[none[0], none[1], 1, 0, 0, 0, 0], true),
            RadioBroadcast
        );
        let long = (0x0001u16 | (3 << 10)).to_le_bytes();
        assert_eq!(classify(&[long[0], long[1], 1, 0, 0], true), RadioUnicast);
        assert_eq!(classify(&[1], true), Other);
        // The same bytes on a wire are not radio frames.
        assert_eq!(classify(&frame(0xffff), false), Other);
        assert_eq!(PacketKind::ALL.len(), 8);
        for (i, k) in PacketKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
    }
}
