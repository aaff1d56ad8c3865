//! Packet capture: one pcap file per network, Ethernet or 802.15.4 link type,
//! nanosecond timestamps of virtual time (tcpdump, tshark and Wireshark
//! read it).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};

pub struct Capture {
    writer: PcapWriter<BufWriter<File>>,
}

impl Capture {
    /// `radio`: IEEE 802.15.4 frames without FCS instead of Ethernet.
    pub fn create(path: &Path, radio: bool) -> std::io::Result<Capture> {
        let file = BufWriter::new(File::create(path)?);
        let header = PcapHeader {
            datalink: if radio {
                DataLink::IEEE802_15_4_NOFCS
            } else {
                DataLink::ETHERNET
            },
            ts_resolution: TsResolution::NanoSecond,
            ..Default::default()
        };
        let writer = PcapWriter::with_header(file, header)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Capture { writer })
    }

    /// Record `frame` as seen on the wire at virtual time `ns`.
    pub fn record(&mut self, ns: u64, frame: &[u8]) -> std::io::Result<()> {
        let packet = PcapPacket::new(Duration::from_nanos(ns), frame.len() as u32, frame);
        self.writer
            .write_packet(&packet)
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}
