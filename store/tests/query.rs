//! Queries: every filter, accents, area codes, distance, availability,
//! expiry, and pagination stability while records are applied.

mod common;

use common::{federation, offer, sealed, Fed, NOW};
use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::{GeoPoint, Payload, ResourceKind};
use mutua_store::{Area, Center, Near, Query, QueryError, Side, Sort};

fn bordeaux() -> GeoPoint {
    GeoPoint::from_degrees(44.837789, -0.57918)
}

/// Titles of the hits, in order.
fn titles(fed: &Fed, q: &Query, now: u64) -> Vec<String> {
    fed.store
        .query(q, now)
        .expect("query")
        .hits
        .into_iter()
        .map(|h| h.payload.listing().expect("a listing").title.clone())
        .collect()
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

#[test]
fn pages_are_stable_while_records_are_applied() {
    let fed = federation();
    let c = &fed.commune;
    let batch: Vec<_> = (0..30u8)
        .map(|i| offer(c, i, 1, |l| l.published_at = NOW - 1000 + u64::from(i) / 3))
        .collect();
    fed.store.apply_batch(batch, NOW).unwrap();
    let mut seen = Vec::new();
    let mut query = Query {
        limit: 7,
        ..Query::default()
    };
    let mut round = 0u8;
    loop {
        let page = fed.store.query(&query, NOW).unwrap();
        seen.extend(page.hits.iter().map(|h| h.slot));
        // Newer listings arrive between pages; they sort before the cursor.
        fed.store
            .apply(offer(c, 100 + round, 1, |l| l.published_at = NOW - 10), NOW)
            .unwrap();
        round += 1;
        match page.next {
            Some(next) => {
                // Cursors survive a round trip through text.
                query.cursor = Some(next.to_string().parse().unwrap());
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 30, "every original listing exactly once");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30);
    assert!("zz".parse::<mutua_store::Cursor>().is_err());
}

/// Packed postings are split by blocks of listing numbers: a term whose
/// listings sit on both sides of a block boundary is found, paged and kept
/// up to date across it (withdrawal, new version, sweep of nothing, reindex).
#[test]
fn term_postings_span_blocks() {
    let Fed {
        dir: _dir,
        store,
        anchor,
        commune,
        ..
    } = federation();
    let path = store.path().to_owned();
    drop(store);
    {
        // Numbers 4091… straddle the first block boundary (4096).
        let db = mutua_store::open_raw_sled(&path).unwrap();
        let tree = db.open_tree("mutua").unwrap();
        tree.insert(b"mnext_number", &4090u64.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let store =
        mutua_store::Store::open(mutua_store::StoreConfig::new(&path, vec![anchor.public()]))
            .unwrap();
    let broyeur = |i: u8, version: u64| {
        offer(&commune, i, version, |l| {
            l.title = "Broyeur de végétaux".into();
            l.tags = vec!["Voirie".into()];
            l.published_at = NOW - 100 + u64::from(i % 4) + version;
        })
    };
    store
        .apply_batch((0..12).map(|i| broyeur(i, 1)).collect(), NOW)
        .unwrap();
    let page_all = |store: &mutua_store::Store| {
        let mut query = Query {
            text: Some("vegetaux".into()),
            tags: vec!["voirie".into()],
            limit: 5,
            ..Query::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = store.query(&query, NOW).unwrap();
            seen.extend(page.hits.iter().map(|h| {
                let l = h.payload.listing().unwrap();
                (l.published_at, h.slot)
            }));
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => break seen,
            }
        }
    };
    let seen = page_all(&store);
    assert_eq!(seen.len(), 12);
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");
    // One withdrawal on each side of the boundary, one new version.
    let withdraw = |i: u8| {
        sealed(
            &commune,
            Payload::Withdrawal(mutua_protocol::fixtures::withdrawal(&commune, i, 5)),
        )
    };
    let applied = store
        .apply_batch(vec![withdraw(0), withdraw(11), broyeur(6, 2)], NOW)
        .unwrap();
    assert!(applied.iter().all(|a| a.outcome.is_stored()), "{applied:?}");
    let seen = page_all(&store);
    assert_eq!(seen.len(), 10);
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
    store.reindex().unwrap();
    assert_eq!(page_all(&store), seen);
    assert!(store.check().unwrap().is_ok());
}
