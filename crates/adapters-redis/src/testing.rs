//! For tests of this crate and of the server: where the test Redis is. In CI a missing
//! Redis fails the test rather than letting its Redis half pass unrun.

/// The variable `cargo xtask test` sets to the private Redis it started.
pub const REDIS_URL_VAR: &str = "EMS_TEST_REDIS_URL";

/// The test Redis URL, or `None` (with a visible line) when it is unset outside CI.
///
/// # Panics
/// When it is unset and `CI` is set: a CI run must exercise every Redis test.
pub fn redis_url() -> Option<String> {
    decide(
        std::env::var(REDIS_URL_VAR).ok(),
        std::env::var_os("CI").is_some(),
    )
}

fn decide(url: Option<String>, in_ci: bool) -> Option<String> {
    match url {
        Some(url) => Some(url),
        None if in_ci => panic!(
            "{REDIS_URL_VAR} is unset in CI: the Redis tests must run (cargo xtask test starts \
             a private Redis when redis-server is installed)"
        ),
        None => {
            eprintln!("{REDIS_URL_VAR} unset: the Redis part of this test is skipped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_url_is_used_in_ci_and_out() {
        let url = Some("redis://127.0.0.1:1".to_owned());
        assert_eq!(decide(url.clone(), true), url);
        assert_eq!(decide(url.clone(), false), url);
    }

    #[test]
    fn a_missing_url_skips_locally() {
        assert_eq!(decide(None, false), None);
    }

    #[test]
    #[should_panic(expected = "is unset in CI")]
    fn a_missing_url_fails_in_ci() {
        decide(None, true);
    }
}
