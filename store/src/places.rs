//! Commune names and postal codes, and what a user types as a place: the one
//! resolution of "near X" (an INSEE code, a postal code, a commune's name or
//! `lat,lon`) that the node's API, and through it the CLI and the web page,
//! relies on.
//!
//! Loaded on first use (under 1 MB): a node that is never asked for a name
//! never holds them.

use std::sync::OnceLock;

use mutua_protocol::codes::is_valid_insee;
use mutua_protocol::GeoPoint;
use thiserror::Error;

use crate::refdata::{reference, Table, COMMUNES_GZ, DEPARTEMENTS_GZ};
use crate::text::fold;

/// The most candidates an ambiguous name lists.
const MAX_CANDIDATES: usize = 12;

/// One commune, as the place tables know it.
#[derive(Clone, Debug, PartialEq)]
pub struct Commune {
    pub insee: String,
    pub name: String,
    pub departement: String,
    pub departement_name: String,
    /// Its reference point, when the reference data has one.
    pub point: Option<GeoPoint>,
}

/// Where a `near` text points to.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub point: GeoPoint,
    /// The commune the text named, unless it was a point.
    pub commune: Option<Commune>,
}

/// Why a text is not a place. Messages are whole sentences about what the
/// user typed.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum PlaceError {
    #[error(
        "{text:?} is not a point: {reason} (write latitude,longitude in degrees, e.g. 44.84,-0.58)"
    )]
    BadPoint { text: String, reason: &'static str },
    #[error("{code:?} is neither the INSEE code nor a postal code of a commune in the 2026 reference data")]
    UnknownCode { code: String },
    #[error("no commune is named {name:?} in the 2026 reference data (give its INSEE code, its postal code or latitude,longitude)")]
    UnknownName { name: String },
    #[error("{count} communes are named {name:?}: {}; give the INSEE code, or the name with its département, e.g. \"{} ({})\"", list(.candidates), .candidates[0].name, .candidates[0].departement)]
    Ambiguous {
        name: String,
        count: usize,
        /// The first candidates, most populous first.
        candidates: Vec<Commune>,
    },
    #[error("the position of {} ({}) is not known: the reference data has none for it (communes of New Caledonia and French Polynesia, and a few created in 2025–2026); give a point as latitude,longitude instead", .commune.name, .commune.insee)]
    NoPosition { commune: Commune },
}

fn list(candidates: &[Commune]) -> String {
    candidates
        .iter()
        .map(|c| {
            format!(
                "{} ({}) in {} ({})",
                c.name, c.insee, c.departement_name, c.departement
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl PlaceError {
    /// A stable code for APIs.
    pub fn code(&self) -> &'static str {
        match self {
            PlaceError::BadPoint { .. } => "invalid_parameter",
            PlaceError::UnknownCode { .. } | PlaceError::UnknownName { .. } => "unknown_place",
            PlaceError::Ambiguous { .. } => "ambiguous_place",
            PlaceError::NoPosition { .. } => "no_coordinates",
        }
    }
}

/// Per commune, in the reference data's INSEE order.
struct Entry {
    insee: [u8; 5],
    departement: [u8; 3],
    population: u32,
    /// End of its name in `Places::names`.
    name_end: u32,
    /// End of its [`name_key`] in `Places::keys`.
    key_end: u32,
}

/// Names and postal codes of the 2026 communes.
pub struct Places {
    entries: Vec<Entry>,
    names: String,
    /// The names as compared, computed once (a name search compares them all).
    keys: String,
    /// `(postal code, entry index)`, sorted.
    postal: Vec<(u32, u32)>,
    departements: Vec<(String, String)>,
}

/// The place tables, loaded once per process on first use.
pub fn places() -> &'static Places {
    static DATA: OnceLock<Places> = OnceLock::new();
    DATA.get_or_init(Places::load)
}

/// A name as compared: folded, anything but letters and digits a space
/// ("Saint Emilion" is "Saint-Émilion", "l abergement" "L'Abergement").
fn name_key(text: &str) -> String {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Places {
    fn load() -> Places {
        let table = Table::read(COMMUNES_GZ);
        let [insee, name, dept, population, postal_codes] =
            ["insee", "name", "departement", "population", "postal_codes"].map(|c| table.column(c));
        let mut rows: Vec<&csv::StringRecord> = table
            .rows
            .iter()
            .filter(|r| r.get(insee).is_some_and(|c| c.len() == 5))
            .collect();
        rows.sort_by_key(|r| r.get(insee).map(str::to_owned));
        let mut out = Places {
            entries: Vec::with_capacity(rows.len()),
            names: String::new(),
            keys: String::new(),
            postal: Vec::new(),
            departements: Vec::new(),
        };
        for r in rows {
            let field = |i| r.get(i).unwrap_or("");
            let mut departement = [b' '; 3];
            let d = field(dept).as_bytes();
            departement[..d.len().min(3)].copy_from_slice(&d[..d.len().min(3)]);
            out.names.push_str(field(name));
            out.keys.push_str(&name_key(field(name)));
            let index = out.entries.len() as u32;
            out.entries.push(Entry {
                insee: field(insee).as_bytes().try_into().expect("checked above"),
                departement,
                population: field(population).parse().unwrap_or(0),
                name_end: out.names.len() as u32,
                key_end: out.keys.len() as u32,
            });
            out.postal.extend(
                field(postal_codes)
                    .split_whitespace()
                    .filter_map(|p| (p.len() == 5).then(|| p.parse().ok()).flatten())
                    .map(|p| (p, index)),
            );
        }
        out.postal.sort_unstable();
        let departements = Table::read(DEPARTEMENTS_GZ);
        let [code, name] = ["code", "name"].map(|c| departements.column(c));
        out.departements = departements
            .rows
            .iter()
            .map(|r| {
                let f = |i| r.get(i).unwrap_or("").to_owned();
                (f(code), f(name))
            })
            .collect();
        out
    }

    fn name_at(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.entries[i - 1].name_end as usize
        };
        &self.names[start..self.entries[i].name_end as usize]
    }

    fn key_at(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.entries[i - 1].key_end as usize
        };
        &self.keys[start..self.entries[i].key_end as usize]
    }

    fn index_of(&self, insee: &str) -> Option<usize> {
        let key: [u8; 5] = insee.as_bytes().try_into().ok()?;
        self.entries.binary_search_by_key(&key, |e| e.insee).ok()
    }

    /// The name of a commune of the reference data.
    pub fn name_of(&self, insee: &str) -> Option<&str> {
        self.index_of(insee).map(|i| self.name_at(i))
    }

    fn departement_name(&self, code: &str) -> &str {
        self.departements
            .iter()
            .find(|(c, _)| c == code)
            .map_or("", |(_, n)| n.as_str())
    }

    fn commune_at(&self, i: usize) -> Commune {
        let e = &self.entries[i];
        let insee = String::from_utf8_lossy(&e.insee).into_owned();
        let departement = String::from_utf8_lossy(&e.departement)
            .trim_end()
            .to_owned();
        Commune {
            point: reference().position_of(&insee),
            departement_name: self.departement_name(&departement).to_owned(),
            name: self.name_at(i).to_owned(),
            insee,
            departement,
        }
    }

    /// A commune of the reference data by INSEE code.
    pub fn commune(&self, insee: &str) -> Option<Commune> {
        self.index_of(insee).map(|i| self.commune_at(i))
    }

    /// The communes a postal code serves, most populous first.
    pub fn by_postal_code(&self, code: &str) -> Vec<Commune> {
        let Some(n) = (code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()))
            .then(|| code.parse::<u32>().ok())
            .flatten()
        else {
            return Vec::new();
        };
        let start = self.postal.partition_point(|(p, _)| *p < n);
        let mut found: Vec<usize> = self.postal[start..]
            .iter()
            .take_while(|(p, _)| *p == n)
            .map(|(_, i)| *i as usize)
            .collect();
        found.sort_by_key(|i| std::cmp::Reverse(self.entries[*i].population));
        found.into_iter().map(|i| self.commune_at(i)).collect()
    }

    /// The communes with this name (accents, case and punctuation ignored),
    /// optionally within a département, most populous first.
    pub fn by_name(&self, name: &str, departement: Option<&str>) -> Vec<Commune> {
        let wanted = name_key(name);
        let departement = departement.map(str::to_uppercase);
        let mut found: Vec<usize> = (0..self.entries.len())
            .filter(|i| self.key_at(*i) == wanted)
            .filter(|i| {
                departement.as_deref().is_none_or(|d| {
                    String::from_utf8_lossy(&self.entries[*i].departement).trim_end() == d
                })
            })
            .collect();
        found.sort_by_key(|i| std::cmp::Reverse(self.entries[*i].population));
        found.into_iter().map(|i| self.commune_at(i)).collect()
    }

    /// Where `text` points to: `lat,lon`, an INSEE code, a postal code (its
    /// most populous commune), or a commune's name, possibly followed by its
    /// département in parentheses (`Saint-Denis (974)`). An INSEE code wins
    /// over the same digits as a postal code.
    pub fn resolve(&self, text: &str) -> Result<Resolved, PlaceError> {
        let text = text.trim();
        if let Some((lat, lon)) = text.split_once(',') {
            return parse_point(text, lat, lon).map(|point| Resolved {
                point,
                commune: None,
            });
        }
        let code = text.to_uppercase();
        let commune = if let Some(c) = self.commune(&code) {
            c
        } else if code.len() == 5
            && (is_valid_insee(&code) || code.bytes().all(|b| b.is_ascii_digit()))
        {
            self.by_postal_code(&code)
                .into_iter()
                .next()
                .ok_or(PlaceError::UnknownCode { code })?
        } else {
            let (name, departement) = split_departement(text);
            let mut found = self.by_name(name, departement);
            match found.len() {
                0 => {
                    return Err(PlaceError::UnknownName {
                        name: text.to_owned(),
                    })
                }
                1 => found.remove(0),
                count => {
                    found.truncate(MAX_CANDIDATES);
                    return Err(PlaceError::Ambiguous {
                        name: text.to_owned(),
                        count,
                        candidates: found,
                    });
                }
            }
        };
        match commune.point {
            Some(point) => Ok(Resolved {
                point,
                commune: Some(commune),
            }),
            None => Err(PlaceError::NoPosition { commune }),
        }
    }
}

/// `Name (33)` → `("Name", Some("33"))`.
fn split_departement(text: &str) -> (&str, Option<&str>) {
    if let Some(open) = text.strip_suffix(')').and_then(|t| t.rfind('(')) {
        let departement = text[open + 1..text.len() - 1].trim();
        if mutua_protocol::codes::is_valid_departement(&departement.to_uppercase()) {
            return (text[..open].trim(), Some(departement));
        }
    }
    (text, None)
}

fn parse_point(text: &str, lat: &str, lon: &str) -> Result<GeoPoint, PlaceError> {
    let bad = |reason| PlaceError::BadPoint {
        text: text.to_owned(),
        reason,
    };
    let lat: f64 = lat
        .trim()
        .parse()
        .map_err(|_| bad("the latitude is not a number"))?;
    let lon: f64 = lon
        .trim()
        .parse()
        .map_err(|_| bad("the longitude is not a number"))?;
    if !(-90.0..=90.0).contains(&lat) {
        return Err(bad("the latitude is not between -90 and 90"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(bad("the longitude is not between -180 and 180"));
    }
    Ok(GeoPoint::from_degrees(lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commune_of(text: &str) -> String {
        places()
            .resolve(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .commune
            .expect("a commune")
            .insee
    }

    #[test]
    fn codes_postal_codes_and_names() {
        assert_eq!(commune_of("33063"), "33063");
        assert_eq!(commune_of("2a004"), "2A004");
        assert_eq!(commune_of("33000"), "33063");
        assert_eq!(commune_of("bordeaux"), "33063");
        assert_eq!(commune_of(" BORDEAUX "), "33063");
        assert_eq!(commune_of("saint emilion"), "33394");
        assert_eq!(commune_of("Saint-Émilion"), "33394");
        assert_eq!(commune_of("Saint-Denis (974)"), "97411");
        assert_eq!(commune_of("ajaccio (2a)"), "2A004");
        assert_eq!(places().name_of("33063"), Some("Bordeaux"));
        let p = places().resolve("44.84, -0.58").unwrap();
        assert_eq!(p.point, GeoPoint::from_degrees(44.84, -0.58));
        assert_eq!(p.commune, None);
    }

    #[test]
    fn mistakes_are_explained() {
        let e = places().resolve("Saint-Denis").unwrap_err();
        let PlaceError::Ambiguous {
            count, candidates, ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert!(*count > 2 && candidates.iter().any(|c| c.insee == "93066"));
        let text = e.to_string();
        assert!(
            text.contains("Saint-Denis (93066) in Seine-Saint-Denis (93)"),
            "{text}"
        );
        assert!(text.contains("La Réunion (974)"), "{text}");
        assert_eq!(e.code(), "ambiguous_place");
        assert!(matches!(
            places().resolve("33999"),
            Err(PlaceError::UnknownCode { .. })
        ));
        assert!(matches!(
            places().resolve("Nulle-Part-sur-Mer"),
            Err(PlaceError::UnknownName { .. })
        ));
        assert!(matches!(
            places().resolve("91,0"),
            Err(PlaceError::BadPoint { .. })
        ));
        assert!(matches!(
            places().resolve("abc,0"),
            Err(PlaceError::BadPoint { .. })
        ));
        // Papeete: in the reference data, without a position.
        let e = places().resolve("98735").unwrap_err();
        assert!(matches!(e, PlaceError::NoPosition { .. }), "{e:?}");
        assert!(
            e.to_string().contains("Papeete (98735) is not known"),
            "{e}"
        );
    }
}
