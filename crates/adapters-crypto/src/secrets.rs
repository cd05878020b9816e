//! OS-backed implementations of the small ports: secrets from the OS CSPRNG, the
//! system clock and UUIDv7 ids.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use domain::ports::{Clock, IdGenerator, SecretGenerator};
use domain::token::RefreshSecret;
use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use uuid::Uuid;

/// Length of a generated temporary password.
pub const TEMPORARY_PASSWORD_LEN: usize = 20;

// Look-alike characters (I, l, O, 0, 1) are left out: people copy these by hand.
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
// None of these may appear in a username, which matters below.
const SYMBOLS: &[u8] = b"!#$%&*+=?@^~";

/// The [`SecretGenerator`] port over the operating system's CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsSecretGenerator;

impl SecretGenerator for OsSecretGenerator {
    /// 32 random bytes (256 bits) as URL-safe base64 without padding (43 characters).
    fn refresh_secret(&self) -> RefreshSecret {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        RefreshSecret::new(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// 20 characters with upper and lower case letters, digits and symbols (about 100
    /// bits). Symbols are spaced so that no three consecutive characters are all
    /// username characters (`[A-Za-z0-9._-]`): the password therefore can never contain
    /// any username (3+ such characters), whoever it is for.
    fn temporary_password(&self) -> String {
        loop {
            let candidate = spaced_password(&mut OsRng);
            let has = |class: &[u8]| candidate.bytes().any(|b| class.contains(&b));
            if has(UPPER) && has(LOWER) && has(DIGITS) && has(SYMBOLS) {
                return candidate;
            }
        }
    }
}

/// Runs of one or two alphanumerics separated by one symbol, up to the length.
fn spaced_password<R: Rng + ?Sized>(rng: &mut R) -> String {
    let mut out = String::with_capacity(TEMPORARY_PASSWORD_LEN);
    while out.len() < TEMPORARY_PASSWORD_LEN {
        let run = rng.gen_range(1..=2);
        for _ in 0..run {
            if out.len() < TEMPORARY_PASSWORD_LEN {
                out.push(pick(rng, ALNUM));
            }
        }
        if out.len() < TEMPORARY_PASSWORD_LEN {
            out.push(pick(rng, SYMBOLS));
        }
    }
    out
}

fn pick<R: Rng + ?Sized>(rng: &mut R, set: &[u8]) -> char {
    // The sets are non-empty constants; the fallback is unreachable.
    char::from(set.choose(rng).copied().unwrap_or(b'x'))
}

/// The [`Clock`] port over the system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The [`IdGenerator`] port: time-ordered UUIDv7s, so ids sort by creation.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Ids;

impl IdGenerator for UuidV7Ids {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::password::NewPassword;
    use domain::user::Username;

    #[test]
    fn refresh_secrets_are_256_bit_url_safe_and_unique() {
        let a = OsSecretGenerator.refresh_secret();
        let b = OsSecretGenerator.refresh_secret();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(a.expose()).unwrap().len(), 32);
        assert!(a
            .expose()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn temporary_passwords_pass_the_policy_for_any_username() {
        let names = ["ann", "abc", "admin", "x-y", "a.b", "zz9", "user_name-1.x"];
        for i in 0..200 {
            let password = OsSecretGenerator.temporary_password();
            assert_eq!(password.chars().count(), TEMPORARY_PASSWORD_LEN);
            let username = Username::parse(names[i % names.len()]).unwrap();
            if let Err(e) = NewPassword::parse(&password, &username, &[]) {
                panic!("generated password refused: {e:?}");
            }
        }
    }

    #[test]
    fn no_three_consecutive_characters_could_belong_to_a_username() {
        let username_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        for _ in 0..200 {
            let chars: Vec<char> = OsSecretGenerator.temporary_password().chars().collect();
            assert!(chars
                .windows(3)
                .all(|w| !w.iter().copied().all(username_char)));
        }
    }

    #[test]
    fn temporary_passwords_mix_every_class() {
        for _ in 0..200 {
            let p = OsSecretGenerator.temporary_password();
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn ids_are_version_7_and_increase() {
        let a = UuidV7Ids.new_id();
        let b = UuidV7Ids.new_id();
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn the_clock_tells_the_current_time() {
        let before = Utc::now();
        let now = SystemClock.now();
        assert!(now >= before && now <= Utc::now());
    }
}
