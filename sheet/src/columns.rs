//! Header cells → the listing's fields. Town halls name their columns in
//! French, with accents, capitals, `*` for mandatory or a unit in brackets
//! (`Montant (€)`): a header is matched once folded (see [`fold`]) against
//! the names of one table, which `mutua import --help` prints.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

/// A field of a listing that a column can fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Author,
    Id,
    Side,
    Kind,
    Title,
    Description,
    Tags,
    Insee,
    Lat,
    Lon,
    RadiusKm,
    AreaCommunes,
    AreaEpcis,
    AreaDepartements,
    Capacity,
    Pricing,
    AmountEur,
    Per,
    Convention,
    ContactRole,
    ContactEmail,
    ContactPhone,
    ContactUrl,
    Available,
    AvailableFrom,
    AvailableUntil,
    ExpiresInDays,
    Expires,
}

/// One line of the layout: the field, the names a header may have (the
/// first is the one `mutua export` writes), and what the cells hold.
pub struct Column {
    pub field: Field,
    pub names: &'static [&'static str],
    pub values: &'static str,
}

/// The layout, in the order of `mutua import --help`.
pub const LAYOUT: &[Column] = &[
    Column { field: Field::Side, names: &["side", "Type", "Offre ou besoin", "Sens"], values: "Offre or Besoin (offer, need) — mandatory" },
    Column { field: Field::Kind, names: &["kind", "Nature", "Catégorie", "Type de ressource"], values: "Matériel, Compétence, Logiciel, Service hébergé, Locaux, Autre (or equipment, skill, software, hosted_service, premises, other) — mandatory" },
    Column { field: Field::Title, names: &["title", "Intitulé", "Titre", "Libellé", "Objet"], values: "3 to 120 characters — mandatory" },
    Column { field: Field::Description, names: &["description", "Descriptif", "Détails"], values: "free text, up to 4,000 bytes of UTF-8" },
    Column { field: Field::Tags, names: &["tags", "Mots-clés", "Mot-clé", "Étiquettes"], values: "separated by ';' or ',' (broyeur;espaces verts)" },
    Column { field: Field::Insee, names: &["insee", "Code INSEE", "Commune", "Code commune"], values: "INSEE code of the commune (33063, 2A004) — mandatory" },
    Column { field: Field::Lat, names: &["lat", "Latitude"], values: "degrees (44,8378), with lon" },
    Column { field: Field::Lon, names: &["lon", "Longitude"], values: "degrees (-0,5792), with lat" },
    Column { field: Field::RadiusKm, names: &["radius_km", "Rayon", "Rayon (km)", "Rayon d'intervention"], values: "service radius in km, 1 to 1000" },
    Column { field: Field::AreaCommunes, names: &["area_communes", "Communes desservies"], values: "INSEE codes separated by ';'" },
    Column { field: Field::AreaEpcis, names: &["area_epcis", "EPCI desservis"], values: "SIRENs separated by ';'" },
    Column { field: Field::AreaDepartements, names: &["area_departements", "Départements desservis"], values: "codes separated by ';' (33;40)" },
    Column { field: Field::Capacity, names: &["capacity", "Capacité", "Quantité"], values: "free text (2 jours par mois)" },
    Column { field: Field::Pricing, names: &["pricing", "Conditions", "Tarification", "Tarif"], values: "Gratuit or Participation aux frais (free, cost_sharing) [default: free, or cost sharing when an amount is given]" },
    Column { field: Field::AmountEur, names: &["amount_eur", "Montant", "Montant (€)", "Prix", "Coût"], values: "euros: 12,50 ; 1 200 ; 3.500,00 € ; 12.50" },
    Column { field: Field::Per, names: &["per", "Par", "Unité"], values: "what the amount is per (jour, mois, utilisation)" },
    Column { field: Field::Convention, names: &["convention", "Convention requise"], values: "oui/non, vrai/faux, yes/no, 1/0 [default: non]" },
    Column { field: Field::ContactRole, names: &["contact_role", "Contact", "Rôle du contact", "Service"], values: "a role, never a person (Secrétariat de mairie) — mandatory" },
    Column { field: Field::ContactEmail, names: &["contact_email", "Courriel", "E-mail", "Email", "Adresse électronique"], values: "an address" },
    Column { field: Field::ContactPhone, names: &["contact_phone", "Téléphone", "Tél"], values: "a number (05 56 10 20 30)" },
    Column { field: Field::ContactUrl, names: &["contact_url", "Site", "Site web", "Lien"], values: "https://…" },
    Column { field: Field::Available, names: &["available", "Disponibilités", "Périodes"], values: "windows FROM..UNTIL separated by ';' (01/03/2027..31/03/2027)" },
    Column { field: Field::AvailableFrom, names: &["available_from", "Disponible du", "Disponible à partir du", "Du"], values: "a date: 01/03/2027 or 2027-03-01 (one more window, with Disponible au)" },
    Column { field: Field::AvailableUntil, names: &["available_until", "Disponible au", "Disponible jusqu'au", "Au"], values: "a date, the last day included" },
    Column { field: Field::ExpiresInDays, names: &["expires_in_days", "Durée (jours)", "Expire dans (jours)"], values: "1 to 400 days after publication [default: the node's publish.default_lifetime_days]" },
    Column { field: Field::Expires, names: &["expires", "Expiration", "Date d'expiration", "Expire le"], values: "a date (31/12/2027), instead of expires_in_days" },
    Column { field: Field::Id, names: &["id", "Identifiant"], values: "written by `mutua export`: the row updates that listing (see Matching below)" },
    Column { field: Field::Author, names: &["author", "Auteur"], values: "written by `mutua export`: must be the publisher's key when given" },
];

/// The fields a file must have a column for.
pub const MANDATORY: [Field; 5] = [
    Field::Side,
    Field::Kind,
    Field::Title,
    Field::Insee,
    Field::ContactRole,
];

impl Field {
    /// The French name shown when the file has no column for the field.
    pub fn french_name(self) -> &'static str {
        let names = column(self).names;
        names.get(1).copied().unwrap_or(names[0])
    }
}

fn column(field: Field) -> &'static Column {
    LAYOUT
        .iter()
        .find(|c| c.field == field)
        .expect("every field is in the layout")
}

/// Lowercase, accents removed, every run of other characters than letters
/// and digits one space: `Mots-clés` → `mots cles`, `E-mail` → `e mail`.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
    {
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        } else {
            space = true;
        }
    }
    out
}

/// A header folded, then without a bracketed unit or note and a trailing `*`.
fn header_keys(header: &str) -> [String; 2] {
    let without_brackets: String = {
        let mut depth = 0usize;
        header
            .chars()
            .filter(|c| match c {
                '(' | '[' => {
                    depth += 1;
                    false
                }
                ')' | ']' => {
                    depth = depth.saturating_sub(1);
                    false
                }
                _ => depth == 0,
            })
            .collect()
    };
    [fold(header), fold(&without_brackets)]
}

fn names_index() -> HashMap<String, Field> {
    LAYOUT
        .iter()
        .flat_map(|c| c.names.iter().map(move |n| (fold(n), c.field)))
        .collect()
}

/// The field a header names, if any.
pub fn field_of(header: &str) -> Option<Field> {
    let index = names_index();
    header_keys(header)
        .iter()
        .find_map(|k| index.get(k).copied())
}

/// How a file's header maps onto the fields.
#[derive(Debug)]
pub struct Header {
    /// For each column of the file: its field, or `None` for a column with
    /// an empty header (ignored while its cells are empty).
    pub fields: Vec<Option<Field>>,
    /// The header cells as the file spells them.
    pub spelled: Vec<String>,
}

/// What is wrong with a header as a whole (nothing is published then).
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum HeaderError {
    #[error("colonne(s) inconnue(s) : {}. Les colonnes reconnues sont listées par `mutua import --help`", quoted(.0))]
    Unknown(Vec<String>),
    #[error("les colonnes {} désignent le même champ : gardez-en une", quoted(.0))]
    Duplicate(Vec<String>),
    #[error("colonne(s) obligatoire(s) absente(s) : {}", quoted(.0))]
    Missing(Vec<String>),
    #[error("la ligne d'en-tête est vide")]
    Empty,
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("« {n} »"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Header {
    /// Reads a header line; trailing empty cells (spreadsheets write `;;;`)
    /// are dropped.
    pub fn parse(cells: &[String]) -> Result<Header, HeaderError> {
        let mut spelled: Vec<String> = cells
            .iter()
            .map(|c| c.trim().trim_start_matches('\u{feff}').trim().to_owned())
            .collect();
        while spelled.last().is_some_and(String::is_empty) {
            spelled.pop();
        }
        if spelled.is_empty() {
            return Err(HeaderError::Empty);
        }
        let index = names_index();
        let mut unknown = Vec::new();
        let mut fields = Vec::with_capacity(spelled.len());
        for h in &spelled {
            if h.is_empty() {
                fields.push(None);
                continue;
            }
            match header_keys(h).iter().find_map(|k| index.get(k).copied()) {
                Some(f) => fields.push(Some(f)),
                None => {
                    unknown.push(h.clone());
                    fields.push(None);
                }
            }
        }
        if !unknown.is_empty() {
            return Err(HeaderError::Unknown(unknown));
        }
        let mut seen: HashMap<Field, Vec<String>> = HashMap::new();
        for (f, h) in fields.iter().zip(&spelled) {
            if let Some(f) = f {
                seen.entry(*f).or_default().push(h.clone());
            }
        }
        let mut dups: Vec<Vec<String>> = seen.into_values().filter(|v| v.len() > 1).collect();
        dups.sort();
        if let Some(first) = dups.into_iter().next() {
            return Err(HeaderError::Duplicate(first));
        }
        let missing: Vec<String> = MANDATORY
            .iter()
            .filter(|m| !fields.contains(&Some(**m)))
            .map(|m| m.french_name().to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(HeaderError::Missing(missing));
        }
        Ok(Header { fields, spelled })
    }

    /// The column of `field` as the file spells it, or the field's name.
    pub fn spelling(&self, field: Field) -> &str {
        self.fields
            .iter()
            .position(|f| *f == Some(field))
            .map_or(field.french_name(), |i| self.spelled[i].as_str())
    }
}

/// Which of the first rows is the header: the first naming at least three
/// fields (a sheet often starts with a title line, « Inventaire du matériel
/// 2026 »), else the first non-empty one.
pub fn find_header(rows: &[crate::Row]) -> Option<usize> {
    let filled = |r: &crate::Row| r.cells.iter().any(|c| !c.trim().is_empty());
    rows.iter()
        .take(10)
        .position(|r| r.cells.iter().filter(|c| field_of(c).is_some()).count() >= 3)
        .or_else(|| rows.iter().position(filled))
}

/// The layout as a table, for `mutua import --help`: the header names a
/// column may have, then what its cells hold, wrapped to 100 characters.
pub fn help_table() -> String {
    const NAMES: usize = 40;
    const LINE: usize = 100;
    let mut out = String::new();
    for c in LAYOUT {
        let names = c.names.join(", ");
        let mut lines = wrap(c.values, LINE - NAMES - 4).into_iter();
        let first = lines.next().unwrap_or_default();
        let len = names.chars().count();
        if len > NAMES {
            out.push_str(&format!("  {names}\n  {:NAMES$}  {first}\n", ""));
        } else {
            out.push_str(&format!(
                "  {names}{:pad$}  {first}\n",
                "",
                pad = NAMES - len
            ));
        }
        for more in lines {
            out.push_str(&format!("  {:NAMES$}  {more}\n", ""));
        }
    }
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    lines.push(current);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(line: &str) -> Vec<String> {
        line.split(';').map(str::to_owned).collect()
    }

    #[test]
    fn french_headers_in_any_case_and_accents() {
        for (h, f) in [
            ("Intitulé", Field::Title),
            ("INTITULE", Field::Title),
            ("titre", Field::Title),
            ("Mots-clés", Field::Tags),
            ("Etiquettes", Field::Tags),
            ("Code INSEE*", Field::Insee),
            ("Commune", Field::Insee),
            ("Montant (€)", Field::AmountEur),
            ("Montant (en euros)", Field::AmountEur),
            ("Disponible du", Field::AvailableFrom),
            ("DISPONIBLE AU", Field::AvailableUntil),
            ("Téléphone", Field::ContactPhone),
            ("Tél.", Field::ContactPhone),
            ("courriel", Field::ContactEmail),
            ("E-mail", Field::ContactEmail),
            ("Expiration", Field::Expires),
            ("contact_role", Field::ContactRole),
            ("Type", Field::Side),
            ("Nature", Field::Kind),
        ] {
            assert_eq!(field_of(h), Some(f), "{h}");
        }
        assert_eq!(field_of("Couleur"), None);
        let row = |line, text: &str| crate::Row {
            line,
            cells: text.split(';').map(str::to_owned).collect(),
        };
        let rows = [
            row(1, "Inventaire du matériel 2026;;"),
            row(2, ";;"),
            row(3, "Type;Nature;Intitulé"),
        ];
        assert_eq!(find_header(&rows), Some(2));
        assert_eq!(find_header(&rows[..2]), Some(0));
    }

    #[test]
    fn header_rules() {
        let h = Header::parse(&cells("Type;Nature;Intitulé;Commune;Contact;;;")).unwrap();
        assert_eq!(h.fields.len(), 5);
        assert_eq!(h.spelling(Field::Title), "Intitulé");
        assert_eq!(h.spelling(Field::ContactEmail), "Courriel");
        assert_eq!(
            Header::parse(&cells("Type;Nature;Intitulé;Commune;Contact;Couleur")).unwrap_err(),
            HeaderError::Unknown(vec!["Couleur".into()])
        );
        assert_eq!(
            Header::parse(&cells("Type;Nature;Intitulé;Titre;Commune;Contact")).unwrap_err(),
            HeaderError::Duplicate(vec!["Intitulé".into(), "Titre".into()])
        );
        assert_eq!(
            Header::parse(&cells("Type;Intitulé;Commune")).unwrap_err(),
            HeaderError::Missing(vec!["Nature".into(), "Contact".into()])
        );
        // Every name of the layout folds to one field only.
        let mut seen = HashMap::new();
        for c in LAYOUT {
            for n in c.names {
                if let Some(other) = seen.insert(fold(n), c.field) {
                    assert_eq!(other, c.field, "{n} names two fields");
                }
            }
        }
    }
}
