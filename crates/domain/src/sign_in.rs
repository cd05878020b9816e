//! Whether a password check lets a user in: decided on the user as read under its row
//! lock, after the (slow) hash comparison ran on an earlier copy.
//!
//! Deciding on the locked row is what makes every interleaving equal some serial order: a
//! lockout, block, deletion or password change that committed while the hash was being
//! compared is seen here, and the success or failure is then recorded under the same lock.

use chrono::{DateTime, Utc};

use crate::password::PasswordHash;
use crate::user::User;

/// Why a sign-in (or a password check standing in for one) was refused. Recorded in the
/// audit metadata, never shown to the client: it sees `INVALID_CREDENTIALS` for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such user.
    UnknownUser,
    /// The password did not match.
    BadPassword,
    /// A lockout is in force.
    Locked,
    /// Blocked by an admin.
    Blocked,
    /// Soft-deleted.
    Deleted,
    /// The password matched a hash that was replaced while it was being compared.
    PasswordChanged,
}

impl Refusal {
    /// The audit spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "UNKNOWN_USER",
            Self::BadPassword => "BAD_PASSWORD",
            Self::Locked => "LOCKED",
            Self::Blocked => "BLOCKED",
            Self::Deleted => "DELETED",
            Self::PasswordChanged => "PASSWORD_CHANGED",
        }
    }

    /// Whether it counts as a failed login of the account. Blocked and deleted accounts
    /// cannot sign in anyway: counting would only let a stranger lock an account an admin
    /// is about to restore.
    pub fn counts_as_failure(self) -> bool {
        matches!(
            self,
            Self::BadPassword | Self::Locked | Self::PasswordChanged
        )
    }
}

/// Decides a password check of `user` (the row as locked now) at `now`: `checked` is the
/// hash the candidate was compared with and `matched` the result of that comparison.
pub fn decide(
    user: &User,
    checked: &PasswordHash,
    matched: bool,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if user.is_deleted() {
        Err(Refusal::Deleted)
    } else if !user.is_usable() {
        Err(Refusal::Blocked)
    } else if user.is_locked(now) {
        Err(Refusal::Locked)
    } else if !matched {
        Err(Refusal::BadPassword)
    } else if user.password_hash != *checked {
        Err(Refusal::PasswordChanged)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::{DisplayName, Role, UserId, UserStatus, Username};
    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0)
            .single()
            .unwrap()
    }

    fn ann() -> User {
        User {
            id: UserId(Uuid::from_u128(1)),
            username: Username::parse("ann").unwrap(),
            email: None,
            display_name: DisplayName::parse("Ann").unwrap(),
            password_hash: PasswordHash::new("$argon2id$one"),
            role: Role::User,
            status: UserStatus::Active,
            must_change_password: false,
            created_at: now(),
            updated_at: now(),
            last_login_at: None,
            login_count: 0,
            failed_login_attempts: 0,
            locked_until: None,
            password_changed_at: now(),
            deleted_at: None,
            version: 1,
        }
    }

    fn checked() -> PasswordHash {
        PasswordHash::new("$argon2id$one")
    }

    #[test]
    fn a_match_against_the_current_hash_of_a_usable_account_lets_in() {
        assert_eq!(decide(&ann(), &checked(), true, now()), Ok(()));
    }

    #[test]
    fn other_counters_changing_meanwhile_are_no_reason_to_refuse() {
        let mut user = ann();
        user.failed_login_attempts = 4;
        user.login_count = 9;
        user.version = 17;
        assert_eq!(decide(&user, &checked(), true, now()), Ok(()));
    }

    #[test]
    fn a_lock_seen_under_the_row_lock_refuses_even_the_right_password() {
        let mut user = ann();
        user.locked_until = Some(now() + Duration::minutes(1));
        assert_eq!(decide(&user, &checked(), true, now()), Err(Refusal::Locked));
        user.locked_until = Some(now());
        assert_eq!(decide(&user, &checked(), true, now()), Ok(()));
    }

    #[test]
    fn a_password_replaced_during_the_check_refuses() {
        let mut user = ann();
        user.password_hash = PasswordHash::new("$argon2id$two");
        assert_eq!(
            decide(&user, &checked(), true, now()),
            Err(Refusal::PasswordChanged)
        );
        assert_eq!(
            decide(&user, &checked(), false, now()),
            Err(Refusal::BadPassword)
        );
    }

    #[test]
    fn deleted_comes_before_blocked_before_locked_before_the_password() {
        let mut user = ann();
        user.locked_until = Some(now() + Duration::minutes(1));
        assert_eq!(
            decide(&user, &checked(), false, now()),
            Err(Refusal::Locked)
        );
        user.status = UserStatus::Blocked;
        assert_eq!(
            decide(&user, &checked(), true, now()),
            Err(Refusal::Blocked)
        );
        user.deleted_at = Some(now());
        assert_eq!(
            decide(&user, &checked(), true, now()),
            Err(Refusal::Deleted)
        );
    }

    #[test]
    fn only_password_and_lock_refusals_count_toward_the_lockout() {
        let counted: Vec<_> = [
            Refusal::UnknownUser,
            Refusal::BadPassword,
            Refusal::Locked,
            Refusal::Blocked,
            Refusal::Deleted,
            Refusal::PasswordChanged,
        ]
        .into_iter()
        .filter(|r| r.counts_as_failure())
        .map(Refusal::as_str)
        .collect();
        assert_eq!(counted, ["BAD_PASSWORD", "LOCKED", "PASSWORD_CHANGED"]);
    }
}
