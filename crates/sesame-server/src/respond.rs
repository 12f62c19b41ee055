//! The response helpers every handler uses: JSON, plain text, HTML pages and problems.

use crate::observe::StoreFailed;
use crate::state;
use axum::body::Body;
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode, header};
use sesame_login::pages;
use state::StateError;
use url::Url;

pub(crate) type Resp = Response<Body>;

pub(crate) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Resp {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

pub(crate) fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Resp {
    respond(
        status,
        "application/json",
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

pub(crate) fn message(status: StatusCode, text: &str) -> Resp {
    json(status, &serde_json::json!({ "message": text }))
}

pub(crate) fn html(status: StatusCode, page: String, form_target: Option<&Url>) -> Resp {
    // Chrome applies form-action to the redirect that follows a form post, so the loopback
    // callback must be allowed explicitly.
    let extra = form_target
        .map(|u| format!(" {}", u.origin().ascii_serialization()))
        .unwrap_or_default();
    pages::response(
        status,
        page,
        &format!(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'{extra}; frame-ancestors 'none'; base-uri 'none'"
        ),
    )
    .map(Body::new)
}

pub(crate) fn problem(status: StatusCode, title: &str, detail: &str) -> Resp {
    html(status, pages::problem(title, detail), None)
}

/// The challenge store cannot be reached: 503 with a JSON error; `Retry-After` is added to
/// every 503 by the logging layer.
pub(crate) fn unavailable(e: &StateError) -> Resp {
    let mut r = json(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({
            "status": "error",
            "error": "state_unavailable",
            "message": format!("the login server cannot reach its challenge store: {e}; try again shortly"),
        }),
    );
    r.extensions_mut().insert(StoreFailed);
    r
}
