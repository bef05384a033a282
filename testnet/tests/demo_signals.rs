//! The demo ends cleanly however it is stopped: the real `mutua-testnet
//! demo` (debug build) with its five node processes, stopped by signals.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mutua_tests::wait_for_within;

/// A debug demo on a loaded 2-core machine takes a while to come up.
const START: Duration = Duration::from_secs(240);

struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Demo {
    fn start(extra: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mutua-testnet"))
            .args(["demo", "--net", "loopback"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
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
        Demo {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until the demo says it stays up; returns its data directory.
    fn wait_until_up(&mut self) -> PathBuf {
        wait_for_within(START, "the demo to come up", || {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the demo exited with {status}: {:#?}", self.seen);
            }
            if !self
                .seen
                .iter()
                .any(|l| l.contains("The federation stays up"))
            {
                return None;
            }
            self.seen
                .iter()
                .find_map(|l| l.strip_prefix("Node logs and data: "))
                .map(PathBuf::from)
        })
    }

    /// Sends `signal` (`HUP`, `INT`) and returns the exit code and stderr.
    fn stop(mut self, signal: &str) -> (Option<i32>, String) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = wait_for_within(Duration::from_secs(60), "the demo to exit", || {
            self.child.try_wait().unwrap()
        });
        let mut stderr = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        (status.code(), stderr)
    }
}

#[test]
fn sighup_cleans_up_like_ctrl_c_and_a_kept_run_does_not_say_it_cleans_up() {
    let mut demo = Demo::start(&[]);
    let dir = demo.wait_until_up();
    assert!(dir.exists());
    let hints = demo.seen.join("\n");
    assert!(!hints.contains("cargo run -p mutua-cli"), "{hints}");
    let (code, stderr) = demo.stop("HUP");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("cleaning up"), "{stderr}");
    assert!(!dir.exists(), "SIGHUP left {}", dir.display());

    let mut demo = Demo::start(&["--keep"]);
    let dir = demo.wait_until_up();
    let (code, stderr) = demo.stop("INT");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!stderr.contains("clean"), "{stderr}");
    assert!(stderr.contains("stay (--keep)"), "{stderr}");
    assert!(dir.exists(), "--keep removed {}", dir.display());
    std::fs::remove_dir_all(&dir).unwrap();
}
