//! virtio-blk (device ID 2, virtio 1.2 section 5.2): one request queue.
//!
//! The disk is a backing image (bytes in memory, or a file read as
//! needed) seen through a [`DiskMode`]:
//! - `CopyOnWrite` (the default): guest writes land in an in-memory
//!   overlay of 4 KiB chunks; the image is never changed;
//! - `WriteThrough`: guest writes change the image (the file);
//! - `ReadOnly`: VIRTIO_BLK_F_RO is offered and writes fail with IOERR.
//!
//! The capacity is the image size in 512-byte sectors, rounded up (the
//! tail of a last partial sector reads as zeros).
//!
//! Features: SEG_MAX (126 segments), BLK_SIZE (512), FLUSH unless
//! read-only, RO when read-only. Requests: IN, OUT, FLUSH, GET_ID (the
//! serial, 20 bytes); others answer UNSUPP. A request whose data is not a
//! whole number of sectors or reaches past the capacity answers IOERR, as
//! does a failed file access. A request without its 16-byte header or
//! status byte is a malformed ring.
//!
//! Snapshots hold the overlay, not the image: restore into a device built
//! on the same image (a write-through disk's contents are not saved).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{read_config_bytes, QueueError, VirtioDevice, Virtqueue, ID_BLOCK};
use crate::{Dma, Ticks};

pub const F_SEG_MAX: u64 = 1 << 2;
pub const F_RO: u64 = 1 << 5;
pub const F_BLK_SIZE: u64 = 1 << 6;
pub const F_FLUSH: u64 = 1 << 9;

pub const T_IN: u32 = 0;
pub const T_OUT: u32 = 1;
pub const T_FLUSH: u32 = 4;
pub const T_GET_ID: u32 = 8;

pub const S_OK: u8 = 0;
pub const S_IOERR: u8 = 1;
pub const S_UNSUPP: u8 = 2;

pub const SECTOR: u64 = 512;
const SEG_MAX: u32 = 126;
const ID_BYTES: usize = 20;
const HEADER: u64 = 16;
/// Overlay granule.
const CHUNK: u64 = 4096;
/// Requests move through memory in pieces of this size.
const PIECE: u64 = 64 * 1024;

/// What guest writes do to the image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DiskMode {
    #[default]
    CopyOnWrite,
    WriteThrough,
    ReadOnly,
}

enum Backing {
    Memory(Vec<u8>),
    File(File),
}

/// The snapshot part.
#[derive(Serialize, Deserialize)]
struct BlkState {
    sectors: u64,
    overlay: BTreeMap<u64, Vec<u8>>,
}

pub struct VirtioBlk {
    backing: Backing,
    /// Image length in bytes.
    len: u64,
    mode: DiskMode,
    serial: String,
    state: BlkState,
}

impl VirtioBlk {
    /// Open a disk image file; `writable` writes through to it, otherwise
    /// writes are kept in memory (copy-on-write).
    pub fn open(path: impl AsRef<Path>, writable: bool) -> Result<Self, String> {
        let mode = if writable {
            DiskMode::WriteThrough
        } else {
            DiskMode::CopyOnWrite
        };
        Self::open_with(path, mode)
    }

    pub fn open_with(path: impl AsRef<Path>, mode: DiskMode) -> Result<Self, String> {
        let path = path.as_ref();
        let err = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut file = OpenOptions::new()
            .read(true)
            .write(mode == DiskMode::WriteThrough)
            .open(path)
            .map_err(err)?;
        // Seeking works for block devices too, whose metadata says 0.
        let len = file.seek(SeekFrom::End(0)).map_err(err)?;
        let serial = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self::build(Backing::File(file), len, mode, serial))
    }

    /// A copy-on-write disk over an image in memory.
    pub fn from_bytes(image: Vec<u8>) -> Self {
        Self::from_bytes_with(image, DiskMode::CopyOnWrite)
    }

    pub fn from_bytes_with(image: Vec<u8>, mode: DiskMode) -> Self {
        let len = image.len() as u64;
        Self::build(Backing::Memory(image), len, mode, "ensemble-disk".into())
    }

    fn build(backing: Backing, len: u64, mode: DiskMode, serial: String) -> Self {
        VirtioBlk {
            backing,
            len,
            mode,
            serial,
            state: BlkState {
                sectors: len.div_ceil(SECTOR),
                overlay: BTreeMap::new(),
            },
        }
    }

    /// The serial GET_ID returns (at most 20 bytes are used; the default
    /// is the file name, or "ensemble-disk").
    pub fn with_serial(mut self, serial: &str) -> Self {
        self.serial = serial.into();
        self
    }

    pub fn mode(&self) -> DiskMode {
        self.mode
    }

    pub fn capacity_sectors(&self) -> u64 {
        self.state.sectors
    }

    /// The in-memory image (None for a file).
    pub fn image(&self) -> Option<&[u8]> {
        match &self.backing {
            Backing::Memory(v) => Some(v),
            Backing::File(_) => None,
        }
    }

    /// Bytes held in the copy-on-write overlay.
    pub fn overlay_bytes(&self) -> u64 {
        self.state.overlay.len() as u64 * CHUNK
    }

    /// Read the disk as the guest sees it (overlay over image).
    pub fn read_disk(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let chunk = pos / CHUNK;
            let within = (pos % CHUNK) as usize;
            let n = (CHUNK as usize - within).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            match self.state.overlay.get(&chunk) {
                Some(c) => out.copy_from_slice(&c[within..within + n]),
                None => self.read_backing(pos, out)?,
            }
            done += n;
        }
        Ok(())
    }

    /// Image bytes at `pos`; zeros past its end.
    fn read_backing(&mut self, pos: u64, out: &mut [u8]) -> Result<(), String> {
        out.fill(0);
        if pos >= self.len {
            return Ok(());
        }
        let n = ((self.len - pos) as usize).min(out.len());
        match &mut self.backing {
            Backing::Memory(v) => out[..n].copy_from_slice(&v[pos as usize..pos as usize + n]),
            Backing::File(f) => {
                f.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
                f.read_exact(&mut out[..n]).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn write_disk(&mut self, offset: u64, data: &[u8]) -> Result<(), String> {
        match self.mode {
            DiskMode::ReadOnly => Err("read-only".into()),
            DiskMode::WriteThrough => {
                // Bytes past the image's end (the last partial sector) are
                // dropped: the user's file keeps its size.
                if offset >= self.len {
                    return Ok(());
                }
                let n = ((self.len - offset) as usize).min(data.len());
                match &mut self.backing {
                    Backing::Memory(v) => {
                        v[offset as usize..offset as usize + n].copy_from_slice(&data[..n])
                    }
                    Backing::File(f) => {
                        f.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
                        f.write_all(&data[..n]).map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            }
            DiskMode::CopyOnWrite => {
                let mut done = 0usize;
                while done < data.len() {
                    let pos = offset + done as u64;
                    let chunk = pos / CHUNK;
                    let within = (pos % CHUNK) as usize;
                    let n = (CHUNK as usize - within).min(data.len() - done);
                    if !self.state.overlay.contains_key(&chunk) {
                        let mut fresh = vec![0u8; CHUNK as usize];
                        self.read_backing(chunk * CHUNK, &mut fresh)?;
                        self.state.overlay.insert(chunk, fresh);
                    }
                    let c = self.state.overlay.get_mut(&chunk).expect("inserted above");
                    c[within..within + n].copy_from_slice(&data[done..done + n]);
                    done += n;
                }
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> Result<(), String> {
        match &mut self.backing {
            Backing::File(f) if self.mode == DiskMode::WriteThrough => {
                f.sync_data().map_err(|e| e.to_string())
            }
            _ => Ok(()),
        }
    }

    /// Is `bytes` at `sector` a whole number of sectors within the disk?
    fn in_range(&self, sector: u64, bytes: u64) -> bool {
        bytes.is_multiple_of(SECTOR)
            && sector
                .checked_add(bytes / SECTOR)
                .is_some_and(|end| end <= self.state.sectors)
    }

    /// Carry out one request; returns the bytes written into the chain.
    fn request(&mut self, mem: &mut dyn Dma, chain: &super::Chain) -> Result<u32, QueueError> {
        let mut hdr = [0u8; HEADER as usize];
        let writable = chain.writable_len();
        if chain.read(mem, 0, &mut hdr)? < hdr.len() || writable == 0 {
            return Err(QueueError::Request("no header or status byte"));
        }
        let kind = u32::from_le_bytes(hdr[0..4].try_into().expect("4 bytes"));
        let sector = u64::from_le_bytes(hdr[8..16].try_into().expect("8 bytes"));
        let data_in = writable - 1;
        let data_out = chain.readable_len() - HEADER;
        let mut written = 0u64;
        let status = match kind {
            T_IN if self.in_range(sector, data_in) => {
                let mut buf = vec![0u8; PIECE.min(data_in) as usize];
                let mut status = S_OK;
                while written < data_in {
                    let n = PIECE.min(data_in - written) as usize;
                    if self
                        .read_disk(sector * SECTOR + written, &mut buf[..n])
                        .is_err()
                    {
                        status = S_IOERR;
                        break;
                    }
                    chain.write(mem, written, &buf[..n])?;
                    written += n as u64;
                }
                status
            }
            T_OUT if self.mode != DiskMode::ReadOnly && self.in_range(sector, data_out) => {
                let mut buf = vec![0u8; PIECE.min(data_out) as usize];
                let mut done = 0u64;
                let mut status = S_OK;
                while done < data_out {
                    let n = PIECE.min(data_out - done) as usize;
                    chain.read(mem, HEADER + done, &mut buf[..n])?;
                    if self.write_disk(sector * SECTOR + done, &buf[..n]).is_err() {
                        status = S_IOERR;
                        break;
                    }
                    done += n as u64;
                }
                status
            }
            T_IN | T_OUT => S_IOERR,
            T_FLUSH if self.mode != DiskMode::ReadOnly => {
                if self.flush().is_ok() {
                    S_OK
                } else {
                    S_IOERR
                }
            }
            T_GET_ID => {
                let mut id = [0u8; ID_BYTES];
                let s = self.serial.as_bytes();
                let n = s.len().min(ID_BYTES);
                id[..n].copy_from_slice(&s[..n]);
                let n = (data_in as usize).min(ID_BYTES);
                written = chain.write(mem, 0, &id[..n])? as u64;
                S_OK
            }
            _ => S_UNSUPP,
        };
        chain.write(mem, writable - 1, &[status])?;
        Ok((written + 1).min(u32::MAX as u64) as u32)
    }
}

impl VirtioDevice for VirtioBlk {
    fn name(&self) -> &'static str {
        "virtio-blk"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn device_id(&self) -> u32 {
        ID_BLOCK
    }

    fn features(&self) -> u64 {
        let mode = match self.mode {
            DiskMode::ReadOnly => F_RO,
            _ => F_FLUSH,
        };
        F_SEG_MAX | F_BLK_SIZE | mode
    }

    fn queue_count(&self) -> usize {
        1
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // virtio_blk_config up to num_queues: capacity, size_max,
        // seg_max, geometry, blk_size, topology, writeback, num_queues.
        let mut c = [0u8; 36];
        c[0..8].copy_from_slice(&self.state.sectors.to_le_bytes());
        c[12..16].copy_from_slice(&SEG_MAX.to_le_bytes());
        c[20..24].copy_from_slice(&(SECTOR as u32).to_le_bytes());
        c[34..36].copy_from_slice(&1u16.to_le_bytes());
        read_config_bytes(&c, offset, data);
    }

    fn reset(&mut self) {}

    fn process(
        &mut self,
        queues: &mut [Virtqueue],
        mem: &mut dyn Dma,
        _now: Ticks,
    ) -> Result<(), QueueError> {
        let q = &mut queues[0];
        while let Some(chain) = q.pop(mem)? {
            let len = self.request(mem, &chain)?;
            q.push_used(mem, chain.head, len)?;
        }
        Ok(())
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        postcard::to_allocvec(&self.state).ok()
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        let s: BlkState =
            postcard::from_bytes(state).map_err(|e| format!("virtio-blk: bad saved state: {e}"))?;
        if s.sectors != self.state.sectors {
            return Err(format!(
                "virtio-blk: saved disk has {} sectors, this one {}",
                s.sectors, self.state.sectors
            ));
        }
        if s.overlay.values().any(|c| c.len() != CHUNK as usize) {
            return Err("virtio-blk: bad saved state: overlay chunk size".into());
        }
        self.state = s;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::mmio::{INT_USED_BUFFER, LINE_IRQ};
    use super::super::testutil::Driver;
    use super::super::VirtioMmio;
    use super::*;
    use crate::Device;

    fn image() -> Vec<u8> {
        (0..64 * 1024u32).map(|i| (i * 7 + i / 512) as u8).collect()
    }

    /// Send one request; returns (status, used len, data read).
    fn request(
        d: &mut Driver,
        kind: u32,
        sector: u64,
        data: &[u8],
        read_len: u32,
    ) -> (u8, u32, Vec<u8>) {
        let hdr = d.alloc(16);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&kind.to_le_bytes());
        h[8..16].copy_from_slice(&sector.to_le_bytes());
        d.ram.put(hdr, &h);
        let mut bufs = vec![(hdr, 16, false)];
        if !data.is_empty() {
            let out = d.alloc(data.len() as u64);
            d.ram.put(out, data);
            bufs.push((out, data.len() as u32, false));
        }
        let input = d.alloc(read_len as u64);
        if read_len > 0 {
            bufs.push((input, read_len, true));
        }
        let st = d.alloc(1);
        d.ram.put(st, &[0xee]);
        bufs.push((st, 1, true));
        let head = d.add(0, &bufs);
        d.kick(0);
        let used = d.used(0);
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].0, head as u32);
        let got = d.ram.get(input, read_len as usize).to_vec();
        (d.ram.get(st, 1)[0], used[0].1, got)
    }

    fn disk(dev: &VirtioMmio) -> &VirtioBlk {
        dev.device_as().expect("a virtio-blk")
    }

    #[test]
    fn config_and_features() {
        let mut d = Driver::start(Box::new(VirtioBlk::from_bytes(image())), 16);
        assert_eq!(d.config(0, 8), 128u64.to_le_bytes());
        assert_eq!(d.config(12, 4), 126u32.to_le_bytes());
        assert_eq!(d.config(20, 4), 512u32.to_le_bytes());
        assert_eq!(d.dev.read(0x100, 4, 0), 128);
        assert_eq!(d.dev.read(0x104, 4, 0), 0);
        let f = d.device_features();
        assert_ne!(f & F_FLUSH, 0);
        assert_eq!(f & F_RO, 0);
        // A partial last sector counts, reading zeros past the image.
        let mut d = Driver::start(Box::new(VirtioBlk::from_bytes(vec![1; 1000])), 16);
        assert_eq!(d.config(0, 8), 2u64.to_le_bytes());
        let (s, _, got) = request(&mut d, T_IN, 1, &[], 512);
        assert_eq!(s, S_OK);
        assert_eq!(&got[..488], &[1; 488][..]);
        assert_eq!(&got[488..], &[0; 24][..]);
    }

    #[test]
    fn read_sector_zero_returns_the_image() {
        let img = image();
        let mut d = Driver::start(Box::new(VirtioBlk::from_bytes(img.clone())), 16);
        let (status, len, got) = request(&mut d, T_IN, 0, &[], 512);
        assert_eq!(status, S_OK);
        assert_eq!(len, 513);
        assert_eq!(got, &img[..512]);
        assert_eq!(d.dev.irq_lines(), LINE_IRQ);
        assert_eq!(d.ack(), INT_USED_BUFFER);
        // Several sectors across segments, through an indirect table.
        let hdr = d.alloc(16);
        let mut h = [0u8; 16];
        h[8..16].copy_from_slice(&3u64.to_le_bytes());
        d.ram.put(hdr, &h);
        let (a, b, st) = (d.alloc(1024), d.alloc(2048), d.alloc(1));
        d.add_indirect(
            0,
            &[
                (hdr, 16, false),
                (a, 1024, true),
                (b, 2048, true),
                (st, 1, true),
            ],
        );
        d.kick(0);
        assert_eq!(d.used(0)[0].1, 3073);
        assert_eq!(d.ram.get(a, 1024), &img[3 * 512..5 * 512]);
        assert_eq!(d.ram.get(b, 2048), &img[5 * 512..9 * 512]);
        assert_eq!(d.ram.get(st, 1), [S_OK]);
    }

    #[test]
    fn rings_wrap_around() {
        let img = image();
        let mut d = Driver::start(Box::new(VirtioBlk::from_bytes(img.clone())), 8);
        for i in 0..40u64 {
            let (s, len, got) = request(&mut d, T_IN, i % 128, &[], 512);
            assert_eq!((s, len), (S_OK, 513));
            let at = (i % 128) as usize * 512;
            assert_eq!(got, &img[at..at + 512]);
        }
    }

    #[test]
    fn writes_go_to_the_overlay() {
        let img = image();
        let mut d = Driver::start(Box::new(VirtioBlk::from_bytes(img.clone())), 16);
        let data: Vec<u8> = (0..1024).map(|i| (i % 251) as u8).collect();
        let (status, len, _) = request(&mut d, T_OUT, 9, &data, 0);
        assert_eq!((status, len), (S_OK, 1));
        let (status, _, got) = request(&mut d, T_IN, 8, &[], 2048);
        assert_eq!(status, S_OK);
        assert_eq!(&got[..512], &img[8 * 512..9 * 512]);
        assert_eq!(&got[512..1536], &data[..]);
        assert_eq!(&got[1536..], &img[11 * 512..12 * 512]);
        let blk = disk(&d.dev);
        assert_eq!(blk.image().unwrap(), &img[..], "the image is unchanged");
        assert_eq!(blk.overlay_bytes(), 4096);
        assert_eq!(request(&mut d, T_FLUSH, 0, &[], 0).0, S_OK);
        // A reset keeps the disk's contents; so does a snapshot.
        d.dev.reset();
        let mut got = vec![0; 1024];
        let blk: &mut VirtioBlk = d.dev.device_as_mut().unwrap();
        blk.read_disk(9 * 512, &mut got).unwrap();
        assert_eq!(got, data);
        let state = d.dev.device().save_state().unwrap();
        let mut d2 = Driver::start(Box::new(VirtioBlk::from_bytes(img.clone())), 16);
        d2.dev.device_mut().restore_state(&state).unwrap();
        let (_, _, got) = request(&mut d2, T_IN, 9, &[], 1024);
        assert_eq!(got, data);
        let mut small = VirtioBlk::from_bytes(vec![0; 512]);
        assert!(small.restore_state(&state).is_err(), "another size");
    }

    fn temp_image(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("ensemble-virtio-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn files_copy_on_write_or_write_through() {
        let img = image();
        let path = temp_image("cow", &img);
        let mut d = Driver::start(Box::new(VirtioBlk::open(&path, false).unwrap()), 16);
        let (s, _, got) = request(&mut d, T_IN, 1, &[], 512);
        assert_eq!((s, &got[..]), (S_OK, &img[512..1024]));
        assert_eq!(request(&mut d, T_OUT, 1, &[0xaa; 512], 0).0, S_OK);
        assert_eq!(request(&mut d, T_IN, 1, &[], 512).2, [0xaa; 512]);
        assert_eq!(std::fs::read(&path).unwrap(), img, "the file is unchanged");

        let mut d = Driver::start(Box::new(VirtioBlk::open(&path, true).unwrap()), 16);
        assert_eq!(request(&mut d, T_OUT, 1, &[0xbb; 512], 0).0, S_OK);
        assert_eq!(request(&mut d, T_FLUSH, 0, &[], 0).0, S_OK);
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(&on_disk[512..1024], &[0xbb; 512][..]);
        assert_eq!(on_disk.len(), img.len());
        std::fs::remove_file(&path).unwrap();
        assert!(VirtioBlk::open(&path, false).is_err());
    }

    #[test]
    fn read_only_disks_refuse_writes() {
        let img = image();
        let dev = VirtioBlk::from_bytes_with(img.clone(), DiskMode::ReadOnly);
        let mut d = Driver::start(Box::new(dev), 16);
        let f = d.device_features();
        assert_ne!(f & F_RO, 0);
        assert_eq!(f & F_FLUSH, 0);
        assert_eq!(request(&mut d, T_OUT, 0, &[1; 512], 0).0, S_IOERR);
        assert_eq!(request(&mut d, T_IN, 0, &[], 512).2, &img[..512]);
    }

    #[test]
    fn get_id_bad_ranges_and_unknown_requests() {
        let dev = VirtioBlk::from_bytes(image()).with_serial("disk-serial-number-0123456789");
        let mut d = Driver::start(Box::new(dev), 16);
        let (s, len, id) = request(&mut d, T_GET_ID, 0, &[], 20);
        assert_eq!((s, len), (S_OK, 21));
        assert_eq!(&id, b"disk-serial-number-0");
        // Past the end, a partial sector, an unknown type.
        assert_eq!(request(&mut d, T_IN, 127, &[], 1024).0, S_IOERR);
        assert_eq!(request(&mut d, T_IN, u64::MAX, &[], 512).0, S_IOERR);
        assert_eq!(request(&mut d, T_IN, 0, &[], 100).0, S_IOERR);
        assert_eq!(request(&mut d, T_OUT, 128, &[0; 512], 0).0, S_IOERR);
        assert_eq!(request(&mut d, 11, 0, &[], 0).0, S_UNSUPP);
        assert_eq!(d.rd(super::super::mmio::STATUS) & 64, 0);
        // Without a status byte the request is malformed.
        let hdr = d.alloc(16);
        d.add(0, &[(hdr, 16, false)]);
        d.kick(0);
        assert_ne!(d.rd(super::super::mmio::STATUS) & 64, 0);
    }
}
