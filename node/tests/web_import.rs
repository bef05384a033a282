//! Importing a spreadsheet and exporting from the web page, against a real
//! `mutua-node` process: the CLI's fixtures give the CLI's outcomes (the
//! rules are one crate, `mutua_sheet`), every mistake of a row is listed
//! with its line, column and rule, a file that cannot be imported (a wrong
//! header, too large, a forged form, another collectivity) publishes
//! nothing and loses nothing, and an export imports back unchanged.

mod daemon_support;
mod web_support;

use std::path::PathBuf;

use web_support::{Answer, Visitor, WebNode, BORDEAUX, MERIGNAC};

const PASSWORD: &str = "un long mot de passe";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../cli/tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A date `days` from today, as French spreadsheets write it.
fn french_date(days: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let day = mutua_protocol::lending::date::utc_day(now + days * 86_400);
    let (y, m, d) = mutua_protocol::lending::date::ymd_from_day(day);
    format!("{d:02}/{m:02}/{y}")
}

/// Signs in a member of staff of `collectivities` (INSEE codes).
fn staff(web: &WebNode, login: &str, collectivities: &[&str]) -> Visitor {
    let link = web.invite("Agent", login, collectivities);
    let mut visitor = Visitor::new(&web.url);
    visitor.accept(&link, PASSWORD);
    assert_eq!(visitor.sign_in(login, PASSWORD).status, 303);
    visitor
}

/// Uploads `file` from the import page's form as `collectivity`.
fn upload(visitor: &mut Visitor, collectivity: &str, name: &str, bytes: &[u8]) -> Answer {
    let form = visitor.get("/importer");
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = Visitor::csrf_of(&form);
    visitor.post_file(
        "/importer",
        &[("csrf", &csrf), ("collectivity", collectivity)],
        (name, bytes),
    )
}

/// The report's rows: (line, result, detail), in order.
fn report_rows(page: &Answer) -> Vec<(u64, String, String)> {
    let body = &page.body;
    let start = body.find("<tbody>").expect("a report table");
    let end = body.find("</tbody>").unwrap();
    body[start..end]
        .split("<tr>")
        .skip(1)
        .map(|row| {
            let cell = |tag: &str, nth: usize| {
                let open = format!("<{tag}");
                let text = row.split(&open).nth(nth + 1).unwrap();
                let text = &text[text.find('>').unwrap() + 1..];
                strip_tags(&text[..text.find(&format!("</{tag}>")).unwrap()])
            };
            (cell("th", 0).parse().unwrap(), cell("td", 0), {
                let rest = &row[row.find("<td").unwrap()..];
                let second = &rest[rest[1..].find("<td").unwrap() + 1..];
                strip_tags(second)
            })
        })
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => {
                inside = false;
                out.push(' ');
            }
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn results(page: &Answer) -> Vec<String> {
    report_rows(page).into_iter().map(|r| r.1).collect()
}

#[test]
fn a_spreadsheet_imports_with_the_clis_report_and_nothing_is_lost_on_a_bad_file() {
    let web = WebNode::start(&[&BORDEAUX, &MERIGNAC], &[]);
    let mut agent = staff(&web, "agent", &["33063"]);

    // Signed out, the import sends to sign-in.
    let mut anyone = Visitor::new(&web.url);
    assert_eq!(anyone.get("/importer").status, 303);

    // French Excel's CSV (Windows-1252, ';', CRLF): what the CLI's test
    // gets for the same file, then the same rows from LibreOffice: unchanged.
    let first = upload(
        &mut agent,
        "bordeaux",
        "offres-excel.csv",
        &fixture("offres-excel.csv"),
    );
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.body.contains("role=\"status\""), "{}", first.body);
    assert!(first.body.contains("windows-1252"), "{}", first.body);
    assert!(first.body.contains("5 publiée(s)"), "{}", first.body);
    assert_eq!(results(&first), ["publiée"; 5]);
    assert_eq!(web.node.items("?limit=100").len(), 5);
    for name in ["offres.ods", "offres.xlsx"] {
        let again = upload(&mut agent, "bordeaux", name, &fixture(name));
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(results(&again), ["inchangée"; 5], "{name}");
    }

    // Every mistake of a row, with its line, column and rule; the good
    // rows around it are published.
    let (from, until) = (french_date(10), french_date(20));
    let csv = format!(
        "Inventaire du matériel prêté;;;\r\n\
         Type;Nature;Intitulé;Description;Commune;Montant;Par;Contact;Courriel;Disponible du;Disponible au;Convention\r\n\
         Offre;Matériel;Barrières;\"Vingt barrières\r\nde police\";33063;;;Services techniques;st@x.example;{from};{until};non\r\n\
         Offre;Broyeur;Po;;3306;-5;;;pas-une-adresse;32/13/2027;;peut-être\r\n\
         Besoin;Compétence;DPO mutualisé;;33063;1 200,50 €;jour;Secrétariat;dpo@x.example;;;oui\r\n"
    );
    let mixed = upload(&mut agent, "bordeaux", "erreurs.csv", csv.as_bytes());
    assert_eq!(mixed.status, 200, "{}", mixed.body);
    let rows = report_rows(&mixed);
    let lines: Vec<(u64, &str)> = rows.iter().map(|r| (r.0, r.1.as_str())).collect();
    assert_eq!(lines, [(3, "publiée"), (5, "refusée"), (6, "publiée")]);
    let detail = &rows[1].2;
    for expected in [
        "colonne « Nature » : « Broyeur » n'est pas une nature",
        "(règle : invalid_value)",
        "colonne « Montant » : « -5 » est négatif",
        "colonne « Intitulé » : trop court",
        "(règle : too_short)",
        "colonne « Commune »",
        "(règle : invalid_insee)",
        "(règle : email_syntax)",
        "colonne « Contact »",
    ] {
        assert!(detail.contains(expected), "{expected:?} in {detail}");
    }
    assert_eq!(web.node.items("?limit=100").len(), 7);

    // A file that cannot be imported publishes nothing and loses nothing.
    let header = upload(
        &mut agent,
        "bordeaux",
        "couleurs.csv",
        "Type;Nature;Intitulé;Commune;Contact;Couleur\r\nOffre;Matériel;Podium;33063;Accueil;rouge\r\n"
            .as_bytes(),
    );
    assert_eq!(header.status, 422, "{}", header.body);
    assert!(
        header.body.contains("colonne(s) inconnue(s) : « Couleur »"),
        "{}",
        header.body
    );
    assert!(
        header.body.contains("Rien n’a été publié"),
        "{}",
        header.body
    );
    assert!(
        header.body.contains("id=\"f-file-error\""),
        "{}",
        header.body
    );
    let big = vec![b'a'; 3 * 1024 * 1024];
    let too_large = upload(&mut agent, "bordeaux", "enorme.csv", &big);
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    assert!(
        too_large.body.contains("dépasse 2 Mo"),
        "{}",
        too_large.body
    );
    let none = upload(&mut agent, "bordeaux", "", b"");
    assert_eq!(none.status, 422);
    assert!(none.body.contains("Choisissez le fichier"), "{}", none.body);
    let forged = agent.post_file(
        "/importer",
        &[("csrf", "forged"), ("collectivity", "bordeaux")],
        ("offres.ods", &fixture("offres.ods")),
    );
    assert_eq!(forged.status, 403);
    let theirs = upload(&mut agent, "merignac", "offres.ods", &fixture("offres.ods"));
    assert_eq!(
        theirs.status, 403,
        "another collectivity's import is refused"
    );
    assert_eq!(
        web.node.items("?limit=100").len(),
        7,
        "nothing lost, nothing added"
    );

    // Exports: CSV for French Excel and .xlsx, which import back unchanged.
    let csv = agent.get("/exporter?format=csv");
    assert_eq!(csv.status, 200, "{}", csv.body);
    let disposition = csv.disposition.clone().unwrap_or_default();
    assert!(
        disposition.starts_with("attachment; filename=\"annonces-"),
        "{disposition}"
    );
    assert!(
        csv.bytes.starts_with("\u{feff}author;id;side".as_bytes()),
        "{}",
        csv.body
    );
    assert!(csv.body.contains("Barrières") && csv.body.contains("Nacelle 12 m"));
    let back = upload(&mut agent, "bordeaux", "export.csv", &csv.bytes);
    assert_eq!(results(&back), ["inchangée"; 7], "{}", back.body);
    let xlsx = agent.get("/exporter?format=xlsx");
    assert_eq!(xlsx.status, 200);
    assert!(xlsx.bytes.starts_with(b"PK"), "a zip archive");
    let back = upload(&mut agent, "bordeaux", "export.xlsx", &xlsx.bytes);
    assert_eq!(results(&back), ["inchangée"; 7], "{}", back.body);
    assert_eq!(agent.get("/exporter?format=pdf").status, 404);
    assert_eq!(anyone.get("/exporter?format=csv").status, 303);
    assert_eq!(web.node.items("?limit=100").len(), 7);
}
