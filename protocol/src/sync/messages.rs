//! The two messages of a session, [`Request`] and [`Response`], with the
//! queries and answers they hold, the limits a peer's message must keep
//! ([`MessageError`]) and the one place they meet serde_cbor (`encode`,
//! `decode`; the layout of queries and answers is in `wire`). Also the
//! packing of records into a message under its byte budget, which both
//! sides do: the responder for what it sends, the initiator for what it
//! pushes.
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use thiserror::Error;

use super::{
    item_id, slot_tag, Entry, SlotTag, Summary, SyncError, SyncKey, SyncRange, SyncSource, FANOUT,
    MAX_IDS, MAX_MESSAGE_BYTES, MAX_QUERIES, MAX_RECORDS_PER_MESSAGE, RECORDS_ARRAY_SLACK,
    RECORD_HEADER_BYTES,
};
use crate::codec::MAX_RECORD_BYTES;
use crate::model::RecordHash;

/// One question of a request about one range.
///
/// Encoded as a CBOR array: the variant's index, the range's bits and
/// prefix, then the variant's other fields (`wire`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// `[0, bits, prefix, count, tag]`: the initiator's fingerprint of the
    /// range; answered by `Equal`, `Split` or `Ids`.
    Fingerprint(SyncRange, Summary),
    /// `[1, bits, prefix, [key, rank, ...]]`: every item the initiator holds
    /// in the range ([`Entry`]); answered by `Diff`, by `Equal` when the
    /// lists show no difference, or by `Split` when the responder holds more
    /// than [`MAX_IDS`] items there.
    Ids(SyncRange, Vec<Entry>),
    /// `[2, bits, prefix, tags]`: the records of the responder's items with
    /// these slot tags in the range (`tags` is one byte string, the 8-byte
    /// tags end to end); answered by `Diff` with no wants. Tags rather than
    /// entries: the decision of who sends was made on the lists already.
    Want(SyncRange, Vec<SlotTag>),
    /// `[3, bits, prefix, after: bstr .size 32 / null]`: every record of the
    /// range whose key is greater than `after`; answered by `Fetched`.
    Fetch(SyncRange, Option<SyncKey>),
}

impl Query {
    pub fn range(&self) -> &SyncRange {
        match self {
            Query::Fingerprint(range, _)
            | Query::Ids(range, _)
            | Query::Want(range, _)
            | Query::Fetch(range, _) => range,
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            Query::Fingerprint(..) => "fingerprint",
            Query::Ids(..) => "ids",
            Query::Want(..) => "want",
            Query::Fetch(..) => "fetch",
        }
    }
}

/// The answer to the query at the same position. Encoded as a CBOR array
/// led by the variant's index, except `Equal`, the bare integer 0 (`wire`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `0`: to a `Fingerprint`, the fingerprints are equal; to an `Ids`,
    /// the two lists show no difference (whereas the fingerprints differed:
    /// see [`ItemId`](super::ItemId); the initiator then exchanges the whole range).
    Equal,
    /// `[1, count, tag, count, tag, ...]`: the responder's fingerprints of
    /// the range's [`FANOUT`] children, in key order.
    Split(Vec<Summary>),
    /// `[2, [key, rank, ...]]`: every item the responder holds in the range
    /// ([`Entry`]).
    Ids(Vec<Entry>),
    /// `[3, want, unsent]`, two tag strings: `want` lists the slot tags of
    /// the query's entries the responder should get (`to_send`: the
    /// initiator pushes their records); `unsent` the slot tags of the
    /// responder's items the initiator should get whose records did not fit
    /// in this response (the initiator asks again with `Want`). The others
    /// are in the response's records.
    Diff(Vec<SlotTag>, Vec<SlotTag>),
    /// `[4, more, last]`: the response's records continue the range in key
    /// order; `last` is the key of the last one sent (null if none), `more`
    /// says whether records remain after it.
    Fetched(bool, Option<SyncKey>),
}

impl Answer {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Answer::Equal => "equal",
            Answer::Split(_) => "split",
            Answer::Ids(_) => "ids",
            Answer::Diff(..) => "diff",
            Answer::Fetched(..) => "fetched",
        }
    }
}

/// Initiator to responder. Encoded as the CBOR map `{0: [query...], 1: [bstr...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub queries: Vec<Query>,
    /// Records the responder lacks or holds another version of: envelopes
    /// to verify and apply like any received record.
    pub push: Vec<ByteBuf>,
}

/// Responder to initiator. Encoded as the CBOR map `{0: [answer...], 1: [bstr...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// One answer per query of the request, in order.
    pub answers: Vec<Answer>,
    /// The records the answers announce, in answer order.
    pub records: Vec<ByteBuf>,
}

/// Why a sync message from a peer is refused. Every one means the peer is
/// broken or hostile: the node drops the session and cuts the peer off.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The message is larger than a sync message may be.
    #[error("sync message is {size} bytes, over the limit of {max}")]
    TooLarge { size: usize, max: usize },
    /// The bytes are not a sync message.
    #[error("malformed sync message: {reason}")]
    Malformed { reason: String },
    /// A list in the message is longer than the protocol allows.
    #[error("sync message has {count} {field}, over the limit of {max}")]
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    /// A record in the message is larger than any valid record.
    #[error("a record in a sync message is {size} bytes, over the limit of {max}")]
    RecordTooLarge { size: usize, max: usize },
    /// A split lists the wrong number of children.
    #[error("a split answer has {count} children instead of {FANOUT}")]
    BadSplit { count: usize },
    /// A fetch cursor lies outside the range it is about.
    #[error("a fetch cursor lies outside its range {range:?}")]
    CursorOutsideRange { range: SyncRange },
    /// The response has not one answer per query.
    #[error("the response has {got} answers to {expected} queries")]
    AnswerCount { expected: usize, got: usize },
    /// An answer that cannot answer the query at its position.
    #[error("answer {index} ({answer}) does not answer a {query} query")]
    UnexpectedAnswer {
        index: usize,
        query: &'static str,
        answer: &'static str,
    },
    /// A fetch answer that goes backwards, which would loop forever.
    #[error("answer {index} moves a fetch cursor backwards")]
    CursorBackwards { index: usize },
}

fn check_count(field: &'static str, count: usize, max: usize) -> Result<(), MessageError> {
    if count > max {
        return Err(MessageError::TooMany { field, count, max });
    }
    Ok(())
}

fn check_records(records: &[ByteBuf]) -> Result<(), MessageError> {
    check_count("records", records.len(), MAX_RECORDS_PER_MESSAGE)?;
    match records.iter().find(|r| r.len() > MAX_RECORD_BYTES) {
        Some(record) => Err(MessageError::RecordTooLarge {
            size: record.len(),
            max: MAX_RECORD_BYTES,
        }),
        None => Ok(()),
    }
}

impl Request {
    /// Checks every limit the protocol sets on a request.
    pub fn validate(&self) -> Result<(), MessageError> {
        check_message("queries", self.queries.len(), &self.push)?;
        self.queries.iter().try_for_each(Query::validate)
    }
}

impl Response {
    /// Checks every limit the protocol sets on a response on its own (that
    /// it answers its request is checked by the session).
    pub fn validate(&self) -> Result<(), MessageError> {
        check_message("answers", self.answers.len(), &self.records)?;
        self.answers.iter().try_for_each(Answer::validate)
    }
}

/// The limits of either message as a whole: how many queries or answers
/// (`field`) and its records.
fn check_message(
    field: &'static str,
    count: usize,
    records: &[ByteBuf],
) -> Result<(), MessageError> {
    check_count(field, count, MAX_QUERIES)?;
    check_records(records)
}

impl Query {
    fn validate(&self) -> Result<(), MessageError> {
        match self {
            Query::Fingerprint(..) => Ok(()),
            Query::Ids(_, entries) => check_count("ids", entries.len(), MAX_IDS),
            Query::Want(_, slots) => check_count("slots", slots.len(), MAX_IDS),
            Query::Fetch(range, after) => match after {
                Some(key) if !range.contains(key) => {
                    Err(MessageError::CursorOutsideRange { range: *range })
                }
                _ => Ok(()),
            },
        }
    }
}

impl Answer {
    fn validate(&self) -> Result<(), MessageError> {
        match self {
            Answer::Equal | Answer::Fetched(..) => Ok(()),
            Answer::Split(children) if children.len() != FANOUT => Err(MessageError::BadSplit {
                count: children.len(),
            }),
            Answer::Split(_) => Ok(()),
            Answer::Ids(entries) => check_count("ids", entries.len(), MAX_IDS),
            Answer::Diff(want, unsent) => {
                check_count("slots", want.len(), MAX_IDS)?;
                check_count("slots", unsent.len(), MAX_IDS)
            }
        }
    }
}

pub fn encode_request(request: &Request) -> Vec<u8> {
    encode(request)
}

pub fn encode_response(response: &Response) -> Vec<u8> {
    encode(response)
}

/// Decodes and validates a request from a peer.
pub fn decode_request(bytes: &[u8]) -> Result<Request, MessageError> {
    let request: Request = decode(bytes)?;
    request.validate()?;
    Ok(request)
}

/// Decodes and validates a response from a peer.
pub fn decode_response(bytes: &[u8]) -> Result<Response, MessageError> {
    let response: Response = decode(bytes)?;
    response.validate()?;
    Ok(response)
}

/// The one place sync messages meet serde_cbor: struct fields as integer
/// keys, enum variants as arrays led by their index.
pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut serializer = serde_cbor::Serializer::new(&mut out)
        .packed_format()
        .legacy_enums();
    value
        .serialize(&mut serializer)
        .expect("writing CBOR to a Vec cannot fail");
    out
}

/// The size check comes first, so decoding work and memory are bounded by
/// [`MAX_MESSAGE_BYTES`] whatever a peer claims inside the message.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, MessageError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge {
            size: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    serde_cbor::from_slice(bytes).map_err(|e| MessageError::Malformed {
        reason: e.to_string(),
    })
}

/// Room left for records in a message whose other content encodes to
/// `encoded_without_records` bytes.
pub(super) fn record_budget(encoded_without_records: usize) -> usize {
    MAX_MESSAGE_BYTES.saturating_sub(encoded_without_records + RECORDS_ARRAY_SLACK)
}

/// Adds `record` to `records` if it fits the byte budget and the count limit.
pub(super) fn try_add_record(
    records: &mut Vec<ByteBuf>,
    budget: &mut usize,
    record: Vec<u8>,
) -> bool {
    let cost = record.len() + RECORD_HEADER_BYTES;
    if records.len() >= MAX_RECORDS_PER_MESSAGE || cost > *budget {
        return false;
    }
    *budget -= cost;
    records.push(ByteBuf::from(record));
    true
}

/// The record stored under `key`, unless it is too large to be valid: such a
/// record never fits a message, and would be announced and asked for again
/// until the session ran out of rounds.
pub(super) fn sendable_record<S: SyncSource>(
    source: &S,
    key: &SyncKey,
) -> Result<Option<Vec<u8>>, SyncError<S::Error>> {
    let record = source.record(key).map_err(SyncError::Source)?;
    Ok(record.filter(|r| r.len() <= MAX_RECORD_BYTES))
}

/// The entries of `items`, in order, with their ranks read from `source`.
pub(super) fn entries_of<S: SyncSource>(
    source: &S,
    items: &[(SyncKey, RecordHash)],
) -> Result<Vec<Entry>, S::Error> {
    items
        .iter()
        .map(|(key, digest)| {
            Ok(Entry {
                slot: slot_tag(key),
                id: item_id(key, digest),
                rank: source.rank(key)?.code(),
            })
        })
        .collect()
}
