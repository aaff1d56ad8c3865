//! Ensemble display controller "DSP1": a panel that scans out a framebuffer
//! held in guest memory (no real chip; Ensemble's own design).
//!
//! The guest-facing documentation is `images/include/display.h`; this
//! comment is the model's summary.
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x00 | ID | RO | 0x4453_5031 ("DSP1") |
//! | 0x04 | CTRL | RW | b0 ENABLE, b1 VSYNC_IE, b2 MANUAL; reset 0 |
//! | 0x08 | STATUS | W1C/RO | b0 VSYNC (W1C), b1 PENDING (RO), b2 BUS_ERROR (W1C); reset 0 |
//! | 0x0C | FB_BASE | RW | framebuffer address; reset 0 |
//! | 0x10 | WIDTH | RW | 1..PANEL_WIDTH, clamped; reset PANEL_WIDTH |
//! | 0x14 | HEIGHT | RW | 1..PANEL_HEIGHT, clamped; reset PANEL_HEIGHT |
//! | 0x18 | STRIDE | RW | bytes from one line to the next; reset PANEL_WIDTH * 2 |
//! | 0x1C | FORMAT | RW | b0: 0 RGB565, 1 XRGB8888 (other bits read 0); reset 0 |
//! | 0x20 | VSYNC_HZ | RW | 1..240, clamped; reset 60 |
//! | 0x24 | BACKLIGHT | RW | 0..255, clamped; reset 255 |
//! | 0x28 | FRAME_READY | WO | write b0 = 1: show the framebuffer at the next vsync; reads 0 |
//! | 0x2C | FRAME_COUNT | RO | frames shown (new or repeated) since ENABLE was set |
//! | 0x30 | PANEL_WIDTH | RO | pixels, fixed by the board |
//! | 0x34 | PANEL_HEIGHT | RO | pixels, fixed by the board |
//! | 0x38 | VSYNC_COUNT | RO | vsyncs since reset |
//!
//! Registers are 32-bit: a read of any size returns the bytes it covers; a
//! write must be at the register's own offset, and a narrow write is
//! zero-extended as on the CMSDK peripherals. Writes elsewhere are ignored,
//! unassigned offsets read 0.
//!
//! Interrupt line 0 = STATUS.VSYNC && CTRL.VSYNC_IE.
//!
//! # Timing (virtual time)
//!
//! Setting ENABLE at tick `T` starts the vsyncs: vsync `n` (n = 1, 2, ...)
//! falls at `T + n * clock_hz / VSYNC_HZ` ticks, rounded down, so the
//! period never drifts however the rate divides the clock. Changing
//! VSYNC_HZ while enabled restarts the count from the time of the write.
//! Each vsync sets STATUS.VSYNC and counts in FRAME_COUNT and VSYNC_COUNT.
//! Counting needs no memory and is done whenever the device learns the
//! time (a register access, [`Device::advance`]), in closed form, so a
//! device told the time late still counts every vsync it missed.
//!
//! # Scan-out
//!
//! At a vsync the controller latches what to show (FB_BASE, WIDTH, HEIGHT,
//! STRIDE, FORMAT, BACKLIGHT); [`Device::dma`] then reads the framebuffer
//! (one read per line) and queues a [`VideoFrame`] for
//! [`Device::take_video`]:
//!
//! - CTRL.MANUAL = 0: every vsync shows the framebuffer;
//! - CTRL.MANUAL = 1: a vsync shows the framebuffer only when STATUS.PENDING
//!   is set (FRAME_READY written since the last new frame), and clears it;
//!   other vsyncs repeat the last picture (black when none was shown since
//!   ENABLE was set).
//!
//! Pixels become 0x00RRGGBB: RGB565 expands each channel by bit
//! replication (`r8 = r5 << 3 | r5 >> 2`, `g8 = g6 << 2 | g6 >> 4`),
//! XRGB8888 drops bits 31:24. Each channel is then scaled by
//! BACKLIGHT / 255, rounded to nearest; a repeated picture is scaled by
//! the backlight of the vsync that repeats it. A framebuffer line that is
//! not wholly in memory makes the whole frame black and sets
//! STATUS.BUS_ERROR.
//!
//! When vsyncs were missed (the device was told the time late), one frame
//! is queued for the latest of them; [`VideoFrame::seq`] counts every frame
//! shown, so the gap shows how many were not delivered. A disabled display
//! has no vsyncs and queues nothing. At most [`MAX_QUEUED_FRAMES`] frames
//! wait in the queue; older ones are dropped.

use std::collections::VecDeque;

use crate::{extract_read, zero_extend, Device, Dma, Ticks, VideoFrame};

pub const ID: u64 = 0x00;
pub const CTRL: u64 = 0x04;
pub const STATUS: u64 = 0x08;
pub const FB_BASE: u64 = 0x0c;
pub const WIDTH: u64 = 0x10;
pub const HEIGHT: u64 = 0x14;
pub const STRIDE: u64 = 0x18;
pub const FORMAT: u64 = 0x1c;
pub const VSYNC_HZ: u64 = 0x20;
pub const BACKLIGHT: u64 = 0x24;
pub const FRAME_READY: u64 = 0x28;
pub const FRAME_COUNT: u64 = 0x2c;
pub const PANEL_WIDTH: u64 = 0x30;
pub const PANEL_HEIGHT: u64 = 0x34;
pub const VSYNC_COUNT: u64 = 0x38;

pub const ID_VALUE: u32 = 0x4453_5031;

pub const CTRL_ENABLE: u32 = 1 << 0;
pub const CTRL_VSYNC_IE: u32 = 1 << 1;
pub const CTRL_MANUAL: u32 = 1 << 2;
const CTRL_ALL: u32 = CTRL_ENABLE | CTRL_VSYNC_IE | CTRL_MANUAL;

pub const STATUS_VSYNC: u32 = 1 << 0;
pub const STATUS_PENDING: u32 = 1 << 1;
pub const STATUS_BUS_ERROR: u32 = 1 << 2;
/// The STATUS bits a write of 1 clears.
const STATUS_W1C: u32 = STATUS_VSYNC | STATUS_BUS_ERROR;

pub const FMT_RGB565: u32 = 0;
pub const FMT_XRGB8888: u32 = 1;

pub const VSYNC_HZ_MIN: u32 = 1;
pub const VSYNC_HZ_MAX: u32 = 240;
pub const VSYNC_HZ_RESET: u32 = 60;
pub const BACKLIGHT_MAX: u32 = 255;

/// Frames kept for [`Device::take_video`] before the oldest are dropped.
pub const MAX_QUEUED_FRAMES: usize = 16;

/// An RGB565 pixel as 0x00RRGGBB, each channel widened by bit replication
/// (so 0x1F becomes 0xFF and 0 stays 0).
pub fn rgb565_to_xrgb(v: u16) -> u32 {
    let v = v as u32;
    let r5 = v >> 11;
    let g6 = (v >> 5) & 0x3f;
    let b5 = v & 0x1f;
    let r = (r5 << 3) | (r5 >> 2);
    let g = (g6 << 2) | (g6 >> 4);
    let b = (b5 << 3) | (b5 >> 2);
    (r << 16) | (g << 8) | b
}

/// A 0x00RRGGBB pixel as seen through a backlight at `level` (0..=255):
/// each channel times level / 255, rounded to nearest.
pub fn apply_backlight(xrgb: u32, level: u32) -> u32 {
    let level = level.min(BACKLIGHT_MAX);
    let scale = |c: u32| (c * level + BACKLIGHT_MAX / 2) / BACKLIGHT_MAX;
    (scale((xrgb >> 16) & 0xff) << 16) | (scale((xrgb >> 8) & 0xff) << 8) | scale(xrgb & 0xff)
}

/// Where and how a frame is read, as latched at a vsync.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug)]
struct Layout {
    fb_base: u32,
    width: u32,
    height: u32,
    stride: u32,
    format: u32,
}

/// A vsync (the latest of a batch) whose memory side [`Device::dma`] has
/// not done yet.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug)]
struct Scan {
    time: Ticks,
    seq: u64,
    /// A new frame to read; `None` repeats the last picture.
    fetch: Option<Layout>,
    /// Size of the black picture shown when there is nothing to repeat.
    size: (u32, u32),
    backlight: u32,
}

/// A picture as read from the framebuffer, before the backlight.
#[derive(serde::Serialize, serde::Deserialize)]
struct Picture {
    width: u32,
    height: u32,
    pixels: Vec<u32>,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Display {
    clock_hz: u64,
    panel_width: u32,
    panel_height: u32,
    ctrl: u32,
    /// STATUS.VSYNC and STATUS.BUS_ERROR.
    status: u32,
    /// STATUS.PENDING: FRAME_READY written, not yet shown.
    pending: bool,
    fb_base: u32,
    width: u32,
    height: u32,
    stride: u32,
    format: u32,
    vsync_hz: u32,
    backlight: u32,
    frame_count: u32,
    vsync_count: u32,
    /// Vsync `n` falls at `base + n * clock_hz / vsync_hz`.
    base: Ticks,
    /// Vsyncs since `base` already counted.
    done: u64,
    /// Frames shown over the display's life (the next frame's seq).
    shown: u64,
    scan: Option<Scan>,
    /// The last picture shown since ENABLE was set.
    last: Option<Picture>,
    video: VecDeque<VideoFrame>,
    /// Latest time seen, so that time never runs backwards inside the model.
    now: Ticks,
    /// Firmware-set scan-out (a `simple-framebuffer`): the framebuffer
    /// address the display shows from power-on, XRGB8888, no registers
    /// needed.
    preset: Option<u32>,
}

impl Display {
    /// A display on a machine clocked at `clock_hz`, with a panel of
    /// `panel_width` x `panel_height` pixels (at least 1 each).
    pub fn new(clock_hz: u64, panel_width: u32, panel_height: u32) -> Self {
        let panel_width = panel_width.max(1);
        let panel_height = panel_height.max(1);
        Display {
            clock_hz: clock_hz.max(1),
            panel_width,
            panel_height,
            ctrl: 0,
            status: 0,
            pending: false,
            fb_base: 0,
            width: panel_width,
            height: panel_height,
            stride: panel_width.saturating_mul(2),
            format: FMT_RGB565,
            vsync_hz: VSYNC_HZ_RESET,
            backlight: BACKLIGHT_MAX,
            frame_count: 0,
            vsync_count: 0,
            base: 0,
            done: 0,
            shown: 0,
            scan: None,
            last: None,
            video: VecDeque::new(),
            now: 0,
            preset: None,
        }
    }

    /// A display already scanning out XRGB8888 from `address` at 30 Hz, as
    /// firmware leaves a `simple-framebuffer` for the OS (the registers
    /// still work; reset returns to this state).
    pub fn scanning_out(clock_hz: u64, width: u32, height: u32, address: u64) -> Self {
        let mut d = Display::new(clock_hz, width, height);
        d.preset = Some(address as u32);
        d.apply_preset();
        d
    }

    fn apply_preset(&mut self) {
        if let Some(addr) = self.preset {
            self.fb_base = addr;
            self.format = FMT_XRGB8888;
            self.stride = self.panel_width.saturating_mul(4);
            self.vsync_hz = 30;
            self.ctrl = CTRL_ENABLE;
            self.base = self.now;
        }
    }

    fn enabled(&self) -> bool {
        self.ctrl & CTRL_ENABLE != 0
    }

    /// Time of vsync `n` of the current schedule.
    fn vsync_time(&self, n: u64) -> Ticks {
        self.base + (n as u128 * self.clock_hz as u128 / self.vsync_hz as u128) as Ticks
    }

    /// The number of the last vsync at or before `now` (0 if none).
    fn last_vsync_by(&self, now: Ticks) -> u64 {
        // floor(n * clock / hz) <= d  <=>  n <= ((d + 1) * hz - 1) / clock
        let d = now.saturating_sub(self.base) as u128;
        (((d + 1) * self.vsync_hz as u128 - 1) / self.clock_hz as u128) as u64
    }

    fn layout(&self) -> Layout {
        Layout {
            fb_base: self.fb_base,
            width: self.width,
            height: self.height,
            stride: self.stride,
            format: self.format,
        }
    }

    /// Count every vsync due by `now`.
    fn sync(&mut self, now: Ticks) -> Ticks {
        self.now = self.now.max(now);
        let now = self.now;
        if !self.enabled() || now < self.base {
            return now;
        }
        let last = self.last_vsync_by(now);
        if last <= self.done {
            return now;
        }
        let k = last - self.done;
        self.done = last;
        self.vsync_count = self.vsync_count.wrapping_add(k as u32);
        self.frame_count = self.frame_count.wrapping_add(k as u32);
        self.shown += k;
        self.status |= STATUS_VSYNC;
        // No register changed during the batch, so its first vsync takes
        // the new frame if any and the others repeat it.
        let new = if self.ctrl & CTRL_MANUAL == 0 || self.pending {
            self.pending = false;
            Some(self.layout())
        } else {
            None
        };
        let earlier = self.scan.and_then(|s| s.fetch);
        self.scan = Some(Scan {
            time: self.vsync_time(last),
            seq: self.shown - 1,
            fetch: new.or(earlier),
            size: (self.width, self.height),
            backlight: self.backlight,
        });
        now
    }

    /// Read a frame from memory; black and BUS_ERROR if any line is not
    /// wholly in memory.
    fn fetch(&mut self, mem: &mut dyn Dma, l: Layout) -> Picture {
        let (w, h) = (l.width as usize, l.height as usize);
        let bpp = if l.format == FMT_XRGB8888 { 4 } else { 2 };
        let mut line = vec![0u8; w * bpp];
        let mut pixels = Vec::with_capacity(w * h);
        for y in 0..h as u64 {
            let addr = l.fb_base as u64 + y * l.stride as u64;
            if !mem.read(addr, &mut line) {
                self.status |= STATUS_BUS_ERROR;
                pixels.clear();
                pixels.resize(w * h, 0);
                break;
            }
            if bpp == 4 {
                pixels.extend(
                    line.chunks_exact(4)
                        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0])),
                );
            } else {
                pixels.extend(
                    line.chunks_exact(2)
                        .map(|p| rgb565_to_xrgb(u16::from_le_bytes([p[0], p[1]]))),
                );
            }
        }
        Picture {
            width: l.width,
            height: l.height,
            pixels,
        }
    }

    fn status(&self) -> u32 {
        self.status | if self.pending { STATUS_PENDING } else { 0 }
    }

    fn register(&self, offset: u64) -> u32 {
        match offset {
            ID => ID_VALUE,
            CTRL => self.ctrl,
            STATUS => self.status(),
            FB_BASE => self.fb_base,
            WIDTH => self.width,
            HEIGHT => self.height,
            STRIDE => self.stride,
            FORMAT => self.format,
            VSYNC_HZ => self.vsync_hz,
            BACKLIGHT => self.backlight,
            FRAME_COUNT => self.frame_count,
            PANEL_WIDTH => self.panel_width,
            PANEL_HEIGHT => self.panel_height,
            VSYNC_COUNT => self.vsync_count,
            _ => 0,
        }
    }
}

impl Device for Display {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "display"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        self.sync(now);
        extract_read(self.register(offset & !3), offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        let now = self.sync(now);
        let v = zero_extend(value, size);
        match offset {
            CTRL => {
                let was_enabled = self.enabled();
                self.ctrl = v & CTRL_ALL;
                if !was_enabled && self.enabled() {
                    self.base = now;
                    self.done = 0;
                    self.frame_count = 0;
                    self.last = None;
                }
            }
            STATUS => self.status &= !(v & STATUS_W1C),
            FB_BASE => self.fb_base = v,
            WIDTH => self.width = v.clamp(1, self.panel_width),
            HEIGHT => self.height = v.clamp(1, self.panel_height),
            STRIDE => self.stride = v,
            FORMAT => self.format = v & 1,
            VSYNC_HZ => {
                let hz = v.clamp(VSYNC_HZ_MIN, VSYNC_HZ_MAX);
                if hz != self.vsync_hz {
                    self.vsync_hz = hz;
                    self.base = now;
                    self.done = 0;
                }
            }
            BACKLIGHT => self.backlight = v.min(BACKLIGHT_MAX),
            FRAME_READY if v & 1 != 0 => self.pending = true,
            _ => {}
        }
    }

    /// Takes effect at the latest time the device has seen. Frames already
    /// queued stay queued, and [`VideoFrame::seq`] keeps counting.
    fn reset(&mut self) {
        let video = std::mem::take(&mut self.video);
        let (shown, now, preset) = (self.shown, self.now, self.preset);
        *self = Display::new(self.clock_hz, self.panel_width, self.panel_height);
        self.video = video;
        self.shown = shown;
        self.now = now;
        self.preset = preset;
        self.apply_preset();
    }

    fn next_deadline(&self) -> Option<Ticks> {
        self.enabled().then(|| self.vsync_time(self.done + 1))
    }

    fn advance(&mut self, now: Ticks) {
        self.sync(now);
    }

    fn irq_lines(&self) -> u32 {
        (self.status & STATUS_VSYNC != 0 && self.ctrl & CTRL_VSYNC_IE != 0) as u32
    }

    fn dma(&mut self, mem: &mut dyn Dma, now: Ticks) {
        self.sync(now);
        let Some(scan) = self.scan.take() else {
            return;
        };
        if let Some(layout) = scan.fetch {
            let picture = self.fetch(mem, layout);
            self.last = Some(picture);
        }
        let frame = match &self.last {
            Some(p) => VideoFrame {
                time: scan.time,
                seq: scan.seq,
                width: p.width,
                height: p.height,
                pixels: p
                    .pixels
                    .iter()
                    .map(|&px| apply_backlight(px, scan.backlight))
                    .collect(),
            },
            None => VideoFrame {
                time: scan.time,
                seq: scan.seq,
                width: scan.size.0,
                height: scan.size.1,
                pixels: vec![0; scan.size.0 as usize * scan.size.1 as usize],
            },
        };
        if self.video.len() >= MAX_QUEUED_FRAMES {
            self.video.pop_front();
        }
        self.video.push_back(frame);
    }

    fn take_video(&mut self) -> Vec<VideoFrame> {
        self.video.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOCK: u64 = 25_000_000;
    const RAM_BASE: u64 = 0x2000_0000;
    const RAM_SIZE: usize = 0x1_0000;

    /// Guest memory: one RAM region at `RAM_BASE`; counts reads.
    struct Ram {
        bytes: Vec<u8>,
        reads: usize,
    }

    impl Ram {
        fn new() -> Self {
            Ram {
                bytes: vec![0; RAM_SIZE],
                reads: 0,
            }
        }

        fn range(&self, addr: u64, len: usize) -> Option<std::ops::Range<usize>> {
            let start = addr.checked_sub(RAM_BASE)? as usize;
            let end = start.checked_add(len)?;
            (end <= self.bytes.len()).then_some(start..end)
        }

        fn put16(&mut self, addr: u64, v: u16) {
            let r = self.range(addr, 2).unwrap();
            self.bytes[r].copy_from_slice(&v.to_le_bytes());
        }

        fn put32(&mut self, addr: u64, v: u32) {
            let r = self.range(addr, 4).unwrap();
            self.bytes[r].copy_from_slice(&v.to_le_bytes());
        }
    }

    impl Dma for Ram {
        fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
            self.reads += 1;
            match self.range(addr, buf.len()) {
                Some(r) => {
                    buf.copy_from_slice(&self.bytes[r]);
                    true
                }
                None => false,
            }
        }

        fn write(&mut self, addr: u64, data: &[u8]) -> bool {
            match self.range(addr, data.len()) {
                Some(r) => {
                    self.bytes[r].copy_from_slice(data);
                    true
                }
                None => false,
            }
        }
    }

    fn rd(d: &mut Display, offset: u64, now: Ticks) -> u32 {
        d.read(offset, 4, now)
    }

    fn wr(d: &mut Display, offset: u64, value: u32, now: Ticks) {
        d.write(offset, 4, value, now)
    }

    /// Run the device the way a machine does: wake at every deadline up to
    /// `t`, with the memory side after each advance.
    fn run_to(d: &mut Display, mem: &mut Ram, t: Ticks) {
        while let Some(when) = d.next_deadline() {
            if when > t {
                break;
            }
            d.advance(when);
            d.dma(mem, when);
        }
        d.advance(t);
        d.dma(mem, t);
    }

    /// A 4x3 panel at 60 Hz showing the RAM base.
    fn small() -> Display {
        let mut d = Display::new(CLOCK, 4, 3);
        wr(&mut d, FB_BASE, RAM_BASE as u32, 0);
        d
    }

    #[test]
    fn reset_values() {
        let mut d = Display::new(CLOCK, 320, 240);
        let expect = [
            (ID, ID_VALUE),
            (CTRL, 0),
            (STATUS, 0),
            (FB_BASE, 0),
            (WIDTH, 320),
            (HEIGHT, 240),
            (STRIDE, 640),
            (FORMAT, FMT_RGB565),
            (VSYNC_HZ, 60),
            (BACKLIGHT, 255),
            (FRAME_READY, 0),
            (FRAME_COUNT, 0),
            (PANEL_WIDTH, 320),
            (PANEL_HEIGHT, 240),
            (VSYNC_COUNT, 0),
            (0x3c, 0),
            (0xffc, 0),
        ];
        for (off, v) in expect {
            assert_eq!(rd(&mut d, off, 0), v, "offset {off:#x}");
        }
        assert_eq!(d.next_deadline(), None);
        assert_eq!(d.irq_lines(), 0);
        assert_eq!(d.kind(), "display");
        // "DSP1" byte by byte, little-endian.
        assert_eq!(d.read(ID, 1, 0), 0x31);
        assert_eq!(d.read(ID + 3, 1, 0), 0x44);
        assert_eq!(d.read(ID + 2, 2, 0), 0x4453);
        assert_eq!(d.read(PANEL_WIDTH, 2, 0), 320);
    }

    #[test]
    fn registers_clamp_and_read_only_ones_ignore_writes() {
        let mut d = Display::new(CLOCK, 320, 240);
        wr(&mut d, WIDTH, 0, 0);
        assert_eq!(rd(&mut d, WIDTH, 0), 1);
        wr(&mut d, WIDTH, 1000, 0);
        assert_eq!(rd(&mut d, WIDTH, 0), 320);
        wr(&mut d, HEIGHT, 0, 0);
        assert_eq!(rd(&mut d, HEIGHT, 0), 1);
        wr(&mut d, HEIGHT, 241, 0);
        assert_eq!(rd(&mut d, HEIGHT, 0), 240);
        wr(&mut d, VSYNC_HZ, 0, 0);
        assert_eq!(rd(&mut d, VSYNC_HZ, 0), 1);
        wr(&mut d, VSYNC_HZ, 1000, 0);
        assert_eq!(rd(&mut d, VSYNC_HZ, 0), 240);
        wr(&mut d, BACKLIGHT, 256, 0);
        assert_eq!(rd(&mut d, BACKLIGHT, 0), 255);
        wr(&mut d, BACKLIGHT, 7, 0);
        assert_eq!(rd(&mut d, BACKLIGHT, 0), 7);
        wr(&mut d, FORMAT, 3, 0);
        assert_eq!(rd(&mut d, FORMAT, 0), FMT_XRGB8888);
        wr(&mut d, FORMAT, 2, 0);
        assert_eq!(rd(&mut d, FORMAT, 0), FMT_RGB565);
        wr(&mut d, STRIDE, 0x1234_5678, 0);
        assert_eq!(rd(&mut d, STRIDE, 0), 0x1234_5678);
        wr(&mut d, FB_BASE, 0x2000_0100, 0);
        assert_eq!(rd(&mut d, FB_BASE, 0), 0x2000_0100);
        wr(&mut d, CTRL, 0xff, 0);
        assert_eq!(rd(&mut d, CTRL, 0), CTRL_ALL);
        for off in [ID, FRAME_COUNT, PANEL_WIDTH, PANEL_HEIGHT, VSYNC_COUNT] {
            let before = rd(&mut d, off, 0);
            wr(&mut d, off, 0x55, 0);
            assert_eq!(rd(&mut d, off, 0), before, "offset {off:#x}");
        }
        // Narrow writes are zero-extended; writes off a register's own
        // offset are ignored.
        d.write(STRIDE, 2, 0xabcd_0100, 0);
        assert_eq!(rd(&mut d, STRIDE, 0), 0x100);
        d.write(STRIDE + 1, 1, 0xff, 0);
        assert_eq!(rd(&mut d, STRIDE, 0), 0x100);
        assert_eq!(d.read(STRIDE + 1, 1, 0), 1);
        // Reset restores everything.
        d.reset();
        assert_eq!(rd(&mut d, CTRL, 0), 0);
        assert_eq!(rd(&mut d, STRIDE, 0), 640);
        assert_eq!(rd(&mut d, FORMAT, 0), 0);
        assert_eq!(rd(&mut d, BACKLIGHT, 0), 255);
    }

    #[test]
    fn vsyncs_fall_exactly_on_the_tick() {
        let mut d = small();
        let mut mem = Ram::new();
        let t0 = 1234;
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_VSYNC_IE, t0);
        // 25 MHz / 60 Hz = 416666.67 ticks: vsync n at t0 + n * 25e6 / 60.
        for n in 1..=300u64 {
            let t = t0 + n * CLOCK / 60;
            assert_eq!(d.next_deadline(), Some(t), "vsync {n}");
            run_to(&mut d, &mut mem, t - 1);
            assert_eq!(d.irq_lines(), 0, "vsync {n} early");
            run_to(&mut d, &mut mem, t);
            assert_eq!(d.irq_lines(), 1, "vsync {n}");
            assert_eq!(rd(&mut d, STATUS, t) & STATUS_VSYNC, STATUS_VSYNC);
            wr(&mut d, STATUS, STATUS_VSYNC, t);
            assert_eq!(d.irq_lines(), 0);
            let frames = d.take_video();
            assert_eq!(frames.len(), 1);
            assert_eq!((frames[0].time, frames[0].seq), (t, n - 1));
        }
        // No drift: 300 vsyncs at 60 Hz are exactly 5 s.
        assert_eq!(rd(&mut d, VSYNC_COUNT, t0 + 5 * CLOCK), 300);
        assert_eq!(rd(&mut d, FRAME_COUNT, t0 + 5 * CLOCK), 300);
    }

    #[test]
    fn vsync_ie_gates_the_line_not_the_flag() {
        let mut d = small();
        let mut mem = Ram::new();
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        let t = CLOCK / 60;
        run_to(&mut d, &mut mem, t);
        assert_eq!(rd(&mut d, STATUS, t), STATUS_VSYNC);
        assert_eq!(d.irq_lines(), 0);
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_VSYNC_IE, t);
        assert_eq!(d.irq_lines(), 1);
        // Writing 0 changes nothing; writing 1 clears.
        wr(&mut d, STATUS, 0, t);
        assert_eq!(d.irq_lines(), 1);
        d.write(STATUS, 1, STATUS_VSYNC, t);
        assert_eq!(d.irq_lines(), 0);
        assert_eq!(rd(&mut d, STATUS, t), 0);
    }

    #[test]
    fn vsync_rate_and_restart() {
        let mut d = small();
        let mut mem = Ram::new();
        wr(&mut d, VSYNC_HZ, 30, 0);
        wr(&mut d, CTRL, CTRL_ENABLE, 100);
        assert_eq!(d.next_deadline(), Some(100 + CLOCK / 30));
        run_to(&mut d, &mut mem, 100 + CLOCK / 30);
        // Writing the same rate changes nothing...
        wr(&mut d, VSYNC_HZ, 30, 200_000 + CLOCK / 30);
        assert_eq!(d.next_deadline(), Some(100 + 2 * CLOCK / 30));
        // ...a new rate restarts the period at the write.
        let t = 300_000 + CLOCK / 30;
        wr(&mut d, VSYNC_HZ, 240, t);
        assert_eq!(d.next_deadline(), Some(t + CLOCK / 240));
        // Disable stops the vsyncs; enable restarts them from its time.
        wr(&mut d, CTRL, 0, t + 10);
        assert_eq!(d.next_deadline(), None);
        run_to(&mut d, &mut mem, t + CLOCK);
        assert_eq!(rd(&mut d, VSYNC_COUNT, t + CLOCK), 1);
        assert!(d.take_video().len() == 1);
        wr(&mut d, CTRL, CTRL_ENABLE, t + CLOCK);
        assert_eq!(rd(&mut d, FRAME_COUNT, t + CLOCK), 0);
        assert_eq!(d.next_deadline(), Some(t + CLOCK + CLOCK / 240));
        // Enabling again while enabled does not restart.
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_VSYNC_IE, t + CLOCK + 5);
        assert_eq!(d.next_deadline(), Some(t + CLOCK + CLOCK / 240));
    }

    #[test]
    fn odd_clock_rates_do_not_drift() {
        // 1000 ticks/s at 60 Hz: 16.67 ticks per vsync, floored per vsync.
        let mut d = Display::new(1000, 2, 2);
        let mut mem = Ram::new();
        wr(&mut d, FB_BASE, RAM_BASE as u32, 0);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        let mut times = Vec::new();
        while let Some(t) = d.next_deadline() {
            if t > 1000 {
                break;
            }
            run_to(&mut d, &mut mem, t);
            times.extend(d.take_video().iter().map(|f| f.time));
        }
        assert_eq!(times.len(), 60);
        assert_eq!(&times[..4], &[16, 33, 50, 66]);
        assert_eq!(times[59], 1000);
    }

    #[test]
    fn late_service_counts_every_missed_vsync() {
        let mut d = small();
        let mut mem = Ram::new();
        mem.put16(RAM_BASE, 0xffff);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        // Told the time only after 10.5 vsync periods.
        let late = 10 * CLOCK / 60 + CLOCK / 120;
        d.advance(late);
        d.dma(&mut mem, late);
        assert_eq!(rd(&mut d, VSYNC_COUNT, late), 10);
        assert_eq!(rd(&mut d, FRAME_COUNT, late), 10);
        let frames = d.take_video();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].time, 10 * CLOCK / 60);
        assert_eq!(frames[0].seq, 9);
        assert_eq!(frames[0].pixels[0], 0xff_ffff);
        assert_eq!(d.next_deadline(), Some(11 * CLOCK / 60));
        // A register read also counts the vsyncs it finds due.
        assert_eq!(rd(&mut d, VSYNC_COUNT, 20 * CLOCK / 60), 20);
        run_to(&mut d, &mut mem, 20 * CLOCK / 60);
        let frames = d.take_video();
        assert_eq!(frames.len(), 1);
        assert_eq!((frames[0].time, frames[0].seq), (20 * CLOCK / 60, 19));
        // A day of virtual time at once is counted in closed form.
        let day = 86_400 * CLOCK;
        d.advance(day);
        d.dma(&mut mem, day);
        assert_eq!(rd(&mut d, VSYNC_COUNT, day), 86_400 * 60);
        assert_eq!(d.take_video().len(), 1);
    }

    #[test]
    fn disabled_display_shows_nothing() {
        let mut d = small();
        let mut mem = Ram::new();
        run_to(&mut d, &mut mem, 10 * CLOCK);
        assert!(d.take_video().is_empty());
        assert_eq!(rd(&mut d, VSYNC_COUNT, 10 * CLOCK), 0);
        assert_eq!(rd(&mut d, STATUS, 10 * CLOCK), 0);
        assert_eq!(mem.reads, 0);
    }

    #[test]
    fn rgb565_expands_by_bit_replication() {
        assert_eq!(rgb565_to_xrgb(0x0000), 0x00_0000);
        assert_eq!(rgb565_to_xrgb(0xffff), 0xff_ffff);
        assert_eq!(rgb565_to_xrgb(0xf800), 0xff_0000);
        assert_eq!(rgb565_to_xrgb(0x07e0), 0x00_ff00);
        assert_eq!(rgb565_to_xrgb(0x001f), 0x00_00ff);
        // r5 = 0b10000 -> 0b10000100, g6 = 0b100000 -> 0b10000010,
        // b5 = 0b00001 -> 0b00001000.
        assert_eq!(rgb565_to_xrgb(0x8401), 0x84_8208);
    }

    #[test]
    fn backlight_scales_with_rounding() {
        assert_eq!(apply_backlight(0x12_34ff, 255), 0x12_34ff);
        assert_eq!(apply_backlight(0xff_ffff, 0), 0);
        // 255 * 128 / 255 = 128; 1 * 128 / 255 = 0.502 -> 1;
        // 100 * 128 / 255 = 50.2 -> 50.
        assert_eq!(apply_backlight(0xff_0164, 128), 0x80_0132);
        // 1 * 127 / 255 = 0.498 -> 0.
        assert_eq!(apply_backlight(0x01_0101, 127), 0);
        // Bits 31:24 never reach the output.
        assert_eq!(apply_backlight(0xff00_0000, 255), 0);
    }

    #[test]
    fn scans_rgb565_with_stride() {
        let mut d = small();
        let mut mem = Ram::new();
        // Lines 16 bytes apart (8 bytes of pixels, 8 bytes of padding).
        wr(&mut d, STRIDE, 16, 0);
        for y in 0..3u64 {
            for x in 0..4u64 {
                let v = ((y * 4 + x) as u16) << 11 | 0x07e0;
                mem.put16(RAM_BASE + y * 16 + x * 2, v);
            }
            mem.put16(RAM_BASE + y * 16 + 8, 0x1234); // padding: never shown
        }
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        run_to(&mut d, &mut mem, CLOCK / 60);
        let f = d.take_video().pop().unwrap();
        assert_eq!((f.width, f.height), (4, 3));
        let expect: Vec<u32> = (0..12u32)
            .map(|i| {
                let r = (i << 3) | (i >> 2);
                r << 16 | 0xff00
            })
            .collect();
        assert_eq!(f.pixels, expect);
        // One read per line.
        assert_eq!(mem.reads, 3);
    }

    #[test]
    fn scans_xrgb8888_ignoring_the_top_byte() {
        let mut d = small();
        let mut mem = Ram::new();
        wr(&mut d, FORMAT, FMT_XRGB8888, 0);
        wr(&mut d, WIDTH, 2, 0);
        wr(&mut d, HEIGHT, 2, 0);
        wr(&mut d, STRIDE, 8, 0);
        mem.put32(RAM_BASE, 0xff11_2233);
        mem.put32(RAM_BASE + 4, 0x0044_5566);
        mem.put32(RAM_BASE + 8, 0x8077_8899);
        mem.put32(RAM_BASE + 12, 0x00aa_bbcc);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        run_to(&mut d, &mut mem, CLOCK / 60);
        let f = d.take_video().pop().unwrap();
        assert_eq!((f.width, f.height), (2, 2));
        assert_eq!(f.pixels, vec![0x11_2233, 0x44_5566, 0x77_8899, 0xaa_bbcc]);
        // Stride 0 repeats the first line.
        wr(&mut d, STRIDE, 0, CLOCK / 60);
        run_to(&mut d, &mut mem, 2 * CLOCK / 60);
        let f = d.take_video().pop().unwrap();
        assert_eq!(f.pixels, vec![0x11_2233, 0x44_5566, 0x11_2233, 0x44_5566]);
    }

    #[test]
    fn automatic_mode_shows_memory_at_each_vsync_with_backlight() {
        let mut d = small();
        let mut mem = Ram::new();
        wr(&mut d, WIDTH, 1, 0);
        wr(&mut d, HEIGHT, 1, 0);
        mem.put16(RAM_BASE, 0xf800);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        run_to(&mut d, &mut mem, CLOCK / 60);
        assert_eq!(d.take_video()[0].pixels, vec![0xff_0000]);
        // Drawn between vsyncs: the next vsync shows it.
        mem.put16(RAM_BASE, 0x001f);
        wr(&mut d, BACKLIGHT, 128, CLOCK / 60);
        run_to(&mut d, &mut mem, 2 * CLOCK / 60);
        assert_eq!(d.take_video()[0].pixels, vec![0x00_0080]);
        wr(&mut d, BACKLIGHT, 0, 2 * CLOCK / 60);
        run_to(&mut d, &mut mem, 3 * CLOCK / 60);
        assert_eq!(d.take_video()[0].pixels, vec![0]);
        // FRAME_READY outside MANUAL: pending until the next vsync.
        wr(&mut d, FRAME_READY, 1, 3 * CLOCK / 60);
        assert_eq!(
            rd(&mut d, STATUS, 3 * CLOCK / 60) & STATUS_PENDING,
            STATUS_PENDING
        );
        run_to(&mut d, &mut mem, 4 * CLOCK / 60);
        assert_eq!(rd(&mut d, STATUS, 4 * CLOCK / 60) & STATUS_PENDING, 0);
    }

    #[test]
    fn manual_mode_shows_a_new_frame_only_after_frame_ready() {
        let mut d = small();
        let mut mem = Ram::new();
        let (a, b) = (RAM_BASE, RAM_BASE + 0x100);
        wr(&mut d, WIDTH, 1, 0);
        wr(&mut d, HEIGHT, 1, 0);
        mem.put16(a, 0xf800);
        mem.put16(b, 0x07e0);
        let period = CLOCK / 60;
        let at = |n: u64| n * CLOCK / 60;
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_MANUAL, 0);
        // Nothing shown yet since ENABLE: black, but still a frame.
        run_to(&mut d, &mut mem, at(1));
        let f = d.take_video();
        assert_eq!((f[0].pixels.clone(), f[0].seq), (vec![0], 0));
        assert_eq!(mem.reads, 0);
        assert_eq!(rd(&mut d, FRAME_COUNT, at(1)), 1);
        // FRAME_READY: pending until the next vsync, which shows buffer A.
        wr(&mut d, FRAME_READY, 1, at(1) + 5);
        assert_eq!(rd(&mut d, STATUS, at(1) + 5), STATUS_VSYNC | STATUS_PENDING);
        assert_eq!(rd(&mut d, FRAME_READY, at(1) + 5), 0);
        run_to(&mut d, &mut mem, at(2) - 1);
        assert_eq!(
            rd(&mut d, STATUS, at(2) - 1) & STATUS_PENDING,
            STATUS_PENDING
        );
        run_to(&mut d, &mut mem, at(2));
        assert_eq!(rd(&mut d, STATUS, at(2)) & STATUS_PENDING, 0);
        assert_eq!(d.take_video()[0].pixels, vec![0xff_0000]);
        // Drawing into A without FRAME_READY: vsyncs repeat the last frame
        // and read nothing.
        mem.put16(a, 0x001f);
        let reads = mem.reads;
        run_to(&mut d, &mut mem, at(4));
        let f = d.take_video();
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|f| f.pixels == vec![0xff_0000]));
        assert_eq!(mem.reads, reads);
        assert_eq!(rd(&mut d, FRAME_COUNT, at(4)), 4);
        // The repeat is seen through the current backlight.
        wr(&mut d, BACKLIGHT, 0, at(4));
        run_to(&mut d, &mut mem, at(5));
        assert_eq!(d.take_video()[0].pixels, vec![0]);
        wr(&mut d, BACKLIGHT, 255, at(5));
        // Flip to B: FB_BASE, then FRAME_READY.
        wr(&mut d, FB_BASE, b as u32, at(5) + 1);
        wr(&mut d, FRAME_READY, 1, at(5) + 2);
        run_to(&mut d, &mut mem, at(6));
        assert_eq!(d.take_video()[0].pixels, vec![0x00_ff00]);
        // A FRAME_READY write of 0 does nothing.
        wr(&mut d, FRAME_READY, 0, at(6));
        assert_eq!(rd(&mut d, STATUS, at(6)) & STATUS_PENDING, 0);
        // Missed vsyncs: the first takes the new frame, the rest repeat it.
        wr(&mut d, FB_BASE, a as u32, at(6));
        wr(&mut d, FRAME_READY, 1, at(6));
        d.advance(at(9) + period / 2);
        d.dma(&mut mem, at(9) + period / 2);
        let f = d.take_video();
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].time, f[0].seq), (at(9), 8));
        assert_eq!(f[0].pixels, vec![0x00_00ff]);
        assert_eq!(rd(&mut d, STATUS, at(9) + period / 2) & STATUS_PENDING, 0);
        // Leaving MANUAL: every vsync shows memory again.
        mem.put16(a, 0xffff);
        wr(&mut d, CTRL, CTRL_ENABLE, at(9) + period / 2);
        run_to(&mut d, &mut mem, at(10));
        assert_eq!(d.take_video()[0].pixels, vec![0xff_ffff]);
    }

    #[test]
    fn manual_mode_keeps_frame_ready_written_before_enable() {
        let mut d = small();
        let mut mem = Ram::new();
        wr(&mut d, WIDTH, 1, 0);
        wr(&mut d, HEIGHT, 1, 0);
        mem.put16(RAM_BASE, 0xffff);
        wr(&mut d, FRAME_READY, 1, 0);
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_MANUAL, 10);
        run_to(&mut d, &mut mem, 10 + CLOCK / 60);
        assert_eq!(d.take_video()[0].pixels, vec![0xff_ffff]);
        // Re-enabling forgets the picture: black until the next FRAME_READY.
        wr(&mut d, CTRL, 0, 10 + CLOCK / 60);
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_MANUAL, 10 + CLOCK / 60);
        run_to(&mut d, &mut mem, 10 + 2 * (CLOCK / 60) + 1);
        assert_eq!(d.take_video()[0].pixels, vec![0]);
    }

    #[test]
    fn framebuffer_outside_memory_is_black_with_bus_error() {
        let mut d = small();
        let mut mem = Ram::new();
        mem.bytes.fill(0xff);
        // The last line runs one byte past the end of RAM.
        let base = RAM_BASE + RAM_SIZE as u64 - 2 * 8 - 7;
        wr(&mut d, FB_BASE, base as u32, 0);
        wr(&mut d, STRIDE, 8, 0);
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_VSYNC_IE, 0);
        run_to(&mut d, &mut mem, CLOCK / 60);
        let f = d.take_video().pop().unwrap();
        assert_eq!((f.width, f.height), (4, 3));
        assert_eq!(f.pixels, vec![0; 12]);
        let t = CLOCK / 60;
        assert_eq!(rd(&mut d, STATUS, t), STATUS_VSYNC | STATUS_BUS_ERROR);
        // W1C, one bit at a time.
        wr(&mut d, STATUS, STATUS_VSYNC, t);
        assert_eq!(rd(&mut d, STATUS, t), STATUS_BUS_ERROR);
        wr(&mut d, STATUS, STATUS_BUS_ERROR | STATUS_PENDING, t);
        assert_eq!(rd(&mut d, STATUS, t), 0);
        // Wholly in memory again: the picture comes back, no new error.
        wr(&mut d, FB_BASE, (base - 1) as u32, t);
        run_to(&mut d, &mut mem, 2 * CLOCK / 60);
        assert_eq!(d.take_video()[0].pixels, vec![0xff_ffff; 12]);
        assert_eq!(rd(&mut d, STATUS, 2 * CLOCK / 60), STATUS_VSYNC);
        // Unmapped entirely.
        wr(&mut d, FB_BASE, 0, 2 * CLOCK / 60);
        run_to(&mut d, &mut mem, 3 * CLOCK / 60);
        assert_eq!(d.take_video()[0].pixels, vec![0; 12]);
        assert_eq!(
            rd(&mut d, STATUS, 3 * CLOCK / 60) & STATUS_BUS_ERROR,
            STATUS_BUS_ERROR
        );
    }

    #[test]
    fn frame_size_follows_width_and_height() {
        let mut d = Display::new(CLOCK, 8, 8);
        let mut mem = Ram::new();
        wr(&mut d, FB_BASE, RAM_BASE as u32, 0);
        wr(&mut d, WIDTH, 3, 0);
        wr(&mut d, HEIGHT, 2, 0);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        run_to(&mut d, &mut mem, CLOCK / 60);
        let f = d.take_video().pop().unwrap();
        assert_eq!((f.width, f.height, f.pixels.len()), (3, 2, 6));
    }

    #[test]
    fn queue_is_bounded_and_reset_keeps_it() {
        let mut d = small();
        let mut mem = Ram::new();
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        run_to(&mut d, &mut mem, 40 * CLOCK / 60);
        let f = d.take_video();
        assert_eq!(f.len(), MAX_QUEUED_FRAMES);
        assert_eq!(f.last().unwrap().seq, 39);
        run_to(&mut d, &mut mem, 41 * CLOCK / 60);
        d.reset();
        assert_eq!(rd(&mut d, CTRL, 41 * CLOCK / 60), 0);
        assert_eq!(rd(&mut d, VSYNC_COUNT, 41 * CLOCK / 60), 0);
        assert_eq!(d.next_deadline(), None);
        assert_eq!(d.take_video().len(), 1);
        // seq keeps counting after a reset; timing restarts from the
        // latest time seen.
        wr(&mut d, FB_BASE, RAM_BASE as u32, 41 * CLOCK / 60);
        wr(&mut d, CTRL, CTRL_ENABLE, 41 * CLOCK / 60);
        run_to(&mut d, &mut mem, 42 * CLOCK / 60 + 1);
        let f = d.take_video();
        assert_eq!((f[0].seq, f[0].time), (41, 41 * CLOCK / 60 + CLOCK / 60));
    }
}
