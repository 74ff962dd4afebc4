//! The engine's tests, one module per concern (each was its own test binary before
//! they were gathered here to cut link time): real git repositories in temp dirs, real
//! PTYs and processes, property tests, crash tests, and the README kept in step.
//! Run one: `cargo test --test engine crash::`.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod concurrency;
mod config;
mod crash;
mod integrity;
mod messages;
mod processes;
mod prop_config;
mod prop_snapshot;
mod readme;
mod recovery;
mod review;
mod terminals;
mod turns;
mod workspaces;
