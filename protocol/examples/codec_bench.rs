//! Throughput of the receive path on realistic records, measured side by
//! side in one run: bare `verify_strict`, decoding (envelope and payload,
//! with the structural scan and the canonical check), and full validation
//! (`mutua_protocol::validate`), over the same records.
//!
//! cargo run --release -p mutua-protocol --example codec_bench --features fixtures
//!
//! Single-threaded. The machine is shared, so each measurement is repeated
//! in interleaved rounds: rates are the best round's, and the ratio is the
//! median of the per-round ratios (validate and verify measured back to back).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, VerifyingKey};
use mutua_protocol::codec::{decode_envelope, decode_payload, signing_input};
use mutua_protocol::fixtures::{key, listing, FIXTURE_NOW};
use mutua_protocol::{seal, validate, Payload, Window};
use rand::{rngs::StdRng, Rng, SeedableRng};

const RECORDS: usize = 1_000;
const ROUNDS: usize = 9;

const SENTENCES: [&str; 6] = [
    "La commune met à disposition sa nacelle élévatrice avec un agent habilité, sur réservation. ",
    "Le matériel est contrôlé chaque année ; le transport reste à la charge de l'emprunteur. ",
    "Une convention de mise à disposition est signée entre les deux collectivités avant le prêt. ",
    "Notre DPO accompagne la tenue du registre, les analyses d'impact et la sensibilisation. ",
    "Créneaux possibles en semaine, hors périodes de marchés et de fêtes locales.\n",
    "Contact préalable souhaité au moins quinze jours avant la date envisagée. ",
];

/// Offers and needs from 20 authors, with envelopes spread over 1–4 KB.
fn records() -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(2026);
    let authors: Vec<_> = (10..30).map(key).collect();
    (0..RECORDS)
        .map(|i| {
            let author = &authors[i % authors.len()];
            let mut l = listing(author, (i % 251) as u8, 1 + (i / 251) as u64);
            l.area.communes = (0..rng.gen_range(0..20))
                .map(|_| format!("33{:03}", rng.gen_range(1..550)))
                .collect();
            l.area.communes.sort();
            l.area.communes.dedup();
            l.availability = (0..rng.gen_range(0..4u64))
                .map(|w| Window {
                    from: FIXTURE_NOW + w * 7 * 86_400,
                    until: FIXTURE_NOW + (w * 7 + 2) * 86_400,
                })
                .collect();
            let target = rng.gen_range(1_000..4_000usize);
            let base = seal(author, &Payload::Offer(l.clone()))
                .unwrap()
                .bytes()
                .len()
                - l.description.len();
            let mut description = String::new();
            while description.len() + base < target {
                description.push_str(SENTENCES[rng.gen_range(0..SENTENCES.len())]);
            }
            while description.len() + base > target || description.len() > 4_000 {
                description.pop();
            }
            l.description = description.trim_end().to_owned();
            let payload = if i % 3 == 0 {
                Payload::Need(l)
            } else {
                Payload::Offer(l)
            };
            seal(author, &payload).expect("valid record").into_bytes()
        })
        .collect()
}

/// Records per second of the best of the rounds given.
fn best(rounds: &[Duration]) -> f64 {
    let fastest = rounds.iter().min().expect("rounds");
    RECORDS as f64 / fastest.as_secs_f64()
}

fn timed(mut work: impl FnMut()) -> Duration {
    let start = Instant::now();
    work();
    start.elapsed()
}

fn main() {
    let records = records();
    let sizes: Vec<usize> = records.iter().map(Vec::len).collect();
    // What verify_strict needs, prepared outside the timed loop.
    let prepared: Vec<(VerifyingKey, Vec<u8>, Signature)> = records
        .iter()
        .map(|r| {
            let (signer, payload, signature) = decode_envelope(r).unwrap();
            let key = VerifyingKey::from_bytes(signer.as_bytes()).unwrap();
            (
                key,
                signing_input(payload),
                Signature::from_bytes(&signature),
            )
        })
        .collect();
    let payloads: Vec<&[u8]> = records
        .iter()
        .map(|r| decode_envelope(r).unwrap().1)
        .collect();

    let (mut verify, mut decode, mut serde_only, mut full) = (vec![], vec![], vec![], vec![]);
    let (mut keys, mut hashes, mut rules) = (vec![], vec![], vec![]);
    let opened: Vec<_> = records
        .iter()
        .map(|r| validate(r, FIXTURE_NOW).unwrap())
        .collect();
    for _ in 0..ROUNDS {
        verify.push(timed(|| {
            for (key, message, signature) in &prepared {
                black_box(key.verify_strict(black_box(message), signature)).unwrap();
            }
        }));
        full.push(timed(|| {
            for r in &records {
                black_box(validate(black_box(r), FIXTURE_NOW).unwrap());
            }
        }));
        decode.push(timed(|| {
            for r in &records {
                let (_, payload, _) = decode_envelope(black_box(r)).unwrap();
                black_box(decode_payload(payload).unwrap());
            }
        }));
        serde_only.push(timed(|| {
            for p in &payloads {
                black_box(serde_cbor::from_slice::<Payload>(black_box(p)).unwrap());
            }
        }));
        keys.push(timed(|| {
            for (key, _, _) in &prepared {
                black_box(VerifyingKey::from_bytes(black_box(key.as_bytes())).unwrap());
            }
        }));
        hashes.push(timed(|| {
            for r in &records {
                black_box(mutua_protocol::codec::hash_envelope(black_box(r)));
            }
        }));
        rules.push(timed(|| {
            for r in &opened {
                black_box(mutua_protocol::rules::check_fields(black_box(r.payload()))).unwrap();
            }
        }));
    }
    let mut ratios: Vec<f64> = full
        .iter()
        .zip(&verify)
        .map(|(v, s)| v.as_secs_f64() / s.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    let (verify, decode, serde_only, full) =
        (best(&verify), best(&decode), best(&serde_only), best(&full));
    println!(
        "{RECORDS} records, envelope bytes min {} / mean {} / max {}; best of {ROUNDS} interleaved rounds, one thread",
        sizes.iter().min().unwrap(),
        sizes.iter().sum::<usize>() / sizes.len(),
        sizes.iter().max().unwrap()
    );
    println!("verify_strict (prepared key and message) {verify:>10.0} /s");
    println!("decode (envelope + scan + serde + canonical check) {decode:>10.0} /s");
    println!("  of which serde_cbor::from_slice alone {serde_only:>10.0} /s");
    println!("  key decompression alone {:>10.0} /s", best(&keys));
    println!("  SHA-256 of the envelope alone {:>10.0} /s", best(&hashes));
    println!("  field rules alone {:>10.0} /s", best(&rules));
    println!("validate (decode + rules + verify_strict + time) {full:>10.0} /s");
    println!(
        "ratio validate / verify_strict, time per record: {ratio:.2} (median of rounds; best rounds give {:.2})",
        verify / full
    );
}
