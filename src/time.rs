//! Capture time. Everything below the CLI runs on packet timestamps, never on the wall clock, so
//! an offline analysis gives the same answer however fast it runs.

use std::fmt;

/// Nanoseconds since the Unix epoch, as written by the capture (may go backwards between files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// The resolution the capture file itself records, so output shows no false digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    #[default]
    Micro,
    Nano,
}

impl Timestamp {
    pub const fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Seconds from `earlier` to `self`, zero when `earlier` is later (time went backwards).
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0).max(0))
    }

    /// The time in UTC with `format` (chrono's strftime syntax); empty outside chrono's range.
    fn format_utc(self, format: &str) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        chrono::DateTime::from_timestamp(secs, nanos as u32)
            .map(|dt| dt.format(format).to_string())
            .unwrap_or_default()
    }

    /// RFC 3339 in UTC with microsecond or nanosecond fraction, e.g. `2020-02-12T10:11:12.123456Z`.
    pub fn rfc3339(self, precision: Precision) -> String {
        match precision {
            Precision::Micro => self.format_utc("%Y-%m-%dT%H:%M:%S%.6fZ"),
            Precision::Nano => self.format_utc("%Y-%m-%dT%H:%M:%S%.9fZ"),
        }
    }

    /// The UTC day, e.g. `2020-02-12`; empty outside chrono's range.
    pub fn utc_day(self) -> String {
        self.format_utc("%Y-%m-%d")
    }

    /// The UTC hour of the day, `00` to `23`; empty outside chrono's range.
    pub fn utc_hour(self) -> String {
        self.format_utc("%H")
    }
}

/// A non-negative span of capture time in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Duration {
    pub const fn from_secs(secs: i64) -> Self {
        Duration(secs.saturating_mul(1_000_000_000))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339(Precision::Nano))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_in_both_precisions() {
        let t = Timestamp::from_secs_nanos(1_581_502_272, 123_456_789);
        assert_eq!(t.rfc3339(Precision::Micro), "2020-02-12T10:11:12.123456Z");
        assert_eq!(t.rfc3339(Precision::Nano), "2020-02-12T10:11:12.123456789Z");
    }

    #[test]
    fn backwards_time_is_zero_duration() {
        let a = Timestamp(10);
        let b = Timestamp(5);
        assert_eq!(b.saturating_since(a), Duration(0));
        assert_eq!(a.saturating_since(b), Duration(5));
    }
}
