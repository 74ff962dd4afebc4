//! The engine's socket: one listener in the user's private runtime directory, a reader
//! and a writer thread per connected Neovim. A peer of another user is refused before
//! it says anything; a client of another protocol is refused with the way out.
//!
//! Not here: what requests do (dispatch.rs).

use std::io::{BufReader, BufWriter, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conductor::platform::peer;
use conductor::protocol::{
    self, read_frame, ClientMessage, Frame, Request, ServerMessage, PROTOCOL,
};

use crate::dispatch::{self, Ctx};
use crate::hub::Out;

pub fn serve(listener: UnixListener, ctx: Arc<Ctx>, idle: Duration, cleanup: impl Fn()) {
    {
        let ctx = Arc::clone(&ctx);
        std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else {
                        // Out of file descriptors, say: wait rather than spin.
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    let ctx = Arc::clone(&ctx);
                    let _ = std::thread::Builder::new()
                        .name("client".into())
                        .spawn(move || client(stream, ctx));
                }
            })
            .expect("the accept thread starts");
    }
    // Exit when told to, or when nothing has needed the engine for `idle`.
    let mut idle_since: Option<Instant> = None;
    loop {
        {
            // Idle checks once a second; a stop wakes it at once.
            let guard = ctx.wake.0.lock().unwrap_or_else(|e| e.into_inner());
            if !ctx.stopping.load(Ordering::SeqCst) {
                let _ = ctx.wake.1.wait_timeout(guard, Duration::from_secs(1));
            }
        }
        if ctx.stopping.load(Ordering::SeqCst) {
            break;
        }
        let busy = !ctx.hub.clients().is_empty()
            || ctx.hub.list(None).iter().any(|s| !s.exited)
            || ctx.engine.processes_running() > 0;
        if busy {
            idle_since = None;
        } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= idle {
            eprintln!("conductor-engine: idle for {idle:?}, exiting");
            break;
        }
    }
    // No new client may find a dying engine: the next one starts a new engine, which
    // waits for this one's lock (and one that got in just now is told to retry).
    ctx.closing.store(true, Ordering::SeqCst);
    cleanup();
    // Replies already queued (the `engine_stop` one) get a moment to go out.
    std::thread::sleep(Duration::from_millis(50));
    let grace =
        Duration::from_millis(ctx.engine.options().stop_grace_ms).min(Duration::from_secs(2));
    ctx.engine.stop_all_processes(grace);
    // Each stopped program's exit reaches the Neovims that show it before the engine
    // goes (else a terminal says the engine was lost instead of how its program ended):
    // the exits are seen on other threads, a moment after the processes end.
    let deadline = Instant::now() + Duration::from_secs(2);
    while ctx.hub.list(None).iter().any(|s| !s.exited) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
}

/// Whoever asked the engine to stop learns it has when this connection closes, as the
/// process exits.
fn stop_and_hold(ctx: &Ctx) -> ! {
    ctx.stop();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn refuse(stream: &UnixStream, message: String, reason: &str) {
    let mut w = BufWriter::new(stream);
    let _ = protocol::write_json(
        &mut w,
        &ServerMessage::Refused {
            message,
            reason: reason.into(),
        },
    );
    let _ = w.flush();
    drop(w);
    // Closing with the client's hello unread would reset the connection before it reads
    // the refusal: say we are done, and read what it sends until it closes (briefly).
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = std::io::copy(&mut &*stream, &mut std::io::sink());
}

fn client(stream: UnixStream, ctx: Arc<Ctx>) {
    if !peer::same_user(&stream) {
        let uid = peer::peer_uid(&stream)
            .map(|u| u.to_string())
            .unwrap_or_default();
        eprintln!("conductor-engine: refused a connection from uid {uid}");
        refuse(
            &stream,
            format!(
                "conductor: this engine serves uid {} only, not {uid}",
                unsafe { libc::getuid() }
            ),
            "user",
        );
        return;
    }
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let (pid, env) = match read_frame(&mut reader) {
        Ok(Some(Frame::Json(v))) => match serde_json::from_value::<ClientMessage>(v) {
            Ok(ClientMessage::Stop) => stop_and_hold(&ctx),
            Ok(ClientMessage::Hello {
                protocol, pid, env, ..
            }) if protocol == PROTOCOL => (pid, env),
            Ok(ClientMessage::Hello {
                protocol, version, ..
            }) => {
                refuse(
                    &stream,
                    format!(
                        "conductor: the running engine ({}, protocol {PROTOCOL}) does not speak this plugin's protocol {protocol} ({version}): restart it with :ConductorEngine restart",
                        crate::VERSION
                    ),
                    "protocol",
                );
                return;
            }
            _ => return,
        },
        _ => return,
    };
    if ctx.closing.load(Ordering::SeqCst) {
        refuse(
            &stream,
            "conductor: the engine is stopping; try again".into(),
            "closing",
        );
        return;
    }
    let (id, rx) = ctx.hub.add_client(pid, env);
    // However this thread ends (a panic included), the client is gone from the hub.
    let _gone = Gone {
        hub: Arc::clone(&ctx.hub),
        client: id,
    };
    let writer = {
        let Ok(out) = stream.try_clone() else {
            ctx.hub.drop_client(id);
            return;
        };
        std::thread::Builder::new()
            .name(format!("client-{id}-writer"))
            .spawn(move || write_loop(out, rx))
    };
    ctx.hub.send(
        id,
        Out::Json(ServerMessage::Welcome {
            protocol: PROTOCOL,
            version: crate::VERSION.into(),
            client: id,
            pid: std::process::id(),
        }),
    );
    loop {
        match read_frame(&mut reader) {
            Ok(Some(Frame::Json(v))) => match serde_json::from_value::<ClientMessage>(v) {
                Ok(ClientMessage::Request {
                    id: rid,
                    method,
                    params,
                }) => match Request::parse(&method, params) {
                    Ok(req) => {
                        // A bug in one request must not take the client (or engine) down.
                        let run =
                            std::panic::AssertUnwindSafe(|| dispatch::dispatch(&ctx, id, rid, req));
                        if let Err(panic) = std::panic::catch_unwind(run) {
                            let text = dispatch::panic_text(&panic);
                            dispatch::reply(
                                &ctx.hub,
                                id,
                                rid,
                                Err(format!("conductor: internal error: {text}")),
                            );
                        }
                    }
                    Err(e) => dispatch::reply(&ctx.hub, id, rid, Err(e)),
                },
                Ok(ClientMessage::Stop) => stop_and_hold(&ctx),
                _ => {}
            },
            Ok(Some(Frame::Input { session, bytes })) => {
                let _ = ctx.engine.sessions.write(session, bytes);
            }
            Ok(Some(Frame::Ack { session, len })) => ctx.hub.ack(id, session, len),
            Ok(Some(Frame::Output { .. })) => {}
            Ok(None) | Err(_) => break,
        }
    }
    drop(_gone);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    if let Ok(w) = writer {
        let _ = w.join();
    }
}

/// Takes a client out of the hub when its thread ends, however it ends.
struct Gone {
    hub: Arc<crate::hub::Hub>,
    client: u32,
}

impl Drop for Gone {
    fn drop(&mut self) {
        self.hub.drop_client(self.client);
    }
}

fn write_loop(stream: UnixStream, rx: std::sync::mpsc::Receiver<Out>) {
    let mut w = BufWriter::with_capacity(64 * 1024, stream);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        // Write what is queued, then flush once.
        while let Some(out) = next {
            let r = match &out {
                Out::Json(m) => protocol::write_json(&mut w, m),
                Out::Output(session, bytes) => protocol::write_output(&mut w, *session, bytes),
            };
            if r.is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if w.flush().is_err() {
            return;
        }
    }
}
