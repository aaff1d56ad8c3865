//! Interactive windows: one per device [`Panel`], drawn in software into a
//! `pixels` surface and driven by a winit event loop on the calling thread.
//!
//! Each window shows the device's screen scaled by an integer factor inside
//! a frame ("chrome") with the LEDs, the buttons, the sensor controls and a
//! status line. The mouse touches the screen, keys 1..9 press the buttons,
//! the arrow keys tilt the accelerometer and +/- (PageUp/PageDown) change
//! the first other sensor. Everything a person does goes back to the
//! emulation thread as [`UserInput`] over a channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pixels::{Pixels, PixelsBuilder, SurfaceTexture};
use winit::application::ApplicationHandler;
use winit::dpi::{PhysicalPosition, PhysicalSize};
use winit::event::{ElementState, KeyEvent, MouseButton, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{Key, KeyCode, NamedKey, PhysicalKey};
use winit::window::{Window, WindowId};

use super::{Panel, UserInput};

/// Whether a window system is reachable: `DISPLAY` or `WAYLAND_DISPLAY`
/// is set and not empty. Without one, winit's event loop cannot be
/// created, so callers must stay headless.
pub fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Opens one window per panel and runs the event loop on the calling
/// thread until every window is closed or `stop` is set. Closing a window
/// sends [`UserInput::Close`] for its panel (the index in `panels`).
///
/// winit allows one event loop per process: call this at most once.
pub fn run_windows(
    panels: Vec<Arc<Mutex<Panel>>>,
    inputs: Sender<(usize, UserInput)>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    if panels.is_empty() {
        return Ok(());
    }
    if !display_available() {
        return Err("no display: neither DISPLAY nor WAYLAND_DISPLAY is set".into());
    }
    let mut builder = EventLoop::builder();
    // Tests (and callers that keep the main thread for something else) run
    // the loop on another thread; X11 and Wayland both allow it.
    #[cfg(any(
        target_os = "linux",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    {
        winit::platform::x11::EventLoopBuilderExtX11::with_any_thread(&mut builder, true);
    }
    let event_loop = builder
        .build()
        .map_err(|e| format!("cannot start the window system's event loop: {e}"))?;
    event_loop.set_control_flow(ControlFlow::WaitUntil(Instant::now() + TICK));
    let mut app = App {
        panels,
        inputs,
        stop,
        windows: HashMap::new(),
        started: false,
        error: None,
    };
    let run = event_loop.run_app(&mut app);
    app.windows.clear();
    if let Some(e) = app.error {
        return Err(e);
    }
    run.map_err(|e| format!("window event loop: {e}"))
}

/// How often the loop wakes to look for panel changes and `stop`.
const TICK: Duration = Duration::from_millis(16);
/// At most one redraw per window in this time (about 60 fps).
const MIN_FRAME_INTERVAL: Duration = Duration::from_millis(15);

struct App {
    panels: Vec<Arc<Mutex<Panel>>>,
    inputs: Sender<(usize, UserInput)>,
    stop: Arc<AtomicBool>,
    windows: HashMap<WindowId, PanelWindow>,
    started: bool,
    error: Option<String>,
}

impl App {
    fn open_all(&mut self, event_loop: &ActiveEventLoop) -> Result<(), String> {
        // Side by side, wrapping at the monitor's width (without a window
        // manager, as under Xvfb, windows would otherwise overlap at 0,0).
        let monitor_width = event_loop
            .primary_monitor()
            .or_else(|| event_loop.available_monitors().next())
            .map(|m| m.size().width)
            .unwrap_or(1920);
        let (mut x, mut y, mut row_height) = (20u32, 20u32, 0u32);
        for (index, panel) in self.panels.iter().enumerate() {
            let snapshot = lock(panel).clone();
            let layout = Layout::new(&snapshot);
            if x > 20 && x + layout.width > monitor_width {
                x = 20;
                y += row_height + 40;
                row_height = 0;
            }
            let pw = PanelWindow::open(
                event_loop,
                index,
                panel.clone(),
                &snapshot,
                layout,
                PhysicalPosition::new(x as i32, y as i32),
            )?;
            x += pw.layout.width + 20;
            row_height = row_height.max(pw.layout.height);
            self.windows.insert(pw.window.id(), pw);
        }
        Ok(())
    }
}

impl ApplicationHandler for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.started {
            return;
        }
        self.started = true;
        if let Err(e) = self.open_all(event_loop) {
            self.error = Some(e);
            self.windows.clear();
            event_loop.exit();
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, id: WindowId, event: WindowEvent) {
        let Some(pw) = self.windows.get_mut(&id) else {
            return;
        };
        match event {
            WindowEvent::CloseRequested => {
                let _ = self.inputs.send((pw.index, UserInput::Close));
                self.windows.remove(&id);
                if self.windows.is_empty() {
                    event_loop.exit();
                }
            }
            WindowEvent::Resized(size) => {
                if size.width > 0 && size.height > 0 {
                    let _ = pw.pixels.resize_surface(size.width, size.height);
                }
                pw.window.request_redraw();
            }
            WindowEvent::RedrawRequested => pw.draw(),
            WindowEvent::KeyboardInput { event, .. } => pw.key(&event, &self.inputs),
            WindowEvent::CursorMoved { position, .. } => {
                pw.cursor_moved((position.x as f32, position.y as f32), &self.inputs)
            }
            WindowEvent::MouseInput {
                state,
                button: MouseButton::Left,
                ..
            } => {
                let target = pw.mouse_button(state == ElementState::Pressed, &self.inputs);
                // A click on a link to another panel's window raises it.
                if let Some(w) = target.and_then(|t| self.windows.values().find(|w| w.index == t)) {
                    w.window.set_minimized(false);
                    w.window.focus_window();
                }
            }
            WindowEvent::Focused(false) => pw.release_all(&self.inputs),
            _ => {}
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        if self.stop.load(Ordering::Relaxed) {
            self.windows.clear();
            event_loop.exit();
            return;
        }
        let now = Instant::now();
        for pw in self.windows.values_mut() {
            pw.poll(now);
        }
        event_loop.set_control_flow(ControlFlow::WaitUntil(now + TICK));
    }

    fn exiting(&mut self, _event_loop: &ActiveEventLoop) {
        self.windows.clear();
    }
}

fn lock(panel: &Mutex<Panel>) -> std::sync::MutexGuard<'_, Panel> {
    panel.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a window last drew, to tell whether the panel changed since.
#[derive(Clone, Debug, PartialEq)]
struct Shown {
    frame: Option<(u64, u64, u32, u32)>,
    status: String,
    leds: Vec<bool>,
    sensors: Vec<(String, [f64; 3])>,
    finished: bool,
    highlighted: Vec<bool>,
}

impl Shown {
    fn of(p: &Panel, highlighted: Vec<bool>) -> Shown {
        Shown {
            frame: p.frame.as_ref().map(|f| (f.seq, f.time, f.width, f.height)),
            status: p.status.clone(),
            leds: p.leds.clone(),
            sensors: p.sensors.clone(),
            finished: p.finished,
            highlighted,
        }
    }

    fn matches(&self, p: &Panel, highlighted: &[bool]) -> bool {
        self.frame == p.frame.as_ref().map(|f| (f.seq, f.time, f.width, f.height))
            && self.status == p.status
            && self.leds == p.leds
            && self.sensors == p.sensors
            && self.finished == p.finished
            && self.highlighted == highlighted
    }
}

struct PanelWindow {
    index: usize,
    panel: Arc<Mutex<Panel>>,
    // Declared before `window`: the surface goes before its window.
    pixels: Pixels<'static>,
    window: Arc<Window>,
    layout: Layout,
    canvas: Canvas,
    shown: Option<Shown>,
    last_draw: Option<Instant>,
    /// Buttons held down with keys 1..9.
    keys_down: Vec<bool>,
    /// The button held down with the mouse.
    mouse_down_button: Option<usize>,
    /// Cursor in surface (window) pixels.
    cursor: Option<(f32, f32)>,
    /// Panel point being touched (left button held over the screen).
    touching: Option<(u32, u32)>,
    render_failed: bool,
}

impl PanelWindow {
    fn open(
        event_loop: &ActiveEventLoop,
        index: usize,
        panel: Arc<Mutex<Panel>>,
        snapshot: &Panel,
        layout: Layout,
        position: PhysicalPosition<i32>,
    ) -> Result<PanelWindow, String> {
        let title = format!("{} \u{2014} Ensemble", snapshot.name);
        let attributes = Window::default_attributes()
            .with_title(title)
            .with_inner_size(PhysicalSize::new(layout.width, layout.height))
            .with_resizable(false)
            .with_position(position);
        let window = Arc::new(
            event_loop
                .create_window(attributes)
                .map_err(|e| format!("cannot open a window for '{}': {e}", snapshot.name))?,
        );
        let size = window.inner_size();
        let surface = SurfaceTexture::new(size.width.max(1), size.height.max(1), window.clone());
        let [r, g, b] = rgb_f64(BG);
        let pixels = PixelsBuilder::new(layout.width, layout.height, surface)
            .present_mode(pixels::wgpu::PresentMode::AutoNoVsync)
            .clear_color(pixels::wgpu::Color { r, g, b, a: 1.0 })
            .build()
            .map_err(|e| format!("cannot draw in the window for '{}': {e}", snapshot.name))?;
        let canvas = Canvas::new(layout.width, layout.height);
        let pw = PanelWindow {
            index,
            panel,
            pixels,
            window,
            keys_down: vec![false; snapshot.buttons],
            layout,
            canvas,
            shown: None,
            last_draw: None,
            mouse_down_button: None,
            cursor: None,
            touching: None,
            render_failed: false,
        };
        pw.window.request_redraw();
        Ok(pw)
    }

    fn highlighted(&self, buttons: usize) -> Vec<bool> {
        (0..buttons)
            .map(|i| {
                self.keys_down.get(i).copied().unwrap_or(false) || self.mouse_down_button == Some(i)
            })
            .collect()
    }

    /// Asks for a redraw when the panel changed and the last one is old
    /// enough.
    fn poll(&mut self, now: Instant) {
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < MIN_FRAME_INTERVAL)
        {
            return;
        }
        let changed = {
            let p = lock(&self.panel);
            let highlighted = self.highlighted(p.buttons);
            !self
                .shown
                .as_ref()
                .is_some_and(|s| s.matches(&p, &highlighted))
        };
        if changed {
            self.window.request_redraw();
        }
    }

    fn draw(&mut self) {
        let panel = lock(&self.panel).clone();
        if self.keys_down.len() != panel.buttons {
            self.keys_down.resize(panel.buttons, false);
        }
        let layout = Layout::new(&panel);
        if layout != self.layout {
            if (layout.width, layout.height) != (self.layout.width, self.layout.height) {
                if self
                    .pixels
                    .resize_buffer(layout.width, layout.height)
                    .is_err()
                {
                    return;
                }
                self.canvas = Canvas::new(layout.width, layout.height);
                let _ = self
                    .window
                    .request_inner_size(PhysicalSize::new(layout.width, layout.height));
            }
            self.layout = layout;
        }
        let highlighted = self.highlighted(panel.buttons);
        compose(&panel, &self.layout, &highlighted, &mut self.canvas);
        for (dst, &p) in self
            .pixels
            .frame_mut()
            .chunks_exact_mut(4)
            .zip(self.canvas.px.iter())
        {
            dst.copy_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8, 0xff]);
        }
        if let Err(e) = self.pixels.render() {
            if !self.render_failed {
                eprintln!("note: window '{}': cannot draw: {e}", panel.name);
                self.render_failed = true;
            }
        }
        self.shown = Some(Shown::of(&panel, highlighted));
        self.last_draw = Some(Instant::now());
    }

    fn send(&self, inputs: &Sender<(usize, UserInput)>, input: UserInput) {
        let _ = inputs.send((self.index, input));
    }

    fn key(&mut self, event: &KeyEvent, inputs: &Sender<(usize, UserInput)>) {
        let pressed = event.state == ElementState::Pressed;
        if let PhysicalKey::Code(code) = event.physical_key {
            if let Some(i) = digit_key(code) {
                if !(pressed && event.repeat) {
                    self.set_key_button(i, pressed, inputs);
                }
                return;
            }
        }
        if !pressed {
            return;
        }
        let action = match &event.logical_key {
            Key::Named(NamedKey::ArrowUp) => Some(Control::Tilt(Axis::X, 1.0)),
            Key::Named(NamedKey::ArrowDown) => Some(Control::Tilt(Axis::X, -1.0)),
            Key::Named(NamedKey::ArrowRight) => Some(Control::Tilt(Axis::Y, 1.0)),
            Key::Named(NamedKey::ArrowLeft) => Some(Control::Tilt(Axis::Y, -1.0)),
            Key::Named(NamedKey::PageUp) => Some(Control::Step(1.0)),
            Key::Named(NamedKey::PageDown) => Some(Control::Step(-1.0)),
            Key::Character(c) if c == "+" || c == "=" => Some(Control::Step(1.0)),
            Key::Character(c) if c == "-" || c == "_" => Some(Control::Step(-1.0)),
            _ => None,
        };
        if let Some(action) = action {
            self.sensor_control(action, inputs);
        }
    }

    fn set_key_button(&mut self, i: usize, pressed: bool, inputs: &Sender<(usize, UserInput)>) {
        if i >= self.keys_down.len() || self.keys_down[i] == pressed {
            return;
        }
        self.keys_down[i] = pressed;
        if self.mouse_down_button != Some(i) {
            self.send(
                inputs,
                UserInput::Button {
                    index: i as u32,
                    pressed,
                },
            );
        }
        self.window.request_redraw();
    }

    fn sensor_control(&mut self, action: Control, inputs: &Sender<(usize, UserInput)>) {
        let update = {
            let mut p = lock(&self.panel);
            let target = match action {
                Control::Tilt(..) => p.sensors.iter().position(|(n, _)| n == "accel"),
                Control::Step(_) => p.sensors.iter().position(|(n, _)| n != "accel"),
            };
            target.map(|i| {
                let (name, value) = &mut p.sensors[i];
                *value = match action {
                    Control::Tilt(axis, dir) => tilt(*value, axis, dir * TILT_STEP_DEG),
                    Control::Step(dir) => {
                        let mut v = *value;
                        v[0] += dir * sensor_info(name).step;
                        v
                    }
                };
                (name.clone(), *value)
            })
        };
        if let Some((channel, value)) = update {
            self.send(inputs, UserInput::Sensor { channel, value });
            self.window.request_redraw();
        }
    }

    /// The cursor's position in canvas pixels (may be outside it).
    fn cursor_in_canvas(&self) -> Option<(isize, isize)> {
        let c = self.cursor?;
        Some(match self.pixels.window_pos_to_pixel(c) {
            Ok((x, y)) => (x as isize, y as isize),
            Err(p) => p,
        })
    }

    fn cursor_moved(&mut self, pos: (f32, f32), inputs: &Sender<(usize, UserInput)>) {
        self.cursor = Some(pos);
        if self.touching.is_some() {
            if let Some(p) = self
                .cursor_in_canvas()
                .and_then(|c| self.layout.panel_point(c, true))
            {
                if self.touching != Some(p) {
                    self.touching = Some(p);
                    self.send(
                        inputs,
                        UserInput::Touch {
                            x: p.0,
                            y: p.1,
                            pressed: true,
                        },
                    );
                }
            }
        }
    }

    /// A press or release of the left button; returns the panel whose
    /// window a click on one of `Panel::focus_links` asks for.
    fn mouse_button(
        &mut self,
        pressed: bool,
        inputs: &Sender<(usize, UserInput)>,
    ) -> Option<usize> {
        let at = self.cursor_in_canvas();
        if pressed {
            let c = at?;
            if let Some(p) = self.layout.panel_point(c, false) {
                let link = focus_link(&lock(&self.panel), p);
                if link.is_some() {
                    return link;
                }
                self.touching = Some(p);
                self.send(
                    inputs,
                    UserInput::Touch {
                        x: p.0,
                        y: p.1,
                        pressed: true,
                    },
                );
            } else if let Some(i) = self.layout.button_at(c) {
                self.mouse_down_button = Some(i);
                if !self.keys_down.get(i).copied().unwrap_or(false) {
                    self.send(
                        inputs,
                        UserInput::Button {
                            index: i as u32,
                            pressed: true,
                        },
                    );
                }
                self.window.request_redraw();
            }
        } else {
            self.release_mouse(inputs);
        }
        None
    }

    fn release_mouse(&mut self, inputs: &Sender<(usize, UserInput)>) {
        if let Some((x, y)) = self.touching.take() {
            self.send(
                inputs,
                UserInput::Touch {
                    x,
                    y,
                    pressed: false,
                },
            );
        }
        if let Some(i) = self.mouse_down_button.take() {
            if !self.keys_down.get(i).copied().unwrap_or(false) {
                self.send(
                    inputs,
                    UserInput::Button {
                        index: i as u32,
                        pressed: false,
                    },
                );
            }
            self.window.request_redraw();
        }
    }

    /// Focus lost: nothing stays held down.
    fn release_all(&mut self, inputs: &Sender<(usize, UserInput)>) {
        self.release_mouse(inputs);
        for i in 0..self.keys_down.len() {
            self.set_key_button(i, false, inputs);
        }
    }
}

/// The panel whose window a click at panel point `p` asks for.
fn focus_link(panel: &Panel, p: (u32, u32)) -> Option<usize> {
    panel
        .focus_links
        .iter()
        .find(|([x, y, w, h], _)| (*x..x + w).contains(&p.0) && (*y..y + h).contains(&p.1))
        .map(|(_, target)| *target)
}

fn digit_key(code: KeyCode) -> Option<usize> {
    use KeyCode::*;
    const KEYS: [(KeyCode, KeyCode); 9] = [
        (Digit1, Numpad1),
        (Digit2, Numpad2),
        (Digit3, Numpad3),
        (Digit4, Numpad4),
        (Digit5, Numpad5),
        (Digit6, Numpad6),
        (Digit7, Numpad7),
        (Digit8, Numpad8),
        (Digit9, Numpad9),
    ];
    KEYS.iter().position(|&(d, n)| code == d || code == n)
}

// ---- Sensor controls --------------------------------------------------------

const TILT_STEP_DEG: f64 = 15.0;
const STANDARD_GRAVITY: f64 = 9.80665;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Axis {
    X,
    Y,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Control {
    /// Rotate the gravity vector about an axis by +-1 step.
    Tilt(Axis, f64),
    /// Change the first non-accel sensor by +-1 step.
    Step(f64),
}

/// The gravity vector `g` rotated by `deg` degrees about `axis`. A zero
/// vector is taken as a device at rest face up first.
fn tilt(g: [f64; 3], axis: Axis, deg: f64) -> [f64; 3] {
    let g = if g.iter().all(|v| *v == 0.0) {
        [0.0, 0.0, STANDARD_GRAVITY]
    } else {
        g
    };
    let (s, c) = deg.to_radians().sin_cos();
    let r = match axis {
        Axis::X => [g[0], g[1] * c - g[2] * s, g[1] * s + g[2] * c],
        Axis::Y => [g[0] * c + g[2] * s, g[1], -g[0] * s + g[2] * c],
    };
    // Keep exact zeros and avoid drift noise in the shown digits.
    r.map(|v| (v * 1e9).round() / 1e9)
}

struct SensorInfo {
    unit: &'static str,
    axes: usize,
    step: f64,
}

/// Units as in images/include/sensors.h, and the +/- step of each channel.
fn sensor_info(name: &str) -> SensorInfo {
    let (unit, axes, step) = match name {
        "accel" => ("m/s\u{b2}", 3, 0.0),
        "gyro" => ("rad/s", 3, 0.1),
        "mag" => ("\u{b5}T", 3, 5.0),
        "temperature" => ("\u{b0}C", 1, 0.5),
        "humidity" => ("%", 1, 1.0),
        "pressure" => ("Pa", 1, 100.0),
        "light" => ("lx", 1, 10.0),
        "heart-rate" => ("bpm", 1, 5.0),
        "steps" => ("", 1, 1.0),
        _ => ("", 1, 1.0),
    };
    SensorInfo { unit, axes, step }
}

fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// One chrome line per sensor: name, values, unit and which keys move it.
fn sensor_line(name: &str, value: &[f64; 3], controlled: Option<&str>) -> String {
    let info = sensor_info(name);
    let mut s = name.to_string();
    for v in value.iter().take(info.axes) {
        s.push(' ');
        s.push_str(&fmt_value(*v));
    }
    if !info.unit.is_empty() {
        s.push(' ');
        s.push_str(info.unit);
    }
    if let Some(keys) = controlled {
        s.push_str("  [");
        s.push_str(keys);
        s.push(']');
    }
    s
}

// ---- Layout -------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rect {
    x: i32,
    y: i32,
    w: u32,
    h: u32,
}

impl Rect {
    fn contains(&self, (x, y): (isize, isize)) -> bool {
        x >= self.x as isize
            && y >= self.y as isize
            && x < self.x as isize + self.w as isize
            && y < self.y as isize + self.h as isize
    }
}

const MARGIN: i32 = 16;
const BEZEL: i32 = 6;
const MIN_WIDTH: u32 = 400;
const LED_PITCH: i32 = 26;
const LED_RADIUS: i32 = 8;
const BUTTON_W: u32 = 36;
const BUTTON_H: u32 = 30;
const BUTTON_GAP: i32 = 8;
const LINE: i32 = 20;
/// Chrome text: glyphs are drawn 2x (10x14 in a 12x18 cell).
const TEXT_SCALE: i32 = 2;

/// Where everything goes in a window, from the panel's shape.
#[derive(Clone, Debug, PartialEq)]
struct Layout {
    width: u32,
    height: u32,
    /// Window pixels per panel pixel.
    scale: u32,
    /// The panel's size in its own pixels.
    panel_px: (u32, u32),
    /// Where the panel's screen shows, if it has one.
    screen: Option<Rect>,
    /// LED centres, LED 0 first.
    leds: Vec<(i32, i32)>,
    led_label_y: i32,
    buttons: Vec<Rect>,
    button_label_y: i32,
    sensors_y: i32,
    status_y: i32,
}

/// The integer scale that makes the long side of a `w` x `h` screen at
/// least 480 pixels without going over 1000 (1 for screens wider than that).
fn screen_scale(w: u32, h: u32) -> u32 {
    let long = w.max(h).max(1);
    let want = 480u32.div_ceil(long).max(1);
    let fit = (1000 / long).max(1);
    want.min(fit)
}

impl Layout {
    fn new(p: &Panel) -> Layout {
        let screen_px = p
            .screen_size
            .or_else(|| p.frame.as_ref().map(|f| (f.width, f.height)))
            .filter(|&(w, h)| w > 0 && h > 0);
        let scale = screen_px.map_or(1, |(w, h)| screen_scale(w, h));
        let (sw, sh) = screen_px.map_or((0, 0), |(w, h)| (w * scale, h * scale));
        let width = (sw + 2 * (MARGIN + BEZEL) as u32).max(MIN_WIDTH);
        let right = width as i32 - MARGIN;
        let label_w = 4 * 6 * TEXT_SCALE; // "LED " / "KEY "
        let mut y = MARGIN;

        let screen = screen_px.map(|_| {
            let r = Rect {
                x: (width as i32 - sw as i32) / 2,
                y: y + BEZEL,
                w: sw,
                h: sh,
            };
            y += sh as i32 + 2 * BEZEL + 12;
            r
        });

        let mut leds = Vec::new();
        let led_label_y = y;
        if !p.leds.is_empty() {
            let x0 = MARGIN + label_w + LED_RADIUS;
            let (mut x, mut row_y) = (x0, y + LED_RADIUS + 1);
            for _ in &p.leds {
                if x + LED_RADIUS > right && x > x0 {
                    x = x0;
                    row_y += LED_PITCH + 8;
                }
                leds.push((x, row_y));
                x += LED_PITCH;
            }
            // Each LED has its number under it (1x text).
            y = row_y + LED_RADIUS + 12 + 8;
        }

        let mut buttons = Vec::new();
        let button_label_y = y;
        if p.buttons > 0 {
            let x0 = MARGIN + label_w;
            let (mut x, mut row_y) = (x0, y);
            for _ in 0..p.buttons {
                if x + BUTTON_W as i32 > right && x > x0 {
                    x = x0;
                    row_y += BUTTON_H as i32 + BUTTON_GAP;
                }
                buttons.push(Rect {
                    x,
                    y: row_y,
                    w: BUTTON_W,
                    h: BUTTON_H,
                });
                x += BUTTON_W as i32 + BUTTON_GAP;
            }
            y = row_y + BUTTON_H as i32 + 12;
        }

        let sensors_y = y;
        y += LINE * p.sensors.len() as i32;
        if !p.sensors.is_empty() {
            y += 4;
        }
        // A rule, then the status line.
        let status_y = y + 8;
        let height = (status_y + LINE + MARGIN - 4) as u32;
        Layout {
            width,
            height,
            scale,
            panel_px: screen_px.unwrap_or((0, 0)),
            screen,
            leds,
            led_label_y,
            buttons,
            button_label_y,
            sensors_y,
            status_y,
        }
    }

    /// The panel pixel under canvas point `c`; with `clamp`, points outside
    /// the screen give the nearest edge pixel (a drag that left it).
    fn panel_point(&self, (x, y): (isize, isize), clamp: bool) -> Option<(u32, u32)> {
        let r = self.screen?;
        if !clamp && !r.contains((x, y)) {
            return None;
        }
        let dx = (x - r.x as isize).clamp(0, r.w as isize - 1) as u32;
        let dy = (y - r.y as isize).clamp(0, r.h as isize - 1) as u32;
        let s = self.scale.max(1);
        Some((
            (dx / s).min(self.panel_px.0.saturating_sub(1)),
            (dy / s).min(self.panel_px.1.saturating_sub(1)),
        ))
    }

    fn button_at(&self, c: (isize, isize)) -> Option<usize> {
        self.buttons.iter().position(|r| r.contains(c))
    }
}

// ---- Drawing --------------------------------------------------------------------

const BG: u32 = 0x202328;
const BEZEL_COLOUR: u32 = 0x0a0a0c;
const BEZEL_EDGE: u32 = 0x4a505a;
const NO_PICTURE: u32 = 0x121316;
const TEXT: u32 = 0xd8dce0;
const DIM: u32 = 0x808890;
const RULE: u32 = 0x3a3f48;
const FINISHED: u32 = 0xffc040;
const BUTTON: u32 = 0x3a3f48;
const BUTTON_EDGE: u32 = 0x626a74;
const BUTTON_DOWN: u32 = 0xe8c040;
const LED_COLOURS: [u32; 8] = [
    0x30ff50, 0xff3030, 0xffc820, 0x3090ff, 0xffffff, 0xff50ff, 0x30ffff, 0xff8820,
];

fn rgb_f64(c: u32) -> [f64; 3] {
    [(c >> 16) & 0xff, (c >> 8) & 0xff, c & 0xff].map(|v| v as f64 / 255.0)
}

fn scale_colour(c: u32, f: u32) -> u32 {
    let ch = |shift: u32| (((c >> shift) & 0xff) * f / 256) << shift;
    ch(16) | ch(8) | ch(0)
}

/// A 0x00RRGGBB picture the chrome is composed in.
struct Canvas {
    w: u32,
    h: u32,
    px: Vec<u32>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![BG; (w * h) as usize],
        }
    }

    fn put(&mut self, x: i32, y: i32, c: u32) {
        if x >= 0 && y >= 0 && (x as u32) < self.w && (y as u32) < self.h {
            self.px[(y as u32 * self.w + x as u32) as usize] = c;
        }
    }

    fn fill(&mut self, r: Rect, c: u32) {
        let x0 = r.x.max(0) as u32;
        let y0 = r.y.max(0) as u32;
        let x1 = ((r.x as i64 + r.w as i64).clamp(0, self.w as i64)) as u32;
        let y1 = ((r.y as i64 + r.h as i64).clamp(0, self.h as i64)) as u32;
        for y in y0..y1 {
            let row = (y * self.w) as usize;
            self.px[row + x0 as usize..row + x1.max(x0) as usize].fill(c);
        }
    }

    fn outline(&mut self, r: Rect, c: u32) {
        let (w, h) = (r.w as i32, r.h as i32);
        for i in 0..w {
            self.put(r.x + i, r.y, c);
            self.put(r.x + i, r.y + h - 1, c);
        }
        for j in 0..h {
            self.put(r.x, r.y + j, c);
            self.put(r.x + w - 1, r.y + j, c);
        }
    }

    fn disc(&mut self, cx: i32, cy: i32, radius: i32, c: u32) {
        let r2 = radius * radius + radius;
        for dy in -radius..=radius {
            for dx in -radius..=radius {
                if dx * dx + dy * dy <= r2 {
                    self.put(cx + dx, cy + dy, c);
                }
            }
        }
    }

    /// Draws `s` with its top-left at `x, y`; returns the x after it.
    fn text(&mut self, x: i32, y: i32, scale: i32, c: u32, s: &str) -> i32 {
        super::font::draw_text(x, y, scale, s, |px, py| self.put(px, py, c))
    }

    /// Text at 2x if it fits in `max_w`, else 1x, else cut with "~".
    fn text_fit(&mut self, x: i32, y: i32, max_w: i32, c: u32, s: &str) {
        let n = s.chars().count() as i32;
        if n * 6 * TEXT_SCALE <= max_w {
            self.text(x, y, TEXT_SCALE, c, s);
        } else if n * 6 <= max_w {
            self.text(x, y + 4, 1, c, s);
        } else {
            let keep = (max_w / 6 - 1).max(0) as usize;
            let cut: String = s.chars().take(keep).chain(std::iter::once('~')).collect();
            self.text(x, y + 4, 1, c, &cut);
        }
    }
}

/// Draws the whole window: screen, LEDs, buttons, sensors, status.
fn compose(p: &Panel, l: &Layout, highlighted: &[bool], cv: &mut Canvas) {
    cv.px.fill(BG);
    let right = l.width as i32 - MARGIN;

    if let Some(r) = l.screen {
        let bezel = Rect {
            x: r.x - BEZEL,
            y: r.y - BEZEL,
            w: r.w + 2 * BEZEL as u32,
            h: r.h + 2 * BEZEL as u32,
        };
        cv.fill(bezel, BEZEL_COLOUR);
        cv.outline(bezel, BEZEL_EDGE);
        cv.fill(r, NO_PICTURE);
        match &p.frame {
            Some(f) if f.width > 0 && f.height > 0 => blit(cv, r, l.scale, f),
            _ => {
                let msg = "no picture";
                let tw = msg.len() as i32 * 6 * TEXT_SCALE;
                cv.text(
                    r.x + (r.w as i32 - tw) / 2,
                    r.y + r.h as i32 / 2 - 7,
                    TEXT_SCALE,
                    0x484c54,
                    msg,
                );
            }
        }
    }

    if !l.leds.is_empty() {
        cv.text(MARGIN, l.led_label_y + 2, TEXT_SCALE, DIM, "LED");
        for (i, (&(x, y), &on)) in l.leds.iter().zip(p.leds.iter()).enumerate() {
            let colour = LED_COLOURS[i % LED_COLOURS.len()];
            if on {
                cv.disc(x, y, LED_RADIUS + 2, scale_colour(colour, 90));
                cv.disc(x, y, LED_RADIUS, colour);
                cv.disc(x - 3, y - 3, 2, 0xffffff);
            } else {
                cv.disc(x, y, LED_RADIUS, 0x50545c);
                cv.disc(x, y, LED_RADIUS - 1, scale_colour(colour, 48));
            }
            let label = i.to_string();
            let tw = label.len() as i32 * 6;
            cv.text(x - tw / 2 + 1, y + LED_RADIUS + 4, 1, DIM, &label);
        }
    }

    if !l.buttons.is_empty() {
        cv.text(MARGIN, l.button_label_y + 8, TEXT_SCALE, DIM, "KEY");
        for (i, r) in l.buttons.iter().enumerate() {
            let down = highlighted.get(i).copied().unwrap_or(false);
            cv.fill(*r, if down { BUTTON_DOWN } else { BUTTON });
            cv.outline(*r, if down { 0xfff0a0 } else { BUTTON_EDGE });
            let label = (i + 1).to_string();
            let tw = label.len() as i32 * 6 * TEXT_SCALE - TEXT_SCALE;
            cv.text(
                r.x + (r.w as i32 - tw) / 2,
                r.y + (r.h as i32 - 7 * TEXT_SCALE) / 2,
                TEXT_SCALE,
                if down { 0x202020 } else { TEXT },
                &label,
            );
        }
    }

    let stepped = p
        .sensors
        .iter()
        .position(|(n, _)| n != "accel")
        .map(|i| &p.sensors[i].0);
    for (i, (name, value)) in p.sensors.iter().enumerate() {
        let keys = if name == "accel" {
            Some("arrows")
        } else if Some(name) == stepped {
            Some("+/-")
        } else {
            None
        };
        let line = sensor_line(name, value, keys);
        cv.text_fit(
            MARGIN,
            l.sensors_y + i as i32 * LINE,
            right - MARGIN,
            TEXT,
            &line,
        );
    }

    cv.fill(
        Rect {
            x: MARGIN,
            y: l.status_y - 6,
            w: (right - MARGIN).max(0) as u32,
            h: 1,
        },
        RULE,
    );
    let colour = if p.finished { FINISHED } else { TEXT };
    cv.text_fit(MARGIN, l.status_y, right - MARGIN, colour, &p.status);
}

/// The frame scaled by `s` into screen rectangle `r` (clipped to it).
fn blit(cv: &mut Canvas, r: Rect, s: u32, f: &ensemble_devices::VideoFrame) {
    let s = s.max(1);
    let w = f.width.min(r.w / s);
    let h = f.height.min(r.h / s);
    if f.pixels.len() < (f.width * f.height) as usize {
        return;
    }
    for fy in 0..h {
        let src = &f.pixels[(fy * f.width) as usize..(fy * f.width + w) as usize];
        for sy in 0..s {
            let y = r.y + (fy * s + sy) as i32;
            if y < 0 || y as u32 >= cv.h {
                continue;
            }
            let row = (y as u32 * cv.w) as usize;
            for (fx, &p) in src.iter().enumerate() {
                let x0 = r.x + (fx as u32 * s) as i32;
                for sx in 0..s as i32 {
                    let x = x0 + sx;
                    if x >= 0 && (x as u32) < cv.w {
                        cv.px[row + x as usize] = p & 0x00ff_ffff;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::font::glyph;
    use ensemble_devices::VideoFrame;

    fn panel(screen: Option<(u32, u32)>) -> Panel {
        Panel {
            name: "dev".into(),
            screen_size: screen,
            leds: vec![true, false, true],
            buttons: 3,
            sensors: vec![
                ("accel".into(), [0.0, 0.0, 9.81]),
                ("temperature".into(), [25.0, 0.0, 0.0]),
            ],
            status: "t 1.000 s  1.00x".into(),
            ..Panel::default()
        }
    }

    #[test]
    fn scale_makes_screens_readable() {
        assert_eq!(screen_scale(240, 240), 2);
        assert_eq!(screen_scale(128, 64), 4);
        assert_eq!(screen_scale(320, 240), 2);
        assert_eq!(screen_scale(480, 272), 1);
        assert_eq!(screen_scale(800, 480), 1);
        assert_eq!(screen_scale(1280, 720), 1);
        for (w, h) in [(96, 64), (160, 128), (240, 320), (84, 48)] {
            let s = screen_scale(w, h);
            assert!(w.max(h) * s >= 480 && w.max(h) * s <= 1000, "{w}x{h}: {s}");
        }
    }

    #[test]
    fn layout_fits_everything_and_maps_touches() {
        let p = panel(Some((240, 240)));
        let l = Layout::new(&p);
        let r = l.screen.unwrap();
        assert_eq!((r.w, r.h, l.scale), (480, 480, 2));
        assert!(r.x >= MARGIN && r.x + r.w as i32 <= l.width as i32 - MARGIN);
        assert_eq!(l.leds.len(), 3);
        assert_eq!(l.buttons.len(), 3);
        assert!(l.buttons.iter().all(|b| b.y > r.y + r.h as i32));
        assert!(l.status_y + LINE <= l.height as i32);
        // Touch mapping: window pixels to panel pixels.
        let at = |x: i32, y: i32| (x as isize, y as isize);
        assert_eq!(l.panel_point(at(r.x, r.y), false), Some((0, 0)));
        assert_eq!(
            l.panel_point(at(r.x + 479, r.y + 479), false),
            Some((239, 239))
        );
        assert_eq!(
            l.panel_point(at(r.x + 101, r.y + 50), false),
            Some((50, 25))
        );
        assert_eq!(l.panel_point(at(r.x - 1, r.y), false), None);
        assert_eq!(l.panel_point(at(r.x - 40, r.y + 900), true), Some((0, 239)));
        let b = l.buttons[1];
        assert_eq!(l.button_at(at(b.x + 3, b.y + 3)), Some(1));
        assert_eq!(l.button_at(at(0, 0)), None);
        // No screen: chrome only, no touches.
        let l = Layout::new(&panel(None));
        assert!(l.screen.is_none() && l.width == MIN_WIDTH);
        assert_eq!(l.panel_point((100, 20), true), None);
    }

    #[test]
    fn compose_scales_the_frame_into_the_screen() {
        let mut p = panel(Some((4, 2)));
        p.frame = Some(VideoFrame {
            time: 0,
            seq: 1,
            width: 4,
            height: 2,
            pixels: vec![1, 2, 3, 4, 5, 6, 7, 0x00ff_ffff],
        });
        let l = Layout::new(&p);
        let mut cv = Canvas::new(l.width, l.height);
        compose(&p, &l, &[false, true, false], &mut cv);
        let r = l.screen.unwrap();
        let s = l.scale as i32;
        let at = |x: i32, y: i32| cv.px[(y as u32 * cv.w + x as u32) as usize];
        assert_eq!(at(r.x, r.y), 1);
        assert_eq!(at(r.x + s - 1, r.y + s - 1), 1);
        assert_eq!(at(r.x + 3 * s, r.y + s), 0x00ff_ffff);
        assert_eq!(at(r.x + 4 * s - 1, r.y + 2 * s - 1), 0x00ff_ffff);
        // The pressed button is highlighted, the others not.
        let b = l.buttons[1];
        assert_eq!(at(b.x + 2, b.y + 2), BUTTON_DOWN);
        let b = l.buttons[0];
        assert_eq!(at(b.x + 2, b.y + 2), BUTTON);
        // A lit LED shows its colour, an unlit one does not.
        let (x, y) = l.leds[0];
        assert_eq!(at(x + 2, y + 2), LED_COLOURS[0]);
        let (x, y) = l.leds[1];
        assert_ne!(at(x + 2, y + 2), LED_COLOURS[1]);
        // Without a frame: the dark placeholder.
        p.frame = None;
        compose(&p, &l, &[], &mut cv);
        assert_eq!(cv.px[(r.y as u32 * cv.w + r.x as u32) as usize], NO_PICTURE);
    }

    #[test]
    fn focus_links_name_the_window_under_a_click() {
        let mut p = panel(Some((100, 100)));
        assert_eq!(focus_link(&p, (5, 5)), None);
        p.focus_links = vec![([10, 10, 20, 10], 3), ([40, 10, 5, 5], 1)];
        assert_eq!(focus_link(&p, (10, 10)), Some(3));
        assert_eq!(focus_link(&p, (29, 19)), Some(3));
        assert_eq!(focus_link(&p, (30, 19)), None);
        assert_eq!(focus_link(&p, (42, 12)), Some(1));
        assert_eq!(focus_link(&p, (42, 15)), None);
    }

    #[test]
    fn tilting_rotates_gravity() {
        let g = [0.0, 0.0, 9.81];
        let mut v = g;
        for _ in 0..6 {
            v = tilt(v, Axis::X, 15.0);
        }
        assert!((v[1] + 9.81).abs() < 1e-6 && v[2].abs() < 1e-6, "{v:?}");
        let v = tilt(g, Axis::Y, 15.0);
        let len = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        assert!((len - 9.81).abs() < 1e-6);
        assert!(v[0] > 2.5 && v[1] == 0.0);
        assert_eq!(tilt([0.0; 3], Axis::Y, 0.0), [0.0, 0.0, STANDARD_GRAVITY]);
    }

    #[test]
    fn sensor_lines_and_font() {
        assert_eq!(
            sensor_line("temperature", &[25.5, 0.0, 0.0], Some("+/-")),
            "temperature 25.50 \u{b0}C  [+/-]"
        );
        assert_eq!(
            sensor_line("accel", &[0.0, 0.0, 9.81], None),
            "accel 0.00 0.00 9.81 m/s\u{b2}"
        );
        assert_eq!(sensor_info("heart-rate").step, 5.0);
        // Every printable character has a glyph; only space is blank.
        for c in '!'..='~' {
            assert!(glyph(c).iter().any(|r| *r != 0), "{c:?}");
        }
        assert_eq!(glyph('\u{2603}'), glyph('?'));
        assert_eq!(digit_key(KeyCode::Digit1), Some(0));
        assert_eq!(digit_key(KeyCode::Numpad9), Some(8));
        assert_eq!(digit_key(KeyCode::Digit0), None);
    }
}
