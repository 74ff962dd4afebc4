//! Everything that differs between operating systems, one small module per concern, with
//! the Linux and macOS variants side by side under `cfg(target_os)`:
//!
//! - `procs`: process discovery (list, parent, a process's environment);
//! - `peer`: the user on the other end of a Unix socket;
//! - `groups`: process groups and sessions (POSIX; one variant);
//! - `link_args`: the linker arguments `build.rs` emits per target.
//!
//! File cloning has no code of its own: `std::fs::copy` already clones on APFS
//! (`fclonefileat`) and uses `copy_file_range` on Linux.

pub mod groups;
#[cfg(test)]
mod link_args;
pub mod peer;
pub mod procs;
