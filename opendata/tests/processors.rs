//! The open data as real RDF processors read it: PyLD expands the JSON-LD
//! (contexts inlined, the document loader refusing any fetch) and the
//! DCAT-AP mandatory properties, and the recommended ones this node fills,
//! are checked on the expanded graph by IRI, not on the text; rdflib (what
//! data.gouv.fr's harvester parses DCAT with) finds the JSON-LD and the
//! Turtle catalogues to be the same graph.
//!
//! Needs `python3` with `opendata/tests/rdf/requirements.txt` installed
//! (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use mutua_api::{Listing, ListingContent, Side};
use mutua_opendata::dcat::{catalog_json_ld, catalog_turtle, CatalogInput};
use mutua_opendata::{schema_org, Identity, Publisher, Site};
use mutua_protocol::{
    BodyKind, Contact, FixedBytes, GeoPoint, Location, Pricing, ResourceKind, ServiceArea, Terms,
    Window,
};
use serde_json::Value;

const DCAT: &str = "http://www.w3.org/ns/dcat#";
const DCT: &str = "http://purl.org/dc/terms/";
const FOAF: &str = "http://xmlns.com/foaf/0.1/";
const SCHEMA: &str = "https://schema.org/";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rdf/process.py")
}

fn python(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let out = Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .expect("python3 runs (install opendata/tests/rdf/requirements.txt; .ci/run does)");
    assert!(
        out.status.success(),
        "{}\n{}\n(install opendata/tests/rdf/requirements.txt; .ci/run does)",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `doc` expanded by PyLD.
fn expand(doc: &Value) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.jsonld");
    std::fs::write(&path, serde_json::to_vec(doc).unwrap()).unwrap();
    let out = python(&["expand".as_ref(), path.as_os_str()]);
    serde_json::from_slice(&out.stdout).expect("PyLD prints JSON")
}

fn listing(side: Side, kind: ResourceKind, seed: u8, insee: &str) -> Listing {
    Listing {
        author: mutua_protocol::SecretKey::from_seed([seed; 32]).public(),
        id: FixedBytes([seed; 16]),
        version: 1,
        hash: FixedBytes([seed; 32]),
        published_at: 1_800_000_000,
        content: ListingContent {
            side,
            kind,
            title: "Nacelle 12 m".into(),
            description: "Avec chauffeur, « sur convention »".into(),
            tags: vec!["nacelle".into(), "sill:12".into()],
            location: Location {
                insee: insee.into(),
                point: Some(GeoPoint::from_degrees(44.84, -0.58)),
            },
            area: ServiceArea {
                radius_km: Some(20),
                ..ServiceArea::default()
            },
            capacity: None,
            availability: vec![Window {
                from: 1_800_100_000,
                until: 1_800_200_000,
            }],
            terms: Terms {
                pricing: Pricing::CostSharing {
                    amount_cents: 9000,
                    per: "jour".into(),
                },
                convention_required: true,
            },
            contact: Contact {
                role: "Services techniques".into(),
                email: Some("st@mairie.example".into()),
                phone: Some("05 56 00 00 00".into()),
                url: None,
            },
            expires_at: Some(1_807_000_000),
        },
    }
}

fn publishers() -> Vec<Publisher> {
    let offer = listing(Side::Offer, ResourceKind::Equipment, 3, "33063");
    let need = listing(Side::Need, ResourceKind::Skill, 3, "33318");
    vec![
        Publisher {
            key: offer.author,
            identity: Some(Identity {
                siren: "243300316".into(),
                name: "Bordeaux Métropole".into(),
                body: BodyKind::Epci,
                insee: None,
                may_admit: true,
            }),
            listings: vec![offer, need],
        },
        Publisher {
            key: mutua_protocol::SecretKey::from_seed([4; 32]).public(),
            identity: Some(Identity {
                siren: "213300635".into(),
                name: "Bordeaux".into(),
                body: BodyKind::Commune,
                insee: Some("33063".into()),
                may_admit: false,
            }),
            listings: vec![],
        },
    ]
}

/// The values of `property` (a full IRI) on an expanded node.
fn values<'a>(node: &'a Value, property: &str) -> &'a [Value] {
    node.get(property)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn has_type(node: &Value, iri: &str) -> bool {
    values(node, "@type").iter().any(|t| t == iri)
}

/// A literal property holds at least one non-empty value.
fn assert_text(node: &Value, property: &str, what: &str) -> String {
    let text = values(node, property)
        .iter()
        .find_map(|v| v["@value"].as_str())
        .unwrap_or_else(|| panic!("{what} has no {property}: {node:#}"));
    assert!(!text.is_empty(), "{what}: empty {property}");
    text.to_owned()
}

fn assert_iri(node: &Value, property: &str, what: &str) -> String {
    values(node, property)
        .iter()
        .find_map(|v| v["@id"].as_str())
        .unwrap_or_else(|| panic!("{what} has no IRI for {property}: {node:#}"))
        .to_owned()
}

#[test]
fn the_catalogue_expands_with_every_dcat_ap_mandatory_property() {
    let site = Site::new("https://mutua.syndicat.example");
    let publishers = publishers();
    let input = CatalogInput {
        site: &site,
        federation: "gironde-numerique",
        publishers: &publishers,
        now: 1_800_500_000,
    };
    let expanded = expand(&catalog_json_ld(&input));
    assert_eq!(expanded.len(), 1, "one top node, the catalogue");
    let catalog = &expanded[0];
    assert!(has_type(catalog, &format!("{DCAT}Catalog")));
    // DCAT-AP Catalogue, mandatory: title, description, publisher, dataset.
    assert_text(catalog, &format!("{DCT}title"), "the catalogue");
    assert_text(catalog, &format!("{DCT}description"), "the catalogue");
    let publisher = &values(catalog, &format!("{DCT}publisher"))[0];
    assert_eq!(
        assert_text(publisher, &format!("{FOAF}name"), "the publisher"),
        "Bordeaux Métropole"
    );
    let datasets = values(catalog, &format!("{DCAT}dataset"));
    assert_eq!(datasets.len(), 2);
    for d in datasets {
        assert!(has_type(d, &format!("{DCAT}Dataset")));
        // Dataset, mandatory: title and description.
        let title = assert_text(d, &format!("{DCT}title"), "a dataset");
        assert!(title.starts_with("Ressources mutualisées de "), "{title}");
        assert_text(d, &format!("{DCT}description"), "a dataset");
        // Recommended, and what data.gouv.fr maps.
        let agent = &values(d, &format!("{DCT}publisher"))[0];
        assert_text(agent, &format!("{FOAF}name"), "a dataset's publisher");
        let siren = assert_text(agent, &format!("{DCT}identifier"), "a dataset's publisher");
        assert!(siren.len() == 9 && siren.bytes().all(|b| b.is_ascii_digit()));
        assert!(!values(d, &format!("{DCAT}keyword")).is_empty());
        assert!(!values(d, &format!("{DCAT}contactPoint")).is_empty());
        assert!(!values(d, &format!("{DCT}spatial")).is_empty());
        assert_eq!(
            assert_iri(d, &format!("{DCT}license"), "a dataset"),
            mutua_opendata::LICENCE_OUVERTE_2
        );
        assert_eq!(
            assert_iri(d, &format!("{DCT}accrualPeriodicity"), "a dataset"),
            "http://purl.org/cld/freq/continuous"
        );
        let distributions = values(d, &format!("{DCAT}distribution"));
        assert_eq!(distributions.len(), 2, "CSV and JSON");
        for dist in distributions {
            assert!(has_type(dist, &format!("{DCAT}Distribution")));
            // Distribution, mandatory: access URL.
            let url = assert_iri(dist, &format!("{DCAT}accessURL"), "a distribution");
            assert!(
                url.starts_with("https://mutua.syndicat.example/datasets/mk"),
                "{url}"
            );
            assert_iri(dist, &format!("{DCT}license"), "a distribution");
            assert_iri(dist, &format!("{DCT}format"), "a distribution");
        }
    }
    // The dataset with listings has a temporal coverage from its first
    // publication to its last expiry; zones are data.gouv.fr's ids.
    let metropole = &datasets[0];
    let period = &values(metropole, &format!("{DCT}temporal"))[0];
    assert_eq!(
        period[format!("{DCAT}startDate")][0]["@value"],
        "2027-01-15"
    );
    assert_eq!(
        period[format!("{DCAT}startDate")][0]["@type"],
        "http://www.w3.org/2001/XMLSchema#date"
    );
    let zones: Vec<String> = values(metropole, &format!("{DCT}spatial"))
        .iter()
        .map(|z| assert_text(z, &format!("{DCT}identifier"), "a zone"))
        .collect();
    assert_eq!(
        zones,
        ["fr:epci:243300316", "fr:commune:33063", "fr:commune:33318"]
    );
}

#[test]
fn turtle_and_json_ld_catalogues_are_the_same_graph() {
    let site = Site::new("https://mutua.syndicat.example");
    let publishers = publishers();
    let input = CatalogInput {
        site: &site,
        federation: "gironde-numerique",
        publishers: &publishers,
        now: 1_800_500_000,
    };
    let dir = tempfile::tempdir().unwrap();
    let (ld, ttl) = (dir.path().join("c.jsonld"), dir.path().join("c.ttl"));
    std::fs::write(&ld, serde_json::to_vec(&catalog_json_ld(&input)).unwrap()).unwrap();
    std::fs::write(&ttl, catalog_turtle(&input)).unwrap();
    let out = python(&["same-graph".as_ref(), ld.as_os_str(), ttl.as_os_str()]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("isomorphic"));
}

#[test]
fn a_listing_expands_to_a_schema_org_offer_or_demand() {
    let site = Site::new("https://mutua.syndicat.example");
    let identity = publishers()[0].identity.clone().unwrap();
    for (side, kind, schema_type, function) in [
        (Side::Offer, ResourceKind::Equipment, "Offer", "LeaseOut"),
        (Side::Need, ResourceKind::Skill, "Demand", "ProvideService"),
    ] {
        let l = listing(side, kind, 3, "33063");
        let doc =
            serde_json::to_value(schema_org::listing(&l, Some(&identity), Some(&site))).unwrap();
        let expanded = expand(&doc);
        let node = &expanded[0];
        assert!(
            has_type(node, &format!("{SCHEMA}{schema_type}")),
            "{node:#}"
        );
        assert_eq!(
            assert_iri(node, &format!("{SCHEMA}businessFunction"), "the listing"),
            format!("http://purl.org/goodrelations/v1#{function}")
        );
        assert_eq!(
            assert_text(node, &format!("{SCHEMA}name"), "the listing"),
            "Nacelle 12 m"
        );
        let item = &values(node, &format!("{SCHEMA}itemOffered"))[0];
        assert_text(item, &format!("{SCHEMA}name"), "the item");
        let by = &values(node, &format!("{SCHEMA}offeredBy"))[0];
        assert!(has_type(by, &format!("{SCHEMA}GovernmentOrganization")));
        let contact = &values(by, &format!("{SCHEMA}contactPoint"))[0];
        assert_eq!(
            assert_text(contact, &format!("{SCHEMA}contactType"), "the contact"),
            "Services techniques"
        );
        assert!(!values(node, &format!("{SCHEMA}areaServed")).is_empty());
        assert_text(node, &format!("{SCHEMA}availabilityStarts"), "the listing");
        assert_text(node, &format!("{SCHEMA}availabilityEnds"), "the listing");
        let price = &values(node, &format!("{SCHEMA}priceSpecification"))[0];
        assert_eq!(price[format!("{SCHEMA}price")][0]["@value"], 90.0);
        assert_eq!(
            assert_text(price, &format!("{SCHEMA}priceCurrency"), "the price"),
            "EUR"
        );
    }
}
