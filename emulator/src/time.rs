//! Virtual time: durations as users write them, and conversions between
//! seconds and a machine's clock ticks.

use ensemble_devices::Ticks;

/// Parse "10s", "250ms", "20us", "1500ns", "2m" or a bare number of seconds.
pub fn parse_duration_ns(s: &str) -> Option<u128> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let scale = match unit.trim() {
        "" | "s" => 1e9,
        "ms" => 1e6,
        "us" => 1e3,
        "ns" => 1.0,
        "m" | "min" => 60e9,
        _ => return None,
    };
    Some((v * scale).round() as u128)
}

pub fn ns_to_ticks(ns: u128, clock_hz: u64) -> Ticks {
    (ns * clock_hz as u128 / 1_000_000_000) as Ticks
}

pub fn ticks_to_secs(t: Ticks, clock_hz: u64) -> f64 {
    t as f64 / clock_hz as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("10s"), Some(10_000_000_000));
        assert_eq!(parse_duration_ns("250ms"), Some(250_000_000));
        assert_eq!(parse_duration_ns("1.5"), Some(1_500_000_000));
        assert_eq!(parse_duration_ns("3 fortnights"), None);
        assert_eq!(ns_to_ticks(1_000_000_000, 25_000_000), 25_000_000);
    }
}
