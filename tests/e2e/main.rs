//! End to end: the plugin in a real headless Neovim (cases in tests/nvim/cases), and on
//! a real terminal (screen). One module per former test binary. Run one:
//! `cargo test --test e2e review::`. The real agent CLIs: `./dev test --real-agents`.

#[path = "../common/mod.rs"]
mod common;

mod agents;
mod config;
mod doctor;
mod engine_process;
mod fanout;
mod fidelity;
mod first_hour;
mod hostile;
mod hosts;
mod integrity;
mod picker;
mod platform;
mod processes;
mod real_agents;
mod remote;
mod remote_client;
mod review;
mod screen;
mod security;
mod stale;
mod telescope;
mod turns;
mod workspaces;
