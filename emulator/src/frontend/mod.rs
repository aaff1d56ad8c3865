//! Front ends: where a machine's screen, LEDs, sound and status leave the
//! emulator for a person (a window, the speakers) or a file (PNG, WAV),
//! and where keys, clicks and sensor controls come back in.
//!
//! The emulation runs on its own thread; a window shares a [`Panel`] per
//! device with it and sends [`UserInput`] back over a channel, so the
//! window's pace never decides what the guest sees: inputs enter the
//! machine at the virtual time the emulation thread takes them.

pub mod animation;
pub mod font;
pub mod headless;
pub mod netview;
pub mod record;
pub mod sinks;
pub mod sound;
pub mod window;

use ensemble_devices::VideoFrame;

/// What a device's window shows, updated by the emulation thread.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    /// Device name: the window title.
    pub name: String,
    /// Pixels of the panel (when the device has a display).
    pub screen_size: Option<(u32, u32)>,
    /// The latest frame the display showed.
    pub frame: Option<VideoFrame>,
    /// LED levels, LED 0 first.
    pub leds: Vec<bool>,
    /// How many buttons the device has (keys 1..9 press them).
    pub buttons: usize,
    /// Sensor channels the window offers controls for, with the value the
    /// controls currently set (SI units, up to three axes).
    pub sensors: Vec<(String, [f64; 3])>,
    /// One line: virtual time and speed ("t 12.345 s  1.00x").
    pub status: String,
    /// The emulation ended (the window may stay open to show the last
    /// frame, with the status saying why).
    pub finished: bool,
    /// Areas of the screen (x, y, width, height in panel pixels) that bring
    /// another panel's window to the front when clicked, with that panel's
    /// index; a click there is not a touch.
    pub focus_links: Vec<([u32; 4], usize)>,
}

/// Something a person did in a device's window.
#[derive(Clone, Debug, PartialEq)]
pub enum UserInput {
    Button {
        index: u32,
        pressed: bool,
    },
    /// Panel pixel coordinates.
    Touch {
        x: u32,
        y: u32,
        pressed: bool,
    },
    /// A sensor control moved: the channel now reads `value` (SI units).
    Sensor {
        channel: String,
        value: [f64; 3],
    },
    /// The window was closed: stop this device.
    Close,
}
