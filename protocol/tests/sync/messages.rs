//! The codec of sync messages: the documented CBOR layout, and the
//! refusal, with a typed error, of anything malformed or over a limit.

use mutua_protocol::model::*;
use mutua_protocol::sync::*;
use serde_bytes::ByteBuf;

#[test]
fn oversized_messages_are_refused_before_decoding() {
    let huge = vec![0u8; MAX_MESSAGE_BYTES + 1];
    assert_eq!(
        decode_request(&huge),
        Err(MessageError::TooLarge {
            size: MAX_MESSAGE_BYTES + 1,
            max: MAX_MESSAGE_BYTES
        })
    );
    assert!(matches!(
        decode_response(&huge),
        Err(MessageError::TooLarge { .. })
    ));
}

#[test]
fn garbage_is_refused_with_a_typed_error() {
    let request = Request {
        queries: vec![Query::Fetch(SyncRange::ROOT, None)],
        push: vec![ByteBuf::from(vec![1, 2, 3])],
    };
    let good = encode_request(&request);
    assert_eq!(decode_request(&good), Ok(request));
    let mut trailing = good.clone();
    trailing.push(0);
    for bytes in [
        &b""[..],
        b"\xff\xff",
        &good[..good.len() - 1],
        &trailing,
        b"\xa2\x00\x80\x01\x81\xf9\x00\x00",
    ] {
        assert!(
            matches!(decode_request(bytes), Err(MessageError::Malformed { .. })),
            "{bytes:02x?}"
        );
        assert!(matches!(
            decode_response(bytes),
            Err(MessageError::Malformed { .. })
        ));
    }
    // A deep nest of arrays is refused, not a stack overflow.
    let nested = [vec![0x81u8; 10_000], vec![0x00]].concat();
    assert!(matches!(
        decode_request(&nested),
        Err(MessageError::Malformed { .. })
    ));
}

/// CBOR of a request `{0: queries, 1: push}` with hand-made queries.
fn raw_request(queries: &[Vec<u8>], push: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0xa2, 0x00];
    out.extend(cbor_array_header(queries.len()));
    for q in queries {
        out.extend(q);
    }
    out.push(0x01);
    out.extend(cbor_array_header(push.len()));
    for p in push {
        out.extend(cbor_bytes_header(p.len()));
        out.extend(p);
    }
    out
}

fn cbor_array_header(len: usize) -> Vec<u8> {
    cbor_header(4, len)
}

fn cbor_bytes_header(len: usize) -> Vec<u8> {
    cbor_header(2, len)
}

fn cbor_header(major: u8, len: usize) -> Vec<u8> {
    match len {
        0..=23 => vec![major << 5 | len as u8],
        24..=0xff => vec![major << 5 | 24, len as u8],
        0x100..=0xffff => [vec![major << 5 | 25], (len as u16).to_be_bytes().to_vec()].concat(),
        _ => [vec![major << 5 | 26], (len as u32).to_be_bytes().to_vec()].concat(),
    }
}

/// `[3, bits, prefix, null]`: a fetch of the range.
fn fetch_query(bits: u8, prefix: &[u8]) -> Vec<u8> {
    let mut q = vec![0x84, 0x03];
    q.extend(cbor_header(0, usize::from(bits)));
    q.extend(cbor_bytes_header(prefix.len()));
    q.extend(prefix);
    q.push(0xf6);
    q
}

#[test]
fn encoding_matches_the_documented_layout() {
    let good = raw_request(&[fetch_query(4, &[0xa0])], &[vec![7; 3]]);
    let request = decode_request(&good).unwrap();
    assert_eq!(encode_request(&request), good);
    let Query::Fetch(range, None) = &request.queries[0] else {
        panic!("{request:?}")
    };
    assert_eq!((range.bits(), range.start().0[0]), (4, 0xa0));
    assert_eq!(request.push, vec![ByteBuf::from(vec![7; 3])]);

    // `[0, 10, h'c140', 300, h'tag']`: a fingerprint, range and summary
    // inline.
    let fingerprint_query = [
        &[0x85, 0x00, 0x0a, 0x42, 0xc1, 0x40, 0x19, 0x01, 0x2c, 0x50][..],
        &[9; 16],
    ]
    .concat();
    // `[1, 0, h'', [h'slot tag || id', rank, ...]]`: an ids query, its
    // entries one flat array; version 7, a withdrawal: rank 2 × 7 + 1.
    let ids_query = [
        &[0x84, 0x01, 0x00, 0x40, 0x84, 0x50][..],
        &[2; 8],
        &[1; 8],
        &[0x0f, 0x50],
        &[3; 8],
        &[4; 8],
        &[0x18, 0x18],
    ]
    .concat();
    // `[2, 0, h'', h'tag || tag']`: a want, its tags one byte string.
    let want_query = [&[0x84, 0x02, 0x00, 0x40, 0x50][..], &[2; 8], &[3; 8]].concat();
    let good = raw_request(&[fingerprint_query, ids_query, want_query], &[]);
    let request = decode_request(&good).unwrap();
    assert_eq!(encode_request(&request), good);
    let entry = |slot: u8, id: u8, version: u64, withdrawal: bool| Entry {
        slot: FixedBytes([slot; 8]),
        id: FixedBytes([id; 8]),
        rank: SlotRank {
            version,
            withdrawal,
        }
        .code(),
    };
    let mut key = [0; 32];
    key[..2].copy_from_slice(&[0xc1, 0x40]);
    assert_eq!(
        request.queries,
        vec![
            Query::Fingerprint(
                SyncRange::new(&SyncKey(key), 10).unwrap(),
                Summary {
                    count: 300,
                    tag: FixedBytes([9; 16])
                }
            ),
            Query::Ids(
                SyncRange::ROOT,
                vec![entry(2, 1, 7, true), entry(3, 4, 12, false)]
            ),
            Query::Want(
                SyncRange::ROOT,
                vec![FixedBytes([2; 8]), FixedBytes([3; 8])]
            ),
        ]
    );

    // `{0: [[1, 5, h'..', 0, h'..', 0, h'..', 0, h'..'], [2, [h'..', 2]],
    // [3, h'', h'tag'], [4, true, null], 0], 1: []}`: a split (its four
    // summaries inline), an ids answer, a diff (nothing wanted, one tag
    // unsent), a fetched and an equal (a bare 0).
    let mut split = vec![0x89, 0x01];
    for count in [5u8, 0, 0, 0] {
        split.extend([count, 0x50]);
        split.extend([count; 16]);
    }
    let good = [
        &[0xa2, 0x00, 0x85][..],
        &split,
        &[0x82, 0x02, 0x82, 0x50],
        &[5; 8],
        &[6; 8],
        &[0x02, 0x83, 0x03, 0x40, 0x48],
        &[7; 8],
        &[0x83, 0x04, 0xf5, 0xf6],
        &[0x00, 0x01, 0x80],
    ]
    .concat();
    let response = decode_response(&good).unwrap();
    assert_eq!(encode_response(&response), good);
    let summary = |count: u8| Summary {
        count: count.into(),
        tag: FixedBytes([count; 16]),
    };
    assert_eq!(
        response.answers,
        vec![
            Answer::Split(vec![summary(5), summary(0), summary(0), summary(0)]),
            Answer::Ids(vec![entry(5, 6, 1, false)]),
            Answer::Diff(vec![], vec![FixedBytes([7; 8])]),
            Answer::Fetched(true, None),
            Answer::Equal,
        ]
    );

    // An entry without its rank, a tag string of 7 bytes, a key of 15, a
    // fingerprint without its tag, a fetch with an extra item, an unknown
    // variant.
    let truncated = [&[0x84, 0x01, 0x00, 0x40, 0x81, 0x50][..], &[0; 16]].concat();
    let short_tags = [&[0x84, 0x02, 0x00, 0x40, 0x47][..], &[0; 7]].concat();
    let short_key = [&[0x84, 0x01, 0x00, 0x40, 0x82, 0x4f][..], &[0; 15], &[0x02]].concat();
    let no_tag = vec![0x84, 0x00, 0x00, 0x40, 0x01];
    let extra = vec![0x85, 0x03, 0x00, 0x40, 0xf6, 0x00];
    let unknown = vec![0x84, 0x07, 0x00, 0x40, 0xf6];
    for query in [truncated, short_tags, short_key, no_tag, extra, unknown] {
        assert!(
            matches!(
                decode_request(&raw_request(std::slice::from_ref(&query), &[])),
                Err(MessageError::Malformed { .. })
            ),
            "{query:02x?}"
        );
    }
    // A bare integer other than 0, a split with a count but no tag.
    for answer in [vec![0x01], vec![0x82, 0x01, 0x05]] {
        let bytes = [&[0xa2, 0x00, 0x81][..], &answer, &[0x01, 0x80]].concat();
        assert!(
            matches!(decode_response(&bytes), Err(MessageError::Malformed { .. })),
            "{answer:02x?}"
        );
    }
}

#[test]
fn ranks_are_coded_in_the_merge_order() {
    let ranks = [
        (1, false),
        (1, true),
        (2, false),
        (11, true),
        (u64::MAX / 2, false),
        (u64::MAX / 2, true),
    ]
    .map(|(version, withdrawal)| SlotRank {
        version,
        withdrawal,
    });
    assert!(ranks.windows(2).all(|pair| pair[0] < pair[1]));
    let codes = ranks.map(SlotRank::code);
    assert!(codes.windows(2).all(|pair| pair[0] < pair[1]), "{codes:?}");
    assert_eq!(codes[..4], [2, 3, 4, 23]);
    assert_eq!(codes[5], u64::MAX);
    // Versions from 2^63 on saturate: equal codes, so both records travel.
    let huge = SlotRank {
        version: u64::MAX,
        withdrawal: false,
    };
    assert_eq!(huge.code(), u64::MAX);
    assert_eq!(SlotRank::default().code(), 0);
}

#[test]
fn limits_are_enforced_on_decode() {
    let too_many = vec![fetch_query(0, &[]); MAX_QUERIES + 1];
    assert!(matches!(
        decode_request(&raw_request(&too_many, &[])),
        Err(MessageError::TooMany {
            field: "queries",
            ..
        })
    ));
    let big_record = vec![0u8; mutua_protocol::codec::MAX_RECORD_BYTES + 1];
    assert!(matches!(
        decode_request(&raw_request(&[], &[big_record])),
        Err(MessageError::RecordTooLarge { .. })
    ));
    let many_records = vec![vec![]; MAX_RECORDS_PER_MESSAGE + 1];
    assert!(matches!(
        decode_request(&raw_request(&[], &many_records)),
        Err(MessageError::TooMany {
            field: "records",
            ..
        })
    ));
    // Ranges: odd bit counts, prefixes of the wrong length, stray bits.
    for (bits, prefix) in [
        (3, vec![0xa0]),
        (4, vec![]),
        (4, vec![0xa0, 0]),
        (4, vec![0xa8]),
        (130, vec![0; 17]),
    ] {
        let bytes = raw_request(&[fetch_query(bits, &prefix)], &[]);
        assert!(
            matches!(decode_request(&bytes), Err(MessageError::Malformed { .. })),
            "{bits} bits, prefix {prefix:02x?}"
        );
    }
    let entry = Entry {
        slot: FixedBytes([0; 8]),
        id: FixedBytes([0; 8]),
        rank: 0,
    };
    let too_many_tags = vec![FixedBytes([0; 8]); MAX_IDS + 1];
    let outside = Query::Fetch(
        SyncRange::ROOT.children().unwrap()[0],
        Some(SyncKey([0xff; 32])),
    );
    assert!(matches!(
        refusal_of_request(Query::Ids(SyncRange::ROOT, vec![entry; MAX_IDS + 1])),
        MessageError::TooMany { field: "ids", .. }
    ));
    assert!(matches!(
        refusal_of_request(Query::Want(SyncRange::ROOT, too_many_tags.clone())),
        MessageError::TooMany { field: "slots", .. }
    ));
    assert!(matches!(
        refusal_of_request(outside),
        MessageError::CursorOutsideRange { .. }
    ));
    let three_children = (0..3)
        .map(|_| Summary {
            count: 1,
            tag: FixedBytes([0; 16]),
        })
        .collect();
    assert_eq!(
        refusal_of_response(Answer::Split(three_children)),
        MessageError::BadSplit { count: 3 }
    );
    assert!(matches!(
        refusal_of_response(Answer::Diff(vec![], too_many_tags)),
        MessageError::TooMany { field: "slots", .. }
    ));
}

/// Why a request of this one query, encoded, does not decode.
fn refusal_of_request(query: Query) -> MessageError {
    let request = Request {
        queries: vec![query],
        push: vec![],
    };
    decode_request(&encode_request(&request)).expect_err("over a limit")
}

/// Why a response of this one answer, encoded, does not decode.
fn refusal_of_response(answer: Answer) -> MessageError {
    let response = Response {
        answers: vec![answer],
        records: vec![],
    };
    decode_response(&encode_response(&response)).expect_err("over a limit")
}
