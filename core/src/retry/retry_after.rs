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
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 1994-11-06T08:49:37Z, the RFC's example instant.
    const EXAMPLE: u64 = 784_111_777;

    fn at(secs: u64) -> Nanos {
        Nanos::from_secs(secs)
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_retry_after(b"120", at(5)), Some(at(120)));
        assert_eq!(parse_retry_after(b" 0\t", at(5)), Some(Nanos::ZERO));
        assert_eq!(parse_retry_after(b"007", at(5)), Some(at(7)));
        let cap = Some(at(MAX_RETRY_AFTER_SECS));
        assert_eq!(parse_retry_after(b"2147483649", at(5)), cap);
        assert_eq!(parse_retry_after(&[b'9'; 400], at(5)), cap);
    }

    #[test]
    fn the_three_date_forms_agree() {
        let now = at(EXAMPLE - 30);
        for v in [
            &b"Sun, 06 Nov 1994 08:49:37 GMT"[..],
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
            b"  Sun Nov 06 08:49:37 1994 ",
        ] {
            assert_eq!(parse_retry_after(v, now), Some(at(30)), "{v:?}");
        }
    }

    #[test]
    fn sub_second_now_and_past_dates() {
        let now = at(EXAMPLE) - Nanos::from_millis(250);
        let v = b"Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(parse_retry_after(v, now), Some(Nanos::from_millis(250)));
        assert_eq!(parse_retry_after(v, at(EXAMPLE)), Some(Nanos::ZERO));
        assert_eq!(parse_retry_after(v, at(EXAMPLE + 3600)), Some(Nanos::ZERO));
        let epoch = b"Thu, 01 Jan 1970 00:00:00 GMT";
        assert_eq!(parse_retry_after(epoch, Nanos::ZERO), Some(Nanos::ZERO));
        let ancient = b"Mon, 01 Jan 0001 00:00:00 GMT";
        assert_eq!(parse_retry_after(ancient, at(EXAMPLE)), Some(Nanos::ZERO));
    }

    #[test]
    fn far_future_dates_clamp() {
        let v = b"Fri, 31 Dec 9999 23:59:59 GMT";
        assert_eq!(
            parse_retry_after(v, Nanos::ZERO),
            Some(at(MAX_RETRY_AFTER_SECS))
        );
    }

    #[test]
    fn leap_days_and_leap_seconds() {
        let now = at(951_782_400); // 2000-02-29T00:00:00Z
        let v = b"Tue, 29 Feb 2000 00:00:10 GMT";
        assert_eq!(parse_retry_after(v, now), Some(at(10)));
        assert_eq!(
            parse_retry_after(b"Mon, 29 Feb 1900 00:00:00 GMT", now),
            None
        );
        let leap = b"Tue, 29 Feb 2000 00:00:60 GMT";
        assert_eq!(parse_retry_after(leap, now), Some(at(60)));
    }

    #[test]
    fn rfc850_two_digit_years_follow_the_fifty_year_rule() {
        let now = at(1_767_225_600); // 2026-01-01T00:00:00Z
        // 76 -> 2076 is exactly 50 years ahead: kept.
        let y2076 = b"Wednesday, 01-Jan-76 00:00:00 GMT";
        assert_eq!(
            parse_retry_after(y2076, now),
            Some(at(days_from_civil(2076, 1, 1) as u64 * 86_400) - now)
        );
        // 77 -> 2077 is 51 years ahead: read as 1977, in the past.
        let y1977 = b"Saturday, 01-Jan-77 00:00:00 GMT";
        assert_eq!(parse_retry_after(y1977, now), Some(Nanos::ZERO));
        let y2027 = b"Friday, 01-Jan-27 00:00:00 GMT";
        assert_eq!(parse_retry_after(y2027, now), Some(at(365 * 86_400)));
    }

    #[test]
    fn garbage_is_refused() {
        let now = at(EXAMPLE);
        for v in [
            &b""[..],
            b"   ",
            b"-5",
            b"1.5",
            b"+3",
            b"12 s",
            b"soon",
            b"sun, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Sun, 06 Nov 1994 08:60:00 GMT",
            b"Sun, 31 Nov 1994 08:49:37 GMT",
            b"Sun, 00 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Foo 1994 08:49:37 GMT",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 8:49:37 GMT",
            b"Sunday, 06-Nov-1994 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 94",
            b"\xff\xfe120",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}".as_bytes(),
        ] {
            assert_eq!(parse_retry_after(v, now), None, "{v:?}");
        }
    }

    #[test]
    fn civil_round_trips() {
        for days in [-719_468, -1, 0, 1, 10_957, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(
            days_from_civil(1994, 11, 6) * 86_400 + 31_777,
            EXAMPLE as i64
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_never_exceeds_the_cap(v in proptest::collection::vec(any::<u8>(), 0..64), now in any::<u64>()) {
            if let Some(d) = parse_retry_after(&v, Nanos::new(now)) {
                prop_assert!(d <= at(MAX_RETRY_AFTER_SECS));
            }
        }

        #[test]
        fn any_valid_imf_date_parses(secs in 0i64..253_402_300_799, now in any::<u64>()) {
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            let t = secs.rem_euclid(86_400);
            let wd = SHORT_DAYS[(secs.div_euclid(86_400) + 3).rem_euclid(7) as usize];
            let s = format!(
                "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
                core::str::from_utf8(wd).unwrap(),
                core::str::from_utf8(MONTHS[m as usize - 1]).unwrap(),
                t / 3600, t / 60 % 60, t % 60
            );
            let want = (i128::from(secs) * NANOS_PER_SEC - i128::from(now))
                .clamp(0, i128::from(MAX_RETRY_AFTER_SECS) * NANOS_PER_SEC);
            prop_assert_eq!(parse_retry_after(s.as_bytes(), Nanos::new(now)), Some(Nanos::new(want as u64)));
        }
    }
}
