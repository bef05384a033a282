//! A collectivity named by its official code, resolved against the 2026
//! reference data and confirmed by the operator before a key or a
//! certificate is tied to it.
//!
//! `--collectivity` takes a SIREN (Luhn-checked) or an INSEE code, looked up
//! in `mutua_store::refdata` (name, kind, EPCI type, département(s), the
//! commune's EPCI). The CLI shows what it found and asks for confirmation
//! on a terminal; without one, `--yes` is required and nothing is written
//! otherwise. The publisher key is named after the collectivity
//! (`Saint-Émilion` → `saint-emilion`).

use std::io::{self, BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use mutua_protocol::codes::{is_valid_insee, is_valid_siren};
use mutua_protocol::BodyKind;
use mutua_store::refdata::{self, Collectivity};
use unicode_normalization::UnicodeNormalization;

/// Finds a commune (INSEE code or SIREN) or an EPCI (SIREN).
pub fn resolve(code: &str) -> Result<Collectivity> {
    let code = code.trim().to_uppercase();
    if !is_valid_siren(&code) && !is_valid_insee(&code) {
        bail!(
            "--collectivity {code:?}: give a SIREN (9 digits with a valid check digit, e.g. \
             213300635) or a commune's INSEE code (5 characters, e.g. 33063, 2A004)"
        );
    }
    let c = refdata::lookup(&code).ok_or_else(|| {
        anyhow::anyhow!(
            "--collectivity {code:?}: no commune or EPCI has this code in the 2026 reference data \
             (départements, régions and syndicats are not listed: admit them by key with \
             `mutua federation admit`)"
        )
    })?;
    // A few overseas communes (Saint-Pierre, Hiva-Oa, the TAAF districts…)
    // are listed without a SIREN; a certificate could not name them.
    if !is_valid_siren(&c.siren) {
        bail!(
            "--collectivity {code:?}: {} is in the 2026 reference data without a SIREN, and a \
             certificate names a collectivity by its SIREN: it cannot be admitted under this code",
            c.name
        );
    }
    Ok(c)
}

/// A commune's code with its name, as tables and `show` print it
/// ("33063 Bordeaux"); the code alone when the reference data does not
/// know it (a record from a peer with a newer or older code).
pub fn commune_label(insee: &str) -> String {
    match mutua_store::places::places().name_of(insee) {
        Some(name) => format!("{insee} {name}"),
        None => insee.to_owned(),
    }
}

pub fn kind_label(c: &Collectivity) -> String {
    match c.body {
        BodyKind::Commune => "commune".into(),
        BodyKind::Epci => format!("EPCI ({})", c.epci_type.as_deref().unwrap_or("?")),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The lines shown for confirmation.
pub fn describe(c: &Collectivity) -> Vec<(&'static str, String)> {
    let mut lines = vec![
        ("name", c.name.clone()),
        ("kind", kind_label(c)),
        ("SIREN", c.siren.clone()),
    ];
    if let Some(insee) = &c.insee {
        lines.push(("INSEE code", insee.clone()));
    }
    let depts: Vec<String> = c
        .departements
        .iter()
        .map(|(code, name)| format!("{name} ({code})"))
        .collect();
    if !depts.is_empty() {
        lines.push(("département", depts.join(", ")));
    }
    if let Some((siren, name)) = &c.epci {
        lines.push(("EPCI", format!("{name} ({siren})")));
    }
    lines
}

/// Prints the collectivity on stderr and asks to go on. `--yes` skips the
/// question; without a terminal to ask on, `--yes` is required.
pub fn confirm(c: &Collectivity, what: &str, yes: bool) -> Result<()> {
    let mut err = io::stderr().lock();
    for (label, value) in describe(c) {
        writeln!(err, "  {label:<12} {value}")?;
    }
    drop(err);
    if yes {
        return Ok(());
    }
    ask(
        &format!("{what} for this collectivity?"),
        &format!("check the collectivity above and add --yes to {what}"),
    )
}

/// Asks `question` on the terminal; an error unless the answer is yes (and
/// without a terminal, an error saying `without_terminal`).
pub fn ask(question: &str, without_terminal: &str) -> Result<()> {
    if !io::stdin().is_terminal() {
        bail!("not a terminal, so nothing is asked: {without_terminal}");
    }
    let mut err = io::stderr().lock();
    write!(err, "{question} [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    match answer.trim().to_lowercase().as_str() {
        "y" | "yes" | "o" | "oui" => Ok(()),
        _ => bail!("cancelled: nothing was written"),
    }
}

/// A publisher name from a collectivity's name: "Saint-Émilion" →
/// "saint-emilion", "CC du Créonnais" → "cc-du-creonnais".
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.nfd().filter(char::is_ascii) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(64);
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_publisher_names() {
        assert_eq!(slug("Saint-Émilion"), "saint-emilion");
        assert_eq!(slug("CC du Créonnais"), "cc-du-creonnais");
        assert_eq!(slug("L'Abergement-Clémenciat"), "l-abergement-clemenciat");
        assert_eq!(slug("Bordeaux Métropole"), "bordeaux-metropole");
    }

    #[test]
    fn a_commune_listed_without_a_siren_is_refused_by_name() {
        let e = resolve("97502").unwrap_err().to_string();
        assert!(
            e.contains("Saint-Pierre") && e.contains("without a SIREN"),
            "{e}"
        );
    }

    #[test]
    fn codes_resolve_against_the_reference_data() {
        let c = resolve("33063").unwrap();
        assert_eq!(c.siren, "213300635");
        let d = describe(&c);
        assert!(d.contains(&("EPCI", "Bordeaux Métropole (243300316)".into())));
        assert!(resolve("213300636")
            .unwrap_err()
            .to_string()
            .contains("check digit"));
        assert!(resolve("2a004").is_ok());
        assert!(resolve("99999").is_err());
    }
}
