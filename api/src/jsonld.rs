//! A listing as schema.org JSON-LD (`GET /v1/records/{author}/{id}/jsonld`):
//! an `Offer` or a `Demand` with GoodRelations' business function, what is
//! offered, who offers it (a role contact, never a person), where, when and
//! at what cost. The mapping from a listing is `mutua-opendata`'s; these are
//! the shapes, so that the API, its clients and `node/openapi.yaml` share
//! them.
//!
//! The context is inlined (`@vocab` schema.org), so a consumer expands the
//! document without fetching anything.

use serde::{Deserialize, Serialize};

/// The vocabulary every term of these documents belongs to.
pub const SCHEMA_ORG: &str = "https://schema.org/";

/// `{"@vocab": "https://schema.org/"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Context {
    #[serde(rename = "@vocab")]
    pub vocab: String,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            vocab: SCHEMA_ORG.to_owned(),
        }
    }
}

/// A node by IRI: `{"@id": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Reference {
    #[serde(rename = "@id")]
    pub id: String,
}

/// An offer (`Offer`) or a need (`Demand`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ListingJsonLd {
    #[serde(rename = "@context")]
    pub context: Context,
    /// `Offer` or `Demand`.
    #[serde(rename = "@type")]
    pub kind: String,
    /// The listing's public address (`<public base URL>/annonces/{author}/{id}`),
    /// or a `urn:mutua:` name when the node has no public base URL.
    #[serde(rename = "@id")]
    pub id: String,
    /// `{author}/{id}`.
    pub identifier: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// GoodRelations' `LeaseOut` (equipment, premises, software, hosted
    /// services, other) or `ProvideService` (skills).
    #[serde(rename = "businessFunction")]
    pub business_function: Reference,
    #[serde(rename = "itemOffered")]
    pub item_offered: Item,
    #[serde(rename = "offeredBy")]
    pub offered_by: Organization,
    /// The commune where the resource is (`AdministrativeArea`).
    #[serde(rename = "availableAtOrFrom")]
    pub available_at_or_from: Place,
    /// The service area: communes, EPCI, départements, a circle.
    #[serde(rename = "areaServed")]
    pub area_served: Vec<Place>,
    /// The first availability window's start, else the publication time
    /// (xsd:dateTime, UTC).
    #[serde(rename = "availabilityStarts")]
    pub availability_starts: String,
    /// The last availability window's end, else the expiry.
    #[serde(rename = "availabilityEnds")]
    pub availability_ends: String,
    #[serde(rename = "validFrom")]
    pub valid_from: String,
    #[serde(rename = "validThrough")]
    pub valid_through: String,
    /// 0 EUR when free.
    #[serde(rename = "priceSpecification")]
    pub price_specification: PriceSpecification,
    /// The capacity, as the publisher wrote it.
    #[serde(
        rename = "eligibleQuantity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub eligible_quantity: Option<QuantitativeValue>,
}

/// What is offered or sought.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Item {
    /// `Product`, `Service`, `SoftwareApplication` or `Place`.
    #[serde(rename = "@type")]
    pub kind: String,
    pub name: String,
    /// The kind, in French (`Matériel`, `Compétence`, `Logiciel`…).
    pub category: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// The catalogue pages of the software (SILL, Comptoir du Libre,
    /// Wikidata), from its `sill:`, `comptoir:` and `wikidata:` tags.
    #[serde(rename = "sameAs", default, skip_serializing_if = "Vec::is_empty")]
    pub same_as: Vec<String>,
}

/// The collectivity that publishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Organization {
    /// `GovernmentOrganization`.
    #[serde(rename = "@type")]
    pub kind: String,
    /// Its name as its certificate says, or its key id when this node has
    /// no certificate for it.
    pub name: String,
    /// Its SIREN, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<PropertyValue>,
    #[serde(rename = "contactPoint")]
    pub contact_point: ContactPoint,
}

/// `{"@type": "PropertyValue", "propertyID": "SIREN", "value": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PropertyValue {
    #[serde(rename = "@type")]
    pub kind: String,
    #[serde(rename = "propertyID")]
    pub property_id: String,
    pub value: String,
}

/// A role contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ContactPoint {
    /// `ContactPoint`.
    #[serde(rename = "@type")]
    pub kind: String,
    /// The role ("Secrétariat de mairie").
    #[serde(rename = "contactType")]
    pub contact_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A commune, EPCI or département (`AdministrativeArea`, `identifier` its
/// official code), or a circle around the resource (`GeoCircle`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Place {
    #[serde(rename = "@type")]
    pub kind: String,
    /// `fr:commune:33063`, `fr:epci:243300316`, `fr:departement:33`
    /// (data.gouv.fr's zone ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// A point (the resource's, or its commune's centre).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoCoordinates>,
    /// A circle's centre.
    #[serde(
        rename = "geoMidpoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub geo_midpoint: Option<GeoCoordinates>,
    /// A circle's radius, in metres.
    #[serde(rename = "geoRadius", default, skip_serializing_if = "Option::is_none")]
    pub geo_radius: Option<u64>,
}

/// WGS 84 degrees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GeoCoordinates {
    /// `GeoCoordinates`.
    #[serde(rename = "@type")]
    pub kind: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// The cost sharing: an amount in euros per unit, 0 when free.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PriceSpecification {
    /// `UnitPriceSpecification`.
    #[serde(rename = "@type")]
    pub kind: String,
    pub price: f64,
    /// `EUR`.
    #[serde(rename = "priceCurrency")]
    pub price_currency: String,
    /// What the amount is per ("jour"), for cost sharing.
    #[serde(rename = "unitText", default, skip_serializing_if = "Option::is_none")]
    pub unit_text: Option<String>,
}

/// A quantity as text (`QuantitativeValue` with a `description`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QuantitativeValue {
    #[serde(rename = "@type")]
    pub kind: String,
    pub description: String,
}
