//! Debugger watchpoints: guest data accesses that stop the machine, as an
//! ARM core's debug watchpoints do, before the accessing instruction
//! completes.
//!
//! The machine hooks the engine's memory accesses only over watched
//! ranges and only once a debugger sets a watchpoint, so a run without one
//! pays nothing. Hooks are never removed (see `Machine::set_breakpoint`):
//! a range stays hooked after its watchpoint goes, and its hook then finds
//! nothing to stop for.
//!
//! The M-profile exception model makes accesses of its own that no engine
//! hook sees: entry pushes the interrupted context's frame (8 words, or 26
//! with the FP extension's S0-S15 and FPSCR) and return pops it. As a
//! DWT comparator does on silicon, a watchpoint fires for them too (write
//! and access kinds for the stacking, read and access kinds for the
//! unstacking). Entry and return are not instructions a debugger could
//! stop before and step over, so such a hit is reported once they are
//! complete: at the handler's first instruction after an entry (stacking
//! done, the frame holds the stacked values), at the instruction the
//! return goes back to after a return. Nothing is pending then, so the
//! machine simply runs on when continued. The FP registers are stacked at
//! entry rather than lazily at the handler's first FP instruction (see
//! `cortex_m::enter`), so a hit on them is reported at entry as well; a
//! tail-chained exception is modelled as a return and an entry, so its
//! frame may be read and written where silicon would skip both.

use std::collections::BTreeSet;

/// Which accesses a watchpoint stops for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WatchKind {
    Write,
    Read,
    /// Reads and writes.
    Access,
}

impl WatchKind {
    fn covers(self, write: bool) -> bool {
        match self {
            WatchKind::Write => write,
            WatchKind::Read => !write,
            WatchKind::Access => true,
        }
    }
}

/// A watchpoint that fired: the address within the watched range the
/// access touched first, and the watchpoint's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchHit {
    pub addr: u32,
    pub kind: WatchKind,
}

/// An access can start this many bytes before a watched range and still
/// touch it (the engine's accesses are at most 8 bytes). The engine checks
/// a hook's range against an access's first byte only.
const REACH_BEFORE: u64 = 7;

#[derive(Debug, Default)]
pub struct Watchpoints {
    /// In force: (start, length, kind), once per time it was set.
    set: Vec<(u64, u64, WatchKind)>,
    /// Ranges that have a memory hook: (first byte, last byte, for writes).
    hooked: BTreeSet<(u64, u64, bool)>,
    /// Stopped at a hit: the instruction at this PC has not made its access
    /// yet. The next step runs it without stopping for it again.
    pub pending: Option<u64>,
    /// Hits are not looked for (while stepping over `pending`).
    pub suspended: bool,
    /// An exception entry or return touched a watched range (see the
    /// module's notes): the first such hit, not reported yet.
    pub frame_hit: Option<WatchHit>,
}

impl Watchpoints {
    /// Watch `len` bytes at `start`. Returns the ranges that need a new
    /// memory hook: (first byte, last byte, for writes, else reads).
    pub fn insert(&mut self, start: u64, len: u64, kind: WatchKind) -> Vec<(u64, u64, bool)> {
        let len = len.max(1);
        self.set.push((start, len, kind));
        let first = start.saturating_sub(REACH_BEFORE);
        let last = start.saturating_add(len - 1);
        let mut new = Vec::new();
        for write in [false, true] {
            if kind.covers(write) && self.hooked.insert((first, last, write)) {
                new.push((first, last, write));
            }
        }
        new
    }

    /// Stop watching what one `insert` with the same arguments watched.
    /// False when no such watchpoint is set.
    pub fn remove(&mut self, start: u64, len: u64, kind: WatchKind) -> bool {
        let len = len.max(1);
        match self.set.iter().position(|&w| w == (start, len, kind)) {
            Some(i) => {
                self.set.remove(i);
                true
            }
            None => false,
        }
    }

    pub fn clear(&mut self) {
        self.set.clear();
        self.pending = None;
        self.frame_hit = None;
    }

    /// The exception model read or wrote `len` bytes of a stack frame at
    /// `addr`: keep the first hit for the machine to report. Costs one
    /// test while nothing is watched.
    #[inline]
    pub fn frame_access(&mut self, addr: u32, len: u32, write: bool) {
        if self.set.is_empty() || self.frame_hit.is_some() {
            return;
        }
        self.frame_hit = self.hit(addr as u64, len as usize, write);
    }

    /// Does an access of `size` bytes at `addr` hit a watchpoint?
    pub fn hit(&self, addr: u64, size: usize, write: bool) -> Option<WatchHit> {
        if self.suspended {
            return None;
        }
        let end = addr.saturating_add(size.max(1) as u64);
        self.set
            .iter()
            .find(|&&(start, len, kind)| kind.covers(write) && addr < start + len && start < end)
            .map(|&(start, _, kind)| WatchHit {
                addr: addr.max(start) as u32,
                kind,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_by_kind_and_overlap() {
        let mut w = Watchpoints::default();
        assert_eq!(
            w.insert(0x2000_0010, 4, WatchKind::Write),
            vec![(0x2000_0009, 0x2000_0013, true)]
        );
        // Writes that touch the word, from before it, inside it, or after.
        let hit = |w: &Watchpoints, a, s, wr| w.hit(a, s, wr).map(|h| h.addr);
        assert_eq!(hit(&w, 0x2000_0010, 4, true), Some(0x2000_0010));
        assert_eq!(hit(&w, 0x2000_000e, 4, true), Some(0x2000_0010));
        assert_eq!(hit(&w, 0x2000_0013, 1, true), Some(0x2000_0013));
        assert_eq!(hit(&w, 0x2000_0014, 4, true), None);
        assert_eq!(hit(&w, 0x2000_000c, 4, true), None);
        // A write watchpoint ignores reads.
        assert_eq!(hit(&w, 0x2000_0010, 4, false), None);
        // Access watchpoints need both hooks; the write one exists.
        assert_eq!(
            w.insert(0x2000_0010, 4, WatchKind::Access),
            vec![(0x2000_0009, 0x2000_0013, false)]
        );
        assert_eq!(hit(&w, 0x2000_0010, 2, false), Some(0x2000_0010));
        assert!(w.insert(0x2000_0010, 4, WatchKind::Read).is_empty());
        // Removing is one at a time, and hooks stay.
        assert!(w.remove(0x2000_0010, 4, WatchKind::Access));
        assert!(!w.remove(0x2000_0010, 4, WatchKind::Access));
        assert_eq!(
            w.hit(0x2000_0010, 4, false).map(|h| h.kind),
            Some(WatchKind::Read)
        );
        w.suspended = true;
        assert_eq!(w.hit(0x2000_0010, 4, true), None);
        w.suspended = false;
        // Frame accesses by the exception model: the first hit is kept.
        w.frame_access(0x2000_0000, 0x10, false);
        assert_eq!(w.frame_hit, None);
        w.frame_access(0x2000_0008, 0x20, true);
        w.frame_access(0x2000_0010, 4, false);
        assert_eq!(
            w.frame_hit,
            Some(WatchHit {
                addr: 0x2000_0010,
                kind: WatchKind::Write
            })
        );
        w.clear();
        assert_eq!(w.frame_hit, None);
        assert_eq!(w.hit(0x2000_0010, 4, true), None);
        assert!(w.insert(0x2000_0010, 4, WatchKind::Write).is_empty());
    }
}
