//! The CBOR layout of queries and answers, written by hand so that ranges,
//! summaries and entries sit flat in their query or answer instead of each
//! in an array of its own (PROTOCOL.md, "Messages"):
//!
//! ```text
//! query  = [0, bits, prefix, count, tag]      fingerprint
//!        / [1, bits, prefix, entries]         ids
//!        / [2, bits, prefix, tags]            want
//!        / [3, bits, prefix, after / null]    fetch
//! answer = 0                                  equal (a bare integer)
//!        / [1, count, tag, count, tag, ...]   split
//!        / [2, entries]                       ids
//!        / [3, tags, tags]                    diff
//!        / [4, more, last / null]             fetched
//! entries = [key, rank, key, rank, ...]       key = slot tag || item id
//! tags    = bstr                              8-byte slot tags end to end
//! ```

use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::{ByteBuf, Bytes};

use super::{Answer, Entry, Query, SlotTag, Summary, SyncKey, SyncRange};
use crate::model::FixedBytes;

const FINGERPRINT: u8 = 0;
const IDS: u8 = 1;
const WANT: u8 = 2;
const FETCH: u8 = 3;

const EQUAL: u8 = 0;
const SPLIT: u8 = 1;
const LISTED: u8 = 2;
const DIFF: u8 = 3;
const FETCHED: u8 = 4;

/// A list of entries as one flat array `[key, rank, key, rank, ...]`.
struct EntriesOut<'a>(&'a [Entry]);

impl Serialize for EntriesOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(2 * self.0.len()))?;
        for entry in self.0 {
            seq.serialize_element(&entry.key())?;
            seq.serialize_element(&entry.rank)?;
        }
        seq.end()
    }
}

struct EntriesIn(Vec<Entry>);

impl<'de> Deserialize<'de> for EntriesIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = EntriesIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of (16-byte key, rank) pairs")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EntriesIn, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = seq.next_element::<FixedBytes<16>>()? {
                    let rank = required(&mut seq, "an entry's rank")?;
                    entries.push(Entry::from_key(key, rank));
                }
                Ok(EntriesIn(entries))
            }
        }
        deserializer.deserialize_seq(EntriesVisitor)
    }
}

/// A list of slot tags as one byte string, the tags end to end.
struct TagsOut<'a>(&'a [SlotTag]);

impl Serialize for TagsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = self.0.iter().flat_map(|tag| tag.0).collect();
        serializer.serialize_bytes(&bytes)
    }
}

struct TagsIn(Vec<SlotTag>);

impl<'de> Deserialize<'de> for TagsIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagsVisitor;
        impl Visitor<'_> for TagsVisitor {
            type Value = TagsIn;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string of 8-byte slot tags")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<TagsIn, E> {
                if !v.len().is_multiple_of(8) {
                    return Err(E::invalid_length(v.len(), &self));
                }
                Ok(TagsIn(
                    v.chunks_exact(8)
                        .map(|tag| FixedBytes(tag.try_into().expect("8 bytes")))
                        .collect(),
                ))
            }
        }
        deserializer.deserialize_bytes(TagsVisitor)
    }
}

/// The next item of an array that must have one.
fn required<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    what: &str,
) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::custom(format!("{what} is missing")))
}

/// Refuses items after the last one a variant has.
fn end<'de, A: SeqAccess<'de>>(seq: &mut A, what: &str) -> Result<(), A::Error> {
    match seq.next_element::<IgnoredAny>()? {
        Some(_) => Err(de::Error::custom(format!("{what} has too many items"))),
        None => Ok(()),
    }
}

fn range_parts(range: &SyncRange) -> (u16, &[u8]) {
    let used = usize::from(range.bits).div_ceil(8);
    (range.bits, &range.prefix.0[..used])
}

fn read_range<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<SyncRange, A::Error> {
    let bits: u16 = required(seq, "a range's bits")?;
    let prefix: ByteBuf = required(seq, "a range's prefix")?;
    SyncRange::try_from((bits, prefix)).map_err(de::Error::custom)
}

impl Serialize for Query {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (bits, prefix) = range_parts(self.range());
        let len = match self {
            Query::Fingerprint(..) => 5,
            _ => 4,
        };
        let mut seq = serializer.serialize_seq(Some(len))?;
        let variant = match self {
            Query::Fingerprint(..) => FINGERPRINT,
            Query::Ids(..) => IDS,
            Query::Want(..) => WANT,
            Query::Fetch(..) => FETCH,
        };
        seq.serialize_element(&variant)?;
        seq.serialize_element(&bits)?;
        seq.serialize_element(Bytes::new(prefix))?;
        match self {
            Query::Fingerprint(_, summary) => {
                seq.serialize_element(&summary.count)?;
                seq.serialize_element(&summary.tag)?;
            }
            Query::Ids(_, entries) => seq.serialize_element(&EntriesOut(entries))?,
            Query::Want(_, tags) => seq.serialize_element(&TagsOut(tags))?,
            Query::Fetch(_, after) => seq.serialize_element(after)?,
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Query {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QueryVisitor;
        impl<'de> Visitor<'de> for QueryVisitor {
            type Value = Query;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sync query")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Query, A::Error> {
                let variant: u8 = required(&mut seq, "a query's variant")?;
                let range = read_range(&mut seq)?;
                let query = match variant {
                    FINGERPRINT => Query::Fingerprint(
                        range,
                        Summary {
                            count: required(&mut seq, "a fingerprint's count")?,
                            tag: required(&mut seq, "a fingerprint's tag")?,
                        },
                    ),
                    IDS => Query::Ids(range, required::<EntriesIn, _>(&mut seq, "ids")?.0),
                    WANT => Query::Want(range, required::<TagsIn, _>(&mut seq, "tags")?.0),
                    FETCH => {
                        Query::Fetch(range, required::<Option<SyncKey>, _>(&mut seq, "after")?)
                    }
                    other => {
                        return Err(de::Error::custom(format!("unknown query variant {other}")))
                    }
                };
                end(&mut seq, "a query")?;
                Ok(query)
            }
        }
        deserializer.deserialize_seq(QueryVisitor)
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = match self {
            Answer::Equal => return serializer.serialize_u8(EQUAL),
            Answer::Split(children) => 1 + 2 * children.len(),
            Answer::Ids(_) => 2,
            Answer::Diff(..) | Answer::Fetched(..) => 3,
        };
        let mut seq = serializer.serialize_seq(Some(len))?;
        match self {
            Answer::Equal => unreachable!("a bare integer"),
            Answer::Split(children) => {
                seq.serialize_element(&SPLIT)?;
                for summary in children {
                    seq.serialize_element(&summary.count)?;
                    seq.serialize_element(&summary.tag)?;
                }
            }
            Answer::Ids(entries) => {
                seq.serialize_element(&LISTED)?;
                seq.serialize_element(&EntriesOut(entries))?;
            }
            Answer::Diff(want, unsent) => {
                seq.serialize_element(&DIFF)?;
                seq.serialize_element(&TagsOut(want))?;
                seq.serialize_element(&TagsOut(unsent))?;
            }
            Answer::Fetched(more, last) => {
                seq.serialize_element(&FETCHED)?;
                seq.serialize_element(more)?;
                seq.serialize_element(last)?;
            }
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Answer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnswerVisitor;
        impl<'de> Visitor<'de> for AnswerVisitor {
            type Value = Answer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sync answer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Answer, E> {
                match v {
                    0 => Ok(Answer::Equal),
                    _ => Err(E::custom(format!("a bare {v} is no answer"))),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Answer, A::Error> {
                let variant: u8 = required(&mut seq, "an answer's variant")?;
                let answer = match variant {
                    SPLIT => {
                        let mut children = Vec::new();
                        while let Some(count) = seq.next_element()? {
                            let tag = required(&mut seq, "a child's tag")?;
                            children.push(Summary { count, tag });
                        }
                        Answer::Split(children)
                    }
                    LISTED => Answer::Ids(required::<EntriesIn, _>(&mut seq, "ids")?.0),
                    DIFF => Answer::Diff(
                        required::<TagsIn, _>(&mut seq, "want")?.0,
                        required::<TagsIn, _>(&mut seq, "unsent")?.0,
                    ),
                    FETCHED => {
                        Answer::Fetched(required(&mut seq, "more")?, required(&mut seq, "last")?)
                    }
                    other => {
                        return Err(de::Error::custom(format!("unknown answer variant {other}")))
                    }
                };
                end(&mut seq, "an answer")?;
                Ok(answer)
            }
        }
        deserializer.deserialize_any(AnswerVisitor)
    }
}
