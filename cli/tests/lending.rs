//! Lending end to end: the real `mutua` binary against three real node
//! processes (real sled, real signatures, gossip over loopback TCP). A
//! borrower on node B asks for an `auto` offer of node A, A's node accepts
//! it and B sees the agreement; an overlapping request from node C (it falls
//! in the offer's turnaround buffer) is declined with the reason; a request
//! for a `manual` offer waits in A's inbox until `mutua accept --terms`;
//! `search --available` leaves the booked offer out on the booked days
//! only, in full pages (the node's index answers it), until the loan is
//! cancelled; A counts its decisions in its metrics; a stopped node lists
//! its requests.

mod support;

use std::path::Path;

use mutua_protocol::lending::date::{format_date, utc_day};
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::founded::publish;
use support::{found, mutua, wait_for, Node, ADMIT_BORDEAUX};

/// Initialises `dir` for the collectivity `code` of the federation founded
/// by `anchor`; returns its publisher's key id.
fn join(dir: &Path, anchor: &str, code: &str) -> String {
    let init = mutua(
        dir,
        &[
            "--json",
            "init",
            "--federation",
            "e2e",
            "--trust",
            anchor,
            "--collectivity",
            code,
            "--yes",
        ],
    )
    .ok();
    init.json()[0]["publishers"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The anchor's node admits `key` for `code`; the member's node imports
/// the certificate.
fn admit(anchor: &Node, member: &Node, key: &str, code: &str, file: &Path) {
    anchor
        .run(&[
            "federation",
            "admit",
            key,
            "--collectivity",
            code,
            "--yes",
            "--export",
            file.to_str().unwrap(),
        ])
        .ok();
    member
        .run(&["federation", "import", file.to_str().unwrap()])
        .ok();
}

/// The day `days` after today, `YYYY-MM-DD`.
fn in_days(days: u32) -> String {
    format_date(utc_day(mutua_tests::unix_now()) + days)
}

/// The request `id` as `mutua requests --json` on `node` shows it, once
/// `ready` holds.
fn request_on(node: &Node, id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, || {
        node.run(&["--json", "requests"])
            .ok()
            .json()
            .into_iter()
            .find(|r| r["id"] == id && ready(r))
    })
}

fn request(node: &Node, offer: &str, from: &str, to: &str, email: &str) -> String {
    let sent = node
        .run(&[
            "--json",
            "request",
            offer,
            "--from",
            from,
            "--to",
            to,
            "--purpose",
            "Fête de la musique",
            "--contact-email",
            email,
        ])
        .ok()
        .json();
    assert_eq!(sent[0]["kind"], "request", "{sent:?}");
    sent[0]["request"]["id"].as_str().unwrap().to_owned()
}

fn search_ids(node: &Node, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--json", "search"];
    all.extend_from_slice(args);
    node.run(&all)
        .ok()
        .json()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn requests_are_decided_by_the_owners_node_and_the_calendar_follows() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir, c_dir) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let anchor = found(&a_dir);
    let b_key = join(&b_dir, &anchor, "243300316");
    let c_key = join(&c_dir, &anchor, "33281");
    let a = Node::start(&a_dir, None);
    let b = Node::start(&b_dir, Some(&a.p2p_addr()));
    let c = Node::start(&c_dir, Some(&a.p2p_addr()));
    wait_for("a gossip mesh", || {
        (a.has_mesh_peer() && b.has_mesh_peer() && c.has_mesh_peer()).then_some(())
    });
    a.run(ADMIT_BORDEAUX).ok();
    admit(&a, &b, &b_key, "243300316", &tmp.path().join("b.cert"));
    admit(&a, &c, &c_key, "33281", &tmp.path().join("c.cert"));

    // A lends a podium automatically, with a day to bring it back.
    let podium = publish(&a, "offer", "Podium mobile", &[]).ok().json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.run(&["lending", &podium, "--mode", "auto", "--buffer-days", "1"])
        .ok();
    for node in [&b, &c] {
        wait_for("the podium on the borrowers' nodes", || {
            search_ids(node, &["podium"])
                .contains(&podium)
                .then_some(())
        });
    }

    // B asks for days 10–12: A's node accepts at once; B sees the agreement.
    let (first, last) = (in_days(10), in_days(12));
    let b_request = request(&b, &podium, &first, &last, "fetes@metropole.example");
    let agreed = request_on(&b, &b_request, "B to see the acceptance", |r| {
        r["status"] == "accepted"
    });
    assert_eq!(agreed["direction"], "outgoing");
    assert_eq!(agreed["first_day"], first.as_str());
    assert_eq!(agreed["last_day"], last.as_str());
    assert!(agreed["terms_hash"].is_string(), "{agreed}");

    // C asks for day 13, the podium's turnaround day: declined, and why.
    let c_request = request(
        &c,
        &podium,
        &in_days(13),
        &in_days(14),
        "mairie@merignac.example",
    );
    let declined = request_on(&c, &c_request, "C to see the refusal", |r| {
        r["status"] == "declined"
    });
    assert_eq!(declined["reason"], "conflict", "{declined}");
    let table = c.run(&["requests", "--outgoing"]).ok();
    assert!(
        table.stdout.contains("declined (conflict)"),
        "{}",
        table.stdout
    );

    // The calendar every node shows: B's loan and its buffer are booked.
    let shown = c.run(&["show", &podium]).ok();
    assert!(
        shown.stdout.contains(&format!("{first} → {}", in_days(13))),
        "{}",
        shown.stdout
    );
    // `--available` leaves the podium out on booked days only.
    let booked = format!("{}..{}", in_days(11), in_days(11));
    assert!(!search_ids(&c, &["podium", "--available", &booked]).contains(&podium));
    let free = format!("{}..{}", in_days(20), in_days(22));
    assert!(search_ids(&c, &["podium", "--available", &free]).contains(&podium));

    // A manual offer: the request waits in A's inbox until the staff accept.
    let nacelle = publish(&a, "offer", "Nacelle 12 m", &[]).ok().json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.run(&["lending", &nacelle, "--mode", "manual"]).ok();
    wait_for("the nacelle on B", || {
        search_ids(&b, &["nacelle"])
            .contains(&nacelle)
            .then_some(())
    });
    let b_nacelle = request(
        &b,
        &nacelle,
        &in_days(10),
        &in_days(11),
        "st@metropole.example",
    );
    let inbox = wait_for("the request in A's inbox", || {
        let pending = a
            .run(&["--json", "requests", "--incoming", "--pending"])
            .ok()
            .json();
        pending
            .iter()
            .any(|r| r["id"] == b_nacelle)
            .then_some(pending)
    });
    assert_eq!(
        inbox.len(),
        1,
        "only the nacelle's request waits: {inbox:?}"
    );
    let convention = tmp.path().join("convention.txt");
    std::fs::write(&convention, "Convention de prêt : nacelle, retour le soir.").unwrap();
    let accepted = a
        .run(&[
            "--json",
            "accept",
            &b_nacelle[..8],
            "--terms",
            convention.to_str().unwrap(),
        ])
        .ok()
        .json();
    assert_eq!(accepted[0]["request"]["status"], "accepted", "{accepted:?}");
    let terms = mutua_protocol::hex(&Sha256::digest(std::fs::read(&convention).unwrap()));
    let on_b = request_on(&b, &b_nacelle, "B to see the staff's acceptance", |r| {
        r["status"] == "accepted"
    });
    assert_eq!(on_b["terms_hash"], terms.as_str());
    // Accepting twice is refused in words.
    let again = a.run(&["accept", &b_nacelle]);
    assert_eq!(again.code, 1, "{again:?}");
    again.assert_stderr_has(&["already_decided", "was accepted"]);

    // The hand-over, recorded by the borrower, reaches the owner.
    let handed = b
        .run(&["--json", "handed-over", &b_nacelle[..8]])
        .ok()
        .json();
    assert_eq!(handed[0]["kind"], "loan_event", "{handed:?}");
    assert_eq!(handed[0]["request"]["handed_over"], true, "{handed:?}");
    request_on(&a, &b_nacelle, "A to see the hand-over", |r| {
        r["handed_over"] == true
    });
    // The return, recorded by the owner, reaches the borrower.
    a.run(&["returned", &b_nacelle, "--condition", "ok"]).ok();
    request_on(&b, &b_nacelle, "B to see the return", |r| {
        r["returned"] == "as_lent"
    });

    let metrics = a.expect(a.client().metrics());
    for line in [
        "mutua_lending_decisions_total{outcome=\"accepted\",by=\"auto\"} 1",
        "mutua_lending_decisions_total{outcome=\"conflict\",by=\"auto\"} 1",
        "mutua_lending_decisions_total{outcome=\"accepted\",by=\"staff\"} 1",
    ] {
        assert!(metrics.contains(line), "no {line} in:\n{metrics}");
    }
}

/// Sync every `secs` seconds (the commented default in config.toml).
fn set_sync_interval(dir: &Path, secs: u64) {
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("# sync_interval_secs"), "{text}");
    let text: Vec<String> = text
        .lines()
        .map(|l| match l.starts_with("# sync_interval_secs") {
            true => format!("sync_interval_secs = {secs}"),
            false => l.to_owned(),
        })
        .collect();
    std::fs::write(path, text.join("\n") + "\n").unwrap();
}

#[test]
fn requests_made_while_the_owner_is_offline_are_decided_when_it_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let anchor = found(&a_dir);
    let b_key = join(&b_dir, &anchor, "243300316");
    for dir in [&a_dir, &b_dir] {
        set_sync_interval(dir, 2);
    }
    let a = Node::start(&a_dir, None);
    let b = Node::start(&b_dir, Some(&a.p2p_addr()));
    wait_for("a gossip mesh", || {
        (a.has_mesh_peer() && b.has_mesh_peer()).then_some(())
    });
    a.run(ADMIT_BORDEAUX).ok();
    admit(&a, &b, &b_key, "243300316", &tmp.path().join("b.cert"));
    let podium = publish(&a, "offer", "Podium mobile", &[]).ok().json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.run(&["lending", &podium, "--mode", "auto"]).ok();
    wait_for("the podium's settings on B", || {
        let shown = b.run(&["show", &podium]);
        (shown.code == 0 && shown.stdout.contains("auto")).then_some(())
    });

    // The owner's node goes away; two requests for the same days arrive.
    a.stop();
    let first = request(
        &b,
        &podium,
        &in_days(10),
        &in_days(11),
        "fetes@metropole.example",
    );
    let second = request(
        &b,
        &podium,
        &in_days(11),
        &in_days(12),
        "sports@metropole.example",
    );
    for id in [&first, &second] {
        let pending = request_on(&b, id, "the request stored on B", |r| {
            r["status"] == "pending"
        });
        assert_eq!(pending["direction"], "outgoing");
    }

    // Back, it catches up by sync and decides them one at a time: one
    // accepted, the other declined (first asked, first served; the same
    // second falls to the record hash).
    let a = Node::start(&a_dir, Some(&b.p2p_addr()));
    let mut statuses: Vec<String> = [&first, &second]
        .iter()
        .map(|id| {
            let decided = request_on(&b, id, "the request decided", |r| r["status"] != "pending");
            match decided["reason"].as_str() {
                Some(reason) => format!("{} ({reason})", decided["status"].as_str().unwrap()),
                None => decided["status"].as_str().unwrap().to_owned(),
            }
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["accepted", "declined (conflict)"]);
    wait_for("equal replicas", || {
        (a.digest() == b.digest()).then_some(())
    });

    // The owner takes its acceptance back, in words the borrower reads; a
    // declined request has no acceptance to take back.
    let status_on_b = |id: &str| request_on(&b, id, "the request on B", |_| true)["status"].clone();
    let (kept, refused) = match status_on_b(&first) == "accepted" {
        true => (first, second),
        false => (second, first),
    };
    let taken_back = a
        .run(&[
            "--json",
            "cancel",
            &kept[..8],
            "--reason",
            "Podium endommagé par la tempête",
        ])
        .ok()
        .json();
    assert_eq!(taken_back[0]["kind"], "decision", "{taken_back:?}");
    assert_eq!(taken_back[0]["request"]["status"], "cancelled_by_owner");
    let on_b = request_on(&b, &kept, "B to see the owner's cancellation", |r| {
        r["status"] == "cancelled_by_owner"
    });
    assert_eq!(on_b["reason_text"], "Podium endommagé par la tempête");
    let again = a.run(&["cancel", &refused]);
    assert_eq!(again.code, 1, "{again:?}");
    again.assert_stderr_has(&["not_accepted", "was declined"]);
    // Three decisions; the cancellation answered no waiting request, so
    // the time-to-decision histogram holds the two others only.
    let metrics = a.expect(a.client().metrics());
    for line in [
        "mutua_lending_decisions_total{outcome=\"cancelled_by_owner\",by=\"staff\"} 1",
        "mutua_lending_decision_seconds_count 2",
    ] {
        assert!(metrics.contains(line), "no {line} in:\n{metrics}");
    }
}

/// `search --available` is answered by the node's index: a page holds
/// `--limit` free offers when there are that many, the offer lent over the
/// days is left out until the loan is cancelled; a stopped node still lists
/// its requests, with the borrower's name.
#[test]
fn available_pages_are_full_and_follow_the_loans() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let anchor = found(&a_dir);
    let b_key = join(&b_dir, &anchor, "243300316");
    let a = Node::start(&a_dir, None);
    let b = Node::start(&b_dir, Some(&a.p2p_addr()));
    wait_for("a gossip mesh", || {
        (a.has_mesh_peer() && b.has_mesh_peer()).then_some(())
    });
    a.run(ADMIT_BORDEAUX).ok();
    admit(&a, &b, &b_key, "243300316", &tmp.path().join("b.cert"));
    let id_of = |run: &support::Run| run.json()[0]["id"].as_str().unwrap().to_owned();
    let mut last_published_at = 0;
    let barriers: Vec<String> = (1..=3)
        .map(|i| {
            let run = publish(&a, "offer", &format!("Barrières de ville, lot {i}"), &[]).ok();
            last_published_at = run.json()[0]["published_at"].as_u64().unwrap();
            id_of(&run)
        })
        .collect();
    // The newest offer, first in a page by recency: the one lent. Times
    // are whole seconds and ties go by id, so it waits for the next second.
    wait_for("the second after the barriers", || {
        (mutua_tests::unix_now() > last_published_at).then_some(())
    });
    let podium = id_of(&publish(&a, "offer", "Podium mobile", &[]).ok());
    a.run(&["lending", &podium, "--mode", "auto"]).ok();
    wait_for("A's offers on B", || {
        (search_ids(&b, &["--offers"]).len() == 4).then_some(())
    });
    wait_for("the podium's settings on B", || {
        let shown = b.run(&["show", &podium]);
        (shown.code == 0 && shown.stdout.contains("auto")).then_some(())
    });
    let asked = request(
        &b,
        &podium,
        &in_days(10),
        &in_days(12),
        "fetes@metropole.example",
    );
    let agreed = request_on(&b, &asked, "B to see the acceptance", |r| {
        r["status"] == "accepted"
    });
    assert!(
        agreed["borrower_name"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "{agreed}"
    );

    let booked = format!("{}..{}", in_days(11), in_days(11));
    let mut free = search_ids(&b, &["--offers", "--available", &booked, "--limit", "3"]);
    free.sort();
    let mut expected = barriers.clone();
    expected.sort();
    assert_eq!(free, expected, "a full page of the free offers");
    let later = format!("{}..{}", in_days(20), in_days(21));
    let all = search_ids(&b, &["--offers", "--available", &later, "--limit", "3"]);
    assert_eq!(all.len(), 3);
    assert!(
        all.contains(&podium),
        "the newest first, free then: {all:?}"
    );

    // The borrower cancels: free again, on both nodes.
    b.run(&["cancel", &asked[..8]]).ok();
    for node in [&b, &a] {
        wait_for("the podium free again", || {
            search_ids(node, &["--offers", "--available", &booked, "--limit", "10"])
                .contains(&podium)
                .then_some(())
        });
    }

    // Stopped, B still lists its request, read from its replica.
    b.stop();
    let listed = mutua(&b_dir, &["--json", "requests"]).ok().json();
    let offline = listed
        .iter()
        .find(|r| r["id"] == asked.as_str())
        .unwrap_or_else(|| panic!("the request listed by the stopped node: {listed:?}"));
    assert_eq!(offline["status"], "cancelled_by_borrower", "{offline}");
    assert_eq!(offline["borrower_name"], agreed["borrower_name"]);
}
