use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// HttpDate is a point in time with one-second resolution, as carried by
/// `Date`, `Last-Modified` and `If-Modified-Since` (RFC 9110 §5.6.7).
///
/// It formats as the preferred IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`)
/// and parses all three formats a recipient must accept: IMF-fixdate, the
/// obsolete RFC 850 form and asctime. Dates before 1970 are not
/// representable and fail to parse.
///
/// # Examples
/// ```
/// use sockhttp::HttpDate;
/// let d = HttpDate::parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
/// assert_eq!(d.unix_secs(), 784111777);
/// assert_eq!(HttpDate::parse("Sunday, 06-Nov-94 08:49:37 GMT"), Some(d));
/// assert_eq!(HttpDate::parse("Sun Nov  6 08:49:37 1994"), Some(d));
/// assert_eq!(d.to_string(), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpDate(u64);

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl HttpDate {
    /// Makes a date from seconds since the Unix epoch.
    pub fn from_unix_secs(secs: u64) -> HttpDate {
        HttpDate(secs)
    }

    /// Returns seconds since the Unix epoch.
    pub fn unix_secs(self) -> u64 {
        self.0
    }

    /// Truncates a `SystemTime` to whole seconds; times before 1970 become
    /// the epoch.
    pub fn from_system_time(t: SystemTime) -> HttpDate {
        HttpDate(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    /// Converts back to a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0)
    }

    /// Formats the date as IMF-fixdate into exactly 29 bytes.
    pub fn to_bytes(self) -> [u8; 29] {
        let secs = self.0;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
        let mut out = [0u8; 29];
        let wd = DAYS[(days % 7) as usize].as_bytes();
        out[..3].copy_from_slice(wd);
        out[3..5].copy_from_slice(b", ");
        put2(&mut out[5..7], d);
        out[7] = b' ';
        out[8..11].copy_from_slice(MONTHS[(m - 1) as usize].as_bytes());
        out[11] = b' ';
        // Years past 9999 cannot be written in four digits; clamp rather
        // than emit a malformed date.
        let y = y.min(9999);
        put2(&mut out[12..14], y / 100);
        put2(&mut out[14..16], y % 100);
        out[16] = b' ';
        put2(&mut out[17..19], hh);
        out[19] = b':';
        put2(&mut out[20..22], mm);
        out[22] = b':';
        put2(&mut out[23..25], ss);
        out[25..29].copy_from_slice(b" GMT");
        out
    }

    /// Parses an HTTP-date in any of the three formats of RFC 9110 §5.6.7.
    /// Returns `None` for anything else (RFC 9110 says an invalid
    /// `If-Modified-Since` is ignored, which `None` lets the caller do).
    pub fn parse(s: &str) -> Option<HttpDate> {
        parse_imf_fixdate(s)
            .or_else(|| parse_rfc850(s))
            .or_else(|| parse_asctime(s))
    }
}

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.to_bytes();
        f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?)
    }
}

fn put2(out: &mut [u8], v: u64) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), after
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: u64) -> (u64, u64, u64) {
    let z = z + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01; `None` before 1970 or for
/// an impossible day.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || y < 1970 {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y % 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn num(s: &str, len: usize) -> Option<u64> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month(s: &str) -> Option<u64> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as u64 + 1)
}

fn time(s: &str) -> Option<u64> {
    let mut it = s.split(':');
    let (h, m, sec) = (
        num(it.next()?, 2)?,
        num(it.next()?, 2)?,
        num(it.next()?, 2)?,
    );
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec.min(59))
}

fn assemble(y: u64, m: u64, d: u64, t: u64) -> Option<HttpDate> {
    Some(HttpDate(days_from_civil(y, m, d)? * 86_400 + t))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf_fixdate(s: &str) -> Option<HttpDate> {
    let rest = s.strip_suffix(" GMT")?;
    let (wd, rest) = rest.split_once(", ")?;
    if !DAYS.contains(&wd) {
        return None;
    }
    let mut p = rest.split(' ');
    let d = num(p.next()?, 2)?;
    let m = month(p.next()?)?;
    let y = num(p.next()?, 4)?;
    let t = time(p.next()?)?;
    if p.next().is_some() {
        return None;
    }
    assemble(y, m, d, t)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`; two-digit years are read as 19xx
/// before 70 and 20xx after, within 50 years as RFC 9110 asks.
fn parse_rfc850(s: &str) -> Option<HttpDate> {
    let rest = s.strip_suffix(" GMT")?;
    let (_wd, rest) = rest.split_once(", ")?;
    let (date, t) = rest.split_once(' ')?;
    let mut p = date.split('-');
    let d = num(p.next()?, 2)?;
    let m = month(p.next()?)?;
    let yy = num(p.next()?, 2)?;
    if p.next().is_some() {
        return None;
    }
    let y = if yy >= 70 { 1900 + yy } else { 2000 + yy };
    assemble(y, m, d, time(t)?)
}

/// `Sun Nov  6 08:49:37 1994`
fn parse_asctime(s: &str) -> Option<HttpDate> {
    if s.len() != 24 {
        return None;
    }
    let wd = s.get(0..3)?;
    if !DAYS.contains(&wd) || s.get(3..4)? != " " || s.get(7..8)? != " " {
        return None;
    }
    let m = month(s.get(4..7)?)?;
    let d = s.get(8..10)?.trim_start();
    let d = num(d, d.len())?;
    if s.get(10..11)? != " " || s.get(19..20)? != " " {
        return None;
    }
    let t = time(s.get(11..19)?)?;
    let y = num(s.get(20..24)?, 4)?;
    assemble(y, m, d, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        let cases: &[(u64, &str)] = &[
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784111777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951782400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1798761599, "Thu, 31 Dec 2026 23:59:59 GMT"),
        ];
        for &(secs, want) in cases {
            let got = HttpDate::from_unix_secs(secs).to_string();
            assert_eq!(got, want, "format({secs})");
            assert_eq!(HttpDate::parse(want), Some(HttpDate(secs)), "parse({want})");
        }
    }

    #[test]
    fn round_trips_every_day_for_decades() {
        for day in (0..40_000u64).step_by(7) {
            let secs = day * 86_400 + 3_661;
            let d = HttpDate(secs);
            assert_eq!(HttpDate::parse(&d.to_string()), Some(d));
        }
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun Nov  6 08:49:37 94",
            "1994-11-06T08:49:37Z",
        ] {
            assert_eq!(HttpDate::parse(bad), None, "parse({bad:?})");
        }
    }
}
