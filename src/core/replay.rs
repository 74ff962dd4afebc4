//! An agent's screen as the engine keeps it, and the bytes that paint it again in a new
//! terminal: a Neovim that attaches to a running agent sees its scrollback, then its
//! screen as it is now (colours, cursor, modes, the alternate screen), then the live
//! output, with nothing missed or doubled in between (the caller holds the screen while
//! it subscribes).
//!
//! Not here: which clients see which agent (src/engine/hub.rs).

use std::collections::VecDeque;
use std::num::NonZeroU16;

/// Lines of scrollback kept per agent.
pub const SCROLLBACK: usize = 10_000;

/// Lines of scrollback a Neovim that attaches gets unless it asks for more: Neovim's
/// terminal takes in about 10 MB/s, so 10,000 lines (1 MB) would hold each screen back
/// ~100 ms; 1,000 lines show it in about 10 (BENCHMARKS.md, "Engine process").
pub const REPLAY_LINES: usize = 1_000;

/// The rows that scrolled off the top, each kept as its text with colour codes (a few
/// dozen bytes), not as a row of cells (32 bytes a column): 10,000 lines of an 80-column
/// agent take about 1 MB, not 25 MB.
struct Scrolled {
    lines: VecDeque<String>,
    capacity: usize,
}

impl vt100::Callbacks for Scrolled {
    fn on_scroll(&mut self, row: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        // A full-screen program's alternate screen keeps no history, as in a terminal.
        if alternate_screen || self.capacity == 0 {
            return;
        }
        let mut line = String::new();
        let mut state = vt100::capture::BasicFormattedCaptureState::new();
        let _ = row.write_formatted_basic(&mut line, &mut state);
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }
}

/// A terminal emulator fed with everything an agent printed.
pub struct Screen {
    parser: vt100::Parser<Scrolled>,
}

fn nonzero(n: u16, min: u16) -> NonZeroU16 {
    NonZeroU16::new(n.max(min)).unwrap_or(NonZeroU16::MIN)
}

impl Screen {
    pub fn new(rows: u16, cols: u16, scrollback: usize) -> Screen {
        let scrolled = Scrolled {
            lines: VecDeque::new(),
            capacity: scrollback,
        };
        Screen {
            // No scrollback in the emulator itself: rows leave it through `on_scroll`.
            parser: vt100::Parser::new_with_callbacks(
                nonzero(rows, 2),
                nonzero(cols, 10),
                0,
                scrolled,
            ),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.set_size(nonzero(rows, 2), nonzero(cols, 10));
    }

    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (rows.get(), cols.get())
    }

    /// The visible text, one line per row.
    pub fn text(&self) -> String {
        self.parser
            .screen()
            .rows(0, u16::MAX)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Lines of scrollback kept, and their bytes.
    pub fn scrollback(&self) -> (usize, usize) {
        let lines = &self.parser.callbacks().lines;
        (lines.len(), lines.iter().map(String::len).sum())
    }

    /// Bytes that, written to a fresh terminal of this size, show the last `max_lines`
    /// of the scrollback (a wrapped line comes back as rows) and the same screen.
    pub fn replay(&mut self, max_lines: usize) -> Vec<u8> {
        let rows = self.size().0 as usize;
        let kept = &self.parser.callbacks().lines;
        let lines = kept.range(kept.len().saturating_sub(max_lines)..);
        let total = lines.len();
        let mut out =
            String::with_capacity(lines.clone().map(|l| l.len() + 8).sum::<usize>() + 4096);
        out.push_str("\x1b[m\x1b[H\x1b[2J");
        for line in lines {
            out.push_str(line);
            out.push_str("\x1b[m\r\n");
        }
        // The last rows printed are still on the screen: scroll them off into the
        // terminal's scrollback, so that the screen below starts blank.
        let up = total.min(rows.saturating_sub(1));
        if up > 0 {
            out.push_str(&format!("\x1b[{rows};1H"));
            out.push_str(&"\n".repeat(up));
        }
        let screen = self.parser.screen();
        if screen.alternate_screen() {
            out.push_str("\x1b[?1049h");
        }
        out.push_str(&screen.state_formatted());
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(original: &mut Screen, scrollback: usize) -> vt100::Parser {
        let (rows, cols) = original.size();
        let mut copy = vt100::Parser::new(nonzero(rows, 2), nonzero(cols, 10), scrollback);
        copy.process(&original.replay(usize::MAX));
        copy
    }

    fn scrollback_rows(p: &mut vt100::Parser) -> Vec<String> {
        let screen = p.screen_mut();
        screen.set_scrollback(usize::MAX);
        let total = screen.scrollback();
        let rows = screen.size().0.get() as usize;
        let mut lines = Vec::new();
        let mut offset = total;
        while offset > 0 {
            screen.set_scrollback(offset);
            let take = offset.min(rows);
            lines.extend(screen.rows(0, u16::MAX).take(take));
            offset -= take;
        }
        screen.set_scrollback(0);
        lines
    }

    #[test]
    fn screen_and_scrollback_come_back_with_colours_and_cursor() {
        let mut s = Screen::new(5, 20, 100);
        for i in 0..12 {
            s.feed(format!("\x1b[3{}mline {i}\x1b[m\r\n", i % 8).as_bytes());
        }
        s.feed(b"\x1b[1;31mred\x1b[m> ");
        let mut copy = replayed(&mut s, 100);
        assert_eq!(copy.screen().contents(), s.parser.screen().contents());
        assert_eq!(
            copy.screen().cursor_position(),
            s.parser.screen().cursor_position()
        );
        let cell = copy.screen().cell(4, 0).unwrap();
        assert!(cell.bold());
        assert_eq!(cell.fgcolor(), vt100::Color::Idx(1));
        let want: Vec<String> = (0..8).map(|i| format!("line {i}")).collect();
        assert_eq!(s.scrollback().0, 8);
        assert_eq!(scrollback_rows(&mut copy), want);
        let line3 = {
            let screen = copy.screen_mut();
            screen.set_scrollback(8);
            let c = screen.cell(3, 0).unwrap().fgcolor();
            screen.set_scrollback(0);
            c
        };
        assert_eq!(line3, vt100::Color::Idx(3));
    }

    #[test]
    fn scrollback_is_bounded_and_compact() {
        let mut s = Screen::new(5, 80, 100);
        for i in 0..1000 {
            s.feed(format!("\x1b[32mline {i}\x1b[m\r\n").as_bytes());
        }
        let (lines, bytes) = s.scrollback();
        assert_eq!(lines, 100);
        assert!(bytes < 100 * 40, "{bytes} bytes for 100 short lines");
        let mut copy = replayed(&mut s, 1000);
        let rows = scrollback_rows(&mut copy);
        assert_eq!(rows.first().map(String::as_str), Some("line 896"));
        assert_eq!(rows.len(), 100);
        // A replay asked for fewer lines gives the last ones.
        let mut short = vt100::Parser::new(nonzero(5, 2), nonzero(80, 10), 1000);
        short.process(&s.replay(10));
        let rows = scrollback_rows(&mut short);
        assert_eq!(rows.len(), 10);
        assert_eq!(rows.first().map(String::as_str), Some("line 986"));
    }

    #[test]
    fn short_output_has_no_scrollback_and_the_alternate_screen_is_kept() {
        let mut s = Screen::new(6, 30, 100);
        s.feed(b"one\r\ntwo\r\n");
        let mut copy = replayed(&mut s, 100);
        assert_eq!(scrollback_rows(&mut copy), Vec::<String>::new());
        assert_eq!(copy.screen().contents(), "one\ntwo");
        s.feed(b"\x1b[?1049h\x1b[H\x1b[2Jfull screen app\x1b[?25l");
        let copy = replayed(&mut s, 100);
        assert!(copy.screen().alternate_screen());
        assert!(copy.screen().hide_cursor());
        assert_eq!(copy.screen().contents(), "full screen app");
    }
}
