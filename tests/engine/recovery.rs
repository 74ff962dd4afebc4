//! After the state file is lost, the doctor rebuilds the records from what git and the
//! disk hold: worktrees under the workspaces root, archived workspaces' branches and their
//! recorded uncommitted work. Real repositories.

use crate::common::{read, Fixture};
use conductor_core::core::doctor::DoctorRequest;
use conductor_core::core::lifecycle::{CreateRequest, WorkspaceRequest};
use conductor_core::core::store::WorkspaceState;

fn req(name: &str) -> WorkspaceRequest {
    WorkspaceRequest {
        workspace: name.into(),
        ..Default::default()
    }
}

#[test]
fn doctor_rebuilds_the_records_after_the_state_file_is_lost() {
    let f = Fixture::new();
    let active = f.create("active");
    std::fs::write(active.path.join("draft.txt"), "in progress\n").unwrap();
    let dirty = f.create("dirty");
    std::fs::write(dirty.path.join("notes.txt"), "uncommitted\n").unwrap();
    f.engine.archive(req("dirty")).unwrap();
    f.create("clean");
    f.engine.archive(req("clean")).unwrap();

    // The state file is lost (or moved away because it was corrupt).
    let state = f.base().join("state/state.json");
    std::fs::remove_file(&state).unwrap();
    assert!(f.engine.list(None, true).unwrap().is_empty());

    let found = f.engine.doctor(&DoctorRequest { repair: false }).unwrap();
    let kinds: Vec<(String, Option<String>)> = found
        .iter()
        .map(|x| (x.kind.as_str().to_string(), x.workspace.clone()))
        .collect();
    assert!(
        kinds.contains(&("orphan-worktree".into(), None)),
        "{found:#?}"
    );
    assert!(
        kinds.contains(&("lost-record".into(), Some("dirty".into()))),
        "{found:#?}"
    );
    assert!(
        kinds.contains(&("lost-record".into(), Some("clean".into()))),
        "{found:#?}"
    );
    assert!(
        !std::fs::exists(&state).unwrap(),
        "nothing written without repair"
    );

    f.engine.doctor(&DoctorRequest { repair: true }).unwrap();
    let list = f.engine.list(None, true).unwrap();
    let state_of = |name: &str| {
        list.iter()
            .find(|w| w.name == name)
            .unwrap_or_else(|| panic!("{name} not rebuilt: {list:#?}"))
            .state
    };
    assert_eq!(state_of("active"), WorkspaceState::Active);
    assert_eq!(state_of("dirty"), WorkspaceState::Archived);
    assert_eq!(state_of("clean"), WorkspaceState::Archived);
    assert_eq!(read(&active.path, "draft.txt"), "in progress\n");

    // The rebuilt records restore, uncommitted work included.
    let back = f.engine.restore(req("dirty"), None).unwrap();
    assert_eq!(back.path, dirty.path);
    assert_eq!(read(&back.path, "notes.txt"), "uncommitted\n");
    f.engine.restore(req("clean"), None).unwrap();
    // And the doctor has nothing more to say about them.
    let again = f.engine.doctor(&DoctorRequest { repair: false }).unwrap();
    assert!(again.is_empty(), "{again:#?}");
}

#[test]
fn repositories_known_only_to_the_state_file_are_remembered_by_the_doctor() {
    let f = Fixture::new();
    f.engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some("older".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    f.engine.archive(req("older")).unwrap();
    // A state file from before repositories.json existed.
    let list = f.base().join("state/repositories.json");
    std::fs::remove_file(&list).unwrap();
    f.engine.doctor(&DoctorRequest { repair: false }).unwrap();
    assert!(read(&f.base(), "state/repositories.json").contains(&*f.repo.to_string_lossy()));
    // So that losing the state file afterwards loses nothing.
    std::fs::remove_file(f.base().join("state/state.json")).unwrap();
    f.engine.doctor(&DoctorRequest { repair: true }).unwrap();
    assert_eq!(
        f.engine.get("older", None).unwrap().state,
        WorkspaceState::Archived
    );
}
