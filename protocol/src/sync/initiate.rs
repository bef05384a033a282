//! The initiator: the one side of a session with state ([`InitiatorSession`]).
//! It walks the key space class by class, turns each answer into the next
//! queries and the records to push, and bounds its own work
//! ([`SessionLimits`]) since a peer's answers decide how much there is.
use std::collections::{HashSet, VecDeque};

use serde_bytes::ByteBuf;

use super::messages::{encode, entries_of, record_budget, sendable_record, try_add_record};
use super::{
    to_send, Answer, Entry, Fingerprint, MessageError, Query, Request, Response, SlotTag, Summary,
    SyncClass, SyncError, SyncKey, SyncRange, SyncSource, EXPECTED_RECORDS_PER_RESPONSE,
    LEAF_ITEMS, MAX_IDS, MAX_PREFIX_BITS, MAX_QUERIES, MAX_RECORDS_PER_MESSAGE,
};

/// Local bounds on an initiator's session (the protocol's own limits are the
/// constants of this module). The node adds a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// The most requests in one session.
    pub max_rounds: u32,
    /// The most queries and pushes waiting to be sent.
    pub max_pending: usize,
}

impl Default for SessionLimits {
    /// 4,096 rounds move at least 2 GiB of records, more than a 1M-record
    /// replica; a million pending ranges is about 100 MiB, reached only if a
    /// peer lies about its fingerprints.
    fn default() -> Self {
        SessionLimits {
            max_rounds: 4096,
            max_pending: 1 << 20,
        }
    }
}

/// What a finished session did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Requests sent (round trips).
    pub rounds: u32,
    /// Queries sent over all requests.
    pub queries: u64,
    /// Records received from the responder.
    pub received: u64,
    /// Records pushed to the responder.
    pub pushed: u64,
}

/// What the initiator does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this request; hand its response to
    /// [`InitiatorSession::handle_response`].
    Send(Request),
    /// Both replicas hold the same set (as of the start of the session).
    Done(Outcome),
}

/// A query waiting to be sent or answered, with the keys of the entries an
/// `Ids` query lists (to find what to push when the responder wants them).
struct Pending {
    query: Query,
    keys: Vec<SyncKey>,
    /// How many records the answer may bring.
    expect: u64,
}

impl Pending {
    fn of(query: Query) -> Pending {
        let expect = match &query {
            Query::Want(_, slots) => slots.len() as u64,
            _ => 0,
        };
        Pending {
            query,
            keys: Vec::new(),
            expect,
        }
    }
}

/// Records the initiator must push.
enum Push {
    Key(SyncKey),
    /// Every item of the range after the cursor (the responder has none).
    Range(SyncRange, Option<SyncKey>),
}

/// The initiator's side of a session: owns every piece of state of the
/// exchange; the responder keeps none.
///
/// The node sends each [`Request`], applies the records of the
/// [`Response`] (ordered with [`order_for_apply`](super::order_for_apply)) before sending the next
/// request, and gives up after its session timeout.
pub struct InitiatorSession {
    limits: SessionLimits,
    /// Per [`SyncClass`]: queries not yet sent.
    queries: [VecDeque<Pending>; 3],
    /// Per [`SyncClass`]: records not yet pushed.
    pushes: [VecDeque<Push>; 3],
    in_flight: Vec<Pending>,
    outcome: Outcome,
}

impl InitiatorSession {
    /// Starts a session: the first request compares the whole key space.
    pub fn start<S: SyncSource>(
        limits: SessionLimits,
        source: &S,
    ) -> Result<(InitiatorSession, Request), SyncError<S::Error>> {
        let mut session = InitiatorSession {
            limits,
            queries: Default::default(),
            pushes: Default::default(),
            in_flight: Vec::new(),
            outcome: Outcome::default(),
        };
        let root = source
            .fingerprint(&SyncRange::ROOT)
            .map_err(SyncError::Source)?;
        let query = if root.count == 0 {
            Query::Fetch(SyncRange::ROOT, None)
        } else {
            Query::Fingerprint(SyncRange::ROOT, root.summary())
        };
        session.queue(Pending::of(query))?;
        match session.next_request(source)? {
            Step::Send(request) => Ok((session, request)),
            Step::Done(_) => unreachable!("a query was just queued"),
        }
    }

    /// What the session has done so far.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Takes the response to the last request and says what to do next.
    pub fn handle_response<S: SyncSource>(
        &mut self,
        response: &Response,
        source: &S,
    ) -> Result<Step, SyncError<S::Error>> {
        response.validate()?;
        let in_flight = std::mem::take(&mut self.in_flight);
        if response.answers.len() != in_flight.len() {
            return Err(MessageError::AnswerCount {
                expected: in_flight.len(),
                got: response.answers.len(),
            }
            .into());
        }
        self.outcome.received += response.records.len() as u64;
        for (index, (pending, answer)) in in_flight.into_iter().zip(&response.answers).enumerate() {
            self.handle_answer(index, pending, answer, source)?;
        }
        self.next_request(source)
    }

    fn handle_answer<S: SyncSource>(
        &mut self,
        index: usize,
        pending: Pending,
        answer: &Answer,
        source: &S,
    ) -> Result<(), SyncError<S::Error>> {
        let unexpected = || MessageError::UnexpectedAnswer {
            index,
            query: pending.query.name(),
            answer: answer.name(),
        };
        match (&pending.query, answer) {
            (Query::Fingerprint(..), Answer::Equal) => {}
            (Query::Ids(range, _), Answer::Equal) => self.exchange_range(range)?,
            (Query::Fingerprint(range, _) | Query::Ids(range, _), Answer::Split(theirs)) => {
                let children = range.children().ok_or_else(unexpected)?;
                for (child, theirs) in children.iter().zip(theirs) {
                    let mine = source.fingerprint(child).map_err(SyncError::Source)?;
                    if mine.summary() != *theirs {
                        self.reconcile(child, &mine, theirs, source)?;
                    }
                }
            }
            (Query::Fingerprint(range, _), Answer::Ids(theirs)) => {
                self.compare_ids(range, theirs, source)?
            }
            (Query::Ids(range, _), Answer::Diff(want, unsent)) => {
                let Query::Ids(_, entries) = &pending.query else {
                    unreachable!("matched as an ids query")
                };
                let want: HashSet<&SlotTag> = want.iter().collect();
                for (entry, key) in entries.iter().zip(&pending.keys) {
                    if want.contains(&entry.slot) {
                        self.queue_push(Push::Key(*key))?;
                    }
                }
                if !unsent.is_empty() {
                    self.queue(Pending::of(Query::Want(*range, unsent.clone())))?;
                }
            }
            (Query::Want(range, _), Answer::Diff(want, unsent)) if want.is_empty() => {
                if !unsent.is_empty() {
                    self.queue(Pending::of(Query::Want(*range, unsent.clone())))?;
                }
            }
            (Query::Fetch(range, after), Answer::Fetched(more, last)) => {
                if let Some(last) = last {
                    if !range.contains(last) {
                        return Err(MessageError::CursorOutsideRange { range: *range }.into());
                    }
                    if after.is_some_and(|after| *last <= after) {
                        return Err(MessageError::CursorBackwards { index }.into());
                    }
                }
                if *more {
                    self.queue(Pending::of(Query::Fetch(*range, last.or(*after))))?;
                }
            }
            _ => return Err(unexpected().into()),
        }
        Ok(())
    }

    /// Decides how to reconcile a range whose fingerprints differ, knowing
    /// both sides' summaries.
    fn reconcile<S: SyncSource>(
        &mut self,
        range: &SyncRange,
        mine: &Fingerprint,
        theirs: &Summary,
        source: &S,
    ) -> Result<(), SyncError<S::Error>> {
        if theirs.count == 0 {
            return self.queue_push(Push::Range(*range, None));
        }
        if mine.count == 0 {
            return self.queue(Pending::of(Query::Fetch(*range, None)));
        }
        if theirs.count <= LEAF_ITEMS && mine.count <= MAX_IDS as u64 {
            let items = source
                .items(range, None, MAX_IDS + 1)
                .map_err(SyncError::Source)?;
            if items.len() <= MAX_IDS {
                let keys = items.iter().map(|(key, _)| *key).collect();
                let entries = entries_of(source, &items).map_err(SyncError::Source)?;
                return self.queue(Pending {
                    query: Query::Ids(*range, entries),
                    keys,
                    expect: theirs.count,
                });
            }
        }
        self.descend(range, source)
    }

    /// Queues a query for each child of `range`: a fetch where this side has
    /// nothing, a fingerprint elsewhere. At the maximum depth, asks for the
    /// responder's ids instead.
    fn descend<S: SyncSource>(
        &mut self,
        range: &SyncRange,
        source: &S,
    ) -> Result<(), SyncError<S::Error>> {
        let Some(children) = range.children() else {
            let mine = source.fingerprint(range).map_err(SyncError::Source)?;
            return self.queue(Pending::of(Query::Fingerprint(*range, mine.summary())));
        };
        for child in children {
            let mine = source.fingerprint(&child).map_err(SyncError::Source)?;
            let query = if mine.count == 0 {
                Query::Fetch(child, None)
            } else {
                Query::Fingerprint(child, mine.summary())
            };
            self.queue(Pending::of(query))?;
        }
        Ok(())
    }

    /// The responder listed its entries in `range`: push what it should get,
    /// want what this side should get (`to_send`).
    fn compare_ids<S: SyncSource>(
        &mut self,
        range: &SyncRange,
        theirs: &[Entry],
        source: &S,
    ) -> Result<(), SyncError<S::Error>> {
        if theirs.is_empty() {
            return self.queue_push(Push::Range(*range, None));
        }
        let items = source
            .items(range, None, MAX_IDS + 1)
            .map_err(SyncError::Source)?;
        if items.len() > MAX_IDS && range.bits < MAX_PREFIX_BITS {
            // Too many here to match one by one: split, most children will
            // hold nothing on the responder's side.
            return self.descend(range, source);
        }
        let mine = entries_of(source, &items).map_err(SyncError::Source)?;
        let pushes = to_send(&mine, theirs);
        let lacking: Vec<SlotTag> = to_send(theirs, &mine)
            .into_iter()
            .map(|index| theirs[index].slot)
            .collect();
        if pushes.is_empty() && lacking.is_empty() {
            // The responder listed its items because the fingerprints
            // differ, yet the lists show no difference.
            return self.exchange_range(range);
        }
        for index in pushes {
            self.queue_push(Push::Key(items[index].0))?;
        }
        if !lacking.is_empty() {
            self.queue(Pending::of(Query::Want(*range, lacking)))?;
        }
        Ok(())
    }

    /// The fingerprints of `range` differ but both sides' lists of it show
    /// no difference: two records of one slot whose entries coincide (see
    /// [`ItemId`]), or a store that changed during the session. Pushes every
    /// record of the range and fetches every one of the responder's (at most
    /// [`MAX_IDS`] each way, one more round trip): the merge settles the
    /// slot on both sides.
    fn exchange_range<E>(&mut self, range: &SyncRange) -> Result<(), SyncError<E>> {
        self.queue_push(Push::Range(*range, None))?;
        self.queue(Pending::of(Query::Fetch(*range, None)))
    }

    fn pending_len(&self) -> usize {
        self.queries.iter().map(VecDeque::len).sum::<usize>()
            + self.pushes.iter().map(VecDeque::len).sum::<usize>()
    }

    fn check_pending<E>(&self) -> Result<(), SyncError<E>> {
        if self.pending_len() >= self.limits.max_pending {
            return Err(SyncError::TooMuchWork {
                max: self.limits.max_pending,
            });
        }
        Ok(())
    }

    fn queue<E>(&mut self, pending: Pending) -> Result<(), SyncError<E>> {
        self.check_pending()?;
        let class = SyncClass::of_range(pending.query.range()).index();
        self.queries[class].push_back(pending);
        Ok(())
    }

    fn queue_push<E>(&mut self, push: Push) -> Result<(), SyncError<E>> {
        self.check_pending()?;
        let class = match &push {
            Push::Key(key) => key.class(),
            Push::Range(range, _) => SyncClass::of_range(range),
        };
        self.pushes[class.index()].push_back(push);
        Ok(())
    }

    /// Builds the next request from the first class with work left, so that
    /// no listing moves before every certificate and revocation has.
    fn next_request<S: SyncSource>(&mut self, source: &S) -> Result<Step, SyncError<S::Error>> {
        let Some(class) =
            (0..3).find(|&c| !self.queries[c].is_empty() || !self.pushes[c].is_empty())
        else {
            return Ok(Step::Done(self.outcome));
        };
        if self.outcome.rounds >= self.limits.max_rounds {
            return Err(SyncError::TooManyRounds {
                max: self.limits.max_rounds,
            });
        }
        // Ask for about as many records as one response carries: records
        // that do not fit come back as ids to ask for again, which costs
        // bytes and a round trip.
        let mut expected = 0;
        while self.in_flight.len() < MAX_QUERIES {
            let Some(next) = self.queries[class].front() else {
                break;
            };
            expected += next.expect;
            if expected > EXPECTED_RECORDS_PER_RESPONSE && !self.in_flight.is_empty() {
                break;
            }
            self.in_flight.extend(self.queries[class].pop_front());
        }
        let mut request = Request {
            queries: self.in_flight.iter().map(|p| p.query.clone()).collect(),
            push: Vec::new(),
        };
        let mut budget = record_budget(encode(&request).len());
        self.fill_pushes(class, &mut request.push, &mut budget, source)?;
        self.outcome.rounds += 1;
        self.outcome.queries += request.queries.len() as u64;
        self.outcome.pushed += request.push.len() as u64;
        Ok(Step::Send(request))
    }

    fn fill_pushes<S: SyncSource>(
        &mut self,
        class: usize,
        records: &mut Vec<ByteBuf>,
        budget: &mut usize,
        source: &S,
    ) -> Result<(), SyncError<S::Error>> {
        while let Some(push) = self.pushes[class].pop_front() {
            match push {
                Push::Key(key) => {
                    let Some(record) = sendable_record(source, &key)? else {
                        continue;
                    };
                    if !try_add_record(records, budget, record) {
                        self.pushes[class].push_front(Push::Key(key));
                        return Ok(());
                    }
                }
                Push::Range(range, after) => {
                    let room = MAX_RECORDS_PER_MESSAGE - records.len();
                    let page = source
                        .items(&range, after.as_ref(), room)
                        .map_err(SyncError::Source)?;
                    let mut cursor = after;
                    for (key, _) in &page {
                        let Some(record) = sendable_record(source, key)? else {
                            cursor = Some(*key);
                            continue;
                        };
                        if !try_add_record(records, budget, record) {
                            self.pushes[class].push_front(Push::Range(range, cursor));
                            return Ok(());
                        }
                        cursor = Some(*key);
                    }
                    if page.len() == room {
                        // The page filled the message: continue next round.
                        self.pushes[class].push_front(Push::Range(range, cursor));
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}
