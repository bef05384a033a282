//! Importing spreadsheets as town halls have them, against a real node
//! process: every format of `tests/fixtures/` (made by office software, see
//! `make-fixtures.py`), every mistake of a row reported with its column and
//! line, idempotent re-imports (unchanged rows, `id` updates, an import cut
//! short by a killed node completing without duplicates), and exports that
//! import back.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{Node, Run};

/// A federation founded in `dir` whose node hosts Bordeaux, admitted.
fn bordeaux_node(dir: &Path) -> Node {
    support::founded::publishing_node(dir)
}

fn fixture(name: &str) -> PathBuf {
    mutua_tests::manifest_dir(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn import(node: &Node, file: &Path) -> Run {
    node.run(&["--json", "import", file.to_str().unwrap()])
}

/// The `status` of each row of an import's JSON report.
fn statuses(run: &Run) -> Vec<String> {
    run.json()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect()
}

fn listings(node: &Node) -> Vec<Value> {
    node.run(&["--json", "search", "--limit", "500"])
        .ok()
        .json()
}

/// The listing titled `title` among `listings`.
fn titled<'a>(listings: &'a [Value], title: &str) -> &'a Value {
    listings
        .iter()
        .find(|l| l["title"] == title)
        .unwrap_or_else(|| panic!("no listing titled {title:?}"))
}

/// A date `days` from today, as French spreadsheets write it.
fn french_date(days: u32) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("+{days} days"), "+%d/%m/%Y"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn every_format_imports_and_the_same_rows_are_unchanged_whatever_the_format() {
    let tmp = tempfile::tempdir().unwrap();
    let node = bordeaux_node(&tmp.path().join("a"));

    // French Excel's CSV: Windows-1252, ';', CRLF, "1 200,50 €", OUI/NON.
    let first = import(&node, &fixture("offres-excel.csv"));
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(statuses(&first), ["published"; 5]);
    first.assert_stderr_has(&["windows-1252"]);
    first.assert_stderr_has(&["5 publiée(s)"]);
    let all = listings(&node);
    assert_eq!(all.len(), 5);
    let nacelle = titled(&all, "Nacelle 12 m");
    assert_eq!(nacelle["kind"], "equipment");
    assert_eq!(nacelle["tags"], serde_json::json!(["nacelle", "élagage"]));
    assert_eq!(
        nacelle["terms"]["pricing"]["cost_sharing"]["amount_cents"],
        120_050
    );
    assert_eq!(nacelle["terms"]["convention_required"], true);
    assert_eq!(
        nacelle["description"],
        "Avec chauffeur habilité\n« sur réservation »"
    );
    let hosted = titled(&all, "Nextcloud partagé");
    assert_eq!(hosted["kind"], "hosted_service");
    assert_eq!(hosted["side"], "offer");
    let audit = titled(&all, "Audit d'accessibilité");
    assert_eq!(
        (audit["side"].as_str(), audit["kind"].as_str()),
        (Some("need"), Some("skill"))
    );

    // Importing the same file again publishes nothing.
    let again = import(&node, &fixture("offres-excel.csv"));
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(statuses(&again), ["unchanged"; 5]);
    again.assert_stderr_has(&["5 inchangée(s)"]);

    // The same rows saved by other software, with other headers: the same
    // listings, unchanged.
    for name in ["offres-utf8-bom.csv", "offres.ods", "offres.xlsx"] {
        let run = import(&node, &fixture(name));
        assert_eq!(run.code, 0, "{name}: {run:?}");
        assert_eq!(statuses(&run), ["unchanged"; 5], "{name}: {}", run.stdout);
    }
    // The tab-separated one has the description on one line: one update.
    let tsv = import(&node, &fixture("offres.tsv"));
    assert_eq!(tsv.code, 0, "{tsv:?}");
    tsv.assert_stderr_has(&["tabulation"]);
    assert_eq!(
        statuses(&tsv),
        [
            "updated",
            "unchanged",
            "unchanged",
            "unchanged",
            "unchanged"
        ]
    );
    let all = listings(&node);
    assert_eq!(all.len(), 5, "no duplicates");
    let nacelle = titled(&all, "Nacelle 12 m");
    assert_eq!(nacelle["version"], 2);
    assert_eq!(
        nacelle["description"],
        "Avec chauffeur habilité « sur réservation »"
    );
}

#[test]
fn every_mistake_of_a_row_is_reported_with_its_column_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let node = bordeaux_node(&tmp.path().join("a"));
    let (from, until) = (french_date(10), french_date(20));
    // A title line, CRLF, a cell over two lines (lines 3–4), French headers.
    let csv = format!(
        "Inventaire du matériel prêté;;;\r\n\
         Type;Nature;Intitulé;Description;Commune;Montant;Par;Contact;Courriel;Disponible du;Disponible au;Convention\r\n\
         Offre;Matériel;Barrières;\"Vingt barrières\r\nde police\";33063;;;Services techniques;st@x.example;{from};{until};non\r\n\
         Offre;Broyeur;Po;;3306;-5;;;pas-une-adresse;32/13/2027;;peut-être\r\n\
         Besoin;Compétence;DPO mutualisé;;33063;1 200,50 €;jour;Secrétariat;dpo@x.example;;;oui\r\n"
    );
    let file = tmp.path().join("erreurs.csv");
    std::fs::write(&file, csv).unwrap();

    let run = import(&node, &file);
    assert_eq!(run.code, 1, "a refused row makes the exit code 1: {run:?}");
    let rows = run.json();
    assert_eq!(rows.len(), 3, "{run:?}");
    assert_eq!(
        (rows[0]["line"].as_u64(), rows[0]["status"].as_str()),
        (Some(3), Some("published")),
        "{rows:?}"
    );
    assert_eq!(
        (rows[2]["line"].as_u64(), rows[2]["status"].as_str()),
        (Some(6), Some("published"))
    );
    let bad = &rows[1];
    assert_eq!(
        (bad["line"].as_u64(), bad["status"].as_str()),
        (Some(5), Some("rejected"))
    );
    let errors: Vec<(&str, &str)> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["column"].as_str().unwrap(), e["rule"].as_str().unwrap()))
        .collect();
    for expected in [
        ("Nature", "invalid_value"),
        ("Montant", "invalid_value"),
        ("Disponible du", "invalid_value"),
        ("Convention", "invalid_value"),
        ("Intitulé", "too_short"),
        ("Commune", "invalid_insee"),
        ("Courriel", "email_syntax"),
        ("Contact", "required"),
    ] {
        assert!(errors.contains(&expected), "{expected:?} in {errors:?}");
    }
    let published = listings(&node);
    assert_eq!(published.len(), 2);
    let barrieres = titled(&published, "Barrières");
    assert_eq!(barrieres["availability"].as_array().unwrap().len(), 1);

    // The text report, in French, one line per mistake, with the column.
    let text = node.run(&["import", file.to_str().unwrap()]);
    assert_eq!(text.code, 1);
    let report = &text.stdout;
    assert!(
        report.contains("ligne 5 : colonne « Nature » : « Broyeur » n'est pas une nature"),
        "{report}"
    );
    assert!(
        report.contains("ligne 5 : colonne « Montant » : « -5 » est négatif"),
        "{report}"
    );
    assert!(
        report.contains("ligne 5 : colonne « Intitulé » : trop court"),
        "{report}"
    );
    assert!(!report.contains("ligne 4"), "{report}");
    text.assert_stderr_has(&["2 inchangée(s), 1 refusée(s)"]);

    // A header with an unknown column refuses the file, in French.
    std::fs::write(&file, "Type;Nature;Intitulé;Commune;Contact;Couleur\r\n").unwrap();
    let refused = node.run(&["import", file.to_str().unwrap()]);
    assert_eq!(refused.code, 1);
    refused.assert_stderr_has(&["colonne(s) inconnue(s) : « Couleur »"]);
}

/// `count` rows, each its own listing, as French Excel writes them.
fn many_rows(count: usize) -> String {
    let mut csv = String::from("Type;Nature;Intitulé;Commune;Contact;Courriel\r\n");
    for i in 1..=count {
        csv.push_str(&format!(
            "Offre;Matériel;Barrière n° {i};33063;Services techniques;st@x.example\r\n"
        ));
    }
    csv
}

#[test]
fn an_interrupted_import_completes_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let node = bordeaux_node(&dir);
    let whole = tmp.path().join("barrieres.csv");
    std::fs::write(&whole, many_rows(40)).unwrap();

    // An import that stopped after 15 rows (what a crash of the CLI leaves).
    let prefix = tmp.path().join("debut.csv");
    let text = many_rows(40);
    std::fs::write(
        &prefix,
        text.lines().take(16).collect::<Vec<_>>().join("\r\n"),
    )
    .unwrap();
    import(&node, &prefix).ok();
    assert_eq!(listings(&node).len(), 15);

    // The node killed (SIGKILL) while the whole file is being imported.
    let cli = support::bin()
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "--json",
            "import",
            whole.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    support::wait_for("the import under way", || {
        (listings(&node).len() > 16).then_some(())
    });
    drop(node);
    let out = cli.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || said.contains("relancez la même commande"),
        "{said}"
    );
    let node = Node::start(&dir, None);
    let done_before = listings(&node).len();
    assert!(done_before >= 17, "{done_before}");
    eprintln!(
        "the node was killed with {done_before} of 40 rows in; the import {}",
        if out.status.success() {
            "had finished"
        } else {
            "was cut short"
        }
    );
    if !out.status.success() {
        // Cut short, as intended: run again, it completes.
        let rerun = import(&node, &whole);
        assert_eq!(rerun.code, 0, "{rerun:?}");
    }
    let rerun = import(&node, &whole);
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert_eq!(statuses(&rerun), ["unchanged"; 40]);
    let all = listings(&node);
    assert_eq!(all.len(), 40, "every row once");
    let mut titles: Vec<&str> = all.iter().map(|l| l["title"].as_str().unwrap()).collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 40);
}

#[test]
fn an_id_column_updates_and_exports_import_back() {
    let tmp = tempfile::tempdir().unwrap();
    let node = bordeaux_node(&tmp.path().join("a"));
    import(&node, &fixture("offres-excel.csv")).ok();

    // Plain CSV export, edited (a description), imported: that listing is
    // updated in place, whatever its title says.
    let exported = node
        .run(&["export", "--format", "csv", "--mine"])
        .ok()
        .stdout;
    assert!(exported.starts_with("author,id,side"), "{exported}");
    let edited = exported.replace("Parc et assistance", "Parc assistance et formation");
    let edited = edited.replace("GLPI mutualisé", "GLPI mutualisé (2027)");
    let file = tmp.path().join("export.csv");
    std::fs::write(&file, edited).unwrap();
    let run = import(&node, &file);
    assert_eq!(run.code, 0, "{run:?}");
    let mut st = statuses(&run);
    st.sort();
    assert_eq!(
        st,
        [
            "unchanged",
            "unchanged",
            "unchanged",
            "unchanged",
            "updated"
        ]
    );
    let all = listings(&node);
    assert_eq!(all.len(), 5);
    let glpi = titled(&all, "GLPI mutualisé (2027)");
    assert_eq!(glpi["description"], "Parc assistance et formation");
    assert_eq!(glpi["version"], 2);

    // An .xlsx export (rust_xlsxwriter) and a French Excel CSV export both
    // import back unchanged.
    let xlsx = tmp.path().join("annonces.xlsx");
    node.run(&[
        "export",
        "--format",
        "xlsx",
        "--mine",
        "-o",
        xlsx.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(&std::fs::read(&xlsx).unwrap()[..2], b"PK");
    let run = import(&node, &xlsx);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(statuses(&run), ["unchanged"; 5]);
    let excel = tmp.path().join("annonces.csv");
    node.run(&[
        "export",
        "--format",
        "csv",
        "--excel",
        "--mine",
        "-o",
        excel.to_str().unwrap(),
    ])
    .ok();
    let bytes = std::fs::read(&excel).unwrap();
    assert!(bytes.starts_with("\u{feff}author;id;side".as_bytes()));
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(";1200,50;") && text.contains("\r\n"),
        "{text}"
    );
    let run = import(&node, &excel);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(statuses(&run), ["unchanged"; 5]);
    assert_eq!(listings(&node).len(), 5);
}

#[test]
fn amount_flag_takes_a_decimal_comma_and_refuses_negatives() {
    let tmp = tempfile::tempdir().unwrap();
    let node = bordeaux_node(&tmp.path().join("a"));
    let publish = |amount: &str| {
        support::founded::publish(
            &node,
            "offer",
            "Podium",
            &["--amount-eur", amount, "--per", "jour"],
        )
    };
    let ok = publish("12,5").ok().json();
    assert_eq!(
        ok[0]["terms"]["pricing"]["cost_sharing"]["amount_cents"],
        1250
    );
    let negative = publish("-5");
    assert_eq!(negative.code, 2, "{negative:?}");
    negative.assert_stderr_has(&["-5 is negative"]);
    let text = publish("douze");
    assert_eq!(text.code, 2, "{text:?}");
    text.assert_stderr_has(&["is not an amount in euros"]);
}
