//! How the actor punishes misbehaving peers: bans for broken sync, score
//! penalties for invalid records and over-limit frames, and their decay.

use super::*;

impl Actor {
    /// Acts on a peer's sync misbehaviour: cut it off for [`BAN_DURATION`],
    /// or lower its gossipsub score for invalid records.
    pub(super) fn penalise(&mut self, penalty: Penalty) {
        let (peer, reason) = match penalty {
            Penalty::Fault(peer, reason) => (peer, reason),
            Penalty::InvalidRecords(peer, count) => {
                let penalty = self.add_penalty(peer, SYNC_INVALID_RECORD_PENALTY * count as f64);
                tracing::warn!(%peer, count, penalty, "invalid records received by sync");
                if penalty < SYNC_PENALTY_BAN {
                    return;
                }
                (peer, format!("{count} invalid records"))
            }
        };
        self.ban(peer, &reason);
    }

    /// Adds to a peer's application-score penalty; returns the new total.
    pub(super) fn add_penalty(&mut self, peer: PeerId, amount: f64) -> f64 {
        let penalty = self.sync_penalties.entry(peer).or_default();
        *penalty += amount;
        let penalty = *penalty;
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, -penalty);
        penalty
    }

    pub(super) fn ban(&mut self, peer: PeerId, reason: &str) {
        tracing::warn!(%peer, %reason, ban_secs = BAN_DURATION.as_secs(), "cutting off a peer that broke the sync protocol");
        self.metrics.sync_bans.inc();
        self.banned.insert(peer, Instant::now() + BAN_DURATION);
        self.swarm.behaviour_mut().blocked.block_peer(peer);
    }

    /// A peer sent a gossipsub frame over the limits: the guard counted it
    /// and ended the stream; close the connection (gossipsub would keep it
    /// up without reading the peer) and lower the peer's score, so that a
    /// peer that keeps doing it is cut off. Logged once per peer.
    pub(super) fn handle_frame_breach(&mut self, FrameBreach { peer, breach }: FrameBreach) {
        if self.frame_breach_logged.len() >= MAX_LOGGED_BREACHES {
            self.frame_breach_logged.clear();
        }
        if self.frame_breach_logged.insert(peer) {
            tracing::warn!(
                %peer,
                %breach,
                max_frame_bytes = MAX_FRAME_BYTES,
                "closing the connection of a peer that sent a gossipsub frame over the limits \
                 (logged once per peer; see mutua_network_gossip_frames_refused_total)"
            );
        }
        let penalty = self.add_penalty(peer, FRAME_BREACH_PENALTY);
        let _ = self.swarm.disconnect_peer_id(peer);
        if penalty >= SYNC_PENALTY_BAN {
            self.ban(peer, "gossipsub frames over the limits");
        }
    }

    /// Lifts expired bans and lets sync penalties fade.
    pub(super) fn decay_penalties(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in expired {
            self.banned.remove(&peer);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        self.sync_penalties.retain(|peer, penalty| {
            *penalty *= SYNC_PENALTY_DECAY;
            let keep = *penalty >= 1.0;
            gossipsub.set_application_score(peer, if keep { -*penalty } else { 0.0 });
            keep
        });
    }
}
