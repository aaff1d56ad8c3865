//! Recording and replaying what came from outside during a run: console
//! input, button presses, touches, sensor controls, the window closing.
//! Each is stamped with the virtual time at which the machine took it, so
//! a replay applies it at exactly that point of the guest's execution and
//! an interactive session that found a bug runs again, byte for byte, in CI.
//!
//! The file is text, one input per line:
//!
//! ```text
//! # ensemble input recording v1
//! 25000000 uart 68690a
//! 31250000 button 0 down
//! 40000000 touch 120 64 down
//! 52500000 sensor accel 0 4.9 8.5
//! 90000000 close
//! ```
//! (times in ticks of the board's clock).
//!
//! A scenario's recording is version 2 of the format: it says which
//! scenario it is for, and each input which device or network it entered
//! (see [`ScenarioRecorder`]). Each reader refuses the other version in
//! one line.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use ensemble_devices::Ticks;

use super::UserInput;
use crate::scenario::Scenario;

/// A single machine's recording (`ensemble run`): times in ticks.
pub const HEADER: &str = "# ensemble input recording v1";
/// A scenario's recording (`ensemble scenario`): times in ns, targets.
pub const HEADER_V2: &str = "# ensemble input recording v2";

#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    Uart(Vec<u8>),
    User(UserInput),
}

pub struct Recorder {
    out: BufWriter<File>,
}

impl Recorder {
    pub fn create(path: &Path) -> Result<Recorder> {
        let f = File::create(path).with_context(|| format!("--record {}", path.display()))?;
        let mut out = BufWriter::new(f);
        writeln!(out, "{HEADER}")?;
        Ok(Recorder { out })
    }

    pub fn record(&mut self, at: Ticks, what: &Recorded) -> Result<()> {
        writeln!(self.out, "{at} {}", format_input(what))?;
        // Flushed at once: a session that ends in a crash keeps its inputs.
        self.out.flush()?;
        Ok(())
    }
}

fn format_input(what: &Recorded) -> String {
    let updown = |p: bool| if p { "down" } else { "up" };
    match what {
        Recorded::Uart(bytes) => format!("uart {}", hex(bytes)),
        Recorded::User(UserInput::Button { index, pressed }) => {
            format!("button {index} {}", updown(*pressed))
        }
        Recorded::User(UserInput::Touch { x, y, pressed }) => {
            format!("touch {x} {y} {}", updown(*pressed))
        }
        Recorded::User(UserInput::Sensor { channel, value }) => {
            format!("sensor {channel} {} {} {}", value[0], value[1], value[2])
        }
        Recorded::User(UserInput::Close) => "close".into(),
    }
}

/// Read a recording: inputs in time order.
pub fn load(path: &Path) -> Result<VecDeque<(Ticks, Recorded)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--replay {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == HEADER => {}
        Some((_, h)) if h.trim() == HEADER_V2 => bail!(
            "--replay {}: a recording of a scenario (ensemble scenario --record); replay it with 'ensemble scenario SCENARIO --replay {}'",
            path.display(),
            path.display()
        ),
        Some((_, h)) if h.starts_with("# ensemble input recording") => bail!(
            "--replay {}: recording format '{}' is not the supported '{HEADER}'",
            path.display(),
            h.trim()
        ),
        _ => bail!(
            "--replay {}: not an input recording (no '{HEADER}' line)",
            path.display()
        ),
    }
    let mut out = VecDeque::new();
    let mut last = 0;
    for (n, line) in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| anyhow!("--replay {}:{}: {why}: '{line}'", path.display(), n + 1);
        let f: Vec<&str> = line.split_whitespace().collect();
        let at: Ticks = f[0].parse().map_err(|_| bad("expected a time in ticks"))?;
        if at < last {
            return Err(bad("time goes backwards"));
        }
        last = at;
        let what = parse_input(&f[1..], &bad)?;
        out.push_back((at, what));
    }
    Ok(out)
}

/// One input: its kind and arguments (`f[0]` is the kind).
fn parse_input(f: &[&str], bad: &dyn Fn(&str) -> anyhow::Error) -> Result<Recorded> {
    let num = |i: usize| -> Result<u32> {
        f.get(i)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("expected a number"))
    };
    let pressed = |i: usize| -> Result<bool> {
        match f.get(i) {
            Some(&"down") => Ok(true),
            Some(&"up") => Ok(false),
            _ => Err(bad("expected down or up")),
        }
    };
    Ok(match f.first().copied() {
        Some("uart") => {
            let bytes = unhex(f.get(1).copied().unwrap_or("")).ok_or_else(|| bad("bad hex"))?;
            Recorded::Uart(bytes)
        }
        Some("button") => Recorded::User(UserInput::Button {
            index: num(1)?,
            pressed: pressed(2)?,
        }),
        Some("touch") => Recorded::User(UserInput::Touch {
            x: num(1)?,
            y: num(2)?,
            pressed: pressed(3)?,
        }),
        Some("sensor") => {
            let channel = f
                .get(1)
                .ok_or_else(|| bad("expected a channel"))?
                .to_string();
            let mut value = [0.0; 3];
            for (k, v) in value.iter_mut().enumerate() {
                *v = f
                    .get(2 + k)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad("expected three values"))?;
            }
            Recorded::User(UserInput::Sensor { channel, value })
        }
        Some("close") => Recorded::User(UserInput::Close),
        _ => return Err(bad("unknown input")),
    })
}

// ---- Scenarios -------------------------------------------------------------
//
// A scenario's recording (version 2) names what each input went to and
// which scenario it belongs to; its times are nanoseconds of the
// scenario's virtual time:
//
// ```text
// # ensemble input recording v2
// scenario home fnv1a64=8c2f7b0e1d3a4c55
// devices phone watch speaker kitchen living bedroom
// networks air lan
// 3000000000 @watch touch 120 60 down
// 3100000000 @watch touch 120 60 up
// 4000000000 @lan frame 5254001234000200000000990800...
// 4000000000 @watch sensor accel 9.81 0 0
// 9000000000 @speaker close
// 9000000000 stop
// ```
//
// `@DEVICE` inputs (uart, button, touch, sensor, close) enter that device
// at the lockstep quantum boundary at TIME, before the machines advance
// from it; `@NETWORK frame HEX` is an Ethernet frame that came from the
// host through the network's bridge and entered the switch at the
// boundary at TIME; `stop` is every window closing. Names holding
// whitespace, '%' or '@' are written with %XX escapes.

/// Which scenario a recording belongs to: the scenario file's bytes
/// (FNV-1a, 64 bits), its name, its devices and networks.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioStamp {
    pub name: String,
    pub fnv: u64,
    pub devices: Vec<String>,
    pub networks: Vec<String>,
    /// Which networks have a bridge to the host (not written: implied by
    /// the file's bytes).
    pub bridged: Vec<bool>,
}

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl ScenarioStamp {
    /// The stamp of `scenario`, read from a file holding `file_bytes`.
    pub fn of(file_bytes: &[u8], scenario: &Scenario) -> ScenarioStamp {
        ScenarioStamp {
            name: scenario.name.clone(),
            fnv: fnv1a64(file_bytes),
            devices: scenario.devices.iter().map(|d| d.name.clone()).collect(),
            networks: scenario.networks.iter().map(|n| n.name.clone()).collect(),
            bridged: (0..scenario.networks.len())
                .map(|i| scenario.bridges.iter().any(|b| b.network == i))
                .collect(),
        }
    }
}

/// One input from outside a scenario's simulation.
#[derive(Clone, Debug, PartialEq)]
pub enum ScenarioInput {
    /// For device `index`: console bytes or a window input (`Close`: the
    /// device's window closed, switching it off).
    Device(usize, Recorded),
    /// An Ethernet frame from the host through network `index`'s bridge.
    Frame(usize, Vec<u8>),
    /// Whoever watched ended the run (every window closed).
    Stop,
}

/// Writes a scenario's inputs as they enter, a line each, flushed at once.
pub struct ScenarioRecorder {
    out: BufWriter<File>,
    devices: Vec<String>,
    networks: Vec<String>,
}

impl ScenarioRecorder {
    pub fn create(path: &Path, stamp: &ScenarioStamp) -> Result<ScenarioRecorder> {
        let f = File::create(path).with_context(|| format!("--record {}", path.display()))?;
        let mut out = BufWriter::new(f);
        let names = |v: &[String]| v.iter().map(|n| escape(n)).collect::<Vec<_>>().join(" ");
        writeln!(out, "{HEADER_V2}")?;
        writeln!(
            out,
            "# inputs from outside the scenario: TIME_NS [@DEVICE|@NETWORK] INPUT"
        )?;
        writeln!(
            out,
            "scenario {} fnv1a64={:016x}",
            escape(&stamp.name),
            stamp.fnv
        )?;
        writeln!(out, "devices {}", names(&stamp.devices))?;
        writeln!(out, "networks {}", names(&stamp.networks))?;
        out.flush()?;
        Ok(ScenarioRecorder {
            out,
            devices: stamp.devices.clone(),
            networks: stamp.networks.clone(),
        })
    }

    /// Write down that `input` entered at virtual time `at_ns`.
    pub fn record(&mut self, at_ns: u64, input: &ScenarioInput) -> Result<()> {
        let line = match input {
            ScenarioInput::Device(d, what) => {
                format!("@{} {}", escape(&self.devices[*d]), format_input(what))
            }
            ScenarioInput::Frame(n, frame) => {
                format!("@{} frame {}", escape(&self.networks[*n]), hex(frame))
            }
            ScenarioInput::Stop => "stop".into(),
        };
        writeln!(self.out, "{at_ns} {line}").context("writing the input recording")?;
        // Flushed at once: a session that ends in a crash keeps its inputs.
        self.out.flush().context("writing the input recording")?;
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// A name as one word: whitespace, '%' and '@' as %XX.
fn escape(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_whitespace() || c == '%' || c == '@' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out += &format!("%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

fn unescape(word: &str) -> Option<String> {
    if word == "%00" {
        return Some(String::new());
    }
    let mut bytes = Vec::new();
    let mut rest = word.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let h = tail.get(..2)?;
            bytes.push(u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// A line shortened for an error message.
fn shown(line: &str) -> String {
    match line.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

/// Read a scenario's recording and check that it is one of the scenario
/// `stamp` describes: its inputs, in time order (times in ns).
pub fn load_scenario(path: &Path, stamp: &ScenarioStamp) -> Result<VecDeque<(u64, ScenarioInput)>> {
    let p = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("--replay {p}"))?;
    let mut lines = text.lines().enumerate();
    match lines.next().map(|(_, h)| h.trim()) {
        Some(h) if h == HEADER_V2 => {}
        Some(h) if h == HEADER => bail!(
            "--replay {p}: a recording of one machine (ensemble run --record), not of a scenario"
        ),
        Some(h) if h.starts_with("# ensemble input recording") => {
            bail!("--replay {p}: recording format '{h}' is not the supported '{HEADER_V2}'")
        }
        _ => bail!("--replay {p}: not an input recording (no '{HEADER_V2}' line)"),
    }
    let mut name: Option<(String, u64)> = None;
    let mut devices: Option<Vec<String>> = None;
    let mut networks: Option<Vec<String>> = None;
    let mut checked = false;
    let mut out = VecDeque::new();
    let mut last = 0;
    for (n, line) in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| anyhow!("--replay {p}:{}: {why}: '{}'", n + 1, shown(line));
        let f: Vec<&str> = line.split_whitespace().collect();
        let words = |f: &[&str]| -> Result<Vec<String>> {
            f.iter()
                .map(|w| unescape(w).ok_or_else(|| bad("bad %XX escape in a name")))
                .collect()
        };
        match f[0] {
            "scenario" if !checked => {
                let fnv = f
                    .get(2)
                    .and_then(|s| s.strip_prefix("fnv1a64="))
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .filter(|_| f.len() == 3)
                    .ok_or_else(|| bad("expected 'scenario NAME fnv1a64=HEX'"))?;
                name = Some((words(&f[1..2])?.remove(0), fnv));
                continue;
            }
            "devices" if !checked => {
                devices = Some(words(&f[1..])?);
                continue;
            }
            "networks" if !checked => {
                networks = Some(words(&f[1..])?);
                continue;
            }
            _ => {}
        }
        if !checked {
            let (Some((rec_name, fnv)), Some(devices), Some(networks)) =
                (&name, &devices, &networks)
            else {
                return Err(bad(
                    "expected the 'scenario', 'devices' and 'networks' lines before the first input",
                ));
            };
            check_stamp(path, stamp, rec_name, *fnv, devices, networks)?;
            checked = true;
        }
        let at: u64 = f[0]
            .parse()
            .map_err(|_| bad("expected a time in ns (or a header line before the inputs)"))?;
        if at < last {
            return Err(bad("time goes backwards"));
        }
        last = at;
        let input = match (f.get(1), f.get(2)) {
            (Some(&"stop"), None) => ScenarioInput::Stop,
            (Some(t), Some(&"frame")) if t.starts_with('@') => {
                let target = unescape(&t[1..]).ok_or_else(|| bad("bad %XX escape in a name"))?;
                let net = stamp
                    .networks
                    .iter()
                    .position(|n| *n == target)
                    .ok_or_else(|| bad(&format!("no network '{target}' in this scenario")))?;
                if !stamp.bridged[net] {
                    return Err(bad(&format!(
                        "network '{target}' has no bridge to the host"
                    )));
                }
                if f.len() != 4 {
                    return Err(bad("expected 'frame HEX'"));
                }
                let frame = unhex(f[3]).ok_or_else(|| bad("bad hex"))?;
                if frame.is_empty() {
                    return Err(bad("an empty frame"));
                }
                ScenarioInput::Frame(net, frame)
            }
            (Some(t), Some(_)) if t.starts_with('@') => {
                let target = unescape(&t[1..]).ok_or_else(|| bad("bad %XX escape in a name"))?;
                let dev = stamp
                    .devices
                    .iter()
                    .position(|d| *d == target)
                    .ok_or_else(|| bad(&format!("no device '{target}' in this scenario")))?;
                ScenarioInput::Device(dev, parse_input(&f[2..], &bad)?)
            }
            _ => {
                return Err(bad(
                    "expected '@DEVICE INPUT', '@NETWORK frame HEX' or 'stop' after the time",
                ))
            }
        };
        out.push_back((at, input));
    }
    if !checked {
        // No inputs: the header lines must still say which scenario.
        let (Some((rec_name, fnv)), Some(devices), Some(networks)) = (&name, &devices, &networks)
        else {
            bail!("--replay {p}: no 'scenario', 'devices' and 'networks' lines");
        };
        check_stamp(path, stamp, rec_name, *fnv, devices, networks)?;
    }
    Ok(out)
}

fn check_stamp(
    path: &Path,
    stamp: &ScenarioStamp,
    name: &str,
    fnv: u64,
    devices: &[String],
    networks: &[String],
) -> Result<()> {
    let p = path.display();
    if name != stamp.name || devices != stamp.devices || networks != stamp.networks {
        bail!(
            "--replay {p}: a recording of scenario '{name}' (devices {}; networks {}), not of '{}' (devices {}; networks {})",
            devices.join(", "),
            networks.join(", "),
            stamp.name,
            stamp.devices.join(", "),
            stamp.networks.join(", "),
        );
    }
    if fnv != stamp.fnv {
        bail!(
            "--replay {p}: a recording of another version of scenario '{name}' (its file had fnv1a64={fnv:016x}, this one has fnv1a64={:016x})",
            stamp.fnv
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("ens-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.txt");
        let inputs = vec![
            (5, Recorded::Uart(b"hi\n".to_vec())),
            (
                7,
                Recorded::User(UserInput::Button {
                    index: 1,
                    pressed: true,
                }),
            ),
            (
                9,
                Recorded::User(UserInput::Touch {
                    x: 3,
                    y: 4,
                    pressed: false,
                }),
            ),
            (
                9,
                Recorded::User(UserInput::Sensor {
                    channel: "accel".into(),
                    value: [0.5, -1.0, 9.81],
                }),
            ),
            (12, Recorded::User(UserInput::Close)),
        ];
        let mut r = Recorder::create(&p).unwrap();
        for (t, w) in &inputs {
            r.record(*t, w).unwrap();
        }
        drop(r);
        let back: Vec<_> = load(&p).unwrap().into_iter().collect();
        assert_eq!(back, inputs);
        std::fs::write(&p, "# ensemble input recording v0\n").unwrap();
        assert!(load(&p)
            .unwrap_err()
            .to_string()
            .contains("not the supported"));
        std::fs::write(&p, format!("{HEADER}\n5 uart 6\n")).unwrap();
        assert!(load(&p).unwrap_err().to_string().contains(":2:"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn scenario_round_trip() {
        let dir = std::env::temp_dir().join(format!("ens-srec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.txt");
        let stamp = ScenarioStamp {
            name: "two words".into(),
            fnv: fnv1a64(b"name = 'two words'"),
            devices: vec!["a@b".into(), "c 100%".into()],
            networks: vec!["lan".into()],
            bridged: vec![true],
        };
        let inputs = vec![
            (
                0,
                ScenarioInput::Device(
                    1,
                    Recorded::User(UserInput::Button {
                        index: 2,
                        pressed: true,
                    }),
                ),
            ),
            (10, ScenarioInput::Frame(0, vec![0xff, 0, 0x12])),
            (
                10,
                ScenarioInput::Device(0, Recorded::Uart(b"x\n".to_vec())),
            ),
            (
                20,
                ScenarioInput::Device(
                    0,
                    Recorded::User(UserInput::Sensor {
                        channel: "accel".into(),
                        value: [0.1, -2.5, 9.81],
                    }),
                ),
            ),
            (
                30,
                ScenarioInput::Device(1, Recorded::User(UserInput::Close)),
            ),
            (30, ScenarioInput::Stop),
        ];
        let mut r = ScenarioRecorder::create(&p, &stamp).unwrap();
        for (t, w) in &inputs {
            r.record(*t, w).unwrap();
        }
        drop(r);
        let back: Vec<_> = load_scenario(&p, &stamp).unwrap().into_iter().collect();
        assert_eq!(back, inputs);
        // Another scenario, another version of it, the other format.
        let other = ScenarioStamp {
            devices: vec!["a@b".into(), "d".into()],
            ..stamp.clone()
        };
        let e = load_scenario(&p, &other).unwrap_err().to_string();
        assert!(e.contains("not of 'two words'"), "{e}");
        let edited = ScenarioStamp {
            fnv: 1,
            ..stamp.clone()
        };
        let e = load_scenario(&p, &edited).unwrap_err().to_string();
        assert!(e.contains("another version"), "{e}");
        assert!(load(&p)
            .unwrap_err()
            .to_string()
            .contains("a recording of a scenario"));
        let unbridged = ScenarioStamp {
            bridged: vec![false],
            ..stamp.clone()
        };
        let e = load_scenario(&p, &unbridged).unwrap_err().to_string();
        assert!(e.contains("has no bridge"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
