//! The merge: per slot, every delivery order of any multiset of versions,
//! withdrawals and equivocations ends with the same winner, the greatest by
//! `Rank`. Records are real sealed records (a pool built once, since signing
//! is slow in debug builds); proptest picks multisets from the pool.

use std::sync::OnceLock;

use mutua_protocol::fixtures::*;
use mutua_protocol::merge::forget_after;
use mutua_protocol::rules::{tombstone_forget_after, DAY_SECS, MAX_LIFETIME_DAYS};
use mutua_protocol::*;
use proptest::prelude::*;

const CASES: u32 = 2_500;

/// Records for one slot (key 2, listing 07…07): for each version an offer,
/// a conflicting offer (another title), a need, and two different
/// withdrawals — so equal versions and equivocations are common.
fn pool() -> &'static [Rank] {
    static POOL: OnceLock<Vec<Rank>> = OnceLock::new();
    POOL.get_or_init(|| {
        let author = key(2);
        let mut ranks = Vec::new();
        for version in 1..=4 {
            let offer = listing(&author, 7, version);
            let mut rival = offer.clone();
            rival.title = format!("Nacelle élévatrice, version {version}");
            let mut need = minimal_listing(&author, 7, version);
            need.id = offer.id;
            let early = withdrawal(&author, 7, version);
            let mut late = early.clone();
            late.withdrawn_at += 60;
            for payload in [
                Payload::Offer(offer),
                Payload::Offer(rival),
                Payload::Need(need),
                Payload::Withdrawal(early),
                Payload::Withdrawal(late),
            ] {
                let record = seal(&author, &payload).expect("valid");
                assert!(matches!(SlotKey::of(&record), SlotKey::Listing { .. }));
                ranks.push(Rank::of(&record));
            }
        }
        ranks
    })
}

/// The slot after `incoming` arrives at a slot holding `current`.
fn join(current: Option<Rank>, incoming: Rank) -> Option<Rank> {
    if merge(current.as_ref(), &incoming).stores_incoming() {
        Some(incoming)
    } else {
        current
    }
}

fn fold(order: impl IntoIterator<Item = Rank>) -> Option<Rank> {
    order.into_iter().fold(None, join)
}

fn ranks(indices: &[usize]) -> Vec<Rank> {
    indices.iter().map(|&i| pool()[i]).collect()
}

fn index() -> impl Strategy<Value = usize> {
    0..pool().len()
}

/// Calls `visit` with every permutation of `items` (Heap's algorithm).
fn permutations(items: &mut [Rank], k: usize, visit: &mut dyn FnMut(&[Rank])) {
    if k <= 1 {
        visit(items);
        return;
    }
    for i in 0..k {
        permutations(items, k - 1, visit);
        let j = if k.is_multiple_of(2) { i } else { 0 };
        items.swap(j, k - 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Small multisets: every one of their orders gives the maximum.
    #[test]
    fn every_order_gives_the_greatest_rank(indices in prop::collection::vec(index(), 0..=6)) {
        let mut items = ranks(&indices);
        let greatest = items.iter().copied().max();
        let mut orders = 0;
        permutations(&mut items, indices.len(), &mut |order| {
            assert_eq!(fold(order.iter().copied()), greatest, "order {order:?}");
            orders += 1;
        });
        prop_assert_eq!(orders, (1..=indices.len()).product::<usize>());
    }

    /// Larger multisets, in a random order.
    #[test]
    fn any_order_gives_the_greatest_rank(
        (indices, shuffled) in prop::collection::vec(index(), 1..40)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        let greatest = ranks(&indices).into_iter().max();
        prop_assert_eq!(fold(ranks(&indices)), greatest);
        prop_assert_eq!(fold(ranks(&shuffled)), greatest);
    }

    /// Commutative: two records meet to the same winner in either order, and
    /// the outcomes mirror each other.
    #[test]
    fn commutative(a in index(), b in index()) {
        let (a, b) = (pool()[a], pool()[b]);
        prop_assert_eq!(join(Some(a), b), join(Some(b), a));
        match (merge(Some(&a), &b), merge(Some(&b), &a)) {
            (MergeOutcome::Duplicate, MergeOutcome::Duplicate) => prop_assert_eq!(a, b),
            (MergeOutcome::Replaces, MergeOutcome::Older)
            | (MergeOutcome::Older, MergeOutcome::Replaces) => {
                prop_assert!(a.version != b.version || a.withdrawal != b.withdrawal)
            }
            (
                MergeOutcome::Equivocation { incoming_wins: x },
                MergeOutcome::Equivocation { incoming_wins: y },
            ) => {
                prop_assert_eq!(x, !y);
                prop_assert_eq!((a.version, a.withdrawal), (b.version, b.withdrawal));
            }
            other => prop_assert!(false, "outcomes do not mirror: {:?}", other),
        }
    }

    /// Associative: the grouping of three deliveries does not matter.
    #[test]
    fn associative(a in index(), b in index(), c in index()) {
        let (a, b, c) = (pool()[a], pool()[b], pool()[c]);
        let left = join(join(Some(a), b), c);
        let bc = join(Some(b), c).expect("non-empty");
        let right = join(Some(a), bc);
        prop_assert_eq!(left, right);
    }

    /// Idempotent: a record merged with itself, or a batch delivered twice,
    /// changes nothing.
    #[test]
    fn idempotent(indices in prop::collection::vec(index(), 1..20)) {
        for r in ranks(&indices) {
            prop_assert_eq!(merge(Some(&r), &r), MergeOutcome::Duplicate);
            prop_assert_eq!(join(Some(r), r), Some(r));
        }
        let once = fold(ranks(&indices));
        let twice = fold(ranks(&indices).into_iter().chain(ranks(&indices)));
        prop_assert_eq!(once, twice);
    }
}

#[test]
fn outcomes() {
    let author = key(2);
    let rank = |p: Payload| Rank::of(&seal(&author, &p).unwrap());
    let v1 = rank(Payload::Offer(listing(&author, 7, 1)));
    let v2 = rank(Payload::Offer(listing(&author, 7, 2)));
    let mut rival = listing(&author, 7, 2);
    rival.title = "Nacelle".into();
    let v2_rival = rank(Payload::Offer(rival));
    let w2 = rank(Payload::Withdrawal(withdrawal(&author, 7, 2)));
    assert_eq!(merge(None, &v1), MergeOutcome::New);
    assert_eq!(merge(Some(&v1), &v2), MergeOutcome::Replaces);
    assert_eq!(merge(Some(&v2), &v1), MergeOutcome::Older);
    assert_eq!(merge(Some(&v2), &v2), MergeOutcome::Duplicate);
    // Same version, different bytes: the greater hash wins everywhere.
    let rival_wins = v2_rival.hash > v2.hash;
    assert_eq!(
        merge(Some(&v2), &v2_rival),
        MergeOutcome::Equivocation {
            incoming_wins: rival_wins
        }
    );
    // At equal versions a withdrawal beats a listing, whatever the hashes.
    assert_eq!(merge(Some(&v2), &w2), MergeOutcome::Replaces);
    assert_eq!(merge(Some(&w2), &v2_rival), MergeOutcome::Older);
}

/// A withdrawal is forgotten only once every version published before it has
/// expired, so nothing it withdrew can come back.
#[test]
fn tombstones_outlive_what_they_withdraw() {
    let author = key(2);
    let w = withdrawal(&author, 7, 2);
    let mut longest = listing(&author, 7, 1);
    longest.published_at = w.withdrawn_at;
    longest.expires_at = longest.published_at + MAX_LIFETIME_DAYS * DAY_SECS;
    let offer = seal(&author, &Payload::Offer(longest)).unwrap();
    let tombstone = seal(&author, &Payload::Withdrawal(w.clone())).unwrap();
    let forget = forget_after(&tombstone);
    assert_eq!(forget, tombstone_forget_after(&w));
    let e = validate(offer.bytes(), forget).unwrap_err();
    assert_eq!((e.code(), e.field()), ("expired", Some("offer.expires_at")));
    // An offer is remembered as long as any older version could be live.
    assert!(forget_after(&offer) >= offer.payload().listing().unwrap().expires_at);
}
