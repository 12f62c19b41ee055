//! `sesame agent`: starts the agent (detached, or in the foreground for a service manager) and
//! prints the shell lines that point commands at it, as `ssh-agent` does; `--stop` stops it.
//! Starting an agent where one already answers prints its lines again, so
//! `eval "$(sesame agent)"` belongs in a shell's startup file.

use crate::agent::forward::{self, Confirm, Source};
use crate::agent::{self, sessions::Sessions, socket};
use crate::cli::{AgentArgs, ShellArg};
use sesame_login::agent::client::{Agent, default_socket};
use sesame_login::agent::protocol::{Answer, Op};
use sesame_login::error::Error;
use sesame_login::output::Printer;
use sesame_login::settings::{Common, Env};
use sesame_login::vars;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The agent's restricted socket, beside its own: what plain `RemoteForward` lines forward.
pub const FORWARD_SOCKET: &str = "agent-forward.sock";

/// How long `sesame agent` waits for the agent it started to answer.
const START_WAIT: Duration = Duration::from_secs(10);

pub fn run(args: &AgentArgs, common: &Common, env: Env, printer: &Printer) -> Result<(), Error> {
    let shell = shell(args.shell, env);
    if args.stop {
        return stop(args, shell, env, printer);
    }
    let path = args.socket.clone().unwrap_or_else(|| default_socket(env));
    socket::check_path(&path)?;
    if let Some(pid) = running(&path) {
        printer.info(&format!(
            "An agent (pid {pid}) already answers on {}.",
            path.display()
        ));
        return print_lines(&set_lines(shell, &path, pid));
    }
    if args.foreground {
        foreground(&path, common, shell, printer)
    } else {
        detach(&path, shell)
    }
}

/// The shell to write for: `--shell`, else from `$SHELL`, else sh.
fn shell(flag: Option<ShellArg>, env: Env) -> ShellArg {
    flag.or_else(|| {
        env("SHELL").and_then(|s| {
            Some(match sesame_login::aws::Shell::from_path(&s)? {
                sesame_login::aws::Shell::Fish => ShellArg::Fish,
                sesame_login::aws::Shell::Csh => ShellArg::Csh,
                sesame_login::aws::Shell::Powershell => ShellArg::Powershell,
                _ => ShellArg::Bash,
            })
        })
    })
    .unwrap_or(ShellArg::Bash)
}

/// The pid of the agent answering on `path`, if one does.
fn running(path: &Path) -> Option<u32> {
    match Agent::at(path.to_path_buf(), Duration::from_secs(1)).ask(Op::Ping) {
        Ok(Answer::Pong { pid, .. }) => Some(pid),
        _ => None,
    }
}

/// The lines that point a shell at the agent on `path` (checked by [`socket::check_path`]).
fn set_lines(shell: ShellArg, path: &Path, pid: u32) -> String {
    let (name, path) = (vars::AUTH_SOCK, path.display());
    match shell {
        ShellArg::Bash | ShellArg::Zsh => {
            format!("{name}='{path}'; export {name};\necho Agent pid {pid};\n")
        }
        ShellArg::Fish => format!("set -gx {name} '{path}';\necho Agent pid {pid};\n"),
        ShellArg::Csh => format!("setenv {name} '{path}';\necho Agent pid {pid};\n"),
        ShellArg::Powershell => format!("$Env:{name} = '{path}'\nWrite-Output 'Agent pid {pid}'\n"),
    }
}

/// The lines that forget the agent.
fn unset_lines(shell: ShellArg, pid: u32) -> String {
    let name = vars::AUTH_SOCK;
    match shell {
        ShellArg::Bash | ShellArg::Zsh => format!("unset {name};\necho Agent pid {pid} stopped;\n"),
        ShellArg::Fish => format!("set -e {name};\necho Agent pid {pid} stopped;\n"),
        ShellArg::Csh => format!("unsetenv {name};\necho Agent pid {pid} stopped;\n"),
        ShellArg::Powershell => {
            format!("Remove-Item Env:{name}\nWrite-Output 'Agent pid {pid} stopped'\n")
        }
    }
}

fn print_lines(lines: &str) -> Result<(), Error> {
    sesame_login::output::stdout(lines)
}

/// `--stop`: the agent at `--socket`, else `SESAME_AUTH_SOCK`, else the default path.
fn stop(args: &AgentArgs, shell: ShellArg, env: Env, printer: &Printer) -> Result<(), Error> {
    let path = args
        .socket
        .clone()
        .or_else(|| env(vars::AUTH_SOCK).map(PathBuf::from))
        .unwrap_or_else(|| default_socket(env));
    let Some(pid) = running(&path) else {
        return Err(
            Error::usage(format!("No agent answers on {}.", path.display()))
                .hint("Nothing to stop; `sesame agent` starts one."),
        );
    };
    let agent = Agent::at(path.clone(), Duration::from_secs(5));
    match agent.ask(Op::Stop) {
        Ok(Answer::Done) => {}
        Ok(other) => {
            return Err(Error::other(format!(
                "The agent on {} did not stop: {other:?}.",
                path.display()
            )));
        }
        Err(e) => {
            return Err(Error::other(format!(
                "Could not ask the agent on {} to stop: {e}.",
                path.display()
            )));
        }
    }
    printer.info(&format!(
        "Stopped the agent (pid {pid}) on {}.",
        path.display()
    ));
    print_lines(&unset_lines(shell, pid))
}

/// Runs the agent here until SIGINT, SIGTERM or `--stop`; the shell lines go to stdout first.
/// Beside its socket it serves `agent-forward.sock`, the restricted one that plain
/// `RemoteForward` lines may forward to SSH hosts (docs/agent.md).
fn foreground(
    path: &Path,
    common: &Common,
    shell: ShellArg,
    printer: &Printer,
) -> Result<(), Error> {
    let bound = socket::bind(path)?;
    let forward_path = path.with_file_name(FORWARD_SOCKET);
    let forward = match socket::bind(&forward_path) {
        Ok(b) => b,
        Err(e) => {
            bound.remove();
            return Err(e);
        }
    };
    let sessions = Sessions::new(common.refresh_skew, common.keychain.timeout);
    // A service manager may give no stdout: the lines are a courtesy there.
    let _ = print_lines(&set_lines(shell, path, std::process::id()));
    printer.info(&format!(
        "sesame agent: listening on {} (pid {}). Ctrl-C stops.",
        path.display(),
        std::process::id()
    ));
    let served = super::lifetime::runtime().and_then(|runtime| {
        runtime.block_on(async {
            let stop = Arc::new(tokio::sync::Notify::new());
            let own = agent::agent_answers(sessions.clone(), stop.clone());
            let forwarded = forward::answers(Source::Agent(sessions), Confirm::Refuse);
            let never = Arc::new(tokio::sync::Notify::new());
            tokio::select! {
                () = agent::serve(bound.tokio_listener()?, own, stop, super::lifetime::stopped()) => {}
                () = agent::serve(forward.tokio_listener()?, forwarded, never, std::future::pending()) => {}
            }
            Ok::<(), Error>(())
        })
    });
    bound.remove();
    forward.remove();
    printer.info("sesame agent: stopped.");
    served
}

/// Starts the agent in the background, detached from this terminal's signals, and prints its
/// lines once it answers. Its log (stderr) is `agent.log` beside the socket.
fn detach(path: &Path, shell: ShellArg) -> Result<(), Error> {
    use std::os::unix::process::CommandExt;
    let dir = socket::private_dir(path)?;
    let log_path = dir.join("agent.log");
    let log = open_log(&log_path)?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::other(format!("Cannot find the sesame program to start: {e}.")))?;
    let mut child = Command::new(exe)
        .args(["agent", "--foreground", "--socket"])
        .arg(path)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::other(format!("Cannot start the agent: {e}.")))?;
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(Error::other(format!(
                "The agent stopped at once ({status}):\n{}",
                log.trim_end()
            )));
        }
        if let Some(pid) = running(path) {
            return print_lines(&set_lines(shell, path, pid));
        }
        if started.elapsed() > START_WAIT {
            let _ = child.kill();
            return Err(Error::other(format!(
                "The agent did not answer on {} within {}s; see {}.",
                path.display(),
                START_WAIT.as_secs(),
                log_path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The agent's log file, replaced at each start, 0600 in the private directory.
fn open_log(path: &Path) -> Result<std::fs::File, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::other(format!("Cannot create {}: {e}.", path.display())))
}
