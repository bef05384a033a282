//! `mutua web user add` against a running `mutua node` serving its web
//! page: the printed link opens the page where the person chooses a
//! password; an unknown collectivity is refused by name.

mod support;

use support::founded::publishing_node;
use support::mutua;

#[test]
fn web_user_add_prints_a_link_that_opens_the_invitation_page() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    support::found(&dir);
    let node = support::Node::start_with(
        &dir,
        &[
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api-listen",
            "127.0.0.1:0",
            "--mdns",
            "false",
            "--web-listen",
            "127.0.0.1:0",
        ],
    );
    node.run(support::ADMIT_BORDEAUX).ok();
    let run = node
        .run(&[
            "web",
            "user",
            "add",
            "--collectivity",
            "33063",
            "--name",
            "Marie Dupont",
        ])
        .ok();
    assert!(
        run.stdout.contains("login marie-dupont for bordeaux"),
        "{}",
        run.stdout
    );
    let link = run
        .stdout
        .split_whitespace()
        .find(|w| w.contains("/invitation/"))
        .expect("a link")
        .to_owned();
    let mut page = ureq::get(&link).call().expect("the page answers");
    let text = page.body_mut().read_to_string().unwrap();
    assert!(text.contains("Choisir votre mot de passe"), "{text}");
    assert!(text.contains("« marie-dupont »"), "{text}");

    let refused = mutua(
        &dir,
        &[
            "web",
            "user",
            "add",
            "--collectivity",
            "75056",
            "--name",
            "Personne",
        ],
    );
    assert_ne!(refused.code, 0);
    refused.assert_stderr_has(&["75056", "hosted"]);
}

#[test]
fn without_a_web_page_the_path_is_printed_with_the_setting_to_turn_it_on() {
    let tmp = tempfile::tempdir().unwrap();
    let node = publishing_node(&tmp.path().join("node"));
    let run = node
        .run(&[
            "web",
            "user",
            "add",
            "--collectivity",
            "bordeaux",
            "--name",
            "Agent",
            "--login",
            "agent",
        ])
        .ok();
    assert!(run.stdout.contains("set web.listen"), "{}", run.stdout);
    assert!(run.stdout.contains("/invitation/"), "{}", run.stdout);
}
