//! The sinks and sources one machine's run feeds and reads between steps
//! of its run loop: scheduled screenshots, a frames folder, a WAV file, the
//! host's speakers and a window's panel, and the inputs a window sends.
//! Everything here happens at virtual times the machine decides, so a
//! headless run and a windowed one see the same frames and samples.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use ensemble_devices::{SensorSource, Ticks, VideoFrame};

use std::collections::VecDeque;

use super::headless::{write_png, WavSink};
use super::record::{Recorded, Recorder};
use super::sound::SoundOutput;
use super::{Panel, UserInput};
use crate::machine::Machine;
use crate::time::ticks_to_secs;

/// A window's side of one machine: what it shows and what it sends back.
pub struct PanelLink {
    pub panel: Arc<Mutex<Panel>>,
    pub inputs: Receiver<(usize, UserInput)>,
    /// Index of this machine's panel in the window set.
    pub index: usize,
    /// Set by the emulation when it ends, so the windows close.
    pub stop: Arc<AtomicBool>,
}

/// Sinks attached to one machine.
#[derive(Default)]
pub struct Sinks {
    /// (virtual time, file), in time order; taken when time reaches them.
    pub screenshots: Vec<(Ticks, PathBuf)>,
    /// Write every `n`th frame of each display to DIR/DEVICE-NNNNNN.png.
    pub frames_dir: Option<(PathBuf, u64)>,
    pub wav: Option<WavSink>,
    pub sound: Option<SoundOutput>,
    pub panel: Option<PanelLink>,
    /// Latest frame per display: (device, frame).
    latest: Vec<(String, VideoFrame)>,
    /// Frame seen before the latest one of each display, for screenshots
    /// at a time between two vsyncs.
    previous: Vec<(String, VideoFrame)>,
    frame_counter: u64,
    /// The window closed: the run should end.
    pub closed: bool,
    /// Inputs from outside are written here as the machine takes them.
    pub recorder: Option<Recorder>,
    /// Recorded inputs still to apply, in time order.
    pub replay: VecDeque<(Ticks, Recorded)>,
    /// The console UART, for recorded console input.
    pub console: String,
}

impl Sinks {
    /// Does anything here consume frames or samples? (The machine keeps
    /// them only then.)
    /// (A window needs only the latest frame, which the machine always
    /// keeps.)
    pub fn wants_video(&self) -> bool {
        !self.screenshots.is_empty() || self.frames_dir.is_some()
    }

    pub fn wants_audio(&self) -> bool {
        self.wav.is_some() || self.sound.is_some()
    }

    pub fn attach(&self, m: &mut Machine) {
        m.capture_media(self.wants_video(), self.wants_audio());
    }

    /// The next time the run loop must stop at for a sink (a screenshot).
    pub fn next_stop(&self) -> Option<Ticks> {
        let shot = self.screenshots.first().map(|(t, _)| *t);
        let input = self.replay.front().map(|(t, _)| *t);
        shot.into_iter().chain(input).min()
    }

    /// Console bytes from stdin entered the machine now.
    pub fn record_uart(&mut self, m: &Machine, bytes: &[u8]) -> Result<()> {
        if let Some(r) = &mut self.recorder {
            r.record(m.now(), &Recorded::Uart(bytes.to_vec()))?;
        }
        Ok(())
    }

    /// Apply the recorded inputs that are due.
    fn replay_due(&mut self, m: &mut Machine) {
        let now = m.now();
        while self.replay.front().is_some_and(|(t, _)| *t <= now) {
            let (_, what) = self.replay.pop_front().expect("checked");
            match what {
                Recorded::Uart(bytes) => {
                    m.push_input(&self.console, &bytes);
                }
                Recorded::User(input) => apply_input(m, &input, &mut self.closed),
            }
        }
    }

    /// Drain what the machine produced, write due screenshots, update the
    /// panel, and apply the window's inputs.
    pub fn after_step(&mut self, m: &mut Machine, speed: f64) -> Result<()> {
        self.replay_due(m);
        for (dev, frame) in m.take_video() {
            if let Some((dir, every)) = &self.frames_dir {
                if self.frame_counter.is_multiple_of(*every) {
                    let path = dir.join(format!("{dev}-{:06}.png", frame.seq));
                    write_png(&path, &frame)?;
                }
            }
            self.frame_counter += 1;
            match self.latest.iter().position(|(d, _)| *d == dev) {
                Some(i) => {
                    let old = std::mem::replace(&mut self.latest[i].1, frame);
                    match self.previous.iter_mut().find(|(d, _)| *d == dev) {
                        Some(p) => p.1 = old,
                        None => self.previous.push((dev, old)),
                    }
                }
                None => self.latest.push((dev, frame)),
            }
        }
        for (_, chunk) in m.take_audio() {
            if let Some(w) = &mut self.wav {
                w.push(&chunk)?;
            }
            if let Some(s) = &self.sound {
                s.push(0, &chunk);
            }
        }
        let now = m.now();
        while self.screenshots.first().is_some_and(|(t, _)| *t <= now) {
            let (t, path) = self.screenshots.remove(0);
            self.screenshot(m, t, &path)?;
        }
        self.update_panel(m, speed);
        Ok(())
    }

    /// The frame on screen at `t`: the latest shown no later than `t`.
    pub fn frame_at(&self, t: Ticks) -> Option<&VideoFrame> {
        let (dev, latest) = self.latest.first()?;
        if latest.time <= t {
            return Some(latest);
        }
        self.previous
            .iter()
            .find(|(d, _)| d == dev)
            .map(|(_, f)| f)
            .filter(|f| f.time <= t)
    }

    fn screenshot(&self, m: &Machine, t: Ticks, path: &std::path::Path) -> Result<()> {
        match self.frame_at(t) {
            Some(f) => write_png(path, f),
            None => {
                // Nothing shown yet: the panel is dark.
                let (w, h) = panel_size(m).unwrap_or((1, 1));
                eprintln!(
                    "note: screenshot at t={:.3}s: the display has shown nothing yet; {} is black",
                    ticks_to_secs(t, m.clock_hz()),
                    path.display()
                );
                write_png(
                    path,
                    &VideoFrame {
                        time: t,
                        seq: 0,
                        width: w,
                        height: h,
                        pixels: vec![0; (w * h) as usize],
                    },
                )
            }
        }
    }

    fn update_panel(&mut self, m: &mut Machine, speed: f64) {
        let Some(link) = &self.panel else {
            return;
        };
        let inputs: Vec<UserInput> = link.inputs.try_iter().map(|(_, i)| i).collect();
        {
            let mut p = link.panel.lock().expect("panel lock");
            if let Some(f) = m.screen(None) {
                if p.frame.as_ref().map(|g| (g.seq, g.time)) != Some((f.seq, f.time)) {
                    p.frame = Some(f.clone());
                }
            }
            p.leds = m.leds();
            // Sources move on their own (waveforms, traces): show the
            // reading of now.
            let now = m.now();
            for (channel, value) in p.sensors.iter_mut() {
                if let Some(v) = m.sensor_value(channel, now) {
                    *value = v;
                }
            }
            p.status = format!(
                "t {:.3} s  {:.2}x",
                ticks_to_secs(m.now(), m.clock_hz()),
                speed
            );
        }
        for input in inputs {
            if let Some(r) = &mut self.recorder {
                // A recording that cannot be written must not go unnoticed.
                if let Err(e) = r.record(m.now(), &Recorded::User(input.clone())) {
                    eprintln!("ensemble: error: writing the input recording: {e:#}");
                    self.recorder = None;
                }
            }
            apply_input(m, &input, &mut self.closed);
            if let (UserInput::Sensor { channel, value }, Some(link)) = (&input, &self.panel) {
                let mut p = link.panel.lock().expect("panel lock");
                if let Some(s) = p.sensors.iter_mut().find(|(c, _)| c == channel) {
                    s.1 = *value;
                }
            }
        }
    }

    /// Finish files: screenshots still scheduled are taken at the end.
    pub fn finish(mut self, m: &mut Machine) -> Result<()> {
        self.after_step(m, 0.0)?;
        let now = m.now();
        for (t, path) in std::mem::take(&mut self.screenshots) {
            if t == Ticks::MAX {
                // Asked for at the end of the run.
                self.screenshot(m, now, &path)?;
                continue;
            }
            eprintln!(
                "note: the run ended at t={:.3}s before the screenshot at t={:.3}s; {} shows the last frame",
                ticks_to_secs(now, m.clock_hz()),
                ticks_to_secs(t, m.clock_hz()),
                path.display()
            );
            self.screenshot(m, now, &path)?;
        }
        if let Some(w) = self.wav.take() {
            w.finish()?;
        }
        if let Some(link) = &self.panel {
            link.panel.lock().expect("panel lock").finished = true;
            link.stop.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Apply one input from a person to the machine.
pub fn apply_input(m: &mut Machine, input: &UserInput, closed: &mut bool) {
    match input {
        UserInput::Button { index, pressed } => {
            m.press_button(*index, *pressed);
        }
        UserInput::Touch { x, y, pressed } => {
            m.touch(*x, *y, *pressed);
        }
        UserInput::Sensor { channel, value } => {
            m.set_sensor(channel, SensorSource::Constant(*value));
        }
        UserInput::Close => *closed = true,
    }
}

/// Panel size of the machine's first display.
pub fn panel_size(m: &Machine) -> Option<(u32, u32)> {
    let name = m.devices_of_kind("display").into_iter().next()?;
    let spec = m.board.devices.iter().find(|d| d.name == name)?;
    let get = |k: &str, d: u32| {
        spec.params
            .get(k)
            .and_then(|v| v.as_integer())
            .map(|v| v as u32)
            .unwrap_or(d)
    };
    Some((get("width", 320), get("height", 240)))
}

/// A panel describing machine `m` for a window titled `name`.
pub fn panel_for(name: &str, m: &Machine) -> Panel {
    let buttons = m
        .board
        .devices
        .iter()
        .find(|d| d.kind == "gpio")
        .and_then(|d| d.params.get("inputs").and_then(|v| v.as_integer()))
        .map(|n| n as usize)
        .unwrap_or(0);
    let now = m.now();
    Panel {
        name: name.to_string(),
        screen_size: panel_size(m),
        frame: None,
        leds: m.leds(),
        buttons,
        sensors: m
            .sensor_channels()
            .into_iter()
            .map(|c| (c.to_string(), m.sensor_value(c, now).unwrap_or([0.0; 3])))
            .collect(),
        status: String::new(),
        finished: false,
        focus_links: Vec::new(),
    }
}

/// Stop flag shared by the windows and the emulation.
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

/// A panel for a device of board `board`, from the board's description
/// alone (for machines that live on other threads).
pub fn panel_for_board(name: &str, board: &crate::board::Board) -> Panel {
    use ensemble_devices::sensors::SensorKind;
    let int = |d: &crate::board::DeviceSpec, k: &str, default: i64| {
        d.params
            .get(k)
            .and_then(|v| v.as_integer())
            .unwrap_or(default)
    };
    let mut panel = Panel {
        name: name.to_string(),
        ..Panel::default()
    };
    for d in &board.devices {
        match d.kind.as_str() {
            "display" if panel.screen_size.is_none() => {
                panel.screen_size =
                    Some((int(d, "width", 320) as u32, int(d, "height", 240) as u32));
            }
            "gpio" => {
                panel.buttons += int(d, "inputs", 0) as usize;
                panel
                    .leds
                    .extend(std::iter::repeat_n(false, int(d, "outputs", 0) as usize));
            }
            "sensor-hub" => {
                if let Some(toml::Value::Array(a)) = d.params.get("channels") {
                    for c in a.iter().filter_map(|v| v.as_str()) {
                        if let Some(k) = SensorKind::from_name(c) {
                            if !panel.sensors.iter().any(|(n, _)| n == c) {
                                panel
                                    .sensors
                                    .push((c.to_string(), k.default_source().value_at(0.0)));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // The FPGAIO's LEDs come after the GPIO blocks' (as Machine::leds).
    if board.devices.iter().any(|d| d.kind == "mps2-fpgaio") {
        panel.leds.extend([false, false]);
    }
    panel
}
