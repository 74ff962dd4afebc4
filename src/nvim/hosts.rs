//! Remote hosts (issue 17): the engine of another machine, reached through the user's own
//! `ssh` (their config, keys and agent; nothing of ours in between) running
//! `conductor-engine stdio` there. This file knows how to reach a host, how to put the
//! engine there when it is missing, and how what comes from a host is told apart from
//! what comes from this machine:
//!
//! - a workspace record of host `big` gets `id = "big:<id>"` and `host = "big"`, and any
//!   `workspace_id` becomes `"big:<id>"`, so a workspace id names its host by itself;
//! - a session number of a host is moved into this Neovim's own number space (the host's
//!   index above bit 40), so keys, output and acks find their connection.
//!
//! Requests are routed by their parameters: `host = "big"` (removed before sending), a
//! `workspace` of the form `"big:…"`, or a `session` in big's number space.
//!
//! Not here: the connection itself (client.rs), the `hosts` option (lua/conductor/config.lua).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::client::lock;

/// The folder of `engine`'s copy on a host, `~/.local/share/conductor/<this>/`
/// (`protocol::install_dir_name`: a hash of the program), computed once per program.
fn install_version(engine: Option<&Path>) -> String {
    static CACHE: Mutex<Option<(std::path::PathBuf, std::time::SystemTime, String)>> =
        Mutex::new(None);
    let Some(engine) = engine else {
        return format!("{}-none", env!("CARGO_PKG_VERSION"));
    };
    let modified = std::fs::metadata(engine)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH);
    let mut cache = lock(&CACHE);
    if let Some((path, at, version)) = cache.as_ref() {
        if path == engine && *at == modified {
            return version.clone();
        }
    }
    let version = crate::core::protocol::install_dir_name(engine)
        .unwrap_or_else(|_| format!("{}-none", env!("CARGO_PKG_VERSION")));
    *cache = Some((engine.to_path_buf(), modified, version.clone()));
    version
}

/// How long reaching a host and its engine may take (ssh's own ConnectTimeout is less).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(40);

/// The bit above which a session number names its host.
const SESSION_SHIFT: u32 = 40;

/// A host of `setup({ hosts = … })`, as config.lua validated it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HostSpec {
    /// The ssh command, destination last: `{ "ssh", "-p", "2222", "me@big" }`.
    pub ssh: Vec<String>,
    /// The engine program on the host, when not the copy this plugin puts there.
    pub engine: Option<String>,
    /// The engine's state directory there (default: that machine's Neovim's).
    pub state_dir: Option<String>,
    /// Engine options for that host (its own paths), sent when connecting.
    pub options: Option<Value>,
}

/// A connection's host: its name and its number (for session numbers).
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    index: u64,
}

impl Route {
    /// A session number of this host, as this Neovim knows it.
    pub fn session(&self, remote: u64) -> u64 {
        (self.index << SESSION_SHIFT) | remote
    }
}

static HOSTS: Mutex<BTreeMap<String, HostSpec>> = Mutex::new(BTreeMap::new());
/// Host names by index - 1; an index, once given, stays (sessions keep their numbers).
static INDEX: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers the configured hosts (`setup()`); connections made keep their settings.
pub fn configure(hosts: BTreeMap<String, HostSpec>) -> Result<(), String> {
    for (name, spec) in &hosts {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "conductor: host name {name:?}: only letters, digits, '-', '_' and '.' are allowed"
            ));
        }
        if spec.ssh.len() < 2 {
            return Err(format!(
                "conductor: hosts.{name}.ssh must be the ssh command and its destination, e.g. {{ \"ssh\", \"me@{name}\" }}"
            ));
        }
    }
    *lock(&HOSTS) = hosts;
    Ok(())
}

pub fn spec(name: &str) -> Result<HostSpec, String> {
    lock(&HOSTS).get(name).cloned().ok_or_else(|| {
        format!("conductor: no host named {name:?}: add it to setup({{ hosts = {{ {name} = {{ ssh = ... }} }} }})")
    })
}

pub fn route(name: &str) -> Route {
    let mut index = lock(&INDEX);
    let at = match index.iter().position(|n| n == name) {
        Some(at) => at,
        None => {
            index.push(name.to_string());
            index.len() - 1
        }
    };
    Route {
        name: name.to_string(),
        index: at as u64 + 1,
    }
}

/// The host of a session number as Lua knows it (None: this machine) and the number the
/// host's engine knows.
pub fn session_route(session: u64) -> (Option<String>, u64) {
    let index = session >> SESSION_SHIFT;
    let remote = session & ((1 << SESSION_SHIFT) - 1);
    if index == 0 {
        return (None, session);
    }
    // A number of no host this Neovim knows routes nowhere (`spec` refuses ""), never to
    // this machine's engine.
    let host = lock(&INDEX)
        .get(index as usize - 1)
        .cloned()
        .unwrap_or_default();
    (Some(host), remote)
}

/// The host a request goes to, from its parameters (removing `host`): None for this
/// machine's engine.
pub fn pick(params: &mut Value) -> Result<Option<String>, String> {
    let named = match params.as_object_mut().and_then(|o| o.remove("host")) {
        Some(Value::String(h)) if !h.is_empty() => Some(h),
        Some(Value::String(_) | Value::Null) | None => None,
        Some(other) => return Err(format!("conductor: host must be a name, not {other}")),
    };
    let by_workspace = params
        .get("workspace")
        .and_then(Value::as_str)
        .and_then(|w| w.split_once(':'))
        .map(|(h, _)| h.to_string());
    let by_session = params
        .get("session")
        .and_then(Value::as_u64)
        .and_then(|s| session_route(s).0);
    let host = named.or(by_workspace).or(by_session);
    if let Some(h) = &host {
        spec(h)?;
    }
    Ok(host)
}

/// Makes what host `route` sent unique here (see the top of this file).
pub fn tag(value: &mut Value, route: &Route) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| tag(v, route)),
        Value::Object(map) => {
            let record = map.contains_key("worktree") && map.contains_key("repo_root");
            for (key, v) in map.iter_mut() {
                match (key.as_str(), &*v) {
                    ("id", Value::String(id)) if record => {
                        *v = Value::String(format!("{}:{id}", route.name))
                    }
                    ("workspace_id", Value::String(id)) => {
                        *v = Value::String(format!("{}:{id}", route.name))
                    }
                    ("session", Value::Number(n)) => {
                        if let Some(n) = n.as_u64() {
                            *v = Value::from(route.session(n));
                        }
                    }
                    _ => tag(v, route),
                }
            }
            if record {
                map.insert("host".into(), Value::String(route.name.clone()));
            }
        }
        _ => {}
    }
}

/// Parameters for host `route`'s engine: its own workspace ids and session numbers.
pub fn untag(params: &mut Value, route: &Route) {
    let Some(map) = params.as_object_mut() else {
        return;
    };
    if let Some(Value::String(w)) = map.get_mut("workspace") {
        if let Some(rest) = w.strip_prefix(&format!("{}:", route.name)) {
            *w = rest.to_string();
        }
    }
    if let Some(Value::Number(n)) = map.get("session") {
        if let Some(n) = n.as_u64() {
            map.insert("session".into(), Value::from(session_route(n).1));
        }
    }
}

/// `s` as one word for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The ssh command for `spec` running `script` with `sh` there (whatever the user's login
/// shell is). Never asks for a password (there is no terminal to ask on) and gives up on
/// an unreachable host, or a silent one, in a bounded time.
fn ssh(spec: &HostSpec, script: &str) -> Command {
    let mut cmd = Command::new(&spec.ssh[0]);
    // After the user's own arguments (ssh keeps the first value of an option: theirs win),
    // before the destination, which is the last word.
    let (destination, theirs) = spec.ssh[1..].split_last().expect("configure checks ssh");
    cmd.args(theirs);
    cmd.args([
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=15",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ServerAliveCountMax=4",
    ]);
    cmd.arg(destination);
    cmd.arg(format!("sh -c {}", quote(script)));
    cmd
}

/// The line the script prints on stdout just before the engine starts: what a shell's
/// startup files printed before it (a chatty `~/.bashrc`) is skipped up to it.
pub const READY: &str = "conductor-engine-ready";

/// Reads `reader` up to and including the `READY` line (at most 64 KB of chatter).
pub fn skip_to_ready(reader: &mut impl std::io::BufRead) -> Result<(), String> {
    let mut seen = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(String::new());
        }
        if line.strip_suffix(b"\n") == Some(READY.as_bytes()) {
            return Ok(());
        }
        seen += n;
        if seen > 64 * 1024 {
            return Err("conductor: the host printed too much before the engine started (a shell startup file?)".into());
        }
    }
}

/// The first line of what `sh` on the host says when there is no engine to run.
const NO_ENGINE: &str = "conductor: no engine:";

/// The script that runs the engine on the host: the configured program, else this
/// build's copy, else `conductor-engine` on PATH. It runs in the user's login shell, so
/// that the engine (and the agents it starts) get the PATH and variables the user has in
/// a terminal there (ssh's own command environment is bare: no npm or cargo folders);
/// what the profile prints goes to stderr, never into the protocol on stdout.
fn engine_script(spec: &HostSpec, version: &str, command: &str) -> String {
    let configured = spec.engine.as_deref().unwrap_or("");
    let state_dir = match &spec.state_dir {
        Some(d) => format!(" --state-dir {}", quote(d)),
        None => String::new(),
    };
    format!(
        r#"e={configured}
case $e in "~/"*) e="$HOME/${{e#??}}";; esac
if [ -z "$e" ]; then
  e="$HOME/.local/share/conductor/{version}/conductor-engine"
  [ -x "$e" ] || e=$(command -v conductor-engine) || e=
fi
if [ -z "$e" ] || [ ! -x "$e" ]; then echo "{NO_ENGINE} $(uname -sm)" >&2; exit 127; fi
case ${{SHELL##*/}} in bash|zsh|ksh|mksh|dash|sh) l=$SHELL;; *) l=/bin/sh;; esac
exec 3>&1 1>&2
exec "$l" -l -c 'exec 1>&3 3>&-; printf "\n{READY}\n"; exec "$0" {command} "$@"' "$e"{state_dir}"#,
        configured = quote(configured),
    )
}

/// A connection's way in and out, and its ssh.
pub type Pipes = (Box<dyn Read + Send>, Box<dyn Write + Send>, Child);

/// Starts `ssh HOST … conductor-engine stdio`: its stdout, stdin and the child.
pub fn spawn(name: &str, spec: &HostSpec) -> Result<Pipes, String> {
    let version = install_version(super::client::local_engine().as_deref());
    let mut child = ssh(spec, &engine_script(spec, &version, "stdio"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("conductor: cannot reach host {name}: {}: {e}", spec.ssh[0]))?;
    let stdout = child.stdout.take().expect("piped");
    let stdin = child.stdin.take().expect("piped");
    // Read as it comes, so that a chatty ssh never blocks; kept for the error message.
    let stderr = child.stderr.take().expect("piped");
    let text = Arc::new(Mutex::new(String::new()));
    {
        let text = Arc::clone(&text);
        std::thread::spawn(move || {
            let mut stderr = stderr;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut t = lock(&text);
                if t.len() < 64 * 1024 {
                    t.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
    }
    lock(&STDERR).insert(child.id(), text);
    Ok((Box::new(stdout), Box::new(stdin), child))
}

/// What each ssh of a connection wrote on stderr, by its pid.
static STDERR: Mutex<BTreeMap<u32, Arc<Mutex<String>>>> = Mutex::new(BTreeMap::new());

/// The ssh of a connection ended: its stderr is no longer needed.
pub fn forget(pid: u32) {
    lock(&STDERR).remove(&pid);
}

/// Why a connection to a host ended before its engine said welcome, in one line: ssh's
/// own complaint, or the missing engine (with a `[no-engine …]` mark Lua acts on).
pub fn why_closed(route: Option<&Route>, mut child: Child) -> String {
    let name = route.map_or("?", |r| r.name.as_str());
    let status = wait_a_little(&mut child);
    // The stderr reader finishes once ssh has exited.
    std::thread::sleep(Duration::from_millis(50));
    let text = lock(&STDERR)
        .remove(&child.id())
        .map(|t| lock(&t).clone())
        .unwrap_or_default();
    let last = last_line(&text);
    if let Some(uname) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix(NO_ENGINE))
        .map(str::trim)
    {
        return format!(
            "conductor: host {name} has no conductor-engine of this build [no-engine {uname}]"
        );
    }
    match status.and_then(|s| s.code()) {
        Some(255) => format!("conductor: cannot reach host {name}: {last}"),
        _ if last.is_empty() => {
            format!("conductor: the engine on host {name} closed the connection")
        }
        _ => format!("conductor: the engine on host {name} did not start: {last}"),
    }
}

/// ssh's last word (its notes about known hosts are not one).
fn last_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .unwrap_or("")
        .to_string()
}

fn wait_a_little(child: &mut Child) -> Option<std::process::ExitStatus> {
    for _ in 0..100 {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().ok()
}

/// This build's system as `uname -sm` says it.
fn local_uname() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "Darwin",
        "linux" => "Linux",
        other => other,
    };
    (os, std::env::consts::ARCH)
}

fn same_system(uname: &str) -> bool {
    let mut parts = uname.split_whitespace();
    let (os, arch) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let arch = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        a => a,
    };
    (os, arch) == local_uname()
}

/// Copies `engine` (this build's conductor-engine) to host `name`'s
/// `~/.local/share/conductor/<version and hash>/`, when the host's system is this one's;
/// else says what to install there. The copy is whole or not there at all.
pub fn install(name: &str, engine: &Path) -> Result<String, String> {
    let spec = spec(name)?;
    let run = |cmd: &mut Command, input: Option<&Path>| -> Result<String, String> {
        let stdin = match input {
            Some(p) => Stdio::from(
                std::fs::File::open(p)
                    .map_err(|e| format!("conductor: cannot read {}: {e}", p.display()))?,
            ),
            None => Stdio::null(),
        };
        let out = cmd
            .stdin(stdin)
            .output()
            .map_err(|e| format!("conductor: cannot reach host {name}: {e}"))?;
        let err = String::from_utf8_lossy(&out.stderr);
        let last = last_line(&err);
        match out.status.code() {
            Some(0) => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
            Some(255) => Err(format!("conductor: cannot reach host {name}: {last}")),
            _ => Err(format!(
                "conductor: installing conductor-engine on host {name} failed: {last} \
                 (a host with an older C library than this machine's cannot run this build: \
                 build conductor-engine there and set hosts.{name}.engine)"
            )),
        }
    };
    // The last line: a chatty shell startup file may print before it.
    let uname = run(&mut ssh(&spec, "uname -sm"), None)?;
    let uname = uname.lines().last().unwrap_or("").trim().to_string();
    let (os, arch) = local_uname();
    if !same_system(&uname) {
        return Err(format!(
            "conductor: host {name} runs {uname} and this conductor-engine is built for {os} {arch}: \
             build conductor-engine there (cargo build --release in this plugin's checkout) \
             and set hosts.{name}.engine to its path"
        ));
    }
    if !engine.is_file() {
        return Err(format!(
            "conductor: no conductor-engine to copy to host {name} ({} is missing): build it with cargo build --release",
            engine.display()
        ));
    }
    let version = install_version(Some(engine));
    let script = format!(
        r#"d="$HOME/.local/share/conductor/{version}"
mkdir -p "$d" && t="$d/.conductor-engine.$$" && cat > "$t" && chmod 755 "$t" && "$t" --version && mv -f "$t" "$d/conductor-engine" || {{ rm -f "$t"; exit 1; }}"#
    );
    run(&mut ssh(&spec, &script), Some(engine))?;
    Ok(format!(
        "~/.local/share/conductor/{version}/conductor-engine"
    ))
}

/// Stops the engine of host `name` (and what it runs), whatever its protocol: for an
/// engine of another build that this one cannot talk to.
pub fn stop(name: &str) -> Result<(), String> {
    let spec = spec(name)?;
    let version = install_version(super::client::local_engine().as_deref());
    let mut child = ssh(&spec, &engine_script(&spec, &version, "stop"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("conductor: cannot reach host {name}: {e}"))?;
    let mut stderr = child.stderr.take().expect("piped");
    let said = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = wait_for(&mut child, STOP_TIMEOUT);
    let text = said.join().unwrap_or_default();
    match status.map(|s| s.code()) {
        None => Err(format!(
            "conductor: the engine on host {name} did not stop within {} s",
            STOP_TIMEOUT.as_secs()
        )),
        // No engine program there: none runs either.
        Some(Some(0 | 127)) => Ok(()),
        Some(Some(255)) => Err(format!(
            "conductor: cannot reach host {name}: {}",
            last_line(&text)
        )),
        Some(_) => Err(format!(
            "conductor: stopping the engine on host {name} failed: {}",
            last_line(&text)
        )),
    }
}

/// How long stopping a host's engine may take (ssh, then the agents' grace period).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// `child`'s exit within `limit`; None (after killing it) when it ran longer.
fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_a_host_sends_names_the_host_and_goes_back_unchanged() {
        let r = route("big-test");
        let mut reply = json!([
            { "id": "abcd1234", "worktree": "w", "repo_root": "/r", "name": "fix" },
            { "session": 7, "workspace_id": "abcd1234", "workspace": "fix" }
        ]);
        tag(&mut reply, &r);
        assert_eq!(reply[0]["id"], "big-test:abcd1234");
        assert_eq!(reply[0]["host"], "big-test");
        assert_eq!(reply[0]["name"], "fix");
        assert_eq!(reply[1]["workspace_id"], "big-test:abcd1234");
        let session = reply[1]["session"].as_u64().unwrap();
        assert_ne!(session, 7);
        assert_eq!(session_route(session), (Some("big-test".into()), 7));
        let mut params = json!({ "workspace": "big-test:abcd1234", "session": session });
        untag(&mut params, &r);
        assert_eq!(params, json!({ "workspace": "abcd1234", "session": 7 }));
        // This machine's sessions are their own numbers.
        assert_eq!(session_route(7), (None, 7));
    }

    #[test]
    fn a_request_goes_where_its_parameters_say() {
        let mut hosts = BTreeMap::new();
        hosts.insert(
            "pick-test".to_string(),
            HostSpec {
                ssh: vec!["ssh".into(), "x".into()],
                ..Default::default()
            },
        );
        configure(hosts).unwrap();
        let mut p = json!({ "host": "pick-test", "path": "/p" });
        assert_eq!(pick(&mut p).unwrap().as_deref(), Some("pick-test"));
        assert_eq!(p, json!({ "path": "/p" }), "host is not sent");
        let mut p = json!({ "workspace": "pick-test:fix" });
        assert_eq!(pick(&mut p).unwrap().as_deref(), Some("pick-test"));
        let mut p = json!({ "workspace": "fix" });
        assert_eq!(pick(&mut p).unwrap(), None);
        let mut p = json!({ "workspace": "nowhere:fix" });
        assert!(pick(&mut p)
            .unwrap_err()
            .contains("no host named \"nowhere\""));
        let s = route("pick-test").session(3);
        let mut p = json!({ "session": s });
        assert_eq!(pick(&mut p).unwrap().as_deref(), Some("pick-test"));
    }

    #[test]
    fn what_a_shell_prints_before_the_engine_is_skipped() {
        let mut stream = b"Welcome to big!\nno newline at the end".to_vec();
        stream.extend_from_slice(format!("\n{READY}\n").as_bytes());
        crate::core::protocol::write_json(&mut stream, &json!({ "type": "x" })).unwrap();
        let mut reader = std::io::BufReader::new(&stream[..]);
        skip_to_ready(&mut reader).unwrap();
        let frame = crate::core::protocol::read_frame(&mut reader).unwrap();
        assert!(
            matches!(frame, Some(crate::core::protocol::Frame::Json(_))),
            "{frame:?}"
        );
        // An engine that never starts: its end, or a flood of chatter, is said.
        let mut reader = std::io::BufReader::new(&b"motd\n"[..]);
        assert_eq!(skip_to_ready(&mut reader), Err(String::new()));
        let flood = vec![b'x'; 100 * 1024];
        let mut reader = std::io::BufReader::new(&flood[..]);
        assert!(skip_to_ready(&mut reader)
            .unwrap_err()
            .contains("printed too much"));
    }

    #[test]
    fn the_engine_script_quotes_what_the_user_gave() {
        let spec = HostSpec {
            ssh: vec!["ssh".into(), "h".into()],
            engine: Some("~/bin/it's here".into()),
            state_dir: Some("/s d".into()),
            options: None,
        };
        let script = engine_script(&spec, "0.1.0-x", "stdio");
        assert!(script.contains(r"e='~/bin/it'\''s here'"), "{script}");
        assert!(script.ends_with(r#""$e" --state-dir '/s d'"#), "{script}");
        let out = Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(same_system(&format!(
            "{} {}",
            local_uname().0,
            local_uname().1
        )));
        assert!(!same_system("Plan9 mips"));
    }
}
