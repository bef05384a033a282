//! The command tree. Every command's long help ends with examples.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mutua_api::{IssueRequest, RecordsQuery, RevokeRequest};
use mutua_node::config::Overrides;
use mutua_protocol::PublicKey;
use mutua_store::refdata::Collectivity;

use crate::cmd::Usage;

/// `offer` or `need`: the API's.
pub use mutua_api::Side;

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 error (the message says which rule and which field), 2 usage,
            3 the node is not running (start it with `mutua node`).

Examples:
  mutua federation create --federation gironde-numerique --collectivity 243300316
  mutua node &
  mutua offer publish --kind equipment --title \"Broyeur de végétaux\" --insee 33063 \\
        --contact-role \"Services techniques\" --contact-email st@mairie.example
  mutua search broyeur --near 33063 --radius 30
  mutua import offres.csv";

#[derive(Parser)]
#[command(
    name = "mutua",
    version,
    about = "Pool skills, equipment and software between French local authorities",
    long_about = "Pool skills, equipment and software between French local authorities.\n\n\
        `mutua` sets up and runs a node, publishes and queries offers and needs, and administers \
        a federation. Commands that need the running node find its address and token in the \
        data directory.",
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Data directory [default: ~/.local/share/mutua]
    #[arg(long, env = "MUTUA_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print JSON lines (one object per line) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a data directory to join a federation: node key, config, publisher key.
    #[command(after_help = "Examples:
  mutua init --federation gironde-numerique --trust mk0123…
  mutua init --federation gironde-numerique --trust mk0123… --collectivity 33063 --yes
  mutua init --federation gironde-numerique --trust mk0123… --bootstrap /dns4/noeud.syndicat.fr/tcp/4100")]
    Init(InitArgs),
    /// Run the node in the foreground until Ctrl-C or SIGTERM.
    #[command(
        after_help = "Settings: defaults < <data dir>/config.toml < MUTUA_* environment < flags.

Examples:
  mutua node
  mutua node --mdns false --bootstrap /ip4/192.0.2.10/tcp/4100
  MUTUA_LOG_FORMAT=json mutua node"
    )]
    Node(Box<NodeArgs>),
    /// Show the running node: federation, peers, store, hosted collectivities.
    Status,
    /// List the peers the node is connected to.
    Peers,
    /// Manage the keys of the collectivities this node publishes for.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Found a federation, admit or revoke members, move certificates.
    #[command(subcommand)]
    Federation(FederationCommand),
    /// Publish, update, withdraw and list this node's offers.
    #[command(subcommand)]
    Offer(ListingCommand),
    /// Publish, update, withdraw and list this node's needs.
    #[command(subcommand)]
    Need(ListingCommand),
    /// Publish many offers and needs from a spreadsheet: CSV, .ods, .xlsx (see `mutua import --help`).
    Import(ImportArgs),
    /// Write listings as CSV or .xlsx (the import layout) or JSON lines.
    Export(ExportArgs),
    /// Search the offers and needs of the federation (the node's local replica).
    Search(SearchArgs),
    /// Show one offer or need in full.
    Show(ShowArgs),
    /// Offers that answer the needs of the collectivities this node hosts.
    Match(MatchArgs),
    /// How one of this node's offers lends: auto or manual decisions, buffer days, capacity.
    Lending(crate::lending_args::LendingArgs),
    /// Ask to borrow an offer for some days.
    Request(crate::lending_args::RequestArgs),
    /// Requests for this node's offers (incoming) and by its collectivities (outgoing).
    Requests(crate::lending_args::RequestsArgs),
    /// Accept a request for one of this node's offers.
    Accept(crate::lending_args::AcceptArgs),
    /// Decline a request for one of this node's offers.
    Decline(crate::lending_args::DeclineArgs),
    /// Cancel one of your requests, or take back the acceptance of one for your offer.
    Cancel(crate::lending_args::CancelArgs),
    /// Record that a lent thing was handed over to the borrower.
    HandedOver(crate::lending_args::HandedOverArgs),
    /// Record the return of a lent thing.
    Returned(crate::lending_args::ReturnedArgs),
    /// Check or rebuild the store, with the node stopped.
    #[command(subcommand)]
    Store(StoreCommand),
    /// The node's web page for town-hall staff: accounts.
    #[command(subcommand)]
    Web(WebCommand),
    /// The local software catalogue, from the SILL's and Comptoir du Libre's JSON exports.
    #[command(subcommand)]
    Catalogue(CatalogueCommand),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  mutua completions bash > /etc/bash_completion.d/mutua
  mutua completions zsh > \"${fpath[1]}/_mutua\"")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The collectivity a publisher key is for.
#[derive(Args, Clone, Debug, Default)]
pub struct CollectivityArgs {
    /// Create a publisher key for this collectivity: a commune's INSEE code or
    /// SIREN, or an EPCI's SIREN (looked up in the 2026 reference data).
    #[arg(long, value_name = "SIREN|INSEE")]
    pub collectivity: Option<String>,
    /// Name of the publisher key [default: from the collectivity's name, e.g. "bordeaux"].
    #[arg(long, value_name = "NAME", requires = "collectivity")]
    pub publisher: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Args)]
pub struct InitArgs {
    /// The federation's name (it must match the other nodes').
    #[arg(long, value_name = "NAME")]
    pub federation: String,
    /// Key id of a trusted federation anchor (repeatable).
    #[arg(long, value_name = "KEY_ID", required = true)]
    pub trust: Vec<mutua_protocol::PublicKey>,
    #[command(flatten)]
    pub collectivity: CollectivityArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
}

/// Network settings written to the new config.toml (the defaults otherwise).
#[derive(Args, Clone, Debug, Default)]
pub struct NetworkArgs {
    /// p2p listen address (repeatable) [default: /ip4/0.0.0.0/tcp/4100].
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Control API address [default: 127.0.0.1:4180].
    #[arg(long, value_name = "HOST:PORT")]
    pub api_listen: Option<String>,
    /// A node to connect to at start (repeatable): /ip4/…/tcp/4100 or /dns4/…/tcp/4100.
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Local-network discovery (true/false) [default: true].
    #[arg(long, value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub mdns: Option<bool>,
}

impl NetworkArgs {
    pub fn choices(&self) -> mutua_node::config::NetworkChoices {
        mutua_node::config::NetworkChoices {
            listen: self.listen.clone(),
            bootstrap: self.bootstrap.clone(),
            api_listen: self.api_listen.clone(),
            mdns: self.mdns,
        }
    }
}

#[derive(Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub overrides: Overrides,
}

#[derive(Subcommand)]
#[command(
    after_help = "The catalogue lives in the data directory (software-catalogue.json); nothing is fetched:
download the exports yourself. It is a local help only: a listing carries its software's ids as
tags (sill:12, comptoir:461, wikidata:Q25874683), which every node stores and searches like any tag.

Examples:
  mutua catalogue import catalogi.json comptoir-du-libre_export_v1.json
  mutua catalogue show Nextcloud
  mutua catalogue show sill:12
  mutua search --software Nextcloud"
)]
pub enum CatalogueCommand {
    /// Merge the SILL's catalogi.json and/or Comptoir du Libre's comptoir-du-libre_export_v1.json (recognised by their shape).
    Import {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// A software's licence, description and ids, by name or by tag (sill:12).
    Show { name: String },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// List the publisher keys in the data directory and whether each has a certificate.
    List,
    /// Create a publisher key for a collectivity (a running node hosts it at once).
    #[command(after_help = "Examples:
  mutua key add --collectivity 33063
  mutua key add --collectivity 243300316 --publisher bordeaux-metropole --yes")]
    Add(KeyAddArgs),
    /// Stop publishing for a collectivity: its key moves to keys/removed/ (kept, not deleted).
    #[command(
        after_help = "What it signed stays valid and published; withdraw its listings first
if they must go (`mutua offer withdraw … --as NAME`). A running node stops signing with it at once.

Examples:
  mutua key remove bordeaux --yes"
    )]
    Remove {
        /// The publisher's name, as `mutua key list` shows it.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(Args)]
pub struct KeyAddArgs {
    #[command(flatten)]
    pub collectivity: CollectivityArgs,
}

#[derive(Subcommand)]
pub enum WebCommand {
    /// Staff accounts of the web page.
    #[command(subcommand)]
    User(WebUserCommand),
}

#[derive(Subcommand)]
pub enum WebUserCommand {
    /// Invite a member of staff: prints a one-time link where they choose their password.
    #[command(after_help = "Examples:
  mutua web user add --collectivity 33063 --name \"Marie Dupont\"
  mutua web user add --collectivity 33063 --collectivity 33039 --name \"Agent du syndicat\" --login agent-syndicat")]
    Add(WebUserArgs),
}

#[derive(Args)]
pub struct WebUserArgs {
    /// A hosted collectivity this person acts for: its INSEE code, SIREN or
    /// publisher name (repeat for a syndicate's agent acting for several).
    #[arg(long, required = true)]
    pub collectivity: Vec<String>,
    /// The person's name, shown on the page.
    #[arg(long)]
    pub name: String,
    /// The login (default: from the name, e.g. marie-dupont).
    #[arg(long)]
    pub login: Option<String>,
}

#[derive(Subcommand)]
pub enum FederationCommand {
    /// Found a federation: a data directory with a new anchor key that the
    /// federation's nodes will trust.
    #[command(after_help = "Examples:
  mutua federation create --federation gironde-numerique
  mutua federation create --federation gironde-numerique --collectivity 243300316 --yes")]
    Create(CreateArgs),
    /// Admit a collectivity's key by issuing a certificate (signed by the anchor
    /// or by a member allowed to admit).
    #[command(
        after_help = "KEY is a key id (mk…) or the name of a publisher hosted by this node.

Examples:
  mutua federation admit bordeaux --collectivity 33063
  mutua federation admit mk7d3… --collectivity 200069193 --may-admit --export cert.txt
  mutua federation admit mk7d3… --collectivity 33063 --issuer sdeg --valid-days 365"
    )]
    Admit(AdmitArgs),
    /// Revoke a certificate (key lost, collectivity merged…).
    #[command(
        after_help = "TARGET is a certificate hash, or a key id whose certificates are all revoked.

Examples:
  mutua federation revoke 4f1c…e2 --reason key-lost
  mutua federation revoke mk7d3… --reason merged"
    )]
    Revoke(RevokeArgs),
    /// List the certificates known to the node and the state of each member.
    Members,
    /// Write a certificate to a file, to hand over out of band.
    Export {
        /// The certificate's hash.
        hash: String,
        /// The file to write (`-` for standard output).
        #[arg(long, short = 'o', default_value = "-")]
        output: PathBuf,
    },
    /// Load a certificate received as a file: saved beside the hosted key it
    /// admits, and published if the node is running.
    Import {
        /// A file written by `mutua federation export` or `admit --export`.
        file: PathBuf,
    },
}

#[derive(Args)]
pub struct CreateArgs {
    /// The federation's name, shared by all its nodes.
    #[arg(long, value_name = "NAME")]
    pub federation: String,
    #[command(flatten)]
    pub collectivity: CollectivityArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Args)]
pub struct AdmitArgs {
    /// The key to admit: a key id (mk…) or a hosted publisher's name.
    pub key: String,
    /// The collectivity the key belongs to (INSEE code or SIREN).
    #[arg(long, value_name = "SIREN|INSEE")]
    pub collectivity: String,
    /// Allow the member to admit others (a syndicate, an EPCI).
    #[arg(long)]
    pub may_admit: bool,
    /// Validity in days [default: 3 years].
    #[arg(long, value_name = "DAYS")]
    pub valid_days: Option<u64>,
    /// Sign as this hosted publisher instead of the anchor.
    #[arg(long, value_name = "PUBLISHER")]
    pub issuer: Option<String>,
    /// Also write the certificate to this file.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

impl AdmitArgs {
    /// The certificate these flags ask for: `subject` as collectivity `c`,
    /// valid from `now`.
    pub fn request(&self, subject: PublicKey, c: &Collectivity, now: u64) -> IssueRequest {
        IssueRequest {
            issuer: self.issuer.clone(),
            subject,
            siren: c.siren.clone(),
            name: c.name.clone(),
            body: c.body,
            insee: c.insee.clone(),
            may_admit: self.may_admit,
            valid_from: None,
            valid_until: self
                .valid_days
                .map(|days| now + days * mutua_protocol::rules::DAY_SECS),
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Reason {
    KeyLost,
    KeyCompromised,
    Merged,
    LeftFederation,
    Superseded,
    Other,
}

impl Reason {
    /// The protocol's reason, and its name as the node writes it.
    pub fn protocol(self) -> (mutua_protocol::RevocationReason, &'static str) {
        use mutua_protocol::RevocationReason as R;
        match self {
            Reason::KeyLost => (R::KeyLost, "key_lost"),
            Reason::KeyCompromised => (R::KeyCompromised, "key_compromised"),
            Reason::Merged => (R::Merged, "merged"),
            Reason::LeftFederation => (R::LeftFederation, "left_federation"),
            Reason::Superseded => (R::Superseded, "superseded"),
            Reason::Other => (R::Other, "other"),
        }
    }
}

#[derive(Args)]
pub struct RevokeArgs {
    /// A certificate hash, or a key id.
    pub target: String,
    #[arg(long, value_enum)]
    pub reason: Reason,
    /// Sign as this hosted publisher instead of the certificate's issuer.
    #[arg(long, value_name = "PUBLISHER")]
    pub issuer: Option<String>,
}

impl RevokeArgs {
    pub fn request(&self) -> RevokeRequest {
        RevokeRequest {
            issuer: self.issuer.clone(),
            reason: self.reason.protocol().0,
        }
    }
}

#[derive(Subcommand)]
pub enum ListingCommand {
    /// Publish from flags, or from a TOML or JSON file.
    #[command(after_help = "Examples:
  mutua offer publish --kind skill --title \"DPO mutualisé, 2 jours par mois\" --insee 33063 \\
        --tag rgpd --tag dpo --capacity \"2 jours/mois\" --pricing cost-sharing --amount-eur 350 \\
        --per jour --contact-role \"Délégué à la protection des données\" --contact-email dpo@example.fr
  mutua need publish --file besoin.toml
  mutua offer publish --file offre.json --as bordeaux

A file holds the same fields as the flags (TOML or JSON, by extension):
  kind = \"equipment\"
  title = \"Nacelle 12 m\"
  description = \"Avec chauffeur habilité\"
  tags = [\"nacelle\", \"élagage\"]
  insee = \"33063\"
  radius_km = 30
  pricing = \"cost-sharing\"   # or \"free\"
  amount_eur = 120.0
  per = \"jour\"
  convention = true
  contact_role = \"Services techniques\"
  contact_email = \"st@mairie.example\"
  available = [\"2027-01-15..2027-02-15\"]   # within the listing's life
  expires_in_days = 90

From a publiccode.yml (a software offer; --kind hosted_service for a hosted service):
  mutua offer publish --publiccode publiccode.yml --insee 33063
  mutua offer publish --publiccode publiccode.yml --kind hosted_service --insee 33063 --tag sill:12

A software listing names its catalogue entries by tags: sill:ID (SILL), comptoir:ID (Comptoir du
Libre), wikidata:QID (see `mutua catalogue --help`, docs/OPEN-DATA.md).")]
    Publish(PublishArgs),
    /// Publish a new version: the given flags replace those fields, the rest is kept.
    #[command(after_help = "Examples:
  mutua offer update 9f2c…  --title \"Nacelle 14 m\"
  mutua offer update 9f2c… --file offre.toml")]
    Update(UpdateArgs),
    /// Withdraw: every node purges it.
    Withdraw {
        /// The listing id (32 hex digits).
        id: String,
        /// The hosted publisher that published it [default: whichever did].
        #[arg(long = "as", value_name = "PUBLISHER")]
        publisher: Option<String>,
    },
    /// Print a software or hosted-service listing as publiccode.yml.
    #[command(after_help = "Examples:
  mutua offer publiccode 9f2c… > publiccode.yml")]
    Publiccode {
        /// The listing id (at least 6 of its 32 hex digits).
        id: String,
        /// The hosted publisher that published it [default: whichever did].
        #[arg(long = "as", value_name = "PUBLISHER")]
        publisher: Option<String>,
    },
    /// List the listings published by the collectivities this node hosts.
    List {
        /// Only this hosted publisher's.
        #[arg(long = "as", value_name = "PUBLISHER")]
        publisher: Option<String>,
    },
}

pub use mutua_sheet::fields::ListingFields;

#[derive(Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub fields: ListingFields,
    /// Read the fields from a TOML or JSON file (flags override it).
    #[arg(long, short = 'f', value_name = "FILE", conflicts_with = "publiccode")]
    pub file: Option<PathBuf>,
    /// Publish a software offer described by a publiccode.yml (flags override it; see below).
    #[arg(long, value_name = "FILE")]
    pub publiccode: Option<PathBuf>,
    /// The hosted publisher signing it [default: the only one].
    #[arg(long = "as", value_name = "PUBLISHER")]
    pub publisher: Option<String>,
}

#[derive(Args)]
pub struct UpdateArgs {
    /// The listing id (32 hex digits).
    pub id: String,
    #[command(flatten)]
    pub fields: ListingFields,
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[arg(long = "as", value_name = "PUBLISHER")]
    pub publisher: Option<String>,
}

#[derive(Args)]
#[command(after_help = mutua_sheet::import_help())]
pub struct ImportArgs {
    /// The spreadsheet: .csv/.tsv/.txt (any encoding and separator office software writes), .ods or .xlsx.
    pub file: PathBuf,
    /// The hosted publisher signing the rows [default: the only one].
    #[arg(long = "as", value_name = "PUBLISHER")]
    pub publisher: Option<String>,
    /// Publish nothing unless every row is valid.
    #[arg(long)]
    pub all_or_nothing: bool,
    /// Check every row and say what importing would do; publish nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Xlsx,
    Json,
    /// schema.org JSON-LD, one document per listing and line.
    Jsonld,
    /// The DCAT-AP catalogue of the collectivities this node hosts (JSON-LD).
    Dcat,
}

#[derive(Args)]
#[command(
    after_help = "The CSV and .xlsx columns are the import layout (`mutua import --help`), with the
`id` that makes a re-import update the same listings.

Examples:
  mutua export --format csv --mine > nos-offres.csv
  mutua export --format csv --excel --mine -o nos-offres.csv
  mutua export --format xlsx --mine -o nos-offres.xlsx
  mutua export --format json | jq .title
  mutua export --format jsonld --mine > annonces.jsonld
  mutua export --format dcat -o catalogue.jsonld

`jsonld` and `dcat` write what the node serves publicly at /annonces/{author}/{id}.jsonld and
/catalog.jsonld (docs/OPEN-DATA.md), their URLs based on opendata.base_url."
)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// CSV as French Excel opens it: ';' between fields, UTF-8 with BOM, decimal commas, CRLF.
    #[arg(long)]
    pub excel: bool,
    /// Only the listings of the collectivities this node hosts.
    #[arg(long)]
    pub mine: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SortBy {
    Recency,
    Distance,
}

#[derive(Args, Default)]
#[command(
    after_help = "Filters combine with AND; --kind and --from accept several values (OR).

Examples:
  mutua search broyeur
  mutua search --kind equipment --near 33063 --radius 25 --available 2027-03-15
  mutua search --needs --departement 33 --tag rgpd
  mutua search --from 243300316 --json
  mutua search --near 44.84,-0.58 --radius 10 --sort distance
  mutua search nacelle --near \"Saint-Émilion\" --radius 15
  mutua search --sill 12
  mutua search --software Nextcloud --near 33063"
)]
pub struct SearchArgs {
    /// Words to find in titles, descriptions and tags (accents and case ignored).
    pub text: Vec<String>,
    /// Resource kind (repeatable): skill, equipment, software, hosted_service, premises, other.
    #[arg(long)]
    pub kind: Vec<String>,
    /// Required tag (repeatable: all must match).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Around a commune (INSEE code, postal code or name: 33063, 33000, Bordeaux, "Saint-Denis (974)") or a point (LAT,LON); listings without a point count at their commune.
    #[arg(long, value_name = "PLACE")]
    pub near: Option<String>,
    /// Radius around --near, in km [default: 20].
    #[arg(long, value_name = "KM", requires = "near")]
    pub radius: Option<f64>,
    /// Located in or serving this commune.
    #[arg(long, value_name = "INSEE", conflicts_with_all = ["epci", "departement"])]
    pub insee: Option<String>,
    /// Located in or serving this EPCI (SIREN).
    #[arg(long, value_name = "SIREN", conflicts_with = "departement")]
    pub epci: Option<String>,
    /// Located in or serving this département (33, 2A, 974…).
    #[arg(long, value_name = "CODE")]
    pub departement: Option<String>,
    /// Available on this date or these days (YYYY-MM-DD, FROM..TO, or "now"): listings not open on all of them, and offers booked then (beyond their capacity, with their buffer), are left out.
    #[arg(long, value_name = "DATE[..DATE]")]
    pub available: Option<String>,
    /// Only needs.
    #[arg(long, conflicts_with = "offers")]
    pub needs: bool,
    /// Only offers.
    #[arg(long)]
    pub offers: bool,
    /// Published by this collectivity (SIREN, INSEE code or key id; repeatable).
    #[arg(long, value_name = "WHO")]
    pub from: Vec<String>,
    /// Sort order [default: distance with --near, else recency].
    #[arg(long, value_enum)]
    pub sort: Option<SortBy>,
    /// Most results.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Listings of the software with this SILL id (tag sill:ID).
    #[arg(long, value_name = "ID")]
    pub sill: Option<u64>,
    /// Listings of the software with this Comptoir du Libre id (tag comptoir:ID).
    #[arg(long, value_name = "ID")]
    pub comptoir: Option<u64>,
    /// Listings of the software with this Wikidata item (tag wikidata:QID).
    #[arg(long, value_name = "QID")]
    pub wikidata: Option<String>,
    /// Listings of this software, by name, through the local catalogue (`mutua catalogue import`): any of its ids matches.
    #[arg(long, value_name = "NAME")]
    pub software: Option<String>,
}

impl SearchArgs {
    /// The query of `GET /v1/records` these flags ask for (without its
    /// page), `--from` resolved to key ids by `authors`.
    pub fn query(
        &self,
        authors: impl FnOnce(&[String]) -> anyhow::Result<Vec<String>>,
    ) -> anyhow::Result<RecordsQuery> {
        let text = self.text.join(" ");
        let list = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
        let upper = |v: &Option<String>| v.as_ref().map(|v| v.to_uppercase());
        // "now": inside the listings' windows now; days: free over them
        // (windows, and offers' calendars), asked of the node's index.
        let (available, free_from, free_to) = match self.available.as_deref() {
            None => (None, None, None),
            Some("now") => (Some("now".to_owned()), None, None),
            Some(days) => {
                let (from, to) = days.split_once("..").unwrap_or((days, days));
                for day in [from, to] {
                    crate::dates::parse_date(day)
                        .map_err(|e| Usage(format!("--available: {e}")))?;
                }
                (
                    None,
                    Some(from.trim().to_owned()),
                    Some(to.trim().to_owned()),
                )
            }
        };
        let side = if self.needs {
            Some(Side::Need.as_str().to_owned())
        } else if self.offers {
            Some(Side::Offer.as_str().to_owned())
        } else {
            None
        };
        let authors = authors(&self.from)?;
        let sort = match (self.sort, &self.near) {
            (Some(SortBy::Distance), None) => {
                return Err(Usage("--sort distance needs --near".into()).into())
            }
            (Some(SortBy::Distance), Some(_)) | (None, Some(_)) => "distance",
            _ => "recency",
        };
        if self.limit == 0 {
            return Err(Usage("--limit must be at least 1".into()).into());
        }
        Ok(RecordsQuery {
            text: (!text.trim().is_empty()).then_some(text),
            kind: list(&self.kind).map(|k| k.replace('-', "_")),
            tag: list(&self.tag),
            near: self.near.clone(),
            radius_km: self.radius,
            insee: upper(&self.insee),
            epci: upper(&self.epci),
            departement: upper(&self.departement),
            available,
            free_from,
            free_to,
            side,
            author: list(&authors),
            sort: Some(sort.into()),
            ..Default::default()
        })
    }
}

#[derive(Args)]
#[command(after_help = "Examples:
  mutua show 9f2c4e…
  mutua show mk7d3…/9f2c4e… --json")]
pub struct ShowArgs {
    /// A listing id, or AUTHOR/ID as printed by `search --json`.
    pub id: String,
}

#[derive(Args)]
pub struct MatchArgs {
    /// Only the needs of this hosted publisher.
    #[arg(long = "as", value_name = "PUBLISHER")]
    pub publisher: Option<String>,
    /// Most offers shown per need.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
}

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Verify every record's signature and every index against the records.
    Check,
    /// Rebuild every index from the records (quarantines records that do not verify).
    Reindex,
    /// Rewrite the store without the space sled no longer uses (needs free space for one copy).
    Compact,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("mutua").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn search_flags_make_the_records_query() {
        let Command::Search(args) = command(&[
            "search",
            "broyeur",
            "thermique",
            "--kind",
            "hosted-service",
            "--kind",
            "equipment",
            "--departement",
            "2a",
            "--needs",
            "--near",
            "Bordeaux",
            "--from",
            "213300635",
        ]) else {
            panic!("search")
        };
        let query = args
            .query(|from| {
                assert_eq!(from, ["213300635"]);
                Ok(vec!["mka".into(), "mkb".into()])
            })
            .unwrap();
        let pairs = query.pairs();
        let sent: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(
            sent,
            [
                ("side", "need"),
                ("kind", "hosted_service,equipment"),
                ("text", "broyeur thermique"),
                ("departement", "2A"),
                ("near", "Bordeaux"),
                ("author", "mka,mkb"),
                ("sort", "distance"),
            ]
        );
        let Command::Search(args) = command(&["search", "--sort", "distance"]) else {
            panic!("search")
        };
        let err = args.query(|_| Ok(Vec::new())).unwrap_err();
        assert!(err.downcast_ref::<Usage>().is_some(), "{err}");
    }

    #[test]
    fn revoke_flags_make_the_request_the_node_reads() {
        let Command::Federation(FederationCommand::Revoke(args)) = command(&[
            "federation",
            "revoke",
            "mk0",
            "--reason",
            "left-federation",
            "--issuer",
            "sdeg",
        ]) else {
            panic!("revoke")
        };
        assert_eq!(
            serde_json::to_string(&args.request()).unwrap(),
            r#"{"issuer":"sdeg","reason":"left_federation"}"#
        );
        assert_eq!(args.reason.protocol().1, "left_federation");
    }

    #[test]
    fn admit_flags_make_the_certificate_request() {
        let Command::Federation(FederationCommand::Admit(args)) = command(&[
            "federation",
            "admit",
            "bordeaux",
            "--collectivity",
            "33063",
            "--may-admit",
            "--valid-days",
            "2",
        ]) else {
            panic!("admit")
        };
        let c = crate::collectivity::resolve("33063").unwrap();
        let subject = mutua_protocol::SecretKey::from_seed([3; 32]).public();
        let request = args.request(subject, &c, 1_800_000_000);
        assert_eq!(request.subject, subject);
        assert_eq!(
            (request.siren.as_str(), request.insee.as_deref()),
            ("213300635", Some("33063"))
        );
        assert!(request.may_admit && request.issuer.is_none());
        assert_eq!(request.valid_until, Some(1_800_000_000 + 2 * 86_400));
    }
}
