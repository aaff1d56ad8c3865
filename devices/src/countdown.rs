//! The down-counter shared by the CMSDK timer, dual timer and watchdog.
//!
//! Reference: QEMU `hw/core/ptimer.c`, with the policy set all three CMSDK
//! models use: the counter holds at zero for one period before reloading,
//! reaching zero from a register write raises nothing, a zero count is not
//! reloaded at once, and reads are not rounded down.
//!
//! Times are machine ticks; `period` is how many ticks one count lasts (the
//! dual timer's prescaler). A read at tick `t` sees the counter just after
//! that tick's clock edge, so a counter loaded with `n` at tick `t0` reads
//! `n - k` at `t0 + k * period`. Register writes are grouped the way QEMU
//! groups them (`begin`, any number of changes, `commit`), because the
//! order in which a write's effects are applied is visible to the guest.

use crate::Ticks;

/// Whether the counter runs, and what it does on reaching zero.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Stopped,
    /// Reload from the limit and keep counting.
    Periodic,
    /// Stop at zero.
    OneShot,
}

/// How a reload adjusts the count it loads.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
enum Reload {
    /// Started or rewritten by a register access: no interrupt, no extra period.
    Start,
    /// Normal expiry: the counter spends one more period at zero first.
    Wrap,
    /// Expiry of the one-period pause that follows writing zero: no extra period.
    Plain,
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub(crate) struct Countdown {
    mode: Mode,
    limit: u64,
    /// Count loaded at `last_event` (while running) or the frozen count.
    delta: u64,
    period: u64,
    last_event: Ticks,
    next_event: Ticks,
    need_reload: bool,
}

impl Countdown {
    pub fn new(period: u64) -> Self {
        Countdown {
            mode: Mode::Stopped,
            limit: 0,
            delta: 0,
            period: period.max(1),
            last_event: 0,
            next_event: 0,
            need_reload: false,
        }
    }

    pub fn is_running(&self) -> bool {
        self.mode != Mode::Stopped
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// When the counter next reaches zero (or, after a zero was written,
    /// reloads), if it is running.
    pub fn deadline(&self) -> Option<Ticks> {
        self.is_running().then_some(self.next_event)
    }

    /// The count as the guest reads it at `now`.
    pub fn count(&self, now: Ticks) -> u64 {
        if self.mode == Mode::Stopped || self.delta == 0 {
            return self.delta;
        }
        if now >= self.next_event {
            // Expired but not yet processed; callers process expiries first.
            return 0;
        }
        let c = (self.next_event - now).div_ceil(self.period);
        if self.mode == Mode::Periodic && self.delta == self.limit && c - 1 == self.limit {
            // The extra period at zero that follows a wrap.
            0
        } else {
            c
        }
    }

    pub fn begin(&mut self) {
        self.need_reload = false;
    }

    /// Apply the changes made since [`Countdown::begin`].
    pub fn commit(&mut self, now: Ticks) {
        while self.need_reload && self.is_running() {
            self.need_reload = false;
            self.next_event = now;
            // A start never raises the interrupt, whatever the count.
            self.reload(Reload::Start);
        }
        self.need_reload = false;
    }

    pub fn set_count(&mut self, count: u64) {
        self.delta = count;
        if self.is_running() {
            self.need_reload = true;
        }
    }

    pub fn set_limit(&mut self, limit: u64, reload_count: bool) {
        self.limit = limit;
        if reload_count {
            self.delta = limit;
            if self.is_running() {
                self.need_reload = true;
            }
        }
    }

    /// Start counting, or only change the mode if already running.
    pub fn run(&mut self, one_shot: bool) {
        let was_stopped = !self.is_running();
        self.mode = if one_shot {
            Mode::OneShot
        } else {
            Mode::Periodic
        };
        if was_stopped {
            self.need_reload = true;
        }
    }

    /// Freeze the counter at its value at `now`.
    pub fn stop(&mut self, now: Ticks) {
        if !self.is_running() {
            return;
        }
        self.delta = self.count(now);
        self.mode = Mode::Stopped;
        self.need_reload = false;
    }

    pub fn set_period(&mut self, period: u64, now: Ticks) {
        self.delta = self.count(now);
        self.period = period.max(1);
        if self.is_running() {
            self.need_reload = true;
        }
    }

    /// Load the next countdown from `next_event`. Returns whether the
    /// interrupt fires here (a periodic counter whose limit is zero).
    fn reload(&mut self, how: Reload) -> bool {
        let fire = self.delta == 0 && how != Reload::Start;
        let mut delta = self.delta;
        if how == Reload::Wrap {
            delta += 1;
        }
        if delta == 0 && self.mode == Mode::Periodic && self.limit != 0 {
            // Written to zero: sit at zero for one period, then reload.
            delta = 1;
        }
        if delta == 0 {
            self.mode = Mode::Stopped;
            return fire;
        }
        self.last_event = self.next_event;
        self.next_event = self
            .last_event
            .saturating_add(delta.saturating_mul(self.period));
        fire
    }

    /// Process the expiry at [`Countdown::deadline`]. Returns whether it
    /// raises the interrupt. Does nothing when stopped.
    pub fn expire(&mut self) -> bool {
        match self.mode {
            Mode::Stopped => false,
            Mode::OneShot => {
                self.delta = 0;
                self.mode = Mode::Stopped;
                true
            }
            Mode::Periodic => {
                let how = if self.delta == 0 || self.limit == 0 {
                    Reload::Plain
                } else {
                    Reload::Wrap
                };
                self.delta = self.limit;
                let fired = self.reload(how);
                fired || how == Reload::Wrap
            }
        }
    }

    /// Process every expiry up to and including `now`; returns how many
    /// raised the interrupt. For devices whose expiry action is idempotent.
    pub fn expire_until(&mut self, now: Ticks) -> u64 {
        let mut fired = 0u64;
        while self.is_running() && self.next_event <= now {
            if self.mode == Mode::Periodic && self.delta == self.limit && self.limit != 0 {
                // Steady state: every further expiry is one full span apart.
                let span = (self.limit + 1).saturating_mul(self.period);
                let n = (now - self.next_event) / span + 1;
                self.next_event = self.next_event.saturating_add(n.saturating_mul(span));
                self.last_event = self.next_event - span;
                fired = fired.saturating_add(n);
            } else if self.expire() {
                fired += 1;
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(limit: u64, one_shot: bool, now: Ticks) -> Countdown {
        let mut c = Countdown::new(1);
        c.begin();
        c.set_limit(limit, true);
        c.run(one_shot);
        c.commit(now);
        c
    }

    #[test]
    fn periodic_holds_zero_for_one_tick_then_reloads() {
        let mut c = started(3, false, 100);
        let mut seen = Vec::new();
        for t in 100..=109 {
            let fired = c.expire_until(t);
            seen.push((c.count(t), fired));
        }
        assert_eq!(
            seen,
            vec![
                (3, 0),
                (2, 0),
                (1, 0),
                (0, 1),
                (3, 0),
                (2, 0),
                (1, 0),
                (0, 1),
                (3, 0),
                (2, 0)
            ]
        );
    }

    #[test]
    fn fast_forward_matches_stepping() {
        let mut a = started(7, false, 5);
        let mut b = started(7, false, 5);
        let mut stepped = 0;
        for t in 5..=1000 {
            stepped += a.expire_until(t);
        }
        assert_eq!(b.expire_until(1000), stepped);
        assert_eq!(a.count(1000), b.count(1000));
        assert_eq!(a.deadline(), b.deadline());
    }

    #[test]
    fn one_shot_stops_at_zero() {
        let mut c = started(4, true, 0);
        assert_eq!(c.expire_until(3), 0);
        assert_eq!(c.count(3), 1);
        assert_eq!(c.expire_until(4), 1);
        assert_eq!(c.count(50), 0);
        assert!(!c.is_running());
    }

    #[test]
    fn prescaled_count_changes_every_period() {
        let mut c = Countdown::new(16);
        c.begin();
        c.set_limit(2, true);
        c.run(true);
        c.commit(0);
        assert_eq!(c.count(0), 2);
        assert_eq!(c.count(15), 2);
        assert_eq!(c.count(16), 1);
        assert_eq!(c.deadline(), Some(32));
    }

    #[test]
    fn zero_written_to_periodic_pauses_then_reloads_silently() {
        let mut c = started(5, false, 0);
        c.begin();
        c.set_count(0);
        c.commit(2);
        assert_eq!(c.count(2), 0);
        assert_eq!(c.expire_until(3), 0);
        assert_eq!(c.count(3), 5);
        assert_eq!(c.expire_until(8), 1);
    }

    #[test]
    fn periodic_with_zero_limit_fires_once_and_stops() {
        let mut c = started(5, false, 0);
        c.begin();
        c.set_limit(0, false);
        c.commit(1);
        assert_eq!(c.expire_until(100), 1);
        assert!(!c.is_running());
    }
}
