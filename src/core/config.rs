//! Repository configuration, as Conductor reads it. Highest first:
//! `.conductor/settings.local.toml` (the root checkout's, per machine), the repository's
//! `.conductor/settings.toml` as committed on the workspace's base (what the worktree checks
//! out, not whatever the root's working tree holds), the user's `~/.conductor/settings.toml`,
//! legacy `conductor.json` (on the base, and only where the repository has no
//! settings.toml), then the user's Lua `setup()` options. Each key takes the value of the
//! highest layer that sets it.
//!
//! A repository file is trusted or ignored as a whole: the layers of files the user has not
//! trusted (by path inside this repository and exact contents, see `trust.rs`) are left out
//! of the merge, so none of their scripts, variables or prompts take effect.
//! Not here: asking the user (Lua does), recording trust (`trust.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::trust::TrustStatus;

/// Repository config files in priority order, relative to the repository root.
pub const CONFIG_FILES: &[&str] = &[
    ".conductor/settings.local.toml",
    ".conductor/settings.toml",
    "conductor.json",
];

/// One layer of configuration as written in a file or passed from `setup()`.
/// Unknown keys are ignored (Conductor adds keys over time); `ignored_keys` names them.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Layer {
    #[serde(default)]
    pub scripts: Option<ScriptsLayer>,
    /// Legacy `conductor.json` spelling of `scripts.run_mode`.
    #[serde(default, rename = "runScriptMode")]
    pub run_script_mode: Option<String>,
    #[serde(default)]
    pub file_include_globs: Option<Globs>,
    #[serde(default)]
    pub environment_variables: Option<BTreeMap<String, EnvEntry>>,
    /// Commands that check a workspace (`:ConductorCheck`), e.g. `["cargo test"]`.
    #[serde(default)]
    pub checks: Option<Vec<String>>,
    /// Repository action prompts (`[prompts]`), by kind.
    #[serde(default)]
    pub prompts: Option<BTreeMap<String, String>>,
    /// Read so a wrong type is reported, but no effect here (`:help conductor-compat`).
    #[serde(default)]
    pub spotlight_testing: Option<bool>,
    #[serde(default)]
    pub enterprise_data_privacy: Option<bool>,
}

/// `file_include_globs`: a list, or one string of newline-separated globs (Conductor's
/// documented form).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Globs {
    List(Vec<String>),
    Text(String),
}

impl Globs {
    pub fn to_vec(&self) -> Vec<String> {
        let lines: Vec<&str> = match self {
            Globs::List(l) => l.iter().map(String::as_str).collect(),
            Globs::Text(t) => t.lines().collect(),
        };
        lines
            .into_iter()
            .map(str::trim)
            .filter(|g| !g.is_empty() && !g.starts_with('#'))
            .map(str::to_string)
            .collect()
    }
}

/// A value of `[environment_variables]`: a variable, or the `local` / `cloud` sub-table.
/// Numbers and booleans are taken as their text (`PORT = 3000`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EnvEntry {
    Value(Scalar),
    Table(BTreeMap<String, Scalar>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Text(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RunLayer {
    One(String),
    Named(BTreeMap<String, NamedRun>),
}

#[derive(Debug, Clone, Deserialize)]
pub struct NamedRun {
    pub command: String,
    #[serde(default)]
    pub default: bool,
    /// Conductor's button icon: shown by nothing here.
    #[serde(default)]
    pub icon: Option<IgnoredAny>,
    /// Conductor's local/cloud switch: every run here is local.
    #[serde(default)]
    pub available_in: Option<IgnoredAny>,
}

/// Where a value came from: the user's own config (Lua or `~/.conductor`) or a file of
/// the repository.
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

/// Which layer a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// `.conductor/settings.local.toml` in the root checkout.
    Local,
    /// `.conductor/settings.toml` on the base.
    Repo,
    /// `~/.conductor/settings.toml`: the user's own, trusted.
    User,
    /// `conductor.json` on the base.
    Legacy,
}

/// Where the repository's committed files are read from.
#[derive(Debug, Clone)]
pub enum Base {
    /// The commit a workspace checks out (or checked out when it was made).
    Commit(Oid),
    /// The root's working tree: only where there is no commit to read from.
    WorkingTree,
}

/// A config file as read, with what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigFile {
    /// Its place: inside the repository (never the target of a symlink), or the user's file.
    pub path: PathBuf,
    pub kind: FileKind,
    /// Where the text was read from: "working tree", or "main @ 1a2b3c4".
    pub origin: String,
    pub contents: String,
    /// SHA-256 of `contents`, hex (what trust is recorded against).
    pub sha256: String,
    pub trust: TrustStatus,
    /// Whether its values took part (trusted, and not shadowed as legacy).
    pub applied: bool,
    /// Whether it defines anything that runs (scripts, checks).
    pub has_scripts: bool,
    /// Keys read but not honoured, or not known, each with why.
    pub ignored_keys: Vec<String>,
    /// Why it was not read or not applied, when it was not.
    pub note: Option<String>,
    #[serde(skip)]
    pub layer: Layer,
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
    /// `[prompts]` by kind (`code_review`, `fix_errors`, `resolve_conflicts`, …).
    pub prompts: BTreeMap<String, String>,
    /// The repository's default branch (`CONDUCTOR_DEFAULT_BRANCH`).
    pub default_branch: String,
    /// Every file found, in priority order, applied or not.
    pub files: Vec<ConfigFile>,
}

impl RepoConfig {
    /// The first repository file left out as untrusted that defines the script `kind`
    /// (setup, run, archive, checks): what a "not trusted" message names.
    pub fn untrusted_script(&self, kind: &str) -> Option<&ConfigFile> {
        self.files
            .iter()
            .filter(|f| !f.applied && f.note.is_none())
            .find(|f| {
                let s = f.layer.scripts.as_ref();
                match kind {
                    "setup" => s.is_some_and(|s| s.setup.is_some()),
                    "run" => s.is_some_and(|s| s.run.is_some()),
                    "archive" => s.is_some_and(|s| s.archive.is_some()),
                    _ => f.layer.checks.is_some(),
                }
            })
    }
}

/// How a message names a file the user must trust: its path, and where its text came
/// from when that is not the file on disk.
pub fn describe(file: &ConfigFile) -> String {
    if file.origin == "working tree" || file.kind == FileKind::User {
        file.path.display().to_string()
    } else {
        format!("{} (as on {})", file.path.display(), file.origin)
    }
}

/// Reads every config file of the repository at `root` (committed ones from `base`) and
/// the user's `user_settings`, parsed, with their trust still `Unknown`.
pub fn read(root: &Path, base: &Base, user_settings: Option<&Path>) -> Result<Vec<ConfigFile>> {
    let mut files = Vec::new();
    let local = root.join(CONFIG_FILES[0]);
    if let Some(text) = read_disk(&local)? {
        files.push(config_file(
            local,
            FileKind::Local,
            "working tree".into(),
            text,
        )?);
    }
    let committed = |rel: &str| -> Result<Option<(String, String)>> {
        match base {
            Base::WorkingTree => {
                Ok(read_disk(&root.join(rel))?.map(|t| ("working tree".to_string(), t)))
            }
            Base::Commit(oid) => read_committed(root, *oid, rel),
        }
    };
    let repo_file = committed(CONFIG_FILES[1])?;
    let has_repo_settings = repo_file.is_some();
    if let Some((origin, text)) = repo_file {
        files.push(config_file(
            root.join(CONFIG_FILES[1]),
            FileKind::Repo,
            origin,
            text,
        )?);
    }
    if let Some(user) = user_settings {
        // The user's own file may be a symlink (dotfile managers make them).
        match std::fs::read(user) {
            Ok(bytes) => {
                let text = utf8(user, bytes)?;
                files.push(config_file(
                    user.to_path_buf(),
                    FileKind::User,
                    "your settings".into(),
                    text,
                )?);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::new(format!("cannot read {}: {e}", user.display()))),
        }
    }
    if let Some((origin, text)) = committed(CONFIG_FILES[2])? {
        let path = root.join(CONFIG_FILES[2]);
        if has_repo_settings {
            // Not parsed either: an old or unrelated conductor.json must not block anything.
            files.push(ConfigFile {
                sha256: crate::trust::sha256_hex(text.as_bytes()),
                path,
                kind: FileKind::Legacy,
                origin,
                contents: text,
                trust: TrustStatus::Unknown,
                applied: false,
                has_scripts: false,
                ignored_keys: Vec::new(),
                note: Some(
                    "not read: the repository has .conductor/settings.toml, which replaces it"
                        .into(),
                ),
                layer: Layer::default(),
            });
        } else {
            files.push(config_file(path, FileKind::Legacy, origin, text)?);
        }
    }
    Ok(files)
}

fn config_file(
    path: PathBuf,
    kind: FileKind,
    origin: String,
    contents: String,
) -> Result<ConfigFile> {
    let layer = parse(&path, &contents)?;
    let has_scripts = layer
        .scripts
        .as_ref()
        .is_some_and(|s| s.setup.is_some() || s.run.is_some() || s.archive.is_some())
        || layer.checks.as_ref().is_some_and(|c| !c.is_empty());
    Ok(ConfigFile {
        ignored_keys: ignored_keys(&path, &contents),
        sha256: crate::trust::sha256_hex(contents.as_bytes()),
        path,
        kind,
        origin,
        contents,
        trust: TrustStatus::Unknown,
        applied: false,
        has_scripts,
        note: None,
        layer,
    })
}

/// A file of the root checkout; a symlink is read through (trust stays bound to this path,
/// never to the link's target).
fn read_disk(path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => utf8(path, bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(format!("cannot read {}: {e}", path.display()))),
    }
}

/// A file as committed in `oid`. A committed symlink is followed inside the same commit
/// only; one that leaves the repository is not read (its text would not be the
/// repository's).
fn read_committed(root: &Path, oid: Oid, rel: &str) -> Result<Option<(String, String)>> {
    let repo = Repository::open(root)?;
    let commit = repo.find_commit(oid).map_err(|_| {
        Error::new(format!(
            "cannot read {rel} from commit {oid}: it is not in {}; run git fetch",
            root.display()
        ))
    })?;
    let tree = commit.tree()?;
    let mut path = PathBuf::from(rel);
    for _ in 0..4 {
        let Ok(entry) = tree.get_path(&path) else {
            return Ok(None);
        };
        let blob = match entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
            Ok(b) => b,
            Err(_) => return Ok(None),
        };
        if entry.filemode() == 0o120000 {
            let target = String::from_utf8_lossy(blob.content()).into_owned();
            match inside(&path, &target) {
                Some(next) => {
                    path = next;
                    continue;
                }
                None => {
                    return Err(Error::new(format!(
                        "{}/{rel} is a symlink to {target}, outside the repository: make it a regular file",
                        root.display()
                    )))
                }
            }
        }
        let branch = commit_label(&repo, oid);
        let text = utf8(&root.join(rel), blob.content().to_vec())?;
        return Ok(Some((branch, text)));
    }
    Ok(None)
}

/// The in-repository path a relative symlink at `link` points to, if it stays inside.
fn inside(link: &Path, target: &str) -> Option<PathBuf> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<String> = link
        .parent()
        .map(|p| p.iter().map(|c| c.to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other.to_string()),
        }
    }
    Some(parts.iter().collect())
}

fn commit_label(repo: &Repository, oid: Oid) -> String {
    let short = &oid.to_string()[..7];
    // Name the commit by the default branch when it is its tip; any other branch at that
    // commit may be a workspace's own, which would only confuse.
    let default = crate::repo::default_branch(repo);
    let tip = repo
        .find_branch(&default, git2::BranchType::Local)
        .ok()
        .and_then(|b| b.get().target());
    if tip == Some(oid) {
        format!("{default} @ {short}")
    } else {
        format!("commit {short}")
    }
}

/// Merges the trusted files (their `trust` already looked up) over `defaults`.
pub fn merge_files(
    mut files: Vec<ConfigFile>,
    defaults: &Layer,
    default_branch: String,
) -> Result<RepoConfig> {
    let mut layers = Vec::new();
    for f in files.iter_mut() {
        f.applied =
            f.note.is_none() && (f.kind == FileKind::User || f.trust == TrustStatus::Trusted);
        if f.applied {
            let source = if f.kind == FileKind::User {
                Source::User
            } else {
                Source::File(f.path.clone())
            };
            layers.push((source, f.layer.clone()));
        }
    }
    layers.push((Source::User, defaults.clone()));
    let mut config = merge(&layers)?;
    config.files = files;
    config.default_branch = default_branch;
    Ok(config)
}

/// Keys of a file that have no effect here, each with the reason: Conductor's keys that
/// conductor.nvim knowingly ignores, and keys it does not know. For `:checkhealth`.
fn ignored_keys(path: &Path, contents: &str) -> Vec<String> {
    let value: Option<serde_json::Value> = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(contents).ok()
    } else {
        toml::from_str::<toml::Value>(contents)
            .ok()
            .and_then(|v| serde_json::to_value(v).ok())
    };
    let Some(serde_json::Value::Object(top)) = value else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, v) in &top {
        match key.as_str() {
            // spotlight_testing turns Conductor's spotlight on for a repository; here
            // :ConductorSpotlight is there in every repository.
            "$schema" | "scripts" | "runScriptMode" | "file_include_globs" | "checks"
            | "spotlight_testing" => {}
            "environment_variables" => {
                if v.get("cloud").is_some_and(|c| c.is_object()) {
                    out.push("environment_variables.cloud: cloud values never apply to a local workspace".into());
                }
            }
            "prompts" => {
                for k in v.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !PROMPTS_USED.contains(&k.as_str()) {
                        out.push(format!(
                            "prompts.{k}: conductor.nvim sends no prompt of this kind"
                        ));
                    }
                }
            }
            "enterprise_data_privacy" => out.push(
                "enterprise_data_privacy: no effect; agents run with your own CLIs' settings"
                    .into(),
            ),
            other => out.push(format!("{other}: unknown key")),
        }
    }
    if let Some(scripts) = top.get("scripts").and_then(|s| s.as_object()) {
        for (key, v) in scripts {
            match key.as_str() {
                "setup" | "archive" | "run_mode" => {}
                "run" => {
                    for (id, r) in v.as_object().into_iter().flatten() {
                        for field in r.as_object().into_iter().flat_map(|o| o.keys()) {
                            match field.as_str() {
                                "command" | "default" => {}
                                "icon" | "available_in" => out.push(format!(
                                    "scripts.run.{id}.{field}: no effect; runs are local and have no button"
                                )),
                                other => out.push(format!("scripts.run.{id}.{other}: unknown key")),
                            }
                        }
                    }
                }
                other => out.push(format!("scripts.{other}: unknown key")),
            }
        }
    }
    out
}

/// The `[prompts]` kinds conductor.nvim sends: with review comments, when asking an agent
/// to fix failed checks, and when asking it to rebase after a merge conflict.
pub const PROMPTS_USED: &[&str] = &["code_review", "fix_errors", "resolve_conflicts"];

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
        .find_map(|(_, l)| l.file_include_globs.as_ref().map(Globs::to_vec));
    // Variables and prompts merge key by key, higher layers winning; within a layer a
    // `local` value wins over the shared one, and `cloud` values never apply.
    for (_, l) in layers.iter().rev() {
        let Some(env) = &l.environment_variables else {
            continue;
        };
        for (k, v) in env {
            if let EnvEntry::Value(v) = v {
                out.environment_variables.insert(k.clone(), v.text());
            }
        }
        if let Some(EnvEntry::Table(local)) = env.get("local") {
            for (k, v) in local {
                out.environment_variables.insert(k.clone(), v.text());
            }
        }
    }
    for (_, l) in layers.iter().rev() {
        if let Some(prompts) = &l.prompts {
            out.prompts
                .extend(prompts.iter().map(|(k, v)| (k.clone(), v.clone())));
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

    /// Every file of the working tree, each taken as trusted.
    pub(crate) fn load(root: &Path, user: &Layer) -> Result<RepoConfig> {
        load_with(root, None, user)
    }

    fn load_with(root: &Path, user_file: Option<&Path>, user: &Layer) -> Result<RepoConfig> {
        let mut files = read(root, &Base::WorkingTree, user_file)?;
        for f in &mut files {
            f.trust = TrustStatus::Trusted;
        }
        merge_files(files, user, "main".into())
    }

    #[test]
    fn precedence_local_over_repo_over_user_file_over_setup() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".conductor/settings.toml", "[scripts]\nsetup = \"toml-setup\"\n\n[environment_variables]\nA = \"toml\"\nB = \"toml\"\n");
        write(
            root,
            ".conductor/settings.local.toml",
            "[environment_variables]\nA = \"local\"\n",
        );
        let home = tempfile::tempdir().unwrap();
        let user_file = home.path().join("settings.toml");
        std::fs::write(
            &user_file,
            "[scripts]\narchive = \"home-archive\"\n[environment_variables]\nB = \"home\"\nD = \"home\"\n",
        )
        .unwrap();
        let user: Layer = serde_json::from_value(serde_json::json!({
            "scripts": {"setup": "user-setup", "archive": "user-archive"},
            "environment_variables": {"B": "user", "C": "user", "D": "user"},
            "file_include_globs": [".env*", "config/*.local"]
        }))
        .unwrap();
        let c = load_with(root, Some(&user_file), &user).unwrap();
        assert_eq!(c.setup.as_ref().unwrap().command, "toml-setup");
        assert_eq!(
            c.setup.as_ref().unwrap().source,
            Source::File(root.join(".conductor/settings.toml"))
        );
        assert_eq!(c.archive.as_ref().unwrap().command, "home-archive");
        assert_eq!(c.archive.as_ref().unwrap().source, Source::User);
        assert_eq!(c.environment_variables["A"], "local");
        assert_eq!(c.environment_variables["B"], "toml");
        assert_eq!(c.environment_variables["C"], "user");
        assert_eq!(c.environment_variables["D"], "home");
        assert_eq!(c.file_include_globs.as_deref().unwrap().len(), 2);
        let kinds: Vec<FileKind> = c.files.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FileKind::Local, FileKind::Repo, FileKind::User]);
    }

    #[test]
    fn conductor_json_only_where_no_settings_toml() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "conductor.json",
            r#"{"scripts":{"setup":"json-setup","run":"json-run"},"runScriptMode":"nonconcurrent"}"#,
        );
        let c = load(root, &Layer::default()).unwrap();
        assert_eq!(c.setup.as_ref().unwrap().command, "json-setup");
        assert_eq!(c.run_mode, RunMode::Nonconcurrent);
        write(
            root,
            ".conductor/settings.toml",
            "[scripts]\narchive = \"a\"\n",
        );
        let c = load(root, &Layer::default()).unwrap();
        assert!(c.setup.is_none() && c.run.is_empty(), "{c:?}");
        assert_eq!(c.run_mode, RunMode::Concurrent);
        let json = c.files.iter().find(|f| f.kind == FileKind::Legacy).unwrap();
        assert!(!json.applied);
        assert!(json.note.as_deref().unwrap().contains("settings.toml"));
        // Shadowed, it is not even parsed: an unrelated conductor.json blocks nothing.
        write(root, "conductor.json", r#"{"scripts": ["not", "ours"]"#);
        assert!(load(root, &Layer::default()).is_ok());
    }

    #[test]
    fn untrusted_files_take_no_part_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            ".conductor/settings.toml",
            "[environment_variables]\nPATH = \"/evil\"\nBASH_ENV = \"/evil/env\"\n[prompts]\ncode_review = \"x\"\n",
        );
        let files = read(root, &Base::WorkingTree, None).unwrap();
        let user: Layer =
            serde_json::from_value(serde_json::json!({"environment_variables": {"MINE": "1"}}))
                .unwrap();
        let c = merge_files(files, &user, "main".into()).unwrap();
        assert_eq!(c.environment_variables.keys().collect::<Vec<_>>(), ["MINE"]);
        assert!(c.prompts.is_empty());
        assert!(!c.files[0].applied);
    }

    #[test]
    fn named_runs_have_one_default() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".conductor/settings.toml",
            "[scripts.run.web]\ncommand = \"npm run dev\"\nicon = \"globe\"\navailable_in = [\"local\"]\n[scripts.run.api]\ncommand = \"cargo run\"\ndefault = true\n");
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
    fn symlinks_inside_a_commit_resolve_only_inside_the_repository() {
        assert_eq!(
            inside(Path::new(".conductor/settings.toml"), "../conf/s.toml"),
            Some(PathBuf::from("conf/s.toml"))
        );
        assert_eq!(
            inside(Path::new("conductor.json"), "../other/conductor.json"),
            None
        );
        assert_eq!(
            inside(Path::new("conductor.json"), "/etc/conductor.json"),
            None
        );
    }
}
