//! The user entity and the value types of its fields.

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::error::FieldError;
use crate::password::PasswordHash;

/// A user's id (UUIDv7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub Uuid);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A login name: [`Username::MIN_CHARS`]–[`Username::MAX_CHARS`] characters of
/// `[A-Za-z0-9._-]` after Unicode NFKC normalization. Uniqueness is case-insensitive
/// (the store compares lower-cased names).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// The shortest name, in characters.
    pub const MIN_CHARS: usize = 3;
    /// The longest name, in characters.
    pub const MAX_CHARS: usize = 32;

    /// Parses and normalizes a username.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let normalized: String = raw.nfkc().collect();
        let len = normalized.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            return Err(FieldError::new(
                "username",
                format!(
                    "must be {} to {} characters long",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        if !normalized
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(FieldError::new(
                "username",
                "may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Self(normalized))
    }

    /// The name as the user chose it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address: trimmed, at most 254 characters, one `@`, a dotted domain,
/// no whitespace or control characters. Uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses an email address.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        crate::text::no_control("email", raw)?;
        let value = raw.trim();
        let invalid = || FieldError::new("email", "must be a valid email address");
        if value.is_empty() || value.len() > 254 {
            return Err(invalid());
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(invalid());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(invalid());
        }
        Ok(Self(value.to_owned()))
    }

    /// The address as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: [`DisplayName::MIN_CHARS`]–[`DisplayName::MAX_CHARS`] characters after
/// trimming, no control characters anywhere (not even a trailing line break that
/// trimming would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The shortest name, in characters after trimming.
    pub const MIN_CHARS: usize = 1;
    /// The longest name, in characters after trimming.
    pub const MAX_CHARS: usize = 100;

    /// Parses a display name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        // Checked before trimming: a tab or line break at either end is refused too,
        // not silently cut.
        crate::text::no_control("displayName", raw)?;
        let value = raw.trim();
        let len = value.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            return Err(FieldError::new(
                "displayName",
                format!(
                    "must be {} to {} characters long after trimming",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A regular user: their own profile and sessions.
    User,
    /// An administrator: user management and audit.
    Admin,
}

impl Role {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Admin => "ADMIN",
        }
    }

    /// Parses the contract's spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "USER" => Some(Self::User),
            "ADMIN" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Whether an account may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserStatus {
    /// May sign in.
    Active,
    /// Blocked by an administrator: no sign-in, sessions revoked.
    Blocked,
}

impl UserStatus {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Blocked => "BLOCKED",
        }
    }

    /// Parses the contract's spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ACTIVE" => Some(Self::Active),
            "BLOCKED" => Some(Self::Blocked),
            _ => None,
        }
    }
}

/// A user account. `version` grows by one on every change and feeds the `ETag`.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Identity.
    pub id: UserId,
    /// Login name.
    pub username: Username,
    /// Optional contact address.
    pub email: Option<Email>,
    /// Human name.
    pub display_name: DisplayName,
    /// argon2id PHC string; never leaves the core except into storage.
    pub password_hash: PasswordHash,
    /// Current role.
    pub role: Role,
    /// Current status.
    pub status: UserStatus,
    /// Set by an admin password reset; cleared by a password change.
    pub must_change_password: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change time.
    pub updated_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Successful logins so far.
    pub login_count: i64,
    /// Consecutive failed logins since the last success.
    pub failed_login_attempts: i32,
    /// Locked out until then, after too many failed logins.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the password last changed.
    pub password_changed_at: DateTime<Utc>,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

impl User {
    /// Whether the account is soft-deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Whether a lockout is in force at `now`.
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// Whether the account may hold sessions: active and not deleted.
    pub fn is_usable(&self) -> bool {
        self.status == UserStatus::Active && !self.is_deleted()
    }

    /// Whether this account counts toward the "at least one active admin" rule.
    pub fn is_active_admin(&self) -> bool {
        self.role == Role::Admin && self.is_usable()
    }

    /// Marks a change: bumps the version and the update time.
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.version += 1;
        self.updated_at = now;
    }

    /// Replaces the password and marks the change. A password an admin set is a
    /// temporary one: the next sign-in must change it; the owner's own choice clears that.
    pub fn set_password(&mut self, hash: PasswordHash, by: PasswordSetBy, now: DateTime<Utc>) {
        self.password_hash = hash;
        self.password_changed_at = now;
        self.must_change_password = by == PasswordSetBy::Admin;
        self.touch(now);
    }
}

/// The stored password hash of an anonymized account. Not a PHC string, so no password
/// ever verifies against it, and no hasher ever produces one like it: it is also what
/// marks the row as a tombstone ([`User::is_anonymized`]) without a column of its own.
pub const ERASED_PASSWORD_HASH: &str = "!erased";

/// The display name of an anonymized account: neutral, and a valid [`DisplayName`].
pub const ERASED_DISPLAY_NAME: &str = "Deleted user";

/// The login names a tombstone may take: `deleted-` and the id's first 8 hex digits, or
/// (when another tombstone holds that one) its first 24. UUIDv7 ids begin with their
/// creation time, so the ids of users created within about a minute share 8 digits.
pub fn tombstone_usernames(id: UserId) -> [Username; 2] {
    let hex = id.0.simple().to_string();
    [8, 24].map(|n| Username(format!("deleted-{}", &hex[..n])))
}

/// The usernames and emails (lower-cased) that [`crate::ports::UserRepository::taken_names`]
/// found already held.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TakenNames {
    /// Lower-cased usernames some user holds.
    pub usernames: std::collections::HashSet<String>,
    /// Lower-cased emails some user holds.
    pub emails: std::collections::HashSet<String>,
}

/// What [`crate::ports::Transaction::erase_personal_data`] removed, for the audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErasedData {
    /// Sessions whose IP address and user agent were cleared.
    pub sessions: u64,
    /// Refresh tokens deleted.
    pub refresh_tokens: u64,
    /// Audit entries whose personal fields were erased.
    pub audit_entries: u64,
}

impl User {
    /// Whether the account was anonymized (it is then a tombstone for good).
    pub fn is_anonymized(&self) -> bool {
        self.password_hash.as_str() == ERASED_PASSWORD_HASH
    }

    /// Whether the password is older than `max_age` at `now` (never, without a maximum):
    /// the sign-in then succeeds with the password-change gate set.
    pub fn password_expired(&self, max_age: Option<chrono::Duration>, now: DateTime<Utc>) -> bool {
        max_age.is_some_and(|age| self.password_changed_at < now - age)
    }

    /// Erases the person from the account (GDPR art. 17), leaving a tombstone under
    /// `username` (one of [`tombstone_usernames`]) that foreign keys and the audit trail
    /// still resolve: no email, a neutral name, an unusable password, blocked, deleted
    /// (keeping the first deletion time). False, changing nothing, when already erased.
    pub fn anonymize(&mut self, username: Username, now: DateTime<Utc>) -> bool {
        if self.is_anonymized() {
            return false;
        }
        self.username = username;
        self.email = None;
        self.display_name = DisplayName(ERASED_DISPLAY_NAME.to_owned());
        self.password_hash = PasswordHash::new(ERASED_PASSWORD_HASH);
        self.status = UserStatus::Blocked;
        self.must_change_password = false;
        self.failed_login_attempts = 0;
        self.locked_until = None;
        self.deleted_at.get_or_insert(now);
        self.touch(now);
        true
    }
}

/// Who chose a new password ([`User::set_password`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordSetBy {
    /// The account's owner, changing it themselves.
    Owner,
    /// An admin, resetting it.
    Admin,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn ann(at: DateTime<Utc>) -> User {
        User {
            id: UserId(uuid::Uuid::from_u128(1)),
            username: Username::parse("ann").unwrap(),
            email: None,
            display_name: DisplayName::parse("Ann").unwrap(),
            password_hash: PasswordHash::new("$argon2id$old"),
            role: Role::User,
            status: UserStatus::Active,
            must_change_password: false,
            created_at: at,
            updated_at: at,
            last_login_at: None,
            login_count: 0,
            failed_login_attempts: 0,
            locked_until: None,
            password_changed_at: at,
            deleted_at: None,
            version: 3,
        }
    }

    #[test]
    fn a_password_an_admin_sets_is_temporary_and_the_owners_is_not() {
        let then = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let now = then + chrono::Duration::hours(1);
        let mut user = ann(then);

        user.set_password(
            PasswordHash::new("$argon2id$reset"),
            PasswordSetBy::Admin,
            now,
        );
        assert!(user.password_hash == PasswordHash::new("$argon2id$reset"));
        assert!(user.must_change_password);
        assert_eq!((user.password_changed_at, user.updated_at), (now, now));
        assert_eq!(user.version, 4, "a change bumps the version");

        let later = now + chrono::Duration::minutes(5);
        user.set_password(
            PasswordHash::new("$argon2id$mine"),
            PasswordSetBy::Owner,
            later,
        );
        assert!(
            !user.must_change_password,
            "the owner's choice clears the gate"
        );
        assert_eq!(user.password_changed_at, later);
        assert_eq!(user.version, 5);
    }

    #[test]
    fn anonymizing_leaves_a_blocked_deleted_tombstone_and_is_a_no_op_the_second_time() {
        let then = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let deleted = then + chrono::Duration::days(1);
        let now = then + chrono::Duration::days(40);
        let mut user = ann(then);
        user.email = Some(Email::parse("ann@example.org").unwrap());
        user.deleted_at = Some(deleted);
        user.locked_until = Some(now);
        let [short, _] = tombstone_usernames(user.id);

        assert!(user.anonymize(short.clone(), now));
        assert_eq!(user.username, short);
        assert_eq!(user.email, None);
        assert_eq!(user.display_name.as_str(), ERASED_DISPLAY_NAME);
        assert!(DisplayName::parse(ERASED_DISPLAY_NAME).is_ok());
        assert!(user.password_hash == PasswordHash::new(ERASED_PASSWORD_HASH));
        assert_eq!(user.status, UserStatus::Blocked);
        assert_eq!(
            user.deleted_at,
            Some(deleted),
            "the first deletion time is kept"
        );
        assert_eq!(user.locked_until, None);
        assert!(user.is_anonymized() && !user.is_usable());
        assert_eq!((user.version, user.updated_at), (4, now));

        let before = user.clone();
        assert!(!user.anonymize(short, now + chrono::Duration::hours(1)));
        assert_eq!(user, before, "a second erasure changes nothing");
    }

    #[test]
    fn anonymizing_a_live_account_deletes_it_now() {
        let then = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut user = ann(then);
        let [short, _] = tombstone_usernames(user.id);
        user.anonymize(short, then + chrono::Duration::hours(2));
        assert_eq!(user.deleted_at, Some(then + chrono::Duration::hours(2)));
    }

    #[test]
    fn tombstone_names_are_the_ids_hex_prefixes_and_valid_usernames() {
        let id = UserId(uuid::Uuid::parse_str("0190abcd-ef01-7234-8567-89abcdef0123").unwrap());
        let [short, long] = tombstone_usernames(id);
        assert_eq!(short.as_str(), "deleted-0190abcd");
        assert_eq!(long.as_str(), "deleted-0190abcdef017234856789ab");
        for name in [short, long] {
            assert_eq!(Username::parse(name.as_str()), Ok(name));
        }
    }

    #[test]
    fn a_password_expires_only_past_a_configured_maximum_age() {
        let then = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let user = ann(then);
        let age = chrono::Duration::days(90);
        assert!(!user.password_expired(None, then + chrono::Duration::days(1000)));
        assert!(!user.password_expired(Some(age), then + age));
        assert!(user.password_expired(Some(age), then + age + chrono::Duration::seconds(1)));
    }

    #[test]
    fn username_accepts_the_allowed_alphabet() {
        assert_eq!(
            Username::parse("a.b_c-9").map(|u| u.0),
            Ok("a.b_c-9".into())
        );
    }

    #[test]
    fn username_is_normalized_with_nfkc_before_checking() {
        // Fullwidth letters normalize to ASCII.
        assert_eq!(Username::parse("ａｂｃ").map(|u| u.0), Ok("abc".into()));
    }

    #[test]
    fn username_rejects_bad_length_and_characters() {
        let bad_length = Err(FieldError::new(
            "username",
            "must be 3 to 32 characters long",
        ));
        assert_eq!(Username::parse("ab"), bad_length);
        assert_eq!(
            Username::parse(&"a".repeat(Username::MAX_CHARS + 1)),
            bad_length
        );
        assert!(Username::parse(&"a".repeat(Username::MAX_CHARS)).is_ok());
        assert!(Username::parse(&"a".repeat(Username::MIN_CHARS)).is_ok());
        assert!(Username::parse("bad name").is_err());
        assert!(Username::parse("bäd").is_err());
        assert!(Username::parse("a\u{0}bc").is_err());
    }

    #[test]
    fn email_accepts_common_addresses_and_trims() {
        assert_eq!(
            Email::parse(" Ann@Example.org ").map(|e| e.0),
            Ok("Ann@Example.org".into())
        );
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for bad in [
            "", "a", "a@", "@b.c", "a@b", "a@@b.c", "a b@c.d", "a@-b.c", "a@b..c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn display_name_is_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ann  ").map(|d| d.0), Ok("Ann".into()));
        assert_eq!(
            DisplayName::parse("   "),
            Err(FieldError::new(
                "displayName",
                "must be 1 to 100 characters long after trimming"
            ))
        );
        assert!(DisplayName::parse(&"x".repeat(DisplayName::MAX_CHARS + 1)).is_err());
        assert!(DisplayName::parse(&"x".repeat(DisplayName::MAX_CHARS)).is_ok());
        assert!(DisplayName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn every_text_field_refuses_nul_and_control_characters_naming_itself() {
        for bad in ["An\u{0}n", "Ann\n", "\tAnn", "A\u{7f}nn", "A\u{9b}nn"] {
            assert_eq!(
                DisplayName::parse(bad).map_err(|e| e.field),
                Err("displayName".to_owned()),
                "{bad:?}"
            );
            assert_eq!(
                Email::parse(&format!("{bad}@example.org")).map_err(|e| e.field),
                Err("email".to_owned()),
                "{bad:?}"
            );
            assert_eq!(
                Username::parse(bad).map_err(|e| e.field),
                Err("username".to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn role_and_status_round_trip_their_spelling() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for status in [UserStatus::Active, UserStatus::Blocked] {
            assert_eq!(UserStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
