//! Opening the approval URL. `$BROWSER` wins (a `:`-separated list, `%s` for the URL, as
//! xdg-utils and the webbrowser crate read it); WSL opens the Windows browser; a Linux session
//! without a display, or an SSH session, has no browser to open, so the caller prints the URL.

use std::io::IsTerminal;
use url::Url;

pub trait Opener: Send + Sync {
    /// Opens `url`; on failure, says why in words fit for "(... so open the URL yourself)".
    fn open(&self, url: &Url) -> Result<(), String>;

    /// Whether `open` will try a browser on this machine. Only then can the browser come back
    /// to a loopback callback; a URL opened on another device cannot reach it.
    fn can_open(&self) -> bool {
        true
    }
}

/// The user's browser, through the webbrowser crate.
pub struct SystemBrowser;

impl Opener for SystemBrowser {
    fn open(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("refusing to open a {} URL", url.scheme()));
        }
        if let Some(why) = no_browser_reason(&|k| std::env::var(k).ok().filter(|v| !v.is_empty())) {
            return Err(why);
        }
        let options = webbrowser::BrowserOptions::new()
            .with_suppress_output(true)
            .clone();
        webbrowser::open_browser_with_options(webbrowser::Browser::Default, url.as_str(), &options)
            .map_err(|e| format!("no browser could be started ({e})"))
    }

    fn can_open(&self) -> bool {
        no_browser_reason(&|k| std::env::var(k).ok().filter(|v| !v.is_empty())).is_none()
    }
}

/// A browser that is never there, for `--no-browser`.
pub struct NoBrowser;

impl Opener for NoBrowser {
    fn open(&self, _: &Url) -> Result<(), String> {
        Err("--no-browser was given".into())
    }

    fn can_open(&self) -> bool {
        false
    }
}

fn is_wsl() -> bool {
    cfg!(target_os = "linux")
        && (std::path::Path::new("/proc/sys/fs/binfmt_misc/WSLInterop").exists()
            || std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .is_ok_and(|s| s.to_ascii_lowercase().contains("microsoft")))
}

/// Why this session cannot show a browser, or `None` if it may.
pub fn no_browser_reason(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if env("BROWSER").is_some() {
        return None;
    }
    let ssh = env("SSH_CONNECTION").is_some() || env("SSH_TTY").is_some();
    let display = env("DISPLAY").is_some() || env("WAYLAND_DISPLAY").is_some();
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return ssh.then(|| "this is an SSH session".to_string());
    }
    if is_wsl() {
        return None;
    }
    if !display {
        return Some(if ssh {
            "this is an SSH session without a display".into()
        } else {
            "no graphical display: DISPLAY and WAYLAND_DISPLAY are unset".into()
        });
    }
    None
}

/// Whether a person can see a QR code drawn on stdout.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_env_wins_and_headless_linux_has_none() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(no_browser_reason(&env(&[("BROWSER", "firefox")])), None);
        if cfg!(target_os = "linux") && !is_wsl() {
            assert!(no_browser_reason(&env(&[])).unwrap().contains("display"));
            assert!(
                no_browser_reason(&env(&[("SSH_CONNECTION", "x")]))
                    .unwrap()
                    .contains("SSH")
            );
            assert_eq!(no_browser_reason(&env(&[("DISPLAY", ":0")])), None);
        }
    }

    #[test]
    fn only_http_urls_are_opened() {
        let e = SystemBrowser
            .open(&Url::parse("file:///etc/passwd").unwrap())
            .unwrap_err();
        assert!(e.contains("file"));
    }
}
