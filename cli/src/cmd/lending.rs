//! Lending: `mutua lending` (how an offer lends), `request`, `requests`,
//! `accept`, `decline`, `cancel`, `handed-over`, `returned`, and the calendar lines of
//! `mutua show`. Requests
//! are named by their id or its first digits, found in `mutua requests`.

use anyhow::{bail, Context as _, Result};
use mutua_api::lending::{
    reason_words, AcceptRequest, CancelAcceptance, DeclineRequest, Direction, LendingSettings,
    LendingWritten, LoanEventName, LoanRequest, NewLoanEvent, NewRequest, OfferCalendar,
    RequestStatus, RequestsQuery,
};
use mutua_api::{Listing, Record, RecordsQuery};
use mutua_protocol::lending::{BookingMode, Condition, RequestId};
use mutua_protocol::Contact;
use sha2::{Digest, Sha256};

use super::listings::{all_pages, find_own};
use super::search::{find_any, record_at};
use super::{gossip_text, Context, Hosted, Usage};
use crate::client::Client;
use crate::lending_args::*;
use crate::output::truncate;

/// Digits of a request id shown in tables (enough to name it).
const SHORT_REQUEST: usize = 8;

pub fn settings(ctx: &Context, args: LendingArgs) -> Result<()> {
    let client = ctx.client()?;
    let hosted = Hosted::fetch(&client)?;
    let (publisher, listing) = find_own(&client, &hosted, args.publisher.as_deref(), &args.offer)?;
    let settings = LendingSettings {
        mode: match args.mode {
            Mode::Auto => BookingMode::Auto,
            Mode::Manual => BookingMode::Manual,
        },
        buffer_days: args.buffer_days,
        capacity: args.capacity,
    };
    let written = client.call(|api| api.set_lending(Some(&publisher), &listing.id, &settings))?;
    report(ctx, &written, "lending settings published")
}

/// The offer a request names: AUTHOR/ID, or an id (prefix) in the replica.
fn offer_of(client: &Client, text: &str) -> Result<Listing> {
    match text.split_once('/') {
        Some((author, id)) => match record_at(client, author, id)? {
            Record::Offer(l) => Ok(l),
            _ => bail!("{text} is not a live offer"),
        },
        None => find_any(client, text),
    }
}

/// The contact a request carries: the flags, else the borrower's latest
/// listing's.
fn contact_of(client: &Client, args: &RequestArgs, borrower: &str) -> Result<Contact> {
    if args.contact_email.is_some() || args.contact_phone.is_some() {
        return Ok(Contact {
            role: args
                .contact_role
                .clone()
                .unwrap_or_else(|| "Secrétariat de mairie".into()),
            email: args.contact_email.clone(),
            phone: args.contact_phone.clone(),
            url: None,
        });
    }
    let query = RecordsQuery {
        author: Some(borrower.to_owned()),
        ..Default::default()
    };
    let latest = all_pages(client, &query)?
        .into_iter()
        .max_by_key(|hit| hit.listing.published_at);
    match latest {
        Some(hit) => {
            let mut contact = hit.listing.content.contact;
            if let Some(role) = &args.contact_role {
                contact.role = role.clone();
            }
            Ok(contact)
        }
        None => Err(Usage(
            "give the borrower's contact with --contact-email (or --contact-phone): this collectivity has no listing to take it from".into(),
        )
        .into()),
    }
}

pub fn request(ctx: &Context, args: RequestArgs) -> Result<()> {
    let client = ctx.client()?;
    let hosted = Hosted::fetch(&client)?;
    let borrower = hosted.publisher(args.publisher.as_deref())?;
    let offer = offer_of(&client, &args.offer)?;
    let contact = contact_of(&client, &args, &borrower.key.key_id())?;
    let purpose = args
        .purpose
        .clone()
        .unwrap_or_else(|| truncate(&format!("Emprunt : {}", offer.content.title), 200));
    let body = NewRequest {
        offer_author: offer.author,
        offer: offer.id,
        first_day: args.from.clone(),
        last_day: args.to.clone(),
        quantity: args.quantity,
        purpose,
        contact,
    };
    let written = client
        .call(|api| api.request(Some(&borrower.name), &body))
        .map_err(refused_flag)?;
    report(ctx, &written, "request sent")
}

/// A refusal naming a field of the request is a mistake in its flag.
fn refused_flag(e: anyhow::Error) -> anyhow::Error {
    let Some(refusal) = e.downcast_ref::<crate::client::Refusal>() else {
        return e;
    };
    let flag = match refusal.field.as_deref() {
        Some("first_day") => "--from",
        Some("last_day") => "--to",
        Some("request.period.end") => "--to",
        Some("request.quantity") => "--quantity",
        Some("request.purpose") => "--purpose",
        _ => return e,
    };
    Usage(format!(
        "{flag}: {} (rule: {})",
        refusal.message, refusal.code
    ))
    .into()
}

pub fn requests(ctx: &Context, args: RequestsArgs) -> Result<()> {
    let client = ctx.reader()?;
    let query = RequestsQuery {
        publisher: args.publisher,
        direction: if args.incoming {
            Some(Direction::Incoming)
        } else if args.outgoing {
            Some(Direction::Outgoing)
        } else {
            None
        },
        pending: args.pending,
    };
    let list = client.call(|api| api.requests(&query))?.requests;
    if ctx.out.json {
        for r in &list {
            ctx.out.json_sorted(r)?;
        }
        return Ok(());
    }
    if list.is_empty() {
        return Ok(ctx.out.line("no request")?);
    }
    let rows = list
        .iter()
        .map(|r| {
            let id = r.id.to_hex();
            vec![
                id[..SHORT_REQUEST].to_owned(),
                match r.direction {
                    Direction::Incoming => "in",
                    Direction::Outgoing => "out",
                }
                .to_owned(),
                status_text(r),
                truncate(r.offer_title.as_deref().unwrap_or(""), 30),
                format!("{} → {}", r.first_day, r.last_day),
                r.quantity.to_string(),
                truncate(&r.purpose, 30),
            ]
        })
        .collect();
    Ok(ctx.out.table(
        &["id", "way", "status", "offer", "days", "qty", "purpose"],
        rows,
    )?)
}

/// "declined (conflict)", "accepted, returned damaged", …
fn status_text(r: &LoanRequest) -> String {
    let mut text = r.status.as_str().replace('_', " ");
    if let Some(reason) = r.reason {
        text.push_str(&format!(" ({})", reason.as_str()));
    }
    if r.handed_over {
        text.push_str(", handed over");
    }
    match r.returned {
        Some(Condition::AsLent) => text.push_str(", returned"),
        Some(Condition::Damaged) => text.push_str(", returned damaged"),
        None => {}
    }
    text
}

/// The full id of the request whose id starts with `prefix`.
fn request_id(client: &Client, prefix: &str, direction: Option<Direction>) -> Result<RequestId> {
    let prefix = prefix.trim().to_lowercase();
    if let Some(id) = mutua_api::parse_hex::<16>(&prefix) {
        return Ok(id);
    }
    let query = RequestsQuery {
        direction,
        ..Default::default()
    };
    let mut found: Vec<RequestId> = client
        .call(|api| api.requests(&query))?
        .requests
        .into_iter()
        .map(|r| r.id)
        .filter(|id| id.to_hex().starts_with(&prefix))
        .collect();
    found.dedup();
    match found.len() {
        1 => Ok(found[0]),
        0 => bail!(
            "no request {prefix}… for or by a collectivity of this node (see `mutua requests`)"
        ),
        _ => Err(Usage(format!(
            "{prefix:?} matches several requests: give more digits"
        ))
        .into()),
    }
}

pub fn accept(ctx: &Context, args: AcceptArgs) -> Result<()> {
    let client = ctx.client()?;
    let id = request_id(&client, &args.request, Some(Direction::Incoming))?;
    let terms_hash = match &args.terms {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("--terms: reading {}", path.display()))?;
            Some(mutua_protocol::hex(&Sha256::digest(&bytes)))
        }
        None => None,
    };
    let written = client.call(|api| api.accept(&id, &AcceptRequest { terms_hash }))?;
    report(ctx, &written, "request accepted")
}

pub fn decline(ctx: &Context, args: DeclineArgs) -> Result<()> {
    let client = ctx.client()?;
    let id = request_id(&client, &args.request, Some(Direction::Incoming))?;
    let body = DeclineRequest {
        reason: None,
        text: Some(args.reason),
    };
    let written = client.call(|api| api.decline(&id, &body))?;
    report(ctx, &written, "request declined")
}

/// The borrower cancels its request; the owner takes back an acceptance
/// (a request of this node's for one of its own offers is the borrower's).
pub fn cancel(ctx: &Context, args: CancelArgs) -> Result<()> {
    let client = ctx.client()?;
    let id = request_id(&client, &args.request, None)?;
    let query = RequestsQuery::default();
    let outgoing = client
        .call(|api| api.requests(&query))?
        .requests
        .iter()
        .any(|r| r.id == id && r.direction == Direction::Outgoing);
    if outgoing {
        if args.reason.is_some() {
            return Err(Usage(
                "--reason is for an owner taking back an acceptance; this request is yours".into(),
            )
            .into());
        }
        let written = client.call(|api| api.cancel_request(&id))?;
        return report(ctx, &written, "request cancelled");
    }
    let body = CancelAcceptance { text: args.reason };
    let written = client.call(|api| api.cancel_acceptance(&id, &body))?;
    report(ctx, &written, "acceptance taken back")
}

pub fn handed_over(ctx: &Context, args: HandedOverArgs) -> Result<()> {
    let client = ctx.client()?;
    let id = request_id(&client, &args.agreement, None)?;
    let body = NewLoanEvent {
        event: LoanEventName::HandedOver,
        condition: None,
        // The protocol's hand-over carries no note (PROTOCOL.md, loan events).
        note: None,
    };
    let written = client.call(|api| api.loan_event(&id, &body))?;
    report(ctx, &written, "hand-over recorded")
}

pub fn returned(ctx: &Context, args: ReturnedArgs) -> Result<()> {
    let client = ctx.client()?;
    let id = request_id(&client, &args.agreement, None)?;
    let condition = match args.condition {
        ReturnCondition::Ok => Condition::AsLent,
        ReturnCondition::Damaged => Condition::Damaged,
    };
    if condition == Condition::Damaged && args.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(Usage("--condition damaged needs --note: say what is damaged".into()).into());
    }
    let body = NewLoanEvent {
        event: LoanEventName::Returned,
        condition: Some(condition),
        note: args.note,
    };
    let written = client.call(|api| api.loan_event(&id, &body))?;
    report(ctx, &written, "return recorded")
}

/// What a lending write did: JSON, or a few lines.
fn report(ctx: &Context, written: &LendingWritten, done: &str) -> Result<()> {
    if ctx.out.json {
        return Ok(ctx.out.json_sorted(written)?);
    }
    match &written.request {
        Some(r) => {
            ctx.out.line(format!("{done}: {}", r.id.to_hex()))?;
            ctx.out.line(format!(
                "  {} → {}, {} unit(s): {}",
                r.first_day,
                r.last_day,
                r.quantity,
                status_text(r)
            ))?;
            if let Some(reason) = r.reason {
                let words = r.reason_text.as_deref().unwrap_or(reason_words(reason));
                ctx.out.line(format!("  reason: {words}"))?;
            }
            if r.status == RequestStatus::Pending && r.direction == Direction::Outgoing {
                ctx.out.line(
                    "  the owner's node decides it; follow it with `mutua requests --outgoing`",
                )?;
            }
        }
        None => ctx.out.line(format!("{done}: {}", written.hash.to_hex()))?,
    }
    Ok(ctx
        .out
        .line(format!("  {}", gossip_text(&written.gossip)))?)
}

/// The lines `mutua show` prints about an offer's calendar.
pub fn calendar_lines(calendar: &OfferCalendar) -> Vec<(&'static str, String)> {
    let s = &calendar.settings;
    let mode = match s.mode {
        BookingMode::Auto => "auto (accepted at once when free)",
        BookingMode::Manual => "manual (decided by the owner's staff)",
    };
    let mut lines = vec![(
        "lending",
        format!(
            "{mode}, {} unit(s), {} day(s) kept free after each loan",
            s.capacity, s.buffer_days
        ),
    )];
    let busy: Vec<String> = calendar
        .busy
        .iter()
        .map(|b| format!("{} → {} ({} in use)", b.first_day, b.last_day, b.used))
        .collect();
    lines.push((
        "booked",
        if busy.is_empty() {
            "nothing".into()
        } else {
            busy.join(", ")
        },
    ));
    let free: Vec<String> = calendar
        .free
        .iter()
        .map(|f| format!("{} → {}", f.first_day, f.last_day))
        .collect();
    lines.push((
        "free",
        format!(
            "{} (from {} to {})",
            if free.is_empty() {
                "no day".into()
            } else {
                free.join(", ")
            },
            calendar.window.first_day,
            calendar.window.last_day
        ),
    ));
    if calendar.pending > 0 {
        lines.push((
            "pending",
            format!("{} request(s) not decided yet", calendar.pending),
        ));
    }
    lines
}
