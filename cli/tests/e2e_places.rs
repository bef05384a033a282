//! End to end, places: the real `mutua` binary against a real node. A
//! listing published without `--at` is found near its commune by INSEE code,
//! postal code, name or point; names print beside codes; unknown codes are
//! refused when publishing, with the flag; a far `--at` is warned about.

mod support;

use support::founded::{publish, publish_args, publishing_node};
use support::ids;

#[test]
fn near_finds_a_listing_without_a_point_by_code_postal_code_name_or_point() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let a = publishing_node(&dir);
    let published = publish(&a, "offer", "Broyeur de végétaux", &[]).ok();
    assert!(published.stderr.is_empty(), "{published:?}");
    let id = published.json()[0]["id"].as_str().unwrap().to_owned();

    // The README's search, as printed.
    let table = a
        .run(&["search", "broyeur", "--near", "33063", "--radius", "30"])
        .ok();
    assert!(
        table
            .stdout
            .starts_with("within 30 km of Bordeaux (33063, département 33):"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains(&id[..12]) && table.stdout.contains("33063 Bordeaux"),
        "{}",
        table.stdout
    );
    for near in ["33063", "33000", "Bordeaux", "BORDEAUX", "44.85,-0.58"] {
        let run = a
            .run(&["--json", "search", "--near", near, "--radius", "5"])
            .ok();
        assert_eq!(ids(&run), std::slice::from_ref(&id), "--near {near}");
    }
    let show = a.run(&["show", &id[..10]]).ok();
    assert!(
        show.stdout.contains("commune    33063 Bordeaux"),
        "{}",
        show.stdout
    );

    // Mistakes in --near name the flag and say what to do (usage: exit 2).
    let ambiguous = a.run(&["search", "--near", "Saint-Denis"]);
    assert_eq!(ambiguous.code, 2, "{ambiguous:?}");
    for part in [
        "--near:",
        "Saint-Denis (93066) in Seine-Saint-Denis (93)",
        "in La Réunion (974)",
        "rule: ambiguous_place",
    ] {
        assert!(
            ambiguous.stderr.contains(part),
            "{part}: {}",
            ambiguous.stderr
        );
    }
    let papeete = a.run(&["search", "--near", "Papeete"]);
    assert_eq!(papeete.code, 2, "{papeete:?}");
    papeete.assert_stderr_has(&["the position of Papeete (98735) is not known"]);
    let unknown = a.run(&["search", "--near", "33999"]);
    unknown.assert_stderr_has(&["--near:", "neither the INSEE code nor a postal code"]);

    // Publishing: an unknown commune is refused with the rule and the flag;
    // a point far from the commune is published with a warning.
    let refused = a.run(&publish_args("offer", "Broyeur de végétaux", "33999", &[]));
    assert_eq!(refused.code, 1, "{refused:?}");
    refused.assert_stderr_has(&["rule: unknown_commune", "--insee"]);
    let far = publish(
        &a,
        "offer",
        "Broyeur de végétaux",
        &["--at", "48.8566,2.3522"],
    )
    .ok();
    far.assert_stderr_has(&["warning: the point 48.85660,2.35220 is 497 km from Bordeaux (33063)"]);
    // The search by --insee accepts any well-formed code (records from peers
    // may carry codes this version does not know).
    let none = a.run(&["--json", "search", "--insee", "33999"]).ok();
    assert!(none.stdout.is_empty(), "{none:?}");

    // An import row with an unknown code is reported, with its column and rule.
    let csv = tmp.path().join("offres.csv");
    std::fs::write(
        &csv,
        "side,kind,title,insee,contact_role,contact_email\n\
         offer,equipment,Nacelle 12 m,33063,Services techniques,st@x.fr\n\
         offer,equipment,Tondeuse autoportée,33999,Services techniques,st@x.fr\n",
    )
    .unwrap();
    let run = a.run(&["--json", "import", csv.to_str().unwrap(), "--dry-run"]);
    let rows = run.json();
    let row = rows
        .iter()
        .find(|r| r["line"] == 3)
        .unwrap_or_else(|| panic!("{run:?}"));
    assert_eq!(row["status"], "rejected", "{row}");
    assert_eq!(row["errors"][0]["column"], "insee", "{row}");
    assert_eq!(row["errors"][0]["rule"], "unknown_commune", "{row}");
    let message = row["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("« 33999 » n'est le code INSEE d'aucune commune"),
        "{row}"
    );
}
