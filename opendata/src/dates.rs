//! Unix seconds → the XML Schema dates RDF and schema.org use (UTC), with
//! the protocol's calendar arithmetic.

use mutua_protocol::lending::date as day;

const DAY: u64 = 86_400;

/// `xsd:date`: `2027-03-15`.
pub fn date(secs: u64) -> String {
    day::format_date(day::utc_day(secs))
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
