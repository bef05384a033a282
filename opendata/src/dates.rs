//! Unix seconds → the XML Schema dates RDF and schema.org use (UTC), without
//! a date crate.

const DAY: u64 = 86_400;

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (H. Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `xsd:date`: `2027-03-15`.
pub fn date(secs: u64) -> String {
    let (y, m, d) = civil((secs / DAY) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `xsd:dateTime` in UTC: `2027-03-15T08:30:00Z`.
pub fn date_time(secs: u64) -> String {
    let rest = secs % DAY;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(secs),
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date_time(1_800_000_000), "2027-01-15T08:00:00Z");
        // 2028 is a leap year.
        assert_eq!(date(1_835_395_200), "2028-02-29");
    }
}
