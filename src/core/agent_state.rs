//! What an agent is doing, read from the screen it shows (a `vt100` screen model fed
//! with its output), not from the bytes alone.
//!
//! Signals, strongest first: `OSC 7501;state=…` (codex emits it), the window title
//! (OSC 0/2; claude and gemini change it), what the screen shows ("esc to interrupt",
//! a question, a menu waiting for a choice), then activity: the screen changed (⇒
//! working), and stayed the same for a while (⇒ idle). Once a stronger signal has
//! spoken, weaker ones no longer decide working/idle; "needs input" always counts,
//! since that is what the user most needs to know.
//!
//! Output that only redraws what was there is not work: a program repaints its whole
//! screen after a resize or when its window is shown again (opencode does), so output
//! in a short while after either (see `expect_redraw`) and output that leaves the
//! screen as it was are not taken as activity.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long after a resize or a reopen the program's output is taken as a redraw.
const REDRAW_GRACE: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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

/// A menu row with its selection marker: `> 1. Sign in` (codex), `● 1. Trust folder`
/// (gemini), `❯ 2. Yes` — a program waiting for the user to pick, whatever its words.
fn is_menu_row(row: &str) -> bool {
    let row = row.trim_start_matches(|c: char| c.is_whitespace() || "│┃║|".contains(c));
    let Some(rest) = row.strip_prefix(['>', '❯', '●', '›', '▶', '→']) else {
        return false;
    };
    let rest = rest.trim_start();
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && rest[digits..].starts_with(". ")
}

/// Collects what the program says about itself while the screen model parses.
struct Signals {
    patterns: Patterns,
    found: Vec<(Source, AgentState)>,
}

impl Signals {
    fn title(&mut self, title: &str) {
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
}

fn joined(params: &[&[u8]]) -> String {
    params
        .iter()
        .map(|p| String::from_utf8_lossy(p))
        .collect::<Vec<_>>()
        .join(";")
}

impl vt100::Callbacks for Signals {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title(&String::from_utf8_lossy(title));
    }

    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        match params {
            [b"7501", rest @ ..] => {
                let value = joined(rest);
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
            // A title with a `;` in it arrives here in pieces.
            [b"0" | b"2", title @ ..] => self.title(&joined(title)),
            _ => {}
        }
    }
}

/// Feeds on output bytes; `feed` returns the new state when it changed.
pub struct Detector {
    parser: vt100::Parser<Signals>,
    state: AgentState,
    strongest: Source,
    /// The screen's rows after the last output.
    rows: Vec<String>,
    /// The screen's rows when the output last went quiet.
    settled: Vec<String>,
    /// Output until then redraws the screen (after a resize or a reopen).
    redraw_until: Option<Instant>,
}

fn size(n: u16, min: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n.max(min)).unwrap_or(std::num::NonZeroU16::MIN)
}

impl Detector {
    pub fn new(patterns: Patterns) -> Detector {
        Detector::with_size(patterns, 24, 80)
    }

    pub fn with_size(patterns: Patterns, rows: u16, cols: u16) -> Detector {
        let signals = Signals {
            patterns,
            found: Vec::new(),
        };
        Detector {
            parser: vt100::Parser::new_with_callbacks(size(rows, 2), size(cols, 10), 0, signals),
            state: AgentState::Starting,
            strongest: Source::Activity,
            rows: Vec::new(),
            settled: Vec::new(),
            redraw_until: None,
        }
    }

    pub fn state(&self) -> AgentState {
        self.state
    }

    /// The program turned bracketed paste on (mode 2004) and has not turned it off.
    pub fn bracketed_paste(&self) -> bool {
        self.parser.screen().bracketed_paste()
    }

    /// The program hides the cursor (as TUIs do while they draw).
    pub fn cursor_hidden(&self) -> bool {
        self.parser.screen().hide_cursor()
    }

    /// The screen's text, one line per row (a wrapped row is not joined to the next).
    pub fn screen_text(&self) -> String {
        self.parser
            .screen()
            .rows(0, u16::MAX)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The terminal changed size: the program will redraw.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.set_size(size(rows, 2), size(cols, 10));
        self.rows = self.parser.screen().rows(0, u16::MAX).collect();
        self.expect_redraw();
    }

    /// The program is about to repaint what it shows (its window was shown again).
    pub fn expect_redraw(&mut self) {
        self.redraw_until = Some(Instant::now() + REDRAW_GRACE);
    }

    /// Every state the chunk went through, in order (a chunk can hold both the
    /// "working" and the "idle" signal of a short task).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<AgentState> {
        self.parser.process(bytes);
        let mut changes = Vec::new();
        let found = std::mem::take(&mut self.parser.callbacks_mut().found);
        for (source, state) in found {
            let before = self.state;
            self.apply(source, state);
            if self.state != before {
                changes.push(self.state);
            }
        }
        let rows: Vec<String> = self.parser.screen().rows(0, u16::MAX).collect();
        // What this output changed on the screen, to read patterns in.
        let changed: Vec<&str> = rows
            .iter()
            .enumerate()
            .filter(|(i, r)| self.rows.get(*i) != Some(*r))
            .map(|(_, r)| r.as_str())
            .collect();
        let before = self.state;
        let patterns = &self.parser.callbacks().patterns;
        let text = changed.join("\n").to_lowercase();
        let has = |list: &[String]| {
            list.iter()
                .any(|p| !p.is_empty() && text.contains(&p.to_lowercase()))
        };
        let asks = has(&patterns.waiting) || changed.iter().any(|r| is_menu_row(r));
        let works = has(&patterns.working);
        let redraw = self.redraw_until.is_some_and(|t| Instant::now() < t);
        let drew = !changed.iter().all(|r| r.trim().is_empty()) && !redraw && rows != self.settled;
        // A menu still on screen keeps waiting, whatever else is drawn around it (a
        // clock, a cursor, a footer): only an answer, which takes it away, ends it.
        let still_asking = self.state == AgentState::Waiting && self.asking(&rows);
        if asks {
            self.state = AgentState::Waiting;
        } else if works {
            self.apply(Source::Screen, AgentState::Working);
        } else if drew && !still_asking {
            self.apply(Source::Activity, AgentState::Working);
        }
        self.rows = rows;
        if self.state != before {
            changes.push(self.state);
        }
        changes
    }

    /// Called when the output has been quiet for the agent's idle delay.
    pub fn quiet(&mut self) -> Option<AgentState> {
        self.settled = self.rows.clone();
        self.redraw_until = None;
        // A question answered with nothing drawn since: waiting no more.
        if self.strongest <= Source::Screen
            && self.state == AgentState::Waiting
            && !self.asking(&self.rows)
        {
            self.state = AgentState::Idle;
            return Some(self.state);
        }
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

    /// The screen shows a question or a menu waiting for a choice.
    fn asking(&self, rows: &[String]) -> bool {
        let waiting = &self.parser.callbacks().patterns.waiting;
        rows.iter().any(|r| {
            is_menu_row(r) || {
                let row = r.to_lowercase();
                waiting
                    .iter()
                    .any(|p| !p.is_empty() && row.contains(&p.to_lowercase()))
            }
        })
    }

    fn apply(&mut self, source: Source, state: AgentState) {
        if source >= self.strongest {
            self.strongest = source;
            self.state = state;
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

    #[test]
    fn a_redraw_after_a_resize_is_not_work() {
        let mut d = Detector::with_size(Patterns::default(), 10, 40);
        let screen = b"\x1b[?1049h\x1b[H\x1b[2Jopencode\r\n> ask anything";
        assert_eq!(d.feed(screen), [AgentState::Working]);
        assert_eq!(d.quiet(), Some(AgentState::Idle));
        // The same screen drawn again (a reopen): nothing changed, nothing to report.
        assert!(d.feed(screen).is_empty());
        // After a resize the program repaints at the new size: still not work.
        d.resize(12, 50);
        assert!(d
            .feed(b"\x1b[H\x1b[2Jopencode   \r\n> ask anything  ")
            .is_empty());
        assert_eq!(d.state(), AgentState::Idle);
        // New text once the screen settled is work.
        assert_eq!(d.quiet(), None);
        assert_eq!(d.feed(b"\r\nthinking"), [AgentState::Working]);
    }

    #[test]
    fn menus_waiting_for_a_choice_are_waiting() {
        // codex's sign-in menu, drawn with cursor moves and no question mark.
        let mut d = Detector::with_size(Patterns::default(), 10, 60);
        let menu = b"\x1b[2;3HChoose how you want to use Codex.\x1b[4;1H> 1. Sign in with ChatGPT\x1b[5;3H2. Sign in with Device Code";
        assert_eq!(d.feed(menu), [AgentState::Waiting]);
        assert_eq!(d.quiet(), None, "still waiting once quiet");
        // gemini's trust question in a box.
        let mut d = Detector::with_size(Patterns::default(), 10, 60);
        assert_eq!(
            d.feed(
                "│ Do you trust the files in this folder?\r\n│ ● 1. Trust folder (proj)".as_bytes()
            ),
            [AgentState::Waiting]
        );
        // A prompt with typed text is not a menu.
        let mut d = Detector::with_size(Patterns::default(), 10, 60);
        assert_eq!(d.feed(b"> fix 1. the bug"), [AgentState::Working]);
    }

    #[test]
    fn a_menu_keeps_waiting_while_other_things_are_drawn() {
        let mut d = Detector::with_size(Patterns::default(), 10, 60);
        assert_eq!(
            d.feed(b"Sign in\r\n> 1. Yes\r\n  2. No"),
            [AgentState::Waiting]
        );
        // A clock ticking in a corner while the menu waits.
        assert!(d.feed(b"\x1b[10;50H12:00:01").is_empty());
        assert_eq!(d.quiet(), None);
        // Answered: the menu goes away; the next quiet moment is idle.
        assert_eq!(d.feed(b"\x1b[H\x1b[2Jsigned in"), [AgentState::Working]);
        assert_eq!(d.quiet(), Some(AgentState::Idle));
    }

    #[test]
    fn patterns_drawn_in_pieces_are_read_from_the_screen() {
        let mut d = Detector::new(patterns());
        assert_eq!(d.feed(b"Apply patch? (y"), [AgentState::Working]);
        assert_eq!(d.feed(b"/n)"), [AgentState::Waiting]);
    }

    #[test]
    fn bracketed_paste_mode_follows_the_program() {
        let mut d = Detector::new(Patterns::default());
        assert!(!d.bracketed_paste());
        d.feed(b"\x1b[?2004h");
        assert!(d.bracketed_paste());
        d.feed(b"\x1b[?2004l");
        assert!(!d.bracketed_paste());
    }
}
