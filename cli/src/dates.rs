//! Calendar dates (UTC) ↔ Unix seconds, without a date crate: the CLI only
//! needs whole days.

use anyhow::{bail, Result};

const DAY: u64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD` → midnight UTC, in Unix seconds.
pub fn parse_date(text: &str) -> Result<u64> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let bad = || anyhow::anyhow!("{text:?} is not a date: write YYYY-MM-DD, e.g. 2027-03-15");
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        bail!("{text:?} is not a date of the calendar");
    }
    Ok(days as u64 * DAY)
}

/// Unix seconds → `YYYY-MM-DD` (UTC).
pub fn format_date(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / DAY) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `FROM..UNTIL` → a window, `until` exclusive at the end of that day.
pub fn parse_window(text: &str) -> Result<mutua_protocol::Window> {
    let Some((from, until)) = text.split_once("..") else {
        bail!("{text:?} is not a window: write FROM..UNTIL, e.g. 2027-03-01..2027-03-31");
    };
    let from = parse_date(from)?;
    let until = parse_date(until)? + DAY;
    if until <= from {
        bail!("{text:?}: the window ends before it starts");
    }
    Ok(mutua_protocol::Window { from, until })
}

pub fn format_window(w: &mutua_protocol::Window) -> String {
    format!(
        "{}..{}",
        format_date(w.from),
        format_date(w.until.saturating_sub(1))
    )
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01").unwrap(), 0);
        assert_eq!(parse_date("2027-03-15").unwrap(), 1_805_068_800);
        assert_eq!(format_date(1_805_068_800), "2027-03-15");
        assert_eq!(format_date(parse_date("2028-02-29").unwrap()), "2028-02-29");
        assert!(parse_date("2027-02-29").is_err());
        assert!(parse_date("15/03/2027").is_err());
        let w = parse_window("2027-03-01..2027-03-31").unwrap();
        assert_eq!(format_window(&w), "2027-03-01..2027-03-31");
        assert!(parse_window("2027-03-31..2027-03-01").is_err());
    }
}
