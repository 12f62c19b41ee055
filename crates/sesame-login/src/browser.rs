//! Opening the approval URL. `$BROWSER` wins (a `:`-separated list, `%s` for the URL, as
//! xdg-utils and the webbrowser crate read it); WSL opens the Windows browser; a Linux session
//! without a display, or an SSH session, has no browser to open, so the caller prints the URL.

use std::io::IsTerminal;
use url::Url;

/// Shows the approval URL to the person: the system browser, a stand-in that says why there is
/// none, or a test double.
pub trait Opener: Send + Sync {
    /// Opens `url`; on failure, says why in words fit for "(... so open the URL yourself)".
    fn open(&self, url: &Url) -> Result<(), String>;

    /// Whether `open` will try a browser on this machine. Only then can the browser come back
    /// to a loopback callback; a URL opened on another device cannot reach it.
    fn can_open(&self) -> bool {
        true
    }

    /// What to tell the person once the URL and code are shown, when the opener offers another
    /// way to finish (the demo's "Press Enter to approve").
    fn prompt(&self) -> Option<String> {
        None
    }
}

/// The user's browser, through the webbrowser crate.
pub struct SystemBrowser;

impl Opener for SystemBrowser {
    fn open(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("refusing to open a {} URL", url.scheme()));
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(why) = no_browser_reason(&env) {
            return Err(why);
        }
        // webbrowser falls back to xdg-open when no $BROWSER entry starts, which on a machine
        // without a display "succeeds" and shows nothing: say that $BROWSER failed instead.
        if let Some(b) = env("BROWSER")
            && !b.split(':').any(program_exists)
        {
            return Err(format!(
                "$BROWSER ({b}) could not be started: no such program"
            ));
        }
        let options = webbrowser::BrowserOptions::new()
            .with_suppress_output(true)
            .clone();
        webbrowser::open_browser_with_options(webbrowser::Browser::Default, url.as_str(), &options)
            .map_err(|e| match env("BROWSER") {
                Some(b) => format!("$BROWSER ({b}) could not be started: {e}"),
                None => format!("no browser could be started ({e})"),
            })
    }

    fn can_open(&self) -> bool {
        no_browser_reason(&|k| std::env::var(k).ok().filter(|v| !v.is_empty())).is_none()
    }
}

/// A browser that is never there, and why (`--no-browser was given`, no display).
pub struct NoBrowser(pub String);

impl Opener for NoBrowser {
    fn open(&self, _: &Url) -> Result<(), String> {
        Err(self.0.clone())
    }

    fn can_open(&self) -> bool {
        false
    }
}

/// Whether the program a `$BROWSER` entry names (its first word) can be found.
fn program_exists(entry: &str) -> bool {
    let Some(program) = entry.split_whitespace().next() else {
        return false;
    };
    let runnable = |p: &std::path::Path| p.is_file();
    if program.contains(std::path::MAIN_SEPARATOR) {
        return runnable(std::path::Path::new(program));
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            runnable(&dir.join(program))
                || (cfg!(windows) && runnable(&dir.join(format!("{program}.exe"))))
        })
    })
}

/// Whether this is Linux under WSL (the WSL interop entry exists, or the kernel release names
/// Microsoft), where the Windows browser can be opened without a display.
pub fn is_wsl() -> bool {
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
