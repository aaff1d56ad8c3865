//! The baseline for `scripts/bench.sh`: the same Unicorn engine Ensemble
//! uses, with none of its machinery. MPS2 AN385 RAM as plain memory, a
//! UART0 whose DATA writes go to stdout, an SCS page that reads zero, and
//! one `emu_start` with no hooks that runs until the guest executes WFI.
//!
//! usage: bare-unicorn IMAGE.elf [GUARD_SECONDS]

use std::cell::RefCell;
use std::ffi::c_void;
use std::io::Write;
use std::process::exit;
use std::rc::Rc;
use std::time::Duration;

use unicorn_engine::{Arch, ArmCpuModel, Mode, Prot, RegisterARM, Unicorn};

/// (base, size, aliases): QEMU's mps2-an385 RAM.
const RAM: [(u64, u64, &[u64]); 4] = [
    (0x0000_0000, 0x40_0000, &[0x0040_0000]),
    (0x0100_0000, 0x4000, &[]),
    (0x2000_0000, 0x40_0000, &[0x2040_0000]),
    (0x2100_0000, 0x100_0000, &[]),
];
const UART0: u64 = 0x4000_4000;
const SCS: u64 = 0xe000_e000;

fn fail(msg: String) -> ! {
    eprintln!("bare-unicorn: {msg}");
    exit(1)
}

/// PT_LOAD segments of a 32-bit little-endian ELF: (physical address, bytes).
fn elf_segments(data: &[u8]) -> Result<Vec<(u64, &[u8])>, String> {
    let u16_at = |o: usize| {
        data.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        data.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    if !data.starts_with(b"\x7fELF\x01\x01") {
        return Err("not a 32-bit little-endian ELF".into());
    }
    let bad = || "truncated ELF".to_string();
    let (phoff, phentsize, phnum) = (
        u32_at(0x1c).ok_or_else(bad)?,
        u16_at(0x2a).ok_or_else(bad)?,
        u16_at(0x2c).ok_or_else(bad)?,
    );
    let mut segs = Vec::new();
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(ph).ok_or_else(bad)? != 1 {
            continue; // not PT_LOAD
        }
        let (off, paddr, filesz) = (
            u32_at(ph + 4).ok_or_else(bad)?,
            u32_at(ph + 12).ok_or_else(bad)?,
            u32_at(ph + 16).ok_or_else(bad)?,
        );
        if filesz > 0 {
            segs.push((paddr as u64, data.get(off..off + filesz).ok_or_else(bad)?));
        }
    }
    Ok(segs)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        fail("usage: bare-unicorn IMAGE.elf [GUARD_SECONDS]".into())
    };
    let guard: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(300);
    let data = std::fs::read(path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    let segs = elf_segments(&data).unwrap_or_else(|e| fail(format!("{path}: {e}")));

    // Wall-clock guard from outside the engine, so the run has no hooks.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(guard));
        let _ = std::io::stdout().flush();
        eprintln!("bare-unicorn: wall-clock guard of {guard}s reached");
        exit(124);
    });

    let ok = |r: Result<(), unicorn_engine::uc_error>, what: &str| {
        r.unwrap_or_else(|e| fail(format!("{what}: {e:?}")))
    };
    let mut uc = Unicorn::new(Arch::ARM, Mode::THUMB | Mode::LITTLE_ENDIAN)
        .unwrap_or_else(|e| fail(format!("open: {e:?}")));
    // As Ensemble does: the true core model, not Mode::MCLASS (an M33).
    ok(
        uc.ctl_set_cpu_model(ArmCpuModel::CORTEX_M3 as i32),
        "cpu model",
    );
    for (base, size, aliases) in RAM {
        let buf: &'static mut [u8] = Box::leak(vec![0u8; size as usize].into_boxed_slice());
        for at in std::iter::once(base).chain(aliases.iter().copied()) {
            // SAFETY: the buffer is leaked, so it outlives the engine.
            ok(
                unsafe { uc.mem_map_ptr(at, size, Prot::ALL, buf.as_mut_ptr() as *mut c_void) },
                "map RAM",
            );
        }
    }
    // UART0: DATA writes to stdout, STATE reads 0 (never full), the rest
    // are plain registers.
    let regs = Rc::new(RefCell::new([0u64; 0x400]));
    let regs_w = regs.clone();
    ok(
        uc.mmio_map(
            UART0,
            0x1000,
            Some(move |_: &mut Unicorn<'_, ()>, off: u64, _: usize| {
                if off == 4 {
                    0
                } else {
                    regs.borrow()[(off / 4) as usize]
                }
            }),
            Some(move |_: &mut Unicorn<'_, ()>, off: u64, _: usize, v: u64| {
                if off == 0 {
                    let _ = std::io::stdout().write_all(&[v as u8]);
                }
                regs_w.borrow_mut()[(off / 4) as usize] = v;
            }),
        ),
        "map UART0",
    );
    ok(
        uc.mmio_map(
            SCS,
            0x1000,
            Some(|_: &mut Unicorn<'_, ()>, _: u64, _: usize| 0),
            Some(|_: &mut Unicorn<'_, ()>, _: u64, _: usize, _: u64| {}),
        ),
        "map SCS",
    );
    for (addr, bytes) in segs {
        ok(
            uc.mem_write(addr, bytes),
            &format!("load segment at 0x{addr:08x}"),
        );
    }
    let mut vt = [0u8; 8];
    ok(uc.mem_read(0, &mut vt), "read vector table");
    let sp = u32::from_le_bytes(vt[0..4].try_into().unwrap());
    let pc = u32::from_le_bytes(vt[4..8].try_into().unwrap());
    ok(uc.reg_write(RegisterARM::SP, (sp & !3) as u64), "set SP");
    let result = uc.emu_start(pc as u64 | 1, 0xffff_ffff, 0, 0);
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => {} // the guest executed WFI
        Err(e) => fail(format!(
            "engine stopped at pc=0x{:08x}: {e:?}",
            uc.reg_read(RegisterARM::PC).unwrap_or(0)
        )),
    }
}
