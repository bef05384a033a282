//! Open data with a real node process: the public catalogue and its
//! distributions served without a token, the CSV distribution imported back
//! through `mutua import`, the listing's JSON-LD (public and control API),
//! `mutua export --format dcat|jsonld`; publiccode.yml in and out; the SILL
//! and Comptoir du Libre exports imported into the local catalogue and
//! searched by id and by name.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::founded::{publish, publishing_node};
use support::Node;

fn fixture(name: &str) -> PathBuf {
    mutua_tests::workspace_root()
        .join("opendata/tests/fixtures")
        .join(name)
}

/// A public GET: no token.
fn get(url: &str) -> (String, String) {
    let mut answer = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (content_type, answer.body_mut().read_to_string().unwrap())
}

fn published_id(run: support::Run) -> String {
    run.ok().json()[0]["id"].as_str().unwrap().to_owned()
}

fn values<'a>(node: &'a Value, key: &str) -> &'a [Value] {
    node.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[test]
fn a_node_serves_its_catalogue_and_the_csv_distribution_imports_back() {
    let dir = tempfile::tempdir().unwrap();
    let node = publishing_node(dir.path());
    let extra = [
        "--pricing",
        "cost-sharing",
        "--amount-eur",
        "45",
        "--per",
        "jour",
        "--available",
        &available_window(),
    ];
    let offer = published_id(publish(&node, "offer", "Nacelle 12 m", &extra));
    publish(&node, "need", "Broyeur de végétaux", &[]).ok();

    let (content_type, body) = get(&format!("{}/catalog.jsonld", node.base()));
    assert_eq!(content_type, "application/ld+json");
    let catalog: Value = serde_json::from_str(&body).unwrap();
    let datasets = values(&catalog, "dcat:dataset");
    assert_eq!(datasets.len(), 1, "one hosted collectivity");
    let d = &datasets[0];
    assert_eq!(
        d["dct:title"][0]["@value"],
        "Ressources mutualisées de Bordeaux"
    );
    assert_eq!(
        d["dct:publisher"][0]["dct:identifier"][0]["@value"],
        "213300635"
    );
    assert!(d["dct:description"][0]["@value"]
        .as_str()
        .unwrap()
        .contains("1 offre(s) et 1 besoin(s)"));
    let urls: Vec<&str> = values(d, "dcat:distribution")
        .iter()
        .map(|dist| dist["dcat:accessURL"][0]["@id"].as_str().unwrap())
        .collect();
    assert_eq!(urls.len(), 2);
    assert!(
        urls[0].starts_with(node.base()) && urls[0].ends_with("/annonces.csv"),
        "{urls:?}"
    );
    let (_, turtle) = get(&format!("{}/catalog.ttl", node.base()));
    assert!(turtle.contains("a dcat:Catalog"), "{turtle}");

    // The CSV distribution is the import layout: importing it back changes nothing.
    let (content_type, csv) = get(urls[0]);
    assert!(content_type.starts_with("text/csv"));
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let file = dir.path().join("annonces.csv");
    std::fs::write(&file, &csv).unwrap();
    let again = node.run(&["--json", "import", file.to_str().unwrap()]).ok();
    let statuses: Vec<&str> = again
        .json()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .map(|s| {
            if s == "unchanged" {
                "unchanged"
            } else {
                "changed"
            }
        })
        .collect();
    assert_eq!(statuses, ["unchanged", "unchanged"], "{}", again.stdout);
    let (_, json) = get(urls[1]);
    let listings: Vec<mutua_api::Listing> = serde_json::from_str(&json).unwrap();
    assert_eq!(listings.len(), 2);

    // The listing's JSON-LD, publicly and through the control API.
    let author = listings
        .iter()
        .find(|l| l.id.to_hex() == offer)
        .unwrap()
        .author;
    let (_, public) = get(&format!("{}/annonces/{author}/{offer}.jsonld", node.base()));
    let public: mutua_api::ListingJsonLd = serde_json::from_str(&public).unwrap();
    assert_eq!(public.kind, "Offer");
    assert_eq!(public.price_specification.price, 45.0);
    assert_eq!(public.offered_by.name, "Bordeaux");
    let id = mutua_protocol::ListingId::from_hex(&offer).unwrap();
    let api = node
        .expect(node.client().listing_jsonld(&author, &id))
        .unwrap();
    assert_eq!(api, public);
    let missing = ureq::get(&format!(
        "{}/annonces/{author}/{}.jsonld",
        node.base(),
        "0".repeat(32)
    ))
    .call();
    assert!(matches!(missing, Err(ureq::Error::StatusCode(404))));

    // The CLI writes the same documents.
    let dcat = node.run(&["export", "--format", "dcat"]).ok();
    let exported: Value = serde_json::from_str(&dcat.stdout).unwrap();
    assert_eq!(exported["dcat:dataset"][0]["dct:title"], d["dct:title"]);
    assert_eq!(
        exported["dcat:dataset"][0]["dcat:distribution"],
        d["dcat:distribution"]
    );
    let lines = node.run(&["export", "--format", "jsonld", "--mine"]).ok();
    let docs: Vec<mutua_api::ListingJsonLd> = lines
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    assert!(docs.contains(&public));
}

/// A window from tomorrow for ten days, as `--available` takes it.
fn available_window() -> String {
    let day = |n: u32| {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("+{n} days"), "+%Y-%m-%d"])
            .output()
            .expect("date");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    format!("{}..{}", day(1), day(10))
}

fn catalogue_node(dir: &std::path::Path) -> Node {
    let node = publishing_node(dir);
    let import = node
        .run(&[
            "catalogue",
            "import",
            fixture("catalogi.json").to_str().unwrap(),
            fixture("comptoir-du-libre_export_v1.json")
                .to_str()
                .unwrap(),
        ])
        .ok();
    assert!(
        import.stdout.contains("SILL : 3 logiciel(s) ajouté(s)"),
        "{}",
        import.stdout
    );
    assert!(
        import
            .stdout
            .contains("Comptoir du Libre : 1 logiciel(s) ajouté(s), 2 complété(s)"),
        "{}",
        import.stdout
    );
    node
}

#[test]
fn software_offers_are_found_by_sill_comptoir_or_name_with_their_licence() {
    let dir = tempfile::tempdir().unwrap();
    let node = catalogue_node(dir.path());
    let nextcloud = published_id(node.run(&[
        "--json",
        "offer",
        "publish",
        "--kind",
        "hosted_service",
        "--title",
        "Nextcloud mutualisé",
        "--tag",
        "sill:12",
        "--insee",
        "33063",
        "--contact-role",
        "Service informatique",
        "--contact-email",
        "si@syndicat.example",
    ]));
    publish(&node, "offer", "Nacelle 12 m", &[]).ok();

    let by_sill = node.run(&["search", "--sill", "12"]).ok();
    assert!(
        by_sill.stdout.contains("Nextcloud mutualisé"),
        "{}",
        by_sill.stdout
    );
    assert!(!by_sill.stdout.contains("Nacelle"), "{}", by_sill.stdout);
    assert!(
        by_sill
            .stdout
            .contains("Logiciel : Nextcloud — licence AGPL-3.0-or-later"),
        "{}",
        by_sill.stdout
    );
    // By name: any of the software's ids matches (this listing carries the SILL's only).
    let by_name = node
        .run(&["--json", "search", "--software", "nextcloud"])
        .ok();
    let found = by_name.json();
    assert_eq!(found.len(), 1, "{}", by_name.stdout);
    assert_eq!(found[0]["id"], nextcloud);
    let by_comptoir = node.run(&["--json", "search", "--comptoir", "461"]).ok();
    assert!(
        by_comptoir.stdout.trim().is_empty(),
        "{}",
        by_comptoir.stdout
    );
    let unknown = node.run(&["search", "--software", "Logiciel inconnu"]);
    assert_eq!(unknown.code, 1);
    unknown.assert_stderr_has(&["no such software in the local catalogue"]);
    let shown = node.run(&["catalogue", "show", "sill:12"]).ok();
    assert!(
        shown.stdout.contains("comptoir:461, wikidata:Q25874683"),
        "{}",
        shown.stdout
    );
}

#[test]
fn a_publiccode_file_publishes_a_software_offer_that_exports_back() {
    let dir = tempfile::tempdir().unwrap();
    let node = publishing_node(dir.path());
    let file = fixture("publiccode.yml");
    let first = node
        .run(&[
            "--json",
            "offer",
            "publish",
            "--publiccode",
            file.to_str().unwrap(),
            "--insee",
            "33063",
        ])
        .ok()
        .json()
        .remove(0);
    assert_eq!(first["kind"], "software");
    assert_eq!(first["title"], "Portail citoyen");
    assert_eq!(first["contact"]["role"], "Service informatique mutualisé");
    assert_eq!(
        first["contact"]["url"],
        "https://forge.example/portail-citoyen"
    );
    assert_eq!(
        first["tags"],
        serde_json::json!([
            "licence:AGPL-3.0-or-later",
            "plateforme:web",
            "plateforme:linux"
        ])
    );
    let id = first["id"].as_str().unwrap();
    let yaml = node.run(&["offer", "publiccode", id]).ok().stdout;
    assert!(yaml.contains("license: AGPL-3.0-or-later"), "{yaml}");
    let exported = dir.path().join("exported.yml");
    std::fs::write(&exported, &yaml).unwrap();
    let second = node
        .run(&[
            "--json",
            "offer",
            "publish",
            "--publiccode",
            exported.to_str().unwrap(),
            "--insee",
            "33063",
        ])
        .ok()
        .json()
        .remove(0);
    for field in ["kind", "title", "description", "tags", "contact"] {
        assert_eq!(
            first[field], second[field],
            "{field} survives the round trip"
        );
    }

    // A person as maintenance contact is refused, in French, and nothing is published.
    let person = dir.path().join("personne.yml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &person,
        text.replace("Service informatique mutualisé", "Jean Dupont"),
    )
    .unwrap();
    let refused = node.run(&[
        "offer",
        "publish",
        "--publiccode",
        person.to_str().unwrap(),
        "--insee",
        "33063",
    ]);
    assert_eq!(refused.code, 2, "{refused:#?}");
    refused.assert_stderr_has(&["« Jean Dupont » semble désigner une personne"]);
    let listed = node.run(&["--json", "offer", "list"]).ok();
    assert_eq!(listed.json().len(), 2);
}
