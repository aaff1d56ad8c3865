//! Guest images: ELF (each PT_LOAD segment at its physical address), raw
//! binary at a given address (`fw.bin@0x0`), and Intel HEX.

use std::path::Path;

use object::elf::{EM_ARM, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read image {0}: {1}")]
    Io(String, std::io::Error),
    #[error("image {0} is empty")]
    Empty(String),
    #[error("image {0}: {1}")]
    Format(String, String),
}

/// One contiguous piece of an image.
#[derive(Debug, Clone)]
pub struct Segment {
    pub addr: u64,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub path: String,
    pub segments: Vec<Segment>,
    /// Symbols (name, address) from an ELF, for diagnostics.
    pub symbols: Vec<(String, u64)>,
    /// Where an AArch64 core starts and what x0 holds (a device tree's
    /// address); M-profile cores start from their vector table instead.
    pub boot: Option<(u64, u64)>,
}

impl Image {
    /// `spec` is a path, optionally followed by `@ADDRESS` for raw binaries.
    pub fn load(spec: &str) -> Result<Image, LoadError> {
        let (path, at) = match spec.rsplit_once('@') {
            Some((p, a)) => (p, Some(a)),
            None => (spec, None),
        };
        let data = std::fs::read(Path::new(path)).map_err(|e| LoadError::Io(path.into(), e))?;
        if data.is_empty() {
            return Err(LoadError::Empty(path.into()));
        }
        let fmt = |m: String| LoadError::Format(path.into(), m);
        if let Some(addr) = at {
            let addr = parse_u64(addr).ok_or_else(|| fmt(format!("bad load address '{addr}'")))?;
            return Ok(Image {
                path: path.into(),
                segments: vec![Segment { addr, data }],
                symbols: vec![],
                boot: None,
            });
        }
        if data.starts_with(b"\x7fELF") {
            return load_elf(path, &data).map_err(fmt);
        }
        if data[0] == b':' {
            return load_ihex(path, &data).map_err(fmt);
        }
        if path.ends_with(".bin") {
            return Err(fmt(
                "a raw binary needs a load address: give it as FILE.bin@0x0".into(),
            ));
        }
        Err(fmt(
            "not an ELF or Intel HEX file (for a raw binary give FILE@ADDRESS)".into(),
        ))
    }

    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }

    /// The name of the function containing `addr`, for crash reports.
    pub fn symbolize(&self, addr: u64) -> Option<String> {
        // Thumb function symbols carry bit 0; compare without it.
        let addr = addr & !1;
        self.symbols
            .iter()
            .map(|(n, a)| (n, a & !1))
            .filter(|&(_, a)| a <= addr)
            .max_by_key(|&(_, a)| a)
            .map(|(n, a)| format!("{n}+0x{:x}", addr - a))
    }
}

pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim().replace('_', "");
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn load_elf(path: &str, data: &[u8]) -> Result<Image, String> {
    use object::Object as _;
    use object::ObjectSymbol as _;
    let hdr = object::elf::FileHeader32::<Endianness>::parse(data).map_err(|_| {
        if data.get(4) == Some(&2) && data.len() > 20 {
            let machine = u16::from_le_bytes([data[18], data[19]]);
            format!(
                "a 64-bit ELF for {}, not ARM: this board needs a 32-bit ARM Cortex-M image",
                machine_name(machine)
            )
        } else {
            "malformed ELF header".to_string()
        }
    })?;
    let endian = hdr.endian().map_err(|e| e.to_string())?;
    let machine = hdr.e_machine(endian);
    if machine != EM_ARM {
        return Err(format!(
            "ELF for {} (machine {}), not ARM: this board needs a 32-bit ARM Cortex-M image",
            machine_name(machine),
            machine
        ));
    }
    if endian != Endianness::Little {
        return Err("big-endian ELF; the board is little-endian".into());
    }
    let mut segments = Vec::new();
    for ph in hdr
        .program_headers(endian, data)
        .map_err(|e| e.to_string())?
    {
        if ph.p_type(endian) != PT_LOAD || ph.p_memsz(endian) == 0 {
            continue;
        }
        let mut bytes = ph
            .data(endian, data)
            .map_err(|_| "a program header points outside the file".to_string())?
            .to_vec();
        // .bss: zero the rest of the segment, as a loader does.
        bytes.resize(ph.p_memsz(endian) as usize, 0);
        segments.push(Segment {
            addr: ph.p_paddr(endian) as u64,
            data: bytes,
        });
    }
    if segments.is_empty() {
        return Err("no loadable segments".into());
    }
    let symbols = object::File::parse(data)
        .map(|f| {
            f.symbols()
                .filter(|s| s.is_definition())
                .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
                .filter(|(n, _)| !n.is_empty() && !n.starts_with('$'))
                .collect()
        })
        .unwrap_or_default();
    Ok(Image {
        path: path.into(),
        segments,
        symbols,
        boot: None,
    })
}

fn machine_name(m: u16) -> &'static str {
    match m {
        3 => "x86",
        62 => "x86-64",
        183 => "AArch64",
        243 => "RISC-V",
        8 => "MIPS",
        _ => "unknown",
    }
}

fn load_ihex(path: &str, data: &[u8]) -> Result<Image, String> {
    let text = std::str::from_utf8(data).map_err(|_| "not valid Intel HEX text".to_string())?;
    let mut base: u64 = 0;
    let mut segments: Vec<Segment> = Vec::new();
    for (n, rec) in ihex::Reader::new(text).enumerate() {
        let rec = rec.map_err(|e| format!("Intel HEX record {}: {e}", n + 1))?;
        match rec {
            ihex::Record::Data { offset, value } => {
                let addr = base + offset as u64;
                match segments.last_mut() {
                    Some(s) if s.addr + s.data.len() as u64 == addr => s.data.extend(value),
                    _ => segments.push(Segment { addr, data: value }),
                }
            }
            ihex::Record::ExtendedSegmentAddress(s) => base = (s as u64) << 4,
            ihex::Record::ExtendedLinearAddress(s) => base = (s as u64) << 16,
            ihex::Record::EndOfFile => break,
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err("no data records".into());
    }
    Ok(Image {
        path: path.into(),
        segments,
        symbols: vec![],
        boot: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, data: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("ensemble-loader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        p.to_string_lossy().into_owned()
    }

    #[test]
    fn raw_binary_needs_and_uses_address() {
        let p = tmp("fw.bin", &[1, 2, 3, 4]);
        assert!(Image::load(&p).unwrap_err().to_string().contains("@"));
        let img = Image::load(&format!("{p}@0x1000")).unwrap();
        assert_eq!(img.segments[0].addr, 0x1000);
    }

    #[test]
    fn intel_hex_with_linear_address() {
        let hex = ":020000040800F2\n:0400000001020304F2\n:00000001FF\n";
        let p = tmp("fw.hex", hex.as_bytes());
        let img = Image::load(&p).unwrap();
        assert_eq!(img.segments[0].addr, 0x0800_0000);
        assert_eq!(img.segments[0].data, vec![1, 2, 3, 4]);
    }

    #[test]
    fn empty_and_missing_files_are_errors() {
        let p = tmp("empty.elf", &[]);
        assert!(Image::load(&p).unwrap_err().to_string().contains("empty"));
        assert!(Image::load("/nonexistent/x.elf").is_err());
    }

    #[test]
    fn symbols_name_thumb_functions_from_their_first_instruction() {
        let img = Image {
            path: "x".into(),
            segments: vec![],
            symbols: vec![("before".into(), 0x401), ("main".into(), 0x421)],
            boot: None,
        };
        assert_eq!(img.symbolize(0x420).as_deref(), Some("main+0x0"));
        assert_eq!(img.symbolize(0x41e).as_deref(), Some("before+0x1e"));
    }

    #[test]
    fn host_elf_is_rejected_with_its_machine() {
        let exe = std::env::current_exe().unwrap();
        let e = Image::load(exe.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.contains("not ARM") || e.contains("64-bit"), "{e}");
    }
}
