//! Enforces the gossipsub RPC frame limits before gossipsub reads a frame.
//!
//! libp2p-gossipsub (0.50) treats any frame over its limits (total length,
//! publish messages per RPC, control bytes) as a read error on the inbound
//! stream: its handler logs at debug level, closes its half of the stream and
//! drops it, while the peer's outbound stream stays open. yamux then discards
//! what the peer keeps sending on it without a reset, so the peer is never
//! told: every later message from it is lost, with no penalty, no metric and
//! the connection still up. Worse, its length check applies to the bytes
//! buffered so far, which may include up to 8 KiB of the next frame, so a
//! frame just under the limit can trip it too.
//!
//! The guard sits between yamux and the rest of the swarm. On each inbound
//! substream it follows the multistream-select proposals; once the peer's
//! data starts on a `/meshsub/` stream it reads the length prefix of every
//! frame and checks each frame against the limits ([`FrameLimits`]) before
//! passing on its bytes. A frame that breaks one is counted in
//! `mutua_network_gossip_frames_refused_total`, ends the stream with an
//! error and closes the connection (the muxer fails), and is reported to the
//! network actor, which logs it once per peer and lowers the peer's score.
//! gossipsub's own limit is set above ours by the read slack, so it never
//! fires first.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use futures::{AsyncRead, AsyncWrite};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use libp2p::PeerId;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::mpsc;

use crate::metrics::FrameRefusedLabel;

/// Breaches waiting for the actor; when full, the breach is still counted and
/// the connection still closed, only the penalty and the log line are skipped.
pub const BREACH_QUEUE_CAP: usize = 64;
/// The longest multistream-select message (a protocol name) we follow.
const MAX_NEGOTIATION_MESSAGE: usize = 1024;
/// The protocol ids of gossipsub (1.0, 1.1, 1.2, ...).
const GOSSIPSUB_PREFIX: &[u8] = b"/meshsub/";
/// Protobuf field numbers of an RPC: subscriptions, publish, control.
const RPC_SUBSCRIPTIONS: u64 = 1;
const RPC_PUBLISH: u64 = 2;
const RPC_CONTROL: u64 = 3;

/// What one gossipsub RPC frame may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// The most bytes in a frame (after its length prefix).
    pub max_frame_bytes: usize,
    /// The most published messages in a frame.
    pub max_messages: usize,
    /// The most bytes of subscriptions and control messages in a frame.
    pub max_control_bytes: usize,
}

/// How a frame broke the limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breach {
    /// The frame announced this many bytes.
    TooLarge(usize),
    /// The frame carried this many published messages.
    TooManyMessages(usize),
    /// The frame carried this many bytes of control messages and subscriptions.
    ControlTooLarge(usize),
    /// The frame is not a protobuf RPC (gossipsub would fail to decode it).
    Malformed,
}

impl Breach {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Breach::TooLarge(_) => "too_large",
            Breach::TooManyMessages(_) => "too_many_messages",
            Breach::ControlTooLarge(_) => "control_too_large",
            Breach::Malformed => "malformed",
        }
    }
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Breach::TooLarge(n) => write!(f, "a gossipsub frame of {n} bytes"),
            Breach::TooManyMessages(n) => write!(f, "a gossipsub frame of {n} messages"),
            Breach::ControlTooLarge(n) => {
                write!(f, "a gossipsub frame with {n} bytes of control messages")
            }
            Breach::Malformed => write!(f, "a gossipsub frame that is not an RPC"),
        }
    }
}

/// A breach by a peer, for the network actor.
#[derive(Clone, Copy, Debug)]
pub struct FrameBreach {
    pub peer: PeerId,
    pub breach: Breach,
}

/// What every guarded connection shares: where breaches go.
#[derive(Clone, Debug)]
pub struct BreachReporter {
    limits: FrameLimits,
    breaches: mpsc::Sender<FrameBreach>,
    refused: Family<FrameRefusedLabel, Counter>,
}

impl BreachReporter {
    pub fn new(
        limits: FrameLimits,
        refused: Family<FrameRefusedLabel, Counter>,
    ) -> (BreachReporter, mpsc::Receiver<FrameBreach>) {
        let (breaches, receiver) = mpsc::channel(BREACH_QUEUE_CAP);
        let reporter = BreachReporter {
            limits,
            breaches,
            refused,
        };
        (reporter, receiver)
    }

    fn report(&self, peer: PeerId, breach: Breach) {
        self.refused
            .get_or_create(&FrameRefusedLabel {
                reason: breach.reason(),
            })
            .inc();
        let _ = self.breaches.try_send(FrameBreach { peer, breach });
    }
}

/// Set by a substream that saw a breach: the muxer then fails, which closes
/// the connection even if the actor never hears of it.
#[derive(Debug, Default)]
struct Tripwire {
    tripped: AtomicBool,
    muxer: AtomicWaker,
}

impl Tripwire {
    fn trip(&self) {
        self.tripped.store(true, Ordering::Release);
        self.muxer.wake();
    }
}

/// A stream muxer whose inbound substreams are checked by a [`FrameInspector`].
pub struct GuardedMuxer<M> {
    inner: M,
    peer: PeerId,
    reporter: BreachReporter,
    tripwire: Arc<Tripwire>,
}

impl<M> GuardedMuxer<M> {
    pub fn new(inner: M, peer: PeerId, reporter: BreachReporter) -> Self {
        GuardedMuxer {
            inner,
            peer,
            reporter,
            tripwire: Arc::default(),
        }
    }
}

impl<M> StreamMuxer for GuardedMuxer<M>
where
    M: StreamMuxer + Unpin,
    M::Substream: Unpin,
    M::Error: Send + Sync + 'static,
{
    type Substream = GuardedStream<M::Substream>;
    type Error = io::Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = &mut *self;
        Pin::new(&mut this.inner)
            .poll_inbound(cx)
            .map_ok(|inner| {
                let guard = Guard {
                    inspector: FrameInspector::new(this.reporter.limits),
                    peer: this.peer,
                    reporter: this.reporter.clone(),
                    tripwire: this.tripwire.clone(),
                };
                GuardedStream {
                    inner,
                    guard: Some(guard),
                }
            })
            .map_err(io::Error::other)
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        // We only ever write gossipsub frames on our outbound streams.
        Pin::new(&mut self.inner)
            .poll_outbound(cx)
            .map_ok(|inner| GuardedStream { inner, guard: None })
            .map_err(io::Error::other)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner)
            .poll_close(cx)
            .map_err(io::Error::other)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        self.tripwire.muxer.register(cx.waker());
        if self.tripwire.tripped.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the peer sent a gossipsub frame over the limits",
            )));
        }
        Pin::new(&mut self.inner).poll(cx).map_err(io::Error::other)
    }
}

/// What checks an inbound substream, and where a breach goes.
struct Guard {
    inspector: FrameInspector,
    peer: PeerId,
    reporter: BreachReporter,
    tripwire: Arc<Tripwire>,
}

/// A substream whose reads pass through a [`FrameInspector`] (inbound ones).
pub struct GuardedStream<S> {
    inner: S,
    guard: Option<Guard>,
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(breach) = this.guard.as_ref().and_then(|g| g.inspector.breached) {
            return Poll::Ready(Err(breach_error(breach)));
        }
        let read = futures::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Some(guard) = &mut this.guard {
            if let Err(breach) = guard.inspector.feed(&buf[..read]) {
                guard.reporter.report(guard.peer, breach);
                guard.tripwire.trip();
                return Poll::Ready(Err(breach_error(breach)));
            }
        }
        Poll::Ready(Ok(read))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

fn breach_error(breach: Breach) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, breach.to_string())
}

/// Where the inspector is in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Reading multistream-select proposals; whether the last one was gossipsub.
    Negotiating { gossipsub: bool },
    /// In gossipsub frames.
    Gossipsub,
    /// Another protocol: nothing more to check.
    Other,
}

/// Follows one inbound substream's bytes: both multistream-select messages
/// and gossipsub frames are unsigned-varint length prefixed.
#[derive(Debug)]
pub struct FrameInspector {
    limits: FrameLimits,
    mode: Mode,
    /// The length prefix read so far.
    prefix: Vec<u8>,
    /// The announced length of the message being read, once its prefix is complete.
    length: Option<usize>,
    /// The message read so far (at most the frame limit).
    body: Vec<u8>,
    breached: Option<Breach>,
}

impl FrameInspector {
    pub fn new(limits: FrameLimits) -> Self {
        FrameInspector {
            limits,
            mode: Mode::Negotiating { gossipsub: false },
            prefix: Vec::new(),
            length: None,
            body: Vec::new(),
            breached: None,
        }
    }

    /// Takes the next bytes the peer sent.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Breach> {
        if let Some(breach) = self.breached {
            return Err(breach);
        }
        let result = self.feed_inner(&mut data);
        if let Err(breach) = result {
            self.breached = Some(breach);
        }
        result
    }

    fn feed_inner(&mut self, data: &mut &[u8]) -> Result<(), Breach> {
        while !data.is_empty() && self.mode != Mode::Other {
            let Some(length) = self.length else {
                let (&byte, rest) = data.split_first().expect("not empty");
                *data = rest;
                self.prefix.push(byte);
                let length = if byte & 0x80 == 0 {
                    decode_varint(&self.prefix)
                } else if self.prefix.len() >= 10 {
                    None
                } else {
                    continue;
                };
                self.prefix.clear();
                match length {
                    Some(length) => self.start_message(length)?,
                    // Not a length prefix: on a stream negotiated for another
                    // protocol, its own data (ping's is 32 random bytes, with
                    // no prefix: 1 in ~500 starts like an overlong varint);
                    // that peer was once penalised and left out of the mesh.
                    None if self.mode == (Mode::Negotiating { gossipsub: false }) => {
                        self.mode = Mode::Other;
                    }
                    None => return Err(Breach::Malformed),
                }
                continue;
            };
            let take = (length - self.body.len()).min(data.len());
            self.body.extend_from_slice(&data[..take]);
            *data = &data[take..];
            if self.body.len() == length {
                self.length = None;
                let body = std::mem::take(&mut self.body);
                self.end_message(&body)?;
            }
        }
        Ok(())
    }

    /// A length prefix was read: a negotiation message, or a frame.
    fn start_message(&mut self, length: usize) -> Result<(), Breach> {
        if let Mode::Negotiating { gossipsub } = self.mode {
            // Protocol names are short; anything longer is the first frame.
            if length == 0 || length > MAX_NEGOTIATION_MESSAGE {
                self.mode = if gossipsub {
                    Mode::Gossipsub
                } else {
                    Mode::Other
                };
            }
        }
        if self.mode == Mode::Gossipsub && length > self.limits.max_frame_bytes {
            return Err(Breach::TooLarge(length));
        }
        self.length = Some(length);
        if length == 0 {
            self.length = None;
            return self.end_message(&[]);
        }
        Ok(())
    }

    fn end_message(&mut self, body: &[u8]) -> Result<(), Breach> {
        if let Mode::Negotiating { gossipsub } = self.mode {
            // A proposal is a protocol name and a newline; a frame (protobuf)
            // never starts with '/' (field 5 of wire type 7 does not exist).
            if body.first() == Some(&b'/') && body.last() == Some(&b'\n') {
                if !body.starts_with(b"/multistream/") {
                    self.mode = Mode::Negotiating {
                        gossipsub: body.starts_with(GOSSIPSUB_PREFIX),
                    };
                }
                return Ok(());
            }
            if body == b"ls\n" {
                return Ok(());
            }
            self.mode = if gossipsub {
                Mode::Gossipsub
            } else {
                Mode::Other
            };
        }
        if self.mode == Mode::Gossipsub {
            check_frame(body, &self.limits)?;
        }
        Ok(())
    }
}

/// Checks a complete frame's contents as gossipsub will: the number of
/// published messages and the bytes of subscriptions and control messages.
fn check_frame(mut frame: &[u8], limits: &FrameLimits) -> Result<(), Breach> {
    let (mut messages, mut control) = (0usize, 0usize);
    while !frame.is_empty() {
        let field_start = frame.len();
        let key = take_varint(&mut frame)?;
        match key & 7 {
            0 => {
                take_varint(&mut frame)?;
            }
            1 => skip(&mut frame, 8)?,
            2 => {
                let length = take_varint(&mut frame)?;
                skip(
                    &mut frame,
                    usize::try_from(length).map_err(|_| Breach::Malformed)?,
                )?;
            }
            5 => skip(&mut frame, 4)?,
            _ => return Err(Breach::Malformed),
        }
        match key >> 3 {
            RPC_PUBLISH => {
                messages += 1;
                if messages > limits.max_messages {
                    return Err(Breach::TooManyMessages(messages));
                }
            }
            RPC_SUBSCRIPTIONS | RPC_CONTROL => {
                control += field_start - frame.len();
                if control > limits.max_control_bytes {
                    return Err(Breach::ControlTooLarge(control));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn take_varint(buf: &mut &[u8]) -> Result<u64, Breach> {
    let end = buf
        .iter()
        .position(|b| b & 0x80 == 0)
        .filter(|&end| end < 10)
        .ok_or(Breach::Malformed)?;
    let value = decode_varint(&buf[..=end]).ok_or(Breach::Malformed)?;
    *buf = &buf[end + 1..];
    Ok(value as u64)
}

fn skip(buf: &mut &[u8], count: usize) -> Result<(), Breach> {
    if buf.len() < count {
        return Err(Breach::Malformed);
    }
    *buf = &buf[count..];
    Ok(())
}

/// An unsigned LEB128 varint, all of whose bytes are given.
fn decode_varint(bytes: &[u8]) -> Option<usize> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().enumerate() {
        let bits = u64::from(byte & 0x7f);
        value |= bits
            .checked_shl(7 * i as u32)
            .filter(|v| v >> (7 * i) == bits)?;
    }
    usize::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: FrameLimits = FrameLimits {
        max_frame_bytes: 1000,
        max_messages: 2,
        max_control_bytes: 50,
    };

    fn varint(n: usize) -> Vec<u8> {
        unsigned_varint::encode::usize(n, &mut unsigned_varint::encode::usize_buffer()).to_vec()
    }

    fn prefixed(body: &[u8]) -> Vec<u8> {
        [varint(body.len()), body.to_vec()].concat()
    }

    fn field(number: u64, body: &[u8]) -> Vec<u8> {
        [
            varint((number << 3 | 2) as usize),
            varint(body.len()),
            body.to_vec(),
        ]
        .concat()
    }

    fn negotiation(protocol: &str) -> Vec<u8> {
        [
            prefixed(b"/multistream/1.0.0\n"),
            prefixed(format!("{protocol}\n").as_bytes()),
        ]
        .concat()
    }

    /// Feeds `bytes` one byte at a time (every split point), then whole.
    fn verdicts(bytes: &[u8]) -> (Result<(), Breach>, Result<(), Breach>) {
        let mut bytewise = FrameInspector::new(LIMITS);
        let by_byte = bytes.iter().try_for_each(|b| bytewise.feed(&[*b]));
        let whole = FrameInspector::new(LIMITS).feed(bytes);
        (by_byte, whole)
    }

    #[test]
    fn frames_within_the_limits_pass_on_gossipsub_streams() {
        let frame = [field(2, &[7; 400]), field(2, &[8; 400]), field(3, &[0; 40])].concat();
        let stream = [
            negotiation("/meshsub/1.1.0"),
            prefixed(&frame),
            prefixed(&[]),
        ]
        .concat();
        assert_eq!(verdicts(&stream), (Ok(()), Ok(())));
    }

    #[test]
    fn a_frame_over_a_limit_is_refused_however_the_bytes_arrive() {
        let cases = [
            (field(2, &[7; 1000]), Breach::TooLarge(1003)),
            (
                [field(2, &[1]), field(2, &[2]), field(2, &[3])].concat(),
                Breach::TooManyMessages(3),
            ),
            (
                [field(1, &[0; 30]), field(3, &[0; 30])].concat(),
                Breach::ControlTooLarge(64),
            ),
            (vec![0x2f, 1, 2], Breach::Malformed),
        ];
        for (frame, breach) in cases {
            let stream = [
                negotiation("/meshsub/1.2.0"),
                prefixed(&[]),
                prefixed(&frame),
            ]
            .concat();
            assert_eq!(verdicts(&stream), (Err(breach), Err(breach)), "{breach:?}");
        }
    }

    #[test]
    fn the_last_proposal_decides_and_other_protocols_are_not_inspected() {
        let big = [0u8; 5000];
        let other = [negotiation("/ipfs/kad/1.0.0"), prefixed(&big)].concat();
        assert_eq!(verdicts(&other), (Ok(()), Ok(())));
        // Refused with "na", then gossipsub proposed: checked.
        let retried = [
            negotiation("/mutua/sync/1"),
            prefixed(b"/meshsub/1.1.0\n"),
            prefixed(&field(2, &big)),
        ]
        .concat();
        assert_eq!(
            verdicts(&retried),
            (Err(Breach::TooLarge(5003)), Err(Breach::TooLarge(5003)))
        );
    }

    #[test]
    fn another_protocols_unprefixed_data_is_never_a_breach() {
        // Ping's payload is 32 random bytes without a length prefix: ten
        // bytes with the high bit set (or nine and a large tenth) are no
        // varint. It was once refused as a malformed gossipsub frame, and
        // the peer penalised for an hour.
        for payload in [
            [0xff; 32],
            [[0x80; 9].as_slice(), &[0x7f; 23]]
                .concat()
                .try_into()
                .unwrap(),
        ] {
            let ping = [negotiation("/ipfs/ping/1.0.0"), payload.to_vec()].concat();
            assert_eq!(verdicts(&ping), (Ok(()), Ok(())));
            // The same bytes as a gossipsub frame's prefix are a breach.
            let gossip = [negotiation("/meshsub/1.2.0"), payload.to_vec()].concat();
            assert_eq!(
                verdicts(&gossip),
                (Err(Breach::Malformed), Err(Breach::Malformed))
            );
        }
    }
}
