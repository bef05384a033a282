//! The data directory: configuration, keys, store, and the files that tell a
//! client (the `mutua` CLI) where the running node's API is.
//!
//! ```text
//! <data dir>/
//!   config.toml                 commented defaults, written by init
//!   keys/                       0700
//!     node.key                  libp2p ed25519 keypair (protobuf), 0600
//!     anchor.key                optional federation anchor key, 0600
//!     publishers/               0700
//!       <name>.key              a hosted collectivity's key, 0600
//!       <name>.cert             its membership certificate (envelope bytes)
//!     removed/                  0700, keys taken off by `mutua key remove`:
//!       <name>-<unix time>.key  kept, never deleted (its signatures stay valid)
//!   store/                      sled
//!   api.token                   0600, new random token at each start
//!   api.addr                    the API's host:port while the node runs
//! ```
//!
//! The node's libp2p key only identifies the machine on the network; it
//! signs no record. Publisher and anchor keys sign records and never leave
//! this directory. The daemon refuses to start when any key file or key
//! directory is accessible by group or others.
//!
//! Secret files are created 0600 from their first byte (`create_new` and a
//! mode), never chmod-ed after the fact. `api.token` and `api.addr` are
//! replaced atomically (temporary file, then rename), token first, so a
//! client that sees `api.addr` finds the matching token. OPERATIONS.md is
//! the operator's view of this layout.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;
use mutua_protocol::{PublicKey, SecretKey};
use rand::rngs::OsRng;
use rand::RngCore;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::config::Config;

const KEYS_DIR: &str = "keys";
const PUBLISHERS_DIR: &str = "publishers";
const REMOVED_DIR: &str = "removed";
const NODE_KEY: &str = "node.key";
const ANCHOR_KEY: &str = "anchor.key";
const CONFIG_FILE: &str = "config.toml";
const STORE_DIR: &str = "store";
const TOKEN_FILE: &str = "api.token";
const ADDR_FILE: &str = "api.addr";
const MAX_PUBLISHER_NAME: usize = 64;

/// Why the data directory cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataDirError {
    /// No default location could be derived (no home directory).
    #[error("cannot determine a default data directory (no home directory); pass --data-dir")]
    NoDefault,
    /// `init` on a directory that already holds a node key.
    #[error("{path} is already initialised (it has {NODE_KEY})")]
    AlreadyInitialised { path: PathBuf },
    /// The directory was never initialised.
    #[error("{path} is not an initialised data directory (no keys/{NODE_KEY}): create it with `mutua --data-dir {path} init` (to join a federation) or `mutua --data-dir {path} federation create` (to found one)", path = .path.display())]
    NotInitialised { path: PathBuf },
    /// A key file or directory can be read by other users.
    #[error("{path} is accessible by group or others (mode {mode:o}): run `chmod {fix:o} {path}`", path = .path.display())]
    Permissions { path: PathBuf, mode: u32, fix: u32 },
    /// A key file exists but cannot be decoded.
    #[error("{path} is not a valid key file: {reason}", path = .path.display())]
    BadKey { path: PathBuf, reason: String },
    /// A publisher name that cannot be a file name.
    #[error("publisher name {name:?}: use 1 to {MAX_PUBLISHER_NAME} characters among a-z, 0-9, '-' and '_', starting with a letter or digit")]
    BadPublisherName { name: String },
    /// A setting given to `init` that the node would refuse.
    #[error("{0}")]
    BadConfig(String),
    /// A federation name over the limit (or empty, or with control characters).
    #[error("federation name: {0}")]
    BadFederationName(String),
    /// The publisher already exists (or does not, for a certificate).
    #[error("publisher {name:?} {problem}")]
    Publisher { name: String, problem: &'static str },
    /// The node is not running, or has not yet written its API files.
    #[error("no running node found: {path} is missing (start the node, or check --data-dir)", path = .path.display())]
    NotRunning { path: PathBuf },
    /// api.addr holds something that is not an address.
    #[error("{path} does not hold a host:port address", path = .path.display())]
    BadAddrFile { path: PathBuf },
    /// A file system operation failed.
    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The platform's default data directory (`$XDG_DATA_HOME/mutua`, usually
/// `~/.local/share/mutua`).
pub fn default_path() -> Result<PathBuf, DataDirError> {
    directories::ProjectDirs::from("", "", "mutua")
        .map(|d| d.data_dir().to_owned())
        .ok_or(DataDirError::NoDefault)
}

/// What `init` creates beside the node key.
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    /// The federation's name, written to `config.toml`.
    pub federation: String,
    /// Trusted anchors to write to `config.toml`.
    pub anchors: Vec<PublicKey>,
    /// Generate an anchor key here (the federation's founder) and trust it.
    pub new_anchor: bool,
    /// Publisher keys to generate, by name.
    pub publishers: Vec<String>,
    /// Network settings to write to `config.toml` instead of the defaults.
    pub network: crate::config::NetworkChoices,
}

/// What `init` created.
#[derive(Debug)]
pub struct InitReport {
    pub data_dir: DataDir,
    pub peer_id: libp2p::PeerId,
    pub anchor: Option<PublicKey>,
    pub publishers: Vec<(String, PublicKey)>,
    /// False when a `config.toml` was already there and was kept as is.
    pub wrote_config: bool,
}

/// Creates the layout, the node key, and the keys asked for. An existing
/// `config.toml` is kept (an operator may have provisioned it).
pub fn init(path: &Path, options: &InitOptions) -> Result<InitReport, DataDirError> {
    crate::config::check_federation_name(&options.federation)
        .map_err(DataDirError::BadFederationName)?;
    for name in &options.publishers {
        check_publisher_name(name)?;
    }
    let new_anchor = options.new_anchor.then(new_secret_key);
    let mut anchors = options.anchors.clone();
    anchors.extend(new_anchor.as_ref().map(SecretKey::public));
    let config_text = Config::template(&options.federation, &anchors, &options.network);
    // Checked by the node's own rules before anything is written: a bad
    // --listen is refused now, not at the first start.
    Config::parse(&config_text)
        .map_err(DataDirError::BadConfig)?
        .validate()
        .map_err(|e| DataDirError::BadConfig(e.to_string()))?;
    let dir = DataDir::at(path);
    if dir.node_key_path().exists() {
        return Err(DataDirError::AlreadyInitialised {
            path: path.to_owned(),
        });
    }
    create_private_dir(path)?;
    create_private_dir(&dir.keys_dir())?;
    create_private_dir(&dir.publishers_dir())?;
    let node_key =
        Keypair::ed25519_from_bytes(random_seed()).expect("32 bytes are an ed25519 seed");
    let encoded = Zeroizing::new(node_key.to_protobuf_encoding().expect("ed25519 encodes"));
    write_private(&dir.node_key_path(), &encoded)?;
    if let Some(key) = &new_anchor {
        write_private(&dir.anchor_key_path(), key.to_file_string().as_bytes())?;
    }
    let publishers = options
        .publishers
        .iter()
        .map(|name| Ok((name.clone(), dir.add_publisher(name)?)))
        .collect::<Result<Vec<_>, DataDirError>>()?;
    let config_path = dir.config_path();
    let wrote_config = !config_path.exists();
    if wrote_config {
        write_atomic(&config_path, config_text.as_bytes(), 0o644)?;
    }
    Ok(InitReport {
        peer_id: node_key.public().to_peer_id(),
        data_dir: dir,
        anchor: new_anchor.as_ref().map(SecretKey::public),
        publishers,
        wrote_config,
    })
}

/// A hosted collectivity: its signing key and, once admitted, its certificate.
pub struct HostedPublisher {
    pub name: String,
    pub key: SecretKey,
    /// The envelope bytes of its membership certificate, if one was saved.
    pub certificate: Option<Vec<u8>>,
}

/// Where a running node's API is, for a client.
#[derive(Clone, Debug)]
pub struct ApiEndpoint {
    pub addr: SocketAddr,
    pub token: String,
}

/// A data directory's paths and the operations on its files.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The directory at `path`, unchecked (a client reading the API files).
    pub fn at(path: &Path) -> DataDir {
        DataDir {
            root: path.to_owned(),
        }
    }

    /// An initialised directory whose keys are private.
    pub fn open(path: &Path) -> Result<DataDir, DataDirError> {
        let dir = DataDir::at(path);
        if !dir.node_key_path().exists() {
            return Err(DataDirError::NotInitialised {
                path: path.to_owned(),
            });
        }
        dir.check_permissions()?;
        Ok(dir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join(KEYS_DIR)
    }
    pub fn publishers_dir(&self) -> PathBuf {
        self.keys_dir().join(PUBLISHERS_DIR)
    }
    pub fn node_key_path(&self) -> PathBuf {
        self.keys_dir().join(NODE_KEY)
    }
    pub fn anchor_key_path(&self) -> PathBuf {
        self.keys_dir().join(ANCHOR_KEY)
    }
    pub fn store_path(&self) -> PathBuf {
        self.root.join(STORE_DIR)
    }
    pub fn token_path(&self) -> PathBuf {
        self.root.join(TOKEN_FILE)
    }
    pub fn addr_path(&self) -> PathBuf {
        self.root.join(ADDR_FILE)
    }
    fn publisher_path(&self, name: &str, ext: &str) -> PathBuf {
        self.publishers_dir().join(format!("{name}.{ext}"))
    }

    /// Refuses key files and directories that group or others can access,
    /// naming the file and the `chmod` that fixes it.
    pub fn check_permissions(&self) -> Result<(), DataDirError> {
        fn check(path: &Path) -> Result<(), DataDirError> {
            let meta = fs::symlink_metadata(path).map_err(io_error(path))?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                let fix = if meta.is_dir() { 0o700 } else { 0o600 };
                return Err(DataDirError::Permissions {
                    path: path.to_owned(),
                    mode,
                    fix,
                });
            }
            if meta.is_dir() {
                for entry in fs::read_dir(path).map_err(io_error(path))? {
                    check(&entry.map_err(io_error(path))?.path())?;
                }
            }
            Ok(())
        }
        check(&self.keys_dir())
    }

    /// The libp2p identity of this node.
    pub fn node_keypair(&self) -> Result<Keypair, DataDirError> {
        let path = self.node_key_path();
        let bytes = Zeroizing::new(fs::read(&path).map_err(io_error(&path))?);
        Keypair::from_protobuf_encoding(&bytes).map_err(|e| DataDirError::BadKey {
            path,
            reason: e.to_string(),
        })
    }

    /// The federation anchor key, if this node holds one.
    pub fn anchor_key(&self) -> Result<Option<SecretKey>, DataDirError> {
        let path = self.anchor_key_path();
        if !path.exists() {
            return Ok(None);
        }
        read_secret_key(&path).map(Some)
    }

    /// Every hosted publisher, sorted by name.
    pub fn publishers(&self) -> Result<Vec<HostedPublisher>, DataDirError> {
        let dir = self.publishers_dir();
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let path = entry.map_err(io_error(&dir))?.path();
            if path.extension().is_some_and(|e| e == "key") {
                if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                    names.push(stem.to_owned());
                }
            }
        }
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let key = read_secret_key(&self.publisher_path(&name, "key"))?;
                let cert_path = self.publisher_path(&name, "cert");
                let certificate = match fs::read(&cert_path) {
                    Ok(bytes) => Some(bytes),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(io_error(&cert_path)(e)),
                };
                Ok(HostedPublisher {
                    name,
                    key,
                    certificate,
                })
            })
            .collect()
    }

    /// Generates the key of a new hosted publisher.
    pub fn add_publisher(&self, name: &str) -> Result<PublicKey, DataDirError> {
        check_publisher_name(name)?;
        let path = self.publisher_path(name, "key");
        if path.exists() {
            return Err(DataDirError::Publisher {
                name: name.to_owned(),
                problem: "already exists",
            });
        }
        let key = new_secret_key();
        write_private(&path, key.to_file_string().as_bytes())?;
        Ok(key.public())
    }

    /// Stops hosting publisher `name`: its key (and certificate) move to
    /// `keys/removed/`, never deleted: the listings it signed stay valid
    /// and a key removed by mistake can be moved back. Returns the new path
    /// of the key.
    pub fn remove_publisher(&self, name: &str, now: u64) -> Result<PathBuf, DataDirError> {
        check_publisher_name(name)?;
        let key = self.publisher_path(name, "key");
        if !key.exists() {
            return Err(DataDirError::Publisher {
                name: name.to_owned(),
                problem: "does not exist (see `mutua key list`)",
            });
        }
        let removed = self.keys_dir().join(REMOVED_DIR);
        create_private_dir(&removed)?;
        let moved_key = removed.join(format!("{name}-{now}.key"));
        let cert = self.publisher_path(name, "cert");
        if cert.exists() {
            let moved_cert = removed.join(format!("{name}-{now}.cert"));
            fs::rename(&cert, &moved_cert).map_err(io_error(&cert))?;
        }
        fs::rename(&key, &moved_key).map_err(io_error(&key))?;
        Ok(moved_key)
    }

    /// Saves a hosted publisher's membership certificate (envelope bytes),
    /// so it is re-announced at every start.
    pub fn write_certificate(&self, name: &str, envelope: &[u8]) -> Result<(), DataDirError> {
        check_publisher_name(name)?;
        if !self.publisher_path(name, "key").exists() {
            return Err(DataDirError::Publisher {
                name: name.to_owned(),
                problem: "does not exist",
            });
        }
        write_atomic(&self.publisher_path(name, "cert"), envelope, 0o600)
    }

    /// Writes a fresh token, then the address: a client that sees `api.addr`
    /// finds the token that goes with it.
    pub fn write_api_files(&self, addr: SocketAddr, token: &str) -> Result<(), DataDirError> {
        write_atomic(&self.token_path(), token.as_bytes(), 0o600)?;
        write_atomic(&self.addr_path(), format!("{addr}\n").as_bytes(), 0o644)
    }

    /// Removes `api.addr` at a clean shutdown (the token stays useless: the
    /// next start replaces it).
    pub fn remove_api_addr(&self) {
        let _ = fs::remove_file(self.addr_path());
    }

    /// Where the running node's API listens, and its token. A node killed
    /// with `kill -9` leaves `api.addr` behind: it counts only while the
    /// store is locked (see [`DataDir::store_in_use`]).
    pub fn api_endpoint(&self) -> Result<ApiEndpoint, DataDirError> {
        let addr_path = self.addr_path();
        let text = match fs::read_to_string(&addr_path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataDirError::NotRunning { path: addr_path })
            }
            other => other.map_err(io_error(&addr_path))?,
        };
        if !self.store_in_use()? {
            return Err(DataDirError::NotRunning { path: addr_path });
        }
        let addr = text
            .trim()
            .parse()
            .map_err(|_| DataDirError::BadAddrFile { path: addr_path })?;
        let token_path = self.token_path();
        let token = fs::read_to_string(&token_path)
            .map_err(io_error(&token_path))?
            .trim()
            .to_owned();
        Ok(ApiEndpoint { addr, token })
    }
}

impl DataDir {
    /// Whether a process has the store open. sled holds an exclusive `flock`
    /// on `store/db` for as long as the store is open, and the kernel drops
    /// it when the process dies, however it dies: unlike a pid file, this
    /// cannot be fooled by a stale file or a reused pid.
    pub fn store_in_use(&self) -> Result<bool, DataDirError> {
        let db = self.store_path().join(SLED_DB_FILE);
        let file = match fs::File::open(&db) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            // Not ours to read (a client of another user's node, allowed to
            // read only the API files): trust `api.addr` as before.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(true),
            Err(e) => return Err(io_error(&db)(e)),
        };
        // fs2's flock, the very lock sled takes (named in full: std's own
        // `File::try_lock_shared` is newer than this workspace's MSRV).
        match fs2::FileExt::try_lock_shared(&file) {
            // Dropping the file releases the shared lock at once.
            Ok(()) => Ok(false),
            Err(e) if e.kind() == fs2::lock_contended_error().kind() => Ok(true),
            Err(e) => Err(io_error(&db)(e)),
        }
    }
}

/// The file sled locks while a store is open.
const SLED_DB_FILE: &str = "db";

/// A new random API token: 32 bytes from the OS, in hex.
pub fn new_token() -> String {
    mutua_protocol::hex(&random_seed())
}

fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    seed
}

fn new_secret_key() -> SecretKey {
    SecretKey::from_seed(random_seed())
}

fn check_publisher_name(name: &str) -> Result<(), DataDirError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_PUBLISHER_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DataDirError::BadPublisherName {
            name: name.to_owned(),
        })
    }
}

fn read_secret_key(path: &Path) -> Result<SecretKey, DataDirError> {
    let text = Zeroizing::new(fs::read_to_string(path).map_err(io_error(path))?);
    SecretKey::from_file_string(&text).map_err(|e| DataDirError::BadKey {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn create_private_dir(path: &Path) -> Result<(), DataDirError> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
    {
        Ok(()) => Ok(()),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// A new secret file, created 0600 from the start (never a moment readable).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))
}

/// Replaces a file atomically (a reader sees the old or the new content),
/// with `mode` from creation.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DataDirError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_error(&tmp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_error(&tmp))?;
    fs::rename(&tmp, path).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> InitOptions {
        InitOptions {
            federation: "test".into(),
            anchors: vec![],
            new_anchor: true,
            publishers: vec!["mairie-a".into(), "sivom".into()],
            network: Default::default(),
        }
    }

    #[test]
    fn init_creates_private_keys_and_a_valid_config() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("node");
        let report = init(&root, &options()).unwrap();
        let dir = DataDir::open(&root).unwrap();
        assert_eq!(
            dir.node_keypair().unwrap().public().to_peer_id(),
            report.peer_id
        );
        let anchor = dir.anchor_key().unwrap().unwrap();
        assert_eq!(Some(anchor.public()), report.anchor);
        let publishers = dir.publishers().unwrap();
        let names: Vec<_> = publishers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["mairie-a", "sivom"]);
        assert_eq!(publishers[0].key.public(), report.publishers[0].1);
        let settings = Config::load(&dir.config_path(), true)
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(settings.anchors, vec![anchor.public()]);
        for path in [dir.keys_dir(), dir.publishers_dir()] {
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
        assert_eq!(
            fs::metadata(dir.node_key_path())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert!(matches!(
            init(&root, &options()),
            Err(DataDirError::AlreadyInitialised { .. })
        ));
    }

    #[test]
    fn readable_keys_are_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        init(tmp.path(), &options()).unwrap();
        let dir = DataDir::at(tmp.path());
        let key = dir.publishers_dir().join("sivom.key");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let err = DataDir::open(tmp.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("sivom.key") && text.contains("chmod 600"),
            "{text}"
        );
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(dir.keys_dir(), fs::Permissions::from_mode(0o750)).unwrap();
        let text = DataDir::open(tmp.path()).unwrap_err().to_string();
        assert!(text.contains("chmod 700"), "{text}");
    }

    #[test]
    fn api_files_round_trip_and_a_missing_addr_means_not_running() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::at(tmp.path());
        assert!(matches!(
            dir.api_endpoint(),
            Err(DataDirError::NotRunning { .. })
        ));
        let token = new_token();
        dir.write_api_files("127.0.0.1:4180".parse().unwrap(), &token)
            .unwrap();
        // No process holds the store: the file is what a kill -9 leaves.
        assert!(matches!(
            dir.api_endpoint(),
            Err(DataDirError::NotRunning { .. })
        ));
        // Locked as sled locks it (flock), the node counts as running.
        fs::create_dir_all(dir.store_path()).unwrap();
        let db = fs::File::create(dir.store_path().join(SLED_DB_FILE)).unwrap();
        fs2::FileExt::lock_exclusive(&db).unwrap();
        let endpoint = dir.api_endpoint().unwrap();
        assert_eq!(endpoint.token, token);
        assert_eq!(endpoint.addr.port(), 4180);
        assert_eq!(
            fs::metadata(dir.token_path()).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs2::FileExt::unlock(&db).unwrap();
        assert!(!dir.store_in_use().unwrap());
        dir.remove_api_addr();
        assert!(dir.api_endpoint().is_err());
    }

    #[test]
    fn init_refuses_a_federation_name_over_the_limit_before_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("node");
        let mut options = options();
        options.federation = "é".repeat(33);
        let text = init(&root, &options).unwrap_err().to_string();
        assert!(
            text.contains("66 bytes") && text.contains("at most 64"),
            "{text}"
        );
        assert!(!root.exists(), "nothing written");
    }

    #[test]
    fn publisher_names_are_file_safe() {
        for bad in ["", "../x", "A", "-x", "a b", &"x".repeat(65)] {
            assert!(check_publisher_name(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "mairie-de-x", "s_1", "33063"] {
            assert!(check_publisher_name(good).is_ok(), "{good:?}");
        }
    }
}
