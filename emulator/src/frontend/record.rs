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

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use ensemble_devices::Ticks;

use super::UserInput;

pub const HEADER: &str = "# ensemble input recording v1";

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
        Recorded::Uart(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("uart {hex}")
        }
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
        let what = match f.get(1).copied() {
            Some("uart") => {
                let hex = f.get(2).copied().unwrap_or("");
                if hex.len() % 2 != 0 {
                    return Err(bad("odd number of hex digits"));
                }
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|_| bad("bad hex"))?;
                Recorded::Uart(bytes)
            }
            Some("button") => Recorded::User(UserInput::Button {
                index: num(2)?,
                pressed: pressed(3)?,
            }),
            Some("touch") => Recorded::User(UserInput::Touch {
                x: num(2)?,
                y: num(3)?,
                pressed: pressed(4)?,
            }),
            Some("sensor") => {
                let channel = f
                    .get(2)
                    .ok_or_else(|| bad("expected a channel"))?
                    .to_string();
                let mut value = [0.0; 3];
                for (k, v) in value.iter_mut().enumerate() {
                    *v = f
                        .get(3 + k)
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| bad("expected three values"))?;
                }
                Recorded::User(UserInput::Sensor { channel, value })
            }
            Some("close") => Recorded::User(UserInput::Close),
            _ => return Err(bad("unknown input")),
        };
        out.push_back((at, what));
    }
    Ok(out)
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
}
