//! End to end: the real `mutua` binary against real node processes (real
//! sled, real signatures, gossip over loopback TCP; mDNS off, the second
//! node bootstrapping to the first). Covered: admission (by name, and by an
//! exported certificate file), a refusal before it with its rule shown →
//! publish → search on the other node (text, distance, `--from` SIREN) →
//! `match` → withdraw → gone; a CSV with good and bad rows (line, column
//! and rule per rejected row, `--all-or-nothing`, export then a dry-run
//! re-import, a closed stdout);
//! the node-not-running exit code with a missing and a stale `api.addr`;
//! usage mistakes (exit 2) and `--collectivity` codes checked at setup.

mod support;

use support::founded::{publish, publishing_node};
use support::{found, ids, mutua, wait_for, Node, ADMIT_BORDEAUX};

/// Broyeur de végétaux's flags beyond those of every valid offer.
const BROYEUR: &[&str] = &[
    "--at",
    "44.8378,-0.5792",
    "--tag",
    "broyeur",
    "--amount-eur",
    "35",
    "--per",
    "jour",
];

#[test]
fn admit_publish_search_elsewhere_withdraw() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let anchor = found(&a_dir);
    // B joins the federation for Bordeaux Métropole (an EPCI, by SIREN).
    let b_init = mutua(
        &b_dir,
        &[
            "--json",
            "init",
            "--federation",
            "e2e",
            "--trust",
            &anchor,
            "--collectivity",
            "243300316",
            "--yes",
        ],
    )
    .ok();
    let b_key = b_init.json()[0]["publishers"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let a = Node::start(&a_dir, None);
    let b = Node::start(&b_dir, Some(&a.p2p_addr()));
    wait_for("a gossip mesh between A and B", || {
        (a.has_mesh_peer() && b.has_mesh_peer()).then_some(())
    });

    // Before admission the node refuses, and says which rule.
    let refused = publish(&a, "offer", "Broyeur de végétaux", BROYEUR);
    assert_eq!(refused.code, 1, "{refused:?}");
    refused.assert_stderr_has(&["rule: not_a_member"]);
    refused.assert_stderr_has(&["mutua federation admit"]);

    // A admits its own publisher by name, and B's key with a certificate
    // file carried out of band.
    a.run(ADMIT_BORDEAUX).ok();
    let cert = tmp.path().join("metropole.cert");
    let admitted = a
        .run(&[
            "--json",
            "federation",
            "admit",
            &b_key,
            "--collectivity",
            "243300316",
            "--may-admit",
            "--yes",
            "--export",
            cert.to_str().unwrap(),
        ])
        .ok();
    assert_eq!(admitted.json()[0]["name"], "Bordeaux Métropole");
    assert!(std::fs::read_to_string(&cert)
        .unwrap()
        .starts_with("# Mutua membership certificate"));
    b.run(&["federation", "import", cert.to_str().unwrap()])
        .ok();
    let members = a.run(&["--json", "federation", "members"]).ok().json();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| m["membership"] == "member"));

    let published = publish(&a, "offer", "Broyeur de végétaux", BROYEUR)
        .ok()
        .json();
    let id = published[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(published[0]["title"], "Broyeur de végétaux");

    // B finds it in its own replica, by text, by distance and by member.
    let found_on_b = wait_for("the offer on B", || {
        let run = b.run(&["--json", "search", "broyeur"]);
        ids(&run).contains(&id).then_some(run)
    });
    assert_eq!(
        found_on_b.json()[0]["author"],
        a.run(&["--json", "status"]).json()[0]["publishers"][0]["key"]
    );
    let near = b
        .run(&["--json", "search", "--near", "44.84,-0.57", "--radius", "5"])
        .ok()
        .json();
    assert!(near[0]["distance_km"].as_f64().unwrap() < 2.0, "{near:?}");
    assert_eq!(
        ids(&b.run(&["--json", "search", "--from", "213300635"]).ok()),
        std::slice::from_ref(&id)
    );
    assert!(ids(&b.run(&["--json", "search", "--needs"]).ok()).is_empty());
    let table = b.run(&["search", "--kind", "equipment"]).ok();
    assert!(
        table.stdout.contains("Broyeur de végétaux") && table.stdout.contains(&id[..12]),
        "{}",
        table.stdout
    );

    // B's need is answered by A's offer.
    b.run(&[
        "need",
        "publish",
        "--kind",
        "equipment",
        "--title",
        "Broyeur pour l'automne",
        "--insee",
        "33063",
        "--tag",
        "broyeur",
        "--contact-role",
        "Direction des espaces verts",
        "--contact-email",
        "ev@metropole.example",
    ])
    .ok();
    let matched = b.run(&["--json", "match"]).ok().json();
    assert_eq!(matched.len(), 1, "{matched:?}");
    assert_eq!(matched[0]["offer"]["id"], id.as_str());

    // A withdraws (by id prefix): gone on B too.
    a.run(&["offer", "withdraw", &id[..10]]).ok();
    wait_for("the withdrawal on B", || {
        (!ids(&b.run(&["--json", "search", "broyeur", "--offers"])).contains(&id)).then_some(())
    });
    let gone = b.run(&["show", &id]);
    assert_eq!(gone.code, 1, "{gone:?}");
    gone.assert_stderr_has(&["no live listing"]);
}

const CSV: &str = r#"side;kind;title;description;tags;insee;amount_eur;per;contact_role;contact_email
offre;equipment;Nacelle 12 m;Avec chauffeur habilité;"nacelle;élagage";33063;120,50;jour;Services techniques;st@x.fr
offer;equipment;Po;;;33063;;;Services techniques;st@x.fr
besoin;skill;Audit d'accessibilité;;rgaa;3306;;;Secrétariat;s@x.fr
offer;gizmo;Imprimante 3D;;;33063;;;Fablab;f@x.fr
need;software;GLPI mutualisé;;glpi;33063;;;DSI;dsi@x.fr
offer;skill;DPO mutualisé;;rgpd;33063;;;;dpo@x.fr
"#;

#[test]
fn csv_import_reports_bad_rows_and_publishes_the_good_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let node = publishing_node(&dir);
    let file = tmp.path().join("offres.csv");
    std::fs::write(&file, CSV).unwrap();
    let file = file.to_str().unwrap();

    // --all-or-nothing: bad rows present, so nothing goes in.
    let held = node.run(&["import", file, "--all-or-nothing"]);
    assert_eq!(held.code, 1, "{held:?}");
    held.assert_stderr_has(&["rien n'a été publié"]);
    assert!(ids(&node.run(&["--json", "search"]).ok()).is_empty());

    let run = node.run(&["--json", "import", file]);
    assert_eq!(run.code, 1, "rejected rows make the exit code 1: {run:?}");
    let rows = run.json();
    let by_line = |line: u64| {
        rows.iter()
            .find(|r| r["line"] == line)
            .unwrap_or_else(|| panic!("line {line}: {rows:?}"))
    };
    for (line, column, rule) in [
        (3, "title", "too_short"),
        (4, "insee", "invalid_insee"),
        (5, "kind", "invalid_value"),
        (7, "contact_role", "required"),
    ] {
        let r = by_line(line);
        assert_eq!(r["status"], "rejected", "{r}");
        assert_eq!(r["errors"][0]["column"], column, "{r}");
        assert_eq!(r["errors"][0]["rule"], rule, "{r}");
    }
    let published: Vec<&str> = [2, 6]
        .iter()
        .map(|l| by_line(*l)["id"].as_str().unwrap())
        .collect();
    assert_eq!(rows.len(), 6);

    // Exactly the good rows are in, whole.
    let listed = node.run(&["--json", "search"]).ok().json();
    let mut titles: Vec<&str> = listed
        .iter()
        .map(|l| l["title"].as_str().unwrap())
        .collect();
    titles.sort();
    assert_eq!(titles, ["GLPI mutualisé", "Nacelle 12 m"]);
    let nacelle = listed
        .iter()
        .find(|l| l["title"] == "Nacelle 12 m")
        .unwrap();
    assert_eq!(nacelle["tags"], serde_json::json!(["nacelle", "élagage"]));
    assert_eq!(
        nacelle["terms"]["pricing"]["cost_sharing"]["amount_cents"],
        12050
    );
    assert!(published.contains(&nacelle["id"].as_str().unwrap()));

    // Export writes the import layout back, and it imports cleanly.
    let exported = node
        .run(&["export", "--format", "csv", "--mine"])
        .ok()
        .stdout;
    assert!(
        exported.starts_with("author,id,side,kind,title"),
        "{exported}"
    );
    assert_eq!(exported.lines().count(), 3);
    let again = tmp.path().join("export.csv");
    std::fs::write(&again, &exported).unwrap();
    node.run(&["import", again.to_str().unwrap(), "--dry-run"])
        .ok();

    // A closed stdout ends the command quietly.
    let mut child = support::bin()
        .args(["--data-dir", dir.to_str().unwrap(), "--json", "search"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_node_that_is_not_running_gets_its_own_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    found(&dir);
    let run = mutua(&dir, &["search", "broyeur"]);
    assert_eq!(run.code, 3, "{run:?}");
    run.assert_stderr_has(&["the node is not running: start it with `mutua node"]);
    assert!(run.stdout.is_empty());
    // A stale api.addr (the node crashed): nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(dir.join("api.addr"), format!("{port}\n")).unwrap();
    std::fs::write(dir.join("api.token"), "x").unwrap();
    let run = mutua(&dir, &["status"]);
    assert_eq!(run.code, 3, "{run:?}");
    // Offline commands still work.
    let keys = mutua(&dir, &["--json", "key", "list"]).ok().json();
    assert_eq!(keys[0]["name"], "bordeaux");
    std::fs::remove_file(dir.join("api.addr")).unwrap();
    let check = mutua(&dir, &["store", "check"]).ok();
    assert!(check.stdout.contains("consistent"), "{}", check.stdout);
    let compacted = mutua(&dir, &["--json", "store", "compact"]).ok().json();
    assert!(
        compacted[0]["entries"].as_u64().unwrap() > 0,
        "{compacted:?}"
    );
    let check = mutua(&dir, &["store", "check"]).ok();
    assert!(check.stdout.contains("consistent"), "{}", check.stdout);
}

#[test]
fn usage_mistakes_exit_2_and_collectivities_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let run = mutua(&dir, &["search", "--radius", "5"]);
    assert_eq!(run.code, 2, "{run:?}");
    let create = |extra: &[&str]| {
        let mut args = vec!["federation", "create", "--federation", "x"];
        args.extend_from_slice(extra);
        mutua(&dir, &args)
    };
    let run = create(&["--collectivity", "213300636", "--yes"]);
    assert_eq!(run.code, 1);
    run.assert_stderr_has(&["check digit"]);
    assert!(!dir.exists(), "nothing written on a bad collectivity");
    // Without a terminal, confirmation needs --yes; nothing is written.
    let run = create(&["--collectivity", "2A004"]);
    assert_eq!(run.code, 1);
    run.assert_stderr_has(&["Ajaccio", "Corse-du-Sud"]);
    run.assert_stderr_has(&["--yes"]);
    assert!(!dir.exists());
}
