//! Many machines on threads, advanced together to a common virtual time.
//! The first share of machines runs on the caller's own thread and the
//! others on worker threads (waking a thread costs tens of microseconds
//! per advance on a loaded VM, so `--threads 1` uses none). A machine is
//! built on, and never leaves, its thread (the CPU engine's handles are not
//! `Send`). Within one advance machines do not interact, so how they are
//! spread over threads cannot change any result; outcomes are returned in
//! machine order.

use std::sync::mpsc::{channel, Receiver, RecvError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ensemble_devices::{AudioChunk, AudioSource, SensorSource, VideoFrame};

use crate::board::Board;
use crate::loader::Image;
use crate::machine::{CrashInfo, Machine, StopReason};
use crate::time::ns_to_ticks;
use crate::trace::Trace;

pub struct MachineSpec {
    pub name: String,
    pub board: Board,
    pub image: Image,
    pub console: String,
}

/// Something from outside for one machine, applied before it advances.
#[derive(Debug, Clone)]
pub enum Inbound {
    Frame {
        nic: String,
        at_ns: u64,
        frame: Vec<u8>,
    },
    Link {
        nic: String,
        up: bool,
    },
    Uart {
        bytes: Vec<u8>,
    },
    Button {
        index: u32,
        pressed: bool,
    },
    Touch {
        x: u32,
        y: u32,
        pressed: bool,
    },
    Sensor {
        channel: String,
        source: SensorSource,
    },
    AudioIn(AudioSource),
    Reset,
    /// Switch the device off for the rest of the run (its window closed).
    PowerOff,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineState {
    Running,
    /// Asleep with nothing armed: only something from outside wakes it.
    Asleep,
    Crashed(Box<CrashInfo>),
}

/// What one machine did during one advance.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub console: Vec<u8>,
    /// (virtual time sent in ns, NIC name, frame)
    pub frames: Vec<(u64, String, Vec<u8>)>,
    pub state: MachineState,
    /// The newest frame its display showed during the advance, if any.
    pub screen: Option<VideoFrame>,
    /// Sound it played during the advance, in order.
    pub audio: Vec<AudioChunk>,
    /// Its LEDs at the end of the advance.
    pub leds: Vec<bool>,
}

enum Cmd {
    Advance {
        until_ns: u64,
        inbox: Vec<(usize, Inbound)>,
    },
}

struct Worker {
    tx: Sender<Cmd>,
    rx: Receiver<Vec<(usize, Outcome)>>,
    join: Option<JoinHandle<()>>,
}

pub struct Fleet {
    /// Machines run on the caller's thread.
    local: Vec<Hosted>,
    /// Worker k runs the machines whose owner is k + 1.
    workers: Vec<Worker>,
    owner: Vec<usize>,
    /// Network interfaces of each machine: (device name, "ethernet" or
    /// "radio"), in board order.
    pub nics: Vec<Vec<(String, &'static str)>>,
}

struct Hosted {
    index: usize,
    machine: Machine,
    console: String,
    /// The console's device index (looked up once).
    console_index: Option<usize>,
    crashed: bool,
    off: bool,
}

impl Hosted {
    fn build(index: usize, spec: MachineSpec) -> Result<Hosted, String> {
        let mut machine = Machine::new(spec.board, spec.image, Trace::off())
            .map_err(|e| format!("device '{}': {e}", spec.name))?;
        machine.capture_media(true, true);
        let console_index = machine.device_index(&spec.console);
        Ok(Hosted {
            index,
            machine,
            console: spec.console,
            console_index,
            crashed: false,
            off: false,
        })
    }

    /// Advance every machine of `hosted` with its part of `inbox`.
    fn advance_all(
        hosted: &mut [Hosted],
        until_ns: u64,
        mut inbox: Vec<(usize, Inbound)>,
    ) -> Vec<(usize, Outcome)> {
        let mut results = Vec::with_capacity(hosted.len());
        // Machines are hosted in index order: a stable sort hands each its
        // items in their order, in one pass.
        inbox.sort_by_key(|(i, _)| *i);
        let mut items = inbox.into_iter().peekable();
        for h in hosted {
            // (Items for a machine not hosted here cannot occur; dropped.)
            while items.next_if(|(i, _)| *i < h.index).is_some() {}
            let mut mine = Vec::new();
            while let Some((_, x)) = items.next_if(|(i, _)| *i == h.index) {
                mine.push(x);
            }
            results.push((h.index, h.advance(until_ns, mine)));
        }
        results
    }

    fn advance(&mut self, until_ns: u64, inbox: Vec<Inbound>) -> Outcome {
        let hz = self.machine.clock_hz();
        let mut out = Outcome {
            console: Vec::new(),
            frames: Vec::new(),
            state: MachineState::Running,
            screen: None,
            audio: Vec::new(),
            leds: Vec::new(),
        };
        if self.crashed {
            return out;
        }
        if self.off {
            out.state = MachineState::Asleep;
            return out;
        }
        for item in inbox {
            match item {
                Inbound::Frame { nic, at_ns, frame } => {
                    self.machine
                        .deliver_frame(&nic, ns_to_ticks(at_ns as u128, hz), frame);
                }
                Inbound::Link { nic, up } => self.machine.set_link(&nic, up),
                Inbound::Uart { bytes } => {
                    self.machine.push_input(&self.console, &bytes);
                }
                Inbound::Button { index, pressed } => {
                    self.machine.press_button(index, pressed);
                }
                Inbound::Touch { x, y, pressed } => {
                    self.machine.touch(x, y, pressed);
                }
                Inbound::Sensor { channel, source } => {
                    self.machine.set_sensor(&channel, source);
                }
                Inbound::AudioIn(source) => {
                    self.machine.set_audio_source(source);
                }
                Inbound::Reset => self.machine.reset(),
                Inbound::PowerOff => self.off = true,
            }
        }
        let until = ns_to_ticks(until_ns as u128, hz);
        loop {
            let stop = self.machine.run(until);
            if let Some(i) = self.console_index {
                out.console.extend(self.machine.take_output_of(i));
            }
            for (t, nic, frame) in self.machine.take_frames() {
                let ns = (t as u128 * 1_000_000_000 / hz as u128) as u64;
                out.frames.push((ns, nic, frame));
            }
            match stop {
                // No debugger in scenarios: nothing sets breakpoints.
                StopReason::Output | StopReason::Breakpoint { .. } | StopReason::Stepped { .. } => {
                    continue
                }
                StopReason::TimeLimit => break,
                StopReason::Asleep { .. } => {
                    self.machine.idle_until(until);
                    out.state = MachineState::Asleep;
                    break;
                }
                StopReason::Crashed(info) => {
                    self.crashed = true;
                    out.state = MachineState::Crashed(info);
                    break;
                }
            }
        }
        out.screen = self.machine.take_video().pop().map(|(_, f)| f);
        out.audio = self
            .machine
            .take_audio()
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        out.leds = self.machine.leds();
        out
    }
}

impl Fleet {
    /// Build every machine, machine i on share i mod threads: share 0 on
    /// this thread, the others on worker threads. Fails with the first
    /// machine that cannot be built.
    pub fn start(specs: Vec<MachineSpec>, threads: usize) -> Result<Fleet, String> {
        let n = specs.len();
        let threads = threads.clamp(1, n.max(1));
        let mut shares: Vec<Vec<(usize, MachineSpec)>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, spec) in specs.into_iter().enumerate() {
            shares[i % threads].push((i, spec));
        }
        let mut nics = vec![Vec::new(); n];
        let mut shares = shares.into_iter();
        let mut local = Vec::new();
        for (index, spec) in shares.next().unwrap_or_default() {
            let h = Hosted::build(index, spec)?;
            nics[index] = h.machine.network_interfaces();
            local.push(h);
        }
        let mut workers = Vec::new();
        for specs in shares {
            let (cmd_tx, cmd_rx) = channel::<Cmd>();
            let (out_tx, out_rx) = channel::<Vec<(usize, Outcome)>>();
            type Ready = Result<Vec<(usize, Vec<(String, &'static str)>)>, String>;
            let (ready_tx, ready_rx) = channel::<Ready>();
            let join = std::thread::Builder::new()
                .name("ensemble-worker".into())
                .spawn(move || {
                    let mut hosted = Vec::new();
                    let mut nics = Vec::new();
                    for (index, spec) in specs {
                        match Hosted::build(index, spec) {
                            Ok(h) => {
                                nics.push((index, h.machine.network_interfaces()));
                                hosted.push(h);
                            }
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    if ready_tx.send(Ok(nics)).is_err() {
                        return;
                    }
                    while let Ok(Cmd::Advance { until_ns, inbox }) = recv_soon(&cmd_rx) {
                        if out_tx
                            .send(Hosted::advance_all(&mut hosted, until_ns, inbox))
                            .is_err()
                        {
                            return;
                        }
                    }
                })
                .map_err(|e| format!("cannot start a worker thread: {e}"))?;
            match ready_rx.recv() {
                Ok(Ok(list)) => {
                    for (i, names) in list {
                        nics[i] = names;
                    }
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err("a worker thread failed while building machines".into()),
            }
            workers.push(Worker {
                tx: cmd_tx,
                rx: out_rx,
                join: Some(join),
            });
        }
        Ok(Fleet {
            owner: (0..n).map(|i| i % threads).collect(),
            local,
            workers,
            nics,
        })
    }

    pub fn len(&self) -> usize {
        self.owner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owner.is_empty()
    }

    /// Advance every machine to `until_ns`, after handing each its inbox.
    pub fn advance(&mut self, until_ns: u64, inbox: Vec<(usize, Inbound)>) -> Vec<Outcome> {
        let mut shares: Vec<Vec<(usize, Inbound)>> =
            (0..=self.workers.len()).map(|_| Vec::new()).collect();
        for (i, item) in inbox {
            shares[self.owner[i]].push((i, item));
        }
        let mut shares = shares.into_iter();
        let local_inbox = shares.next().unwrap_or_default();
        for (w, items) in self.workers.iter().zip(shares) {
            w.tx.send(Cmd::Advance {
                until_ns,
                inbox: items,
            })
            .expect("worker thread alive");
        }
        let mut outcomes: Vec<Option<Outcome>> = (0..self.owner.len()).map(|_| None).collect();
        for (i, o) in Hosted::advance_all(&mut self.local, until_ns, local_inbox) {
            outcomes[i] = Some(o);
        }
        for w in &self.workers {
            for (i, o) in recv_soon(&w.rx).expect("worker thread alive") {
                outcomes[i] = Some(o);
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.expect("every machine reports"))
            .collect()
    }
}

/// How long a thread polls for the next message before it sleeps: the
/// threads hand over once per quantum, usually within microseconds of
/// each other, and waking a sleeping thread costs tens of microseconds.
const SPIN: Duration = Duration::from_micros(100);

/// `rx.recv()`, polling for a short while before sleeping.
fn recv_soon<T>(rx: &Receiver<T>) -> Result<T, RecvError> {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            match rx.try_recv() {
                Ok(v) => return Ok(v),
                Err(TryRecvError::Disconnected) => return Err(RecvError),
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
        if start.elapsed() >= SPIN {
            return rx.recv();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for w in &mut self.workers {
            // Closing the command channel ends the worker's loop.
            let (dead_tx, _) = channel();
            w.tx = dead_tx;
            if let Some(j) = w.join.take() {
                let _ = j.join();
            }
        }
    }
}
