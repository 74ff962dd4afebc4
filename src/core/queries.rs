//! Colour queries a program sends its terminal (OSC 10/11: "what are your foreground and
//! background colours?"), answered through the PTY as Neovim's `:terminal` answers them.
//!
//! An agent's terminal buffer is made with `nvim_open_term`, and Neovim's default
//! `TermRequest` handler answers these queries with `nvim_chan_send` on the buffer's
//! channel — which, for such a terminal, writes the answer onto the screen instead of
//! sending it to the program. So the engine takes the queries out of the stream before
//! it reaches Neovim and answers them itself, with the colours `:terminal` reports:
//! white on black when 'background' is dark, black on white when it is light (Neovim
//! 0.11's `runtime/lua/vim/_defaults.lua`). Other queries (device attributes, cursor
//! position, modes, kitty keyboard) pass through: Neovim's terminal answers them itself,
//! and those answers come back through `on_input` like keys.

/// An OSC longer than this is not a colour query: it passes through at once instead of
/// being held back while it is incomplete.
const MAX_QUERY: usize = 32;

#[derive(Debug, Default)]
pub struct ColorQueries {
    /// The start of an escape sequence cut off by the end of a read (at most
    /// `MAX_QUERY` bytes), kept for the next one.
    carry: Vec<u8>,
}

/// What to do with the queries: answer with `background` light or dark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    Dark,
    Light,
}

impl Background {
    pub fn parse(s: Option<&str>) -> Background {
        if s == Some("light") {
            Background::Light
        } else {
            Background::Dark
        }
    }
}

impl ColorQueries {
    /// Splits `bytes` into what goes on to the terminal and the answers to send back to
    /// the program. A possibly unfinished query at the end is held for the next call.
    pub fn filter(&mut self, bytes: &[u8], background: Background) -> (Vec<u8>, Vec<u8>) {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let mut out = Vec::with_capacity(data.len());
        let mut answers = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let Some(esc) = data[i..].iter().position(|&b| b == 0x1b).map(|p| p + i) else {
                out.extend_from_slice(&data[i..]);
                break;
            };
            out.extend_from_slice(&data[i..esc]);
            if esc + 1 == data.len() {
                self.carry = data[esc..].to_vec();
                break;
            }
            if data[esc + 1] != b']' {
                out.push(0x1b);
                i = esc + 1;
                continue;
            }
            // An OSC: find its end (BEL or ESC \) within the length a query can have.
            let body_start = esc + 2;
            let limit = data.len().min(body_start + MAX_QUERY);
            let end = (body_start..limit).find_map(|k| match data[k] {
                0x07 => Some((k, k + 1)),
                0x1b if k + 1 < data.len() && data[k + 1] == b'\\' => Some((k, k + 2)),
                _ => None,
            });
            match end {
                Some((body_end, next)) => {
                    match answer(&data[body_start..body_end], background) {
                        Some(reply) => answers.extend_from_slice(&reply),
                        None => out.extend_from_slice(&data[esc..next]),
                    }
                    i = next;
                }
                None if data.len() - esc < MAX_QUERY + 4 => {
                    self.carry = data[esc..].to_vec();
                    break;
                }
                None => {
                    // Too long to be a query: let it through and go on after its start.
                    out.extend_from_slice(&data[esc..body_start]);
                    i = body_start;
                }
            }
        }
        (out, answers)
    }

    /// What is held back at the end of the output (sent on as it is).
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.carry)
    }
}

/// The answer `:terminal` gives to OSC `body`, when it is a query it answers.
fn answer(body: &[u8], background: Background) -> Option<Vec<u8>> {
    let code = match body {
        b"10;?" => 10,
        b"11;?" => 11,
        _ => return None,
    };
    let dark = background == Background::Dark;
    let white = (code == 10) == dark;
    let c = if white { "ffff" } else { "0000" };
    Some(format!("\x1b]{code};rgb:{c}/{c}/{c}\x07").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_queries_are_answered_and_taken_out() {
        let mut q = ColorQueries::default();
        let (out, ans) = q.filter(b"a\x1b]11;?\x07b\x1b]10;?\x1b\\c", Background::Dark);
        assert_eq!(out, b"abc");
        assert_eq!(
            ans,
            b"\x1b]11;rgb:0000/0000/0000\x07\x1b]10;rgb:ffff/ffff/ffff\x07"
        );
        let (_, ans) = q.filter(b"\x1b]11;?\x07", Background::Light);
        assert_eq!(ans, b"\x1b]11;rgb:ffff/ffff/ffff\x07");
    }

    #[test]
    fn a_query_split_across_reads_is_found() {
        let mut q = ColorQueries::default();
        let (out, ans) = q.filter(b"x\x1b]1", Background::Dark);
        assert_eq!((out.as_slice(), ans.as_slice()), (&b"x"[..], &b""[..]));
        let (out, ans) = q.filter(b"1;?\x07y", Background::Dark);
        assert_eq!(out, b"y");
        assert_eq!(ans, b"\x1b]11;rgb:0000/0000/0000\x07");
        let (out, _) = q.filter(b"\x1b", Background::Dark);
        assert!(out.is_empty());
        let (out, _) = q.filter(b"[1mz", Background::Dark);
        assert_eq!(out, b"\x1b[1mz");
    }

    #[test]
    fn other_sequences_pass_unchanged() {
        let mut q = ColorQueries::default();
        let title = b"\x1b]2;a title\x07\x1b]4;1;?\x07\x1b[c\x1b]10;rgb:1/2/3\x07";
        let (out, ans) = q.filter(title, Background::Dark);
        assert_eq!(out, title);
        assert!(ans.is_empty());
        // A long OSC never ended is not held back.
        let long = [b"\x1b]2;".as_slice(), &[b'T'; 100]].concat();
        let (out, _) = q.filter(&long, Background::Dark);
        assert_eq!(out, long);
        assert!(q.finish().is_empty());
    }
}
