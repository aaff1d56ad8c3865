//! Packet capture: one pcap file per network, Ethernet or 802.15.4 link type,
//! nanosecond timestamps of virtual time (tcpdump, tshark and Wireshark
//! read it). Packets are buffered and pushed out at each `flush`, so a
//! named pipe feeds a live Wireshark a quantum at a time.

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};

/// The writer the pcap encoder fills; `Capture` empties it into the file.
#[derive(Clone, Default)]
struct Pending(Rc<RefCell<Vec<u8>>>);

impl Write for Pending {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Capture {
    writer: PcapWriter<Pending>,
    pending: Pending,
    file: File,
}

impl Capture {
    /// `radio`: IEEE 802.15.4 frames without FCS instead of Ethernet.
    pub fn create(path: &Path, radio: bool) -> std::io::Result<Capture> {
        let file = File::create(path)?;
        let header = PcapHeader {
            datalink: if radio {
                DataLink::IEEE802_15_4_NOFCS
            } else {
                DataLink::ETHERNET
            },
            ts_resolution: TsResolution::NanoSecond,
            ..Default::default()
        };
        let pending = Pending::default();
        let writer = PcapWriter::with_header(pending.clone(), header)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut c = Capture {
            writer,
            pending,
            file,
        };
        c.flush()?;
        Ok(c)
    }

    /// Record `frame` as seen on the wire at virtual time `ns`.
    pub fn record(&mut self, ns: u64, frame: &[u8]) -> std::io::Result<()> {
        let packet = PcapPacket::new(Duration::from_nanos(ns), frame.len() as u32, frame);
        self.writer
            .write_packet(&packet)
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()))
    }

    /// Push what is buffered to the file (or to the reader of a named pipe).
    pub fn flush(&mut self) -> std::io::Result<()> {
        let bytes = std::mem::take(&mut *self.pending.0.borrow_mut());
        if !bytes.is_empty() {
            self.file.write_all(&bytes)?;
        }
        Ok(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
