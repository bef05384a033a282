//! Values a third party must reproduce from public inputs, each with a test
//! vector in PROTOCOL.md: the gossip topic of a federation (a wrong topic
//! silently cuts a node off) and the replica digest a node reports in
//! `/v1/status` (what a convergence check compares across nodes).

use sha2::{Digest, Sha256};

use crate::keys::PublicKey;
use crate::sync::Fingerprint;

const TOPIC_DOMAIN: &[u8] = b"mutua-topic-v1\0";
const REPLICA_DIGEST_DOMAIN: &[u8] = b"mutua-replica-digest-v1";

/// The gossipsub topic of a federation: its name and its trusted anchors,
/// so that nodes trusting different anchors never share a topic (they would
/// only reject each other's records). The anchors' order and repetitions do
/// not matter.
pub fn topic_for(federation_name: &str, anchors: &[PublicKey]) -> String {
    let mut anchors: Vec<&PublicKey> = anchors.iter().collect();
    anchors.sort();
    anchors.dedup();
    let mut digest = Sha256::new();
    digest.update(TOPIC_DOMAIN);
    digest.update((federation_name.len() as u64).to_be_bytes());
    digest.update(federation_name.as_bytes());
    for anchor in anchors {
        digest.update(anchor.as_bytes());
    }
    let digest = digest.finalize();
    // A readable slug of the name, for logs; the digest is what separates.
    let slug: String = federation_name
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            ' ' | '_' | '.' => Some('-'),
            _ => None,
        })
        .take(32)
        .collect();
    format!("mutua/1/records/{slug}/{}", crate::hex(&digest[..16]))
}

/// The digest of a whole replica from its whole-range sync fingerprint:
/// `SHA-256("mutua-replica-digest-v1" ‖ u64_be(count) ‖ sum)`. Equal on two
/// replicas iff they hold the same records (the equality sync relies on),
/// and cheap, since a store keeps the fingerprint up to date.
pub fn replica_digest(whole_range: &Fingerprint) -> [u8; 32] {
    Sha256::new()
        .chain_update(REPLICA_DIGEST_DOMAIN)
        .chain_update(whole_range.count.to_be_bytes())
        .chain_update(whole_range.sum)
        .finalize()
        .into()
}
