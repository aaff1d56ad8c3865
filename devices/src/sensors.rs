//! Ensemble sensor hub "SNS1": the board's sensors as channels of one
//! device, each sampled at its own rate into its own FIFO (no real chip;
//! Ensemble's own design).
//!
//! The guest-facing documentation is `images/include/sensors.h`; this
//! comment is the model's summary.
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x000 | ID | RO | 0x534E_5331 ("SNS1") |
//! | 0x004 | NUM_CHANNELS | RO | channels present, 0..16 |
//! | 0x008 | INT_STATUS | RO | bit c: channel c's FIFO holds at least THRESHOLD samples |
//! | 0x00C | INT_ENABLE | RW | bit c enables channel c (bits of absent channels read 0), reset 0 |
//! | 0x100 + 0x40 c | channel c | | registers below, offsets within the channel |
//! | +0x00 | TYPE | RO | [`SensorKind::type_code`], 1..9 |
//! | +0x04 | AXES | RO | 1 or 3 |
//! | +0x08 | CTRL | RW | b0 ENABLE, reset 0 |
//! | +0x0C | RATE_MHZ | RW | samples per 1000 s, 1..1_000_000 (clamped), reset 1000 (1 Hz) |
//! | +0x10 | VALUE_X | RO | latest sample, signed milli-units, reset 0 |
//! | +0x14 | VALUE_Y | RO | (0 on 1-axis channels) |
//! | +0x18 | VALUE_Z | RO | (0 on 1-axis channels) |
//! | +0x1C | FIFO_COUNT | RO | samples in the FIFO, 0..32 (a partly read one counts) |
//! | +0x20 | FIFO_DATA | RO | pops one value: X, Y, Z of the oldest sample (X only for 1 axis); 0 when empty |
//! | +0x24 | STATUS | RO/W1C | b0 READY (FIFO not empty), b1 OVERFLOW (W1C) |
//! | +0x28 | THRESHOLD | RW | 1..32 (clamped), reset 1 |
//! | +0x2C | TIMESTAMP | RO | latest sample's virtual time in µs, low 32 bits |
//!
//! Registers are 32-bit: a read of any size returns the bytes it covers
//! (any read inside FIFO_DATA pops a value); a write must be at the
//! register's own offset and a narrow write is zero-extended. Other writes
//! are ignored, unassigned offsets and absent channels read 0.
//!
//! Interrupt line 0 = (INT_STATUS & INT_ENABLE) != 0.
//!
//! # Values
//!
//! A channel reads a physical quantity in the SI unit of its
//! [`SensorKind`] from a [`SensorSource`] given by the environment
//! ([`Device::set_sensor`]; each kind has a default). A sample's value is
//! the source at the sample's *absolute* virtual time in seconds (ticks
//! since the machine started / `clock_hz`), so a CSV trace written in
//! virtual time lines up with the machine's clock whenever the guest
//! enables the channel. The registers hold `round(value * 1000)`,
//! saturated to the i32 range. A new source applies from the next sample
//! taken.
//!
//! # Sampling (virtual time)
//!
//! Setting CTRL.ENABLE (from 0) at time T0 starts sampling: sample k is
//! taken at tick `T0 + floor(k * 1000 * clock_hz / RATE_MHZ)`, computed from
//! k with exact integer arithmetic so the schedule never drifts; sample 0
//! is taken at T0 itself. Each sample sets VALUE_X/Y/Z and TIMESTAMP and is
//! appended to the 32-sample FIFO; when the FIFO is full its oldest sample
//! is dropped and STATUS.OVERFLOW set (a partly read oldest sample is
//! dropped too, and FIFO_DATA starts again at X of the next). Samples due
//! while the model was not told the time are all taken when it is, each
//! with its own time and value. Clearing ENABLE stops sampling and keeps
//! the FIFO and latest values. A write that changes RATE_MHZ while the
//! channel is enabled restarts its schedule at the time of the write, as
//! clearing and setting ENABLE would (a sample at once).
//!
//! Reset returns every register to its reset value, stops sampling and
//! empties the FIFOs; the sources stay (they belong to the environment).

use std::collections::VecDeque;

use crate::{extract_read, zero_extend, Device, SensorSource, Ticks, WaveShape};

pub const ID: u64 = 0x000;
pub const NUM_CHANNELS: u64 = 0x004;
pub const INT_STATUS: u64 = 0x008;
pub const INT_ENABLE: u64 = 0x00c;
/// Offset of channel 0's registers; channel c is at `CHANNEL_BASE + c * CHANNEL_STRIDE`.
pub const CHANNEL_BASE: u64 = 0x100;
pub const CHANNEL_STRIDE: u64 = 0x40;

// Offsets within a channel's block.
pub const CH_TYPE: u64 = 0x00;
pub const CH_AXES: u64 = 0x04;
pub const CH_CTRL: u64 = 0x08;
pub const CH_RATE_MHZ: u64 = 0x0c;
pub const CH_VALUE_X: u64 = 0x10;
pub const CH_VALUE_Y: u64 = 0x14;
pub const CH_VALUE_Z: u64 = 0x18;
pub const CH_FIFO_COUNT: u64 = 0x1c;
pub const CH_FIFO_DATA: u64 = 0x20;
pub const CH_STATUS: u64 = 0x24;
pub const CH_THRESHOLD: u64 = 0x28;
pub const CH_TIMESTAMP: u64 = 0x2c;

pub const ID_VALUE: u32 = 0x534e_5331;

pub const CTRL_ENABLE: u32 = 1 << 0;
pub const STATUS_READY: u32 = 1 << 0;
pub const STATUS_OVERFLOW: u32 = 1 << 1;

/// Most channels a hub can have.
pub const MAX_CHANNELS: usize = 16;
/// Samples each channel's FIFO holds.
pub const FIFO_DEPTH: usize = 32;
pub const RATE_MIN: u32 = 1;
pub const RATE_MAX: u32 = 1_000_000;
/// RATE_MHZ after reset: one sample per second.
pub const RATE_RESET: u32 = 1000;

/// Size of the register window.
pub const WINDOW: u64 = 0x1000;

/// What a channel measures: its type code, axes and unit.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SensorKind {
    Accel,
    Gyro,
    Mag,
    Temperature,
    Humidity,
    Pressure,
    Light,
    HeartRate,
    Steps,
}

impl SensorKind {
    /// Every kind, in type-code order.
    pub const ALL: [SensorKind; 9] = [
        SensorKind::Accel,
        SensorKind::Gyro,
        SensorKind::Mag,
        SensorKind::Temperature,
        SensorKind::Humidity,
        SensorKind::Pressure,
        SensorKind::Light,
        SensorKind::HeartRate,
        SensorKind::Steps,
    ];

    /// The channel name used by [`Device::set_sensor`] and on command lines.
    pub fn name(self) -> &'static str {
        match self {
            SensorKind::Accel => "accel",
            SensorKind::Gyro => "gyro",
            SensorKind::Mag => "mag",
            SensorKind::Temperature => "temperature",
            SensorKind::Humidity => "humidity",
            SensorKind::Pressure => "pressure",
            SensorKind::Light => "light",
            SensorKind::HeartRate => "heart-rate",
            SensorKind::Steps => "steps",
        }
    }

    /// The kind called `name` (as [`SensorKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<SensorKind> {
        SensorKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The TYPE register value (`SENSOR_TYPE_*` in sensors.h), 1..9.
    pub fn type_code(self) -> u32 {
        match self {
            SensorKind::Accel => 1,
            SensorKind::Gyro => 2,
            SensorKind::Mag => 3,
            SensorKind::Temperature => 4,
            SensorKind::Humidity => 5,
            SensorKind::Pressure => 6,
            SensorKind::Light => 7,
            SensorKind::HeartRate => 8,
            SensorKind::Steps => 9,
        }
    }

    /// 3 for the vector sensors (accel, gyro, mag), 1 for the others.
    pub fn axes(self) -> u32 {
        match self {
            SensorKind::Accel | SensorKind::Gyro | SensorKind::Mag => 3,
            _ => 1,
        }
    }

    /// The unit of the values (the registers hold 1000 times them).
    pub fn unit(self) -> &'static str {
        match self {
            SensorKind::Accel => "m/s²",
            SensorKind::Gyro => "rad/s",
            SensorKind::Mag => "µT",
            SensorKind::Temperature => "°C",
            SensorKind::Humidity => "%RH",
            SensorKind::Pressure => "Pa",
            SensorKind::Light => "lx",
            SensorKind::HeartRate => "bpm",
            SensorKind::Steps => "steps",
        }
    }

    /// What the channel reads until the environment says otherwise: a
    /// device at rest, face up, indoors, worn by a calm person walking
    /// slowly.
    pub fn default_source(self) -> SensorSource {
        let one = |v: f64| SensorSource::Constant([v, 0.0, 0.0]);
        match self {
            SensorKind::Accel => SensorSource::Constant([0.0, 0.0, 9.81]),
            SensorKind::Gyro => SensorSource::Constant([0.0; 3]),
            SensorKind::Mag => SensorSource::Constant([20.0, 0.0, -40.0]),
            SensorKind::Temperature => one(21.5),
            SensorKind::Humidity => one(45.0),
            SensorKind::Pressure => one(101_325.0),
            SensorKind::Light => one(300.0),
            SensorKind::HeartRate => SensorSource::Waveform {
                shape: WaveShape::Sine,
                offset: [72.0, 0.0, 0.0],
                amplitude: [6.0, 0.0, 0.0],
                period_s: 20.0,
            },
            SensorKind::Steps => SensorSource::Ramp {
                start: [0.0; 3],
                per_second: [1.8, 0.0, 0.0],
            },
        }
    }
}

/// Seconds of virtual time at `tick`, without losing the fraction on
/// large tick counts.
fn seconds(tick: Ticks, clock_hz: u64) -> f64 {
    (tick / clock_hz) as f64 + (tick % clock_hz) as f64 / clock_hz as f64
}

/// A reading in the channel's unit as the registers hold it.
fn milli(v: f64) -> i32 {
    // NaN saturates to 0.
    (v * 1000.0).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

/// The part of a reading a channel with `axes` axes reports.
fn mask_axes(mut v: [f64; 3], axes: u32) -> [f64; 3] {
    for x in v.iter_mut().skip(axes as usize) {
        *x = 0.0;
    }
    v
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Channel {
    kind: SensorKind,
    source: SensorSource,
    enabled: bool,
    rate_mhz: u32,
    /// Time sampling started (sample 0).
    t0: Ticks,
    /// Index of the next sample to take.
    next_k: u64,
    value: [i32; 3],
    timestamp: u32,
    fifo: VecDeque<[i32; 3]>,
    /// Axis FIFO_DATA returns next from the oldest sample.
    axis: u32,
    overflow: bool,
    threshold: u32,
}

impl Channel {
    fn new(kind: SensorKind) -> Self {
        Channel {
            kind,
            source: kind.default_source(),
            enabled: false,
            rate_mhz: RATE_RESET,
            t0: 0,
            next_k: 0,
            value: [0; 3],
            timestamp: 0,
            fifo: VecDeque::with_capacity(FIFO_DEPTH),
            axis: 0,
            overflow: false,
            threshold: 1,
        }
    }

    /// Back to the reset state, keeping the kind and the source.
    fn reset(&mut self) {
        let source = std::mem::replace(&mut self.source, SensorSource::Constant([0.0; 3]));
        *self = Channel::new(self.kind);
        self.source = source;
    }

    /// Ticks of `clock_hz` between the start of sampling and sample `k`.
    fn offset_of(&self, k: u64, clock_hz: u64) -> u128 {
        k as u128 * 1000 * clock_hz as u128 / self.rate_mhz as u128
    }

    /// Time of sample `k` (saturating far beyond any real run).
    fn sample_time(&self, k: u64, clock_hz: u64) -> Ticks {
        (self.t0 as u128 + self.offset_of(k, clock_hz)).min(Ticks::MAX as u128) as Ticks
    }

    /// Index of the last sample due at or before `now`, if any: the largest
    /// k with floor(k * A / r) <= now - T0, i.e. k * A <= (now - T0 + 1) * r - 1.
    fn last_due(&self, now: Ticks, clock_hz: u64) -> Option<u64> {
        let elapsed = now.checked_sub(self.t0)? as u128;
        let per_sample = 1000 * clock_hz as u128;
        let k = ((elapsed + 1) * self.rate_mhz as u128 - 1) / per_sample;
        Some(k.min(u64::MAX as u128) as u64)
    }

    fn start(&mut self, now: Ticks) {
        self.enabled = true;
        self.t0 = now;
        self.next_k = 0;
    }

    /// Take every sample due by `now`.
    fn sample_until(&mut self, now: Ticks, clock_hz: u64) {
        if !self.enabled {
            return;
        }
        let Some(last) = self.last_due(now, clock_hz) else {
            return;
        };
        if last < self.next_k {
            return;
        }
        // Only the last FIFO_DEPTH samples can survive: the others would be
        // pushed and dropped again, which OVERFLOW and the FIFO show the
        // same way as skipping them.
        if last - self.next_k >= FIFO_DEPTH as u64 {
            self.fifo.clear();
            self.axis = 0;
            self.overflow = true;
            self.next_k = last + 1 - FIFO_DEPTH as u64;
        }
        for k in self.next_k..=last {
            let t = self.sample_time(k, clock_hz);
            self.take_sample(t, clock_hz);
        }
        self.next_k = last + 1;
    }

    fn take_sample(&mut self, t: Ticks, clock_hz: u64) {
        let v = mask_axes(self.source.value_at(seconds(t, clock_hz)), self.kind.axes());
        let sample = v.map(milli);
        self.value = sample;
        self.timestamp = (t as u128 * 1_000_000 / clock_hz as u128) as u32;
        if self.fifo.len() >= FIFO_DEPTH {
            self.fifo.pop_front();
            self.axis = 0;
            self.overflow = true;
        }
        self.fifo.push_back(sample);
    }

    fn next_deadline(&self, clock_hz: u64) -> Option<Ticks> {
        self.enabled
            .then(|| self.sample_time(self.next_k, clock_hz))
    }

    fn pop(&mut self) -> u32 {
        let Some(front) = self.fifo.front() else {
            return 0;
        };
        let v = front[self.axis as usize];
        self.axis += 1;
        if self.axis >= self.kind.axes() {
            self.axis = 0;
            self.fifo.pop_front();
        }
        v as u32
    }

    fn ready(&self) -> bool {
        self.fifo.len() >= self.threshold as usize
    }

    fn status(&self) -> u32 {
        let mut s = 0;
        if !self.fifo.is_empty() {
            s |= STATUS_READY;
        }
        if self.overflow {
            s |= STATUS_OVERFLOW;
        }
        s
    }

    fn register(&self, offset: u64) -> u32 {
        match offset {
            CH_TYPE => self.kind.type_code(),
            CH_AXES => self.kind.axes(),
            CH_CTRL => self.enabled as u32,
            CH_RATE_MHZ => self.rate_mhz,
            CH_VALUE_X => self.value[0] as u32,
            CH_VALUE_Y => self.value[1] as u32,
            CH_VALUE_Z => self.value[2] as u32,
            CH_FIFO_COUNT => self.fifo.len() as u32,
            CH_STATUS => self.status(),
            CH_THRESHOLD => self.threshold,
            CH_TIMESTAMP => self.timestamp,
            _ => 0,
        }
    }

    fn write(&mut self, offset: u64, v: u32, now: Ticks) {
        match offset {
            CH_CTRL => {
                let enable = v & CTRL_ENABLE != 0;
                if enable && !self.enabled {
                    self.start(now);
                }
                self.enabled = enable;
            }
            CH_RATE_MHZ => {
                let rate = v.clamp(RATE_MIN, RATE_MAX);
                if rate != self.rate_mhz {
                    self.rate_mhz = rate;
                    if self.enabled {
                        self.start(now);
                    }
                }
            }
            CH_STATUS if v & STATUS_OVERFLOW != 0 => self.overflow = false,
            CH_THRESHOLD => self.threshold = v.clamp(1, FIFO_DEPTH as u32),
            _ => {}
        }
    }
}

/// The hub: up to [`MAX_CHANNELS`] channels, each of a different
/// [`SensorKind`], named by their kind for [`Device::set_sensor`].
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SensorHub {
    clock_hz: u64,
    channels: Vec<Channel>,
    int_enable: u32,
    /// Latest time seen, so that time never runs backwards inside the model.
    now: Ticks,
}

impl SensorHub {
    /// A hub on a machine clocked at `clock_hz` with `channels` in register
    /// order. Panics with more than [`MAX_CHANNELS`] channels, or with a
    /// kind given twice (channels are named by their kind).
    pub fn new(clock_hz: u64, channels: &[SensorKind]) -> Self {
        assert!(clock_hz > 0, "sensor hub needs a clock");
        assert!(
            channels.len() <= MAX_CHANNELS,
            "sensor hub has at most {MAX_CHANNELS} channels"
        );
        for (i, k) in channels.iter().enumerate() {
            assert!(
                !channels[..i].contains(k),
                "sensor hub channel '{}' given twice",
                k.name()
            );
        }
        SensorHub {
            clock_hz,
            channels: channels.iter().map(|&k| Channel::new(k)).collect(),
            int_enable: 0,
            now: 0,
        }
    }

    /// The reading channel `name` would give at `now`, in its unit (axes the
    /// channel does not have read 0). `None` when there is no such channel.
    pub fn current_value(&self, name: &str, now: Ticks) -> Option<[f64; 3]> {
        let ch = self.channel(name)?;
        let v = ch.source.value_at(seconds(now, self.clock_hz));
        Some(mask_axes(v, ch.kind.axes()))
    }

    fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.kind.name() == name)
    }

    /// Take every sample due by `now`.
    fn sync(&mut self, now: Ticks) -> Ticks {
        self.now = self.now.max(now);
        for ch in &mut self.channels {
            ch.sample_until(self.now, self.clock_hz);
        }
        self.now
    }

    fn int_status(&self) -> u32 {
        self.channels
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ready())
            .fold(0, |acc, (i, _)| acc | 1 << i)
    }

    fn channel_mask(&self) -> u32 {
        ((1u64 << self.channels.len()) - 1) as u32
    }

    /// The channel whose block holds `offset`, with the offset inside it.
    fn channel_at(&self, offset: u64) -> Option<(usize, u64)> {
        let rel = offset.checked_sub(CHANNEL_BASE)?;
        let c = (rel / CHANNEL_STRIDE) as usize;
        (c < self.channels.len()).then_some((c, rel % CHANNEL_STRIDE))
    }
}

impl Device for SensorHub {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "sensor-hub"
    }

    fn window(&self) -> u64 {
        WINDOW
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        self.sync(now);
        if let Some((c, off)) = self.channel_at(offset) {
            let ch = &mut self.channels[c];
            let word = off & !3;
            let reg = if word == CH_FIFO_DATA {
                ch.pop()
            } else {
                ch.register(word)
            };
            return extract_read(reg, off, size);
        }
        let reg = match offset & !3 {
            ID => ID_VALUE,
            NUM_CHANNELS => self.channels.len() as u32,
            INT_STATUS => self.int_status(),
            INT_ENABLE => self.int_enable,
            _ => 0,
        };
        extract_read(reg, offset, size)
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        let now = self.sync(now);
        let v = zero_extend(value, size);
        if let Some((c, off)) = self.channel_at(offset) {
            let clock_hz = self.clock_hz;
            let ch = &mut self.channels[c];
            ch.write(off, v, now);
            // Sample 0 of a channel just enabled is due now.
            ch.sample_until(now, clock_hz);
            return;
        }
        if offset == INT_ENABLE {
            self.int_enable = v & self.channel_mask();
        }
    }

    fn reset(&mut self) {
        for ch in &mut self.channels {
            ch.reset();
        }
        self.int_enable = 0;
    }

    fn next_deadline(&self) -> Option<Ticks> {
        self.channels
            .iter()
            .filter_map(|c| c.next_deadline(self.clock_hz))
            .min()
    }

    fn advance(&mut self, now: Ticks) {
        self.sync(now);
    }

    fn irq_lines(&self) -> u32 {
        (self.int_status() & self.int_enable != 0) as u32
    }

    fn set_sensor(&mut self, channel: &str, source: SensorSource) -> bool {
        match self.channels.iter_mut().find(|c| c.kind.name() == channel) {
            Some(ch) => {
                ch.source = source;
                true
            }
            None => false,
        }
    }

    fn sensor_value(&self, channel: &str, now: Ticks) -> Option<[f64; 3]> {
        self.current_value(channel, now)
    }

    fn sensor_channels(&self) -> Vec<&'static str> {
        self.channels.iter().map(|c| c.kind.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOCK: u64 = 25_000_000;
    /// Ticks per second at 25 MHz.
    const T_S: u64 = CLOCK;

    fn rd(h: &mut SensorHub, offset: u64, now: Ticks) -> u32 {
        h.read(offset, 4, now)
    }

    fn wr(h: &mut SensorHub, offset: u64, value: u32, now: Ticks) {
        h.write(offset, 4, value, now)
    }

    /// Offset of register `reg` of channel `c`.
    fn ch(c: u64, reg: u64) -> u64 {
        CHANNEL_BASE + c * CHANNEL_STRIDE + reg
    }

    /// Run the device the way a machine does: wake at every deadline up to `t`.
    fn run_to(h: &mut SensorHub, t: Ticks) {
        while let Some(when) = h.next_deadline() {
            if when > t {
                break;
            }
            h.advance(when);
        }
        h.advance(t);
    }

    fn pop_all(h: &mut SensorHub, c: u64, now: Ticks) -> Vec<i32> {
        let n = rd(h, ch(c, CH_FIFO_COUNT), now) * rd(h, ch(c, CH_AXES), now);
        (0..n)
            .map(|_| rd(h, ch(c, CH_FIFO_DATA), now) as i32)
            .collect()
    }

    /// A value that tells the sample's time: milliseconds (one unit per
    /// second, so milli-units count ms).
    fn clock_source() -> SensorSource {
        SensorSource::Ramp {
            start: [0.0; 3],
            per_second: [1.0, 0.0, 0.0],
        }
    }

    /// Enable temperature channel 0 at `t0` with `rate_mhz` and check that
    /// sample k arrives at exactly `t0 + floor(k * period_num / period_den)`
    /// ticks and not one tick earlier, for `n` samples.
    fn check_timing(rate_mhz: u32, period_num: u64, period_den: u64, n: u64) {
        let mut h = SensorHub::new(CLOCK, &[SensorKind::Temperature]);
        h.set_sensor("temperature", clock_source());
        let t0 = 12_345;
        wr(&mut h, ch(0, CH_RATE_MHZ), rate_mhz, 0);
        wr(&mut h, ch(0, CH_THRESHOLD), 32, 0);
        wr(&mut h, ch(0, CH_CTRL), CTRL_ENABLE, t0);
        // Sample 0 at T0 itself.
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_COUNT), t0), 1);
        assert_eq!(rd(&mut h, ch(0, CH_TIMESTAMP), t0), (t0 / 25) as u32);
        h.read(ch(0, CH_FIFO_DATA), 4, t0);
        for k in 1..=n {
            let due = t0 + (k as u128 * period_num as u128 / period_den as u128) as u64;
            assert_eq!(h.next_deadline(), Some(due), "rate {rate_mhz} sample {k}");
            h.advance(due - 1);
            assert_eq!(
                rd(&mut h, ch(0, CH_FIFO_COUNT), due - 1),
                0,
                "sample {k} early"
            );
            h.advance(due);
            assert_eq!(rd(&mut h, ch(0, CH_FIFO_COUNT), due), 1, "sample {k} late");
            let us = (due as u128 * 1_000_000 / CLOCK as u128) as u32;
            assert_eq!(rd(&mut h, ch(0, CH_TIMESTAMP), due), us);
            // The value is the source at the sample's own time (in ms).
            let ms = (due as f64 / CLOCK as f64 * 1000.0).round() as i32;
            assert_eq!(rd(&mut h, ch(0, CH_VALUE_X), due) as i32, ms);
            assert_eq!(rd(&mut h, ch(0, CH_FIFO_DATA), due) as i32, ms);
        }
    }

    #[test]
    fn timing_1hz() {
        check_timing(1000, T_S, 1, 500);
    }

    #[test]
    fn timing_tenth_hz() {
        check_timing(100, 10 * T_S, 1, 200);
    }

    #[test]
    fn timing_50hz() {
        check_timing(50_000, T_S / 50, 1, 5000);
    }

    #[test]
    fn timing_1khz() {
        check_timing(1_000_000, T_S / 1000, 1, 20_000);
    }

    #[test]
    fn timing_3hz_rounds_down_without_drift() {
        // 8_333_333.3 ticks per sample: every third sample is exact again.
        check_timing(3000, T_S, 3, 3000);
        let h = {
            let mut h = SensorHub::new(CLOCK, &[SensorKind::Light]);
            wr(&mut h, ch(0, CH_RATE_MHZ), 3000, 0);
            wr(&mut h, ch(0, CH_CTRL), CTRL_ENABLE, 0);
            run_to(&mut h, 1000 * T_S - 1);
            h
        };
        // 3000 samples (k = 0..2999) in the first 1000 s, k = 3000 at 1000 s.
        assert_eq!(h.channels[0].next_k, 3000);
        assert_eq!(h.next_deadline(), Some(1000 * T_S));
    }

    #[test]
    fn late_advance_takes_every_sample_with_its_own_time() {
        let mut h = SensorHub::new(CLOCK, &[SensorKind::Steps]);
        h.set_sensor("steps", clock_source());
        wr(&mut h, ch(0, CH_RATE_MHZ), 1_000_000, 0);
        wr(&mut h, ch(0, CH_CTRL), CTRL_ENABLE, 0);
        // One call, 10 ms and a bit later: samples at 0..=10 ms.
        h.advance(10 * T_S / 1000 + 5);
        assert_eq!(pop_all(&mut h, 0, 0), (0..=10).collect::<Vec<_>>());
        assert_eq!(rd(&mut h, ch(0, CH_TIMESTAMP), 0), 10_000);
        assert_eq!(h.next_deadline(), Some(11 * T_S / 1000));
        assert_eq!(rd(&mut h, ch(0, CH_STATUS), 0), 0);
    }

    #[test]
    fn csv_trace_is_read_at_absolute_sample_times() {
        let trace = SensorSource::parse_csv("time,x,y,z\n0,0,0,0\n10,10,-20,5\n").unwrap();
        let temp = SensorSource::parse_csv("0,20\n10,30\n").unwrap();
        let mut h = SensorHub::new(CLOCK, &[SensorKind::Accel, SensorKind::Temperature]);
        assert!(h.set_sensor("accel", trace));
        assert!(h.set_sensor("temperature", temp));
        // 2 Hz from 2.5 s: samples at 2.5, 3.0, 3.5 s of virtual time.
        let t0 = 5 * T_S / 2;
        wr(&mut h, ch(0, CH_RATE_MHZ), 2000, 0);
        wr(&mut h, ch(0, CH_CTRL), CTRL_ENABLE, t0);
        // Temperature enabled at 5 s reads the trace at 5 s, not at 0.
        wr(&mut h, ch(1, CH_CTRL), CTRL_ENABLE, 5 * T_S);
        run_to(&mut h, 6 * T_S);
        assert_eq!(
            pop_all(&mut h, 0, 6 * T_S)[..9],
            [2500, -5000, 1250, 3000, -6000, 1500, 3500, -7000, 1750]
        );
        assert_eq!(pop_all(&mut h, 1, 6 * T_S), [25_000, 26_000]);
        assert_eq!(rd(&mut h, ch(1, CH_VALUE_X), 6 * T_S), 26_000);
        // Past the end the last value holds.
        run_to(&mut h, 20 * T_S);
        assert_eq!(rd(&mut h, ch(1, CH_VALUE_X), 20 * T_S), 30_000);
        assert_eq!(h.current_value("accel", 5 * T_S), Some([5.0, -10.0, 2.5]));
    }

    #[test]
    fn fifo_pops_x_y_z_and_new_sources_apply_from_the_next_sample() {
        let mut h = SensorHub::new(CLOCK, &[SensorKind::Gyro]);
        h.set_sensor("gyro", SensorSource::Constant([1.0, 2.0, -3.0]));
        wr(&mut h, ch(0, CH_CTRL), CTRL_ENABLE, 0);
        assert!(h.set_sensor("gyro", SensorSource::Constant([4.0, 5.0, 6.0])));
        // The sample at 0 already has the old values.
        assert_eq!(rd(&mut h, ch(0, CH_VALUE_Z), 0) as i32, -3000);
        run_to(&mut h, T_S);
        assert_eq!(rd(&mut h, ch(0, CH_VALUE_X), T_S), 4000);
        assert_eq!(rd(&mut h, ch(0, CH_VALUE_Y), T_S), 5000);
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_COUNT), T_S), 2);
        assert_eq!(rd(&mut h, ch(0, CH_STATUS), T_S), STATUS_READY);
        // The sample leaves the FIFO with its Z.
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_DATA), T_S), 1000);
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_DATA), T_S), 2000);
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_COUNT), T_S), 2);
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_DATA), T_S) as i32, -3000);
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_COUNT), T_S), 1);
        assert_eq!(pop_all(&mut h, 0, T_S), [4000, 5000, 6000]);
        assert_eq!(rd(&mut h, ch(0, CH_STATUS), T_S), 0);
        // Empty: reads 0 and pops nothing.
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_DATA), T_S), 0);
        // A byte read pops too, and returns the low byte.
        run_to(&mut h, 2 * T_S);
        assert_eq!(h.read(ch(0, CH_FIFO_DATA), 1, 2 * T_S), 4000 & 0xff);
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_DATA), 2 * T_S), 5000);
    }

    #[test]
    fn overflow_drops_the_oldest() {
        let mut h = SensorHub::new(CLOCK, &[SensorKind::Pressure, SensorKind::Accel]);
        h.set_sensor("pressure", clock_source());
        h.set_sensor("accel", clock_source());
        wr(&mut h, ch(0, CH_RATE_MHZ), 1_000_000, 0);
        wr(&mut h, ch(0, CH_CTRL), CTRL_ENABLE, 0);
        // Samples 0..=39 ms, one deadline at a time.
        run_to(&mut h, 39 * T_S / 1000);
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_COUNT), 39 * T_S / 1000), 32);
        assert_eq!(
            rd(&mut h, ch(0, CH_STATUS), 39 * T_S / 1000),
            STATUS_READY | STATUS_OVERFLOW
        );
        let t = 39 * T_S / 1000;
        assert_eq!(pop_all(&mut h, 0, t), (8..40).collect::<Vec<_>>());
        // OVERFLOW is write-1-to-clear; READY is read-only.
        wr(&mut h, ch(0, CH_STATUS), 0, t);
        assert_eq!(rd(&mut h, ch(0, CH_STATUS), t), STATUS_OVERFLOW);
        wr(&mut h, ch(0, CH_STATUS), STATUS_OVERFLOW | STATUS_READY, t);
        assert_eq!(rd(&mut h, ch(0, CH_STATUS), t), 0);

        // Far behind in one call: the same last 32 samples as stepping.
        h.advance(t + 1000 * T_S / 1000);
        let t = t + 1000 * T_S / 1000;
        assert_eq!(
            rd(&mut h, ch(0, CH_STATUS), t),
            STATUS_READY | STATUS_OVERFLOW
        );
        assert_eq!(pop_all(&mut h, 0, t), (1008..1040).collect::<Vec<_>>());
        assert_eq!(h.next_deadline(), Some(1040 * T_S / 1000));

        // A partly read 3-axis sample that is dropped: reading restarts at
        // X of the new oldest.
        wr(&mut h, ch(1, CH_RATE_MHZ), 1_000_000, t);
        wr(&mut h, ch(1, CH_CTRL), CTRL_ENABLE, t);
        run_to(&mut h, t + 31 * T_S / 1000);
        let t1 = t + 31 * T_S / 1000;
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_COUNT), t1), 32);
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_DATA), t1), 1039);
        run_to(&mut h, t1 + T_S / 1000);
        let t2 = t1 + T_S / 1000;
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_DATA), t2), 1040);
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_DATA), t2), 0);
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_DATA), t2), 0);
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_DATA), t2), 1041);
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_COUNT), t2), 31);
    }

    #[test]
    fn threshold_interrupt_clears_as_the_fifo_drains() {
        let mut h = SensorHub::new(CLOCK, &[SensorKind::Light, SensorKind::Mag]);
        wr(&mut h, ch(1, CH_THRESHOLD), 3, 0);
        assert_eq!(rd(&mut h, ch(1, CH_THRESHOLD), 0), 3);
        wr(&mut h, ch(1, CH_CTRL), CTRL_ENABLE, 0);
        run_to(&mut h, T_S);
        assert_eq!(rd(&mut h, INT_STATUS, T_S), 0);
        run_to(&mut h, 2 * T_S - 1);
        assert_eq!(rd(&mut h, INT_STATUS, 2 * T_S - 1), 0);
        run_to(&mut h, 2 * T_S);
        // Status is set whatever INT_ENABLE holds; the line needs it.
        assert_eq!(rd(&mut h, INT_STATUS, 2 * T_S), 0b10);
        assert_eq!(h.irq_lines(), 0);
        wr(&mut h, INT_ENABLE, 0b01, 2 * T_S);
        assert_eq!(h.irq_lines(), 0);
        wr(&mut h, INT_ENABLE, 0xffff_ffff, 2 * T_S);
        assert_eq!(rd(&mut h, INT_ENABLE, 2 * T_S), 0b11);
        assert_eq!(h.irq_lines(), 1);
        // Draining one whole sample (three values) lowers it.
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_DATA), 2 * T_S), 20_000);
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_DATA), 2 * T_S), 0);
        assert_eq!(h.irq_lines(), 1);
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_DATA), 2 * T_S) as i32, -40_000);
        assert_eq!(h.irq_lines(), 0);
        assert_eq!(rd(&mut h, INT_STATUS, 2 * T_S), 0);
        // The next sample raises it again.
        run_to(&mut h, 3 * T_S);
        assert_eq!(h.irq_lines(), 1);
        // THRESHOLD is clamped to 1..32, and takes effect at once.
        wr(&mut h, ch(1, CH_THRESHOLD), 99, 3 * T_S);
        assert_eq!(rd(&mut h, ch(1, CH_THRESHOLD), 3 * T_S), 32);
        assert_eq!(h.irq_lines(), 0);
        wr(&mut h, ch(1, CH_THRESHOLD), 0, 3 * T_S);
        assert_eq!(rd(&mut h, ch(1, CH_THRESHOLD), 3 * T_S), 1);
        assert_eq!(h.irq_lines(), 1);
        wr(&mut h, INT_ENABLE, 0, 3 * T_S);
        assert_eq!(h.irq_lines(), 0);
    }

    #[test]
    fn disabled_channels_produce_nothing() {
        let mut h = SensorHub::new(CLOCK, &[SensorKind::Accel, SensorKind::Humidity]);
        assert_eq!(h.next_deadline(), None);
        run_to(&mut h, 100 * T_S);
        for c in 0..2 {
            assert_eq!(rd(&mut h, ch(c, CH_FIFO_COUNT), 100 * T_S), 0);
            assert_eq!(rd(&mut h, ch(c, CH_VALUE_X), 100 * T_S), 0);
            assert_eq!(rd(&mut h, ch(c, CH_TIMESTAMP), 100 * T_S), 0);
        }
        // Enabled, then disabled: sampling stops, the FIFO stays.
        wr(&mut h, ch(1, CH_CTRL), CTRL_ENABLE, 100 * T_S);
        run_to(&mut h, 102 * T_S);
        wr(&mut h, ch(1, CH_CTRL), 0, 102 * T_S + 1);
        assert_eq!(h.next_deadline(), None);
        run_to(&mut h, 200 * T_S);
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_COUNT), 200 * T_S), 3);
        assert_eq!(rd(&mut h, ch(1, CH_VALUE_X), 200 * T_S), 45_000);
        assert_eq!(rd(&mut h, ch(1, CH_TIMESTAMP), 200 * T_S), 102_000_000);
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_COUNT), 200 * T_S), 0);
        // Writing ENABLE again while enabled does not restart the schedule.
        wr(&mut h, ch(1, CH_CTRL), CTRL_ENABLE, 200 * T_S);
        wr(&mut h, ch(1, CH_CTRL), CTRL_ENABLE, 200 * T_S + 7);
        assert_eq!(h.next_deadline(), Some(201 * T_S));
        assert_eq!(rd(&mut h, ch(1, CH_FIFO_COUNT), 200 * T_S + 7), 4);
    }

    #[test]
    fn rate_change_restarts_the_schedule() {
        let mut h = SensorHub::new(CLOCK, &[SensorKind::Temperature]);
        wr(&mut h, ch(0, CH_CTRL), CTRL_ENABLE, 0);
        let t = T_S / 2;
        // The same rate changes nothing.
        wr(&mut h, ch(0, CH_RATE_MHZ), 1000, t);
        assert_eq!(h.next_deadline(), Some(T_S));
        wr(&mut h, ch(0, CH_RATE_MHZ), 10_000, t);
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_COUNT), t), 2);
        assert_eq!(h.next_deadline(), Some(t + T_S / 10));
        wr(&mut h, ch(0, CH_RATE_MHZ), 0, t);
        assert_eq!(rd(&mut h, ch(0, CH_RATE_MHZ), t), RATE_MIN);
        wr(&mut h, ch(0, CH_RATE_MHZ), u32::MAX, t);
        assert_eq!(rd(&mut h, ch(0, CH_RATE_MHZ), t), RATE_MAX);
        assert_eq!(h.next_deadline(), Some(t + T_S / 1000));
    }

    #[test]
    fn registers_and_reset() {
        let kinds = [SensorKind::HeartRate, SensorKind::Accel, SensorKind::Steps];
        let mut h = SensorHub::new(CLOCK, &kinds);
        assert_eq!(rd(&mut h, ID, 0), ID_VALUE);
        // "SNS1" byte by byte, little-endian.
        assert_eq!(h.read(ID, 1, 0), 0x31);
        assert_eq!(h.read(ID + 3, 1, 0), 0x53);
        assert_eq!(h.read(ID + 2, 2, 0), 0x534e);
        assert_eq!(rd(&mut h, NUM_CHANNELS, 0), 3);
        assert_eq!(rd(&mut h, INT_STATUS, 0), 0);
        assert_eq!(rd(&mut h, INT_ENABLE, 0), 0);
        for (c, k) in kinds.iter().enumerate() {
            let c = c as u64;
            assert_eq!(rd(&mut h, ch(c, CH_TYPE), 0), k.type_code());
            assert_eq!(rd(&mut h, ch(c, CH_AXES), 0), k.axes());
            assert_eq!(rd(&mut h, ch(c, CH_CTRL), 0), 0);
            assert_eq!(rd(&mut h, ch(c, CH_RATE_MHZ), 0), 1000);
            assert_eq!(rd(&mut h, ch(c, CH_THRESHOLD), 0), 1);
            assert_eq!(rd(&mut h, ch(c, CH_STATUS), 0), 0);
            assert_eq!(rd(&mut h, ch(c, 0x30), 0), 0);
        }
        assert_eq!(rd(&mut h, ch(0, CH_TYPE), 0), 8);
        assert_eq!(rd(&mut h, ch(1, CH_AXES), 0), 3);
        assert_eq!(rd(&mut h, ch(2, CH_TYPE), 0), 9);
        // Absent channels and unassigned offsets read 0, ignore writes.
        wr(&mut h, ch(3, CH_CTRL), CTRL_ENABLE, 0);
        assert_eq!(rd(&mut h, ch(3, CH_TYPE), 0), 0);
        assert_eq!(rd(&mut h, ch(3, CH_CTRL), 0), 0);
        assert_eq!(rd(&mut h, 0x10, 0), 0);
        assert_eq!(rd(&mut h, 0x800, 0), 0);
        wr(&mut h, ch(0, CH_TYPE), 5, 0);
        assert_eq!(rd(&mut h, ch(0, CH_TYPE), 0), 8);
        // Narrow writes are zero-extended; unaligned ones ignored.
        h.write(ch(0, CH_THRESHOLD), 1, 0x105, 0);
        assert_eq!(rd(&mut h, ch(0, CH_THRESHOLD), 0), 5);
        h.write(ch(0, CH_THRESHOLD) + 1, 1, 0x7, 0);
        assert_eq!(rd(&mut h, ch(0, CH_THRESHOLD), 0), 5);
        // Default sources: heart rate at a quarter period, steps.
        wr(&mut h, ch(0, CH_CTRL), CTRL_ENABLE, 5 * T_S);
        assert_eq!(rd(&mut h, ch(0, CH_VALUE_X), 5 * T_S), 78_000);
        assert_eq!(rd(&mut h, ch(0, CH_VALUE_Y), 5 * T_S), 0);
        wr(&mut h, ch(1, CH_CTRL), CTRL_ENABLE, 5 * T_S);
        assert_eq!(rd(&mut h, ch(1, CH_VALUE_Z), 5 * T_S), 9810);
        wr(&mut h, ch(2, CH_CTRL), CTRL_ENABLE, 10 * T_S);
        assert_eq!(rd(&mut h, ch(2, CH_VALUE_X), 10 * T_S), 18_000);
        wr(&mut h, INT_ENABLE, 0b111, 10 * T_S);
        assert_eq!(h.irq_lines(), 1);

        // Reset: registers back, sampling stopped, sources kept.
        h.set_sensor("steps", SensorSource::Constant([7.0, 0.0, 0.0]));
        h.reset();
        assert_eq!(h.next_deadline(), None);
        assert_eq!(h.irq_lines(), 0);
        assert_eq!(rd(&mut h, INT_ENABLE, 11 * T_S), 0);
        assert_eq!(rd(&mut h, ch(0, CH_FIFO_COUNT), 11 * T_S), 0);
        assert_eq!(rd(&mut h, ch(0, CH_VALUE_X), 11 * T_S), 0);
        assert_eq!(rd(&mut h, ch(0, CH_THRESHOLD), 11 * T_S), 1);
        assert_eq!(rd(&mut h, ch(2, CH_CTRL), 11 * T_S), 0);
        wr(&mut h, ch(2, CH_CTRL), CTRL_ENABLE, 12 * T_S);
        assert_eq!(rd(&mut h, ch(2, CH_VALUE_X), 12 * T_S), 7000);
    }

    #[test]
    fn values_round_and_saturate() {
        let mut h = SensorHub::new(CLOCK, &[SensorKind::Mag]);
        h.set_sensor("mag", SensorSource::Constant([0.0015, -1e12, f64::NAN]));
        wr(&mut h, ch(0, CH_CTRL), CTRL_ENABLE, 0);
        assert_eq!(rd(&mut h, ch(0, CH_VALUE_X), 0), 2);
        assert_eq!(rd(&mut h, ch(0, CH_VALUE_Y), 0) as i32, i32::MIN);
        assert_eq!(rd(&mut h, ch(0, CH_VALUE_Z), 0), 0);
        // TIMESTAMP keeps the low 32 bits of the µs count.
        let mut h = SensorHub::new(CLOCK, &[SensorKind::Light]);
        let t = (1u64 << 32) * 25 + 250;
        wr(&mut h, ch(0, CH_CTRL), CTRL_ENABLE, t);
        assert_eq!(rd(&mut h, ch(0, CH_TIMESTAMP), t), 10);
    }

    #[test]
    fn channel_names() {
        let mut h = SensorHub::new(
            CLOCK,
            &[
                SensorKind::Temperature,
                SensorKind::HeartRate,
                SensorKind::Gyro,
            ],
        );
        assert_eq!(h.sensor_channels(), ["temperature", "heart-rate", "gyro"]);
        assert!(!h.set_sensor("nope", SensorSource::Constant([1.0; 3])));
        assert!(!h.set_sensor("accel", SensorSource::Constant([1.0; 3])));
        assert!(!h.set_sensor("Temperature", SensorSource::Constant([1.0; 3])));
        assert!(h.set_sensor("temperature", SensorSource::Constant([1.0, 2.0, 3.0])));
        assert_eq!(h.current_value("nope", 0), None);
        assert_eq!(h.current_value("accel", 0), None);
        // A 1-axis channel reports only X.
        assert_eq!(h.current_value("temperature", 0), Some([1.0, 0.0, 0.0]));
        assert_eq!(h.current_value("gyro", 0), Some([0.0; 3]));
        let hr = h.current_value("heart-rate", 15 * T_S).unwrap();
        assert!((hr[0] - 66.0).abs() < 1e-9);
        for (i, k) in SensorKind::ALL.into_iter().enumerate() {
            assert_eq!(k.type_code(), i as u32 + 1);
            assert_eq!(SensorKind::from_name(k.name()), Some(k));
            assert!(!k.unit().is_empty());
        }
        assert_eq!(SensorKind::HeartRate.name(), "heart-rate");
        assert_eq!(SensorKind::from_name("heart_rate"), None);
        assert_eq!(SensorKind::Mag.axes(), 3);
        assert_eq!(SensorKind::Pressure.axes(), 1);
    }

    #[test]
    #[should_panic(expected = "given twice")]
    fn duplicate_channels_are_refused() {
        SensorHub::new(CLOCK, &[SensorKind::Light, SensorKind::Light]);
    }

    #[test]
    fn every_kind_at_once() {
        let mut h = SensorHub::new(CLOCK, &SensorKind::ALL);
        assert_eq!(rd(&mut h, NUM_CHANNELS, 0), 9);
        wr(&mut h, INT_ENABLE, 0xffff_ffff, 0);
        assert_eq!(rd(&mut h, INT_ENABLE, 0), 0x1ff);
    }
}
