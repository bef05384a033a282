//! A real `mutua-node` serving its web page, with hosted collectivities
//! admitted and staff invited through the control API, and plain HTTP with
//! cookies beside it (no redirects followed: the tests read them).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;

use serde_json::json;

use crate::daemon_support::{Home, Node};

pub mod webdriver;

/// A collectivity for `--publisher` and its admission.
pub struct Hosted {
    pub publisher: &'static str,
    pub name: &'static str,
    pub siren: &'static str,
    pub insee: &'static str,
}

pub const BORDEAUX: Hosted = Hosted {
    publisher: "bordeaux",
    name: "Mairie de Bordeaux",
    siren: "213300635",
    insee: "33063",
};
pub const MERIGNAC: Hosted = Hosted {
    publisher: "merignac",
    name: "Mairie de Mérignac",
    siren: "213302813",
    insee: "33281",
};

/// Sets keys of the `[web]` section that `init` wrote commented out.
pub fn set_web_keys(home: &Home, keys: &[(&str, &str)]) {
    let path = home.dir.join("config.toml");
    let mut text = fs::read_to_string(&path).unwrap();
    for (key, value) in keys {
        let prefix = format!("# {key} = ");
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("config.toml has no commented {key}"))
            .to_owned();
        text = text.replacen(&line, &format!("{key} = {value}"), 1);
    }
    fs::write(path, text).unwrap();
}

/// A node with `hosted` admitted and its web page on a loopback port.
pub struct WebNode {
    pub home: Home,
    pub node: Node,
    pub url: String,
}

impl WebNode {
    pub fn start(hosted: &[&Hosted], web_keys: &[(&str, &str)]) -> WebNode {
        let mut args = vec!["--new-anchor"];
        for h in hosted {
            args.extend(["--publisher", h.publisher]);
        }
        WebNode::launch(Home::init(&args), hosted, web_keys, None)
    }

    /// A second node of `anchor`'s federation hosting `hosted` (admitted by
    /// the anchor's node), dialling it.
    pub fn join(anchor: &WebNode, hosted: &[&Hosted]) -> WebNode {
        let anchor_id = anchor.home.anchor_id();
        let mut args = vec!["--trust", anchor_id.as_str()];
        for h in hosted {
            args.extend(["--publisher", h.publisher]);
        }
        WebNode::launch(Home::init(&args), hosted, &[], Some(anchor))
    }

    fn launch(
        home: Home,
        hosted: &[&Hosted],
        web_keys: &[(&str, &str)],
        anchor: Option<&WebNode>,
    ) -> WebNode {
        let mut keys = vec![("operator_name", "\"Syndicat numérique de test\"")];
        keys.extend_from_slice(web_keys);
        set_web_keys(&home, &keys);
        let mut args: Vec<String> = [
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api-listen",
            "127.0.0.1:0",
            "--mdns",
            "false",
            "--web-listen",
            "127.0.0.1:0",
        ]
        .map(String::from)
        .to_vec();
        if let Some(anchor) = anchor {
            args.extend(["--bootstrap".to_owned(), anchor.node.p2p_addr()]);
        }
        let node = Node::start_with(&home, &args, &[]);
        let issuer = anchor.map_or(&node, |a| &a.node);
        for h in hosted {
            let key = home.publisher_id(h.publisher);
            issuer.ok(issuer.post(
                "/v1/certificates",
                &json!({"subject": key, "siren": h.siren, "name": h.name, "body": "commune", "insee": h.insee}),
            ));
            node.wait_for_member(&key);
        }
        let url = crate::daemon_support::wait_for("web.url", || {
            fs::read_to_string(home.dir.join("web.url")).ok()
        })
        .trim()
        .to_owned();
        WebNode { home, node, url }
    }

    /// Invites `name` for `collectivities` (INSEE codes); the link.
    pub fn invite(&self, name: &str, login: &str, collectivities: &[&str]) -> String {
        let answer = self.node.ok(self.node.post(
            "/v1/web/users",
            &json!({"name": name, "login": login, "collectivities": collectivities}),
        ));
        answer["url"]
            .as_str()
            .expect("an invitation url")
            .to_owned()
    }

    /// Publishes an offer as `publisher` through the control API; its page path.
    pub fn publish_offer(&self, publisher: &str, title: &str) -> String {
        let published = self.node.ok(self.node.post(
            &format!("/v1/listings?as={publisher}"),
            &crate::daemon_support::offer(title),
        ));
        format!(
            "/annonces/{}/{}",
            published["record"]["author"].as_str().unwrap(),
            published["record"]["id"].as_str().unwrap()
        )
    }
}

/// An answer: status, headers of interest, body.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub disposition: Option<String>,
    /// The body as text (lossy for a binary download: see `bytes`).
    pub body: String,
    pub bytes: Vec<u8>,
}

/// A visitor with a cookie jar, over plain HTTP.
pub struct Visitor {
    base: String,
    agent: ureq::Agent,
    pub cookies: BTreeMap<String, String>,
}

impl Visitor {
    pub fn new(base: &str) -> Visitor {
        Visitor {
            base: base.to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(mutua_tests::node::REQUEST_TIMEOUT))
                .build()
                .into(),
            cookies: BTreeMap::new(),
        }
    }

    fn run(&mut self, request: ureq::http::request::Builder, body: Vec<u8>) -> Answer {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let request = match cookie.is_empty() {
            true => request,
            false => request.header("Cookie", cookie.join("; ")),
        };
        let mut response = self.agent.run(request.body(body).unwrap()).unwrap();
        for set in response.headers().get_all("set-cookie") {
            let text = set.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|l| l.to_str().unwrap().to_owned())
        };
        let (location, disposition) = (header("location"), header("content-disposition"));
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .unwrap();
        Answer {
            status: response.status().as_u16(),
            location,
            disposition,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub fn get(&mut self, path: &str) -> Answer {
        let request = ureq::http::Request::builder()
            .method("GET")
            .uri(format!("{}{path}", self.base));
        self.run(request, Vec::new())
    }

    /// POSTs a form (pairs are URL-encoded here).
    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let request = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded");
        self.run(request, body.join("&").into_bytes())
    }

    /// POSTs a multipart form: text `fields`, then `file` (its name and bytes)
    /// as the field `file`.
    pub fn post_file(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &[u8]),
    ) -> Answer {
        let boundary = "----mutua-test-boundary-7d1f";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n",
                file.0
            )
            .as_bytes(),
        );
        body.extend_from_slice(file.1);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", self.base))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            );
        self.run(request, body)
    }

    /// The CSRF token the last page's forms carry.
    pub fn csrf_of(page: &Answer) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = page.body.find(marker).expect("a form with a CSRF token") + marker.len();
        page.body[start..].split('"').next().unwrap().to_owned()
    }

    /// Opens an invitation link and chooses `password`.
    pub fn accept(&mut self, link: &str, password: &str) {
        let path = &link[link.find("/invitation/").unwrap()..];
        let page = self.get(path);
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = Self::csrf_of(&page);
        let done = self.post(
            path,
            &[
                ("csrf", &csrf),
                ("password", password),
                ("confirm", password),
            ],
        );
        assert_eq!(done.status, 303, "{}", done.body);
    }

    /// Signs in; the answer (303 on success).
    pub fn sign_in(&mut self, login: &str, password: &str) -> Answer {
        let page = self.get("/connexion");
        let csrf = Self::csrf_of(&page);
        self.post(
            "/connexion",
            &[("csrf", &csrf), ("login", login), ("password", password)],
        )
    }
}

pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
