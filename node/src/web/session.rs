//! Sessions, CSRF tokens and the login rate limits (per login and per
//! client address), all in memory (a node restart signs everyone out;
//! nothing here is worth persisting).
//!
//! The session cookie is HttpOnly, SameSite=Strict, `Secure` behind TLS,
//! and holds a random token; the node keeps its SHA-256. Every form carries
//! a CSRF token: the session's own when signed in, otherwise the one in the
//! `mutua_csrf` cookie (double submit), so the sign-in form is covered too.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::accounts::random_token;

pub const SESSION_COOKIE: &str = "mutua_session";
pub const CSRF_COOKIE: &str = "mutua_csrf";
/// Most sessions held at once (a bound on memory, far above any syndicate's staff).
const MAX_SESSIONS: usize = 10_000;
/// Failed sign-ins allowed per login in a window.
pub const MAX_FAILURES: u32 = 5;
/// Failed sign-ins allowed per client address in a window, whatever the
/// logins tried (guessing across many accounts): a town hall's staff share
/// one address, so more than per login.
pub const MAX_FAILURES_PER_ADDRESS: u32 = 20;
/// The window of the login rate limits.
pub const FAILURE_WINDOW_SECS: u64 = 15 * 60;
/// Most logins (or addresses) tracked by a rate limit.
const MAX_TRACKED: usize = 10_000;

/// A signed-in member of staff.
#[derive(Clone, Debug)]
pub struct Session {
    pub login: String,
    pub name: String,
    /// The hosted publishers (names) this person acts for.
    pub collectivities: Vec<String>,
    pub csrf: String,
    pub expires_at: u64,
}

#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

fn digest(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

impl Sessions {
    /// Opens a session; its cookie token. `None` when the table is full of
    /// live sessions.
    pub fn open(&self, mut session: Session, now: u64) -> Option<String> {
        let mut all = self.0.lock().expect("sessions lock");
        if all.len() >= MAX_SESSIONS {
            all.retain(|_, s| s.expires_at > now);
            if all.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let token = random_token();
        session.csrf = random_token();
        all.insert(digest(&token), session);
        Some(token)
    }

    /// The live session of a cookie token (an expired one is dropped).
    pub fn get(&self, token: &str, now: u64) -> Option<Session> {
        let key = digest(token);
        let mut all = self.0.lock().expect("sessions lock");
        match all.get(&key) {
            Some(s) if s.expires_at > now => Some(s.clone()),
            Some(_) => {
                all.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, token: &str) {
        self.0.lock().expect("sessions lock").remove(&digest(token));
    }
}

/// Failed sign-ins per key (a login, or a client address), in fixed
/// windows. Bounded: when [`MAX_TRACKED`] keys are held, the ones whose
/// window is over go; if all are live, the oldest window goes.
pub struct Limiter {
    max_failures: u32,
    failures: Mutex<HashMap<String, (u32, u64)>>,
}

impl Limiter {
    /// Per login.
    pub fn per_login() -> Limiter {
        Limiter::new(MAX_FAILURES)
    }

    /// Per client address.
    pub fn per_address() -> Limiter {
        Limiter::new(MAX_FAILURES_PER_ADDRESS)
    }

    fn new(max_failures: u32) -> Limiter {
        Limiter {
            max_failures,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` may try now.
    pub fn allows(&self, key: &str, now: u64) -> bool {
        let all = self.failures.lock().expect("limiter lock");
        match all.get(key) {
            Some(&(failures, since)) => {
                failures < self.max_failures || now >= since + FAILURE_WINDOW_SECS
            }
            None => true,
        }
    }

    pub fn failed(&self, key: &str, now: u64) {
        let mut all = self.failures.lock().expect("limiter lock");
        if all.len() >= MAX_TRACKED && !all.contains_key(key) {
            all.retain(|_, &mut (_, since)| now < since + FAILURE_WINDOW_SECS);
            if all.len() >= MAX_TRACKED {
                let oldest = all
                    .iter()
                    .min_by_key(|(_, &(_, since))| since)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    all.remove(&oldest);
                }
            }
        }
        let entry = all.entry(key.to_owned()).or_insert((0, now));
        if now >= entry.1 + FAILURE_WINDOW_SECS {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().expect("limiter lock").remove(key);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.failures.lock().expect("limiter lock").len()
    }
}

/// The client's address: the TCP peer, or, when the peer is on this host
/// (the reverse proxy the docs put in front), the last address of
/// `X-Forwarded-For` — the one that proxy appended (nginx's
/// `$proxy_add_x_forwarded_for`, Caddy's default); earlier entries come
/// from the client and prove nothing.
pub fn client_address(headers: &HeaderMap, peer: std::net::SocketAddr) -> String {
    let forwarded = peer.ip().is_loopback().then(|| {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .next_back()
    });
    forwarded.flatten().unwrap_or(peer.ip()).to_string()
}

/// The value of cookie `name` in the request's headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the page's attributes.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    text
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: u64) -> Session {
        Session {
            login: "a".into(),
            name: "A".into(),
            collectivities: vec![],
            csrf: String::new(),
            expires_at,
        }
    }

    #[test]
    fn a_session_ends_at_its_expiry_or_at_logout() {
        let sessions = Sessions::default();
        let token = sessions.open(session(100), 0).unwrap();
        assert!(sessions.get(&token, 99).is_some());
        assert!(sessions.get(&token, 100).is_none());
        let token = sessions.open(session(100), 0).unwrap();
        sessions.close(&token);
        assert!(sessions.get(&token, 1).is_none());
        assert!(sessions.get("forged", 1).is_none());
    }

    #[test]
    fn failures_are_limited_per_login_and_window() {
        let limiter = Limiter::per_login();
        for _ in 0..MAX_FAILURES {
            assert!(limiter.allows("a", 10));
            limiter.failed("a", 10);
        }
        assert!(!limiter.allows("a", 11));
        assert!(limiter.allows("b", 11));
        assert!(limiter.allows("a", 10 + FAILURE_WINDOW_SECS));
    }

    #[test]
    fn the_limiter_stays_bounded() {
        let limiter = Limiter::per_address();
        for i in 0..MAX_TRACKED + 10 {
            limiter.failed(&format!("10.0.{}.{}", i / 256, i % 256), 100);
        }
        assert_eq!(limiter.tracked(), MAX_TRACKED);
        for _ in 0..MAX_FAILURES_PER_ADDRESS {
            limiter.failed("192.0.2.1", 200);
        }
        assert!(!limiter.allows("192.0.2.1", 201), "the newest key is kept");
    }

    #[test]
    fn the_address_is_the_proxys_last_forwarded_one_only_behind_a_local_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.9, 203.0.113.5".parse().unwrap(),
        );
        let proxy: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let remote: std::net::SocketAddr = "192.0.2.7:40000".parse().unwrap();
        assert_eq!(client_address(&headers, proxy), "203.0.113.5");
        assert_eq!(client_address(&headers, remote), "192.0.2.7");
        assert_eq!(client_address(&HeaderMap::new(), proxy), "127.0.0.1");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "x=1; mutua_csrf=abc; y=2".parse().unwrap());
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), None);
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("a", "ab"));
    }
}
