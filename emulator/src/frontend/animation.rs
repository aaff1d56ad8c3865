//! Animated GIFs of pictures sampled in virtual time: the network view, or
//! a device's screen. Frames are reduced to a fixed palette (no dithering,
//! so the same pictures always give the same bytes); each frame after the
//! first holds only the rectangle that changed, with unchanged pixels in it
//! transparent, and a picture that did not change only lengthens the
//! previous frame.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ensemble_devices::VideoFrame;

/// The palette index that frames after the first use for "unchanged".
pub const TRANSPARENT: u8 = 255;

/// At most 255 colours (index 255 is [`TRANSPARENT`]) and how 0x00RRGGBB
/// pixels map to them.
#[derive(Clone, Debug)]
pub struct Palette {
    colours: Vec<u32>,
    /// The general palette: a colour cube and a grey ramp, mapped by
    /// arithmetic rather than search.
    cube: bool,
    /// Colours seen before and their index.
    cache: HashMap<u32, u8>,
}

const CUBE_LEVELS: [u32; 6] = [0, 51, 102, 153, 204, 255];
/// Greys between the cube's, in steps of 255/40.
const RAMP_STEPS: u32 = 40;

impl Palette {
    /// For any picture: a 6x6x6 colour cube (indices 0..216) and 39 more
    /// greys (216..255).
    pub fn general() -> Palette {
        let mut colours = Vec::with_capacity(255);
        for r in CUBE_LEVELS {
            for g in CUBE_LEVELS {
                for b in CUBE_LEVELS {
                    colours.push(r << 16 | g << 8 | b);
                }
            }
        }
        for k in 1..RAMP_STEPS {
            let v = (k * 255 + RAMP_STEPS / 2) / RAMP_STEPS;
            colours.push(v * 0x0001_0101);
        }
        Palette {
            colours,
            cube: true,
            cache: HashMap::new(),
        }
    }

    /// `exact` colours first (up to 130 of them; duplicates once), then a
    /// 5x5x5 cube for anything else, which maps to the nearest entry.
    pub fn with_colours(exact: &[u32]) -> Palette {
        let mut colours: Vec<u32> = Vec::new();
        for &c in exact {
            let c = c & 0x00ff_ffff;
            if !colours.contains(&c) && colours.len() < 130 {
                colours.push(c);
            }
        }
        let levels = [0u32, 64, 128, 192, 255];
        'fill: for r in levels {
            for g in levels {
                for b in levels {
                    if colours.len() >= 255 {
                        break 'fill;
                    }
                    let c = r << 16 | g << 8 | b;
                    if !colours.contains(&c) {
                        colours.push(c);
                    }
                }
            }
        }
        let cache = colours
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as u8))
            .collect();
        Palette {
            colours,
            cube: false,
            cache,
        }
    }

    pub fn len(&self) -> usize {
        self.colours.len()
    }

    pub fn is_empty(&self) -> bool {
        self.colours.is_empty()
    }

    /// The colour of an index (black for unused ones).
    pub fn rgb(&self, index: u8) -> u32 {
        self.colours.get(index as usize).copied().unwrap_or(0)
    }

    /// The index for a 0x00RRGGBB pixel.
    pub fn index(&mut self, rgb: u32) -> u8 {
        let rgb = rgb & 0x00ff_ffff;
        if self.cube {
            return cube_index(rgb);
        }
        if let Some(&i) = self.cache.get(&rgb) {
            return i;
        }
        let i = self.nearest(rgb);
        if self.cache.len() >= 1 << 16 {
            self.cache = self
                .colours
                .iter()
                .enumerate()
                .map(|(i, &c)| (c, i as u8))
                .collect();
        }
        self.cache.insert(rgb, i);
        i
    }

    fn nearest(&self, rgb: u32) -> u8 {
        let ch = |c: u32, s: u32| ((c >> s) & 0xff) as i32;
        let mut best = (i32::MAX, 0u8);
        for (i, &c) in self.colours.iter().enumerate() {
            let (dr, dg, db) = (
                ch(c, 16) - ch(rgb, 16),
                ch(c, 8) - ch(rgb, 8),
                ch(c, 0) - ch(rgb, 0),
            );
            // Green counts most, blue least, as the eye weighs them.
            let d = 3 * dr * dr + 4 * dg * dg + 2 * db * db;
            if d < best.0 {
                best = (d, i as u8);
            }
        }
        best.1
    }

    /// 256 RGB triples for the GIF's colour table.
    fn table(&self) -> Vec<u8> {
        let mut t = Vec::with_capacity(768);
        for i in 0..256 {
            let c = self.rgb(i as u8);
            t.extend_from_slice(&[(c >> 16) as u8, (c >> 8) as u8, c as u8]);
        }
        t
    }
}

fn cube_index(rgb: u32) -> u8 {
    let (r, g, b) = ((rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff);
    let (hi, lo) = (r.max(g).max(b), r.min(g).min(b));
    if hi - lo < 12 {
        // Near grey: the ramp (its ends are the cube's black and white).
        let k = ((r + g + b) * RAMP_STEPS + 3 * 255 / 2) / (3 * 255);
        return match k {
            0 => 0,
            k if k >= RAMP_STEPS => 215,
            k => (216 + k - 1) as u8,
        };
    }
    let level = |v: u32| (v * 5 + 127) / 255;
    (level(r) * 36 + level(g) * 6 + level(b)) as u8
}

/// Virtual nanoseconds to GIF centiseconds, rounded.
fn centis(ns: u64) -> u64 {
    (ns + 5_000_000) / 10_000_000
}

struct Pending {
    left: u32,
    top: u32,
    width: u32,
    height: u32,
    data: Vec<u8>,
    first: bool,
    start_ns: u64,
}

/// Writes an animated GIF from pictures pushed at increasing virtual times;
/// each is shown until the next one's time (the last one until
/// [`AnimationWriter::finish`]'s), so the animation plays in virtual time.
pub struct AnimationWriter {
    path: PathBuf,
    encoder: Option<gif::Encoder<BufWriter<File>>>,
    width: u32,
    height: u32,
    palette: Palette,
    /// The picture the frames so far compose to, as palette indices.
    shown: Vec<u8>,
    next: Vec<u8>,
    pending: Option<Pending>,
    frames: usize,
}

impl AnimationWriter {
    /// A `width` x `height` animation (pictures of another size are
    /// scaled to it).
    pub fn create(path: &Path, width: u32, height: u32, palette: Palette) -> Result<Self> {
        anyhow::ensure!(
            (1..=u16::MAX as u32).contains(&width) && (1..=u16::MAX as u32).contains(&height),
            "{}: {width}x{height} is no size for a GIF",
            path.display()
        );
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut encoder = gif::Encoder::new(
            BufWriter::new(file),
            width as u16,
            height as u16,
            &palette.table(),
        )
        .with_context(|| format!("{}", path.display()))?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .with_context(|| format!("{}", path.display()))?;
        let n = (width * height) as usize;
        Ok(AnimationWriter {
            path: path.to_path_buf(),
            encoder: Some(encoder),
            width,
            height,
            palette,
            shown: vec![0; n],
            next: vec![0; n],
            pending: None,
            frames: 0,
        })
    }

    /// For a device's screen of `width` x `height`: the general palette,
    /// and the screen shrunk by the smallest whole factor that makes it at
    /// most `max_width` wide.
    pub fn for_screen(path: &Path, width: u32, height: u32, max_width: u32) -> Result<Self> {
        let (w, h) = screen_size(width, height, max_width);
        AnimationWriter::create(path, w, h, Palette::general())
    }

    /// The animation's size in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Frames written so far (a picture equal to the one before adds none).
    pub fn frames(&self) -> usize {
        self.frames + self.pending.is_some() as usize
    }

    /// `frame` is shown from virtual time `t_ns` on.
    pub fn push(&mut self, frame: &VideoFrame, t_ns: u64) -> Result<()> {
        self.index_into_next(frame);
        let first = self.pending.is_none() && self.frames == 0;
        let Some((left, top, right, bottom)) = (if first {
            Some((0, 0, self.width, self.height))
        } else {
            self.changed_rect()
        }) else {
            return Ok(());
        };
        let mut data = Vec::with_capacity(((right - left) * (bottom - top)) as usize);
        for y in top..bottom {
            let row = (y * self.width) as usize;
            for x in left..right {
                let i = row + x as usize;
                data.push(if !first && self.next[i] == self.shown[i] {
                    TRANSPARENT
                } else {
                    self.next[i]
                });
            }
        }
        std::mem::swap(&mut self.shown, &mut self.next);
        self.write_pending(t_ns)?;
        self.pending = Some(Pending {
            left,
            top,
            width: right - left,
            height: bottom - top,
            data,
            first,
            start_ns: t_ns,
        });
        Ok(())
    }

    /// Ends the animation at virtual time `end_ns`; returns how many
    /// frames it has.
    pub fn finish(mut self, end_ns: u64) -> Result<usize> {
        self.write_pending(end_ns)?;
        let encoder = self.encoder.take().expect("finished once");
        let mut w = encoder
            .into_inner()
            .with_context(|| format!("{}", self.path.display()))?;
        w.flush()
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(self.frames)
    }

    fn write_pending(&mut self, end_ns: u64) -> Result<()> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let delay = centis(end_ns.max(p.start_ns))
            .saturating_sub(centis(p.start_ns))
            .clamp(1, u16::MAX as u64) as u16;
        let frame = gif::Frame {
            delay,
            dispose: gif::DisposalMethod::Keep,
            transparent: (!p.first).then_some(TRANSPARENT),
            left: p.left as u16,
            top: p.top as u16,
            width: p.width as u16,
            height: p.height as u16,
            buffer: Cow::Borrowed(&p.data),
            ..gif::Frame::default()
        };
        self.encoder
            .as_mut()
            .expect("not finished")
            .write_frame(&frame)
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.frames += 1;
        Ok(())
    }

    /// The picture as palette indices at the animation's size: box-averaged
    /// when it is larger, repeated pixels when smaller.
    fn index_into_next(&mut self, f: &VideoFrame) {
        let (w, h) = (self.width, self.height);
        let (sw, sh) = (f.width.max(1), f.height.max(1));
        if f.pixels.len() < (f.width * f.height) as usize || f.width == 0 || f.height == 0 {
            self.next.fill(self.palette.index(0));
            return;
        }
        if (sw, sh) == (w, h) {
            // Pictures are mostly runs of one colour: look each run up once.
            let mut last = (f.pixels[0], self.palette.index(f.pixels[0]));
            for (d, &p) in self.next.iter_mut().zip(&f.pixels) {
                if p != last.0 {
                    last = (p, self.palette.index(p));
                }
                *d = last.1;
            }
            return;
        }
        for y in 0..h {
            let y0 = y * sh / h;
            let y1 = ((y + 1) * sh / h).max(y0 + 1);
            for x in 0..w {
                let x0 = x * sw / w;
                let x1 = ((x + 1) * sw / w).max(x0 + 1);
                let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
                for sy in y0..y1 {
                    for sx in x0..x1 {
                        let p = f.pixels[(sy * sw + sx) as usize];
                        r += (p >> 16) & 0xff;
                        g += (p >> 8) & 0xff;
                        b += p & 0xff;
                    }
                }
                let n = (y1 - y0) * (x1 - x0);
                let avg = (r / n) << 16 | (g / n) << 8 | (b / n);
                self.next[(y * w + x) as usize] = self.palette.index(avg);
            }
        }
    }

    /// (left, top, right, bottom) of the pixels that differ from what is
    /// shown, or `None`.
    fn changed_rect(&self) -> Option<(u32, u32, u32, u32)> {
        let w = self.width as usize;
        let mut rect: Option<(u32, u32, u32, u32)> = None;
        for (y, (a, b)) in self
            .shown
            .chunks_exact(w)
            .zip(self.next.chunks_exact(w))
            .enumerate()
        {
            if a == b {
                continue;
            }
            let first = a.iter().zip(b).position(|(p, q)| p != q).unwrap_or(0) as u32;
            let last =
                w as u32 - a.iter().zip(b).rev().position(|(p, q)| p != q).unwrap_or(0) as u32;
            let y = y as u32;
            rect = Some(match rect {
                None => (first, y, last, y + 1),
                Some((l, t, r, _)) => (l.min(first), t, r.max(last), y + 1),
            });
        }
        rect
    }
}

/// The size of a screen's animation: `width` x `height` divided by the
/// smallest whole factor that makes it at most `max_width` wide.
pub fn screen_size(width: u32, height: u32, max_width: u32) -> (u32, u32) {
    let f = width.div_ceil(max_width.max(1)).max(1);
    (width.div_ceil(f).max(1), height.div_ceil(f).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32, fill: u32) -> VideoFrame {
        VideoFrame {
            time: 0,
            seq: 0,
            width: w,
            height: h,
            pixels: vec![fill; (w * h) as usize],
        }
    }

    /// Every frame composed onto the canvas, as 0x00RRGGBB pictures, with
    /// each frame's delay.
    fn decode(path: &Path) -> Vec<(u16, Vec<u32>)> {
        let mut opts = gif::DecodeOptions::new();
        opts.set_color_output(gif::ColorOutput::Indexed);
        let mut dec = opts.read_info(File::open(path).unwrap()).unwrap();
        let (w, h) = (dec.width() as usize, dec.height() as usize);
        let table = dec.global_palette().unwrap().to_vec();
        let mut canvas = vec![0u32; w * h];
        let mut out = Vec::new();
        while let Some(f) = dec.read_next_frame().unwrap() {
            for y in 0..f.height as usize {
                for x in 0..f.width as usize {
                    let i = f.buffer[y * f.width as usize + x];
                    if Some(i) == f.transparent {
                        continue;
                    }
                    let c = &table[i as usize * 3..i as usize * 3 + 3];
                    canvas[(y + f.top as usize) * w + x + f.left as usize] =
                        (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
                }
            }
            out.push((f.delay, canvas.clone()));
        }
        out
    }

    #[test]
    fn writes_frames_that_read_back() {
        let dir = std::env::temp_dir().join(format!("ensemble-anim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.gif");
        let red = 0x00ff_0000;
        let mut w =
            AnimationWriter::create(&path, 8, 4, Palette::with_colours(&[0x202020, red])).unwrap();
        let mut f = frame(8, 4, 0x202020);
        w.push(&f, 0).unwrap();
        f.pixels[8 + 3] = red;
        w.push(&f, 100_000_000).unwrap();
        // Unchanged: the previous frame just lasts longer.
        w.push(&f, 200_000_000).unwrap();
        f.pixels[8 + 3] = 0x202020;
        f.pixels[3 * 8 + 7] = red;
        w.push(&f, 300_000_000).unwrap();
        assert_eq!(w.frames(), 3);
        assert_eq!(w.finish(450_000_000).unwrap(), 3);

        let frames = decode(&path);
        assert_eq!(frames.len(), 3);
        assert_eq!(
            frames.iter().map(|f| f.0).collect::<Vec<_>>(),
            vec![10, 20, 15]
        );
        assert!(frames[0].1.iter().all(|&p| p == 0x202020));
        assert_eq!(frames[1].1[8 + 3], red);
        assert_eq!(frames[1].1.iter().filter(|&&p| p == red).count(), 1);
        assert_eq!(frames[2].1[8 + 3], 0x202020);
        assert_eq!(frames[2].1[3 * 8 + 7], red);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn screens_are_shrunk_and_colours_approximated() {
        assert_eq!(screen_size(320, 240, 320), (320, 240));
        assert_eq!(screen_size(480, 272, 320), (240, 136));
        assert_eq!(screen_size(800, 480, 320), (267, 160));
        assert_eq!(screen_size(128, 64, 320), (128, 64));

        let dir = std::env::temp_dir().join(format!("ensemble-anim2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.gif");
        let mut w = AnimationWriter::for_screen(&path, 4, 2, 2).unwrap();
        assert_eq!(w.size(), (2, 1));
        let mut f = frame(4, 2, 0);
        // The left 2x2 block: half white, half black -> mid grey.
        f.pixels[0] = 0xffffff;
        f.pixels[4] = 0xffffff;
        f.pixels[2] = 0x00ff00;
        f.pixels[3] = 0x00ff00;
        f.pixels[6] = 0x00ff00;
        f.pixels[7] = 0x00ff00;
        w.push(&f, 0).unwrap();
        w.finish(100_000_000).unwrap();
        let frames = decode(&path);
        let px = &frames[0].1;
        let grey = px[0];
        assert!(
            grey >> 16 == grey & 0xff && (0x70..=0x90).contains(&(grey & 0xff)),
            "{grey:06x}"
        );
        assert_eq!(px[1], 0x00ff00);
        std::fs::remove_dir_all(&dir).unwrap();

        let mut p = Palette::general();
        assert_eq!(p.len(), 255);
        for c in [0x000000, 0xffffff, 0xff0000, 0x3366cc, 0x808080] {
            let i = p.index(c);
            let got = p.rgb(i);
            let d = |s: u32| ((got >> s) & 0xff).abs_diff((c >> s) & 0xff);
            assert!(
                d(16) <= 26 && d(8) <= 26 && d(0) <= 26,
                "{c:06x} -> {got:06x}"
            );
        }
        let mut p = Palette::with_colours(&[0x15181d, 0x123456]);
        assert_eq!(p.index(0x123456), 1);
        let i = p.index(0x16181d);
        assert_eq!(p.rgb(i), 0x15181d);
    }
}
