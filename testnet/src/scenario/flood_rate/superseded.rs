//! The flood of valid-but-superseded versions (`--kind superseded`): the
//! rogue holds a member's signing key (read from its node's data
//! directory: a leaked key, or a member's own misbehaving software) and
//! floods genuine, correctly signed version-1 records of a listing whose
//! version 2 every node holds. Each is a distinct message (its own title)
//! that every node must verify and then ignores (`ignored_old`): gossipsub
//! never lowers the sender's score for an `Ignore`, the node's budget of
//! ignored records (`PeerPolicy::on_ignored_record`) does.

use std::time::{SystemTime, UNIX_EPOCH};

use mutua_protocol::{seal, ListingId, Payload, SecretKey};

use super::super::Run;
use crate::records::{self, TEMPLATES};
use crate::{rogue, Error};

/// What the rogue signs its superseded versions with, and of what.
pub(super) struct Superseding {
    key: SecretKey,
    id: ListingId,
    published_at: u64,
}

impl Superseding {
    /// The `n`th superseded version: version 1 of the listing, its own title.
    pub(super) fn message(&self, n: u64) -> Vec<u8> {
        let listing = rogue::offer(
            &self.key,
            self.id,
            format!("Version périmée n°{n}"),
            "Une ancienne version, signée par le membre, que la version 2 remplace.",
            self.published_at,
        );
        seal(&self.key, &Payload::Offer(listing))
            .map(|r| r.bytes().to_vec())
            .unwrap_or_default()
    }

    /// Messages `0..count`, signed before the flood starts on every core:
    /// signed as they were sent, they bounded a CPU-starved rogue's rate
    /// (one run's targets judged 67 records in two minutes).
    pub(super) fn presign(&self, count: u64) -> Vec<Vec<u8>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let per = count.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let parts: Vec<_> = (0..count)
                .step_by(per as usize)
                .map(|from| {
                    s.spawn(move || {
                        (from..(from + per).min(count))
                            .map(|n| self.message(n))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().unwrap_or_default())
                .collect()
        })
    }
}

impl Run<'_> {
    /// A member (the author of the first listing) publishes an offer, then
    /// its version 2; once every node holds version 2, its version 1 (any
    /// content) is superseded everywhere.
    pub(super) fn supersede(&mut self) -> Result<Superseding, Error> {
        let node = self.published.first().map_or(0, |p| p.origin);
        self.publish(node, 0)?;
        let member = self.net.member(node);
        let (publisher, identity) = (member.identity.publisher.clone(), member.identity.clone());
        let key = member.signing_key(node)?;
        let last = self.published.len() - 1;
        let id = self.published[last].id;
        let content = records::listing(&TEMPLATES[0], &identity, self.published.len());
        let answer = self.net.api(node)?.update(&publisher, &id, &content)?;
        if let Some(bytes) = mutua_protocol::unhex(&answer.envelope) {
            self.envelopes.push(bytes);
        }
        self.republished(last, *answer.record.hash());
        self.await_propagation()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Superseding {
            key,
            id,
            published_at: now.saturating_sub(60),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::FixedBytes;

    #[test]
    fn presigned_versions_are_the_ones_signed_on_demand() {
        let s = Superseding {
            key: SecretKey::from_seed([5; 32]),
            id: FixedBytes([6; 16]),
            published_at: 1_800_000_000,
        };
        let signed = s.presign(7);
        assert_eq!(signed, (0..7).map(|n| s.message(n)).collect::<Vec<_>>());
        assert!(signed.iter().all(|m| !m.is_empty()));
        assert!(s.presign(0).is_empty());
    }
}
