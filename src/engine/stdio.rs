//! `conductor-engine stdio --state-dir DIR`: the engine of DIR on this machine, over this
//! process's stdin and stdout (issue 17). `ssh HOST conductor-engine stdio --state-dir …`
//! gives a client on another machine this machine's engine, through the user's own ssh.
//!
//! It connects to the engine (starting it when none runs, detached, as Neovim does) and
//! relays bytes both ways unchanged: the frames of src/core/protocol.rs pass through, the
//! client says hello itself. When stdin closes (the client went, or its ssh connection
//! dropped) the engine hears the client go, and keeps running with its agents.
//!
//! Not here: the protocol (src/core/protocol.rs), serving (server.rs).

use std::fs::File;
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::net::Shutdown;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use conductor::protocol;

/// How long the engine's last frames may take to arrive once stdin has closed.
const DRAIN: Duration = Duration::from_secs(2);

pub fn run(state_dir: &Path) -> i32 {
    // The engine is found by its state directory's path: `~/x` (quoted, so no shell
    // expanded it) and `x` name the same one as the absolute path.
    let state_dir = match (state_dir.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => Path::new(&home).join(rest),
        _ => state_dir.to_path_buf(),
    };
    let state_dir = std::path::absolute(&state_dir).unwrap_or(state_dir);
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conductor-engine stdio: cannot find its own program: {e}");
            return 1;
        }
    };
    let stream = match protocol::connect_or_start(&state_dir, Some(&exe), protocol::START_TIMEOUT) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let down = match stream.try_clone() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("conductor-engine stdio: {e}");
            return 1;
        }
    };
    // Engine to stdout. Its end (the engine closed the connection, or nobody reads
    // stdout any more) ends the relay.
    let downstream = std::thread::spawn(move || {
        // SAFETY: fd 1 stays open for the life of the process; ManuallyDrop never closes it.
        let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
        relay(down, &mut out);
        std::process::exit(0)
    });
    // Stdin to the engine, unbuffered both ways (keys go out as they come).
    // SAFETY: as above, for fd 0.
    let mut input = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    let mut up = &stream;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if up.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // The client is gone: the engine drops it and closes; what it still sends gets a
    // moment to go out.
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = std::time::Instant::now() + DRAIN;
    while !downstream.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    0
}

fn relay(mut from: UnixStream, to: &mut File) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
