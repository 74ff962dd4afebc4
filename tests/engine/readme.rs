//! The README's lazy.nvim spec stays true to the plugin: its `cmd` list is the commands
//! plugin/conductor.lua defines (in that order, so the block can be pasted from this
//! test's failure message), and its `keys` map every `<Plug>` mapping it defines.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// The first string argument of every `call("…"` at the start of a line.
fn definitions(source: &str, call: &str) -> Vec<String> {
    let prefix = format!("{call}(\"");
    source
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// The `cmd = { … },` lines of the lazy.nvim spec for `names`, wrapped under 100 columns.
fn cmd_block(names: &[String]) -> String {
    let mut lines = vec![String::from("  cmd = {")];
    for name in names {
        let item = format!(" \"{name}\",");
        let last = lines.last_mut().unwrap();
        if last.len() + item.len() > 92 {
            lines.push(format!("         {item}"));
        } else {
            last.push_str(&item);
        }
    }
    let last = lines.last_mut().unwrap();
    last.pop(); // the last comma
    last.push_str(" },");
    lines.join("\n") + "\n"
}

#[test]
fn readme_lazy_spec_lists_every_command() {
    let commands = definitions(&read("plugin/conductor.lua"), "command");
    assert!(commands.len() > 20, "found only {commands:?}");
    let block = cmd_block(&commands);
    let readme = read("README.md");
    assert!(
        readme.contains(&block),
        "README.md's lazy.nvim spec must list the commands of plugin/conductor.lua; paste:\n{block}"
    );
}

#[test]
fn readme_lazy_spec_maps_every_plug_mapping() {
    let plugs = definitions(&read("plugin/conductor.lua"), "plug");
    assert!(plugs.len() > 5, "found only {plugs:?}");
    let readme = read("README.md");
    let spec = readme
        .split("```lua")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("the lazy.nvim spec is README's first Lua block");
    for name in &plugs {
        let rhs = format!("\"<Plug>(conductor-{name})\"");
        assert!(
            spec.contains(&rhs),
            "README.md's lazy.nvim spec has no `keys` entry for {rhs}"
        );
    }
    for used in spec.split("<Plug>(conductor-").skip(1) {
        let name = used.split(')').next().unwrap();
        assert!(
            plugs.iter().any(|p| p == name),
            "README maps <Plug>(conductor-{name}), which plugin/conductor.lua does not define"
        );
    }
}
