//! A crashed node, a stopped node, a second node on one machine: the real
//! `mutua` binary and real node processes.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use mutua_tests::free_port;
use support::founded::{found, publish, publishing_node};
use support::{ids, mutua, wait_for, Node};

/// Every file under `dir` with its content.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.insert(path.display().to_string(), std::fs::read(&path).unwrap());
        }
    }
    files
}

#[test]
fn after_kill_9_the_store_is_checked_and_the_replica_is_read_without_writing_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let node = publishing_node(&dir);
    let id = publish(&node, "offer", "Broyeur de végétaux", &["--tag", "broyeur"])
        .ok()
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(node); // SIGKILL: api.addr stays behind.
    assert!(dir.join("api.addr").exists());
    // The kernel drops sled's lock with the process, at once or nearly.
    wait_for("the dead node's store lock to go", || {
        let check = mutua(&dir, &["store", "check"]);
        (check.code == 0).then_some(check)
    });

    let before = snapshot(&dir.join("store"));
    let found = mutua(&dir, &["--json", "search", "broyeur"]).ok();
    assert_eq!(ids(&found), std::slice::from_ref(&id));
    found.assert_stderr_has(&["the node is not running"]);
    let shown = mutua(&dir, &["show", &id[..12]]).ok();
    assert!(
        shown.stdout.contains("Broyeur de végétaux"),
        "{}",
        shown.stdout
    );
    let exported = mutua(&dir, &["export", "--format", "csv", "--mine"]).ok();
    assert_eq!(exported.stdout.lines().count(), 2, "{}", exported.stdout);
    assert_eq!(
        before,
        snapshot(&dir.join("store")),
        "the replica was written"
    );

    // Writes still need the node, and say so with their own exit code.
    let refused = mutua(&dir, &["offer", "withdraw", &id]);
    assert_eq!(refused.code, 3, "{refused:?}");
}

/// README.md, "A second node on the same machine": `init` takes the ports
/// and the first node's address, and the node finds it with mDNS off.
#[test]
fn a_second_node_on_one_machine_finds_the_first_as_the_readme_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let (first_dir, second_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let anchor = found(&first_dir);
    let first = Node::start(&first_dir, None);
    let first_port = first.p2p_addr().split('/').nth(4).unwrap().to_owned();
    let status = first.run(&["status"]).ok().stdout;
    assert!(
        status.contains(&format!("address     /ip4/127.0.0.1/tcp/{first_port}/p2p/")),
        "{status}"
    );

    let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let api = format!("127.0.0.1:{}", free_port());
    let bootstrap = format!("/ip4/127.0.0.1/tcp/{first_port}");
    // `init` of a node trusting the first, listening on `listen`.
    let init = |dir: &Path, listen: &str, rest: &[&str]| {
        let mut args = vec![
            "init",
            "--federation",
            "e2e",
            "--trust",
            &anchor,
            "--listen",
            listen,
        ];
        args.extend_from_slice(rest);
        mutua(dir, &args)
    };
    let rest = [
        "--api-listen",
        &api,
        "--bootstrap",
        &bootstrap,
        "--mdns",
        "false",
    ];
    init(&second_dir, &listen, &rest).ok();
    // Plain `mutua node`: every setting comes from the config init wrote.
    let second = Node::start_with(&second_dir, &[]);
    let addr = std::fs::read_to_string(second_dir.join("api.addr")).unwrap();
    assert_eq!(addr.trim(), api);
    wait_for("the second node to reach the first", || {
        (second.has_mesh_peer() && first.has_mesh_peer()).then_some(())
    });
    let peers = second.run(&["--json", "peers"]).ok().json();
    assert!(
        peers[0]["addresses"].to_string().contains(&first_port),
        "{peers:?}"
    );

    // A bad address is refused by init, before anything is written.
    let third = tmp.path().join("c");
    let refused = init(&third, "4102", &[]);
    assert_eq!(refused.code, 1, "{refused:?}");
    refused.assert_stderr_has(&["network.listen"]);
    assert!(!third.exists());
}

#[test]
fn a_federation_name_over_64_bytes_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    // 33 "é": 33 characters, 66 bytes.
    let name = "é".repeat(33);
    let refused = mutua(&dir, &["federation", "create", "--federation", &name]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("66 bytes long in UTF-8; at most 64"),
        "{}",
        refused.stderr
    );
    assert!(!dir.exists(), "nothing written");
    // At the limit it is accepted, and the node starts with it.
    let name = "é".repeat(32);
    mutua(&dir, &["federation", "create", "--federation", &name]).ok();
    let node = Node::start(&dir, None);
    let status = node.run(&["--json", "status"]).ok().json();
    assert_eq!(status[0]["federation"], name.as_str());
}

#[test]
fn a_key_added_to_a_running_node_publishes_without_restart_and_a_removed_one_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let node = publishing_node(&dir);
    let added = node
        .run(&["--json", "key", "add", "--collectivity", "33281", "--yes"])
        .ok()
        .json();
    assert_eq!(added[0]["hosted_now"], true, "{added:?}");
    let name = added[0]["name"].as_str().unwrap().to_owned();
    // Admitted by name, on the same running node: no restart, no import.
    node.run(&[
        "federation",
        "admit",
        &name,
        "--collectivity",
        "33281",
        "--yes",
    ])
    .ok();
    assert!(dir.join(format!("keys/publishers/{name}.cert")).exists());
    let published = publish(&node, "offer", "Barrières de sécurité", &["--as", &name])
        .ok()
        .json();
    assert_eq!(published[0]["author"], added[0]["key"]);

    let removed = node.run(&["key", "remove", &name, "--yes"]).ok().stdout;
    assert!(removed.contains("no longer signs with it"), "{removed}");
    let refused = publish(&node, "offer", "Podium", &["--as", &name]);
    assert_eq!(refused.code, 2, "{refused:?}");
    refused.assert_stderr_has(&["no such publisher"]);
    // Kept, not deleted; its listing is still there.
    let kept: Vec<_> = std::fs::read_dir(dir.join("keys/removed"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        kept.iter()
            .any(|f| f.starts_with(&name) && f.ends_with(".key")),
        "{kept:?}"
    );
    assert_eq!(
        ids(&node.run(&["--json", "search", "barrières"]).ok()).len(),
        1
    );
    let again = node.run(&["key", "remove", &name, "--yes"]);
    assert_eq!(again.code, 1, "{again:?}");
}
