//! Small records kept beside the state file, each in a file of its own so that losing or
//! repairing `state.json` does not lose them (and they never slow its writers down):
//!
//! - `process-groups.json`: every process group a workspace started, with the process
//!   that started it, so a later Neovim (or the doctor) can stop what a killed one left;
//! - `repositories.json`: every repository a workspace was ever made in, so the doctor
//!   can rebuild records from git after the state file is lost.
//!
//! Written like the state file: under an exclusive lock, replaced atomically. A corrupt
//! record file reads as empty (they only ever add knowledge; the state file stays the
//! source of truth).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

pub const PROCESS_GROUPS: &str = "process-groups.json";
pub const REPOSITORIES: &str = "repositories.json";

/// A process group started for a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub pgid: i32,
    /// The process (Neovim) whose engine started it.
    pub owner: u32,
}

/// Process groups by workspace id.
pub type Groups = BTreeMap<String, Vec<Group>>;

pub fn read<T: DeserializeOwned + Default>(dir: &Path, name: &str) -> T {
    std::fs::read(dir.join(name))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Reads, changes and replaces the record file `name` under its lock.
pub fn update<T: DeserializeOwned + Serialize + Default, R>(
    dir: &Path,
    name: &str,
    change: impl FnOnce(&mut T) -> R,
) -> Result<R> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    let lock_path = dir.join(format!("{name}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    let mut value: T = read(dir, name);
    let out = change(&mut value);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write to the state directory {}", dir.display()))?;
    let json = serde_json::to_vec_pretty(&value).map_err(|e| Error::new(e.to_string()))?;
    tmp.write_all(&json)?;
    tmp.persist(dir.join(name))
        .map_err(|e| Error::new(format!("cannot replace {name}: {}", e.error)))?;
    drop(lock);
    Ok(out)
}

/// Adds `root` to the repositories ever seen.
pub fn remember_repository(dir: &Path, root: &Path) -> Result<()> {
    update(dir, REPOSITORIES, |list: &mut Vec<PathBuf>| {
        if !list.iter().any(|r| r == root) {
            list.push(root.to_path_buf());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_corrupt_file_and_keep_each_entry_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(REPOSITORIES), "{oops").unwrap();
        remember_repository(dir.path(), Path::new("/a")).unwrap();
        remember_repository(dir.path(), Path::new("/b")).unwrap();
        remember_repository(dir.path(), Path::new("/a")).unwrap();
        let list: Vec<PathBuf> = read(dir.path(), REPOSITORIES);
        assert_eq!(list, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    }
}
