//! ConsoleMe's credential endpoints: `POST /api/v1/get_credentials`, `GET /api/v1/get_roles`
//! and `GET /api/v2/get_roles`, for the session cookie this server issued. Roles come from the
//! role mapping ([`crate::aws_roles`]), credentials from STS `AssumeRole`
//! ([`crate::aws_sts`]). Without a mapping, no role matches, as on a ConsoleMe where the user
//! has none. Errors carry ConsoleMe's codes (900 no match, 901 several, 902 STS failed, 904 bad
//! request) and a missing or invalid cookie is ConsoleMe's 403 `invalid_jwt`.

use crate::app::App;
use crate::aws_roles::matching;
use crate::respond::{Resp, json};
use crate::session_cookie::{Claims, session_claims};
use axum::extract::State;
use hyper::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// The longest role request read: an ARN is at most 2048 characters.
const MAX_REQUESTED: usize = 2048;

fn refused(app: &App) -> Resp {
    json(
        StatusCode::FORBIDDEN,
        &json!({
            "code": "invalid_jwt",
            "message": format!("No valid {} cookie: log in again.", app.config.cookie_name),
        }),
    )
}

fn coded(status: StatusCode, code: &str, message: &str, extra: Value) -> Resp {
    let mut body = json!({ "code": code, "message": message });
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    json(status, &body)
}

/// The roles the cookie's user may have.
fn eligible(app: &App, claims: &Claims) -> Vec<String> {
    app.config
        .aws_roles
        .as_ref()
        .map(|m| m.eligible(&claims.user, &claims.groups))
        .unwrap_or_default()
}

/// `POST /api/v1/get_credentials`.
pub(crate) async fn get_credentials_route(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Resp {
    let Some(claims) = session_claims(&app, &headers) else {
        return refused(&app);
    };
    let requested = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("requested_role")?.as_str().map(str::to_string))
        .filter(|r| !r.is_empty() && r.len() <= MAX_REQUESTED && !r.chars().any(char::is_control));
    let Some(requested) = requested else {
        return coded(
            StatusCode::BAD_REQUEST,
            "904",
            "Invalid JSON sent to the server: requested_role (a string) is required.",
            json!({}),
        );
    };
    let roles = matching(&eligible(&app, &claims), &requested);
    let role = match roles.as_slice() {
        [] => {
            return coded(
                StatusCode::FORBIDDEN,
                "900",
                "No matching roles",
                json!({ "requested_role": requested }),
            );
        }
        [one] => one.clone(),
        several => {
            return coded(
                StatusCode::FORBIDDEN,
                "901",
                "More than one matching role",
                json!({ "requested_role": requested, "matching roles": several }),
            );
        }
    };
    let (Some(map), Some(sts)) = (&app.config.aws_roles, &app.sts) else {
        return coded(StatusCode::FORBIDDEN, "900", "No matching roles", json!({}));
    };
    let session_name = sesame_login::aws::sts::session_name(&claims.user);
    match sts.assume(&role, &session_name, map.duration).await {
        Ok(c) => json(
            StatusCode::OK,
            &json!({ "Credentials": {
                "AccessKeyId": c.access_key_id,
                "SecretAccessKey": c.secret_access_key,
                "SessionToken": c.session_token,
                "Expiration": c.expiration,
            }}),
        ),
        Err(e) => {
            // STS's text can name this server's own principal and account: it goes to the
            // server's log, not to the client.
            tracing::warn!(target: "sesame_server::aws", role = %role, "AssumeRole failed: {e}");
            coded(
                StatusCode::FORBIDDEN,
                "902",
                "Unable to get credentials.",
                json!({ "requested_role": requested, "matching_role": role }),
            )
        }
    }
}

/// `GET /api/v1/get_roles`: the ARNs.
pub(crate) async fn get_roles_v1_route(State(app): State<Arc<App>>, headers: HeaderMap) -> Resp {
    match session_claims(&app, &headers) {
        Some(claims) => json(StatusCode::OK, &eligible(&app, &claims)),
        None => refused(&app),
    }
}

/// `GET /api/v2/get_roles`: the ARNs with their accounts and names.
pub(crate) async fn get_roles_v2_route(State(app): State<Arc<App>>, headers: HeaderMap) -> Resp {
    let Some(claims) = session_claims(&app, &headers) else {
        return refused(&app);
    };
    let roles: Vec<Value> = eligible(&app, &claims)
        .iter()
        .map(|arn| {
            let account_id = arn.split(':').nth(4).unwrap_or_default();
            let name = app
                .config
                .aws_roles
                .as_ref()
                .and_then(|m| m.account_name(account_id));
            json!({
                "arn": arn,
                "account_id": account_id,
                "account_friendly_name": name.unwrap_or(account_id),
                "role_name": arn.split_once(":role/").map(|(_, n)| n).unwrap_or_default(),
            })
        })
        .collect();
    json(
        StatusCode::OK,
        &json!({ "status": "success", "data": { "roles": roles } }),
    )
}
