//! virtio-input (device ID 18, virtio 1.2 section 5.8): eventq (queue 0)
//! carries 8-byte events (le16 type, le16 code, le32 value) to the driver;
//! statusq (queue 1) brings LED/sound events back, which are consumed and
//! ignored.
//!
//! Configuration space: select (byte 0) and subsel (byte 1) are written,
//! size (byte 2) and the payload from byte 8 read back:
//! ID_NAME / ID_SERIAL (strings), ID_DEVIDS (bus BUS_VIRTUAL, vendor
//! 0x454E, product 1 keys / 2 touchscreen, version 1), PROP_BITS,
//! EV_BITS (subsel = event type), ABS_INFO (subsel = axis). Anything else
//! has size 0.
//!
//! Two flavours:
//! - [`VirtioInput::touchscreen`]: EV_ABS ABS_X 0..width-1, ABS_Y
//!   0..height-1 (the maxima are inclusive: one unit per pixel), EV_KEY
//!   BTN_TOUCH, INPUT_PROP_DIRECT. Fed by [`crate::Device::touch`]: a press
//!   or move sends ABS_X, ABS_Y (then BTN_TOUCH 1 on a press), a release
//!   BTN_TOUCH 0; each group ends with SYN_REPORT. A move to the same
//!   place, or a release while released, sends nothing.
//! - [`VirtioInput::keyboard`]: EV_KEY for the keys of [`KEYS`], fed by
//!   [`crate::Device::set_input`]: a name from [`KEYS`] ("KEY_ENTER"), a
//!   button "buttonN" or "N" (N = 0..8, see [`BUTTON_KEYS`]), or "buttons"
//!   (a bitmask of the nine buttons). A level other than 0 presses. Only
//!   changes send events (the key, then SYN_REPORT). No EV_REP: the guest
//!   does not autorepeat.
//!
//! Events that find no buffer wait (up to [`MAX_PENDING`]; beyond that the
//! oldest groups are dropped) until the driver adds buffers.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{read_config_bytes, QueueError, VirtioDevice, Virtqueue, ID_INPUT};
use crate::{Dma, Ticks};

pub const CFG_UNSET: u8 = 0x00;
pub const CFG_ID_NAME: u8 = 0x01;
pub const CFG_ID_SERIAL: u8 = 0x02;
pub const CFG_ID_DEVIDS: u8 = 0x03;
pub const CFG_PROP_BITS: u8 = 0x10;
pub const CFG_EV_BITS: u8 = 0x11;
pub const CFG_ABS_INFO: u8 = 0x12;

pub const EV_SYN: u16 = 0x00;
pub const EV_KEY: u16 = 0x01;
pub const EV_ABS: u16 = 0x03;
pub const SYN_REPORT: u16 = 0;
pub const ABS_X: u16 = 0x00;
pub const ABS_Y: u16 = 0x01;
pub const BTN_TOUCH: u16 = 0x14a;
pub const INPUT_PROP_DIRECT: u16 = 0x01;
const BUS_VIRTUAL: u16 = 0x06;
const VENDOR: u16 = 0x454e;

/// Events kept for the driver at most.
pub const MAX_PENDING: usize = 256;

/// Keys of the keyboard flavour: Linux input-event-codes names and codes.
pub const KEYS: &[(&str, u16)] = &[
    ("KEY_ESC", 1),
    ("KEY_1", 2),
    ("KEY_2", 3),
    ("KEY_3", 4),
    ("KEY_4", 5),
    ("KEY_5", 6),
    ("KEY_6", 7),
    ("KEY_7", 8),
    ("KEY_8", 9),
    ("KEY_9", 10),
    ("KEY_0", 11),
    ("KEY_MINUS", 12),
    ("KEY_EQUAL", 13),
    ("KEY_BACKSPACE", 14),
    ("KEY_TAB", 15),
    ("KEY_Q", 16),
    ("KEY_W", 17),
    ("KEY_E", 18),
    ("KEY_R", 19),
    ("KEY_T", 20),
    ("KEY_Y", 21),
    ("KEY_U", 22),
    ("KEY_I", 23),
    ("KEY_O", 24),
    ("KEY_P", 25),
    ("KEY_LEFTBRACE", 26),
    ("KEY_RIGHTBRACE", 27),
    ("KEY_ENTER", 28),
    ("KEY_LEFTCTRL", 29),
    ("KEY_A", 30),
    ("KEY_S", 31),
    ("KEY_D", 32),
    ("KEY_F", 33),
    ("KEY_G", 34),
    ("KEY_H", 35),
    ("KEY_J", 36),
    ("KEY_K", 37),
    ("KEY_L", 38),
    ("KEY_SEMICOLON", 39),
    ("KEY_APOSTROPHE", 40),
    ("KEY_GRAVE", 41),
    ("KEY_LEFTSHIFT", 42),
    ("KEY_BACKSLASH", 43),
    ("KEY_Z", 44),
    ("KEY_X", 45),
    ("KEY_C", 46),
    ("KEY_V", 47),
    ("KEY_B", 48),
    ("KEY_N", 49),
    ("KEY_M", 50),
    ("KEY_COMMA", 51),
    ("KEY_DOT", 52),
    ("KEY_SLASH", 53),
    ("KEY_RIGHTSHIFT", 54),
    ("KEY_LEFTALT", 56),
    ("KEY_SPACE", 57),
    ("KEY_CAPSLOCK", 58),
    ("KEY_F1", 59),
    ("KEY_F2", 60),
    ("KEY_F3", 61),
    ("KEY_F4", 62),
    ("KEY_F5", 63),
    ("KEY_F6", 64),
    ("KEY_F7", 65),
    ("KEY_F8", 66),
    ("KEY_F9", 67),
    ("KEY_F10", 68),
    ("KEY_F11", 87),
    ("KEY_F12", 88),
    ("KEY_RIGHTCTRL", 97),
    ("KEY_RIGHTALT", 100),
    ("KEY_HOME", 102),
    ("KEY_UP", 103),
    ("KEY_PAGEUP", 104),
    ("KEY_LEFT", 105),
    ("KEY_RIGHT", 106),
    ("KEY_END", 107),
    ("KEY_DOWN", 108),
    ("KEY_PAGEDOWN", 109),
    ("KEY_INSERT", 110),
    ("KEY_DELETE", 111),
    ("KEY_MUTE", 113),
    ("KEY_VOLUMEDOWN", 114),
    ("KEY_VOLUMEUP", 115),
    ("KEY_POWER", 116),
    ("KEY_MENU", 139),
    ("KEY_SLEEP", 142),
    ("KEY_WAKEUP", 143),
    ("KEY_BACK", 158),
    ("KEY_HOMEPAGE", 172),
];

/// Buttons "button0".."button8" (or "0".."8"): enter, up, down, left,
/// right, escape, volume up, volume down, power. Power is last so that a
/// board's first buttons never shut a Debian guest down (logind powers off
/// on KEY_POWER).
pub const BUTTON_KEYS: [u16; 9] = [28, 103, 108, 105, 106, 1, 115, 114, 116];

/// The code of key `name` ("KEY_ENTER", any case), if the keyboard has it.
pub fn key_code(name: &str) -> Option<u16> {
    KEYS.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, c)| c)
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    Touch { width: u32, height: u32 },
    Keys,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
struct Event {
    kind: u16,
    code: u16,
    value: u32,
}

#[derive(Serialize, Deserialize)]
pub struct VirtioInput {
    flavour: Flavour,
    name: String,
    serial: String,
    select: u8,
    subsel: u8,
    pending: VecDeque<Event>,
    /// Event buffers available at the last service.
    credit: u16,
    pressed: bool,
    x: u32,
    y: u32,
    /// Keys held down (codes).
    keys_down: Vec<u16>,
}

impl VirtioInput {
    /// A single-touch panel of `width` x `height` pixels (each at least 1).
    pub fn touchscreen(width: u32, height: u32) -> Self {
        Self::build(
            Flavour::Touch {
                width: width.max(1),
                height: height.max(1),
            },
            "Ensemble virtio touchscreen",
        )
    }

    /// Keys and buttons (see [`KEYS`] and [`BUTTON_KEYS`]).
    pub fn keyboard() -> Self {
        Self::build(Flavour::Keys, "Ensemble virtio keys")
    }

    fn build(flavour: Flavour, name: &str) -> Self {
        VirtioInput {
            flavour,
            name: name.into(),
            serial: "ensemble-0".into(),
            select: CFG_UNSET,
            subsel: 0,
            pending: VecDeque::new(),
            credit: 0,
            pressed: false,
            x: 0,
            y: 0,
            keys_down: Vec::new(),
        }
    }

    /// Events waiting for buffers.
    pub fn pending_events(&self) -> usize {
        self.pending.len()
    }

    /// Queue `events` and a SYN_REPORT as one group.
    fn emit(&mut self, events: &[(u16, u16, u32)]) {
        let group = events.len() + 1;
        // Drop whole old groups so the newest state gets through.
        while self.pending.len() + group > MAX_PENDING && !self.pending.is_empty() {
            while let Some(e) = self.pending.pop_front() {
                if e.kind == EV_SYN {
                    break;
                }
            }
        }
        for &(kind, code, value) in events {
            self.pending.push_back(Event { kind, code, value });
        }
        self.pending.push_back(Event {
            kind: EV_SYN,
            code: SYN_REPORT,
            value: 0,
        });
    }

    fn key(&mut self, code: u16, down: bool) {
        let held = self.keys_down.contains(&code);
        if held == down {
            return;
        }
        if down {
            self.keys_down.push(code);
        } else {
            self.keys_down.retain(|&c| c != code);
        }
        self.emit(&[(EV_KEY, code, down as u32)]);
    }

    fn key_codes(&self) -> Vec<u16> {
        match self.flavour {
            Flavour::Touch { .. } => vec![BTN_TOUCH],
            Flavour::Keys => KEYS.iter().map(|&(_, c)| c).collect(),
        }
    }

    /// The configuration payload for the current select/subsel.
    fn payload(&self) -> Vec<u8> {
        let bitmap = |codes: &[u16]| {
            let mut b = vec![0u8; codes.iter().map(|&c| c as usize / 8 + 1).max().unwrap_or(0)];
            for &c in codes {
                b[c as usize / 8] |= 1 << (c % 8);
            }
            b
        };
        let touch = matches!(self.flavour, Flavour::Touch { .. });
        let sub = self.subsel as u16;
        match self.select {
            CFG_ID_NAME if sub == 0 => self.name.as_bytes().to_vec(),
            CFG_ID_SERIAL if sub == 0 => self.serial.as_bytes().to_vec(),
            CFG_ID_DEVIDS if sub == 0 => {
                let product: u16 = if touch { 2 } else { 1 };
                [BUS_VIRTUAL, VENDOR, product, 1]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect()
            }
            CFG_PROP_BITS if sub == 0 && touch => bitmap(&[INPUT_PROP_DIRECT]),
            CFG_EV_BITS if sub == EV_KEY => bitmap(&self.key_codes()),
            CFG_EV_BITS if sub == EV_ABS && touch => bitmap(&[ABS_X, ABS_Y]),
            CFG_ABS_INFO => match (self.flavour, sub) {
                (Flavour::Touch { width, .. }, ABS_X) => abs_info(width - 1),
                (Flavour::Touch { height, .. }, ABS_Y) => abs_info(height - 1),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

/// virtio_input_absinfo: min 0, `max`, fuzz, flat, res 0.
fn abs_info(max: u32) -> Vec<u8> {
    [0, max, 0, 0, 0]
        .iter()
        .flat_map(|v: &u32| v.to_le_bytes())
        .collect()
}

impl VirtioDevice for VirtioInput {
    fn name(&self) -> &'static str {
        "virtio-input"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn device_id(&self) -> u32 {
        ID_INPUT
    }

    fn features(&self) -> u64 {
        0
    }

    fn queue_count(&self) -> usize {
        2
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let mut payload = self.payload();
        payload.truncate(128);
        let mut c = vec![self.select, self.subsel, payload.len() as u8, 0, 0, 0, 0, 0];
        c.extend_from_slice(&payload);
        c.resize(8 + 128, 0);
        read_config_bytes(&c, offset, data);
    }

    fn write_config(&mut self, offset: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            match offset + i as u64 {
                0 => self.select = b,
                1 => self.subsel = b,
                _ => {}
            }
        }
    }

    fn reset(&mut self) {
        self.select = CFG_UNSET;
        self.subsel = 0;
        self.pending.clear();
        self.credit = 0;
        self.pressed = false;
        self.keys_down.clear();
    }

    fn process(
        &mut self,
        queues: &mut [Virtqueue],
        mem: &mut dyn Dma,
        _now: Ticks,
    ) -> Result<(), QueueError> {
        let (events, status) = queues.split_at_mut(1);
        let (events, status) = (&mut events[0], &mut status[0]);
        while let Some(chain) = status.pop(mem)? {
            status.push_used(mem, chain.head, 0)?;
        }
        while let Some(&e) = self.pending.front() {
            let Some(chain) = events.pop(mem)? else {
                break;
            };
            if chain.writable_len() < 8 {
                // Too small for any event: hand it back empty.
                events.push_used(mem, chain.head, 0)?;
                continue;
            }
            let mut b = [0u8; 8];
            b[0..2].copy_from_slice(&e.kind.to_le_bytes());
            b[2..4].copy_from_slice(&e.code.to_le_bytes());
            b[4..8].copy_from_slice(&e.value.to_le_bytes());
            chain.write(mem, 0, &b)?;
            events.push_used(mem, chain.head, 8)?;
            self.pending.pop_front();
        }
        self.credit = events.pending(mem)?;
        Ok(())
    }

    fn has_work(&self) -> bool {
        !self.pending.is_empty() && self.credit > 0
    }

    fn touch(&mut self, x: u32, y: u32, pressed: bool) -> bool {
        let Flavour::Touch { width, height } = self.flavour else {
            return false;
        };
        let (x, y) = (x.min(width - 1), y.min(height - 1));
        match (self.pressed, pressed) {
            (false, false) => {}
            (true, true) if (x, y) == (self.x, self.y) => {}
            (was, true) => {
                self.pressed = true;
                self.x = x;
                self.y = y;
                let mut ev = vec![(EV_ABS, ABS_X, x), (EV_ABS, ABS_Y, y)];
                if !was {
                    ev.push((EV_KEY, BTN_TOUCH, 1));
                }
                self.emit(&ev);
            }
            (true, false) => {
                self.pressed = false;
                self.emit(&[(EV_KEY, BTN_TOUCH, 0)]);
            }
        }
        true
    }

    fn set_input(&mut self, name: &str, level: u32) {
        if self.flavour != Flavour::Keys {
            return;
        }
        let down = level != 0;
        if name == "buttons" {
            for (i, &code) in BUTTON_KEYS.iter().enumerate() {
                self.key(code, level & (1 << i) != 0);
            }
            return;
        }
        let button = name
            .strip_prefix("button")
            .unwrap_or(name)
            .parse::<usize>()
            .ok()
            .and_then(|i| BUTTON_KEYS.get(i).copied());
        if let Some(code) = button.or_else(|| key_code(name)) {
            self.key(code, down);
        }
    }

    fn save_state(&self) -> Option<Vec<u8>> {
        postcard::to_allocvec(self).ok()
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        let s: VirtioInput = postcard::from_bytes(state)
            .map_err(|e| format!("virtio-input: bad saved state: {e}"))?;
        if s.flavour != self.flavour {
            return Err("virtio-input: saved state is of another flavour".into());
        }
        *self = s;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::mmio::{INT_USED_BUFFER, LINE_IRQ};
    use super::super::testutil::Driver;
    use super::*;
    use crate::Device;

    /// Give the device `n` event buffers, as virtinput_fill_evt does.
    fn buffers(d: &mut Driver, n: usize) -> Vec<u64> {
        let bufs: Vec<u64> = (0..n)
            .map(|_| {
                let b = d.alloc(8);
                d.add(0, &[(b, 8, true)]);
                b
            })
            .collect();
        d.kick(0);
        bufs
    }

    /// Events delivered since the last call, decoded.
    fn events(d: &mut Driver, bufs: &[u64]) -> Vec<(u16, u16, u32)> {
        d.used(0)
            .into_iter()
            .map(|(id, len)| {
                assert_eq!(len, 8);
                let b = d.ram.get(bufs[id as usize], 8);
                (
                    u16::from_le_bytes([b[0], b[1]]),
                    u16::from_le_bytes([b[2], b[3]]),
                    u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
                )
            })
            .collect()
    }

    fn select(d: &mut Driver, select: u8, subsel: u8) -> Vec<u8> {
        d.dev.write(0x100, 1, select as u32, 0);
        d.dev.write(0x101, 1, subsel as u32, 0);
        let size = d.config(2, 1)[0] as usize;
        d.config(8, size)
    }

    const SYN: (u16, u16, u32) = (EV_SYN, SYN_REPORT, 0);

    #[test]
    fn touchscreen_config() {
        let mut d = Driver::start(Box::new(VirtioInput::touchscreen(800, 480)), 64);
        assert_eq!(d.rd(super::super::mmio::DEVICE_ID), 18);
        assert_eq!(
            select(&mut d, CFG_ID_NAME, 0),
            b"Ensemble virtio touchscreen"
        );
        assert_eq!(select(&mut d, CFG_ID_SERIAL, 0), b"ensemble-0");
        assert_eq!(
            select(&mut d, CFG_ID_DEVIDS, 0),
            [6, 0, 0x4e, 0x45, 2, 0, 1, 0]
        );
        assert_eq!(select(&mut d, CFG_PROP_BITS, 0), [1 << INPUT_PROP_DIRECT]);
        assert_eq!(select(&mut d, CFG_EV_BITS, EV_ABS as u8), [0b11]);
        let keys = select(&mut d, CFG_EV_BITS, EV_KEY as u8);
        assert_eq!(keys.len(), BTN_TOUCH as usize / 8 + 1);
        assert_eq!(keys[BTN_TOUCH as usize / 8], 1 << (BTN_TOUCH % 8));
        assert_eq!(keys.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
        assert!(select(&mut d, CFG_EV_BITS, 2).is_empty(), "no EV_REL");
        assert!(select(&mut d, CFG_EV_BITS, 0x14).is_empty(), "no EV_REP");
        let abs = select(&mut d, CFG_ABS_INFO, ABS_Y as u8);
        assert_eq!(abs.len(), 20);
        assert_eq!(&abs[4..8], &479u32.to_le_bytes());
        assert!(select(&mut d, CFG_ABS_INFO, 5).is_empty());
        assert!(select(&mut d, 0x7f, 0).is_empty());
        // A word write sets both select and subsel.
        d.dev.write(0x100, 2, 0x0012, 0);
        assert_eq!(d.config(2, 1), [20]);
        assert_eq!(d.dev.read(0x10c, 4, 0), 799);
    }

    #[test]
    fn touch_sends_position_button_and_syn() {
        let mut d = Driver::start(Box::new(VirtioInput::touchscreen(320, 240)), 64);
        let bufs = buffers(&mut d, 32);
        assert!(d.dev.touch(10, 20, true, d.now));
        assert_eq!(d.dev.next_deadline(), Some(d.now));
        d.service();
        assert_eq!(d.dev.next_deadline(), None);
        assert_eq!(
            events(&mut d, &bufs),
            [
                (EV_ABS, ABS_X, 10),
                (EV_ABS, ABS_Y, 20),
                (EV_KEY, BTN_TOUCH, 1),
                SYN
            ]
        );
        assert_eq!(d.dev.irq_lines(), LINE_IRQ);
        assert_eq!(d.ack(), INT_USED_BUFFER);
        d.dev.touch(10, 20, true, d.now); // no move
        d.dev.touch(500, 21, true, d.now); // clamped
        d.dev.touch(0, 0, false, d.now);
        d.dev.touch(0, 0, false, d.now); // already released
        d.service();
        assert_eq!(
            events(&mut d, &bufs),
            [
                (EV_ABS, ABS_X, 319),
                (EV_ABS, ABS_Y, 21),
                SYN,
                (EV_KEY, BTN_TOUCH, 0),
                SYN
            ]
        );
    }

    #[test]
    fn events_wait_for_buffers() {
        let mut d = Driver::start(Box::new(VirtioInput::touchscreen(320, 240)), 64);
        d.dev.touch(1, 2, true, d.now);
        d.dev.touch(1, 2, false, d.now);
        assert_eq!(d.dev.next_deadline(), None, "no buffer: nothing to do");
        let bufs = buffers(&mut d, 2);
        assert_eq!(
            events(&mut d, &bufs),
            [(EV_ABS, ABS_X, 1), (EV_ABS, ABS_Y, 2)]
        );
        assert_eq!(d.dev.next_deadline(), None);
        // The driver recycles buffers; the rest follows.
        d.publish(0, 0);
        d.publish(0, 1);
        d.kick(0);
        assert_eq!(events(&mut d, &bufs), [(EV_KEY, BTN_TOUCH, 1), SYN]);
        d.publish(0, 0);
        d.publish(0, 1);
        d.kick(0);
        assert_eq!(events(&mut d, &bufs), [(EV_KEY, BTN_TOUCH, 0), SYN]);
        // Bounded: old groups go first.
        for i in 0..200 {
            d.dev.touch(i % 2, 0, true, d.now);
        }
        let input: &VirtioInput = d.dev.device_as().unwrap();
        assert!(input.pending_events() <= MAX_PENDING);
    }

    #[test]
    fn keys_by_name_and_button() {
        let mut d = Driver::start(Box::new(VirtioInput::keyboard()), 64);
        assert_eq!(select(&mut d, CFG_ID_NAME, 0), b"Ensemble virtio keys");
        assert!(select(&mut d, CFG_PROP_BITS, 0).is_empty());
        assert!(select(&mut d, CFG_EV_BITS, EV_ABS as u8).is_empty());
        let keys = select(&mut d, CFG_EV_BITS, EV_KEY as u8);
        for &(_, c) in KEYS {
            assert_ne!(keys[c as usize / 8] & 1 << (c % 8), 0, "{c}");
        }
        let bufs = buffers(&mut d, 32);
        assert!(!d.dev.touch(1, 1, true, d.now), "not a touch panel");
        d.dev.set_input("KEY_ENTER", 1);
        d.dev.set_input("KEY_ENTER", 1); // held: no repeat
        d.dev.set_input("key_enter", 0);
        d.dev.set_input("button0", 1); // KEY_ENTER
        d.dev.set_input("2", 1); // KEY_DOWN
        d.dev.set_input("buttons", 0);
        d.dev.set_input("KEY_NOSUCH", 1);
        d.dev.set_input("button9", 1);
        assert!(d.dev.wants_service());
        d.service();
        assert_eq!(
            events(&mut d, &bufs),
            [
                (EV_KEY, 28, 1),
                SYN,
                (EV_KEY, 28, 0),
                SYN,
                (EV_KEY, 28, 1),
                SYN,
                (EV_KEY, 108, 1),
                SYN,
                (EV_KEY, 28, 0),
                SYN,
                (EV_KEY, 108, 0),
                SYN
            ]
        );
    }

    #[test]
    fn buttons_bitmask() {
        let mut d = Driver::start(Box::new(VirtioInput::keyboard()), 64);
        let bufs = buffers(&mut d, 32);
        d.dev.set_input("buttons", 1 << 8 | 1 << 6);
        d.dev.set_input("buttons", 1 << 6);
        d.service();
        assert_eq!(
            events(&mut d, &bufs),
            [
                (EV_KEY, 115, 1),
                SYN,
                (EV_KEY, 116, 1),
                SYN,
                (EV_KEY, 116, 0),
                SYN
            ]
        );
    }

    #[test]
    fn status_queue_is_drained() {
        let mut d = Driver::start(Box::new(VirtioInput::keyboard()), 8);
        let b = d.alloc(8);
        d.add(1, &[(b, 8, false)]);
        d.kick(1);
        assert_eq!(d.used(1), vec![(0, 0)]);
    }
}
