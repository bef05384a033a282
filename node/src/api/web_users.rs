//! `POST /v1/web/users`: invitations to the web page (`crate::web`), for
//! `mutua web user add`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use mutua_api::{WebInvitation, WebUserRequest};

use super::errors::{ApiError, Body};
use super::{unix_now, Shared};

pub(super) async fn add(
    State(state): State<Shared>,
    Body(request): Body<WebUserRequest>,
) -> Result<(StatusCode, Json<WebInvitation>), ApiError> {
    let mut collectivities = Vec::new();
    for value in &request.collectivities {
        let found = crate::web::resolve_collectivity(&state, value)
            .await
            .ok_or_else(|| {
                ApiError::bad_request(
                    "unknown_publisher",
                    format!(
                    "{value:?} is neither a hosted publisher's name nor the INSEE code or SIREN \
                     of a hosted collectivity's certificate"
                ),
                )
                .with_field("collectivities")
            })?;
        if !collectivities.contains(&found) {
            collectivities.push(found);
        }
    }
    let accounts = crate::web::Accounts::at(state.datadir.root());
    let url_file = state.datadir.root().join(crate::web::WEB_URL_FILE);
    let chosen = collectivities.clone();
    let invited = tokio::task::spawn_blocking(move || {
        accounts.invite(&request.name, request.login.as_deref(), chosen, unix_now())
    })
    .await
    .map_err(|e| ApiError::internal("datadir_error", e))?;
    let invitation = match invited {
        Ok(invitation) => invitation,
        Err(crate::web::AccountsError::Invalid(message)) => {
            return Err(ApiError::bad_request("invalid_body", message))
        }
        Err(e) => return Err(ApiError::internal("datadir_error", e)),
    };
    let path = format!("/invitation/{}", invitation.token);
    let base = std::fs::read_to_string(url_file).ok();
    tracing::info!(login = %invitation.login, "web user invited");
    Ok((
        StatusCode::CREATED,
        Json(WebInvitation {
            login: invitation.login,
            collectivities,
            url: base.map(|b| format!("{}{path}", b.trim())),
            path,
            expires_at: invitation.expires_at,
        }),
    ))
}
