//! What an agent is doing, read from its output stream (no polling of the screen).
//!
//! Signals, strongest first: `OSC 7501;state=…` (codex emits it), the window title
//! (OSC 0/2; claude and gemini change it), screen text patterns ("esc to interrupt"),
//! then plain activity (output ⇒ working, quiet for a while ⇒ idle). Once a stronger
//! signal has spoken, weaker ones no longer decide working/idle; "needs input"
//! patterns always count, since that is what the user most needs to know.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    Starting,
    Working,
    Waiting,
    Idle,
    Exited,
}

/// Per-agent patterns (from the agent's definition in Lua).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Patterns {
    /// Text on screen while the agent works ("esc to interrupt").
    #[serde(deserialize_with = "string_list")]
    pub working: Vec<String>,
    /// Text on screen when the agent asks the user something ("(y/n)").
    #[serde(deserialize_with = "string_list")]
    pub waiting: Vec<String>,
    /// Window-title substrings meaning working / idle.
    #[serde(deserialize_with = "string_list")]
    pub title_working: Vec<String>,
    #[serde(deserialize_with = "string_list")]
    pub title_idle: Vec<String>,
}

/// A list of strings; an empty Lua table (which looks like a map) is an empty list.
fn string_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Seq(Vec<String>),
        Map(std::collections::BTreeMap<String, String>),
    }
    Ok(match List::deserialize(d)? {
        List::Seq(v) => v,
        List::Map(m) => m.into_values().collect(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Activity,
    Screen,
    Title,
    Osc7501,
}

/// Feeds on output bytes; `feed` returns the new state when it changed.
pub struct Detector {
    patterns: Patterns,
    parser: vte::Parser,
    state: AgentState,
    strongest: Source,
    /// Printable text of the current output chunk (patterns are matched per chunk).
    text: String,
    found: Vec<(Source, AgentState)>,
}

impl Detector {
    pub fn new(patterns: Patterns) -> Detector {
        Detector {
            patterns,
            parser: vte::Parser::new(),
            state: AgentState::Starting,
            strongest: Source::Activity,
            text: String::new(),
            found: Vec::new(),
        }
    }

    pub fn state(&self) -> AgentState {
        self.state
    }

    /// Every state the chunk went through, in order (a chunk can hold both the
    /// "working" and the "idle" signal of a short task).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<AgentState> {
        self.text.clear();
        self.found.clear();
        let mut sink = Sink {
            text: &mut self.text,
            found: &mut self.found,
            patterns: &self.patterns,
        };
        self.parser.advance(&mut sink, bytes);
        let mut changes = Vec::new();
        let found = std::mem::take(&mut self.found);
        for (source, state) in found {
            let before = self.state;
            self.apply(source, state);
            if self.state != before {
                changes.push(self.state);
            }
        }
        let before = self.state;
        let text = self.text.to_lowercase();
        let has = |list: &[String]| {
            list.iter()
                .any(|p| !p.is_empty() && text.contains(&p.to_lowercase()))
        };
        if has(&self.patterns.waiting) {
            self.state = AgentState::Waiting;
        } else if has(&self.patterns.working) {
            self.apply(Source::Screen, AgentState::Working);
        } else if !self.text.trim().is_empty() {
            self.apply(Source::Activity, AgentState::Working);
        }
        if self.state != before {
            changes.push(self.state);
        }
        changes
    }

    /// Called when the output has been quiet for the agent's idle delay.
    pub fn quiet(&mut self) -> Option<AgentState> {
        if self.strongest <= Source::Screen && self.state == AgentState::Working {
            self.state = AgentState::Idle;
            return Some(self.state);
        }
        if self.state == AgentState::Starting {
            self.state = AgentState::Idle;
            return Some(self.state);
        }
        None
    }

    fn apply(&mut self, source: Source, state: AgentState) {
        if source >= self.strongest {
            self.strongest = source;
            self.state = state;
        }
    }
}

struct Sink<'a> {
    text: &'a mut String,
    found: &'a mut Vec<(Source, AgentState)>,
    patterns: &'a Patterns,
}

impl vte::Perform for Sink<'_> {
    fn print(&mut self, c: char) {
        if self.text.len() < 64 * 1024 {
            self.text.push(c);
        }
    }

    fn execute(&mut self, byte: u8) {
        if byte == b'\n' {
            self.text.push('\n');
        }
    }

    fn osc_dispatch(&mut self, params: &[&[u8]], _bell_terminated: bool) {
        match params {
            [b"7501", rest @ ..] => {
                let value = rest
                    .iter()
                    .map(|p| String::from_utf8_lossy(p))
                    .collect::<Vec<_>>()
                    .join(";");
                let state = value.strip_prefix("state=").unwrap_or(&value);
                let state = match state
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .unwrap_or("")
                {
                    "working" | "busy" | "running" => Some(AgentState::Working),
                    "idle" | "ready" | "done" => Some(AgentState::Idle),
                    "waiting" | "input" | "approval" => Some(AgentState::Waiting),
                    _ => None,
                };
                if let Some(state) = state {
                    self.found.push((Source::Osc7501, state));
                }
            }
            [b"0" | b"2", title @ ..] => {
                let title = title
                    .iter()
                    .map(|p| String::from_utf8_lossy(p))
                    .collect::<Vec<_>>()
                    .join(";");
                let has = |list: &[String]| {
                    list.iter()
                        .any(|p| !p.is_empty() && title.contains(p.as_str()))
                };
                if has(&self.patterns.title_working) {
                    self.found.push((Source::Title, AgentState::Working));
                } else if has(&self.patterns.title_idle) {
                    self.found.push((Source::Title, AgentState::Idle));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns() -> Patterns {
        Patterns {
            working: vec!["esc to interrupt".into()],
            waiting: vec!["(y/n)".into()],
            title_working: vec!["✶".into()],
            title_idle: vec!["✳".into()],
        }
    }

    #[test]
    fn osc_7501_outranks_screen_and_activity() {
        let mut d = Detector::new(patterns());
        assert_eq!(d.feed(b"banner\r\n"), [AgentState::Working]);
        assert_eq!(d.quiet(), Some(AgentState::Idle));
        assert_eq!(
            d.feed(b"\x1b]7501;state=working\x07"),
            [AgentState::Working]
        );
        assert_eq!(
            d.quiet(),
            None,
            "quiet no longer decides once OSC 7501 spoke"
        );
        assert_eq!(
            d.feed(b"\x1b]7501;state=idle\x1b\\more text"),
            [AgentState::Idle]
        );
        assert_eq!(
            d.feed(b"\x1b]7501;state=working\x07x\x1b]7501;state=idle\x07"),
            [AgentState::Working, AgentState::Idle]
        );
        assert_eq!(d.feed(b"Apply patch? (y/n)"), [AgentState::Waiting]);
    }

    #[test]
    fn titles_and_patterns() {
        let mut d = Detector::new(patterns());
        assert_eq!(
            d.feed("\x1b]0;✶ Claude Code\x07".as_bytes()),
            [AgentState::Working]
        );
        assert!(d.feed(b"thinking... esc to interrupt").is_empty());
        assert_eq!(
            d.feed("\x1b]2;✳ Claude Code\x07".as_bytes()),
            [AgentState::Idle]
        );
        let mut d = Detector::new(patterns());
        assert_eq!(
            d.feed(b"\x1b[1mEsc to interrupt\x1b[0m"),
            [AgentState::Working]
        );
    }
}
