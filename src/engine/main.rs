//! `conductor-engine`: the process that owns the workspaces' agents, terminals and
//! scripts, so that they outlive the Neovim that started them. Neovim starts it on first
//! use (`serve --detach`) and talks to it over a Unix socket (src/core/protocol.rs).
//!
//!   conductor-engine serve --state-dir DIR [--detach]   run the engine of DIR
//!   conductor-engine stop --state-dir DIR               stop it (and what it runs)
//!   conductor-engine status --state-dir DIR             print what it runs (JSON)
//!   conductor-engine stdio [--state-dir DIR]            the engine of DIR (started when
//!                                                       none runs; by default Neovim's
//!                                                       state dir) over stdin/stdout:
//!                                                       what `ssh HOST` runs (stdio.rs)
//!   conductor-engine --version
//!
//! Not here: the engine's logic (src/core), Neovim (src/nvim).

mod dispatch;
mod hub;
mod server;
mod stdio;

use std::io::BufReader;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use conductor::engine::{Engine, Options};
use conductor::protocol::{self, ClientMessage, EnginePaths, Frame, ServerMessage};

pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CONDUCTOR_COMMIT"),
    ")"
);

/// How long an engine with no clients, agents or scripts stays before it exits.
const IDLE: Duration = Duration::from_secs(300);

fn usage() -> ! {
    eprintln!("usage: conductor-engine serve|stop|status|stdio --state-dir DIR [--detach]");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--version") {
        println!(
            "conductor-engine {VERSION}, protocol {}",
            protocol::PROTOCOL
        );
        return;
    }
    let mut state_dir: Option<PathBuf> = None;
    let mut detach = false;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--state-dir" => state_dir = it.next().map(PathBuf::from),
            "--detach" => detach = true,
            _ => usage(),
        }
    }
    // Over ssh (`stdio`) the state directory defaults to the one Neovim's own plugin uses
    // on that machine, so a Neovim there sees the same workspaces.
    let state_dir = match state_dir {
        Some(d) => d,
        None if matches!(
            args.first().map(String::as_str),
            Some("stdio" | "stop" | "status")
        ) =>
        {
            default_state_dir()
        }
        None => usage(),
    };
    let code = match args.first().map(String::as_str) {
        Some("serve") => serve(state_dir, detach),
        Some("stop") => stop(&state_dir),
        Some("status") => status(&state_dir),
        Some("stdio") => stdio::run(&state_dir),
        _ => usage(),
    };
    std::process::exit(code)
}

/// `$XDG_STATE_HOME/nvim/conductor`, else `~/.local/state/nvim/conductor`: Neovim's
/// `stdpath("state")` with the plugin's folder.
fn default_state_dir() -> PathBuf {
    match std::env::var_os("XDG_STATE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("nvim/conductor"),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".local/state/nvim/conductor"),
    }
}

fn fail(message: impl std::fmt::Display) -> i32 {
    eprintln!("conductor-engine: {message}");
    1
}

fn serve(state_dir: PathBuf, detach: bool) -> i32 {
    if detach {
        // Fork once more and let the parent (Neovim's child) exit at once: the engine
        // is nobody's child then, and leads its own session, so neither Neovim's exit
        // nor a hangup of its terminal reaches it.
        // SAFETY: no other thread exists yet; the child only continues this function.
        match unsafe { libc::fork() } {
            -1 => return fail(std::io::Error::last_os_error()),
            // Already a session of its own (the starter's setsid): not its leader, so it
            // can never acquire a controlling terminal.
            0 => {}
            _ => return 0,
        }
    }
    let paths = match EnginePaths::for_state_dir(&state_dir) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let _ = std::fs::create_dir_all(&state_dir);
    // One engine per state directory: the lock decides, the loser leaves quietly.
    let lock = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&paths.lock)
    {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: {e}", paths.lock.display())),
    };
    // An engine that is stopping holds the lock until it has stopped what it ran: wait
    // for it a little. One that keeps it is running: leave it be.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !fs4::fs_std::FileExt::try_lock_exclusive(&lock).unwrap_or(false) {
        if std::time::Instant::now() > deadline {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(&paths.socket);
    let listener = match UnixListener::bind(&paths.socket) {
        Ok(l) => l,
        Err(e) => return fail(format!("{}: {e}", paths.socket.display())),
    };
    let _ = std::fs::write(&paths.pid, std::process::id().to_string());
    let _ = std::fs::write(&paths.record, paths.socket.as_os_str().as_encoded_bytes());
    eprintln!(
        "conductor-engine {VERSION}: pid {} serving {}",
        std::process::id(),
        paths.socket.display()
    );
    let hub = Arc::new(hub::Hub::default());
    let options = Options {
        state_dir: state_dir.clone(),
        ..Options::default()
    };
    let events = {
        let hub = Arc::clone(&hub);
        Arc::new(move |event| {
            if let Ok(json) = serde_json::to_value(&event) {
                hub.broadcast(json);
            }
        })
    };
    let ctx = Arc::new(dispatch::Ctx {
        engine: Engine::new(options, events),
        hub,
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("engine-worker")
            .enable_time()
            .build()
            .expect("a tokio runtime can always be built"),
        started: std::time::Instant::now(),
        stopping: Default::default(),
        wake: Default::default(),
        closing: Default::default(),
    });
    let idle = std::env::var("CONDUCTOR_ENGINE_IDLE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(IDLE);
    let socket = paths.socket.clone();
    let (pid, record) = (paths.pid.clone(), paths.record.clone());
    server::serve(listener, ctx, idle, move || {
        let _ = std::fs::remove_file(&socket);
        let _ = std::fs::remove_file(&pid);
        let _ = std::fs::remove_file(&record);
    });
    drop(lock);
    0
}

/// A connection that has said hello, for the command-line `status`.
fn connect(state_dir: &std::path::Path) -> Result<UnixStream, String> {
    let paths = EnginePaths::for_state_dir(state_dir).map_err(|e| e.to_string())?;
    paths
        .connect()
        .ok_or_else(|| "no engine runs for this state directory".into())
}

fn stop(state_dir: &std::path::Path) -> i32 {
    match protocol::stop_engine(state_dir, Duration::from_secs(10)) {
        Ok(true) => 0,
        Ok(false) => fail("no engine runs for this state directory"),
        Err(e) => fail(e),
    }
}

fn status(state_dir: &std::path::Path) -> i32 {
    let mut s = match connect(state_dir) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let hello = ClientMessage::Hello {
        protocol: protocol::PROTOCOL,
        version: VERSION.into(),
        pid: std::process::id(),
        env: None,
    };
    let request = ClientMessage::Request {
        id: 1,
        method: "engine_status".into(),
        params: serde_json::json!({}),
    };
    if protocol::write_json(&mut s, &hello).is_err()
        || protocol::write_json(&mut s, &request).is_err()
    {
        return fail("the engine closed the connection");
    }
    let mut r = BufReader::new(s);
    while let Ok(Some(frame)) = protocol::read_frame(&mut r) {
        if let Frame::Json(v) = frame {
            match serde_json::from_value::<ServerMessage>(v) {
                Ok(ServerMessage::Reply { result, error, .. }) => {
                    if let Some(e) = error {
                        return fail(e);
                    }
                    println!("{}", result.unwrap_or_default());
                    return 0;
                }
                Ok(ServerMessage::Refused { message, .. }) => return fail(message),
                _ => {}
            }
        }
    }
    fail("the engine closed the connection")
}
