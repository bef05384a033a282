//! Error responses (`mutua_api::ErrorBody`: `{"error": {"code", "message",
//! "field"?}}`), the refusals of malformed requests, and the parsing of path
//! parameters into protocol values.

use std::borrow::Cow;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mutua_protocol::{ListingId, MembershipError, PublicKey, RecordError, RecordHash};
use serde::de::DeserializeOwned;

use crate::ingest::IngestError;

/// An error response with a stable code.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: Cow<'static, str>,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
            field: None,
        }
    }

    pub(crate) fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub(crate) fn internal(code: &'static str, error: impl std::fmt::Display) -> Self {
        tracing::error!(code, %error, "control API request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, code, error.to_string())
    }

    /// A refusal of a record by a rule (422).
    fn unprocessable(code: &'static str, message: String, field: Option<&str>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: Cow::Borrowed(code),
            message,
            field: field.map(str::to_owned),
        }
    }
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> Self {
        Self::unprocessable(e.code(), e.to_string(), e.field())
    }
}

impl From<MembershipError> for ApiError {
    fn from(e: MembershipError) -> Self {
        Self::unprocessable(e.code(), e.to_string(), None)
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Rejected(rejection) => match rejection {
                mutua_store::Rejection::Record(e) => e.into(),
                mutua_store::Rejection::Membership(e) => e.into(),
                other => Self::unprocessable(other.code(), other.to_string(), None),
            },
            other => ApiError::internal("store_error", other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = mutua_api::ErrorBody {
            error: mutua_api::Refusal {
                code: self.code.into_owned(),
                message: self.message,
                field: self.field,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// A JSON body whose rejections are API errors (naming the field serde
/// stumbled on, or the size limit).
pub(super) struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ),
        e if e.status() == StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
        JsonRejection::JsonDataError(e) => ApiError::bad_request(
            "invalid_body",
            std::error::Error::source(&e).map_or_else(|| e.body_text(), |s| s.to_string()),
        ),
        e => ApiError::bad_request("invalid_json", e.body_text()),
    }
}

pub(super) fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "the request body is larger than this endpoint accepts (api.max_body_bytes, api.max_import_bytes)",
    )
}

pub(super) fn query_rejection(e: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_parameter", e.body_text())
}

pub(crate) fn parse_key(text: &str, field: &str) -> Result<PublicKey, ApiError> {
    text.parse().map_err(|e| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("{text:?} is not a key id: {e}"),
        )
        .with_field(field)
    })
}

pub(crate) fn parse_listing_id(text: &str) -> Result<ListingId, ApiError> {
    ListingId::from_hex(text).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("{text:?} is not a listing id (32 hexadecimal digits)"),
        )
        .with_field("id")
    })
}

pub(super) fn parse_hash(text: &str) -> Result<RecordHash, ApiError> {
    mutua_protocol::unhex(text)
        .and_then(|b| b.try_into().ok())
        .map(mutua_protocol::FixedBytes)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("{text:?} is not a record hash (64 hexadecimal digits)"),
            )
            .with_field("hash")
        })
}
