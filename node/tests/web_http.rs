//! The web page over HTTP, against a real `mutua-node` process: sign-in
//! through an invitation, CSRF refusal, the login rate limits (per login and
//! per client address), session expiry, restricted browsing, a member of
//! staff refused when acting for another collectivity, compressed pages; a
//! publication through the form reaches the control API's view of the
//! replica; the lending actions refuse a forged token and another
//! collectivity's request.

mod daemon_support;
mod web_support;

use daemon_support::wait_for;
use web_support::{Visitor, WebNode, BORDEAUX, MERIGNAC};

const PASSWORD: &str = "un long mot de passe";

#[test]
fn staff_sign_in_publish_and_are_refused_what_is_not_theirs() {
    let web = WebNode::start(&[&BORDEAUX, &MERIGNAC], &[]);
    let link = web.invite("Marie Dupont", "marie", &["33281"]);
    assert!(link.starts_with(&web.url), "{link}");

    // Browsing is restricted by default: the search sends to sign-in.
    let mut marie = Visitor::new(&web.url);
    let first = marie.get("/");
    assert_eq!(first.status, 303);
    assert_eq!(first.location.as_deref(), Some("/connexion?requis=1"));

    // An invitation is good once.
    marie.accept(&link, PASSWORD);
    let again = marie.get(&link[link.find("/invitation/").unwrap()..]);
    assert_eq!(again.status, 404);

    // A form without the right CSRF token is refused, and signs nobody in.
    let refused = marie.post(
        "/connexion",
        &[
            ("csrf", "forged"),
            ("login", "marie"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("Formulaire expiré"),
        "{}",
        refused.body
    );
    assert!(!marie.cookies.contains_key("mutua_session"));

    let signed = marie.sign_in("marie", PASSWORD);
    assert_eq!(signed.status, 303, "{}", signed.body);
    let search = marie.get("/");
    assert_eq!(search.status, 200);
    assert!(
        search.body.contains("Mairie de Mérignac"),
        "the header names the collectivity"
    );
    assert!(
        search.body.contains("Syndicat numérique de test"),
        "and the host"
    );
    assert!(!search.body.contains('⟦'), "every text is in the catalogue");

    // Publishing for Mérignac works; for Bordeaux it is refused.
    let form = marie.get("/publier");
    let csrf = Visitor::csrf_of(&form);
    let fields = |collectivity: &'static str, title: &'static str| {
        vec![
            ("collectivity", collectivity),
            ("side", "offer"),
            ("kind", "equipment"),
            ("title", title),
            ("insee", "33281"),
            ("pricing", "cost"),
            ("amount", "12,50"),
            ("per", "jour"),
            ("contact_role", "Services techniques"),
            ("contact_email", "st@mairie-merignac.fr"),
            ("from", "01/01/2027"),
            ("until", "31/03/2027"),
        ]
    };
    let mut theirs = fields("bordeaux", "Nacelle");
    theirs.push(("csrf", &csrf));
    assert_eq!(marie.post("/publier", &theirs).status, 403);
    let mut mine = fields("merignac", "Broyeur de végétaux");
    mine.push(("csrf", &csrf));
    let published = marie.post("/publier", &mine);
    assert_eq!(published.status, 303, "{}", published.body);
    let page = marie.get(published.location.as_deref().unwrap());
    assert!(page.body.contains("role=\"status\""), "{}", page.body);
    assert!(page.body.contains("12,50 € par jour"), "{}", page.body);
    assert!(
        page.body.contains("du 01/01/2027 au 31/03/2027"),
        "{}",
        page.body
    );
    let items = web.node.items("?text=broyeur");
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].listing.author.to_string(),
        web.home.publisher_id("merignac")
    );

    // Errors are shown beside their field, with a summary linking to it.
    let mut bad = fields("merignac", "");
    bad.push(("csrf", &csrf));
    let refused = marie.post("/publier", &bad);
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("href=\"#f-title\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("Ce champ est obligatoire."));
    // The protocol's and local rules' refusals too, in words.
    let mut unknown = fields("merignac", "Tondeuse");
    unknown.retain(|(k, _)| *k != "insee");
    unknown.extend([("insee", "99999"), ("csrf", &csrf)]);
    let refused = marie.post("/publier", &unknown);
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"f-insee-error\""),
        "{}",
        refused.body
    );

    // Bordeaux's offer: Marie may read it, not withdraw it.
    let bordeaux_offer = web.publish_offer("bordeaux", "Podium");
    let listing = marie.get(&bordeaux_offer);
    assert_eq!(listing.status, 200);
    assert!(!listing.body.contains("Retirer l’annonce"));
    let withdraw = marie.post(&format!("{bordeaux_offer}/retirer"), &[("csrf", &csrf)]);
    assert_eq!(withdraw.status, 403);
    assert!(web.node.items("?text=podium").len() == 1, "still there");

    // Signing out ends the session.
    let out = marie.post("/deconnexion", &[("csrf", &csrf)]);
    assert_eq!(out.location.as_deref(), Some("/connexion?sortie=1"));
    assert_eq!(marie.get("/publier").status, 303);
}

#[test]
fn a_session_ends_by_itself() {
    let web = WebNode::start(&[&BORDEAUX], &[("session_secs", "5")]);
    let link = web.invite("Agent", "agent", &["33063"]);
    let mut visitor = Visitor::new(&web.url);
    visitor.accept(&link, PASSWORD);
    let signed_at = std::time::Instant::now();
    assert_eq!(visitor.sign_in("agent", PASSWORD).status, 303);
    let page = visitor.get("/publier");
    // Only meaningful if the machine was quick enough to ask in time.
    if signed_at.elapsed() < std::time::Duration::from_secs(4) {
        assert_eq!(page.status, 200, "{}", page.body);
    }
    wait_for("the session to expire", || {
        (visitor.get("/publier").status == 303).then_some(())
    });
}

#[test]
fn sign_in_attempts_are_limited_per_login() {
    let web = WebNode::start(&[&BORDEAUX], &[("public_browsing", "true")]);
    let link = web.invite("Agent", "agent", &["bordeaux"]);
    let mut visitor = Visitor::new(&web.url);
    visitor.accept(&link, PASSWORD);
    // Public browsing: the search answers signed out.
    assert_eq!(visitor.get("/").status, 200);
    for _ in 0..5 {
        assert_eq!(visitor.sign_in("agent", "pas le bon").status, 401);
    }
    let limited = visitor.sign_in("agent", PASSWORD);
    assert_eq!(limited.status, 429);
    assert!(
        limited.body.contains("Trop de tentatives"),
        "{}",
        limited.body
    );
    // Another login is not held back.
    assert_eq!(visitor.sign_in("personne", "x").status, 401);
}

#[test]
fn the_open_data_is_public_on_the_page_listener() {
    let web = WebNode::start(&[&BORDEAUX], &[]);
    let page = web.publish_offer("bordeaux", "Nacelle élévatrice");
    let mut anyone = Visitor::new(&web.url);

    // Browsing is restricted, but open data is for everyone, on the same
    // listener: the catalogue and the listing's schema.org document at its
    // page's address plus `.jsonld`.
    assert_eq!(anyone.get(&page).status, 303);
    let catalogue = anyone.get("/catalog.jsonld");
    assert_eq!(catalogue.status, 200, "{}", catalogue.body);
    assert!(catalogue.body.contains("dcat:Catalog") || catalogue.body.contains("Catalog"));
    assert!(
        catalogue.body.contains("Ressources mutualisées"),
        "{}",
        catalogue.body
    );
    let document = anyone.get(&format!("{page}.jsonld"));
    assert_eq!(document.status, 200, "{}", document.body);
    assert!(
        document.body.contains("Nacelle élévatrice"),
        "{}",
        document.body
    );
    assert!(document.body.contains("LeaseOut"), "{}", document.body);
    assert_eq!(anyone.get(&format!("{page}x.jsonld")).status, 404);
}

#[test]
fn a_hosted_listing_page_embeds_its_schema_org_document() {
    let web = WebNode::start(&[&BORDEAUX], &[("public_browsing", "true")]);
    let page = web.publish_offer("bordeaux", "Podium <mobile>");
    let shown = Visitor::new(&web.url).get(&page);
    assert_eq!(shown.status, 200, "{}", shown.body);
    let start = shown
        .body
        .find(r#"<script type="application/ld+json">"#)
        .expect("the page embeds its JSON-LD");
    let script = &shown.body[start..];
    let script = &script[script.find('>').unwrap() + 1..script.find("</script>").unwrap()];
    let doc: serde_json::Value = serde_json::from_str(script).expect("the embedded JSON-LD parses");
    assert_eq!(doc["@type"], "Offer", "{doc}");
    assert!(doc.to_string().contains("Podium <mobile>"), "{doc}");
    assert!(
        !script.contains('<'),
        "no text of the listing can close the script element"
    );
}

#[test]
fn pages_are_compressed_as_the_browser_asks() {
    use std::io::{Read, Write};
    let web = WebNode::start(&[&BORDEAUX], &[]);
    let addr = web.url.trim_start_matches("http://");
    for (asked, given) in [
        ("br", Some("br")),
        ("gzip", Some("gzip")),
        ("identity", None),
    ] {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET /accessibilite HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: {asked}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let text = String::from_utf8_lossy(&answer).to_lowercase();
        let head = &text[..text.find("\r\n\r\n").unwrap()];
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let encoding = head
            .lines()
            .find_map(|l| l.strip_prefix("content-encoding: "))
            .map(str::trim);
        assert_eq!(encoding, given, "{asked}: {head}");
    }
}

#[test]
fn sign_in_attempts_are_limited_per_address_across_logins() {
    let web = WebNode::start(&[&BORDEAUX], &[]);
    let link = web.invite("Agent", "agent", &["bordeaux"]);
    let mut visitor = Visitor::new(&web.url);
    visitor.accept(&link, PASSWORD);
    // Guessing across many logins, one failure each: under the per-login
    // limit every time, but not under the address's.
    for i in 0..20 {
        let answer = visitor.sign_in(&format!("personne-{i}"), "pas le bon");
        assert_eq!(answer.status, 401, "attempt {i}: {}", answer.body);
    }
    let limited = visitor.sign_in("agent", PASSWORD);
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(
        limited.body.contains("depuis votre réseau"),
        "{}",
        limited.body
    );
    assert!(!visitor.cookies.contains_key("mutua_session"));
}

/// The lending pages over HTTP: a request form needs its CSRF token and
/// the visitor's own collectivity; a member of staff of Mérignac cannot
/// answer a request made to Bordeaux, even on the node hosting both; staff
/// of Bordeaux accept it with a loan convention, whose SHA-256 the
/// agreement carries, and decline another with a reason in words.
#[test]
fn lending_actions_need_the_csrf_token_and_the_visitor_s_collectivity() {
    use sha2::{Digest, Sha256};

    let web = WebNode::start(&[&BORDEAUX, &MERIGNAC], &[]);
    let offer = web.publish_offer("bordeaux", "Broyeur de végétaux");
    let (author, id) = offer["/annonces/".len()..].split_once('/').unwrap();
    let day = |days: u32| {
        use mutua_protocol::lending::date::{format_date, utc_day};
        format_date(utc_day(mutua_tests::unix_now()) + days)
    };
    // Two requests by Mérignac, through the control API.
    let ask = |first: u32| {
        web.node.ok(web.node.post(
            "/v1/requests?as=merignac",
            &serde_json::json!({
                "offer_author": author, "offer": id,
                "first_day": day(first), "last_day": day(first + 1),
                "purpose": "Entretien des haies",
                "contact": {"role": "Services techniques", "email": "st@merignac.fr"}
            }),
        ))["request"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (first, second) = (ask(10), ask(20));
    let status_of = |request: &str| {
        let (_, list) = web.node.get("/v1/requests?direction=incoming");
        list["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == request)
            .unwrap()
            .clone()
    };

    let link = web.invite("Paul Martin", "paul", &["33281"]);
    let mut paul = Visitor::new(&web.url);
    paul.accept(&link, PASSWORD);
    assert_eq!(paul.sign_in("paul", PASSWORD).status, 303);
    let page = paul.get(&offer);
    assert!(page.body.contains("Demander un prêt"), "{}", page.body);
    let csrf = Visitor::csrf_of(&page);
    let form = |csrf: &'static str, collectivity: &'static str| {
        vec![
            ("csrf", csrf),
            ("collectivity", collectivity),
            ("first_day", "01/01/2020"),
            ("last_day", ""),
            ("purpose", ""),
            ("contact_role", "Services techniques"),
            ("contact_email", "st@merignac.fr"),
        ]
    };
    let to = format!("{offer}/demander");
    let forged = paul.post(&to, &form("forged", "merignac"));
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("Formulaire expiré"), "{}", forged.body);
    let csrf: &'static str = Box::leak(csrf.into_boxed_str());
    assert_eq!(paul.post(&to, &form(csrf, "bordeaux")).status, 403);
    // Each field's error in words, and a summary linking to it.
    let refused = paul.post(&to, &form(csrf, "merignac"));
    assert_eq!(refused.status, 422);
    for (href, words) in [
        ("#f-first_day", "Cette date est déjà passée"),
        ("#f-last_day", "Écrivez une date au format jj/mm/aaaa"),
        ("#f-purpose", "Dites en une ligne à quoi servira le prêt."),
    ] {
        assert!(refused.body.contains(&format!("href=\"{href}\"")), "{href}");
        assert!(refused.body.contains(words), "{words}: {}", refused.body);
    }
    assert_eq!(
        web.node.get("/v1/requests?direction=outgoing").1["requests"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Mérignac's staff see their requests, not Bordeaux's incoming ones,
    // and cannot answer them.
    let mine = paul.get("/demandes");
    assert_eq!(mine.body.matches("En attente de réponse").count(), 2);
    let received = paul.get("/demandes/recues");
    assert!(received
        .body
        .contains("Aucune demande de prêt n’a été reçue"));
    let theirs = paul.post(
        &format!("/demandes/{first}/refuser"),
        &[("csrf", csrf), ("reason", "refused")],
    );
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    assert!(theirs.body.contains("Demande introuvable"));
    let theirs = paul.post_file(
        &format!("/demandes/{first}/accepter"),
        &[("csrf", csrf)],
        ("convention.pdf", b"%PDF"),
    );
    assert_eq!(theirs.status, 404);
    assert_eq!(status_of(&first)["status"], "pending");

    // Bordeaux's staff: a forged token is refused, then the acceptance
    // with the convention, and a refusal with its reason in words.
    let link = web.invite("Marie Dupont", "marie", &["33063"]);
    let mut marie = Visitor::new(&web.url);
    marie.accept(&link, PASSWORD);
    assert_eq!(marie.sign_in("marie", PASSWORD).status, 303);
    let received = marie.get("/demandes/recues");
    assert_eq!(received.body.matches("Accepter la demande").count(), 2);
    let csrf = Visitor::csrf_of(&received);
    let convention = b"Convention de pret du broyeur".as_slice();
    let forged = marie.post_file(
        &format!("/demandes/{first}/accepter"),
        &[("csrf", "forged")],
        ("convention.txt", convention),
    );
    assert_eq!(forged.status, 403);
    assert_eq!(status_of(&first)["status"], "pending");
    let accepted = marie.post_file(
        &format!("/demandes/{first}/accepter"),
        &[("csrf", &csrf)],
        ("convention.txt", convention),
    );
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    assert_eq!(
        accepted.location.as_deref(),
        Some("/demandes/recues?fait=accepted")
    );
    let agreed = status_of(&first);
    assert_eq!(agreed["status"], "accepted");
    assert_eq!(
        agreed["terms_hash"],
        data_encoding::HEXLOWER.encode(&Sha256::digest(convention))
    );
    let declined = marie.post(
        &format!("/demandes/{second}/refuser"),
        &[
            ("csrf", &csrf),
            ("reason", "conflict"),
            ("text", "Déjà prêté ce jour-là"),
        ],
    );
    assert_eq!(declined.status, 303, "{}", declined.body);
    assert_eq!(status_of(&second)["status"], "declined");
    assert_eq!(status_of(&second)["reason"], "conflict");
    // Deciding twice is refused in words, beside the form.
    let again = marie.post(
        &format!("/demandes/{second}/refuser"),
        &[("csrf", &csrf), ("reason", "refused")],
    );
    assert_eq!(again.status, 409);
    assert!(again
        .body
        .contains("Cette demande a déjà reçu une réponse."));
    let mine = paul.get("/demandes");
    assert!(
        mine.body.contains("Acceptée : le prêt est convenu"),
        "{}",
        mine.body
    );
    assert!(
        mine.body.contains(
            "Refusée : les dates (avec le délai entre deux prêts) sont déjà prises (« Déjà prêté ce jour-là »)"
        ),
        "{}",
        mine.body
    );
    // The search's date leaves the broyeur out on a day it is lent.
    let french = |days: u32| {
        let iso = day(days);
        format!("{}%2F{}%2F{}", &iso[8..10], &iso[5..7], &iso[..4])
    };
    let lent = paul.get(&format!("/?q=broyeur&date={}", french(10)));
    assert_eq!(lent.status, 200);
    assert!(!lent.body.contains(&offer), "{}", lent.body);
    let free = paul.get(&format!("/?q=broyeur&date={}", french(30)));
    assert!(free.body.contains(&offer), "{}", free.body);
}
