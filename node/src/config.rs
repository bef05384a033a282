//! The node's configuration: built-in defaults < `config.toml` < `MUTUA_*`
//! environment < command-line flags.
//!
//! [`Config`] is the file's shape (strings, as an operator types them);
//! [`Config::validate`] turns it into [`Settings`], the typed values the
//! daemon uses, and every error names the key at fault. Environment and flags
//! are read together by clap ([`Overrides`]): a flag wins over its variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use libp2p::Multiaddr;
use mutua_protocol::PublicKey;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The default peer-to-peer port (TCP).
pub const DEFAULT_P2P_PORT: u16 = 4100;
/// The default control API port, on loopback.
pub const DEFAULT_API_PORT: u16 = 4180;

/// The configuration file as written by an operator. Every section and key is
/// optional except the federation's; unknown keys are refused by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub federation: FederationConfig,
    pub network: NetworkSection,
    pub api: ApiSection,
    pub store: StoreSection,
    pub log: LogSection,
    pub publish: PublishSection,
    pub web: crate::web::WebSection,
    pub opendata: OpendataSection,
}

/// The open data a node publishes (`crate::opendata`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpendataSection {
    /// The address the public sees the node at (`https://mutua.syndicat.fr`):
    /// the base of the catalogue's dataset and distribution URLs. Empty: the
    /// control API's own address.
    pub base_url: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// The federation's name: it selects the gossip topic, so nodes of
    /// different federations never exchange records.
    pub name: String,
    /// Key ids (`mk…`) of the trusted anchors.
    pub anchors: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// libp2p listen addresses. All interfaces by default: a town hall's node
    /// behind NAT still needs to accept LAN peers; the API stays on loopback.
    pub listen: Vec<String>,
    /// Peers dialled at start (a syndicate's node with a public address).
    pub bootstrap: Vec<String>,
    /// Discover peers on the local network.
    pub mdns: bool,
    /// Most simultaneous established connections.
    pub max_connections: u32,
    /// Seconds between anti-entropy rounds with a peer.
    pub sync_interval_secs: u64,
    /// Gossipsub's mesh and gossip degrees and heartbeat
    /// (`[network.gossipsub]`; for measurements, the defaults suit).
    pub gossipsub: crate::net::GossipTuning,
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            listen: vec![format!("/ip4/0.0.0.0/tcp/{DEFAULT_P2P_PORT}")],
            bootstrap: Vec::new(),
            mdns: true,
            max_connections: 128,
            sync_interval_secs: 300,
            gossipsub: Default::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Where the control API listens (`host:port`; port 0 lets the system pick).
    pub listen: String,
    /// Must be true for a non-loopback `listen`: the API can publish and
    /// issue certificates in the name of the hosted collectivities.
    pub allow_remote: bool,
    /// Serve `/metrics` without the token (for a scraper on the same host).
    pub metrics_public: bool,
    /// Largest request body, except imports.
    pub max_body_bytes: usize,
    /// Largest import body.
    pub max_import_bytes: usize,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: format!("127.0.0.1:{DEFAULT_API_PORT}"),
            allow_remote: false,
            metrics_public: false,
            max_body_bytes: 64 * 1024,
            max_import_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// sled's page cache, in MiB (the node's main memory cost). At 100k
    /// listings 32 cost 20–30 MiB more than 8 with no query gain measured
    /// (BENCHMARKS.md, the whole node at 100k).
    pub cache_mb: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection { cache_mb: 8 }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    pub format: LogFormat,
    /// A `RUST_LOG`-style filter, used when `RUST_LOG` is not set.
    pub filter: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishSection {
    /// Expiry of a listing published without one, in days after publication.
    pub default_lifetime_days: u64,
}

impl Default for PublishSection {
    fn default() -> Self {
        PublishSection {
            default_lifetime_days: 90,
        }
    }
}

/// Settings from the environment (`MUTUA_*`) and flags, applied over the
/// file. clap reads both: a flag beats its environment variable. An empty
/// list means "not given" (the file's value stays).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Overrides {
    /// Data directory (default: the XDG data directory, e.g. ~/.local/share/mutua).
    #[arg(long, env = "MUTUA_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (default: <data dir>/config.toml). When named
    /// explicitly it must exist.
    #[arg(long, env = "MUTUA_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Federation name.
    #[arg(long, env = "MUTUA_FEDERATION", global = true)]
    pub federation: Option<String>,
    /// Trusted anchor key ids (repeat or comma-separate).
    #[arg(
        long = "anchor",
        env = "MUTUA_ANCHORS",
        value_delimiter = ',',
        global = true
    )]
    pub anchors: Vec<String>,
    /// libp2p listen multiaddrs (repeat or comma-separate).
    #[arg(
        long = "listen",
        env = "MUTUA_LISTEN",
        value_delimiter = ',',
        global = true
    )]
    pub listen: Vec<String>,
    /// Bootstrap peer multiaddrs (repeat or comma-separate).
    #[arg(
        long = "bootstrap",
        env = "MUTUA_BOOTSTRAP",
        value_delimiter = ',',
        global = true
    )]
    pub bootstrap: Vec<String>,
    /// Local-network discovery (true/false).
    #[arg(long, global = true, env = "MUTUA_MDNS", value_parser = clap::builder::BoolishValueParser::new())]
    pub mdns: Option<bool>,
    /// Most simultaneous connections.
    #[arg(long, global = true, env = "MUTUA_MAX_CONNECTIONS")]
    pub max_connections: Option<u32>,
    /// Control API address (host:port).
    #[arg(long, global = true, env = "MUTUA_API_LISTEN")]
    pub api_listen: Option<String>,
    /// Allow a non-loopback control API address (true/false).
    #[arg(long, global = true, env = "MUTUA_API_ALLOW_REMOTE", value_parser = clap::builder::BoolishValueParser::new())]
    pub api_allow_remote: Option<bool>,
    /// Serve /metrics without the token (true/false).
    #[arg(long, global = true, env = "MUTUA_METRICS_PUBLIC", value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics_public: Option<bool>,
    /// Store page cache in MiB.
    #[arg(long, global = true, env = "MUTUA_STORE_CACHE_MB")]
    pub store_cache_mb: Option<u64>,
    /// Log format.
    #[arg(long, env = "MUTUA_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Web page address (host:port); unset: no web page.
    #[arg(long, global = true, env = "MUTUA_WEB_LISTEN")]
    pub web_listen: Option<String>,
}

/// Why the configuration cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a key or value this node does not know.
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value breaks a rule; `key` is the dotted TOML key.
    #[error("configuration key {key}: {message}")]
    Invalid { key: String, message: String },
}

/// Most bytes of a federation name (it is part of the gossip topic).
pub const MAX_FEDERATION_NAME_BYTES: usize = 64;

/// The rule of a federation name, shared by `init` (refused before anything
/// is written) and the node's configuration check.
pub fn check_federation_name(name: &str) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("a federation name is required".into());
    }
    if name.len() > MAX_FEDERATION_NAME_BYTES {
        return Err(format!(
            "{name:?} is {} bytes long in UTF-8; at most {MAX_FEDERATION_NAME_BYTES} \
             (an accented letter takes 2)",
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{name:?} holds a control character"));
    }
    Ok(())
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The validated configuration the daemon runs with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub federation: String,
    pub anchors: Vec<PublicKey>,
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    pub max_connections: u32,
    pub sync_interval_secs: u64,
    pub gossip: crate::net::GossipTuning,
    pub api_listen: SocketAddr,
    pub metrics_public: bool,
    pub max_body_bytes: usize,
    pub max_import_bytes: usize,
    pub store_cache_mb: u64,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub default_lifetime_days: u64,
    /// The web page, when `web.listen` is set.
    pub web: Option<crate::web::WebSettings>,
    /// `opendata.base_url`, checked; `None` when not set.
    pub opendata_base_url: Option<String>,
}

impl Config {
    /// Reads a configuration file. `required` is false for the default path,
    /// where a missing file means "all defaults".
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text).map_err(|message| ConfigError::Parse {
                path: path.to_owned(),
                message,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses TOML text; the error gives the line, column and key (toml's
    /// messages name unknown keys and the expected ones).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Applies environment and flags over the file's values.
    pub fn apply(&mut self, o: &Overrides) {
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *target = v.clone();
            }
        }
        fn set_list(target: &mut Vec<String>, value: &[String]) {
            if !value.is_empty() {
                *target = value.to_vec();
            }
        }
        set(&mut self.federation.name, &o.federation);
        set_list(&mut self.federation.anchors, &o.anchors);
        set_list(&mut self.network.listen, &o.listen);
        set_list(&mut self.network.bootstrap, &o.bootstrap);
        set(&mut self.network.mdns, &o.mdns);
        set(&mut self.network.max_connections, &o.max_connections);
        set(&mut self.api.listen, &o.api_listen);
        set(&mut self.api.allow_remote, &o.api_allow_remote);
        set(&mut self.api.metrics_public, &o.metrics_public);
        set(&mut self.store.cache_mb, &o.store_cache_mb);
        set(&mut self.log.format, &o.log_format);
        set(&mut self.web.listen, &o.web_listen);
    }

    /// Checks every value and converts it to its type.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let federation = self.federation.name.trim().to_owned();
        if federation.is_empty() {
            return Err(invalid(
                "federation.name",
                "required (the federation this node belongs to; `mutua init` writes it)",
            ));
        }
        check_federation_name(&federation).map_err(|e| invalid("federation.name", e))?;
        if self.federation.anchors.is_empty() {
            return Err(invalid(
                "federation.anchors",
                "at least one trusted anchor key id (mk…) is required",
            ));
        }
        let anchors = parse_list("federation.anchors", &self.federation.anchors, |s| {
            s.parse::<PublicKey>().map_err(|e| e.to_string())
        })?;
        let multiaddr = |s: &str| s.parse::<Multiaddr>().map_err(|e| e.to_string());
        let listen = parse_list("network.listen", &self.network.listen, multiaddr)?;
        let bootstrap = parse_list("network.bootstrap", &self.network.bootstrap, multiaddr)?;
        if self.network.max_connections == 0 {
            return Err(invalid("network.max_connections", "must be at least 1"));
        }
        if self.network.sync_interval_secs == 0 {
            return Err(invalid("network.sync_interval_secs", "must be at least 1"));
        }
        self.network
            .gossipsub
            .check()
            .map_err(|e| invalid("network.gossipsub", e))?;
        let api_listen: SocketAddr = self.api.listen.parse().map_err(|_| {
            invalid(
                "api.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:{DEFAULT_API_PORT}",
                    self.api.listen
                ),
            )
        })?;
        if !api_listen.ip().is_loopback() && !self.api.allow_remote {
            return Err(invalid(
                "api.listen",
                format!(
                    "{api_listen} is not a loopback address; the control API can publish \
                     and issue certificates, so set api.allow_remote = true \
                     (or MUTUA_API_ALLOW_REMOTE=true) to expose it deliberately"
                ),
            ));
        }
        if self.api.max_body_bytes < 1024 {
            return Err(invalid("api.max_body_bytes", "must be at least 1024"));
        }
        if self.api.max_import_bytes < self.api.max_body_bytes {
            return Err(invalid(
                "api.max_import_bytes",
                "must be at least api.max_body_bytes",
            ));
        }
        if self.store.cache_mb == 0 {
            return Err(invalid("store.cache_mb", "must be at least 1"));
        }
        let max_days = mutua_protocol::rules::MAX_LIFETIME_DAYS;
        if !(1..=max_days).contains(&self.publish.default_lifetime_days) {
            return Err(invalid(
                "publish.default_lifetime_days",
                format!("must be between 1 and {max_days}"),
            ));
        }
        let base_url = self.opendata.base_url.trim();
        let opendata_base_url = if base_url.is_empty() {
            None
        } else if (base_url.starts_with("https://") || base_url.starts_with("http://"))
            && !base_url.contains(char::is_whitespace)
        {
            Some(base_url.trim_end_matches('/').to_owned())
        } else {
            return Err(invalid(
                "opendata.base_url",
                format!("{base_url:?} is not an address like https://mutua.syndicat.fr"),
            ));
        };
        Ok(Settings {
            federation,
            anchors,
            listen,
            bootstrap,
            mdns: self.network.mdns,
            max_connections: self.network.max_connections,
            sync_interval_secs: self.network.sync_interval_secs,
            gossip: self.network.gossipsub.clone(),
            api_listen,
            metrics_public: self.api.metrics_public,
            max_body_bytes: self.api.max_body_bytes,
            max_import_bytes: self.api.max_import_bytes,
            store_cache_mb: self.store.cache_mb,
            log_format: self.log.format,
            log_filter: self.log.filter.clone(),
            default_lifetime_days: self.publish.default_lifetime_days,
            web: self.web.validate()?,
            opendata_base_url,
        })
    }

    /// The file `mutua init` (or `mutua-node init`) writes: the federation, then every other
    /// key commented out at its default, so the operator sees what exists.
    pub fn commented_template(federation: &str, anchors: &[PublicKey]) -> String {
        Config::template(federation, anchors, &NetworkChoices::default())
    }

    /// [`Config::commented_template`] with the network settings chosen at
    /// `init` written out (the others stay commented at their defaults).
    pub fn template(federation: &str, anchors: &[PublicKey], chosen: &NetworkChoices) -> String {
        let d = Config::default();
        let anchors: Vec<String> = anchors.iter().map(|a| format!("\"{a}\"")).collect();
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
            format!("[{}]", quoted.join(", "))
        };
        let listen = match chosen.listen.as_slice() {
            [] => format!("# listen = {:?}", d.network.listen),
            given => format!("listen = {}", list(given)),
        };
        let bootstrap = match chosen.bootstrap.as_slice() {
            [] => "# bootstrap = []   # e.g. [\"/dns4/noeud.syndicat.fr/tcp/4100\"]".to_owned(),
            given => format!("bootstrap = {}", list(given)),
        };
        let mdns = match chosen.mdns {
            None => format!("# mdns = {}", d.network.mdns),
            Some(on) => format!("mdns = {on}"),
        };
        let api = match &chosen.api_listen {
            None => format!("# listen = {:?}", d.api.listen),
            Some(addr) => format!("listen = {addr:?}"),
        };
        format!(
            "# Mutua node configuration. Precedence: defaults < this file < MUTUA_* environment < flags.\n\
             \n\
             [federation]\n\
             name = {federation:?}\n\
             # Key ids of the trusted anchors (mk…).\n\
             anchors = [{anchors}]\n\
             \n\
             [network]\n\
             {listen}\n\
             {bootstrap}\n\
             {mdns}\n\
             # max_connections = {maxc}\n\
             # sync_interval_secs = {sync}\n\
             \n\
             [api]\n\
             {api}\n\
             # allow_remote = false   # required for a non-loopback listen address\n\
             # metrics_public = false # serve /metrics without the token\n\
             # max_body_bytes = {body}\n\
             # max_import_bytes = {import}\n\
             \n\
             [store]\n\
             # cache_mb = {cache}\n\
             \n\
             [log]\n\
             # format = \"text\"   # or \"json\"\n\
             # filter = \"info\"   # RUST_LOG wins when set\n\
             \n\
             [publish]\n\
             # default_lifetime_days = {life}\n\
             \n\
             [web]\n\
             # The staff web page (unset: not served). Loopback; expose it behind a TLS proxy (contrib/).\n\
             # listen = \"127.0.0.1:{web_port}\"\n\
             # public_url = \"\"          # e.g. \"https://mutua.syndicat.fr\" (invitation links)\n\
             # operator_name = \"\"       # the hosting body, shown on every page\n\
             # public_browsing = false    # true: anyone may browse offers and needs\n\
             # behind_tls = false         # true: cookies get Secure\n\
             # session_secs = {session}\n\
             # allow_remote = false       # required for a non-loopback listen address\n\
             [opendata]\n\
             # base_url = \"https://mutua.syndicat.example\"   # public address of the open-data catalogue\n",
            anchors = anchors.join(", "),
            maxc = d.network.max_connections,
            sync = d.network.sync_interval_secs,
            body = d.api.max_body_bytes,
            import = d.api.max_import_bytes,
            cache = d.store.cache_mb,
            life = d.publish.default_lifetime_days,
            web_port = crate::web::DEFAULT_WEB_PORT,
            session = d.web.session_secs,
        )
    }
}

/// Network settings chosen when a data directory is created (`mutua init
/// --listen … --api-listen … --bootstrap … --mdns …`), written to its
/// config.toml; empty means the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkChoices {
    pub listen: Vec<String>,
    pub bootstrap: Vec<String>,
    pub api_listen: Option<String>,
    pub mdns: Option<bool>,
}

/// The settings a node runs with: defaults < the config file (`--config`,
/// else `<data dir>/config.toml` if present) < environment < flags. Shared
/// by `mutua-node run` and `mutua node`.
pub fn load_settings(overrides: &Overrides, default_file: &Path) -> Result<Settings, ConfigError> {
    let mut config = match &overrides.config {
        Some(path) => Config::load(path, true)?,
        None => Config::load(default_file, false)?,
    };
    config.apply(overrides);
    config.validate()
}

/// Installs the log subscriber on stderr: `RUST_LOG` if set, else
/// `log.filter`; JSON or text as `log.format` says, colours on a terminal.
pub fn init_logs(settings: &Settings) -> Result<(), ConfigError> {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) => EnvFilter::try_new(&text).map_err(|e| invalid("RUST_LOG", e.to_string()))?,
        Err(_) => EnvFilter::try_new(&settings.log_filter)
            .map_err(|e| invalid("log.filter", e.to_string()))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second call (tests) keeps the first subscriber.
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    Ok(())
}

fn parse_list<T>(
    key: &str,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ConfigError> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| parse(v).map_err(|e| invalid(format!("{key}[{i}]"), format!("{v:?}: {e}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn anchor() -> PublicKey {
        mutua_protocol::SecretKey::from_seed([7; 32]).public()
    }

    fn minimal() -> String {
        format!(
            "[federation]\nname = \"test\"\nanchors = [\"{}\"]\n",
            anchor().key_id()
        )
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        overrides: Overrides,
    }

    #[test]
    fn the_template_parses_and_yields_the_defaults() {
        let text = Config::commented_template("test", &[anchor()]);
        let config = Config::parse(&text).unwrap();
        let mut expected = Config::default();
        expected.federation.name = "test".into();
        expected.federation.anchors = vec![anchor().key_id()];
        assert_eq!(config, expected);
        let settings = config.validate().unwrap();
        assert_eq!(settings.api_listen.port(), DEFAULT_API_PORT);
        assert!(settings.api_listen.ip().is_loopback());
        assert_eq!(settings.anchors, vec![anchor()]);
    }

    #[test]
    fn network_choices_are_written_and_read_back() {
        let chosen = NetworkChoices {
            listen: vec!["/ip4/0.0.0.0/tcp/4101".into()],
            bootstrap: vec!["/ip4/127.0.0.1/tcp/4100".into()],
            api_listen: Some("127.0.0.1:4181".into()),
            mdns: Some(false),
        };
        let text = Config::template("test", &[anchor()], &chosen);
        let settings = Config::parse(&text).unwrap().validate().unwrap();
        assert_eq!(settings.listen[0].to_string(), "/ip4/0.0.0.0/tcp/4101");
        assert_eq!(settings.bootstrap[0].to_string(), "/ip4/127.0.0.1/tcp/4100");
        assert_eq!(settings.api_listen.port(), 4181);
        assert!(!settings.mdns);
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let text = format!("{}\n[network]\nmdsn = false\n", minimal());
        let err = Config::parse(&text).unwrap_err();
        assert!(err.contains("mdsn"), "{err}");
        assert!(err.contains("line 6"), "{err}");
    }

    #[test]
    fn a_missing_explicit_file_is_an_error_and_a_missing_default_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        assert!(matches!(
            Config::load(&path, true),
            Err(ConfigError::Read { .. })
        ));
        assert_eq!(Config::load(&path, false).unwrap(), Config::default());
        std::fs::write(&path, "[api]\nlisten = 4\n").unwrap();
        let err = Config::load(&path, false).unwrap_err().to_string();
        assert!(
            err.contains("absent.toml") && err.contains("listen"),
            "{err}"
        );
    }

    #[test]
    fn flags_override_the_file() {
        let mut config = Config::parse(&format!("{}[network]\nmdns = true\n", minimal())).unwrap();
        let cli = Cli::try_parse_from([
            "x",
            "--mdns",
            "off",
            "--bootstrap",
            "/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/tcp/2",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .unwrap();
        config.apply(&cli.overrides);
        let s = config.validate().unwrap();
        assert!(!s.mdns);
        assert_eq!(s.bootstrap.len(), 2);
        assert_eq!(s.api_listen.port(), 0);
        // Untouched keys keep the file's value.
        assert_eq!(s.federation, "test");
    }

    #[test]
    fn the_open_data_base_url_is_an_address_without_its_trailing_slash() {
        let mut config = Config::parse(&minimal()).unwrap();
        assert_eq!(config.validate().unwrap().opendata_base_url, None);
        config.opendata.base_url = "https://mutua.syndicat.example/".into();
        assert_eq!(
            config.validate().unwrap().opendata_base_url.as_deref(),
            Some("https://mutua.syndicat.example")
        );
        config.opendata.base_url = "mutua.syndicat.example".into();
        let err = config.validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "opendata.base_url"),
            "{err}"
        );
    }

    #[test]
    fn a_remote_api_address_needs_allow_remote() {
        let mut config = Config::parse(&minimal()).unwrap();
        config.api.listen = "0.0.0.0:4180".into();
        let err = config.validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key, message } if key == "api.listen" && message.contains("allow_remote")),
            "{err}"
        );
        config.api.allow_remote = true;
        assert!(config.validate().is_ok());
    }

    #[test]
    fn gossipsub_degrees_are_read_and_checked() {
        let text = format!(
            "{}\n[network.gossipsub]\nmesh_n = 4\nmesh_n_low = 3\nmesh_n_high = 6\ngossip_lazy = 3\n",
            minimal()
        );
        let settings = Config::parse(&text).unwrap().validate().unwrap();
        assert_eq!(
            (
                settings.gossip.mesh_n,
                settings.gossip.mesh_n_low,
                settings.gossip.mesh_n_high
            ),
            (4, 3, 6)
        );
        assert_eq!(settings.gossip.gossip_lazy, 3);
        // D_lo above D: libp2p would refuse it at start; the config says so first.
        let text = format!("{}\n[network.gossipsub]\nmesh_n_low = 7\n", minimal());
        let err = Config::parse(&text).unwrap().validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "network.gossipsub"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "[federation]\nname = \"\"\nanchors = []\n",
                "federation.name",
            ),
            (
                "[federation]\nname = \"x\"\nanchors = []\n",
                "federation.anchors",
            ),
            (
                "[federation]\nname = \"x\"\nanchors = [\"mkzz\"]\n",
                "federation.anchors[0]",
            ),
        ];
        for (text, key) in cases {
            let err = Config::parse(text).unwrap().validate().unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { key: k, .. } if k == key),
                "{err}"
            );
        }
        let mut config = Config::parse(&minimal()).unwrap();
        config.network.bootstrap = vec!["/ip4/127.0.0.1/tcp/1".into(), "not-an-addr".into()];
        let err = config.validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if key == "network.bootstrap[1]"),
            "{err}"
        );
    }
}
