//! Repository configuration, compatible with Conductor: `.conductor/settings.local.toml` >
//! `.conductor/settings.toml` > legacy `conductor.json` > the user's Lua `setup()` options.
//! Each key takes the value of the highest source that sets it, and every script remembers
//! which file it came from, because repository scripts only run once the user trusts it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::error::{Error, Result};

/// Config files in priority order, relative to the repository root.
pub const CONFIG_FILES: &[&str] = &[
    ".conductor/settings.local.toml",
    ".conductor/settings.toml",
    "conductor.json",
];

/// One layer of configuration as written in a file or passed from `setup()`.
/// Unknown keys are ignored (Conductor adds keys over time).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct Layer {
    #[serde(default)]
    pub scripts: Option<ScriptsLayer>,
    /// Legacy `conductor.json` spelling of `scripts.run_mode`.
    #[serde(default, rename = "runScriptMode")]
    pub run_script_mode: Option<String>,
    #[serde(default)]
    pub file_include_globs: Option<Vec<String>>,
    #[serde(default)]
    pub environment_variables: Option<BTreeMap<String, String>>,
    /// Commands that check a workspace (`:ConductorCheck`), e.g. `["cargo test"]`.
    #[serde(default)]
    pub checks: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ScriptsLayer {
    #[serde(default)]
    pub setup: Option<String>,
    #[serde(default)]
    pub run: Option<RunLayer>,
    #[serde(default)]
    pub archive: Option<String>,
    #[serde(default)]
    pub run_mode: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RunLayer {
    One(String),
    Named(BTreeMap<String, NamedRun>),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct NamedRun {
    pub command: String,
    #[serde(default)]
    pub default: bool,
}

/// Where a value came from: the user's own Lua config (always trusted) or a repository file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Source {
    User,
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    pub command: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunScript {
    pub id: String,
    pub command: String,
    pub default: bool,
    pub source: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    #[default]
    Concurrent,
    Nonconcurrent,
}

/// A config file found in the repository, with the text it had when read.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub has_scripts: bool,
    #[serde(skip)]
    pub contents: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RepoConfig {
    pub setup: Option<Script>,
    pub run: Vec<RunScript>,
    pub archive: Option<Script>,
    pub run_mode: RunMode,
    pub file_include_globs: Option<Vec<String>>,
    pub environment_variables: BTreeMap<String, String>,
    pub checks: Vec<Script>,
    pub files: Vec<ConfigFile>,
}

/// Contents the user trusted, by absolute file path (from `vim.secure.read`).
pub type Trusted = HashMap<PathBuf, String>;

impl RepoConfig {
    /// Whether a script may run: the user's own scripts always; a repository file's only
    /// when the text we parsed is exactly the text the user trusted.
    pub fn is_trusted(&self, source: &Source, trusted: &Trusted) -> bool {
        match source {
            Source::User => true,
            Source::File(path) => self
                .files
                .iter()
                .find(|f| &f.path == path)
                .is_some_and(|f| trusted.get(path) == Some(&f.contents)),
        }
    }
}

/// Reads the repository's config files and lays them over the user's defaults.
pub fn load(root: &Path, user: &Layer) -> Result<RepoConfig> {
    let mut layers = Vec::new();
    let mut files = Vec::new();
    for rel in CONFIG_FILES {
        let path = root.join(rel);
        let bytes = match std::fs::read(&path) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::new(format!("cannot read {}: {e}", path.display()))),
        };
        let contents = utf8(&path, bytes)?;
        let layer = parse(&path, &contents)?;
        files.push(ConfigFile {
            path: path.clone(),
            has_scripts: layer
                .scripts
                .as_ref()
                .is_some_and(|s| s.setup.is_some() || s.run.is_some() || s.archive.is_some()),
            contents,
        });
        layers.push((Source::File(path), layer));
    }
    layers.push((Source::User, user.clone()));
    let mut config = merge(&layers)?;
    config.files = files;
    Ok(config)
}

/// A config file's text; bytes that are not UTF-8 are a malformed config, with the
/// position of the first bad byte.
fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let text = std::str::from_utf8(&e.as_bytes()[..good]).unwrap_or_default();
        let (line, col) = line_col(text, good);
        malformed(
            path,
            line,
            col,
            "invalid UTF-8 (the file must be UTF-8 text)",
        )
    })
}

fn malformed(path: &Path, line: usize, col: usize, msg: &str) -> Error {
    Error::new(format!(
        "malformed config {}:{line}:{col}: {}; fix the file and try again",
        path.display(),
        one_line(msg)
    ))
}

/// Parses one file, turning the parser's error into "file:line:col: message".
pub fn parse(path: &Path, contents: &str) -> Result<Layer> {
    let is_json = path.extension().is_some_and(|e| e == "json");
    let parsed = if is_json {
        // serde_json says column 0 at the very start of a line (an early end of file).
        serde_json::from_str::<Layer>(contents).map_err(|e| {
            (
                e.line().max(1),
                e.column().max(1),
                strip_position(&e.to_string()),
            )
        })
    } else {
        toml::from_str::<Layer>(contents).map_err(|e| {
            let (line, col) = e
                .span()
                .map(|s| line_col(contents, s.start))
                .unwrap_or((1, 1));
            (line, col, e.message().to_string())
        })
    };
    parsed.map_err(|(line, col, msg)| malformed(path, line, col, &msg))
}

/// Parser messages can span lines and quote whole values; the user gets one short line.
fn one_line(msg: &str) -> String {
    let line = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    abbreviate(&line, 160, 80)
}

/// The first `head` and last `tail` characters of a long text, joined by "…".
fn abbreviate(text: &str, head: usize, tail: usize) -> String {
    let n = text.chars().count();
    if n <= head + tail + 1 {
        return text.to_string();
    }
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Layers are in priority order (highest first): each key takes the first value found.
fn merge(layers: &[(Source, Layer)]) -> Result<RepoConfig> {
    let mut out = RepoConfig::default();
    let script = |pick: fn(&ScriptsLayer) -> Option<&String>| {
        layers.iter().find_map(|(src, l)| {
            l.scripts.as_ref().and_then(pick).map(|c| Script {
                command: c.clone(),
                source: src.clone(),
            })
        })
    };
    out.setup = script(|s| s.setup.as_ref()).filter(|s| !s.command.trim().is_empty());
    out.archive = script(|s| s.archive.as_ref()).filter(|s| !s.command.trim().is_empty());
    if let Some((src, run)) = layers
        .iter()
        .find_map(|(src, l)| l.scripts.as_ref()?.run.as_ref().map(|r| (src, r)))
    {
        out.run = match run {
            RunLayer::One(cmd) => vec![RunScript {
                id: "run".into(),
                command: cmd.clone(),
                default: true,
                source: src.clone(),
            }],
            RunLayer::Named(map) => {
                let mut runs: Vec<RunScript> = map
                    .iter()
                    .map(|(id, r)| RunScript {
                        id: id.clone(),
                        command: r.command.clone(),
                        default: r.default,
                        source: src.clone(),
                    })
                    .collect();
                // Exactly one default: the marked one, else the first by name.
                if !runs.iter().any(|r| r.default) {
                    if let Some(first) = runs.first_mut() {
                        first.default = true;
                    }
                }
                runs
            }
        };
    }
    if let Some((src, mode)) = layers.iter().find_map(|(src, l)| {
        l.scripts
            .as_ref()
            .and_then(|s| s.run_mode.clone())
            .or_else(|| l.run_script_mode.clone())
            .map(|m| (src, m))
    }) {
        out.run_mode = match mode.as_str() {
            "concurrent" => RunMode::Concurrent,
            "nonconcurrent" => RunMode::Nonconcurrent,
            other => {
                let place = match src {
                    Source::User => "setup() option scripts.run_mode".to_string(),
                    Source::File(p) => format!("{} (scripts.run_mode)", p.display()),
                };
                let other: String = abbreviate(other, 40, 0);
                return Err(Error::new(format!(
                    "invalid run mode {other:?} in {place}: use \"concurrent\" or \"nonconcurrent\""
                )));
            }
        };
    }
    if let Some((src, checks)) = layers
        .iter()
        .find_map(|(src, l)| l.checks.as_ref().map(|c| (src, c)))
    {
        out.checks = checks
            .iter()
            .filter(|c| !c.trim().is_empty())
            .map(|c| Script {
                command: c.clone(),
                source: src.clone(),
            })
            .collect();
    }
    out.file_include_globs = layers
        .iter()
        .find_map(|(_, l)| l.file_include_globs.clone());
    // Environment variables merge key by key, higher layers winning.
    for (_, l) in layers.iter().rev() {
        if let Some(env) = &l.environment_variables {
            out.environment_variables
                .extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn precedence_local_over_toml_over_json_over_user() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "conductor.json",
            r#"{"scripts":{"setup":"json-setup","run":"json-run","archive":"json-archive"},"runScriptMode":"nonconcurrent","extra":1}"#,
        );
        write(root, ".conductor/settings.toml", "[scripts]\nsetup = \"toml-setup\"\n\n[environment_variables]\nA = \"toml\"\nB = \"toml\"\n");
        write(
            root,
            ".conductor/settings.local.toml",
            "[environment_variables]\nA = \"local\"\n",
        );
        let user: Layer = serde_json::from_value(serde_json::json!({
            "scripts": {"setup": "user-setup", "archive": "user-archive"},
            "environment_variables": {"B": "user", "C": "user"},
            "file_include_globs": [".env*", "config/*.local"]
        }))
        .unwrap();
        let c = load(root, &user).unwrap();
        assert_eq!(c.setup.as_ref().unwrap().command, "toml-setup");
        assert_eq!(
            c.setup.as_ref().unwrap().source,
            Source::File(root.join(".conductor/settings.toml"))
        );
        assert_eq!(c.archive.as_ref().unwrap().command, "json-archive");
        assert_eq!(c.run[0].command, "json-run");
        assert_eq!(c.run_mode, RunMode::Nonconcurrent);
        assert_eq!(c.environment_variables["A"], "local");
        assert_eq!(c.environment_variables["B"], "toml");
        assert_eq!(c.environment_variables["C"], "user");
        assert_eq!(c.file_include_globs.as_deref().unwrap().len(), 2);
        assert_eq!(c.files.len(), 3);
        assert!(!c.files[0].has_scripts && c.files[1].has_scripts && c.files[2].has_scripts);
    }

    #[test]
    fn named_runs_have_one_default() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".conductor/settings.toml",
            "[scripts.run.web]\ncommand = \"npm run dev\"\n[scripts.run.api]\ncommand = \"cargo run\"\ndefault = true\n");
        let c = load(dir.path(), &Layer::default()).unwrap();
        let defaults: Vec<_> = c
            .run
            .iter()
            .filter(|r| r.default)
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(defaults, ["api"]);
        assert_eq!(c.run.len(), 2);
    }

    #[test]
    fn malformed_files_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            ".conductor/settings.toml",
            "[scripts]\nsetup = \"ok\"\nrun = [1, 2\n",
        );
        let e = load(dir.path(), &Layer::default()).unwrap_err().to_string();
        assert!(
            e.contains("settings.toml:4:1: invalid array, expected `]`"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with("malformed config"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            ".conductor/settings.toml",
            "[scripts]\nsetup = 42\n",
        );
        let e = load(dir.path(), &Layer::default()).unwrap_err().to_string();
        assert!(e.contains("settings.toml:2:9"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "conductor.json",
            "{\n  \"scripts\": {\"setup\": true}\n}",
        );
        let e = load(dir.path(), &Layer::default()).unwrap_err().to_string();
        assert!(e.contains("conductor.json:2:"), "{e}");
        assert!(!e.contains("at line"), "{e}");
    }

    #[test]
    fn bad_run_mode_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "conductor.json",
            r#"{"runScriptMode":"sometimes"}"#,
        );
        let e = load(dir.path(), &Layer::default()).unwrap_err().to_string();
        assert!(
            e.contains("\"sometimes\"") && e.contains("conductor.json"),
            "{e}"
        );
    }

    #[test]
    fn trust_requires_identical_contents() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[scripts]\nsetup = \"make\"\n";
        write(dir.path(), ".conductor/settings.toml", text);
        let c = load(dir.path(), &Layer::default()).unwrap();
        let src = c.setup.as_ref().unwrap().source.clone();
        let path = dir.path().join(".conductor/settings.toml");
        assert!(!c.is_trusted(&src, &Trusted::new()));
        assert!(!c.is_trusted(
            &src,
            &Trusted::from([(path.clone(), "[scripts]\nsetup = \"evil\"\n".into())])
        ));
        assert!(c.is_trusted(&src, &Trusted::from([(path, text.into())])));
        assert!(c.is_trusted(&Source::User, &Trusted::new()));
    }
}
