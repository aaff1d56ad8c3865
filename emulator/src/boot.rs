//! Booting an AArch64 board: the device tree generated from the board
//! description, the Linux arm64 boot protocol (Documentation/arch/arm64/
//! booting.rst: Image header, DTB address in x0, MMU off, EL1) and
//! firmware in flash (U-Boot's `qemu_arm64` build, which finds its device
//! tree at the start of RAM, as QEMU's `virt` leaves it).

use std::io::Read;

use thiserror::Error;
use vm_fdt::FdtWriter;

use crate::board::{Board, MemoryKind};
use crate::loader::{Image, Segment};

#[derive(Debug, Error)]
pub enum BootError {
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Apply the command line's machine options to an AArch64 board: RAM
/// size, the disk behind the virtio block device.
pub fn configure_board(
    board: &mut Board,
    memory: Option<&str>,
    disk: Option<&str>,
    writable: bool,
) -> Result<(), BootError> {
    if let Some(m) = memory {
        let size = parse_size(m)
            .filter(|s| (64 << 20..=4 << 30).contains(s) && s % (2 << 20) == 0)
            .ok_or_else(|| {
                BootError::Invalid(format!(
                "--memory '{m}': expected a size from 64M to 4G in whole MiB pairs, like 512M or 2G"
            ))
            })?;
        let ram = board
            .memory
            .iter_mut()
            .find(|r| r.name == "ram")
            .ok_or_else(|| {
                BootError::Invalid(format!("board '{}' has no memory named 'ram'", board.name))
            })?;
        ram.size = size;
    }
    if let Some(path) = disk {
        let dev = board
            .devices
            .iter_mut()
            .find(|d| d.kind == "virtio-blk")
            .ok_or_else(|| {
                BootError::Invalid(format!(
                    "--disk: board '{}' has no virtio-blk device",
                    board.name
                ))
            })?;
        std::fs::metadata(path).map_err(|e| BootError::Io(path.to_string(), e))?;
        dev.params
            .insert("file".into(), toml::Value::String(path.to_string()));
        dev.params
            .insert("writable".into(), toml::Value::Boolean(writable));
    }
    Ok(())
}

/// "512M", "2G", "1048576" (bytes).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1u64 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// A scenario device's boot options, paths resolved.
#[derive(Debug, Clone, Default)]
pub struct BootDecl {
    pub spec: BootSpec,
    pub memory: Option<String>,
    pub disk: Option<String>,
}

/// The image a scenario device runs: its `image`, or for an AArch64 board
/// its kernel or firmware with a device tree (the board is configured
/// for the RAM size and disk asked for).
pub fn device_image(
    board: &mut Board,
    image: &std::path::Path,
    boot: Option<&BootDecl>,
) -> anyhow::Result<Image> {
    match boot {
        None if board.cpu.is_aarch64() => Err(anyhow::anyhow!(
            "board '{}' is an AArch64 board: give kernel (with initrd, append) or bios instead of image",
            board.name
        )),
        None => Ok(Image::load(&image.display().to_string())?),
        Some(_) if !board.cpu.is_aarch64() => Err(anyhow::anyhow!(
            "kernel/bios: board '{}' is not an AArch64 board; give image",
            board.name
        )),
        Some(b) => {
            configure_board(board, b.memory.as_deref(), b.disk.as_deref(), false)?;
            Ok(boot_image(board, &b.spec)?.0)
        }
    }
}

/// What the user asked to boot.
#[derive(Debug, Clone, Default)]
pub struct BootSpec {
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub append: String,
    pub bios: Option<String>,
    /// A device tree blob to use instead of the generated one.
    pub dtb: Option<String>,
}

/// The Linux arm64 Image header's magic ("ARM\x64") at offset 0x38.
const IMAGE_MAGIC: u32 = 0x644d_5241;
/// The device tree must stay below 2 MiB.
const DTB_MAX: u64 = 2 << 20;

fn read(path: &str) -> Result<Vec<u8>, BootError> {
    let data = std::fs::read(path).map_err(|e| BootError::Io(path.to_string(), e))?;
    if data.is_empty() {
        return Err(BootError::Invalid(format!("{path} is empty")));
    }
    Ok(data)
}

fn ram_of(board: &Board) -> Result<(u64, u64), BootError> {
    board
        .memory
        .iter()
        .filter(|m| m.kind == MemoryKind::Ram && m.name == "ram")
        .map(|m| (m.base, m.size))
        .next()
        .ok_or_else(|| {
            BootError::Invalid(format!("board '{}' has no memory named 'ram'", board.name))
        })
}

/// A Linux Image, uncompressed (a gzip-compressed one, as Debian ships
/// `vmlinuz`, is inflated first).
pub fn linux_image(path: &str) -> Result<(Vec<u8>, u64), BootError> {
    let mut data = read(path)?;
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&data[..])
            .read_to_end(&mut out)
            .map_err(|e| BootError::Invalid(format!("{path}: cannot inflate: {e}")))?;
        data = out;
    }
    if data.len() < 64 || u32::from_le_bytes(data[0x38..0x3c].try_into().unwrap()) != IMAGE_MAGIC {
        let what = if data.starts_with(b"\x7fELF") {
            "an ELF file (vmlinux); give the Image"
        } else if data.starts_with(b"MZ") && data.get(4..8) == Some(b"zimg") {
            "an EFI zboot image; unpack its payload to an Image"
        } else {
            "not an arm64 Linux Image (no \"ARM\\x64\" magic at offset 0x38)"
        };
        return Err(BootError::Invalid(format!("{path}: {what}")));
    }
    let text_offset = u64::from_le_bytes(data[8..16].try_into().unwrap());
    let image_size = u64::from_le_bytes(data[16..24].try_into().unwrap());
    // Before Linux 3.17 image_size was 0 and the offset always 0x80000.
    let text_offset = if image_size == 0 {
        0x8_0000
    } else {
        text_offset
    };
    Ok((data, text_offset))
}

/// The image to load for `spec` on an AArch64 `board`: segments for the
/// kernel (or firmware), initrd and device tree, and where the CPU starts.
pub fn boot_image(board: &Board, spec: &BootSpec) -> Result<(Image, Vec<u8>), BootError> {
    let (ram_base, ram_size) = ram_of(board)?;
    let ram_end = ram_base + ram_size;
    let mut segments = Vec::new();
    let too_big = |what: &str, len: u64| {
        BootError::Invalid(format!(
            "{what} ({len} bytes) does not fit in the {} MiB of RAM of board '{}'",
            ram_size >> 20,
            board.name
        ))
    };
    if spec.kernel.is_some() && spec.bios.is_some() {
        return Err(BootError::Invalid(
            "give either --kernel or --bios, not both".into(),
        ));
    }
    if let Some(bios) = &spec.bios {
        let data = read(bios)?;
        let flash = board
            .memory
            .iter()
            .find(|m| m.kind == MemoryKind::Rom && m.base == 0)
            .ok_or_else(|| {
                BootError::Invalid(format!("board '{}' has no flash at 0", board.name))
            })?;
        if data.len() as u64 > flash.size {
            return Err(BootError::Invalid(format!(
                "{bios} ({} bytes) is larger than the {} MiB flash",
                data.len(),
                flash.size >> 20
            )));
        }
        let dtb = match &spec.dtb {
            Some(p) => read(p)?,
            None => device_tree(board, &spec.append, None)?,
        };
        segments.push(Segment { addr: 0, data });
        segments.push(Segment {
            addr: ram_base,
            data: dtb.clone(),
        });
        let image = Image {
            path: bios.clone(),
            segments,
            symbols: vec![],
            boot: Some((0, 0)),
        };
        return Ok((image, dtb));
    }
    let Some(kernel) = &spec.kernel else {
        return Err(BootError::Invalid(
            "an AArch64 board boots --kernel IMAGE (Linux) or --bios FILE (firmware such as U-Boot)"
                .into(),
        ));
    };
    let (kdata, text_offset) = linux_image(kernel)?;
    let kaddr = ram_base + text_offset;
    let kend = kaddr + kdata.len() as u64;
    let dtb_addr = ram_end - DTB_MAX;
    if kend > dtb_addr {
        return Err(too_big(kernel, kdata.len() as u64));
    }
    let mut initrd_range = None;
    if let Some(initrd) = &spec.initrd {
        let data = read(initrd)?;
        let len = data.len() as u64;
        // Well above the kernel's image and the memory it claims after
        // it (image_size covers its bss), 2 MiB aligned as QEMU does.
        let mut at = (kend + (32 << 20)).next_multiple_of(2 << 20);
        if at + len > dtb_addr {
            at = (dtb_addr - len) & !((2 << 20) - 1);
        }
        if at < kend || len > ram_size {
            return Err(too_big(initrd, len));
        }
        initrd_range = Some((at, at + len));
        segments.push(Segment { addr: at, data });
    }
    let dtb = match &spec.dtb {
        Some(p) => read(p)?,
        None => device_tree(board, &spec.append, initrd_range)?,
    };
    if dtb.len() as u64 > DTB_MAX {
        return Err(BootError::Invalid(
            "the device tree is larger than 2 MiB".into(),
        ));
    }
    segments.push(Segment {
        addr: kaddr,
        data: kdata,
    });
    segments.push(Segment {
        addr: dtb_addr,
        data: dtb.clone(),
    });
    let image = Image {
        path: kernel.clone(),
        segments,
        symbols: vec![],
        boot: Some((kaddr, dtb_addr)),
    };
    Ok((image, dtb))
}

const PHANDLE_GIC: u32 = 1;
const PHANDLE_CLK: u32 = 2;
/// GIC interrupt specifier: SPI/PPI, number, flags.
const GIC_SPI: u32 = 0;
const GIC_PPI: u32 = 1;
const IRQ_LEVEL_HIGH: u32 = 4;

/// The device tree of `board` as QEMU's `virt` describes the same
/// hardware, with `bootargs` and the initrd range in /chosen.
pub fn device_tree(
    board: &Board,
    bootargs: &str,
    initrd: Option<(u64, u64)>,
) -> Result<Vec<u8>, BootError> {
    build_tree(board, bootargs, initrd).map_err(|e| BootError::Invalid(format!("device tree: {e}")))
}

fn build_tree(
    board: &Board,
    bootargs: &str,
    initrd: Option<(u64, u64)>,
) -> Result<Vec<u8>, vm_fdt::Error> {
    let gic = board.gic.expect("AArch64 boards have a GIC");
    let mut f = FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_string("compatible", "linux,dummy-virt")?;
    f.property_string("model", &format!("Ensemble {}", board.name))?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_u32("interrupt-parent", PHANDLE_GIC)?;

    let psci = f.begin_node("psci")?;
    f.property_string_list(
        "compatible",
        vec![
            "arm,psci-1.0".into(),
            "arm,psci-0.2".into(),
            "arm,psci".into(),
        ],
    )?;
    f.property_string("method", "hvc")?;
    f.property_u32("cpu_suspend", 0xc400_0001)?;
    f.property_u32("cpu_off", 0x8400_0002)?;
    f.property_u32("cpu_on", 0xc400_0003)?;
    f.property_u32("migrate", 0xc400_0005)?;
    f.end_node(psci)?;

    for m in board.memory.iter().filter(|m| m.name == "ram") {
        let node = f.begin_node(&format!("memory@{:x}", m.base))?;
        f.property_string("device_type", "memory")?;
        f.property_array_u64("reg", &[m.base, m.size])?;
        f.end_node(node)?;
    }

    let cpus = f.begin_node("cpus")?;
    f.property_u32("#address-cells", 1)?;
    f.property_u32("#size-cells", 0)?;
    let cpu = f.begin_node("cpu@0")?;
    f.property_string("device_type", "cpu")?;
    f.property_string("compatible", &format!("arm,{}", board.cpu.name()))?;
    f.property_u32("reg", 0)?;
    f.end_node(cpu)?;
    f.end_node(cpus)?;

    let timer = f.begin_node("timer")?;
    f.property_string_list(
        "compatible",
        vec!["arm,armv8-timer".into(), "arm,armv7-timer".into()],
    )?;
    // Secure physical, non-secure physical, virtual, hypervisor; the CPU
    // mask (one CPU) in bits 15:8.
    let ppi = |n: u32| [GIC_PPI, n, 0x100 | IRQ_LEVEL_HIGH];
    let cells: Vec<u32> = [13, 14, 11, 10].into_iter().flat_map(ppi).collect();
    f.property_array_u32("interrupts", &cells)?;
    f.property_null("always-on")?;
    f.end_node(timer)?;

    let intc = f.begin_node(&format!("intc@{:x}", gic.distributor))?;
    f.property_string("compatible", "arm,cortex-a15-gic")?;
    f.property_u32("#interrupt-cells", 3)?;
    f.property_null("interrupt-controller")?;
    f.property_array_u64(
        "reg",
        &[gic.distributor, 0x1_0000, gic.cpu_interface, 0x1_0000],
    )?;
    f.property_phandle(PHANDLE_GIC)?;
    f.end_node(intc)?;

    let clk = f.begin_node("apb-pclk")?;
    f.property_string("compatible", "fixed-clock")?;
    f.property_u32("#clock-cells", 0)?;
    f.property_u32("clock-frequency", 24_000_000)?;
    f.property_string("clock-output-names", "clk24mhz")?;
    f.property_phandle(PHANDLE_CLK)?;
    f.end_node(clk)?;

    let mut stdout = None;
    for d in &board.devices {
        let spi = match d.irqs.first() {
            Some(crate::board::IrqTarget::Irq(n)) => Some(*n),
            _ => None,
        };
        let irq = |f: &mut FdtWriter| -> Result<(), vm_fdt::Error> {
            if let Some(n) = spi {
                f.property_array_u32("interrupts", &[GIC_SPI, n, IRQ_LEVEL_HIGH])?;
            }
            Ok(())
        };
        match d.kind.as_str() {
            "pl011" => {
                let name = format!("pl011@{:x}", d.base);
                let node = f.begin_node(&name)?;
                f.property_string_list(
                    "compatible",
                    vec!["arm,pl011".into(), "arm,primecell".into()],
                )?;
                f.property_array_u64("reg", &[d.base, d.size])?;
                irq(&mut f)?;
                f.property_array_u32("clocks", &[PHANDLE_CLK, PHANDLE_CLK])?;
                f.property_string_list("clock-names", vec!["uartclk".into(), "apb_pclk".into()])?;
                f.end_node(node)?;
                stdout.get_or_insert(format!("/{name}"));
            }
            "pl031" => {
                let node = f.begin_node(&format!("pl031@{:x}", d.base))?;
                f.property_string_list(
                    "compatible",
                    vec!["arm,pl031".into(), "arm,primecell".into()],
                )?;
                f.property_array_u64("reg", &[d.base, d.size])?;
                irq(&mut f)?;
                f.property_u32("clocks", PHANDLE_CLK)?;
                f.property_string("clock-names", "apb_pclk")?;
                f.end_node(node)?;
            }
            k if k.starts_with("virtio-") => {
                let node = f.begin_node(&format!("virtio_mmio@{:x}", d.base))?;
                f.property_string("compatible", "virtio,mmio")?;
                f.property_array_u64("reg", &[d.base, d.size])?;
                irq(&mut f)?;
                f.property_null("dma-coherent")?;
                f.end_node(node)?;
            }
            "simple-framebuffer" => {
                let p = |k: &str, default: i64| {
                    d.params
                        .get(k)
                        .and_then(|v| v.as_integer())
                        .unwrap_or(default) as u64
                };
                let (addr, w, h) = (p("address", 0), p("width", 640), p("height", 480));
                let node = f.begin_node(&format!("framebuffer@{addr:x}"))?;
                f.property_string("compatible", "simple-framebuffer")?;
                f.property_array_u64("reg", &[addr, w * h * 4])?;
                f.property_u32("width", w as u32)?;
                f.property_u32("height", h as u32)?;
                f.property_u32("stride", (w * 4) as u32)?;
                f.property_string("format", "a8r8g8b8")?;
                f.end_node(node)?;
            }
            _ => {}
        }
    }

    let chosen = f.begin_node("chosen")?;
    f.property_string("bootargs", bootargs)?;
    if let Some(path) = &stdout {
        f.property_string("stdout-path", path)?;
    }
    if let Some((start, end)) = initrd {
        f.property_u64("linux,initrd-start", start)?;
        f.property_u64("linux,initrd-end", end)?;
    }
    f.end_node(chosen)?;
    f.end_node(root)?;
    f.finish()
}
