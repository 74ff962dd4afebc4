//! Running a workspace's setup and archive scripts: `{shell} -c {script}` in the worktree,
//! with the workspace environment, output (stdout and stderr in order) appended to the
//! workspace log, the last line reported as progress.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Context, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScriptKind {
    Setup,
    Archive,
    Check,
}

impl ScriptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptKind::Setup => "setup",
            ScriptKind::Archive => "archive",
            ScriptKind::Check => "check",
        }
    }
}

pub struct ScriptSpec<'a> {
    pub kind: ScriptKind,
    pub shell: &'a str,
    pub command: &'a str,
    pub cwd: &'a Path,
    pub env: &'a [(String, String)],
    pub log: &'a Path,
    /// How long the script may run before its process group is stopped (None: no limit).
    pub timeout: Option<Duration>,
    /// Between SIGHUP and SIGKILL when it is stopped for running too long.
    pub grace: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finished {
    pub ok: bool,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub elapsed_ms: u64,
    pub log: PathBuf,
    /// Stopped because it ran longer than its timeout.
    pub timed_out: bool,
}

/// How often the last output line is reported while a script runs.
const OUTPUT_EVERY: Duration = Duration::from_millis(100);

/// Runs the script to the end, or until `spec.timeout`, when its process group is stopped
/// (`Finished::timed_out`). `started` receives the process group id (so the caller can
/// stop it); `output` receives the last line, at most every 100 ms.
pub fn run(
    spec: &ScriptSpec,
    started: impl FnOnce(i32),
    mut output: impl FnMut(&str, u64),
) -> Result<Finished> {
    if let Some(dir) = spec.log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.log)
        .with_context(|| format!("cannot open the log {}", spec.log.display()))?;
    writeln!(
        log,
        "==> {} started {}\n==> $ {}",
        spec.kind.as_str(),
        utc_now(),
        spec.command
    )?;
    let (reader, writer) = std::io::pipe()?;
    let start = Instant::now();
    let mut child = Command::new(spec.shell)
        .arg("-c")
        .arg(spec.command)
        .current_dir(spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0)
        .spawn()
        .with_context(|| {
            format!(
                "cannot start the {} script with {}",
                spec.kind.as_str(),
                spec.shell
            )
        })?;
    let pgid = child.id() as i32;
    started(pgid);

    // Lines are read on their own thread, so that a script that never ends (or a daemon it
    // left holding the pipe) cannot keep this one from enforcing the timeout.
    let (lines, received) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).split(b'\n') {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = spec.timeout.map(|t| start + t);
    let mut timed_out = false;
    let mut exited_at: Option<Instant> = None;
    let mut last_report = Instant::now() - OUTPUT_EVERY;
    let mut pending: Option<String> = None;
    let mut eof = false;
    loop {
        let next = if eof {
            // The script closed its output but may still run: only its end or the
            // timeout matters now.
            std::thread::sleep(Duration::from_millis(10));
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        } else {
            received.recv_timeout(Duration::from_millis(50))
        };
        match next {
            Ok(line) => {
                log.write_all(&line)?;
                log.write_all(b"\n")?;
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                if text.is_empty() {
                } else if last_report.elapsed() >= OUTPUT_EVERY {
                    output(&text, start.elapsed().as_millis() as u64);
                    last_report = Instant::now();
                    pending = None;
                } else {
                    pending = Some(text);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => eof = true,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if !timed_out && deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            writeln!(
                log,
                "==> {} ran longer than {:?}: stopping its process group",
                spec.kind.as_str(),
                spec.timeout.unwrap_or_default()
            )?;
            crate::process::stop_group(pgid, spec.grace);
        }
        // The script has ended but something it started still holds the output pipe:
        // keep what arrives for a moment, then stop waiting for it.
        if exited_at.is_none() && child.try_wait()?.is_some() {
            exited_at = Some(Instant::now());
        }
        if exited_at.is_some_and(|t| eof || t.elapsed() > Duration::from_millis(500)) {
            break;
        }
    }
    if let Some(text) = pending {
        output(&text, start.elapsed().as_millis() as u64);
    }
    let status = child.wait()?;
    let elapsed = start.elapsed();
    let finished = Finished {
        ok: status.success() && !timed_out,
        code: status.code(),
        signal: status.signal(),
        elapsed_ms: elapsed.as_millis() as u64,
        log: spec.log.to_path_buf(),
        timed_out,
    };
    let how = match (finished.code, finished.signal) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "unknown".into(),
    };
    writeln!(
        log,
        "==> {} finished: {how} after {:.1}s\n",
        spec.kind.as_str(),
        elapsed.as_secs_f64()
    )?;
    Ok(finished)
}

/// Current time as `YYYY-MM-DD HH:MM:SS UTC`, for log headers.
pub fn utc_now() -> String {
    let secs = now_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
