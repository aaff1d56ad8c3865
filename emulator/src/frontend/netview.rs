//! The network view: a picture of a scenario's devices at their positions,
//! the networks that join them (wires to a switch, radio range circles and
//! the pairs in range), and the frames travelling between them, coloured by
//! what they carry, over virtual time.
//!
//! A [`NetView`] records what the run tells an [`Observer`] (topology,
//! moves, links, partitions, packets) and draws the state at any virtual
//! time `t` from the events up to `t` alone, so the same run always gives
//! the same pictures. Frames on real networks take a millisecond or so;
//! each is drawn travelling for at least [`MIN_FLIGHT_NS`] of virtual time
//! so that pictures sampled every 100 ms still show it.
//!
//! Devices with a position (radio nodes, or any device when the scenario
//! places wired ones away from the origin) are drawn on a metre grid fitted
//! to the view; wired devices without one are drawn around their switch in
//! a panel on the left.

use std::cell::RefCell;

use ensemble_devices::VideoFrame;

use super::font::text_width;
use crate::net::PacketKind;
use crate::world::{Observer, PacketEvent, Topology};

/// The view's size unless told otherwise.
pub const DEFAULT_SIZE: (u32, u32) = (800, 600);
/// A frame is drawn travelling for at least this long (virtual time).
pub const MIN_FLIGHT_NS: u64 = 200_000_000;
/// A lost frame flashes at its sender for this long.
pub const FLASH_NS: u64 = 400_000_000;

pub const BG: u32 = 0x14171c;
pub const HEADER_BG: u32 = 0x1f232a;
pub const TEXT: u32 = 0xe6e9ed;
pub const DIM: u32 = 0x8b939e;
pub const RULE: u32 = 0x2a2f37;
pub const GRID: u32 = 0x2c333d;
pub const SCALE_BAR: u32 = 0xaab2bc;
/// Where one, two, three or more radios' range circles overlap.
pub const RANGE_FILL: [u32; 3] = [0x16242b, 0x1a2e37, 0x1e3843];
pub const RANGE_EDGE: u32 = 0x2f5b69;
pub const RADIO_LINK: u32 = 0x3f8a99;
pub const WIRE: u32 = 0x68727e;
/// Links that are down or partitioned away.
pub const CUT: u32 = 0xd9463b;
pub const SWITCH_FILL: u32 = 0x2b3038;
pub const SWITCH_EDGE: u32 = 0xa4adb8;
pub const DEVICE_EDGE: u32 = 0xdfe4ea;
pub const DEVICE_TEXT: u32 = 0xffffff;
/// Device boxes, by board (in order of first appearance in the scenario).
pub const BOARD_COLOURS: [u32; 6] = [0x2d6cb0, 0x2f8f5b, 0xa8722a, 0x7d4bb0, 0x2a9296, 0xb04b66];
pub const OFF_FILL: u32 = 0x3b3e43;
pub const OFF_EDGE: u32 = 0x5d6168;
pub const OFF_TEXT: u32 = 0x8b8f96;
/// Packets, by [`PacketKind::index`].
pub const KIND_COLOURS: [u32; 8] = [
    0xffd23f, // ARP
    0xff8c1a, // ICMP
    0x4ee06a, // UDP 5684
    0x5ac8fa, // UDP
    0xc77dff, // TCP
    0xff5fc8, // radio broadcast
    0xb8a4ff, // radio unicast
    0xd0d4da, // other
];
pub const LOST: u32 = 0xff3b30;
const OUTLINE: u32 = 0x000000;

/// Every colour the view draws with, for an exact GIF palette.
pub fn palette() -> Vec<u32> {
    let mut v = vec![
        BG,
        HEADER_BG,
        TEXT,
        DIM,
        RULE,
        GRID,
        SCALE_BAR,
        RANGE_EDGE,
        RADIO_LINK,
        WIRE,
        CUT,
        SWITCH_FILL,
        SWITCH_EDGE,
        DEVICE_EDGE,
        DEVICE_TEXT,
        OFF_FILL,
        OFF_EDGE,
        OFF_TEXT,
        LOST,
        OUTLINE,
    ];
    v.extend_from_slice(&RANGE_FILL);
    v.extend_from_slice(&BOARD_COLOURS);
    v.extend_from_slice(&KIND_COLOURS);
    v
}

const HEADER_H: i32 = 30;
const FOOTER_H: i32 = 40;
const PAD: i32 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.w && y < self.y + self.h
    }

    fn inset(&self, l: i32, t: i32, r: i32, b: i32) -> Rect {
        Rect {
            x: self.x + l,
            y: self.y + t,
            w: (self.w - l - r).max(1),
            h: (self.h - t - b).max(1),
        }
    }
}

/// Metres to view pixels: uniform scale, y up (north at the top).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Pixels per metre.
    pub scale: f64,
    centre_m: (f64, f64),
    centre_px: (f64, f64),
}

impl Fit {
    pub fn to_px(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.centre_px.0 + (x - self.centre_m.0) * self.scale,
            self.centre_px.1 - (y - self.centre_m.1) * self.scale,
        )
    }
}

/// The fit that shows `points` (metres) with `pad_m` around them, spanning
/// at least `min_span_m` each way, as large as fits in `region`, centred.
pub fn fit(points: &[(f64, f64)], pad_m: f64, min_span_m: f64, region: Rect) -> Fit {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if points.is_empty() {
        (x0, y0, x1, y1) = (0.0, 0.0, 0.0, 0.0);
    }
    let span_x = (x1 - x0 + 2.0 * pad_m).max(min_span_m).max(1e-9);
    let span_y = (y1 - y0 + 2.0 * pad_m).max(min_span_m).max(1e-9);
    let scale = (region.w.max(1) as f64 / span_x).min(region.h.max(1) as f64 / span_y);
    Fit {
        scale,
        centre_m: ((x0 + x1) / 2.0, (y0 + y1) / 2.0),
        centre_px: (
            region.x as f64 + region.w as f64 / 2.0,
            region.y as f64 + region.h as f64 / 2.0,
        ),
    }
}

/// When a packet is drawn and for how long: from its sending, for its
/// flight time stretched to at least [`MIN_FLIGHT_NS`].
pub fn flight(p: &PacketEvent) -> (u64, u64) {
    (
        p.sent_ns,
        p.arrives_ns.saturating_sub(p.sent_ns).max(MIN_FLIGHT_NS),
    )
}

/// How far along its way a delivered packet is at `t`: 0 when sent, 1 on
/// arrival; `None` when it is not travelling then.
pub fn progress(p: &PacketEvent, t: u64) -> Option<f64> {
    let (start, dur) = flight(p);
    if t < start || t > start + dur {
        return None;
    }
    Some((t - start) as f64 / dur as f64)
}

/// The point `frac` (0..=1) of the way along the polyline `path`.
pub fn point_along(path: &[(f64, f64)], frac: f64) -> (f64, f64) {
    let Some(&first) = path.first() else {
        return (0.0, 0.0);
    };
    let seg = |i: usize| {
        let (a, b) = (path[i], path[i + 1]);
        ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt()
    };
    let total: f64 = (0..path.len() - 1).map(seg).sum();
    if total <= 0.0 {
        return first;
    }
    let mut left = frac.clamp(0.0, 1.0) * total;
    for i in 0..path.len() - 1 {
        let l = seg(i);
        if left <= l || i == path.len() - 2 {
            let f = if l > 0.0 { (left / l).min(1.0) } else { 0.0 };
            let (a, b) = (path[i], path[i + 1]);
            return (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f);
        }
        left -= l;
    }
    first
}

/// Where everything is at some time.
#[derive(Clone, Debug)]
struct Layout {
    /// Where each device is (on the map: its true place).
    anchor: Vec<(i32, i32)>,
    /// Device box centres and boxes (moved off each other).
    centre: Vec<(i32, i32)>,
    boxes: Vec<Rect>,
    /// Each switch network's switch (None for radios and empty networks).
    switch: Vec<Option<(i32, i32)>>,
    map: Option<(Rect, Fit)>,
    schematic: Option<Rect>,
    /// Glyph scale of device names.
    label_scale: i32,
}

/// The state of links and devices at some time.
#[derive(Clone, Debug)]
struct State {
    positions: Vec<[f64; 3]>,
    /// Positions the devices had up to now (for the fit), with the device.
    seen: Vec<(usize, (f64, f64))>,
    moved: Vec<bool>,
    /// [net][member] link up.
    link_up: Vec<Vec<bool>>,
    /// [net][member] cut off by a partition.
    cut: Vec<Vec<bool>>,
    partitioned: Vec<bool>,
    on: Vec<bool>,
}

struct Cached {
    key: Vec<usize>,
    layout: Layout,
    base: Vec<u32>,
}

/// Draws a scenario's networks and the frames crossing them; see the
/// module documentation.
pub struct NetView {
    width: u32,
    height: u32,
    topo: Topology,
    /// Per device: (time, position), the scenario's first.
    positions: Vec<Vec<(u64, [f64; 3])>>,
    /// Per network: (time, device, up).
    links: Vec<Vec<(u64, (usize, bool))>>,
    /// Per network: (time, groups; empty when healed).
    partitions: Vec<Vec<(u64, Vec<Vec<usize>>)>>,
    /// Per device: (time, powered).
    power: Vec<Vec<(u64, bool)>>,
    packets: Vec<PacketEvent>,
    /// Packets forgotten: delivered, lost.
    forgotten: (u64, u64),
    board_colour: Vec<usize>,
    boards: Vec<String>,
    cache: RefCell<Option<Cached>>,
}

fn insert_sorted<T>(v: &mut Vec<(u64, T)>, t: u64, x: T) {
    let at = v.partition_point(|e| e.0 <= t);
    v.insert(at, (t, x));
}

fn count_upto<T>(v: &[(u64, T)], t: u64) -> usize {
    v.partition_point(|e| e.0 <= t)
}

impl NetView {
    pub fn new(topology: &Topology, width: u32, height: u32) -> NetView {
        let mut boards: Vec<String> = Vec::new();
        let board_colour = topology
            .devices
            .iter()
            .map(|d| match boards.iter().position(|b| *b == d.board) {
                Some(i) => i,
                None => {
                    boards.push(d.board.clone());
                    boards.len() - 1
                }
            })
            .collect();
        NetView {
            width: width.max(160),
            height: height.max(120),
            positions: topology
                .devices
                .iter()
                .map(|d| vec![(0, d.position)])
                .collect(),
            links: vec![Vec::new(); topology.networks.len()],
            partitions: vec![Vec::new(); topology.networks.len()],
            power: vec![Vec::new(); topology.devices.len()],
            packets: Vec::new(),
            forgotten: (0, 0),
            board_colour,
            boards,
            topo: topology.clone(),
            cache: RefCell::new(None),
        }
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub fn moved(&mut self, dev: usize, position: [f64; 3], t_ns: u64) {
        if let Some(h) = self.positions.get_mut(dev) {
            insert_sorted(h, t_ns, position);
        }
    }

    pub fn link(&mut self, net: usize, dev: usize, up: bool, t_ns: u64) {
        if let Some(h) = self.links.get_mut(net) {
            insert_sorted(h, t_ns, (dev, up));
        }
    }

    pub fn partition(&mut self, net: usize, groups: &[Vec<usize>], t_ns: u64) {
        if let Some(h) = self.partitions.get_mut(net) {
            insert_sorted(h, t_ns, groups.to_vec());
        }
    }

    /// Device `dev` was switched off (or on again) at `t_ns`.
    pub fn power(&mut self, dev: usize, on: bool, t_ns: u64) {
        if let Some(h) = self.power.get_mut(dev) {
            insert_sorted(h, t_ns, on);
        }
    }

    pub fn packet(&mut self, p: &PacketEvent) {
        if p.from < self.topo.devices.len() && p.net < self.topo.networks.len() {
            self.packets.push(p.clone());
        }
    }

    /// Drops what no picture at `t_ns` or later needs; pictures of earlier
    /// times are not right any more afterwards.
    pub fn forget_before(&mut self, t_ns: u64) {
        let mut forgotten = self.forgotten;
        self.packets.retain(|p| {
            let (start, dur) = flight(p);
            let keep = start + dur.max(FLASH_NS) >= t_ns;
            if !keep {
                if p.to.is_some() {
                    forgotten.0 += 1;
                } else {
                    forgotten.1 += 1;
                }
            }
            keep
        });
        self.forgotten = forgotten;
    }

    /// The picture at virtual time `t_ns`.
    pub fn render(&self, t_ns: u64) -> VideoFrame {
        self.render_with_speed(t_ns, None)
    }

    /// The picture at `t_ns`, with the emulation's speed (virtual seconds
    /// per host second) in the header when given: for live windows.
    pub fn render_with_speed(&self, t_ns: u64, speed: Option<f64>) -> VideoFrame {
        self.ensure_base(t_ns);
        let cache = self.cache.borrow();
        let cached = cache.as_ref().expect("built above");
        let mut cv = Canvas {
            w: self.width as i32,
            h: self.height as i32,
            px: cached.base.clone(),
            clip: self.full(),
        };
        self.draw_packets(&mut cv, &cached.layout, t_ns);
        self.draw_dynamic_text(&mut cv, t_ns, speed);
        VideoFrame {
            time: t_ns,
            seq: t_ns,
            width: self.width,
            height: self.height,
            pixels: cv.px,
        }
    }

    /// The device whose box is at view pixel (`x`, `y`) at `t_ns`.
    pub fn device_at(&self, t_ns: u64, x: i32, y: i32) -> Option<usize> {
        self.device_boxes(t_ns)
            .into_iter()
            .rev()
            .find(|(r, _)| {
                Rect {
                    x: r[0] as i32,
                    y: r[1] as i32,
                    w: r[2] as i32,
                    h: r[3] as i32,
                }
                .contains(x, y)
            })
            .map(|(_, d)| d)
    }

    /// Each device's box (x, y, width, height) at `t_ns`, clipped to the
    /// view.
    pub fn device_boxes(&self, t_ns: u64) -> Vec<([u32; 4], usize)> {
        self.ensure_base(t_ns);
        let cache = self.cache.borrow();
        let layout = &cache.as_ref().expect("built above").layout;
        layout
            .boxes
            .iter()
            .enumerate()
            .map(|(d, r)| {
                let x0 = r.x.clamp(0, self.width as i32);
                let y0 = r.y.clamp(0, self.height as i32);
                let x1 = (r.x + r.w).clamp(0, self.width as i32);
                let y1 = (r.y + r.h).clamp(0, self.height as i32);
                (
                    [x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32],
                    d,
                )
            })
            .collect()
    }

    fn full(&self) -> Rect {
        Rect {
            x: 0,
            y: 0,
            w: self.width as i32,
            h: self.height as i32,
        }
    }

    /// Which recorded changes apply at `t`: the picture's static part
    /// depends on nothing else.
    fn key(&self, t: u64) -> Vec<usize> {
        let mut k = Vec::new();
        k.extend(self.positions.iter().map(|h| count_upto(h, t)));
        k.extend(self.links.iter().map(|h| count_upto(h, t)));
        k.extend(self.partitions.iter().map(|h| count_upto(h, t)));
        k.extend(self.power.iter().map(|h| count_upto(h, t)));
        k
    }

    fn state(&self, t: u64) -> State {
        let n = self.topo.devices.len();
        let mut seen = Vec::new();
        let mut positions = Vec::with_capacity(n);
        let mut moved = Vec::with_capacity(n);
        for (d, h) in self.positions.iter().enumerate() {
            let upto = &h[..count_upto(h, t).max(1)];
            seen.extend(upto.iter().map(|(_, p)| (d, (p[0], p[1]))));
            positions.push(upto.last().map(|e| e.1).unwrap_or([0.0; 3]));
            moved.push(upto.len() > 1);
        }
        let mut link_up = Vec::new();
        let mut cut = Vec::new();
        let mut partitioned = Vec::new();
        for (ni, net) in self.topo.networks.iter().enumerate() {
            let mut up = vec![true; net.members.len()];
            for (_, (dev, u)) in &self.links[ni][..count_upto(&self.links[ni], t)] {
                if let Some(m) = net.members.iter().position(|m| m == dev) {
                    up[m] = *u;
                }
            }
            link_up.push(up);
            let parts = &self.partitions[ni];
            let groups = parts[..count_upto(parts, t)]
                .last()
                .map(|(_, g)| g.clone())
                .unwrap_or_default();
            cut.push(cut_members(&net.members, &groups));
            partitioned.push(!groups.is_empty());
        }
        let on = self
            .power
            .iter()
            .map(|h| h[..count_upto(h, t)].last().is_none_or(|e| e.1))
            .collect();
        State {
            positions,
            seen,
            moved,
            link_up,
            cut,
            partitioned,
            on,
        }
    }

    fn ensure_base(&self, t: u64) {
        let key = self.key(t);
        if self.cache.borrow().as_ref().is_some_and(|c| c.key == key) {
            return;
        }
        let state = self.state(t);
        let layout = self.layout(&state);
        let mut cv = Canvas {
            w: self.width as i32,
            h: self.height as i32,
            px: vec![BG; (self.width * self.height) as usize],
            clip: self.full(),
        };
        self.draw_base(&mut cv, &layout, &state);
        *self.cache.borrow_mut() = Some(Cached {
            key,
            layout,
            base: cv.px,
        });
    }

    fn is_wireless_member(&self, d: usize) -> bool {
        self.topo
            .networks
            .iter()
            .any(|n| n.wireless && n.members.contains(&d))
    }

    fn layout(&self, st: &State) -> Layout {
        let n = self.topo.devices.len();
        let (w, h) = (self.width as i32, self.height as i32);
        let main = Rect {
            x: 0,
            y: HEADER_H,
            w,
            h: h - HEADER_H - FOOTER_H,
        };
        // Wired devices the scenario left at the origin have no place on a
        // map; if it placed any wired device elsewhere, all are placed.
        let explicit =
            self.topo.devices.iter().enumerate().any(|(d, dev)| {
                !self.is_wireless_member(d) && dev.position.iter().any(|v| *v != 0.0)
            });
        let placed: Vec<bool> = (0..n)
            .map(|d| {
                explicit
                    || st.moved[d]
                    || self.is_wireless_member(d)
                    || !self.topo.devices[d].moves_to.is_empty()
            })
            .collect();
        let any_placed = placed.iter().any(|p| *p);
        let any_unplaced = placed.iter().any(|p| !*p);
        let (schematic, map_rect) = match (any_unplaced, any_placed) {
            (true, true) => {
                let sw = w / 3;
                (
                    Some(Rect { w: sw, ..main }),
                    Some(Rect {
                        x: sw,
                        w: w - sw,
                        ..main
                    }),
                )
            }
            (false, true) => (None, Some(main)),
            _ => (Some(main), None),
        };
        let label_scale = if n <= 10 { 2 } else { 1 };
        // Board names go under the boxes at the larger scale.
        let sub_h = if label_scale > 1 { 11 } else { 0 };
        let box_size = |d: usize| {
            let name = &self.topo.devices[d].name;
            (
                text_width(name, label_scale) + 6 * label_scale + 2,
                8 * label_scale + 6,
            )
        };
        let max_box = (0..n)
            .map(box_size)
            .fold((0, 0), |a, b| (a.0.max(b.0), a.1.max(b.1)));
        let mut anchor = vec![(0i32, 0i32); n];
        let mut switch: Vec<Option<(i32, i32)>> = vec![None; self.topo.networks.len()];

        // The map: placed devices on a metre grid, fitted to every place
        // they have been or will be moved to.
        let mut map = None;
        if let Some(r) = map_rect {
            let mut pts: Vec<(f64, f64)> = st
                .seen
                .iter()
                .filter(|(d, _)| placed[*d])
                .map(|(_, p)| *p)
                .collect();
            for (d, dev) in self.topo.devices.iter().enumerate() {
                if placed[d] {
                    pts.extend(dev.moves_to.iter().map(|p| (p[0], p[1])));
                }
            }
            let span = span_of(&pts);
            let range = self
                .topo
                .networks
                .iter()
                .filter(|n| n.wireless)
                .filter_map(|n| n.range_m)
                .fold(0.0f64, f64::max);
            let pad_m = range.min(0.5 * span.max(10.0));
            let inner = r.inset(max_box.0 / 2 + PAD, 30, max_box.0 / 2 + PAD, 40);
            let f = fit(&pts, pad_m, 10.0, inner);
            for d in (0..n).filter(|d| placed[*d]) {
                let (x, y) = f.to_px(st.positions[d][0], st.positions[d][1]);
                anchor[d] = (x.round() as i32, y.round() as i32);
            }
            map = Some((r, f));
        }

        // The schematic: unplaced devices around their switch.
        if let Some(r) = schematic {
            let mut assigned = vec![false; n];
            let mut clusters: Vec<(Option<usize>, Vec<usize>)> = Vec::new();
            for (ni, net) in self.topo.networks.iter().enumerate() {
                if net.wireless {
                    continue;
                }
                let members: Vec<usize> = net
                    .members
                    .iter()
                    .copied()
                    .filter(|&d| !placed[d] && !assigned[d])
                    .collect();
                if members.is_empty() {
                    continue;
                }
                members.iter().for_each(|&d| assigned[d] = true);
                clusters.push((Some(ni), members));
            }
            let loose: Vec<usize> = (0..n).filter(|&d| !placed[d] && !assigned[d]).collect();
            if !loose.is_empty() {
                clusters.push((None, loose));
            }
            let k = clusters.len().max(1) as i32;
            let inner = r.inset(PAD, 8, PAD, 8);
            for (i, (net, members)) in clusters.iter().enumerate() {
                let cell = Rect {
                    x: inner.x,
                    y: inner.y + inner.h * i as i32 / k,
                    w: inner.w,
                    h: inner.h / k,
                };
                let spots = match net {
                    Some(ni) => {
                        switch[*ni] = Some((cell.x + cell.w / 2, cell.y + cell.h / 2));
                        ring(members.len(), cell, max_box)
                    }
                    None => grid(members.len(), cell),
                };
                for (&d, p) in members.iter().zip(spots) {
                    anchor[d] = p;
                }
            }
        }

        // Boxes on their anchors, then pushed apart where they overlap on
        // the map (with a leader line back to the true place).
        let mut boxes: Vec<Rect> = (0..n)
            .map(|d| {
                let (bw, bh) = box_size(d);
                Rect {
                    x: anchor[d].0 - bw / 2,
                    y: anchor[d].1 - bh / 2,
                    w: bw,
                    h: bh,
                }
            })
            .collect();
        if let Some((r, _)) = map {
            let bounds = r.inset(4, 22, 4, 26);
            separate(&mut boxes, &placed, bounds, sub_h);
        }
        let centre: Vec<(i32, i32)> = boxes
            .iter()
            .map(|b| (b.x + b.w / 2, b.y + b.h / 2))
            .collect();

        // Switches whose members all have places: near their centroid,
        // where no device is.
        let mut taken: Vec<Rect> = boxes
            .iter()
            .map(|b| Rect {
                h: b.h + sub_h,
                ..*b
            })
            .collect();
        for (ni, net) in self.topo.networks.iter().enumerate() {
            if net.wireless || net.members.is_empty() || switch[ni].is_some() {
                continue;
            }
            let k = net.members.len() as i32;
            let c = (
                net.members.iter().map(|&d| centre[d].0).sum::<i32>() / k,
                net.members.iter().map(|&d| centre[d].1).sum::<i32>() / k,
            );
            let sw = text_width(&net.name, 1) + 12;
            let step = 22;
            let mut best = c;
            'search: for ring in 0..12 {
                for (dx, dy) in [
                    (0, 1),
                    (0, -1),
                    (1, 0),
                    (-1, 0),
                    (1, 1),
                    (-1, 1),
                    (1, -1),
                    (-1, -1),
                ] {
                    let p = (c.0 + dx * ring * step * 2, c.1 + dy * ring * step);
                    let r = Rect {
                        x: p.0 - sw / 2 - 4,
                        y: p.1 - 12,
                        w: sw + 8,
                        h: 24,
                    };
                    if !taken.iter().any(|t| overlaps(t, &r)) && main.contains(p.0, p.1) {
                        best = p;
                        taken.push(r);
                        break 'search;
                    }
                }
            }
            switch[ni] = Some(best);
        }

        Layout {
            anchor,
            centre,
            boxes,
            switch,
            map,
            schematic,
            label_scale,
        }
    }

    fn draw_base(&self, cv: &mut Canvas, l: &Layout, st: &State) {
        let (w, h) = (self.width as i32, self.height as i32);
        cv.fill(
            Rect {
                x: 0,
                y: 0,
                w,
                h: HEADER_H,
            },
            HEADER_BG,
        );
        cv.fill(
            Rect {
                x: 0,
                y: h - FOOTER_H,
                w,
                h: FOOTER_H,
            },
            HEADER_BG,
        );
        cv.hline(0, w, HEADER_H, RULE);
        cv.hline(0, w, h - FOOTER_H - 1, RULE);
        let x = cv.text(PAD, 8, 2, TEXT, &self.topo.name);
        let nets: Vec<String> = self
            .topo
            .networks
            .iter()
            .map(|n| {
                format!(
                    "{}: {}",
                    n.name,
                    if n.wireless { "radio" } else { "switch" }
                )
            })
            .collect();
        cv.text(x + 14, 13, 1, DIM, &nets.join("   "));

        if let (Some(s), Some(_)) = (l.schematic, l.map) {
            cv.vline(s.x + s.w, s.y + 1, s.y + s.h - 1, RULE);
        }
        if let Some((r, f)) = l.map {
            self.draw_map(cv, l, st, r, &f);
        }
        if let Some(r) = l.schematic {
            if l.map.is_some() {
                cv.text(r.x + 8, r.y + 8, 1, DIM, "wired, unplaced");
            }
        }

        // Wires to switches.
        for (ni, net) in self.topo.networks.iter().enumerate() {
            let Some(sc) = l.switch[ni] else { continue };
            for (m, &d) in net.members.iter().enumerate() {
                let c = l.centre[d];
                if !st.link_up[ni][m] || st.cut[ni][m] {
                    cv.line(c, sc, CUT, 2, Some((6, 5)));
                } else {
                    cv.line(c, sc, WIRE, 2, None);
                }
            }
        }
        // Switches.
        for (ni, net) in self.topo.networks.iter().enumerate() {
            let Some((x, y)) = l.switch[ni] else { continue };
            let label = &net.name;
            let bw = text_width(label, 1) + 12;
            let r = Rect {
                x: x - bw / 2,
                y: y - 8,
                w: bw,
                h: 16,
            };
            cv.rounded(r, SWITCH_FILL, SWITCH_EDGE);
            cv.text(r.x + 6, r.y + 4, 1, TEXT, label);
            // Port ticks along the bottom edge, one per member.
            let k = net.members.len().min(16) as i32;
            for i in 0..k {
                let px = r.x + 4 + (r.w - 8) * (2 * i + 1) / (2 * k);
                cv.put(px, r.y + r.h - 3, SWITCH_EDGE);
            }
            if st.partitioned[ni] {
                cv.text(r.x, r.y + r.h + 3, 1, CUT, "partitioned");
            }
            if net.bridged {
                cv.text(r.x, r.y - 11, 1, DIM, "+ host");
            }
        }
        // Devices moved off each other: a leader from their true place.
        for d in 0..self.topo.devices.len() {
            let (a, c) = (l.anchor[d], l.centre[d]);
            if (a.0 - c.0).abs() + (a.1 - c.1).abs() > 3 {
                let colour = if st.on[d] {
                    BOARD_COLOURS[self.board_colour[d] % BOARD_COLOURS.len()]
                } else {
                    OFF_FILL
                };
                cv.line(a, c, DIM, 1, None);
                cv.disc(a.0, a.1, 3, DEVICE_EDGE);
                cv.disc(a.0, a.1, 2, colour);
            }
        }
        // Devices.
        for (d, dev) in self.topo.devices.iter().enumerate() {
            let r = l.boxes[d];
            let on = st.on[d];
            let (fill, edge, text) = if on {
                (
                    BOARD_COLOURS[self.board_colour[d] % BOARD_COLOURS.len()],
                    DEVICE_EDGE,
                    DEVICE_TEXT,
                )
            } else {
                (OFF_FILL, OFF_EDGE, OFF_TEXT)
            };
            cv.rounded(r, fill, edge);
            let s = l.label_scale;
            cv.text(r.x + 3 * s + 1, r.y + 3 + s / 2, s, text, &dev.name);
            if l.label_scale > 1 {
                let sub = if on {
                    board_short(&dev.board)
                } else {
                    "off".into()
                };
                let tw = text_width(&sub, 1);
                cv.text(r.x + (r.w - tw) / 2, r.y + r.h + 3, 1, DIM, &sub);
            } else if !on {
                cv.text(r.x, r.y + r.h + 2, 1, OFF_TEXT, "off");
            }
        }
        self.draw_legend(cv);
    }

    fn draw_map(&self, cv: &mut Canvas, l: &Layout, st: &State, r: Rect, f: &Fit) {
        let clip = r.inset(1, 1, 0, 0);
        cv.clip = clip;
        // Range circles: where one, two, three or more radios reach.
        let mut circles: Vec<(i32, i32, f64)> = Vec::new();
        let mut labels = Vec::new();
        for (ni, net) in self.topo.networks.iter().enumerate() {
            if !net.wireless {
                continue;
            }
            if let Some(range) = net.range_m {
                for (m, &d) in net.members.iter().enumerate() {
                    if st.link_up[ni][m] && st.on[d] {
                        circles.push((l.anchor[d].0, l.anchor[d].1, range * f.scale));
                    }
                }
                labels.push(format!("{}: radio range {}", net.name, fmt_metres(range)));
            } else {
                labels.push(format!("{}: radio", net.name));
            }
        }
        let mut cov = vec![0u8; (clip.w * clip.h) as usize];
        for &(cx, cy, rad) in &circles {
            let y0 = ((cy as f64 - rad).floor() as i32).max(clip.y);
            let y1 = ((cy as f64 + rad).ceil() as i32).min(clip.y + clip.h - 1);
            for y in y0..=y1 {
                let dy = (y - cy) as f64;
                let half = rad * rad - dy * dy;
                if half < 0.0 {
                    continue;
                }
                let half = half.sqrt();
                let x0 = ((cx as f64 - half).ceil() as i32).max(clip.x);
                let x1 = ((cx as f64 + half).floor() as i32).min(clip.x + clip.w - 1);
                let row = ((y - clip.y) * clip.w) as usize;
                for x in x0..=x1 {
                    let c = &mut cov[row + (x - clip.x) as usize];
                    *c = c.saturating_add(1);
                }
            }
        }
        for y in 0..clip.h {
            for x in 0..clip.w {
                let c = cov[(y * clip.w + x) as usize];
                if c > 0 {
                    cv.put(clip.x + x, clip.y + y, RANGE_FILL[(c as usize - 1).min(2)]);
                }
            }
        }
        // The metre grid.
        let step = grid_step(f.scale, 48.0);
        let (mx0, my1) = inverse(f, clip.x as f64, clip.y as f64);
        let (mx1, my0) = inverse(f, (clip.x + clip.w) as f64, (clip.y + clip.h) as f64);
        let mut gx = (mx0 / step).floor() * step;
        while gx <= mx1 {
            let (px, _) = f.to_px(gx, 0.0);
            cv.vline_dotted(px.round() as i32, clip.y, clip.y + clip.h, GRID);
            gx += step;
        }
        let mut gy = (my0 / step).floor() * step;
        while gy <= my1 {
            let (_, py) = f.to_px(0.0, gy);
            cv.hline_dotted(clip.x, clip.x + clip.w, py.round() as i32, GRID);
            gy += step;
        }
        for &(cx, cy, rad) in &circles {
            cv.circle(cx, cy, rad.round() as i32, RANGE_EDGE);
        }
        // Radio links: pairs in range of each other.
        for (ni, net) in self.topo.networks.iter().enumerate() {
            if !net.wireless {
                continue;
            }
            let range = net.range_m.unwrap_or(f64::INFINITY);
            for (i, &a) in net.members.iter().enumerate() {
                for (j, &b) in net.members.iter().enumerate().skip(i + 1) {
                    let ok = st.link_up[ni][i] && st.link_up[ni][j] && st.on[a] && st.on[b];
                    if ok && distance(st.positions[a], st.positions[b]) <= range {
                        cv.line(l.centre[a], l.centre[b], RADIO_LINK, 1, Some((3, 3)));
                    }
                }
            }
        }
        // Scale bar and labels.
        let bar = (step * f.scale).round() as i32;
        let (bx, by) = (clip.x + 12, clip.y + clip.h - 14);
        cv.hline(bx, bx + bar + 1, by, SCALE_BAR);
        cv.vline(bx, by - 4, by + 1, SCALE_BAR);
        cv.vline(bx + bar, by - 4, by + 1, SCALE_BAR);
        cv.text(bx + 4, by - 12, 1, SCALE_BAR, &fmt_metres(step));
        for (i, s) in labels.iter().enumerate() {
            cv.text(clip.x + 8, clip.y + 7 + 11 * i as i32, 1, RADIO_LINK, s);
        }
        cv.clip = self.full();
    }

    fn legend_kinds(&self) -> Vec<PacketKind> {
        let wired = self.topo.networks.iter().any(|n| !n.wireless);
        let radio = self.topo.networks.iter().any(|n| n.wireless);
        PacketKind::ALL
            .iter()
            .copied()
            .filter(|k| match k {
                PacketKind::RadioBroadcast | PacketKind::RadioUnicast => radio,
                PacketKind::Other => true,
                _ => wired || !radio,
            })
            .collect()
    }

    fn draw_legend(&self, cv: &mut Canvas) {
        let y = self.height as i32 - FOOTER_H + 8;
        let mut x = PAD;
        for k in self.legend_kinds() {
            cv.disc(x + 4, y + 3, 4, OUTLINE);
            cv.disc(x + 4, y + 3, 3, KIND_COLOURS[k.index()]);
            x = cv.text(x + 12, y, 1, TEXT, k.name()) + 12;
        }
        cv.ring(x + 4, y + 3, 4, LOST);
        cv.text(x + 12, y, 1, TEXT, "lost");
        let y = y + 15;
        let mut x = PAD;
        for (i, b) in self.boards.iter().enumerate() {
            cv.rounded(
                Rect {
                    x,
                    y: y - 1,
                    w: 10,
                    h: 9,
                },
                BOARD_COLOURS[i % BOARD_COLOURS.len()],
                DEVICE_EDGE,
            );
            x = cv.text(x + 14, y, 1, DIM, &board_short(b)) + 12;
        }
    }

    fn draw_dynamic_text(&self, cv: &mut Canvas, t: u64, speed: Option<f64>) {
        let mut s = format!("t {}.{:03} s", t / 1_000_000_000, t / 1_000_000 % 1000);
        if let Some(v) = speed {
            s.push_str(&format!("  {v:.2}x"));
        }
        let tw = text_width(&s, 2);
        cv.text(self.width as i32 - PAD - tw, 8, 2, TEXT, &s);
        let (mut delivered, mut lost) = self.forgotten;
        for p in self.packets.iter().filter(|p| p.sent_ns <= t) {
            if p.to.is_some() {
                delivered += 1;
            } else {
                lost += 1;
            }
        }
        let s = format!("{delivered} delivered  {lost} lost");
        let tw = text_width(&s, 1);
        cv.text(
            self.width as i32 - PAD - tw,
            self.height as i32 - FOOTER_H + 23,
            1,
            TEXT,
            &s,
        );
    }

    fn path(&self, l: &Layout, p: &PacketEvent, to: usize) -> Vec<(f64, f64)> {
        let c = |d: usize| (l.centre[d].0 as f64, l.centre[d].1 as f64);
        match l.switch.get(p.net).copied().flatten() {
            Some(s) => vec![c(p.from), (s.0 as f64, s.1 as f64), c(to)],
            None => vec![c(p.from), c(to)],
        }
    }

    fn draw_packets(&self, cv: &mut Canvas, l: &Layout, t: u64) {
        // Radio transmissions first: a ring spreading from the sender.
        for p in &self.packets {
            let wireless = self.topo.networks[p.net].wireless;
            if !wireless || p.to.is_none() || p.sent_ns > t {
                continue;
            }
            let age = t - p.sent_ns;
            let spread = MIN_FLIGHT_NS / 2;
            if age <= spread {
                let c = l.centre[p.from];
                let r0 = l.boxes[p.from].w.max(l.boxes[p.from].h) / 2 + 2;
                let r = r0 + (age * 26 / spread) as i32;
                cv.circle(c.0, c.1, r, KIND_COLOURS[p.kind.index()]);
            }
        }
        for p in &self.packets {
            if p.sent_ns > t {
                continue;
            }
            let colour = KIND_COLOURS[p.kind.index()];
            match p.to {
                Some(to) => {
                    let Some(frac) = progress(p, t) else { continue };
                    let (x, y) = point_along(&self.path(l, p, to), frac);
                    let (x, y) = (x.round() as i32, y.round() as i32);
                    cv.disc(x, y, 5, OUTLINE);
                    cv.disc(x, y, 4, colour);
                }
                None => {
                    let age = t - p.sent_ns;
                    if age > FLASH_NS {
                        continue;
                    }
                    // Blinking ring at the sender.
                    if (age / 100_000_000).is_multiple_of(2) {
                        let b = l.boxes[p.from];
                        let c = l.centre[p.from];
                        let r = b.w.max(b.h) / 2 + 5;
                        cv.ring(c.0, c.1, r, LOST);
                    }
                    // Towards where it was going, for half the way.
                    if let Some(to) = p.meant_for {
                        let half = MIN_FLIGHT_NS / 2;
                        if age <= half {
                            let frac = age as f64 / half as f64 * 0.5;
                            let (x, y) = point_along(&self.path(l, p, to), frac);
                            let (x, y) = (x.round() as i32, y.round() as i32);
                            cv.disc(x, y, 5, OUTLINE);
                            cv.disc(x, y, 4, LOST);
                        }
                    }
                }
            }
        }
    }
}

impl Observer for NetView {
    fn topology(&mut self, topology: &Topology) {
        *self = NetView::new(topology, self.width, self.height);
    }

    fn moved(&mut self, dev: usize, position: [f64; 3], now_ns: u64) {
        NetView::moved(self, dev, position, now_ns)
    }

    fn link(&mut self, net: usize, dev: usize, up: bool, now_ns: u64) {
        NetView::link(self, net, dev, up, now_ns)
    }

    fn partition(&mut self, net: usize, groups: &[Vec<usize>], now_ns: u64) {
        NetView::partition(self, net, groups, now_ns)
    }

    fn packet(&mut self, packet: &PacketEvent) {
        NetView::packet(self, packet)
    }
}

/// Which members a partition cuts off: those outside the largest group
/// (members not named in any group form one more group).
fn cut_members(members: &[usize], groups: &[Vec<usize>]) -> Vec<bool> {
    if groups.is_empty() {
        return vec![false; members.len()];
    }
    let group_of = |d: usize| {
        groups
            .iter()
            .position(|g| g.contains(&d))
            .map_or(0, |i| i + 1)
    };
    let k = groups.len() + 1;
    let mut size = vec![0usize; k];
    for &d in members {
        size[group_of(d)] += 1;
    }
    // Largest; ties go to the first named group.
    let main = (0..k)
        .max_by_key(|&g| (size[g], std::cmp::Reverse(if g == 0 { k } else { g })))
        .unwrap_or(0);
    members.iter().map(|&d| group_of(d) != main).collect()
}

fn span_of(pts: &[(f64, f64)]) -> f64 {
    if pts.is_empty() {
        return 0.0;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    (x1 - x0).max(y1 - y0)
}

fn inverse(f: &Fit, px: f64, py: f64) -> (f64, f64) {
    (
        f.centre_m.0 + (px - f.centre_px.0) / f.scale,
        f.centre_m.1 - (py - f.centre_px.1) / f.scale,
    )
}

/// The grid spacing in metres (1, 2 or 5 times a power of ten) that puts
/// lines at least `min_px` apart.
pub fn grid_step(px_per_m: f64, min_px: f64) -> f64 {
    let want = min_px / px_per_m.max(1e-9);
    let mut p = 10f64.powf(want.log10().floor());
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * p >= want * (1.0 - 1e-9) {
                return m * p;
            }
        }
        p *= 10.0;
    }
}

fn fmt_metres(m: f64) -> String {
    if m >= 1000.0 {
        format!("{} km", trim(m / 1000.0))
    } else if m >= 1.0 {
        format!("{} m", trim(m))
    } else {
        format!("{} cm", trim(m * 100.0))
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// A board's name without folders and ".toml".
fn board_short(b: &str) -> String {
    let base = b.rsplit(['/', '\\']).next().unwrap_or(b);
    base.strip_suffix(".toml").unwrap_or(base).to_string()
}

fn overlaps(a: &Rect, b: &Rect) -> bool {
    a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
}

/// Pushes the `movable` boxes apart until none overlaps another (with a
/// gap, and `below` more pixels under each for its caption), keeping them
/// inside `bounds`: along the axis where they overlap least, half each.
fn separate(boxes: &mut [Rect], movable: &[bool], bounds: Rect, below: i32) {
    const GAP: i32 = 4;
    let ids: Vec<usize> = (0..boxes.len()).filter(|&i| movable[i]).collect();
    let clamp = |b: &mut Rect| {
        b.x =
            b.x.clamp(bounds.x, (bounds.x + bounds.w - b.w).max(bounds.x));
        b.y =
            b.y.clamp(bounds.y, (bounds.y + bounds.h - b.h - below).max(bounds.y));
    };
    for _ in 0..100 {
        let mut moved = false;
        for (k, &i) in ids.iter().enumerate() {
            for &j in &ids[k + 1..] {
                let (a, b) = (boxes[i], boxes[j]);
                let ox = (a.x + a.w).min(b.x + b.w) - a.x.max(b.x) + GAP;
                let oy = (a.y + a.h + below).min(b.y + b.h + below) - a.y.max(b.y) + GAP;
                if ox <= 0 || oy <= 0 {
                    continue;
                }
                moved = true;
                // Which way: by centres, ties by index (i first).
                let (ca, cb) = (
                    (a.x * 2 + a.w, a.y * 2 + a.h),
                    (b.x * 2 + b.w, b.y * 2 + b.h),
                );
                if ox < oy {
                    let d = if ca.0 <= cb.0 { 1 } else { -1 };
                    boxes[i].x -= d * (ox / 2 + 1);
                    boxes[j].x += d * (ox - ox / 2 + 1);
                } else {
                    let d = if ca.1 <= cb.1 { 1 } else { -1 };
                    boxes[i].y -= d * (oy / 2 + 1);
                    boxes[j].y += d * (oy - oy / 2 + 1);
                }
                clamp(&mut boxes[i]);
                clamp(&mut boxes[j]);
            }
        }
        if !moved {
            break;
        }
    }
}

/// `n` spots on ellipses around the centre of `cell`, starting at the top,
/// clockwise; more rings when one would crowd boxes of `box_size`.
fn ring(n: usize, cell: Rect, box_size: (i32, i32)) -> Vec<(i32, i32)> {
    let (cx, cy) = (
        cell.x as f64 + cell.w as f64 / 2.0,
        cell.y as f64 + cell.h as f64 / 2.0,
    );
    let rx = (cell.w as f64 / 2.0 - box_size.0 as f64 / 2.0 - 4.0).max(20.0);
    let ry = (cell.h as f64 / 2.0 - box_size.1 as f64 / 2.0 - 14.0)
        .min(rx.max(60.0) * 2.0)
        .max(16.0);
    let perimeter =
        |s: f64| std::f64::consts::PI * 2.0 * (((rx * s).powi(2) + (ry * s).powi(2)) / 2.0).sqrt();
    let spacing = (box_size.0 as f64 * 0.6 + box_size.1 as f64 * 0.4 + 10.0).max(24.0);
    // Rings at scales 1, 0.66, 0.33: how many fit on each.
    let scales = [1.0, 0.66, 0.36];
    let mut rings = 1;
    while rings < scales.len()
        && scales[..rings]
            .iter()
            .map(|&s| (perimeter(s) / spacing).floor())
            .sum::<f64>()
            < n as f64
    {
        rings += 1;
    }
    let caps: Vec<f64> = scales[..rings].iter().map(|&s| perimeter(s)).collect();
    let total: f64 = caps.iter().sum();
    let mut counts: Vec<usize> = caps
        .iter()
        .map(|c| ((c / total) * n as f64).floor() as usize)
        .collect();
    let mut left = n - counts.iter().sum::<usize>();
    let mut i = 0;
    while left > 0 {
        counts[i % rings] += 1;
        left -= 1;
        i += 1;
    }
    let mut out = Vec::with_capacity(n);
    for (ring, &k) in counts.iter().enumerate() {
        let s = scales[ring];
        // Inner rings start half a step round, so boxes do not line up.
        let offset = if ring % 2 == 1 { 0.5 } else { 0.0 };
        for j in 0..k {
            let a = -std::f64::consts::FRAC_PI_2
                + std::f64::consts::TAU * (j as f64 + offset) / k.max(1) as f64;
            out.push((
                (cx + rx * s * a.cos()).round() as i32,
                (cy + ry * s * a.sin()).round() as i32,
            ));
        }
    }
    out
}

/// `n` spots in rows filling `cell`.
fn grid(n: usize, cell: Rect) -> Vec<(i32, i32)> {
    let aspect = cell.w.max(1) as f64 / cell.h.max(1) as f64;
    let cols = ((n as f64 * aspect).sqrt().ceil() as usize).clamp(1, n.max(1));
    let rows = n.div_ceil(cols).max(1);
    (0..n)
        .map(|i| {
            let (r, c) = (i / cols, i % cols);
            (
                cell.x + cell.w * (2 * c as i32 + 1) / (2 * cols as i32),
                cell.y + cell.h * (2 * r as i32 + 1) / (2 * rows as i32),
            )
        })
        .collect()
}

/// A 0x00RRGGBB picture with a clip rectangle.
struct Canvas {
    w: i32,
    h: i32,
    px: Vec<u32>,
    clip: Rect,
}

impl Canvas {
    fn put(&mut self, x: i32, y: i32, c: u32) {
        if self.clip.contains(x, y) && x >= 0 && y >= 0 && x < self.w && y < self.h {
            self.px[(y * self.w + x) as usize] = c;
        }
    }

    fn fill(&mut self, r: Rect, c: u32) {
        for y in r.y..r.y + r.h {
            for x in r.x..r.x + r.w {
                self.put(x, y, c);
            }
        }
    }

    fn hline(&mut self, x0: i32, x1: i32, y: i32, c: u32) {
        for x in x0..x1 {
            self.put(x, y, c);
        }
    }

    fn vline(&mut self, x: i32, y0: i32, y1: i32, c: u32) {
        for y in y0..y1 {
            self.put(x, y, c);
        }
    }

    fn hline_dotted(&mut self, x0: i32, x1: i32, y: i32, c: u32) {
        for x in (x0..x1).filter(|x| x.rem_euclid(3) == 0) {
            self.put(x, y, c);
        }
    }

    fn vline_dotted(&mut self, x: i32, y0: i32, y1: i32, c: u32) {
        for y in (y0..y1).filter(|y| y.rem_euclid(3) == 0) {
            self.put(x, y, c);
        }
    }

    /// A line `thick` pixels wide; `dash` is (on, off) in steps.
    fn line(&mut self, a: (i32, i32), b: (i32, i32), c: u32, thick: i32, dash: Option<(i32, i32)>) {
        let (dx, dy) = ((b.0 - a.0).abs(), -(b.1 - a.1).abs());
        let (sx, sy) = (
            if a.0 < b.0 { 1 } else { -1 },
            if a.1 < b.1 { 1 } else { -1 },
        );
        let steep = -dy > dx;
        let (mut x, mut y, mut err) = (a.0, a.1, dx + dy);
        let mut step = 0;
        loop {
            let on = dash.is_none_or(|(on, off)| step % (on + off) < on);
            if on {
                for k in 0..thick {
                    if steep {
                        self.put(x + k, y, c);
                    } else {
                        self.put(x, y + k, c);
                    }
                }
            }
            if (x, y) == b {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
            step += 1;
        }
    }

    /// A one-pixel circle outline.
    fn circle(&mut self, cx: i32, cy: i32, r: i32, c: u32) {
        if r <= 0 {
            self.put(cx, cy, c);
            return;
        }
        let (mut x, mut y, mut err) = (r, 0, 1 - r);
        while x >= y {
            for (px, py) in [
                (x, y),
                (y, x),
                (-y, x),
                (-x, y),
                (-x, -y),
                (-y, -x),
                (y, -x),
                (x, -y),
            ] {
                self.put(cx + px, cy + py, c);
            }
            y += 1;
            if err < 0 {
                err += 2 * y + 1;
            } else {
                x -= 1;
                err += 2 * (y - x) + 1;
            }
        }
    }

    /// A two-pixel ring.
    fn ring(&mut self, cx: i32, cy: i32, r: i32, c: u32) {
        self.circle(cx, cy, r, c);
        self.circle(cx, cy, r - 1, c);
    }

    fn disc(&mut self, cx: i32, cy: i32, r: i32, c: u32) {
        let r2 = r * r + r;
        for dy in -r..=r {
            for dx in -r..=r {
                if dx * dx + dy * dy <= r2 {
                    self.put(cx + dx, cy + dy, c);
                }
            }
        }
    }

    /// A box with cut corners, filled, with an edge.
    fn rounded(&mut self, r: Rect, fill: u32, edge: u32) {
        for y in 0..r.h {
            for x in 0..r.w {
                let ex = x.min(r.w - 1 - x);
                let ey = y.min(r.h - 1 - y);
                // Corners cut along a 2-pixel diagonal.
                if ex + ey < 2 {
                    continue;
                }
                let border = ex == 0 || ey == 0 || ex + ey == 2;
                self.put(r.x + x, r.y + y, if border { edge } else { fill });
            }
        }
    }

    /// Draws `s` with its top-left at `x, y`; returns the x after it.
    fn text(&mut self, x: i32, y: i32, scale: i32, c: u32, s: &str) -> i32 {
        super::font::draw_text(x, y, scale, s, |px, py| self.put(px, py, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{TopologyDevice, TopologyNetwork};

    fn region() -> Rect {
        Rect {
            x: 100,
            y: 50,
            w: 400,
            h: 300,
        }
    }

    #[test]
    fn fit_centres_scales_uniformly_and_puts_north_up() {
        let pts = [(0.0, 0.0), (20.0, 0.0), (40.0, 0.0)];
        let f = fit(&pts, 20.0, 10.0, region());
        // 80 m across 400 px, 40 m (the padding) down 300: 5 px/m.
        assert_eq!(f.scale, 5.0);
        assert_eq!(f.to_px(0.0, 0.0), (200.0, 200.0));
        assert_eq!(f.to_px(40.0, 0.0), (400.0, 200.0));
        assert_eq!(f.to_px(20.0, 10.0), (300.0, 150.0));
        // Everything inside, with the padding as margin on both sides.
        for &(x, y) in &pts {
            let (px, py) = f.to_px(x, y);
            assert!(region().contains(px as i32, py as i32));
        }
        // One device: the minimum span; none: still a usable fit.
        let f = fit(&[(7.0, -3.0)], 0.0, 10.0, region());
        assert_eq!(f.scale, 30.0);
        assert_eq!(f.to_px(7.0, -3.0), (300.0, 200.0));
        let f = fit(&[], 0.0, 10.0, region());
        assert!(f.scale.is_finite() && f.scale > 0.0);
        // Tall layouts are limited by the height.
        let f = fit(&[(0.0, 0.0), (0.0, 100.0)], 0.0, 10.0, region());
        assert_eq!(f.scale, 3.0);
        assert_eq!(f.to_px(0.0, 100.0), (300.0, 50.0));
    }

    fn packet(net: usize, from: usize, to: Option<usize>, sent: u64, arrives: u64) -> PacketEvent {
        PacketEvent {
            net,
            from,
            to,
            meant_for: None,
            sent_ns: sent,
            arrives_ns: arrives,
            len: 60,
            kind: PacketKind::Icmp,
        }
    }

    #[test]
    fn packets_travel_for_a_visible_time() {
        let ms = 1_000_000;
        let p = packet(0, 0, Some(1), 1000 * ms, 1001 * ms);
        assert_eq!(flight(&p), (1000 * ms, MIN_FLIGHT_NS));
        assert_eq!(progress(&p, 999 * ms), None);
        assert_eq!(progress(&p, 1000 * ms), Some(0.0));
        assert_eq!(progress(&p, 1100 * ms), Some(0.5));
        assert_eq!(progress(&p, 1200 * ms), Some(1.0));
        assert_eq!(progress(&p, 1201 * ms), None);
        // A slow link keeps its own time.
        let slow = packet(0, 0, Some(1), 0, 800 * ms);
        assert_eq!(progress(&slow, 200 * ms), Some(0.25));

        let path = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)];
        assert_eq!(point_along(&path, 0.0), (0.0, 0.0));
        assert_eq!(point_along(&path, 0.25), (5.0, 0.0));
        assert_eq!(point_along(&path, 0.5), (10.0, 0.0));
        assert_eq!(point_along(&path, 0.75), (10.0, 5.0));
        assert_eq!(point_along(&path, 1.0), (10.0, 10.0));
        assert_eq!(point_along(&path, 7.0), (10.0, 10.0));
        assert_eq!(point_along(&[(3.0, 4.0), (3.0, 4.0)], 0.5), (3.0, 4.0));
        assert_eq!(point_along(&[(3.0, 4.0)], 0.5), (3.0, 4.0));
    }

    #[test]
    fn grid_steps_and_partitions() {
        assert_eq!(grid_step(5.0, 48.0), 10.0);
        assert_eq!(grid_step(4.6, 48.0), 20.0);
        assert_eq!(grid_step(100.0, 48.0), 0.5);
        assert_eq!(grid_step(0.01, 48.0), 5000.0);
        assert_eq!(fmt_metres(20.0), "20 m");
        assert_eq!(fmt_metres(0.5), "50 cm");
        assert_eq!(fmt_metres(2500.0), "2.5 km");
        let m = [0, 1, 2, 3];
        assert_eq!(cut_members(&m, &[]), vec![false; 4]);
        assert_eq!(
            cut_members(&m, &[vec![0, 2, 3], vec![1]]),
            vec![false, true, false, false]
        );
        assert_eq!(cut_members(&m, &[vec![1]]), vec![false, true, false, false]);
        assert_eq!(
            cut_members(&m, &[vec![0, 1], vec![2, 3]]),
            vec![false, false, true, true]
        );
        assert_eq!(board_short("../boards/my-board.toml"), "my-board");
    }

    /// Two wired devices without positions and two radios 20 m apart.
    fn topology() -> Topology {
        let dev = |name: &str, board: &str, x: f64| TopologyDevice {
            name: name.into(),
            board: board.into(),
            position: [x, 0.0, 0.0],
            moves_to: Vec::new(),
        };
        Topology {
            name: "test".into(),
            devices: vec![
                dev("hub", "mps2-an385", 0.0),
                dev("node", "mps2-an386", 0.0),
                dev("west", "sensor-node", 0.0),
                dev("east", "sensor-node", 20.0),
            ],
            networks: vec![
                TopologyNetwork {
                    name: "lan".into(),
                    wireless: false,
                    members: vec![0, 1],
                    range_m: None,
                    bridged: false,
                },
                TopologyNetwork {
                    name: "air".into(),
                    wireless: true,
                    members: vec![2, 3],
                    range_m: Some(30.0),
                    bridged: false,
                },
            ],
        }
    }

    /// Pixels of colour `c` between the header and the legend.
    fn count(f: &VideoFrame, c: u32) -> usize {
        let w = f.width as usize;
        let rows = HEADER_H as usize..f.height as usize - FOOTER_H as usize;
        f.pixels[rows.start * w..rows.end * w]
            .iter()
            .filter(|&&p| p == c)
            .count()
    }

    fn at(f: &VideoFrame, x: i32, y: i32) -> u32 {
        f.pixels[(y as u32 * f.width + x as u32) as usize]
    }

    #[test]
    fn lays_out_wired_devices_apart_and_radios_on_the_map() {
        let v = NetView::new(&topology(), 800, 600);
        let boxes = v.device_boxes(0);
        let centre = |d: usize| {
            let r = boxes[d].0;
            ((r[0] + r[2] / 2) as i32, (r[1] + r[3] / 2) as i32)
        };
        // Wired ones in the left third, radios on the map to the right,
        // east of west by 20 m on one row.
        assert!(centre(0).0 < 800 / 3 && centre(1).0 < 800 / 3);
        assert!(centre(2).0 > 800 / 3 && centre(3).0 > centre(2).0);
        assert_eq!(centre(2).1, centre(3).1);
        for (r, _) in &boxes {
            assert!(r[1] as i32 >= HEADER_H && (r[1] + r[3]) as i32 <= 600 - FOOTER_H);
        }
        assert_eq!(v.device_at(0, centre(3).0, centre(3).1), Some(3));
        assert_eq!(v.device_at(0, 2, 2), None);
        let f = v.render(0);
        assert_eq!((f.width, f.height, f.pixels.len()), (800, 600, 480_000));
        // Each board its colour; range circles; the wire to the switch.
        assert_eq!(at(&f, centre(0).0 - 20, centre(0).1 - 5), BOARD_COLOURS[0]);
        assert_eq!(at(&f, centre(1).0 - 20, centre(1).1 - 5), BOARD_COLOURS[1]);
        assert_eq!(at(&f, centre(2).0 - 20, centre(2).1 - 5), BOARD_COLOURS[2]);
        assert!(count(&f, RANGE_FILL[1]) > 1000 && count(&f, RANGE_EDGE) > 100);
        assert!(count(&f, WIRE) > 50 && count(&f, CUT) == 0);
        assert!(count(&f, RADIO_LINK) > 20);
    }

    #[test]
    fn pictures_depend_only_on_events_up_to_their_time() {
        let ms = 1_000_000;
        let mut v = NetView::new(&topology(), 800, 600);
        v.packet(&packet(1, 2, Some(3), 1000 * ms, 1002 * ms));
        let before = v.render(1100 * ms);
        // West to east, half way at 1.1 s: a dot of its kind's colour.
        let boxes = v.device_boxes(0);
        let cx = |d: usize| (boxes[d].0[0] + boxes[d].0[2] / 2) as i32;
        let cy = (boxes[2].0[1] + boxes[2].0[3] / 2) as i32;
        let mid = (cx(2) + cx(3)) / 2;
        assert_eq!(at(&before, mid, cy), KIND_COLOURS[PacketKind::Icmp.index()]);
        assert_eq!(v.render(1100 * ms).pixels, before.pixels);
        // Later events change later pictures only.
        v.packet(&packet(0, 0, None, 1500 * ms, 1500 * ms));
        v.link(0, 1, false, 1500 * ms);
        v.moved(3, [25.0, 0.0, 0.0], 1500 * ms);
        v.power(2, false, 1500 * ms);
        assert_eq!(v.render(1100 * ms).pixels, before.pixels);
        let after = v.render(1550 * ms);
        assert_ne!(after.pixels, before.pixels);
        // The lost frame flashes, the link is cut, west is off.
        assert!(count(&after, LOST) > 20);
        assert!(count(&after, CUT) > 20);
        assert!(count(&after, OFF_FILL) > 100);
        assert_eq!(count(&after, KIND_COLOURS[PacketKind::Icmp.index()]), 0);
        // The flash is over after FLASH_NS; forgetting keeps the counts.
        let late = v.render(3000 * ms);
        assert_eq!(count(&late, LOST), count(&v.render(3001 * ms), LOST));
        v.forget_before(3000 * ms);
        assert_eq!(v.render(3000 * ms).pixels, late.pixels);
    }
}
