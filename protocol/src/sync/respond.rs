//! The responder: answers each [`Request`] from its replica alone and keeps
//! no state between requests, so a peer cannot make it hold memory across
//! rounds; all the session's state lives with the initiator.
use std::collections::HashSet;

use super::messages::{encode, entries_of, record_budget, sendable_record, try_add_record};
use super::{
    slot_tag, to_send, Answer, Query, Request, Response, SlotTag, SyncError, SyncKey, SyncRange,
    SyncSource, LEAF_ITEMS, MAX_IDS, MAX_PREFIX_BITS, MAX_RECORDS_PER_MESSAGE, WANT_SCAN_ITEMS,
};

/// Records a responder means to send with one answer.
enum Outgoing {
    None,
    /// Items the initiator should get; those that do not fit go to `unsent`.
    Items(Vec<(SlotTag, SyncKey)>),
    /// The next page of a fetch, and whether items remain after it.
    Page(Vec<SyncKey>, bool),
}

/// Answers a request from the responder's replica. Keeps no state: each
/// request stands alone. The node applies `request.push` (ordered with
/// [`order_for_apply`](super::order_for_apply)) like records received by gossip.
pub fn respond<S: SyncSource>(
    request: &Request,
    source: &S,
) -> Result<Response, SyncError<S::Error>> {
    request.validate()?;
    let mut answers = Vec::with_capacity(request.queries.len());
    let mut outgoing = Vec::with_capacity(request.queries.len());
    for query in &request.queries {
        let (answer, out) = answer_query(query, source).map_err(SyncError::Source)?;
        answers.push(answer);
        outgoing.push(out);
    }
    // Size the answers as if no record fitted (every candidate unsent, every
    // page unfinished): what remains is a budget records can never overrun.
    for (answer, out) in answers.iter_mut().zip(&outgoing) {
        match (answer, out) {
            (Answer::Diff(_, unsent), Outgoing::Items(items)) => {
                unsent.extend(items.iter().map(|(slot, _)| *slot))
            }
            (Answer::Fetched(more, last), Outgoing::Page(..)) => {
                *more = true;
                *last = Some(SyncKey([0xff; 32]));
            }
            _ => {}
        }
    }
    let mut response = Response {
        answers,
        records: Vec::new(),
    };
    let mut budget = record_budget(encode(&response).len());
    for (answer, out) in response.answers.iter_mut().zip(outgoing) {
        match (answer, out) {
            (Answer::Diff(_, unsent), Outgoing::Items(items)) => {
                unsent.clear();
                for (slot, key) in items {
                    let Some(record) = sendable_record(source, &key)? else {
                        continue;
                    };
                    if !try_add_record(&mut response.records, &mut budget, record) {
                        unsent.push(slot);
                    }
                }
            }
            (Answer::Fetched(more, last), Outgoing::Page(keys, page_more)) => {
                *last = None;
                *more = page_more;
                for key in keys {
                    let Some(record) = sendable_record(source, &key)? else {
                        continue;
                    };
                    if !try_add_record(&mut response.records, &mut budget, record) {
                        *more = true;
                        break;
                    }
                    *last = Some(key);
                }
            }
            _ => {}
        }
    }
    Ok(response)
}

fn answer_query<S: SyncSource>(query: &Query, source: &S) -> Result<(Answer, Outgoing), S::Error> {
    Ok(match query {
        Query::Fingerprint(range, theirs) => {
            let mine = source.fingerprint(range)?;
            if mine.summary() == *theirs {
                (Answer::Equal, Outgoing::None)
            } else if mine.count <= LEAF_ITEMS || range.bits >= MAX_PREFIX_BITS {
                let items = source.items(range, None, MAX_IDS)?;
                (Answer::Ids(entries_of(source, &items)?), Outgoing::None)
            } else {
                (split(range, source)?, Outgoing::None)
            }
        }
        Query::Ids(range, theirs) => {
            let items = source.items(range, None, MAX_IDS + 1)?;
            if items.len() > MAX_IDS && range.bits < MAX_PREFIX_BITS {
                // The responder holds more than the initiator expected: the
                // initiator splits the range further.
                return Ok((split(range, source)?, Outgoing::None));
            }
            let mine = entries_of(source, &items)?;
            let want: Vec<SlotTag> = to_send(theirs, &mine)
                .into_iter()
                .map(|i| theirs[i].slot)
                .collect();
            let lacking: Vec<(SlotTag, SyncKey)> = to_send(&mine, theirs)
                .into_iter()
                .map(|i| (mine[i].slot, items[i].0))
                .collect();
            if want.is_empty() && lacking.is_empty() {
                // The initiator lists a range only where the fingerprints
                // differ: entries that coincide are the initiator's cue to
                // exchange the whole range.
                return Ok((Answer::Equal, Outgoing::None));
            }
            (Answer::Diff(want, Vec::new()), Outgoing::Items(lacking))
        }
        Query::Want(range, wanted) => {
            let wanted: HashSet<&SlotTag> = wanted.iter().collect();
            let found = source
                .items(range, None, WANT_SCAN_ITEMS)?
                .into_iter()
                .map(|(key, _)| (slot_tag(&key), key))
                .filter(|(slot, _)| wanted.contains(slot))
                .collect();
            (Answer::Diff(Vec::new(), Vec::new()), Outgoing::Items(found))
        }
        Query::Fetch(range, after) => {
            let mut keys: Vec<SyncKey> = source
                .items(range, after.as_ref(), MAX_RECORDS_PER_MESSAGE + 1)?
                .into_iter()
                .map(|(key, _)| key)
                .collect();
            let more = keys.len() > MAX_RECORDS_PER_MESSAGE;
            keys.truncate(MAX_RECORDS_PER_MESSAGE);
            (Answer::Fetched(more, None), Outgoing::Page(keys, more))
        }
    })
}

fn split<S: SyncSource>(range: &SyncRange, source: &S) -> Result<Answer, S::Error> {
    let children = range
        .children()
        .expect("callers split only above the maximum depth");
    let summaries = children
        .iter()
        .map(|child| source.fingerprint(child).map(|fp| fp.summary()))
        .collect::<Result<_, _>>()?;
    Ok(Answer::Split(summaries))
}
