//! The ports: what the core needs from the outside world. Each method documents the
//! [`RepoError`] variants it must return; anything else is `Unavailable` or `Unknown`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::access::{AuthSnapshot, CacheLookup, CacheTicket};
use crate::audit::{AuditEntry, AuditQuery, ChainReport, PurgeReport};
use crate::audit_evidence::{Checkpoint, CheckpointInvalid};
use crate::error::{RepoError, ServiceError};
use crate::list_cache::{ListKey, ListLookup, ListTicket, RenderedList};
use crate::lockout::LockoutState;
use crate::page::{Page, PageRequest, UserQuery};
use crate::password::{NewPassword, Password, PasswordError, PasswordHash};
use crate::preferences::Preferences;
use crate::rate_limit::{Quota, RateDecision};
use crate::search::SearchTerm;
use crate::session::{RevocationReason, Session, SessionId};
use crate::signing_keys::KeySet;
use crate::token::{AccessClaims, RefreshSecret, RefreshToken, TokenError, TokenHash};
use crate::user::{ErasedData, TakenNames, User, UserId, Username};

/// Read access to users. Writes go through a [`Transaction`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// The user with this id, soft-deleted ones included.
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError>;

    /// The user with this name compared case-insensitively, soft-deleted ones included.
    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, RepoError>;

    /// A filtered, sorted page. `InvalidCursor` when the cursor was not issued for this sort.
    async fn list(&self, query: &UserQuery) -> Result<Page<User>, RepoError>;

    /// Users matching `term` best first (exact, then prefix, then substring), not deleted.
    async fn search(&self, term: &SearchTerm, page: &PageRequest) -> Result<Page<User>, RepoError>;

    /// Folds the notes the store keeps to answer list totals without counting rows (a
    /// background job's chore; totals are exact whether or not it runs). Returns how
    /// many notes were folded.
    async fn fold_counts(&self) -> Result<u64, RepoError>;

    /// Whether any non-deleted admin exists (for the start-up bootstrap).
    async fn any_admin(&self) -> Result<bool, RepoError>;

    /// The user's preferences, `None` when never set.
    async fn preferences(&self, id: UserId) -> Result<Option<Preferences>, RepoError>;

    /// Up to `limit` users soft-deleted before `cutoff` and not anonymized yet, the
    /// longest deleted first: the automatic purge's work list.
    async fn deleted_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<UserId>, RepoError>;

    /// Which of these lower-cased usernames and emails some user (soft-deleted ones
    /// included) already holds, compared case-insensitively as the unique indexes do: an
    /// import's check against the database before any password is hashed. A snapshot;
    /// the insert's own clash (`UsernameTaken` / `EmailTaken`) stays the final word.
    async fn taken_names(
        &self,
        usernames: &[String],
        emails: &[String],
    ) -> Result<TakenNames, RepoError>;
}

/// Read access to sessions.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// The session and its user's current state: what every authenticated request checks.
    async fn find_for_auth(&self, id: SessionId) -> Result<Option<(Session, User)>, RepoError>;

    /// The user's active (unrevoked, unexpired at `now`) sessions, newest first.
    async fn list_active(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> Result<Page<Session>, RepoError>;

    /// How many distinct users hold at least one active (unrevoked, unexpired at `now`)
    /// session: the `ems_active_users` gauge.
    async fn count_active_users(&self, now: DateTime<Utc>) -> Result<u64, RepoError>;

    /// Moves `last_used_at` of these sessions forward to the given times (never back):
    /// the batched write-behind of [`SessionActivity`]. Returns how many rows moved.
    async fn record_activity(&self, seen: &[(SessionId, DateTime<Utc>)]) -> Result<u64, RepoError>;
}

/// Opens transactions: every multi-row change and its audit entry commit together.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Starts a transaction. Dropping it without [`Transaction::commit`] rolls it back.
    async fn begin(&self) -> Result<Box<dyn Transaction>, RepoError>;
}

/// The write port: one open database transaction.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Transaction: Send {
    /// Reads and row-locks a user until commit.
    async fn user_for_update(&mut self, id: UserId) -> Result<Option<User>, RepoError>;

    /// Reads a user on this transaction's connection without locking it: for a
    /// transaction that holds other row locks and must not wait for a second connection
    /// (or order a user lock after them).
    async fn user(&mut self, id: UserId) -> Result<Option<User>, RepoError>;

    /// Inserts a user. `UsernameTaken` / `EmailTaken` on a case-insensitive clash.
    async fn insert_user(&mut self, user: &User) -> Result<(), RepoError>;

    /// Writes every field of `user` if the stored version is still `expected_version`.
    /// `Conflict` when it is not, `NotFound` when there is no such user,
    /// `UsernameTaken` / `EmailTaken` on a clash.
    async fn update_user(&mut self, user: &User, expected_version: i64) -> Result<(), RepoError>;

    /// Stores the lockout state that [`crate::lockout`] decided for a user this
    /// transaction locked with [`user_for_update`](Self::user_for_update) (a failed
    /// attempt). `NotFound` when there is no such user.
    async fn write_lockout(
        &mut self,
        id: UserId,
        state: LockoutState,
        at: DateTime<Utc>,
    ) -> Result<(), RepoError>;

    /// Records a successful login of a user this transaction locked: last login time,
    /// one more login, and the lockout state [`crate::lockout`] decided. Returns the user
    /// as stored. `NotFound` when there is no such user.
    async fn record_login(
        &mut self,
        id: UserId,
        state: LockoutState,
        at: DateTime<Utc>,
    ) -> Result<User, RepoError>;

    /// Counts active, non-deleted admins, serialized against every other transaction
    /// that calls it, so two admins cannot demote each other concurrently.
    async fn count_active_admins(&mut self) -> Result<i64, RepoError>;

    /// Takes the lock [`count_active_admins`](Self::count_active_admins) takes, then reads
    /// `id`: the acting admin of an admin write, whose role and status no concurrent
    /// demotion, block or deletion can change before this transaction ends (each of those
    /// takes the same lock). `None` when there is no such user.
    async fn acting_admin(&mut self, id: UserId) -> Result<Option<User>, RepoError>;

    /// Inserts or replaces the user's preferences.
    async fn put_preferences(&mut self, id: UserId, prefs: &Preferences) -> Result<(), RepoError>;

    /// Inserts a session.
    async fn insert_session(&mut self, session: &Session) -> Result<(), RepoError>;

    /// Reads and row-locks a session until commit.
    async fn session_for_update(&mut self, id: SessionId) -> Result<Option<Session>, RepoError>;

    /// Records use of a session (a refresh): new last use and expiry.
    async fn touch_session(
        &mut self,
        id: SessionId,
        last_used_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), RepoError>;

    /// Revokes one session; false when it was already revoked or does not exist.
    async fn revoke_session(
        &mut self,
        id: SessionId,
        at: DateTime<Utc>,
        reason: RevocationReason,
    ) -> Result<bool, RepoError>;

    /// Revokes every unrevoked session of the user but `except`; returns how many.
    async fn revoke_user_sessions(
        &mut self,
        user_id: UserId,
        at: DateTime<Utc>,
        reason: RevocationReason,
        except: Option<SessionId>,
    ) -> Result<u64, RepoError>;

    /// Stores a refresh token (its hash only).
    async fn insert_refresh_token(&mut self, token: &RefreshToken) -> Result<(), RepoError>;

    /// Reads and row-locks the refresh token with this hash.
    async fn refresh_token_for_update(
        &mut self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshToken>, RepoError>;

    /// Retires every unspent refresh token of the session (spent and retired at `at`):
    /// a grace retry's new token is then the session's only live one. Returns how many.
    async fn retire_refresh_tokens(
        &mut self,
        session_id: SessionId,
        at: DateTime<Utc>,
    ) -> Result<u64, RepoError>;

    /// Marks a refresh token spent.
    async fn spend_refresh_token(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<(), RepoError>;

    /// Erases what the user's account leaves outside its own row: preferences deleted,
    /// the IP addresses and user agents of their sessions cleared, their refresh tokens
    /// deleted, and the personal fields of the audit entries they made or that are about
    /// their account crypto-shredded ([`crate::audit_evidence::erase_personal`], salt
    /// dropped, digest and MAC kept, so the log still verifies). Returns the counts.
    async fn erase_personal_data(&mut self, id: UserId) -> Result<ErasedData, RepoError>;

    /// Appends an audit entry (no-op when auditing is disabled by configuration).
    async fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), RepoError>;

    /// Commits. `Conflict` on a serialization failure; the transaction is gone either way.
    async fn commit(&mut self) -> Result<(), RepoError>;
}

/// The audit log: reads, the hash chain and retention. Entries are appended through
/// [`Transaction::append_audit`], never here.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AuditRepository: Send + Sync {
    /// A filtered page, newest first. `InvalidCursor` when the cursor was not issued by
    /// this list.
    async fn list(&self, query: &AuditQuery) -> Result<Page<AuditEntry>, RepoError>;

    /// Walks the sealed chain from its anchor, then the entries not sealed yet, checking
    /// every entry MAC, link and the stored anchor and head under the audit key, and
    /// names the first entry that does not verify (`checked` counts sealed entries).
    /// With a `checkpoint` (already verified as signed by us), the chain must also still
    /// extend the checkpoint's head ([`crate::audit_evidence::checkpoint_holds`]).
    async fn verify(&self, checkpoint: Option<Checkpoint>) -> Result<ChainReport, RepoError>;

    /// Links committed, unsealed entries onto the chain in (created_at, id) order and
    /// returns how many. Runs on one instance at a time: 0 when another holds the seal.
    async fn seal_pending(&self) -> Result<u64, RepoError>;

    /// Purges sealed entries created before `audit_before` from the head of the chain,
    /// moving the anchor so that the rest still verifies, and sessions that ended
    /// (expired or revoked) before `sessions_before` with their refresh tokens, in one
    /// transaction. `None` when another instance is running retention.
    async fn purge_before(
        &self,
        audit_before: DateTime<Utc>,
        sessions_before: DateTime<Utc>,
    ) -> Result<Option<PurgeReport>, RepoError>;
}

/// Signs and verifies audit checkpoints: compact JWS over the sealed chain's head, with
/// the access-token signing keys (the current key signs, every configured key verifies).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait CheckpointSigner: Send + Sync {
    /// Signs `checkpoint` with the current signing key; `ServiceError` if signing fails.
    fn sign(&self, checkpoint: &Checkpoint) -> Result<String, ServiceError>;

    /// The checkpoint `token` states. `CheckpointInvalid` when it is malformed, not a
    /// checkpoint, or not signed by a configured key.
    fn verify(&self, token: &str) -> Result<Checkpoint, CheckpointInvalid>;
}

/// Occupancy of a dependency's connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Connections open now.
    pub size: u64,
    /// Open connections not checked out.
    pub idle: u64,
    /// Callers waiting for a connection.
    pub waiting: u64,
}

/// Readiness of a dependency.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Ok when the dependency answers a trivial request.
    async fn ping(&self) -> Result<(), RepoError>;

    /// The connection pool's occupancy now (no I/O); `None` for a dependency without one.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }
}

/// Disk space of the file system the server runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskUsage {
    /// The directory that was measured.
    pub path: String,
    /// Size of its file system.
    pub total_bytes: u64,
    /// Space an unprivileged process may still use.
    pub available_bytes: u64,
}

/// The host as the process sees it, for the detailed health report. Best effort: `None`
/// where the platform cannot tell.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait SystemProbe: Send + Sync {
    /// Disk space where the server runs.
    fn disk(&self) -> Option<DiskUsage>;

    /// Resident memory of this process.
    fn resident_memory_bytes(&self) -> Option<u64>;
}

/// How a login attempt ended, as counted by [`SecurityMetrics`]. Never shown to clients:
/// they see `INVALID_CREDENTIALS` for every failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginOutcome {
    /// Signed in.
    Success,
    /// Unknown user, wrong password, blocked or deleted account.
    InvalidCredentials,
    /// The account is locked out (the attempt that locks it counts as invalid credentials).
    Locked,
    /// Refused by the per-IP login rate limit before any check.
    RateLimited,
}

impl LoginOutcome {
    /// Every outcome, so that exporters can show each at zero.
    pub const ALL: [LoginOutcome; 4] = [
        Self::Success,
        Self::InvalidCredentials,
        Self::Locked,
        Self::RateLimited,
    ];

    /// The label value (`success`, `invalid_credentials`, `locked`, `rate_limited`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Locked => "locked",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// Security counters only the use cases can tell apart (why a login failed). Must be
/// cheap and never fail: it is called on the request path.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait SecurityMetrics: Send + Sync {
    /// Counts one login attempt.
    fn login_attempt(&self, outcome: LoginOutcome);
}

/// Password hashing. Implementations run the work off the async workers.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a password that met the policy.
    async fn hash(&self, password: &NewPassword) -> Result<PasswordHash, ServiceError>;

    /// Whether `candidate` matches `hash`, compared in constant time.
    async fn verify(&self, candidate: &Password, hash: &PasswordHash)
        -> Result<bool, ServiceError>;

    /// Spends the cost of one verification and returns false: used for unknown users so
    /// that timing does not reveal which names exist.
    async fn verify_dummy(&self, candidate: &Password) -> Result<bool, ServiceError>;
}

/// The password policy ([`NewPassword::parse`]) run off the async workers: the strength
/// estimator costs milliseconds of CPU per password, which an async worker must not
/// spend, and a bulk create judges up to a thousand. Call it after every cheaper check
/// (authorization, the other fields), so that a refused request costs no estimate.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PasswordStrength: Send + Sync {
    /// Judges `candidate` as the new password of `username`; `context` are other words
    /// the estimator treats as guessable (email, display name). The inner result is the
    /// policy's verdict, exactly as [`NewPassword::parse`] gives it; `ServiceError` only
    /// when the work could not run (a shut-down pool, a panicked task).
    async fn judge(
        &self,
        candidate: &Password,
        username: &Username,
        context: &[String],
    ) -> Result<Result<NewPassword, PasswordError>, ServiceError>;
}

/// Signs and verifies access tokens.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait TokenIssuer: Send + Sync {
    /// Signs the claims with the current key.
    fn issue(&self, claims: &AccessClaims) -> Result<String, ServiceError>;

    /// Verifies signature, algorithm, issuer and audience, and that `sub`, `exp` and the
    /// other claims are present; `Invalid` otherwise. Never compares `exp` to a clock:
    /// the caller does, with [`AccessClaims::is_expired_at`] and the `Clock` port.
    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError>;

    /// The claims of `token` when this issuer verified it before and still remembers them
    /// (never past `exp`), without verifying anything: a caller may ask before it has
    /// decided that the request deserves the work. `None` (the default) otherwise.
    fn remembered(&self, _token: &str) -> Option<AccessClaims> {
        None
    }

    /// The key ids this issuer signs and verifies with (public digests, no key material).
    fn key_set(&self) -> KeySet;
}

/// Where instances tell each other which JWT keys they hold, so that one whose keys
/// differ is found (shared by every instance when backed by Redis).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait KeyAnnouncements: Send + Sync {
    /// Records `keys` as the set of `instance` until `until`, forgets every announcement
    /// whose time has passed at `now`, and returns the live sets of the other instances.
    async fn announce(
        &self,
        instance: Uuid,
        keys: &KeySet,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<KeySet>, ServiceError>;
}

/// The time.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// New ids.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A fresh UUIDv7.
    fn new_id(&self) -> Uuid;
}

/// Secrets from a cryptographically secure source.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait SecretGenerator: Send + Sync {
    /// A fresh refresh token secret (256 bits).
    fn refresh_secret(&self) -> RefreshSecret;

    /// A random temporary password that passes the password policy.
    fn temporary_password(&self) -> String;
}

/// A cache of [`AuthSnapshot`]s shared by every instance, so that per-request
/// authentication need not read the database. An error means "cannot tell": the caller
/// reads the database, so a broken cache costs speed, never a revocation.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AuthCache: Send + Sync {
    /// The snapshot of `session` (whose token names `user`), or a ticket to store one.
    async fn lookup(&self, session: SessionId, user: UserId) -> Result<CacheLookup, ServiceError>;

    /// Stores `snapshot` unless its user or session was invalidated after `ticket` was
    /// taken (then it is silently dropped).
    async fn store(
        &self,
        ticket: &CacheTicket,
        snapshot: &AuthSnapshot,
    ) -> Result<(), ServiceError>;

    /// Forgets every snapshot of these users and sessions, on every instance, and voids
    /// the tickets taken before.
    async fn invalidate(
        &self,
        users: &[UserId],
        sessions: &[SessionId],
    ) -> Result<(), ServiceError>;
}

/// Rendered user-list pages shared by every instance (see [`crate::list_cache`]). An error
/// means "cannot tell": the caller reads the database.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ListCache: Send + Sync {
    /// The page under `key` if it was stored since the last invalidation, or a ticket to
    /// store one.
    async fn lookup(&self, key: &ListKey) -> Result<ListLookup, ServiceError>;

    /// Stores `page` unless an invalidation came after `ticket` was taken (then it is
    /// silently dropped).
    async fn store(&self, ticket: &ListTicket, page: &RenderedList) -> Result<(), ServiceError>;

    /// Voids every stored page and every ticket taken before, on every instance.
    async fn invalidate(&self) -> Result<(), ServiceError>;
}

/// When each session was last used, kept off the database on the request path and written
/// behind in batches.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SessionActivity: Send + Sync {
    /// Notes that `session` was used at `at` (a later time replaces an earlier one). An
    /// adapter may skip notes that follow an earlier one within a few seconds: `lastUsedAt`
    /// is informational, and a note per request would cost a write per request.
    async fn touch(&self, session: SessionId, at: DateTime<Utc>) -> Result<(), ServiceError>;

    /// The noted times of these sessions not yet written to the database.
    async fn pending(
        &self,
        sessions: &[SessionId],
    ) -> Result<Vec<(SessionId, DateTime<Utc>)>, ServiceError>;

    /// Takes every noted time out, for writing to the database; each is handed to exactly
    /// one caller, whichever instance asks.
    async fn drain(&self) -> Result<Vec<(SessionId, DateTime<Utc>)>, ServiceError>;
}

/// Per-client request budgets, shared by every instance when backed by Redis.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Spends one request of `client`'s budget in `bucket` (each bucket its own budget),
    /// or says how long to wait. Spends nothing when refused.
    async fn acquire(
        &self,
        bucket: &str,
        client: &str,
        quota: Quota,
    ) -> Result<RateDecision, ServiceError>;
}
