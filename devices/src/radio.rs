//! Ensemble packet radio "RAD1": an IEEE 802.15.4-like 2.4 GHz transceiver
//! for the smallest boards (no real chip; Ensemble's own design).
//!
//! The guest-facing documentation, with a driver recipe, is
//! `images/include/radio.h`; this comment is the model's summary.
//!
//! | offset | name | access | meaning |
//! | --- | --- | --- | --- |
//! | 0x00 | ID | RO | 0x5241_4431 ("RAD1") |
//! | 0x04 | CTRL | RW | b0 RX_ON, b3 ADDR_FILTER; b1 TX_START, b2 CCA_START (write 1 to start, read 0) |
//! | 0x08 | STATUS | RO | b0 TX_BUSY, b1 RX_PENDING, b2 CCA_BUSY (last CCA result), b3 RX_ON (listening), b4 RX_ACTIVE (frame on air being received), b5 CCA_ACTIVE |
//! | 0x0C | INT_EN | RW | b0 TX_DONE, b1 RX_DONE, b2 CCA_DONE, b3 RX_OVERFLOW |
//! | 0x10 | INT_STS | W1C | same bits; RX_DONE is RX_PENDING: clearing it frees the RX buffer |
//! | 0x14 | CHANNEL | RW | 11..26 (clamped), reset 11 |
//! | 0x18 | TX_POWER | RW | signed dBm, -20..+8 (clamped), reset 0; narrow writes sign-extended |
//! | 0x1C | SHORT_ADDR | RW | b15:0, reset 0xFFFF |
//! | 0x20 | PAN_ID | RW | b15:0, reset 0xFFFF |
//! | 0x24 | TX_LEN | RW | 0..127 (clamped), reset 0; TX_START with 0 does nothing |
//! | 0x28 | RX_LEN | RO | length of the frame in the RX buffer |
//! | 0x2C | RX_RSSI | RO | its signal strength, signed dBm, sign-extended |
//! | 0x30 | RX_LQI | RO | its link quality, 0..255 |
//! | 0x34 | RX_COUNT | RO | frames stored in the RX buffer since reset |
//! | 0x38 | TX_COUNT | RO | transmissions completed since reset |
//! | 0x3C | EUI | RO | 32-bit unique id given by the emulator (not changed by reset) |
//! | 0x40 | RX_DROPPED | RO | frames lost: overflow, collision, reception aborted |
//! | 0x100..0x17F | TX_BUF | RW | frame to send, any access size, little-endian |
//! | 0x200..0x27F | RX_BUF | RO | last frame received |
//!
//! Registers below 0x100 are 32-bit: a read of any size returns the bytes
//! it covers; a write must be at the register's own offset, and a narrow
//! write is zero-extended (TX_POWER: sign-extended) as on the CMSDK
//! peripherals. Writes elsewhere are ignored, unassigned offsets read 0.
//!
//! Interrupt line 0 = (INT_STS & INT_EN) != 0. INT_STS bits are set by
//! their events whatever INT_EN holds.
//!
//! # Timing (virtual time)
//!
//! 250 kbit/s O-QPSK: one byte is 32 µs, and a PSDU of n bytes occupies the
//! air for (n + 6) * 32 µs (4 bytes preamble, SFD, PHR). TX_START sets
//! TX_BUSY and hands the frame to the medium at once (it appears in
//! [`Device::take_frames`] at the time of the write); TX_BUSY clears and
//! TX_DONE is raised when the airtime has passed. CCA_START measures the
//! channel for 128 µs (8 symbols) and then raises CCA_DONE with the result
//! in STATUS.CCA_BUSY. Durations are converted to ticks of `clock_hz`,
//! rounded up (exact at 25 MHz: 800 ticks per byte, 3200 per CCA).
//!
//! There is no FCS (the medium delivers frames intact, so TX_LEN is the
//! whole PSDU), no automatic acknowledgement and no retransmission.
//!
//! # Frames exchanged with the medium
//!
//! [`Device`] carries only bytes, so the radio metadata travels in a small
//! header in front of the PSDU (use the helpers below rather than building
//! it by hand):
//!
//! - sent ([`Device::take_frames`], one entry per TX_START, taken at the
//!   start of the transmission): `[channel u8, tx_power i8, airtime_us u32
//!   LE, PSDU...]` ([`encode_tx`], [`decode_tx`]);
//! - received ([`Device::receive_frame`]): `[channel u8, rssi i8, lqi u8,
//!   end_delay_us u32 LE, PSDU...]` ([`encode_rx`], [`decode_rx`]), where
//!   `end_delay_us` says how long after `now` the frame finishes on air.
//!
//! Three kinds of delivery, by `end_delay_us` and the PSDU:
//!
//! - a frame still on air (delay > 0): the radio sees the channel busy
//!   until its end (CCA), locks onto it if it listens, judges overlaps
//!   itself and completes the reception, raising RX_DONE, at the end;
//! - a carrier (delay > 0, empty PSDU): only energy on that channel until
//!   the end, for CCA (and it ruins a reception in progress there);
//! - a frame already over on air (delay 0): received at once if RX_ON is
//!   set and the radio is not locked onto another frame; the medium that
//!   delivers it this late has judged collisions and whether the receiver
//!   was sending during it, so energy on the channel now (later frames)
//!   and a transmission started since do not matter.
//!
//! Ensemble's wireless medium uses the last two: a carrier as soon as the
//! lockstep lets it tell the receivers (the first quantum boundary after
//! the frame starts), the frame once every overlapping transmission is
//! known (after it ends). The medium chooses RSSI and LQI; the radio only
//! reports them.
//!
//! # Reception
//!
//! The radio hears every frame and carrier while the environment has it
//! powered ([`Device::set_link`]): whether or not the receiver is on, the
//! energy keeps that channel busy until its end (CCA is busy when the end
//! of energy heard on the channel the radio is tuned to, or of the radio's
//! own transmission, lies after the start of the CCA; energy heard on
//! another channel counts after tuning to it). A frame is then received if the receiver is listening
//! (CTRL.RX_ON and not transmitting) and, with CTRL.ADDR_FILTER, if it is an
//! 802.15.4 data frame (frame type 1) with a 16-bit destination address
//! whose destination PAN is PAN_ID or 0xFFFF and whose destination address
//! is SHORT_ADDR or 0xFFFF. Otherwise it is ignored, silently.
//!
//! The radio locks onto one frame at a time. A frame that starts while
//! energy from another is still on the channel collides with it: both are
//! lost. A reception in progress is also lost when TX_START, clearing
//! RX_ON, changing CHANNEL or a power-off interrupts it. When the frame
//! ends, it is stored in the RX buffer (RX_LEN, RX_RSSI, RX_LQI latched,
//! RX_COUNT incremented, INT_STS.RX_DONE set), unless RX_DONE is still set
//! from the previous frame: then it is dropped and RX_OVERFLOW is raised.
//! Every lost frame the receiver would otherwise have stored counts in
//! RX_DROPPED.
//!
//! [`Device::set_link`]`(false)` switches the radio off from outside (out
//! of range, jammed antenna): nothing is heard, and transmissions run
//! their course (TX_DONE as usual) but never reach the medium. The guest
//! cannot tell. Reset does not change it.

use crate::{extract_read, zero_extend, Device, Ticks};

pub const ID: u64 = 0x00;
pub const CTRL: u64 = 0x04;
pub const STATUS: u64 = 0x08;
pub const INT_EN: u64 = 0x0c;
pub const INT_STS: u64 = 0x10;
pub const CHANNEL: u64 = 0x14;
pub const TX_POWER: u64 = 0x18;
pub const SHORT_ADDR: u64 = 0x1c;
pub const PAN_ID: u64 = 0x20;
pub const TX_LEN: u64 = 0x24;
pub const RX_LEN: u64 = 0x28;
pub const RX_RSSI: u64 = 0x2c;
pub const RX_LQI: u64 = 0x30;
pub const RX_COUNT: u64 = 0x34;
pub const TX_COUNT: u64 = 0x38;
pub const EUI: u64 = 0x3c;
pub const RX_DROPPED: u64 = 0x40;
pub const TX_BUF: u64 = 0x100;
pub const RX_BUF: u64 = 0x200;
/// Size of each frame buffer window (the last byte is never sent).
pub const BUF_SIZE: u64 = 0x80;

pub const ID_VALUE: u32 = 0x5241_4431;

pub const CTRL_RX_ON: u32 = 1 << 0;
pub const CTRL_TX_START: u32 = 1 << 1;
pub const CTRL_CCA_START: u32 = 1 << 2;
pub const CTRL_ADDR_FILTER: u32 = 1 << 3;
/// The CTRL bits that are stored (the others are commands).
const CTRL_KEPT: u32 = CTRL_RX_ON | CTRL_ADDR_FILTER;

pub const STATUS_TX_BUSY: u32 = 1 << 0;
pub const STATUS_RX_PENDING: u32 = 1 << 1;
pub const STATUS_CCA_BUSY: u32 = 1 << 2;
pub const STATUS_RX_ON: u32 = 1 << 3;
pub const STATUS_RX_ACTIVE: u32 = 1 << 4;
pub const STATUS_CCA_ACTIVE: u32 = 1 << 5;

pub const INT_TX_DONE: u32 = 1 << 0;
pub const INT_RX_DONE: u32 = 1 << 1;
pub const INT_CCA_DONE: u32 = 1 << 2;
pub const INT_RX_OVERFLOW: u32 = 1 << 3;
const INT_ALL: u32 = 0xf;

pub const CHANNEL_MIN: u8 = 11;
pub const CHANNEL_MAX: u8 = 26;
const CHANNELS: usize = (CHANNEL_MAX - CHANNEL_MIN + 1) as usize;
pub const TX_POWER_MIN: i8 = -20;
pub const TX_POWER_MAX: i8 = 8;
/// Largest PSDU (802.15.4 aMaxPHYPacketSize).
pub const MAX_PSDU: usize = 127;
/// Preamble (4), SFD (1) and PHR (1) bytes sent before the PSDU.
pub const PHY_OVERHEAD_BYTES: u32 = 6;
/// Airtime of one byte at 250 kbit/s.
pub const US_PER_BYTE: u32 = 32;
/// Duration of a clear channel assessment (8 symbols of 16 µs).
pub const CCA_US: u32 = 128;
/// Bytes in front of the PSDU in a frame from [`Device::take_frames`].
pub const TX_HEADER_LEN: usize = 6;
/// Bytes in front of the PSDU in a frame given to [`Device::receive_frame`].
pub const RX_HEADER_LEN: usize = 7;
/// The broadcast PAN id and short address.
pub const BROADCAST: u16 = 0xffff;

/// Airtime in µs of a PSDU of `psdu_len` bytes.
pub fn airtime_us(psdu_len: usize) -> u32 {
    (psdu_len as u32 + PHY_OVERHEAD_BYTES) * US_PER_BYTE
}

/// A transmission as the radio hands it to the medium.
pub fn encode_tx(channel: u8, tx_power_dbm: i8, airtime_us: u32, psdu: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(TX_HEADER_LEN + psdu.len());
    v.push(channel);
    v.push(tx_power_dbm as u8);
    v.extend_from_slice(&airtime_us.to_le_bytes());
    v.extend_from_slice(psdu);
    v
}

/// Split a frame from [`Device::take_frames`] into (channel, TX power in
/// dBm, airtime in µs, PSDU). `None` if it is too short to hold the header.
pub fn decode_tx(frame: &[u8]) -> Option<(u8, i8, u32, &[u8])> {
    if frame.len() < TX_HEADER_LEN {
        return None;
    }
    let airtime = u32::from_le_bytes(frame[2..6].try_into().ok()?);
    Some((frame[0], frame[1] as i8, airtime, &frame[TX_HEADER_LEN..]))
}

/// A frame for [`Device::receive_frame`]: heard on `channel` with the given
/// signal strength and link quality, finishing `end_delay_us` after the
/// time of delivery.
pub fn encode_rx(channel: u8, rssi_dbm: i8, lqi: u8, end_delay_us: u32, psdu: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(RX_HEADER_LEN + psdu.len());
    v.push(channel);
    v.push(rssi_dbm as u8);
    v.push(lqi);
    v.extend_from_slice(&end_delay_us.to_le_bytes());
    v.extend_from_slice(psdu);
    v
}

/// Split a frame built by [`encode_rx`] into (channel, RSSI in dBm, LQI,
/// end delay in µs, PSDU). `None` if it is too short to hold the header.
pub fn decode_rx(frame: &[u8]) -> Option<(u8, i8, u8, u32, &[u8])> {
    if frame.len() < RX_HEADER_LEN {
        return None;
    }
    let delay = u32::from_le_bytes(frame[3..7].try_into().ok()?);
    Some((
        frame[0],
        frame[1] as i8,
        frame[2],
        delay,
        &frame[RX_HEADER_LEN..],
    ))
}

/// The destination (PAN id, short address) of an 802.15.4 data frame with
/// a 16-bit destination address, as the address filter reads it: frame
/// control (2 bytes LE: type in b2:0 = 1, destination mode in b11:10 = 2),
/// sequence number, destination PAN (LE), destination address (LE).
/// `None` for any other frame.
pub fn data_frame_dest(psdu: &[u8]) -> Option<(u16, u16)> {
    if psdu.len() < 7 {
        return None;
    }
    let fc = u16::from_le_bytes([psdu[0], psdu[1]]);
    let frame_type = fc & 0x7;
    let dest_mode = (fc >> 10) & 0x3;
    if frame_type != 1 || dest_mode != 2 {
        return None;
    }
    let pan = u16::from_le_bytes([psdu[3], psdu[4]]);
    let addr = u16::from_le_bytes([psdu[5], psdu[6]]);
    Some((pan, addr))
}

/// A frame being received: stored in the RX buffer when it ends.
#[derive(serde::Serialize, serde::Deserialize)]
struct Incoming {
    psdu: Vec<u8>,
    rssi: i8,
    lqi: u8,
    end: Ticks,
    /// Another frame overlapped it: it will be lost.
    collided: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Radio {
    clock_hz: u64,
    eui: u32,
    /// RX_ON and ADDR_FILTER.
    ctrl: u32,
    int_en: u32,
    int_sts: u32,
    channel: u8,
    tx_power: i8,
    short_addr: u16,
    pan_id: u16,
    tx_len: u8,
    rx_len: u8,
    rx_rssi: i8,
    rx_lqi: u8,
    rx_count: u32,
    tx_count: u32,
    rx_dropped: u32,
    cca_busy: bool,
    #[serde(with = "crate::big_array")]
    tx_buf: [u8; BUF_SIZE as usize],
    #[serde(with = "crate::big_array")]
    rx_buf: [u8; BUF_SIZE as usize],
    /// End of the transmission in progress.
    tx_end: Option<Ticks>,
    /// (start, end) of the CCA in progress.
    cca: Option<(Ticks, Ticks)>,
    incoming: Option<Incoming>,
    /// Energy heard on each channel (11..26) until these times: frames on
    /// air and carriers the medium reports.
    heard_until: [Ticks; CHANNELS],
    /// End of our own latest transmission, which counts as energy on
    /// whatever channel the radio is tuned to.
    own_until: Ticks,
    /// Transmissions not yet collected by take_frames.
    sent: Vec<Vec<u8>>,
    /// Switched on by the environment (set_link).
    powered: bool,
    /// Latest time seen, so that time never runs backwards inside the model.
    now: Ticks,
}

impl Radio {
    /// A radio on a machine clocked at `clock_hz`, with the unique id `eui`
    /// that the EUI register reports.
    pub fn new(clock_hz: u64, eui: u32) -> Self {
        Radio {
            clock_hz,
            eui,
            ctrl: 0,
            int_en: 0,
            int_sts: 0,
            channel: CHANNEL_MIN,
            tx_power: 0,
            short_addr: BROADCAST,
            pan_id: BROADCAST,
            tx_len: 0,
            rx_len: 0,
            rx_rssi: 0,
            rx_lqi: 0,
            rx_count: 0,
            tx_count: 0,
            rx_dropped: 0,
            cca_busy: false,
            tx_buf: [0; BUF_SIZE as usize],
            rx_buf: [0; BUF_SIZE as usize],
            tx_end: None,
            cca: None,
            incoming: None,
            heard_until: [0; CHANNELS],
            own_until: 0,
            sent: Vec::new(),
            powered: true,
            now: 0,
        }
    }

    /// `us` microseconds in ticks, rounded up.
    fn ticks(&self, us: u32) -> Ticks {
        (us as u128 * self.clock_hz as u128).div_ceil(1_000_000) as Ticks
    }

    /// Complete everything that ended by `now`.
    fn sync(&mut self, now: Ticks) -> Ticks {
        self.now = self.now.max(now);
        let now = self.now;
        if self.tx_end.is_some_and(|end| end <= now) {
            self.tx_end = None;
            self.tx_count = self.tx_count.wrapping_add(1);
            self.int_sts |= INT_TX_DONE;
        }
        if let Some((start, end)) = self.cca {
            if end <= now {
                self.cca = None;
                self.cca_busy = self.energy_until() > start;
                self.int_sts |= INT_CCA_DONE;
            }
        }
        if self.incoming.as_ref().is_some_and(|f| f.end <= now) {
            let f = self.incoming.take().expect("checked above");
            self.finish_reception(f);
        }
        now
    }

    fn finish_reception(&mut self, f: Incoming) {
        if f.collided {
            self.rx_dropped = self.rx_dropped.wrapping_add(1);
        } else if self.int_sts & INT_RX_DONE != 0 {
            self.int_sts |= INT_RX_OVERFLOW;
            self.rx_dropped = self.rx_dropped.wrapping_add(1);
        } else {
            self.rx_buf[..f.psdu.len()].copy_from_slice(&f.psdu);
            self.rx_len = f.psdu.len() as u8;
            self.rx_rssi = f.rssi;
            self.rx_lqi = f.lqi;
            self.rx_count = self.rx_count.wrapping_add(1);
            self.int_sts |= INT_RX_DONE;
        }
    }

    /// A reception in progress is cut short (TX, RX off, channel change).
    fn abort_reception(&mut self) {
        if self.incoming.take().is_some() {
            self.rx_dropped = self.rx_dropped.wrapping_add(1);
        }
    }

    /// Until when the channel the radio is tuned to carries energy.
    fn energy_until(&self) -> Ticks {
        self.heard_until[(self.channel - CHANNEL_MIN) as usize].max(self.own_until)
    }

    fn listening(&self) -> bool {
        self.ctrl & CTRL_RX_ON != 0 && self.tx_end.is_none()
    }

    fn passes_filter(&self, psdu: &[u8]) -> bool {
        if self.ctrl & CTRL_ADDR_FILTER == 0 {
            return true;
        }
        match data_frame_dest(psdu) {
            Some((pan, addr)) => {
                (pan == self.pan_id || pan == BROADCAST)
                    && (addr == self.short_addr || addr == BROADCAST)
            }
            None => false,
        }
    }

    fn start_tx(&mut self, now: Ticks) {
        if self.tx_end.is_some() || self.tx_len == 0 {
            return;
        }
        self.abort_reception();
        let len = self.tx_len as usize;
        let airtime = airtime_us(len);
        let end = now + self.ticks(airtime);
        self.tx_end = Some(end);
        self.own_until = self.own_until.max(end);
        if self.powered {
            self.sent.push(encode_tx(
                self.channel,
                self.tx_power,
                airtime,
                &self.tx_buf[..len],
            ));
        }
    }

    fn status(&self) -> u32 {
        let mut s = 0;
        if self.tx_end.is_some() {
            s |= STATUS_TX_BUSY;
        }
        if self.int_sts & INT_RX_DONE != 0 {
            s |= STATUS_RX_PENDING;
        }
        if self.cca_busy {
            s |= STATUS_CCA_BUSY;
        }
        if self.listening() {
            s |= STATUS_RX_ON;
        }
        if self.incoming.is_some() {
            s |= STATUS_RX_ACTIVE;
        }
        if self.cca.is_some() {
            s |= STATUS_CCA_ACTIVE;
        }
        s
    }

    fn register(&self, offset: u64) -> u32 {
        match offset {
            ID => ID_VALUE,
            CTRL => self.ctrl,
            STATUS => self.status(),
            INT_EN => self.int_en,
            INT_STS => self.int_sts,
            CHANNEL => self.channel as u32,
            TX_POWER => self.tx_power as i32 as u32,
            SHORT_ADDR => self.short_addr as u32,
            PAN_ID => self.pan_id as u32,
            TX_LEN => self.tx_len as u32,
            RX_LEN => self.rx_len as u32,
            RX_RSSI => self.rx_rssi as i32 as u32,
            RX_LQI => self.rx_lqi as u32,
            RX_COUNT => self.rx_count,
            TX_COUNT => self.tx_count,
            EUI => self.eui,
            RX_DROPPED => self.rx_dropped,
            _ => 0,
        }
    }

    fn read_buf(buf: &[u8], index: u64, size: u8) -> u32 {
        (0..size as u64)
            .map(|i| buf.get((index + i) as usize).copied().unwrap_or(0) as u32)
            .enumerate()
            .fold(0, |acc, (i, b)| acc | b << (8 * i))
    }
}

impl Device for Radio {
    crate::state_by_serde!();

    fn kind(&self) -> &'static str {
        "radio"
    }

    fn window(&self) -> u64 {
        0x1000
    }

    fn read(&mut self, offset: u64, size: u8, now: Ticks) -> u32 {
        self.sync(now);
        match offset {
            TX_BUF..=0x17f => Self::read_buf(&self.tx_buf, offset - TX_BUF, size),
            RX_BUF..=0x27f => Self::read_buf(&self.rx_buf, offset - RX_BUF, size),
            0..=0xff => extract_read(self.register(offset & !3), offset, size),
            _ => 0,
        }
    }

    fn write(&mut self, offset: u64, size: u8, value: u32, now: Ticks) {
        let now = self.sync(now);
        if (TX_BUF..TX_BUF + BUF_SIZE).contains(&offset) {
            for i in 0..size as u64 {
                if let Some(b) = self.tx_buf.get_mut((offset - TX_BUF + i) as usize) {
                    *b = (value >> (8 * i)) as u8;
                }
            }
            return;
        }
        let v = zero_extend(value, size);
        match offset {
            CTRL => {
                let was_on = self.ctrl & CTRL_RX_ON != 0;
                self.ctrl = v & CTRL_KEPT;
                if was_on && self.ctrl & CTRL_RX_ON == 0 {
                    self.abort_reception();
                }
                if v & CTRL_CCA_START != 0 {
                    self.cca = Some((now, now + self.ticks(CCA_US)));
                }
                if v & CTRL_TX_START != 0 {
                    self.start_tx(now);
                }
            }
            INT_EN => self.int_en = v & INT_ALL,
            INT_STS => self.int_sts &= !(v & INT_ALL),
            CHANNEL => {
                let ch = v.clamp(CHANNEL_MIN as u32, CHANNEL_MAX as u32) as u8;
                if ch != self.channel {
                    self.channel = ch;
                    self.abort_reception();
                }
            }
            TX_POWER => {
                let bits = 32 - 8 * size.min(4) as u32;
                let dbm = ((v << bits) as i32) >> bits;
                self.tx_power = dbm.clamp(TX_POWER_MIN as i32, TX_POWER_MAX as i32) as i8;
            }
            SHORT_ADDR => self.short_addr = v as u16,
            PAN_ID => self.pan_id = v as u16,
            TX_LEN => self.tx_len = v.min(MAX_PSDU as u32) as u8,
            _ => {}
        }
    }

    fn reset(&mut self) {
        // Transmissions already handed out are on the air: keep them.
        let sent = std::mem::take(&mut self.sent);
        let (clock_hz, eui, powered, now) = (self.clock_hz, self.eui, self.powered, self.now);
        *self = Radio::new(clock_hz, eui);
        self.sent = sent;
        self.powered = powered;
        self.now = now;
    }

    fn next_deadline(&self) -> Option<Ticks> {
        [
            self.tx_end,
            self.cca.map(|c| c.1),
            self.incoming.as_ref().map(|f| f.end),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn advance(&mut self, now: Ticks) {
        self.sync(now);
    }

    fn irq_lines(&self) -> u32 {
        (self.int_sts & self.int_en != 0) as u32
    }

    fn wants_service(&self) -> bool {
        !self.sent.is_empty()
    }

    fn take_frames(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.sent)
    }

    /// True when the radio started receiving the frame (it may still be
    /// lost to a collision or an overflow when it ends).
    fn receive_frame(&mut self, frame: &[u8], now: Ticks) -> bool {
        let now = self.sync(now);
        let Some((channel, rssi, lqi, delay_us, psdu)) = decode_rx(frame) else {
            return false;
        };
        if !self.powered || !(CHANNEL_MIN..=CHANNEL_MAX).contains(&channel) || psdu.len() > MAX_PSDU
        {
            return false;
        }
        let tuned = channel == self.channel;
        let for_us = !psdu.is_empty() && tuned && self.passes_filter(psdu);
        if delay_us == 0 {
            // Over on air already: the medium has judged collisions and
            // whether we were sending meanwhile (a transmission started
            // since does not matter), only an enabled receiver counts.
            if !for_us || self.ctrl & CTRL_RX_ON == 0 {
                return false;
            }
            if let Some(f) = self.incoming.as_mut() {
                // Locked onto another frame: both are lost.
                f.collided = true;
                self.rx_dropped = self.rx_dropped.wrapping_add(1);
                return false;
            }
            let f = Incoming {
                psdu: psdu.to_vec(),
                rssi,
                lqi,
                end: now,
                collided: false,
            };
            self.finish_reception(f);
            return true;
        }
        // On air until `end`: energy on its channel, which also ruins a
        // frame being received there.
        let end = now + self.ticks(delay_us);
        let overlaps = tuned && self.energy_until() > now;
        let heard = &mut self.heard_until[(channel - CHANNEL_MIN) as usize];
        *heard = (*heard).max(end);
        if tuned {
            if let Some(f) = self.incoming.as_mut() {
                f.collided = true;
            }
        }
        if !for_us || !self.listening() {
            return false;
        }
        if overlaps {
            self.rx_dropped = self.rx_dropped.wrapping_add(1);
            return false;
        }
        self.incoming = Some(Incoming {
            psdu: psdu.to_vec(),
            rssi,
            lqi,
            end,
            collided: false,
        });
        true
    }

    fn set_link(&mut self, up: bool) {
        if !up && self.powered {
            self.abort_reception();
            self.heard_until = [0; CHANNELS];
        }
        self.powered = up;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOCK: u64 = 25_000_000;
    /// Ticks per µs at 25 MHz.
    const T_US: u64 = 25;

    fn radio() -> Radio {
        Radio::new(CLOCK, 0x1234_0002)
    }

    fn rd(r: &mut Radio, offset: u64, now: Ticks) -> u32 {
        r.read(offset, 4, now)
    }

    fn wr(r: &mut Radio, offset: u64, value: u32, now: Ticks) {
        r.write(offset, 4, value, now)
    }

    /// Run the device the way a machine does: wake at every deadline up to `t`.
    fn run_to(r: &mut Radio, t: Ticks) {
        while let Some(when) = r.next_deadline() {
            if when > t {
                break;
            }
            r.advance(when);
        }
        r.advance(t);
    }

    /// A broadcast-capable data frame: FC 0x8841 (data, PAN id compression,
    /// short destination and source), sequence, PAN, destination, source,
    /// payload.
    fn data_frame(pan: u16, dest: u16, src: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x41, 0x88, 7];
        f.extend_from_slice(&pan.to_le_bytes());
        f.extend_from_slice(&dest.to_le_bytes());
        f.extend_from_slice(&src.to_le_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn rx_frame(channel: u8, delay_us: u32, psdu: &[u8]) -> Vec<u8> {
        encode_rx(channel, -52, 230, delay_us, psdu)
    }

    fn listening_radio() -> Radio {
        let mut r = radio();
        wr(&mut r, INT_EN, INT_ALL, 0);
        wr(&mut r, CTRL, CTRL_RX_ON, 0);
        r
    }

    fn rx_buf(r: &mut Radio, now: Ticks) -> Vec<u8> {
        let len = rd(r, RX_LEN, now) as u64;
        (0..len).map(|i| r.read(RX_BUF + i, 1, now) as u8).collect()
    }

    #[test]
    fn reset_values() {
        let mut r = radio();
        let expect = [
            (ID, ID_VALUE),
            (CTRL, 0),
            (STATUS, 0),
            (INT_EN, 0),
            (INT_STS, 0),
            (CHANNEL, 11),
            (TX_POWER, 0),
            (SHORT_ADDR, 0xffff),
            (PAN_ID, 0xffff),
            (TX_LEN, 0),
            (RX_LEN, 0),
            (RX_RSSI, 0),
            (RX_LQI, 0),
            (RX_COUNT, 0),
            (TX_COUNT, 0),
            (EUI, 0x1234_0002),
            (RX_DROPPED, 0),
        ];
        for (off, v) in expect {
            assert_eq!(rd(&mut r, off, 0), v, "offset {off:#x}");
        }
        assert_eq!(r.next_deadline(), None);
        assert_eq!(r.irq_lines(), 0);
        // "RAD1" byte by byte, little-endian.
        assert_eq!(r.read(ID, 1, 0), 0x31);
        assert_eq!(r.read(ID + 3, 1, 0), 0x52);
        assert_eq!(r.read(ID + 2, 2, 0), 0x5241);

        // Everything but the EUI returns to these values on reset.
        wr(&mut r, CHANNEL, 20, 0);
        wr(&mut r, SHORT_ADDR, 7, 0);
        wr(&mut r, TX_LEN, 3, 0);
        wr(&mut r, CTRL, CTRL_RX_ON | CTRL_TX_START, 0);
        r.reset();
        assert_eq!(rd(&mut r, CHANNEL, 1), 11);
        assert_eq!(rd(&mut r, SHORT_ADDR, 1), 0xffff);
        assert_eq!(rd(&mut r, STATUS, 1), 0);
        assert_eq!(rd(&mut r, EUI, 1), 0x1234_0002);
        assert_eq!(r.next_deadline(), None);
        // The frame that went on air before the reset is still reported.
        assert_eq!(r.take_frames().len(), 1);
    }

    #[test]
    fn register_ranges_are_clamped() {
        let mut r = radio();
        wr(&mut r, CHANNEL, 5, 0);
        assert_eq!(rd(&mut r, CHANNEL, 0), 11);
        wr(&mut r, CHANNEL, 99, 0);
        assert_eq!(rd(&mut r, CHANNEL, 0), 26);
        wr(&mut r, TX_POWER, -30i32 as u32, 0);
        assert_eq!(rd(&mut r, TX_POWER, 0), -20i32 as u32);
        wr(&mut r, TX_POWER, 20, 0);
        assert_eq!(rd(&mut r, TX_POWER, 0), 8);
        // A byte write is sign-extended: 0xFB is -5 dBm.
        r.write(TX_POWER, 1, 0xfb, 0);
        assert_eq!(rd(&mut r, TX_POWER, 0), -5i32 as u32);
        wr(&mut r, TX_LEN, 200, 0);
        assert_eq!(rd(&mut r, TX_LEN, 0), 127);
        wr(&mut r, SHORT_ADDR, 0xdead_beef, 0);
        assert_eq!(rd(&mut r, SHORT_ADDR, 0), 0xbeef);
        // Read-only registers ignore writes; command bits read 0.
        wr(&mut r, EUI, 0, 0);
        wr(&mut r, RX_COUNT, 5, 0);
        assert_eq!(rd(&mut r, EUI, 0), 0x1234_0002);
        assert_eq!(rd(&mut r, RX_COUNT, 0), 0);
        wr(&mut r, CTRL, 0xff, 0);
        assert_eq!(rd(&mut r, CTRL, 0), CTRL_RX_ON | CTRL_ADDR_FILTER);
    }

    #[test]
    fn tx_done_exactly_at_the_airtime() {
        let mut r = radio();
        wr(&mut r, INT_EN, INT_TX_DONE, 0);
        wr(&mut r, CHANNEL, 15, 0);
        wr(&mut r, TX_POWER, -3i32 as u32, 0);
        // Word, halfword and byte writes to the TX buffer.
        wr(&mut r, TX_BUF, 0x0403_0201, 0);
        r.write(TX_BUF + 4, 2, 0x0605, 0);
        r.write(TX_BUF + 6, 1, 0x07, 0);
        assert_eq!(rd(&mut r, TX_BUF + 4, 0), 0x0007_0605);
        wr(&mut r, TX_LEN, 7, 0);
        let start = 1000;
        wr(&mut r, CTRL, CTRL_TX_START, start);
        assert_eq!(rd(&mut r, CTRL, start), 0);
        assert_eq!(rd(&mut r, STATUS, start), STATUS_TX_BUSY);
        // Handed to the medium at the start: (7 + 6) * 32 = 416 µs.
        let frames = r.take_frames();
        assert_eq!(frames.len(), 1);
        assert_eq!(
            decode_tx(&frames[0]),
            Some((15, -3, 416, &[1u8, 2, 3, 4, 5, 6, 7][..]))
        );
        assert_eq!(frames[0][..6], [15, 0xfd, 0xa0, 0x01, 0, 0]);
        let end = start + 416 * T_US;
        assert_eq!(r.next_deadline(), Some(end));
        // A second TX_START while busy is ignored.
        wr(&mut r, CTRL, CTRL_TX_START, start + 10);
        assert!(r.take_frames().is_empty());
        run_to(&mut r, end - 1);
        assert_eq!(r.irq_lines(), 0);
        assert_eq!(rd(&mut r, STATUS, end - 1), STATUS_TX_BUSY);
        run_to(&mut r, end);
        assert_eq!(r.irq_lines(), 1);
        assert_eq!(rd(&mut r, STATUS, end), 0);
        assert_eq!(rd(&mut r, INT_STS, end), INT_TX_DONE);
        assert_eq!(rd(&mut r, TX_COUNT, end), 1);
        assert_eq!(r.next_deadline(), None);
        wr(&mut r, INT_STS, INT_TX_DONE, end);
        assert_eq!(r.irq_lines(), 0);
        // TX_LEN 0 sends nothing.
        wr(&mut r, TX_LEN, 0, end);
        wr(&mut r, CTRL, CTRL_TX_START, end);
        assert_eq!(rd(&mut r, STATUS, end), 0);
        assert!(r.take_frames().is_empty());
    }

    #[test]
    fn airtime_rounds_up_on_odd_clocks() {
        // 1 µs is 0.3 ticks at 300 kHz: 128 µs -> 38.4 -> 39 ticks.
        let mut r = Radio::new(300_000, 1);
        wr(&mut r, CTRL, CTRL_CCA_START, 0);
        assert_eq!(r.next_deadline(), Some(39));
    }

    #[test]
    fn receives_on_its_channel_with_rssi_and_lqi() {
        let mut r = listening_radio();
        let psdu = data_frame(0x1234, BROADCAST, 2, b"hi");
        // Delivered at the start of the frame, ending 416 µs later.
        assert!(r.receive_frame(&encode_rx(11, -52, 230, 416, &psdu), 100));
        assert_eq!(rd(&mut r, STATUS, 100), STATUS_RX_ON | STATUS_RX_ACTIVE);
        let end = 100 + 416 * T_US;
        assert_eq!(r.next_deadline(), Some(end));
        run_to(&mut r, end - 1);
        assert_eq!(r.irq_lines(), 0);
        run_to(&mut r, end);
        assert_eq!(r.irq_lines(), 1);
        assert_eq!(rd(&mut r, INT_STS, end), INT_RX_DONE);
        assert_eq!(rd(&mut r, STATUS, end), STATUS_RX_ON | STATUS_RX_PENDING);
        assert_eq!(rd(&mut r, RX_LEN, end), psdu.len() as u32);
        assert_eq!(rd(&mut r, RX_RSSI, end), -52i32 as u32);
        assert_eq!(r.read(RX_RSSI, 1, end), 0xcc);
        assert_eq!(rd(&mut r, RX_LQI, end), 230);
        assert_eq!(rd(&mut r, RX_COUNT, end), 1);
        assert_eq!(rx_buf(&mut r, end), psdu);
        assert_eq!(rd(&mut r, RX_BUF, end), 0x3407_8841);
        // Writing RX_DONE frees the buffer and lowers the line.
        wr(&mut r, INT_STS, INT_RX_DONE, end);
        assert_eq!(rd(&mut r, STATUS, end), STATUS_RX_ON);
        assert_eq!(r.irq_lines(), 0);
        // The RX buffer is read-only.
        wr(&mut r, RX_BUF, 0, end);
        assert_eq!(rd(&mut r, RX_BUF, end), 0x3407_8841);
    }

    #[test]
    fn delivered_at_its_end_is_received_at_once() {
        let mut r = listening_radio();
        assert!(r.receive_frame(&rx_frame(11, 0, b"xyz"), 500));
        assert_eq!(rd(&mut r, INT_STS, 500), INT_RX_DONE);
        assert_eq!(rx_buf(&mut r, 500), b"xyz");
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn rejects_other_channels_and_needs_rx_on() {
        let mut r = listening_radio();
        assert!(!r.receive_frame(&rx_frame(12, 0, b"a"), 0));
        wr(&mut r, CHANNEL, 12, 0);
        assert!(r.receive_frame(&rx_frame(12, 0, b"a"), 0));
        assert_eq!(rd(&mut r, RX_COUNT, 0), 1);
        wr(&mut r, INT_STS, INT_RX_DONE, 0);
        wr(&mut r, CTRL, 0, 0);
        assert_eq!(rd(&mut r, STATUS, 0), 0);
        assert!(!r.receive_frame(&rx_frame(12, 0, b"b"), 1));
        assert_eq!(rd(&mut r, RX_COUNT, 1), 1);
        assert_eq!(rd(&mut r, INT_STS, 1), 0);
        // Malformed or oversized frames are ignored.
        wr(&mut r, CTRL, CTRL_RX_ON, 1);
        assert!(!r.receive_frame(&[12, 0, 0], 2));
        assert!(!r.receive_frame(&rx_frame(12, 0, &[]), 2));
        assert!(!r.receive_frame(&rx_frame(12, 0, &[0; 128]), 2));
        assert!(r.receive_frame(&rx_frame(12, 0, &[0; 127]), 2));
    }

    #[test]
    fn address_filter() {
        let mut r = listening_radio();
        wr(&mut r, PAN_ID, 0x1234, 0);
        wr(&mut r, SHORT_ADDR, 0x0002, 0);
        wr(&mut r, CTRL, CTRL_RX_ON | CTRL_ADDR_FILTER, 0);
        let cases: [(Vec<u8>, bool); 8] = [
            (data_frame(0x1234, 0x0002, 1, b"to me"), true),
            (data_frame(0x1234, BROADCAST, 1, b"bcast"), true),
            (data_frame(BROADCAST, 0x0002, 1, b"any pan"), true),
            (data_frame(BROADCAST, BROADCAST, 1, b"all"), true),
            (data_frame(0x1234, 0x0003, 1, b"other"), false),
            (data_frame(0x4321, 0x0002, 1, b"other pan"), false),
            // An acknowledgement (type 2) and a too-short frame.
            (vec![0x02, 0x00, 7], false),
            (vec![0x41, 0x88, 7, 0x34, 0x12, 0x02], false),
        ];
        for (i, (psdu, ok)) in cases.iter().enumerate() {
            let t = i as Ticks * 10;
            assert_eq!(r.receive_frame(&rx_frame(11, 0, psdu), t), *ok, "case {i}");
            assert_eq!(rd(&mut r, INT_STS, t) & INT_RX_DONE != 0, *ok, "case {i}");
            wr(&mut r, INT_STS, INT_ALL, t);
        }
        // Extended (64-bit) destination addressing does not pass.
        let mut ext = data_frame(0x1234, 0x0002, 1, b"");
        ext[1] = 0xcc;
        assert!(!r.receive_frame(&rx_frame(11, 0, &ext), 100));
        // Without the filter everything passes.
        wr(&mut r, CTRL, CTRL_RX_ON, 100);
        assert!(r.receive_frame(&rx_frame(11, 0, &ext), 100));
        assert_eq!(rd(&mut r, RX_DROPPED, 100), 0);
    }

    #[test]
    fn overflow_when_the_buffer_is_still_full() {
        let mut r = listening_radio();
        wr(&mut r, INT_EN, INT_RX_OVERFLOW, 0);
        assert!(r.receive_frame(&encode_rx(11, -40, 200, 0, b"first"), 0));
        assert_eq!(r.irq_lines(), 0);
        // Accepted at its start, lost at its end.
        assert!(r.receive_frame(&encode_rx(11, -90, 10, 100, b"second"), 10));
        run_to(&mut r, 10 + 100 * T_US);
        assert_eq!(rd(&mut r, INT_STS, 3000), INT_RX_DONE | INT_RX_OVERFLOW);
        assert_eq!(r.irq_lines(), 1);
        assert_eq!(rx_buf(&mut r, 3000), b"first");
        assert_eq!(rd(&mut r, RX_RSSI, 3000), -40i32 as u32);
        assert_eq!(rd(&mut r, RX_LQI, 3000), 200);
        assert_eq!(rd(&mut r, RX_COUNT, 3000), 1);
        assert_eq!(rd(&mut r, RX_DROPPED, 3000), 1);
        wr(&mut r, INT_STS, INT_RX_DONE | INT_RX_OVERFLOW, 3000);
        assert!(r.receive_frame(&encode_rx(11, -90, 10, 0, b"third"), 3000));
        assert_eq!(rx_buf(&mut r, 3000), b"third");
        assert_eq!(rd(&mut r, RX_RSSI, 3000), -90i32 as u32);
    }

    #[test]
    fn overlapping_frames_collide() {
        let mut r = listening_radio();
        assert!(r.receive_frame(&rx_frame(11, 100, b"a"), 0));
        // Starts before "a" ends: both lost.
        assert!(!r.receive_frame(&rx_frame(11, 100, b"b"), 50 * T_US));
        run_to(&mut r, 1_000_000);
        assert_eq!(rd(&mut r, INT_STS, 1_000_000), 0);
        assert_eq!(rd(&mut r, RX_DROPPED, 1_000_000), 2);
        // Back to back is fine.
        let t = 1_000_000;
        assert!(r.receive_frame(&rx_frame(11, 100, b"c"), t));
        assert!(r.receive_frame(&rx_frame(11, 0, b"d"), t + 100 * T_US));
        assert_eq!(rx_buf(&mut r, t + 100 * T_US), b"c");
        assert_eq!(
            rd(&mut r, INT_STS, t + 100 * T_US),
            INT_RX_DONE | INT_RX_OVERFLOW
        );
    }

    #[test]
    fn transmitting_aborts_and_deafens_the_receiver() {
        let mut r = listening_radio();
        wr(&mut r, TX_LEN, 1, 0);
        assert!(r.receive_frame(&rx_frame(11, 1000, b"lost"), 0));
        wr(&mut r, CTRL, CTRL_RX_ON | CTRL_TX_START, 10);
        assert_eq!(rd(&mut r, RX_DROPPED, 10), 1);
        assert_eq!(rd(&mut r, STATUS, 10), STATUS_TX_BUSY);
        // The receiver is off until the transmission (7 * 32 µs) ends: a
        // frame on air is not heard. One that ended before it started
        // (delivered late, judged by the medium) still is.
        let tx_end = 10 + 7 * 32 * T_US;
        assert!(!r.receive_frame(&rx_frame(11, 10, b"deaf"), tx_end - 1));
        assert!(r.receive_frame(&rx_frame(11, 0, b"before"), tx_end - 1));
        wr(&mut r, INT_STS, INT_RX_DONE, tx_end - 1);
        run_to(&mut r, 100_000);
        assert_eq!(rd(&mut r, INT_STS, 100_000), INT_TX_DONE);
        assert_eq!(rd(&mut r, STATUS, 100_000), STATUS_RX_ON);
        assert!(r.receive_frame(&rx_frame(11, 0, b"ok"), 100_000));
        // Clearing RX_ON or changing the channel aborts a reception.
        wr(&mut r, INT_STS, INT_ALL, 100_000);
        assert!(r.receive_frame(&rx_frame(11, 100, b"x"), 200_000));
        wr(&mut r, CTRL, 0, 200_001);
        wr(&mut r, CTRL, CTRL_RX_ON, 200_002);
        run_to(&mut r, 300_000);
        assert_eq!(rd(&mut r, INT_STS, 300_000), 0);
        assert!(r.receive_frame(&rx_frame(11, 100, b"y"), 400_000));
        wr(&mut r, CHANNEL, 12, 400_001);
        run_to(&mut r, 500_000);
        assert_eq!(rd(&mut r, INT_STS, 500_000), 0);
        assert_eq!(rd(&mut r, RX_DROPPED, 500_000), 3);
    }

    #[test]
    fn cca_idle_and_busy() {
        let mut r = radio();
        wr(&mut r, INT_EN, INT_CCA_DONE, 0);
        // Idle channel: done after exactly 128 µs.
        wr(&mut r, CTRL, CTRL_CCA_START, 0);
        assert_eq!(rd(&mut r, STATUS, 0), STATUS_CCA_ACTIVE);
        assert_eq!(r.next_deadline(), Some(128 * T_US));
        run_to(&mut r, 128 * T_US - 1);
        assert_eq!(r.irq_lines(), 0);
        run_to(&mut r, 128 * T_US);
        assert_eq!(r.irq_lines(), 1);
        assert_eq!(rd(&mut r, STATUS, 128 * T_US), 0);
        assert_eq!(rd(&mut r, INT_STS, 128 * T_US), INT_CCA_DONE);
        wr(&mut r, INT_STS, INT_CCA_DONE, 128 * T_US);

        // A frame heard with the receiver off (and on another channel, not
        // at all) still makes the channel busy until it ends.
        let t = 10_000;
        assert!(!r.receive_frame(&rx_frame(12, 1000, b"elsewhere"), t));
        assert!(!r.receive_frame(&rx_frame(11, 1000, b"noise"), t));
        let frame_end = t + 1000 * T_US;
        wr(&mut r, CTRL, CTRL_CCA_START, frame_end - 10);
        run_to(&mut r, frame_end + 128 * T_US);
        assert_eq!(rd(&mut r, STATUS, frame_end + 128 * T_US), STATUS_CCA_BUSY);
        // Started exactly when the frame ends: idle.
        wr(&mut r, CTRL, CTRL_CCA_START, frame_end + 128 * T_US);
        run_to(&mut r, frame_end + 256 * T_US);
        assert_eq!(rd(&mut r, STATUS, frame_end + 256 * T_US), 0);

        // A frame starting during the measurement makes it busy.
        let t = 1_000_000;
        wr(&mut r, CTRL, CTRL_CCA_START, t);
        r.receive_frame(&rx_frame(11, 10, b"late"), t + 100 * T_US);
        run_to(&mut r, t + 128 * T_US);
        assert_eq!(rd(&mut r, STATUS, t + 128 * T_US), STATUS_CCA_BUSY);

        // Our own transmission makes it busy too.
        let t = 2_000_000;
        wr(&mut r, TX_LEN, 10, t);
        wr(&mut r, CTRL, CTRL_TX_START, t);
        wr(&mut r, CTRL, CTRL_CCA_START, t + 1);
        run_to(&mut r, t + 1 + 128 * T_US);
        assert_ne!(rd(&mut r, STATUS, t + 1 + 128 * T_US) & STATUS_CCA_BUSY, 0);
    }

    #[test]
    fn carriers_make_the_channel_busy_and_nothing_else() {
        let mut r = listening_radio();
        // A carrier (no PSDU) on the radio's channel for 2000 µs: busy,
        // nothing received, nothing counted as dropped.
        assert!(!r.receive_frame(&encode_rx(11, -60, 0, 2000, &[]), 0));
        assert_eq!(rd(&mut r, STATUS, 0), STATUS_RX_ON);
        wr(&mut r, CTRL, CTRL_RX_ON | CTRL_CCA_START, 1000 * T_US);
        run_to(&mut r, 1128 * T_US);
        assert_eq!(
            rd(&mut r, STATUS, 1128 * T_US) & STATUS_CCA_BUSY,
            STATUS_CCA_BUSY
        );
        // After its end: clear.
        wr(&mut r, CTRL, CTRL_RX_ON | CTRL_CCA_START, 2000 * T_US);
        run_to(&mut r, 2128 * T_US);
        assert_eq!(rd(&mut r, STATUS, 2128 * T_US) & STATUS_CCA_BUSY, 0);
        assert_eq!(rd(&mut r, RX_COUNT, 2128 * T_US), 0);
        assert_eq!(rd(&mut r, RX_DROPPED, 2128 * T_US), 0);

        // A carrier on another channel counts once the radio tunes to it.
        let t = 10_000 * T_US;
        assert!(!r.receive_frame(&encode_rx(20, -60, 0, 1000, &[]), t));
        wr(&mut r, CTRL, CTRL_RX_ON | CTRL_CCA_START, t);
        run_to(&mut r, t + 128 * T_US);
        assert_eq!(rd(&mut r, STATUS, t + 128 * T_US) & STATUS_CCA_BUSY, 0);
        wr(&mut r, CHANNEL, 20, t + 200 * T_US);
        wr(&mut r, CTRL, CTRL_RX_ON | CTRL_CCA_START, t + 200 * T_US);
        run_to(&mut r, t + 328 * T_US);
        assert_eq!(
            rd(&mut r, STATUS, t + 328 * T_US) & STATUS_CCA_BUSY,
            STATUS_CCA_BUSY
        );
    }

    #[test]
    fn carrier_ruins_a_reception_but_not_a_frame_already_over() {
        let mut r = listening_radio();
        // Locked onto a frame; another's carrier starts before it ends.
        assert!(r.receive_frame(&rx_frame(11, 500, b"first"), 0));
        assert!(!r.receive_frame(&encode_rx(11, -60, 0, 1000, &[]), 100 * T_US));
        run_to(&mut r, 2000 * T_US);
        assert_eq!(rd(&mut r, RX_COUNT, 2000 * T_US), 0);
        assert_eq!(rd(&mut r, RX_DROPPED, 2000 * T_US), 1);
        // A frame delivered after its end (the medium judged it) while a
        // later carrier is on the channel is received all the same.
        let t = 3000 * T_US;
        assert!(!r.receive_frame(&encode_rx(11, -60, 0, 1000, &[]), t));
        assert!(r.receive_frame(&rx_frame(11, 0, b"judged"), t + 10));
        assert_eq!(rx_buf(&mut r, t + 10), b"judged");
    }

    #[test]
    fn interrupt_line_follows_enables() {
        let mut r = radio();
        wr(&mut r, CTRL, CTRL_RX_ON, 0);
        assert!(r.receive_frame(&rx_frame(11, 0, b"a"), 0));
        // Status is set whatever the enables; the line needs INT_EN.
        assert_eq!(rd(&mut r, INT_STS, 0), INT_RX_DONE);
        assert_eq!(r.irq_lines(), 0);
        wr(&mut r, INT_EN, INT_TX_DONE, 0);
        assert_eq!(r.irq_lines(), 0);
        wr(&mut r, INT_EN, INT_RX_DONE, 0);
        assert_eq!(r.irq_lines(), 1);
        wr(&mut r, INT_EN, 0xffff_ffff, 0);
        assert_eq!(rd(&mut r, INT_EN, 0), INT_ALL);
        wr(&mut r, INT_EN, 0, 0);
        assert_eq!(r.irq_lines(), 0);
        wr(&mut r, INT_EN, INT_ALL, 0);
        // Writing 0 clears nothing; writing the bit clears it.
        wr(&mut r, INT_STS, 0, 0);
        assert_eq!(r.irq_lines(), 1);
        wr(&mut r, INT_STS, INT_RX_DONE, 0);
        assert_eq!(r.irq_lines(), 0);
    }

    #[test]
    fn powered_off_hears_nothing_and_sends_nothing() {
        let mut r = listening_radio();
        assert!(r.receive_frame(&rx_frame(11, 100, b"cut"), 0));
        r.set_link(false);
        assert_eq!(rd(&mut r, RX_DROPPED, 1), 1);
        assert!(!r.receive_frame(&rx_frame(11, 0, b"a"), 10));
        wr(&mut r, TX_LEN, 1, 10);
        wr(&mut r, CTRL, CTRL_RX_ON | CTRL_TX_START, 10);
        assert!(r.take_frames().is_empty());
        // The guest still sees its transmission complete.
        run_to(&mut r, 1_000_000);
        assert_eq!(rd(&mut r, INT_STS, 1_000_000), INT_TX_DONE);
        assert_eq!(rd(&mut r, TX_COUNT, 1_000_000), 1);
        r.set_link(true);
        assert!(r.receive_frame(&rx_frame(11, 0, b"back"), 1_000_000));
    }

    #[test]
    fn helpers_round_trip() {
        let tx = encode_tx(26, -20, 1216, b"abc");
        assert_eq!(tx, [26, 0xec, 0xc0, 0x04, 0, 0, b'a', b'b', b'c']);
        assert_eq!(decode_tx(&tx), Some((26, -20, 1216, &b"abc"[..])));
        assert_eq!(decode_tx(&tx[..5]), None);
        let rx = encode_rx(26, -100, 0, 7, b"");
        assert_eq!(rx, [26, 0x9c, 0, 7, 0, 0, 0]);
        assert_eq!(decode_rx(&rx), Some((26, -100, 0, 7, &b""[..])));
        assert_eq!(decode_rx(&rx[..6]), None);
        assert_eq!(airtime_us(32), 1216);
        assert_eq!(airtime_us(127), 4256);
        assert_eq!(
            data_frame_dest(&data_frame(0xabcd, 0x0102, 3, b"")),
            Some((0xabcd, 0x0102))
        );
    }

    #[test]
    fn unaligned_register_writes_are_ignored() {
        let mut r = radio();
        r.write(SHORT_ADDR + 1, 1, 0x12, 0);
        assert_eq!(rd(&mut r, SHORT_ADDR, 0), 0xffff);
        r.write(SHORT_ADDR, 2, 0x1234, 0);
        assert_eq!(rd(&mut r, SHORT_ADDR, 0), 0x1234);
        assert_eq!(r.read(SHORT_ADDR + 1, 1, 0), 0x12);
        assert_eq!(rd(&mut r, 0x800, 0), 0);
    }
}
