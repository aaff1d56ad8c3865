//! Scenario files: several devices, the networks that join them, a seed,
//! and a timeline of steps in virtual time. Paths are relative to the
//! scenario file.
//!
//! ```toml
//! name = "two-nodes"
//! seed = 7
//! [[device]]
//! name = "a"
//! board = "mps2-an385"
//! image = "../build/net-node.elf"
//! [[network]]
//! name = "lan"
//! kind = "switch"
//! members = ["a", "b"]
//! latency = "1ms"
//! [[step]]
//! wait-uart = { device = "a", regex = "reply from", timeout = "5s" }
//! [[step]]
//! at = "6s"
//! link-down = { network = "lan", device = "b" }
//! ```

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use ensemble_devices::{AudioSource, SensorSource};

use crate::net::switch::LinkParams;
use crate::net::wireless::RadioParams;
use crate::time::parse_duration_ns;

#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{file}:{line}: {msg}")]
    Invalid {
        file: String,
        line: usize,
        msg: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    name: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    time_limit: Option<Spanned<String>>,
    #[serde(default)]
    device: Vec<Spanned<RawDevice>>,
    #[serde(default)]
    network: Vec<Spanned<RawNetwork>>,
    #[serde(default)]
    step: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    bridge: Vec<Spanned<RawBridge>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBridge {
    network: String,
    kind: String,
    local: String,
    remote: String,
}

/// A switch network joined to the host: each Ethernet frame is one UDP
/// datagram, the framing of QEMU's `-netdev socket,udp=...,localaddr=...`.
#[derive(Debug, Clone)]
pub struct BridgeDecl {
    pub network: usize,
    /// Where frames from the host arrive.
    pub local: std::net::SocketAddr,
    /// Where frames for the host are sent.
    pub remote: std::net::SocketAddr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: String,
    board: String,
    #[serde(default)]
    image: Option<String>,
    /// AArch64 boards: what to boot (as `ensemble run`'s options).
    #[serde(default)]
    kernel: Option<String>,
    #[serde(default)]
    initrd: Option<String>,
    #[serde(default)]
    append: Option<String>,
    #[serde(default)]
    bios: Option<String>,
    #[serde(default)]
    disk: Option<String>,
    #[serde(default)]
    memory: Option<String>,
    #[serde(default)]
    position: Option<[f64; 3]>,
    #[serde(default)]
    console: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    name: String,
    kind: String,
    members: Vec<String>,
    #[serde(default)]
    latency: Option<String>,
    #[serde(default)]
    jitter: Option<String>,
    #[serde(default)]
    bandwidth: Option<toml::Value>,
    #[serde(default)]
    loss: Option<f64>,
    #[serde(default)]
    mtu: Option<i64>,
    /// Wireless: metres beyond which nothing is heard.
    #[serde(default)]
    range: Option<f64>,
    #[serde(default)]
    path_loss_exponent: Option<f64>,
    #[serde(default)]
    reference_loss: Option<f64>,
    #[serde(default)]
    sensitivity: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct DeviceDecl {
    pub name: String,
    pub board: String,
    /// Resolved against the scenario file's folder (empty for a device
    /// that boots a kernel or firmware instead).
    pub image: PathBuf,
    /// AArch64 boards: kernel, initrd, command line or firmware.
    pub boot: Option<crate::boot::BootDecl>,
    pub position: [f64; 3],
    pub console: String,
}

#[derive(Debug, Clone)]
pub enum Medium {
    Switch(LinkParams),
    Wireless(RadioParams),
}

impl Medium {
    /// The shortest delay between a frame leaving one machine and arriving
    /// at another, which bounds the lockstep quantum.
    pub fn latency_ns(&self) -> u64 {
        match self {
            Medium::Switch(p) => p.latency_ns,
            Medium::Wireless(p) => p.latency_ns,
        }
    }

    pub fn is_wireless(&self) -> bool {
        matches!(self, Medium::Wireless(_))
    }
}

#[derive(Debug, Clone)]
pub struct NetworkDecl {
    pub name: String,
    /// Indices into `Scenario::devices`, in member order (= port).
    pub members: Vec<usize>,
    pub medium: Medium,
}

#[derive(Debug, Clone)]
pub enum Action {
    WaitUart {
        device: usize,
        regex: Regex,
        timeout_ns: u64,
    },
    ExpectNoUart {
        device: usize,
        regex: Regex,
        window_ns: u64,
    },
    WriteUart {
        device: usize,
        text: String,
    },
    Link {
        network: usize,
        device: usize,
        up: bool,
    },
    Partition {
        network: usize,
        groups: Vec<Vec<usize>>,
    },
    Heal {
        network: usize,
    },
    Delay {
        ns: u64,
    },
    Move {
        device: usize,
        position: [f64; 3],
    },
    Press {
        device: usize,
        button: u32,
        pressed: bool,
    },
    /// Touch at (x, y), hold for `hold_ns`, release.
    Touch {
        device: usize,
        x: u32,
        y: u32,
        hold_ns: u64,
    },
    SetSensor {
        device: usize,
        channel: String,
        source: SensorSource,
    },
    SetAudioIn {
        device: usize,
        source: AudioSource,
    },
    Reset {
        device: usize,
    },
    /// Save the device's screen as `file` (in the artifacts folder, or
    /// the current one).
    Screenshot {
        device: usize,
        file: String,
    },
    /// The screen matches a reference PNG: at most `max_differing` pixels
    /// of `region` differ by more than `tolerance` in a channel, at some
    /// point within `timeout_ns`.
    ExpectScreen {
        device: usize,
        reference: PathBuf,
        tolerance: u8,
        max_differing: usize,
        region: Option<(u32, u32, u32, u32)>,
        timeout_ns: u64,
    },
    ExpectLed {
        device: usize,
        led: usize,
        on: bool,
        timeout_ns: u64,
    },
    /// Over the next `window_ns` of sound from the device: the tone's
    /// frequency within `tolerance_hz` of `frequency`, the RMS level within
    /// bounds.
    ExpectAudio {
        device: usize,
        window_ns: u64,
        channel: u16,
        frequency: Option<f64>,
        tolerance_hz: f64,
        min_rms: Option<f64>,
        max_rms: Option<f64>,
    },
    ExpectPacket {
        network: usize,
        filter: PacketFilter,
        timeout_ns: u64,
    },
}

/// Which frames an expect-packet step looks for; every given field must
/// match.
#[derive(Debug, Clone, Default)]
pub struct PacketFilter {
    /// Sent by this device.
    pub from: Option<usize>,
    /// EtherType (switch networks).
    pub ethertype: Option<u16>,
    /// UDP destination port (IPv4 over Ethernet).
    pub udp_port: Option<u16>,
    /// These bytes appear somewhere in the frame.
    pub contains: Option<Vec<u8>>,
}

impl PacketFilter {
    pub fn matches(&self, from: usize, frame: &[u8], wireless: bool) -> bool {
        if self.from.is_some_and(|f| f != from) {
            return false;
        }
        let ethertype =
            (!wireless && frame.len() >= 14).then(|| u16::from_be_bytes([frame[12], frame[13]]));
        if let Some(et) = self.ethertype {
            if ethertype != Some(et) {
                return false;
            }
        }
        if let Some(port) = self.udp_port {
            let ok =
                ethertype == Some(0x0800) && frame.len() >= 14 + 20 + 8 && frame[14 + 9] == 17 && {
                    let ihl = (frame[14] & 0x0f) as usize * 4;
                    frame.len() >= 14 + ihl + 4
                        && u16::from_be_bytes([frame[14 + ihl + 2], frame[14 + ihl + 3]]) == port
                };
            if !ok {
                return false;
            }
        }
        if let Some(needle) = &self.contains {
            if !needle.is_empty() && !frame.windows(needle.len()).any(|w| w == needle.as_slice()) {
                return false;
            }
        }
        true
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    /// Absolute virtual time to wait for before the action, if given.
    pub at_ns: Option<u64>,
    pub action: Action,
    /// Line in the scenario file, for reports.
    pub line: usize,
    /// The step as written, for progress and failure reports.
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    pub time_limit_ns: Option<u64>,
    pub devices: Vec<DeviceDecl>,
    pub networks: Vec<NetworkDecl>,
    pub steps: Vec<Step>,
    pub bridges: Vec<BridgeDecl>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Io(file.clone(), e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Scenario::parse(&text, &file, base)
    }

    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Scenario, ScenarioError> {
        let line_of = |offset: usize| crate::board::line_at(text, offset);
        let err = |offset: usize, msg: String| ScenarioError::Invalid {
            file: file.to_string(),
            line: line_of(offset),
            msg,
        };
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            err(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().trim().replace('\n', " "),
            )
        })?;
        let duration = |s: &str, what: &str, at: usize| -> Result<u64, ScenarioError> {
            parse_duration_ns(s).map(|ns| ns as u64).ok_or_else(|| {
                err(
                    at,
                    format!("{what}: '{s}' is not a duration like 5s or 10ms"),
                )
            })
        };

        let mut devices: Vec<DeviceDecl> = Vec::new();
        for d in &raw.device {
            let at = d.span().start;
            let d = d.get_ref();
            if devices.iter().any(|o| o.name == d.name) {
                return Err(err(at, format!("device '{}': duplicate name", d.name)));
            }
            let exists = |what: &str, p: &str| -> Result<String, ScenarioError> {
                let path = base.join(p);
                if path.exists() {
                    Ok(path.display().to_string())
                } else {
                    Err(err(
                        at,
                        format!(
                            "device '{}': {what}: {} does not exist",
                            d.name,
                            path.display()
                        ),
                    ))
                }
            };
            let boots = d.kernel.is_some() || d.bios.is_some();
            let (image, boot) = match (&d.image, boots) {
                (Some(_), true) => {
                    return Err(err(
                        at,
                        format!(
                            "device '{}': give image (a microcontroller) or kernel/bios (an AArch64 board), not both",
                            d.name
                        ),
                    ))
                }
                (None, false) => {
                    return Err(err(
                        at,
                        format!("device '{}': image: missing (or kernel/bios for an AArch64 board)", d.name),
                    ))
                }
                (Some(i), false) => (PathBuf::from(exists("image", i)?), None),
                (None, true) => {
                    let opt = |what: &str, v: &Option<String>| -> Result<Option<String>, ScenarioError> {
                        v.as_deref().map(|p| exists(what, p)).transpose()
                    };
                    let boot = crate::boot::BootDecl {
                        spec: crate::boot::BootSpec {
                            kernel: opt("kernel", &d.kernel)?,
                            initrd: opt("initrd", &d.initrd)?,
                            append: d.append.clone().unwrap_or_default(),
                            bios: opt("bios", &d.bios)?,
                            dtb: None,
                        },
                        memory: d.memory.clone(),
                        disk: opt("disk", &d.disk)?,
                    };
                    (PathBuf::new(), Some(boot))
                }
            };
            if d.board.ends_with(".toml") {
                if !base.join(&d.board).exists() {
                    return Err(err(
                        at,
                        format!(
                            "device '{}': board: {} does not exist",
                            d.name,
                            base.join(&d.board).display()
                        ),
                    ));
                }
            } else if !crate::board::Board::builtin_names().contains(&d.board.as_str()) {
                return Err(err(
                    at,
                    format!(
                        "device '{}': board: unknown board '{}' (built-in: {}; or a .toml file)",
                        d.name,
                        d.board,
                        crate::board::Board::builtin_names().join(", ")
                    ),
                ));
            }
            devices.push(DeviceDecl {
                name: d.name.clone(),
                board: if d.board.ends_with(".toml") {
                    base.join(&d.board).display().to_string()
                } else {
                    d.board.clone()
                },
                image,
                boot,
                position: d.position.unwrap_or([0.0; 3]),
                console: d.console.clone().unwrap_or_else(|| "uart0".into()),
            });
        }
        if devices.is_empty() {
            return Err(err(0, "a scenario needs at least one [[device]]".into()));
        }
        let device_index = |name: &str, at: usize, what: &str| -> Result<usize, ScenarioError> {
            devices
                .iter()
                .position(|d| d.name == name)
                .ok_or_else(|| err(at, format!("{what}: no device named '{name}'")))
        };

        let mut networks: Vec<NetworkDecl> = Vec::new();
        for n in &raw.network {
            let at = n.span().start;
            let n = n.get_ref();
            if networks.iter().any(|o| o.name == n.name) {
                return Err(err(at, format!("network '{}': duplicate name", n.name)));
            }
            let wireless = match n.kind.as_str() {
                "switch" => false,
                "wireless" => true,
                other => {
                    return Err(err(
                        at,
                        format!(
                            "network '{}': kind: unknown kind '{other}' (switch, wireless)",
                            n.name
                        ),
                    ))
                }
            };
            let mut members = Vec::new();
            for m in &n.members {
                let i = device_index(m, at, &format!("network '{}': members", n.name))?;
                if members.contains(&i) {
                    return Err(err(at, format!("network '{}': '{m}' listed twice", n.name)));
                }
                members.push(i);
            }
            let latency_ns = match &n.latency {
                Some(l) => duration(l, &format!("network '{}': latency", n.name), at)?,
                None => 1_000_000,
            };
            if latency_ns == 0 {
                return Err(err(
                    at,
                    format!(
                        "network '{}': latency must be above zero (it bounds the lockstep quantum)",
                        n.name
                    ),
                ));
            }
            let only = |what: &str, present: bool| -> Result<(), ScenarioError> {
                if present {
                    Err(err(
                        at,
                        format!(
                            "network '{}': {what} does not apply to a {} network",
                            n.name, n.kind
                        ),
                    ))
                } else {
                    Ok(())
                }
            };
            let medium = if wireless {
                only("jitter", n.jitter.is_some())?;
                only("bandwidth", n.bandwidth.is_some())?;
                only("loss", n.loss.is_some())?;
                only("mtu", n.mtu.is_some())?;
                let mut p = RadioParams {
                    latency_ns,
                    ..RadioParams::default()
                };
                if let Some(r) = n.range {
                    if !(r > 0.0) {
                        return Err(err(
                            at,
                            format!("network '{}': range must be above zero metres", n.name),
                        ));
                    }
                    p.range_m = r;
                }
                if let Some(e) = n.path_loss_exponent {
                    if !(1.0..=6.0).contains(&e) {
                        return Err(err(
                            at,
                            format!(
                                "network '{}': path_loss_exponent must be within 1..6",
                                n.name
                            ),
                        ));
                    }
                    p.exponent = e;
                }
                if let Some(l) = n.reference_loss {
                    p.reference_loss_db = l;
                }
                if let Some(sens) = n.sensitivity {
                    p.sensitivity_dbm = sens;
                }
                Medium::Wireless(p)
            } else {
                only("range", n.range.is_some())?;
                only("path_loss_exponent", n.path_loss_exponent.is_some())?;
                only("reference_loss", n.reference_loss.is_some())?;
                only("sensitivity", n.sensitivity.is_some())?;
                let mut params = LinkParams {
                    latency_ns,
                    ..LinkParams::default()
                };
                if let Some(j) = &n.jitter {
                    params.jitter_ns = duration(j, &format!("network '{}': jitter", n.name), at)?;
                }
                if let Some(loss) = n.loss {
                    if !(0.0..=1.0).contains(&loss) {
                        return Err(err(
                            at,
                            format!("network '{}': loss must be within 0..1", n.name),
                        ));
                    }
                    params.loss = loss;
                }
                if let Some(mtu) = n.mtu {
                    if !(64..=65535).contains(&mtu) {
                        return Err(err(
                            at,
                            format!("network '{}': mtu must be 64..65535", n.name),
                        ));
                    }
                    params.mtu = mtu as usize;
                }
                if let Some(b) = &n.bandwidth {
                    params.bandwidth_bps = parse_bandwidth(b).ok_or_else(|| {
                        err(
                            at,
                            format!(
                                "network '{}': bandwidth: expected bits/s or a string like \"100Mbit\"",
                                n.name
                            ),
                        )
                    })?;
                }
                Medium::Switch(params)
            };
            networks.push(NetworkDecl {
                name: n.name.clone(),
                members,
                medium,
            });
        }
        let network_index = |name: &str, at: usize| -> Result<usize, ScenarioError> {
            networks
                .iter()
                .position(|n| n.name == name)
                .ok_or_else(|| err(at, format!("no network named '{name}'")))
        };

        let mut steps = Vec::new();
        for s in &raw.step {
            let at = s.span().start;
            let line = line_of(at);
            let table = s.get_ref();
            let at_ns = match table.get("at") {
                None => None,
                Some(toml::Value::String(t)) => Some(duration(t, "step: at", at)?),
                Some(_) => return Err(err(at, "step: at: expected a duration string".into())),
            };
            let actions: Vec<(&String, &toml::Value)> =
                table.iter().filter(|(k, _)| k.as_str() != "at").collect();
            if actions.len() != 1 {
                return Err(err(
                    at,
                    format!(
                        "step: expected exactly one action besides 'at', found {}",
                        actions.len()
                    ),
                ));
            }
            let (key, value) = actions[0];
            let field = |name: &str| -> Result<&toml::Value, ScenarioError> {
                value
                    .get(name)
                    .ok_or_else(|| err(at, format!("step {key}: missing '{name}'")))
            };
            let string = |name: &str| -> Result<String, ScenarioError> {
                field(name)?
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| err(at, format!("step {key}: '{name}' must be a string")))
            };
            let regex = |name: &str| -> Result<Regex, ScenarioError> {
                let r = string(name)?;
                Regex::new(&r).map_err(|e| err(at, format!("step {key}: {name}: {e}")))
            };
            let dev = |name: &str| -> Result<usize, ScenarioError> {
                device_index(&string(name)?, at, &format!("step {key}: {name}"))
            };
            let net = || -> Result<usize, ScenarioError> { network_index(&string("network")?, at) };
            let uint = |name: &str| -> Result<Option<u64>, ScenarioError> {
                match value.get(name) {
                    None => Ok(None),
                    Some(v) => v
                        .as_integer()
                        .filter(|i| *i >= 0)
                        .map(|i| Some(i as u64))
                        .ok_or_else(|| {
                            err(
                                at,
                                format!("step {key}: '{name}' must be a whole number >= 0"),
                            )
                        }),
                }
            };
            let opt_duration = |name: &str| -> Result<Option<u64>, ScenarioError> {
                match value.get(name) {
                    None => Ok(None),
                    Some(_) => Ok(Some(duration(
                        &string(name)?,
                        &format!("step {key}: {name}"),
                        at,
                    )?)),
                }
            };
            let action = match key.as_str() {
                "wait-uart" => Action::WaitUart {
                    device: dev("device")?,
                    regex: regex("regex")?,
                    timeout_ns: duration(&string("timeout")?, "step wait-uart: timeout", at)?,
                },
                "expect-no-uart" => Action::ExpectNoUart {
                    device: dev("device")?,
                    regex: regex("regex")?,
                    window_ns: duration(&string("window")?, "step expect-no-uart: window", at)?,
                },
                "write-uart" => Action::WriteUart {
                    device: dev("device")?,
                    text: string("text")?,
                },
                "link-down" | "link-up" => {
                    let network = net()?;
                    let device = dev("device")?;
                    if !networks[network].members.contains(&device) {
                        return Err(err(
                            at,
                            format!(
                                "step {key}: '{}' is not a member of network '{}'",
                                devices[device].name, networks[network].name
                            ),
                        ));
                    }
                    Action::Link {
                        network,
                        device,
                        up: key == "link-up",
                    }
                }
                "partition" => {
                    let network = net()?;
                    let groups = field("groups")?
                        .as_array()
                        .ok_or_else(|| err(at, "step partition: groups must be a list of lists of device names".into()))?
                        .iter()
                        .map(|g| {
                            g.as_array()
                                .ok_or_else(|| err(at, "step partition: each group is a list of device names".into()))?
                                .iter()
                                .map(|d| {
                                    let name = d.as_str().ok_or_else(|| {
                                        err(at, "step partition: device names are strings".into())
                                    })?;
                                    device_index(name, at, "step partition")
                                })
                                .collect::<Result<Vec<_>, _>>()
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    if networks[network].medium.is_wireless() {
                        return Err(err(at, "step partition: applies to switch networks (move devices apart on a wireless one)".into()));
                    }
                    Action::Partition { network, groups }
                }
                "heal" => {
                    let network = net()?;
                    if networks[network].medium.is_wireless() {
                        return Err(err(at, "step heal: applies to switch networks (move devices apart on a wireless one)".into()));
                    }
                    Action::Heal { network }
                }
                "move" => {
                    let position = field("position")?
                        .as_array()
                        .filter(|a| a.len() == 3)
                        .and_then(|a| {
                            a.iter()
                                .map(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
                                .collect::<Option<Vec<f64>>>()
                        })
                        .ok_or_else(|| err(at, "step move: position must be [x, y, z] in metres".into()))?;
                    Action::Move {
                        device: dev("device")?,
                        position: [position[0], position[1], position[2]],
                    }
                }
                "delay" => Action::Delay {
                    ns: duration(
                        value
                            .as_str()
                            .ok_or_else(|| err(at, "step delay: expected a duration string".into()))?,
                        "step delay",
                        at,
                    )?,
                },
                "press" | "release" => Action::Press {
                    device: dev("device")?,
                    button: uint("button")?.unwrap_or(0) as u32,
                    pressed: key == "press",
                },
                "touch" => Action::Touch {
                    device: dev("device")?,
                    x: uint("x")?.ok_or_else(|| err(at, "step touch: missing 'x'".into()))? as u32,
                    y: uint("y")?.ok_or_else(|| err(at, "step touch: missing 'y'".into()))? as u32,
                    hold_ns: match value.get("hold") {
                        None => 100_000_000,
                        Some(_) => duration(&string("hold")?, "step touch: hold", at)?,
                    },
                },
                "set-sensor" | "sensor-trace" => {
                    let spec = if key == "sensor-trace" {
                        string("file")?
                    } else {
                        match field("value")? {
                            toml::Value::String(s) => s.clone(),
                            toml::Value::Integer(i) => i.to_string(),
                            toml::Value::Float(f) => f.to_string(),
                            toml::Value::Array(a) => a
                                .iter()
                                .map(|v| v.to_string())
                                .collect::<Vec<_>>()
                                .join(","),
                            _ => return Err(err(at, format!("step {key}: value: a number, [x, y, z] or a source string"))),
                        }
                    };
                    let source = crate::frontend::headless::parse_sensor_source(&spec, base)
                        .map_err(|e| err(at, format!("step {key}: {e:#}")))?;
                    Action::SetSensor {
                        device: dev("device")?,
                        channel: string("channel")?,
                        source,
                    }
                }
                "audio-in" => {
                    let spec = string("source")?;
                    let spec = match spec.strip_prefix("tone:") {
                        Some(_) => spec,
                        None => base.join(spec).display().to_string(),
                    };
                    Action::SetAudioIn {
                        device: dev("device")?,
                        source: crate::frontend::headless::parse_audio_source(&spec)
                            .map_err(|e| err(at, format!("step audio-in: {e:#}")))?,
                    }
                }
                "reset" => Action::Reset {
                    device: dev("device")?,
                },
                "screenshot" => Action::Screenshot {
                    device: dev("device")?,
                    file: string("file")?,
                },
                "expect-screen" => {
                    let reference = base.join(string("file")?);
                    if !reference.exists() {
                        return Err(err(at, format!("step expect-screen: {} does not exist", reference.display())));
                    }
                    let region = match value.get("region") {
                        None => None,
                        Some(v) => {
                            let r: Option<Vec<u32>> = v.as_array().filter(|a| a.len() == 4).and_then(|a| {
                                a.iter().map(|x| x.as_integer().filter(|i| *i >= 0).map(|i| i as u32)).collect()
                            });
                            let r = r.ok_or_else(|| err(at, "step expect-screen: region must be [x, y, width, height]".into()))?;
                            Some((r[0], r[1], r[2], r[3]))
                        }
                    };
                    Action::ExpectScreen {
                        device: dev("device")?,
                        reference,
                        tolerance: uint("tolerance")?.unwrap_or(0).min(255) as u8,
                        max_differing: uint("max-differing")?.unwrap_or(0) as usize,
                        region,
                        timeout_ns: opt_duration("timeout")?.unwrap_or(0),
                    }
                }
                "expect-led" => Action::ExpectLed {
                    device: dev("device")?,
                    led: uint("led")?.unwrap_or(0) as usize,
                    on: match value.get("on") {
                        None => true,
                        Some(toml::Value::Boolean(b)) => *b,
                        Some(_) => return Err(err(at, "step expect-led: on must be true or false".into())),
                    },
                    timeout_ns: opt_duration("timeout")?.unwrap_or(0),
                },
                "expect-audio" => {
                    let float = |name: &str| -> Result<Option<f64>, ScenarioError> {
                        match value.get(name) {
                            None => Ok(None),
                            Some(v) => v
                                .as_float()
                                .or_else(|| v.as_integer().map(|i| i as f64))
                                .map(Some)
                                .ok_or_else(|| err(at, format!("step expect-audio: {name} must be a number"))),
                        }
                    };
                    let frequency = float("frequency")?;
                    let (min_rms, max_rms) = (float("min-rms")?, float("max-rms")?);
                    if frequency.is_none() && min_rms.is_none() && max_rms.is_none() {
                        return Err(err(at, "step expect-audio: give frequency, min-rms or max-rms".into()));
                    }
                    Action::ExpectAudio {
                        device: dev("device")?,
                        window_ns: duration(&string("window")?, "step expect-audio: window", at)?,
                        channel: uint("channel")?.unwrap_or(0) as u16,
                        frequency,
                        tolerance_hz: float("tolerance")?.unwrap_or(1.0),
                        min_rms,
                        max_rms,
                    }
                }
                "expect-packet" => {
                    let network = net()?;
                    let mut filter = PacketFilter::default();
                    if value.get("from").is_some() {
                        filter.from = Some(dev("from")?);
                    }
                    filter.ethertype = uint("ethertype")?.map(|v| v as u16);
                    filter.udp_port = uint("udp-port")?.map(|v| v as u16);
                    if value.get("contains").is_some() {
                        filter.contains = Some(string("contains")?.into_bytes());
                    }
                    Action::ExpectPacket {
                        network,
                        filter,
                        timeout_ns: duration(&string("timeout")?, "step expect-packet: timeout", at)?,
                    }
                }
                other => {
                    return Err(err(
                        at,
                        format!(
                            "step: unknown action '{other}' (wait-uart, expect-no-uart, write-uart, link-down, link-up, partition, heal, move, delay, press, release, touch, set-sensor, sensor-trace, audio-in, reset, screenshot, expect-screen, expect-led, expect-audio, expect-packet)"
                        ),
                    ))
                }
            };
            let text = format!("{key} {value}");
            steps.push(Step {
                at_ns,
                action,
                line,
                text,
            });
        }
        let mut bridges = Vec::new();
        for b in &raw.bridge {
            let at = b.span().start;
            let b = b.get_ref();
            let network = network_index(&b.network, at)?;
            if networks[network].medium.is_wireless() {
                return Err(err(
                    at,
                    format!(
                        "bridge: network '{}' is wireless; bridges join switch networks",
                        b.network
                    ),
                ));
            }
            if b.kind != "udp" {
                return Err(err(
                    at,
                    format!("bridge: kind: unknown kind '{}' (udp)", b.kind),
                ));
            }
            let addr = |what: &str, v: &str| -> Result<std::net::SocketAddr, ScenarioError> {
                v.parse().map_err(|_| {
                    err(
                        at,
                        format!("bridge: {what}: '{v}' is not an address like 127.0.0.1:47000"),
                    )
                })
            };
            bridges.push(BridgeDecl {
                network,
                local: addr("local", &b.local)?,
                remote: addr("remote", &b.remote)?,
            });
        }
        let time_limit_ns = match &raw.time_limit {
            Some(t) => Some(duration(t.get_ref(), "time_limit", t.span().start)?),
            None => None,
        };
        Ok(Scenario {
            name: raw.name,
            seed: raw.seed,
            time_limit_ns,
            devices,
            networks,
            steps,
            bridges,
        })
    }
}

/// "100Mbit", "1Gbit", "250kbit", or a plain number of bits per second.
fn parse_bandwidth(v: &toml::Value) -> Option<u64> {
    match v {
        toml::Value::Integer(n) if *n >= 0 => Some(*n as u64),
        toml::Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            let s = s.strip_suffix("/s").unwrap_or(&s);
            let (num, mult) = if let Some(n) = s.strip_suffix("gbit") {
                (n, 1e9)
            } else if let Some(n) = s.strip_suffix("mbit") {
                (n, 1e6)
            } else if let Some(n) = s.strip_suffix("kbit") {
                (n, 1e3)
            } else if let Some(n) = s.strip_suffix("bit") {
                (n, 1.0)
            } else {
                (s, 1.0)
            };
            let v: f64 = num.trim().parse().ok()?;
            (v >= 0.0).then_some((v * mult) as u64)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("ensemble-scn-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("fw.elf"), b"x").unwrap();
        d
    }

    const GOOD: &str = r#"
name = "two"
seed = 7
[[device]]
name = "a"
board = "mps2-an385"
image = "fw.elf"
[[device]]
name = "b"
board = "mps2-an385"
image = "fw.elf"
[[network]]
name = "lan"
kind = "switch"
members = ["a", "b"]
latency = "2ms"
bandwidth = "10Mbit"
loss = 0.25
[[step]]
wait-uart = { device = "a", regex = "up", timeout = "5s" }
[[step]]
at = "6s"
link-down = { network = "lan", device = "b" }
[[step]]
partition = { network = "lan", groups = [["a"], ["b"]] }
"#;

    #[test]
    fn parses_devices_networks_and_steps() {
        let s = Scenario::parse(GOOD, "s.toml", &dir()).unwrap();
        assert_eq!(s.devices.len(), 2);
        let Medium::Switch(p) = &s.networks[0].medium else {
            panic!("a switch")
        };
        assert_eq!(p.latency_ns, 2_000_000);
        assert_eq!(p.bandwidth_bps, 10_000_000);
        assert_eq!(s.steps.len(), 3);
        assert_eq!(s.steps[1].at_ns, Some(6_000_000_000));
        assert!(matches!(s.steps[2].action, Action::Partition { .. }));
    }

    fn bad(replace: (&str, &str), needle: &str) {
        let text = GOOD.replacen(replace.0, replace.1, 1);
        let e = Scenario::parse(&text, "s.toml", &dir())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:"), "{e}");
        assert!(e.contains(needle), "'{needle}' not in {e}");
    }

    #[test]
    fn bad_scenarios_name_the_line_and_problem() {
        bad(
            ("members = [\"a\", \"b\"]", "members = [\"a\", \"c\"]"),
            "no device named 'c'",
        );
        bad(
            ("image = \"fw.elf\"", "image = \"nope.elf\""),
            "does not exist",
        );
        bad(("latency = \"2ms\"", "latency = \"-2ms\""), "latency");
        bad(("name = \"b\"", "name = \"a\""), "duplicate name");
        bad(
            (
                "network = \"lan\", device = \"b\"",
                "network = \"wan\", device = \"b\"",
            ),
            "no network named 'wan'",
        );
        bad(("loss = 0.25", "loss = 2.0"), "loss must be within 0..1");
        bad(("wait-uart", "wait-uartz"), "unknown action 'wait-uartz'");
        let e = Scenario::parse(
            GOOD.replacen("loss = 0.25", "loss = 2.0", 1).as_str(),
            "s.toml",
            &dir(),
        )
        .unwrap_err()
        .to_string();
        let line = GOOD
            .lines()
            .position(|l| l.starts_with("[[network]]"))
            .unwrap()
            + 1;
        assert!(e.starts_with(&format!("s.toml:{line}:")), "{e}");
    }
}
