//! End to end: `:Telescope conductor` with a real telescope.nvim (see
//! tests/nvim/cases/telescope.lua). Runs when CONDUCTOR_TELESCOPE and CONDUCTOR_PLENARY
//! name checkouts of telescope.nvim and plenary.nvim at build time; otherwise it is
//! reported as ignored, with the reason (build.rs sets the cfg).

use crate::common::nvim::run_case;
use crate::common::Fixture;

#[test]
#[cfg_attr(
    not(conductor_telescope),
    ignore = "set CONDUCTOR_TELESCOPE and CONDUCTOR_PLENARY to checkouts of telescope.nvim and plenary.nvim"
)]
fn telescope_extension_end_to_end() {
    let (Some(telescope), Some(plenary)) = (
        std::env::var_os("CONDUCTOR_TELESCOPE"),
        std::env::var_os("CONDUCTOR_PLENARY"),
    ) else {
        panic!(
            "set CONDUCTOR_TELESCOPE and CONDUCTOR_PLENARY to checkouts of \
             nvim-telescope/telescope.nvim and nvim-lua/plenary.nvim to run this test"
        );
    };
    let f = Fixture::new();
    let home = f.base().join("home");
    let out = run_case(
        "telescope",
        &home,
        &f.repo,
        &[
            ("CONDUCTOR_TEST_REPO", f.repo.display().to_string()),
            (
                "CONDUCTOR_TELESCOPE",
                telescope.to_string_lossy().into_owned(),
            ),
            ("CONDUCTOR_PLENARY", plenary.to_string_lossy().into_owned()),
        ],
    );
    assert!(out.success, "case failed:\n{}", out.stderr);
}
