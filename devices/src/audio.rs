//! Ensemble audio output "AUO1" and input "AUI1": 16-bit PCM moved by the
//! device itself (DMA) between a ring buffer in guest RAM and the outside
//! world, one period at a time, paced by virtual time (no real chip;
//! Ensemble's own design).
//!
//! The guest-facing documentation, with a driver recipe, is
//! `images/include/audio.h`; this comment is the model's summary.
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x00 | ID | RO | 0x4155_4F31 ("AUO1", output) / 0x4155_4931 ("AUI1", input) |
//! | 0x04 | CTRL | RW | b0 ENABLE (reads 1 while running), b1 PERIOD_IE, b2 XRUN_IE |
//! | 0x08 | STATUS | W1C / RO | b0 PERIOD, b1 XRUN, b2 RUNNING (RO), b3 CONFIG_ERROR, b4 BUS_ERROR |
//! | 0x0C | BUF_BASE | RW | ring address, reset 0 (\*) |
//! | 0x10 | BUF_SIZE | RW | ring bytes, reset 0 (\*) |
//! | 0x14 | PERIOD | RW | bytes per transfer, reset 0 (\*) |
//! | 0x18 | READ_PTR | out: RO, in: RW | byte offset of the consumer in the ring |
//! | 0x1C | WRITE_PTR | out: RW, in: RO | byte offset of the producer in the ring |
//! | 0x20 | RATE | RW | Hz, 8000..48000 (clamped), reset 48000 (\*) |
//! | 0x24 | CHANNELS | RW | 1..2 (clamped), reset: the board's default (\*) |
//! | 0x28 | FRAMES | RO | frames fetched to play (out) / written to the ring (in) |
//! | 0x2C | XRUNS | RO | underruns (out) / overruns (in) |
//!
//! (\*) Writes are ignored while the device runs. Writing BUF_BASE or
//! BUF_SIZE empties the ring (both pointers to 0). A guest write of a
//! pointer that is not below BUF_SIZE is ignored, so the pointers always
//! lie inside the ring.
//!
//! Registers are 32-bit: a read of any size returns the bytes it covers; a
//! write must be at the register's own offset and a narrow write is
//! zero-extended. Other writes are ignored, unassigned offsets read 0.
//!
//! Interrupt line 0 = STATUS & (PERIOD | XRUN), each bit enabled by its
//! CTRL bit (PERIOD_IE, XRUN_IE). CONFIG_ERROR and BUS_ERROR do not
//! interrupt.
//!
//! # Time
//!
//! Setting ENABLE (from 0) at tick T0 starts a run, unless the
//! configuration is unusable (PERIOD or BUF_SIZE zero, BUF_SIZE not a
//! multiple of PERIOD, PERIOD not a multiple of the frame size): then
//! STATUS.CONFIG_ERROR is set and ENABLE reads 0. Frame `n` of a run
//! starts at tick `T0 + floor(n * clock_hz / RATE)`, computed from `n`
//! with exact integer arithmetic, so the schedule never drifts. With
//! `P` frames per period, the output fetches period `k` at the start of
//! its frame `k * P` (the first at T0 itself); the input writes period
//! `k` when it has been heard, at the start of frame `(k + 1) * P`.
//!
//! The machine calls [`Device::dma`] after every [`Device::advance`];
//! each call does every transfer due by its `now` that is not done yet,
//! in order, each as at its own time, so a late call catches up exactly.
//! [`Device::next_deadline`] is the next transfer still to do (it may lie
//! in the past until `dma` runs). Register reads see the state after the
//! last `dma`.
//!
//! At its first `dma` a run checks the whole ring (output: readable;
//! input: writable). A ring outside memory, or a transfer that fails,
//! sets STATUS.BUS_ERROR and stops the run.
//!
//! # Output
//!
//! A fetch copies min(PERIOD, bytes in the ring) bytes from READ_PTR
//! (wrapping at the end of the ring), advances READ_PTR by as many, sets
//! STATUS.PERIOD and adds P to FRAMES. When the ring held less than a
//! period the rest is silence, STATUS.XRUN is set and XRUNS counts it.
//!
//! What a listener hears comes out of [`Device::take_audio`]: each
//! fetched frame once it has started to play (its start time is before
//! the latest time the model was told), in order, in chunks that merge
//! consecutive frames of a run. Clearing ENABLE (or a bus error, or a
//! reset) at tick `t` stops the run: frames that started before `t` were
//! heard, the rest of the fetched period is dropped. So the chunks are
//! exactly what the speaker played, each stamped with the start time of
//! its first frame; between runs nothing plays.
//!
//! # Input
//!
//! At the end of each period the device writes PERIOD bytes at WRITE_PTR
//! (wrapping), advances WRITE_PTR by PERIOD, sets STATUS.PERIOD and adds P
//! to FRAMES. Sample `c` of frame `n` is [`AudioSource::sample_at`]`(n /
//! RATE, c)`: the source's time is seconds since T0. If fewer than
//! PERIOD + 1 bytes are free (the ring may never become full) the period
//! is dropped instead: STATUS.XRUN, XRUNS counts it. Clearing ENABLE
//! drops the period being heard.

use crate::media::{AudioChunk, AudioSource};
use crate::{extract_read, zero_extend, Device, Dma, Ticks};

pub const ID: u64 = 0x00;
pub const CTRL: u64 = 0x04;
pub const STATUS: u64 = 0x08;
pub const BUF_BASE: u64 = 0x0c;
pub const BUF_SIZE: u64 = 0x10;
pub const PERIOD: u64 = 0x14;
pub const READ_PTR: u64 = 0x18;
pub const WRITE_PTR: u64 = 0x1c;
pub const RATE: u64 = 0x20;
pub const CHANNELS: u64 = 0x24;
pub const FRAMES: u64 = 0x28;
pub const XRUNS: u64 = 0x2c;

/// Size of the register window.
pub const WINDOW: u64 = 0x1000;

/// "AUO1".
pub const OUT_ID: u32 = 0x4155_4f31;
/// "AUI1".
pub const IN_ID: u32 = 0x4155_4931;

pub const CTRL_ENABLE: u32 = 1 << 0;
pub const CTRL_PERIOD_IE: u32 = 1 << 1;
pub const CTRL_XRUN_IE: u32 = 1 << 2;

pub const STATUS_PERIOD: u32 = 1 << 0;
pub const STATUS_XRUN: u32 = 1 << 1;
pub const STATUS_RUNNING: u32 = 1 << 2;
pub const STATUS_CONFIG_ERROR: u32 = 1 << 3;
pub const STATUS_BUS_ERROR: u32 = 1 << 4;
/// The STATUS bits a write of 1 clears.
const STATUS_W1C: u32 = STATUS_PERIOD | STATUS_XRUN | STATUS_CONFIG_ERROR | STATUS_BUS_ERROR;

pub const RATE_MIN: u32 = 8000;
pub const RATE_MAX: u32 = 48_000;
pub const RATE_DEFAULT: u32 = 48_000;
pub const CHANNELS_MAX: u16 = 2;
/// Bytes per sample (signed 16-bit little-endian).
pub const SAMPLE_BYTES: u32 = 2;

/// The ring is checked in pieces of at most this many bytes.
const CHECK_PIECE: u64 = 0x1_0000;

/// One run: from setting ENABLE to stopping.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug)]
struct Run {
    t0: Ticks,
    rate: u32,
    channels: u16,
    /// Frames per period.
    period_frames: u64,
    /// Frame (since T0) at whose start the next transfer is due.
    next: u64,
    /// The ring has been checked.
    checked: bool,
}

impl Run {
    /// Start time of frame `n`.
    fn frame_time(&self, n: u64, clock_hz: u64) -> Ticks {
        let offset = n as u128 * clock_hz as u128 / self.rate as u128;
        (self.t0 as u128 + offset).min(Ticks::MAX as u128) as Ticks
    }

    /// How many frames start before `now`: the n with
    /// floor(n * clock / rate) < now - T0, i.e. n * clock < (now - T0) * rate.
    fn frames_before(&self, now: Ticks, clock_hz: u64) -> u64 {
        let elapsed = now.saturating_sub(self.t0) as u128;
        let n = (elapsed * self.rate as u128).div_ceil(clock_hz as u128);
        n.min(u64::MAX as u128) as u64
    }
}

/// What the two directions share: registers, timing, ring access.
#[derive(serde::Serialize, serde::Deserialize)]
struct Engine {
    input: bool,
    clock_hz: u64,
    default_channels: u16,
    /// PERIOD_IE and XRUN_IE (ENABLE is `run.is_some()`).
    ctrl: u32,
    /// The sticky (W1C) bits.
    status: u32,
    buf_base: u32,
    buf_size: u32,
    period: u32,
    read_ptr: u32,
    write_ptr: u32,
    rate: u32,
    channels: u16,
    frames: u32,
    xruns: u32,
    run: Option<Run>,
    /// Output: fetched samples not yet heard, interleaved.
    pending: Vec<i16>,
    /// Output: frame (since T0) of the first pending sample.
    pending_frame: u64,
    /// Output: heard samples not yet taken.
    heard: Vec<AudioChunk>,
    /// Output: the last chunk in `heard` ends where the pending samples
    /// begin, so it can grow.
    heard_open: bool,
    /// Input: what the microphone hears.
    source: AudioSource,
    /// Latest time seen, so that time never runs backwards in the model.
    now: Ticks,
}

impl Engine {
    fn new(input: bool, clock_hz: u64, default_channels: u16) -> Self {
        let default_channels = default_channels.clamp(1, CHANNELS_MAX);
        Engine {
            input,
            clock_hz: clock_hz.max(1),
            default_channels,
            ctrl: 0,
            status: 0,
            buf_base: 0,
            buf_size: 0,
            period: 0,
            read_ptr: 0,
            write_ptr: 0,
            rate: RATE_DEFAULT,
            channels: default_channels,
            frames: 0,
            xruns: 0,
            run: None,
            pending: Vec::new(),
            pending_frame: 0,
            heard: Vec::new(),
            heard_open: false,
            source: AudioSource::Silence,
            now: 0,
        }
    }

    fn sync(&mut self, now: Ticks) -> Ticks {
        self.now = self.now.max(now);
        self.now
    }

    fn frame_bytes(&self) -> u32 {
        SAMPLE_BYTES * self.channels as u32
    }

    fn start(&mut self, now: Ticks) {
        let (size, period) = (self.buf_size, self.period);
        if period == 0 || size == 0 || size % period != 0 || period % self.frame_bytes() != 0 {
            self.status |= STATUS_CONFIG_ERROR;
            return;
        }
        let period_frames = (period / self.frame_bytes()) as u64;
        self.run = Some(Run {
            t0: now,
            rate: self.rate,
            channels: self.channels,
            period_frames,
            next: if self.input { period_frames } else { 0 },
            checked: false,
        });
        self.pending.clear();
        self.pending_frame = 0;
        self.heard_open = false;
    }

    /// End the run at `at`: what started playing before then was heard.
    fn stop(&mut self, at: Ticks) {
        self.release(at);
        self.run = None;
        self.pending.clear();
        self.heard_open = false;
    }

    /// Output: move the fetched frames that started before `at` to `heard`.
    fn release(&mut self, at: Ticks) {
        let Some(run) = self.run else {
            return;
        };
        if self.input {
            return;
        }
        let ch = run.channels as u64;
        let fetched_end = self.pending_frame + self.pending.len() as u64 / ch;
        let upto = run.frames_before(at, self.clock_hz).min(fetched_end);
        if upto <= self.pending_frame {
            return;
        }
        let samples = self
            .pending
            .drain(..((upto - self.pending_frame) * ch) as usize);
        match self.heard.last_mut() {
            Some(chunk) if self.heard_open => chunk.samples.extend(samples),
            _ => {
                let chunk = AudioChunk {
                    time: run.frame_time(self.pending_frame, self.clock_hz),
                    rate: run.rate,
                    channels: run.channels,
                    samples: samples.collect(),
                };
                self.heard.push(chunk);
            }
        }
        self.pending_frame = upto;
        self.heard_open = true;
    }

    fn take_audio(&mut self) -> Vec<AudioChunk> {
        self.release(self.now);
        self.heard_open = false;
        std::mem::take(&mut self.heard)
    }

    fn next_deadline(&self) -> Option<Ticks> {
        let run = self.run?;
        Some(if run.checked {
            run.frame_time(run.next, self.clock_hz)
        } else {
            run.t0
        })
    }

    fn dma(&mut self, mem: &mut dyn Dma, now: Ticks) {
        let now = self.sync(now);
        let Some(run) = self.run else {
            return;
        };
        if !run.checked {
            if !self.check_ring(mem) {
                self.bus_error(run.t0);
                return;
            }
            if let Some(r) = self.run.as_mut() {
                r.checked = true;
            }
        }
        while let Some(run) = self.run {
            let at = run.frame_time(run.next, self.clock_hz);
            if at > now {
                break;
            }
            let ok = if self.input {
                self.capture(mem, &run)
            } else {
                self.fetch(mem, &run)
            };
            if !ok {
                self.bus_error(at);
                return;
            }
            if let Some(r) = self.run.as_mut() {
                r.next += r.period_frames;
            }
        }
    }

    fn bus_error(&mut self, at: Ticks) {
        self.status |= STATUS_BUS_ERROR;
        self.stop(at);
    }

    /// Can the device reach the whole ring (output: read; input: write)?
    /// The input check writes back what it read, changing nothing.
    fn check_ring(&self, mem: &mut dyn Dma) -> bool {
        let end = self.buf_base as u64 + self.buf_size as u64;
        let mut addr = self.buf_base as u64;
        let mut piece = vec![0u8; CHECK_PIECE.min(self.buf_size as u64) as usize];
        while addr < end {
            let len = (end - addr).min(CHECK_PIECE) as usize;
            let buf = &mut piece[..len];
            if !mem.read(addr, buf) || (self.input && !mem.write(addr, buf)) {
                return false;
            }
            addr += len as u64;
        }
        true
    }

    /// Read `buf.len()` bytes of the ring from offset `at`, wrapping.
    fn ring_read(&self, mem: &mut dyn Dma, at: u32, buf: &mut [u8]) -> bool {
        let first = buf.len().min((self.buf_size - at) as usize);
        let (a, b) = buf.split_at_mut(first);
        let base = self.buf_base as u64;
        (a.is_empty() || mem.read(base + at as u64, a)) && (b.is_empty() || mem.read(base, b))
    }

    /// Write `data` into the ring at offset `at`, wrapping.
    fn ring_write(&self, mem: &mut dyn Dma, at: u32, data: &[u8]) -> bool {
        let first = data.len().min((self.buf_size - at) as usize);
        let (a, b) = data.split_at(first);
        let base = self.buf_base as u64;
        (a.is_empty() || mem.write(base + at as u64, a)) && (b.is_empty() || mem.write(base, b))
    }

    /// Output: fetch the period that starts now. False on a bus error.
    fn fetch(&mut self, mem: &mut dyn Dma, run: &Run) -> bool {
        let (size, period) = (self.buf_size as u64, self.period as u64);
        let (read, write) = (self.read_ptr as u64, self.write_ptr as u64);
        let n = ((write + size - read) % size).min(period);
        let mut bytes = vec![0u8; period as usize];
        if !self.ring_read(mem, self.read_ptr, &mut bytes[..n as usize]) {
            return false;
        }
        self.read_ptr = ((read + n) % size) as u32;
        if n < period {
            self.status |= STATUS_XRUN;
            self.xruns = self.xruns.wrapping_add(1);
        }
        self.status |= STATUS_PERIOD;
        self.frames = self.frames.wrapping_add(run.period_frames as u32);
        self.pending.extend(
            bytes
                .chunks_exact(SAMPLE_BYTES as usize)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
        true
    }

    /// Input: store the period that ends now. False on a bus error.
    fn capture(&mut self, mem: &mut dyn Dma, run: &Run) -> bool {
        let (size, period) = (self.buf_size as u64, self.period as u64);
        let (read, write) = (self.read_ptr as u64, self.write_ptr as u64);
        let free = (read + size - write - 1) % size;
        if free < period {
            self.status |= STATUS_XRUN;
            self.xruns = self.xruns.wrapping_add(1);
            return true;
        }
        let first = run.next - run.period_frames;
        let mut bytes = Vec::with_capacity(period as usize);
        for n in first..run.next {
            let t = n as f64 / run.rate as f64;
            for c in 0..run.channels {
                bytes.extend_from_slice(&self.source.sample_at(t, c).to_le_bytes());
            }
        }
        if !self.ring_write(mem, self.write_ptr, &bytes) {
            return false;
        }
        self.write_ptr = ((write + period) % size) as u32;
        self.status |= STATUS_PERIOD;
        self.frames = self.frames.wrapping_add(run.period_frames as u32);
        true
    }

    fn register(&self, offset: u64) -> u32 {
        match offset {
            ID => {
                if self.input {
                    IN_ID
                } else {
                    OUT_ID
                }
            }
            CTRL => self.ctrl | if self.run.is_some() { CTRL_ENABLE } else { 0 },
            STATUS => {
                self.status
                    | if self.run.is_some() {
                        STATUS_RUNNING
                    } else {
                        0
                    }
            }
            BUF_BASE => self.buf_base,
            BUF_SIZE => self.buf_size,
            PERIOD => self.period,
            READ_PTR => self.read_ptr,
            WRITE_PTR => self.write_ptr,
            RATE => self.rate,
            CHANNELS => self.channels as u32,
            FRAMES => self.frames,
            XRUNS => self.xruns,
            _ => 0,
        }
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        self.sync(now);
        if offset >= 0x30 {
            return 0;
        }
        extract_read(self.register(offset & !3), offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        let now = self.sync(now);
        let v = zero_extend(value, size);
        let idle = self.run.is_none();
        match offset {
            CTRL => {
                self.ctrl = v & (CTRL_PERIOD_IE | CTRL_XRUN_IE);
                match (self.run.is_some(), v & CTRL_ENABLE != 0) {
                    (true, false) => self.stop(now),
                    (false, true) => self.start(now),
                    _ => {}
                }
            }
            STATUS => self.status &= !(v & STATUS_W1C),
            BUF_BASE | BUF_SIZE if idle => {
                if offset == BUF_BASE {
                    self.buf_base = v;
                } else {
                    self.buf_size = v;
                }
                self.read_ptr = 0;
                self.write_ptr = 0;
            }
            PERIOD if idle => self.period = v,
            RATE if idle => self.rate = v.clamp(RATE_MIN, RATE_MAX),
            CHANNELS if idle => self.channels = v.clamp(1, CHANNELS_MAX as u32) as u16,
            READ_PTR if self.input && v < self.buf_size => self.read_ptr = v,
            WRITE_PTR if !self.input && v < self.buf_size => self.write_ptr = v,
            _ => {}
        }
    }

    fn reset(&mut self) {
        // The run stops now; what was heard stays heard.
        self.stop(self.now);
        let heard = std::mem::take(&mut self.heard);
        let source = std::mem::take(&mut self.source);
        let now = self.now;
        *self = Engine::new(self.input, self.clock_hz, self.default_channels);
        self.heard = heard;
        self.source = source;
        self.now = now;
    }

    fn irq_lines(&self) -> u32 {
        let enabled = (self.ctrl & (CTRL_PERIOD_IE | CTRL_XRUN_IE)) >> 1;
        (self.status & enabled != 0) as u32
    }
}

/// The sound output (a speaker): plays what the guest puts in the ring.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct AudioOut {
    e: Engine,
}

impl AudioOut {
    /// An output on a machine clocked at `clock_hz`, whose CHANNELS
    /// register resets to `default_channels` (1 or 2; clamped).
    pub fn new(clock_hz: u64, default_channels: u16) -> Self {
        AudioOut {
            e: Engine::new(false, clock_hz, default_channels),
        }
    }
}

/// The sound input (a microphone): fills the ring with what the
/// [`AudioSource`] given by [`Device::set_audio_source`] produces
/// (silence until then).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct AudioIn {
    e: Engine,
}

impl AudioIn {
    /// An input on a machine clocked at `clock_hz`, whose CHANNELS
    /// register resets to `default_channels` (1 or 2; clamped).
    pub fn new(clock_hz: u64, default_channels: u16) -> Self {
        AudioIn {
            e: Engine::new(true, clock_hz, default_channels),
        }
    }
}

/// The `Device` methods both directions hand to their shared engine.
macro_rules! engine_device_methods {
    () => {
        fn window(&self) -> u64 {
            WINDOW
        }

        fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
            self.e.read(offset, size, now)
        }

        fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
            self.e.write(offset, size, value, now)
        }

        fn reset(&mut self) {
            self.e.reset()
        }

        fn next_deadline(&self) -> Option<Ticks> {
            self.e.next_deadline()
        }

        fn advance(&mut self, now: Ticks) {
            self.e.sync(now);
        }

        fn irq_lines(&self) -> u32 {
            self.e.irq_lines()
        }

        fn dma(&mut self, mem: &mut dyn Dma, now: Ticks) {
            self.e.dma(mem, now)
        }
    };
}

impl Device for AudioOut {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "audio-out"
    }

    engine_device_methods!();

    fn take_audio(&mut self) -> Vec<AudioChunk> {
        self.e.take_audio()
    }
}

impl Device for AudioIn {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "audio-in"
    }

    engine_device_methods!();

    fn set_audio_source(&mut self, source: AudioSource) -> bool {
        self.e.source = source;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const CLK: u64 = 25_000_000;
    const BASE: u64 = 0x2000_0000;

    /// Guest memory: `data.len()` bytes at `base`.
    struct Mem {
        base: u64,
        data: Vec<u8>,
        read_only: bool,
    }

    impl Mem {
        fn new(len: usize) -> Self {
            Mem {
                base: BASE,
                data: vec![0; len],
                read_only: false,
            }
        }

        fn range(&self, addr: u64, len: usize) -> Option<std::ops::Range<usize>> {
            let start = addr.checked_sub(self.base)? as usize;
            (start + len <= self.data.len()).then_some(start..start + len)
        }

        fn put(&mut self, offset: u32, samples: &[i16]) {
            for (i, s) in samples.iter().enumerate() {
                let at = offset as usize + 2 * i;
                self.data[at..at + 2].copy_from_slice(&s.to_le_bytes());
            }
        }

        fn samples(&self, offset: u32, count: usize) -> Vec<i16> {
            (0..count)
                .map(|i| {
                    let at = offset as usize + 2 * i;
                    i16::from_le_bytes([self.data[at], self.data[at + 1]])
                })
                .collect()
        }
    }

    impl Dma for Mem {
        fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
            match self.range(addr, buf.len()) {
                Some(r) => {
                    buf.copy_from_slice(&self.data[r]);
                    true
                }
                None => false,
            }
        }

        fn write(&mut self, addr: u64, data: &[u8]) -> bool {
            match self.range(addr, data.len()) {
                Some(r) if !self.read_only => {
                    self.data[r].copy_from_slice(data);
                    true
                }
                _ => false,
            }
        }
    }

    fn wr(d: &mut dyn Device, offset: u64, value: u32, now: Ticks) {
        d.write(offset, 4, value, now);
    }

    fn rd(d: &mut dyn Device, offset: u64, now: Ticks) -> u32 {
        d.read(offset, 4, now)
    }

    /// What the machine does at a service.
    fn service(d: &mut dyn Device, mem: &mut Mem, now: Ticks) {
        d.advance(now);
        d.dma(mem, now);
    }

    /// Service at the next deadline; returns it.
    fn step(d: &mut dyn Device, mem: &mut Mem) -> Ticks {
        let t = d.next_deadline().expect("running");
        service(d, mem, t);
        t
    }

    /// Ring of `size` bytes at BASE, `period` bytes per transfer.
    fn configure(d: &mut dyn Device, size: u32, period: u32, rate: u32, channels: u32) {
        wr(d, BUF_BASE, BASE as u32, 0);
        wr(d, BUF_SIZE, size, 0);
        wr(d, PERIOD, period, 0);
        wr(d, RATE, rate, 0);
        wr(d, CHANNELS, channels, 0);
    }

    /// All samples of `chunks`, checking that they follow each other.
    fn joined(chunks: &[AudioChunk], clock_hz: u64) -> Vec<i16> {
        let mut out: Vec<i16> = Vec::new();
        for pair in chunks.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let frames = (a.samples.len() / a.channels as usize) as u128;
            let end = a.time as u128 + frames * clock_hz as u128 / a.rate as u128;
            assert!(b.time as u128 >= end - 1, "chunks overlap");
        }
        for c in chunks {
            out.extend_from_slice(&c.samples);
        }
        out
    }

    /// Period k boundary of a run started at t0, written independently of
    /// the model.
    fn boundary(t0: Ticks, k: u64, frames: u64, rate: u64) -> Ticks {
        t0 + (k as u128 * frames as u128 * CLK as u128 / rate as u128) as u64
    }

    #[test]
    fn period_timing_is_exact_over_many_periods() {
        // 8 kHz: 3125 ticks per frame. 44.1 kHz with 256-frame periods:
        // 145124.7 ticks each, 11025 of them are exactly 64 s. 48 kHz:
        // 133333.3 ticks each, 3 of them exactly 400000.
        for (rate, periods, exact_end) in [
            (8000u32, 2000u64, Some(2000 * 256 * 3125)),
            (44_100, 11_025, Some(64 * CLK)),
            (48_000, 3000, Some(1000 * 400_000)),
        ] {
            let mut d = AudioOut::new(CLK, 1);
            let mut mem = Mem::new(2048);
            configure(&mut d, 2048, 512, rate, 1);
            let t0 = 12_345;
            wr(&mut d, CTRL, CTRL_ENABLE, t0);
            assert_eq!(d.next_deadline(), Some(t0));
            let mut lengths = std::collections::BTreeSet::new();
            let mut last = t0;
            for k in 0..=periods {
                let t = step(&mut d, &mut mem);
                assert_eq!(
                    t,
                    boundary(t0, k, 256, rate as u64),
                    "rate {rate} period {k}"
                );
                if k > 0 {
                    lengths.insert(t - last);
                }
                last = t;
                // Frames heard so far are all returned, in order.
                let chunks = d.take_audio();
                if k > 0 {
                    assert_eq!(chunks.len(), 1);
                    assert_eq!(chunks[0].time, boundary(t0, k - 1, 256, rate as u64));
                    assert_eq!(chunks[0].samples.len(), 256);
                }
            }
            assert_eq!(last - t0, exact_end.unwrap());
            assert_eq!(rd(&mut d, FRAMES, last), ((periods + 1) * 256) as u32);
            // Period lengths differ by at most one tick: no drift, no
            // accumulated rounding.
            assert!(lengths.len() <= 2, "{rate}: {lengths:?}");
            if rate == 8000 {
                assert_eq!(lengths.into_iter().collect::<Vec<_>>(), [800_000]);
            }
        }
    }

    #[test]
    fn frames_before_matches_frame_times() {
        let run = Run {
            t0: 1000,
            rate: 44_100,
            channels: 1,
            period_frames: 1,
            next: 0,
            checked: true,
        };
        for n in 0..2000 {
            let t = run.frame_time(n, CLK);
            assert_eq!(run.frames_before(t, CLK), n);
            assert_eq!(run.frames_before(t + 1, CLK), n + 1);
        }
        assert_eq!(run.frames_before(0, CLK), 0);
    }

    #[test]
    fn output_plays_the_ring_and_wraps() {
        let mut d = AudioOut::new(CLK, 1);
        let mut mem = Mem::new(64);
        // 8 kHz mono, 4-frame periods (12500 ticks), 4-period ring.
        configure(&mut d, 32, 8, 8000, 1);
        let data: Vec<i16> = (1..=4 * 8).map(|i| i * 100).collect();
        mem.put(0, &data[..12]);
        wr(&mut d, WRITE_PTR, 24, 0);
        let t0 = 1000;
        wr(&mut d, CTRL, CTRL_ENABLE, t0);
        assert_eq!(rd(&mut d, CTRL, t0), CTRL_ENABLE);
        assert_eq!(rd(&mut d, STATUS, t0), STATUS_RUNNING);
        // Fetch 0 at T0: nothing heard yet.
        assert_eq!(step(&mut d, &mut mem), t0);
        assert_eq!(rd(&mut d, READ_PTR, t0), 8);
        assert_eq!(rd(&mut d, STATUS, t0), STATUS_RUNNING | STATUS_PERIOD);
        assert_eq!(rd(&mut d, FRAMES, t0), 4);
        assert!(d.take_audio().is_empty());
        assert_eq!(d.next_deadline(), Some(t0 + 12_500));
        // The guest tops the ring up to the end and wraps WRITE_PTR.
        let mut write = 24u32;
        let mut chunks = Vec::new();
        for k in 1..8u32 {
            if k <= 5 {
                mem.put(write, &data[(k as usize + 2) * 4..(k as usize + 3) * 4]);
                write = (write + 8) % 32;
                wr(&mut d, WRITE_PTR, write, 0);
            }
            let t = step(&mut d, &mut mem);
            assert_eq!(t, t0 + k as u64 * 12_500);
            assert_eq!(rd(&mut d, READ_PTR, t), (k + 1) * 8 % 32);
            chunks.extend(d.take_audio());
        }
        assert_eq!(rd(&mut d, XRUNS, 0), 0);
        assert_eq!(chunks[0].time, t0);
        assert_eq!(chunks[1].time, t0 + 12_500);
        assert!(chunks.iter().all(|c| c.rate == 8000 && c.channels == 1));
        assert_eq!(joined(&chunks, CLK), data[..28]);
    }

    #[test]
    fn underrun_pads_with_silence_and_later_reads_wrap() {
        let mut d = AudioOut::new(CLK, 1);
        let mut mem = Mem::new(16);
        configure(&mut d, 16, 8, 8000, 1);
        wr(&mut d, CTRL, CTRL_XRUN_IE, 0);
        // Three samples where a period needs four.
        mem.put(0, &[1, 2, 3]);
        wr(&mut d, WRITE_PTR, 6, 0);
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_XRUN_IE, 0);
        step(&mut d, &mut mem);
        assert_eq!(rd(&mut d, READ_PTR, 0), 6);
        assert_eq!(
            rd(&mut d, STATUS, 0),
            STATUS_RUNNING | STATUS_PERIOD | STATUS_XRUN
        );
        assert_eq!(rd(&mut d, XRUNS, 0), 1);
        assert_eq!(rd(&mut d, FRAMES, 0), 4);
        assert_eq!(d.irq_lines(), 1);
        wr(&mut d, STATUS, STATUS_XRUN, 0);
        assert_eq!(d.irq_lines(), 0);
        // Now READ_PTR is not period-aligned: a full period at 6..14, then
        // one across the end of the ring (14, 15 then 0..6).
        mem.put(6, &[4, 5, 6, 7]);
        wr(&mut d, WRITE_PTR, 14, 0);
        step(&mut d, &mut mem);
        assert_eq!(rd(&mut d, READ_PTR, 0), 14);
        mem.put(14, &[8]);
        mem.put(0, &[9, 10, 11]);
        wr(&mut d, WRITE_PTR, 6, 0);
        let t = step(&mut d, &mut mem);
        assert_eq!(rd(&mut d, READ_PTR, t), 6);
        assert_eq!(rd(&mut d, XRUNS, t), 1);
        // An empty ring: a whole period of silence.
        let t = step(&mut d, &mut mem);
        assert_eq!(rd(&mut d, READ_PTR, t), 6);
        assert_eq!(rd(&mut d, XRUNS, t), 2);
        assert_eq!(d.irq_lines(), 1);
        service(&mut d, &mut mem, t + 4 * 3125);
        let chunks = d.take_audio();
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0].samples,
            [1, 2, 3, 0, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0, 0, 0]
        );
    }

    #[test]
    fn a_late_service_catches_up_every_period() {
        let mut d = AudioOut::new(CLK, 1);
        let mut mem = Mem::new(64);
        configure(&mut d, 64, 8, 8000, 1);
        let data: Vec<i16> = (1..=12).collect();
        mem.put(0, &data);
        wr(&mut d, WRITE_PTR, 24, 0);
        wr(&mut d, CTRL, CTRL_ENABLE, 500);
        // Nobody serviced the device for 3.5 periods (12500 ticks each).
        let late = 500 + 3 * 12_500 + 6_250;
        service(&mut d, &mut mem, late);
        // Fetches 0..=3 happened; the fourth found the ring empty.
        assert_eq!(rd(&mut d, FRAMES, late), 16);
        assert_eq!(rd(&mut d, READ_PTR, late), 24);
        assert_eq!(rd(&mut d, XRUNS, late), 1);
        assert_eq!(d.next_deadline(), Some(500 + 4 * 12_500));
        // Heard: the 14 frames that started before `late` (frame 14 starts
        // at 500 + 14 * 3125 = late).
        let chunks = d.take_audio();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].time, 500);
        let mut expect = data.clone();
        expect.extend([0, 0]);
        assert_eq!(chunks[0].samples, expect);
        // The rest follows on.
        service(&mut d, &mut mem, late + 1);
        let chunks = d.take_audio();
        assert_eq!(chunks[0].time, late);
        assert_eq!(chunks[0].samples, [0]);
        // With services at every boundary, each period comes stamped with
        // its own time.
        let t = step(&mut d, &mut mem);
        assert_eq!(t, 500 + 4 * 12_500);
        assert_eq!(d.take_audio()[0].time, 500 + 15 * 3125);
        let t = step(&mut d, &mut mem);
        let chunks = d.take_audio();
        assert_eq!((chunks[0].time, chunks[0].samples.len()), (t - 12_500, 4));
    }

    #[test]
    fn stopping_mid_period_keeps_only_what_played() {
        let mut d = AudioOut::new(CLK, 1);
        let mut mem = Mem::new(32);
        configure(&mut d, 32, 8, 8000, 1);
        mem.put(0, &[1, 2, 3, 4, 5, 6, 7, 8]);
        wr(&mut d, WRITE_PTR, 16, 0);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        step(&mut d, &mut mem);
        step(&mut d, &mut mem);
        // Stop during frame 5 (starts at 15625): frames 0..=5 were heard.
        wr(&mut d, CTRL, 0, 15_626);
        assert_eq!(rd(&mut d, STATUS, 15_626), STATUS_PERIOD);
        assert_eq!(rd(&mut d, CTRL, 15_626), 0);
        assert_eq!(d.next_deadline(), None);
        // The pointers stay.
        assert_eq!(rd(&mut d, READ_PTR, 15_626), 16);
        let chunks = d.take_audio();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].samples, [1, 2, 3, 4, 5, 6]);
        // A new run starts a new chunk at its own T0.
        mem.put(16, &[9, 10, 11, 12]);
        wr(&mut d, WRITE_PTR, 24, 20_000);
        wr(&mut d, CTRL, CTRL_ENABLE, 20_000);
        step(&mut d, &mut mem);
        service(&mut d, &mut mem, 20_000 + 12_500);
        let chunks = d.take_audio();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].time, 20_000);
        assert_eq!(chunks[0].samples, [9, 10, 11, 12]);
    }

    #[test]
    fn stereo_output_is_interleaved() {
        let mut d = AudioOut::new(CLK, 2);
        assert_eq!(rd(&mut d, CHANNELS, 0), 2);
        let mut mem = Mem::new(64);
        // 48 kHz stereo, 2 frames (8 bytes) per period.
        configure(&mut d, 32, 8, 48_000, 2);
        let lr = [100, -100, 200, -200, 300, -300, 400, -400];
        mem.put(0, &lr);
        wr(&mut d, WRITE_PTR, 16, 0);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        step(&mut d, &mut mem);
        assert_eq!(rd(&mut d, FRAMES, 0), 2);
        // Two frames at 48 kHz: 1041.67 ticks.
        assert_eq!(d.next_deadline(), Some(1041));
        step(&mut d, &mut mem);
        assert_eq!(d.next_deadline(), Some(2083));
        step(&mut d, &mut mem);
        let chunks = d.take_audio();
        assert_eq!(chunks.len(), 1);
        assert_eq!((chunks[0].rate, chunks[0].channels), (48_000, 2));
        assert_eq!(chunks[0].samples, lr);
        assert_eq!(rd(&mut d, FRAMES, 2083), 6);
    }

    fn input(source: AudioSource, size: u32, period: u32, channels: u32) -> (AudioIn, Mem) {
        let mut d = AudioIn::new(CLK, 1);
        assert!(d.set_audio_source(source));
        let mem = Mem::new(size as usize);
        configure(&mut d, size, period, 8000, channels);
        (d, mem)
    }

    #[test]
    fn input_writes_what_the_source_hears() {
        let tone = AudioSource::Tone {
            hz: 440.0,
            amplitude: 12_000.0,
        };
        let (mut d, mut mem) = input(tone.clone(), 64, 16, 1);
        assert_eq!(rd(&mut d, ID, 0), IN_ID);
        let t0 = 777;
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_PERIOD_IE, t0);
        // The ring check at T0, then the first period ends 8 frames later.
        assert_eq!(step(&mut d, &mut mem), t0);
        assert_eq!(rd(&mut d, WRITE_PTR, t0), 0);
        assert_eq!(d.irq_lines(), 0);
        let mut t = t0;
        for k in 1..=3u64 {
            t = step(&mut d, &mut mem);
            assert_eq!(t, t0 + k * 8 * 3125);
            assert_eq!(rd(&mut d, WRITE_PTR, t), (k * 16 % 64) as u32);
            assert_eq!(d.irq_lines(), 1);
            wr(&mut d, STATUS, STATUS_PERIOD, t);
            assert_eq!(d.irq_lines(), 0);
        }
        assert_eq!(rd(&mut d, FRAMES, t), 24);
        let expect: Vec<i16> = (0..24)
            .map(|n| tone.sample_at(n as f64 / 8000.0, 0))
            .collect();
        assert_eq!(mem.samples(0, 24), expect);
        assert!(expect.iter().any(|&s| s > 10_000));
        // An input never plays anything.
        assert!(d.take_audio().is_empty());
    }

    #[test]
    fn stereo_input_from_recorded_samples() {
        // A stereo recording at 8 kHz: frame i is (i, -i).
        let data: Vec<i16> = (0..100).flat_map(|i| [i, -i]).collect();
        let rec = AudioSource::Samples {
            rate: 8000,
            channels: 2,
            data: Arc::new(data),
            looped: false,
        };
        let (mut d, mut mem) = input(rec, 64, 16, 2);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        step(&mut d, &mut mem);
        step(&mut d, &mut mem);
        let t = step(&mut d, &mut mem);
        // 4 frames per period.
        assert_eq!(t, 8 * 3125);
        assert_eq!(
            mem.samples(0, 16),
            [0, 0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7]
        );
        // The source can change at any time; it applies from the next period.
        assert!(d.set_audio_source(AudioSource::Silence));
        step(&mut d, &mut mem);
        assert_eq!(mem.samples(32, 8), [0; 8]);
    }

    #[test]
    fn overrun_drops_periods_until_the_guest_reads() {
        // Frame i of the recording is i, so a sample tells its frame.
        let rec = AudioSource::Samples {
            rate: 8000,
            channels: 1,
            data: Arc::new((0..1000).collect()),
            looped: false,
        };
        let (mut d, mut mem) = input(rec, 32, 8, 1);
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_XRUN_IE, 0);
        step(&mut d, &mut mem);
        // Three periods fit (the ring never becomes full).
        for _ in 0..3 {
            step(&mut d, &mut mem);
        }
        assert_eq!(rd(&mut d, WRITE_PTR, 0), 24);
        assert_eq!(d.irq_lines(), 0);
        // The fourth is lost.
        let t = step(&mut d, &mut mem);
        assert_eq!(rd(&mut d, WRITE_PTR, t), 24);
        assert_eq!(
            rd(&mut d, STATUS, t),
            STATUS_RUNNING | STATUS_PERIOD | STATUS_XRUN
        );
        assert_eq!(rd(&mut d, XRUNS, t), 1);
        assert_eq!(rd(&mut d, FRAMES, t), 12);
        assert_eq!(d.irq_lines(), 1);
        // The guest consumes a period; the next one (frames 16..20) fits.
        wr(&mut d, READ_PTR, 8, t);
        let t = step(&mut d, &mut mem);
        assert_eq!(rd(&mut d, WRITE_PTR, t), 0);
        assert_eq!(
            mem.samples(0, 16),
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19]
        );
        assert_eq!(rd(&mut d, XRUNS, t), 1);
        assert_eq!(rd(&mut d, FRAMES, t), 16);
        // READ_PTR is the guest's; WRITE_PTR is not.
        wr(&mut d, WRITE_PTR, 4, t);
        assert_eq!(rd(&mut d, WRITE_PTR, t), 0);
        wr(&mut d, READ_PTR, 32, t);
        assert_eq!(rd(&mut d, READ_PTR, t), 8);
    }

    #[test]
    fn unusable_configurations_are_refused() {
        let cases: [(u32, u32, u32); 5] = [
            (0, 8, 1),   // no ring
            (32, 0, 1),  // no period
            (36, 8, 1),  // ring not a multiple of the period
            (32, 6, 2),  // period not whole stereo frames
            (30, 15, 1), // period not whole samples
        ];
        for (size, period, channels) in cases {
            let mut d = AudioOut::new(CLK, 1);
            configure(&mut d, size, period, 8000, channels);
            wr(&mut d, CTRL, CTRL_ENABLE | CTRL_PERIOD_IE, 10);
            assert_eq!(rd(&mut d, CTRL, 10), CTRL_PERIOD_IE, "{size} {period}");
            assert_eq!(rd(&mut d, STATUS, 10), STATUS_CONFIG_ERROR);
            assert_eq!(d.next_deadline(), None);
            assert_eq!(d.irq_lines(), 0);
            wr(&mut d, STATUS, STATUS_CONFIG_ERROR, 10);
            assert_eq!(rd(&mut d, STATUS, 10), 0);
        }
        let mut d = AudioIn::new(CLK, 2);
        configure(&mut d, 32, 8, 8000, 2);
        wr(&mut d, CTRL, CTRL_ENABLE, 10);
        assert_eq!(rd(&mut d, STATUS, 10), STATUS_RUNNING);
    }

    #[test]
    fn a_ring_outside_memory_is_a_bus_error() {
        // Output: the ring runs past the end of memory. Checked at the
        // start, before any fetch.
        let mut d = AudioOut::new(CLK, 1);
        let mut mem = Mem::new(48);
        configure(&mut d, 64, 8, 8000, 1);
        wr(&mut d, WRITE_PTR, 16, 0);
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_PERIOD_IE, 0);
        step(&mut d, &mut mem);
        assert_eq!(rd(&mut d, STATUS, 0), STATUS_BUS_ERROR);
        assert_eq!(rd(&mut d, CTRL, 0), CTRL_PERIOD_IE);
        assert_eq!(rd(&mut d, READ_PTR, 0), 0);
        assert_eq!(rd(&mut d, FRAMES, 0), 0);
        assert_eq!(d.next_deadline(), None);
        assert_eq!(d.irq_lines(), 0);
        assert!(d.take_audio().is_empty());
        wr(&mut d, STATUS, STATUS_BUS_ERROR, 0);
        assert_eq!(rd(&mut d, STATUS, 0), 0);
        // Output may read ROM.
        let mut rom = Mem::new(64);
        rom.read_only = true;
        wr(&mut d, CTRL, CTRL_ENABLE, 1);
        step(&mut d, &mut rom);
        assert_eq!(rd(&mut d, STATUS, 1), STATUS_RUNNING | STATUS_PERIOD);

        // Input cannot write ROM.
        let (mut d, mut mem) = input(AudioSource::Silence, 32, 8, 1);
        mem.read_only = true;
        wr(&mut d, CTRL, CTRL_ENABLE, 5);
        assert_eq!(step(&mut d, &mut mem), 5);
        assert_eq!(rd(&mut d, STATUS, 5), STATUS_BUS_ERROR);
        assert_eq!(d.next_deadline(), None);

        // A transfer that fails later (memory shrank under the device)
        // stops the run at that period.
        let mut d = AudioOut::new(CLK, 1);
        let mut mem = Mem::new(32);
        configure(&mut d, 32, 8, 8000, 1);
        mem.put(0, &[1, 2, 3, 4, 5, 6, 7, 8]);
        wr(&mut d, WRITE_PTR, 16, 0);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        step(&mut d, &mut mem);
        mem.data.truncate(8);
        service(&mut d, &mut mem, 30_000);
        assert_eq!(rd(&mut d, STATUS, 30_000), STATUS_PERIOD | STATUS_BUS_ERROR);
        assert_eq!(rd(&mut d, READ_PTR, 30_000), 8);
        let chunks = d.take_audio();
        assert_eq!(chunks[0].samples, [1, 2, 3, 4]);
    }

    #[test]
    fn status_is_write_one_to_clear() {
        let mut d = AudioOut::new(CLK, 1);
        let mut mem = Mem::new(32);
        configure(&mut d, 32, 8, 8000, 1);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        step(&mut d, &mut mem);
        let all = STATUS_RUNNING | STATUS_PERIOD | STATUS_XRUN;
        assert_eq!(rd(&mut d, STATUS, 0), all);
        wr(&mut d, STATUS, 0, 0);
        assert_eq!(rd(&mut d, STATUS, 0), all);
        // RUNNING cannot be written.
        wr(&mut d, STATUS, STATUS_RUNNING | STATUS_PERIOD, 0);
        assert_eq!(rd(&mut d, STATUS, 0), STATUS_RUNNING | STATUS_XRUN);
        d.write(STATUS, 1, STATUS_XRUN, 0);
        assert_eq!(rd(&mut d, STATUS, 0), STATUS_RUNNING);
        assert_eq!(d.read(STATUS, 1, 0), STATUS_RUNNING);
    }

    #[test]
    fn interrupt_line_follows_status_and_enables() {
        let mut d = AudioOut::new(CLK, 1);
        let mut mem = Mem::new(32);
        configure(&mut d, 32, 8, 8000, 1);
        mem.put(0, &[1; 4]);
        wr(&mut d, WRITE_PTR, 8, 0);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        step(&mut d, &mut mem);
        assert_eq!(rd(&mut d, STATUS, 0), STATUS_RUNNING | STATUS_PERIOD);
        assert_eq!(d.irq_lines(), 0);
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_XRUN_IE, 0);
        assert_eq!(d.irq_lines(), 0);
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_PERIOD_IE, 0);
        assert_eq!(d.irq_lines(), 1);
        wr(&mut d, STATUS, STATUS_PERIOD, 0);
        assert_eq!(d.irq_lines(), 0);
        // The next fetch underruns: PERIOD and XRUN.
        let t = step(&mut d, &mut mem);
        assert_eq!(d.irq_lines(), 1);
        wr(&mut d, STATUS, STATUS_PERIOD, t);
        assert_eq!(d.irq_lines(), 0);
        wr(&mut d, CTRL, CTRL_ENABLE | CTRL_XRUN_IE, t);
        assert_eq!(d.irq_lines(), 1);
        // Stopping leaves the flags (and the line) as they are.
        wr(&mut d, CTRL, CTRL_XRUN_IE, t);
        assert_eq!(d.irq_lines(), 1);
        wr(&mut d, STATUS, 0xffff_ffff, t);
        assert_eq!(d.irq_lines(), 0);
        // Errors do not interrupt.
        wr(&mut d, PERIOD, 0, t);
        wr(&mut d, CTRL, 0xffff_ffff, t);
        assert_eq!(rd(&mut d, STATUS, t), STATUS_CONFIG_ERROR);
        assert_eq!(rd(&mut d, CTRL, t), CTRL_PERIOD_IE | CTRL_XRUN_IE);
        assert_eq!(d.irq_lines(), 0);
    }

    #[test]
    fn registers_reset_clamp_and_lock_while_running() {
        let mut d = AudioOut::new(CLK, 7);
        assert_eq!(d.kind(), "audio-out");
        assert_eq!(d.window(), 0x1000);
        assert_eq!(rd(&mut d, ID, 0), OUT_ID);
        assert_eq!(d.read(ID + 2, 2, 0), 0x4155);
        assert_eq!(rd(&mut d, RATE, 0), 48_000);
        assert_eq!(rd(&mut d, CHANNELS, 0), 2);
        assert_eq!(rd(&mut d, 0x30, 0), 0);
        wr(&mut d, RATE, 1, 0);
        assert_eq!(rd(&mut d, RATE, 0), RATE_MIN);
        wr(&mut d, RATE, 96_000, 0);
        assert_eq!(rd(&mut d, RATE, 0), RATE_MAX);
        wr(&mut d, CHANNELS, 0, 0);
        assert_eq!(rd(&mut d, CHANNELS, 0), 1);
        wr(&mut d, CHANNELS, 3, 0);
        assert_eq!(rd(&mut d, CHANNELS, 0), 2);
        // Narrow writes are zero-extended; unaligned ones ignored.
        d.write(RATE, 2, 11_025, 0);
        assert_eq!(rd(&mut d, RATE, 0), 11_025);
        d.write(RATE + 1, 1, 0xff, 0);
        assert_eq!(rd(&mut d, RATE, 0), 11_025);
        // Pointers stay inside the ring; a new ring starts empty at 0.
        configure(&mut d, 64, 16, 8000, 1);
        wr(&mut d, WRITE_PTR, 64, 0);
        assert_eq!(rd(&mut d, WRITE_PTR, 0), 0);
        wr(&mut d, WRITE_PTR, 48, 0);
        wr(&mut d, READ_PTR, 16, 0);
        assert_eq!((rd(&mut d, READ_PTR, 0), rd(&mut d, WRITE_PTR, 0)), (0, 48));
        wr(&mut d, BUF_SIZE, 64, 0);
        assert_eq!(rd(&mut d, WRITE_PTR, 0), 0);
        wr(&mut d, WRITE_PTR, 48, 0);
        // While running the configuration is locked.
        let mut mem = Mem::new(64);
        wr(&mut d, CTRL, CTRL_ENABLE, 0);
        step(&mut d, &mut mem);
        for (reg, v) in [
            (BUF_BASE, 0),
            (BUF_SIZE, 32),
            (PERIOD, 8),
            (RATE, 48_000),
            (CHANNELS, 2),
        ] {
            let before = rd(&mut d, reg, 0);
            wr(&mut d, reg, v, 0);
            assert_eq!(rd(&mut d, reg, 0), before);
        }
        assert_eq!(rd(&mut d, READ_PTR, 0), 16);
        // Reset stops the run, keeps what was heard and restores the
        // power-on values.
        service(&mut d, &mut mem, 3125);
        d.reset();
        assert_eq!(d.next_deadline(), None);
        assert_eq!(d.take_audio()[0].samples.len(), 1);
        for (reg, v) in [
            (CTRL, 0),
            (STATUS, 0),
            (BUF_SIZE, 0),
            (PERIOD, 0),
            (READ_PTR, 0),
            (WRITE_PTR, 0),
            (RATE, 48_000),
            (CHANNELS, 2),
            (FRAMES, 0),
            (XRUNS, 0),
        ] {
            assert_eq!(rd(&mut d, reg, 5000), v, "{reg:#x}");
        }
        let mut i = AudioIn::new(CLK, 0);
        assert_eq!(i.kind(), "audio-in");
        assert_eq!(rd(&mut i, CHANNELS, 0), 1);
        let mut o = AudioOut::new(CLK, 1);
        assert!(!o.set_audio_source(AudioSource::Silence));
    }
}
