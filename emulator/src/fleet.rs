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
use crate::gdb::Server;
use crate::loader::Image;
use crate::machine::{CrashInfo, Machine, StopReason};
use crate::time::ns_to_ticks;
use crate::trace::Trace;

pub struct MachineSpec {
    pub name: String,
    pub board: Board,
    pub image: Image,
    pub console: String,
    /// Its GDB server (`ensemble scenario --gdb`): the machine then runs
    /// through it, and a debugger halting it halts every machine at the
    /// end of the quantum (they wait for this one).
    pub gdb: Option<Server>,
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
    /// Its LEDs at the end of the advance, when they changed (always in a
    /// machine's first outcome).
    pub leds: Option<Vec<bool>>,
}

enum Cmd {
    Advance {
        until_ns: u64,
        inbox: Vec<(usize, Inbound)>,
    },
    /// Snapshot every machine (`Machine::save_snapshot`).
    Save,
    /// Restore machines from their snapshots, by machine index.
    Restore(Vec<(usize, Vec<u8>)>),
    /// The run ended with this exit code: tell the debuggers attached.
    Finish(i32),
}

/// What `Save` and `Restore` give back: snapshots by machine index, or the
/// machine that could not be saved or restored, and why.
type StateReply = Result<Vec<(usize, Vec<u8>)>, (usize, String)>;

struct Worker {
    tx: Sender<Cmd>,
    rx: Receiver<Vec<(usize, Outcome)>>,
    state: Receiver<StateReply>,
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
    /// Its LEDs as last reported; `None` before the first report.
    leds: Option<Vec<bool>>,
    gdb: Option<Server>,
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
            leds: None,
            gdb: spec.gdb,
        })
    }

    /// Save (`Cmd::Save`) or restore (`Cmd::Restore`) the machines of
    /// `hosted`.
    fn state_all(hosted: &mut [Hosted], cmd: Cmd) -> StateReply {
        match cmd {
            Cmd::Save => hosted
                .iter_mut()
                .map(|h| {
                    let data = h
                        .machine
                        .save_snapshot()
                        .map_err(|e| (h.index, e.to_string()))?;
                    Ok((h.index, data))
                })
                .collect(),
            Cmd::Restore(snapshots) => {
                for (i, data) in snapshots {
                    if let Some(h) = hosted.iter_mut().find(|h| h.index == i) {
                        h.machine
                            .restore_snapshot(&data)
                            .map_err(|e| (h.index, e))?;
                    }
                }
                Ok(Vec::new())
            }
            Cmd::Finish(code) => {
                for server in hosted.iter_mut().filter_map(|h| h.gdb.as_mut()) {
                    server.finish(code);
                }
                Ok(Vec::new())
            }
            Cmd::Advance { .. } => unreachable!("advances are not state commands"),
        }
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
            leds: None,
        };
        if self.crashed {
            return out;
        }
        if self.off {
            out.state = MachineState::Asleep;
            out.leds = self.report_leds(Vec::new());
            return out;
        }
        // LEDs are registers: unless the guest ran or something came in,
        // they cannot have changed (most advances of an idle fleet).
        let mut touched = !inbox.is_empty();
        let (now0, idle0) = (self.machine.now(), self.machine.idle_ticks());
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
            let stop = match self.gdb.as_mut() {
                None => self.machine.run(until),
                Some(server) => match server.run(&mut self.machine, until, None) {
                    Some(stop) => stop,
                    // gdb killed it: switched off for the rest of the run.
                    None => {
                        self.off = true;
                        StopReason::PoweredOff
                    }
                },
            };
            if let Some(i) = self.console_index {
                out.console.extend(self.machine.take_output_of(i));
            }
            for (t, nic, frame) in self.machine.take_frames() {
                let ns = (t as u128 * 1_000_000_000 / hz as u128) as u64;
                out.frames.push((ns, nic, frame));
            }
            match stop {
                // Breakpoints and steps are the gdb server's business
                // (gdb.rs), which runs a debugged machine in slices.
                StopReason::Output
                | StopReason::Breakpoint { .. }
                | StopReason::Watchpoint { .. }
                | StopReason::Stepped { .. } => continue,
                StopReason::TimeLimit if self.machine.now() < until => continue,
                StopReason::TimeLimit => break,
                StopReason::Asleep { .. } | StopReason::PoweredOff => {
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
        touched |= self.machine.now() - now0 != self.machine.idle_ticks() - idle0;
        if touched || self.leds.is_none() {
            out.leds = self.report_leds(self.machine.leds());
        }
        out
    }

    /// `leds` if they differ from what was last reported.
    fn report_leds(&mut self, leds: Vec<bool>) -> Option<Vec<bool>> {
        if self.leds.as_ref() == Some(&leds) {
            return None;
        }
        self.leds = Some(leds.clone());
        Some(leds)
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
            let (state_tx, state_rx) = channel::<StateReply>();
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
                    loop {
                        let sent = match recv_soon(&cmd_rx) {
                            Ok(Cmd::Advance { until_ns, inbox }) => out_tx
                                .send(Hosted::advance_all(&mut hosted, until_ns, inbox))
                                .is_ok(),
                            Ok(cmd) => state_tx.send(Hosted::state_all(&mut hosted, cmd)).is_ok(),
                            Err(_) => false,
                        };
                        if !sent {
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
                state: state_rx,
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

    /// Snapshot every machine (between advances), in machine order; on
    /// failure, the machine that could not be saved and why.
    pub fn save(&mut self) -> Result<Vec<Vec<u8>>, (usize, String)> {
        let mut all = Hosted::state_all(&mut self.local, Cmd::Save)?;
        for w in &self.workers {
            w.tx.send(Cmd::Save).expect("worker thread alive");
            all.extend(w.state.recv().expect("worker thread alive")?);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all.into_iter().map(|(_, d)| d).collect())
    }

    /// Restore every machine from `snapshots` (machine order), before the
    /// first advance.
    pub fn restore(&mut self, snapshots: Vec<Vec<u8>>) -> Result<(), (usize, String)> {
        let mut shares: Vec<Vec<(usize, Vec<u8>)>> =
            (0..=self.workers.len()).map(|_| Vec::new()).collect();
        for (i, data) in snapshots.into_iter().enumerate() {
            shares[self.owner[i]].push((i, data));
        }
        let mut shares = shares.into_iter();
        let local = shares.next().unwrap_or_default();
        Hosted::state_all(&mut self.local, Cmd::Restore(local))?;
        for (w, mine) in self.workers.iter().zip(shares) {
            w.tx.send(Cmd::Restore(mine)).expect("worker thread alive");
            w.state.recv().expect("worker thread alive")?;
        }
        Ok(())
    }

    /// The run ended with exit code `code`: debuggers waiting for their
    /// machine to stop are told that it exited.
    pub fn finish(&mut self, code: i32) {
        let _ = Hosted::state_all(&mut self.local, Cmd::Finish(code));
        for w in &self.workers {
            if w.tx.send(Cmd::Finish(code)).is_ok() {
                let _ = w.state.recv();
            }
        }
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
        // Share k holds machines k, k + T, k + 2T... in order (T shares):
        // dealing them out again moves each outcome once, which matters at
        // one outcome per machine and quantum.
        let mut shares = Vec::with_capacity(1 + self.workers.len());
        shares.push(Hosted::advance_all(&mut self.local, until_ns, local_inbox).into_iter());
        for w in &self.workers {
            shares.push(recv_soon(&w.rx).expect("worker thread alive").into_iter());
        }
        (0..self.owner.len())
            .map(|i| {
                let (index, o) = shares[self.owner[i]].next().expect("every machine reports");
                debug_assert_eq!(index, i);
                o
            })
            .collect()
    }
}

/// How long a thread polls for the next message before it sleeps: the
/// threads hand over once per quantum, usually within microseconds of
/// each other, and waking a sleeping thread costs tens of microseconds.
/// Between polls it yields its CPU, which on a busy machine may be the one
/// the other thread waits for (with other work on both cores, 64 idle-heavy
/// devices on 2 threads ran in 2.2-2.8 s instead of 5.6-6.4 s).
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
        // On a loaded machine the other side may be waiting for this core:
        // let it run rather than burn the time slice polling.
        std::thread::yield_now();
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
