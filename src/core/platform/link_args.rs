//! Linker arguments the library needs per target OS. Shared by `build.rs` (which emits
//! them) and the library's unit tests (which check them), so the logic is tested here
//! even though no macOS toolchain exists on the machines that build it.
//!
//! The library takes Lua's C symbols from the Neovim that loads it. On Linux a shared
//! object may leave symbols undefined by default; macOS's linker refuses unless told
//! `-undefined dynamic_lookup` (mlua's and nvim-oxi's own documentation say the same).
//! Emitted with `cargo:rustc-link-arg`, like the `.cargo/config.toml` rustflags those
//! projects document, so every link of the package (the cdylib and the test binaries)
//! gets them, on Intel and Apple silicon alike.

/// The `-C link-arg=…` values for a target whose `CARGO_CFG_TARGET_OS` is `target_os`.
pub fn link_args(target_os: &str) -> &'static [&'static str] {
    match target_os {
        "macos" => &["-undefined", "dynamic_lookup"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::link_args;

    #[test]
    fn macos_links_with_dynamic_lookup() {
        assert_eq!(link_args("macos"), ["-undefined", "dynamic_lookup"]);
    }

    #[test]
    fn linux_needs_no_link_args() {
        assert!(link_args("linux").is_empty());
        assert!(link_args("freebsd").is_empty());
    }
}
