//! The `[web]` section of the configuration: where the staff page listens,
//! who may browse, and what the page says about its host.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The default web page port, on loopback (the API's is 4180).
pub const DEFAULT_WEB_PORT: u16 = 4190;

/// `[web]` as an operator writes it. No `listen`: no web page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    /// Where the page listens (`host:port`); empty: not served.
    pub listen: String,
    /// Must be true for a non-loopback `listen` (a reverse proxy with TLS
    /// on the same host is the way to expose the page).
    pub allow_remote: bool,
    /// The address staff type, behind the reverse proxy
    /// (`https://mutua.syndicat.fr`): invitation links use it.
    pub public_url: String,
    /// Whether anyone may browse offers and needs (true) or only signed-in
    /// staff (false).
    pub public_browsing: bool,
    /// The hosting body's name, shown on every page.
    pub operator_name: String,
    /// Cookies get `Secure` (the page is reached over HTTPS through a proxy).
    pub behind_tls: bool,
    /// How long a session lasts after signing in, in seconds.
    pub session_secs: u64,
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            listen: String::new(),
            allow_remote: false,
            public_url: String::new(),
            public_browsing: false,
            operator_name: String::new(),
            behind_tls: false,
            session_secs: 8 * 3600,
        }
    }
}

/// The validated `[web]` section.
#[derive(Clone, Debug)]
pub struct WebSettings {
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub public_browsing: bool,
    pub operator_name: String,
    pub behind_tls: bool,
    pub session_secs: u64,
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl WebSection {
    /// `None` when no address is set: the node serves no page.
    pub fn validate(&self) -> Result<Option<WebSettings>, ConfigError> {
        let text = self.listen.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let listen: SocketAddr = text.parse().map_err(|_| {
            invalid(
                "web.listen",
                format!("{text:?} is not an address like 127.0.0.1:{DEFAULT_WEB_PORT}"),
            )
        })?;
        if !listen.ip().is_loopback() && !self.allow_remote {
            return Err(invalid(
                "web.listen",
                format!(
                    "{listen} is not a loopback address; put the page behind a reverse proxy \
                     with TLS (contrib/), or set web.allow_remote = true to expose it deliberately"
                ),
            ));
        }
        let public_url = self.public_url.trim().trim_end_matches('/');
        let has_scheme = public_url.starts_with("https://") || public_url.starts_with("http://");
        if !public_url.is_empty() && !has_scheme {
            return Err(invalid(
                "web.public_url",
                "must start with https:// (or http:// on a test machine)",
            ));
        }
        if self.session_secs == 0 {
            return Err(invalid("web.session_secs", "must be at least 1"));
        }
        Ok(Some(WebSettings {
            listen,
            public_url: (!public_url.is_empty()).then(|| public_url.to_owned()),
            public_browsing: self.public_browsing,
            operator_name: self.operator_name.trim().to_owned(),
            behind_tls: self.behind_tls,
            session_secs: self.session_secs,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_address_no_page_and_a_remote_one_only_when_allowed() {
        assert!(WebSection::default().validate().unwrap().is_none());
        let mut web = WebSection {
            listen: "127.0.0.1:4190".into(),
            ..WebSection::default()
        };
        let settings = web.validate().unwrap().unwrap();
        assert_eq!(settings.listen.port(), DEFAULT_WEB_PORT);
        assert!(!settings.public_browsing && !settings.behind_tls);
        web.listen = "0.0.0.0:4190".into();
        let refused = web.validate().unwrap_err().to_string();
        assert!(
            refused.contains("web.listen") && refused.contains("allow_remote"),
            "{refused}"
        );
        web.allow_remote = true;
        assert!(web.validate().is_ok());
        web.public_url = "mutua.syndicat.fr".into();
        assert!(web
            .validate()
            .unwrap_err()
            .to_string()
            .contains("web.public_url"));
        web.public_url = "https://mutua.syndicat.fr/".into();
        let settings = web.validate().unwrap().unwrap();
        assert_eq!(
            settings.public_url.as_deref(),
            Some("https://mutua.syndicat.fr")
        );
    }
}
