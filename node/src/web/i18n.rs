//! The message catalogue (Fluent), French dates and decimal commas. Every
//! text a member of staff reads comes from `fr.ftl`: a second language is
//! a second file with the same ids.

use mutua_protocol::lending::date;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

const FRENCH: &str = include_str!("fr.ftl");

fn bundle() -> &'static FluentBundle<FluentResource> {
    static BUNDLE: OnceLock<FluentBundle<FluentResource>> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let resource = FluentResource::try_new(FRENCH.to_owned())
            .unwrap_or_else(|(_, errors)| panic!("fr.ftl does not parse: {errors:?}"));
        let lang: unic_langid::LanguageIdentifier = "fr".parse().expect("a language id");
        let mut bundle = FluentBundle::new_concurrent(vec![lang]);
        // No Unicode isolation marks around arguments: they show up in
        // copied text and in screen readers' spelling.
        bundle.set_use_isolating(false);
        bundle
            .add_resource(resource)
            .expect("fr.ftl has no duplicate ids");
        bundle
    })
}

/// The text of message `id` with `args` (a missing id shows as `⟦id⟧`,
/// which the tests look for).
pub fn tr(id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    let bundle = bundle();
    let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
        tracing::error!(id, "missing web text");
        return format!("⟦{id}⟧");
    };
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        fluent_args.set(*name, value.clone());
    }
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
    if !errors.is_empty() {
        tracing::error!(id, ?errors, "web text arguments");
    }
    text.into_owned()
}

/// The text of message `id`, without arguments.
pub fn t(id: &str) -> String {
    tr(id, &[])
}

/// Whether the catalogue has `id` (texts chosen by a code: rule messages).
pub fn has(id: &str) -> bool {
    bundle().has_message(id)
}

/// A string argument.
pub fn s(value: impl Into<String>) -> FluentValue<'static> {
    FluentValue::String(value.into().into())
}

/// A count argument (plural selection).
pub fn n(value: usize) -> FluentValue<'static> {
    FluentValue::from(value as f64)
}

/// (year, month 1–12, day) of a Unix time, UTC.
pub fn civil(unix: u64) -> (i64, u32, u32) {
    let (y, m, d) = date::ymd_from_day(date::utc_day(unix));
    (i64::from(y), m, d)
}

/// The Unix time of midnight UTC on a civil date.
pub fn unix_of(year: i64, month: u32, day: u32) -> Option<u64> {
    let day = date::day_from_ymd(i32::try_from(year).ok()?, month, day)?;
    Some(date::utc_midnight(day))
}

/// `14 juillet 2027`.
pub fn long_date(unix: u64) -> String {
    let (y, m, d) = civil(unix);
    let day = if d == 1 {
        "1er".to_owned()
    } else {
        d.to_string()
    };
    format!("{day} {} {y}", t(&format!("month-{m}")))
}

/// `14/07/2027`.
pub fn short_date(unix: u64) -> String {
    let (y, m, d) = civil(unix);
    format!("{d:02}/{m:02}/{y}")
}

/// Reads `14/07/2027` (or `2027-07-14`, what a browser's date field sends).
pub fn parse_date(text: &str) -> Option<u64> {
    let text = text.trim();
    let parts: Vec<&str> = text.split(['/', '-', '.']).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let (y, m, d) = if a.len() == 4 { (a, b, c) } else { (c, b, a) };
    if y.len() != 4 {
        return None;
    }
    unix_of(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// A number with one decimal and a decimal comma: `12,3`.
pub fn decimal(value: f64) -> String {
    format!("{value:.1}").replace('.', ",")
}

/// Euro cents as `12,50`.
pub fn euros(cents: u64) -> String {
    format!("{},{:02}", cents / 100, cents % 100)
}

/// Reads `12,50`, `12.5` or `12` euros as cents.
pub fn parse_euros(text: &str) -> Option<u64> {
    let text = text.trim().trim_end_matches('€').trim().replace(' ', "");
    let (units, fraction) = match text.split_once([',', '.']) {
        Some((u, f)) => (u.to_owned(), f.to_owned()),
        None => (text.clone(), String::new()),
    };
    if units.is_empty() || fraction.len() > 2 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let units: u64 = units.parse().ok()?;
    let fraction: u64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u64>().ok()? * 10,
        _ => fraction.parse().ok()?,
    };
    units.checked_mul(100)?.checked_add(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_french() {
        let bastille = unix_of(2027, 7, 14).unwrap();
        assert_eq!(long_date(bastille), "14 juillet 2027");
        assert_eq!(short_date(bastille), "14/07/2027");
        assert_eq!(long_date(unix_of(2027, 8, 1).unwrap()), "1er août 2027");
        assert_eq!(parse_date("14/07/2027"), Some(bastille));
        assert_eq!(parse_date("2027-07-14"), Some(bastille));
        assert_eq!(parse_date("31/02/2027"), None);
        assert_eq!(parse_date("14 juillet"), None);
        for unix in [0, 951_782_400, 1_798_761_599, 4_107_542_400] {
            let (y, m, d) = civil(unix);
            assert_eq!(unix_of(y, m, d).unwrap(), unix - unix % 86_400);
        }
    }

    #[test]
    fn numbers_have_a_decimal_comma() {
        assert_eq!(decimal(12.34), "12,3");
        assert_eq!(euros(1250), "12,50");
        assert_eq!(parse_euros("12,50"), Some(1250));
        assert_eq!(parse_euros("12.5 €"), Some(1250));
        assert_eq!(parse_euros("7"), Some(700));
        assert_eq!(parse_euros("douze"), None);
        assert_eq!(parse_euros("1,234"), None);
    }

    #[test]
    fn plurals_and_arguments_follow_french_rules() {
        assert_eq!(
            tr("search-count", &[("count", n(0))]),
            "Aucune annonce ne correspond à ces critères."
        );
        assert_eq!(tr("search-count", &[("count", n(1))]), "1 annonce trouvée.");
        assert_eq!(
            tr("search-count", &[("count", n(3))]),
            "3 annonces trouvées."
        );
        assert_eq!(t("no-such-id"), "⟦no-such-id⟧");
    }
}
