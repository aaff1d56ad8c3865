//! What devices exchange with the world beyond the guest: video frames a
//! display showed, audio samples a speaker played, and the sources that
//! feed microphones and sensors. Plain data, so that windows, PNG/WAV
//! writers and test expectations all consume the same values.

use std::sync::Arc;

use crate::Ticks;

/// One picture as a display showed it at a vsync: `pixels` holds
/// `width * height` values 0x00RRGGBB, row after row, with the backlight
/// level already applied (what a person looking at the panel sees).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct VideoFrame {
    /// Virtual time of the vsync that showed it.
    pub time: Ticks,
    /// Frames shown by this display before this one.
    pub seq: u64,
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u32>,
}

/// Samples a sound output played, in order and without gaps: signed
/// 16-bit, interleaved when `channels` is 2. `time` is when the first
/// sample frame of the chunk started to play.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AudioChunk {
    pub time: Ticks,
    pub rate: u32,
    pub channels: u16,
    pub samples: Vec<i16>,
}

/// What a sound input (a microphone) hears.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default)]
pub enum AudioSource {
    #[default]
    Silence,
    /// A sine of `hz` at `amplitude` (0..=32767 peak), same on every channel.
    Tone { hz: f64, amplitude: f64 },
    /// Recorded samples (a WAV file), interleaved with `channels` channels
    /// at `rate`; read at the capturing device's own rate by taking the
    /// nearest earlier sample, and repeated when `looped`.
    Samples {
        rate: u32,
        channels: u16,
        data: Arc<Vec<i16>>,
        looped: bool,
    },
}

impl AudioSource {
    /// The sample heard on `channel` at time `t` seconds since capture
    /// started. Deterministic: a pure function of its arguments.
    pub fn sample_at(&self, t: f64, channel: u16) -> i16 {
        match self {
            AudioSource::Silence => 0,
            AudioSource::Tone { hz, amplitude } => {
                let v = (2.0 * std::f64::consts::PI * hz * t).sin() * amplitude;
                v.round().clamp(-32768.0, 32767.0) as i16
            }
            AudioSource::Samples {
                rate,
                channels,
                data,
                looped,
            } => {
                let chans = (*channels).max(1) as usize;
                let frames = data.len() / chans;
                if frames == 0 {
                    return 0;
                }
                let mut i = (t * *rate as f64).floor().max(0.0) as usize;
                if i >= frames {
                    if !looped {
                        return 0;
                    }
                    i %= frames;
                }
                data[i * chans + (channel as usize).min(chans - 1)]
            }
        }
    }
}

/// Where a sensor channel's readings come from. Values are in the
/// channel's SI unit (see [`crate::sensors`]), up to three axes.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub enum SensorSource {
    Constant([f64; 3]),
    /// `offset + amplitude * wave(t / period_s)` per axis.
    Waveform {
        shape: WaveShape,
        offset: [f64; 3],
        amplitude: [f64; 3],
        period_s: f64,
    },
    /// `start + per_second * t`, per axis (a step counter, a slow drift).
    Ramp {
        start: [f64; 3],
        per_second: [f64; 3],
    },
    /// Samples at virtual times in seconds, ascending; linear interpolation
    /// between them, the first and last values held outside.
    Trace(Arc<Vec<(f64, [f64; 3])>>),
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaveShape {
    Sine,
    Triangle,
    Square,
}

impl SensorSource {
    /// The reading at `t` seconds of virtual time. A pure function.
    pub fn value_at(&self, t: f64) -> [f64; 3] {
        match self {
            SensorSource::Constant(v) => *v,
            SensorSource::Waveform {
                shape,
                offset,
                amplitude,
                period_s,
            } => {
                let phase = if *period_s > 0.0 {
                    (t / period_s).rem_euclid(1.0)
                } else {
                    0.0
                };
                let w = match shape {
                    WaveShape::Sine => (2.0 * std::f64::consts::PI * phase).sin(),
                    WaveShape::Triangle => {
                        if phase < 0.25 {
                            4.0 * phase
                        } else if phase < 0.75 {
                            2.0 - 4.0 * phase
                        } else {
                            4.0 * phase - 4.0
                        }
                    }
                    WaveShape::Square => {
                        if phase < 0.5 {
                            1.0
                        } else {
                            -1.0
                        }
                    }
                };
                std::array::from_fn(|i| offset[i] + amplitude[i] * w)
            }
            SensorSource::Ramp { start, per_second } => {
                std::array::from_fn(|i| start[i] + per_second[i] * t)
            }
            SensorSource::Trace(points) => {
                let Some(first) = points.first() else {
                    return [0.0; 3];
                };
                if t <= first.0 {
                    return first.1;
                }
                let i = points.partition_point(|(pt, _)| *pt <= t);
                if i >= points.len() {
                    return points[points.len() - 1].1;
                }
                let (t0, a) = points[i - 1];
                let (t1, b) = points[i];
                let f = if t1 > t0 { (t - t0) / (t1 - t0) } else { 1.0 };
                std::array::from_fn(|k| a[k] + (b[k] - a[k]) * f)
            }
        }
    }

    /// Parse a CSV trace: one sample per line, `time_s,v1[,v2,v3]`, times
    /// in seconds of virtual time, ascending. A first line that is not
    /// numbers is taken as a header; `#` starts a comment. Errors name the
    /// line.
    pub fn parse_csv(text: &str) -> Result<SensorSource, String> {
        let mut points: Vec<(f64, [f64; 3])> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let nums: Result<Vec<f64>, _> = fields.iter().map(|f| f.parse::<f64>()).collect();
            let nums = match nums {
                Ok(v) => v,
                Err(_) if points.is_empty() && n == first_content_line(text) => continue,
                Err(_) => return Err(format!("line {}: expected numbers: '{raw}'", n + 1)),
            };
            if nums.len() < 2 || nums.len() > 4 {
                return Err(format!(
                    "line {}: expected time,value[,value,value], got {} fields",
                    n + 1,
                    nums.len()
                ));
            }
            if nums.iter().any(|v| !v.is_finite()) {
                return Err(format!("line {}: values must be finite numbers", n + 1));
            }
            if let Some(last) = points.last() {
                if nums[0] < last.0 {
                    return Err(format!("line {}: time goes backwards", n + 1));
                }
            }
            let mut v = [0.0; 3];
            for (k, x) in nums[1..].iter().enumerate() {
                v[k] = *x;
            }
            points.push((nums[0], v));
        }
        if points.is_empty() {
            return Err("no samples in trace".into());
        }
        Ok(SensorSource::Trace(Arc::new(points)))
    }
}

fn first_content_line(text: &str) -> usize {
    text.lines()
        .position(|l| !l.split('#').next().unwrap_or("").trim().is_empty())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_interpolates_and_holds_ends() {
        let s = SensorSource::parse_csv("time,temp\n0,20\n10,30\n# end\n20,30\n").unwrap();
        assert_eq!(s.value_at(-1.0)[0], 20.0);
        assert_eq!(s.value_at(5.0)[0], 25.0);
        assert_eq!(s.value_at(100.0)[0], 30.0);
    }

    #[test]
    fn trace_errors_name_the_line() {
        assert!(SensorSource::parse_csv("0,1\n1,x\n")
            .unwrap_err()
            .starts_with("line 2"));
        assert!(SensorSource::parse_csv("1,1\n0,1\n")
            .unwrap_err()
            .contains("backwards"));
        assert!(SensorSource::parse_csv("time\n").is_err());
    }

    #[test]
    fn waveforms() {
        let s = SensorSource::Waveform {
            shape: WaveShape::Triangle,
            offset: [1.0; 3],
            amplitude: [2.0; 3],
            period_s: 4.0,
        };
        assert_eq!(s.value_at(1.0)[0], 3.0);
        assert_eq!(s.value_at(3.0)[0], -1.0);
        let r = SensorSource::Ramp {
            start: [0.0; 3],
            per_second: [2.0, 0.0, 0.0],
        };
        assert_eq!(r.value_at(1.5)[0], 3.0);
    }

    #[test]
    fn audio_sources() {
        let t = AudioSource::Tone {
            hz: 1.0,
            amplitude: 1000.0,
        };
        assert_eq!(t.sample_at(0.25, 0), 1000);
        let s = AudioSource::Samples {
            rate: 2,
            channels: 2,
            data: Arc::new(vec![1, 2, 3, 4]),
            looped: true,
        };
        assert_eq!(s.sample_at(0.6, 1), 4);
        assert_eq!(s.sample_at(1.1, 0), 1);
    }
}
