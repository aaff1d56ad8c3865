//! Running a scenario: every machine of the fleet advances in quanta no
//! longer than the shortest link latency; at each boundary the frames sent
//! during the quantum cross their networks (in a fixed order, with seeded
//! loss and jitter) and become arrivals in later quanta; steps of the
//! timeline are checked and applied. Nothing here depends on host time or
//! on how many worker threads there are.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use crate::board::Board;
use crate::fleet::{Fleet, Inbound, MachineSpec, MachineState};
use crate::frontend::headless::{
    channel_of, compare_screens, read_png, rms, tone_frequency, write_png, WavSink,
};
use crate::frontend::record::{Recorded, ScenarioInput, ScenarioRecorder};
use crate::frontend::UserInput;
use crate::machine::CrashInfo;
use crate::net::pcap::Capture;
use crate::net::switch::Switch;
use crate::net::wireless::Wireless;
use crate::net::{classify, Delivery, Loss, PacketKind, Rng};
use crate::scenario::{Action, Medium, NetworkDecl, PacketFilter, Scenario};
use crate::trace::{NetworkTrace, Trace, TraceKind, TraceTo};
use ensemble_devices::VideoFrame;

mod snapshot;
pub use snapshot::VERSION as SNAPSHOT_VERSION;

/// Quantum when no network bounds it.
const DEFAULT_QUANTUM_NS: u64 = 10_000_000;

pub struct Options {
    pub threads: usize,
    pub time_limit_ns: Option<u64>,
    /// UART logs and pcaps go here.
    pub artifacts: Option<PathBuf>,
    /// Pcaps go here instead (a file may be a named pipe read live).
    pub pcap_dir: Option<PathBuf>,
    pub realtime: bool,
    /// `--trace network`: every frame sent, delivered or dropped.
    pub trace_network: Option<TraceTo>,
    /// Save the whole scenario to this file at the first quantum boundary
    /// at or after this virtual time (ns).
    pub snapshot_at: Option<(u64, PathBuf)>,
    /// Continue from a snapshot of this scenario.
    pub restore: Option<PathBuf>,
    /// `--gdb`: a GDB server for every device.
    pub gdb: Option<GdbOptions>,
}

/// A GDB server per device, device i on port `base` + i of `base`'s host
/// (port 0: each a free one).
#[derive(Debug, Clone)]
pub struct GdbOptions {
    pub base: std::net::SocketAddr,
    /// Devices held at reset until their gdb connects and continues them.
    pub wait: Vec<String>,
}

#[derive(Debug)]
pub enum Ending {
    /// Every step passed (or, with no steps, every device went to sleep).
    Passed,
    /// A step failed: its index in the scenario's steps, its line, its
    /// text and why.
    StepFailed {
        index: usize,
        line: usize,
        step: String,
        why: String,
    },
    /// The time limit came first; the step then pending (index, text).
    TimeLimit { pending: Option<(usize, String)> },
    /// A device crashed at virtual time `time_ns` (during the quantum
    /// that ended at the report's time).
    Crashed {
        device: String,
        info: Box<CrashInfo>,
        time_ns: u64,
    },
    /// Whoever watched the run ended it (closed its window).
    Stopped,
}

pub struct Report {
    pub ending: Ending,
    pub time_ns: u64,
    /// Each device's console output, in full.
    pub consoles: Vec<Vec<u8>>,
    pub frames_sent: u64,
    pub frames_dropped: u64,
    /// When `Options::snapshot_at` was taken (ns), if it was.
    pub snapshot_ns: Option<u64>,
    /// Replaying: how many recorded inputs the run ended before.
    pub replay_left: usize,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum Fabric {
    Switch(Switch),
    Wireless(Wireless),
}

struct Net {
    fabric: Fabric,
    capture: Option<Capture>,
    /// The host, as one more switch port after the members.
    bridge: Option<HostBridge>,
}

struct HostBridge {
    /// None when replaying: the host's frames come from the recording and
    /// frames for it go nowhere.
    socket: Option<std::net::UdpSocket>,
    remote: std::net::SocketAddr,
    port: usize,
}

/// Where the inputs from outside the simulation come from (the watcher's
/// window, the host behind a bridge), and whether they are written down.
pub enum External {
    /// As they come.
    Live,
    /// As they come, each written to the recording with the virtual time
    /// it entered at.
    Record(ScenarioRecorder),
    /// From a recording only (see `frontend::record::load_scenario`): the
    /// watcher's inputs are ignored, no bridge socket is bound, frames to
    /// the host are dropped, and a bridge does not pace the run to the
    /// wall clock.
    Replay(std::collections::VecDeque<(u64, ScenarioInput)>),
}

/// A recording being replayed, sorted by what it feeds.
#[derive(Default)]
struct Replay {
    /// (time, device, input), in time order.
    inputs: std::collections::VecDeque<(u64, usize, Inbound)>,
    /// Per network: (time, frame from the host), in time order.
    frames: Vec<std::collections::VecDeque<(u64, Vec<u8>)>>,
    stop_at: Option<u64>,
}

impl Replay {
    fn new(n_nets: usize, recording: std::collections::VecDeque<(u64, ScenarioInput)>) -> Replay {
        let mut r = Replay {
            frames: vec![Default::default(); n_nets],
            ..Replay::default()
        };
        for (t, input) in recording {
            match input {
                ScenarioInput::Device(d, what) => r.inputs.push_back((t, d, inbound_of(what))),
                ScenarioInput::Frame(n, frame) => r.frames[n].push_back((t, frame)),
                ScenarioInput::Stop => {
                    r.stop_at.get_or_insert(t);
                }
            }
        }
        r
    }

    /// The time of the next thing to replay.
    fn next_at(&self) -> Option<u64> {
        let frames = self.frames.iter().filter_map(|q| q.front().map(|f| f.0));
        let inputs = self.inputs.front().map(|i| i.0);
        frames.chain(inputs).chain(self.stop_at).min()
    }

    /// Inputs due at `now`.
    fn inputs_due(&mut self, now: u64) -> Vec<(usize, Inbound)> {
        let mut out = Vec::new();
        while let Some((_, d, x)) = self.inputs.pop_front_if(|(t, _, _)| *t <= now) {
            out.push((d, x));
        }
        out
    }

    fn left(&self) -> usize {
        self.inputs.len()
            + self.frames.iter().map(|q| q.len()).sum::<usize>()
            + self.stop_at.is_some() as usize
    }
}

/// What a recorded input does to a device.
fn inbound_of(what: Recorded) -> Inbound {
    match what {
        Recorded::Uart(bytes) => Inbound::Uart { bytes },
        Recorded::User(UserInput::Button { index, pressed }) => Inbound::Button { index, pressed },
        Recorded::User(UserInput::Touch { x, y, pressed }) => Inbound::Touch { x, y, pressed },
        Recorded::User(UserInput::Sensor { channel, value }) => Inbound::Sensor {
            channel,
            source: ensemble_devices::SensorSource::Constant(value),
        },
        Recorded::User(UserInput::Close) => Inbound::PowerOff,
    }
}

/// How an input from the watcher is written down (None: it cannot be).
fn recorded_of(input: &Inbound) -> Option<Recorded> {
    Some(match input {
        Inbound::Uart { bytes } => Recorded::Uart(bytes.clone()),
        Inbound::Button { index, pressed } => Recorded::User(UserInput::Button {
            index: *index,
            pressed: *pressed,
        }),
        Inbound::Touch { x, y, pressed } => Recorded::User(UserInput::Touch {
            x: *x,
            y: *y,
            pressed: *pressed,
        }),
        Inbound::Sensor {
            channel,
            source: ensemble_devices::SensorSource::Constant(value),
        } => Recorded::User(UserInput::Sensor {
            channel: channel.clone(),
            value: *value,
        }),
        Inbound::PowerOff => Recorded::User(UserInput::Close),
        _ => return None,
    })
}

impl Net {
    fn set_link(&mut self, port: usize, up: bool) {
        match &mut self.fabric {
            Fabric::Switch(s) => s.set_link(port, up),
            Fabric::Wireless(w) => w.set_enabled(port, up),
        }
    }

    fn dropped(&self) -> u64 {
        match &self.fabric {
            Fabric::Switch(s) => s.dropped,
            Fabric::Wireless(w) => w.dropped,
        }
    }
}

/// The MAC a scenario gives the n-th device's first NIC: QEMU's prefix and
/// the device index, so images can derive their identity from it.
pub fn device_mac(index: usize) -> String {
    format!("52:54:00:12:34:{:02x}", index & 0xff)
}

/// The scenario as a picture of it needs it: told once, before the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    /// The scenario's name.
    pub name: String,
    pub devices: Vec<TopologyDevice>,
    pub networks: Vec<TopologyNetwork>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopologyDevice {
    pub name: String,
    /// The board as the scenario names it (built-in name or file).
    pub board: String,
    /// Metres ([0, 0, 0] when the scenario gives none).
    pub position: [f64; 3],
    /// Where the scenario's steps will move it, in step order (a picture
    /// can make room for them from the start).
    pub moves_to: Vec<[f64; 3]>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopologyNetwork {
    pub name: String,
    pub wireless: bool,
    /// Device indices, in port order.
    pub members: Vec<usize>,
    /// Wireless: how far a 0 dBm frame gets through at least half the
    /// time, capped by the network's hard range.
    pub range_m: Option<f64>,
    /// Joined to the host by a bridge.
    pub bridged: bool,
}

impl Topology {
    pub fn of(scenario: &Scenario) -> Topology {
        Topology {
            name: scenario.name.clone(),
            devices: scenario
                .devices
                .iter()
                .enumerate()
                .map(|(i, d)| TopologyDevice {
                    name: d.name.clone(),
                    board: d.board.clone(),
                    position: d.position,
                    moves_to: scenario
                        .steps
                        .iter()
                        .filter_map(|s| match &s.action {
                            Action::Move { device, position } if *device == i => Some(*position),
                            _ => None,
                        })
                        .collect(),
                })
                .collect(),
            networks: scenario
                .networks
                .iter()
                .enumerate()
                .map(|(i, n)| TopologyNetwork {
                    name: n.name.clone(),
                    wireless: n.medium.is_wireless(),
                    members: n.members.clone(),
                    range_m: match &n.medium {
                        Medium::Switch(_) => None,
                        Medium::Wireless(p) => {
                            // RSSI = sensitivity at 0 dBm: 50% delivery.
                            let nominal = if p.exponent > 0.0 {
                                10f64.powf(
                                    (-p.reference_loss_db - p.sensitivity_dbm)
                                        / (10.0 * p.exponent),
                                )
                            } else {
                                f64::INFINITY
                            };
                            let hard = if p.range_m > 0.0 {
                                p.range_m
                            } else {
                                f64::INFINITY
                            };
                            Some(nominal.min(hard)).filter(|r| r.is_finite())
                        }
                    },
                    bridged: scenario.bridges.iter().any(|b| b.network == i),
                })
                .collect(),
        }
    }
}

/// A frame crossing a network, as an observer sees it: one per receiver
/// (a broadcast to three devices is three), and one per loss. Frames from
/// or to the host behind a bridge are not told.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketEvent {
    /// Index of the network in the scenario.
    pub net: usize,
    /// Sending device.
    pub from: usize,
    /// Receiving device; `None` when the frame was lost (dropped by the
    /// network: link down, loss, collision, too long).
    pub to: Option<usize>,
    /// For a lost frame, the device it was on its way to, when known.
    pub meant_for: Option<usize>,
    /// Virtual time it was sent (for radios: started on air).
    pub sent_ns: u64,
    /// Virtual time it arrives (`sent_ns` for a lost frame).
    pub arrives_ns: u64,
    /// Bytes: the Ethernet frame, or the radio's PSDU.
    pub len: usize,
    pub kind: PacketKind,
}

/// What a scenario's run tells whoever watches it.
pub trait Observer {
    /// Device `dev` printed `bytes` on its console.
    fn console(&mut self, _dev: usize, _bytes: &[u8]) {}
    /// Step `index` passed at virtual time `now_ns`.
    fn step_passed(&mut self, _index: usize, _now_ns: u64) {}
    /// Virtual time reached `now_ns` (once per quantum).
    fn progress(&mut self, _now_ns: u64) {}
    /// Device `dev` showed a new frame / played sound / has these LEDs lit
    /// (after the quantum's consoles; LEDs once at the start and then
    /// whenever they change).
    fn screen(&mut self, _dev: usize, _frame: &VideoFrame) {}
    fn audio(&mut self, _dev: usize, _chunk: &ensemble_devices::AudioChunk) {}
    fn leds(&mut self, _dev: usize, _leds: &[bool]) {}
    /// Inputs from outside (a window) to apply before the next quantum.
    fn inputs(&mut self) -> Vec<(usize, Inbound)> {
        Vec::new()
    }
    /// An input from outside entered device `dev` at `now_ns`: one that
    /// `inputs` gave, or one replayed from a recording (then `inputs`' own
    /// are not applied).
    fn external(&mut self, _dev: usize, _input: &Inbound, _now_ns: u64) {}
    /// The watcher wants the run to end now (its window closed).
    fn wants_stop(&mut self) -> bool {
        false
    }
    /// The scenario's devices and networks, once before the first quantum.
    fn topology(&mut self, _topology: &Topology) {}
    /// A step moved device `dev` to `position` (metres) at `now_ns`.
    fn moved(&mut self, _dev: usize, _position: [f64; 3], _now_ns: u64) {}
    /// A step took device `dev`'s link on network `net` down or up.
    fn link(&mut self, _net: usize, _dev: usize, _up: bool, _now_ns: u64) {}
    /// A step split switch network `net` into groups of devices that cannot
    /// reach each other (members not named form one more group), or healed
    /// it (`groups` empty).
    fn partition(&mut self, _net: usize, _groups: &[Vec<usize>], _now_ns: u64) {}
    /// A frame crossed (or was lost on) a network. Told at the end of the
    /// quantum in which the network decided its fate: for switches, the
    /// quantum it was sent in; for radios, the first one after it ended on
    /// air.
    fn packet(&mut self, _packet: &PacketEvent) {}
}

/// An observer that only forwards consoles to a closure.
pub struct ConsoleObserver<F: FnMut(usize, &[u8])>(pub F);

impl<F: FnMut(usize, &[u8])> Observer for ConsoleObserver<F> {
    fn console(&mut self, dev: usize, bytes: &[u8]) {
        (self.0)(dev, bytes)
    }
}

pub fn run(
    scenario: &Scenario,
    opts: &Options,
    on_console: impl FnMut(usize, &[u8]),
) -> anyhow::Result<Report> {
    run_observed(scenario, opts, &mut ConsoleObserver(on_console))
}

pub fn run_observed(
    scenario: &Scenario,
    opts: &Options,
    observer: &mut dyn Observer,
) -> anyhow::Result<Report> {
    run_external(scenario, opts, observer, External::Live)
}

/// `run_observed`, with the inputs from outside recorded or replayed.
pub fn run_external(
    scenario: &Scenario,
    opts: &Options,
    observer: &mut dyn Observer,
    external: External,
) -> anyhow::Result<Report> {
    use anyhow::Context;
    if opts.restore.is_some() && !matches!(external, External::Live) {
        return Err(anyhow::anyhow!(
            "--record and --replay start from virtual time 0: they cannot be combined with --restore"
        ));
    }
    let (mut recorder, mut replay) = match external {
        External::Live => (None, None),
        External::Record(r) => (Some(r), None),
        External::Replay(q) => (None, Some(Replay::new(scenario.networks.len(), q))),
    };
    let mut specs = Vec::new();
    for (i, d) in scenario.devices.iter().enumerate() {
        let mut board = Board::load(&d.board).with_context(|| format!("device '{}'", d.name))?;
        // Each device its own identity: MACs for Ethernet, EUIs for radios.
        for dev in board.devices.iter_mut() {
            match dev.kind.as_str() {
                "lan9118" | "virtio-net" => {
                    dev.params
                        .insert("mac".into(), toml::Value::String(device_mac(i)));
                }
                "radio" => {
                    dev.params
                        .insert("eui".into(), toml::Value::Integer(i as i64 + 1));
                }
                _ => {}
            }
        }
        let image = crate::boot::device_image(&mut board, &d.image, d.boot.as_ref())
            .with_context(|| format!("device '{}'", d.name))?;
        specs.push(MachineSpec {
            name: d.name.clone(),
            board,
            image,
            console: d.console.clone(),
            gdb: None,
        });
    }
    if let Some(g) = &opts.gdb {
        for w in &g.wait {
            if !scenario.devices.iter().any(|d| &d.name == w) {
                return Err(anyhow::anyhow!(
                    "--gdb-wait '{w}': the scenario has no such device (it has {})",
                    scenario
                        .devices
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let base = g.base.port() as usize;
        let last = base + specs.len().saturating_sub(1);
        if base != 0 && last > u16::MAX as usize {
            return Err(anyhow::anyhow!(
                "--gdb {base}: {} devices need ports {base}-{last}, past 65535",
                specs.len()
            ));
        }
        for (i, spec) in specs.iter_mut().enumerate() {
            let mut addr = g.base;
            if base != 0 {
                addr.set_port((base + i) as u16);
            }
            let wait = g.wait.contains(&spec.name);
            spec.gdb = Some(crate::gdb::Server::bind(addr, Some(&spec.name), wait)?);
        }
    }
    let clocks: Vec<u64> = specs.iter().map(|s| s.board.clock_hz).collect();
    let mut fleet = Fleet::start(specs, opts.threads).map_err(anyhow::Error::msg)?;

    // Which interface of each device is on which network: the k-th network
    // of a kind that a device joins uses its k-th interface of that kind.
    let mut port_nic: Vec<Vec<String>> = Vec::new();
    let mut joined: Vec<[usize; 2]> = vec![[0, 0]; scenario.devices.len()];
    for n in &scenario.networks {
        let (slot, kind) = if n.medium.is_wireless() {
            (1, "radio")
        } else {
            (0, "ethernet")
        };
        let mut nics = Vec::new();
        for &d in &n.members {
            let k = joined[d][slot];
            joined[d][slot] += 1;
            let have: Vec<&String> = fleet.nics[d]
                .iter()
                .filter(|(_, k)| *k == kind)
                .map(|(n, _)| n)
                .collect();
            let nic = have.get(k).map(|s| (*s).clone()).ok_or_else(|| {
                anyhow::anyhow!(
                    "device '{}' has no {kind} interface for network '{}' (its board has {})",
                    scenario.devices[d].name,
                    n.name,
                    have.len()
                )
            })?;
            nics.push(nic);
        }
        port_nic.push(nics);
    }

    if let Some(dir) = &opts.artifacts {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating artifacts folder {}", dir.display()))?;
    }
    let mut seeds = Rng::new(scenario.seed);
    let mut nets: Vec<Net> = Vec::new();
    for n in &scenario.networks {
        let capture = match opts.pcap_dir.as_ref().or(opts.artifacts.as_ref()) {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let p = dir.join(format!("{}.pcap", n.name));
                Some(
                    Capture::create(&p, n.medium.is_wireless())
                        .with_context(|| format!("creating {}", p.display()))?,
                )
            }
            None => None,
        };
        let seed = seeds.next_u64();
        let bridge = match scenario
            .bridges
            .iter()
            .find(|b| scenario.networks[b.network].name == n.name)
        {
            Some(b) if replay.is_some() => {
                eprintln!(
                    "ensemble: network '{}' bridged to the host: the host's frames come from the recording, frames to the host are dropped",
                    n.name
                );
                Some(HostBridge {
                    socket: None,
                    remote: b.remote,
                    port: n.members.len(),
                })
            }
            Some(b) => {
                let socket = std::net::UdpSocket::bind(b.local).with_context(|| {
                    format!("bridge on network '{}': binding {}", n.name, b.local)
                })?;
                socket.set_nonblocking(true)?;
                eprintln!(
                    "ensemble: network '{}' bridged to the host: frames from UDP {} in, to UDP {} out; the run now depends on host timing and is paced to the wall clock{}",
                    n.name,
                    b.local,
                    b.remote,
                    if recorder.is_some() { " (the frames in are recorded)" } else { "" }
                );
                Some(HostBridge {
                    socket: Some(socket),
                    remote: b.remote,
                    port: n.members.len(),
                })
            }
            None => None,
        };
        let ports = n.members.len() + bridge.is_some() as usize;
        let fabric = match &n.medium {
            Medium::Switch(p) => Fabric::Switch(Switch::new(ports, p.clone(), seed)),
            Medium::Wireless(p) => Fabric::Wireless(Wireless::new(
                n.members
                    .iter()
                    .map(|&d| scenario.devices[d].position)
                    .collect(),
                p.clone(),
                seed,
            )),
        };
        nets.push(Net {
            fabric,
            capture,
            bridge,
        });
    }
    let mut logs: Vec<Option<File>> = Vec::new();
    for d in &scenario.devices {
        logs.push(match &opts.artifacts {
            Some(dir) => {
                let p = dir.join(format!("{}.uart.txt", d.name));
                Some(File::create(&p).with_context(|| format!("creating {}", p.display()))?)
            }
            None => None,
        });
    }

    observer.topology(&Topology::of(scenario));
    let mut net_trace = match &opts.trace_network {
        None => NetworkTrace::off(),
        Some(to) => {
            let out = to
                .open()
                .with_context(|| format!("--trace-file: creating {to:?}"))?;
            NetworkTrace::new(
                Trace::new(&[TraceKind::Network], 1_000_000_000, out),
                scenario.devices.iter().map(|d| d.name.clone()).collect(),
            )
        }
    };

    let quantum = scenario
        .networks
        .iter()
        .map(|n| n.medium.latency_ns())
        .min()
        .unwrap_or(DEFAULT_QUANTUM_NS)
        .min(DEFAULT_QUANTUM_NS);
    let limit = opts.time_limit_ns.or(scenario.time_limit_ns);
    // A host program cannot keep up with virtual time running free (a
    // replayed one can).
    let realtime = opts.realtime || (!scenario.bridges.is_empty() && replay.is_none());

    let mut now = 0u64;
    let mut consoles: Vec<Vec<u8>> = vec![Vec::new(); scenario.devices.len()];
    // Where each device's console has been matched up to by wait-uart.
    let mut cursor = vec![0usize; scenario.devices.len()];
    let mut inbox: Vec<(usize, Inbound)> = Vec::new();
    let mut in_flight = 0usize;
    let mut states = vec![MachineState::Running; scenario.devices.len()];
    let mut step = 0usize;
    let mut step_start = 0u64;
    let mut frames_sent = 0u64;
    let started = std::time::Instant::now();
    let n_dev = scenario.devices.len();
    // What each device shows and plays, as the steps need it.
    let mut screens: Vec<Option<VideoFrame>> = vec![None; n_dev];
    let mut leds: Vec<Vec<bool>> = vec![Vec::new(); n_dev];
    let mut wavs: Vec<Option<WavSink>> = (0..n_dev).map(|_| None).collect();
    // A step's progress: touch pressed, audio being collected, packets
    // being watched.
    let mut touch_down = false;
    let mut listening: Option<(usize, u64, u16, Vec<i16>, u32)> = None;
    // (network, filter, first match: time and sender)
    type Watch = (usize, PacketFilter, Option<(u64, usize)>);
    let mut watching: Option<Watch> = None;
    let mut references: std::collections::HashMap<PathBuf, VideoFrame> = Default::default();

    if (opts.snapshot_at.is_some() || opts.restore.is_some()) && !scenario.bridges.is_empty() {
        return Err(anyhow::anyhow!(
            "a scenario bridged to the host cannot be saved or restored (the host is not in virtual time)"
        ));
    }
    if let Some(file) = &opts.restore {
        let s = snapshot::restore(file, scenario, &mut fleet)?;
        for (net, data) in nets.iter_mut().zip(&s.nets) {
            net.fabric = postcard::from_bytes(data)
                .map_err(|e| anyhow::anyhow!("--restore: damaged snapshot: {e}"))?;
        }
        (inbox, states, watching) = (s.inbox(), s.states(), s.watching(scenario)?);
        (now, in_flight, step, step_start, frames_sent, touch_down) = (
            s.now,
            s.in_flight,
            s.step,
            s.step_start,
            s.frames_sent,
            s.touch_down,
        );
        (consoles, cursor, screens, leds, listening) =
            (s.consoles, s.cursor, s.screens, s.leds, s.listening);
        for (log, c) in logs.iter_mut().zip(&consoles) {
            if let Some(f) = log {
                f.write_all(c)?;
            }
        }
        // What steps before the snapshot did to the networks, for pictures.
        for (ni, (n, net)) in scenario.networks.iter().zip(&nets).enumerate() {
            for (port, &dev) in n.members.iter().enumerate() {
                match &net.fabric {
                    Fabric::Switch(sw) if !sw.link_up(port) => observer.link(ni, dev, false, now),
                    Fabric::Wireless(w) if w.position(port) != scenario.devices[dev].position => {
                        observer.moved(dev, w.position(port), now)
                    }
                    _ => {}
                }
            }
        }
    }
    // Real-time pacing counts from the time the run starts at.
    let started = started
        .checked_sub(std::time::Duration::from_nanos(now))
        .unwrap_or(started);
    let mut snapshot_at = opts.snapshot_at.clone();
    let mut snapshot_ns = None;

    let ending = 'run: loop {
        // Between two quanta, nothing half done: the place for a snapshot.
        if let Some((_, file)) = snapshot_at.take_if(|(t, _)| now >= *t) {
            let nets = nets
                .iter()
                .map(|n| postcard::to_allocvec(&n.fabric))
                .collect::<Result<_, _>>()
                .context("--snapshot-at: encoding the networks")?;
            let world = snapshot::SavedWorld {
                now,
                nets,
                inbox: snapshot::saved_inbox(&inbox)?,
                in_flight,
                asleep: states.iter().map(|s| *s == MachineState::Asleep).collect(),
                step,
                step_start,
                frames_sent,
                consoles: consoles.clone(),
                cursor: cursor.clone(),
                screens: screens.clone(),
                leds: leds.clone(),
                touch_down,
                listening: listening.clone(),
                watching: watching.as_ref().map(|w| w.2),
            };
            snapshot::save(&file, scenario, &mut fleet, world)?;
            snapshot_ns = Some(now);
        }
        // Apply or check steps that are due now.
        let mut wake_at: Option<u64> = None;
        while let Some(s) = scenario.steps.get(step) {
            if let Some(at) = s.at_ns {
                if now < at {
                    wake_at = Some(at);
                    break;
                }
            }
            let begun = step_start.max(s.at_ns.unwrap_or(0));
            let fail = |why: String| Ending::StepFailed {
                index: step,
                line: s.line,
                step: s.text.clone(),
                why,
            };
            match &s.action {
                Action::WaitUart {
                    device,
                    regex,
                    timeout_ns,
                } => {
                    let text = String::from_utf8_lossy(&consoles[*device][cursor[*device]..]);
                    if let Some(m) = regex.find(&text) {
                        cursor[*device] += m.end();
                    } else if now >= begun + timeout_ns {
                        break 'run fail(format!(
                            "'{}' not seen on {} within {} ms",
                            regex.as_str(),
                            scenario.devices[*device].name,
                            timeout_ns / 1_000_000
                        ));
                    } else {
                        wake_at = Some(begun + timeout_ns);
                        break;
                    }
                }
                Action::ExpectNoUart {
                    device,
                    regex,
                    window_ns,
                } => {
                    let text = String::from_utf8_lossy(&consoles[*device][cursor[*device]..]);
                    if let Some(m) = regex.find(&text) {
                        break 'run fail(format!(
                            "'{}' appeared on {}: {}",
                            regex.as_str(),
                            scenario.devices[*device].name,
                            m.as_str()
                        ));
                    }
                    if now < begun + window_ns {
                        wake_at = Some(begun + window_ns);
                        break;
                    }
                }
                Action::WriteUart { device, text } => {
                    inbox.push((
                        *device,
                        Inbound::Uart {
                            bytes: text.as_bytes().to_vec(),
                        },
                    ));
                }
                Action::Link {
                    network,
                    device,
                    up,
                } => {
                    let port = scenario.networks[*network]
                        .members
                        .iter()
                        .position(|m| m == device)
                        .expect("validated member");
                    nets[*network].set_link(port, *up);
                    observer.link(*network, *device, *up, now);
                    inbox.push((
                        *device,
                        Inbound::Link {
                            nic: port_nic[*network][port].clone(),
                            up: *up,
                        },
                    ));
                }
                Action::Partition { network, groups } => {
                    let members = &scenario.networks[*network].members;
                    let ports: Vec<Vec<usize>> = groups
                        .iter()
                        .map(|g| {
                            g.iter()
                                .filter_map(|d| members.iter().position(|m| m == d))
                                .collect()
                        })
                        .collect();
                    if let Fabric::Switch(sw) = &mut nets[*network].fabric {
                        sw.partition(&ports);
                    }
                    observer.partition(*network, groups, now);
                }
                Action::Heal { network } => {
                    if let Fabric::Switch(sw) = &mut nets[*network].fabric {
                        sw.heal();
                    }
                    observer.partition(*network, &[], now);
                }
                Action::Move { device, position } => {
                    for (ni, n) in scenario.networks.iter().enumerate() {
                        if let (Some(port), Fabric::Wireless(w)) = (
                            n.members.iter().position(|m| m == device),
                            &mut nets[ni].fabric,
                        ) {
                            w.set_position(port, *position);
                        }
                    }
                    observer.moved(*device, *position, now);
                }
                Action::Delay { ns } => {
                    if now < begun + ns {
                        wake_at = Some(begun + ns);
                        break;
                    }
                }
                Action::Press {
                    device,
                    button,
                    pressed,
                } => inbox.push((
                    *device,
                    Inbound::Button {
                        index: *button,
                        pressed: *pressed,
                    },
                )),
                Action::Touch {
                    device,
                    x,
                    y,
                    hold_ns,
                } => {
                    if !touch_down {
                        touch_down = true;
                        inbox.push((
                            *device,
                            Inbound::Touch {
                                x: *x,
                                y: *y,
                                pressed: true,
                            },
                        ));
                    }
                    if now < begun + hold_ns {
                        wake_at = Some(begun + hold_ns);
                        break;
                    }
                    touch_down = false;
                    inbox.push((
                        *device,
                        Inbound::Touch {
                            x: *x,
                            y: *y,
                            pressed: false,
                        },
                    ));
                }
                Action::SetSensor {
                    device,
                    channel,
                    source,
                } => inbox.push((
                    *device,
                    Inbound::Sensor {
                        channel: channel.clone(),
                        source: source.clone(),
                    },
                )),
                Action::SetAudioIn { device, source } => {
                    inbox.push((*device, Inbound::AudioIn(source.clone())))
                }
                Action::Reset { device } => inbox.push((*device, Inbound::Reset)),
                Action::Screenshot { device, file } => {
                    let Some(frame) = &screens[*device] else {
                        break 'run fail(format!(
                            "{} has shown nothing on its screen yet",
                            scenario.devices[*device].name
                        ));
                    };
                    let path = opts
                        .artifacts
                        .as_ref()
                        .map(|d| d.join(file))
                        .unwrap_or_else(|| PathBuf::from(file));
                    write_png(&path, frame)?;
                }
                Action::ExpectScreen {
                    device,
                    reference,
                    tolerance,
                    max_differing,
                    region,
                    timeout_ns,
                } => {
                    if !references.contains_key(reference) {
                        let r = read_png(reference)?;
                        references.insert(reference.clone(), r);
                    }
                    let want = &references[reference];
                    let verdict = match &screens[*device] {
                        None => Err("the screen has shown nothing yet".to_string()),
                        Some(f) => match compare_screens(f, want, *region, *tolerance) {
                            Err(e) => Err(format!("{e:#}")),
                            Ok(n) if n <= *max_differing => Ok(()),
                            Ok(n) => Err(format!(
                                "{n} pixels differ from {} (tolerance {tolerance}, {max_differing} allowed)",
                                reference.display()
                            )),
                        },
                    };
                    if let Err(why) = verdict {
                        if now < begun + timeout_ns {
                            wake_at = Some(begun + timeout_ns);
                            break;
                        }
                        if let (Some(dir), Some(f)) = (&opts.artifacts, &screens[*device]) {
                            let p =
                                dir.join(format!("{}-actual.png", scenario.devices[*device].name));
                            write_png(&p, f)?;
                        }
                        break 'run fail(format!("{}: {why}", scenario.devices[*device].name));
                    }
                }
                Action::ExpectLed {
                    device,
                    led,
                    on,
                    timeout_ns,
                } => {
                    let state = leds[*device].get(*led).copied();
                    if state != Some(*on) {
                        if now < begun + timeout_ns {
                            wake_at = Some(begun + timeout_ns);
                            break;
                        }
                        break 'run fail(match state {
                            None => format!(
                                "{} has no LED {led} (it has {})",
                                scenario.devices[*device].name,
                                leds[*device].len()
                            ),
                            Some(s) => format!(
                                "LED {led} of {} is {}",
                                scenario.devices[*device].name,
                                if s { "on" } else { "off" }
                            ),
                        });
                    }
                }
                Action::ExpectAudio {
                    device,
                    window_ns,
                    channel,
                    frequency,
                    tolerance_hz,
                    min_rms,
                    max_rms,
                } => {
                    if listening.is_none() {
                        listening = Some((*device, begun, *channel, Vec::new(), 0));
                    }
                    if now < begun + window_ns {
                        wake_at = Some(begun + window_ns);
                        break;
                    }
                    let (_, _, _, samples, rate) = listening.take().expect("set above");
                    let name = &scenario.devices[*device].name;
                    if samples.is_empty() {
                        break 'run fail(format!("{name} played no sound in the window"));
                    }
                    let level = rms(&samples);
                    if let Some(f) = frequency {
                        match tone_frequency(&samples, rate) {
                            Some(got) if (got - f).abs() <= *tolerance_hz => {}
                            got => {
                                break 'run fail(format!(
                                    "{name}: tone {} Hz, expected {f} Hz +- {tolerance_hz} (RMS {level:.0})",
                                    got.map(|g| format!("{g:.2}")).unwrap_or("(none)".into())
                                ))
                            }
                        }
                    }
                    if min_rms.is_some_and(|m| level < m) || max_rms.is_some_and(|m| level > m) {
                        break 'run fail(format!(
                            "{name}: RMS level {level:.1}, expected {}..{}",
                            min_rms.map(|m| m.to_string()).unwrap_or_default(),
                            max_rms.map(|m| m.to_string()).unwrap_or_default()
                        ));
                    }
                }
                Action::ExpectPacket {
                    network,
                    filter,
                    timeout_ns,
                } => match &watching {
                    Some((_, _, Some(_))) => watching = None,
                    _ => {
                        if watching.is_none() {
                            watching = Some((*network, filter.clone(), None));
                        }
                        if now < begun + timeout_ns {
                            wake_at = Some(begun + timeout_ns);
                            break;
                        }
                        break 'run fail(format!(
                            "no matching frame on network '{}' within {} ms",
                            scenario.networks[*network].name,
                            timeout_ns / 1_000_000
                        ));
                    }
                },
            }
            observer.step_passed(step, now);
            step += 1;
            step_start = now;
        }
        if step >= scenario.steps.len() && !scenario.steps.is_empty() {
            break Ending::Passed;
        }
        if let Some(l) = limit {
            if now >= l {
                break Ending::TimeLimit {
                    pending: scenario.steps.get(step).map(|s| (step, s.text.clone())),
                };
            }
        }
        // Nothing can happen any more: all asleep, nothing on the wire (and
        // no host that could still send something, no recorded input left).
        if scenario.steps.is_empty()
            && scenario.bridges.is_empty()
            && in_flight == 0
            && inbox.is_empty()
            && states.iter().all(|s| *s != MachineState::Running)
            && replay.as_ref().is_none_or(|r| r.left() == 0)
        {
            break Ending::Passed;
        }

        if replay
            .as_mut()
            .is_some_and(|r| r.stop_at.take_if(|t| *t <= now).is_some())
        {
            break Ending::Stopped;
        }
        if observer.wants_stop() {
            if let Some(r) = recorder.as_mut() {
                r.record(now, &ScenarioInput::Stop)?;
            }
            break Ending::Stopped;
        }
        // Inputs from outside enter at this boundary: the watcher's, or
        // when replaying, the recording's (the watcher's are then dropped).
        let external = match replay.as_mut() {
            Some(r) => {
                drop(observer.inputs());
                r.inputs_due(now)
            }
            None => observer.inputs(),
        };
        for (dev, input) in &external {
            if let Some(r) = recorder.as_mut() {
                let what = recorded_of(input).ok_or_else(|| {
                    anyhow::anyhow!("--record: an input that cannot be recorded: {input:?}")
                })?;
                r.record(now, &ScenarioInput::Device(*dev, what))?;
            }
            observer.external(*dev, input, now);
        }
        inbox.extend(external);
        let mut until = now + quantum;
        if let Some(w) = wake_at {
            until = until.min(w.max(now + 1));
        }
        // A recorded input enters at a boundary at its time (in a recorded
        // run there was one there anyway).
        if let Some(t) = replay
            .as_ref()
            .and_then(|r| r.next_at())
            .filter(|t| *t > now)
        {
            until = until.min(t);
        }
        if let Some(l) = limit {
            until = until.min(l);
        }
        let outcomes = fleet.advance(until, std::mem::take(&mut inbox));
        now = until;
        observer.progress(now);
        in_flight = 0;

        // Screens, LEDs and sound.
        let mut outcomes = outcomes;
        for (i, o) in outcomes.iter_mut().enumerate() {
            if let Some(f) = o.screen.take() {
                observer.screen(i, &f);
                screens[i] = Some(f);
            }
            if let Some(l) = o.leds.take() {
                leds[i] = l;
                observer.leds(i, &leds[i]);
            }
            for chunk in std::mem::take(&mut o.audio) {
                observer.audio(i, &chunk);
                if let Some(dir) = &opts.artifacts {
                    if wavs[i].is_none() {
                        let p = dir.join(format!("{}.wav", scenario.devices[i].name));
                        wavs[i] = Some(WavSink::create(&p)?);
                    }
                    wavs[i].as_mut().expect("created").push(&chunk)?;
                }
                if let Some((dev, since, ch, buf, rate)) = listening.as_mut() {
                    let t_ns = (chunk.time as u128 * 1_000_000_000 / clocks[i] as u128) as u64;
                    if *dev == i && t_ns >= *since {
                        *rate = chunk.rate;
                        buf.extend(channel_of(
                            &chunk.samples,
                            chunk.channels,
                            (*ch).min(chunk.channels - 1),
                        ));
                    }
                }
            }
        }
        // Consoles, in device order.
        for (i, o) in outcomes.iter().enumerate() {
            if !o.console.is_empty() {
                consoles[i].extend_from_slice(&o.console);
                if let Some(f) = logs[i].as_mut() {
                    f.write_all(&o.console)?;
                }
                observer.console(i, &o.console);
            }
        }
        // Frames cross their networks in (time, device, order) order.
        let mut sent: Vec<(u64, usize, usize, &String, &Vec<u8>)> = Vec::new();
        for (i, o) in outcomes.iter().enumerate() {
            for (seq, (t, nic, frame)) in o.frames.iter().enumerate() {
                sent.push((*t, i, seq, nic, frame));
            }
        }
        sent.sort_by_key(|(t, i, seq, _, _)| (*t, *i, *seq));
        for (t, dev, _, nic, frame) in sent {
            frames_sent += 1;
            for (ni, n) in scenario.networks.iter().enumerate() {
                let Some(port) = n
                    .members
                    .iter()
                    .enumerate()
                    .position(|(p, &m)| m == dev && port_nic[ni][p] == *nic)
                else {
                    continue;
                };
                if let Some((wn, filter, found @ None)) = watching.as_mut() {
                    if *wn == ni && filter.matches(dev, frame, n.medium.is_wireless()) {
                        *found = Some((t, dev));
                    }
                }
                net_trace.sent(n, port, t, frame);
                let net = &mut nets[ni];
                let deliveries: Vec<Delivery> = match &mut net.fabric {
                    Fabric::Switch(sw) => {
                        if sw.link_up(port) {
                            if let Some(c) = net.capture.as_mut() {
                                c.record(t, frame)?;
                            }
                        }
                        let deliveries = sw.send(port, t, frame);
                        observe_frames(
                            observer,
                            &mut net_trace,
                            ni,
                            n,
                            &deliveries,
                            &sw.take_losses(),
                        );
                        deliveries
                    }
                    Fabric::Wireless(w) => {
                        if let (Some(psdu), Some(c)) =
                            (w.transmit(port, t, frame), net.capture.as_mut())
                        {
                            c.record(t, &psdu)?;
                        }
                        observe_frames(observer, &mut net_trace, ni, n, &[], &w.take_losses());
                        Vec::new()
                    }
                };
                route(
                    &mut inbox,
                    &mut in_flight,
                    n,
                    &port_nic[ni],
                    deliveries,
                    &net.bridge,
                );
            }
        }
        // Frames from the host enter bridged switches now (replayed: the
        // recording's for this boundary).
        for (ni, n) in scenario.networks.iter().enumerate() {
            let net = &mut nets[ni];
            let (Some(bridge), Fabric::Switch(sw)) = (&net.bridge, &mut net.fabric) else {
                continue;
            };
            let mut incoming: Vec<Vec<u8>> = Vec::new();
            if let Some(r) = replay.as_mut() {
                while let Some((_, f)) = r.frames[ni].pop_front_if(|(t, _)| *t <= now) {
                    incoming.push(f);
                }
            } else if let Some(socket) = &bridge.socket {
                let mut buf = [0u8; 2048];
                while let Ok((len, _from)) = socket.recv_from(&mut buf) {
                    incoming.push(buf[..len].to_vec());
                }
            }
            for frame in &incoming {
                if let Some(r) = recorder.as_mut() {
                    r.record(now, &ScenarioInput::Frame(ni, frame.clone()))?;
                }
                if let Some(c) = net.capture.as_mut() {
                    c.record(now, frame)?;
                }
                let deliveries = sw.send(bridge.port, now, frame);
                observe_frames(
                    observer,
                    &mut net_trace,
                    ni,
                    n,
                    &deliveries,
                    &sw.take_losses(),
                );
                route(
                    &mut inbox,
                    &mut in_flight,
                    n,
                    &port_nic[ni],
                    deliveries,
                    &net.bridge,
                );
            }
        }
        // Radios hear the carriers of frames that started in this quantum
        // from now on (CCA); frames are judged once they have ended on air.
        for (ni, n) in scenario.networks.iter().enumerate() {
            if let Fabric::Wireless(w) = &mut nets[ni].fabric {
                let carriers = w.sense(now);
                route(
                    &mut inbox,
                    &mut in_flight,
                    n,
                    &port_nic[ni],
                    carriers,
                    &None,
                );
                let deliveries = w.flush(now);
                observe_frames(
                    observer,
                    &mut net_trace,
                    ni,
                    n,
                    &deliveries,
                    &w.take_losses(),
                );
                route(
                    &mut inbox,
                    &mut in_flight,
                    n,
                    &port_nic[ni],
                    deliveries,
                    &None,
                );
            }
        }
        for net in nets.iter_mut() {
            if let Some(c) = net.capture.as_mut() {
                c.flush()?;
            }
        }
        for (i, o) in outcomes.iter_mut().enumerate() {
            let state = std::mem::replace(&mut o.state, MachineState::Running);
            if let MachineState::Crashed(info) = state {
                let time_ns = (info.time as u128 * 1_000_000_000 / clocks[i] as u128) as u64;
                break 'run Ending::Crashed {
                    device: scenario.devices[i].name.clone(),
                    info,
                    time_ns,
                };
            }
            states[i] = state;
        }
        if realtime {
            let virt = std::time::Duration::from_nanos(now);
            if let Some(ahead) = virt.checked_sub(started.elapsed()) {
                std::thread::sleep(ahead);
            }
        }
    };
    net_trace.flush();
    for f in logs.iter_mut().flatten() {
        f.flush()?;
    }
    for w in wavs.into_iter().flatten() {
        w.finish()?;
    }
    if let Some(dir) = &opts.artifacts {
        for (i, f) in screens.iter().enumerate() {
            if let Some(f) = f {
                write_png(&dir.join(format!("{}.png", scenario.devices[i].name)), f)?;
            }
        }
    }
    let frames_dropped = nets.iter().map(|n| n.dropped()).sum();
    drop(nets);
    if opts.gdb.is_some() {
        fleet.finish(if matches!(ending, Ending::Passed) {
            0
        } else {
            1
        });
    }
    Ok(Report {
        ending,
        time_ns: now,
        consoles,
        frames_sent,
        frames_dropped,
        snapshot_ns,
        replay_left: replay.map_or(0, |r| r.left()),
    })
}

/// Tell the observer about frames that crossed network `ni` or were lost
/// on it (between devices: the host behind a bridge is not one).
fn observe_frames(
    observer: &mut dyn Observer,
    trace: &mut NetworkTrace,
    ni: usize,
    net: &NetworkDecl,
    deliveries: &[Delivery],
    losses: &[Loss],
) {
    if trace.on() {
        deliveries.iter().for_each(|d| trace.delivered(net, d));
        losses.iter().for_each(|l| trace.dropped(net, l));
    }
    let wireless = net.medium.is_wireless();
    let device = |port: usize| net.members.get(port).copied();
    for d in deliveries {
        let (Some(from), Some(to)) = (device(d.from), device(d.to)) else {
            continue;
        };
        let payload: &[u8] = if wireless {
            ensemble_devices::radio::decode_rx(&d.frame).map_or(&[], |r| r.4)
        } else {
            &d.frame
        };
        observer.packet(&PacketEvent {
            net: ni,
            from,
            to: Some(to),
            meant_for: None,
            sent_ns: d.sent,
            arrives_ns: d.arrives,
            len: payload.len(),
            kind: classify(payload, wireless),
        });
    }
    for l in losses {
        let Some(from) = device(l.from) else {
            continue;
        };
        observer.packet(&PacketEvent {
            net: ni,
            from,
            to: None,
            meant_for: l.to.and_then(device),
            sent_ns: l.sent,
            arrives_ns: l.sent,
            len: l.len,
            kind: l.kind,
        });
    }
}

/// Turn a network's deliveries into inbox entries for the receiving
/// machines, or datagrams for the host behind a bridge.
fn route(
    inbox: &mut Vec<(usize, Inbound)>,
    in_flight: &mut usize,
    net: &crate::scenario::NetworkDecl,
    nics: &[String],
    deliveries: Vec<Delivery>,
    bridge: &Option<HostBridge>,
) {
    for d in deliveries {
        if let Some(b) = bridge.as_ref().filter(|b| b.port == d.to) {
            // The host is not in virtual time: it gets the frame now. A
            // full socket buffer loses it, as a busy host NIC would (and
            // when replaying, there is no host).
            if let Some(s) = &b.socket {
                let _ = s.send_to(&d.frame, b.remote);
            }
            continue;
        }
        *in_flight += 1;
        inbox.push((
            net.members[d.to],
            Inbound::Frame {
                nic: nics[d.to].clone(),
                at_ns: d.arrives,
                frame: d.frame,
            },
        ));
    }
}
