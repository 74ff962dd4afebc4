//! Named points where a test can freeze the engine, to kill the process right there and
//! check that nothing was lost (`tests/engine/crash.rs`). Off unless the environment
//! names a point: `CONDUCTOR_PAUSE_AT=archive:removed CONDUCTOR_PAUSE_FILE=/tmp/x`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

fn configured() -> &'static Option<(String, PathBuf)> {
    static AT: OnceLock<Option<(String, PathBuf)>> = OnceLock::new();
    AT.get_or_init(|| {
        let step = std::env::var("CONDUCTOR_PAUSE_AT").ok()?;
        let file = std::env::var_os("CONDUCTOR_PAUSE_FILE")?;
        Some((step, PathBuf::from(file)))
    })
}

/// At the configured step: says so in the pause file, then waits to be killed.
pub fn pause_point(step: &str) {
    if let Some((at, file)) = configured() {
        if at == step {
            let _ = std::fs::write(file, step);
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}
