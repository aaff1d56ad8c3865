//! Headless sinks and sources: screens to PNG, sound to WAV, sensor
//! readings and microphone input from files, and the measurements tests
//! make on them (tone frequency, RMS level, screen comparison).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use ensemble_devices::{AudioChunk, AudioSource, SensorSource, VideoFrame, WaveShape};

/// Write a frame as an 8-bit RGB PNG.
pub fn write_png(path: &Path, frame: &VideoFrame) -> Result<()> {
    let file = File::create(path).with_context(|| format!("{}", path.display()))?;
    let mut enc = png::Encoder::new(BufWriter::new(file), frame.width, frame.height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc
        .write_header()
        .with_context(|| format!("{}", path.display()))?;
    let mut rgb = Vec::with_capacity(frame.pixels.len() * 3);
    for p in &frame.pixels {
        rgb.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, *p as u8]);
    }
    w.write_image_data(&rgb)
        .with_context(|| format!("{}", path.display()))?;
    w.finish().with_context(|| format!("{}", path.display()))?;
    Ok(())
}

/// Read a PNG (RGB or RGBA, 8-bit; grey and palette images expanded) as
/// 0x00RRGGBB pixels.
pub fn read_png(path: &Path) -> Result<VideoFrame> {
    let file = File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .with_context(|| format!("{}: not a PNG", path.display()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| anyhow!("{}: image too large", path.display()))?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .with_context(|| format!("{}: not a PNG", path.display()))?;
    let bpp = info.color_type.samples();
    let data = &buf[..info.buffer_size()];
    let mut pixels = Vec::with_capacity((info.width * info.height) as usize);
    for y in 0..info.height as usize {
        let row = &data[y * info.line_size..];
        for x in 0..info.width as usize {
            let px = &row[x * bpp..x * bpp + bpp];
            let (r, g, b) = if bpp >= 3 {
                (px[0], px[1], px[2])
            } else {
                (px[0], px[0], px[0])
            };
            pixels.push((r as u32) << 16 | (g as u32) << 8 | b as u32);
        }
    }
    Ok(VideoFrame {
        time: 0,
        seq: 0,
        width: info.width,
        height: info.height,
        pixels,
    })
}

/// A rectangle of a screen: x, y, width, height.
pub type Region = (u32, u32, u32, u32);

/// How two screens differ within `region` (all of it when `None`): the
/// number of pixels whose largest channel difference exceeds `tolerance`
/// (0..255). Errors when the sizes differ or the region does not fit.
pub fn compare_screens(
    actual: &VideoFrame,
    expected: &VideoFrame,
    region: Option<Region>,
    tolerance: u8,
) -> Result<usize> {
    if (actual.width, actual.height) != (expected.width, expected.height) {
        bail!(
            "screen is {}x{}, reference is {}x{}",
            actual.width,
            actual.height,
            expected.width,
            expected.height
        );
    }
    let (x0, y0, w, h) = region.unwrap_or((0, 0, actual.width, actual.height));
    if x0 + w > actual.width || y0 + h > actual.height {
        bail!(
            "region {x0},{y0} {w}x{h} is outside the {}x{} screen",
            actual.width,
            actual.height
        );
    }
    let mut differing = 0;
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let i = (y * actual.width + x) as usize;
            let (a, b) = (actual.pixels[i], expected.pixels[i]);
            let d = (0..3)
                .map(|k| ((a >> (8 * k)) as u8).abs_diff((b >> (8 * k)) as u8))
                .max()
                .unwrap_or(0);
            if d > tolerance {
                differing += 1;
            }
        }
    }
    Ok(differing)
}

/// Writes what a sound output played to a WAV file: 16-bit PCM at the
/// guest's own rate and channel count (taken from the first chunk), every
/// sample exactly as played, silence of underruns included.
pub struct WavSink {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    format: Option<(u32, u16)>,
    warned: bool,
}

impl WavSink {
    /// Checks at once that the file can be created.
    pub fn create(path: &Path) -> Result<WavSink> {
        File::create(path).with_context(|| format!("--audio-out {}", path.display()))?;
        Ok(WavSink {
            path: path.to_path_buf(),
            writer: None,
            format: None,
            warned: false,
        })
    }

    pub fn push(&mut self, chunk: &AudioChunk) -> Result<()> {
        if self.writer.is_none() {
            self.open(chunk.rate, chunk.channels)?;
        }
        let (rate, channels) = self.format.expect("set by open");
        if (chunk.rate, chunk.channels) != (rate, channels) && !self.warned {
            self.warned = true;
            eprintln!(
                "warning: {}: the guest changed audio format to {} Hz x{} (file is {} Hz x{}); later samples are converted",
                self.path.display(),
                chunk.rate,
                chunk.channels,
                rate,
                channels
            );
        }
        let w = self.writer.as_mut().expect("opened above");
        for s in convert(chunk, rate, channels) {
            w.write_sample(s)
                .with_context(|| format!("{}", self.path.display()))?;
        }
        Ok(())
    }

    fn open(&mut self, rate: u32, channels: u16) -> Result<()> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        self.writer = Some(
            hound::WavWriter::create(&self.path, spec)
                .with_context(|| format!("{}", self.path.display()))?,
        );
        self.format = Some((rate, channels));
        Ok(())
    }

    /// Finish the file (an empty 48 kHz mono WAV when nothing played).
    pub fn finish(mut self) -> Result<()> {
        if self.writer.is_none() {
            self.open(48_000, 1)?;
        }
        self.writer
            .take()
            .expect("opened")
            .finalize()
            .with_context(|| format!("{}", self.path.display()))
    }
}

/// A chunk's samples at another rate and channel count: channels mixed
/// down or duplicated, rate by nearest earlier sample. Identity when the
/// formats agree.
fn convert(chunk: &AudioChunk, rate: u32, channels: u16) -> Vec<i16> {
    let cin = chunk.channels.max(1) as usize;
    let frames = chunk.samples.len() / cin;
    if (chunk.rate, chunk.channels) == (rate, channels) {
        return chunk.samples.clone();
    }
    let out_frames = (frames as u64 * rate as u64 / chunk.rate.max(1) as u64) as usize;
    let mut out = Vec::with_capacity(out_frames * channels as usize);
    for i in 0..out_frames {
        let src = (i as u64 * chunk.rate as u64 / rate as u64) as usize;
        let f = &chunk.samples[src * cin..src * cin + cin];
        for c in 0..channels as usize {
            out.push(if cin == channels as usize {
                f[c]
            } else if cin == 1 {
                f[0]
            } else {
                ((f[0] as i32 + f[1] as i32) / 2) as i16
            });
        }
    }
    out
}

/// Read a WAV file (16-bit PCM, or 8/24/32-bit integer or float, scaled to
/// 16 bits) as a microphone source.
pub fn read_wav(path: &Path, looped: bool) -> Result<AudioSource> {
    let mut r = hound::WavReader::open(path).with_context(|| format!("{}", path.display()))?;
    let spec = r.spec();
    let data: Vec<i16> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let shift = spec.bits_per_sample as i32 - 16;
            r.samples::<i32>()
                .map(|s| {
                    s.map(|v| {
                        if shift >= 0 {
                            (v >> shift) as i16
                        } else {
                            (v << -shift) as i16
                        }
                    })
                })
                .collect::<Result<_, _>>()
        }
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .map(|s| s.map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16))
            .collect::<Result<_, _>>(),
    }
    .with_context(|| format!("{}", path.display()))?;
    Ok(AudioSource::Samples {
        rate: spec.sample_rate,
        channels: spec.channels,
        data: Arc::new(data),
        looped,
    })
}

/// A microphone source written on the command line: `FILE.wav` (played
/// once; `loop:FILE.wav` repeats it) or `tone:HZ[:AMPLITUDE]`.
pub fn parse_audio_source(spec: &str) -> Result<AudioSource> {
    if let Some(rest) = spec.strip_prefix("tone:") {
        let mut parts = rest.split(':');
        let hz: f64 = parts
            .next()
            .and_then(|s| s.trim_end_matches("Hz").parse().ok())
            .filter(|h: &f64| *h > 0.0 && *h < 100_000.0)
            .ok_or_else(|| anyhow!("'{spec}': expected tone:HZ[:AMPLITUDE]"))?;
        let amplitude = match parts.next() {
            None => 16_000.0,
            Some(a) => a
                .parse::<f64>()
                .ok()
                .filter(|a| (0.0..=32767.0).contains(a))
                .ok_or_else(|| anyhow!("'{spec}': amplitude must be 0..32767"))?,
        };
        return Ok(AudioSource::Tone { hz, amplitude });
    }
    match spec.strip_prefix("loop:") {
        Some(f) => read_wav(Path::new(f), true),
        None => read_wav(Path::new(spec), false),
    }
}

/// A sensor source written in a command line or a scenario, in the
/// channel's SI unit:
/// - `FILE.csv`: a trace `time_s,value[,value,value]` in virtual time;
/// - `V` or `X,Y,Z`: a constant;
/// - `sine:OFFSET:AMPLITUDE:PERIOD_S` (also `triangle:`, `square:`), where
///   OFFSET and AMPLITUDE are `V` or `X,Y,Z`;
/// - `ramp:START:PER_SECOND`.
///
/// Relative file names are taken from `base`.
pub fn parse_sensor_source(spec: &str, base: &Path) -> Result<SensorSource> {
    let axes = |s: &str| -> Result<[f64; 3]> {
        let v: Vec<f64> = s
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| anyhow!("'{s}': expected a number or X,Y,Z"))?;
        match v.as_slice() {
            [a] => Ok([*a, 0.0, 0.0]),
            [a, b, c] => Ok([*a, *b, *c]),
            _ => bail!("'{s}': expected one value or three (X,Y,Z)"),
        }
    };
    let lower = spec.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        let path = base.join(spec);
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        return SensorSource::parse_csv(&text).map_err(|e| anyhow!("{}: {e}", path.display()));
    }
    let parts: Vec<&str> = spec.split(':').collect();
    let shape = match parts[0] {
        "sine" => Some(WaveShape::Sine),
        "triangle" => Some(WaveShape::Triangle),
        "square" => Some(WaveShape::Square),
        _ => None,
    };
    if let Some(shape) = shape {
        if parts.len() != 4 {
            bail!("'{spec}': expected {}:OFFSET:AMPLITUDE:PERIOD_S", parts[0]);
        }
        let period_s: f64 = parts[3]
            .trim_end_matches('s')
            .parse()
            .ok()
            .filter(|p: &f64| *p > 0.0)
            .ok_or_else(|| anyhow!("'{spec}': the period must be a positive number of seconds"))?;
        return Ok(SensorSource::Waveform {
            shape,
            offset: axes(parts[1])?,
            amplitude: axes(parts[2])?,
            period_s,
        });
    }
    if parts[0] == "ramp" {
        if parts.len() != 3 {
            bail!("'{spec}': expected ramp:START:PER_SECOND");
        }
        return Ok(SensorSource::Ramp {
            start: axes(parts[1])?,
            per_second: axes(parts[2])?,
        });
    }
    if parts.len() == 1 {
        return Ok(SensorSource::Constant(axes(spec)?));
    }
    bail!("'{spec}': expected FILE.csv, a value, X,Y,Z, sine:/triangle:/square:OFFSET:AMPLITUDE:PERIOD or ramp:START:PER_SECOND")
}

/// The frequency of the dominant tone in mono `samples` at `rate`, from
/// the time between the first and last rising zero crossings (linearly
/// interpolated): exact to a small fraction of a hertz for a steady tone
/// over a few hundred milliseconds. `None` with fewer than two crossings.
pub fn tone_frequency(samples: &[i16], rate: u32) -> Option<f64> {
    let mut first = None;
    let mut last = None;
    let mut count = 0u64;
    for i in 1..samples.len() {
        let (a, b) = (samples[i - 1] as f64, samples[i] as f64);
        if a < 0.0 && b >= 0.0 {
            let t = (i - 1) as f64 + (-a) / (b - a);
            if first.is_none() {
                first = Some(t);
            }
            last = Some(t);
            count += 1;
        }
    }
    match (first, last) {
        (Some(f), Some(l)) if count >= 2 && l > f => {
            Some((count - 1) as f64 * rate as f64 / (l - f))
        }
        _ => None,
    }
}

/// Root-mean-square level of `samples`, in sample units (0..32768).
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// Channel `channel` of interleaved samples.
pub fn channel_of(samples: &[i16], channels: u16, channel: u16) -> Vec<i16> {
    samples
        .iter()
        .skip(channel as usize)
        .step_by(channels.max(1) as usize)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip() {
        let dir = std::env::temp_dir().join(format!("ens-png-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = VideoFrame {
            time: 0,
            seq: 0,
            width: 3,
            height: 2,
            pixels: vec![0xff0000, 0x00ff00, 0x0000ff, 0x123456, 0, 0xffffff],
        };
        let p = dir.join("a.png");
        write_png(&p, &f).unwrap();
        let g = read_png(&p).unwrap();
        assert_eq!(g.pixels, f.pixels);
        assert_eq!(compare_screens(&f, &g, None, 0).unwrap(), 0);
        let mut h = g.clone();
        h.pixels[4] = 0x000003;
        assert_eq!(compare_screens(&f, &h, None, 0).unwrap(), 1);
        assert_eq!(compare_screens(&f, &h, None, 3).unwrap(), 0);
        assert_eq!(compare_screens(&f, &h, Some((0, 0, 1, 2)), 0).unwrap(), 0);
        assert!(compare_screens(&f, &h, Some((2, 0, 2, 2)), 0).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tone_and_level() {
        let rate = 48_000;
        let s: Vec<i16> = (0..rate)
            .map(|i| {
                ((i as f64 * 2.0 * std::f64::consts::PI * 440.0 / rate as f64).sin() * 10_000.0)
                    as i16
            })
            .collect();
        let f = tone_frequency(&s, rate).unwrap();
        assert!((f - 440.0).abs() < 0.05, "{f}");
        assert!((rms(&s) - 10_000.0 / 2f64.sqrt()).abs() < 20.0);
        assert_eq!(tone_frequency(&[0, 0, 0], rate), None);
    }

    #[test]
    fn sensor_specs() {
        let base = Path::new(".");
        assert_eq!(
            parse_sensor_source("21.5", base).unwrap(),
            SensorSource::Constant([21.5, 0.0, 0.0])
        );
        assert_eq!(
            parse_sensor_source("0,0,9.81", base).unwrap(),
            SensorSource::Constant([0.0, 0.0, 9.81])
        );
        assert!(matches!(
            parse_sensor_source("sine:70:5:10s", base).unwrap(),
            SensorSource::Waveform { period_s, .. } if period_s == 10.0
        ));
        assert!(parse_sensor_source("sine:70:5", base).is_err());
        assert!(parse_sensor_source("1,2", base).is_err());
        assert!(parse_sensor_source("missing.csv", base).is_err());
    }

    #[test]
    fn wav_conversion() {
        let c = AudioChunk {
            time: 0,
            rate: 8000,
            channels: 2,
            samples: vec![10, 20, 30, 50],
        };
        assert_eq!(convert(&c, 8000, 1), vec![15, 40]);
        assert_eq!(convert(&c, 16000, 2), vec![10, 20, 10, 20, 30, 50, 30, 50]);
    }
}
