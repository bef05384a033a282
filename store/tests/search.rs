//! The search index (tantivy) side by side with the sled postings: same
//! answers for every filter, French stemming and folding, typo tolerance,
//! relevance, stable cursors, and an index that is rebuilt when missing or
//! damaged and replays the sled batches it missed.

mod common;

use std::collections::BTreeSet;

use common::{federation_with_search as federation, offer, sealed, Fed, NOW};
use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::{GeoPoint, Payload, ResourceKind, SlotKey};
use mutua_store::synth::{self, Rng};
use mutua_store::{Area, Center, Near, Query, QueryError, Side, Sort, Store};

fn titles_of(page: &mutua_store::QueryPage) -> Vec<String> {
    page.hits
        .iter()
        .map(|h| h.payload.listing().expect("a listing").title.clone())
        .collect()
}

fn search_titles(store: &Store, q: &Query) -> Vec<String> {
    titles_of(&store.search(q, NOW).expect("search"))
}

fn text(t: &str) -> Query {
    Query {
        text: Some(t.into()),
        ..Query::default()
    }
}

/// A federation with a few French listings.
fn catalogue() -> Fed {
    let fed = federation();
    let c = &fed.commune;
    let records = vec![
        offer(c, 1, 1, |l| {
            l.title = "Broyeur de végétaux".into();
            l.description = "Broyeur thermique pour les branches jusqu'à 10 cm.".into();
            l.tags = vec!["Espaces verts".into()];
            l.kind = ResourceKind::Equipment;
        }),
        offer(c, 2, 1, |l| {
            l.title = "Nacelle élévatrice".into();
            l.description = "Nacelle de 12 m, avec chauffeur. Nacelle récente.".into();
            l.tags = vec!["Voirie".into(), "nacelle".into()];
            l.kind = ResourceKind::Equipment;
            l.published_at = NOW - 30;
        }),
        offer(c, 3, 1, |l| {
            l.title = "Prêt de matériel de fête".into();
            l.description = "Tables, bancs et une petite nacelle pour les guirlandes.".into();
            l.tags = vec!["Fêtes".into()];
            l.published_at = NOW - 20;
        }),
        {
            let mut l = mutua_protocol::fixtures::listing(c, 4, 1);
            l.title = "Recherche ÉLAGUEUR pour une branche".into();
            l.description = "Un arbre menace la toiture de l'école.".into();
            l.tags = vec![];
            l.published_at = NOW - 10;
            sealed(c, Payload::Need(l))
        },
    ];
    for a in fed.store.apply_batch(records, NOW).unwrap() {
        assert!(a.outcome.is_stored(), "{a:?}");
    }
    fed
}

#[test]
fn french_stemming_and_folding_find_what_people_type() {
    let fed = catalogue();
    let store = &fed.store;
    assert_eq!(
        search_titles(store, &text("broyeurs")),
        ["Broyeur de végétaux"]
    );
    assert_eq!(
        search_titles(store, &text("BROYEUR Vegetal")),
        ["Broyeur de végétaux"]
    );
    // "branche" finds "branches" (and the need saying "branche").
    let mut found = search_titles(store, &text("branche"));
    found.sort();
    assert_eq!(
        found,
        ["Broyeur de végétaux", "Recherche ÉLAGUEUR pour une branche"]
    );
    assert_eq!(
        search_titles(store, &text("élagueurs")),
        ["Recherche ÉLAGUEUR pour une branche"]
    );
    assert_eq!(
        search_titles(store, &text("materiel fetes")),
        ["Prêt de matériel de fête"]
    );
    // The sled postings know neither stems nor plurals.
    assert!(titles_of(&store.query(&text("broyeurs"), NOW).unwrap()).is_empty());
    // Stopwords only: refused like the sled path does.
    assert!(matches!(
        store.search(&text("de la"), NOW),
        Err(QueryError::Invalid { field: "text", .. })
    ));
}

#[test]
fn typo_tolerance_only_when_exact_terms_find_nothing() {
    let fed = catalogue();
    let store = &fed.store;
    let outcome = store.search_detailed(&text("broyuer"), NOW).unwrap();
    assert!(outcome.fuzzy);
    assert_eq!(titles_of(&outcome.page), ["Broyeur de végétaux"]);
    let outcome = store.search_detailed(&text("elaugueur"), NOW).unwrap();
    assert!(outcome.fuzzy);
    assert_eq!(
        titles_of(&outcome.page),
        ["Recherche ÉLAGUEUR pour une branche"]
    );
    // A dropped double letter often stems alike: found exactly.
    assert_eq!(store.search(&text("nacele"), NOW).unwrap().hits.len(), 2);
    // Exact terms found something: no typo tolerance.
    let outcome = store.search_detailed(&text("nacelle"), NOW).unwrap();
    assert!(!outcome.fuzzy);
    // Short words get none ("tble" is four letters, one edit from "table").
    let outcome = store.search_detailed(&text("tble"), NOW).unwrap();
    assert!(!outcome.fuzzy && outcome.page.hits.is_empty());
    // Two edits are too many.
    assert!(store
        .search(&text("brouyuer"), NOW)
        .unwrap()
        .hits
        .is_empty());
}

#[test]
fn relevance_ranks_by_bm25_then_recency() {
    let fed = catalogue();
    let q = Query {
        sort: Sort::Relevance,
        ..text("nacelle")
    };
    // Title, tag and description twice beat one word in a description.
    assert_eq!(
        search_titles(&fed.store, &q),
        ["Nacelle élévatrice", "Prêt de matériel de fête"]
    );
    // Relevance needs text; the sled path refuses it by name.
    let no_text = Query {
        sort: Sort::Relevance,
        ..Query::default()
    };
    assert!(matches!(
        fed.store.search(&no_text, NOW),
        Err(QueryError::Invalid { field: "sort", .. })
    ));
    assert!(matches!(
        fed.store.query(&q, NOW),
        Err(QueryError::Invalid { field: "sort", .. })
    ));
    // Pages of relevance: every hit once, in the same order.
    let mut paged = Vec::new();
    let mut q = Query { limit: 1, ..q };
    loop {
        let page = fed.store.search(&q, NOW).unwrap();
        paged.extend(titles_of(&page));
        match page.next {
            Some(next) => q.cursor = Some(next.to_string().parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(paged, ["Nacelle élévatrice", "Prêt de matériel de fête"]);
}

/// A synthetic federation: 400 listings by 40 members, 70% with a point.
fn synthetic() -> (tempfile::TempDir, Store, Vec<mutua_protocol::Listing>) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(synth::store_config(dir.path().join("store")).with_search_index()).unwrap();
    store
        .apply_batch(synth::member_certificates(0..40, NOW), NOW)
        .unwrap();
    let mut rng = Rng::new(5);
    let records: Vec<_> = (0..400)
        .map(|id| synth::sealed_listing(&synth::key("member", id % 40), id, 1, NOW, &mut rng))
        .collect();
    let listings = records
        .iter()
        .map(|r| r.payload().listing().unwrap().clone())
        .collect();
    for a in store.apply_batch(records, NOW).unwrap() {
        assert!(a.outcome.is_stored());
    }
    (dir, store, listings)
}

fn slots(page: &mutua_store::QueryPage) -> BTreeSet<SlotKey> {
    page.hits.iter().map(|h| h.slot).collect()
}

/// Both paths give the same listings (text aside, where stemming finds
/// more), search ordered as asked.
fn same_as_sled(store: &Store, q: &Query, now: u64) -> usize {
    let q = Query {
        limit: 500,
        ..q.clone()
    };
    let sled = store.query(&q, now).unwrap();
    let search = store.search(&q, now).unwrap();
    assert!(sled.next.is_none() && search.next.is_none(), "{q:?}");
    if q.text.is_some() {
        assert!(slots(&search).is_superset(&slots(&sled)), "{q:?}");
    } else {
        assert_eq!(slots(&search), slots(&sled), "{q:?}");
    }
    let keys: Vec<f64> = search
        .hits
        .iter()
        .map(|h| match q.sort {
            Sort::Distance => h.distance_km.unwrap(),
            _ => -(h.payload.listing().unwrap().published_at as f64),
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{q:?} out of order");
    search.hits.len()
}

#[test]
fn every_filter_answers_as_the_sled_postings_do() {
    let (_dir, store, listings) = synthetic();
    let reference = mutua_store::refdata::reference();
    let mut total = 0;
    let mut queries = vec![
        Query::default(),
        Query {
            side: Side::Offers,
            ..Query::default()
        },
        Query {
            side: Side::Needs,
            kinds: vec![ResourceKind::Equipment, ResourceKind::Software],
            ..Query::default()
        },
        Query {
            authors: vec![
                synth::key("member", 3).public(),
                synth::key("member", 7).public(),
            ],
            ..Query::default()
        },
        Query {
            available_at: Some(NOW + 10 * DAY_SECS),
            ..Query::default()
        },
        Query {
            available_at: Some(NOW + 200 * DAY_SECS),
            ..Query::default()
        },
    ];
    for l in listings.iter().take(12) {
        let insee = l.location.insee.clone();
        queries.push(Query {
            area: Some(Area::Commune(insee.clone())),
            ..Query::default()
        });
        if let Some(e) = reference.epci_of(&insee) {
            queries.push(Query {
                area: Some(Area::Epci(e)),
                tags: l.tags.iter().take(1).cloned().collect(),
                ..Query::default()
            });
        }
        if let Some(d) = reference.departement_of(&insee) {
            queries.push(Query {
                area: Some(Area::Departement(d)),
                kinds: vec![l.kind],
                ..Query::default()
            });
        }
        if let Some(p) = l.location.point {
            queries.push(Query {
                near: Some(Near {
                    center: Center::Point(p),
                    radius_km: 40.0,
                }),
                sort: Sort::Distance,
                ..Query::default()
            });
        }
        queries.push(Query {
            near: Some(Near {
                center: Center::Commune(insee),
                radius_km: 25.0,
            }),
            available_at: Some(NOW + DAY_SECS),
            ..Query::default()
        });
        let word = mutua_store::text::query_words(&l.title).into_iter().next();
        queries.push(Query {
            text: word,
            side: Side::Offers,
            ..Query::default()
        });
    }
    for q in &queries {
        total += same_as_sled(&store, q, NOW);
    }
    assert!(total > 1000, "the queries select something: {total}");
    // Expired listings stop being served before any sweep.
    let later = NOW + 400 * DAY_SECS;
    assert!(store
        .search(&Query::default(), later)
        .unwrap()
        .hits
        .is_empty());
}

#[test]
fn replacements_withdrawals_revocations_and_sweep_reach_the_index() {
    let fed = catalogue();
    let store = &fed.store;
    let c = &fed.commune;
    store
        .apply(
            offer(c, 1, 2, |l| {
                l.title = "Broyeur à branches, version 2".into()
            }),
            NOW,
        )
        .unwrap();
    assert_eq!(
        search_titles(store, &text("broyeur")),
        ["Broyeur à branches, version 2"]
    );
    assert!(search_titles(store, &text("vegetaux")).is_empty());
    let mut w = mutua_protocol::fixtures::withdrawal(c, 2, 2);
    w.withdrawn_at = NOW;
    store.apply(sealed(c, Payload::Withdrawal(w)), NOW).unwrap();
    assert_eq!(
        search_titles(store, &text("nacelle")),
        ["Prêt de matériel de fête"]
    );
    assert_eq!(store.search_index_stats().unwrap().listings, 3);
    // Revoking the commune's certificate hides its listings at once.
    let revocation = sealed(
        &fed.anchor,
        Payload::Revocation(mutua_protocol::Revocation {
            issuer: fed.anchor.public(),
            certificate: *fed.syndicate_cert.hash(),
            reason: mutua_protocol::RevocationReason::LeftFederation,
            revoked_at: NOW,
        }),
    );
    assert!(store.apply(revocation, NOW).unwrap().outcome.is_stored());
    assert!(store
        .search(&Query::default(), NOW)
        .unwrap()
        .hits
        .is_empty());
    // The sweep removes expired listings from the index too.
    let later = NOW + 400 * DAY_SECS;
    store.sweep(later).unwrap();
    assert_eq!(store.search_index_stats().unwrap().listings, 0);
}

#[test]
fn pages_are_stable_while_records_are_applied() {
    let fed = federation();
    let c = &fed.commune;
    let batch: Vec<_> = (0..30u8)
        .map(|i| offer(c, i, 1, |l| l.published_at = NOW - 1000 + u64::from(i) / 3))
        .collect();
    fed.store.apply_batch(batch, NOW).unwrap();
    for sort in [Sort::Recency, Sort::Relevance, Sort::Distance] {
        let mut query = Query {
            limit: 7,
            sort,
            text: (sort == Sort::Relevance).then(|| "données".into()),
            near: (sort == Sort::Distance).then(|| Near {
                center: Center::Point(GeoPoint::from_degrees(44.8, -0.6)),
                radius_km: 50.0,
            }),
            ..Query::default()
        };
        let mut seen = Vec::new();
        let mut round = 0u8;
        loop {
            let page = fed.store.search(&query, NOW).unwrap();
            seen.extend(page.hits.iter().map(|h| h.slot));
            // Newer listings arrive between pages.
            fed.store
                .apply(offer(c, 100 + round, 1, |l| l.published_at = NOW - 10), NOW)
                .unwrap();
            round += 1;
            match page.next {
                Some(next) => query.cursor = Some(next.to_string().parse().unwrap()),
                None => break,
            }
        }
        let originals: BTreeSet<_> = seen
            .iter()
            .filter(|s| matches!(s, SlotKey::Listing { id, .. } if id.0[0] < 30))
            .collect();
        assert_eq!(originals.len(), 30, "{sort:?}: every original listing");
        let mut distinct = seen.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), seen.len(), "{sort:?}: each once");
        // Reset the newcomers for the next order.
        for i in 0..round {
            let mut w = mutua_protocol::fixtures::withdrawal(c, 100 + i, 2);
            w.withdrawn_at = NOW;
            fed.store
                .apply(sealed(c, Payload::Withdrawal(w)), NOW)
                .unwrap();
        }
    }
}

fn search_dir(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("store").join("search")
}

fn reopen(fed: Fed) -> Fed {
    let Fed {
        dir,
        store,
        anchor,
        syndicate,
        commune,
        syndicate_cert,
        commune_cert,
    } = fed;
    let config =
        mutua_store::StoreConfig::new(store.path(), vec![anchor.public()]).with_search_index();
    drop(store);
    Fed {
        store: Store::open(config).expect("reopen"),
        dir,
        anchor,
        syndicate,
        commune,
        syndicate_cert,
        commune_cert,
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_missing_or_damaged_index_is_rebuilt_at_open() {
    let fed = catalogue();
    let expected = search_titles(&fed.store, &Query::default());
    assert_eq!(expected.len(), 4);
    let fed = reopen(fed);
    assert_eq!(search_titles(&fed.store, &Query::default()), expected);
    let dir = search_dir(&fed.dir);
    let fed = {
        let config = mutua_store::StoreConfig::new(fed.store.path(), vec![fed.anchor.public()])
            .with_search_index();
        let Fed {
            dir: d,
            store,
            anchor,
            syndicate,
            commune,
            syndicate_cert,
            commune_cert,
        } = fed;
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
        Fed {
            store: Store::open(config).unwrap(),
            dir: d,
            anchor,
            syndicate,
            commune,
            syndicate_cert,
            commune_cert,
        }
    };
    assert_eq!(search_titles(&fed.store, &Query::default()), expected);
    assert_eq!(
        search_titles(&fed.store, &text("broyeurs")),
        ["Broyeur de végétaux"]
    );
    // Garbage in its metadata: rebuilt too.
    let config = mutua_store::StoreConfig::new(fed.store.path(), vec![fed.anchor.public()])
        .with_search_index();
    drop(fed.store);
    std::fs::write(dir.join("meta.json"), b"{ not json").unwrap();
    let store = Store::open(config).unwrap();
    assert_eq!(search_titles(&store, &Query::default()), expected);
}

#[test]
fn a_batch_in_sled_but_not_in_the_index_is_replayed_at_open() {
    let Fed {
        dir,
        store,
        anchor,
        commune: c,
        ..
    } = catalogue();
    let config =
        mutua_store::StoreConfig::new(store.path(), vec![anchor.public()]).with_search_index();
    drop(store);
    // The index as it was before the next batch: what a crash between the
    // sled flush and the tantivy commit leaves.
    let index_dir = search_dir(&dir);
    let snapshot = dir.path().join("snapshot");
    copy_dir(&index_dir, &snapshot);
    let store = Store::open(config.clone()).unwrap();
    store
        .apply_batch(
            vec![
                offer(&c, 9, 1, |l| l.title = "Tondeuse autoportée".into()),
                offer(&c, 1, 2, |l| l.title = "Broyeur remplacé".into()),
            ],
            NOW,
        )
        .unwrap();
    drop(store);
    std::fs::remove_dir_all(&index_dir).unwrap();
    copy_dir(&snapshot, &index_dir);
    let store = Store::open(config.clone()).unwrap();
    assert_eq!(
        search_titles(&store, &text("tondeuses")),
        ["Tondeuse autoportée"]
    );
    assert_eq!(
        search_titles(&store, &text("broyeur")),
        ["Broyeur remplacé"]
    );
    assert_eq!(store.search_index_stats().unwrap().listings, 5);
    // The replay is committed: a second open has nothing to do.
    drop(store);
    let store = Store::open(config).unwrap();
    assert_eq!(store.search_index_stats().unwrap().listings, 5);
}

#[test]
fn compaction_keeps_the_search_index() {
    let Fed {
        dir, store, anchor, ..
    } = catalogue();
    let path = store.path().to_owned();
    drop(store);
    let meta = std::fs::read(search_dir(&dir).join("meta.json")).unwrap();
    mutua_store::compact(&path).unwrap();
    // Moved as it was, not left behind to be rebuilt.
    assert_eq!(
        std::fs::read(search_dir(&dir).join("meta.json")).unwrap(),
        meta
    );
    let store = Store::open(
        mutua_store::StoreConfig::new(&path, vec![anchor.public()]).with_search_index(),
    )
    .unwrap();
    assert_eq!(
        search_titles(&store, &text("broyeurs")),
        ["Broyeur de végétaux"]
    );
}

#[test]
fn check_compares_both_ways_and_reindex_repairs() {
    let Fed {
        dir,
        store,
        anchor,
        commune: c,
        ..
    } = catalogue();
    assert!(store.check().unwrap().is_ok());
    let config =
        mutua_store::StoreConfig::new(store.path(), vec![anchor.public()]).with_search_index();
    drop(store);
    let index_dir = search_dir(&dir);
    let snapshot = dir.path().join("snapshot");
    copy_dir(&index_dir, &snapshot);
    let store = Store::open(config.clone()).unwrap();
    store
        .apply(
            offer(&c, 9, 1, |l| l.title = "Tondeuse autoportée".into()),
            NOW,
        )
        .unwrap();
    let seq_before = {
        drop(store);
        let db = mutua_store::open_raw_sled(&config.path).unwrap();
        let tree = db.open_tree("mutua").unwrap();
        let seq = tree.get(b"msearch_seq").unwrap().unwrap();
        // Damage: sled forgets the last batch's search sequence and journal,
        // and the index is the one from before that batch.
        let before = u64::from_be_bytes(seq.as_ref().try_into().unwrap()) - 1;
        tree.insert(b"msearch_seq", &before.to_be_bytes()).unwrap();
        for k in tree.scan_prefix(b"j").keys() {
            tree.remove(k.unwrap()).unwrap();
        }
        db.flush().unwrap();
        before
    };
    assert!(seq_before > 0);
    std::fs::remove_dir_all(&index_dir).unwrap();
    copy_dir(&snapshot, &index_dir);
    let store = Store::open(config).unwrap();
    let report = store.check().unwrap();
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
    assert!(
        report.problems[0]
            .what
            .contains("missing from the search index"),
        "{:?}",
        report.problems
    );
    store.reindex().unwrap();
    assert!(store.check().unwrap().is_ok());
    assert_eq!(
        search_titles(&store, &text("tondeuse")),
        ["Tondeuse autoportée"]
    );
}

#[test]
fn a_sweep_interrupted_before_the_index_commit_is_replayed() {
    let Fed {
        dir, store, anchor, ..
    } = catalogue();
    let config =
        mutua_store::StoreConfig::new(store.path(), vec![anchor.public()]).with_search_index();
    drop(store);
    let index_dir = search_dir(&dir);
    let snapshot = dir.path().join("snapshot");
    copy_dir(&index_dir, &snapshot);
    let store = Store::open(config.clone()).unwrap();
    let later = NOW + 400 * DAY_SECS;
    assert_eq!(store.sweep(later).unwrap().unindexed, 4);
    drop(store);
    std::fs::remove_dir_all(&index_dir).unwrap();
    copy_dir(&snapshot, &index_dir);
    let store = Store::open(config).unwrap();
    assert_eq!(store.search_index_stats().unwrap().listings, 0);
    assert!(store.check().unwrap().is_ok());
}
