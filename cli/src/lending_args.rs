//! The lending commands' flags: `mutua lending`, `request`, `requests`,
//! `accept`, `decline`, `cancel`, `handed-over`, `returned` (see `cmd::lending`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Args)]
#[command(after_help = "Examples:
  mutua lending 9f2c4e --mode auto --buffer-days 1
  mutua lending 9f2c4e --mode manual --capacity 50 --as bordeaux")]
pub struct LendingArgs {
    /// One of this node's offers: its id or the first digits of it (6 or more).
    pub offer: String,
    /// auto: requests that fit are accepted at once; manual: your staff decide (`mutua accept`).
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Days kept free after each loan (cleaning, checks, transport), 0–30.
    #[arg(long, default_value_t = 0)]
    pub buffer_days: u32,
    /// Units lent at once (50 barriers; 1 for a lift).
    #[arg(long, default_value_t = 1)]
    pub capacity: u32,
    /// The hosted collectivity owning the offer.
    #[arg(long = "as", value_name = "PUBLISHER")]
    pub publisher: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Mode {
    Auto,
    Manual,
}

#[derive(Args)]
#[command(after_help = "Examples:
  mutua request 9f2c4e --from 2027-07-13 --to 2027-07-14 --purpose \"Fête nationale\"
  mutua request mk7d3…/9f2c4e… --from 2027-03-10 --to 2027-03-14 --quantity 20 --as talence")]
pub struct RequestArgs {
    /// The offer: its id (or first digits), or AUTHOR/ID as printed by `search --json`.
    pub offer: String,
    /// The first day of the loan (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub from: String,
    /// The last day of the loan, included (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub to: String,
    /// Units asked for.
    #[arg(long, default_value_t = 1)]
    pub quantity: u32,
    /// What for, one line [default: "Emprunt : <the offer's title>"].
    #[arg(long)]
    pub purpose: Option<String>,
    /// The role to contact [default: the contact of your latest listing].
    #[arg(long, value_name = "ROLE")]
    pub contact_role: Option<String>,
    /// The role's email [default: the contact of your latest listing].
    #[arg(long, value_name = "EMAIL")]
    pub contact_email: Option<String>,
    /// The role's phone number.
    #[arg(long, value_name = "PHONE")]
    pub contact_phone: Option<String>,
    /// The borrowing collectivity (a hosted publisher).
    #[arg(long = "as", value_name = "PUBLISHER")]
    pub publisher: Option<String>,
}

#[derive(Args)]
#[command(after_help = "Examples:
  mutua requests --incoming --pending
  mutua requests --outgoing --json")]
pub struct RequestsArgs {
    /// Only the requests for this node's offers.
    #[arg(long, conflicts_with = "outgoing")]
    pub incoming: bool,
    /// Only the requests this node's collectivities made.
    #[arg(long)]
    pub outgoing: bool,
    /// Only those not decided yet.
    #[arg(long)]
    pub pending: bool,
    /// Only this hosted collectivity's.
    #[arg(long = "as", value_name = "PUBLISHER")]
    pub publisher: Option<String>,
}

#[derive(Args)]
#[command(after_help = "Examples:
  mutua accept 3c9a51 --terms convention-de-pret.pdf")]
pub struct AcceptArgs {
    /// The request: its id or first digits (see `mutua requests --incoming`).
    pub request: String,
    /// The loan convention (convention de prêt) attached: its SHA-256 goes in the decision.
    #[arg(long, value_name = "FILE")]
    pub terms: Option<PathBuf>,
}

#[derive(Args)]
#[command(after_help = "Examples:
  mutua decline 3c9a51 --reason \"Nacelle en révision ce mois-là\"")]
pub struct DeclineArgs {
    /// The request: its id or first digits.
    pub request: String,
    /// Why, in a line the borrower reads.
    #[arg(long)]
    pub reason: String,
}

#[derive(Args)]
#[command(after_help = "Examples:
  mutua cancel 3c9a51                                   # a request of yours
  mutua cancel 7d20e4 --reason \"Podium endommagé par la tempête\"   # an agreement for your offer")]
pub struct CancelArgs {
    /// Your request, or an accepted request for your offer (its acceptance is
    /// taken back): its id or first digits (see `mutua requests`).
    pub request: String,
    /// Why, in a line the borrower reads (when you take back an acceptance).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Args)]
#[command(after_help = "Examples:
  mutua handed-over 3c9a51")]
pub struct HandedOverArgs {
    /// The agreement: the accepted request's id or first digits.
    pub agreement: String,
}

#[derive(Args)]
#[command(after_help = "Examples:
  mutua returned 3c9a51 --condition ok
  mutua returned 3c9a51 --condition damaged --note \"Rambarde tordue\"")]
pub struct ReturnedArgs {
    /// The agreement: the accepted request's id or first digits.
    pub agreement: String,
    #[arg(long, value_enum)]
    pub condition: ReturnCondition,
    /// What is damaged (required with --condition damaged).
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReturnCondition {
    Ok,
    Damaged,
}
