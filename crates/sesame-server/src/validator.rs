//! The approval: the validator page a person sees in the browser and its JSON API, who may
//! approve, and the decision's log event.

use crate::app::{App, MAX_REQUEST_BODY};
use crate::config::{Auth, DECISION_LOG};
use crate::observe::StoreFailed;
use crate::respond::{Resp, html, json, message, problem, respond, unavailable};
use crate::state;
use axum::body::Bytes;
use axum::extract::Request;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, StatusCode, header};
use sesame_login::clock::unix_seconds;
use sesame_login::pages;
use sesame_login::protocol::{VALIDATOR_PAGE_PATH, ValidatorDecision, ValidatorView};
use state::{StateError, Status};
use std::net::IpAddr;
use std::time::SystemTime;

/// Most groups one approver may carry into a JWT, the longest group name, and the most bytes
/// of them all (the JWT must stay well under what clients take: 32 KiB).
const MAX_GROUPS: usize = 256;
const MAX_GROUP_LEN: usize = 256;
const MAX_GROUPS_BYTES: usize = 4096;

/// Who is approving (the requested user in dev mode, the proxy's header otherwise) and the
/// groups their session gets: `--group`'s, and with `--groups-header` the proxy's.
pub(crate) fn approver(
    app: &App,
    req_headers: &HeaderMap,
    requested: &str,
) -> Result<Vec<String>, (StatusCode, String)> {
    match &app.config.auth {
        Auth::Dev => {}
        Auth::Header(h) => proxy_user(h, req_headers, requested)?,
    }
    let mut groups = app.config.groups.clone();
    if let Some(h) = &app.config.groups_header {
        groups.extend(proxy_groups(h, req_headers)?);
    }
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// The one value of a header the SSO proxy sets, or `None` without it. Behind a proxy that
/// appends rather than replaces, a client's own header line comes first: with two, which one
/// the proxy set cannot be told, so two are refused.
fn proxy_header<'h>(
    h: &HeaderName,
    req_headers: &'h HeaderMap,
) -> Result<Option<&'h HeaderValue>, (StatusCode, String)> {
    let lines = req_headers.get_all(h).iter().count();
    if lines > 1 {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "The request carries the {h} header {lines} times; the SSO proxy must replace it, not append to it."
            ),
        ));
    }
    Ok(req_headers.get(h))
}

/// The groups in the proxy's `--groups-header` (comma-separated, as oauth2-proxy's
/// `X-Forwarded-Groups`); none when the proxy sent no such header.
fn proxy_groups(
    h: &HeaderName,
    req_headers: &HeaderMap,
) -> Result<Vec<String>, (StatusCode, String)> {
    let Some(value) = proxy_header(h, req_headers)? else {
        return Ok(Vec::new());
    };
    let bad = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            format!("The SSO proxy's {h} header {why}; ask the server's operator to check it."),
        )
    };
    let text = value.to_str().map_err(|_| bad("is not plain ASCII"))?;
    let groups: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    if groups.len() > MAX_GROUPS {
        return Err(bad(&format!("names more than {MAX_GROUPS} groups")));
    }
    if groups.iter().map(String::len).sum::<usize>() > MAX_GROUPS_BYTES {
        return Err(bad(&format!(
            "holds more than {MAX_GROUPS_BYTES} bytes of group names"
        )));
    }
    if groups
        .iter()
        .any(|g| g.len() > MAX_GROUP_LEN || g.chars().any(char::is_control))
    {
        return Err(bad(&format!(
            "holds a group longer than {MAX_GROUP_LEN} bytes or with a control character"
        )));
    }
    Ok(groups)
}

/// Checks that the proxy's user header names the requested user.
fn proxy_user(
    h: &HeaderName,
    req_headers: &HeaderMap,
    requested: &str,
) -> Result<(), (StatusCode, String)> {
    let user = proxy_header(h, req_headers)?
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or((
            StatusCode::UNAUTHORIZED,
            format!("You are not signed in: the SSO proxy did not set the {h} header."),
        ))?;
    if user != requested {
        return Err((
            StatusCode::FORBIDDEN,
            format!(
                "You are signed in as {user}, but this login request is for {requested}. Only {requested} can approve it."
            ),
        ));
    }
    Ok(())
}

/// The checks both the page and the API make before showing or deciding: the challenge, and
/// the groups an approval by this approver gives.
pub(crate) async fn check_challenge(
    app: &App,
    ip: IpAddr,
    token: &str,
    headers: &HeaderMap,
) -> Result<(state::View, Vec<String>), (StatusCode, &'static str, String)> {
    let now = SystemTime::now();
    let view = app.challenges.view(token, now).await.map_err(|e| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            format!(
                "The login server cannot reach its challenge store ({e}). Try again in a moment."
            ),
        )
    })?;
    let view = view.ok_or((
        StatusCode::NOT_FOUND,
        "Unknown login request",
        "This login link is not valid here: it was never issued, or it was already used. Run sesame login again.".to_string(),
    ))?;
    if view.expired {
        return Err((
            StatusCode::GONE,
            "Login request expired",
            "This login request expired before it was approved. Run sesame login again.".into(),
        ));
    }
    if view.status != Status::Pending {
        return Err((
            StatusCode::CONFLICT,
            "Already decided",
            "This login request was already approved or denied.".into(),
        ));
    }
    let groups = approver(app, headers, &view.user).map_err(|(s, m)| (s, "Not allowed", m))?;
    if app.config.ip_check && ip != view.ip {
        return Err((
            StatusCode::FORBIDDEN,
            "Address mismatch",
            format!(
                "This browser reaches the server from {ip}, but the login was requested from {}. Use a browser on the same network as the terminal (check VPN and proxy settings).",
                view.ip
            ),
        ));
    }
    Ok((view, groups))
}

/// The JSON API's `action`: approve (also when absent) or deny; `None` for anything else.
fn api_action(action: Option<&str>) -> Option<bool> {
    match action {
        None | Some("approve") => Some(true),
        Some("deny") => Some(false),
        Some(_) => None,
    }
}

/// The decision to record: an approval carries the approver's groups.
fn decision(approve: bool, groups: Vec<String>) -> state::Decision {
    if approve {
        state::Decision::Approve { groups }
    } else {
        state::Decision::Deny
    }
}

pub(crate) async fn read_body(req: Request) -> Result<Bytes, Resp> {
    match axum::body::to_bytes(req.into_body(), MAX_REQUEST_BODY).await {
        Ok(b) => Ok(b),
        Err(_) => Err(message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large or unreadable",
        )),
    }
}

pub(crate) fn log_decision(app: &App, approved: bool, view: &state::View) {
    let decision = if approved { "approved" } else { "denied" };
    app.metrics.event(decision);
    if app.config.log {
        tracing::info!(
            target: DECISION_LOG,
            event = decision,
            user = %view.user,
            requested_from = %view.ip,
        );
    }
}

pub(crate) async fn validator_page(app: &App, ip: IpAddr, token: &str, req: Request) -> Resp {
    let (view, groups) = match check_challenge(app, ip, token, req.headers()).await {
        Ok(v) => v,
        Err((s, title, detail)) => {
            let mut r = problem(s, title, &detail);
            if s == StatusCode::SERVICE_UNAVAILABLE {
                r.extensions_mut().insert(StoreFailed);
            }
            return r;
        }
    };
    match *req.method() {
        Method::GET => approval_page(app, token, &view, req.uri().path()).await,
        Method::POST => decide_on_page(app, token, &view, groups, req).await,
        _ => problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "Use GET or POST.",
        ),
    }
}

/// The validator page's GET: the approval form, with the challenge's one-time nonce, posted
/// to `action` (the page's own path).
pub(crate) async fn approval_page(
    app: &App,
    token: &str,
    view: &state::View,
    action: &str,
) -> Resp {
    let nonce = match app.challenges.take_nonce(token).await {
        Ok(n) => n,
        Err(e) => {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                &format!(
                    "The login server cannot reach its challenge store ({e}). Reload in a moment."
                ),
            );
        }
    };
    let Some(nonce) = nonce else {
        return problem(
            StatusCode::CONFLICT,
            "Link already opened",
            "This approval link works once and was already opened. If curl or a link preview opened it, the page it received holds the one-time form, with the curl command that approves from a terminal. Otherwise, for your safety, run sesame login again to get a new link.",
        );
    };
    let page_url = app
        .base
        .join(&format!(
            "{}{token}",
            VALIDATOR_PAGE_PATH.trim_start_matches('/')
        ))
        .map(|u| u.to_string())
        .unwrap_or_default();
    let page = pages::approval(&pages::Approval {
        user: &view.user,
        ip: &view.ip.to_string(),
        created_unix: unix_seconds(view.created),
        user_code: &view.user_code,
        nonce: &nonce,
        action,
        page_url: &page_url,
        dev_mode: matches!(app.config.auth, Auth::Dev),
    });
    html(StatusCode::OK, page, view.redirect_uri.as_ref())
}

/// The validator page's POST: the decision in the form, made, then the browser sent on.
pub(crate) async fn decide_on_page(
    app: &App,
    token: &str,
    view: &state::View,
    groups: Vec<String>,
    req: Request,
) -> Resp {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (nonce, approve) = page_form(&body);
    let Some(approve) = approve else {
        return problem(
            StatusCode::BAD_REQUEST,
            "No decision",
            "Press Approve or Deny.",
        );
    };
    let decided = match app
        .challenges
        .decide(token, &nonce, decision(approve, groups), SystemTime::now())
        .await
    {
        Ok(d) => d,
        Err(e) => {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                &format!(
                    "The login server cannot reach its challenge store ({e}). Go back and press the button again in a moment."
                ),
            );
        }
    };
    if !decided {
        return problem(
            StatusCode::BAD_REQUEST,
            "Form no longer valid",
            "This approval form is not the one issued for this login request. Run sesame login again.",
        );
    }
    log_decision(app, approve, view);
    after_decision(view, approve)
}

/// The approval form's fields: the nonce (empty if absent) and the decision (`None` if absent).
pub(crate) fn page_form(body: &[u8]) -> (String, Option<bool>) {
    let mut nonce = String::new();
    let mut approve = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        match &*k {
            "nonce" => nonce = v.into_owned(),
            "decision" => approve = Some(v == "approve"),
            _ => {}
        }
    }
    (nonce, approve)
}

/// Where the browser goes after a decision: back to the loopback callback when the challenge
/// has one, else the outcome page.
pub(crate) fn after_decision(view: &state::View, approve: bool) -> Resp {
    let location = match (&view.redirect_uri, &view.state) {
        (Some(redirect), Some(state)) => {
            let mut to = redirect.clone();
            {
                let mut q = to.query_pairs_mut();
                q.append_pair("state", state);
                if !approve {
                    q.append_pair("error", "access_denied");
                }
            }
            HeaderValue::from_str(to.as_str()).ok()
        }
        _ => None,
    };
    match location {
        Some(to) => {
            let mut r = respond(StatusCode::SEE_OTHER, "text/plain", "");
            r.headers_mut().insert(header::LOCATION, to);
            r
        }
        None => {
            let decision = if approve {
                pages::Decision::Approved
            } else {
                pages::Decision::Denied
            };
            html(StatusCode::OK, pages::outcome(decision, &view.user), None)
        }
    }
}

pub(crate) async fn validator_api(app: &App, ip: IpAddr, token: &str, req: Request) -> Resp {
    let (view, groups) = match check_challenge(app, ip, token, req.headers()).await {
        Ok(v) => v,
        Err((StatusCode::SERVICE_UNAVAILABLE, _, detail)) => {
            return unavailable(&StateError(detail));
        }
        Err((s, _, detail)) => return message(s, &detail),
    };
    match *req.method() {
        Method::GET => {
            let nonce = match app.challenges.take_nonce(token).await {
                Ok(n) => n,
                Err(e) => return unavailable(&e),
            };
            let reply = match nonce {
                Some(nonce) => ValidatorView {
                    message: format!(
                        "A command-line login for {} is waiting for approval. Check that the code {} matches your terminal.",
                        view.user, view.user_code
                    ),
                    nonce: Some(nonce),
                    show_approve_button: true,
                    user: Some(view.user.clone()),
                    user_code: Some(view.user_code.clone()),
                },
                None => ValidatorView {
                    message: "This unique challenge URL has already been viewed. Please try requesting a new challenge URL.".into(),
                    nonce: None,
                    show_approve_button: false,
                    user: None,
                    user_code: None,
                },
            };
            json(StatusCode::OK, &reply)
        }
        Method::POST => {
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let Ok(decision) = serde_json::from_slice::<ValidatorDecision>(&body) else {
                return message(
                    StatusCode::BAD_REQUEST,
                    "expected JSON {\"nonce\": \"...\"}",
                );
            };
            let Some(approve) = api_action(decision.action.as_deref()) else {
                return message(StatusCode::BAD_REQUEST, "action must be approve or deny");
            };
            let decided = match app
                .challenges
                .decide(
                    token,
                    &decision.nonce,
                    self::decision(approve, groups),
                    SystemTime::now(),
                )
                .await
            {
                Ok(d) => d,
                Err(e) => return unavailable(&e),
            };
            if !decided {
                return message(
                    StatusCode::BAD_REQUEST,
                    "Unable to validate challenge URL. The Nonce you've submitted is invalid. Please try requesting a new challenge URL.",
                );
            }
            log_decision(app, approve, &view);
            let text = if approve {
                "You've successfully authenticated and may now close this page."
            } else {
                "The login request was denied."
            };
            message(StatusCode::OK, text)
        }
        _ => message(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST"),
    }
}
