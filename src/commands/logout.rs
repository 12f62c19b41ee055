//! `sesame logout`: forget the session locally; with `--revoke`, first revoke its tokens at the
//! provider (RFC 7009), so that a copy of them stops working too. A failed revocation is
//! reported (exit 1) and the session is deleted all the same: the person asked to be logged out.

use super::open_store;
use sesame_login::clock::format_utc;
use sesame_login::error::Error;
use sesame_login::http;
use sesame_login::oidc::{self, PlainHttp, revoke};
use sesame_login::output::Printer;
use sesame_login::session::{OAuthInfo, Session};
use sesame_login::settings::{Common, Env};
use url::Url;

pub fn run(common: &Common, revoke: bool, env: Env, printer: &Printer) -> Result<(), Error> {
    let opened = open_store(common)?;
    let existing = opened.store.load(&common.profile).ok();
    let revoked = match (&existing, revoke) {
        (Some(session), true) => Some(revoke_session(session, common, env, printer)),
        _ => None,
    };
    let place = opened.store.describe(&common.profile);
    let removed = opened
        .store
        .delete(&common.profile)
        .map_err(|e| e.into_error(common.store))?;
    sesame_login::current::tell_agent(common, env);
    if !removed {
        printer.info(&format!(
            "No session for profile {}: nothing to remove.",
            common.profile
        ));
        return Ok(());
    }
    printer.success(&format!(
        "Removed the session for profile {} from {place}.",
        common.profile
    ));
    if let Some(result) = revoked {
        return result;
    }
    if existing.as_ref().is_some_and(|s| s.demo) {
        printer.info(
            "It came from `sesame demo`, whose server has stopped and took its signing key with it: no server accepts that token any more.",
        );
        return Ok(());
    }
    let until = existing
        .and_then(|s| s.expires_at)
        .map(|e| format!(" until {}", format_utc(e)))
        .unwrap_or_default();
    printer.info(&format!(
        "The token was not revoked on the server: a copy of it stays valid{until} (`sesame logout --revoke` revokes what the provider lets us)."
    ));
    Ok(())
}

/// Revokes the refresh token, then the access token. Says what was revoked; the error (if any)
/// is returned after the session is deleted.
fn revoke_session(
    session: &Session,
    common: &Common,
    env: Env,
    printer: &Printer,
) -> Result<(), Error> {
    let Some(info) = &session.oauth else {
        return Err(Error::other(format!(
            "A {} session has no revocation endpoint: its token stays valid until it expires.",
            session.flow
        ))
        .hint("Only OAuth / OpenID Connect sessions can be revoked."));
    };
    let secret = common.client_secret(env).or(session.client_secret.clone());
    sesame_login::blocking::block_on(async {
        let endpoint = revocation_endpoint(info).await?;
        let client = http::client_for(&endpoint)?;
        let mut done = Vec::new();
        let mut kept = Vec::new();
        let tokens = [
            (session.refresh_token.as_ref(), "refresh_token"),
            (Some(session.token.secret()), "access_token"),
        ];
        let mut failure = None;
        for (token, hint) in tokens {
            let Some(token) = token else { continue };
            let what = hint.replace('_', " ");
            match revoke::revoke(
                &client,
                &endpoint,
                &info.client_id,
                secret.as_ref(),
                token,
                hint,
            )
            .await
            {
                Ok(revoke::Revoked::Yes) => done.push(what),
                Ok(revoke::Revoked::NotRevocable) => kept.push((what, hint)),
                Err(e) => {
                    failure = Some(Error::from(e).hint(
                        "The session is deleted here all the same; the tokens may stay valid at the provider until they expire.",
                    ));
                    break;
                }
            }
        }
        report(&done, kept, &endpoint, session, printer);
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(())
    })
}

/// The session's revocation endpoint, as saved, or else as the provider's discovery names it.
async fn revocation_endpoint(info: &OAuthInfo) -> Result<Url, Error> {
    let endpoint = match &info.revocation_endpoint {
        Some(e) => e.clone(),
        // Sessions saved before sesame kept the endpoint: ask the provider.
        None => {
            let issuer = Url::parse(&info.issuer)
                .map_err(|e| Error::other(format!("The saved issuer is not a URL ({e}).")))?;
            let client = http::client_for(&issuer)?;
            oidc::provider(&client, &issuer, &Default::default(), PlainHttp::Allow)
                .await?
                .revocation_endpoint
                .ok_or_else(|| {
                    Error::other(format!(
                        "The provider {} has no revocation endpoint: the tokens stay valid until they expire.",
                        info.issuer
                    ))
                })?
        }
    };
    Url::parse(&endpoint)
        .map_err(|e| Error::other(format!("The revocation endpoint is not a URL ({e}).")))
}

/// Says which tokens were revoked, and how long those the provider cannot revoke stay valid.
fn report(
    done: &[String],
    kept: Vec<(String, &str)>,
    endpoint: &Url,
    session: &Session,
    printer: &Printer,
) {
    if !done.is_empty() {
        printer.success(&format!(
            "Revoked the {} at {}.",
            done.join(" and the "),
            http::redact(endpoint)
        ));
    }
    for (what, hint) in kept {
        let until = match (hint, session.expires_at) {
            ("access_token", Some(e)) => format!(" until {}", format_utc(e)),
            ("access_token", None) => String::new(),
            _ => " for as long as the provider keeps the grant".into(),
        };
        printer.info(&format!(
            "The provider cannot revoke the {what} (unsupported_token_type: a self-contained token): a copy of it stays valid{until}."
        ));
    }
}
