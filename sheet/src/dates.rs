//! Calendar dates (UTC) ↔ Unix seconds, with the protocol's calendar
//! arithmetic: the CLI's flags and the sheets only need whole days. The
//! messages are in English: the CLI's flags print them as they are.

use mutua_protocol::lending::date;

const DAY: u64 = 86_400;

/// Why a date or a window could not be read (in English: the CLI's flags).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DateError(String);

type Result<T> = std::result::Result<T, DateError>;

fn bail<T>(message: String) -> Result<T> {
    Err(DateError(message))
}

/// `YYYY-MM-DD` → midnight UTC, in Unix seconds.
pub fn parse_date(text: &str) -> Result<u64> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let bad = || {
        DateError(format!(
            "{text:?} is not a date: write YYYY-MM-DD, e.g. 2027-03-15"
        ))
    };
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
    let Some(day) = date::day_from_ymd(y as i32, m, d) else {
        return bail(format!("{text:?} is not a date of the calendar"));
    };
    Ok(date::utc_midnight(day))
}

/// Unix seconds → `YYYY-MM-DD` (UTC).
pub fn format_date(secs: u64) -> String {
    date::format_date(date::utc_day(secs))
}

/// `FROM..UNTIL` → a window, `until` exclusive at the end of that day.
pub fn parse_window(text: &str) -> Result<mutua_protocol::Window> {
    let Some((from, until)) = text.split_once("..") else {
        return bail(format!(
            "{text:?} is not a window: write FROM..UNTIL, e.g. 2027-03-01..2027-03-31"
        ));
    };
    let from = parse_date(from)?;
    let until = parse_date(until)? + DAY;
    if until <= from {
        return bail(format!("{text:?}: the window ends before it starts"));
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
