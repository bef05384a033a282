//! The newcomer's first step: `mutua-testnet demo` (debug build, real node
//! processes) prints two nodes' web pages and a demo login, and that login
//! signs in on both, where the search shows the federation's listings.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mutua_tests::wait_for_within;

/// A debug demo on a loaded 2-core machine takes a while to come up.
const START: Duration = Duration::from_secs(240);

/// Signs in at `base` with the demo's login; the search page's HTML.
fn sign_in_and_search(base: &str, login: &str, password: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut form = agent.get(format!("{base}/connexion")).call().unwrap();
    let csrf_cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mutua_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("a CSRF cookie")
        .to_owned();
    let body = form.body_mut().read_to_string().unwrap();
    let marker = "name=\"csrf\" value=\"";
    let csrf = body[body.find(marker).unwrap() + marker.len()..]
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let signed = agent
        .post(format!("{base}/connexion"))
        .header("Cookie", &csrf_cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("csrf={csrf}&login={login}&password={password}"))
        .unwrap();
    assert_eq!(signed.status().as_u16(), 303, "the demo login signs in");
    let session = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mutua_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let mut search = agent
        .get(format!("{base}/?q=&near="))
        .header("Cookie", &session)
        .call()
        .unwrap();
    assert_eq!(search.status().as_u16(), 200);
    search.body_mut().read_to_string().unwrap()
}

#[test]
fn the_demo_prints_two_pages_and_a_login_that_signs_in() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mutua-testnet"))
        .args(["demo", "--net", "loopback"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mutua-testnet demo starts");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    wait_for_within(START, "the demo to come up", || {
        seen.extend(lines.try_iter());
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the demo exited with {status}: {seen:#?}");
        }
        seen.iter()
            .any(|l| l.contains("The federation stays up"))
            .then_some(())
    });
    let intro = seen
        .iter()
        .find(|l| l.starts_with("Open a browser"))
        .unwrap_or_else(|| panic!("no web page announced: {seen:#?}"));
    let quoted: Vec<&str> = intro
        .split('«')
        .skip(1)
        .map(|q| q.split('»').next().unwrap().trim())
        .collect();
    let [login, password] = quoted[..] else {
        panic!("a login and a password: {intro}");
    };
    let pages: Vec<&str> = seen
        .iter()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|w| w.starts_with("http://127.0.0.1:"))
        .collect();
    assert_eq!(pages.len(), 2, "{seen:#?}");
    for page in pages {
        let search = sign_in_and_search(page, login, password);
        assert!(search.contains("Broyeur de végétaux"), "{search}");
        assert!(search.contains("Agent de démonstration"), "{search}");
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = wait_for_within(Duration::from_secs(60), "the demo to exit", || {
        child.try_wait().unwrap()
    });
    // Ctrl-C cleans up and exits with 130, as demo_signals.rs checks.
    assert_eq!(status.code(), Some(130), "{status}");
}
