//! The calendar of one offer, derived from the records known about it: the
//! same on every node that holds the same records, whatever the order in
//! which they arrived (PROTOCOL.md *Lending*, *The calendar*).
//!
//! Slots are resolved here as the merge resolves them (the greatest rank
//! wins), so the calendar can be fed every record ever received, duplicates
//! and superseded versions included.

use std::collections::{BTreeMap, BTreeSet};

use super::model::*;
use crate::keys::PublicKey;
use crate::merge::Rank;
use crate::model::{FixedBytes, ListingId, Payload, RecordHash};

/// How an offer lends: its `lending` record's settings, or the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub mode: BookingMode,
    pub buffer_days: u32,
    pub capacity: u32,
}

impl Settings {
    /// An offer without a `lending` record is decided by hand, with no
    /// buffer, one unit at a time.
    pub const DEFAULT: Settings = Settings {
        mode: BookingMode::Manual,
        buffer_days: 0,
        capacity: 1,
    };

    pub fn of(terms: Option<&LendingTerms>) -> Settings {
        terms.map_or(Settings::DEFAULT, |t| Settings {
            mode: t.mode,
            buffer_days: t.buffer_days,
            capacity: t.capacity,
        })
    }
}

/// An accepted loan that holds: its request, its accepting decision, and
/// what the parties recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    pub decision: RecordHash,
    pub request: RecordHash,
    pub borrower: PublicKey,
    pub request_id: RequestId,
    pub seq: u64,
    pub period: Period,
    /// The period and the turnaround buffer after it.
    pub busy: Period,
    pub quantity: u32,
    pub terms_hash: FixedBytes<32>,
    pub handed_over: bool,
    /// The condition of the return, if one was recorded (`damaged` wins
    /// over `as_lent` if the parties disagree).
    pub returned: Option<Condition>,
}

/// Where a request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestStatus {
    /// No decision yet.
    Pending,
    /// Accepted, and the booking holds.
    Accepted { decision: RecordHash },
    Declined {
        decision: RecordHash,
        reason: DeclineReason,
    },
    /// The owner took its acceptance back.
    CancelledByOwner { decision: RecordHash },
    /// The borrower cancelled (before or after a decision).
    CancelledByBorrower,
    /// Accepted, but another acceptance of the same author came first and
    /// leaves no room: the author signed conflicting decisions.
    Overruled { decision: RecordHash },
}

/// A request and its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestState {
    /// The winning version of the request's slot.
    pub hash: RecordHash,
    pub request: Request,
    pub status: RequestStatus,
    /// The decision of the request's slot, if any (also when the borrower
    /// cancelled after it).
    pub decision: Option<RecordHash>,
}

/// What the records show that an honest owner never signs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Anomaly {
    /// Two acceptances that do not fit together: `overruled` lost to the
    /// earlier ones (`kept`) by the winner rule.
    ConflictingAcceptances {
        overruled: RecordHash,
        kept: Vec<RecordHash>,
    },
    /// Two decisions of one request at one sequence number: the greater hash
    /// wins, as in the merge.
    Equivocation { kept: RecordHash, lost: RecordHash },
    /// Decisions of different requests sharing a sequence number (the
    /// author's key runs on two nodes).
    SequenceReused {
        seq: u64,
        decisions: Vec<RecordHash>,
    },
    /// The borrower changed a request after it was decided: the decision
    /// stands for the version it names.
    UpdatedAfterDecision {
        request: RecordHash,
        decided_version: u64,
    },
}

/// The calendar of one offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar {
    pub settings: Settings,
    /// The bookings that hold, by start day, then decision hash.
    pub bookings: Vec<Booking>,
    /// Every request known for the offer, by record hash.
    pub requests: Vec<RequestState>,
    pub anomalies: Vec<Anomaly>,
    /// The highest sequence number of the author's decisions on this offer
    /// (0 if none): its next decision takes a greater one.
    pub last_seq: u64,
}

/// A decision slot: the request it answers.
type RequestSlot = (PublicKey, RequestId);

/// The calendar of the offer `(author, offer)` from `records`: any set of
/// validated records with their record hashes; those about other offers are
/// left out.
pub fn calendar<'a>(
    author: &PublicKey,
    offer: &ListingId,
    records: impl IntoIterator<Item = (RecordHash, &'a Payload)>,
) -> Calendar {
    let mut terms: Option<(Rank, &LendingTerms)> = None;
    let mut requests: BTreeMap<RequestSlot, (Rank, &Request)> = BTreeMap::new();
    // Every decision, per slot, by (seq, hash): the last one wins.
    let mut decisions: BTreeMap<RequestSlot, BTreeMap<(u64, RecordHash), &Decision>> =
        BTreeMap::new();
    let mut events: BTreeMap<RecordHash, &LoanEvent> = BTreeMap::new();
    for (hash, payload) in records {
        match payload {
            Payload::Lending(t) if &t.author == author && &t.offer == offer => {
                let rank = Rank::of_payload(payload, hash);
                if terms.is_none_or(|(best, _)| rank > best) {
                    terms = Some((rank, t));
                }
            }
            Payload::Request(r) if &r.offer_author == author && &r.offer == offer => {
                let rank = Rank::of_payload(payload, hash);
                let slot = requests.entry((r.author, r.id)).or_insert((rank, r));
                if rank > slot.0 {
                    *slot = (rank, r);
                }
            }
            Payload::Decision(d) if &d.author == author && &d.offer == offer => {
                decisions
                    .entry((d.borrower, d.request_id))
                    .or_default()
                    .insert((d.seq, hash), d);
            }
            Payload::LoanEvent(e) if &e.offer_author == author && &e.offer == offer => {
                events.insert(hash, e);
            }
            _ => {}
        }
    }
    let settings = Settings::of(terms.map(|(_, t)| t));
    let mut anomalies = Vec::new();

    let cancelled: BTreeSet<RequestSlot> = events
        .values()
        .filter(|e| matches!(e.event, LoanEventKind::Cancelled) && e.author == e.borrower)
        .map(|e| (e.borrower, e.request_id))
        .collect();

    // The winning decision of each slot; equivocations and reused sequence
    // numbers are evidence.
    let mut winners: BTreeMap<RequestSlot, (u64, RecordHash, &Decision)> = BTreeMap::new();
    let mut by_seq: BTreeMap<u64, BTreeSet<RecordHash>> = BTreeMap::new();
    for (slot, all) in &decisions {
        let (&(seq, hash), &decision) = all.last_key_value().expect("a slot has a decision");
        for (&(other_seq, other), _) in all.iter().rev().skip(1) {
            if other_seq == seq {
                anomalies.push(Anomaly::Equivocation {
                    kept: hash,
                    lost: other,
                });
            }
        }
        for &(seq, hash) in all.keys() {
            by_seq.entry(seq).or_default().insert(hash);
        }
        winners.insert(*slot, (seq, hash, decision));
    }
    for (seq, hashes) in by_seq {
        // Hashes of one slot at one seq are equivocations, reported above;
        // here, different slots.
        let slots: BTreeSet<RequestSlot> = hashes
            .iter()
            .filter_map(|h| {
                decisions
                    .iter()
                    .find(|(_, all)| all.contains_key(&(seq, *h)))
                    .map(|(slot, _)| *slot)
            })
            .collect();
        if slots.len() > 1 {
            anomalies.push(Anomaly::SequenceReused {
                seq,
                decisions: hashes.into_iter().collect(),
            });
        }
    }
    let last_seq = winners
        .values()
        .map(|(seq, _, _)| *seq)
        .chain(
            decisions
                .values()
                .flat_map(|all| all.keys().map(|(s, _)| *s)),
        )
        .max()
        .unwrap_or(0);

    // The winner rule: acceptances in order of sequence number, then hash;
    // each holds if it fits beside those that already hold.
    let mut candidates: Vec<(u64, RecordHash, &Decision)> = winners
        .iter()
        .filter(|(slot, (_, _, d))| d.is_acceptance() && !cancelled.contains(slot))
        .map(|(_, &w)| w)
        .collect();
    candidates.sort_by_key(|(seq, hash, _)| (*seq, *hash));
    let mut held: Vec<Booking> = Vec::new();
    let mut overruled: BTreeSet<RecordHash> = BTreeSet::new();
    for (seq, hash, d) in candidates {
        let busy = d.period.with_buffer(settings.buffer_days);
        let clashes = clashes(&held, &busy, d.quantity, settings.capacity);
        if let Some(kept) = clashes {
            overruled.insert(hash);
            anomalies.push(Anomaly::ConflictingAcceptances {
                overruled: hash,
                kept,
            });
            continue;
        }
        let Outcome::Accepted(acceptance) = &d.outcome else {
            unreachable!("candidates are acceptances")
        };
        let of_this = |e: &&&LoanEvent| e.borrower == d.borrower && e.request_id == d.request_id;
        let agreed = events
            .values()
            .filter(of_this)
            .filter(|e| e.decision == Some(hash));
        let (mut handed_over, mut returned) = (false, None);
        for e in agreed {
            match &e.event {
                LoanEventKind::HandedOver => handed_over = true,
                LoanEventKind::Returned(r) => {
                    returned = Some(match (returned, r.condition) {
                        (Some(Condition::Damaged), _) | (_, Condition::Damaged) => {
                            Condition::Damaged
                        }
                        _ => Condition::AsLent,
                    })
                }
                LoanEventKind::Cancelled => {}
            }
        }
        held.push(Booking {
            decision: hash,
            request: d.request,
            borrower: d.borrower,
            request_id: d.request_id,
            seq,
            period: d.period,
            busy,
            quantity: d.quantity,
            terms_hash: acceptance.terms_hash,
            handed_over,
            returned,
        });
    }
    held.sort_by_key(|b| (b.period.start, b.decision));

    let mut states = Vec::new();
    for (slot, (rank, request)) in &requests {
        let status = match (winners.get(slot), cancelled.contains(slot)) {
            (_, true) => RequestStatus::CancelledByBorrower,
            (None, false) => RequestStatus::Pending,
            (Some(&(_, decision, d)), false) => {
                if d.request_version < request.version {
                    anomalies.push(Anomaly::UpdatedAfterDecision {
                        request: rank.hash,
                        decided_version: d.request_version,
                    });
                }
                match &d.outcome {
                    Outcome::Accepted(_) if overruled.contains(&decision) => {
                        RequestStatus::Overruled { decision }
                    }
                    Outcome::Accepted(_) => RequestStatus::Accepted { decision },
                    Outcome::Declined(r) => RequestStatus::Declined {
                        decision,
                        reason: r.reason,
                    },
                    Outcome::Cancelled(_) => RequestStatus::CancelledByOwner { decision },
                }
            }
        };
        states.push(RequestState {
            hash: rank.hash,
            request: (*request).clone(),
            status,
            decision: winners.get(slot).map(|&(_, hash, _)| hash),
        });
    }
    states.sort_by_key(|s| s.hash);
    anomalies.sort();
    Calendar {
        settings,
        bookings: held,
        requests: states,
        anomalies,
        last_seq,
    }
}

/// The decisions of `held` that leave less than `quantity` of `capacity`
/// on some day of `busy`, or `None` if it fits.
fn clashes(
    held: &[Booking],
    busy: &Period,
    quantity: u32,
    capacity: u32,
) -> Option<Vec<RecordHash>> {
    let overlapping: Vec<&Booking> = held.iter().filter(|b| b.busy.overlaps(busy)).collect();
    let fits = quantity <= capacity
        && boundaries(&overlapping, busy).into_iter().all(|day| {
            let used: u64 = overlapping
                .iter()
                .filter(|b| b.busy.start <= day && day < b.busy.end)
                .map(|b| u64::from(b.quantity))
                .sum();
            used + u64::from(quantity) <= u64::from(capacity)
        });
    if fits {
        None
    } else {
        let mut kept: Vec<RecordHash> = overlapping.iter().map(|b| b.decision).collect();
        kept.sort();
        Some(kept)
    }
}

/// The days within `range` where the use can change: its start and the
/// starts of bookings inside it (use is constant between them).
fn boundaries(bookings: &[&Booking], range: &Period) -> Vec<Day> {
    let mut days: Vec<Day> = bookings
        .iter()
        .map(|b| b.busy.start)
        .filter(|d| range.start < *d && *d < range.end)
        .chain(std::iter::once(range.start))
        .collect();
    days.sort_unstable();
    days.dedup();
    days
}

impl Calendar {
    /// Units in use on `day` (bookings with their buffer).
    pub fn used_on(&self, day: Day) -> u32 {
        self.bookings
            .iter()
            .filter(|b| b.busy.start <= day && day < b.busy.end)
            .map(|b| b.quantity)
            .fold(0, u32::saturating_add)
    }

    /// Whether a loan of `quantity` over `period` fits beside the bookings
    /// (with the buffer after each loan, the new one's included).
    pub fn fits(&self, period: &Period, quantity: u32) -> bool {
        let busy = period.with_buffer(self.settings.buffer_days);
        clashes(&self.bookings, &busy, quantity, self.settings.capacity).is_none()
    }

    /// The busy periods: maximal runs of days with the same use above zero,
    /// with that use, in day order.
    pub fn busy_periods(&self) -> Vec<(Period, u32)> {
        let mut days: Vec<Day> = self
            .bookings
            .iter()
            .flat_map(|b| [b.busy.start, b.busy.end])
            .collect();
        days.sort_unstable();
        days.dedup();
        let mut out: Vec<(Period, u32)> = Vec::new();
        for pair in days.windows(2) {
            let used = self.used_on(pair[0]);
            if used == 0 {
                continue;
            }
            match out.last_mut() {
                Some((p, u)) if p.end == pair[0] && *u == used => p.end = pair[1],
                _ => out.push((
                    Period {
                        start: pair[0],
                        end: pair[1],
                    },
                    used,
                )),
            }
        }
        out
    }

    /// The maximal windows within `range` on which a loan of `quantity`
    /// starting there could be lent day by day: days whose use leaves at
    /// least `quantity` units free (a loan's own buffer is checked by
    /// [`Calendar::fits`]).
    pub fn free_windows(&self, range: &Period, quantity: u32) -> Vec<Period> {
        let mut cuts: Vec<Day> = self
            .bookings
            .iter()
            .flat_map(|b| [b.busy.start, b.busy.end])
            .filter(|d| range.start < *d && *d < range.end)
            .chain([range.start, range.end])
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let free = |day| {
            quantity <= self.settings.capacity
                && u64::from(self.used_on(day)) + u64::from(quantity)
                    <= u64::from(self.settings.capacity)
        };
        let mut out: Vec<Period> = Vec::new();
        for pair in cuts.windows(2) {
            if !free(pair[0]) {
                continue;
            }
            match out.last_mut() {
                Some(p) if p.end == pair[0] => p.end = pair[1],
                _ => out.push(Period {
                    start: pair[0],
                    end: pair[1],
                }),
            }
        }
        out
    }

    /// The status of the request in slot `(borrower, id)`, if known.
    pub fn request(&self, borrower: &PublicKey, id: &RequestId) -> Option<&RequestState> {
        self.requests
            .iter()
            .find(|s| &s.request.author == borrower && &s.request.id == id)
    }
}
