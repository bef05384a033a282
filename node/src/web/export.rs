//! Exporting the visitor's collectivities' listings (`/exporter`): the
//! import's columns with each listing's `id` (`mutua_sheet::written`, as
//! `mutua export` writes them), so the file edited and imported again
//! updates the same listings. CSV as French Excel opens it, or `.xlsx`.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mutua_api::{Listing, RecordsQuery};
use serde::Deserialize;

use super::i18n::short_date;
use super::{error_page, internal, to_sign_in, Shared};
use crate::api::unix_now;

/// The node's largest page of `GET /v1/records`.
const PAGE: usize = 500;

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    format: String,
}

pub async fn export(
    State(web): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<ExportQuery>,
) -> Response {
    let visitor = web.visitor(&headers).await;
    if visitor.acting.is_empty() {
        return to_sign_in();
    }
    let (content_type, extension) = match query.format.as_str() {
        "csv" => ("text/csv; charset=utf-8", "csv"),
        "xlsx" => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        _ => return error_page(&web, &visitor, StatusCode::NOT_FOUND, "notfound"),
    };
    let authors: Vec<String> = visitor
        .acting
        .iter()
        .filter_map(|c| web.node.publisher(&c.publisher).ok())
        .map(|p| p.key.public().key_id())
        .collect();
    let mut listings: Vec<Listing> = Vec::new();
    let mut cursor = None;
    loop {
        let page = RecordsQuery {
            author: Some(authors.join(",")),
            limit: Some(PAGE),
            cursor: cursor.take(),
            ..RecordsQuery::default()
        };
        match crate::api::records::search(&web.node, page).await {
            Ok(found) => {
                listings.extend(found.items.into_iter().map(|h| h.listing));
                match found.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            Err(e) => return internal(&web, &visitor, e.message),
        }
    }
    let now = unix_now();
    let rows = mutua_sheet::written::rows(&listings, now);
    let written = match extension {
        "csv" => mutua_sheet::written::csv(&rows, true),
        _ => mutua_sheet::written::xlsx(&rows),
    };
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => return internal(&web, &visitor, e),
    };
    let name = format!(
        "annonces-{}.{extension}",
        short_date(now)
            .split('/')
            .rev()
            .collect::<Vec<_>>()
            .join("-")
    );
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
