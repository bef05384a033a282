//! Queries, answered by the search index: every filter (checked against a
//! plain evaluation over synthetic listings too), accents, French stemming,
//! typo tolerance, relevance, area codes, distance, availability, expiry,
//! and pagination stability while records are applied.

mod common;

use std::collections::BTreeSet;

use common::{federation, offer, sealed, Fed, NOW};
use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::{GeoPoint, Listing, Payload, ResourceKind, SlotKey};
use mutua_store::synth::{self, Rng};
use mutua_store::{Area, Center, Near, Query, QueryError, Side, Sort, Store};

fn bordeaux() -> GeoPoint {
    GeoPoint::from_degrees(44.837789, -0.57918)
}

/// Titles of the hits, in order.
fn titles(fed: &Fed, q: &Query, now: u64) -> Vec<String> {
    titles_of(&fed.store.query(q, now).expect("query"))
}

/// The field a refused query names (it must be refused as invalid).
fn refused_field(fed: &Fed, q: &Query) -> &'static str {
    match fed.store.query(q, NOW) {
        Err(QueryError::Invalid { field, .. }) => field,
        other => panic!("{q:?} was not refused as invalid: {other:?}"),
    }
}

/// Bordeaux (point, DPO skill), Libourne (point, ~30 km, equipment), a need in
/// Périgueux serving Gironde, and one in Paris without a point.
fn catalogue() -> Fed {
    let fed = federation();
    let c = &fed.commune;
    let records = vec![
        offer(c, 1, 1, |l| l.title = "DPO mutualisé Bordeaux".into()),
        offer(c, 2, 1, |l| {
            l.title = "Matériel de sonorisation".into();
            l.kind = ResourceKind::Equipment;
            l.tags = vec!["Fêtes".into(), "Espaces Verts".into()];
            l.location.insee = "33243".into();
            l.location.point = Some(GeoPoint::from_degrees(44.915, -0.2436));
            l.area = Default::default();
            l.availability = vec![];
            l.published_at = NOW - 30;
        }),
        {
            let mut l = mutua_protocol::fixtures::listing(c, 3, 1);
            l.title = "Besoin d'un géomaticien".into();
            l.location.insee = "24322".into();
            l.location.point = None;
            l.area = mutua_protocol::ServiceArea {
                departements: vec!["33".into()],
                ..Default::default()
            };
            l.published_at = NOW - 20;
            sealed(c, Payload::Need(l))
        },
        offer(c, 4, 1, |l| {
            l.title = "Nacelle parisienne".into();
            l.kind = ResourceKind::Equipment;
            l.location.insee = "75056".into();
            l.location.point = None;
            l.area = Default::default();
            l.published_at = NOW - 10;
        }),
    ];
    for a in fed.store.apply_batch(records, NOW).unwrap() {
        assert!(a.outcome.is_stored(), "{a:?}");
    }
    fed
}

#[test]
fn text_is_case_and_accent_folded() {
    let fed = catalogue();
    let q = |t: &str| Query {
        text: Some(t.into()),
        ..Query::default()
    };
    // The fixtures carry the tag "matériel"; the sound system has it in its title.
    assert_eq!(titles(&fed, &q("materiel"), NOW).len(), 4);
    assert_eq!(
        titles(&fed, &q("MATÉRIEL Sonorisation"), NOW),
        ["Matériel de sonorisation"]
    );
    // Words of the description and of tags count too.
    assert_eq!(titles(&fed, &q("fetes"), NOW), ["Matériel de sonorisation"]);
    assert_eq!(
        titles(&fed, &q("materiel nacelle"), NOW),
        ["Nacelle parisienne"]
    );
    assert!(titles(&fed, &q("sonorisation nacelle"), NOW).is_empty());
    let tags = Query {
        tags: vec!["espaces verts".into(), "FÊTES".into()],
        ..Query::default()
    };
    assert_eq!(titles(&fed, &tags, NOW), ["Matériel de sonorisation"]);
    // Stopwords are not indexed and queries drop them, so a title typed in
    // full still matches; a text of stopwords only is refused.
    assert_eq!(
        titles(&fed, &q("Matériel de sonorisation"), NOW),
        ["Matériel de sonorisation"]
    );
    assert_eq!(refused_field(&fed, &q("de la")), "text");
    assert_eq!(refused_field(&fed, &q("à l'")), "text");
}

#[test]
fn kinds_sides_authors_and_recency() {
    let fed = catalogue();
    let all = titles(&fed, &Query::default(), NOW);
    assert_eq!(
        all,
        [
            "Nacelle parisienne",
            "Besoin d'un géomaticien",
            "Matériel de sonorisation",
            "DPO mutualisé Bordeaux"
        ]
    );
    let needs = Query {
        side: Side::Needs,
        ..Query::default()
    };
    assert_eq!(titles(&fed, &needs, NOW), ["Besoin d'un géomaticien"]);
    let equipment = Query {
        side: Side::Offers,
        kinds: vec![ResourceKind::Equipment],
        ..Query::default()
    };
    assert_eq!(
        titles(&fed, &equipment, NOW),
        ["Nacelle parisienne", "Matériel de sonorisation"]
    );
    let by_other = Query {
        authors: vec![fed.syndicate.public()],
        ..Query::default()
    };
    assert!(titles(&fed, &by_other, NOW).is_empty());
    let by_commune = Query {
        authors: vec![fed.commune.public()],
        ..Query::default()
    };
    assert_eq!(titles(&fed, &by_commune, NOW).len(), 4);
}

#[test]
fn area_codes_cover_commune_epci_departement_and_service_areas() {
    let fed = catalogue();
    let q = |area: Area| Query {
        area: Some(area),
        ..Query::default()
    };
    assert_eq!(
        titles(&fed, &q(Area::Commune("33063".into())), NOW),
        ["DPO mutualisé Bordeaux"]
    );
    // Bordeaux Métropole holds Bordeaux, not Libourne.
    assert_eq!(
        titles(&fed, &q(Area::Epci("243300316".into())), NOW),
        ["DPO mutualisé Bordeaux"]
    );
    // Gironde: located there (Bordeaux, Libourne) or serving it (Périgueux).
    assert_eq!(
        titles(&fed, &q(Area::Departement("33".into())), NOW),
        [
            "Besoin d'un géomaticien",
            "Matériel de sonorisation",
            "DPO mutualisé Bordeaux"
        ]
    );
    assert_eq!(
        titles(&fed, &q(Area::Departement("2A".into())), NOW).len(),
        0
    );
    let malformed = q(Area::Commune("3306".into()));
    assert_eq!(refused_field(&fed, &malformed), "area");
    let bad_check_digit = q(Area::Epci("123456789".into()));
    assert_eq!(refused_field(&fed, &bad_check_digit), "area");
}

/// Codes that the reference data does not know (a commune merged, or created
/// after 2026) are well-formed: records carrying them, received from peers,
/// are stored and found by them.
#[test]
fn unknown_but_well_formed_codes_are_found() {
    let fed = catalogue();
    let record = offer(&fed.commune, 9, 1, |l| {
        l.title = "Commune d'un autre millésime".into();
        l.location.insee = "33999".into();
        l.location.point = None;
        l.area = mutua_protocol::ServiceArea {
            epcis: vec!["123456782".into()],
            ..Default::default()
        };
    });
    assert!(fed.store.apply(record, NOW).unwrap().outcome.is_stored());
    let q = |area: Area| Query {
        area: Some(area),
        ..Query::default()
    };
    let wanted = ["Commune d'un autre millésime"];
    assert_eq!(titles(&fed, &q(Area::Commune("33999".into())), NOW), wanted);
    assert_eq!(
        titles(&fed, &q(Area::Epci("123456782".into())), NOW),
        wanted
    );
    // Its département comes from the shape of the code.
    assert!(titles(&fed, &q(Area::Departement("33".into())), NOW).contains(&wanted[0].into()));
    assert!(titles(&fed, &q(Area::Departement("977".into())), NOW).is_empty());
}

#[test]
fn distance_filter_sort_and_commune_centres() {
    let fed = catalogue();
    let near = |center: Center, radius_km: f64, sort: Sort| Query {
        near: Some(Near { center, radius_km }),
        sort,
        ..Query::default()
    };
    let page = fed
        .store
        .query(&near(Center::Point(bordeaux()), 40.0, Sort::Distance), NOW)
        .unwrap();
    let got: Vec<(String, f64)> = page
        .hits
        .iter()
        .map(|h| {
            (
                h.payload.listing().unwrap().title.clone(),
                h.distance_km.unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, "DPO mutualisé Bordeaux");
    assert!(
        got[0].1 < 0.01 && (25.0..35.0).contains(&got[1].1),
        "{got:?}"
    );
    assert_eq!(
        titles(
            &fed,
            &near(Center::Point(bordeaux()), 10.0, Sort::Recency),
            NOW
        )
        .len(),
        1
    );
    // Bordeaux's reference point.
    let from_commune = titles(
        &fed,
        &near(Center::Commune("33063".into()), 40.0, Sort::Distance),
        NOW,
    );
    assert_eq!(
        from_commune,
        ["DPO mutualisé Bordeaux", "Matériel de sonorisation"]
    );
    // Listings without a point are placed at their commune's reference point.
    assert_eq!(
        titles(
            &fed,
            &near(Center::Commune("75056".into()), 5.0, Sort::Recency),
            NOW
        ),
        ["Nacelle parisienne"]
    );
    let perigueux = fed
        .store
        .query(
            &near(
                Center::Point(GeoPoint::from_degrees(45.19, 0.71)),
                5.0,
                Sort::Distance,
            ),
            NOW,
        )
        .unwrap();
    assert_eq!(perigueux.hits.len(), 1);
    assert!(perigueux.hits[0].distance_km.unwrap() < 5.0);
    // The signed record is unchanged: still without a point.
    let l = perigueux.hits[0].payload.listing().unwrap();
    assert_eq!(
        (l.location.insee.as_str(), l.location.point),
        ("24322", None)
    );
    // Papeete is in the reference data, without a position.
    let near_commune = |insee: &str| {
        let q = near(Center::Commune(insee.into()), 5.0, Sort::Recency);
        fed.store.query(&q, NOW).expect_err("refused")
    };
    let papeete = near_commune("98735");
    assert!(
        matches!(papeete, QueryError::NoCoordinates { .. }),
        "{papeete}"
    );
    let unknown = near_commune("33999");
    assert!(
        matches!(unknown, QueryError::UnknownArea { .. }),
        "{unknown}"
    );
    let no_radius = near(Center::Point(bordeaux()), 0.0, Sort::Recency);
    assert_eq!(refused_field(&fed, &no_radius), "near.radius_km");
    let no_centre = Query {
        sort: Sort::Distance,
        ..Query::default()
    };
    assert_eq!(refused_field(&fed, &no_centre), "sort");
}

#[test]
fn availability_and_combined_filters() {
    let fed = catalogue();
    // Fixture listings are available for 90 days; "Matériel" any time.
    let later = Query {
        available_at: Some(NOW + 100 * DAY_SECS),
        ..Query::default()
    };
    assert_eq!(titles(&fed, &later, NOW), ["Matériel de sonorisation"]);
    let combined = Query {
        side: Side::Offers,
        kinds: vec![ResourceKind::Equipment],
        area: Some(Area::Departement("33".into())),
        text: Some("sonorisation".into()),
        near: Some(Near {
            center: Center::Point(bordeaux()),
            radius_km: 50.0,
        }),
        available_at: Some(NOW + DAY_SECS),
        ..Query::default()
    };
    assert_eq!(titles(&fed, &combined, NOW), ["Matériel de sonorisation"]);
}

#[test]
fn expired_listings_stop_being_served_before_the_sweep() {
    let fed = catalogue();
    let expiry = mutua_protocol::fixtures::listing(&fed.commune, 1, 1).expires_at;
    assert_eq!(titles(&fed, &Query::default(), expiry - 1).len(), 4);
    assert!(titles(&fed, &Query::default(), expiry).is_empty());
    let report = fed.store.sweep(expiry).unwrap();
    assert_eq!((report.unindexed, report.forgotten), (4, 0));
    let check = fed.store.check().unwrap();
    assert!(check.is_ok(), "{:#?}", check.problems);
    assert_eq!(check.indexed_listings, 0);
    // Still in the synced set until their forget time.
    assert_eq!(fed.store.stats().unwrap().total, 6);
}

fn titles_of(page: &mutua_store::QueryPage) -> Vec<String> {
    page.hits
        .iter()
        .map(|h| h.payload.listing().expect("a listing").title.clone())
        .collect()
}

fn search_titles(store: &Store, q: &Query) -> Vec<String> {
    titles_of(&store.query(q, NOW).expect("query"))
}

fn text(t: &str) -> Query {
    Query {
        text: Some(t.into()),
        ..Query::default()
    }
}

/// A federation with a few French listings.
fn french_catalogue() -> Fed {
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
    let fed = french_catalogue();
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
    // Stopwords only: refused, naming the field.
    assert!(matches!(
        store.query(&text("de la"), NOW),
        Err(QueryError::Invalid { field: "text", .. })
    ));
}

#[test]
fn typo_tolerance_only_when_exact_terms_find_nothing() {
    let fed = french_catalogue();
    let store = &fed.store;
    let outcome = store.query_detailed(&text("broyuer"), NOW).unwrap();
    assert!(outcome.fuzzy);
    assert_eq!(titles_of(&outcome.page), ["Broyeur de végétaux"]);
    let outcome = store.query_detailed(&text("elaugueur"), NOW).unwrap();
    assert!(outcome.fuzzy);
    assert_eq!(
        titles_of(&outcome.page),
        ["Recherche ÉLAGUEUR pour une branche"]
    );
    // A dropped double letter often stems alike: found exactly.
    assert_eq!(store.query(&text("nacele"), NOW).unwrap().hits.len(), 2);
    // Exact terms found something: no typo tolerance.
    let outcome = store.query_detailed(&text("nacelle"), NOW).unwrap();
    assert!(!outcome.fuzzy);
    // Short words get none ("tble" is four letters, one edit from "table").
    let outcome = store.query_detailed(&text("tble"), NOW).unwrap();
    assert!(!outcome.fuzzy && outcome.page.hits.is_empty());
    // Two edits are too many.
    assert!(store.query(&text("brouyuer"), NOW).unwrap().hits.is_empty());
}

#[test]
fn relevance_ranks_by_bm25_then_recency() {
    let fed = french_catalogue();
    let q = Query {
        sort: Sort::Relevance,
        ..text("nacelle")
    };
    // Title, tag and description twice beat one word in a description.
    assert_eq!(
        search_titles(&fed.store, &q),
        ["Nacelle élévatrice", "Prêt de matériel de fête"]
    );
    // Relevance needs text.
    let no_text = Query {
        sort: Sort::Relevance,
        ..Query::default()
    };
    assert!(matches!(
        fed.store.query(&no_text, NOW),
        Err(QueryError::Invalid { field: "sort", .. })
    ));
    // Pages of relevance: every hit once, in the same order.
    let mut paged = Vec::new();
    let mut q = Query { limit: 1, ..q };
    loop {
        let page = fed.store.query(&q, NOW).unwrap();
        paged.extend(titles_of(&page));
        match page.next {
            Some(next) => q.cursor = Some(next.to_string().parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(paged, ["Nacelle élévatrice", "Prêt de matériel de fête"]);
}

/// A synthetic federation: 400 listings by 40 members, 70% with a point.
fn synthetic() -> (tempfile::TempDir, Store, Vec<(Side, Listing)>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(synth::store_config(dir.path().join("store"))).unwrap();
    store
        .apply_batch(synth::member_certificates(0..40, NOW), NOW)
        .unwrap();
    let mut rng = Rng::new(5);
    let records: Vec<_> = (0..400)
        .map(|id| synth::sealed_listing(&synth::key("member", id % 40), id, 1, NOW, &mut rng))
        .collect();
    let listings = records
        .iter()
        .map(|r| match r.payload() {
            Payload::Offer(l) => (Side::Offers, l.clone()),
            Payload::Need(l) => (Side::Needs, l.clone()),
            other => panic!("not a listing: {other:?}"),
        })
        .collect();
    for a in store.apply_batch(records, NOW).unwrap() {
        assert!(a.outcome.is_stored());
    }
    (dir, store, listings)
}

/// What a query should select, evaluated plainly over the listings (text
/// aside: stemming is the index's).
fn expected(q: &Query, listings: &[(Side, Listing)], now: u64) -> BTreeSet<SlotKey> {
    let reference = mutua_store::refdata::reference();
    let fold = mutua_store::text::fold_tag;
    listings
        .iter()
        .filter(|(_, l)| l.expires_at > now)
        .filter(|(side, _)| q.side == Side::Both || q.side == *side)
        .map(|(_, l)| l)
        .filter(|l| q.kinds.is_empty() || q.kinds.contains(&l.kind))
        .filter(|l| q.authors.is_empty() || q.authors.contains(&l.author))
        .filter(|l| {
            q.tags
                .iter()
                .all(|t| l.tags.iter().any(|lt| fold(lt) == fold(t)))
        })
        .filter(|l| {
            q.available_at.is_none_or(|t| {
                t < l.expires_at
                    && (l.availability.is_empty()
                        || l.availability.iter().any(|w| w.from <= t && t < w.until))
            })
        })
        .filter(|l| {
            let at = &l.location.insee;
            match &q.area {
                None => true,
                Some(Area::Commune(c)) => at == c || l.area.communes.contains(c),
                Some(Area::Epci(e)) => {
                    reference.epci_of(at).as_ref() == Some(e) || l.area.epcis.contains(e)
                }
                Some(Area::Departement(d)) => {
                    reference.departement_of(at).as_ref() == Some(d)
                        || l.area.departements.contains(d)
                }
            }
        })
        .filter(|l| match &q.near {
            None => true,
            Some(near) => {
                let center = match &near.center {
                    Center::Point(p) => *p,
                    Center::Commune(c) => reference.position_of(c).unwrap(),
                };
                let point = l
                    .location
                    .point
                    .or_else(|| reference.position_of(&l.location.insee));
                point.is_some_and(|p| center.distance_km(&p) <= near.radius_km)
            }
        })
        .map(|l| SlotKey::Listing {
            author: l.author,
            id: l.id,
        })
        .collect()
}

fn slots(page: &mutua_store::QueryPage) -> BTreeSet<SlotKey> {
    page.hits.iter().map(|h| h.slot).collect()
}

/// The index selects what [`expected`] does (text: at least the listings
/// whose title has the word, and only listings the other filters select),
/// ordered as asked.
fn same_as_plain(store: &Store, q: &Query, listings: &[(Side, Listing)]) -> usize {
    let q = Query {
        limit: 500,
        ..q.clone()
    };
    let page = store.query(&q, NOW).unwrap();
    assert!(page.next.is_none(), "{q:?}");
    let found = slots(&page);
    let selected = expected(&q, listings, NOW);
    match &q.text {
        Some(word) => {
            assert!(found.is_subset(&selected), "{q:?}");
            let folded = mutua_store::text::fold(word);
            let with_word: Vec<_> = listings
                .iter()
                .filter(|(_, l)| {
                    mutua_store::text::fold(&l.title)
                        .split(|c: char| !c.is_alphanumeric())
                        .any(|w| w == folded)
                })
                .map(|(_, l)| SlotKey::Listing {
                    author: l.author,
                    id: l.id,
                })
                .filter(|s| selected.contains(s))
                .collect();
            assert!(with_word.iter().all(|s| found.contains(s)), "{q:?}");
        }
        None => assert_eq!(found, selected, "{q:?}"),
    }
    let keys: Vec<f64> = page
        .hits
        .iter()
        .map(|h| match q.sort {
            Sort::Distance => h.distance_km.unwrap(),
            _ => -(h.payload.listing().unwrap().published_at as f64),
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{q:?} out of order");
    page.hits.len()
}

#[test]
fn every_filter_selects_what_a_plain_evaluation_does() {
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
    for (_, l) in listings.iter().take(12) {
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
        total += same_as_plain(&store, q, &listings);
    }
    assert!(total > 1000, "the queries select something: {total}");
    // Expired listings stop being served before any sweep.
    let later = NOW + 400 * DAY_SECS;
    assert!(store
        .query(&Query::default(), later)
        .unwrap()
        .hits
        .is_empty());
}

#[test]
fn replacements_withdrawals_revocations_and_sweep_reach_the_index() {
    let fed = french_catalogue();
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
    assert_eq!(store.search_index_stats().listings, 3);
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
    assert!(store.query(&Query::default(), NOW).unwrap().hits.is_empty());
    // The sweep removes expired listings from the index too.
    let later = NOW + 400 * DAY_SECS;
    store.sweep(later).unwrap();
    assert_eq!(store.search_index_stats().listings, 0);
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
            let page = fed.store.query(&query, NOW).unwrap();
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
        assert!("zz".parse::<mutua_store::Cursor>().is_err());
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
