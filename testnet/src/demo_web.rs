//! The demo's web pages: two members' pages, each with a demo member of
//! staff whose password is already chosen (through the invitation link, as
//! a person would), so that the first thing a newcomer does is open a
//! browser and sign in.

use std::time::Duration;

use mutua_api::WebUserRequest;

use crate::federation::Testnet;
use crate::{wait, Error};

/// The demo's login and password on every page it opens.
pub const DEMO_LOGIN: &str = "demo";
pub const DEMO_PASSWORD: &str = "demo-mutua-2026";

/// A member's page: whose, and where.
pub struct Page {
    pub name: String,
    pub url: String,
}

/// Invites the demo member of staff on each of `nodes` and chooses the
/// password; their pages.
pub fn open(net: &Testnet, nodes: &[usize]) -> Result<Vec<Page>, Error> {
    let mut pages = Vec::new();
    for &node in nodes {
        let member = net.member(node);
        let url_file = member.data_dir().join("web.url");
        let url = wait::until("the web page to be served", Duration::from_secs(30), || {
            Ok(std::fs::read_to_string(&url_file)
                .ok()
                .map(|u| u.trim().to_owned()))
        })?;
        let invitation = net.api(node)?.add_web_user(&WebUserRequest {
            name: "Agent de démonstration".into(),
            login: Some(DEMO_LOGIN.into()),
            collectivities: vec![member.identity.publisher.clone()],
        })?;
        choose_password(&url, &invitation.path).map_err(|message| Error::Init { node, message })?;
        pages.push(Page {
            name: member.identity.name.clone(),
            url,
        });
    }
    Ok(pages)
}

/// Opens the invitation link and submits [`DEMO_PASSWORD`], with the CSRF
/// token and cookie the page gives.
fn choose_password(base: &str, path: &str) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let link = format!("{base}{path}");
    let mut page = agent
        .get(&link)
        .call()
        .map_err(|e| format!("{link}: {e}"))?;
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mutua_csrf="))
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| format!("{link}: no CSRF cookie"))?
        .to_owned();
    let body = page
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let marker = "name=\"csrf\" value=\"";
    let csrf = body
        .find(marker)
        .map(|i| &body[i + marker.len()..])
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| format!("{link}: no CSRF token in the page"))?;
    let form = format!("csrf={csrf}&password={DEMO_PASSWORD}&confirm={DEMO_PASSWORD}");
    let done = agent
        .post(&link)
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(form)
        .map_err(|e| format!("{link}: {e}"))?;
    match done.status().as_u16() {
        303 => Ok(()),
        status => Err(format!("{link}: choosing the password answered {status}")),
    }
}
