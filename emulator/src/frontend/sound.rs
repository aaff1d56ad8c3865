//! Sound to the speakers: the audio chunks of several devices, mixed and
//! resampled (linearly) to the host's output format, through a bounded
//! buffer per device that the audio callback drains.
//!
//! The emulation thread only ever appends to the buffers: when it runs
//! ahead of real time the oldest samples are dropped, when it falls behind
//! the callback plays silence. It never waits for the sound card.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use ensemble_devices::AudioChunk;

/// Most audio kept per source before the oldest is dropped.
const BUFFER_SECONDS: f64 = 0.25;
/// Audio a source must have queued before it starts (again) to play, so a
/// source fed in bursts does not crackle.
const PREBUFFER_SECONDS: f64 = 0.04;

/// The host's default sound output, playing what [`SoundOutput::push`]
/// is given.
pub struct SoundOutput {
    mixer: Arc<Mutex<Mixer>>,
    rate: u32,
    channels: u16,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SoundOutput {
    /// Opens the default output device in its default configuration. On
    /// failure prints one line to stderr and returns `None`: the caller
    /// goes on without sound.
    pub fn open() -> Option<SoundOutput> {
        // The stream lives on its own thread (cpal streams need not be
        // Send everywhere); it reports the format, then waits for close.
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ensemble-sound".into())
            .spawn(move || {
                let opened = {
                    let _quiet = QuietStderr::new();
                    start_stream()
                };
                match opened {
                    Ok((stream, mixer, rate, channels)) => {
                        let _ = ready_tx.send(Ok((mixer, rate, channels)));
                        // Until close() or the SoundOutput is dropped.
                        let _ = stop_rx.recv();
                        drop(stream);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                no_sound(&format!("cannot start the sound thread: {e}"));
                return None;
            }
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok((mixer, rate, channels))) => Some(SoundOutput {
                mixer,
                rate,
                channels,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(reason)) => {
                let _ = thread.join();
                no_sound(&reason);
                None
            }
            Err(_) => {
                // Leave the thread to finish on its own.
                no_sound("the sound device did not answer");
                None
            }
        }
    }

    /// The host's output sample rate (frames per second).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The host's output channel count.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Queues `chunk` from sound source `source` (any number naming a
    /// device; each is buffered and resampled separately, then mixed).
    /// Never blocks for long: it only appends to a bounded buffer.
    pub fn push(&self, source: usize, chunk: &AudioChunk) {
        self.mixer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(source, chunk);
    }

    /// Stops playing and releases the device.
    pub fn close(self) {}
}

impl Drop for SoundOutput {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn no_sound(reason: &str) {
    eprintln!("note: no sound device ({reason}); continuing without sound");
}

type Opened = (cpal::Stream, Arc<Mutex<Mixer>>, u32, u16);

fn start_stream() -> Result<Opened, String> {
    let host = cpal::default_host();
    let device = host
        .default_output_device()
        .ok_or_else(|| "no default output device".to_string())?;
    let supported = device.default_output_config().map_err(|e| e.to_string())?;
    let format = supported.sample_format();
    let config: cpal::StreamConfig = supported.config();
    let rate = config.sample_rate;
    let channels = config.channels;
    if rate == 0 || channels == 0 {
        return Err(format!("unusable output format {rate} Hz x {channels}"));
    }
    let mixer = Arc::new(Mutex::new(Mixer::new(rate, channels)));
    let stream = match format {
        SampleFormat::F32 => build::<f32>(&device, config, &mixer),
        SampleFormat::F64 => build::<f64>(&device, config, &mixer),
        SampleFormat::I16 => build::<i16>(&device, config, &mixer),
        SampleFormat::I32 => build::<i32>(&device, config, &mixer),
        SampleFormat::I8 => build::<i8>(&device, config, &mixer),
        SampleFormat::U16 => build::<u16>(&device, config, &mixer),
        SampleFormat::U8 => build::<u8>(&device, config, &mixer),
        SampleFormat::U32 => build::<u32>(&device, config, &mixer),
        other => return Err(format!("unsupported sample format {other}")),
    }?;
    stream.play().map_err(|e| e.to_string())?;
    Ok((stream, mixer, rate, channels))
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mixer: &Arc<Mutex<Mixer>>,
) -> Result<cpal::Stream, String>
where
    T: SizedSample + FromSample<f32>,
{
    let mixer = mixer.clone();
    device
        .build_output_stream(
            config,
            move |out: &mut [T], _: &cpal::OutputCallbackInfo| {
                mixer.lock().unwrap_or_else(|e| e.into_inner()).fill(out);
            },
            // Under- and overruns of the device itself: nothing to do but
            // go on.
            |_err| {},
            None,
        )
        .map_err(|e| e.to_string())
}

/// Sends stderr to /dev/null while alive: ALSA writes its diagnostics
/// there when probing a machine without a sound card. Brief, but process
/// wide: other threads' messages in that moment are lost too.
struct QuietStderr {
    #[cfg(unix)]
    saved: libc::c_int,
}

impl QuietStderr {
    #[cfg(unix)]
    fn new() -> Option<QuietStderr> {
        // SAFETY: plain descriptor calls; every descriptor opened here is
        // closed, and fd 2 is restored in Drop.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if null < 0 {
                return None;
            }
            let saved = libc::dup(2);
            if saved < 0 {
                libc::close(null);
                return None;
            }
            libc::dup2(null, 2);
            libc::close(null);
            Some(QuietStderr { saved })
        }
    }

    #[cfg(not(unix))]
    fn new() -> Option<QuietStderr> {
        None
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: `saved` is a descriptor this guard owns.
        unsafe {
            libc::dup2(self.saved, 2);
            libc::close(self.saved);
        }
    }
}

/// Mixes sources of any rate and channel count into one output format.
pub(crate) struct Mixer {
    rate: u32,
    channels: usize,
    /// Per-source limit, in output frames.
    capacity: usize,
    prebuffer: usize,
    sources: BTreeMap<usize, Source>,
    scratch: Vec<f32>,
}

struct Source {
    /// Output samples (interleaved at the output's channel count).
    queue: VecDeque<f32>,
    in_rate: u32,
    in_channels: usize,
    /// The last input frame, mapped to the output channels.
    prev: Vec<f32>,
    cur: Vec<f32>,
    /// Position of the next output frame between `prev` (0) and the next
    /// input frame (the output rate): exact, so rates never drift.
    pos: u64,
    playing: bool,
}

impl Mixer {
    pub(crate) fn new(rate: u32, channels: u16) -> Mixer {
        let rate = rate.max(1);
        Mixer {
            rate,
            channels: channels.max(1) as usize,
            capacity: ((rate as f64 * BUFFER_SECONDS) as usize).max(1),
            prebuffer: (rate as f64 * PREBUFFER_SECONDS) as usize,
            sources: BTreeMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Resamples `chunk` to the output format onto `source`'s queue,
    /// dropping the oldest output frames beyond the capacity.
    pub(crate) fn push(&mut self, source: usize, chunk: &AudioChunk) {
        let in_channels = chunk.channels as usize;
        if chunk.rate == 0 || in_channels == 0 {
            return;
        }
        let out_channels = self.channels;
        let src = self.sources.entry(source).or_insert_with(|| Source {
            queue: VecDeque::new(),
            in_rate: chunk.rate,
            in_channels,
            prev: vec![0.0; out_channels],
            cur: vec![0.0; out_channels],
            pos: 0,
            playing: false,
        });
        if src.in_rate != chunk.rate || src.in_channels != in_channels {
            // A new format: start interpolating afresh (from the last
            // sample heard, so there is no click).
            src.in_rate = chunk.rate;
            src.in_channels = in_channels;
            src.pos = 0;
        }
        let (step, one) = (chunk.rate as u64, self.rate as u64);
        for frame in chunk.samples.chunks_exact(in_channels) {
            map_channels(frame, &mut src.cur);
            while src.pos < one {
                let t = (src.pos as f64 / one as f64) as f32;
                for (p, c) in src.prev.iter().zip(src.cur.iter()) {
                    src.queue.push_back(p + (c - p) * t);
                }
                src.pos += step;
            }
            src.pos -= one;
            std::mem::swap(&mut src.prev, &mut src.cur);
        }
        let limit = self.capacity * out_channels;
        if src.queue.len() > limit {
            let excess = src.queue.len() - limit;
            src.queue.drain(..excess);
        }
    }

    /// Output frames queued for `source`.
    #[cfg(test)]
    fn queued(&self, source: usize) -> usize {
        self.sources
            .get(&source)
            .map_or(0, |s| s.queue.len() / self.channels)
    }

    /// Fills `out` (interleaved, the output's channel count) with the sum
    /// of all sources; silence where a source has nothing queued.
    pub(crate) fn fill<T: FromSample<f32>>(&mut self, out: &mut [T]) {
        let ch = self.channels;
        let frames = out.len() / ch;
        self.scratch.clear();
        self.scratch.resize(out.len(), 0.0);
        for src in self.sources.values_mut() {
            let available = src.queue.len() / ch;
            if !src.playing && available >= self.prebuffer.min(frames.max(1)).max(1) {
                src.playing = true;
            }
            if !src.playing {
                continue;
            }
            let n = available.min(frames) * ch;
            for (acc, v) in self.scratch.iter_mut().zip(src.queue.drain(..n)) {
                *acc += v;
            }
            if available < frames {
                // Ran dry: wait for a new prebuffer before playing again.
                src.playing = false;
            }
        }
        for (o, v) in out.iter_mut().zip(self.scratch.iter()) {
            *o = T::from_sample_(v.clamp(-1.0, 1.0));
        }
    }
}

/// One input frame (i16 samples) as output channels in -1..1: mono goes to
/// every channel, several go to a mono output averaged, otherwise channel
/// by channel (missing ones silent).
fn map_channels(frame: &[i16], out: &mut [f32]) {
    let scale = 1.0 / 32768.0;
    if frame.len() == 1 {
        out.fill(frame[0] as f32 * scale);
    } else if out.len() == 1 {
        let sum: f32 = frame.iter().map(|&s| s as f32).sum();
        out[0] = sum * scale / frame.len() as f32;
    } else {
        for (i, o) in out.iter_mut().enumerate() {
            *o = frame.get(i).map_or(0.0, |&s| s as f32 * scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(rate: u32, channels: u16, samples: Vec<i16>) -> AudioChunk {
        AudioChunk {
            time: 0,
            rate,
            channels,
            samples,
        }
    }

    #[test]
    fn resamples_linearly_between_rates() {
        // A ramp at 1 kHz, played at 4 kHz: three points between each pair.
        let mut m = Mixer::new(4000, 1);
        let ramp: Vec<i16> = (0..100).map(|i| i * 100).collect();
        m.push(0, &chunk(1000, 1, ramp));
        assert_eq!(m.queued(0), 400);
        let mut out = vec![0f32; 400];
        m.fill(&mut out);
        // The first input frame is reached from silence, then the ramp
        // rises by 100/4 per output frame.
        for (k, v) in out.iter().enumerate().skip(4) {
            let want = (k as f32 - 4.0) * 25.0 / 32768.0;
            assert!((v - want).abs() < 1e-6, "frame {k}: {v} vs {want}");
        }
        // Downsampling by 3 keeps every third input sample.
        let mut m = Mixer::new(16000, 1);
        let samples: Vec<i16> = (0..300).map(|i| (i * 10) as i16).collect();
        m.push(0, &chunk(48000, 1, samples));
        assert_eq!(m.queued(0), 100);
        let mut out = vec![0f32; 100];
        m.fill(&mut out);
        assert!(
            (out[10] * 32768.0 - 290.0).abs() < 1e-3,
            "{}",
            out[10] * 32768.0
        );
    }

    #[test]
    fn maps_channels_and_mixes_sources() {
        // Mono at 8 kHz to stereo at 48 kHz: six output frames per input.
        let mut m = Mixer::new(48000, 2);
        m.push(3, &chunk(8000, 1, vec![8192; 800]));
        assert_eq!(m.queued(3), 4800);
        // Stereo at 48 kHz from another device.
        let pairs: Vec<i16> = (0..4800).flat_map(|_| [4096, -4096]).collect();
        m.push(7, &chunk(48000, 2, pairs));
        let mut out = vec![0f32; 2 * 4800];
        m.fill(&mut out);
        let (l, r) = (out[2 * 100], out[2 * 100 + 1]);
        assert!(
            (l - 0.375).abs() < 1e-6 && (r - 0.125).abs() < 1e-6,
            "{l} {r}"
        );
        // Stereo into a mono output: averaged.
        let mut m = Mixer::new(100, 1);
        m.push(0, &chunk(100, 2, vec![1000, 3000, 1000, 3000, 1000, 3000]));
        let mut out = [0i16; 3];
        m.fill(&mut out);
        assert_eq!(&out[1..], &[2000, 2000]);
    }

    #[test]
    fn bounded_on_overrun_silent_on_underrun() {
        let mut m = Mixer::new(48000, 2);
        // Two seconds pushed at once: only the newest quarter second stays.
        let mut samples = vec![100i16; 2 * 48000 * 2];
        let n = samples.len();
        // (Output lags input by one frame: the last two are the newest heard.)
        samples[n - 4..].copy_from_slice(&[16384; 4]);
        m.push(0, &chunk(48000, 2, samples));
        assert_eq!(m.queued(0), 12000);
        let mut out = vec![1f32; 2 * 13000];
        m.fill(&mut out);
        assert!((out[2 * 11999] - 0.5).abs() < 1e-6, "the newest were kept");
        assert!(out[2 * 12000..].iter().all(|v| *v == 0.0), "then silence");
        // Nothing at all queued: silence, and the mix clamps.
        let mut out = vec![1f32; 64];
        m.fill(&mut out);
        assert!(out.iter().all(|v| *v == 0.0));
        let mut m = Mixer::new(1000, 1);
        m.push(0, &chunk(1000, 1, vec![30000; 100]));
        m.push(1, &chunk(1000, 1, vec![30000; 100]));
        let mut out = vec![0f32; 100];
        m.fill(&mut out);
        assert_eq!(out[50], 1.0);
    }

    #[test]
    fn open_plays_or_declines_in_one_line() {
        // Without a sound card this prints the one "note: no sound device"
        // line; with one it plays a moment of silence.
        if let Some(out) = SoundOutput::open() {
            assert!(out.rate() > 0 && out.channels() > 0);
            out.push(0, &chunk(8000, 1, vec![0; 800]));
            std::thread::sleep(Duration::from_millis(50));
            out.close();
        }
    }

    #[test]
    fn waits_for_a_prebuffer_before_playing() {
        let mut m = Mixer::new(1000, 1);
        // 40 ms prebuffer = 40 frames; 10 queued do not start playback.
        m.push(0, &chunk(1000, 1, vec![1000; 10]));
        let mut out = vec![0f32; 100];
        m.fill(&mut out);
        assert!(out.iter().all(|v| *v == 0.0));
        m.push(0, &chunk(1000, 1, vec![1000; 40]));
        m.fill(&mut out);
        assert!(out[1..50].iter().all(|v| *v > 0.0));
        assert!(out[50..].iter().all(|v| *v == 0.0));
    }
}
