//! `Retry-After` parsing: delta-seconds and HTTP dates, the RFC's examples, and properties
//! over arbitrary input.

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
