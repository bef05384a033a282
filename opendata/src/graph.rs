//! A small RDF graph model, written as JSON-LD (with an inline context of
//! prefixes, so that nothing is fetched to read it) or as Turtle: one
//! description of the catalogue, two syntaxes that cannot disagree.

use serde_json::{json, Map, Value};

/// The prefixes the catalogue uses (data.gouv.fr's DCAT documentation
/// declares the same ones).
pub const PREFIXES: [(&str, &str); 9] = [
    ("dcat", "http://www.w3.org/ns/dcat#"),
    ("dct", "http://purl.org/dc/terms/"),
    ("foaf", "http://xmlns.com/foaf/0.1/"),
    ("vcard", "http://www.w3.org/2006/vcard/ns#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("skos", "http://www.w3.org/2004/02/skos/core#"),
    ("adms", "http://www.w3.org/ns/adms#"),
    ("locn", "http://www.w3.org/ns/locn#"),
    ("gsp", "http://www.opengis.net/ont/geosparql#"),
];

/// The object of a statement.
#[derive(Clone, Debug)]
pub enum Object {
    Iri(String),
    /// A literal, with its datatype (prefixed name) or its language.
    Literal {
        value: String,
        datatype: Option<&'static str>,
        language: Option<&'static str>,
    },
    Node(Node),
}

impl Object {
    pub fn iri(iri: impl Into<String>) -> Object {
        Object::Iri(iri.into())
    }

    pub fn text(value: impl Into<String>) -> Object {
        Object::Literal {
            value: value.into(),
            datatype: None,
            language: None,
        }
    }

    /// French text.
    pub fn fr(value: impl Into<String>) -> Object {
        Object::Literal {
            value: value.into(),
            datatype: None,
            language: Some("fr"),
        }
    }

    pub fn typed(value: impl Into<String>, datatype: &'static str) -> Object {
        Object::Literal {
            value: value.into(),
            datatype: Some(datatype),
            language: None,
        }
    }
}

/// A subject: named by an IRI or blank, its types (prefixed names) and its
/// statements (prefixed predicate, object), in order.
#[derive(Clone, Debug, Default)]
pub struct Node {
    pub id: Option<String>,
    pub types: Vec<&'static str>,
    pub statements: Vec<(&'static str, Object)>,
}

impl Node {
    pub fn new(id: Option<String>, kind: &'static str) -> Node {
        Node {
            id,
            types: vec![kind],
            statements: Vec::new(),
        }
    }

    pub fn add(&mut self, predicate: &'static str, object: Object) -> &mut Node {
        self.statements.push((predicate, object));
        self
    }

    /// JSON-LD, the prefixes as its context when `top`.
    pub fn to_json_ld(&self, top: bool) -> Value {
        let mut map = Map::new();
        if top {
            let context: Map<String, Value> = PREFIXES
                .iter()
                .map(|(p, iri)| ((*p).to_owned(), json!(iri)))
                .collect();
            map.insert("@context".into(), Value::Object(context));
        }
        if let Some(id) = &self.id {
            map.insert("@id".into(), json!(id));
        }
        map.insert("@type".into(), json!(self.types));
        for (predicate, object) in &self.statements {
            let value = match object {
                Object::Iri(iri) => json!({ "@id": iri }),
                Object::Literal {
                    value,
                    datatype,
                    language,
                } => {
                    let mut v = Map::new();
                    v.insert("@value".into(), json!(value));
                    if let Some(t) = datatype {
                        v.insert("@type".into(), json!(t));
                    }
                    if let Some(l) = language {
                        v.insert("@language".into(), json!(l));
                    }
                    Value::Object(v)
                }
                Object::Node(node) => node.to_json_ld(false),
            };
            match map
                .entry((*predicate).to_owned())
                .or_insert_with(|| json!([]))
            {
                Value::Array(values) => values.push(value),
                _ => unreachable!("every predicate holds an array"),
            }
        }
        Value::Object(map)
    }

    /// Turtle: the prefixes, then this node and every named node it holds.
    pub fn to_turtle(&self) -> String {
        let mut out = String::new();
        for (p, iri) in PREFIXES {
            out.push_str(&format!("@prefix {p}: <{iri}> .\n"));
        }
        let mut pending = vec![self.clone()];
        while let Some(node) = pending.pop() {
            out.push('\n');
            let subject = node.id.as_deref().map_or_else(|| "[]".to_owned(), iri);
            out.push_str(&subject);
            out.push_str(&node.turtle_body(1, &mut pending));
            out.push_str(" .\n");
        }
        out
    }

    /// `a T ; p o , o ; …` indented by `depth`; named nested nodes are
    /// referenced and pushed on `pending`, blank ones written inline.
    fn turtle_body(&self, depth: usize, pending: &mut Vec<Node>) -> String {
        let indent = "    ".repeat(depth);
        let mut parts = vec![format!("a {}", self.types.join(", "))];
        for (predicate, object) in &self.statements {
            let object = match object {
                Object::Iri(i) => iri(i),
                Object::Literal {
                    value,
                    datatype,
                    language,
                } => {
                    let mut l = literal(value);
                    if let Some(t) = datatype {
                        l.push_str("^^");
                        l.push_str(t);
                    } else if let Some(lang) = language {
                        l.push('@');
                        l.push_str(lang);
                    }
                    l
                }
                Object::Node(node) => match &node.id {
                    Some(id) => {
                        pending.push(node.clone());
                        iri(id)
                    }
                    None => format!(
                        "[\n{indent}    {}\n{indent}]",
                        node.turtle_body(depth + 1, pending).trim_start()
                    ),
                },
            };
            parts.push(format!("{predicate} {object}"));
        }
        format!(" {}", parts.join(&format!(" ;\n{indent}")))
    }
}

fn iri(iri: &str) -> String {
    // IRIs are built from URLs and official codes; escape what Turtle
    // forbids anyway rather than trust it.
    let mut out = String::from("<");
    for c in iri.chars() {
        match c {
            '<' | '>' | '"' | '{' | '}' | '|' | '^' | '`' | '\\' | ' ' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('>');
    out
}

fn literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_syntaxes_carry_the_same_statements() {
        let mut inner = Node::new(None, "foaf:Agent");
        inner.add("foaf:name", Object::text("Mairie \"A\"\nB"));
        let mut named = Node::new(Some("https://x.example/d".into()), "dcat:Dataset");
        named.add("dct:title", Object::fr("Titre"));
        let mut top = Node::new(Some("https://x.example/c".into()), "dcat:Catalog");
        top.add("dct:publisher", Object::Node(inner))
            .add("dcat:dataset", Object::Node(named))
            .add("dct:modified", Object::typed("2027-01-15", "xsd:date"));
        let ld = top.to_json_ld(true);
        assert_eq!(
            ld["dct:publisher"][0]["foaf:name"][0]["@value"],
            "Mairie \"A\"\nB"
        );
        assert_eq!(ld["dcat:dataset"][0]["@id"], "https://x.example/d");
        let ttl = top.to_turtle();
        assert!(ttl.contains("foaf:name \"Mairie \\\"A\\\"\\nB\""), "{ttl}");
        assert!(ttl.contains("dcat:dataset <https://x.example/d>"), "{ttl}");
        assert!(
            ttl.contains("<https://x.example/d> a dcat:Dataset ;\n    dct:title \"Titre\"@fr ."),
            "{ttl}"
        );
    }
}
