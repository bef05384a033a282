//! Open data out, catalogues in: the pure mappings between Mutua's listings
//! and the formats the French public sector already reads and writes. No
//! I/O, no clock (the time is a parameter): the node's public router, the
//! control API and the CLI call these with what they read.
//!
//! - [`schema_org`]: a listing as a schema.org `Offer` or `Demand`
//!   ([`mutua_api::ListingJsonLd`]).
//! - [`dcat`]: a node's DCAT-AP catalogue, one dataset per hosted
//!   collectivity, for data.gouv.fr's DCAT harvester (JSON-LD and Turtle).
//! - [`distribution`]: a dataset's live listings as CSV (the columns `mutua
//!   import` reads) and JSON.
//! - [`publiccode`]: a publiccode.yml → a software or hosted-service
//!   offer, and a software offer → publiccode.yml.
//! - [`software`]: the SILL's and Comptoir du Libre's JSON exports → a local
//!   catalogue of software, and the `sill:`/`comptoir:`/`wikidata:` tag
//!   convention that ties a listing to it.
//!
//! docs/OPEN-DATA.md documents the vocabulary choices, URLs and the tag
//! convention.

pub mod dates;
pub mod dcat;
pub mod distribution;
mod graph;
pub mod publiccode;
pub mod schema_org;
pub mod software;

use std::collections::HashMap;

use mutua_protocol::{BodyKind, PublicKey};

/// Licence Ouverte / Open Licence 2.0 (Etalab), the licence of every
/// dataset a node publishes: the address data.gouv.fr recognises.
pub const LICENCE_OUVERTE_2: &str =
    "https://www.etalab.gouv.fr/wp-content/uploads/2017/04/ETALAB-Licence-Ouverte-v2.0.pdf";

/// Who a hosted collectivity is, as its membership certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub siren: String,
    pub name: String,
    pub body: BodyKind,
    /// A commune's INSEE code.
    pub insee: Option<String>,
    /// Whether it may admit members (a syndicate running the node).
    pub may_admit: bool,
}

impl From<mutua_api::Certificate> for Identity {
    fn from(c: mutua_api::Certificate) -> Self {
        Identity {
            siren: c.siren,
            name: c.name,
            body: c.body,
            insee: c.insee,
            may_admit: c.may_admit,
        }
    }
}

/// Each subject's identity as its certificate issued last says, among the
/// `certificates` that count (the caller keeps the unrevoked, valid ones).
pub fn latest_identities(
    certificates: impl IntoIterator<Item = mutua_api::Certificate>,
) -> HashMap<PublicKey, Identity> {
    let mut latest: HashMap<PublicKey, mutua_api::Certificate> = HashMap::new();
    for c in certificates {
        if latest
            .get(&c.subject)
            .is_some_and(|seen| seen.issued_at >= c.issued_at)
        {
            continue;
        }
        latest.insert(c.subject, c);
    }
    latest.into_iter().map(|(k, c)| (k, c.into())).collect()
}

/// A collectivity a node hosts, and its live listings.
#[derive(Clone, Debug)]
pub struct Publisher {
    pub key: PublicKey,
    /// `None` when the node holds no certificate for it (yet).
    pub identity: Option<Identity>,
    pub listings: Vec<mutua_api::Listing>,
}

/// Where a node is seen from outside: the base of every URL the open data
/// documents name (`opendata.base_url`, no trailing slash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    base: String,
}

impl Site {
    pub fn new(base_url: &str) -> Site {
        Site {
            base: base_url.trim_end_matches('/').to_owned(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The catalogue document.
    pub fn catalog(&self) -> String {
        format!("{}/catalog.jsonld", self.base)
    }

    /// A hosted collectivity's dataset.
    pub fn dataset(&self, key: &PublicKey) -> String {
        format!("{}/datasets/{}", self.base, key.key_id())
    }

    /// A dataset's distribution, `ext` being `csv` or `json`.
    pub fn distribution(&self, key: &PublicKey, ext: &str) -> String {
        format!("{}/datasets/{}/annonces.{ext}", self.base, key.key_id())
    }

    /// A listing (its JSON-LD is at this address plus `.jsonld`).
    pub fn listing(&self, author: &PublicKey, id: &mutua_protocol::ListingId) -> String {
        format!("{}/annonces/{}/{}", self.base, author.key_id(), id.to_hex())
    }
}

/// The publishing body's type, in the ADMS vocabulary DCAT-AP recommends.
fn publisher_type(body: BodyKind) -> &'static str {
    match body {
        BodyKind::Commune | BodyKind::Epci | BodyKind::Departement | BodyKind::Region => {
            "http://purl.org/adms/publishertype/LocalAuthority"
        }
        BodyKind::Syndicat | BodyKind::OtherPublicBody => {
            "http://purl.org/adms/publishertype/PublicBody"
        }
    }
}

/// The public directory page of a SIREN (annuaire-entreprises.data.gouv.fr),
/// the IRI of a collectivity as a publisher.
pub fn siren_iri(siren: &str) -> String {
    format!("https://annuaire-entreprises.data.gouv.fr/entreprise/{siren}")
}

/// A commune, EPCI or département as data.gouv.fr names a zone
/// (`fr:commune:33063`), and its page in the State's geographic API.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Zone {
    pub level: ZoneLevel,
    pub code: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ZoneLevel {
    Commune,
    Epci,
    Departement,
}

impl Zone {
    pub fn commune(insee: &str) -> Zone {
        Zone {
            level: ZoneLevel::Commune,
            code: insee.to_owned(),
        }
    }

    /// data.gouv.fr's zone id.
    pub fn id(&self) -> String {
        let level = match self.level {
            ZoneLevel::Commune => "commune",
            ZoneLevel::Epci => "epci",
            ZoneLevel::Departement => "departement",
        };
        format!("fr:{level}:{}", self.code)
    }

    /// Its page on geo.api.gouv.fr.
    pub fn iri(&self) -> String {
        let path = match self.level {
            ZoneLevel::Commune => "communes",
            ZoneLevel::Epci => "epcis",
            ZoneLevel::Departement => "departements",
        };
        format!("https://geo.api.gouv.fr/{path}/{}", self.code)
    }
}

/// The French name of a kind of resource, as town halls read it.
pub fn kind_label(kind: mutua_protocol::ResourceKind) -> &'static str {
    use mutua_protocol::ResourceKind::*;
    match kind {
        Skill => "Compétence",
        Equipment => "Matériel",
        Software => "Logiciel",
        HostedService => "Service hébergé",
        Premises => "Locaux",
        Other => "Autre",
    }
}
