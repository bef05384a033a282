//! `node/openapi.yaml` cannot drift from the types: every route's request
//! body, query parameters and answer are compared with the JSON Schema
//! schemars derives from the `mutua-api` type (serde's names, renames,
//! flattening, defaults and skipped fields included), property by
//! property, nested objects and string enums too. A request's required
//! fields are exactly those serde requires; an answer's required fields are
//! among those it always writes.

use std::collections::{BTreeMap, BTreeSet};

use mutua_api::*;
use schemars::generate::{Contract, SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// Which way a type crosses the API.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    Request,
    Answer,
}

struct Documents {
    openapi: Value,
    errors: Vec<String>,
    /// The operations checked so far (`get /v1/status`).
    covered: BTreeSet<String>,
}

/// A type's schema, with the definitions its `$ref`s point to.
struct TypeSchema {
    root: Value,
    definitions: Map<String, Value>,
}

fn type_schema<T: JsonSchema>(way: Way) -> TypeSchema {
    let mut settings = SchemaSettings::openapi3();
    settings.contract = match way {
        Way::Request => Contract::Deserialize,
        Way::Answer => Contract::Serialize,
    };
    let mut generator: SchemaGenerator = settings.into_generator();
    let root = generator.subschema_for::<T>().to_value();
    TypeSchema {
        root,
        definitions: generator.definitions().clone(),
    }
}

/// An object's properties and required names, through `$ref`, `allOf` and
/// `nullable`/`anyOf [T, null]` wrappers.
#[derive(Default)]
struct Shape {
    properties: BTreeMap<String, Value>,
    required: BTreeSet<String>,
    enumeration: Option<BTreeSet<String>>,
    items: Option<Value>,
    variants: Vec<Value>,
}

fn resolve<'a>(schema: &'a Value, definitions: &'a Map<String, Value>) -> &'a Value {
    let mut schema = schema;
    for _ in 0..16 {
        let Some(target) = schema.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let name = target.rsplit('/').next().unwrap_or_default();
        schema = definitions
            .get(name)
            .unwrap_or_else(|| panic!("unresolved $ref {target}"));
    }
    schema
}

fn shape(schema: &Value, definitions: &Map<String, Value>) -> Shape {
    let mut out = Shape::default();
    // A `$ref` may have siblings (schemars puts a tagged variant's tag
    // beside the reference to its content): both count.
    if schema.get("$ref").is_some() {
        merge(&mut out, shape(resolve(schema, definitions), definitions));
    }
    for sub in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        merge(&mut out, shape(sub, definitions));
    }
    // `Option<T>`: anyOf [T, null].
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let not_null: Vec<_> = any
            .iter()
            .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if let [only] = not_null[..] {
            merge(&mut out, shape(only, definitions));
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        out.variants.extend(one.iter().cloned());
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            out.properties.insert(k.clone(), v.clone());
        }
    }
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.required.insert(r.as_str().unwrap().to_owned());
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        out.enumeration = Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        );
    }
    if let Some(c) = schema.get("const").and_then(Value::as_str) {
        out.enumeration = Some([c.to_owned()].into());
    }
    if let Some(items) = schema.get("items") {
        out.items = Some(items.clone());
    }
    out
}

fn merge(into: &mut Shape, from: Shape) {
    into.properties.extend(from.properties);
    into.required.extend(from.required);
    if from.enumeration.is_some() {
        into.enumeration = from.enumeration;
    }
    if from.items.is_some() {
        into.items = from.items;
    }
    into.variants.extend(from.variants);
}

impl Documents {
    fn load() -> Documents {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../node/openapi.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        Documents {
            openapi: serde_norway::from_str(&text).unwrap(),
            errors: Vec::new(),
            covered: BTreeSet::new(),
        }
    }

    fn components(&self) -> Map<String, Value> {
        self.openapi["components"]["schemas"]
            .as_object()
            .unwrap()
            .clone()
    }

    fn check<T: JsonSchema>(&mut self, at: &str, documented: &Value, way: Way) {
        let ours = type_schema::<T>(way);
        let components = self.components();
        self.compare(
            at,
            documented,
            &components,
            &ours.root,
            &ours.definitions,
            way,
        );
    }

    fn compare(
        &mut self,
        at: &str,
        documented: &Value,
        components: &Map<String, Value>,
        ours: &Value,
        definitions: &Map<String, Value>,
        way: Way,
    ) {
        let doc = shape(documented, components);
        let typ = shape(ours, definitions);
        if let (Some(d), Some(t)) = (&doc.enumeration, &typ.enumeration) {
            if d != t {
                self.errors
                    .push(format!("{at}: values {d:?}, the type's {t:?}"));
            }
        }
        if let (Some(d), Some(t)) = (&doc.items, &typ.items) {
            let (d, t) = (d.clone(), t.clone());
            self.compare(&format!("{at}[]"), &d, components, &t, definitions, way);
        }
        if !typ.variants.is_empty() && typ.properties.is_empty() {
            // A tagged enum: the documented variants name the same tags.
            let tags = |variants: &[Value], defs: &Map<String, Value>| -> BTreeSet<String> {
                variants
                    .iter()
                    .flat_map(|v| {
                        let s = shape(v, defs);
                        s.properties
                            .get("type")
                            .and_then(|t| shape(t, defs).enumeration)
                            .unwrap_or_default()
                    })
                    .collect()
            };
            let (d, t) = (
                tags(&doc.variants, components),
                tags(&typ.variants, definitions),
            );
            if d != t {
                self.errors
                    .push(format!("{at}: variants {d:?}, the type's {t:?}"));
            }
            return;
        }
        if typ.properties.is_empty() {
            return;
        }
        if doc.properties.is_empty() {
            self.errors.push(format!(
                "{at}: no properties documented; the type has {:?}",
                typ.properties.keys().collect::<Vec<_>>()
            ));
            return;
        }
        let d: BTreeSet<_> = doc.properties.keys().cloned().collect();
        let t: BTreeSet<_> = typ.properties.keys().cloned().collect();
        if d != t {
            self.errors.push(format!(
                "{at}: documented but not in the type {:?}, in the type but not documented {:?}",
                d.difference(&t).collect::<Vec<_>>(),
                t.difference(&d).collect::<Vec<_>>()
            ));
        }
        let required_ok = match way {
            Way::Request => doc.required == typ.required,
            Way::Answer => doc.required.is_subset(&typ.required),
        };
        if !required_ok {
            self.errors.push(format!(
                "{at}: required {:?}, the type requires {:?}",
                doc.required, typ.required
            ));
        }
        for key in d.intersection(&t) {
            let (ds, ts) = (doc.properties[key].clone(), typ.properties[key].clone());
            self.compare(
                &format!("{at}.{key}"),
                &ds,
                components,
                &ts,
                definitions,
                way,
            );
        }
    }

    fn operation(&mut self, path: &str, method: &str) -> Value {
        self.covered.insert(format!("{method} {path}"));
        self.openapi["paths"][path][method].clone()
    }

    fn request_body<T: JsonSchema>(&mut self, path: &str, method: &str) {
        let schema = self.operation(path, method)["requestBody"]["content"]["application/json"]
            ["schema"]
            .clone();
        self.check::<T>(&format!("{method} {path} body"), &schema, Way::Request);
    }

    fn answer<T: JsonSchema>(&mut self, path: &str, method: &str, status: &str) {
        let op = self.operation(path, method);
        let mut response = op["responses"][status].clone();
        if let Some(target) = response.get("$ref").and_then(Value::as_str) {
            let name = target.rsplit('/').next().unwrap();
            response = self.openapi["components"]["responses"][name].clone();
        }
        let schema = response["content"]["application/json"]["schema"].clone();
        if schema.is_null() {
            self.errors
                .push(format!("{method} {path} {status}: no schema documented"));
            return;
        }
        self.check::<T>(&format!("{method} {path} {status}"), &schema, Way::Answer);
    }

    /// The query parameters of an operation, as a schema's properties.
    fn query<T: JsonSchema>(&mut self, path: &str, method: &str) {
        let op = self.operation(path, method);
        let mut properties = Map::new();
        let mut required = Vec::new();
        for p in op["parameters"].as_array().into_iter().flatten() {
            let p = match p.get("$ref").and_then(Value::as_str) {
                Some(target) => {
                    let name = target.rsplit('/').next().unwrap();
                    self.openapi["components"]["parameters"][name].clone()
                }
                None => p.clone(),
            };
            if p["in"] != "query" {
                continue;
            }
            let name = p["name"].as_str().unwrap().to_owned();
            if p["required"] == true {
                required.push(Value::String(name.clone()));
            }
            properties.insert(name, p["schema"].clone());
        }
        let schema = serde_json::json!({ "properties": properties, "required": required });
        self.check::<T>(&format!("{method} {path} query"), &schema, Way::Request);
    }
}

#[test]
fn openapi_matches_the_types() {
    let mut docs = Documents::load();
    let components = docs.components();
    docs.check::<ErrorBody>("Error", &components["Error"], Way::Answer);
    docs.check::<ListingContent>(
        "ListingContent",
        &components["ListingContent"],
        Way::Request,
    );
    docs.check::<Listing>("Listing", &components["Listing"], Way::Answer);
    docs.check::<Certificate>("Certificate", &components["Certificate"], Way::Answer);
    docs.check::<Revocation>("Revocation", &components["Revocation"], Way::Answer);
    docs.check::<Withdrawal>("Withdrawal", &components["Withdrawal"], Way::Answer);
    docs.check::<Record>("Record", &components["Record"], Way::Answer);
    docs.check::<Published>("Published", &components["Published"], Way::Answer);

    docs.answer::<Health>("/v1/health", "get", "200");
    docs.answer::<Status>("/v1/status", "get", "200");
    docs.answer::<Peers>("/v1/peers", "get", "200");
    docs.query::<RecordsQuery>("/v1/records", "get");
    docs.answer::<RecordsPage>("/v1/records", "get", "200");
    docs.answer::<Record>("/v1/records/{author}/{id}", "get", "200");
    docs.answer::<ListingJsonLd>("/v1/records/{author}/{id}/jsonld", "get", "200");
    docs.query::<AsPublisher>("/v1/listings", "post");
    docs.request_body::<ListingContent>("/v1/listings", "post");
    docs.answer::<Published>("/v1/listings", "post", "201");
    docs.query::<AsPublisher>("/v1/listings/import", "post");
    docs.request_body::<ImportRow>("/v1/listings/import", "post");
    docs.answer::<ImportedListing>("/v1/listings/import", "post", "200");
    docs.answer::<ImportedListing>("/v1/listings/import", "post", "201");
    docs.query::<AsPublisher>("/v1/listings/{id}", "put");
    docs.request_body::<ListingContent>("/v1/listings/{id}", "put");
    docs.answer::<Published>("/v1/listings/{id}", "put", "200");
    docs.query::<WithdrawParams>("/v1/listings/{id}", "delete");
    docs.answer::<Published>("/v1/listings/{id}", "delete", "200");
    docs.request_body::<IssueRequest>("/v1/certificates", "post");
    docs.answer::<Published>("/v1/certificates", "post", "201");
    docs.answer::<Record>("/v1/certificates/{hash}", "get", "200");
    docs.request_body::<RevokeRequest>("/v1/certificates/{hash}/revoke", "post");
    docs.answer::<Published>("/v1/certificates/{hash}/revoke", "post", "201");
    docs.answer::<Members>("/v1/members", "get", "200");
    docs.answer::<PublishersReloaded>("/v1/publishers/reload", "post", "200");
    docs.request_body::<WebUserRequest>("/v1/web/users", "post");
    docs.answer::<WebInvitation>("/v1/web/users", "post", "201");
    docs.answer::<Export>("/v1/export", "get", "200");
    docs.request_body::<ImportRequest>("/v1/import", "post");
    docs.answer::<ImportReport>("/v1/import", "post", "200");
    docs.check::<LoanRequest>("LoanRequest", &components["LoanRequest"], Way::Answer);
    docs.check::<OfferCalendar>("OfferCalendar", &components["OfferCalendar"], Way::Answer);
    docs.query::<CalendarQuery>("/v1/records/{author}/{id}/calendar", "get");
    docs.answer::<OfferCalendar>("/v1/records/{author}/{id}/calendar", "get", "200");
    docs.query::<AsPublisher>("/v1/listings/{id}/lending", "put");
    docs.request_body::<LendingSettings>("/v1/listings/{id}/lending", "put");
    docs.answer::<LendingWritten>("/v1/listings/{id}/lending", "put", "200");
    docs.query::<AsPublisher>("/v1/requests", "post");
    docs.request_body::<NewRequest>("/v1/requests", "post");
    docs.answer::<LendingWritten>("/v1/requests", "post", "201");
    docs.query::<RequestsQuery>("/v1/requests", "get");
    docs.answer::<Requests>("/v1/requests", "get", "200");
    docs.request_body::<NewRequest>("/v1/requests/{id}", "put");
    docs.answer::<LendingWritten>("/v1/requests/{id}", "put", "200");
    docs.answer::<LendingWritten>("/v1/requests/{id}", "delete", "200");
    docs.request_body::<AcceptRequest>("/v1/requests/{id}/accept", "post");
    docs.answer::<LendingWritten>("/v1/requests/{id}/accept", "post", "200");
    docs.request_body::<DeclineRequest>("/v1/requests/{id}/decline", "post");
    docs.answer::<LendingWritten>("/v1/requests/{id}/decline", "post", "200");
    docs.request_body::<CancelAcceptance>("/v1/requests/{id}/cancel", "post");
    docs.answer::<LendingWritten>("/v1/requests/{id}/cancel", "post", "200");
    docs.request_body::<NewLoanEvent>("/v1/requests/{id}/events", "post");
    docs.answer::<LendingWritten>("/v1/requests/{id}/events", "post", "200");
    // Prometheus text, not JSON.
    docs.covered.insert("get /metrics".into());

    let documented: BTreeSet<String> = docs.openapi["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{method} {path}"))
        })
        .collect();
    assert_eq!(
        documented, docs.covered,
        "every documented operation is checked against its types here"
    );
    assert!(
        docs.errors.is_empty(),
        "node/openapi.yaml differs from the mutua-api types:\n  {}",
        docs.errors.join("\n  ")
    );
}
