//! Which repository config files the user trusts. A decision is bound to the file's place
//! inside its repository (never to where a symlink points) and to its exact contents, so
//! trusting one file trusts nothing else: not another repository's file that links to it,
//! not the same file once it changed. Content that is the same in every new worktree (the
//! file as committed on the base) is asked about once.
//!
//! Decisions live in the shared state file. Neovim's own `:trust` database is honoured
//! too, for a regular file whose text on disk is the text in question (then its entry,
//! keyed by the real path, speaks of exactly this file and content).
//! Not here: asking (Lua), deciding what a trusted file changes (`config.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TrustStatus {
    /// Never decided for this file.
    #[default]
    Unknown,
    Trusted,
    Denied,
    /// Decided for other contents of this file, not these.
    Changed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
}

/// Decisions by file path, then by SHA-256 of the contents.
pub type Decisions = BTreeMap<PathBuf, BTreeMap<String, Decision>>;

/// How many contents of one file are remembered (old bases, old versions).
const KEEP_PER_FILE: usize = 32;

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The trust of `path` with contents hashing to `sha256`.
pub fn status(
    decisions: &Decisions,
    nvim_db: Option<&Path>,
    path: &Path,
    sha256: &str,
) -> TrustStatus {
    if let Some(known) = decisions.get(path) {
        match known.get(sha256) {
            Some(Decision::Allow) => return TrustStatus::Trusted,
            Some(Decision::Deny) => return TrustStatus::Denied,
            None => {}
        }
    }
    let from_nvim = nvim_db.and_then(|db| nvim_status(db, path, sha256));
    match (from_nvim, decisions.contains_key(path)) {
        (Some(s), _) => s,
        (None, true) => TrustStatus::Changed,
        (None, false) => TrustStatus::Unknown,
    }
}

/// What Neovim's `:trust` database says of this file, when it can speak of it: the path
/// is a regular file (not a symlink) whose contents on disk are the ones in question.
fn nvim_status(db: &Path, path: &Path, sha256: &str) -> Option<TrustStatus> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    let real = path.canonicalize().ok()?;
    let on_disk = std::fs::read(path).ok()?;
    if sha256_hex(&on_disk) != sha256 {
        return None;
    }
    let text = std::fs::read_to_string(db).ok()?;
    // Later lines win, as in Neovim's reader.
    let entry = text
        .lines()
        .rev()
        .filter_map(|l| l.split_once(' '))
        .find(|(_, file)| Path::new(file) == real)
        .map(|(hash, _)| hash.to_string())?;
    Some(if entry == "!" {
        TrustStatus::Denied
    } else if entry == sha256 {
        TrustStatus::Trusted
    } else {
        TrustStatus::Changed
    })
}

/// Records the user's decision about `path` with these contents.
pub fn record(store: &Store, path: &Path, sha256: &str, decision: Decision) -> Result<()> {
    store.update(|state| {
        let known = state.trust.entry(path.to_path_buf()).or_default();
        known.insert(sha256.to_string(), decision);
        // Forget others, never the decision just made.
        while known.len() > KEEP_PER_FILE {
            match known.keys().find(|k| k.as_str() != sha256).cloned() {
                Some(k) => known.remove(&k),
                None => break,
            };
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_per_path_and_contents() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = Path::new("/r/a/conductor.json");
        let b = Path::new("/r/b/conductor.json");
        let h = sha256_hex(b"{}");
        record(&store, a, &h, Decision::Allow).unwrap();
        let d = store.read().unwrap().trust;
        assert_eq!(status(&d, None, a, &h), TrustStatus::Trusted);
        assert_eq!(status(&d, None, b, &h), TrustStatus::Unknown);
        assert_eq!(status(&d, None, a, &sha256_hex(b"x")), TrustStatus::Changed);
        record(&store, a, &h, Decision::Deny).unwrap();
        let d = store.read().unwrap().trust;
        assert_eq!(status(&d, None, a, &h), TrustStatus::Denied);
    }

    #[test]
    fn the_decision_just_made_is_never_the_one_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = Path::new("/r/a/conductor.json");
        for i in 0..KEEP_PER_FILE + 5 {
            let h = sha256_hex(format!("v{i}").as_bytes());
            record(&store, a, &h, Decision::Allow).unwrap();
            let d = store.read().unwrap().trust;
            assert_eq!(status(&d, None, a, &h), TrustStatus::Trusted, "version {i}");
            assert!(d[a].len() <= KEEP_PER_FILE);
        }
    }

    #[test]
    fn nvim_trust_speaks_only_of_regular_files_with_that_text() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let real = root.join("a.json");
        std::fs::write(&real, "{}").unwrap();
        let link = root.join("b.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let h = sha256_hex(b"{}");
        let db = root.join("trust");
        std::fs::write(&db, format!("{h} {}\n", real.display())).unwrap();
        let none = Decisions::new();
        assert_eq!(status(&none, Some(&db), &real, &h), TrustStatus::Trusted);
        // The link reads the same text, but the trusted file is another one.
        assert_eq!(status(&none, Some(&db), &link, &h), TrustStatus::Unknown);
        // Other contents than the file's on disk (say, the base's): not this entry's.
        let other = sha256_hex(b"{\"x\":1}");
        assert_eq!(
            status(&none, Some(&db), &real, &other),
            TrustStatus::Unknown
        );
        std::fs::write(&db, format!("! {}\n", real.display())).unwrap();
        assert_eq!(status(&none, Some(&db), &real, &h), TrustStatus::Denied);
    }
}
