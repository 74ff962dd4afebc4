//! Port blocks: each workspace gets ten consecutive ports (`CONDUCTOR_PORT`..`+9`).
//! Allocation runs inside the store's lock, so blocks are unique across every workspace of
//! every repository and every Neovim instance; each port must also be free on 127.0.0.1
//! at that moment, so a dev server already running elsewhere is not handed out.

use std::net::{Ipv4Addr, TcpListener};

use crate::error::{Error, Result};
use crate::store::State;

pub const BLOCK: u16 = 10;

/// The first port of a free block within `first..=last`.
pub fn allocate(state: &State, first: u16, last: u16) -> Result<u16> {
    let taken: Vec<u16> = state.workspaces.iter().filter_map(|w| w.port).collect();
    let mut start = first;
    while let Some(end) = start.checked_add(BLOCK - 1).filter(|end| *end <= last) {
        let overlaps = taken
            .iter()
            .any(|&p| p <= end && start <= p.saturating_add(BLOCK - 1));
        if !overlaps && (start..=end).all(is_free) {
            return Ok(start);
        }
        match end.checked_add(1) {
            Some(next) => start = next,
            None => break,
        }
    }
    Err(Error::new(format!(
        "no free block of {BLOCK} ports between {first} and {last}: archive a workspace or widen the `ports` option"
    )))
}

/// Whether nothing listens on `port` on the loopback address. Only 127.0.0.1 is probed.
pub fn is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_busy_ports_and_reports_exhaustion() {
        // Hold one port of the first block: the allocator must move on to the next block.
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let busy = held.local_addr().unwrap().port();
        let first = busy - busy % 10;
        if first.checked_add(29).is_none() {
            return;
        }
        let got = allocate(&State::default(), first, first + 29).unwrap();
        assert!(got > busy, "{got} should skip the block holding {busy}");
        let e = allocate(&State::default(), first, first + 5).unwrap_err();
        assert!(e.to_string().contains("no free block"), "{e}");
    }
}
