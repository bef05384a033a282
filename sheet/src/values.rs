//! Cell values as French spreadsheets write them: numbers with a decimal
//! comma and thousands separators, `€` suffixes, dates `dd/mm/yyyy`, yes/no
//! in French or English, kind names in French. One parser per kind of value,
//! shared by the import and the command-line flags (`--amount-eur 12,5`).
//!
//! Errors are typed; their `Display` is in French (what import reports show
//! to town-hall staff).

use mutua_protocol::ResourceKind;

use mutua_api::Side;

use crate::columns::fold;
use crate::dates;

/// Why a cell could not be read. Each message says what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("« {0} » n'est pas un nombre (exemples : 12,5 ; 1 200 ; 3 500,00 €)")]
    NotANumber(String),
    #[error("« {0} » est négatif : un montant ou une quantité ne peut pas l'être")]
    Negative(String),
    #[error("« {0} » n'est pas un nombre entier")]
    NotWhole(String),
    #[error("« {0} » n'est ni oui ni non (oui/non, vrai/faux, yes/no, 1/0)")]
    NotABoolean(String),
    #[error("« {0} » n'est pas une date (jj/mm/aaaa, par exemple 15/03/2027, ou 2027-03-15)")]
    NotADate(String),
    #[error("« {0} » n'est pas une date du calendrier")]
    NoSuchDate(String),
    #[error(
        "« {0} » n'est pas une période (du 01/03/2027 au 31/03/2027 : « 01/03/2027..31/03/2027 »)"
    )]
    NotAWindow(String),
    #[error("la période « {0} » finit avant de commencer")]
    BackwardsWindow(String),
    #[error("« {0} » n'est pas une nature (Matériel, Compétence, Logiciel, Service hébergé, Locaux, Autre)")]
    NotAKind(String),
    #[error("« {0} » n'est ni Offre ni Besoin")]
    NotASide(String),
    #[error("« {0} » n'est ni gratuit ni participation aux frais")]
    NotAPricing(String),
}

/// A decimal number as typed in France or elsewhere: `12,5`, `12.50`,
/// `1 200,00 €`, `1.200,50`, `1,200.50`, with ordinary, no-break (U+00A0)
/// or narrow no-break (U+202F) spaces as thousands separators. Negative
/// numbers are refused: nothing this parser reads can be negative.
pub fn parse_decimal(text: &str) -> Result<f64, ValueError> {
    let original = text.trim();
    let bad = || ValueError::NotANumber(original.to_owned());
    let mut t: String = original
        .trim_end_matches(['€', ' ', '\u{a0}', '\u{202f}'])
        .trim_end_matches("EUR")
        .trim_end_matches("eur")
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\''))
        .collect();
    if let Some(rest) = t.strip_prefix('-') {
        if !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
        {
            return Err(ValueError::Negative(original.to_owned()));
        }
        return Err(bad());
    }
    if let Some(rest) = t.strip_prefix('+') {
        t = rest.to_owned();
    }
    if t.is_empty()
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
    {
        return Err(bad());
    }
    let (commas, dots) = (t.matches(',').count(), t.matches('.').count());
    let normalized = match (commas, dots) {
        (0, 0) => t,
        // One comma: the French decimal separator. One dot: decimal too
        // (12.50), except before exactly three digits (1.200), which in a
        // French sheet is a thousands separator: amounts have two decimals.
        (1, 0) => t.replace(',', "."),
        (0, 1) => match t.split_once('.') {
            Some((int, frac)) if frac.len() == 3 && (1..=3).contains(&int.len()) => {
                format!("{int}{frac}")
            }
            _ => t,
        },
        (0, _) => thousands(&t, '.').ok_or_else(bad)?,
        (_, 0) => thousands(&t, ',').ok_or_else(bad)?,
        _ => {
            // Both: the last one is the decimal separator.
            let last_comma = t.rfind(',').unwrap_or(0);
            let last_dot = t.rfind('.').unwrap_or(0);
            let (group, decimal) = if last_comma > last_dot {
                ('.', ',')
            } else {
                (',', '.')
            };
            let (int, frac) = t.rsplit_once(decimal).ok_or_else(bad)?;
            if frac.contains(group) || int.contains(decimal) {
                return Err(bad());
            }
            format!("{}.{frac}", thousands(int, group).ok_or_else(bad)?)
        }
    };
    normalized
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(bad)
}

/// `1.200.000` → `1200000` when every group after the first has three digits.
fn thousands(text: &str, separator: char) -> Option<String> {
    let mut groups = text.split(separator);
    let first = groups.next()?;
    if first.is_empty() || first.len() > 3 {
        return None;
    }
    let mut out = first.to_owned();
    for g in groups {
        if g.len() != 3 {
            return None;
        }
        out.push_str(g);
    }
    Some(out)
}

/// A whole number (`1 000`, `30`, `30,0`).
pub fn parse_whole(text: &str) -> Result<u64, ValueError> {
    let v = parse_decimal(text).map_err(|e| match e {
        ValueError::NotANumber(t) => ValueError::NotWhole(t),
        other => other,
    })?;
    if v.fract() != 0.0 || v > u64::MAX as f64 {
        return Err(ValueError::NotWhole(text.trim().to_owned()));
    }
    Ok(v as u64)
}

/// A coordinate in degrees (may be negative): `44,8378`, `-0.5792`. No
/// thousands here, so a point or a comma is always the decimal separator
/// (`44.838` is not 44838).
pub fn parse_degrees(text: &str) -> Result<f64, ValueError> {
    let t = text.trim();
    t.trim_end_matches('°')
        .replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| ValueError::NotANumber(t.to_owned()))
}

/// `oui/non`, `vrai/faux` (what French Excel writes for booleans),
/// `yes/no`, `true/false`, `o/n`, `x` (a ticked cell), `1/0`.
pub fn parse_bool(text: &str) -> Result<bool, ValueError> {
    match fold(text).as_str() {
        "oui" | "o" | "vrai" | "yes" | "y" | "true" | "1" | "x" => Ok(true),
        "non" | "n" | "faux" | "no" | "false" | "0" => Ok(false),
        _ => Err(ValueError::NotABoolean(text.trim().to_owned())),
    }
}

/// A calendar date, `dd/mm/yyyy` (also with `-` or `.`, and `dd/mm/yy`) or
/// ISO `yyyy-mm-dd` (a time part, as spreadsheets export, is ignored) →
/// midnight UTC in Unix seconds.
pub fn parse_date(text: &str) -> Result<u64, ValueError> {
    let t = text.trim();
    let day_part = t.split(['T', ' ']).next().unwrap_or("");
    let parts: Vec<&str> = day_part.split(['/', '-', '.']).collect();
    let bad = || ValueError::NotADate(t.to_owned());
    let [a, b, c] = parts.as_slice() else {
        return Err(bad());
    };
    let num = |s: &str| -> Result<i64, ValueError> {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let (y, m, d) = if a.len() == 4 {
        (num(a)?, num(b)?, num(c)?)
    } else {
        let y = num(c)?;
        let y = if c.len() == 2 { 2000 + y } else { y };
        (y, num(b)?, num(a)?)
    };
    let iso = format!("{y:04}-{m:02}-{d:02}");
    dates::parse_date(&iso).map_err(|_| {
        if (1..=12).contains(&m) && (1..=31).contains(&d) {
            ValueError::NoSuchDate(t.to_owned())
        } else {
            bad()
        }
    })
}

/// An availability window: `FROM..UNTIL`, also `FROM au UNTIL` and
/// `FROM - UNTIL`, the dates as [`parse_date`] reads them.
pub fn parse_window(text: &str) -> Result<mutua_protocol::Window, ValueError> {
    let t = text.trim();
    let (from, until) = t
        .split_once("..")
        .or_else(|| t.split_once(" au "))
        .or_else(|| t.split_once(" - "))
        .ok_or_else(|| ValueError::NotAWindow(t.to_owned()))?;
    let from = from.trim();
    let from = from.strip_prefix("du ").unwrap_or(from);
    let window = window(parse_date(from)?, parse_date(until)?);
    window.ok_or_else(|| ValueError::BackwardsWindow(t.to_owned()))
}

/// The window from the first day to the last (inclusive), or `None` when it
/// ends before it starts.
pub fn window(first_day: u64, last_day: u64) -> Option<mutua_protocol::Window> {
    let until = last_day + mutua_protocol::rules::DAY_SECS;
    (until > first_day).then_some(mutua_protocol::Window {
        from: first_day,
        until,
    })
}

/// A kind, by its protocol name or its French name, accents and case aside.
pub fn parse_kind(text: &str) -> Result<ResourceKind, ValueError> {
    let folded = fold(text);
    let kind = match folded.as_str() {
        "materiel" | "equipement" | "materiels" => Some(ResourceKind::Equipment),
        "competence" | "competences" | "savoir faire" => Some(ResourceKind::Skill),
        "logiciel" | "logiciels" => Some(ResourceKind::Software),
        "service heberge" | "services heberges" | "hebergement" => {
            Some(ResourceKind::HostedService)
        }
        "locaux" | "local" | "salle" | "salles" => Some(ResourceKind::Premises),
        "autre" | "autres" => Some(ResourceKind::Other),
        other => ResourceKind::parse(&other.replace([' ', '-'], "_")),
    };
    kind.ok_or_else(|| ValueError::NotAKind(text.trim().to_owned()))
}

/// `Offre`/`Besoin` (or `offer`/`need`).
pub fn parse_side(text: &str) -> Result<Side, ValueError> {
    match fold(text).as_str() {
        "offre" | "offer" | "offres" | "propose" => Ok(Side::Offer),
        "besoin" | "need" | "besoins" | "demande" | "recherche" => Ok(Side::Need),
        _ => Err(ValueError::NotASide(text.trim().to_owned())),
    }
}

/// `gratuit`/`free` → `Some(false)`, `participation aux frais`/`cost_sharing`
/// → `Some(true)`: whether the listing asks for a cost share.
pub fn parse_pricing(text: &str) -> Result<bool, ValueError> {
    match fold(text).replace(['_', '-'], " ").as_str() {
        "gratuit" | "free" | "gratuite" => Ok(false),
        "cost sharing"
        | "participation"
        | "participation aux frais"
        | "payant"
        | "partage des couts"
        | "partage des frais" => Ok(true),
        _ => Err(ValueError::NotAPricing(text.trim().to_owned())),
    }
}

/// `--amount-eur`: a cost share in euros, decimal comma or dot. Messages in
/// English like every other flag's.
pub fn amount_flag(text: &str) -> Result<f64, String> {
    parse_decimal(text).map_err(|e| match e {
        ValueError::Negative(t) => {
            format!("{t} is negative: a cost share is zero or more euros (e.g. 12,5 or 12.50)")
        }
        _ => format!("{text:?} is not an amount in euros (e.g. 12,5 or 12.50 or 1 200)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_numbers() {
        for (text, value) in [
            ("12,5", 12.5),
            ("12.50", 12.5),
            ("35", 35.0),
            ("1 200", 1200.0),
            ("1\u{a0}200,50", 1200.5),
            ("1\u{202f}200,50 €", 1200.5),
            ("3 500,00 €", 3500.0),
            ("120€", 120.0),
            ("1.200,50", 1200.5),
            ("1,200.50", 1200.5),
            ("1.200.000", 1_200_000.0),
            ("1.200", 1200.0),
            ("0.5", 0.5),
            ("1,5 EUR", 1.5),
        ] {
            assert_eq!(parse_decimal(text), Ok(value), "{text}");
        }
        assert_eq!(parse_decimal("-5"), Err(ValueError::Negative("-5".into())));
        for bad in ["", "douze", "1,2,3", "12,5,0", "1.20.0", "€", "--5"] {
            assert!(parse_decimal(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_whole("1 000"), Ok(1000));
        assert!(parse_whole("2,5").is_err());
        assert_eq!(parse_degrees("-0,5792"), Ok(-0.5792));
        assert_eq!(parse_degrees("44.838"), Ok(44.838));
        assert!(parse_degrees("44,8,3").is_err());
        assert!(amount_flag("-5").unwrap_err().contains("negative"));
        assert_eq!(amount_flag("12,5"), Ok(12.5));
    }

    #[test]
    fn booleans_dates_kinds() {
        for t in ["oui", "OUI", "Vrai", "VRAI", "yes", "1", "x"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for t in ["non", "FAUX", "no", "0", "false"] {
            assert_eq!(parse_bool(t), Ok(false), "{t}");
        }
        assert!(parse_bool("peut-être").is_err());
        let d = 1_805_068_800; // 2027-03-15
        for t in [
            "15/03/2027",
            "2027-03-15",
            "15-03-2027",
            "15.03.2027",
            "15/03/27",
            "2027-03-15T00:00:00",
            "15/3/2027",
        ] {
            assert_eq!(parse_date(t), Ok(d), "{t}");
        }
        assert_eq!(
            parse_date("31/02/2027"),
            Err(ValueError::NoSuchDate("31/02/2027".into()))
        );
        assert!(parse_date("mars 2027").is_err());
        let w = parse_window("01/03/2027..31/03/2027").unwrap();
        assert_eq!(dates::format_window(&w), "2027-03-01..2027-03-31");
        assert_eq!(parse_window("du 01/03/2027 au 31/03/2027"), Ok(w));
        assert!(parse_window("31/03/2027..01/03/2027").is_err());
        for (t, k) in [
            ("Matériel", ResourceKind::Equipment),
            ("MATERIEL", ResourceKind::Equipment),
            ("Compétence", ResourceKind::Skill),
            ("Logiciel", ResourceKind::Software),
            ("Service hébergé", ResourceKind::HostedService),
            ("hosted-service", ResourceKind::HostedService),
            ("Locaux", ResourceKind::Premises),
            ("Autre", ResourceKind::Other),
            ("equipment", ResourceKind::Equipment),
        ] {
            assert_eq!(parse_kind(t), Ok(k), "{t}");
        }
        assert!(parse_kind("broyeur").is_err());
        assert_eq!(parse_side("Offre"), Ok(Side::Offer));
        assert_eq!(parse_side("BESOIN"), Ok(Side::Need));
        assert_eq!(parse_pricing("Participation aux frais"), Ok(true));
        assert_eq!(parse_pricing("cost_sharing"), Ok(true));
        assert_eq!(parse_pricing("Gratuit"), Ok(false));
    }
}
