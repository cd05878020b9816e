//! What per-request authorization needs to know about a caller, and the caller's own
//! record for `GET /profile`: small enough to cache between requests, and holding nothing
//! secret (no password hash, no token).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::profile::Profile;

use crate::session::{Session, SessionId};
use crate::user::{Role, User, UserId};

/// The caller of a request as authorization sees it: read from the store on this request,
/// or from a cache that every committed change to the user or session invalidates; never
/// from token claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub id: UserId,
    /// Their current role.
    pub role: Role,
    /// Set by an admin password reset: the caller may only read the profile, change the
    /// password or sign out.
    pub must_change_password: bool,
}

impl From<&User> for Caller {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            role: user.role,
            must_change_password: user.must_change_password,
        }
    }
}

/// A live session and its usable caller, as an [`AuthCache`](crate::ports::AuthCache) keeps
/// it. Only states that authenticate are cached; revoked or blocked ones always come from
/// the store. The caller's whole record rides along: every committed change to the user
/// invalidates the snapshot, so it is as current as the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSnapshot {
    /// The session.
    pub session_id: SessionId,
    /// When the session ends unless refreshed.
    pub session_expires_at: DateTime<Utc>,
    /// Its owner.
    pub caller: Caller,
    /// Its owner's record, as `GET /profile` returns it.
    pub profile: Arc<Profile>,
}

impl AuthSnapshot {
    /// The snapshot of a session and user read from the store, if they authenticate at
    /// `now`: the session active, the user active and not deleted, and the two belonging
    /// together.
    pub fn of(session: &Session, user: &User, now: DateTime<Utc>) -> Option<Self> {
        (session.user_id == user.id && session.is_active(now) && user.is_usable()).then(|| Self {
            session_id: session.id,
            session_expires_at: session.expires_at,
            caller: Caller::from(user),
            profile: Arc::new(Profile::from(user)),
        })
    }
}

/// Handed out on a cache miss: a snapshot may be stored only under it, and the store is
/// ignored if the user or session was invalidated after the ticket was taken. That is what
/// keeps a slow reader from caching a state a concurrent revocation already ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTicket {
    /// The session looked up.
    pub session_id: SessionId,
    /// The user the token names.
    pub user_id: UserId,
    /// The adapter's opaque record of the invalidation state at lookup time.
    pub stamp: String,
}

impl CacheTicket {
    /// Whether `snapshot` may be stored under this ticket: it must be of the session and
    /// user that were looked up.
    pub fn admits(&self, snapshot: &AuthSnapshot) -> bool {
        snapshot.session_id == self.session_id && snapshot.caller.id == self.user_id
    }
}

/// The answer of an [`AuthCache`](crate::ports::AuthCache) lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLookup {
    /// A snapshot stored after the last invalidation of its user and session.
    Hit(AuthSnapshot),
    /// Nothing usable: read the store, then store the result under this ticket.
    Miss(CacheTicket),
}

impl CacheLookup {
    /// A hit when the adapter found a current snapshot of `session`, else a miss whose
    /// ticket carries `stamp`, the adapter's record of the generations it read.
    pub fn of(
        found: Option<AuthSnapshot>,
        session: SessionId,
        user: UserId,
        stamp: String,
    ) -> Self {
        match found {
            Some(snapshot) => Self::Hit(snapshot),
            None => Self::Miss(CacheTicket {
                session_id: session,
                user_id: user,
                stamp,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::PasswordHash;
    use crate::user::{DisplayName, UserStatus, Username};
    use chrono::Duration;
    use uuid::Uuid;

    fn user() -> User {
        let now = Utc::now();
        User {
            id: UserId(Uuid::from_u128(1)),
            username: Username::parse("ann").unwrap(),
            email: None,
            display_name: DisplayName::parse("Ann").unwrap(),
            password_hash: PasswordHash::new("$argon2id$x"),
            role: Role::Admin,
            status: UserStatus::Active,
            must_change_password: true,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            login_count: 0,
            failed_login_attempts: 0,
            locked_until: None,
            password_changed_at: now,
            deleted_at: None,
            version: 1,
        }
    }

    fn session(owner: UserId, now: DateTime<Utc>) -> Session {
        Session {
            id: SessionId(Uuid::from_u128(9)),
            user_id: owner,
            created_at: now,
            last_used_at: now,
            expires_at: now + Duration::days(1),
            ip_address: None,
            user_agent: None,
            revoked_at: None,
        }
    }

    #[test]
    fn a_live_session_of_a_usable_user_snapshots_role_and_gate() {
        let now = Utc::now();
        let ann = user();
        let snap = AuthSnapshot::of(&session(ann.id, now), &ann, now).unwrap();
        assert_eq!(snap.caller.role, Role::Admin);
        assert!(snap.caller.must_change_password);
        assert_eq!(snap.session_expires_at, now + Duration::days(1));
        assert_eq!(*snap.profile, Profile::from(&ann), "the record rides along");
    }

    #[test]
    fn revoked_expired_foreign_blocked_or_deleted_states_are_not_snapshotted() {
        let now = Utc::now();
        let ann = user();
        let mut revoked = session(ann.id, now);
        revoked.revoked_at = Some(now);
        assert!(AuthSnapshot::of(&revoked, &ann, now).is_none());
        let live = session(ann.id, now);
        assert!(AuthSnapshot::of(&live, &ann, now + Duration::days(2)).is_none());
        assert!(AuthSnapshot::of(&session(UserId(Uuid::from_u128(2)), now), &ann, now).is_none());
        let mut blocked = user();
        blocked.status = UserStatus::Blocked;
        assert!(AuthSnapshot::of(&live, &blocked, now).is_none());
        let mut deleted = user();
        deleted.deleted_at = Some(now);
        assert!(AuthSnapshot::of(&live, &deleted, now).is_none());
    }

    #[test]
    fn a_ticket_admits_only_a_snapshot_of_its_own_session_and_user() {
        let now = Utc::now();
        let ann = user();
        let snap = AuthSnapshot::of(&session(ann.id, now), &ann, now).unwrap();
        let miss = CacheLookup::of(None, snap.session_id, ann.id, "g".into());
        let CacheLookup::Miss(ticket) = miss else {
            panic!("expected a miss")
        };
        assert!(ticket.admits(&snap));
        let other = CacheTicket {
            user_id: UserId(Uuid::from_u128(2)),
            ..ticket.clone()
        };
        assert!(!other.admits(&snap));
        assert_eq!(
            CacheLookup::of(Some(snap.clone()), snap.session_id, ann.id, "g".into()),
            CacheLookup::Hit(snap)
        );
    }
}
