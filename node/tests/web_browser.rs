//! The web page in a real headless Chromium (Debian's, over chromedriver)
//! against a real `mutua-node` process: axe-core reports no violation on
//! any page or state (signed out and in, empty search, results, a listing,
//! a need with its matches, the form with errors, confirmations), each page
//! has one h1 and a skip link, and search and publication are done with the
//! keyboard alone, focus visible all along; on two nodes, the lending flow
//! (request on B, accept on A, the agreement and the return on B) too. Needs `bash .ci/tools` (CI
//! runs it); a missing browser fails the test.

mod daemon_support;
mod web_support;

use serde_json::{json, Value};
use web_support::webdriver::{Browser, ENTER};
use web_support::{Visitor, WebNode, BORDEAUX, MERIGNAC};

const PASSWORD: &str = "un long mot de passe";

fn axe_source() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: install axe-core with `bash .ci/tools` (npm ci in node/tests/browser)",
            path.display()
        )
    })
}

/// The page's structure every page must have.
fn check_structure(browser: &Browser, state: &str) {
    let shape = browser.run(
        "return {h1: document.querySelectorAll('h1').length, \
                 skip: !!document.querySelector('a.skip[href=\"#contenu\"]'), \
                 main: !!document.getElementById('contenu'), \
                 lang: document.documentElement.lang, \
                 external: [...document.querySelectorAll('[src],[href]')] \
                   .map(e => e.getAttribute('src') || e.getAttribute('href')) \
                   .filter(u => /^(https?:)?\\/\\//.test(u) && !u.startsWith(location.origin))};",
        json!([]),
    );
    assert_eq!(shape["h1"], 1, "{state}: one h1");
    assert_eq!(shape["skip"], true, "{state}: a skip link");
    assert_eq!(shape["main"], true, "{state}: the skip link's target");
    assert_eq!(shape["lang"], "fr", "{state}");
    assert_eq!(
        shape["external"],
        json!([]),
        "{state}: no external resource"
    );
}

struct Audit {
    axe: String,
    states: usize,
    violations: Vec<String>,
    /// Pages over the RGESN budget: (state, what).
    heavy: Vec<String>,
}

/// The budget of every page (issue 15, after RGESN): transferred bytes
/// (compressed), requests, DOM elements.
const MAX_BYTES: u64 = 100 * 1000;
const MAX_REQUESTS: u64 = 8;
const MAX_NODES: u64 = 600;

/// A page's weight as Chromium saw its load: the document and every
/// resource, each counted at its transferred size or, when served from the
/// cache (transferSize 0), at its compressed body size — what a first visit
/// costs; requests; DOM elements (what EcoIndex counts).
fn weight(browser: &Browser) -> (u64, u64, u64) {
    let w = browser.run(
        "const all = [...performance.getEntriesByType('navigation'), \
                      ...performance.getEntriesByType('resource')]; \
         return {bytes: all.reduce((s, e) => s + Math.max(e.transferSize, e.encodedBodySize), 0), \
                 requests: all.length, \
                 nodes: document.getElementsByTagName('*').length};",
        json!([]),
    );
    let get = |k: &str| w[k].as_f64().unwrap_or_else(|| panic!("{w}")) as u64;
    (get("bytes"), get("requests"), get("nodes"))
}

/// The EcoIndex score (0–100) and grade of a page, by the published formula
/// (cnumr/ecoindex_reference): each figure placed among the HTTP Archive's
/// quantiles, weighted 3 (DOM), 2 (requests), 1 (size in KB).
fn ecoindex(bytes: u64, requests: u64, nodes: u64) -> (f64, char) {
    const DOM: [f64; 21] = [
        0.0, 47.0, 75.0, 159.0, 233.0, 298.0, 358.0, 417.0, 476.0, 537.0, 603.0, 674.0, 753.0,
        843.0, 949.0, 1076.0, 1237.0, 1459.0, 1801.0, 2479.0, 594601.0,
    ];
    const REQ: [f64; 21] = [
        0.0, 2.0, 15.0, 25.0, 34.0, 42.0, 49.0, 56.0, 63.0, 70.0, 78.0, 86.0, 95.0, 105.0, 117.0,
        130.0, 147.0, 170.0, 205.0, 281.0, 3920.0,
    ];
    const SIZE_KB: [f64; 21] = [
        0.0, 1.37, 144.7, 319.53, 479.46, 631.97, 783.38, 937.91, 1098.62, 1265.47, 1448.32,
        1648.27, 1876.08, 2142.06, 2465.37, 2866.31, 3401.59, 4155.73, 5400.08, 8037.54, 223212.26,
    ];
    fn quantile(q: &[f64; 21], value: f64) -> f64 {
        (1..q.len())
            .find(|&i| value < q[i])
            .map_or((q.len() - 1) as f64, |i| {
                (i - 1) as f64 + (value - q[i - 1]) / (q[i] - q[i - 1])
            })
    }
    let score = 100.0
        - 5.0
            * (3.0 * quantile(&DOM, nodes as f64)
                + 2.0 * quantile(&REQ, requests as f64)
                + quantile(&SIZE_KB, bytes as f64 / 1024.0))
            / 6.0;
    let grade = [
        (80.0, 'A'),
        (70.0, 'B'),
        (55.0, 'C'),
        (40.0, 'D'),
        (25.0, 'E'),
        (10.0, 'F'),
    ]
    .iter()
    .find(|(floor, _)| score > *floor)
    .map_or('G', |(_, g)| *g);
    (score.round(), grade)
}

impl Audit {
    fn check(&mut self, browser: &Browser, state: &str) {
        check_structure(browser, state);
        let found = browser.axe(&self.axe);
        println!("axe on {state}: {} violation(s)", found.len());
        self.violations
            .extend(found.into_iter().map(|v| format!("{state}: {v}")));
        self.states += 1;
        let (bytes, requests, nodes) = weight(browser);
        let (score, grade) = ecoindex(bytes, requests, nodes);
        println!(
            "weight of {state}: {:.1} KB transferred, {requests} request(s), {nodes} DOM elements, EcoIndex {score} ({grade})",
            bytes as f64 / 1000.0
        );
        if bytes > MAX_BYTES || requests > MAX_REQUESTS || nodes > MAX_NODES {
            self.heavy.push(format!(
                "{state}: {bytes} B, {requests} requests, {nodes} nodes"
            ));
        }
    }
}

fn status_text(browser: &Browser) -> String {
    browser
        .run(
            "const s = document.querySelector('[role=status]'); return s ? s.innerText : '';",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_owned()
}

fn is_field(name: &'static str) -> impl Fn(&Value) -> bool {
    move |f| f["name"] == name
}

/// The focused element shows a visible outline.
fn assert_focus_visible(focused: &Value) {
    assert_ne!(focused["outline"], "none", "focus is visible: {focused}");
    assert!(
        focused["outlineWidth"].as_f64().unwrap() >= 2.0,
        "{focused}"
    );
}

#[test]
fn every_page_passes_axe_and_search_and_publish_work_with_the_keyboard() {
    let web = WebNode::start(&[&BORDEAUX], &[]);
    let offer = web.publish_offer("bordeaux", "Broyeur de végétaux");
    web.publish_offer("bordeaux", "Nacelle élévatrice");
    let need = web.node.ok(web.node.post("/v1/listings?as=bordeaux", &{
        let mut body = daemon_support::offer("Broyeur pour les espaces verts");
        body["side"] = json!("need");
        body
    }));
    let need_page = format!(
        "/annonces/{}/{}",
        need["record"]["author"].as_str().unwrap(),
        need["record"]["id"].as_str().unwrap()
    );
    let link = web.invite("Marie Dupont", "marie", &["33063"]);
    let browser = Browser::start();
    let mut audit = Audit {
        axe: axe_source(),
        states: 0,
        violations: Vec::new(),
        heavy: Vec::new(),
    };
    let at = |path: &str| format!("{}{path}", web.url);

    // Signed out.
    browser.goto(&link);
    audit.check(&browser, "invitation");
    Visitor::new(&web.url).accept(&link, PASSWORD);
    for (path, state) in [
        ("/connexion?requis=1", "sign-in"),
        ("/accessibilite", "accessibility statement"),
        ("/mentions-legales", "legal notices"),
        ("/nulle-part", "not found"),
    ] {
        browser.goto(&at(path));
        audit.check(&browser, state);
    }

    // Sign in with the keyboard (a wrong password first: the error state).
    browser.goto(&at("/connexion"));
    browser.tab_to("the login field", is_field("login"));
    browser.keys("marie");
    browser.tab_to("the password field", is_field("password"));
    browser.run("window.before = true;", json!([]));
    browser.keys(&format!("faux{ENTER}"));
    // The same address: wait for the new document.
    mutua_tests::wait_for("the refusal", || {
        (browser.run(
            "return window.before === undefined && document.readyState;",
            json!([]),
        ) == "complete")
            .then_some(())
    });
    assert!(status_text(&browser).is_empty());
    audit.check(&browser, "sign-in refused");
    browser.tab_to("the password field", is_field("password"));
    browser.keys(&format!("{PASSWORD}{ENTER}"));
    browser.wait_for_page("signed in, on the search", |u| u == at("/"));
    audit.check(&browser, "search, signed in (near my commune)");

    // Search with the keyboard alone: skip link, then the text field.
    browser.goto(&at("/"));
    let skip = browser.tab_to("the skip link", |f| f["href"] == "#contenu");
    assert_focus_visible(&skip);
    browser.keys(ENTER);
    let field = browser.tab_to("the search text", is_field("q"));
    assert_focus_visible(&field);
    browser.keys(&format!("broyeur{ENTER}"));
    browser.wait_for_page("the results", |u| u.contains("q=broyeur"));
    let status = status_text(&browser);
    // The fixture's description says "broyeur" too: all three listings.
    assert_eq!(status, "3 annonces trouvées.");
    let map = browser.run(
        "return document.querySelectorAll('svg.map circle').length;",
        json!([]),
    );
    assert_eq!(map, 3, "the map draws each");
    audit.check(&browser, "search results");
    // axe really looks: an image without a text alternative is reported.
    browser.run(
        "document.body.insertAdjacentHTML('beforeend', '<img src=\"/style.css\">');",
        json!([]),
    );
    let planted = browser.axe(&audit.axe);
    assert!(
        planted.iter().any(|v| v.starts_with("image-alt")),
        "{planted:?}"
    );
    browser.goto(&at("/?q=introuvable&near="));
    assert_eq!(
        status_text(&browser),
        "Aucune annonce ne correspond à ces critères."
    );
    audit.check(&browser, "search without results");
    browser.goto(&at("/?q=&near=Nulle-sur-Rien"));
    audit.check(&browser, "search with an unknown commune");

    browser.goto(&at(&offer));
    audit.check(&browser, "an offer");
    browser.goto(&at(&need_page));
    let matches = browser.run(
        "return document.querySelectorAll('.results li').length;",
        json!([]),
    );
    assert!(
        matches.as_u64().unwrap() >= 1,
        "the need lists matching offers"
    );
    audit.check(&browser, "a need and its matching offers");

    // Publish with the keyboard alone: the menu link, an error, then the fix.
    browser.goto(&at("/"));
    browser.tab_to("the publish link", |f| f["href"] == "/publier");
    browser.keys(ENTER);
    browser.wait_for_page("the publish form", |u| u == at("/publier"));
    audit.check(&browser, "publish form");
    browser.tab_to("the title", is_field("title"));
    browser.keys("Podium de 20 m²");
    browser.tab_to("the contact role", is_field("contact_role"));
    browser.keys("Services techniques");
    browser.tab_to("the submit button", |f| {
        f["tag"] == "button" && f["text"] == "Publier"
    });
    browser.run("window.before = true;", json!([]));
    browser.keys(ENTER);
    mutua_tests::wait_for("the refusal", || {
        (browser.run(
            "return window.before === undefined && document.readyState;",
            json!([]),
        ) == "complete")
            .then_some(())
    });
    let summary = browser.run(
        "return [...document.querySelectorAll('#erreurs a')].map(a => a.getAttribute('href'));",
        json!([]),
    );
    assert_eq!(
        summary,
        json!(["#f-contact_email"]),
        "a contact means is needed"
    );
    audit.check(&browser, "publish form with an error");
    browser.tab_to("the summary's link", |f| f["href"] == "#f-contact_email");
    // Following the link focuses the field.
    browser.keys(ENTER);
    let email = browser.focused();
    assert_eq!(
        email["name"], "contact_email",
        "the link leads to the field"
    );
    browser.keys("st@mairie-bordeaux.fr");
    browser.tab_to("the submit button", |f| {
        f["tag"] == "button" && f["text"] == "Publier"
    });
    browser.keys(ENTER);
    browser.wait_for_page("the confirmation", |u| u.contains("publie=1"));
    assert!(status_text(&browser).starts_with("Votre annonce est publiée."));
    audit.check(&browser, "publication confirmed");
    assert_eq!(web.node.items("?text=podium").len(), 1);

    // Edit form and withdrawal, confirmed.
    let edit = browser.run(
        "return document.querySelector('a[href$=\"/modifier\"]').getAttribute('href');",
        json!([]),
    );
    browser.goto(&at(edit.as_str().unwrap()));
    audit.check(&browser, "edit form");
    browser.goto(&browser.url().replace("/modifier", ""));
    browser.tab_to("the withdraw button", |f| {
        f["tag"] == "button" && f["text"] == "Retirer l’annonce"
    });
    browser.keys(ENTER);
    browser.wait_for_page("the withdrawal", |u| u.ends_with("/retirer"));
    assert_eq!(status_text(&browser), "L’annonce est retirée.");
    audit.check(&browser, "withdrawal confirmed");
    mutua_tests::wait_for("the withdrawal", || {
        web.node.items("?text=podium").is_empty().then_some(())
    });

    // Import with the keyboard alone: the menu link, the file field (the
    // file dialog is the browser's), the button; then the report of a file
    // with a refused row, and the form refusing a file with a wrong header.
    let files = tempfile::tempdir().unwrap();
    let sheet = files.path().join("inventaire.csv");
    std::fs::write(
        &sheet,
        "Type;Nature;Intitulé;Commune;Contact;Courriel\r\n\
         Offre;Matériel;Barnum 3 x 3 m;33063;Services techniques;st@mairie-bordeaux.fr\r\n\
         Offre;Broyeur;Po;3306;Services techniques;st@mairie-bordeaux.fr\r\n",
    )
    .unwrap();
    browser.goto(&at("/"));
    browser.tab_to("the import link", |f| f["href"] == "/importer");
    browser.keys(ENTER);
    browser.wait_for_page("the import form", |u| u == at("/importer"));
    audit.check(&browser, "import form");
    let file_field = browser.tab_to("the file field", is_field("file"));
    assert_focus_visible(&file_field);
    browser.choose_file("#f-file", &sheet);
    browser.tab_to("the import button", |f| {
        f["tag"] == "button" && f["text"] == "Importer"
    });
    browser.enter_and_wait("the import report");
    let report = status_text(&browser);
    assert!(
        report.contains("1 publiée(s)") && report.contains("1 refusée(s)"),
        "{report}"
    );
    let rows = browser.run(
        "return document.querySelectorAll('table.report tbody tr').length;",
        json!([]),
    );
    assert_eq!(rows, 2);
    audit.check(&browser, "import report with a refused line");
    std::fs::write(&sheet, "Type;Nature;Couleur\r\n").unwrap();
    browser.goto(&at("/importer"));
    browser.choose_file("#f-file", &sheet);
    browser.tab_to("the import button", |f| {
        f["tag"] == "button" && f["text"] == "Importer"
    });
    browser.enter_and_wait("the refusal of the file");
    let summary = browser.run(
        "return [...document.querySelectorAll('#erreurs a')].map(a => a.getAttribute('href'));",
        json!([]),
    );
    assert_eq!(summary, json!(["#f-file"]));
    audit.check(&browser, "import of a file with a wrong header");

    // A full page of results: 20 listings and the pager, the heaviest page.
    for i in 1..=21 {
        let mut body = daemon_support::offer(&format!("Barrière de police n° {i}"));
        body["description"] = json!("Barrière de police en acier galvanisé, 2 m, pieds compris.");
        body["tags"] = json!(["barrière", "voirie"]);
        web.node
            .ok(web.node.post("/v1/listings?as=bordeaux", &body));
    }
    browser.goto(&at("/?q=barriere&near="));
    let shown = browser.run(
        "return document.querySelectorAll('.results li').length;",
        json!([]),
    );
    assert_eq!(shown, 20, "a full page of results");
    audit.check(&browser, "search with 20 results");
    // The README's picture of the search page (docs/screenshot.sh).
    if let Ok(path) = std::env::var("MUTUA_SCREENSHOT") {
        browser.goto(&at("/?q=&near=33063&radius=60"));
        // The results and their map, below the filters.
        browser.run(
            "document.querySelector('main h2').scrollIntoView();",
            json!([]),
        );
        std::fs::write(&path, browser.screenshot(1000, 900)).unwrap();
        println!("screenshot of the search page written to {path}");
    }

    println!(
        "axe-core: {} states checked, {} violation(s)",
        audit.states,
        audit.violations.len()
    );
    assert!(audit.violations.is_empty(), "{:#?}", audit.violations);
    assert!(
        audit.heavy.is_empty(),
        "over {MAX_BYTES} B, {MAX_REQUESTS} requests or {MAX_NODES} DOM elements: {:#?}",
        audit.heavy
    );
}

/// The day `days` after today, as staff type it: `jj/mm/aaaa`.
fn in_days(days: u32) -> String {
    use mutua_protocol::lending::date::{format_date, utc_day};
    let iso = format_date(utc_day(mutua_tests::unix_now()) + days);
    let (y, rest) = iso.split_at(4);
    format!("{}/{}/{y}", &rest[4..6], &rest[1..3])
}

/// Signs `login` in on the page at `base` with the keyboard alone.
fn sign_in_with_keys(browser: &Browser, base: &str, login: &str) {
    browser.goto(&format!("{base}/connexion"));
    browser.tab_to("the login field", is_field("login"));
    browser.keys(login);
    browser.tab_to("the password field", is_field("password"));
    browser.keys(&format!("{PASSWORD}{ENTER}"));
    browser.wait_for_page("signed in", |u| u == format!("{base}/"));
}

/// Tabs to the button whose text is `text`.
fn tab_to_button(browser: &Browser, text: &'static str) -> Value {
    browser.tab_to(text, move |f| f["tag"] == "button" && f["text"] == text)
}

/// The texts of the elements `css` selects.
fn texts(browser: &Browser, css: &str) -> Vec<String> {
    let found = browser.run(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText.trim());",
        json!([css]),
    );
    serde_json::from_value(found).unwrap()
}

/// The federation through two nodes' pages, with the keyboard alone:
/// staff of Mérignac, hosted on node B, sign in on B's page, search, find
/// the offer Bordeaux published on node A, read its calendar and request
/// it (an error first); the offer is lent on decision, so staff of
/// Bordeaux sign in on A's page and accept in « Demandes reçues »; B's
/// « Mes demandes » then shows the agreement, and the return is recorded.
/// axe-core and the page budget on every lending page and state.
#[test]
fn staff_of_b_find_a_s_offer_on_b_s_page() {
    let a = WebNode::start(&[&BORDEAUX], &[]);
    let b = WebNode::join(&a, &[&MERIGNAC]);
    let offer = a.publish_offer("bordeaux", "Broyeur de végétaux");
    let (author, id) = offer["/annonces/".len()..].split_once('/').unwrap();
    a.node.ok(a.node.put(
        &format!("/v1/listings/{id}/lending?as=bordeaux"),
        &json!({"mode": "manual", "buffer_days": 2, "capacity": 1}),
    ));
    mutua_tests::wait_for("A's offer and its lending settings on B", || {
        let (status, calendar) = b.node.get(&format!("/v1/records/{author}/{id}/calendar"));
        (status == 200 && calendar["settings"]["buffer_days"] == 2).then_some(())
    });
    let link = b.invite("Paul Martin", "paul", &["33281"]);
    Visitor::new(&b.url).accept(&link, PASSWORD);
    let link = a.invite("Marie Dupont", "marie", &["33063"]);
    Visitor::new(&a.url).accept(&link, PASSWORD);

    let browser = Browser::start();
    let mut audit = Audit {
        axe: axe_source(),
        states: 0,
        violations: Vec::new(),
        heavy: Vec::new(),
    };
    let at = |path: &str| format!("{}{path}", b.url);
    sign_in_with_keys(&browser, &b.url, "paul");
    let field = browser.tab_to("the search text", is_field("q"));
    assert_focus_visible(&field);
    browser.keys(&format!("broyeur{ENTER}"));
    browser.wait_for_page("B's results", |u| u.contains("q=broyeur"));
    assert_eq!(status_text(&browser), "1 annonce trouvée.");
    let found = browser.tab_to("A's offer in the results", |f| f["href"] == offer.as_str());
    assert_eq!(found["text"], "Broyeur de végétaux");
    browser.keys(ENTER);
    browser.wait_for_page("A's offer on B's page", |u| u == at(&offer));
    let facts = texts(&browser, "dl.facts");
    assert!(
        facts[0].contains("Mairie de Bordeaux"),
        "the offer names its collectivity: {facts:?}"
    );
    assert!(
        facts[1].contains("Sur décision des services")
            && facts[1].contains("2 jours libres après chaque prêt")
            && facts[1].contains("1 unité"),
        "the lending settings: {facts:?}"
    );
    assert_eq!(texts(&browser, "ul.calendar.busy li"), Vec::<String>::new());
    assert_eq!(texts(&browser, "ul.calendar.free li").len(), 1, "all free");
    audit.check(&browser, "an offer with its calendar and the request form");

    // The request, with the keyboard: the dates only first (an error).
    let (first, last) = (in_days(10), in_days(12));
    browser.tab_to("the first day", is_field("first_day"));
    browser.keys(&first);
    tab_to_button(&browser, "Envoyer la demande");
    browser.enter_and_wait("the refusal");
    let summary = browser.run(
        "return [...document.querySelectorAll('#erreurs a')].map(a => a.getAttribute('href'));",
        json!([]),
    );
    assert_eq!(
        summary,
        json!([
            "#f-last_day",
            "#f-purpose",
            "#f-contact_role",
            "#f-contact_email"
        ])
    );
    audit.check(&browser, "request form with errors");
    browser.tab_to("the summary's first link", |f| f["href"] == "#f-last_day");
    browser.keys(ENTER);
    assert_eq!(
        browser.focused()["name"],
        "last_day",
        "the link leads to the field"
    );
    browser.keys(&last);
    browser.tab_to("the purpose", is_field("purpose"));
    browser.keys("Entretien des haies");
    browser.tab_to("the contact role", is_field("contact_role"));
    browser.keys("Services techniques");
    browser.tab_to("the contact email", is_field("contact_email"));
    browser.keys("st@merignac.fr");
    tab_to_button(&browser, "Envoyer la demande");
    browser.keys(ENTER);
    browser.wait_for_page("my requests", |u| u == at("/demandes?envoyee=1"));
    assert!(status_text(&browser).starts_with("Votre demande est envoyée."));
    assert_eq!(
        texts(&browser, ".request dd.state"),
        ["En attente de réponse"]
    );
    audit.check(&browser, "my requests, one pending");

    // Staff of Bordeaux accept it on A's page (the same browser: its
    // cookie replaces B's session, as ports share cookies).
    mutua_tests::wait_for("the request on A", || {
        let (_, list) = a.node.get("/v1/requests?direction=incoming");
        (list["requests"].as_array().map_or(0, Vec::len) == 1).then_some(())
    });
    sign_in_with_keys(&browser, &a.url, "marie");
    browser.tab_to("the received requests link", |f| {
        f["href"] == "/demandes/recues"
    });
    browser.keys(ENTER);
    browser.wait_for_page("A's received requests", |u| {
        u == format!("{}/demandes/recues", a.url)
    });
    let item = texts(&browser, ".request dl");
    assert!(
        item[0].contains("Mairie de Mérignac") && item[0].contains("Entretien des haies"),
        "{item:?}"
    );
    audit.check(&browser, "received requests, one pending");
    tab_to_button(&browser, "Accepter la demande");
    browser.keys(ENTER);
    browser.wait_for_page("the acceptance", |u| u.ends_with("?fait=accepted"));
    assert_eq!(
        status_text(&browser),
        "La demande est acceptée : le prêt est convenu."
    );
    assert_eq!(
        texts(&browser, ".request dd.state"),
        ["Acceptée : le prêt est convenu"]
    );
    audit.check(&browser, "received requests, accepted");
    browser.goto(&format!("{}{offer}", a.url));
    let busy = texts(&browser, "ul.calendar.busy li");
    assert_eq!(
        busy.len(),
        1,
        "the loan and its buffer are booked: {busy:?}"
    );
    audit.check(&browser, "an own offer with a booking");

    // B's page shows the agreement once the decision has travelled.
    mutua_tests::wait_for("the agreement on B", || {
        let (_, list) = b.node.get("/v1/requests?direction=outgoing");
        (list["requests"][0]["status"] == "accepted").then_some(())
    });
    sign_in_with_keys(&browser, &b.url, "paul");
    browser.tab_to("my requests link", |f| f["href"] == "/demandes");
    browser.keys(ENTER);
    browser.wait_for_page("my requests", |u| u == at("/demandes"));
    assert_eq!(
        texts(&browser, ".request dd.state"),
        ["Acceptée : le prêt est convenu"]
    );
    audit.check(&browser, "my requests, the agreement");
    // The return, as received (conforme is chosen by default).
    tab_to_button(&browser, "Enregistrer le retour");
    browser.keys(ENTER);
    browser.wait_for_page("the return", |u| u.ends_with("?fait=returned"));
    assert_eq!(status_text(&browser), "Le retour est enregistré.");
    let dl = texts(&browser, ".request dl");
    assert!(dl[0].contains("Rendu dans l’état du prêt"), "{dl:?}");
    audit.check(&browser, "my requests, returned");

    println!(
        "axe-core: {} states checked, {} violation(s)",
        audit.states,
        audit.violations.len()
    );
    assert!(audit.violations.is_empty(), "{:#?}", audit.violations);
    assert!(audit.heavy.is_empty(), "{:#?}", audit.heavy);
}
