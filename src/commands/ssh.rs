//! `sesame ssh [SSH OPTIONS] HOST [COMMAND]`: the system's ssh with this laptop's agent
//! forwarded, restricted (`agent::forward`): on HOST, `sesame token --profile P` gets P's
//! access token from here, for a profile marked `forward = true`, after a yes at this terminal
//! for the first use on the connection. Nothing is written to HOST's disk but the socket sshd
//! makes, `/tmp/sesame-fwd-RANDOM.sock` (0600, its user's), which a remote sesame finds by
//! itself in an SSH session.
//!
//! The forwarded socket is served here, for this connection only, from what `sesame token`
//! would hand out on the laptop (the agent if one runs, else the store). To ask at the
//! terminal while ssh owns it, ssh is paused (SIGSTOP) and the terminal put back in the mode it
//! had before ssh started; then both are restored.

use crate::agent::forward::{self, Asker, Confirm, Source};
use crate::agent::{self, socket};
use crate::cli::SshArgs;
use rand::Rng;
use rand::distr::Alphanumeric;
use sesame_login::agent::client::{FORWARDED_PREFIX, default_socket};
use sesame_login::error::Error;
use sesame_login::settings::Env;
use sesame_login::vars;
use std::ffi::OsString;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the question at the terminal waits for an answer; no answer is a no.
const CONFIRM_WAIT: Duration = Duration::from_secs(30);

/// ssh's options that take a value (ssh(1)), to find the destination among the arguments.
const SSH_OPTIONS_WITH_VALUE: &str = "BbcDEeFIiJLlmOoPpQRSWw";

pub fn run(args: &SshArgs, env: Env) -> Result<(), Error> {
    let id: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(22)
        .map(char::from)
        .collect();
    let local = default_socket(env).with_file_name(format!("ssh-{id}.sock"));
    let remote = format!("/tmp/{FORWARDED_PREFIX}{id}.sock");
    let bound = socket::bind(&local)?;
    let ssh_pid = Arc::new(AtomicU32::new(0));
    let asker = Arc::new(AtTerminal {
        ssh_pid: ssh_pid.clone(),
        host: destination(&args.args).unwrap_or_else(|| "the SSH host".into()),
        terminal: Mutex::new(Terminal::open()),
    });
    let runtime = super::lifetime::runtime()?;
    let stop = Arc::new(tokio::sync::Notify::new());
    let listener = {
        let _entered = runtime.enter();
        bound.tokio_listener()?
    };
    let answers = forward::answers(Source::Store, Confirm::Ask(asker));
    runtime.spawn(agent::serve(
        listener,
        answers,
        stop.clone(),
        std::future::pending(),
    ));
    let child = Command::new("ssh")
        .arg("-R")
        .arg(format!("{remote}:{}", local.display()))
        // SendEnv adds to the user's own SendEnv lines (ssh uses only the first SetEnv).
        .env(vars::AUTH_SOCK, &remote)
        .env(vars::FORWARDED_AUTH_SOCK, &remote)
        .arg("-o")
        .arg(format!("SendEnv={}", vars::AUTH_SOCK))
        .arg("-o")
        .arg(format!("SendEnv={}", vars::FORWARDED_AUTH_SOCK))
        .args(&args.args)
        .spawn();
    let status = child.and_then(|mut c| {
        ssh_pid.store(c.id(), Ordering::SeqCst);
        c.wait()
    });
    stop.notify_one();
    runtime.shutdown_timeout(Duration::from_secs(1));
    bound.remove();
    let status = status.map_err(|e| {
        Error::other(format!("Could not run ssh: {e}."))
            .hint("Install OpenSSH's client (Debian: openssh-client).")
    })?;
    match status.code() {
        Some(0) => Ok(()),
        code => std::process::exit(code.unwrap_or(255)),
    }
}

/// The destination among ssh's arguments: the first that is neither an option nor an option's
/// value.
fn destination(args: &[OsString]) -> Option<String> {
    let mut skip = false;
    for a in args {
        let a = a.to_string_lossy();
        if skip {
            skip = false;
        } else if a == "--" {
            continue;
        } else if let Some(flags) = a.strip_prefix('-') {
            // `-p 22` takes the next argument; `-p22` and `-v` do not.
            skip = flags.len() == 1 && SSH_OPTIONS_WITH_VALUE.contains(flags);
        } else {
            return Some(sesame_login::text::Shown::of(&a).as_str().to_string());
        }
    }
    None
}

/// The controlling terminal, and its mode before ssh changed it.
struct Terminal {
    tty: Option<(std::fs::File, libc::termios)>,
}

impl Terminal {
    fn open() -> Terminal {
        use std::os::fd::AsRawFd;
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()
            .and_then(|f| {
                // SAFETY: a zeroed termios is a valid buffer for tcgetattr to fill.
                let mut mode: libc::termios = unsafe { std::mem::zeroed() };
                // SAFETY: the descriptor is open for as long as `f` lives.
                (unsafe { libc::tcgetattr(f.as_raw_fd(), &mut mode) } == 0).then_some((f, mode))
            });
        Terminal { tty }
    }

    /// Runs `f` with ssh (`pid`) paused and the terminal in the mode it had before ssh
    /// started, then puts both back; `None` without a terminal.
    fn paused<R>(&self, pid: u32, f: impl FnOnce(&std::fs::File) -> R) -> Option<R> {
        use std::os::fd::AsRawFd;
        let (tty, cooked) = self.tty.as_ref()?;
        let fd = tty.as_raw_fd();
        let pid = libc::pid_t::try_from(pid).unwrap_or(0);
        // SAFETY: a zeroed termios is a valid buffer; fd is open.
        let mut ssh_mode: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let saved = unsafe { libc::tcgetattr(fd, &mut ssh_mode) } == 0;
        if pid > 0 {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            // The signal arrives when it arrives: until ssh has stopped, it may still read the
            // answer meant for the question.
            wait_until_stopped(pid);
        }
        // SAFETY: fd is open; `cooked` came from tcgetattr.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, cooked) };
        let result = f(tty);
        if saved {
            // SAFETY: fd is open; `ssh_mode` came from tcgetattr.
            unsafe { libc::tcsetattr(fd, libc::TCSANOW, &ssh_mode) };
        }
        if pid > 0 {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
        Some(result)
    }
}

/// Waits (half a second at most) until `pid` has stopped: on Linux its state in
/// `/proc/PID/stat` is `T`; elsewhere a short pause has to do.
fn wait_until_stopped(pid: libc::pid_t) {
    if cfg!(target_os = "linux") {
        let stat = format!("/proc/{pid}/stat");
        for _ in 0..250 {
            let state = std::fs::read_to_string(&stat).ok().and_then(|s| {
                // `PID (COMM) STATE ...`; COMM may hold spaces and parentheses.
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
            });
            if matches!(state.as_deref(), Some("T" | "t") | None) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    } else {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asks `question` on the terminal; a yes within [`CONFIRM_WAIT`] is true.
fn yes_to(mut tty: &std::fs::File, question: &str) -> bool {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    // Keys typed for the remote shell before the question are not its answer.
    // SAFETY: the descriptor is open for as long as `tty` lives.
    unsafe { libc::tcflush(tty.as_raw_fd(), libc::TCIFLUSH) };
    let _ = write!(tty, "\r\nsesame: {question} [y/N] ");
    let _ = tty.flush();
    let answer = read_line(tty.as_raw_fd(), CONFIRM_WAIT);
    let yes = matches!(
        answer.as_deref().map(str::trim),
        Some("y" | "Y" | "yes" | "YES" | "Yes")
    );
    let _ = writeln!(tty, "{}", if yes { "(allowed)" } else { "(refused)" });
    yes
}

/// `sesame ssh`'s person at the laptop: questions at its terminal, a login run there.
struct AtTerminal {
    ssh_pid: Arc<AtomicU32>,
    host: String,
    terminal: Mutex<Terminal>,
}

impl Asker for AtTerminal {
    fn allow(&self, profile: &str) -> bool {
        let terminal = self
            .terminal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let question = format!(
            "{} asks for the access token of profile {profile}. Allow it for this connection?",
            self.host
        );
        terminal
            .paused(self.ssh_pid.load(Ordering::SeqCst), |tty| {
                yes_to(tty, &question)
            })
            .unwrap_or(false)
    }

    fn log_in(&self, profile: &str) -> Result<(), String> {
        let terminal = self
            .terminal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let question = format!(
            "{} asks to log in to profile {profile} here (the browser step happens on this machine). Allow it?",
            self.host
        );
        let run = |tty: &std::fs::File| {
            if !yes_to(tty, &question) {
                return Err(format!(
                    "the login to profile {profile} was not allowed on the laptop"
                ));
            }
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let status = Command::new(exe)
                .args(["--profile", profile, "login"])
                .status()
                .map_err(|e| format!("the login on the laptop could not start: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("the login on the laptop failed ({status})"))
            }
        };
        terminal
            .paused(self.ssh_pid.load(Ordering::SeqCst), run)
            .unwrap_or_else(|| Err("the laptop has no terminal to ask on".into()))
    }
}

/// A line from `fd` within `wait`; `None` when none came.
fn read_line(fd: libc::c_int, wait: Duration) -> Option<String> {
    let deadline = std::time::Instant::now() + wait;
    let mut line = Vec::new();
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut poll, 1, ms) } <= 0 {
            return None;
        }
        let mut byte = [0u8; 1];
        // SAFETY: reading one byte into a one-byte buffer.
        if unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) } != 1 {
            return None;
        }
        if byte[0] == b'\n' || byte[0] == b'\r' {
            return Some(String::from_utf8_lossy(&line).into_owned());
        }
        if line.len() < 64 {
            line.push(byte[0]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_is_found_among_ssh_options() {
        let d = |args: &[&str]| destination(&args.iter().map(OsString::from).collect::<Vec<_>>());
        assert_eq!(
            d(&["-p", "2222", "-i", "k", "alice@devbox", "ls"]).as_deref(),
            Some("alice@devbox")
        );
        assert_eq!(d(&["-v", "-p2222", "devbox"]).as_deref(), Some("devbox"));
        assert_eq!(
            d(&["-o", "User=x", "--", "devbox"]).as_deref(),
            Some("devbox")
        );
        assert_eq!(d(&["-p", "22"]), None);
    }
}
