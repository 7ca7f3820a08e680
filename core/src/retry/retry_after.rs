//! Reading an upstream's `Retry-After` header.
//!
//! An upstream that answers 503 or 429 with `Retry-After` knows better than any backoff formula
//! when it will be ready again, so a retry should wait at least that long. The header is untrusted
//! input from the network: it may be a number of seconds (`120`), an HTTP-date in any of the three
//! forms RFC 9110 §5.6.7 obliges a recipient to accept, or garbage. This parser takes raw bytes,
//! returns `None` for anything it cannot read, and never panics.
//!
//! The date arithmetic is written out here (days from the civil calendar, proleptic Gregorian)
//! rather than pulled in from a date crate: three fixed layouts and one formula do not justify a
//! dependency in a wasm filter.
//!
//! Two rules keep the answer sane. A date in the past means "now": the wait is zero. A wait longer
//! than [`MAX_RETRY_AFTER_SECS`] (2^31 seconds, the value RFC 9111 §1.2.2 tells caches to use when
//! a delta-seconds overflows) is clamped to it, so callers can add it to an instant without care.

use crate::time::Nanos;

/// The longest wait [`parse_retry_after`] returns, in seconds: 2^31 (about 68 years).
pub const MAX_RETRY_AFTER_SECS: u64 = 1 << 31;

const NANOS_PER_SEC: i128 = 1_000_000_000;
const SHORT_DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
const LONG_DAYS: [&[u8]; 7] = [
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
    b"Sunday",
];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// How long to wait according to a `Retry-After` value, given the current Unix time.
///
/// Accepts delta-seconds (`120`) and HTTP-dates: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// the obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`, two-digit years read as at most
/// 50 years ahead of `now_unix`) and asctime (`Sun Nov  6 08:49:37 1994`). Surrounding spaces and
/// tabs are ignored; names are case-sensitive, as RFC 9110 specifies, and the day name is checked
/// for spelling only, not against the date. A date at or before
/// `now_unix` gives zero; anything longer than [`MAX_RETRY_AFTER_SECS`] gives that cap. Invalid
/// UTF-8, impossible dates and anything else unreadable give `None`.
pub fn parse_retry_after(value: &[u8], now_unix: Nanos) -> Option<Nanos> {
    let value = trim(value);
    if value.is_empty() {
        return None;
    }
    let cap = Nanos::from_secs(MAX_RETRY_AFTER_SECS);
    if value.iter().all(u8::is_ascii_digit) {
        let secs = value.iter().fold(0u64, |acc, &d| {
            acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        return Some(Nanos::from_secs(secs).min(cap));
    }
    let at = http_date(value, now_unix)?;
    let wait = i128::from(at) * NANOS_PER_SEC - i128::from(now_unix.as_nanos());
    let wait = wait.clamp(0, i128::from(cap.as_nanos()));
    Some(Nanos::new(u64::try_from(wait).unwrap_or(u64::MAX)))
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Seconds since the Unix epoch of an HTTP-date in any of its three forms.
fn http_date(v: &[u8], now_unix: Nanos) -> Option<i64> {
    if let Some(rest) = day_name(v, &SHORT_DAYS).and_then(|r| r.strip_prefix(b", ")) {
        imf_fixdate(rest)
    } else if let Some(rest) = day_name(v, &LONG_DAYS).and_then(|r| r.strip_prefix(b", ")) {
        rfc850(rest, now_unix)
    } else if let Some(rest) = day_name(v, &SHORT_DAYS).and_then(|r| r.strip_prefix(b" ")) {
        asctime(rest)
    } else {
        None
    }
}

fn day_name<'a>(v: &'a [u8], names: &[&[u8]]) -> Option<&'a [u8]> {
    names.iter().find_map(|n| v.strip_prefix(*n))
}

/// `06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(v: &[u8]) -> Option<i64> {
    let [
        d1,
        d2,
        b' ',
        m1,
        m2,
        m3,
        b' ',
        y1,
        y2,
        y3,
        y4,
        b' ',
        time @ ..,
        b' ',
        b'G',
        b'M',
        b'T',
    ] = v
    else {
        return None;
    };
    let day = digits(&[*d1, *d2])?;
    let month = month(&[*m1, *m2, *m3])?;
    let year = digits(&[*y1, *y2, *y3, *y4])?;
    unix_secs(year as i64, month, day, time)
}

/// `06-Nov-94 08:49:37 GMT`
fn rfc850(v: &[u8], now_unix: Nanos) -> Option<i64> {
    let [
        d1,
        d2,
        b'-',
        m1,
        m2,
        m3,
        b'-',
        y1,
        y2,
        b' ',
        time @ ..,
        b' ',
        b'G',
        b'M',
        b'T',
    ] = v
    else {
        return None;
    };
    let day = digits(&[*d1, *d2])?;
    let month = month(&[*m1, *m2, *m3])?;
    let yy = i64::from(digits(&[*y1, *y2])?);
    // RFC 9110 §5.6.7: a two-digit year that looks more than 50 years ahead is in the past.
    let (now_year, _, _) = civil_from_days((now_unix.as_nanos() / 86_400_000_000_000) as i64);
    let mut year = now_year - now_year.rem_euclid(100) + yy;
    if year > now_year + 50 {
        year -= 100;
    }
    unix_secs(year, month, day, time)
}

/// `Nov  6 08:49:37 1994` (day space-padded or two digits)
fn asctime(v: &[u8]) -> Option<i64> {
    let [
        m1,
        m2,
        m3,
        b' ',
        d1,
        d2,
        b' ',
        time @ ..,
        b' ',
        y1,
        y2,
        y3,
        y4,
    ] = v
    else {
        return None;
    };
    let month = month(&[*m1, *m2, *m3])?;
    let day = match d1 {
        b' ' => digits(&[*d2])?,
        _ => digits(&[*d1, *d2])?,
    };
    let year = digits(&[*y1, *y2, *y3, *y4])?;
    unix_secs(year as i64, month, day, time)
}

/// A fixed-width run of ASCII digits.
fn digits(v: &[u8]) -> Option<u32> {
    v.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

fn month(v: &[u8]) -> Option<u32> {
    MONTHS.iter().position(|m| *m == v).map(|i| i as u32 + 1)
}

/// Validates the date and `HH:MM:SS` and converts to Unix seconds.
fn unix_secs(year: i64, month: u32, day: u32, time: &[u8]) -> Option<i64> {
    let [h1, h2, b':', m1, m2, b':', s1, s2] = time else {
        return None;
    };
    let (h, m, s) = (
        digits(&[*h1, *h2])?,
        digits(&[*m1, *m2])?,
        digits(&[*s1, *s2])?,
    );
    // Second 60 is a leap second (RFC 5322 allows it); it reads as the next second.
    if h > 23 || m > 59 || s > 60 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(h * 3600 + m * 60 + s))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = (i64::from(month) + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month, day)`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
