//! A node's DCAT-AP catalogue, for data.gouv.fr's DCAT harvester: one
//! `dcat:Dataset` per hosted collectivity ("Ressources mutualisées de …"),
//! each with its live offers and needs as a CSV and a JSON distribution.
//!
//! What each property carries, following data.gouv.fr's field mapping and
//! DCAT-AP's mandatory and recommended properties:
//!
//! - Catalogue: `dct:title`, `dct:description`, `dct:publisher` (mandatory),
//!   `dcat:dataset`, `foaf:homepage`, `dct:language`, `dct:license`,
//!   `dct:modified`.
//! - Dataset: `dct:title`, `dct:description` (mandatory); `dcat:keyword`
//!   (data.gouv.fr's tags), `dct:publisher` (a `foaf:Agent` named by its
//!   SIREN: `dct:identifier`, and the directory page of the SIREN as IRI),
//!   `dct:spatial` (a `dct:Location` per commune/EPCI, named by its
//!   geo.api.gouv.fr page, `dct:identifier` data.gouv.fr's zone id
//!   `fr:commune:33063`), `dct:temporal` (a `dct:PeriodOfTime` from the
//!   first publication to the last expiry), `dct:accrualPeriodicity`
//!   (`freq:continuous`: listings change whenever a collectivity
//!   publishes), `dct:license` (Licence Ouverte 2.0), `dct:identifier`
//!   (data.gouv.fr's remote id), `dct:issued`/`dct:modified`,
//!   `dcat:contactPoint` (a `vcard:Organization`, the collectivity, never
//!   a person), `dcat:distribution`.
//! - Distribution: `dcat:accessURL` (mandatory), `dcat:downloadURL`,
//!   `dct:title`, `dct:description`, `dct:format`, `dcat:mediaType`,
//!   `dct:license` (data.gouv.fr reads the licence from distributions).

use mutua_api::Listing;
use serde_json::Value;

use crate::dates::{date, date_time};
use crate::graph::{Node, Object};
use crate::{
    publisher_type, siren_iri, Identity, Publisher, Site, Zone, ZoneLevel, LICENCE_OUVERTE_2,
};

const FREQ_CONTINUOUS: &str = "http://purl.org/cld/freq/continuous";
const FRENCH: &str = "http://publications.europa.eu/resource/authority/language/FRA";
const FILE_TYPE: &str = "http://publications.europa.eu/resource/authority/file-type/";
const MEDIA_TYPE: &str = "https://www.iana.org/assignments/media-types/";

/// What the catalogue describes.
pub struct CatalogInput<'a> {
    pub site: &'a Site,
    pub federation: &'a str,
    pub publishers: &'a [Publisher],
    pub now: u64,
}

/// The catalogue as JSON-LD (context inlined).
pub fn catalog_json_ld(input: &CatalogInput) -> Value {
    catalog(input).to_json_ld(true)
}

/// The catalogue as Turtle.
pub fn catalog_turtle(input: &CatalogInput) -> String {
    catalog(input).to_turtle()
}

/// The publisher of the catalogue: the collectivity that may admit members
/// (the syndicate running the node), else the first hosted one.
fn operator(publishers: &[Publisher]) -> Option<&Identity> {
    let identities = || publishers.iter().filter_map(|p| p.identity.as_ref());
    identities()
        .find(|i| i.may_admit)
        .or_else(|| identities().next())
}

fn agent(identity: Option<&Identity>, fallback: &str) -> Node {
    match identity {
        Some(i) => {
            let mut a = Node::new(Some(siren_iri(&i.siren)), "foaf:Agent");
            a.add("foaf:name", Object::text(&i.name))
                .add("dct:identifier", Object::text(&i.siren))
                .add("dct:type", Object::iri(publisher_type(i.body)));
            a
        }
        None => {
            let mut a = Node::new(None, "foaf:Agent");
            a.add("foaf:name", Object::text(fallback));
            a
        }
    }
}

fn catalog(input: &CatalogInput) -> Node {
    let site = input.site;
    let mut c = Node::new(Some(site.catalog()), "dcat:Catalog");
    let operator = operator(input.publishers);
    let name = operator.map_or_else(
        || format!("la fédération {}", input.federation),
        |i| i.name.clone(),
    );
    c.add(
        "dct:title",
        Object::fr(format!("Ressources mutualisées — nœud Mutua de {name}")),
    )
    .add(
        "dct:description",
        Object::fr(format!(
            "Offres et besoins de matériel, de compétences, de logiciels et de locaux que les \
             collectivités hébergées par ce nœud partagent dans la fédération Mutua « {} ». \
             Un jeu de données par collectivité ; contacts : des fonctions, jamais des personnes.",
            input.federation
        )),
    )
    .add(
        "dct:publisher",
        Object::Node(agent(
            operator,
            &format!("Fédération Mutua {}", input.federation),
        )),
    )
    .add("foaf:homepage", Object::iri(format!("{}/", site.base())))
    .add("dct:language", Object::iri(FRENCH))
    .add("dct:license", Object::iri(LICENCE_OUVERTE_2))
    .add(
        "dct:modified",
        Object::typed(date_time(input.now), "xsd:dateTime"),
    );
    for p in input.publishers {
        c.add("dcat:dataset", Object::Node(dataset(input, p)));
    }
    c
}

/// The zones a collectivity covers: its own commune or EPCI, and the
/// communes its listings are in.
fn zones(p: &Publisher) -> Vec<Zone> {
    let mut zones = Vec::new();
    if let Some(i) = &p.identity {
        match (&i.insee, i.body) {
            (Some(insee), _) => zones.push(Zone::commune(insee)),
            (None, mutua_protocol::BodyKind::Epci) => zones.push(Zone {
                level: ZoneLevel::Epci,
                code: i.siren.clone(),
            }),
            _ => {}
        }
    }
    let mut communes: Vec<Zone> = p
        .listings
        .iter()
        .map(|l| Zone::commune(&l.content.location.insee))
        .collect();
    communes.sort();
    communes.dedup();
    for z in communes {
        if !zones.contains(&z) {
            zones.push(z);
        }
    }
    zones
}

/// The distinct tags and kinds of the listings, most used first, at most 30.
fn keywords(listings: &[Listing]) -> Vec<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let words = listings.iter().flat_map(|l| {
        std::iter::once(crate::kind_label(l.content.kind).to_lowercase())
            .chain(l.content.tags.iter().cloned())
    });
    for w in words {
        match counts.iter_mut().find(|(k, _)| *k == w) {
            Some((_, n)) => *n += 1,
            None => counts.push((w, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = vec!["mutualisation".to_owned(), "collectivités".to_owned()];
    out.extend(counts.into_iter().map(|(k, _)| k).take(28));
    out
}

fn dataset(input: &CatalogInput, p: &Publisher) -> Node {
    let site = input.site;
    let name = p
        .identity
        .as_ref()
        .map_or_else(|| p.key.key_id(), |i| i.name.clone());
    let mut d = Node::new(Some(site.dataset(&p.key)), "dcat:Dataset");
    let offers = p
        .listings
        .iter()
        .filter(|l| l.content.side == mutua_api::Side::Offer)
        .count();
    let needs = p.listings.len() - offers;
    let siren = p
        .identity
        .as_ref()
        .map(|i| format!(" (SIREN {})", i.siren))
        .unwrap_or_default();
    d.add(
        "dct:title",
        Object::fr(format!("Ressources mutualisées de {name}")),
    )
    .add(
        "dct:description",
        Object::fr(format!(
            "Ce que {name}{siren} propose de prêter ou de partager avec d'autres collectivités \
                 (matériel, compétences, logiciels, services hébergés, locaux) et ce qu'elle \
                 recherche, tel que publié dans la fédération Mutua « {} ». {offers} offre(s) et \
                 {needs} besoin(s) en cours. Chaque annonce indique la commune, la zone \
                 desservie, les disponibilités, les conditions (gratuit ou participation aux \
                 frais) et un contact fonctionnel.",
            input.federation
        )),
    )
    .add(
        "dct:identifier",
        Object::text(format!("mutua:{}:{}", input.federation, p.key.key_id())),
    );
    for k in keywords(&p.listings) {
        d.add("dcat:keyword", Object::fr(k));
    }
    d.add(
        "dct:publisher",
        Object::Node(agent(p.identity.as_ref(), &name)),
    );
    let mut contact = Node::new(None, "vcard:Organization");
    contact.add("vcard:fn", Object::text(&name));
    d.add("dcat:contactPoint", Object::Node(contact));
    for z in zones(p) {
        let mut location = Node::new(Some(z.iri()), "dct:Location");
        location.add("dct:identifier", Object::text(z.id()));
        d.add("dct:spatial", Object::Node(location));
    }
    let first = p.listings.iter().map(|l| l.published_at).min();
    let last_expiry = p.listings.iter().filter_map(|l| l.content.expires_at).max();
    if let (Some(start), Some(end)) = (first, last_expiry) {
        let mut period = Node::new(None, "dct:PeriodOfTime");
        period
            .add("dcat:startDate", Object::typed(date(start), "xsd:date"))
            .add("dcat:endDate", Object::typed(date(end), "xsd:date"));
        d.add("dct:temporal", Object::Node(period));
        d.add(
            "dct:issued",
            Object::typed(date_time(start), "xsd:dateTime"),
        );
    }
    let modified = p
        .listings
        .iter()
        .map(|l| l.published_at)
        .max()
        .unwrap_or(input.now);
    d.add(
        "dct:modified",
        Object::typed(date_time(modified), "xsd:dateTime"),
    )
    .add("dct:accrualPeriodicity", Object::iri(FREQ_CONTINUOUS))
    .add("dct:license", Object::iri(LICENCE_OUVERTE_2))
    .add(
        "dct:language",
        Object::iri("http://publications.europa.eu/resource/authority/language/FRA"),
    );
    for (ext, format, media, label) in [
        (
            "csv",
            "CSV",
            "text/csv",
            "CSV (colonnes de « mutua import »)",
        ),
        ("json", "JSON", "application/json", "JSON"),
    ] {
        let url = site.distribution(&p.key, ext);
        let mut dist = Node::new(Some(url.clone()), "dcat:Distribution");
        dist.add(
            "dct:title",
            Object::fr(format!("Annonces en cours — {label}")),
        )
        .add(
            "dct:description",
            Object::fr(format!(
                "Les offres et besoins en cours de {name}, régénérés à chaque lecture."
            )),
        )
        .add("dcat:accessURL", Object::iri(url.clone()))
        .add("dcat:downloadURL", Object::iri(url))
        .add("dct:format", Object::iri(format!("{FILE_TYPE}{format}")))
        .add(
            "dcat:mediaType",
            Object::iri(format!("{MEDIA_TYPE}{media}")),
        )
        .add("dct:license", Object::iri(LICENCE_OUVERTE_2))
        .add(
            "dct:modified",
            Object::typed(date_time(modified), "xsd:dateTime"),
        );
        d.add("dcat:distribution", Object::Node(dist));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_org::tests::sample;
    use mutua_api::Side;
    use mutua_protocol::{BodyKind, ResourceKind};

    fn publishers() -> Vec<Publisher> {
        let l = sample(Side::Offer, ResourceKind::Equipment);
        vec![
            Publisher {
                key: l.author,
                identity: Some(Identity {
                    siren: "243300316".into(),
                    name: "Bordeaux Métropole".into(),
                    body: BodyKind::Epci,
                    insee: None,
                    may_admit: false,
                }),
                listings: vec![l],
            },
            Publisher {
                key: mutua_protocol::SecretKey::from_seed([9; 32]).public(),
                identity: None,
                listings: vec![],
            },
        ]
    }

    #[test]
    fn one_dataset_per_publisher_with_its_zones_period_and_distributions() {
        let site = Site::new("https://mutua.example");
        let publishers = publishers();
        let input = CatalogInput {
            site: &site,
            federation: "gironde-numerique",
            publishers: &publishers,
            now: 1_800_000_000,
        };
        let ld = catalog_json_ld(&input);
        let datasets = ld["dcat:dataset"].as_array().unwrap();
        assert_eq!(datasets.len(), 2);
        let d = &datasets[0];
        assert_eq!(
            d["dct:title"][0]["@value"],
            "Ressources mutualisées de Bordeaux Métropole"
        );
        assert_eq!(
            d["dct:publisher"][0]["dct:identifier"][0]["@value"],
            "243300316"
        );
        let zones: Vec<&str> = d["dct:spatial"]
            .as_array()
            .unwrap()
            .iter()
            .map(|z| z["dct:identifier"][0]["@value"].as_str().unwrap())
            .collect();
        assert_eq!(zones, ["fr:epci:243300316", "fr:commune:33063"]);
        assert_eq!(
            d["dct:temporal"][0]["dcat:startDate"][0]["@value"],
            "2027-01-15"
        );
        assert_eq!(d["dcat:distribution"].as_array().unwrap().len(), 2);
        // The publisher without a certificate still gets a dataset, named by its key.
        assert!(datasets[1]["dct:title"][0]["@value"]
            .as_str()
            .unwrap()
            .contains("mk"));
        assert!(datasets[1].get("dct:temporal").is_none());
        let ttl = catalog_turtle(&input);
        assert!(ttl.contains("a dcat:Catalog"), "{ttl}");
    }
}
