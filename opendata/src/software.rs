//! Software catalogues: the SILL's JSON export (`catalogi.json`, made by
//! Catalogi, the application behind code.gouv.fr/sill) and Comptoir du
//! Libre's (`comptoir-du-libre_export_v1.json`), merged into a local
//! [`Catalogue`] that the CLI keeps in the node's data directory.
//!
//! The catalogue is a local convenience: a listing carries its software's
//! ids as ordinary tags ([`CatalogueId::tag`]: `sill:12`, `comptoir:123`,
//! `wikidata:Q123`), which every node stores and searches as it does any
//! tag; the catalogue only lets this node's users find those ids by name
//! and read the software's licence and description. It never changes how a
//! record from a peer is judged.
//!
//! Both exports are read leniently (unknown fields ignored, field names of
//! the older and newer Catalogi exports both accepted), and an entry
//! without a name or id is skipped and counted, not fatal.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An id of a software in a public catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CatalogueId {
    /// The SILL's software id.
    Sill(u64),
    /// Comptoir du Libre's software id (comptoir-du-libre.org/fr/softwares/ID).
    Comptoir(u64),
    /// A Wikidata item (`Q` and digits).
    Wikidata(String),
}

impl CatalogueId {
    /// The tag a listing carries: `sill:12`, `comptoir:123`, `wikidata:Q123`
    /// (lowercase prefix, compared exactly like every tag).
    pub fn tag(&self) -> String {
        match self {
            CatalogueId::Sill(id) => format!("sill:{id}"),
            CatalogueId::Comptoir(id) => format!("comptoir:{id}"),
            CatalogueId::Wikidata(q) => format!("wikidata:{q}"),
        }
    }

    /// The id a tag names, if it follows the convention.
    pub fn from_tag(tag: &str) -> Option<CatalogueId> {
        let (prefix, value) = tag.split_once(':')?;
        match prefix {
            "sill" => number(value).map(CatalogueId::Sill),
            "comptoir" => number(value).map(CatalogueId::Comptoir),
            "wikidata" => wikidata(value).map(CatalogueId::Wikidata),
            _ => None,
        }
    }

    /// The software's public page, where there is one by id.
    pub fn page(&self) -> Option<String> {
        match self {
            CatalogueId::Sill(_) => None,
            CatalogueId::Comptoir(id) => {
                Some(format!("https://comptoir-du-libre.org/fr/softwares/{id}"))
            }
            CatalogueId::Wikidata(q) => Some(format!("https://www.wikidata.org/wiki/{q}")),
        }
    }
}

/// Digits only, no sign, no leading zero (so one id has one tag).
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

fn wikidata(text: &str) -> Option<String> {
    let digits = text.strip_prefix('Q')?;
    number(digits).map(|_| text.to_owned())
}

/// A software as the catalogues describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An SPDX expression, as the catalogue gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// The software's website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sill: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comptoir: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wikidata: Option<String>,
}

impl Software {
    /// Its ids, SILL first.
    pub fn ids(&self) -> Vec<CatalogueId> {
        let mut ids = Vec::new();
        ids.extend(self.sill.map(CatalogueId::Sill));
        ids.extend(self.comptoir.map(CatalogueId::Comptoir));
        ids.extend(self.wikidata.clone().map(CatalogueId::Wikidata));
        ids
    }

    /// The tags a listing of this software carries.
    pub fn tags(&self) -> Vec<String> {
        self.ids().iter().map(CatalogueId::tag).collect()
    }

    /// Whether it has `id`.
    pub fn has(&self, id: &CatalogueId) -> bool {
        match id {
            CatalogueId::Sill(n) => self.sill == Some(*n),
            CatalogueId::Comptoir(n) => self.comptoir == Some(*n),
            CatalogueId::Wikidata(q) => self.wikidata.as_deref() == Some(q),
        }
    }

    /// Fills what `self` lacks from `other` (the same software, seen in
    /// another catalogue).
    fn absorb(&mut self, other: Software) {
        fn fill<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        fill(&mut self.description, other.description);
        fill(&mut self.licence, other.licence);
        fill(&mut self.website, other.website);
        fill(&mut self.sill, other.sill);
        fill(&mut self.comptoir, other.comptoir);
        fill(&mut self.wikidata, other.wikidata);
    }
}

/// Which export a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Sill,
    Comptoir,
}

impl Source {
    /// Its name, in French.
    pub fn label(self) -> &'static str {
        match self {
            Source::Sill => "SILL",
            Source::Comptoir => "Comptoir du Libre",
        }
    }
}

/// What an import did, for the operator's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportSummary {
    pub source: Source,
    /// Entries added to the catalogue.
    pub added: usize,
    /// Entries merged into a software already there (same id or name).
    pub merged: usize,
    /// Entries without a name, skipped.
    pub skipped: usize,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} : {} logiciel(s) ajouté(s), {} complété(s), {} ignoré(s) (sans nom)",
            self.source.label(),
            self.added,
            self.merged,
            self.skipped
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("le fichier n'est pas du JSON valide : {0}")]
    Json(#[from] serde_json::Error),
    #[error("le fichier n'est ni un export du SILL (catalogi.json : une liste de logiciels) ni un export du Comptoir du Libre (un objet avec « softwares »)")]
    Shape,
}

/// The local software catalogue, as saved in the data directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    pub software: Vec<Software>,
}

impl Catalogue {
    /// Reads an export (SILL or Comptoir, recognised by its shape) and
    /// merges it in.
    pub fn import(&mut self, json: &str) -> Result<ImportSummary, CatalogueError> {
        let value: Value = serde_json::from_str(json)?;
        let (source, entries) = entries(&value)?;
        let mut summary = ImportSummary {
            source,
            added: 0,
            merged: 0,
            skipped: 0,
        };
        for entry in entries {
            let parsed = match source {
                Source::Sill => sill_entry(entry),
                Source::Comptoir => comptoir_entry(entry),
            };
            match parsed {
                None => summary.skipped += 1,
                Some(software) => {
                    if self.merge(software) {
                        summary.merged += 1;
                    } else {
                        summary.added += 1;
                    }
                }
            }
        }
        self.software.sort_by_key(|s| fold(&s.name));
        Ok(summary)
    }

    /// Adds `software`, or completes the entry with one of its ids (or,
    /// failing that, its name); says whether it merged.
    fn merge(&mut self, software: Software) -> bool {
        let ids = software.ids();
        let existing = self
            .software
            .iter()
            .position(|s| ids.iter().any(|id| s.has(id)))
            .or_else(|| {
                self.software
                    .iter()
                    .position(|s| fold(&s.name) == fold(&software.name))
            });
        match existing {
            Some(i) => {
                self.software[i].absorb(software);
                true
            }
            None => {
                self.software.push(software);
                false
            }
        }
    }

    /// The software with this id.
    pub fn by_id(&self, id: &CatalogueId) -> Option<&Software> {
        self.software.iter().find(|s| s.has(id))
    }

    /// The software a listing's tags name, if any.
    pub fn for_tags<'a>(&self, tags: impl IntoIterator<Item = &'a String>) -> Option<&Software> {
        tags.into_iter()
            .filter_map(|t| CatalogueId::from_tag(t))
            .find_map(|id| self.by_id(&id))
    }

    /// The software whose name is `name` (case and accents aside), else
    /// those whose name contains it.
    pub fn by_name(&self, name: &str) -> Vec<&Software> {
        let wanted = fold(name);
        let exact: Vec<&Software> = self
            .software
            .iter()
            .filter(|s| fold(&s.name) == wanted)
            .collect();
        if !exact.is_empty() {
            return exact;
        }
        self.software
            .iter()
            .filter(|s| fold(&s.name).contains(&wanted))
            .collect()
    }
}

/// Lowercase without the common French accents, for matching names.
fn fold(text: &str) -> String {
    text.trim()
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        })
        .collect()
}

/// The export's kind and its software entries. Comptoir du Libre's export
/// is an object with `date_of_export` and `softwares`; the SILL's is a
/// list of software (or an object holding one under `softwares`).
fn entries(value: &Value) -> Result<(Source, &Vec<Value>), CatalogueError> {
    match value {
        Value::Array(list) => Ok((Source::Sill, list)),
        Value::Object(map) => {
            let list = map
                .get("softwares")
                .and_then(Value::as_array)
                .ok_or(CatalogueError::Shape)?;
            let comptoir =
                map.contains_key("date_of_export") || map.contains_key("number_of_software");
            Ok((
                if comptoir {
                    Source::Comptoir
                } else {
                    Source::Sill
                },
                list,
            ))
        }
        _ => Err(CatalogueError::Shape),
    }
}

/// The first of `keys` that holds non-empty text.
fn text(entry: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .filter_map(|k| entry.get(*k))
        .filter_map(Value::as_str)
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The first of `keys` that holds an id, as a number or as digits.
fn id(entry: &Value, keys: &[&str]) -> Option<u64> {
    keys.iter()
        .filter_map(|k| entry.get(*k))
        .find_map(|v| match v {
            Value::Number(n) => n.as_u64().filter(|n| *n > 0),
            Value::String(s) => number(s.trim()),
            _ => None,
        })
}

fn sill_entry(entry: &Value) -> Option<Software> {
    let name = text(entry, &["name", "softwareName"])?;
    let wikidata = text(entry, &["wikidataId", "externalId"]).and_then(|q| wikidata(&q));
    let comptoir = id(entry, &["comptoirDuLibreId"]).or_else(|| {
        entry
            .get("comptoirDuLibreSoftware")
            .and_then(|c| id(c, &["id"]))
    });
    Some(Software {
        name,
        description: text(entry, &["description", "softwareDescription", "function"]),
        licence: text(entry, &["license", "licence"]),
        website: text(entry, &["officialWebsite", "url", "website"]),
        sill: id(entry, &["id", "softwareId"]),
        comptoir,
        wikidata,
    })
}

fn comptoir_entry(entry: &Value) -> Option<Software> {
    let name = text(entry, &["name"])?;
    let external = entry.get("external_resources");
    let nested = |key: &str| external.and_then(|e| e.get(key));
    Some(Software {
        name,
        description: text(entry, &["description"]),
        licence: text(entry, &["licence", "license"]),
        website: external.and_then(|e| text(e, &["website"])),
        sill: nested("sill").and_then(|s| id(s, &["id"])),
        comptoir: id(entry, &["id"]),
        wikidata: nested("wikidata")
            .and_then(|w| text(w, &["id"]))
            .and_then(|q| wikidata(&q)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SILL: &str = include_str!("../tests/fixtures/catalogi.json");
    const COMPTOIR: &str = include_str!("../tests/fixtures/comptoir-du-libre_export_v1.json");

    #[test]
    fn tags_follow_the_convention_and_nothing_else_is_an_id() {
        for id in [
            CatalogueId::Sill(12),
            CatalogueId::Comptoir(123),
            CatalogueId::Wikidata("Q2740296".into()),
        ] {
            assert_eq!(CatalogueId::from_tag(&id.tag()), Some(id.clone()));
            assert!(id.tag().chars().count() <= 32);
        }
        for not_an_id in [
            "sill:",
            "sill:012",
            "SILL:12",
            "sill:-1",
            "wikidata:12",
            "rgpd",
            "comptoir:1a",
        ] {
            assert_eq!(CatalogueId::from_tag(not_an_id), None, "{not_an_id}");
        }
    }

    #[test]
    fn the_two_exports_merge_into_one_entry_per_software() {
        let mut catalogue = Catalogue::default();
        let sill = catalogue.import(SILL).unwrap();
        assert_eq!(sill.source, Source::Sill);
        assert_eq!((sill.added, sill.skipped), (3, 1));
        let comptoir = catalogue.import(COMPTOIR).unwrap();
        assert_eq!(comptoir.source, Source::Comptoir);
        // Nextcloud and GLPI are already there (by SILL id and by name), Lutèce is new.
        assert_eq!((comptoir.added, comptoir.merged), (1, 2));
        let nextcloud = catalogue.by_id(&CatalogueId::Sill(12)).unwrap();
        assert_eq!(nextcloud.name, "Nextcloud");
        assert_eq!(nextcloud.comptoir, Some(461));
        assert_eq!(nextcloud.wikidata.as_deref(), Some("Q25874683"));
        assert_eq!(nextcloud.licence.as_deref(), Some("AGPL-3.0-or-later"));
        let glpi = catalogue.by_name("glpi");
        assert_eq!(glpi.len(), 1);
        assert_eq!(glpi[0].comptoir, Some(50));
        assert_eq!(catalogue.by_name("lutece")[0].comptoir, Some(94));
        assert_eq!(
            catalogue.for_tags(&["broyeur".to_owned(), "comptoir:461".to_owned()]),
            Some(nextcloud)
        );
        // Importing again changes nothing.
        let before = catalogue.clone();
        catalogue.import(SILL).unwrap();
        catalogue.import(COMPTOIR).unwrap();
        assert_eq!(catalogue, before);
    }

    #[test]
    fn other_files_are_refused_in_french() {
        let mut catalogue = Catalogue::default();
        let err = catalogue.import(r#"{"communes": []}"#).unwrap_err();
        assert!(err.to_string().contains("ni un export du SILL"), "{err}");
        assert!(catalogue
            .import("[1,")
            .unwrap_err()
            .to_string()
            .contains("JSON"));
    }
}
