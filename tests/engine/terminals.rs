//! Run scripts on real PTYs through the engine: the workspace environment, and
//! `run_mode = "nonconcurrent"` stopping other workspaces' run scripts first.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{write, Fixture};
use conductor_core::core::agent_state::AgentState;
use conductor_core::core::lifecycle::CreateRequest;
use conductor_core::core::pty::{Exit, SessionSink};
use conductor_core::core::terminals::RunStart;

#[derive(Default)]
struct Recorder {
    output: Mutex<Vec<(u64, Vec<u8>)>>,
    exits: Mutex<Vec<(u64, Exit)>>,
}

impl SessionSink for Recorder {
    fn output(&self, session: u64, bytes: Vec<u8>) {
        self.output.lock().unwrap().push((session, bytes));
    }
    fn state(&self, _: u64, _: AgentState) {}
    fn exited(&self, session: u64, exit: Exit) {
        self.exits.lock().unwrap().push((session, exit));
    }
}

impl Recorder {
    fn text(&self, session: u64) -> String {
        let out = self.output.lock().unwrap();
        String::from_utf8_lossy(
            &out.iter()
                .filter(|(s, _)| *s == session)
                .flat_map(|(_, b)| b.clone())
                .collect::<Vec<u8>>(),
        )
        .into_owned()
    }

    fn wait(&self, what: &str, cond: impl Fn(&Recorder) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn nonconcurrent_run_scripts_stop_the_others() {
    let f = Fixture::new();
    write(&f.repo, ".conductor/settings.toml", "[scripts]\nrun = \"echo RUN $CONDUCTOR_WORKSPACE_NAME $CONDUCTOR_PORT; exec sleep 60\"\nrun_mode = \"nonconcurrent\"\n");
    f.commit_all("run script");
    f.trust(".conductor/settings.toml");
    let make = |name: &str| {
        f.engine
            .create(
                CreateRequest {
                    path: f.repo.clone(),
                    name: Some(name.into()),
                    ..Default::default()
                },
                None,
            )
            .unwrap()
    };
    let (a, b) = (make("first"), make("second"));
    let sink = Arc::new(Recorder::default());
    let run = |ws: &str| {
        f.engine
            .run_start(
                RunStart {
                    workspace: ws.into(),
                    rows: 24,
                    cols: 80,
                    ..Default::default()
                },
                sink.clone(),
            )
            .unwrap()
    };
    let first = run("first");
    sink.wait("first run output", |s| {
        s.text(first.session)
            .contains(&format!("RUN first {}", a.port.unwrap()))
    });
    let second = run("second");
    assert_eq!(
        second.stopped,
        [first.session],
        "the first workspace's run script was stopped"
    );
    sink.wait("second run output", |s| {
        s.text(second.session)
            .contains(&format!("RUN second {}", b.port.unwrap()))
    });
    sink.wait("first run's exit", |s| {
        s.exits
            .lock()
            .unwrap()
            .iter()
            .any(|(id, _)| *id == first.session)
    });
    assert!(
        !sink
            .exits
            .lock()
            .unwrap()
            .iter()
            .any(|(id, _)| *id == second.session),
        "the second keeps running"
    );

    // Once the user denies the file: refused with a clear error, nothing started.
    f.decide(".conductor/settings.toml", false);
    let e = f
        .engine
        .run_start(
            RunStart {
                workspace: "first".into(),
                rows: 24,
                cols: 80,
                ..Default::default()
            },
            sink.clone(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("not trusted"), "{e}");
    f.engine
        .sessions
        .stop_many(&[second.session], Duration::from_millis(300));
}

#[test]
fn terminals_need_an_active_workspace() {
    let f = Fixture::new();
    f.engine
        .create(
            CreateRequest {
                path: f.repo.clone(),
                name: Some("sleepy".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    f.engine
        .archive(conductor_core::core::lifecycle::WorkspaceRequest {
            workspace: "sleepy".into(),
            ..Default::default()
        })
        .unwrap();
    let e = f
        .engine
        .run_start(
            RunStart {
                workspace: "sleepy".into(),
                rows: 24,
                cols: 80,
                ..Default::default()
            },
            Arc::new(Recorder::default()),
        )
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "workspace sleepy is archived; :ConductorRestore sleepy brings it back"
    );
}
