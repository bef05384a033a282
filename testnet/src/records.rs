//! Who the nodes host and what they publish: collectivities from the
//! reference data (`mutua_store::refdata`) and realistic offers and needs.
//! Everything is chosen by a seeded generator, so a seed names a scenario.

use mutua_api::{IssueRequest, ListingContent, Side};
use mutua_protocol::codes::is_valid_siren;
use mutua_protocol::{
    BodyKind, Contact, Location, Pricing, PublicKey, ResourceKind, ServiceArea, Terms,
};
use mutua_store::refdata;
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;

/// A fictitious SIREN (valid check digit, `999…` range) for the demo
/// syndicate: no real syndicat is in the reference data.
pub const DEMO_SYNDICATE_SIREN: &str = "999000003";

/// The collectivity a node hosts (its one publisher).
#[derive(Clone, Debug, Serialize)]
pub struct Identity {
    /// The hosted publisher's name on the node (`keys/publishers/<name>.key`).
    pub publisher: String,
    pub name: String,
    pub siren: String,
    pub body: BodyKind,
    pub insee: Option<String>,
    /// Département code, for service areas.
    pub departement: String,
    /// INSEE code where its listings are located: its own for a commune,
    /// its seat for a grouping.
    pub seat: String,
    /// May admit other collectivities (the founding syndicate).
    pub may_admit: bool,
}

impl Identity {
    /// The founding syndicate of a demo or test federation: labelled as such.
    pub fn demo_syndicate(departement: &str, seat: &str) -> Identity {
        Identity {
            seat: seat.into(),
            publisher: "syndicat".into(),
            name: "Syndicat de démonstration (fictif)".into(),
            siren: DEMO_SYNDICATE_SIREN.into(),
            body: BodyKind::Syndicat,
            insee: None,
            departement: departement.into(),
            may_admit: true,
        }
    }

    /// A commune (INSEE code or SIREN) or an EPCI (SIREN, located at `seat`)
    /// from the reference data. `None` also for the few overseas communes
    /// the data lists without a SIREN (Saint-Pierre, Hiva-Oa, the TAAF
    /// districts…): no certificate can name them.
    pub fn from_refdata(code: &str, publisher: &str, seat: Option<&str>) -> Option<Identity> {
        let c = refdata::lookup(code).filter(|c| is_valid_siren(&c.siren))?;
        Some(Identity {
            seat: c.insee.clone().or_else(|| seat.map(str::to_owned))?,
            publisher: publisher.into(),
            departement: c
                .departements
                .first()
                .map(|d| d.0.clone())
                .unwrap_or_default(),
            name: c.name,
            siren: c.siren,
            body: c.body,
            insee: c.insee,
            may_admit: false,
        })
    }

    /// The `POST /v1/certificates` request admitting `subject` as this
    /// collectivity (the anchor issues it).
    pub fn admission(&self, subject: PublicKey) -> IssueRequest {
        IssueRequest {
            issuer: None,
            subject,
            siren: self.siren.clone(),
            name: self.name.clone(),
            body: self.body,
            insee: self.insee.clone(),
            may_admit: self.may_admit,
            valid_from: None,
            valid_until: None,
        }
    }
}

/// `n` identities: the demo syndicate (node 0) then communes drawn from the
/// reference data.
pub fn seeded_identities(n: usize, rng: &mut StdRng) -> Vec<Identity> {
    let reference = refdata::reference();
    let mut out = vec![Identity::demo_syndicate("33", "33063")];
    while out.len() < n {
        let insee = reference.commune_at(rng.gen_range(0..reference.commune_count()));
        let publisher = format!("c{}", out.len());
        if let Some(id) = Identity::from_refdata(&insee, &publisher, None) {
            if !out.iter().any(|o| o.siren == id.siren) {
                out.push(id);
            }
        }
    }
    out
}

/// A listing template: side, kind, title, description, tags.
pub struct Template {
    pub side: Side,
    pub kind: ResourceKind,
    pub title: &'static str,
    pub description: &'static str,
    pub tags: &'static [&'static str],
}

/// What collectivities actually pool.
pub const TEMPLATES: &[Template] = &[
    Template { side: Side::Offer, kind: ResourceKind::Equipment, title: "Broyeur de végétaux", description: "Broyeur thermique sur remorque, prêt à la journée, agent formé disponible.", tags: &["broyeur", "espaces verts"] },
    Template { side: Side::Offer, kind: ResourceKind::Equipment, title: "Nacelle élévatrice 12 m", description: "Nacelle sur porteur pour l'éclairage public et l'élagage, avec chauffeur.", tags: &["nacelle", "voirie"] },
    Template { side: Side::Offer, kind: ResourceKind::Equipment, title: "Podium et barrières", description: "Podium 8x6 m et 40 barrières de police pour les fêtes locales.", tags: &["événement", "podium"] },
    Template { side: Side::Offer, kind: ResourceKind::Equipment, title: "Capteurs de qualité de l'air", description: "Dix capteurs IoT (PM2.5, CO2) prêtables pour une campagne de mesure.", tags: &["iot", "air"] },
    Template { side: Side::Offer, kind: ResourceKind::Skill, title: "DPO mutualisé", description: "Notre délégué à la protection des données peut accompagner deux communes, deux jours par mois.", tags: &["rgpd", "dpo"] },
    Template { side: Side::Offer, kind: ResourceKind::Skill, title: "Appui marchés publics", description: "Relecture de DCE et accompagnement des petites communes pour leurs consultations.", tags: &["marchés publics"] },
    Template { side: Side::Offer, kind: ResourceKind::Skill, title: "Audit d'accessibilité RGAA", description: "Audit des sites web communaux et plan d'action d'accessibilité numérique.", tags: &["accessibilité", "rgaa"] },
    Template { side: Side::Offer, kind: ResourceKind::Skill, title: "Cartographie SIG", description: "Réalisation de cartes des réseaux et du cadastre sous QGIS.", tags: &["sig", "qgis"] },
    Template { side: Side::Offer, kind: ResourceKind::Software, title: "Licences de logiciel de finances", description: "Licences excédentaires d'un logiciel de comptabilité publique, reprise du contrat possible.", tags: &["logiciel", "finances"] },
    Template { side: Side::Offer, kind: ResourceKind::HostedService, title: "GLPI mutualisé", description: "Instance GLPI hébergée pour la gestion du parc informatique des communes membres.", tags: &["glpi", "hébergement"] },
    Template { side: Side::Offer, kind: ResourceKind::HostedService, title: "Nextcloud souverain", description: "Espace de partage de fichiers hébergé en France pour les services municipaux.", tags: &["nextcloud", "hébergement"] },
    Template { side: Side::Offer, kind: ResourceKind::HostedService, title: "Portail de demandes citoyennes", description: "Portail de signalements et démarches en ligne, paramétré pour chaque commune.", tags: &["citoyens", "portail"] },
    Template { side: Side::Need, kind: ResourceKind::Equipment, title: "Recherche broyeur pour un mois", description: "Besoin d'un broyeur de branches après l'élagage de printemps.", tags: &["broyeur", "espaces verts"] },
    Template { side: Side::Need, kind: ResourceKind::Equipment, title: "Besoin d'une nacelle", description: "Remplacement des illuminations de la place de la mairie.", tags: &["nacelle"] },
    Template { side: Side::Need, kind: ResourceKind::Skill, title: "Recherche DPO à temps partagé", description: "Commune de moins de 1 000 habitants sans référent RGPD.", tags: &["rgpd", "dpo"] },
    Template { side: Side::Need, kind: ResourceKind::Software, title: "Besoin d'un outil de gestion des salles", description: "Réservation des salles communales en ligne par les associations.", tags: &["logiciel", "réservation"] },
];

/// The `POST /v1/listings` body for template `t` published by `who`;
/// `serial` makes the title unique within a run.
pub fn listing(t: &Template, who: &Identity, serial: usize) -> ListingContent {
    ListingContent {
        side: t.side,
        kind: t.kind,
        title: format!("{} n°{serial}", t.title),
        description: format!("{} ({})", t.description, who.name),
        tags: t.tags.iter().map(|tag| tag.to_string()).collect(),
        location: Location {
            insee: who.seat.clone(),
            point: None,
        },
        area: ServiceArea {
            departements: vec![who.departement.clone()],
            radius_km: Some(30),
            ..ServiceArea::default()
        },
        capacity: None,
        availability: Vec::new(),
        terms: Terms {
            pricing: Pricing::Free,
            convention_required: t.kind == ResourceKind::HostedService,
        },
        contact: Contact {
            role: "Secrétariat de mairie".into(),
            email: Some(format!("mutualisation@{}.example", who.publisher)),
            phone: None,
            url: None,
        },
        expires_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Seeds 1283, 1540, 5041, 5063, 5132, 5214, 5222 and 5269 of 7-node
    /// chaos campaigns drew a commune the reference data lists without a
    /// SIREN (Hiva-Oa, Saint-Pierre, the TAAF districts…): its admission
    /// was refused as `invalid_siren`. Two of them (each lookup parses the
    /// reference tables: slow in debug).
    #[test]
    fn seeded_identities_always_have_a_valid_siren() {
        for seed in [1283, 5041] {
            let ids = seeded_identities(7, &mut StdRng::seed_from_u64(seed));
            for id in &ids {
                assert!(
                    mutua_protocol::codes::is_valid_siren(&id.siren),
                    "seed {seed}: {} has SIREN {:?}",
                    id.name,
                    id.siren
                );
            }
        }
    }

    #[test]
    fn a_commune_without_a_siren_is_no_identity() {
        // Saint-Pierre (Saint-Pierre-et-Miquelon) has no SIREN in the data.
        assert!(Identity::from_refdata("97502", "c1", None).is_none());
        assert!(Identity::from_refdata("33063", "c1", None).is_some());
    }
}
