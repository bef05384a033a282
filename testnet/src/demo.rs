//! `mutua-testnet demo`: a small federation of real collectivities (demo
//! data), admitted by a founding syndicate, publishing what they pool, and
//! answering searches.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mutua_api::RecordsQuery;
use mutua_protocol::PublicKey;

use crate::federation::{Testnet, TestnetOptions};
use crate::records::{self, Identity, TEMPLATES};
use crate::{cleanup, wait, Error, NetMode};

/// The demo's collectivities: (code, publisher name, seat for a grouping).
const DEMO_MEMBERS: &[(&str, &str, Option<&str>)] = &[
    ("243300316", "bordeaux-metropole", Some("33063")),
    ("200044394", "cc-reolais", Some("33352")),
    ("33002", "aillas", None),
    ("33010", "arcins", None),
];

/// (node, template index) of what the demo publishes.
const DEMO_LISTINGS: &[(usize, usize)] = &[
    (0, 9),  // syndicate: GLPI mutualisé
    (0, 10), // syndicate: Nextcloud
    (1, 6),  // métropole: audit RGAA
    (1, 7),  // métropole: SIG
    (2, 0),  // CC: broyeur
    (2, 4),  // CC: DPO mutualisé
    (3, 13), // Aillas: besoin de nacelle
    (4, 14), // Arcins: recherche DPO
    (4, 2),  // Arcins: podium et barrières
];

/// Where the `mutua` CLI is: beside this binary, where `cargo build` puts
/// it with the same profile and target directory.
fn cli_path(testnet_bin: &Path) -> PathBuf {
    testnet_bin.with_file_name("mutua")
}

/// What the demo tells once it has shown the federation working: how to
/// query it with the CLI (only while the data is there to query), and how
/// it ends.
struct Hints {
    cli: PathBuf,
    member_dir: String,
    run_dir: String,
    once: bool,
    keep: bool,
}

impl Hints {
    fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        // With --once and without --keep, the data is removed on exit.
        let data_stays = self.keep || !self.once;
        if data_stays {
            lines.push("\nQuery it yourself with the mutua CLI, e.g. as the CC du Réolais:".into());
            if !self.cli.exists() {
                let profile = if cfg!(debug_assertions) {
                    ""
                } else {
                    " --release"
                };
                lines.push(format!(
                    "  cargo build{profile} -p mutua-cli      # once: the CLI is its own binary"
                ));
            }
            let cli = self.cli.display();
            let dir = &self.member_dir;
            lines.push(format!("  {cli} --data-dir {dir} search broyeur"));
            lines.push(format!("  {cli} --data-dir {dir} status"));
            lines.push(format!("Node logs and data: {}", self.run_dir));
        }
        lines.push(match (self.once, self.keep) {
            (true, true) => format!("Stopping (--once); the data stays in {} (--keep).", self.run_dir),
            (true, false) => "Stopping (--once) and removing the data (add --keep to query it afterwards).".into(),
            (false, true) => "The federation stays up; press Ctrl-C to stop every node (the data stays: --keep).".into(),
            (false, false) => "The federation stays up; press Ctrl-C (or close the terminal) to stop every node and clean up.".into(),
        });
        lines
    }
}

pub struct DemoOptions {
    pub bin: PathBuf,
    pub net: NetMode,
    pub keep: bool,
    /// Exit after the searches instead of staying up.
    pub once: bool,
}

fn say(out: &mut dyn Write, text: impl AsRef<str>) {
    let _ = writeln!(out, "{}", text.as_ref());
}

/// Runs the demo, printing to `out`.
pub fn run(options: &DemoOptions, out: &mut dyn Write) -> Result<(), Error> {
    let mut identities = vec![Identity::demo_syndicate("33", "33063")];
    for (code, name, seat) in DEMO_MEMBERS {
        identities.push(
            Identity::from_refdata(code, name, *seat).ok_or(Error::Init {
                node: identities.len(),
                message: format!("{code} is not in the reference data"),
            })?,
        );
    }
    let mut topts = TestnetOptions::new(&options.bin, identities.len(), 1);
    topts.net = options.net;
    topts.keep = options.keep;
    topts.federation = "demo-gironde".into();
    topts.identities = Some(identities);
    topts.web = true;
    say(out, "Mutua demo — DEMO DATA: real collectivities from the 2026 reference lists, fictitious syndicate, invented listings.");
    say(
        out,
        "Starting 5 node processes and founding the federation…",
    );
    let started = Instant::now();
    let net = Testnet::start(&topts)?;
    say(
        out,
        format!(
            "Federation formed and every member admitted in {:.1} s ({}).",
            started.elapsed().as_secs_f64(),
            net.describe_network()
        ),
    );
    for (i, m) in net.members().iter().enumerate() {
        let role = if i == 0 {
            "anchor, admits members"
        } else {
            "member"
        };
        say(
            out,
            format!(
                "  node {i}: {:<42} SIREN {}  ({role})",
                m.identity.name, m.identity.siren
            ),
        );
    }

    say(out, "\nPublishing offers and needs:");
    for (serial, &(node, t)) in DEMO_LISTINGS.iter().enumerate() {
        let m = net.member(node);
        let body = records::listing(&TEMPLATES[t], &m.identity, serial + 1);
        let published_at = Instant::now();
        let answer = net.api(node)?.publish(&m.identity.publisher, &body)?;
        let listing = answer.record.listing().ok_or_else(|| Error::Api {
            node,
            method: "POST",
            path: "/v1/listings".into(),
            status: 200,
            body: format!("not a listing: {:?}", answer.record),
        })?;
        let (author, id) = (listing.author, listing.id);
        wait::until(
            "a demo listing to reach every node",
            Duration::from_secs(30),
            || {
                for i in 0..net.len() {
                    if net.api(i)?.record(&author, &id)?.is_none() {
                        return Ok(None);
                    }
                }
                Ok(Some(()))
            },
        )?;
        say(
            out,
            format!(
                "  {:<5} {:<44} by {:<36} on every node after {:>4} ms",
                TEMPLATES[t].side.as_str(),
                body.title,
                m.identity.name,
                published_at.elapsed().as_millis()
            ),
        );
    }

    let name_of = |key: &PublicKey| {
        net.members()
            .iter()
            .find(|m| m.key == *key)
            .map_or_else(|| key.to_string(), |m| m.identity.name.clone())
    };
    say(out, "\nSearches, each answered from a node's own replica:");
    let searches = [
        (
            3usize,
            RecordsQuery {
                text: Some("broyeur".into()),
                ..RecordsQuery::default()
            },
            "Aillas searches \"broyeur\"",
        ),
        (
            4,
            RecordsQuery {
                kind: Some("hosted_service,software".into()),
                ..RecordsQuery::default()
            },
            "Arcins looks for hosted services and software",
        ),
        (
            1,
            RecordsQuery {
                side: Some("need".into()),
                departement: Some("33".into()),
                ..RecordsQuery::default()
            },
            "Bordeaux Métropole lists the needs in Gironde",
        ),
    ];
    for (node, query, what) in searches {
        let items = net.api(node)?.search(&query)?.items;
        say(out, format!("  {what} ({} result(s)):", items.len()));
        for hit in items {
            let listing = &hit.listing;
            say(
                out,
                format!(
                    "    - {} — {}",
                    listing.content.title,
                    name_of(&listing.author)
                ),
            );
        }
    }

    // Two members' pages: the CC du Réolais finds Aillas's need, and back.
    say(
        out,
        format!(
            "\nOpen a browser: each node serves its web page (sign in as « {} », password « {} »):",
            crate::demo_web::DEMO_LOGIN,
            crate::demo_web::DEMO_PASSWORD
        ),
    );
    for page in crate::demo_web::open(&net, &[2, 3])? {
        say(out, format!("  {:<42} {}", page.name, page.url));
    }

    let hints = Hints {
        cli: cli_path(&options.bin),
        member_dir: net.member(2).data_dir().display().to_string(),
        run_dir: net.dir().display().to_string(),
        once: options.once,
        keep: options.keep,
    };
    for line in hints.lines() {
        say(out, line);
    }
    if options.once {
        return Ok(());
    }
    let _ = out.flush();
    let mut net = net;
    while !cleanup::interrupted() {
        net.check_alive()?;
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(once: bool, keep: bool) -> Vec<String> {
        Hints {
            cli: PathBuf::from("/nonexistent/target/release/mutua"),
            member_dir: "/tmp/mutua-testnet-x/node2".into(),
            run_dir: "/tmp/mutua-testnet-x".into(),
            once,
            keep,
        }
        .lines()
    }

    #[test]
    fn hints_use_the_cli_binary_and_only_data_that_stays() {
        for (once, keep) in [(false, false), (false, true), (true, true)] {
            let text = hints(once, keep).join("\n");
            assert!(!text.contains("cargo run"), "{text}");
            assert!(
                text.contains("/nonexistent/target/release/mutua --data-dir /tmp/mutua-testnet-x/node2 search broyeur"),
                "{text}"
            );
            assert!(
                text.contains("cargo build"),
                "the CLI is not built yet: {text}"
            );
        }
        let once = hints(true, false).join("\n");
        assert!(
            !once.contains("--data-dir") && !once.contains("/tmp/mutua-testnet-x"),
            "{once}"
        );
        assert!(once.contains("--keep"), "{once}");
        let kept = hints(false, true).join("\n");
        assert!(!kept.contains("clean up"), "{kept}");
    }

    #[test]
    fn a_built_cli_is_named_without_a_build_step() {
        let exe = std::env::current_exe().unwrap();
        let text = Hints {
            cli: exe.clone(),
            member_dir: "d".into(),
            run_dir: "r".into(),
            once: false,
            keep: false,
        }
        .lines()
        .join("\n");
        assert!(!text.contains("cargo build"), "{text}");
        assert!(
            text.contains(&format!("{} --data-dir d status", exe.display())),
            "{text}"
        );
    }
}
