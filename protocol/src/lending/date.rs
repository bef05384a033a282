//! Calendar dates as day numbers, by arithmetic alone (no time-zone data):
//! a lending period is a pair of dates, and a date is the same date on every
//! node. Only "which date is it now in Paris" needs a time zone, and the
//! protocol never asks it: the caller passes today's date where a rule needs
//! it, and the time rules compare UTC midnights (see [`crate::lending::expiry`]).

use super::model::Day;
use crate::model::Timestamp;
use crate::rules::DAY_SECS;

/// The day number of a proleptic Gregorian date (1970-01-01 is day 0), or
/// `None` for a date that does not exist or lies before 1970 or after the
/// range of [`Day`].
pub fn day_from_ymd(year: i32, month: u32, day: u32) -> Option<Day> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Howard Hinnant's days_from_civil: years start in March, so the leap
    // day is the last day of the year.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Day::try_from(era * 146_097 + doe - 719_468).ok()
}

/// The date `(year, month, day)` of a day number.
pub fn ymd_from_day(day: Day) -> (i32, u32, u32) {
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<Day> {
    let mut parts = text.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y) && digits(m) && digits(d)) {
        return None;
    }
    day_from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// `YYYY-MM-DD`.
pub fn format_date(day: Day) -> String {
    let (y, m, d) = ymd_from_day(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC date of a timestamp. The Paris date is this one or the next, so
/// bounds stated in UTC dates are off by at most one day for Paris.
pub fn utc_day(t: Timestamp) -> Day {
    Day::try_from(t / DAY_SECS).unwrap_or(Day::MAX)
}

/// The timestamp of a day's UTC midnight (its start in UTC; in Paris, one or
/// two hours after the day began).
pub fn utc_midnight(day: Day) -> Timestamp {
    u64::from(day) * DAY_SECS
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(day_from_ymd(1970, 1, 1), Some(0));
        assert_eq!(parse_date("2026-11-28"), Some(20_785));
        assert_eq!(
            parse_date("2027-07-14").map(format_date).as_deref(),
            Some("2027-07-14")
        );
        assert_eq!(
            parse_date("2028-02-29").map(format_date).as_deref(),
            Some("2028-02-29")
        );
        assert_eq!(parse_date("2027-02-29"), None);
        assert_eq!(parse_date("1969-12-31"), None);
        assert_eq!(parse_date("2027-7-14"), None);
        assert_eq!(utc_day(1_795_824_000), 20_785);
    }

    #[test]
    fn round_trip_over_centuries() {
        for day in (0..200_000).step_by(7) {
            let (y, m, d) = ymd_from_day(day);
            assert_eq!(day_from_ymd(y, m, d), Some(day), "{y}-{m}-{d}");
        }
    }
}
