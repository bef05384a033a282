//! A misbehaving member: a bare libp2p client that joins the federation's
//! topic and floods records every node must refuse. It runs no validation of
//! its own and publishes whatever it is given; the nodes' checks are what
//! stop it. Test-only by construction: it lives in the harness, not in the
//! node.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId};
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux, Multiaddr, Swarm};
use mutua_protocol::codec::{encode_envelope, hash_envelope, MAX_RECORD_BYTES};
use mutua_protocol::{
    seal, Contact, FixedBytes, Listing, ListingId, Location, Payload, Pricing, ResourceKind,
    SecretKey, ServiceArea, Terms,
};
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;

use crate::Error;

mod sync_requests;
pub use sync_requests::{sync_flood_at_rate, SyncFloodReport};

/// The kinds of invalid record the rogue sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Forgery {
    /// Well formed and signed, by a key no anchor admitted (`not_a_member`).
    NonMember,
    /// A genuine record with one signature bit flipped (`bad_signature`).
    BadSignature,
    /// An envelope over the record size limit (`too_large`).
    Oversize,
}

/// Builds `count` invalid records of each kind. `genuine` are honest
/// envelopes to forge from (at least one for [`Forgery::BadSignature`]).
pub fn forge(rng: &mut StdRng, genuine: &[Vec<u8>], count: usize) -> Vec<(Forgery, Vec<u8>)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let outsider = SecretKey::from_seed(rng.gen());
    let mut out = Vec::with_capacity(3 * count);
    for i in 0..count {
        let listing = offer(
            &outsider,
            FixedBytes(rng.gen()),
            format!("Offre non admise n°{i}"),
            "Publiée par une clé qu'aucune collectivité n'a admise.",
            now.saturating_sub(60),
        );
        if let Ok(record) = seal(&outsider, &Payload::Offer(listing)) {
            out.push((Forgery::NonMember, record.bytes().to_vec()));
        }
        if let Some(base) = genuine.get(i % genuine.len().max(1)) {
            let mut bytes = base.clone();
            // Each copy flips a different bit of the 64-byte signature (the
            // envelope's last field), so every message id differs.
            let bit = i % 512;
            let at = bytes.len() - 64 + bit / 8;
            bytes[at] ^= 1 << (bit % 8);
            out.push((Forgery::BadSignature, bytes));
        }
        let mut payload = vec![0xa0; MAX_RECORD_BYTES];
        payload[0] = (i % 256) as u8; // distinct message ids
        payload[1] = (i / 256 % 256) as u8;
        out.push((
            Forgery::Oversize,
            encode_envelope(&outsider.public(), &payload, &[0; 64]),
        ));
    }
    out
}

/// An equipment offer by `author` published at `published_at` (Unix
/// seconds), valid 30 days: what the harness signs itself, with a key no
/// anchor admitted or with one whose certificate was revoked.
pub fn offer(
    author: &SecretKey,
    id: ListingId,
    title: String,
    description: &str,
    published_at: u64,
) -> Listing {
    Listing {
        author: author.public(),
        id,
        version: 1,
        kind: ResourceKind::Equipment,
        title,
        description: description.into(),
        tags: vec![],
        location: Location {
            insee: "33063".into(),
            point: None,
        },
        area: ServiceArea::default(),
        capacity: None,
        availability: vec![],
        terms: Terms {
            pricing: Pricing::Free,
            convention_required: false,
        },
        contact: Contact {
            role: "Accueil".into(),
            email: Some("rogue@outsider.example".into()),
            phone: None,
            url: None,
        },
        published_at,
        expires_at: published_at + 30 * 86_400,
    }
}

/// What the rogue managed to send.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FloodReport {
    pub peer_id: String,
    /// Messages handed to gossipsub (a graylisted sender's are dropped unread).
    pub sent: usize,
    /// Messages gossipsub refused to publish, by its error (flood at rate).
    pub refused: std::collections::BTreeMap<String, usize>,
}

fn rogue_swarm(identity: Keypair) -> Result<Swarm<gossipsub::Behaviour>, Error> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::None)
        .message_id_fn(|m| MessageId::new(&hash_envelope(&m.data).0))
        .max_transmit_size(2 * MAX_RECORD_BYTES)
        .build()
        .map_err(|e| Error::Rogue(e.to_string()))?;
    Ok(libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| Error::Rogue(e.to_string()))?
        .with_behaviour(|_| {
            gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).map_err(|e| {
                Box::new(std::io::Error::other(e)) as Box<dyn std::error::Error + Send + Sync>
            })
        })
        .map_err(|e| Error::Rogue(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

/// Connects to `targets` and waits until `wanted` of them are subscribed
/// to `topic`.
async fn join(
    identity: Keypair,
    topic: &IdentTopic,
    targets: &[Multiaddr],
    wanted: usize,
    deadline: Duration,
) -> Result<Swarm<gossipsub::Behaviour>, Error> {
    let mut swarm = rogue_swarm(identity)?;
    swarm
        .behaviour_mut()
        .subscribe(topic)
        .map_err(|e| Error::Rogue(e.to_string()))?;
    for t in targets {
        swarm
            .dial(t.clone())
            .map_err(|e| Error::Rogue(e.to_string()))?;
    }
    let mut subscribed_peers = std::collections::HashSet::new();
    let subscribed = tokio::time::timeout(deadline, async {
        while subscribed_peers.len() < wanted.max(1) {
            if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, topic: t }) =
                swarm.select_next_some().await
            {
                if t == topic.hash() {
                    subscribed_peers.insert(peer_id);
                }
            }
        }
    })
    .await;
    if subscribed.is_err() {
        return Err(Error::Timeout {
            what: format!("{wanted} node(s) to accept the rogue client on the topic"),
            after: deadline,
        });
    }
    Ok(swarm)
}

/// Keeps the swarm running for `linger`, so that the nodes read what it sent.
async fn linger(swarm: &mut Swarm<gossipsub::Behaviour>, linger: Duration) {
    let _ = tokio::time::timeout(linger, async {
        loop {
            swarm.select_next_some().await;
        }
    })
    .await;
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Rogue(e.to_string()))
}

/// Connects to `targets`, waits until one of them is subscribed to `topic`,
/// publishes `messages`, and stays connected for `linger` so that the nodes
/// judge them all. Blocking: runs its own small runtime.
pub fn flood(
    topic: &str,
    targets: &[Multiaddr],
    messages: Vec<Vec<u8>>,
    deadline: Duration,
    linger_for: Duration,
) -> Result<FloodReport, Error> {
    runtime()?.block_on(async {
        let identity = Keypair::generate_ed25519();
        let peer_id = identity.public().to_peer_id().to_string();
        let topic = IdentTopic::new(topic);
        let mut swarm = join(identity, &topic, targets, 1, deadline).await?;
        let mut report = FloodReport {
            peer_id,
            ..FloodReport::default()
        };
        for m in messages {
            if swarm.behaviour_mut().publish(topic.clone(), m).is_ok() {
                report.sent += 1;
            }
            // Let the swarm write out between messages (bounded queues).
            let _ = tokio::time::timeout(Duration::from_millis(2), swarm.select_next_some()).await;
        }
        linger(&mut swarm, linger_for).await;
        Ok(report)
    })
}

/// A flood at a steady rate: what [`flood_at_rate`] sends, and how.
pub struct PacedFlood<'a> {
    pub identity: Keypair,
    pub topic: &'a str,
    pub targets: &'a [Multiaddr],
    /// Messages per second.
    pub rate: u32,
    pub duration: Duration,
    /// The `n`th message (distinct for each `n`, so that gossipsub's
    /// duplicate cache does not drop it before the node judges it).
    pub message: &'a mut (dyn FnMut(u64) -> Vec<u8> + Send),
    /// Told once, when the first message is sent.
    pub started: std::sync::mpsc::SyncSender<std::time::Instant>,
}

/// Sends `rate` messages a second for `duration`, in batches every 10 ms
/// (the swarm runs between them), then lingers 2 s. Blocking.
pub fn flood_at_rate(flood: PacedFlood<'_>) -> Result<FloodReport, Error> {
    const TICK: Duration = Duration::from_millis(10);
    runtime()?.block_on(async {
        let peer_id = flood.identity.public().to_peer_id().to_string();
        let topic = IdentTopic::new(flood.topic);
        let deadline = Duration::from_secs(30);
        // Every target: the graylist time is counted from the first message.
        let wanted = flood.targets.len();
        let mut swarm = join(flood.identity, &topic, flood.targets, wanted, deadline).await?;
        let mut report = FloodReport {
            peer_id,
            ..FloodReport::default()
        };
        let start = tokio::time::Instant::now();
        let _ = flood.started.try_send(start.into_std());
        let mut tick = tokio::time::interval(TICK);
        let mut n: u64 = 0;
        while start.elapsed() < flood.duration {
            tokio::select! {
                _ = tick.tick() => {
                    // As many as the rate allows by now: a late tick catches up.
                    let due = (start.elapsed().as_secs_f64() * f64::from(flood.rate)) as u64;
                    while n < due {
                        let m = (flood.message)(n);
                        n += 1;
                        match swarm.behaviour_mut().publish(topic.clone(), m) {
                            Ok(_) => report.sent += 1,
                            Err(e) => {
                                let why = format!("{e:?}");
                                let why = why.split(['(', ' ']).next().unwrap_or_default();
                                *report.refused.entry(why.to_owned()).or_default() += 1;
                            }
                        }
                    }
                }
                _ = swarm.select_next_some() => {}
            }
        }
        linger(&mut swarm, Duration::from_secs(2)).await;
        Ok(report)
    })
}
