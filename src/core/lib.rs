//! The engine's logic: plain Rust, no Neovim types (a crate of its own, so the compiler
//! keeps it so). Served to Neovim by the engine process (src/engine); unit-tested alone.

pub mod after_checkout;
pub mod agent_state;
pub mod aside;
pub mod changes;
pub mod checkout;
pub mod checkpoints;
pub mod config;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod faults;
pub mod include;
pub mod leftovers;
pub mod lifecycle;
pub mod names;
pub mod platform;
pub mod ports;
pub mod process;
pub mod protocol;
pub mod pty;
pub mod queries;
pub mod records;
pub mod replay;
pub mod repo;
pub mod review;
pub mod scripts;
pub mod ship;
pub mod snapshot;
pub mod spotlight;
pub mod store;
pub mod submodules;
pub mod terminals;
pub mod trust;
pub mod watch;
