//! Staff accounts: `<data dir>/web/users.json` (0600, in a 0700
//! directory), outside the signed records: accounts never gossip. Each
//! account acts for one or more hosted publishers (a syndicate's agent
//! for several). Passwords are argon2id hashes; an invitation is a random
//! token whose SHA-256 is stored, good once, for `INVITATION_SECS`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// How long an invitation link stays good.
pub const INVITATION_SECS: u64 = 7 * 86_400;
/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_LOGIN_CHARS: usize = 64;

/// One member of staff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub login: String,
    pub name: String,
    /// The hosted publishers (names) this person acts for.
    pub collectivities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_sha256: Option<String>,
    #[serde(default)]
    pub invitation_expires_at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AccountsFile {
    accounts: Vec<Account>,
}

/// Why an account could not be read or written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AccountsError {
    #[error("cannot read or write {path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid accounts file: {reason}", path = .path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

/// The accounts of one data directory. One lock serialises every
/// read-modify-write of the file within the process (the node is the only
/// writer: the CLI goes through its API).
pub struct Accounts {
    path: PathBuf,
    lock: Mutex<()>,
}

/// A new invitation: the token goes in the link, once.
#[derive(Clone, Debug)]
pub struct Invitation {
    pub login: String,
    pub token: String,
    pub expires_at: u64,
}

fn sha256_hex(text: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(text.as_bytes()))
}

/// A random token for links and cookies (256 bits, URL-safe).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}

/// A login from a name: lowercase ASCII letters and digits joined by `-`.
pub fn login_from_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let ascii: String = name
        .nfd()
        .filter(char::is_ascii)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

impl Accounts {
    pub fn at(data_dir: &Path) -> Accounts {
        Accounts {
            path: data_dir.join("web").join("users.json"),
            lock: Mutex::new(()),
        }
    }

    fn io(&self, source: std::io::Error) -> AccountsError {
        AccountsError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<AccountsFile, AccountsError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AccountsError::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AccountsFile::default()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Replaces the file atomically, 0600 from its first byte.
    fn write(&self, file: &AccountsFile) -> Result<(), AccountsError> {
        let dir = self
            .path
            .parent()
            .expect("the accounts file has a directory");
        fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| self.io(e))?;
        let tmp = self.path.with_extension("json.tmp");
        let _ = fs::remove_file(&tmp);
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| self.io(e))?;
        let text = serde_json::to_vec_pretty(file).expect("accounts serialise");
        out.write_all(&text)
            .and_then(|()| out.sync_all())
            .map_err(|e| self.io(e))?;
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))
    }

    fn update<T>(
        &self,
        change: impl FnOnce(&mut AccountsFile) -> Result<T, AccountsError>,
    ) -> Result<T, AccountsError> {
        let _guard = self.lock.lock().expect("accounts lock");
        let mut file = self.read()?;
        let answer = change(&mut file)?;
        self.write(&file)?;
        Ok(answer)
    }

    /// The account `login`, if any.
    pub fn get(&self, login: &str) -> Result<Option<Account>, AccountsError> {
        let _guard = self.lock.lock().expect("accounts lock");
        Ok(self.read()?.accounts.into_iter().find(|a| a.login == login))
    }

    /// Adds an account (or invites an existing one again, with these
    /// collectivities) and returns its invitation.
    pub fn invite(
        &self,
        name: &str,
        login: Option<&str>,
        collectivities: Vec<String>,
        now: u64,
    ) -> Result<Invitation, AccountsError> {
        let name = name.trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(AccountsError::Invalid(
                "name: give the person's name (no control characters)".into(),
            ));
        }
        let login = match login {
            Some(l) => l.trim().to_owned(),
            None => login_from_name(name),
        };
        if login.is_empty()
            || login.chars().count() > MAX_LOGIN_CHARS
            || !login
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        {
            return Err(AccountsError::Invalid(format!(
                "login {login:?}: use 1 to {MAX_LOGIN_CHARS} characters among a-z, 0-9, '-', '_' and '.'"
            )));
        }
        if collectivities.is_empty() {
            return Err(AccountsError::Invalid(
                "collectivities: name at least one hosted collectivity".into(),
            ));
        }
        let token = random_token();
        let invitation = Invitation {
            login: login.clone(),
            token: token.clone(),
            expires_at: now + INVITATION_SECS,
        };
        self.update(|file| {
            let account = Account {
                login: login.clone(),
                name: name.to_owned(),
                collectivities,
                password_hash: None,
                invitation_sha256: Some(sha256_hex(&token)),
                invitation_expires_at: invitation.expires_at,
            };
            match file.accounts.iter_mut().find(|a| a.login == login) {
                Some(existing) => {
                    let password = existing.password_hash.take();
                    *existing = Account {
                        password_hash: password,
                        ..account
                    }
                }
                None => file.accounts.push(account),
            }
            Ok(())
        })?;
        Ok(invitation)
    }

    /// The account an invitation token opens, while it is good.
    pub fn invited(&self, token: &str, now: u64) -> Result<Option<Account>, AccountsError> {
        let hash = sha256_hex(token);
        let _guard = self.lock.lock().expect("accounts lock");
        Ok(self.read()?.accounts.into_iter().find(|a| {
            a.invitation_sha256.as_deref() == Some(hash.as_str()) && now < a.invitation_expires_at
        }))
    }

    /// Sets the password of the account an invitation opens and spends the
    /// invitation. `false` when the invitation is no longer good.
    pub fn accept(&self, token: &str, password: &str, now: u64) -> Result<bool, AccountsError> {
        let hash = sha256_hex(token);
        let phc = hash_password(password);
        self.update(|file| {
            let Some(account) = file.accounts.iter_mut().find(|a| {
                a.invitation_sha256.as_deref() == Some(hash.as_str())
                    && now < a.invitation_expires_at
            }) else {
                return Ok(false);
            };
            account.password_hash = Some(phc);
            account.invitation_sha256 = None;
            account.invitation_expires_at = 0;
            Ok(true)
        })
    }

    /// The account when `password` is its password. Runs argon2: call it
    /// on the blocking pool.
    pub fn verify(&self, login: &str, password: &str) -> Result<Option<Account>, AccountsError> {
        let Some(account) = self.get(login)? else {
            // Same work whether or not the login exists.
            let _ = Argon2::default().verify_password(password.as_bytes(), &dummy_hash());
            return Ok(None);
        };
        let Some(phc) = account.password_hash.as_deref() else {
            return Ok(None);
        };
        let parsed = PasswordHash::new(phc).map_err(|e| AccountsError::Corrupt {
            path: self.path.clone(),
            reason: format!("the password hash of {login:?}: {e}"),
        })?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            .then_some(account))
    }
}

/// An argon2id hash in PHC form (argon2's defaults: argon2id, 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password")
        .to_string()
}

fn dummy_hash() -> PasswordHash<'static> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash_password("not a password of anyone"));
    PasswordHash::new(phc).expect("a hash made here parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_sets_a_password_once() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::at(dir.path());
        let invitation = accounts
            .invite("Marie Dupont-Lefèvre", None, vec!["bordeaux".into()], 1000)
            .unwrap();
        assert_eq!(invitation.login, "marie-dupont-lefevre");
        let mode = fs::metadata(dir.path().join("web/users.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(accounts.invited(&invitation.token, 1001).unwrap().is_some());
        assert!(accounts
            .invited(&invitation.token, 1000 + INVITATION_SECS)
            .unwrap()
            .is_none());
        assert!(!accounts
            .accept("wrong", "un mot de passe long", 1001)
            .unwrap());
        assert!(accounts
            .accept(&invitation.token, "un mot de passe long", 1001)
            .unwrap());
        assert!(!accounts
            .accept(&invitation.token, "un autre mot de passe", 1002)
            .unwrap());
        let text = fs::read_to_string(dir.path().join("web/users.json")).unwrap();
        assert!(text.contains("$argon2id$"), "{text}");
        assert!(!text.contains("un mot de passe long"));
        let who = accounts
            .verify("marie-dupont-lefevre", "un mot de passe long")
            .unwrap()
            .unwrap();
        assert_eq!(who.collectivities, ["bordeaux"]);
        assert!(accounts
            .verify("marie-dupont-lefevre", "un mot de passe faux")
            .unwrap()
            .is_none());
        assert!(accounts.verify("personne", "x").unwrap().is_none());
    }
}
