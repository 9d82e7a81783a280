//! Reading the journal's timestamps fast: `YYYY-MM-DDTHH:MM:SS[.f]Z`, the
//! one form hitl writes, by arithmetic; any other form is read by jiff's
//! own parser (the one serde uses), so the result is always jiff's.

use jiff::Timestamp;

/// `s` as a timestamp, as jiff reads it; `None` if jiff refuses it.
pub fn parse(s: &str) -> Option<Timestamp> {
    canonical(s.as_bytes()).or_else(|| s.parse().ok())
}

/// The canonical form only; `None` for anything else (leap seconds,
/// offsets, spaces, lower-case letters, more than 9 fraction digits).
fn canonical(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let year = i64::from(digits(&b[0..4])?);
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let nanos = fraction(&b[19..b.len() - 1])?;
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Timestamp::new(secs, nanos).ok()
}

/// Decimal digits only, as a number.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// `` (none) or `.` and 1 to 9 digits, as nanoseconds.
fn fraction(b: &[u8]) -> Option<i32> {
    if b.is_empty() {
        return Some(0);
    }
    let f = b.strip_prefix(b".")?;
    if f.is_empty() || f.len() > 9 {
        return None;
    }
    let n = digits(f)?;
    let scale = 10u32.pow(u32::try_from(9 - f.len()).ok()?);
    i32::try_from(n * scale).ok()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_journals_own_times_read_as_jiff_reads_them() {
        for s in [
            "2026-11-20T08:00:00.123456789Z",
            "2026-11-20T08:00:00Z",
            "2024-02-29T23:59:59.5Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.000000001Z",
            "0000-03-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
        ] {
            assert_eq!(canonical(s.as_bytes()), s.parse().ok(), "{s}");
        }
    }

    #[test]
    fn other_forms_are_left_to_jiff() {
        for s in [
            "2026-11-20 08:00:00Z",
            "2026-11-20T08:00:60Z",
            "2023-02-29T00:00:00Z",
            "2026-11-20T08:00:00+01:00",
            "2026-11-20T08:00:00.1234567891Z",
            "2026-11-20T08:00:00.Z",
            "2026-11-20t08:00:00z",
        ] {
            assert_eq!(canonical(s.as_bytes()), None, "{s}");
            assert_eq!(parse(s), s.parse().ok(), "{s}");
        }
    }

    proptest! {
        #[test]
        fn any_written_time_reads_back_as_jiff_reads_it(
            secs in -62_167_219_200i64..253_402_300_799,
            nanos in 0i32..1_000_000_000,
        ) {
            let t = Timestamp::new(secs, nanos).expect("in range");
            let s = t.to_string();
            prop_assert_eq!(parse(&s), Some(t));
            prop_assert_eq!(canonical(s.as_bytes()), s.parse().ok());
        }

        #[test]
        fn any_date_shaped_text_reads_as_jiff_reads_it(
            y in 0u32..10_000, mo in 0u32..14, d in 0u32..33,
            h in 0u32..26, mi in 0u32..62, s in 0u32..62,
            frac in proptest::option::of("[0-9]{1,10}"),
        ) {
            let f = frac.map(|f| format!(".{f}")).unwrap_or_default();
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{f}Z");
            let ours = canonical(text.as_bytes());
            if ours.is_some() {
                prop_assert_eq!(ours, text.parse::<Timestamp>().ok(), "{}", text);
            }
            prop_assert_eq!(parse(&text), text.parse::<Timestamp>().ok(), "{}", text);
        }
    }
}
