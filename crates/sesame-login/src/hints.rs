//! What to run next, in the words every command uses: one place, so that a hint always names a
//! command that works for the profile at hand.

/// The "Run `sesame login ...`." hint for `profile`: `--profile` only when it is not the default,
/// and `sesame demo` for the demo profile.
pub fn login_hint(profile: &str) -> String {
    match profile {
        "default" => "Run `sesame login`.".into(),
        "demo" => "Run `sesame demo` (the demo's own profile).".into(),
        _ => format!("Run `sesame login --profile {profile}`."),
    }
}

/// What to run when the stored session of `profile` is damaged: `sesame logout` (with
/// `--profile` when it is not the default) clears it, then a login replaces it.
pub fn logout_hint(profile: &str) -> String {
    let flag = match profile {
        "default" => String::new(),
        _ => format!(" --profile {profile}"),
    };
    format!("Run `sesame logout{flag}`, then log in again: that replaces it.")
}

/// What to run when this session is over: a demo session comes back only from the demo.
pub fn session_hint(session: &crate::session::Session) -> String {
    if session.demo {
        let flag = if session.profile == "demo" {
            String::new()
        } else {
            format!(" --profile {}", session.profile)
        };
        format!(
            "This session came from `sesame demo`, whose server has stopped: run `sesame demo{flag}` again."
        )
    } else {
        login_hint(&session.profile)
    }
}
