//! A misbehaving member: a bare libp2p client that joins the federation's
//! topic and floods records every node must refuse. It runs no validation of
//! its own and publishes whatever it is given; the nodes' checks are what
//! stop it. Test-only by construction: it lives in the harness, not in the
//! node.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId};
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
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
    /// What the rogue did once cut off, if it redialed.
    pub redials: Option<RedialReport>,
}

fn rogue_swarm(identity: Keypair) -> Result<Swarm<gossipsub::Behaviour>, Error> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::None)
        .message_id_fn(|m| MessageId::new(&hash_envelope(&m.data).0))
        .max_transmit_size(2 * MAX_RECORD_BYTES)
        .build()
        .map_err(|e| Error::Rogue(e.to_string()))?;
    let behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)
        .map_err(|e| Error::Rogue(e.to_string()))?;
    tcp_swarm(identity, behaviour)
}

/// A swarm of `behaviour` over TCP with noise and yamux, as the nodes run,
/// whose idle connections stay open a minute: both rogues' transport.
fn tcp_swarm<B: NetworkBehaviour>(identity: Keypair, behaviour: B) -> Result<Swarm<B>, Error> {
    Ok(libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| Error::Rogue(e.to_string()))?
        .with_behaviour(|_| behaviour)
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

/// What a flooding rogue does once the targets cut it off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Redial {
    /// Reconnects under the same peer id.
    SamePeer,
    /// Reconnects under a fresh peer id each time (still signing with the
    /// same member key).
    FreshPeer,
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
    /// Once cut off by every target: reconnect in a loop, and how.
    pub redial: Option<Redial>,
}

/// What a redialing rogue achieved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RedialReport {
    /// Connection attempts after the first session (one per target each).
    pub attempts: usize,
    /// Attempts that got a connection the target then closed before
    /// accepting the rogue on the topic (a ban refuses it at connection).
    pub refused: usize,
    /// Sessions in which a target accepted the rogue on the topic again.
    pub rejoined: usize,
    /// Peer ids used, the first one included.
    pub peer_ids: usize,
    /// When every target had cut the rogue off the first time, from its
    /// first message.
    pub cut_off_after_ms: Option<u64>,
    /// From the first message to the end of the redial loop.
    pub loop_ms: u64,
}

/// How long a redial waits for a target to accept the rogue on the topic.
const REJOIN_WAIT: Duration = Duration::from_secs(5);
/// How long a redialing rogue waits, still flooding, for the targets to cut
/// it off after its flood's duration.
const LATE_CUT_OFF: Duration = Duration::from_secs(60);
/// How long the redial loop runs at least after the first cut-off.
pub const REDIAL_FOR: Duration = Duration::from_secs(10);
/// The pause between two redials: a tight loop, not a busy one.
const REDIAL_PAUSE: Duration = Duration::from_millis(50);

/// Publishes at `rate` from `from` until `until`, or until no target is
/// connected any more if `until_cut_off`; `n` numbers the messages.
async fn send_paced(
    swarm: &mut Swarm<gossipsub::Behaviour>,
    flood: &mut PacedFlood<'_>,
    topic: &IdentTopic,
    until: tokio::time::Instant,
    until_cut_off: bool,
    n: &mut u64,
    report: &mut FloodReport,
) {
    const TICK: Duration = Duration::from_millis(10);
    let (from, first) = (tokio::time::Instant::now(), *n);
    let mut tick = tokio::time::interval(TICK);
    while tokio::time::Instant::now() < until {
        tokio::select! {
            _ = tick.tick() => {
                // As many as the rate allows by now: a late tick catches up,
                // by at most five ticks' worth, so that the swarm still runs
                // (and sees the targets close) when signing is the bound.
                let due = first + (from.elapsed().as_secs_f64() * f64::from(flood.rate)) as u64;
                let most = *n + u64::from(flood.rate / 20).max(1);
                while *n < due.min(most) {
                    let m = (flood.message)(*n);
                    *n += 1;
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
            event = swarm.select_next_some() => {
                if until_cut_off
                    && matches!(event, SwarmEvent::ConnectionClosed { .. })
                    && swarm.connected_peers().next().is_none()
                {
                    return;
                }
            }
        }
    }
}

/// Dials `targets` once as `identity`: the swarm if one accepted the rogue
/// on the topic, `None` if every connection failed or closed first (or
/// after [`REJOIN_WAIT`]); counts what happened into `report`.
async fn rejoin(
    identity: Keypair,
    topic: &IdentTopic,
    targets: &[Multiaddr],
    report: &mut RedialReport,
) -> Result<Option<Swarm<gossipsub::Behaviour>>, Error> {
    let mut swarm = rogue_swarm(identity)?;
    swarm
        .behaviour_mut()
        .subscribe(topic)
        .map_err(|e| Error::Rogue(e.to_string()))?;
    let mut pending = 0;
    for t in targets {
        report.attempts += 1;
        if swarm.dial(t.clone()).is_ok() {
            pending += 1;
        }
    }
    let outcome = tokio::time::timeout(REJOIN_WAIT, async {
        while pending > 0 {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(gossipsub::Event::Subscribed { topic: t, .. })
                    if t == topic.hash() =>
                {
                    return true;
                }
                SwarmEvent::ConnectionClosed { .. } => {
                    report.refused += 1;
                    pending -= 1;
                }
                SwarmEvent::OutgoingConnectionError { .. } => pending -= 1,
                _ => {}
            }
        }
        false
    })
    .await;
    Ok(match outcome {
        Ok(true) => {
            report.rejoined += 1;
            Some(swarm)
        }
        _ => None,
    })
}

/// Sends `rate` messages a second for `duration`, in batches every 10 ms
/// (the swarm runs between them), then lingers 2 s. With `redial`, it
/// floods until every target has cut it off (up to [`LATE_CUT_OFF`] past
/// `duration`), then reconnects in a loop (a pause of [`REDIAL_PAUSE`]
/// between attempts), flooding again whenever one accepts it, until
/// `duration` or [`REDIAL_FOR`] after the cut-off, whichever is later.
/// Blocking.
pub fn flood_at_rate(mut flood: PacedFlood<'_>) -> Result<FloodReport, Error> {
    runtime()?.block_on(async {
        let identity = flood.identity.clone();
        let peer_id = identity.public().to_peer_id().to_string();
        let topic = IdentTopic::new(flood.topic);
        let deadline = Duration::from_secs(30);
        // Every target: the graylist time is counted from the first message.
        let wanted = flood.targets.len();
        let mut swarm = join(identity.clone(), &topic, flood.targets, wanted, deadline).await?;
        let mut report = FloodReport {
            peer_id,
            ..FloodReport::default()
        };
        let start = tokio::time::Instant::now();
        let until = start + flood.duration;
        let _ = flood.started.try_send(start.into_std());
        let mut n: u64 = 0;
        let mut redials = RedialReport {
            peer_ids: 1,
            ..RedialReport::default()
        };
        // With redial, the first session lasts until the targets cut the
        // rogue off (a loaded target may judge its records late), then the
        // loop runs at least `REDIAL_FOR` more.
        let mut end = until;
        let first_until = match flood.redial {
            Some(_) => until + LATE_CUT_OFF,
            None => until,
        };
        let mut session_until = first_until;
        loop {
            let cut_off = flood.redial.is_some();
            send_paced(
                &mut swarm,
                &mut flood,
                &topic,
                session_until,
                cut_off,
                &mut n,
                &mut report,
            )
            .await;
            let Some(mode) = flood.redial else { break };
            if redials.cut_off_after_ms.is_none() {
                redials.cut_off_after_ms = Some(start.elapsed().as_millis() as u64);
                end = end.max(tokio::time::Instant::now() + REDIAL_FOR);
            }
            session_until = end;
            // Cut off: redial until a target accepts us again, or the end.
            let rejoined = loop {
                if tokio::time::Instant::now() >= end {
                    break None;
                }
                let next = match mode {
                    Redial::SamePeer => identity.clone(),
                    Redial::FreshPeer => {
                        redials.peer_ids += 1;
                        Keypair::generate_ed25519()
                    }
                };
                if let Some(s) = rejoin(next, &topic, flood.targets, &mut redials).await? {
                    break Some(s);
                }
                tokio::time::sleep(REDIAL_PAUSE).await;
            };
            match rejoined {
                Some(s) => swarm = s,
                None => break,
            }
        }
        redials.loop_ms = start.elapsed().as_millis() as u64;
        if flood.redial.is_some() {
            report.redials = Some(redials);
        }
        linger(&mut swarm, Duration::from_secs(2)).await;
        Ok(report)
    })
}
