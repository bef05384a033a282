//! A node that cannot start says why in one plain sentence, with what to do:
//! a p2p or API address another node holds, a data directory in use.

mod daemon_support;

use daemon_support::{poll_until, Home, Node, DEADLINE};
use mutua_tests::free_port;

fn args(listen: &str, api: &str) -> Vec<String> {
    ["--listen", listen, "--api-listen", api, "--mdns", "false"]
        .map(str::to_owned)
        .to_vec()
}

/// `mutua-node run` on `home` with `args`, expected to fail at start: its
/// output. A node that starts instead (the bug: a second node sharing the
/// port) is stopped and fails the test rather than hanging it.
fn refused_start(home: &Home, args: &[String]) -> String {
    let mut child = std::process::Command::new(daemon_support::BIN)
        .arg("--data-dir")
        .arg(&home.dir)
        .arg("run")
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mutua-node runs");
    let exited = poll_until(DEADLINE, || child.try_wait().unwrap());
    if exited.is_none() {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "the second node started: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the second node exited 0");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_second_node_on_a_taken_p2p_port_fails_at_start_saying_so() {
    let first = Home::init(&["--new-anchor"]);
    let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let a = Node::start_with(&first, &args(&p2p, "127.0.0.1:0"), &[]);
    // libp2p sets SO_REUSEPORT: without the check, this bound too.
    let second = Home::init(&["--new-anchor"]);
    let out = refused_start(&second, &args(&p2p, "127.0.0.1:0"));
    assert!(
        out.contains(&format!("the p2p address {p2p} is already in use"))
            && out.contains("--listen /ip4/0.0.0.0/tcp/4101"),
        "{out}"
    );
    assert!(!out.contains("os error"), "{out}");
    assert_eq!(a.status().network.listen_addrs[0], p2p);
}

#[test]
fn a_taken_api_port_and_a_data_directory_in_use_are_told_plainly() {
    let home = Home::init(&["--new-anchor"]);
    let a = Node::start(&home, &[]);
    let api = a.api.trim_start_matches("http://").to_owned();
    let other = Home::init(&["--new-anchor"]);
    let out = refused_start(&other, &args("/ip4/127.0.0.1/tcp/0", &api));
    assert!(
        out.contains(&format!("the control API address {api} is already in use"))
            && out.contains("--api-listen"),
        "{out}"
    );
    assert!(!out.contains("os error"), "{out}");

    // The same data directory twice: sled's lock, in words.
    let out = refused_start(&home, &args("/ip4/127.0.0.1/tcp/0", "127.0.0.1:0"));
    assert!(
        out.contains("is in use by another process") && out.contains("stop it first"),
        "{out}"
    );
    assert!(
        !out.contains("WouldBlock") && !out.contains("acquire lock"),
        "{out}"
    );
    a.status();
}
