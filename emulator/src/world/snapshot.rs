//! Snapshots of a whole scenario (`ensemble scenario --snapshot-at T FILE`,
//! `--restore FILE`): every machine, every network's state (frames in
//! flight, switch tables and link states, radio transmissions, random
//! generators), the steps' progress and virtual time. A snapshot is taken
//! at a quantum boundary, between two advances of the fleet, where nothing
//! is half done: the run from a restored snapshot is the one that followed
//! it. Files the run writes (UART logs, pcaps, sound) start again at the
//! restore, the UART logs with the consoles so far.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use ensemble_devices::VideoFrame;

use crate::fleet::{Fleet, Inbound, MachineState};
use crate::scenario::{Action, PacketFilter, Scenario};

/// Scenario snapshot files start with these bytes and the format version.
const MAGIC: &[u8; 8] = b"ENSWRLD\0";
/// Bump when what a scenario snapshot holds changes shape (each machine's
/// part carries the machine snapshot's own version).
pub const VERSION: u32 = 1;

/// A frame on its way to a machine: (device, NIC, arrival in ns, frame).
type SavedFrame = (usize, String, u64, Vec<u8>);
/// An expect-packet step's watch: (network, filter, first match: time and
/// sender), as `run_observed` keeps it.
type PacketWatch = (usize, PacketFilter, Option<(u64, usize)>);

/// The run's state at a quantum boundary, as `run_observed` keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct SavedWorld {
    pub now: u64,
    /// Each network's fabric, serialised.
    pub nets: Vec<Vec<u8>>,
    /// Frames on their way, for the next quantum.
    pub inbox: Vec<SavedFrame>,
    pub in_flight: usize,
    /// Which machines were asleep with nothing armed.
    pub asleep: Vec<bool>,
    pub step: usize,
    pub step_start: u64,
    pub frames_sent: u64,
    pub consoles: Vec<Vec<u8>>,
    pub cursor: Vec<usize>,
    pub screens: Vec<Option<VideoFrame>>,
    pub leds: Vec<Vec<bool>>,
    pub touch_down: bool,
    pub listening: Option<(usize, u64, u16, Vec<i16>, u32)>,
    /// An expect-packet step's watch: its first match so far.
    pub watching: Option<Option<(u64, usize)>>,
}

/// What a file holds: the world, and what it belongs to.
#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotFile {
    scenario: String,
    layout: u64,
    machines: Vec<Vec<u8>>,
    world: SavedWorld,
}

/// A fingerprint of what a snapshot's state refers to: the devices, the
/// networks and the steps (FNV-1a). The images are checked by each
/// machine's own snapshot.
fn layout(s: &Scenario) -> u64 {
    let mut text = format!("{}|{}", s.name, s.seed);
    for d in &s.devices {
        text += &format!("|d {} {} {}", d.name, d.board, d.console);
    }
    for n in &s.networks {
        text += &format!("|n {} {:?} {}", n.name, n.members, n.medium.is_wireless());
    }
    for st in &s.steps {
        text += &format!("|s {}", st.text);
    }
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl SavedWorld {
    /// The inbox as `run_observed` keeps it.
    pub fn inbox(&self) -> Vec<(usize, Inbound)> {
        self.inbox
            .iter()
            .map(|(d, nic, at_ns, frame)| {
                (
                    *d,
                    Inbound::Frame {
                        nic: nic.clone(),
                        at_ns: *at_ns,
                        frame: frame.clone(),
                    },
                )
            })
            .collect()
    }

    pub fn states(&self) -> Vec<MachineState> {
        self.asleep
            .iter()
            .map(|&a| {
                if a {
                    MachineState::Asleep
                } else {
                    MachineState::Running
                }
            })
            .collect()
    }

    /// The expect-packet watch, with its filter from the pending step.
    pub fn watching(&self, scenario: &Scenario) -> Result<Option<PacketWatch>> {
        let Some(found) = self.watching else {
            return Ok(None);
        };
        match scenario.steps.get(self.step).map(|s| &s.action) {
            Some(Action::ExpectPacket {
                network, filter, ..
            }) => Ok(Some((*network, filter.clone(), found))),
            _ => Err(anyhow!("damaged snapshot: a packet watch without its step")),
        }
    }
}

/// The saved form of an inbox: only frames are ever in it between two
/// quanta (steps and windows hand over their inputs just before one).
pub(super) fn saved_inbox(inbox: &[(usize, Inbound)]) -> Result<Vec<SavedFrame>> {
    inbox
        .iter()
        .map(|(d, item)| match item {
            Inbound::Frame { nic, at_ns, frame } => Ok((*d, nic.clone(), *at_ns, frame.clone())),
            other => Err(anyhow!("cannot save {other:?} waiting for a machine")),
        })
        .collect()
}

/// Write a snapshot of `world` and every machine of `fleet` to `path`.
pub(super) fn save(
    path: &Path,
    scenario: &Scenario,
    fleet: &mut Fleet,
    world: SavedWorld,
) -> Result<()> {
    let machines = fleet
        .save()
        .map_err(|(i, e)| anyhow!("--snapshot-at: device '{}': {e}", scenario.devices[i].name))?;
    let file = SnapshotFile {
        scenario: scenario.name.clone(),
        layout: layout(scenario),
        machines,
        world,
    };
    let body = postcard::to_allocvec(&file).context("--snapshot-at: encoding")?;
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&body);
    std::fs::write(path, out).with_context(|| format!("--snapshot-at: writing {}", path.display()))
}

/// Read the snapshot at `path`, check that it is one of `scenario`, and
/// restore every machine of `fleet` from it (built, not yet run); the
/// rest is for `run_observed` to take back.
pub(super) fn restore(path: &Path, scenario: &Scenario, fleet: &mut Fleet) -> Result<SavedWorld> {
    let what = || format!("--restore {}", path.display());
    let data = std::fs::read(path).with_context(what)?;
    let file = decode(&data, scenario).with_context(what)?;
    if file.machines.len() != scenario.devices.len() {
        return Err(anyhow!("damaged snapshot: wrong number of machines")).with_context(what);
    }
    fleet
        .restore(file.machines)
        .map_err(|(i, e)| anyhow!("device '{}': {e}", scenario.devices[i].name).context(what()))?;
    Ok(file.world)
}

fn decode(data: &[u8], scenario: &Scenario) -> Result<SnapshotFile> {
    let n = MAGIC.len();
    if data.len() < n + 4 || &data[..n] != MAGIC {
        if data.starts_with(b"ENSSNAP\0") {
            return Err(anyhow!(
                "a snapshot of one machine (ensemble run --snapshot-at), not of a scenario"
            ));
        }
        return Err(anyhow!("not an Ensemble scenario snapshot"));
    }
    let version = u32::from_le_bytes(data[n..n + 4].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(anyhow!(
            "scenario snapshot format version {version}, this Ensemble reads version {VERSION}"
        ));
    }
    let file: SnapshotFile =
        postcard::from_bytes(&data[n + 4..]).map_err(|e| anyhow!("damaged snapshot: {e}"))?;
    if file.scenario != scenario.name {
        return Err(anyhow!(
            "a snapshot of scenario '{}', not '{}'",
            file.scenario,
            scenario.name
        ));
    }
    if file.layout != layout(scenario) {
        return Err(anyhow!(
            "a snapshot of another version of scenario '{}' (its devices, networks or steps differ)",
            scenario.name
        ));
    }
    if file.world.nets.len() != scenario.networks.len()
        || file.world.consoles.len() != scenario.devices.len()
    {
        return Err(anyhow!(
            "damaged snapshot: wrong number of networks or devices"
        ));
    }
    Ok(file)
}
