//! A listing as a schema.org `Offer` (an offer) or `Demand` (a need), with
//! GoodRelations' business function: `LeaseOut` for what is lent or shared
//! (equipment, premises, software, hosted services, other), `ProvideService`
//! for skills. The shapes are [`mutua_api::jsonld`]'s.

use mutua_api::jsonld::{
    ContactPoint, Context, GeoCoordinates, Item, ListingJsonLd, Organization, Place,
    PriceSpecification, PropertyValue, QuantitativeValue, Reference,
};
use mutua_api::{Listing, Side};
use mutua_protocol::{GeoPoint, Pricing, ResourceKind};

use crate::dates::date_time;
use crate::software::CatalogueId;
use crate::{kind_label, Identity, Site, Zone, ZoneLevel};

const LEASE_OUT: &str = "http://purl.org/goodrelations/v1#LeaseOut";
const PROVIDE_SERVICE: &str = "http://purl.org/goodrelations/v1#ProvideService";

/// The schema.org type of what a listing is about.
fn item_type(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Skill | ResourceKind::HostedService => "Service",
        ResourceKind::Equipment | ResourceKind::Other => "Product",
        ResourceKind::Software => "SoftwareApplication",
        ResourceKind::Premises => "Place",
    }
}

fn coordinates(point: GeoPoint) -> GeoCoordinates {
    GeoCoordinates {
        kind: "GeoCoordinates".into(),
        latitude: point.lat(),
        longitude: point.lon(),
    }
}

fn area(level: ZoneLevel, code: &str) -> Place {
    Place {
        kind: "AdministrativeArea".into(),
        identifier: Some(
            Zone {
                level,
                code: code.to_owned(),
            }
            .id(),
        ),
        geo: None,
        geo_midpoint: None,
        geo_radius: None,
    }
}

/// `listing` as schema.org JSON-LD. `identity` is its author's, when the
/// node knows it; `site` names it by its public address (else a
/// `urn:mutua:` name).
pub fn listing(l: &Listing, identity: Option<&Identity>, site: Option<&Site>) -> ListingJsonLd {
    let c = &l.content;
    let id = match site {
        Some(site) => site.listing(&l.author, &l.id),
        None => format!("urn:mutua:listing:{}:{}", l.author.key_id(), l.id.to_hex()),
    };
    let mut commune = area(ZoneLevel::Commune, &c.location.insee);
    commune.geo = c.location.point.map(coordinates);
    let mut served: Vec<Place> = Vec::new();
    served.extend(c.area.communes.iter().map(|x| area(ZoneLevel::Commune, x)));
    served.extend(c.area.epcis.iter().map(|x| area(ZoneLevel::Epci, x)));
    served.extend(
        c.area
            .departements
            .iter()
            .map(|x| area(ZoneLevel::Departement, x)),
    );
    if let (Some(radius), Some(point)) = (c.area.radius_km, c.location.point) {
        served.push(Place {
            kind: "GeoCircle".into(),
            identifier: None,
            geo: None,
            geo_midpoint: Some(coordinates(point)),
            geo_radius: Some(u64::from(radius) * 1000),
        });
    }
    if served.is_empty() {
        // No area given means the author's commune only (PROTOCOL.md).
        served.push(area(ZoneLevel::Commune, &c.location.insee));
    }
    let expires = c.expires_at.unwrap_or(l.published_at);
    let starts = c.availability.iter().map(|w| w.from).min();
    let ends = c.availability.iter().map(|w| w.until).max();
    let price = match &c.terms.pricing {
        Pricing::Free => PriceSpecification {
            kind: "UnitPriceSpecification".into(),
            price: 0.0,
            price_currency: "EUR".into(),
            unit_text: None,
        },
        Pricing::CostSharing { amount_cents, per } => PriceSpecification {
            kind: "UnitPriceSpecification".into(),
            price: *amount_cents as f64 / 100.0,
            price_currency: "EUR".into(),
            unit_text: Some(per.clone()),
        },
    };
    let same_as = c
        .tags
        .iter()
        .filter_map(|t| CatalogueId::from_tag(t))
        .filter_map(|id| id.page())
        .collect();
    ListingJsonLd {
        context: Context::default(),
        kind: match c.side {
            Side::Offer => "Offer",
            Side::Need => "Demand",
        }
        .into(),
        id,
        identifier: format!("{}/{}", l.author.key_id(), l.id.to_hex()),
        name: c.title.clone(),
        description: c.description.clone(),
        business_function: Reference {
            id: if c.kind == ResourceKind::Skill {
                PROVIDE_SERVICE
            } else {
                LEASE_OUT
            }
            .into(),
        },
        item_offered: Item {
            kind: item_type(c.kind).into(),
            name: c.title.clone(),
            category: kind_label(c.kind).into(),
            keywords: c.tags.clone(),
            same_as,
        },
        offered_by: Organization {
            kind: "GovernmentOrganization".into(),
            name: identity.map_or_else(|| l.author.key_id(), |i| i.name.clone()),
            identifier: identity.map(|i| PropertyValue {
                kind: "PropertyValue".into(),
                property_id: "SIREN".into(),
                value: i.siren.clone(),
            }),
            contact_point: ContactPoint {
                kind: "ContactPoint".into(),
                contact_type: c.contact.role.clone(),
                email: c.contact.email.clone(),
                telephone: c.contact.phone.clone(),
                url: c.contact.url.clone(),
            },
        },
        available_at_or_from: commune,
        area_served: served,
        availability_starts: date_time(starts.unwrap_or(l.published_at)),
        availability_ends: date_time(ends.unwrap_or(expires)),
        valid_from: date_time(l.published_at),
        valid_through: date_time(expires),
        price_specification: price,
        eligible_quantity: c.capacity.clone().map(|capacity| QuantitativeValue {
            kind: "QuantitativeValue".into(),
            description: capacity,
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mutua_api::ListingContent;
    use mutua_protocol::{Contact, FixedBytes, Location, ServiceArea, Terms, Window};

    pub(crate) fn sample(side: Side, kind: ResourceKind) -> Listing {
        Listing {
            author: mutua_protocol::SecretKey::from_seed([7; 32]).public(),
            id: FixedBytes([0xab; 16]),
            version: 2,
            hash: FixedBytes([1; 32]),
            published_at: 1_800_000_000,
            content: ListingContent {
                side,
                kind,
                title: "Broyeur de végétaux".into(),
                description: "Avec remorque".into(),
                tags: vec!["broyeur".into(), "comptoir:461".into()],
                location: Location {
                    insee: "33063".into(),
                    point: Some(GeoPoint::from_degrees(44.837789, -0.57918)),
                },
                area: ServiceArea {
                    communes: vec!["33318".into()],
                    epcis: vec!["243300316".into()],
                    departements: vec![],
                    radius_km: Some(30),
                },
                capacity: Some("2 jours par mois".into()),
                availability: vec![Window {
                    from: 1_800_086_400,
                    until: 1_800_172_800,
                }],
                terms: Terms {
                    pricing: Pricing::CostSharing {
                        amount_cents: 1250,
                        per: "jour".into(),
                    },
                    convention_required: true,
                },
                contact: Contact {
                    role: "Services techniques".into(),
                    email: Some("st@mairie.example".into()),
                    phone: None,
                    url: None,
                },
                expires_at: Some(1_807_776_000),
            },
        }
    }

    #[test]
    fn an_offer_is_leased_out_at_its_cost_sharing_price() {
        let identity = Identity {
            siren: "243300316".into(),
            name: "Bordeaux Métropole".into(),
            body: mutua_protocol::BodyKind::Epci,
            insee: None,
            may_admit: false,
        };
        let site = Site::new("https://mutua.example/");
        let doc = listing(
            &sample(Side::Offer, ResourceKind::Equipment),
            Some(&identity),
            Some(&site),
        );
        assert_eq!(doc.kind, "Offer");
        assert!(doc.id.starts_with("https://mutua.example/annonces/mk"));
        assert_eq!(doc.business_function.id, LEASE_OUT);
        assert_eq!(doc.item_offered.kind, "Product");
        assert_eq!(
            doc.item_offered.same_as,
            ["https://comptoir-du-libre.org/fr/softwares/461"]
        );
        assert_eq!(doc.offered_by.identifier.unwrap().value, "243300316");
        assert_eq!(
            doc.offered_by.contact_point.contact_type,
            "Services techniques"
        );
        assert_eq!(doc.price_specification.price, 12.5);
        assert_eq!(doc.price_specification.unit_text.as_deref(), Some("jour"));
        assert_eq!(doc.availability_starts, "2027-01-16T08:00:00Z");
        assert_eq!(doc.availability_ends, "2027-01-17T08:00:00Z");
        let served: Vec<_> = doc.area_served.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(
            served,
            ["AdministrativeArea", "AdministrativeArea", "GeoCircle"]
        );
        assert_eq!(
            doc.area_served[1].identifier.as_deref(),
            Some("fr:epci:243300316")
        );
        assert_eq!(doc.area_served[2].geo_radius, Some(30_000));
    }

    #[test]
    fn a_need_is_a_demand_and_a_skill_a_service() {
        let doc = listing(&sample(Side::Need, ResourceKind::Skill), None, None);
        assert_eq!(doc.kind, "Demand");
        assert_eq!(doc.business_function.id, PROVIDE_SERVICE);
        assert_eq!(doc.item_offered.kind, "Service");
        assert!(doc.id.starts_with("urn:mutua:listing:mk"));
        assert!(doc.offered_by.name.starts_with("mk"));
        assert!(doc.offered_by.identifier.is_none());
    }
}
