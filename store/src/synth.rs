//! Realistic synthetic federations and listings, with real signatures, for
//! the crash test, the benchmark and tests (feature `synth`, which the
//! store's own tests enable). Deterministic: the same seed gives the same
//! records.

use std::ops::Range;
use std::path::PathBuf;

use mutua_protocol::rules::DAY_SECS;
use mutua_protocol::{
    seal, BodyKind, Certificate, Contact, FixedBytes, GeoPoint, Listing, Location, Payload,
    Pricing, ResourceKind, SecretKey, ServiceArea, SignedRecord, Terms, Timestamp, Window,
    Withdrawal,
};
use sha2::{Digest, Sha256};

use crate::refdata::reference;
use crate::StoreConfig;

/// 2026-11-28T00:00:00Z, the same "now" as the protocol's fixtures.
pub const NOW: Timestamp = 1_795_824_000;

/// splitmix64: small, fast, deterministic; not for secrets.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A key derived from a label and a number (test keys only).
pub fn key(label: &str, i: u64) -> SecretKey {
    let seed = Sha256::new()
        .chain_update(b"mutua-synth-key:")
        .chain_update(label.as_bytes())
        .chain_update(i.to_be_bytes())
        .finalize();
    SecretKey::from_seed(seed.into())
}

/// A commune of the reference data, from any number. Saint-Barthélemy and
/// Saint-Martin (977, 978) are skipped: the protocol's INSEE syntax refuses them.
pub fn commune(n: u64) -> String {
    let reference = reference();
    (0..reference.commune_count())
        .map(|i| reference.commune_at((n as usize).wrapping_add(i) % reference.commune_count()))
        .find(|c| mutua_protocol::codes::is_valid_insee(c))
        .expect("the reference data has valid communes")
}

/// A size knob of the tests and benchmarks that use synthetic data: the
/// environment variable `name` read as a number, or `default` when it is
/// unset or not a number.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The anchor of synthetic federations.
pub fn anchor() -> SecretKey {
    key("anchor", 0)
}

/// A store at `path` whose one anchor is [`anchor`]: it admits every
/// synthetic member.
pub fn store_config(path: impl Into<PathBuf>) -> StoreConfig {
    StoreConfig::new(path, vec![anchor().public()])
}

/// The certificates of synthetic members `members`, in order
/// ([`member_certificate`]).
pub fn member_certificates(members: Range<u64>, now: Timestamp) -> Vec<SignedRecord> {
    members.map(|i| member_certificate(i, now)).collect()
}

/// A certificate by the anchor for synthetic member `i`, valid two years
/// around `now`.
pub fn member_certificate(i: u64, now: Timestamp) -> SignedRecord {
    let anchor = anchor();
    let insee = commune(i * 7919);
    let cert = Certificate {
        issuer: anchor.public(),
        subject: key("member", i).public(),
        siren: "213300635".into(),
        name: format!("Commune {insee}"),
        body: BodyKind::Commune,
        insee: Some(insee),
        may_admit: false,
        issued_at: now - DAY_SECS,
        valid_from: now - DAY_SECS,
        valid_until: now + 700 * DAY_SECS,
    };
    seal(&anchor, &Payload::Certificate(cert)).expect("synthetic certificates are valid")
}

const EQUIPMENT: [&str; 12] = [
    "Broyeur de végétaux",
    "Nacelle élévatrice 12 m",
    "Podium démontable",
    "Barrières de sécurité",
    "Imprimante 3D",
    "Capteurs de qualité de l'air",
    "Désherbeur thermique",
    "Tente de réception 8×5",
    "Remorque plateau",
    "Sono portable",
    "Balayeuse de voirie",
    "Grilles d'exposition",
];
const SKILLS: [&str; 8] = [
    "Délégué à la protection des données",
    "Géomaticien SIG",
    "Conseil en marchés publics",
    "Audit d'accessibilité numérique",
    "Archiviste itinérant",
    "Animateur France services",
    "Technicien informatique",
    "Conseiller en énergie partagé",
];
const SOFTWARE: [&str; 8] = [
    "GLPI mutualisé",
    "Nextcloud hébergé",
    "Portail citoyen de signalement",
    "Logiciel de gestion du cimetière",
    "Licences de bureautique libre",
    "Plateforme de visioconférence",
    "Parapheur électronique",
    "Logiciel d'état civil",
];
const PREMISES: [&str; 4] = [
    "Salle polyvalente",
    "Bureau partagé en mairie",
    "Local de stockage",
    "Salle de formation équipée",
];
const SENTENCES: [&str; 16] = [
    "Disponible pour les communes voisines sur simple demande auprès du secrétariat.",
    "Le matériel est entretenu par nos services techniques et vérifié avant chaque prêt.",
    "Une convention de mise à disposition précise les responsabilités de chacun.",
    "Nous proposons une prise en main d'une demi-journée pour les agents.",
    "Les frais de transport restent à la charge de la commune emprunteuse.",
    "Priorité aux communes de moins de mille habitants de l'intercommunalité.",
    "Le service fonctionne depuis trois ans avec une dizaine de collectivités.",
    "Une astreinte est assurée en semaine pendant les heures d'ouverture.",
    "Réservation au moins deux semaines à l'avance, hors période estivale.",
    "Les données restent hébergées en France et sous maîtrise publique.",
    "Accompagnement possible pour le registre des traitements et les analyses d'impact.",
    "Le prêt inclut la formation d'un agent à l'utilisation en sécurité.",
    "Coût partagé au prorata de la population, révisé chaque année.",
    "Intervention sur site ou à distance selon la nature de la demande.",
    "Le syndicat assure la maintenance et les mises à jour de sécurité.",
    "Contactez-nous pour connaître les créneaux encore libres ce trimestre.",
];
const TAGS: [&str; 20] = [
    "matériel",
    "espaces verts",
    "voirie",
    "fêtes",
    "rgpd",
    "sig",
    "marchés publics",
    "accessibilité",
    "informatique",
    "énergie",
    "archives",
    "logiciel libre",
    "hébergement",
    "sécurité",
    "formation",
    "culture",
    "sport",
    "école",
    "environnement",
    "numérique",
];

/// A point for a commune: stable per INSEE code, so that listings of one
/// commune cluster (mainland France's bounding box).
fn commune_point(insee: &str, rng: &mut Rng) -> GeoPoint {
    let h = Sha256::digest(insee.as_bytes());
    let lat = 42.5 + f64::from(h[0]) / 255.0 * 8.5;
    let lon = -4.5 + f64::from(h[1]) / 255.0 * 12.5;
    let jitter = |r: &mut Rng| (r.below(2000) as f64 - 1000.0) / 100_000.0;
    GeoPoint::from_degrees(lat + jitter(rng), lon + jitter(rng))
}

/// A realistic offer or need by `author`, live at `now`.
pub fn listing(
    author: &SecretKey,
    id: u64,
    version: u64,
    now: Timestamp,
    rng: &mut Rng,
) -> Listing {
    let kind = *rng.pick(&[
        ResourceKind::Equipment,
        ResourceKind::Equipment,
        ResourceKind::Skill,
        ResourceKind::Software,
        ResourceKind::HostedService,
        ResourceKind::Premises,
    ]);
    let title = match kind {
        ResourceKind::Equipment => *rng.pick(&EQUIPMENT),
        ResourceKind::Skill => *rng.pick(&SKILLS),
        ResourceKind::Premises => *rng.pick(&PREMISES),
        _ => *rng.pick(&SOFTWARE),
    };
    let sentences = 3 + rng.below(8);
    let description = (0..sentences)
        .map(|_| *rng.pick(&SENTENCES))
        .collect::<Vec<_>>()
        .join(" ");
    let mut tags: Vec<String> = Vec::new();
    for _ in 0..2 + rng.below(4) {
        let tag = rng.pick(&TAGS).to_string();
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let reference = reference();
    let insee = commune(rng.next_u64());
    let point = rng.chance(70).then(|| commune_point(&insee, rng));
    let mut area = ServiceArea::default();
    if rng.chance(40) {
        area.epcis.extend(reference.epci_of(&insee));
    }
    if rng.chance(20) {
        // Overseas collectivities (987, 988) have communes but no département.
        area.departements.extend(
            reference
                .departement_of(&insee)
                .filter(|d| mutua_protocol::codes::is_valid_departement(d)),
        );
    }
    if point.is_some() && rng.chance(30) {
        area.radius_km = Some(10 + rng.below(50) as u32);
    }
    let published_at = now - rng.below(200 * DAY_SECS);
    let expires_at =
        (now + DAY_SECS + rng.below(180 * DAY_SECS)).min(published_at + 399 * DAY_SECS);
    let availability = if rng.chance(50) {
        let from = now + rng.below(60 * DAY_SECS);
        vec![Window {
            from,
            until: from + (1 + rng.below(30)) * DAY_SECS,
        }]
    } else {
        Vec::new()
    };
    let mut listing_id = [0u8; 16];
    listing_id[..8].copy_from_slice(&id.to_be_bytes());
    Listing {
        author: author.public(),
        id: FixedBytes(listing_id),
        version,
        kind,
        title: title.into(),
        description,
        tags,
        location: Location { insee, point },
        area,
        capacity: rng.chance(30).then(|| "2 jours par mois".into()),
        availability,
        terms: Terms {
            pricing: if rng.chance(50) {
                Pricing::Free
            } else {
                Pricing::CostSharing {
                    amount_cents: 1000 * (1 + rng.below(50)),
                    per: "jour".into(),
                }
            },
            convention_required: rng.chance(50),
        },
        contact: Contact {
            role: "Secrétariat de mairie".into(),
            email: Some("mairie@commune-exemple.fr".into()),
            phone: None,
            url: None,
        },
        published_at,
        expires_at,
    }
}

/// A sealed offer (80%) or need (20%).
pub fn sealed_listing(
    author: &SecretKey,
    id: u64,
    version: u64,
    now: Timestamp,
    rng: &mut Rng,
) -> SignedRecord {
    let l = listing(author, id, version, now, rng);
    let payload = if rng.chance(80) {
        Payload::Offer(l)
    } else {
        Payload::Need(l)
    };
    seal(author, &payload).expect("synthetic listings are valid")
}

/// A sealed withdrawal of listing `id` at `version`.
pub fn sealed_withdrawal(
    author: &SecretKey,
    id: u64,
    version: u64,
    now: Timestamp,
) -> SignedRecord {
    let mut listing_id = [0u8; 16];
    listing_id[..8].copy_from_slice(&id.to_be_bytes());
    let w = Withdrawal {
        author: author.public(),
        id: FixedBytes(listing_id),
        version,
        withdrawn_at: now,
    };
    seal(author, &Payload::Withdrawal(w)).expect("synthetic withdrawals are valid")
}
