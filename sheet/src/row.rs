//! One row → the listing content it describes, with **every** mistake of
//! the row reported (each naming its column as the file spells it, in
//! French): the cells are read one by one, then the fields are checked
//! against the protocol's rules as the publisher would sign them — after a
//! refused field is set aside, the rules run again to find the next one.

use mutua_api::ListingContent;
use mutua_protocol::{PublicKey, RecordError};

use mutua_api::Side;

use crate::columns::{field_of, Field, Header};
use crate::dates;
use crate::fields::{self as listing, ListingFields, LocalRules};
use crate::values::{self, ValueError};
use crate::Row;

/// A mistake in a row.
#[derive(Debug, Clone, PartialEq)]
pub struct CellError {
    /// The column as the file spells it (empty when about the whole row).
    pub column: String,
    /// A stable code: the protocol's rule, or `required`, `invalid_value`,
    /// `malformed_row`, `not_the_author`.
    pub rule: String,
    /// In French, for the town hall.
    pub message: String,
}

/// A row that passed every check.
#[derive(Debug)]
pub struct GoodRow {
    pub content: ListingContent,
    /// The `id` column (32 hex digits), when the row has one.
    pub id: Option<String>,
}

/// What the checks of one row need.
pub struct RowContext<'a> {
    pub header: &'a Header,
    pub author: PublicKey,
    pub now: u64,
    /// The node's reference-data rules (`mutua_node::local_rules`).
    pub local_rules: LocalRules,
}

/// Errors of one row, in column order, at most one per column.
struct Errors<'a> {
    header: &'a Header,
    list: Vec<(Option<Field>, CellError)>,
}

impl Errors<'_> {
    fn add(&mut self, field: Field, rule: &str, message: impl Into<String>) {
        if self.has(field) {
            return;
        }
        self.list.push((
            Some(field),
            CellError {
                column: self.header.spelling(field).to_owned(),
                rule: rule.to_owned(),
                message: message.into(),
            },
        ));
    }

    fn has(&self, field: Field) -> bool {
        self.list.iter().any(|(f, _)| *f == Some(field))
    }

    fn value<T>(&mut self, field: Field, parsed: Result<T, ValueError>) -> Option<T> {
        parsed
            .map_err(|e| self.add(field, "invalid_value", e.to_string()))
            .ok()
    }
}

/// The cells of a row by field, trimmed; empty cells are absent.
struct Cells<'a> {
    header: &'a Header,
    row: &'a Row,
}

impl Cells<'_> {
    fn get(&self, field: Field) -> Option<&str> {
        let i = self.header.fields.iter().position(|f| *f == Some(field))?;
        self.row
            .cells
            .get(i)
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
    }
}

fn list(text: &str) -> Vec<String> {
    text.split([';', ',', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks a row; returns its content, or every mistake in it.
pub fn check(ctx: &RowContext, row: &Row) -> Result<GoodRow, Vec<CellError>> {
    let header = ctx.header;
    let mut errors = Errors {
        header,
        list: Vec::new(),
    };
    let mut stray = Vec::new();
    for (i, cell) in row.cells.iter().enumerate() {
        if cell.trim().is_empty() || header.fields.get(i).is_some_and(Option::is_some) {
            continue;
        }
        stray.push(CellError {
            column: format!("colonne {}", i + 1),
            rule: "malformed_row".into(),
            message: format!(
                "« {} » est dans une colonne sans en-tête : donnez un nom à la colonne ou videz la cellule",
                cell.trim()
            ),
        });
    }
    let cells = Cells { header, row };
    let text = |f| cells.get(f).map(str::to_owned);
    let required = |errors: &mut Errors, f: Field| {
        let v = text(f);
        if v.is_none() {
            errors.add(f, "required", "obligatoire : la cellule est vide");
        }
        v
    };

    let side = required(&mut errors, Field::Side)
        .and_then(|s| errors.value(Field::Side, values::parse_side(&s)));
    let kind = required(&mut errors, Field::Kind)
        .and_then(|k| errors.value(Field::Kind, values::parse_kind(&k)));
    let title = required(&mut errors, Field::Title);
    let insee = required(&mut errors, Field::Insee);
    let contact_role = required(&mut errors, Field::ContactRole);

    let at = match (text(Field::Lat), text(Field::Lon)) {
        (Some(lat), Some(lon)) => {
            let lat = errors.value(Field::Lat, values::parse_degrees(&lat));
            let lon = errors.value(Field::Lon, values::parse_degrees(&lon));
            lat.zip(lon).map(|(lat, lon)| format!("{lat},{lon}"))
        }
        (None, None) => None,
        (Some(_), None) => {
            errors.add(
                Field::Lon,
                "required",
                "obligatoire quand la latitude est donnée",
            );
            None
        }
        (None, Some(_)) => {
            errors.add(
                Field::Lat,
                "required",
                "obligatoire quand la longitude est donnée",
            );
            None
        }
    };
    let radius_km = text(Field::RadiusKm).and_then(|r| {
        let v = errors.value(Field::RadiusKm, values::parse_whole(&r))?;
        u32::try_from(v)
            .map_err(|_| {
                errors.add(
                    Field::RadiusKm,
                    "out_of_range",
                    format!("{v} km : au plus 1000"),
                )
            })
            .ok()
    });
    let mut pricing =
        text(Field::Pricing).and_then(|p| errors.value(Field::Pricing, values::parse_pricing(&p)));
    // « Gratuit » typed in the amount column says the pricing.
    let amount_text = text(Field::AmountEur);
    let free_amount = amount_text
        .as_deref()
        .is_some_and(|a| values::parse_pricing(a) == Ok(false));
    if free_amount && pricing.is_none() {
        pricing = Some(false);
    }
    let amount = amount_text
        .filter(|_| !free_amount)
        .and_then(|a| errors.value(Field::AmountEur, values::parse_decimal(&a)));
    let per = text(Field::Per);
    match (pricing, amount.is_some() || errors.has(Field::AmountEur)) {
        (Some(false), true) => errors.add(
            Field::AmountEur,
            "invalid_value",
            format!(
                "une annonce gratuite n'a pas de montant (videz la cellule, ou indiquez « participation aux frais » dans « {} »)",
                header.spelling(Field::Pricing)
            ),
        ),
        (Some(true), false) => errors.add(
            Field::AmountEur,
            "required",
            "obligatoire avec une participation aux frais",
        ),
        _ => {}
    }
    if amount.is_some() && pricing != Some(false) && per.is_none() {
        errors.add(
            Field::Per,
            "required",
            "obligatoire avec un montant : ce que couvre le montant (jour, mois, utilisation)",
        );
    }
    let convention = text(Field::Convention)
        .and_then(|c| errors.value(Field::Convention, values::parse_bool(&c)));

    let mut available: Vec<String> = Vec::new();
    if let Some(windows) = text(Field::Available) {
        for w in windows.split([';', '\n']).filter(|w| !w.trim().is_empty()) {
            if let Some(w) = errors.value(Field::Available, values::parse_window(w)) {
                available.push(dates::format_window(&w));
            }
        }
    }
    let from = text(Field::AvailableFrom)
        .and_then(|d| errors.value(Field::AvailableFrom, values::parse_date(&d)));
    let until = text(Field::AvailableUntil)
        .and_then(|d| errors.value(Field::AvailableUntil, values::parse_date(&d)));
    match (from, until) {
        (Some(from), Some(until)) => match values::window(from, until) {
            Some(w) => available.push(dates::format_window(&w)),
            None => errors.add(
                Field::AvailableUntil,
                "empty_window",
                "la période finit avant de commencer",
            ),
        },
        (Some(_), None) if !errors.has(Field::AvailableUntil) => errors.add(
            Field::AvailableUntil,
            "required",
            format!(
                "obligatoire avec « {} » (le dernier jour de la période)",
                header.spelling(Field::AvailableFrom)
            ),
        ),
        (None, Some(_)) if !errors.has(Field::AvailableFrom) => errors.add(
            Field::AvailableFrom,
            "required",
            format!(
                "obligatoire avec « {} » (le premier jour de la période)",
                header.spelling(Field::AvailableUntil)
            ),
        ),
        _ => {}
    }
    let expires_in_days = text(Field::ExpiresInDays)
        .and_then(|d| errors.value(Field::ExpiresInDays, values::parse_whole(&d)));
    let expires =
        text(Field::Expires).and_then(|d| errors.value(Field::Expires, values::parse_date(&d)));
    if expires.is_some() && expires_in_days.is_some() {
        errors.add(
            Field::Expires,
            "invalid_value",
            format!(
                "donnez la date d'expiration ou « {} », pas les deux",
                header.spelling(Field::ExpiresInDays)
            ),
        );
    }
    if let Some(d) = expires_in_days {
        if d == 0 || d > mutua_protocol::rules::MAX_LIFETIME_DAYS {
            errors.add(
                Field::ExpiresInDays,
                "out_of_range",
                format!(
                    "{d} jours : entre 1 et {} jours",
                    mutua_protocol::rules::MAX_LIFETIME_DAYS
                ),
            );
        }
    }
    let id = text(Field::Id).and_then(|id| {
        let ok = id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit());
        if ok {
            Some(id.to_lowercase())
        } else {
            errors.add(Field::Id, "invalid_value", format!("« {id} » n'est pas un identifiant d'annonce (32 chiffres hexadécimaux, comme `mutua export` les écrit)"));
            None
        }
    });
    if let Some(author) = text(Field::Author) {
        if author != ctx.author.key_id() {
            errors.add(
                Field::Author,
                "not_the_author",
                format!("cette ligne est une annonce de {author}, pas de la collectivité qui importe ({}) : elle ne peut pas la modifier", ctx.author.key_id()),
            );
        }
    }

    // The fields as `listing::to_content` takes them; a field already in
    // error gets a valid stand-in, so that the rules below find the
    // mistakes in the other fields. (`..default()`: fields that flags
    // alone set, should `ListingFields` gain some.)
    #[allow(clippy::needless_update)]
    let mut fields = ListingFields {
        kind: kind.map(|k| k.as_str().to_owned()),
        title,
        description: text(Field::Description),
        tags: text(Field::Tags).map(|t| list(&t)).unwrap_or_default(),
        insee,
        at,
        radius_km,
        capacity: text(Field::Capacity),
        pricing: pricing.map(|p| if p { "cost_sharing" } else { "free" }.to_owned()),
        amount_eur: amount,
        per,
        convention,
        contact_role,
        contact_email: text(Field::ContactEmail),
        contact_phone: text(Field::ContactPhone),
        available,
        expires_in_days,
        ..ListingFields::default()
    };
    let fields_in_error: Vec<Field> = errors.list.iter().filter_map(|(f, _)| *f).collect();
    for f in fields_in_error {
        stand_in(&mut fields, f);
    }
    let extras = |content: &mut ListingContent| {
        content.contact.url = text(Field::ContactUrl);
        content.area.communes = text(Field::AreaCommunes)
            .map(|t| list(&t))
            .unwrap_or_default();
        content.area.epcis = text(Field::AreaEpcis).map(|t| list(&t)).unwrap_or_default();
        content.area.departements = text(Field::AreaDepartements)
            .map(|t| list(&t).into_iter().map(|d| d.to_uppercase()).collect())
            .unwrap_or_default();
        if let Some(day) = expires {
            // The listing lasts through the day the sheet names.
            content.expires_at = Some(day + mutua_protocol::rules::DAY_SECS);
        }
    };
    let side = side.unwrap_or(Side::Offer);
    let mut refused_by_rules = Vec::new();
    for _ in 0..32 {
        let mut content = match listing::to_content(side, &fields, ctx.now) {
            Ok(c) => c,
            Err(e) => {
                // Cross-field rules the cells did not catch: should not
                // happen, reported as the command-line messages say it.
                errors.list.push((
                    None,
                    CellError {
                        column: String::new(),
                        rule: "invalid_value".into(),
                        message: e.to_string(),
                    },
                ));
                break;
            }
        };
        extras(&mut content);
        match listing::check(&content, ctx.author, ctx.now, 1, ctx.local_rules) {
            Ok(()) => {
                if errors.list.is_empty() && stray.is_empty() {
                    return Ok(GoodRow { content, id });
                }
                break;
            }
            Err(e) => {
                let field = e
                    .field()
                    .map(listing::column_of)
                    .and_then(|c| field_of(c.split('/').next().unwrap_or(c)))
                    .or_else(|| e.field().and_then(area_field));
                let Some(field) = field.filter(|f| !refused_by_rules.contains(f)) else {
                    errors.list.push((
                        None,
                        CellError {
                            column: String::new(),
                            rule: e.code().into(),
                            message: french(&e),
                        },
                    ));
                    break;
                };
                refused_by_rules.push(field);
                errors.add(field, e.code(), french(&e));
                if !stand_in(&mut fields, field) {
                    // Fields set after `to_content` (area, URL, expiry
                    // date) have no stand-in: the first rule is reported.
                    break;
                }
            }
        }
    }
    let mut all: Vec<CellError> = errors.list.into_iter().map(|(_, e)| e).collect();
    all.extend(stray);
    Err(all)
}

/// The fields set after `to_content`, by protocol path.
fn area_field(path: &str) -> Option<Field> {
    let path = path.split_once('.').map_or(path, |(_, rest)| rest);
    [
        ("area.communes", Field::AreaCommunes),
        ("area.epcis", Field::AreaEpcis),
        ("area.departements", Field::AreaDepartements),
        ("contact.url", Field::ContactUrl),
        ("expires_at", Field::Expires),
    ]
    .into_iter()
    .find(|(p, _)| path.starts_with(p))
    .map(|(_, f)| f)
}

/// Replaces a field in error by a valid value; false when it has none here.
fn stand_in(f: &mut ListingFields, field: Field) -> bool {
    match field {
        Field::Kind => f.kind = Some("other".into()),
        Field::Title => f.title = Some("Sans titre".into()),
        Field::Description => f.description = None,
        Field::Tags => f.tags.clear(),
        Field::Insee => f.insee = Some("33063".into()),
        Field::Lat | Field::Lon => f.at = None,
        Field::RadiusKm => f.radius_km = None,
        Field::Capacity => f.capacity = None,
        Field::Pricing | Field::AmountEur | Field::Per => {
            f.pricing = Some("free".into());
            f.amount_eur = None;
            f.per = None;
        }
        Field::Convention => f.convention = None,
        Field::ContactRole => f.contact_role = Some("Contact".into()),
        // A contact needs an address or a number: a stand-in that has one.
        Field::ContactEmail => f.contact_email = Some("contact@example.org".into()),
        Field::ContactPhone => f.contact_phone = None,
        Field::Available | Field::AvailableFrom | Field::AvailableUntil => f.available.clear(),
        Field::ExpiresInDays => f.expires_in_days = None,
        Field::Side | Field::Id | Field::Author => {}
        Field::AreaCommunes
        | Field::AreaEpcis
        | Field::AreaDepartements
        | Field::ContactUrl
        | Field::Expires => return false,
    }
    true
}

/// The node's refusals of what its own publishers sign (its local rules,
/// checked once the listing has its expiry), in French.
pub fn french_local_rule(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "hidden_character" => "contient un caractère invisible ou qui inverse le sens du texte : retapez le texte ou collez-le sans mise en forme",
        "window_in_past" => "cette période de disponibilité est déjà passée",
        "window_after_expiry" => "cette période commence après l'expiration de l'annonce : allongez sa durée (colonne Expiration) ou avancez la période",
        _ => return None,
    })
}

/// A protocol rule's refusal, in French.
pub fn french(e: &RecordError) -> String {
    let bytes_field = e.field().is_some_and(|f| {
        ["description", "email", "url"]
            .iter()
            .any(|b| f.contains(b))
    });
    match e {
        RecordError::TooLong { len, max, .. } if bytes_field => {
            format!("trop long : {len} octets en UTF-8, au plus {max} (une lettre accentuée compte pour 2)")
        }
        RecordError::TooLong { len, max, .. } => format!("trop long : {len} caractères, au plus {max}"),
        RecordError::TooManyItems { count, max, .. } => format!("{count} éléments, au plus {max}"),
        RecordError::InvalidInsee { value, .. } if value.len() == 4 && value.chars().all(|c| c.is_ascii_digit()) => format!(
            "« {value} » n'a que 4 chiffres : si le code commence par 0 (0{value}), la cellule au format nombre l'a perdu — mettez la colonne au format texte"
        ),
        RecordError::InvalidInsee { value, .. } => format!(
            "« {value} » n'est pas un code INSEE de commune (5 caractères : 01001, 2A004, 97411)"
        ),
        RecordError::InvalidSiren { value, .. } => format!(
            "« {value} » n'est pas un SIREN (9 chiffres, le dernier étant une clé de contrôle)"
        ),
        RecordError::InvalidDepartement { value, .. } => {
            format!("« {value} » n'est pas un code de département")
        }
        RecordError::ExpiryTooFar { days, max_days, .. } => format!(
            "l'annonce expirerait {days} jours après sa publication, au plus {max_days}"
        ),
        RecordError::Expired { .. } => "la date d'expiration est passée".into(),
        RecordError::FromTheFuture { .. } => "la date est dans le futur".into(),
        RecordError::Invalid { rule, detail, .. } => match *rule {
            "too_short" => format!(
                "trop court : au moins {} caractères",
                mutua_protocol::rules::MIN_TITLE_CHARS
            ),
            "control_character" => "contient un caractère de contrôle (invisible)".into(),
            "surrounding_space" => "commence ou finit par une espace".into(),
            "duplicate" => format!("valeur en double ({detail})"),
            "email_syntax" => "n'est pas une adresse électronique (nom@domaine.fr)".into(),
            "phone_syntax" => "n'est pas un numéro de téléphone".into(),
            "url_syntax" => "n'est pas une adresse web (https://…)".into(),
            "empty_window" => "une période finit avant de commencer".into(),
            "out_of_range" => format!("hors des limites ({detail})"),
            "required" if e.field().is_some_and(|f| f.contains("contact")) => {
                "obligatoire : le contact a besoin d'un courriel, d'un téléphone ou d'un site".into()
            }
            "required" => "obligatoire".into(),
            // The node's local rules (reference data): the detail starts with the code.
            "unknown_commune" => format!(
                "« {} » n'est le code INSEE d'aucune commune du référentiel 2026",
                detail.split_whitespace().next().unwrap_or_default()
            ),
            "unknown_epci" => format!(
                "« {} » n'est le SIREN d'aucun EPCI du référentiel 2026",
                detail.split_whitespace().next().unwrap_or_default()
            ),
            "unknown_departement" => format!(
                "« {} » n'est pas un département du référentiel 2026",
                detail.split_whitespace().next().unwrap_or_default()
            ),
            _ => format!("refusé par la règle {rule} ({detail})"),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutua_protocol::SecretKey;

    fn no_local_rules(_: &mutua_protocol::Payload) -> Result<(), mutua_protocol::RecordError> {
        Ok(())
    }

    fn header(line: &str) -> Header {
        Header::parse(&line.split(';').map(str::to_owned).collect::<Vec<_>>()).unwrap()
    }

    fn row(line: &str) -> Row {
        Row {
            line: 2,
            cells: line.split(';').map(str::to_owned).collect(),
        }
    }

    #[test]
    fn a_french_row_makes_content() {
        let h = header("Type;Nature;Intitulé;Code INSEE;Contact;Montant (€);Par;Convention;Disponible du;Disponible au;Mots-clés;Expiration;Téléphone");
        let author = SecretKey::from_seed([3; 32]).public();
        let ctx = RowContext {
            header: &h,
            author,
            now: 1_800_000_000,
            local_rules: no_local_rules,
        };
        let good = check(&ctx, &row("Offre;Matériel;Nacelle 12 m;01001;Services techniques;1 200,50 €;jour;OUI;01/03/2027;31/03/2027;nacelle, élagage;31/12/2027;05 56 10 20 30")).unwrap();
        let c = good.content;
        assert_eq!(c.side, Side::Offer);
        assert_eq!(c.location.insee, "01001");
        assert_eq!(c.tags, ["nacelle", "élagage"]);
        assert_eq!(
            c.terms.pricing,
            mutua_protocol::Pricing::CostSharing {
                amount_cents: 120_050,
                per: "jour".into()
            }
        );
        assert!(c.terms.convention_required);
        let free = check(
            &ctx,
            &row("Offre;Locaux;Salle des fêtes;33063;Accueil;Gratuit;;non;;;;;05 56 00 00 00"),
        )
        .unwrap();
        assert_eq!(free.content.terms.pricing, mutua_protocol::Pricing::Free);
        assert_eq!(
            dates::format_window(&c.availability[0]),
            "2027-03-01..2027-03-31"
        );
        assert_eq!(
            c.expires_at,
            Some(values::parse_date("01/01/2028").unwrap())
        );
    }

    #[test]
    fn every_error_of_a_row_is_reported() {
        let h = header(
            "Type;Nature;Intitulé;Commune;Contact;Montant;Courriel;Disponible du;Convention",
        );
        let author = SecretKey::from_seed([3; 32]).public();
        let ctx = RowContext {
            header: &h,
            author,
            now: 1_800_000_000,
            local_rules: no_local_rules,
        };
        let errors = check(
            &ctx,
            &row("Offre;Broyeur;Po;3306;;-5;pas une adresse;32/01/2027;peut-être"),
        )
        .unwrap_err();
        let by_column: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.column.as_str(), e.rule.as_str()))
            .collect();
        for expected in [
            ("Nature", "invalid_value"),
            ("Contact", "required"),
            ("Montant", "invalid_value"),
            ("Disponible du", "invalid_value"),
            ("Convention", "invalid_value"),
            ("Intitulé", "too_short"),
            ("Commune", "invalid_insee"),
            ("Courriel", "email_syntax"),
        ] {
            assert!(
                by_column.contains(&expected),
                "{expected:?} in {by_column:?}"
            );
        }
        assert!(errors.iter().all(|e| !e.message.is_empty()));
        let montant = errors.iter().find(|e| e.column == "Montant").unwrap();
        assert!(montant.message.contains("négatif"), "{}", montant.message);
    }
}
