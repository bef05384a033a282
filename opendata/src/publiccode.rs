//! publiccode.yml (the standard description of public-sector software,
//! version 0.4) ↔ a software or hosted-service offer.
//!
//! In: `name` → title; `description.fr` (short and long) → description
//! (French is required: town halls read it); `legal.license` → a
//! `licence:<SPDX>` tag; `platforms` → `plateforme:<name>` tags; `url` (the
//! repository) or `landingURL` → the contact's URL; the first
//! `maintenance.contacts` entry → the role contact. A contact must name a
//! function ("Service informatique"), never a person: a contact that looks
//! like a person's name or a personal address is refused in French.
//! Out: the same fields back, so an offer made from a publiccode.yml
//! exports to one that makes the same offer.

use mutua_api::ListingContent;
use serde::{Deserialize, Serialize};

/// The parts of publiccode.yml Mutua reads and writes (other keys are
/// ignored when reading).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicCode {
    #[serde(default)]
    pub publiccode_yml_version: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    #[serde(
        rename = "landingURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub landing_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub development_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_type: Option<String>,
    #[serde(default)]
    pub description: std::collections::BTreeMap<String, Description>,
    #[serde(default)]
    pub legal: Legal,
    #[serde(default)]
    pub maintenance: Maintenance,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Description {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_description: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Legal {
    #[serde(default)]
    pub license: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<MaintenanceContact>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceContact {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// Why a publiccode.yml makes no offer; messages in French, for the
/// publisher.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PublicCodeError {
    #[error("publiccode.yml illisible : {0}")]
    Yaml(String),
    #[error("publiccode.yml : le champ « {0} » est vide ou absent")]
    Missing(&'static str),
    #[error("publiccode.yml : pas de description en français (« description: fr: »), or l'annonce est lue par des agents de mairie")]
    NoFrench,
    #[error("publiccode.yml : le contact de maintenance « {0} » semble désigner une personne ; Mutua ne publie que des contacts fonctionnels (par exemple « Service informatique », si@mairie.example) : remplacez-le dans le fichier, ou donnez --contact-role et --contact-email")]
    PersonalContact(String),
    #[error("publiccode.yml : l'adresse « {0} » semble personnelle (prénom.nom) ; donnez une adresse de service (si@…, support@…)")]
    PersonalEmail(String),
}

/// The tag that carries a licence, when it fits in a tag (32 characters).
pub fn licence_tag(spdx: &str) -> Option<String> {
    let tag = format!("licence:{}", spdx.trim());
    (tag.chars().count() <= 32 && !spdx.trim().is_empty()).then_some(tag)
}

/// The tag that carries a platform.
pub fn platform_tag(platform: &str) -> Option<String> {
    let tag = format!("plateforme:{}", platform.trim());
    (tag.chars().count() <= 32 && !platform.trim().is_empty()).then_some(tag)
}

/// Words that make a contact's name a function rather than a person.
const ROLE_WORDS: &[&str] = &[
    "service",
    "services",
    "direction",
    "secretariat",
    "pole",
    "mission",
    "equipe",
    "cellule",
    "dsi",
    "dsin",
    "dnum",
    "support",
    "mairie",
    "accueil",
    "bureau",
    "division",
    "departement",
    "unite",
    "informatique",
    "numerique",
    "syndicat",
    "communaute",
    "agence",
    "centre",
    "guichet",
    "referent",
    "responsable",
    "delegue",
    "dpo",
    "assistance",
    "helpdesk",
    "team",
    "office",
    "contact",
    "maintenance",
    "administrateur",
    "administration",
];

/// Generic mailbox names (`si@`, `contact@`…) besides the role words.
const ROLE_MAILBOXES: &[&str] = &[
    "si", "it", "info", "infos", "dev", "admin", "hello", "bonjour", "noreply", "no-reply",
];

fn fold(text: &str) -> String {
    text.chars()
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

fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `name` names a function: it holds a role word, or is an
/// acronym (`DSI`, `SIG`).
pub fn is_role(name: &str) -> bool {
    let acronym = name.len() >= 2 && name.chars().all(|c| c.is_ascii_uppercase() || c == ' ');
    acronym || words(name).iter().any(|w| ROLE_WORDS.contains(&w.as_str()))
}

/// Whether `email`'s mailbox looks like a service's, not `prenom.nom`.
pub fn is_role_email(email: &str) -> bool {
    let local = email.split('@').next().unwrap_or("");
    let parts = words(local);
    let generic =
        |w: &String| ROLE_WORDS.contains(&w.as_str()) || ROLE_MAILBOXES.contains(&w.as_str());
    parts.iter().any(generic) || !local.contains(['.', '_'])
}

/// What a publiccode.yml says about an offer; the caller adds where it is
/// and on what terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoftwareOffer {
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub url: Option<String>,
    /// The first maintenance contact (checked to be a role), if any.
    pub contact: Option<MaintenanceContact>,
}

/// Reads a publiccode.yml.
pub fn parse(yaml: &str) -> Result<SoftwareOffer, PublicCodeError> {
    let code: PublicCode =
        serde_norway::from_str(yaml).map_err(|e| PublicCodeError::Yaml(e.to_string()))?;
    let title = code.name.trim().to_owned();
    if title.is_empty() {
        return Err(PublicCodeError::Missing("name"));
    }
    let fr = code
        .description
        .get("fr")
        .ok_or(PublicCodeError::NoFrench)?;
    let parts: Vec<&str> = [&fr.short_description, &fr.long_description]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(PublicCodeError::NoFrench);
    }
    let description = truncate(
        &parts.join("\n\n"),
        mutua_protocol::rules::MAX_DESCRIPTION_BYTES,
    );
    let mut tags: Vec<String> = Vec::new();
    tags.extend(licence_tag(&code.legal.license));
    for p in &code.platforms {
        if let Some(tag) = platform_tag(p) {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    tags.truncate(mutua_protocol::rules::MAX_TAGS);
    let contact = code.maintenance.contacts.into_iter().next();
    if let Some(c) = &contact {
        if !is_role(&c.name) {
            return Err(PublicCodeError::PersonalContact(c.name.clone()));
        }
        if let Some(email) = c.email.as_deref().filter(|e| !is_role_email(e)) {
            return Err(PublicCodeError::PersonalEmail(email.to_owned()));
        }
    }
    let url = [Some(code.url), code.landing_url]
        .into_iter()
        .flatten()
        .map(|u| u.trim().to_owned())
        .find(|u| !u.is_empty());
    Ok(SoftwareOffer {
        title,
        description,
        tags,
        url,
        contact,
    })
}

/// At most `max` bytes, cut at a character boundary, with an ellipsis when
/// cut.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text[..end].trim_end())
}

/// A software or hosted-service offer as publiccode.yml.
pub fn export(c: &ListingContent) -> String {
    let tagged = |prefix: &str| -> Vec<String> {
        c.tags
            .iter()
            .filter_map(|t| t.strip_prefix(prefix).map(str::to_owned))
            .collect()
    };
    let (short, long) = match c.description.split_once("\n\n") {
        Some((s, l)) if s.chars().count() <= 150 => (s.to_owned(), Some(l.to_owned())),
        _ => (c.description.clone(), None),
    };
    let mut description = std::collections::BTreeMap::new();
    description.insert(
        "fr".to_owned(),
        Description {
            short_description: Some(short),
            long_description: long,
        },
    );
    let code = PublicCode {
        publiccode_yml_version: "0.4".into(),
        name: c.title.clone(),
        url: c.contact.url.clone().unwrap_or_default(),
        landing_url: None,
        platforms: tagged("plateforme:"),
        development_status: Some("stable".into()),
        software_type: Some(
            if c.kind == mutua_protocol::ResourceKind::HostedService {
                "standalone/web"
            } else {
                "standalone/other"
            }
            .into(),
        ),
        description,
        legal: Legal {
            license: tagged("licence:").into_iter().next().unwrap_or_default(),
        },
        maintenance: Maintenance {
            kind: "internal".into(),
            contacts: vec![MaintenanceContact {
                name: c.contact.role.clone(),
                email: c.contact.email.clone(),
                phone: c.contact.phone.clone(),
            }],
        },
    };
    serde_norway::to_string(&code).expect("publiccode serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = include_str!("../tests/fixtures/publiccode.yml");

    #[test]
    fn a_publiccode_file_makes_an_offer_with_role_contact_licence_and_platforms() {
        let offer = parse(FILE).unwrap();
        assert_eq!(offer.title, "Portail citoyen");
        assert!(offer.description.starts_with("Démarches en ligne"));
        assert_eq!(
            offer.tags,
            [
                "licence:AGPL-3.0-or-later",
                "plateforme:web",
                "plateforme:linux"
            ]
        );
        assert_eq!(
            offer.url.as_deref(),
            Some("https://forge.example/portail-citoyen")
        );
        assert_eq!(
            offer.contact.unwrap().name,
            "Service informatique mutualisé"
        );
    }

    #[test]
    fn a_person_as_contact_is_refused_in_french() {
        let person = FILE.replace("Service informatique mutualisé", "Jean Dupont");
        let err = parse(&person).unwrap_err();
        assert_eq!(err, PublicCodeError::PersonalContact("Jean Dupont".into()));
        assert!(err.to_string().contains("semble désigner une personne"));
        let personal = FILE.replace("si@syndicat.example", "jean.dupont@syndicat.example");
        assert!(matches!(
            parse(&personal),
            Err(PublicCodeError::PersonalEmail(_))
        ));
        let english = FILE.replace("  fr:\n", "  en:\n");
        assert_eq!(parse(&english), Err(PublicCodeError::NoFrench));
        assert!(is_role("DSI") && is_role("Référent RGPD") && !is_role("Marie Curie"));
    }

    #[test]
    fn long_descriptions_are_cut_at_a_character() {
        let text = "é".repeat(3000);
        let cut = truncate(&text, 4000);
        assert!(cut.len() <= 4000 && cut.ends_with('…'));
    }
}
