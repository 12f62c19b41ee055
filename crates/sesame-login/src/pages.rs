//! The pages a person sees in the browser: the reference server's approval and outcome pages and
//! the loopback callback's result page, sharing one layout. Plain HTML
//! and a little CSS; no script, so it works in any browser and under a strict CSP.

use crate::clock::format_utc;

/// `s` with the five HTML special characters (`& < > " '`) as entities, safe in text and in quoted
/// attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}\
main{max-width:30rem;margin:8vh auto;background:#fff;border-radius:12px;box-shadow:0 2px 14px rgba(0,0,0,.08);padding:2rem 2.2rem}\
h1{font-size:1.35rem;margin:0 0 1rem}p{line-height:1.5}\
.brand{font-weight:700;letter-spacing:.04em;color:#5b4bdb;font-size:.85rem;text-transform:uppercase;margin-bottom:.6rem}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.35rem 1rem;margin:1.2rem 0}dt{color:#667085}dd{margin:0;font-weight:600;word-break:break-all}\
.code{font:700 2rem/1.2 ui-monospace,SFMono-Regular,Menlo,monospace;letter-spacing:.12em;text-align:center;background:#f0edff;border-radius:8px;padding:.7rem;margin:.4rem 0 1rem}\
.buttons{display:flex;gap:.8rem;margin-top:1.4rem}button{flex:1;font-size:1rem;padding:.75rem;border-radius:8px;border:1px solid #d0d5dd;cursor:pointer;background:#fff}\
button.approve{background:#5b4bdb;border-color:#5b4bdb;color:#fff;font-weight:600}\
.dev{background:#fff4e5;border:1px solid #f5b041;border-radius:8px;padding:.6rem .8rem;font-size:.9rem}\
.ok{color:#067647}.bad{color:#b42318}.muted{color:#667085;font-size:.9rem}\
details{margin-top:1.4rem;font-size:.85rem;color:#475467}summary{cursor:pointer}\
pre{white-space:pre-wrap;word-break:break-all;background:#f4f5f7;border-radius:6px;padding:.6rem;font-size:.8rem}";

/// A complete page: `title` (escaped) and `body` (HTML, inserted as is) in the shared layout, with
/// no referrer sent.
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<title>{title} · sesame</title><style>{STYLE}</style></head>\
<body><main><div class=\"brand\">sesame</div>{body}</main></body></html>",
        title = escape(title)
    )
}

/// What the approval page shows about one challenge; every string is escaped when rendered.
pub struct Approval<'a> {
    /// The user the login is for.
    pub user: &'a str,
    /// The address the challenge was requested from.
    pub ip: &'a str,
    /// When the challenge was requested, in Unix seconds.
    pub created_unix: i64,
    /// The verification code, to compare with the terminal's.
    pub user_code: &'a str,
    /// The one-time nonce the form posts back.
    pub nonce: &'a str,
    /// Where the form posts the decision (the page's own path).
    pub action: &'a str,
    /// The page's absolute URL, for the terminal instructions.
    pub page_url: &'a str,
    /// The server does not authenticate the approver (`--auth dev`): the page warns that anyone may
    /// approve.
    pub dev_mode: bool,
}

/// The reference server's approval page: who asks, from where and when, the code, Approve and Deny
/// buttons, and the curl command that approves from a terminal.
pub fn approval(a: &Approval) -> String {
    let dev = if a.dev_mode {
        "<p class=\"dev\"><strong>Development mode:</strong> this server does not authenticate \
         you; anyone who can open this page can approve. Do not use it for real accounts.</p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Approve sign-in for {user}?</h1>{dev}\
<p>A command-line login is waiting for your approval. Check that the code below matches the one \
in your terminal. If it does not, or you did not start a login just now, press Deny.</p>\
<div class=\"code\" id=\"user-code\">{code}</div>\
<dl><dt>User</dt><dd id=\"user\">{user}</dd><dt>Requested from</dt><dd>{ip}</dd>\
<dt>Requested at</dt><dd>{time}</dd></dl>\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"nonce\" value=\"{nonce}\">\
<div class=\"buttons\"><button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button>\
<button type=\"submit\" name=\"decision\" value=\"approve\" class=\"approve\" id=\"approve\">Approve</button></div>\
</form>\
<details id=\"terminal\"><summary>Approve from a terminal, without a browser</summary>\
<p>This link works once, and this page holds its one-time form. To approve from a terminal \
(for example after fetching this page with curl), post the form:</p>\
<pre>curl -d nonce={nonce} -d decision=approve {page_url}</pre>\
<p>Use <code>decision=deny</code> to deny.</p></details>",
        user = escape(a.user),
        code = escape(a.user_code),
        ip = escape(a.ip),
        time = format_utc(a.created_unix),
        action = escape(a.action),
        nonce = escape(a.nonce),
        page_url = escape(a.page_url),
    );
    layout("Approve sign-in", &body)
}

/// How a login request was decided in the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved: the user is signed in.
    Approved,
    /// Denied: nothing was issued.
    Denied,
}

/// The reference server's page after a decision: signed in as `user`, or denied (`user` unused).
pub fn outcome(decision: Decision, user: &str) -> String {
    match decision {
        Decision::Approved => layout(
            "Signed in",
            &format!(
                "<h1 class=\"ok\" id=\"result\">Signed in as {}</h1><p>Return to your terminal: \
                 the login completes there. You can close this tab.</p>",
                escape(user)
            ),
        ),
        Decision::Denied => layout(
            "Sign-in denied",
            "<h1 class=\"bad\" id=\"result\">Sign-in denied</h1><p>The login was refused and \
             nothing was issued. You can close this tab.</p>",
        ),
    }
}

/// The loopback callback's success page (served by the CLI, not the server).
pub fn callback_signed_in(user: &str) -> String {
    layout(
        "Signed in",
        &format!(
            "<h1 class=\"ok\" id=\"result\">Signed in as {}</h1><p>Your terminal has the session. \
             You can close this tab.</p>",
            escape(user)
        ),
    )
}

/// A failure page: `title` as its heading and `detail` below it, both escaped.
pub fn problem(title: &str, detail: &str) -> String {
    layout(
        title,
        &format!(
            "<h1 class=\"bad\" id=\"result\">{}</h1><p>{}</p>",
            escape(title),
            escape(detail)
        ),
    )
}

/// A page as an HTTP response, with the headers every page gets: no caching, no sniffing, no
/// framing, no referrer, and `csp` (no script anywhere; callers add `form-action` targets).
pub fn response(
    status: hyper::StatusCode,
    html: String,
    csp: &str,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use hyper::header::{self, HeaderValue};
    let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(html)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    let csp = HeaderValue::from_str(csp).unwrap_or(HeaderValue::from_static(STRICT_CSP));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    r
}

/// The policy of a page with no form: styles inline, nothing else.
pub const STRICT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_user_input() {
        let html = approval(&Approval {
            user: "<script>alert(1)</script>",
            ip: "127.0.0.1",
            created_unix: 0,
            user_code: "BCDF-GHJK",
            nonce: "n\"once",
            action: "/challenge_validator/t",
            page_url: "http://127.0.0.1:1/challenge_validator/t",
            dev_mode: true,
        });
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("n&quot;once"));
        assert!(html.contains("BCDF-GHJK"));
        assert!(html.contains("Development mode"));
        assert!(
            html.contains("curl -d nonce=n&quot;once -d decision=approve http://127.0.0.1:1/challenge_validator/t"),
            "the page says how to approve from a terminal"
        );
    }
}
