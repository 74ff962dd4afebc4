//! Workspace names: validation of names the user types, slugs from task text, city names
//! when there is neither, and `-v2`, `-v3` suffixes when a name is taken.

use crate::error::{Error, Result};

pub const MAX_NAME_LEN: usize = 64;
const SLUG_WORDS: usize = 5;
const SLUG_LEN: usize = 40;

/// A name becomes a directory and part of a branch name, so it must be one safe path
/// component and one valid ref component on every platform.
pub fn validate(name: &str) -> Result<()> {
    let shown: String = name.chars().take(40).collect();
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name.chars().count() > MAX_NAME_LEN {
        Some("it is longer than 64 characters")
    } else if name.contains("..") {
        Some("it contains '..'")
    } else if name.starts_with('.') || name.starts_with('-') {
        Some("it starts with '.' or '-'")
    } else if name.ends_with('.') || name.ends_with(".lock") {
        Some("it ends with '.' or '.lock'")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some("only letters, digits, '-', '_' and '.' are allowed")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(Error::new(format!(
            "invalid workspace name {shown:?}: {why}; pick another with --name=NAME"
        ))),
    }
}

/// A short name from the task text: the first few words, lower case, joined by '-'.
/// Returns None when the text has no usable characters (e.g. only punctuation or non-ASCII).
pub fn slug(task: &str) -> Option<String> {
    let words: Vec<String> = task
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(SLUG_WORDS)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let mut out = String::new();
    for w in words {
        if out.len() + w.len() + 1 > SLUG_LEN && !out.is_empty() {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&w);
    }
    out.truncate(SLUG_LEN);
    let out = out.trim_matches('-').to_string();
    (!out.is_empty()).then_some(out)
}

const CITIES: &[&str] = &[
    "accra",
    "adelaide",
    "algiers",
    "amman",
    "amsterdam",
    "ankara",
    "athens",
    "auckland",
    "baku",
    "bangkok",
    "barcelona",
    "beirut",
    "belgrade",
    "bergen",
    "berlin",
    "bern",
    "bogota",
    "bordeaux",
    "boston",
    "brisbane",
    "bristol",
    "brno",
    "brussels",
    "bucharest",
    "budapest",
    "cairo",
    "calgary",
    "canberra",
    "caracas",
    "chennai",
    "chicago",
    "cologne",
    "cordoba",
    "dakar",
    "dallas",
    "delhi",
    "denver",
    "dublin",
    "durban",
    "edinburgh",
    "florence",
    "geneva",
    "genoa",
    "ghent",
    "glasgow",
    "hanoi",
    "havana",
    "helsinki",
    "houston",
    "istanbul",
    "jakarta",
    "kampala",
    "kigali",
    "kyoto",
    "lagos",
    "lima",
    "lisbon",
    "ljubljana",
    "london",
    "lyon",
    "madrid",
    "malmo",
    "manila",
    "marseille",
    "melbourne",
    "milan",
    "montreal",
    "mumbai",
    "munich",
    "nairobi",
    "nantes",
    "naples",
    "nice",
    "osaka",
    "oslo",
    "ottawa",
    "oxford",
    "palermo",
    "paris",
    "perth",
    "porto",
    "prague",
    "quito",
    "riga",
    "rome",
    "santiago",
    "seoul",
    "seville",
    "sofia",
    "stockholm",
    "sydney",
    "taipei",
    "tallinn",
    "tokyo",
    "toronto",
    "turin",
    "valencia",
    "vienna",
    "vilnius",
    "warsaw",
    "zagreb",
    "zurich",
];

/// A city name picked by `seed` (any number that differs between calls).
pub fn city(seed: u64) -> &'static str {
    CITIES[(seed % CITIES.len() as u64) as usize]
}

/// The first of `base`, `base-v2`, `base-v3`, ... for which `taken` is false.
pub fn first_free(base: &str, mut taken: impl FnMut(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-v{n}"))
        .find(|candidate| !taken(candidate))
        .expect("an unbounded range always has a free name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_takes_first_words() {
        assert_eq!(
            slug("Fix the flaky login test").as_deref(),
            Some("fix-the-flaky-login-test")
        );
        assert_eq!(
            slug("  add: OAuth2 (github) support!!  ").as_deref(),
            Some("add-oauth2-github-support")
        );
        assert_eq!(
            slug("$(touch /tmp/pwned); rm -rf /").as_deref(),
            Some("touch-tmp-pwned-rm-rf")
        );
        assert_eq!(slug("修复登录"), None);
        assert_eq!(slug("!!!"), None);
        let long = slug(&"abcdefghij ".repeat(10)).unwrap();
        assert!(long.len() <= SLUG_LEN, "{long}");
        assert!(validate(&long).is_ok());
    }

    #[test]
    fn validation_rejects_unsafe_names() {
        for bad in [
            "",
            "a/b",
            "..",
            "a..b",
            ".hidden",
            "-x",
            "x.",
            "x.lock",
            "has space",
            "naïve",
            "tab\there",
            &"x".repeat(65),
        ] {
            let err = validate(bad).unwrap_err();
            assert!(
                err.message().contains("invalid workspace name"),
                "{bad}: {err}"
            );
        }
        for good in ["fix-login", "v1.2", "a_b", &"x".repeat(64)] {
            assert!(validate(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn taken_names_get_version_suffix() {
        let taken = ["x", "x-v2"];
        assert_eq!(first_free("x", |n| taken.contains(&n)), "x-v3");
        assert_eq!(first_free("y", |n| taken.contains(&n)), "y");
    }

    #[test]
    fn cities_are_valid_names() {
        for c in CITIES {
            validate(c).unwrap();
        }
    }
}
