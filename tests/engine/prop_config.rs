//! Fuzzing the config readers (`config::read` and `merge_files`) with proptest: arbitrary bytes and strings,
//! documents of the right shape with values of the wrong type for every key, deep nesting,
//! huge strings and invalid UTF-8, in each of the three files. Whatever the input, loading
//! never panics, and either succeeds or fails with one line that starts with
//! "malformed config <file>:<line>:<col>:" (or "invalid run mode ... <file>").

use conductor_core::core::config::{self, Layer, CONFIG_FILES};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Every file of the working tree read and merged as if trusted (trust has no say in
/// whether a file parses).
fn load(
    root: &std::path::Path,
    user: &Layer,
) -> conductor_core::core::error::Result<config::RepoConfig> {
    let mut files = config::read(root, &config::Base::WorkingTree, None)?;
    for f in &mut files {
        f.trust = conductor_core::core::trust::TrustStatus::Trusted;
    }
    config::merge_files(files, user, "main".into())
}

const LOCAL: usize = 0;
const TOML: usize = 1;
const JSON: usize = 2;

/// Loads a repository holding `files` (index into CONFIG_FILES, contents) and checks the
/// properties; the error message when there is one.
fn check(files: &[(usize, Vec<u8>)]) -> Result<Option<String>, TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (which, bytes) in files {
        let p = root.join(CONFIG_FILES[*which]);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let loaded = std::panic::catch_unwind(|| load(root, &Layer::default()));
    let Ok(loaded) = loaded else {
        return Err(TestCaseError::fail("loading the config panicked"));
    };
    let Err(e) = loaded else { return Ok(None) };
    let msg = e.to_string();
    prop_assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "not one line: {msg:?}"
    );
    let named: Vec<String> = files
        .iter()
        .map(|(w, _)| root.join(CONFIG_FILES[*w]).display().to_string())
        .collect();
    let longest = named.iter().map(|f| f.chars().count()).max().unwrap_or(0);
    prop_assert!(
        msg.chars().count() <= longest + 400,
        "a {}-character message: {}…",
        msg.len(),
        msg.chars().take(300).collect::<String>()
    );
    if let Some(rest) = msg.strip_prefix("malformed config ") {
        let file = named.iter().find(|f| rest.starts_with(f.as_str()));
        let Some(file) = file else {
            return Err(TestCaseError::fail(format!("names no file: {msg:?}")));
        };
        prop_assert!(
            has_position(&rest[file.len()..]),
            "no :line:col: after the file: {msg:?}"
        );
    } else if msg.starts_with("invalid run mode ") {
        prop_assert!(
            named.iter().any(|f| msg.contains(f.as_str())),
            "names no file: {msg:?}"
        );
    } else {
        return Err(TestCaseError::fail(format!("unexpected error: {msg:?}")));
    }
    Ok(Some(msg))
}

/// Whether `s` starts with ":<line>:<col>: " (both from 1).
fn has_position(s: &str) -> bool {
    let mut parts = s.splitn(3, ':');
    let (Some(""), Some(line), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Some((col, tail)) = rest.split_once(':') else {
        return false;
    };
    let num = |n: &str| n.parse::<usize>().is_ok_and(|n| n >= 1);
    num(line) && num(col) && tail.starts_with(' ')
}

// ---------------------------------------------------------------------------------------
// Strategies.

fn which() -> impl Strategy<Value = usize> {
    0..CONFIG_FILES.len()
}

/// Strings that stress quoting, positions and one-line messages.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        2 => "[a-z \"'\\\\\n\r\t{}\\[\\]=.,#é€😀\u{0}\u{7f}\u{200b}]{0,40}",
        1 => prop::sample::select(vec![
            "concurrent",
            "nonconcurrent",
            "Concurrent",
            "",
            " ",
            "\n",
            "sometimes\nnever",
            "\u{1b}[31mred",
        ])
        .prop_map(str::to_string),
        1 => (any::<char>(), 1000usize..70_000).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
}

const KEYS: &[&str] = &[
    "scripts",
    "setup",
    "run",
    "archive",
    "run_mode",
    "runScriptMode",
    "file_include_globs",
    "environment_variables",
    "checks",
    "command",
    "default",
    "extra",
    "",
    "a.b",
    "é",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => nasty_string().prop_map(|s| s.chars().take(20).collect()),
    ]
}

/// Any JSON value: what each key gets, right type or not.
fn value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        nasty_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A document shaped like a config, each known key with a value of any type.
fn document() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let scripts = (
        prop::option::of(value()),
        prop::option::of(prop_oneof![
            value(),
            prop::collection::btree_map(key(), value(), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]),
        prop::option::of(value()),
        prop::option::of(prop_oneof![value(), nasty_string().prop_map(Value::String)]),
    )
        .prop_map(|(setup, run, archive, run_mode)| {
            let mut m = serde_json::Map::new();
            for (k, v) in [
                ("setup", setup),
                ("run", run),
                ("archive", archive),
                ("run_mode", run_mode),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        });
    (
        prop::option::of(prop_oneof![3 => scripts, 1 => value()]),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::option::of(value()),
        prop::collection::btree_map(key(), value(), 0..3),
    )
        .prop_map(|(scripts, mode, globs, env, checks, extra)| {
            let mut doc = json!({});
            let m = doc.as_object_mut().unwrap();
            for (k, v) in extra {
                m.insert(k, v);
            }
            for (k, v) in [
                ("scripts", scripts),
                ("runScriptMode", mode),
                ("file_include_globs", globs),
                ("environment_variables", env),
                ("checks", checks),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            doc
        })
}

/// The document as the file would hold it: JSON for conductor.json, TOML for the others
/// (JSON text when TOML cannot express it, e.g. null).
fn render(which: usize, doc: &serde_json::Value) -> Vec<u8> {
    if which == JSON {
        return serde_json::to_vec_pretty(doc).unwrap();
    }
    if !toml_writable(doc) {
        return serde_json::to_vec(doc).unwrap();
    }
    let doc = tomlable(doc).unwrap_or_default();
    match toml::to_string(&doc) {
        Ok(t) => t.into_bytes(),
        Err(_) => serde_json::to_vec(&doc).unwrap(),
    }
}

/// The document in what TOML can say: no nulls, integers within i64.
fn tomlable(v: &serde_json::Value) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match v {
        Value::Null => return None,
        Value::Number(n) if n.is_u64() && n.as_i64().is_none() => {
            Value::from(n.as_u64().unwrap() as i64)
        }
        Value::Array(a) => Value::Array(a.iter().filter_map(tomlable).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), tomlable(v)?)))
                .collect(),
        ),
        other => other.clone(),
    })
}

/// Whether toml's writer can take `doc`: toml_write 0.1.2 counts runs of quotes in a
/// `u8` and panics (debug builds) on 256 in a row. Only the test's writer is affected;
/// the engine reads TOML and never writes it.
fn toml_writable(doc: &serde_json::Value) -> bool {
    let ok = |s: &str| {
        let run = |q: char| s.split(|c| c != q).map(str::len).max().unwrap_or(0);
        run('"') < 200 && run('\'') < 200
    };
    match doc {
        serde_json::Value::String(s) => ok(s),
        serde_json::Value::Array(a) => a.iter().all(toml_writable),
        serde_json::Value::Object(m) => m.iter().all(|(k, v)| ok(k) && toml_writable(v)),
        _ => true,
    }
}

/// Deep nesting in each syntax: arrays, inline tables, dotted keys, table headers, objects.
fn deep(which: usize, kind: u8, depth: usize) -> Vec<u8> {
    let s = if which == JSON {
        match kind % 2 {
            0 => format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
            _ => format!("{}1{}", "{\"scripts\":".repeat(depth), "}".repeat(depth)),
        }
    } else {
        match kind % 4 {
            0 => format!("checks = {}{}\n", "[".repeat(depth), "]".repeat(depth)),
            1 => format!(
                "scripts = {}1{}\n",
                "{ a = ".repeat(depth),
                " }".repeat(depth)
            ),
            2 => format!("{} = 1\n", vec!["scripts"; depth].join(".")),
            _ => format!("[{}]\nsetup = 1\n", vec!["scripts"; depth].join(".")),
        }
    };
    s.into_bytes()
}

/// Valid text with bytes that are not UTF-8 somewhere in it.
fn with_invalid_utf8(mut bytes: Vec<u8>, at: prop::sample::Index, bad: Vec<u8>) -> Vec<u8> {
    let i = at.index(bytes.len() + 1);
    bytes.splice(i..i, bad);
    bytes
}

fn invalid_utf8() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![0xff]),
        Just(vec![0xc3]),
        Just(vec![0xe2, 0x82]),
        Just(vec![0xed, 0xa0, 0x80]),
        Just(vec![0xf8, 0x88, 0x80, 0x80, 0x80]),
        Just(vec![0x80]),
    ]
}

fn cases(default: u32) -> u32 {
    std::env::var("PROP_CONFIG_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(cases(256)))]

    #[test]
    fn arbitrary_bytes_never_panic(
        files in prop::collection::vec((which(), prop::collection::vec(any::<u8>(), 0..400)), 1..4),
    ) {
        check(&files)?;
    }

    #[test]
    fn arbitrary_text_never_panics(
        files in prop::collection::vec((which(), nasty_string()), 1..4),
    ) {
        let files: Vec<_> = files.into_iter().map(|(w, s)| (w, s.into_bytes())).collect();
        check(&files)?;
    }

    #[test]
    fn wrongly_typed_documents_fail_cleanly(
        docs in prop::collection::vec((which(), document()), 1..4),
    ) {
        let files: Vec<_> = docs.iter().map(|(w, d)| (*w, render(*w, d))).collect();
        check(&files)?;
    }

    #[test]
    fn invalid_utf8_is_malformed_config_with_position(
        (w, doc) in (which(), document()),
        at in any::<prop::sample::Index>(),
        bad in invalid_utf8(),
    ) {
        let bytes = with_invalid_utf8(render(w, &doc), at, bad);
        let msg = check(&[(w, bytes)])?;
        let msg = msg.expect("invalid UTF-8 is an error");
        prop_assert!(msg.starts_with("malformed config"), "{}", msg);
    }
}

proptest! {
    #![proptest_config(config(cases(48)))]

    #[test]
    fn deep_nesting_never_overflows(
        w in which(),
        kind in any::<u8>(),
        depth in prop_oneof![1usize..200, 200usize..20_000],
    ) {
        check(&[(w, deep(w, kind, depth))])?;
    }
}

// ---------------------------------------------------------------------------------------
// Fixed cases: every key with each wrong type, in each format.

fn wrong_values() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    vec![
        ("int", json!(42)),
        ("float", json!(1.5)),
        ("bool", json!(true)),
        ("array", json!(["a", 1])),
        ("table", json!({"x": "y"})),
        ("string", json!("text")),
    ]
}

#[test]
fn every_key_with_every_wrong_type_fails_with_a_position() {
    use serde_json::json;
    type Make = fn(serde_json::Value) -> serde_json::Value;
    let keys: Vec<(&str, Make)> = vec![
        ("scripts", |v| json!({ "scripts": v })),
        ("scripts.setup", |v| json!({ "scripts": { "setup": v } })),
        ("scripts.run", |v| json!({ "scripts": { "run": v } })),
        (
            "scripts.run.x",
            |v| json!({ "scripts": { "run": { "x": v } } }),
        ),
        (
            "scripts.run.x.command",
            |v| json!({ "scripts": { "run": { "x": { "command": v } } } }),
        ),
        (
            "scripts.run.x.default",
            |v| json!({ "scripts": { "run": { "x": { "command": "c", "default": v } } } }),
        ),
        (
            "scripts.archive",
            |v| json!({ "scripts": { "archive": v } }),
        ),
        (
            "scripts.run_mode",
            |v| json!({ "scripts": { "run_mode": v } }),
        ),
        ("runScriptMode", |v| json!({ "runScriptMode": v })),
        ("file_include_globs", |v| json!({ "file_include_globs": v })),
        (
            "environment_variables",
            |v| json!({ "environment_variables": v }),
        ),
        (
            "environment_variables.A",
            |v| json!({ "environment_variables": { "A": v } }),
        ),
        ("checks", |v| json!({ "checks": v })),
    ];
    let mut errors = 0;
    for w in [LOCAL, TOML, JSON] {
        for (key, make) in &keys {
            for (ty, v) in wrong_values() {
                let bytes = render(w, &make(v));
                let msg = check(&[(w, bytes)])
                    .unwrap_or_else(|e| panic!("{} {key} = {ty}: {e}", CONFIG_FILES[w]));
                errors += usize::from(msg.is_some());
            }
        }
    }
    // Most combinations are errors (some are right by chance: a string for scripts.setup).
    assert!(errors > 150, "{errors}");
}

/// Megabyte values load; wrong ones give a short error (`check` bounds its length).
#[test]
fn huge_values_load() {
    let big = "x".repeat(8 << 20);
    for w in [LOCAL, TOML, JSON] {
        let doc =
            serde_json::json!({ "scripts": { "setup": big.clone() }, "checks": [big.clone()] });
        assert_eq!(check(&[(w, render(w, &doc))]).unwrap(), None);
        let doc = serde_json::json!({ "scripts": { "setup": 1, "run_mode": big.clone() } });
        check(&[(w, render(w, &doc))]).unwrap().expect("an error");
    }
}

#[test]
fn the_files_themselves_may_be_anything() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A directory where a file is expected.
    std::fs::create_dir_all(root.join(".conductor/settings.toml")).unwrap();
    let e = load(root, &Layer::default());
    assert!(
        e.as_ref().is_err_and(|e| !e.to_string().contains('\n')),
        "{e:?}"
    );
    // An empty TOML file is an empty config.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(".conductor/settings.local.toml");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, b"").unwrap();
    assert!(load(dir.path(), &Layer::default()).is_ok());
}

// ---------------------------------------------------------------------------------------
// Regression tests for what the fuzzing found.

fn load_one(rel: &str, bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    let e = load(dir.path(), &Layer::default()).unwrap_err().to_string();
    e.replace(&dir.path().display().to_string(), "ROOT")
}

/// Not UTF-8 was "cannot read …: stream did not contain valid UTF-8", with no position.
#[test]
fn invalid_utf8_names_file_line_and_column() {
    assert_eq!(
        load_one(
            ".conductor/settings.toml",
            b"[scripts]\nsetup = \"caf\xe9\"\n"
        ),
        "malformed config ROOT/.conductor/settings.toml:2:13: invalid UTF-8 (the file must be \
         UTF-8 text); fix the file and try again"
    );
    assert_eq!(
        load_one("conductor.json", b"\xff"),
        "malformed config ROOT/conductor.json:1:1: invalid UTF-8 (the file must be UTF-8 \
         text); fix the file and try again"
    );
}

/// serde_json reports column 0 for an end of file at the start of a line.
#[test]
fn json_end_of_file_has_column_one() {
    assert_eq!(
        load_one("conductor.json", b"\n"),
        "malformed config ROOT/conductor.json:2:1: EOF while parsing a value; fix the file \
         and try again"
    );
    assert_eq!(
        load_one("conductor.json", b""),
        "malformed config ROOT/conductor.json:1:1: EOF while parsing a value; fix the file \
         and try again"
    );
}

/// Huge wrongly typed values were quoted whole in the error.
#[test]
fn huge_wrong_values_give_short_errors() {
    let big = "x".repeat(1 << 20);
    let e = load_one(
        ".conductor/settings.toml",
        format!("checks = \"{big}\"\n").as_bytes(),
    );
    assert!(e.len() < 400, "{}", e.len());
    assert!(e.contains("expected a sequence"), "{e}");
    let e = load_one(
        "conductor.json",
        format!("{{\"runScriptMode\": \"{big}\"}}").as_bytes(),
    );
    assert!(e.len() < 400, "{}", e.len());
    assert!(e.starts_with("invalid run mode \"xxxxxxxxxx"), "{e}");
}
